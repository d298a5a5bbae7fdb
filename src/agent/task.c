/* One task's supervision, on a thread of its own (small stack; it sleeps in
 * poll() on an eventfd, the pidfds of its containers' init processes and of
 * running health probes, with a timeout only for the next health check,
 * stop deadline or dependency timeout).
 *
 *   PROVISIONING   task dir, cgroup, network namespace, hosts/resolv.conf
 *   PENDING        pull every image unless present (pullStartedAt/StoppedAt)
 *   ACTIVATING     create every container, start each once its dependsOn
 *                  conditions hold (START, COMPLETE, SUCCESS, HEALTHY),
 *                  giving up after its startTimeout
 *   RUNNING        every container started (or already done)
 *   DEACTIVATING   an essential container exited, a stop arrived, or the
 *                  start failed
 *   STOPPING       stop signal (image StopSignal, else SIGTERM), SIGKILL
 *                  after stopTimeout, dependents before their dependencies
 *   DEPROVISIONING logs moved out, containers, cgroup, netns, rw dir removed,
 *                  awslogs logs shipped (agent_flush_logs)
 *   STOPPED
 *
 * After a restart the same loop resumes from the state in task.json and the
 * containers' directories. */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "image/image.h"
#include "oci/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS_NS          1000000LL
#define EXIT_RECORD_MS 5000  /* for conmon to write the exit file */
#define KILL_RETRY_MS  10000 /* between SIGKILLs of a container that does not die */
#define INIT_GRACE_MS  3000  /* for a just-started init to set up its signals */
#define INIT_POLL_MS   20
#define OOM_REASON     "OutOfMemoryError: Container killed due to memory usage"
#define STOP_ESSENTIAL "Essential container in task exited"
#define CODE_FAILED    "TaskFailedToStart"
#define CODE_ESSENTIAL "EssentialContainerExited"
#define REASON_MAX     1024

struct task *agent_task_new(struct agent *a, struct task_def *def)
{
    struct task *t = xzalloc(sizeof(*t));
    t->a = a;
    t->def = *def;
    memset(def, 0, sizeof(*def));
    t->dir = xasprintf("%s/%s", a->tasks_dir, t->def.id);
    t->ctrs = xcalloc(t->def.n_ctrs, sizeof(*t->ctrs));
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        c->def = &t->def.ctrs[i];
        c->pidfd = -1;
        c->hc.pidfd = -1;
        c->stop_signal = SIGTERM;
    }
    buf_init(&t->warnings, 64 * 1024);
    t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&t->prov_lock, NULL);
    pthread_cond_init(&t->prov_cond, NULL);
    return t;
}

static void ctr_release(struct ctr *c)
{
    oci_monitor_discard(TAKE_PTR(c->mon));
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = -1;
    oci_container_free(c->oc);
    c->oc = NULL;
    img_info_free(c->img);
    c->img = NULL;
}

void agent_task_free(struct task *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        agent_pull_drop(t->a, t->ctrs[i].pull);
        ctr_release(&t->ctrs[i]);
        free(t->ctrs[i].reason);
        free(t->ctrs[i].image_digest);
    }
    free(t->ctrs);
    agent_spec_done(&t->def);
    free(t->dir);
    free(t->stop_code);
    free(t->stopped_reason);
    free(t->req_code);
    free(t->req_reason);
    buf_done(&t->warnings);
    json_decref(t->last);
    if (t->efd >= 0)
        close(t->efd);
    error_free(t->storage_err);
    error_free(t->net_err);
    pthread_mutex_destroy(&t->prov_lock);
    pthread_cond_destroy(&t->prov_cond);
    free(t);
}

static void set_reason(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? xstrndup(s, REASON_MAX) : NULL;
}

/* Starts stopping the task (once): DEACTIVATING with a stop code. */
static void begin_stop(struct task *t, const char *code, const char *reason)
{
    if (t->status >= TS_DEACTIVATING)
        return;
    set_reason(&t->stop_code, code);
    set_reason(&t->stopped_reason, reason);
    t->stopping_ms = time_now_ms();
    t->status = TS_DEACTIVATING;
    /* Containers never created will never run. */
    for (size_t i = 0; i < t->def.n_ctrs; i++)
        if (t->ctrs[i].state == CTR_NONE)
            t->ctrs[i].state = CTR_STOPPED;
    agent_task_publish(t, false);
}

/* A stop message not yet acted on; true when the agent is closing (the
 * thread must leave the task as it is). */
static bool check_requests(struct task *t)
{
    struct agent *a = t->a;
    pthread_mutex_lock(&a->lock);
    bool closing = a->closing;
    bool stop = t->stop_requested && t->status < TS_DEACTIVATING;
    _cleanup_free_ char *code = stop ? xstrdup(t->req_code ? t->req_code : "UserInitiated") : NULL;
    _cleanup_free_ char *reason = stop && t->req_reason ? xstrdup(t->req_reason) : NULL;
    pthread_mutex_unlock(&a->lock);
    if (!closing && stop)
        begin_stop(t, code, reason ? reason : "Task stopped by user");
    return closing;
}

