/* skiff run: starts an image as a Fargate task in one command. It registers
 * a task definition with one essential container (or reuses the family's
 * latest ACTIVE revision when that one is the same definition), calls
 * RunTask and, with --attach, streams the task's output (through the Logs
 * API: the definition ships its container's output with the awslogs driver
 * to the group /skiff/<family>) until the task stops, and exits with its
 * container's exit code. */
#include "cli/cli.h"
#include "cli/logs.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUN_FAMILY_PREFIX "skiff-run-"
/* ECS names (families, containers) have at most this many characters. */
#define RUN_NAME_MAX 255
/* How often --attach asks how the task is doing. */
#define RUN_POLL_MS 500
/* --attach's exit status when the task stopped without a container exit
 * code (it never started, its image could not be pulled, ...), as docker
 * run answers 125 when the container could not be run. */
#define RUN_EXIT_NO_CODE 125
/* Where `skiff run` tasks send their output (awslogs). */
#define RUN_LOG_GROUP_PREFIX  "/skiff/"
#define RUN_LOG_STREAM_PREFIX "skiff"

struct run_options {
    const char *image;
    const char *cpu;
    const char *memory;
    const char *name;
    const char *cluster;
    json_t *environment; /* [{name, value}] */
    json_t *command;     /* [args] or NULL */
    long count;
    bool attach;
};

static void run_options_done(struct run_options *o)
{
    json_decref(o->environment);
    json_decref(o->command);
}

/* The name an image gets in family and container names: its repository
 * without registry host, tag or digest ("127.0.0.1:5000/team/app:v1" is
 * "team-app", "docker.io/library/busybox" is "busybox"), every run of
 * characters ECS names do not allow turned into one '-'. Returns a new
 * string, empty when nothing usable is left. */
static char *image_name(const char *image)
{
    const char *start = image;
    const char *slash = strchr(image, '/');
    /* The first component names a registry when it looks like a host. */
    if (slash && (memchr(image, '.', (size_t)(slash - image)) ||
                  memchr(image, ':', (size_t)(slash - image)) || !strncmp(image, "localhost/", 10)))
        start = slash + 1;
    if (!strncmp(start, "library/", 8))
        start += 8;
    /* The tag is a ':' after the last '/'; a digest follows '@'. */
    size_t len = strcspn(start, "@"), base = 0;
    for (size_t i = 0; i < len; i++)
        if (start[i] == '/')
            base = i + 1;
    const char *colon = memchr(start + base, ':', len - base);
    if (colon)
        len = (size_t)(colon - start);
    struct buf b;
    buf_init(&b, 0);
    bool dash = false;
    for (size_t i = 0; i < len && b.len < RUN_NAME_MAX; i++) {
        char c = start[i];
        if (isalnum((unsigned char)c) || c == '_') {
            if (dash && b.len)
                buf_puts(&b, "-");
            dash = false;
            buf_append(&b, &c, 1);
        } else {
            dash = true;
        }
    }
    return buf_steal(&b);
}

/* Appends K=V to the environment list; K may not be empty. */
static int add_env(struct cli *cli, json_t *environment, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return cli_usage_error(cli, "--env takes KEY=VALUE, not '%s'", kv);
    json_array_append_new(environment,
                          json_pack("{s:s%, s:s}", "name", kv, (size_t)(eq - kv), "value", eq + 1));
    return CLI_EXIT_OK;
}

/* --cmd "echo hello": words split at blanks, without any quoting. */
static json_t *split_words(const char *s)
{
    json_t *words = json_array();
    while (*s) {
        s += strspn(s, " \t\n");
        size_t n = strcspn(s, " \t\n");
        if (n)
            json_array_append_new(words, json_stringn(s, n));
        s += n;
    }
    return words;
}

