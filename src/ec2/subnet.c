/* Subnets: CreateSubnet, DescribeSubnets, DeleteSubnet. A subnet is a
 * slice (/16 to /28) of its VPC's block that overlaps no other subnet of the
 * VPC; as on AWS the first four addresses and the last are reserved
 * (network, router, DNS, future use, broadcast), so task ENIs get the rest.
 * On each host a subnet is a bridge (src/net). */
#include "ec2/ec2-internal.h"
#include "ec2/ec2.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define SUBNET_COLUMNS "id, vpc_id, cidr, prefix, az, is_default, map_public_ip"

static int used_addresses(struct api_ctx *ctx, const char *id, int *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db, "SELECT COUNT(*) FROM ec2_enis WHERE subnet_id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "count addresses");
}

static int subnet_doc(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags, json_t **ret,
                      struct error **err)
{
    const char *id = db_col_text(st, 0);
    int used;
    int r = used_addresses(ctx, id, &used, err);
    if (r < 0)
        return r;
    long long size = 1LL << (32 - sqlite3_column_int(st, 3));
    _cleanup_free_ char *arn =
        xasprintf("arn:aws:ec2:%s:%s:subnet/%s", ctx->region, ctx->account->account_id, id);
    _cleanup_free_ char *az_id = xasprintf("%s-az1", ctx->region);
    *ret =
        json_pack("{s:s, s:s, s:I, s:s, s:b, s:b, s:s, s:s, s:s, s:s, s:b, s:s, s:o}",
                  "availabilityZone", db_col_text(st, 4), "availabilityZoneId", az_id,
                  "availableIpAddressCount", (json_int_t)(size - EC2_SUBNET_RESERVED - used),
                  "cidrBlock", db_col_text(st, 2), "defaultForAz", sqlite3_column_int(st, 5),
                  "mapPublicIpOnLaunch", sqlite3_column_int(st, 6), "state", "available",
                  "subnetId", id, "vpcId", db_col_text(st, 1), "ownerId", ctx->account->account_id,
                  "assignIpv6AddressOnCreation", 0, "subnetArn", arn, "tagSet", ec2_tag_set(tags));
    return 0;
}

