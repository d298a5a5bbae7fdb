/* oci-tool: drives src/oci from the command line for the tests
 * (tests/e2e/test_oci*.py) and for measuring start latency. Not installed;
 * the task agent calls the module directly. Output is JSON on stdout.
 *
 *   oci-tool [-R RUN_DIR] [-r crun|runc] [-P CGROUP_PARENT] COMMAND ...
 *   task-create TASK [--cpu U] [--memory MIB] [--pids N]
 *   task-delete TASK
 *   config  CTR [container options] -- ARGS...      print config.json
 *   create  TASK CTR DIR [container options] -- ARGS...
 *   start   DIR
 *   run     TASK CTR DIR [container options] -- ARGS...  (create + start)
 *   status  DIR [TASK CTR]                         state, exit code, usage
 *   wait    DIR [--timeout MS]
 *   exec    DIR [--timeout MS] -- ARGS...          run a command in the container
 *   stop    DIR [--timeout MS]
 *   delete  DIR TASK CTR [--force]
 *   usage   TASK [CTR]
 *   bench   N LOWER_DIR                            skiff start vs bare `crun run`
 *
 * Container options: --lower DIR (repeatable), --ctr-cpu U, --ctr-memory MIB,
 * --ctr-reservation MIB, --readonly, --ptrace, --init, --env K=V,
 * --hostname H, --nofile SOFT:HARD, --cwd DIR, --user UID:GID, --ahead MS
 * (create/run: the monitor is started first, MS ms before the bundle is
 * written, as the agent does; "ahead_waiting" says whether it was then
 * still waiting, forking nothing). */
#include "oci/bundle.h"
#include "oci/cgroup.h"
#include "oci/netns.h"
#include "oci/runtime.h"
#include "oci/spawn.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tool {
    const char *run_dir;
    const char *runtime;
    const char *cgroup_parent;
    struct oci_cgroups *cg;
    struct oci_runtime *rt;
    struct oci_host host;
};

struct ctr_opts {
    const char *lower[16];
    size_t n_lower;
    const char *env[64];
    size_t n_env;
    struct oci_cgroup_limits lim;
    struct oci_container_spec spec;
    struct oci_rlimit nofile;
    char *netns, *cgpath, *hosts, *resolv;
    int ahead_ms; /* -1: no monitor started ahead */
};

static void die(struct error *e)
{
    fprintf(stderr, "oci-tool: %s\n", e ? e->msg : "failed");
    exit(1);
}

static void setup(struct tool *t)
{
    _cleanup_error_ struct error *err = NULL;
    if (oci_cgroups_open(t->cgroup_parent, &t->cg, &err) < 0)
        die(err);
    struct oci_runtime_config cfg = {.runtime = t->runtime, .run_dir = t->run_dir};
    if (oci_runtime_new(&cfg, t->cg, &t->rt, &err) < 0)
        die(err);
    oci_host_detect(&t->host);
}

static int64_t mib(const char *s)
{
    return (int64_t)strtoll(s, NULL, 10) << 20;
}

static char *task_dir(struct tool *t, const char *task)
{
    return xasprintf("%s/tasks/%s", t->run_dir, task);
}

static char *netns_path(struct tool *t, const char *task)
{
    return xasprintf("%s/netns/%s", t->run_dir, task);
}

