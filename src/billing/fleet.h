/* Bin packing of task reservations into EC2 instances: the cheapest fleet
 * that could have held a workload.
 *
 * A reservation (an item) must sit whole on one instance, within the
 * instance's sustained cpu units and its memory, and on an instance of its
 * own architecture unless any_arch is set. A *slice* is the set of
 * reservations present at one time. A fleet holds a slice when some
 * assignment of the slice's items to the fleet's instances respects every
 * instance's capacity; a fixed fleet must hold each slice (one at a time).
 *
 * The search is exact for small problems (every slice with at most
 * BILLING_FLEET_EXACT_ITEMS items, within a node budget) and otherwise the
 * best a packing heuristic plus local search finds; `exact` says which.
 * docs/billing.md describes the algorithm and its limits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing/instance.h"

struct error;

#define BILLING_FLEET_EXACT_ITEMS 16 /* items per slice for the exact search */

struct billing_item {
    int32_t cpu_units;
    int32_t memory_mib;
    enum billing_arch arch;
};

struct billing_slice {
    const struct billing_item *items; /* borrowed */
    size_t n;
};

/* A fleet: how many instances of each type of a table. */
struct billing_fleet {
    int32_t count[BILLING_INSTANCE_MAX]; /* indexed like the table's types */
    int32_t instances;                   /* sum of count */
    int64_t hour_nd;                     /* price of the whole fleet per hour */
    bool exact;                          /* proven the cheapest */
};

/* The cheapest fleet of types from t that holds every one of the n slices.
 * Ties in price go to the fleet with fewer instances, then to the first
 * found (types in table order). No slices, or only empty ones, give an
 * empty fleet. Returns 0 and fills *ret, or -ENOSPC (with *err naming the
 * reservation) when a reservation fits no type of the table. */
int billing_fleet_cheapest(const struct billing_instance_table *t,
                           const struct billing_slice *slices, size_t n, bool any_arch,
                           struct billing_fleet *ret, struct error **err);

/* Whether fleet f (types of t) holds the n items. For up to
 * BILLING_FLEET_EXACT_ITEMS items the answer is exact unless an assignment
 * search of 100,000 nodes runs out (then false); above that, true is proof
 * but false may only mean that best-fit packing did not find a way. */
bool billing_fleet_holds(const struct billing_instance_table *t, const struct billing_fleet *f,
                         const struct billing_item *items, size_t n, bool any_arch);

/* Writes "2 × m7g.large + 1 × c7g.large" (or "no instances") into out. */
int billing_fleet_format(const struct billing_instance_table *t, const struct billing_fleet *f,
                         char *out, size_t size);
