/* Cheapest fleet of instances for a set of slices of reservations.
 *
 * Three stages (docs/billing.md):
 *  1. a heuristic per slice: best-fit decreasing, opening bins of one
 *     chosen type (each type in turn, and "cheapest that fits"), then
 *     shrinking every bin to the cheapest type that holds its contents;
 *  2. for several slices, the per-type maximum of those fleets (which
 *     holds them all by construction), improved by local search: drop an
 *     instance, or swap one for a cheaper type, while all slices still fit;
 *  3. when the problem is small, an exact branch and bound over fleets
 *     (counts per type, in price order, pruned by a capacity lower bound),
 *     each candidate checked by exhaustive assignment. */
#include "billing/fleet.h"
#include "billing/billing-internal.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_BUDGET     100000L  /* assignment nodes for one exact holds-check */
#define SEARCH_BUDGET    4000000L /* nodes for one whole exact search */
#define MAX_EXACT_SLICES 64       /* slices the exact search takes on */
#define LOCAL_STEPS_MAX  4000     /* holds-checks the local search may spend */
#define LOCAL_STEPS_ONE  256      /* ... for one slice, which stage 1 already shaped */
#define SLOTS            BILLING_ARCH_COUNT
#define INF_ND           INT64_MAX

struct ctx {
    const struct billing_instance_table *t;
    bool any_arch;
    long budget;  /* search nodes left */
    bool gave_up; /* some answer was cut short: the result is not proven */
};

/* A slice's items sorted for packing, and its demand per slot (the
 * architecture, or one pooled slot when any_arch). */
struct prepared {
    struct billing_item *items;
    size_t n;
    int64_t cpu[SLOTS], mem[SLOTS];
};

struct bin {
    int type;
    int32_t cpu, mem; /* free capacity */
};

static int slot(const struct ctx *c, enum billing_arch a)
{
    return c->any_arch ? 0 : (int)a;
}

static bool type_fits(const struct ctx *c, size_t k, int32_t cpu, int32_t mem, enum billing_arch a)
{
    const struct billing_instance_type *ty = &c->t->types[k];
    return (c->any_arch || ty->arch == a) && cpu <= ty->cpu_units && mem <= ty->memory_mib;
}

static bool bin_fits(const struct ctx *c, const struct bin *b, const struct billing_item *it)
{
    return (c->any_arch || c->t->types[b->type].arch == it->arch) && it->cpu_units <= b->cpu &&
           it->memory_mib <= b->mem;
}

static bool same_item(const struct billing_item *a, const struct billing_item *b)
{
    return a->cpu_units == b->cpu_units && a->memory_mib == b->memory_mib && a->arch == b->arch;
}

/* Largest first: one vCPU weighs like 4 GiB, Fargate's common ratio. */
static int cmp_item(const void *pa, const void *pb)
{
    const struct billing_item *a = pa, *b = pb;
    int64_t ka = (int64_t)a->cpu_units * 4 + a->memory_mib;
    int64_t kb = (int64_t)b->cpu_units * 4 + b->memory_mib;
    if (ka != kb)
        return ka > kb ? -1 : 1;
    if (a->cpu_units != b->cpu_units)
        return a->cpu_units > b->cpu_units ? -1 : 1;
    if (a->memory_mib != b->memory_mib)
        return a->memory_mib > b->memory_mib ? -1 : 1;
    return (int)a->arch - (int)b->arch;
}

/* Price and instance count of a fleet. */
static void fleet_sum(const struct ctx *c, const int32_t *count, int64_t *cost, int32_t *n)
{
    *cost = 0;
    *n = 0;
    for (size_t k = 0; k < c->t->n; k++) {
        *cost += count[k] * c->t->types[k].hour_nd;
        *n += count[k];
    }
}

static bool better(int64_t cost, int32_t n, int64_t best_cost, int32_t best_n)
{
    return cost < best_cost || (cost == best_cost && n < best_n);
}

