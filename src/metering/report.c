/* The cost report: usage records plus running tasks, grouped, with
 * utilisation, idle cost, right-sizing and the EC2 comparison. */
#include "metering/metering.h"
#include "metering/metering-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "billing/compare.h"
#include "billing/cost.h"
#include "billing/rightsize.h"
#include "store/db.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_ROWS_MAX 1000000 /* tasks in one report */
#define TAG_KEY_MAX     128
/* Slices x tasks the EC2 comparison may pack before its slices get longer. */
#define COMPARE_WORK_MAX 500000

/* One task in the report. */
struct row {
    char *arn, *cluster, *family, *service;
    json_t *tags;
    bool running;
    struct billing_usage u;
    struct billing_cost cost;
    size_t samples;
    struct billing_utilisation use;
    bool advised;
    struct billing_advice adv;
};

/* Sums of one group. */
struct group {
    char *key;
    const struct row *only; /* the task, when grouped by task */
    int64_t tasks, running, billed_ms, vcpu_nd, memory_nd, storage_nd, total_nd, idle_nd,
        savings_nd;
    int64_t sampled_ms;
    __int128 cpu_used_usec, cpu_reserved_usec; /* over sampled time */
    __int128 mem_used, mem_reserved;           /* byte-milliseconds over sampled time */
    int32_t cpu_p95_milli;
    int64_t mem_peak_bytes;
    json_t *sizing; /* "cpu/mem>cpu/mem" -> {tasks, costs} */
};

int metering_group_parse(const char *s, enum metering_group *ret_by, const char **ret_tag_key)
{
    static const struct {
        const char *name;
        enum metering_group by;
    } names[] = {
        {"cluster", METERING_BY_CLUSTER},
        {"service", METERING_BY_SERVICE},
        {"family", METERING_BY_FAMILY},
        {"task", METERING_BY_TASK},
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(s, names[i].name)) {
            *ret_by = names[i].by;
            *ret_tag_key = NULL;
            return 0;
        }
    if (!strncmp(s, "tag:", 4) && s[4] && strlen(s + 4) <= TAG_KEY_MAX) {
        *ret_by = METERING_BY_TAG;
        *ret_tag_key = s + 4;
        return 0;
    }
    return -EINVAL;
}

static void row_done(struct row *r)
{
    free(r->arn);
    free(r->cluster);
    free(r->family);
    free(r->service);
    json_decref(r->tags);
}

/* ECS puts a service's tasks in group "service:NAME". */
static char *service_of(const char *grp)
{
    if (grp && !strncmp(grp, "service:", 8) && grp[8])
        return xstrdup(grp + 8);
    return xstrdup("-");
}

struct rows {
    struct row *v;
    size_t n, cap;
};

static struct row *rows_add(struct rows *rs)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 32;
        rs->v = xrealloc(rs->v, rs->cap * sizeof(*rs->v));
    }
    struct row *r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void rows_done(struct rows *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        row_done(&rs->v[i]);
    free(rs->v);
}

/* Records whose billed interval [start, start + billed) overlaps [since,
 * until). The billed end is at most a minute past the stop, which lets the
 * (account, stopped_at) index narrow the scan. */
