/* Security groups: CreateSecurityGroup, DescribeSecurityGroups,
 * DeleteSecurityGroup. Rules live in sg_rules.c. A group belongs to one VPC
 * and has a unique name there; every VPC has a "default" group that cannot
 * be deleted. New groups allow all egress and no ingress; the default group
 * also admits traffic from its own members, as on AWS. */
#include "ec2/ec2-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

int ec2_sg_insert(struct api_ctx *ctx, const char *id, const char *vpc_id, const char *name,
                  const char *description, bool is_default, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db,
                "INSERT INTO ec2_security_groups(id, account, vpc_id, name, description, "
                "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, vpc_id);
    db_bind_text(st, 4, name);
    db_bind_text(st, 5, description);
    sqlite3_bind_int64(st, 6, ctx->now_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return error_set(err, EEXIST, "InvalidGroup.Duplicate",
                         "The security group '%.255s' already exists for VPC '%s'", name, vpc_id);
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "insert security group");
    struct ec2_rule all_out = {
        .egress = true, .protocol = "-1", .from = -1, .to = -1, .cidr = "0.0.0.0/0"};
    int r = ec2_rule_insert(ctx, id, &all_out, NULL, err);
    if (r < 0 || !is_default)
        return r;
    struct ec2_rule self_in = {.protocol = "-1", .from = -1, .to = -1, .ref_group = id};
    return ec2_rule_insert(ctx, id, &self_in, NULL, err);
}

/* Resolves GroupId, or GroupName in the account's default VPC, to the id
 * and VPC of a group of the caller's account. */
int ec2_sg_resolve(struct api_ctx *ctx, const char *group_id, const char *group_name, char **ret_id,
                   char **ret_vpc, struct error **err)
{
    sqlite3_stmt *st;
    if (group_id) {
        st = db_stmt(ctx->db,
                     "SELECT id, vpc_id FROM ec2_security_groups WHERE id = ?1 AND account = ?2",
                     err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, group_id);
    } else if (group_name) {
        st = db_stmt(ctx->db,
                     "SELECT g.id, g.vpc_id FROM ec2_security_groups g "
                     "JOIN ec2_accounts a ON a.account = g.account AND a.default_vpc = g.vpc_id "
                     "WHERE g.name = ?1 AND g.account = ?2",
                     err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, group_name);
    } else {
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter groupName or groupId");
    }
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_id = xstrdup(db_col_text(st, 0));
        if (ret_vpc)
            *ret_vpc = xstrdup(db_col_text(st, 1));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        if (group_id)
            return error_set(err, ENOENT, "InvalidGroup.NotFound",
                             "The security group '%.128s' does not exist", group_id);
        return error_set(err, ENOENT, "InvalidGroup.NotFound",
                         "The security group '%.128s' does not exist in default VPC", group_name);
    }
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read security group");
    return 0;
}

int ec2_create_security_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                              struct error **err)
{
    const char *name = json_get_str(in, "GroupName");
    const char *desc = json_get_str(in, "Description");
    const char *vpc = json_get_str(in, "VpcId");
    if (!name)
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter GroupName");
    if (!desc)
        return error_set(err, EINVAL, EC2_MISSING,
                         "The request must contain the parameter GroupDescription");
    if (!*name || strlen(name) > 255 || !strncmp(name, "sg-", 3))
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Invalid value '%.255s' for groupName. Group names may not be empty, "
                         "longer than 255 characters or start with 'sg-'.",
                         name);
    if (!strcmp(name, "default"))
        return error_set(err, EINVAL, "InvalidGroup.Reserved",
                         "The security group 'default' is reserved");
    if (strlen(desc) > 255)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Invalid value for groupDescription: longer than 255 characters");
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *default_vpc = NULL;
    if (!vpc) {
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "SELECT v.id FROM ec2_accounts a JOIN ec2_vpcs v "
                                   "ON v.id = a.default_vpc WHERE a.account = ?1",
                                   err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, ctx->account->account_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            default_vpc = xstrdup(db_col_text(st, 0));
        sqlite3_reset(st);
        if (!default_vpc)
            return error_set(err, EINVAL, "VPCIdNotSpecified", "No default VPC for this user");
        vpc = default_vpc;
    } else {
        bool found;
        r = ec2_vpc_exists(ctx, vpc, &found, err);
        if (r < 0)
            return r;
        if (!found)
            return error_set(err, ENOENT, "InvalidVpcID.NotFound",
                             "The vpc ID '%.64s' does not exist", vpc);
    }
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *id = ec2_id_new("sg");
    r = ec2_sg_insert(ctx, id, vpc, name, desc, false, err);
    if (r < 0)
        return r;
    r = ec2_tags_apply_specs(ctx, id, "security-group", json_get_array(in, "TagSpecifications"),
                             err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *tags = NULL;
    r = ec2_tags_map(ctx, id, &tags, err);
    if (r < 0)
        return r;
    r = db_commit(ctx->db, err);
    if (r < 0)
        return r;
    json_t *out = json_pack("{s:s}", "groupId", id);
    if (json_object_size(tags))
        json_object_set_new(out, "tagSet", ec2_tag_set(tags));
    *ret_out = out;
    return 0;
}

