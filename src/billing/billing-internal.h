/* Helpers shared by the billing files; not part of the module's interface. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MS_PER_HOUR 3600000LL

/* num / den rounded half away from zero; den > 0. The quotient must fit in
 * int64 (callers bound their inputs so that it does). */
static inline int64_t div_round(__int128 num, __int128 den)
{
    if (num >= 0)
        return (int64_t)((num + den / 2) / den);
    return -(int64_t)((-num + den / 2) / den);
}

/* num / den rounded up; num >= 0, den > 0. */
static inline int64_t div_ceil(__int128 num, __int128 den)
{
    return (int64_t)((num + den - 1) / den);
}

struct billing_instance_table;
struct billing_slice;
struct billing_fleet;
struct error;

/* billing_fleet_cheapest() with the exact search limited to `budget`
 * nodes (0: heuristic only). */
int billing_fleet_cheapest_within(const struct billing_instance_table *t,
                                  const struct billing_slice *slices, size_t n, bool any_arch,
                                  long budget, struct billing_fleet *ret, struct error **err);