static int load_records(struct db *db, const struct metering_query *q, int64_t until,
                        struct rows *rs, struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        db,
        "SELECT task_arn, cluster_arn, family, grp, tags, cpu, memory, ephemeral_gib, arch,"
        " created_at, COALESCE(pull_started_at, 0), stopped_at, billed_ms, vcpu_nd, memory_nd,"
        " storage_nd, total_nd, samples, use_wall_ms, use_cpu_usec, cpu_avg_milli, cpu_p95_milli,"
        " mem_avg_bytes, mem_peak_bytes FROM usage_records WHERE account = ?1"
        " AND stopped_at >= ?2 - 60000 AND COALESCE(pull_started_at, created_at) + billed_ms > ?2"
        " AND COALESCE(pull_started_at, created_at) < ?3 ORDER BY COALESCE(pull_started_at,"
        " created_at), task_arn",
        err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, q->account);
    sqlite3_bind_int64(st, 2, q->since_ms);
    sqlite3_bind_int64(st, 3, until);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rs->n >= REPORT_ROWS_MAX) {
            sqlite3_reset(st);
            return error_set(err, E2BIG, ERR_INVALID,
                             "more than %d tasks in the period: choose a shorter one",
                             REPORT_ROWS_MAX);
        }
        struct row *r = rows_add(rs);
        r->arn = xstrdup(db_col_text(st, 0));
        r->cluster = xstrdup(db_col_text(st, 1));
        r->family = xstrdup(db_col_text(st, 2));
        r->service =
            service_of(sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : db_col_text(st, 3));
        r->tags = json_parse_trusted(db_col_text(st, 4));
        r->u.cpu_units = (int32_t)sqlite3_column_int64(st, 5);
        r->u.memory_mib = (int32_t)sqlite3_column_int64(st, 6);
        r->u.ephemeral_gib = (int32_t)sqlite3_column_int64(st, 7);
        if (billing_arch_parse(db_col_text(st, 8), &r->u.arch) < 0)
            r->u.arch = BILLING_ARCH_X86_64;
        r->u.created_ms = sqlite3_column_int64(st, 9);
        r->u.pull_started_ms = sqlite3_column_int64(st, 10);
        r->u.stopped_ms = sqlite3_column_int64(st, 11);
        r->cost.start_ms = r->u.pull_started_ms ? r->u.pull_started_ms : r->u.created_ms;
        r->cost.run_ms = r->u.stopped_ms - r->cost.start_ms;
        r->cost.billed_ms = sqlite3_column_int64(st, 12);
        r->cost.vcpu_nd = sqlite3_column_int64(st, 13);
        r->cost.memory_nd = sqlite3_column_int64(st, 14);
        r->cost.storage_nd = sqlite3_column_int64(st, 15);
        r->cost.total_nd = sqlite3_column_int64(st, 16);
        r->samples = (size_t)sqlite3_column_int64(st, 17);
        r->use.wall_ms = sqlite3_column_int64(st, 18);
        r->use.cpu_usec = sqlite3_column_int64(st, 19);
        r->use.cpu_avg_milli = (int32_t)sqlite3_column_int64(st, 20);
        r->use.cpu_p95_milli = (int32_t)sqlite3_column_int64(st, 21);
        r->use.mem_avg_bytes = sqlite3_column_int64(st, 22);
        r->use.mem_peak_bytes = sqlite3_column_int64(st, 23);
        r->use.intervals = r->use.wall_ms > 0 ? 1 : 0; /* only "some" matters below */
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, err, "read usage records");
    return 0;
}

/* Tasks on a node that have not stopped (or stopped without a record yet),
 * billed up to now. A task neither pulling nor started is not billed yet. */
static int load_running(const struct metering *m, struct db *db, const struct metering_query *q,
                        int64_t until, struct rows *rs, struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        db,
        "SELECT arn, cluster_arn, family, grp, cpu, memory, ephemeral_gib, taskdef, created_at,"
        " COALESCE(pull_started_at, 0) FROM tasks WHERE account = ?1 AND node IS NOT NULL"
        " AND last_status != 'STOPPED' AND (pull_started_at IS NOT NULL OR started_at IS NOT"
        " NULL) AND COALESCE(pull_started_at, created_at) < ?2 ORDER BY created_at, arn",
        err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, q->account);
    sqlite3_bind_int64(st, 2, until);
    size_t first = rs->n;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rs->n >= REPORT_ROWS_MAX)
            break;
        struct row *r = rows_add(rs);
        r->running = true;
        r->arn = xstrdup(db_col_text(st, 0));
        r->cluster = xstrdup(db_col_text(st, 1));
        r->family = xstrdup(db_col_text(st, 2));
        r->service =
            service_of(sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : db_col_text(st, 3));
        r->u.cpu_units = (int32_t)sqlite3_column_int64(st, 4);
        r->u.memory_mib = (int32_t)sqlite3_column_int64(st, 5);
        r->u.ephemeral_gib = (int32_t)sqlite3_column_int64(st, 6);
        r->u.arch = metering_arch_of(db_col_text(st, 7));
        r->u.created_ms = sqlite3_column_int64(st, 8);
        r->u.pull_started_ms = sqlite3_column_int64(st, 9);
        int64_t start = r->u.pull_started_ms ? r->u.pull_started_ms : r->u.created_ms;
        r->u.stopped_ms = q->now_ms > start ? q->now_ms : start;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(db, err, "read running tasks");
    /* Second pass: tags, samples and cost need the store again. */
    for (size_t i = first; i < rs->n; i++) {
        struct row *r = &rs->v[i];
        int ret = billing_usage_cost(&r->u, &m->cfg.schedule, &r->cost, err);
        if (ret < 0)
            return error_wrap(err, "task %s", r->arn);
        if ((ret = metering_samples_summary(db, r->arn, &r->use, &r->samples, err)) < 0)
            return ret;
        st = db_stmt(db, "SELECT key, value FROM tags WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, r->arn);
        r->tags = json_object();
        while (sqlite3_step(st) == SQLITE_ROW)
            json_object_set_new(r->tags, db_col_text(st, 0), json_string(db_col_text(st, 1)));
        sqlite3_reset(st);
    }
    return 0;
}