static int cmd_task_create(struct tool *t, int argc, char **argv)
{
    static const struct option lo[] = {
        {"cpu", 1, 0, 'c'}, {"memory", 1, 0, 'm'}, {"pids", 1, 0, 'p'}, {0, 0, 0, 0}};
    struct oci_cgroup_limits lim = {0};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (o == 'c')
            lim.cpu_quota = strtoll(optarg, NULL, 10);
        else if (o == 'm')
            lim.memory_max = mib(optarg);
        else if (o == 'p')
            lim.pids_max = strtoll(optarg, NULL, 10);
        else
            return 2;
    }
    if (optind >= argc)
        return 2;
    const char *task = argv[optind];
    setup(t);
    _cleanup_error_ struct error *err = NULL;
    _cleanup_free_ char *ns = netns_path(t, task);
    _cleanup_free_ char *dir = task_dir(t, task);
    if (oci_netns_create(ns, &err) < 0 || oci_cgroup_task_create(t->cg, task, &lim, &err) < 0 ||
        oci_dir_make(dir, 0700, &err) < 0)
        die(err);
    /* What the agent will write per task: hosts and resolv.conf. */
    _cleanup_free_ char *hosts = xasprintf("%s/hosts", dir);
    _cleanup_free_ char *resolv = xasprintf("%s/resolv.conf", dir);
    const char *h = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    if (oci_file_replace(hosts, h, strlen(h), 0644, &err) < 0 ||
        oci_file_replace(resolv, "", 0, 0644, &err) < 0)
        die(err);
    _cleanup_free_ char *cgpath = oci_cgroup_path(t->cg, task, NULL);
    printf("{\"netns\":\"%s\",\"cgroup\":\"%s\"}\n", ns, cgpath);
    return 0;
}

static int cmd_task_delete(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *task = argv[1];
    setup(t);
    _cleanup_error_ struct error *err = NULL;
    _cleanup_free_ char *ns = netns_path(t, task);
    _cleanup_free_ char *dir = task_dir(t, task);
    if (oci_cgroup_kill(t->cg, task, NULL, &err) < 0 ||
        oci_cgroup_remove(t->cg, task, NULL, &err) < 0 || oci_netns_remove(ns, &err) < 0 ||
        oci_dir_remove_tree(dir, &err) < 0)
        die(err);
    printf("{}\n");
    return 0;
}

/* Parses container options; args after "--" are the command. */
static int parse_ctr(struct tool *t, int argc, char **argv, const char *task, const char *ctr,
                     struct ctr_opts *o)
{
    static const struct option lo[] = {{"lower", 1, 0, 'l'},      {"ctr-cpu", 1, 0, 'c'},
                                       {"ctr-memory", 1, 0, 'm'}, {"ctr-reservation", 1, 0, 'R'},
                                       {"readonly", 0, 0, 'o'},   {"ptrace", 0, 0, 'p'},
                                       {"init", 0, 0, 'i'},       {"env", 1, 0, 'e'},
                                       {"hostname", 1, 0, 'h'},   {"nofile", 1, 0, 'n'},
                                       {"cwd", 1, 0, 'w'},        {"user", 1, 0, 'u'},
                                       {"ahead", 1, 0, 'A'},      {0, 0, 0, 0}};
    memset(o, 0, sizeof(*o));
    o->ahead_ms = -1;
    o->spec.id = ctr;
    int c;
    while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (o->n_lower < ARRAY_SIZE(o->lower))
                o->lower[o->n_lower++] = optarg;
            break;
        case 'c':
            o->lim.cpu_shares = strtoll(optarg, NULL, 10);
            break;
        case 'm':
            o->lim.memory_max = mib(optarg);
            break;
        case 'R':
            o->lim.memory_reservation = mib(optarg);
            break;
        case 'o':
            o->spec.readonly_rootfs = true;
            break;
        case 'p':
            o->spec.add_sys_ptrace = true;
            break;
        case 'i':
            o->spec.init_path = "/usr/bin/catatonit";
            break;
        case 'e':
            if (o->n_env + 1 < ARRAY_SIZE(o->env))
                o->env[o->n_env++] = optarg;
            break;
        case 'h':
            o->spec.hostname = optarg;
            break;
        case 'n':
            o->nofile.type = "RLIMIT_NOFILE";
            sscanf(optarg, "%" SCNu64 ":%" SCNu64, &o->nofile.soft, &o->nofile.hard);
            o->spec.rlimits = &o->nofile;
            o->spec.n_rlimits = 1;
            break;
        case 'w':
            o->spec.cwd = optarg;
            break;
        case 'u':
            sscanf(optarg, "%u:%u", &o->spec.uid, &o->spec.gid);
            break;
        case 'A':
            o->ahead_ms = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (optind >= argc)
        return 2;
    o->spec.args = (const char *const *)argv + optind;
    o->spec.env = o->env;
    o->spec.lower_dirs = o->lower;
    o->spec.n_lower_dirs = o->n_lower;
    if (task) {
        _cleanup_free_ char *dir = task_dir(t, task);
        o->netns = netns_path(t, task);
        o->cgpath = oci_cgroup_path(t->cg, task, ctr);
        o->hosts = xasprintf("%s/hosts", dir);
        o->resolv = xasprintf("%s/resolv.conf", dir);
        o->spec.netns_path = o->netns;
        o->spec.cgroups_path = o->cgpath;
        o->spec.hosts_file = o->hosts;
        o->spec.resolv_conf = o->resolv;
    }
    return 0;
}

