/* skiff cluster ls|create|rm|describe: ListClusters, CreateCluster,
 * DeleteCluster and DescribeClusters. */
#include "cli/cli.h"
#include "cli/table.h"
#include "base/json.h"

#include <stdio.h>

/* DescribeClusters takes at most this many clusters per call. */
#define DESCRIBE_BATCH 100

static const char *const cluster_headers[] = {"NAME",    "STATUS",   "RUNNING",
                                              "PENDING", "SERVICES", "ARN"};

static void add_cluster_row(struct table *t, const json_t *c)
{
    char running[24], pending[24], services[24];
    const char *cells[] = {
        json_get_str(c, "clusterName"),
        json_get_str(c, "status"),
        cli_cell(c, "runningTasksCount", running, sizeof(running)),
        cli_cell(c, "pendingTasksCount", pending, sizeof(pending)),
        cli_cell(c, "activeServicesCount", services, sizeof(services)),
        json_get_str(c, "clusterArn"),
    };
    table_add(t, cells);
}

/* Prints clusters as a table; with_arn adds the ARN column. */
static void print_clusters(const json_t *clusters, int with_arn)
{
    struct table *t = table_new(with_arn ? 6 : 5, cluster_headers);
    size_t i;
    json_t *c;
    json_array_foreach(clusters, i, c) add_cluster_row(t, c);
    table_print(t, stdout);
    table_free(t);
}

/* Prints the answer of an operation returning one cluster. */
static void print_one(const struct cli *cli, const json_t *out)
{
    if (cli->output == CLI_OUTPUT_JSON) {
        cli_print_json(out);
        return;
    }
    json_t *list = json_array();
    json_t *c = json_get_object(out, "cluster");
    if (c)
        json_array_append(list, c);
    print_clusters(list, 1);
    json_decref(list);
}

static int cluster_ls(struct cli *cli, int argc, char **argv)
{
    if (cli_operands(cli, argc, argv, 0, 0) < 0)
        return CLI_EXIT_USAGE;
    json_t *arns = NULL;
    if (cli_list(cli, "ListClusters", json_object(), "clusterArns", &arns) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *out = json_pack("{s:o}", "clusterArns", arns);
        cli_print_json(out);
        json_decref(out);
        return CLI_EXIT_OK;
    }
    json_t *clusters = json_array();
    int rc = CLI_EXIT_OK;
    for (size_t off = 0; off < json_array_size(arns); off += DESCRIBE_BATCH) {
        json_t *batch = json_array();
        for (size_t i = off; i < off + DESCRIBE_BATCH && i < json_array_size(arns); i++)
            json_array_append(batch, json_array_get(arns, i));
        json_t *out = NULL;
        if (cli_call(cli, "DescribeClusters", json_pack("{s:o}", "clusters", batch), &out) < 0) {
            rc = CLI_EXIT_FAIL;
            break;
        }
        /* A cluster deleted since the listing is a failure here; leave it out. */
        json_array_extend(clusters, json_get_array(out, "clusters"));
        json_decref(out);
    }
    if (rc == CLI_EXIT_OK)
        print_clusters(clusters, 0);
    json_decref(clusters);
    json_decref(arns);
    return rc;
}

static int cluster_create(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, 1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    json_t *out = NULL;
    if (cli_call(cli, "CreateCluster", json_pack("{s:s}", "clusterName", argv[first]), &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cluster_rm(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, 1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    json_t *out = NULL;
    if (cli_call(cli, "DeleteCluster", json_pack("{s:s}", "cluster", argv[first]), &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cluster_describe(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, -1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    json_t *names = json_array();
    for (int i = first; i < argc; i++)
        json_array_append_new(names, json_string(argv[i]));
    json_t *out = NULL;
    if (cli_call(cli, "DescribeClusters", json_pack("{s:o}", "clusters", names), &out) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON)
        cli_print_json(out);
    else if (json_array_size(json_get_array(out, "clusters")))
        print_clusters(json_get_array(out, "clusters"), 1);
    /* Like a missing file for ls(1): report it, and fail once all is shown. */
    json_t *failures = json_get_array(out, "failures");
    size_t i;
    json_t *f;
    json_array_foreach(failures, i, f)
    {
        const char *detail = json_get_str(f, "detail");
        cli_fail("%s: %s%s%s", json_get_str(f, "arn") ? json_get_str(f, "arn") : "?",
                 json_get_str(f, "reason") ? json_get_str(f, "reason") : "failed",
                 detail ? ": " : "", detail ? detail : "");
    }
    int rc = json_array_size(failures) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    json_decref(out);
    return rc;
}

const struct cli_command cli_cluster_commands[] = {
    {"ls", cluster_ls, NULL, NULL, "List the clusters (ListClusters)", NULL},
    {"create", cluster_create, NULL, "NAME", "Create a cluster (CreateCluster)", NULL},
    {"rm", cluster_rm, NULL, "NAME", "Delete a cluster (DeleteCluster)",
     "NAME may be a cluster name or ARN. The cluster must have no services\n"
     "or running tasks; it stays describable as INACTIVE.\n"},
    {"describe", cluster_describe, NULL, "NAME...", "Show clusters (DescribeClusters)",
     "Exits with status 1 when a cluster is missing, after showing the others.\n"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
