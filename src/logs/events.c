/* PutLogEvents, GetLogEvents and FilterLogEvents.
 *
 * Events are read in (timestamp, id) order (scan.c); an id is its
 * segment's id and its index there, so events with one timestamp keep the
 * order they arrived in. Tokens are positions in that order: GetLogEvents's
 * "f/TS/SEG.IDX" (events after) and "b/TS/SEG.IDX" (events before),
 * FilterLogEvents's nextToken "TS/SEG.IDX" (events after). A token given
 * out before segments, "TS/ID", names the event that became segment ID's
 * first (store.c's migration), and is read so.
 * Events older than their group's retention are never answered, even
 * before the sweeper deletes them. */
#include "logs/logs-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LOGS_MAX_FUTURE_MS (2 * 3600 * 1000LL)
#define LOGS_MAX_PAST_MS   (14 * LOGS_DAY_MS)

static int get_db(struct db **ret, struct error **err)
{
    struct logs_store *ls = logs_api_store();
    if (!ls)
        return error_set(err, EAGAIN, "ServiceUnavailableException",
                         "The log store is not available");
    return logs_db_get(ls, ret, err);
}

static const char *group_arg(const json_t *in)
{
    const char *name = json_get_str(in, "logGroupName");
    if (!name) {
        /* logGroupIdentifier: a name, or an ARN whose last part names it. */
        const char *ident = json_get_str(in, "logGroupIdentifier");
        if (ident && !strncmp(ident, "arn:", 4)) {
            const char *p = strstr(ident, ":log-group:");
            return p ? p + 11 : ident;
        }
        name = ident;
    }
    return name ? name : "";
}

static int64_t cutoff(const struct logs_group *g, int64_t now_ms)
{
    return g->retention_days > 0 ? now_ms - g->retention_days * LOGS_DAY_MS : INT64_MIN;
}

/* ---- PutLogEvents ---- */

int logs_put_log_events(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const json_t *events = json_get_array(in, "logEvents");
    size_t n = json_array_size(events);
    if (n == 0 || n > LOGS_MAX_BATCH_EVENTS)
        return error_set(err, EINVAL, ERR_INVALID, "A batch holds between 1 and %d log events",
                         LOGS_MAX_BATCH_EVENTS);
    _cleanup_free_ struct logs_event *ev = xcalloc(n, sizeof(*ev));
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(events, i);
        json_t *m = json_object_get(e, "message");
        ev[i].ts = json_get_int(e, "timestamp", 0);
        ev[i].msg = json_string_value(m);
        ev[i].len = json_string_length(m);
        if (ev[i].len > LOGS_MAX_EVENT_BYTES)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Log event too large: %zu bytes exceeds limit of %d", ev[i].len,
                             LOGS_MAX_EVENT_BYTES);
        bytes += ev[i].len + LOGS_EVENT_OVERHEAD;
        if (i && ev[i].ts < ev[i - 1].ts)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Log events in a single PutLogEvents request must be in "
                             "chronological order.");
    }
    if (bytes > LOGS_MAX_BATCH_BYTES)
        return error_set(err, EINVAL, ERR_INVALID,
                         "Upload too large: %zu bytes exceeds limit of %d", bytes,
                         LOGS_MAX_BATCH_BYTES);
    if (ev[n - 1].ts - ev[0].ts > LOGS_DAY_MS)
        return error_set(err, EINVAL, ERR_INVALID,
                         "The batch of log events in a single PutLogEvents request cannot span "
                         "more than 24 hours.");
    const char *stream = json_get_str(in, "logStreamName") ?: "";
    struct db *db;
    struct logs_group g;
    int64_t sid;
    int r;
    if ((r = get_db(&db, err)) < 0 || (r = db_begin(db, err)) < 0)
        return r;
    if ((r = logs_group_find(db, ctx->account->account_id, group_arg(in), &g, err)) < 0 ||
        (r = logs_stream_get(db, g.id, stream, false, 0, &sid, err)) < 0) {
        db_rollback(db);
        return r;
    }
    /* Too old or expired events lead the batch, too new ones end it. */
    int64_t old = ctx->now_ms - LOGS_MAX_PAST_MS, expired = cutoff(&g, ctx->now_ms);
    int64_t young = ctx->now_ms + LOGS_MAX_FUTURE_MS;
    size_t lo = 0, hi = n;
    json_t *rejected = json_object();
    while (lo < n && (ev[lo].ts < old || ev[lo].ts < expired))
        lo++;
    if (lo) {
        if (ev[lo - 1].ts < expired)
            json_object_set_new(rejected, "expiredLogEventEndIndex",
                                json_integer((json_int_t)lo - 1));
        if (ev[lo - 1].ts < old)
            json_object_set_new(rejected, "tooOldLogEventEndIndex",
                                json_integer((json_int_t)lo - 1));
    }
    while (hi > lo && ev[hi - 1].ts > young)
        hi--;
    if (hi < n)
        json_object_set_new(rejected, "tooNewLogEventStartIndex", json_integer((json_int_t)hi));
    if ((r = logs_events_insert(db, g.id, sid, ev + lo, hi - lo, ctx->now_ms, err)) < 0 ||
        (r = db_commit(db, err)) < 0) {
        db_rollback(db);
        json_decref(rejected);
        return r;
    }
    json_t *out = json_pack("{s:s}", "nextSequenceToken", "1");
    if (json_object_size(rejected))
        json_object_set(out, "rejectedLogEventsInfo", rejected);
    json_decref(rejected);
    *ret_out = out;
    return 0;
}