/* ---- provisioning and pulls ---- */

/* Asks for every image at once, so that the pulls (for an image present,
 * a look-up on a pull worker) run beside the provisioning; the pull step
 * then waits for them. */
static void begin_pulls(struct task *t)
{
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        if (c->img || c->pull || c->state != CTR_NONE)
            continue;
        if (!t->pull_begun_ms)
            t->pull_begun_ms = time_now_ms();
        c->pull = agent_pull_begin(t, c->def->image);
    }
}

/* Starts the monitor of every container provisioning chose (mon_wanted:
 * not yet created, no directory left by an interrupted start), right after
 * the task's storage is there: on the provisioning's second thread, so that
 * conmon's exec and start-up run beside the rest of the provisioning, the
 * pull and the bundles (docs/agent.md, "Start path"). Without one, the
 * create starts conmon itself, so a failure here only costs time. */
void agent_monitors_run(struct task *t)
{
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        if (!c->mon_wanted)
            continue;
        _cleanup_free_ char *dir = agent_ctr_dir(t, c->def);
        _cleanup_error_ struct error *e = NULL;
        if (oci_monitor_start(t->a->rt, dir, c->def->runtime_id, &c->mon, &e) < 0)
            log_warn("task %s: container %s: monitor: %s", t->def.id, c->def->name, e->msg);
    }
}

static void join_monitors(struct task *t)
{
    if (t->mon_pending)
        pthread_join(t->mon_thread, NULL);
    t->mon_pending = false;
}

static void step_provision(struct task *t)
{
    _cleanup_error_ struct error *e = NULL;
    begin_pulls(t);
    if (agent_provision(t, &e) < 0) {
        _cleanup_free_ char *msg = xasprintf("ResourceInitializationError: %s", e->msg);
        begin_stop(t, CODE_FAILED, msg);
        return;
    }
    t->status = TS_PENDING;
    /* The pulls began beside the provisioning: pullStartedAt goes out with
     * PENDING rather than in a report (a save and a store write) of its
     * own. */
    if (!t->pull_started_ms)
        t->pull_started_ms = t->pull_begun_ms;
    /* Reported, not saved: until a container runs, task.json keeps
     * PROVISIONING, and a restart provisions again (each step keeps what
     * is there) and cleans up a creation it interrupted. Saves of PENDING,
     * ACTIVATING and the creation were three file writes on every start's
     * path. */
    agent_task_publish_with(t, false, false);
}

static char *pull_reason(const struct error *e)
{
    if (strncmp(e->msg, IMG_ERR_PULL, strlen(IMG_ERR_PULL)) == 0)
        return xstrdup(e->msg);
    return xasprintf("%s: %s", IMG_ERR_PULL, e->msg);
}

/* Pulls the image of every container that has none in hand. */
static int pull_images(struct task *t)
{
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        if (c->img || c->state != CTR_NONE)
            continue;
        _cleanup_error_ struct error *e = NULL;
        struct img_info *info = NULL;
        int r = c->pull ? agent_pull_finish(t, TAKE_PTR(c->pull), &info, &e)
                        : agent_pull(t, c->def->image, &info, &e);
        if (r == -ECANCELED)
            return r;
        if (r < 0) {
            _cleanup_free_ char *reason = pull_reason(e);
            set_reason(&c->reason, reason);
            t->pull_stopped_ms = time_now_ms();
            begin_stop(t, CODE_FAILED, reason);
            return r;
        }
        c->img = info;
        const char *digest = info->index_digest[0] ? info->index_digest : info->digest;
        set_reason(&c->image_digest, digest);
    }
    return 0;
}

static void step_pull(struct task *t)
{
    /* When the pulls began: beside the provisioning (already reported
     * with PENDING), or now, resumed after a restart. */
    if (!t->pull_started_ms) {
        t->pull_started_ms = t->pull_begun_ms ? t->pull_begun_ms : time_now_ms();
        agent_task_publish(t, false);
    }
    if (pull_images(t) < 0)
        return; /* stopping, or a stop request to act on */
    t->pull_stopped_ms = time_now_ms();
    t->status = TS_ACTIVATING;
    agent_task_publish_with(t, false, false); /* not saved: see step_provision */
}

/* ---- containers ---- */

static int parse_signal(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
                {"PWR", SIGPWR},   {"STOP", SIGSTOP}};
    if (!s || !*s)
        return SIGTERM;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    char *end;
    long n = strtol(s, &end, 10);
    if (!*end && n > 0 && n < NSIG)
        return (int)n;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        if (strcasecmp(s, sigs[i].name) == 0)
            return sigs[i].sig;
    return SIGTERM;
}

