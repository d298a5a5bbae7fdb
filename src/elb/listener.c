/* Listeners: CreateListener, DescribeListeners, ModifyListener,
 * DeleteListener. HTTP on application load balancers, TCP on network ones
 * (HTTPS and TLS need certificates, which skiff does not manage yet). A
 * listener's default actions are stored as its default rule. */
#include "elb/elb-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int protocol_check(const struct elb_lb *lb, const char *protocol, const json_t *in,
                          struct error **err)
{
    const char *want = !strcmp(lb->type, "application") ? "HTTP" : "TCP";
    if (json_array_size(json_get_array(in, "Certificates")) || json_get_str(in, "SslPolicy") ||
        json_array_size(json_get_array(in, "AlpnPolicy")))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Certificates, SSL policies and ALPN policies are not supported: skiff "
                         "listeners are %s",
                         want);
    if (!protocol)
        return error_set(err, EINVAL, ELB_VALIDATION, "A listener protocol must be specified");
    if (strcmp(protocol, want) != 0)
        return error_set(err, EINVAL, ELB_UNSUPPORTED_PROT,
                         "Protocol '%.16s' is not supported for %s load balancers: use %s",
                         protocol, lb->type, want);
    return 0;
}

static int port_free(struct api_ctx *ctx, const char *lb_arn, int port, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT 1 FROM elb_listeners WHERE lb_arn = ?1 AND port = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, lb_arn);
    sqlite3_bind_int(st, 2, port);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return error_set(err, EEXIST, "DuplicateListener",
                         "A listener already exists on port %d of this load balancer", port);
    return rc == SQLITE_DONE ? 0 : db_fail(ctx->db, err, "read listeners");
}

/* Every load balancer of a host listens on one address (docs/elb.md): a
 * port another load balancer, of any account, listens on is taken. */
static int port_free_on_host(struct api_ctx *ctx, const char *lb_arn, int port, struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        ctx->db, "SELECT 1 FROM elb_listeners WHERE port = ?2 AND lb_arn != ?1 LIMIT 1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, lb_arn);
    sqlite3_bind_int(st, 2, port);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return error_set(err, EINVAL, ELB_INVALID_CONFIG,
                         "Port %d is taken by another load balancer: every load balancer of "
                         "this host listens on one address",
                         port);
    return rc == SQLITE_DONE ? 0 : db_fail(ctx->db, err, "read listeners");
}

static int listener_doc(struct api_ctx *ctx, const char *arn, json_t **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT l.lb_arn, l.port, l.protocol, r.actions FROM elb_listeners "
                               "l JOIN elb_rules r ON r.listener_arn = l.arn AND r.is_default "
                               "WHERE l.arn = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret =
            json_pack("{s:s, s:s, s:i, s:s, s:o}", "ListenerArn", arn, "LoadBalancerArn",
                      db_col_text(st, 0), "Port", sqlite3_column_int(st, 1), "Protocol",
                      db_col_text(st, 2), "DefaultActions", json_parse_trusted(db_col_text(st, 3)));
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "read listener");
}

int elb_create_listener(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *protocol = json_get_str(in, "Protocol");
    const json_t *tags = json_get_array(in, "Tags");
    int r = elb_tags_check(tags, err);
    if (r < 0 || (r = db_begin(ctx->db, err)) < 0)
        return r;
    struct elb_listener l = {0};
    if ((r = elb_lb_find(ctx, json_get_str(in, "LoadBalancerArn"), &l.lb, err)) < 0 ||
        (r = protocol_check(&l.lb, protocol, in, err)) < 0)
        return r;
    if (!json_object_get(in, "Port"))
        return error_set(err, EINVAL, ELB_VALIDATION, "A listener port must be specified");
    json_int_t port = json_get_int(in, "Port", 0);
    if (port < 1 || port > 65535)
        return error_set(err, EINVAL, ELB_VALIDATION, "Port must be between 1 and 65535");
    if ((r = port_free(ctx, l.lb.arn, (int)port, err)) < 0)
        return r;
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT COUNT(*) FROM elb_listeners WHERE lb_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, l.lb.arn);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n >= ELB_MAX_LISTENERS)
        return error_set(err, EINVAL, "TooManyListeners",
                         "A load balancer can have at most %d listeners", ELB_MAX_LISTENERS);
    _cleanup_json_ json_t *actions = NULL, *tgs = NULL;
    if ((r = elb_actions_check(ctx, &l.lb, json_get_array(in, "DefaultActions"), &actions, &tgs,
                               err)) < 0)
        return r;

    char id[17];
    elb_id_new(id);
    const char *tail = strstr(l.lb.arn, ":loadbalancer/");
    snprintf(l.arn, sizeof(l.arn), "%.*s:listener/%s/%s", (int)(tail - l.lb.arn), l.lb.arn,
             tail + strlen(":loadbalancer/"), id);
    snprintf(l.lb_arn, sizeof(l.lb_arn), "%s", l.lb.arn);
    snprintf(l.protocol, sizeof(l.protocol), "%s", protocol);
    l.port = (int)port;
    st = db_stmt(ctx->db,
                 "INSERT INTO elb_listeners(arn, account, lb_arn, protocol, port, created_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, l.arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, l.lb_arn);
    db_bind_text(st, 4, protocol);
    sqlite3_bind_int(st, 5, l.port);
    sqlite3_bind_int64(st, 6, ctx->now_ms);
    _cleanup_json_ json_t *none = json_array();
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 ||
        (r = elb_rule_insert(ctx, &l, ELB_DEFAULT_PRIORITY, true, none, actions, tgs, NULL, err)) <
            0 ||
        (r = elb_tags_put(ctx, l.arn, tags, err)) < 0 ||
        (r = port_free_on_host(ctx, l.lb_arn, l.port, err)) < 0 ||
        (r = db_commit(ctx->db, err)) < 0)
        return r;
    json_t *doc = NULL;
    if ((r = listener_doc(ctx, l.arn, &doc, err)) < 0)
        return r;
    *ret_out = json_pack("{s:[o]}", "Listeners", doc);
    return 0;
}

