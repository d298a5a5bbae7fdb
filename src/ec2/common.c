/* Shared pieces of the EC2 API: CIDRs, ids, filters, the default VPC. */
#include "ec2/ec2-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ec2_cidr_parse(const char *s, struct ec2_cidr *ret)
{
    unsigned a[4], p;
    char tail;
    if (!s || sscanf(s, "%3u.%3u.%3u.%3u/%2u%c", &a[0], &a[1], &a[2], &a[3], &p, &tail) != 5)
        return -EINVAL;
    /* sscanf accepts leading spaces and signs; AWS does not. */
    for (const char *c = s; *c; c++)
        if (!strchr("0123456789./", *c))
            return -EINVAL;
    if (a[0] > 255 || a[1] > 255 || a[2] > 255 || a[3] > 255 || p > 32)
        return -EINVAL;
    uint32_t addr = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
    uint32_t mask = p ? ~0u << (32 - p) : 0;
    ret->net = addr & mask;
    ret->prefix = (int)p;
    return 0;
}

void ec2_addr_format(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

void ec2_cidr_format(const struct ec2_cidr *c, char out[20])
{
    char a[16];
    ec2_addr_format(c->net, a);
    snprintf(out, 20, "%s/%d", a, c->prefix);
}

static uint32_t mask_of(int prefix)
{
    return prefix ? ~0u << (32 - prefix) : 0;
}

bool ec2_cidr_contains(const struct ec2_cidr *outer, const struct ec2_cidr *inner)
{
    return inner->prefix >= outer->prefix && (inner->net & mask_of(outer->prefix)) == outer->net;
}

bool ec2_cidr_overlap(const struct ec2_cidr *a, const struct ec2_cidr *b)
{
    return ec2_cidr_contains(a, b) || ec2_cidr_contains(b, a);
}

char *ec2_id_new(const char *prefix)
{
    uint8_t r[9];
    char hex[19];
    hash_random(r, sizeof(r));
    hash_hex(r, sizeof(r), hex);
    hex[17] = '\0';
    return xasprintf("%s-%s", prefix, hex);
}

int ec2_dry_run(const json_t *in, struct error **err)
{
    if (json_get_bool(in, "DryRun", false))
        return error_set(err, EEXIST, "DryRunOperation",
                         "Request would have succeeded, but DryRun flag is set.");
    return 0;
}

int ec2_default_vpc_create(struct api_ctx *ctx, struct error **err)
{
    const char *acct = ctx->account->account_id;
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT 1 FROM ec2_accounts WHERE account = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, acct);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read ec2 account");

    _cleanup_free_ char *vpc = ec2_id_new("vpc");
    _cleanup_free_ char *subnet = ec2_id_new("subnet");
    _cleanup_free_ char *sg = ec2_id_new("sg");
    _cleanup_free_ char *az = xasprintf("%sa", ctx->region);
    st = db_stmt(ctx->db,
                 "INSERT INTO ec2_vpcs(id, account, cidr, is_default, created_at) "
                 "VALUES (?1, ?2, '172.31.0.0/16', 1, ?3)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, vpc);
    db_bind_text(st, 2, acct);
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    int r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    /* AWS makes a /20 per availability zone; skiff has one zone. */
    st = db_stmt(ctx->db,
                 "INSERT INTO ec2_subnets(id, account, vpc_id, cidr, net, prefix, az, is_default, "
                 "map_public_ip, created_at) "
                 "VALUES (?1, ?2, ?3, '172.31.0.0/20', ?4, 20, ?5, 1, 1, ?6)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, subnet);
    db_bind_text(st, 2, acct);
    db_bind_text(st, 3, vpc);
    sqlite3_bind_int64(st, 4, (int64_t)(172u << 24 | 31u << 16));
    db_bind_text(st, 5, az);
    sqlite3_bind_int64(st, 6, ctx->now_ms);
    r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    r = ec2_sg_insert(ctx, sg, vpc, "default", "default VPC security group", true, err);
    if (r < 0)
        return r;
    st = db_stmt(ctx->db, "INSERT INTO ec2_accounts(account, default_vpc) VALUES (?1, ?2)", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, acct);
    db_bind_text(st, 2, vpc);
    return db_exec_stmt(ctx->db, st, err);
}

int ec2_default_vpc_ensure(struct api_ctx *ctx, struct error **err)
{
    /* The common case, without the write lock. */
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT 1 FROM ec2_accounts WHERE account = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_create(ctx, err);
    if (r < 0) {
        db_rollback(ctx->db);
        return error_wrap(err, "create the default VPC");
    }
    return db_commit(ctx->db, err);
}

static bool tag_filter_name(const char *name)
{
    return !strncmp(name, "tag:", 4) || !strcmp(name, "tag-key") || !strcmp(name, "tag-value");
}

int ec2_filters_check(const json_t *filters, const char *const *allowed, struct error **err)
{
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        const char *name = json_get_str(f, "Name");
        if (!name)
            return error_set(err, EINVAL, EC2_MISSING,
                             "The request must contain the parameter Filter.%zu.Name", i + 1);
        bool ok = tag_filter_name(name);
        for (const char *const *a = allowed; !ok && *a; a++)
            ok = !strcmp(*a, name);
        if (!ok)
            return error_set(err, EINVAL, EC2_INVALID_VALUE, "The filter '%.128s' is invalid",
                             name);
    }
    return 0;
}

static bool value_match(const json_t *values, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
        const char *pat = json_string_value(v);
        if (pat && s && fnmatch(pat, s, 0) == 0)
            return true;
    }
    return false;
}

