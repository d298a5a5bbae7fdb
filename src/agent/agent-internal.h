/* Internals of the host agent shared by its files: the parsed task (spec.c),
 * the supervision state (task.c, health.c), its on-disk form (state.c),
 * image pulls (pull.c), runtime invocations the oci module does not offer
 * (exec.c), users and groups from an image (user.c) and the task's files
 * and kernel objects (provision.c). See docs/agent.md. */
#pragma once

#include "agent/agent.h"
#include "base/buf.h"
#include "oci/bundle.h"
#include "oci/cgroup.h"
#include "oci/runtime.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct img_info;
struct img_config;

#define AGENT_STACK_SIZE       (256 * 1024) /* per task thread */
#define AGENT_START_TIMEOUT_MS (180 * 1000) /* Fargate's default startTimeout */
#define AGENT_TASK_ID_MAX      64
#define AGENT_MAX_CONTAINERS   10
#define AGENT_MAX_VOLUMES      32
#define AGENT_MAX_MOUNTS       64
#define AGENT_MAX_ENV          1024
#define AGENT_MAX_ARGS         1024
#define AGENT_PULL_WORKERS     2
#define AGENT_CATATONIT        "/usr/bin/catatonit"

/* ---- the task as assigned (spec.c) ---- */

enum dep_cond { DEP_START, DEP_COMPLETE, DEP_SUCCESS, DEP_HEALTHY };

struct ctr_dep {
    size_t idx; /* the container depended on */
    enum dep_cond cond;
};

struct health_def {
    bool enabled;
    char **argv; /* NULL-terminated: CMD args, or /bin/sh -c for CMD-SHELL */
    int64_t interval_ms, timeout_ms, start_period_ms;
    int retries;
};

struct mount_def {
    size_t volume; /* index in task_def.volumes */
    char *container_path;
    bool readonly;
};

struct ulimit_def {
    char *type; /* "RLIMIT_NOFILE" */
    uint64_t soft, hard;
};

struct ctr_def {
    char *name;
    char *image;
    char *slug;       /* cgroup and directory name: name when usable, else c<N> */
    char *runtime_id; /* <taskId>-<N> */
    bool essential;
    bool has_entrypoint, has_command;
    char **entrypoint, **command; /* NULL-terminated */
    char **env;                   /* "K=V", task definition < overrides */
    char *working_dir, *user, *hostname;
    bool readonly_rootfs, init, ptrace;
    uint64_t drop_caps; /* linuxParameters.capabilities.drop: 1 << CAP_* bits, ~0 for ALL */
    int64_t cpu, memory_mib, reservation_mib;
    struct ulimit_def *ulimits;
    size_t n_ulimits;
    struct mount_def *mounts;
    size_t n_mounts;
    struct ctr_dep *deps;
    size_t n_deps;
    int64_t start_timeout_ms, stop_timeout_ms;
    struct health_def health;
};

struct task_def {
    char *arn, *id, *region;
    int64_t cpu, memory_mib, ephemeral_gib;
    json_t *msg; /* the assign message, owned */
    struct ctr_def *ctrs;
    size_t n_ctrs;
    char **volumes; /* names; the directory of volume i is rw/v/<i> */
    size_t n_volumes;
};

/* Parses and validates an assign message (node.h). On failure -EINVAL with
 * *err set. msg is not kept: the definition holds its own reference. */
int agent_spec_parse(const json_t *msg, int64_t default_stop_ms, struct task_def *ret,
                     struct error **err);
void agent_spec_done(struct task_def *def);

/* What a container's process is, from its definition and its image config
 * (Docker's merge rules). Strings are owned by the struct. */
struct ctr_process {
    char **args;
    char **env;
    char *cwd;
    uint32_t uid, gid;
    uint32_t *gids;
    size_t n_gids;
};

/* Resolves args (entryPoint/command over Entrypoint/Cmd), env (image <
 * definition, plus what ECS adds), working directory and user (names looked
 * up in the image's /etc/passwd and /etc/group through lower_dirs, top
 * first). -EINVAL with a CannotStartContainerError message when the result
 * is unusable. */
