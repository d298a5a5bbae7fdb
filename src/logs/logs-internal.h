/* Internals of the log store shared by its files. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "base/error.h"
#include "logs/logs.h"
#include "store/db.h"

/* CloudWatch Logs limits (PutLogEvents, GetLogEvents, FilterLogEvents). */
#define LOGS_MAX_BATCH_BYTES   1048576
#define LOGS_EVENT_OVERHEAD    26
#define LOGS_MAX_EVENT_BYTES   (256 * 1024 - LOGS_EVENT_OVERHEAD)
#define LOGS_MAX_BATCH_EVENTS  10000
#define LOGS_MAX_RESULT_EVENTS 10000
#define LOGS_MAX_RESULT_BYTES  1048576
/* FilterLogEvents looks at this many events per call at most, then answers
 * with a nextToken (as CloudWatch may answer a page with few events). */
#define LOGS_FILTER_SCAN_MAX 100000
#define LOGS_DAY_MS          (24LL * 3600 * 1000)

/* The log store is a struct store (src/store/db.h) with its own schema;
 * each thread takes its own connection, used with db_stmt(), db_begin()... */
struct db;
int logs_db_get(struct logs_store *ls, struct db **ret, struct error **err);

/* The store the API handlers use. */
struct logs_store *logs_api_store(void);

/* A log group row of an account. */
struct logs_group {
    int64_t id;
    int64_t retention_days; /* 0: never expire */
};

/* Looks up group name of account: 0, -ENOENT (with a
 * ResourceNotFoundException) or another error. */
int logs_group_find(struct db *db, const char *account, const char *name, struct logs_group *ret,
                    struct error **err);
/* Creates the group (inside a transaction); -EEXIST when it exists. */
int logs_group_create(struct db *db, const char *account, const char *name, int64_t now_ms,
                      int64_t *ret_id, struct error **err);
/* The stream's id in group, created when create is true; -ENOENT (with a
 * ResourceNotFoundException) otherwise. */
int logs_stream_get(struct db *db, int64_t group_id, const char *name, bool create, int64_t now_ms,
                    int64_t *ret_id, struct error **err);

/* ---- segments (segment.c) ----
 *
 * A stream's events are stored in segments: one log_segments row holds a
 * run of events of one stream (first_ts, last_ts, count and ingestion time
 * in columns, the events in the data BLOB). The BLOB is, per event,
 * varint(ts - previous ts) varint(length) message, the first "previous ts"
 * being first_ts; a segment of one event is its bare message. Events of a
 * segment are in time order and their order of arrival; an event's id is
 * (segment id << LOGS_SEG_IDX_BITS) | its index in the segment, so events
 * order by (ts, id) as they did when each was its own row. */
#define LOGS_SEG_IDX_BITS   20
#define LOGS_SEG_MAX_EVENTS 4096
#define LOGS_SEG_MAX_BYTES  (64 * 1024)
#define LOGS_SEG_SPAN_MS    LOGS_DAY_MS
#define LOGS_VARINT_MAX     10

struct logs_seg {
    char *data;
    size_t len, cap;
    int64_t first, last; /* timestamps */
    size_t n;            /* events */
    size_t first_off;    /* where the first message starts */
    int64_t bytes;       /* message bytes */
};
void logs_seg_init(struct logs_seg *s);
void logs_seg_done(struct logs_seg *s);
/* Empties s, keeping its buffer. */
void logs_seg_reset(struct logs_seg *s);
/* Whether an event may join s: in time order, within the span and the
 * size limits (an empty segment takes any one event). */
bool logs_seg_fits(const struct logs_seg *s, int64_t ts, size_t len);
/* Appends an event (the caller checked logs_seg_fits). */
void logs_seg_add(struct logs_seg *s, int64_t ts, const char *msg, size_t len);
/* The BLOB to store (points into s). */
const char *logs_seg_blob(const struct logs_seg *s, size_t *ret_len);

struct logs_seg_event {
    int64_t ts;
    uint32_t off, len; /* the message within the BLOB */
};
/* Decodes a BLOB of count events into ret (count entries); -EINVAL when
 * it is not a valid segment of count events. */
int logs_seg_decode(const void *blob, size_t len, int64_t first_ts, size_t count,
                    struct logs_seg_event *ret);

/* Appends events to a stream inside the caller's transaction and updates
 * the stream's and group's figures. */
struct logs_event {
    int64_t ts;
    const char *msg;
    size_t len;
};
int logs_events_insert(struct db *db, int64_t group_id, int64_t stream_id,
                       const struct logs_event *ev, size_t n, int64_t now_ms, struct error **err);

/* The same one event at a time: begin, add each, finish (which stores the
 * last segment and updates the figures), all inside the caller's
 * transaction; done frees, whether finish ran or not. */
