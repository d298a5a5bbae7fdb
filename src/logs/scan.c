/* Reading events in (ts, id) order out of segments (logs-internal.h).
 *
 * Segments are read in the order of the time they start (forward) or end
 * (backward) and merged: a heap holds the segments whose next event may be
 * the next one, and a segment is decoded only when the heap's best event
 * is not before its start. So a read of a stream holds one or two
 * segments at a time (a stream's segments rarely overlap), a read of a
 * group one per stream that was writing at the time being read; at most
 * LOGS_SCAN_MAX_SEGMENTS (each at most LOGS_SEG_MAX_BYTES plus its index).
 *
 * Only segments that may hold a time of the range are looked at: since a
 * segment spans at most LOGS_SEG_SPAN_MS, an index range on its start
 * (end, backward) finds them. */
#include "logs/logs-internal.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

#define LOGS_SCAN_MAX_SEGMENTS 1024

struct active {
    int64_t seg, ingest;
    char *stream;
    char *blob;
    struct logs_seg_event *ev;
    size_t n, cur;
};

struct logs_scan {
    struct db *db;
    sqlite3_stmt *st;
    struct logs_scan_spec spec;
    bool pending; /* st is on a row not loaded yet */
    bool done;    /* st has no more rows */
    struct active **heap;
    size_t n_heap;
    bool advance; /* the top was answered: move past it before the next */
};

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static struct logs_pos pos_of(const struct active *a)
{
    return (struct logs_pos){a->ev[a->cur].ts, (a->seg << LOGS_SEG_IDX_BITS) | (int64_t)a->cur};
}

static int pos_cmp(struct logs_pos a, struct logs_pos b)
{
    if (a.ts != b.ts)
        return a.ts < b.ts ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id;
}

/* Whether a comes before b in the scan's direction. */
static bool before(const struct logs_scan *sc, const struct active *a, const struct active *b)
{
    int c = pos_cmp(pos_of(a), pos_of(b));
    return sc->spec.backward ? c > 0 : c < 0;
}

static void active_free(struct active *a)
{
    if (!a)
        return;
    free(a->stream);
    free(a->blob);
    free(a->ev);
    free(a);
}

static void sift_down(struct logs_scan *sc, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < sc->n_heap && before(sc, sc->heap[l], sc->heap[best]))
            best = l;
        if (r < sc->n_heap && before(sc, sc->heap[r], sc->heap[best]))
            best = r;
        if (best == i)
            return;
        struct active *t = sc->heap[i];
        sc->heap[i] = sc->heap[best];
        sc->heap[best] = t;
        i = best;
    }
}

