/* Target groups: CreateTargetGroup, DescribeTargetGroups,
 * ModifyTargetGroup, DeleteTargetGroup and their attributes. Only target
 * type ip: load balancers forward to task addresses, never to hosts. The
 * health check settings are stored as the Describe fields they answer. */
#include "elb/elb-internal.h"
#include "elb/attrs.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TG_COLUMNS "arn, name, protocol, port, vpc_id, target_type, health_check"

/* AWS's defaults per target group protocol. */
static json_t *health_defaults(const char *protocol)
{
    if (!strcmp(protocol, "HTTP"))
        return json_pack("{s:s, s:s, s:b, s:s, s:i, s:i, s:i, s:i, s:{s:s}}", "HealthCheckProtocol",
                         "HTTP", "HealthCheckPort", "traffic-port", "HealthCheckEnabled", 1,
                         "HealthCheckPath", "/", "HealthCheckIntervalSeconds", 30,
                         "HealthCheckTimeoutSeconds", 5, "HealthyThresholdCount", 5,
                         "UnhealthyThresholdCount", 2, "Matcher", "HttpCode", "200");
    return json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:i}", "HealthCheckProtocol", "TCP",
                     "HealthCheckPort", "traffic-port", "HealthCheckEnabled", 1,
                     "HealthCheckIntervalSeconds", 30, "HealthCheckTimeoutSeconds", 10,
                     "HealthyThresholdCount", 5, "UnhealthyThresholdCount", 2);
}

/* "200", "200,202" or "200-299"; codes 200-499. */
static bool http_codes_valid(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    _cleanup_free_ char *copy = xstrdup(s);
    char *save = NULL;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *end;
        long lo = strtol(part, &end, 10), hi = lo;
        if (end == part)
            return false;
        if (*end == '-') {
            char *p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p)
                return false;
        }
        if (*end || lo < 200 || hi > 499 || lo > hi)
            return false;
    }
    return true;
}

/* Applies the health check members of in to h (a Create or Modify call on
 * a target group of protocol). */
static int health_apply(const char *protocol, json_t *h, const json_t *in, struct error **err)
{
    const char *hp = json_get_str(in, "HealthCheckProtocol");
    if (hp) {
        bool ok = !strcmp(hp, "HTTP") || (!strcmp(protocol, "TCP") && !strcmp(hp, "TCP"));
        if (!ok)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Health check protocol '%.16s' is not supported for target groups "
                             "with protocol %s",
                             hp, protocol);
        json_object_set_new(h, "HealthCheckProtocol", json_string(hp));
        if (!strcmp(hp, "HTTP") && !json_object_get(h, "HealthCheckPath")) {
            json_object_set_new(h, "HealthCheckPath", json_string("/"));
            json_object_set_new(h, "Matcher", json_pack("{s:s}", "HttpCode", "200"));
        }
        if (!strcmp(hp, "TCP")) {
            json_object_del(h, "HealthCheckPath");
            json_object_del(h, "Matcher");
        }
    }
    bool http_check = !strcmp(json_get_str(h, "HealthCheckProtocol"), "HTTP");
    const char *port = json_get_str(in, "HealthCheckPort");
    if (port) {
        char *end;
        long n = strtol(port, &end, 10);
        if (strcmp(port, "traffic-port") != 0 && (!*port || *end || n < 1 || n > 65535))
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Health check port '%.16s' must be 'traffic-port' or 1-65535", port);
        json_object_set_new(h, "HealthCheckPort", json_string(port));
    }
    const char *path = json_get_str(in, "HealthCheckPath");
    if (path) {
        if (!http_check)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "A health check path can only be set for HTTP health checks");
        if (path[0] != '/' || strlen(path) > 1024)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Health check path must start with '/' and be at most 1024 "
                             "characters long");
        for (const char *c = path; *c; c++)
            if (!isgraph((unsigned char)*c))
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "Health check path contains a character that is not allowed");
        json_object_set_new(h, "HealthCheckPath", json_string(path));
    }
    const json_t *matcher = json_get_object(in, "Matcher");
    if (matcher) {
        const char *codes = json_get_str(matcher, "HttpCode");
        if (!http_check)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "A matcher can only be set for HTTP health checks");
        if (json_get_str(matcher, "GrpcCode"))
            return error_set(err, EINVAL, ELB_VALIDATION, "gRPC matchers are not supported");
        if (!codes || !http_codes_valid(codes))
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Matcher HttpCode '%.64s' is not valid: codes 200-499 as '200', "
                             "'200,202' or '200-299'",
                             codes ? codes : "");
        json_object_set_new(h, "Matcher", json_pack("{s:s}", "HttpCode", codes));
    }
    if (json_object_get(in, "HealthCheckEnabled")) {
        if (!json_get_bool(in, "HealthCheckEnabled", true))
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Health checks cannot be disabled for target groups of type ip");
    }
    static const char *const ints[] = {"HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                                       "HealthyThresholdCount", "UnhealthyThresholdCount"};
    static const int lo[] = {5, 2, 2, 2}, hi[] = {300, 120, 10, 10};
    for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
        json_t *v = json_object_get(in, ints[i]);
        if (!v)
            continue;
        json_int_t n = json_integer_value(v);
        if (n < lo[i] || n > hi[i])
            return error_set(err, EINVAL, ELB_VALIDATION, "%s must be between %d and %d", ints[i],
                             lo[i], hi[i]);
        json_object_set(h, ints[i], v);
    }
    if (json_get_int(h, "HealthCheckTimeoutSeconds", 0) >=
        json_get_int(h, "HealthCheckIntervalSeconds", 0))
        return error_set(err, EINVAL, ELB_INVALID_CONFIG,
                         "Health check timeout must be smaller than the interval");
    return 0;
}

