#include "api/throttle.h"
#include "base/xalloc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define THROTTLE_BUCKETS 256

struct bucket {
    double tokens[2]; /* [0] reads, [1] writes */
    int64_t last_ns[2];
    struct bucket *next;
    char account[]; /* the whole key: no two accounts share a bucket */
};

struct throttle {
    struct throttle_config cfg;
    pthread_mutex_t lock;
    struct bucket *table[THROTTLE_BUCKETS];
};

struct throttle *throttle_new(const struct throttle_config *cfg)
{
    struct throttle *t = xzalloc(sizeof(*t));
    t->cfg = *cfg;
    /* A limited class needs room for at least one call. */
    if (t->cfg.read.rate > 0 && t->cfg.read.burst < 1)
        t->cfg.read.burst = 1;
    if (t->cfg.write.rate > 0 && t->cfg.write.burst < 1)
        t->cfg.write.burst = 1;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void throttle_free(struct throttle *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < THROTTLE_BUCKETS; i++) {
        struct bucket *b = t->table[i];
        while (b) {
            struct bucket *n = b->next;
            free(b);
            b = n;
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

bool throttle_take(struct throttle *t, const char *account, bool write, int64_t now_ns)
{
    const struct throttle_rate *r = write ? &t->cfg.write : &t->cfg.read;
    /* (also false for NaN) */
    if (!(r->rate > 0))
        return true;
    int k = write ? 1 : 0;
    unsigned h = hash(account) % THROTTLE_BUCKETS;
    bool ok;
    pthread_mutex_lock(&t->lock);
    struct bucket *b = t->table[h];
    while (b && strcmp(b->account, account) != 0)
        b = b->next;
    if (!b) {
        size_t len = strlen(account);
        b = xzalloc(sizeof(*b) + len + 1);
        memcpy(b->account, account, len + 1);
        for (int i = 0; i < 2; i++) {
            b->tokens[i] = i ? t->cfg.write.burst : t->cfg.read.burst;
            b->last_ns[i] = now_ns;
        }
        b->next = t->table[h];
        t->table[h] = b;
    }
    double elapsed = (double)(now_ns - b->last_ns[k]) / 1e9;
    if (elapsed > 0) {
        b->tokens[k] += elapsed * r->rate;
        if (b->tokens[k] > r->burst)
            b->tokens[k] = r->burst;
        b->last_ns[k] = now_ns;
    }
    ok = b->tokens[k] >= 1.0;
    if (ok)
        b->tokens[k] -= 1.0;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

int throttle_parse_rate(const char *s, struct throttle_rate *r)
{
    if (!strcmp(s, "off")) {
        r->rate = 0;
        r->burst = 0;
        return 0;
    }
    char *end;
    double rate = strtod(s, &end);
    if (end == s || *end != ':' || !isfinite(rate) || rate <= 0)
        return -EINVAL;
    const char *b = end + 1;
    double burst = strtod(b, &end);
    if (end == b || *end || !isfinite(burst) || burst < 1)
        return -EINVAL;
    r->rate = rate;
    r->burst = burst;
    return 0;
}
