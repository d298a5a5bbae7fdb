/* The CloudWatch Logs operation table and the log group, log stream,
 * retention and tag operations. Events are in events.c. */
#include "logs/logs-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

extern const char logs_model_json[];

static struct logs_store *api_store;

void logs_api_init(struct logs_store *ls)
{
    api_store = ls;
}

struct logs_store *logs_api_store(void)
{
    return api_store;
}

static const struct api_op ops[] = {
    {"CreateLogGroup", logs_create_log_group, API_OP_WRITE},
    {"CreateLogStream", logs_create_log_stream, API_OP_WRITE},
    {"DeleteLogGroup", logs_delete_log_group, API_OP_WRITE},
    {"DeleteLogStream", logs_delete_log_stream, API_OP_WRITE},
    {"DeleteRetentionPolicy", logs_delete_retention_policy, API_OP_WRITE},
    {"DescribeLogGroups", logs_describe_log_groups, 0},
    {"DescribeLogStreams", logs_describe_log_streams, 0},
    {"FilterLogEvents", logs_filter_log_events, 0},
    {"GetLogEvents", logs_get_log_events, 0},
    {"ListTagsForResource", logs_list_tags_for_resource, 0},
    {"ListTagsLogGroup", logs_list_tags_log_group, 0},
    {"PutLogEvents", logs_put_log_events, API_OP_WRITE},
    {"PutRetentionPolicy", logs_put_retention_policy, API_OP_WRITE},
    {"TagLogGroup", logs_tag_log_group, API_OP_WRITE},
    {"TagResource", logs_tag_resource, API_OP_WRITE},
    {"UntagLogGroup", logs_untag_log_group, API_OP_WRITE},
    {"UntagResource", logs_untag_resource, API_OP_WRITE},
};

const struct api_service logs_api = {
    .name = "logs",
    .signing_name = "logs",
    .target_prefix = "Logs_20140328",
    .model_json = logs_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
};

char *logs_group_arn(const struct api_ctx *ctx, const char *name)
{
    return xasprintf("arn:aws:logs:%s:%s:log-group:%s", ctx->region, ctx->account->account_id,
                     name);
}

static int get_db(struct db **ret, struct error **err)
{
    if (!api_store)
        return error_set(err, EAGAIN, "ServiceUnavailableException",
                         "The log store is not available");
    return logs_db_get(api_store, ret, err);
}

/* logGroupName, or logGroupIdentifier (a name or an ARN of the caller's
 * account). */
static int group_name_arg(struct api_ctx *ctx, const json_t *in, char **ret, struct error **err)
{
    const char *name = json_get_str(in, "logGroupName");
    const char *ident = json_get_str(in, "logGroupIdentifier");
    if (!name && ident) {
        if (!strncmp(ident, "arn:", 4)) {
            _cleanup_free_ char *prefix =
                xasprintf("arn:aws:logs:%s:%s:log-group:", ctx->region, ctx->account->account_id);
            if (strncmp(ident, prefix, strlen(prefix)) != 0)
                return error_set(err, ENOENT, ERR_NOT_FOUND,
                                 "The specified log group does not exist.");
            _cleanup_free_ char *n = xstrdup(ident + strlen(prefix));
            size_t len = strlen(n);
            if (len >= 2 && !strcmp(n + len - 2, ":*"))
                n[len - 2] = '\0';
            *ret = TAKE_PTR(n);
            return 0;
        }
        name = ident;
    }
    if (!name)
        return error_set(err, EINVAL, ERR_INVALID, "logGroupName is required");
    *ret = xstrdup(name);
    return 0;
}

/* Pagination tokens: the sort key of the last item, base64url. */
static json_t *page_token(const char *key)
{
    _cleanup_free_ char *raw = xasprintf("k%s", key);
    _cleanup_free_ char *tok = hash_b64url_encode(raw, strlen(raw));
    return json_string(tok);
}

static int page_after(const json_t *in, char **ret, struct error **err)
{
    const char *tok = json_get_str(in, "nextToken");
    *ret = NULL;
    if (!tok || !*tok)
        return 0;
    size_t len = strlen(tok);
    if (len > 2048)
        return error_set(err, EINVAL, ERR_INVALID, "The specified nextToken is invalid.");
    _cleanup_free_ uint8_t *raw = xmalloc(len + 4);
    long n = hash_b64url_decode(tok, len, raw);
    if (n <= 1 || raw[0] != 'k' || memchr(raw + 1, '\0', (size_t)n - 1))
        return error_set(err, EINVAL, ERR_INVALID, "The specified nextToken is invalid.");
    *ret = xstrndup((char *)raw + 1, (size_t)n - 1);
    return 0;
}

