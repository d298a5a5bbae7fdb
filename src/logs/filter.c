/* CloudWatch Logs filter patterns for unstructured events, the simple
 * forms: every term must occur (case-sensitive), a "quoted phrase" must
 * occur as written, and a -term or -"phrase" must not occur. An empty
 * pattern matches every event. JSON ({ $.x = ... }), space-delimited
 * ([a, b]) and ?-alternatives are refused as not supported. */
#include "logs/logs-internal.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

#define FILTER_MAX_TERMS 64

struct logs_filter {
    size_t n;
    struct {
        char *text;
        size_t len;
        bool exclude;
    } terms[FILTER_MAX_TERMS];
};

void logs_filter_free(struct logs_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->terms[i].text);
    free(f);
}

int logs_filter_parse(const char *pattern, struct logs_filter **ret, struct error **err)
{
    struct logs_filter *f = xzalloc(sizeof(*f));
    const char *p = pattern ? pattern : "";
    for (;;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        if (*p == '{' || *p == '[' || *p == '?' || *p == '%') {
            logs_filter_free(f);
            return error_set(err, EINVAL, ERR_INVALID,
                             "Invalid filter pattern: only terms, \"quoted phrases\" and "
                             "-exclusions are supported");
        }
        if (f->n == FILTER_MAX_TERMS) {
            logs_filter_free(f);
            return error_set(err, EINVAL, ERR_INVALID, "Invalid filter pattern: too many terms");
        }
        bool exclude = *p == '-';
        if (exclude)
            p++;
        const char *start;
        size_t len;
        if (*p == '"') {
            start = ++p;
            const char *q = strchr(p, '"');
            if (!q) {
                logs_filter_free(f);
                return error_set(err, EINVAL, ERR_INVALID,
                                 "Invalid filter pattern: unterminated quoted phrase");
            }
            len = (size_t)(q - start);
            p = q + 1;
        } else {
            start = p;
            len = strcspn(p, " \t");
            p += len;
        }
        if (len == 0)
            continue;
        f->terms[f->n].text = xstrndup(start, len);
        f->terms[f->n].len = len;
        f->terms[f->n].exclude = exclude;
        f->n++;
    }
    *ret = f;
    return 0;
}

bool logs_filter_match(const struct logs_filter *f, const char *msg, size_t len)
{
    for (size_t i = 0; i < f->n; i++) {
        bool found = memmem(msg, len, f->terms[i].text, f->terms[i].len) != NULL;
        if (found == f->terms[i].exclude)
            return false;
    }
    return true;
}
