/* The store's transactions on a real SQLite file: a commit that does not
 * wait for the disk (db_begin_unsynced) is visible to another connection at
 * once, runs with synchronous=NORMAL until db_sync, and never leaves the
 * connection's later transactions without their fsync. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"

static char dir[64];
static char path[128];
static struct store *store;
static struct db *db;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/skiff-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.db", dir);
    struct error *err = NULL;
    assert_int_equal(store_open(path, &store, &err), 0);
    assert_int_equal(store_thread_db(store, &db, &err), 0);
    assert_int_equal(sqlite3_exec(db_handle(db), "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_free(store);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static int synchronous(void)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db_handle(db), "PRAGMA synchronous", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int rows_seen_elsewhere(void)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void insert(void)
{
    assert_int_equal(sqlite3_exec(db_handle(db), "INSERT INTO t VALUES (1)", NULL, NULL, NULL),
                     SQLITE_OK);
}

static void test_unsynced_commit(void **state)
{
    (void)state;
    struct error *err = NULL;
    assert_int_equal(synchronous(), 2); /* FULL */
    assert_int_equal(db_begin_unsynced(db, &err), 0);
    insert();
    assert_int_equal(db_commit(db, &err), 0);
    /* Committed: another connection sees it before the sync. */
    assert_int_equal(synchronous(), 1); /* NORMAL */
    assert_int_equal(rows_seen_elsewhere(), 1);
    assert_int_equal(db_sync(db, &err), 0);
    assert_int_equal(synchronous(), 2);
    /* A second sync has nothing to do. */
    assert_int_equal(db_sync(db, &err), 0);
    assert_int_equal(synchronous(), 2);
}

static void test_plain_begin_restores_full(void **state)
{
    (void)state;
    struct error *err = NULL;
    /* A caller that failed between its begin and its sync. */
    assert_int_equal(db_begin_unsynced(db, &err), 0);
    insert();
    db_rollback(db);
    assert_int_equal(synchronous(), 1);
    /* Every other transaction commits with the schema's setting. */
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(synchronous(), 2);
    insert();
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(rows_seen_elsewhere(), 1); /* the rolled back row is not there */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unsynced_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_begin_restores_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