/* ---- tokens ---- */

static int parse_pos(const char *s, struct logs_pos *ret)
{
    long long ts, seg, idx = 0;
    int n = 0, m = 0;
    if (sscanf(s, "%lld/%lld%n", &ts, &seg, &n) != 2)
        return -EINVAL;
    if (s[n] == '.' && (sscanf(s + n + 1, "%lld%n", &idx, &m) != 1 || idx < 0 ||
                        idx >= (1LL << LOGS_SEG_IDX_BITS)))
        return -EINVAL;
    if (s[n] == '.')
        n += 1 + m;
    if (s[n] != '\0')
        return -EINVAL;
    /* Clamped: the scan's start and end positions are INT64_MIN/MAX. */
    if (seg >= (INT64_MAX >> LOGS_SEG_IDX_BITS))
        ret->id = INT64_MAX;
    else if (seg <= (INT64_MIN >> LOGS_SEG_IDX_BITS))
        ret->id = INT64_MIN;
    else
        ret->id = (int64_t)((uint64_t)seg << LOGS_SEG_IDX_BITS) | idx;
    ret->ts = ts;
    return 0;
}

static json_t *pos_token(char dir, struct logs_pos p)
{
    char buf[96];
    /* Arithmetic shift: INT64_MIN stays the smallest position. */
    int64_t seg = p.id >> LOGS_SEG_IDX_BITS, idx = p.id & ((1LL << LOGS_SEG_IDX_BITS) - 1);
    if (dir)
        snprintf(buf, sizeof(buf), "%c/%" PRId64 "/%" PRId64 ".%" PRId64, dir, p.ts, seg, idx);
    else
        snprintf(buf, sizeof(buf), "%" PRId64 "/%" PRId64 ".%" PRId64, p.ts, seg, idx);
    return json_string(buf);
}

/* ---- GetLogEvents ---- */

int logs_get_log_events(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *stream = json_get_str(in, "logStreamName") ?: "";
    const char *token = json_get_str(in, "nextToken");
    int limit = (int)json_get_int(in, "limit", LOGS_MAX_RESULT_EVENTS);
    bool head = json_get_bool(in, "startFromHead", false);
    struct logs_pos cur = {INT64_MIN, INT64_MIN};
    bool forward = head, have_cur = false;
    if (token) {
        if ((token[0] != 'f' && token[0] != 'b') || token[1] != '/' ||
            parse_pos(token + 2, &cur) < 0)
            return error_set(err, EINVAL, ERR_INVALID, "The specified nextToken is invalid.");
        forward = token[0] == 'f';
        have_cur = true;
    }
    struct db *db;
    struct logs_group g;
    int64_t sid;
    int r;
    if ((r = get_db(&db, err)) < 0 ||
        (r = logs_group_find(db, ctx->account->account_id, group_arg(in), &g, err)) < 0 ||
        (r = logs_stream_get(db, g.id, stream, false, 0, &sid, err)) < 0)
        return r;
    int64_t lo = json_get_int(in, "startTime", INT64_MIN);
    int64_t hi = json_get_int(in, "endTime", INT64_MAX);
    if (lo < cutoff(&g, ctx->now_ms))
        lo = cutoff(&g, ctx->now_ms);
    if (!forward && !have_cur)
        cur = (struct logs_pos){INT64_MAX, INT64_MAX};
    struct logs_scan_spec spec = {
        .group_id = g.id, .stream_id = sid, .lo = lo, .hi = hi, .from = cur, .backward = !forward};
    struct logs_scan *sc = NULL;
    if ((r = logs_scan_open(db, &spec, &sc, err)) < 0)
        return r;
    _cleanup_(logs_scan_freep) struct logs_scan *scan = sc;
    json_t *events = json_array();
    size_t bytes = 0;
    struct logs_pos first = cur, last = cur;
    struct logs_scan_event ev;
    while ((int)json_array_size(events) < limit && (r = logs_scan_next(scan, &ev, err)) > 0) {
        if (bytes + ev.len + LOGS_EVENT_OVERHEAD > LOGS_MAX_RESULT_BYTES && json_array_size(events))
            break;
        bytes += ev.len + LOGS_EVENT_OVERHEAD;
        json_t *e = json_pack("{s:I, s:s%, s:I}", "timestamp", (json_int_t)ev.pos.ts, "message",
                              ev.msg, ev.len, "ingestionTime", (json_int_t)ev.ingest);
        json_array_append_new(events, e);
        if (json_array_size(events) == 1)
            first = ev.pos;
        last = ev.pos;
    }
    if (r < 0) {
        json_decref(events);
        return r;
    }
    size_t n = json_array_size(events);
    if (!forward) {
        /* Read newest first; answered oldest first. */
        for (size_t i = 0; i < n / 2; i++) {
            json_t *a = json_incref(json_array_get(events, i));
            json_array_set(events, i, json_array_get(events, n - 1 - i));
            json_array_set_new(events, n - 1 - i, a);
        }
        struct logs_pos t = first;
        first = last;
        last = t;
    }
    json_t *out = json_pack("{s:o}", "events", events);
    if (n) {
        json_object_set_new(out, "nextForwardToken", pos_token('f', last));
        json_object_set_new(out, "nextBackwardToken", pos_token('b', first));
    } else if (have_cur) {
        /* Nothing more this way: the same token again tells the client
         * (and botocore's paginator) that it reached the end. */
        json_object_set_new(out, "nextForwardToken",
                            forward ? json_string(token) : pos_token('f', cur));
        json_object_set_new(out, "nextBackwardToken",
                            forward ? pos_token('b', cur) : json_string(token));
    } else {
        /* An empty stream (or range): from here on, every event is new. */
        struct logs_pos start = {INT64_MIN, INT64_MIN};
        json_object_set_new(out, "nextForwardToken", pos_token('f', start));
        json_object_set_new(out, "nextBackwardToken", pos_token('b', start));
    }
    *ret_out = out;
    return 0;
}

