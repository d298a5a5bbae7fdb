/* Targets: RegisterTargets, DeregisterTargets, DescribeTargetHealth.
 *
 * A target is an IPv4 address inside its target group's VPC and a port.
 * Its stored state is what the data plane last reported ("initial" until
 * a health checker runs; the columns are there for it to write "healthy"
 * or "unhealthy" with a reason), and two states are computed when read:
 * "unused" while no listener or rule forwards to the group, and
 * "draining" from deregistration until deregistration_delay has passed,
 * after which the target is gone. */
#include "elb/elb-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Removes the targets of tg_arn whose draining has ended (inside a
 * transaction). */
static int drained_purge(struct api_ctx *ctx, const char *tg_arn, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "DELETE FROM elb_targets WHERE tg_arn = ?1 AND drain_until IS NOT "
                               "NULL AND drain_until <= ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg_arn);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    return db_exec_stmt(ctx->db, st, err);
}

static int tg_in_use(struct api_ctx *ctx, const char *tg_arn, bool *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT 1 FROM elb_rule_tgs WHERE tg_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg_arn);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read target group use");
    *ret = rc == SQLITE_ROW;
    return 0;
}

/* Checks one TargetDescription of tg and fills *ret_port. registering: an
 * address outside the VPC must say AvailabilityZone "all" (a deregistration
 * or a health query may name it without). */
static int target_check(struct api_ctx *ctx, const struct elb_tg *tg, uint32_t net, int prefix,
                        const json_t *t, bool registering, int *ret_port, struct error **err)
{
    const char *id = json_get_str(t, "Id");
    uint32_t addr;
    if (elb_ipv4_parse(id, &addr) < 0)
        return error_set(err, EINVAL, "InvalidTarget",
                         "The target ID '%.64s' is not a valid IPv4 address (target groups of "
                         "type ip register addresses)",
                         id ? id : "");
    uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
    const char *az = json_get_str(t, "AvailabilityZone");
    bool inside = (addr & mask) == net;
    /* As on AWS, an address outside the VPC (reached through the host's
     * own routes, e.g. a service on the host) is registered with zone
     * "all", and only such an address. */
    if (!inside && registering && !(az && !strcmp(az, "all")))
        return error_set(err, EINVAL, "InvalidTarget",
                         "The IP address '%s' is not within the CIDR of VPC '%s' (an address "
                         "outside the VPC needs AvailabilityZone 'all')",
                         id, tg->vpc_id);
    if (inside && az && !strcmp(az, "all"))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Availability zone 'all' is only for addresses outside the VPC");
    _cleanup_free_ char *only = xasprintf("%sa", ctx->region);
    if (az && inside && strcmp(az, only) != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Availability zone '%.32s' is not valid: the only zone is %s", az, only);
    json_int_t port = json_get_int(t, "Port", tg->port);
    if (port < 1 || port > 65535)
        return error_set(err, EINVAL, ELB_VALIDATION, "Port must be between 1 and 65535");
    *ret_port = (int)port;
    return 0;
}

static int tg_prepare(struct api_ctx *ctx, const json_t *in, struct elb_tg *tg, uint32_t *net,
                      int *prefix, struct error **err)
{
    int r = elb_tg_find(ctx, json_get_str(in, "TargetGroupArn"), tg, err);
    if (r < 0)
        return r;
    r = elb_vpc_cidr(ctx, tg->vpc_id, net, prefix, err);
    if (r == -ENOENT)
        return error_set(err, ENOENT, "InvalidTarget", "The VPC '%s' of the target group is gone",
                         tg->vpc_id);
    if (r < 0)
        return r;
    return drained_purge(ctx, tg->arn, err);
}

int elb_register_targets(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                         struct error **err)
{
    (void)ret_out;
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_tg tg;
    uint32_t net;
    int prefix;
    if ((r = tg_prepare(ctx, in, &tg, &net, &prefix, err)) < 0)
        return r;
    const json_t *targets = json_get_array(in, "Targets");
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        int port;
        if ((r = target_check(ctx, &tg, net, prefix, t, true, &port, err)) < 0)
            return r;
        const char *id = json_get_str(t, "Id");
        /* A draining target registered again is back at the start. */
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "INSERT INTO elb_targets(tg_arn, id, port, az, state, reason, "
                                   "registered_at) VALUES (?1, ?2, ?3, ?4, 'initial', "
                                   "'Elb.RegistrationInProgress', ?5) "
                                   "ON CONFLICT(tg_arn, id, port) DO UPDATE SET state = "
                                   "'initial', reason = 'Elb.RegistrationInProgress', "
                                   "registered_at = ?5, drain_until = NULL "
                                   "WHERE drain_until IS NOT NULL",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, tg.arn);
        db_bind_text(st, 2, id);
        sqlite3_bind_int(st, 3, port);
        db_bind_text(st, 4, json_get_str(t, "AvailabilityZone"));
        sqlite3_bind_int64(st, 5, ctx->now_ms);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
        st = db_stmt(ctx->db,
                     "SELECT COUNT(*) FROM elb_targets WHERE id = ?1 AND tg_arn IN (SELECT arn "
                     "FROM elb_target_groups WHERE account = ?2)",
                     err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, ctx->account->account_id);
        int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        sqlite3_reset(st);
        if (n > ELB_MAX_TARGET_REGS)
            return error_set(err, EINVAL, "TooManyRegistrationsForTargetId",
                             "Target '%s' is registered %d times: at most %d", id, n,
                             ELB_MAX_TARGET_REGS);
    }
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT COUNT(*) FROM elb_targets WHERE tg_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg.arn);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n > ELB_MAX_TARGETS)
        return error_set(err, EINVAL, "TooManyTargets",
                         "A target group can have at most %d targets", ELB_MAX_TARGETS);
    return db_commit(ctx->db, err);
}

