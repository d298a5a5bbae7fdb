/* Billing maths: money, prices, usage record -> cost, Fargate sizes and the
 * billing config file. Expected values are worked out by hand from the
 * published prices (the comments show the arithmetic). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "billing/config.h"
#include "billing/cost.h"
#include "billing/money.h"
#include "billing/price.h"
#include "billing/size.h"

#define T0     1700000000000LL /* 2023-11-14T22:13:20Z */
#define MINUTE 60000LL
#define HOUR   3600000LL
#define X86    BILLING_ARCH_X86_64
#define ARM    BILLING_ARCH_ARM64

/* --- money --- */

static void test_money_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int r;
        int64_t nd;
    } cases[] = {
        {"0.04048", 0, 40480000},
        {"0.004445", 0, 4445000},
        {"0.000111", 0, 111000},
        {"0.03238", 0, 32380000},
        {"0.0816", 0, 81600000},
        {"12", 0, 12000000000},
        {"1.5", 0, 1500000000},
        {".5", 0, 500000000},
        {"0.000000001", 0, 1},
        {"0.1234567890", 0, 123456789}, /* a tenth trailing zero is harmless */
        {"0.0000000001", -ERANGE, 0},   /* below a nano-dollar */
        {"1000000", 0, 1000000000000000},
        {"1000000.000000001", -ERANGE, 0},
        {"1000001", -ERANGE, 0},
        {"", -EINVAL, 0},
        {".", -EINVAL, 0},
        {"1.", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"1e3", -EINVAL, 0},
        {"$1", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t nd = -7;
        int r = billing_money_parse(cases[i].in, &nd);
        if (r != cases[i].r)
            fail_msg("\"%s\": got %d, want %d", cases[i].in, r, cases[i].r);
        if (r == 0 && nd != cases[i].nd)
            fail_msg("\"%s\": got %lld nd, want %lld", cases[i].in, (long long)nd,
                     (long long)cases[i].nd);
        if (r < 0)
            assert_int_equal(nd, -7); /* untouched on failure */
    }
}

static void test_money_format(void **state)
{
    (void)state;
    static const struct {
        int64_t nd;
        int decimals;
        const char *out;
    } cases[] = {
        {0, 2, "$0.00"},
        {5000000, 2, "$0.01"}, /* half a cent rounds away from zero */
        {4999999, 2, "$0.00"},
        {-5000000, 2, "-$0.01"},
        {-4999999, 2, "$0.00"},
        {1234567890, 2, "$1.23"},
        {1235000000, 2, "$1.24"},
        {118500000, 4, "$0.1185"},
        {205709, 6, "$0.000206"},
        {205709, 9, "$0.000205709"},
        {1999999999, 0, "$2"},
        {-1500000000, 0, "-$2"},
        {INT64_MAX, 2, "$9223372036.85"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        billing_money_format(cases[i].nd, cases[i].decimals, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].out);
    }
    char buf[64];
    billing_money_format_auto(118500000, buf, sizeof(buf));
    assert_string_equal(buf, "$0.1185");
    billing_money_format_auto(12345000000, buf, sizeof(buf));
    assert_string_equal(buf, "$12.35");
    assert_int_equal(billing_money_cents(5000000), 1);
    assert_int_equal(billing_money_cents(14999999), 1);
    assert_int_equal(billing_money_cents(15000000), 2);
    assert_int_equal(billing_money_cents(-15000000), -2);
}

/* --- usage record -> cost --- */

struct cost_case {
    const char *name;
    struct billing_usage u;
    int64_t billed_ms, vcpu_nd, memory_nd, storage_nd;
};

