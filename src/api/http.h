/* HTTP/1.1 front end on libmicrohttpd: keep-alive, a pool of worker threads
 * sized to the cores, a request body cap and connection timeouts. Each
 * complete request is handed to api_handle(). */
#pragma once

#include "base/error.h"

struct api_server;
struct http_server;

struct http_config {
    const char *host; /* numeric address to bind */
    int port;         /* 0 = pick a free port */
    unsigned threads; /* 0 = one per core */
    unsigned timeout_s;
    unsigned max_connections;
};

int http_server_start(const struct http_config *cfg, struct api_server *api,
                      struct http_server **ret, struct error **err);
/* The port actually bound. */
int http_server_port(const struct http_server *h);
void http_server_stop(struct http_server *h);