/* Watches the container's init through a pidfd. The pid is checked against
 * the start time src/oci recorded after the pidfd is open, so the fd can
 * never be for a recycled pid. Returns false when it is already gone. */
static bool watch(struct ctr *c)
{
    struct oci_container_status s;
    if (oci_container_status(c->oc, &s, NULL) < 0 ||
        (s.state != OCI_STATE_CREATED && s.state != OCI_STATE_RUNNING))
        return false;
    int fd = pidfd_open(s.pid, 0);
    if (fd < 0)
        return false;
    struct oci_container_status again;
    if (oci_container_status(c->oc, &again, NULL) < 0 ||
        (again.state != OCI_STATE_CREATED && again.state != OCI_STATE_RUNNING)) {
        close(fd);
        return false;
    }
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = fd;
    if (again.state == OCI_STATE_RUNNING && c->state == CTR_CREATED) {
        /* Started just before a crash that kept task.json from saying so. */
        c->state = CTR_RUNNING;
        c->started_ms = again.started_ms;
    }
    return true;
}

static void add_mount(struct oci_mount *m, const char *dest, const char *src, bool ro)
{
    static const char *const rw_opts[] = {"rbind", "rprivate", NULL};
    static const char *const ro_opts[] = {"rbind", "rprivate", "ro", NULL};
    m->destination = dest;
    m->type = "bind";
    m->source = src;
    m->options = ro ? ro_opts : rw_opts;
}

/* Leftovers of a creation a crash interrupted: the runtime's state, the
 * processes in the container's cgroup, the directory. */
static void clean_partial(struct task *t, struct ctr *c, const char *dir)
{
    /* The old conmon may still be creating it (a kill -9 during the create):
     * a new create with the same id would race it. */
    if (oci_container_kill_strays(c->def->runtime_id, 5000) > 0)
        log_warn("task %s: container %s: monitor or runtime still there after 5 s", t->def.id,
                 c->def->name);
    agent_rt_delete(&t->a->rtc, c->def->runtime_id, NULL);
    oci_cgroup_kill(t->a->cg, t->def.id, c->def->slug, NULL);
    oci_dir_remove_tree(dir, NULL);
}

struct mon_wait {
    struct task *t;
    struct ctr *c;
    struct error *net_err; /* the network's provisioning failed */
};

/* The create's wait, once the bundle is written: for the monitor started
 * ahead (agent_monitors_run) and for the network namespace the runtime
 * joins (agent_provision_net), both made beside the pull and the bundle. */
static int mon_wait(void *p, struct oci_monitor **ret, struct error **err)
{
    struct mon_wait *w = p;
    join_monitors(w->t);
    *ret = TAKE_PTR(w->c->mon);
    if (agent_provision_net(w->t, &w->net_err) < 0)
        return error_set(err, EIO, NULL, "%s", w->net_err->msg);
    return 0;
}

