#include "store/db.h"
#include "store/schema.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_STMT_CACHE   96
#define DB_BUSY_TIMEOUT 10000 /* ms */

struct db {
    sqlite3 *h;
    const char *label;      /* the schema's, for error messages */
    struct db *next;        /* in the store's list of connections */
    pthread_mutex_t *wlock; /* the store's writer queue (db_begin) */
    bool wlocked;           /* this connection holds it */
    bool sync_normal;       /* the schema's setting (db_sync restores it) */
    bool unsynced;          /* db_begin_unsynced lowered it */
    size_t n_cached;
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[DB_STMT_CACHE];
};

struct store {
    char *path;
    const struct store_schema *schema;
    pthread_key_t key;
    pthread_mutex_t lock;
    pthread_mutex_t wlock;
    struct db *all;
};

int db_fail(struct db *db, struct error **err, const char *what)
{
    int code = sqlite3_extended_errcode(db->h);
    int errnum = (code & 0xff) == SQLITE_FULL ? ENOSPC : EIO;
    return error_set(err, errnum, NULL, "%s: %s: %s", db->label, what, sqlite3_errmsg(db->h));
}

static int exec(struct db *db, const char *sql, struct error **err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = error_set(err, EIO, NULL, "%s: %s", db->label, msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int db_open(const char *path, const struct store_schema *schema, struct db **ret,
                   struct error **err)
{
    struct db *db = xzalloc(sizeof(*db));
    db->label = schema->label;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        int r = error_set(err, EIO, NULL, "%s: open %s: %s", schema->label, path,
                          db->h ? sqlite3_errmsg(db->h) : "out of memory");
        sqlite3_close(db->h);
        free(db);
        return r;
    }
    sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT);
    sqlite3_extended_result_codes(db->h, 1);
    int r = exec(db,
                 "PRAGMA journal_mode=WAL;"
                 "PRAGMA synchronous=FULL;"
                 "PRAGMA foreign_keys=ON;"
                 "PRAGMA temp_store=MEMORY;",
                 err);
    db->sync_normal = schema->sync_normal;
    if (r == 0 && schema->sync_normal)
        r = exec(db, "PRAGMA synchronous=NORMAL;", err);
    if (r == 0 && schema->cache_kib > 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", schema->cache_kib);
        r = exec(db, sql, err);
    }
    if (r == 0 && schema->mmap_mib > 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA mmap_size=%lld", (long long)schema->mmap_mib << 20);
        r = exec(db, sql, err);
    }
    if (r < 0) {
        sqlite3_close(db->h);
        free(db);
        return r;
    }
    *ret = db;
    return 0;
}

static void db_free(struct db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n_cached; i++)
        sqlite3_finalize(db->cache[i].st);
    sqlite3_close(db->h);
    free(db);
}

sqlite3 *db_handle(struct db *db)
{
    return db->h;
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql, struct error **err)
{
    for (size_t i = 0; i < db->n_cached; i++) {
        if (db->cache[i].sql == sql) {
            sqlite3_stmt *st = db->cache[i].st;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        db_fail(db, err, "prepare");
        return NULL;
    }
    if (db->n_cached < DB_STMT_CACHE) {
        db->cache[db->n_cached].sql = sql;
        db->cache[db->n_cached].st = st;
        db->n_cached++;
    } else {
        /* Cache full: a programming error (too many distinct statements);
         * keep working by evicting the oldest entry. */
        sqlite3_finalize(db->cache[0].st);
        memmove(&db->cache[0], &db->cache[1], sizeof(db->cache[0]) * (DB_STMT_CACHE - 1));
        db->cache[DB_STMT_CACHE - 1].sql = sql;
        db->cache[DB_STMT_CACHE - 1].st = st;
    }
    return st;
}

static void wunlock(struct db *db)
{
    if (db->wlocked)
        pthread_mutex_unlock(db->wlock);
    db->wlocked = false;
}

/* The writers of this process queue on the store's mutex, each woken as
 * soon as the one before it ends. Left to SQLite, a writer that finds the
 * lock taken polls for it, sleeping 1, 2, 5, 10 ms... in between (perf
 * trace showed the scheduler and agent threads in 1-2 ms sleeps while API
 * workers committed). The busy timeout still covers other processes, and a
 * writer that waited here DB_BUSY_TIMEOUT in vain (a lock-order cycle
 * between two stores then ends in SQLITE_BUSY, not a hang). */
static int begin(struct db *db, struct error **err);

int db_begin(struct db *db, struct error **err)
{
    /* Left lowered by a db_begin_unsynced whose caller failed before its
     * db_sync: every other transaction commits with the schema's setting. */
    if (db->unsynced && sqlite3_get_autocommit(db->h))
        db_sync(db, NULL);
    return begin(db, err);
}

static int begin(struct db *db, struct error **err)
{
    if (db->wlock && !db->wlocked) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += DB_BUSY_TIMEOUT / 1000;
        db->wlocked = pthread_mutex_clocklock(db->wlock, CLOCK_MONOTONIC, &until) == 0;
    }
    int r = exec(db, "BEGIN IMMEDIATE", err);
    if (r < 0 && sqlite3_get_autocommit(db->h))
        wunlock(db);
    return r;
}

