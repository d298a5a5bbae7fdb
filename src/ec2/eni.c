/* Elastic network interfaces of tasks: allocation (the subnet's IPAM),
 * release, and DescribeNetworkInterfaces. */
#include "ec2/ec2.h"
#include "ec2/ec2-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ec2_eni_gc(struct db *db, struct error **err)
{
    /* An ENI lives while its task has not stopped (the agent tears the
     * interface down in DEPROVISIONING, before the task is recorded
     * STOPPED); purged tasks release theirs too. This runs at every
     * allocation: the scan probes the tasks_live index once per ENI and
     * the deletes run only for the stale ones found. */
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT e.id FROM ec2_enis e WHERE e.task_arn IS NOT NULL AND "
                               "NOT EXISTS (SELECT 1 FROM tasks t WHERE t.arn = e.task_arn "
                               "AND t.last_status != 'STOPPED')",
                               err);
    if (!st)
        return -EIO;
    _cleanup_json_ json_t *stale = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(stale, json_string(db_col_text(st, 0)));
    sqlite3_reset(st);
    static const char *const sql[] = {
        "DELETE FROM ec2_eni_groups WHERE eni_id = ?1",
        "DELETE FROM ec2_tags WHERE resource_id = ?1",
        "DELETE FROM ec2_enis WHERE id = ?1",
    };
    size_t i;
    json_t *id;
    json_array_foreach(stale, i, id)
    {
        for (size_t k = 0; k < ARRAY_SIZE(sql); k++) {
            st = db_stmt(db, sql[k], err);
            if (!st)
                return -EIO;
            db_bind_text(st, 1, json_string_value(id));
            int r = db_exec_stmt(db, st, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int ec2_eni_allocate(struct db *db, const char *account, const char *task_arn,
                     const json_t *resolved, int64_t now_ms, json_t **ret, struct error **err)
{
    const char *subnet = json_string_value(json_array_get(json_get_array(resolved, "subnets"), 0));
    int r = ec2_eni_gc(db, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(
        db, "SELECT net, prefix, vpc_id FROM ec2_subnets WHERE id = ?1 AND account = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, subnet);
    db_bind_text(st, 2, account);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return error_set(err, ENOENT, ERR_INVALID, "Error retrieving subnet information for [%s]",
                         subnet ? subnet : "");
    }
    struct ec2_cidr net = {(uint32_t)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1)};
    _cleanup_free_ char *vpc = xstrdup(db_col_text(st, 2));
    sqlite3_reset(st);

    /* The lowest free address: walk the taken ones in order. */
    uint32_t first = net.net + 4, last = net.net + (uint32_t)((1ULL << (32 - net.prefix)) - 2);
    st = db_stmt(db, "SELECT addr FROM ec2_enis WHERE subnet_id = ?1 ORDER BY addr", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, subnet);
    uint32_t cand = first;
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint32_t taken = (uint32_t)sqlite3_column_int64(st, 0);
        if (taken > cand)
            break;
        if (taken == cand)
            cand++;
    }
    sqlite3_reset(st);
    if (cand > last)
        return error_set(err, ENOSPC, ERR_INVALID,
                         "Subnet %s has no free IP addresses left for another task.", subnet);

    uint8_t m[5];
    hash_random(m, sizeof(m));
    char mac[18];
    /* 0e: locally administered unicast, like AWS's ENIs. */
    snprintf(mac, sizeof(mac), "0e:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4]);
    _cleanup_free_ char *id = ec2_id_new("eni");
    const char *public_ip = json_get_str(resolved, "assignPublicIp");
    bool pub = public_ip && !strcmp(public_ip, "ENABLED");
    st = db_stmt(db,
                 "INSERT INTO ec2_enis(id, account, subnet_id, vpc_id, addr, mac, public_ip, "
                 "task_arn, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                 "'in-use', ?9)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, account);
    db_bind_text(st, 3, subnet);
    db_bind_text(st, 4, vpc);
    sqlite3_bind_int64(st, 5, cand);
    db_bind_text(st, 6, mac);
    sqlite3_bind_int(st, 7, pub);
    db_bind_text(st, 8, task_arn);
    sqlite3_bind_int64(st, 9, now_ms);
    r = db_exec_stmt(db, st, err);
    if (r < 0)
        return r;
    size_t i;
    json_t *g;
    json_array_foreach(json_get_array(resolved, "securityGroups"), i, g)
    {
        st = db_stmt(db, "INSERT OR IGNORE INTO ec2_eni_groups(eni_id, group_id) VALUES (?1, ?2)",
                     err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, json_string_value(g));
        if ((r = db_exec_stmt(db, st, err)) < 0)
            return r;
    }
    char ip[16], gw[16];
    ec2_addr_format(cand, ip);
    ec2_addr_format(net.net + 1, gw);
    *ret = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:O, s:b}", "id", id, "subnetId", subnet,
                     "vpcId", vpc, "ip", ip, "gateway", gw, "prefix", net.prefix, "mac", mac,
                     "securityGroups", json_get_array(resolved, "securityGroups"), "assignPublicIp",
                     pub);
    return 0;
}

