/* skiff taskdef register|ls|show|rm: RegisterTaskDefinition,
 * ListTaskDefinitions, DescribeTaskDefinition and DeregisterTaskDefinition. */
#include "cli/cli.h"
#include "cli/table.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The API refuses bodies above 1 MiB, so a larger file cannot register. */
#define TASKDEF_MAX_FILE (1u << 20)

static const char *const taskdef_headers[] = {"FAMILY", "REVISION", "STATUS",
                                              "CPU",    "MEMORY",   "ARN"};

static void add_taskdef_row(struct table *t, const json_t *td)
{
    char revision[24];
    const char *cells[] = {
        json_get_str(td, "family"), cli_cell(td, "revision", revision, sizeof(revision)),
        json_get_str(td, "status"), json_get_str(td, "cpu"),
        json_get_str(td, "memory"), json_get_str(td, "taskDefinitionArn"),
    };
    table_add(t, cells);
}

/* Prints the answer of an operation returning one task definition. */
static void print_one(const struct cli *cli, const json_t *out)
{
    if (cli->output == CLI_OUTPUT_JSON) {
        cli_print_json(out);
        return;
    }
    struct table *t = table_new(6, taskdef_headers);
    json_t *td = json_get_object(out, "taskDefinition");
    if (td)
        add_taskdef_row(t, td);
    table_print(t, stdout);
    table_free(t);
}

/* Reads path ("-" for stdin) whole, up to TASKDEF_MAX_FILE bytes. */
static int read_input(const char *path, struct buf *out)
{
    _cleanup_fclose_ FILE *f = NULL;
    FILE *in = stdin;
    if (strcmp(path, "-") != 0) {
        f = fopen(path, "re");
        if (!f)
            return cli_fail("%s: %s", path, strerror(errno));
        in = f;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        if (buf_append(out, chunk, n) < 0)
            return cli_fail("%s: larger than %u KiB, the most the API accepts", path,
                            TASKDEF_MAX_FILE >> 10);
    if (ferror(in))
        return cli_fail("%s: read error", path);
    return CLI_EXIT_OK;
}

/* The RegisterTaskDefinition input held in a file: the request itself (as
 * for `aws ecs register-task-definition --cli-input-json`), or what
 * DescribeTaskDefinition answered ({"taskDefinition": {...}, "tags": [...]}),
 * whose output-only members the server ignores. Returns a new reference. */
static json_t *register_input(json_t *doc)
{
    json_t *td = json_get_object(doc, "taskDefinition");
    if (!td)
        return json_incref(doc);
    json_t *in = json_copy(td);
    json_t *tags = json_get_array(doc, "tags");
    if (tags && json_array_size(tags))
        json_object_set(in, "tags", tags);
    return in;
}

static int taskdef_register(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, 1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    const char *path = argv[first];
    struct buf text;
    buf_init(&text, TASKDEF_MAX_FILE);
    int rc = read_input(path, &text);
    if (rc != CLI_EXIT_OK) {
        buf_done(&text);
        return rc;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &jerr);
    buf_done(&text);
    if (!doc)
        return cli_fail("%s: not JSON: line %d column %d: %s", strcmp(path, "-") ? path : "stdin",
                        jerr.line, jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return cli_fail("%s: expected a JSON object (a task definition)", path);
    }
    json_t *in = register_input(doc);
    json_decref(doc);
    json_t *out = NULL;
    if (cli_call(cli, "RegisterTaskDefinition", in, &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

/* Orders ARNs "...:task-definition/FAMILY:REV" by family, then revision. */
static int arn_cmp(const void *a, const void *b)
{
    const char *x = json_string_value(*(json_t *const *)a);
    const char *y = json_string_value(*(json_t *const *)b);
    const char *xs = strrchr(x, '/'), *ys = strrchr(y, '/');
    xs = xs ? xs + 1 : x;
    ys = ys ? ys + 1 : y;
    const char *xc = strrchr(xs, ':'), *yc = strrchr(ys, ':');
    size_t xl = xc ? (size_t)(xc - xs) : strlen(xs), yl = yc ? (size_t)(yc - ys) : strlen(ys);
    int c = strncmp(xs, ys, xl < yl ? xl : yl);
    if (c || xl != yl)
        return c ? c : (xl < yl ? -1 : 1);
    long xr = xc ? strtol(xc + 1, NULL, 10) : 0, yr = yc ? strtol(yc + 1, NULL, 10) : 0;
    return (xr > yr) - (xr < yr);
}

static void sort_arns(json_t *arns)
{
    size_t n = json_array_size(arns);
    json_t **v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arns, i));
    qsort(v, n, sizeof(*v), arn_cmp);
    json_array_clear(arns);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arns, v[i]);
    free(v);
}

static int taskdef_ls(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"family", required_argument, NULL, 'f'},
        {"all", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    const char *family = NULL;
    int all = 0;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'f':
            family = optarg;
            break;
        case 'a':
            all = 1;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);

    static const char *const active[] = {"ACTIVE"}, *const every[] = {"ACTIVE", "INACTIVE"};
    const char *const *statuses = all ? every : active;
    size_t n_statuses = all ? ARRAY_SIZE(every) : ARRAY_SIZE(active);
    json_t *arns = json_array();
    for (size_t s = 0; s < n_statuses; s++) {
        json_t *in = json_pack("{s:s}", "status", statuses[s]);
        if (family)
            json_object_set_new(in, "familyPrefix", json_string(family));
        json_t *page = NULL;
        if (cli_list(cli, "ListTaskDefinitions", in, "taskDefinitionArns", &page) < 0) {
            json_decref(arns);
            return CLI_EXIT_FAIL;
        }
        json_array_extend(arns, page);
        json_decref(page);
    }
    if (all)
        sort_arns(arns);

    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *out = json_pack("{s:o}", "taskDefinitionArns", arns);
        cli_print_json(out);
        json_decref(out);
        return CLI_EXIT_OK;
    }
    /* The listing holds ARNs only; the table needs each definition. */
    struct table *t = table_new(5, taskdef_headers);
    int rc = CLI_EXIT_OK;
    size_t i;
    json_t *arn;
    json_array_foreach(arns, i, arn)
    {
        json_t *out = NULL;
        if (cli_call(cli, "DescribeTaskDefinition", json_pack("{s:O}", "taskDefinition", arn),
                     &out) < 0) {
            rc = CLI_EXIT_FAIL;
            break;
        }
        json_t *td = json_get_object(out, "taskDefinition");
        if (td)
            add_taskdef_row(t, td);
        json_decref(out);
    }
    if (rc == CLI_EXIT_OK)
        table_print(t, stdout);
    table_free(t);
    json_decref(arns);
    return rc;
}

