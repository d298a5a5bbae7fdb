/* CRI log lines (src/logs/cri.c): timestamps, joining P pieces, where a
 * batch may be cut, and UTF-8 repair. Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "logs/logs-internal.h"
#include "base/buf.h"

static void test_time(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int r;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"1970-01-01T00:00:01.5Z", 0, 1500},
        {"2026-11-27T07:16:18.162462896+00:00", 0, 1795763778162},
        {"2026-11-27T08:16:18.162462896+01:00", 0, 1795763778162},
        {"2026-11-27T06:16:18.162999999-01:00", 0, 1795763778162},
        {"2000-02-29T23:59:59.999Z", 0, 951868799999},
        {"2026-11-27T07:16:18", -EINVAL, 0},
        {"2026-13-27T07:16:18Z", -EINVAL, 0},
        {"2026-11-27 07:16:18Z", -EINVAL, 0},
        {"2026-11-27T07:16:18+0000", -EINVAL, 0},
        {"garbage", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        int r = logs_cri_time(cases[i].in, strlen(cases[i].in), &ms);
        assert_int_equal(r, cases[i].r);
        if (r == 0)
            assert_int_equal(ms, cases[i].ms);
    }
}

static int collect(void *arg, int64_t ts, const char *msg, size_t len)
{
    struct buf *b = arg;
    buf_printf(b, "%lld:%.*s|", (long long)ts, (int)len, msg);
    return 0;
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"1970-01-01T00:00:01Z stdout F hello\n", "1000:hello|"},
        {"1970-01-01T00:00:01Z stdout F hello\n1970-01-01T00:00:02Z stderr F world\n",
         "1000:hello|2000:world|"},
        /* an empty line */
        {"1970-01-01T00:00:01Z stdout F\n", "1000:|"},
        {"1970-01-01T00:00:01Z stdout F \n", "1000:|"},
        /* pieces joined, stamped with the first */
        {"1970-01-01T00:00:01Z stdout P ab\n1970-01-01T00:00:02Z stdout P cd\n"
         "1970-01-01T00:00:03Z stdout F ef\n1970-01-01T00:00:04Z stdout F g\n",
         "1000:abcdef|4000:g|"},
        /* a run still open at the end is an event too */
        {"1970-01-01T00:00:01Z stdout P ab\n", "1000:ab|"},
        /* spaces inside the text are kept */
        {"1970-01-01T00:00:01Z stdout F  two  spaces \n", "1000: two  spaces |"},
        /* conmon's stamps: the same millisecond (parsed once), the next
         * one, another offset with the same digits, and a stamp whose
         * finer digits are not digits (not CRI: kept whole, with the
         * previous time) */
        {"1970-01-01T00:00:01.002000001+00:00 stdout F a\n"
         "1970-01-01T00:00:01.002999999+00:00 stdout F b\n"
         "1970-01-01T00:00:01.003000000+00:00 stdout F c\n"
         "1970-01-01T00:00:01.003000000+01:00 stdout F d\n"
         "1970-01-01T00:00:01.0030000x0+01:00 stdout F e\n"
         "1970-01-01T00:00:02.003000000+01:00 stdout F f\n",
         "1002:a|1002:b|1003:c|-3598997:d|-3598997:1970-01-01T00:00:01.0030000x0+01:00 stdout F "
         "e|-3597997:f|"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(logs_cri_parse(cases[i].in, strlen(cases[i].in), collect, &b), 0);
        assert_string_equal(b.data ? b.data : "", cases[i].out);
        buf_done(&b);
    }
}

static void test_cut(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t cut;
        size_t cut_whole; /* all there is (stopped, or a full batch) */
    } cases[] = {
        {"", 0, 0},
        {"T stdout F a\n", 13, 13},
        {"T stdout F a\nT stdout F b", 13, 13},   /* the unfinished line waits */
        {"T stdout F a\nT stdout P b\n", 13, 13}, /* so does an open run */
        {"T stdout P a\nT stdout F b\n", 26, 26},
        /* Only pieces: their line's end may come yet, unless this is all. */
        {"T stdout P a\nT stdout P b\n", 0, 26},
        {"T stdout P a\n", 0, 13},
        {"T stdout P a", 0, 0},
        {"\n", 1, 1}, /* an empty line is full */
        {"T stdout F a\nT stdout P b\nT stdout P c\nT stdout F", 13, 13}, /* back over pieces */
        {"T stdout P a b c\nT stdout F d e\nT stdout P f g\n", 32, 32},   /* spaces in the text */
        {"not cri\nT stdout P b\n", 8, 8}, /* not CRI counts as full */
        {"T stdout P a\n\nT stdout P b\n", 14, 14},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        assert_int_equal(logs_cri_cut(cases[i].in, len, false), cases[i].cut);
        assert_int_equal(logs_cri_cut(cases[i].in, len, true), cases[i].cut_whole);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"\xe2\x82\xac euro", "\xe2\x82\xac euro"},
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"bad \xff byte", "bad ? byte"},
        {"cut \xc3", "cut ?"},
        {"overlong \xc0\xaf", "overlong ??"},
        {"surrogate \xed\xa0\x80", "surrogate ???"},
        {"lone \x80", "lone ?"},
        /* Long ASCII runs (read eight bytes at a time) around bad bytes. */
        {"0123456789abcdef\xff"
         "0123456789abcdefg",
         "0123456789abcdef?0123456789abcdefg"},
        {"01234567\xc3\xa9"
         "89abcdefghijklmnop\xe2\x82",
         "01234567\xc3\xa9"
         "89abcdefghijklmnop??"},
        {"abcdefg\x80hijklmnopqrstuvw", "abcdefg?hijklmnopqrstuvw"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char s[64];
        snprintf(s, sizeof(s), "%s", cases[i].in);
        logs_utf8_sanitize(s, strlen(s));
        assert_string_equal(s, cases[i].out);
    }
    /* NUL would end a message early: it becomes '?' wherever it is. */
    char z[] = "0123456789abcdef0123456789";
    z[3] = z[12] = z[25] = '\0';
    logs_utf8_sanitize(z, sizeof(z) - 1);
    assert_string_equal(z, "012?456789ab?def012345678?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
