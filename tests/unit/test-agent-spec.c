/* The agent's reading of assign messages (src/agent/spec.c) and the merge of
 * a container definition with its image config (src/agent/process.c):
 * overrides, defaults, health checks, dependencies and their refusals,
 * Docker's entrypoint/cmd rules and the environment's precedence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "image/manifest.h"

static json_t *msg_with(const char *containers, const char *extra)
{
    _cleanup_free_ char *text =
        xasprintf("{\"taskArn\":\"arn:aws:ecs:us-east-1:1:task/c/abc\",\"taskId\":\"abc\","
                  "\"cpu\":256,\"memory\":512,\"region\":\"eu-west-1\","
                  "\"taskDefinition\":{\"containerDefinitions\":%s,"
                  "\"volumes\":[{\"name\":\"data\"},{\"name\":\"x y\"}]}%s%s}",
                  containers, extra ? "," : "", extra ? extra : "");
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    json_t *m = msg_with("[{\"name\":\"web\",\"image\":\"busybox\"}]", NULL);
    struct task_def d;
    struct error *err = NULL;
    assert_int_equal(agent_spec_parse(m, 30000, &d, &err), 0);
    assert_string_equal(d.id, "abc");
    assert_string_equal(d.region, "eu-west-1");
    assert_int_equal(d.cpu, 256);
    assert_int_equal(d.memory_mib, 512);
    assert_int_equal(d.ephemeral_gib, 20);
    assert_int_equal(d.n_ctrs, 1);
    struct ctr_def *c = &d.ctrs[0];
    assert_true(c->essential);
    assert_string_equal(c->slug, "web");
    assert_string_equal(c->runtime_id, "abc-0");
    assert_false(c->has_entrypoint);
    assert_false(c->has_command);
    assert_null(c->env[0]);
    assert_int_equal(c->stop_timeout_ms, 30000);
    assert_int_equal(c->start_timeout_ms, AGENT_START_TIMEOUT_MS);
    assert_false(c->health.enabled);
    assert_int_equal(d.n_volumes, 2);
    agent_spec_done(&d);
    json_decref(m);
}

static void test_overrides(void **state)
{
    (void)state;
    json_t *m = msg_with(
        "[{\"name\":\"web\",\"image\":\"busybox\",\"command\":[\"a\"],\"cpu\":128,"
        "\"memory\":256,\"environment\":[{\"name\":\"A\",\"value\":\"td\"},"
        "{\"name\":\"B\",\"value\":\"td\"}],\"stopTimeout\":5,\"startTimeout\":7},"
        "{\"name\":\"side\",\"image\":\"busybox\",\"essential\":false}]",
        "\"overrides\":{\"containerOverrides\":[{\"name\":\"web\",\"command\":[\"b\",\"c\"],"
        "\"environment\":[{\"name\":\"B\",\"value\":\"ov\"},{\"name\":\"C\",\"value\":\"ov\"}],"
        "\"memory\":300,\"memoryReservation\":100}]}");
    struct task_def d;
    struct error *err = NULL;
    assert_int_equal(agent_spec_parse(m, 30000, &d, &err), 0);
    struct ctr_def *c = &d.ctrs[0];
    assert_true(c->has_command);
    assert_string_equal(c->command[0], "b");
    assert_string_equal(c->command[1], "c");
    assert_null(c->command[2]);
    assert_string_equal(c->env[0], "A=td");
    assert_string_equal(c->env[1], "B=ov");
    assert_string_equal(c->env[2], "C=ov");
    assert_null(c->env[3]);
    assert_int_equal(c->cpu, 128);
    assert_int_equal(c->memory_mib, 300);
    assert_int_equal(c->reservation_mib, 100);
    assert_int_equal(c->stop_timeout_ms, 5000);
    assert_int_equal(c->start_timeout_ms, 7000);
    assert_false(d.ctrs[1].essential);
    assert_string_equal(d.ctrs[1].runtime_id, "abc-1");
    agent_spec_done(&d);
    json_decref(m);
}

static void test_health_and_links(void **state)
{
    (void)state;
    json_t *m = msg_with(
        "[{\"name\":\"db\",\"image\":\"i\",\"healthCheck\":{\"command\":[\"CMD-SHELL\","
        "\"pg_isready\",\"-q\"],\"interval\":2,\"retries\":4}},"
        "{\"name\":\"web\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"db\","
        "\"condition\":\"HEALTHY\"}],\"volumesFrom\":[{\"sourceContainer\":\"db\","
        "\"readOnly\":true}],\"healthCheck\":{\"command\":[\"CMD\",\"curl\",\"-f\"]},"
        "\"mountPoints\":[{\"sourceVolume\":\"x y\",\"containerPath\":\"/w\"}]},"
        "{\"name\":\"db\\u00e9\",\"image\":\"i\",\"mountPoints\":[{\"sourceVolume\":\"data\","
        "\"containerPath\":\"/d\"}],\"healthCheck\":{\"command\":[\"NONE\"]}}]",
        NULL);
    struct task_def d;
    struct error *err = NULL;
    assert_int_equal(agent_spec_parse(m, 30000, &d, &err), 0);
    struct health_def *h = &d.ctrs[0].health;
    assert_true(h->enabled);
    assert_string_equal(h->argv[0], "/bin/sh");
    assert_string_equal(h->argv[1], "-c");
    assert_string_equal(h->argv[2], "pg_isready -q");
    assert_null(h->argv[3]);
    assert_int_equal(h->interval_ms, 2000);
    assert_int_equal(h->timeout_ms, 5000);
    assert_int_equal(h->retries, 4);
    assert_int_equal(h->start_period_ms, 0);
    h = &d.ctrs[1].health;
    assert_string_equal(h->argv[0], "curl");
    assert_string_equal(h->argv[1], "-f");
    assert_null(h->argv[2]);
    assert_int_equal(h->interval_ms, 30000);
    assert_int_equal(h->retries, 3);
    assert_false(d.ctrs[2].health.enabled);
    /* dependsOn */
    assert_int_equal(d.ctrs[1].n_deps, 1);
    assert_int_equal(d.ctrs[1].deps[0].idx, 0);
    assert_int_equal(d.ctrs[1].deps[0].cond, DEP_HEALTHY);
    /* own mount point, then the db's (none) via volumesFrom */
    assert_int_equal(d.ctrs[1].n_mounts, 1);
    assert_int_equal(d.ctrs[1].mounts[0].volume, 1);
    assert_false(d.ctrs[1].mounts[0].readonly);
    /* a name that is not a path component gets an index slug */
    assert_string_equal(d.ctrs[2].slug, "c2");
    agent_spec_done(&d);
    json_decref(m);
}

