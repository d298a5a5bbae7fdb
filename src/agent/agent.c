/* The local agent as a struct node: the node protocol's operations (assign,
 * stop, capacity, list), the tasks it holds, and its start after a restart
 * (reattach, then sweep what no task holds). */
#include "agent/agent-internal.h"
#include "agent/net.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "image/image.h"
#include "image/ref.h"
#include "oci/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define DEFAULT_RESERVE_MIB 256
#define DEFAULT_STOP_MS     30000
#define DEFAULT_PIDS_MAX    4096
#define DEFAULT_RETENTION   (24LL * 3600 * 1000)

static struct agent *agent_of(struct node *n)
{
    return (struct agent *)n;
}

/* Under a->lock. */
static struct task *find_task(struct agent *a, const char *arn)
{
    for (struct task *t = a->tasks; t; t = t->next)
        if (strcmp(t->def.arn, arn) == 0)
            return t;
    return NULL;
}

/* t no longer counts as starting (the storage pool's refills wait for
 * none to be); under a->lock. */
static void starting_done(struct agent *a, struct task *t)
{
    if (!t->starting)
        return;
    t->starting = false;
    a->n_starting--;
    pthread_cond_broadcast(&a->cond);
}

void agent_task_publish_with(struct task *t, bool save, bool durable)
{
    struct agent *a = t->a;
    json_t *report = agent_task_report(t);
    _cleanup_error_ struct error *e = NULL;
    /* A failed save is not fatal: the task runs on, and the next save
     * catches up. */
    if (save)
        agent_state_save(t, durable, &e);
    pthread_mutex_lock(&a->lock);
    json_t *old = t->last;
    t->last = json_incref(report);
    if (t->status >= TS_RUNNING)
        starting_done(a, t);
    pthread_mutex_unlock(&a->lock);
    json_decref(old);
    if (a->report)
        a->report(a->cp, report);
    json_decref(report);
}

void agent_task_publish(struct task *t, bool durable)
{
    agent_task_publish_with(t, true, durable);
}

