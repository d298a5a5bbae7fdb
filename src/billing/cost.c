/* Usage record -> Fargate cost, exactly, in nano-dollars. */
#include "billing/cost.h"
#include "billing/billing-internal.h"
#include "base/error.h"

#include <errno.h>
#include <string.h>

#define MAX_RUN_MS (100LL * 366 * 24 * MS_PER_HOUR)

int billing_usage_cost(const struct billing_usage *u, const struct billing_schedule *s,
                       struct billing_cost *ret, struct error **err)
{
    if (s->n == 0)
        return error_set(err, EINVAL, NULL, "empty price schedule");
    int64_t start = u->pull_started_ms ? u->pull_started_ms : u->created_ms;
    if (start == 0)
        return error_set(err, EINVAL, ERR_INVALID, "usage record has no start time");
    if (u->stopped_ms < start)
        return error_set(err, EINVAL, ERR_INVALID, "usage record stops before it starts");
    if (u->stopped_ms - start > MAX_RUN_MS)
        return error_set(err, EINVAL, ERR_INVALID, "usage record spans more than 100 years");
    if (u->cpu_units <= 0 || u->cpu_units > (1 << 20) || u->memory_mib <= 0 ||
        u->memory_mib > (1 << 24) || u->ephemeral_gib < 0 || u->ephemeral_gib > (1 << 16))
        return error_set(err, EINVAL, ERR_INVALID,
                         "usage record has an invalid size (cpu %d, memory %d MiB, storage %d GiB)",
                         u->cpu_units, u->memory_mib, u->ephemeral_gib);
    if ((unsigned)u->arch >= BILLING_ARCH_COUNT)
        return error_set(err, EINVAL, ERR_INVALID, "usage record has an unknown architecture");

    struct billing_cost c = {.start_ms = start, .run_ms = u->stopped_ms - start};
    /* Rounded up to the second, then Fargate's one-minute minimum. */
    c.billed_ms = (c.run_ms + 999) / 1000 * 1000;
    if (c.billed_ms < BILLING_MIN_BILLED_MS)
        c.billed_ms = BILLING_MIN_BILLED_MS;
    int64_t end = start + c.billed_ms;
    int32_t storage_gb = u->ephemeral_gib > BILLING_STORAGE_INCLUDED_GB
                             ? u->ephemeral_gib - BILLING_STORAGE_INCLUDED_GB
                             : 0;

    /* Numerators over a common denominator: vCPU and memory are counted in
     * 1/1024ths (cpu units, MiB), storage in whole GB, time in ms. */
    __int128 cpu = 0, mem = 0, sto = 0;
    for (size_t i = billing_schedule_find(s, start); i < s->n; i++) {
        const struct billing_price_period *p = &s->periods[i];
        int64_t from = p->from_ms > start ? p->from_ms : start;
        int64_t to =
            i + 1 < s->n && s->periods[i + 1].from_ms < end ? s->periods[i + 1].from_ms : end;
        if (from >= end)
            break;
        const struct billing_rate *r = &p->prices.arch[u->arch];
        int64_t ms = to - from;
        cpu += (__int128)r->vcpu_hour_nd * u->cpu_units * ms;
        mem += (__int128)r->gb_hour_nd * u->memory_mib * ms;
        sto += (__int128)r->storage_gb_hour_nd * storage_gb * ms;
    }
    /* Three sums below INT64_MAX / 4 each keep the total representable. */
    const __int128 lim = INT64_MAX / 4;
    if (cpu / ((__int128)1024 * MS_PER_HOUR) > lim || mem / ((__int128)1024 * MS_PER_HOUR) > lim ||
        sto / MS_PER_HOUR > lim)
        return error_set(err, ERANGE, ERR_INVALID, "usage record costs more than we can count");
    c.vcpu_nd = div_round(cpu, (__int128)1024 * MS_PER_HOUR);
    c.memory_nd = div_round(mem, (__int128)1024 * MS_PER_HOUR);
    c.storage_nd = div_round(sto, MS_PER_HOUR);
    c.total_nd = c.vcpu_nd + c.memory_nd + c.storage_nd;
    *ret = c;
    return 0;
}
