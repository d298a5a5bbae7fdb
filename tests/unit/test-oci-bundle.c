/* config.json generation: the hardened defaults (capabilities, seccomp,
 * masked paths, mounts, namespaces), the nofile clamp, options, and the
 * rejection of invalid specs. (tests/e2e/test_oci.py validates generated
 * files against the OCI runtime-spec JSON schema and runs them.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/bundle.h"
#include "oci/oci-internal.h"
#include "oci/util.h"

static const char *const echo_args[] = {"/bin/echo", "hi", NULL};
static const char *const env[] = {"A=1", NULL};

/* This machine: root without CAP_SYS_RESOURCE, hard nofile 20000. */
static const struct oci_host host_here = {false, 1048576, 20000};
static const struct oci_host host_cap = {true, 1048576, 20000};
static const struct oci_host host_cap_low_nr_open = {true, 40000, 20000};

static struct oci_container_spec base_spec(void)
{
    return (struct oci_container_spec){
        .id = "t1-web",
        .args = echo_args,
        .env = env,
        .hostname = "web",
        .hosts_file = "/run/skiff/t1/hosts",
        .resolv_conf = "/run/skiff/t1/resolv.conf",
        .netns_path = "/run/skiff/netns/t1",
        .cgroups_path = "/skiff/t1/web",
    };
}

static bool array_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (json_is_string(v) &&
                                    strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

static json_t *find_by(const json_t *a, const char *key, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(json_object_get(v, key));
        if (s && strcmp(s, value) == 0)
            return v;
    }
    return NULL;
}

/* The rule of the seccomp profile that names syscall, or NULL. */
static json_t *seccomp_rule(const json_t *config, const char *syscall)
{
    json_t *calls =
        json_object_get(json_object_get(json_object_get(config, "linux"), "seccomp"), "syscalls");
    size_t i;
    json_t *r;
    json_array_foreach(calls, i, r) if (array_has(json_object_get(r, "names"), syscall)) return r;
    return NULL;
}

static json_t *build(const struct oci_container_spec *spec, const struct oci_host *host,
                     struct buf *warnings)
{
    _cleanup_error_ struct error *err = NULL;
    json_t *c = oci_bundle_config(spec, host, warnings, &err);
    if (!c)
        fail_msg("config: %s", err->msg);
    return c;
}

