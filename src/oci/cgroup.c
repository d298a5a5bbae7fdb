/* The cgroup manager's front: layout detection, paths and dispatch to the
 * v1, hybrid or v2 backend, plus the tree walks the backends share. */
#include "oci/cgroup-internal.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Splits one mountinfo line into its mount point, file system type and super
 * options. Mount points escape blanks as \040; cgroup mounts have none. */
static bool mountinfo_fields(char *line, char **mnt, char **fstype, char **super)
{
    char *save = NULL, *f[64];
    int n = 0;
    for (char *t = strtok_r(line, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save))
        f[n++] = t;
    /* Optional fields (from the 7th on) run until a lone "-". */
    for (int i = 6; i + 3 < n; i++) {
        if (strcmp(f[i], "-") == 0) {
            *mnt = f[4];
            *fstype = f[i + 1];
            *super = f[i + 3];
            return true;
        }
    }
    return false;
}

/* True when the comma-separated list holds item. */
static bool list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

int oci_cgroup_mountinfo_parse(struct oci_cgroups *cg, const char *mountinfo, struct error **err)
{
    _cleanup_free_ char *text = xstrdup(mountinfo);
    char *save = NULL;
    bool v2_root = false;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *mnt, *fstype, *super;
        if (!mountinfo_fields(line, &mnt, &fstype, &super))
            continue;
        if (strncmp(mnt, OCI_CGROUP_ROOT, strlen(OCI_CGROUP_ROOT)) != 0)
            continue;
        if (strcmp(fstype, "cgroup2") == 0) {
            free(cg->unified);
            cg->unified = xstrdup(mnt);
            v2_root = strcmp(mnt, OCI_CGROUP_ROOT) == 0;
        } else if (strcmp(fstype, "cgroup") == 0) {
            cg->v1 = xrealloc(cg->v1, (cg->n_v1 + 1) * sizeof(*cg->v1));
            /* Keep only controller names from the super options. */
            char *ctl = xstrdup("");
            char *s2 = NULL;
            for (char *o = strtok_r(super, ",", &s2); o; o = strtok_r(NULL, ",", &s2)) {
                if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0 || strcmp(o, "xattr") == 0 ||
                    strncmp(o, "release_agent=", 14) == 0 || strcmp(o, "clone_children") == 0 ||
                    strcmp(o, "noprefix") == 0 || strcmp(o, "nsdelegate") == 0)
                    continue;
                char *n = xasprintf("%s%s%s", ctl, *ctl ? "," : "", o);
                free(ctl);
                ctl = n;
            }
            cg->v1[cg->n_v1].path = xstrdup(mnt);
            cg->v1[cg->n_v1].controllers = ctl;
            cg->n_v1++;
        }
    }
    if (v2_root) {
        cg->mode = OCI_CGROUP_V2;
        return 0;
    }
    if (cg->n_v1 == 0)
        return error_set(err, ENOTSUP, NULL, "no cgroup file system mounted under %s",
                         OCI_CGROUP_ROOT);
    cg->mode = cg->unified ? OCI_CGROUP_HYBRID : OCI_CGROUP_V1;
    for (size_t i = 0; i < cg->n_v1; i++) {
        const char *c = cg->v1[i].controllers, *p = cg->v1[i].path;
        if (list_has(c, "cpu"))
            cg->cpu = p;
        if (list_has(c, "cpuacct"))
            cg->cpuacct = p;
        if (list_has(c, "memory"))
            cg->memory = p;
        if (list_has(c, "pids"))
            cg->pids = p;
    }
    return 0;
}

void oci_cgroup_mounts_done(struct oci_cgroups *cg)
{
    for (size_t i = 0; i < cg->n_v1; i++) {
        free(cg->v1[i].path);
        free(cg->v1[i].controllers);
    }
    free(cg->v1);
    cg->v1 = NULL;
    cg->n_v1 = 0;
    free(cg->unified);
    cg->unified = NULL;
    cg->cpu = cg->cpuacct = cg->memory = cg->pids = NULL;
}

