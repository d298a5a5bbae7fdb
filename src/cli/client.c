#include "cli/client.h"
#include "api/sigv4.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <time.h>

/* Answers larger than this are refused rather than buffered. */
#define CLIENT_MAX_RESPONSE (64u << 20)
#define CLIENT_CONNECT_MS   10000L

#define CT_JSON "application/x-amz-json-1.1"

const struct client_service client_ecs = {
    .signing_name = "ecs",
    .target_prefix = "AmazonEC2ContainerServiceV20141113",
};

const struct client_service client_skiff = {
    .signing_name = "skiff",
    .target_prefix = "SkiffV20261101",
};

struct client {
    CURL *curl;
    client_tick_fn tick;
    void *tick_arg;
    char *endpoint; /* as given, for messages */
    char *url;
    char *host; /* Host header: host[:port] */
    char *path;
    char *region;
    char *access_key;
    char *secret;
    char *session_token;
    char errbuf[CURL_ERROR_SIZE];
};

static void curl_url_cleanupp(CURLU **u)
{
    if (*u)
        curl_url_cleanup(*u);
}

static void curl_freep(char **p)
{
    if (*p)
        curl_free(*p);
}

#define _cleanup_curl_str_ _cleanup_(curl_freep)

/* Splits the endpoint into the URL to post to, the Host header and the path
 * that is signed; the Host header is sent explicitly so that what is signed
 * is exactly what the server sees. */
static int parse_endpoint(struct client *c, const char *endpoint, struct error **err)
{
    _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
    if (!u)
        abort();
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK)
        return error_set(err, EINVAL, NULL, "endpoint %s is not a URL (expected http://HOST:PORT)",
                         endpoint);
    _cleanup_curl_str_ char *scheme = NULL;
    _cleanup_curl_str_ char *host = NULL;
    _cleanup_curl_str_ char *port = NULL;
    _cleanup_curl_str_ char *path = NULL;
    _cleanup_curl_str_ char *url = NULL;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        return error_set(err, EINVAL, NULL, "endpoint %s: only http:// and https:// are supported",
                         endpoint);
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
        return error_set(err, EINVAL, NULL, "endpoint %s has no host", endpoint);
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    /* The query and fragment are not part of the API's address. */
    curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
        return error_set(err, EINVAL, NULL, "endpoint %s is not a URL", endpoint);
    c->url = xstrdup(url);
    c->host = port ? xasprintf("%s:%s", host, port) : xstrdup(host);
    c->path = xstrdup(path && *path ? path : "/");
    return 0;
}

int client_new(const struct client_config *cfg, struct client **ret, struct error **err)
{
    struct client *c = xzalloc(sizeof(*c));
    int r = parse_endpoint(c, cfg->endpoint, err);
    if (r < 0) {
        client_free(c);
        return r;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
        client_free(c);
        return error_set(err, ENOMEM, NULL, "cannot initialise libcurl");
    }
    c->endpoint = xstrdup(cfg->endpoint);
    c->region = xstrdup(cfg->region);
    c->access_key = xstrdup(cfg->access_key);
    c->secret = xstrdup(cfg->secret);
    c->session_token = cfg->session_token ? xstrdup(cfg->session_token) : NULL;

    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CLIENT_CONNECT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    if (cfg->user_agent)
        curl_easy_setopt(h, CURLOPT_USERAGENT, cfg->user_agent);
    *ret = c;
    return 0;
}

void client_free(struct client *c)
{
    if (!c)
        return;
    if (c->curl) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    free(c->endpoint);
    free(c->url);
    free(c->host);
    free(c->path);
    free(c->region);
    free(c->access_key);
    if (c->secret)
        explicit_bzero(c->secret, strlen(c->secret));
    free(c->secret);
    free(c->session_token);
    free(c);
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct client *c = userdata;
    c->tick(c->tick_arg);
    return 0;
}

void client_set_tick(struct client *c, client_tick_fn fn, void *arg)
{
    c->tick = fn;
    c->tick_arg = arg;
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, fn ? on_progress : NULL);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, fn ? 0L : 1L);
}

void client_set_timeout(struct client *c, long seconds)
{
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, seconds);
}