int ec2_create_subnet(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *vpc = json_get_str(in, "VpcId");
    const char *cidr_s = json_get_str(in, "CidrBlock");
    const char *az = json_get_str(in, "AvailabilityZone");
    if (!vpc)
        return error_set(err, EINVAL, EC2_MISSING, "The request must contain the parameter VpcId");
    if (!cidr_s)
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter CidrBlock");
    struct ec2_cidr cidr;
    if (ec2_cidr_parse(cidr_s, &cidr) < 0)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Value (%.64s) for parameter cidrBlock is invalid. This is not a valid "
                         "CIDR block.",
                         cidr_s);
    _cleanup_free_ char *only_az = xasprintf("%sa", ctx->region);
    if (az && strcmp(az, only_az) != 0)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Value (%.64s) for parameter availabilityZone is invalid. Subnets can "
                         "currently only be created in the following availability zones: %s.",
                         az, only_az);
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT cidr FROM ec2_vpcs WHERE id = ?1 AND account = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, vpc);
    db_bind_text(st, 2, ctx->account->account_id);
    struct ec2_cidr vpc_cidr = {0, -1};
    if (sqlite3_step(st) == SQLITE_ROW)
        ec2_cidr_parse(db_col_text(st, 0), &vpc_cidr);
    sqlite3_reset(st);
    if (vpc_cidr.prefix < 0)
        return error_set(err, ENOENT, "InvalidVpcID.NotFound", "The vpc ID '%.64s' does not exist",
                         vpc);
    if (cidr.prefix < 16 || cidr.prefix > 28 || !ec2_cidr_contains(&vpc_cidr, &cidr))
        return error_set(err, EINVAL, "InvalidSubnet.Range", "The CIDR '%.64s' is invalid.",
                         cidr_s);
    st = db_stmt(ctx->db, "SELECT net, prefix FROM ec2_subnets WHERE vpc_id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, vpc);
    bool conflict = false;
    while (!conflict && sqlite3_step(st) == SQLITE_ROW) {
        struct ec2_cidr other = {(uint32_t)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1)};
        conflict = ec2_cidr_overlap(&cidr, &other);
    }
    sqlite3_reset(st);
    if (conflict)
        return error_set(err, EEXIST, "InvalidSubnet.Conflict",
                         "The CIDR '%.64s' conflicts with another subnet", cidr_s);
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    char canon[20];
    ec2_cidr_format(&cidr, canon);
    _cleanup_free_ char *id = ec2_id_new("subnet");
    st = db_stmt(ctx->db,
                 "INSERT INTO ec2_subnets(id, account, vpc_id, cidr, net, prefix, az, is_default, "
                 "map_public_ip, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, ?8)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, vpc);
    db_bind_text(st, 4, canon);
    sqlite3_bind_int64(st, 5, cidr.net);
    sqlite3_bind_int(st, 6, cidr.prefix);
    db_bind_text(st, 7, only_az);
    sqlite3_bind_int64(st, 8, ctx->now_ms);
    r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    r = ec2_tags_apply_specs(ctx, id, "subnet", json_get_array(in, "TagSpecifications"), err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *tags = NULL;
    r = ec2_tags_map(ctx, id, &tags, err);
    if (r < 0)
        return r;
    r = db_commit(ctx->db, err);
    if (r < 0)
        return r;
    st = db_stmt(ctx->db, "SELECT " SUBNET_COLUMNS " FROM ec2_subnets WHERE id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    json_t *doc = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        r = subnet_doc(ctx, st, tags, &doc, err);
    else
        r = db_fail(ctx->db, err, "read subnet");
    sqlite3_reset(st);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:o}", "subnet", doc);
    return 0;
}

static int subnet_row(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags,
                      const json_t *filters, json_t **ret_doc, struct error **err)
{
    const char *id = db_col_text(st, 0);
    _cleanup_free_ char *arn =
        xasprintf("arn:aws:ec2:%s:%s:subnet/%s", ctx->region, ctx->account->account_id, id);
    const char *cidr = db_col_text(st, 2);
    _cleanup_json_ json_t *attrs =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "subnet-id", id, "vpc-id",
                  db_col_text(st, 1), "cidr-block", cidr, "cidr", cidr, "cidrBlock", cidr,
                  "availability-zone", db_col_text(st, 4), "default-for-az",
                  sqlite3_column_int(st, 5) ? "true" : "false", "state", "available", "owner-id",
                  ctx->account->account_id, "subnet-arn", arn);
    *ret_doc = NULL;
    if (!ec2_filters_match(filters, attrs, tags))
        return 0;
    return subnet_doc(ctx, st, tags, ret_doc, err);
}

int ec2_describe_subnets(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                         struct error **err)
{
    static const char *const allowed[] = {
        "subnet-id",      "vpc-id", "cidr-block", "cidr",       "cidrBlock", "availability-zone",
        "default-for-az", "state",  "owner-id",   "subnet-arn", NULL};
    const json_t *filters = json_get_array(in, "Filters");
    const json_t *ids = json_get_array(in, "SubnetIds");
    int r = ec2_filters_check(filters, allowed, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " SUBNET_COLUMNS " FROM ec2_subnets WHERE account = ?1 "
                               "ORDER BY created_at, id",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    struct ec2_walk w = {.ids = ids,
                         .filters = filters,
                         .read_what = "read subnets",
                         .not_found = "InvalidSubnetID.NotFound",
                         .id_noun = "subnet ID",
                         .row = subnet_row};
    json_t *set = NULL;
    if ((r = ec2_describe_walk(ctx, st, &w, &set, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "subnetSet", set);
    return 0;
}

int ec2_delete_subnet(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    const char *id = json_get_str(in, "SubnetId");
    if (!id)
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter SubnetId");
    int r = db_begin(ctx->db, err);
    if (r < 0 || (r = ec2_eni_gc(ctx->db, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT (SELECT COUNT(*) FROM ec2_enis WHERE subnet_id = ?1) "
                               "FROM ec2_subnets WHERE id = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    int enis = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, "InvalidSubnetID.NotFound",
                         "The subnet ID '%.64s' does not exist", id);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read subnet");
    if (enis)
        return error_set(err, EBUSY, "DependencyViolation",
                         "The subnet '%.64s' has dependencies and cannot be deleted.", id);
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    st = db_stmt(ctx->db, "DELETE FROM ec2_subnets WHERE id = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    r = ec2_tags_drop(ctx, id, err);
    if (r < 0)
        return r;
    return db_commit(ctx->db, err);
}
