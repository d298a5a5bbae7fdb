/* The billing configuration: Fargate price schedule, EC2 instance table and
 * report options, read from a small INI file (format in docs/billing.md):
 *
 *   [options]
 *   headroom_percent = 20
 *   granularity_seconds = 60
 *
 *   [prices]                        # replaces defaults, from the beginning of time
 *   x86_64.vcpu_hour = 0.04048
 *   arm64.gb_hour = 0.00356
 *
 *   [prices 2025-07-01T00:00:00Z]   # a change: unset keys keep the previous value
 *   x86_64.vcpu_hour = 0.03
 *
 *   [instance m7g.large]            # the first one replaces the default table
 *   arch = arm64
 *   vcpus = 2
 *   memory_gib = 8
 *   hourly = 0.0816
 *   baseline_percent = 100          # optional; burstable types: their baseline
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "billing/instance.h"
#include "billing/price.h"

struct error;

#define BILLING_CONFIG_MAX_BYTES    (1 << 20)
#define BILLING_HEADROOM_DEFAULT    20 /* percent */
#define BILLING_GRANULARITY_DEFAULT 60 /* seconds */

struct billing_config {
    struct billing_schedule schedule;
    struct billing_instance_table instances;
    int32_t headroom_percent; /* 0..1000 */
    int32_t granularity_s;    /* 1..86400 */
};

/* Initialises c to the defaults (published prices, default instance table,
 * 20% headroom, 60-second slices). Release with billing_config_done(). */
void billing_config_init(struct billing_config *c);
void billing_config_done(struct billing_config *c);

/* Parses len bytes of INI text on top of the defaults and, on success,
 * replaces c's contents (c must be initialised). Unknown sections or keys,
 * malformed values, out-of-order price dates and incomplete instance
 * sections are errors (-EINVAL, message with the line number); c is then
 * unchanged. */
int billing_config_parse(struct billing_config *c, const char *text, size_t len,
                         struct error **err);

/* Reads path (at most BILLING_CONFIG_MAX_BYTES) and parses it as above. */
int billing_config_load(struct billing_config *c, const char *path, struct error **err);