static void ctr_opts_done(struct ctr_opts *o)
{
    free(o->netns);
    free(o->cgpath);
    free(o->hosts);
    free(o->resolv);
}

static void json_str(const char *key, const char *s, bool comma)
{
    json_t *j = json_string(s ? s : "");
    char *d = json_dumps(j, JSON_ENCODE_ANY);
    printf("\"%s\":%s%s", key, d, comma ? "," : "");
    free(d);
    json_decref(j);
}

static int cmd_config(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    oci_host_detect(&t->host);
    struct ctr_opts o;
    optind = 2;
    if (parse_ctr(t, argc, argv, NULL, argv[1], &o) != 0)
        return 2;
    /* A config as the agent writes it, with task-level paths filled in. */
    o.spec.netns_path = "/run/skiff/netns/task";
    o.spec.cgroups_path = "/skiff/task/ctr";
    o.spec.hosts_file = "/run/skiff/tasks/task/hosts";
    o.spec.resolv_conf = "/run/skiff/tasks/task/resolv.conf";
    struct buf w;
    buf_init(&w, 4096);
    _cleanup_error_ struct error *err = NULL;
    json_t *c = oci_bundle_config(&o.spec, &t->host, &w, &err);
    if (!c)
        die(err);
    json_dumpf(c, stdout, JSON_INDENT(1));
    putchar('\n');
    if (w.len)
        fputs(w.data, stderr);
    buf_done(&w);
    json_decref(c);
    return 0;
}

/* True when pid is conmon, alive and with no child (waiting on its start
 * pipe). */
static bool monitor_waiting(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *end = strrchr(buf, ')');
    if (!strstr(buf, "(conmon)") || !end || end[1] != ' ' || end[2] == 'Z')
        return false;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    int ch = fgetc(f);
    fclose(f);
    return ch == EOF;
}

static int do_create(struct tool *t, int argc, char **argv, bool start)
{
    if (argc < 4)
        return 2;
    const char *task = argv[1], *ctr = argv[2], *dir = argv[3];
    setup(t);
    struct ctr_opts o;
    optind = 4;
    if (parse_ctr(t, argc, argv, task, ctr, &o) != 0)
        return 2;
    _cleanup_error_ struct error *err = NULL;
    if (oci_cgroup_container_create(t->cg, task, ctr, &o.lim, &err) < 0)
        die(err);
    struct buf w;
    buf_init(&w, 4096);
    struct oci_container *c = NULL;
    struct oci_monitor *m = NULL;
    const char *waiting = "null";
    if (o.ahead_ms >= 0) {
        if (oci_monitor_start(t->rt, dir, ctr, &m, &err) < 0)
            die(err);
        poll(NULL, 0, o.ahead_ms);
        waiting = monitor_waiting(oci_monitor_pid(m)) ? "true" : "false";
    }
    int64_t t0 = time_mono_ns();
    if (oci_container_create_with(t->rt, dir, &o.spec, &t->host, &w, m, &c, &err) < 0)
        die(err);
    int64_t t1 = time_mono_ns();
    if (start && oci_container_start(c, &err) < 0)
        die(err);
    int64_t t2 = time_mono_ns();
    struct oci_container_status st;
    oci_container_status(c, &st, NULL);
    printf("{\"pid\":%d,\"monitor_pid\":%d,\"create_ms\":%.3f,\"start_ms\":%.3f,"
           "\"total_ms\":%.3f,",
           (int)st.pid, (int)oci_container_monitor_pid(c), (t1 - t0) / 1e6, (t2 - t1) / 1e6,
           (t2 - t0) / 1e6);
    printf("\"ahead_waiting\":%s,", waiting);
    json_str("warnings", w.data, false);
    printf("}\n");
    buf_done(&w);
    oci_container_free(c);
    ctr_opts_done(&o);
    return 0;
}

