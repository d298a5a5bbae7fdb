/* Containers under conmon with crun or runc. conmon runs the runtime's
 * `create` and reports the container's pid on a sync pipe; `start` is the
 * runtime's own command; signals go straight to the container's init
 * through a pidfd (checked against the start time recorded at creation, so
 * a recycled pid is never signalled); exits are read from conmon's exit
 * file. */
#include "oci/runtime.h"
#include "oci/spawn.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/proc.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CONMON_PATH      "/usr/bin/conmon"
#define CREATE_TIMEOUT   60000 /* ms for conmon + `runtime create` */
#define KILL_WAIT        10000 /* ms to wait for an exit after SIGKILL */
#define OVERLAY_DATA_MAX 4000  /* mount(2) data is one page */

/* One OCI runtime. They share the runc command line; what differs is data. */
struct runtime_ops {
    const char *name;
    const char *const paths[4];       /* where to look when no path is configured */
    const char *const global_args[2]; /* after --root */
};

static const struct runtime_ops runtime_backends[] = {
    {"crun", {"/usr/bin/crun", "/usr/local/bin/crun", NULL}, {"--cgroup-manager=cgroupfs", NULL}},
    {"runc", {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", NULL}, {NULL}},
};

/* conmon passes its environment on to the runtime it spawns: that of
 * oci_spawn_runtime_env, and its sync pipe. */
static const char *const conmon_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "_OCI_SYNCPIPE=3",
    "_LIBCONTAINER_CLONED_BINARY=1", NULL};

struct oci_runtime {
    const struct runtime_ops *ops;
    char *path;
    char *conmon;
    char *run_dir;
    char *root;     /* the runtime's --root */
    char *sock_dir; /* conmon's --socket-dir-path */
    struct oci_cgroups *cg;
    /* What conmon and the runtime calls start from (spawn.h), or NULL. */
    struct oci_spawn_base *base;
};

struct oci_container {
    struct oci_runtime *rt;
    char *id;
    char *dir;
    char *log_path;
    pid_t pid, conmon_pid;
    uint64_t pid_start, conmon_start; /* /proc/PID/stat start times */
    int64_t created_ms, started_ms;
};

/* A growable NULL-terminated argv of owned strings. */
struct argv {
    char **v;
    size_t n;
};

static void argv_add(struct argv *a, const char *s)
{
    a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void argv_done(struct argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* The runtime's command line up to the subcommand. */
static void runtime_argv(const struct oci_runtime *rt, struct argv *a)
{
    argv_add(a, rt->path);
    argv_add(a, "--root");
    argv_add(a, rt->root);
    for (size_t i = 0; rt->ops->global_args[i]; i++)
        argv_add(a, rt->ops->global_args[i]);
}

int oci_runtime_new(const struct oci_runtime_config *cfg, struct oci_cgroups *cg,
                    struct oci_runtime **ret, struct error **err)
{
    const char *name = cfg->runtime ? cfg->runtime : "crun";
    const struct runtime_ops *ops = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(runtime_backends); i++)
        if (strcmp(runtime_backends[i].name, name) == 0)
            ops = &runtime_backends[i];
    if (!ops)
        return error_set(err, EINVAL, NULL, "unknown OCI runtime %s (crun or runc)", name);
    const char *path = cfg->runtime_path;
    for (size_t i = 0; !path && ops->paths[i]; i++)
        if (access(ops->paths[i], X_OK) == 0)
            path = ops->paths[i];
    if (!path || access(path, X_OK) < 0)
        return error_set(err, ENOENT, NULL, "OCI runtime %s not found", name);
    const char *conmon = cfg->conmon_path ? cfg->conmon_path : CONMON_PATH;
    if (access(conmon, X_OK) < 0)
        return error_errno(err, errno, "conmon %s", conmon);
    if (!cfg->run_dir || cfg->run_dir[0] != '/')
        return error_set(err, EINVAL, NULL, "run dir must be an absolute path");

    struct oci_runtime *rt = xzalloc(sizeof(*rt));
    rt->ops = ops;
    rt->path = xstrdup(path);
    rt->conmon = xstrdup(conmon);
    rt->run_dir = xstrdup(cfg->run_dir);
    rt->root = xasprintf("%s/%s", cfg->run_dir, ops->name);
    rt->sock_dir = xasprintf("%s/s", cfg->run_dir);
    rt->cg = cg;
    int r;
    if ((r = oci_dir_make(rt->root, 0700, err)) < 0 ||
        (r = oci_dir_make(rt->sock_dir, 0700, err)) < 0 ||
        (cfg->base_drop && (r = oci_spawn_base_new(cfg->base_drop, oci_cgroups_hide_unified(cg),
                                                   &rt->base, err)) < 0)) {
        oci_runtime_free(rt);
        return r;
    }
    *ret = rt;
    return 0;
}

void oci_runtime_free(struct oci_runtime *rt)
{
    if (!rt)
        return;
    free(rt->path);
    free(rt->conmon);
    free(rt->run_dir);
    free(rt->root);
    free(rt->sock_dir);
    oci_spawn_base_free(rt->base);
    free(rt);
}

const char *oci_runtime_name(const struct oci_runtime *rt)
{
    return rt->ops->name;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
static int proc_start_time(pid_t pid, uint64_t *ret)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_free_ char *s = NULL;
    if (oci_file_read_at(AT_FDCWD, path, 4096, &s, NULL) < 0)
        return -ESRCH;
    /* The command name may hold spaces and parentheses: skip to the last ')'. */
    char *p = strrchr(s, ')');
    if (!p)
        return -EINVAL;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EINVAL;
    }
    *ret = strtoull(p + 1, NULL, 10);
    return 0;
}

/* A pidfd for pid if it is still the process that started at start. */
static int pidfd_checked(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return -ESRCH;
    int fd = pidfd_open(pid, 0);
    if (fd < 0)
        return -errno;
    uint64_t now;
    if (proc_start_time(pid, &now) < 0 || now != start) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

/* Waits for a pidfd to report its process's exit: 1, or 0 on timeout. */
static int pidfd_wait(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int left = timeout_ms < 0 ? -1 : (int)((deadline - time_mono_ns()) / 1000000);
        if (timeout_ms >= 0 && left < 0)
            left = 0;
        int r = poll(&p, 1, left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

static int save_state(const struct oci_container *c, struct error **err)
{
    json_t *j =
        json_pack("{s:s, s:s, s:i, s:I, s:i, s:I, s:I, s:I}", "id", c->id, "runtime",
                  c->rt->ops->name, "pid", (int)c->pid, "pid_start", (json_int_t)c->pid_start,
                  "conmon_pid", (int)c->conmon_pid, "conmon_start", (json_int_t)c->conmon_start,
                  "created_ms", (json_int_t)c->created_ms, "started_ms", (json_int_t)c->started_ms);
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    _cleanup_free_ char *path = xasprintf("%s/state.json", c->dir);
    return oci_file_replace(path, text, strlen(text), 0600, err);
}

static struct oci_container *container_new(struct oci_runtime *rt, const char *id, const char *dir)
{
    struct oci_container *c = xzalloc(sizeof(*c));
    c->rt = rt;
    c->id = xstrdup(id);
    c->dir = xstrdup(dir);
    c->log_path = xasprintf("%s/ctr.log", dir);
    return c;
}

void oci_container_free(struct oci_container *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->dir);
    free(c->log_path);
    free(c);
}

static bool overlay_safe(const char *p)
{
    /* ',' separates mount options and ':' lower dirs; overlayfs escapes
     * neither reliably, so such paths are refused. */
    return p[0] == '/' && !strpbrk(p, ",:\\");
}

/* Reads conmon's sync message, {"data": PID} or {"data": -1, "message": ...}. */
static int read_sync(int fd, char **ret, struct error **err)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    struct pollfd p = {fd, POLLIN, 0};
    int64_t deadline = time_mono_ns() + (int64_t)CREATE_TIMEOUT * 1000000;
    while (!memchr(b.data ? b.data : "", '\n', b.len)) {
        int left = (int)((deadline - time_mono_ns()) / 1000000);
        if (left <= 0) {
            buf_done(&b);
            return error_set(err, ETIMEDOUT, NULL, "conmon: no answer in %d ms", CREATE_TIMEOUT);
        }
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (buf_append(&b, tmp, (size_t)n) < 0)
            break;
    }
    *ret = buf_steal(&b);
    return 0;
}

/* True when pid runs conmon, crun or runc with id as one of its arguments. */
static bool is_stray(pid_t pid, const char *id)
{
    return (proc_comm_is(pid, "conmon") || proc_comm_is(pid, "crun") ||
            proc_comm_is(pid, "runc")) &&
           proc_has_arg(pid, id);
}

/* SIGKILLs every stray of id; answers how many were found. */
static int kill_strays(const char *id)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || !is_stray(pid, id))
            continue;
        kill(pid, SIGKILL);
        n++;
    }
    closedir(d);
    return n;
}

