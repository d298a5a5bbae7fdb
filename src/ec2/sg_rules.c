/* Security group rules: AuthorizeSecurityGroupIngress/Egress,
 * RevokeSecurityGroupIngress/Egress, DescribeSecurityGroupRules.
 *
 * A request names permissions (protocol + port range, with IPv4 CIDRs and
 * referenced groups) either as IpPermissions or, the older way, as flat
 * CidrIp/IpProtocol/FromPort/ToPort/SourceSecurityGroupName members; each
 * (permission, peer) pair is one stored rule with its own sgr- id. */
#include "ec2/ec2-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "sched/sched.h"
#include "store/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RULE_COLUMNS                                                                               \
    "r.id, r.group_id, r.egress, r.protocol, r.from_port, r.to_port, r.cidr, r.ref_group, "        \
    "r.description, g.account"

/* The protocol as stored, or NULL when invalid. */
static const char *protocol_norm(const char *p, char buf[4])
{
    static const struct {
        const char *name, *num;
    } known[] = {{"tcp", "6"}, {"udp", "17"}, {"icmp", "1"}};
    if (!p || !strcmp(p, "-1") || !strcasecmp(p, "all"))
        return "-1";
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (!strcasecmp(p, known[i].name) || !strcmp(p, known[i].num))
            return known[i].name;
    char *end;
    long n = strtol(p, &end, 10);
    if (!*p || *end || n < 0 || n > 255)
        return NULL;
    snprintf(buf, 4, "%ld", n);
    return buf;
}

/* Checks and normalises one permission's protocol and ports into rule. */
static int permission_norm(const char *proto_in, const json_t *from_j, const json_t *to_j,
                           char buf[4], struct ec2_rule *rule, struct error **err)
{
    const char *proto = protocol_norm(proto_in, buf);
    if (!proto)
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Invalid value '%.32s' for IP protocol. Unknown protocol.", proto_in);
    rule->protocol = proto;
    bool ported = !strcmp(proto, "tcp") || !strcmp(proto, "udp");
    bool icmp = !strcmp(proto, "icmp");
    if (!ported && !icmp) {
        /* All ports, whatever was asked, as AWS does. */
        rule->from = rule->to = -1;
        return 0;
    }
    if (!json_is_integer(from_j) || !json_is_integer(to_j))
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Invalid value for portRange. Must specify both from and to ports with "
                         "TCP/UDP/ICMP.");
    json_int_t from = json_integer_value(from_j), to = json_integer_value(to_j);
    if (ported && (from < 0 || to > 65535 || from > to))
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Invalid value for portRange. Must be 0-65535 with fromPort <= toPort, "
                         "not %lld-%lld.",
                         (long long)from, (long long)to);
    if (icmp && (from < -1 || from > 255 || to < -1 || to > 255 || (from == -1 && to != -1)))
        return error_set(err, EINVAL, EC2_INVALID_VALUE,
                         "Invalid value for ICMP type/code: %lld/%lld", (long long)from,
                         (long long)to);
    rule->from = (int)from;
    rule->to = (int)to;
    return 0;
}

static json_t *rule_json(const struct ec2_rule *r)
{
    json_t *o = json_pack("{s:s, s:i, s:i}", "protocol", r->protocol, "from", r->from, "to", r->to);
    json_set_str(o, "cidr", r->cidr);
    json_set_str(o, "ref_group", r->ref_group);
    json_set_str(o, "description", r->description);
    return o;
}

static void rule_from_json(const json_t *o, bool egress, struct ec2_rule *r)
{
    r->egress = egress;
    r->protocol = json_get_str(o, "protocol");
    r->from = (int)json_get_int(o, "from", -1);
    r->to = (int)json_get_int(o, "to", -1);
    r->cidr = json_get_str(o, "cidr");
    r->ref_group = json_get_str(o, "ref_group");
    r->description = json_get_str(o, "description");
}

