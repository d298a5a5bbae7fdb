/* Runtime invocations that src/oci does not offer yet: `exec` (health
 * checks) and `delete --force` of a container known only by its id
 * (leftovers after a crash). They run the runtime binary exactly as
 * src/oci/runtime.c does — same binary search, --root, global options, and
 * through oci_spawn, so in a mount namespace that hides the unified cgroup
 * hierarchy on hybrid hosts (crun refuses those). */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/spawn.h"
#include "oci/util.h"

#include <fcntl.h>
#include <jansson.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    const char *paths[4];
    const char *global_arg;
} runtimes[] = {
    {"crun", {"/usr/bin/crun", "/usr/local/bin/crun", NULL}, "--cgroup-manager=cgroupfs"},
    {"runc", {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", NULL}, NULL},
};

int agent_rt_cmd_init(struct agent_rt_cmd *rc, const char *runtime, const char *run_dir,
                      bool hide_unified, struct error **err)
{
    const char *name = runtime ? runtime : "crun";
    for (size_t i = 0; i < ARRAY_SIZE(runtimes); i++) {
        if (strcmp(runtimes[i].name, name) != 0)
            continue;
        for (size_t k = 0; runtimes[i].paths[k]; k++)
            if (access(runtimes[i].paths[k], X_OK) == 0) {
                rc->path = xstrdup(runtimes[i].paths[k]);
                rc->root = xasprintf("%s/%s", run_dir, name);
                rc->global_arg = runtimes[i].global_arg;
                rc->hide_unified = hide_unified;
                return 0;
            }
        return error_set(err, ENOENT, NULL, "OCI runtime %s not found", name);
    }
    return error_set(err, EINVAL, NULL, "unknown OCI runtime %s (crun or runc)", name);
}

void agent_rt_cmd_done(struct agent_rt_cmd *rc)
{
    free(rc->path);
    free(rc->root);
    memset(rc, 0, sizeof(*rc));
}

/* runtime --root ROOT [global] SUB ... : fills argv (at most max entries,
 * NULL-terminated); returns the count. Strings are borrowed. */
static size_t base_argv(const struct agent_rt_cmd *rc, const char *sub, const char **argv,
                        char *root_opt)
{
    size_t n = 0;
    argv[n++] = rc->path;
    argv[n++] = root_opt;
    if (rc->global_arg)
        argv[n++] = rc->global_arg;
    argv[n++] = sub;
    return n;
}

int agent_rt_exec_start(const struct agent_rt_cmd *rc, const char *id, const char *process_json,
                        const char *pidfile, pid_t *ret_pid, struct error **err)
{
    _cleanup_free_ char *root = xasprintf("--root=%s", rc->root);
    _cleanup_free_ char *pf = xasprintf("--pid-file=%s", pidfile);
    _cleanup_free_ char *proc = xasprintf("--process=%s", process_json);
    const char *argv[10];
    size_t n = base_argv(rc, "exec", argv, root);
    argv[n++] = proc;
    argv[n++] = pf;
    argv[n++] = id;
    argv[n] = NULL;
    struct oci_spawn sp = {
        .argv = argv,
        .envp = oci_spawn_runtime_env,
        .hide_unified = rc->hide_unified,
        .ro_bind = argv[0],
        .fds = {-1, -1, -1, -1, -1},
    };
    int r = oci_spawn(&sp, ret_pid, err);
    if (r < 0)
        return error_wrap(err, "exec in %s", id);
    return 0;
}

int agent_rt_exec_process(const char *bundle_config, char *const *args, const char *dst,
                          struct error **err)
{
    _cleanup_free_ char *text = NULL;
    int r = oci_file_read_at(AT_FDCWD, bundle_config, 16 << 20, &text, err);
    if (r < 0)
        return r;
    json_t *cfg = json_loads(text, 0, NULL);
    json_t *proc = json_object_get(cfg, "process");
    if (!json_is_object(proc)) {
        json_decref(cfg);
        return error_set(err, EINVAL, NULL, "%s: no process", bundle_config);
    }
    json_t *a = json_array();
    for (size_t i = 0; args[i]; i++)
        json_array_append_new(a, json_string(args[i]));
    json_object_set_new(proc, "args", a);
    json_object_set_new(proc, "terminal", json_false());
    _cleanup_free_ char *out = json_dumps(proc, JSON_COMPACT);
    json_decref(cfg);
    return oci_file_replace(dst, out, strlen(out), 0600, err);
}

int agent_rt_delete(const struct agent_rt_cmd *rc, const char *id, struct error **err)
{
    _cleanup_free_ char *root = xasprintf("--root=%s", rc->root);
    const char *argv[8];
    size_t n = base_argv(rc, "delete", argv, root);
    argv[n++] = "--force";
    argv[n++] = id;
    argv[n] = NULL;
    _cleanup_free_ char *out = NULL;
    int r = oci_spawn_run(argv, oci_spawn_runtime_env, rc->hide_unified, NULL, NULL, &out, err);
    if (r < 0)
        return r;
    if (r != 0 && !strstr(out, "not exist") && !strstr(out, "does not exist"))
        return error_set(err, EIO, NULL, "%s delete %s: %s", rc->path, id, out);
    return 0;
}
