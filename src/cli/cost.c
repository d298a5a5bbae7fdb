/* skiff cost: GetCostReport as a table, JSON or CSV. */
#include "cli/cli.h"
#include "cli/table.h"
#include "base/cleanup.h"
#include "base/json.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

/* "2026-11-01", "2026-11-01T12:30:00Z" (UTC), or a duration before now:
 * "90m", "36h", "7d". Seconds since the epoch, or -1. */
static double parse_when(const char *s, double now)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && v >= 0 && end[0] && !end[1]) {
        switch (end[0]) {
        case 's':
            return now - (double)v;
        case 'm':
            return now - (double)v * 60;
        case 'h':
            return now - (double)v * 3600;
        case 'd':
            return now - (double)v * 86400;
        }
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%d", &tm);
    if (!rest)
        return -1;
    if (*rest) {
        rest = strptime(rest, "T%H:%M:%S", &tm);
        if (!rest || (*rest && strcmp(rest, "Z") != 0))
            return -1;
    }
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (double)t;
}

/* Nano-dollars as "$1.23", or with four decimals under a dollar; rounded
 * half away from zero. */
static const char *money(int64_t nd, char *out, size_t size)
{
    int decimals = (nd < 1000000000 && nd > -1000000000) ? 4 : 2;
    int64_t unit = decimals == 4 ? 100000 : 10000000;
    int64_t a = nd < 0 ? -nd : nd;
    int64_t q = (a + unit / 2) / unit;
    int64_t scale = decimals == 4 ? 10000 : 100;
    snprintf(out, size, "%s$%" PRId64 ".%0*" PRId64, nd < 0 && q ? "-" : "", q / scale, decimals,
             q % scale);
    return out;
}

/* Exact dollars with nine decimals, for CSV. */
static const char *dollars(int64_t nd, char *out, size_t size)
{
    int64_t a = nd < 0 ? -nd : nd;
    snprintf(out, size, "%s%" PRId64 ".%09" PRId64, nd < 0 ? "-" : "", a / 1000000000,
             a % 1000000000);
    return out;
}

static int64_t nd_of(const json_t *g, const char *key)
{
    return (int64_t)json_get_int(g, key, 0);
}

/* What a table shows for a group key: the last part of an ARN. */
static const char *short_key(const char *key)
{
    if (strncmp(key, "arn:", 4) != 0)
        return key;
    const char *slash = strrchr(key, '/');
    return slash ? slash + 1 : key;
}

static const char *percent(const json_t *g, const char *key, char *out, size_t size)
{
    json_t *v = json_object_get(g, key);
    if (!json_is_number(v))
        return "-";
    snprintf(out, size, "%.1f%%", json_number_value(v));
    return out;
}

/* "512/1024>256/512" for one advised size, "N sizes" for several. */
static const char *advice(const json_t *g, char *out, size_t size)
{
    json_t *rs = json_get_array(g, "rightSizing");
    if (!json_array_size(rs))
        return "-";
    if (json_array_size(rs) > 1) {
        snprintf(out, size, "%zu sizes", json_array_size(rs));
        return out;
    }
    json_t *r = json_array_get(rs, 0);
    snprintf(out, size, "%d/%d>%d/%d", (int)json_get_int(r, "cpu", 0),
             (int)json_get_int(r, "memory", 0), (int)json_get_int(r, "recommendedCpu", 0),
             (int)json_get_int(r, "recommendedMemory", 0));
    return out;
}

static const char *const headers[] = {"GROUP", "TASKS", "COST", "BILLED", "CPU",
                                      "MEM",   "IDLE",  "SAVE", "ADVICE"};

static void add_row(struct table *t, const char *key, const json_t *g)
{
    char tasks[32], cost[48], billed[32], cpu[16], mem[16], idle[48], save[48], adv[64];
    snprintf(tasks, sizeof(tasks), "%" PRId64, (int64_t)json_get_int(g, "tasks", 0));
    snprintf(billed, sizeof(billed), "%" PRId64 "s", (int64_t)json_get_int(g, "billedSeconds", 0));
    table_addv(t, key, tasks, money(nd_of(g, "costNanoUsd"), cost, sizeof(cost)), billed,
               percent(g, "cpuUtilizationPercent", cpu, sizeof(cpu)),
               percent(g, "memoryUtilizationPercent", mem, sizeof(mem)),
               money(nd_of(g, "idleCostNanoUsd"), idle, sizeof(idle)),
               money(nd_of(g, "savingsNanoUsd"), save, sizeof(save)), advice(g, adv, sizeof(adv)));
}

static void print_table(const json_t *out)
{
    struct table *t = table_new(ARRAY_SIZE(headers), headers);
    size_t i;
    json_t *g;
    json_array_foreach(json_get_array(out, "groups"), i, g)
        add_row(t, short_key(json_get_str(g, "key")), g);
    add_row(t, "total", json_get_object(out, "total"));
    table_print(t, stdout);
    table_free(t);
    const char *sentence = json_get_str(json_get_object(out, "ec2Comparison"), "sentence");
    if (sentence)
        printf("\n%s\n", sentence);
    else if (json_get_str(out, "ec2ComparisonError"))
        printf("\nNo EC2 comparison: %s\n", json_get_str(out, "ec2ComparisonError"));
}

