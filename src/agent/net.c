/* awsvpc networking of a task (see net.h). */
#include "agent/net.h"
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "net/net.h"
#include "net/sg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bridges are shared by the tasks of a subnet: making one, deleting an
 * empty one and plugging a veth into one must not interleave. */
static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sg_ready;
/* The members of referenced groups as the last "groups" messages left them
 * ({"sg-…": ["a.b.c.d", …]}), kept in DATA-DIR/net-groups.json for the
 * reconciliation after a restart. */
static json_t *groups;
/* This daemon's share of the host's names (net_scope_acquire), set by
 * agent_net_reconcile() before any task is set up. */
static char scope[NET_SCOPE_LEN + 1];

/* Where daemons hold their scopes; one per host. */
#define SCOPE_LOCK_DIR "/run/skiff-net"

struct names {
    char bridge[NET_IFNAME_MAX];
    char host_if[NET_IFNAME_MAX];
};

static const json_t *task_eni(const struct task *t)
{
    return json_get_object(json_get_object(t->def.msg, "networkConfiguration"), "eni");
}

/* skb + scope + 8 hex digits of the subnet id, ske + scope + 8 of the ENI
 * id: both random ids, so names are not reused while the kernel may still
 * hold an old interface, and the scope keeps daemons apart. */
static int names_of(const json_t *eni, struct names *n, struct error **err)
{
    const char *sub = json_get_str(eni, "subnetId"), *id = json_get_str(eni, "id");
    if (!sub || !id || strncmp(sub, "subnet-", 7) != 0 || strncmp(id, "eni-", 4) != 0 ||
        strlen(sub) < 15 || strlen(id) < 12)
        return error_set(err, EINVAL, NULL, "task ENI without valid ids");
    if (!scope[0])
        return error_set(err, EINVAL, NULL, "task networking without a scope");
    snprintf(n->bridge, sizeof(n->bridge), "skb%s%.8s", scope, sub + 7);
    snprintf(n->host_if, sizeof(n->host_if), "ske%s%.8s", scope, id + 4);
    return 0;
}

/* The rules a task has now: those of the last "network" message
 * (DIR/net-rules.json) or else those it was assigned with. New reference. */
static json_t *rules_of(const char *dir, const json_t *eni)
{
    _cleanup_free_ char *path = xasprintf("%s/net-rules.json", dir);
    json_t *r = json_load_file(path, 0, NULL);
    if (json_is_array(r))
        return r;
    json_decref(r);
    return json_incref(json_get_array(eni, "rules"));
}

static int sg_task(const json_t *eni, const struct names *n, struct net_sg_task *ret,
                   struct error **err)
{
    ret->bridge = n->bridge;
    ret->host_if = n->host_if;
    ret->public_ip = json_get_bool(eni, "assignPublicIp", false);
    if (net_addr_parse(json_get_str(eni, "ip"), &ret->addr) < 0 ||
        net_mac_parse(json_get_str(eni, "mac"), ret->mac) < 0)
        return error_set(err, EINVAL, NULL, "task ENI without valid address or MAC");
    return 0;
}

int agent_net_setup(struct task *t, const char *ns_path, struct error **err)
{
    const json_t *eni = task_eni(t);
    if (!eni)
        return 0;
    struct names n;
    struct net_eni e = {0};
    struct net_sg_task sg;
    int r;
    if ((r = names_of(eni, &n, err)) < 0 || (r = sg_task(eni, &n, &sg, err)) < 0)
        return r;
    e.bridge = n.bridge;
    e.host_if = n.host_if;
    e.addr = sg.addr;
    memcpy(e.mac, sg.mac, 6);
    e.prefix = (int)json_get_int(eni, "prefix", 0);
    if (net_addr_parse(json_get_str(eni, "gateway"), &e.gateway) < 0 || e.prefix < 16 ||
        e.prefix > 28)
        return error_set(err, EINVAL, NULL, "task ENI without valid gateway or prefix");
    _cleanup_close_ int fd = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", ns_path);
    pthread_mutex_lock(&net_lock);
    if (!sg_ready && (r = net_sg_init(scope, err)) < 0)
        goto out;
    sg_ready = true;
    /* Resumed after a restart mid-way: start the interface afresh (deleting
     * the host side removes the peer from the namespace too). */
    char path[64];
    snprintf(path, sizeof(path), "/sys/class/net/%s", n.host_if);
    if (access(path, F_OK) == 0 && (r = net_veth_delete(n.host_if, err)) < 0)
        goto out;
    /* A public IP is routed out (masqueraded): the host must forward. */
    if (sg.public_ip && (r = net_forwarding_enable(err)) < 0)
        goto out;
    /* The bridge, then the rules (which name the bridge's mark, net.h),
     * then the port, filtered from the moment it exists. */
    if ((r = net_bridge_ensure(n.bridge, e.gateway, e.prefix, err)) < 0)
        goto out;
    json_t *rules = rules_of(t->dir, eni);
    r = net_sg_apply(scope, &sg, rules, err);
    json_decref(rules);
    if (r < 0 || (r = net_eni_setup(&e, fd, err)) < 0)
        net_sg_remove(scope, &sg, NULL);
out:
    pthread_mutex_unlock(&net_lock);
    return r < 0 ? error_wrap(err, "network interface %s", json_get_str(eni, "id")) : 0;
}

