/* The task metadata endpoint, Fargate's version 4 (docs/metadata.md).
 *
 * Each task's network namespace gets 169.254.170.2/32 on its loopback and
 * a listening socket bound there, made by a short-lived thread that enters
 * the namespace: the socket keeps working from the agent's namespace, and
 * nothing outside the task can reach it. Every listener is served by its
 * own libmicrohttpd daemon in external-select mode; one agent thread polls
 * the daemons' epoll descriptors. Which daemon accepted a connection is the
 * task's identity; the request only picks one of that task's containers.
 *
 * Answers are built from what the agent already holds: the assign message
 * (task definition, cluster, network), the latest report (statuses, image
 * digests), each container's src/oci state.json (created and started
 * times) and its cgroup (stats). */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "oci/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <microhttpd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define META_CONN_LIMIT   16          /* per task */
#define META_CONN_TIMEOUT 10          /* seconds without progress */
#define META_CONN_MEMORY  (32 * 1024) /* per connection: request line and headers */
#define META_STAT_MAX     (64 * 1024)
#define META_NL_BUF       (64 * 1024)

/* The previous sample of a container, for precpu_stats. */
struct cpu_sample {
    int64_t read_ns; /* wall clock; 0: none yet */
    uint64_t total_ns, system_ns;
};

struct listener {
    uint64_t id; /* epoll data; never reused */
    char task_id[AGENT_TASK_ID_MAX + 1];
    struct agent_meta *m;
    struct MHD_Daemon *mhd;
    int mhd_epfd;
    struct mnl_socket *nl; /* rtnetlink inside the task's namespace (interface counters) */
    struct cpu_sample prev[AGENT_MAX_CONTAINERS];
    struct listener *next;
};

struct agent_meta {
    struct agent *a;
    pthread_mutex_t lock; /* the list and every daemon call; taken before a->lock */
    int epfd, efd;
    bool stopping;
    pthread_t thread;
    struct listener *list;
    uint64_t next_id;
};

/* ---- the listening socket, made inside the task's namespace ---- */

struct ns_args {
    const char *ns_path;
    int lfd;
    struct mnl_socket *nl;
    int errnum;
    const char *what;
};

static void *ns_fail(struct ns_args *a, const char *what, int errnum)
{
    a->errnum = errnum;
    a->what = what;
    return NULL;
}

/* 169.254.170.2/32 on lo; already there after an agent restart. */
static int add_meta_addr(struct mnl_socket *nl)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    nlh->nlmsg_seq = 1;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = 32;
    ifa->ifa_scope = RT_SCOPE_HOST;
    ifa->ifa_index = if_nametoindex("lo");
    if (!ifa->ifa_index)
        return -errno;
    struct in_addr in;
    inet_pton(AF_INET, AGENT_META_ADDR, &in);
    mnl_attr_put_u32(nlh, IFA_LOCAL, in.s_addr);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, in.s_addr);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        int r = mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), NULL, NULL);
        if (r == MNL_CB_STOP)
            return 0;
        if (r < 0)
            return errno == EEXIST ? 0 : -errno;
    }
}

static void *ns_thread(void *p)
{
    struct ns_args *a = p;
    /* Only this thread enters the namespace, and it ends right after: the
     * sockets it made stay in the namespace they were created in. */
    _cleanup_close_ int nsfd = open(a->ns_path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0)
        return ns_fail(a, "open", errno);
    if (setns(nsfd, CLONE_NEWNET) < 0)
        return ns_fail(a, "setns", errno);
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl)
        return ns_fail(a, "netlink socket", errno);
    int r = mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : add_meta_addr(nl);
    if (r < 0) {
        mnl_socket_close(nl);
        return ns_fail(a, "add " AGENT_META_ADDR " to lo", -r);
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(AGENT_META_PORT)};
    inet_pton(AF_INET, AGENT_META_ADDR, &sin.sin_addr);
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(s, META_CONN_LIMIT) < 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        mnl_socket_close(nl);
        return ns_fail(a, "listen on " AGENT_META_ADDR, e);
    }
    a->lfd = s;
    a->nl = nl;
    return NULL;
}

/* ---- answers ---- */