static int load(struct tool *t, const char *dir, struct oci_container **c)
{
    setup(t);
    _cleanup_error_ struct error *err = NULL;
    if (oci_container_load(t->rt, dir, c, &err) < 0)
        die(err);
    return 0;
}

static int cmd_start(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct oci_container *c;
    load(t, argv[1], &c);
    _cleanup_error_ struct error *err = NULL;
    int64_t t0 = time_mono_ns();
    if (oci_container_start(c, &err) < 0)
        die(err);
    printf("{\"start_ms\":%.3f}\n", (time_mono_ns() - t0) / 1e6);
    oci_container_free(c);
    return 0;
}

static const char *state_name(enum oci_container_state s)
{
    switch (s) {
    case OCI_STATE_CREATED:
        return "created";
    case OCI_STATE_RUNNING:
        return "running";
    case OCI_STATE_EXITED:
        return "exited";
    case OCI_STATE_UNKNOWN:
        break;
    }
    return "unknown";
}

static void print_usage_fields(struct tool *t, const char *task, const char *ctr)
{
    struct oci_cgroup_usage u;
    _cleanup_error_ struct error *err = NULL;
    if (oci_cgroup_usage_read(t->cg, task, ctr, &u, &err) < 0) {
        printf("\"usage\":null");
        return;
    }
    printf("\"usage\":{\"cpu_ns\":%" PRIu64 ",\"memory_current\":%" PRIu64
           ",\"memory_peak\":%" PRIu64 ",\"oom_kills\":%" PRIu64 ",\"pids_current\":%" PRIu64 "}",
           u.cpu_ns, u.memory_current, u.memory_peak, u.oom_kills, u.pids_current);
}

static int cmd_status(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct oci_container *c;
    load(t, argv[1], &c);
    struct oci_container_status s;
    _cleanup_error_ struct error *err = NULL;
    if (oci_container_status(c, &s, &err) < 0)
        die(err);
    printf("{\"state\":\"%s\",\"pid\":%d,\"monitor_pid\":%d,\"exit_code\":%d,"
           "\"created_ms\":%" PRId64 ",\"started_ms\":%" PRId64 ",\"exited_ms\":%" PRId64 ",",
           state_name(s.state), (int)s.pid, (int)oci_container_monitor_pid(c), s.exit_code,
           s.created_ms, s.started_ms, s.exited_ms);
    json_str("log", oci_container_log_path(c), true);
    if (argc >= 4)
        print_usage_fields(t, argv[2], argv[3]);
    else
        printf("\"usage\":null");
    printf("}\n");
    oci_container_free(c);
    return 0;
}

static int timeout_opt(int argc, char **argv, int def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "--timeout") == 0)
            return atoi(argv[i + 1]);
    return def;
}

static int cmd_wait(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct oci_container *c;
    load(t, argv[1], &c);
    _cleanup_error_ struct error *err = NULL;
    if (oci_container_wait(c, timeout_opt(argc, argv, -1), &err) < 0)
        die(err);
    printf("{}\n");
    oci_container_free(c);
    return 0;
}

static int cmd_exec(struct tool *t, int argc, char **argv)
{
    int dash = 2;
    while (dash < argc && strcmp(argv[dash], "--") != 0)
        dash++;
    if (argc < 2 || dash + 1 >= argc)
        return 2;
    struct oci_container *c;
    load(t, argv[1], &c);
    _cleanup_error_ struct error *err = NULL;
    _cleanup_free_ char *out = NULL;
    int code = -1;
    int64_t t0 = time_mono_ns();
    int r = oci_container_exec(c, (const char *const *)argv + dash + 1, timeout_opt(dash, argv, -1),
                               &code, &out, &err);
    printf("{\"exit_code\":%d,\"timed_out\":%s,\"exec_ms\":%.3f,", code,
           r == -ETIMEDOUT ? "true" : "false", (time_mono_ns() - t0) / 1e6);
    json_str("output", out, false);
    printf("}\n");
    oci_container_free(c);
    if (r < 0 && r != -ETIMEDOUT)
        die(err);
    return 0;
}