static bool one_filter(const json_t *f, const json_t *attrs, const json_t *tags)
{
    const char *name = json_get_str(f, "Name");
    const json_t *values = json_get_array(f, "Values");
    const char *k;
    json_t *v;
    if (!strncmp(name, "tag:", 4)) {
        const char *tv = json_string_value(json_object_get(tags, name + 4));
        return tv && value_match(values, tv);
    }
    if (!strcmp(name, "tag-key")) {
        json_object_foreach((json_t *)tags, k, v) if (value_match(values, k)) return true;
        return false;
    }
    if (!strcmp(name, "tag-value")) {
        json_object_foreach((json_t *)tags, k,
                            v) if (value_match(values, json_string_value(v))) return true;
        return false;
    }
    const json_t *have = json_object_get(attrs, name);
    if (json_is_string(have))
        return value_match(values, json_string_value(have));
    size_t i;
    json_array_foreach(have, i, v) if (value_match(values, json_string_value(v))) return true;
    return false;
}

bool ec2_filters_match(const json_t *filters, const json_t *attrs, const json_t *tags)
{
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f) if (!one_filter(f, attrs, tags)) return false;
    return true;
}

int ec2_ids_check(const json_t *ids, const json_t *found_ids, const char *code, const char *what,
                  struct error **err)
{
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!json_object_get(found_ids, json_string_value(id)))
            return error_set(err, ENOENT, code, "The %s '%.128s' does not exist", what,
                             json_string_value(id));
    }
    return 0;
}

static bool ids_contain(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!strcmp(json_string_value(v), id))
            return true;
    }
    return false;
}

int ec2_describe_walk(struct api_ctx *ctx, sqlite3_stmt *st, const struct ec2_walk *w,
                      json_t **ret_set, struct error **err)
{
    _cleanup_json_ json_t *set = json_array();
    _cleanup_json_ json_t *found = json_object();
    int r = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = db_col_text(st, 0);
        json_object_set_new(found, id, json_true());
        if (json_array_size(w->ids) && !ids_contain(w->ids, id))
            continue;
        _cleanup_json_ json_t *tags = NULL;
        json_t *doc = NULL;
        if ((r = ec2_tags_map(ctx, id, &tags, err)) < 0 ||
            (r = w->row(ctx, st, tags, w->filters, &doc, err)) < 0)
            break;
        if (doc)
            json_array_append_new(set, doc);
    }
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, w->read_what);
    if ((r = ec2_ids_check(w->ids, found, w->not_found, w->id_noun, err)) < 0)
        return r;
    *ret_set = TAKE_PTR(set);
    return 0;
}

int ec2_vpc_exists(struct api_ctx *ctx, const char *id, bool *ret_found, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT 1 FROM ec2_vpcs WHERE id = ?1 AND account = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read vpc");
    *ret_found = rc == SQLITE_ROW;
    return 0;
}