static const char *group_key(const struct metering_query *q, const struct row *r)
{
    switch (q->by) {
    case METERING_BY_CLUSTER:
        return r->cluster;
    case METERING_BY_SERVICE:
        return r->service;
    case METERING_BY_FAMILY:
        return r->family;
    case METERING_BY_TASK:
        return r->arn;
    case METERING_BY_TAG: {
        const char *v = json_get_str(r->tags, q->tag_key);
        return v ? v : "-";
    }
    }
    return "-";
}

static void group_add(struct group *g, const struct row *r)
{
    g->tasks++;
    g->running += r->running;
    g->billed_ms += r->cost.billed_ms;
    g->vcpu_nd += r->cost.vcpu_nd;
    g->memory_nd += r->cost.memory_nd;
    g->storage_nd += r->cost.storage_nd;
    g->total_nd += r->cost.total_nd;
    if (r->use.wall_ms > 0) {
        g->sampled_ms += r->use.wall_ms;
        g->cpu_used_usec += r->use.cpu_usec;
        g->cpu_reserved_usec += (__int128)r->u.cpu_units * r->use.wall_ms * 1000 / 1024;
        g->mem_used += (__int128)r->use.mem_avg_bytes * r->use.wall_ms;
        g->mem_reserved += (__int128)r->u.memory_mib * 1048576 * r->use.wall_ms;
    }
    if (r->use.cpu_p95_milli > g->cpu_p95_milli)
        g->cpu_p95_milli = r->use.cpu_p95_milli;
    if (r->use.mem_peak_bytes > g->mem_peak_bytes)
        g->mem_peak_bytes = r->use.mem_peak_bytes;
    if (!r->advised)
        return;
    g->idle_nd += r->adv.idle_nd;
    if (!r->adv.has_recommendation)
        return;
    g->savings_nd += r->adv.savings_nd;
    char k[64];
    snprintf(k, sizeof(k), "%d/%d>%d/%d", r->u.cpu_units, r->u.memory_mib,
             r->adv.recommended.cpu_units, r->adv.recommended.memory_mib);
    json_t *e = json_object_get(g->sizing, k);
    if (!e) {
        e = json_pack("{s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I}", "cpu", r->u.cpu_units, "memory",
                      r->u.memory_mib, "recommendedCpu", r->adv.recommended.cpu_units,
                      "recommendedMemory", r->adv.recommended.memory_mib, "tasks", (json_int_t)0,
                      "costNanoUsd", (json_int_t)0, "recommendedCostNanoUsd", (json_int_t)0,
                      "savingsNanoUsd", (json_int_t)0);
        json_object_set_new(g->sizing, k, e);
    }
    static const char *const keys[] = {"tasks", "costNanoUsd", "recommendedCostNanoUsd",
                                       "savingsNanoUsd"};
    const int64_t add[] = {1, r->adv.current_nd, r->adv.recommended_nd, r->adv.savings_nd};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        json_object_set_new(e, keys[i], json_integer(json_get_int(e, keys[i], 0) + add[i]));
}

static double percent(__int128 num, __int128 den)
{
    return den > 0 ? (double)num * 100.0 / (double)den : 0.0;
}

