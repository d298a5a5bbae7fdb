/* Shared pieces of the ELBv2 API: ARNs, names, lookups, pagination, tags. */
#include "elb/elb-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *elb_arn(const struct api_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *tail = xvasprintf(fmt, ap);
    va_end(ap);
    return xasprintf("arn:aws:elasticloadbalancing:%s:%s:%s", ctx->region, ctx->account->account_id,
                     tail);
}

void elb_id_new(char out[17])
{
    uint8_t r[8];
    hash_random(r, sizeof(r));
    hash_hex(r, sizeof(r), out);
}

char *elb_timestamp(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[32];
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    return xasprintf("%s.%03dZ", s, (int)(ms % 1000));
}

bool elb_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 32 || name[0] == '-' || name[n - 1] == '-')
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-')
            return false;
    return true;
}

int elb_ipv4_parse(const char *s, uint32_t *ret)
{
    unsigned a[4];
    char tail;
    if (!s || sscanf(s, "%3u.%3u.%3u.%3u%c", &a[0], &a[1], &a[2], &a[3], &tail) != 4)
        return -EINVAL;
    for (const char *c = s; *c; c++)
        if (!strchr("0123456789.", *c))
            return -EINVAL;
    if (a[0] > 255 || a[1] > 255 || a[2] > 255 || a[3] > 255)
        return -EINVAL;
    *ret = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
    return 0;
}

int elb_vpc_cidr(struct api_ctx *ctx, const char *vpc_id, uint32_t *ret_net, int *ret_prefix,
                 struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT cidr FROM ec2_vpcs WHERE id = ?1 AND account = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, vpc_id);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    int r = -ENOENT;
    if (rc == SQLITE_ROW) {
        _cleanup_free_ char *cidr = xstrdup(db_col_text(st, 0));
        char *slash = strchr(cidr, '/');
        if (slash) {
            *slash = '\0';
            uint32_t net;
            if (elb_ipv4_parse(cidr, &net) == 0) {
                *ret_net = net;
                *ret_prefix = atoi(slash + 1);
                r = 0;
            }
        }
    } else if (rc != SQLITE_DONE) {
        r = db_fail(ctx->db, err, "read vpc");
    }
    sqlite3_reset(st);
    return r;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
}

int elb_lb_find(struct api_ctx *ctx, const char *arn, struct elb_lb *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT name, type, vpc_id FROM elb_load_balancers "
                               "WHERE arn = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy(ret->arn, sizeof(ret->arn), arn);
        copy(ret->name, sizeof(ret->name), db_col_text(st, 0));
        copy(ret->type, sizeof(ret->type), db_col_text(st, 1));
        copy(ret->vpc_id, sizeof(ret->vpc_id), db_col_text(st, 2));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ELB_LB_NOT_FOUND, "Load balancer '%.300s' not found", arn);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "read load balancer");
}

int elb_tg_find(struct api_ctx *ctx, const char *arn, struct elb_tg *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT name, protocol, port, vpc_id FROM elb_target_groups "
                               "WHERE arn = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy(ret->arn, sizeof(ret->arn), arn);
        copy(ret->name, sizeof(ret->name), db_col_text(st, 0));
        copy(ret->protocol, sizeof(ret->protocol), db_col_text(st, 1));
        ret->port = sqlite3_column_int(st, 2);
        copy(ret->vpc_id, sizeof(ret->vpc_id), db_col_text(st, 3));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ELB_TG_NOT_FOUND, "Target group '%.300s' not found", arn);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "read target group");
}

int elb_listener_find(struct api_ctx *ctx, const char *arn, struct elb_listener *ret,
                      struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT lb_arn, protocol, port FROM elb_listeners "
                               "WHERE arn = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy(ret->arn, sizeof(ret->arn), arn);
        copy(ret->lb_arn, sizeof(ret->lb_arn), db_col_text(st, 0));
        copy(ret->protocol, sizeof(ret->protocol), db_col_text(st, 1));
        ret->port = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ELB_LISTENER_NF, "Listener '%.300s' not found", arn);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read listener");
    return elb_lb_find(ctx, ret->lb_arn, &ret->lb, err);
}

