#include "api/http.h"
#include "api/api.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_MAX_HEADERS 128
#define HTTP_MAX_QUERY   256
/* How much of an over-long body is read (in units of the cap) before the
 * connection is dropped instead of answered. */
#define HTTP_DISCARD_FACTOR 4
/* Threads that run the operations flagged API_OP_SLOW. A worker of MHD's
 * pool serves many connections, one request at a time: a pull answered on
 * it would keep every other connection it holds waiting for minutes. Such
 * a request's connection is suspended instead and its operation queued
 * here; the connection resumes with the answer. Each thread keeps its own
 * store connection (store_thread_db), hence a fixed pool, not a thread per
 * request. */
#define HTTP_SLOW_THREADS 8

struct collect {
    struct api_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    struct api_param query[HTTP_MAX_QUERY];
    size_t n_query;
    int overflow;
};

/* Per-request state kept between the calls MHD makes while the body
 * arrives, and while a slow operation runs. */
struct pending {
    struct buf body;
    size_t received;
    int too_big;
    bool answered;             /* resp holds a slow operation's answer */
    struct api_response resp;  /* owned until sent */
    struct collect *c;         /* the request a slow thread handles */
    const char *method, *path; /* MHD's, valid while the connection is */
    struct MHD_Connection *conn;
    struct pending *next; /* in the slow queue */
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct api_server *api;
    size_t max_body;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t queued;
    struct pending *head, **tail; /* slow requests not yet taken */
    bool stopping;
    pthread_t slow[HTTP_SLOW_THREADS];
    unsigned n_slow;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct collect *c = cls;
    if (c->n_headers == HTTP_MAX_HEADERS) {
        c->overflow = 1;
        return MHD_NO;
    }
    c->headers[c->n_headers].name = key;
    c->headers[c->n_headers].value = value ? value : "";
    c->n_headers++;
    return MHD_YES;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct collect *c = cls;
    if (c->n_query == HTTP_MAX_QUERY) {
        c->overflow = 1;
        return MHD_NO;
    }
    c->query[c->n_query].key = key;
    c->query[c->n_query].value = value;
    c->n_query++;
    return MHD_YES;
}

/* SigV4 signs the path and query as sent, so MHD must not decode them. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct api_response *resp)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    resp->body = NULL;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, "x-amzn-RequestId", resp->request_id);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_too_big(struct MHD_Connection *conn)
{
    struct api_response resp = {0};
    api_error_response(&resp, 413, "SerializationException", "Request body is too large");
    return send_response(conn, &resp);
}

static void *slow_main(void *arg)
{
    struct http_server *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->head && !h->stopping)
            pthread_cond_wait(&h->queued, &h->lock);
        struct pending *p = h->head;
        if (!p)
            break; /* stopping, and every queued request answered */
        h->head = p->next;
        if (!h->head)
            h->tail = &h->head;
        pthread_mutex_unlock(&h->lock);
        struct api_request req = {
            .method = p->method,
            .path = p->path,
            .query = p->c->query,
            .n_query = p->c->n_query,
            .headers = p->c->headers,
            .n_headers = p->c->n_headers,
            .body = p->body.data ? p->body.data : "",
            .body_len = p->body.len,
        };
        api_handle(h->api, &req, &p->resp);
        p->answered = true;
        /* MHD calls on_request again, on its worker, which sends resp. */
        MHD_resume_connection(p->conn);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Hands a complete slow request to the slow threads; false when they are
 * gone (the server is stopping) and the worker must answer it itself. */
