/* agent-tool: drives the agent (agent.h) without the control plane, for the
 * tests (tests/e2e/test_agent*.py). Not installed.
 *
 *   agent-tool -d DATA_DIR -R RUN_DIR [-r crun|runc] [-P CGROUP_PARENT]
 *              [-s STOP_TIMEOUT_MS] [-T STOPPED_RETENTION_MS] COMMAND
 *   import PATH REFERENCE   import an OCI layout or docker-save tar into
 *                           DATA_DIR's content store; prints the image
 *   serve                   runs the agent; reads one JSON request per line
 *                           on stdin and prints JSON lines on stdout:
 *     {"op":"assign","msg":{...}}      -> {"op":"assign","ok":true} | {"error":...}
 *     {"op":"stop","msg":{...}}        -> {"op":"stop","ok":true}
 *     {"op":"list"}                    -> {"op":"list","tasks":[...]}
 *     {"op":"capacity"}                -> {"op":"capacity","capacity":{...}}
 *     {"op":"log","taskArn":A,"container":C} -> {"op":"log","path":...}
 *     {"op":"purge","taskArn":A}       -> {"op":"purge","ok":true}
 *   and every report as {"report":{...}}. End of input (or {"op":"quit"})
 *   frees the agent, leaving the containers running. */
#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "image/image.h"
#include "store/db.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void emit(json_t *o)
{
    _cleanup_free_ char *s = json_dump_compact(o);
    pthread_mutex_lock(&out_lock);
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    json_decref(o);
}

static void on_report(void *cp, const json_t *report)
{
    (void)cp;
    emit(json_pack("{s:O}", "report", report));
}

static void emit_result(const char *op, int r, struct error *e, json_t *extra)
{
    json_t *o = extra ? extra : json_object();
    json_object_set_new(o, "op", json_string(op ? op : "?"));
    if (r < 0)
        json_object_set_new(o, "error", json_string(e ? e->msg : "failed"));
    else
        json_object_set_new(o, "ok", json_true());
    emit(o);
}

static int serve(struct node *n)
{
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        json_t *req = json_loads(line, 0, NULL);
        const char *op = json_get_str(req, "op");
        struct error *e = NULL;
        int r = 0;
        json_t *extra = NULL;
        if (!op) {
            r = error_set(&e, EINVAL, NULL, "bad request");
        } else if (strcmp(op, "quit") == 0) {
            json_decref(req);
            break;
        } else if (strcmp(op, "assign") == 0) {
            r = n->ops->assign(n, json_get_object(req, "msg"), &e);
        } else if (strcmp(op, "stop") == 0) {
            r = n->ops->stop(n, json_get_object(req, "msg"), &e);
        } else if (strcmp(op, "list") == 0) {
            json_t *l = NULL;
            r = n->ops->list(n, &l, &e);
            extra = json_pack("{s:o}", "tasks", l ? l : json_array());
        } else if (strcmp(op, "capacity") == 0) {
            json_t *c = NULL;
            r = n->ops->capacity(n, &c, &e);
            extra = json_pack("{s:o}", "capacity", c ? c : json_object());
        } else if (strcmp(op, "log") == 0) {
            char *path = NULL;
            r = agent_task_log_path(n, json_get_str(req, "taskArn") ?: "",
                                    json_get_str(req, "container") ?: "", &path, &e);
            extra = json_object();
            json_set_str(extra, "path", path);
            free(path);
        } else if (strcmp(op, "purge") == 0) {
            r = agent_task_purge(n, json_get_str(req, "taskArn") ?: "", &e);
        } else {
            r = error_set(&e, EINVAL, NULL, "unknown op %s", op);
        }
        emit_result(op, r, e, extra);
        error_free(e);
        json_decref(req);
    }
    free(line);
    return 0;
}

static void usage(void)
{
    fputs("usage: agent-tool -d DATA_DIR -R RUN_DIR [-r RUNTIME] [-P CGROUP_PARENT]\n"
          "                  [-s STOP_TIMEOUT_MS] [-T RETENTION_MS] import PATH REF | serve\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    struct agent_config cfg = {0};
    int o;
    while ((o = getopt(argc, argv, "+d:R:r:P:s:T:")) != -1) {
        switch (o) {
        case 'd':
            cfg.data_dir = optarg;
            break;
        case 'R':
            cfg.run_dir = optarg;
            break;
        case 'r':
            cfg.runtime = optarg;
            break;
        case 'P':
            cfg.cgroup_parent = optarg;
            break;
        case 's':
            cfg.stop_timeout_ms = strtoll(optarg, NULL, 10);
            break;
        case 'T':
            cfg.stopped_retention_ms = strtoll(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (!cfg.data_dir || !cfg.run_dir || optind >= argc)
        usage();
    signal(SIGPIPE, SIG_IGN);
    mkdir(cfg.data_dir, 0700);
    _cleanup_free_ char *dbpath = xasprintf("%s/state.db", cfg.data_dir);
    struct store *store = NULL;
    _cleanup_error_ struct error *err = NULL;
    if (store_open(dbpath, &store, &err) < 0) {
        fprintf(stderr, "agent-tool: %s\n", err->msg);
        return 1;
    }
    img_init(cfg.data_dir);
    int rc = 0;
    const char *cmd = argv[optind];
    if (strcmp(cmd, "import") == 0 && optind + 2 < argc) {
        struct db *db;
        struct img_info **list = NULL;
        size_t n = 0;
        if (store_thread_db(store, &db, &err) < 0 ||
            img_import(db, argv[optind + 1], argv[optind + 2], &list, &n, &err) < 0) {
            fprintf(stderr, "agent-tool: %s\n", err->msg);
            rc = 1;
        } else {
            for (size_t i = 0; i < n; i++)
                emit(json_pack("{s:s, s:s}", "reference", list[i]->reference, "digest",
                               list[i]->digest));
            img_info_list_free(list, n);
        }
    } else if (strcmp(cmd, "serve") == 0) {
        struct node *n = NULL;
        if (agent_new(&cfg, store, on_report, NULL, &n, &err) < 0) {
            fprintf(stderr, "agent-tool: %s\n", err->msg);
            rc = 1;
        } else {
            emit(json_pack("{s:s}", "ready", n->name));
            serve(n);
            n->ops->free(n);
        }
    } else {
        usage();
    }
    store_free(store);
    return rc;
}
