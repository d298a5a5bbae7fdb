#include "sched/sched.h"
#include "sched/service.h"
#include "sched/service_lb.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "ec2/ec2.h"
#include "secrets/secrets.h"
#include "store/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHED_CAPACITY_REASON                                                                      \
    "Capacity is unavailable at this time. Please try again later or reduce the task size."

/* How often the store is compared with the node's own list (and at start). */
#define SCHED_RECONCILE_MS (60 * 1000)

struct report_item {
    json_t *report;
    struct report_item *next;
};

struct sched {
    struct sched_config cfg;
    struct store *store;
    struct node *node;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool kicked;
    bool stopping;
    bool net_dirty; /* sched_network_changed() */
    /* ec2_group_members() as the node last took it (NULL: nothing sent yet,
     * as after skiffd starts). */
    json_t *groups;
    int64_t members_version; /* ec2_members_version() of groups */
    struct report_item *reports, **reports_tail;
    int64_t last_resync_ms;
    int64_t last_reconcile_ms;
    int64_t svc_due_ms; /* sched_services_reconcile()'s next due time */
    sched_purge_fn purge_fn;
    void *purge_arg;
    struct sched_usage_hooks usage;
    void *usage_arg;
};

static const char *const statuses[] = {
    "PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
    "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
};

int sched_status_rank(const char *status)
{
    for (size_t i = 0; status && i < ARRAY_SIZE(statuses); i++)
        if (!strcmp(statuses[i], status))
            return (int)i;
    return -1;
}

int sched_new(const struct sched_config *cfg, struct store *store, struct sched **ret,
              struct error **err)
{
    (void)err;
    struct sched *s = xzalloc(sizeof(*s));
    s->cfg = *cfg;
    s->store = store;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->reports_tail = &s->reports;
    s->net_dirty = true; /* rules may have changed while skiffd was down */
    *ret = s;
    return 0;
}

void sched_set_node(struct sched *s, struct node *node)
{
    s->node = node;
}

void sched_set_purge_hook(struct sched *s, sched_purge_fn fn, void *arg)
{
    s->purge_fn = fn;
    s->purge_arg = arg;
}

void sched_set_usage_hooks(struct sched *s, const struct sched_usage_hooks *h, void *arg)
{
    s->usage = *h;
    s->usage_arg = arg;
}

