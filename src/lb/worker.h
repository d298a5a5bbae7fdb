/* A worker thread's event loop state, shared by the L7 proxy (proxy.c) and
 * the L4 forwarder (tcp.c). Everything here belongs to one worker thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "lb/lb-internal.h"

enum ev_kind { EV_NOTIFY, EV_LISTEN, EV_CLIENT, EV_UPSTREAM, EV_TCP_CLIENT, EV_TCP_UPSTREAM };

/* The head of every object registered with the worker's epoll. */
struct ev {
    enum ev_kind kind;
    int fd;
    uint32_t events;        /* what epoll watches now */
    bool dead;              /* closed during this batch; freed after it */
    int64_t deadline_ms;    /* 0 = none */
    struct ev *prev, *next; /* the worker's list of live objects */
    void *owner;            /* the object this head belongs to */
};

struct wlistener {
    struct ev ev;
    char *key;
    enum lb_proto proto;
    bool paused; /* out of fds: accepting again at the next sweep */
};

struct lb_worker {
    struct lb *lb;
    int id;
    int epfd;
    struct ev notify; /* eventfd: reload or stop */
    pthread_t thread;
    struct lb_config *cfg; /* this worker's reference to the current one */
    size_t nls;
    struct wlistener **ls;
    struct ev live;   /* sentinel of the live objects list */
    void **graveyard; /* objects closed during the current batch */
    size_t ngrave, grave_cap;
    struct ev **expired; /* the sweep's scratch list */
    size_t expired_cap;
    int64_t now_ms;
};

/* Watches exactly `events` for e (adds, modifies or removes). */
void lb_ev_watch(struct lb_worker *w, struct ev *e, uint32_t events);
/* Sets e up for fd and watches events; linked objects are in the live list
 * (their deadlines are swept). */
void lb_ev_add(struct lb_worker *w, struct ev *e, int fd, enum ev_kind kind, void *owner,
               uint32_t events, bool linked);
/* Closes e's fd and unlinks it; events already fetched for it are skipped. */
void lb_ev_close(struct lb_worker *w, struct ev *e);
/* Frees p (with free()) once the current batch of events is handled. */
void lb_bury(struct lb_worker *w, void *p);

/* proxy.c */
void lb_http_accept(struct lb_worker *w, int fd, const char *lkey);
void lb_http_event(struct lb_worker *w, struct ev *e, uint32_t events);
void lb_http_timeout(struct lb_worker *w, struct ev *e);
/* Closes a client or upstream connection at shutdown. */
void lb_http_close(struct lb_worker *w, struct ev *e);
/* Whether e is an upstream connection carrying a request to a target whose
 * deregistration delay has ended (lb_http_close then cuts it, as ELB does). */
bool lb_http_drained(const struct ev *e, int64_t now_ms);

/* tcp.c */
void lb_tcp_accept(struct lb_worker *w, int fd, const char *lkey);
void lb_tcp_event(struct lb_worker *w, struct ev *e, uint32_t events);
void lb_tcp_timeout(struct lb_worker *w, struct ev *e);
void lb_tcp_close(struct lb_worker *w, struct ev *e);
/* The same for a TCP flow's upstream side (lb_tcp_close cuts the flow). */
bool lb_tcp_drained(const struct ev *e, int64_t now_ms);
