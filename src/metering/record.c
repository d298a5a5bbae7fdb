/* Usage records and samples: the scheduler's metering hooks. */
#include "metering/metering.h"
#include "metering/metering-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "billing/cost.h"
#include "store/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int metering_init(struct metering *m, const char *path, bool required, struct error **err)
{
    billing_config_init(&m->cfg);
    if (!path)
        return 0;
    if (!required && access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    int r = billing_config_load(&m->cfg, path, err);
    if (r < 0) {
        billing_config_done(&m->cfg);
        return error_wrap(err, "billing config %s", path);
    }
    return 0;
}

void metering_done(struct metering *m)
{
    billing_config_done(&m->cfg);
}

enum billing_arch metering_arch_of(const char *taskdef_json)
{
    enum billing_arch a = BILLING_ARCH_X86_64;
    json_t *td = json_parse_trusted(taskdef_json);
    const char *s = json_get_str(json_get_object(td, "runtimePlatform"), "cpuArchitecture");
    if (s && billing_arch_parse(s, &a) < 0)
        a = BILLING_ARCH_X86_64;
    json_decref(td);
    return a;
}

int metering_samples_summary(struct db *db, const char *task_arn, struct billing_utilisation *ret,
                             size_t *ret_n, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT t_ms, cpu_usec, memory_bytes, memory_peak_bytes "
                               "FROM usage_samples WHERE task_arn = ?1 ORDER BY t_ms LIMIT 100000",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    struct billing_sample *s = NULL;
    size_t n = 0, cap = 0;
    int64_t peak = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            s = xrealloc(s, cap * sizeof(*s));
        }
        s[n].t_ms = sqlite3_column_int64(st, 0);
        s[n].cpu_usec = sqlite3_column_int64(st, 1);
        s[n].memory_bytes = sqlite3_column_int64(st, 2);
        int64_t p = sqlite3_column_int64(st, 3);
        if (p > peak)
            peak = p;
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(s);
        return db_fail(db, err, "read usage samples");
    }
    struct billing_utilisation u = {0};
    int r = n ? billing_samples_summarise(s, n, &u, err) : 0;
    free(s);
    if (r < 0)
        return r;
    if (peak > u.mem_peak_bytes)
        u.mem_peak_bytes = peak;
    *ret = u;
    *ret_n = n;
    return 0;
}

/* The task's tags as a JSON object text. */
static int task_tags(struct db *db, const char *arn, char **ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT key, value FROM tags WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    json_t *o = json_object();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(o, db_col_text(st, 0), json_string(db_col_text(st, 1)));
    sqlite3_reset(st);
    *ret = json_dump_compact(o);
    json_decref(o);
    return 0;
}

