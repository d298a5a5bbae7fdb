/* skiff: the command line client of skiffd.
 *
 *   skiff [GLOBAL OPTIONS] COMMAND [SUBCOMMAND] [ARGS]
 *
 * Global options are taken out of the command line wherever they appear (as
 * the aws CLI does), then the command is looked up in the top-level tables
 * (run.c's, task.c's and the one below) and in the group tables of image.c,
 * cluster.c, taskdef.c, ... */
#include "cli/cli.h"
#include "cli/logs.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "unknown"
#endif

static int cmd_help(struct cli *cli, int argc, char **argv);
static int cmd_version(struct cli *cli, int argc, char **argv);

static const struct cli_command commands[] = {
    {"image", NULL, cli_image_commands, NULL, "Manage the host's images", NULL},
    {"cluster", NULL, cli_cluster_commands, NULL, "Manage clusters", NULL},
    {"taskdef", NULL, cli_taskdef_commands, NULL, "Manage task definitions", NULL},
    {"service", NULL, cli_service_commands, NULL, "Manage services", NULL},
    {"version", cmd_version, NULL, NULL, "Print the version of skiff", NULL},
    {"help", cmd_help, NULL, "[COMMAND]", "Show help for a command", NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

static const char global_help[] =
    "Global options (accepted anywhere before '--'):\n"
    "  --endpoint-url URL   skiffd's address; else SKIFF_ENDPOINT, else http://127.0.0.1:8080\n"
    "  --data-dir DIR       sign with a profile of DIR/credentials (skiffd's data dir)\n"
    "  --profile NAME       the profile to sign with; else AWS_PROFILE, else \"default\"\n"
    "  --region REGION      else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1\n"
    "  --output json|table  json prints the API's answer, for scripts; table is the default\n"
    "  -h, --help           show help\n"
    "\n"
    "Credentials: DIR/credentials with --data-dir; else AWS_ACCESS_KEY_ID and\n"
    "AWS_SECRET_ACCESS_KEY (unless --profile is given); else the file named by\n"
    "AWS_SHARED_CREDENTIALS_FILE; else ./.skiff/credentials; else ~/.aws/credentials.\n"
    "\n"
    "Exit status: 0 on success, 1 when the API or the connection fails, 2 on usage errors.\n";

/* The top level, in the order `skiff help` lists it. */
static const struct cli_command *const toplevel[] = {
    cli_run_commands, cli_task_commands, cli_logs_commands, cli_cost_commands, commands};

static const struct cli_command *find(const struct cli_command *table, const char *name)
{
    for (const struct cli_command *c = table; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

static const struct cli_command *find_top(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(toplevel); i++) {
        const struct cli_command *c = find(toplevel[i], name);
        if (c)
            return c;
    }
    return NULL;
}

static int synopsis_width(const struct cli_command *table, int width)
{
    for (const struct cli_command *c = table; c->name; c++) {
        int w = (int)strlen(c->name) + (c->args ? 1 + (int)strlen(c->args) : 0);
        if (w > width)
            width = w;
    }
    return width;
}

static void list_table(FILE *f, const struct cli_command *table, int width)
{
    for (const struct cli_command *c = table; c->name; c++) {
        _cleanup_free_ char *synopsis =
            c->args ? xasprintf("%s %s", c->name, c->args) : xstrdup(c->name);
        fprintf(f, "  %-*s   %s\n", width, synopsis, c->summary);
    }
}

static void list_commands(FILE *f, const struct cli_command *table)
{
    list_table(f, table, synopsis_width(table, 0));
}

static void print_main_help(FILE *f)
{
    fprintf(f, "Usage: skiff [OPTIONS] COMMAND [ARGS]\n"
               "\n"
               "The command line client of skiffd, an ECS-compatible container platform.\n"
               "\n"
               "Commands:\n");
    int width = 0;
    for (size_t i = 0; i < ARRAY_SIZE(toplevel); i++)
        width = synopsis_width(toplevel[i], width);
    for (size_t i = 0; i < ARRAY_SIZE(toplevel); i++)
        list_table(f, toplevel[i], width);
    fprintf(f, "\nRun 'skiff help COMMAND' for a command's subcommands.\n\n%s", global_help);
}

static void print_group_help(FILE *f, const struct cli_command *group)
{
    fprintf(f, "Usage: skiff %s COMMAND [ARGS]\n\n%s.\n\nCommands:\n", group->name, group->summary);
    list_commands(f, group->subcommands);
    fprintf(f,
            "\nRun 'skiff %s COMMAND --help' for a command's options; 'skiff help' for the "
            "global options.\n",
            group->name);
}

static void print_command_help(FILE *f, const char *path, const struct cli_command *cmd)
{
    fprintf(f, "Usage: skiff %s%s%s [--output json|table]\n\n%s.\n", path, cmd->args ? " " : "",
            cmd->args ? cmd->args : "", cmd->summary);
    if (cmd->details)
        fprintf(f, "\n%s", cmd->details);
    fprintf(f, "\nGlobal options: see 'skiff help'.\n");
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
    if (cli_operands(cli, argc, argv, 0, 0) < 0)
        return CLI_EXIT_USAGE;
    if (cli->output == CLI_OUTPUT_JSON)
        printf("{\n    \"version\": \"%s\"\n}\n", SKIFF_VERSION);
    else
        printf("skiff %s\n", SKIFF_VERSION);
    return CLI_EXIT_OK;
}

/* Prints the help of the command named by argv (none: the main help) on f;
 * CLI_EXIT_USAGE when it names no command. */
static int show_help(struct cli *cli, FILE *f, int argc, char **argv)
{
    if (argc == 0) {
        print_main_help(f);
        return CLI_EXIT_OK;
    }
    const struct cli_command *top = find_top(argv[0]);
    if (!top)
        return cli_usage_error(cli, "unknown command '%s'", argv[0]);
    if (!top->subcommands) {
        if (argc > 1)
            return cli_usage_error(cli, "'%s' has no subcommands", argv[0]);
        print_command_help(f, top->name, top);
        return CLI_EXIT_OK;
    }
    if (argc == 1) {
        print_group_help(f, top);
        return CLI_EXIT_OK;
    }
    const struct cli_command *sub = find(top->subcommands, argv[1]);
    if (!sub || argc > 2)
        return cli_usage_error(cli, "unknown command '%s %s'", argv[0], argv[1]);
    _cleanup_free_ char *path = xasprintf("%s %s", top->name, sub->name);
    print_command_help(f, path, sub);
    return CLI_EXIT_OK;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 0, 2);
    if (first < 0)
        return CLI_EXIT_USAGE;
    cli->command = NULL;
    return show_help(cli, stdout, argc - first, argv + first);
}

/* Takes the global options out of argv (up to "--", which stays for the
 * command's own parsing) into cli; the rest is left in ret_args. */
static int parse_global(struct cli *cli, int argc, char **argv, char **args, int *ret_n,
                        int *ret_help)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"endpoint-url", offsetof(struct cli, endpoint)},
        {"data-dir", offsetof(struct cli, data_dir)},
        {"profile", offsetof(struct cli, profile)},
        {"region", offsetof(struct cli, region)},
        {"output", 0},
    };
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            while (i < argc)
                args[n++] = argv[i++];
            break;
        }
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            *ret_help = 1;
            continue;
        }
        if (!strcmp(arg, "--version")) {
            args[n++] = (char *)"version";
            continue;
        }
        size_t k;
        const char *value = NULL;
        for (k = 0; k < ARRAY_SIZE(valued); k++) {
            size_t len = strlen(valued[k].name);
            if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, valued[k].name, len) != 0)
                continue;
            if (arg[2 + len] == '=') {
                value = arg + 3 + len;
                break;
            }
            if (arg[2 + len] == '\0') {
                if (i + 1 == argc)
                    return cli_usage_error(cli, "option '%s' needs a value", arg);
                value = argv[++i];
                break;
            }
        }
        if (k == ARRAY_SIZE(valued)) {
            args[n++] = argv[i];
            continue;
        }
        if (!strcmp(valued[k].name, "output")) {
            if (!strcmp(value, "json"))
                cli->output = CLI_OUTPUT_JSON;
            else if (!strcmp(value, "table"))
                cli->output = CLI_OUTPUT_TABLE;
            else
                return cli_usage_error(cli, "--output must be json or table, not '%s'", value);
            cli->output_given = true;
        } else {
            *(const char **)((char *)cli + valued[k].offset) = value;
        }
    }
    args[n] = NULL;
    *ret_n = n;
    return CLI_EXIT_OK;
}

