/* Active health checks (one thread, non-blocking sockets under poll) and
 * the status file that reports each target's state. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "lb/lb-internal.h"

static int64_t mono_ms(void)
{
    return time_mono_ns() / 1000000;
}

/* Whether code matches "200", "200-299" or "200,202,300-310". */
static bool matcher_ok(const char *m, int code)
{
    const char *p = m;
    while (*p) {
        char *e;
        long lo = strtol(p, &e, 10), hi = lo;
        if (e == p)
            return false;
        if (*e == '-') {
            p = e + 1;
            hi = strtol(p, &e, 10);
            if (e == p)
                return false;
        }
        if (code >= lo && code <= hi)
            return true;
        p = e;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return false;
}

static void close_check(struct lb_target *t)
{
    if (t->hc_fd >= 0)
        close(t->hc_fd);
    t->hc_fd = -1;
    t->hc_phase = 0;
    t->hc_len = 0;
}

static void record(struct lb_target *t, const struct lb_health_check *hc, bool ok,
                   const char *reason, int64_t now)
{
    close_check(t);
    t->hc_next_ms = now + (int64_t)hc->interval_s * 1000;
    int state = atomic_load(&t->health);
    if (ok) {
        t->failures = 0;
        if (++t->successes >= hc->healthy_threshold && state != LB_HEALTH_HEALTHY) {
            atomic_store(&t->health, LB_HEALTH_HEALTHY);
            t->reason = NULL;
        }
    } else {
        t->successes = 0;
        if (++t->failures >= hc->unhealthy_threshold) {
            atomic_store(&t->health, LB_HEALTH_UNHEALTHY);
            t->reason = reason;
        }
    }
}

static void start_check(struct lb_target *t, const struct lb_health_check *hc, int64_t now)
{
    t->hc_deadline_ms = now + (int64_t)hc->timeout_s * 1000;
    t->hc_fd = lb_target_socket(t, &t->hc_addr);
    if (t->hc_fd < 0) {
        record(t, hc, false, "Target.FailedHealthChecks", now);
        return;
    }
    if (connect(t->hc_fd, (struct sockaddr *)&t->hc_addr, t->hc_addrlen) < 0 &&
        errno != EINPROGRESS) {
        record(t, hc, false, "Target.FailedHealthChecks", now);
        return;
    }
    t->hc_phase = 1;
}

/* Moves a check on after poll said its socket is ready. */
static void step_check(struct lb_target *t, const struct lb_health_check *hc, short revents,
                       int64_t now)
{
    if (t->hc_phase == 1) {
        int soerr = 0;
        socklen_t l = sizeof(soerr);
        if (getsockopt(t->hc_fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0 || soerr) {
            record(t, hc, false, "Target.FailedHealthChecks", now);
            return;
        }
        if (!(revents & POLLOUT))
            return;
        if (hc->proto == LB_PROTO_TCP) {
            record(t, hc, true, NULL, now);
            return;
        }
        char req[1024];
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: skiff-lb-health\r\n"
                         "Connection: close\r\n\r\n",
                         hc->path, t->ip, t->port);
        if (n <= 0 || n >= (int)sizeof(req) || send(t->hc_fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
            record(t, hc, false, "Target.FailedHealthChecks", now);
            return;
        }
        t->hc_phase = 2;
        return;
    }
    ssize_t r = read(t->hc_fd, t->hc_buf + t->hc_len, sizeof(t->hc_buf) - 1 - t->hc_len);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r > 0)
        t->hc_len += (size_t)r;
    t->hc_buf[t->hc_len] = '\0';
    /* The status line is all a check needs. */
    if (t->hc_len >= 12 && strncmp(t->hc_buf, "HTTP/1.", 7) == 0 && t->hc_buf[8] == ' ') {
        int code = atoi(t->hc_buf + 9);
        bool ok = matcher_ok(hc->matcher, code);
        record(t, hc, ok, ok ? NULL : "Target.ResponseCodeMismatch", now);
        return;
    }
    if (r <= 0 || t->hc_len == sizeof(t->hc_buf) - 1)
        record(t, hc, false, "Target.FailedHealthChecks", now);
}

static const char *state_name(const struct lb_target *t, bool draining)
{
    if (draining)
        return "draining";
    switch (atomic_load(&t->health)) {
    case LB_HEALTH_HEALTHY:
        return "healthy";
    case LB_HEALTH_UNHEALTHY:
        return "unhealthy";
    default:
        return "initial";
    }
}

static json_t *target_json(const struct lb_target *t, const char *group, bool draining,
                           bool enabled)
{
    json_t *o = json_object();
    json_object_set_new(o, "target_group", json_string(group));
    json_object_set_new(o, "ip", json_string(t->ip));
    json_object_set_new(o, "port", json_integer(t->port));
    json_object_set_new(o, "state",
                        json_string(enabled || draining ? state_name(t, draining) : "unavailable"));
    const char *reason = draining   ? "Target.DeregistrationInProgress"
                         : !enabled ? "Target.HealthCheckDisabled"
                                    : t->reason;
    if (reason)
        json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "in_flight", json_integer(atomic_load(&t->outstanding)));
    return o;
}