static void iso_time(char *buf, size_t size, int64_t sec, long nsec, bool nanos)
{
    struct tm tm;
    time_t t = (time_t)sec;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (nanos)
        snprintf(buf + n, size - n, ".%09ldZ", nsec);
    else
        snprintf(buf + n, size - n, ".%03ldZ", nsec / 1000000);
}

static void set_ms_time(json_t *o, const char *key, int64_t ms)
{
    if (ms <= 0)
        return;
    char buf[64];
    iso_time(buf, sizeof(buf), ms / 1000, (long)(ms % 1000) * 1000000, false);
    json_object_set_new(o, key, json_string(buf));
}

static const json_t *container_def(const struct task *t, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(
        json_get_array(json_get_object(t->def.msg, "taskDefinition"), "containerDefinitions"), i, c)
    {
        const char *n = json_get_str(c, "name");
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

static const json_t *report_container(const json_t *report, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_get_array(report, "containers"), i, c)
    {
        const char *n = json_get_str(c, "name");
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

static json_t *networks(const struct task *t)
{
    json_t *nw = json_object();
    json_object_set_new(nw, "NetworkMode", json_string("awsvpc"));
    json_t *v4 = json_array();
    const json_t *eni = json_get_object(json_get_object(t->def.msg, "networkConfiguration"), "eni");
    const char *ip = json_get_str(eni, "ip");
    if (ip) {
        json_array_append_new(v4, json_string(ip));
        json_object_set_new(nw, "AttachmentIndex", json_integer(0));
        json_set_str(nw, "MACAddress", json_get_str(eni, "mac"));
        const char *gw = json_get_str(eni, "gateway");
        json_int_t prefix = json_get_int(eni, "prefix", 0);
        if (gw && prefix > 0) {
            char s[64];
            snprintf(s, sizeof(s), "%s/%lld", gw, (long long)prefix);
            json_object_set_new(nw, "SubnetGatewayIpv4Address", json_string(s));
        }
    }
    json_object_set_new(nw, "IPv4Addresses", v4);
    return json_pack("[o]", nw);
}

/* Container metadata (${ECS_CONTAINER_METADATA_URI_V4}). Under a->lock. */
static json_t *container_json(const struct task *t, const struct ctr_def *d, const char *desired)
{
    const json_t *cd = container_def(t, d->name);
    const json_t *rc = report_container(t->last, d->name);
    const char *cluster = json_get_str(t->def.msg, "clusterArn");
    const json_t *td = json_get_object(t->def.msg, "taskDefinition");
    const char *family = json_get_str(td, "family");
    char rev[32];
    snprintf(rev, sizeof(rev), "%lld", (long long)json_get_int(td, "revision", 0));

    json_t *o = json_object();
    json_object_set_new(o, "DockerId", json_string(d->runtime_id));
    json_object_set_new(o, "Name", json_string(d->name));
    json_set_str(o, "ContainerARN",
                 json_get_str(json_get_object(t->def.msg, "containerArns"), d->name));
    _cleanup_free_ char *dname =
        xasprintf("ecs-%s-%s-%s-%s", family ? family : "", rev, d->name, t->def.id);
    json_object_set_new(o, "DockerName", json_string(dname));
    json_object_set_new(o, "Image", json_string(d->image));
    json_set_str(o, "ImageID", json_get_str(rc, "imageDigest"));
    json_object_set_new(o, "Labels",
                        json_pack("{s:s, s:s, s:s, s:s, s:s}", "com.amazonaws.ecs.cluster",
                                  cluster ? cluster : "", "com.amazonaws.ecs.container-name",
                                  d->name, "com.amazonaws.ecs.task-arn", t->def.arn,
                                  "com.amazonaws.ecs.task-definition-family", family ? family : "",
                                  "com.amazonaws.ecs.task-definition-version", rev));
    json_object_set_new(o, "DesiredStatus", json_string(desired));
    const char *known = json_get_str(rc, "lastStatus");
    json_object_set_new(o, "KnownStatus", json_string(known ? known : "PENDING"));
    json_t *lim = json_pack("{s:I}", "CPU", (json_int_t)d->cpu);
    if (d->memory_mib > 0)
        json_object_set_new(lim, "Memory", json_integer(d->memory_mib));
    json_object_set_new(o, "Limits", lim);
    json_t *exit_code = json_object_get(rc, "exitCode");
    if (json_is_integer(exit_code))
        json_object_set(o, "ExitCode", exit_code);

    /* Created and started times: src/oci's record of the container. */
    _cleanup_free_ char *dir = agent_ctr_dir(t, d);
    _cleanup_free_ char *path = xasprintf("%s/state.json", dir);
    _cleanup_free_ char *state = NULL;
    if (oci_file_read_at(AT_FDCWD, path, META_STAT_MAX, &state, NULL) == 0) {
        json_t *s = json_parse_trusted(state);
        set_ms_time(o, "CreatedAt", json_get_int(s, "created_ms", 0));
        set_ms_time(o, "StartedAt", json_get_int(s, "started_ms", 0));
        json_decref(s);
    }
    json_object_set_new(o, "Type", json_string("NORMAL"));
    const json_t *lc = json_get_object(cd, "logConfiguration");
    const char *driver = json_get_str(lc, "logDriver");
    if (driver) {
        json_object_set_new(o, "LogDriver", json_string(driver));
        json_t *opts = json_get_object(lc, "options");
        if (opts)
            json_object_set_new(o, "LogOptions", json_deep_copy(opts));
    }
    json_object_set_new(o, "Networks", networks(t));
    if (json_get_str(rc, "healthStatus") && d->health.enabled)
        json_object_set_new(o, "Health",
                            json_pack("{s:s}", "status", json_get_str(rc, "healthStatus")));
    json_object_set_new(o, "Snapshotter", json_string("overlayfs"));
    return o;
}

/* Under a->lock: the task thread owns t->status, the report is shared. */
static bool stopping(const struct task *t)
{
    static const char *const late[] = {"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"};
    const char *s = json_get_str(t->last, "lastStatus");
    for (size_t i = 0; s && i < ARRAY_SIZE(late); i++)
        if (strcmp(s, late[i]) == 0)
            return true;
    return false;
}

static const char *desired_status(const struct task *t)
{
    return t->stop_requested || stopping(t) ? "STOPPED" : "RUNNING";
}

/* Task metadata (${ECS_CONTAINER_METADATA_URI_V4}/task). Under a->lock. */
static json_t *task_json(const struct task *t)
{
    const char *desired = desired_status(t);
    const json_t *td = json_get_object(t->def.msg, "taskDefinition");
    char rev[32];
    snprintf(rev, sizeof(rev), "%lld", (long long)json_get_int(td, "revision", 0));
    json_t *o = json_object();
    json_set_str(o, "Cluster", json_get_str(t->def.msg, "clusterArn"));
    json_object_set_new(o, "TaskARN", json_string(t->def.arn));
    json_set_str(o, "Family", json_get_str(td, "family"));
    json_object_set_new(o, "Revision", json_string(rev));
    json_object_set_new(o, "DesiredStatus", json_string(desired));
    const char *known = json_get_str(t->last, "lastStatus");
    json_object_set_new(o, "KnownStatus", json_string(known ? known : "PROVISIONING"));
    json_object_set_new(o, "Limits",
                        json_pack("{s:f, s:I}", "CPU", (double)t->def.cpu / 1024.0, "Memory",
                                  (json_int_t)t->def.memory_mib));
    set_ms_time(o, "PullStartedAt", json_get_int(t->last, "pullStartedAt", 0));
    set_ms_time(o, "PullStoppedAt", json_get_int(t->last, "pullStoppedAt", 0));
    set_ms_time(o, "ExecutionStoppedAt", json_get_int(t->last, "executionStoppedAt", 0));
    _cleanup_free_ char *az = xasprintf("%sa", t->def.region ? t->def.region : "us-east-1");
    json_object_set_new(o, "AvailabilityZone", json_string(az));
    json_t *cs = json_array();
    for (size_t i = 0; i < t->def.n_ctrs; i++)
        json_array_append_new(cs, container_json(t, &t->def.ctrs[i], desired));
    json_object_set_new(o, "Containers", cs);
    json_object_set_new(o, "LaunchType", json_string("FARGATE"));
    json_object_set_new(o, "EphemeralStorageMetrics",
                        json_pack("{s:I}", "Reserved", (json_int_t)t->def.ephemeral_gib * 1024));
    return o;
}

/* ---- stats (Docker's stats API shape) ---- */

/* Host CPU time in nanoseconds: the first line of /proc/stat, as Docker's
 * system_cpu_usage. */
static uint64_t system_cpu_ns(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
    char line[512];
    if (!f || !fgets(line, sizeof(line), f) || strncmp(line, "cpu ", 4) != 0)
        return 0;
    uint64_t sum = 0;
    char *p = line + 4, *end;
    for (;;) {
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        sum += v;
        p = end;
    }
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? sum * (1000000000ULL / (uint64_t)hz) : 0;
}

/* Every "key value" line of the container's memory.stat. */
static json_t *memory_stat(struct oci_cgroups *cg, const char *task, const char *slug)
{
    _cleanup_free_ char *rel = oci_cgroup_path(cg, task, slug);
    _cleanup_free_ char *path =
        xasprintf("/sys/fs/cgroup%s%s/memory.stat",
                  oci_cgroups_mode(cg) == OCI_CGROUP_V2 ? "" : "/memory", rel);
    _cleanup_free_ char *text = NULL;
    json_t *o = json_object();
    if (oci_file_read_at(AT_FDCWD, path, META_STAT_MAX, &text, NULL) < 0)
        return o;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        char *end;
        unsigned long long v = strtoull(sp + 1, &end, 10);
        if (end != sp + 1 && *line)
            json_object_set_new(o, line, json_integer((json_int_t)v));
    }
    return o;
}

static json_t *cpu_json(uint64_t total_ns, uint64_t system_ns, long ncpu)
{
    return json_pack("{s:{s:I}, s:I, s:i}", "cpu_usage", "total_usage", (json_int_t)total_ns,
                     "system_cpu_usage", (json_int_t)system_ns, "online_cpus", (int)ncpu);
}

struct nl_dump {
    json_t *out;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
    struct nl_dump *d = data;
    const char *name = NULL;
    const struct rtnl_link_stats64 *st = NULL;
    struct nlattr *attr;
    mnl_attr_for_each(attr, nlh, sizeof(struct ifinfomsg))
    {
        if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
            name = mnl_attr_get_str(attr);
        else if (mnl_attr_get_type(attr) == IFLA_STATS64 &&
                 mnl_attr_get_payload_len(attr) >= sizeof(*st))
            st = mnl_attr_get_payload(attr);
    }
    if (!name || !st || strcmp(name, "lo") == 0)
        return MNL_CB_OK;
    json_object_set_new(
        d->out, name,
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_bytes", (json_int_t)st->rx_bytes,
                  "rx_packets", (json_int_t)st->rx_packets, "rx_errors", (json_int_t)st->rx_errors,
                  "rx_dropped", (json_int_t)st->rx_dropped, "tx_bytes", (json_int_t)st->tx_bytes,
                  "tx_packets", (json_int_t)st->tx_packets, "tx_errors", (json_int_t)st->tx_errors,
                  "tx_dropped", (json_int_t)st->tx_dropped));
    return MNL_CB_OK;
}

/* Counters of the task's interfaces but loopback (the ENI), read through
 * the listener's netlink socket in the task's namespace; NULL when there
 * is none. */
static json_t *task_networks(struct listener *l)
{
    if (!l->nl)
        return NULL;
    _cleanup_free_ char *buf = xmalloc(META_NL_BUF);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    unsigned seq = (unsigned)time_mono_ns();
    nlh->nlmsg_seq = seq;
    struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
    g->rtgen_family = AF_PACKET;
    if (mnl_socket_sendto(l->nl, nlh, nlh->nlmsg_len) < 0)
        return NULL;
    struct nl_dump d = {json_object()};
    unsigned portid = mnl_socket_get_portid(l->nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(l->nl, buf, META_NL_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        int r = n < 0 ? MNL_CB_ERROR : mnl_cb_run(buf, (size_t)n, seq, portid, link_cb, &d);
        if (r == MNL_CB_STOP)
            break;
        if (r < 0) {
            json_decref(d.out);
            return NULL;
        }
    }
    if (json_object_size(d.out) == 0) {
        json_decref(d.out);
        return NULL;
    }
    return d.out;
}

/* What the stats of one container need, copied under a->lock. */
struct stats_req {
    size_t idx;
    char *runtime_id, *slug, *dname;
    int64_t limit_bytes, pids_max;
};

/* One container's stats; JSON null when its cgroup is not there (not
 * created yet, or gone). Under m->lock (prev samples). */
static json_t *container_stats(struct listener *l, const struct stats_req *q, json_t *nets)
{
    struct agent *a = l->m->a;
    struct oci_cgroup_usage u;
    if (oci_cgroup_usage_read(a->cg, l->task_id, q->slug, &u, NULL) < 0)
        return json_null();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t sys = system_cpu_ns();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct cpu_sample *prev = &l->prev[q->idx];
    char read[64], preread[64];
    iso_time(read, sizeof(read), ts.tv_sec, ts.tv_nsec, true);
    if (prev->read_ns)
        iso_time(preread, sizeof(preread), prev->read_ns / 1000000000, prev->read_ns % 1000000000,
                 true);
    else
        snprintf(preread, sizeof(preread), "0001-01-01T00:00:00Z");

    json_t *o = json_object();
    json_object_set_new(o, "read", json_string(read));
    json_object_set_new(o, "preread", json_string(preread));
    json_object_set_new(o, "name", json_string(q->dname));
    json_object_set_new(o, "id", json_string(q->runtime_id));
    json_object_set_new(o, "num_procs", json_integer(0));
    json_t *pids = json_pack("{s:I}", "current", (json_int_t)u.pids_current);
    if (q->pids_max > 0)
        json_object_set_new(pids, "limit", json_integer(q->pids_max));
    json_object_set_new(o, "pids_stats", pids);
    json_object_set_new(o, "cpu_stats", cpu_json(u.cpu_ns, sys, ncpu));
    json_object_set_new(o, "precpu_stats",
                        prev->read_ns ? cpu_json(prev->total_ns, prev->system_ns, ncpu)
                                      : json_pack("{s:{s:i}, s:i}", "cpu_usage", "total_usage", 0,
                                                  "online_cpus", 0));
    json_t *mem = json_pack("{s:I, s:I}", "usage", (json_int_t)u.memory_current, "limit",
                            (json_int_t)q->limit_bytes);
    if (u.memory_peak)
        json_object_set_new(mem, "max_usage", json_integer((json_int_t)u.memory_peak));
    json_object_set_new(mem, "stats", memory_stat(a->cg, l->task_id, q->slug));
    json_object_set_new(o, "memory_stats", mem);
    if (nets)
        json_object_set(o, "networks", nets);
    prev->read_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    prev->total_ns = u.cpu_ns;
    prev->system_ns = sys;
    return o;
}

/* ---- requests ---- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result not_found(struct MHD_Connection *conn, const char *what)
{
    return answer(conn, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "message", what));
}

enum meta_path { P_CONTAINER, P_TASK, P_STATS, P_TASK_STATS };

/* "/v4/<id>[/task][/stats]" with an optional trailing slash. */
static bool parse_url(const char *url, char *id, size_t size, enum meta_path *ret)
{
    if (strncmp(url, "/v4/", 4) != 0)
        return false;
    const char *p = url + 4;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= size)
        return false;
    memcpy(id, p, n);
    id[n] = '\0';
    p += n;
    static const struct {
        const char *suffix;
        enum meta_path path;
    } paths[] = {
        {"", P_CONTAINER},
        {"/", P_CONTAINER},
        {"/task", P_TASK},
        {"/task/", P_TASK},
        {"/stats", P_STATS},
        {"/stats/", P_STATS},
        {"/task/stats", P_TASK_STATS},
        {"/task/stats/", P_TASK_STATS},
    };
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
        if (strcmp(p, paths[i].suffix) == 0) {
            *ret = paths[i].path;
            return true;
        }
    return false;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    struct listener *l = cls;
    struct agent *a = l->m->a;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        *upload_size = 0;
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                      json_pack("{s:s}", "message", "only GET is served"));
    }
    char id[AGENT_TASK_ID_MAX + 16];
    enum meta_path path;
    if (!parse_url(url, id, sizeof(id), &path))
        return not_found(conn, "no such path: the endpoint serves /v4/<id>, /v4/<id>/task, "
                               "/v4/<id>/stats and /v4/<id>/task/stats");

    /* The task is the listener's; the id only names one of its containers. */
    json_t *body = NULL;
    struct stats_req reqs[AGENT_MAX_CONTAINERS];
    size_t n_reqs = 0;
    size_t self = SIZE_MAX;
    pthread_mutex_lock(&a->lock);
    struct task *t = a->tasks;
    while (t && strcmp(t->def.id, l->task_id) != 0)
        t = t->next;
    for (size_t i = 0; t && i < t->def.n_ctrs && self == SIZE_MAX; i++)
        if (strcmp(t->def.ctrs[i].runtime_id, id) == 0)
            self = i;
    if (t && self != SIZE_MAX) {
        if (path == P_CONTAINER) {
            body = container_json(t, &t->def.ctrs[self], desired_status(t));
        } else if (path == P_TASK) {
            body = task_json(t);
        } else {
            const json_t *td = json_get_object(t->def.msg, "taskDefinition");
            for (size_t i = 0; i < t->def.n_ctrs; i++) {
                if (path == P_STATS && i != self)
                    continue;
                const struct ctr_def *d = &t->def.ctrs[i];
                struct stats_req *q = &reqs[n_reqs++];
                q->idx = i;
                q->runtime_id = xstrdup(d->runtime_id);
                q->slug = xstrdup(d->slug);
                q->dname =
                    xasprintf("/ecs-%s-%lld-%s-%s", json_get_str(td, "family"),
                              (long long)json_get_int(td, "revision", 0), d->name, t->def.id);
                q->limit_bytes = (d->memory_mib > 0 ? d->memory_mib : t->def.memory_mib) << 20;
                q->pids_max = a->pids_max;
            }
        }
    }
    pthread_mutex_unlock(&a->lock);
    if (self == SIZE_MAX)
        return not_found(conn, "no container of this task has that id");
    if (!body) {
        json_t *nets = task_networks(l);
        if (path == P_STATS) {
            body = container_stats(l, &reqs[0], nets);
        } else {
            body = json_object();
            for (size_t i = 0; i < n_reqs; i++)
                json_object_set_new(body, reqs[i].runtime_id, container_stats(l, &reqs[i], nets));
        }
        json_decref(nets);
        for (size_t i = 0; i < n_reqs; i++) {
            free(reqs[i].runtime_id);
            free(reqs[i].slug);
            free(reqs[i].dname);
        }
    }
    return answer(conn, MHD_HTTP_OK, body);
}

