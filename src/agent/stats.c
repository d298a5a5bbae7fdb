/* The cgroup sampler (stats.h). It only reads: the task list under the
 * agent's lock (to learn which tasks run), then each task cgroup without
 * it, so supervision never waits for sampling. */
#include "agent/stats.h"
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct agent_stats {
    struct agent *a;
    int64_t interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
};

/* [taskArn, taskId] of every task whose latest report says RUNNING. */
static json_t *running_tasks(struct agent *a)
{
    json_t *list = json_array();
    pthread_mutex_lock(&a->lock);
    for (struct task *t = a->tasks; t; t = t->next) {
        const char *status = json_get_str(t->last, "lastStatus");
        if (status && !strcmp(status, "RUNNING"))
            json_array_append_new(list, json_pack("[s, s]", t->def.arn, t->def.id));
    }
    pthread_mutex_unlock(&a->lock);
    return list;
}

static void sample_all(struct agent *a)
{
    json_t *list = running_tasks(a);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        struct oci_cgroup_usage u;
        /* A task that stopped meanwhile has no cgroup any more: no sample. */
        if (oci_cgroup_usage_read(a->cg, json_string_value(json_array_get(e, 1)), NULL, &u, NULL) <
            0)
            continue;
        json_t *msg = json_pack(
            "{s:O, s:{s:I, s:I, s:I, s:I}}", "taskArn", json_array_get(e, 0), "stats", "t",
            (json_int_t)time_now_ms(), "cpuUsec", (json_int_t)(u.cpu_ns / 1000), "memoryBytes",
            (json_int_t)u.memory_current, "memoryPeakBytes", (json_int_t)u.memory_peak);
        a->report(a->cp, msg);
        json_decref(msg);
    }
    json_decref(list);
}

static void *run(void *arg)
{
    struct agent_stats *st = arg;
    pthread_mutex_lock(&st->lock);
    while (!st->stopping) {
        struct timespec ts = time_deadline(CLOCK_MONOTONIC, st->interval_ms);
        while (!st->stopping && pthread_cond_timedwait(&st->cond, &st->lock, &ts) != ETIMEDOUT)
            ;
        if (st->stopping)
            break;
        pthread_mutex_unlock(&st->lock);
        sample_all(st->a);
        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int agent_stats_start(struct node *n, int64_t interval_ms, struct agent_stats **ret,
                      struct error **err)
{
    struct agent_stats *st = xzalloc(sizeof(*st));
    st->a = (struct agent *)n; /* struct agent embeds its node first */
    st->interval_ms = interval_ms > 0 ? interval_ms : AGENT_STATS_INTERVAL_MS;
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    int r = pthread_create(&st->thread, NULL, run, st);
    if (r != 0) {
        pthread_cond_destroy(&st->cond);
        pthread_mutex_destroy(&st->lock);
        free(st);
        return error_errno(err, r, "agent: start the stats sampler");
    }
    *ret = st;
    return 0;
}

void agent_stats_free(struct agent_stats *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->thread, NULL);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
}
