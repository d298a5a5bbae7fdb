/* skiff ps|stop|inspect: ListTasks and DescribeTasks, StopTask. A task is
 * named by its ARN, its ID or a prefix of its ID that only it has. */
#include "cli/cli.h"
#include "cli/table.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* DescribeTasks takes at most this many tasks per call. */
#define DESCRIBE_BATCH 100

/* The part after the last '/' of an ARN: a task's ID. */
static const char *arn_tail(const char *arn)
{
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    return slash ? slash + 1 : arn;
}

/* The ARNs of the cluster's tasks whatever their desired status (RUNNING
 * first), or NULL after printing why not. */
static json_t *list_all(struct cli *cli, const char *cluster)
{
    static const char *const desired[] = {"RUNNING", "STOPPED"};
    json_t *arns = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(desired); i++) {
        json_t *in = json_pack("{s:s}", "desiredStatus", desired[i]);
        if (cluster)
            json_object_set_new(in, "cluster", json_string(cluster));
        json_t *page = NULL;
        if (cli_list(cli, "ListTasks", in, "taskArns", &page) < 0) {
            json_decref(arns);
            return NULL;
        }
        json_array_extend(arns, page);
        json_decref(page);
    }
    return arns;
}

/* Resolves TASK (an ARN, an ID or a unique prefix of one) against the
 * cluster's tasks, listed once into *listing. Returns a new string, or NULL
 * after printing why not. */
static char *resolve(struct cli *cli, const char *cluster, const char *ref, json_t **listing)
{
    if (!strncmp(ref, "arn:", 4))
        return xstrdup(ref);
    if (!*ref) {
        cli_fail("an empty task ID names no task");
        return NULL;
    }
    if (!*listing && !(*listing = list_all(cli, cluster)))
        return NULL;
    /* The same task is listed twice when it stopped between the listings. */
    json_t *matches = json_array();
    size_t len = strlen(ref);
    size_t i, j;
    json_t *v, *m;
    json_array_foreach(*listing, i, v)
    {
        const char *arn = json_string_value(v);
        const char *id = arn_tail(arn);
        if (!id || strncmp(id, ref, len) != 0)
            continue;
        if (!strcmp(id, ref)) {
            json_decref(matches);
            return xstrdup(arn);
        }
        bool seen = false;
        json_array_foreach(matches, j, m) seen |= json_equal(m, v);
        if (!seen)
            json_array_append(matches, v);
    }
    size_t n = json_array_size(matches);
    char *arn = n == 1 ? xstrdup(json_string_value(json_array_get(matches, 0))) : NULL;
    json_decref(matches);
    if (n == 0)
        cli_fail("no task matches '%s'%s%s", ref, cluster ? " in cluster " : "",
                 cluster ? cluster : "");
    else if (n > 1)
        cli_fail("'%s' matches %zu tasks: give more of the ID", ref, n);
    return arn;
}

/* Calls DescribeTasks for arns in batches; the answer holds all tasks and
 * all failures. */
static int describe(struct cli *cli, const char *cluster, const json_t *arns, bool tags,
                    json_t **ret_out)
{
    json_t *tasks = json_array(), *failures = json_array();
    for (size_t off = 0; off < json_array_size(arns); off += DESCRIBE_BATCH) {
        json_t *batch = json_array();
        for (size_t i = off; i < off + DESCRIBE_BATCH && i < json_array_size(arns); i++)
            json_array_append(batch, json_array_get(arns, i));
        json_t *in = json_pack("{s:o}", "tasks", batch);
        if (cluster)
            json_object_set_new(in, "cluster", json_string(cluster));
        if (tags)
            json_object_set_new(in, "include", json_pack("[s]", "TAGS"));
        json_t *out = NULL;
        if (cli_call(cli, "DescribeTasks", in, &out) < 0) {
            json_decref(tasks);
            json_decref(failures);
            return -1;
        }
        json_array_extend(tasks, json_get_array(out, "tasks"));
        json_array_extend(failures, json_get_array(out, "failures"));
        json_decref(out);
    }
    *ret_out = json_pack("{s:o, s:o}", "tasks", tasks, "failures", failures);
    return 0;
}

/* Newest first, as the tasks were created. */
static int newest_first(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, "createdAt"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "createdAt"));
    return (x < y) - (x > y);
}

