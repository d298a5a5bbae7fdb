/* Log segments (src/logs/segment.c) and reading them in order
 * (src/logs/scan.c): encoding round trips, when a segment must close,
 * corrupt BLOBs, and scans of a real logs.db that merge overlapping
 * segments, forward and backward, from positions and within ranges. */
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

struct ev {
    int64_t ts;
    const char *msg;
};

/* ---- encoding ---- */

static void test_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        struct ev ev[6];
        size_t n;
    } cases[] = {
        {"one event is its bare message", {{1000, "hello"}}, 1},
        {"an empty message", {{5, ""}}, 1},
        {"several, equal times", {{7, "a"}, {7, "bb"}, {7, ""}}, 3},
        {"growing times, large delta",
         {{-5, "neg"}, {0, "zero"}, {300, "x"}, {LOGS_DAY_MS - 5, "last"}},
         4},
        {"UTF-8 and long lines",
         {{1, "\xc3\xa9t\xc3\xa9"}, {2, "0123456789012345678901234567890"}},
         2},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct logs_seg s;
        logs_seg_init(&s);
        for (size_t i = 0; i < cases[c].n; i++) {
            const struct ev *e = &cases[c].ev[i];
            if (!logs_seg_fits(&s, e->ts, strlen(e->msg)))
                fail_msg("%s: event %zu does not fit", cases[c].what, i);
            logs_seg_add(&s, e->ts, e->msg, strlen(e->msg));
        }
        size_t len;
        const char *blob = logs_seg_blob(&s, &len);
        if (cases[c].n == 1) {
            assert_int_equal(len, strlen(cases[c].ev[0].msg));
            assert_memory_equal(blob, cases[c].ev[0].msg, len);
        }
        struct logs_seg_event out[6];
        if (logs_seg_decode(blob, len, s.first, s.n, out) != 0)
            fail_msg("%s: does not decode", cases[c].what);
        for (size_t i = 0; i < cases[c].n; i++) {
            const struct ev *e = &cases[c].ev[i];
            if (out[i].ts != e->ts || out[i].len != strlen(e->msg) ||
                memcmp(blob + out[i].off, e->msg, out[i].len) != 0)
                fail_msg("%s: event %zu differs", cases[c].what, i);
        }
        assert_int_equal(s.first, cases[c].ev[0].ts);
        assert_int_equal(s.last, cases[c].ev[cases[c].n - 1].ts);
        logs_seg_reset(&s);
        assert_int_equal(s.n, 0);
        logs_seg_done(&s);
    }
}

static void test_fits(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int64_t ts;
        size_t len;
        bool fits;
    } cases[] = {
        {"same time", 100, 10, true},
        {"later", 5000, 10, true},
        {"earlier: a new segment keeps each in order", 99, 10, false},
        {"a day later is still in", 100 + LOGS_DAY_MS, 10, true},
        {"past the span", 101 + LOGS_DAY_MS, 10, false},
        {"past the byte limit", 100, LOGS_SEG_MAX_BYTES, false},
    };
    struct logs_seg s;
    logs_seg_init(&s);
    assert_true(logs_seg_fits(&s, 0, LOGS_MAX_EVENT_BYTES)); /* empty: anything */
    logs_seg_add(&s, 100, "x", 1);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        if (logs_seg_fits(&s, cases[c].ts, cases[c].len) != cases[c].fits)
            fail_msg("%s: fits %d", cases[c].what, !cases[c].fits);
    for (size_t i = 1; i < LOGS_SEG_MAX_EVENTS; i++)
        logs_seg_add(&s, 100, "", 0);
    assert_false(logs_seg_fits(&s, 100, 0)); /* the event limit */
    logs_seg_done(&s);
}