static void test_capabilities(void **state)
{
    (void)state;
    struct oci_container_spec spec = base_spec();
    json_t *c = build(&spec, &host_here, NULL);
    json_t *caps = json_object_get(json_object_get(c, "process"), "capabilities");
    static const char *const want[] = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE",
    };
    const char *sets[] = {"bounding", "effective", "permitted"};
    for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
        json_t *a = json_object_get(caps, sets[s]);
        assert_int_equal(ARRAY_SIZE(want), json_array_size(a));
        for (size_t i = 0; i < ARRAY_SIZE(want); i++)
            assert_true(array_has(a, want[i]));
        assert_false(array_has(a, "CAP_SYS_PTRACE"));
    }
    assert_int_equal(0, json_array_size(json_object_get(caps, "inheritable")));
    assert_int_equal(0, json_array_size(json_object_get(caps, "ambient")));
    /* Docker's CapEff for root in a default container. */
    assert_int_equal(0xa80425fbULL, oci_caps_default());
    assert_true(json_is_true(json_object_get(json_object_get(c, "process"), "noNewPrivileges")));
    json_decref(c);

    spec.add_sys_ptrace = true;
    c = build(&spec, &host_here, NULL);
    caps = json_object_get(json_object_get(c, "process"), "capabilities");
    assert_true(array_has(json_object_get(caps, "effective"), "CAP_SYS_PTRACE"));
    assert_int_equal(ARRAY_SIZE(want) + 1, json_array_size(json_object_get(caps, "bounding")));
    assert_non_null(seccomp_rule(c, "process_vm_readv"));
    json_decref(c);

    /* Drops come first; seccomp follows the set that is left. */
    static const struct {
        const char *names[3];
        bool ptrace;
        size_t n_left;
        bool chroot;
    } drops[] = {
        {{"CHOWN", "CAP_NET_RAW", NULL}, false, 12, true},
        {{"SYS_CHROOT", NULL}, true, 14, false},
        {{"MAC_ADMIN", NULL}, false, 14, true}, /* not in the default set */
    };
    for (size_t k = 0; k < ARRAY_SIZE(drops); k++) {
        spec.drop_caps = 0;
        for (size_t i = 0; drops[k].names[i]; i++) {
            int n = oci_cap_from_name(drops[k].names[i]);
            if (n >= 0)
                spec.drop_caps |= UINT64_C(1) << n;
        }
        spec.add_sys_ptrace = drops[k].ptrace;
        c = build(&spec, &host_here, NULL);
        caps = json_object_get(json_object_get(c, "process"), "capabilities");
        assert_int_equal(drops[k].n_left, json_array_size(json_object_get(caps, "effective")));
        for (size_t i = 0; drops[k].names[i]; i++) {
            char name[64];
            snprintf(name, sizeof(name), "CAP_%s",
                     strncmp(drops[k].names[i], "CAP_", 4) ? drops[k].names[i]
                                                           : drops[k].names[i] + 4);
            assert_false(array_has(json_object_get(caps, "bounding"), name));
        }
        assert_int_equal(drops[k].chroot, seccomp_rule(c, "chroot") != NULL);
        json_decref(c);
    }
    /* drop ALL, add SYS_PTRACE */
    spec.drop_caps = UINT64_MAX;
    spec.add_sys_ptrace = true;
    c = build(&spec, &host_here, NULL);
    caps = json_object_get(json_object_get(c, "process"), "capabilities");
    assert_int_equal(1, json_array_size(json_object_get(caps, "effective")));
    assert_true(array_has(json_object_get(caps, "effective"), "CAP_SYS_PTRACE"));
    json_decref(c);
    assert_int_equal(CAP_SYS_PTRACE, oci_cap_from_name("SYS_PTRACE"));
    assert_int_equal(CAP_CHOWN, oci_cap_from_name("CAP_CHOWN"));
    assert_int_equal(-1, oci_cap_from_name("NO_SUCH"));
    assert_int_equal(-1, oci_cap_from_name(NULL));
}

/* Syscalls a default container may not make, and some it must. */
static const char *const denied[] = {
    "mount",
    "umount2",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "open_by_handle_at",
    "userfaultfd",
    "clock_settime",
    "settimeofday",
    "pivot_root",
    "acct",
    "quotactl",
    "syslog",
    "lookup_dcookie",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "fsopen",
    "move_mount",
};
static const char *const allowed[] = {
    "read",  "write",      "openat", "execve",     "clone",        "socket", "ptrace", "chroot",
    "futex", "epoll_wait", "mmap",   "exit_group", "rt_sigreturn", "wait4",  "prctl",
};