static void push(struct logs_scan *sc, struct active *a)
{
    size_t i = sc->n_heap++;
    sc->heap[i] = a;
    while (i > 0 && before(sc, sc->heap[i], sc->heap[(i - 1) / 2])) {
        struct active *t = sc->heap[i];
        sc->heap[i] = sc->heap[(i - 1) / 2];
        sc->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void pop(struct logs_scan *sc)
{
    active_free(sc->heap[0]);
    sc->heap[0] = sc->heap[--sc->n_heap];
    sift_down(sc, 0);
}

int logs_scan_open(struct db *db, const struct logs_scan_spec *spec, struct logs_scan **ret,
                   struct error **err)
{
    /* Segments of one stream, or of the group's streams that the name
     * filters keep, that may hold an event of the range. */
    static const char *const sqls[2][2] = {
        {"SELECT s.id, s.first_ts, s.last_ts, s.count, s.ingest, s.data, NULL "
         "FROM log_segments s WHERE s.stream_id = ?1 AND s.first_ts >= ?2 AND s.first_ts < ?3 "
         "AND s.last_ts >= ?4 ORDER BY s.first_ts, s.id",
         "SELECT s.id, s.first_ts, s.last_ts, s.count, s.ingest, s.data, NULL "
         "FROM log_segments s WHERE s.stream_id = ?1 AND s.last_ts <= ?2 AND s.last_ts >= ?3 "
         "AND s.first_ts <= ?4 ORDER BY s.last_ts DESC, s.id DESC"},
        {"SELECT s.id, s.first_ts, s.last_ts, s.count, s.ingest, s.data, t.name "
         "FROM log_segments s CROSS JOIN log_streams t ON t.id = s.stream_id "
         "WHERE s.group_id = ?1 AND s.first_ts >= ?2 AND s.first_ts < ?3 AND s.last_ts >= ?4 "
         "AND (?5 IS NULL OR t.name IN (SELECT value FROM json_each(?5))) "
         "AND (?6 IS NULL OR substr(t.name, 1, length(?6)) = ?6) "
         "ORDER BY s.first_ts, s.id",
         "SELECT s.id, s.first_ts, s.last_ts, s.count, s.ingest, s.data, t.name "
         "FROM log_segments s CROSS JOIN log_streams t ON t.id = s.stream_id "
         "WHERE s.group_id = ?1 AND s.last_ts <= ?2 AND s.last_ts >= ?3 AND s.first_ts <= ?4 "
         "AND (?5 IS NULL OR t.name IN (SELECT value FROM json_each(?5))) "
         "AND (?6 IS NULL OR substr(t.name, 1, length(?6)) = ?6) "
         "ORDER BY s.last_ts DESC, s.id DESC"},
    };
    bool group = spec->stream_id == 0;
    sqlite3_stmt *st = db_stmt(db, sqls[group][spec->backward], err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, group ? spec->group_id : spec->stream_id);
    if (!spec->backward) {
        int64_t start = spec->lo > spec->from.ts ? spec->lo : spec->from.ts;
        sqlite3_bind_int64(st, 2, sat_add(start, -LOGS_SEG_SPAN_MS));
        sqlite3_bind_int64(st, 3, spec->hi);
        sqlite3_bind_int64(st, 4, start);
    } else {
        int64_t end = sat_add(spec->hi, -1) < spec->from.ts ? sat_add(spec->hi, -1) : spec->from.ts;
        sqlite3_bind_int64(st, 2, sat_add(end, LOGS_SEG_SPAN_MS));
        sqlite3_bind_int64(st, 3, spec->lo);
        sqlite3_bind_int64(st, 4, end);
    }
    if (group && spec->names_json)
        sqlite3_bind_text(st, 5, spec->names_json, -1, SQLITE_STATIC);
    if (group && spec->prefix)
        sqlite3_bind_text(st, 6, spec->prefix, -1, SQLITE_STATIC);
    struct logs_scan *sc = xzalloc(sizeof(*sc));
    sc->db = db;
    sc->st = st;
    sc->spec = *spec;
    sc->heap = xcalloc(LOGS_SCAN_MAX_SEGMENTS, sizeof(*sc->heap));
    *ret = sc;
    return 0;
}

void logs_scan_free(struct logs_scan *sc)
{
    if (!sc)
        return;
    sqlite3_reset(sc->st);
    sqlite3_clear_bindings(sc->st);
    while (sc->n_heap)
        pop(sc);
    free(sc->heap);
    free(sc);
}

/* Steps to the next segment row; -EIO on a database error. */
static int step(struct logs_scan *sc, struct error **err)
{
    int rc = sqlite3_step(sc->st);
    if (rc == SQLITE_ROW) {
        sc->pending = true;
        return 0;
    }
    sc->pending = false;
    sc->done = true;
    return rc == SQLITE_DONE ? 0 : db_fail(sc->db, err, "read log segments");
}

/* Decodes the pending row and joins it to the heap when it holds an event
 * of the scan. */
static int load(struct logs_scan *sc, struct error **err)
{
    sqlite3_stmt *st = sc->st;
    const struct logs_scan_spec *sp = &sc->spec;
    int64_t seg = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 3);
    size_t len = (size_t)sqlite3_column_bytes(st, 5);
    const void *blob = sqlite3_column_blob(st, 5);
    if (count < 1 || count > LOGS_SEG_MAX_EVENTS)
        return error_set(err, EIO, NULL, "log segment %lld: bad event count", (long long)seg);
    if (sc->n_heap == LOGS_SCAN_MAX_SEGMENTS)
        return error_set(err, E2BIG, "LimitExceededException",
                         "Too many log streams overlap in time; narrow the query");
    struct active *a = xzalloc(sizeof(*a));
    a->seg = seg;
    a->ingest = sqlite3_column_int64(st, 4);
    a->n = (size_t)count;
    a->ev = xcalloc(a->n, sizeof(*a->ev));
    a->blob = xmalloc(len ? len : 1);
    if (len)
        memcpy(a->blob, blob, len);
    if (logs_seg_decode(a->blob, len, sqlite3_column_int64(st, 1), a->n, a->ev) < 0) {
        active_free(a);
        return error_set(err, EIO, NULL, "log segment %lld is corrupt", (long long)seg);
    }
    if (sqlite3_column_type(st, 6) == SQLITE_TEXT)
        a->stream = xstrdup((const char *)sqlite3_column_text(st, 6));
    /* Where this segment's part of the scan begins. */
    bool found = false;
    if (!sp->backward) {
        for (a->cur = 0; a->cur < a->n; a->cur++)
            if (a->ev[a->cur].ts >= sp->lo && pos_cmp(pos_of(a), sp->from) > 0) {
                found = a->ev[a->cur].ts < sp->hi;
                break;
            }
    } else {
        for (a->cur = a->n; a->cur-- > 0;)
            if (a->ev[a->cur].ts < sp->hi && pos_cmp(pos_of(a), sp->from) < 0) {
                found = a->ev[a->cur].ts >= sp->lo;
                break;
            }
    }
    if (found)
        push(sc, a);
    else
        active_free(a);
    return 0;
}

int logs_scan_next(struct logs_scan *sc, struct logs_scan_event *ret, struct error **err)
{
    const struct logs_scan_spec *sp = &sc->spec;
    int r;
    if (sc->advance) {
        struct active *top = sc->heap[0];
        sc->advance = false;
        if (sp->backward ? top->cur == 0 : top->cur + 1 == top->n) {
            pop(sc);
        } else {
            top->cur += sp->backward ? -1 : 1;
            sift_down(sc, 0);
        }
    }
    if (!sc->pending && !sc->done && (r = step(sc, err)) < 0)
        return r;
    /* Load every segment whose first event in the scan's order (at best
     * its start, backward its end) comes before the heap's best: many
     * segments of one timestamp are then loaded one after the other. */
    while (sc->pending) {
        if (sc->n_heap) {
            int64_t seg = sqlite3_column_int64(sc->st, 0);
            struct logs_pos edge = {sqlite3_column_int64(sc->st, sp->backward ? 2 : 1),
                                    seg << LOGS_SEG_IDX_BITS};
            if (sp->backward)
                edge.id |= sqlite3_column_int64(sc->st, 3) - 1;
            int c = pos_cmp(edge, pos_of(sc->heap[0]));
            if (sp->backward ? c < 0 : c > 0)
                break;
        }
        if ((r = load(sc, err)) < 0 || (r = step(sc, err)) < 0)
            return r;
    }
    if (!sc->n_heap)
        return 0;
    struct active *top = sc->heap[0];
    const struct logs_seg_event *e = &top->ev[top->cur];
    if (sp->backward ? e->ts < sp->lo : e->ts >= sp->hi)
        return 0;
    *ret = (struct logs_scan_event){.pos = pos_of(top),
                                    .ingest = top->ingest,
                                    .stream = top->stream,
                                    .msg = top->blob + e->off,
                                    .len = e->len};
    sc->advance = true;
    return 1;
}
