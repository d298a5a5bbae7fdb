/* config.json from a struct oci_container_spec. The defaults follow Docker
 * and Podman (moby's oci/defaults.go and the runtime-spec's example): the
 * same mounts, masked and read-only paths, capability set and device
 * allow-list, so that images behave as they do there. */
#include "oci/bundle.h"
#include "oci/oci-internal.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define OCI_VERSION    "1.0.2"
#define NOFILE_FARGATE 65535
#define INIT_PATH      "/dev/init" /* where init_path is mounted in the container */

static const char *const masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

struct mount_default {
    const char *destination, *type, *source;
    const char *const options[8];
};

static const struct mount_default default_mounts[] = {
    {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev", NULL}},
    {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
    {"/dev/pts",
     "devpts",
     "devpts",
     {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL}},
    {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}},
    {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev", NULL}},
    {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro", NULL}},
};

/* Character devices a container may use (besides mknod of any device,
 * which is harmless without the right to open it): null, zero, full,
 * random, urandom, tty, console, ptmx and the pty slaves. */
static const struct {
    int64_t major, minor; /* -1: any */
} allowed_devices[] = {
    {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, -1},
};

void oci_host_detect(struct oci_host *host)
{
    struct rlimit rl;
    *host = (struct oci_host){0};
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capget, &hdr, data) == 0)
        host->cap_sys_resource = (data[0].effective & (1u << CAP_SYS_RESOURCE)) != 0;
    host->nr_open = 1048576;
    _cleanup_free_ char *s = NULL;
    if (oci_file_read_at(AT_FDCWD, "/proc/sys/fs/nr_open", 32, &s, NULL) == 0)
        host->nr_open = strtoull(s, NULL, 10);
    host->nofile_hard = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_max : 1024;
}

static json_t *strv(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *mount_json(const char *dest, const char *type, const char *source,
                          const char *const *options)
{
    json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dest, "type", type, "source", source);
    if (options && options[0])
        json_object_set_new(m, "options", strv(options));
    return m;
}

/* Absolute, and no ".." component. */
static bool abs_path(const char *p)
{
    if (!p || p[0] != '/')
        return false;
    for (const char *c = p; (c = strstr(c, "..")); c += 2)
        if (c[-1] == '/' && (c[2] == '/' || c[2] == '\0'))
            return false;
    return true;
}

/* The rlimits to apply, clamped to what the host lets the runtime set:
 * without CAP_SYS_RESOURCE no hard limit may exceed this process's own;
 * with it, nofile may still not exceed fs.nr_open. */
static json_t *rlimits_json(const struct oci_container_spec *spec, const struct oci_host *host,
                            struct buf *warnings)
{
    static const struct oci_rlimit fargate_default = {"RLIMIT_NOFILE", NOFILE_FARGATE,
                                                      NOFILE_FARGATE};
    const struct oci_rlimit *rl = spec->rlimits ? spec->rlimits : &fargate_default;
    size_t n = spec->rlimits ? spec->n_rlimits : 1;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        uint64_t soft = rl[i].soft, hard = rl[i].hard;
        if (strcmp(rl[i].type, "RLIMIT_NOFILE") == 0) {
            uint64_t max = host->cap_sys_resource ? host->nr_open : host->nofile_hard;
            if (hard > max) {
                if (warnings)
                    buf_printf(warnings,
                               "ulimit nofile: hard limit %" PRIu64 " exceeds what the host "
                               "permits (%" PRIu64 "%s); clamped to %" PRIu64 "\n",
                               hard, max,
                               host->cap_sys_resource ? ", fs.nr_open" : ", no CAP_SYS_RESOURCE",
                               max);
                hard = max;
            }
            if (soft > hard)
                soft = hard;
        }
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "type", rl[i].type, "soft",
                                           (json_int_t)soft, "hard", (json_int_t)hard));
    }
    return a;
}

static json_t *caps_json(uint64_t caps)
{
    json_t *a = json_array();
    for (unsigned c = 0; c < 64; c++)
        if (caps & OCI_CAP(c)) {
            const char *name = oci_cap_name(c);
            if (name)
                json_array_append_new(a, json_string(name));
        }
    return a;
}

