/* The worker threads: one epoll loop each, SO_REUSEPORT listeners of its
 * own, timeouts swept from a list of live objects. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "lb/worker.h"

#define SWEEP_MS 100

void lb_ev_watch(struct lb_worker *w, struct ev *e, uint32_t events)
{
    if (e->events == events || e->fd < 0)
        return;
    struct epoll_event ee = {.events = events, .data.ptr = e};
    int op = e->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(w->epfd, op, e->fd, &ee) == 0)
        e->events = events;
}

void lb_ev_add(struct lb_worker *w, struct ev *e, int fd, enum ev_kind kind, void *owner,
               uint32_t events, bool linked)
{
    e->kind = kind;
    e->fd = fd;
    e->owner = owner;
    e->events = 0;
    e->dead = false;
    e->prev = e->next = NULL;
    if (linked) {
        e->next = w->live.next;
        e->prev = &w->live;
        w->live.next->prev = e;
        w->live.next = e;
    }
    lb_ev_watch(w, e, events);
}

void lb_ev_close(struct lb_worker *w, struct ev *e)
{
    if (e->fd >= 0) {
        /* close() drops the epoll registration with the last reference. */
        close(e->fd);
        e->fd = -1;
    }
    e->events = 0;
    e->dead = true;
    if (e->prev) {
        e->prev->next = e->next;
        e->next->prev = e->prev;
        e->prev = e->next = NULL;
    }
    (void)w;
}

void lb_bury(struct lb_worker *w, void *p)
{
    if (w->ngrave == w->grave_cap) {
        w->grave_cap = w->grave_cap ? w->grave_cap * 2 : 64;
        w->graveyard = xrealloc(w->graveyard, w->grave_cap * sizeof(*w->graveyard));
    }
    w->graveyard[w->ngrave++] = p;
}

static int listen_on(const struct lb_listener *l, struct error **err)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, l->address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)l->port);
        len = sizeof(*in4);
    } else {
        inet_pton(AF_INET6, l->address, &in6->sin6_addr);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)l->port);
        len = sizeof(*in6);
    }
    _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_errno(err, errno, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Each worker listens on its own socket; the kernel spreads
     * connections among them. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        return error_errno(err, errno, "bind %s", l->key);
    if (listen(fd, 4096) < 0)
        return error_errno(err, errno, "listen %s", l->key);
    return TAKE_FD(fd);
}

/* Opens the listeners of the worker's configuration it lacks and closes the
 * ones it no longer has. Connections accepted earlier are not touched. */
static int sync_listeners(struct lb_worker *w, struct error **err)
{
    struct lb_config *c = w->cfg;
    size_t k = 0;
    for (size_t i = 0; i < w->nls; i++) {
        struct wlistener *wl = w->ls[i];
        struct lb_listener *l = lb_config_listener(c, wl->key);
        if (l && l->proto == wl->proto) {
            w->ls[k++] = wl;
            continue;
        }
        lb_ev_close(w, &wl->ev);
        free(wl->key);
        lb_bury(w, wl);
    }
    w->nls = k;
    w->ls = xrealloc(w->ls, (c->nlisteners + 1) * sizeof(*w->ls));
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct lb_listener *l = &c->listeners[i];
        bool have = false;
        for (size_t j = 0; j < w->nls; j++)
            have |= strcmp(w->ls[j]->key, l->key) == 0;
        if (have || l->bind_errno)
            continue;
        int fd = listen_on(l, err);
        if (fd < 0)
            return fd;
        struct wlistener *wl = xzalloc(sizeof(*wl));
        wl->key = xstrdup(l->key);
        wl->proto = l->proto;
        lb_ev_add(w, &wl->ev, fd, EV_LISTEN, wl, EPOLLIN, false);
        w->ls[w->nls++] = wl;
    }
    return 0;
}

static void accept_some(struct lb_worker *w, struct wlistener *wl)
{
    /* A bounded batch, so that one busy listener cannot starve the rest. */
    for (int i = 0; i < 64; i++) {
        int fd = accept4(wl->ev.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                wl->paused = true;
                lb_ev_watch(w, &wl->ev, 0);
            }
            return;
        }
        if (wl->proto == LB_PROTO_HTTP)
            lb_http_accept(w, fd, wl->key);
        else
            lb_tcp_accept(w, fd, wl->key);
    }
}

