/* VPCs: CreateVpc, DescribeVpcs, DeleteVpc. A VPC is an IPv4 CIDR block
 * (/16 to /28) owned by one account; each gets a "default" security group.
 * DeleteVpc refuses while subnets, other security groups or network
 * interfaces remain (DependencyViolation), as AWS does. */
#include "ec2/ec2-internal.h"
#include "ec2/ec2.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

static json_t *vpc_doc(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags)
{
    const char *id = db_col_text(st, 0);
    _cleanup_free_ char *assoc_id =
        xasprintf("vpc-cidr-assoc-%s", strchr(id, '-') ? strchr(id, '-') + 1 : id);
    json_t *assoc = json_pack("[{s:s, s:s, s:{s:s}}]", "associationId", assoc_id, "cidrBlock",
                              db_col_text(st, 1), "cidrBlockState", "state", "associated");
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:o}", "cidrBlock",
                     db_col_text(st, 1), "dhcpOptionsId", "default", "state", "available", "vpcId",
                     id, "ownerId", ctx->account->account_id, "instanceTenancy", "default",
                     "cidrBlockAssociationSet", assoc, "isDefault", sqlite3_column_int(st, 2),
                     "tagSet", ec2_tag_set(tags));
}

int ec2_create_vpc(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *cidr_s = json_get_str(in, "CidrBlock");
    if (!cidr_s)
        return error_set(err, EINVAL, EC2_MISSING,
                         "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.");
    struct ec2_cidr cidr;
    if (ec2_cidr_parse(cidr_s, &cidr) < 0)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Value (%.64s) for parameter cidrBlock is invalid. This is not a valid "
                         "CIDR block.",
                         cidr_s);
    if (cidr.prefix < 16 || cidr.prefix > 28)
        return error_set(err, EINVAL, "InvalidVpc.Range", "The CIDR '%.64s' is invalid.", cidr_s);
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    char canon[20];
    ec2_cidr_format(&cidr, canon);
    _cleanup_free_ char *id = ec2_id_new("vpc");
    _cleanup_free_ char *sg = ec2_id_new("sg");
    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO ec2_vpcs(id, account, cidr, is_default, created_at) "
                               "VALUES (?1, ?2, ?3, 0, ?4)",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, canon);
    sqlite3_bind_int64(st, 4, ctx->now_ms);
    r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    r = ec2_sg_insert(ctx, sg, id, "default", "default VPC security group", true, err);
    if (r < 0)
        return r;
    r = ec2_tags_apply_specs(ctx, id, "vpc", json_get_array(in, "TagSpecifications"), err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *tags = NULL;
    r = ec2_tags_map(ctx, id, &tags, err);
    if (r < 0)
        return r;
    r = db_commit(ctx->db, err);
    if (r < 0)
        return r;
    st = db_stmt(ctx->db, "SELECT id, cidr, is_default FROM ec2_vpcs WHERE id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_fail(ctx->db, err, "read vpc");
    }
    json_t *doc = vpc_doc(ctx, st, tags);
    sqlite3_reset(st);
    /* A VPC is "pending" for a moment on AWS; skiff's is ready at once. */
    *ret_out = json_pack("{s:o}", "vpc", doc);
    return 0;
}

static int vpc_row(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags, const json_t *filters,
                   json_t **ret_doc, struct error **err)
{
    (void)err;
    const char *id = db_col_text(st, 0);
    _cleanup_json_ json_t *attrs =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "vpc-id", id, "cidr", db_col_text(st, 1),
                  "cidr-block-association.cidr-block", db_col_text(st, 1), "is-default",
                  sqlite3_column_int(st, 2) ? "true" : "false", "owner-id",
                  ctx->account->account_id, "state", "available");
    *ret_doc = ec2_filters_match(filters, attrs, tags) ? vpc_doc(ctx, st, tags) : NULL;
    return 0;
}

int ec2_describe_vpcs(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    static const char *const allowed[] = {
        "vpc-id", "cidr", "cidr-block-association.cidr-block", "is-default", "owner-id",
        "state",  NULL};
    const json_t *filters = json_get_array(in, "Filters");
    const json_t *ids = json_get_array(in, "VpcIds");
    int r = ec2_filters_check(filters, allowed, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT id, cidr, is_default FROM ec2_vpcs WHERE account = ?1 "
                               "ORDER BY created_at, id",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    struct ec2_walk w = {.ids = ids,
                         .filters = filters,
                         .read_what = "read vpcs",
                         .not_found = "InvalidVpcID.NotFound",
                         .id_noun = "vpc ID",
                         .row = vpc_row};
    json_t *set = NULL;
    if ((r = ec2_describe_walk(ctx, st, &w, &set, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "vpcSet", set);
    return 0;
}

static int count(struct api_ctx *ctx, const char *sql, const char *id, int *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "count");
    return 0;
}

static int exec_id(struct api_ctx *ctx, const char *sql, const char *id, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    return db_exec_stmt(ctx->db, st, err);
}

int ec2_delete_vpc(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    const char *id = json_get_str(in, "VpcId");
    if (!id)
        return error_set(err, EINVAL, EC2_MISSING, "The request must contain the parameter vpcId");
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    r = db_begin(ctx->db, err);
    if (r < 0 || (r = ec2_eni_gc(ctx->db, err)) < 0)
        return r;
    bool found;
    r = ec2_vpc_exists(ctx, id, &found, err);
    if (r < 0)
        return r;
    if (!found)
        return error_set(err, ENOENT, "InvalidVpcID.NotFound", "The vpc ID '%.64s' does not exist",
                         id);
    int subnets, groups, enis;
    if ((r = count(ctx, "SELECT COUNT(*) FROM ec2_subnets WHERE vpc_id = ?1", id, &subnets, err)) <
            0 ||
        (r = count(ctx,
                   "SELECT COUNT(*) FROM ec2_security_groups WHERE vpc_id = ?1 "
                   "AND name != 'default'",
                   id, &groups, err)) < 0 ||
        (r = count(ctx, "SELECT COUNT(*) FROM ec2_enis WHERE vpc_id = ?1", id, &enis, err)) < 0)
        return r;
    if (subnets || groups || enis)
        return error_set(err, EBUSY, "DependencyViolation",
                         "The vpc '%.64s' has dependencies and cannot be deleted.", id);
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    static const char *const drops[] = {
        ("DELETE FROM ec2_tags WHERE resource_id IN "
         "(SELECT id FROM ec2_security_groups WHERE vpc_id = ?1) OR resource_id IN "
         "(SELECT r.id FROM ec2_sg_rules r JOIN ec2_security_groups g ON r.group_id = g.id "
         " WHERE g.vpc_id = ?1) OR resource_id = ?1"),
        ("DELETE FROM ec2_sg_rules WHERE group_id IN "
         "(SELECT id FROM ec2_security_groups WHERE vpc_id = ?1)"),
        "DELETE FROM ec2_security_groups WHERE vpc_id = ?1",
        "DELETE FROM ec2_vpcs WHERE id = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(drops); i++)
        if ((r = exec_id(ctx, drops[i], id, err)) < 0)
            return r;
    return db_commit(ctx->db, err);
}