int oci_container_kill_strays(const char *id, int timeout_ms)
{
    if (!id || !oci_name_valid(id))
        return 0;
    int64_t deadline = time_now_ms() + timeout_ms;
    int n;
    while ((n = kill_strays(id)) > 0 && time_now_ms() < deadline)
        poll(NULL, 0, 10);
    return n;
}

/* What conmon and the overlay need of a container's id and directory. */
static int check_names(const struct oci_runtime *rt, const char *dir, const char *id,
                       struct error **err)
{
    if (!id || !oci_name_valid(id))
        return error_set(err, EINVAL, NULL, "container id: invalid");
    if (!dir || !overlay_safe(dir))
        return error_set(err, EINVAL, NULL,
                         "container %s: directory must be absolute, without "
                         "',', ':' or '\\'",
                         id);
    struct sockaddr_un sun;
    if (strlen(rt->sock_dir) + strlen(id) + sizeof("//attach") > sizeof(sun.sun_path))
        return error_set(err, ENAMETOOLONG, NULL,
                         "container %s: run dir %s too long for "
                         "conmon's attach socket",
                         id, rt->sock_dir);
    return 0;
}

/* The container's directory and those conmon and the overlay need. */
static int make_dirs(const char *dir, struct error **err)
{
    int r = oci_dir_make(dir, 0700, err);
    if (r < 0)
        return r;
    const struct {
        const char *name;
        mode_t mode;
    } subs[] = {
        {"exit", 0755}, {"upper", 0755}, {"work", 0755}, {"bundle", 0700}, {"bundle/rootfs", 0755}};
    for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
        _cleanup_free_ char *d = xasprintf("%s/%s", dir, subs[i].name);
        if (mkdir(d, subs[i].mode) < 0 && errno != EEXIST)
            return error_errno(err, errno, "mkdir %s", d);
    }
    return 0;
}