static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void csv_row(const char *key, const json_t *g)
{
    static const char *const money_keys[] = {"costNanoUsd",       "vcpuCostNanoUsd",
                                             "memoryCostNanoUsd", "storageCostNanoUsd",
                                             "idleCostNanoUsd",   "savingsNanoUsd"};
    char buf[64];
    csv_field(key);
    printf(",%" PRId64 ",%" PRId64 ",%" PRId64, (int64_t)json_get_int(g, "tasks", 0),
           (int64_t)json_get_int(g, "runningTasks", 0),
           (int64_t)json_get_int(g, "billedSeconds", 0));
    for (size_t i = 0; i < ARRAY_SIZE(money_keys); i++)
        printf(",%s", dollars(nd_of(g, money_keys[i]), buf, sizeof(buf)));
    static const char *const pct[] = {"cpuUtilizationPercent", "memoryUtilizationPercent"};
    for (size_t i = 0; i < ARRAY_SIZE(pct); i++) {
        json_t *v = json_object_get(g, pct[i]);
        if (json_is_number(v))
            printf(",%.2f", json_number_value(v));
        else
            fputs(",", stdout);
    }
    const char *a = advice(g, buf, sizeof(buf));
    printf(",%s\n", strcmp(a, "-") ? a : "");
}

static void print_csv(const json_t *out)
{
    puts("group,tasks,running,billed_seconds,cost_usd,vcpu_usd,memory_usd,storage_usd,idle_usd,"
         "savings_usd,cpu_util_percent,memory_util_percent,advice");
    size_t i;
    json_t *g;
    json_array_foreach(json_get_array(out, "groups"), i, g) csv_row(json_get_str(g, "key"), g);
    csv_row("total", json_get_object(out, "total"));
}

static int cost_run(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"by", required_argument, NULL, 'b'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *by = "cluster";
    double now = cli_now(), since = 0, until = 0;
    enum format format = cli->output == CLI_OUTPUT_JSON ? FORMAT_JSON : FORMAT_TABLE;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'b':
            by = optarg;
            if (strcmp(by, "cluster") && strcmp(by, "service") && strcmp(by, "family") &&
                strcmp(by, "task") && (strncmp(by, "tag:", 4) || !by[4]))
                return cli_usage_error(cli, "--by is cluster, service, family, task or tag:KEY");
            break;
        case 's':
        case 'u': {
            double t = parse_when(optarg, now);
            if (t < 0)
                return cli_usage_error(cli,
                                       "--%s wants YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or a "
                                       "duration before now (90m, 36h, 7d), not '%s'",
                                       c == 's' ? "since" : "until", optarg);
            *(c == 's' ? &since : &until) = t;
            break;
        }
        case 'f':
            if (!strcmp(optarg, "table"))
                format = FORMAT_TABLE;
            else if (!strcmp(optarg, "json"))
                format = FORMAT_JSON;
            else if (!strcmp(optarg, "csv"))
                format = FORMAT_CSV;
            else
                return cli_usage_error(cli, "--format is table, json or csv");
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
    json_t *in = json_pack("{s:s}", "groupBy", by);
    if (since > 0)
        json_object_set_new(in, "since", json_real(since));
    if (until > 0)
        json_object_set_new(in, "until", json_real(until));
    json_t *out = NULL;
    if (cli_call_skiff(cli, "GetCostReport", in, &out) < 0)
        return CLI_EXIT_FAIL;
    if (format == FORMAT_JSON)
        cli_print_json(out);
    else if (format == FORMAT_CSV)
        print_csv(out);
    else
        print_table(out);
    json_decref(out);
    return CLI_EXIT_OK;
}

const struct cli_command cli_cost_commands[] = {
    {"cost", cost_run, NULL, "[--by KEY] [--since WHEN] [--until WHEN] [--format F]",
     "What tasks cost, what they used, right-sizing and Fargate or EC2",
     "Billed per second from image pull to stop (one-minute minimum) on the requested\n"
     "vCPU, memory and storage above 20 GiB; running tasks count up to now.\n"
     "  --by KEY        cluster (default), service, family, task or tag:KEY\n"
     "  --since WHEN    tasks billed after WHEN: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ\n"
     "                  (UTC) or a duration before now (90m, 36h, 7d)\n"
     "  --until WHEN    and before WHEN (default: now)\n"
     "  --format F      table (default), json (the API's answer) or csv (exact dollars)\n"
     "Columns: CPU and MEM are utilisation of the reservation over the sampled time;\n"
     "IDLE is the money paid for reserved but unused capacity; SAVE what the advised\n"
     "size (cpu/memory > cpu/memory) would have saved. The last line compares the\n"
     "same hours on the cheapest EC2 fleet that could have held the tasks."},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
