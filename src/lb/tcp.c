/* The L4 forwarder: TCP flows hashed over a target group's healthy
 * targets, bytes moved with splice(2) through one pipe per direction (they
 * never enter user space), half-close passed on. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "lb/worker.h"

#define PIPE_BYTES (256 * 1024)

/* Direction 0 is client → target, 1 is target → client. */
struct flow {
    struct ev cev, uev;
    struct lb_target *t;
    int idle_timeout_s;
    bool connecting;
    int pipe[2][2];
    size_t queued[2]; /* bytes in each pipe */
    bool eof[2];      /* the source side has sent FIN */
    bool shut[2];     /* FIN passed on to the destination */
    bool blocked[2];  /* the destination's socket buffer is full */
};

static void flow_close(struct lb_worker *w, struct flow *f)
{
    if (f->cev.dead)
        return;
    lb_ev_close(w, &f->cev);
    lb_ev_close(w, &f->uev);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2; k++)
            if (f->pipe[d][k] >= 0)
                close(f->pipe[d][k]);
    if (f->t) {
        atomic_fetch_sub(&f->t->outstanding, 1);
        lb_target_unref(f->t);
    }
    lb_bury(w, f);
}

static void flow_update(struct lb_worker *w, struct flow *f)
{
    uint32_t ev[2] = {0, 0}; /* for the client and the target fd */
    if (!f->connecting) {
        for (int d = 0; d < 2; d++) {
            int src = d, dst = 1 - d;
            if (!f->eof[d] && f->queued[d] < PIPE_BYTES)
                ev[src] |= EPOLLIN;
            if (f->blocked[d])
                ev[dst] |= EPOLLOUT;
        }
    } else {
        ev[1] = EPOLLOUT;
    }
    lb_ev_watch(w, &f->cev, ev[0]);
    lb_ev_watch(w, &f->uev, ev[1]);
}

/* Moves what it can in direction d; returns -1 when the flow is broken. */
static int pump(struct flow *f, int d)
{
    int src = d == 0 ? f->cev.fd : f->uev.fd;
    int dst = d == 0 ? f->uev.fd : f->cev.fd;
    for (;;) {
        bool progress = false;
        if (!f->eof[d] && f->queued[d] < PIPE_BYTES) {
            ssize_t n = splice(src, NULL, f->pipe[d][1], NULL, PIPE_BYTES - f->queued[d],
                               SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                f->queued[d] += (size_t)n;
                progress = true;
            } else if (n == 0) {
                f->eof[d] = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (f->queued[d]) {
            ssize_t n = splice(f->pipe[d][0], NULL, dst, NULL, f->queued[d],
                               SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                f->queued[d] -= (size_t)n;
                f->blocked[d] = false;
                progress = true;
            } else if (n < 0 && errno == EAGAIN) {
                f->blocked[d] = true;
            } else if (n < 0 && errno != EINTR) {
                return -1;
            }
        }
        if (f->eof[d] && f->queued[d] == 0 && !f->shut[d]) {
            /* Half-close: the other side may keep talking. */
            shutdown(dst, SHUT_WR);
            f->shut[d] = true;
        }
        if (!progress)
            return 0;
    }
}

static int flow_connect(struct lb_worker *w, struct flow *f, struct lb_target_group *tg,
                        int64_t hash)
{
    struct lb_target *avoid = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct lb_target *t = lb_pick(tg, hash, avoid);
        if (!t)
            return -1;
        int fd = lb_target_socket(t, &t->addr);
        if (fd >= 0 &&
            (connect(fd, (struct sockaddr *)&t->addr, t->addrlen) == 0 || errno == EINPROGRESS)) {
            f->t = t;
            atomic_fetch_add(&t->outstanding, 1);
            f->connecting = true;
            lb_ev_add(w, &f->uev, fd, EV_TCP_UPSTREAM, f, 0, false);
            return 0;
        }
        if (fd >= 0)
            close(fd);
        avoid = t;
        lb_target_unref(t);
    }
    return -1;
}

/* FNV-1a over the flow's addresses and ports (its 5-tuple: the protocol is
 * always TCP). */
static int64_t flow_hash(int fd)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof(a), lb = sizeof(b);
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    getpeername(fd, (struct sockaddr *)&a, &la);
    getsockname(fd, (struct sockaddr *)&b, &lb);
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p[2] = {(const unsigned char *)&a, (const unsigned char *)&b};
    socklen_t n[2] = {la, lb};
    for (int k = 0; k < 2; k++)
        for (socklen_t i = 0; i < n[k]; i++) {
            h ^= p[k][i];
            h *= 1099511628211ull;
        }
    return (int64_t)(h >> 1);
}

void lb_tcp_accept(struct lb_worker *w, int fd, const char *lkey)
{
    struct lb_listener *l = lb_config_listener(w->cfg, lkey);
    if (!l) {
        close(fd);
        return;
    }
    struct flow *f = xzalloc(sizeof(*f));
    for (int d = 0; d < 2; d++)
        f->pipe[d][0] = f->pipe[d][1] = -1;
    f->idle_timeout_s = l->idle_timeout_s;
    lb_ev_add(w, &f->cev, fd, EV_TCP_CLIENT, f, 0, true);
    f->uev.fd = -1;
    f->uev.owner = f;
    if (pipe2(f->pipe[0], O_NONBLOCK | O_CLOEXEC) < 0 ||
        pipe2(f->pipe[1], O_NONBLOCK | O_CLOEXEC) < 0 ||
        flow_connect(w, f, lb_pick_group(&l->default_action), flow_hash(fd)) < 0) {
        flow_close(w, f);
        return;
    }
    for (int d = 0; d < 2; d++)
        fcntl(f->pipe[d][1], F_SETPIPE_SZ, PIPE_BYTES);
    f->cev.deadline_ms = w->now_ms + (int64_t)f->idle_timeout_s * 1000;
    flow_update(w, f);
}

void lb_tcp_event(struct lb_worker *w, struct ev *e, uint32_t events)
{
    struct flow *f = e->owner;
    if (e == &f->uev && f->connecting) {
        int soerr = 0;
        socklen_t l = sizeof(soerr);
        getsockopt(f->uev.fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
        if (soerr || (events & EPOLLERR)) {
            /* As an NLB: the client sees its connection reset. */
            struct linger lg = {1, 0};
            setsockopt(f->cev.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            flow_close(w, f);
            return;
        }
        f->connecting = false;
        int one = 1;
        setsockopt(f->uev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(f->cev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (!f->connecting) {
        if ((events & EPOLLERR) || pump(f, 0) < 0 || pump(f, 1) < 0) {
            flow_close(w, f);
            return;
        }
        if (f->shut[0] && f->shut[1]) {
            flow_close(w, f);
            return;
        }
    }
    f->cev.deadline_ms = w->now_ms + (int64_t)f->idle_timeout_s * 1000;
    flow_update(w, f);
}

void lb_tcp_timeout(struct lb_worker *w, struct ev *e)
{
    flow_close(w, e->owner);
}

bool lb_tcp_drained(const struct ev *e, int64_t now_ms)
{
    if (e->kind != EV_TCP_UPSTREAM || e->dead)
        return false;
    const struct flow *f = e->owner;
    return f->t && lb_target_drained(f->t, now_ms);
}

void lb_tcp_close(struct lb_worker *w, struct ev *e)
{
    flow_close(w, e->owner);
}
