/* Security groups with nftables (see sg.h). */
#include "net/sg.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Task bridges and host-side veths carry these prefixes (src/agent/net.c
 * names them). */
#define BRIDGE_GLOB "skb*"
#define PORT_GLOB   "ske*"

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

static const char init_cmds[] =
    "add table inet skiff\n"
    "add map inet skiff ingress { type ifname . ipv4_addr : verdict; }\n"
    "add map inet skiff egress { type ifname . ipv4_addr : verdict; }\n"
    "add chain inet skiff forward { type filter hook forward priority 0; policy accept; }\n"
    "add chain inet skiff output { type filter hook output priority 0; policy accept; }\n"
    "add chain inet skiff input { type filter hook input priority 0; policy accept; }\n"
    "flush chain inet skiff forward\n"
    "flush chain inet skiff output\n"
    "flush chain inet skiff input\n"
    "add rule inet skiff forward meta protocol ip oifname . ip daddr vmap @ingress\n"
    "add rule inet skiff forward meta protocol ip iifname . ip saddr vmap @egress\n"
    "add rule inet skiff output meta protocol ip oifname . ip daddr vmap @ingress\n"
    "add rule inet skiff input iifname \"" BRIDGE_GLOB "\" ct state established,related "
    "accept\n"
    "add rule inet skiff input iifname \"" BRIDGE_GLOB "\" drop\n"
    "add table bridge skiff\n"
    "add set bridge skiff ports { type ifname . ipv4_addr . ether_addr; }\n"
    "add chain bridge skiff prerouting { type filter hook prerouting priority -300; "
    "policy accept; }\n"
    "flush chain bridge skiff prerouting\n"
    "add rule bridge skiff prerouting iifname \"" PORT_GLOB "\" meta protocol ip "
    "iifname . ip saddr . ether saddr != @ports drop\n";

int net_sg_init(struct error **err)
{
    return run(init_cmds, err);
}

static void addr_str(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* Appends one rule's match + accept to chain, or nothing when it names no
 * peer. Peers and protocol come from the caller's validated rules; they
 * are checked again here because they end up in nftables' syntax. */
static int rule_text(struct buf *b, const char *chain, const json_t *rule, struct error **err)
{
    bool egress = json_get_bool(rule, "egress", false);
    const char *proto = json_get_str(rule, "protocol");
    json_int_t from = json_get_int(rule, "from", -1), to = json_get_int(rule, "to", -1);
    json_t *cidrs = json_get_array(rule, "cidrs");
    if (!json_array_size(cidrs))
        return 0;
    buf_printf(b, "add rule inet skiff %s ip %s {", chain, egress ? "daddr" : "saddr");
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
    buf_puts(b, " accept\n");
    return 0;
}

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) < 16 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(s);
}

/* Appends the commands that give a task its rules (replacing any). */
static int apply_text(struct buf *bp, const struct net_sg_task *t, const json_t *rules,
                      struct error **err)
{
    if (!name_ok(t->bridge) || !name_ok(t->host_if))
        return error_set(err, EINVAL, NULL, "bad interface name");
    char ip[16];
    addr_str(t->addr, ip);
    struct buf b = *bp;
    const char *dirs[2] = {"in", "out"};
    for (int d = 0; d < 2; d++) {
        buf_printf(&b,
                   "add chain inet skiff %s_%s\n"
                   "flush chain inet skiff %s_%s\n"
                   "add rule inet skiff %s_%s ct state established,related accept\n"
                   "add rule inet skiff %s_%s ct state invalid drop\n",
                   dirs[d], t->host_if, dirs[d], t->host_if, dirs[d], t->host_if, dirs[d],
                   t->host_if);
    }
    /* Whatever the host's ip_forward: a task's packets go nowhere but its
     * own subnet's bridge (other subnets, other VPCs and the uplink are not
     * routed for tasks yet; docs/network.md). */
    buf_printf(&b, "add rule inet skiff out_%s oifname != \"%s\" drop\n", t->host_if, t->bridge);
    /* A task always reaches itself (containers over its own address). */
    buf_printf(&b, "add rule inet skiff in_%s ip saddr %s accept\n", t->host_if, ip);
    size_t i;
    json_t *rule;
    int r = 0;
    json_array_foreach(rules, i, rule)
    {
        char chain[40];
        snprintf(chain, sizeof(chain), "%s_%s", json_get_bool(rule, "egress", false) ? "out" : "in",
                 t->host_if);
        if ((r = rule_text(&b, chain, rule, err)) < 0)
            break;
    }
    if (r == 0)
        buf_printf(&b,
                   "add rule inet skiff in_%s drop\n"
                   "add rule inet skiff out_%s drop\n"
                   "add element inet skiff ingress { \"%s\" . %s : jump in_%s }\n"
                   "add element inet skiff egress { \"%s\" . %s : jump out_%s }\n"
                   "add element bridge skiff ports { \"%s\" . %s . "
                   "%02x:%02x:%02x:%02x:%02x:%02x }\n",
                   t->host_if, t->host_if, t->bridge, ip, t->host_if, t->bridge, ip, t->host_if,
                   t->host_if, ip, t->mac[0], t->mac[1], t->mac[2], t->mac[3], t->mac[4],
                   t->mac[5]);
    if (r == 0 && b.cap && b.len >= b.cap - 1)
        r = error_set(err, E2BIG, NULL, "too many security group rules");
    *bp = b;
    return r;
}

int net_sg_apply(const struct net_sg_task *t, const json_t *rules, struct error **err)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    int r = apply_text(&b, t, rules, err);
    if (r == 0)
        r = run(b.data, err);
    buf_done(&b);
    return r;
}

int net_sg_reset(const struct net_sg_task *tasks, const json_t *const *rules, size_t n,
                 struct error **err)
{
    struct buf b;
    buf_init(&b, 64 << 20);
    /* "add" first, so that "delete" finds the tables whether or not they
     * were there; all of it is one transaction. */
    buf_puts(&b, "add table inet skiff\ndelete table inet skiff\n"
                 "add table bridge skiff\ndelete table bridge skiff\n");
    buf_puts(&b, init_cmds);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = apply_text(&b, &tasks[i], rules[i], err);
    if (r == 0)
        r = run(b.data, err);
    buf_done(&b);
    return r;
}

int net_sg_remove(const struct net_sg_task *t, struct error **err)
{
    if (!name_ok(t->bridge) || !name_ok(t->host_if))
        return error_set(err, EINVAL, NULL, "bad interface name");
    char ip[16];
    addr_str(t->addr, ip);
    /* Each step alone: a missing element or chain must not keep the others
     * from going. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "delete element inet skiff ingress { \"%s\" . %s }", t->bridge, ip);
    run(cmd, NULL);
    snprintf(cmd, sizeof(cmd), "delete element inet skiff egress { \"%s\" . %s }", t->bridge, ip);
    run(cmd, NULL);
    snprintf(cmd, sizeof(cmd),
             "delete element bridge skiff ports { \"%s\" . %s . %02x:%02x:%02x:%02x:%02x:%02x }",
             t->host_if, ip, t->mac[0], t->mac[1], t->mac[2], t->mac[3], t->mac[4], t->mac[5]);
    run(cmd, NULL);
    for (int d = 0; d < 2; d++) {
        snprintf(cmd, sizeof(cmd), "delete chain inet skiff %s_%s", d ? "out" : "in", t->host_if);
        run(cmd, NULL);
    }
    (void)err;
    return 0;
}
