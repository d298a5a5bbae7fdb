/* Containers run by an OCI runtime (crun by default, runc selectable) under
 * a conmon monitor, as CRI-O and Podman run them. conmon runs detached from
 * the caller (spawn.h's detach, with conmon's --sync) and is the
 * container's parent: killing, restarting or upgrading the caller
 * never kills a container. conmon writes the container's exit code to an
 * exit file and its stdout/stderr, line by line with timestamps (CRI
 * "k8s-file" format), to a log file; both survive the caller.
 *
 * A container lives in a directory DIR that the caller chooses (inside its
 * task directory):
 *   DIR/bundle/config.json  the OCI config (bundle.h)
 *   DIR/bundle/rootfs       mount point of the rootfs overlay, mounted only
 *                           in the monitor's mount namespace (spawn.h)
 *   DIR/upper, DIR/work     the overlay's writable layer
 *   DIR/ctr.log             stdout and stderr
 *   DIR/exit/ID             the exit code, written by conmon
 *   DIR/state.json          pids and times, replaced atomically
 * Everything but the exit file and the log is skiff's; the container can be
 * found again from DIR after the caller restarts (oci_container_load).
 *
 * The calls block (fork, exec, wait): a daemon runs them off its event
 * loop. The caller must not ignore SIGCHLD. */
#pragma once

#include "oci/bundle.h"
#include "oci/cgroup.h"

#include <stdint.h>
#include <sys/types.h>

struct oci_runtime_config {
    const char *runtime;      /* "crun" (default) or "runc" */
    const char *runtime_path; /* NULL: the backend's usual paths */
    const char *conmon_path;  /* NULL: /usr/bin/conmon */
    /* Runtime state (--root), conmon's attach sockets: a short path such as
     * /run/skiff (conmon's socket paths must fit in 108 bytes). */
    const char *run_dir;
    /* When not NULL: conmon and the runtime calls start from a base mount
     * namespace (spawn.h's oci_spawn_base_new) without the mounts under
     * these directories (NULL-terminated): the tasks' own, which every
     * runtime namespace copied before. A container's directory on a mount
     * made later (its task's storage) is carried into its monitor's
     * namespace; its network namespace is bound there (monitor_mount). */
    const char *const *base_drop;
};

struct oci_runtime;
struct oci_container;

enum oci_container_state {
    OCI_STATE_CREATED, /* the runtime set it up; the process waits for start */
    OCI_STATE_RUNNING,
    OCI_STATE_EXITED,
    OCI_STATE_UNKNOWN, /* the process is gone and nothing recorded its exit */
};

struct oci_container_status {
    enum oci_container_state state;
    pid_t pid;          /* the container's init, as the host sees it */
    int exit_code;      /* EXITED: 0-255; 128+N when killed by signal N */
    int64_t created_ms; /* wall clock, ms since the epoch */
    int64_t started_ms; /* 0 until started */
    int64_t exited_ms;  /* when the exit file was written; 0 unless EXITED */
};

/* Checks the configuration (runtime and conmon executable) and prepares
 * run_dir. cg is borrowed and must outlive the runtime. */
int oci_runtime_new(const struct oci_runtime_config *cfg, struct oci_cgroups *cg,
                    struct oci_runtime **ret, struct error **err);
void oci_runtime_free(struct oci_runtime *rt);
/* "crun" or "runc". */
const char *oci_runtime_name(const struct oci_runtime *rt);

/* Writes the bundle in dir, mounts the rootfs (an overlay of
 * spec->lower_dirs under a fresh upper layer), and has conmon run the
 * runtime's `create`: on return the container exists, its process waits
 * for oci_container_start and *ret is its handle. Warnings (clamped
 * ulimits) go to warnings (may be NULL). On failure nothing is left
 * running and the error carries the runtime's message. */
int oci_container_create(struct oci_runtime *rt, const char *dir,
                         const struct oci_container_spec *spec, const struct oci_host *host,
                         struct buf *warnings, struct oci_container **ret, struct error **err);
/* conmon started ahead of its container (docs/runtime.md, "Start
 * latency"): exec'd, linked, its log open, waiting on its start pipe before
 * it forks the runtime, while the caller prepares the rest. */
struct oci_monitor;
/* Makes dir (the container's directory, as for oci_container_create) and
 * starts the monitor of container id there. */