struct logs_inserter {
    struct db *db;
    struct logs_seg seg;
    int64_t group_id, stream_id, now_ms;
    int64_t first, last, bytes;
    size_t n;
};
int logs_insert_begin(struct db *db, int64_t group_id, int64_t stream_id, int64_t now_ms,
                      struct logs_inserter *ret, struct error **err);
int logs_insert_add(struct logs_inserter *ins, int64_t ts, const char *msg, size_t len,
                    struct error **err);
int logs_insert_finish(struct logs_inserter *ins, struct error **err);
void logs_insert_done(struct logs_inserter *ins);

/* ---- reading events in order (scan.c) ----
 *
 * A position in a stream's or group's events: events order by (ts, id). */
struct logs_pos {
    int64_t ts, id;
};
struct logs_scan_spec {
    int64_t group_id;
    int64_t stream_id;      /* 0: every stream of the group */
    const char *names_json; /* group scans: only these streams (a JSON array), or NULL */
    const char *prefix;     /* group scans: only streams with this prefix, or NULL */
    int64_t lo, hi;         /* lo <= ts < hi */
    struct logs_pos from;   /* events after it, or before it when backward */
    bool backward;
};
struct logs_scan_event {
    struct logs_pos pos;
    int64_t ingest;
    const char *stream; /* name, group scans only */
    const char *msg;    /* valid until the next call */
    size_t len;
};
struct logs_scan;
/* Starts a read inside the caller's read transaction (or statement). */
int logs_scan_open(struct db *db, const struct logs_scan_spec *spec, struct logs_scan **ret,
                   struct error **err);
/* The next event: 1, 0 at the end, or a negative errno. */
int logs_scan_next(struct logs_scan *sc, struct logs_scan_event *ret, struct error **err);
/* NULL-safe. */
void logs_scan_free(struct logs_scan *sc);

/* Deletes group_id's events older than cutoff_ms in its own transaction
 * and recomputes the figures of what is left. */
int logs_retention_apply(struct db *db, int64_t group_id, int64_t cutoff_ms, struct error **err);

/* Log group and stream names (CloudWatch's rules). */
bool logs_group_name_valid(const char *name);
bool logs_stream_name_valid(const char *name);
/* "arn:aws:logs:REGION:ACCOUNT:log-group:NAME" as a new string. */
char *logs_group_arn(const struct api_ctx *ctx, const char *name);

/* Filter patterns (filter.c): terms, "quoted phrases" and -exclusions, all
 * of which must hold. JSON and space-delimited patterns are refused. */
struct logs_filter;
int logs_filter_parse(const char *pattern, struct logs_filter **ret, struct error **err);
bool logs_filter_match(const struct logs_filter *f, const char *msg, size_t len);
void logs_filter_free(struct logs_filter *f);

/* CRI "k8s-file" lines (cri.c): "TIME stdout|stderr F|P text". Parses the
 * timestamp (RFC 3339 with nanoseconds and an offset) to ms; -EINVAL when
 * malformed. */
int logs_cri_time(const char *s, size_t len, int64_t *ret_ms);
/* Calls fn for each event of text (whole lines): a run of P lines and the
 * line that ends it make one event; a run still open at the end of text is
 * one event too. Returns the first negative fn result, else 0. */
typedef int (*logs_cri_fn)(void *arg, int64_t ts, const char *msg, size_t len);
int logs_cri_parse(const char *text, size_t len, logs_cri_fn fn, void *arg);
/* Length of the prefix of text (len bytes) that ends with a complete line
 * whose tag is F. When there is none: 0, or, when whole (text is all there
 * will be, or all that fits a batch), the prefix that ends with the last
 * complete line. A P piece shipped on its own would be an event of its
 * own, and its line's end another. */
size_t logs_cri_cut(const char *text, size_t len, bool whole);
/* Replaces every byte that is not part of valid UTF-8 with '?', in place. */
void logs_utf8_sanitize(char *s, size_t len);

/* API handlers. */
int logs_create_log_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_delete_log_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_describe_log_groups(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_create_log_stream(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_delete_log_stream(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_describe_log_streams(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_put_retention_policy(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_delete_retention_policy(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_tag_log_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_untag_log_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_list_tags_log_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_tag_resource(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_untag_resource(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_list_tags_for_resource(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_put_log_events(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_get_log_events(struct api_ctx *, const json_t *, json_t **, struct error **);
int logs_filter_log_events(struct api_ctx *, const json_t *, json_t **, struct error **);

static inline void logs_scan_freep(struct logs_scan **sc)
{
    logs_scan_free(*sc);
}

static inline void logs_filter_freep(struct logs_filter **f)
{
    logs_filter_free(*f);
}
