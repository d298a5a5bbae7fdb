/* Load balancers: CreateLoadBalancer, DescribeLoadBalancers,
 * DeleteLoadBalancer and their attributes. A load balancer lives in one
 * VPC, in the subnets (one per availability zone; skiff has one zone) and
 * security groups it names. Its DNSName is NAME-NNNNNNNNNN.REGION.elb.localhost,
 * which resolves to the loopback address (RFC 6761) where the data plane
 * binds its listeners: see docs/elb.md. */
#include "elb/elb-internal.h"
#include "elb/attrs.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LB_COLUMNS                                                                                 \
    "arn, name, type, scheme, vpc_id, ip_address_type, subnets, security_groups, dns_name, "       \
    "created_at"

/* Route 53 would hold the alias records; skiff has one pseudo zone. */
#define LB_HOSTED_ZONE "ZSKIFFELB0000001"

static json_t *lb_doc(sqlite3_stmt *st, const char *state)
{
    _cleanup_free_ char *created = elb_timestamp(sqlite3_column_int64(st, 9));
    _cleanup_json_ json_t *subnets = json_parse_trusted(db_col_text(st, 6));
    json_t *azs = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(subnets, i, s)
    {
        json_array_append_new(
            azs, json_pack("{s:O, s:O, s:[]}", "ZoneName", json_object_get(s, "ZoneName"),
                           "SubnetId", json_object_get(s, "SubnetId"), "LoadBalancerAddresses"));
    }
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:o, s:s}", "LoadBalancerArn",
        db_col_text(st, 0), "DNSName", db_col_text(st, 8), "CanonicalHostedZoneId", LB_HOSTED_ZONE,
        "CreatedTime", created, "LoadBalancerName", db_col_text(st, 1), "Scheme",
        db_col_text(st, 3), "VpcId", db_col_text(st, 4), "State", "Code", state, "Type",
        db_col_text(st, 2), "AvailabilityZones", azs, "IpAddressType", db_col_text(st, 5));
    _cleanup_json_ json_t *sgs = json_parse_trusted(db_col_text(st, 7));
    if (json_array_size(sgs))
        json_object_set(doc, "SecurityGroups", sgs);
    return doc;
}

/* Resolves the subnets of a CreateLoadBalancer call: all in the caller's
 * account, in one VPC, one per availability zone. *ret is
 * [{SubnetId, ZoneName}] and *ret_vpc the VPC. */
static int subnets_resolve(struct api_ctx *ctx, const json_t *in, json_t **ret, char **ret_vpc,
                           struct error **err)
{
    const json_t *subnets = json_get_array(in, "Subnets");
    const json_t *mappings = json_get_array(in, "SubnetMappings");
    if (subnets && mappings)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "You can specify subnets or subnet mappings, not both");
    _cleanup_json_ json_t *ids = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(subnets, i, v) json_array_append(ids, v);
    json_array_foreach(mappings, i, v)
    {
        if (json_get_str(v, "AllocationId") || json_get_str(v, "PrivateIPv4Address") ||
            json_get_str(v, "IPv6Address"))
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Subnet mappings with addresses are not supported: a skiff load "
                             "balancer listens on the host's address");
        if (!json_get_str(v, "SubnetId"))
            return error_set(err, EINVAL, ELB_VALIDATION, "A subnet mapping needs a SubnetId");
        json_array_append_new(ids, json_string(json_get_str(v, "SubnetId")));
    }
    if (json_array_size(ids) == 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "At least one subnet must be specified");
    _cleanup_json_ json_t *out = json_array();
    _cleanup_free_ char *vpc = NULL;
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v);
        sqlite3_stmt *st = db_stmt(
            ctx->db, "SELECT vpc_id, az FROM ec2_subnets WHERE id = ?1 AND account = ?2", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, ctx->account->account_id);
        int rc = sqlite3_step(st);
        _cleanup_free_ char *svpc = rc == SQLITE_ROW ? xstrdup(db_col_text(st, 0)) : NULL;
        _cleanup_free_ char *az = rc == SQLITE_ROW ? xstrdup(db_col_text(st, 1)) : NULL;
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return error_set(err, ENOENT, "SubnetNotFound", "The subnet ID '%.64s' is not found",
                             id);
        if (rc != SQLITE_ROW)
            return db_fail(ctx->db, err, "read subnet");
        if (vpc && strcmp(vpc, svpc) != 0)
            return error_set(err, EINVAL, "InvalidSubnet",
                             "The subnets of a load balancer must all be in one VPC");
        if (!vpc)
            vpc = xstrdup(svpc);
        size_t j;
        json_t *o;
        json_array_foreach(out, j, o)
        {
            if (!strcmp(json_get_str(o, "ZoneName"), az))
                return error_set(err, EINVAL, ELB_INVALID_CONFIG,
                                 "A load balancer cannot be attached to multiple subnets in the "
                                 "same Availability Zone");
        }
        json_array_append_new(out, json_pack("{s:s, s:s}", "SubnetId", id, "ZoneName", az));
    }
    *ret = TAKE_PTR(out);
    *ret_vpc = TAKE_PTR(vpc);
    return 0;
}

