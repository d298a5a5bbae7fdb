/* libFuzzer harness for the log parsers that read untrusted bytes: CRI log
 * lines as containers (through conmon) write them, and filter patterns as
 * API callers send them. The first byte picks the parser.
 *
 * CRI: logs_cri_cut() must cut at a line end within the input (cutting
 * all there is at least as far as a log still written), and
 * logs_cri_parse() of the cut must only hand out events that lie inside
 * the input or, for joined P runs, are no longer than the input and the
 * event limit; logs_utf8_sanitize() must leave valid UTF-8 that
 * sanitizing again does not change. Filters: parse, then match the rest of
 * the input; a refused pattern must carry InvalidParameterException. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/logs/cri.c"
#include "../src/logs/filter.c"

struct bounds {
    const char *start;
    size_t len;
};

static int check_event(void *arg, int64_t ts, const char *msg, size_t len)
{
    const struct bounds *b = arg;
    (void)ts;
    bool inside = msg >= b->start && msg + len <= b->start + b->len;
    if (!inside && (len > b->len || len > LOGS_MAX_EVENT_BYTES))
        abort();
    return 0;
}

static void fuzz_cri(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t cut = logs_cri_cut(text, size, false);
    if (cut > size || (cut && text[cut - 1] != '\n'))
        abort();
    /* All there is: cut at least as far, at a line end too. */
    size_t whole = logs_cri_cut(text, size, true);
    if (whole < cut || whole > size || (whole && text[whole - 1] != '\n'))
        abort();
    struct bounds b = {text, whole};
    logs_cri_parse(text, whole, check_event, &b);
    logs_utf8_sanitize(text, size);
    char *again = malloc(size + 1);
    memcpy(again, text, size + 1);
    logs_utf8_sanitize(again, size);
    if (memcmp(again, text, size) != 0)
        abort();
    free(again);
    free(text);
}

static void fuzz_filter(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *pattern = strndup((const char *)data, plen);
    struct logs_filter *f = NULL;
    struct error *err = NULL;
    if (logs_filter_parse(pattern, &f, &err) == 0) {
        const char *msg = nl ? (const char *)nl + 1 : "";
        size_t mlen = nl ? size - plen - 1 : 0;
        logs_filter_match(f, msg, mlen);
        logs_filter_free(f);
    } else if (!err || strcmp(err->type, ERR_INVALID) != 0) {
        abort();
    }
    error_free(err);
    free(pattern);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_filter(data + 1, size - 1);
    else
        fuzz_cri(data + 1, size - 1);
    return 0;
}
