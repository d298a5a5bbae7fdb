/* Registry client (OCI distribution spec / Docker Registry HTTP API v2) on
 * libcurl.
 *
 * Every request of a client goes through one curl multi handle, so
 * connections stay alive from the manifest to the last blob and blobs
 * download in parallel. A request that gets 401 learns the challenge
 * (Bearer: fetch a token from the realm, with the credentials when we have
 * some; Basic: send the credentials) and goes again; 5xx, 429, timeouts and
 * dropped connections are retried with exponential backoff, blobs resuming
 * with Range where they stopped. TLS is verified unless the registry is
 * listed insecure; loopback and insecure registries that do not speak TLS
 * are reached over plain HTTP. */
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define USER_AGENT       "skiff/0.1"
#define MAX_ERRBODY      (16 * 1024)
#define MAX_TOKEN_BODY   (1024 * 1024)
#define MAX_HDR          4096
#define CONNECT_TIMEOUT  10L
#define STALL_SECONDS    30L
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS   4000
#define AUTH_TRIES       2

struct reg_client {
    char *name; /* domain/path, for messages */
    char *repo; /* path, for URLs and token scopes */
    struct img_registry_conf conf;
    bool use_http;
    char *user, *password;
    bool caller_creds; /* user/password came from the caller, not config.json */
    bool sent_creds;   /* the registry (or its token server) was given them */
    char *authz;       /* "Authorization: ..." header line, or NULL */
    unsigned auth_gen;
    CURLM *multi;
};

/* Registries found to speak plain HTTP (only ever loopback or insecure
 * ones), so that later pulls skip the HTTPS probe. */
static pthread_mutex_t http_hosts_lock = PTHREAD_MUTEX_INITIALIZER;
static char *http_hosts[32];

static bool host_known_http(const char *host)
{
    bool found = false;
    pthread_mutex_lock(&http_hosts_lock);
    for (size_t i = 0; i < ARRAY_SIZE(http_hosts) && http_hosts[i] && !found; i++)
        found = !strcmp(http_hosts[i], host);
    pthread_mutex_unlock(&http_hosts_lock);
    return found;
}

static void host_remember_http(const char *host)
{
    pthread_mutex_lock(&http_hosts_lock);
    size_t i = 0;
    while (i < ARRAY_SIZE(http_hosts) && http_hosts[i] && strcmp(http_hosts[i], host) != 0)
        i++;
    if (i == ARRAY_SIZE(http_hosts)) {
        free(http_hosts[0]);
        memmove(http_hosts, http_hosts + 1, sizeof(http_hosts) - sizeof(http_hosts[0]));
        i--;
        http_hosts[i] = NULL;
    }
    if (!http_hosts[i])
        http_hosts[i] = xstrdup(host);
    pthread_mutex_unlock(&http_hosts_lock);
}

/* DNS answers and TLS sessions shared by every client of the process, so
 * that the next pull from a registry resumes its TLS session instead of a
 * full handshake. Not connections: libcurl does not support sharing its
 * connection cache between threads (CURLSHOPT_SHARE(3)), and with it
 * concurrent pulls on different API workers stalled, a manifest request
 * waiting with no answer until the caller gave up. A pull's own transfers
 * (manifest, config, blobs) share its multi handle's connections. */
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static CURLSH *share;
static pthread_once_t share_once = PTHREAD_ONCE_INIT;

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    (void)h;
    (void)access;
    (void)arg;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    (void)h;
    (void)arg;
    pthread_mutex_unlock(&share_locks[data]);
}

static void share_init(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(share_locks); i++)
        pthread_mutex_init(&share_locks[i], NULL);
    share = curl_share_init();
    if (!share)
        abort();
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

