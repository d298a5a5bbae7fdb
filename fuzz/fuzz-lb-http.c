/* libFuzzer harness for the load balancer's HTTP/1.1 parser (src/lb/http.c):
 * request heads, then the rest as a chunked body (whole and split at a
 * point the input chooses, which must agree), and response heads.
 *
 * Input layout: one byte of split point, then the message. Aborts when a
 * parse result points outside the input or the two chunked scans differ. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb/http.h"

static void check_in(const char *p, size_t n, const char *buf, size_t len)
{
    if (n && (p < buf || p + n > buf + len))
        abort();
}

static ssize_t scan(const char *p, size_t n, size_t split, bool *done)
{
    struct lb_http_chunked c;
    lb_http_chunked_init(&c);
    ssize_t k = lb_http_chunked_scan(&c, p, split, done);
    if (k < 0 || *done)
        return k;
    ssize_t m = lb_http_chunked_scan(&c, p + split, n - split, done);
    return m < 0 ? m : k + m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split_byte = data[0];
    /* A copy of exactly the message, so that ASan sees any over-read. */
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    static struct lb_http_request req;
    struct lb_http_limits lim = {.max_request_line = 256, .max_head = 2048};
    ssize_t n = lb_http_parse_request(buf, len, &lim, &req);
    if (n > (ssize_t)len || (n < 0 && n != -400 && n != -414 && n != -431))
        abort();
    if (n > 0) {
        check_in(req.method, req.method_len, buf, (size_t)n);
        check_in(req.target, req.target_len, buf, (size_t)n);
        if (req.host)
            check_in(req.host, req.host_len, buf, (size_t)n);
        if (req.nheaders > LB_HTTP_MAX_HEADERS || (req.chunked && req.content_length >= 0))
            abort();
        for (size_t i = 0; i < req.nheaders; i++) {
            check_in(req.headers[i].name, req.headers[i].name_len, buf, (size_t)n);
            check_in(req.headers[i].value, req.headers[i].value_len, buf, (size_t)n);
        }
        const char *body = buf + n;
        size_t blen = len - (size_t)n;
        bool d1, d2;
        ssize_t whole = scan(body, blen, blen, &d1);
        ssize_t parts = scan(body, blen, split_byte % (blen + 1), &d2);
        if (whole > (ssize_t)blen || whole != parts || (whole >= 0 && d1 != d2))
            abort();
    }

    static struct lb_http_response resp;
    n = lb_http_parse_response(buf, len, 2048, &resp);
    if (n > (ssize_t)len || (n < 0 && n != -502))
        abort();
    if (n > 0) {
        if (resp.status < 100 || resp.status > 999)
            abort();
        for (size_t i = 0; i < resp.nheaders; i++)
            check_in(resp.headers[i].value, resp.headers[i].value_len, buf, (size_t)n);
    }
    free(buf);
    return 0;
}
