/* The cgroup manager: layout detection from mountinfo texts (this host's
 * hybrid layout, pure v1 with co-mounted cpu,cpuacct, pure v2), the unit
 * conversions, and, as root, a real task and container cgroup on this host:
 * limits written, usage read, a process killed, everything removed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/cgroup-internal.h"
#include "oci/util.h"

/* This machine: v1 controllers, name=systemd, and a cgroup2 mount holding
 * only hugetlb. */
static const char hybrid_mountinfo[] =
    "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
    "29 22 0:25 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "30 29 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "31 29 0:27 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "32 29 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "33 29 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "34 29 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "35 29 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* A classic systemd v1 host: cpu and cpuacct co-mounted, optional fields. */
static const char v1_mountinfo[] =
    "25 24 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "28 25 0:25 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory\n"
    "29 25 0:26 / /sys/fs/cgroup/pids rw,nosuid shared:13 - cgroup cgroup rw,pids\n"
    "30 25 0:27 / /sys/fs/cgroup/systemd rw shared:14 master:1 - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n";

static const char v2_mountinfo[] =
    "22 26 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
    "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

struct mount_case {
    const char *name;
    const char *text;
    int ret;
    enum oci_cgroup_mode mode;
    const char *unified, *cpu, *cpuacct, *memory, *pids;
    size_t n_v1;
};

static const struct mount_case mount_cases[] = {
    {"hybrid", hybrid_mountinfo, 0, OCI_CGROUP_HYBRID, "/sys/fs/cgroup/unified",
     "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
     5},
    {"v1", v1_mountinfo, 0, OCI_CGROUP_V1, NULL, "/sys/fs/cgroup/cpu,cpuacct",
     "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", 4},
    {"v2", v2_mountinfo, 0, OCI_CGROUP_V2, "/sys/fs/cgroup", NULL, NULL, NULL, NULL, 0},
    {"none", "21 26 0:20 / /proc rw - proc proc rw\n", -ENOTSUP, 0, NULL, NULL, NULL, NULL, NULL,
     0},
};

static void assert_str_or_null(const char *want, const char *got)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(want, got);
}

static void test_mountinfo(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(mount_cases); i++) {
        const struct mount_case *c = &mount_cases[i];
        struct oci_cgroups cg = {0};
        _cleanup_error_ struct error *err = NULL;
        int r = oci_cgroup_mountinfo_parse(&cg, c->text, &err);
        if (r != c->ret)
            fail_msg("%s: got %d", c->name, r);
        if (r == 0) {
            assert_int_equal(c->mode, cg.mode);
            assert_str_or_null(c->unified, cg.unified);
            assert_str_or_null(c->cpu, cg.cpu);
            assert_str_or_null(c->cpuacct, cg.cpuacct);
            assert_str_or_null(c->memory, cg.memory);
            assert_str_or_null(c->pids, cg.pids);
            assert_int_equal(c->n_v1, cg.n_v1);
        }
        oci_cgroup_mounts_done(&cg);
    }
}

static void test_v1_controller_names(void **state)
{
    (void)state;
    struct oci_cgroups cg = {0};
    assert_int_equal(0, oci_cgroup_mountinfo_parse(&cg, v1_mountinfo, NULL));
    /* Mount options that are not controllers are dropped. */
    assert_string_equal("name=systemd", cg.v1[3].controllers);
    assert_string_equal("cpu,cpuacct", cg.v1[0].controllers);
    oci_cgroup_mounts_done(&cg);
}

struct unit_case {
    int64_t units;
    int64_t quota_us;
    uint64_t shares;
    uint64_t weight;
};

static const struct unit_case unit_cases[] = {
    /* cpu units → CFS quota per 100 ms period, v1 shares, v2 weight */
    {256, 25000, 256, 10},     {512, 50000, 512, 20},
    {1024, 100000, 1024, 39},  {2048, 200000, 2048, 79},
    {4096, 400000, 4096, 157}, {2, 1000, 2, 1},
    {0, 1000, 2, 1},           {262144, 25600000, 262144, 10000},
};

static void test_units(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(unit_cases); i++) {
        const struct unit_case *c = &unit_cases[i];
        assert_int_equal(c->quota_us, oci_cgroup_quota_us(c->units));
        assert_int_equal(c->shares, oci_cgroup_shares(c->units));
        assert_int_equal(c->weight, oci_cgroup_shares_to_weight(oci_cgroup_shares(c->units)));
    }
}