int reg_client_new(const char *data_dir, const struct img_ref *ref, const struct img_creds *creds,
                   struct reg_client **ret, struct error **err)
{
    struct reg_client *c = xzalloc(sizeof(*c));
    int r = img_registry_conf_load(data_dir, ref->domain, &c->conf, err);
    if (r < 0) {
        free(c);
        return r;
    }
    c->name = img_ref_name(ref);
    c->repo = xstrdup(ref->path);
    if (c->conf.blocked) {
        r = error_set(err, EACCES, NULL, "registry %s is blocked in registries.conf", ref->domain);
        reg_client_free(c);
        return r;
    }
    if (creds && creds->username) {
        c->user = xstrdup(creds->username);
        c->password = xstrdup(creds->password ? creds->password : "");
        c->caller_creds = true;
    } else {
        r = img_credentials_lookup(data_dir, ref->domain, &c->user, &c->password, err);
        if (r < 0 && r != -ENOENT) {
            reg_client_free(c);
            return r;
        }
    }
    c->use_http = c->conf.allow_http && host_known_http(c->conf.host);
    c->multi = curl_multi_init();
    if (!c->multi)
        abort();
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)IMG_PARALLEL);
    *ret = c;
    return 0;
}

void reg_client_free(struct reg_client *c)
{
    if (!c)
        return;
    if (c->multi)
        curl_multi_cleanup(c->multi);
    img_registry_conf_done(&c->conf);
    free(c->name);
    free(c->repo);
    free(c->user);
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    free(c->password);
    if (c->authz)
        explicit_bzero(c->authz, strlen(c->authz));
    free(c->authz);
    free(c);
}

bool reg_client_sent_caller_creds(const struct reg_client *c)
{
    return c->caller_creds && c->sent_creds;
}

const char *reg_client_host(const struct reg_client *c)
{
    return c->conf.host;
}

/* ---- one transfer ---- */

struct xfer {
    struct reg_client *c;
    CURL *h;
    struct curl_slist *headers;
    char *path; /* "/v2/<repo>/..." */
    const char *accept;
    char what[160]; /* "manifest latest", "blob sha256:..." for messages */
    /* where the body goes: memory (capped) or a sink */
    struct buf *mem;
    size_t mem_cap;
    const struct reg_sink *sink;
    struct reg_blob_job *job; /* blobs: whose on_done runs when it is whole */
    int64_t expect_size;      /* -1 unknown */
    int64_t resume_from;
    bool body_started;
    /* response */
    long status;
    char content_type[256];
    char docker_digest[128];
    char www_auth[MAX_HDR];
    struct buf errbody;
    char curl_err[CURL_ERROR_SIZE];
    /* why a write was refused */
    bool too_big;
    int sink_err;
    /* state */
    int attempts;
    int auth_tries;
    unsigned auth_gen_used;
    int64_t retry_at_ms;
    bool active;
    bool done;
};

static void copy_header_value(char *dst, size_t size, const char *p, size_t n)
{
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    if (n >= size)
        n = size - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
        /* a new response (after a redirect or 100): forget the last one's */
        x->content_type[0] = x->docker_digest[0] = x->www_auth[0] = '\0';
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    if (nl == 12 && !strncasecmp(p, "content-type", 12)) {
        copy_header_value(x->content_type, sizeof(x->content_type), v, vl);
    } else if (nl == 21 && !strncasecmp(p, "docker-content-digest", 21)) {
        copy_header_value(x->docker_digest, sizeof(x->docker_digest), v, vl);
    } else if (nl == 16 && !strncasecmp(p, "www-authenticate", 16)) {
        if (!x->www_auth[0])
            copy_header_value(x->www_auth, sizeof(x->www_auth), v, vl);
    } else if (nl == 14 && !strncasecmp(p, "content-length", 14)) {
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        char num[32];
        copy_header_value(num, sizeof(num), v, vl);
        long long len = strtoll(num, NULL, 10);
        if (code == 200 && x->mem && len > (long long)x->mem_cap) {
            x->too_big = true;
            return 0;
        }
        if (code == 200 && x->sink && x->expect_size >= 0 && len > x->expect_size) {
            x->too_big = true;
            return 0;
        }
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) {
        if (x->errbody.len < MAX_ERRBODY)
            buf_append(&x->errbody, p, n < MAX_ERRBODY - x->errbody.len ? n : 0);
        return n;
    }
    if (x->mem) {
        if (buf_append(x->mem, p, n) < 0) {
            x->too_big = true;
            return 0;
        }
        return n;
    }
    if (!x->body_started) {
        x->body_started = true;
        /* a 200 answer to a Range request starts from byte 0 again */
        if (code == 200 && x->sink->written(x->sink->arg) > 0) {
            int r = x->sink->rewind(x->sink->arg);
            if (r < 0) {
                x->sink_err = r;
                return 0;
            }
        }
    }
    int r = x->sink->write(x->sink->arg, p, n);
    if (r < 0) {
        x->sink_err = r;
        return 0;
    }
    return n;
}

