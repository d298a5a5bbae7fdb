/* Utilisation summaries, idle-reservation cost and right-sizing, on hand
 * cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "billing/rightsize.h"

#define T0   1700000000000LL
#define HOUR 3600000LL
#define MIB  (1024LL * 1024)
#define X86  BILLING_ARCH_X86_64
#define ARM  BILLING_ARCH_ARM64

/* Builds samples every dt_ms with the given per-interval rates (milli-vCPU)
 * and memory (MiB) at each sample after the first. */
static size_t make_samples(struct billing_sample *s, int64_t dt_ms, const int32_t *rates,
                           const int64_t *mem_mib, size_t intervals, int64_t first_mem_mib)
{
    s[0] = (struct billing_sample){T0, 5000000, first_mem_mib * MIB};
    for (size_t i = 0; i < intervals; i++)
        s[i + 1] = (struct billing_sample){s[i].t_ms + dt_ms, s[i].cpu_usec + rates[i] * dt_ms,
                                           mem_mib[i] * MIB};
    return intervals + 1;
}

static void test_summary_spike_at_p95(void **state)
{
    (void)state;
    /* Ten 10 s intervals: nine at 0.1 vCPU, one at 0.9. The nearest-rank p95
     * of 10 is the 10th smallest: the spike. CPU: 9 x 1 s + 9 s = 18 s over
     * 100 s = 180 milli. Memory 100 MiB for nine intervals, 300 for the
     * last: mean 120 MiB, peak 300 (the first sample's 50 does not weigh). */
    int32_t rates[10] = {100, 100, 100, 100, 100, 100, 100, 100, 100, 900};
    int64_t mem[10] = {100, 100, 100, 100, 100, 100, 100, 100, 100, 300};
    struct billing_sample s[11];
    size_t n = make_samples(s, 10000, rates, mem, 10, 50);
    struct billing_utilisation u;
    assert_int_equal(billing_samples_summarise(s, n, &u, NULL), 0);
    assert_int_equal(u.intervals, 10);
    assert_int_equal(u.wall_ms, 100000);
    assert_int_equal(u.cpu_usec, 18000000);
    assert_int_equal(u.cpu_avg_milli, 180);
    assert_int_equal(u.cpu_p95_milli, 900);
    assert_int_equal(u.mem_avg_bytes, 120 * MIB);
    assert_int_equal(u.mem_peak_bytes, 300 * MIB);
}

static void test_summary_spike_below_p95(void **state)
{
    (void)state;
    /* Twenty intervals, one spike: rank ceil(0.95 x 20) = 19, still 0.1. */
    int32_t rates[20];
    int64_t mem[20];
    for (int i = 0; i < 20; i++) {
        rates[i] = i == 7 ? 2000 : 100;
        mem[i] = 64;
    }
    struct billing_sample s[21];
    size_t n = make_samples(s, 5000, rates, mem, 20, 600);
    struct billing_utilisation u;
    assert_int_equal(billing_samples_summarise(s, n, &u, NULL), 0);
    assert_int_equal(u.cpu_p95_milli, 100);
    /* (19 x 100 + 2000) / 20 = 195 */
    assert_int_equal(u.cpu_avg_milli, 195);
    assert_int_equal(u.mem_avg_bytes, 64 * MIB);
    assert_int_equal(u.mem_peak_bytes, 600 * MIB); /* the first sample is the peak */
}

static void test_summary_edges(void **state)
{
    (void)state;
    struct billing_utilisation u;
    /* No samples, one sample. */
    assert_int_equal(billing_samples_summarise(NULL, 0, &u, NULL), 0);
    assert_int_equal(u.intervals, 0);
    assert_int_equal(u.mem_peak_bytes, 0);
    struct billing_sample one = {T0, 123, 77 * MIB};
    assert_int_equal(billing_samples_summarise(&one, 1, &u, NULL), 0);
    assert_int_equal(u.intervals, 0);
    assert_int_equal(u.cpu_p95_milli, 0);
    assert_int_equal(u.mem_avg_bytes, 0);
    assert_int_equal(u.mem_peak_bytes, 77 * MIB);

    /* A counter reset and a repeated timestamp drop their intervals; a
     * tiny rate rounds up to 1 milli-vCPU. */
    struct billing_sample s[] = {
        {T0, 1000000, 10 * MIB},
        {T0 + 1000, 1000001, 20 * MIB}, /* 1 usec in 1 s: 0.001 milli -> 1 */
        {T0 + 2000, 10, 30 * MIB},      /* reset: dropped */
        {T0 + 2000, 20, 40 * MIB},      /* no time passed: dropped */
        {T0 + 3000, 500020, 50 * MIB},  /* 0.5 s in 1 s: 500 milli */
    };
    assert_int_equal(billing_samples_summarise(s, 5, &u, NULL), 0);
    assert_int_equal(u.intervals, 2);
    assert_int_equal(u.wall_ms, 2000);
    assert_int_equal(u.cpu_usec, 500001);
    assert_int_equal(u.cpu_p95_milli, 500);
    assert_int_equal(u.cpu_avg_milli, 251); /* 500001 / 2000 = 250.0005, up */
    assert_int_equal(u.mem_avg_bytes, 35 * MIB);
    assert_int_equal(u.mem_peak_bytes, 50 * MIB);

    /* Out of order. */
    struct billing_sample bad[] = {{T0 + 1000, 0, 0}, {T0, 0, 0}};
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(billing_samples_summarise(bad, 2, &u, &err), -EINVAL);
    assert_non_null(err);
}

