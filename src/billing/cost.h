/* A task's usage record and what it costs on Fargate's terms.
 *
 * Billing runs from pullStartedAt (createdAt when nothing was pulled) to
 * stoppedAt, rounded up to the next whole second, with a one-minute
 * minimum; it is charged on the *requested* vCPU (cpu units / 1024), GB of
 * memory (MiB / 1024) and GB of ephemeral storage above 20 GiB. Each
 * dimension's cost is computed exactly (as a fraction, over every price
 * period the billed interval crosses) and rounded once, half away from
 * zero, to a whole nano-dollar; the task's total is the sum of the three.
 * docs/billing.md gives the formula. */
#pragma once

#include <stdint.h>

#include "billing/price.h"

struct error;

#define BILLING_MIN_BILLED_MS 60000LL /* Fargate's one-minute minimum (Linux) */

/* What the platform records for a task. Times are milliseconds since the
 * epoch; 0 means "absent". */
struct billing_usage {
    int64_t created_ms;
    int64_t pull_started_ms; /* 0 when nothing was pulled */
    int64_t stopped_ms;      /* a running task: pass the current time */
    int32_t cpu_units;       /* task-level cpu, 1024 per vCPU */
    int32_t memory_mib;      /* task-level memory */
    int32_t ephemeral_gib;   /* ephemeralStorage.sizeInGiB; 0 = the default 20 */
    enum billing_arch arch;
};

struct billing_cost {
    int64_t start_ms;  /* billing starts here */
    int64_t run_ms;    /* stopped - start, as measured */
    int64_t billed_ms; /* whole seconds, at least BILLING_MIN_BILLED_MS */
    int64_t vcpu_nd;
    int64_t memory_nd;
    int64_t storage_nd;
    int64_t total_nd; /* vcpu_nd + memory_nd + storage_nd */
};

/* Computes the cost of u under the prices of s. Returns 0 and fills *ret,
 * or -EINVAL (with *err) when the record is unusable: no start time, a stop
 * before the start, a non-positive or absurd size (cpu above 2^20 units,
 * memory above 2^24 MiB, storage above 2^16 GiB), or a duration above 100
 * years. */
int billing_usage_cost(const struct billing_usage *u, const struct billing_schedule *s,
                       struct billing_cost *ret, struct error **err);