void sched_kick(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    s->kicked = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void sched_report(void *cp, const json_t *report)
{
    struct sched *s = cp;
    struct report_item *it = xzalloc(sizeof(*it));
    it->report = json_deep_copy(report);
    pthread_mutex_lock(&s->lock);
    *s->reports_tail = it;
    s->reports_tail = &it->next;
    s->kicked = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void sched_network_changed(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    s->net_dirty = true;
    s->kicked = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Sends each networked task not yet stopped its current rules; the agent
 * applies only a change. They change with Authorize/Revoke only: a
 * referenced group's members are a set of the data plane (push_groups). */
static void push_network(struct sched *s, struct db *db)
{
    _cleanup_error_ struct error *err = NULL;
    if (!s->node->ops->network)
        return;
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT t.arn, e.id FROM tasks t JOIN ec2_enis e "
                               "ON e.task_arn = t.arn WHERE t.last_status != 'STOPPED'",
                               &err);
    if (!st) {
        log_err("scheduler: network: %s", err->msg);
        return;
    }
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(list, json_pack("[s, s]", db_col_text(st, 0), db_col_text(st, 1)));
    sqlite3_reset(st);
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        json_t *rules = NULL;
        if (ec2_eni_rules(db, json_string_value(json_array_get(it, 1)), &rules, &err) == 0 &&
            sched_lb_rules(db, json_string_value(json_array_get(it, 0)), rules, &err) == 0) {
            json_t *msg = json_pack("{s:O, s:o}", "taskArn", json_array_get(it, 0), "rules", rules);
            int r = s->node->ops->network(s->node, msg, &err);
            json_decref(msg);
            if (r == -ENOENT)
                error_freep(&err);
        }
        if (err) {
            log_err("scheduler: network update: %s", err->msg);
            error_freep(&err);
        }
    }
    json_decref(list);
}

/* Sends the node the members of the referenced groups that changed since
 * it last took them (a member placed, told to stop, or stopped by itself):
 * one message for all, whatever the number of tasks whose rules name the
 * groups. A group no rule references any more, or without members, goes
 * as an empty list. */
static void push_groups(struct sched *s, struct db *db)
{
    _cleanup_error_ struct error *err = NULL;
    if (!s->node || !s->node->ops->groups)
        return;
    /* Read before the members: a change committed in between shows as a
     * new version at the next pass. */
    int64_t version;
    if (ec2_members_version(db, &version, &err) < 0) {
        log_err("scheduler: group members: %s", err->msg);
        return;
    }
    if (s->groups && version == s->members_version)
        return;
    json_t *now = NULL;
    if (ec2_group_members(db, &now, &err) < 0) {
        log_err("scheduler: group members: %s", err->msg);
        return;
    }
    _cleanup_json_ json_t *changed = json_object();
    const char *g;
    json_t *v;
    json_object_foreach(now, g, v)
    {
        if (!json_equal(v, json_object_get(s->groups, g)))
            json_object_set(changed, g, v);
    }
    json_object_foreach(s->groups, g, v)
    {
        if (!json_object_get(now, g))
            json_object_set_new(changed, g, json_array());
    }
    if (!s->groups || json_object_size(changed)) {
        _cleanup_json_ json_t *msg = json_pack("{s:O}", "groups", changed);
        if (s->node->ops->groups(s->node, msg, &err) < 0) {
            log_err("scheduler: group members: %s", err->msg);
            json_decref(now);
            return;
        }
    }
    json_decref(s->groups);
    s->groups = now;
    s->members_version = version;
}

static struct report_item *take_reports(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    struct report_item *list = s->reports;
    s->reports = NULL;
    s->reports_tail = &s->reports;
    pthread_mutex_unlock(&s->lock);
    return list;
}

/* Binds an optional millisecond time member of a report. */
static void bind_time(sqlite3_stmt *st, int idx, const json_t *r, const char *key)
{
    json_t *v = json_object_get(r, key);
    if (json_is_integer(v))
        sqlite3_bind_int64(st, idx, json_integer_value(v));
    else
        sqlite3_bind_null(st, idx);
}

/* Merges the dynamic container fields of a report into the stored
 * container documents (matched by name). */
static json_t *merge_containers(const char *stored, const json_t *reported)
{
    static const char *const fields[] = {"lastStatus",       "exitCode",    "reason",
                                         "runtimeId",        "imageDigest", "healthStatus",
                                         "networkInterfaces"};
    json_t *list = json_parse_trusted(stored);
    if (!json_is_array(list)) {
        json_decref(list);
        list = json_array();
    }
    size_t i, j;
    json_t *c, *r;
    json_array_foreach(list, i, c)
    {
        const char *name = json_get_str(c, "name");
        json_array_foreach(reported, j, r)
        {
            const char *rname = json_get_str(r, "name");
            if (!name || !rname || strcmp(name, rname) != 0)
                continue;
            for (size_t k = 0; k < ARRAY_SIZE(fields); k++) {
                json_t *v = json_object_get(r, fields[k]);
                if (v)
                    json_object_set(c, fields[k], v);
            }
        }
    }
    return list;
}

/* Applies one report: statuses only move forward; times and stop details
 * already recorded are kept. */
static int apply_report(struct sched *s, struct db *db, const json_t *r, bool *ret_stopped,
                        struct error **err)
{
    if (json_object_get(r, "stats")) {
        if (s->usage.stats && s->usage.stats(s->usage_arg, db, r, err) < 0) {
            log_err("scheduler: stats: %s", (*err)->msg);
            error_freep(err);
        }
        return 0;
    }
    const char *arn = json_get_str(r, "taskArn");
    const char *status = json_get_str(r, "lastStatus");
    int rank = sched_status_rank(status);
    if (!arn || rank < 0)
        return 0;
    sqlite3_stmt *st = db_stmt(
        db, "SELECT last_status, containers, COALESCE(last_report, '') FROM tasks WHERE arn = ?1",
        err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return 0; /* purged or unknown: nothing to update */
    }
    /* Reports are level-based and may repeat (reconcile feeds the node's
     * list back): an identical report changes nothing, not even version. */
    _cleanup_free_ char *report_s = json_dump_compact(r);
    if (!strcmp(report_s, db_col_text(st, 2))) {
        sqlite3_reset(st);
        return 0;
    }
    int old_rank = sched_status_rank(db_col_text(st, 0));
    _cleanup_free_ char *old_containers = xstrdup(db_col_text(st, 1));
    sqlite3_reset(st);
    if (rank < old_rank)
        rank = old_rank;
    json_t *containers = merge_containers(old_containers, json_get_array(r, "containers"));
    _cleanup_free_ char *containers_s = json_dump_compact(containers);
    json_decref(containers);
    json_t *att = json_get_array(r, "attachments");
    _cleanup_free_ char *att_s = att ? json_dump_compact(att) : NULL;
    bool stopped = rank == sched_status_rank("STOPPED");

    st = db_stmt(db,
                 "UPDATE tasks SET last_status = ?2,"
                 " pull_started_at = COALESCE(pull_started_at, ?3),"
                 " pull_stopped_at = COALESCE(pull_stopped_at, ?4),"
                 " started_at = COALESCE(started_at, ?5),"
                 " stopping_at = COALESCE(stopping_at, ?6),"
                 " execution_stopped_at = COALESCE(execution_stopped_at, ?7),"
                 " stopped_at = COALESCE(stopped_at, ?8),"
                 " stop_code = COALESCE(stop_code, ?9),"
                 " stopped_reason = COALESCE(stopped_reason, ?10),"
                 " health_status = COALESCE(?11, health_status),"
                 " containers = ?12,"
                 " attachments = COALESCE(?13, attachments),"
                 " desired_status = CASE WHEN ?14 OR ?9 IS NOT NULL THEN 'STOPPED'"
                 "   ELSE desired_status END,"
                 " last_report = ?15,"
                 " version = version + 1"
                 " WHERE arn = ?1",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, statuses[rank]);
    bind_time(st, 3, r, "pullStartedAt");
    bind_time(st, 4, r, "pullStoppedAt");
    bind_time(st, 5, r, "startedAt");
    bind_time(st, 6, r, "stoppingAt");
    bind_time(st, 7, r, "executionStoppedAt");
    if (stopped && !json_is_integer(json_object_get(r, "stoppedAt")))
        sqlite3_bind_int64(st, 8, time_now_ms());
    else
        bind_time(st, 8, r, "stoppedAt");
    db_bind_text(st, 9, json_get_str(r, "stopCode"));
    db_bind_text(st, 10, json_get_str(r, "stoppedReason"));
    db_bind_text(st, 11, json_get_str(r, "healthStatus"));
    db_bind_text(st, 12, containers_s);
    db_bind_text(st, 13, att_s);
    sqlite3_bind_int(st, 14, stopped);
    db_bind_text(st, 15, report_s);
    int ret = db_exec_stmt(db, st, err);
    /* Metering must not hold back task states: a failed usage record is
     * logged, the report still applies. */
    if (ret == 0 && stopped && s->usage.stopped &&
        s->usage.stopped(s->usage_arg, db, arn, err) < 0) {
        log_err("scheduler: usage record of %s: %s", arn, (*err)->msg);
        error_freep(err);
    }
    if (ret == 0 && stopped)
        *ret_stopped = true;
    return ret;
}

static void apply_reports(struct sched *s, struct db *db, bool *ret_freed)
{
    struct report_item *list = take_reports(s);
    if (!list)
        return;
    _cleanup_error_ struct error *err = NULL;
    int r = db_begin(db, &err);
    for (struct report_item *it = list; it; it = it->next)
        if (r == 0)
            r = apply_report(s, db, it->report, ret_freed, &err);
    if (r == 0)
        r = db_commit(db, &err);
    else
        db_rollback(db);
    if (r < 0)
        log_err("scheduler: applying reports: %s", err ? err->msg : strerror(-r));
    while (list) {
        struct report_item *n = list->next;
        json_decref(list->report);
        free(list);
        list = n;
    }
}

/* Marks a task that never reached a node as STOPPED. */
static int fail_unplaced(struct db *db, const char *arn, const char *code, const char *reason,
                         struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE tasks SET last_status = 'STOPPED', desired_status = "
                               "'STOPPED', stop_code = COALESCE(stop_code, ?2), "
                               "stopped_reason = COALESCE(stopped_reason, ?3), "
                               "stopping_at = COALESCE(stopping_at, ?4), "
                               "execution_stopped_at = COALESCE(execution_stopped_at, ?4), "
                               "stopped_at = ?4, version = version + 1 "
                               "WHERE arn = ?1 AND last_status != 'STOPPED'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, code);
    db_bind_text(st, 3, reason);
    sqlite3_bind_int64(st, 4, time_now_ms());
    return db_exec_stmt(db, st, err);
}

/* The assign message for a task row (see node.h). */
static json_t *assign_message(sqlite3_stmt *st)
{
    /* columns: arn, task_id, cluster_arn, account, cpu, memory, ephemeral_gib, taskdef,
     * overrides, network_config, created_at, containers */
    json_t *m = json_object();
    json_object_set_new(m, "taskArn", json_string(db_col_text(st, 0)));
    json_object_set_new(m, "taskId", json_string(db_col_text(st, 1)));
    json_object_set_new(m, "clusterArn", json_string(db_col_text(st, 2)));
    json_object_set_new(m, "accountId", json_string(db_col_text(st, 3)));
    json_object_set_new(m, "cpu", json_integer(sqlite3_column_int64(st, 4)));
    json_object_set_new(m, "memory", json_integer(sqlite3_column_int64(st, 5)));
    json_object_set_new(m, "ephemeralStorageGiB", json_integer(sqlite3_column_int64(st, 6)));
    json_object_set_new(m, "taskDefinition", json_parse_trusted(db_col_text(st, 7)));
    json_object_set_new(m, "overrides", json_parse_trusted(db_col_text(st, 8)));
    if (sqlite3_column_type(st, 9) != SQLITE_NULL)
        json_object_set_new(m, "networkConfiguration", json_parse_trusted(db_col_text(st, 9)));
    json_object_set_new(m, "createdAt", json_integer(sqlite3_column_int64(st, 10)));
    /* The containers' ARNs, by name (the task metadata's ContainerARN). */
    json_t *containers = json_parse_trusted(db_col_text(st, 11)), *c, *arns = json_object();
    size_t i;
    json_array_foreach(containers, i, c)
    {
        const char *name = json_get_str(c, "name"), *carn = json_get_str(c, "containerArn");
        if (name && carn)
            json_object_set_new(arns, name, json_string(carn));
    }
    json_decref(containers);
    json_object_set_new(m, "containerArns", arns);
    /* The region is the second-to-last part of the ARN's prefix. */
    const char *arn = db_col_text(st, 0);
    const char *p = arn;
    for (int i = 0; i < 3 && p; i++) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    if (p) {
        const char *e = strchr(p, ':');
        if (e) {
            _cleanup_free_ char *region = xstrndup(p, (size_t)(e - p));
            json_object_set_new(m, "region", json_string(region));
        }
    }
    return m;
}

#define ASSIGN_COLUMNS                                                                             \
    "arn, task_id, cluster_arn, account, cpu, memory, ephemeral_gib, taskdef, overrides, "         \
    "network_config, created_at, containers"

static int assign(struct sched *s, struct db *db, const char *arn, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT " ASSIGN_COLUMNS " FROM tasks WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return 0;
    }
    json_t *msg = assign_message(st);
    sqlite3_reset(st);
    /* Registry credentials travel in the assign message only (node.h),
     * never in the task's record. A missing secret or one that is not
     * {"username", "password"} stops the task as ECS does. */
    json_t *auth = NULL;
    _cleanup_error_ struct error *auth_err = NULL;
    int r =
        secrets_task_registry_auth(db, json_get_str(msg, "accountId"), json_get_str(msg, "region"),
                                   json_object_get(msg, "taskDefinition"), &auth, &auth_err);
    if (r < 0) {
        json_decref(msg);
        if (!auth_err->type) {
            *err = TAKE_PTR(auth_err);
            return r;
        }
        return fail_unplaced(db, arn, "TaskFailedToStart", auth_err->msg, err);
    }
    if (json_object_size(auth) > 0)
        json_object_set_new(msg, "registryAuth", auth);
    else
        json_decref(auth);
    r = s->node->ops->assign(s->node, msg, err);
    json_decref(msg);
    return r;
}

