/* The assign message (sched/node.h) parsed into a struct task_def: the task
 * definition's containers with RunTask's overrides applied, checked for
 * what the agent needs to run them. The control plane validated the task
 * definition against the Fargate rules already; this file refuses only what
 * would make the agent misbehave (missing names, unknown dependencies,
 * absurd sizes), so that a message from another control plane cannot crash
 * a host. */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "oci/util.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#define REFUSE(...) error_set(err, EINVAL, ERR_CLIENT, __VA_ARGS__)

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A JSON array of strings as a NULL-terminated vector; NULL when a member
 * is not a string or the array is longer than max. */
static char **strv_from_json(const json_t *a, size_t max)
{
    size_t n = json_array_size(a);
    if (n > max)
        return NULL;
    char **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s) {
            strv_free(v);
            return NULL;
        }
        v[i] = xstrdup(s);
    }
    return v;
}

/* Sets NAME=value in env (a NULL-terminated vector of n entries), replacing
 * an entry of the same name. */
static char **env_set(char **env, size_t *n, const char *name, const char *value)
{
    size_t len = strlen(name);
    char *entry = xasprintf("%s=%s", name, value ? value : "");
    for (size_t i = 0; i < *n; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') {
            free(env[i]);
            env[i] = entry;
            return env;
        }
    env = xrealloc(env, (*n + 2) * sizeof(*env));
    env[(*n)++] = entry;
    env[*n] = NULL;
    return env;
}

static int env_apply(char ***env, size_t *n, const json_t *list, const char *ctr,
                     struct error **err)
{
    size_t i;
    json_t *kv;
    json_array_foreach(list, i, kv)
    {
        const char *name = json_get_str(kv, "name");
        if (!name || !*name || strchr(name, '='))
            return REFUSE("container %s: environment entry %zu has no valid name", ctr, i);
        if (*n >= AGENT_MAX_ENV)
            return REFUSE("container %s: too many environment variables", ctr);
        *env = env_set(*env, n, name, json_get_str(kv, "value"));
    }
    return 0;
}

