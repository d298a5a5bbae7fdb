/* Ephemeral storage, enforced: each task's rw/ directory (its containers'
 * writable layers and its volumes) is an ext4 file system of the task's
 * size (ephemeralStorageGiB, 20 by default) in a sparse file,
 * DATA-DIR/tasks/<id>/disk.img, attached to a loop device and mounted on
 * the host. Writing past the size fails with ENOSPC in that task only; the
 * host's disk is used only for blocks actually written.
 *
 * Formatting takes about 100 ms and a process (far more on a busy host),
 * so mkfs runs once for the default size, into DATA-DIR/ephemeral/
 * template-2.img, and every default-size image is a sparse copy of it: the
 * 0.24 MiB of metadata mkfs wrote are copied, the holes stay holes, in a
 * millisecond or two. (The copies share the template's UUID and directory
 * hash seed, which ext4 does not mind; the template is made afresh by each
 * new data directory.) A pool thread keeps a few copies ready in
 * DATA-DIR/ephemeral/pool/; other sizes are formatted when the task starts.
 * Attaching and mounting an image takes milliseconds more (the loop
 * device, the file system's workqueues), so the same thread also keeps a
 * few default-size images mounted, each in a directory laid out as a task
 * directory (DATA-DIR/ephemeral/ready/<n>/: disk.img, rw/ mounted, rw/c/,
 * logs/, and empty task.json, task.json.tmp, hosts, resolv.conf):
 * op_assign renames one to DATA-DIR/tasks/<id> (a directory holding a
 * mount point can be renamed; the mount follows), and the task starts with
 * its storage there. They are adopted after a crash and unmounted when the
 * agent stops.
 * The file systems skip what makes them slow to create or to mount: no
 * journal (they do not outlive a host crash anyway), no blocks reserved for
 * online growth (resize_inode: they never grow, and its 4 MiB of zeroed
 * blocks were most of every copy), inode tables initialised lazily and
 * never zeroed in the background (noinit_itable), one inode per 64 KiB.
 *
 * Removal: the mount is unmounted on the host and its mount point removed.
 * Copies of the mount that runtime mount namespaces of other tasks took
 * when they were created go with the mount point (the kernel detaches
 * mounts on a removed dentry in every namespace, as for network
 * namespaces), and the loop device, set to autoclear, detaches itself when
 * the last one goes. When the host has no loop devices, rw/ is a plain
 * directory and the size is not enforced (said once in the log). */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "oci/netns.h"
#include "oci/spawn.h"
#include "oci/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POOL_SIZE       2
#define MOUNTED_SIZE    2
#define REFILL_DEFER_MS 100
#define DEFAULT_GIB     20
#define LOOP_CONTROL    "/dev/loop-control"
#define MOUNT_OPTIONS   "noinit_itable"
#define CONFIGURE_TRIES 64

static int mount_image(const char *image, const char *dir, struct error **err);
static bool is_mount_point(const char *dir, const char *parent);
static int ready_make(struct agent *a, unsigned n, struct error **err);
static bool pool_take(struct agent *a, const char *dst);

static const char *const mkfs_paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4", NULL};
static const char *const tool_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

/* Creates path as a sparse file of gib GiB holding a fresh ext4. */
static int format(struct agent *a, const char *path, int64_t gib, struct error **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(err, errno, "create %s", path);
    if (ftruncate(fd, gib << 30) < 0) {
        int e = errno;
        unlink(path);
        return error_errno(err, e, "size %s", path);
    }
    const char *argv[] = {a->storage.mkfs,
                          "-q",
                          "-F",
                          "-m",
                          "0",
                          "-i",
                          "65536",
                          "-O",
                          "^has_journal,^resize_inode",
                          "-E",
                          "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
                          path,
                          NULL};
    _cleanup_free_ char *out = NULL;
    int r = oci_spawn_run(argv, tool_env, false, NULL, NULL, &out, err);
    if (r != 0) {
        unlink(path);
        if (r > 0)
            r = error_set(err, EIO, NULL, "mkfs.ext4 %s: %s", path, out ? out : "failed");
        return r;
    }
    return 0;
}

