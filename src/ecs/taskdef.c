/* Task definitions: RegisterTaskDefinition, DescribeTaskDefinition,
 * ListTaskDefinitions, ListTaskDefinitionFamilies, DeregisterTaskDefinition,
 * DeleteTaskDefinitions. Validation lives in taskdef_validate.c.
 *
 * A row of task_definitions holds the normalised document the validator
 * produced; the ARN, revision, status and times come from its columns.
 * Revisions are numbered per (account, family) from the counter in
 * task_definition_families, inside the registering transaction, so they are
 * consecutive under concurrent registration and never reused, even after
 * deletion. Deregistered revisions turn INACTIVE and stay describable;
 * DeleteTaskDefinitions removes INACTIVE ones at once and answers them as
 * DELETE_IN_PROGRESS, after which they are gone. */
#include "ecs/ecs-internal.h"
#include "ecs/taskdef.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TD_COLUMNS       "arn, family, revision, status, registered_at, deregistered_at, doc"
#define TD_MSG_NOT_FOUND "Unable to describe task definition."
/* DeleteTaskDefinitions takes at most this many references. */
#define TD_DELETE_MAX 10

/* A parsed reference to a task definition: "family", "family:revision" or
 * an ARN of either. */
struct td_ref {
    char family[256];
    long revision; /* 0: the latest ACTIVE revision */
    bool foreign;  /* an ARN of another account or region: never found */
};

static int parse_ref(struct api_ctx *ctx, const char *s, struct td_ref *ref, struct error **err)
{
    memset(ref, 0, sizeof(*ref));
    const char *name = s;
    struct arn a;
    if (arn_is(s)) {
        if (arn_parse(s, &a) < 0 || strcmp(a.service, "ecs") != 0 ||
            strncmp(a.resource, "task-definition/", 16) != 0)
            return error_set(err, EINVAL, ERR_CLIENT,
                             "Invalid task definition ARN '%.256s': arn:aws:ecs:REGION:ACCOUNT:"
                             "task-definition/FAMILY:REVISION is expected.",
                             s);
        ref->foreign =
            strcmp(a.account, ctx->account->account_id) != 0 || strcmp(a.region, ctx->region) != 0;
        name = a.resource + 16;
    }
    const char *colon = strchr(name, ':');
    size_t flen = colon ? (size_t)(colon - name) : strlen(name);
    if (flen == 0 || flen >= sizeof(ref->family))
        goto bad;
    memcpy(ref->family, name, flen);
    ref->family[flen] = '\0';
    if (!ecs_name_valid(ref->family))
        goto bad;
    if (colon) {
        char *end;
        const char *digits = colon + 1;
        if (*digits < '1' || *digits > '9')
            goto bad;
        long rev = strtol(digits, &end, 10);
        if (*end || rev < 1 || rev > INT_MAX)
            goto bad;
        ref->revision = rev;
    }
    return 0;
bad:
    return error_set(err, EINVAL, ERR_CLIENT,
                     "Invalid task definition '%.256s': use family, family:revision or the "
                     "task definition ARN.",
                     s);
}

/* The TaskDefinition shape: the stored document plus what the row says. */
static json_t *td_compose(const char *arn, const char *family, long revision, const char *status,
                          int64_t registered_ms, int64_t deregistered_ms, const json_t *stored)
{
    json_t *o = json_object();
    json_object_set_new(o, "taskDefinitionArn", json_string(arn));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)stored, k, v) json_object_set(o, k, v);
    json_object_set_new(o, "family", json_string(family));
    json_object_set_new(o, "revision", json_integer(revision));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "registeredAt", json_timestamp(registered_ms));
    if (deregistered_ms >= 0)
        json_object_set_new(o, "deregisteredAt", json_timestamp(deregistered_ms));
    return o;
}

/* The TaskDefinition of the current row of st (TD_COLUMNS). */
static json_t *td_row(sqlite3_stmt *st, const char *status_override)
{
    json_t *stored = json_parse_trusted(db_col_text(st, 6));
    int64_t dereg = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
    json_t *o = td_compose(db_col_text(st, 0), db_col_text(st, 1), sqlite3_column_int64(st, 2),
                           status_override ? status_override : db_col_text(st, 3),
                           sqlite3_column_int64(st, 4), dereg, stored);
    json_decref(stored);
    return o;
}