static int tg_doc(struct api_ctx *ctx, sqlite3_stmt *row, json_t **ret, struct error **err)
{
    const char *arn = db_col_text(row, 0);
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "TargetGroupArn", arn,
                  "TargetGroupName", db_col_text(row, 1), "Protocol", db_col_text(row, 2), "Port",
                  sqlite3_column_int(row, 3), "VpcId", db_col_text(row, 4), "TargetType",
                  db_col_text(row, 5), "IpAddressType", "ipv4", "ProtocolVersion", "HTTP1");
    if (strcmp(db_col_text(row, 2), "HTTP") != 0)
        json_object_del(doc, "ProtocolVersion");
    _cleanup_json_ json_t *h = json_parse_trusted(db_col_text(row, 6));
    json_object_update(doc, h);
    json_t *lbs = json_array();
    json_object_set_new(doc, "LoadBalancerArns", lbs);
    sqlite3_stmt *st = db_stmt(
        ctx->db, "SELECT DISTINCT lb_arn FROM elb_rule_tgs WHERE tg_arn = ?1 ORDER BY lb_arn", err);
    if (!st) {
        json_decref(doc);
        return -EIO;
    }
    db_bind_text(st, 1, arn);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(lbs, json_string(db_col_text(st, 0)));
    sqlite3_reset(st);
    *ret = doc;
    return 0;
}

static int tg_answer(struct api_ctx *ctx, const char *arn, json_t **ret_out, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT " TG_COLUMNS " FROM elb_target_groups WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int r;
    json_t *doc = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        r = tg_doc(ctx, st, &doc, err);
    else
        r = db_fail(ctx->db, err, "read target group");
    sqlite3_reset(st);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:[o]}", "TargetGroups", doc);
    return 0;
}