char *client_sign(const struct api_request *req, const char *region, const char *service,
                  const char *access_key, const char *secret, const char *amz_date)
{
    struct buf names;
    buf_init(&names, 0);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (i)
            buf_puts(&names, ";");
        buf_puts(&names, req->headers[i].name);
    }
    uint8_t digest[HASH_SHA256_LEN];
    char payload_hash[2 * HASH_SHA256_LEN + 1];
    hash_sha256(req->body ? req->body : "", req->body_len, digest);
    hash_hex(digest, sizeof(digest), payload_hash);

    char *auth = NULL;
    struct buf canon, sts;
    buf_init(&canon, 0);
    buf_init(&sts, 0);
    if (strlen(amz_date) >= 8 &&
        sigv4_canonical_request(req, names.data ? names.data : "", payload_hash, &canon) == 0) {
        _cleanup_free_ char *scope =
            xasprintf("%.8s/%s/%s/aws4_request", amz_date, region, service);
        sigv4_string_to_sign(amz_date, scope, canon.data, canon.len, &sts);
        char date[9];
        memcpy(date, amz_date, 8);
        date[8] = '\0';
        uint8_t key[32];
        sigv4_signing_key(secret, date, region, service, key);
        char sig[65];
        sigv4_sign(key, sts.data, sts.len, sig);
        explicit_bzero(key, sizeof(key));
        auth = xasprintf(SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                         access_key, scope, names.data, sig);
    }
    buf_done(&names);
    buf_done(&canon);
    buf_done(&sts);
    return auth;
}

void client_error_parts(const json_t *body, const char **ret_code, const char **ret_message)
{
    const char *code = json_get_str(body, "__type");
    if (!code)
        code = json_get_str(body, "code");
    if (code && strchr(code, '#'))
        code = strrchr(code, '#') + 1;
    const char *msg = json_get_str(body, "message");
    if (!msg)
        msg = json_get_str(body, "Message");
    *ret_code = code && *code ? code : NULL;
    *ret_message = msg;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    struct buf *b = userdata;
    /* A short count makes curl fail the transfer with CURLE_WRITE_ERROR. */
    return buf_append(b, data, size * n) < 0 ? 0 : size * n;
}

static void slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    _cleanup_free_ char *line = xasprintf("%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n)
        abort();
    return n;
}

/* Turns a non-200 answer into an error. */
static int answer_error(struct client *c, long status, const struct buf *body, struct error **err)
{
    json_t *doc = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    const char *code = NULL, *msg = NULL;
    if (doc)
        client_error_parts(doc, &code, &msg);
    int r;
    if (code)
        r = error_set(err, EPROTO, NULL, "%s: %s", code, msg ? msg : "(no message)");
    else
        r = error_set(err, EPROTO, NULL, "%s answered HTTP %ld%s%.200s", c->endpoint, status,
                      body->len ? ": " : "", body->len ? body->data : "");
    json_decref(doc);
    return r;
}

int client_call(struct client *c, const struct client_service *svc, const char *operation,
                const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *body = json_dump_compact(in);
    _cleanup_free_ char *target = xasprintf("%s.%s", svc->target_prefix, operation);
    char amz_date[17];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);

    /* Lowercase and sorted: every one of them is signed. */
    struct api_header headers[5];
    size_t n = 0;
    headers[n++] = (struct api_header){"content-type", CT_JSON};
    headers[n++] = (struct api_header){"host", c->host};
    headers[n++] = (struct api_header){"x-amz-date", amz_date};
    if (c->session_token)
        headers[n++] = (struct api_header){"x-amz-security-token", c->session_token};
    headers[n++] = (struct api_header){"x-amz-target", target};
    struct api_request req = {
        .method = "POST",
        .path = c->path,
        .headers = headers,
        .n_headers = n,
        .body = body,
        .body_len = strlen(body),
    };
    _cleanup_free_ char *auth =
        client_sign(&req, c->region, svc->signing_name, c->access_key, c->secret, amz_date);
    if (!auth)
        return error_set(err, EINVAL, NULL, "cannot sign the request to %s", c->endpoint);

    _cleanup_(slist_freep) struct curl_slist *list = NULL;
    for (size_t i = 0; i < n; i++)
        list = add_header(list, headers[i].name, headers[i].value);
    list = add_header(list, "authorization", auth);
    /* No "Expect: 100-continue" round trip for larger bodies. */
    list = curl_slist_append(list, "Expect:");
    if (!list)
        abort();

    struct buf answer;
    buf_init(&answer, CLIENT_MAX_RESPONSE);
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.body_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    c->errbuf[0] = '\0';
    CURLcode cr = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    int r = 0;
    if (cr == CURLE_WRITE_ERROR) {
        r = error_set(err, EFBIG, NULL, "%s: the answer is larger than %u MiB", c->endpoint,
                      CLIENT_MAX_RESPONSE >> 20);
    } else if (cr != CURLE_OK) {
        r = error_set(err, EIO, NULL, "cannot reach skiffd at %s: %s", c->endpoint,
                      c->errbuf[0] ? c->errbuf : curl_easy_strerror(cr));
    } else {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            r = answer_error(c, status, &answer, err);
        } else if (answer.len == 0) {
            *ret_out = json_object();
        } else {
            json_error_t jerr;
            json_t *doc = json_loadb(answer.data, answer.len, 0, &jerr);
            if (!doc)
                r = error_set(err, EPROTO, NULL, "%s answered with malformed JSON: %s", c->endpoint,
                              jerr.text);
            else
                *ret_out = doc;
        }
    }
    buf_done(&answer);
    return r;
}
