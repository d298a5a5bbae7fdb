/* Secret versions and their values: GetSecretValue, PutSecretValue,
 * ListSecretVersionIds, UpdateSecretVersionStage, and the reads the task
 * runtime makes (secrets_get_string).
 *
 * A staging label belongs to at most one version of a secret (the
 * secret_stages table has one row per label). Adding a version labelled
 * AWSCURRENT moves the label from the old current version, which takes
 * AWSPREVIOUS; versions left without labels are deprecated and at most
 * MAX_DEPRECATED of them are kept. Values are sealed with the secret's ARN
 * and the version id as additional data (crypt.c). */
#include "secrets/secrets.h"
#include "secrets/secrets-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#define MAX_DEPRECATED 100
#define CURRENT        "AWSCURRENT"
#define PREVIOUS       "AWSPREVIOUS"

void secret_value_done(struct secret_value *v)
{
    free(v->version_id);
    if (v->data)
        OPENSSL_cleanse(v->data, v->len);
    free(v->data);
    memset(v, 0, sizeof(*v));
}

static char *aad_of(const char *arn, const char *version_id)
{
    return xasprintf("%s\n%s", arn, version_id);
}

static char *uuid4(void)
{
    uint8_t b[16];
    hash_random(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hash_hex(b, sizeof(b), hex);
    return xasprintf("%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Reads and decrypts one version row: columns version_id, created_at,
 * is_binary, value. */
static int read_value(struct db *db, const char *arn, sqlite3_stmt *st, struct secret_value *ret,
                      struct error **err)
{
    (void)db;
    const char *vid = db_col_text(st, 0);
    _cleanup_free_ char *aad = aad_of(arn, vid);
    struct secret_value v = {
        .version_id = xstrdup(vid),
        .created_ms = sqlite3_column_int64(st, 1),
        .binary = sqlite3_column_int(st, 2) != 0,
    };
    int r = secrets_unseal(aad, sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
                           &v.data, &v.len, err);
    if (r < 0) {
        free(v.version_id);
        return r;
    }
    *ret = v;
    return 0;
}

int secrets_value_get(struct db *db, const struct secret *s, const char *version_id,
                      const char *stage, struct secret_value *ret, struct error **err)
{
    if (!version_id && !stage)
        stage = CURRENT;
    sqlite3_stmt *st;
    if (stage) {
        st = db_stmt(
            db,
            "SELECT v.version_id, v.created_at, v.is_binary, v.value "
            "FROM secret_stages s JOIN secret_versions v "
            "ON v.secret_arn = s.secret_arn AND v.version_id = s.version_id "
            "WHERE s.secret_arn = ?1 AND s.stage = ?2 AND (?3 IS NULL OR v.version_id = ?3)",
            err);
    } else {
        st = db_stmt(db,
                     "SELECT version_id, created_at, is_binary, value FROM secret_versions "
                     "WHERE secret_arn = ?1 AND version_id = ?3 AND ?2 IS NULL",
                     err);
    }
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    db_bind_text(st, 2, stage);
    db_bind_text(st, 3, version_id);
    int rc = sqlite3_step(st);
    int r;
    if (rc == SQLITE_ROW)
        r = read_value(db, s->arn, st, ret, err);
    else if (rc == SQLITE_DONE && version_id)
        r = error_set(err, ENOENT, ERR_NOT_FOUND,
                      "Secrets Manager can't find the specified secret value for VersionId: %s",
                      version_id);
    else if (rc == SQLITE_DONE)
        r = error_set(err, ENOENT, ERR_NOT_FOUND,
                      "Secrets Manager can't find the specified secret value for staging label: "
                      "%s",
                      stage);
    else
        r = db_fail(db, err, "read secret value");
    sqlite3_reset(st);
    return r;
}

int secrets_version_stages(struct db *db, const char *arn, const char *version_id, json_t **ret,
                           struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT stage FROM secret_stages WHERE secret_arn = ?1 AND "
                               "version_id = ?2 ORDER BY stage",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, version_id);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list, json_string(db_col_text(st, 0)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return db_fail(db, err, "read secret stages");
    }
    *ret = list;
    return 0;
}

/* The version holding stage, as a new string, or NULL. */
static int stage_holder(struct db *db, const char *arn, const char *stage, char **ret,
                        struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        db, "SELECT version_id FROM secret_stages WHERE secret_arn = ?1 AND stage = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, stage);
    int rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? xstrdup(db_col_text(st, 0)) : NULL;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(db, err, "read secret stage");
}

static int set_stage(struct db *db, const char *arn, const char *stage, const char *version_id,
                     struct error **err)
{
    sqlite3_stmt *st =
        version_id
            ? db_stmt(db,
                      "INSERT OR REPLACE INTO secret_stages(secret_arn, stage, version_id) "
                      "VALUES (?1, ?2, ?3)",
                      err)
            : db_stmt(db, "DELETE FROM secret_stages WHERE secret_arn = ?1 AND stage = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, stage);
    if (version_id)
        db_bind_text(st, 3, version_id);
    return db_exec_stmt(db, st, err);
}

/* Gives stage to version_id; moving AWSCURRENT hands AWSPREVIOUS to the
 * version that held it. */
static int move_stage(struct db *db, const char *arn, const char *stage, const char *version_id,
                      struct error **err)
{
    if (strcmp(stage, CURRENT) == 0) {
        _cleanup_free_ char *old = NULL;
        int r = stage_holder(db, arn, CURRENT, &old, err);
        if (r < 0)
            return r;
        if (old && strcmp(old, version_id) != 0 && (r = set_stage(db, arn, PREVIOUS, old, err)) < 0)
            return r;
    }
    return set_stage(db, arn, stage, version_id, err);
}

/* Keeps at most MAX_DEPRECATED unlabelled versions, dropping the oldest. */
static int trim_deprecated(struct db *db, const char *arn, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db,
                "DELETE FROM secret_versions WHERE secret_arn = ?1 AND version_id IN "
                "(SELECT version_id FROM secret_versions v WHERE secret_arn = ?1 AND "
                "NOT EXISTS (SELECT 1 FROM secret_stages s WHERE s.secret_arn = ?1 "
                "AND s.version_id = v.version_id) "
                "ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?2)",
                err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    sqlite3_bind_int(st, 2, MAX_DEPRECATED);
    return db_exec_stmt(db, st, err);
}

int secrets_version_add(struct api_ctx *ctx, const struct secret *s, const json_t *in,
                        const json_t *stages, char **ret_version, struct error **err)
{
    const char *str = json_get_str(in, "SecretString");
    const char *bin = json_get_str(in, "SecretBinary");
    if (str && bin)
        return error_set(err, EINVAL, ERR_INVALID,
                         "You can't specify both a binary secret value and a string secret value "
                         "in the same secret.");
    if (!str && !bin) {
        *ret_version = NULL;
        return 0;
    }
    const char *value = str ? str : bin;
    size_t len = strlen(value);
    /* SecretBinary arrives base64-encoded; its limit is on the bytes. */
    if ((str && len > SECRETS_VALUE_MAX) || (bin && len / 4 * 3 > SECRETS_VALUE_MAX + 2))
        return error_set(err, EINVAL, ERR_INVALID, "The secret value is larger than %d bytes.",
                         SECRETS_VALUE_MAX);
    const char *token = json_get_str(in, "ClientRequestToken");
    _cleanup_free_ char *version = token ? xstrdup(token) : uuid4();
    struct db *db = ctx->db;

    /* The same token again is a retry: the same value is a no-op, another
     * value an error, as on AWS. */
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT version_id, created_at, is_binary, value FROM "
                               "secret_versions WHERE secret_arn = ?1 AND version_id = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    db_bind_text(st, 2, version);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct secret_value old = {0};
        int r = read_value(db, s->arn, st, &old, err);
        sqlite3_reset(st);
        if (r < 0)
            return r;
        bool same =
            old.binary == (bin != NULL) && old.len == len && hash_equal(old.data, value, len);
        secret_value_done(&old);
        if (!same)
            return error_set(err, EEXIST, ERR_SM_EXISTS,
                             "You can't modify an existing version, you can only create new "
                             "versions.");
        *ret_version = TAKE_PTR(version);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, err, "read secret version");

    _cleanup_free_ char *aad = aad_of(s->arn, version);
    _cleanup_free_ uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    int r = secrets_seal(aad, value, len, &sealed, &sealed_len, err);
    if (r < 0)
        return r;
    st =
        db_stmt(db,
                "INSERT INTO secret_versions(secret_arn, version_id, created_at, is_binary, value) "
                "VALUES (?1, ?2, ?3, ?4, ?5)",
                err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s->arn);
    db_bind_text(st, 2, version);
    sqlite3_bind_int64(st, 3, ctx->now_ms);
    sqlite3_bind_int(st, 4, bin != NULL);
    sqlite3_bind_blob(st, 5, sealed, (int)sealed_len, SQLITE_TRANSIENT);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    if (!stages || json_array_size(stages) == 0) {
        r = move_stage(db, s->arn, CURRENT, version, err);
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(stages, i, v)
        {
            if (r == 0)
                r = move_stage(db, s->arn, json_string_value(v), version, err);
        }
    }
    if (r == 0)
        r = trim_deprecated(db, s->arn, err);
    if (r == 0) {
        st = db_stmt(db, "UPDATE secrets SET changed_at = ?2 WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, s->arn);
        sqlite3_bind_int64(st, 2, ctx->now_ms);
        r = db_exec_stmt(db, st, err);
    }
    if (r == 0)
        *ret_version = TAKE_PTR(version);
    return r;
}

static int lookup_live(struct api_ctx *ctx, const json_t *in, struct secret *ret,
                       struct error **err)
{
    int r = secrets_lookup(ctx->db, ctx->account->account_id, ctx->region,
                           json_get_str(in, "SecretId"), ctx->now_ms, ret, err);
    if (r == 0 && ret->deleted_ms) {
        secret_done(ret);
        return error_set(err, EINVAL, ERR_SM_REQUEST,
                         "You can't perform this operation on the secret because it was marked "
                         "for deletion.");
    }
    return r;
}

int secrets_get_value(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_(secret_done) struct secret s = {0};
    int r = lookup_live(ctx, in, &s, err);
    if (r < 0)
        return r;
    _cleanup_(secret_value_done) struct secret_value v = {0};
    r = secrets_value_get(ctx->db, &s, json_get_str(in, "VersionId"),
                          json_get_str(in, "VersionStage"), &v, err);
    if (r < 0)
        return r;
    json_t *stages = NULL;
    if ((r = secrets_version_stages(ctx->db, s.arn, v.version_id, &stages, err)) < 0)
        return r;
    *ret_out =
        json_pack("{s:s, s:s, s:s, s:s%, s:o, s:o}", "ARN", s.arn, "Name", s.name, "VersionId",
                  v.version_id, v.binary ? "SecretBinary" : "SecretString", v.data, v.len,
                  "VersionStages", stages, "CreatedDate", json_timestamp(v.created_ms));
    return 0;
}

int secrets_put_value(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    if (!json_get_str(in, "SecretString") && !json_get_str(in, "SecretBinary"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "You must provide either SecretString or SecretBinary.");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    _cleanup_free_ char *version = NULL;
    json_t *stages = NULL;
    r = lookup_live(ctx, in, &s, err);
    if (r == 0)
        r = secrets_version_add(ctx, &s, in, json_get_array(in, "VersionStages"), &version, err);
    if (r == 0)
        r = secrets_version_stages(ctx->db, s.arn, version, &stages, err);
    if (r == 0)
        r = db_commit(ctx->db, err);
    else
        db_rollback(ctx->db);
    if (r < 0) {
        json_decref(stages);
        return r;
    }
    *ret_out = json_pack("{s:s, s:s, s:s, s:o}", "ARN", s.arn, "Name", s.name, "VersionId", version,
                         "VersionStages", stages);
    return 0;
}

int secrets_list_versions(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                          struct error **err)
{
    _cleanup_(secret_done) struct secret s = {0};
    int r = secrets_lookup(ctx->db, ctx->account->account_id, ctx->region,
                           json_get_str(in, "SecretId"), ctx->now_ms, &s, err);
    if (r < 0)
        return r;
    bool deprecated = json_get_bool(in, "IncludeDeprecated", false);
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT version_id, created_at FROM secret_versions "
                               "WHERE secret_arn = ?1 ORDER BY created_at DESC, rowid DESC",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, s.arn);
    json_t *rows = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(rows, json_pack("{s:s, s:I}", "VersionId", db_col_text(st, 0), "t",
                                              (json_int_t)sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return db_fail(ctx->db, err, "list secret versions");
    }
    json_t *versions = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *stages = NULL;
        const char *vid = json_get_str(row, "VersionId");
        if (r == 0)
            r = secrets_version_stages(ctx->db, s.arn, vid, &stages, err);
        if (r < 0)
            break;
        if (json_array_size(stages) == 0 && !deprecated) {
            json_decref(stages);
            continue;
        }
        json_array_append_new(versions, json_pack("{s:s, s:o, s:o}", "VersionId", vid,
                                                  "VersionStages", stages, "CreatedDate",
                                                  json_timestamp(json_get_int(row, "t", 0))));
    }
    json_decref(rows);
    if (r < 0) {
        json_decref(versions);
        return r;
    }
    *ret_out = json_pack("{s:s, s:s, s:o}", "ARN", s.arn, "Name", s.name, "Versions", versions);
    return 0;
}

static int version_exists(struct db *db, const char *arn, const char *vid, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT 1 FROM secret_versions WHERE secret_arn = ?1 AND version_id = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, vid);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ERR_NOT_FOUND,
                         "Secrets Manager can't find the specified secret value for VersionId: %s",
                         vid);
    return rc == SQLITE_ROW ? 0 : db_fail(db, err, "read secret version");
}

int secrets_update_stage(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                         struct error **err)
{
    const char *stage = json_get_str(in, "VersionStage");
    const char *from = json_get_str(in, "RemoveFromVersionId");
    const char *to = json_get_str(in, "MoveToVersionId");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_(secret_done) struct secret s = {0};
    _cleanup_free_ char *holder = NULL;
    r = lookup_live(ctx, in, &s, err);
    if (r == 0)
        r = stage_holder(ctx->db, s.arn, stage, &holder, err);
    if (r == 0 && holder && (!from || strcmp(from, holder) != 0) && !(to && !strcmp(to, holder)))
        r = error_set(err, EINVAL, ERR_INVALID,
                      "The staging label %s is currently attached to version %s, so you must "
                      "explicitly reference that version in RemoveFromVersionId.",
                      stage, holder);
    if (r == 0 && from && (!holder || strcmp(from, holder) != 0))
        r = error_set(err, EINVAL, ERR_INVALID,
                      "The staging label %s is not attached to version %s.", stage, from);
    if (r == 0 && !to && strcmp(stage, CURRENT) == 0)
        r = error_set(err, EINVAL, ERR_INVALID,
                      "You can only move the staging label AWSCURRENT to another version; you "
                      "can't remove it.");
    if (r == 0 && to)
        r = version_exists(ctx->db, s.arn, to, err);
    if (r == 0)
        r = to ? move_stage(ctx->db, s.arn, stage, to, err)
               : set_stage(ctx->db, s.arn, stage, NULL, err);
    if (r == 0)
        r = trim_deprecated(ctx->db, s.arn, err);
    if (r == 0)
        r = db_commit(ctx->db, err);
    else
        db_rollback(ctx->db);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:s, s:s}", "ARN", s.arn, "Name", s.name);
    return 0;
}

int secrets_get_string(struct db *db, const char *account, const char *region, const char *ref,
                       char **ret, struct error **err)
{
    struct secret s = {0};
    int r = secrets_lookup(db, account, region, ref, time_now_ms(), &s, err);
    if (r < 0)
        return r;
    if (s.deleted_ms) {
        secret_done(&s);
        return error_set(err, EINVAL, ERR_SM_REQUEST,
                         "You can't perform this operation on the secret because it was marked "
                         "for deletion.");
    }
    struct secret_value v = {0};
    r = secrets_value_get(db, &s, NULL, NULL, &v, err);
    secret_done(&s);
    if (r < 0)
        return r;
    if (v.binary) {
        secret_value_done(&v);
        return error_set(err, EINVAL, ERR_SM_REQUEST, "the secret holds a binary value");
    }
    *ret = TAKE_PTR(v.data);
    secret_value_done(&v);
    return 0;
}
