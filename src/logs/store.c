/* The log store: DATA-DIR/logs.db, its schema, per-thread connections,
 * the rows shared by the API and the ingest path, and retention.
 *
 * Schema: groups (per account), streams (per group, with the figures
 * DescribeLogStreams answers), segments (runs of a stream's events in one
 * BLOB each, indexed by stream and by group in time order; see
 * logs-internal.h) and ship_offsets (how far each shipped container log
 * has been stored, updated in the transaction that inserts its lines). */
#include "logs/logs-internal.h"
#include "base/cleanup.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "store/schema.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS log_groups ("
    "  id INTEGER PRIMARY KEY,"
    "  account TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  retention_days INTEGER NOT NULL DEFAULT 0,"
    "  stored_bytes INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (account, name));"
    "CREATE TABLE IF NOT EXISTS log_group_tags ("
    "  group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (group_id, key));"
    "CREATE TABLE IF NOT EXISTS log_streams ("
    "  id INTEGER PRIMARY KEY,"
    "  group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  first_event INTEGER,"
    "  last_event INTEGER,"
    "  last_ingestion INTEGER,"
    "  stored_bytes INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (group_id, name));"
    "CREATE INDEX IF NOT EXISTS log_streams_last ON log_streams(group_id, last_event);"
    "CREATE TABLE IF NOT EXISTS log_events ("
    "  id INTEGER PRIMARY KEY,"
    "  group_id INTEGER NOT NULL,"
    "  stream_id INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  ingest INTEGER NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS log_events_stream ON log_events(stream_id, ts);"
    "CREATE INDEX IF NOT EXISTS log_events_group ON log_events(group_id, ts);"
    "CREATE TABLE IF NOT EXISTS ship_offsets ("
    "  source TEXT PRIMARY KEY,"
    "  offset INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);";

struct logs_store {
    struct store *db;
    pthread_mutex_t lock;
    /* The retention sweeper. */
    pthread_t sweeper;
    bool sweeping;
    bool stop;
    pthread_cond_t wake;
    int64_t sweep_ms;
};

/* Version 2: events move from one row each to segments. An existing
 * event becomes a segment of one (its bare message) whose id is the
 * event's old id, so positions in tokens given out before keep their
 * place (events.c reads an old "TS/ID" as the first event of segment ID). */
static const char segments_sql[] =
    "CREATE TABLE log_segments ("
    "  id INTEGER PRIMARY KEY,"
    "  group_id INTEGER NOT NULL,"
    "  stream_id INTEGER NOT NULL,"
    "  first_ts INTEGER NOT NULL,"
    "  last_ts INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  ingest INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "INSERT INTO log_segments(id, group_id, stream_id, first_ts, last_ts, count, ingest, bytes, "
    "  data) SELECT id, group_id, stream_id, ts, ts, 1, ingest, LENGTH(CAST(message AS BLOB)), "
    "  CAST(message AS BLOB) FROM log_events ORDER BY id;"
    "DROP TABLE log_events;"
    "CREATE INDEX log_segments_stream ON log_segments(stream_id, first_ts);"
    "CREATE INDEX log_segments_stream_last ON log_segments(stream_id, last_ts);"
    "CREATE INDEX log_segments_group ON log_segments(group_id, first_ts);";

static const struct store_migration logs_migrations[] = {{1, schema_sql}, {2, segments_sql}};

static const struct store_schema logs_schema = {
    .label = "log store",
    .migrations = logs_migrations,
    .n_migrations = ARRAY_SIZE(logs_migrations),
    /* The page cache is capped so memory stays bounded; no integrity check
     * at open, which would read every event. */
    .cache_kib = 8192,
    /* A batch commit is not fsynced: kill -9 of skiffd loses nothing (WAL),
     * and a power loss rolls events and the ship offsets back together,
     * so the shipper sends those lines again from the container's log. */
    .sync_normal = true,
};

int logs_db_get(struct logs_store *ls, struct db **ret, struct error **err)
{
    return store_thread_db(ls->db, ret, err);
}

static void *sweeper_main(void *arg)
{
    struct logs_store *ls = arg;
    pthread_mutex_lock(&ls->lock);
    while (!ls->stop) {
        struct timespec until = time_deadline(CLOCK_REALTIME, ls->sweep_ms);
        pthread_cond_timedwait(&ls->wake, &ls->lock, &until);
        if (ls->stop)
            break;
        pthread_mutex_unlock(&ls->lock);
        _cleanup_error_ struct error *err = NULL;
        logs_retention_sweep(ls, time_now_ms(), &err);
        pthread_mutex_lock(&ls->lock);
    }
    pthread_mutex_unlock(&ls->lock);
    return NULL;
}

int logs_store_open(const char *path, int64_t sweep_ms, struct logs_store **ret, struct error **err)
{
    struct store *db = NULL;
    int r = store_open_schema(path, &logs_schema, &db, err);
    if (r < 0)
        return error_wrap(err, "log store %s", path);
    struct logs_store *ls = xzalloc(sizeof(*ls));
    ls->db = db;
    ls->sweep_ms = sweep_ms > 0 ? sweep_ms : 60 * 1000;
    pthread_mutex_init(&ls->lock, NULL);
    pthread_cond_init(&ls->wake, NULL);
    if (pthread_create(&ls->sweeper, NULL, sweeper_main, ls) != 0) {
        logs_store_free(ls);
        return error_set(err, EAGAIN, NULL, "log store: cannot start the retention sweeper");
    }
    ls->sweeping = true;
    *ret = ls;
    return 0;
}

void logs_store_free(struct logs_store *ls)
{
    if (!ls)
        return;
    if (ls->sweeping) {
        pthread_mutex_lock(&ls->lock);
        ls->stop = true;
        pthread_cond_signal(&ls->wake);
        pthread_mutex_unlock(&ls->lock);
        pthread_join(ls->sweeper, NULL);
    }
    store_free(ls->db);
    pthread_mutex_destroy(&ls->lock);
    pthread_cond_destroy(&ls->wake);
    free(ls);
}

/* ---- rows shared by the API and ingest ---- */

bool logs_group_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 512)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._-/#", c)))
            return false;
    }
    return true;
}