static void test_volumes_from_readonly(void **state)
{
    (void)state;
    json_t *m = msg_with("[{\"name\":\"a\",\"image\":\"i\",\"mountPoints\":[{\"sourceVolume\":"
                         "\"data\",\"containerPath\":\"/d\"}]},"
                         "{\"name\":\"b\",\"image\":\"i\",\"volumesFrom\":[{\"sourceContainer\":"
                         "\"a\",\"readOnly\":true}]}]",
                         NULL);
    struct task_def d;
    struct error *err = NULL;
    assert_int_equal(agent_spec_parse(m, 30000, &d, &err), 0);
    assert_int_equal(d.ctrs[1].n_mounts, 1);
    assert_string_equal(d.ctrs[1].mounts[0].container_path, "/d");
    assert_true(d.ctrs[1].mounts[0].readonly);
    agent_spec_done(&d);
    json_decref(m);
}

static void test_ulimits_and_caps(void **state)
{
    (void)state;
    json_t *m = msg_with("[{\"name\":\"a\",\"image\":\"i\",\"ulimits\":[{\"name\":\"nofile\","
                         "\"softLimit\":10,\"hardLimit\":20},{\"name\":\"core\",\"softLimit\":0,"
                         "\"hardLimit\":0}],\"linuxParameters\":{\"initProcessEnabled\":true,"
                         "\"capabilities\":{\"add\":[\"SYS_PTRACE\"],\"drop\":[\"CHOWN\","
                         "\"NET_RAW\",\"MAC_ADMIN\"]}}},{\"name\":\"b\",\"image\":\"i\","
                         "\"linuxParameters\":{\"capabilities\":{\"drop\":[\"ALL\"]}}}]",
                         NULL);
    struct task_def d;
    struct error *err = NULL;
    assert_int_equal(agent_spec_parse(m, 30000, &d, &err), 0);
    assert_int_equal(d.ctrs[0].n_ulimits, 2);
    assert_string_equal(d.ctrs[0].ulimits[0].type, "RLIMIT_NOFILE");
    assert_int_equal(d.ctrs[0].ulimits[0].soft, 10);
    assert_int_equal(d.ctrs[0].ulimits[0].hard, 20);
    assert_string_equal(d.ctrs[0].ulimits[1].type, "RLIMIT_CORE");
    assert_true(d.ctrs[0].init);
    assert_true(d.ctrs[0].ptrace);
    /* MAC_ADMIN is not in the default set: nothing to drop */
    assert_true(d.ctrs[0].drop_caps == ((UINT64_C(1) << 0) | (UINT64_C(1) << 13)));
    assert_false(d.ctrs[1].ptrace);
    assert_true(d.ctrs[1].drop_caps == UINT64_MAX);
    agent_spec_done(&d);
    json_decref(m);
}

