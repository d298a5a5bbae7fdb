/* A task's files and kernel objects: its directory (rw/ for container
 * layers and volumes, logs/, hosts, resolv.conf), its cgroup and its
 * network namespace; their removal when it stops; and the sweep at start
 * that removes what tasks the agent no longer holds left behind. */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "oci/netns.h"
#include "agent/net.h"
#include "oci/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

char *agent_netns_path(const struct agent *a, const char *task_id)
{
    return xasprintf("%s/%s", a->netns_dir, task_id);
}

char *agent_ctr_dir(const struct task *t, const struct ctr_def *d)
{
    return xasprintf("%s/rw/c/%s", t->dir, d->slug);
}

char *agent_log_path(const struct task *t, const struct ctr_def *d)
{
    return xasprintf("%s/logs/%s.log", t->dir, d->slug);
}

/* Writes path in place: hosts and resolv.conf are written while no
 * container of the task runs (at provisioning, again after a restart
 * before any ran), so there is no reader to keep from a partial file; and a
 * task directory from the storage pool holds them already (empty), so that
 * no inode is allocated on the start's path (storage.c). */
static int write_file(const char *path, const char *data, size_t len, struct error **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_errno(err, errno, "create %s", path);
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return error_errno(err, n < 0 ? errno : EIO, "write %s", path);
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* /etc/hosts: loopback names plus every container's hostname (the task's
 * containers share one network namespace, so they all answer on it). */
static int write_hosts(struct task *t, struct error **err)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    buf_puts(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    buf_printf(&b, "127.0.0.1\t%s", t->def.id);
    for (size_t i = 0; i < t->def.n_ctrs; i++)
        if (t->def.ctrs[i].hostname)
            buf_printf(&b, " %s", t->def.ctrs[i].hostname);
    buf_puts(&b, "\n");
    _cleanup_free_ char *path = xasprintf("%s/hosts", t->dir);
    int r = write_file(path, b.data, b.len, err);
    buf_done(&b);
    return r;
}

/* /etc/resolv.conf: the host's, without loopback name servers (they would
 * be the task's own loopback), as Docker does. */
static int write_resolv(struct task *t, struct error **err)
{
    _cleanup_free_ char *host = NULL;
    oci_file_read_at(AT_FDCWD, "/etc/resolv.conf", 64 * 1024, &host, NULL);
    struct buf b;
    buf_init(&b, 64 * 1024);
    char *save = NULL;
    for (char *line = host ? strtok_r(host, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "nameserver", 10) == 0) {
            const char *addr = line + 10 + strspn(line + 10, " \t");
            if (strncmp(addr, "127.", 4) == 0 || strncmp(addr, "::1", 3) == 0)
                continue;
        } else if (strncmp(line, "search", 6) != 0 && strncmp(line, "options", 7) != 0) {
            continue;
        }
        buf_printf(&b, "%s\n", line);
    }
    _cleanup_free_ char *path = xasprintf("%s/resolv.conf", t->dir);
    int r = write_file(path, b.data ? b.data : "", b.len, err);
    buf_done(&b);
    return r;
}

/* hosts, resolv.conf and the task's cgroup. */
static int provision_rest(struct task *t, struct error **err)
{
    struct agent *a = t->a;
    int r;
    if ((r = write_hosts(t, err)) < 0 || (r = write_resolv(t, err)) < 0)
        return r;
    struct oci_cgroup_limits lim = {
        .cpu_quota = t->def.cpu,
        .memory_max = t->def.memory_mib << 20,
        .pids_max = a->pids_max,
    };
    return oci_cgroup_task_create(a->cg, t->def.id, &lim, err);
}

/* The network namespace, the task's network and the metadata endpoint. */
static void *net_main(void *p)
{
    struct task *t = p;
    struct agent *a = t->a;
    _cleanup_free_ char *ns = agent_netns_path(a, t->def.id);
    int r = 0;
    /* Resumed after a restart: the namespace is there, unless the crash
     * came between its file's creation and its bind mount. */
    if (!oci_netns_bound(ns)) {
        /* One the pool thread made ahead, else a new one. */
        int fd = agent_netns_take(a);
        if ((r = oci_netns_remove(ns, &t->net_err)) == 0)
            r = fd >= 0 ? oci_netns_bind(fd, ns, &t->net_err) : oci_netns_create(ns, &t->net_err);
        if (fd >= 0)
            close(fd);
        if (r < 0)
            goto out;
    }
    if (a->task_network && (r = agent_net_setup(t, ns, &t->net_err)) < 0)
        goto out;
    r = agent_meta_open(t, ns, &t->net_err);
out:
    t->net_r = r;
    return NULL;
}

int agent_provision_net(struct task *t, struct error **err)
{
    if (t->net_pending)
        pthread_join(t->net_thread, NULL);
    t->net_pending = false;
    int r = t->net_r;
    t->net_r = 0;
    if (r < 0 && err && !*err)
        *err = TAKE_PTR(t->net_err);
    error_freep(&t->net_err);
    return r;
}