static int parse_options(struct cli *cli, int argc, char **argv, struct run_options *o)
{
    static const struct option opts[] = {
        {"cpu", required_argument, NULL, 'c'},
        {"memory", required_argument, NULL, 'm'},
        {"env", required_argument, NULL, 'e'},
        {"cmd", required_argument, NULL, 'C'},
        {"name", required_argument, NULL, 'n'},
        {"cluster", required_argument, NULL, 'k'},
        {"count", required_argument, NULL, 'N'},
        {"attach", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct run_options){.cpu = "256", .memory = "512", .count = 1};
    o->environment = json_array();
    const char *cmd = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = "-:e:", .longopts = opts};
    /* '-': operands come back in order as option 1, so that "--" (which
     * ends the loop) can be told apart from operands before it. */
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        char *end;
        switch (c) {
        case 1:
            if (o->image)
                return cli_usage_error(cli,
                                       "unexpected argument '%s': put the container's command "
                                       "after '--' (skiff run IMAGE -- ARGS...)",
                                       optarg);
            o->image = optarg;
            break;
        case 'c':
            o->cpu = optarg;
            break;
        case 'm':
            o->memory = optarg;
            break;
        case 'e':
            if (add_env(cli, o->environment, optarg) != CLI_EXIT_OK)
                return CLI_EXIT_USAGE;
            break;
        case 'C':
            cmd = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'k':
            o->cluster = optarg;
            break;
        case 'N':
            errno = 0;
            o->count = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || o->count < 1)
                return cli_usage_error(cli, "--count takes a positive number, not '%s'", optarg);
            break;
        case 'a':
            o->attach = true;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (!o->image)
        return cli_usage_error(cli, "missing argument: the image to run");
    if (optind < argc) {
        if (cmd)
            return cli_usage_error(cli, "give the command with --cmd or after '--', not both");
        o->command = json_array();
        for (int i = optind; i < argc; i++)
            json_array_append_new(o->command, json_string(argv[i]));
    } else if (cmd) {
        o->command = split_words(cmd);
        if (!json_array_size(o->command))
            return cli_usage_error(cli, "--cmd is empty");
    }
    if (o->attach && o->count != 1)
        return cli_usage_error(cli, "--attach follows one task: it cannot be used with --count");
    return CLI_EXIT_OK;
}

/* The RegisterTaskDefinition request for the options. The container's
 * output goes to the log group /skiff/<family> (created on first use), so
 * that `skiff logs` and --attach can show it. */
static json_t *taskdef_request(const struct run_options *o, const char *family,
                               const char *container, const char *region)
{
    _cleanup_free_ char *group = xasprintf(RUN_LOG_GROUP_PREFIX "%s", family);
    json_t *c =
        json_pack("{s:s, s:s, s:b, s:{s:s, s:{s:s, s:s, s:s, s:s}}}", "name", container, "image",
                  o->image, "essential", 1, "logConfiguration", "logDriver", "awslogs", "options",
                  "awslogs-group", group, "awslogs-region", region, "awslogs-create-group", "true",
                  "awslogs-stream-prefix", RUN_LOG_STREAM_PREFIX);
    if (json_array_size(o->environment))
        json_object_set(c, "environment", o->environment);
    if (o->command)
        json_object_set(c, "command", o->command);
    return json_pack("{s:s, s:s, s:[s], s:s, s:s, s:[o]}", "family", family, "networkMode",
                     "awsvpc", "requiresCompatibilities", "FARGATE", "cpu", o->cpu, "memory",
                     o->memory, "containerDefinitions", c);
}

/* What a member left out of a request reads as when ECS echoes it. */
static bool empty(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_integer(v) && json_integer_value(v) == 0) ||
           (json_is_string(v) && !*json_string_value(v)) ||
           (json_is_array(v) && !json_array_size(v)) || (json_is_object(v) && !json_object_size(v));
}

/* Whether the stored object says what the request says: every member of
 * the request is stored with the same value, and every other stored member
 * (but the `ignored` ones) is a default that reads as absent. */
static bool same_members(const json_t *stored, const json_t *request, const char *const *ignored)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)request, key, v)
    {
        if (!strcmp(key, "containerDefinitions"))
            continue;
        if (!json_equal(v, json_object_get(stored, key)))
            return false;
    }
    json_object_foreach((json_t *)stored, key, v)
    {
        bool skip = !strcmp(key, "containerDefinitions");
        for (const char *const *i = ignored; *i && !skip; i++)
            skip = !strcmp(*i, key);
        if (!skip && !json_object_get(request, key) && !empty(v))
            return false;
    }
    return true;
}

