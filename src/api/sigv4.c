#include "api/sigv4.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIGV4_MAX_SIGNED_HEADERS 64
#define SIGV4_MAX_QUERY          256

int sigv4_parse_authorization(const char *value, struct sigv4_auth *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    size_t alg = strlen(SIGV4_ALGORITHM);
    if (strncmp(value, SIGV4_ALGORITHM, alg) != 0 || value[alg] != ' ') {
        *why = "Authorization header requires the AWS4-HMAC-SHA256 algorithm";
        return -EINVAL;
    }
    if (strlen(value + alg) >= sizeof(out->storage)) {
        *why = "Authorization header is too long";
        return -EINVAL;
    }
    strcpy(out->storage, value + alg + 1);
    char *save = NULL;
    char *credential = NULL;
    for (char *tok = strtok_r(out->storage, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = '\0';
        if (!strncmp(tok, "Credential=", 11))
            credential = tok + 11;
        else if (!strncmp(tok, "SignedHeaders=", 14))
            out->signed_headers = tok + 14;
        else if (!strncmp(tok, "Signature=", 10))
            out->signature = tok + 10;
        else {
            *why = "Authorization header has an unknown component";
            return -EINVAL;
        }
    }
    if (!credential || !out->signed_headers || !out->signature) {
        *why = "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'";
        return -EINVAL;
    }
    /* AKID/date/region/service/aws4_request */
    char *parts[5];
    int n = 0;
    char *p = credential;
    parts[n++] = p;
    for (; *p && n < 5; p++) {
        if (*p == '/') {
            *p = '\0';
            parts[n++] = p + 1;
        }
    }
    if (n != 5 || strchr(parts[4], '/') || !*parts[0]) {
        *why = "Credential should be scoped to a valid region, service and aws4_request";
        return -EINVAL;
    }
    out->access_key = parts[0];
    out->date = parts[1];
    out->region = parts[2];
    out->service = parts[3];
    out->terminator = parts[4];
    if (strlen(out->signature) != 64 || strspn(out->signature, "0123456789abcdef") != 64) {
        *why = "Signature must be 64 hexadecimal characters";
        return -EINVAL;
    }
    return 0;
}

/* RFC 3986 unreserved characters, in ASCII whatever the locale. */
static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            buf_append(out, &s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes s into a new string (invalid escapes kept as they are). */
static char *uri_decode(const char *s, size_t *ret_len)
{
    size_t n = strlen(s);
    char *d = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            d[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *ret_len = o;
    return d;
}

/* RFC 3986 dot-segment removal and empty-segment collapse, as botocore's
 * normalize_url_path (remove_dot_segments) does for every service but S3. */
static void normalize_path(const char *path, struct buf *out)
{
    size_t max = 1;
    for (const char *c = path; *c; c++)
        max += *c == '/';
    _cleanup_free_ const char **segs = xcalloc(max, sizeof(*segs));
    _cleanup_free_ size_t *lens = xcalloc(max, sizeof(*lens));
    size_t n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (n)
                n--;
            continue;
        }
        segs[n] = start;
        lens[n] = len;
        n++;
    }
    buf_puts(out, "/");
    for (size_t i = 0; i < n; i++) {
        buf_append(out, segs[i], lens[i]);
        if (i + 1 < n)
            buf_puts(out, "/");
    }
    size_t plen = strlen(path);
    if (n && path[plen - 1] == '/')
        buf_puts(out, "/");
}

struct qpair {
    char *k;
    char *v;
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static void encode_component(struct buf *out, const char *raw)
{
    size_t len;
    _cleanup_free_ char *dec = uri_decode(raw, &len);
    sigv4_uri_encode(out, dec, len, 0);
}

static int canonical_query(const struct api_request *req, struct buf *out)
{
    if (req->n_query > SIGV4_MAX_QUERY)
        return -EINVAL;
    struct qpair *pairs = xcalloc(req->n_query, sizeof(*pairs));
    for (size_t i = 0; i < req->n_query; i++) {
        struct buf k, v;
        buf_init(&k, 0);
        buf_init(&v, 0);
        encode_component(&k, req->query[i].key);
        encode_component(&v, req->query[i].value ? req->query[i].value : "");
        pairs[i].k = buf_steal(&k);
        pairs[i].v = buf_steal(&v);
    }
    qsort(pairs, req->n_query, sizeof(*pairs), qpair_cmp);
    for (size_t i = 0; i < req->n_query; i++) {
        if (i)
            buf_puts(out, "&");
        buf_puts(out, pairs[i].k);
        buf_puts(out, "=");
        buf_puts(out, pairs[i].v);
        free(pairs[i].k);
        free(pairs[i].v);
    }
    free(pairs);
    return 0;
}

/* Header value with leading/trailing spaces trimmed and inner runs of spaces
 * collapsed to one. */
static void append_trimmed(struct buf *out, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space)
            buf_puts(out, " ");
        space = 0;
        buf_append(out, v, 1);
    }
}