/* Copies src to dst keeping holes: only the extents holding data are
 * copied (copy_file_range). */
static int copy_sparse(const char *src, const char *dst, struct error **err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return error_errno(err, errno, "open %s", src);
    struct stat st;
    if (fstat(in, &st) < 0)
        return error_errno(err, errno, "stat %s", src);
    _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return error_errno(err, errno, "create %s", dst);
    int r = ftruncate(out, st.st_size) < 0 ? -errno : 0;
    for (off_t off = 0; r == 0 && off < st.st_size;) {
        off_t data = lseek(in, off, SEEK_DATA);
        if (data < 0) {
            if (errno != ENXIO) /* ENXIO: no data past off */
                r = -errno;
            break;
        }
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0) {
            r = -errno;
            break;
        }
        loff_t i = data, o = data;
        while (r == 0 && i < hole) {
            ssize_t n = copy_file_range(in, &i, out, &o, (size_t)(hole - i), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                r = n < 0 ? -errno : -EIO;
        }
        off = hole;
    }
    if (r < 0) {
        unlink(dst);
        return error_errno(err, -r, "copy %s to %s", src, dst);
    }
    return 0;
}

/* The template's name says how it was formatted: a data directory whose
 * template predates the current options gets a new one (and the old file
 * goes). "template.img" had resize_inode's reserved GDT blocks, 4 MiB of
 * zeros that every copy wrote. */
#define TEMPLATE_NAME     "template-2.img"
#define OLD_TEMPLATE_NAME "template.img"

/* A fresh default-size image at path: a copy of the template when there is
 * one, else mkfs. */
static int format_default(struct agent *a, const char *path, struct error **err)
{
    _cleanup_free_ char *template = xasprintf("%s/" TEMPLATE_NAME, a->storage.dir);
    if (access(template, F_OK) == 0)
        return copy_sparse(template, path, err);
    return format(a, path, DEFAULT_GIB, err);
}

/* Formats the template once (temp + rename: a crash leaves no half-made
 * one; pool_scan removes the temp). */
static int make_template(struct agent *a, struct error **err)
{
    struct agent_storage *s = &a->storage;
    _cleanup_free_ char *template = xasprintf("%s/" TEMPLATE_NAME, s->dir);
    if (access(template, F_OK) == 0)
        return 0;
    _cleanup_free_ char *old = xasprintf("%s/" OLD_TEMPLATE_NAME, s->dir);
    unlink(old);
    _cleanup_free_ char *tmp = xasprintf("%s/tmp-template.img", s->dir);
    int r = format(a, tmp, DEFAULT_GIB, err);
    if (r == 0 && rename(tmp, template) < 0) {
        r = error_errno(err, errno, "rename %s", tmp);
        unlink(tmp);
    }
    return r;
}