int elb_page(const json_t *in, const json_t *items, const char *member, json_t *out,
             struct error **err)
{
    json_int_t size = json_get_int(in, "PageSize", ELB_PAGE_MAX);
    if (size < 1 || size > ELB_PAGE_MAX)
        return error_set(err, EINVAL, ELB_VALIDATION, "PageSize must be between 1 and %d",
                         ELB_PAGE_MAX);
    const char *marker = json_get_str(in, "Marker");
    _cleanup_free_ char *after = NULL;
    if (marker) {
        size_t n = strlen(marker);
        _cleanup_free_ uint8_t *raw = xmalloc(n * 3 / 4 + 4);
        long len = hash_b64url_decode(marker, n, raw);
        if (len <= 0 || memchr(raw, '\0', (size_t)len))
            return error_set(err, EINVAL, ELB_VALIDATION, "The marker '%.64s' is not valid",
                             marker);
        after = xstrndup((const char *)raw, (size_t)len);
    }
    json_t *page = json_array();
    size_t i;
    json_t *it;
    const char *last = NULL;
    bool more = false;
    json_array_foreach(items, i, it)
    {
        const char *key = json_get_str(it, "key");
        if (after && strcmp(key, after) <= 0)
            continue;
        if ((json_int_t)json_array_size(page) == size) {
            more = true;
            break;
        }
        json_array_append(page, json_object_get(it, "doc"));
        last = key;
    }
    json_object_set_new(out, member, page);
    if (more) {
        _cleanup_free_ char *next = hash_b64url_encode(last, strlen(last));
        json_object_set_new(out, "NextMarker", json_string(next));
    }
    return 0;
}

size_t elb_unique_count(const json_t *list)
{
    _cleanup_json_ json_t *set = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_string_value(v))
            json_object_set_new(set, json_string_value(v), json_true());
    }
    return json_object_size(set);
}

int elb_tags_check(const json_t *tags, struct error **err)
{
    if (json_array_size(tags) > ELB_MAX_TAGS)
        return error_set(err, EINVAL, "TooManyTags", "A resource can have at most %d tags",
                         ELB_MAX_TAGS);
    size_t i, j;
    json_t *t, *u;
    json_array_foreach(tags, i, t)
    {
        const char *k = json_get_str(t, "Key");
        if (!k || !*k || strlen(k) > 128)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "A tag key must be 1 to 128 characters long");
        const char *v = json_get_str(t, "Value");
        if (v && strlen(v) > 256)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "A tag value must be at most 256 characters long");
        if (!strncmp(k, "aws:", 4))
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Tag keys starting with 'aws:' are reserved");
        json_array_foreach(tags, j, u)
        {
            if (j < i && !strcmp(json_get_str(u, "Key"), k))
                return error_set(err, EINVAL, "DuplicateTagKeys", "Tag key '%.128s' is duplicated",
                                 k);
        }
    }
    return 0;
}

int elb_tags_put(struct api_ctx *ctx, const char *arn, const json_t *tags, struct error **err)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "INSERT OR REPLACE INTO elb_tags(arn, account, key, value) "
                                   "VALUES (?1, ?2, ?3, ?4)",
                                   err);
        if (!st)
            return -EIO;
        const char *v = json_get_str(t, "Value");
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, ctx->account->account_id);
        db_bind_text(st, 3, json_get_str(t, "Key"));
        db_bind_text(st, 4, v ? v : "");
        int r = db_exec_stmt(ctx->db, st, err);
        if (r < 0)
            return r;
    }
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT COUNT(*) FROM elb_tags WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n > ELB_MAX_TAGS)
        return error_set(err, EINVAL, "TooManyTags", "A resource can have at most %d tags",
                         ELB_MAX_TAGS);
    return 0;
}

int elb_tags_drop(struct api_ctx *ctx, const char *arn, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, "DELETE FROM elb_tags WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    return db_exec_stmt(ctx->db, st, err);
}

int elb_rule_tgs_set(struct api_ctx *ctx, const char *rule_arn, const char *listener_arn,
                     const char *lb_arn, const json_t *tgs, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, "DELETE FROM elb_rule_tgs WHERE rule_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, rule_arn);
    int r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    size_t i;
    json_t *tg;
    json_array_foreach(tgs, i, tg)
    {
        /* As on AWS, a target group serves one load balancer. */
        st = db_stmt(ctx->db, "SELECT 1 FROM elb_rule_tgs WHERE tg_arn = ?1 AND lb_arn != ?2", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, json_string_value(tg));
        db_bind_text(st, 2, lb_arn);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
            return error_set(err, EINVAL, "TargetGroupAssociationLimit",
                             "The target group '%.300s' is already associated with another "
                             "load balancer",
                             json_string_value(tg));
        st = db_stmt(ctx->db,
                     "INSERT OR IGNORE INTO elb_rule_tgs(rule_arn, listener_arn, lb_arn, tg_arn) "
                     "VALUES (?1, ?2, ?3, ?4)",
                     err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, rule_arn);
        db_bind_text(st, 2, listener_arn);
        db_bind_text(st, 3, lb_arn);
        db_bind_text(st, 4, json_string_value(tg));
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    return 0;
}