static void sweep(struct lb_worker *w)
{
    for (size_t i = 0; i < w->nls; i++)
        if (w->ls[i]->paused) {
            w->ls[i]->paused = false;
            lb_ev_watch(w, &w->ls[i]->ev, EPOLLIN);
        }
    /* Collect first: a timeout may close other objects (a client's
     * upstream), which unlinks them; closed objects stay allocated until
     * the batch ends, so the pointers remain valid. */
    size_t n = 0;
    for (struct ev *e = w->live.next; e != &w->live; e = e->next)
        if ((e->deadline_ms && w->now_ms >= e->deadline_ms) || lb_http_drained(e, w->now_ms) ||
            lb_tcp_drained(e, w->now_ms)) {
            if (n == w->expired_cap) {
                w->expired_cap = w->expired_cap ? w->expired_cap * 2 : 64;
                w->expired = xrealloc(w->expired, w->expired_cap * sizeof(*w->expired));
            }
            w->expired[n++] = e;
        }
    for (size_t i = 0; i < n; i++) {
        struct ev *e = w->expired[i];
        /* A target's deregistration delay is over: what it still serves is
         * cut (ELB closes such connections). */
        if (lb_http_drained(e, w->now_ms)) {
            lb_http_close(w, e);
            continue;
        }
        if (lb_tcp_drained(e, w->now_ms)) {
            lb_tcp_close(w, e);
            continue;
        }
        if (e->dead || !e->deadline_ms || w->now_ms < e->deadline_ms)
            continue;
        if (e->kind == EV_TCP_CLIENT)
            lb_tcp_timeout(w, e);
        else
            lb_http_timeout(w, e);
    }
}

/* Takes the current configuration, if it changed. */
static void reload(struct lb_worker *w)
{
    uint64_t v;
    while (read(w->notify.fd, &v, sizeof(v)) > 0)
        ;
    pthread_mutex_lock(&w->lb->lock);
    struct lb_config *c = w->lb->cur;
    if (c != w->cfg) {
        lb_config_unref(w->cfg);
        w->cfg = lb_config_ref(c);
    }
    pthread_mutex_unlock(&w->lb->lock);
    struct error *err = NULL;
    /* The main thread bound every listener before publishing, so this
     * fails only on fd exhaustion; the listener then waits for the next
     * reload. */
    if (sync_listeners(w, &err) < 0)
        error_free(err);
}

static void *worker_main(void *arg)
{
    struct lb_worker *w = arg;
    struct epoll_event evs[256];
    int64_t next_sweep = 0;
    while (!atomic_load(&w->lb->stop)) {
        int n = epoll_wait(w->epfd, evs, 256, SWEEP_MS);
        w->now_ms = time_mono_ns() / 1000000;
        for (int i = 0; i < n; i++) {
            struct ev *e = evs[i].data.ptr;
            if (e->dead)
                continue;
            switch (e->kind) {
            case EV_NOTIFY:
                reload(w);
                break;
            case EV_LISTEN:
                accept_some(w, e->owner);
                break;
            case EV_CLIENT:
            case EV_UPSTREAM:
                lb_http_event(w, e, evs[i].events);
                break;
            case EV_TCP_CLIENT:
            case EV_TCP_UPSTREAM:
                lb_tcp_event(w, e, evs[i].events);
                break;
            }
        }
        if (w->now_ms >= next_sweep) {
            sweep(w);
            next_sweep = w->now_ms + SWEEP_MS;
        }
        for (size_t i = 0; i < w->ngrave; i++)
            free(w->graveyard[i]);
        w->ngrave = 0;
    }
    /* Shut down: every connection goes. */
    while (w->live.next != &w->live) {
        struct ev *e = w->live.next;
        if (e->kind == EV_TCP_CLIENT)
            lb_tcp_close(w, e);
        else
            lb_http_close(w, e);
    }
    for (size_t i = 0; i < w->ngrave; i++)
        free(w->graveyard[i]);
    w->ngrave = 0;
    return NULL;
}

int lb_worker_start(struct lb *lb, int id, struct lb_worker **ret, struct error **err)
{
    struct lb_worker *w = xzalloc(sizeof(*w));
    w->lb = lb;
    w->id = id;
    w->live.next = w->live.prev = &w->live;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || efd < 0) {
        int r = error_errno(err, errno, "epoll/eventfd");
        if (efd >= 0)
            close(efd);
        if (w->epfd >= 0)
            close(w->epfd);
        free(w);
        return r;
    }
    lb_ev_add(w, &w->notify, efd, EV_NOTIFY, w, EPOLLIN, false);
    w->cfg = lb_config_ref(lb->cur);
    int r = sync_listeners(w, err);
    if (r == 0) {
        r = -pthread_create(&w->thread, NULL, worker_main, w);
        if (r < 0)
            error_errno(err, -r, "pthread_create");
    }
    if (r < 0) {
        w->thread = 0;
        lb_worker_stop(w);
        return r;
    }
    *ret = w;
    return 0;
}

void lb_worker_notify(struct lb_worker *w)
{
    uint64_t one = 1;
    if (write(w->notify.fd, &one, sizeof(one)) < 0) {
        /* The counter is already non-zero: the worker will look. */
    }
}

void lb_worker_stop(struct lb_worker *w)
{
    if (!w)
        return;
    if (w->thread) {
        lb_worker_notify(w);
        pthread_join(w->thread, NULL);
    }
    for (size_t i = 0; i < w->nls; i++) {
        close(w->ls[i]->ev.fd);
        free(w->ls[i]->key);
        free(w->ls[i]);
    }
    for (size_t i = 0; i < w->ngrave; i++)
        free(w->graveyard[i]);
    free(w->graveyard);
    free(w->expired);
    free(w->ls);
    close(w->notify.fd);
    close(w->epfd);
    lb_config_unref(w->cfg);
    free(w);
}
