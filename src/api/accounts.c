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
#include <strings.h>
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
    if (strlen(acc->account_id) != ACCOUNT_ID_LEN ||
        strspn(acc->account_id, "0123456789") != ACCOUNT_ID_LEN)
        return error_set(err, EINVAL, NULL,
                         "credentials: profile [%s]: account_id must be 12 digits", acc->profile);
    return 0;
}

/* The value slot of a key this module reads, or NULL for any other key
 * (region, output, ... are the aws CLI's business). Keys are matched
 * case-insensitively, as the CLI's configparser does. */
static char **key_slot(struct account *acc, const char *key)
{
    if (!strcasecmp(key, "aws_access_key_id"))
        return &acc->access_key;
    if (!strcasecmp(key, "aws_secret_access_key"))
        return &acc->secret;
    if (!strcasecmp(key, "account_id"))
        return &acc->account_id;
    if (!strcasecmp(key, "aws_session_token"))
        return &acc->session_token;
    return NULL;
}

int accounts_parse(const char *text, struct accounts **ret, struct error **err)
{
    struct accounts *a = xzalloc(sizeof(*a));
    _cleanup_free_ char *copy = xstrdup(text);
    struct account *cur = NULL;
    int lineno = 0;
    int r = 0;
    char *next = copy;
    while (next) {
        char *line = next;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
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
            char *name = trim(s + 1);
            if (!*name) {
                r = error_set(err, EINVAL, NULL, "credentials: line %d: empty profile name",
                              lineno);
                goto fail;
            }
            if (cur && (r = check_profile(cur, err)) < 0)
                goto fail;
            for (size_t i = 0; i < a->n; i++)
                if (!strcmp(a->v[i].profile, name)) {
                    r = error_set(err, EINVAL, NULL,
                                  "credentials: line %d: profile [%s] appears twice", lineno, name);
                    goto fail;
                }
            a->v = xrealloc(a->v, (a->n + 1) * sizeof(*a->v));
            cur = &a->v[a->n++];
            memset(cur, 0, sizeof(*cur));
            cur->profile = xstrdup(name);
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
        char **slot = key_slot(cur, key);
        if (slot) {
            /* An empty value is no value: an empty secret would let anyone
             * who knows the access key sign requests. */
            free(*slot);
            *slot = *val ? xstrdup(val) : NULL;
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

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Syncs the directory holding path, so that a new name in it is durable. */
static void sync_parent(const char *path)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    _cleanup_close_ int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        fsync(fd);
}

int accounts_init_file(const char *path, struct error **err)
{
    if (access(path, F_OK) == 0)
        return 0;
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

    /* Written whole under a temporary name (mode 0600) and then linked into
     * place: a crash never leaves a half-written file behind, and link()
     * never replaces a file that appeared meanwhile. */
    _cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "credentials: create %s", path);
    int r = write_all(fd, text, strlen(text));
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
        r = -errno;
    unlink(tmp);
    if (r < 0)
        return error_errno(err, -r, "credentials: write %s", path);
    sync_parent(path);
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