static const struct cost_case cost_cases[] = {
    /* 30 s bills the one-minute minimum: 0.25 vCPU x $0.04048 x 60/3600 =
     * $0.000168666.. -> 168667 nd; 0.5 GB x $0.004445 / 60 = 37041.6.. -> 37042 */
    {"30 s -> 1 min minimum", {T0, T0, T0 + 30000, 256, 512, 0, X86}, MINUTE, 168667, 37042, 0},
    {"0 s -> 1 min minimum", {T0, T0, T0, 256, 512, 0, X86}, MINUTE, 168667, 37042, 0},
    {"59.999 s -> 1 min", {T0, T0, T0 + 59999, 256, 512, 0, X86}, MINUTE, 168667, 37042, 0},
    {"60 s exactly", {T0, T0, T0 + 60000, 256, 512, 0, X86}, MINUTE, 168667, 37042, 0},
    /* 60.001 s rounds up to 61 s: $0.04048 x 61/3600 = 685911.1 nd;
     * 2 GB x $0.004445 x 61/3600 = 150636.1 nd */
    {"60.001 s -> 61 s", {T0, T0, T0 + 60001, 1024, 2048, 0, X86}, 61000, 685911, 150636, 0},
    {"61 s exactly", {T0, T0, T0 + 61000, 1024, 2048, 0, X86}, 61000, 685911, 150636, 0},
    /* 61.999 s -> 62 s: 40480000 x 62/3600 = 697155.6; 8890000 x 62/3600 = 153105.6 */
    {"61.999 s -> 62 s", {T0, T0, T0 + 61999, 1024, 2048, 0, X86}, 62000, 697156, 153106, 0},
    /* One hour, arm64 2 vCPU / 4 GB: 2 x $0.03238, 4 x $0.00356 */
    {"1 h arm64", {T0, T0, T0 + HOUR, 2048, 4096, 0, ARM}, HOUR, 64760000, 14240000, 0},
    /* Not pulled: from createdAt; 90.5 s -> 91 s, 0.5 vCPU / 1 GB x86:
     * 20240000 x 91/3600 = 511622.2; 4445000 x 91/3600 = 112359.7 */
    {"from createdAt when nothing pulled",
     {T0, 0, T0 + 90500, 512, 1024, 0, X86},
     91000,
     511622,
     112360,
     0},
    /* Pulled 5 s after creation: the 5 s before the pull are not billed. */
    {"from pullStartedAt",
     {T0 - 5000, T0, T0 + 90500, 512, 1024, 0, X86},
     91000,
     511622,
     112360,
     0},
    /* Storage: 20 GiB included, above it per GB: 1 GB x $0.000111 x 1 h */
    {"21 GiB storage 1 h", {T0, T0, T0 + HOUR, 256, 512, 21, X86}, HOUR, 10120000, 2222500, 111000},
    {"20 GiB storage is free", {T0, T0, T0 + HOUR, 256, 512, 20, X86}, HOUR, 10120000, 2222500, 0},
    {"default storage is free", {T0, T0, T0 + HOUR, 256, 512, 0, X86}, HOUR, 10120000, 2222500, 0},
    /* 180 GB x 111000 = 19980000 */
    {"200 GiB storage 1 h",
     {T0, T0, T0 + HOUR, 256, 512, 200, X86},
     HOUR,
     10120000,
     2222500,
     19980000},
    /* arm64 storage costs the same: 111000 / 60 = 1850 for a minute */
    {"21 GiB storage arm64 1 min",
     {T0, T0, T0 + 1000, 256, 512, 21, ARM},
     MINUTE,
     134917,
     29667,
     1850},
    /* 4 vCPU / 8 GB / 25 GiB x86 for 61 s: 161920000 x 61/3600 = 2743644.4;
     * 35560000 x 61/3600 = 602544.4; 5 x 111000 x 61/3600 = 9404.2 */
    {"4 vCPU 8 GB 25 GiB 61 s",
     {T0, T0, T0 + 61000, 4096, 8192, 25, X86},
     61000,
     2743644,
     602544,
     9404},
    /* A day and a millisecond at the largest size, arm64, 200 GiB: 86401 s.
     * 16 x 32380000 x 86401/3600 = 12434063911.1; 120 x 3560000 x 86401/3600
     * = 10252918666.7; 180 x 111000 x 86401/3600 = 479525550 */
    {"16 vCPU 120 GB 1 day + 1 ms",
     {T0, T0, T0 + 24 * HOUR + 1, 16384, 122880, 200, ARM},
     86401000,
     12434063911,
     10252918667,
     479525550},
};