/* The statement selecting ref's row (TD_COLUMNS), bound and ready to step. */
static sqlite3_stmt *td_query(struct api_ctx *ctx, const struct td_ref *ref, struct error **err)
{
    sqlite3_stmt *st;
    if (ref->revision)
        st = db_stmt(ctx->db,
                     "SELECT " TD_COLUMNS " FROM task_definitions "
                     "WHERE account = ?1 AND family = ?2 AND revision = ?3",
                     err);
    else
        st = db_stmt(ctx->db,
                     "SELECT " TD_COLUMNS " FROM task_definitions "
                     "WHERE account = ?1 AND family = ?2 AND status = 'ACTIVE' "
                     "ORDER BY revision DESC LIMIT 1",
                     err);
    if (!st)
        return NULL;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, ref->family);
    if (ref->revision)
        sqlite3_bind_int64(st, 3, ref->revision);
    return st;
}

/* Looks up ref in the caller's account: *ret is the TaskDefinition (new
 * reference) and *ret_arn its ARN, or both NULL when there is none. */
static int td_find(struct api_ctx *ctx, const struct td_ref *ref, json_t **ret, char **ret_arn,
                   struct error **err)
{
    *ret = NULL;
    if (ret_arn)
        *ret_arn = NULL;
    if (ref->foreign)
        return 0;
    sqlite3_stmt *st = td_query(ctx, ref, err);
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    int r = 0;
    if (rc == SQLITE_ROW) {
        *ret = td_row(st, NULL);
        if (ret_arn)
            *ret_arn = xstrdup(db_col_text(st, 0));
    } else if (rc != SQLITE_DONE) {
        r = db_fail(ctx->db, err, "read task definition");
    }
    sqlite3_reset(st);
    return r;
}

/* Takes the next revision of family (call inside a transaction). */
static int next_revision(struct api_ctx *ctx, const char *family, long *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO task_definition_families(account, family, "
                               "last_revision) VALUES (?1, ?2, 1) "
                               "ON CONFLICT(account, family) DO UPDATE SET "
                               "last_revision = last_revision + 1 RETURNING last_revision",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, family);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_fail(ctx->db, err, "allocate revision");
    }
    *ret = (long)sqlite3_column_int64(st, 0);
    /* Runs the statement to completion so the upsert is done. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "allocate revision");
    return 0;
}

/* Members of the TaskDefinition shape that come from the row, never from
 * the stored document (describe splices the document's text after them). */
static const char *const row_members[] = {"taskDefinitionArn", "revision", "status", "registeredAt",
                                          "deregisteredAt"};

int ecs_register_task_definition(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                 struct error **err)
{
    json_t *tags = json_get_array(in, "tags");
    int r = ecs_tags_validate(tags, err);
    if (r < 0)
        return r;
    json_t *doc = NULL;
    if ((r = ecs_taskdef_validate(in, &doc, err)) < 0)
        return r;
    _cleanup_free_ char *by = xasprintf("arn:aws:iam::%s:root", ctx->account->account_id);
    json_object_set_new(doc, "registeredBy", json_string(by));
    for (size_t i = 0; i < ARRAY_SIZE(row_members); i++)
        json_object_del(doc, row_members[i]);
    const char *family = json_get_str(in, "family");
    _cleanup_free_ char *doc_s = json_dump_compact(doc);
    _cleanup_free_ char *arn = NULL;
    long revision = 0;

    if ((r = db_begin(ctx->db, err)) < 0)
        goto out;
    if ((r = next_revision(ctx, family, &revision, err)) < 0)
        goto out;
    arn = ecs_arn(ctx, "task-definition/%s:%ld", family, revision);
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO task_definitions(arn, account, family, revision, "
                               "status, registered_at, doc) "
                               "VALUES (?1, ?2, ?3, ?4, 'ACTIVE', ?5, ?6)",
                               err);
    if (!st) {
        r = -EIO;
        goto out;
    }
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, family);
    sqlite3_bind_int64(st, 4, revision);
    sqlite3_bind_int64(st, 5, ctx->now_ms);
    db_bind_text(st, 6, doc_s);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        goto out;
    if (tags && (r = ecs_tags_put(ctx, arn, tags, err)) < 0)
        goto out;
    if ((r = db_commit(ctx->db, err)) < 0)
        goto out;
    json_t *td = td_compose(arn, family, revision, "ACTIVE", ctx->now_ms, -1, doc);
    *ret_out = json_pack("{s:o}", "taskDefinition", td);
    if (tags)
        json_object_set_new(*ret_out, "tags", json_deep_copy(tags));
out:
    json_decref(doc);
    return r;
}