static json_t *group_json(const struct group *g)
{
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "key", g->key, "tasks",
                  (json_int_t)g->tasks, "runningTasks", (json_int_t)g->running, "billedSeconds",
                  (json_int_t)(g->billed_ms / 1000), "vcpuCostNanoUsd", (json_int_t)g->vcpu_nd,
                  "memoryCostNanoUsd", (json_int_t)g->memory_nd, "storageCostNanoUsd",
                  (json_int_t)g->storage_nd, "costNanoUsd", (json_int_t)g->total_nd,
                  "idleCostNanoUsd", (json_int_t)g->idle_nd, "savingsNanoUsd",
                  (json_int_t)g->savings_nd, "sampledSeconds", (json_int_t)(g->sampled_ms / 1000));
    if (g->sampled_ms > 0) {
        json_object_set_new(o, "cpuUtilizationPercent",
                            json_real(percent(g->cpu_used_usec, g->cpu_reserved_usec)));
        json_object_set_new(o, "memoryUtilizationPercent",
                            json_real(percent(g->mem_used, g->mem_reserved)));
        json_object_set_new(o, "cpuP95MilliVcpu", json_integer(g->cpu_p95_milli));
        json_object_set_new(o, "memoryPeakBytes", json_integer(g->mem_peak_bytes));
    }
    json_t *sizing = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(g->sizing, k, v) json_array_append(sizing, v);
    json_object_set_new(o, "rightSizing", sizing);
    if (g->only) {
        const struct row *r = g->only;
        json_object_set_new(o, "cpu", json_integer(r->u.cpu_units));
        json_object_set_new(o, "memory", json_integer(r->u.memory_mib));
        json_object_set_new(o, "ephemeralStorageGiB",
                            json_integer(r->u.ephemeral_gib ? r->u.ephemeral_gib : 20));
        json_set_str(o, "architecture", billing_arch_name(r->u.arch));
        json_object_set_new(o, "billingStartedAt", json_timestamp(r->cost.start_ms));
        if (!r->running)
            json_object_set_new(o, "stoppedAt", json_timestamp(r->u.stopped_ms));
    }
    return o;
}

static double milli(int64_t v)
{
    return (double)v / 1000.0;
}

static json_t *comparison_json(const struct metering *m, const struct rows *rs,
                               const struct metering_query *q, int64_t until, struct error **err)
{
    struct billing_usage *u = xmalloc((rs->n ? rs->n : 1) * sizeof(*u));
    int64_t first = q->since_ms ? q->since_ms : INT64_MAX, last = q->until_ms ? until : 0;
    for (size_t i = 0; i < rs->n; i++) {
        u[i] = rs->v[i].u;
        int64_t start = rs->v[i].cost.start_ms;
        if (start < first)
            first = start;
        if (u[i].stopped_ms > last)
            last = u[i].stopped_ms;
    }
    /* The packing costs about slices x reservations: past a budget the
     * slices get longer (which overstates concurrency a little, the price
     * of an answer in a second or so; granularitySeconds says which). */
    int64_t g = m->cfg.granularity_s;
    if (rs->n && last > first) {
        int64_t max_slices = COMPARE_WORK_MAX / (int64_t)rs->n;
        if (max_slices < 1)
            max_slices = 1;
        int64_t need = ((last - first) / 1000 + max_slices - 1) / max_slices;
        if (need > g)
            g = need < 86400 ? need : 86400;
    }
    struct billing_compare_opts o = {
        .since_ms = q->since_ms,
        .until_ms = q->until_ms ? until : 0,
        .granularity_s = (int32_t)g,
    };
    struct billing_comparison c;
    int r = billing_compare_ec2(u, rs->n, &m->cfg.schedule, &m->cfg.instances, &o, &c, err);
    free(u);
    if (r < 0)
        return NULL;
    struct buf b;
    buf_init(&b, 256);
    billing_comparison_format(&c, &m->cfg.instances, &b);
    char fleet[512];
    billing_fleet_format(&m->cfg.instances, &c.fleet, fleet, sizeof(fleet));
    json_t *out = json_pack(
        "{s:b, s:I, s:s, s:i, s:I, s:I, s:I, s:b, s:b, s:I, s:i, s:i, s:f, s:s%}", "feasible",
        c.feasible, "tasksCostNanoUsd", (json_int_t)c.tasks_nd, "fleet", fleet, "fleetInstances",
        c.fleet.instances, "fleetHourlyNanoUsd", (json_int_t)c.fleet.hour_nd, "fleetCostNanoUsd",
        (json_int_t)c.fixed_nd, "resizableFleetCostNanoUsd", (json_int_t)c.resizable_nd, "exact",
        c.fleet.exact, "resizableExact", c.resizable_exact, "periodSeconds",
        (json_int_t)(c.period_ms / 1000), "granularitySeconds", c.granularity_s, "peakTasks",
        c.peak_tasks, "averageConcurrency", milli(c.avg_concurrency_milli), "sentence", b.data,
        b.len);
    buf_done(&b);
    if (!c.feasible)
        json_set_str(out, "reason", c.why);
    if (c.breakeven_milli >= 0)
        json_object_set_new(out, "breakEvenConcurrency", json_real(milli(c.breakeven_milli)));
    if (c.breakeven_util_permille >= 0)
        json_object_set_new(out, "breakEvenUtilizationPercent",
                            json_real((double)c.breakeven_util_permille / 10.0));
    return out;
}

