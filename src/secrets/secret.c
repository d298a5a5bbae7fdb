/* Secrets as resources: CreateSecret, DescribeSecret, ListSecrets,
 * UpdateSecret, DeleteSecret, RestoreSecret, TagResource, UntagResource.
 *
 * A secret's ARN is arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX
 * with six random characters, so a secret deleted and created again under
 * the same name gets a new ARN, as on AWS. DeleteSecret schedules the
 * deletion (7 to 30 days, 30 by default) or, with
 * ForceDeleteWithoutRecovery, deletes at once; a scheduled secret is
 * removed for good by the first write of its account after the date. */
#include "secrets/secrets-internal.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define SECRET_COLUMNS                                                                             \
    "arn, name, description, kms_key_id, tags, created_at, changed_at, deleted_at, purge_at"
#define DAY_MS        (24LL * 3600 * 1000)
#define MAX_TAGS      50
#define LIST_DEFAULT  100
#define MSG_NOT_FOUND "Secrets Manager can't find the specified secret."
#define MSG_DELETED                                                                                \
    "You can't perform this operation on the secret because it was marked for deletion."

void secret_done(struct secret *s)
{
    free(s->arn);
    free(s->name);
    free(s->description);
    free(s->kms_key_id);
    json_decref(s->tags);
    memset(s, 0, sizeof(*s));
}

static char *col_dup_or_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : xstrdup(db_col_text(st, i));
}

static void read_row(sqlite3_stmt *st, struct secret *s)
{
    s->arn = xstrdup(db_col_text(st, 0));
    s->name = xstrdup(db_col_text(st, 1));
    s->description = col_dup_or_null(st, 2);
    s->kms_key_id = col_dup_or_null(st, 3);
    s->tags = json_parse_trusted(db_col_text(st, 4));
    if (!json_is_array(s->tags)) {
        json_decref(s->tags);
        s->tags = json_array();
    }
    s->created_ms = sqlite3_column_int64(st, 5);
    s->changed_ms = sqlite3_column_int64(st, 6);
    s->deleted_ms = sqlite3_column_int64(st, 7);
    s->purge_ms = sqlite3_column_int64(st, 8);
}

int secrets_lookup(struct db *db, const char *account, const char *region, const char *id,
                   int64_t now_ms, struct secret *ret, struct error **err)
{
    /* An ARN names its secret exactly, or without the "-XXXXXX" suffix (a
     * partial ARN); another account's or region's ARN finds nothing. */
    const char *name = id;
    struct arn a;
    if (arn_is(id)) {
        if (arn_parse(id, &a) < 0 || strcmp(a.service, "secretsmanager") != 0 ||
            strcmp(a.account, account) != 0 || strcmp(a.region, region) != 0 ||
            strncmp(a.resource, "secret:", 7) != 0)
            return error_set(err, ENOENT, ERR_NOT_FOUND, MSG_NOT_FOUND);
        name = a.resource + 7;
    }
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT " SECRET_COLUMNS " FROM secrets "
                               "WHERE account = ?1 AND (arn = ?2 OR name = ?3) "
                               "AND (purge_at IS NULL OR purge_at > ?4) "
                               "ORDER BY arn = ?2 DESC LIMIT 1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, account);
    db_bind_text(st, 2, id);
    db_bind_text(st, 3, name);
    sqlite3_bind_int64(st, 4, now_ms);
    int rc = sqlite3_step(st);
    int r = 0;
    if (rc == SQLITE_ROW)
        read_row(st, ret);
    else if (rc == SQLITE_DONE)
        r = error_set(err, ENOENT, ERR_NOT_FOUND, MSG_NOT_FOUND);
    else
        r = db_fail(db, err, "read secret");
    sqlite3_reset(st);
    return r;
}

static int lookup(struct api_ctx *ctx, const json_t *in, struct secret *ret, struct error **err)
{
    return secrets_lookup(ctx->db, ctx->account->account_id, ctx->region,
                          json_get_str(in, "SecretId"), ctx->now_ms, ret, err);
}

/* Like lookup, refusing secrets scheduled for deletion. */
static int lookup_live(struct api_ctx *ctx, const json_t *in, struct secret *ret,
                       struct error **err)
{
    int r = lookup(ctx, in, ret, err);
    if (r == 0 && ret->deleted_ms) {
        secret_done(ret);
        return error_set(err, EINVAL, ERR_SM_REQUEST, MSG_DELETED);
    }
    return r;
}

