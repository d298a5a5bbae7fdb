/* Utilisation summaries, idle-reservation cost and right-sizing. */
#include "billing/rightsize.h"
#include "billing/billing-internal.h"
#include "base/error.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int32_t clamp_i32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

int billing_samples_summarise(const struct billing_sample *s, size_t n,
                              struct billing_utilisation *ret, struct error **err)
{
    struct billing_utilisation u = {0};
    for (size_t i = 1; i < n; i++)
        if (s[i].t_ms < s[i - 1].t_ms)
            return error_set(err, EINVAL, ERR_INVALID, "samples are not in time order");
    for (size_t i = 0; i < n; i++)
        if (s[i].memory_bytes > u.mem_peak_bytes)
            u.mem_peak_bytes = s[i].memory_bytes;

    int32_t *rates = n > 1 ? xcalloc(n - 1, sizeof(*rates)) : NULL;
    __int128 mem_area = 0;
    for (size_t i = 1; i < n; i++) {
        int64_t dt = s[i].t_ms - s[i - 1].t_ms;
        int64_t dc = s[i].cpu_usec - s[i - 1].cpu_usec;
        if (dt <= 0 || dc < 0)
            continue;
        /* usec of CPU per ms of wall time is milli-vCPU. */
        rates[u.intervals++] = clamp_i32(div_ceil(dc, dt));
        u.wall_ms += dt;
        u.cpu_usec += dc;
        mem_area += (__int128)s[i].memory_bytes * dt;
    }
    if (u.intervals > 0) {
        qsort(rates, u.intervals, sizeof(*rates), cmp_i32);
        size_t rank = (95 * u.intervals + 99) / 100; /* ceil(0.95 m), 1-based */
        u.cpu_p95_milli = rates[rank - 1];
        u.cpu_avg_milli = clamp_i32(div_ceil(u.cpu_usec, u.wall_ms));
        u.mem_avg_bytes = div_round(mem_area, u.wall_ms);
    }
    free(rates);
    *ret = u;
    return 0;
}

/* cost * (reserved - used) / reserved, clamped to [0, cost]. */
static int64_t idle_share(int64_t cost_nd, __int128 reserved, __int128 used)
{
    if (reserved <= 0 || used >= reserved)
        return 0;
    if (used < 0)
        used = 0;
    return div_round((__int128)cost_nd * (reserved - used), reserved);
}

int billing_usage_advise(const struct billing_usage *u, const struct billing_utilisation *use,
                         const struct billing_schedule *s, int32_t headroom_percent,
                         struct billing_advice *ret, struct error **err)
{
    if (headroom_percent < 0 || headroom_percent > 1000)
        return error_set(err, EINVAL, ERR_INVALID, "headroom must be 0..1000 percent");
    struct billing_cost cur;
    int r = billing_usage_cost(u, s, &cur, err);
    if (r < 0)
        return r;

    struct billing_advice a = {.current_nd = cur.total_nd};
    /* Reserved CPU time in cpu-unit-microseconds versus used CPU time in
     * the same unit (1 vCPU-usec = 1024 cpu-unit-usec). */
    __int128 cpu_reserved = (__int128)u->cpu_units * cur.billed_ms * 1000;
    __int128 cpu_used = (__int128)use->cpu_usec * 1024;
    a.idle_vcpu_nd = idle_share(cur.vcpu_nd, cpu_reserved, cpu_used);
    a.idle_memory_nd =
        idle_share(cur.memory_nd, (__int128)u->memory_mib * 1024 * 1024, use->mem_avg_bytes);
    a.idle_nd = a.idle_vcpu_nd + a.idle_memory_nd;

    int64_t pct = 100 + headroom_percent;
    /* milli-vCPU -> cpu units: * 1024 / 1000. */
    a.need.cpu_units = clamp_i32(div_ceil((__int128)use->cpu_p95_milli * 1024 * pct, 1000 * 100));
    a.need.memory_mib =
        clamp_i32(div_ceil((__int128)use->mem_peak_bytes * pct, (__int128)1024 * 1024 * 100));

    const int32_t *cpus;
    size_t ncpus = billing_size_cpus(&cpus);
    for (size_t i = 0; i < ncpus; i++) {
        if (cpus[i] < a.need.cpu_units)
            continue;
        int32_t mem = billing_size_fit_memory(cpus[i], a.need.memory_mib);
        if (mem < 0)
            continue;
        struct billing_usage alt = *u;
        alt.cpu_units = cpus[i];
        alt.memory_mib = mem;
        struct billing_cost c;
        r = billing_usage_cost(&alt, s, &c, err);
        if (r < 0)
            return r;
        if (!a.has_recommendation || c.total_nd < a.recommended_nd) {
            a.has_recommendation = true;
            a.recommended = (struct billing_size){cpus[i], mem};
            a.recommended_nd = c.total_nd;
        }
    }
    if (a.has_recommendation)
        a.savings_nd = a.current_nd - a.recommended_nd;
    *ret = a;
    return 0;
}
