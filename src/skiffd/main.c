/* skiffd: the control plane daemon (and, on one machine, the host agent).
 * A thin shell: parse flags, open the store, start the API, wait for
 * signals. */
#include "api/api.h"
#include "api/accounts.h"
#include "api/http.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "ec2/ec2.h"
#include "elb/dataplane.h"
#include "elb/elb.h"
#include "ecs/ecs.h"
#include "ecs/service.h"
#include "image/image_api.h"
#include "metering/metering.h"
#include "metering/metering_api.h"
#include "logs/logs.h"
#include "logs/ship.h"
#include "agent/agent.h"
#include "agent/stats.h"
#include "sched/sched.h"
#include "secrets/secrets.h"
#include "store/db.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

struct options {
    const char *data_dir;
    char *host;
    int port;
    const char *region;
    unsigned threads;
    struct throttle_config throttle;
    enum log_level log_level;
    const char *run_dir;
    const char *runtime;
    const char *cgroup_parent;
    long placement_timeout_s;
    const char *billing_config;
    long stats_interval_ms;
    long long node_cpu, node_memory_mib;
    bool task_network;
    bool keep_cgroup_options;
    const char *lb_address;
};

static void usage(FILE *f)
{
    fputs("usage: skiffd [--data-dir DIR] [--listen HOST:PORT] [--region REGION]\n"
          "              [--threads N] [--throttle-read RATE:BURST|off]\n"
          "              [--throttle-write RATE:BURST|off] [--log-level error|warn|info|debug]\n"
          "              [--run-dir DIR] [--runtime crun|runc] [--cgroup-parent PATH]\n"
          "              [--billing-config FILE] [--stats-interval SECONDS]\n"
          "              [--placement-timeout SECONDS] [--node-capacity CPU:MEMORY_MIB]\n"
          "              [--task-network] [--lb-address ADDRESS] [--keep-cgroup-options]\n"
          "\n"
          "Defaults: --data-dir ./.skiff --listen 127.0.0.1:8080 --region us-east-1;\n"
          "a port of 0 picks a free one (printed at start). --run-dir (default /run/skiff)\n"
          "holds runtime state and network namespaces and must be a short path (an\n"
          "empty one not on a tmpfs gets a tmpfs mounted, which stays);\n"
          "--cgroup-parent (default /skiff) is the cgroup under which every task lives:\n"
          "skiffd owns everything below it, so two daemons on one host need two parents.\n"
          "--node-capacity advertises this host as CPU units and MiB instead of its size\n"
          "(cores x 1024, memory minus a reserve): for tests and benchmarks only.\n"
          "--task-network gives each task its ENI on the host (subnet bridge, veth,\n"
          "security groups; docs/network.md); without it tasks have loopback only.\n"
          "--lb-address (default 127.0.0.1) is where load balancer listeners bind\n"
          "(skiff-lb, docs/elb.md).\n"
          "By default skiffd sets favordynmods on the host's cgroup2 file system (a\n"
          "container start then waits for no RCU grace period, at some cost to forks\n"
          "host-wide; docs/runtime.md); --keep-cgroup-options leaves it as it is.\n",
          f);
}

