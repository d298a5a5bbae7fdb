/* skiff service create|ls|scale|deploy|rm|events: CreateService,
 * ListServices + DescribeServices, UpdateService, DeleteService and a
 * service's events. */
#include "cli/cli.h"
#include "cli/table.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DescribeServices takes at most this many services per call. */
#define DESCRIBE_BATCH 10

static const char *const service_headers[] = {"NAME",    "STATUS",  "DESIRED", "RUNNING",
                                              "PENDING", "TASKDEF", "ROLLOUT"};

/* "family:revision" of a task definition ARN. */
static const char *short_taskdef(const char *arn)
{
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    return slash ? slash + 1 : (arn ? arn : "-");
}

static void add_service_row(struct table *t, const json_t *svc)
{
    char desired[24], running[24], pending[24];
    const char *rollout = "-";
    size_t i;
    json_t *d;
    json_array_foreach(
        json_get_array(svc, "deployments"), i,
        d) if (!strcmp(json_get_str(d, "status") ? json_get_str(d, "status") : "", "PRIMARY"))
        rollout = json_get_str(d, "rolloutState") ? json_get_str(d, "rolloutState") : "-";
    const char *cells[] = {
        json_get_str(svc, "serviceName"),
        json_get_str(svc, "status"),
        cli_cell(svc, "desiredCount", desired, sizeof(desired)),
        cli_cell(svc, "runningCount", running, sizeof(running)),
        cli_cell(svc, "pendingCount", pending, sizeof(pending)),
        short_taskdef(json_get_str(svc, "taskDefinition")),
        rollout,
    };
    table_add(t, cells);
}

static void print_services(const json_t *services)
{
    struct table *t = table_new(ARRAY_SIZE(service_headers), service_headers);
    size_t i;
    json_t *s;
    json_array_foreach(services, i, s) add_service_row(t, s);
    table_print(t, stdout);
    table_free(t);
}

/* Prints the answer of an operation returning one service. */
static void print_one(const struct cli *cli, const json_t *out)
{
    if (cli->output == CLI_OUTPUT_JSON) {
        cli_print_json(out);
        return;
    }
    json_t *list = json_array();
    json_t *s = json_get_object(out, "service");
    if (s)
        json_array_append(list, s);
    print_services(list);
    json_decref(list);
}

/* Adds "cluster" to in when given. */
static json_t *with_cluster(json_t *in, const char *cluster)
{
    if (cluster)
        json_object_set_new(in, "cluster", json_string(cluster));
    return in;
}

static int parse_count(struct cli *cli, const char *s, long *ret)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 5000) {
        cli_usage_error(cli, "'%s' is not a task count (0-5000)", s);
        return -1;
    }
    *ret = v;
    return 0;
}

enum {
    OPT_CLUSTER = 'c',
    OPT_TASKDEF = 't',
    OPT_COUNT = 'n',
    OPT_MIN = 'm',
    OPT_MAX = 'M',
    OPT_BREAKER = 'b',
    OPT_NO_ROLLBACK = 'R',
    OPT_GRACE = 'g',
    OPT_TAG = 'T',
    OPT_SUBNET = 's',
    OPT_SG = 'S',
    OPT_PUBLIC_IP = 'p',
    OPT_FORCE = 'f',
};