static size_t make_bins(const struct ctx *c, const int32_t *count, struct bin **ret)
{
    size_t nb = 0;
    for (size_t k = 0; k < c->t->n; k++)
        nb += (size_t)count[k];
    struct bin *b = xcalloc(nb ? nb : 1, sizeof(*b));
    size_t i = 0;
    for (size_t k = 0; k < c->t->n; k++)
        for (int32_t j = 0; j < count[k]; j++)
            b[i++] = (struct bin){(int)k, c->t->types[k].cpu_units, c->t->types[k].memory_mib};
    *ret = b;
    return nb;
}

/* Best-fit decreasing into existing bins. */
static bool pack_bfd(const struct ctx *c, const struct prepared *s, struct bin *bins, size_t nb)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct billing_item *it = &s->items[i];
        size_t best = nb;
        int64_t best_left = INT64_MAX;
        for (size_t j = 0; j < nb; j++) {
            if (!bin_fits(c, &bins[j], it))
                continue;
            int64_t left =
                (int64_t)(bins[j].cpu - it->cpu_units) * 4 + bins[j].mem - it->memory_mib;
            if (left < best_left) {
                best_left = left;
                best = j;
            }
        }
        if (best == nb)
            return false;
        bins[best].cpu -= it->cpu_units;
        bins[best].mem -= it->memory_mib;
    }
    return true;
}

/* Exhaustive assignment of at most BILLING_FLEET_EXACT_ITEMS items. */
struct assign {
    const struct ctx *c;
    const struct prepared *s;
    struct bin *bins;
    size_t nb;
    size_t where[BILLING_FLEET_EXACT_ITEMS];
    int64_t free_cpu[SLOTS], free_mem[SLOTS];
    int64_t rest_cpu[BILLING_FLEET_EXACT_ITEMS + 1][SLOTS];
    int64_t rest_mem[BILLING_FLEET_EXACT_ITEMS + 1][SLOTS];
    long budget;
    bool gave_up;
};

static bool assign_from(struct assign *a, size_t i)
{
    if (i == a->s->n)
        return true;
    if (a->budget-- <= 0) {
        a->gave_up = true;
        return false;
    }
    for (int k = 0; k < SLOTS; k++)
        if (a->rest_cpu[i][k] > a->free_cpu[k] || a->rest_mem[i][k] > a->free_mem[k])
            return false;
    const struct billing_item *it = &a->s->items[i];
    /* Identical items go to bins in non-decreasing order, and of several
     * bins in the same state only the first is tried. */
    size_t j0 = i > 0 && same_item(it, &a->s->items[i - 1]) ? a->where[i - 1] : 0;
    int sl = slot(a->c, it->arch);
    for (size_t j = j0; j < a->nb; j++) {
        struct bin *b = &a->bins[j];
        if (!bin_fits(a->c, b, it))
            continue;
        bool twin = false;
        for (size_t k = j0; k < j && !twin; k++)
            twin =
                a->bins[k].type == b->type && a->bins[k].cpu == b->cpu && a->bins[k].mem == b->mem;
        if (twin)
            continue;
        b->cpu -= it->cpu_units;
        b->mem -= it->memory_mib;
        a->free_cpu[sl] -= it->cpu_units;
        a->free_mem[sl] -= it->memory_mib;
        a->where[i] = j;
        bool ok = assign_from(a, i + 1);
        b->cpu += it->cpu_units;
        b->mem += it->memory_mib;
        a->free_cpu[sl] += it->cpu_units;
        a->free_mem[sl] += it->memory_mib;
        if (ok || a->gave_up)
            return ok;
    }
    return false;
}

/* Whether the fleet `count` holds slice s. A false that is not proven sets
 * c->gave_up. */