static bool include_tags(const json_t *in)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_get_array(in, "include"), i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), "TAGS"))
            return true;
    }
    return false;
}

/* Appends a millisecond timestamp as AWS JSON seconds. */
static void put_time(struct buf *b, const char *key, int64_t ms)
{
    buf_printf(b, ",\"%s\":%lld.%03lld", key, (long long)(ms / 1000), (long long)(ms % 1000));
}

/* DescribeTaskDefinition is the hottest read: it answers by splicing the
 * stored document's text after the members the row holds, instead of
 * parsing and re-serialising it. */
int ecs_describe_task_definition(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                 struct error **err)
{
    (void)ret_out;
    const char *s = json_get_str(in, "taskDefinition");
    struct td_ref ref;
    int r = parse_ref(ctx, s ? s : "", &ref, err);
    if (r < 0)
        return r;
    if (ref.foreign)
        return error_set(err, ENOENT, ERR_CLIENT, TD_MSG_NOT_FOUND);
    sqlite3_stmt *st = td_query(ctx, &ref, err);
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return error_set(err, ENOENT, ERR_CLIENT, TD_MSG_NOT_FOUND);
        return db_fail(ctx->db, err, "read task definition");
    }
    /* ARNs, statuses and families hold no character JSON must escape
     * (family names are [A-Za-z0-9_-]). */
    struct buf b;
    buf_init(&b, 0);
    _cleanup_free_ char *arn = xstrdup(db_col_text(st, 0));
    buf_printf(&b,
               "{\"taskDefinition\":{\"taskDefinitionArn\":\"%s\",\"revision\":%lld,"
               "\"status\":\"%s\"",
               arn, (long long)sqlite3_column_int64(st, 2), db_col_text(st, 3));
    put_time(&b, "registeredAt", sqlite3_column_int64(st, 4));
    if (sqlite3_column_type(st, 5) != SQLITE_NULL)
        put_time(&b, "deregisteredAt", sqlite3_column_int64(st, 5));
    const char *doc = db_col_text(st, 6);
    size_t len = strlen(doc);
    /* The stored document is a JSON object: splice its members. */
    if (len > 2 && doc[0] == '{' && doc[len - 1] == '}') {
        buf_puts(&b, ",");
        buf_append(&b, doc + 1, len - 2);
    }
    buf_puts(&b, "}");
    sqlite3_reset(st);
    if (include_tags(in)) {
        json_t *tags = NULL;
        if ((r = ecs_tags_get(ctx, arn, &tags, err)) < 0) {
            buf_done(&b);
            return r;
        }
        _cleanup_free_ char *t = json_dump_compact(tags);
        json_decref(tags);
        buf_printf(&b, ",\"tags\":%s", t);
    }
    buf_puts(&b, "}");
    ctx->raw_out = buf_steal(&b);
    return 0;
}

/* Splits a ListTaskDefinitions page key "FAMILY REVISION". */
static int split_key(const char *key, char **ret_family, long *ret_revision, struct error **err)
{
    const char *sp = strrchr(key, ' ');
    char *end;
    long rev = sp ? strtol(sp + 1, &end, 10) : 0;
    if (!sp || sp == key || *end || rev < 1)
        return error_set(err, EINVAL, ERR_INVALID, "Invalid nextToken");
    *ret_family = xstrndup(key, (size_t)(sp - key));
    *ret_revision = rev;
    return 0;
}

