/* Tags on ECS resources: TagResource, UntagResource, ListTagsForResource,
 * and the helpers other operations use to store and read tags. */
#include "ecs/ecs-internal.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#define ECS_MAX_TAGS 50

/* Resource types that carry tags, by ARN resource prefix, with the query
 * that says whether the caller owns one. */
static const struct taggable {
    const char *prefix;
    const char *exists_sql;
} taggables[] = {
    {"cluster/", "SELECT 1 FROM clusters WHERE arn = ?1 AND account = ?2 AND status = 'ACTIVE'"},
    {"task-definition/", "SELECT 1 FROM task_definitions WHERE arn = ?1 AND account = ?2"},
    {"task/", "SELECT 1 FROM tasks WHERE arn = ?1 AND account = ?2"},
    {"service/", "SELECT 1 FROM services WHERE arn = ?1 AND account = ?2 AND status != "
                 "'INACTIVE'"},
};

static bool reserved(const char *s)
{
    return s && !strncasecmp(s, "aws:", 4);
}

int ecs_tags_validate(const json_t *tags, struct error **err)
{
    if (!tags)
        return 0;
    if (json_array_size(tags) > ECS_MAX_TAGS)
        return error_set(err, EINVAL, ERR_INVALID, "A resource can have at most %d tags.",
                         ECS_MAX_TAGS);
    size_t i, j;
    json_t *t, *u;
    json_array_foreach(tags, i, t)
    {
        const char *k = json_get_str(t, "key");
        if (!k || !*k)
            return error_set(err, EINVAL, ERR_INVALID, "Tag keys must not be empty.");
        if (reserved(k) || reserved(json_get_str(t, "value")))
            return error_set(err, EINVAL, ERR_INVALID,
                             "Tag keys and values may not start with 'aws:'; it is reserved.");
        json_array_foreach(tags, j, u)
        {
            if (j > i && !strcmp(k, json_get_str(u, "key") ? json_get_str(u, "key") : ""))
                return error_set(err, EINVAL, ERR_INVALID, "Duplicate tag key '%.128s'.", k);
        }
    }
    return 0;
}

int ecs_tags_put(struct api_ctx *ctx, const char *arn, const json_t *tags, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO tags(arn, account, key, value) VALUES (?1, ?2, ?3, ?4) "
                               "ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
                               err);
    if (!st)
        return -EIO;
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *v = json_get_str(t, "value");
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, ctx->account->account_id);
        db_bind_text(st, 3, json_get_str(t, "key"));
        db_bind_text(st, 4, v ? v : "");
        int r = db_exec_stmt(ctx->db, st, err);
        if (r < 0)
            return r;
    }
    /* The limit counts the tags the resource ends up with. */
    st = db_stmt(ctx->db, "SELECT COUNT(*) FROM tags WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n > ECS_MAX_TAGS)
        return error_set(err, EINVAL, ERR_INVALID, "A resource can have at most %d tags.",
                         ECS_MAX_TAGS);
    return 0;
}

int ecs_tags_get(struct api_ctx *ctx, const char *arn, json_t **ret, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT key, value FROM tags WHERE arn = ?1 ORDER BY key", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(
            list, json_pack("{s:s, s:s}", "key", db_col_text(st, 0), "value", db_col_text(st, 1)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return db_fail(ctx->db, err, "read tags");
    }
    *ret = list;
    return 0;
}

int ecs_tags_drop(struct api_ctx *ctx, const char *arn, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, "DELETE FROM tags WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    return db_exec_stmt(ctx->db, st, err);
}

/* Checks that resourceArn names a taggable resource the caller owns. */
static int check_resource(struct api_ctx *ctx, const char *arn, struct error **err)
{
    struct arn a;
    if (!arn || arn_parse(arn, &a) < 0 || strcmp(a.service, "ecs") != 0)
        return error_set(err, EINVAL, ERR_INVALID, "Invalid resource ARN: %.256s", arn ? arn : "");
    for (size_t i = 0; i < sizeof(taggables) / sizeof(taggables[0]); i++) {
        if (strncmp(a.resource, taggables[i].prefix, strlen(taggables[i].prefix)) != 0)
            continue;
        sqlite3_stmt *st = db_stmt(ctx->db, taggables[i].exists_sql, err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, ctx->account->account_id);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
            return 0;
        if (rc != SQLITE_DONE)
            return db_fail(ctx->db, err, "find resource");
        return error_set(err, ENOENT, ERR_NOT_FOUND, "The specified resource could not be found.");
    }
    return error_set(err, EINVAL, ERR_INVALID, "The resource type of %.256s cannot be tagged.",
                     arn);
}

int ecs_tag_resource(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *arn = json_get_str(in, "resourceArn");
    json_t *tags = json_get_array(in, "tags");
    int r = ecs_tags_validate(tags, err);
    if (r < 0)
        return r;
    if ((r = db_begin(ctx->db, err)) < 0)
        return r;
    if ((r = check_resource(ctx, arn, err)) < 0 || (r = ecs_tags_put(ctx, arn, tags, err)) < 0)
        return r;
    if ((r = db_commit(ctx->db, err)) < 0)
        return r;
    *ret_out = json_object();
    return 0;
}

int ecs_untag_resource(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *arn = json_get_str(in, "resourceArn");
    json_t *keys = json_get_array(in, "tagKeys");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    if ((r = check_resource(ctx, arn, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db, "DELETE FROM tags WHERE arn = ?1 AND key = ?2", err);
    if (!st)
        return -EIO;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (reserved(json_string_value(k)))
            return error_set(err, EINVAL, ERR_INVALID,
                             "Tag keys starting with 'aws:' are reserved.");
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, json_string_value(k));
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    if ((r = db_commit(ctx->db, err)) < 0)
        return r;
    *ret_out = json_object();
    return 0;
}

int ecs_list_tags_for_resource(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                               struct error **err)
{
    const char *arn = json_get_str(in, "resourceArn");
    int r = check_resource(ctx, arn, err);
    if (r < 0)
        return r;
    json_t *tags = NULL;
    if ((r = ecs_tags_get(ctx, arn, &tags, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "tags", tags);
    return 0;
}