static const char *join_strings(const json_t *arr, struct buf *b)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i)
            buf_puts(b, ",");
        buf_puts(b, json_is_string(v) ? json_string_value(v) : "?");
    }
    return b->len ? b->data : NULL;
}

static void print_containers(const json_t *containers)
{
    static const char *const headers[] = {"CONTAINER", "IMAGE",     "CPU",
                                          "MEMORY",    "ESSENTIAL", "PORTS"};
    struct table *t = table_new(ARRAY_SIZE(headers), headers);
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c)
    {
        char cpu[24], memory[24];
        const char *mem = cli_cell(c, "memory", memory, sizeof(memory));
        if (!mem)
            mem = cli_cell(c, "memoryReservation", memory, sizeof(memory));
        struct buf ports;
        buf_init(&ports, 0);
        size_t j;
        json_t *pm;
        json_array_foreach(json_get_array(c, "portMappings"), j, pm)
        {
            buf_printf(&ports, "%s%" JSON_INTEGER_FORMAT "/%s", j ? "," : "",
                       json_get_int(pm, "containerPort", 0),
                       json_get_str(pm, "protocol") ? json_get_str(pm, "protocol") : "tcp");
        }
        const char *cells[] = {
            json_get_str(c, "name"),
            json_get_str(c, "image"),
            cli_cell(c, "cpu", cpu, sizeof(cpu)),
            mem,
            json_get_bool(c, "essential", true) ? "true" : "false",
            ports.len ? ports.data : NULL,
        };
        table_add(t, cells);
        buf_done(&ports);
    }
    table_print(t, stdout);
    table_free(t);
}

static int taskdef_show(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, 1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    json_t *out = NULL;
    if (cli_call(cli, "DescribeTaskDefinition", json_pack("{s:s}", "taskDefinition", argv[first]),
                 &out) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON) {
        cli_print_json(out);
        json_decref(out);
        return CLI_EXIT_OK;
    }
    json_t *td = json_get_object(out, "taskDefinition");
    char revision[24], registered[32];
    struct buf requires;
    buf_init(&requires, 0);
    struct table *t = table_new(2, NULL);
    table_addv(t, "ARN", json_get_str(td, "taskDefinitionArn"));
    table_addv(t, "FAMILY", json_get_str(td, "family"));
    table_addv(t, "REVISION", cli_cell(td, "revision", revision, sizeof(revision)));
    table_addv(t, "STATUS", json_get_str(td, "status"));
    table_addv(t, "CPU", json_get_str(td, "cpu"));
    table_addv(t, "MEMORY", json_get_str(td, "memory"));
    table_addv(t, "NETWORK MODE", json_get_str(td, "networkMode"));
    table_addv(t, "REQUIRES",
               join_strings(json_get_array(td, "requiresCompatibilities"), &requires));
    table_addv(
        t, "REGISTERED",
        cli_format_time(json_object_get(td, "registeredAt"), registered, sizeof(registered)));
    table_print(t, stdout);
    table_free(t);
    buf_done(&requires);
    fputc('\n', stdout);
    print_containers(json_get_array(td, "containerDefinitions"));
    json_decref(out);
    return CLI_EXIT_OK;
}

static int taskdef_rm(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, 1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    /* ECS deregisters one revision at a time; a bare family is a mistake. */
    if (!strchr(argv[first], ':'))
        return cli_usage_error(cli, "'%s' names no revision: use FAMILY:REVISION", argv[first]);
    json_t *out = NULL;
    if (cli_call(cli, "DeregisterTaskDefinition", json_pack("{s:s}", "taskDefinition", argv[first]),
                 &out) < 0)
        return CLI_EXIT_FAIL;
    print_one(cli, out);
    json_decref(out);
    return CLI_EXIT_OK;
}

const struct cli_command cli_taskdef_commands[] = {
    {"register", taskdef_register, NULL, "FILE|-",
     "Register a task definition from a JSON file (RegisterTaskDefinition)",
     "FILE holds the request as for `aws ecs register-task-definition\n"
     "--cli-input-json` (family, containerDefinitions, cpu, memory, ...), or\n"
     "the output of `skiff taskdef show --output json` to register a copy.\n"
     "'-' reads standard input.\n"},
    {"ls", taskdef_ls, NULL, "[--family FAMILY] [--all]",
     "List task definitions (ListTaskDefinitions)",
     "  --family FAMILY   only this family's revisions\n"
     "  --all             include deregistered (INACTIVE) revisions\n"},
    {"show", taskdef_show, NULL, "FAMILY[:REVISION]",
     "Show a task definition (DescribeTaskDefinition)",
     "Without :REVISION, shows the family's latest ACTIVE revision.\n"},
    {"rm", taskdef_rm, NULL, "FAMILY:REVISION",
     "Deregister a task definition revision (DeregisterTaskDefinition)", NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