static char *url_of(const struct reg_client *c, const char *path)
{
    return xasprintf("%s://%s%s", c->use_http ? "http" : "https", c->conf.host, path);
}

static void tls_options(const struct reg_client *c, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->conf.tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->conf.tls_verify ? 2L : 0L);
    const char *ca = c->conf.ca_file ? c->conf.ca_file : getenv("SSL_CERT_FILE");
    if (ca && *ca) {
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
        /* keep the system store too, for token servers and redirects */
        curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
}

static void common_options(const struct reg_client *c, CURL *h)
{
    pthread_once(&share_once, share_init);
    curl_easy_setopt(h, CURLOPT_SHARE, share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, c->conf.allow_http ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    tls_options(c, h);
}

static void xfer_prepare(struct xfer *x)
{
    struct reg_client *c = x->c;
    if (!x->h) {
        x->h = curl_easy_init();
        if (!x->h)
            abort();
    } else {
        curl_easy_reset(x->h);
    }
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    common_options(c, x->h);
    _cleanup_free_ char *url = url_of(c, x->path);
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->curl_err);
    x->curl_err[0] = '\0';
    if (x->accept) {
        _cleanup_free_ char *a = xasprintf("Accept: %s", x->accept);
        x->headers = curl_slist_append(x->headers, a);
    }
    if (c->authz)
        x->headers = curl_slist_append(x->headers, c->authz);
    x->auth_gen_used = c->auth_gen;
    x->resume_from = x->sink ? x->sink->written(x->sink->arg) : 0;
    if (x->resume_from > 0) {
        char range[64];
        snprintf(range, sizeof(range), "Range: bytes=%lld-", (long long)x->resume_from);
        x->headers = curl_slist_append(x->headers, range);
    }
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->headers);
    x->status = 0;
    x->body_started = false;
    x->too_big = false;
    x->sink_err = 0;
    x->content_type[0] = x->docker_digest[0] = x->www_auth[0] = '\0';
    buf_reset(&x->errbody);
    if (x->mem)
        buf_reset(x->mem);
}

static void xfer_done(struct xfer *x)
{
    if (x->h)
        curl_easy_cleanup(x->h);
    curl_slist_free_all(x->headers);
    free(x->path);
    buf_done(&x->errbody);
    x->h = NULL;
    x->headers = NULL;
    x->path = NULL;
}

/* "CODE: message" from a registry's {"errors": [...]} body, or the status. */
static void describe_errbody(const struct xfer *x, char *out, size_t size)
{
    json_t *doc = x->errbody.len ? json_loadb(x->errbody.data, x->errbody.len, 0, NULL) : NULL;
    json_t *e = json_array_get(json_object_get(doc, "errors"), 0);
    const char *code = json_get_str(e, "code"), *msg = json_get_str(e, "message");
    if (code || msg)
        snprintf(out, size, "%.64s%s%.300s", code ? code : "", code && msg ? ": " : "",
                 msg ? msg : "");
    else
        snprintf(out, size, "HTTP %ld", x->status);
    json_decref(doc);
}

/* ---- authentication ---- */

static char *url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-_.~", ch)) {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    return out;
}

static size_t on_token_body(char *p, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;
    return buf_append(arg, p, n) < 0 ? 0 : n;
}