/* Security groups: each in the caller's account and the load balancer's
 * VPC. An application load balancer with none gets the VPC's default
 * group, as on AWS. */
static int groups_resolve(struct api_ctx *ctx, const json_t *in, const char *type, const char *vpc,
                          json_t **ret, struct error **err)
{
    const json_t *sgs = json_get_array(in, "SecurityGroups");
    _cleanup_json_ json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(sgs, i, v)
    {
        const char *id = json_string_value(v);
        sqlite3_stmt *st = db_stmt(
            ctx->db, "SELECT vpc_id FROM ec2_security_groups WHERE id = ?1 AND account = ?2", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, ctx->account->account_id);
        int rc = sqlite3_step(st);
        bool same = rc == SQLITE_ROW && !strcmp(db_col_text(st, 0), vpc);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(ctx->db, err, "read security group");
        if (rc == SQLITE_DONE)
            return error_set(err, ENOENT, "InvalidSecurityGroup",
                             "The security group '%.64s' does not exist", id);
        if (!same)
            return error_set(err, EINVAL, "InvalidSecurityGroup",
                             "The security group '%.64s' is not in the load balancer's VPC '%s'",
                             id, vpc);
        json_array_append(out, v);
    }
    if (json_array_size(out) == 0 && !strcmp(type, "application")) {
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "SELECT id FROM ec2_security_groups WHERE vpc_id = ?1 AND "
                                   "account = ?2 AND name = 'default'",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, vpc);
        db_bind_text(st, 2, ctx->account->account_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(out, json_string(db_col_text(st, 0)));
        sqlite3_reset(st);
    }
    *ret = TAKE_PTR(out);
    return 0;
}