static void *pool_main(void *p)
{
    struct agent *a = p;
    struct agent_storage *s = &a->storage;
    /* Refills start as a task takes an image, i.e. while that task starts:
     * this thread and the mkfs it runs (children inherit a thread's nice
     * value) yield the CPU to task starts. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    _cleanup_error_ struct error *te = NULL;
    if (make_template(a, &te) < 0)
        log_warn("agent: cannot format the ephemeral storage template: %s", te->msg);
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->closing && s->ready >= POOL_SIZE && s->mounted >= MOUNTED_SIZE &&
               s->netns_ready >= AGENT_NETNS_POOL)
            pthread_cond_wait(&a->cond, &a->lock);
        /* Mounting takes both cores' time for milliseconds: it waits
         * until no task is starting, for at most REFILL_DEFER_MS. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += REFILL_DEFER_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!a->closing && a->n_starting > 0 &&
               pthread_cond_timedwait(&a->cond, &a->lock, &until) == 0)
            ;
        if (a->closing)
            break;
        if (s->netns_ready < AGENT_NETNS_POOL) {
            /* A network namespace first: the cheapest to make (about a
             * millisecond of the kernel's time), and a start's to take. */
            pthread_mutex_unlock(&a->lock);
            int fd = -1;
            _cleanup_error_ struct error *e = NULL;
            if (oci_netns_new(&fd, &e) < 0)
                log_warn("agent: cannot make a network namespace ahead: %s", e->msg);
            pthread_mutex_lock(&a->lock);
            if (fd >= 0 && !a->closing) {
                s->netns[s->netns_ready++] = fd;
                continue;
            }
            if (fd >= 0)
                close(fd);
            if (a->closing)
                break;
            /* Starts make their own: wait as after a failed refill. */
            struct timespec later;
            clock_gettime(CLOCK_REALTIME, &later);
            later.tv_sec += 30;
            while (!a->closing && pthread_cond_timedwait(&a->cond, &a->lock, &later) == 0)
                ;
            continue;
        }
        unsigned n = ++s->seq;
        bool mount_one = s->mounted < MOUNTED_SIZE;
        pthread_mutex_unlock(&a->lock);
        _cleanup_error_ struct error *e = NULL;
        int r;
        if (mount_one) {
            r = ready_make(a, n, &e);
        } else {
            _cleanup_free_ char *tmp = xasprintf("%s/tmp-%u.img", s->dir, n);
            _cleanup_free_ char *dst = xasprintf("%s/pool/%u.img", s->dir, n);
            r = format_default(a, tmp, &e);
            if (r == 0 && rename(tmp, dst) < 0)
                r = error_errno(&e, errno, "rename %s", tmp);
        }
        pthread_mutex_lock(&a->lock);
        if (r == 0) {
            if (mount_one)
                s->mounted++;
            else
                s->ready++;
            pthread_cond_broadcast(&a->cond);
            continue;
        }
        /* Try again later rather than spin on a full disk. */
        log_warn("agent: cannot %s an ephemeral storage image: %s", mount_one ? "mount" : "format",
                 e ? e->msg : strerror(-r));
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 30;
        while (!a->closing && pthread_cond_timedwait(&a->cond, &a->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* With adopt, counts in the mounted slots a crash left (a slot whose rw/
 * is not a mount point any more, or a half-made one, is removed); without,
 * removes them all. */
static void ready_scan(struct agent_storage *s, bool adopt)
{
    _cleanup_free_ char *ready = xasprintf("%s/ready", s->dir);
    DIR *d = opendir(ready);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *slot = xasprintf("%s/%s", ready, de->d_name);
        _cleanup_free_ char *rw = xasprintf("%s/rw", slot);
        unsigned n;
        char end;
        if (adopt && sscanf(de->d_name, "%u%c", &n, &end) == 1 && is_mount_point(rw, slot)) {
            s->mounted++;
            if (n > s->seq)
                s->seq = n;
            continue;
        }
        agent_storage_remove_dir(slot);
    }
    if (d)
        closedir(d);
}

/* Counts the pool's images; removes half-formatted ones. */
static void pool_scan(struct agent_storage *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strncmp(de->d_name, "tmp-", 4) == 0)
            unlinkat(dirfd(d), de->d_name, 0);
    if (d)
        closedir(d);
    ready_scan(s, true);
    _cleanup_free_ char *pool = xasprintf("%s/pool", s->dir);
    d = opendir(pool);
    while (d && (de = readdir(d))) {
        unsigned n;
        if (sscanf(de->d_name, "%u.img", &n) == 1) {
            s->ready++;
            if (n > s->seq)
                s->seq = n;
        }
    }
    if (d)
        closedir(d);
}