int ecs_list_task_definitions(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                              struct error **err)
{
    int limit;
    _cleanup_free_ char *after = NULL, *after_family = NULL;
    long after_rev = 0;
    int r = ecs_page_args(in, ECS_PAGE_DEFAULT, ECS_PAGE_MAX, &limit, &after, err);
    if (r < 0)
        return r;
    if (after && (r = split_key(after, &after_family, &after_rev, err)) < 0)
        return r;
    const char *family = json_get_str(in, "familyPrefix");
    const char *status = json_get_str(in, "status");
    const char *sort = json_get_str(in, "sort");
    if (family && !*family)
        family = NULL;
    if (!status)
        status = "ACTIVE";
    bool desc = sort && !strcmp(sort, "DESC");
    json_t *arns = json_array();
    /* Deleted revisions are removed at once: none is ever listed as
     * DELETE_IN_PROGRESS. */
    if (!strcmp(status, "DELETE_IN_PROGRESS")) {
        *ret_out = json_pack("{s:o}", "taskDefinitionArns", arns);
        return 0;
    }
    sqlite3_stmt *st;
    if (desc)
        st = db_stmt(ctx->db,
                     "SELECT arn, family, revision FROM task_definitions "
                     "WHERE account = ?1 AND status = ?2 AND (?3 IS NULL OR family = ?3) "
                     "AND (?4 IS NULL OR (family, revision) < (?4, ?5)) "
                     "ORDER BY family DESC, revision DESC LIMIT ?6",
                     err);
    else
        st = db_stmt(ctx->db,
                     "SELECT arn, family, revision FROM task_definitions "
                     "WHERE account = ?1 AND status = ?2 AND (?3 IS NULL OR family = ?3) "
                     "AND (?4 IS NULL OR (family, revision) > (?4, ?5)) "
                     "ORDER BY family, revision LIMIT ?6",
                     err);
    if (!st) {
        json_decref(arns);
        return -EIO;
    }
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, status);
    db_bind_text(st, 3, family);
    db_bind_text(st, 4, after_family);
    sqlite3_bind_int64(st, 5, after_rev);
    sqlite3_bind_int(st, 6, limit + 1);
    json_t *token = NULL;
    char last_key[300] = "";
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int)json_array_size(arns) == limit) {
            token = ecs_page_token(last_key);
            break;
        }
        json_array_append_new(arns, json_string(db_col_text(st, 0)));
        snprintf(last_key, sizeof(last_key), "%s %010lld", db_col_text(st, 1),
                 (long long)sqlite3_column_int64(st, 2));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        json_decref(arns);
        json_decref(token);
        return db_fail(ctx->db, err, "list task definitions");
    }
    json_t *out = json_pack("{s:o}", "taskDefinitionArns", arns);
    if (token)
        json_object_set_new(out, "nextToken", token);
    *ret_out = out;
    return 0;
}

int ecs_list_task_definition_families(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                      struct error **err)
{
    int limit;
    _cleanup_free_ char *after = NULL;
    int r = ecs_page_args(in, ECS_PAGE_DEFAULT, ECS_PAGE_MAX, &limit, &after, err);
    if (r < 0)
        return r;
    const char *prefix = json_get_str(in, "familyPrefix");
    const char *status = json_get_str(in, "status");
    if (!status)
        status = "ALL"; /* by default both ACTIVE and INACTIVE families */
    /* A family is ACTIVE when one of its revisions is. The prefix is
     * compared with substr(), not LIKE, since '_' is a LIKE wildcard. */
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT family FROM task_definitions "
                               "WHERE account = ?1 AND family > ?2 "
                               "AND (?3 IS NULL OR substr(family, 1, length(?3)) = ?3) "
                               "GROUP BY family "
                               "HAVING ?4 = 'ALL' OR (?4 = 'ACTIVE') = MAX(status = 'ACTIVE') "
                               "ORDER BY family LIMIT ?5",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, after ? after : "");
    db_bind_text(st, 3, prefix && *prefix ? prefix : NULL);
    db_bind_text(st, 4, status);
    sqlite3_bind_int(st, 5, limit + 1);
    json_t *families = json_array();
    json_t *token = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int)json_array_size(families) == limit) {
            token = ecs_page_token(json_string_value(json_array_get(families, (size_t)limit - 1)));
            break;
        }
        json_array_append_new(families, json_string(db_col_text(st, 0)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        json_decref(families);
        json_decref(token);
        return db_fail(ctx->db, err, "list task definition families");
    }
    json_t *out = json_pack("{s:o}", "families", families);
    if (token)
        json_object_set_new(out, "nextToken", token);
    *ret_out = out;
    return 0;
}

/* Parses a reference that must name one revision (Deregister, Delete). */
static int parse_revision_ref(struct api_ctx *ctx, const char *s, struct td_ref *ref,
                              struct error **err)
{
    int r = parse_ref(ctx, s, ref, err);
    if (r < 0)
        return r;
    if (!ref->revision)
        return error_set(err, EINVAL, ERR_CLIENT,
                         "A revision is required: use family:revision or the task definition "
                         "ARN ('%.256s' has none).",
                         s);
    return 0;
}