static json_t *process_json(const struct oci_container_spec *spec, const struct oci_host *host,
                            uint64_t caps, struct buf *warnings)
{
    json_t *args = json_array();
    if (spec->init_path) {
        /* catatonit as PID 1 reaps zombies and forwards signals. */
        json_array_append_new(args, json_string(INIT_PATH));
        json_array_append_new(args, json_string("--"));
    }
    for (size_t i = 0; spec->args[i]; i++)
        json_array_append_new(args, json_string(spec->args[i]));

    json_t *gids = json_array();
    for (size_t i = 0; i < spec->n_additional_gids; i++)
        json_array_append_new(gids, json_integer(spec->additional_gids[i]));
    json_t *user =
        json_pack("{s:I, s:I}", "uid", (json_int_t)spec->uid, "gid", (json_int_t)spec->gid);
    if (spec->n_additional_gids)
        json_object_set_new(user, "additionalGids", gids);
    else
        json_decref(gids);

    json_t *env = strv(spec->env);
    /* A PATH is needed to find args[0]; Docker adds the same default. */
    bool has_path = false;
    for (size_t i = 0; spec->env && spec->env[i]; i++)
        if (strncmp(spec->env[i], "PATH=", 5) == 0)
            has_path = true;
    if (!has_path)
        json_array_insert_new(
            env, 0,
            json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));

    json_t *capset = caps_json(caps);
    json_t *capabilities = json_pack("{s:O, s:O, s:O, s:[], s:[]}", "bounding", capset, "effective",
                                     capset, "permitted", capset, "inheritable", "ambient");
    json_decref(capset);

    return json_pack("{s:b, s:o, s:o, s:o, s:s, s:o, s:o, s:b, s:i}", "terminal", 0, "user", user,
                     "args", args, "env", env, "cwd", spec->cwd ? spec->cwd : "/", "capabilities",
                     capabilities, "rlimits", rlimits_json(spec, host, warnings), "noNewPrivileges",
                     1, "oomScoreAdj", 0);
}

static json_t *mounts_json(const struct oci_container_spec *spec)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++) {
        const struct mount_default *d = &default_mounts[i];
        json_array_append_new(a, mount_json(d->destination, d->type, d->source, d->options));
    }
    static const char *const bind_rw[] = {"rbind", "rprivate", NULL};
    static const char *const bind_ro[] = {"rbind", "rprivate", "ro", "nosuid", "nodev", NULL};
    if (spec->hosts_file)
        json_array_append_new(a, mount_json("/etc/hosts", "bind", spec->hosts_file, bind_rw));
    if (spec->resolv_conf)
        json_array_append_new(a,
                              mount_json("/etc/resolv.conf", "bind", spec->resolv_conf, bind_rw));
    if (spec->init_path)
        json_array_append_new(a, mount_json(INIT_PATH, "bind", spec->init_path, bind_ro));
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct oci_mount *m = &spec->mounts[i];
        json_array_append_new(a, mount_json(m->destination, m->type ? m->type : "bind",
                                            m->source ? m->source : "none", m->options));
    }
    return a;
}

static json_t *devices_json(void)
{
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:b, s:s}", "allow", 0, "access", "rwm"));
    json_array_append_new(a, json_pack("{s:b, s:s, s:s}", "allow", 1, "type", "c", "access", "m"));
    json_array_append_new(a, json_pack("{s:b, s:s, s:s}", "allow", 1, "type", "b", "access", "m"));
    for (size_t i = 0; i < ARRAY_SIZE(allowed_devices); i++) {
        json_t *d = json_pack("{s:b, s:s, s:I, s:s}", "allow", 1, "type", "c", "major",
                              (json_int_t)allowed_devices[i].major, "access", "rwm");
        if (allowed_devices[i].minor >= 0)
            json_object_set_new(d, "minor", json_integer(allowed_devices[i].minor));
        json_array_append_new(a, d);
    }
    return a;
}