static void test_cost_table(void **state)
{
    (void)state;
    struct billing_schedule s;
    billing_schedule_init(&s);
    for (size_t i = 0; i < sizeof(cost_cases) / sizeof(cost_cases[0]); i++) {
        const struct cost_case *c = &cost_cases[i];
        struct billing_cost got;
        _cleanup_error_ struct error *err = NULL;
        if (billing_usage_cost(&c->u, &s, &got, &err) < 0)
            fail_msg("%s: %s", c->name, err->msg);
        if (got.billed_ms != c->billed_ms || got.vcpu_nd != c->vcpu_nd ||
            got.memory_nd != c->memory_nd || got.storage_nd != c->storage_nd ||
            got.total_nd != c->vcpu_nd + c->memory_nd + c->storage_nd)
            fail_msg("%s: billed %lld ms vcpu %lld mem %lld storage %lld total %lld; want %lld ms "
                     "%lld %lld %lld",
                     c->name, (long long)got.billed_ms, (long long)got.vcpu_nd,
                     (long long)got.memory_nd, (long long)got.storage_nd, (long long)got.total_nd,
                     (long long)c->billed_ms, (long long)c->vcpu_nd, (long long)c->memory_nd,
                     (long long)c->storage_nd);
        assert_int_equal(got.start_ms,
                         c->u.pull_started_ms ? c->u.pull_started_ms : c->u.created_ms);
        assert_int_equal(got.run_ms, c->u.stopped_ms - got.start_ms);
    }
    billing_schedule_done(&s);
}

static void test_cost_invalid(void **state)
{
    (void)state;
    static const struct billing_usage bad[] = {
        {0, 0, T0, 256, 512, 0, X86},                    /* no start */
        {T0, T0, T0 - 1, 256, 512, 0, X86},              /* stops before it starts */
        {T0, T0, T0 + 1000, 0, 512, 0, X86},             /* no cpu */
        {T0, T0, T0 + 1000, 256, 0, 0, X86},             /* no memory */
        {T0, T0, T0 + 1000, 256, 512, -1, X86},          /* negative storage */
        {T0, T0, T0 + 1000, (1 << 20) + 1, 512, 0, X86}, /* absurd cpu */
        {T0, T0, T0 + 1000, 256, 512, 0, (enum billing_arch)7},
        {1, 1, 1 + 101LL * 366 * 24 * HOUR, 256, 512, 0, X86}, /* > 100 years */
    };
    struct billing_schedule s;
    billing_schedule_init(&s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct billing_cost got = {.total_nd = -42};
        _cleanup_error_ struct error *err = NULL;
        assert_int_equal(billing_usage_cost(&bad[i], &s, &got, &err), -EINVAL);
        assert_non_null(err);
        assert_int_equal(got.total_nd, -42);
    }
    billing_schedule_done(&s);
}

/* Every valid size, both architectures: an hour costs exactly
 * vCPU x price + GB x price (every size is a multiple of 1/4 vCPU and
 * 1/2 GB, so no rounding), and 61.5 s costs that hour's price x 62/3600,
 * rounded to the nano-dollar. */
static void test_cost_every_size(void **state)
{
    (void)state;
    struct billing_size sizes[BILLING_SIZE_COUNT + 1];
    assert_int_equal(billing_size_list(sizes, BILLING_SIZE_COUNT + 1), BILLING_SIZE_COUNT);
    struct billing_schedule s;
    billing_schedule_init(&s);
    static const struct {
        enum billing_arch arch;
        int64_t vcpu, gb;
    } archs[] = {{X86, 40480000, 4445000}, {ARM, 32380000, 3560000}};
    for (size_t a = 0; a < 2; a++) {
        for (size_t i = 0; i < BILLING_SIZE_COUNT; i++) {
            struct billing_usage u = {
                T0, T0, T0 + HOUR, sizes[i].cpu_units, sizes[i].memory_mib, 0, archs[a].arch};
            struct billing_cost c;
            assert_int_equal(billing_usage_cost(&u, &s, &c, NULL), 0);
            assert_int_equal((archs[a].vcpu * sizes[i].cpu_units) % 1024, 0);
            assert_int_equal((archs[a].gb * sizes[i].memory_mib) % 1024, 0);
            int64_t vcpu = archs[a].vcpu * sizes[i].cpu_units / 1024;
            int64_t mem = archs[a].gb * sizes[i].memory_mib / 1024;
            assert_int_equal(c.vcpu_nd, vcpu);
            assert_int_equal(c.memory_nd, mem);
            assert_int_equal(c.total_nd, vcpu + mem);

            u.stopped_ms = T0 + 61500;
            assert_int_equal(billing_usage_cost(&u, &s, &c, NULL), 0);
            assert_int_equal(c.billed_ms, 62000);
            assert_int_equal(c.vcpu_nd, (vcpu * 62 + 1800) / 3600);
            assert_int_equal(c.memory_nd, (mem * 62 + 1800) / 3600);
        }
    }
    billing_schedule_done(&s);
}

