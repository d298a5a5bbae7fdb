/* Shared plumbing of the subcommands: where skiffd is and who we are (flags,
 * then the environment, then defaults), calls that print their own errors,
 * pagination and output helpers. */
#include "cli/cli.h"
#include "cli/profile.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:8080"
#define CLI_DEFAULT_REGION   "us-east-1"
#define CLI_DEFAULT_PROFILE  "default"
#define CLI_DEFAULT_DATA_DIR ".skiff" /* skiffd's default --data-dir */
/* A runaway pagination loop (a server repeating a token) stops here. */
#define CLI_MAX_PAGES 100000

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "unknown"
#endif

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void cli_done(struct cli *cli)
{
    client_free(cli->client);
    cli->client = NULL;
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("skiff: ", stderr);
    if (cli->command)
        fprintf(stderr, "%s: ", cli->command);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'skiff %s%s--help'.\n", cli->command ? cli->command : "",
            cli->command ? " " : "");
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("skiff: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

int cli_unknown_option(const struct cli *cli, char **argv)
{
    /* getopt leaves a bad short option in optopt, a bad long one in argv. */
    if (optopt)
        return cli_usage_error(cli, "unknown option '-%c'", optopt);
    return cli_usage_error(cli, "unknown option '%s'", argv[optind - 1]);
}

int cli_getopt_next(const struct cli *cli, struct cli_getopt *g)
{
    if (!g->begun) {
        optind = 0;
        opterr = 0;
        g->begun = true;
    }
    int c = getopt_long(g->argc, g->argv, g->shortopts, g->longopts, NULL);
    if (c == ':') {
        cli_usage_error(cli, "option '%s' needs a value", g->argv[optind - 1]);
        return CLI_OPT_BAD;
    }
    if (c == '?') {
        cli_unknown_option(cli, g->argv);
        return CLI_OPT_BAD;
    }
    return c;
}

int cli_operands(struct cli *cli, int argc, char **argv, int min, int max)
{
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    if (getopt_long(argc, argv, "", none, NULL) != -1) {
        cli_unknown_option(cli, argv);
        return -1;
    }
    int n = argc - optind;
    if (n < min || (max >= 0 && n > max)) {
        if (min == max && min == 0)
            cli_usage_error(cli, "takes no arguments");
        else if (n < min)
            cli_usage_error(cli, "missing argument");
        else
            cli_usage_error(cli, "too many arguments");
        return -1;
    }
    return optind;
}

/* The credentials to sign with, in the order documented in `skiff help`. */
static int load_profile(const struct cli *cli, struct profile **ret, struct error **err)
{
    const char *name = cli->profile;
    if (!name)
        name = env("AWS_PROFILE");
    if (!name)
        name = env("AWS_DEFAULT_PROFILE");
    if (!name)
        name = CLI_DEFAULT_PROFILE;
    if (cli->data_dir) {
        _cleanup_free_ char *path = xasprintf("%s/credentials", cli->data_dir);
        return profile_load(path, name, ret, err);
    }
    if (!cli->profile && env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
        *ret = profile_new("environment", env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
                           env("AWS_SESSION_TOKEN"));
        return 0;
    }
    if (env("AWS_SHARED_CREDENTIALS_FILE"))
        return profile_load(env("AWS_SHARED_CREDENTIALS_FILE"), name, ret, err);
    if (access(CLI_DEFAULT_DATA_DIR "/credentials", F_OK) == 0)
        return profile_load(CLI_DEFAULT_DATA_DIR "/credentials", name, ret, err);
    if (env("HOME")) {
        _cleanup_free_ char *path = xasprintf("%s/.aws/credentials", env("HOME"));
        if (access(path, F_OK) == 0)
            return profile_load(path, name, ret, err);
    }
    return error_set(err, ENOENT, NULL,
                     "no credentials: use --data-dir DIR (skiffd's data dir) or set "
                     "AWS_SHARED_CREDENTIALS_FILE");
}

static int connect_client(struct cli *cli, struct error **err)
{
    if (cli->client)
        return 0;
    struct profile *prof = NULL;
    int r = load_profile(cli, &prof, err);
    if (r < 0)
        return r;
    const char *endpoint = cli->endpoint ? cli->endpoint : env("SKIFF_ENDPOINT");
    const char *region = cli->region ? cli->region : env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    struct client_config cfg = {
        .endpoint = endpoint ? endpoint : CLI_DEFAULT_ENDPOINT,
        .region = region ? region : CLI_DEFAULT_REGION,
        .access_key = prof->access_key,
        .secret = prof->secret,
        .session_token = prof->session_token,
        .user_agent = "skiff/" SKIFF_VERSION,
    };
    r = client_new(&cfg, &cli->client, err);
    profile_free(prof);
    return r;
}

struct client *cli_client(struct cli *cli)
{
    _cleanup_error_ struct error *err = NULL;
    if (connect_client(cli, &err) < 0) {
        cli_fail("%s", err->msg);
        return NULL;
    }
    return cli->client;
}

int cli_try(struct cli *cli, const struct client_service *svc, const char *operation, json_t *in,
            json_t **ret_out, struct error **err)
{
    int r = connect_client(cli, err);
    if (r == 0)
        r = client_call(cli->client, svc, operation, in, ret_out, err);
    json_decref(in);
    return r;
}

bool cli_error_is(const struct error *err, const char *code)
{
    /* client_call() words API errors "<Code>: <message>"; other failures
     * ("cannot reach skiffd at ...") never start with a code and a colon. */
    size_t n = strlen(code);
    return err && err->msg && !strncmp(err->msg, code, n) && err->msg[n] == ':';
}

static int call(struct cli *cli, const struct client_service *svc, const char *operation,
                json_t *in, json_t **ret_out)
{
    _cleanup_error_ struct error *err = NULL;
    if (cli_try(cli, svc, operation, in, ret_out, &err) < 0) {
        cli_fail("%s", err->msg);
        return -1;
    }
    return 0;
}

int cli_call(struct cli *cli, const char *operation, json_t *in, json_t **ret_out)
{
    return call(cli, &client_ecs, operation, in, ret_out);
}

int cli_call_skiff(struct cli *cli, const char *operation, json_t *in, json_t **ret_out)
{
    return call(cli, &client_skiff, operation, in, ret_out);
}

static int list(struct cli *cli, const struct client_service *svc, const char *operation,
                json_t *in, const char *key, json_t **ret_items)
{
    json_t *items = json_array();
    for (int page = 0;; page++) {
        json_t *out = NULL;
        if (page == CLI_MAX_PAGES) {
            cli_fail("%s: more than %d pages, giving up", operation, CLI_MAX_PAGES);
            goto fail;
        }
        if (call(cli, svc, operation, json_deep_copy(in), &out) < 0)
            goto fail;
        json_t *page_items = json_get_array(out, key);
        if (page_items)
            json_array_extend(items, page_items);
        const char *token = json_get_str(out, "nextToken");
        if (!token || !*token) {
            json_decref(out);
            break;
        }
        json_object_set_new(in, "nextToken", json_string(token));
        json_decref(out);
    }
    json_decref(in);
    *ret_items = items;
    return 0;
fail:
    json_decref(in);
    json_decref(items);
    return -1;
}

int cli_list(struct cli *cli, const char *operation, json_t *in, const char *key,
             json_t **ret_items)
{
    return list(cli, &client_ecs, operation, in, key, ret_items);
}

int cli_list_skiff(struct cli *cli, const char *operation, json_t *in, const char *key,
                   json_t **ret_items)
{
    return list(cli, &client_skiff, operation, in, key, ret_items);
}

void cli_print_json(const json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(4) | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
}

const char *cli_format_time(const json_t *v, char *out, size_t size)
{
    if (!json_is_number(v)) {
        snprintf(out, size, "-");
        return out;
    }
    time_t t = (time_t)json_number_value(v);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

const char *cli_format_size(int64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(out, size, "%lldB", (long long)(bytes < 0 ? 0 : bytes));
        return out;
    }
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    /* One decimal while it says something; "1024.0KiB" reads as 1.0MiB. */
    if (v < 99.95)
        snprintf(out, size, "%.1f%s", v, units[u]);
    else if (v < 1023.5 || u + 1 == ARRAY_SIZE(units))
        snprintf(out, size, "%.0f%s", v, units[u]);
    else
        snprintf(out, size, "1.0%s", units[u + 1]);
    return out;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *cli_format_age(const json_t *v, double now, char *out, size_t size)
{
    if (!json_is_number(v)) {
        snprintf(out, size, "-");
        return out;
    }
    double d = now - json_number_value(v);
    long long age = d > 0 ? (long long)d : 0;
    if (age < 1)
        snprintf(out, size, "just now");
    else if (age < 60)
        snprintf(out, size, "%llds ago", age);
    else if (age < 3600)
        snprintf(out, size, "%lldm ago", age / 60);
    else if (age < 86400)
        snprintf(out, size, "%lldh ago", age / 3600);
    else
        snprintf(out, size, "%lldd ago", age / 86400);
    return out;
}

const char *cli_cell(const json_t *obj, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}