static int parse_listen(const char *s, struct options *o)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -EINVAL;
    free(o->host);
    o->host = xstrndup(s, (size_t)(colon - s));
    o->port = (int)port;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"region", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"throttle-read", required_argument, NULL, 'R'},
        {"throttle-write", required_argument, NULL, 'W'},
        {"log-level", required_argument, NULL, 'v'},
        {"run-dir", required_argument, NULL, 'D'},
        {"runtime", required_argument, NULL, 'T'},
        {"cgroup-parent", required_argument, NULL, 'C'},
        {"placement-timeout", required_argument, NULL, 'P'},
        {"billing-config", required_argument, NULL, 'B'},
        {"stats-interval", required_argument, NULL, 'S'},
        {"node-capacity", required_argument, NULL, 'N'},
        {"task-network", no_argument, NULL, 'n'},
        {"lb-address", required_argument, NULL, 'L'},
        {"keep-cgroup-options", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "d:l:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->data_dir = optarg;
            break;
        case 'l':
            if (parse_listen(optarg, o) < 0) {
                fprintf(stderr, "skiffd: --listen wants HOST:PORT, got '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case 'r':
            o->region = optarg;
            break;
        case 'L':
            o->lb_address = optarg;
            break;
        case 'K':
            o->keep_cgroup_options = true;
            break;
        case 'D':
            o->run_dir = optarg;
            break;
        case 'T':
            if (strcmp(optarg, "crun") != 0 && strcmp(optarg, "runc") != 0) {
                fprintf(stderr, "skiffd: --runtime is crun or runc, not '%s'\n", optarg);
                return -EINVAL;
            }
            o->runtime = optarg;
            break;
        case 'C':
            if (optarg[0] != '/' || strstr(optarg, "..")) {
                fprintf(stderr, "skiffd: --cgroup-parent must be an absolute cgroup path\n");
                return -EINVAL;
            }
            o->cgroup_parent = optarg;
            break;
        case 'P': {
            char *end;
            o->placement_timeout_s = strtol(optarg, &end, 10);
            if (*end || o->placement_timeout_s < 1) {
                fprintf(stderr, "skiffd: --placement-timeout wants seconds\n");
                return -EINVAL;
            }
            break;
        }
        case 'N':
            if (sscanf(optarg, "%lld:%lld", &o->node_cpu, &o->node_memory_mib) != 2 ||
                o->node_cpu < 1 || o->node_memory_mib < 1) {
                fprintf(stderr, "skiffd: --node-capacity wants CPU:MEMORY_MIB\n");
                return -EINVAL;
            }
            break;
        case 'B':
            o->billing_config = optarg;
            break;
        case 'n':
            o->task_network = true;
            break;
        case 'S': {
            /* Seconds between cgroup samples of each running task (metering). */
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v >= 0.1 && v <= 3600)) {
                fprintf(stderr, "skiffd: --stats-interval wants 0.1..3600 seconds\n");
                return -EINVAL;
            }
            o->stats_interval_ms = (long)(v * 1000);
            break;
        }
        case 't':
            o->threads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'R':
        case 'W':
            if (throttle_parse_rate(optarg, c == 'R' ? &o->throttle.read : &o->throttle.write) <
                0) {
                fprintf(stderr, "skiffd: throttle rate wants RATE:BURST or off, got '%s'\n",
                        optarg);
                return -EINVAL;
            }
            break;
        case 'v': {
            static const char *levels[] = {"error", "warn", "info", "debug"};
            size_t i;
            for (i = 0; i < 4 && strcmp(optarg, levels[i]); i++)
                ;
            if (i == 4) {
                fprintf(stderr, "skiffd: unknown log level '%s'\n", optarg);
                return -EINVAL;
            }
            o->log_level = (enum log_level)i;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

/* Where the local agent keeps a container's log, for the awslogs shipper. */
static int log_path(void *node, const char *task_arn, const char *container, char **ret,
                    struct error **err)
{
    return agent_task_log_path(node, task_arn, container, ret, err);
}

static void flush_logs(void *ship, const char *task_id, int64_t timeout_ms)
{
    logs_ship_flush(ship, task_id, timeout_ms);
}

/* The awslogs shipper cannot log for a task (its group is missing): the
 * task fails as on ECS. */
static void log_fail(void *arg, const char *task_arn, const char *reason)
{
    struct node *node = arg;
    _cleanup_error_ struct error *err = NULL;
    json_t *msg = json_pack("{s:s, s:s, s:s}", "taskArn", task_arn, "stopCode", "TaskFailedToStart",
                            "reason", reason);
    if (node->ops->stop(node, msg, &err) < 0)
        log_warn("stop %s: %s", task_arn, err->msg);
    json_decref(msg);
}

/* The scheduler purged a stopped task's record: the agent forgets it and
 * removes its directory (logs included). */
static void purge_task(void *arg, const char *task_arn)
{
    _cleanup_error_ struct error *err = NULL;
    if (agent_task_purge(arg, task_arn, &err) < 0)
        log_warn("purge %s: %s", task_arn, err->msg);
}

/* RUN_DIR holds what must not outlive the host: the runtime's container
 * state, conmon's sockets, the network namespaces' bindings. Where /run is
 * not a tmpfs (a disk, as on some VMs), skiffd mounts one on RUN_DIR:
 * state left from before a reboot would name containers that no longer
 * exist, and every start and stop created and deleted those files on the
 * disk (inode allocation on ext4 without a journal walks the recently
 * deleted inodes: about 1.5 ms of each start there). Only an empty
 * directory gets one: a non-empty one may hold the state of containers
 * still running, which the mount would hide. The tmpfs stays mounted when
 * skiffd stops (its containers run on); a failure keeps the directory. */
static void run_dir_tmpfs(const char *dir)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return; /* the agent says why */
    struct statfs sf;
    if (statfs(dir, &sf) < 0 || sf.f_type == TMPFS_MAGIC)
        return;
    DIR *d = opendir(dir);
    bool empty = d != NULL;
    struct dirent *de;
    while (d && empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    if (!empty) {
        log_info("run dir %s is on a disk and not empty: kept as it is", dir);
        return;
    }
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        log_warn("run dir %s: cannot mount a tmpfs: %s", dir, strerror(errno));
}

int main(int argc, char **argv)
{
    struct options o = {
        .data_dir = "./.skiff",
        .host = xstrdup("127.0.0.1"),
        .port = 8080,
        .region = "us-east-1",
        .throttle = THROTTLE_DEFAULT_CONFIG,
        .log_level = LOG_INFO,
        .run_dir = "/run/skiff",
        .runtime = "crun",
        .cgroup_parent = "/skiff",
        .placement_timeout_s = 300,
    };
    if (parse_options(argc, argv, &o) < 0)
        return 2;
    log_set_level(o.log_level);

    /* Signals are taken synchronously by this thread; every thread started
     * from here on inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    _cleanup_error_ struct error *err = NULL;
    if (mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
        log_err("cannot create data dir %s: %s", o.data_dir, strerror(errno));
        return 1;
    }
    run_dir_tmpfs(o.run_dir);
    _cleanup_free_ char *creds = xasprintf("%s/credentials", o.data_dir);
    _cleanup_free_ char *dbpath = xasprintf("%s/state.db", o.data_dir);
    _cleanup_free_ char *billing_conf = xasprintf("%s/billing.conf", o.data_dir);
    struct store *store = NULL;
    struct api_server *api = NULL;
    struct http_server *http = NULL;
    struct sched *sched = NULL;
    struct node *node = NULL;
    struct agent_stats *stats = NULL;
    struct metering metering;
    bool metering_ready = false;
    struct logs_store *logs = NULL;
    struct logs_ship *ship = NULL;
    struct elb_dataplane *lb = NULL;
    _cleanup_free_ char *logs_path = xasprintf("%s/logs.db", o.data_dir);
    int rc = 1;
    if (accounts_init_file(creds, &err) < 0 || store_open(dbpath, &store, &err) < 0)
        goto out;
    if (logs_store_open(logs_path, 0, &logs, &err) < 0)
        goto out;
    logs_api_init(logs);
    struct api_config cfg = {
        .region = o.region,
        .credentials_path = creds,
        .throttle = o.throttle,
    };
    img_init(o.data_dir);
    if (secrets_init(o.data_dir, &err) < 0)
        goto out;
    /* Prices and the EC2 instance table: --billing-config, else
     * DATA-DIR/billing.conf when it exists, else the defaults. */
    if (metering_init(&metering, o.billing_config ? o.billing_config : billing_conf,
                      o.billing_config != NULL, &err) < 0)
        goto out;
    metering_ready = true;
    metering_api_init(&metering);
    struct sched_config sc = SCHED_DEFAULT_CONFIG;
    sc.placement_timeout_ms = o.placement_timeout_s * 1000;
    if (sched_new(&sc, store, &sched, &err) < 0)
        goto out;
    /* The local agent: the node this control plane places tasks on. It
     * reattaches to the tasks that kept running while skiffd was down. */
    struct agent_config ac = {
        .data_dir = o.data_dir,
        .run_dir = o.run_dir,
        .runtime = o.runtime,
        .cgroup_parent = o.cgroup_parent,
        .capacity_cpu = o.node_cpu,
        .capacity_memory_mib = o.node_memory_mib,
        .task_network = o.task_network,
        .keep_cgroup_options = o.keep_cgroup_options,
    };
    if (agent_new(&ac, store, sched_report, sched, &node, &err) < 0)
        goto out;
    sched_set_node(sched, node);
    sched_set_purge_hook(sched, purge_task, node);
    sched_set_usage_hooks(sched,
                          &(struct sched_usage_hooks){.stopped = metering_task_stopped,
                                                      .stats = metering_stats_apply},
                          &metering);
    if (agent_stats_start(node, o.stats_interval_ms, &stats, &err) < 0)
        goto out;
    /* The awslogs driver: the agent side ships container logs to the log
     * store through the node protocol's logs message. */
    struct logs_ship_config lc = {.data_dir = o.data_dir,
                                  .send = logs_ingest,
                                  .cp = logs,
                                  .path = log_path,
                                  .path_arg = node,
                                  .fail = log_fail,
                                  .fail_arg = node};
    if (logs_ship_start(&lc, &ship, &err) < 0)
        goto out;
    agent_set_logs_flush(node, flush_logs, ship);
    if (sched_start(sched, &err) < 0)
        goto out;
    struct elb_dataplane_config lbc = {.data_dir = o.data_dir,
                                       .run_dir = o.run_dir,
                                       .address = o.lb_address,
                                       .task_network = o.task_network};
    ecs_svc_set_task_network(o.task_network);
    if (elb_dataplane_start(&lbc, store, &lb, &err) < 0)
        goto out;
    if (api_server_new(&cfg, store, sched, &api, &err) < 0)
        goto out;
    api_server_register(api, &ecs_api);
    api_server_register(api, &image_api);
    api_server_register(api, &secrets_api);
    api_server_register(api, &ec2_api);
    api_server_register(api, &elb_api);
    api_server_register(api, &metering_api);
    api_server_register(api, &logs_api);
    struct http_config hc = {.host = o.host, .port = o.port, .threads = o.threads};
    if (http_server_start(&hc, api, &http, &err) < 0)
        goto out;
    log_info("skiffd listening on http://%s:%d (region %s, data dir %s)", o.host,
             http_server_port(http), o.region, o.data_dir);
    printf("skiffd: listening on http://%s:%d\n", o.host, http_server_port(http));
    fflush(stdout);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            _cleanup_error_ struct error *e = NULL;
            if (api_server_reload_accounts(api, &e) < 0)
                log_err("reload credentials: %s (keeping the old ones)", e->msg);
            else
                log_info("credentials reloaded");
            continue;
        }
        log_info("signal %d: shutting down", sig);
        break;
    }
    rc = 0;
out:
    if (err)
        log_err("%s", err->msg);
    http_server_stop(http);
    /* No new placements, then no more reports, then the scheduler. */
    sched_stop(sched);
    elb_dataplane_stop(lb);
    if (node)
        agent_set_logs_flush(node, NULL, NULL);
    logs_ship_free(ship);
    agent_stats_free(stats);
    if (node)
        node->ops->free(node);
    sched_free(sched);
    api_server_free(api);
    if (metering_ready)
        metering_done(&metering);
    logs_store_free(logs);
    store_free(store);
    free(o.host);
    return rc;
}