/* conmon started for container id in dir, before or with its container. */
struct oci_monitor {
    char *id, *dir;
    pid_t pid;    /* conmon (--sync: it stays the monitor; not our child) */
    int pidfd;    /* of pid, -1 if it was gone already */
    int sync_fd;  /* read end of conmon's sync pipe: the container's pid */
    int start_fd; /* write end of its start pipe (ahead only, else -1) */
};

/* conmon's environment: conmon_env, plus its start pipe when ahead. */
static const char *const conmon_env_ahead[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "_OCI_SYNCPIPE=3",
    "_OCI_STARTPIPE=4", "_LIBCONTAINER_CLONED_BINARY=1", NULL};

/* Spawns conmon for container id in dir. Not ahead, the overlay
 * (mount_data) is mounted on the rootfs in its namespace before the exec
 * and conmon runs the runtime's create at once. Ahead, conmon waits on its
 * start pipe first (it reads it before it forks anything), and the rootfs
 * is mounted later, by monitor_mount. */
static int monitor_spawn(struct oci_runtime *rt, const char *id, const char *dir,
                         const char *mount_data, bool ahead, struct oci_monitor **ret,
                         struct error **err)
{
    _cleanup_free_ char *bundle = xasprintf("%s/bundle", dir);
    _cleanup_free_ char *rootfs = xasprintf("%s/bundle/rootfs", dir);
    _cleanup_free_ char *exit_dir = xasprintf("%s/exit", dir);
    _cleanup_free_ char *pidfile = xasprintf("%s/pidfile", dir);
    _cleanup_free_ char *conmon_pidfile = xasprintf("%s/conmon.pid", dir);
    _cleanup_free_ char *conmon_log = xasprintf("%s/conmon.log", dir);
    _cleanup_free_ char *log_arg = xasprintf("k8s-file:%s/ctr.log", dir);
    /* --sync: conmon forks only the runtime, not a daemon of itself (that
     * fork copied a linked process's page tables and faulted its pages
     * back in: on this host, most of conmon's CPU). oci_spawn's detach
     * does the daemon's part, with no copy. */
    const char *fixed[] = {rt->conmon,
                           "--api-version",
                           "1",
                           "--sync",
                           "-c",
                           id,
                           "-u",
                           id,
                           "-n",
                           id,
                           "-r",
                           rt->path,
                           "-b",
                           bundle,
                           "-p",
                           pidfile,
                           "-l",
                           log_arg,
                           "--exit-dir",
                           exit_dir,
                           "--socket-dir-path",
                           rt->sock_dir};
    struct argv a = {0};
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
        argv_add(&a, fixed[i]);
    struct argv rtargs = {0};
    runtime_argv(rt, &rtargs);
    for (size_t i = 1; i < rtargs.n; i++) {
        /* "--root DIR" must reach the runtime as one argument. */
        argv_add(&a, "--runtime-arg");
        if (strcmp(rtargs.v[i], "--root") == 0 && i + 1 < rtargs.n) {
            _cleanup_free_ char *opt = xasprintf("--root=%s", rtargs.v[++i]);
            argv_add(&a, opt);
        } else {
            argv_add(&a, rtargs.v[i]);
        }
    }
    argv_done(&rtargs);

