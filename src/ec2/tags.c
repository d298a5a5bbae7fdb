/* EC2 tags: CreateTags, DeleteTags, DescribeTags, and TagSpecifications on
 * the Create calls. */
#include "ec2/ec2-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define EC2_MAX_TAGS 50

/* Which table holds a resource, by its id prefix. */
static const struct resource_kind {
    const char *prefix;
    const char *type; /* DescribeTags resourceType */
    const char *sql;  /* SELECT 1 ... WHERE id = ?1 AND account = ?2 */
    const char *not_found;
} kinds[] = {
    {"vpc-", "vpc", "SELECT 1 FROM ec2_vpcs WHERE id = ?1 AND account = ?2",
     "InvalidVpcID.NotFound"},
    {"subnet-", "subnet", "SELECT 1 FROM ec2_subnets WHERE id = ?1 AND account = ?2",
     "InvalidSubnetID.NotFound"},
    {"sg-", "security-group", "SELECT 1 FROM ec2_security_groups WHERE id = ?1 AND account = ?2",
     "InvalidGroup.NotFound"},
    {"sgr-", "security-group-rule", "SELECT 1 FROM ec2_sg_rules WHERE id = ?1 AND account = ?2",
     "InvalidSecurityGroupRuleId.NotFound"},
    {"eni-", "network-interface", "SELECT 1 FROM ec2_enis WHERE id = ?1 AND account = ?2",
     "InvalidNetworkInterfaceID.NotFound"},
};

static const struct resource_kind *kind_of(const char *id)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (!strncmp(id, kinds[i].prefix, strlen(kinds[i].prefix)))
            return &kinds[i];
    return NULL;
}

static int resource_check(struct api_ctx *ctx, const char *id, struct error **err)
{
    const struct resource_kind *k = kind_of(id);
    if (!k)
        return error_set(err, EINVAL, "InvalidID", "The ID '%.128s' is not valid", id);
    sqlite3_stmt *st = db_stmt(ctx->db, k->sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, k->not_found, "The ID '%.128s' does not exist", id);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read resource");
    return 0;
}

int ec2_tags_map(struct api_ctx *ctx, const char *id, json_t **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        ctx->db, "SELECT key, value FROM ec2_tags WHERE resource_id = ?1 ORDER BY key", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    json_t *m = json_object();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(m, db_col_text(st, 0), json_string(db_col_text(st, 1)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(m);
        return db_fail(ctx->db, err, "read tags");
    }
    *ret = m;
    return 0;
}

json_t *ec2_tag_set(const json_t *map)
{
    json_t *set = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)map, k, v)
        json_array_append_new(set, json_pack("{s:s, s:O}", "key", k, "value", v));
    return set;
}

static int tag_put(struct api_ctx *ctx, const char *id, const char *key, const char *value,
                   struct error **err)
{
    if (!key || !*key || strlen(key) > 127)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Tag keys must be 1 to 127 characters long");
    if (!strncmp(key, "aws:", 4))
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Tag keys starting with 'aws:' are reserved for internal use");
    if (value && strlen(value) > 255)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Tag values may be at most 255 characters long");
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO ec2_tags(resource_id, account, key, value) "
                               "VALUES (?1, ?2, ?3, ?4) "
                               "ON CONFLICT(resource_id, key) DO UPDATE SET value = ?4",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, key);
    db_bind_text(st, 4, value ? value : "");
    int r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    /* At most 50 tags per resource. */
    st = db_stmt(ctx->db, "SELECT COUNT(*) FROM ec2_tags WHERE resource_id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n > EC2_MAX_TAGS)
        return error_set(err, EINVAL, "TagLimitExceeded",
                         "The maximum number of tags (%d) for resource %.64s has been reached.",
                         EC2_MAX_TAGS, id);
    return 0;
}

