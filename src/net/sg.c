/* Security groups with nftables (see sg.h). */
#include "net/sg.h"
#include "net/net.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One daemon's tables are skiff_SCOPE; its task bridges and host-side
 * veths are named skbSCOPE… and skeSCOPE… (src/agent/net.c names them), and
 * its rules match only those, so daemons sharing a host never filter, nor
 * remove, each other's. */
static bool scope_ok(const char *scope)
{
    return scope && strlen(scope) == NET_SCOPE_LEN &&
           strspn(scope, "0123456789abcdef") == NET_SCOPE_LEN;
}

static int run(const char *cmds, struct error **err)
{
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft)
        return error_set(err, ENOMEM, NULL, "nftables context");
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    int rc = nft_run_cmd_from_buffer(nft, cmds);
    int r = 0;
    if (rc != 0) {
        const char *msg = nft_ctx_get_error_buffer(nft);
        r = error_set(err, EIO, NULL, "nftables: %.500s", msg && *msg ? msg : "failed");
    }
    nft_ctx_free(nft);
    return r;
}

/* Before scopes, one daemon per host owned tables named plain "skiff",
 * whose anti-spoofing rule ("ske*" ports not in its set: drop) would drop
 * every scoped task's frames: they go. */
static const char legacy_cmds[] = "add table inet skiff\ndelete table inet skiff\n"
                                  "add table bridge skiff\ndelete table bridge skiff\n";

/* The tables, maps and base chains (created if absent, base chains
 * refilled). */
static void init_text(struct buf *b, const char *scope)
{
    /* A packet from one task to another passes the receiver's ingress
     * chain and then the sender's egress chain: a task's chains "return"
     * what they allow (an "accept" would end the base chain and skip the
     * other side's check) and drop the rest. */
    buf_puts(b, legacy_cmds);
    buf_printf(b,
               "add table inet skiff_%s\n"
               "add map inet skiff_%s ingress { type ifname . ipv4_addr : verdict; }\n"
               "add map inet skiff_%s egress { type ifname . ipv4_addr : verdict; }\n"
               "add set inet skiff_%s public { type ifname . ipv4_addr; }\n"
               "add chain inet skiff_%s postrouting { type nat hook postrouting priority 100; "
               "policy accept; }\n"
               "flush chain inet skiff_%s postrouting\n"
               "add rule inet skiff_%s postrouting meta protocol ip oifname != \"skb*\" "
               "iifname . ip saddr @public masquerade\n",
               scope, scope, scope, scope, scope, scope, scope);
    /* Replies get their connection's bridge mark back as their packet
     * mark before routing, which sends them to that bridge's table
     * (net.h: overlapping VPCs). */
    buf_printf(b,
               "add chain inet skiff_%s prerouting { type filter hook prerouting priority -150; "
               "policy accept; }\n"
               "flush chain inet skiff_%s prerouting\n"
               "add rule inet skiff_%s prerouting ct direction reply ct mark and 0x%08x == "
               "0x%08x meta mark set ct mark\n",
               scope, scope, scope, NET_BRIDGE_MARK_MASK, NET_BRIDGE_MARK_BASE);
    static const char *const hooks[] = {"forward", "output", "input"};
    for (size_t i = 0; i < 3; i++)
        buf_printf(b,
                   "add chain inet skiff_%s %s { type filter hook %s priority 0; "
                   "policy accept; }\n"
                   "flush chain inet skiff_%s %s\n",
                   scope, hooks[i], hooks[i], scope, hooks[i]);
    buf_printf(b,
               "add rule inet skiff_%s forward meta protocol ip oifname . ip daddr vmap "
               "@ingress\n"
               "add rule inet skiff_%s forward meta protocol ip iifname . ip saddr vmap "
               "@egress\n"
               "add rule inet skiff_%s output meta protocol ip oifname . ip daddr vmap "
               "@ingress\n"
               "add rule inet skiff_%s input iifname \"skb%s*\" ct state established,related "
               "accept\n"
               "add rule inet skiff_%s input iifname \"skb%s*\" drop\n"
               "add table bridge skiff_%s\n"
               "add set bridge skiff_%s ports { type ifname . ipv4_addr . ether_addr; }\n"
               "add chain bridge skiff_%s prerouting { type filter hook prerouting priority "
               "-300; policy accept; }\n"
               "flush chain bridge skiff_%s prerouting\n"
               "add rule bridge skiff_%s prerouting iifname \"ske%s*\" meta protocol ip "
               "iifname . ip saddr . ether saddr != @ports drop\n",
               scope, scope, scope, scope, scope, scope, scope, scope, scope, scope, scope, scope,
               scope);
}

