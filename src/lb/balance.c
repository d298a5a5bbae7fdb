/* Target choice (round robin, least outstanding requests, flow hash) and
 * rule matching. */
#include <ctype.h>
#include <string.h>

#include "lb/http.h"
#include "lb/lb-internal.h"

static bool usable(const struct lb_target *t, bool healthy_only)
{
    if (atomic_load_explicit(&t->draining, memory_order_relaxed))
        return false;
    return !healthy_only ||
           atomic_load_explicit(&t->health, memory_order_relaxed) == LB_HEALTH_HEALTHY;
}

/* Counts the candidates: healthy targets, or all non-draining ones when no
 * target is healthy (ELB fails open). */
static size_t candidates(struct lb_target_group *tg, const struct lb_target *avoid,
                         bool *healthy_only, bool *use_avoid)
{
    size_t healthy = 0, live = 0, avoided_h = 0, avoided_l = 0;
    for (size_t i = 0; i < tg->ntargets; i++) {
        struct lb_target *t = tg->targets[i];
        if (!usable(t, false))
            continue;
        bool h = usable(t, true);
        live++;
        healthy += h;
        if (t == avoid) {
            avoided_l++;
            avoided_h += h;
        }
    }
    *healthy_only = healthy > 0;
    size_t n = *healthy_only ? healthy : live;
    size_t a = *healthy_only ? avoided_h : avoided_l;
    /* Retry elsewhere when there is an elsewhere. */
    *use_avoid = n == a;
    return *use_avoid ? n : n - a;
}

static struct lb_target *nth(struct lb_target_group *tg, size_t k, bool healthy_only,
                             const struct lb_target *avoid)
{
    for (size_t i = 0; i < tg->ntargets; i++) {
        struct lb_target *t = tg->targets[i];
        if (!usable(t, healthy_only) || t == avoid)
            continue;
        if (k-- == 0)
            return t;
    }
    return NULL;
}

struct lb_target *lb_pick(struct lb_target_group *tg, int64_t flow_hash,
                          const struct lb_target *avoid)
{
    bool healthy_only, use_avoid;
    size_t n = candidates(tg, avoid, &healthy_only, &use_avoid);
    if (n == 0)
        return NULL;
    if (use_avoid)
        avoid = NULL;
    struct lb_target *t;
    unsigned start = atomic_fetch_add_explicit(&tg->rr, 1, memory_order_relaxed);
    if (flow_hash >= 0) {
        t = nth(tg, (size_t)flow_hash % n, healthy_only, avoid);
    } else if (tg->algorithm == LB_ALGO_ROUND_ROBIN) {
        t = nth(tg, start % n, healthy_only, avoid);
    } else {
        /* Least outstanding; ties go round robin so that an idle group is
         * still spread. */
        t = NULL;
        int best = 0;
        for (size_t k = 0; k < n; k++) {
            struct lb_target *c = nth(tg, (start + k) % n, healthy_only, avoid);
            if (!c)
                continue;
            int o = atomic_load_explicit(&c->outstanding, memory_order_relaxed);
            if (!t || o < best) {
                t = c;
                best = o;
            }
        }
    }
    /* A reload may have changed health between the two walks. */
    if (!t)
        t = nth(tg, 0, false, NULL);
    return t ? lb_target_ref(t) : NULL;
}

struct lb_target_group *lb_pick_group(struct lb_action *a)
{
    if (a->ngroups == 1)
        return a->groups[0].tg;
    unsigned x = atomic_fetch_add_explicit(&a->wrr, 1, memory_order_relaxed);
    /* Spread the weights: a multiplicative step visits every slot of the
     * cycle in a scrambled order instead of a burst per group. */
    unsigned slot = (x * 2654435761u) % (unsigned)a->total_weight;
    for (size_t i = 0; i < a->ngroups; i++) {
        if (slot < (unsigned)a->groups[i].weight)
            return a->groups[i].tg;
        slot -= (unsigned)a->groups[i].weight;
    }
    return a->groups[a->ngroups - 1].tg;
}

bool lb_wildcard_match(const char *pat, const char *s, size_t n, bool fold)
{
    /* Iterative glob with one backtrack point: linear-ish, no recursion. */
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;
    while (i < n) {
        char pc = *pat, sc = s[i];
        if (fold) {
            pc = (char)tolower((unsigned char)pc);
            sc = (char)tolower((unsigned char)sc);
        }
        if (*pat == '*') {
            star = ++pat;
            star_i = i;
        } else if (*pat && (*pat == '?' || pc == sc)) {
            pat++;
            i++;
        } else if (star) {
            pat = star;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static bool any_value(const struct lb_condition *c, const char *s, size_t n, bool fold)
{
    for (size_t i = 0; i < c->nvalues; i++)
        if (lb_wildcard_match(c->values[i], s, n, fold))
            return true;
    return false;
}

static bool cond_match(const struct lb_condition *c, const struct lb_http_request *req)
{
    switch (c->field) {
    case LB_COND_PATH: {
        const char *q = memchr(req->target, '?', req->target_len);
        size_t n = q ? (size_t)(q - req->target) : req->target_len;
        return any_value(c, req->target, n, false);
    }
    case LB_COND_HOST: {
        if (!req->host)
            return false;
        size_t n = req->host_len;
        /* Without the port; IPv6 literals keep their brackets. */
        const char *colon = memrchr(req->host, ':', n);
        const char *bracket = memrchr(req->host, ']', n);
        if (colon && (!bracket || colon > bracket))
            n = (size_t)(colon - req->host);
        return any_value(c, req->host, n, true);
    }
    case LB_COND_HEADER:
        for (size_t i = 0; i < req->nheaders; i++) {
            const struct lb_http_header *h = &req->headers[i];
            if (h->name_len == strlen(c->header) &&
                strncasecmp(h->name, c->header, h->name_len) == 0 &&
                any_value(c, h->value, h->value_len, true))
                return true;
        }
        return false;
    case LB_COND_METHOD:
        for (size_t i = 0; i < c->nvalues; i++)
            if (strlen(c->values[i]) == req->method_len &&
                memcmp(c->values[i], req->method, req->method_len) == 0)
                return true;
        return false;
    }
    return false;
}

struct lb_action *lb_route(struct lb_listener *l, const struct lb_http_request *req)
{
    for (size_t r = 0; r < l->nrules; r++) {
        struct lb_rule *rule = &l->rules[r];
        size_t k = 0;
        while (k < rule->nconds && cond_match(&rule->conds[k], req))
            k++;
        if (k == rule->nconds)
            return &rule->action;
    }
    return &l->default_action;
}