static void sort_tasks(json_t *tasks)
{
    size_t n = json_array_size(tasks);
    json_t **v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(tasks, i));
    qsort(v, n, sizeof(*v), newest_first);
    json_array_clear(tasks);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(tasks, v[i]);
    free(v);
}

/* "FAMILY:REV" from a task definition ARN. */
static const char *family_rev(const json_t *task)
{
    const char *arn = json_get_str(task, "taskDefinitionArn");
    const char *slash = arn ? strstr(arn, ":task-definition/") : NULL;
    return slash ? slash + strlen(":task-definition/") : arn;
}

/* The containers' exit codes, comma-separated, or NULL when none has one. */
static const char *exit_codes(const json_t *task, struct buf *b)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_get_array(task, "containers"), i, c)
    {
        json_t *code = json_object_get(c, "exitCode");
        if (json_is_integer(code))
            buf_printf(b, "%s%" JSON_INTEGER_FORMAT, b->len ? "," : "", json_integer_value(code));
    }
    return b->len ? b->data : NULL;
}

static void print_ps(const json_t *tasks, bool all)
{
    static const char *const headers[] = {"TASK-ID", "FAMILY:REV", "STATUS",    "DESIRED",  "CPU",
                                          "MEMORY",  "STARTED",    "STOP-CODE", "EXIT-CODE"};
    struct table *t = table_new(all ? 9 : 7, headers);
    double now = cli_now();
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task)
    {
        char started[32];
        struct buf codes;
        buf_init(&codes, 0);
        const char *cells[] = {
            arn_tail(json_get_str(task, "taskArn")),
            family_rev(task),
            json_get_str(task, "lastStatus"),
            json_get_str(task, "desiredStatus"),
            json_get_str(task, "cpu"),
            json_get_str(task, "memory"),
            cli_format_age(json_object_get(task, "startedAt"), now, started, sizeof(started)),
            json_get_str(task, "stopCode"),
            exit_codes(task, &codes),
        };
        table_add(t, cells);
        buf_done(&codes);
    }
    table_print(t, stdout);
    table_free(t);
}

static int cmd_ps(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"cluster", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    bool all = false;
    const char *cluster = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":a", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'c':
            cluster = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

    json_t *arns = NULL;
    if (all) {
        arns = list_all(cli, cluster);
    } else {
        json_t *in = json_pack("{s:s}", "desiredStatus", "RUNNING");
        if (cluster)
            json_object_set_new(in, "cluster", json_string(cluster));
        if (cli_list(cli, "ListTasks", in, "taskArns", &arns) < 0)
            arns = NULL;
    }
    if (!arns)
        return CLI_EXIT_FAIL;
    json_t *out = NULL;
    int r = describe(cli, cluster, arns, false, &out);
    json_decref(arns);
    if (r < 0)
        return CLI_EXIT_FAIL;
    sort_tasks(json_get_array(out, "tasks"));
    if (cli->output == CLI_OUTPUT_JSON)
        cli_print_json(out);
    else
        print_ps(json_get_array(out, "tasks"), all);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cmd_stop(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"cluster", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *reason = NULL, *cluster = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'r':
            reason = optarg;
            break;
        case 'c':
            cluster = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc)
        return cli_usage_error(cli, "missing argument: the tasks to stop");

    /* Every task is tried; the status says whether one failed. */
    int rc = CLI_EXIT_OK;
    json_t *listing = NULL, *stopped = json_array();
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *arn = resolve(cli, cluster, argv[i], &listing);
        if (!arn) {
            rc = CLI_EXIT_FAIL;
            continue;
        }
        json_t *in = json_pack("{s:s}", "task", arn);
        if (cluster)
            json_object_set_new(in, "cluster", json_string(cluster));
        if (reason)
            json_object_set_new(in, "reason", json_string(reason));
        json_t *out = NULL;
        if (cli_call(cli, "StopTask", in, &out) < 0) {
            rc = CLI_EXIT_FAIL;
            continue;
        }
        json_t *task = json_get_object(out, "task");
        if (task)
            json_array_append(stopped, task);
        if (cli->output == CLI_OUTPUT_TABLE)
            printf("%s\n", arn_tail(arn));
        json_decref(out);
    }
    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *out = json_pack("{s:O}", "tasks", stopped);
        cli_print_json(out);
        json_decref(out);
    }
    json_decref(stopped);
    json_decref(listing);
    return rc;
}

