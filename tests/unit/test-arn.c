/* ARN parsing and formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/arn.h"
#include "base/buf.h"
#include "base/cleanup.h"

#define BAD(s)                                                                                     \
    {                                                                                              \
        .in = (s), .ret = -EINVAL                                                                  \
    }

static const struct parse_case {
    const char *in;
    int ret;
    const char *partition, *service, *region, *account, *resource;
} parse_cases[] = {
    {"arn:aws:ecs:us-east-1:123456789012:cluster/default", 0, "aws", "ecs", "us-east-1",
     "123456789012", "cluster/default"},
    /* colons and slashes after the fifth ':' all belong to the resource */
    {"arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", 0, "aws", "ecs", "us-east-1",
     "123456789012", "task-definition/web:3"},
    {"arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:*", 0, "aws", "logs", "us-east-1",
     "123456789012", "log-group:/ecs/web:*"},
    {"arn:aws:ecs:us-east-1:123456789012:task/c1/0123abcd", 0, "aws", "ecs", "us-east-1",
     "123456789012", "task/c1/0123abcd"},
    /* region and account may be empty (IAM, S3) */
    {"arn:aws:iam::123456789012:role/ecsTaskExecutionRole", 0, "aws", "iam", "", "123456789012",
     "role/ecsTaskExecutionRole"},
    {"arn:aws:s3:::my-bucket/key", 0, "aws", "s3", "", "", "my-bucket/key"},
    {"arn:aws-us-gov:ecs:us-gov-west-1:123456789012:cluster/x", 0, "aws-us-gov", "ecs",
     "us-gov-west-1", "123456789012", "cluster/x"},
    /* longest parts that fit: partition 15, service 31, region 31, account 15 */
    {"arn:aaaaaaaaaaaaaaa:sssssssssssssssssssssssssssssss:rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr:"
     "000000000000000:x",
     0, "aaaaaaaaaaaaaaa", "sssssssssssssssssssssssssssssss", "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr",
     "000000000000000", "x"},

    /* not ARNs */
    BAD(""),
    BAD("arn"),
    BAD("arn:"),
    BAD("ARN:aws:ecs:us-east-1:123456789012:cluster/x"),
    BAD("cluster/default"),
    /* missing parts */
    BAD("arn:aws"),
    BAD("arn:aws:ecs"),
    BAD("arn:aws:ecs:us-east-1"),
    BAD("arn:aws:ecs:us-east-1:123456789012"),
    BAD("arn:aws:ecs:us-east-1:123456789012:"),
    BAD("arn::ecs:us-east-1:123456789012:cluster/x"),
    BAD("arn:aws::us-east-1:123456789012:cluster/x"),
    /* overlong parts */
    BAD("arn:aaaaaaaaaaaaaaaa:ecs:us-east-1:123456789012:cluster/x"),
    BAD("arn:aws:ssssssssssssssssssssssssssssssss:us-east-1:123456789012:cluster/x"),
    BAD("arn:aws:ecs:rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr:123456789012:cluster/x"),
    BAD("arn:aws:ecs:us-east-1:0000000000000000:cluster/x"),
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct arn a;
        print_message("%s\n", c->in);
        assert_int_equal(arn_parse(c->in, &a), c->ret);
        if (c->ret < 0)
            continue;
        assert_string_equal(a.partition, c->partition);
        assert_string_equal(a.service, c->service);
        assert_string_equal(a.region, c->region);
        assert_string_equal(a.account, c->account);
        assert_string_equal(a.resource, c->resource);
    }
    struct arn a;
    assert_int_equal(arn_parse(NULL, &a), -EINVAL);
}

/* The resource holds up to 1023 bytes. */
static void test_parse_long_resource(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "arn:aws:ecs:us-east-1:123456789012:");
    for (int i = 0; i < 1023; i++)
        buf_puts(&b, "r");
    struct arn a;
    assert_int_equal(arn_parse(b.data, &a), 0);
    assert_int_equal(strlen(a.resource), 1023);
    buf_puts(&b, "r");
    assert_int_equal(arn_parse(b.data, &a), -EINVAL);
    buf_done(&b);
}

/* A failed parse leaves the output untouched. */
static void test_parse_failure_keeps_output(void **state)
{
    (void)state;
    struct arn a;
    assert_int_equal(arn_parse("arn:aws:ecs:us-east-1:123456789012:cluster/x", &a), 0);
    struct arn before = a;
    assert_int_equal(arn_parse("arn:other:ecs:eu-west-1:x", &a), -EINVAL);
    assert_memory_equal(&a, &before, sizeof(a));
}

static void test_format(void **state)
{
    (void)state;
    static const struct {
        const char *service, *region, *account, *resource, *out;
    } cases[] = {
        {"ecs", "us-east-1", "123456789012", "cluster/default",
         "arn:aws:ecs:us-east-1:123456789012:cluster/default"},
        {"ecs", "us-east-1", "123456789012", "task-definition/web:3",
         "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"},
        {"iam", "", "123456789012", "role/r", "arn:aws:iam::123456789012:role/r"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s =
            arn_format(cases[i].service, cases[i].region, cases[i].account, cases[i].resource);
        assert_string_equal(s, cases[i].out);
        /* and back */
        struct arn a;
        assert_int_equal(arn_parse(s, &a), 0);
        assert_string_equal(a.partition, "aws");
        assert_string_equal(a.service, cases[i].service);
        assert_string_equal(a.region, cases[i].region);
        assert_string_equal(a.account, cases[i].account);
        assert_string_equal(a.resource, cases[i].resource);
        free(s);
    }
}

static void test_is(void **state)
{
    (void)state;
    assert_true(arn_is("arn:aws:ecs:us-east-1:123456789012:cluster/x"));
    assert_true(arn_is("arn:"));
    assert_false(arn_is("arn"));
    assert_false(arn_is("default"));
    assert_false(arn_is(""));
    assert_false(arn_is(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_long_resource),
        cmocka_unit_test(test_parse_failure_keeps_output),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