int oci_cgroups_open(const char *parent, struct oci_cgroups **ret, struct error **err)
{
    if (!parent)
        parent = OCI_CGROUP_PARENT;
    if (parent[0] != '/' || strstr(parent, "..") || strlen(parent) > 256)
        return error_set(err, EINVAL, NULL, "cgroup parent %s: not a clean absolute path", parent);
    _cleanup_free_ char *mountinfo = NULL;
    int r = oci_file_read_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 20, &mountinfo, err);
    if (r < 0)
        return r;
    struct oci_cgroups *cg = xzalloc(sizeof(*cg));
    r = oci_cgroup_mountinfo_parse(cg, mountinfo, err);
    if (r < 0) {
        oci_cgroups_free(cg);
        return r;
    }
    cg->parent = xstrdup(parent);
    size_t n = strlen(cg->parent);
    while (n > 1 && cg->parent[n - 1] == '/')
        cg->parent[--n] = '\0';
    switch (cg->mode) {
    case OCI_CGROUP_V2:
        cg->ops = &oci_cgroup_v2_ops;
        break;
    case OCI_CGROUP_HYBRID:
        cg->ops = &oci_cgroup_hybrid_ops;
        break;
    case OCI_CGROUP_V1:
        cg->ops = &oci_cgroup_v1_ops;
        break;
    }
    if (cg->mode != OCI_CGROUP_V2 && (!cg->cpu || !cg->cpuacct || !cg->memory || !cg->pids)) {
        oci_cgroups_free(cg);
        return error_set(err, ENOTSUP, NULL,
                         "cgroup v1: the cpu, cpuacct, memory and pids controllers must be "
                         "mounted under %s",
                         OCI_CGROUP_ROOT);
    }
    if (cg->mode == OCI_CGROUP_V2) {
        _cleanup_free_ char *ctl = NULL;
        r = oci_file_read_at(AT_FDCWD, OCI_CGROUP_ROOT "/cgroup.controllers", 4096, &ctl, err);
        if (r < 0) {
            oci_cgroups_free(cg);
            return r;
        }
        for (char *c = ctl; *c; c++)
            if (*c == ' ' || *c == '\n')
                *c = ',';
        if (!list_has(ctl, "cpu") || !list_has(ctl, "memory") || !list_has(ctl, "pids")) {
            oci_cgroups_free(cg);
            return error_set(err, ENOTSUP, NULL,
                             "cgroup v2: the cpu, memory and pids controllers must be available");
        }
    }
    *ret = cg;
    return 0;
}

void oci_cgroups_free(struct oci_cgroups *cg)
{
    if (!cg)
        return;
    oci_cgroup_mounts_done(cg);
    free(cg->parent);
    free(cg);
}

enum oci_cgroup_mode oci_cgroups_mode(const struct oci_cgroups *cg)
{
    return cg->mode;
}

const char *oci_cgroups_mode_name(const struct oci_cgroups *cg)
{
    return cg->ops->name;
}

bool oci_cgroups_hide_unified(const struct oci_cgroups *cg)
{
    return cg->mode == OCI_CGROUP_HYBRID;
}

struct hidden_job {
    const char *unified, *dir;
    int r;
};

static void *sweep_hidden_thread(void *p)
{
    struct hidden_job *j = p;
    /* A mount namespace of this thread alone (it needs its own file-system
     * attributes for that), where the unified mount is gone and what lies
     * under it in the host's tmpfs shows. The thread ends right after. */
    if (unshare(CLONE_FS | CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 || umount2(j->unified, MNT_DETACH) < 0)
        j->r = -errno;
    else
        j->r = oci_dir_remove_tree(j->dir, NULL);
    return NULL;
}

int oci_cgroups_sweep_hidden(const struct oci_cgroups *cg)
{
    if (cg->mode != OCI_CGROUP_HYBRID || !cg->unified || strcmp(cg->parent, "/") == 0)
        return 0;
    _cleanup_free_ char *dir = xasprintf("%s%s", cg->unified, cg->parent);
    struct hidden_job j = {cg->unified, dir, 0};
    pthread_t th;
    int r = pthread_create(&th, NULL, sweep_hidden_thread, &j);
    if (r != 0)
        return -r;
    pthread_join(th, NULL);
    return j.r == -ENOENT ? 0 : j.r;
}

char *oci_cgroup2_options(const char *mnt)
{
    _cleanup_free_ char *mi = NULL;
    if (oci_file_read_at(AT_FDCWD, "/proc/self/mountinfo", 4 << 20, &mi, NULL) < 0)
        return NULL;
    char *save = NULL;
    for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *m, *fstype, *super;
        if (mountinfo_fields(line, &m, &fstype, &super) && strcmp(m, mnt) == 0 &&
            strcmp(fstype, "cgroup2") == 0)
            return xstrdup(super);
    }
    return NULL;
}

