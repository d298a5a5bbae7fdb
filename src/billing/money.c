/* Nano-dollar parsing, rounding and formatting. */
#include "billing/money.h"
#include "billing/billing-internal.h"

#include <errno.h>
#include <stdio.h>

#define MONEY_MAX_ND (1000000LL * BILLING_ND_PER_DOLLAR)

int billing_money_parse(const char *s, int64_t *ret_nd)
{
    if (!s || !*s)
        return -EINVAL;
    int64_t whole = 0, frac = 0;
    int int_digits = 0, frac_digits = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, int_digits++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MONEY_MAX_ND / BILLING_ND_PER_DOLLAR)
            return -ERANGE;
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, frac_digits++) {
            if (frac_digits == 9) {
                /* Trailing zeros beyond nano-dollars are harmless. */
                if (*p != '0')
                    return -ERANGE;
                continue;
            }
            frac = frac * 10 + (*p - '0');
        }
        if (frac_digits == 0)
            return -EINVAL;
    }
    if (*p || int_digits + frac_digits == 0)
        return -EINVAL;
    for (int i = frac_digits < 9 ? frac_digits : 9; i < 9; i++)
        frac *= 10;
    int64_t v = whole * BILLING_ND_PER_DOLLAR + frac;
    if (v > MONEY_MAX_ND)
        return -ERANGE;
    *ret_nd = v;
    return 0;
}

int64_t billing_money_cents(int64_t nd)
{
    return div_round(nd, BILLING_ND_PER_CENT);
}

int billing_money_format(int64_t nd, int decimals, char *out, size_t size)
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    int64_t unit = 1;
    for (int i = decimals; i < 9; i++)
        unit *= 10;
    int64_t q = div_round(nd, unit); /* in units of 10^-decimals dollars */
    const char *sign = q < 0 ? "-" : "";
    uint64_t mag = q < 0 ? (uint64_t)0 - (uint64_t)q : (uint64_t)q;
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals == 0)
        return snprintf(out, size, "%s$%llu", sign, (unsigned long long)mag);
    return snprintf(out, size, "%s$%llu.%0*llu", sign, (unsigned long long)(mag / scale), decimals,
                    (unsigned long long)(mag % scale));
}

int billing_money_format_auto(int64_t nd, char *out, size_t size)
{
    int small = nd > -BILLING_ND_PER_DOLLAR && nd < BILLING_ND_PER_DOLLAR;
    return billing_money_format(nd, small ? 4 : 2, out, size);
}
