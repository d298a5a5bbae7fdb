/* The API front door: authentication (SigV4), throttling and dispatch of
 * AWS JSON 1.1 requests (X-Amz-Target) to per-service operation tables.
 *
 * A service (ecs, later logs, skiff, ...) describes itself with a static
 * struct api_service: its X-Amz-Target prefix, its SigV4 signing name, its
 * embedded botocore model (input validation) and a table of operations.
 * Requests reach a handler only once they are authenticated, within the
 * account's rate, parsed and valid against the model. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/request.h"
#include "api/throttle.h"
#include "base/error.h"

struct account;
struct api_server;
struct db;
struct store;

/* What a handler gets for one call. */
struct api_ctx {
    struct api_server *srv;
    void *app;                     /* the application state given to api_server_new */
    struct db *db;                 /* this thread's store connection */
    const struct account *account; /* the caller */
    const char *region;
    const char *request_id;
    int64_t now_ms;
    /* A handler may answer already-serialised JSON here instead of through
     * *ret_out (hot paths that splice stored documents); owned by the API,
     * which sends and frees it. */
    char *raw_out;
};

/* A handler reads `in` (already valid against the model), and on success
 * stores its answer in *ret_out (NULL means {}); on failure it returns a
 * negative errno with *err set, whose type is the AWS error code. */
typedef int (*api_op_fn)(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                         struct error **err);

enum api_op_flags {
    API_OP_WRITE = 1 << 0, /* counted against the write rate */
    /* May take seconds or minutes (a pull from a registry): the HTTP layer
     * runs it off its workers, so that the other connections a worker
     * serves are not kept waiting behind it. */
    API_OP_SLOW = 1 << 1,
};

struct api_op {
    const char *name;
    api_op_fn fn;
    unsigned flags;
};

/* How a service's requests and answers are encoded. */
enum api_protocol {
    API_PROTOCOL_JSON = 0, /* AWS JSON 1.1, operation in X-Amz-Target */
    API_PROTOCOL_EC2,      /* form-encoded Action=..., XML answers (api/query.h) */
    API_PROTOCOL_QUERY,    /* the plain query protocol (IAM, ELBv2) */
};

struct api_service {
    const char *name;          /* for logs */
    const char *signing_name;  /* SigV4 credential scope service */
    const char *target_prefix; /* X-Amz-Target = prefix "." operation */
    const char *model_json;    /* from scripts/gen-model.py */
    const struct api_op *ops;
    size_t n_ops;
    /* Query protocols: no X-Amz-Target; a form-encoded POST signed for
     * signing_name reaches this service, and model_json comes from
     * src/ec2/gen-model.py (it keeps the members' serialization names). */
    enum api_protocol protocol;
    const char *xml_namespace;
};

struct api_config {
    const char *region;           /* the only region this server answers for */
    const char *credentials_path; /* DATA-DIR/credentials */
    struct throttle_config throttle;
    size_t max_body; /* bytes; larger bodies get 413 */
    int max_skew_s;  /* allowed clock skew of X-Amz-Date */
};

#define API_DEFAULT_MAX_BODY (1024 * 1024)
#define API_DEFAULT_SKEW_S   300

int api_server_new(const struct api_config *cfg, struct store *store, void *app,
                   struct api_server **ret, struct error **err);
void api_server_free(struct api_server *s);
/* Adds a service; the table must outlive the server. Services may share a
 * target prefix: an operation goes to the first one whose table has it. */
void api_server_register(struct api_server *s, const struct api_service *svc);
/* Re-reads the credentials file; on failure the old accounts stay. */
int api_server_reload_accounts(struct api_server *s, struct error **err);
const struct api_config *api_server_config(const struct api_server *s);
struct store *api_server_store(const struct api_server *s);

/* Handles one request completely; resp is filled in and must be released
 * with api_response_done(). Never fails: every problem becomes an AWS error
 * response. */
void api_handle(struct api_server *s, const struct api_request *req, struct api_response *resp);

/* Whether req names an operation flagged API_OP_SLOW (looked up from its
 * X-Amz-Target only: nothing is authenticated or parsed yet). */
bool api_request_is_slow(const struct api_server *s, const struct api_request *req);

/* Fills resp with an AWS JSON error (for the HTTP layer's own errors). */
void api_error_response(struct api_response *resp, int status, const char *type,
                        const char *message);
