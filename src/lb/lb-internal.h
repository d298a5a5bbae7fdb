/* Internals shared by the load balancer's files: the parsed configuration,
 * targets (which outlive configurations, so that health and in-flight
 * counts survive a reload), balancers, health checks and the workers. See
 * docs/lb.md for the design. */
#pragma once

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"
#include "lb/lb.h"

#define LB_MAX_WORKERS 64

enum lb_proto { LB_PROTO_HTTP, LB_PROTO_TCP };

enum lb_health { LB_HEALTH_INITIAL, LB_HEALTH_HEALTHY, LB_HEALTH_UNHEALTHY };

struct upstream; /* an idle or busy upstream connection (proxy.c) */

/* One registered target of one target group. Shared (refcounted) between
 * the configurations that name it, the workers' requests and connection
 * pools, and the health checker. */
struct lb_target {
    atomic_int refs;
    char *key; /* "<group>|<ip>:<port>", the identity across reloads */
    char ip[64];
    int port;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct sockaddr_storage hc_addr; /* health-check port */
    socklen_t hc_addrlen;
    /* Task targets (docs/lb.md "Targets on task networks"): the interface
     * connections to it are bound to (SO_BINDTODEVICE; "" for none) and
     * the firewall mark they carry (0 for none). Fixed at creation. */
    char device[16];
    uint32_t mark;

    atomic_int health;      /* enum lb_health */
    atomic_int outstanding; /* requests or TCP flows in flight */
    atomic_bool draining;   /* removed by a reload: no new requests */
    const char *reason;     /* ELB reason code of the last state, static */
    /* When its deregistration delay ends: requests and flows still in
     * flight then are cut (workers' sweeps, lb_target_drained). */
    _Atomic int64_t drain_deadline_ms;

    /* Health-check bookkeeping, touched only by the health thread. */
    int hc_fd;
    int hc_phase; /* 0 idle, 1 connecting, 2 reading */
    int successes, failures;
    int64_t hc_next_ms, hc_deadline_ms;
    char hc_buf[256];
    size_t hc_len;

    /* Idle upstream connections, one list per worker (no locking). */
    struct upstream *pool[LB_MAX_WORKERS];
    int pool_len[LB_MAX_WORKERS];
};

struct lb_health_check {
    bool enabled;
    enum lb_proto proto;
    char *path;
    int port; /* 0 = the target's port */
    int interval_s, timeout_s;
    int healthy_threshold, unhealthy_threshold;
    char *matcher; /* "200", "200-299", "200,202" */
};

enum lb_algorithm { LB_ALGO_ROUND_ROBIN, LB_ALGO_LEAST_OUTSTANDING };

struct lb_target_group {
    char *name;
    enum lb_proto proto;
    enum lb_algorithm algorithm;
    int deregistration_delay_s;
    struct lb_health_check hc;
    size_t ntargets;
    struct lb_target **targets;
    atomic_uint rr;
};

enum lb_action_type { LB_ACTION_FORWARD, LB_ACTION_FIXED, LB_ACTION_REDIRECT };

struct lb_weighted_group {
    struct lb_target_group *tg;
    int weight;
};

struct lb_action {
    enum lb_action_type type;
    /* forward */
    size_t ngroups;
    struct lb_weighted_group *groups;
    int total_weight;
    atomic_uint wrr;
    /* fixed-response and redirect */
    int status;
    char *content_type, *body;
    char *protocol, *host, *port, *path, *query;
};

enum lb_field { LB_COND_PATH, LB_COND_HOST, LB_COND_HEADER, LB_COND_METHOD };

struct lb_condition {
    enum lb_field field;
    char *header; /* http-header: the name */
    size_t nvalues;
    char **values;
};

struct lb_rule {
    int priority;
    size_t nconds;
    struct lb_condition *conds;
    struct lb_action action;
};

struct lb_listener {
    char *key; /* "<address>:<port>" */
    enum lb_proto proto;
    char *address;
    int port;
    int idle_timeout_s;
    size_t nrules;
    struct lb_rule *rules; /* sorted by priority */
    struct lb_action default_action;
    /* 0, or the errno of binding it (a port another program holds): such a
     * listener is left out (workers do not open it, the status file names
     * it) and tried again at the next reload; the others serve. */
    int bind_errno;
};

/* An immutable configuration, swapped whole on reload. */
struct lb_config {
    atomic_int refs;
    int workers;
    char *status_file;
    int header_timeout_s;
    size_t max_request_line, max_head;
    size_t nlisteners;
    struct lb_listener *listeners;
    size_t ngroups;
    struct lb_target_group *groups;
};

/* Targets by key, so that a reload finds the objects (and their health and
 * pools) of targets it keeps. Only the thread that loads configurations
 * touches it. */
struct lb_registry {
    size_t n, alloc;
    struct lb_target **t;
};

struct lb_worker;

struct lb {
    pthread_mutex_t lock; /* guards cur and draining */
    struct lb_config *cur;
    struct lb_registry registry;
    struct lb_registry draining; /* removed targets not yet drained */
    int nworkers;
    struct lb_worker *workers[LB_MAX_WORKERS];
    pthread_t health_thread;
    atomic_bool stop;
};

/* config.c */
int lb_config_parse(const char *text, struct lb_registry *reg, struct lb_config **ret,
                    struct error **err);
struct lb_config *lb_config_ref(struct lb_config *c);
void lb_config_unref(struct lb_config *c);
struct lb_target *lb_target_ref(struct lb_target *t);
void lb_target_unref(struct lb_target *t);
/* A non-blocking socket for a connection to t at addr (its traffic or its
 * health-check address), bound to t's device and marked with t's mark
 * when it has them; -1 with errno on failure. */
int lb_target_socket(const struct lb_target *t, const struct sockaddr_storage *addr);
/* True when t is draining and its deregistration delay has ended. */
bool lb_target_drained(struct lb_target *t, int64_t now_ms);
struct lb_listener *lb_config_listener(struct lb_config *c, const char *key);

/* balance.c */
/* Picks a target of tg: healthy ones, or every non-draining one when none is
 * healthy (fail open); avoid (may be NULL) is skipped when another is there.
 * flow_hash >= 0 picks by hash (L4). Returns a new reference or NULL when
 * the group has no usable target. */
struct lb_target *lb_pick(struct lb_target_group *tg, int64_t flow_hash,
                          const struct lb_target *avoid);
/* Picks one group of a weighted forward action. */
struct lb_target_group *lb_pick_group(struct lb_action *a);
/* ELB wildcard match: '*' any run, '?' one character; case-insensitive
 * when fold is set. */
bool lb_wildcard_match(const char *pat, const char *s, size_t n, bool fold);
struct lb_http_request;
/* The action of the first rule (by priority) whose conditions all match,
 * or the listener's default. */
struct lb_action *lb_route(struct lb_listener *l, const struct lb_http_request *req);

/* health.c */
void *lb_health_main(void *arg);

/* proxy.c */
int lb_worker_start(struct lb *lb, int id, struct lb_worker **ret, struct error **err);
void lb_worker_notify(struct lb_worker *w);
void lb_worker_stop(struct lb_worker *w);

/* tcp.c (L4), driven by the worker loop */
struct lb_worker_ctx;