static void print_task(const json_t *task)
{
    char created[32], started[32], stopped[32];
    struct table *t = table_new(2, NULL);
    table_addv(t, "ARN", json_get_str(task, "taskArn"));
    table_addv(t, "TASK ID", arn_tail(json_get_str(task, "taskArn")));
    table_addv(t, "CLUSTER", arn_tail(json_get_str(task, "clusterArn")));
    table_addv(t, "TASK DEFINITION", family_rev(task));
    table_addv(t, "STATUS", json_get_str(task, "lastStatus"));
    table_addv(t, "DESIRED", json_get_str(task, "desiredStatus"));
    table_addv(t, "CPU", json_get_str(task, "cpu"));
    table_addv(t, "MEMORY", json_get_str(task, "memory"));
    table_addv(t, "CREATED",
               cli_format_time(json_object_get(task, "createdAt"), created, sizeof(created)));
    table_addv(t, "STARTED",
               cli_format_time(json_object_get(task, "startedAt"), started, sizeof(started)));
    table_addv(t, "STOPPED",
               cli_format_time(json_object_get(task, "stoppedAt"), stopped, sizeof(stopped)));
    table_addv(t, "STOP CODE", json_get_str(task, "stopCode"));
    table_addv(t, "STOPPED REASON", json_get_str(task, "stoppedReason"));
    table_print(t, stdout);
    table_free(t);

    static const char *const headers[] = {"CONTAINER", "IMAGE", "STATUS", "EXIT-CODE", "REASON"};
    t = table_new(ARRAY_SIZE(headers), headers);
    size_t i;
    json_t *c;
    json_array_foreach(json_get_array(task, "containers"), i, c)
    {
        char code[24];
        const char *cells[] = {
            json_get_str(c, "name"),       json_get_str(c, "image"),
            json_get_str(c, "lastStatus"), cli_cell(c, "exitCode", code, sizeof(code)),
            json_get_str(c, "reason"),
        };
        table_add(t, cells);
    }
    fputc('\n', stdout);
    table_print(t, stdout);
    table_free(t);
}

static int cmd_inspect(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *cluster = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'c':
            cluster = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(cli, argc == optind ? "missing argument" : "too many arguments");
    json_t *listing = NULL;
    _cleanup_free_ char *arn = resolve(cli, cluster, argv[optind], &listing);
    json_decref(listing);
    if (!arn)
        return CLI_EXIT_FAIL;
    json_t *arns = json_pack("[s]", arn), *out = NULL;
    int r = describe(cli, cluster, arns, true, &out);
    json_decref(arns);
    if (r < 0)
        return CLI_EXIT_FAIL;
    json_t *task = json_array_get(json_get_array(out, "tasks"), 0);
    int rc = CLI_EXIT_OK;
    if (!task)
        rc = cli_fail("%s: no such task", argv[optind]);
    else if (cli->output == CLI_OUTPUT_TABLE && cli->output_given)
        print_task(task);
    else
        cli_print_json(task);
    json_decref(out);
    return rc;
}

const struct cli_command cli_task_commands[] = {
    {"ps", cmd_ps, NULL, "[--all] [--cluster C]", "List tasks (ListTasks, DescribeTasks)",
     "Shows the tasks that should run, newest first; STARTED is how long ago\n"
     "the task started. --output json prints the DescribeTasks answer.\n"
     "\n"
     "  --all         include stopped tasks (desiredStatus STOPPED), with their\n"
     "                stop code and their containers' exit codes\n"
     "  --cluster C   the cluster (default: 'default')\n"},
    {"stop", cmd_stop, NULL, "TASK... [--reason R] [--cluster C]", "Stop tasks (StopTask)",
     "TASK is a task ARN, a task ID or a prefix of an ID that no other task of\n"
     "the cluster has. Prints the IDs of the tasks it stopped; --output json\n"
     "prints {\"tasks\": [...]} with the task of each StopTask answer. Exits with\n"
     "status 1 when a task could not be stopped, after trying the others.\n"
     "\n"
     "  --reason R    the stoppedReason to record (default: Task stopped by user)\n"
     "  --cluster C   the cluster (default: 'default')\n"},
    {"inspect", cmd_inspect, NULL, "TASK [--cluster C]", "Show a task (DescribeTasks)",
     "Prints the task document as JSON; --output table prints a summary and\n"
     "each container's status, exit code and reason. TASK is an ARN, an ID or\n"
     "a unique prefix of an ID.\n"
     "\n"
     "  --cluster C   the cluster (default: 'default')\n"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