int agent_process_resolve(const struct task_def *task, const struct ctr_def *def,
                          const struct img_config *img, const char *const *lower_dirs,
                          size_t n_lower, struct ctr_process *ret, struct error **err);
void agent_process_done(struct ctr_process *p);

/* ---- users (user.c) ---- */

/* Resolves a Docker user spec (name, uid, name:group, uid:gid, ...) against
 * the passwd and group files found in the layers (top first, whiteouts and
 * opaque directories respected). Numeric ids need no files. Supplementary
 * groups are those listing the user by name. -ENOENT with *err set when a
 * name is unknown. */
int agent_user_resolve(const char *spec, const char *const *lower_dirs, size_t n_lower,
                       uint32_t *ret_uid, uint32_t *ret_gid, uint32_t **ret_gids,
                       size_t *ret_n_gids, struct error **err);

/* ---- runtime invocations (exec.c) ---- */

/* How to run the OCI runtime binary exactly as src/oci does: same binary,
 * --root, global options, in a mount namespace hiding the unified cgroup
 * hierarchy on hybrid hosts. */
struct agent_rt_cmd {
    char *path;
    char *root;
    const char *global_arg; /* NULL or one option */
    bool hide_unified;
};

int agent_rt_cmd_init(struct agent_rt_cmd *rc, const char *runtime, const char *run_dir,
                      bool hide_unified, struct error **err);
void agent_rt_cmd_done(struct agent_rt_cmd *rc);
/* `runtime exec --process PROCESS_JSON --pid-file PIDFILE ID` started
 * without waiting: *ret_pid is the runtime's process (the caller's child,
 * to be reaped). */
int agent_rt_exec_start(const struct agent_rt_cmd *rc, const char *id, const char *process_json,
                        const char *pidfile, pid_t *ret_pid, struct error **err);
/* Writes dst: the process of the bundle's config.json (user, groups, env,
 * cwd, capabilities, rlimits, no_new_privs) running args instead, as
 * Docker runs a health check. */
int agent_rt_exec_process(const char *bundle_config, char *const *args, const char *dst,
                          struct error **err);
/* `runtime delete --force ID`; a container the runtime does not know is
 * not an error. */
int agent_rt_delete(const struct agent_rt_cmd *rc, const char *id, struct error **err);

/* ---- the agent and its tasks ---- */

enum task_status {
    TS_PROVISIONING,
    TS_PENDING,
    TS_ACTIVATING,
    TS_RUNNING,
    TS_DEACTIVATING,
    TS_STOPPING,
    TS_DEPROVISIONING,
    TS_STOPPED,
};

enum ctr_state {
    CTR_NONE,    /* not created */
    CTR_CREATED, /* created, waiting for its dependencies */
    CTR_RUNNING,
    CTR_STOPPED, /* exited, or given up before it started */
};

enum health_status { HEALTH_UNKNOWN, HEALTH_HEALTHY, HEALTH_UNHEALTHY };

/* A health check in flight or scheduled. */
struct health_run {
    pid_t pid; /* the runtime's exec process, 0 when none runs */
    int pidfd;
    int64_t next_ns;     /* monotonic time of the next probe */
    int64_t deadline_ns; /* when the running probe times out */
    int64_t started_ms;  /* wall clock start of the running probe */
    int failures;        /* consecutive */
};

struct ctr {
    struct ctr_def *def;
    enum ctr_state state;
    bool created; /* the runtime created it once: it has a runtimeId */
    struct oci_container *oc;
    int pidfd; /* the container's init while it lives, else -1 */
    bool has_exit;
    int exit_code;
    char *reason;
    char *image_digest;
    int stop_signal;
    enum health_status health;
    int64_t started_ms; /* wall clock */
    bool healthy_once;  /* a probe succeeded (start period rule) */
    /* stopping: kill_at_ms (wall clock, saved in task.json so that a
     * restarted agent keeps the deadline) becomes kill_at_ns when loaded */
    bool term_sent;
    int64_t kill_at_ns, kill_at_ms;
    struct health_run hc;
    struct img_info *img;  /* between pull and create */
    struct pull_req *pull; /* asked for at provisioning, not yet taken */
    /* Its monitor, started at the end of provisioning so that conmon's
     * exec and start-up overlap the pull and the bundle; taken by the
     * create. */
    struct oci_monitor *mon;
    bool mon_wanted; /* provisioning's storage thread starts one */
};

