/* Metering: usage records of tasks, the cgroup samples beside them, and
 * the cost report (GetCostReport, `skiff cost`).
 *
 * The scheduler calls two hooks inside the transaction that applies the
 * agent's messages (sched_set_usage_hooks): when a task is recorded
 * STOPPED, its usage record is written (billed with the prices then in
 * effect, utilisation summarised from its samples, and what reports group
 * by copied from the task row so that the record outlives its purge); a
 * stats message adds a sample of a running task. Reports read the records
 * plus every task still running, counted up to now. docs/billing.md
 * describes the formulas and the report. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "billing/config.h"

struct db;

/* The deployment's billing configuration (prices, instance table,
 * options). Set once at start, before the scheduler and the API run;
 * read-only afterwards. */
struct metering {
    struct billing_config cfg;
};

/* Initialises m with the defaults, then loads path when it is not NULL:
 * a missing file is an error only when required is true (an explicit
 * --billing-config); DATA-DIR/billing.conf is optional. Release with
 * metering_done(). */
int metering_init(struct metering *m, const char *path, bool required, struct error **err);
void metering_done(struct metering *m);

/* sched_usage_hooks.stopped (arg: struct metering): writes the usage
 * record of task_arn from its task row unless it exists, and drops the
 * task's samples. A task with neither a pull start nor a creation time,
 * or never placed, gets none. */
int metering_task_stopped(void *arg, struct db *db, const char *task_arn, struct error **err);
/* sched_usage_hooks.stats: stores the sample of a stats message (node.h)
 * for a task that has a row and no usage record yet. */
int metering_stats_apply(void *arg, struct db *db, const json_t *msg, struct error **err);

enum metering_group {
    METERING_BY_CLUSTER,
    METERING_BY_SERVICE,
    METERING_BY_FAMILY,
    METERING_BY_TASK,
    METERING_BY_TAG,
};

struct metering_query {
    const char *account;
    enum metering_group by;
    const char *tag_key; /* METERING_BY_TAG */
    int64_t since_ms;    /* 0: no lower bound */
    int64_t until_ms;    /* 0: now */
    int64_t now_ms;      /* running tasks are counted up to here */
};

/* Parses "cluster", "service", "family", "task" or "tag:KEY" (KEY borrowed
 * from s, 1..128 characters). -EINVAL otherwise. */
int metering_group_parse(const char *s, enum metering_group *ret_by, const char **ret_tag_key);

/* Builds the GetCostReport answer (models/skiff) for the tasks of
 * q->account whose billed interval overlaps [since, until): each task's
 * whole cost, grouped, with utilisation, idle cost, right-sizing and the
 * EC2 comparison. Returns 0 and a new object in *ret, or a negative errno
 * with *err. */
int metering_report(const struct metering *m, struct db *db, const struct metering_query *q,
                    json_t **ret, struct error **err);