/* Places unplaced tasks, oldest first, where they fit (first fit: a large
 * task waiting does not hold back smaller ones). */
static void place(struct sched *s, struct db *db)
{
    _cleanup_error_ struct error *err = NULL;
    /* Without a node nothing fits, but stops and timeouts still apply. */
    int64_t cap_cpu = 0, cap_mem = 0, used_cpu = 0, used_mem = 0;
    sqlite3_stmt *st;
    if (s->node) {
        json_t *cap = NULL;
        if (s->node->ops->capacity(s->node, &cap, &err) < 0) {
            log_err("scheduler: node capacity: %s", err->msg);
            return;
        }
        cap_cpu = json_get_int(cap, "cpu", 0);
        cap_mem = json_get_int(cap, "memory", 0);
        json_decref(cap);
        st = db_stmt(db,
                     "SELECT COALESCE(SUM(cpu), 0), COALESCE(SUM(memory), 0) FROM tasks "
                     "WHERE node = ?1 AND last_status != 'STOPPED'",
                     &err);
        if (!st)
            return;
        db_bind_text(st, 1, s->node->name);
        if (sqlite3_step(st) == SQLITE_ROW) {
            used_cpu = sqlite3_column_int64(st, 0);
            used_mem = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
    }

    /* Collect first: assigning re-enters the store. */
    struct cand {
        char *arn;
        int64_t cpu, mem, created;
        bool want_stop;
    } *c = NULL;
    size_t n = 0;
    st = db_stmt(db,
                 "SELECT arn, cpu, memory, created_at, desired_status FROM tasks "
                 "WHERE node IS NULL AND last_status != 'STOPPED' ORDER BY created_at, arn "
                 "LIMIT 1000",
                 &err);
    if (!st)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        c = xrealloc(c, (n + 1) * sizeof(*c));
        c[n].arn = xstrdup(db_col_text(st, 0));
        c[n].cpu = sqlite3_column_int64(st, 1);
        c[n].mem = sqlite3_column_int64(st, 2);
        c[n].created = sqlite3_column_int64(st, 3);
        c[n].want_stop = !strcmp(db_col_text(st, 4), "STOPPED");
        n++;
    }
    sqlite3_reset(st);
    int64_t now = time_now_ms();
    for (size_t i = 0; i < n; i++) {
        error_freep(&err);
        if (c[i].want_stop) {
            fail_unplaced(db, c[i].arn, "UserInitiated", "Task stopped by user", &err);
        } else if (s->node && used_cpu + c[i].cpu <= cap_cpu && used_mem + c[i].mem <= cap_mem) {
            st = db_stmt(db, "UPDATE tasks SET node = ?2 WHERE arn = ?1 AND node IS NULL", &err);
            if (!st)
                break;
            db_bind_text(st, 1, c[i].arn);
            db_bind_text(st, 2, s->node->name);
            if (db_exec_stmt(db, st, &err) < 0) {
                log_err("scheduler: %s", err->msg);
                continue;
            }
            used_cpu += c[i].cpu;
            used_mem += c[i].mem;
            if (assign(s, db, c[i].arn, &err) < 0) {
                log_err("scheduler: assign %s: %s", c[i].arn, err->msg);
                _cleanup_free_ char *why = xasprintf("Task could not be started: %s", err->msg);
                error_freep(&err);
                fail_unplaced(db, c[i].arn, "TaskFailedToStart", why, &err);
            }
        } else if (now - c[i].created > s->cfg.placement_timeout_ms) {
            fail_unplaced(db, c[i].arn, "TaskFailedToStart", SCHED_CAPACITY_REASON, &err);
        }
        if (err)
            log_err("scheduler: %s", err->msg);
    }
    for (size_t i = 0; i < n; i++)
        free(c[i].arn);
    free(c);
}