static bool bridge_empty(const char *bridge)
{
    char path[64];
    snprintf(path, sizeof(path), "/sys/class/net/%s/brif", bridge);
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)))
        empty = de->d_name[0] == '.';
    closedir(d);
    return empty;
}

int agent_net_teardown(struct task *t, struct error **err)
{
    const json_t *eni = task_eni(t);
    if (!eni)
        return 0;
    struct names n;
    struct net_sg_task sg;
    int r;
    if ((r = names_of(eni, &n, err)) < 0 || (r = sg_task(eni, &n, &sg, err)) < 0)
        return r;
    pthread_mutex_lock(&net_lock);
    /* Deleting the host side now (not when the namespace is reaped) lets
     * the bridge go with its last task. */
    r = net_veth_delete(n.host_if, err);
    net_sg_remove(scope, &sg, NULL);
    /* A "network" message from now on must not bring the rules back. */
    _cleanup_free_ char *gone = xasprintf("%s/net-gone", t->dir);
    int fd = open(gone, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    if (r == 0 && bridge_empty(n.bridge))
        r = net_bridge_delete(n.bridge, err);
    pthread_mutex_unlock(&net_lock);
    return r;
}

void agent_net_report(const struct task *t, json_t *report)
{
    const json_t *eni = task_eni(t);
    const json_t *att = json_get_object(eni, "attachment");
    if (!t->a->task_network || !att)
        return;
    /* As on ECS: PRECREATED until the interface is up (provisioning done),
     * ATTACHED while the task may use it, DETACHED from deprovisioning on
     * (the interface goes with the namespace). */
    const char *status = t->status >= TS_DEPROVISIONING ? "DETACHED"
                         : t->status >= TS_PENDING      ? "ATTACHED"
                                                        : "PRECREATED";
    json_t *a = json_deep_copy(att);
    json_object_set_new(a, "status", json_string(status));
    json_object_set_new(report, "attachments", json_pack("[o]", a));
    if (t->status < TS_PENDING)
        return;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(report, "containers"), i, c)
        json_object_set_new(c, "networkInterfaces",
                            json_pack("[{s:s?, s:s?}]", "attachmentId", json_get_str(att, "id"),
                                      "privateIpv4Address", json_get_str(eni, "ip")));
}