static int create_ctr(struct task *t, struct ctr *c, struct error **net_err, struct error **err)
{
    struct agent *a = t->a;
    const struct ctr_def *d = c->def;
    _cleanup_free_ char *dir = agent_ctr_dir(t, d);
    /* A directory provisioning did not start a monitor in: left by a start
     * a restart interrupted. */
    if (!c->mon_wanted && access(dir, F_OK) == 0)
        clean_partial(t, c, dir);
    if (!c->img) {
        /* Resumed after a restart between pull and create. */
        int r = agent_pull(t, d->image, &c->img, err);
        if (r < 0)
            return r;
        set_reason(&c->image_digest,
                   c->img->index_digest[0] ? c->img->index_digest : c->img->digest);
    }
    const struct img_info *img = c->img;
    size_t n_lower = img->n_layers;
    char **lower = xcalloc(n_lower + 1, sizeof(*lower));
    for (size_t i = 0; i < n_lower; i++)
        lower[i] = img_layer_path(img->layers[n_lower - 1 - i].diff_id);

    struct ctr_process p = {0};
    int r = agent_process_resolve(&t->def, d, img->config, (const char *const *)lower, n_lower, &p,
                                  err);
    struct oci_mount mounts[AGENT_MAX_MOUNTS];
    char *vol_dirs[AGENT_MAX_MOUNTS] = {0};
    struct oci_rlimit rl[17];
    size_t n_rl = 0;
    bool nofile = false;
    for (size_t i = 0; i < d->n_ulimits && n_rl < 16; i++) {
        rl[n_rl++] =
            (struct oci_rlimit){d->ulimits[i].type, d->ulimits[i].soft, d->ulimits[i].hard};
        nofile |= strcmp(d->ulimits[i].type, "RLIMIT_NOFILE") == 0;
    }
    if (!nofile) /* Fargate's default; src/oci clamps it to what the host allows */
        rl[n_rl++] = (struct oci_rlimit){"RLIMIT_NOFILE", 65535, 65535};
    for (size_t i = 0; i < d->n_mounts; i++) {
        vol_dirs[i] = xasprintf("%s/rw/v/%zu", t->dir, d->mounts[i].volume);
        add_mount(&mounts[i], d->mounts[i].container_path, vol_dirs[i], d->mounts[i].readonly);
    }
    _cleanup_free_ char *hosts = xasprintf("%s/hosts", t->dir);
    _cleanup_free_ char *resolv = xasprintf("%s/resolv.conf", t->dir);
    _cleanup_free_ char *netns = agent_netns_path(a, t->def.id);
    _cleanup_free_ char *cgpath = oci_cgroup_path(a->cg, t->def.id, d->slug);
    _cleanup_free_ char *log = agent_log_path(t, d);
    _cleanup_free_ char *log_target = xasprintf("../rw/c/%s/ctr.log", d->slug);
    struct oci_cgroup_limits lim = {
        .cpu_shares = d->cpu < 2 ? 2 : d->cpu,
        .memory_max = d->memory_mib << 20,
        .memory_reservation = d->reservation_mib << 20,
    };
    if (r == 0)
        r = oci_cgroup_container_create(a->cg, t->def.id, d->slug, &lim, err);
    if (r == 0) {
        unlink(log);
        if (symlink(log_target, log) < 0)
            r = error_errno(err, errno, "symlink %s", log);
    }
    if (r == 0) {
        struct oci_container_spec spec = {
            .id = d->runtime_id,
            .args = (const char *const *)p.args,
            .env = (const char *const *)p.env,
            .cwd = p.cwd,
            .uid = p.uid,
            .gid = p.gid,
            .additional_gids = p.gids,
            .n_additional_gids = p.n_gids,
            .hostname = d->hostname ? d->hostname : t->def.id,
            .readonly_rootfs = d->readonly_rootfs,
            .add_sys_ptrace = d->ptrace,
            .drop_caps = d->drop_caps,
            .init_path = d->init ? AGENT_CATATONIT : NULL,
            .hosts_file = hosts,
            .resolv_conf = resolv,
            .mounts = mounts,
            .n_mounts = d->n_mounts,
            .rlimits = rl,
            .n_rlimits = n_rl,
            .netns_path = netns,
            .cgroups_path = cgpath,
            .lower_dirs = (const char *const *)lower,
            .n_lower_dirs = n_lower,
        };
        struct buf warn;
        buf_init(&warn, 16 * 1024);
        struct mon_wait w = {t, c, NULL};
        r = oci_container_create_ahead(a->rt, dir, &spec, &a->host, &warn, mon_wait, &w, &c->oc,
                                       err);
        *net_err = w.net_err;
        if (warn.len) {
            /* A clamped ulimit: the task runs, and says so. */
            buf_printf(&t->warnings, "container %s: %s", d->name, warn.data);
            log_warn("task %s: container %s: %.*s", t->def.id, d->name,
                     (int)(warn.len - (warn.data[warn.len - 1] == '\n')), warn.data);
        }
        buf_done(&warn);
        if (r < 0)
            error_wrap(err, "CannotCreateContainerError");
    }
    for (size_t i = 0; i < d->n_mounts; i++)
        free(vol_dirs[i]);
    for (size_t i = 0; i < n_lower; i++)
        free(lower[i]);
    free(lower);
    agent_process_done(&p);
    if (r < 0) {
        join_monitors(t); /* failed before the create: no-op after it */
        oci_monitor_discard(TAKE_PTR(c->mon));
        return r;
    }
    if (d->health.enabled) {
        _cleanup_free_ char *hc = xasprintf("%s/hc", t->dir);
        _cleanup_free_ char *config = xasprintf("%s/bundle/config.json", dir);
        _cleanup_free_ char *proc = agent_health_process_path(t, c);
        _cleanup_error_ struct error *e = NULL;
        /* Without it every probe fails, which the health status shows. */
        if (oci_dir_make(hc, 0700, &e) < 0 ||
            agent_rt_exec_process(config, d->health.argv, proc, &e) < 0)
            log_warn("task %s: container %s: health check: %s", t->def.id, d->name, e->msg);
    }
    if (img->config)
        c->stop_signal = parse_signal(img->config->stop_signal);
    img_info_free(c->img);
    c->img = NULL;
    c->state = CTR_CREATED;
    c->created = true;
    watch(c);
    return 0;
}

/* Gives up on a container that was created but will never start. */
static void abandon(struct task *t, struct ctr *c, const char *reason)
{
    (void)t;
    if (c->oc)
        oci_container_stop(c->oc, 0, NULL);
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = -1;
    c->state = CTR_STOPPED;
    set_reason(&c->reason, reason);
}

