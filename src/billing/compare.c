/* The Fargate-or-EC2 comparison: slices of concurrent reservations, the
 * cheapest fixed and per-slice fleets, and the break-even concurrency. */
#include "billing/compare.h"
#include "billing/billing-internal.h"
#include "billing/money.h"
#include "base/error.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESIZABLE_BUDGET 20000000L /* exact-search nodes shared by all per-slice fleets */

struct event {
    int64_t slice;
    int32_t kind;
    int32_t delta;
};

/* A stretch of slices with the same tasks present: counts per kind. */
struct run {
    int32_t *counts;
    int64_t ms;
};

static int cmp_event(const void *pa, const void *pb)
{
    const struct event *a = pa, *b = pb;
    return (a->slice > b->slice) - (a->slice < b->slice);
}

static int cmp_run(const void *pa, const void *pb, void *nkinds)
{
    const struct run *a = pa, *b = pb;
    return memcmp(a->counts, b->counts, *(size_t *)nkinds * sizeof(int32_t));
}

static int cmp_sum_desc(const void *pa, const void *pb, void *sums)
{
    int64_t a = ((int64_t *)sums)[*(const size_t *)pa], b = ((int64_t *)sums)[*(const size_t *)pb];
    if (a != b)
        return a > b ? -1 : 1;
    return (*(const size_t *)pa > *(const size_t *)pb) -
           (*(const size_t *)pa < *(const size_t *)pb);
}

/* Expands a count vector into items. */
static size_t expand(const int32_t *counts, const struct billing_item *kinds, size_t nk,
                     struct billing_item **ret)
{
    size_t n = 0;
    for (size_t k = 0; k < nk; k++)
        n += (size_t)counts[k];
    struct billing_item *items = xcalloc(n ? n : 1, sizeof(*items));
    size_t i = 0;
    for (size_t k = 0; k < nk; k++)
        for (int32_t j = 0; j < counts[k]; j++)
            items[i++] = kinds[k];
    *ret = items;
    return n;
}

static bool dominated(const int32_t *v, const int32_t *w, size_t nk)
{
    for (size_t k = 0; k < nk; k++)
        if (v[k] > w[k])
            return false;
    return true;
}

static int64_t vec_sum(const int32_t *v, size_t nk)
{
    int64_t s = 0;
    for (size_t k = 0; k < nk; k++)
        s += v[k];
    return s;
}

int billing_compare_ec2(const struct billing_usage *u, size_t n, const struct billing_schedule *s,
                        const struct billing_instance_table *t,
                        const struct billing_compare_opts *o, struct billing_comparison *ret,
                        struct error **err)
{
    struct billing_comparison c = {.tasks = n,
                                   .feasible = true,
                                   .breakeven_milli = -1,
                                   .breakeven_util_permille = -1,
                                   .resizable_exact = true};
    c.granularity_s = o && o->granularity_s ? o->granularity_s : 60;
    bool any_arch = o && o->any_arch;
    if (c.granularity_s < 1 || c.granularity_s > 86400)
        return error_set(err, EINVAL, ERR_INVALID, "granularity must be 1..86400 seconds");
    int64_t g = (int64_t)c.granularity_s * 1000;