static void test_corrupt(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        const char *blob;
        size_t len, count;
    } cases[] = {
        {"length past the end",
         "\x00\x05"
         "ab",
         4, 2},
        {"fewer events than counted",
         "\x00\x01"
         "a",
         3, 2},
        {"bytes left over",
         "\x00\x01"
         "a\x00\x01"
         "bz",
         7, 2},
        {"a varint without its end", "\x00\x80", 2, 2},
        {"a delta past the span", "\x00\x00\xff\xff\xff\xff\x0f\x00", 8, 2},
        {"no events", "", 0, 0},
    };
    struct logs_seg_event out[4];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        if (logs_seg_decode(cases[c].blob, cases[c].len, 0, cases[c].count, out) != -EINVAL)
            fail_msg("%s: accepted", cases[c].what);
}

/* ---- scans of a real logs.db ---- */

struct fixture {
    char dir[40];
    struct logs_store *ls;
    struct db *db;
    int64_t gid, sid[2];
};

static void insert(struct fixture *f, int stream, const struct ev *ev, size_t n)
{
    struct logs_event e[8];
    for (size_t i = 0; i < n; i++)
        e[i] = (struct logs_event){ev[i].ts, ev[i].msg, strlen(ev[i].msg)};
    struct error *err = NULL;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(logs_events_insert(f->db, f->gid, f->sid[stream], e, n, 1, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/skiff-test-logseg-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/logs.db", f->dir);
    struct error *err = NULL;
    assert_int_equal(logs_store_open(path, 0, &f->ls, &err), 0);
    assert_int_equal(logs_db_get(f->ls, &f->db, &err), 0);
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(logs_group_create(f->db, "111122223333", "/g", 1, &f->gid, &err), 0);
    assert_int_equal(logs_stream_get(f->db, f->gid, "a", true, 1, &f->sid[0], &err), 0);
    assert_int_equal(logs_stream_get(f->db, f->gid, "b", true, 1, &f->sid[1], &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    /* Stream a: a batch, a batch that goes back in time (two segments),
     * and a later batch that overlaps the first. Stream b interleaves. */
    static const struct ev a1[] = {{10, "a10"}, {20, "a20"}, {30, "a30"}};
    static const struct ev a2[] = {{40, "a40"}, {15, "a15"}, {20, "a20b"}};
    static const struct ev b1[] = {{5, "b5"}, {20, "b20"}, {50, "b50"}};
    insert(f, 0, a1, 3);
    insert(f, 0, a2, 3);
    insert(f, 1, b1, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    logs_store_free(f->ls);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The messages a scan answers, joined with spaces, and the position of
 * the n-th (1-based; 0: none). */
static void scan(struct fixture *f, const struct logs_scan_spec *spec, char *out, size_t cap,
                 size_t nth, struct logs_pos *ret_pos)
{
    struct logs_scan *sc = NULL;
    struct error *err = NULL;
    assert_int_equal(logs_scan_open(f->db, spec, &sc, &err), 0);
    struct logs_scan_event ev;
    int r;
    size_t k = 0;
    out[0] = '\0';
    while ((r = logs_scan_next(sc, &ev, &err)) > 0) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%.*s", l ? " " : "", (int)ev.len, ev.msg);
        if (++k == nth)
            *ret_pos = ev.pos;
    }
    assert_int_equal(r, 0);
    logs_scan_free(sc);
}

static void test_scan(void **state)
{
    struct fixture *f = *state;
    const struct logs_pos start = {INT64_MIN, INT64_MIN}, end = {INT64_MAX, INT64_MAX};
    /* Events of one time keep their order of arrival: a20 before a20b. */
    static const struct {
        const char *what;
        int stream; /* -1: the group */
        int64_t lo, hi;
        bool backward;
        const char *want;
    } cases[] = {
        {"stream a", 0, INT64_MIN, INT64_MAX, false, "a10 a15 a20 a20b a30 a40"},
        {"stream a backward", 0, INT64_MIN, INT64_MAX, true, "a40 a30 a20b a20 a15 a10"},
        {"stream a, 15 <= ts < 30", 0, 15, 30, false, "a15 a20 a20b"},
        {"stream a, 15 <= ts < 30, backward", 0, 15, 30, true, "a20b a20 a15"},
        {"empty range", 0, 31, 40, false, ""},
        {"the group", -1, INT64_MIN, INT64_MAX, false, "b5 a10 a15 a20 a20b b20 a30 a40 b50"},
        {"the group from 20", -1, 20, INT64_MAX, false, "a20 a20b b20 a30 a40 b50"},
        {"stream b", 1, INT64_MIN, INT64_MAX, false, "b5 b20 b50"},
    };
    char out[256];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct logs_scan_spec spec = {.group_id = f->gid,
                                      .stream_id =
                                          cases[c].stream < 0 ? 0 : f->sid[cases[c].stream],
                                      .lo = cases[c].lo,
                                      .hi = cases[c].hi,
                                      .from = cases[c].backward ? end : start,
                                      .backward = cases[c].backward};
        scan(f, &spec, out, sizeof(out), 0, NULL);
        if (strcmp(out, cases[c].want))
            fail_msg("%s: \"%s\", want \"%s\"", cases[c].what, out, cases[c].want);
    }
}

static void test_scan_from(void **state)
{
    struct fixture *f = *state;
    char out[256];
    /* Resuming after each event of the group answers exactly the rest;
     * backward from each, exactly what came before. */
    static const char *const all[] = {"b5",  "a10", "a15", "a20", "a20b",
                                      "b20", "a30", "a40", "b50"};
    const size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t k = 1; k <= n; k++) {
        struct logs_pos p = {0, 0};
        struct logs_scan_spec spec = {
            .group_id = f->gid, .lo = INT64_MIN, .hi = INT64_MAX, .from = {INT64_MIN, INT64_MIN}};
        scan(f, &spec, out, sizeof(out), k, &p);
        spec.from = p;
        scan(f, &spec, out, sizeof(out), 0, NULL);
        char want[256] = "";
        for (size_t i = k; i < n; i++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i > k ? " " : "",
                     all[i]);
        if (strcmp(out, want))
            fail_msg("after %s: \"%s\", want \"%s\"", all[k - 1], out, want);
        spec.backward = true;
        scan(f, &spec, out, sizeof(out), 0, NULL);
        want[0] = '\0';
        for (size_t i = k - 1; i-- > 0;)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i < k - 2 ? " " : "",
                     all[i]);
        if (strcmp(out, want))
            fail_msg("before %s: \"%s\", want \"%s\"", all[k - 1], out, want);
    }
}

static void test_scan_same_time(void **state)
{
    /* More one-event segments of one timestamp than a scan may hold at
     * once (an upgraded logs.db of a fast writer looks like this): they
     * are read one after the other, in order, both ways. */
    struct fixture *f = *state;
    enum { N = 1500 };
    struct error *err = NULL;
    int64_t sid;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(logs_stream_get(f->db, f->gid, "c", true, 1, &sid, &err), 0);
    for (int i = 0; i < N; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "%d", i);
        struct logs_event e = {7, msg, strlen(msg)};
        assert_int_equal(logs_events_insert(f->db, f->gid, sid, &e, 1, 1, &err), 0);
    }
    assert_int_equal(db_commit(f->db, &err), 0);
    for (int backward = 0; backward < 2; backward++) {
        struct logs_scan_spec spec = {
            .group_id = f->gid,
            .stream_id = sid,
            .lo = INT64_MIN,
            .hi = INT64_MAX,
            .from = {backward ? INT64_MAX : INT64_MIN, backward ? INT64_MAX : INT64_MIN},
            .backward = backward};
        struct logs_scan *sc = NULL;
        assert_int_equal(logs_scan_open(f->db, &spec, &sc, &err), 0);
        struct logs_scan_event ev;
        int r, k = 0;
        while ((r = logs_scan_next(sc, &ev, &err)) > 0) {
            char want[16];
            snprintf(want, sizeof(want), "%d", backward ? N - 1 - k : k);
            if (ev.len != strlen(want) || memcmp(ev.msg, want, ev.len))
                fail_msg("%s event %d: %.*s", backward ? "backward" : "forward", k, (int)ev.len,
                         ev.msg);
            k++;
        }
        assert_int_equal(r, 0);
        assert_int_equal(k, N);
        logs_scan_free(sc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fits),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_same_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
