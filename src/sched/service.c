/* The service reconciler (see service.h and docs/services.md). */
#include "sched/service.h"
#include "api/accounts.h"
#include "api/api.h"
#include "api/arn.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "ecs/ecs-internal.h"
#include "ecs/service.h"
#include "ecs/task.h"
#include "sched/sched.h"
#include "sched/service_lb.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

/* Backoff after consecutive failed tasks: none for the first (a task that
 * died is replaced at once), then 1 s doubling up to 5 minutes. */
#define SVC_BACKOFF_BASE_MS 1000
#define SVC_BACKOFF_MAX_MS  (5 * 60 * 1000)
/* A new task stands in for an old one (which may then be stopped), and
 * counts towards a completed rollout and a steady state, once it has been
 * RUNNING, and HEALTHY when it has a health check, this long: a release
 * whose tasks start and die at once neither takes the old tasks down before
 * the circuit breaker sees it fail nor looks steady for an instant. */
#define SVC_SETTLE_MS 1000
/* Tasks listed by name in one "has started/stopped" event. */
#define SVC_EVENT_TASKS 10

struct rtask {
    char *arn, *id, *dep, *health, *stop_code, *reason;
    int rank;
    bool want; /* desired RUNNING */
    bool noted;
    int64_t started_at; /* -1 when not started */
    int64_t created_at;
    /* Load balancers (service_lb.h): the ENI's address and VPC (NULL
     * without), registered, deregistered (its drain decided), and the
     * health its target groups report. */
    char *ip, *vpc;
    bool lb_registered, lb_deregistered;
    enum sched_lb_health lb;
    char *lb_tg, *lb_reason;
};

struct rdep {
    char *id, *status, *state;
    json_t *taskdef, *spec;
    int failed;
    bool has_hc; /* a container has a health check: RUNNING is not enough */
    bool dirty;
    /* Counts, recomputed from the tasks. */
    int alive, want, healthy, settled;
};

struct rsvc {
    char *arn, *account, *cluster_arn, *name, *status;
    long desired;
    json_t *spec;
    int fail_streak;
    int64_t backoff_until;
    bool steady;
    const json_t *lbs; /* spec's loadBalancers, NULL when none */
    struct ecs_svc_limits lim;
    struct rtask *tasks;
    size_t n_tasks;
    struct rdep *deps;
    size_t n_deps;
    bool changed;  /* something to commit */
    bool launched; /* tasks created or stopped */
    struct api_ctx ctx;
    struct account acct;
    char region[32];
    int64_t now;
};

static void svc_done(struct rsvc *s)
{
    for (size_t i = 0; i < s->n_tasks; i++) {
        struct rtask *t = &s->tasks[i];
        free(t->arn);
        free(t->id);
        free(t->dep);
        free(t->health);
        free(t->stop_code);
        free(t->reason);
        free(t->ip);
        free(t->vpc);
        free(t->lb_tg);
        free(t->lb_reason);
    }
    free(s->tasks);
    for (size_t i = 0; i < s->n_deps; i++) {
        free(s->deps[i].id);
        free(s->deps[i].status);
        free(s->deps[i].state);
        json_decref(s->deps[i].taskdef);
        json_decref(s->deps[i].spec);
    }
    free(s->deps);
    free(s->arn);
    free(s->account);
    free(s->cluster_arn);
    free(s->name);
    free(s->status);
    json_decref(s->spec);
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL : xstrdup(db_col_text(st, col));
}

static void set_str(char **p, const char *v)
{
    free(*p);
    *p = xstrdup(v);
}

static bool taskdef_has_health_check(const json_t *taskdef)
{
    size_t i;
    json_t *cd;
    json_array_foreach(json_get_array(taskdef, "containerDefinitions"), i,
                       cd) if (json_get_object(cd, "healthCheck")) return true;
    return false;
}

static int load_service(struct db *db, const char *arn, struct rsvc *s, bool *found,
                        struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT account, cluster_arn, name, status, desired_count, spec, "
                               "fail_streak, backoff_until, steady FROM services WHERE arn = ?1 "
                               "AND status IN ('ACTIVE', 'DRAINING')",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        s->arn = xstrdup(arn);
        s->account = xstrdup(db_col_text(st, 0));
        s->cluster_arn = xstrdup(db_col_text(st, 1));
        s->name = xstrdup(db_col_text(st, 2));
        s->status = xstrdup(db_col_text(st, 3));
        s->desired = sqlite3_column_int(st, 4);
        s->spec = json_parse_trusted(db_col_text(st, 5));
        s->fail_streak = sqlite3_column_int(st, 6);
        s->backoff_until = sqlite3_column_int64(st, 7);
        s->steady = sqlite3_column_int(st, 8) != 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(db, err, "read service");
    return 0;
}

