/* SQLite store: the control plane's only source of truth.
 *
 * One struct db wraps one sqlite3 connection with a cache of prepared
 * statements. Connections are not shared between threads: the API server
 * gives each worker thread its own through store_thread_db(). Writes run in
 * BEGIN IMMEDIATE transactions; the database is in WAL mode with
 * synchronous=FULL, so an acknowledged commit survives kill -9 and power
 * loss. Two exceptions commit with synchronous=NORMAL (kill -9 safe, not
 * power-loss safe): the log store (store_schema.sync_normal, src/logs) and
 * the scheduler thread's connection (src/sched/sched.c); both say why what
 * they could lose is made again. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct db;
struct store;

/* Opens (creating if needed) the database at path, migrates its schema to
 * the newest version and runs an integrity check. Returns a store from
 * which threads take connections. */
int store_open(const char *path, struct store **ret, struct error **err);

/* The same for another database in the data dir (logs.db): its own
 * migrations, its name in error messages, and its page cache. */
struct store_migration;
struct store_schema {
    const char *label; /* error messages start with it: "store", "log store" */
    const struct store_migration *migrations;
    size_t n_migrations;
    int cache_kib; /* page cache per connection; 0 keeps SQLite's default */
    /* Reads through a shared mapping of the file, up to this size (0: by
     * pread). A connection's page cache is dropped whenever another one
     * commits (WAL), so a hot, many-connection store re-reads its pages
     * all the time: mapped, that is no system call. */
    int mmap_mib;
    bool integrity_check; /* at open (a full check reads the whole file) */
    /* Commits are not fsynced one by one (synchronous=NORMAL: WAL
     * checkpoints still are): a commit survives a crash of the process,
     * not of the machine. For stores whose content can be re-made after a
     * power loss (the log store: the monitor's files hold every line). */
    bool sync_normal;
};
int store_open_schema(const char *path, const struct store_schema *schema, struct store **ret,
                      struct error **err);
/* Closes every connection handed out; no thread may use one afterwards. */
void store_free(struct store *s);
/* This thread's connection (opened on first use). */
int store_thread_db(struct store *s, struct db **ret, struct error **err);

/* Returns a reset, cached prepared statement for sql, which must be a string
 * literal (the cache is keyed by its address). NULL with *err set when SQLite
 * cannot prepare it. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql, struct error **err);
sqlite3 *db_handle(struct db *db);

/* Transactions. begin is BEGIN IMMEDIATE (takes the write lock up front so
 * that a transaction never fails with SQLITE_BUSY half way). */
int db_begin(struct db *db, struct error **err);
int db_commit(struct db *db, struct error **err);
void db_rollback(struct db *db);
/* A transaction whose COMMIT does not wait for the disk: its changes are
 * visible to other connections as soon as it returns, durable only once
 * db_sync has returned. For a caller with something to start between the
 * two (another thread to wake) before it answers. */
int db_begin_unsynced(struct db *db, struct error **err);
/* Makes the transactions committed so far durable (the WAL's fsync) and
 * restores the connection's synchronous setting. */
int db_sync(struct db *db, struct error **err);

/* Steps a statement expected to finish (INSERT/UPDATE/DELETE). */
int db_exec_stmt(struct db *db, sqlite3_stmt *st, struct error **err);
/* Sets *err from the connection's last error; returns -EIO. */
int db_fail(struct db *db, struct error **err, const char *what);

/* Binding helpers: bind NULL for a NULL string. */
void db_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Column as a C string, "" when NULL. Valid until the next step/reset. */
const char *db_col_text(sqlite3_stmt *st, int idx);