static bool holds(struct ctx *c, const struct prepared *s, const int32_t *count)
{
    if (s->n == 0)
        return true;
    int64_t cap_cpu[SLOTS] = {0}, cap_mem[SLOTS] = {0};
    for (size_t k = 0; k < c->t->n; k++) {
        int sl = slot(c, c->t->types[k].arch);
        cap_cpu[sl] += (int64_t)count[k] * c->t->types[k].cpu_units;
        cap_mem[sl] += (int64_t)count[k] * c->t->types[k].memory_mib;
    }
    for (int k = 0; k < SLOTS; k++)
        if (s->cpu[k] > cap_cpu[k] || s->mem[k] > cap_mem[k])
            return false;
    struct bin *bins;
    size_t nb = make_bins(c, count, &bins);
    bool ok = pack_bfd(c, s, bins, nb);
    if (!ok && s->n > BILLING_FLEET_EXACT_ITEMS) {
        c->gave_up = true;
    } else if (!ok) {
        free(bins);
        nb = make_bins(c, count, &bins);
        struct assign *a = xzalloc(sizeof(*a));
        *a = (struct assign){.c = c, .s = s, .bins = bins, .nb = nb};
        a->budget = c->budget < CHECK_BUDGET ? c->budget : CHECK_BUDGET;
        memcpy(a->free_cpu, cap_cpu, sizeof(cap_cpu));
        memcpy(a->free_mem, cap_mem, sizeof(cap_mem));
        for (size_t i = s->n; i-- > 0;) {
            memcpy(a->rest_cpu[i], a->rest_cpu[i + 1], sizeof(a->rest_cpu[i]));
            memcpy(a->rest_mem[i], a->rest_mem[i + 1], sizeof(a->rest_mem[i]));
            a->rest_cpu[i][slot(c, s->items[i].arch)] += s->items[i].cpu_units;
            a->rest_mem[i][slot(c, s->items[i].arch)] += s->items[i].memory_mib;
        }
        long before = a->budget;
        ok = assign_from(a, 0);
        c->budget -= before - a->budget;
        if (a->gave_up)
            c->gave_up = true;
        free(a);
    }
    free(bins);
    return ok;
}

static bool holds_all(struct ctx *c, const struct prepared *ps, size_t n, const int32_t *count)
{
    for (size_t i = 0; i < n; i++)
        if (!holds(c, &ps[i], count))
            return false;
    return true;
}

/* The cheapest type holding cpu/mem of architecture a, or -1. */
static int cheapest_type(const struct ctx *c, int32_t cpu, int32_t mem, enum billing_arch a)
{
    int best = -1;
    for (size_t k = 0; k < c->t->n; k++)
        if (type_fits(c, k, cpu, mem, a) &&
            (best < 0 || c->t->types[k].hour_nd < c->t->types[best].hour_nd))
            best = (int)k;
    return best;
}