struct agent;

struct task {
    struct agent *a;
    struct task_def def;
    char *dir; /* DATA-DIR/tasks/<id> */
    enum task_status status;
    int64_t created_ms, pull_started_ms, pull_stopped_ms, started_ms, stopping_ms, exec_stopped_ms,
        stopped_ms;
    char *stop_code, *stopped_reason;
    struct ctr *ctrs;      /* def.n_ctrs */
    int64_t activating_ns; /* start of the dependency waits (startTimeout) */
    int64_t pull_begun_ms; /* the pulls were asked for (during provisioning) */
    /* Provisioning's second thread: attaches the storage, then starts the
     * containers' monitors (agent_monitors_run) beside the rest of the
     * provisioning, the pull and the bundles; joined before anything reads
     * ctrs[].mon. It says when the storage is done under prov_lock. */
    pthread_t mon_thread;
    bool mon_pending;
    bool storage_early; /* started by agent_provision_early, as net_early */
    pthread_mutex_t prov_lock;
    pthread_cond_t prov_cond;
    bool storage_done;
    int storage_r;
    struct error *storage_err;
    /* Provisioning's third thread: the network namespace, the task's
     * network and its metadata endpoint; joined (agent_provision_net)
     * before the creates and before a stop's clean-up. */
    pthread_t net_thread;
    bool net_pending;
    bool net_early;
    int net_r;
    struct error *net_err;
    struct buf warnings;

    /* Shared with the node operations, under agent.lock. */
    bool stop_requested;
    char *req_code, *req_reason;
    int efd;       /* eventfd: wakes the task's thread */
    json_t *last;  /* the latest report */
    bool threaded; /* a thread supervises the task */
    bool starting; /* assigned, not yet RUNNING or stopping (n_starting) */
    struct task *next;
};

struct pull_req;
struct agent_meta;

/* storage.c */
#define AGENT_NETNS_POOL 2

struct agent_storage {
    bool enforced; /* loop-mounted ext4 per task */
    char *dir;     /* DATA-DIR/ephemeral */
    char *mkfs;
    size_t ready;   /* formatted images in dir/pool */
    size_t mounted; /* task directories ready in dir/ready */
    /* Network namespaces made ahead (loopback up), held by descriptor
     * only, for net_main to bind (agent_netns_take). Under the agent's
     * lock; a crash closes them with the process. */
    int netns[AGENT_NETNS_POOL];
    size_t netns_ready;
    unsigned seq;
    bool thread_started;
    pthread_t thread;
};

struct agent {
    struct node node; /* first: the control plane sees this */
    char *data_dir, *tasks_dir, *run_dir, *netns_dir, *node_name;
    int64_t reserve_mib, stop_timeout_ms, pids_max, retention_ms;
    int64_t capacity_cpu, capacity_memory_mib; /* 0: the host's */
    /* op_capacity's reading of the host (cores, MemTotal), at most once a
     * second: the scheduler asks at every pass, and sysinfo() walks every
     * block device (each task's loop device among them). Under lock. */
    int64_t host_cpu, host_mem_mib, host_read_ms;
    struct store *store;
    node_report_fn report;
    void *cp;
    struct oci_cgroups *cg;
    struct oci_runtime *rt;
    struct oci_host host;
    struct agent_rt_cmd rtc;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* task threads ending, pulls completing */
    struct task *tasks;
    size_t n_threads;
    size_t n_starting; /* tasks starting: the storage pool's refills wait */
    bool closing;

    /* pull.c */
    pthread_t pullers[AGENT_PULL_WORKERS];
    size_t n_pullers;
    struct pull_req *pull_queue;

