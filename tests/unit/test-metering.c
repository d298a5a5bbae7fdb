/* Metering on a real store: usage records written when a task is recorded
 * STOPPED (billed figures, architecture, storage, utilisation from the
 * samples, tags copied so they outlive the task row), the samples kept and
 * dropped, and the cost report's grouping, windows and running tasks.
 * Expected money is worked out by hand from the published prices (the
 * comments show the arithmetic). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "metering/metering.h"
#include "store/db.h"

#define T0      1700000000000LL /* 2023-11-14T22:13:20Z */
#define ACCOUNT "123456789012"
#define CLUSTER "arn:aws:ecs:us-east-1:123456789012:cluster/default"
#define ARN(id) "arn:aws:ecs:us-east-1:123456789012:task/default/" id

static char dir[64];
static struct store *store;
static struct db *db;
static struct metering m;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/skiff-metering-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/state.db", dir);
    struct error *err = NULL;
    assert_int_equal(store_open(path, &store, &err), 0);
    assert_int_equal(store_thread_db(store, &db, &err), 0);
    assert_int_equal(metering_init(&m, NULL, false, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    metering_done(&m);
    store_free(store);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void exec_sql(const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db_handle(db), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

struct task_row {
    const char *id, *family, *grp, *taskdef, *node, *status;
    int cpu, memory, gib;
    int64_t created, pull_started, stopped; /* 0: NULL */
};

static void insert_task(const struct task_row *t)
{
    struct error *err = NULL;
    sqlite3_stmt *st = db_stmt(
        db,
        "INSERT INTO tasks (arn, account, cluster_arn, task_id, taskdef_arn, taskdef, family,"
        " last_status, desired_status, cpu, memory, ephemeral_gib, grp, created_at,"
        " pull_started_at, stopped_at, node, overrides, containers) VALUES (?1, ?2, ?3, ?4, ?5,"
        " ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, '{}', '[]')",
        &err);
    assert_non_null(st);
    char arn[128], td[128];
    snprintf(arn, sizeof(arn), ARN("%s"), t->id);
    snprintf(td, sizeof(td), "arn:aws:ecs:us-east-1:123456789012:task-definition/%s:1", t->family);
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ACCOUNT);
    db_bind_text(st, 3, CLUSTER);
    db_bind_text(st, 4, t->id);
    db_bind_text(st, 5, td);
    db_bind_text(st, 6, t->taskdef ? t->taskdef : "{}");
    db_bind_text(st, 7, t->family);
    db_bind_text(st, 8, t->status ? t->status : "STOPPED");
    sqlite3_bind_int(st, 9, t->cpu);
    sqlite3_bind_int(st, 10, t->memory);
    sqlite3_bind_int(st, 11, t->gib ? t->gib : 20);
    db_bind_text(st, 12, t->grp);
    sqlite3_bind_int64(st, 13, t->created);
    if (t->pull_started)
        sqlite3_bind_int64(st, 14, t->pull_started);
    if (t->stopped)
        sqlite3_bind_int64(st, 15, t->stopped);
    db_bind_text(st, 16, t->node);
    assert_int_equal(db_exec_stmt(db, st, &err), 0);
}

static void sample(const char *arn, int64_t t, int64_t cpu_usec, int64_t mem)
{
    json_t *msg = json_pack("{s:s, s:{s:I, s:I, s:I, s:I}}", "taskArn", arn, "stats", "t",
                            (json_int_t)t, "cpuUsec", (json_int_t)cpu_usec, "memoryBytes",
                            (json_int_t)mem, "memoryPeakBytes", (json_int_t)0);
    struct error *err = NULL;
    assert_int_equal(metering_stats_apply(&m, db, msg, &err), 0);
    json_decref(msg);
}

static int64_t count(const char *sql)
{
    struct error *err = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    (void)err;
    return v;
}

static void stopped(const char *arn)
{
    struct error *err = NULL;
    int r = metering_task_stopped(&m, db, arn, &err);
    if (r < 0)
        fail_msg("%s", err->msg);
}

/* --- groupBy parsing --- */

static void test_group_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ret;
        enum metering_group by;
        const char *tag;
    } cases[] = {
        {"cluster", 0, METERING_BY_CLUSTER, NULL},
        {"service", 0, METERING_BY_SERVICE, NULL},
        {"family", 0, METERING_BY_FAMILY, NULL},
        {"task", 0, METERING_BY_TASK, NULL},
        {"tag:team", 0, METERING_BY_TAG, "team"},
        {"tag:a:b", 0, METERING_BY_TAG, "a:b"},
        {"tag:", -EINVAL, 0, NULL},
        {"Cluster", -EINVAL, 0, NULL},
        {"", -EINVAL, 0, NULL},
        {"tags:x", -EINVAL, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum metering_group by = 99;
        const char *tag = "unset";
        assert_int_equal(metering_group_parse(cases[i].in, &by, &tag), cases[i].ret);
        if (cases[i].ret == 0) {
            assert_int_equal(by, cases[i].by);
            if (cases[i].tag)
                assert_string_equal(tag, cases[i].tag);
            else
                assert_null(tag);
        }
    }
    char long_key[140] = "tag:";
    memset(long_key + 4, 'k', 129);
    long_key[133] = 0;
    enum metering_group by;
    const char *tag;
    assert_int_equal(metering_group_parse(long_key, &by, &tag), -EINVAL);
    long_key[132] = 0; /* 128 characters */
    assert_int_equal(metering_group_parse(long_key, &by, &tag), 0);
}

/* --- usage records --- */

static void test_records(void **state)
{
    (void)state;
    static const struct {
        struct task_row t;
        const char *arch;
        int64_t billed_ms, vcpu_nd, memory_nd, storage_nd;
    } cases[] = {
        /* Created, nothing pulled, 90.5 s: 91 s; 0.04048 x 0.5 x 91/3600 =
         * $0.000511622, 0.004445 x 1 x 91/3600 = $0.000112360. */
        {{"a1", "web", "service:web", NULL, "local", NULL, 512, 1024, 20, T0, 0, T0 + 90500},
         "x86_64",
         91000,
         511622,
         112360,
         0},
        /* ARM64 from runtimePlatform: 0.03238 x 0.5 x 91/3600 = $0.000409247,
         * 0.00356 x 91/3600 = $0.0000899889 (pull started 1 s after creation). */
        {{"a2", "web", "service:web", "{\"runtimePlatform\":{\"cpuArchitecture\":\"ARM64\"}}",
          "local", NULL, 512, 1024, 20, T0 - 1000, T0, T0 + 90500},
         "arm64",
         91000,
         409247,
         89989,
         0},
        /* 30 s -> the one-minute minimum; 30 GiB: 10 GB x 0.000111 / 60 =
         * $0.0000185; 1 vCPU: 0.04048 / 60 = $0.000674667; 2 GB: 0.00889 / 60. */
        {{"a3", "batch", NULL, NULL, "local", NULL, 1024, 2048, 30, T0, T0, T0 + 30000},
         "x86_64",
         60000,
         674667,
         148167,
         18500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        insert_task(&cases[i].t);
        char arn[128], sql[512];
        snprintf(arn, sizeof(arn), ARN("%s"), cases[i].t.id);
        stopped(arn);
        stopped(arn); /* a repeated STOPPED report changes nothing */
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM usage_records WHERE task_arn = '%s' AND arch = '%s' AND "
                 "billed_ms = %lld AND vcpu_nd = %lld AND memory_nd = %lld AND storage_nd = "
                 "%lld AND total_nd = vcpu_nd + memory_nd + storage_nd",
                 arn, cases[i].arch, (long long)cases[i].billed_ms, (long long)cases[i].vcpu_nd,
                 (long long)cases[i].memory_nd, (long long)cases[i].storage_nd);
        assert_int_equal(count(sql), 1);
    }
    /* Never placed: no record. */
    struct task_row unplaced = {"u1", "web", NULL, NULL, NULL, NULL,
                                256,  512,   20,   T0,   0,    T0 + 1000};
    insert_task(&unplaced);
    stopped(ARN("u1"));
    assert_int_equal(count("SELECT COUNT(*) FROM usage_records WHERE task_arn LIKE '%u1'"), 0);
}

static void test_samples(void **state)
{
    (void)state;
    struct task_row t = {"s1", "idle", NULL, NULL, "local", "RUNNING", 512, 1024, 20, T0, T0, 0};
    insert_task(&t);
    exec_sql("INSERT INTO tags (arn, account, key, value) VALUES ('" ARN("s1") "', '" ACCOUNT
                                                                               "', 'team', 'red')");
    /* 20 intervals of 1 s: 50 ms of CPU each (50 milli-vCPU), memory 64 MiB
     * then one 100 MiB sample. */
    for (int i = 0; i <= 20; i++)
        sample(ARN("s1"), T0 + 1000 + i * 1000LL, i * 50000LL, (i == 10 ? 100 : 64) << 20);
    sample(ARN("s1"), T0 + 1000, 0, 64 << 20); /* a repeat is ignored */
    sample("arn:aws:ecs:us-east-1:123456789012:task/default/nope", T0, 0, 0); /* unknown */
    assert_int_equal(count("SELECT COUNT(*) FROM usage_samples"), 21);

    exec_sql("UPDATE tasks SET last_status = 'STOPPED', stopped_at = 1700000022000 WHERE "
             "task_id = 's1'");
    stopped(ARN("s1"));
    assert_int_equal(count("SELECT COUNT(*) FROM usage_records WHERE task_arn = '" ARN(
                         "s1") "' AND samples = 21 AND use_wall_ms = 20000 AND use_cpu_usec = "
                               "1000000 AND cpu_avg_milli = 50 AND cpu_p95_milli = 50 AND "
                               "mem_peak_bytes = 104857600 AND tags = '{\"team\":\"red\"}'"),
                     1);
    /* The series goes with the record; a late sample is not kept. */
    assert_int_equal(count("SELECT COUNT(*) FROM usage_samples"), 0);
    sample(ARN("s1"), T0 + 30000, 2000000, 64 << 20);
    assert_int_equal(count("SELECT COUNT(*) FROM usage_samples"), 0);
}

/* --- the report --- */

static json_t *report(const char *by, int64_t since, int64_t until, int64_t now)
{
    struct metering_query q = {
        .account = ACCOUNT, .since_ms = since, .until_ms = until, .now_ms = now};
    assert_int_equal(metering_group_parse(by, &q.by, &q.tag_key), 0);
    json_t *out = NULL;
    struct error *err = NULL;
    int r = metering_report(&m, db, &q, &out, &err);
    if (r < 0)
        fail_msg("%s", err->msg);
    return out;
}

static json_t *group(const json_t *rep, const char *key)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_get_array(rep, "groups"), i,
                       g) if (!strcmp(json_get_str(g, "key"), key)) return g;
    fail_msg("no group %s", key);
    return NULL;
}