/* --- price schedules --- */

static void halve_x86(struct billing_prices *p)
{
    billing_prices_default(p);
    p->arch[X86].vcpu_hour_nd = 20240000; /* $0.02024 */
    p->arch[X86].gb_hour_nd = 2000000;    /* $0.002 */
}

static void test_price_change(void **state)
{
    (void)state;
    struct billing_schedule s;
    billing_schedule_init(&s);
    struct billing_prices p;
    halve_x86(&p);
    assert_int_equal(billing_schedule_add(&s, T0 + 30 * MINUTE, &p, NULL), 0);
    static const struct {
        const char *name;
        struct billing_usage u;
        int64_t vcpu_nd, memory_nd;
    } cases[] = {
        /* Half an hour at each price: 40480000/2 + 20240000/2 = 30360000;
         * 2 GB: 8890000/2 + 4000000/2 = 6445000 */
        {"across the change", {T0, T0, T0 + HOUR, 1024, 2048, 0, X86}, 30360000, 6445000},
        {"before the change", {T0, T0, T0 + 30 * MINUTE, 1024, 2048, 0, X86}, 20240000, 4445000},
        {"after the change",
         {T0 + 30 * MINUTE, T0 + 30 * MINUTE, T0 + 90 * MINUTE, 1024, 2048, 0, X86},
         20240000,
         4000000},
        /* 10 s run billed as a minute that straddles the change at T0+30min:
         * 30 s old + 30 s new: (40480000 + 20240000) x 30/3600 = 506000;
         * (8890000 + 4000000) x 30/3600 = 107416.7 */
        {"minimum straddles the change",
         {T0 + 30 * MINUTE - 30000, T0 + 30 * MINUTE - 30000, T0 + 30 * MINUTE - 20000, 1024, 2048,
          0, X86},
         506000,
         107417},
        /* arm64 prices did not change. */
        {"arm64 unaffected", {T0, T0, T0 + HOUR, 1024, 2048, 0, ARM}, 32380000, 7120000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct billing_cost c;
        assert_int_equal(billing_usage_cost(&cases[i].u, &s, &c, NULL), 0);
        if (c.vcpu_nd != cases[i].vcpu_nd || c.memory_nd != cases[i].memory_nd)
            fail_msg("%s: vcpu %lld mem %lld", cases[i].name, (long long)c.vcpu_nd,
                     (long long)c.memory_nd);
    }

    /* A second change: 20 min at each of three prices, 1 vCPU x86:
     * (40480000 + 20240000 + 10000000) / 3 = 23573333.3 */
    p.arch[X86].vcpu_hour_nd = 10000000;
    assert_int_equal(billing_schedule_add(&s, T0 + 50 * MINUTE, &p, NULL), 0);
    struct billing_usage u = {
        T0 + 10 * MINUTE, T0 + 10 * MINUTE, T0 + 70 * MINUTE, 1024, 2048, 0, X86};
    struct billing_cost c;
    assert_int_equal(billing_usage_cost(&u, &s, &c, NULL), 0);
    assert_int_equal(c.vcpu_nd, 23573333);

    /* Periods must move forward. */
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(billing_schedule_add(&s, T0 + 50 * MINUTE, &p, &err), -EINVAL);
    assert_int_equal(s.n, 3);
    assert_int_equal(billing_schedule_find(&s, INT64_MIN), 0);
    assert_int_equal(billing_schedule_find(&s, T0 + 30 * MINUTE - 1), 0);
    assert_int_equal(billing_schedule_find(&s, T0 + 30 * MINUTE), 1);
    assert_int_equal(billing_schedule_find(&s, INT64_MAX), 2);
    billing_schedule_done(&s);
}

/* --- sizes --- */

static void test_sizes(void **state)
{
    (void)state;
    /* Per cpu: how many memory choices, first and last. */
    static const struct {
        int32_t cpu, count, min, max, step;
    } rows[] = {
        {256, 3, 512, 2048, 0},           {512, 4, 1024, 4096, 1024},
        {1024, 7, 2048, 8192, 1024},      {2048, 13, 4096, 16384, 1024},
        {4096, 23, 8192, 30720, 1024},    {8192, 12, 16384, 61440, 4096},
        {16384, 12, 32768, 122880, 8192},
    };
    struct billing_size sizes[BILLING_SIZE_COUNT];
    assert_int_equal(billing_size_list(NULL, 0), BILLING_SIZE_COUNT);
    assert_int_equal(billing_size_list(sizes, BILLING_SIZE_COUNT), BILLING_SIZE_COUNT);
    size_t at = 0;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        for (int32_t i = 0; i < rows[r].count; i++, at++) {
            assert_int_equal(sizes[at].cpu_units, rows[r].cpu);
            int32_t want = rows[r].step ? rows[r].min + i * rows[r].step : rows[r].min << i;
            assert_int_equal(sizes[at].memory_mib, want);
            assert_true(billing_size_valid(rows[r].cpu, want));
            assert_int_equal(billing_size_fit_memory(rows[r].cpu, want), want);
            assert_int_equal(billing_size_fit_memory(rows[r].cpu, want - 1), want);
            assert_false(billing_size_valid(rows[r].cpu, want - 1));
            assert_false(billing_size_valid(rows[r].cpu, want + 1));
            assert_false(billing_size_valid(rows[r].cpu + 1, want));
        }
        assert_int_equal(sizes[at - 1].memory_mib, rows[r].max);
        assert_int_equal(billing_size_fit_memory(rows[r].cpu, rows[r].max + 1), -1);
        assert_false(billing_size_valid(rows[r].cpu,
                                        rows[r].max + (rows[r].step ? rows[r].step : rows[r].max)));
        assert_false(billing_size_valid(
            rows[r].cpu, rows[r].min - (rows[r].step ? rows[r].step : rows[r].min / 2)));
    }
    assert_int_equal(at, BILLING_SIZE_COUNT);
    assert_false(billing_size_valid(256, 1536));
    assert_false(billing_size_valid(256, 4096));
    assert_false(billing_size_valid(8192, 18432)); /* 8 vCPU steps by 4 GiB */
    assert_false(billing_size_valid(16384, 36864));
    assert_false(billing_size_valid(128, 512));
    assert_false(billing_size_valid(32768, 65536));
    assert_false(billing_size_valid(1024, 0));
}