/* ---- listeners and the serving thread ---- */

static void listener_free(struct listener *l)
{
    if (!l)
        return;
    if (l->mhd) {
        epoll_ctl(l->m->epfd, EPOLL_CTL_DEL, l->mhd_epfd, NULL);
        MHD_stop_daemon(l->mhd); /* closes the listening socket too */
    }
    if (l->nl)
        mnl_socket_close(l->nl);
    free(l);
}

static struct listener *find_listener(struct agent_meta *m, const char *task_id)
{
    for (struct listener *l = m->list; l; l = l->next)
        if (strcmp(l->task_id, task_id) == 0)
            return l;
    return NULL;
}

static void *serve(void *arg)
{
    struct agent_meta *m = arg;
    struct epoll_event evs[16];
    for (;;) {
        /* The earliest connection timeout of any daemon. */
        int timeout = -1;
        pthread_mutex_lock(&m->lock);
        for (struct listener *l = m->list; l; l = l->next) {
            MHD_UNSIGNED_LONG_LONG ms;
            if (MHD_get_timeout(l->mhd, &ms) == MHD_YES && (timeout < 0 || ms < (unsigned)timeout))
                timeout = ms > 60000 ? 60000 : (int)ms;
        }
        pthread_mutex_unlock(&m->lock);
        int n = epoll_wait(m->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
        if (n < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&m->lock);
        if (m->stopping) {
            pthread_mutex_unlock(&m->lock);
            break;
        }
        if (n == 0) {
            for (struct listener *l = m->list; l; l = l->next)
                MHD_run(l->mhd);
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == 0) {
                uint64_t v;
                if (read(m->efd, &v, sizeof(v)) < 0) {
                    /* Nothing to drain. */
                }
                continue;
            }
            /* The listener may have been closed since epoll_wait returned. */
            for (struct listener *l = m->list; l; l = l->next)
                if (l->id == evs[i].data.u64) {
                    MHD_run(l->mhd);
                    break;
                }
        }
        pthread_mutex_unlock(&m->lock);
    }
    return NULL;
}