int ecs_deregister_task_definition(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                   struct error **err)
{
    const char *s = json_get_str(in, "taskDefinition");
    struct td_ref ref;
    int r = parse_revision_ref(ctx, s ? s : "", &ref, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *arn = NULL;
    json_t *td = NULL;
    if (!ref.foreign)
        arn = ecs_arn(ctx, "task-definition/%s:%ld", ref.family, ref.revision);
    /* Deregistering twice keeps the first deregisteredAt. */
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE task_definitions SET status = 'INACTIVE', "
                               "deregistered_at = COALESCE(deregistered_at, ?1) "
                               "WHERE arn = ?2 AND account = ?3",
                               err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, ctx->now_ms);
    db_bind_text(st, 2, arn);
    db_bind_text(st, 3, ctx->account->account_id);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        return r;
    if ((r = td_find(ctx, &ref, &td, NULL, err)) < 0)
        return r;
    if (!td)
        return error_set(err, ENOENT, ERR_CLIENT, "The specified task definition does not exist.");
    *ret_out = json_pack("{s:o}", "taskDefinition", td);
    return 0;
}

/* Deletes one INACTIVE revision (inside the transaction); appends it to
 * deleted, or a reason to failures. */
static int delete_one(struct api_ctx *ctx, const char *s, json_t *deleted, json_t *failures,
                      struct error **err)
{
    struct td_ref ref;
    _cleanup_error_ struct error *why = NULL;
    if (parse_revision_ref(ctx, s, &ref, &why) < 0) {
        json_array_append_new(failures, json_pack("{s:s, s:s, s:s}", "arn", s, "reason", "INVALID",
                                                  "detail", why->msg));
        return 0;
    }
    json_t *td = NULL;
    _cleanup_free_ char *arn = NULL;
    int r = td_find(ctx, &ref, &td, &arn, err);
    if (r < 0)
        return r;
    if (!td) {
        json_array_append_new(failures, json_pack("{s:s, s:s, s:s}", "arn", s, "reason", "MISSING",
                                                  "detail", TD_MSG_NOT_FOUND));
        return 0;
    }
    if (strcmp(json_get_str(td, "status"), "INACTIVE") != 0) {
        json_array_append_new(failures, json_pack("{s:s, s:s, s:s}", "arn", arn, "reason",
                                                  "TASK_DEFINITION_NOT_INACTIVE", "detail",
                                                  "Only INACTIVE task definitions can be deleted; "
                                                  "deregister it first."));
        json_decref(td);
        return 0;
    }
    sqlite3_stmt *st =
        db_stmt(ctx->db, "DELETE FROM task_definitions WHERE arn = ?1 AND account = ?2", err);
    if (!st) {
        json_decref(td);
        return -EIO;
    }
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = ecs_tags_drop(ctx, arn, err)) < 0) {
        json_decref(td);
        return r;
    }
    json_object_set_new(td, "status", json_string("DELETE_IN_PROGRESS"));
    json_array_append_new(deleted, td);
    return 0;
}

/* DeleteTaskDefinitions is newer than the embedded botocore model, so the
 * request arrives unchecked: this handler checks its shape itself. */
int ecs_delete_task_definitions(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                struct error **err)
{
    json_t *refs = json_object_get(in, "taskDefinitions");
    if (!json_is_array(refs) || !json_array_size(refs))
        return error_set(err, EINVAL, ERR_INVALID,
                         "taskDefinitions must be a list of 1 to %d task definitions.",
                         TD_DELETE_MAX);
    if (json_array_size(refs) > TD_DELETE_MAX)
        return error_set(err, EINVAL, ERR_INVALID, "taskDefinitions can have at most %d items.",
                         TD_DELETE_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(refs, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > 2048)
            return error_set(err, EINVAL, ERR_INVALID,
                             "taskDefinitions must hold strings of at most 2048 characters.");
    }
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    json_t *deleted = json_array(), *failures = json_array();
    json_array_foreach(refs, i, v)
    {
        if ((r = delete_one(ctx, json_string_value(v), deleted, failures, err)) < 0)
            break;
    }
    if (r >= 0)
        r = db_commit(ctx->db, err);
    if (r < 0) {
        json_decref(deleted);
        json_decref(failures);
        return r;
    }
    *ret_out = json_pack("{s:o, s:o}", "taskDefinitions", deleted, "failures", failures);
    return 0;
}

int ecs_taskdef_lookup(struct api_ctx *ctx, const char *ref_s, json_t **ret, struct error **err)
{
    struct td_ref ref;
    int r = parse_ref(ctx, ref_s, &ref, err);
    if (r < 0)
        return r;
    json_t *doc = NULL;
    if ((r = td_find(ctx, &ref, &doc, NULL, err)) < 0)
        return r;
    if (!doc)
        return error_set(err, ENOENT, ERR_CLIENT, "Unable to find task definition '%.256s'.",
                         ref_s);
    *ret = doc;
    return 0;
}
