/* skiff logs [-f] TASK|SERVICE: a task's (or a service's tasks') container
 * output, read through the CloudWatch Logs API from the awslogs streams of
 * their task definition (stream PREFIX/CONTAINER/TASK-ID of awslogs-group).
 *
 * Following works as `aws logs tail --follow` does: FilterLogEvents on the
 * streams from the newest timestamp seen, skipping the events already
 * printed at that timestamp (by eventId). */
#include "cli/logs.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_POLL_MS 500
/* After the tasks stopped, the shipper polls every 200 ms: give it this
 * long, then stop at the first poll that brings nothing. */
#define LOGS_DRAIN_MS 2000
/* FilterLogEvents takes at most 100 stream names. */
#define LOGS_MAX_STREAMS 100

const struct client_service cli_logs_service = {
    .signing_name = "logs",
    .target_prefix = "Logs_20140328",
};

/* The streams of one log group. */
struct group {
    char *name;
    json_t *streams; /* [name] */
    json_t *labels;  /* {stream: "container" or "task/container"} */
    int64_t since;   /* newest timestamp printed, or the start */
    json_t *seen;    /* {eventId: true} at `since` */
};

struct cli_log_follow {
    struct group *groups;
    size_t n_groups;
    size_t n_containers;
    json_t *tasks; /* {task id: true} */
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static struct group *group_get(struct cli_log_follow *f, const char *name)
{
    for (size_t i = 0; i < f->n_groups; i++)
        if (!strcmp(f->groups[i].name, name))
            return &f->groups[i];
    f->groups = xrealloc(f->groups, (f->n_groups + 1) * sizeof(*f->groups));
    struct group *g = &f->groups[f->n_groups++];
    *g = (struct group){.name = xstrdup(name),
                        .streams = json_array(),
                        .labels = json_object(),
                        .since = 0,
                        .seen = json_object()};
    return g;
}

/* Adds the awslogs streams of one task. */
static int add_task(struct cli *cli, struct cli_log_follow *f, const json_t *task, json_t *taskdefs)
{
    const char *arn = json_get_str(task, "taskArn");
    const char *td_arn = json_get_str(task, "taskDefinitionArn");
    if (!arn || !td_arn)
        return 0;
    const char *id = strrchr(arn, '/') ? strrchr(arn, '/') + 1 : arn;
    json_t *td = json_object_get(taskdefs, td_arn);
    if (!td) {
        json_t *out = NULL;
        if (cli_call(cli, "DescribeTaskDefinition", json_pack("{s:s}", "taskDefinition", td_arn),
                     &out) < 0)
            return -1;
        td = json_get_object(out, "taskDefinition");
        json_object_set(taskdefs, td_arn, td ? td : json_null());
        json_decref(out);
        td = json_object_get(taskdefs, td_arn);
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_get_array(td, "containerDefinitions"), i, c)
    {
        json_t *lc = json_get_object(c, "logConfiguration");
        json_t *opts = json_get_object(lc, "options");
        const char *name = json_get_str(c, "name");
        const char *group = json_get_str(opts, "awslogs-group");
        const char *prefix = json_get_str(opts, "awslogs-stream-prefix");
        if (!name || !group || strcmp(json_get_str(lc, "logDriver") ?: "", "awslogs") != 0)
            continue;
        _cleanup_free_ char *stream = prefix && *prefix ? xasprintf("%s/%s/%s", prefix, name, id)
                                                        : xasprintf("%s/%s", name, id);
        struct group *g = group_get(f, group);
        if (json_object_get(g->labels, stream) || json_array_size(g->streams) >= LOGS_MAX_STREAMS)
            continue;
        json_array_append_new(g->streams, json_string(stream));
        /* A service's lines name their task (the ID's first 8 digits). */
        json_object_set_new(g->labels, stream, json_sprintf("%.8s/%s", id, name));
        json_object_set_new(f->tasks, id, json_true());
        f->n_containers++;
    }
    return 0;
}

int cli_log_follow_set_tasks(struct cli *cli, struct cli_log_follow *f, const json_t *tasks)
{
    json_t *taskdefs = json_object();
    size_t i;
    json_t *t;
    int r = 0;
    json_array_foreach(tasks, i, t)
    {
        if ((r = add_task(cli, f, t, taskdefs)) < 0)
            break;
    }
    json_decref(taskdefs);
    return r;
}

void cli_log_follow_free(struct cli_log_follow *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_groups; i++) {
        free(f->groups[i].name);
        json_decref(f->groups[i].streams);
        json_decref(f->groups[i].labels);
        json_decref(f->groups[i].seen);
    }
    free(f->groups);
    json_decref(f->tasks);
    free(f);
}