    struct billing_item kinds[BILLING_KINDS_MAX];
    size_t nk = 0;
    int32_t *kind_of = xcalloc(n ? n : 1, sizeof(*kind_of));
    int64_t *starts = xcalloc(n ? n : 1, sizeof(*starts));
    struct event *ev = xcalloc(2 * n + 1, sizeof(*ev));
    struct run *runs = NULL;
    int32_t *vecs = NULL;
    struct billing_slice *slices = NULL;
    size_t nruns = 0, nmax = 0;
    int r = 0;

    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        struct billing_cost cost;
        r = billing_usage_cost(&u[i], s, &cost, err);
        if (r < 0) {
            error_wrap(err, "usage record %zu", i);
            goto out;
        }
        c.tasks_nd += cost.total_nd;
        c.task_run_ms += cost.run_ms;
        starts[i] = cost.start_ms;
        if (cost.start_ms < lo)
            lo = cost.start_ms;
        if (u[i].stopped_ms > hi)
            hi = u[i].stopped_ms;
        struct billing_item it = {u[i].cpu_units, u[i].memory_mib, u[i].arch};
        size_t k = 0;
        while (k < nk && memcmp(&kinds[k], &it, sizeof(it)) != 0)
            k++;
        if (k == nk) {
            if (nk == BILLING_KINDS_MAX) {
                r = error_set(err, E2BIG, ERR_INVALID, "more than %d distinct task sizes",
                              BILLING_KINDS_MAX);
                goto out;
            }
            memset(&kinds[nk], 0, sizeof(kinds[nk]));
            kinds[nk] = it;
            nk++;
        }
        kind_of[i] = (int32_t)k;
    }
    if (n == 0)
        goto done;
    if (o && o->since_ms && o->since_ms < lo)
        lo = o->since_ms;
    if (o && o->until_ms && o->until_ms > hi)
        hi = o->until_ms;
    c.period_start_ms = lo;
    c.period_ms = hi - lo;
    int64_t nslices = c.period_ms > 0 ? (c.period_ms + g - 1) / g : 1;
    if (nslices > BILLING_SLICES_MAX) {
        r = error_set(err, E2BIG, ERR_INVALID, "%lld slices of %d s: use a coarser granularity",
                      (long long)nslices, c.granularity_s);
        goto out;
    }
    c.avg_concurrency_milli =
        c.period_ms > 0 ? div_round((__int128)c.task_run_ms * 1000, c.period_ms) : 0;

    /* Each task is present from the slice of its start to the slice of its
     * last millisecond. */
    for (size_t i = 0; i < n; i++) {
        int64_t first = (starts[i] - lo) / g;
        int64_t last = u[i].stopped_ms > starts[i] ? (u[i].stopped_ms - 1 - lo) / g : first;
        ev[2 * i] = (struct event){first, kind_of[i], +1};
        ev[2 * i + 1] = (struct event){last + 1, kind_of[i], -1};
    }
    qsort(ev, 2 * n, sizeof(*ev), cmp_event);
    vecs = xcalloc((2 * n + 1) * nk, sizeof(*vecs));
    runs = xcalloc(2 * n + 1, sizeof(*runs));
    int32_t *cur = xcalloc(nk, sizeof(*cur));
    int64_t at = 0;
    for (size_t e = 0; e <= 2 * n; e++) {
        int64_t next = e < 2 * n ? ev[e].slice : nslices;
        if (next > nslices)
            next = nslices;
        if (next > at) {
            int64_t from = lo + at * g;
            int64_t to = next == nslices ? lo + c.period_ms : lo + next * g;
            runs[nruns].counts = vecs + nruns * nk;
            memcpy(runs[nruns].counts, cur, nk * sizeof(*cur));
            runs[nruns].ms = to - from;
            nruns++;
            at = next;
        }
        if (e < 2 * n)
            cur[ev[e].kind] += ev[e].delta;
    }
    free(cur);

    /* Merge equal vectors. */
    qsort_r(runs, nruns, sizeof(*runs), cmp_run, &nk);
    size_t nd = 0;
    for (size_t i = 0; i < nruns; i++) {
        if (nd > 0 && memcmp(runs[nd - 1].counts, runs[i].counts, nk * sizeof(int32_t)) == 0)
            runs[nd - 1].ms += runs[i].ms;
        else
            runs[nd++] = runs[i];
    }
    nruns = nd;

    /* The fleet must hold the vectors no other vector contains. */
    size_t *order = xcalloc(nruns, sizeof(*order));
    size_t *maximal = xcalloc(nruns, sizeof(*maximal));
    int64_t *sums = xcalloc(nruns + 1, sizeof(*sums));
    for (size_t i = 0; i < nruns; i++) {
        order[i] = i;
        sums[i] = vec_sum(runs[i].counts, nk);
        if (sums[i] > c.peak_tasks)
            c.peak_tasks = (int32_t)sums[i];
    }
    /* Largest first: a vector can only be contained in one at least as big. */
    qsort_r(order, nruns, sizeof(*order), cmp_sum_desc, sums);
    for (size_t i = 0; i < nruns; i++) {
        bool dom = false;
        for (size_t m = 0; m < nmax && !dom; m++)
            dom = dominated(runs[order[i]].counts, runs[maximal[m]].counts, nk);
        if (!dom)
            maximal[nmax++] = order[i];
    }
    slices = xcalloc(nmax + 1, sizeof(*slices));
    for (size_t m = 0; m < nmax; m++) {
        struct billing_item *items;
        slices[m].n = expand(runs[maximal[m]].counts, kinds, nk, &items);
        slices[m].items = items;
    }
    free(order);
    free(maximal);
    free(sums);

    struct error *fit_err = NULL;
    r = billing_fleet_cheapest(t, slices, nmax, any_arch, &c.fleet, &fit_err);
    if (r == -ENOSPC) {
        c.feasible = false;
        snprintf(c.why, sizeof(c.why), "%s", fit_err->msg);
        error_free(fit_err);
        r = 0;
        goto done;
    }
    if (r < 0) {
        if (err && !*err)
            *err = fit_err;
        else
            error_free(fit_err);
        goto out;
    }
    c.fixed_nd = div_round((__int128)c.fleet.hour_nd * c.period_ms, MS_PER_HOUR);

    /* The per-slice fleets share one search budget. */
    long budget = nruns ? RESIZABLE_BUDGET / (long)nruns : 0;
    __int128 resizable = 0;
    for (size_t i = 0; i < nruns; i++) {
        struct billing_item *items;
        struct billing_slice one = {.n = expand(runs[i].counts, kinds, nk, &items)};
        one.items = items;
        struct billing_fleet f;
        r = billing_fleet_cheapest_within(t, &one, 1, any_arch, budget, &f, err);
        free(items);
        if (r < 0)
            goto out;
        resizable += (__int128)f.hour_nd * runs[i].ms;
        c.resizable_exact = c.resizable_exact && f.exact;
    }
    c.resizable_nd = div_round(resizable, MS_PER_HOUR);

    if (c.tasks_nd > 0 && c.period_ms > 0) {
        c.breakeven_milli = div_round((__int128)c.task_run_ms * c.fixed_nd * 1000,
                                      (__int128)c.period_ms * c.tasks_nd);
        if (c.peak_tasks > 0)
            c.breakeven_util_permille =
                (int32_t)div_round((__int128)c.breakeven_milli, c.peak_tasks);
    }
