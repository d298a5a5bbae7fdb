/* The load balancer object: configuration loading, workers, health thread,
 * reloads. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "lb/lb-internal.h"

static void registry_add(struct lb_registry *r, struct lb_target *t)
{
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 16;
        r->t = xrealloc(r->t, r->alloc * sizeof(*r->t));
    }
    r->t[r->n++] = lb_target_ref(t);
}

static void registry_clear(struct lb_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        lb_target_unref(r->t[i]);
    r->n = 0;
}

static bool config_has(struct lb_config *c, struct lb_target *t)
{
    for (size_t g = 0; g < c->ngroups; g++)
        for (size_t i = 0; i < c->groups[g].ntargets; i++)
            if (c->groups[g].targets[i] == t)
                return true;
    return false;
}

static int group_delay(struct lb_config *c, const struct lb_target *t)
{
    size_t n = strcspn(t->key, "|");
    for (size_t g = 0; g < c->ngroups; g++)
        if (strlen(c->groups[g].name) == n && strncmp(c->groups[g].name, t->key, n) == 0)
            return c->groups[g].deregistration_delay_s;
    return 300;
}

/* Makes c the registry's content: its targets are the known ones; the
 * known ones it dropped start draining. Called with lb->lock held. */
static void registry_update(struct lb *lb, struct lb_config *old, struct lb_config *c,
                            int64_t now_ms)
{
    for (size_t i = 0; old && i < lb->registry.n; i++) {
        struct lb_target *t = lb->registry.t[i];
        if (config_has(c, t))
            continue;
        atomic_store(&t->draining, true);
        t->drain_deadline_ms = now_ms + (int64_t)group_delay(old, t) * 1000;
        registry_add(&lb->draining, t);
    }
    registry_clear(&lb->registry);
    for (size_t g = 0; g < c->ngroups; g++)
        for (size_t i = 0; i < c->groups[g].ntargets; i++) {
            struct lb_target *t = c->groups[g].targets[i];
            /* Back in the configuration: drained no more. */
            if (atomic_exchange(&t->draining, false)) {
                size_t k = 0;
                for (size_t d = 0; d < lb->draining.n; d++) {
                    if (lb->draining.t[d] == t)
                        lb_target_unref(t);
                    else
                        lb->draining.t[k++] = lb->draining.t[d];
                }
                lb->draining.n = k;
            }
            registry_add(&lb->registry, t);
        }
}

static int worker_count(struct lb_config *c)
{
    if (c->workers > 0)
        return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > LB_MAX_WORKERS ? LB_MAX_WORKERS : (int)n;
}

void lb_free(struct lb *lb)
{
    if (!lb)
        return;
    atomic_store(&lb->stop, true);
    for (int i = 0; i < lb->nworkers; i++)
        lb_worker_stop(lb->workers[i]);
    if (lb->health_thread)
        pthread_join(lb->health_thread, NULL);
    /* Idle pooled connections went with their workers; health-check
     * sockets go with the targets' last references. */
    for (size_t i = 0; i < lb->registry.n; i++)
        if (lb->registry.t[i]->hc_fd >= 0)
            close(lb->registry.t[i]->hc_fd);
    for (size_t i = 0; i < lb->draining.n; i++)
        if (lb->draining.t[i]->hc_fd >= 0) {
            close(lb->draining.t[i]->hc_fd);
            lb->draining.t[i]->hc_fd = -1;
        }
    registry_clear(&lb->registry);
    registry_clear(&lb->draining);
    free(lb->registry.t);
    free(lb->draining.t);
    lb_config_unref(lb->cur);
    pthread_mutex_destroy(&lb->lock);
    free(lb);
}

static void check_listeners(struct lb_config *old, struct lb_config *c);

int lb_new(const char *config_text, struct lb **ret, struct error **err)
{
    struct lb *lb = xzalloc(sizeof(*lb));
    pthread_mutex_init(&lb->lock, NULL);
    int r = lb_config_parse(config_text, &lb->registry, &lb->cur, err);
    if (r < 0) {
        lb_free(lb);
        return r;
    }
    registry_update(lb, NULL, lb->cur, 0);
    check_listeners(NULL, lb->cur);
    int n = worker_count(lb->cur);
    for (int i = 0; i < n; i++) {
        r = lb_worker_start(lb, i, &lb->workers[i], err);
        if (r < 0) {
            lb_free(lb);
            return r;
        }
        lb->nworkers++;
    }
    r = -pthread_create(&lb->health_thread, NULL, lb_health_main, lb);
    if (r < 0) {
        lb->health_thread = 0;
        error_errno(err, -r, "pthread_create");
        lb_free(lb);
        return r;
    }
    *ret = lb;
    return 0;
}

/* Binds each new listener once (and each one the running configuration
 * could not bind), so that a port in use is found here: that listener is
 * marked and left out, and the others serve. */
static void check_listeners(struct lb_config *old, struct lb_config *c)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct lb_listener *l = &c->listeners[i];
        struct lb_listener *was = old ? lb_config_listener(old, l->key) : NULL;
        if (was && !was->bind_errno)
            continue;
        struct sockaddr_storage ss = {0};
        socklen_t len = sizeof(struct sockaddr_in);
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, l->address, &in4->sin_addr) == 1) {
            in4->sin_family = AF_INET;
            in4->sin_port = htons((uint16_t)l->port);
        } else {
            inet_pton(AF_INET6, l->address, &in6->sin6_addr);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons((uint16_t)l->port);
            len = sizeof(*in6);
        }
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        int b = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&ss, len);
        int e = errno;
        if (fd >= 0)
            close(fd);
        l->bind_errno = fd < 0 || b < 0 ? (e ? e : EIO) : 0;
    }
}

char *lb_unbound_listeners(struct lb *lb)
{
    pthread_mutex_lock(&lb->lock);
    struct lb_config *c = lb_config_ref(lb->cur);
    pthread_mutex_unlock(&lb->lock);
    char *out = NULL;
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct lb_listener *l = &c->listeners[i];
        if (!l->bind_errno)
            continue;
        char *more = xasprintf("%s%s%s (%s)", out ? out : "", out ? ", " : "", l->key,
                               strerror(l->bind_errno));
        free(out);
        out = more;
    }
    lb_config_unref(c);
    return out;
}

int lb_reload(struct lb *lb, const char *config_text, struct error **err)
{
    struct lb_config *c;
    int r = lb_config_parse(config_text, &lb->registry, &c, err);
    if (r < 0)
        return r;
    check_listeners(lb->cur, c);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    pthread_mutex_lock(&lb->lock);
    struct lb_config *old = lb->cur;
    registry_update(lb, old, c, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    lb->cur = c;
    pthread_mutex_unlock(&lb->lock);
    lb_config_unref(old);
    for (int i = 0; i < lb->nworkers; i++)
        lb_worker_notify(lb->workers[i]);
    return 0;
}