int metering_task_stopped(void *arg, struct db *db, const char *task_arn, struct error **err)
{
    const struct metering *m = arg;
    sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM usage_records WHERE task_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    bool exists = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    if (exists)
        return 0;

    st = db_stmt(db,
                 "SELECT account, cluster_arn, family, taskdef_arn, grp, started_by, cpu, memory,"
                 " ephemeral_gib, taskdef, created_at, pull_started_at, stopped_at"
                 " FROM tasks WHERE arn = ?1 AND node IS NOT NULL AND stopped_at IS NOT NULL",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return 0;
    }
    _cleanup_free_ char *account = xstrdup(db_col_text(st, 0));
    _cleanup_free_ char *cluster = xstrdup(db_col_text(st, 1));
    _cleanup_free_ char *family = xstrdup(db_col_text(st, 2));
    _cleanup_free_ char *taskdef_arn = xstrdup(db_col_text(st, 3));
    _cleanup_free_ char *grp =
        sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : xstrdup(db_col_text(st, 4));
    _cleanup_free_ char *started_by =
        sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : xstrdup(db_col_text(st, 5));
    struct billing_usage u = {
        .cpu_units = (int32_t)sqlite3_column_int64(st, 6),
        .memory_mib = (int32_t)sqlite3_column_int64(st, 7),
        .ephemeral_gib = (int32_t)sqlite3_column_int64(st, 8),
        .arch = metering_arch_of(db_col_text(st, 9)),
        .created_ms = sqlite3_column_int64(st, 10),
        .pull_started_ms = sqlite3_column_int64(st, 11), /* NULL reads as 0: not pulled */
        .stopped_ms = sqlite3_column_int64(st, 12),
    };
    sqlite3_reset(st);

    struct billing_cost c;
    int r = billing_usage_cost(&u, &m->cfg.schedule, &c, err);
    if (r < 0)
        return error_wrap(err, "usage record of %s", task_arn);
    struct billing_utilisation use = {0};
    size_t n = 0;
    if ((r = metering_samples_summary(db, task_arn, &use, &n, err)) < 0)
        return r;
    _cleanup_free_ char *tags = NULL;
    if ((r = task_tags(db, task_arn, &tags, err)) < 0)
        return r;

    st = db_stmt(db,
                 "INSERT INTO usage_records (task_arn, account, cluster_arn, family, taskdef_arn,"
                 " grp, started_by, tags, cpu, memory, ephemeral_gib, arch, created_at,"
                 " pull_started_at, stopped_at, billed_ms, vcpu_nd, memory_nd, storage_nd,"
                 " total_nd, samples, use_wall_ms, use_cpu_usec, cpu_avg_milli, cpu_p95_milli,"
                 " mem_avg_bytes, mem_peak_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                 " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,"
                 " ?25, ?26, ?27)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    db_bind_text(st, 2, account);
    db_bind_text(st, 3, cluster);
    db_bind_text(st, 4, family);
    db_bind_text(st, 5, taskdef_arn);
    db_bind_text(st, 6, grp);
    db_bind_text(st, 7, started_by);
    db_bind_text(st, 8, tags);
    sqlite3_bind_int64(st, 9, u.cpu_units);
    sqlite3_bind_int64(st, 10, u.memory_mib);
    sqlite3_bind_int64(st, 11, u.ephemeral_gib);
    db_bind_text(st, 12, billing_arch_name(u.arch));
    sqlite3_bind_int64(st, 13, u.created_ms);
    if (u.pull_started_ms)
        sqlite3_bind_int64(st, 14, u.pull_started_ms);
    else
        sqlite3_bind_null(st, 14);
    sqlite3_bind_int64(st, 15, u.stopped_ms);
    sqlite3_bind_int64(st, 16, c.billed_ms);
    sqlite3_bind_int64(st, 17, c.vcpu_nd);
    sqlite3_bind_int64(st, 18, c.memory_nd);
    sqlite3_bind_int64(st, 19, c.storage_nd);
    sqlite3_bind_int64(st, 20, c.total_nd);
    sqlite3_bind_int64(st, 21, (sqlite3_int64)n);
    sqlite3_bind_int64(st, 22, use.wall_ms);
    sqlite3_bind_int64(st, 23, use.cpu_usec);
    sqlite3_bind_int64(st, 24, use.cpu_avg_milli);
    sqlite3_bind_int64(st, 25, use.cpu_p95_milli);
    sqlite3_bind_int64(st, 26, use.mem_avg_bytes);
    sqlite3_bind_int64(st, 27, use.mem_peak_bytes);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    /* The summary is kept; the series is not needed any more. */
    st = db_stmt(db, "DELETE FROM usage_samples WHERE task_arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, task_arn);
    return db_exec_stmt(db, st, err);
}

int metering_stats_apply(void *arg, struct db *db, const json_t *msg, struct error **err)
{
    (void)arg;
    const char *arn = json_get_str(msg, "taskArn");
    const json_t *s = json_get_object(msg, "stats");
    json_int_t t = json_get_int(s, "t", -1), cpu = json_get_int(s, "cpuUsec", -1),
               mem = json_get_int(s, "memoryBytes", -1),
               peak = json_get_int(s, "memoryPeakBytes", 0);
    if (!arn || t <= 0 || cpu < 0 || mem < 0 || peak < 0)
        return 0; /* malformed: dropped, as a lost sample would be */
    /* Only for a known task without a record: a sample racing the STOPPED
     * report is dropped instead of lingering. */
    sqlite3_stmt *st =
        db_stmt(db,
                "INSERT OR IGNORE INTO usage_samples (task_arn, t_ms, cpu_usec, memory_bytes,"
                " memory_peak_bytes) SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tasks"
                " WHERE arn = ?1) AND NOT EXISTS (SELECT 1 FROM usage_records WHERE task_arn = ?1)",
                err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    sqlite3_bind_int64(st, 2, t);
    sqlite3_bind_int64(st, 3, cpu);
    sqlite3_bind_int64(st, 4, mem);
    sqlite3_bind_int64(st, 5, peak);
    return db_exec_stmt(db, st, err);
}
