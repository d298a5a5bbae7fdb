/* rtnetlink plumbing for the awsvpc data plane (see net.h). */
#include "net/net.h"
#include "base/cleanup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static void mnl_closep(struct mnl_socket **s)
{
    if (*s)
        mnl_socket_close(*s);
}
#define _cleanup_mnl_ _cleanup_(mnl_closep)

static struct mnl_socket *nl_open(void)
{
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl)
        return NULL;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        mnl_socket_close(nl);
        return NULL;
    }
    return nl;
}

/* Sends one request and waits for its acknowledgement: 0 or -errno. */
static int talk(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
    static __thread unsigned seq;
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++seq;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    unsigned portid = mnl_socket_get_portid(nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, NULL, NULL);
        if (r == MNL_CB_STOP)
            return 0;
        if (r < 0)
            return -errno;
    }
}

static struct nlmsghdr *link_msg(char *buf, int type, unsigned flags, int index,
                                 struct ifinfomsg **ret_ifm)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = index;
    if (ret_ifm)
        *ret_ifm = ifm;
    return nlh;
}

static int link_up(struct mnl_socket *nl, int index)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, index, &ifm);
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = IFF_UP;
    return talk(nl, nlh);
}

static int addr_add(struct mnl_socket *nl, int index, uint32_t addr, int prefix)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)index;
    uint32_t be = htonl(addr);
    mnl_attr_put_u32(nlh, IFA_LOCAL, be);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
    if (prefix < 31) {
        uint32_t bcast = htonl(addr | (prefix ? ~(~0u << (32 - prefix)) : ~0u));
        mnl_attr_put_u32(nlh, IFA_BROADCAST, bcast);
    }
    return talk(nl, nlh);
}

/* A unicast route in table out of index: the default route via gateway
 * (prefix 0), or dst/prefix on the link with src as the source. */
static int route_add(struct mnl_socket *nl, int index, uint32_t table, uint32_t dst, int prefix,
                     uint32_t gateway, uint32_t src)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = (unsigned char)prefix;
    rtm->rtm_table = RT_TABLE_UNSPEC;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_TABLE, table);
    if (prefix > 0)
        mnl_attr_put_u32(nlh, RTA_DST, htonl(dst & ~0u << (32 - prefix)));
    if (gateway)
        mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway));
    if (src)
        mnl_attr_put_u32(nlh, RTA_PREFSRC, htonl(src));
    mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
    return talk(nl, nlh);
}

/* "fwmark MARK lookup MARK" (type RTM_NEWRULE or RTM_DELRULE). */
static int rule_msg(struct mnl_socket *nl, int type, uint32_t mark)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0;
    struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
    frh->family = AF_INET;
    frh->action = FR_ACT_TO_TBL;
    frh->table = RT_TABLE_UNSPEC;
    mnl_attr_put_u32(nlh, FRA_TABLE, mark);
    mnl_attr_put_u32(nlh, FRA_FWMARK, mark);
    mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
    mnl_attr_put_u32(nlh, FRA_PRIORITY, NET_BRIDGE_RULE_PRIO);
    return talk(nl, nlh);
}

uint32_t net_bridge_mark(const char *bridge)
{
    unsigned index = if_nametoindex(bridge);
    if (!index || index & NET_BRIDGE_MARK_MASK)
        return 0;
    return NET_BRIDGE_MARK_BASE | index;
}

static int link_delete(struct mnl_socket *nl, const char *name)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0, NULL);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    return talk(nl, nlh);
}