static void test_paths(void **state)
{
    (void)state;
    struct oci_cgroups cg = {.parent = (char *)"/skiff"};
    _cleanup_free_ char *t = oci_cgroup_path(&cg, "t1", NULL);
    _cleanup_free_ char *c = oci_cgroup_path(&cg, "t1", "web");
    assert_string_equal("/skiff/t1", t);
    assert_string_equal("/skiff/t1/web", c);
    struct oci_cgroups root = {.parent = (char *)"/"};
    _cleanup_free_ char *r = oci_cgroup_path(&root, "t1", "web");
    assert_string_equal("/t1/web", r);
}

static void test_bad_names(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct oci_cgroups *cg = NULL;
    assert_int_equal(0, oci_cgroups_open("/skiff-unit", &cg, NULL));
    struct oci_cgroup_limits lim = {0};
    const char *bad[] = {"", "..", ".", "a/b", "a b", "x\n"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(-EINVAL, oci_cgroup_task_create(cg, bad[i], &lim, &err));
    }
    oci_cgroups_free(cg);
}

static char *limit_file(struct oci_cgroups *cg, const char *v1_mount, const char *rel,
                        const char *file)
{
    if (cg->mode == OCI_CGROUP_V2)
        return xasprintf("%s%s/%s", cg->unified, rel, file);
    return xasprintf("%s%s/%s", v1_mount, rel, file);
}

static char *read_text(const char *path)
{
    char *s = NULL;
    assert_int_equal(0, oci_file_read_at(AT_FDCWD, path, 256, &s, NULL));
    char *nl = strchr(s, '\n');
    if (nl)
        *nl = '\0';
    return s;
}

static void put(const char *root, const char *rel, const char *content)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void expect(const char *root, const char *rel, const char *want)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
    _cleanup_free_ char *got = read_text(p);
    if (strcmp(want, got) != 0)
        fail_msg("%s: want '%s', got '%s'", rel, want, got);
}

/* The v2 backend on a fake tree of plain files (this host has no v2
 * controllers to try it on): what it writes where, and how it reads usage. */
