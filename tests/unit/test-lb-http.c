/* The load balancer's HTTP/1.1 head parser and chunked scanner
 * (src/lb/http.c): valid requests, pipelining, smuggling payloads, limits;
 * plus the ELB wildcard matcher the rules use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lb/http.h"
#include "lb/lb-internal.h"

static const struct lb_http_limits limits = {.max_request_line = 128, .max_head = 512};

static const struct req_case {
    const char *in;
    ssize_t ret; /* head length (-1: the whole input), 0, or -status */
    int64_t content_length;
    bool chunked, keep_alive;
} req_cases[] = {
    /* valid */
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", -1, -1, false, true},
    {"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", -1, -1, false, false},
    {"GET / HTTP/1.0\r\n\r\n", -1, -1, false, false},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", -1, -1, false, true},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", -1, 5, false, true},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", -1, -1, true, true},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Sp:  v  \r\n\r\n", -1, -1, false, true},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xc3\xa9\r\n\r\n", -1, -1, false, true},
    {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -1, -1, false, true},
    /* incomplete */
    {"GET / HTTP/1.1\r\nHost: a\r\n", 0, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\n\r", 0, 0, false, false},
    {"GET / HTT", 0, 0, false, false},
    {"", 0, 0, false, false},
    /* smuggling and malformed: 400 */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400,
     0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400,
     0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", -400, 0, false,
     false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n", -400, 0, false,
     false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n", -400, 0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -400, 0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", -400, 0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", -400, 0, false,
     false},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", -400, 0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -400, 0, false,
     false},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     -400, 0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", -400, 0, false, false},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0b chunked\r\n\r\n", -400, 0, false, false},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-\x01: a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\nHost: a\n\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400, 0, false, false},
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET /\r\nHost: a\r\n\r\n", -400, 0, false, false},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", -400, 0, false, false},
    /* limits (request line 128, head 512) */
    {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n",
     -414, 0, false, false},
    /* an incomplete line already past the limit */
    {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     -414, 0, false, false},
};

static void test_request_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct req_case *c = &req_cases[i];
        struct lb_http_request r;
        size_t len = strlen(c->in);
        ssize_t got = lb_http_parse_request(c->in, len, &limits, &r);
        ssize_t want = c->ret == -1 ? (ssize_t)len : c->ret;
        if (got != want)
            fail_msg("case %zu (%s): got %zd, want %zd", i, c->in, got, want);
        if (want > 0) {
            assert_int_equal(r.content_length, c->content_length);
            assert_int_equal(r.chunked, c->chunked);
            assert_int_equal(r.keep_alive, c->keep_alive);
        }
    }
}

static void test_request_fields(void **state)
{
    (void)state;
    const char *in = "PUT /a/b?c=d HTTP/1.1\r\nHost: example.com:81\r\nX-A:  1 2 \r\n"
                     "Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
    struct lb_http_request r;
    ssize_t n = lb_http_parse_request(in, strlen(in), &limits, &r);
    assert_int_equal(n, strlen(in) - 3);
    assert_int_equal(r.method_len, 3);
    assert_memory_equal(r.method, "PUT", 3);
    assert_int_equal(r.target_len, 8);
    assert_memory_equal(r.target, "/a/b?c=d", 8);
    assert_int_equal(r.minor_version, 1);
    assert_int_equal(r.host_len, 14);
    assert_memory_equal(r.host, "example.com:81", 14);
    assert_true(r.expect_continue);
    assert_int_equal(r.nheaders, 4);
    int k = lb_http_header_find(r.headers, r.nheaders, "x-a");
    assert_int_equal(k, 1);
    assert_int_equal(r.headers[k].value_len, 3);
    assert_memory_equal(r.headers[k].value, "1 2", 3);
}

static void test_pipelining(void **state)
{
    (void)state;
    const char *in = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
                     "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *p = in, *end = in + strlen(in);
    const char *want[] = {"/1", "/2", "/3"};
    for (int i = 0; i < 3; i++) {
        struct lb_http_request r;
        ssize_t n = lb_http_parse_request(p, (size_t)(end - p), &limits, &r);
        assert_true(n > 0);
        assert_int_equal(r.target_len, 2);
        assert_memory_equal(r.target, want[i], 2);
        p += n + (r.content_length > 0 ? r.content_length : 0);
    }
    assert_ptr_equal(p, end);
}

static void test_head_limit(void **state)
{
    (void)state;
    char big[1024];
    int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'v', sizeof(big) - (size_t)n - 1);
    big[sizeof(big) - 1] = '\0';
    struct lb_http_request r;
    /* Incomplete but already over the limit: no need to wait for more. */
    assert_int_equal(lb_http_parse_request(big, strlen(big), &limits, &r), -431);
    /* Over LB_HTTP_MAX_HEADERS headers. */
    static char many[8192];
    struct lb_http_limits wide = {128, sizeof(many)};
    size_t len = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < LB_HTTP_MAX_HEADERS; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "X%d: v\r\n", i);
    len += (size_t)snprintf(many + len, sizeof(many) - len, "\r\n");
    assert_int_equal(lb_http_parse_request(many, len, &wide, &r), -431);
}