    /* agent_set_logs_flush's hook; under lock, with the calls under way */
    agent_logs_flush_fn logs_flush;
    void *logs_flush_arg;
    unsigned n_flushing;

    struct agent_storage storage;
    bool task_network;       /* net.c */
    struct agent_meta *meta; /* metadata.c */
};

/* agent.c */
/* Waits (at most AGENT_LOGS_FLUSH_MS) for the awslogs shipper to store
 * the logs of t, whose containers are gone; nothing when no container of t
 * uses awslogs or no shipper is set. */
void agent_flush_logs(struct task *t);
#define AGENT_LOGS_FLUSH_MS 10000

/* task.c */
/* Starts the supervision thread of t (new or reattached). */
int agent_task_start(struct task *t, struct error **err);
/* Frees a task that has no thread. */
void agent_task_free(struct task *t);
/* Allocates the runtime state of a parsed task (def is moved in). */
struct task *agent_task_new(struct agent *a, struct task_def *def);
/* Builds the report (node.h) from t's state; new reference. */
json_t *agent_task_report(const struct task *t);
const char *agent_status_name(enum task_status s);
/* Starts the monitors provisioning chose (ctrs[].mon_wanted). */
void agent_monitors_run(struct task *t);

/* state.c: DATA-DIR/tasks/<id>/task.json */
int agent_state_save(const struct task *t, bool durable, struct error **err);
/* Loads a task saved by agent_state_save (containers are not reattached). */
int agent_state_load(struct agent *a, const char *dir, struct task **ret, struct error **err);

/* health.c */
/* Runs due probes, collects finished ones and handles timeouts; returns
 * true when a health status changed. Adds the earliest deadline to
 * *next_ns (0: none). */
bool agent_health_step(struct task *t, struct ctr *c, int64_t now_ns, int64_t *next_ns);
/* TASK-DIR/hc/<ctr>.json: the process a probe runs (agent_rt_exec_process). */
char *agent_health_process_path(const struct task *t, const struct ctr *c);
/* Kills and reaps a running probe. */
void agent_health_cancel(struct task *t, struct ctr *c);
/* The task's healthStatus from its essential containers. */
enum health_status agent_task_health(const struct task *t);
const char *agent_health_name(enum health_status h);

/* provision.c */
/* Provisions t: on return its storage and cgroup are there, its monitors
 * are starting on t->mon_thread, and its network on t->net_thread. */
int agent_provision(struct task *t, struct error **err);
/* At the assignment of a task whose storage the pool had mounted: starts
 * provisioning's second and third threads (the monitors; the network
 * namespace and endpoint) at once, beside the task's own thread, rather
 * than from agent_provision (a thread's creation and the task thread's
 * first steps later, 0.5-1 ms on a busy host). agent_provision then leaves
 * them be. agent_provision_early_undo joins them and undoes their work
 * (monitors killed, network namespace and metadata endpoint removed), for
 * a task whose thread could not start. */
void agent_provision_early(struct task *t);
void agent_provision_early_undo(struct task *t);
/* Waits for the network namespace, the task's network and the metadata
 * endpoint agent_provision began; their error, if any (once). */
int agent_provision_net(struct task *t, struct error **err);
/* Removes the task's cgroup, netns and rw dir; keeps task.json and logs. */
int agent_deprovision(struct task *t, struct error **err);
char *agent_netns_path(const struct agent *a, const char *task_id);
char *agent_ctr_dir(const struct task *t, const struct ctr_def *d);
char *agent_log_path(const struct task *t, const struct ctr_def *d);
/* Removes what tasks no longer held left behind (cgroups, namespaces,
 * runtime state, storage mounts). */
void agent_reconcile(struct agent *a);
/* True when a task with this id is held and has not stopped. */
bool agent_task_held(struct agent *a, const char *task_id);

/* storage.c */
/* Detects whether sizes can be enforced (loop devices, mkfs.ext4) unless
 * disabled, and starts the pool of formatted images. */