static void test_v2_fake_tree(void **state)
{
    (void)state;
    char root[] = "/tmp/skiff-cgv2-XXXXXX";
    assert_non_null(mkdtemp(root));
    const char *dirs[] = {"skiff", "skiff/t1", "skiff/t1/c1", "skiff/t2"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *d = xasprintf("%s/%s", root, dirs[i]);
        assert_int_equal(0, mkdir(d, 0755));
    }
    const char *files[] = {
        "cgroup.subtree_control",
        "skiff/cgroup.subtree_control",
        "skiff/t1/cgroup.subtree_control",
        "skiff/t1/cpu.max",
        "skiff/t1/memory.max",
        "skiff/t1/pids.max",
        "skiff/t1/memory.swap.max",
        "skiff/t1/c1/cpu.weight",
        "skiff/t1/c1/memory.max",
        "skiff/t1/c1/memory.low",
        "skiff/t1/c1/memory.swap.max",
        "skiff/t2/cgroup.subtree_control",
        "skiff/t2/cpu.max",
        "skiff/t2/memory.max",
        "skiff/t2/pids.max",
    };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        put(root, files[i], "");
    put(root, "skiff/t1/c1/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    put(root, "skiff/t1/c1/memory.current", "4096\n");
    put(root, "skiff/t1/c1/memory.peak", "8192\n");
    put(root, "skiff/t1/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    put(root, "skiff/t1/c1/pids.current", "2\n");

    struct oci_cgroups cg = {.mode = OCI_CGROUP_V2,
                             .ops = &oci_cgroup_v2_ops,
                             .parent = (char *)"/skiff",
                             .unified = root};
    _cleanup_error_ struct error *err = NULL;
    struct oci_cgroup_limits task = {.cpu_quota = 256, .memory_max = 128 << 20, .pids_max = 64};
    assert_int_equal(0, oci_cgroup_task_create(&cg, "t1", &task, &err));
    struct oci_cgroup_limits ctr = {
        .cpu_shares = 512, .memory_max = 64 << 20, .memory_reservation = 32 << 20};
    assert_int_equal(0, oci_cgroup_container_create(&cg, "t1", "c1", &ctr, &err));
    struct oci_cgroup_limits none = {0};
    assert_int_equal(0, oci_cgroup_task_create(&cg, "t2", &none, &err));

    /* Controllers enabled from the root down to the task, for its children. */
    expect(root, "cgroup.subtree_control", "+cpu +memory +pids");
    expect(root, "skiff/cgroup.subtree_control", "+cpu +memory +pids");
    expect(root, "skiff/t1/cgroup.subtree_control", "+cpu +memory +pids");
    expect(root, "skiff/t1/cpu.max", "25000 100000");
    expect(root, "skiff/t1/memory.max", "134217728");
    expect(root, "skiff/t1/memory.swap.max", "0");
    expect(root, "skiff/t1/pids.max", "64");
    expect(root, "skiff/t1/c1/cpu.weight", "20");
    expect(root, "skiff/t1/c1/memory.max", "67108864");
    expect(root, "skiff/t1/c1/memory.low", "33554432");
    expect(root, "skiff/t2/cpu.max", "max 100000");
    expect(root, "skiff/t2/memory.max", "max");
    expect(root, "skiff/t2/pids.max", "max");

    struct oci_cgroup_usage u;
    assert_int_equal(0, oci_cgroup_usage_read(&cg, "t1", "c1", &u, &err));
    assert_int_equal(1500000, u.cpu_ns);
    assert_int_equal(4096, u.memory_current);
    assert_int_equal(8192, u.memory_peak);
    assert_int_equal(1, u.oom_kills);
    assert_int_equal(2, u.pids_current);
    assert_int_equal(0, oci_dir_remove_tree(root, NULL));
}

/* A real task cgroup with a container inside, on this host. */
static void test_host_lifecycle(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    _cleanup_free_ char *parent = xasprintf("/skiff-unit-%d", (int)getpid());
    struct oci_cgroups *cg = NULL;
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(0, oci_cgroups_open(parent, &cg, &err));

    struct oci_cgroup_limits task = {.cpu_quota = 256, .memory_max = 128 << 20, .pids_max = 64};
    assert_int_equal(0, oci_cgroup_task_create(cg, "t1", &task, &err));
    struct oci_cgroup_limits ctr = {
        .cpu_shares = 512, .memory_max = 64 << 20, .memory_reservation = 32 << 20};
    assert_int_equal(0, oci_cgroup_container_create(cg, "t1", "c1", &ctr, &err));

    _cleanup_free_ char *trel = oci_cgroup_path(cg, "t1", NULL);
    _cleanup_free_ char *crel = oci_cgroup_path(cg, "t1", "c1");
    struct {
        const char *mount, *rel, *v1file, *v2file, *want_v1, *want_v2;
    } checks[] = {
        {cg->cpu, trel, "cpu.cfs_quota_us", "cpu.max", "25000", "25000 100000"},
        {cg->memory, trel, "memory.limit_in_bytes", "memory.max", "134217728", "134217728"},
        {cg->pids, trel, "pids.max", "pids.max", "64", "64"},
        {cg->cpu, crel, "cpu.shares", "cpu.weight", "512", "20"},
        {cg->memory, crel, "memory.limit_in_bytes", "memory.max", "67108864", "67108864"},
        {cg->memory, crel, "memory.soft_limit_in_bytes", "memory.low", "33554432", "33554432"},
    };
    bool v2 = cg->mode == OCI_CGROUP_V2;
    for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
        _cleanup_free_ char *p = limit_file(cg, checks[i].mount, checks[i].rel,
                                            v2 ? checks[i].v2file : checks[i].v1file);
        _cleanup_free_ char *got = read_text(p);
        assert_string_equal(v2 ? checks[i].want_v2 : checks[i].want_v1, got);
    }

    /* A process in the container cgroup shows in usage and dies on kill. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    char pidstr[16];
    snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
    const char *mounts[] = {cg->cpu, cg->cpuacct, cg->memory, cg->pids};
    for (size_t i = 0; i < (v2 ? 1 : ARRAY_SIZE(mounts)); i++) {
        _cleanup_free_ char *p = limit_file(cg, mounts[i], crel, "cgroup.procs");
        assert_int_equal(0, oci_file_write_at(AT_FDCWD, p, pidstr, NULL));
    }
    struct oci_cgroup_usage u;
    assert_int_equal(0, oci_cgroup_usage_read(cg, "t1", "c1", &u, &err));
    assert_int_equal(1, u.pids_current);
    assert_int_equal(0, u.oom_kills);
    assert_int_equal(0, oci_cgroup_usage_read(cg, "t1", NULL, &u, &err));
    assert_int_equal(1, u.pids_current);
    assert_true(u.memory_current > 0);

    /* Removal refuses while the process lives... */
    int r = oci_cgroup_remove(cg, "t1", NULL, &err);
    assert_int_equal(-EBUSY, r);
    error_freep(&err);
    /* ...and succeeds once it is killed. */
    assert_int_equal(0, oci_cgroup_kill(cg, "t1", NULL, &err));
    int status;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(0, oci_cgroup_remove(cg, "t1", NULL, &err));

    /* Nothing is left in any hierarchy, the parent aside, which goes too. */
    if (v2) {
        _cleanup_free_ char *p = xasprintf("%s%s", cg->unified, trel);
        assert_int_equal(-1, access(p, F_OK));
        assert_int_equal(0, oci_cgroup_tree_remove(cg->unified, parent, NULL));
    } else {
        for (size_t i = 0; i < cg->n_v1; i++) {
            _cleanup_free_ char *p = xasprintf("%s%s", cg->v1[i].path, trel);
            assert_int_equal(-1, access(p, F_OK));
            assert_int_equal(0, oci_cgroup_tree_remove(cg->v1[i].path, parent, NULL));
        }
    }
    /* Removing what is gone is not an error. */
    assert_int_equal(0, oci_cgroup_remove(cg, "t1", NULL, &err));
    oci_cgroups_free(cg);
}

/* The options without favordynmods, as a set to compare. */
static char *without_dynmods(const char *opts)
{
    char *out = xstrdup("");
    _cleanup_free_ char *copy = xstrdup(opts);
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (strcmp(o, "favordynmods") == 0)
            continue;
        char *n = xasprintf("%s%s%s", out, *out ? "," : "", o);
        free(out);
        out = n;
    }
    return out;
}

