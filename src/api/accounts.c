#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ACCOUNTS_MAX_FILE (1 << 20)

struct accounts {
    struct account *v;
    size_t n;
};

void accounts_free(struct accounts *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].profile);
        free(a->v[i].access_key);
        free(a->v[i].secret);
        free(a->v[i].account_id);
        free(a->v[i].session_token);
    }
    free(a->v);
    free(a);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int check_profile(const struct account *acc, struct error **err)
{
    if (!acc->access_key || !acc->secret || !acc->account_id)
        return error_set(err, EINVAL, NULL,
                         "credentials: profile [%s] needs aws_access_key_id, "
                         "aws_secret_access_key and account_id",
                         acc->profile);
    if (strlen(acc->account_id) != ACCOUNT_ID_LEN)
        return error_set(err, EINVAL, NULL,
                         "credentials: profile [%s]: account_id must be 12 digits", acc->profile);
    for (const char *p = acc->account_id; *p; p++)
        if (!isdigit((unsigned char)*p))
            return error_set(err, EINVAL, NULL,
                             "credentials: profile [%s]: account_id must be 12 digits",
                             acc->profile);
    return 0;
}

int accounts_parse(const char *text, struct accounts **ret, struct error **err)
{
    struct accounts *a = xzalloc(sizeof(*a));
    _cleanup_free_ char *copy = xstrdup(text);
    struct account *cur = NULL;
    int lineno = 0;
    char *save = NULL;
    int r = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end) {
                r = error_set(err, EINVAL, NULL, "credentials: line %d: unterminated section",
                              lineno);
                goto fail;
            }
            *end = '\0';
            if (cur && (r = check_profile(cur, err)) < 0)
                goto fail;
            a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
            cur = &a->v[a->n++];
            memset(cur, 0, sizeof(*cur));
            cur->profile = xstrdup(trim(s + 1));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq || !cur) {
            r = error_set(err, EINVAL, NULL,
                          "credentials: line %d: expected key = value in a [profile]", lineno);
            goto fail;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        char **slot = NULL;
        if (!strcmp(key, "aws_access_key_id"))
            slot = &cur->access_key;
        else if (!strcmp(key, "aws_secret_access_key"))
            slot = &cur->secret;
        else if (!strcmp(key, "account_id"))
            slot = &cur->account_id;
        else if (!strcmp(key, "aws_session_token"))
            slot = &cur->session_token;
        if (slot) {
            free(*slot);
            *slot = xstrdup(val);
        }
    }
    if (cur && (r = check_profile(cur, err)) < 0)
        goto fail;
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = i + 1; j < a->n; j++)
            if (!strcmp(a->v[i].access_key, a->v[j].access_key)) {
                r = error_set(err, EINVAL, NULL,
                              "credentials: profiles [%s] and [%s] share an access key",
                              a->v[i].profile, a->v[j].profile);
                goto fail;
            }
    *ret = a;
    return 0;
fail:
    accounts_free(a);
    return r;
}

int accounts_load(const char *path, struct accounts **ret, struct error **err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return error_errno(err, errno, "credentials: open %s", path);
    struct buf_s {
        char *d;
        size_t n;
    } b = {xmalloc(ACCOUNTS_MAX_FILE + 1), 0};
    b.n = fread(b.d, 1, ACCOUNTS_MAX_FILE + 1, f);
    if (b.n > ACCOUNTS_MAX_FILE) {
        free(b.d);
        return error_set(err, EFBIG, NULL, "credentials: %s is larger than 1 MiB", path);
    }
    b.d[b.n] = '\0';
    int r = accounts_parse(b.d, ret, err);
    free(b.d);
    return r;
}

static void random_chars(char *out, size_t n, const char *alphabet)
{
    size_t alen = strlen(alphabet);
    uint8_t rnd[128];
    hash_random(rnd, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % alen];
    out[n] = '\0';
}

int accounts_init_file(const char *path, struct error **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        return error_errno(err, errno, "credentials: create %s", path);
    }
    char account[ACCOUNT_ID_LEN + 1], akid[17], secret[41];
    random_chars(account, 1, "123456789");
    random_chars(account + 1, ACCOUNT_ID_LEN - 1, "0123456789");
    random_chars(akid, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    random_chars(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    _cleanup_free_ char *text = xasprintf("[default]\n"
                                          "aws_access_key_id = AKIA%s\n"
                                          "aws_secret_access_key = %s\n"
                                          "account_id = %s\n",
                                          akid, secret, account);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            unlink(path);
            return error_errno(err, e, "credentials: write %s", path);
        }
        off += (size_t)n;
    }
    if (fsync(fd) < 0) {
        int e = errno;
        unlink(path);
        return error_errno(err, e, "credentials: fsync %s", path);
    }
    return 0;
}

const struct account *accounts_find(const struct accounts *a, const char *access_key)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (!strcmp(a->v[i].access_key, access_key))
            return &a->v[i];
    return NULL;
}

const struct account *accounts_at(const struct accounts *a, size_t n)
{
    return a && n < a->n ? &a->v[n] : NULL;
}
