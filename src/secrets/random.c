/* GetRandomPassword: a password drawn from getrandom(), with Secrets
 * Manager's options (length 1-4096, default 32; character classes to
 * exclude; a space on request; by default at least one character of every
 * class included). Nothing is stored or logged. */
#include "secrets/secrets-internal.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#define DEFAULT_LENGTH 32
/* Secrets Manager's punctuation set. */
#define PUNCTUATION "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

/* A uniform index below n (rejection sampling: no modulo bias). */
static size_t below(size_t n)
{
    uint32_t limit = UINT32_MAX - UINT32_MAX % (uint32_t)n, v;
    do
        hash_random(&v, sizeof(v));
    while (v >= limit);
    return v % n;
}

/* The characters of set that exclude does not name, appended to out. */
static size_t keep(const char *set, const char *exclude, char *out)
{
    size_t n = 0;
    for (const char *c = set; *c; c++)
        if (!strchr(exclude, *c))
            out[n++] = *c;
    out[n] = 0;
    return n;
}

int secrets_random_password(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                            struct error **err)
{
    (void)ctx;
    json_int_t len = json_get_int(in, "PasswordLength", DEFAULT_LENGTH);
    const char *exclude = json_get_str(in, "ExcludeCharacters");
    if (!exclude)
        exclude = "";
    const struct {
        const char *set;
        bool on;
    } classes[] = {
        {"abcdefghijklmnopqrstuvwxyz", !json_get_bool(in, "ExcludeLowercase", false)},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", !json_get_bool(in, "ExcludeUppercase", false)},
        {"0123456789", !json_get_bool(in, "ExcludeNumbers", false)},
        {PUNCTUATION, !json_get_bool(in, "ExcludePunctuation", false)},
        {" ", json_get_bool(in, "IncludeSpace", false)},
    };
    char sets[ARRAY_SIZE(classes)][64];
    size_t sizes[ARRAY_SIZE(classes)], n_classes = 0;
    char all[256];
    size_t n_all = 0;
    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        sizes[n_classes] = classes[i].on ? keep(classes[i].set, exclude, sets[n_classes]) : 0;
        if (sizes[n_classes] == 0)
            continue;
        memcpy(all + n_all, sets[n_classes], sizes[n_classes]);
        n_all += sizes[n_classes];
        n_classes++;
    }
    if (n_all == 0)
        return error_set(err, EINVAL, ERR_INVALID,
                         "The options exclude every character: the password would be empty.");
    bool each = json_get_bool(in, "RequireEachIncludedType", true);
    if (each && (size_t)len < n_classes)
        return error_set(err, EINVAL, ERR_INVALID,
                         "PasswordLength %lld is shorter than the %zu character types it must "
                         "include.",
                         (long long)len, n_classes);
    char *pw = xmalloc((size_t)len + 1);
    size_t k = 0;
    if (each)
        for (; k < n_classes; k++)
            pw[k] = sets[k][below(sizes[k])];
    for (; k < (size_t)len; k++)
        pw[k] = all[below(n_all)];
    /* Fisher-Yates, so the required characters sit anywhere. */
    for (size_t i = (size_t)len - 1; i > 0; i--) {
        size_t j = below(i + 1);
        char t = pw[i];
        pw[i] = pw[j];
        pw[j] = t;
    }
    pw[len] = 0;
    *ret_out = json_pack("{s:s}", "RandomPassword", pw);
    OPENSSL_cleanse(pw, (size_t)len);
    free(pw);
    return 0;
}