/* ---- tags ---- */

static int tags_validate(const json_t *tags, struct error **err)
{
    if (json_object_size(tags) > 50)
        return error_set(err, EINVAL, "TooManyTagsException",
                         "A log group can have at most 50 tags");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tags, k, v)
    {
        if (!strncmp(k, "aws:", 4))
            return error_set(err, EINVAL, ERR_INVALID, "Tag keys may not start with aws:");
    }
    return 0;
}

static int tags_put(struct db *db, int64_t group_id, const json_t *tags, struct error **err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tags, k, v)
    {
        sqlite3_stmt *st = db_stmt(
            db, "INSERT OR REPLACE INTO log_group_tags(group_id, key, value) VALUES (?, ?, ?)",
            err);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, group_id);
        sqlite3_bind_text(st, 2, k, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(v) ?: "", -1, SQLITE_STATIC);
        int r = db_exec_stmt(db, st, err);
        if (r < 0)
            return r;
    }
    sqlite3_stmt *st = db_stmt(db, "SELECT COUNT(*) FROM log_group_tags WHERE group_id = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, group_id);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n > 50)
        return error_set(err, EINVAL, "TooManyTagsException",
                         "A log group can have at most 50 tags");
    return 0;
}

static int tags_get(struct db *db, int64_t group_id, json_t **ret, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT key, value FROM log_group_tags WHERE group_id = ? ORDER BY key", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, group_id);
    json_t *tags = json_object();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(tags, (const char *)sqlite3_column_text(st, 0),
                            json_string((const char *)sqlite3_column_text(st, 1)));
    sqlite3_reset(st);
    *ret = tags;
    return 0;
}