/* Whether the task definition DescribeTaskDefinition answered is what
 * `request` would register. */
static bool same_definition(const json_t *stored, const json_t *request)
{
    /* What ECS adds when it registers: names, numbers, dates, derived lists. */
    static const char *const output_only[] = {
        "taskDefinitionArn", "revision",     "status",       "requiresAttributes",
        "compatibilities",   "registeredAt", "registeredBy", "deregisteredAt",
        "deleteRequestedAt", NULL,
    };
    static const char *const none[] = {NULL};
    if (!same_members(stored, request, output_only))
        return false;
    json_t *sc = json_get_array(stored, "containerDefinitions");
    json_t *rc = json_get_array(request, "containerDefinitions");
    return json_array_size(sc) == 1 && json_array_size(rc) == 1 &&
           same_members(json_array_get(sc, 0), json_array_get(rc, 0), none);
}

/* The ARN of a task definition that runs the options' container: the
 * family's latest ACTIVE revision when it is the same, else a new one. */
static int find_or_register(struct cli *cli, const struct run_options *o, char **ret_arn)
{
    _cleanup_free_ char *name = image_name(o->image);
    _cleanup_free_ char *family = NULL;
    if (o->name) {
        family = xstrdup(o->name);
    } else {
        if (!*name)
            return cli_usage_error(cli, "'%s' names no image: use --name to name the task",
                                   o->image);
        family = xasprintf(RUN_FAMILY_PREFIX "%.*s",
                           (int)(RUN_NAME_MAX - strlen(RUN_FAMILY_PREFIX)), name);
    }
    /* The container is named after the image (or the task, for an image
     * whose name has nothing ECS names allow). */
    const char *container = *name ? name : family;
    const char *region = cli->region ? cli->region : getenv("AWS_REGION");
    if (!region)
        region = getenv("AWS_DEFAULT_REGION");
    json_t *request = taskdef_request(o, family, container, region ? region : "us-east-1");

    json_t *out = NULL;
    _cleanup_error_ struct error *err = NULL;
    int r = cli_try(cli, &client_ecs, "DescribeTaskDefinition",
                    json_pack("{s:s}", "taskDefinition", family), &out, &err);
    if (r == 0) {
        json_t *td = json_get_object(out, "taskDefinition");
        if (td && same_definition(td, request) && json_get_str(td, "taskDefinitionArn")) {
            *ret_arn = xstrdup(json_get_str(td, "taskDefinitionArn"));
            json_decref(out);
            json_decref(request);
            return CLI_EXIT_OK;
        }
        json_decref(out);
    } else if (!cli_error_is(err, "ClientException")) {
        /* ClientException: the family has no ACTIVE revision yet. */
        json_decref(request);
        return cli_fail("%s", err->msg);
    }
    out = NULL;
    if (cli_call(cli, "RegisterTaskDefinition", request, &out) < 0)
        return CLI_EXIT_FAIL;
    const char *arn = json_get_str(json_get_object(out, "taskDefinition"), "taskDefinitionArn");
    int rc = arn ? CLI_EXIT_OK : cli_fail("RegisterTaskDefinition answered no ARN");
    if (arn)
        *ret_arn = xstrdup(arn);
    json_decref(out);
    return rc;
}

/* RunTask; without --cluster, creates the default cluster when it is
 * missing (a fresh skiffd has no cluster), as the ECS console does. */
