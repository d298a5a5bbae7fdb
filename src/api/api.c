#include "api/api.h"
#include "api/accounts.h"
#include "api/model.h"
#include "api/query.h"
#include "api/sigv4.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define API_MAX_SERVICES 16
#define KEY_CACHE_SIZE   8

#define CT_JSON "application/x-amz-json-1.1"

struct service_entry {
    const struct api_service *svc;
    struct model *model;
    json_t *query_model; /* query protocols: the parsed model, for decoding */
    size_t prefix_len;
};

struct api_server {
    struct api_config cfg;
    char *region;
    char *credentials_path;
    struct store *store;
    void *app;
    struct throttle *throttle;
    pthread_rwlock_t accounts_lock;
    struct accounts *accounts;
    unsigned accounts_gen;
    struct service_entry services[API_MAX_SERVICES];
    size_t n_services;
};

/* Derived signing keys, per thread: deriving costs four HMACs, and a client
 * uses the same key all day. */
struct key_cache_entry {
    unsigned gen;
    char akid[129];
    char date[9];
    char region[33];
    char service[33];
    uint8_t key[32];
};
static __thread struct key_cache_entry key_cache[KEY_CACHE_SIZE];
static __thread unsigned key_cache_next;

int api_server_new(const struct api_config *cfg, struct store *store, void *app,
                   struct api_server **ret, struct error **err)
{
    struct accounts *accs = NULL;
    int r = accounts_load(cfg->credentials_path, &accs, err);
    if (r < 0)
        return r;
    struct api_server *s = xzalloc(sizeof(*s));
    s->cfg = *cfg;
    s->region = xstrdup(cfg->region);
    s->credentials_path = xstrdup(cfg->credentials_path);
    s->cfg.region = s->region;
    s->cfg.credentials_path = s->credentials_path;
    if (!s->cfg.max_body)
        s->cfg.max_body = API_DEFAULT_MAX_BODY;
    if (!s->cfg.max_skew_s)
        s->cfg.max_skew_s = API_DEFAULT_SKEW_S;
    s->store = store;
    s->app = app;
    s->throttle = throttle_new(&cfg->throttle);
    pthread_rwlock_init(&s->accounts_lock, NULL);
    s->accounts = accs;
    s->accounts_gen = 1;
    *ret = s;
    return 0;
}

void api_server_free(struct api_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_services; i++) {
        model_free(s->services[i].model);
        json_decref(s->services[i].query_model);
    }
    accounts_free(s->accounts);
    pthread_rwlock_destroy(&s->accounts_lock);
    throttle_free(s->throttle);
    free(s->region);
    free(s->credentials_path);
    free(s);
}

void api_server_register(struct api_server *s, const struct api_service *svc)
{
    if (s->n_services >= API_MAX_SERVICES)
        abort();
    struct service_entry *e = &s->services[s->n_services++];
    e->svc = svc;
    e->model = model_new(svc->model_json);
    e->prefix_len = svc->target_prefix ? strlen(svc->target_prefix) : 0;
    if (svc->protocol != API_PROTOCOL_JSON)
        e->query_model = json_loads(svc->model_json, 0, NULL);
}

int api_server_reload_accounts(struct api_server *s, struct error **err)
{
    struct accounts *accs = NULL;
    int r = accounts_load(s->credentials_path, &accs, err);
    if (r < 0)
        return r;
    pthread_rwlock_wrlock(&s->accounts_lock);
    struct accounts *old = s->accounts;
    s->accounts = accs;
    s->accounts_gen++;
    pthread_rwlock_unlock(&s->accounts_lock);
    accounts_free(old);
    return 0;
}

const struct api_config *api_server_config(const struct api_server *s)
{
    return &s->cfg;
}

struct store *api_server_store(const struct api_server *s)
{
    return s->store;
}

