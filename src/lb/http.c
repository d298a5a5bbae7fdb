/* HTTP/1.1 head parser and chunked scanner; see http.h for the contract. */
#include "lb/http.h"

#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 5.6.2. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool name_is(const struct lb_http_header *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

static bool value_is(const char *v, size_t n, const char *s)
{
    return n == strlen(s) && strncasecmp(v, s, n) == 0;
}

int lb_http_header_find(const struct lb_http_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (name_is(&h[i], name))
            return (int)i;
    return -1;
}

/* Finds the end of the line starting at p: returns the length without CRLF
 * and sets *next past it; 0 with *next NULL when no complete line is there;
 * -1 on a bare CR or LF. */
static ssize_t line_end(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    *next = NULL;
    if (!lf) {
        /* A CR anywhere but last is already a bare CR. */
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (cr && cr + 1 < end)
            return -1;
        return 0;
    }
    if (lf == p || lf[-1] != '\r')
        return -1;
    const char *cr = memchr(p, '\r', (size_t)(lf - p));
    if (cr != lf - 1)
        return -1;
    *next = lf + 1;
    return lf - 1 - p;
}

/* Parses "HTTP/1.x" of exactly 8 bytes; returns x or -1. */
static int parse_version(const char *p)
{
    if (memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
        return -1;
    return p[7] - '0';
}

/* Content-Length: digits only, no list, no sign, at most 18 digits. */
static int64_t parse_length(const char *v, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* Walks the comma-separated tokens of a Connection value. */
static void connection_tokens(const char *v, size_t n, bool *close, bool *keep)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (value_is(v + s, i - s, "close"))
            *close = true;
        else if (value_is(v + s, i - s, "keep-alive"))
            *keep = true;
    }
}

/* Parses header lines from p up to and including the empty line. Returns the
 * position after the head, NULL when incomplete; sets *bad on a malformed
 * line and *toomany past LB_HTTP_MAX_HEADERS. */
static const char *parse_headers(const char *p, const char *end, struct lb_http_header *hdrs,
                                 size_t *nheaders, bool *bad, bool *toomany)
{
    size_t n = 0;
    for (;;) {
        const char *next;
        ssize_t ll = line_end(p, end, &next);
        if (ll < 0) {
            *bad = true;
            return NULL;
        }
        if (!next)
            return NULL;
        if (ll == 0) {
            *nheaders = n;
            return next;
        }
        /* A line starting with whitespace is obs-fold (or, first, an
         * attempt to hide a header from a lenient parser). */
        size_t i = 0;
        while (i < (size_t)ll && tchar[(unsigned char)p[i]])
            i++;
        if (i == 0 || i == (size_t)ll || p[i] != ':') {
            *bad = true;
            return NULL;
        }
        size_t vs = i + 1, ve = (size_t)ll;
        for (size_t k = vs; k < ve; k++) {
            unsigned char c = (unsigned char)p[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                *bad = true;
                return NULL;
            }
        }
        while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
            vs++;
        while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
            ve--;
        if (n == LB_HTTP_MAX_HEADERS) {
            *toomany = true;
            return NULL;
        }
        hdrs[n++] = (struct lb_http_header){p, i, p + vs, ve - vs};
        p = next;
    }
}

/* Content-Length and Transfer-Encoding, shared by requests and responses:
 * 0, or -1 when they are ambiguous. */
static int framing(const struct lb_http_header *h, size_t n, int64_t *length, bool *chunked)
{
    bool have_length = false, have_te = false;
    *length = -1;
    *chunked = false;
    for (size_t i = 0; i < n; i++) {
        if (name_is(&h[i], "content-length")) {
            if (have_length)
                return -1;
            have_length = true;
            *length = parse_length(h[i].value, h[i].value_len);
            if (*length < 0)
                return -1;
        } else if (name_is(&h[i], "transfer-encoding")) {
            if (have_te || !value_is(h[i].value, h[i].value_len, "chunked"))
                return -1;
            have_te = true;
            *chunked = true;
        }
    }
    if (have_length && have_te)
        return -1;
    return 0;
}

ssize_t lb_http_parse_request(const char *buf, size_t len, const struct lb_http_limits *lim,
                              struct lb_http_request *req)
{
    const char *p = buf, *end = buf + len;

    /* Leading empty lines (a client's stray CRLF after a body). */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    if (p < end && p[0] == '\r' && end - p == 1)
        return 0;

    const char *next;
    ssize_t ll = line_end(p, end, &next);
    if (ll < 0)
        return -400;
    if (!next) {
        if ((size_t)(end - p) > lim->max_request_line)
            return -414;
        return (size_t)(end - buf) > lim->max_head ? -431 : 0;
    }
    if ((size_t)ll > lim->max_request_line)
        return -414;

    /* method SP target SP HTTP/1.x */
    const char *line = p, *le = p + ll;
    size_t i = 0;
    while (line + i < le && tchar[(unsigned char)line[i]])
        i++;
    if (i == 0 || line + i >= le || line[i] != ' ')
        return -400;
    req->method = line;
    req->method_len = i;
    const char *t = line + i + 1, *te = t;
    while (te < le && (unsigned char)*te > 0x20 && (unsigned char)*te < 0x7f)
        te++;
    if (te == t || te >= le || *te != ' ' || le - (te + 1) != 8)
        return -400;
    req->target = t;
    req->target_len = (size_t)(te - t);
    req->minor_version = parse_version(te + 1);
    if (req->minor_version < 0)
        return -400;