/* Whether name is one of the n names in list (each NET_IFNAME_MAX long). */
static bool name_in(const char *name, const char (*list)[NET_IFNAME_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* Whether name is one of the scope's links of kind ("skb" or "ske"). */
static bool in_scope(const char *name, const char *kind)
{
    return strncmp(name, kind, 3) == 0 && strncmp(name + 3, scope, NET_SCOPE_LEN) == 0;
}

static char *groups_path(const struct agent *a)
{
    return xasprintf("%s/net-groups.json", a->data_dir);
}

/* groups, loaded on first use. Under net_lock. */
static json_t *groups_of(const struct agent *a)
{
    if (!groups) {
        _cleanup_free_ char *path = groups_path(a);
        groups = json_load_file(path, 0, NULL);
        if (!json_is_object(groups)) {
            json_decref(groups);
            groups = json_object();
        }
    }
    return groups;
}

int agent_net_groups(struct agent *a, const json_t *changed, struct error **err)
{
    if (!json_is_object(changed))
        return error_set(err, EINVAL, NULL, "groups message without groups");
    _cleanup_free_ char *path = groups_path(a);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    int r = 0;
    pthread_mutex_lock(&net_lock);
    json_t *all = groups_of(a);
    if (!sg_ready && (r = net_sg_init(scope, err)) == 0)
        sg_ready = true;
    if (r == 0)
        r = net_sg_groups(scope, changed, err);
    if (r == 0) {
        const char *id;
        json_t *addrs;
        json_object_foreach((json_t *)changed, id, addrs)
        {
            if (json_array_size(addrs))
                json_object_set(all, id, addrs);
            else
                json_object_del(all, id);
        }
        if (json_dump_file(all, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0)
            r = error_errno(err, errno ? errno : EIO, "write %s", path);
    }
    pthread_mutex_unlock(&net_lock);
    return r < 0 ? error_wrap(err, "security group members") : 0;
}

int agent_net_reconcile(struct agent *a, struct error **err)
{
    if (net_scope_acquire(a->data_dir, SCOPE_LOCK_DIR, scope, err) < 0 ||
        net_bridge_filter_enable(err) < 0)
        return error_wrap(err, "task networking");
    size_t n = 0, cap = 0;
    for (struct task *t = a->tasks; t; t = t->next)
        cap++;
    struct net_sg_task *sg = xcalloc(cap ? cap : 1, sizeof(*sg));
    const json_t **rules = xcalloc(cap ? cap : 1, sizeof(*rules));
    char(*bridges)[NET_IFNAME_MAX] = xcalloc(cap ? cap : 1, NET_IFNAME_MAX);
    char(*ports)[NET_IFNAME_MAX] = xcalloc(cap ? cap : 1, NET_IFNAME_MAX);
    /* Every task not yet STOPPED owns its pieces (one mid-way through its
     * start or stop finishes either when resumed); a STOPPED one has torn
     * them down, or died before it could. */
    for (struct task *t = a->tasks; t; t = t->next) {
        const json_t *eni = task_eni(t);
        struct names nm;
        if (t->status == TS_STOPPED || !eni || names_of(eni, &nm, NULL) < 0)
            continue;
        memcpy(bridges[n], nm.bridge, NET_IFNAME_MAX);
        memcpy(ports[n], nm.host_if, NET_IFNAME_MAX);
        if (sg_task(eni, &nm, &sg[n], NULL) < 0)
            continue;
        sg[n].bridge = bridges[n];
        sg[n].host_if = ports[n];
        rules[n] = rules_of(t->dir, eni);
        n++;
    }
    int r = 0;
    pthread_mutex_lock(&net_lock);
    if ((r = net_sg_reset(scope, groups_of(a), sg, rules, n, err)) == 0) {
        sg_ready = true;
        /* Then the links: veths first, so that the bridges they were
         * plugged into are empty. */
        for (int pass = 0; pass < 2 && r == 0; pass++) {
            DIR *d = opendir("/sys/class/net");
            struct dirent *de;
            while (d && r == 0 && (de = readdir(d))) {
                const char *name = de->d_name;
                if (pass == 0 && in_scope(name, "ske") && !name_in(name, ports, n))
                    r = net_veth_delete(name, err);
                else if (pass == 1 && in_scope(name, "skb") && !name_in(name, bridges, n))
                    r = net_bridge_delete(name, err);
            }
            if (d)
                closedir(d);
        }
        /* Routing rules of bridges gone while no daemon watched them. */
        if (r == 0)
            r = net_bridge_rules_sweep(err);
    }
    pthread_mutex_unlock(&net_lock);
    for (size_t i = 0; i < n; i++)
        json_decref((json_t *)rules[i]);
    free(sg);
    free(rules);
    free(bridges);
    free(ports);
    return r < 0 ? error_wrap(err, "reconciling task networking") : 0;
}

int agent_net_update(const char *dir, const json_t *eni, const json_t *rules, struct error **err)
{
    struct names n;
    struct net_sg_task sg;
    int r;
    if (!json_is_array(rules))
        return error_set(err, EINVAL, NULL, "network message without rules");
    if ((r = names_of(eni, &n, err)) < 0 || (r = sg_task(eni, &n, &sg, err)) < 0)
        return r;
    _cleanup_free_ char *gone = xasprintf("%s/net-gone", dir);
    _cleanup_free_ char *path = xasprintf("%s/net-rules.json", dir);
    _cleanup_free_ char *tmp = xasprintf("%s/net-rules.json.tmp", dir);
    pthread_mutex_lock(&net_lock);
    json_t *now = rules_of(dir, eni);
    bool same = json_equal(now, rules);
    json_decref(now);
    /* Torn down already, or unchanged: nothing to do. Otherwise one
     * transaction replaces the rules; then they are kept for a restart. */
    if (!same && access(gone, F_OK) < 0 && (r = net_sg_apply(scope, &sg, rules, err)) == 0) {
        if (json_dump_file(rules, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0)
            r = error_errno(err, errno ? errno : EIO, "write %s", path);
    }
    pthread_mutex_unlock(&net_lock);
    return r < 0 ? error_wrap(err, "network interface %s", json_get_str(eni, "id")) : 0;
}