/* --- config --- */

static void test_config_defaults(void **state)
{
    (void)state;
    struct billing_config c;
    billing_config_init(&c);
    assert_int_equal(c.schedule.n, 1);
    const struct billing_prices *p = &c.schedule.periods[0].prices;
    assert_int_equal(p->arch[X86].vcpu_hour_nd, 40480000);
    assert_int_equal(p->arch[X86].gb_hour_nd, 4445000);
    assert_int_equal(p->arch[X86].storage_gb_hour_nd, 111000);
    assert_int_equal(p->arch[ARM].vcpu_hour_nd, 32380000);
    assert_int_equal(p->arch[ARM].gb_hour_nd, 3560000);
    assert_int_equal(p->arch[ARM].storage_gb_hour_nd, 111000);
    assert_int_equal(c.headroom_percent, 20);
    assert_int_equal(c.granularity_s, 60);
    int k = billing_instance_table_find(&c.instances, "m7g.large");
    assert_true(k >= 0);
    assert_int_equal(c.instances.types[k].hour_nd, 81600000);
    assert_int_equal(c.instances.types[k].cpu_units, 2048);
    assert_int_equal(c.instances.types[k].memory_mib, 8192);
    k = billing_instance_table_find(&c.instances, "t4g.medium");
    assert_true(k >= 0);
    assert_int_equal(c.instances.types[k].cpu_units, 409); /* 20% of 2 vCPU */
    billing_config_done(&c);
}

