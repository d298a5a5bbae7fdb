/* Money in skiff's billing: integer nano-dollars (1e-9 USD) in int64_t,
 * named `*_nd`. An int64 holds ±9.2 billion dollars, far beyond any report,
 * and a price per hour with up to nine decimals is exact. Nothing in the
 * billing maths uses floating point; rounding happens at the two places
 * docs/billing.md names (a task's cost per dimension, and presentation). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BILLING_ND_PER_DOLLAR 1000000000LL
#define BILLING_ND_PER_CENT   10000000LL

/* Parses a non-negative decimal amount of dollars ("0.04048", "12", "1.5")
 * into nano-dollars exactly. At most nine fractional digits and at most
 * $1,000,000; no sign, exponent or currency symbol. Returns 0 and sets
 * *ret_nd, -EINVAL on a malformed string, -ERANGE when too precise or too
 * large. */
int billing_money_parse(const char *s, int64_t *ret_nd);

/* Rounds to whole cents, half away from zero (-0.5 cent -> -1 cent). */
int64_t billing_money_cents(int64_t nd);

/* Writes "$1.23" / "-$0.0042" into out (always NUL-terminated): nd rounded
 * half away from zero to `decimals` (0..9) fractional digits. Returns the
 * length snprintf would have written. */
int billing_money_format(int64_t nd, int decimals, char *out, size_t size);

/* Like billing_money_format with two decimals, or four when the amount is
 * under a dollar and would otherwise show as $0.00 or lose most of its
 * digits: what reports and the EC2 sentence print. */
int billing_money_format_auto(int64_t nd, char *out, size_t size);
