/* The L7 proxy: HTTP/1.1 client connections, routing, upstream connections
 * with a per-target, per-worker keep-alive pool, streamed bodies. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "lb/http.h"
#include "lb/worker.h"

/* Past this much unsent output, stop reading the side that produces it. */
#define HIGH_WATER   (64 * 1024)
#define UP_IN_CAP    (32 * 1024)
#define POOL_MAX     64
#define POOL_IDLE_MS 30000
#define MAX_ATTEMPTS 3

enum cstate { CS_HEAD, CS_PROXY, CS_CLOSING };
enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

struct outbuf {
    char *data;
    size_t len, off, alloc;
};

struct upstream;

struct client {
    struct ev ev;
    char *lkey;
    int lport;
    int idle_timeout_s;
    char peer[INET6_ADDRSTRLEN];
    char *in;
    size_t in_len, in_cap;
    struct outbuf out;
    enum cstate state;
    bool close_after;
    bool shut;   /* our side is shut down: lingering until the client closes */
    bool rd_eof; /* the client half-closed with a request in flight */

    /* The request in flight. */
    struct upstream *up;
    struct lb_config *req_cfg; /* keeps tg alive across retries */
    struct lb_target_group *tg;
    struct lb_target *target; /* counted in its outstanding */
    char *req_head;
    size_t req_head_len;
    char method[16];
    size_t method_len;
    bool idempotent;
    bool keep_alive;
    bool http10;
    enum body_mode body;
    uint64_t body_left;
    struct lb_http_chunked req_ch;
    bool req_done;
    bool body_sent;
    int attempts;

    /* Its response. */
    bool resp_started;   /* a byte came from the upstream */
    bool resp_forwarded; /* a byte went to the client */
    bool resp_head_done;
    enum body_mode resp_mode;
    uint64_t resp_left;
    struct lb_http_chunked resp_ch;
    bool up_reusable;
};

struct upstream {
    struct ev ev;
    struct lb_target *t;
    int wid;
    struct client *c; /* NULL while pooled */
    struct upstream *pool_next, *pool_prev;
    bool connecting;
    bool pooled;
    char *in;
    size_t in_len;
    struct outbuf out;
};

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