/* A peer group named in a request: by id, or by name in the default VPC. */
static int peer_group(struct api_ctx *ctx, const char *id, const char *name, char **ret,
                      struct error **err)
{
    return ec2_sg_resolve(ctx, id, name, ret, NULL, err);
}

/* The rules a request names, as a list of rule_json() objects. */
static int request_rules(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    json_t *rules = json_array();
    json_t *perms = json_get_array(in, "IpPermissions");
    char buf[4];
    int r = 0;
    if (json_array_size(perms)) {
        size_t i, j;
        json_t *p, *x;
        json_array_foreach(perms, i, p)
        {
            struct ec2_rule base = {0};
            r = permission_norm(json_get_str(p, "IpProtocol"), json_object_get(p, "FromPort"),
                                json_object_get(p, "ToPort"), buf, &base, err);
            if (r < 0)
                goto fail;
            json_array_foreach(json_get_array(p, "IpRanges"), j, x)
            {
                struct ec2_cidr c;
                const char *cidr_s = json_get_str(x, "CidrIp");
                if (ec2_cidr_parse(cidr_s, &c) < 0) {
                    r = error_set(err, EINVAL, EC2_INVALID_VALUE, "CIDR block %.64s is malformed",
                                  cidr_s ? cidr_s : "");
                    goto fail;
                }
                char canon[20];
                ec2_cidr_format(&c, canon);
                struct ec2_rule rule = base;
                rule.cidr = canon;
                rule.description = json_get_str(x, "Description");
                json_array_append_new(rules, rule_json(&rule));
            }
            json_array_foreach(json_get_array(p, "UserIdGroupPairs"), j, x)
            {
                _cleanup_free_ char *gid = NULL;
                r = peer_group(ctx, json_get_str(x, "GroupId"), json_get_str(x, "GroupName"), &gid,
                               err);
                if (r < 0)
                    goto fail;
                struct ec2_rule rule = base;
                rule.ref_group = gid;
                rule.description = json_get_str(x, "Description");
                json_array_append_new(rules, rule_json(&rule));
            }
            if (json_array_size(json_get_array(p, "Ipv6Ranges")) ||
                json_array_size(json_get_array(p, "PrefixListIds"))) {
                r = error_set(err, EINVAL, EC2_INVALID_VALUE,
                              "skiff VPCs are IPv4 only: IPv6 ranges and prefix lists are not "
                              "supported");
                goto fail;
            }
        }
    } else {
        const char *cidr_s = json_get_str(in, "CidrIp");
        const char *src_name = json_get_str(in, "SourceSecurityGroupName");
        struct ec2_rule rule = {0};
        if (!cidr_s && !src_name) {
            r = error_set(err, EINVAL, EC2_MISSING,
                          "The request must contain the parameter ipPermissions");
            goto fail;
        }
        if (cidr_s) {
            r = permission_norm(json_get_str(in, "IpProtocol"), json_object_get(in, "FromPort"),
                                json_object_get(in, "ToPort"), buf, &rule, err);
            if (r < 0)
                goto fail;
            struct ec2_cidr c;
            if (ec2_cidr_parse(cidr_s, &c) < 0) {
                r = error_set(err, EINVAL, EC2_INVALID_VALUE, "CIDR block %.64s is malformed",
                              cidr_s);
                goto fail;
            }
            char canon[20];
            ec2_cidr_format(&c, canon);
            rule.cidr = canon;
            json_array_append_new(rules, rule_json(&rule));
        } else {
            /* A source group alone grants every protocol and port. */
            _cleanup_free_ char *gid = NULL;
            r = peer_group(ctx, NULL, src_name, &gid, err);
            if (r < 0)
                goto fail;
            rule.protocol = "-1";
            rule.from = rule.to = -1;
            rule.ref_group = gid;
            json_array_append_new(rules, rule_json(&rule));
        }
    }
    *ret = rules;
    return 0;
fail:
    json_decref(rules);
    return r;
}