static int run(struct cli *cli, int argc, char **argv)
{
    _cleanup_free_ char **args = xcalloc((size_t)argc + 1, sizeof(*args));
    int n = 0, help = 0;
    int rc = parse_global(cli, argc, argv, args, &n, &help);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (n == 0) {
        print_main_help(help ? stdout : stderr);
        return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    const struct cli_command *cmd = find_top(args[0]);
    if (!cmd)
        return cli_usage_error(cli, "unknown command '%s'", args[0]);
    if (!cmd->subcommands) {
        cli->command = cmd->name;
        if (help)
            return show_help(cli, stdout, cmd->run == cmd_help ? n - 1 : 1,
                             cmd->run == cmd_help ? args + 1 : args);
        return cmd->run(cli, n, args);
    }
    if (n == 1) {
        print_group_help(help ? stdout : stderr, cmd);
        return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    const struct cli_command *sub = find(cmd->subcommands, args[1]);
    cli->command = cmd->name;
    if (!sub)
        return cli_usage_error(cli, "unknown command '%s'", args[1]);
    _cleanup_free_ char *path = xasprintf("%s %s", cmd->name, sub->name);
    cli->command = path;
    if (help) {
        print_command_help(stdout, path, sub);
        return CLI_EXIT_OK;
    }
    return sub->run(cli, n - 1, args + 1);
}

int main(int argc, char **argv)
{
    struct cli cli = {.output = CLI_OUTPUT_TABLE};
    int rc = run(&cli, argc, argv);
    cli_done(&cli);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("skiff: write");
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