const char *api_request_header(const struct api_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

void api_response_done(struct api_response *resp)
{
    free(resp->body);
    resp->body = NULL;
}

static void set_body(struct api_response *resp, int status, const char *ct, char *body)
{
    free(resp->body);
    resp->status = status;
    resp->content_type = ct;
    resp->body = body;
    resp->body_len = strlen(body);
}

static void new_request_id(char out[40])
{
    static __thread uint64_t state[2];
    if (!state[0] && !state[1])
        hash_random(state, sizeof(state));
    /* xorshift128+: request ids need uniqueness, not secrecy */
    uint8_t b[16];
    for (int i = 0; i < 2; i++) {
        uint64_t s1 = state[0];
        const uint64_t s0 = state[1];
        state[0] = s0;
        s1 ^= s1 << 23;
        state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
        uint64_t v = state[1] + s0;
        memcpy(b + 8 * i, &v, 8);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void api_error_response(struct api_response *resp, int status, const char *type,
                        const char *message)
{
    /* The HTTP layer's own errors (413, 431) come without an id yet. */
    if (!resp->request_id[0])
        new_request_id(resp->request_id);
    json_t *o = json_pack("{s:s, s:s}", "__type", type, "message", message ? message : "");
    set_body(resp, status, CT_JSON, json_dump_compact(o));
    json_decref(o);
}

/* A query-protocol service has no X-Amz-Target: a form-encoded POST goes to
 * the service its signature is scoped to (AWS tells them apart by host
 * name; skiff serves every service on one endpoint). */
static const struct service_entry *find_query_service(const struct api_server *s,
                                                      const struct api_request *req)
{
    const char *ct = api_request_header(req, "content-type");
    const char *authz = api_request_header(req, "authorization");
    struct sigv4_auth a;
    const char *why = NULL;
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 || !authz ||
        sigv4_parse_authorization(authz, &a, &why) < 0)
        return NULL;
    for (size_t i = 0; i < s->n_services; i++)
        if (s->services[i].svc->protocol != API_PROTOCOL_JSON &&
            !strcmp(s->services[i].svc->signing_name, a.service))
            return &s->services[i];
    return NULL;
}

static enum query_dialect dialect(const struct service_entry *svc)
{
    return svc->svc->protocol == API_PROTOCOL_EC2 ? QUERY_DIALECT_EC2 : QUERY_DIALECT_AWS;
}

/* Every error path writes a JSON 1.1 error; a query service answers the
 * same error as its dialect's XML document instead. */
static void query_error_rewrite(const struct service_entry *svc, struct api_response *resp)
{
    json_t *e = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *type = json_get_str(e, "__type"), *msg = json_get_str(e, "message");
    enum query_dialect d = dialect(svc);
    char *xml =
        query_render_error(d, resp->status, query_error_code(d, type, msg), msg, resp->request_id);
    json_decref(e);
    set_body(resp, resp->status, "text/xml", xml);
}

static const struct api_op *find_op(const struct api_service *svc, const char *name)
{
    for (size_t i = 0; i < svc->n_ops; i++)
        if (!strcmp(svc->ops[i].name, name))
            return &svc->ops[i];
    return NULL;
}

/* Several services may share a prefix (skiff's images and metering each
 * register their own table): the one that has the operation answers, else
 * the first with the prefix (which then reports the unknown operation). */
static const struct service_entry *find_service(const struct api_server *s, const char *target,
                                                const char **ret_op)
{
    const struct service_entry *first = NULL;
    if (!target)
        return NULL;
    for (size_t i = 0; i < s->n_services; i++) {
        const struct service_entry *e = &s->services[i];
        if (!e->svc->target_prefix || strncmp(target, e->svc->target_prefix, e->prefix_len) != 0 ||
            target[e->prefix_len] != '.')
            continue;
        *ret_op = target + e->prefix_len + 1;
        if (find_op(e->svc, *ret_op))
            return e;
        if (!first)
            first = e;
    }
    if (first)
        *ret_op = target + first->prefix_len + 1;
    return first;
}

static void signing_key(const struct api_server *s, const struct account *acc,
                        const struct sigv4_auth *a, uint8_t key[32])
{
    for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
        struct key_cache_entry *e = &key_cache[i];
        if (e->gen == s->accounts_gen && !strcmp(e->akid, a->access_key) &&
            !strcmp(e->date, a->date) && !strcmp(e->region, a->region) &&
            !strcmp(e->service, a->service)) {
            memcpy(key, e->key, 32);
            return;
        }
    }
    sigv4_signing_key(acc->secret, a->date, a->region, a->service, key);
    if (strlen(a->access_key) < sizeof(key_cache[0].akid) &&
        strlen(a->date) < sizeof(key_cache[0].date) &&
        strlen(a->region) < sizeof(key_cache[0].region) &&
        strlen(a->service) < sizeof(key_cache[0].service)) {
        struct key_cache_entry *e = &key_cache[key_cache_next++ % KEY_CACHE_SIZE];
        e->gen = s->accounts_gen;
        strcpy(e->akid, a->access_key);
        strcpy(e->date, a->date);
        strcpy(e->region, a->region);
        strcpy(e->service, a->service);
        memcpy(e->key, key, 32);
    }
}

/* Whether name is one of the semicolon-separated SignedHeaders. */
static bool header_signed(const char *signed_headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = signed_headers; p && *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Verifies the request's SigV4 signature. On success *ret_acc is the caller
 * (valid while the accounts read lock is held). On failure fills resp. */
static int authenticate(struct api_server *s, const struct api_request *req,
                        const struct service_entry *svc, const struct account **ret_acc,
                        struct api_response *resp)
{
    const char *authz = api_request_header(req, "authorization");
    if (!authz) {
        api_error_response(resp, 400, "MissingAuthenticationTokenException",
                           "Missing Authentication Token");
        return -EACCES;
    }
    struct sigv4_auth a;
    const char *why = NULL;
    if (sigv4_parse_authorization(authz, &a, &why) < 0) {
        api_error_response(resp, 400, "IncompleteSignatureException", why);
        return -EACCES;
    }
    const struct account *acc = accounts_find(s->accounts, a.access_key);
    if (!acc) {
        api_error_response(resp, 400, "UnrecognizedClientException",
                           "The security token included in the request is invalid.");
        return -EACCES;
    }
    const char *token = api_request_header(req, "x-amz-security-token");
    if ((token || acc->session_token) &&
        (!token || !acc->session_token || strlen(token) != strlen(acc->session_token) ||
         !hash_equal(token, acc->session_token, strlen(token)))) {
        api_error_response(resp, 400, "UnrecognizedClientException",
                           "The security token included in the request is invalid.");
        return -EACCES;
    }
    const char *amz_date = api_request_header(req, "x-amz-date");
    int64_t t = time_parse_amz(amz_date);
    if (t < 0) {
        api_error_response(resp, 400, "IncompleteSignatureException",
                           "Authorization header requires existence of a valid X-Amz-Date header");
        return -EACCES;
    }
    char msg[256];
    if (strncmp(amz_date, a.date, 8) != 0 || strlen(a.date) != 8) {
        snprintf(msg, sizeof(msg),
                 "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                 "from HTTP: '%.8s' != '%.8s'",
                 a.date, amz_date);
        api_error_response(resp, 400, "InvalidSignatureException", msg);
        return -EACCES;
    }
    int64_t now = time_now_ms() / 1000;
    if (t < now - s->cfg.max_skew_s || t > now + s->cfg.max_skew_s) {
        snprintf(msg, sizeof(msg),
                 "Signature expired: %s is now earlier or later than the allowed %d seconds of "
                 "skew from the server time",
                 amz_date, s->cfg.max_skew_s);
        api_error_response(resp, 400, "InvalidSignatureException", msg);
        return -EACCES;
    }
    if (strcmp(a.region, s->cfg.region) != 0) {
        snprintf(msg, sizeof(msg), "Credential should be scoped to a valid region, not '%.64s'.",
                 a.region);
        api_error_response(resp, 400, "InvalidSignatureException", msg);
        return -EACCES;
    }
    if (svc && strcmp(a.service, svc->svc->signing_name) != 0) {
        snprintf(msg, sizeof(msg), "Credential should be scoped to correct service: '%s'.",
                 svc->svc->signing_name);
        api_error_response(resp, 400, "InvalidSignatureException", msg);
        return -EACCES;
    }
    if (strcmp(a.terminator, "aws4_request") != 0) {
        api_error_response(resp, 400, "InvalidSignatureException",
                           "Credential should be scoped with a valid terminator: 'aws4_request'");
        return -EACCES;
    }
    if (!header_signed(a.signed_headers, "host")) {
        api_error_response(resp, 400, "InvalidSignatureException",
                           "'Host' must be a signed header.");
        return -EACCES;
    }
    /* The session token is part of the credential: an unsigned one could be
     * swapped in transit. */
    if (token && !header_signed(a.signed_headers, "x-amz-security-token")) {
        api_error_response(resp, 400, "InvalidSignatureException",
                           "'X-Amz-Security-Token' must be a signed header.");
        return -EACCES;
    }

    /* Payload hash: the body's, and the header must agree when present. */
    uint8_t digest[HASH_SHA256_LEN];
    char body_hash[2 * HASH_SHA256_LEN + 1];
    hash_sha256(req->body ? req->body : "", req->body_len, digest);
    hash_hex(digest, sizeof(digest), body_hash);
    const char *claimed = api_request_header(req, "x-amz-content-sha256");
    if (claimed && strcmp(claimed, body_hash) != 0) {
        api_error_response(resp, 400, "InvalidSignatureException",
                           "The provided 'x-amz-content-sha256' header does not match what was "
                           "computed.");
        return -EACCES;
    }

    struct buf canon, sts;
    buf_init(&canon, 0);
    buf_init(&sts, 0);
    int r = sigv4_canonical_request(req, a.signed_headers, body_hash, &canon);
    if (r < 0) {
        buf_done(&canon);
        api_error_response(resp, 400, "InvalidSignatureException",
                           "SignedHeaders must be lowercase, sorted, and present in the request.");
        return -EACCES;
    }
    char scope[256];
    snprintf(scope, sizeof(scope), "%s/%s/%s/%s", a.date, a.region, a.service, a.terminator);
    sigv4_string_to_sign(amz_date, scope, canon.data, canon.len, &sts);
    uint8_t key[32];
    signing_key(s, acc, &a, key);
    char sig[65];
    sigv4_sign(key, sts.data, sts.len, sig);
    bool ok = hash_equal(sig, a.signature, 64);
    buf_done(&canon);
    buf_done(&sts);
    if (!ok) {
        api_error_response(resp, 400, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you "
                           "provided. Check your AWS Secret Access Key and signing method.");
        return -EACCES;
    }
    *ret_acc = acc;
    return 0;
}

static void dispatch(struct api_server *s, const struct api_request *req,
                     const struct service_entry *svc, const char *op_name,
                     const struct account *acc, struct api_response *resp)
{
    _cleanup_error_ struct error *err = NULL;
    _cleanup_free_ char *action = NULL;
    json_t *in = NULL;
    if (svc->svc->protocol != API_PROTOCOL_JSON) {
        if (query_decode(svc->query_model, dialect(svc), req->body, req->body_len, &action, &in,
                         &err) < 0) {
            api_error_response(resp, 400, err->type ? err->type : ERR_SERVER, err->msg);
            return;
        }
        op_name = action;
    }
    const struct api_op *op = find_op(svc->svc, op_name);
    if (!op) {
        json_decref(in);
        char msg[200];
        snprintf(msg, sizeof(msg), "%s %.64s is not supported",
                 model_op_input(svc->model, op_name) ? "Operation" : "Unknown operation", op_name);
        api_error_response(resp, 400, "UnknownOperationException", msg);
        return;
    }
    if (!throttle_take(s->throttle, acc->account_id, op->flags & API_OP_WRITE, time_mono_ns())) {
        json_decref(in);
        api_error_response(resp, 400, ERR_THROTTLE, "Rate exceeded");
        return;
    }
    if (in) {
        /* decoded by the query protocol */
    } else if (req->body_len == 0) {
        in = json_object();
    } else {
        json_error_t jerr;
        in = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!in) {
            char msg[300];
            snprintf(msg, sizeof(msg), "Malformed JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
            api_error_response(resp, 400, ERR_SERIALIZE, msg);
            return;
        }
        if (!json_is_object(in)) {
            json_decref(in);
            api_error_response(resp, 400, ERR_SERIALIZE, "Request body must be a JSON object");
            return;
        }
    }
    const char *shape = model_op_input(svc->model, op_name);
    if (shape && *shape && model_validate(svc->model, shape, in, &err) < 0) {
        json_decref(in);
        api_error_response(resp, 400, err->type ? err->type : ERR_INVALID, err->msg);
        return;
    }
    struct db *db = NULL;
    if (store_thread_db(s->store, &db, &err) < 0) {
        json_decref(in);
        log_err("%s: %s", op_name, err->msg);
        api_error_response(resp, 500, ERR_SERVER, "The store is unavailable");
        return;
    }
    struct api_ctx ctx = {
        .srv = s,
        .app = s->app,
        .db = db,
        .account = acc,
        .region = s->cfg.region,
        .request_id = resp->request_id,
        .now_ms = time_now_ms(),
    };
    json_t *out = NULL;
    int r = op->fn(&ctx, in, &out, &err);
    json_decref(in);
    db_rollback(db); /* no-op unless a handler left a transaction open */
    if (r < 0) {
        json_decref(out);
        free(ctx.raw_out);
        if (!err || !err->type) {
            log_err("%s %s: %s", svc->svc->name, op_name, err ? err->msg : strerror(-r));
            api_error_response(resp, 500, ERR_SERVER,
                               r == -ENOSPC ? "The server is out of disk space"
                                            : "Internal server error");
        } else {
            api_error_response(resp, 400, err->type, err->msg);
        }
        return;
    }
    if (ctx.raw_out) {
        json_decref(out);
        set_body(resp, 200, CT_JSON, ctx.raw_out);
        return;
    }
    if (svc->svc->protocol != API_PROTOCOL_JSON) {
        set_body(
            resp, 200, "text/xml",
            query_render(dialect(svc), op_name, out, resp->request_id, svc->svc->xml_namespace));
        json_decref(out);
        return;
    }
    if (!out)
        out = json_object();
    set_body(resp, 200, CT_JSON, json_dump_compact(out));
    json_decref(out);
}

bool api_request_is_slow(const struct api_server *s, const struct api_request *req)
{
    const char *op_name = NULL;
    if (strcmp(req->method, "POST") != 0)
        return false;
    const struct service_entry *svc =
        find_service(s, api_request_header(req, "x-amz-target"), &op_name);
    const struct api_op *op = svc ? find_op(svc->svc, op_name) : NULL;
    return op && (op->flags & API_OP_SLOW);
}

void api_handle(struct api_server *s, const struct api_request *req, struct api_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    new_request_id(resp->request_id);

    if (!strcmp(req->method, "GET") && req->path && !strcmp(req->path, "/healthz")) {
        set_body(resp, 200, "text/plain", xstrdup("ok\n"));
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        api_error_response(resp, 405, "UnknownOperationException",
                           "Only POST requests are supported");
        return;
    }
    const char *op_name = NULL;
    const struct service_entry *svc =
        find_service(s, api_request_header(req, "x-amz-target"), &op_name);
    if (!svc)
        svc = find_query_service(s, req);

    pthread_rwlock_rdlock(&s->accounts_lock);
    const struct account *acc = NULL;
    if (authenticate(s, req, svc, &acc, resp) == 0) {
        if (!svc)
            api_error_response(resp, 400, "UnknownOperationException",
                               "X-Amz-Target names no operation this server knows");
        else
            dispatch(s, req, svc, op_name, acc, resp);
    }
    pthread_rwlock_unlock(&s->accounts_lock);
    if (svc && svc->svc->protocol != API_PROTOCOL_JSON && resp->status >= 400)
        query_error_rewrite(svc, resp);
}