static int service_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {"taskdef", required_argument, NULL, OPT_TASKDEF},
        {"count", required_argument, NULL, OPT_COUNT},
        {"min-healthy-percent", required_argument, NULL, OPT_MIN},
        {"max-percent", required_argument, NULL, OPT_MAX},
        {"circuit-breaker", no_argument, NULL, OPT_BREAKER},
        {"no-rollback", no_argument, NULL, OPT_NO_ROLLBACK},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"tag", required_argument, NULL, OPT_TAG},
        {"subnet", required_argument, NULL, OPT_SUBNET},
        {"security-group", required_argument, NULL, OPT_SG},
        {"public-ip", no_argument, NULL, OPT_PUBLIC_IP},
        {NULL, 0, NULL, 0},
    };
    const char *cluster = NULL, *taskdef = NULL;
    long count = 1, min = -1, max = -1, grace = -1;
    bool breaker = false, rollback = true, public_ip = false;
    json_t *tags = json_array(), *subnets = json_array(), *sgs = json_array();
    int c, rc = CLI_EXIT_USAGE;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case OPT_CLUSTER:
            cluster = optarg;
            break;
        case OPT_TASKDEF:
            taskdef = optarg;
            break;
        case OPT_COUNT:
            if (parse_count(cli, optarg, &count) < 0)
                goto out;
            break;
        case OPT_MIN:
        case OPT_MAX:
        case OPT_GRACE: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0) {
                cli_usage_error(cli, "'%s' is not a number", optarg);
                goto out;
            }
            *(c == OPT_MIN ? &min : c == OPT_MAX ? &max : &grace) = v;
            break;
        }
        case OPT_BREAKER:
            breaker = true;
            break;
        case OPT_NO_ROLLBACK:
            rollback = false;
            break;
        case OPT_TAG: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                cli_usage_error(cli, "--tag wants KEY=VALUE, got '%s'", optarg);
                goto out;
            }
            _cleanup_free_ char *key = xstrndup(optarg, (size_t)(eq - optarg));
            json_array_append_new(tags, json_pack("{s:s, s:s}", "key", key, "value", eq + 1));
            break;
        }
        case OPT_SUBNET:
            json_array_append_new(subnets, json_string(optarg));
            break;
        case OPT_SG:
            json_array_append_new(sgs, json_string(optarg));
            break;
        case OPT_PUBLIC_IP:
            public_ip = true;
            break;
        case CLI_OPT_BAD:
            goto out;
        }
    }
    if (argc - optind != 1) {
        cli_usage_error(cli, "wants one service NAME");
        goto out;
    }
    if (!taskdef) {
        cli_usage_error(cli, "--taskdef FAMILY[:REVISION] is required");
        goto out;
    }
    json_t *in = json_pack("{s:s, s:s, s:I, s:s}", "serviceName", argv[optind], "taskDefinition",
                           taskdef, "desiredCount", (json_int_t)count, "launchType", "FARGATE");
    with_cluster(in, cluster);
    json_t *dc = json_object();
    if (min >= 0)
        json_object_set_new(dc, "minimumHealthyPercent", json_integer(min));
    if (max >= 0)
        json_object_set_new(dc, "maximumPercent", json_integer(max));
    if (breaker)
        json_object_set_new(dc, "deploymentCircuitBreaker",
                            json_pack("{s:b, s:b}", "enable", 1, "rollback", rollback));
    json_object_set_new(in, "deploymentConfiguration", dc);
    if (grace >= 0)
        json_object_set_new(in, "healthCheckGracePeriodSeconds", json_integer(grace));
    if (json_array_size(tags))
        json_object_set(in, "tags", tags);
    if (json_array_size(subnets)) {
        json_t *vpc = json_pack("{s:O, s:s}", "subnets", subnets, "assignPublicIp",
                                public_ip ? "ENABLED" : "DISABLED");
        if (json_array_size(sgs))
            json_object_set(vpc, "securityGroups", sgs);
        json_object_set_new(in, "networkConfiguration",
                            json_pack("{s:o}", "awsvpcConfiguration", vpc));
    }
    json_t *out = NULL;
    if (cli_call(cli, "CreateService", in, &out) < 0) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    print_one(cli, out);
    json_decref(out);
    rc = CLI_EXIT_OK;
out:
    json_decref(tags);
    json_decref(subnets);
    json_decref(sgs);
    return rc;
}

/* Parses only --cluster (and --force when force is non-NULL); returns the
 * index of the first operand or -1 after a usage error. */
static int cluster_opts(struct cli *cli, int argc, char **argv, const char **cluster, bool *force)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {"force", no_argument, NULL, OPT_FORCE},
        {NULL, 0, NULL, 0},
    };
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case OPT_CLUSTER:
            *cluster = optarg;
            break;
        case OPT_FORCE:
            if (force) {
                *force = true;
                break;
            }
            cli_unknown_option(cli, argv);
            return -1;
        case CLI_OPT_BAD:
            return -1;
        }
    }
    return optind;
}

static int service_ls(struct cli *cli, int argc, char **argv)
{
    const char *cluster = NULL;
    int first = cluster_opts(cli, argc, argv, &cluster, NULL);
    if (first < 0)
        return CLI_EXIT_USAGE;
    if (first != argc)
        return cli_usage_error(cli, "takes no operands");
    json_t *arns = NULL;
    if (cli_list(cli, "ListServices", with_cluster(json_object(), cluster), "serviceArns", &arns) <
        0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *out = json_pack("{s:o}", "serviceArns", arns);
        cli_print_json(out);
        json_decref(out);
        return CLI_EXIT_OK;
    }
    json_t *services = json_array();
    int rc = CLI_EXIT_OK;
    for (size_t off = 0; off < json_array_size(arns); off += DESCRIBE_BATCH) {
        json_t *batch = json_array();
        for (size_t i = off; i < off + DESCRIBE_BATCH && i < json_array_size(arns); i++)
            json_array_append(batch, json_array_get(arns, i));
        json_t *out = NULL;
        if (cli_call(cli, "DescribeServices",
                     with_cluster(json_pack("{s:o}", "services", batch), cluster), &out) < 0) {
            rc = CLI_EXIT_FAIL;
            break;
        }
        json_array_extend(services, json_get_array(out, "services"));
        json_decref(out);
    }
    if (rc == CLI_EXIT_OK)
        print_services(services);
    json_decref(services);
    json_decref(arns);
    return rc;
}

