/* The service reconciler: keeps each service's desired count of tasks alive
 * and rolls deployments out (docs/services.md).
 *
 * It is level-triggered: every scheduler pass (a kick on a task report or a
 * service write, and the periodic resync) compares each ACTIVE or DRAINING
 * service's records with its tasks and acts on the difference — notes tasks
 * that stopped, replaces unhealthy ones after the grace period, trips the
 * circuit breaker, stops and launches tasks within the deployment's
 * minimum/maximum percent, marks deployments COMPLETED or INACTIVE and
 * records events. Each service's decision and the task rows it creates or
 * stops are one SQLite transaction, so a crash between the two cannot
 * double-launch: after a restart the next pass sees exactly what was
 * committed. New tasks are left unplaced for the scheduler's placement. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct db;

/* Reconciles every live service once, using db (the scheduler thread's
 * connection, no transaction open). Answers true when it created or stopped
 * tasks. Errors are logged per service and do not stop the pass.
 * *ret_due_ms gets the earliest time (time_now_ms() clock)
 * at which a service's state will change by the clock alone (a task
 * settles, a backoff ends), INT64_MAX when none: the scheduler passes
 * again then, not only at its next resync. */
bool sched_services_reconcile(struct db *db, int64_t now_ms, int64_t *ret_due_ms);