int agent_storage_init(struct agent *a, bool disable, struct error **err);
void agent_storage_stop(struct agent *a);
/* Makes DATA-DIR/tasks/<id>/rw: a mounted file system of the task's size
 * (kept when already mounted), or a plain directory when not enforced. */
int agent_storage_attach(struct task *t, struct error **err);
/* Unmounts and removes rw/ and the image. */
int agent_storage_detach(struct task *t, struct error **err);
/* Puts a task directory whose storage is already mounted at dir (which
 * must not exist) when one of gib GiB (0: the default) is ready; false
 * otherwise. */
bool agent_storage_take(struct agent *a, const char *dir, int64_t gib);
/* A network namespace from the pool thread's (its descriptor, which the
 * caller closes), or -1 when none is ready. */
int agent_netns_take(struct agent *a);
/* Removes the task directory dir, unmounting its storage first. */
void agent_storage_remove_dir(const char *dir);
/* Unmounts the rw/ file systems of tasks not held. */
void agent_storage_sweep(struct agent *a, bool (*held)(struct agent *, const char *));

/* pull.c */
int agent_pull_start(struct agent *a, struct error **err);
void agent_pull_stop(struct agent *a);
/* Pulls reference (if missing) on a worker; waits for the result unless
 * t's stop is requested first (-ECANCELED). */
int agent_pull(struct task *t, const char *reference, struct img_info **ret, struct error **err);
/* agent_pull in two halves, so that a pull runs beside other work (the
 * task's provisioning): begin queues the request and returns at once;
 * finish waits for it as agent_pull does and releases it; drop releases a
 * request whose result is no longer wanted (a worker may still run it). */
struct pull_req *agent_pull_begin(struct task *t, const char *reference);
int agent_pull_finish(struct task *t, struct pull_req *q, struct img_info **ret,
                      struct error **err);
void agent_pull_drop(struct agent *a, struct pull_req *q);
/* Takes the registry credentials out of an assign message (node.h,
 * "registryAuth") and keeps them in memory for the task's pulls until the
 * agent no longer holds it; answers the message without them (a new
 * reference), which is what the agent parses and saves. */
json_t *agent_pull_auth_take(struct agent *a, const json_t *msg);

/* agent.c */
/* Replaces t->last with a fresh report, sends it and saves task.json
 * (save false: the state on disk is already this one). */
void agent_task_publish_with(struct task *t, bool save, bool durable);
/* agent_task_publish_with(t, true, durable). */
void agent_task_publish(struct task *t, bool durable);

/* metadata.c: the task metadata endpoint (Fargate's v4, docs/metadata.md) */
#define AGENT_META_ADDR "169.254.170.2"
/* The endpoint's port: the one the ECS agent reserves for it, not 80, so
 * that a container can listen on port 80 of every address (a listener on
 * 169.254.170.2:80 would make its bind to 0.0.0.0:80 fail) without a
 * per-task nat rule (26 ms and 15 MiB of libnftables per start). The URI
 * in the environment names it, and clients read the URI from there. */
#define AGENT_META_PORT 51679
#define AGENT_META_HOST AGENT_META_ADDR ":51679"
/* Starts the thread serving every task's endpoint (a->meta). */
int agent_meta_start(struct agent *a, struct error **err);
/* Closes every endpoint and stops the thread; NULL-safe on a->meta. */
void agent_meta_stop(struct agent *a);
/* Adds AGENT_META_ADDR/32 to the loopback of the task's namespace (ns_path)
 * and serves the task's endpoint on port 80 there; a no-op when it is
 * served already or the endpoint thread is not started. */
int agent_meta_open(struct task *t, const char *ns_path, struct error **err);
/* Stops serving the task's endpoint; a no-op when it is not served. */
void agent_meta_close(struct agent *a, const char *task_id);
/* After a restart: opens the endpoint of every loaded task whose namespace
 * exists (between provisioning and deprovisioning); failures are logged.
 * Before the task threads start. */
void agent_meta_reopen(struct agent *a);
