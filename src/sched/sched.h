/* The scheduler: the control plane's side of the node protocol (node.h).
 *
 * It places tasks that RunTask recorded (node IS NULL) on a node with room
 * for their size — never over-committing its advertised capacity — sends
 * stop messages for tasks whose desired status turned STOPPED, applies the
 * agent's reports to the task records, fails tasks that could not be placed
 * within the placement timeout, and purges stopped tasks after the retention
 * period. It is level-triggered: each pass compares the store with what the
 * node says and acts on the difference, so a crash at any point is repaired
 * by the next pass. A pass runs when kicked (a new task, a stop, a report)
 * and at least every resync interval. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "sched/node.h"

struct store;
struct sched;

struct sched_config {
    int64_t placement_timeout_ms; /* unplaced this long -> TaskFailedToStart */
    int64_t stopped_retention_ms; /* STOPPED tasks stay describable this long */
    int64_t resync_ms;            /* a pass at least this often */
    int64_t stop_resend_ms;       /* repeat an unanswered stop this often */
};

#define SCHED_DEFAULT_CONFIG                                                                       \
    {                                                                                              \
        .placement_timeout_ms = 5 * 60 * 1000, .stopped_retention_ms = 60 * 60 * 1000,             \
        .resync_ms = 1000, .stop_resend_ms = 15 * 1000,                                            \
    }

int sched_new(const struct sched_config *cfg, struct store *store, struct sched **ret,
              struct error **err);
/* Sets the node tasks are placed on (one node today). Call before
 * sched_start; the node is borrowed. */
void sched_set_node(struct sched *s, struct node *node);
/* Called (from the scheduler thread) for each task whose record is purged,
 * so that the node can forget it too. */
typedef void (*sched_purge_fn)(void *arg, const char *task_arn);
void sched_set_purge_hook(struct sched *s, sched_purge_fn fn, void *arg);
/* Metering hooks, called from the scheduler thread inside the transaction
 * that applies a batch of reports (db is that thread's connection):
 * stopped(arg, db, arn) once a report has recorded the task STOPPED (again
 * for a repeated STOPPED report: it must be idempotent), and stats(arg, db,
 * msg) for each stats message (node.h). A hook's failure is logged and
 * does not hold back the report (its writes must be all or nothing). */
struct db;
struct sched_usage_hooks {
    int (*stopped)(void *arg, struct db *db, const char *task_arn, struct error **err);
    int (*stats)(void *arg, struct db *db, const json_t *msg, struct error **err);
};
void sched_set_usage_hooks(struct sched *s, const struct sched_usage_hooks *h, void *arg);
/* Starts the scheduler thread. */
int sched_start(struct sched *s, struct error **err);
/* Stops the thread, waiting for the pass under way; reports that arrive
 * afterwards are queued and dropped by sched_free. Idempotent. */
void sched_stop(struct sched *s);
/* Stops the thread if it runs and frees s. The node must be freed first, so
 * that no agent thread reports into a freed scheduler. */
void sched_free(struct sched *s);
/* Asks for a pass soon (the pass sends stops, places tasks, applies
 * reports). Cheap; callable from any thread. */
void sched_kick(struct sched *s);
/* Security group rules or group members changed (src/ec2): the next pass
 * (at once) sends every networked task not yet stopped its current rules
 * in a "network" message (node.h). Also done once after start. */
void sched_network_changed(struct sched *s);
/* The node_report_fn to give the agent: applies a report (cp is the
 * struct sched). */
void sched_report(void *cp, const json_t *report);

/* Task statuses in lifecycle order; -1 for an unknown name. */
int sched_status_rank(const char *status);