static void test_seccomp(void **state)
{
    (void)state;
    struct oci_container_spec spec = base_spec();
    json_t *c = build(&spec, &host_here, NULL);
    json_t *sc = json_object_get(json_object_get(c, "linux"), "seccomp");
    assert_string_equal("SCMP_ACT_ERRNO", json_string_value(json_object_get(sc, "defaultAction")));
    assert_int_equal(EPERM, json_integer_value(json_object_get(sc, "defaultErrnoRet")));
    assert_true(json_array_size(json_object_get(sc, "architectures")) > 0);
    for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
        if (seccomp_rule(c, denied[i]))
            fail_msg("%s is allowed", denied[i]);
    for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
        json_t *r = seccomp_rule(c, allowed[i]);
        if (!r || strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ALLOW") != 0)
            fail_msg("%s is not allowed", allowed[i]);
    }
    /* clone only without namespace flags */
    json_t *arg = json_array_get(json_object_get(seccomp_rule(c, "clone"), "args"), 0);
    assert_string_equal("SCMP_CMP_MASKED_EQ", json_string_value(json_object_get(arg, "op")));
    assert_int_equal(0x7E020000, json_integer_value(json_object_get(arg, "value")));
    /* clone3 looks unimplemented */
    json_t *r = seccomp_rule(c, "clone3");
    assert_string_equal("SCMP_ACT_ERRNO", json_string_value(json_object_get(r, "action")));
    assert_int_equal(ENOSYS, json_integer_value(json_object_get(r, "errnoRet")));
    /* no AF_VSOCK sockets */
    arg = json_array_get(json_object_get(seccomp_rule(c, "socket"), "args"), 0);
    assert_string_equal("SCMP_CMP_NE", json_string_value(json_object_get(arg, "op")));
    assert_int_equal(40, json_integer_value(json_object_get(arg, "value")));
    json_decref(c);
}

static void test_paths_mounts_namespaces(void **state)
{
    (void)state;
    struct oci_container_spec spec = base_spec();
    json_t *c = build(&spec, &host_here, NULL);
    json_t *lx = json_object_get(c, "linux");
    const char *masked[] = {"/proc/kcore",   "/proc/keys",        "/proc/timer_list",
                            "/sys/firmware", "/proc/sched_debug", "/proc/acpi"};
    for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
        assert_true(array_has(json_object_get(lx, "maskedPaths"), masked[i]));
    const char *ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"};
    for (size_t i = 0; i < ARRAY_SIZE(ro); i++)
        assert_true(array_has(json_object_get(lx, "readonlyPaths"), ro[i]));

    struct {
        const char *dest, *type, *source, *option;
    } mounts[] = {
        {"/proc", "proc", "proc", "nosuid"},
        {"/dev", "tmpfs", "tmpfs", "mode=755"},
        {"/dev/pts", "devpts", "devpts", "newinstance"},
        {"/dev/shm", "tmpfs", "shm", "nodev"},
        {"/dev/mqueue", "mqueue", "mqueue", "noexec"},
        {"/sys", "sysfs", "sysfs", "ro"},
        {"/etc/hosts", "bind", "/run/skiff/t1/hosts", "rbind"},
        {"/etc/resolv.conf", "bind", "/run/skiff/t1/resolv.conf", "rbind"},
    };
    json_t *ms = json_object_get(c, "mounts");
    assert_int_equal(ARRAY_SIZE(mounts), json_array_size(ms));
    for (size_t i = 0; i < ARRAY_SIZE(mounts); i++) {
        json_t *m = find_by(ms, "destination", mounts[i].dest);
        assert_non_null(m);
        assert_string_equal(mounts[i].type, json_string_value(json_object_get(m, "type")));
        assert_string_equal(mounts[i].source, json_string_value(json_object_get(m, "source")));
        assert_true(array_has(json_object_get(m, "options"), mounts[i].option));
    }

    json_t *ns = json_object_get(lx, "namespaces");
    const char *types[] = {"pid", "ipc", "uts", "mount", "network"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        assert_non_null(find_by(ns, "type", types[i]));
    assert_null(find_by(ns, "type", "user"));
    assert_string_equal("/run/skiff/netns/t1",
                        json_string_value(json_object_get(find_by(ns, "type", "network"), "path")));
    assert_string_equal("/skiff/t1/web", json_string_value(json_object_get(lx, "cgroupsPath")));
    /* Only the device allow-list: limits are skiff's cgroups' business. */
    json_t *res = json_object_get(lx, "resources");
    assert_int_equal(1, json_object_size(res));
    json_t *dev0 = json_array_get(json_object_get(res, "devices"), 0);
    assert_true(json_is_false(json_object_get(dev0, "allow")));
    assert_string_equal("web", json_string_value(json_object_get(c, "hostname")));
    json_decref(c);
}

struct nofile_case {
    const char *name;
    const struct oci_host *host;
    uint64_t soft, hard; /* asked; 0 = the Fargate default */
    uint64_t want_soft, want_hard;
    bool warns;
};

static const struct nofile_case nofile_cases[] = {
    {"default here", &host_here, 0, 0, 20000, 20000, true},
    {"default with CAP_SYS_RESOURCE", &host_cap, 0, 0, 65535, 65535, false},
    {"nr_open caps even root", &host_cap_low_nr_open, 0, 0, 40000, 40000, true},
    {"small stays", &host_here, 1024, 4096, 1024, 4096, false},
    {"soft under clamp", &host_here, 1024, 65535, 1024, 20000, true},
    {"soft clamped too", &host_here, 30000, 40000, 20000, 20000, true},
};

static void test_nofile(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(nofile_cases); i++) {
        const struct nofile_case *t = &nofile_cases[i];
        struct oci_container_spec spec = base_spec();
        struct oci_rlimit rl = {"RLIMIT_NOFILE", t->soft, t->hard};
        if (t->hard) {
            spec.rlimits = &rl;
            spec.n_rlimits = 1;
        }
        struct buf w;
        buf_init(&w, 4096);
        json_t *c = build(&spec, t->host, &w);
        json_t *r = json_array_get(json_object_get(json_object_get(c, "process"), "rlimits"), 0);
        assert_string_equal("RLIMIT_NOFILE", json_string_value(json_object_get(r, "type")));
        if ((uint64_t)json_integer_value(json_object_get(r, "soft")) != t->want_soft ||
            (uint64_t)json_integer_value(json_object_get(r, "hard")) != t->want_hard)
            fail_msg("%s: got %lld/%lld", t->name,
                     (long long)json_integer_value(json_object_get(r, "soft")),
                     (long long)json_integer_value(json_object_get(r, "hard")));
        assert_int_equal(t->warns, w.len > 0);
        if (t->warns)
            assert_non_null(strstr(w.data, "clamped"));
        buf_done(&w);
        json_decref(c);
    }
}

