/* The CLI's output helpers, table-driven: sizes in binary units, ages, and
 * how API errors are recognised. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void test_format_size(void **state)
{
    (void)state;
    static const struct {
        int64_t bytes;
        const char *text;
    } cases[] = {
        {0, "0B"},
        {-5, "0B"},
        {1023, "1023B"},
        {1024, "1.0KiB"},
        {1536, "1.5KiB"},
        {99 * 1024 + 1000, "100KiB"},
        {1000 * 1024, "1000KiB"},
        {1023 * 1024 + 600, "1.0MiB"},
        {1048576, "1.0MiB"},
        {12 * 1048576 + 314573, "12.3MiB"},
        {120 * 1048576LL, "120MiB"},
        {2LL << 30, "2.0GiB"},
        {5LL << 40, "5.0TiB"},
        {INT64_MAX, "8.0EiB"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[16];
        assert_string_equal(cli_format_size(cases[i].bytes, out, sizeof(out)), cases[i].text);
    }
}

static void test_format_age(void **state)
{
    (void)state;
    static const struct {
        double ago;
        const char *text;
    } cases[] = {
        {-30, "just now"},  {0, "just now"},   {0.99, "just now"},  {1, "1s ago"},
        {59.9, "59s ago"},  {60, "1m ago"},    {3599, "59m ago"},   {3600, "1h ago"},
        {86399, "23h ago"}, {86400, "1d ago"}, {864000, "10d ago"},
    };
    double now = 1795765507.75;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        json_t *t = json_real(now - cases[i].ago);
        assert_string_equal(cli_format_age(t, now, out, sizeof(out)), cases[i].text);
        json_decref(t);
    }
    char out[32];
    json_t *s = json_string("2024-01-01");
    assert_string_equal(cli_format_age(s, now, out, sizeof(out)), "-");
    assert_string_equal(cli_format_age(NULL, now, out, sizeof(out)), "-");
    json_decref(s);
}

static void test_error_is(void **state)
{
    (void)state;
    struct error e = {.errnum = 71, .type = NULL};
    static const struct {
        const char *msg;
        const char *code;
        bool is;
    } cases[] = {
        {"ClusterNotFoundException: Cluster not found.", "ClusterNotFoundException", true},
        {"ClusterNotFoundException: x", "ClusterNotFound", false},
        {"ClientException: Unable to describe task definition.", "ClientException", true},
        {"cannot reach skiffd at http://127.0.0.1:1: Connection refused", "cannot reach skiffd",
         false},
        {"", "ClientException", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e.msg = (char *)cases[i].msg;
        assert_int_equal(cli_error_is(&e, cases[i].code), cases[i].is);
    }
    assert_false(cli_error_is(NULL, "ClientException"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_size),
        cmocka_unit_test(test_format_age),
        cmocka_unit_test(test_error_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
