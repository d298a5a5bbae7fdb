/* Task and container cgroups, managed by skiff itself (not by the OCI
 * runtime): one cgroup per task enforcing the task size, one nested cgroup
 * per container. The runtime is handed the container cgroup as
 * linux.cgroupsPath with no linux.resources limits, so it only joins the
 * container to it; the limits are the same whichever runtime runs it.
 *
 * Layout (paths relative to each hierarchy root): PARENT/TASK and
 * PARENT/TASK/CONTAINER, PARENT being "/skiff" unless configured.
 *
 * Backends, behind struct cgroup_ops (cgroup-internal.h):
 *   v2      unified hierarchy at /sys/fs/cgroup
 *   v1      one hierarchy per controller under /sys/fs/cgroup/<controller>
 *   hybrid  v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified;
 *           limits go through v1, and runtimes must be run where the
 *           unified mount is hidden (oci_cgroups_hide_unified): crun refuses
 *           hybrid hosts whose v2 hierarchy lists any controller.
 * See docs/runtime.md. */
#pragma once

#include "base/error.h"

#include <stdbool.h>
#include <stdint.h>

enum oci_cgroup_mode {
    OCI_CGROUP_V1,
    OCI_CGROUP_HYBRID,
    OCI_CGROUP_V2,
};

/* Zero means "no limit" / "default" for every field. */
struct oci_cgroup_limits {
    int64_t cpu_quota;          /* hard cap in cpu units, 1024 = one core */
    int64_t cpu_shares;         /* relative weight in cpu units (v1 shares, v2 weight) */
    int64_t memory_max;         /* hard limit, bytes; swap is not allowed beyond it */
    int64_t memory_reservation; /* soft limit / protection, bytes */
    int64_t pids_max;           /* max tasks (threads and processes) */
};

struct oci_cgroup_usage {
    uint64_t cpu_ns;         /* cumulative cpu time */
    uint64_t memory_current; /* bytes charged now */
    uint64_t memory_peak;    /* high-water mark, bytes (0 when the kernel lacks it) */
    uint64_t oom_kills;      /* processes killed by the OOM killer in this cgroup */
    uint64_t pids_current;
};

struct oci_cgroups;

/* Detects the host's cgroup layout and returns a manager for cgroups under
 * parent (an absolute path such as "/skiff"; NULL for the default). Fails
 * with -ENOTSUP when a required controller (cpu, memory, pids) is missing. */
int oci_cgroups_open(const char *parent, struct oci_cgroups **ret, struct error **err);
void oci_cgroups_free(struct oci_cgroups *cg);
enum oci_cgroup_mode oci_cgroups_mode(const struct oci_cgroups *cg);
/* "v1", "v2" or "hybrid". */
const char *oci_cgroups_mode_name(const struct oci_cgroups *cg);
/* True when OCI runtimes must run in a mount namespace without
 * /sys/fs/cgroup/unified (hybrid hosts). */
bool oci_cgroups_hide_unified(const struct oci_cgroups *cg);
/* Hybrid hosts: removes what runtimes left under the parent in the
 * /sys/fs/cgroup tmpfs beneath the unified mount (crun, with that mount
 * hidden, makes its cgroup path there; src/oci now gives it a tmpfs of its
 * own instead, see spawn.c, but older versions did not). 0 when there is
 * nothing to remove, else -errno. */
int oci_cgroups_sweep_hidden(const struct oci_cgroups *cg);
/* Sets favordynmods on the host's cgroup2 file system (the unified
 * mount of a hybrid host, /sys/fs/cgroup of a v2 one), keeping its other
 * options: moving a process between cgroups (a runtime writing
 * cgroup.procs, once per container on v1) then no longer waits for an RCU
 * grace period, at the price of slower forks and exits host-wide
 * (docs/runtime.md, "The cgroup migration's grace period"). The kernel
 * keeps it until reboot. *ret_changed is true when this call set it.
 * -ENOTSUP without a cgroup2 mount; -EINVAL from kernels before 6.0. */
int oci_cgroups_favor_dynmods(const struct oci_cgroups *cg, bool *ret_changed, struct error **err);

/* The cgroup path of a task (container NULL) or of one of its containers,
 * relative to each hierarchy root, as written to linux.cgroupsPath. The
 * caller frees it. */
char *oci_cgroup_path(const struct oci_cgroups *cg, const char *task, const char *container);

/* Creates the task cgroup with cpu_quota, memory_max and pids_max from lim.
 * Creating one that exists re-applies the limits. Names must satisfy
 * oci_name_valid. */
int oci_cgroup_task_create(struct oci_cgroups *cg, const char *task,
                           const struct oci_cgroup_limits *lim, struct error **err);
/* Creates a container cgroup inside an existing task cgroup, with
 * cpu_shares, memory_max and memory_reservation from lim. */
int oci_cgroup_container_create(struct oci_cgroups *cg, const char *task, const char *container,
                                const struct oci_cgroup_limits *lim, struct error **err);
/* Reads usage counters of a task (container NULL) or container cgroup. */
int oci_cgroup_usage_read(struct oci_cgroups *cg, const char *task, const char *container,
                          struct oci_cgroup_usage *ret, struct error **err);
/* SIGKILLs every process in the cgroup and its descendants. */
int oci_cgroup_kill(struct oci_cgroups *cg, const char *task, const char *container,
                    struct error **err);
/* Removes the cgroup (and, for a task, its container cgroups) in every
 * hierarchy, including directories the runtime created there. Missing
 * cgroups are not an error; -EBUSY when processes remain after a short wait. */
int oci_cgroup_remove(struct oci_cgroups *cg, const char *task, const char *container,
                      struct error **err);