static const char good_config[] = "# deployment prices\n"
                                  "[options]\n"
                                  "headroom_percent = 30\n"
                                  "granularity_seconds = 300\n"
                                  "\n"
                                  "[prices]\n"
                                  "  x86_64.vcpu_hour = 0.05\n"
                                  "ARM64.gb_hour=0.004\n"
                                  "\n"
                                  "[prices 2025-07-01]\n"
                                  "x86_64.vcpu_hour = 0.03\n"
                                  "; a comment\n"
                                  "[prices 2025-07-01T12:00:00Z]\n"
                                  "arm64.storage_gb_hour = 0.0002\n"
                                  "\n"
                                  "[instance big.box]\n"
                                  "arch = x86_64\n"
                                  "vcpus = 64\n"
                                  "memory_gib = 256\n"
                                  "hourly = 2.5\n"
                                  "[instance tiny]\n"
                                  "arch = arm64\n"
                                  "vcpus = 2\n"
                                  "memory_gib = 0.5\n"
                                  "hourly = 0.0042\n"
                                  "baseline_percent = 5\n";

static void test_config_parse(void **state)
{
    (void)state;
    struct billing_config c;
    billing_config_init(&c);
    _cleanup_error_ struct error *err = NULL;
    int r = billing_config_parse(&c, good_config, strlen(good_config), &err);
    if (r < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(c.headroom_percent, 30);
    assert_int_equal(c.granularity_s, 300);
    assert_int_equal(c.schedule.n, 3);
    const struct billing_price_period *pp = c.schedule.periods;
    assert_true(pp[0].from_ms == INT64_MIN);
    assert_int_equal(pp[0].prices.arch[X86].vcpu_hour_nd, 50000000);
    assert_int_equal(pp[0].prices.arch[X86].gb_hour_nd, 4445000); /* default kept */
    assert_int_equal(pp[0].prices.arch[ARM].gb_hour_nd, 4000000);
    assert_int_equal(pp[1].from_ms, 1751328000000LL); /* 2025-07-01T00:00:00Z */
    assert_int_equal(pp[1].prices.arch[X86].vcpu_hour_nd, 30000000);
    assert_int_equal(pp[1].prices.arch[ARM].gb_hour_nd, 4000000); /* inherited */
    assert_int_equal(pp[2].from_ms, 1751328000000LL + 12 * HOUR);
    assert_int_equal(pp[2].prices.arch[X86].vcpu_hour_nd, 30000000);
    assert_int_equal(pp[2].prices.arch[ARM].storage_gb_hour_nd, 200000);
    assert_int_equal(pp[2].prices.arch[X86].storage_gb_hour_nd, 111000);
    /* The file's instances replace the defaults. */
    assert_int_equal(c.instances.n, 2);
    assert_int_equal(billing_instance_table_find(&c.instances, "m7g.large"), -1);
    assert_string_equal(c.instances.types[0].name, "big.box");
    assert_int_equal(c.instances.types[0].cpu_units, 65536);
    assert_int_equal(c.instances.types[0].memory_mib, 262144);
    assert_int_equal(c.instances.types[0].hour_nd, 2500000000);
    assert_int_equal(c.instances.types[1].arch, ARM);
    assert_int_equal(c.instances.types[1].memory_mib, 512);
    assert_int_equal(c.instances.types[1].cpu_units, 102); /* 5% of 2048 */

    /* A task across the 2025-07-01 change bills each part at its price:
     * 1 vCPU x86, an hour either side: $0.05 + $0.03. */
    struct billing_usage u = {
        pp[1].from_ms - HOUR, pp[1].from_ms - HOUR, pp[1].from_ms + HOUR, 1024, 2048, 0, X86};
    struct billing_cost cost;
    assert_int_equal(billing_usage_cost(&u, &c.schedule, &cost, NULL), 0);
    assert_int_equal(cost.vcpu_nd, 80000000);
    billing_config_done(&c);
}

static void test_config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *msg; /* part of the message */
    } cases[] = {
        {"x86_64.vcpu_hour = 1\n", "outside a section"},
        {"[prices]\nx86_64.cpu_hour = 1\n", "line 2: unknown key x86_64.cpu_hour"},
        {"[prices]\nsparc.vcpu_hour = 1\n", "unknown architecture sparc"},
        {"[prices]\nx86_64.vcpu_hour = 0.0000000001\n", "not a dollar amount"},
        {"[prices]\nx86_64.vcpu_hour = -1\n", "not a dollar amount"},
        {"[prices]\nx86_64.vcpu_hour\n", "expected key = value"},
        {"[prices 2025-07-01]\n[prices 2025-06-01]\n", "line 2"},
        {"[prices 2025-07-01]\n[prices 2025-07-01]\n", "line 2"},
        {"[prices 2025-07-01]\n[prices]\n", "must come before"},
        {"[prices 2025-02-30]\n", "is not YYYY-MM-DD"},
        {"[prices 2025-07-01T25:00:00Z]\n", "is not YYYY-MM-DD"},
        {"[prices yesterday]\n", "is not YYYY-MM-DD"},
        {"[price]\n", "unknown section [price]"},
        {"[options]\nheadroom_percent = lots\n", "invalid value"},
        {"[options]\ngranularity_seconds = 0\n", "invalid value"},
        {"[options]\ncolour = blue\n", "unknown key colour"},
        {"[instance a]\narch = arm64\nvcpus = 2\nhourly = 0.1\n", "needs arch, vcpus"},
        {"[instance a]\narch = mips\n", "invalid value"},
        {"[instance a]\narch=arm64\nvcpus=2\nmemory_gib=0.3\nhourly=1\n", "invalid value"},
        {"[instance a]\narch=arm64\nvcpus=2\nmemory_gib=4\nhourly=1\n"
         "[instance a]\narch=arm64\nvcpus=2\nmemory_gib=4\nhourly=1\n",
         "listed twice"},
        {"[instance a]\narch=arm64\nvcpus=2\nmemory_gib=4\nhourly=0\n", "invalid size or price"},
        {"[options\n", "unterminated"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct billing_config c;
        billing_config_init(&c);
        c.headroom_percent = 77; /* must survive a failed parse */
        _cleanup_error_ struct error *err = NULL;
        int r = billing_config_parse(&c, cases[i].text, strlen(cases[i].text), &err);
        if (r >= 0)
            fail_msg("case %zu parsed", i);
        assert_non_null(err);
        if (!strstr(err->msg, cases[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err->msg, cases[i].msg);
        assert_int_equal(c.headroom_percent, 77);
        assert_int_equal(c.schedule.n, 1);
        billing_config_done(&c);
    }
    /* A long line is refused, not truncated. */
    char big[2048];
    memset(big, ' ', sizeof(big));
    memcpy(big, "[options]\n", 10);
    struct billing_config c;
    billing_config_init(&c);
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(billing_config_parse(&c, big, sizeof(big), &err), -E2BIG);
    billing_config_done(&c);
}

static void test_config_load(void **state)
{
    (void)state;
    char path[] = "/tmp/test-billing-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good_config, strlen(good_config)), (ssize_t)strlen(good_config));
    close(fd);
    struct billing_config c;
    billing_config_init(&c);
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(billing_config_load(&c, path, &err), 0);
    assert_int_equal(c.schedule.n, 3);
    assert_int_equal(c.instances.n, 2);
    unlink(path);
    _cleanup_error_ struct error *err2 = NULL;
    assert_int_equal(billing_config_load(&c, path, &err2), -ENOENT);
    assert_non_null(strstr(err2->msg, path));
    assert_int_equal(c.schedule.n, 3);
    billing_config_done(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_parse),     cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_cost_table),      cmocka_unit_test(test_cost_invalid),
        cmocka_unit_test(test_cost_every_size), cmocka_unit_test(test_price_change),
        cmocka_unit_test(test_sizes),           cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_parse),    cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
