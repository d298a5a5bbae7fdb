/* Fargate's valid task sizes (cpu units, memory MiB). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BILLING_SIZE_COUNT 74 /* valid cpu/memory combinations */

struct billing_size {
    int32_t cpu_units;
    int32_t memory_mib;
};

/* Whether cpu/memory is one of Fargate's combinations:
 *   256: 512, 1024, 2048          512: 1024..4096 step 1024
 *  1024: 2048..8192 step 1024    2048: 4096..16384 step 1024
 *  4096: 8192..30720 step 1024   8192: 16384..61440 step 4096
 * 16384: 32768..122880 step 8192 */
bool billing_size_valid(int32_t cpu_units, int32_t memory_mib);

/* Writes up to cap valid sizes, in increasing cpu then memory order, to
 * out (which may be NULL when cap is 0); returns how many there are
 * (BILLING_SIZE_COUNT). */
size_t billing_size_list(struct billing_size *out, size_t cap);

/* The smallest valid memory for cpu_units that is at least memory_mib, or
 * -1 when cpu_units is not a Fargate cpu value or none is large enough. */
int32_t billing_size_fit_memory(int32_t cpu_units, int32_t memory_mib);

/* The Fargate cpu values, increasing; returns how many (7). */
size_t billing_size_cpus(const int32_t **ret);