int oci_cgroups_favor_dynmods(const struct oci_cgroups *cg, bool *ret_changed, struct error **err)
{
    *ret_changed = false;
    if (!cg->unified)
        return error_set(err, ENOTSUP, NULL, "no cgroup2 mount");
    _cleanup_free_ char *opts = oci_cgroup2_options(cg->unified);
    if (!opts)
        return error_set(err, ENOENT, NULL, "%s: not in mountinfo", cg->unified);
    if (list_has(opts, "favordynmods"))
        return 0;
    /* A reconfiguration sets every root flag from what it is given, so the
     * mount's current options (nsdelegate, memory_recursiveprot, ...) go
     * with the new one. fspick changes only the file system's options,
     * not the mount's (nosuid and the like). */
    _cleanup_close_ int fd = fspick(AT_FDCWD, cg->unified, FSPICK_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "fspick %s", cg->unified);
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0)
            continue;
        char *eq = strchr(o, '=');
        if (eq)
            *eq = '\0';
        if (fsconfig(fd, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o, eq ? eq + 1 : NULL, 0) <
            0)
            return error_errno(err, errno, "%s: keep option %s", cg->unified, o);
    }
    if (fsconfig(fd, FSCONFIG_SET_FLAG, "favordynmods", NULL, 0) < 0)
        return error_errno(err, errno, "%s: favordynmods", cg->unified);
    if (fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
        return error_errno(err, errno, "%s: reconfigure", cg->unified);
    /* Outside the initial cgroup namespace the kernel takes the call and
     * changes nothing. */
    _cleanup_free_ char *now = oci_cgroup2_options(cg->unified);
    if (!now || !list_has(now, "favordynmods"))
        return error_set(err, EPERM, NULL, "%s: favordynmods did not take", cg->unified);
    *ret_changed = true;
    return 0;
}

char *oci_cgroup_path(const struct oci_cgroups *cg, const char *task, const char *container)
{
    const char *p = strcmp(cg->parent, "/") == 0 ? "" : cg->parent;
    if (container)
        return xasprintf("%s/%s/%s", p, task, container);
    return xasprintf("%s/%s", p, task);
}

static int check_names(const char *task, const char *container, struct error **err)
{
    if (!task || !oci_name_valid(task))
        return error_set(err, EINVAL, NULL, "invalid task cgroup name");
    if (container && !oci_name_valid(container))
        return error_set(err, EINVAL, NULL, "invalid container cgroup name");
    return 0;
}