int agent_storage_init(struct agent *a, bool disable, struct error **err)
{
    struct agent_storage *s = &a->storage;
    if (disable)
        return 0;
    for (size_t i = 0; mkfs_paths[i] && !s->mkfs; i++)
        if (access(mkfs_paths[i], X_OK) == 0)
            s->mkfs = xstrdup(mkfs_paths[i]);
    if (!s->mkfs || access(LOOP_CONTROL, R_OK | W_OK) < 0) {
        log_warn("agent: no %s: ephemeral storage sizes are not enforced",
                 s->mkfs ? LOOP_CONTROL : "mkfs.ext4");
        return 0;
    }
    s->dir = xasprintf("%s/ephemeral", a->data_dir);
    _cleanup_free_ char *pool = xasprintf("%s/pool", s->dir);
    _cleanup_free_ char *ready = xasprintf("%s/ready", s->dir);
    int r = oci_dir_make(pool, 0700, err);
    if (r == 0)
        r = oci_dir_make(ready, 0700, err);
    if (r < 0)
        return r;
    pool_scan(s);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, AGENT_STACK_SIZE);
    r = pthread_create(&s->thread, &attr, pool_main, a);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return error_errno(err, r, "start the storage pool thread");
    s->thread_started = true;
    s->enforced = true;
    return 0;
}

void agent_storage_stop(struct agent *a)
{
    struct agent_storage *s = &a->storage;
    if (s->thread_started) {
        pthread_mutex_lock(&a->lock);
        a->closing = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    for (size_t i = 0; i < s->netns_ready; i++)
        close(s->netns[i]);
    s->netns_ready = 0;
    /* No mount outlives the agent but its tasks'. */
    if (s->dir) {
        ready_scan(s, false);
        s->mounted = 0;
    }
    free(s->dir);
    free(s->mkfs);
    s->dir = s->mkfs = NULL;
}

int agent_netns_take(struct agent *a)
{
    struct agent_storage *s = &a->storage;
    int fd = -1;
    pthread_mutex_lock(&a->lock);
    if (s->netns_ready) {
        fd = s->netns[--s->netns_ready];
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&a->lock);
    return fd;
}

/* Renames one entry of sub (under the storage dir; not a hidden or
 * half-made "tmp-" one) to dst and counts it out of *count; false when
 * there is none. */
static bool take_from(struct agent *a, const char *sub, size_t *count, const char *dst)
{
    _cleanup_free_ char *from = xasprintf("%s/%s", a->storage.dir, sub);
    bool taken = false;
    pthread_mutex_lock(&a->lock);
    DIR *d = *count ? opendir(from) : NULL;
    struct dirent *de;
    while (d && !taken && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, "tmp-", 4) == 0)
            continue;
        if (renameat(dirfd(d), de->d_name, AT_FDCWD, dst) == 0) {
            taken = true;
            (*count)--;
            pthread_cond_broadcast(&a->cond);
        }
    }
    if (d)
        closedir(d);
    pthread_mutex_unlock(&a->lock);
    return taken;
}

/* Moves a formatted default-size image to dst; false when the pool is
 * empty. */
static bool pool_take(struct agent *a, const char *dst)
{
    return take_from(a, "pool", &a->storage.ready, dst);
}

/* Attaches the image open at fd to a free loop device (autoclear); returns
 * the device's descriptor, its name in dev. */
static int attach_free(int fd, const char *image, char dev[static 32], struct error **err)
{
    _cleanup_close_ int ctl = open(LOOP_CONTROL, O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return error_errno(err, errno, "open " LOOP_CONTROL);
    for (int tries = 0; tries < CONFIGURE_TRIES; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return error_errno(err, errno, "get a free loop device");
        snprintf(dev, 32, "/dev/loop%d", n);
        _cleanup_close_ int lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0) {
            if (errno == ENOENT)
                continue; /* not yet in /dev: take another */
            return error_errno(err, errno, "open %s", dev);
        }
        struct loop_config lc = {.fd = (uint32_t)fd, .block_size = 4096};
        lc.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
        if (ioctl(lfd, LOOP_CONFIGURE, &lc) < 0) {
            if (errno == EBUSY)
                continue; /* another process took it first */
            return error_errno(err, errno, "attach %s to %s", image, dev);
        }
        return TAKE_FD(lfd);
    }
    return error_set(err, EBUSY, NULL, "no free loop device after %d tries", CONFIGURE_TRIES);
}

