/* The host data plane of awsvpc networking, over rtnetlink (libmnl): a
 * bridge per subnet whose address is the subnet's router (network + 1),
 * and per task a veth pair created directly with its peer ("eth0") inside
 * the task's network namespace, configured there with the ENI's address,
 * MAC, default route and loopback up. Creating the peer in place avoids
 * moving a device between namespaces (~33 ms through rcu_barrier here).
 *
 * Teardown needs no call: deleting the namespace makes the kernel reap the
 * veth pair. net_veth_delete() exists for reconciliation (a host-side veth
 * whose task is gone). See docs/network.md. */
#pragma once

#include <stdint.h>

#include "base/error.h"

/* Interface names: IFNAMSIZ (16) with NUL. */
#define NET_IFNAME_MAX 16

/* A scope is one skiffd's share of the host's task networking: its subnet
 * bridges are named skb<scope>…, its task ports ske<scope>…, its nftables
 * tables skiff_<scope>, so that several daemons (test suites, several data
 * dirs) share a host without touching, filtering or reconciling away each
 * other's. NET_SCOPE_LEN lowercase hex digits. */
#define NET_SCOPE_LEN 4

/* The scope of the daemon whose data dir is data_dir: the one kept in
 * DATA-DIR/net-scope, or a new random one (written there) that no live
 * daemon holds and no link uses. Holds it for the life of the process
 * through a lock in lock_dir (made if absent; one per host, e.g.
 * /run/skiff-net): a scope another live process holds is -EBUSY (two
 * daemons on one data dir). ret gets NET_SCOPE_LEN + 1 bytes. */
int net_scope_acquire(const char *data_dir, const char *lock_dir, char *ret, struct error **err);

struct net_eni {
    const char *bridge;  /* the subnet's bridge */
    const char *host_if; /* host side of the veth pair */
    uint32_t addr;       /* host byte order */
    uint32_t gateway;    /* host byte order; the bridge's address */
    int prefix;
    uint8_t mac[6];
};

/* Subnets of different VPCs may overlap (every account's default VPC is
 * 172.31.0.0/16), so the host's main routing table cannot tell which
 * bridge an address is behind. Each bridge therefore also has a routing
 * table of its own holding its subnet, and a rule sending packets marked
 * with the bridge's mark there; mark and table are both
 * NET_BRIDGE_MARK_BASE | the bridge's ifindex (unique on the host). The
 * connections a task opens carry its bridge's mark in conntrack, and
 * replies get it back as their packet mark (src/net/sg.c), so the
 * answers to a masqueraded connection go back to the right VPC. */
#define NET_BRIDGE_MARK_BASE 0x5b000000u
#define NET_BRIDGE_MARK_MASK 0xff000000u
#define NET_BRIDGE_RULE_PRIO 30000

/* The bridge's mark and table (see above); 0 when it does not exist. */
uint32_t net_bridge_mark(const char *bridge);

/* Creates the bridge (if absent) with gateway/prefix as its address and
 * brings it up, with its routing table and rule. Idempotent. */
int net_bridge_ensure(const char *bridge, uint32_t gateway, int prefix, struct error **err);
/* Deletes a bridge and its rule; 0 when it does not exist. */
int net_bridge_delete(const char *bridge, struct error **err);
/* Deletes the rules of bridges that no longer exist (any daemon's: a rule
 * is the host's, and its bridge's index tells whether it is still used). */
int net_bridge_rules_sweep(struct error **err);

/* Creates eni->host_if on eni->bridge with its peer "eth0" inside the
 * namespace netns_fd, and configures the namespace: eth0 with the ENI's
 * MAC and address, up; lo up; default route via the gateway. On failure
 * the host side is removed again. The calling thread briefly enters the
 * namespace (setns) and always returns to its own. */
int net_eni_setup(const struct net_eni *eni, int netns_fd, struct error **err);

/* Deletes a host-side veth (the kernel removes its peer); 0 when absent. */
int net_veth_delete(const char *host_if, struct error **err);

/* Turns on IPv4 forwarding for the host (net.ipv4.ip_forward = 1), which
 * tasks with a public IP need; host-wide, and left on. Tasks without one
 * stay on their bridge whatever the setting (src/net/sg.c). */
int net_forwarding_enable(struct error **err);

/* Makes sure bridged IPv4 passes the inet hooks (br_netfilter loaded,
 * with `modprobe br_netfilter` if need be, and
 * net.bridge.bridge-nf-call-iptables = 1): without it the security groups
 * of tasks in one subnet would not be enforced at all, so task networking
 * refuses to start when this fails. Host-wide, and left on. */
int net_bridge_filter_enable(struct error **err);

/* Parses a.b.c.d into host byte order; -EINVAL otherwise. */
int net_addr_parse(const char *s, uint32_t *ret);
/* Parses xx:xx:xx:xx:xx:xx; -EINVAL otherwise. */
int net_mac_parse(const char *s, uint8_t mac[6]);
