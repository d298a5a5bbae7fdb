/* WWW-Authenticate challenges (RFC 7235 auth-params, as registries send
 * them: Bearer realm="...",service="...",scope="..."). Untrusted input:
 * every value is length-capped. */
#include "image/image-internal.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHALLENGE_MAX_VALUE 2048

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool is_token_char(char c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

int img_challenge_parse(const char *value, struct img_challenge *ret)
{
    memset(ret, 0, sizeof(*ret));
    const char *p = skip_ws(value);
    size_t n = 0;
    while (is_token_char(p[n]))
        n++;
    if (n == 0 || n >= sizeof(ret->scheme))
        return -EINVAL;
    memcpy(ret->scheme, p, n);
    ret->scheme[n] = '\0';
    p += n;
    /* auth-params: name=token or name="quoted", comma separated */
    char val[CHALLENGE_MAX_VALUE];
    for (;;) {
        p = skip_ws(p);
        while (*p == ',')
            p = skip_ws(p + 1);
        if (!*p)
            break;
        const char *name = p;
        size_t nl = 0;
        while (is_token_char(name[nl]))
            nl++;
        if (nl == 0)
            break;
        p = skip_ws(name + nl);
        if (*p != '=')
            break; /* a second challenge starts: only the first is ours */
        p = skip_ws(p + 1);
        size_t vl = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                if (vl + 1 >= sizeof(val)) {
                    img_challenge_done(ret);
                    return -EINVAL;
                }
                val[vl++] = *p;
            }
            if (*p != '"') {
                img_challenge_done(ret);
                return -EINVAL;
            }
            p++;
        } else {
            while (is_token_char(*p)) {
                if (vl + 1 >= sizeof(val)) {
                    img_challenge_done(ret);
                    return -EINVAL;
                }
                val[vl++] = *p++;
            }
        }
        val[vl] = '\0';
        char **slot = NULL;
        if (nl == 5 && !strncasecmp(name, "realm", 5))
            slot = &ret->realm;
        else if (nl == 7 && !strncasecmp(name, "service", 7))
            slot = &ret->service;
        else if (nl == 5 && !strncasecmp(name, "scope", 5))
            slot = &ret->scope;
        if (slot && !*slot)
            *slot = xstrdup(val);
    }
    return 0;
}

void img_challenge_done(struct img_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    c->realm = c->service = c->scope = NULL;
}