/* Attaches image to a free loop device (autoclear) and mounts it on dir. */
static int mount_image(const char *image, const char *dir, struct error **err)
{
    _cleanup_close_ int fd = open(image, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", image);
    /* One attach at a time in this process: LOOP_CTL_GET_FREE hands every
     * caller the same lowest free device and only one of them gets it, so
     * in a burst of N starts the last one needed N tries (100 service
     * tasks at once ran out of them). The tries remain for other processes
     * of the host taking a device first. */
    static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
    char dev[32];
    pthread_mutex_lock(&attach_lock);
    _cleanup_close_ int lfd = attach_free(fd, image, dev, err);
    pthread_mutex_unlock(&attach_lock);
    if (lfd < 0)
        return lfd;
    if (mount(dev, dir, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, MOUNT_OPTIONS) < 0)
        return error_errno(err, errno, "mount %s on %s", dev, dir);
    /* The mount holds the device now; closing lfd leaves it to autoclear
     * when the file system is unmounted. */
    return 0;
}

static bool is_mount_point(const char *dir, const char *parent)
{
    struct stat a, b;
    return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

int agent_storage_attach(struct task *t, struct error **err)
{
    struct agent *a = t->a;
    _cleanup_free_ char *rw = xasprintf("%s/rw", t->dir);
    if (mkdir(rw, 0700) < 0 && errno != EEXIST)
        return error_errno(err, errno, "mkdir %s", rw);
    if (!a->storage.enforced || is_mount_point(rw, t->dir))
        return 0;
    _cleanup_free_ char *image = xasprintf("%s/disk.img", t->dir);
    int64_t gib = t->def.ephemeral_gib > 0 ? t->def.ephemeral_gib : DEFAULT_GIB;
    int r;
    if (access(image, F_OK) < 0 && !(gib == DEFAULT_GIB && pool_take(a, image))) {
        /* Made under a temporary name: a crash in the middle must not leave
         * a half-made disk.img for the resumed task to mount. */
        _cleanup_free_ char *tmp = xasprintf("%s/disk.img.tmp", t->dir);
        r = gib == DEFAULT_GIB ? format_default(a, tmp, err) : format(a, tmp, gib, err);
        if (r == 0 && rename(tmp, image) < 0) {
            r = error_errno(err, errno, "rename %s", tmp);
            unlink(tmp);
        }
        if (r < 0)
            return error_wrap(err, "ephemeral storage");
    }
    if ((r = mount_image(image, rw, err)) < 0) {
        unlink(image);
        return error_wrap(err, "ephemeral storage");
    }
    return 0;
}

int agent_storage_detach(struct task *t, struct error **err)
{
    _cleanup_free_ char *rw = xasprintf("%s/rw", t->dir);
    _cleanup_free_ char *image = xasprintf("%s/disk.img", t->dir);
    if (is_mount_point(rw, t->dir)) {
        if (umount2(rw, 0) < 0 && umount2(rw, MNT_DETACH) < 0)
            return error_errno(err, errno, "unmount %s", rw);
        /* Removing the mount point also detaches the copies other tasks'
         * runtime mount namespaces hold. */
        if (rmdir(rw) < 0 && errno != ENOENT)
            return error_errno(err, errno, "rmdir %s", rw);
    } else {
        int r = oci_dir_remove_tree(rw, err);
        if (r < 0)
            return r;
    }
    if (unlink(image) < 0 && errno != ENOENT)
        return error_errno(err, errno, "remove %s", image);
    _cleanup_free_ char *tmp = xasprintf("%s/disk.img.tmp", t->dir);
    unlink(tmp); /* a crash while it was made */
    return 0;
}

/* Makes slot n of the mounted pool: under a temporary name until it is
 * complete, so that a crash never leaves a half-made one for ready_scan to
 * adopt. */
static int ready_make(struct agent *a, unsigned n, struct error **err)
{
    struct agent_storage *s = &a->storage;
    _cleanup_free_ char *tmp = xasprintf("%s/ready/tmp-%u", s->dir, n);
    _cleanup_free_ char *dst = xasprintf("%s/ready/%u", s->dir, n);
    _cleanup_free_ char *image = xasprintf("%s/disk.img", tmp);
    _cleanup_free_ char *rw = xasprintf("%s/rw", tmp);
    _cleanup_free_ char *c = xasprintf("%s/rw/c", tmp);
    _cleanup_free_ char *logs = xasprintf("%s/logs", tmp);
    int r = 0;
    if (mkdir(tmp, 0700) < 0 || mkdir(rw, 0700) < 0 || mkdir(logs, 0700) < 0)
        r = error_errno(err, errno, "mkdir %s", rw);
    if (r == 0 && !pool_take(a, image))
        r = format_default(a, image, err);
    if (r == 0)
        r = mount_image(image, rw, err);
    if (r == 0 && mkdir(c, 0700) < 0)
        r = error_errno(err, errno, "mkdir %s", c);
    /* The files a start writes, empty: written in place (task.json by an
     * exchange with its temp file), they take no inode on the start's path
     * (on an ext4 without a journal, allocating one skips every inode freed
     * in the last minute). An empty task.json is one never written. */
    static const struct {
        const char *name;
        mode_t mode; /* hosts and resolv.conf: read by the container's user */
    } files[] = {
        {"task.json", 0600}, {"task.json.tmp", 0600}, {"hosts", 0644}, {"resolv.conf", 0644}};
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *f = xasprintf("%s/%s", tmp, files[i].name);
        int fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, files[i].mode);
        if (fd < 0)
            r = error_errno(err, errno, "create %s", f);
        else
            close(fd);
    }
    if (r == 0 && rename(tmp, dst) < 0)
        r = error_errno(err, errno, "rename %s", tmp);
    if (r < 0)
        agent_storage_remove_dir(tmp);
    return r;
}