int oci_monitor_start(struct oci_runtime *rt, const char *dir, const char *id,
                      struct oci_monitor **ret, struct error **err);
/* conmon's pid (it is not the caller's child: see oci_spawn's detach). */
pid_t oci_monitor_pid(const struct oci_monitor *m);
/* Kills a monitor that will not be used (NULL: nothing) and waits for it to
 * be gone. Its directory stays. */
void oci_monitor_discard(struct oci_monitor *m);
/* oci_container_create with the monitor m started for the same id and dir
 * (NULL: started now). Consumes m, on failure too. */
int oci_container_create_with(struct oci_runtime *rt, const char *dir,
                              const struct oci_container_spec *spec, const struct oci_host *host,
                              struct buf *warnings, struct oci_monitor *m,
                              struct oci_container **ret, struct error **err);
/* Hands over the monitor being started on another thread, once it is
 * (*ret NULL: none); a failure (with *ret set or not) fails the create. */
typedef int (*oci_monitor_wait_fn)(void *arg, struct oci_monitor **ret, struct error **err);
/* oci_container_create_with for a monitor still starting: the bundle is
 * written first, then wait(arg) is called exactly once, also on failure,
 * and its monitor consumed. */
int oci_container_create_ahead(struct oci_runtime *rt, const char *dir,
                               const struct oci_container_spec *spec, const struct oci_host *host,
                               struct buf *warnings, oci_monitor_wait_fn wait, void *arg,
                               struct oci_container **ret, struct error **err);
/* Lets the created container's process exec its command. */
int oci_container_start(struct oci_container *c, struct error **err);
/* Runs args inside the running container, as the runtime's `exec` does:
 * the container's namespaces, cgroup, user, environment, capabilities,
 * seccomp profile and no_new_privs. Waits at most timeout_ms (negative: no
 * limit); past it the process is SIGKILLed and the call fails with
 * -ETIMEDOUT. *ret_exit gets the exit code (128+N after signal N; the
 * runtime's own failures, such as a container that is not running, show as
 * a non-zero code with its message in the output). Combined stdout and
 * stderr, at most 64 KiB, go to *ret_output when it is non-NULL (caller
 * frees). For health checks. */
int oci_container_exec(struct oci_container *c, const char *const *args, int timeout_ms,
                       int *ret_exit, char **ret_output, struct error **err);
/* Sends sig to the container's init. Signals other than SIGKILL reach an
 * init only when it handles them (PID namespace rule). -ESRCH once exited. */
int oci_container_signal(struct oci_container *c, int sig, struct error **err);
/* SIGTERM, then SIGKILL when the container has not exited within
 * timeout_ms; returns once the exit is recorded. */
int oci_container_stop(struct oci_container *c, int timeout_ms, struct error **err);
/* Waits until the container's exit is recorded: 0, or -ETIMEDOUT. A
 * negative timeout waits for ever. */
int oci_container_wait(struct oci_container *c, int timeout_ms, struct error **err);
int oci_container_status(struct oci_container *c, struct oci_container_status *ret,
                         struct error **err);
/* Removes an exited container: the runtime's state, then DIR. With force,
 * a live container is SIGKILLed first; without, -EBUSY. */
int oci_container_delete(struct oci_container *c, bool force, struct error **err);
/* Finds a container again from DIR/state.json (after a restart). */
int oci_container_load(struct oci_runtime *rt, const char *dir, struct oci_container **ret,
                       struct error **err);
void oci_container_free(struct oci_container *c);
/* SIGKILLs what an interrupted creation of container ID may have left
 * running — its conmon and a runtime call still at work on it (found by
 * comm and by ID as a whole argument) — and waits up to timeout_ms for them
 * to be gone, so that a new creation with the same ID cannot race them.
 * Answers how many were still there at the deadline. */
int oci_container_kill_strays(const char *id, int timeout_ms);

const char *oci_container_id(const struct oci_container *c);
/* DIR/ctr.log. */
const char *oci_container_log_path(const struct oci_container *c);
/* The conmon monitor's pid (0 once it is known to have exited). */
pid_t oci_container_monitor_pid(const struct oci_container *c);
/* When oci_container_start released the process (wall clock, ms), 0
 * before. */
int64_t oci_container_started_ms(const struct oci_container *c);
