/* Image pulls for tasks, on a few long-lived worker threads: each holds its
 * own store connection (store_thread_db connections live as long as the
 * store, so they must not be taken by short-lived task threads), and a
 * task waiting for a pull can still be stopped. */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "image/image.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

struct pull_req {
    char *reference;
    int refs; /* the queue or worker, and the waiting task */
    bool done;
    int r;
    struct img_info *info;
    struct error *err;
    struct pull_req *next;
};

static void req_unref(struct pull_req *q)
{
    if (--q->refs > 0)
        return;
    free(q->reference);
    img_info_free(q->info);
    error_free(q->err);
    free(q);
}

static void *worker(void *p)
{
    struct agent *a = p;
    struct db *db = NULL;
    struct error *dberr = NULL;
    store_thread_db(a->store, &db, &dberr);
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->pull_queue && !a->closing)
            pthread_cond_wait(&a->cond, &a->lock);
        if (a->closing)
            break;
        struct pull_req *q = a->pull_queue;
        a->pull_queue = q->next;
        pthread_mutex_unlock(&a->lock);

        struct img_info *info = NULL;
        struct error *e = NULL;
        int r;
        if (!db) {
            r = error_set(&e, EIO, NULL, "%s: %s: no store connection: %s", IMG_ERR_PULL,
                          q->reference, dberr ? dberr->msg : "?");
        } else {
            struct img_pull_opts opts = {.policy = IMG_PULL_IF_MISSING};
            r = img_pull(db, q->reference, &opts, &info, &e);
        }

        pthread_mutex_lock(&a->lock);
        q->r = r;
        q->info = info;
        q->err = e;
        q->done = true;
        req_unref(q);
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&a->lock);
    error_free(dberr);
    return NULL;
}

int agent_pull_start(struct agent *a, struct error **err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* img_pull (libcurl, libarchive, zstd) wants a normal stack. */
    pthread_attr_setstacksize(&attr, 2 * 1024 * 1024);
    for (size_t i = 0; i < AGENT_PULL_WORKERS; i++) {
        int r = pthread_create(&a->pullers[i], &attr, worker, a);
        if (r != 0) {
            pthread_attr_destroy(&attr);
            return error_errno(err, r, "start image pull worker");
        }
        a->n_pullers++;
    }
    pthread_attr_destroy(&attr);
    return 0;
}

void agent_pull_stop(struct agent *a)
{
    pthread_mutex_lock(&a->lock);
    a->closing = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    for (size_t i = 0; i < a->n_pullers; i++)
        pthread_join(a->pullers[i], NULL);
    a->n_pullers = 0;
    while (a->pull_queue) {
        struct pull_req *q = a->pull_queue;
        a->pull_queue = q->next;
        req_unref(q);
    }
}

int agent_pull(struct task *t, const char *reference, struct img_info **ret, struct error **err)
{
    struct agent *a = t->a;
    struct pull_req *q = xzalloc(sizeof(*q));
    q->reference = xstrdup(reference);
    q->refs = 2;
    pthread_mutex_lock(&a->lock);
    struct pull_req **tail = &a->pull_queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = q;
    pthread_cond_broadcast(&a->cond);
    while (!q->done && !t->stop_requested && !a->closing)
        pthread_cond_wait(&a->cond, &a->lock);
    int r;
    if (q->done) {
        r = q->r;
        if (r == 0)
            *ret = TAKE_PTR(q->info);
        else if (err && !*err)
            *err = TAKE_PTR(q->err);
    } else {
        r = error_set(err, ECANCELED, NULL, "pull of %s abandoned", reference);
        /* Still queued: the queue's reference goes too. */
        for (struct pull_req **pp = &a->pull_queue; *pp; pp = &(*pp)->next)
            if (*pp == q) {
                *pp = q->next;
                q->refs--;
                break;
            }
    }
    req_unref(q);
    pthread_mutex_unlock(&a->lock);
    return r;
}
