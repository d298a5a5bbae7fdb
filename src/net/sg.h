/* Security groups on task interfaces, with nftables (libnftables).
 *
 * Tasks of a subnet share a bridge, so their traffic is bridged, not
 * routed; br_netfilter (bridge-nf-call-iptables, on by default where the
 * module is loaded) passes bridged IPv4 through the inet hooks, where
 * conntrack makes the filtering stateful. There the devices are the
 * bridges, so a task is told apart by (bridge, its address): one verdict
 * map per direction, "bridge . address : jump chain-of-the-task", in
 * table inet skiff_SCOPE (one skiffd's tables; see net_scope_acquire() in
 * net.h: its rules match only its own skbSCOPE… bridges and skeSCOPE…
 * ports, so daemons sharing a host leave each other alone):
 *
 *   forward/output: oifname . ip daddr vmap @ingress   (to a task)
 *   forward:        iifname . ip saddr vmap @egress    (from a task)
 *   input:          nothing from a task bridge reaches the host's own
 *                   services (replies to the host's connections excepted)
 *
 * A task's chains start with "ct state established,related return", then
 * its rules, then drop (ingress: AWS's default deny; egress: only what the
 * egress rules allow, all by default). Applying a task's rules replaces
 * them in one nftables transaction, so there is no moment without rules
 * (no fail-open window) and new connections see the change at once;
 * established ones continue, as on AWS. Egress to anything but the task's
 * own bridge is dropped whatever the host's ip_forward, which keeps VPCs
 * (and subnets) apart until routing between subnets exists. A
 * bridge-family prerouting rule
 * drops frames from a task port whose source address or MAC is not the
 * task's, so a task cannot borrow another's identity. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "net/net.h"

struct net_sg_task {
    const char *bridge;
    const char *host_if;
    uint32_t addr; /* host byte order */
    uint8_t mac[6];
    bool public_ip; /* assignPublicIp ENABLED: out to the host's other
                       interfaces (the uplink), masqueraded */
};

/* Every call takes the daemon's scope (NET_SCOPE_LEN hex digits) and
 * works on its tables only; a task's bridge must be named skbSCOPE… and
 * its port skeSCOPE… (-EINVAL otherwise). */

/* Creates the scope's tables, maps and base chains if absent. Idempotent. */
int net_sg_init(const char *scope, struct error **err);

/* The firewall mark skiff-lb puts on its connections to targets that are
 * task ENIs (it also binds them to the task's bridge): a task's "lb" rule
 * admits only packets carrying it. Setting a mark takes CAP_NET_ADMIN. */
#define NET_LB_MARK 0x736b6c62u /* "sklb" */

/* Sets the task's rules, replacing any it had, in one transaction. rules is
 * a list of {"egress": bool, "protocol": "-1"|"tcp"|"udp"|"icmp"|"N",
 * "from": int, "to": int, and "cidrs": ["a.b.c.d/n", ...] or "group":
 * "sg-…"}: a rule naming a group matches the addresses in the group's set
 * (net_sg_groups; made empty here when it is not there yet). An ingress rule
 * with "lb": true and no cidrs admits TCP to ports from..to from the
 * host's load balancer (packets marked NET_LB_MARK): the allowance a
 * service's load balancer gets on its tasks (docs/services.md). */
int net_sg_apply(const char *scope, const struct net_sg_task *t, const json_t *rules,
                 struct error **err);

/* Removes the task's chains, map entries and anti-spoofing entry; nothing
 * to remove is not an error. */
int net_sg_remove(const char *scope, const struct net_sg_task *t, struct error **err);

/* Replaces the members of each group of groups ({"sg-…": ["a.b.c.d", ...]})
 * in its set (one per group, shared by every rule that names it; made when
 * absent), all in one transaction: a member joining or leaving is one
 * set update, whatever the number of tasks whose rules name the group. */
int net_sg_groups(const char *scope, const json_t *groups, struct error **err);

/* Reconciliation: replaces the scope's tables with the base chains, the
 * sets of groups (as net_sg_groups; NULL: none) and exactly the given
 * tasks' rules (rules[i] for tasks[i]), in one transaction, so orphans of
 * tasks that are gone disappear and the survivors are never without their
 * rules. */
int net_sg_reset(const char *scope, const json_t *groups, const struct net_sg_task *tasks,
                 const json_t *const *rules, size_t n, struct error **err);

/* Deletes the scope's tables (a daemon's networking is gone for good, or a
 * test is done with its scope); absent tables are not an error. */
int net_sg_drop(const char *scope, struct error **err);
