/* AddTags, RemoveTags, DescribeTags on load balancers, target groups,
 * listeners and rules of the caller's account. */
#include "elb/elb-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define MAX_RESOURCES 20

/* The resource arn names must exist in the caller's account; its kind's
 * NotFound error otherwise. */
static int resource_check(struct api_ctx *ctx, const char *arn, struct error **err)
{
    static const struct {
        const char *marker, *sql, *code, *noun;
    } kinds[] = {
        {":loadbalancer/", "SELECT 1 FROM elb_load_balancers WHERE arn = ?1 AND account = ?2",
         ELB_LB_NOT_FOUND, "Load balancer"},
        {":targetgroup/", "SELECT 1 FROM elb_target_groups WHERE arn = ?1 AND account = ?2",
         ELB_TG_NOT_FOUND, "Target group"},
        {":listener/", "SELECT 1 FROM elb_listeners WHERE arn = ?1 AND account = ?2",
         ELB_LISTENER_NF, "Listener"},
        {":listener-rule/", "SELECT 1 FROM elb_rules WHERE arn = ?1 AND account = ?2",
         ELB_RULE_NOT_FOUND, "Rule"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strstr(arn, kinds[i].marker))
            continue;
        sqlite3_stmt *st = db_stmt(ctx->db, kinds[i].sql, err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, ctx->account->account_id);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return error_set(err, ENOENT, kinds[i].code, "%s '%.300s' not found", kinds[i].noun,
                             arn);
        return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "read resource");
    }
    return error_set(err, EINVAL, ELB_VALIDATION, "'%.300s' is not a valid resource ARN", arn);
}

static int resources_check(struct api_ctx *ctx, const json_t *arns, struct error **err)
{
    if (json_array_size(arns) == 0 || json_array_size(arns) > MAX_RESOURCES)
        return error_set(err, EINVAL, ELB_VALIDATION, "Between 1 and %d resource ARNs can be given",
                         MAX_RESOURCES);
    size_t i;
    json_t *a;
    json_array_foreach(arns, i, a)
    {
        int r = resource_check(ctx, json_string_value(a), err);
        if (r < 0)
            return r;
    }
    return 0;
}

int elb_add_tags(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    const json_t *arns = json_get_array(in, "ResourceArns");
    const json_t *tags = json_get_array(in, "Tags");
    int r = elb_tags_check(tags, err);
    if (r < 0 || (r = db_begin(ctx->db, err)) < 0 || (r = resources_check(ctx, arns, err)) < 0)
        return r;
    size_t i;
    json_t *a;
    json_array_foreach(arns, i, a) if ((r = elb_tags_put(ctx, json_string_value(a), tags, err)) <
                                       0) return r;
    return db_commit(ctx->db, err);
}

int elb_remove_tags(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    const json_t *arns = json_get_array(in, "ResourceArns");
    const json_t *keys = json_get_array(in, "TagKeys");
    int r = db_begin(ctx->db, err);
    if (r < 0 || (r = resources_check(ctx, arns, err)) < 0)
        return r;
    size_t i, j;
    json_t *a, *k;
    json_array_foreach(arns, i, a)
    {
        json_array_foreach(keys, j, k)
        {
            sqlite3_stmt *st =
                db_stmt(ctx->db, "DELETE FROM elb_tags WHERE arn = ?1 AND key = ?2", err);
            if (!st)
                return -EIO;
            db_bind_text(st, 1, json_string_value(a));
            db_bind_text(st, 2, json_string_value(k));
            if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
                return r;
        }
    }
    return db_commit(ctx->db, err);
}

int elb_describe_tags(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const json_t *arns = json_get_array(in, "ResourceArns");
    int r = resources_check(ctx, arns, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *descs = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(arns, i, a)
    {
        sqlite3_stmt *st =
            db_stmt(ctx->db, "SELECT key, value FROM elb_tags WHERE arn = ?1 ORDER BY key", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, json_string_value(a));
        json_t *tags = json_array();
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", db_col_text(st, 0), "Value",
                                                  db_col_text(st, 1)));
        sqlite3_reset(st);
        json_array_append_new(descs, json_pack("{s:O, s:o}", "ResourceArn", a, "Tags", tags));
    }
    *ret_out = json_pack("{s:O}", "TagDescriptions", descs);
    return 0;
}