static int fetch_token(struct reg_client *c, const struct img_challenge *ch, struct error **err)
{
    if (!ch->realm || (strncmp(ch->realm, "https://", 8) != 0 &&
                       !(strncmp(ch->realm, "http://", 7) == 0 && c->conf.allow_http)))
        return error_set(err, EPROTO, NULL,
                         "registry %s asked for a token from an unusable realm \"%.200s\"",
                         c->conf.host, ch->realm ? ch->realm : "");
    _cleanup_free_ char *scope_default = xasprintf("repository:%s:pull", c->repo);
    const char *scope = ch->scope ? ch->scope : scope_default;
    _cleanup_free_ char *es = url_encode(scope);
    _cleanup_free_ char *esvc = ch->service ? url_encode(ch->service) : NULL;
    _cleanup_free_ char *url =
        xasprintf("%s%s%s%s%sscope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
                  esvc ? "service=" : "", esvc ? esvc : "", esvc ? "&" : "", es);
    CURL *h = curl_easy_init();
    if (!h)
        abort();
    struct buf body;
    buf_init(&body, MAX_TOKEN_BODY);
    char errbuf[CURL_ERROR_SIZE] = "";
    common_options(c, h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_token_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (c->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
        c->sent_creds = true;
    }
    int r = 0;
    CURLcode cc = CURLE_OK;
    long status = 0;
    for (int attempt = 0;; attempt++) {
        buf_reset(&body);
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        bool transient =
            (cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT ||
             cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING) ||
            (cc == CURLE_OK && (status >= 500 || status == 429));
        if (!transient || attempt >= IMG_RETRIES)
            break;
        struct timespec ts = {0, (long)(BACKOFF_FIRST_MS << attempt) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (cc != CURLE_OK) {
        r = error_set(err, cc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EHOSTUNREACH, NULL,
                      "token server %.200s: %s", ch->realm,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (status == 401 || status == 403) {
        r = error_set(err, EACCES, NULL, "token server %.200s refused %s credentials (HTTP %ld)",
                      ch->realm, c->user ? "the" : "anonymous", status);
    } else if (status != 200) {
        r = error_set(err, EPROTO, NULL, "token server %.200s answered HTTP %ld", ch->realm,
                      status);
    } else {
        json_t *doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
        const char *tok = json_get_str(doc, "token");
        if (!tok || !*tok)
            tok = json_get_str(doc, "access_token");
        if (!tok || !*tok || strlen(tok) > 64 * 1024 || strpbrk(tok, "\r\n")) {
            r = error_set(err, EPROTO, NULL, "token server %.200s answered without a token",
                          ch->realm);
        } else {
            if (c->authz)
                explicit_bzero(c->authz, strlen(c->authz));
            free(c->authz);
            c->authz = xasprintf("Authorization: Bearer %s", tok);
            c->auth_gen++;
        }
        json_decref(doc);
    }
    if (body.data)
        explicit_bzero(body.data, body.len);
    buf_done(&body);
    curl_easy_cleanup(h);
    return r;
}

static int set_basic(struct reg_client *c, struct error **err)
{
    if (!c->user)
        return error_set(err, EACCES, NULL, "registry %s requires credentials (Basic auth)",
                         c->conf.host);
    _cleanup_free_ char *pair = xasprintf("%s:%s", c->user, c->password);
    size_t n = strlen(pair);
    _cleanup_free_ char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pair, (int)n);
    explicit_bzero(pair, n);
    if (c->authz)
        explicit_bzero(c->authz, strlen(c->authz));
    free(c->authz);
    c->authz = xasprintf("Authorization: Basic %s", b64);
    c->auth_gen++;
    c->sent_creds = true;
    return 0;
}

/* A 401 on x: learn the challenge unless another transfer already did. */
static int authenticate(struct reg_client *c, struct xfer *x, struct error **err)
{
    if (x->auth_gen_used != c->auth_gen)
        return 0; /* someone refreshed since x went out: just go again */
    if (++x->auth_tries > AUTH_TRIES || (c->authz && !c->user && x->auth_tries > 1))
        goto denied;
    struct img_challenge ch;
    if (img_challenge_parse(x->www_auth, &ch) < 0)
        return error_set(err, EPROTO, NULL,
                         "registry %s answered 401 without a usable WWW-Authenticate header",
                         c->conf.host);
    int r;
    if (!strcasecmp(ch.scheme, "Bearer")) {
        r = fetch_token(c, &ch, err);
    } else if (!strcasecmp(ch.scheme, "Basic")) {
        if (c->authz && !strncmp(c->authz, "Authorization: Basic", 20)) {
            img_challenge_done(&ch);
            goto denied;
        }
        r = set_basic(c, err);
    } else {
        r = error_set(err, EPROTO, NULL, "registry %s wants unsupported auth scheme %s",
                      c->conf.host, ch.scheme);
    }
    img_challenge_done(&ch);
    return r;
denied:;
    char why[400];
    describe_errbody(x, why, sizeof(why));
    return error_set(err, EACCES, NULL,
                     "pull access denied for %s, repository does not exist or may require "
                     "authorization: %s",
                     c->name, why);
}

/* ---- the transfer loop ---- */

enum outcome {
    DONE,
    RETRY,     /* after backoff */
    RETRY_NOW, /* scheme switched or auth learned */
    FAILED,
};

static bool transient_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static enum outcome finish(struct reg_client *c, struct xfer *x, CURLcode cc, struct error **err)
{
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->too_big) {
        if (x->mem)
            error_set(err, E2BIG, NULL, "%s is larger than %zu bytes", x->what, x->mem_cap);
        else
            error_set(err, EBADMSG, NULL, "%s is larger than its descriptor says (%lld bytes)",
                      x->what, (long long)x->expect_size);
        return FAILED;
    }
    if (x->sink_err) {
        int e = -x->sink_err;
        if (e == EFBIG)
            error_set(err, EBADMSG, NULL, "%s is larger than its descriptor says (%lld bytes)",
                      x->what, (long long)x->expect_size);
        else
            error_errno(err, e, "%s: write to the content store", x->what);
        return FAILED;
    }
    if (cc == CURLE_SSL_CONNECT_ERROR && !c->use_http && c->conf.allow_http && x->status == 0) {
        /* a plain-HTTP registry on loopback or listed insecure */
        c->use_http = true;
        host_remember_http(c->conf.host);
        return RETRY_NOW;
    }
    if (cc != CURLE_OK) {
        if (transient_curl(cc))
            return RETRY;
        const char *msg = x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
            cc == CURLE_SSL_CONNECT_ERROR)
            error_set(err, EPROTO, NULL, "TLS with registry %s failed: %s", c->conf.host, msg);
        else if (cc == CURLE_COULDNT_RESOLVE_HOST)
            error_set(err, EHOSTUNREACH, NULL, "registry %s unreachable: %s", c->conf.host, msg);
        else
            error_set(err, EPROTO, NULL, "%s from %s: %s", x->what, c->conf.host, msg);
        return FAILED;
    }
    char why[400];
    switch (x->status) {
    case 200:
    case 206:
        if (x->status == 206 && x->resume_from == 0)
            return RETRY; /* a partial answer we did not ask for */
        if (x->sink && x->expect_size >= 0 && x->sink->written(x->sink->arg) < x->expect_size)
            return RETRY; /* cut short: resume */
        return DONE;
    case 401:
        return authenticate(c, x, err) < 0 ? FAILED : RETRY_NOW;
    case 403:
        describe_errbody(x, why, sizeof(why));
        error_set(err, EACCES, NULL, "access to %s denied by %s: %s", x->what, c->conf.host, why);
        return FAILED;
    case 404:
        describe_errbody(x, why, sizeof(why));
        error_set(err, ENOENT, NULL, "%s not found: %s", x->what, why);
        return FAILED;
    case 416:
        /* our Range start is past the end: start over */
        if (x->sink && x->sink->rewind(x->sink->arg) == 0)
            return RETRY_NOW;
        break;
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        return RETRY;
    default:
        break;
    }
    describe_errbody(x, why, sizeof(why));
    error_set(err, EPROTO, NULL, "%s: registry %s answered %ld: %s", x->what, c->conf.host,
              x->status, why);
    return FAILED;
}

static int64_t backoff_ms(int attempt)
{
    int64_t d = (int64_t)BACKOFF_FIRST_MS << (attempt > 5 ? 5 : attempt);
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    uint32_t jitter;
    hash_random(&jitter, sizeof(jitter));
    return d / 2 + (int64_t)(jitter % (uint32_t)(d / 2 + 1));
}

static void start(struct reg_client *c, struct xfer *x)
{
    xfer_prepare(x);
    curl_multi_add_handle(c->multi, x->h);
    x->active = true;
}

static void stop(struct reg_client *c, struct xfer *x)
{
    if (x->active) {
        curl_multi_remove_handle(c->multi, x->h);
        x->active = false;
    }
}

/* Runs the transfers to completion, at most IMG_PARALLEL at once. */
static int run(struct reg_client *c, struct xfer **xs, size_t n, struct error **err)
{
    size_t done = 0;
    int r = 0;
    for (size_t i = 0; i < n; i++)
        xs[i]->retry_at_ms = 0;
    while (done < n && r == 0) {
        int64_t now = time_mono_ns() / 1000000;
        size_t active = 0;
        int64_t next_retry = -1;
        for (size_t i = 0; i < n; i++)
            active += xs[i]->active;
        for (size_t i = 0; i < n && active < IMG_PARALLEL; i++) {
            struct xfer *x = xs[i];
            if (x->done || x->active)
                continue;
            if (x->retry_at_ms > now) {
                if (next_retry < 0 || x->retry_at_ms < next_retry)
                    next_retry = x->retry_at_ms;
                continue;
            }
            start(c, x);
            active++;
        }
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = m->data.result;
            stop(c, x);
            struct error *e = NULL;
            enum outcome o = finish(c, x, cc, &e);
            if (o == DONE && x->job && x->job->on_done && x->job->on_done(x->job, &e) < 0)
                o = FAILED;
            switch (o) {
            case DONE:
                x->done = true;
                done++;
                break;
            case RETRY_NOW:
                x->retry_at_ms = 0;
                break;
            case RETRY:
                if (x->attempts++ < IMG_RETRIES) {
                    x->retry_at_ms = time_mono_ns() / 1000000 + backoff_ms(x->attempts - 1);
                    break;
                }
                if (cc != CURLE_OK) {
                    const char *msg = x->curl_err[0] ? x->curl_err : curl_easy_strerror(cc);
                    if (cc == CURLE_COULDNT_CONNECT)
                        error_set(&e, ECONNREFUSED, NULL, "registry %s unreachable: %s",
                                  c->conf.host, msg);
                    else
                        error_set(&e, ETIMEDOUT, NULL, "%s from %s: %s (after %d attempts)",
                                  x->what, c->conf.host, msg, x->attempts);
                } else {
                    char why[400];
                    describe_errbody(x, why, sizeof(why));
                    error_set(&e, EIO, NULL, "%s: registry %s answered %ld after %d attempts: %s",
                              x->what, c->conf.host, x->status, x->attempts, why);
                }
                /* fall through */
            case FAILED:
                if (!*err) {
                    *err = e;
                    e = NULL;
                }
                r = -(*err)->errnum;
                break;
            }
            error_free(e);
            if (r < 0)
                break;
        }
        if (r < 0 || done == n)
            break;
        int wait_ms = 1000;
        if (next_retry >= 0) {
            int64_t d = next_retry - time_mono_ns() / 1000000;
            wait_ms = d < 0 ? 0 : (d < wait_ms ? (int)d : wait_ms);
        }
        if (running > 0 || next_retry >= 0)
            curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
    }
    for (size_t i = 0; i < n; i++)
        stop(c, xs[i]);
    return r;
}

static void xfer_init(struct xfer *x, struct reg_client *c, char *path)
{
    memset(x, 0, sizeof(*x));
    x->c = c;
    x->path = path;
    x->expect_size = -1;
    buf_init(&x->errbody, MAX_ERRBODY + 1);
}

static void sha256_hex_digest(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1])
{
    uint8_t d[HASH_SHA256_LEN];
    hash_sha256(data, len, d);
    memcpy(out, "sha256:", 7);
    hash_hex(d, sizeof(d), out + 7);
}