int cli_log_follow_new(struct cli *cli, const json_t *tasks, struct cli_log_follow **ret)
{
    struct cli_log_follow *f = xzalloc(sizeof(*f));
    f->tasks = json_object();
    if (cli_log_follow_set_tasks(cli, f, tasks) < 0) {
        cli_log_follow_free(f);
        return -1;
    }
    if (!f->n_containers) {
        cli_log_follow_free(f);
        f = NULL;
    }
    *ret = f;
    return 0;
}

/* One FilterLogEvents pass over a group, page after page. */
static int poll_group(struct cli *cli, struct cli_log_follow *f, struct group *g, FILE *out)
{
    if (!json_array_size(g->streams))
        return 0;
    int printed = 0;
    json_t *token = NULL;
    for (;;) {
        json_t *in = json_pack("{s:s, s:O, s:I}", "logGroupName", g->name, "logStreamNames",
                               g->streams, "startTime", (json_int_t)g->since);
        if (token)
            json_object_set(in, "nextToken", token);
        json_t *ans = NULL;
        _cleanup_error_ struct error *err = NULL;
        if (cli_try(cli, &cli_logs_service, "FilterLogEvents", in, &ans, &err) < 0) {
            json_decref(token);
            /* The group appears with the first line shipped. */
            if (cli_error_is(err, "ResourceNotFoundException"))
                return 0;
            cli_fail("%s", err->msg);
            return -1;
        }
        size_t i;
        json_t *e;
        json_array_foreach(json_get_array(ans, "events"), i, e)
        {
            int64_t ts = json_get_int(e, "timestamp", 0);
            const char *id = json_get_str(e, "eventId") ?: "";
            if (ts < g->since || (ts == g->since && json_object_get(g->seen, id)))
                continue;
            if (ts > g->since) {
                json_object_clear(g->seen);
                g->since = ts;
            }
            json_object_set_new(g->seen, id, json_true());
            const char *msg = json_get_str(e, "message") ?: "";
            const char *label = json_string_value(json_object_get(
                                    g->labels, json_get_str(e, "logStreamName") ?: ""))
                                    ?: "?/?";
            if (json_object_size(f->tasks) > 1)
                fprintf(out, "%s | %s\n", label, msg);
            else if (f->n_containers > 1)
                fprintf(out, "%s | %s\n", strchr(label, '/') ? strchr(label, '/') + 1 : label, msg);
            else
                fprintf(out, "%s\n", msg);
            printed++;
        }
        json_decref(token);
        token = json_incref(json_object_get(ans, "nextToken"));
        json_decref(ans);
        if (!token)
            break;
    }
    fflush(out);
    return printed;
}

int cli_log_follow_poll(struct cli *cli, struct cli_log_follow *f, FILE *out)
{
    int total = 0;
    for (size_t i = 0; i < f->n_groups; i++) {
        int n = poll_group(cli, f, &f->groups[i], out);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

int cli_log_follow_drain(struct cli *cli, struct cli_log_follow *f, FILE *out)
{
    double until = cli_now() + LOGS_DRAIN_MS / 1000.0;
    for (;;) {
        int n = cli_log_follow_poll(cli, f, out);
        if (n < 0)
            return -1;
        if (n == 0 && cli_now() >= until)
            return 0;
        sleep_ms(LOGS_POLL_MS / 2);
    }
}

/* ---- skiff logs ---- */

/* The tasks TARGET names: a task (ARN or ID), else a service's tasks
 * (running and recently stopped). *ret_service tells which. */
static int find_tasks(struct cli *cli, const char *cluster, const char *target, json_t **ret,
                      bool *ret_service)
{
    json_t *out = NULL;
    json_t *in = json_pack("{s:s, s:[s]}", "cluster", cluster, "tasks", target);
    if (cli_call(cli, "DescribeTasks", in, &out) < 0)
        return -1;
    json_t *tasks = json_get_array(out, "tasks");
    if (json_array_size(tasks)) {
        *ret = json_incref(tasks);
        *ret_service = false;
        json_decref(out);
        return 0;
    }
    json_decref(out);
    /* A service: its tasks, whatever their state. */
    json_t *arns = json_array();
    static const char *const desired[] = {"RUNNING", "STOPPED"};
    for (size_t i = 0; i < ARRAY_SIZE(desired); i++) {
        json_t *page = NULL;
        _cleanup_error_ struct error *err = NULL;
        json_t *lin = json_pack("{s:s, s:s, s:s}", "cluster", cluster, "serviceName", target,
                                "desiredStatus", desired[i]);
        if (cli_try(cli, &client_ecs, "ListTasks", lin, &page, &err) < 0) {
            json_decref(arns);
            if (cli_error_is(err, "ServiceNotFoundException") ||
                cli_error_is(err, "InvalidParameterException"))
                cli_fail("no task or service '%s' in cluster %s", target, cluster);
            else
                cli_fail("%s", err->msg);
            return -1;
        }
        json_array_extend(arns, json_get_array(page, "taskArns"));
        json_decref(page);
    }
    if (!json_array_size(arns)) {
        json_decref(arns);
        /* ListTasks answers nothing for an unknown service name as well. */
        *ret = json_array();
        *ret_service = true;
        return 0;
    }
    json_t *all = json_array();
    for (size_t i = 0; i < json_array_size(arns); i += 100) {
        json_t *batch = json_array();
        for (size_t j = i; j < i + 100 && j < json_array_size(arns); j++)
            json_array_append(batch, json_array_get(arns, j));
        out = NULL;
        if (cli_call(cli, "DescribeTasks",
                     json_pack("{s:s, s:o}", "cluster", cluster, "tasks", batch), &out) < 0) {
            json_decref(arns);
            json_decref(all);
            return -1;
        }
        json_array_extend(all, json_get_array(out, "tasks"));
        json_decref(out);
    }
    json_decref(arns);
    *ret = all;
    *ret_service = true;
    return 0;
}

static bool all_stopped(const json_t *tasks)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        if (strcmp(json_get_str(t, "lastStatus") ?: "", "STOPPED") != 0)
            return false;
    }
    return true;
}

