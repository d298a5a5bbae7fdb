#include "ecs/ecs-internal.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool ecs_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return false;
    return true;
}

char *ecs_arn(const struct api_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *res = xvasprintf(fmt, ap);
    va_end(ap);
    return arn_format("ecs", ctx->region, ctx->account->account_id, res);
}

int ecs_cluster_resolve(struct api_ctx *ctx, const char *ref, char **ret_arn, struct error **err)
{
    if (!ref || !*ref)
        ref = "default";
    _cleanup_free_ char *arn = NULL;
    if (arn_is(ref)) {
        struct arn a;
        if (arn_parse(ref, &a) < 0 || strncmp(a.resource, "cluster/", 8) != 0)
            return error_set(err, EINVAL, ERR_INVALID, "Invalid cluster ARN: %.256s", ref);
        arn = xstrdup(ref);
    } else {
        if (strlen(ref) > 255)
            return error_set(err, ENOENT, ERR_CLUSTER_NF, "Cluster not found.");
        arn = ecs_arn(ctx, "cluster/%s", ref);
    }
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT 1 FROM clusters WHERE arn = ?1 AND account = ?2 "
                               "AND status = 'ACTIVE'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ERR_CLUSTER_NF, "Cluster not found.");
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "resolve cluster");
    *ret_arn = TAKE_PTR(arn);
    return 0;
}

int ecs_page_args(const json_t *in, int def, int max, int *ret_limit, char **ret_after,
                  struct error **err)
{
    json_t *mr = json_object_get(in, "maxResults");
    int limit = def;
    if (mr && !json_is_null(mr)) {
        json_int_t v = json_integer_value(mr);
        if (v < 1 || v > max)
            return error_set(err, EINVAL, ERR_INVALID, "maxResults must be between 1 and %d", max);
        limit = (int)v;
    }
    const char *tok = json_string_value(json_object_get(in, "nextToken"));
    char *after = NULL;
    if (tok && *tok) {
        size_t len = strlen(tok);
        if (len > 2048)
            return error_set(err, EINVAL, ERR_INVALID, "Invalid nextToken");
        uint8_t *raw = xmalloc(len + 4);
        long n = hash_b64url_decode(tok, len, raw);
        if (n <= 1 || raw[0] != 'k' || memchr(raw + 1, '\0', (size_t)n - 1)) {
            free(raw);
            return error_set(err, EINVAL, ERR_INVALID, "Invalid nextToken");
        }
        after = xstrndup((char *)raw + 1, (size_t)n - 1);
        free(raw);
    }
    *ret_limit = limit;
    *ret_after = after;
    return 0;
}

json_t *ecs_page_token(const char *last_key)
{
    _cleanup_free_ char *raw = xasprintf("k%s", last_key);
    _cleanup_free_ char *tok = hash_b64url_encode(raw, strlen(raw));
    return json_string(tok);
}

int ecs_page_collect(struct api_ctx *ctx, sqlite3_stmt *st, int limit, int key_col,
                     const char *member, json_t **ret_out, struct error **err)
{
    json_t *items = json_array(), *token = NULL;
    _cleanup_free_ char *last_key = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int)json_array_size(items) == limit) {
            token = ecs_page_token(last_key);
            break;
        }
        json_array_append_new(items, json_string(db_col_text(st, 0)));
        free(last_key);
        last_key = xstrdup(db_col_text(st, key_col));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return db_fail(ctx->db, err, member);
    }
    json_t *out = json_pack("{s:o}", member, items);
    if (token)
        json_object_set_new(out, "nextToken", token);
    *ret_out = out;
    return 0;
}