/* ---- FilterLogEvents ---- */

int logs_filter_log_events(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                           struct error **err)
{
    const json_t *names = json_get_array(in, "logStreamNames");
    const char *prefix = json_get_str(in, "logStreamNamePrefix");
    const char *token = json_get_str(in, "nextToken");
    int limit = (int)json_get_int(in, "limit", LOGS_MAX_RESULT_EVENTS);
    if (names && prefix)
        return error_set(err, EINVAL, ERR_INVALID,
                         "logStreamNames and logStreamNamePrefix are mutually exclusive");
    struct logs_pos cur = {INT64_MIN, INT64_MIN};
    if (token && parse_pos(token, &cur) < 0)
        return error_set(err, EINVAL, ERR_INVALID, "The specified nextToken is invalid.");
    struct logs_filter *f = NULL;
    int r = logs_filter_parse(json_get_str(in, "filterPattern"), &f, err);
    if (r < 0)
        return r;
    _cleanup_(logs_filter_freep) struct logs_filter *filter = f;
    struct db *db;
    struct logs_group g;
    if ((r = get_db(&db, err)) < 0 ||
        (r = logs_group_find(db, ctx->account->account_id, group_arg(in), &g, err)) < 0)
        return r;
    int64_t lo = json_get_int(in, "startTime", INT64_MIN);
    int64_t hi = json_get_int(in, "endTime", INT64_MAX);
    if (lo < cutoff(&g, ctx->now_ms))
        lo = cutoff(&g, ctx->now_ms);
    _cleanup_free_ char *names_json = names ? json_dump_compact(names) : NULL;
    struct logs_scan_spec spec = {.group_id = g.id,
                                  .names_json = names_json,
                                  .prefix = prefix,
                                  .lo = lo,
                                  .hi = hi,
                                  .from = cur};
    struct logs_scan *sc = NULL;
    if ((r = logs_scan_open(db, &spec, &sc, err)) < 0)
        return r;
    _cleanup_(logs_scan_freep) struct logs_scan *scan = sc;
    json_t *events = json_array();
    size_t bytes = 0, scanned = 0;
    struct logs_pos last = cur;
    bool more = false;
    struct logs_scan_event ev;
    while ((r = logs_scan_next(scan, &ev, err)) > 0) {
        if (scanned == LOGS_FILTER_SCAN_MAX || (int)json_array_size(events) == limit ||
            bytes + ev.len + LOGS_EVENT_OVERHEAD > LOGS_MAX_RESULT_BYTES) {
            more = true;
            break;
        }
        scanned++;
        last = ev.pos;
        if (!logs_filter_match(filter, ev.msg, ev.len))
            continue;
        bytes += ev.len + LOGS_EVENT_OVERHEAD;
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, last.id);
        json_array_append_new(events,
                              json_pack("{s:s, s:I, s:s%, s:I, s:s}", "logStreamName", ev.stream,
                                        "timestamp", (json_int_t)last.ts, "message", ev.msg, ev.len,
                                        "ingestionTime", (json_int_t)ev.ingest, "eventId", id));
    }
    if (r < 0) {
        json_decref(events);
        return r;
    }
    json_t *out = json_pack("{s:o, s:[]}", "events", events, "searchedLogStreams");
    if (more)
        json_object_set_new(out, "nextToken", pos_token(0, last));
    *ret_out = out;
    return 0;
}