/* The id of an existing rule equal to rule, or NULL. */
static int rule_find(struct api_ctx *ctx, const char *group_id, const struct ec2_rule *rule,
                     char **ret_id, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT id FROM ec2_sg_rules WHERE group_id = ?1 AND egress = ?2 "
                               "AND protocol = ?3 AND from_port = ?4 AND to_port = ?5 "
                               "AND cidr IS ?6 AND ref_group IS ?7",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, group_id);
    sqlite3_bind_int(st, 2, rule->egress);
    db_bind_text(st, 3, rule->protocol);
    sqlite3_bind_int(st, 4, rule->from);
    sqlite3_bind_int(st, 5, rule->to);
    db_bind_text(st, 6, rule->cidr);
    db_bind_text(st, 7, rule->ref_group);
    int rc = sqlite3_step(st);
    *ret_id = rc == SQLITE_ROW ? xstrdup(db_col_text(st, 0)) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read rules");
    return 0;
}

int ec2_rule_insert(struct api_ctx *ctx, const char *group_id, const struct ec2_rule *rule,
                    char **ret_id, struct error **err)
{
    _cleanup_free_ char *dup = NULL;
    int r = rule_find(ctx, group_id, rule, &dup, err);
    if (r < 0)
        return r;
    if (dup)
        return error_set(err, EEXIST, "InvalidPermission.Duplicate",
                         "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" "
                         "already exists",
                         rule->cidr ? rule->cidr : rule->ref_group,
                         !strcmp(rule->protocol, "-1") ? "ALL" : rule->protocol, rule->from,
                         rule->to);
    _cleanup_free_ char *id = ec2_id_new("sgr");
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO ec2_sg_rules(id, group_id, account, egress, protocol, "
                               "from_port, to_port, cidr, ref_group, description) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, group_id);
    db_bind_text(st, 3, ctx->account->account_id);
    sqlite3_bind_int(st, 4, rule->egress);
    db_bind_text(st, 5, rule->protocol);
    sqlite3_bind_int(st, 6, rule->from);
    sqlite3_bind_int(st, 7, rule->to);
    db_bind_text(st, 8, rule->cidr);
    db_bind_text(st, 9, rule->ref_group);
    db_bind_text(st, 10, rule->description);
    r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    if (ret_id)
        *ret_id = TAKE_PTR(id);
    return 0;
}

/* SecurityGroupRule document of the current row (RULE_COLUMNS). */
static int rule_doc(struct api_ctx *ctx, sqlite3_stmt *st, json_t **ret, struct error **err)
{
    const char *id = db_col_text(st, 0);
    _cleanup_json_ json_t *tags = NULL;
    int r = ec2_tags_map(ctx, id, &tags, err);
    if (r < 0)
        return r;
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:i, s:i, s:o}", "securityGroupRuleId", id,
                          "groupId", db_col_text(st, 1), "groupOwnerId", db_col_text(st, 9),
                          "isEgress", sqlite3_column_int(st, 2), "ipProtocol", db_col_text(st, 3),
                          "fromPort", sqlite3_column_int(st, 4), "toPort",
                          sqlite3_column_int(st, 5), "tagSet", ec2_tag_set(tags));
    if (sqlite3_column_type(st, 6) != SQLITE_NULL)
        json_object_set_new(o, "cidrIpv4", json_string(db_col_text(st, 6)));
    if (sqlite3_column_type(st, 7) != SQLITE_NULL)
        json_object_set_new(
            o, "referencedGroupInfo",
            json_pack("{s:s, s:s}", "groupId", db_col_text(st, 7), "userId", db_col_text(st, 9)));
    if (sqlite3_column_type(st, 8) != SQLITE_NULL)
        json_object_set_new(o, "description", json_string(db_col_text(st, 8)));
    *ret = o;
    return 0;
}