static int dereg_delay_ms(struct api_ctx *ctx, const char *tg_arn, int64_t *ret, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT attributes FROM elb_target_groups WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg_arn);
    int rc = sqlite3_step(st);
    _cleanup_json_ json_t *attrs = rc == SQLITE_ROW ? json_parse_trusted(db_col_text(st, 0)) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read target group");
    const char *v = json_get_str(attrs, "deregistration_delay.timeout_seconds");
    *ret = (v ? atoll(v) : 300) * 1000;
    return 0;
}

int elb_deregister_targets(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                           struct error **err)
{
    (void)ret_out;
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_tg tg;
    uint32_t net;
    int prefix;
    bool used = false;
    int64_t delay = 0;
    if ((r = tg_prepare(ctx, in, &tg, &net, &prefix, err)) < 0 ||
        (r = tg_in_use(ctx, tg.arn, &used, err)) < 0 ||
        (r = dereg_delay_ms(ctx, tg.arn, &delay, err)) < 0)
        return r;
    const json_t *targets = json_get_array(in, "Targets");
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        int port;
        if ((r = target_check(ctx, &tg, net, prefix, t, false, &port, err)) < 0)
            return r;
        const char *id = json_get_str(t, "Id");
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "SELECT drain_until FROM elb_targets WHERE tg_arn = ?1 AND "
                                   "id = ?2 AND port = ?3",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, tg.arn);
        db_bind_text(st, 2, id);
        sqlite3_bind_int(st, 3, port);
        int rc = sqlite3_step(st);
        bool draining = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return error_set(err, EINVAL, "InvalidTarget",
                             "The target '%s:%d' is not registered in target group '%s'", id, port,
                             tg.name);
        if (rc != SQLITE_ROW)
            return db_fail(ctx->db, err, "read target");
        if (draining)
            continue;
        /* A target no load balancer sends to has nothing to drain. */
        if (!used || delay == 0)
            st =
                db_stmt(ctx->db,
                        "DELETE FROM elb_targets WHERE tg_arn = ?1 AND id = ?2 AND port = ?3", err);
        else
            st = db_stmt(ctx->db,
                         "UPDATE elb_targets SET drain_until = ?4 WHERE tg_arn = ?1 AND id = ?2 "
                         "AND port = ?3",
                         err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, tg.arn);
        db_bind_text(st, 2, id);
        sqlite3_bind_int(st, 3, port);
        if (used && delay)
            sqlite3_bind_int64(st, 4, ctx->now_ms + delay);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    return db_commit(ctx->db, err);
}

