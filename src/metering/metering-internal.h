/* Shared by the metering files; not part of the module's interface. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "billing/price.h"
#include "billing/rightsize.h"

struct db;
struct error;

/* Samples kept per task for a summary; older ones beyond it are not read
 * (one sample every 10 s fills it in about 11 days). */
#define METERING_SAMPLES_MAX 100000

/* The architecture a task definition document asks for
 * (runtimePlatform.cpuArchitecture; X86_64 when absent). */
enum billing_arch metering_arch_of(const char *taskdef_json);

/* Summarises the stored samples of task_arn (billing_samples_summarise);
 * the peak also counts the cgroup's own high-water marks. *ret_n is the
 * number of samples read. */
int metering_samples_summary(struct db *db, const char *task_arn, struct billing_utilisation *ret,
                             size_t *ret_n, struct error **err);
