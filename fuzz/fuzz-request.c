/* libFuzzer harness for the whole request path: SigV4 parsing and
 * verification, X-Amz-Target dispatch, JSON parsing, model validation and
 * the ECS handlers, against a real store in a temporary data dir.
 *
 * Input layout: one mode byte, then newline-separated fields
 *
 *     authorization \n x-amz-date \n x-amz-target \n free-header \n path \n query \n body
 *
 * (the body is everything after the sixth newline and may hold newlines;
 * missing fields are empty). free-header is "Name: value"; query is split
 * on '&' and '=' as the HTTP layer would. Mode bits:
 *
 *   0x01  sign: ignore the authorization and date fields and sign the
 *         request correctly with the known key, so that the body reaches
 *         the validator and the handlers
 *   0x02  also send a correct X-Amz-Content-SHA256 header
 *   0x04  prefix the target with the ECS prefix and '.'
 *   0x08  sign with the profile that has a session token (and send it)
 *   0x10  method GET instead of POST
 *
 * A response that is not complete, or a 500 (an internal error, which no
 * input should cause), aborts, as a crash does.
 *
 * The data dir is made under $TMPDIR (fuzz/run.sh points it at a directory
 * it removes afterwards, since a crash skips atexit handlers). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/sigv4.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "ecs/ecs.h"
#include "store/db.h"

#define FUZZ_REGION  "us-east-1"
#define FUZZ_AKID    "AKIDFUZZEXAMPLE00001"
#define FUZZ_SECRET  "fuzzsecretfuzzsecretfuzzsecretfuzzsecret"
#define FUZZ_AKID2   "AKIDFUZZEXAMPLE00002"
#define FUZZ_SECRET2 "fuzzsecret2fuzzsecret2fuzzsecret2fuzzsec"
#define FUZZ_TOKEN   "FQoGZXIvYXdzEFUZZTOKEN//fuzz+token=="
#define ECS_PREFIX   "AmazonEC2ContainerServiceV20141113"

#define MAX_QUERY 32

enum {
    MODE_SIGN = 0x01,
    MODE_CONTENT_SHA = 0x02,
    MODE_PREFIX = 0x04,
    MODE_TOKEN = 0x08,
    MODE_GET = 0x10,
};

static char *data_dir;
static char *creds_path;
static char *db_path;
static struct store *store;
static struct api_server *server;
static int verbose; /* FUZZ_REQUEST_VERBOSE=1: print each answer (to replay inputs) */