int elb_create_load_balancer(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                             struct error **err)
{
    const char *name = json_get_str(in, "Name");
    const char *type = json_get_str(in, "Type");
    const char *scheme = json_get_str(in, "Scheme");
    const char *ip_type = json_get_str(in, "IpAddressType");
    if (!type)
        type = "application";
    if (!scheme)
        scheme = "internet-facing";
    if (!ip_type)
        ip_type = "ipv4";
    if (!elb_name_valid(name) || !strncmp(name, "internal-", 9))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Load balancer name '%.64s' is not valid: 1-32 letters, digits and "
                         "hyphens, not starting or ending with a hyphen or starting with "
                         "'internal-'",
                         name);
    if (strcmp(type, "application") != 0 && strcmp(type, "network") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Load balancer type '%.32s' is not supported: application or network",
                         type);
    if (strcmp(ip_type, "ipv4") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "IP address type '%.32s' is not supported: skiff load balancers are "
                         "ipv4",
                         ip_type);
    if (json_get_str(in, "CustomerOwnedIpv4Pool"))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Customer-owned IPv4 pools are not supported");
    const json_t *tags = json_get_array(in, "Tags");
    int r = elb_tags_check(tags, err);
    if (r < 0)
        return r;

    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *subnets = NULL, *sgs = NULL;
    _cleanup_free_ char *vpc = NULL;
    if ((r = subnets_resolve(ctx, in, &subnets, &vpc, err)) < 0 ||
        (r = groups_resolve(ctx, in, type, vpc, &sgs, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT COUNT(*), SUM(name = ?2) FROM elb_load_balancers "
                               "WHERE account = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, name);
    int rc = sqlite3_step(st);
    int count = sqlite3_column_int(st, 0), same = sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "count load balancers");
    if (same)
        return error_set(err, EEXIST, "DuplicateLoadBalancerName",
                         "A load balancer with the name '%s' already exists", name);
    if (count >= ELB_MAX_LBS)
        return error_set(err, EINVAL, "TooManyLoadBalancers",
                         "You have reached the limit of %d load balancers", ELB_MAX_LBS);

    char id[17];
    elb_id_new(id);
    bool app = !strcmp(type, "application");
    _cleanup_free_ char *arn = elb_arn(ctx, "loadbalancer/%s/%s/%s", app ? "app" : "net", name, id);
    /* A stable number per account and name, like the one AWS puts in DNS
     * names, so that a re-created load balancer keeps its name. */
    _cleanup_free_ char *seed = xasprintf("%s/%s", ctx->account->account_id, name);
    uint8_t h[HASH_SHA256_LEN];
    hash_sha256(seed, strlen(seed), h);
    unsigned num =
        ((unsigned)h[0] << 24 | (unsigned)h[1] << 16 | (unsigned)h[2] << 8 | h[3]) % 1000000000u;
    _cleanup_free_ char *dns =
        xasprintf("%s%s-%09u.%s.elb.localhost", strcmp(scheme, "internal") ? "" : "internal-", name,
                  num, ctx->region);
    _cleanup_json_ json_t *attrs = elb_attrs_defaults(ELB_ATTRS_LB, type);
    _cleanup_free_ char *subnets_s = json_dump_compact(subnets);
    _cleanup_free_ char *sgs_s = json_dump_compact(sgs);
    _cleanup_free_ char *attrs_s = json_dump_compact(attrs);
    st = db_stmt(ctx->db,
                 "INSERT INTO elb_load_balancers(arn, account, name, type, scheme, vpc_id, "
                 "ip_address_type, subnets, security_groups, dns_name, attributes, created_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, name);
    db_bind_text(st, 4, type);
    db_bind_text(st, 5, scheme);
    db_bind_text(st, 6, vpc);
    db_bind_text(st, 7, ip_type);
    db_bind_text(st, 8, subnets_s);
    db_bind_text(st, 9, sgs_s);
    db_bind_text(st, 10, dns);
    db_bind_text(st, 11, attrs_s);
    sqlite3_bind_int64(st, 12, ctx->now_ms);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = elb_tags_put(ctx, arn, tags, err)) < 0 ||
        (r = db_commit(ctx->db, err)) < 0)
        return r;

    st = db_stmt(ctx->db, "SELECT " LB_COLUMNS " FROM elb_load_balancers WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_fail(ctx->db, err, "read load balancer");
    }
    /* Creation answers provisioning; the next Describe finds it active
     * (there is nothing to provision until the data plane is wired). */
    *ret_out = json_pack("{s:[o]}", "LoadBalancers", lb_doc(st, "provisioning"));
    sqlite3_reset(st);
    return 0;
}

static bool list_has(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), s)) return true;
    return false;
}