static int service_scale(struct cli *cli, int argc, char **argv)
{
    const char *cluster = NULL;
    int first = cluster_opts(cli, argc, argv, &cluster, NULL);
    if (first < 0)
        return CLI_EXIT_USAGE;
    if (argc - first != 2)
        return cli_usage_error(cli, "wants NAME COUNT");
    long count = 0;
    if (parse_count(cli, argv[first + 1], &count) < 0)
        return CLI_EXIT_USAGE;
    json_t *out = NULL;
    json_t *in = json_pack("{s:s, s:I}", "service", argv[first], "desiredCount", (json_int_t)count);
    if (cli_call(cli, "UpdateService", with_cluster(in, cluster), &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int service_deploy(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {"taskdef", required_argument, NULL, OPT_TASKDEF},
        {NULL, 0, NULL, 0},
    };
    const char *cluster = NULL, *taskdef = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case OPT_CLUSTER:
            cluster = optarg;
            break;
        case OPT_TASKDEF:
            taskdef = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(cli, "wants one service NAME");
    json_t *in = json_pack("{s:s}", "service", argv[optind]);
    /* Without --taskdef: the same definition again (forceNewDeployment). */
    if (taskdef)
        json_object_set_new(in, "taskDefinition", json_string(taskdef));
    else
        json_object_set_new(in, "forceNewDeployment", json_true());
    json_t *out = NULL;
    if (cli_call(cli, "UpdateService", with_cluster(in, cluster), &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int service_rm(struct cli *cli, int argc, char **argv)
{
    const char *cluster = NULL;
    bool force = false;
    int first = cluster_opts(cli, argc, argv, &cluster, &force);
    if (first < 0)
        return CLI_EXIT_USAGE;
    if (argc - first != 1)
        return cli_usage_error(cli, "wants one service NAME");
    json_t *in = json_pack("{s:s, s:b}", "service", argv[first], "force", force);
    json_t *out = NULL;
    if (cli_call(cli, "DeleteService", with_cluster(in, cluster), &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int service_events(struct cli *cli, int argc, char **argv)
{
    const char *cluster = NULL;
    int first = cluster_opts(cli, argc, argv, &cluster, NULL);
    if (first < 0)
        return CLI_EXIT_USAGE;
    if (argc - first != 1)
        return cli_usage_error(cli, "wants one service NAME");
    json_t *in = json_pack("{s:[s]}", "services", argv[first]);
    json_t *out = NULL;
    if (cli_call(cli, "DescribeServices", with_cluster(in, cluster), &out) < 0)
        return CLI_EXIT_FAIL;
    json_t *svc = json_array_get(json_get_array(out, "services"), 0);
    if (!svc) {
        json_decref(out);
        return cli_fail("%s: service not found", argv[first]);
    }
    json_t *events = json_get_array(svc, "events");
    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *o = json_pack("{s:O}", "events", events);
        cli_print_json(o);
        json_decref(o);
    } else {
        /* Oldest first, like a log. */
        for (size_t i = json_array_size(events); i-- > 0;) {
            json_t *e = json_array_get(events, i);
            char when[32];
            printf("%s  %s\n", cli_format_time(json_object_get(e, "createdAt"), when, sizeof(when)),
                   json_get_str(e, "message") ? json_get_str(e, "message") : "");
        }
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

const struct cli_command cli_service_commands[] = {
    {"create", service_create, NULL, "NAME --taskdef TD [OPTIONS]",
     "Create a service (CreateService)",
     "Options:\n"
     "  --taskdef FAMILY[:REV]      the task definition (required)\n"
     "  --count N                   tasks to keep running (default 1)\n"
     "  --cluster NAME              the cluster (default: default)\n"
     "  --min-healthy-percent P     deployment floor (default 100)\n"
     "  --max-percent P             deployment ceiling (default 200)\n"
     "  --circuit-breaker           fail a rollout whose tasks keep failing, and roll back\n"
     "  --no-rollback               with --circuit-breaker: fail without rolling back\n"
     "  --grace SECONDS             health check grace period\n"
     "  --tag KEY=VALUE             a tag (repeatable)\n"
     "  --subnet ID, --security-group ID, --public-ip   awsvpc network configuration\n"},
    {"ls", service_ls, NULL, "[--cluster NAME]", "List services (ListServices)", NULL},
    {"scale", service_scale, NULL, "NAME COUNT [--cluster NAME]",
     "Set a service's desired count (UpdateService)", NULL},
    {"deploy", service_deploy, NULL, "NAME [--taskdef TD] [--cluster NAME]",
     "Roll out a task definition, or the same one again (UpdateService)",
     "Without --taskdef the current definition is deployed again\n"
     "(forceNewDeployment), replacing every task.\n"},
    {"rm", service_rm, NULL, "NAME [--force] [--cluster NAME]", "Delete a service (DeleteService)",
     "A service must be scaled to 0 first unless --force is given; its tasks\n"
     "are stopped and it stays describable as INACTIVE.\n"},
    {"events", service_events, NULL, "NAME [--cluster NAME]",
     "Show a service's events, oldest first", NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