    _cleanup_close_ int logfd = open(conmon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
        argv_done(&a);
        return error_errno(err, errno, "container %s: open %s", id, conmon_log);
    }
    int sync[2], start[2] = {-1, -1};
    if (pipe2(sync, O_CLOEXEC) < 0) {
        argv_done(&a);
        return error_errno(err, errno, "container %s: pipe", id);
    }
    if (ahead && pipe2(start, O_CLOEXEC) < 0) {
        int e = errno;
        close(sync[0]);
        close(sync[1]);
        argv_done(&a);
        return error_errno(err, e, "container %s: pipe", id);
    }
    struct oci_spawn sp = {
        .argv = (const char *const *)a.v,
        .envp = ahead ? conmon_env_ahead : conmon_env,
        .cwd = dir, /* conmon drops its "oom" marker in its working directory */
        .hide_unified = oci_cgroups_hide_unified(rt->cg),
        .mount_target = ahead ? NULL : rootfs,
        .mount_data = ahead ? NULL : mount_data,
        .ro_bind = rt->path,
        .detach = true,
        .fds = {-1, logfd, logfd, sync[1], start[0]},
        .base = rt->base,
        .carry = dir,
    };
    pid_t pid;
    int r = oci_spawn(&sp, &pid, err);
    argv_done(&a);
    close(sync[1]);
    if (ahead)
        close(start[0]);
    int pidfd = -1;
    if (r == 0) {
        pidfd = pidfd_open(pid, 0);
        /* conmon writes its pid file only when it forks a daemon of
         * itself: written here, for a clean-up after a crash
         * (oci_container_create's). */
        char pidstr[16];
        int n = snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
        r = oci_file_replace(conmon_pidfile, pidstr, (size_t)n, 0600, err);
        if (r < 0 && pidfd >= 0)
            pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    }
    if (r < 0) {
        if (pidfd >= 0)
            close(pidfd);
        close(sync[0]);
        if (ahead)
            close(start[1]);
        return error_wrap(err, "container %s", id);
    }
    struct oci_monitor *m = xzalloc(sizeof(*m));
    m->id = xstrdup(id);
    m->dir = xstrdup(dir);
    m->pid = pid;
    m->pidfd = pidfd;
    m->sync_fd = sync[0];
    m->start_fd = ahead ? start[1] : -1;
    *ret = m;
    return 0;
}

pid_t oci_monitor_pid(const struct oci_monitor *m)
{
    return m->pid;
}

/* Frees m; with kill_it, SIGKILLs its conmon first and waits for it to be
 * gone (its mount namespace with it). */
static void monitor_free(struct oci_monitor *m, bool kill_it)
{
    if (!m)
        return;
    if (kill_it && m->pidfd >= 0 && pidfd_send_signal(m->pidfd, SIGKILL, NULL, 0) == 0)
        pidfd_wait(m->pidfd, KILL_WAIT);
    else if (kill_it && m->pidfd < 0)
        kill(m->pid, SIGKILL); /* no pidfd (EMFILE...): best effort, unwaited */
    if (m->pidfd >= 0)
        close(m->pidfd);
    if (m->start_fd >= 0)
        close(m->start_fd);
    close(m->sync_fd);
    free(m->id);
    free(m->dir);
    free(m);
}

void oci_monitor_discard(struct oci_monitor *m)
{
    /* Still waiting on its start pipe (it forked nothing yet): killed
     * before the pipe closes, which would let it go on. */
    monitor_free(m, true);
}

struct mount_job {
    int nsfd;
    const char *target, *data;
    int netns_fd; /* the host's binding of netns_path, or -1 */
    const char *netns_path;
    int errnum;
    const char *what;
};

static void *mount_thread(void *p)
{
    struct mount_job *j = p;
    struct statfs sf;
    char fdpath[64];
    snprintf(fdpath, sizeof(fdpath), "/proc/thread-self/fd/%d", j->netns_fd);
    /* setns into a mount namespace needs a thread that shares its file
     * system attributes (root, cwd) with no other: this one unshares them,
     * and ends right after. */
    if (unshare(CLONE_FS) < 0)
        j->what = "unshare CLONE_FS";
    else if (setns(j->nsfd, CLONE_NEWNS) < 0)
        j->what = "enter the monitor's mount namespace";
    else if (mount("overlay", j->target, "overlay", 0, j->data) < 0)
        j->what = "mount the rootfs overlay";
    else if (j->netns_fd >= 0 && (statfs(j->netns_path, &sf) < 0 || sf.f_type != NSFS_MAGIC) &&
             mount(fdpath, j->netns_path, NULL, MS_BIND, NULL) < 0)
        j->what = "bind the network namespace";
    if (j->what)
        j->errnum = errno;
    return NULL;
}

/* Mounts the rootfs overlay in the mount namespace of a monitor started
 * ahead (still waiting on its start pipe); binds netns_path (when not NULL)
 * there too when it was bound on the host after the monitor's namespace was
 * made (its copy then holds the file without the binding). */
static int monitor_mount(struct oci_monitor *m, const char *mount_data, const char *netns_path,
                         struct error **err)
{
    char ns[64];
    snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", (int)m->pid);
    _cleanup_close_ int fd = open(ns, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "container %s: conmon exited early: open %s", m->id, ns);
    _cleanup_close_ int netns_fd = -1;
    if (netns_path && (netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC)) < 0)
        return error_errno(err, errno, "container %s: open %s", m->id, netns_path);
    _cleanup_free_ char *rootfs = xasprintf("%s/bundle/rootfs", m->dir);
    struct mount_job j = {fd, rootfs, mount_data, netns_fd, netns_path, 0, NULL};
    pthread_t th;
    int r = pthread_create(&th, NULL, mount_thread, &j);
    if (r != 0)
        return error_errno(err, r, "container %s: thread", m->id);
    pthread_join(th, NULL);
    if (j.what)
        return error_errno(err, j.errnum, "container %s: %s", m->id, j.what);
    return 0;
}