static int load_deployments(struct db *db, struct rsvc *s, struct error **err)
{
    for (size_t i = 0; i < s->n_deps; i++) {
        free(s->deps[i].id);
        free(s->deps[i].status);
        free(s->deps[i].state);
        json_decref(s->deps[i].taskdef);
        json_decref(s->deps[i].spec);
    }
    s->n_deps = 0;
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT id, status, rollout_state, taskdef, spec, failed_tasks "
                               "FROM deployments WHERE service_arn = ?1 AND status != 'INACTIVE' "
                               "ORDER BY created_at, id",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s->deps = xrealloc(s->deps, (s->n_deps + 1) * sizeof(*s->deps));
        struct rdep *d = &s->deps[s->n_deps++];
        memset(d, 0, sizeof(*d));
        d->id = xstrdup(db_col_text(st, 0));
        d->status = xstrdup(db_col_text(st, 1));
        d->state = xstrdup(db_col_text(st, 2));
        d->taskdef = json_parse_trusted(db_col_text(st, 3));
        d->spec = json_parse_trusted(db_col_text(st, 4));
        d->failed = sqlite3_column_int(st, 5);
        d->has_hc = taskdef_has_health_check(d->taskdef);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, err, "read deployments");
}

/* The service's tasks that are not stopped, and the stopped ones whose stop
 * the reconciler has not accounted for yet. */
static int load_tasks(struct db *db, struct rsvc *s, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT arn, task_id, COALESCE(started_by, ''), last_status, "
                               "desired_status, health_status, started_at, stop_code, "
                               "stopped_reason, service_noted, created_at, "
                               "json_extract(network_config, '$.eni.ip'), "
                               "json_extract(network_config, '$.eni.vpcId'), lb_registered, "
                               "lb_drain_until IS NOT NULL FROM tasks "
                               "WHERE service_arn = ?1 AND (last_status != 'STOPPED' OR "
                               "service_noted = 0 OR (lb_registered AND lb_drain_until IS NULL)) "
                               "ORDER BY created_at, arn",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) * sizeof(*s->tasks));
        struct rtask *t = &s->tasks[s->n_tasks++];
        memset(t, 0, sizeof(*t));
        t->arn = xstrdup(db_col_text(st, 0));
        t->id = xstrdup(db_col_text(st, 1));
        t->dep = xstrdup(db_col_text(st, 2));
        t->rank = sched_status_rank(db_col_text(st, 3));
        t->want = !strcmp(db_col_text(st, 4), "RUNNING");
        t->health = xstrdup(db_col_text(st, 5));
        t->started_at =
            sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 6);
        t->stop_code = dup_col(st, 7);
        t->reason = dup_col(st, 8);
        t->noted = sqlite3_column_int(st, 9) != 0;
        t->created_at = sqlite3_column_int64(st, 10);
        t->ip = dup_col(st, 11);
        t->vpc = dup_col(st, 12);
        t->lb_registered = sqlite3_column_int(st, 13) != 0;
        t->lb_deregistered = sqlite3_column_int(st, 14) != 0;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(db, err, "read service tasks");
}

static struct rdep *find_dep(struct rsvc *s, const char *id)
{
    for (size_t i = 0; i < s->n_deps; i++)
        if (!strcmp(s->deps[i].id, id))
            return &s->deps[i];
    return NULL;
}

static struct rdep *primary(struct rsvc *s)
{
    for (size_t i = 0; i < s->n_deps; i++)
        if (!strcmp(s->deps[i].status, "PRIMARY"))
            return &s->deps[i];
    return NULL;
}

static bool stopped(const struct rtask *t)
{
    return t->rank == sched_status_rank("STOPPED");
}

/* With load balancers a task is healthy only once healthy in every target
 * group: a rolling deployment counts a new task (and lets an old one go)
 * only when the load balancer sends it traffic. */