int reg_get_manifest(struct reg_client *c, const char *reference, struct buf *body, char **ret_ct,
                     char ret_digest[IMG_DIGEST_LEN + 1], struct error **err)
{
    struct xfer x;
    xfer_init(&x, c, xasprintf("/v2/%s/manifests/%s", c->repo, reference));
    snprintf(x.what, sizeof(x.what), "manifest %.100s", reference);
    x.accept = IMG_MANIFEST_ACCEPT;
    buf_init(body, IMG_MAX_MANIFEST);
    x.mem = body;
    x.mem_cap = IMG_MAX_MANIFEST;
    struct xfer *xs[] = {&x};
    int r = run(c, xs, 1, err);
    if (r == 0) {
        char digest[IMG_DIGEST_LEN + 1];
        sha256_hex_digest(body->data ? body->data : "", body->len, digest);
        bool by_digest = !strncmp(reference, "sha256:", 7);
        if (by_digest && strcmp(digest, reference) != 0)
            r = error_set(err, EBADMSG, NULL,
                          "manifest digest mismatch: asked for %s, got content with digest %s",
                          reference, digest);
        else if (!strncmp(x.docker_digest, "sha256:", 7) && strcmp(x.docker_digest, digest) != 0)
            r = error_set(err, EBADMSG, NULL,
                          "manifest digest mismatch: registry says %.80s, content is %s",
                          x.docker_digest, digest);
        if (r == 0) {
            memcpy(ret_digest, digest, sizeof(digest));
            *ret_ct = x.content_type[0] ? xstrdup(x.content_type) : NULL;
        }
    }
    if (r < 0)
        buf_done(body);
    xfer_done(&x);
    return r;
}