    bool bad = false, toomany = false;
    const char *head_end = parse_headers(next, end, req->headers, &req->nheaders, &bad, &toomany);
    if (toomany)
        return -431;
    if (bad)
        return -400;
    if (!head_end)
        return (size_t)(end - buf) > lim->max_head ? -431 : 0;
    if ((size_t)(head_end - buf) > lim->max_head)
        return -431;

    if (framing(req->headers, req->nheaders, &req->content_length, &req->chunked) < 0)
        return -400;
    /* Chunked did not exist in HTTP/1.0: a 1.0 request claiming it is an
     * attempt to confuse someone. */
    if (req->chunked && req->minor_version == 0)
        return -400;

    bool close = false, keep = false, have_host = false;
    req->host = NULL;
    req->host_len = 0;
    req->expect_continue = false;
    for (size_t k = 0; k < req->nheaders; k++) {
        const struct lb_http_header *h = &req->headers[k];
        if (name_is(h, "host")) {
            if (have_host)
                return -400;
            have_host = true;
            req->host = h->value;
            req->host_len = h->value_len;
        } else if (name_is(h, "connection")) {
            connection_tokens(h->value, h->value_len, &close, &keep);
        } else if (name_is(h, "expect")) {
            req->expect_continue = value_is(h->value, h->value_len, "100-continue");
        }
    }
    if (req->minor_version == 1 && !have_host)
        return -400;
    req->keep_alive = req->minor_version == 1 ? !close : (keep && !close);
    return head_end - buf;
}

ssize_t lb_http_parse_response(const char *buf, size_t len, size_t max_head,
                               struct lb_http_response *resp)
{
    const char *p = buf, *end = buf + len, *next;
    ssize_t ll = line_end(p, end, &next);
    if (ll < 0)
        return -502;
    if (!next)
        return len > max_head ? -502 : 0;
    /* HTTP/1.x SP 3DIGIT [SP reason] */
    if (ll < 12 || p[8] != ' ' || (ll > 12 && p[12] != ' '))
        return -502;
    resp->minor_version = parse_version(p);
    if (resp->minor_version < 0)
        return -502;
    resp->status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -502;
        resp->status = resp->status * 10 + (p[i] - '0');
    }
    if (resp->status < 100)
        return -502;

    bool bad = false, toomany = false;
    const char *head_end = parse_headers(next, end, resp->headers, &resp->nheaders, &bad, &toomany);
    if (bad || toomany)
        return -502;
    if (!head_end)
        return len > max_head ? -502 : 0;
    if (framing(resp->headers, resp->nheaders, &resp->content_length, &resp->chunked) < 0)
        return -502;
    bool close = false, keep = false;
    int k = lb_http_header_find(resp->headers, resp->nheaders, "connection");
    if (k >= 0)
        connection_tokens(resp->headers[k].value, resp->headers[k].value_len, &close, &keep);
    resp->keep_alive = resp->minor_version == 1 ? !close : (keep && !close);
    return head_end - buf;
}

bool lb_http_response_bodyless(const char *method, size_t method_len, int status)
{
    return (method_len == 4 && memcmp(method, "HEAD", 4) == 0) || status < 200 || status == 204 ||
           status == 304;
}

enum {
    CH_SIZE0, /* first hex digit of a size */
    CH_SIZE,  /* more hex digits, ';' or CR */
    CH_EXT,   /* chunk extension up to CR */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER0, /* start of a trailer line, or the final CRLF */
    CH_TRAILER,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
};

/* Longest chunk extension or trailer line accepted. */
#define CH_MAX_LINE 4096

void lb_http_chunked_init(struct lb_http_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

ssize_t lb_http_chunked_scan(struct lb_http_chunked *c, const char *p, size_t n, bool *done)
{
    size_t i = 0;
    *done = c->state == CH_DONE;
    while (i < n && c->state != CH_DONE) {
        char ch = p[i];
        switch (c->state) {
        case CH_SIZE0:
        case CH_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                /* 15 digits keep the size well inside 64 bits. */
                if (++c->digits > 15)
                    return -1;
                c->remaining = c->remaining * 16 + (uint64_t)v;
                c->state = CH_SIZE;
            } else if (c->state == CH_SIZE && ch == ';') {
                c->state = CH_EXT;
                c->line = 0;
            } else if (c->state == CH_SIZE && ch == '\r') {
                c->state = CH_SIZE_LF;
            } else {
                return -1;
            }
            i++;
            break;
        }
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n' || ++c->line > CH_MAX_LINE)
                return -1;
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return -1;
            i++;
            c->digits = 0;
            c->state = c->remaining ? CH_DATA : CH_TRAILER0;
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > c->remaining)
                take = (size_t)c->remaining;
            c->remaining -= take;
            i += take;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                return -1;
            c->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return -1;
            c->state = CH_SIZE0;
            i++;
            break;
        case CH_TRAILER0:
            if (ch == '\r') {
                c->state = CH_END_LF;
            } else if (ch == '\n' || ch == ' ' || ch == '\t') {
                return -1;
            } else {
                c->state = CH_TRAILER;
                c->line = 1;
            }
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (ch == '\n' || ++c->line > CH_MAX_LINE)
                return -1;
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return -1;
            c->state = CH_TRAILER0;
            i++;
            break;
        case CH_END_LF:
            if (ch != '\n')
                return -1;
            c->state = CH_DONE;
            i++;
            break;
        }
    }
    *done = c->state == CH_DONE;
    return (ssize_t)i;
}