static int tags_drop(struct db *db, int64_t group_id, const json_t *keys, struct error **err)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        sqlite3_stmt *st =
            db_stmt(db, "DELETE FROM log_group_tags WHERE group_id = ? AND key = ?", err);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, group_id);
        sqlite3_bind_text(st, 2, json_string_value(k) ?: "", -1, SQLITE_STATIC);
        int r = db_exec_stmt(db, st, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- log groups ---- */

int logs_create_log_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                          struct error **err)
{
    const char *name = json_get_str(in, "logGroupName");
    json_t *tags = json_get_object(in, "tags");
    if (!logs_group_name_valid(name))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Log group names are 1-512 characters of a-z, A-Z, 0-9, '_', '-', '/', "
                         "'.' and '#'");
    int r;
    if (tags && (r = tags_validate(tags, err)) < 0)
        return r;
    struct db *db;
    if ((r = get_db(&db, err)) < 0 || (r = db_begin(db, err)) < 0)
        return r;
    int64_t id;
    if ((r = logs_group_create(db, ctx->account->account_id, name, ctx->now_ms, &id, err)) < 0 ||
        (tags && (r = tags_put(db, id, tags, err)) < 0)) {
        db_rollback(db);
        return r;
    }
    if ((r = db_commit(db, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

int logs_delete_log_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                          struct error **err)
{
    _cleanup_free_ char *name = NULL;
    struct db *db;
    struct logs_group g;
    int r;
    if ((r = group_name_arg(ctx, in, &name, err)) < 0 || (r = get_db(&db, err)) < 0 ||
        (r = db_begin(db, err)) < 0)
        return r;
    if ((r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0) {
        db_rollback(db);
        return r;
    }
    static const char *const sqls[] = {
        "DELETE FROM log_segments WHERE group_id = ?",
        "DELETE FROM log_streams WHERE group_id = ?",
        "DELETE FROM log_group_tags WHERE group_id = ?",
        "DELETE FROM log_groups WHERE id = ?",
    };
    for (size_t i = 0; i < ARRAY_SIZE(sqls); i++) {
        sqlite3_stmt *st = db_stmt(db, sqls[i], err);
        if (!st) {
            db_rollback(db);
            return -EIO;
        }
        sqlite3_bind_int64(st, 1, g.id);
        if ((r = db_exec_stmt(db, st, err)) < 0) {
            db_rollback(db);
            return r;
        }
    }
    if ((r = db_commit(db, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

int logs_describe_log_groups(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                             struct error **err)
{
    const char *prefix = json_get_str(in, "logGroupNamePrefix") ?: "";
    const char *pattern = json_get_str(in, "logGroupNamePattern");
    int limit = (int)json_get_int(in, "limit", 50);
    _cleanup_free_ char *after = NULL;
    struct db *db;
    int r;
    if (pattern && json_get_str(in, "logGroupNamePrefix"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "logGroupNamePrefix and logGroupNamePattern are mutually exclusive");
    if ((r = page_after(in, &after, err)) < 0 || (r = get_db(&db, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT id, name, created, retention_days, stored_bytes "
                               "FROM log_groups WHERE account = ?1 AND name > ?2 "
                               "AND substr(name, 1, length(?3)) = ?3 "
                               "AND (?4 IS NULL OR instr(lower(name), lower(?4)) > 0) "
                               "ORDER BY name LIMIT ?5",
                               err);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, ctx->account->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, prefix, -1, SQLITE_STATIC);
    if (pattern)
        sqlite3_bind_text(st, 4, pattern, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, limit + 1);
    json_t *groups = json_array();
    _cleanup_free_ char *last = NULL;
    json_t *token = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if ((int)json_array_size(groups) == limit) {
            token = page_token(last);
            break;
        }
        _cleanup_free_ char *arn = logs_group_arn(ctx, name);
        _cleanup_free_ char *arn_star = xasprintf("%s:*", arn);
        json_t *g =
            json_pack("{s:s, s:I, s:i, s:s, s:I, s:s, s:s}", "logGroupName", name, "creationTime",
                      (json_int_t)sqlite3_column_int64(st, 2), "metricFilterCount", 0, "arn",
                      arn_star, "storedBytes", (json_int_t)sqlite3_column_int64(st, 4),
                      "logGroupClass", "STANDARD", "logGroupArn", arn);
        if (sqlite3_column_int64(st, 3) > 0)
            json_object_set_new(g, "retentionInDays", json_integer(sqlite3_column_int64(st, 3)));
        json_array_append_new(groups, g);
        free(last);
        last = xstrdup(name);
    }
    sqlite3_reset(st);
    json_t *out = json_pack("{s:o}", "logGroups", groups);
    if (token)
        json_object_set_new(out, "nextToken", token);
    *ret_out = out;
    return 0;
}

/* ---- retention ---- */

int logs_put_retention_policy(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                              struct error **err)
{
    static const int allowed[] = {1,   3,   5,   7,   14,   30,   60,   90,   120,  150,  180,
                                  365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};
    json_int_t days = json_get_int(in, "retentionInDays", 0);
    size_t i;
    for (i = 0; i < ARRAY_SIZE(allowed) && allowed[i] != days; i++)
        ;
    if (i == ARRAY_SIZE(allowed))
        return error_set(err, EINVAL, ERR_INVALID,
                         "1 validation error detected: Value '%lld' at 'retentionInDays' failed "
                         "to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, "
                         "14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, "
                         "2557, 2922, 3288, 3653]",
                         (long long)days);
    _cleanup_free_ char *name = NULL;
    struct db *db;
    struct logs_group g;
    int r;
    if ((r = group_name_arg(ctx, in, &name, err)) < 0 || (r = get_db(&db, err)) < 0 ||
        (r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(db, "UPDATE log_groups SET retention_days = ? WHERE id = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, days);
    sqlite3_bind_int64(st, 2, g.id);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    /* Enforced at once: expired events go now, not at the next sweep. */
    if ((r = logs_retention_apply(db, g.id, ctx->now_ms - days * LOGS_DAY_MS, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

int logs_delete_retention_policy(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                 struct error **err)
{
    _cleanup_free_ char *name = NULL;
    struct db *db;
    struct logs_group g;
    int r;
    if ((r = group_name_arg(ctx, in, &name, err)) < 0 || (r = get_db(&db, err)) < 0 ||
        (r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(db, "UPDATE log_groups SET retention_days = 0 WHERE id = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, g.id);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

/* ---- log streams ---- */

int logs_create_log_stream(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                           struct error **err)
{
    _cleanup_free_ char *name = NULL;
    const char *stream = json_get_str(in, "logStreamName");
    struct db *db;
    struct logs_group g;
    int r;
    if (!stream || !logs_stream_name_valid(stream))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Log stream names are 1-512 characters without ':' or '*'");
    if ((r = group_name_arg(ctx, in, &name, err)) < 0 || (r = get_db(&db, err)) < 0 ||
        (r = db_begin(db, err)) < 0)
        return r;
    int64_t id;
    if ((r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0 ||
        (r = logs_stream_get(db, g.id, stream, false, ctx->now_ms, &id, NULL)) == 0) {
        db_rollback(db);
        return r < 0 ? r
                     : error_set(err, EEXIST, "ResourceAlreadyExistsException",
                                 "The specified log stream already exists");
    }
    if ((r = logs_stream_get(db, g.id, stream, true, ctx->now_ms, &id, err)) < 0) {
        db_rollback(db);
        return r;
    }
    if ((r = db_commit(db, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

int logs_delete_log_stream(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                           struct error **err)
{
    _cleanup_free_ char *name = NULL;
    const char *stream = json_get_str(in, "logStreamName") ?: "";
    struct db *db;
    struct logs_group g;
    int64_t id;
    int r;
    if ((r = group_name_arg(ctx, in, &name, err)) < 0 || (r = get_db(&db, err)) < 0 ||
        (r = db_begin(db, err)) < 0)
        return r;
    if ((r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0 ||
        (r = logs_stream_get(db, g.id, stream, false, 0, &id, err)) < 0) {
        db_rollback(db);
        return r;
    }
    static const char credit_group[] =
        "UPDATE log_groups SET stored_bytes = MAX(0, stored_bytes - (SELECT stored_bytes FROM "
        "log_streams WHERE id = ?1)) WHERE id = (SELECT group_id FROM log_streams WHERE id = ?1)";
    static const char *const sqls[] = {
        "DELETE FROM log_segments WHERE stream_id = ?1",
        credit_group,
        "DELETE FROM log_streams WHERE id = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(sqls); i++) {
        sqlite3_stmt *st = db_stmt(db, sqls[i], err);
        if (!st) {
            db_rollback(db);
            return -EIO;
        }
        sqlite3_bind_int64(st, 1, id);
        if ((r = db_exec_stmt(db, st, err)) < 0) {
            db_rollback(db);
            return r;
        }
    }
    if ((r = db_commit(db, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

int logs_describe_log_streams(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                              struct error **err)
{
    _cleanup_free_ char *name = NULL, *after = NULL;
    const char *prefix = json_get_str(in, "logStreamNamePrefix");
    const char *order = json_get_str(in, "orderBy") ?: "LogStreamName";
    bool by_time = !strcmp(order, "LastEventTime");
    bool desc = json_get_bool(in, "descending", false);
    int limit = (int)json_get_int(in, "limit", 50);
    struct db *db;
    struct logs_group g;
    int r;
    if (by_time && prefix)
        return error_set(err, EINVAL, ERR_INVALID,
                         "Cannot order by LastEventTime with a logStreamNamePrefix.");
    if ((r = group_name_arg(ctx, in, &name, err)) < 0 || (r = page_after(in, &after, err)) < 0 ||
        (r = get_db(&db, err)) < 0 ||
        (r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0)
        return r;
    /* The sort key is the name, or "<last event, 20 digits>/<id>" by time;
     * the token holds the key of the page's last stream. */
    static const char *const sqls[4] = {
        "SELECT name, created, first_event, last_event, last_ingestion, stored_bytes, name "
        "FROM log_streams WHERE group_id = ?1 AND (?2 IS NULL OR name > ?2) "
        "AND substr(name, 1, length(?3)) = ?3 ORDER BY name LIMIT ?4",
        "SELECT name, created, first_event, last_event, last_ingestion, stored_bytes, name "
        "FROM log_streams WHERE group_id = ?1 AND (?2 IS NULL OR name < ?2) "
        "AND substr(name, 1, length(?3)) = ?3 ORDER BY name DESC LIMIT ?4",
        "SELECT * FROM (SELECT name, created, first_event, last_event, last_ingestion, "
        "stored_bytes, printf('%020lld/%020lld', COALESCE(last_event, 0), id) AS k "
        "FROM log_streams WHERE group_id = ?1) WHERE (?2 IS NULL OR k > ?2) AND ?3 = '' "
        "ORDER BY k LIMIT ?4",
        "SELECT * FROM (SELECT name, created, first_event, last_event, last_ingestion, "
        "stored_bytes, printf('%020lld/%020lld', COALESCE(last_event, 0), id) AS k "
        "FROM log_streams WHERE group_id = ?1) WHERE (?2 IS NULL OR k < ?2) AND ?3 = '' "
        "ORDER BY k DESC LIMIT ?4",
    };
    sqlite3_stmt *st = db_stmt(db, sqls[by_time * 2 + desc], err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, g.id);
    if (after)
        sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, prefix ? prefix : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, limit + 1);
    json_t *streams = json_array(), *token = NULL;
    _cleanup_free_ char *last = NULL;
    _cleanup_free_ char *garn = logs_group_arn(ctx, name);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if ((int)json_array_size(streams) == limit) {
            token = page_token(last);
            break;
        }
        const char *sname = (const char *)sqlite3_column_text(st, 0);
        _cleanup_free_ char *arn = xasprintf("%s:log-stream:%s", garn, sname);
        json_t *s = json_pack("{s:s, s:I, s:s, s:I, s:s}", "logStreamName", sname, "creationTime",
                              (json_int_t)sqlite3_column_int64(st, 1), "arn", arn, "storedBytes",
                              (json_int_t)sqlite3_column_int64(st, 5), "uploadSequenceToken", "1");
        static const char *const times[] = {"firstEventTimestamp", "lastEventTimestamp",
                                            "lastIngestionTime"};
        for (int k = 0; k < 3; k++)
            if (sqlite3_column_type(st, 2 + k) != SQLITE_NULL)
                json_object_set_new(s, times[k], json_integer(sqlite3_column_int64(st, 2 + k)));
        json_array_append_new(streams, s);
        free(last);
        last = xstrdup((const char *)sqlite3_column_text(st, 6));
    }
    sqlite3_reset(st);
    json_t *out = json_pack("{s:o}", "logStreams", streams);
    if (token)
        json_object_set_new(out, "nextToken", token);
    *ret_out = out;
    return 0;
}

/* ---- tags by group name and by ARN ---- */

static int tag_op(struct api_ctx *ctx, const char *name, const json_t *tags, const json_t *keys,
                  json_t **ret_out, struct error **err)
{
    struct db *db;
    struct logs_group g;
    int r;
    if ((tags && (r = tags_validate(tags, err)) < 0) || (r = get_db(&db, err)) < 0 ||
        (r = db_begin(db, err)) < 0)
        return r;
    if ((r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0 ||
        (tags && (r = tags_put(db, g.id, tags, err)) < 0) ||
        (keys && (r = tags_drop(db, g.id, keys, err)) < 0)) {
        db_rollback(db);
        return r;
    }
    if ((r = db_commit(db, err)) < 0)
        return r;
    *ret_out = NULL;
    return 0;
}

static int list_tags(struct api_ctx *ctx, const char *name, json_t **ret_out, struct error **err)
{
    struct db *db;
    struct logs_group g;
    json_t *tags;
    int r;
    if ((r = get_db(&db, err)) < 0 ||
        (r = logs_group_find(db, ctx->account->account_id, name, &g, err)) < 0 ||
        (r = tags_get(db, g.id, &tags, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "tags", tags);
    return 0;
}

/* The group an ARN names ("...:log-group:NAME" with or without ":*"). */
static int arn_group(struct api_ctx *ctx, const json_t *in, char **ret, struct error **err)
{
    const char *arn = json_get_str(in, "resourceArn") ?: "";
    _cleanup_free_ char *prefix =
        xasprintf("arn:aws:logs:%s:%s:log-group:", ctx->region, ctx->account->account_id);
    if (strncmp(arn, prefix, strlen(prefix)) != 0) {
        if (!strncmp(arn, "arn:aws:logs:", 13))
            return error_set(err, ENOENT, ERR_NOT_FOUND, "The specified resource does not exist.");
        return error_set(err, EINVAL, ERR_INVALID, "Invalid resourceArn '%.256s'", arn);
    }
    char *name = xstrdup(arn + strlen(prefix));
    size_t len = strlen(name);
    if (len >= 2 && !strcmp(name + len - 2, ":*"))
        name[len - 2] = '\0';
    *ret = name;
    return 0;
}

int logs_tag_log_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    return tag_op(ctx, json_get_str(in, "logGroupName") ?: "", json_get_object(in, "tags"), NULL,
                  ret_out, err);
}

int logs_untag_log_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                         struct error **err)
{
    return tag_op(ctx, json_get_str(in, "logGroupName") ?: "", NULL, json_get_array(in, "tags"),
                  ret_out, err);
}

int logs_list_tags_log_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                             struct error **err)
{
    return list_tags(ctx, json_get_str(in, "logGroupName") ?: "", ret_out, err);
}

int logs_tag_resource(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *name = NULL;
    int r = arn_group(ctx, in, &name, err);
    return r < 0 ? r : tag_op(ctx, name, json_get_object(in, "tags"), NULL, ret_out, err);
}

int logs_untag_resource(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *name = NULL;
    int r = arn_group(ctx, in, &name, err);
    return r < 0 ? r : tag_op(ctx, name, NULL, json_get_array(in, "tagKeys"), ret_out, err);
}

int logs_list_tags_for_resource(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                struct error **err)
{
    _cleanup_free_ char *name = NULL;
    int r = arn_group(ctx, in, &name, err);
    return r < 0 ? r : list_tags(ctx, name, ret_out, err);
}