/* ipPermissions / ipPermissionsEgress of a group: its rules grouped by
 * protocol and port range, as DescribeSecurityGroups shows them. */
static int permissions(struct api_ctx *ctx, const char *id, json_t **ret_in, json_t **ret_out,
                       struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT r.egress, r.protocol, r.from_port, r.to_port, r.cidr, "
                               "r.ref_group, r.description, g.account, g.vpc_id "
                               "FROM ec2_sg_rules r LEFT JOIN ec2_security_groups g "
                               "ON g.id = r.ref_group WHERE r.group_id = ?1 ORDER BY r.rowid",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    json_t *lists[2] = {json_array(), json_array()};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *list = lists[sqlite3_column_int(st, 0) ? 1 : 0];
        const char *proto = db_col_text(st, 1);
        int from = sqlite3_column_int(st, 2), to = sqlite3_column_int(st, 3);
        json_t *perm = NULL, *p;
        size_t i;
        json_array_foreach(list, i, p)
        {
            if (!strcmp(json_get_str(p, "ipProtocol"), proto) &&
                json_get_int(p, "fromPort", -1) == from && json_get_int(p, "toPort", -1) == to) {
                perm = p;
                break;
            }
        }
        if (!perm) {
            perm = json_pack("{s:s, s:[], s:[], s:[], s:[]}", "ipProtocol", proto, "ipRanges",
                             "ipv6Ranges", "prefixListIds", "groups");
            if (strcmp(proto, "-1") != 0) {
                json_object_set_new(perm, "fromPort", json_integer(from));
                json_object_set_new(perm, "toPort", json_integer(to));
            }
            json_array_append_new(list, perm);
        }
        const char *desc = sqlite3_column_type(st, 6) == SQLITE_NULL ? NULL : db_col_text(st, 6);
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
            json_t *range = json_pack("{s:s}", "cidrIp", db_col_text(st, 4));
            json_set_str(range, "description", desc);
            json_array_append_new(json_object_get(perm, "ipRanges"), range);
        } else {
            json_t *pair = json_pack("{s:s, s:s}", "groupId", db_col_text(st, 5), "userId",
                                     db_col_text(st, 7));
            json_set_str(pair, "description", desc);
            json_array_append_new(json_object_get(perm, "groups"), pair);
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(lists[0]);
        json_decref(lists[1]);
        return db_fail(ctx->db, err, "read rules");
    }
    *ret_in = lists[0];
    *ret_out = lists[1];
    return 0;
}