static int send_stop(struct sched *s, struct db *db, const char *arn, const char *code,
                     const char *reason, struct error **err)
{
    json_t *msg = json_pack("{s:s, s:s, s:s}", "taskArn", arn, "stopCode",
                            *code ? code : "UserInitiated", "reason", reason);
    int r = s->node->ops->stop(s->node, msg, err);
    json_decref(msg);
    if (r == -ENOENT) {
        /* The node no longer holds the task (it was purged there, or
         * skiffd died between placing and assigning it): nothing runs,
         * record the stop. */
        error_freep(err);
        return fail_unplaced(db, arn, *code ? code : "UserInitiated",
                             *reason ? reason : "Task stopped by user", err);
    }
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(db, "UPDATE tasks SET stop_sent_at = ?2 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    sqlite3_bind_int64(st, 2, time_now_ms());
    return db_exec_stmt(db, st, err);
}

/* Sends stops for placed tasks that should stop and have not been told
 * recently. */
static void send_stops(struct sched *s, struct db *db)
{
    _cleanup_error_ struct error *err = NULL;
    if (!s->node)
        return;
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT arn, COALESCE(stop_code, ''), COALESCE(stopped_reason, '') "
                               "FROM tasks WHERE node = ?1 AND desired_status = 'STOPPED' AND "
                               "last_status != 'STOPPED' AND "
                               "(stop_sent_at IS NULL OR stop_sent_at < ?2) AND "
                               "(lb_registered = 0 OR lb_drain_until <= ?3) LIMIT 1000",
                               &err);
    if (!st)
        return;
    db_bind_text(st, 1, s->node->name);
    sqlite3_bind_int64(st, 2, time_now_ms() - s->cfg.stop_resend_ms);
    /* A load balancer target is stopped once deregistered and drained
     * (src/sched/service_lb.h). */
    sqlite3_bind_int64(st, 3, time_now_ms());
    json_t *todo = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(todo, json_pack("[s, s, s]", db_col_text(st, 0), db_col_text(st, 1),
                                              db_col_text(st, 2)));
    sqlite3_reset(st);
    size_t i;
    json_t *t;
    json_array_foreach(todo, i, t)
    {
        error_freep(&err);
        if (send_stop(s, db, json_string_value(json_array_get(t, 0)),
                      json_string_value(json_array_get(t, 1)),
                      json_string_value(json_array_get(t, 2)), &err) < 0)
            log_err("scheduler: stop: %s", err->msg);
    }
    json_decref(todo);
}