int ec2_eni_release(struct db *db, const char *task_arn, struct error **err)
{
    static const char *const sql[] = {
        "DELETE FROM ec2_eni_groups WHERE eni_id IN (SELECT id FROM ec2_enis WHERE task_arn = ?1)",
        "DELETE FROM ec2_tags WHERE resource_id IN (SELECT id FROM ec2_enis WHERE task_arn = ?1)",
        "DELETE FROM ec2_enis WHERE task_arn = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
        sqlite3_stmt *st = db_stmt(db, sql[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, task_arn);
        int r = db_exec_stmt(db, st, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int eni_groups(struct api_ctx *ctx, const char *id, json_t **ret_set, json_t **ret_ids,
                      struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT g.id, g.name FROM ec2_eni_groups e "
                               "JOIN ec2_security_groups g ON g.id = e.group_id "
                               "WHERE e.eni_id = ?1 ORDER BY g.id",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    json_t *set = json_array(), *ids = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_array_append_new(set, json_pack("{s:s, s:s}", "groupId", db_col_text(st, 0),
                                             "groupName", db_col_text(st, 1)));
        json_array_append_new(ids, json_string(db_col_text(st, 0)));
    }
    sqlite3_reset(st);
    *ret_set = set;
    *ret_ids = ids;
    return 0;
}

static int eni_row(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags, const json_t *filters,
                   json_t **ret_doc, struct error **err)
{
    const char *id = db_col_text(st, 0);
    char ip[16];
    uint32_t addr = (uint32_t)sqlite3_column_int64(st, 3);
    ec2_addr_format(addr, ip);
    _cleanup_free_ char *dns = xasprintf("ip-%u-%u-%u-%u.ec2.internal", addr >> 24,
                                         (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
    _cleanup_free_ char *desc = xasprintf("skiff task %s", db_col_text(st, 6));
    json_t *groups = NULL, *group_ids = NULL;
    int r = eni_groups(ctx, id, &groups, &group_ids, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *attrs = json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "network-interface-id", id,
        "subnet-id", db_col_text(st, 1), "vpc-id", db_col_text(st, 2), "group-id", group_ids,
        "private-ip-address", ip, "addresses.private-ip-address", ip, "mac-address",
        db_col_text(st, 4), "status", db_col_text(st, 5), "availability-zone", db_col_text(st, 7),
        "owner-id", ctx->account->account_id, "description", desc);
    *ret_doc = NULL;
    if (!ec2_filters_match(filters, attrs, tags)) {
        json_decref(groups);
        return 0;
    }
    *ret_doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, "
        "s:[{s:s, s:s, s:b}], s:o}",
        "networkInterfaceId", id, "subnetId", db_col_text(st, 1), "vpcId", db_col_text(st, 2),
        "availabilityZone", db_col_text(st, 7), "description", desc, "groupSet", groups,
        "interfaceType", "interface", "macAddress", db_col_text(st, 4), "ownerId",
        ctx->account->account_id, "privateIpAddress", ip, "privateDnsName", dns, "status",
        db_col_text(st, 5), "requesterManaged", 1, "sourceDestCheck", 1, "privateIpAddressesSet",
        "privateIpAddress", ip, "privateDnsName", dns, "primary", 1, "tagSet", ec2_tag_set(tags));
    return 0;
}

int ec2_describe_network_interfaces(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                    struct error **err)
{
    static const char *const allowed[] = {"network-interface-id",
                                          "subnet-id",
                                          "vpc-id",
                                          "group-id",
                                          "private-ip-address",
                                          "addresses.private-ip-address",
                                          "mac-address",
                                          "status",
                                          "availability-zone",
                                          "owner-id",
                                          "description",
                                          NULL};
    const json_t *filters = json_get_array(in, "Filters");
    const json_t *ids = json_get_array(in, "NetworkInterfaceIds");
    int r = ec2_filters_check(filters, allowed, err);
    if (r < 0)
        return r;
    r = ec2_default_vpc_ensure(ctx, err);
    if (r < 0 || (r = ec2_eni_gc(ctx->db, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT e.id, e.subnet_id, e.vpc_id, e.addr, e.mac, e.status, "
                               "e.task_arn, s.az FROM ec2_enis e "
                               "JOIN ec2_subnets s ON s.id = e.subnet_id "
                               "WHERE e.account = ?1 ORDER BY e.created_at, e.id",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    struct ec2_walk w = {.ids = ids,
                         .filters = filters,
                         .read_what = "read network interfaces",
                         .not_found = "InvalidNetworkInterfaceID.NotFound",
                         .id_noun = "networkInterface ID",
                         .row = eni_row};
    json_t *set = NULL;
    if ((r = ec2_describe_walk(ctx, st, &w, &set, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "networkInterfaceSet", set);
    return 0;
}

/* A group's members as the data plane sees them: the ENIs of tasks meant
 * to run that have not begun to stop. A stopping task leaves the groups
 * (others stop admitting it) before its address is released at STOPPED
 * and can go to another task, so a reused address is never admitted on
 * the old member's behalf. */
#define MEMBERS_FROM                                                                               \
    "FROM ec2_enis e JOIN ec2_eni_groups g ON g.eni_id = e.id "                                    \
    "JOIN tasks t ON t.arn = e.task_arn WHERE t.desired_status = 'RUNNING' "                       \
    "AND t.last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING') "

int ec2_members_version(struct db *db, int64_t *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT v FROM ec2_members_version", err);
    if (!st)
        return -EIO;
    *ret = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return 0;
}

int ec2_group_members(struct db *db, json_t **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT g.group_id, e.addr " MEMBERS_FROM
                               "AND g.group_id IN (SELECT ref_group FROM ec2_sg_rules "
                               "WHERE ref_group IS NOT NULL) ORDER BY g.group_id, e.addr",
                               err);
    if (!st)
        return -EIO;
    json_t *groups = json_object();
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *g = db_col_text(st, 0);
        json_t *list = json_object_get(groups, g);
        if (!list) {
            list = json_array();
            json_object_set_new(groups, g, list);
        }
        char ip[16];
        ec2_addr_format((uint32_t)sqlite3_column_int64(st, 1), ip);
        json_array_append_new(list, json_string(ip));
    }
    sqlite3_reset(st);
    *ret = groups;
    return 0;
}

int ec2_eni_rules(struct db *db, const char *eni_id, json_t **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT r.egress, r.protocol, r.from_port, r.to_port, r.cidr, "
                               "r.ref_group FROM ec2_sg_rules r JOIN ec2_eni_groups g "
                               "ON g.group_id = r.group_id WHERE g.eni_id = ?1 ORDER BY r.rowid",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, eni_id);
    json_t *rules = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *rule = json_pack("{s:b, s:s, s:i, s:i}", "egress", sqlite3_column_int(st, 0),
                                 "protocol", db_col_text(st, 1), "from", sqlite3_column_int(st, 2),
                                 "to", sqlite3_column_int(st, 3));
        /* A referenced group stays a name: its members are a set of the
         * data plane, kept by the "groups" message (src/sched/node.h). */
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            json_object_set_new(rule, "cidrs", json_pack("[s]", db_col_text(st, 4)));
        else
            json_object_set_new(rule, "group", json_string(db_col_text(st, 5)));
        json_array_append_new(rules, rule);
    }
    sqlite3_reset(st);
    *ret = rules;
    return 0;
}
