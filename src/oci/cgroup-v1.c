/* cgroup v1 backend (and hybrid, which limits through v1 too): one
 * hierarchy per controller. skiff creates its cgroups in the cpu, cpuacct,
 * memory and pids hierarchies; the runtime adds the same path in the others
 * (cpuset, devices, freezer, ...) when it joins the container, and removal
 * sweeps every hierarchy. */
#include "oci/cgroup-internal.h"
#include "oci/util.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int open_dir(const char *mount, const char *rel, int *ret, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s%s", mount, rel);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", path);
    *ret = fd;
    return 0;
}

static int write_num(int dfd, const char *name, int64_t v, struct error **err)
{
    char s[32];
    snprintf(s, sizeof(s), "%" PRId64, v);
    return oci_file_write_at(dfd, name, s, err);
}

/* memory.limit_in_bytes, with memory.memsw.limit_in_bytes (present when swap
 * accounting is on) set to the same value so that swap cannot extend it.
 * memsw must stay >= the memory limit at every step, hence the order. */
static int set_memory_limit(int dfd, int64_t limit, struct error **err)
{
    bool memsw = faccessat(dfd, "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
    int r;
    if (memsw && (r = write_num(dfd, "memory.memsw.limit_in_bytes", -1, err)) < 0)
        return r;
    if ((r = write_num(dfd, "memory.limit_in_bytes", limit > 0 ? limit : -1, err)) < 0)
        return r;
    if (memsw && limit > 0 && (r = write_num(dfd, "memory.memsw.limit_in_bytes", limit, err)) < 0)
        return r;
    return 0;
}

static int v1_create(struct oci_cgroups *cg, const char *rel, const struct oci_cgroup_limits *lim,
                     bool is_task, struct error **err)
{
    const char *mounts[] = {cg->cpu, cg->cpuacct, cg->memory, cg->pids};
    int r;
    for (size_t i = 0; i < ARRAY_SIZE(mounts); i++) {
        _cleanup_free_ char *path = xasprintf("%s%s", mounts[i], rel);
        if ((r = oci_dir_make(path, 0755, err)) < 0)
            return r;
    }
    _cleanup_close_ int cpu = -1, mem = -1, pids = -1;
    if ((r = open_dir(cg->cpu, rel, &cpu, err)) < 0 ||
        (r = open_dir(cg->memory, rel, &mem, err)) < 0 ||
        (r = open_dir(cg->pids, rel, &pids, err)) < 0)
        return r;
    if (is_task) {
        if ((r = write_num(cpu, "cpu.cfs_period_us", OCI_CGROUP_CPU_PERIOD, err)) < 0 ||
            (r = write_num(cpu, "cpu.cfs_quota_us",
                           lim->cpu_quota > 0 ? oci_cgroup_quota_us(lim->cpu_quota) : -1, err)) < 0)
            return r;
        if ((r = set_memory_limit(mem, lim->memory_max, err)) < 0)
            return r;
        if (lim->pids_max > 0)
            r = write_num(pids, "pids.max", lim->pids_max, err);
        else
            r = oci_file_write_at(pids, "pids.max", "max", err);
        return r < 0 ? r : 0;
    }
    if (lim->cpu_shares > 0 &&
        (r = write_num(cpu, "cpu.shares", (int64_t)oci_cgroup_shares(lim->cpu_shares), err)) < 0)
        return r;
    if (lim->memory_max > 0 && (r = set_memory_limit(mem, lim->memory_max, err)) < 0)
        return r;
    if (lim->memory_reservation > 0 &&
        (r = write_num(mem, "memory.soft_limit_in_bytes", lim->memory_reservation, err)) < 0)
        return r;
    return 0;
}

static int read_oom_kill(int dfd, uint64_t *ret)
{
    return oci_file_read_keyed_at(dfd, "memory.oom_control", "oom_kill", ret, NULL);
}

static int v1_usage(struct oci_cgroups *cg, const char *rel, struct oci_cgroup_usage *u,
                    struct error **err)
{
    _cleanup_close_ int acct = -1, mem = -1, pids = -1;
    int r;
    if ((r = open_dir(cg->cpuacct, rel, &acct, err)) < 0 ||
        (r = open_dir(cg->memory, rel, &mem, err)) < 0 ||
        (r = open_dir(cg->pids, rel, &pids, err)) < 0)
        return r;
    if ((r = oci_file_read_u64_at(acct, "cpuacct.usage", &u->cpu_ns, err)) < 0 ||
        (r = oci_file_read_u64_at(mem, "memory.usage_in_bytes", &u->memory_current, err)) < 0 ||
        (r = oci_file_read_u64_at(mem, "memory.max_usage_in_bytes", &u->memory_peak, err)) < 0 ||
        (r = oci_file_read_u64_at(pids, "pids.current", &u->pids_current, err)) < 0)
        return r;
    /* v1 counts an OOM kill only in the victim's own cgroup: sum the tree. */
    _cleanup_free_ char *path = xasprintf("%s%s", cg->memory, rel);
    r = oci_cgroup_tree_sum(path, read_oom_kill, &u->oom_kills);
    if (r < 0)
        return error_errno(err, -r, "read oom_kill under %s", path);
    return 0;
}

static int v1_kill(struct oci_cgroups *cg, const char *rel, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s%s", cg->pids, rel);
    return oci_cgroup_tree_kill(path, err);
}

static int v1_remove(struct oci_cgroups *cg, const char *rel, struct error **err)
{
    int ret = 0;
    for (size_t i = 0; i < cg->n_v1; i++) {
        int r = oci_cgroup_tree_remove(cg->v1[i].path, rel, ret < 0 ? NULL : err);
        if (r < 0 && ret == 0)
            ret = r;
    }
    return ret;
}

static int hybrid_remove(struct oci_cgroups *cg, const char *rel, struct error **err)
{
    int r = v1_remove(cg, rel, err);
    /* Nothing is created in the unified hierarchy, but a runtime run without
     * the mask (runc) may have joined it there. */
    if (cg->unified) {
        int r2 = oci_cgroup_tree_remove(cg->unified, rel, r < 0 ? NULL : err);
        if (r == 0)
            r = r2;
    }
    return r;
}

const struct cgroup_ops oci_cgroup_v1_ops = {
    .name = "v1",
    .create = v1_create,
    .usage = v1_usage,
    .kill = v1_kill,
    .remove = v1_remove,
};

const struct cgroup_ops oci_cgroup_hybrid_ops = {
    .name = "hybrid",
    .create = v1_create,
    .usage = v1_usage,
    .kill = v1_kill,
    .remove = hybrid_remove,
};
