/* Log segments: a run of one stream's events stored as one BLOB (see
 * logs-internal.h for the format and docs/logs.md for why). Pure encoding
 * and decoding; the rows are written by store.c and read by scan.c. */
#include "logs/logs-internal.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

void logs_seg_init(struct logs_seg *s)
{
    *s = (struct logs_seg){0};
}

void logs_seg_done(struct logs_seg *s)
{
    free(s->data);
    *s = (struct logs_seg){0};
}

void logs_seg_reset(struct logs_seg *s)
{
    s->len = 0;
    s->n = 0;
    s->bytes = 0;
}

bool logs_seg_fits(const struct logs_seg *s, int64_t ts, size_t len)
{
    if (s->n == 0)
        return true;
    /* Events in time order only, so a reader can merge segments; a
     * bounded span, so a reader finds every segment that may hold a time
     * from an index range; bounded sizes, so a reader's memory is. */
    return ts >= s->last && ts - s->first <= LOGS_SEG_SPAN_MS && s->n < LOGS_SEG_MAX_EVENTS &&
           s->len + len + 2 * LOGS_VARINT_MAX <= LOGS_SEG_MAX_BYTES;
}

static size_t put_varint(char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (char)v;
    return n;
}

void logs_seg_add(struct logs_seg *s, int64_t ts, const char *msg, size_t len)
{
    if (s->n == 0)
        s->first = s->last = ts;
    size_t need = s->len + len + 2 * LOGS_VARINT_MAX;
    if (need > s->cap) {
        s->cap = need > 2 * s->cap ? need : 2 * s->cap;
        s->data = xrealloc(s->data, s->cap);
    }
    s->len += put_varint(s->data + s->len, (uint64_t)(ts - s->last));
    s->len += put_varint(s->data + s->len, len);
    if (s->n == 0)
        s->first_off = s->len;
    memcpy(s->data + s->len, msg, len);
    s->len += len;
    s->last = ts;
    s->n++;
    s->bytes += (int64_t)len;
}

const char *logs_seg_blob(const struct logs_seg *s, size_t *ret_len)
{
    if (s->n == 1) {
        /* One event is stored as its bare message (what an upgraded
         * logs.db's events became). */
        *ret_len = (size_t)s->bytes;
        return s->data + s->first_off;
    }
    *ret_len = s->len;
    return s->data;
}

static int get_varint(const unsigned char *p, size_t len, size_t *pos, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return -EINVAL;
        unsigned char c = p[(*pos)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -EINVAL;
}

int logs_seg_decode(const void *blob, size_t len, int64_t first_ts, size_t count,
                    struct logs_seg_event *ret)
{
    if (count == 0 || len > UINT32_MAX)
        return -EINVAL;
    if (count == 1) {
        /* One event is its bare message (logs_seg_blob). */
        ret[0] = (struct logs_seg_event){.ts = first_ts, .off = 0, .len = (uint32_t)len};
        return 0;
    }
    const unsigned char *p = blob;
    size_t pos = 0;
    int64_t ts = first_ts;
    for (size_t i = 0; i < count; i++) {
        uint64_t delta, n;
        if (get_varint(p, len, &pos, &delta) < 0 || get_varint(p, len, &pos, &n) < 0 ||
            n > len - pos || delta > (uint64_t)LOGS_SEG_SPAN_MS)
            return -EINVAL;
        ts += (int64_t)delta;
        ret[i] = (struct logs_seg_event){.ts = ts, .off = (uint32_t)pos, .len = (uint32_t)n};
        pos += n;
    }
    return pos == len ? 0 : -EINVAL;
}
