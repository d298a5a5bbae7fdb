/* The protocol-independent view of one HTTP request and its response, so
 * that the request path (auth, dispatch, handlers) can be driven without a
 * socket: by the HTTP server, unit tests and the fuzz harness alike. */
#pragma once

#include <stddef.h>

struct api_header {
    const char *name; /* as received; compared case-insensitively */
    const char *value;
};

struct api_param {
    const char *key;   /* raw, still percent-encoded */
    const char *value; /* raw; NULL for a key without '=' */
};

struct api_request {
    const char *method;
    const char *path; /* raw path as received, without the query */
    const struct api_param *query;
    size_t n_query;
    const struct api_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
};

struct api_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* owned, NUL-terminated */
    size_t body_len;
    char request_id[40];
};

/* First header with this name (case-insensitive), or NULL. */
const char *api_request_header(const struct api_request *req, const char *name);
void api_response_done(struct api_response *resp);