static int run_task(struct cli *cli, const struct run_options *o, const char *taskdef_arn,
                    json_t **ret_out)
{
    json_t *in = json_pack("{s:s, s:I, s:s}", "taskDefinition", taskdef_arn, "count",
                           (json_int_t)o->count, "launchType", "FARGATE");
    if (o->cluster)
        json_object_set_new(in, "cluster", json_string(o->cluster));
    _cleanup_error_ struct error *err = NULL;
    if (cli_try(cli, &client_ecs, "RunTask", json_incref(in), ret_out, &err) == 0) {
        json_decref(in);
        return CLI_EXIT_OK;
    }
    if (o->cluster || !cli_error_is(err, "ClusterNotFoundException")) {
        json_decref(in);
        return cli_fail("%s", err->msg);
    }
    json_t *created = NULL;
    if (cli_call(cli, "CreateCluster", json_pack("{s:s}", "clusterName", "default"), &created) <
        0) {
        json_decref(in);
        return CLI_EXIT_FAIL;
    }
    json_decref(created);
    fprintf(stderr, "skiff: created the cluster 'default'\n");
    return cli_call(cli, "RunTask", in, ret_out) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* Reports RunTask's failures on stderr; returns how many there were. */
static size_t report_failures(const json_t *out)
{
    json_t *failures = json_get_array(out, "failures");
    size_t i;
    json_t *f;
    json_array_foreach(failures, i, f)
    {
        const char *detail = json_get_str(f, "detail");
        cli_fail("%s: %s%s%s", json_get_str(f, "arn") ? json_get_str(f, "arn") : "RunTask",
                 json_get_str(f, "reason") ? json_get_str(f, "reason") : "failed",
                 detail ? ": " : "", detail ? detail : "");
    }
    return json_array_size(failures);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* wait_stopped's loop; *logs is the follower once made. */
static int attach_wait(struct cli *cli, const json_t *task, struct cli_log_follow **logs,
                       json_t **ret_out)
{
    const char *arn = json_get_str(task, "taskArn");
    const char *cluster = json_get_str(task, "clusterArn");
    const char *id = strrchr(arn, '/') ? strrchr(arn, '/') + 1 : arn;
    _cleanup_free_ char *last = NULL;
    for (;;) {
        json_t *out = NULL;
        if (cli_call(cli, "DescribeTasks",
                     json_pack("{s:s, s:[s]}", "cluster", cluster, "tasks", arn), &out) < 0)
            return CLI_EXIT_FAIL;
        json_t *t = json_array_get(json_get_array(out, "tasks"), 0);
        const char *status = json_get_str(t, "lastStatus");
        if (!status) {
            json_decref(out);
            return cli_fail("task %s is gone", id);
        }
        if (!last || strcmp(last, status) != 0) {
            fprintf(stderr, "skiff: task %s: %s\n", id, status);
            free(last);
            last = xstrdup(status);
        }
        if (cli->output == CLI_OUTPUT_TABLE) {
            /* The follower starts once the task is known with its
             * definition; then every poll prints what arrived. */
            if (!*logs && cli_log_follow_new(cli, json_get_array(out, "tasks"), logs) < 0) {
                json_decref(out);
                return CLI_EXIT_FAIL;
            }
            if (*logs && cli_log_follow_poll(cli, *logs, stdout) < 0) {
                json_decref(out);
                return CLI_EXIT_FAIL;
            }
        }
        if (!strcmp(status, "STOPPED")) {
            if (*logs && cli_log_follow_drain(cli, *logs, stdout) < 0) {
                json_decref(out);
                return CLI_EXIT_FAIL;
            }
            *ret_out = out;
            return CLI_EXIT_OK;
        }
        json_decref(out);
        sleep_ms(RUN_POLL_MS);
    }
}

/* Waits until the task stops, printing its output on stdout as it
 * arrives (not with --output json); on success *ret_out is the last
 * DescribeTasks answer. Status changes go to stderr as they are seen. */
static int wait_stopped(struct cli *cli, const json_t *task, json_t **ret_out)
{
    struct cli_log_follow *logs = NULL;
    int rc = attach_wait(cli, task, &logs, ret_out);
    cli_log_follow_free(logs);
    return rc;
}

/* The exit status for a stopped task: its (only) container's exit code,
 * else RUN_EXIT_NO_CODE after saying why there is none. */
static int exit_status(const struct cli *cli, const json_t *task)
{
    json_t *containers = json_get_array(task, "containers");
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c)
    {
        json_t *code = json_object_get(c, "exitCode");
        if (!json_is_integer(code))
            continue;
        int status = (int)(json_integer_value(code) & 0xff);
        if (cli->output == CLI_OUTPUT_TABLE)
            printf("exit code %" JSON_INTEGER_FORMAT "\n", json_integer_value(code));
        return status;
    }
    const char *reason = json_get_str(json_array_get(containers, 0), "reason");
    if (!reason)
        reason = json_get_str(task, "stoppedReason");
    fprintf(stderr, "skiff: the task stopped without an exit code: %s\n",
            reason ? reason : "no reason given");
    return RUN_EXIT_NO_CODE;
}

static void print_arns(const json_t *tasks)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) printf("%s\n", json_get_str(t, "taskArn"));
}