static json_t *health_of(const char *state, const char *reason)
{
    static const struct {
        const char *reason, *text;
    } texts[] = {
        {"Elb.RegistrationInProgress", "Target registration is in progress"},
        {"Elb.InitialHealthChecking", "Initial health checks in progress"},
        {"Target.NotInUse", "Target group is not configured to receive traffic from the load "
                            "balancer"},
        {"Target.NotRegistered", "Target is not registered to the target group"},
        {"Target.DeregistrationInProgress", "Target deregistration is in progress"},
        {"Target.ResponseCodeMismatch", "Health checks failed with these codes"},
        {"Target.Timeout", "Request timed out"},
        {"Target.FailedHealthChecks", "Health checks failed"},
    };
    json_t *h = json_pack("{s:s}", "State", state);
    if (reason && *reason) {
        json_object_set_new(h, "Reason", json_string(reason));
        for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
            if (!strcmp(texts[i].reason, reason))
                json_object_set_new(h, "Description", json_string(texts[i].text));
    }
    return h;
}

static json_t *description(const char *id, int port, const char *az, const char *hc_port,
                           json_t *health)
{
    json_t *target = json_pack("{s:s, s:i}", "Id", id, "Port", port);
    if (az && *az)
        json_object_set_new(target, "AvailabilityZone", json_string(az));
    _cleanup_free_ char *p =
        strcmp(hc_port, "traffic-port") ? xstrdup(hc_port) : xasprintf("%d", port);
    return json_pack("{s:o, s:s, s:o}", "Target", target, "HealthCheckPort", p, "TargetHealth",
                     health);
}

int elb_describe_target_health(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                               struct error **err)
{
    struct elb_tg tg;
    bool used;
    int r = elb_tg_find(ctx, json_get_str(in, "TargetGroupArn"), &tg, err);
    if (r < 0 || (r = tg_in_use(ctx, tg.arn, &used, err)) < 0)
        return r;
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT health_check FROM elb_target_groups WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg.arn);
    _cleanup_json_ json_t *hc =
        sqlite3_step(st) == SQLITE_ROW ? json_parse_trusted(db_col_text(st, 0)) : json_object();
    sqlite3_reset(st);
    const char *hc_port = json_get_str(hc, "HealthCheckPort");
    if (!hc_port)
        hc_port = "traffic-port";

    const json_t *asked = json_get_array(in, "Targets");
    _cleanup_json_ json_t *out = json_array();
    st = db_stmt(ctx->db,
                 "SELECT id, port, az, state, reason, drain_until FROM elb_targets "
                 "WHERE tg_arn = ?1 AND (drain_until IS NULL OR drain_until > ?2) "
                 "ORDER BY registered_at, id, port",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg.arn);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    _cleanup_json_ json_t *seen = json_object();
    _cleanup_json_ json_t *all = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = db_col_text(st, 0);
        int port = sqlite3_column_int(st, 1);
        _cleanup_free_ char *key = xasprintf("%s:%d", id, port);
        json_t *health;
        if (sqlite3_column_type(st, 5) != SQLITE_NULL)
            health = health_of("draining", "Target.DeregistrationInProgress");
        else if (!used)
            health = health_of("unused", "Target.NotInUse");
        else
            health = health_of(db_col_text(st, 3), db_col_text(st, 4));
        json_t *d = description(id, port, db_col_text(st, 2), hc_port, health);
        json_object_set_new(seen, key, d);
        json_array_append(all, d);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read targets");
    if (json_array_size(asked) == 0) {
        json_array_extend(out, all);
    } else {
        size_t i;
        json_t *t;
        uint32_t net;
        int prefix;
        r = elb_vpc_cidr(ctx, tg.vpc_id, &net, &prefix, err);
        if (r < 0 && r != -ENOENT)
            return r;
        json_array_foreach(asked, i, t)
        {
            int port;
            if (r == 0 && (r = target_check(ctx, &tg, net, prefix, t, false, &port, err)) < 0)
                return r;
            if (r == -ENOENT)
                port = (int)json_get_int(t, "Port", tg.port);
            _cleanup_free_ char *key = xasprintf("%s:%d", json_get_str(t, "Id"), port);
            json_t *d = json_object_get(seen, key);
            if (d)
                json_array_append(out, d);
            else
                json_array_append_new(out,
                                      description(json_get_str(t, "Id"), port, NULL, hc_port,
                                                  health_of("unused", "Target.NotRegistered")));
        }
    }
    *ret_out = json_pack("{s:O}", "TargetHealthDescriptions", out);
    return 0;
}