int net_bridge_ensure(const char *bridge, uint32_t gateway, int prefix, struct error **err)
{
    _cleanup_mnl_ struct mnl_socket *nl = nl_open();
    if (!nl)
        return error_errno(err, errno, "netlink socket");
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, &ifm);
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, bridge);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    int r = talk(nl, nlh);
    if (r < 0 && r != -EEXIST)
        return error_errno(err, -r, "create bridge %s", bridge);
    int index = (int)if_nametoindex(bridge);
    if (!index)
        return error_errno(err, errno, "bridge %s", bridge);
    r = addr_add(nl, index, gateway, prefix);
    if (r < 0 && r != -EEXIST)
        return error_errno(err, -r, "address of bridge %s", bridge);
    r = link_up(nl, index);
    if (r < 0)
        return error_errno(err, -r, "bring bridge %s up", bridge);
    uint32_t mark = net_bridge_mark(bridge);
    if (!mark)
        return error_set(err, ERANGE, NULL, "bridge %s: interface index too large", bridge);
    r = route_add(nl, index, mark, gateway, prefix, 0, gateway);
    if (r < 0 && r != -EEXIST)
        return error_errno(err, -r, "route table of bridge %s", bridge);
    r = rule_msg(nl, RTM_NEWRULE, mark);
    if (r < 0 && r != -EEXIST)
        return error_errno(err, -r, "routing rule of bridge %s", bridge);
    return 0;
}

int net_bridge_delete(const char *bridge, struct error **err)
{
    uint32_t mark = net_bridge_mark(bridge);
    int r = net_veth_delete(bridge, err);
    if (r < 0 || !mark)
        return r;
    _cleanup_mnl_ struct mnl_socket *nl = nl_open();
    if (!nl)
        return error_errno(err, errno, "netlink socket");
    r = rule_msg(nl, RTM_DELRULE, mark);
    if (r < 0 && r != -ENOENT)
        return error_errno(err, -r, "delete the routing rule of bridge %s", bridge);
    return 0;
}

struct rule_dump {
    uint32_t marks[256];
    size_t n;
};

static int rule_attr(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(a);
    if (type <= FRA_MAX && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
        tb[type] = a;
    return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
    struct rule_dump *d = data;
    const struct nlattr *tb[FRA_MAX + 1] = {0};
    mnl_attr_parse(nlh, sizeof(struct fib_rule_hdr), rule_attr, tb);
    if (!tb[FRA_FWMARK] || !tb[FRA_TABLE] || !tb[FRA_PRIORITY])
        return MNL_CB_OK;
    uint32_t mark = mnl_attr_get_u32(tb[FRA_FWMARK]);
    if ((mark & NET_BRIDGE_MARK_MASK) == NET_BRIDGE_MARK_BASE &&
        mnl_attr_get_u32(tb[FRA_TABLE]) == mark &&
        mnl_attr_get_u32(tb[FRA_PRIORITY]) == NET_BRIDGE_RULE_PRIO && d->n < 256)
        d->marks[d->n++] = mark;
    return MNL_CB_OK;
}

int net_bridge_rules_sweep(struct error **err)
{
    _cleanup_mnl_ struct mnl_socket *nl = nl_open();
    if (!nl)
        return error_errno(err, errno, "netlink socket");
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETRULE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = (unsigned)time(NULL);
    struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
    frh->family = AF_INET;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return error_errno(err, errno, "dump routing rules");
    struct rule_dump d = {.n = 0};
    unsigned portid = mnl_socket_get_portid(nl), seq = nlh->nlmsg_seq;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_errno(err, errno, "dump routing rules");
        int r = mnl_cb_run(buf, (size_t)n, seq, portid, rule_cb, &d);
        if (r == MNL_CB_STOP)
            break;
        if (r < 0)
            return error_errno(err, errno, "dump routing rules");
    }
    for (size_t i = 0; i < d.n; i++) {
        char name[IF_NAMESIZE];
        if (if_indextoname(d.marks[i] & ~NET_BRIDGE_MARK_MASK, name))
            continue; /* its bridge (or whatever took the index) is there */
        int r = rule_msg(nl, RTM_DELRULE, d.marks[i]);
        if (r < 0 && r != -ENOENT)
            return error_errno(err, -r, "delete routing rule %#x", d.marks[i]);
    }
    return 0;
}

int net_veth_delete(const char *name, struct error **err)
{
    _cleanup_mnl_ struct mnl_socket *nl = nl_open();
    if (!nl)
        return error_errno(err, errno, "netlink socket");
    int r = link_delete(nl, name);
    if (r < 0 && r != -ENODEV)
        return error_errno(err, -r, "delete %s", name);
    return 0;
}

