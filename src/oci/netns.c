#include "oci/netns.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

struct create_args {
    const char *path; /* NULL: a descriptor in fd instead */
    int fd;
    int errnum;
    const char *what;
};

static void *thread_fail(struct create_args *a, const char *what)
{
    a->errnum = errno;
    a->what = what;
    return NULL;
}

static void *create_thread(void *p)
{
    struct create_args *a = p;
    /* Only this thread moves to the new namespace, and it ends right after:
     * the bind mount is what keeps the namespace alive. */
    if (unshare(CLONE_NEWNET) < 0)
        return thread_fail(a, "unshare");
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return thread_fail(a, "socket");
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return thread_fail(a, "read lo flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return thread_fail(a, "bring lo up");
    if (!a->path) {
        if ((a->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
            return thread_fail(a, "open");
    } else if (mount("/proc/thread-self/ns/net", a->path, NULL, MS_BIND, NULL) < 0) {
        return thread_fail(a, "bind mount");
    }
    return NULL;
}

int oci_netns_new(int *ret_fd, struct error **err)
{
    struct create_args a = {NULL, -1, 0, NULL};
    pthread_t t;
    int r = pthread_create(&t, NULL, create_thread, &a);
    if (r != 0)
        return error_errno(err, r, "netns: thread");
    pthread_join(t, NULL);
    if (a.errnum)
        return error_errno(err, a.errnum, "netns: %s", a.what);
    *ret_fd = a.fd;
    return 0;
}

/* path's directory, and path itself as a new empty file. */
static int make_file(const char *path, struct error **err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int r = oci_dir_make(dir, 0755, err);
        if (r < 0)
            return r;
    }
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return error_errno(err, errno, "create %s", path);
    close(fd);
    return 0;
}

int oci_netns_bind(int fd, const char *path, struct error **err)
{
    int r = make_file(path, err);
    if (r < 0)
        return r;
    char src[64];
    snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
    if (mount(src, path, NULL, MS_BIND, NULL) < 0) {
        r = error_errno(err, errno, "netns %s: bind mount", path);
        unlink(path);
        return r;
    }
    return 0;
}

int oci_netns_create(const char *path, struct error **err)
{
    int r = make_file(path, err);
    if (r < 0)
        return r;
    struct create_args a = {path, -1, 0, NULL};
    pthread_t t;
    r = pthread_create(&t, NULL, create_thread, &a);
    if (r != 0) {
        unlink(path);
        return error_errno(err, r, "netns %s: thread", path);
    }
    pthread_join(t, NULL);
    if (a.errnum) {
        umount2(path, MNT_DETACH);
        unlink(path);
        return error_errno(err, a.errnum, "netns %s: %s", path, a.what);
    }
    return 0;
}

bool oci_netns_bound(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

int oci_netns_remove(const char *path, struct error **err)
{
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return error_errno(err, errno, "umount %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return error_errno(err, errno, "unlink %s", path);
    return 0;
}
