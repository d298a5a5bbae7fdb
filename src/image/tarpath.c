/* Tar entry names made safe for extraction under a layer root (see
 * img_tarpath_clean() in image-internal.h). */
#include "image/image-internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define TARPATH_MAX_DEPTH 256

int img_tarpath_clean(const char *name, char *out, size_t out_size, const char **ret_why)
{
    size_t len = strlen(name);
    if (len == 0) {
        *ret_why = "empty name";
        return -EINVAL;
    }
    if (len >= PATH_MAX) {
        *ret_why = "name longer than PATH_MAX";
        return -EINVAL;
    }
    if (out_size < len + 1) {
        *ret_why = "output buffer too small";
        return -EINVAL;
    }
    size_t o = 0;
    int depth = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if (n == 1 && p[0] == '.') {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            *ret_why = "'..' component";
            return -EINVAL;
        }
        if (n > NAME_MAX) {
            *ret_why = "component longer than NAME_MAX";
            return -EINVAL;
        }
        if (++depth > TARPATH_MAX_DEPTH) {
            *ret_why = "too deep";
            return -EINVAL;
        }
        if (o)
            out[o++] = '/';
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    out[o] = '\0';
    return 0;
}
