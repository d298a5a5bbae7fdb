/* The agent's cgroup sampler: every interval it reads the task cgroup of
 * each RUNNING task (cumulative CPU time, memory now and its high-water
 * mark) and sends a stats message (sched/node.h) through the agent's
 * report callback, for metering (src/metering, docs/billing.md). */
#pragma once

#include <stdint.h>

#include "base/error.h"

struct node;
struct agent_stats;

#define AGENT_STATS_INTERVAL_MS 10000 /* default sampling interval */

/* Starts the sampler thread for the local agent n (from agent_new), one
 * sample per RUNNING task every interval_ms (0: the default). n must
 * outlive the sampler: stop it with agent_stats_free() before freeing n. */
int agent_stats_start(struct node *n, int64_t interval_ms, struct agent_stats **ret,
                      struct error **err);
/* Stops the thread (waiting for a sampling round under way) and frees st;
 * NULL-safe. */
void agent_stats_free(struct agent_stats *st);