done:
    *ret = c;
    r = 0;
out:
    for (size_t m = 0; slices && m < nmax; m++)
        free((void *)slices[m].items);
    free(slices);
    free(runs);
    free(vecs);
    free(ev);
    free(starts);
    free(kind_of);
    return r;
}

/* "3.67" from 3670 thousandths. */
static void fmt_milli(int64_t milli, char *out, size_t size)
{
    int64_t centi = div_round(milli, 10);
    snprintf(out, size, "%s%lld.%02lld", centi < 0 ? "-" : "", llabs(centi) / 100,
             llabs(centi) % 100);
}

void billing_comparison_format(const struct billing_comparison *c,
                               const struct billing_instance_table *t, struct buf *out)
{
    char x[48], y[48], z[32], a[32], fleet[512];
    if (c->tasks == 0) {
        buf_puts(out, "No tasks ran in this period.");
        return;
    }
    billing_money_format_auto(c->tasks_nd, x, sizeof(x));
    if (!c->feasible) {
        buf_printf(out, "This workload cost %s as tasks; %s, so there is no EC2 fleet to compare.",
                   x, c->why);
        return;
    }
    billing_money_format_auto(c->fixed_nd, y, sizeof(y));
    billing_fleet_format(t, &c->fleet, fleet, sizeof(fleet));
    fmt_milli(c->avg_concurrency_milli, a, sizeof(a));
    buf_printf(out, "This workload cost %s as tasks; %s for the same hours would have cost %s", x,
               fleet, y);
    if (c->breakeven_milli >= 0) {
        fmt_milli(c->breakeven_milli, z, sizeof(z));
        buf_printf(out, "; tasks stay cheaper while average concurrency is below %s", z);
    }
    buf_printf(out, " (it was %s, peak %d).", a, c->peak_tasks);
    billing_money_format_auto(c->resizable_nd, y, sizeof(y));
    if (c->granularity_s % 60 == 0)
        buf_printf(out, " A fleet resized every %d min would have cost %s.", c->granularity_s / 60,
                   y);
    else
        buf_printf(out, " A fleet resized every %d s would have cost %s.", c->granularity_s, y);
}
