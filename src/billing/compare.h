/* Fargate or EC2? What a workload cost as tasks, what the cheapest fleet of
 * instances that could have held it would have cost for the same hours,
 * and the average concurrency at which the two cost the same.
 *
 * The period is cut into slices of `granularity` seconds; a task counts in
 * every slice its run [start, stop) touches. The fleet presented is the
 * cheapest *fixed* fleet that holds every slice (what a person would buy
 * and keep), paid for the whole period; the cost of a fleet re-chosen in
 * every slice (perfect autoscaling, no launch time, no minimum) is given
 * beside it as a bound. docs/billing.md has the details and limits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "billing/cost.h"
#include "billing/fleet.h"
#include "billing/instance.h"

struct error;

#define BILLING_KINDS_MAX  256      /* distinct task sizes in one comparison */
#define BILLING_SLICES_MAX 10000000 /* slices in one period */

struct billing_compare_opts {
    int64_t since_ms, until_ms; /* widen the period to these (0: the records' own span) */
    int32_t granularity_s;      /* slice length, 1..86400 (0: 60) */
    bool any_arch;              /* let tasks of any architecture share any instance */
};

struct billing_comparison {
    size_t tasks;
    int64_t period_start_ms;
    int64_t period_ms; /* covers every record and the requested window */
    int32_t granularity_s;
    int64_t tasks_nd;              /* X: the records' Fargate cost (billing_usage_cost) */
    int64_t task_run_ms;           /* sum of the records' run times (stop - start) */
    int32_t peak_tasks;            /* most tasks in one slice */
    int64_t avg_concurrency_milli; /* task_run_ms / period_ms, in thousandths */
    bool feasible;                 /* every task fits some instance type */
    char why[160];                 /* when not feasible: the task that fits nothing */
    struct billing_fleet fleet;    /* cheapest fixed fleet holding every slice */
    int64_t fixed_nd;              /* Y: that fleet for the whole period */
    int64_t resizable_nd;          /* a fleet re-chosen per slice */
    bool resizable_exact;          /* every per-slice fleet was proven cheapest */
    /* Z: the average concurrency at which tasks would cost Y, assuming task
     * cost grows in proportion to task time: avg * Y / X (-1 when X is 0). */
    int64_t breakeven_milli;
    /* Z as a share of the peak: the utilisation of the fleet's peak-sized
     * capacity above which the fleet is cheaper (-1 when undefined). */
    int32_t breakeven_util_permille;
};

/* Compares n usage records priced with s against fleets of types from t.
 * Returns 0 and fills *ret (also when no instance can hold some task:
 * feasible is then false and why says which); -EINVAL for an unusable
 * record or option, -E2BIG past BILLING_KINDS_MAX sizes or
 * BILLING_SLICES_MAX slices (a coarser granularity helps). */
int billing_compare_ec2(const struct billing_usage *u, size_t n, const struct billing_schedule *s,
                        const struct billing_instance_table *t,
                        const struct billing_compare_opts *o, struct billing_comparison *ret,
                        struct error **err);

/* Appends the sentence a person can act on to out, e.g. "This workload
 * cost $0.1185 as tasks; 1 × c7g.xlarge for the same hours would have cost
 * $0.1450; tasks stay cheaper while average concurrency is below 3.67 (it
 * was 3.00, peak 3)." followed by the resizable-fleet figure. */
void billing_comparison_format(const struct billing_comparison *c,
                               const struct billing_instance_table *t, struct buf *out);
