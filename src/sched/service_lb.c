/* Services' tasks as load balancer targets (see service_lb.h and
 * docs/services.md, "Load balancers"). */
#include "sched/service_lb.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sched_lb_register(struct db *db, const struct sched_lb_task *t, const json_t *lbs,
                      int64_t now_ms, struct error **err)
{
    size_t i;
    json_t *lb;
    int r = 0;
    json_array_foreach(lbs, i, lb)
    {
        if (!t->ip || !t->vpc)
            break;
        /* Only a group of the task's account and VPC: one deleted since the
         * service was made is skipped, never another account's. The same
         * statement as RegisterTargets': a draining target starts afresh. */
        sqlite3_stmt *st = db_stmt(db,
                                   "INSERT INTO elb_targets(tg_arn, id, port, az, state, reason, "
                                   "registered_at) SELECT arn, ?2, ?3, NULL, 'initial', "
                                   "'Elb.RegistrationInProgress', ?4 FROM elb_target_groups "
                                   "WHERE arn = ?1 AND account = ?5 AND vpc_id = ?6 "
                                   "ON CONFLICT(tg_arn, id, port) DO UPDATE SET state = "
                                   "'initial', reason = 'Elb.RegistrationInProgress', "
                                   "registered_at = ?4, drain_until = NULL "
                                   "WHERE drain_until IS NOT NULL",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, json_get_str(lb, "targetGroupArn"));
        db_bind_text(st, 2, t->ip);
        sqlite3_bind_int(st, 3, (int)json_get_int(lb, "containerPort", 0));
        sqlite3_bind_int64(st, 4, now_ms);
        db_bind_text(st, 5, t->account);
        db_bind_text(st, 6, t->vpc);
        if ((r = db_exec_stmt(db, st, err)) < 0)
            return r;
    }
    sqlite3_stmt *st = db_stmt(db, "UPDATE tasks SET lb_registered = 1 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, t->arn);
    return db_exec_stmt(db, st, err);
}

struct live_target {
    char *tg_arn;
    int port;
    int64_t delay_ms; /* 0: nothing to drain (no load balancer uses the group) */
};

int sched_lb_deregister(struct db *db, const struct sched_lb_task *t, int64_t now_ms,
                        struct error **err)
{
    struct live_target *list = NULL;
    size_t n = 0;
    int64_t hold = 0;
    int r = 0, rc = SQLITE_DONE;
    if (t->ip && t->vpc) {
        sqlite3_stmt *st = db_stmt(db,
                                   "SELECT t.tg_arn, t.port, g.attributes, EXISTS (SELECT 1 FROM "
                                   "elb_rule_tgs u WHERE u.tg_arn = t.tg_arn) FROM elb_targets t "
                                   "JOIN elb_target_groups g ON g.arn = t.tg_arn WHERE "
                                   "g.account = ?1 AND g.vpc_id = ?2 AND t.id = ?3 AND "
                                   "t.drain_until IS NULL",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, t->account);
        db_bind_text(st, 2, t->vpc);
        db_bind_text(st, 3, t->ip);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            list = xrealloc(list, (n + 1) * sizeof(*list));
            struct live_target *l = &list[n++];
            l->tg_arn = xstrdup(db_col_text(st, 0));
            l->port = sqlite3_column_int(st, 1);
            _cleanup_json_ json_t *attrs = json_parse_trusted(db_col_text(st, 2));
            const char *v = json_get_str(attrs, "deregistration_delay.timeout_seconds");
            l->delay_ms = sqlite3_column_int(st, 3) ? (v ? atoll(v) : 300) * 1000 : 0;
        }
        sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE)
        r = db_fail(db, err, "read the task's targets");
    for (size_t i = 0; i < n && r == 0; i++) {
        struct live_target *l = &list[i];
        sqlite3_stmt *st =
            l->delay_ms
                ? db_stmt(db,
                          "UPDATE elb_targets SET drain_until = ?4 WHERE tg_arn = ?1 AND "
                          "id = ?2 AND port = ?3",
                          err)
                : db_stmt(db, "DELETE FROM elb_targets WHERE tg_arn = ?1 AND id = ?2 AND port = ?3",
                          err);
        if (!st) {
            r = -EIO;
            break;
        }
        db_bind_text(st, 1, l->tg_arn);
        db_bind_text(st, 2, t->ip);
        sqlite3_bind_int(st, 3, l->port);
        if (l->delay_ms)
            sqlite3_bind_int64(st, 4, now_ms + l->delay_ms);
        r = db_exec_stmt(db, st, err);
        if (l->delay_ms > hold)
            hold = l->delay_ms;
    }
    for (size_t i = 0; i < n; i++)
        free(list[i].tg_arn);
    free(list);
    if (r < 0)
        return r;
    /* ECS shows the task DEACTIVATING while its targets drain; the
     * scheduler sends the stop (STOPPING, SIGTERM) at lb_drain_until. */
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE tasks SET lb_drain_until = ?2, last_status = CASE WHEN "
                               "last_status = 'RUNNING' AND desired_status = 'STOPPED' THEN "
                               "'DEACTIVATING' ELSE last_status END, version = version + 1 "
                               "WHERE arn = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, t->arn);
    sqlite3_bind_int64(st, 2, now_ms + hold);
    return db_exec_stmt(db, st, err);
}