/* Inside the task's namespace: eth0 and lo up, the address, the route. */
static int configure_inside(const struct net_eni *eni, struct error **err)
{
    _cleanup_mnl_ struct mnl_socket *nl = nl_open();
    if (!nl)
        return error_errno(err, errno, "netlink socket in the task namespace");
    int eth0 = (int)if_nametoindex("eth0");
    if (!eth0)
        return error_errno(err, errno, "eth0 in the task namespace");
    int r;
    if ((r = addr_add(nl, eth0, eni->addr, eni->prefix)) < 0)
        return error_errno(err, -r, "address of eth0");
    if ((r = link_up(nl, eth0)) < 0)
        return error_errno(err, -r, "bring eth0 up");
    if ((r = link_up(nl, 1)) < 0)
        return error_errno(err, -r, "bring lo up");
    if ((r = route_add(nl, eth0, RT_TABLE_MAIN, 0, 0, eni->gateway, 0)) < 0)
        return error_errno(err, -r, "default route");
    return 0;
}

int net_eni_setup(const struct net_eni *eni, int netns_fd, struct error **err)
{
    _cleanup_mnl_ struct mnl_socket *nl = nl_open();
    if (!nl)
        return error_errno(err, errno, "netlink socket");
    int bridge = (int)if_nametoindex(eni->bridge);
    if (!bridge)
        return error_errno(err, errno, "bridge %s", eni->bridge);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ifinfomsg *ifm;
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, &ifm);
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, eni->host_if);
    mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)bridge);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
    pifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
    mnl_attr_put(nlh, IFLA_ADDRESS, 6, eni->mac);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    int r = talk(nl, nlh);
    if (r < 0)
        return error_errno(err, -r, "create veth %s", eni->host_if);

    /* setns() moves only this thread; come back whatever happens. */
    _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        r = error_errno(err, errno, "open own network namespace");
        goto undo;
    }
    if (setns(netns_fd, CLONE_NEWNET) < 0) {
        r = error_errno(err, errno, "enter the task network namespace");
        goto undo;
    }
    r = configure_inside(eni, err);
    if (setns(self, CLONE_NEWNET) < 0)
        abort(); /* a thread stranded in a task namespace must not go on */
    if (r < 0)
        goto undo;
    return 0;
undo:
    link_delete(nl, eni->host_if);
    return r;
}

/* Sets a boolean sysctl (a /proc/sys path) to 1 unless it is already. */
static int sysctl_on(const char *path, struct error **err)
{
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", path);
    char c = '0';
    if (pread(fd, &c, 1, 0) == 1 && c == '1')
        return 0;
    if (pwrite(fd, "1\n", 2, 0) != 2)
        return error_errno(err, errno, "write %s", path);
    return 0;
}

int net_forwarding_enable(struct error **err)
{
    return sysctl_on("/proc/sys/net/ipv4/ip_forward", err);
}

int net_bridge_filter_enable(struct error **err)
{
    static const char path[] = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    if (access(path, F_OK) != 0) {
        extern char **environ;
        char *const argv[] = {"modprobe", "-q", "br_netfilter", NULL};
        pid_t pid;
        int status = 0, rc = posix_spawnp(&pid, "modprobe", NULL, NULL, argv, environ);
        if (rc != 0)
            return error_errno(err, rc, "run modprobe br_netfilter");
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (access(path, F_OK) != 0)
            return error_set(err, ENOENT, NULL,
                             "the br_netfilter module is not loaded and `modprobe br_netfilter` "
                             "failed: security groups between tasks of a subnet cannot be "
                             "enforced");
    }
    return sysctl_on(path, err);
}

int net_addr_parse(const char *s, uint32_t *ret)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return -EINVAL;
    *ret = ntohl(a.s_addr);
    return 0;
}

int net_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned m[6];
    char tail;
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
                     &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)m[i];
    return 0;
}