/* Stage 1 for one slice; writes the fleet to out (t->n counts). */
static void heuristic_slice(const struct ctx *c, const struct prepared *s, int32_t *out)
{
    size_t T = c->t->n;
    memset(out, 0, T * sizeof(*out));
    if (s->n == 0)
        return;
    struct bin *bins = xcalloc(s->n, sizeof(*bins));
    int32_t *used_cpu = xcalloc(s->n, sizeof(*used_cpu));
    int32_t *used_mem = xcalloc(s->n, sizeof(*used_mem));
    enum billing_arch *arch = xcalloc(s->n, sizeof(*arch));
    int32_t *count = xcalloc(T, sizeof(*count));
    int64_t best_cost = INF_ND;
    int32_t best_n = INT32_MAX;
    for (int strat = -1; strat < (int)T; strat++) {
        /* A type that holds none of the items would repeat strategy -1. */
        bool useful = strat < 0;
        for (size_t i = 0; i < s->n && !useful; i++)
            useful = type_fits(c, (size_t)strat, s->items[i].cpu_units, s->items[i].memory_mib,
                               s->items[i].arch);
        if (!useful)
            continue;
        size_t nb = 0;
        for (size_t i = 0; i < s->n; i++) {
            const struct billing_item *it = &s->items[i];
            size_t best = nb;
            int64_t best_left = INT64_MAX;
            for (size_t j = 0; j < nb; j++) {
                if (!bin_fits(c, &bins[j], it))
                    continue;
                int64_t left =
                    (int64_t)(bins[j].cpu - it->cpu_units) * 4 + bins[j].mem - it->memory_mib;
                if (left < best_left) {
                    best_left = left;
                    best = j;
                }
            }
            if (best == nb) {
                int k = strat >= 0 &&
                                type_fits(c, (size_t)strat, it->cpu_units, it->memory_mib, it->arch)
                            ? strat
                            : cheapest_type(c, it->cpu_units, it->memory_mib, it->arch);
                bins[nb] = (struct bin){k, c->t->types[k].cpu_units, c->t->types[k].memory_mib};
                used_cpu[nb] = used_mem[nb] = 0;
                arch[nb] = it->arch;
                nb++;
            }
            bins[best].cpu -= it->cpu_units;
            bins[best].mem -= it->memory_mib;
            used_cpu[best] += it->cpu_units;
            used_mem[best] += it->memory_mib;
        }
        /* Shrink each bin to the cheapest type that holds what it got. */
        memset(count, 0, T * sizeof(*count));
        for (size_t j = 0; j < nb; j++) {
            int k = cheapest_type(c, used_cpu[j], used_mem[j], arch[j]);
            count[k >= 0 ? k : bins[j].type]++;
        }
        int64_t cost;
        int32_t n;
        fleet_sum(c, count, &cost, &n);
        if (better(cost, n, best_cost, best_n)) {
            best_cost = cost;
            best_n = n;
            memcpy(out, count, T * sizeof(*count));
        }
    }
    free(bins);
    free(used_cpu);
    free(used_mem);
    free(arch);
    free(count);
}

/* Instances of type k that best-fit decreasing opens for slice s, or -1
 * when some item does not fit k. */
static int32_t bins_of_type(const struct ctx *c, const struct prepared *s, size_t k)
{
    struct bin *bins = xcalloc(s->n ? s->n : 1, sizeof(*bins));
    size_t nb = 0;
    int32_t r = 0;
    for (size_t i = 0; i < s->n && r == 0; i++) {
        const struct billing_item *it = &s->items[i];
        if (!type_fits(c, k, it->cpu_units, it->memory_mib, it->arch)) {
            r = -1;
            break;
        }
        size_t best = nb;
        int64_t best_left = INT64_MAX;
        for (size_t j = 0; j < nb; j++) {
            if (!bin_fits(c, &bins[j], it))
                continue;
            int64_t left =
                (int64_t)(bins[j].cpu - it->cpu_units) * 4 + bins[j].mem - it->memory_mib;
            if (left < best_left) {
                best_left = left;
                best = j;
            }
        }
        if (best == nb)
            bins[nb++] = (struct bin){(int)k, c->t->types[k].cpu_units, c->t->types[k].memory_mib};
        bins[best].cpu -= it->cpu_units;
        bins[best].mem -= it->memory_mib;
    }
    free(bins);
    return r < 0 ? -1 : (int32_t)nb;
}

