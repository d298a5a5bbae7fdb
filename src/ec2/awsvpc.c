/* ECS's view of the VPC: resolving a task's awsvpcConfiguration. */
#include "ec2/ec2.h"
#include "ec2/ec2-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define MAX_SUBNETS 16
#define MAX_GROUPS  5

/* The VPC of a subnet or group of the account, or NULL. */
static char *vpc_of(struct api_ctx *ctx, const char *sql, const char *id)
{
    struct error *e = NULL;
    sqlite3_stmt *st = db_stmt(ctx->db, sql, &e);
    error_free(e);
    if (!st)
        return NULL;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    char *vpc = sqlite3_step(st) == SQLITE_ROW ? xstrdup(db_col_text(st, 0)) : NULL;
    sqlite3_reset(st);
    return vpc;
}

int ec2_awsvpc_resolve(struct api_ctx *ctx, const json_t *awsvpc, json_t **ret, struct error **err)
{
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    json_t *subnets_in = json_get_array(awsvpc, "subnets");
    json_t *groups_in = json_get_array(awsvpc, "securityGroups");
    const char *public_ip = json_get_str(awsvpc, "assignPublicIp");
    _cleanup_json_ json_t *subnets = json_array();
    _cleanup_json_ json_t *groups = json_array();
    _cleanup_free_ char *vpc = NULL;
    if (awsvpc && !json_array_size(subnets_in))
        return error_set(err, EINVAL, ERR_INVALID, "subnets can not be empty.");
    if (json_array_size(subnets_in) > MAX_SUBNETS)
        return error_set(err, EINVAL, ERR_INVALID, "At most %d subnets may be given.", MAX_SUBNETS);
    if (json_array_size(groups_in) > MAX_GROUPS)
        return error_set(err, EINVAL, ERR_INVALID, "At most %d security groups may be given.",
                         MAX_GROUPS);
    size_t i;
    json_t *v;
    json_array_foreach(subnets_in, i, v)
    {
        const char *id = json_string_value(v);
        _cleanup_free_ char *sv =
            vpc_of(ctx, "SELECT vpc_id FROM ec2_subnets WHERE id = ?1 AND account = ?2", id);
        if (!sv)
            return error_set(err, ENOENT, ERR_INVALID,
                             "Error retrieving subnet information for [%.64s]: The subnet ID "
                             "'%.64s' does not exist",
                             id, id);
        if (vpc && strcmp(vpc, sv) != 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The subnets of a task must all be in one VPC: %.64s is in %s, not "
                             "%s.",
                             id, sv, vpc);
        if (!vpc)
            vpc = TAKE_PTR(sv);
        json_array_append_new(subnets, json_string(id));
    }
    if (!vpc) {
        /* No configuration: the default VPC's default subnet, as `skiff
         * run` and a bare RunTask expect. */
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "SELECT s.id, s.vpc_id FROM ec2_accounts a "
                                   "JOIN ec2_subnets s ON s.vpc_id = a.default_vpc "
                                   "WHERE a.account = ?1 ORDER BY s.is_default DESC, s.created_at "
                                   "LIMIT 1",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, ctx->account->account_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            json_array_append_new(subnets, json_string(db_col_text(st, 0)));
            vpc = xstrdup(db_col_text(st, 1));
        }
        sqlite3_reset(st);
        if (!vpc)
            return error_set(err, EINVAL, ERR_INVALID,
                             "networkConfiguration.awsvpcConfiguration is required: this account "
                             "has no default VPC with a subnet.");
    }
    json_array_foreach(groups_in, i, v)
    {
        const char *id = json_string_value(v);
        _cleanup_free_ char *gv = vpc_of(
            ctx, "SELECT vpc_id FROM ec2_security_groups WHERE id = ?1 AND account = ?2", id);
        if (!gv)
            return error_set(err, ENOENT, ERR_INVALID,
                             "Error retrieving security group information for [%.64s]: The "
                             "security group '%.64s' does not exist",
                             id, id);
        if (strcmp(gv, vpc) != 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Security group %.64s is in VPC %s, not in the subnets' VPC %s.", id,
                             gv, vpc);
        json_array_append_new(groups, json_string(id));
    }
    if (!json_array_size(groups)) {
        _cleanup_free_ char *dg =
            vpc_of(ctx,
                   "SELECT id FROM ec2_security_groups WHERE vpc_id = ?1 AND account = ?2 "
                   "AND name = 'default'",
                   vpc);
        if (dg)
            json_array_append_new(groups, json_string(dg));
    }
    *ret = json_pack("{s:s, s:O, s:O, s:s}", "vpcId", vpc, "subnets", subnets, "securityGroups",
                     groups, "assignPublicIp", public_ip ? public_ip : "DISABLED");
    return 0;
}