int elb_create_target_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                            struct error **err)
{
    const char *name = json_get_str(in, "Name");
    const char *protocol = json_get_str(in, "Protocol");
    const char *vpc = json_get_str(in, "VpcId");
    const char *target_type = json_get_str(in, "TargetType");
    const char *version = json_get_str(in, "ProtocolVersion");
    const char *ip_type = json_get_str(in, "IpAddressType");
    if (!target_type)
        target_type = "instance";
    if (!elb_name_valid(name))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Target group name '%.64s' is not valid: 1-32 letters, digits and "
                         "hyphens, not starting or ending with a hyphen",
                         name);
    if (strcmp(target_type, "ip") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Target type '%.16s' is not supported: skiff tasks have their own "
                         "network interfaces (awsvpc), so target groups register task IP "
                         "addresses; use TargetType ip",
                         target_type);
    if (!protocol || !json_object_get(in, "Port") || !vpc)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "A protocol, a port and a VPC ID are required for target groups of "
                         "type ip");
    if (strcmp(protocol, "HTTP") != 0 && strcmp(protocol, "TCP") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Target group protocol '%.16s' is not supported: HTTP or TCP", protocol);
    if (version && (strcmp(protocol, "HTTP") != 0 || strcmp(version, "HTTP1") != 0))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Protocol version '%.16s' is not supported: HTTP1 with HTTP", version);
    if (ip_type && strcmp(ip_type, "ipv4") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "IP address type must be ipv4");
    json_int_t port = json_get_int(in, "Port", 0);
    if (port < 1 || port > 65535)
        return error_set(err, EINVAL, ELB_VALIDATION, "Port must be between 1 and 65535");
    _cleanup_json_ json_t *health = health_defaults(protocol);
    const json_t *tags = json_get_array(in, "Tags");
    int r;
    if ((r = health_apply(protocol, health, in, err)) < 0 || (r = elb_tags_check(tags, err)) < 0)
        return r;

    if ((r = db_begin(ctx->db, err)) < 0)
        return r;
    uint32_t net;
    int prefix;
    r = elb_vpc_cidr(ctx, vpc, &net, &prefix, err);
    if (r == -ENOENT)
        return error_set(err, ENOENT, ELB_VALIDATION, "The VPC ID '%.64s' is not found", vpc);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT COUNT(*), SUM(name = ?2) FROM elb_target_groups "
                               "WHERE account = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, name);
    int rc = sqlite3_step(st);
    int count = sqlite3_column_int(st, 0), same = sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "count target groups");
    if (same)
        return error_set(err, EEXIST, "DuplicateTargetGroupName",
                         "A target group with the same name '%s' exists", name);
    if (count >= ELB_MAX_TGS)
        return error_set(err, EINVAL, "TooManyTargetGroups",
                         "You have reached the limit of %d target groups", ELB_MAX_TGS);
    char id[17];
    elb_id_new(id);
    _cleanup_free_ char *arn = elb_arn(ctx, "targetgroup/%s/%s", name, id);
    _cleanup_json_ json_t *attrs = elb_attrs_defaults(ELB_ATTRS_TG, protocol);
    _cleanup_free_ char *health_s = json_dump_compact(health);
    _cleanup_free_ char *attrs_s = json_dump_compact(attrs);
    st = db_stmt(ctx->db,
                 "INSERT INTO elb_target_groups(arn, account, name, protocol, port, vpc_id, "
                 "target_type, health_check, attributes, created_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ip', ?7, ?8, ?9)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, name);
    db_bind_text(st, 4, protocol);
    sqlite3_bind_int(st, 5, (int)port);
    db_bind_text(st, 6, vpc);
    db_bind_text(st, 7, health_s);
    db_bind_text(st, 8, attrs_s);
    sqlite3_bind_int64(st, 9, ctx->now_ms);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = elb_tags_put(ctx, arn, tags, err)) < 0 ||
        (r = db_commit(ctx->db, err)) < 0)
        return r;
    return tg_answer(ctx, arn, ret_out, err);
}

static bool list_has(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), s)) return true;
    return false;
}

