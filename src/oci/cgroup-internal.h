/* Internals of the cgroup manager shared by its backends (cgroup-v1.c,
 * cgroup-v2.c) and the unit tests. */
#pragma once

#include "oci/cgroup.h"

#include <stddef.h>

#define OCI_CGROUP_ROOT       "/sys/fs/cgroup"
#define OCI_CGROUP_PARENT     "/skiff"
#define OCI_CGROUP_CPU_PERIOD 100000 /* µs, the kernel's default CFS period */

struct cgroup_v1_mount {
    char *path;        /* mount point, e.g. /sys/fs/cgroup/cpu,cpuacct */
    char *controllers; /* from the super options: "cpu,cpuacct", "name=systemd" */
};

/* One backend: cgroup v1, v2 or hybrid. rel is a path relative to the
 * hierarchy root ("/skiff/TASK[/CONTAINER]"). */
struct cgroup_ops {
    const char *name;
    int (*create)(struct oci_cgroups *cg, const char *rel, const struct oci_cgroup_limits *lim,
                  bool is_task, struct error **err);
    int (*usage)(struct oci_cgroups *cg, const char *rel, struct oci_cgroup_usage *ret,
                 struct error **err);
    int (*kill)(struct oci_cgroups *cg, const char *rel, struct error **err);
    int (*remove)(struct oci_cgroups *cg, const char *rel, struct error **err);
};

struct oci_cgroups {
    enum oci_cgroup_mode mode;
    const struct cgroup_ops *ops;
    char *parent;  /* "/skiff" */
    char *unified; /* cgroup2 mount point, NULL when there is none */
    struct cgroup_v1_mount *v1;
    size_t n_v1;
    /* v1 mount points of the controllers skiff drives (borrowed from v1[]). */
    const char *cpu, *cpuacct, *memory, *pids;
};

extern const struct cgroup_ops oci_cgroup_v1_ops;
extern const struct cgroup_ops oci_cgroup_hybrid_ops;
extern const struct cgroup_ops oci_cgroup_v2_ops;

/* Fills cg->mode, unified, v1[] and the controller pointers from the text
 * of /proc/self/mountinfo. Returns -ENOTSUP when no cgroup file system is
 * mounted under /sys/fs/cgroup. */
int oci_cgroup_mountinfo_parse(struct oci_cgroups *cg, const char *mountinfo, struct error **err);
/* Frees what oci_cgroup_mountinfo_parse allocated. */
void oci_cgroup_mounts_done(struct oci_cgroups *cg);
/* The super options of the cgroup2 mount at mnt, from this process's
 * mountinfo (NULL when it is not there). The caller frees it. */
char *oci_cgroup2_options(const char *mnt);

/* CFS quota in µs per OCI_CGROUP_CPU_PERIOD for cpu units (1024 = one core). */
int64_t oci_cgroup_quota_us(int64_t cpu_units);
/* v1 cpu.shares for cpu units: at least 2, at most 262144. */
uint64_t oci_cgroup_shares(int64_t cpu_units);
/* cgroup v2 cpu.weight for v1 shares (the formula crun and runc use). */
uint64_t oci_cgroup_shares_to_weight(uint64_t shares);

/* Removes mount/rel and the cgroups below it, children first, waiting up to
 * about a second for exiting processes. Missing is not an error. */
int oci_cgroup_tree_remove(const char *mount, const char *rel, struct error **err);
/* SIGKILLs the processes listed in cgroup.procs of dir and below until
 * none remain (or about two seconds pass: -EBUSY). */
int oci_cgroup_tree_kill(const char *dir, struct error **err);
/* Sums a number file over dir and every cgroup below it. */
int oci_cgroup_tree_sum(const char *dir, int (*read)(int dirfd, uint64_t *ret), uint64_t *ret);