static bool list_has(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), s)) return true;
    return false;
}

int elb_describe_listeners(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                           struct error **err)
{
    const char *lb_arn = json_get_str(in, "LoadBalancerArn");
    const json_t *arns = json_get_array(in, "ListenerArns");
    if (!lb_arn == !json_array_size(arns))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Specify either a load balancer ARN or listener ARNs");
    int r;
    if (lb_arn) {
        struct elb_lb lb;
        if ((r = elb_lb_find(ctx, lb_arn, &lb, err)) < 0)
            return r;
    }
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT arn, lb_arn, port FROM elb_listeners WHERE account = ?1 "
                               "AND (?2 IS NULL OR lb_arn = ?2) ORDER BY lb_arn, port",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, lb_arn);
    _cleanup_json_ json_t *keys = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(arns) && !list_has(arns, db_col_text(st, 0)))
            continue;
        _cleanup_free_ char *key =
            xasprintf("%s/%05d", db_col_text(st, 1), sqlite3_column_int(st, 2));
        json_array_append_new(keys, json_pack("{s:s, s:s}", "key", key, "arn", db_col_text(st, 0)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read listeners");
    if (json_array_size(keys) < elb_unique_count(arns))
        return error_set(err, ENOENT, ELB_LISTENER_NF, "One or more listeners not found");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        json_t *doc = NULL;
        if ((r = listener_doc(ctx, json_get_str(k, "arn"), &doc, err)) < 0)
            return r;
        json_object_set_new(k, "doc", doc);
    }
    json_t *out = json_object();
    if ((r = elb_page(in, keys, "Listeners", out, err)) < 0) {
        json_decref(out);
        return r;
    }
    *ret_out = out;
    return 0;
}

int elb_modify_listener(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_listener l;
    if ((r = elb_listener_find(ctx, json_get_str(in, "ListenerArn"), &l, err)) < 0)
        return r;
    const char *protocol = json_get_str(in, "Protocol");
    if ((r = protocol_check(&l.lb, protocol ? protocol : l.protocol, in, err)) < 0)
        return r;
    if (json_object_get(in, "Port")) {
        json_int_t port = json_get_int(in, "Port", 0);
        if (port < 1 || port > 65535)
            return error_set(err, EINVAL, ELB_VALIDATION, "Port must be between 1 and 65535");
        if (port != l.port) {
            if ((r = port_free(ctx, l.lb_arn, (int)port, err)) < 0 ||
                (r = port_free_on_host(ctx, l.lb_arn, (int)port, err)) < 0)
                return r;
            sqlite3_stmt *st =
                db_stmt(ctx->db, "UPDATE elb_listeners SET port = ?2 WHERE arn = ?1", err);
            if (!st)
                return -EIO;
            db_bind_text(st, 1, l.arn);
            sqlite3_bind_int(st, 2, (int)port);
            if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
                return r;
        }
    }
    const json_t *defaults = json_get_array(in, "DefaultActions");
    if (defaults) {
        _cleanup_json_ json_t *actions = NULL, *tgs = NULL;
        if ((r = elb_actions_check(ctx, &l.lb, defaults, &actions, &tgs, err)) < 0)
            return r;
        sqlite3_stmt *st = db_stmt(
            ctx->db, "SELECT arn FROM elb_rules WHERE listener_arn = ?1 AND is_default", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, l.arn);
        _cleanup_free_ char *rule =
            sqlite3_step(st) == SQLITE_ROW ? xstrdup(db_col_text(st, 0)) : NULL;
        sqlite3_reset(st);
        if (!rule)
            return db_fail(ctx->db, err, "read default rule");
        _cleanup_free_ char *s = json_dump_compact(actions);
        st = db_stmt(ctx->db, "UPDATE elb_rules SET actions = ?2 WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, rule);
        db_bind_text(st, 2, s);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0 ||
            (r = elb_rule_tgs_set(ctx, rule, l.arn, l.lb_arn, tgs, err)) < 0)
            return r;
    }
    if ((r = db_commit(ctx->db, err)) < 0)
        return r;
    json_t *doc = NULL;
    if ((r = listener_doc(ctx, l.arn, &doc, err)) < 0)
        return r;
    *ret_out = json_pack("{s:[o]}", "Listeners", doc);
    return 0;
}

int elb_delete_listener(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_listener l;
    if ((r = elb_listener_find(ctx, json_get_str(in, "ListenerArn"), &l, err)) < 0 ||
        (r = elb_rules_drop(ctx, l.arn, NULL, err)) < 0 || (r = elb_tags_drop(ctx, l.arn, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db, "DELETE FROM elb_listeners WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, l.arn);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        return r;
    return db_commit(ctx->db, err);
}
