/* The logs message on a real logs.db (src/logs/ingest.c): a batch is
 * stored only at the stored offset, once; probes answer the offset; a
 * missing group is an error without createGroup; forget drops the offset.
 * Steps run in order against one store, as a table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logs/logs-internal.h"

#define L1 "2026-11-27T07:16:18.000000000+00:00 stdout F one\n"
#define L2 "2026-11-27T07:16:19.000000000+00:00 stderr F two\n"
/* Each line is 49 bytes. */

struct step {
    const char *what;
    bool create;    /* createGroup */
    int64_t offset; /* -1: a probe (no lines) */
    const char *lines;
    bool forget;
    int r;          /* expected result */
    int64_t answer; /* expected "offset" */
    int events;     /* events stored after the step */
};

static int count_events(struct logs_store *ls)
{
    struct db *db;
    struct error *err = NULL;
    assert_int_equal(logs_db_get(ls, &db, &err), 0);
    sqlite3_stmt *st = db_stmt(db, "SELECT COALESCE(SUM(count), 0) FROM log_segments", &err);
    assert_non_null(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return n;
}

static void test_exactly_once(void **state)
{
    (void)state;
    static const struct step steps[] = {
        {"probe of a missing group", false, -1, NULL, false, -ENOENT, 0, 0},
        {"batch into a missing group", false, 0, L1, false, -ENOENT, 0, 0},
        {"probe with createGroup", true, -1, NULL, false, 0, 0, 0},
        {"first batch creates the group", true, 0, L1, false, 0, 49, 1},
        {"the same batch again is refused", true, 0, L1, false, 0, 49, 1},
        {"a batch past a gap is refused", true, 100, L2, false, 0, 49, 1},
        {"the next batch", true, 49, L2, false, 0, 98, 2},
        {"a probe answers the offset", false, -1, NULL, false, 0, 98, 2},
        {"forget", false, -1, NULL, true, 0, 0, 2},
        {"after forget a probe starts over", true, -1, NULL, false, 0, 0, 2},
    };
    char dir[] = "/tmp/skiff-test-logs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/logs.db", dir);
    struct logs_store *ls = NULL;
    struct error *err = NULL;
    assert_int_equal(logs_store_open(path, 0, &ls, &err), 0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const struct step *s = &steps[i];
        json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "taskArn", "arn:t/1", "accountId",
                                "111122223333", "container", "main", "logGroup", "/g", "logStream",
                                "p/main/1", "createGroup", s->create);
        if (s->offset >= 0) {
            json_object_set_new(msg, "offset", json_integer(s->offset));
            json_object_set_new(msg, "end", json_integer(s->offset + (int64_t)strlen(s->lines)));
            json_object_set_new(msg, "lines", json_string(s->lines));
        }
        if (s->forget)
            json_object_set_new(msg, "forget", json_true());
        json_t *ans = NULL;
        int r = logs_ingest(ls, msg, &ans, &err);
        if (r != s->r)
            fail_msg("%s: %d, want %d", s->what, r, s->r);
        if (r == 0 && json_integer_value(json_object_get(ans, "offset")) != s->answer)
            fail_msg("%s: offset %lld, want %lld", s->what,
                     (long long)json_integer_value(json_object_get(ans, "offset")),
                     (long long)s->answer);
        if (r < 0) {
            assert_string_equal(err->type, ERR_NOT_FOUND);
            error_free(err);
            err = NULL;
        }
        if (count_events(ls) != s->events)
            fail_msg("%s: %d events, want %d", s->what, count_events(ls), s->events);
        json_decref(ans);
        json_decref(msg);
    }
    logs_store_free(ls);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