/* Forgets stopped tasks the control plane never purged, past retention. */
static void sweep_expired(struct agent *a)
{
    int64_t limit = time_now_ms() - a->retention_ms;
    struct task *expired = NULL;
    pthread_mutex_lock(&a->lock);
    for (struct task **pp = &a->tasks; *pp;) {
        struct task *t = *pp;
        if (!t->threaded && t->status == TS_STOPPED && t->stopped_ms < limit) {
            *pp = t->next;
            t->next = expired;
            expired = t;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&a->lock);
    while (expired) {
        struct task *t = expired;
        expired = t->next;
        oci_dir_remove_tree(t->dir, NULL);
        agent_task_free(t);
    }
}

static int op_assign(struct node *n, const json_t *msg, struct error **err)
{
    struct agent *a = agent_of(n);
    struct task_def def;
    /* Registry credentials stay in pull.c's memory: what is parsed and
     * saved (task.json) is the message without them (node.h). */
    json_t *m = agent_pull_auth_take(a, msg);
    int r = agent_spec_parse(m, a->stop_timeout_ms, &def, err);
    json_decref(m);
    if (r < 0)
        return r;
    pthread_mutex_lock(&a->lock);
    bool known = find_task(a, def.arn) != NULL;
    for (struct task *t = a->tasks; t && !known; t = t->next)
        if (strcmp(t->def.id, def.id) == 0) {
            pthread_mutex_unlock(&a->lock);
            r = error_set(err, EEXIST, ERR_CLIENT, "assign: task id %s is held for %s", def.id,
                          t->def.arn);
            agent_spec_done(&def);
            return r;
        }
    pthread_mutex_unlock(&a->lock);
    if (known) {
        agent_spec_done(&def);
        return 0;
    }
    sweep_expired(a);

    struct task *t = agent_task_new(a, &def);
    t->status = TS_PROVISIONING;
    /* Starting from here: a refill of the storage pool (woken by the take
     * below) waits. */
    pthread_mutex_lock(&a->lock);
    t->starting = true;
    a->n_starting++;
    pthread_mutex_unlock(&a->lock);
    t->created_ms = json_get_int(msg, "createdAt", 0);
    if (t->created_ms <= 0)
        t->created_ms = time_now_ms();
    /* A directory without a task is what a purge or a crash left. The
     * save is not fsynced (it runs on the control plane's one scheduler
     * thread, before every start): a kill -9 keeps it, and a task whose
     * task.json a power loss took is one the control plane still has on
     * this node and assigns again (its reconcile). */
    agent_storage_remove_dir(t->dir);
    /* With its storage mounted already, when the pool has one ready. */
    bool pooled = agent_storage_take(a, t->dir, t->def.ephemeral_gib);
    if ((!pooled && (r = oci_dir_make(t->dir, 0700, err)) < 0) ||
        (r = agent_state_save(t, false, err)) < 0) {
        agent_storage_remove_dir(t->dir);
        pthread_mutex_lock(&a->lock);
        starting_done(a, t);
        pthread_mutex_unlock(&a->lock);
        agent_task_free(t);
        return r;
    }
    t->last = agent_task_report(t);
    pthread_mutex_lock(&a->lock);
    if (find_task(a, t->def.arn)) {
        /* Assigned twice at the same moment: the first one won. */
        starting_done(a, t);
        pthread_mutex_unlock(&a->lock);
        agent_task_free(t);
        return 0;
    }
    t->next = a->tasks;
    a->tasks = t;
    pthread_mutex_unlock(&a->lock);
    if (pooled)
        agent_provision_early(t);
    if ((r = agent_task_start(t, err)) < 0) {
        agent_provision_early_undo(t);
        pthread_mutex_lock(&a->lock);
        for (struct task **pp = &a->tasks; *pp; pp = &(*pp)->next)
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        starting_done(a, t);
        pthread_mutex_unlock(&a->lock);
        agent_storage_remove_dir(t->dir);
        agent_task_free(t);
        return r;
    }
    return 0;
}

static int op_stop(struct node *n, const json_t *msg, struct error **err)
{
    struct agent *a = agent_of(n);
    const char *arn = json_get_str(msg, "taskArn");
    if (!arn)
        return error_set(err, EINVAL, ERR_CLIENT, "stop: taskArn is required");
    const char *code = json_get_str(msg, "stopCode");
    const char *reason = json_get_str(msg, "reason");
    pthread_mutex_lock(&a->lock);
    struct task *t = find_task(a, arn);
    if (!t) {
        pthread_mutex_unlock(&a->lock);
        return error_set(err, ENOENT, ERR_NOT_FOUND, "stop: task %s is not held by node %s", arn,
                         a->node_name);
    }
    if (!t->stop_requested) {
        t->stop_requested = true;
        t->req_code = xstrdup(code && *code ? code : "UserInitiated");
        t->req_reason = reason && *reason ? xstrndup(reason, 1024) : NULL;
        uint64_t one = 1;
        if (t->efd >= 0 && write(t->efd, &one, sizeof(one)) < 0) {
            /* The counter cannot overflow with one write per task. */
        }
        pthread_cond_broadcast(&a->cond); /* a task waiting for a pull */
    }
    pthread_mutex_unlock(&a->lock);
    return 0;
}

static int64_t mem_total_mib(void)
{
    struct sysinfo si;
    if (sysinfo(&si) < 0)
        return 0;
    return (int64_t)((uint64_t)si.totalram * si.mem_unit >> 20);
}

static int op_capacity(struct node *n, json_t **ret, struct error **err)
{
    struct agent *a = agent_of(n);
    (void)err;
    int64_t now = time_mono_ns() / 1000000;
    pthread_mutex_lock(&a->lock);
    if (!a->host_read_ms || now - a->host_read_ms >= 1000) {
        a->host_mem_mib = mem_total_mib();
        a->host_cpu = (int64_t)get_nprocs() * 1024;
        a->host_read_ms = now;
    }
    int64_t total = a->host_mem_mib, cpu = a->host_cpu;
    pthread_mutex_unlock(&a->lock);
    int64_t reserve = a->reserve_mib;
    if (reserve <= 0) {
        reserve = total / 20;
        if (reserve < DEFAULT_RESERVE_MIB)
            reserve = DEFAULT_RESERVE_MIB;
    }
    int64_t mem = total > reserve ? total - reserve : 0;
    if (a->capacity_cpu > 0)
        cpu = a->capacity_cpu;
    if (a->capacity_memory_mib > 0)
        mem = a->capacity_memory_mib;
    *ret = json_pack("{s:s, s:I, s:I}", "node", a->node_name, "cpu", (json_int_t)cpu, "memory",
                     (json_int_t)mem);
    return 0;
}

static int op_list(struct node *n, json_t **ret, struct error **err)
{
    struct agent *a = agent_of(n);
    (void)err;
    json_t *list = json_array();
    pthread_mutex_lock(&a->lock);
    for (struct task *t = a->tasks; t; t = t->next)
        if (t->last)
            json_array_append_new(list, json_deep_copy(t->last));
    pthread_mutex_unlock(&a->lock);
    *ret = list;
    return 0;
}

static void agent_free(struct node *n)
{
    struct agent *a = agent_of(n);
    if (!a)
        return;
    img_set_in_use_hook(NULL, NULL);
    /* Stop supervising; containers keep running under conmon. */
    pthread_mutex_lock(&a->lock);
    a->closing = true;
    for (struct task *t = a->tasks; t; t = t->next) {
        uint64_t one = 1;
        if (t->threaded && write(t->efd, &one, sizeof(one)) < 0) {
            /* See op_stop. */
        }
    }
    pthread_cond_broadcast(&a->cond);
    while (a->n_threads > 0)
        pthread_cond_wait(&a->cond, &a->lock);
    pthread_mutex_unlock(&a->lock);
    agent_pull_stop(a);
    agent_storage_stop(a);
    agent_meta_stop(a);
    while (a->tasks) {
        struct task *t = a->tasks;
        a->tasks = t->next;
        agent_task_free(t);
    }
    agent_rt_cmd_done(&a->rtc);
    oci_runtime_free(a->rt);
    oci_cgroups_free(a->cg);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a->data_dir);
    free(a->tasks_dir);
    free(a->run_dir);
    free(a->netns_dir);
    free(a->node_name);
    free(a);
}

