/* Image reference parsing and normalisation (see ref.h for the rules). */
#include "image/ref.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TAG_MAX 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool img_digest_valid(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0)
        return false;
    s += 7;
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_lower_alnum(s[0]))
        return false;
    while (i < n) {
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == n)
            return true;
        size_t sep = i;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n || !is_lower_alnum(s[i]) || i == sep)
            return false;
    }
    return true;
}

/* A host name or [IPv6], with an optional :port. */
static bool domain_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return false;
    if (s[0] == '[') {
        size_t close = 1;
        while (close < n && s[close] != ']') {
            char c = s[close];
            if (!(isxdigit((unsigned char)c) || c == ':' || c == '.'))
                return false;
            close++;
        }
        if (close == n || close == 1)
            return false;
        i = close + 1;
    } else {
        /* labels: alnum, inner '-' allowed, separated by '.' */
        for (;;) {
            size_t start = i;
            while (i < n && (is_alnum(s[i]) || s[i] == '-'))
                i++;
            if (i == start || s[start] == '-' || s[i - 1] == '-')
                return false;
            if (i < n && s[i] == '.') {
                i++;
                continue;
            }
            break;
        }
    }
    if (i == n)
        return true;
    if (s[i] != ':')
        return false;
    i++;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    return i == n && digits >= 1 && digits <= 5;
}

static bool tag_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

static int refuse(struct error **err, const char *s, const char *why)
{
    return error_set(err, EINVAL, ERR_INVALID, "invalid reference format \"%.300s\": %s", s, why);
}

int img_ref_parse(const char *s, struct img_ref *ret, struct error **err)
{
    if (!s || !*s)
        return refuse(err, "", "empty reference");
    if (strlen(s) > 4096)
        return refuse(err, "(too long)", "reference too long");
    _cleanup_free_ char *name = NULL, *tag = NULL, *digest = NULL;
    const char *at = strchr(s, '@');
    if (at) {
        if (strncmp(at + 1, "sha256:", 7) != 0 && strchr(at + 1, ':'))
            return refuse(err, s, "unsupported digest algorithm (only sha256)");
        if (!img_digest_valid(at + 1))
            return refuse(err, s, "digest must be sha256: followed by 64 lowercase hex digits");
        digest = xstrdup(at + 1);
        name = xstrndup(s, (size_t)(at - s));
    } else {
        name = xstrdup(s);
    }
    char *slash = strrchr(name, '/');
    char *colon = strrchr(name, ':');
    if (colon && (!slash || colon > slash)) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return refuse(err, s, "invalid tag");
        tag = xstrdup(colon + 1);
    }
    if (!*name)
        return refuse(err, s, "empty repository name");

    /* Split off the registry host (Docker's splitDockerDomain). */
    _cleanup_free_ char *domain = NULL;
    const char *path = name;
    char *first = strchr(name, '/');
    if (first) {
        size_t n = (size_t)(first - name);
        bool host = memchr(name, '.', n) || memchr(name, ':', n) ||
                    (n == 9 && !strncmp(name, "localhost", 9));
        for (size_t i = 0; i < n && !host; i++)
            host = name[i] >= 'A' && name[i] <= 'Z';
        if (host) {
            if (!domain_valid(name, n))
                return refuse(err, s, "invalid registry host");
            domain = xstrndup(name, n);
            path = first + 1;
        }
    }
    if (!domain || !strcmp(domain, "index.docker.io")) {
        free(domain);
        domain = xstrdup("docker.io");
    }
    _cleanup_free_ char *full_path = NULL;
    if (!strcmp(domain, "docker.io") && !strchr(path, '/'))
        full_path = xasprintf("library/%s", path);
    else
        full_path = xstrdup(path);

    for (const char *p = full_path;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!component_valid(p, n)) {
            for (size_t i = 0; i < n; i++)
                if (p[i] >= 'A' && p[i] <= 'Z')
                    return refuse(err, s, "repository name must be lowercase");
            return refuse(err, s, "invalid repository name");
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (strlen(domain) + 1 + strlen(full_path) > IMG_REF_MAX_NAME)
        return refuse(err, s, "repository name must not be more than 255 characters");
    if (!tag && !digest)
        tag = xstrdup("latest");

    ret->domain = TAKE_PTR(domain);
    ret->path = TAKE_PTR(full_path);
    ret->tag = TAKE_PTR(tag);
    ret->digest = TAKE_PTR(digest);
    return 0;
}

void img_ref_done(struct img_ref *r)
{
    if (!r)
        return;
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    r->domain = r->path = r->tag = r->digest = NULL;
}

char *img_ref_format(const struct img_ref *r)
{
    return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *img_ref_name(const struct img_ref *r)
{
    return xasprintf("%s/%s", r->domain, r->path);
}