/* Writes the status file (temp name, then rename) when its text changed. */
static void write_status(struct lb *lb, struct lb_config *c, char **last)
{
    if (!c->status_file)
        return;
    json_t *root = json_object();
    json_t *arr = json_array();
    for (size_t g = 0; g < c->ngroups; g++)
        for (size_t i = 0; i < c->groups[g].ntargets; i++)
            json_array_append_new(arr, target_json(c->groups[g].targets[i], c->groups[g].name,
                                                   false, c->groups[g].hc.enabled));
    pthread_mutex_lock(&lb->lock);
    for (size_t i = 0; i < lb->draining.n; i++) {
        struct lb_target *t = lb->draining.t[i];
        char group[256];
        snprintf(group, sizeof(group), "%.*s", (int)strcspn(t->key, "|"), t->key);
        json_array_append_new(arr, target_json(t, group, true, true));
    }
    pthread_mutex_unlock(&lb->lock);
    json_object_set_new(root, "targets", arr);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    if (*last && strcmp(*last, text) == 0) {
        free(text);
        return;
    }
    char *tmp = xasprintf("%s.tmp", c->status_file);
    FILE *f = fopen(tmp, "we");
    if (f) {
        bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok = fclose(f) == 0 && ok;
        if (ok && rename(tmp, c->status_file) == 0) {
            free(*last);
            *last = TAKE_PTR(text);
        }
    }
    free(tmp);
    free(text);
}

/* Drops draining targets whose requests finished or whose delay ran out. */
static void reap_draining(struct lb *lb, int64_t now)
{
    pthread_mutex_lock(&lb->lock);
    size_t k = 0;
    for (size_t i = 0; i < lb->draining.n; i++) {
        struct lb_target *t = lb->draining.t[i];
        if (atomic_load(&t->outstanding) == 0 || now >= t->drain_deadline_ms) {
            close_check(t);
            lb_target_unref(t);
        } else {
            lb->draining.t[k++] = t;
        }
    }
    lb->draining.n = k;
    pthread_mutex_unlock(&lb->lock);
}

void *lb_health_main(void *arg)
{
    struct lb *lb = arg;
    char *last = NULL;
    struct pollfd *pfd = NULL;
    struct lb_target **who = NULL;
    const struct lb_health_check **whohc = NULL;
    size_t cap = 0;
    int64_t next_status = 0;

    while (!atomic_load(&lb->stop)) {
        pthread_mutex_lock(&lb->lock);
        struct lb_config *c = lb_config_ref(lb->cur);
        pthread_mutex_unlock(&lb->lock);

        int64_t now = mono_ms();
        size_t total = 0;
        for (size_t g = 0; g < c->ngroups; g++)
            total += c->groups[g].ntargets;
        if (total > cap) {
            cap = total;
            pfd = xrealloc(pfd, cap * sizeof(*pfd));
            who = xrealloc(who, cap * sizeof(*who));
            whohc = xrealloc(whohc, cap * sizeof(*whohc));
        }
        size_t n = 0;
        for (size_t g = 0; g < c->ngroups; g++) {
            struct lb_target_group *tg = &c->groups[g];
            for (size_t i = 0; i < tg->ntargets; i++) {
                struct lb_target *t = tg->targets[i];
                if (!tg->hc.enabled) {
                    /* Without checks every target counts as healthy. */
                    atomic_store(&t->health, LB_HEALTH_HEALTHY);
                    continue;
                }
                if (t->hc_phase == 0 && now >= t->hc_next_ms)
                    start_check(t, &tg->hc, now);
                if (t->hc_phase != 0 && now >= t->hc_deadline_ms)
                    record(t, &tg->hc, false, "Target.Timeout", now);
                if (t->hc_phase == 0)
                    continue;
                pfd[n] = (struct pollfd){t->hc_fd, t->hc_phase == 1 ? POLLOUT : POLLIN, 0};
                who[n] = t;
                whohc[n] = &tg->hc;
                n++;
            }
        }
        /* 50 ms keeps thresholds within a tick of interval × count. */
        int pr = poll(pfd, n, 50);
        now = mono_ms();
        if (pr > 0)
            for (size_t i = 0; i < n; i++)
                if (pfd[i].revents)
                    step_check(who[i], whohc[i], pfd[i].revents, now);
        reap_draining(lb, now);
        if (now >= next_status) {
            write_status(lb, c, &last);
            next_status = now + 200;
        }
        lb_config_unref(c);
    }
    free(pfd);
    free(who);
    free(whohc);
    free(last);
    return NULL;
}