static int rule_doc_by_id(struct api_ctx *ctx, const char *id, json_t **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " RULE_COLUMNS " FROM ec2_sg_rules r "
                               "JOIN ec2_security_groups g ON g.id = r.group_id WHERE r.id = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    int r = sqlite3_step(st) == SQLITE_ROW ? rule_doc(ctx, st, ret, err)
                                           : db_fail(ctx->db, err, "read rule");
    sqlite3_reset(st);
    return r;
}

/* Running tasks get the new rules within a second (src/sched, node.h
 * "network"). */
static void rules_changed(struct api_ctx *ctx)
{
    if (ctx->app)
        sched_network_changed(ctx->app);
}

static int authorize(struct api_ctx *ctx, const json_t *in, bool egress, json_t **ret_out,
                     struct error **err)
{
    int r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *gid = NULL;
    r = ec2_sg_resolve(ctx, json_get_str(in, "GroupId"),
                       egress ? NULL : json_get_str(in, "GroupName"), &gid, NULL, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *rules = NULL;
    r = request_rules(ctx, in, &rules, err);
    if (r < 0)
        return r;
    r = ec2_dry_run(in, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *ids = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(rules, i, o)
    {
        struct ec2_rule rule;
        rule_from_json(o, egress, &rule);
        char *id = NULL;
        r = ec2_rule_insert(ctx, gid, &rule, &id, err);
        if (r < 0)
            return r;
        json_array_append_new(ids, json_string(id));
        free(id);
        r = ec2_tags_apply_specs(ctx, json_string_value(json_array_get(ids, i)),
                                 "security-group-rule", json_get_array(in, "TagSpecifications"),
                                 err);
        if (r < 0)
            return r;
    }
    json_t *set = json_array();
    json_array_foreach(ids, i, o)
    {
        json_t *doc = NULL;
        r = rule_doc_by_id(ctx, json_string_value(o), &doc, err);
        if (r < 0) {
            json_decref(set);
            return r;
        }
        json_array_append_new(set, doc);
    }
    r = db_commit(ctx->db, err);
    if (r < 0) {
        json_decref(set);
        return r;
    }
    rules_changed(ctx);
    *ret_out = json_pack("{s:b, s:o}", "return", 1, "securityGroupRuleSet", set);
    return 0;
}

int ec2_authorize_ingress(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                          struct error **err)
{
    return authorize(ctx, in, false, ret_out, err);
}

int ec2_authorize_egress(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                         struct error **err)
{
    return authorize(ctx, in, true, ret_out, err);
}

static int rule_delete(struct api_ctx *ctx, const char *id, struct error **err)
{
    static const char *const sql[] = {
        "DELETE FROM ec2_tags WHERE resource_id = ?1",
        "DELETE FROM ec2_sg_rules WHERE id = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
        sqlite3_stmt *st = db_stmt(ctx->db, sql[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        int r = db_exec_stmt(ctx->db, st, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The IpPermission output shape of a rule that was not found. */
static json_t *unknown_permission(const struct ec2_rule *rule)
{
    json_t *p = json_pack("{s:s, s:[], s:[]}", "ipProtocol", rule->protocol, "ipRanges", "groups");
    if (strcmp(rule->protocol, "-1") != 0) {
        json_object_set_new(p, "fromPort", json_integer(rule->from));
        json_object_set_new(p, "toPort", json_integer(rule->to));
    }
    if (rule->cidr)
        json_array_append_new(json_object_get(p, "ipRanges"),
                              json_pack("{s:s}", "cidrIp", rule->cidr));
    else
        json_array_append_new(json_object_get(p, "groups"),
                              json_pack("{s:s}", "groupId", rule->ref_group));
    return p;
}

static int revoke_rules(struct api_ctx *ctx, const json_t *in, bool egress, json_t **ret_out,
                        struct error **err)
{
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *gid = NULL;
    r = ec2_sg_resolve(ctx, json_get_str(in, "GroupId"),
                       egress ? NULL : json_get_str(in, "GroupName"), &gid, NULL, err);
    if (r < 0)
        return r;
    const json_t *rule_ids = json_get_array(in, "SecurityGroupRuleIds");
    json_t *unknown = json_array();
    size_t i, deleted = 0;
    json_t *o;
    if (json_array_size(rule_ids)) {
        json_array_foreach(rule_ids, i, o)
        {
            sqlite3_stmt *st = db_stmt(ctx->db,
                                       "SELECT 1 FROM ec2_sg_rules WHERE id = ?1 AND group_id = ?2 "
                                       "AND egress = ?3",
                                       err);
            if (!st)
                goto fail;
            db_bind_text(st, 1, json_string_value(o));
            db_bind_text(st, 2, gid);
            sqlite3_bind_int(st, 3, egress);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_ROW) {
                r = error_set(err, ENOENT, "InvalidSecurityGroupRuleId.NotFound",
                              "Security group rule %.64s does not exist in group %s",
                              json_string_value(o), gid);
                goto fail;
            }
            if ((r = rule_delete(ctx, json_string_value(o), err)) < 0)
                goto fail;
            deleted++;
        }
    } else {
        _cleanup_json_ json_t *rules = NULL;
        r = request_rules(ctx, in, &rules, err);
        if (r < 0)
            goto fail;
        json_array_foreach(rules, i, o)
        {
            struct ec2_rule rule;
            rule_from_json(o, egress, &rule);
            _cleanup_free_ char *id = NULL;
            if ((r = rule_find(ctx, gid, &rule, &id, err)) < 0)
                goto fail;
            if (!id) {
                json_array_append_new(unknown, unknown_permission(&rule));
                continue;
            }
            if ((r = rule_delete(ctx, id, err)) < 0)
                goto fail;
            deleted++;
        }
    }
    if (!deleted) {
        r = error_set(err, ENOENT, "InvalidPermission.NotFound",
                      "The specified rule does not exist in this security group.");
        goto fail;
    }
    if ((r = ec2_dry_run(in, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        goto fail;
    rules_changed(ctx);
    *ret_out = json_pack("{s:b}", "return", 1);
    if (json_array_size(unknown))
        json_object_set_new(*ret_out, "unknownIpPermissionSet", unknown);
    else
        json_decref(unknown);
    return 0;
fail:
    json_decref(unknown);
    return r < 0 ? r : -EIO;
}

int ec2_revoke_ingress(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    return revoke_rules(ctx, in, false, ret_out, err);
}

int ec2_revoke_egress(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    return revoke_rules(ctx, in, true, ret_out, err);
}

static int rule_row(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags,
                    const json_t *filters, json_t **ret_doc, struct error **err)
{
    _cleanup_json_ json_t *attrs = json_pack("{s:s, s:s}", "group-id", db_col_text(st, 1),
                                             "security-group-rule-id", db_col_text(st, 0));
    *ret_doc = NULL;
    if (!ec2_filters_match(filters, attrs, tags))
        return 0;
    return rule_doc(ctx, st, ret_doc, err);
}

int ec2_describe_security_group_rules(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                      struct error **err)
{
    static const char *const allowed[] = {"group-id", "security-group-rule-id", NULL};
    const json_t *filters = json_get_array(in, "Filters");
    const json_t *ids = json_get_array(in, "SecurityGroupRuleIds");
    int r = ec2_filters_check(filters, allowed, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " RULE_COLUMNS " FROM ec2_sg_rules r "
                               "JOIN ec2_security_groups g ON g.id = r.group_id "
                               "WHERE r.account = ?1 ORDER BY r.rowid",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    struct ec2_walk w = {.ids = ids,
                         .filters = filters,
                         .read_what = "read rules",
                         .not_found = "InvalidSecurityGroupRuleId.NotFound",
                         .id_noun = "security group rule",
                         .row = rule_row};
    json_t *set = NULL;
    if ((r = ec2_describe_walk(ctx, st, &w, &set, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "securityGroupRuleSet", set);
    return 0;
}
