/* Progress of the pulls in flight, for DescribePullProgress (the CLI's
 * per-layer bytes, rate and ETA). A pull registers its layers once it
 * knows them and updates byte counts and states with atomics from its
 * transfer and unpack threads; readers copy a snapshot under the table
 * lock, and only the pull itself unregisters (and frees) its entry. */
#include "image/image-internal.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct progress_layer {
    char digest[IMG_DIGEST_LEN + 1];
    int64_t size;
    _Atomic int64_t bytes;
    _Atomic int state;
};

struct img_progress {
    char *reference;
    int64_t started_ms;
    struct progress_layer *layers;
    size_t n;
    struct img_progress *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct img_progress *active;

struct img_progress *img_progress_begin(const char *reference, const struct img_info *info)
{
    struct img_progress *p = xzalloc(sizeof(*p));
    p->reference = xstrdup(reference);
    p->started_ms = time_now_ms();
    p->n = info->n_layers;
    p->layers = xcalloc(p->n ? p->n : 1, sizeof(*p->layers));
    for (size_t i = 0; i < p->n; i++) {
        memcpy(p->layers[i].digest, info->layers[i].digest, IMG_DIGEST_LEN + 1);
        p->layers[i].size = info->layers[i].size;
        atomic_store(&p->layers[i].state, IMG_LAYER_WAITING);
    }
    pthread_mutex_lock(&lock);
    p->next = active;
    active = p;
    pthread_mutex_unlock(&lock);
    return p;
}

void img_progress_end(struct img_progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&lock);
    for (struct img_progress **q = &active; *q; q = &(*q)->next) {
        if (*q == p) {
            *q = p->next;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    free(p->reference);
    free(p->layers);
    free(p);
}

void img_progress_state(struct img_progress *p, size_t layer, enum img_layer_state s)
{
    if (p && layer < p->n) {
        atomic_store(&p->layers[layer].state, (int)s);
        if (s == IMG_LAYER_DOWNLOADED || s == IMG_LAYER_COMPLETE)
            atomic_store(&p->layers[layer].bytes, p->layers[layer].size);
    }
}

void img_progress_bytes(struct img_progress *p, size_t layer, int64_t delta)
{
    if (p && layer < p->n)
        atomic_fetch_add(&p->layers[layer].bytes, delta);
}

void img_progress_reset(struct img_progress *p, size_t layer)
{
    if (p && layer < p->n)
        atomic_store(&p->layers[layer].bytes, 0);
}

int img_pull_progress(const char *reference, struct img_pull_status **ret, size_t *ret_n)
{
    struct img_pull_status *v = NULL;
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (struct img_progress *p = active; p; p = p->next) {
        if (reference && strcmp(reference, p->reference) != 0)
            continue;
        v = xrealloc(v, (n + 1) * sizeof(*v));
        struct img_pull_status *s = &v[n++];
        s->reference = xstrdup(p->reference);
        s->started_ms = p->started_ms;
        s->n_layers = p->n;
        s->layers = xcalloc(p->n ? p->n : 1, sizeof(*s->layers));
        for (size_t i = 0; i < p->n; i++) {
            memcpy(s->layers[i].digest, p->layers[i].digest, IMG_DIGEST_LEN + 1);
            s->layers[i].size = p->layers[i].size;
            s->layers[i].bytes = atomic_load(&p->layers[i].bytes);
            s->layers[i].state = (enum img_layer_state)atomic_load(&p->layers[i].state);
        }
    }
    pthread_mutex_unlock(&lock);
    *ret = v;
    *ret_n = n;
    return 0;
}

void img_pull_status_free(struct img_pull_status *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].reference);
        free(v[i].layers);
    }
    free(v);
}
