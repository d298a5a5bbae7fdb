/* What the skiff subcommands share: the global options, the command table
 * type, API calls that print their own errors, and output helpers.
 *
 * Each command group lives in its own file (cluster.c, taskdef.c, ...) and
 * exports a table of its subcommands; main.c dispatches on them. */
#pragma once

#include <jansson.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/client.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1 /* the API or the connection failed */
#define CLI_EXIT_USAGE 2 /* the command line is wrong */

enum cli_output {
    CLI_OUTPUT_TABLE,
    CLI_OUTPUT_JSON,
};

/* Global options (NULL when not given) and the connection, made on first use. */
struct cli {
    const char *endpoint;
    const char *data_dir;
    const char *profile;
    const char *region;
    enum cli_output output;
    bool output_given;   /* --output was on the command line */
    const char *command; /* "cluster ls": for messages */
    struct client *client;
};

/* Runs a command; argv[0] is the command's name and the global options are
 * already removed. Returns the exit status. */
typedef int (*cli_run_fn)(struct cli *cli, int argc, char **argv);

struct cli_command {
    const char *name;
    cli_run_fn run;                        /* NULL for a group */
    const struct cli_command *subcommands; /* a group's table, ended by {NULL} */
    const char *args;                      /* synopsis after the name, or NULL */
    const char *summary;                   /* one line for listings */
    const char *details;                   /* more help (options), or NULL */
};

/* Top-level commands (run.c: run; task.c: ps, stop, inspect) and groups. */
extern const struct cli_command cli_run_commands[];
extern const struct cli_command cli_task_commands[];
extern const struct cli_command cli_cost_commands[];
extern const struct cli_command cli_image_commands[];
extern const struct cli_command cli_cluster_commands[];
extern const struct cli_command cli_taskdef_commands[];
extern const struct cli_command cli_service_commands[];

/* Releases the connection. */
void cli_done(struct cli *cli);

/* Prints "skiff: <command>: <message>" and a pointer to --help on stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "skiff: <message>" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* After getopt_long() answered '?': reports the option it did not know
 * as a usage error; returns CLI_EXIT_USAGE. */
int cli_unknown_option(const struct cli *cli, char **argv);

/* A command's options: getopt_long over argv from its start, with the bad
 * ones (unknown, or missing their value) reported as usage errors here. */
struct cli_getopt {
    int argc;
    char **argv;
    const char *shortopts; /* starts with ':' (after '-' when operands come in order) */
    const struct option *longopts;
    bool begun;
};
/* The next option, -1 after the last, or CLI_OPT_BAD once a bad option has
 * been reported (the command then ends with CLI_EXIT_USAGE). */
#define CLI_OPT_BAD (-2)
int cli_getopt_next(const struct cli *cli, struct cli_getopt *g);
/* For commands without options of their own: checks that argv has between
 * min and max operands (max -1: no limit) and no options. Returns the index
 * of the first operand, or -1 after printing a usage error. */
int cli_operands(struct cli *cli, int argc, char **argv, int min, int max);

/* The connection to skiffd, made on first use from the global options and
 * the environment; NULL after printing why it cannot be made. */
struct client *cli_client(struct cli *cli);

/* Calls svc's operation with `in` (consumed) and prints nothing: a failure
 * (of the call or of making the connection) is left in *err, whose message
 * for an API error reads "<Code>: <message>" (see cli_error_is()). */
int cli_try(struct cli *cli, const struct client_service *svc, const char *operation, json_t *in,
            json_t **ret_out, struct error **err);
/* Whether err is the API error `code` (such as "ClusterNotFoundException"). */
bool cli_error_is(const struct error *err, const char *code);

/* Calls an ECS operation with `in` (consumed). On failure prints
 * "skiff: <Code>: <message>" (or the connection problem) and returns -1. */
int cli_call(struct cli *cli, const char *operation, json_t *in, json_t **ret_out);
/* The same for an operation of skiff's own API (client_skiff). */
int cli_call_skiff(struct cli *cli, const char *operation, json_t *in, json_t **ret_out);
/* Calls a List* operation with `in` (consumed) page after page, following
 * nextToken to the end, and returns the concatenation of the `key` arrays. */
int cli_list(struct cli *cli, const char *operation, json_t *in, const char *key,
             json_t **ret_items);
/* The same for a List* operation of skiff's own API. */
int cli_list_skiff(struct cli *cli, const char *operation, json_t *in, const char *key,
                   json_t **ret_items);

/* Prints v as indented JSON on stdout. */
void cli_print_json(const json_t *v);
/* Formats an AWS JSON timestamp (seconds since the epoch) as UTC ISO 8601
 * into out (at least 32 bytes); "-" when v is not a number. */
const char *cli_format_time(const json_t *v, char *out, size_t size);
/* A byte count in binary units with at most one decimal ("512B", "1.5KiB",
 * "12.3MiB", "120MiB", "2.0GiB") into out (at least 16 bytes). */
const char *cli_format_size(int64_t bytes, char *out, size_t size);
/* The time of day in seconds since the epoch, with its fraction. */
double cli_now(void);
/* How long before `now` (cli_now()) the AWS JSON timestamp v is, in its
 * largest unit, rounded down ("5s ago", "3m ago", "2h ago", "4d ago"; "just
 * now" under a second or for a clock a little ahead); "-" when v is not a
 * number. */
const char *cli_format_age(const json_t *v, double now, char *out, size_t size);
/* A string or integer member as text for a table cell (in buf), or NULL. */
const char *cli_cell(const json_t *obj, const char *key, char *buf, size_t size);