/* Compares the store with what the node holds: placed tasks the node does
 * not know are assigned again (a crash between placement and assignment) or,
 * when they should stop anyway, recorded as stopped. */
static void reconcile(struct sched *s, struct db *db)
{
    _cleanup_error_ struct error *err = NULL;
    if (!s->node)
        return;
    json_t *held = NULL;
    if (s->node->ops->list(s->node, &held, &err) < 0) {
        log_err("scheduler: node list: %s", err->msg);
        return;
    }
    json_t *known = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(held, i, r)
    {
        const char *arn = json_get_str(r, "taskArn");
        if (arn)
            json_object_set_new(known, arn, json_true());
    }
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT arn, desired_status FROM tasks WHERE node = ?1 AND "
                               "last_status != 'STOPPED' LIMIT 10000",
                               &err);
    json_t *lost = json_array();
    if (st) {
        db_bind_text(st, 1, s->node->name);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (!json_object_get(known, db_col_text(st, 0)))
                json_array_append_new(lost,
                                      json_pack("[s, s]", db_col_text(st, 0), db_col_text(st, 1)));
        sqlite3_reset(st);
    }
    json_array_foreach(lost, i, r)
    {
        const char *arn = json_string_value(json_array_get(r, 0));
        error_freep(&err);
        if (!strcmp(json_string_value(json_array_get(r, 1)), "RUNNING")) {
            log_info("scheduler: node %s does not hold %s: assigning it again", s->node->name, arn);
            if (assign(s, db, arn, &err) < 0)
                fail_unplaced(db, arn, "TaskFailedToStart", "Task could not be started", &err);
        } else {
            fail_unplaced(db, arn, "UserInitiated", "Task stopped by user", &err);
        }
        if (err)
            log_err("scheduler: reconcile %s: %s", arn, err->msg);
    }
    json_decref(lost);
    json_decref(known);
    /* Tasks the node reported but whose reports were lost are refreshed by
     * feeding the listed state back through the report path. */
    json_array_foreach(held, i, r) sched_report(s, r);
    json_decref(held);
}