int oci_cgroup_task_create(struct oci_cgroups *cg, const char *task,
                           const struct oci_cgroup_limits *lim, struct error **err)
{
    int r = check_names(task, NULL, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = oci_cgroup_path(cg, task, NULL);
    r = cg->ops->create(cg, rel, lim, true, err);
    if (r < 0)
        return error_wrap(err, "task cgroup %s", rel);
    return 0;
}

int oci_cgroup_container_create(struct oci_cgroups *cg, const char *task, const char *container,
                                const struct oci_cgroup_limits *lim, struct error **err)
{
    int r = check_names(task, container, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = oci_cgroup_path(cg, task, container);
    r = cg->ops->create(cg, rel, lim, false, err);
    if (r < 0)
        return error_wrap(err, "container cgroup %s", rel);
    return 0;
}

int oci_cgroup_usage_read(struct oci_cgroups *cg, const char *task, const char *container,
                          struct oci_cgroup_usage *ret, struct error **err)
{
    int r = check_names(task, container, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = oci_cgroup_path(cg, task, container);
    struct oci_cgroup_usage u = {0};
    r = cg->ops->usage(cg, rel, &u, err);
    if (r < 0)
        return error_wrap(err, "cgroup %s", rel);
    *ret = u;
    return 0;
}

int oci_cgroup_kill(struct oci_cgroups *cg, const char *task, const char *container,
                    struct error **err)
{
    int r = check_names(task, container, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = oci_cgroup_path(cg, task, container);
    r = cg->ops->kill(cg, rel, err);
    if (r < 0)
        return error_wrap(err, "kill cgroup %s", rel);
    return 0;
}

int oci_cgroup_remove(struct oci_cgroups *cg, const char *task, const char *container,
                      struct error **err)
{
    int r = check_names(task, container, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = oci_cgroup_path(cg, task, container);
    r = cg->ops->remove(cg, rel, err);
    if (r < 0)
        return error_wrap(err, "remove cgroup %s", rel);
    return 0;
}

int64_t oci_cgroup_quota_us(int64_t cpu_units)
{
    int64_t q = cpu_units * OCI_CGROUP_CPU_PERIOD / 1024;
    return q < 1000 ? 1000 : q; /* the kernel's minimum quota is 1 ms */
}

uint64_t oci_cgroup_shares(int64_t cpu_units)
{
    if (cpu_units < 2)
        return 2;
    if (cpu_units > 262144)
        return 262144;
    return (uint64_t)cpu_units;
}

uint64_t oci_cgroup_shares_to_weight(uint64_t shares)
{
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* rmdir of every cgroup below dfd/name, then of dfd/name itself. */
static int remove_dir(int dfd, const char *name, int depth)
{
    if (depth > 32)
        return -ELOOP;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = remove_dir(dirfd(d), de->d_name, depth + 1);
        if (r < 0 && !ret)
            ret = r;
    }
    closedir(d);
    if (ret < 0)
        return ret;
    /* A cgroup whose last process just exited may stay busy for a moment. */
    for (int i = 0; i < 100; i++) {
        if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        sleep_ms(10);
    }
    return -EBUSY;
}

int oci_cgroup_tree_remove(const char *mount, const char *rel, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s%s", mount, rel);
    int r = remove_dir(AT_FDCWD, path, 0);
    if (r < 0)
        return error_errno(err, -r, "rmdir %s", path);
    return 0;
}

/* Signals every pid in dir/cgroup.procs and below; counts those seen. */
static int kill_dir(int dfd, const char *name, int depth, int *seen)
{
    if (depth > 32)
        return -ELOOP;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    _cleanup_free_ char *procs = NULL;
    if (oci_file_read_at(fd, "cgroup.procs", 1 << 20, &procs, NULL) == 0) {
        for (char *p = procs; *p;) {
            char *end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
                (*seen)++;
            p = end;
            while (*p == '\n')
                p++;
        }
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        kill_dir(dirfd(d), de->d_name, depth + 1, seen);
    }
    closedir(d);
    return 0;
}

int oci_cgroup_tree_kill(const char *dir, struct error **err)
{
    for (int i = 0; i < 200; i++) {
        int seen = 0;
        int r = kill_dir(AT_FDCWD, dir, 0, &seen);
        if (r < 0)
            return error_errno(err, -r, "kill %s", dir);
        if (seen == 0)
            return 0;
        sleep_ms(10);
    }
    return error_set(err, EBUSY, NULL, "%s: processes remain after SIGKILL", dir);
}

static int sum_dir(int dfd, const char *name, int depth, int (*read)(int, uint64_t *),
                   uint64_t *acc)
{
    if (depth > 32)
        return -ELOOP;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t v = 0;
    int r = read(fd, &v);
    if (r < 0) {
        close(fd);
        return r;
    }
    *acc += v;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sum_dir(dirfd(d), de->d_name, depth + 1, read, acc);
    }
    closedir(d);
    return 0;
}

int oci_cgroup_tree_sum(const char *dir, int (*read)(int dirfd, uint64_t *ret), uint64_t *ret)
{
    uint64_t acc = 0;
    int r = sum_dir(AT_FDCWD, dir, 0, read, &acc);
    if (r < 0)
        return r;
    *ret = acc;
    return 0;
}