/* Stage 2: a fleet for all slices, improved by local search. */
static void heuristic_fleet(struct ctx *c, const struct prepared *ps, size_t n, int32_t *best)
{
    size_t T = c->t->n;
    int32_t *one = xcalloc(n * T + 1, sizeof(*one));
    memset(best, 0, T * sizeof(*best));
    for (size_t i = 0; i < n; i++) {
        heuristic_slice(c, &ps[i], one + i * T);
        for (size_t k = 0; k < T; k++)
            if (one[i * T + k] > best[k])
                best[k] = one[i * T + k];
    }
    int64_t best_cost;
    int32_t best_n;
    fleet_sum(c, best, &best_cost, &best_n);
    int steps = 0, steps_max = n > 1 ? LOCAL_STEPS_MAX : LOCAL_STEPS_ONE;
    /* A single slice's own fleet may already hold the others. */
    for (size_t i = 0; i < n && n > 1 && steps < steps_max; i++) {
        int64_t cost;
        int32_t cnt;
        fleet_sum(c, one + i * T, &cost, &cnt);
        steps++;
        if (better(cost, cnt, best_cost, best_n) && holds_all(c, ps, n, one + i * T)) {
            memcpy(best, one + i * T, T * sizeof(*best));
            best_cost = cost;
            best_n = cnt;
        }
    }
    free(one);
    /* A fleet of one type, as many as the busiest slice needs. */
    int32_t *single = xcalloc(T, sizeof(*single));
    for (size_t k = 0; k < T && n > 1; k++) {
        int32_t need = 0;
        for (size_t i = 0; i < n && need >= 0; i++) {
            int32_t b = bins_of_type(c, &ps[i], k);
            need = b < 0 ? -1 : b > need ? b : need;
        }
        if (need <= 0)
            continue;
        memset(single, 0, T * sizeof(*single));
        single[k] = need;
        int64_t cost;
        int32_t cnt;
        fleet_sum(c, single, &cost, &cnt);
        if (better(cost, cnt, best_cost, best_n)) {
            memcpy(best, single, T * sizeof(*best));
            best_cost = cost;
            best_n = cnt;
        }
    }
    free(single);
    bool improved = true;
    while (improved && steps < steps_max) {
        improved = false;
        for (size_t k = 0; k < T && !improved && steps < steps_max; k++) {
            if (best[k] == 0)
                continue;
            best[k]--;
            steps++;
            if (holds_all(c, ps, n, best))
                improved = true;
            else
                best[k]++;
        }
        for (size_t k = 0; k < T && !improved && steps < steps_max; k++) {
            if (best[k] == 0)
                continue;
            for (size_t u = 0; u < T && !improved && steps < steps_max; u++) {
                if (c->t->types[u].hour_nd >= c->t->types[k].hour_nd)
                    continue;
                best[k]--;
                best[u]++;
                steps++;
                if (holds_all(c, ps, n, best)) {
                    improved = true;
                } else {
                    best[k]++;
                    best[u]--;
                }
            }
        }
    }
}

/* Stage 3: branch and bound over counts per type. */
struct search {
    struct ctx *c;
    const struct prepared *ps;
    size_t n;
    size_t order[BILLING_INSTANCE_MAX]; /* types by price */
    int32_t maxc[BILLING_INSTANCE_MAX]; /* more would sit empty in every slice */
    int64_t need_cpu[SLOTS], need_mem[SLOTS];
    int32_t cur[BILLING_INSTANCE_MAX];
    int32_t *best;
    int64_t best_cost;
    int32_t best_n;
};

/* A lower bound on what types order[d..] must add to cover the capacity
 * still missing, from each type's price per cpu unit and per MiB. */
static int64_t lower_bound(const struct search *s, size_t d, const int64_t *cap_cpu,
                           const int64_t *cap_mem)
{
    int64_t total = 0;
    for (int sl = 0; sl < SLOTS; sl++) {
        int64_t miss_cpu = s->need_cpu[sl] - cap_cpu[sl];
        int64_t miss_mem = s->need_mem[sl] - cap_mem[sl];
        if (miss_cpu <= 0 && miss_mem <= 0)
            continue;
        int64_t lb_cpu = INF_ND, lb_mem = INF_ND;
        for (size_t i = d; i < s->c->t->n; i++) {
            const struct billing_instance_type *ty = &s->c->t->types[s->order[i]];
            if (slot(s->c, ty->arch) != sl || s->maxc[s->order[i]] == 0)
                continue;
            int64_t a =
                miss_cpu <= 0 ? 0 : (int64_t)((__int128)miss_cpu * ty->hour_nd / ty->cpu_units);
            int64_t b =
                miss_mem <= 0 ? 0 : (int64_t)((__int128)miss_mem * ty->hour_nd / ty->memory_mib);
            if (a < lb_cpu)
                lb_cpu = a;
            if (b < lb_mem)
                lb_mem = b;
        }
        if (lb_cpu == INF_ND)
            return INF_ND;
        total += lb_cpu > lb_mem ? lb_cpu : lb_mem;
    }
    return total;
}