/* Removes every row of a secret (inside a transaction). */
static int drop(struct db *db, const char *arn, struct error **err)
{
    static const char *const sql[] = {
        "DELETE FROM secret_stages WHERE secret_arn = ?1",
        "DELETE FROM secret_versions WHERE secret_arn = ?1",
        "DELETE FROM secrets WHERE arn = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
        sqlite3_stmt *st = db_stmt(db, sql[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        int r = db_exec_stmt(db, st, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Removes the account's secrets whose scheduled deletion date has passed
 * (inside a transaction). */
static int purge_due(struct api_ctx *ctx, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT arn FROM secrets WHERE account = ?1 AND purge_at <= ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    json_t *arns = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arns, json_string(db_col_text(st, 0)));
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? 0 : db_fail(ctx->db, err, "read secrets due for deletion");
    size_t i;
    json_t *v;
    json_array_foreach(arns, i, v)
    {
        if (r == 0)
            r = drop(ctx->db, json_string_value(v), err);
    }
    json_decref(arns);
    return r;
}

/* Begins a write transaction and purges what is due first. */
static int begin(struct api_ctx *ctx, struct error **err)
{
    int r = db_begin(ctx->db, err);
    if (r == 0 && (r = purge_due(ctx, err)) < 0)
        db_rollback(ctx->db);
    return r;
}

static int commit(struct api_ctx *ctx, int r, struct error **err)
{
    if (r == 0)
        return db_commit(ctx->db, err);
    db_rollback(ctx->db);
    return r;
}

/* Names: 1-512 of ASCII letters, digits and /_+=.@- (the model only bounds
 * the length). */
static int check_name(const char *name, struct error **err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 512 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789/_+=.@-") != n)
        return error_set(err, EINVAL, ERR_INVALID,
                         "Invalid name. Must be a valid name containing alphanumeric characters, "
                         "or any of the following: -/_+=.@!");
    return 0;
}

/* Merges add ([{Key, Value}]) into tags, checking AWS's rules. */
static int merge_tags(json_t *tags, const json_t *add, struct error **err)
{
    size_t i, j;
    json_t *t, *o;
    json_array_foreach(add, i, t)
    {
        const char *k = json_get_str(t, "Key");
        const char *v = json_get_str(t, "Value");
        if (!k || !*k)
            return error_set(err, EINVAL, ERR_INVALID, "A tag must have a Key.");
        if (strncmp(k, "aws:", 4) == 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Tag keys starting with \"aws:\" are reserved for AWS use.");
        bool found = false;
        json_array_foreach(tags, j, o)
        {
            if (strcmp(json_get_str(o, "Key"), k) == 0) {
                json_object_set_new(o, "Value", json_string(v ? v : ""));
                found = true;
                break;
            }
        }
        if (!found)
            json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", k, "Value", v ? v : ""));
    }
    if (json_array_size(tags) > MAX_TAGS)
        return error_set(err, EINVAL, ERR_INVALID, "A secret can have at most %d tags.", MAX_TAGS);
    return 0;
}

static int save_tags(struct api_ctx *ctx, const struct secret *s, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "UPDATE secrets SET tags = ?2, changed_at = ?3 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    _cleanup_free_ char *tags = json_dump_compact(s->tags);
    db_bind_text(st, 1, s->arn);
    db_bind_text(st, 2, tags);
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    return db_exec_stmt(ctx->db, st, err);
}

static char *new_arn(struct api_ctx *ctx, const char *name)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint8_t rnd[6];
    char suffix[7];
    hash_random(rnd, sizeof(rnd));
    for (size_t i = 0; i < 6; i++)
        suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    suffix[6] = 0;
    _cleanup_free_ char *res = xasprintf("secret:%s-%s", name, suffix);
    return arn_format("secretsmanager", ctx->region, ctx->account->account_id, res);
}

int secrets_create(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *name = json_get_str(in, "Name");
    int r = check_name(name, err);
    if (r < 0)
        return r;
    if (json_array_size(json_get_array(in, "AddReplicaRegions")) > 0)
        return error_set(err, EINVAL, ERR_SM_REQUEST, "skiff does not replicate secrets.");
    _cleanup_(secret_done) struct secret s = {
        .name = xstrdup(name),
        .description =
            json_get_str(in, "Description") ? xstrdup(json_get_str(in, "Description")) : NULL,
        .kms_key_id = json_get_str(in, "KmsKeyId") ? xstrdup(json_get_str(in, "KmsKeyId")) : NULL,
        .tags = json_array(),
        .created_ms = ctx->now_ms,
        .changed_ms = ctx->now_ms,
    };
    if (json_get_array(in, "Tags") && (r = merge_tags(s.tags, json_get_array(in, "Tags"), err)) < 0)
        return r;
    if ((r = begin(ctx, err)) < 0)
        return r;
    struct secret old = {0};
    _cleanup_error_ struct error *nf = NULL;
    r = secrets_lookup(ctx->db, ctx->account->account_id, ctx->region, name, ctx->now_ms, &old,
                       &nf);
    if (r == 0) {
        bool deleted = old.deleted_ms != 0;
        secret_done(&old);
        db_rollback(ctx->db);
        if (deleted)
            return error_set(err, EEXIST, ERR_SM_REQUEST,
                             "You can't create this secret because a secret with this name is "
                             "already scheduled for deletion.");
        return error_set(err, EEXIST, ERR_SM_EXISTS,
                         "The operation failed because the secret %s already exists.", name);
    }
    if (r != -ENOENT) {
        db_rollback(ctx->db);
        *err = TAKE_PTR(nf);
        return r;
    }
    s.arn = new_arn(ctx, name);
    sqlite3_stmt *st =
        db_stmt(ctx->db,
                "INSERT INTO secrets(arn, account, name, description, kms_key_id, "
                "tags, created_at, changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                err);
    if (!st) {
        db_rollback(ctx->db);
        return -EIO;
    }
    _cleanup_free_ char *tags = json_dump_compact(s.tags);
    db_bind_text(st, 1, s.arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, name);
    db_bind_text(st, 4, s.description);
    db_bind_text(st, 5, s.kms_key_id);
    db_bind_text(st, 6, tags);
    sqlite3_bind_int64(st, 7, ctx->now_ms);
    r = db_exec_stmt(ctx->db, st, err);
    _cleanup_free_ char *version = NULL;
    if (r == 0)
        r = secrets_version_add(ctx, &s, in, NULL, &version, err);
    if ((r = commit(ctx, r, err)) < 0)
        return r;
    json_t *out = json_pack("{s:s, s:s}", "ARN", s.arn, "Name", s.name);
    json_set_str(out, "VersionId", version);
    *ret_out = out;
    return 0;
}

/* VersionIdsToStages: {version id: [stages]} over the labelled versions. */
static int versions_to_stages(struct db *db, const char *arn, json_t **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT version_id, stage FROM secret_stages WHERE secret_arn = ?1 "
                               "ORDER BY version_id, stage",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    json_t *o = json_object();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = db_col_text(st, 0);
        json_t *list = json_object_get(o, v);
        if (!list) {
            list = json_array();
            json_object_set_new(o, v, list);
        }
        json_array_append_new(list, json_string(db_col_text(st, 1)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return db_fail(db, err, "read secret stages");
    }
    *ret = o;
    return 0;
}

/* The members DescribeSecret and ListSecrets share. */
static int secret_doc(struct db *db, const struct secret *s, const char *stages_member,
                      json_t **ret, struct error **err)
{
    json_t *stages = NULL;
    int r = versions_to_stages(db, s->arn, &stages, err);
    if (r < 0)
        return r;
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:O}", "ARN", s->arn, "Name", s->name,
                          "CreatedDate", json_timestamp(s->created_ms), "LastChangedDate",
                          json_timestamp(s->changed_ms), "Tags", s->tags);
    json_set_str(o, "Description", s->description);
    json_set_str(o, "KmsKeyId", s->kms_key_id);
    json_object_set_new(o, "RotationEnabled", json_false());
    if (s->deleted_ms)
        json_object_set_new(o, "DeletedDate", json_timestamp(s->deleted_ms));
    json_object_set_new(o, stages_member, stages);
    *ret = o;
    return 0;
}

int secrets_describe(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_(secret_done) struct secret s = {0};
    int r = lookup(ctx, in, &s, err);
    if (r < 0)
        return r;
    return secret_doc(ctx->db, &s, "VersionIdsToStages", ret_out, err);
}

/* One ListSecrets filter value: a prefix, negated by a leading '!'. */
static bool value_matches(const char *field, const char *want)
{
    bool neg = want[0] == '!';
    if (neg)
        want++;
    bool m = field && strncmp(field, want, strlen(want)) == 0;
    return m != neg;
}

static bool tags_match(const json_t *tags, const char *member, const char *want)
{
    size_t i;
    json_t *t;
    bool neg = want[0] == '!';
    json_array_foreach(tags, i, t)
    {
        if (value_matches(json_get_str(t, member), neg ? want + 1 : want))
            return !neg;
    }
    return neg;
}

static bool filter_matches(const struct secret *s, const json_t *f)
{
    const char *key = json_get_str(f, "Key");
    json_t *values = json_get_array(f, "Values");
    size_t i;
    json_t *v;
    if (!key || strcmp(key, "primary-region") == 0 || strcmp(key, "owning-service") == 0)
        return false; /* no secret here is replicated or owned by a service */
    json_array_foreach(values, i, v)
    {
        const char *want = json_string_value(v);
        if (!want)
            continue;
        bool m;
        if (strcmp(key, "name") == 0)
            m = value_matches(s->name, want);
        else if (strcmp(key, "description") == 0)
            m = value_matches(s->description, want);
        else if (strcmp(key, "tag-key") == 0)
            m = tags_match(s->tags, "Key", want);
        else if (strcmp(key, "tag-value") == 0)
            m = tags_match(s->tags, "Value", want);
        else
            m = value_matches(s->name, want) || value_matches(s->description, want) ||
                tags_match(s->tags, "Key", want) || tags_match(s->tags, "Value", want);
        if (m)
            return true;
    }
    return false;
}

int secrets_list(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    json_int_t limit = json_get_int(in, "MaxResults", LIST_DEFAULT);
    long skip = 0;
    const char *token = json_get_str(in, "NextToken");
    if (token) {
        char *end;
        skip = strtol(token, &end, 10);
        if (*end || skip < 0)
            return error_set(err, EINVAL, ERR_SM_TOKEN, "The NextToken value is not valid.");
    }
    bool desc = json_get_str(in, "SortOrder") && strcmp(json_get_str(in, "SortOrder"), "desc") == 0;
    sqlite3_stmt *st = desc ? db_stmt(ctx->db,
                                      "SELECT " SECRET_COLUMNS " FROM secrets WHERE account = ?1 "
                                      "AND deleted_at IS NULL ORDER BY created_at DESC, arn DESC",
                                      err)
                            : db_stmt(ctx->db,
                                      "SELECT " SECRET_COLUMNS " FROM secrets WHERE account = ?1 "
                                      "AND deleted_at IS NULL ORDER BY created_at, arn",
                                      err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    json_t *list = json_array();
    json_t *filters = json_get_array(in, "Filters");
    long seen = 0;
    bool more = false;
    int rc, r = 0;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct secret s = {0};
        read_row(st, &s);
        bool ok = true;
        size_t i;
        json_t *f;
        json_array_foreach(filters, i, f) ok = ok && filter_matches(&s, f);
        if (ok && seen++ >= skip) {
            if ((json_int_t)json_array_size(list) == limit) {
                more = true;
                secret_done(&s);
                break;
            }
            json_t *doc = NULL;
            r = secret_doc(ctx->db, &s, "SecretVersionsToStages", &doc, err);
            if (r == 0)
                json_array_append_new(list, doc);
        }
        secret_done(&s);
    }
    if (r == 0 && !more && rc != SQLITE_DONE)
        r = db_fail(ctx->db, err, "list secrets");
    sqlite3_reset(st);
    if (r < 0) {
        json_decref(list);
        return r;
    }
    json_t *out = json_pack("{s:o}", "SecretList", list);
    if (more)
        json_object_set_new(out, "NextToken", json_sprintf("%ld", skip + (long)limit));
    *ret_out = out;
    return 0;
}

int secrets_update(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    int r = begin(ctx, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    if ((r = lookup_live(ctx, in, &s, err)) < 0) {
        db_rollback(ctx->db);
        return r;
    }
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE secrets SET description = COALESCE(?2, description), "
                               "kms_key_id = COALESCE(?3, kms_key_id), changed_at = ?4 "
                               "WHERE arn = ?1",
                               err);
    if (!st) {
        db_rollback(ctx->db);
        return -EIO;
    }
    db_bind_text(st, 1, s.arn);
    db_bind_text(st, 2, json_get_str(in, "Description"));
    db_bind_text(st, 3, json_get_str(in, "KmsKeyId"));
    sqlite3_bind_int64(st, 4, ctx->now_ms);
    r = db_exec_stmt(ctx->db, st, err);
    _cleanup_free_ char *version = NULL;
    if (r == 0)
        r = secrets_version_add(ctx, &s, in, NULL, &version, err);
    if ((r = commit(ctx, r, err)) < 0)
        return r;
    json_t *out = json_pack("{s:s, s:s}", "ARN", s.arn, "Name", s.name);
    json_set_str(out, "VersionId", version);
    *ret_out = out;
    return 0;
}

int secrets_delete(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    bool force = json_get_bool(in, "ForceDeleteWithoutRecovery", false);
    bool has_window = json_object_get(in, "RecoveryWindowInDays") != NULL;
    json_int_t days = json_get_int(in, "RecoveryWindowInDays", 30);
    if (force && has_window)
        return error_set(err, EINVAL, ERR_INVALID,
                         "You can't use ForceDeleteWithoutRecovery in conjunction with "
                         "RecoveryWindowInDays.");
    if (days < 7 || days > 30)
        return error_set(err, EINVAL, ERR_INVALID,
                         "The RecoveryWindowInDays value must be between 7 and 30 days "
                         "(inclusive).");
    int r = begin(ctx, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    if ((r = lookup(ctx, in, &s, err)) < 0) {
        db_rollback(ctx->db);
        return r;
    }
    int64_t when = ctx->now_ms;
    if (force) {
        r = drop(ctx->db, s.arn, err);
    } else if (s.deleted_ms) {
        db_rollback(ctx->db);
        return error_set(err, EINVAL, ERR_SM_REQUEST, MSG_DELETED);
    } else {
        when = ctx->now_ms + days * DAY_MS;
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "UPDATE secrets SET deleted_at = ?2, purge_at = ?3 "
                                   "WHERE arn = ?1",
                                   err);
        if (!st) {
            db_rollback(ctx->db);
            return -EIO;
        }
        db_bind_text(st, 1, s.arn);
        sqlite3_bind_int64(st, 2, ctx->now_ms);
        sqlite3_bind_int64(st, 3, when);
        r = db_exec_stmt(ctx->db, st, err);
    }
    if ((r = commit(ctx, r, err)) < 0)
        return r;
    *ret_out = json_pack("{s:s, s:s, s:o}", "ARN", s.arn, "Name", s.name, "DeletionDate",
                         json_timestamp(when));
    return 0;
}

int secrets_restore(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    int r = begin(ctx, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    if ((r = lookup(ctx, in, &s, err)) < 0) {
        db_rollback(ctx->db);
        return r;
    }
    sqlite3_stmt *st = db_stmt(
        ctx->db, "UPDATE secrets SET deleted_at = NULL, purge_at = NULL WHERE arn = ?1", err);
    if (!st) {
        db_rollback(ctx->db);
        return -EIO;
    }
    db_bind_text(st, 1, s.arn);
    r = db_exec_stmt(ctx->db, st, err);
    if ((r = commit(ctx, r, err)) < 0)
        return r;
    *ret_out = json_pack("{s:s, s:s}", "ARN", s.arn, "Name", s.name);
    return 0;
}

int secrets_tag(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    int r = begin(ctx, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    if ((r = lookup_live(ctx, in, &s, err)) < 0) {
        db_rollback(ctx->db);
        return r;
    }
    r = merge_tags(s.tags, json_get_array(in, "Tags"), err);
    if (r == 0)
        r = save_tags(ctx, &s, err);
    return commit(ctx, r, err);
}

int secrets_untag(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    int r = begin(ctx, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    if ((r = lookup_live(ctx, in, &s, err)) < 0) {
        db_rollback(ctx->db);
        return r;
    }
    json_t *keep = json_array();
    size_t i, j;
    json_t *t, *k;
    json_array_foreach(s.tags, i, t)
    {
        bool drop_it = false;
        json_array_foreach(json_get_array(in, "TagKeys"), j, k)
        {
            drop_it = drop_it || (json_string_value(k) &&
                                  strcmp(json_string_value(k), json_get_str(t, "Key")) == 0);
        }
        if (!drop_it)
            json_array_append(keep, t);
    }
    json_decref(s.tags);
    s.tags = keep;
    r = save_tags(ctx, &s, err);
    return commit(ctx, r, err);
}