static void test_options(void **state)
{
    (void)state;
    struct oci_container_spec spec = base_spec();
    spec.readonly_rootfs = true;
    spec.init_path = "/usr/bin/catatonit";
    spec.cwd = "/srv";
    spec.uid = 1000;
    spec.gid = 1000;
    uint32_t gids[] = {10, 20};
    spec.additional_gids = gids;
    spec.n_additional_gids = 2;
    const char *const vol_opts[] = {"rbind", "ro", NULL};
    struct oci_mount vol = {"/data", "bind", "/var/lib/skiff/tasks/t1/vol/data", vol_opts};
    spec.mounts = &vol;
    spec.n_mounts = 1;
    json_t *c = build(&spec, &host_here, NULL);
    assert_true(json_is_true(json_object_get(json_object_get(c, "root"), "readonly")));
    json_t *p = json_object_get(c, "process");
    json_t *args = json_object_get(p, "args");
    assert_string_equal("/dev/init", json_string_value(json_array_get(args, 0)));
    assert_string_equal("--", json_string_value(json_array_get(args, 1)));
    assert_string_equal("/bin/echo", json_string_value(json_array_get(args, 2)));
    assert_string_equal("/srv", json_string_value(json_object_get(p, "cwd")));
    json_t *user = json_object_get(p, "user");
    assert_int_equal(1000, json_integer_value(json_object_get(user, "uid")));
    assert_int_equal(2, json_array_size(json_object_get(user, "additionalGids")));
    json_t *init = find_by(json_object_get(c, "mounts"), "destination", "/dev/init");
    assert_string_equal("/usr/bin/catatonit", json_string_value(json_object_get(init, "source")));
    assert_true(array_has(json_object_get(init, "options"), "ro"));
    assert_non_null(find_by(json_object_get(c, "mounts"), "destination", "/data"));
    /* A default PATH is added when the environment has none. */
    assert_true(array_has(json_object_get(p, "env"), "A=1"));
    assert_int_equal(
        0, strncmp("PATH=", json_string_value(json_array_get(json_object_get(p, "env"), 0)), 5));
    json_decref(c);
}