/* node.h "network": the task's current security group rules. */
static int op_network(struct node *n, const json_t *msg, struct error **err)
{
    struct agent *a = agent_of(n);
    const char *arn = json_get_str(msg, "taskArn");
    pthread_mutex_lock(&a->lock);
    struct task *t = arn ? find_task(a, arn) : NULL;
    if (!t) {
        pthread_mutex_unlock(&a->lock);
        return error_set(err, ENOENT, ERR_NOT_FOUND, "no task %s on this node", arn ? arn : "");
    }
    /* Past STOPPING the interface is going or gone: leave it alone. */
    bool live = t->status < TS_DEPROVISIONING && a->task_network;
    /* A shallow copy (its members are referenced, and never changed): the
     * assign message's rules list every member of the task's groups, and
     * the control plane sends this to every task at every membership
     * change. */
    json_t *eni =
        live
            ? json_copy(json_get_object(json_get_object(t->def.msg, "networkConfiguration"), "eni"))
            : NULL;
    _cleanup_free_ char *dir = xstrdup(t->dir);
    pthread_mutex_unlock(&a->lock);
    int r = 0;
    if (live && eni)
        r = agent_net_update(dir, eni, json_get_array(msg, "rules"), err);
    json_decref(eni);
    return r;
}

static int op_groups(struct node *n, const json_t *msg, struct error **err)
{
    struct agent *a = agent_of(n);
    if (!a->task_network)
        return 0;
    return agent_net_groups(a, json_get_object(msg, "groups"), err);
}

static const struct node_ops agent_ops = {
    .assign = op_assign,
    .stop = op_stop,
    .capacity = op_capacity,
    .list = op_list,
    .network = op_network,
    .groups = op_groups,
    .free = agent_free,
};

