/* CRI "k8s-file" log lines as conmon writes them:
 *   2026-11-27T07:16:18.162462896+00:00 stdout F text
 * F ends a line of the container's output; P is a piece of a longer one
 * (conmon splits at its buffer size), continued by the next line. */
#include "logs/logs-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, size_t n, int *ret)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's
 * days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int logs_cri_time(const char *s, size_t len, int64_t *ret_ms)
{
    int y, mo, d, h, mi, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0 ||
        digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &sec) < 0 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    size_t i = 19;
    int64_t ms = 0;
    if (i < len && s[i] == '.') {
        int scale = 100;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            ms += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    int64_t off_s = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) < 0 || digits(s + i + 4, 2, &om) < 0)
            return -EINVAL;
        off_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return -EINVAL;
    }
    if (i != len)
        return -EINVAL;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s;
    *ret_ms = t * 1000 + ms;
    return 0;
}

struct cri_line {
    int64_t ts;
    bool partial;
    const char *text;
    size_t len;
};

/* conmon's stamps, "2026-11-27T07:16:18.162462896+00:00", differ line by
 * line only in digits finer than a millisecond for thousands of lines: a
 * stamp whose other characters are those of the last one parsed has its
 * time. */
#define CRI_STAMP_LEN 35
struct stamp_cache {
    char last[CRI_STAMP_LEN];
    int64_t ms;
    bool valid;
};

static int stamp_time(struct stamp_cache *c, const char *s, size_t len, int64_t *ret_ms)
{
    bool shaped = len == CRI_STAMP_LEN && s[19] == '.';
    if (shaped && c->valid && !memcmp(s, c->last, 23) && !memcmp(s + 29, c->last + 29, 6)) {
        for (size_t i = 23; i < 29; i++)
            if (s[i] < '0' || s[i] > '9')
                return -EINVAL;
        *ret_ms = c->ms;
        return 0;
    }
    int r = logs_cri_time(s, len, ret_ms);
    c->valid = r == 0 && shaped;
    if (c->valid) {
        memcpy(c->last, s, CRI_STAMP_LEN);
        c->ms = *ret_ms;
    }
    return r;
}

/* Splits one line (without its '\n'); -EINVAL when it is not CRI. */
static int split(struct stamp_cache *c, const char *p, size_t n, struct cri_line *ret)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1)
        return -EINVAL;
    if (stamp_time(c, p, (size_t)(sp1 - p), &ret->ts) < 0)
        return -EINVAL;
    const char *rest = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(rest, ' ', (size_t)(end - rest));
    if (!sp2 || sp2 + 2 > end || (sp2[1] != 'F' && sp2[1] != 'P'))
        return -EINVAL;
    ret->partial = sp2[1] == 'P';
    /* "F" alone ends an empty line; otherwise one space precedes the text. */
    ret->text = sp2 + 2 < end ? sp2 + 3 : end;
    ret->len = (size_t)(end - ret->text);
    return 0;
}

/* Whether a line (without its '\n') is a P piece. The tag follows the
 * second space; a line that is not CRI counts as full. */
static bool is_piece(const char *p, size_t n)
{
    const char *e = p + n;
    const char *sp = memchr(p, ' ', n);
    sp = sp ? memchr(sp + 1, ' ', (size_t)(e - sp - 1)) : NULL;
    return sp && sp + 1 < e && sp[1] == 'P';
}

size_t logs_cri_cut(const char *text, size_t len, bool whole)
{
    /* From the end: usually the last complete line is full, so a batch is
     * cut without reading it through. */
    const char *nl = len ? memrchr(text, '\n', len) : NULL;
    if (!nl)
        return 0;
    size_t last_line = (size_t)(nl - text) + 1;
    for (size_t end = last_line - 1;;) {
        const char *prev = end ? memrchr(text, '\n', end) : NULL;
        size_t start = prev ? (size_t)(prev - text) + 1 : 0;
        if (!is_piece(text + start, end - start))
            return end + 1;
        if (!prev) /* only pieces: their line's end may still come */
            return whole ? last_line : 0;
        end = start - 1;
    }
}

int logs_cri_parse(const char *text, size_t len, logs_cri_fn fn, void *arg)
{
    /* A run of P pieces is joined into one event; pieces are written
     * contiguously, so the run is copied only when it has more than one. */
    char *joined = NULL;
    size_t jlen = 0, jalloc = 0;
    int64_t jts = 0;
    bool open_run = false;
    struct stamp_cache cache = {.valid = false};
    int r = 0;
    size_t start = 0;
    while (start < len && r >= 0) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t n = nl ? (size_t)(nl - (text + start)) : len - start;
        struct cri_line l;
        if (split(&cache, text + start, n, &l) < 0) {
            /* Not a CRI line (should not happen): keep it as it is, stamped
             * with the previous time. */
            l.partial = false;
            l.text = text + start;
            l.len = n;
            l.ts = jts;
        }
        if (l.partial || open_run) {
            if (!open_run)
                jts = l.ts;
            /* An event has a size limit; the rest of a longer run is dropped. */
            if (jlen + l.len > LOGS_MAX_EVENT_BYTES)
                l.len = jlen >= LOGS_MAX_EVENT_BYTES ? 0 : LOGS_MAX_EVENT_BYTES - jlen;
            if (jlen + l.len > jalloc) {
                jalloc = (jlen + l.len) * 2 + 64;
                joined = realloc(joined, jalloc);
                if (!joined)
                    abort();
            }
            memcpy(joined + jlen, l.text, l.len);
            jlen += l.len;
            open_run = l.partial;
            if (!open_run) {
                r = fn(arg, jts, joined, jlen);
                jlen = 0;
            }
        } else {
            jts = l.ts;
            r = fn(arg, l.ts, l.text, l.len);
        }
        start += n + 1;
    }
    if (r >= 0 && open_run)
        r = fn(arg, jts, joined, jlen);
    free(joined);
    return r < 0 ? r : 0;
}

void logs_utf8_sanitize(char *s, size_t len)
{
    unsigned char *p = (unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* Most logs are ASCII: eight bytes at a time while none is NUL or
         * has its top bit set. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w | ((w - 0x0101010101010101ULL) & ~w)) & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i == len)
            break;
        unsigned char c = p[i];
        size_t need;
        if (c < 0x80) {
            /* NUL would end the message early. */
            if (c == 0)
                p[i] = '?';
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
        } else {
            p[i++] = '?';
            continue;
        }
        bool ok = i + need < len;
        for (size_t k = 1; ok && k <= need; k++)
            ok = (p[i + k] & 0xc0) == 0x80;
        /* Overlongs, surrogates and code points past U+10FFFF. */
        if (ok && c == 0xe0 && p[i + 1] < 0xa0)
            ok = false;
        if (ok && c == 0xed && p[i + 1] > 0x9f)
            ok = false;
        if (ok && c == 0xf0 && p[i + 1] < 0x90)
            ok = false;
        if (ok && c == 0xf4 && p[i + 1] > 0x8f)
            ok = false;
        if (!ok) {
            p[i++] = '?';
            continue;
        }
        i += need + 1;
    }
}