int sched_lb_health(struct db *db, const struct sched_lb_task *t, const json_t *lbs,
                    enum sched_lb_health *ret, char **ret_tg, char **ret_reason, struct error **err)
{
    enum sched_lb_health h = SCHED_LB_NONE;
    _cleanup_free_ char *bad_tg = NULL, *bad_reason = NULL;
    size_t i;
    json_t *lb;
    json_array_foreach(lbs, i, lb)
    {
        if (!t->ip)
            break;
        sqlite3_stmt *st = db_stmt(db,
                                   "SELECT t.state, t.reason, g.name FROM elb_targets t "
                                   "JOIN elb_target_groups g ON g.arn = t.tg_arn "
                                   "WHERE t.tg_arn = ?1 AND t.id = ?2 AND t.port = ?3 AND "
                                   "t.drain_until IS NULL",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, json_get_str(lb, "targetGroupArn"));
        db_bind_text(st, 2, t->ip);
        sqlite3_bind_int(st, 3, (int)json_get_int(lb, "containerPort", 0));
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *state = db_col_text(st, 0);
            if (!strcmp(state, "unhealthy")) {
                if (h != SCHED_LB_UNHEALTHY) {
                    bad_tg = xstrdup(db_col_text(st, 2));
                    bad_reason = sqlite3_column_type(st, 1) == SQLITE_NULL
                                     ? NULL
                                     : xstrdup(db_col_text(st, 1));
                }
                h = SCHED_LB_UNHEALTHY;
            } else if (!strcmp(state, "healthy")) {
                if (h == SCHED_LB_NONE)
                    h = SCHED_LB_HEALTHY;
            } else if (h != SCHED_LB_UNHEALTHY) {
                h = SCHED_LB_INITIAL;
            }
        } else if (rc == SQLITE_DONE && h != SCHED_LB_UNHEALTHY) {
            /* Not (yet, or no longer) registered there. */
            h = SCHED_LB_INITIAL;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(db, err, "read target health");
    }
    *ret = h;
    if (ret_tg)
        *ret_tg = TAKE_PTR(bad_tg);
    if (ret_reason)
        *ret_reason = TAKE_PTR(bad_reason);
    return 0;
}

/* Adds an "lb" rule for port unless rules has it already. */
static void allow_port(json_t *rules, json_int_t port)
{
    if (port < 1 || port > 65535)
        return;
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) if (json_get_bool(r, "lb", false) &&
                                        json_get_int(r, "from", -1) == port) return;
    json_array_append_new(rules,
                          json_pack("{s:b, s:s, s:I, s:I, s:b, s:[]}", "egress", 0, "protocol",
                                    "tcp", "from", port, "to", port, "lb", 1, "cidrs"));
}

int sched_lb_rules(struct db *db, const char *task_arn, json_t *rules, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT s.spec FROM tasks t JOIN services s ON s.arn = "
                               "t.service_arn WHERE t.arn = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    int rc = sqlite3_step(st);
    _cleanup_json_ json_t *spec = rc == SQLITE_ROW ? json_parse_trusted(db_col_text(st, 0)) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(db, err, "read the task's service");
    const json_t *lbs = json_get_array(spec, "loadBalancers");
    size_t i;
    json_t *lb;
    json_array_foreach(lbs, i, lb)
    {
        allow_port(rules, json_get_int(lb, "containerPort", 0));
        st = db_stmt(db, "SELECT health_check FROM elb_target_groups WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, json_get_str(lb, "targetGroupArn"));
        rc = sqlite3_step(st);
        _cleanup_json_ json_t *hc =
            rc == SQLITE_ROW ? json_parse_trusted(db_col_text(st, 0)) : NULL;
        sqlite3_reset(st);
        const char *port = json_get_str(hc, "HealthCheckPort");
        if (port && strcmp(port, "traffic-port") != 0)
            allow_port(rules, atoi(port));
    }
    return 0;
}

int sched_lb_rules_init(struct db *db, const char *task_arn, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT network_config FROM tasks WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    int rc = sqlite3_step(st);
    _cleanup_json_ json_t *nc = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                                    ? json_parse_trusted(db_col_text(st, 0))
                                    : NULL;
    sqlite3_reset(st);
    json_t *rules = json_get_array(json_get_object(nc, "eni"), "rules");
    if (!rules)
        return 0;
    int r = sched_lb_rules(db, task_arn, rules, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *text = json_dump_compact(nc);
    st = db_stmt(db, "UPDATE tasks SET network_config = ?2 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    db_bind_text(st, 2, text);
    return db_exec_stmt(db, st, err);
}