struct invalid_case {
    const char *name;
    void (*mutate)(struct oci_container_spec *spec);
};

static const char *const no_args[] = {NULL};
static const char *const empty_arg[] = {"", NULL};
static const struct oci_mount dotdot = {"/data/../etc", "bind", "/tmp", NULL};
static const struct oci_rlimit backwards = {"RLIMIT_NOFILE", 10, 5};
static const struct oci_rlimit unknown_type = {"NOFILE", 10, 10};

static void m_id(struct oci_container_spec *s)
{
    s->id = "a/b";
}
static void m_noid(struct oci_container_spec *s)
{
    s->id = NULL;
}
static void m_noargs(struct oci_container_spec *s)
{
    s->args = no_args;
}
static void m_emptyarg(struct oci_container_spec *s)
{
    s->args = empty_arg;
}
static void m_cwd(struct oci_container_spec *s)
{
    s->cwd = "srv";
}
static void m_netns(struct oci_container_spec *s)
{
    s->netns_path = "netns/t1";
}
static void m_hosts(struct oci_container_spec *s)
{
    s->hosts_file = "/run/../etc/hosts";
}
static void m_mount(struct oci_container_spec *s)
{
    s->mounts = &dotdot;
    s->n_mounts = 1;
}
static void m_rl(struct oci_container_spec *s)
{
    s->rlimits = &backwards;
    s->n_rlimits = 1;
}
static void m_rltype(struct oci_container_spec *s)
{
    s->rlimits = &unknown_type;
    s->n_rlimits = 1;
}

static const struct invalid_case invalid_cases[] = {
    {"bad id", m_id},          {"no id", m_noid},         {"no args", m_noargs},
    {"empty arg", m_emptyarg}, {"relative cwd", m_cwd},   {"relative netns", m_netns},
    {"dotdot hosts", m_hosts}, {"dotdot mount", m_mount}, {"soft > hard", m_rl},
    {"rlimit type", m_rltype},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
        struct oci_container_spec spec = base_spec();
        invalid_cases[i].mutate(&spec);
        _cleanup_error_ struct error *err = NULL;
        json_t *c = oci_bundle_config(&spec, &host_here, NULL, &err);
        if (c)
            fail_msg("%s: accepted", invalid_cases[i].name);
        assert_non_null(err);
        assert_int_equal(EINVAL, err->errnum);
    }
}

static void test_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/skiff-bundle-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *bundle = xasprintf("%s/b", dir);
    struct oci_container_spec spec = base_spec();
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(0, oci_bundle_write(bundle, &spec, &host_here, NULL, &err));
    _cleanup_free_ char *cfg = xasprintf("%s/config.json", bundle);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
    struct stat st;
    assert_int_equal(0, stat(rootfs, &st));
    assert_true(S_ISDIR(st.st_mode));
    json_error_t jerr;
    json_t *c = json_load_file(cfg, 0, &jerr);
    assert_non_null(c);
    assert_string_equal("rootfs",
                        json_string_value(json_object_get(json_object_get(c, "root"), "path")));
    json_decref(c);
    /* No temp file is left behind. */
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", cfg);
    assert_int_equal(-1, access(tmp, F_OK));
    /* An invalid spec writes nothing and says why. */
    spec.args = no_args;
    _cleanup_error_ struct error *err2 = NULL;
    assert_int_equal(-EINVAL, oci_bundle_write(bundle, &spec, &host_here, NULL, &err2));
    assert_non_null(err2);
    assert_int_equal(0, oci_dir_remove_tree(dir, NULL));
    assert_int_equal(-1, access(dir, F_OK));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_seccomp),
        cmocka_unit_test(test_paths_mounts_namespaces),
        cmocka_unit_test(test_nofile),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