int db_commit(struct db *db, struct error **err)
{
    int r = exec(db, "COMMIT", err);
    if (r < 0)
        db_rollback(db);
    else
        wunlock(db);
    return r;
}

int db_begin_unsynced(struct db *db, struct error **err)
{
    /* The setting may not change inside a transaction. */
    if (!db->sync_normal && !db->unsynced) {
        int r = exec(db, "PRAGMA synchronous=NORMAL", err);
        if (r < 0)
            return r;
        db->unsynced = true;
    }
    return begin(db, err);
}

int db_sync(struct db *db, struct error **err)
{
    if (!db->unsynced)
        return 0;
    /* In WAL mode with synchronous=NORMAL a commit writes the WAL without
     * syncing it: its fsync, which a FULL commit does, is done here. */
    sqlite3_file *wal = NULL;
    int r = 0;
    if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
        !wal || !wal->pMethods || wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK)
        r = error_set(err, EIO, NULL, "%s: sync the write-ahead log", db->label);
    if (exec(db, "PRAGMA synchronous=FULL", r < 0 ? NULL : err) == 0)
        db->unsynced = false;
    else if (r == 0)
        r = -EIO;
    return r;
}

void db_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    wunlock(db);
}

int db_exec_stmt(struct db *db, sqlite3_stmt *st, struct error **err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        int r = db_fail(db, err, "write");
        sqlite3_reset(st);
        return r;
    }
    sqlite3_reset(st);
    return 0;
}

void db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s)
        sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, idx);
}

const char *db_col_text(sqlite3_stmt *st, int idx)
{
    const char *s = (const char *)sqlite3_column_text(st, idx);
    return s ? s : "";
}

static int migrate(struct db *db, const struct store_schema *schema, struct error **err)
{
    int r = exec(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)", err);
    if (r < 0)
        return r;
    r = db_begin(db, err);
    if (r < 0)
        return r;
    /* Every applied migration has its row, and a migration runs when its
     * own row is missing, not only above the highest: numbers are handed
     * out ahead of time, so a lower one can land after a higher one. */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM schema_version WHERE version = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        db_rollback(db);
        return db_fail(db, err, "read schema version");
    }
    for (size_t i = 0; i < schema->n_migrations; i++) {
        const struct store_migration *m = &schema->migrations[i];
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, m->version);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            continue;
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            db_rollback(db);
            return db_fail(db, err, "read schema version");
        }
        r = exec(db, m->sql, err);
        if (r < 0) {
            sqlite3_finalize(st);
            db_rollback(db);
            return error_wrap(err, "migration %d", m->version);
        }
        char sql[96];
        snprintf(sql, sizeof(sql), "INSERT INTO schema_version(version) VALUES (%d)", m->version);
        r = exec(db, sql, err);
        if (r < 0) {
            sqlite3_finalize(st);
            db_rollback(db);
            return r;
        }
    }
    sqlite3_finalize(st);
    return db_commit(db, err);
}

static int integrity_check(struct db *db, struct error **err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, err, "integrity check");
    int r = 0;
    if (sqlite3_step(st) != SQLITE_ROW)
        r = db_fail(db, err, "integrity check");
    else if (strcmp(db_col_text(st, 0), "ok") != 0)
        r = error_set(err, EIO, NULL, "%s: integrity check failed: %s", db->label,
                      db_col_text(st, 0));
    sqlite3_finalize(st);
    return r;
}

static void forget_thread_db(void *p)
{
    (void)p; /* connections are closed by store_free(), which owns them */
}

int store_open_schema(const char *path, const struct store_schema *schema, struct store **ret,
                      struct error **err)
{
    struct db *db = NULL;
    int r = db_open(path, schema, &db, err);
    if (r < 0)
        return r;
    if (schema->integrity_check)
        r = integrity_check(db, err);
    if (r == 0)
        r = migrate(db, schema, err);
    if (r < 0) {
        db_free(db);
        return r;
    }
    struct store *s = xzalloc(sizeof(*s));
    s->path = xstrdup(path);
    s->schema = schema;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->wlock, NULL);
    pthread_key_create(&s->key, forget_thread_db);
    /* The connection that migrated becomes the opening thread's. */
    db->wlock = &s->wlock;
    s->all = db;
    pthread_setspecific(s->key, db);
    *ret = s;
    return 0;
}

int store_open(const char *path, struct store **ret, struct error **err)
{
    return store_open_schema(path, &store_state_schema, ret, err);
}

int store_thread_db(struct store *s, struct db **ret, struct error **err)
{
    struct db *db = pthread_getspecific(s->key);
    if (!db) {
        int r = db_open(s->path, s->schema, &db, err);
        if (r < 0)
            return r;
        db->wlock = &s->wlock;
        pthread_mutex_lock(&s->lock);
        db->next = s->all;
        s->all = db;
        pthread_mutex_unlock(&s->lock);
        pthread_setspecific(s->key, db);
    }
    *ret = db;
    return 0;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    struct db *db = s->all;
    while (db) {
        struct db *next = db->next;
        db_free(db);
        db = next;
    }
    pthread_key_delete(s->key);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->wlock);
    free(s->path);
    free(s);
}
