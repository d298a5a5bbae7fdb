/* Clock helpers. Times in the store are integer milliseconds since the epoch. */
#pragma once

#include <stdint.h>
#include <time.h>

int64_t time_now_ms(void);
/* The time `ms` milliseconds from now on `clock` (CLOCK_REALTIME for
 * pthread_cond_timedwait's default, CLOCK_MONOTONIC for a condition made
 * with that clock). */
struct timespec time_deadline(clockid_t clock, int64_t ms);
/* Monotonic clock in nanoseconds. */
int64_t time_mono_ns(void);
/* Parses an ISO 8601 basic timestamp "YYYYMMDDTHHMMSSZ" (SigV4 X-Amz-Date)
 * into seconds since the epoch; returns -1 when malformed. */
int64_t time_parse_amz(const char *s);
