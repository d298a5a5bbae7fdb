/* Filter patterns (src/logs/filter.c), table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "logs/logs-internal.h"

static void test_match(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *msg;
        bool match;
    } cases[] = {
        {"", "anything", true},
        {"ERROR", "an ERROR here", true},
        {"ERROR", "an error here", false}, /* case-sensitive */
        {"ERROR disk", "ERROR: disk full", true},
        {"ERROR disk", "ERROR: memory", false},
        {"\"disk full\"", "ERROR: disk full", true},
        {"\"disk full\"", "full disk", false},
        {"ERROR -timeout", "ERROR: disk", true},
        {"ERROR -timeout", "ERROR: timeout", false},
        {"-\"not me\"", "it is not me", false},
        {"-\"not me\"", "it is me", true},
        {"  spaced   terms ", "terms spaced", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct logs_filter *f = NULL;
        struct error *err = NULL;
        assert_int_equal(logs_filter_parse(cases[i].pattern, &f, &err), 0);
        assert_int_equal(logs_filter_match(f, cases[i].msg, strlen(cases[i].msg)), cases[i].match);
        logs_filter_free(f);
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"{ $.level = \"error\" }", "[ip, user]", "?ERROR ?WARN",
                                      "\"unterminated"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct logs_filter *f = NULL;
        struct error *err = NULL;
        assert_int_equal(logs_filter_parse(bad[i], &f, &err), -EINVAL);
        assert_string_equal(err->type, ERR_INVALID);
        error_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
