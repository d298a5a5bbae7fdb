#include "base/hash.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

/* OpenSSL 3's one-shot SHA256() and HMAC() look the algorithm up on every
 * call, which showed up at ~10% of a signed API request. The algorithms are
 * fetched once, and each thread keeps its own reusable contexts. */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static __thread EVP_MD_CTX *md_ctx;
static __thread EVP_MAC_CTX *mac_ctx;
static pthread_key_t exit_key;

/* Runs in an exiting thread that used a context: frees its own. */
static void free_thread_ctx(void *unused)
{
    (void)unused;
    EVP_MD_CTX_free(md_ctx);
    md_ctx = NULL;
    EVP_MAC_CTX_free(mac_ctx);
    mac_ctx = NULL;
}

static void fetch(void)
{
    pthread_key_create(&exit_key, free_thread_ctx);
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!sha256_md || !hmac_mac) {
        fputs("skiff: OpenSSL lacks SHA256 or HMAC\n", stderr);
        abort();
    }
}

static void crypto_fail(const char *what)
{
    fprintf(stderr, "skiff: OpenSSL %s failed\n", what);
    abort();
}

void hash_sha256(const void *data, size_t len, uint8_t out[HASH_SHA256_LEN])
{
    pthread_once(&fetch_once, fetch);
    if (!md_ctx) {
        if (!(md_ctx = EVP_MD_CTX_new()))
            crypto_fail("EVP_MD_CTX_new");
        pthread_setspecific(exit_key, md_ctx);
    }
    unsigned int n = HASH_SHA256_LEN;
    if (!EVP_DigestInit_ex2(md_ctx, sha256_md, NULL) || !EVP_DigestUpdate(md_ctx, data, len) ||
        !EVP_DigestFinal_ex(md_ctx, out, &n))
        crypto_fail("SHA256");
}

void hash_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[HASH_SHA256_LEN])
{
    pthread_once(&fetch_once, fetch);
    if (!mac_ctx) {
        mac_ctx = EVP_MAC_CTX_new(hmac_mac);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        if (!mac_ctx || !EVP_MAC_CTX_set_params(mac_ctx, params))
            crypto_fail("EVP_MAC_CTX_new");
        pthread_setspecific(exit_key, mac_ctx);
    }
    size_t n = 0;
    if (!EVP_MAC_init(mac_ctx, key, key_len, NULL) || !EVP_MAC_update(mac_ctx, data, len) ||
        !EVP_MAC_final(mac_ctx, out, &n, HASH_SHA256_LEN))
        crypto_fail("HMAC-SHA256");
}

void hash_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool hash_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *hash_b64url_encode(const void *data, size_t len)
{
    const uint8_t *p = data;
    char *out = xmalloc(len * 4 / 3 + 4);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

long hash_b64url_decode(const char *in, size_t len, uint8_t *out)
{
    while (len && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -EINVAL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

void hash_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("getrandom");
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}