static void step_create(struct task *t)
{
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        if (c->state != CTR_NONE)
            continue;
        if (check_requests(t) || t->status >= TS_DEACTIVATING)
            return;
        _cleanup_error_ struct error *e = NULL, *ne = NULL;
        int r = create_ctr(t, c, &ne, &e);
        if (r == -ECANCELED)
            return;
        if (ne) {
            /* A provisioning failure, found at the first create. */
            _cleanup_free_ char *msg = xasprintf("ResourceInitializationError: %s", ne->msg);
            begin_stop(t, CODE_FAILED, msg);
            return;
        }
        if (r < 0) {
            const char *msg = e ? e->msg : "CannotCreateContainerError: failed";
            if (strncmp(msg, IMG_ERR_PULL, strlen(IMG_ERR_PULL)) != 0 &&
                strncmp(msg, "Cannot", 6) != 0) {
                _cleanup_free_ char *m = xasprintf("CannotCreateContainerError: %s", msg);
                set_reason(&c->reason, m);
            } else {
                set_reason(&c->reason, msg);
            }
            c->state = CTR_STOPPED;
            begin_stop(t, CODE_FAILED, c->reason);
            return;
        }
    }
    t->activating_ns = time_mono_ns();
    /* Not saved (step_provision): the first start saves. */
}

/* Records the exit of a container whose init is gone. */
static void record_exit(struct task *t, struct ctr *c)
{
    struct agent *a = t->a;
    agent_health_cancel(t, c);
    struct oci_container_status s = {0};
    if (c->oc) {
        oci_container_wait(c->oc, EXIT_RECORD_MS, NULL);
        oci_container_status(c->oc, &s, NULL);
    }
    bool was_running = c->state == CTR_RUNNING;
    if (c->started_ms == 0 && c->state == CTR_CREATED) {
        /* Killed before it started: it never ran, so it has no exit code. */
    } else if (s.state == OCI_STATE_EXITED) {
        c->has_exit = true;
        c->exit_code = s.exit_code;
    } else if (!c->reason) {
        set_reason(&c->reason, "ContainerExitUnknown: the container is gone and its monitor "
                               "did not record an exit code");
    }
    struct oci_cgroup_usage u;
    if (oci_cgroup_usage_read(a->cg, t->def.id, c->def->slug, &u, NULL) == 0 && u.oom_kills > 0)
        set_reason(&c->reason, OOM_REASON);
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = -1;
    c->state = CTR_STOPPED;
    if (c->def->essential) {
        if (was_running || t->status >= TS_RUNNING)
            begin_stop(t, CODE_ESSENTIAL, STOP_ESSENTIAL);
        else
            begin_stop(t, CODE_FAILED,
                       c->reason ? c->reason : "Essential container exited before it started");
    }
}

enum verdict { DEP_WAIT, DEP_READY, DEP_NEVER };

static const char *const cond_names[] = {"START", "COMPLETE", "SUCCESS", "HEALTHY"};

static enum verdict dep_verdict(const struct task *t, const struct ctr *c, const char **ret_dep,
                                const char **ret_cond)
{
    enum verdict v = DEP_READY;
    for (size_t i = 0; i < c->def->n_deps; i++) {
        const struct ctr_dep *dep = &c->def->deps[i];
        const struct ctr *o = &t->ctrs[dep->idx];
        bool stopped = o->state == CTR_STOPPED, ran = o->started_ms > 0;
        enum verdict dv;
        switch (dep->cond) {
        case DEP_START:
            dv = ran ? DEP_READY : stopped ? DEP_NEVER : DEP_WAIT;
            break;
        case DEP_COMPLETE:
            dv = stopped ? (ran ? DEP_READY : DEP_NEVER) : DEP_WAIT;
            break;
        case DEP_SUCCESS:
            dv = stopped ? (ran && o->has_exit && o->exit_code == 0 ? DEP_READY : DEP_NEVER)
                         : DEP_WAIT;
            break;
        default:
            dv = o->health == HEALTH_HEALTHY ? DEP_READY : stopped ? DEP_NEVER : DEP_WAIT;
            break;
        }
        if (dv != DEP_READY) {
            *ret_dep = o->def->name;
            *ret_cond = cond_names[dep->cond];
        }
        if (dv == DEP_NEVER)
            return DEP_NEVER;
        if (dv == DEP_WAIT)
            v = DEP_WAIT;
    }
    return v;
}

static void fail_start(struct task *t, struct ctr *c, const char *reason)
{
    abandon(t, c, reason);
    if (c->def->essential)
        begin_stop(t, CODE_FAILED, reason);
}