static void wake(struct agent_meta *m)
{
    uint64_t one = 1;
    if (write(m->efd, &one, sizeof(one)) < 0) {
        /* The counter cannot overflow: the thread drains it. */
    }
}

int agent_meta_start(struct agent *a, struct error **err)
{
    struct agent_meta *m = xzalloc(sizeof(*m));
    m->a = a;
    m->next_id = 1;
    pthread_mutex_init(&m->lock, NULL);
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int r = 0;
    if (m->epfd < 0 || m->efd < 0) {
        r = error_errno(err, errno, "metadata endpoint: epoll");
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->efd, &ev) < 0) {
        r = error_errno(err, errno, "metadata endpoint: epoll");
        goto fail;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, AGENT_STACK_SIZE);
    r = pthread_create(&m->thread, &attr, serve, m);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        r = error_errno(err, r, "metadata endpoint: thread");
        goto fail;
    }
    a->meta = m;
    return 0;
fail:
    if (m->epfd >= 0)
        close(m->epfd);
    if (m->efd >= 0)
        close(m->efd);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return r;
}

void agent_meta_stop(struct agent *a)
{
    struct agent_meta *m = a->meta;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    wake(m);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    while (m->list) {
        struct listener *l = m->list;
        m->list = l->next;
        listener_free(l);
    }
    close(m->epfd);
    close(m->efd);
    pthread_mutex_destroy(&m->lock);
    free(m);
    a->meta = NULL;
}