int oci_monitor_start(struct oci_runtime *rt, const char *dir, const char *id,
                      struct oci_monitor **ret, struct error **err)
{
    int r = check_names(rt, dir, id, err);
    if (r == 0)
        r = make_dirs(dir, err);
    if (r < 0)
        return r;
    return monitor_spawn(rt, id, dir, NULL, true, ret, err);
}

/* Lets the monitor run the runtime's create and waits for the container's
 * pid; fills c->pid and c->conmon_pid. Consumes m. */
static int launch(struct oci_container *c, struct oci_monitor *m, struct error **err)
{
    _cleanup_free_ char *conmon_log = xasprintf("%s/conmon.log", c->dir);
    int r = 0;
    if (m->start_fd >= 0) {
        ssize_t n;
        do
            n = write(m->start_fd, "0", 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            r = error_errno(err, n < 0 ? errno : EIO, "container %s: conmon's start pipe", c->id);
        close(m->start_fd);
        m->start_fd = -1;
    }
    _cleanup_free_ char *msg = NULL;
    if (r == 0)
        r = read_sync(m->sync_fd, &msg, err);
    pid_t conmon_pid = m->pid;
    /* No answer in time: it may be hung, and is killed (the runtime it
     * started dies with it: PDEATHSIG). Else it goes on as the monitor. */
    monitor_free(m, r < 0);
    if (r < 0)
        return error_wrap(err, "container %s", c->id);
    json_t *j = json_loads(msg, JSON_DISABLE_EOF_CHECK, NULL);
    json_int_t pid = j ? json_integer_value(json_object_get(j, "data")) : -1;
    if (pid <= 0) {
        const char *mm = j ? json_string_value(json_object_get(j, "message")) : NULL;
        _cleanup_free_ char *clog = NULL;
        if (!mm && oci_file_read_at(AT_FDCWD, conmon_log, 2048, &clog, NULL) == 0)
            mm = clog;
        r = error_set(err, EIO, NULL, "container %s: %s create failed: %s", c->id, c->rt->ops->name,
                      mm && *mm ? mm : "no message");
        json_decref(j);
        return r;
    }
    json_decref(j);
    c->pid = (pid_t)pid;
    c->conmon_pid = conmon_pid;
    if (proc_start_time(c->pid, &c->pid_start) < 0 ||
        (c->conmon_pid > 0 && proc_start_time(c->conmon_pid, &c->conmon_start) < 0))
        return error_set(err, ESRCH, NULL, "container %s: exited during creation", c->id);
    return save_state(c, err);
}

int oci_container_create(struct oci_runtime *rt, const char *dir,
                         const struct oci_container_spec *spec, const struct oci_host *host,
                         struct buf *warnings, struct oci_container **ret, struct error **err)
{
    return oci_container_create_with(rt, dir, spec, host, warnings, NULL, ret, err);
}

static int monitor_given(void *arg, struct oci_monitor **ret, struct error **err)
{
    (void)err;
    *ret = arg;
    return 0;
}

int oci_container_create_with(struct oci_runtime *rt, const char *dir,
                              const struct oci_container_spec *spec, const struct oci_host *host,
                              struct buf *warnings, struct oci_monitor *m,
                              struct oci_container **ret, struct error **err)
{
    return oci_container_create_ahead(rt, dir, spec, host, warnings, monitor_given, m, ret, err);
}

int oci_container_create_ahead(struct oci_runtime *rt, const char *dir,
                               const struct oci_container_spec *spec, const struct oci_host *host,
                               struct buf *warnings, oci_monitor_wait_fn wait, void *arg,
                               struct oci_container **ret, struct error **err)
{
    int r = check_names(rt, dir, spec->id, err);
    if (r == 0 && spec->n_lower_dirs == 0)
        r = error_set(err, EINVAL, NULL, "container %s: no rootfs layers", spec->id);
    struct buf data;
    buf_init(&data, OVERLAY_DATA_MAX);
    buf_puts(&data, "lowerdir=");
    for (size_t i = 0; r == 0 && i < spec->n_lower_dirs; i++) {
        if (!overlay_safe(spec->lower_dirs[i]))
            r = error_set(err, EINVAL, NULL, "container %s: layer path %s unusable", spec->id,
                          spec->lower_dirs[i]);
        buf_printf(&data, "%s%s", i ? ":" : "", spec->lower_dirs[i]);
    }
    if (r == 0 && buf_printf(&data, ",upperdir=%s/upper,workdir=%s/work", dir, dir) < 0)
        r = error_set(err, E2BIG, NULL, "container %s: too many layers for one mount", spec->id);
    _cleanup_free_ char *mount_data = buf_steal(&data);
    if (r < 0) {
        /* Its directory is the caller's to clean, as after any failure
         * past this point. */
        struct oci_monitor *m = NULL;
        wait(arg, &m, NULL);
        oci_monitor_discard(m);
        return r;
    }

    struct oci_container *c = container_new(rt, spec->id, dir);
    c->created_ms = time_now_ms();
    _cleanup_free_ char *bundle = xasprintf("%s/bundle", dir);
    struct oci_container_spec with_bpf = *spec;
    with_bpf.seccomp_bpf = strcmp(rt->ops->name, "crun") == 0;
    /* The monitor's start makes them too, maybe at this moment: mkdir
     * takes either. */
    r = make_dirs(dir, err);
    if (r == 0)
        r = oci_bundle_write(bundle, &with_bpf, host, warnings, err);
    /* The monitor is waited for only now: its exec and start-up ran beside
     * the bundle's writing. */
    struct oci_monitor *m = NULL;
    int wr = wait(arg, &m, r == 0 ? err : NULL);
    if (r == 0)
        r = wr;
    if (r == 0 && m && (strcmp(m->id, spec->id) != 0 || strcmp(m->dir, dir) != 0))
        r = error_set(err, EINVAL, NULL, "container %s: monitor started for %s", spec->id, m->id);
    if (r == 0 && !m)
        r = monitor_spawn(rt, spec->id, dir, NULL, true, &m, err);
    if (r == 0)
        r = monitor_mount(m, mount_data, spec->netns_path, err);
    if (r == 0)
        r = launch(c, TAKE_PTR(m), err);
    if (r < 0) {
        oci_monitor_discard(m);
        /* Leave nothing behind: the monitor (a hung create dies with it:
         * conmon gives the runtime PDEATHSIG), the process, the runtime's
         * state, the files. */
        _cleanup_free_ char *cpidfile = xasprintf("%s/conmon.pid", dir);
        _cleanup_free_ char *cpid = NULL;
        if (!c->conmon_pid && oci_file_read_at(AT_FDCWD, cpidfile, 32, &cpid, NULL) == 0)
            c->conmon_pid = (pid_t)atoi(cpid);
        if (c->conmon_pid > 1 && proc_comm_is(c->conmon_pid, "conmon"))
            kill(c->conmon_pid, SIGKILL);
        if (c->pid > 1)
            kill(c->pid, SIGKILL);
        struct argv d = {0};
        runtime_argv(rt, &d);
        argv_add(&d, "delete");
        argv_add(&d, "--force");
        argv_add(&d, spec->id);
        oci_spawn_run((const char *const *)d.v, oci_spawn_runtime_env,
                      oci_cgroups_hide_unified(rt->cg), rt->base, dir, NULL, NULL);
        argv_done(&d);
        oci_dir_remove_tree(dir, NULL);
        oci_container_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

/* Runs `runtime SUBCOMMAND [args] ID`; fails with its output. */
static int runtime_run(struct oci_container *c, const char *sub, const char *opt,
                       struct error **err)
{
    struct argv a = {0};
    runtime_argv(c->rt, &a);
    argv_add(&a, sub);
    if (opt)
        argv_add(&a, opt);
    argv_add(&a, c->id);
    _cleanup_free_ char *out = NULL;
    int r = oci_spawn_run((const char *const *)a.v, oci_spawn_runtime_env,
                          oci_cgroups_hide_unified(c->rt->cg), c->rt->base, c->dir, &out, err);
    argv_done(&a);
    if (r < 0)
        return r;
    if (r != 0) {
        size_t n = strlen(out);
        while (n && out[n - 1] == '\n')
            out[--n] = '\0';
        return error_set(err, EIO, NULL, "%s %s %s: %s", c->rt->ops->name, sub, c->id,
                         *out ? out : "failed");
    }
    return 0;
}

/* What `crun start` does, without executing crun: the created container's
 * process waits reading ROOT/ID/exec.fifo (the only reader, from creation
 * until it has read its byte); write one byte there, then unlink the fifo
 * (crun reports a container without it as running). The open does not
 * block: with no reader, the process either died or already read its byte
 * (a start that a crash interrupted between the write and the unlink, or
 * before state.json recorded it), told apart by the process being alive.
 * Writing before unlinking means a crash in between never leaves a process
 * waiting on a fifo no one can open any more. runc's fifo works the other
 * way round (its process writes), so runc keeps its own `start`. */
static int crun_start(struct oci_container *c, struct error **err)
{
    _cleanup_free_ char *fifo = xasprintf("%s/%s/exec.fifo", c->rt->root, c->id);
    _cleanup_close_ int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno != ENXIO && errno != ENOENT)
        return error_errno(err, errno, "crun start %s: open %s", c->id, fifo);
    if (fd < 0) {
        int pfd = pidfd_checked(c->pid, c->pid_start);
        if (pfd < 0)
            return error_set(err, ESRCH, NULL, "crun start %s: the container's process is gone",
                             c->id);
        close(pfd);
    } else {
        ssize_t n;
        do
            n = write(fd, "0", 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            return error_errno(err, n < 0 ? errno : EIO, "crun start %s: write %s", c->id, fifo);
    }
    if (unlink(fifo) < 0 && errno != ENOENT)
        return error_errno(err, errno, "crun start %s: unlink %s", c->id, fifo);
    return 0;
}

int oci_container_start(struct oci_container *c, struct error **err)
{
    /* Read before the release: a container that exits at once has its
     * exit file written before the call returns (its exit time must not
     * come before its start). */
    int64_t now = time_now_ms();
    int r = strcmp(c->rt->ops->name, "crun") == 0 ? crun_start(c, err)
                                                  : runtime_run(c, "start", NULL, err);
    if (r < 0)
        return r;
    c->started_ms = now;
    return save_state(c, err);
}

/* The process of the container's config.json with other args: an exec'd
 * process gets exactly the container's user, environment, capabilities,
 * rlimits and no_new_privs (without --process, crun exec leaves
 * no_new_privs off). */
static int exec_process_file(struct oci_container *c, const char *const *args, const char *path,
                             struct error **err)
{
    _cleanup_free_ char *cfg_path = xasprintf("%s/bundle/config.json", c->dir);
    json_error_t jerr;
    json_t *cfg = json_load_file(cfg_path, 0, &jerr);
    json_t *proc = cfg ? json_object_get(cfg, "process") : NULL;
    if (!proc) {
        json_decref(cfg);
        return error_set(err, EINVAL, NULL, "%s: no process", cfg_path);
    }
    json_t *a = json_array();
    for (size_t i = 0; args[i]; i++)
        json_array_append_new(a, json_string(args[i]));
    json_object_set_new(proc, "args", a);
    _cleanup_free_ char *text = json_dumps(proc, JSON_COMPACT);
    json_decref(cfg);
    return oci_file_replace(path, text, strlen(text), 0600, err);
}

int oci_container_exec(struct oci_container *c, const char *const *args, int timeout_ms,
                       int *ret_exit, char **ret_output, struct error **err)
{
    if (!args || !args[0] || !args[0][0])
        return error_set(err, EINVAL, NULL, "container %s: exec: no command", c->id);
    /* Per call: concurrent execs (health check, user) must not collide. */
    _cleanup_free_ char *base =
        xasprintf("%s/exec-%d-%" PRId64, c->dir, (int)gettid(), time_mono_ns());
    _cleanup_free_ char *process = xasprintf("%s.json", base);
    /* The runtime writes the pid of what it runs here, so that a timeout
     * kills that process and not only the runtime. */
    _cleanup_free_ char *pidfile = xasprintf("%s.pid", base);
    int r = exec_process_file(c, args, process, err);
    if (r < 0)
        return error_wrap(err, "container %s: exec", c->id);
    struct argv a = {0};
    runtime_argv(c->rt, &a);
    argv_add(&a, "exec");
    argv_add(&a, "--process");
    argv_add(&a, process);
    argv_add(&a, "--pid-file");
    argv_add(&a, pidfile);
    argv_add(&a, c->id);
    r = oci_spawn_run_timeout((const char *const *)a.v, oci_spawn_runtime_env,
                              oci_cgroups_hide_unified(c->rt->cg), c->rt->base, c->dir, timeout_ms,
                              pidfile, ret_output, err);
    argv_done(&a);
    unlink(pidfile);
    unlink(process);
    if (r < 0)
        return error_wrap(err, "container %s: exec", c->id);
    *ret_exit = r;
    return 0;
}

int oci_container_signal(struct oci_container *c, int sig, struct error **err)
{
    int fd = pidfd_checked(c->pid, c->pid_start);
    if (fd < 0)
        return error_set(err, -fd, NULL, "container %s: not running", c->id);
    int r = pidfd_send_signal(fd, sig, NULL, 0);
    int e = errno;
    close(fd);
    if (r < 0)
        return error_errno(err, e, "container %s: signal %d", c->id, sig);
    return 0;
}

static bool exit_recorded(const struct oci_container *c)
{
    _cleanup_free_ char *p = xasprintf("%s/exit/%s", c->dir, c->id);
    return access(p, F_OK) == 0;
}

int oci_container_wait(struct oci_container *c, int timeout_ms, struct error **err)
{
    if (exit_recorded(c))
        return 0;
    /* conmon writes the exit file, then exits: its exit is the signal. */
    int fd = pidfd_checked(c->conmon_pid, c->conmon_start);
    bool monitor = fd >= 0;
    if (!monitor)
        fd = pidfd_checked(c->pid, c->pid_start);
    if (fd < 0)
        return 0; /* both gone: nothing left to wait for */
    int r = pidfd_wait(fd, timeout_ms);
    close(fd);
    if (r < 0)
        return error_errno(err, -r, "container %s: wait", c->id);
    if (r == 0)
        return error_set(err, ETIMEDOUT, NULL, "container %s: still running after %d ms", c->id,
                         timeout_ms);
    if (!monitor)
        c->conmon_pid = 0;
    return 0;
}

int oci_container_status(struct oci_container *c, struct oci_container_status *ret,
                         struct error **err)
{
    struct oci_container_status s = {
        .pid = c->pid, .created_ms = c->created_ms, .started_ms = c->started_ms};
    _cleanup_free_ char *p = xasprintf("%s/exit/%s", c->dir, c->id);
    for (int attempt = 0;; attempt++) {
        _cleanup_free_ char *text = NULL;
        if (oci_file_read_at(AT_FDCWD, p, 32, &text, NULL) == 0) {
            struct stat st;
            s.state = OCI_STATE_EXITED;
            s.exit_code = atoi(text);
            if (stat(p, &st) == 0)
                s.exited_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
            /* File times come from the kernel's coarse clock, up to a tick
             * behind the one the start was read from: an exit at once
             * could show before its start. */
            if (s.exited_ms && s.exited_ms < c->started_ms)
                s.exited_ms = c->started_ms;
            break;
        }
        int fd = pidfd_checked(c->pid, c->pid_start);
        if (fd >= 0) {
            close(fd);
            s.state = c->started_ms ? OCI_STATE_RUNNING : OCI_STATE_CREATED;
            break;
        }
        /* The process is gone: give a live monitor a moment to record it. */
        fd = pidfd_checked(c->conmon_pid, c->conmon_start);
        if (fd < 0 || attempt > 0) {
            if (fd >= 0)
                close(fd);
            s.state = OCI_STATE_UNKNOWN;
            break;
        }
        pidfd_wait(fd, 2000);
        close(fd);
    }
    (void)err;
    *ret = s;
    return 0;
}

int oci_container_stop(struct oci_container *c, int timeout_ms, struct error **err)
{
    if (exit_recorded(c))
        return 0;
    /* A container never started is the runtime's process: no grace. */
    int sig = c->started_ms ? SIGTERM : SIGKILL;
    _cleanup_error_ struct error *e = NULL;
    if (oci_container_signal(c, sig, &e) == 0 && sig == SIGTERM) {
        error_freep(&e);
        if (oci_container_wait(c, timeout_ms, &e) == 0)
            return 0;
        error_freep(&e);
        oci_container_signal(c, SIGKILL, NULL);
    }
    int r = oci_container_wait(c, KILL_WAIT, err);
    if (r < 0)
        return error_wrap(err, "stop");
    return 0;
}

int oci_container_delete(struct oci_container *c, bool force, struct error **err)
{
    struct oci_container_status s;
    oci_container_status(c, &s, NULL);
    if (s.state == OCI_STATE_RUNNING || s.state == OCI_STATE_CREATED) {
        if (!force)
            return error_set(err, EBUSY, NULL, "container %s: still running", c->id);
        oci_container_signal(c, SIGKILL, NULL);
        int r = oci_container_wait(c, KILL_WAIT, err);
        if (r < 0)
            return r;
    }
    _cleanup_error_ struct error *e = NULL;
    if (runtime_run(c, "delete", "--force", &e) < 0 && !strstr(e->msg, "not exist")) {
        int r = -e->errnum;
        if (err && !*err)
            *err = TAKE_PTR(e);
        return r;
    }
    /* The monitor exits right after recording the exit; its mount
     * namespace, and with it the rootfs overlay, goes with it. */
    int fd = pidfd_checked(c->conmon_pid, c->conmon_start);
    if (fd >= 0) {
        pidfd_wait(fd, KILL_WAIT);
        close(fd);
    }
    return oci_dir_remove_tree(c->dir, err);
}

int oci_container_load(struct oci_runtime *rt, const char *dir, struct oci_container **ret,
                       struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/state.json", dir);
    _cleanup_free_ char *text = NULL;
    int r = oci_file_read_at(AT_FDCWD, path, 64 * 1024, &text, err);
    if (r < 0)
        return r;
    json_t *j = json_loads(text, 0, NULL);
    const char *id = j ? json_get_str(j, "id") : NULL;
    if (!id || !oci_name_valid(id)) {
        json_decref(j);
        return error_set(err, EINVAL, NULL, "%s: not a container state file", path);
    }
    const char *runtime = json_get_str(j, "runtime");
    if (runtime && strcmp(runtime, rt->ops->name) != 0) {
        r = error_set(err, EINVAL, NULL, "%s: created by %s, not %s", path, runtime, rt->ops->name);
        json_decref(j);
        return r;
    }
    struct oci_container *c = container_new(rt, id, dir);
    c->pid = (pid_t)json_get_int(j, "pid", 0);
    c->pid_start = (uint64_t)json_get_int(j, "pid_start", 0);
    c->conmon_pid = (pid_t)json_get_int(j, "conmon_pid", 0);
    c->conmon_start = (uint64_t)json_get_int(j, "conmon_start", 0);
    c->created_ms = json_get_int(j, "created_ms", 0);
    c->started_ms = json_get_int(j, "started_ms", 0);
    json_decref(j);
    *ret = c;
    return 0;
}

const char *oci_container_id(const struct oci_container *c)
{
    return c->id;
}

const char *oci_container_log_path(const struct oci_container *c)
{
    return c->log_path;
}

pid_t oci_container_monitor_pid(const struct oci_container *c)
{
    return c->conmon_pid;
}

int64_t oci_container_started_ms(const struct oci_container *c)
{
    return c->started_ms;
}
