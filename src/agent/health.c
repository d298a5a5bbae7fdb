/* Container health checks, Docker's rules (moby daemon/health.go), run by
 * the task's thread without blocking it: a probe is `runtime exec` of the
 * check's command inside the container, started every interval after the
 * previous one ended (the first one interval after the container started)
 * as the container's own process (user, groups, environment, working
 * directory, capabilities: its config.json's process with the check's
 * arguments),
 * watched through a pidfd in the task's poll set and killed at its timeout.
 *   - exit 0: healthy, and the failure streak resets;
 *   - any other end (exit code, timeout, exec failure): a failure, not
 *     counted while the container is in its start period and has never
 *     been healthy; `retries` counted failures in a row make it unhealthy.
 * A task is UNHEALTHY when an essential container is, HEALTHY when every
 * essential container with a check is (and there is one), else UNKNOWN. */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "oci/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS_NS 1000000LL

const char *agent_health_name(enum health_status h)
{
    switch (h) {
    case HEALTH_HEALTHY:
        return "HEALTHY";
    case HEALTH_UNHEALTHY:
        return "UNHEALTHY";
    default:
        return "UNKNOWN";
    }
}

enum health_status agent_task_health(const struct task *t)
{
    bool any = false;
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        const struct ctr *c = &t->ctrs[i];
        if (!c->def->essential || !c->def->health.enabled)
            continue;
        if (c->health == HEALTH_UNHEALTHY)
            return HEALTH_UNHEALTHY;
        if (c->health != HEALTH_HEALTHY)
            return HEALTH_UNKNOWN;
        any = true;
    }
    return any ? HEALTH_HEALTHY : HEALTH_UNKNOWN;
}

char *agent_health_process_path(const struct task *t, const struct ctr *c)
{
    return xasprintf("%s/hc/%s.json", t->dir, c->def->slug);
}

static char *pidfile(const struct task *t, const struct ctr *c)
{
    return xasprintf("%s/hc/%s.pid", t->dir, c->def->slug);
}

/* SIGKILLs the probe's process inside the container (from the runtime's
 * pid file) and the runtime's exec process, and reaps the latter. */
static void probe_kill(struct task *t, struct ctr *c)
{
    struct health_run *h = &c->hc;
    _cleanup_free_ char *pf = pidfile(t, c);
    _cleanup_free_ char *text = NULL;
    if (oci_file_read_at(AT_FDCWD, pf, 32, &text, NULL) == 0) {
        pid_t inner = (pid_t)atoi(text);
        int fd = inner > 0 ? pidfd_open(inner, 0) : -1;
        if (fd >= 0) {
            pidfd_send_signal(fd, SIGKILL, NULL, 0);
            close(fd);
        }
    }
    kill(h->pid, SIGKILL);
    int status;
    while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
        ;
    unlink(pf);
}

static void probe_done(struct ctr *c)
{
    struct health_run *h = &c->hc;
    if (h->pidfd >= 0)
        close(h->pidfd);
    h->pidfd = -1;
    h->pid = 0;
}

void agent_health_cancel(struct task *t, struct ctr *c)
{
    if (c->hc.pid <= 0)
        return;
    probe_kill(t, c);
    probe_done(c);
}

static bool result(struct ctr *c, bool ok)
{
    struct health_run *h = &c->hc;
    enum health_status before = c->health;
    if (ok) {
        h->failures = 0;
        c->healthy_once = true;
        c->health = HEALTH_HEALTHY;
    } else {
        bool starting =
            !c->healthy_once && h->started_ms - c->started_ms < c->def->health.start_period_ms;
        if (!starting && ++h->failures >= c->def->health.retries)
            c->health = HEALTH_UNHEALTHY;
    }
    return c->health != before;
}

static void start_probe(struct task *t, struct ctr *c, int64_t now_ns)
{
    struct health_run *h = &c->hc;
    _cleanup_free_ char *dir = xasprintf("%s/hc", t->dir);
    _cleanup_free_ char *pf = pidfile(t, c);
    oci_dir_make(dir, 0700, NULL);
    unlink(pf);
    h->started_ms = time_now_ms();
    h->deadline_ns = now_ns + c->def->health.timeout_ms * MS_NS;
    _cleanup_error_ struct error *e = NULL;
    pid_t pid;
    _cleanup_free_ char *proc = agent_health_process_path(t, c);
    if (agent_rt_exec_start(&t->a->rtc, c->def->runtime_id, proc, pf, &pid, &e) < 0) {
        h->pid = 0;
        return;
    }
    h->pid = pid;
    h->pidfd = pidfd_open(pid, 0);
}

bool agent_health_step(struct task *t, struct ctr *c, int64_t now_ns, int64_t *next_ns)
{
    const struct health_def *hd = &c->def->health;
    struct health_run *h = &c->hc;
    if (!hd->enabled || c->state != CTR_RUNNING)
        return false;
    bool changed = false;
    if (h->pid > 0) {
        int status;
        pid_t r;
        do
            r = waitpid(h->pid, &status, WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == h->pid) {
            _cleanup_free_ char *pf = pidfile(t, c);
            unlink(pf);
            probe_done(c);
            changed = result(c, WIFEXITED(status) && WEXITSTATUS(status) == 0);
            h->next_ns = now_ns + hd->interval_ms * MS_NS;
        } else if (now_ns >= h->deadline_ns) {
            agent_health_cancel(t, c);
            changed = result(c, false);
            h->next_ns = now_ns + hd->interval_ms * MS_NS;
        }
    }
    if (h->pid <= 0) {
        if (h->next_ns == 0)
            h->next_ns = now_ns + hd->interval_ms * MS_NS;
        if (now_ns >= h->next_ns) {
            start_probe(t, c, now_ns);
            if (h->pid <= 0) {
                /* The runtime could not even be started: a failed probe. */
                changed |= result(c, false);
                h->next_ns = now_ns + hd->interval_ms * MS_NS;
            }
        }
    }
    int64_t due = h->pid > 0 ? h->deadline_ns : h->next_ns;
    if (!*next_ns || due < *next_ns)
        *next_ns = due;
    return changed;
}