int net_sg_init(const char *scope, struct error **err)
{
    if (!scope_ok(scope))
        return error_set(err, EINVAL, NULL, "bad network scope");
    struct buf b;
    buf_init(&b, 1 << 16);
    init_text(&b, scope);
    int r = run(b.data, err);
    buf_done(&b);
    return r;
}

static void addr_str(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* The set of a security group's members: g_ and the hex digits of its id
 * (sg-…). False when id is not a group id. */
static bool group_set(const char *id, char out[40])
{
    if (!id || strncmp(id, "sg-", 3) != 0 || strlen(id) < 4 || strlen(id) > 3 + 32 ||
        strspn(id + 3, "0123456789abcdef") != strlen(id + 3))
        return false;
    snprintf(out, 40, "g_%s", id + 3);
    return true;
}

/* Appends the commands that make group id's set (empty) when it is not
 * there. */
static int group_add_text(struct buf *b, const char *scope, const char *id, struct error **err)
{
    char set[40];
    if (!group_set(id, set))
        return error_set(err, EINVAL, NULL, "bad security group id in a rule");
    buf_printf(b, "add set inet skiff_%s %s { type ipv4_addr; }\n", scope, set);
    return 0;
}

/* Appends the commands that replace group id's members by addrs. */
static int group_text(struct buf *b, const char *scope, const char *id, const json_t *addrs,
                      struct error **err)
{
    int r = group_add_text(b, scope, id, err);
    if (r < 0)
        return r;
    char set[40];
    group_set(id, set);
    buf_printf(b, "flush set inet skiff_%s %s\n", scope, set);
    if (!json_array_size(addrs))
        return 0;
    buf_printf(b, "add element inet skiff_%s %s {", scope, set);
    size_t i;
    json_t *a;
    json_array_foreach(addrs, i, a)
    {
        uint32_t addr;
        char ip[16];
        if (net_addr_parse(json_string_value(a), &addr) < 0)
            return error_set(err, EINVAL, NULL, "bad member address of %s", id);
        addr_str(addr, ip);
        buf_printf(b, "%s %s", i ? "," : "", ip);
    }
    buf_puts(b, " }\n");
    return 0;
}

/* group_text for each group of groups (NULL: none). */
static int groups_text(struct buf *b, const char *scope, const json_t *groups, struct error **err)
{
    const char *id;
    json_t *addrs;
    json_object_foreach((json_t *)groups, id, addrs)
    {
        int r = group_text(b, scope, id, addrs, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int net_sg_groups(const char *scope, const json_t *groups, struct error **err)
{
    if (!scope_ok(scope))
        return error_set(err, EINVAL, NULL, "bad network scope");
    if (!json_object_size(groups))
        return 0;
    struct buf b;
    buf_init(&b, 1 << 20);
    int r = groups_text(&b, scope, groups, err);
    if (r == 0 && b.cap && b.len >= b.cap - 1)
        r = error_set(err, E2BIG, NULL, "too many group members");
    if (r == 0)
        r = run(b.data, err);
    buf_done(&b);
    return r;
}

/* Appends one rule's match + return to chain, or nothing when it names no
 * peer. Peers and protocol come from the caller's validated rules; they
 * are checked again here because they end up in nftables' syntax. */
static int rule_text(struct buf *b, const char *scope, const char *chain, const json_t *rule,
                     struct error **err)
{
    bool egress = json_get_bool(rule, "egress", false);
    const char *proto = json_get_str(rule, "protocol");
    json_int_t from = json_get_int(rule, "from", -1), to = json_get_int(rule, "to", -1);
    json_t *cidrs = json_get_array(rule, "cidrs");
    if (!egress && json_get_bool(rule, "lb", false)) {
        if (from < 1 || to > 65535 || from > to)
            return error_set(err, EINVAL, NULL, "bad port range in a load balancer rule");
        buf_printf(b, "add rule inet skiff_%s %s meta mark 0x%08x tcp dport %lld-%lld return\n",
                   scope, chain, NET_LB_MARK, (long long)from, (long long)to);
        return 0;
    }
    const char *group = json_get_str(rule, "group");
    char set[40];
    if (group) {
        if (!group_set(group, set))
            return error_set(err, EINVAL, NULL, "bad security group id in a rule");
        buf_printf(b, "add rule inet skiff_%s %s ip %s @%s", scope, chain,
                   egress ? "daddr" : "saddr", set);
    } else {
        if (!json_array_size(cidrs))
            return 0;
        buf_printf(b, "add rule inet skiff_%s %s ip %s {", scope, chain,
                   egress ? "daddr" : "saddr");
        size_t i;
        json_t *c;
        json_array_foreach(cidrs, i, c)
        {
            const char *s = json_string_value(c);
            if (!s || strspn(s, "0123456789./") != strlen(s) || strlen(s) > 18)
                return error_set(err, EINVAL, NULL, "bad CIDR in a rule");
            buf_printf(b, "%s %s", i ? "," : "", s);
        }
        buf_puts(b, " }");
    }
    if (!proto || !strcmp(proto, "-1")) {
        /* every protocol */
    } else if (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) {
        if (from < 0 || to > 65535 || from > to)
            return error_set(err, EINVAL, NULL, "bad port range in a rule");
        buf_printf(b, " %s dport %lld-%lld", proto, (long long)from, (long long)to);
    } else if (!strcmp(proto, "icmp")) {
        buf_puts(b, " ip protocol icmp");
        if (from >= 0 && from <= 255)
            buf_printf(b, " icmp type %lld", (long long)from);
        if (from >= 0 && to >= 0 && to <= 255)
            buf_printf(b, " icmp code %lld", (long long)to);
    } else {
        char *end;
        long n = strtol(proto, &end, 10);
        if (!*proto || *end || n < 0 || n > 255)
            return error_set(err, EINVAL, NULL, "bad protocol in a rule");
        buf_printf(b, " ip protocol %ld", n);
    }
    buf_puts(b, " return\n");
    return 0;
}

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) < 16 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(s);
}

/* The task's links must be its daemon's: the base chains' globs (host
 * services, anti-spoofing) cover those names only. */
static int task_ok(const char *scope, const struct net_sg_task *t, struct error **err)
{
    if (!scope_ok(scope))
        return error_set(err, EINVAL, NULL, "bad network scope");
    if (!name_ok(t->bridge) || !name_ok(t->host_if) || strncmp(t->bridge, "skb", 3) != 0 ||
        strncmp(t->bridge + 3, scope, NET_SCOPE_LEN) != 0 || strncmp(t->host_if, "ske", 3) != 0 ||
        strncmp(t->host_if + 3, scope, NET_SCOPE_LEN) != 0)
        return error_set(err, EINVAL, NULL, "interface names %s/%s outside scope %s",
                         t->bridge ? t->bridge : "", t->host_if ? t->host_if : "", scope);
    return 0;
}

/* Appends the commands that give a task its rules (replacing any). */
static int apply_text(struct buf *bp, const char *scope, const struct net_sg_task *t,
                      const json_t *rules, struct error **err)
{
    int r;
    if ((r = task_ok(scope, t, err)) < 0)
        return r;
    char ip[16];
    addr_str(t->addr, ip);
    struct buf b = *bp;
    const char *dirs[2] = {"in", "out"};
    for (int d = 0; d < 2; d++) {
        const char *c = dirs[d], *h = t->host_if;
        buf_printf(&b,
                   "add chain inet skiff_%s %s_%s\n"
                   "flush chain inet skiff_%s %s_%s\n"
                   "add rule inet skiff_%s %s_%s ct state established,related return\n"
                   "add rule inet skiff_%s %s_%s ct state invalid drop\n",
                   scope, c, h, scope, c, h, scope, c, h, scope, c, h);
    }
    /* The connections the task opens carry its bridge's mark (net.h). */
    uint32_t mark = net_bridge_mark(t->bridge);
    if (mark)
        buf_printf(&b, "add rule inet skiff_%s out_%s ct state new ct mark set 0x%08x\n", scope,
                   t->host_if, mark);
    /* Whatever the host's ip_forward: a task's packets go nowhere but its
     * own subnet's bridge (other subnets and other VPCs are not routed for
     * tasks yet; docs/network.md), and, with a public IP, the host's other
     * interfaces (masqueraded): never another task bridge, of any daemon. */
    if (t->public_ip)
        buf_printf(&b, "add rule inet skiff_%s out_%s oifname != \"%s\" oifname \"skb*\" drop\n",
                   scope, t->host_if, t->bridge);
    else
        buf_printf(&b, "add rule inet skiff_%s out_%s oifname != \"%s\" drop\n", scope, t->host_if,
                   t->bridge);
    /* A task always reaches itself (containers over its own address). */
    buf_printf(&b, "add rule inet skiff_%s in_%s ip saddr %s return\n", scope, t->host_if, ip);
    size_t i;
    json_t *rule;
    /* The sets of the groups the rules name, empty until their members
     * come (net_sg_groups). */
    json_array_foreach(rules, i, rule)
    {
        const char *group = json_get_str(rule, "group");
        if (group && (r = group_add_text(&b, scope, group, err)) < 0)
            break;
    }
    json_array_foreach(rules, i, rule)
    {
        if (r < 0)
            break;
        char chain[40];
        snprintf(chain, sizeof(chain), "%s_%s", json_get_bool(rule, "egress", false) ? "out" : "in",
                 t->host_if);
        if ((r = rule_text(&b, scope, chain, rule, err)) < 0)
            break;
    }
    if (r == 0) {
        const char *h = t->host_if, *br = t->bridge;
        buf_printf(&b,
                   "add rule inet skiff_%s in_%s drop\n"
                   "add rule inet skiff_%s out_%s drop\n"
                   "add element inet skiff_%s ingress { \"%s\" . %s : jump in_%s }\n"
                   "add element inet skiff_%s egress { \"%s\" . %s : jump out_%s }\n"
                   "add element bridge skiff_%s ports { \"%s\" . %s . "
                   "%02x:%02x:%02x:%02x:%02x:%02x }\n",
                   scope, h, scope, h, scope, br, ip, h, scope, br, ip, h, scope, h, ip, t->mac[0],
                   t->mac[1], t->mac[2], t->mac[3], t->mac[4], t->mac[5]);
        /* Replacing the rules may take the public IP away too. */
        buf_printf(&b, "add element inet skiff_%s public { \"%s\" . %s }\n", scope, br, ip);
        if (!t->public_ip)
            buf_printf(&b, "delete element inet skiff_%s public { \"%s\" . %s }\n", scope, br, ip);
    }
    if (r == 0 && b.cap && b.len >= b.cap - 1)
        r = error_set(err, E2BIG, NULL, "too many security group rules");
    *bp = b;
    return r;
}

int net_sg_apply(const char *scope, const struct net_sg_task *t, const json_t *rules,
                 struct error **err)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    int r = apply_text(&b, scope, t, rules, err);
    if (r == 0)
        r = run(b.data, err);
    buf_done(&b);
    return r;
}

int net_sg_reset(const char *scope, const json_t *groups, const struct net_sg_task *tasks,
                 const json_t *const *rules, size_t n, struct error **err)
{
    if (!scope_ok(scope))
        return error_set(err, EINVAL, NULL, "bad network scope");
    struct buf b;
    buf_init(&b, 64 << 20);
    /* "add" first, so that "delete" finds the tables whether or not they
     * were there; all of it is one transaction. Only this scope's tables:
     * other daemons' stay as they are. */
    buf_printf(&b,
               "add table inet skiff_%s\ndelete table inet skiff_%s\n"
               "add table bridge skiff_%s\ndelete table bridge skiff_%s\n",
               scope, scope, scope, scope);
    init_text(&b, scope);
    int r = groups_text(&b, scope, groups, err);
    for (size_t i = 0; i < n && r == 0; i++)
        r = apply_text(&b, scope, &tasks[i], rules[i], err);
    if (r == 0)
        r = run(b.data, err);
    buf_done(&b);
    return r;
}

int net_sg_remove(const char *scope, const struct net_sg_task *t, struct error **err)
{
    int r;
    if ((r = task_ok(scope, t, err)) < 0)
        return r;
    char ip[16];
    addr_str(t->addr, ip);
    /* Each step alone: a missing element or chain must not keep the others
     * from going. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "delete element inet skiff_%s ingress { \"%s\" . %s }", scope,
             t->bridge, ip);
    run(cmd, NULL);
    snprintf(cmd, sizeof(cmd), "delete element inet skiff_%s egress { \"%s\" . %s }", scope,
             t->bridge, ip);
    run(cmd, NULL);
    snprintf(cmd, sizeof(cmd), "delete element inet skiff_%s public { \"%s\" . %s }", scope,
             t->bridge, ip);
    run(cmd, NULL);
    snprintf(cmd, sizeof(cmd),
             "delete element bridge skiff_%s ports { \"%s\" . %s . "
             "%02x:%02x:%02x:%02x:%02x:%02x }",
             scope, t->host_if, ip, t->mac[0], t->mac[1], t->mac[2], t->mac[3], t->mac[4],
             t->mac[5]);
    run(cmd, NULL);
    for (int d = 0; d < 2; d++) {
        snprintf(cmd, sizeof(cmd), "delete chain inet skiff_%s %s_%s", scope, d ? "out" : "in",
                 t->host_if);
        run(cmd, NULL);
    }
    return 0;
}

int net_sg_drop(const char *scope, struct error **err)
{
    if (!scope_ok(scope))
        return error_set(err, EINVAL, NULL, "bad network scope");
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "add table inet skiff_%s\ndelete table inet skiff_%s\n"
             "add table bridge skiff_%s\ndelete table bridge skiff_%s\n",
             scope, scope, scope, scope);
    return run(cmd, err);
}
