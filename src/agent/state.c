/* A task on disk (DATA-DIR/tasks/<id>/task.json) and as a report.
 *
 * task.json holds the assign message as received and the supervision
 * state: status, times, stop code and reason, and per container its state, exit code, reason, image
 * digest, health and stop signal. It is replaced atomically (temp + rename) on every change; the
 * write that matters after a power loss (the task's end) is also fsynced. Everything
 * else a restarted agent needs is in the containers' own directories (src/oci's state.json and exit
 * files). */
#include "agent/agent-internal.h"
#include "agent/net.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "oci/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STATE_VERSION 1
#define STATE_MAX     (8 * 1024 * 1024)

static const char *const status_names[] = {
    "PROVISIONING", "PENDING",  "ACTIVATING",     "RUNNING",
    "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
};

static const char *const ctr_state_names[] = {"NONE", "CREATED", "RUNNING", "STOPPED"};

const char *agent_status_name(enum task_status s)
{
    return status_names[s];
}

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static void set_ms(json_t *o, const char *key, int64_t ms)
{
    if (ms > 0)
        json_object_set_new(o, key, json_integer(ms));
}

static const char *ctr_last_status(const struct ctr *c)
{
    switch (c->state) {
    case CTR_RUNNING:
        return "RUNNING";
    case CTR_STOPPED:
        return "STOPPED";
    default:
        return "PENDING";
    }
}

json_t *agent_task_report(const struct task *t)
{
    json_t *r = json_object();
    json_object_set_new(r, "taskArn", json_string(t->def.arn));
    json_object_set_new(r, "lastStatus", json_string(status_names[t->status]));
    set_ms(r, "pullStartedAt", t->pull_started_ms);
    set_ms(r, "pullStoppedAt", t->pull_stopped_ms);
    set_ms(r, "startedAt", t->started_ms);
    set_ms(r, "stoppingAt", t->stopping_ms);
    set_ms(r, "executionStoppedAt", t->exec_stopped_ms);
    set_ms(r, "stoppedAt", t->stopped_ms);
    json_set_str(r, "stopCode", t->stop_code);
    json_set_str(r, "stoppedReason", t->stopped_reason);
    json_object_set_new(r, "healthStatus", json_string(agent_health_name(agent_task_health(t))));
    json_t *cs = json_array();
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        const struct ctr *c = &t->ctrs[i];
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", c->def->name, "lastStatus",
                              ctr_last_status(c), "healthStatus", agent_health_name(c->health));
        if (c->has_exit)
            json_object_set_new(o, "exitCode", json_integer(c->exit_code));
        json_set_str(o, "reason", c->reason);
        if (c->created)
            json_object_set_new(o, "runtimeId", json_string(c->def->runtime_id));
        json_set_str(o, "imageDigest", c->image_digest);
        json_array_append_new(cs, o);
    }
    json_object_set_new(r, "containers", cs);
    agent_net_report(t, r);
    return r;
}

static json_t *state_json(const struct task *t)
{
    json_t *s = json_pack("{s:i, s:O, s:s}", "version", STATE_VERSION, "assign", t->def.msg,
                          "lastStatus", status_names[t->status]);
    set_ms(s, "createdAt", t->created_ms);
    set_ms(s, "pullStartedAt", t->pull_started_ms);
    set_ms(s, "pullStoppedAt", t->pull_stopped_ms);
    set_ms(s, "startedAt", t->started_ms);
    set_ms(s, "stoppingAt", t->stopping_ms);
    set_ms(s, "executionStoppedAt", t->exec_stopped_ms);
    set_ms(s, "stoppedAt", t->stopped_ms);
    json_set_str(s, "stopCode", t->stop_code);
    json_set_str(s, "stoppedReason", t->stopped_reason);
    if (t->warnings.len)
        json_object_set_new(s, "warnings", json_string(t->warnings.data));
    json_t *cs = json_array();
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        const struct ctr *c = &t->ctrs[i];
        json_t *o = json_pack("{s:s, s:s, s:i}", "state", ctr_state_names[c->state], "healthStatus",
                              agent_health_name(c->health), "stopSignal", c->stop_signal);
        if (c->has_exit)
            json_object_set_new(o, "exitCode", json_integer(c->exit_code));
        json_set_str(o, "reason", c->reason);
        json_set_str(o, "imageDigest", c->image_digest);
        set_ms(o, "startedAt", c->started_ms);
        if (c->healthy_once)
            json_object_set_new(o, "healthyOnce", json_true());
        if (c->created)
            json_object_set_new(o, "created", json_true());
        if (c->term_sent) {
            json_object_set_new(o, "termSent", json_true());
            set_ms(o, "killAt", c->kill_at_ms);
        }
        json_array_append_new(cs, o);
    }
    json_object_set_new(s, "containers", cs);
    return s;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int agent_state_save(const struct task *t, bool durable, struct error **err)
{
    json_t *s = state_json(t);
    _cleanup_free_ char *text = json_dump_compact(s);
    json_decref(s);
    _cleanup_free_ char *path = xasprintf("%s/task.json", t->dir);
    _cleanup_free_ char *tmp = xasprintf("%s/task.json.tmp", t->dir);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(err, errno, "create %s", tmp);
    int r = write_all(fd, text, strlen(text));
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    /* Exchanged, not renamed over: the previous task.json becomes the next
     * save's temp file, so a save neither allocates nor frees an inode.
     * (On an ext4 without a journal, as task disks and some hosts' data
     * disks are, every inode allocation skips the inodes freed in the last
     * minute one by one: two frees per start made each creation on the
     * data disk slower as starts went on.) The first save renames, and the
     * stop's removes the leftover temp file. */
    if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) < 0 &&
        (errno != ENOENT || rename(tmp, path) < 0))
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return error_errno(err, -r, "write %s", path);
    }
    if (t->status == TS_STOPPED)
        unlink(tmp);
    if (durable) {
        _cleanup_close_ int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
            fsync(dfd);
    }
    return 0;
}