static json_t *linux_json(const struct oci_container_spec *spec, uint64_t caps)
{
    json_t *ns = json_array();
    const char *types[] = {"pid", "ipc", "uts", "mount", "cgroup"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        json_array_append_new(ns, json_pack("{s:s}", "type", types[i]));
    json_t *net = json_pack("{s:s}", "type", "network");
    if (spec->netns_path)
        json_object_set_new(net, "path", json_string(spec->netns_path));
    json_array_append_new(ns, net);

    json_t *l = json_pack("{s:o, s:o, s:o, s:o, s:o, s:{s:s, s:s}}", "namespaces", ns,
                          "maskedPaths", strv(masked_paths), "readonlyPaths", strv(readonly_paths),
                          "resources", json_pack("{s:o}", "devices", devices_json()), "seccomp",
                          oci_seccomp_profile(caps),
                          /* Namespaced sysctls Docker sets for a container with its own
                           * network namespace: ping without privileges, low ports too. */
                          "sysctl", "net.ipv4.ping_group_range", "0 2147483647",
                          "net.ipv4.ip_unprivileged_port_start", "0");
    if (spec->cgroups_path)
        json_object_set_new(l, "cgroupsPath", json_string(spec->cgroups_path));
    return l;
}

static int validate(const struct oci_container_spec *spec, struct error **err)
{
    if (!spec->id || !oci_name_valid(spec->id))
        return error_set(err, EINVAL, NULL, "container id: invalid");
    if (!spec->args || !spec->args[0] || !spec->args[0][0])
        return error_set(err, EINVAL, NULL, "container %s: no command", spec->id);
    if (spec->cwd && spec->cwd[0] != '/')
        return error_set(err, EINVAL, NULL, "container %s: working directory %s is not absolute",
                         spec->id, spec->cwd);
    const char *paths[] = {spec->hosts_file, spec->resolv_conf, spec->init_path, spec->netns_path,
                           spec->cgroups_path};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
        if (paths[i] && !abs_path(paths[i]))
            return error_set(err, EINVAL, NULL, "container %s: %s is not a clean absolute path",
                             spec->id, paths[i]);
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (!abs_path(spec->mounts[i].destination))
            return error_set(err, EINVAL, NULL,
                             "container %s: a mount destination is not a clean absolute path",
                             spec->id);
    for (size_t i = 0; i < spec->n_rlimits; i++)
        if (!spec->rlimits[i].type || strncmp(spec->rlimits[i].type, "RLIMIT_", 7) != 0 ||
            spec->rlimits[i].soft > spec->rlimits[i].hard)
            return error_set(err, EINVAL, NULL, "container %s: invalid rlimit", spec->id);
    return 0;
}

json_t *oci_bundle_config(const struct oci_container_spec *spec, const struct oci_host *host,
                          struct buf *warnings, struct error **err)
{
    if (validate(spec, err) < 0)
        return NULL;
    /* Dropping comes first, as in Docker: drop ALL, add SYS_PTRACE leaves
     * SYS_PTRACE alone. */
    uint64_t caps = oci_caps_default() & ~spec->drop_caps;
    if (spec->add_sys_ptrace)
        caps |= OCI_CAP(CAP_SYS_PTRACE);

    json_t *config = json_pack("{s:s, s:o, s:{s:s, s:b}, s:o, s:o}", "ociVersion", OCI_VERSION,
                               "process", process_json(spec, host, caps, warnings), "root", "path",
                               "rootfs", "readonly", spec->readonly_rootfs, "mounts",
                               mounts_json(spec), "linux", linux_json(spec, caps));
    if (spec->hostname)
        json_object_set_new(config, "hostname", json_string(spec->hostname));
    /* Without the BPF (libseccomp failed) crun compiles linux.seccomp
     * itself: the same filter, only slower. */
    char *bpf = NULL;
    if (spec->seccomp_bpf && oci_seccomp_bpf(caps, &bpf) == 0)
        json_object_set_new(config, "annotations",
                            json_pack("{s:s%}", "run.oci.seccomp_bpf_data", bpf, strlen(bpf)));
    free(bpf);
    return config;
}

int oci_bundle_write(const char *bundle_dir, const struct oci_container_spec *spec,
                     const struct oci_host *host, struct buf *warnings, struct error **err)
{
    struct error *e = NULL;
    json_t *config = oci_bundle_config(spec, host, warnings, &e);
    if (!config) {
        int r = -e->errnum;
        if (err && !*err)
            *err = e;
        else
            error_free(e);
        return r;
    }
    _cleanup_free_ char *text = json_dumps(config, JSON_COMPACT);
    json_decref(config);
    int r = oci_dir_make(bundle_dir, 0700, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle_dir);
    if (mkdir(rootfs, 0755) < 0 && errno != EEXIST)
        return error_errno(err, errno, "mkdir %s", rootfs);
    _cleanup_free_ char *path = xasprintf("%s/config.json", bundle_dir);
    return oci_file_replace(path, text, strlen(text), 0600, err);
}