/* Messages the agent refuses, with a word the error must hold. */
static const struct {
    const char *containers;
    const char *extra;
    const char *needle;
} refused[] = {
    {"[]", NULL, "1-10 containers"},
    {"[{\"image\":\"i\"}]", NULL, "name is required"},
    {"[{\"name\":\"a\"}]", NULL, "image is required"},
    {"[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"a\",\"image\":\"i\"}]", NULL, "twice"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"essential\":false}]", NULL, "essential"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\","
     "\"condition\":\"START\"}]}]",
     NULL, "unknown container"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\","
     "\"condition\":\"START\"}]},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":"
     "[{\"containerName\":\"a\",\"condition\":\"START\"}]}]",
     NULL, "circular"},
    {"[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":"
     "[{\"containerName\":\"a\",\"condition\":\"HEALTHY\"}]}]",
     NULL, "health check"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"a\","
     "\"condition\":\"START\"}]}]",
     NULL, "unknown container"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"mountPoints\":[{\"sourceVolume\":\"nope\","
     "\"containerPath\":\"/x\"}]}]",
     NULL, "unknown volume"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"mountPoints\":[{\"sourceVolume\":\"data\","
     "\"containerPath\":\"rel\"}]}]",
     NULL, "absolute"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"linuxParameters\":{\"capabilities\":{\"add\":"
     "[\"SYS_ADMIN\"]}}}]",
     NULL, "SYS_PTRACE"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"linuxParameters\":{\"capabilities\":{\"drop\":"
     "[\"\"]}}}]",
     NULL, "capability"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":5,"
     "\"hardLimit\":4}]}]",
     NULL, "ulimit"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"healthCheck\":{\"command\":[\"CMD\"]}}]", NULL,
     "needs a command"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"healthCheck\":{\"command\":[\"RUN\",\"x\"]}}]", NULL,
     "CMD"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"command\":[1]}]", NULL, "lists of strings"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"workingDirectory\":\"rel\"}]", NULL, "absolute"},
    {"[{\"name\":\"a\",\"image\":\"i\",\"environment\":[{\"value\":\"x\"}]}]", NULL, "name"},
    {"[{\"name\":\"a\",\"image\":\"i\"}]", "\"memory\":-1", "out of range"},
};

static void test_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_t *m = msg_with(refused[i].containers, refused[i].extra);
        if (refused[i].extra && strncmp(refused[i].extra, "\"memory\"", 8) == 0)
            json_object_set_new(m, "memory", json_integer(-1));
        struct task_def d;
        struct error *err = NULL;
        int r = agent_spec_parse(m, 30000, &d, &err);
        if (r != -EINVAL || !err || !strstr(err->msg, refused[i].needle))
            fail_msg("case %zu: r=%d msg=%s (want '%s')", i, r, err ? err->msg : "(none)",
                     refused[i].needle);
        error_free(err);
        json_decref(m);
    }
}

static void test_bad_task_id(void **state)
{
    (void)state;
    json_t *m = msg_with("[{\"name\":\"a\",\"image\":\"i\"}]", NULL);
    json_object_set_new(m, "taskId", json_string("../x"));
    struct task_def d;
    struct error *err = NULL;
    assert_int_equal(agent_spec_parse(m, 30000, &d, &err), -EINVAL);
    error_free(err);
    json_decref(m);
}

/* ---- process.c: Docker's merge rules ---- */

static char *s_entry[] = {"/entry", "--flag"};
static char *s_cmd[] = {"serve"};
static char *s_env[] = {"PATH=/img/bin", "IMG=1", "SHARED=image", "AWS_REGION=from-image"};

