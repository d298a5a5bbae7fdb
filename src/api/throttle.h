/* Per-account token buckets (ECS-like API rate limits). Calls are classed as
 * reads or writes; each class has its own bucket per account. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct throttle_rate {
    double rate;  /* tokens per second; 0 disables the limit */
    double burst; /* bucket size */
};

struct throttle_config {
    struct throttle_rate read;
    struct throttle_rate write;
};

/* ECS's published defaults: writes burst 100 refill 20/s; reads higher. */
#define THROTTLE_DEFAULT_CONFIG                                                                    \
    {                                                                                              \
        .read = {.rate = 100, .burst = 500}, .write = {.rate = 20, .burst = 100},                  \
    }

struct throttle;

/* A class whose rate is 0 is not limited; a limited class whose burst is
 * below 1 gets a burst of 1. */
struct throttle *throttle_new(const struct throttle_config *cfg);
void throttle_free(struct throttle *t);
/* Takes one token for account from its read or write bucket; false when the
 * bucket is empty. A new bucket starts full; it refills at `rate` tokens a
 * second up to `burst`. now_ns is a monotonic clock reading (a reading
 * earlier than the last one refills nothing). */
bool throttle_take(struct throttle *t, const char *account, bool write, int64_t now_ns);
/* Parses "RATE:BURST" (finite, RATE > 0, BURST >= 1) or "off" into r;
 * -EINVAL, leaving r untouched, when malformed. */
int throttle_parse_rate(const char *s, struct throttle_rate *r);
