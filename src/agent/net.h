/* The agent's side of awsvpc networking: gives a task's namespace its ENI
 * (src/net) from the "eni" member of the assign message's
 * networkConfiguration, and takes it down again. Only when the agent runs
 * with task_network (skiffd --task-network). */
#pragma once

#include "base/error.h"
#include "base/json.h"

struct task;

/* Subnet bridge (made if absent), the veth with its peer inside ns_path's
 * namespace, address, MAC, route, then the task's security group rules.
 * No "eni" in the task's message: nothing to do. */
int agent_net_setup(struct task *t, const char *ns_path, struct error **err);

/* Removes the task's rules and veth, and the subnet bridge once no task
 * uses it. Missing pieces are not errors. */
int agent_net_teardown(struct task *t, struct error **err);

/* Adds the task's ENI attachment, with its status in step with the task's
 * (PRECREATED, ATTACHED once the interface is up, DETACHED from
 * DEPROVISIONING), and the containers' networkInterfaces to a report made
 * by agent_task_report(). Nothing without task networking. */
void agent_net_report(const struct task *t, json_t *report);

struct agent;

/* At start, with the tasks loaded: takes the daemon's network scope
 * (net_scope_acquire: kept in DATA-DIR/net-scope, held through
 * /run/skiff-net), then makes the host's task networking of that scope
 * agree with the tasks. Its nftables tables are reset to exactly the rules
 * of the tasks not yet STOPPED (one transaction, the survivors never
 * unfiltered), and its task veths (ske<scope>*) and subnet bridges
 * (skb<scope>*) that no such task owns are deleted: orphans of a skiffd
 * killed mid-way. Other daemons' scopes are left alone. Must run before
 * any task is set up. */
int agent_net_reconcile(struct agent *a, struct error **err);

/* A "groups" message (src/sched/node.h): replaces the changed groups'
 * member sets (net_sg_groups) and keeps every group's members
 * (DATA-DIR/net-groups.json) for the reconciliation after a restart. */
int agent_net_groups(struct agent *a, const json_t *changed, struct error **err);

/* A "network" message (src/sched/node.h) for the task kept in dir, whose
 * ENI is eni: replaces its rules in one transaction when they differ from
 * those applied, and keeps them (dir/net-rules.json) for setup after a
 * restart and for reconciliation. Nothing once the task's interface has
 * been torn down. */
int agent_net_update(const char *dir, const json_t *eni, const json_t *rules, struct error **err);
