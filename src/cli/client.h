/* The CLI's API client: AWS JSON 1.1 calls over HTTP(S) with libcurl, signed
 * with SigV4 by the same pure functions the server verifies with
 * (api/sigv4.h). One client keeps one connection alive across calls. */
#pragma once

#include <jansson.h>

#include "api/request.h"
#include "base/error.h"

#define CLIENT_TIMEOUT_S 300L

/* An API surface: its SigV4 signing name and X-Amz-Target prefix. */
struct client_service {
    const char *signing_name;
    const char *target_prefix;
};

extern const struct client_service client_ecs;
/* skiff's own API (image store, ...): models/skiff/<version>/service-2.json. */
extern const struct client_service client_skiff;

/* What a client needs; all strings are borrowed and copied by client_new(). */
struct client_config {
    const char *endpoint; /* http[s]://host[:port][/path] */
    const char *region;
    const char *access_key;
    const char *secret;
    const char *session_token; /* NULL when none */
    const char *user_agent;
};

struct client;

/* Checks the endpoint URL and prepares a connection handle (no I/O yet).
 * Fails with a message naming the endpoint when it is not an http(s) URL. */
int client_new(const struct client_config *cfg, struct client **ret, struct error **err);
void client_free(struct client *c);

/* Called with arg while a call waits for its answer: often while bytes
 * move, at least about once a second while the server works (libcurl's
 * progress callback), so a caller can show that it is alive. NULL stops it. */
typedef void (*client_tick_fn)(void *arg);
void client_set_tick(struct client *c, client_tick_fn fn, void *arg);
/* How long a call may take in all, in seconds (0: no limit); the default,
 * CLIENT_TIMEOUT_S, suits every call that does not wait for a download. */
void client_set_timeout(struct client *c, long seconds);

/* Calls svc's operation with the JSON object `in` (borrowed) and on success
 * stores the answer (a new reference, {} for an empty body) in *ret_out.
 * An API error becomes an error whose message reads "<Code>: <message>";
 * a transport failure names the endpoint. */
int client_call(struct client *c, const struct client_service *svc, const char *operation,
                const json_t *in, json_t **ret_out, struct error **err);

/* The Authorization header value for req signed with the given key at
 * amz_date (YYYYMMDDTHHMMSSZ). Every header of req is signed, so their
 * names must be lowercase and sorted, and host and x-amz-date must be among
 * them. Returns a new string, or NULL when the headers break those rules. */
char *client_sign(const struct api_request *req, const char *region, const char *service,
                  const char *access_key, const char *secret, const char *amz_date);

/* Splits an AWS JSON error answer into code and message: the code is the
 * __type (or code) member with any "namespace#" prefix dropped, the message
 * the message (or Message) member. Both point into body and are NULL when
 * absent. */
void client_error_parts(const json_t *body, const char **ret_code, const char **ret_message);