static int cmd_stop(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    struct oci_container *c;
    load(t, argv[1], &c);
    _cleanup_error_ struct error *err = NULL;
    int64_t t0 = time_mono_ns();
    if (oci_container_stop(c, timeout_opt(argc, argv, 30000), &err) < 0)
        die(err);
    printf("{\"stop_ms\":%.3f}\n", (time_mono_ns() - t0) / 1e6);
    oci_container_free(c);
    return 0;
}

static int cmd_delete(struct tool *t, int argc, char **argv)
{
    if (argc < 4)
        return 2;
    bool force = argc > 4 && strcmp(argv[4], "--force") == 0;
    struct oci_container *c;
    load(t, argv[1], &c);
    _cleanup_error_ struct error *err = NULL;
    if (oci_container_delete(c, force, &err) < 0 ||
        oci_cgroup_remove(t->cg, argv[2], argv[3], &err) < 0)
        die(err);
    printf("{}\n");
    oci_container_free(c);
    return 0;
}

static int cmd_usage(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return 2;
    setup(t);
    printf("{");
    print_usage_fields(t, argv[1], argc > 2 ? argv[2] : NULL);
    printf("}\n");
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* Start latency, skiff (bundle written, conmon, create, start) against a
 * bare `crun run -d` of an equivalent bundle (same config, its own network
 * namespace and cgroup, rootfs overlay mounted in the runtime's mount
 * namespace, as crun needs on this host), alternating, in one run. */
static int cmd_bench(struct tool *t, int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    const char *lower = argv[2];
    if (n < 1 || n > 1000)
        return 2;
    setup(t);
    _cleanup_error_ struct error *err = NULL;
    double *ours = xcalloc((size_t)n, sizeof(double));
    double *bare = xcalloc((size_t)n, sizeof(double));
    const char *const args[] = {"/bin/sleep", "1000", NULL};
    const char *lowers[] = {lower};
    struct oci_cgroup_limits tl = {.cpu_quota = 1024, .memory_max = 256 << 20, .pids_max = 256};
    struct oci_cgroup_limits cl = {0};
    for (int i = 0; i < 2 * n; i++) {
        bool is_bare = i % 2;
        char task[32], ctr[40];
        snprintf(task, sizeof(task), "bench-%d-%d", (int)getpid(), i);
        snprintf(ctr, sizeof(ctr), "%s-c", task);
        _cleanup_free_ char *ns = netns_path(t, task);
        _cleanup_free_ char *tdir = task_dir(t, task);
        _cleanup_free_ char *dir = xasprintf("%s/%s", tdir, ctr);
        _cleanup_free_ char *cgpath = oci_cgroup_path(t->cg, task, ctr);
        if (oci_netns_create(ns, &err) < 0 || oci_cgroup_task_create(t->cg, task, &tl, &err) < 0 ||
            oci_cgroup_container_create(t->cg, task, ctr, &cl, &err) < 0)
            die(err);
        struct oci_container_spec spec = {.id = ctr,
                                          .args = args,
                                          .netns_path = ns,
                                          .cgroups_path = cgpath,
                                          .lower_dirs = lowers,
                                          .n_lower_dirs = 1};
        if (!is_bare) {
            struct oci_container *c;
            int64_t t0 = time_mono_ns();
            if (oci_container_create(t->rt, dir, &spec, &t->host, NULL, &c, &err) < 0 ||
                oci_container_start(c, &err) < 0)
                die(err);
            ours[i / 2] = (time_mono_ns() - t0) / 1e6;
            if (oci_container_delete(c, true, &err) < 0)
                die(err);
            oci_container_free(c);
        } else {
            _cleanup_free_ char *bundle = xasprintf("%s/bundle", dir);
            _cleanup_free_ char *rootfs = xasprintf("%s/bundle/rootfs", dir);
            _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
            _cleanup_free_ char *work = xasprintf("%s/work", dir);
            _cleanup_free_ char *data =
                xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
            _cleanup_free_ char *root = xasprintf("%s/crun", t->run_dir);
            if (oci_dir_make(upper, 0755, &err) < 0 || oci_dir_make(work, 0755, &err) < 0 ||
                oci_bundle_write(bundle, &spec, &t->host, NULL, &err) < 0)
                die(err);
            const char *const crun[] = {"/usr/bin/crun", "--root", root, "run", "-d",
                                        "--bundle",      bundle,   ctr,  NULL};
            const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
            int64_t t0 = time_mono_ns();
            struct oci_spawn sp = {.argv = crun,
                                   .envp = env,
                                   .hide_unified = oci_cgroups_hide_unified(t->cg),
                                   .mount_target = rootfs,
                                   .mount_data = data,
                                   .fds = {-1, -1, 2, -1, -1}};
            pid_t pid;
            int status = 0;
            if (oci_spawn(&sp, &pid, &err) < 0 || oci_spawn_wait(pid, &status, &err) < 0)
                die(err);
            bare[i / 2] = (time_mono_ns() - t0) / 1e6;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "oci-tool: bare crun run failed\n");
                return 1;
            }
            const char *const del[] = {"/usr/bin/crun", "--root", root, "delete",
                                       "--force",       ctr,      NULL};
            oci_spawn_run(del, env, oci_cgroups_hide_unified(t->cg), NULL, NULL, NULL, NULL);
            oci_dir_remove_tree(dir, NULL);
        }
        if (oci_cgroup_kill(t->cg, task, NULL, &err) < 0 ||
            oci_cgroup_remove(t->cg, task, NULL, &err) < 0 || oci_netns_remove(ns, &err) < 0 ||
            oci_dir_remove_tree(tdir, &err) < 0)
            die(err);
    }
    double o50 = pct(ours, n, 0.5), o99 = pct(ours, n, 0.99);
    double b50 = pct(bare, n, 0.5), b99 = pct(bare, n, 0.99);
    printf("{\"n\":%d,\"runtime\":\"%s\",\"skiff_p50_ms\":%.2f,\"skiff_p99_ms\":%.2f,"
           "\"bare_p50_ms\":%.2f,\"bare_p99_ms\":%.2f,\"ratio_p50\":%.2f,\"ratio_p99\":%.2f}\n",
           n, oci_runtime_name(t->rt), o50, o99, b50, b99, o50 / b50, o99 / b99);
    free(ours);
    free(bare);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(struct tool *t, int argc, char **argv);
} commands[] = {
    {"task-create", cmd_task_create},
    {"task-delete", cmd_task_delete},
    {"config", cmd_config},
    {"start", cmd_start},
    {"status", cmd_status},
    {"wait", cmd_wait},
    {"exec", cmd_exec},
    {"stop", cmd_stop},
    {"delete", cmd_delete},
    {"usage", cmd_usage},
    {"bench", cmd_bench},
};

