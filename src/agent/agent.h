/* The host agent: the node protocol's agent side (sched/node.h). It takes
 * tasks from the control plane, runs their containers through src/oci
 * (conmon + crun/runc, one cgroup and one network namespace per task) with
 * images from src/image, supervises them and reports every change of state.
 *
 * Tasks live on disk, so that they outlive skiffd:
 *   DATA-DIR/tasks/<taskId>/task.json        the assign message and the
 *                                            supervision state (temp + rename)
 *   DATA-DIR/tasks/<taskId>/hosts, resolv.conf
 *   DATA-DIR/tasks/<taskId>/disk.img         the task's ephemeral storage,
 *                                            mounted on rw/ (storage.c)
 *   DATA-DIR/tasks/<taskId>/rw/c/<ctr>/      one container (runtime.h layout)
 *   DATA-DIR/tasks/<taskId>/rw/v/<n>/        ephemeral task volumes
 *   DATA-DIR/tasks/<taskId>/logs/<ctr>.log   stdout/stderr, CRI "k8s-file"
 *                                            lines ("TIME stdout|stderr F|P
 *                                            text"); kept after the task
 *                                            stops, until agent_task_purge
 * See docs/agent.md. */
#pragma once

#include "base/error.h"
#include "sched/node.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

struct agent_config {
    const char *data_dir; /* tasks live in DATA-DIR/tasks/ (required) */
    /* Runtime state and netns files: a short path (conmon's socket paths
     * must fit in 108 bytes), e.g. /run/skiff. Required. */
    const char *run_dir;
    const char *runtime;       /* "crun" (default) or "runc" */
    const char *cgroup_parent; /* NULL: "/skiff"; the agent owns everything under it */
    const char *node_name;     /* NULL: "local" */
    /* Memory kept back from the advertised capacity, MiB; 0: the larger of
     * 256 MiB and 5% of MemTotal. */
    int64_t memory_reserve_mib;
    /* Stop timeout of containers without stopTimeout, ms; 0: 30000. */
    int64_t stop_timeout_ms;
    /* Processes and threads per task (pids cgroup); 0: 4096. */
    int64_t pids_max;
    /* Do not enforce ephemeral storage sizes (by default each task's
     * writable layers and volumes live on a loop-mounted ext4 of its size,
     * when the host has loop devices). */
    bool no_storage_limit;
    /* Leave the host's cgroup2 file system as it is: by default the
     * agent sets favordynmods on it (oci_cgroups_favor_dynmods), which
     * takes an RCU grace period (about 10 ms here) off every container
     * start on cgroup v1 and hybrid hosts. */
    bool keep_cgroup_options;
    /* Give each task its ENI (src/net, src/agent/net.c): subnet bridge,
     * veth, address, security groups. Off: loopback-only namespaces. */
    bool task_network;
    /* Stopped tasks (their logs) are forgotten this long after they
     * stopped if the control plane has not purged them; 0: 24 h. */
    int64_t stopped_retention_ms;
    /* Advertised capacity instead of the host's (cores x 1024, MemTotal
     * minus the reserve), for tests and benchmarks that run more idle tasks
     * than a small host's size admits; 0: the host's. */
    int64_t capacity_cpu, capacity_memory_mib;
};

/* Creates the local agent. cfg strings are copied. store is borrowed (the
 * agent takes its own connections with store_thread_db for image records)
 * and must outlive the agent; report(cp, msg) receives every report (see
 * node.h) from agent threads. On start the agent reattaches to every task
 * under DATA-DIR/tasks that had not stopped (their containers kept running
 * under conmon), records exits that happened meanwhile, resumes supervising
 * them and reports their state; it removes cgroups, network namespaces and
 * runtime state left by tasks it no longer holds. *ret is freed with
 * (*ret)->ops->free(*ret), which stops supervising but leaves the
 * containers running, as a skiffd restart expects. */
int agent_new(const struct agent_config *cfg, struct store *store, node_report_fn report, void *cp,
              struct node **ret, struct error **err);

/* Path of a container's log (DATA-DIR/tasks/<id>/logs/<container>.log,
 * while running a symlink to the file conmon writes) for a task the agent
 * holds, running or stopped. -ENOENT when the task or container is
 * unknown. The caller frees *ret. */
int agent_task_log_path(struct node *n, const char *task_arn, const char *container, char **ret,
                        struct error **err);

/* The awslogs shipper's flush (logs_ship_flush's shape): the agent calls
 * it for a task with an awslogs container once its containers are gone and
 * before it reports the task STOPPED, so that STOPPED means its logs are
 * stored. NULL unsets it, and returns once no call is under way (before
 * the shipper is freed). */
typedef void (*agent_logs_flush_fn)(void *arg, const char *task_id, int64_t timeout_ms);
void agent_set_logs_flush(struct node *n, agent_logs_flush_fn fn, void *arg);

/* Forgets a stopped task and removes its directory (logs included): the
 * control plane calls it when it purges the task's record. -EBUSY while
 * the task has not stopped; a task the agent does not hold is not an
 * error. */
int agent_task_purge(struct node *n, const char *task_arn, struct error **err);
