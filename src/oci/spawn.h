/* Spawning OCI runtime processes (conmon, crun, runc) in a mount namespace
 * of their own: slave propagation from the host, /sys/fs/cgroup/unified
 * hidden on hybrid hosts (crun refuses those; see docs/runtime.md), and
 * optionally the container's rootfs overlay mounted there, so that it lives
 * and dies with the monitor rather than on the host. */
#pragma once

#include "base/error.h"

#include <stdbool.h>
#include <sys/types.h>

/* A base mount namespace (oci_spawn_base_new): a private copy of the
 * caller's, made once, without the mounts under some directories. */
struct oci_spawn_base;

struct oci_spawn {
    const char *const *argv; /* argv[0]: absolute path of the program */
    const char *const *envp;
    const char *cwd; /* NULL: unchanged */
    bool hide_unified;
    /* An overlay mounted at mount_target with mount_data before exec. */
    const char *mount_target;
    const char *mount_data;
    /* A program file bind-mounted read-only onto itself in the child's
     * namespace (best effort; NULL: none). crun and runc started from a
     * read-only file skip copying themselves into a sealed file and
     * re-executing, their defence against a container overwriting the
     * runtime binary (CVE-2019-5736): that copy was a second exec and
     * dynamic link at every runtime call. The mount lives and dies with the
     * namespace. */
    const char *ro_bind;
    /* The program runs as a grandchild whose parent exits as soon as it
     * has exec'd: a double fork (both vfork-style, so no page tables are
     * copied) that leaves it reparented to init (or the nearest
     * subreaper), not the caller's child and not the caller's to reap. */
    bool detach;
    /* Descriptors for the child's 0, 1, 2 (-1: /dev/null), 3 and 4 (-1:
     * none). Every other descriptor is closed on exec. */
    int fds[5];
    /* The child's mount namespace is a copy of base's rather than of the
     * caller's (NULL: of the caller's). */
    const struct oci_spawn_base *base;
    /* With base: a path the child must see as the caller does. When base
     * does not show it (it is on a mount made after base, such as a
     * task's storage), the mount holding it is cloned from the caller's
     * namespace onto the same place in the child's, before the overlay
     * mount and the chdir. */
    const char *carry;
};

/* Makes a base namespace: a private copy of the caller's mount namespace
 * (mounts the caller makes later do not appear in it, on any host's
 * propagation settings) from which the mounts strictly under each
 * directory of drop (NULL-terminated) are removed, and with hide_unified
 * the unified cgroup mount (a spawn with hide_unified then only mounts its
 * tmpfs there). Runtime processes
 * started from it copy a namespace whose size does not grow with the
 * number of tasks: each task's own mounts (its storage, its network
 * namespace's binding) are in the host's namespace, and a copy of the
 * host's, taken by every conmon, every runtime call and every container,
 * held all of them. */
int oci_spawn_base_new(const char *const *drop, bool hide_unified, struct oci_spawn_base **ret,
                       struct error **err);
void oci_spawn_base_free(struct oci_spawn_base *b);

/* The environment of an OCI runtime (crun, runc) spawned with ro_bind on its
 * binary: PATH, and the variable runc wants before it trusts a read-only
 * binary (crun needs only the mount). */
extern const char *const oci_spawn_runtime_env[];

/* Forks and execs sp; returns once the program runs (or with the errno and
 * the step of the set-up that failed). The caller reaps *ret_pid, unless
 * sp->detach. */
int oci_spawn(const struct oci_spawn *sp, pid_t *ret_pid, struct error **err);

/* waitpid() without EINTR; returns the raw status. */
int oci_spawn_wait(pid_t pid, int *ret_status, struct error **err);

/* Runs argv to completion in the runtime mount namespace (argv[0] bound
 * read-only there, as ro_bind above; from base with carry, as above, when
 * base is not NULL), capturing its
 * stdout+stderr (at most 64 KiB) in *ret_output (NULL: discarded). Returns
 * the exit code (>= 0, 128+signal when killed) or -errno. */
int oci_spawn_run(const char *const *argv, const char *const *envp, bool hide_unified,
                  const struct oci_spawn_base *base, const char *carry, char **ret_output,
                  struct error **err);

/* oci_spawn_run with a deadline: after timeout_ms, the process whose pid is
 * in kill_pidfile (when given: what the runtime started) and then the
 * program itself are SIGKILLed, and the call fails with -ETIMEDOUT. */
int oci_spawn_run_timeout(const char *const *argv, const char *const *envp, bool hide_unified,
                          const struct oci_spawn_base *base, const char *carry, int timeout_ms,
                          const char *kill_pidfile, char **ret_output, struct error **err);
