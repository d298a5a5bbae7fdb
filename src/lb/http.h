/* HTTP/1.1 message-head parser and chunked-body scanner for the load
 * balancer's data plane. Pure functions over caller-owned bytes: no
 * allocation, no I/O, so they can be fuzzed on their own.
 *
 * The request parser is strict where leniency lets two parsers disagree on
 * where a message ends (request smuggling): it rejects Content-Length together
 * with Transfer-Encoding, repeated or list-valued Content-Length, any
 * Transfer-Encoding but a single "chunked", obs-fold, whitespace before a
 * header colon, control characters in names and values, bare CR or LF line
 * ends, and a missing or repeated Host in HTTP/1.1. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LB_HTTP_MAX_HEADERS 100

struct lb_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* without leading and trailing whitespace */
    size_t value_len;
};

struct lb_http_limits {
    size_t max_request_line; /* longer request line: 414 */
    size_t max_head;         /* longer head (request line + headers): 431 */
};

struct lb_http_request {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor_version; /* HTTP/1.<minor>: 0 or 1 */
    const char *host;  /* Host header value, or NULL */
    size_t host_len;
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive; /* after the version's default and Connection */
    bool expect_continue;
    size_t nheaders;
    struct lb_http_header headers[LB_HTTP_MAX_HEADERS];
};

struct lb_http_response {
    int status;
    int minor_version;
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;
    size_t nheaders;
    struct lb_http_header headers[LB_HTTP_MAX_HEADERS];
};

/* Parses the request head at the start of buf (leading empty lines are
 * skipped, as RFC 9112 2.2 allows). Returns the number of bytes the head
 * takes (through the empty line) with *req filled, pointing into buf; 0 when
 * more bytes are needed; or minus the HTTP status to answer: -400 (malformed
 * or ambiguous), -414 (request line over the limit), -431 (head over the
 * limit or too many headers). */
ssize_t lb_http_parse_request(const char *buf, size_t len, const struct lb_http_limits *lim,
                              struct lb_http_request *req);

/* Parses a response head from an upstream. Same return convention; any
 * malformed head gives -502. */
ssize_t lb_http_parse_response(const char *buf, size_t len, size_t max_head,
                               struct lb_http_response *resp);

/* Whether a response to a request with this method and this status carries
 * no body whatever its headers say (HEAD, 1xx, 204, 304). */
bool lb_http_response_bodyless(const char *method, size_t method_len, int status);

/* Finds a header by case-insensitive name; returns its index or -1. */
int lb_http_header_find(const struct lb_http_header *h, size_t n, const char *name);

/* Incremental scanner of a chunked body: it validates the framing and finds
 * where the body ends, without changing a byte (the proxy forwards the bytes
 * as they came). */
struct lb_http_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk's data */
    unsigned digits;
    size_t line; /* length of the current extension or trailer line */
};

void lb_http_chunked_init(struct lb_http_chunked *c);
/* Scans up to n bytes. Returns how many belong to the body (n, or fewer when
 * the body ends inside p, then *done is set), or -1 when the framing is
 * invalid (a bad chunk size, a missing CRLF, an over-long line). */
ssize_t lb_http_chunked_scan(struct lb_http_chunked *c, const char *p, size_t n, bool *done);