int elb_describe_target_groups(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                               struct error **err)
{
    const char *lb_arn = json_get_str(in, "LoadBalancerArn");
    const json_t *arns = json_get_array(in, "TargetGroupArns");
    const json_t *names = json_get_array(in, "Names");
    if ((lb_arn != NULL) + (json_array_size(arns) > 0) + (json_array_size(names) > 0) > 1)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Only one of LoadBalancerArn, TargetGroupArns and Names can be given");
    int r;
    if (lb_arn) {
        struct elb_lb lb;
        if ((r = elb_lb_find(ctx, lb_arn, &lb, err)) < 0)
            return r;
    }
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " TG_COLUMNS " FROM elb_target_groups WHERE account = ?1 "
                               "AND (?2 IS NULL OR arn IN (SELECT tg_arn FROM elb_rule_tgs "
                               "WHERE lb_arn = ?2)) ORDER BY name",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, lb_arn);
    _cleanup_json_ json_t *items = json_array();
    size_t found = 0;
    int rc;
    r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(arns) && !list_has(arns, db_col_text(st, 0)))
            continue;
        if (json_array_size(names) && !list_has(names, db_col_text(st, 1)))
            continue;
        found++;
        json_t *doc = NULL;
        /* tg_doc steps another statement: keep the key first. */
        _cleanup_free_ char *key = xstrdup(db_col_text(st, 1));
        if ((r = tg_doc(ctx, st, &doc, err)) < 0)
            break;
        json_array_append_new(items, json_pack("{s:s, s:o}", "key", key, "doc", doc));
    }
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read target groups");
    if (found < elb_unique_count(arns) + elb_unique_count(names))
        return error_set(err, ENOENT, ELB_TG_NOT_FOUND, "One or more target groups not found");
    json_t *out = json_object();
    if ((r = elb_page(in, items, "TargetGroups", out, err)) < 0) {
        json_decref(out);
        return r;
    }
    *ret_out = out;
    return 0;
}

int elb_modify_target_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                            struct error **err)
{
    const char *arn = json_get_str(in, "TargetGroupArn");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_tg tg;
    if ((r = elb_tg_find(ctx, arn, &tg, err)) < 0)
        return r;
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT health_check FROM elb_target_groups WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    _cleanup_json_ json_t *h = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        h = json_parse_trusted(db_col_text(st, 0));
    sqlite3_reset(st);
    if (!h)
        return db_fail(ctx->db, err, "read target group");
    if ((r = health_apply(tg.protocol, h, in, err)) < 0)
        return r;
    _cleanup_free_ char *s = json_dump_compact(h);
    st = db_stmt(ctx->db, "UPDATE elb_target_groups SET health_check = ?2 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, s);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        return r;
    return tg_answer(ctx, arn, ret_out, err);
}

int elb_delete_target_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                            struct error **err)
{
    (void)ret_out;
    const char *arn = json_get_str(in, "TargetGroupArn");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_tg tg;
    r = elb_tg_find(ctx, arn, &tg, err);
    /* As on AWS, deleting a target group that is gone succeeds. */
    if (r == -ENOENT) {
        error_freep(err);
        return 0;
    }
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT 1 FROM elb_rule_tgs WHERE tg_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return error_set(err, EBUSY, ELB_IN_USE,
                         "Target group '%.300s' is currently in use by a listener or a rule", arn);
    static const char *const drops[] = {
        "DELETE FROM elb_targets WHERE tg_arn = ?1",
        "DELETE FROM elb_tags WHERE arn = ?1",
        "DELETE FROM elb_target_groups WHERE arn = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(drops); i++) {
        st = db_stmt(ctx->db, drops[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    return db_commit(ctx->db, err);
}

static int tg_attrs_read(struct api_ctx *ctx, const char *arn, struct elb_tg *tg, json_t **ret,
                         struct error **err)
{
    int r = elb_tg_find(ctx, arn, tg, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT attributes FROM elb_target_groups WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = json_parse_trusted(db_col_text(st, 0));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "read target group");
}

int elb_describe_target_group_attributes(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                         struct error **err)
{
    struct elb_tg tg;
    _cleanup_json_ json_t *attrs = NULL;
    int r = tg_attrs_read(ctx, json_get_str(in, "TargetGroupArn"), &tg, &attrs, err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:o}", "Attributes", elb_attrs_list(attrs));
    return 0;
}

int elb_modify_target_group_attributes(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                       struct error **err)
{
    const char *arn = json_get_str(in, "TargetGroupArn");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_tg tg;
    _cleanup_json_ json_t *attrs = NULL;
    if ((r = tg_attrs_read(ctx, arn, &tg, &attrs, err)) < 0 ||
        (r = elb_attrs_apply(ELB_ATTRS_TG, tg.protocol, attrs, json_get_array(in, "Attributes"),
                             err)) < 0)
        return r;
    _cleanup_free_ char *s = json_dump_compact(attrs);
    sqlite3_stmt *st =
        db_stmt(ctx->db, "UPDATE elb_target_groups SET attributes = ?2 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, s);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "Attributes", elb_attrs_list(attrs));
    return 0;
}