static bool queue_slow(struct http_server *h, struct MHD_Connection *conn, struct pending *p,
                       const struct collect *c, const char *method, const char *path)
{
    pthread_mutex_lock(&h->lock);
    bool ok = !h->stopping && h->n_slow > 0;
    if (ok) {
        p->c = xmalloc(sizeof(*c));
        memcpy(p->c, c, sizeof(*c));
        p->method = method;
        p->path = path;
        p->conn = conn;
        p->next = NULL;
        /* Suspended before any slow thread can see it, so that its resume
         * never comes first. */
        MHD_suspend_connection(conn);
        *h->tail = p;
        h->tail = &p->next;
        pthread_cond_signal(&h->queued);
    }
    pthread_mutex_unlock(&h->lock);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *h = cls;
    struct pending *p = *con_cls;
    if (!p) {
        p = xzalloc(sizeof(*p));
        buf_init(&p->body, h->max_body);
        *con_cls = p;
        /* A body a little over the cap is read and dropped, so that the
         * client, still sending, gets to see its 413; a far larger one is
         * refused before it is read (MHD then closes the connection). */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
        if (len > HTTP_DISCARD_FACTOR * h->max_body)
            return send_too_big(conn);
        if (len > h->max_body)
            p->too_big = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* Past the cap (a chunked body announces no length) the rest is
         * read and dropped, up to a bound after which the connection is
         * simply closed. */
        p->received += *upload_data_size;
        if (!p->too_big && buf_append(&p->body, upload_data, *upload_data_size) < 0) {
            p->too_big = 1;
            buf_done(&p->body);
        }
        *upload_data_size = 0;
        if (p->too_big && p->received > HTTP_DISCARD_FACTOR * h->max_body)
            return MHD_NO;
        return MHD_YES;
    }

    if (p->answered)
        return send_response(conn, &p->resp);
    struct api_response resp = {0};
    if (p->too_big)
        return send_too_big(conn);
    struct collect c = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &c);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &c);
    if (c.overflow) {
        api_error_response(&resp, 431, "SerializationException",
                           "Too many headers or query parameters");
        return send_response(conn, &resp);
    }
    if (api_request_is_slow(h->api, &(struct api_request){.method = method,
                                                          .headers = c.headers,
                                                          .n_headers = c.n_headers}) &&
        queue_slow(h, conn, p, &c, method, url))
        return MHD_YES;
    struct api_request req = {
        .method = method,
        .path = url,
        .query = c.query,
        .n_query = c.n_query,
        .headers = c.headers,
        .n_headers = c.n_headers,
        .body = p->body.data ? p->body.data : "",
        .body_len = p->body.len,
    };
    api_handle(h->api, &req, &resp);
    return send_response(conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct pending *p = *con_cls;
    if (p) {
        api_response_done(&p->resp); /* not sent: the connection went away */
        free(p->c);
        buf_done(&p->body);
        free(p);
        *con_cls = NULL;
    }
}

static void stop_slow(struct http_server *h)
{
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->queued);
    pthread_mutex_unlock(&h->lock);
    for (unsigned i = 0; i < h->n_slow; i++)
        pthread_join(h->slow[i], NULL);
}

/* After MHD's workers, which take the lock in queue_slow, are gone. */
static void free_server(struct http_server *h)
{
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->queued);
    free(h);
}

int http_server_start(const struct http_config *cfg, struct api_server *api,
                      struct http_server **ret, struct error **err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1)
        return error_set(err, EINVAL, NULL, "listen address '%s' is not an IPv4 address",
                         cfg->host);
    unsigned threads = cfg->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    struct http_server *h = xzalloc(sizeof(*h));
    h->api = api;
    h->max_body = api_server_config(api)->max_body;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->queued, NULL);
    h->tail = &h->head;
    /* the default stack, as MHD's workers have, for the same handlers */
    while (h->n_slow < HTTP_SLOW_THREADS &&
           pthread_create(&h->slow[h->n_slow], NULL, slow_main, h) == 0)
        h->n_slow++;
    h->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->timeout_s ? cfg->timeout_s : 60, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : 4096, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape,
        NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024), MHD_OPTION_END);
    if (!h->mhd) {
        stop_slow(h);
        free_server(h);
        return error_set(err, EADDRINUSE, NULL, "cannot listen on %s:%d", cfg->host, cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    *ret = h;
    return 0;
}

int http_server_port(const struct http_server *h)
{
    return h->port;
}

void http_server_stop(struct http_server *h)
{
    if (!h)
        return;
    stop_slow(h); /* the queued requests are answered first */
    MHD_stop_daemon(h->mhd);
    free_server(h);
}
