/* Clock helpers. Times in the store are integer milliseconds since the epoch. */
#pragma once

#include <stdint.h>
#include <time.h>

int64_t time_now_ms(void);
/* Monotonic clock in nanoseconds. */
int64_t time_mono_ns(void);
/* Parses an ISO 8601 basic timestamp "YYYYMMDDTHHMMSSZ" (SigV4 X-Amz-Date)
 * into seconds since the epoch; returns -1 when malformed. */
int64_t time_parse_amz(const char *s);