static void out_append(struct outbuf *o, const void *p, size_t n)
{
    if (o->off && o->off == o->len)
        o->off = o->len = 0;
    if (o->len + n > o->alloc) {
        if (o->off) {
            memmove(o->data, o->data + o->off, o->len - o->off);
            o->len -= o->off;
            o->off = 0;
        }
        if (o->len + n > o->alloc) {
            o->alloc = (o->len + n) * 2 < 4096 ? 4096 : (o->len + n) * 2;
            o->data = xrealloc(o->data, o->alloc);
        }
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
}

static void out_printf(struct outbuf *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void out_printf(struct outbuf *o, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        out_append(o, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out_append(o, big, (size_t)n);
    free(big);
}

static size_t out_pending(const struct outbuf *o)
{
    return o->len - o->off;
}

/* Writes what it can; returns -1 on a write error. */
static int out_flush(struct outbuf *o, int fd)
{
    while (o->off < o->len) {
        ssize_t n = send(fd, o->data + o->off, o->len - o->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        o->off += (size_t)n;
    }
    o->off = o->len = 0;
    return 0;
}

static void client_close(struct lb_worker *w, struct client *c);
static void client_process(struct lb_worker *w, struct client *c);
static void client_update(struct lb_worker *w, struct client *c);
static void upstream_update(struct lb_worker *w, struct upstream *u);
static void upstream_failed(struct lb_worker *w, struct client *c, bool timeout);

/* --- upstream connections and the pool --- */

static void pool_remove(struct upstream *u)
{
    if (!u->pooled)
        return;
    u->pooled = false;
    u->t->pool_len[u->wid]--;
    struct upstream **head = &u->t->pool[u->wid];
    if (u->pool_prev)
        u->pool_prev->pool_next = u->pool_next;
    else if (*head == u)
        *head = u->pool_next;
    if (u->pool_next)
        u->pool_next->pool_prev = u->pool_prev;
    u->pool_next = u->pool_prev = NULL;
}

static void upstream_free(struct lb_worker *w, struct upstream *u)
{
    pool_remove(u);
    lb_ev_close(w, &u->ev);
    lb_target_unref(u->t);
    free(u->in);
    free(u->out.data);
    lb_bury(w, u);
}

static void pool_put(struct lb_worker *w, struct upstream *u)
{
    struct upstream **head = &u->t->pool[w->id];
    if (u->t->pool_len[w->id] >= POOL_MAX || atomic_load(&u->t->draining) || u->in_len ||
        out_pending(&u->out)) {
        u->c = NULL;
        upstream_free(w, u);
        return;
    }
    u->c = NULL;
    u->pool_prev = NULL;
    u->pool_next = *head;
    if (*head)
        (*head)->pool_prev = u;
    *head = u;
    u->pooled = true;
    u->t->pool_len[w->id]++;
    u->ev.deadline_ms = w->now_ms + POOL_IDLE_MS;
    /* Readable while idle means the upstream closed (or misbehaved). */
    lb_ev_watch(w, &u->ev, EPOLLIN);
}

static struct upstream *upstream_get(struct lb_worker *w, struct lb_target *t)
{
    struct upstream *u = t->pool[w->id];
    if (u) {
        pool_remove(u);
        return u;
    }
    int fd = lb_target_socket(t, &t->addr);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&t->addr, t->addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    u = xzalloc(sizeof(*u));
    u->t = lb_target_ref(t);
    u->wid = w->id;
    u->connecting = true;
    u->in = xmalloc(UP_IN_CAP);
    lb_ev_add(w, &u->ev, fd, EV_UPSTREAM, u, 0, true);
    return u;
}

/* --- generated responses --- */

static void respond(struct lb_worker *w, struct client *c, int status, const char *ctype,
                    const char *body, const char *extra)
{
    (void)w;
    size_t blen = body ? strlen(body) : 0;
    bool head = c->method_len == 4 && memcmp(c->method, "HEAD", 4) == 0;
    out_printf(
        &c->out, "HTTP/1.1 %d %s\r\nServer: skiff-lb\r\nContent-Length: %zu\r\n%s%s%s%s%s\r\n",
        status, reason_phrase(status), blen, ctype ? "Content-Type: " : "", ctype ? ctype : "",
        ctype ? "\r\n" : "", extra ? extra : "", c->close_after ? "Connection: close\r\n" : "");
    if (blen && !head)
        out_append(&c->out, body, blen);
}

static void respond_error(struct lb_worker *w, struct client *c, int status)
{
    char body[128];
    snprintf(body, sizeof(body), "%d %s\n", status, reason_phrase(status));
    respond(w, c, status, "text/plain", body, NULL);
}

/* --- request lifecycle --- */

static void request_release(struct lb_worker *w, struct client *c)
{
    if (c->up) {
        struct upstream *u = c->up;
        c->up = NULL;
        if (c->up_reusable && c->req_done)
            pool_put(w, u);
        else
            upstream_free(w, u);
    }
    if (c->target) {
        atomic_fetch_sub(&c->target->outstanding, 1);
        lb_target_unref(c->target);
        c->target = NULL;
    }
    lb_config_unref(c->req_cfg);
    c->req_cfg = NULL;
    c->tg = NULL;
    free(c->req_head);
    c->req_head = NULL;
}

static void set_idle(struct lb_worker *w, struct client *c)
{
    c->ev.deadline_ms = w->now_ms + (int64_t)c->idle_timeout_s * 1000;
}

/* Ends the request in flight; the client goes back to reading heads or, if
 * it must close, to flushing and closing. */
static void request_finish(struct lb_worker *w, struct client *c)
{
    request_release(w, c);
    if (c->close_after) {
        c->state = CS_CLOSING;
        c->ev.deadline_ms = w->now_ms + 5000;
    } else {
        c->state = CS_HEAD;
        set_idle(w, c);
    }
}

/* Answers the request without an upstream (fixed response, redirect or
 * error). The body the client may still send is unread, so close unless
 * the request had none. */
static void answer_locally(struct lb_worker *w, struct client *c, int status, const char *ctype,
                           const char *body, const char *extra)
{
    if (!c->req_done || !c->keep_alive)
        c->close_after = true;
    respond(w, c, status, ctype, body, extra);
    request_finish(w, c);
}

static bool hdr_is(const struct lb_http_header *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* The head sent upstream: the request line, the client's headers minus
 * hop-by-hop ones, and X-Forwarded-For/-Proto/-Port. */
static void build_upstream_head(struct client *c, const struct lb_http_request *r)
{
    struct outbuf o = {0};
    out_printf(&o, "%.*s %.*s HTTP/1.1\r\n", (int)r->method_len, r->method, (int)r->target_len,
               r->target);
    const struct lb_http_header *xff = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct lb_http_header *h = &r->headers[i];
        if (hdr_is(h, "connection") || hdr_is(h, "keep-alive") || hdr_is(h, "proxy-connection") ||
            hdr_is(h, "upgrade") || hdr_is(h, "te") || hdr_is(h, "x-forwarded-proto") ||
            hdr_is(h, "x-forwarded-port"))
            continue;
        if (hdr_is(h, "x-forwarded-for")) {
            xff = h;
            continue;
        }
        out_printf(&o, "%.*s: %.*s\r\n", (int)h->name_len, h->name, (int)h->value_len, h->value);
    }
    if (xff)
        out_printf(&o, "X-Forwarded-For: %.*s, %s\r\n", (int)xff->value_len, xff->value, c->peer);
    else
        out_printf(&o, "X-Forwarded-For: %s\r\n", c->peer);
    out_printf(&o, "X-Forwarded-Proto: http\r\nX-Forwarded-Port: %d\r\n\r\n", c->lport);
    c->req_head = o.data;
    c->req_head_len = o.len;
}

static bool method_idempotent(const char *m, size_t n)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"};
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        if (strlen(safe[i]) == n && memcmp(safe[i], m, n) == 0)
            return true;
    return false;
}

/* Sends the request (again) to a target of c->tg other than avoid. */
static void dispatch(struct lb_worker *w, struct client *c, const struct lb_target *avoid)
{
    for (;;) {
        struct lb_target *t = lb_pick(c->tg, -1, avoid);
        if (!t) {
            if (c->attempts == 0) {
                answer_locally(w, c, 503, "text/plain", "503 Service Unavailable\n", NULL);
            } else {
                if (!c->req_done)
                    c->close_after = true;
                respond_error(w, c, 502);
                request_finish(w, c);
            }
            return;
        }
        if (c->target) {
            atomic_fetch_sub(&c->target->outstanding, 1);
            lb_target_unref(c->target);
        }
        c->target = t;
        atomic_fetch_add(&t->outstanding, 1);
        c->attempts++;
        struct upstream *u = upstream_get(w, t);
        if (!u) {
            if (c->attempts >= MAX_ATTEMPTS) {
                if (!c->req_done)
                    c->close_after = true;
                respond_error(w, c, 502);
                request_finish(w, c);
                return;
            }
            avoid = t;
            continue;
        }
        u->c = c;
        c->up = u;
        u->ev.deadline_ms = 0;
        out_append(&u->out, c->req_head, c->req_head_len);
        /* A pooled connection takes the head at once, saving a loop turn
         * and two epoll_ctl calls; a failed write shows up as an error
         * event. */
        if (!u->connecting)
            out_flush(&u->out, u->ev.fd);
        c->ev.deadline_ms = w->now_ms + (int64_t)c->idle_timeout_s * 1000;
        upstream_update(w, u);
        return;
    }
}

static void redirect(struct lb_worker *w, struct client *c, const struct lb_action *a,
                     const struct lb_http_request *r)
{
    /* #{host}, #{port}, #{path} and #{query} as ELB; unset parts keep the
     * request's. */
    char host[256] = "", path[2048], query[2048] = "";
    if (r->host)
        snprintf(host, sizeof(host), "%.*s",
                 (int)strcspn(r->host, ":") < (int)r->host_len ? (int)strcspn(r->host, ":")
                                                               : (int)r->host_len,
                 r->host);
    const char *q = memchr(r->target, '?', r->target_len);
    size_t plen = q ? (size_t)(q - r->target) : r->target_len;
    snprintf(path, sizeof(path), "%.*s", (int)plen, r->target);
    if (q)
        snprintf(query, sizeof(query), "%.*s", (int)(r->target_len - plen - 1), q + 1);
    char port[16];
    snprintf(port, sizeof(port), "%d", c->lport);
    const char *proto =
        a->protocol && strcmp(a->protocol, "#{protocol}") != 0 ? a->protocol : "HTTP";
    const char *h = a->host && strcmp(a->host, "#{host}") != 0 ? a->host : host;
    const char *p = a->port && strcmp(a->port, "#{port}") != 0 ? a->port : port;
    const char *pa = a->path && strcmp(a->path, "/#{path}") != 0 ? a->path : path;
    const char *qu = a->query && strcmp(a->query, "#{query}") != 0 ? a->query : query;
    bool https = strcasecmp(proto, "HTTPS") == 0;
    bool default_port = strcmp(p, https ? "443" : "80") == 0;
    char *loc = xasprintf("Location: %s://%s%s%s%s%s%s\r\n", https ? "https" : "http", h,
                          default_port ? "" : ":", default_port ? "" : p, pa, *qu ? "?" : "", qu);
    answer_locally(w, c, a->status, NULL, NULL, loc);
    free(loc);
}

/* A complete head is at c->in: route it and start the request. */
static void request_start(struct lb_worker *w, struct client *c, const struct lb_http_request *r,
                          size_t head_len)
{
    c->state = CS_PROXY;
    c->method_len = r->method_len < sizeof(c->method) ? r->method_len : sizeof(c->method) - 1;
    memcpy(c->method, r->method, c->method_len);
    c->idempotent = method_idempotent(r->method, r->method_len);
    c->keep_alive = r->keep_alive;
    c->http10 = r->minor_version == 0;
    c->body = r->chunked ? BODY_CHUNKED : r->content_length > 0 ? BODY_LENGTH : BODY_NONE;
    c->body_left = r->content_length > 0 ? (uint64_t)r->content_length : 0;
    lb_http_chunked_init(&c->req_ch);
    c->req_done = c->body == BODY_NONE;
    c->body_sent = false;
    c->attempts = 0;
    c->resp_started = c->resp_forwarded = c->resp_head_done = false;
    c->up_reusable = false;
    if (!c->keep_alive)
        c->close_after = true;

    struct lb_listener *l = lb_config_listener(w->cfg, c->lkey);
    if (!l) {
        /* The listener left with a reload: finish this connection. */
        memmove(c->in, c->in + head_len, c->in_len - head_len);
        c->in_len -= head_len;
        c->close_after = true;
        answer_locally(w, c, 503, "text/plain", "503 Service Unavailable\n", NULL);
        return;
    }
    c->idle_timeout_s = l->idle_timeout_s;
    struct lb_action *a = lb_route(l, r);
    if (a->type == LB_ACTION_FORWARD) {
        c->req_cfg = lb_config_ref(w->cfg);
        c->tg = lb_pick_group(a);
        build_upstream_head(c, r);
    }
    /* The head's bytes are no longer needed once routed and copied. */
    switch (a->type) {
    case LB_ACTION_FIXED:
        memmove(c->in, c->in + head_len, c->in_len - head_len);
        c->in_len -= head_len;
        answer_locally(w, c, a->status, a->content_type ? a->content_type : "text/plain", a->body,
                       NULL);
        return;
    case LB_ACTION_REDIRECT:
        redirect(w, c, a, r);
        memmove(c->in, c->in + head_len, c->in_len - head_len);
        c->in_len -= head_len;
        return;
    case LB_ACTION_FORWARD:
        memmove(c->in, c->in + head_len, c->in_len - head_len);
        c->in_len -= head_len;
        dispatch(w, c, NULL);
        return;
    }
}

/* Moves request body bytes from c->in to the upstream's output. */
static void feed_body(struct lb_worker *w, struct client *c)
{
    struct upstream *u = c->up;
    /* Not while connecting: a body held back keeps a retry possible. */
    if (c->req_done || !u || u->connecting || c->in_len == 0 || out_pending(&u->out) >= HIGH_WATER)
        return;
    size_t n = c->in_len;
    if (c->body == BODY_LENGTH) {
        if (n > c->body_left)
            n = (size_t)c->body_left;
        c->body_left -= n;
        c->req_done = c->body_left == 0;
    } else {
        bool done;
        ssize_t k = lb_http_chunked_scan(&c->req_ch, c->in, n, &done);
        if (k < 0) {
            /* Bad framing mid-stream: the upstream has a partial request. */
            c->close_after = true;
            c->up_reusable = false;
            if (!c->resp_forwarded)
                respond_error(w, c, 400);
            request_finish(w, c);
            return;
        }
        n = (size_t)k;
        c->req_done = done;
    }
    out_append(&u->out, c->in, n);
    c->body_sent = true;
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    upstream_update(w, u);
}

/* Parses heads and feeds bodies for as long as the buffered input allows. */
static void client_process(struct lb_worker *w, struct client *c)
{
    while (!c->ev.dead) {
        if (c->state == CS_PROXY) {
            feed_body(w, c);
            break;
        }
        if (c->state != CS_HEAD || out_pending(&c->out) >= HIGH_WATER || c->in_len == 0)
            break;
        struct lb_http_limits lim = {w->cfg->max_request_line, w->cfg->max_head};
        struct lb_http_request r;
        ssize_t n = lb_http_parse_request(c->in, c->in_len, &lim, &r);
        if (n == 0) {
            /* The header-read deadline runs from the head's first byte. */
            if (c->ev.deadline_ms == 0 ||
                c->ev.deadline_ms > w->now_ms + (int64_t)w->cfg->header_timeout_s * 1000)
                c->ev.deadline_ms = w->now_ms + (int64_t)w->cfg->header_timeout_s * 1000;
            break;
        }
        if (n < 0) {
            c->method_len = 0;
            c->close_after = true;
            respond_error(w, c, (int)-n);
            c->state = CS_CLOSING;
            c->in_len = 0;
            c->ev.deadline_ms = w->now_ms + 5000;
            break;
        }
        request_start(w, c, &r, (size_t)n);
    }
    if (!c->ev.dead)
        client_update(w, c);
}

/* --- responses --- */

/* Copies the response head to the client, minus hop-by-hop headers. */
static void forward_head(struct client *c, const struct lb_http_response *resp, const char *buf,
                         size_t len)
{
    const char *eol = memchr(buf, '\n', len);
    out_append(&c->out, buf, (size_t)(eol - buf) + 1);
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct lb_http_header *h = &resp->headers[i];
        if (hdr_is(h, "connection") || hdr_is(h, "keep-alive"))
            continue;
        out_append(&c->out, h->name, h->name_len);
        out_append(&c->out, ": ", 2);
        out_append(&c->out, h->value, h->value_len);
        out_append(&c->out, "\r\n", 2);
    }
    if (resp->status >= 200) {
        if (c->close_after)
            out_append(&c->out, "Connection: close\r\n", 19);
        else if (c->http10)
            out_append(&c->out, "Connection: keep-alive\r\n", 24);
    }
    out_append(&c->out, "\r\n", 2);
}

static void response_done(struct lb_worker *w, struct client *c)
{
    if (!c->req_done) {
        /* Answered before the whole body came: the rest cannot be told
         * from a next request. */
        c->close_after = true;
        c->up_reusable = false;
    }
    request_finish(w, c);
}

/* Handles bytes in u->in for the client's response. */
static void response_process(struct lb_worker *w, struct client *c, struct upstream *u)
{
    while (!c->resp_head_done) {
        struct lb_http_response resp;
        ssize_t n = lb_http_parse_response(u->in, u->in_len, UP_IN_CAP - 1, &resp);
        if (n == 0)
            return;
        if (n < 0 || resp.status == 101) {
            c->up_reusable = false;
            if (!c->req_done)
                c->close_after = true;
            respond_error(w, c, 502);
            request_finish(w, c);
            return;
        }
        if (resp.status < 200) {
            /* Interim (100 Continue): pass it on and read the next head. */
            if (!c->http10)
                forward_head(c, &resp, u->in, u->in_len);
        } else {
            bool bodyless = lb_http_response_bodyless(c->method, c->method_len, resp.status);
            c->resp_mode = bodyless                   ? BODY_NONE
                           : resp.chunked             ? BODY_CHUNKED
                           : resp.content_length >= 0 ? BODY_LENGTH
                                                      : BODY_EOF;
            c->resp_left = resp.content_length > 0 ? (uint64_t)resp.content_length : 0;
            if (c->resp_mode == BODY_LENGTH && c->resp_left == 0)
                c->resp_mode = BODY_NONE;
            lb_http_chunked_init(&c->resp_ch);
            c->up_reusable = resp.keep_alive && c->resp_mode != BODY_EOF;
            if (c->resp_mode == BODY_EOF || (c->resp_mode == BODY_CHUNKED && c->http10))
                c->close_after = true;
            forward_head(c, &resp, u->in, u->in_len);
            c->resp_head_done = true;
        }
        c->resp_forwarded = true;
        memmove(u->in, u->in + n, u->in_len - (size_t)n);
        u->in_len -= (size_t)n;
    }
    size_t n = u->in_len;
    bool done = false;
    switch (c->resp_mode) {
    case BODY_NONE:
        n = 0;
        done = true;
        break;
    case BODY_LENGTH:
        if (n > c->resp_left)
            n = (size_t)c->resp_left;
        c->resp_left -= n;
        done = c->resp_left == 0;
        break;
    case BODY_CHUNKED: {
        ssize_t k = lb_http_chunked_scan(&c->resp_ch, u->in, n, &done);
        if (k < 0) {
            c->close_after = true;
            c->up_reusable = false;
            request_finish(w, c);
            return;
        }
        n = (size_t)k;
        break;
    }
    case BODY_EOF:
        break;
    }
    out_append(&c->out, u->in, n);
    memmove(u->in, u->in + n, u->in_len - n);
    u->in_len -= n;
    if (done) {
        /* Bytes past the response are a protocol error from the upstream. */
        if (u->in_len)
            c->up_reusable = false;
        response_done(w, c);
    }
}

static void upstream_event(struct lb_worker *w, struct upstream *u, uint32_t events)
{
    struct client *c = u->c;
    if (!c) {
        /* Pooled: the upstream closed it or sent unasked bytes. */
        upstream_free(w, u);
        return;
    }
    if (u->connecting) {
        int soerr = 0;
        socklen_t l = sizeof(soerr);
        getsockopt(u->ev.fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
        if (soerr || (events & (EPOLLERR | EPOLLHUP))) {
            upstream_failed(w, c, false);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        u->connecting = false;
    }
    if (events & EPOLLOUT) {
        if (out_flush(&u->out, u->ev.fd) < 0) {
            upstream_failed(w, c, false);
            return;
        }
        /* Room again for body bytes. */
        feed_body(w, c);
        if (c->ev.dead)
            return;
        if (c->up != u)
            goto flush;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (out_pending(&c->out) >= HIGH_WATER)
            goto update;
        ssize_t n = read(u->ev.fd, u->in + u->in_len, UP_IN_CAP - u->in_len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            goto update;
        if (n <= 0) {
            if (c->resp_head_done && c->resp_mode == BODY_EOF) {
                c->up_reusable = false;
                response_done(w, c);
            } else {
                upstream_failed(w, c, false);
                return;
            }
            goto flush;
        }
        u->in_len += (size_t)n;
        c->resp_started = true;
        c->ev.deadline_ms = w->now_ms + (int64_t)c->idle_timeout_s * 1000;
        response_process(w, c, u);
    }
flush:
    if (c->ev.dead)
        return;
    if (out_pending(&c->out) && out_flush(&c->out, c->ev.fd) < 0) {
        client_close(w, c);
        return;
    }
    if (c->state == CS_HEAD)
        client_process(w, c);
    if (c->ev.dead)
        return;
update:
    if (c->up == u)
        upstream_update(w, u);
    client_update(w, c);
}

/* The upstream failed before the response was complete. */
static void upstream_failed(struct lb_worker *w, struct client *c, bool timeout)
{
    struct upstream *u = c->up;
    struct lb_target *failed = c->target;
    bool sent_nothing_upstream = u && u->connecting && !c->body_sent;
    c->up_reusable = false;
    c->up = NULL;
    if (u)
        upstream_free(w, u);
    if (c->resp_forwarded) {
        /* Part of the response went out: all we can do is close. */
        client_close(w, c);
        return;
    }
    /* Retry only when the upstream cannot have acted on the request: it
     * never connected, or the method is idempotent and no body went. */
    bool safe = sent_nothing_upstream || (c->idempotent && !c->body_sent && c->req_done);
    if (!timeout && !c->resp_started && safe && c->attempts < MAX_ATTEMPTS) {
        dispatch(w, c, failed);
    } else {
        if (!c->req_done)
            c->close_after = true;
        respond_error(w, c, timeout ? 504 : 502);
        request_finish(w, c);
    }
    if (c->ev.dead)
        return;
    if (out_pending(&c->out) && out_flush(&c->out, c->ev.fd) < 0) {
        client_close(w, c);
        return;
    }
    client_process(w, c);
}

/* --- client connections --- */

static void client_close(struct lb_worker *w, struct client *c)
{
    if (c->ev.dead)
        return;
    c->up_reusable = false;
    request_release(w, c);
    lb_ev_close(w, &c->ev);
    free(c->in);
    free(c->out.data);
    free(c->lkey);
    lb_bury(w, c);
}

static void client_update(struct lb_worker *w, struct client *c)
{
    uint32_t ev = 0;
    if (c->state == CS_CLOSING) {
        if (!out_pending(&c->out) && !c->shut) {
            /* Half-close and drain what the client still sends, so that
             * unread input does not turn the close into a reset that
             * destroys the answer before the client reads it. */
            shutdown(c->ev.fd, SHUT_WR);
            c->shut = true;
            c->ev.deadline_ms = w->now_ms + 2000;
        }
        lb_ev_watch(w, &c->ev, out_pending(&c->out) ? EPOLLOUT : EPOLLIN);
        return;
    }
    if (c->state == CS_HEAD && !c->rd_eof && c->in_len < c->in_cap &&
        out_pending(&c->out) < HIGH_WATER)
        ev |= EPOLLIN;
    /* While a request is in flight, keep reading (pipelined requests wait
     * in the buffer) unless the body backs up: this spares an epoll_ctl
     * pair per request. */
    if (c->state == CS_PROXY && !c->rd_eof && c->in_len < c->in_cap &&
        (c->req_done || (c->up && out_pending(&c->up->out) < HIGH_WATER)))
        ev |= EPOLLIN;
    if (out_pending(&c->out))
        ev |= EPOLLOUT;
    lb_ev_watch(w, &c->ev, ev);
}

static void upstream_update(struct lb_worker *w, struct upstream *u)
{
    uint32_t ev = 0;
    if (u->connecting || out_pending(&u->out))
        ev |= EPOLLOUT;
    if (!u->connecting && u->c && out_pending(&u->c->out) < HIGH_WATER && u->in_len < UP_IN_CAP)
        ev |= EPOLLIN;
    lb_ev_watch(w, &u->ev, ev);
}

static void client_event(struct lb_worker *w, struct client *c, uint32_t events)
{
    if (events & EPOLLOUT) {
        if (out_flush(&c->out, c->ev.fd) < 0) {
            client_close(w, c);
            return;
        }
        if (c->up)
            upstream_update(w, c->up);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (c->state == CS_CLOSING) {
            /* Discard what a rejected client still sends. */
            char sink[4096];
            ssize_t n = read(c->ev.fd, sink, sizeof(sink));
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                client_close(w, c);
                return;
            }
        } else if (c->in_len < c->in_cap) {
            ssize_t n = read(c->ev.fd, c->in + c->in_len, c->in_cap - c->in_len);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                goto process;
            if (n == 0 && c->state == CS_PROXY && c->req_done) {
                /* Half-closed after its request: answer, then close. */
                c->rd_eof = true;
                c->close_after = true;
                goto process;
            }
            if (n <= 0) {
                client_close(w, c);
                return;
            }
            bool first = c->in_len == 0 && c->state == CS_HEAD;
            c->in_len += (size_t)n;
            if (first)
                c->ev.deadline_ms = 0; /* the header deadline starts now */
            else if (c->state == CS_PROXY)
                c->ev.deadline_ms = w->now_ms + (int64_t)c->idle_timeout_s * 1000;
        }
    }
process:
    client_process(w, c);
    if (c->ev.dead)
        return;
    if (out_pending(&c->out) && out_flush(&c->out, c->ev.fd) < 0) {
        client_close(w, c);
        return;
    }
    client_update(w, c);
}

void lb_http_accept(struct lb_worker *w, int fd, const char *lkey)
{
    struct lb_listener *l = lb_config_listener(w->cfg, lkey);
    if (!l) {
        close(fd);
        return;
    }
    struct client *c = xzalloc(sizeof(*c));
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer, sizeof(c->peer));
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer, sizeof(c->peer));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->lkey = xstrdup(lkey);
    c->lport = l->port;
    c->idle_timeout_s = l->idle_timeout_s;
    c->in_cap = w->cfg->max_head + 4096;
    c->in = xmalloc(c->in_cap);
    c->state = CS_HEAD;
    lb_ev_add(w, &c->ev, fd, EV_CLIENT, c, EPOLLIN, true);
    set_idle(w, c);
}

void lb_http_event(struct lb_worker *w, struct ev *e, uint32_t events)
{
    if (e->kind == EV_CLIENT)
        client_event(w, e->owner, events);
    else
        upstream_event(w, e->owner, events);
}

void lb_http_timeout(struct lb_worker *w, struct ev *e)
{
    if (e->kind == EV_UPSTREAM) {
        struct upstream *u = e->owner;
        if (u->c) {
            e->deadline_ms = 0;
            return;
        }
        upstream_free(w, u);
        return;
    }
    struct client *c = e->owner;
    switch (c->state) {
    case CS_HEAD:
        if (c->in_len == 0) {
            client_close(w, c); /* idle keep-alive connection */
            return;
        }
        /* Slowloris, or a client that stalled mid-head. */
        c->method_len = 0;
        c->close_after = true;
        respond_error(w, c, 408);
        c->state = CS_CLOSING;
        c->ev.deadline_ms = w->now_ms + 5000;
        break;
    case CS_PROXY:
        if (c->resp_forwarded) {
            client_close(w, c);
            return;
        }
        upstream_failed(w, c, true);
        return;
    case CS_CLOSING:
        client_close(w, c);
        return;
    }
    if (out_flush(&c->out, c->ev.fd) < 0) {
        client_close(w, c);
        return;
    }
    client_update(w, c);
}

bool lb_http_drained(const struct ev *e, int64_t now_ms)
{
    if (e->kind != EV_UPSTREAM || e->dead)
        return false;
    const struct upstream *u = e->owner;
    return u->c && lb_target_drained(u->t, now_ms);
}

void lb_http_close(struct lb_worker *w, struct ev *e)
{
    if (e->kind == EV_UPSTREAM) {
        struct upstream *u = e->owner;
        if (u->c)
            client_close(w, u->c);
        else
            upstream_free(w, u);
        return;
    }
    client_close(w, e->owner);
}