/* Starts the created containers whose dependencies hold. */
static bool start_ready(struct task *t, int64_t now_ns, int64_t *next_ns)
{
    bool changed = false;
    for (size_t i = 0; i < t->def.n_ctrs && t->status < TS_DEACTIVATING; i++) {
        struct ctr *c = &t->ctrs[i];
        if (c->state != CTR_CREATED)
            continue;
        const char *dep = NULL, *cond = NULL;
        enum verdict v = dep_verdict(t, c, &dep, &cond);
        int64_t deadline = t->activating_ns + c->def->start_timeout_ms * MS_NS;
        if (v == DEP_WAIT && now_ns >= deadline) {
            _cleanup_free_ char *reason = xasprintf(
                "DependencyTimeoutError: container %s: %s did not reach %s within startTimeout",
                c->def->name, dep, cond);
            fail_start(t, c, reason);
            changed = true;
        } else if (v == DEP_WAIT) {
            if (!*next_ns || deadline < *next_ns)
                *next_ns = deadline;
        } else if (v == DEP_NEVER) {
            _cleanup_free_ char *reason =
                xasprintf("DependencyConditionError: container %s: %s can no longer reach %s",
                          c->def->name, dep, cond);
            fail_start(t, c, reason);
            changed = true;
        } else {
            _cleanup_error_ struct error *e = NULL;
            if (oci_container_start(c->oc, &e) < 0) {
                _cleanup_free_ char *reason = xasprintf("CannotStartContainerError: %s", e->msg);
                fail_start(t, c, reason);
            } else {
                /* From the release of its process, not after the state
                 * file's save that follows. */
                c->state = CTR_RUNNING;
                c->started_ms = oci_container_started_ms(c->oc);
                c->hc.next_ns = 0;
            }
            changed = true;
        }
    }
    if (t->status == TS_ACTIVATING) {
        bool all = true;
        for (size_t i = 0; i < t->def.n_ctrs; i++)
            all &= t->ctrs[i].state == CTR_RUNNING || t->ctrs[i].state == CTR_STOPPED;
        if (all) {
            /* When the last container started (the moment the task
             * became RUNNING). */
            t->status = TS_RUNNING;
            t->started_ms = 0;
            for (size_t i = 0; i < t->def.n_ctrs; i++)
                if (t->ctrs[i].started_ms > t->started_ms)
                    t->started_ms = t->ctrs[i].started_ms;
            if (!t->started_ms)
                t->started_ms = time_now_ms();
            changed = true;
        }
    }
    return changed;
}

static bool alive(const struct ctr *c)
{
    return c->state == CTR_CREATED || c->state == CTR_RUNNING;
}

/* Whether the container's init has a say about sig yet: it catches, blocks
 * or ignores it. An init that has none of these (it has only just been
 * exec'd) would drop it: the kernel discards signals a PID 1 leaves at
 * their default. */
static bool init_ready(struct ctr *c, int sig)
{
    struct oci_container_status s;
    if (!c->oc || oci_container_status(c->oc, &s, NULL) < 0 || s.state != OCI_STATE_RUNNING)
        return true;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s.pid);
    _cleanup_free_ char *text = NULL;
    if (oci_file_read_at(AT_FDCWD, path, 16384, &text, NULL) < 0)
        return true;
    uint64_t bit = UINT64_C(1) << (sig - 1), mask = 0;
    static const char *const keys[] = {"\nSigBlk:", "\nSigIgn:", "\nSigCgt:"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *p = strstr(text, keys[i]);
        if (p)
            mask |= strtoull(p + strlen(keys[i]), NULL, 16);
    }
    return (mask & bit) != 0;
}

/* Signals the containers no live container depends on: their stop signal,
 * SIGKILL at their stopTimeout. Returns true once every container is
 * stopped. */
static bool stop_step(struct task *t, int64_t now_ns, int64_t *next_ns)
{
    bool all_stopped = true, save = false;
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        if (!alive(c))
            continue;
        all_stopped = false;
        bool needed = false;
        for (size_t k = 0; k < t->def.n_ctrs && !needed; k++) {
            if (k == i || !alive(&t->ctrs[k]))
                continue;
            for (size_t j = 0; j < t->ctrs[k].def->n_deps; j++)
                if (t->ctrs[k].def->deps[j].idx == i)
                    needed = true;
        }
        if (needed)
            continue;
        if (!c->term_sent) {
            int sig = c->state == CTR_CREATED ? SIGKILL : c->stop_signal;
            if (sig != SIGKILL && time_now_ms() - c->started_ms < INIT_GRACE_MS &&
                !init_ready(c, sig)) {
                /* Started a moment ago: give its init the time to set up
                 * its handlers, or the stop signal would be lost. */
                int64_t retry = now_ns + INIT_POLL_MS * MS_NS;
                if (!*next_ns || retry < *next_ns)
                    *next_ns = retry;
                continue;
            }
            agent_health_cancel(t, c);
            if (c->oc)
                oci_container_signal(c->oc, sig, NULL);
            c->term_sent = true;
            int64_t wait_ms = sig == SIGKILL ? KILL_RETRY_MS : c->def->stop_timeout_ms;
            c->kill_at_ns = now_ns + wait_ms * MS_NS;
            c->kill_at_ms = time_now_ms() + wait_ms;
            /* A restarted agent must keep this deadline, not start a new
             * stopTimeout. */
            save = true;
        } else if (now_ns >= c->kill_at_ns) {
            if (c->oc)
                oci_container_signal(c->oc, SIGKILL, NULL);
            oci_cgroup_kill(t->a->cg, t->def.id, c->def->slug, NULL);
            c->kill_at_ns = now_ns + KILL_RETRY_MS * MS_NS;
            c->kill_at_ms = time_now_ms() + KILL_RETRY_MS;
        }
        if (!*next_ns || c->kill_at_ns < *next_ns)
            *next_ns = c->kill_at_ns;
    }
    if (save)
        agent_state_save(t, false, NULL);
    return all_stopped;
}