/* The storage and what lives on it: the directories of the containers and
 * volumes. */
static int provision_storage(struct task *t, struct error **err)
{
    int r = agent_storage_attach(t, err);
    _cleanup_free_ char *cdir = xasprintf("%s/rw/c", t->dir);
    if (r == 0)
        r = oci_dir_make(cdir, 0700, err);
    for (size_t i = 0; r == 0 && i < t->def.n_volumes; i++) {
        _cleanup_free_ char *v = xasprintf("%s/rw/v/%zu", t->dir, i);
        r = oci_dir_make(v, 0755, err);
    }
    return r;
}

/* Provisioning's second thread: the storage, then (once the task's thread
 * knows the storage is there) the monitors. A container whose directory is
 * already there (a start a restart interrupted) gets none: the create
 * cleans it up and starts conmon itself. */
static void *storage_main(void *p)
{
    struct task *t = p;
    struct error *e = NULL;
    int r = provision_storage(t, &e);
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        _cleanup_free_ char *dir = agent_ctr_dir(t, c->def);
        c->mon_wanted = r == 0 && c->state == CTR_NONE && !c->mon && access(dir, F_OK) < 0;
    }
    pthread_mutex_lock(&t->prov_lock);
    t->storage_r = r;
    t->storage_err = e;
    t->storage_done = true;
    pthread_cond_broadcast(&t->prov_cond);
    pthread_mutex_unlock(&t->prov_lock);
    if (r == 0)
        agent_monitors_run(t);
    return NULL;
}

/* Starts provisioning's second and third threads, those not started
 * early; one whose thread cannot be created runs here when here_too. */
static void start_threads(struct task *t, bool here_too)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, AGENT_STACK_SIZE);
    if (!t->storage_early) {
        t->storage_done = false;
        t->mon_pending = pthread_create(&t->mon_thread, &attr, storage_main, t) == 0;
        if (!t->mon_pending && here_too)
            storage_main(t);
    }
    if (!t->net_early) {
        t->net_r = 0;
        t->net_pending = pthread_create(&t->net_thread, &attr, net_main, t) == 0;
        if (!t->net_pending && here_too)
            net_main(t);
    }
    pthread_attr_destroy(&attr);
}

void agent_provision_early(struct task *t)
{
    start_threads(t, false);
    t->storage_early = t->mon_pending;
    t->net_early = t->net_pending;
}

void agent_provision_early_undo(struct task *t)
{
    if (t->mon_pending)
        pthread_join(t->mon_thread, NULL);
    t->mon_pending = false;
    t->storage_early = false;
    for (size_t i = 0; i < t->def.n_ctrs; i++)
        oci_monitor_discard(TAKE_PTR(t->ctrs[i].mon));
    error_freep(&t->storage_err);
    agent_provision_net(t, NULL);
    t->net_early = false;
    /* What the network thread made, as a deprovisioning removes it. */
    agent_meta_close(t->a, t->def.id);
    _cleanup_free_ char *ns = agent_netns_path(t->a, t->def.id);
    oci_netns_remove(ns, NULL);
}

int agent_provision(struct task *t, struct error **err)
{
    _cleanup_free_ char *logs = xasprintf("%s/logs", t->dir);
    int r;
    if ((r = oci_dir_make(logs, 0700, err)) < 0)
        return r;
    /* The ephemeral storage (a loop device and a mount, mostly waiting on
     * the kernel, unless the pool had the task directory ready) and then
     * the monitors are on a second thread, the network namespace and what
     * lives in it on a third, while this one does the rest: they share
     * nothing but the task directory. */
    start_threads(t, true);
    t->storage_early = t->net_early = false;
    r = provision_rest(t, err);
    pthread_mutex_lock(&t->prov_lock);
    while (!t->storage_done)
        pthread_cond_wait(&t->prov_cond, &t->prov_lock);
    int sr = t->storage_r;
    struct error *se = TAKE_PTR(t->storage_err);
    pthread_mutex_unlock(&t->prov_lock);
    if (sr < 0) {
        /* The storage's error comes first, as it did when it came first. */
        if (err) {
            error_freep(err);
            *err = se;
        } else {
            error_free(se);
        }
        return sr;
    }
    return r;
}

