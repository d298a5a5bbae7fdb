/* cgroup v2 backend: the unified hierarchy. Controllers must be enabled in
 * cgroup.subtree_control of every ancestor; processes live only in leaves
 * (the container cgroups), so the task cgroup can delegate to them. */
#include "oci/cgroup-internal.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define V2_CONTROLLERS "+cpu +memory +pids"

static int write_num(int dfd, const char *name, int64_t v, struct error **err)
{
    char s[32];
    snprintf(s, sizeof(s), "%" PRId64, v);
    return oci_file_write_at(dfd, name, s, err);
}

static int write_max(int dfd, const char *name, int64_t v, struct error **err)
{
    if (v > 0)
        return write_num(dfd, name, v, err);
    return oci_file_write_at(dfd, name, "max", err);
}

/* Creates every directory of rel below the root, enabling the controllers
 * for the children of the root and of each ancestor. */
static int make_path(const char *root, const char *rel, bool delegate, struct error **err)
{
    _cleanup_free_ char *rootctl = xasprintf("%s/cgroup.subtree_control", root);
    int r = oci_file_write_at(AT_FDCWD, rootctl, V2_CONTROLLERS, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = xasprintf("%s%s", root, rel);
    size_t rootlen = strlen(root);
    for (char *s = path + rootlen + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return error_errno(err, errno, "mkdir %s", path);
        if (c || delegate) {
            _cleanup_free_ char *ctl = xasprintf("%s/cgroup.subtree_control", path);
            if ((r = oci_file_write_at(AT_FDCWD, ctl, V2_CONTROLLERS, err)) < 0)
                return r;
        }
        *s = c;
        if (!c)
            break;
    }
    return 0;
}

static int v2_create(struct oci_cgroups *cg, const char *rel, const struct oci_cgroup_limits *lim,
                     bool is_task, struct error **err)
{
    int r = make_path(cg->unified, rel, is_task, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = xasprintf("%s%s", cg->unified, rel);
    _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return error_errno(err, errno, "open %s", path);
    bool swap = faccessat(dfd, "memory.swap.max", F_OK, 0) == 0;
    if (is_task) {
        char cpu[64];
        if (lim->cpu_quota > 0)
            snprintf(cpu, sizeof(cpu), "%" PRId64 " %d", oci_cgroup_quota_us(lim->cpu_quota),
                     OCI_CGROUP_CPU_PERIOD);
        else
            snprintf(cpu, sizeof(cpu), "max %d", OCI_CGROUP_CPU_PERIOD);
        if ((r = oci_file_write_at(dfd, "cpu.max", cpu, err)) < 0 ||
            (r = write_max(dfd, "memory.max", lim->memory_max, err)) < 0 ||
            (r = write_max(dfd, "pids.max", lim->pids_max, err)) < 0)
            return r;
        if (swap && lim->memory_max > 0 && (r = write_num(dfd, "memory.swap.max", 0, err)) < 0)
            return r;
        return 0;
    }
    if (lim->cpu_shares > 0 &&
        (r = write_num(dfd, "cpu.weight",
                       (int64_t)oci_cgroup_shares_to_weight(oci_cgroup_shares(lim->cpu_shares)),
                       err)) < 0)
        return r;
    if (lim->memory_max > 0 && (r = write_num(dfd, "memory.max", lim->memory_max, err)) < 0)
        return r;
    if (lim->memory_reservation > 0 &&
        (r = write_num(dfd, "memory.low", lim->memory_reservation, err)) < 0)
        return r;
    if (swap && lim->memory_max > 0 && (r = write_num(dfd, "memory.swap.max", 0, err)) < 0)
        return r;
    return 0;
}

static int v2_usage(struct oci_cgroups *cg, const char *rel, struct oci_cgroup_usage *u,
                    struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s%s", cg->unified, rel);
    _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return error_errno(err, errno, "open %s", path);
    uint64_t usec = 0;
    int r;
    if ((r = oci_file_read_keyed_at(dfd, "cpu.stat", "usage_usec", &usec, err)) < 0 ||
        (r = oci_file_read_u64_at(dfd, "memory.current", &u->memory_current, err)) < 0 ||
        (r = oci_file_read_keyed_at(dfd, "memory.events", "oom_kill", &u->oom_kills, err)) < 0 ||
        (r = oci_file_read_u64_at(dfd, "pids.current", &u->pids_current, err)) < 0)
        return r;
    u->cpu_ns = usec * 1000;
    /* memory.peak arrived in Linux 5.19. */
    if (oci_file_read_u64_at(dfd, "memory.peak", &u->memory_peak, NULL) < 0)
        u->memory_peak = 0;
    return 0;
}

static int v2_kill(struct oci_cgroups *cg, const char *rel, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s%s", cg->unified, rel);
    _cleanup_free_ char *killf = xasprintf("%s/cgroup.kill", path);
    /* cgroup.kill (Linux 5.14) kills atomically, forks included; the walk
     * below then only confirms the cgroup emptied. */
    if (access(killf, F_OK) == 0)
        oci_file_write_at(AT_FDCWD, killf, "1", NULL);
    return oci_cgroup_tree_kill(path, err);
}

static int v2_remove(struct oci_cgroups *cg, const char *rel, struct error **err)
{
    return oci_cgroup_tree_remove(cg->unified, rel, err);
}

const struct cgroup_ops oci_cgroup_v2_ops = {
    .name = "v2",
    .create = v2_create,
    .usage = v2_usage,
    .kill = v2_kill,
    .remove = v2_remove,
};
