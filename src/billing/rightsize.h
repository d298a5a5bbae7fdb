/* What a task actually used, what its idle reservation cost, and the
 * smallest Fargate size that would have served it.
 *
 * Inputs are cgroup samples the agent takes while the task runs; the
 * summary is what gets stored beside the billed figures. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing/cost.h"
#include "billing/size.h"

struct error;

/* One cgroup reading. */
struct billing_sample {
    int64_t t_ms;         /* when it was taken */
    int64_t cpu_usec;     /* cumulative CPU time of the task (cpu.stat usage_usec) */
    int64_t memory_bytes; /* memory in use (memory.current) */
};

/* What the samples say. CPU rates are in milli-vCPU (1000 = one vCPU busy). */
struct billing_utilisation {
    size_t intervals;       /* usable intervals between consecutive samples */
    int64_t wall_ms;        /* time those intervals cover */
    int64_t cpu_usec;       /* CPU time used over them */
    int32_t cpu_avg_milli;  /* cpu_usec / wall_ms, rounded up */
    int32_t cpu_p95_milli;  /* 95th percentile of the per-interval rates */
    int64_t mem_avg_bytes;  /* time-weighted mean memory */
    int64_t mem_peak_bytes; /* highest sample */
};

/* Summarises n samples in time order. An interval (from one sample to the
 * next) counts when time moves forward and the CPU counter does not go
 * back (a counter reset drops that interval). Its rate is its CPU time over
 * its length, rounded up; the p95 is the nearest-rank 95th percentile of
 * the rates (the ceil(0.95 m)-th smallest of m). Memory is weighted by the
 * length of the interval each sample ends. With fewer than two samples
 * there are no intervals: rates and averages are 0 and the peak is the one
 * sample. Returns -EINVAL when samples are not in time order. */
int billing_samples_summarise(const struct billing_sample *s, size_t n,
                              struct billing_utilisation *ret, struct error **err);

struct billing_advice {
    /* Money paid for reserved-but-unused capacity over the billed time:
     * the vCPU cost times the unused share of reserved CPU time, and the
     * memory cost times the unused share of reserved memory on average. */
    int64_t idle_vcpu_nd;
    int64_t idle_memory_nd;
    int64_t idle_nd;
    /* The demand to cover: p95 CPU and peak memory plus headroom, in cpu
     * units and MiB (rounded up). */
    struct billing_size need;
    /* False when no Fargate size covers the demand. */
    bool has_recommendation;
    /* The cheapest valid size covering `need` (ties: fewer cpu units). It
     * may be the current size, or larger when the task ran at its limit. */
    struct billing_size recommended;
    int64_t current_nd;     /* the record's cost */
    int64_t recommended_nd; /* the same record at the recommended size */
    int64_t savings_nd;     /* current - recommended; negative means upsizing costs more */
};

/* Right-sizing and idle cost for usage record u given its utilisation,
 * priced with s; headroom_percent (0..1000) is added to the observed p95
 * CPU and peak memory. Returns 0 and fills *ret, or the error of
 * billing_usage_cost() for an unusable record, or -EINVAL for a bad
 * headroom. */
int billing_usage_advise(const struct billing_usage *u, const struct billing_utilisation *use,
                         const struct billing_schedule *s, int32_t headroom_percent,
                         struct billing_advice *ret, struct error **err);