int agent_deprovision(struct task *t, struct error **err)
{
    struct agent *a = t->a;
    int ret = 0, r;
    agent_meta_close(a, t->def.id);
    /* Nothing should be left in the cgroup; kill stragglers all the same
     * (a process a health check left behind, say). */
    if ((r = oci_cgroup_kill(a->cg, t->def.id, NULL, err)) < 0 && !ret)
        ret = r;
    if ((r = oci_cgroup_remove(a->cg, t->def.id, NULL, ret ? NULL : err)) < 0 && !ret)
        ret = r;
    _cleanup_free_ char *ns = agent_netns_path(a, t->def.id);
    if (a->task_network && (r = agent_net_teardown(t, ret ? NULL : err)) < 0 && !ret)
        ret = r;
    if ((r = oci_netns_remove(ns, ret ? NULL : err)) < 0 && !ret)
        ret = r;
    if ((r = agent_storage_detach(t, ret ? NULL : err)) < 0 && !ret)
        ret = r;
    _cleanup_free_ char *tmp = xasprintf("%s/hc", t->dir);
    oci_dir_remove_tree(tmp, NULL);
    /* The containers are gone: only task.json and the logs stay. */
    static const char *const files[] = {"hosts", "resolv.conf"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *f = xasprintf("%s/%s", t->dir, files[i]);
        unlink(f);
    }
    return ret;
}

/* ---- the sweep at start ---- */

bool agent_task_held(struct agent *a, const char *task_id)
{
    for (struct task *t = a->tasks; t; t = t->next)
        if (t->status != TS_STOPPED && strcmp(t->def.id, task_id) == 0)
            return true;
    return false;
}

/* Calls fn for each subdirectory name of dir. */
static void each_dir(const char *dir, void (*fn)(struct agent *, const char *, const char *),
                     struct agent *a, const char *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' &&
            (de->d_type == DT_DIR || de->d_type == DT_LNK || de->d_type == DT_UNKNOWN))
            fn(a, de->d_name, arg);
    closedir(d);
}

static void sweep_cgroup(struct agent *a, const char *name, const char *unused)
{
    (void)unused;
    if (agent_task_held(a, name) || !oci_name_valid(name))
        return;
    oci_cgroup_kill(a->cg, name, NULL, NULL);
    oci_cgroup_remove(a->cg, name, NULL, NULL);
}

/* Every hierarchy that may hold PARENT/<task>: each v1 controller's and the
 * unified one. */
static void sweep_hierarchy(struct agent *a, const char *hier, const char *parent)
{
    _cleanup_free_ char *dir = xasprintf(CGROUP_ROOT "/%s%s", hier, parent);
    each_dir(dir, sweep_cgroup, a, NULL);
}

/* The task id of a runtime id <taskId>-<n>, in buf. */
static bool task_of_runtime_id(const char *id, char *buf, size_t size)
{
    const char *dash = strrchr(id, '-');
    if (!dash || dash == id || (size_t)(dash - id) >= size)
        return false;
    memcpy(buf, id, (size_t)(dash - id));
    buf[dash - id] = '\0';
    return true;
}

static void sweep_runtime(struct agent *a, const char *id, const char *unused)
{
    (void)unused;
    char task[AGENT_TASK_ID_MAX + 1];
    if (task_of_runtime_id(id, task, sizeof(task)) && agent_task_held(a, task))
        return;
    if (oci_name_valid(id))
        agent_rt_delete(&a->rtc, id, NULL);
}

static void sweep_socket_dir(struct agent *a, const char *id, const char *dir)
{
    char task[AGENT_TASK_ID_MAX + 1];
    if (task_of_runtime_id(id, task, sizeof(task)) && agent_task_held(a, task))
        return;
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, id);
    if (unlink(p) < 0)
        oci_dir_remove_tree(p, NULL);
}

void agent_reconcile(struct agent *a)
{
    /* Runtime state of containers no task holds: the runtime kills what is
     * left and forgets them. */
    each_dir(a->rtc.root, sweep_runtime, a, NULL);
    _cleanup_free_ char *socks = xasprintf("%s/s", a->run_dir);
    each_dir(socks, sweep_socket_dir, a, socks);

    /* Cgroups: <parent>/<task> in every hierarchy. */
    _cleanup_free_ char *probe = oci_cgroup_path(a->cg, "x", NULL);
    char *slash = strrchr(probe, '/');
    *slash = '\0'; /* probe is now the parent, "" for the root */
    if (oci_cgroups_mode(a->cg) == OCI_CGROUP_V2) {
        sweep_hierarchy(a, "", probe);
    } else {
        DIR *d = opendir(CGROUP_ROOT);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (de->d_name[0] != '.' && de->d_type == DT_DIR)
                sweep_hierarchy(a, de->d_name, probe);
        if (d)
            closedir(d);
    }

    int hr = oci_cgroups_sweep_hidden(a->cg);
    if (hr < 0)
        log_warn("sweep of the cgroup paths under the hidden unified mount: %s", strerror(-hr));

    agent_storage_sweep(a, agent_task_held);

    /* Network namespaces. */
    DIR *d = opendir(a->netns_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || agent_task_held(a, de->d_name))
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", a->netns_dir, de->d_name);
        oci_netns_remove(p, NULL);
    }
    if (d)
        closedir(d);
}