/* The loop from ACTIVATING to the end of STOPPING. Returns false when the
 * agent is closing. */
static bool supervise(struct task *t)
{
    bool check_all = true; /* look at every container once, then on events */
    bool ready[AGENT_MAX_CONTAINERS] = {0};
    for (;;) {
        if (check_requests(t))
            return false;
        int64_t now = time_mono_ns(), next = 0;
        bool changed = false;
        for (size_t i = 0; i < t->def.n_ctrs; i++) {
            struct ctr *c = &t->ctrs[i];
            if (!alive(c) || !(ready[i] || check_all || c->pidfd < 0))
                continue;
            if (c->pidfd >= 0 && !ready[i]) {
                struct pollfd p = {c->pidfd, POLLIN, 0};
                if (poll(&p, 1, 0) <= 0)
                    continue;
            } else if (c->pidfd < 0 && c->oc && watch(c)) {
                continue;
            }
            record_exit(t, c);
            changed = true;
        }
        check_all = false;
        if (t->status == TS_ACTIVATING || t->status == TS_RUNNING)
            changed |= start_ready(t, now, &next);
        for (size_t i = 0; i < t->def.n_ctrs; i++)
            if (t->status < TS_DEACTIVATING)
                changed |= agent_health_step(t, &t->ctrs[i], now, &next);
        if (t->status >= TS_DEACTIVATING) {
            if (t->status == TS_DEACTIVATING) {
                /* Nothing to deregister yet (load balancers come later). */
                t->status = TS_STOPPING;
                agent_task_publish(t, false);
                changed = false;
            }
            if (stop_step(t, now, &next)) {
                t->exec_stopped_ms = time_now_ms();
                t->status = TS_DEPROVISIONING;
                agent_task_publish(t, false);
                return true;
            }
        }
        if (changed)
            agent_task_publish(t, false);

        struct pollfd fds[1 + 2 * AGENT_MAX_CONTAINERS];
        int who[ARRAY_SIZE(fds)];
        size_t n = 0;
        fds[n] = (struct pollfd){t->efd, POLLIN, 0};
        who[n++] = -1;
        for (size_t i = 0; i < t->def.n_ctrs; i++) {
            struct ctr *c = &t->ctrs[i];
            if (alive(c) && c->pidfd >= 0) {
                fds[n] = (struct pollfd){c->pidfd, POLLIN, 0};
                who[n++] = (int)i;
            }
            if (c->hc.pid > 0 && c->hc.pidfd >= 0) {
                fds[n] = (struct pollfd){c->hc.pidfd, POLLIN, 0};
                who[n++] = -2;
            }
        }
        int timeout = -1;
        if (next) {
            int64_t left = (next - time_mono_ns()) / MS_NS + 1;
            timeout = left < 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
        }
        int r = poll(fds, n, timeout);
        memset(ready, 0, sizeof(ready));
        if (r < 0 && errno != EINTR)
            check_all = true;
        for (size_t k = 0; r > 0 && k < n; k++) {
            if (!fds[k].revents)
                continue;
            if (who[k] == -1) {
                uint64_t v;
                while (read(t->efd, &v, sizeof(v)) < 0 && errno == EINTR)
                    ;
            } else if (who[k] >= 0) {
                ready[who[k]] = true;
            }
        }
    }
}

/* Copies src to dst through a temp file and a rename (src is on the
 * task's own file system, dst beside task.json). */