static const json_t *find_override(const json_t *overrides, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_get_array(overrides, "containerOverrides"), i, o)
    {
        const char *n = json_get_str(o, "name");
        if (n && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

static int parse_ulimits(struct ctr_def *d, const json_t *list, struct error **err)
{
    size_t n = json_array_size(list);
    if (n > 16)
        return REFUSE("container %s: too many ulimits", d->name);
    d->ulimits = xcalloc(n ? n : 1, sizeof(*d->ulimits));
    size_t i;
    json_t *u;
    json_array_foreach(list, i, u)
    {
        const char *name = json_get_str(u, "name");
        json_int_t soft = json_get_int(u, "softLimit", -1);
        json_int_t hard = json_get_int(u, "hardLimit", -1);
        if (!name || !*name || strlen(name) > 16 || soft < 0 || hard < 0 || soft > hard)
            return REFUSE("container %s: invalid ulimit %zu", d->name, i);
        char type[32] = "RLIMIT_";
        for (size_t k = 0; name[k]; k++) {
            if (!isalpha((unsigned char)name[k]))
                return REFUSE("container %s: invalid ulimit name", d->name);
            type[7 + k] = (char)toupper((unsigned char)name[k]);
        }
        struct ulimit_def *ul = &d->ulimits[d->n_ulimits++];
        ul->type = xstrdup(type);
        ul->soft = (uint64_t)soft;
        ul->hard = (uint64_t)hard;
    }
    return 0;
}

static int parse_health(struct ctr_def *d, const json_t *hc, struct error **err)
{
    const json_t *cmd = json_get_array(hc, "command");
    const char *kind = json_string_value(json_array_get(cmd, 0));
    if (!kind || strcmp(kind, "NONE") == 0)
        return 0;
    size_t n = json_array_size(cmd);
    if (n < 2 || n > AGENT_MAX_ARGS)
        return REFUSE("container %s: healthCheck.command needs a command", d->name);
    struct health_def *h = &d->health;
    if (strcmp(kind, "CMD") == 0) {
        h->argv = xcalloc(n, sizeof(*h->argv));
        for (size_t i = 1; i < n; i++) {
            const char *s = json_string_value(json_array_get(cmd, i));
            if (!s)
                return REFUSE("container %s: healthCheck.command holds a non-string", d->name);
            h->argv[i - 1] = xstrdup(s);
        }
    } else if (strcmp(kind, "CMD-SHELL") == 0) {
        struct buf b;
        buf_init(&b, 64 * 1024);
        for (size_t i = 1; i < n; i++) {
            const char *s = json_string_value(json_array_get(cmd, i));
            if (!s || buf_printf(&b, "%s%s", i > 1 ? " " : "", s) < 0) {
                buf_done(&b);
                return REFUSE("container %s: invalid healthCheck.command", d->name);
            }
        }
        h->argv = xcalloc(4, sizeof(*h->argv));
        h->argv[0] = xstrdup("/bin/sh");
        h->argv[1] = xstrdup("-c");
        h->argv[2] = buf_steal(&b);
    } else {
        return REFUSE("container %s: healthCheck.command must start with CMD, CMD-SHELL or NONE",
                      d->name);
    }
    h->enabled = true;
    /* ECS's bounds are 5-300 s etc.; the agent accepts shorter periods
     * (at least 1 s) so that tests need not wait. */
    json_int_t interval = json_get_int(hc, "interval", 30);
    json_int_t timeout = json_get_int(hc, "timeout", 5);
    json_int_t retries = json_get_int(hc, "retries", 3);
    json_int_t start = json_get_int(hc, "startPeriod", 0);
    if (interval < 1 || interval > 300 || timeout < 1 || timeout > 300 || retries < 1 ||
        retries > 10 || start < 0 || start > 300)
        return REFUSE("container %s: healthCheck timings out of range", d->name);
    h->interval_ms = interval * 1000;
    h->timeout_ms = timeout * 1000;
    h->retries = (int)retries;
    h->start_period_ms = start * 1000;
    return 0;
}

static int volume_index(const struct task_def *t, const char *name)
{
    for (size_t i = 0; i < t->n_volumes; i++)
        if (strcmp(t->volumes[i], name) == 0)
            return (int)i;
    return -1;
}

static int add_mounts(struct task_def *t, struct ctr_def *d, const json_t *list, bool force_ro,
                      struct error **err)
{
    size_t i;
    json_t *mp;
    json_array_foreach(list, i, mp)
    {
        const char *vol = json_get_str(mp, "sourceVolume");
        const char *path = json_get_str(mp, "containerPath");
        int v = vol ? volume_index(t, vol) : -1;
        if (v < 0)
            return REFUSE("container %s: mount point %zu names an unknown volume", d->name, i);
        if (!path || path[0] != '/' || strlen(path) > 4096)
            return REFUSE("container %s: mount point %zu needs an absolute containerPath", d->name,
                          i);
        if (d->n_mounts >= AGENT_MAX_MOUNTS)
            return REFUSE("container %s: too many mount points", d->name);
        d->mounts = xrealloc(d->mounts, (d->n_mounts + 1) * sizeof(*d->mounts));
        d->mounts[d->n_mounts++] = (struct mount_def){
            .volume = (size_t)v,
            .container_path = xstrdup(path),
            .readonly = force_ro || json_get_bool(mp, "readOnly", false),
        };
    }
    return 0;
}

static int parse_container(struct task_def *t, size_t idx, const json_t *c, const json_t *overrides,
                           int64_t default_stop_ms, struct error **err)
{
    struct ctr_def *d = &t->ctrs[idx];
    const char *name = json_get_str(c, "name");
    const char *image = json_get_str(c, "image");
    if (!name || !*name || strlen(name) > 255)
        return REFUSE("container %zu: a name is required", idx);
    d->name = xstrdup(name);
    for (size_t k = 0; k < idx; k++)
        if (strcmp(t->ctrs[k].name, name) == 0)
            return REFUSE("container %s: the name is used twice", name);
    if (!image || !*image)
        return REFUSE("container %s: an image is required", name);
    d->image = xstrdup(image);
    d->slug = oci_name_valid(name) ? xstrdup(name) : xasprintf("c%zu", idx);
    d->runtime_id = xasprintf("%s-%zu", t->id, idx);
    d->essential = json_get_bool(c, "essential", true);
    const json_t *ov = find_override(overrides, name);

    json_t *ep = json_get_array(c, "entryPoint");
    json_t *cmd = json_get_array(ov, "command");
    if (!cmd)
        cmd = json_get_array(c, "command");
    d->has_entrypoint = ep && json_array_size(ep) > 0;
    d->has_command = cmd && json_array_size(cmd) > 0;
    if ((d->has_entrypoint && !(d->entrypoint = strv_from_json(ep, AGENT_MAX_ARGS))) ||
        (d->has_command && !(d->command = strv_from_json(cmd, AGENT_MAX_ARGS))))
        return REFUSE("container %s: entryPoint and command must be lists of strings", name);

    size_t n_env = 0;
    d->env = xcalloc(1, sizeof(*d->env));
    int r;
    if ((r = env_apply(&d->env, &n_env, json_get_array(c, "environment"), name, err)) < 0 ||
        (r = env_apply(&d->env, &n_env, json_get_array(ov, "environment"), name, err)) < 0)
        return r;

    const char *s;
    if ((s = json_get_str(c, "workingDirectory")) && *s) {
        if (s[0] != '/')
            return REFUSE("container %s: workingDirectory must be absolute", name);
        d->working_dir = xstrdup(s);
    }
    if ((s = json_get_str(c, "user")) && *s)
        d->user = xstrdup(s);
    if ((s = json_get_str(c, "hostname")) && *s) {
        if (strlen(s) > 64)
            return REFUSE("container %s: hostname longer than 64 characters", name);
        d->hostname = xstrdup(s);
    }
    d->readonly_rootfs = json_get_bool(c, "readonlyRootFilesystem", false);
    const json_t *lp = json_get_object(c, "linuxParameters");
    d->init = json_get_bool(lp, "initProcessEnabled", false);
    size_t i;
    json_t *cap;
    const json_t *caps = json_get_object(lp, "capabilities");
    json_array_foreach(json_get_array(caps, "add"), i, cap)
    {
        const char *cs = json_string_value(cap);
        if (cs && (strcmp(cs, "SYS_PTRACE") == 0 || strcmp(cs, "CAP_SYS_PTRACE") == 0))
            d->ptrace = true;
        else
            return REFUSE("container %s: only SYS_PTRACE may be added to the capabilities", name);
    }
    json_array_foreach(json_get_array(caps, "drop"), i, cap)
    {
        const char *cs = json_string_value(cap);
        int n = oci_cap_from_name(cs);
        if (cs && strcmp(cs, "ALL") == 0)
            d->drop_caps = UINT64_MAX;
        else if (n >= 0)
            d->drop_caps |= UINT64_C(1) << n;
        else if (!cs || !*cs)
            return REFUSE("container %s: invalid capability to drop", name);
        /* Other names the control plane accepted (MAC_ADMIN, SYSLOG...)
         * are outside the default set: dropping them changes nothing. */
    }

    d->cpu = json_get_int(ov, "cpu", json_get_int(c, "cpu", 0));
    d->memory_mib = json_get_int(ov, "memory", json_get_int(c, "memory", 0));
    d->reservation_mib =
        json_get_int(ov, "memoryReservation", json_get_int(c, "memoryReservation", 0));
    if (d->cpu < 0 || d->cpu > 262144 || d->memory_mib < 0 || d->memory_mib > (1 << 24) ||
        d->reservation_mib < 0 || d->reservation_mib > (1 << 24))
        return REFUSE("container %s: cpu or memory out of range", name);

    if ((r = parse_ulimits(d, json_get_array(c, "ulimits"), err)) < 0)
        return r;
    if ((r = add_mounts(t, d, json_get_array(c, "mountPoints"), false, err)) < 0)
        return r;
    json_int_t start = json_get_int(c, "startTimeout", -1);
    json_int_t stop = json_get_int(c, "stopTimeout", -1);
    if (start > 3600 || stop > 3600)
        return REFUSE("container %s: startTimeout and stopTimeout are at most 3600 s", name);
    d->start_timeout_ms = start >= 0 ? start * 1000 : AGENT_START_TIMEOUT_MS;
    d->stop_timeout_ms = stop >= 0 ? stop * 1000 : default_stop_ms;
    json_t *hc = json_get_object(c, "healthCheck");
    if (hc && (r = parse_health(d, hc, err)) < 0)
        return r;
    return 0;
}

static int parse_cond(const char *s, enum dep_cond *ret)
{
    static const char *const names[] = {"START", "COMPLETE", "SUCCESS", "HEALTHY"};
    for (size_t i = 0; s && i < ARRAY_SIZE(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *ret = (enum dep_cond)i;
            return 0;
        }
    return -EINVAL;
}

static int find_ctr(const struct task_def *t, const char *name)
{
    for (size_t i = 0; name && i < t->n_ctrs; i++)
        if (strcmp(t->ctrs[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Depth-first search: color 0 unvisited, 1 on the current path, 2 done. */
static bool has_cycle(const struct task_def *t, size_t i, int *color)
{
    if (color[i] == 1)
        return true;
    if (color[i] == 2)
        return false;
    color[i] = 1;
    for (size_t k = 0; k < t->ctrs[i].n_deps; k++)
        if (has_cycle(t, t->ctrs[i].deps[k].idx, color))
            return true;
    color[i] = 2;
    return false;
}

/* dependsOn and volumesFrom, once every container is known. */
static int parse_links(struct task_def *t, const json_t *defs, struct error **err)
{
    for (size_t i = 0; i < t->n_ctrs; i++) {
        struct ctr_def *d = &t->ctrs[i];
        const json_t *c = json_array_get(defs, i);
        const json_t *deps = json_get_array(c, "dependsOn");
        d->deps = xcalloc(json_array_size(deps) + 1, sizeof(*d->deps));
        size_t k;
        json_t *dep;
        json_array_foreach(deps, k, dep)
        {
            int j = find_ctr(t, json_get_str(dep, "containerName"));
            enum dep_cond cond;
            if (j < 0 || (size_t)j == i)
                return REFUSE("container %s: dependsOn names an unknown container", d->name);
            if (parse_cond(json_get_str(dep, "condition"), &cond) < 0)
                return REFUSE("container %s: invalid dependsOn condition", d->name);
            if (cond == DEP_HEALTHY && !t->ctrs[j].health.enabled)
                return REFUSE("container %s: dependsOn HEALTHY needs a health check on %s", d->name,
                              t->ctrs[j].name);
            d->deps[d->n_deps++] = (struct ctr_dep){(size_t)j, cond};
        }
        json_t *vf;
        json_array_foreach(json_get_array(c, "volumesFrom"), k, vf)
        {
            int j = find_ctr(t, json_get_str(vf, "sourceContainer"));
            if (j < 0 || (size_t)j == i)
                return REFUSE("container %s: volumesFrom names an unknown container", d->name);
            const json_t *src = json_array_get(defs, (size_t)j);
            int r = add_mounts(t, d, json_get_array(src, "mountPoints"),
                               json_get_bool(vf, "readOnly", false), err);
            if (r < 0)
                return r;
        }
    }
    /* A cycle would leave every container of it waiting for ever. */
    int color[AGENT_MAX_CONTAINERS] = {0};
    for (size_t i = 0; i < t->n_ctrs; i++)
        if (has_cycle(t, i, color))
            return REFUSE("circular dependsOn involving container %s", t->ctrs[i].name);
    return 0;
}

int agent_spec_parse(const json_t *msg, int64_t default_stop_ms, struct task_def *ret,
                     struct error **err)
{
    struct task_def t = {0};
    int r;
    const char *arn = json_get_str(msg, "taskArn");
    const char *id = json_get_str(msg, "taskId");
    const json_t *td = json_get_object(msg, "taskDefinition");
    const json_t *defs = json_get_array(td, "containerDefinitions");
    const json_t *overrides = json_get_object(msg, "overrides");
    if (!arn || !*arn)
        return REFUSE("assign: taskArn is required");
    if (!id || !oci_name_valid(id) || strlen(id) > AGENT_TASK_ID_MAX)
        return REFUSE("assign: taskId must be 1-%d of [A-Za-z0-9_.-]", AGENT_TASK_ID_MAX);
    if (!defs || json_array_size(defs) == 0 || json_array_size(defs) > AGENT_MAX_CONTAINERS)
        return REFUSE("assign: the task definition needs 1-%d containers", AGENT_MAX_CONTAINERS);
    t.arn = xstrdup(arn);
    t.id = xstrdup(id);
    t.region = xstrdup(json_get_str(msg, "region") ? json_get_str(msg, "region") : "us-east-1");
    t.cpu = json_get_int(msg, "cpu", 0);
    t.memory_mib = json_get_int(msg, "memory", 0);
    t.ephemeral_gib = json_get_int(msg, "ephemeralStorageGiB", 20);
    t.msg = json_incref((json_t *)msg);
    if (t.cpu < 0 || t.cpu > 262144 || t.memory_mib < 0 || t.memory_mib > (1 << 24) ||
        t.ephemeral_gib < 0 || t.ephemeral_gib > 200) {
        r = REFUSE("assign: task cpu, memory or ephemeral storage out of range");
        goto fail;
    }

    const json_t *vols = json_get_array(td, "volumes");
    if (json_array_size(vols) > AGENT_MAX_VOLUMES) {
        r = REFUSE("assign: too many volumes");
        goto fail;
    }
    t.volumes = xcalloc(json_array_size(vols) + 1, sizeof(*t.volumes));
    size_t i;
    json_t *v;
    json_array_foreach(vols, i, v)
    {
        const char *name = json_get_str(v, "name");
        if (!name || !*name || strlen(name) > 255 || volume_index(&t, name) >= 0) {
            r = REFUSE("assign: volume %zu needs a unique name", i);
            goto fail;
        }
        if (json_get_object(v, "efsVolumeConfiguration") ||
            json_get_object(v, "dockerVolumeConfiguration") ||
            json_get_object(v, "fsxWindowsFileServerVolumeConfiguration")) {
            r = REFUSE("assign: volume %s: only ephemeral (bind) volumes are supported", name);
            goto fail;
        }
        t.volumes[t.n_volumes++] = xstrdup(name);
    }

    t.n_ctrs = json_array_size(defs);
    t.ctrs = xcalloc(t.n_ctrs, sizeof(*t.ctrs));
    for (i = 0; i < t.n_ctrs; i++)
        if ((r = parse_container(&t, i, json_array_get(defs, i), overrides, default_stop_ms, err)) <
            0)
            goto fail;
    if ((r = parse_links(&t, defs, err)) < 0)
        goto fail;
    bool essential = false;
    for (i = 0; i < t.n_ctrs; i++)
        essential |= t.ctrs[i].essential;
    if (!essential) {
        r = REFUSE("assign: at least one container must be essential");
        goto fail;
    }
    *ret = t;
    return 0;
fail:
    agent_spec_done(&t);
    return r;
}

static void ctr_def_done(struct ctr_def *d)
{
    free(d->name);
    free(d->image);
    free(d->slug);
    free(d->runtime_id);
    strv_free(d->entrypoint);
    strv_free(d->command);
    strv_free(d->env);
    free(d->working_dir);
    free(d->user);
    free(d->hostname);
    for (size_t i = 0; i < d->n_ulimits; i++)
        free(d->ulimits[i].type);
    free(d->ulimits);
    for (size_t i = 0; i < d->n_mounts; i++)
        free(d->mounts[i].container_path);
    free(d->mounts);
    free(d->deps);
    strv_free(d->health.argv);
}

void agent_spec_done(struct task_def *t)
{
    for (size_t i = 0; t->ctrs && i < t->n_ctrs; i++)
        ctr_def_done(&t->ctrs[i]);
    free(t->ctrs);
    strv_free(t->volumes);
    free(t->arn);
    free(t->id);
    free(t->region);
    json_decref(t->msg);
    memset(t, 0, sizeof(*t));
}
