#include "api/arn.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

bool arn_is(const char *s)
{
    return s && !strncmp(s, "arn:", 4);
}

static int copy_part(char *dst, size_t cap, const char *start, const char *end)
{
    size_t n = (size_t)(end - start);
    if (n >= cap)
        return -EINVAL;
    memcpy(dst, start, n);
    dst[n] = '\0';
    return 0;
}

int arn_parse(const char *s, struct arn *out)
{
    if (!arn_is(s))
        return -EINVAL;
    struct arn a;
    const char *p = s + 4;
    char *fields[4] = {a.partition, a.service, a.region, a.account};
    size_t caps[4] = {sizeof(a.partition), sizeof(a.service), sizeof(a.region), sizeof(a.account)};
    for (int i = 0; i < 4; i++) {
        const char *c = strchr(p, ':');
        if (!c || copy_part(fields[i], caps[i], p, c) < 0)
            return -EINVAL;
        p = c + 1;
    }
    if (!*a.partition || !*a.service || !*p)
        return -EINVAL;
    if (copy_part(a.resource, sizeof(a.resource), p, p + strlen(p)) < 0)
        return -EINVAL;
    *out = a;
    return 0;
}

char *arn_format(const char *service, const char *region, const char *account, const char *resource)
{
    return xasprintf("arn:aws:%s:%s:%s:%s", service, region, account, resource);
}