static int copy_file(const char *src, const char *dst)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", dst);
    _cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return -errno;
    for (;;) {
        ssize_t n = sendfile(out, in, NULL, 1 << 30);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            unlink(tmp);
            return -e;
        }
        if (n == 0)
            break;
    }
    if (rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

/* The container's log replaces the symlink to it in logs/. */
static void move_log(struct task *t, struct ctr *c)
{
    _cleanup_free_ char *dir = agent_ctr_dir(t, c->def);
    _cleanup_free_ char *src = xasprintf("%s/ctr.log", dir);
    _cleanup_free_ char *dst = agent_log_path(t, c->def);
    /* A container never created ran nothing: the log its monitor opened
     * ahead of it is empty, and its link (if any) goes. */
    if (c->created && (rename(src, dst) == 0 || (errno == EXDEV && copy_file(src, dst) == 0)))
        return;
    struct stat st;
    if (lstat(dst, &st) == 0 && S_ISLNK(st.st_mode))
        unlink(dst);
}

static void step_deprovision(struct task *t)
{
    join_monitors(t);
    agent_provision_net(t, NULL);
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        agent_health_cancel(t, c);
        oci_monitor_discard(TAKE_PTR(c->mon));
        _cleanup_free_ char *dir = agent_ctr_dir(t, c->def);
        if (!c->oc && access(dir, F_OK) == 0) {
            /* After a restart: find the container again to delete it. */
            oci_container_load(t->a->rt, dir, &c->oc, NULL);
        }
        move_log(t, c);
        if (c->oc) {
            _cleanup_error_ struct error *e = NULL;
            if (oci_container_delete(c->oc, true, &e) < 0)
                log_warn("task %s: container %s: %s", t->def.id, c->def->name, e->msg);
        }
        if (access(dir, F_OK) == 0)
            clean_partial(t, c, dir);
        /* conmon's link from the socket dir to the bundle outlives it. */
        _cleanup_free_ char *sock = xasprintf("%s/s/%s", t->a->run_dir, c->def->runtime_id);
        unlink(sock);
        ctr_release(c);
    }
    _cleanup_error_ struct error *e = NULL;
    if (agent_deprovision(t, &e) < 0)
        log_warn("task %s: clean-up: %s", t->def.id, e->msg);
    /* STOPPED means the logs are stored (awslogs), as Docker's blocking
     * log driver has flushed before a container is reported dead. */
    agent_flush_logs(t);
    t->status = TS_STOPPED;
    t->stopped_ms = time_now_ms();
    agent_task_publish(t, true);
}

/* Reattaches to the containers of a task read back from disk. */
static void reattach(struct task *t)
{
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        struct ctr *c = &t->ctrs[i];
        _cleanup_free_ char *dir = agent_ctr_dir(t, c->def);
        if (c->state == CTR_NONE || access(dir, F_OK) < 0)
            continue;
        _cleanup_error_ struct error *e = NULL;
        if (oci_container_load(t->a->rt, dir, &c->oc, &e) < 0) {
            if (alive(c)) {
                c->state = CTR_STOPPED;
                set_reason(&c->reason, "ContainerExitUnknown: its state was lost");
            }
            continue;
        }
        if (alive(c))
            watch(c);
    }
}

static void *task_main(void *p)
{
    struct task *t = p;
    struct agent *a = t->a;
    /* A task not yet provisioned (just assigned, or resumed before its
     * provisioning): task.json already holds this state, written by
     * op_assign a moment ago or read at start, so it is only reported (one
     * task.json write less per start). */
    bool fresh = t->status == TS_PROVISIONING && t->ctrs[0].state == CTR_NONE;
    if (!fresh)
        reattach(t);
    agent_task_publish_with(t, !fresh, false);
    bool closing = false;
    while (t->status != TS_STOPPED && !closing) {
        if ((closing = check_requests(t)))
            break;
        switch (t->status) {
        case TS_PROVISIONING:
            step_provision(t);
            break;
        case TS_PENDING:
            step_pull(t);
            break;
        case TS_ACTIVATING:
            step_create(t);
            closing = !supervise(t);
            break;
        case TS_RUNNING:
        case TS_DEACTIVATING:
        case TS_STOPPING:
            closing = !supervise(t);
            break;
        case TS_DEPROVISIONING:
            step_deprovision(t);
            break;
        case TS_STOPPED:
            break;
        }
    }
    join_monitors(t);
    agent_provision_net(t, NULL);
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        agent_pull_drop(a, TAKE_PTR(t->ctrs[i].pull));
        agent_health_cancel(t, &t->ctrs[i]);
        if (t->ctrs[i].pidfd >= 0)
            close(t->ctrs[i].pidfd);
        t->ctrs[i].pidfd = -1;
    }
    pthread_mutex_lock(&a->lock);
    if (t->status == TS_STOPPED && t->efd >= 0) {
        /* A stopped task stays listed until purged, possibly for hours:
         * it keeps no descriptor. */
        close(t->efd);
        t->efd = -1;
    }
    t->threaded = false;
    a->n_threads--;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int agent_task_start(struct task *t, struct error **err)
{
    struct agent *a = t->a;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, AGENT_STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&a->lock);
    t->threaded = true;
    a->n_threads++;
    pthread_t th;
    int r = pthread_create(&th, &attr, task_main, t);
    if (r != 0) {
        t->threaded = false;
        a->n_threads--;
    }
    pthread_mutex_unlock(&a->lock);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return error_errno(err, r, "task %s: start supervision thread", t->def.id);
    return 0;
}
