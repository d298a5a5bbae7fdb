/* The EC2 instance price table the Fargate-or-EC2 comparison packs tasks
 * into. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "billing/price.h"

struct error;

#define BILLING_INSTANCE_MAX  64 /* types in one table */
#define BILLING_INSTANCE_NAME 32 /* name buffer, with NUL */

struct billing_instance_type {
    char name[BILLING_INSTANCE_NAME];
    enum billing_arch arch;
    int32_t vcpus;
    int32_t memory_mib;
    /* Sustained capacity tasks may reserve, in cpu units: vcpus * 1024 for
     * fixed-performance types, less for burstable ones (t3/t4g: their
     * baseline, e.g. 20% of 2 vCPU = 409 units for a t4g.medium). */
    int32_t cpu_units;
    int64_t hour_nd; /* on-demand Linux price per hour */
};

struct billing_instance_table {
    struct billing_instance_type types[BILLING_INSTANCE_MAX];
    size_t n;
};

/* Fills t with the default table: a few common current-generation types
 * with their published us-east-1 on-demand Linux prices. They are
 * defaults to be configured (docs/billing.md), not live prices. */
void billing_instance_table_default(struct billing_instance_table *t);

/* Appends a type to t after checking it: a name of 1..31 printable
 * characters not already in t, vcpus 1..1024, memory 1 MiB..64 TiB,
 * baseline_percent 1..100, a positive price. Returns 0, -EINVAL or -E2BIG
 * (table full), with *err. */
int billing_instance_table_add(struct billing_instance_table *t, const char *name,
                               enum billing_arch arch, int32_t vcpus, int32_t memory_mib,
                               int32_t baseline_percent, int64_t hour_nd, struct error **err);

/* The index of the type called name, or -1. */
int billing_instance_table_find(const struct billing_instance_table *t, const char *name);