int metering_report(const struct metering *m, struct db *db, const struct metering_query *q,
                    json_t **ret, struct error **err)
{
    int64_t until = q->until_ms ? q->until_ms : q->now_ms + 1;
    if (q->until_ms && q->since_ms >= q->until_ms)
        return error_set(err, EINVAL, ERR_INVALID, "since must be before until");
    struct rows rs = {0};
    json_t *by_key = json_object();
    struct group *gs = NULL;
    size_t ng = 0;
    json_t *out = NULL;
    int r = load_records(db, q, until, &rs, err);
    if (r == 0)
        r = load_running(m, db, q, until, &rs, err);
    if (r < 0)
        goto out;

    struct group total = {.key = "total", .sizing = json_object()};
    for (size_t i = 0; i < rs.n; i++) {
        struct row *row = &rs.v[i];
        /* Advice needs at least one interval between samples. */
        if (row->use.wall_ms > 0) {
            _cleanup_error_ struct error *e = NULL;
            row->advised = billing_usage_advise(&row->u, &row->use, &m->cfg.schedule,
                                                m->cfg.headroom_percent, &row->adv, &e) == 0;
        }
        const char *k = group_key(q, row);
        json_t *idx = json_object_get(by_key, k);
        size_t gi;
        if (idx) {
            gi = (size_t)json_integer_value(idx);
        } else {
            gi = ng++;
            gs = xrealloc(gs, ng * sizeof(*gs));
            memset(&gs[gi], 0, sizeof(gs[gi]));
            gs[gi].key = xstrdup(k);
            gs[gi].sizing = json_object();
            if (q->by == METERING_BY_TASK)
                gs[gi].only = row;
            json_object_set_new(by_key, k, json_integer((json_int_t)gi));
        }
        group_add(&gs[gi], row);
        group_add(&total, row);
    }
    json_t *groups = json_array();
    for (size_t i = 0; i < ng; i++)
        json_array_append_new(groups, group_json(&gs[i]));
    out = json_object();
    json_object_set_new(out, "groups", groups);
    json_object_set_new(out, "total", group_json(&total));
    json_decref(total.sizing);
    if (q->since_ms)
        json_object_set_new(out, "since", json_timestamp(q->since_ms));
    json_object_set_new(out, "until", json_timestamp(q->until_ms ? q->until_ms : q->now_ms));
    {
        _cleanup_error_ struct error *cerr = NULL;
        json_t *cmp = comparison_json(m, &rs, q, until, &cerr);
        if (cmp)
            json_object_set_new(out, "ec2Comparison", cmp);
        else
            json_object_set_new(out, "ec2ComparisonError",
                                json_string(cerr ? cerr->msg : "failed"));
    }
    *ret = out;
out:
    for (size_t i = 0; i < ng; i++) {
        free(gs[i].key);
        json_decref(gs[i].sizing);
    }
    free(gs);
    json_decref(by_key);
    rows_done(&rs);
    return r;
}
