/* Fargate prices and price schedules.
 *
 * A price is in nano-dollars per hour (see billing/money.h) per CPU
 * architecture. A schedule is a list of price periods, each in effect from
 * its start instant until the next one starts; the first period is in
 * effect since the beginning of time. A task that runs across a change is
 * billed each part at the price in effect then (billing/cost.h). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct error;

enum billing_arch {
    BILLING_ARCH_X86_64,
    BILLING_ARCH_ARM64,
    BILLING_ARCH_COUNT,
};

/* Published us-east-1 Linux Fargate on-demand prices, in nano-dollars per
 * hour: the defaults until a deployment configures its own. */
#define BILLING_X86_VCPU_HOUR_ND    40480000LL /* $0.04048 per vCPU-hour */
#define BILLING_X86_GB_HOUR_ND      4445000LL  /* $0.004445 per GB-hour */
#define BILLING_ARM_VCPU_HOUR_ND    32380000LL /* $0.03238 per vCPU-hour */
#define BILLING_ARM_GB_HOUR_ND      3560000LL  /* $0.00356 per GB-hour */
#define BILLING_STORAGE_GB_HOUR_ND  111000LL   /* $0.000111 per GB-hour above 20 GiB */
#define BILLING_STORAGE_INCLUDED_GB 20         /* ephemeral storage included in the price */

#define BILLING_SCHEDULE_MAX 256 /* price periods in one schedule */

/* Prices for one architecture, nano-dollars per hour. */
struct billing_rate {
    int64_t vcpu_hour_nd;
    int64_t gb_hour_nd;         /* per GB of memory */
    int64_t storage_gb_hour_nd; /* per GB of ephemeral storage above 20 GiB */
};

struct billing_prices {
    struct billing_rate arch[BILLING_ARCH_COUNT];
};

struct billing_price_period {
    int64_t from_ms; /* INT64_MIN for the first period */
    struct billing_prices prices;
};

struct billing_schedule {
    struct billing_price_period *periods; /* sorted by from_ms, strictly increasing */
    size_t n;                             /* >= 1 once initialised */
};

/* "x86_64" or "arm64". */
const char *billing_arch_name(enum billing_arch a);
/* Accepts ECS's spellings case-insensitively: X86_64, ARM64 (and "amd64",
 * "aarch64"). Returns 0 and sets *ret, or -EINVAL. */
int billing_arch_parse(const char *s, enum billing_arch *ret);

/* Fills p with the published us-east-1 Linux prices above. */
void billing_prices_default(struct billing_prices *p);

/* Initialises s to one period of default prices. Release with
 * billing_schedule_done(). */
void billing_schedule_init(struct billing_schedule *s);
void billing_schedule_done(struct billing_schedule *s);

/* Appends a period that starts at from_ms. from_ms must be later than the
 * last period's start: -EINVAL otherwise, -E2BIG past BILLING_SCHEDULE_MAX
 * periods. The prices are copied. */
int billing_schedule_add(struct billing_schedule *s, int64_t from_ms,
                         const struct billing_prices *p, struct error **err);

/* The index of the period in effect at t_ms. */
size_t billing_schedule_find(const struct billing_schedule *s, int64_t t_ms);
