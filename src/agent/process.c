/* A container's process from its definition and its image config, merged
 * the way Docker (and so ECS) merges them:
 *   - entryPoint given: it replaces the image's Entrypoint, and the image's
 *     Cmd is dropped; the arguments are entryPoint + command.
 *   - no entryPoint: the image's Entrypoint + (command, or else the
 *     image's Cmd).
 *   - environment: image < what ECS sets < task definition < overrides.
 *   - workingDirectory over WorkingDir over "/"; user over User over root. */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "image/manifest.h"

#include <errno.h>
#include <string.h>

struct vec {
    char **v;
    size_t n;
};

static void vec_add(struct vec *a, const char *s)
{
    a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void vec_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Sets "NAME=value" (entry holds both), replacing the same name. */
static void env_put(struct vec *env, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], entry, len) == 0 && env->v[i][len] == '=') {
            free(env->v[i]);
            env->v[i] = eq ? xstrdup(entry) : xasprintf("%s=", entry);
            return;
        }
    if (eq) {
        vec_add(env, entry);
    } else {
        _cleanup_free_ char *e = xasprintf("%s=", entry);
        vec_add(env, e);
    }
}

int agent_process_resolve(const struct task_def *task, const struct ctr_def *def,
                          const struct img_config *img, const char *const *lower, size_t n_lower,
                          struct ctr_process *ret, struct error **err)
{
    struct vec args = {0}, env = {0};
    if (def->has_entrypoint) {
        for (size_t i = 0; def->entrypoint[i]; i++)
            vec_add(&args, def->entrypoint[i]);
    } else if (img && img->has_entrypoint) {
        for (size_t i = 0; i < img->n_entrypoint; i++)
            vec_add(&args, img->entrypoint[i]);
    }
    if (def->has_command) {
        for (size_t i = 0; def->command[i]; i++)
            vec_add(&args, def->command[i]);
    } else if (!def->has_entrypoint && img && img->has_cmd) {
        for (size_t i = 0; i < img->n_cmd; i++)
            vec_add(&args, img->cmd[i]);
    }
    if (args.n == 0 || !args.v[0][0]) {
        vec_free(args.v);
        return error_set(err, EINVAL, NULL,
                         "CannotStartContainerError: container %s: no command specified (neither "
                         "the task definition nor the image gives one)",
                         def->name);
    }

    for (size_t i = 0; img && i < img->n_env; i++)
        env_put(&env, img->env[i]);
    _cleanup_free_ char *hostname =
        xasprintf("HOSTNAME=%s", def->hostname ? def->hostname : task->id);
    _cleanup_free_ char *region = xasprintf("AWS_REGION=%s", task->region);
    _cleanup_free_ char *dregion = xasprintf("AWS_DEFAULT_REGION=%s", task->region);
    env_put(&env, hostname);
    env_put(&env, "AWS_EXECUTION_ENV=AWS_ECS_FARGATE");
    env_put(&env, region);
    env_put(&env, dregion);
    for (size_t i = 0; def->env[i]; i++)
        env_put(&env, def->env[i]);
    /* Last, as the ECS agent does: the endpoint of this container. */
    _cleanup_free_ char *meta =
        def->runtime_id
            ? xasprintf("ECS_CONTAINER_METADATA_URI_V4=http://" AGENT_META_HOST "/v4/%s",
                        def->runtime_id)
            : NULL;
    if (meta)
        env_put(&env, meta);

    const char *cwd = def->working_dir                               ? def->working_dir
                      : img && img->working_dir && *img->working_dir ? img->working_dir
                                                                     : "/";
    const char *user = def->user ? def->user : img && img->user && *img->user ? img->user : "0";
    struct ctr_process p = {.args = args.v, .env = env.v};
    p.cwd = cwd[0] == '/' ? xstrdup(cwd) : xasprintf("/%s", cwd);
    int r = agent_user_resolve(user, lower, n_lower, &p.uid, &p.gid, &p.gids, &p.n_gids, err);
    if (r < 0) {
        agent_process_done(&p);
        return error_wrap(err, "CannotStartContainerError: container %s", def->name);
    }
    *ret = p;
    return 0;
}

void agent_process_done(struct ctr_process *p)
{
    vec_free(p->args);
    vec_free(p->env);
    free(p->cwd);
    free(p->gids);
    memset(p, 0, sizeof(*p));
}