static char *dup_str(const json_t *o, const char *key)
{
    const char *s = json_get_str(o, key);
    return s ? xstrdup(s) : NULL;
}

int agent_state_load(struct agent *a, const char *dir, struct task **ret, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/task.json", dir);
    _cleanup_free_ char *text = NULL;
    int r = oci_file_read_at(AT_FDCWD, path, STATE_MAX, &text, err);
    if (r < 0)
        return r;
    json_error_t jerr;
    json_t *s = json_loads(text, 0, &jerr);
    if (!s || json_get_int(s, "version", 0) != STATE_VERSION) {
        json_decref(s);
        return error_set(err, EINVAL, NULL, "%s: not a task state file", path);
    }
    struct task_def def;
    r = agent_spec_parse(json_get_object(s, "assign"), a->stop_timeout_ms, &def, err);
    int status = name_index(status_names, ARRAY_SIZE(status_names), json_get_str(s, "lastStatus"));
    const json_t *cs = json_get_array(s, "containers");
    if (r == 0 && (status < 0 || json_array_size(cs) != def.n_ctrs)) {
        agent_spec_done(&def);
        r = error_set(err, EINVAL, NULL, "%s: inconsistent state", path);
    }
    if (r < 0) {
        json_decref(s);
        return error_wrap(err, "%s", path);
    }
    struct task *t = agent_task_new(a, &def);
    t->status = (enum task_status)status;
    t->created_ms = json_get_int(s, "createdAt", 0);
    t->pull_started_ms = json_get_int(s, "pullStartedAt", 0);
    t->pull_stopped_ms = json_get_int(s, "pullStoppedAt", 0);
    t->started_ms = json_get_int(s, "startedAt", 0);
    t->stopping_ms = json_get_int(s, "stoppingAt", 0);
    t->exec_stopped_ms = json_get_int(s, "executionStoppedAt", 0);
    t->stopped_ms = json_get_int(s, "stoppedAt", 0);
    t->stop_code = dup_str(s, "stopCode");
    t->stopped_reason = dup_str(s, "stoppedReason");
    const char *w = json_get_str(s, "warnings");
    if (w)
        buf_puts(&t->warnings, w);
    for (size_t i = 0; i < t->def.n_ctrs; i++) {
        const json_t *o = json_array_get(cs, i);
        struct ctr *c = &t->ctrs[i];
        int st = name_index(ctr_state_names, ARRAY_SIZE(ctr_state_names), json_get_str(o, "state"));
        c->state = st < 0 ? CTR_NONE : (enum ctr_state)st;
        json_t *ec = json_object_get(o, "exitCode");
        if (json_is_integer(ec)) {
            c->has_exit = true;
            c->exit_code = (int)json_integer_value(ec);
        }
        c->reason = dup_str(o, "reason");
        c->image_digest = dup_str(o, "imageDigest");
        c->started_ms = json_get_int(o, "startedAt", 0);
        c->stop_signal = (int)json_get_int(o, "stopSignal", 0);
        c->healthy_once = json_get_bool(o, "healthyOnce", false);
        /* Files written before "created" existed: a container past NONE
         * that ran or exited was created. */
        c->created = json_get_bool(o, "created", false) || c->state == CTR_CREATED ||
                     c->state == CTR_RUNNING || c->has_exit || c->started_ms > 0;
        c->term_sent = json_get_bool(o, "termSent", false);
        c->kill_at_ms = json_get_int(o, "killAt", 0);
        if (c->term_sent) {
            /* The deadline on this boot's monotonic clock; one already
             * past is due now. */
            int64_t left_ms = c->kill_at_ms - time_now_ms();
            c->kill_at_ns = time_mono_ns() + (left_ms > 0 ? left_ms : 0) * 1000000LL;
        }
        const char *h = json_get_str(o, "healthStatus");
        c->health = h && strcmp(h, "HEALTHY") == 0     ? HEALTH_HEALTHY
                    : h && strcmp(h, "UNHEALTHY") == 0 ? HEALTH_UNHEALTHY
                                                       : HEALTH_UNKNOWN;
    }
    json_decref(s);
    *ret = t;
    return 0;
}