static void purge(struct sched *s, struct db *db)
{
    _cleanup_error_ struct error *err = NULL;
    int64_t cutoff = time_now_ms() - s->cfg.stopped_retention_ms;
    json_t *gone = json_array();
    if (db_begin(db, &err) < 0)
        goto out;
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT arn FROM tasks WHERE last_status = 'STOPPED' AND "
                               "stopped_at < ?1 AND node IS NOT NULL",
                               &err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, cutoff);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(gone, json_string(db_col_text(st, 0)));
    sqlite3_reset(st);
    st = db_stmt(db,
                 "DELETE FROM tags WHERE arn IN (SELECT arn FROM tasks WHERE "
                 "last_status = 'STOPPED' AND stopped_at < ?1)",
                 &err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, cutoff);
    if (db_exec_stmt(db, st, &err) < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM tasks WHERE last_status = 'STOPPED' AND stopped_at < ?1", &err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, cutoff);
    if (db_exec_stmt(db, st, &err) < 0)
        goto out;
    st = db_stmt(db, "DELETE FROM run_task_tokens WHERE created_at < ?1", &err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, time_now_ms() - 24 * 3600 * 1000LL);
    if (db_exec_stmt(db, st, &err) < 0)
        goto out;
    if (db_commit(db, &err) == 0 && s->purge_fn) {
        size_t i;
        json_t *a;
        json_array_foreach(gone, i, a) s->purge_fn(s->purge_arg, json_string_value(a));
    }
out:
    db_rollback(db);
    json_decref(gone);
    if (err)
        log_err("scheduler: purge: %s", err->msg);
}