static int cmd_run(struct cli *cli, int argc, char **argv)
{
    struct run_options o;
    int rc = parse_options(cli, argc, argv, &o);
    _cleanup_free_ char *taskdef_arn = NULL;
    if (rc == CLI_EXIT_OK)
        rc = find_or_register(cli, &o, &taskdef_arn);
    json_t *out = NULL;
    if (rc == CLI_EXIT_OK)
        rc = run_task(cli, &o, taskdef_arn, &out);
    if (rc != CLI_EXIT_OK) {
        run_options_done(&o);
        return rc;
    }
    json_t *tasks = json_get_array(out, "tasks");
    if (!o.attach || !json_array_size(tasks)) {
        if (cli->output == CLI_OUTPUT_JSON)
            cli_print_json(out);
        else
            print_arns(tasks);
        rc = report_failures(out) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        json_decref(out);
        run_options_done(&o);
        return rc;
    }
    /* The ARN first, so that a script or a person can stop the task. */
    if (cli->output == CLI_OUTPUT_TABLE) {
        printf("%s\n", json_get_str(json_array_get(tasks, 0), "taskArn"));
        fflush(stdout);
    }
    json_t *stopped = NULL;
    rc = wait_stopped(cli, json_array_get(tasks, 0), &stopped);
    if (rc == CLI_EXIT_OK) {
        if (cli->output == CLI_OUTPUT_JSON)
            cli_print_json(stopped);
        rc = exit_status(cli, json_array_get(json_get_array(stopped, "tasks"), 0));
    }
    json_decref(stopped);
    json_decref(out);
    run_options_done(&o);
    return rc;
}

const struct cli_command cli_run_commands[] = {
    {"run", cmd_run, NULL, "IMAGE [OPTIONS] [-- ARGS...]",
     "Run an image as a Fargate task (RegisterTaskDefinition, RunTask)",
     "  skiff run IMAGE [--cpu N] [--memory MIB] [--env K=V]... [--cmd CMD | -- ARGS...]\n"
     "            [--name NAME] [--cluster C] [--count N] [--attach]\n"
     "\n"
     "Registers a task definition with one essential container running IMAGE,\n"
     "family skiff-run-<image name> (or NAME), unless the family's latest ACTIVE\n"
     "revision is that same definition, then starts it and prints the task ARNs\n"
     "(--output json: the RunTask answer).\n"
     "\n"
     "  --cpu N          task CPU units, 1024 per vCPU (default 256)\n"
     "  --memory MIB     task memory in MiB (default 512); cpu and memory must\n"
     "                   be a Fargate size\n"
     "  -e, --env K=V    set an environment variable; repeat for more\n"
     "  --cmd CMD        the container's command, split at blanks (no quoting);\n"
     "                   -- ARGS... gives it word by word instead. Either\n"
     "                   replaces the image's Cmd, not its Entrypoint\n"
     "  --name NAME      the task definition family (default skiff-run-<image>)\n"
     "  --cluster C      the cluster (default: 'default', created when missing)\n"
     "  --count N        start N tasks (1-10)\n"
     "  --attach         print the container's output (stdout and stderr) as it\n"
     "                   arrives until the task stops, then its exit code, and\n"
     "                   exit with it (125 when the task stopped without one);\n"
     "                   status changes go to stderr and --output json prints\n"
     "                   only the stopped task's DescribeTasks answer.\n"
     "                   Interrupting skiff leaves the task running.\n"
     "\n"
     "The container's output goes to the log group /skiff/<family> (awslogs,\n"
     "created when missing): see skiff logs.\n"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