int reg_get_blob_mem(struct reg_client *c, const struct img_descriptor *d, size_t cap,
                     struct buf *out, struct error **err)
{
    if (d->size > (int64_t)cap)
        return error_set(err, E2BIG, NULL, "blob %s is %lld bytes (at most %zu)", d->digest,
                         (long long)d->size, cap);
    struct xfer x;
    xfer_init(&x, c, xasprintf("/v2/%s/blobs/%s", c->repo, d->digest));
    snprintf(x.what, sizeof(x.what), "blob %s", d->digest);
    buf_init(out, (size_t)d->size);
    x.mem = out;
    x.mem_cap = (size_t)d->size;
    struct xfer *xs[] = {&x};
    int r = run(c, xs, 1, err);
    if (r == 0) {
        char digest[IMG_DIGEST_LEN + 1];
        sha256_hex_digest(out->data ? out->data : "", out->len, digest);
        if ((int64_t)out->len != d->size || strcmp(digest, d->digest) != 0)
            r = error_set(err, EBADMSG, NULL,
                          "blob %s: digest mismatch (got %zu bytes with digest %s)", d->digest,
                          out->len, digest);
    }
    if (r < 0)
        buf_done(out);
    xfer_done(&x);
    return r;
}

int reg_get_blobs(struct reg_client *c, struct reg_blob_job *jobs, size_t n, struct error **err)
{
    if (n == 0)
        return 0;
    struct xfer *xv = xcalloc(n, sizeof(*xv));
    struct xfer **xs = xcalloc(n, sizeof(*xs));
    for (size_t i = 0; i < n; i++) {
        xfer_init(&xv[i], c, xasprintf("/v2/%s/blobs/%s", c->repo, jobs[i].desc->digest));
        snprintf(xv[i].what, sizeof(xv[i].what), "blob %s", jobs[i].desc->digest);
        xv[i].sink = &jobs[i].sink;
        xv[i].job = &jobs[i];
        xv[i].expect_size = jobs[i].desc->size;
        xs[i] = &xv[i];
    }
    int r = run(c, xs, n, err);
    for (size_t i = 0; i < n; i++)
        xfer_done(&xv[i]);
    free(xs);
    free(xv);
    return r;
}