int agent_meta_open(struct task *t, const char *ns_path, struct error **err)
{
    struct agent_meta *m = t->a->meta;
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    bool open = find_listener(m, t->def.id) != NULL;
    pthread_mutex_unlock(&m->lock);
    if (open)
        return 0;

    struct ns_args na = {.ns_path = ns_path, .lfd = -1};
    pthread_t th;
    int r = pthread_create(&th, NULL, ns_thread, &na);
    if (r != 0)
        return error_errno(err, r, "metadata endpoint: thread");
    pthread_join(th, NULL);
    if (na.errnum)
        return error_errno(err, na.errnum, "metadata endpoint: %s", na.what);

    struct listener *l = xzalloc(sizeof(*l));
    snprintf(l->task_id, sizeof(l->task_id), "%s", t->def.id);
    l->m = m;
    l->nl = na.nl;
    l->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, handle, l, MHD_OPTION_LISTEN_SOCKET,
                              na.lfd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)META_CONN_LIMIT,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)META_CONN_TIMEOUT,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)META_CONN_MEMORY,
                              MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        if (!l->mhd)
            close(na.lfd);
        listener_free(l);
        return error_set(err, EIO, NULL, "metadata endpoint: cannot start the HTTP daemon");
    }
    l->mhd_epfd = info->epoll_fd;
    pthread_mutex_lock(&m->lock);
    if (find_listener(m, t->def.id)) {
        /* Opened twice at the same moment (cannot happen: one thread per
         * task); keep the first. */
        pthread_mutex_unlock(&m->lock);
        MHD_stop_daemon(TAKE_PTR(l->mhd));
        listener_free(l);
        return 0;
    }
    l->id = m->next_id++;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = l->id};
    if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, l->mhd_epfd, &ev) < 0) {
        r = -errno;
        pthread_mutex_unlock(&m->lock);
        MHD_stop_daemon(TAKE_PTR(l->mhd));
        listener_free(l);
        return error_errno(err, -r, "metadata endpoint: epoll");
    }
    l->next = m->list;
    m->list = l;
    wake(m); /* its timeouts count from now on */
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void agent_meta_close(struct agent *a, const char *task_id)
{
    struct agent_meta *m = a->meta;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    struct listener *l = NULL;
    for (struct listener **pp = &m->list; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->task_id, task_id) == 0) {
            l = *pp;
            *pp = l->next;
            break;
        }
    /* Under the lock: the serving thread must not be inside this daemon. */
    listener_free(l);
    pthread_mutex_unlock(&m->lock);
}

void agent_meta_reopen(struct agent *a)
{
    for (struct task *t = a->tasks; t; t = t->next) {
        if (t->status == TS_PROVISIONING || t->status >= TS_DEPROVISIONING)
            continue;
        _cleanup_free_ char *ns = agent_netns_path(a, t->def.id);
        _cleanup_error_ struct error *e = NULL;
        if (access(ns, F_OK) == 0 && agent_meta_open(t, ns, &e) < 0)
            log_warn("task %s: %s", t->def.id, e->msg);
    }
}