bool logs_stream_name_valid(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= 512 && !strchr(name, ':') && !strchr(name, '*');
}

int logs_group_find(struct db *db, const char *account, const char *name, struct logs_group *ret,
                    struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        db, "SELECT id, retention_days FROM log_groups WHERE account = ? AND name = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->id = sqlite3_column_int64(st, 0);
        ret->retention_days = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, err, "find log group");
    return error_set(err, ENOENT, ERR_NOT_FOUND, "The specified log group does not exist.");
}

int logs_group_create(struct db *db, const char *account, const char *name, int64_t now_ms,
                      int64_t *ret_id, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "INSERT INTO log_groups(account, name, created) VALUES (?, ?, ?) "
                               "ON CONFLICT DO NOTHING",
                               err);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    int r = db_exec_stmt(db, st, err);
    if (r < 0)
        return r;
    if (sqlite3_changes(db_handle(db)) == 0)
        return error_set(err, EEXIST, "ResourceAlreadyExistsException",
                         "The specified log group already exists");
    *ret_id = sqlite3_last_insert_rowid(db_handle(db));
    return 0;
}

int logs_stream_get(struct db *db, int64_t group_id, const char *name, bool create, int64_t now_ms,
                    int64_t *ret_id, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT id FROM log_streams WHERE group_id = ? AND name = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, err, "find log stream");
    if (!create)
        return error_set(err, ENOENT, ERR_NOT_FOUND, "The specified log stream does not exist.");
    st = db_stmt(db, "INSERT INTO log_streams(group_id, name, created) VALUES (?, ?, ?)", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    int r = db_exec_stmt(db, st, err);
    if (r < 0)
        return r;
    *ret_id = sqlite3_last_insert_rowid(db_handle(db));
    return 0;
}

int logs_insert_begin(struct db *db, int64_t group_id, int64_t stream_id, int64_t now_ms,
                      struct logs_inserter *ret, struct error **err)
{
    (void)err;
    *ret = (struct logs_inserter){
        .db = db, .group_id = group_id, .stream_id = stream_id, .now_ms = now_ms};
    logs_seg_init(&ret->seg);
    return 0;
}

