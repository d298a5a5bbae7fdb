/* net-tool: drives src/net for tests and bench/net (not installed).
 *
 *   net-tool bridge NAME GATEWAY/PREFIX     create (or keep) a subnet bridge
 *   net-tool bridge-del NAME
 *   net-tool up NETNS-PATH BRIDGE HOST-IF ADDR/PREFIX GATEWAY MAC
 *   net-tool del HOST-IF
 *   net-tool sg-init SCOPE
 *   net-tool sg SCOPE BRIDGE HOST-IF ADDR MAC RULES-JSON   set a task's rules
 *   net-tool sg-del SCOPE BRIDGE HOST-IF ADDR MAC
 *   net-tool sg-groups SCOPE GROUPS-JSON     replace groups' member sets
 *   net-tool sg-reset SCOPE                  the scope's tables, with no task
 *   net-tool sg-drop SCOPE                   delete the scope's tables
 *   net-tool bench N BRIDGE                 N namespaces: setup + teardown times
 *                                           with src/net, then with ip -batch
 */
#include "net/net.h"
#include "net/sg.h"
#include "base/cleanup.h"
#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fail(struct error *e)
{
    fprintf(stderr, "net-tool: %s\n", e ? e->msg : "failed");
    error_free(e);
    return 1;
}

static int parse_cidr(const char *s, uint32_t *addr, int *prefix)
{
    char a[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(a))
        return -EINVAL;
    memcpy(a, s, (size_t)(slash - s));
    a[slash - s] = '\0';
    *prefix = atoi(slash + 1);
    return net_addr_parse(a, addr);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A new network namespace held by a paused child; *ret_pid is the child. */
static int netns_new(pid_t *ret_pid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
        if (write(p[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    char c = 'n';
    if (read(p[0], &c, 1) != 1 || c != 'y') {
        close(p[0]);
        return -1;
    }
    close(p[0]);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *ret_pid = pid;
    return fd;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Waits until the kernel has removed a host-side interface. */
static void wait_gone(const char *ifname)
{
    while (if_nametoindex(ifname))
        usleep(200);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), which it sorts. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench(int n, const char *bridge)
{
    struct error *e = NULL;
    uint32_t gw = (10u << 24) | (99u << 16) | 1; /* 10.99.0.1/16 */
    if (n < 1 || n > 4096) {
        fprintf(stderr, "net-tool: bench takes 1 to 4096 tasks\n");
        return 2;
    }
    if (net_bridge_ensure(bridge, gw, 16, &e) < 0)
        return fail(e);
    double setup = 0, teardown = 0, ip_setup = 0, ip_teardown = 0;
    /* Per-task setup times: the medians resist a loaded host's spikes,
     * which the means (what bench/net reports) do not. */
    double nl_each[4096], ip_each[4096];
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int fd = netns_new(&pid);
        if (fd < 0)
            return fail(NULL);
        char host_if[NET_IFNAME_MAX];
        /* Unique per run: benches may run side by side. */
        snprintf(host_if, sizeof(host_if), "skn%x.%x", (unsigned)getpid() & 0xfffff, i & 0xfff);
        struct net_eni eni = {.bridge = bridge,
                              .host_if = host_if,
                              .addr = gw + 3 + (uint32_t)i,
                              .gateway = gw,
                              .prefix = 16,
                              .mac = {0x0e, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i}};
        double t0 = now_ms();
        if (net_eni_setup(&eni, fd, &e) < 0)
            return fail(e);
        double t1 = now_ms();
        close(fd);
        reap(pid);
        wait_gone(host_if);
        double t2 = now_ms();
        setup += t1 - t0;
        teardown += t2 - t1;
        nl_each[i] = t1 - t0;

        /* The same steps with ip -batch: host side, then inside. */
        fd = netns_new(&pid);
        if (fd < 0)
            return fail(NULL);
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "printf 'link add %s master %s up type veth peer name eth0 address "
                 "0e:00:00:00:%02x:%02x netns %d\\n' | ip -batch - && "
                 "printf 'addr add 10.99.%d.%d/16 dev eth0\\nlink set eth0 up\\n"
                 "link set lo up\\nroute add default via 10.99.0.1 dev eth0\\n' | "
                 "nsenter --net=/proc/%d/ns/net ip -batch -",
                 host_if, bridge, (i >> 8) & 255, i & 255, pid, ((i + 3) >> 8) & 255, (i + 3) & 255,
                 pid);
        t0 = now_ms();
        if (system(cmd) != 0)
            return fail(NULL);
        t1 = now_ms();
        close(fd);
        reap(pid);
        wait_gone(host_if);
        t2 = now_ms();
        ip_setup += t1 - t0;
        ip_teardown += t2 - t1;
        ip_each[i] = t1 - t0;
    }
    printf("{\"tasks\": %d, \"netlink_setup_ms\": %.3f, \"netlink_teardown_ms\": %.3f, "
           "\"ip_batch_setup_ms\": %.3f, \"ip_batch_teardown_ms\": %.3f, "
           "\"netlink_setup_p50_ms\": %.3f, \"ip_batch_setup_p50_ms\": %.3f}\n",
           n, setup / n, teardown / n, ip_setup / n, ip_teardown / n, median(nl_each, n),
           median(ip_each, n));
    if (net_bridge_delete(bridge, &e) < 0)
        return fail(e);
    return 0;
}

int main(int argc, char **argv)
{
    struct error *e = NULL;
    if (argc == 4 && !strcmp(argv[1], "bridge")) {
        uint32_t gw;
        int prefix;
        if (parse_cidr(argv[3], &gw, &prefix) < 0)
            return fail(NULL);
        return net_bridge_ensure(argv[2], gw, prefix, &e) < 0 ? fail(e) : 0;
    }
    if (argc == 3 && !strcmp(argv[1], "bridge-del"))
        return net_bridge_delete(argv[2], &e) < 0 ? fail(e) : 0;
    if (argc == 3 && !strcmp(argv[1], "del"))
        return net_veth_delete(argv[2], &e) < 0 ? fail(e) : 0;
    if (argc == 8 && !strcmp(argv[1], "up")) {
        struct net_eni eni = {.bridge = argv[3], .host_if = argv[4]};
        if (parse_cidr(argv[5], &eni.addr, &eni.prefix) < 0 ||
            net_addr_parse(argv[6], &eni.gateway) < 0 || net_mac_parse(argv[7], eni.mac) < 0) {
            fprintf(stderr, "net-tool: bad address, gateway or MAC\n");
            return 2;
        }
        _cleanup_close_ int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            perror(argv[2]);
            return 1;
        }
        return net_eni_setup(&eni, fd, &e) < 0 ? fail(e) : 0;
    }
    if (argc == 3 && !strcmp(argv[1], "sg-init"))
        return net_sg_init(argv[2], &e) < 0 ? fail(e) : 0;
    if (argc == 3 && !strcmp(argv[1], "sg-reset"))
        return net_sg_reset(argv[2], NULL, NULL, NULL, 0, &e) < 0 ? fail(e) : 0;
    if (argc == 3 && !strcmp(argv[1], "sg-drop"))
        return net_sg_drop(argv[2], &e) < 0 ? fail(e) : 0;
    if (argc == 4 && !strcmp(argv[1], "sg-groups")) {
        json_t *groups = json_loads(argv[3], 0, NULL);
        if (!json_is_object(groups)) {
            fprintf(stderr, "net-tool: groups must be a JSON object\n");
            json_decref(groups);
            return 2;
        }
        int r = net_sg_groups(argv[2], groups, &e);
        json_decref(groups);
        return r < 0 ? fail(e) : 0;
    }
    if ((argc == 8 && !strcmp(argv[1], "sg")) || (argc == 7 && !strcmp(argv[1], "sg-del"))) {
        const char *scope = argv[2];
        struct net_sg_task t = {.bridge = argv[3], .host_if = argv[4]};
        if (net_addr_parse(argv[5], &t.addr) < 0 || net_mac_parse(argv[6], t.mac) < 0) {
            fprintf(stderr, "net-tool: bad address or MAC\n");
            return 2;
        }
        if (argc == 7)
            return net_sg_remove(scope, &t, &e) < 0 ? fail(e) : 0;
        json_t *rules = json_loads(argv[7], 0, NULL);
        if (!json_is_array(rules)) {
            fprintf(stderr, "net-tool: rules must be a JSON list\n");
            json_decref(rules);
            return 2;
        }
        int r = net_sg_apply(scope, &t, rules, &e);
        json_decref(rules);
        return r < 0 ? fail(e) : 0;
    }
    if (argc == 4 && !strcmp(argv[1], "bench"))
        return bench(atoi(argv[2]), argv[3]);
    fprintf(stderr, "usage: net-tool bridge NAME GW/PREFIX | bridge-del NAME | "
                    "up NETNS BRIDGE HOST-IF ADDR/PREFIX GW MAC | del HOST-IF | bench N BRIDGE\n");
    return 2;
}