int sigv4_canonical_request(const struct api_request *req, const char *signed_headers,
                            const char *payload_hash, struct buf *out)
{
    buf_puts(out, req->method);
    buf_puts(out, "\n");

    /* URI: the raw path as received, normalised, then encoded once more
     * keeping '/' (so a '%' that was sent becomes "%25"). That is what
     * botocore signs for every service but S3; it is not decoded first. */
    struct buf norm;
    buf_init(&norm, 0);
    normalize_path(req->path && *req->path ? req->path : "/", &norm);
    struct buf enc;
    buf_init(&enc, 0);
    sigv4_uri_encode(&enc, norm.data, norm.len, 1);
    buf_append(out, enc.data, enc.len);
    buf_done(&norm);
    buf_done(&enc);
    buf_puts(out, "\n");

    if (canonical_query(req, out) < 0)
        return -EINVAL;
    buf_puts(out, "\n");

    /* Signed headers must be lowercase, sorted, unique and present. */
    char prev[128] = "";
    const char *p = signed_headers;
    int count = 0;
    if (!*p)
        return -EINVAL;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len >= sizeof(prev) || ++count > SIGV4_MAX_SIGNED_HEADERS)
            return -EINVAL;
        char name[128];
        memcpy(name, p, len);
        name[len] = '\0';
        for (size_t i = 0; i < len; i++)
            if (isupper((unsigned char)name[i]))
                return -EINVAL;
        if (*prev && strcmp(prev, name) >= 0)
            return -EINVAL;
        strcpy(prev, name);
        buf_puts(out, name);
        buf_puts(out, ":");
        int found = 0;
        for (size_t i = 0; i < req->n_headers; i++) {
            if (strcasecmp(req->headers[i].name, name) != 0)
                continue;
            if (found)
                buf_puts(out, ",");
            append_trimmed(out, req->headers[i].value);
            found = 1;
        }
        if (!found)
            return -EINVAL;
        buf_puts(out, "\n");
        p += len;
        if (*p == ';' && !*++p)
            return -EINVAL; /* a trailing ';' names an empty header */
    }
    buf_puts(out, "\n");
    buf_puts(out, signed_headers);
    buf_puts(out, "\n");
    buf_puts(out, payload_hash);
    return 0;
}

void sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canonical,
                          size_t canonical_len, struct buf *out)
{
    uint8_t digest[HASH_SHA256_LEN];
    char hex[2 * HASH_SHA256_LEN + 1];
    hash_sha256(canonical, canonical_len, digest);
    hash_hex(digest, sizeof(digest), hex);
    buf_puts(out, SIGV4_ALGORITHM "\n");
    buf_puts(out, amz_date);
    buf_puts(out, "\n");
    buf_puts(out, scope);
    buf_puts(out, "\n");
    buf_puts(out, hex);
}

void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t out[32])
{
    _cleanup_free_ char *k0 = xasprintf("AWS4%s", secret);
    uint8_t a[32], b[32];
    hash_hmac_sha256(k0, strlen(k0), date, strlen(date), a);
    hash_hmac_sha256(a, 32, region, strlen(region), b);
    hash_hmac_sha256(b, 32, service, strlen(service), a);
    hash_hmac_sha256(a, 32, "aws4_request", 12, out);
}

void sigv4_sign(const uint8_t key[32], const char *sts, size_t sts_len, char out[65])
{
    uint8_t mac[32];
    hash_hmac_sha256(key, 32, sts, sts_len, mac);
    hash_hex(mac, 32, out);
}