/* The image GC spares images of tasks that have not stopped. */
static bool image_in_use(const char *reference, void *arg)
{
    struct agent *a = arg;
    bool used = false;
    pthread_mutex_lock(&a->lock);
    for (struct task *t = a->tasks; t && !used; t = t->next) {
        if (t->status == TS_STOPPED)
            continue;
        for (size_t i = 0; i < t->def.n_ctrs && !used; i++) {
            struct img_ref ref;
            if (img_ref_parse(t->def.ctrs[i].image, &ref, NULL) < 0)
                continue;
            _cleanup_free_ char *norm = img_ref_format(&ref);
            img_ref_done(&ref);
            used = strcmp(norm, reference) == 0;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return used;
}

/* Reads DATA-DIR/tasks: every task with a task.json; directories without
 * one are removed. */
static void load_tasks(struct agent *a)
{
    DIR *d = opendir(a->tasks_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *dir = xasprintf("%s/%s", a->tasks_dir, de->d_name);
        struct task *t = NULL;
        _cleanup_error_ struct error *e = NULL;
        _cleanup_free_ char *state = xasprintf("%s/task.json", dir);
        struct stat st;
        if (stat(state, &st) < 0 || st.st_size == 0) {
            /* Never written: a crash right after op_assign made the
             * directory (possibly from the storage pool, mounted). */
            agent_storage_remove_dir(dir);
            continue;
        }
        if (agent_state_load(a, dir, &t, &e) < 0 || strcmp(t->def.id, de->d_name) != 0) {
            /* Not ours to remove: keep it for a human to look at. */
            agent_task_free(t);
            continue;
        }
        t->last = agent_task_report(t);
        if (t->status == TS_STOPPED) {
            /* Only listed from now on: it needs no wake-ups. */
            close(t->efd);
            t->efd = -1;
        }
        t->next = a->tasks;
        a->tasks = t;
    }
    closedir(d);
}

/* Task migrations between cgroups without an RCU grace period each
 * (docs/runtime.md, "The cgroup migration's grace period"). Best effort:
 * the agent works without it, only slower to start containers. */
static void favor_dynmods(struct agent *a)
{
    bool changed = false;
    _cleanup_error_ struct error *e = NULL;
    if (oci_cgroups_favor_dynmods(a->cg, &changed, &e) < 0) {
        if (e->errnum != ENOTSUP)
            log_warn("cgroup2 favordynmods not set (container starts wait for an RCU grace "
                     "period): %s",
                     e->msg);
    } else if (changed) {
        log_info("cgroup2: favordynmods set (task migrations without an RCU grace period)");
    }
}

int agent_new(const struct agent_config *cfg, struct store *store, node_report_fn report, void *cp,
              struct node **ret, struct error **err)
{
    if (!cfg->data_dir || !cfg->run_dir || cfg->run_dir[0] != '/')
        return error_set(err, EINVAL, NULL, "agent: a data dir and an absolute run dir are needed");
    struct agent *a = xzalloc(sizeof(*a));
    a->node.ops = &agent_ops;
    a->node_name = xstrdup(cfg->node_name ? cfg->node_name : "local");
    a->node.name = a->node_name;
    a->data_dir = xstrdup(cfg->data_dir);
    a->tasks_dir = xasprintf("%s/tasks", cfg->data_dir);
    a->run_dir = xstrdup(cfg->run_dir);
    a->netns_dir = xasprintf("%s/netns", cfg->run_dir);
    a->reserve_mib = cfg->memory_reserve_mib;
    a->stop_timeout_ms = cfg->stop_timeout_ms > 0 ? cfg->stop_timeout_ms : DEFAULT_STOP_MS;
    a->pids_max = cfg->pids_max > 0 ? cfg->pids_max : DEFAULT_PIDS_MAX;
    a->retention_ms = cfg->stopped_retention_ms > 0 ? cfg->stopped_retention_ms : DEFAULT_RETENTION;
    a->capacity_cpu = cfg->capacity_cpu;
    a->capacity_memory_mib = cfg->capacity_memory_mib;
    a->store = store;
    a->report = report;
    a->cp = cp;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    oci_host_detect(&a->host);
    /* Each task holds an eventfd and a pidfd per container (and one per
     * running probe): hundreds of tasks need more than the usual soft
     * limit of 1024 descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 1 << 20 ? 1 << 20 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int r;
    /* The tasks' own mounts (their storage, mounted pool slots, network
     * namespace bindings) stay out of the runtime's base namespace. */
    _cleanup_free_ char *ephemeral = xasprintf("%s/ephemeral", cfg->data_dir);
    const char *const drop[] = {a->tasks_dir, ephemeral, a->netns_dir, NULL};
    struct oci_runtime_config rc = {
        .runtime = cfg->runtime, .run_dir = cfg->run_dir, .base_drop = drop};
    if ((r = oci_dir_make(a->tasks_dir, 0700, err)) < 0 ||
        (r = oci_dir_make(a->netns_dir, 0755, err)) < 0 ||
        (r = oci_cgroups_open(cfg->cgroup_parent, &a->cg, err)) < 0 ||
        (r = oci_runtime_new(&rc, a->cg, &a->rt, err)) < 0 ||
        (r = agent_rt_cmd_init(&a->rtc, cfg->runtime, cfg->run_dir, oci_cgroups_hide_unified(a->cg),
                               err)) < 0) {
        agent_free(&a->node);
        return error_wrap(err, "agent");
    }
    if (!cfg->keep_cgroup_options)
        favor_dynmods(a);
    a->task_network = cfg->task_network;
    if ((r = agent_storage_init(a, cfg->no_storage_limit, err)) < 0) {
        agent_free(&a->node);
        return error_wrap(err, "agent");
    }
    load_tasks(a);
    if (a->task_network && (r = agent_net_reconcile(a, err)) < 0) {
        agent_free(&a->node);
        return r;
    }
    sweep_expired(a);
    agent_reconcile(a);
    if ((r = agent_meta_start(a, err)) < 0) {
        agent_free(&a->node);
        return r;
    }
    agent_meta_reopen(a);
    if ((r = agent_pull_start(a, err)) < 0) {
        agent_free(&a->node);
        return r;
    }
    for (struct task *t = a->tasks; t; t = t->next)
        if (t->status != TS_STOPPED && (r = agent_task_start(t, err)) < 0) {
            agent_free(&a->node);
            return r;
        }
    img_set_in_use_hook(image_in_use, a);
    *ret = &a->node;
    return 0;
}

int agent_task_log_path(struct node *n, const char *task_arn, const char *container, char **ret,
                        struct error **err)
{
    struct agent *a = agent_of(n);
    char *path = NULL;
    pthread_mutex_lock(&a->lock);
    struct task *t = find_task(a, task_arn);
    for (size_t i = 0; t && i < t->def.n_ctrs && !path; i++)
        if (strcmp(t->def.ctrs[i].name, container) == 0)
            path = agent_log_path(t, &t->def.ctrs[i]);
    pthread_mutex_unlock(&a->lock);
    if (!path)
        return error_set(err, ENOENT, ERR_NOT_FOUND, "no container %s in task %s on node %s",
                         container, task_arn, a->node_name);
    *ret = path;
    return 0;
}

void agent_set_logs_flush(struct node *n, agent_logs_flush_fn fn, void *arg)
{
    struct agent *a = agent_of(n);
    pthread_mutex_lock(&a->lock);
    a->logs_flush = fn;
    a->logs_flush_arg = arg;
    while (!fn && a->n_flushing)
        pthread_cond_wait(&a->cond, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

static bool uses_awslogs(const struct task *t)
{
    json_t *defs =
        json_get_array(json_get_object(t->def.msg, "taskDefinition"), "containerDefinitions");
    size_t i;
    json_t *c;
    json_array_foreach(defs, i, c)
    {
        const char *driver = json_get_str(json_get_object(c, "logConfiguration"), "logDriver");
        if (driver && !strcmp(driver, "awslogs"))
            return true;
    }
    return false;
}

void agent_flush_logs(struct task *t)
{
    struct agent *a = t->a;
    if (!uses_awslogs(t))
        return;
    pthread_mutex_lock(&a->lock);
    agent_logs_flush_fn fn = a->logs_flush;
    void *arg = a->logs_flush_arg;
    if (fn)
        a->n_flushing++;
    pthread_mutex_unlock(&a->lock);
    if (!fn)
        return;
    fn(arg, t->def.id, AGENT_LOGS_FLUSH_MS);
    pthread_mutex_lock(&a->lock);
    if (--a->n_flushing == 0)
        pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

int agent_task_purge(struct node *n, const char *task_arn, struct error **err)
{
    struct agent *a = agent_of(n);
    pthread_mutex_lock(&a->lock);
    struct task **pp, *t;
    for (;;) {
        pp = &a->tasks;
        while (*pp && strcmp((*pp)->def.arn, task_arn) != 0)
            pp = &(*pp)->next;
        t = *pp;
        /* The STOPPED report goes out just before the thread ends. */
        if (!t || !t->threaded || t->status != TS_STOPPED)
            break;
        pthread_cond_wait(&a->cond, &a->lock);
    }
    if (t && (t->threaded || t->status != TS_STOPPED)) {
        pthread_mutex_unlock(&a->lock);
        return error_set(err, EBUSY, ERR_CLIENT, "purge: task %s has not stopped", task_arn);
    }
    if (t)
        *pp = t->next;
    pthread_mutex_unlock(&a->lock);
    if (!t)
        return 0;
    int r = oci_dir_remove_tree(t->dir, err);
    agent_task_free(t);
    return r;
}