static struct img_config image_config(bool entry, bool cmd)
{
    return (struct img_config){
        .has_entrypoint = entry,
        .entrypoint = s_entry,
        .n_entrypoint = entry ? 2 : 0,
        .has_cmd = cmd,
        .cmd = s_cmd,
        .n_cmd = cmd ? 1 : 0,
        .env = s_env,
        .n_env = 4,
        .working_dir = "app",
        .user = "7:8",
    };
}

static char **strv(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static const char *const empty[] = {NULL};

static void check_args(const char *const *ep, const char *const *cmd, bool img_ep, bool img_cmd,
                       const char *want)
{
    struct task_def t = {.id = "abc", .region = "us-east-1"};
    struct ctr_def d = {.name = "c", .env = strv(empty)};
    d.has_entrypoint = ep != NULL;
    d.has_command = cmd != NULL;
    d.entrypoint = ep ? strv(ep) : NULL;
    d.command = cmd ? strv(cmd) : NULL;
    struct img_config ic = image_config(img_ep, img_cmd);
    struct ctr_process p;
    struct error *err = NULL;
    int r = agent_process_resolve(&t, &d, &ic, NULL, 0, &p, &err);
    if (!want) {
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err->msg, "CannotStartContainerError"));
        error_free(err);
    } else {
        assert_int_equal(r, 0);
        char got[256] = "";
        for (size_t i = 0; p.args[i]; i++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "", p.args[i]);
        assert_string_equal(got, want);
        agent_process_done(&p);
    }
    for (size_t i = 0; d.entrypoint && d.entrypoint[i]; i++)
        free(d.entrypoint[i]);
    for (size_t i = 0; d.command && d.command[i]; i++)
        free(d.command[i]);
    free(d.entrypoint);
    free(d.command);
    free(d.env);
}

static void test_args_merge(void **state)
{
    (void)state;
    static const char *const ep[] = {"/mine", NULL};
    static const char *const cmd[] = {"x", "y", NULL};
    check_args(NULL, NULL, true, true, "/entry --flag serve");
    check_args(NULL, cmd, true, true, "/entry --flag x y");
    check_args(ep, NULL, true, true, "/mine"); /* the image's Cmd goes with its Entrypoint */
    check_args(ep, cmd, true, true, "/mine x y");
    check_args(NULL, NULL, false, true, "serve");
    check_args(NULL, cmd, false, false, "x y");
    check_args(NULL, NULL, false, false, NULL);
}

static void test_env_cwd_user(void **state)
{
    (void)state;
    static const char *const env[] = {"SHARED=def", "DEF=1", "AWS_REGION=mine", NULL};
    struct task_def t = {.id = "abc", .region = "eu-west-1"};
    struct ctr_def d = {.name = "c", .env = strv(env), .hostname = "h1"};
    struct img_config ic = image_config(true, true);
    struct ctr_process p;
    struct error *err = NULL;
    assert_int_equal(agent_process_resolve(&t, &d, &ic, NULL, 0, &p, &err), 0);
    const char *want[] = {"PATH=/img/bin",
                          "IMG=1",
                          "SHARED=def",
                          "AWS_REGION=mine",
                          "HOSTNAME=h1",
                          "AWS_EXECUTION_ENV=AWS_ECS_FARGATE",
                          "AWS_DEFAULT_REGION=eu-west-1",
                          "DEF=1",
                          NULL};
    for (size_t i = 0; want[i] || p.env[i]; i++) {
        if (!want[i] || !p.env[i] || strcmp(want[i], p.env[i]) != 0)
            fail_msg("env[%zu]: got %s, want %s", i, p.env[i] ? p.env[i] : "(end)",
                     want[i] ? want[i] : "(end)");
    }
    assert_string_equal(p.cwd, "/app");
    assert_int_equal(p.uid, 7);
    assert_int_equal(p.gid, 8);
    agent_process_done(&p);
    for (size_t i = 0; d.env[i]; i++)
        free(d.env[i]);
    free(d.env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults), cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_health_and_links), cmocka_unit_test(test_volumes_from_readonly),
        cmocka_unit_test(test_ulimits_and_caps), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bad_task_id),      cmocka_unit_test(test_args_merge),
        cmocka_unit_test(test_env_cwd_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