static void search_from(struct search *s, size_t d, int64_t cost, int32_t n, int64_t *cap_cpu,
                        int64_t *cap_mem)
{
    struct ctx *c = s->c;
    if (c->budget-- <= 0) {
        c->gave_up = true;
        return;
    }
    int64_t lb = lower_bound(s, d, cap_cpu, cap_mem);
    if (lb == INF_ND || cost + lb > s->best_cost)
        return;
    if (d == c->t->n) {
        if (!better(cost, n, s->best_cost, s->best_n))
            return;
        if (holds_all(c, s->ps, s->n, s->cur)) {
            memcpy(s->best, s->cur, c->t->n * sizeof(*s->best));
            s->best_cost = cost;
            s->best_n = n;
        }
        return;
    }
    size_t k = s->order[d];
    const struct billing_instance_type *ty = &c->t->types[k];
    int sl = slot(c, ty->arch);
    for (int32_t m = 0; m <= s->maxc[k] && !c->gave_up; m++) {
        int64_t cst = cost + m * ty->hour_nd;
        if (cst > s->best_cost)
            break;
        s->cur[k] = m;
        cap_cpu[sl] += (int64_t)m * ty->cpu_units;
        cap_mem[sl] += (int64_t)m * ty->memory_mib;
        search_from(s, d + 1, cst, n + m, cap_cpu, cap_mem);
        cap_cpu[sl] -= (int64_t)m * ty->cpu_units;
        cap_mem[sl] -= (int64_t)m * ty->memory_mib;
    }
    s->cur[k] = 0;
}

static int64_t t_price(const struct ctx *c, size_t k)
{
    return c->t->types[k].hour_nd;
}