int ec2_describe_security_groups(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                 struct error **err)
{
    static const char *const allowed[] = {"group-id",    "group-name", "vpc-id",
                                          "description", "owner-id",   NULL};
    const json_t *filters = json_get_array(in, "Filters");
    const json_t *ids = json_get_array(in, "GroupIds");
    const json_t *names = json_get_array(in, "GroupNames");
    int r = ec2_filters_check(filters, allowed, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT g.id, g.vpc_id, g.name, g.description, "
                               "g.vpc_id = a.default_vpc FROM ec2_security_groups g "
                               "LEFT JOIN ec2_accounts a ON a.account = g.account "
                               "WHERE g.account = ?1 ORDER BY g.created_at, g.rowid",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    _cleanup_json_ json_t *set = json_array();
    _cleanup_json_ json_t *found = json_object();
    _cleanup_json_ json_t *found_names = json_object();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = db_col_text(st, 0), *name = db_col_text(st, 2);
        bool in_default = sqlite3_column_int(st, 4);
        json_object_set_new(found, id, json_true());
        if (in_default)
            json_object_set_new(found_names, name, json_true());
        bool wanted = !json_array_size(ids) && !json_array_size(names);
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) wanted |= !strcmp(json_string_value(v), id);
        json_array_foreach(names, i, v) wanted |= in_default && !strcmp(json_string_value(v), name);
        if (!wanted)
            continue;
        _cleanup_json_ json_t *tags = NULL;
        r = ec2_tags_map(ctx, id, &tags, err);
        if (r < 0)
            break;
        _cleanup_json_ json_t *attrs =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "group-id", id, "group-name", name, "vpc-id",
                      db_col_text(st, 1), "description", db_col_text(st, 3), "owner-id",
                      ctx->account->account_id);
        if (!ec2_filters_match(filters, attrs, tags))
            continue;
        json_t *perm_in = NULL, *perm_out = NULL;
        r = permissions(ctx, id, &perm_in, &perm_out, err);
        if (r < 0)
            break;
        json_array_append_new(set, json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:s}",
                                             "groupDescription", db_col_text(st, 3), "groupName",
                                             name, "ipPermissions", perm_in, "ownerId",
                                             ctx->account->account_id, "groupId", id,
                                             "ipPermissionsEgress", perm_out, "tagSet",
                                             ec2_tag_set(tags), "vpcId", db_col_text(st, 1)));
    }
    sqlite3_reset(st);
    if (r < 0)
        return r;
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read security groups");
    r = ec2_ids_check(ids, found, "InvalidGroup.NotFound", "security group", err);
    if (r < 0)
        return r;
    r = ec2_ids_check(names, found_names, "InvalidGroup.NotFound", "security group", err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:O}", "securityGroupInfo", set);
    return 0;
}

int ec2_delete_security_group(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                              struct error **err)
{
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *id = NULL;
    r = ec2_sg_resolve(ctx, json_get_str(in, "GroupId"), json_get_str(in, "GroupName"), &id, NULL,
                       err);
    if (r < 0)
        return r;
    sqlite3_stmt *st =
        db_stmt(ctx->db,
                "SELECT name, "
                " (SELECT COUNT(*) FROM ec2_eni_groups WHERE group_id = ?1), "
                " (SELECT COUNT(*) FROM ec2_sg_rules WHERE ref_group = ?1 AND group_id != ?1) "
                "FROM ec2_security_groups WHERE id = ?1",
                err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    bool is_default = rc == SQLITE_ROW && !strcmp(db_col_text(st, 0), "default");
    int enis = rc == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
    int refs = rc == SQLITE_ROW ? sqlite3_column_int(st, 2) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read security group");
    if (is_default)
        return error_set(err, EPERM, "CannotDelete",
                         "the specified group: \"%s\" name: \"default\" cannot be deleted by a "
                         "user",
                         id);
    if (enis || refs)
        return error_set(err, EBUSY, "DependencyViolation", "resource %s has a dependent object",
                         id);
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    static const char *const drops[] = {
        ("DELETE FROM ec2_tags WHERE resource_id = ?1 OR resource_id IN "
         "(SELECT id FROM ec2_sg_rules WHERE group_id = ?1)"),
        "DELETE FROM ec2_sg_rules WHERE group_id = ?1",
        "DELETE FROM ec2_security_groups WHERE id = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(drops); i++) {
        st = db_stmt(ctx->db, drops[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        r = db_exec_stmt(ctx->db, st, err);
        if (r < 0)
            return r;
    }
    r = db_commit(ctx->db, err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:b, s:s}", "return", 1, "groupId", id);
    return 0;
}
