/* Price defaults and schedules. */
#include "billing/price.h"
#include "base/error.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum billing_arch arch;
} arch_names[] = {
    {"x86_64", BILLING_ARCH_X86_64},
    {"amd64", BILLING_ARCH_X86_64},
    {"arm64", BILLING_ARCH_ARM64},
    {"aarch64", BILLING_ARCH_ARM64},
};

const char *billing_arch_name(enum billing_arch a)
{
    return a == BILLING_ARCH_ARM64 ? "arm64" : "x86_64";
}

int billing_arch_parse(const char *s, enum billing_arch *ret)
{
    for (size_t i = 0; s && i < sizeof(arch_names) / sizeof(arch_names[0]); i++) {
        if (strcasecmp(s, arch_names[i].name) == 0) {
            *ret = arch_names[i].arch;
            return 0;
        }
    }
    return -EINVAL;
}

void billing_prices_default(struct billing_prices *p)
{
    p->arch[BILLING_ARCH_X86_64] = (struct billing_rate){
        .vcpu_hour_nd = BILLING_X86_VCPU_HOUR_ND,
        .gb_hour_nd = BILLING_X86_GB_HOUR_ND,
        .storage_gb_hour_nd = BILLING_STORAGE_GB_HOUR_ND,
    };
    p->arch[BILLING_ARCH_ARM64] = (struct billing_rate){
        .vcpu_hour_nd = BILLING_ARM_VCPU_HOUR_ND,
        .gb_hour_nd = BILLING_ARM_GB_HOUR_ND,
        .storage_gb_hour_nd = BILLING_STORAGE_GB_HOUR_ND,
    };
}

void billing_schedule_init(struct billing_schedule *s)
{
    s->periods = xcalloc(1, sizeof(*s->periods));
    s->n = 1;
    s->periods[0].from_ms = INT64_MIN;
    billing_prices_default(&s->periods[0].prices);
}

void billing_schedule_done(struct billing_schedule *s)
{
    free(s->periods);
    s->periods = NULL;
    s->n = 0;
}

int billing_schedule_add(struct billing_schedule *s, int64_t from_ms,
                         const struct billing_prices *p, struct error **err)
{
    if (s->n > 0 && from_ms <= s->periods[s->n - 1].from_ms)
        return error_set(err, EINVAL, ERR_INVALID,
                         "price period starting at %lld ms is not after the previous one",
                         (long long)from_ms);
    if (s->n >= BILLING_SCHEDULE_MAX)
        return error_set(err, E2BIG, ERR_INVALID, "more than %d price periods",
                         BILLING_SCHEDULE_MAX);
    s->periods = xrealloc(s->periods, (s->n + 1) * sizeof(*s->periods));
    s->periods[s->n].from_ms = s->n == 0 ? INT64_MIN : from_ms;
    s->periods[s->n].prices = *p;
    s->n++;
    return 0;
}

size_t billing_schedule_find(const struct billing_schedule *s, int64_t t_ms)
{
    /* Binary search for the last period that starts at or before t_ms. */
    size_t lo = 0, hi = s->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->periods[mid].from_ms <= t_ms)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}