static void die(const char *what, struct error *err)
{
    fprintf(stderr, "fuzz-request: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void remove_data_dir(void)
{
    static const char *const files[] = {"credentials", "state.db", "state.db-wal", "state.db-shm",
                                        "state.db-journal"};
    api_server_free(server);
    server = NULL;
    store_free(store);
    store = NULL;
    if (!data_dir)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", data_dir, files[i]);
        unlink(p);
    }
    rmdir(data_dir);
    free(data_dir);
    free(creds_path);
    free(db_path);
    data_dir = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERR);
    verbose = getenv("FUZZ_REQUEST_VERBOSE") != NULL;
    const char *tmp = getenv("TMPDIR");
    data_dir = xasprintf("%s/skiff-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(data_dir))
        die("mkdtemp", NULL);
    atexit(remove_data_dir);
    creds_path = xasprintf("%s/credentials", data_dir);
    db_path = xasprintf("%s/state.db", data_dir);

    FILE *f = fopen(creds_path, "we");
    if (!f)
        die("write credentials", NULL);
    fputs("[default]\n"
          "aws_access_key_id = " FUZZ_AKID "\n"
          "aws_secret_access_key = " FUZZ_SECRET "\n"
          "account_id = 123456789012\n"
          "\n"
          "[session]\n"
          "aws_access_key_id = " FUZZ_AKID2 "\n"
          "aws_secret_access_key = " FUZZ_SECRET2 "\n"
          "aws_session_token = " FUZZ_TOKEN "\n"
          "account_id = 210987654321\n",
          f);
    fclose(f);

    struct error *err = NULL;
    if (store_open(db_path, &store, &err) < 0)
        die("store_open", err);
    /* Throttling off: a fuzzer calls far faster than the limits allow. */
    struct api_config cfg = {
        .region = FUZZ_REGION,
        .credentials_path = creds_path,
        .throttle = {.read = {0, 0}, .write = {0, 0}},
    };
    if (api_server_new(&cfg, store, NULL, &server, &err) < 0)
        die("api_server_new", err);
    api_server_register(server, &ecs_api);
    return 0;
}

/* The next newline-separated field as a new string; *p and *left advance. */
static char *next_field(const uint8_t **p, size_t *left)
{
    const uint8_t *nl = memchr(*p, '\n', *left);
    size_t n = nl ? (size_t)(nl - *p) : *left;
    char *s = xstrndup((const char *)*p, n);
    *p += n + (nl ? 1 : 0);
    *left -= n + (nl ? 1 : 0);
    return s;
}

/* Splits a raw query string into params pointing into q (modified). */
static size_t split_query(char *q, struct api_param *out)
{
    size_t n = 0;
    char *save = NULL;
    for (char *kv = strtok_r(q, "&", &save); kv && n < MAX_QUERY; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq++ = '\0';
        out[n].key = kv;
        out[n].value = eq;
        n++;
    }
    return n;
}

/* Fills in the Authorization header (headers[auth_slot]) so that the
 * request verifies with the given key. */
static void sign(struct api_request *req, struct api_header *headers, size_t auth_slot,
                 const char *akid, const char *secret, const char *amz_date,
                 const char *signed_headers, char **ret_authz)
{
    uint8_t digest[HASH_SHA256_LEN];
    char body_hash[2 * HASH_SHA256_LEN + 1];
    hash_sha256(req->body, req->body_len, digest);
    hash_hex(digest, sizeof(digest), body_hash);

    struct buf canon, sts;
    buf_init(&canon, 0);
    buf_init(&sts, 0);
    if (sigv4_canonical_request(req, signed_headers, body_hash, &canon) == 0) {
        char date[9];
        memcpy(date, amz_date, 8);
        date[8] = '\0';
        _cleanup_free_ char *scope = xasprintf("%s/" FUZZ_REGION "/ecs/aws4_request", date);
        sigv4_string_to_sign(amz_date, scope, canon.data, canon.len, &sts);
        uint8_t key[32];
        sigv4_signing_key(secret, date, FUZZ_REGION, "ecs", key);
        char sig[65];
        sigv4_sign(key, sts.data, sts.len, sig);
        *ret_authz = xasprintf(SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                               akid, scope, signed_headers, sig);
        headers[auth_slot].value = *ret_authz;
    }
    buf_done(&canon);
    buf_done(&sts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const uint8_t *p = data + 1;
    size_t left = size - 1;

    _cleanup_free_ char *authz = next_field(&p, &left);
    _cleanup_free_ char *amz_date = next_field(&p, &left);
    _cleanup_free_ char *target_field = next_field(&p, &left);
    _cleanup_free_ char *free_header = next_field(&p, &left);
    _cleanup_free_ char *path = next_field(&p, &left);
    _cleanup_free_ char *query = next_field(&p, &left);
    const char *body = (const char *)p;
    size_t body_len = left;

    _cleanup_free_ char *target =
        (mode & MODE_PREFIX) ? xasprintf(ECS_PREFIX ".%s", target_field) : xstrdup(target_field);
    if (mode & MODE_SIGN) {
        /* a date the server accepts: now */
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char d[17];
        strftime(d, sizeof(d), "%Y%m%dT%H%M%SZ", &tm);
        free(amz_date);
        amz_date = xstrdup(d);
    }

    struct api_param params[MAX_QUERY];
    size_t n_query = split_query(query, params);

    char body_hash[2 * HASH_SHA256_LEN + 1];
    uint8_t digest[HASH_SHA256_LEN];
    hash_sha256(body, body_len, digest);
    hash_hex(digest, sizeof(digest), body_hash);

    struct api_header headers[8];
    size_t nh = 0;
    headers[nh++] = (struct api_header){"Host", "localhost:8080"};
    headers[nh++] = (struct api_header){"Content-Type", "application/x-amz-json-1.1"};
    headers[nh++] = (struct api_header){"X-Amz-Date", amz_date};
    headers[nh++] = (struct api_header){"X-Amz-Target", target};
    size_t auth_slot = nh;
    headers[nh++] = (struct api_header){"Authorization", authz};
    if (mode & MODE_CONTENT_SHA)
        headers[nh++] = (struct api_header){"X-Amz-Content-SHA256", body_hash};
    if (mode & MODE_TOKEN)
        headers[nh++] = (struct api_header){"X-Amz-Security-Token", FUZZ_TOKEN};
    char *colon = strchr(free_header, ':');
    if (colon && colon != free_header) {
        *colon = '\0';
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        headers[nh++] = (struct api_header){free_header, v};
    }

    struct api_request req = {
        .method = (mode & MODE_GET) ? "GET" : "POST",
        .path = path,
        .query = params,
        .n_query = n_query,
        .headers = headers,
        .n_headers = nh,
        .body = body,
        .body_len = body_len,
    };

    _cleanup_free_ char *signed_authz = NULL;
    if (mode & MODE_SIGN) {
        const char *signed_headers =
            (mode & MODE_TOKEN) ? "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
                                : "content-type;host;x-amz-date;x-amz-target";
        sign(&req, headers, auth_slot, (mode & MODE_TOKEN) ? FUZZ_AKID2 : FUZZ_AKID,
             (mode & MODE_TOKEN) ? FUZZ_SECRET2 : FUZZ_SECRET, amz_date, signed_headers,
             &signed_authz);
    }

    struct api_response resp;
    api_handle(server, &req, &resp);
    /* Every answer is a complete response with a body. */
    if (resp.status < 200 || resp.status > 599 || !resp.body || !resp.content_type ||
        strlen(resp.body) != resp.body_len)
        abort();
    /* No input is a reason for an internal error: a 500 here is a handler
     * failing without an AWS error type, i.e. a bug. */
    if (resp.status == 500) {
        fprintf(stderr, "fuzz-request: internal error: %s\n", resp.body);
        abort();
    }
    if (verbose)
        fprintf(stderr, "%s %s -> %d %s\n", req.method, target, resp.status, resp.body);
    api_response_done(&resp);
    return 0;
}
