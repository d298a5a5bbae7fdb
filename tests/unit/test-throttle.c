/* Token buckets, driven by a synthetic clock. Steps are multiples of a
 * quarter second so that the floating-point refill is exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/throttle.h"
#include "base/cleanup.h"

#define SEC     1000000000LL
#define QUARTER (SEC / 4)
#define ACC_A   "111111111111"
#define ACC_B   "222222222222"
#define T0      (1000 * SEC) /* an arbitrary monotonic reading */

/* Takes tokens until refused; returns how many were granted (at most max). */
static int drain(struct throttle *t, const char *acc, bool write, int64_t now, int max)
{
    int n = 0;
    while (n < max && throttle_take(t, acc, write, now))
        n++;
    return n;
}

static void test_burst_and_refill(void **state)
{
    (void)state;
    struct throttle_config cfg = {.read = {.rate = 4, .burst = 5},
                                  .write = {.rate = 2, .burst = 3}};
    struct throttle *t = throttle_new(&cfg);

    /* a new bucket starts full */
    assert_int_equal(drain(t, ACC_A, false, T0, 100), 5);
    assert_false(throttle_take(t, ACC_A, false, T0));
    /* a quarter second at 4/s is one token */
    assert_true(throttle_take(t, ACC_A, false, T0 + QUARTER));
    assert_false(throttle_take(t, ACC_A, false, T0 + QUARTER));
    /* two more quarters: two tokens */
    assert_int_equal(drain(t, ACC_A, false, T0 + 3 * QUARTER, 100), 2);
    /* half a token does not pass, and is kept: the next eighth completes it */
    assert_false(throttle_take(t, ACC_A, false, T0 + 3 * QUARTER + QUARTER / 2));
    assert_true(throttle_take(t, ACC_A, false, T0 + 4 * QUARTER));
    /* a long pause refills to the burst, not beyond */
    assert_int_equal(drain(t, ACC_A, false, T0 + 3600 * SEC, 100), 5);
    throttle_free(t);
}

static void test_read_write_separate(void **state)
{
    (void)state;
    struct throttle_config cfg = {.read = {.rate = 4, .burst = 5},
                                  .write = {.rate = 2, .burst = 3}};
    struct throttle *t = throttle_new(&cfg);
    assert_int_equal(drain(t, ACC_A, true, T0, 100), 3);
    /* writes exhausted, reads untouched */
    assert_int_equal(drain(t, ACC_A, false, T0, 100), 5);
    /* each refills at its own rate: half a second is 1 write, 2 reads */
    assert_int_equal(drain(t, ACC_A, true, T0 + 2 * QUARTER, 100), 1);
    assert_int_equal(drain(t, ACC_A, false, T0 + 2 * QUARTER, 100), 2);
    throttle_free(t);
}

static void test_per_account(void **state)
{
    (void)state;
    struct throttle_config cfg = {.read = {.rate = 1, .burst = 2},
                                  .write = {.rate = 1, .burst = 1}};
    struct throttle *t = throttle_new(&cfg);
    assert_int_equal(drain(t, ACC_A, false, T0, 100), 2);
    assert_int_equal(drain(t, ACC_B, false, T0, 100), 2);
    assert_int_equal(drain(t, ACC_B, true, T0, 100), 1);
    assert_int_equal(drain(t, ACC_A, true, T0, 100), 1);

    /* many accounts, sharing hash slots, keep their own buckets */
    char id[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "%012d", i);
        assert_int_equal(drain(t, id, false, T0, 100), 2);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "%012d", i);
        assert_false(throttle_take(t, id, false, T0));
    }
    /* keys that share a long prefix are still different accounts */
    assert_int_equal(drain(t, "1234567890123456789-a", false, T0, 100), 2);
    assert_int_equal(drain(t, "1234567890123456789-b", false, T0, 100), 2);
    throttle_free(t);
}

static void test_off(void **state)
{
    (void)state;
    struct throttle_config cfg = {.read = {.rate = 0, .burst = 0},
                                  .write = {.rate = 1, .burst = 1}};
    struct throttle *t = throttle_new(&cfg);
    assert_int_equal(drain(t, ACC_A, false, T0, 10000), 10000);
    assert_int_equal(drain(t, ACC_A, true, T0, 100), 1);
    throttle_free(t);

    struct throttle_config all_off = {.read = {0, 0}, .write = {0, 0}};
    t = throttle_new(&all_off);
    assert_int_equal(drain(t, ACC_A, true, T0, 10000), 10000);
    assert_int_equal(drain(t, ACC_A, false, T0, 10000), 10000);
    throttle_free(t);
    throttle_free(NULL);
}

static void test_odd_clock_and_config(void **state)
{
    (void)state;
    /* a burst below 1 still lets one call through */
    struct throttle_config cfg = {.read = {.rate = 4, .burst = 0},
                                  .write = {.rate = 4, .burst = 0.5}};
    struct throttle *t = throttle_new(&cfg);
    assert_int_equal(drain(t, ACC_A, false, T0, 100), 1);
    assert_int_equal(drain(t, ACC_A, true, T0, 100), 1);
    /* a clock reading earlier than the last refills nothing, and does not
     * spoil later refills */
    assert_false(throttle_take(t, ACC_A, false, T0 - 3600 * SEC));
    assert_true(throttle_take(t, ACC_A, false, T0 + QUARTER));
    throttle_free(t);
}

static const struct rate_case {
    const char *in;
    int ret;
    double rate, burst;
} rate_cases[] = {
    {"off", 0, 0, 0},           {"20:100", 0, 20, 100},
    {"0.5:1", 0, 0.5, 1},       {"1e3:2.5e3", 0, 1000, 2500},
    {"", -EINVAL, 0, 0},        {"OFF", -EINVAL, 0, 0},
    {"20", -EINVAL, 0, 0},      {"20:", -EINVAL, 0, 0},
    {":100", -EINVAL, 0, 0},    {"0:100", -EINVAL, 0, 0},
    {"-1:5", -EINVAL, 0, 0},    {"20:0.5", -EINVAL, 0, 0},
    {"20:0", -EINVAL, 0, 0},    {"20:100x", -EINVAL, 0, 0},
    {"20x:100", -EINVAL, 0, 0}, {"20:100:3", -EINVAL, 0, 0},
    {"abc", -EINVAL, 0, 0},     {"nan:5", -EINVAL, 0, 0},
    {"inf:5", -EINVAL, 0, 0},   {"20:inf", -EINVAL, 0, 0},
    {"20:nan", -EINVAL, 0, 0},  {"1e999:5", -EINVAL, 0, 0},
};

static void test_parse_rate(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(rate_cases); i++) {
        const struct rate_case *c = &rate_cases[i];
        struct throttle_rate r = {.rate = 7, .burst = 7};
        print_message("'%s'\n", c->in);
        assert_int_equal(throttle_parse_rate(c->in, &r), c->ret);
        if (c->ret == 0) {
            assert_true(r.rate == c->rate);
            assert_true(r.burst == c->burst);
        } else {
            /* untouched on failure */
            assert_true(r.rate == 7 && r.burst == 7);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_and_refill),     cmocka_unit_test(test_read_write_separate),
        cmocka_unit_test(test_per_account),          cmocka_unit_test(test_off),
        cmocka_unit_test(test_odd_clock_and_config), cmocka_unit_test(test_parse_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