/* Clears favordynmods (a reconfiguration with the other options only);
 * false when this kernel cannot. */
static bool clear_dynmods(const char *mnt, const char *opts)
{
    _cleanup_free_ char *keep = without_dynmods(opts);
    _cleanup_close_ int fd = fspick(AT_FDCWD, mnt, FSPICK_CLOEXEC);
    if (fd < 0)
        return false;
    char *save = NULL;
    for (char *o = strtok_r(keep, ",", &save); o; o = strtok_r(NULL, ",", &save))
        if (strcmp(o, "rw") != 0 && fsconfig(fd, FSCONFIG_SET_FLAG, o, NULL, 0) < 0)
            return false;
    return fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) == 0;
}

/* The host's cgroup2 file system gets favordynmods, keeps its other
 * options, and a second call changes nothing. */
static void test_favor_dynmods(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct oci_cgroups *cg = NULL;
    assert_int_equal(0, oci_cgroups_open("/skiff-unit", &cg, NULL));
    if (!cg->unified) {
        oci_cgroups_free(cg);
        skip();
    }
    _cleanup_free_ char *before = oci_cgroup2_options(cg->unified);
    assert_non_null(before);
    bool was = strstr(before, "favordynmods") != NULL;
    if (was && !clear_dynmods(cg->unified, before)) {
        oci_cgroups_free(cg);
        skip(); /* set, and this kernel (or namespace) cannot clear it */
    }
    _cleanup_free_ char *cleared = oci_cgroup2_options(cg->unified);
    bool changed = false;
    _cleanup_error_ struct error *err = NULL;
    int r = oci_cgroups_favor_dynmods(cg, &changed, &err);
    if (r == -EINVAL && !was) {
        oci_cgroups_free(cg);
        skip(); /* a kernel before 6.0 */
    }
    if (r < 0)
        fail_msg("favor_dynmods: %s", err->msg);
    assert_true(changed);
    _cleanup_free_ char *after = oci_cgroup2_options(cg->unified);
    assert_non_null(strstr(after, "favordynmods"));
    _cleanup_free_ char *a = without_dynmods(after), *b = without_dynmods(cleared);
    assert_string_equal(b, a);
    assert_int_equal(0, oci_cgroups_favor_dynmods(cg, &changed, NULL));
    assert_false(changed);
    oci_cgroups_free(cg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mountinfo),      cmocka_unit_test(test_v1_controller_names),
        cmocka_unit_test(test_units),          cmocka_unit_test(test_paths),
        cmocka_unit_test(test_bad_names),      cmocka_unit_test(test_v2_fake_tree),
        cmocka_unit_test(test_host_lifecycle), cmocka_unit_test(test_favor_dynmods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