/* Stores the segment being built, if any, and empties it. */
static int flush(struct logs_inserter *ins, struct error **err)
{
    struct logs_seg *seg = &ins->seg;
    if (!seg->n)
        return 0;
    sqlite3_stmt *st = db_stmt(ins->db,
                               "INSERT INTO log_segments(group_id, stream_id, first_ts, last_ts, "
                               "count, ingest, bytes, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               err);
    if (!st)
        return -EIO;
    size_t len;
    const char *blob = logs_seg_blob(seg, &len);
    sqlite3_bind_int64(st, 1, ins->group_id);
    sqlite3_bind_int64(st, 2, ins->stream_id);
    sqlite3_bind_int64(st, 3, seg->first);
    sqlite3_bind_int64(st, 4, seg->last);
    sqlite3_bind_int64(st, 5, (int64_t)seg->n);
    sqlite3_bind_int64(st, 6, ins->now_ms);
    sqlite3_bind_int64(st, 7, seg->bytes);
    sqlite3_bind_blob(st, 8, blob, (int)len, SQLITE_STATIC);
    int r = db_exec_stmt(ins->db, st, err);
    sqlite3_clear_bindings(st);
    logs_seg_reset(seg);
    return r;
}

int logs_insert_add(struct logs_inserter *ins, int64_t ts, const char *msg, size_t len,
                    struct error **err)
{
    int r;
    if (!logs_seg_fits(&ins->seg, ts, len) && (r = flush(ins, err)) < 0)
        return r;
    logs_seg_add(&ins->seg, ts, msg, len);
    if (!ins->n || ts < ins->first)
        ins->first = ts;
    if (!ins->n || ts > ins->last)
        ins->last = ts;
    ins->n++;
    ins->bytes += (int64_t)len;
    return 0;
}

int logs_insert_finish(struct logs_inserter *ins, struct error **err)
{
    int r = flush(ins, err);
    if (r < 0 || !ins->n)
        return r;
    struct db *db = ins->db;
    sqlite3_stmt *st =
        db_stmt(db,
                "UPDATE log_streams SET first_event = MIN(COALESCE(first_event, ?1), ?1), "
                "last_event = MAX(COALESCE(last_event, ?2), ?2), last_ingestion = ?3, "
                "stored_bytes = stored_bytes + ?4 WHERE id = ?5",
                err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, ins->first);
    sqlite3_bind_int64(st, 2, ins->last);
    sqlite3_bind_int64(st, 3, ins->now_ms);
    sqlite3_bind_int64(st, 4, ins->bytes);
    sqlite3_bind_int64(st, 5, ins->stream_id);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    st = db_stmt(db, "UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE id = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, ins->bytes);
    sqlite3_bind_int64(st, 2, ins->group_id);
    return db_exec_stmt(db, st, err);
}

void logs_insert_done(struct logs_inserter *ins)
{
    logs_seg_done(&ins->seg);
}

int logs_events_insert(struct db *db, int64_t group_id, int64_t stream_id,
                       const struct logs_event *ev, size_t n, int64_t now_ms, struct error **err)
{
    struct logs_inserter ins;
    int r = logs_insert_begin(db, group_id, stream_id, now_ms, &ins, err);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = logs_insert_add(&ins, ev[i].ts, ev[i].msg, ev[i].len, err);
    if (r == 0)
        r = logs_insert_finish(&ins, err);
    logs_insert_done(&ins);
    return r;
}

int logs_retention_apply(struct db *db, int64_t group_id, int64_t cutoff_ms, struct error **err)
{
    int r = db_begin(db, err);
    if (r < 0)
        return r;
    /* A segment goes when its newest event has expired; until then reads
     * skip its expired events. */
    sqlite3_stmt *st =
        db_stmt(db, "DELETE FROM log_segments WHERE group_id = ? AND last_ts < ?", err);
    if (!st) {
        db_rollback(db);
        return -EIO;
    }
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, cutoff_ms);
    if ((r = db_exec_stmt(db, st, err)) < 0) {
        db_rollback(db);
        return r;
    }
    if (sqlite3_changes(db_handle(db)) > 0) {
        /* The figures of what is left. */
        st = db_stmt(db,
                     "UPDATE log_streams SET "
                     "first_event = (SELECT MIN(first_ts) FROM log_segments e WHERE "
                     "e.stream_id = log_streams.id), "
                     "stored_bytes = (SELECT COALESCE(SUM(bytes), 0) "
                     "FROM log_segments e WHERE e.stream_id = log_streams.id) "
                     "WHERE group_id = ?",
                     err);
        if (!st) {
            db_rollback(db);
            return -EIO;
        }
        sqlite3_bind_int64(st, 1, group_id);
        if ((r = db_exec_stmt(db, st, err)) < 0) {
            db_rollback(db);
            return r;
        }
        st = db_stmt(db,
                     "UPDATE log_groups SET stored_bytes = (SELECT COALESCE(SUM(stored_bytes), "
                     "0) FROM log_streams WHERE group_id = ?1) WHERE id = ?1",
                     err);
        if (!st) {
            db_rollback(db);
            return -EIO;
        }
        sqlite3_bind_int64(st, 1, group_id);
        if ((r = db_exec_stmt(db, st, err)) < 0) {
            db_rollback(db);
            return r;
        }
    }
    return db_commit(db, err);
}

int logs_retention_sweep(struct logs_store *ls, int64_t now_ms, struct error **err)
{
    struct db *db;
    int r = logs_db_get(ls, &db, err);
    if (r < 0)
        return r;
    /* One group per transaction, so that ingest waits for one at most. */
    int64_t after = 0;
    for (;;) {
        sqlite3_stmt *st = db_stmt(db,
                                   "SELECT id, retention_days FROM log_groups WHERE "
                                   "retention_days > 0 AND id > ? ORDER BY id LIMIT 1",
                                   err);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, after);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_reset(st);
            return 0;
        }
        int64_t id = sqlite3_column_int64(st, 0), days = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        if ((r = logs_retention_apply(db, id, now_ms - days * LOGS_DAY_MS, err)) < 0)
            return r;
        after = id;
    }
}