static const struct chunk_case {
    const char *in;
    ssize_t ret; /* bytes of body (-1: all), or -2 for invalid */
    bool done;
} chunk_cases[] = {
    {"5\r\nhello\r\n0\r\n\r\n", -1, true},
    {"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n", -1, true},
    {"0\r\nTrailer: x\r\n\r\n", -1, true},
    {"0\r\n\r\nGET / HTTP/1.1\r\n", 5, true},
    {"5\r\nhel", -1, false},
    {"5\r\nhello\r\n", -1, false},
    {"zz\r\n", -2, false},
    {"\r\n", -2, false},
    {"5\nhello\r\n0\r\n\r\n", -2, false},
    {"5\r\nhelloXX", -2, false},
    {"5 \r\nhello\r\n0\r\n\r\n", -2, false},
    {"-5\r\n", -2, false},
    {"ffffffffffffffff\r\n", -2, false},
    {"0\r\n\n", -2, false},
    {"0\r\n Trailer: x\r\n\r\n", -2, false},
};

static void test_chunked(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
        const struct chunk_case *c = &chunk_cases[i];
        size_t len = strlen(c->in);
        /* Whole, and byte by byte: the scanner must not care how the
         * bytes are split. */
        for (int split = 0; split < 2; split++) {
            struct lb_http_chunked ch;
            lb_http_chunked_init(&ch);
            bool done = false;
            ssize_t total = 0;
            size_t step = split ? 1 : len;
            for (size_t off = 0; off < len && !done; off += step) {
                size_t n = off + step > len ? len - off : step;
                ssize_t k = lb_http_chunked_scan(&ch, c->in + off, n, &done);
                if (k < 0) {
                    total = -2;
                    break;
                }
                total += k;
            }
            ssize_t want = c->ret == -1 ? (ssize_t)len : c->ret;
            if (total != want || (want != -2 && done != c->done))
                fail_msg("chunk case %zu split %d: got %zd done %d", i, split, total, done);
        }
    }
}

static void test_response(void **state)
{
    (void)state;
    struct lb_http_response r;
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(lb_http_parse_response(ok, strlen(ok), 4096, &r), strlen(ok) - 3);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, 3);
    assert_true(r.keep_alive);
    const char *old = "HTTP/1.0 404 Not Found\r\n\r\n";
    assert_int_equal(lb_http_parse_response(old, strlen(old), 4096, &r), strlen(old));
    assert_false(r.keep_alive);
    assert_int_equal(r.content_length, -1);
    const char *noreason = "HTTP/1.1 204\r\n\r\n";
    assert_int_equal(lb_http_parse_response(noreason, strlen(noreason), 4096, &r),
                     strlen(noreason));
    const char *both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(lb_http_parse_response(both, strlen(both), 4096, &r), -502);
    assert_int_equal(lb_http_parse_response("HTTP/1.1 2x0 OK\r\n\r\n", 19, 4096, &r), -502);
    assert_int_equal(lb_http_parse_response("HTTP/1.1 200", 12, 4096, &r), 0);
    assert_true(lb_http_response_bodyless("HEAD", 4, 200));
    assert_true(lb_http_response_bodyless("GET", 3, 304));
    assert_false(lb_http_response_bodyless("GET", 3, 200));
}

static const struct wild_case {
    const char *pat, *s;
    bool fold, match;
} wild_cases[] = {
    {"/api/*", "/api/users", false, true},
    {"/api/*", "/api/", false, true},
    {"/api/*", "/api", false, false},
    {"/api/*", "/API/x", false, false},
    {"*.example.com", "a.b.EXAMPLE.com", true, true},
    {"/item?", "/item7", false, true},
    {"/item?", "/item77", false, false},
    {"*a*b*c", "xxaybzzc", false, true},
    {"*a*b*c", "xxaybzz", false, false},
    {"", "", false, true},
    {"*", "", false, true},
    {"/exact", "/exact", false, true},
    {"/exact", "/exactly", false, false},
};

static void test_wildcard(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(wild_cases) / sizeof(wild_cases[0]); i++) {
        const struct wild_case *c = &wild_cases[i];
        if (lb_wildcard_match(c->pat, c->s, strlen(c->s), c->fold) != c->match)
            fail_msg("wildcard %s vs %s", c->pat, c->s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_cases), cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_pipelining),    cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_chunked),       cmocka_unit_test(test_response),
        cmocka_unit_test(test_wildcard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