static int cmd_logs(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"cluster", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *cluster = "default";
    bool follow = false;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":f", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'f':
            follow = true;
            break;
        case 'k':
            cluster = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(cli, "give one task (ARN or ID) or service name");
    const char *target = argv[optind];
    json_t *tasks = NULL;
    bool service;
    if (find_tasks(cli, cluster, target, &tasks, &service) < 0)
        return CLI_EXIT_FAIL;
    if (!json_array_size(tasks)) {
        json_decref(tasks);
        return cli_fail("no task or service '%s' in cluster %s", target, cluster);
    }
    struct cli_log_follow *f = NULL;
    if (cli_log_follow_new(cli, tasks, &f) < 0) {
        json_decref(tasks);
        return CLI_EXIT_FAIL;
    }
    if (!f) {
        json_decref(tasks);
        return cli_fail("%s %s has no container with the awslogs log driver: its output is not "
                        "shipped (give its containers a logConfiguration with logDriver "
                        "awslogs)",
                        service ? "service" : "task", target);
    }
    int rc = CLI_EXIT_OK;
    if (cli_log_follow_poll(cli, f, stdout) < 0)
        rc = CLI_EXIT_FAIL;
    /* -f: until the task stops (a service: until interrupted). */
    while (follow && rc == CLI_EXIT_OK) {
        if (!service && all_stopped(tasks)) {
            if (cli_log_follow_drain(cli, f, stdout) < 0)
                rc = CLI_EXIT_FAIL;
            break;
        }
        sleep_ms(LOGS_POLL_MS);
        json_t *now = NULL;
        bool svc;
        if (find_tasks(cli, cluster, target, &now, &svc) < 0 ||
            (service && cli_log_follow_set_tasks(cli, f, now) < 0)) {
            json_decref(now);
            rc = CLI_EXIT_FAIL;
            break;
        }
        json_decref(tasks);
        tasks = now;
        if (cli_log_follow_poll(cli, f, stdout) < 0)
            rc = CLI_EXIT_FAIL;
    }
    cli_log_follow_free(f);
    json_decref(tasks);
    return rc;
}

const struct cli_command cli_logs_commands[] = {
    {"logs", cmd_logs, NULL, "[-f] TASK|SERVICE",
     "Print a task's or a service's container output (awslogs)",
     "  skiff logs [-f|--follow] [--cluster C] TASK|SERVICE\n"
     "\n"
     "Prints what the containers of the task (its ARN or ID) or of the\n"
     "service's tasks wrote to stdout and stderr, read through the CloudWatch\n"
     "Logs API from the awslogs streams their task definition names\n"
     "(PREFIX/CONTAINER/TASK-ID in awslogs-group). With several containers each\n"
     "line starts with 'CONTAINER | ', with several tasks with 'TASK/CONTAINER | '\n"
     "(the task ID's first 8 characters). A task whose containers do not use\n"
     "the awslogs log driver has no logs to show.\n"
     "\n"
     "  -f, --follow   keep printing new lines until the task stops (a service:\n"
     "                 until interrupted)\n"
     "  --cluster C    the cluster (default: 'default')\n"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
