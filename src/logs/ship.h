/* The awslogs log driver's shipper: the agent's side of the node
 * protocol's "logs" message (sched/node.h).
 *
 * A thread on the agent's host watches DATA-DIR/tasks/<id>/task.json for
 * containers whose logConfiguration is awslogs, reads each one's CRI log
 * (DATA-DIR/tasks/<id>/logs/<ctr>.log, written by conmon whether or not
 * skiffd runs) from the offset the control plane says it has stored, and
 * sends whole lines in batches of at most LOGS_SHIP_BATCH bytes. It keeps
 * no state of its own: after any restart it asks the control plane where
 * each log resumes, so no line is lost or stored twice. Memory is bounded
 * by one batch buffer and a small record per container. */
#pragma once

#include <stdint.h>

#include "base/error.h"
#include "sched/node.h"

#define LOGS_SHIP_BATCH (1024 * 1024)

/* Where the agent keeps a container's log (agent_task_log_path's shape). */
typedef int (*logs_ship_path_fn)(void *arg, const char *task_arn, const char *container, char **ret,
                                 struct error **err);

struct logs_ship_config {
    const char *data_dir; /* tasks in DATA-DIR/tasks/ */
    node_logs_fn send;    /* delivers a logs message to the control plane */
    void *cp;             /* send's first argument */
    logs_ship_path_fn path;
    void *path_arg;
    int64_t poll_ms; /* how often idle logs are looked at; 0: 200 */
    /* Called once for a task that has not stopped when a container's log
     * group does not exist and awslogs-create-group is not "true" (as ECS's
     * awslogs driver fails the task); reason is the ECS stoppedReason. */
    void (*fail)(void *arg, const char *task_arn, const char *reason);
    void *fail_arg;
};

struct logs_ship;

/* Starts the shipper thread; cfg strings are copied. */
int logs_ship_start(const struct logs_ship_config *cfg, struct logs_ship **ret, struct error **err);
/* Ships what the logs of the task task_id (its directory's name) hold now,
 * as for a stopped task: its containers have exited, so their logs are
 * complete. Returns once all of it is stored, once nothing more can be
 * sent for now (the control plane refused a batch or is unreachable; the
 * shipper goes on retrying as always), or after timeout_ms. The agent
 * calls it before it reports the task STOPPED, so that whoever sees
 * STOPPED (`aws ecs wait tasks-stopped`, `skiff run --attach`) finds every
 * line in the log store. NULL-safe. */
void logs_ship_flush(struct logs_ship *s, const char *task_id, int64_t timeout_ms);
/* Stops the thread (the batch under way finishes) and frees; NULL-safe. */
void logs_ship_free(struct logs_ship *s);