struct advice_case {
    const char *name;
    struct billing_usage u;
    struct billing_utilisation use;
    int32_t headroom;
    bool has;
    int32_t need_cpu, need_mem;
    int32_t rec_cpu, rec_mem;
    int64_t current_nd, recommended_nd, idle_vcpu_nd, idle_memory_nd;
};

static const struct advice_case advice_cases[] = {
    /* An idle 1 vCPU / 2 GB x86 task for an hour: p95 0.1 vCPU, peak 300 MiB.
     * Need 0.1 x 1.2 = 0.12 vCPU = 122.88 -> 123 units, 360 MiB: 256/512.
     * Current $0.04048 + 2 x $0.004445 = 49370000 nd; 256/512 costs
     * 10120000 + 2222500 = 12342500. Idle: 900 s of 3600 used, so 3/4 of
     * 40480000 = 30360000; 1 GiB of 2 on average: half of 8890000. */
    {"idle task shrinks",
     {T0, T0, T0 + HOUR, 1024, 2048, 0, X86},
     {.cpu_usec = 900000000,
      .cpu_p95_milli = 100,
      .mem_avg_bytes = 1024 * MIB,
      .mem_peak_bytes = 300 * MIB},
     20,
     true,
     123,
     360,
     256,
     512,
     49370000,
     12342500,
     30360000,
     4445000},
    /* A task pinned at its 1 vCPU limit: 1.2 vCPU = 1229 units, peak
     * 1.5 GiB x 1.2 = 1843.2 -> 1844 MiB: 2048/4096 at 80960000 + 17780000.
     * No idle CPU; 1.5 of 2 GiB used on average: a quarter of 8890000. */
    {"busy task grows",
     {T0, T0, T0 + HOUR, 1024, 2048, 0, X86},
     {.cpu_usec = 3600000000LL,
      .cpu_p95_milli = 1000,
      .mem_avg_bytes = 1536 * MIB,
      .mem_peak_bytes = 1536 * MIB},
     20,
     true,
     1229,
     1844,
     2048,
     4096,
     49370000,
     98740000,
     0,
     2222500},
    /* Memory-bound: 62 units, 3600 MiB. 256 tops out at 2 GiB; 512/4096
     * (20240000 + 17780000 = 38020000) beats 1024/4096 (58260000). Current
     * 1024/8192: 40480000 + 35560000. */
    {"memory-bound task",
     {T0, T0, T0 + HOUR, 1024, 8192, 0, X86},
     {.cpu_usec = 180000000,
      .cpu_p95_milli = 50,
      .mem_avg_bytes = 2048 * MIB,
      .mem_peak_bytes = 3000 * MIB},
     20,
     true,
     62,
     3600,
     512,
     4096,
     76040000,
     38020000,
     38456000,
     26670000},
    /* Exactly 0.25 vCPU and 512 MiB with no headroom fit 256/512 ... */
    {"boundary, no headroom",
     {T0, T0, T0 + HOUR, 512, 1024, 0, X86},
     {.cpu_usec = 900000000,
      .cpu_p95_milli = 250,
      .mem_avg_bytes = 512 * MIB,
      .mem_peak_bytes = 512 * MIB},
     0,
     true,
     256,
     512,
     256,
     512,
     24685000,
     12342500,
     10120000,
     2222500},
    /* ... and with 20% need 308 units / 615 MiB (614.4 up): 512/1024. */
    {"boundary, 20% headroom",
     {T0, T0, T0 + HOUR, 512, 1024, 0, X86},
     {.cpu_usec = 900000000,
      .cpu_p95_milli = 250,
      .mem_avg_bytes = 512 * MIB,
      .mem_peak_bytes = 512 * MIB},
     20,
     true,
     308,
     615,
     512,
     1024,
     24685000,
     24685000,
     10120000,
     2222500},
    /* Nothing covers 130000 MiB x 1.2. 16 x 40480000 + 120 x 4445000. */
    {"too big for Fargate",
     {T0, T0, T0 + HOUR, 16384, 122880, 0, X86},
     {.cpu_usec = 0,
      .cpu_p95_milli = 0,
      .mem_avg_bytes = 122880 * MIB,
      .mem_peak_bytes = 130000 * MIB},
     20,
     false,
     0,
     156000,
     0,
     0,
     1181080000,
     0,
     647680000,
     0},
    /* arm64 prices: 2 vCPU / 4 GB idle -> 256/512 at 8095000 + 1780000. */
    {"arm64 idle",
     {T0, T0, T0 + HOUR, 2048, 4096, 0, ARM},
     {.cpu_usec = 0, .cpu_p95_milli = 0, .mem_avg_bytes = 0, .mem_peak_bytes = 100 * MIB},
     20,
     true,
     0,
     120,
     256,
     512,
     79000000,
     9875000,
     64760000,
     14240000},
    /* 30 s run billed as 60 s; 30 CPU-seconds used of 60 reserved: half of
     * 674667 (1 vCPU-minute, 674666.7 rounded) = 337333.5 -> 337334. */
    {"one-minute minimum counts as reserved",
     {T0, T0, T0 + 30000, 1024, 2048, 0, X86},
     {.cpu_usec = 30000000,
      .cpu_p95_milli = 1000,
      .mem_avg_bytes = 2048 * MIB,
      .mem_peak_bytes = 2048 * MIB},
     0,
     true,
     1024,
     2048,
     1024,
     2048,
     822834,
     822834,
     337334,
     0},
};

