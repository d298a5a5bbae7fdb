/* The EC2 API subset (VPCs, subnets, security groups, network interfaces,
 * tags) on the ec2 query protocol, and what ECS needs of it: validating a
 * task's awsvpcConfiguration and giving the task an elastic network
 * interface (an address of its subnet). See docs/network.md. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "base/error.h"

struct db;

extern const struct api_service ec2_api;

/* Addresses AWS keeps in each subnet: network, router, DNS, future use and
 * broadcast. The router (network + 1) is the subnet bridge's address. */
#define EC2_SUBNET_RESERVED 5

/* Checks a RunTask/CreateService awsvpcConfiguration (NULL = none given)
 * against the caller's account: every subnet and security group exists and
 * all are in one VPC; with none given, the default VPC's default subnet and
 * default group are used (created on first use). On success *ret is a new
 * {"vpcId", "subnets": [...], "securityGroups": [...], "assignPublicIp"}.
 * Failures are InvalidParameterException with ECS's wording. */
int ec2_awsvpc_resolve(struct api_ctx *ctx, const json_t *awsvpc, json_t **ret, struct error **err);

/* Gives task_arn an ENI in the first subnet of resolved (the output of
 * ec2_awsvpc_resolve): the lowest free address past the reserved ones, a
 * MAC, and its security groups. Runs inside the caller's transaction, so
 * the address is taken exactly when the task row is written; the UNIQUE
 * index on (subnet, address) makes a double allocation impossible. *ret is
 * the ENI as {"id", "subnetId", "vpcId", "ip", "gateway", "prefix", "mac",
 * "securityGroups", "assignPublicIp"} (new). -ENOSPC with
 * InvalidParameterException when the subnet is full. */
int ec2_eni_allocate(struct db *db, const char *account, const char *task_arn,
                     const json_t *resolved, int64_t now_ms, json_t **ret, struct error **err);

/* The security group rules of ENI eni_id for the data plane (src/net's
 * net_sg_apply format): a rule naming a group has "group": its id, whose
 * members the data plane holds as a set (ec2_group_members). */
int ec2_eni_rules(struct db *db, const char *eni_id, json_t **ret, struct error **err);

/* The members of every group some rule references, as {"sg-…": ["a.b.c.d",
 * …]} in address order (members: ENIs of tasks meant to run that have not
 * begun to stop). The scheduler sends the groups whose members changed to
 * the agents (src/sched/sched.c). */
int ec2_group_members(struct db *db, json_t **ret, struct error **err);

/* A number that changes (triggers of the store schema, migration 17) in the
 * transaction of every change that can alter ec2_group_members(): a task
 * row entering or leaving the members' statuses or going, an ENI's groups
 * or task, a rule that references a group. */
int ec2_members_version(struct db *db, int64_t *ret, struct error **err);

/* Releases the ENIs of tasks that stopped or are gone (inside a
 * transaction, or alone). */
int ec2_eni_gc(struct db *db, struct error **err);

/* Releases the ENI of task_arn (its address returns to the subnet); no-op
 * when it has none. Call inside a transaction. */
int ec2_eni_release(struct db *db, const char *task_arn, struct error **err);