int main(int argc, char **argv)
{
    struct tool t = {.run_dir = "/run/skiff", .runtime = "crun"};
    /* A monitor that died before its start pipe is written is an error to
     * report, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-R") == 0)
            t.run_dir = argv[i + 1];
        else if (strcmp(argv[i], "-r") == 0)
            t.runtime = argv[i + 1];
        else if (strcmp(argv[i], "-P") == 0)
            t.cgroup_parent = argv[i + 1];
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: oci-tool [-R RUN_DIR] [-r crun|runc] [-P PARENT] COMMAND ...\n");
        return 2;
    }
    const char *cmd = argv[i];
    argc -= i;
    argv += i;
    int r = 2;
    if (strcmp(cmd, "create") == 0)
        r = do_create(&t, argc, argv, false);
    else if (strcmp(cmd, "run") == 0)
        r = do_create(&t, argc, argv, true);
    else
        for (size_t k = 0; k < ARRAY_SIZE(commands); k++)
            if (strcmp(cmd, commands[k].name) == 0)
                r = commands[k].run(&t, argc, argv);
    if (r == 2)
        fprintf(stderr, "oci-tool: bad usage of %s\n", cmd);
    oci_runtime_free(t.rt);
    oci_cgroups_free(t.cg);
    return r;
}
