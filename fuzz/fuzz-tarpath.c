/* libFuzzer harness for tar entry path handling: img_tarpath_clean() must
 * either refuse a name or return one that cannot leave the layer root (no
 * ".." component, no leading '/', no empty or "." component) and that is
 * a fixed point of cleaning. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/image/tarpath.c"

static void check(const char *out, size_t in_len)
{
    size_t n = strlen(out);
    if (n > in_len || out[0] == '/' || (n && out[n - 1] == '/'))
        abort();
    for (const char *p = out; *p;) {
        size_t c = strcspn(p, "/");
        if (c == 0 || (c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
            abort();
        p += c;
        if (*p == '/')
            p++;
    }
    char again[PATH_MAX + 1];
    const char *why = NULL;
    if (n && (img_tarpath_clean(out, again, sizeof(again), &why) != 0 || strcmp(again, out)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * PATH_MAX)
        return 0;
    char *name = malloc(size + 1);
    memcpy(name, data, size);
    name[size] = '\0';
    size_t len = strlen(name);
    char *out = malloc(len + 1);
    const char *why = NULL;
    if (img_tarpath_clean(name, out, len + 1, &why) == 0)
        check(out, len);
    else if (!why)
        abort();
    free(out);
    free(name);
    return 0;
}
