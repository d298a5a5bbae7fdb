/* OCI bundles: config.json for one container, hardened by default the way
 * Docker and Podman are (default capability set, seccomp allow-list,
 * no_new_privs, masked and read-only /proc and /sys paths, minimal /dev),
 * with the Fargate default nofile ulimit of 65535 clamped to what the host
 * permits. The rootfs itself is mounted by the launcher (runtime.h). */
#pragma once

#include "base/buf.h"
#include "base/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An extra mount (a task volume, say). Strings are borrowed. */
struct oci_mount {
    const char *destination;
    const char *type; /* "bind", "tmpfs", ... */
    const char *source;
    const char *const *options; /* NULL-terminated; NULL for none */
};

struct oci_rlimit {
    const char *type; /* "RLIMIT_NOFILE", ... */
    uint64_t soft, hard;
};

/* Everything the bundle and the launcher need to know about one container.
 * All pointers are borrowed for the duration of the call that takes it. */
struct oci_container_spec {
    const char *id;          /* runtime container id, oci_name_valid() */
    const char *const *args; /* NULL-terminated; args[0] required */
    const char *const *env;  /* NULL-terminated "NAME=value"; may be NULL */
    const char *cwd;         /* NULL: "/" */
    uint32_t uid, gid;
    const uint32_t *additional_gids;
    size_t n_additional_gids;
    const char *hostname; /* NULL: none set */
    bool readonly_rootfs;
    bool add_sys_ptrace;     /* the one capability a task may add */
    uint64_t drop_caps;      /* removed from the default set: bits 1 << CAP_*; ~0 for all */
    const char *init_path;   /* host path of an init (catatonit) run as PID 1, or NULL */
    const char *hosts_file;  /* bind-mounted at /etc/hosts, or NULL */
    const char *resolv_conf; /* bind-mounted at /etc/resolv.conf, or NULL */
    const struct oci_mount *mounts;
    size_t n_mounts;
    const struct oci_rlimit *rlimits; /* NULL: nofile 65535/65535 */
    size_t n_rlimits;
    const char *netns_path;   /* network namespace to join; NULL: a new empty one */
    const char *cgroups_path; /* linux.cgroupsPath (oci_cgroup_path); NULL: runtime default */
    /* Root file system: an overlay of these read-only directories (top
     * first) with a writable upper layer in the container's directory. */
    const char *const *lower_dirs;
    size_t n_lower_dirs;
    /* Also carry the seccomp profile compiled to BPF (once per capability
     * set, see oci-internal.h) in crun's run.oci.seccomp_bpf_data
     * annotation, so that crun loads it instead of compiling linux.seccomp
     * at each create. Set by oci_container_create for crun. */
    bool seccomp_bpf;
};

/* What the host allows, for clamping rlimits (oci_host_detect). */
struct oci_host {
    bool cap_sys_resource; /* may raise hard limits */
    uint64_t nr_open;      /* /proc/sys/fs/nr_open: the nofile ceiling even with the cap */
    uint64_t nofile_hard;  /* this process's hard RLIMIT_NOFILE */
};

void oci_host_detect(struct oci_host *host);

/* The CAP_* number of a capability name, with or without its "CAP_"
 * prefix ("SYS_PTRACE", "CAP_CHOWN"); -1 when unknown. */
int oci_cap_from_name(const char *name);

/* Builds config.json for spec. Clamped rlimits are reported as lines in
 * warnings (may be NULL). Returns a new reference, or NULL with *err set
 * when the spec is invalid (no args, bad id, relative paths...). */
json_t *oci_bundle_config(const struct oci_container_spec *spec, const struct oci_host *host,
                          struct buf *warnings, struct error **err);

/* Writes BUNDLE_DIR/config.json atomically (temp + rename) and creates
 * BUNDLE_DIR/rootfs, the overlay's mount point. */
int oci_bundle_write(const char *bundle_dir, const struct oci_container_spec *spec,
                     const struct oci_host *host, struct buf *warnings, struct error **err);