static void *run(void *arg)
{
    struct sched *s = arg;
    struct db *db = NULL;
    _cleanup_error_ struct error *err = NULL;
    if (store_thread_db(s->store, &db, &err) < 0) {
        log_err("scheduler: %s", err->msg);
        return NULL;
    }
    /* This connection commits without waiting for the disk (WAL with
     * synchronous=NORMAL): a process crash (kill -9) loses nothing, a power
     * loss may lose its last commits, which no container survives either.
     * What it writes is rebuilt then: reports are level-based and the
     * node's list is fed back through them at start (reconcile), a lost
     * placement is placed again, the service reconciler recomputes from
     * desired counts, and the next commit of an API connection (still
     * synchronous=FULL) syncs every earlier WAL frame. It takes the disk's
     * sync off this one thread's placement and status commits, several per
     * task start. */
    if (sqlite3_exec(db_handle(db), "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        log_warn("scheduler: synchronous=NORMAL: %s", sqlite3_errmsg(db_handle(db)));
    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (!s->kicked && !s->stopping) {
            /* Until the resync, or sooner when a service is due. */
            int64_t wait_ms = s->cfg.resync_ms;
            if (s->svc_due_ms != INT64_MAX) {
                int64_t left = s->svc_due_ms - time_now_ms();
                wait_ms = left < 0 ? 0 : left < wait_ms ? left : wait_ms;
            }
            struct timespec ts = time_deadline(CLOCK_MONOTONIC, wait_ms);
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        bool stop = s->stopping, net = s->net_dirty;
        s->kicked = false;
        s->net_dirty = false;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        bool freed = false;
        apply_reports(s, db, &freed);
        /* Services see this pass's reports and their new tasks are placed
         * at once. */
        sched_services_reconcile(db, time_now_ms(), &s->svc_due_ms);
        place(s, db);
        send_stops(s, db);
        /* A task joining or leaving a group that rules reference changes
         * the group's set on the data plane, not the rules that name it. */
        push_groups(s, db);
        if (net)
            push_network(s, db);
        int64_t now = time_now_ms();
        if (now - s->last_resync_ms >= s->cfg.resync_ms) {
            s->last_resync_ms = now;
            if (now - s->last_reconcile_ms >= SCHED_RECONCILE_MS) {
                s->last_reconcile_ms = now;
                reconcile(s, db);
            }
            purge(s, db);
        }
        if (freed)
            place(s, db);
    }
    return NULL;
}

int sched_start(struct sched *s, struct error **err)
{
    int r = pthread_create(&s->thread, NULL, run, s);
    if (r != 0)
        return error_errno(err, r, "scheduler: start thread");
    s->running = true;
    return 0;
}

void sched_stop(struct sched *s)
{
    if (!s || !s->running)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->running = false;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    sched_stop(s);
    struct report_item *it = take_reports(s);
    while (it) {
        struct report_item *n = it->next;
        json_decref(it->report);
        free(it);
        it = n;
    }
    json_decref(s->groups);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