static bool healthy(struct rsvc *s, const struct rtask *t)
{
    if (!t->want || t->rank != sched_status_rank("RUNNING"))
        return false;
    if (s->lbs && t->lb != SCHED_LB_HEALTHY)
        return false;
    struct rdep *d = find_dep(s, t->dep);
    return !d || !d->has_hc || !strcmp(t->health, "HEALTHY");
}

static void count(struct rsvc *s)
{
    for (size_t i = 0; i < s->n_deps; i++)
        s->deps[i].alive = s->deps[i].want = s->deps[i].healthy = s->deps[i].settled = 0;
    for (size_t i = 0; i < s->n_tasks; i++) {
        struct rtask *t = &s->tasks[i];
        struct rdep *d = find_dep(s, t->dep);
        if (!d || stopped(t))
            continue;
        d->alive++;
        d->want += t->want;
        d->healthy += healthy(s, t);
        d->settled +=
            healthy(s, t) && t->started_at >= 0 && s->now - t->started_at >= SVC_SETTLE_MS;
    }
}

static int event(struct db *db, struct rsvc *s, struct error **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int event(struct db *db, struct rsvc *s, struct error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *body = xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *msg = xasprintf("(service %s) %s", s->name, body);
    s->changed = true;
    return ecs_svc_event(db, s->arn, s->now, msg, err);
}

/* Records a failed task: the deployment's count while it rolls out, and
 * the service's streak, which sets the backoff. */
static int note_failure(struct db *db, struct rsvc *s, struct rdep *d, struct error **err)
{
    if (d && !strcmp(d->state, "IN_PROGRESS")) {
        d->failed++;
        d->dirty = true;
    }
    s->fail_streak++;
    s->changed = true;
    if (s->fail_streak < 2)
        return 0;
    int64_t wait = SVC_BACKOFF_BASE_MS;
    for (int i = 2; i < s->fail_streak && wait < SVC_BACKOFF_MAX_MS; i++)
        wait *= 2;
    if (wait > SVC_BACKOFF_MAX_MS)
        wait = SVC_BACKOFF_MAX_MS;
    s->backoff_until = s->now + wait;
    return event(db, s, err,
                 "is unable to consistently start tasks successfully (%d failed in a row); "
                 "waiting %lld s before starting more.",
                 s->fail_streak, (long long)(wait / 1000));
}

static int mark_noted(struct db *db, const char *arn, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE tasks SET service_noted = 1 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    return db_exec_stmt(db, st, err);
}

static int stop_task(struct db *db, struct rsvc *s, struct rtask *t, const char *reason,
                     struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE tasks SET desired_status = 'STOPPED', "
                               "stop_code = COALESCE(stop_code, 'ServiceSchedulerInitiated'), "
                               "stopped_reason = COALESCE(stopped_reason, ?2), "
                               "service_noted = 1, version = version + 1 "
                               "WHERE arn = ?1 AND desired_status != 'STOPPED'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, t->arn);
    db_bind_text(st, 2, reason);
    t->want = false;
    t->noted = true;
    s->changed = s->launched = true;
    return db_exec_stmt(db, st, err);
}

/* A task is noted once it is known to be going: stopped, or told to stop
 * with a code (its essential container exited, it failed to start, a user
 * stopped it). Noting it then rather than at STOPPED matters because its
 * replacement may launch while it is still on its way down (it counts
 * against maximumPercent, not the desired count): a failure noted only at
 * STOPPED would set the backoff after the next launch was already made. */
static bool going(const struct rtask *t)
{
    return stopped(t) || (!t->want && t->stop_code);
}

/* Tasks going since the last pass: a stop the service did not ask
 * for is a failure (UserInitiated stops are replaced, not counted). */
static int note_stopped(struct db *db, struct rsvc *s, struct error **err)
{
    int r = 0;
    for (size_t i = 0; i < s->n_tasks && r == 0; i++) {
        struct rtask *t = &s->tasks[i];
        if (!going(t) || t->noted)
            continue;
        t->noted = true;
        s->changed = true;
        if ((r = mark_noted(db, t->arn, err)) < 0)
            break;
        const char *code = t->stop_code ? t->stop_code : "";
        if (!strcmp(code, "ServiceSchedulerInitiated"))
            continue;
        if (!strcmp(code, "UserInitiated")) {
            r = event(db, s, err, "(task %s) was stopped by a user: %s; replacing it.", t->id,
                      t->reason ? t->reason : "StopTask");
            continue;
        }
        r = event(db, s, err, "(task %s) stopped unexpectedly (%s): %s", t->id,
                  *code ? code : "unknown", t->reason ? t->reason : "no reason given");
        if (r == 0)
            r = note_failure(db, s, find_dep(s, t->dep), err);
    }
    return r;
}

static struct sched_lb_task lb_task(const struct rsvc *s, const struct rtask *t)
{
    return (struct sched_lb_task){.account = s->account, .arn = t->arn, .ip = t->ip, .vpc = t->vpc};
}

/* Load balancers, before the decisions: RUNNING tasks not registered yet
 * are registered with the service's target groups, and every registered
 * task's target health is read (healthy() and replace_unhealthy() use
 * it). */
static int lb_update(struct db *db, struct rsvc *s, struct error **err)
{
    int r = 0;
    for (size_t i = 0; i < s->n_tasks && r == 0 && s->lbs; i++) {
        struct rtask *t = &s->tasks[i];
        if (!t->want || t->rank != sched_status_rank("RUNNING"))
            continue;
        if (!t->lb_registered) {
            struct sched_lb_task lt = lb_task(s, t);
            if ((r = sched_lb_register(db, &lt, s->lbs, s->now, err)) < 0)
                break;
            t->lb_registered = true;
            s->changed = true;
        }
        struct sched_lb_task lt = lb_task(s, t);
        r = sched_lb_health(db, &lt, s->lbs, &t->lb, &t->lb_tg, &t->lb_reason, err);
    }
    return r;
}

/* Tasks told to stop (or stopped) since the last pass leave their target
 * groups; their stop waits for the deregistration delay (service_lb.h). */
static int lb_deregister(struct db *db, struct rsvc *s, struct error **err)
{
    int r = 0;
    for (size_t i = 0; i < s->n_tasks && r == 0; i++) {
        struct rtask *t = &s->tasks[i];
        if (!t->lb_registered || t->lb_deregistered || (t->want && !stopped(t)))
            continue;
        struct sched_lb_task lt = lb_task(s, t);
        if ((r = sched_lb_deregister(db, &lt, s->now, err)) < 0)
            break;
        t->lb_deregistered = true;
        s->changed = true;
    }
    return r;
}

/* Running tasks whose health check says UNHEALTHY, or that a target group
 * reports unhealthy, once the grace period since their start is over are
 * stopped (and count as failures). */
static int replace_unhealthy(struct db *db, struct rsvc *s, struct error **err)
{
    int r = 0;
    for (size_t i = 0; i < s->n_tasks && r == 0; i++) {
        struct rtask *t = &s->tasks[i];
        if (!t->want || t->rank != sched_status_rank("RUNNING") || t->started_at < 0 ||
            s->now < t->started_at + s->lim.grace_ms)
            continue;
        if (!strcmp(t->health, "UNHEALTHY")) {
            if ((r = stop_task(db, s, t, "Task failed container health checks", err)) < 0)
                break;
            if ((r = event(db, s, err, "(task %s) failed container health checks.", t->id)) < 0)
                break;
        } else if (s->lbs && t->lb == SCHED_LB_UNHEALTHY) {
            _cleanup_free_ char *why =
                xasprintf("Task failed ELB health checks in (target-group %s)", t->lb_tg);
            if ((r = stop_task(db, s, t, why, err)) < 0)
                break;
            if ((r = event(db, s, err,
                           "(task %s) is unhealthy in (target-group %s) due to (reason %s).", t->id,
                           t->lb_tg,
                           t->lb_reason && !strcmp(t->lb_reason, "Target.Timeout")
                               ? "Request timed out"
                               : "Health checks failed")) < 0)
                break;
        } else {
            continue;
        }
        r = note_failure(db, s, find_dep(s, t->dep), err);
    }
    return r;
}

static int save_deployment(struct db *db, struct rsvc *s, struct rdep *d, const char *reason,
                           bool completed, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE deployments SET status = ?2, rollout_state = ?3, "
                               "rollout_reason = COALESCE(?4, rollout_reason), "
                               "failed_tasks = ?5, completed = completed OR ?6, updated_at = ?7 "
                               "WHERE id = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, d->id);
    db_bind_text(st, 2, d->status);
    db_bind_text(st, 3, d->state);
    db_bind_text(st, 4, reason);
    sqlite3_bind_int(st, 5, d->failed);
    sqlite3_bind_int(st, 6, completed);
    sqlite3_bind_int64(st, 7, s->now);
    d->dirty = false;
    s->changed = true;
    return db_exec_stmt(db, st, err);
}

/* The circuit breaker: too many failed tasks in a rollout fail it and, with
 * rollback, bring back the last deployment that completed. */
static int circuit_breaker(struct db *db, struct rsvc *s, struct error **err)
{
    struct rdep *p = primary(s);
    if (!p || !s->lim.breaker || strcmp(p->state, "IN_PROGRESS") != 0 ||
        p->failed < ecs_svc_breaker_threshold(s->desired))
        return 0;
    set_str(&p->state, "FAILED");
    int r = event(db, s, err, "(deployment %s) deployment failed: tasks failed to start.", p->id);
    if (r < 0)
        return r;
    _cleanup_free_ char *target = NULL;
    if (s->lim.rollback) {
        sqlite3_stmt *st = db_stmt(db,
                                   "SELECT id FROM deployments WHERE service_arn = ?1 AND "
                                   "completed AND id != ?2 ORDER BY created_at DESC LIMIT 1",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, s->arn);
        db_bind_text(st, 2, p->id);
        if (sqlite3_step(st) == SQLITE_ROW)
            target = xstrdup(db_col_text(st, 0));
        sqlite3_reset(st);
    }
    if (!target)
        return save_deployment(db, s, p, "ECS deployment circuit breaker: tasks failed to start.",
                               false, err);
    _cleanup_free_ char *why =
        xasprintf("ECS deployment circuit breaker: rolling back to deploymentId %s.", target);
    set_str(&p->status, "ACTIVE");
    if ((r = save_deployment(db, s, p, why, false, err)) < 0)
        return r;
    /* The last completed deployment becomes PRIMARY again: its tasks still
     * alive count at once, and it rolls out afresh. */
    _cleanup_free_ char *progress = xasprintf("ECS deployment %s in progress.", target);
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE deployments SET status = 'PRIMARY', rollout_state = "
                               "'IN_PROGRESS', rollout_reason = ?2, failed_tasks = 0, "
                               "updated_at = ?3 WHERE id = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, target);
    db_bind_text(st, 2, progress);
    sqlite3_bind_int64(st, 3, s->now);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    st = db_stmt(db,
                 "UPDATE services SET taskdef_arn = (SELECT taskdef_arn FROM deployments "
                 "WHERE id = ?2) WHERE arn = ?1",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    db_bind_text(st, 2, target);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    s->fail_streak = 0;
    s->backoff_until = 0;
    if ((r = event(db, s, err, "rolling back to deployment %s.", target)) < 0)
        return r;
    return load_deployments(db, s, err);
}

/* Appends " (task ID)" for the first SVC_EVENT_TASKS tasks. */
static void list_task(struct buf *b, int n, const char *id)
{
    if (n < SVC_EVENT_TASKS)
        buf_printf(b, " (task %s)", id);
    else if (n == SVC_EVENT_TASKS)
        buf_puts(b, " ...");
}

/* Stops up to n tasks matching pick, newest first. */
static int stop_some(struct db *db, struct rsvc *s, int n,
                     bool (*pick)(struct rsvc *, struct rtask *, void *), void *arg,
                     const char *reason, struct buf *names, int *stopped_n, struct error **err)
{
    for (size_t i = s->n_tasks; i-- > 0 && n > 0;) {
        struct rtask *t = &s->tasks[i];
        if (!t->want || stopped(t) || !pick(s, t, arg))
            continue;
        int r = stop_task(db, s, t, reason, err);
        if (r < 0)
            return r;
        list_task(names, (*stopped_n)++, t->id);
        n--;
    }
    return 0;
}

enum pick {
    PICK_NOT_HEALTHY,       /* pending, or RUNNING but not healthy */
    PICK_PENDING,           /* not RUNNING yet */
    PICK_RUNNING_UNHEALTHY, /* RUNNING, health check not (or no longer) passing */
    PICK_HEALTHY,
};

struct pick_arg {
    const char *dep;
    enum pick pick;
    bool other; /* any deployment but dep */
};

static bool pick_task(struct rsvc *s, struct rtask *t, void *arg)
{
    const struct pick_arg *a = arg;
    bool in_dep = !strcmp(t->dep, a->dep);
    if (a->other == in_dep)
        return false;
    bool running = t->rank == sched_status_rank("RUNNING");
    switch (a->pick) {
    case PICK_NOT_HEALTHY:
        return !healthy(s, t);
    case PICK_PENDING:
        return !running;
    case PICK_RUNNING_UNHEALTHY:
        return running && !healthy(s, t);
    case PICK_HEALTHY:
        return healthy(s, t);
    }
    return false;
}

static int launch(struct db *db, struct rsvc *s, struct rdep *p, int n, struct error **err)
{
    json_t *svc_tags = NULL;
    const char *prop = json_get_str(s->spec, "propagateTags");
    int r;
    if (prop && !strcmp(prop, "SERVICE") && (r = ecs_tags_get(&s->ctx, s->arn, &svc_tags, err)) < 0)
        return r;
    json_t *in = ecs_svc_run_request(s->spec, p->spec, p->id, s->name, svc_tags);
    json_decref(svc_tags);
    struct ecs_run_plan plan = {0};
    _cleanup_error_ struct error *verr = NULL;
    struct buf names;
    buf_init(&names, 0);
    r = ecs_run_task_validate(in, p->taskdef, &plan, &verr);
    if (r == 0)
        r = ecs_run_task_network(&s->ctx, in, &plan, &verr);
    if (r < 0) {
        /* The definition can no longer run (it could when deployed): say so
         * and count it as a failed start, so that the breaker and the
         * backoff apply. */
        r = event(db, s, err, "was unable to place a task: %s", verr->msg);
        if (r == 0)
            r = note_failure(db, s, p, err);
        goto out;
    }
    json_t *managed =
        json_get_bool(s->spec, "enableECSManagedTags", false)
            ? json_pack("[{s:s, s:s}]", "key", "aws:ecs:serviceName", "value", s->name)
            : NULL;
    for (int i = 0; i < n && r == 0; i++) {
        _cleanup_free_ char *arn = NULL;
        if ((r = ecs_task_insert(&s->ctx, in, s->cluster_arn, p->taskdef, &plan, &arn, err)) < 0)
            break;
        sqlite3_stmt *st = db_stmt(db, "UPDATE tasks SET service_arn = ?2 WHERE arn = ?1", err);
        if (!st) {
            r = -EIO;
            break;
        }
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, s->arn);
        if ((r = db_exec_stmt(db, st, err)) < 0)
            break;
        if (managed && (r = ecs_tags_put(&s->ctx, arn, managed, err)) < 0)
            break;
        if (s->lbs && (r = sched_lb_rules_init(db, arn, err)) < 0)
            break;
        list_task(&names, i, strrchr(arn, '/') + 1);
    }
    json_decref(managed);
    if (r == 0) {
        p->want += n;
        p->alive += n;
        s->changed = s->launched = true;
        r = event(db, s, err, "has started %d tasks:%s.", n, names.data ? names.data : "");
    }
out:
    buf_done(&names);
    ecs_run_plan_done(&plan);
    json_decref(in);
    return r;
}

/* Stops and launches within the deployment limits. */
static int scale(struct db *db, struct rsvc *s, struct error **err)
{
    struct rdep *p = primary(s);
    long desired = !strcmp(s->status, "ACTIVE") ? s->desired : 0;
    long max_total = desired * s->lim.max_percent / 100;
    long min_healthy = (desired * s->lim.min_percent + 99) / 100;
    const char *pid = p ? p->id : "";
    _cleanup_free_ char *reason =
        xasprintf("Scaling activity initiated by (deployment %s)", p ? p->id : s->name);
    struct buf names;
    buf_init(&names, 0);
    int n_stopped = 0, r = 0;
    count(s);
    int p_want = p ? p->want : 0, p_settled = p ? p->settled : 0;
    int o_healthy = 0, alive = 0;
    for (size_t i = 0; i < s->n_deps; i++) {
        alive += s->deps[i].alive;
        if (&s->deps[i] != p)
            o_healthy += s->deps[i].healthy;
    }
    /* Tasks of no known deployment (should not happen) are stopped. */
    for (size_t i = 0; i < s->n_tasks && r == 0; i++) {
        struct rtask *t = &s->tasks[i];
        if (t->want && !stopped(t) && !find_dep(s, t->dep)) {
            r = stop_task(db, s, t, reason, err);
            list_task(&names, n_stopped++, t->id);
        }
    }
    /* The primary above the desired count: not yet healthy ones first. */
    if (r == 0 && p_want > desired) {
        long extra = p_want - desired;
        struct pick_arg a = {pid, PICK_NOT_HEALTHY, false};
        int before = n_stopped;
        r = stop_some(db, s, (int)extra, pick_task, &a, reason, &names, &n_stopped, err);
        extra -= n_stopped - before;
        if (r == 0 && extra > 0) {
            a.pick = PICK_HEALTHY;
            before = n_stopped;
            r = stop_some(db, s, (int)extra, pick_task, &a, reason, &names, &n_stopped, err);
            p_settled -= n_stopped - before;
        }
    }
    /* Older deployments: tasks not RUNNING yet go at once; RUNNING ones (not
     * yet or no longer healthy first) as long as the healthy tasks left
     * stay at or above minimumHealthyPercent — each stop counts against
     * that budget, even of a task whose health check has not answered yet,
     * which may well be serving. */
    if (r == 0) {
        struct pick_arg a = {pid, PICK_PENDING, true};
        r = stop_some(db, s, 1 << 30, pick_task, &a, reason, &names, &n_stopped, err);
    }
    long can = p_settled + o_healthy - min_healthy;
    if (r == 0 && can > 0) {
        struct pick_arg a = {pid, PICK_RUNNING_UNHEALTHY, true};
        int before = n_stopped;
        r = stop_some(db, s, (int)can, pick_task, &a, reason, &names, &n_stopped, err);
        can -= n_stopped - before;
    }
    if (r == 0 && can > 0) {
        struct pick_arg a = {pid, PICK_HEALTHY, true};
        r = stop_some(db, s, (int)can, pick_task, &a, reason, &names, &n_stopped, err);
    }
    if (r == 0 && n_stopped > 0)
        r = event(db, s, err, "has stopped %d running tasks:%s.", n_stopped, names.data);
    buf_done(&names);
    if (r < 0 || !p || strcmp(s->status, "ACTIVE") != 0)
        return r;
    /* Launch into the primary, within maximumPercent (tasks on their way
     * down still count), unless backing off. */
    p_want = p->want;
    long room = max_total - alive;
    long n = desired - p_want;
    if (n > room)
        n = room;
    if (n > 0 && s->now >= s->backoff_until)
        r = launch(db, s, p, (int)n, err);
    return r;
}

/* Deployment and service states after this pass's actions. */
static int settle(struct db *db, struct rsvc *s, struct error **err)
{
    count(s);
    struct rdep *p = primary(s);
    long desired = !strcmp(s->status, "ACTIVE") ? s->desired : 0;
    int others_alive = 0, alive = 0, r = 0;
    for (size_t i = 0; i < s->n_deps && r == 0; i++) {
        struct rdep *d = &s->deps[i];
        alive += d->alive;
        if (d == p)
            continue;
        others_alive += d->alive;
        if (d->alive == 0) {
            set_str(&d->status, "INACTIVE");
            r = save_deployment(db, s, d, NULL, false, err);
        } else if (d->dirty) {
            r = save_deployment(db, s, d, NULL, false, err);
        }
    }
    if (r < 0)
        return r;
    if (p && !strcmp(p->state, "IN_PROGRESS") && p->settled == desired && p->alive == desired &&
        others_alive == 0 && !strcmp(s->status, "ACTIVE")) {
        set_str(&p->state, "COMPLETED");
        _cleanup_free_ char *why = xasprintf("ECS deployment %s completed.", p->id);
        if ((r = save_deployment(db, s, p, why, true, err)) < 0)
            return r;
        r = event(db, s, err, "(deployment %s) deployment completed.", p->id);
    } else if (p && p->dirty) {
        r = save_deployment(db, s, p, NULL, false, err);
    }
    if (r < 0)
        return r;
    bool steady = !strcmp(s->status, "ACTIVE") && p && !strcmp(p->state, "COMPLETED") &&
                  p->settled == desired && alive == desired;
    if (steady && !s->steady) {
        s->steady = true;
        s->fail_streak = 0;
        s->backoff_until = 0;
        if ((r = event(db, s, err, "has reached a steady state.")) < 0)
            return r;
    } else if (!steady && s->steady) {
        s->steady = false;
        s->changed = true;
    }
    if (!strcmp(s->status, "DRAINING") && alive == 0) {
        set_str(&s->status, "INACTIVE");
        s->changed = true;
        for (size_t i = 0; i < s->n_deps && r == 0; i++) {
            set_str(&s->deps[i].status, "INACTIVE");
            r = save_deployment(db, s, &s->deps[i], NULL, false, err);
        }
    }
    return r;
}

static int save_service(struct db *db, struct rsvc *s, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE services SET status = ?2, fail_streak = ?3, "
                               "backoff_until = ?4, steady = ?5 WHERE arn = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    db_bind_text(st, 2, s->status);
    sqlite3_bind_int(st, 3, s->fail_streak);
    sqlite3_bind_int64(st, 4, s->backoff_until);
    sqlite3_bind_int(st, 5, s->steady);
    return db_exec_stmt(db, st, err);
}

/* When this service's state next changes by the clock alone: a healthy task
 * settles or the backoff ends (INT64_MAX: never). */
static int64_t due(struct rsvc *s)
{
    int64_t at = INT64_MAX;
    if (s->backoff_until > s->now)
        at = s->backoff_until;
    for (size_t i = 0; i < s->n_tasks; i++) {
        const struct rtask *t = &s->tasks[i];
        if (stopped(t) || t->started_at < 0 || s->now - t->started_at >= SVC_SETTLE_MS ||
            !healthy(s, t))
            continue;
        if (t->started_at + SVC_SETTLE_MS < at)
            at = t->started_at + SVC_SETTLE_MS;
    }
    return at;
}

/* One service, in one transaction: committed only when something changed. */
static int reconcile_one(struct db *db, const char *arn, int64_t now, bool *ret_launched,
                         int64_t *ret_due, struct error **err)
{
    struct rsvc s = {0};
    s.now = now;
    int r = db_begin(db, err);
    if (r < 0)
        return r;
    bool found = false;
    if ((r = load_service(db, arn, &s, &found, err)) < 0 || !found)
        goto out;
    struct arn a;
    if (arn_parse(arn, &a) < 0) {
        r = error_set(err, EINVAL, NULL, "bad service ARN %s", arn);
        goto out;
    }
    snprintf(s.region, sizeof(s.region), "%s", a.region);
    s.acct.account_id = s.account;
    s.ctx.db = db;
    s.ctx.account = &s.acct;
    s.ctx.region = s.region;
    s.ctx.now_ms = now;
    ecs_svc_limits(s.spec, &s.lim);
    if (json_array_size(json_get_array(s.spec, "loadBalancers")))
        s.lbs = json_get_array(s.spec, "loadBalancers");
    if ((r = load_deployments(db, &s, err)) < 0 || (r = load_tasks(db, &s, err)) < 0)
        goto out;
    if ((r = note_stopped(db, &s, err)) < 0 || (r = lb_update(db, &s, err)) < 0 ||
        (r = replace_unhealthy(db, &s, err)) < 0 || (r = circuit_breaker(db, &s, err)) < 0 ||
        (r = scale(db, &s, err)) < 0 || (r = lb_deregister(db, &s, err)) < 0 ||
        (r = settle(db, &s, err)) < 0)
        goto out;
    int64_t at = due(&s);
    if (at < *ret_due)
        *ret_due = at;
    if (!s.changed)
        goto out;
    if ((r = save_service(db, &s, err)) < 0 || (r = db_commit(db, err)) < 0)
        goto out;
    *ret_launched |= s.launched;
out:
    db_rollback(db);
    svc_done(&s);
    return r;
}

bool sched_services_reconcile(struct db *db, int64_t now_ms, int64_t *ret_due_ms)
{
    *ret_due_ms = INT64_MAX;
    _cleanup_error_ struct error *err = NULL;
    sqlite3_stmt *st =
        db_stmt(db, "SELECT arn FROM services WHERE status IN ('ACTIVE', 'DRAINING')", &err);
    if (!st) {
        log_err("services: %s", err->msg);
        return false;
    }
    json_t *arns = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arns, json_string(db_col_text(st, 0)));
    sqlite3_reset(st);
    bool launched = false;
    size_t i;
    json_t *v;
    json_array_foreach(arns, i, v)
    {
        error_freep(&err);
        if (reconcile_one(db, json_string_value(v), now_ms, &launched, ret_due_ms, &err) < 0)
            log_err("services: %s: %s", json_string_value(v), err ? err->msg : "failed");
    }
    json_decref(arns);
    return launched;
}