int elb_describe_load_balancers(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                struct error **err)
{
    const json_t *arns = json_get_array(in, "LoadBalancerArns");
    const json_t *names = json_get_array(in, "Names");
    if (json_array_size(arns) && json_array_size(names))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Load balancer names and load balancer ARNs cannot be specified at the "
                         "same time");
    if (json_array_size(arns) > 20 || json_array_size(names) > 20)
        return error_set(err, EINVAL, ELB_VALIDATION, "At most 20 load balancers can be named");
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " LB_COLUMNS " FROM elb_load_balancers WHERE account = ?1 "
                               "ORDER BY name",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    _cleanup_json_ json_t *items = json_array();
    size_t found = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *arn = db_col_text(st, 0), *name = db_col_text(st, 1);
        if (json_array_size(arns) && !list_has(arns, arn))
            continue;
        if (json_array_size(names) && !list_has(names, name))
            continue;
        found++;
        json_array_append_new(items,
                              json_pack("{s:s, s:o}", "key", name, "doc", lb_doc(st, "active")));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read load balancers");
    size_t asked = elb_unique_count(arns) + elb_unique_count(names);
    if (asked && found < asked)
        return error_set(err, ENOENT, ELB_LB_NOT_FOUND, "One or more load balancers not found");
    json_t *out = json_object();
    int r = elb_page(in, items, "LoadBalancers", out, err);
    if (r < 0) {
        json_decref(out);
        return r;
    }
    *ret_out = out;
    return 0;
}

static int lb_attrs_read(struct api_ctx *ctx, const char *arn, char **ret_type, json_t **ret,
                         struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT type, attributes FROM elb_load_balancers "
                               "WHERE arn = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_type = xstrdup(db_col_text(st, 0));
        *ret = json_parse_trusted(db_col_text(st, 1));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ELB_LB_NOT_FOUND, "Load balancer '%.300s' not found", arn);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "read load balancer");
}

int elb_delete_load_balancer(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                             struct error **err)
{
    (void)ret_out;
    const char *arn = json_get_str(in, "LoadBalancerArn");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *type = NULL;
    _cleanup_json_ json_t *attrs = NULL;
    r = lb_attrs_read(ctx, arn, &type, &attrs, err);
    /* As on AWS, deleting a load balancer that is gone succeeds. */
    if (r == -ENOENT) {
        error_freep(err);
        return 0;
    }
    if (r < 0)
        return r;
    if (!strcmp(json_get_str(attrs, "deletion_protection.enabled"), "true"))
        return error_set(err, EPERM, ELB_NOT_PERMITTED,
                         "Load balancer '%.300s' cannot be deleted because deletion protection "
                         "is enabled",
                         arn);
    static const char *const drops[] = {
        ("DELETE FROM elb_tags WHERE arn IN (SELECT arn FROM elb_rules WHERE lb_arn = ?1) "
         "OR arn IN (SELECT arn FROM elb_listeners WHERE lb_arn = ?1) OR arn = ?1"),
        "DELETE FROM elb_rule_tgs WHERE lb_arn = ?1",
        "DELETE FROM elb_rules WHERE lb_arn = ?1",
        "DELETE FROM elb_listeners WHERE lb_arn = ?1",
        "DELETE FROM elb_load_balancers WHERE arn = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(drops); i++) {
        sqlite3_stmt *st = db_stmt(ctx->db, drops[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    return db_commit(ctx->db, err);
}

int elb_describe_load_balancer_attributes(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                          struct error **err)
{
    _cleanup_free_ char *type = NULL;
    _cleanup_json_ json_t *attrs = NULL;
    int r = lb_attrs_read(ctx, json_get_str(in, "LoadBalancerArn"), &type, &attrs, err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:o}", "Attributes", elb_attrs_list(attrs));
    return 0;
}

int elb_modify_load_balancer_attributes(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                        struct error **err)
{
    const char *arn = json_get_str(in, "LoadBalancerArn");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *type = NULL;
    _cleanup_json_ json_t *attrs = NULL;
    if ((r = lb_attrs_read(ctx, arn, &type, &attrs, err)) < 0 ||
        (r = elb_attrs_apply(ELB_ATTRS_LB, type, attrs, json_get_array(in, "Attributes"), err)) < 0)
        return r;
    _cleanup_free_ char *s = json_dump_compact(attrs);
    sqlite3_stmt *st =
        db_stmt(ctx->db, "UPDATE elb_load_balancers SET attributes = ?2 WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, s);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "Attributes", elb_attrs_list(attrs));
    return 0;
}