static void test_report(void **state)
{
    (void)state;
    /* The records of test_records and test_samples are in the store; s1 is
     * 0.5 vCPU / 1 GB for 22 s, billed 60 s: 0.04048 x 0.5 / 60 =
     * $0.000337333 and 0.004445 / 60 = $0.0000740833. */
    const int64_t a1 = 511622 + 112360, a2 = 409247 + 89989, a3 = 674667 + 148167 + 18500,
                  s1 = 337333 + 74083;
    int64_t now = T0 + 3600000;
    json_t *rep = report("family", 0, 0, now);
    assert_int_equal(json_get_int(group(rep, "web"), "costNanoUsd", 0), a1 + a2);
    assert_int_equal(json_get_int(group(rep, "web"), "tasks", 0), 2);
    assert_int_equal(json_get_int(group(rep, "batch"), "costNanoUsd", 0), a3);
    assert_int_equal(json_get_int(group(rep, "batch"), "storageCostNanoUsd", 0), 18500);
    assert_int_equal(json_get_int(group(rep, "idle"), "costNanoUsd", 0), s1);
    json_t *total = json_get_object(rep, "total");
    assert_int_equal(json_get_int(total, "costNanoUsd", 0), a1 + a2 + a3 + s1);
    assert_int_equal(json_get_int(total, "tasks", 0), 4);
    assert_non_null(json_get_str(json_get_object(rep, "ec2Comparison"), "sentence"));
    json_decref(rep);

    /* The idle task: 50 milli-vCPU of 500 is 10%, and the advice is the
     * smallest size (0.25 vCPU / 0.5 GB covers 60 milli-vCPU and 120 MiB):
     * half of each dimension's price, rounded once (168667 + 37042). */
    rep = report("family", 0, 0, now);
    json_t *g = group(rep, "idle");
    assert_true(json_number_value(json_object_get(g, "cpuUtilizationPercent")) > 9.99 &&
                json_number_value(json_object_get(g, "cpuUtilizationPercent")) < 10.01);
    json_t *rs = json_array_get(json_get_array(g, "rightSizing"), 0);
    assert_int_equal(json_get_int(rs, "recommendedCpu", 0), 256);
    assert_int_equal(json_get_int(rs, "recommendedMemory", 0), 512);
    assert_int_equal(json_get_int(rs, "recommendedCostNanoUsd", 0), 168667 + 37042);
    assert_int_equal(json_get_int(g, "savingsNanoUsd", 0), s1 - (168667 + 37042));
    /* Tasks without samples have no advice and no idle cost. */
    assert_int_equal(json_array_size(json_get_array(group(rep, "web"), "rightSizing")), 0);
    assert_int_equal(json_get_int(group(rep, "web"), "idleCostNanoUsd", 0), 0);
    json_decref(rep);

    /* Services from the ECS group, tags from the copy in the record (the
     * task rows are gone, as after the purge). */
    exec_sql("DELETE FROM tasks; DELETE FROM tags;");
    rep = report("service", 0, 0, now);
    assert_int_equal(json_get_int(group(rep, "web"), "costNanoUsd", 0), a1 + a2);
    assert_int_equal(json_get_int(group(rep, "-"), "tasks", 0), 2);
    json_decref(rep);
    rep = report("tag:team", 0, 0, now);
    assert_int_equal(json_get_int(group(rep, "red"), "costNanoUsd", 0), s1);
    assert_int_equal(json_get_int(group(rep, "-"), "tasks", 0), 3);
    json_decref(rep);

    /* Windows: a task counts when its billed interval overlaps. */
    rep = report("task", T0 + 31000, 0, now); /* a3 and s1 stopped, still billed */
    assert_int_equal(json_get_int(json_get_object(rep, "total"), "tasks", 0), 4);
    json_decref(rep);
    rep = report("task", T0 + 61000, 0, now); /* a3's and s1's minute is over */
    assert_int_equal(json_get_int(json_get_object(rep, "total"), "tasks", 0), 2);
    json_decref(rep);
    rep = report("task", 0, T0 - 500, now); /* nothing was billed before T0 */
    assert_int_equal(json_array_size(json_get_array(rep, "groups")), 0);
    json_decref(rep);
    rep = report("task", 0, T0 + 1, now);
    assert_int_equal(json_get_int(json_get_object(rep, "total"), "tasks", 0), 4);
    json_decref(rep);

    /* A running task is billed up to now: 0.25 vCPU / 0.5 GB for 120 s is
     * 337333 + 74083. */
    struct task_row r = {"r1", "live", NULL, NULL, "local", "RUNNING", 256, 512, 20, T0, T0, 0};
    insert_task(&r);
    rep = report("family", 0, 0, T0 + 120000);
    g = group(rep, "live");
    assert_int_equal(json_get_int(g, "runningTasks", 0), 1);
    assert_int_equal(json_get_int(g, "costNanoUsd", 0), 337333 + 74083);
    json_decref(rep);

    struct metering_query q = {.account = ACCOUNT, .since_ms = T0, .until_ms = T0, .now_ms = now};
    json_t *out = NULL;
    struct error *err = NULL;
    assert_int_equal(metering_report(&m, db, &q, &out, &err), -EINVAL);
    assert_null(out);
    error_free(err);
}