int ec2_tags_apply_specs(struct api_ctx *ctx, const char *id, const char *resource_type,
                         const json_t *specs, struct error **err)
{
    size_t i, j;
    json_t *spec, *t;
    json_array_foreach(specs, i, spec)
    {
        const char *type = json_get_str(spec, "ResourceType");
        if (type && strcmp(type, resource_type) != 0)
            return error_set(err, EINVAL, EC2_INVALID_VALUE,
                             "'%.64s' is not a valid taggable resource type for this operation.",
                             type);
        json_array_foreach(json_get_array(spec, "Tags"), j, t)
        {
            int r = tag_put(ctx, id, json_get_str(t, "Key"), json_get_str(t, "Value"), err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int ec2_tags_drop(struct api_ctx *ctx, const char *id, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, "DELETE FROM ec2_tags WHERE resource_id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    return db_exec_stmt(ctx->db, st, err);
}

int ec2_create_tags(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    json_t *ids = json_get_array(in, "Resources");
    json_t *tags = json_get_array(in, "Tags");
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    if (!ids || !json_array_size(ids))
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter ResourceId");
    if (!tags || !json_array_size(tags))
        return error_set(err, EINVAL, EC2_MISSING, "The request must contain the parameter Tag");
    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    size_t i, j;
    json_t *id, *t;
    json_array_foreach(ids, i, id)
    {
        r = resource_check(ctx, json_string_value(id), err);
        if (r < 0)
            return r;
        json_array_foreach(tags, j, t)
        {
            r = tag_put(ctx, json_string_value(id), json_get_str(t, "Key"),
                        json_get_str(t, "Value"), err);
            if (r < 0)
                return r;
        }
    }
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    r = db_commit(ctx->db, err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:b}", "return", 1);
    return 0;
}

int ec2_delete_tags(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    json_t *ids = json_get_array(in, "Resources");
    json_t *tags = json_get_array(in, "Tags");
    if (!ids || !json_array_size(ids))
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter resourceId");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    size_t i, j;
    json_t *id, *t;
    json_array_foreach(ids, i, id)
    {
        const char *rid = json_string_value(id);
        r = resource_check(ctx, rid, err);
        if (r < 0)
            return r;
        if (!tags || !json_array_size(tags)) {
            r = ec2_tags_drop(ctx, rid, err);
            if (r < 0)
                return r;
            continue;
        }
        json_array_foreach(tags, j, t)
        {
            /* A key without a value deletes the tag whatever its value; with
             * one, only when the value matches. */
            const char *value = json_get_str(t, "Value");
            sqlite3_stmt *st = db_stmt(ctx->db,
                                       "DELETE FROM ec2_tags WHERE resource_id = ?1 AND key = ?2 "
                                       "AND (?3 IS NULL OR value = ?3)",
                                       err);
            if (!st)
                return -EIO;
            db_bind_text(st, 1, rid);
            db_bind_text(st, 2, json_get_str(t, "Key"));
            db_bind_text(st, 3, value);
            r = db_exec_stmt(ctx->db, st, err);
            if (r < 0)
                return r;
        }
    }
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    r = db_commit(ctx->db, err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:b}", "return", 1);
    return 0;
}

int ec2_describe_tags(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    static const char *const allowed[] = {"key", "resource-id", "resource-type", "value", NULL};
    const json_t *filters = json_get_array(in, "Filters");
    int r = ec2_filters_check(filters, allowed, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT resource_id, key, value FROM ec2_tags WHERE account = ?1 "
                               "ORDER BY resource_id, key",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    json_t *set = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = db_col_text(st, 0);
        const struct resource_kind *k = kind_of(id);
        json_t *item = json_pack("{s:s, s:s, s:s, s:s}", "key", db_col_text(st, 1), "resourceId",
                                 id, "resourceType", k ? k->type : "", "value", db_col_text(st, 2));
        json_t *attrs =
            json_pack("{s:s, s:s, s:s, s:s}", "key", db_col_text(st, 1), "resource-id", id,
                      "resource-type", k ? k->type : "", "value", db_col_text(st, 2));
        json_t *tags = json_pack("{s:s}", db_col_text(st, 1), db_col_text(st, 2));
        if (ec2_filters_match(filters, attrs, tags))
            json_array_append(set, item);
        json_decref(item);
        json_decref(attrs);
        json_decref(tags);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(set);
        return db_fail(ctx->db, err, "read tags");
    }
    *ret_out = json_pack("{s:o}", "tagSet", set);
    return 0;
}