bool agent_storage_take(struct agent *a, const char *dir, int64_t gib)
{
    struct agent_storage *s = &a->storage;
    if (!s->enforced || (gib > 0 && gib != DEFAULT_GIB))
        return false;
    return take_from(a, "ready", &s->mounted, dir);
}

void agent_storage_remove_dir(const char *dir)
{
    _cleanup_free_ char *rw = xasprintf("%s/rw", dir);
    if (is_mount_point(rw, dir) && umount2(rw, 0) < 0)
        umount2(rw, MNT_DETACH);
    /* As in agent_storage_detach: the copies other namespaces hold go with
     * the mount point. */
    rmdir(rw);
    oci_dir_remove_tree(dir, NULL);
}

void agent_storage_sweep(struct agent *a, bool (*held)(struct agent *, const char *))
{
    _cleanup_free_ char *mi = NULL;
    if (oci_file_read_at(AT_FDCWD, "/proc/self/mountinfo", 4 << 20, &mi, NULL) < 0)
        return;
    size_t plen = strlen(a->tasks_dir);
    char *save = NULL;
    for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[6] = {0}, *s2 = NULL;
        int n = 0;
        for (char *tok = strtok_r(line, " ", &s2); tok && n < 6; tok = strtok_r(NULL, " ", &s2))
            f[n++] = tok;
        if (n < 5 || strncmp(f[4], a->tasks_dir, plen) != 0 || f[4][plen] != '/')
            continue;
        char *id = f[4] + plen + 1;
        char *slash = strchr(id, '/');
        if (!slash || strcmp(slash, "/rw") != 0)
            continue;
        *slash = '\0';
        if (held(a, id))
            continue;
        *slash = '/';
        if (umount2(f[4], MNT_DETACH) == 0)
            rmdir(f[4]);
    }
}