/* A large report packs longer slices: 1,000 tasks over a day may use at
 * most 500 slices (slices x tasks <= 500,000), so 173 s instead of 60. */
static void test_report_large(void **state)
{
    (void)state;
    struct error *err = NULL;
    exec_sql("BEGIN");
    sqlite3_stmt *st = db_stmt(
        db,
        "INSERT INTO usage_records (task_arn, account, cluster_arn, family, taskdef_arn, cpu,"
        " memory, ephemeral_gib, arch, created_at, pull_started_at, stopped_at, billed_ms,"
        " vcpu_nd, memory_nd, storage_nd, total_nd) VALUES (?1, '210987654321', 'c', 'f', 'td',"
        " 256, 512, 20, 'x86_64', ?2, ?2, ?3, ?4, 1, 1, 0, 2)",
        &err);
    assert_non_null(st);
    for (int i = 0; i < 1000; i++) {
        char arn[64];
        snprintf(arn, sizeof(arn), "arn:large/%d", i);
        int64_t start = T0 + (int64_t)i * 86340; /* the last starts at T0 + 86340 s */
        db_bind_text(st, 1, arn);
        sqlite3_bind_int64(st, 2, start);
        sqlite3_bind_int64(st, 3, start + 60000);
        sqlite3_bind_int64(st, 4, 60000);
        assert_int_equal(db_exec_stmt(db, st, &err), 0);
    }
    exec_sql("COMMIT");
    struct metering_query q = {
        .account = "210987654321", .by = METERING_BY_CLUSTER, .now_ms = T0 + 2 * 86400000LL};
    json_t *out = NULL;
    assert_int_equal(metering_report(&m, db, &q, &out, &err), 0);
    json_t *c = json_get_object(out, "ec2Comparison");
    assert_non_null(c);
    /* The period runs from T0 to T0 + 86400 s: ceil(86400 / 500) = 173. */
    assert_int_equal(json_get_int(c, "granularitySeconds", 0), 173);
    assert_int_equal(json_get_int(json_get_object(out, "total"), "tasks", 0), 1000);
    json_decref(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_parse),  cmocka_unit_test(test_records),
        cmocka_unit_test(test_samples),      cmocka_unit_test(test_report),
        cmocka_unit_test(test_report_large),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