static void test_advice_table(void **state)
{
    (void)state;
    struct billing_schedule s;
    billing_schedule_init(&s);
    for (size_t i = 0; i < sizeof(advice_cases) / sizeof(advice_cases[0]); i++) {
        const struct advice_case *c = &advice_cases[i];
        struct billing_advice a;
        _cleanup_error_ struct error *err = NULL;
        if (billing_usage_advise(&c->u, &c->use, &s, c->headroom, &a, &err) < 0)
            fail_msg("%s: %s", c->name, err->msg);
        if (a.has_recommendation != c->has || a.need.cpu_units != c->need_cpu ||
            a.need.memory_mib != c->need_mem || a.recommended.cpu_units != c->rec_cpu ||
            a.recommended.memory_mib != c->rec_mem || a.current_nd != c->current_nd ||
            a.recommended_nd != c->recommended_nd || a.idle_vcpu_nd != c->idle_vcpu_nd ||
            a.idle_memory_nd != c->idle_memory_nd)
            fail_msg("%s: has %d need %d/%d rec %d/%d current %lld rec %lld idle %lld/%lld",
                     c->name, a.has_recommendation, a.need.cpu_units, a.need.memory_mib,
                     a.recommended.cpu_units, a.recommended.memory_mib, (long long)a.current_nd,
                     (long long)a.recommended_nd, (long long)a.idle_vcpu_nd,
                     (long long)a.idle_memory_nd);
        assert_int_equal(a.idle_nd, c->idle_vcpu_nd + c->idle_memory_nd);
        assert_int_equal(a.savings_nd, c->has ? c->current_nd - c->recommended_nd : 0);
        if (c->has)
            assert_true(billing_size_valid(a.recommended.cpu_units, a.recommended.memory_mib));
    }
    billing_schedule_done(&s);
}

static void test_advice_invalid(void **state)
{
    (void)state;
    struct billing_schedule s;
    billing_schedule_init(&s);
    struct billing_usage u = {T0, T0, T0 + HOUR, 1024, 2048, 0, X86};
    struct billing_utilisation use = {0};
    struct billing_advice a;
    _cleanup_error_ struct error *e1 = NULL, *e2 = NULL;
    assert_int_equal(billing_usage_advise(&u, &use, &s, -1, &a, &e1), -EINVAL);
    u.stopped_ms = T0 - 1;
    assert_int_equal(billing_usage_advise(&u, &use, &s, 20, &a, &e2), -EINVAL);
    billing_schedule_done(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_spike_at_p95), cmocka_unit_test(test_summary_spike_below_p95),
        cmocka_unit_test(test_summary_edges),        cmocka_unit_test(test_advice_table),
        cmocka_unit_test(test_advice_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