static bool exact_search(struct ctx *c, const struct prepared *ps, size_t n, long budget,
                         int32_t *best)
{
    struct search *s = xzalloc(sizeof(*s));
    s->c = c;
    s->ps = ps;
    s->n = n;
    s->best = best;
    fleet_sum(c, best, &s->best_cost, &s->best_n);
    size_t T = c->t->n;
    for (size_t k = 0; k < T; k++) {
        s->order[k] = k;
        for (size_t i = 0; i < n; i++) {
            int32_t fit = 0;
            for (size_t j = 0; j < ps[i].n; j++)
                fit += type_fits(c, k, ps[i].items[j].cpu_units, ps[i].items[j].memory_mib,
                                 ps[i].items[j].arch);
            if (fit > s->maxc[k])
                s->maxc[k] = fit;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (int sl = 0; sl < SLOTS; sl++) {
            if (ps[i].cpu[sl] > s->need_cpu[sl])
                s->need_cpu[sl] = ps[i].cpu[sl];
            if (ps[i].mem[sl] > s->need_mem[sl])
                s->need_mem[sl] = ps[i].mem[sl];
        }
    }
    /* Cheap types first (stable): good fleets turn up early and prune the
     * rest. */
    for (size_t i = 1; i < T; i++) {
        size_t k = s->order[i], j = i;
        for (; j > 0 && t_price(c, s->order[j - 1]) > t_price(c, k); j--)
            s->order[j] = s->order[j - 1];
        s->order[j] = k;
    }
    int64_t cap_cpu[SLOTS] = {0}, cap_mem[SLOTS] = {0};
    c->gave_up = false;
    c->budget = budget;
    search_from(s, 0, 0, 0, cap_cpu, cap_mem);
    bool proven = !c->gave_up;
    free(s);
    return proven;
}

int billing_fleet_cheapest(const struct billing_instance_table *t,
                           const struct billing_slice *slices, size_t n, bool any_arch,
                           struct billing_fleet *ret, struct error **err)
{
    return billing_fleet_cheapest_within(t, slices, n, any_arch, SEARCH_BUDGET, ret, err);
}

int billing_fleet_cheapest_within(const struct billing_instance_table *t,
                                  const struct billing_slice *slices, size_t n, bool any_arch,
                                  long budget, struct billing_fleet *ret, struct error **err)
{
    struct ctx c = {.t = t, .any_arch = any_arch, .budget = 0};
    struct prepared *ps = xcalloc(n ? n : 1, sizeof(*ps));
    size_t np = 0;
    bool small = true;
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        if (slices[i].n == 0)
            continue;
        struct prepared *p = &ps[np++];
        p->n = slices[i].n;
        p->items = xcalloc(p->n, sizeof(*p->items));
        memcpy(p->items, slices[i].items, p->n * sizeof(*p->items));
        qsort(p->items, p->n, sizeof(*p->items), cmp_item);
        for (size_t j = 0; j < p->n; j++) {
            const struct billing_item *it = &p->items[j];
            if ((unsigned)it->arch >= BILLING_ARCH_COUNT || it->cpu_units < 0 ||
                it->memory_mib < 0) {
                r = error_set(err, EINVAL, ERR_INVALID, "invalid reservation");
                goto out;
            }
            if (cheapest_type(&c, it->cpu_units, it->memory_mib, it->arch) < 0) {
                r = error_set(err, ENOSPC, ERR_INVALID,
                              "no instance type in the table holds a task of %d cpu units and "
                              "%d MiB (%s)",
                              it->cpu_units, it->memory_mib, billing_arch_name(it->arch));
                goto out;
            }
            p->cpu[slot(&c, it->arch)] += it->cpu_units;
            p->mem[slot(&c, it->arch)] += it->memory_mib;
        }
        if (p->n > BILLING_FLEET_EXACT_ITEMS)
            small = false;
    }

    struct billing_fleet f = {0};
    heuristic_fleet(&c, ps, np, f.count);
    f.exact = np == 0 || (small && np <= MAX_EXACT_SLICES && budget > 0 &&
                          exact_search(&c, ps, np, budget, f.count));
    fleet_sum(&c, f.count, &f.hour_nd, &f.instances);
    *ret = f;
out:
    for (size_t i = 0; i < np; i++)
        free(ps[i].items);
    free(ps);
    return r;
}

bool billing_fleet_holds(const struct billing_instance_table *t, const struct billing_fleet *f,
                         const struct billing_item *items, size_t n, bool any_arch)
{
    struct ctx c = {.t = t, .any_arch = any_arch, .budget = SEARCH_BUDGET};
    struct prepared p = {.n = n, .items = xcalloc(n ? n : 1, sizeof(*items))};
    memcpy(p.items, items, n * sizeof(*items));
    qsort(p.items, n, sizeof(*items), cmp_item);
    for (size_t j = 0; j < n; j++) {
        p.cpu[slot(&c, items[j].arch)] += items[j].cpu_units;
        p.mem[slot(&c, items[j].arch)] += items[j].memory_mib;
    }
    bool ok = holds(&c, &p, f->count);
    free(p.items);
    return ok;
}

int billing_fleet_format(const struct billing_instance_table *t, const struct billing_fleet *f,
                         char *out, size_t size)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t k = 0; k < t->n; k++)
        if (f->count[k] > 0)
            buf_printf(&b, "%s%d × %s", b.len ? " + " : "", f->count[k], t->types[k].name);
    int r = snprintf(out, size, "%s", b.len ? b.data : "no instances");
    buf_done(&b);
    return r;
}
