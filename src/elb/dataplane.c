/* The elbv2 control plane drives the host's skiff-lb (dataplane.h).
 *
 * Every interval the thread renders the configuration from the store (a few
 * indexed SELECTs); when the text differs from what skiff-lb runs, it is
 * written (temporary file, rename) and skiff-lb gets SIGHUP, or is started
 * when none runs. Then the status file, when it changed, is copied into
 * elb_targets (one transaction, only the rows whose state moved). */
#include "elb/dataplane.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "elb/elb-internal.h"
#include "net/net.h"
#include "net/sg.h"
#include "store/db.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_INTERVAL_MS 200
#define RESPAWN_MS          10000

struct elb_dataplane {
    struct store *store;
    char *data_dir, *run_dir; /* DATA-DIR/lb and RUN-DIR/lb, made with the first listener */
    char *config_path, *status_path, *pid_path, *log_path, *binary, *address;
    char *scope_path; /* DATA-DIR/net-scope with task networking, else NULL */
    char scope[NET_SCOPE_LEN + 1];
    int interval_ms;
    pid_t pid;       /* skiff-lb, 0 when none runs */
    char *running;   /* the configuration text it was last given */
    char *died_with; /* the text skiff-lb last exited with, and when */
    int64_t died_ms;
    struct timespec status_mtime;
    bool closing;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started;
};

/* ---- rendering ---- */

static json_t *parse_col(sqlite3_stmt *st, int col)
{
    json_t *v = json_loads(db_col_text(st, col), 0, NULL);
    return v ? v : json_object();
}

/* An attribute of a stored {key: "value"} object, as an integer. */
static json_int_t attr_int(const json_t *attrs, const char *key, json_int_t dflt)
{
    const char *v = json_get_str(attrs, key);
    return v ? strtoll(v, NULL, 10) : dflt;
}

/* AWS's conditions (normalised by actions.c) → skiff-lb's. */
static json_t *render_conditions(const json_t *conditions)
{
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(conditions, i, c)
    {
        const char *field = json_get_str(c, "Field");
        if (!field)
            continue;
        json_t *o = json_pack("{s:s}", "field", field);
        const json_t *values = json_get_array(c, "Values");
        if (!strcmp(field, "http-header")) {
            const json_t *h = json_get_object(c, "HttpHeaderConfig");
            json_set_str(o, "name", json_get_str(h, "HttpHeaderName"));
            values = json_get_array(h, "Values");
        } else if (!strcmp(field, "http-request-method")) {
            values = json_get_array(json_get_object(c, "HttpRequestMethodConfig"), "Values");
        }
        json_object_set_new(o, "values", values ? json_deep_copy(values) : json_array());
        json_array_append_new(out, o);
    }
    return out;
}

/* The action of a rule: the one with the lowest Order (the terminal one). */
static json_t *render_action(const json_t *actions)
{
    const json_t *best = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a)
    {
        if (!best || json_get_int(a, "Order", 1) < json_get_int(best, "Order", 1))
            best = a;
    }
    const char *type = json_get_str(best, "Type");
    if (type && !strcmp(type, "forward")) {
        json_t *groups = json_array();
        const json_t *tgs = json_get_array(json_get_object(best, "ForwardConfig"), "TargetGroups");
        json_t *g;
        json_array_foreach(tgs, i, g)
        {
            json_array_append_new(groups,
                                  json_pack("{s:s, s:I}", "name", json_get_str(g, "TargetGroupArn"),
                                            "weight", json_get_int(g, "Weight", 1)));
        }
        if (json_array_size(groups) == 0 && json_get_str(best, "TargetGroupArn"))
            json_array_append_new(
                groups,
                json_pack("{s:s, s:i}", "name", json_get_str(best, "TargetGroupArn"), "weight", 1));
        return json_pack("{s:s, s:o}", "type", "forward", "target_groups", groups);
    }
    if (type && !strcmp(type, "redirect")) {
        const json_t *c = json_get_object(best, "RedirectConfig");
        json_t *o = json_pack("{s:s}", "type", "redirect");
        static const char *const parts[][2] = {
            {"Protocol", "protocol"}, {"Port", "port"},   {"Host", "host"},
            {"Path", "path"},         {"Query", "query"}, {"StatusCode", "status_code"}};
        for (size_t k = 0; k < ARRAY_SIZE(parts); k++)
            if (json_get_str(c, parts[k][0]))
                json_set_str(o, parts[k][1], json_get_str(c, parts[k][0]));
        return o;
    }
    /* fixed-response, and anything unknown answers a plain 503 */
    const json_t *c = json_get_object(best, "FixedResponseConfig");
    const char *code = json_get_str(c, "StatusCode");
    json_t *o =
        json_pack("{s:s, s:i}", "type", "fixed-response", "status_code", code ? atoi(code) : 503);
    if (json_get_str(c, "ContentType"))
        json_set_str(o, "content_type", json_get_str(c, "ContentType"));
    if (json_get_str(c, "MessageBody"))
        json_set_str(o, "body", json_get_str(c, "MessageBody"));
    return o;
}

static json_t *render_health_check(const json_t *h, const char *protocol)
{
    const char *hp = json_get_str(h, "HealthCheckProtocol");
    const char *port = json_get_str(h, "HealthCheckPort");
    json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:i}", "protocol", hp ? hp : protocol,
                          "enabled", json_get_bool(h, "HealthCheckEnabled", true), "interval",
                          json_get_int(h, "HealthCheckIntervalSeconds", 30), "timeout",
                          json_get_int(h, "HealthCheckTimeoutSeconds", 5), "healthy_threshold",
                          json_get_int(h, "HealthyThresholdCount", 5), "unhealthy_threshold",
                          json_get_int(h, "UnhealthyThresholdCount", 2), "port",
                          port && strcmp(port, "traffic-port") != 0 ? atoi(port) : 0);
    if (json_get_str(h, "HealthCheckPath"))
        json_set_str(o, "path", json_get_str(h, "HealthCheckPath"));
    const char *codes = json_get_str(json_get_object(h, "Matcher"), "HttpCode");
    if (codes)
        json_set_str(o, "matcher", codes);
    return o;
}

/* The daemon's network scope (written by the agent at its first start with
 * task networking), read once it exists. */
static const char *net_scope(struct elb_dataplane *dp)
{
    if (dp->scope[0] || !dp->scope_path)
        return dp->scope[0] ? dp->scope : NULL;
    FILE *f = fopen(dp->scope_path, "re");
    char line[NET_SCOPE_LEN + 2] = "";
    if (f) {
        if (!fgets(line, sizeof(line), f))
            line[0] = '\0';
        fclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    if (strlen(line) == NET_SCOPE_LEN && strspn(line, "0123456789abcdef") == NET_SCOPE_LEN)
        memcpy(dp->scope, line, sizeof(dp->scope));
    return dp->scope[0] ? dp->scope : NULL;
}

/* A target that is the ENI of a task of the target group's account, in its
 * VPC, is reached through that task's subnet bridge, with the mark its
 * security group's load balancer rule admits: two accounts' VPCs may
 * overlap on the host (every default VPC is 172.31.0.0/16), and the device
 * picks the right one; an address of another account's task is never
 * marked for this account's groups, so its tasks do not admit it. */
static int target_route(struct elb_dataplane *dp, struct db *db, const char *tg_arn, const char *ip,
                        json_t *target, struct error **err)
{
    const char *scope = net_scope(dp);
    uint32_t addr;
    if (!scope || elb_ipv4_parse(ip, &addr) < 0)
        return 0;
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT e.subnet_id FROM ec2_enis e JOIN elb_target_groups g "
                               "ON g.arn = ?1 AND e.account = g.account AND e.vpc_id = g.vpc_id "
                               "WHERE e.addr = ?2 AND e.task_arn IS NOT NULL LIMIT 1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, tg_arn);
    sqlite3_bind_int64(st, 2, addr);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *sub = db_col_text(st, 0);
        if (strncmp(sub, "subnet-", 7) == 0 && strlen(sub) >= 15) {
            char dev[NET_IFNAME_MAX];
            snprintf(dev, sizeof(dev), "skb%s%.8s", scope, sub + 7);
            json_set_str(target, "device", dev);
            json_object_set_new(target, "mark", json_integer(NET_LB_MARK));
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(db, err, "read target ENI");
    return 0;
}

/* The target groups some rule forwards to, with their live targets. */
static int render_groups(struct elb_dataplane *dp, struct db *db, json_t *groups,
                         struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT arn, protocol, health_check, attributes "
                               "FROM elb_target_groups WHERE arn IN "
                               "(SELECT tg_arn FROM elb_rule_tgs) ORDER BY arn",
                               err);
    if (!st)
        return -EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *protocol = db_col_text(st, 1);
        _cleanup_json_ json_t *h = parse_col(st, 2);
        _cleanup_json_ json_t *attrs = parse_col(st, 3);
        const char *algo = json_get_str(attrs, "load_balancing.algorithm.type");
        json_array_append_new(
            groups,
            json_pack("{s:s, s:s, s:s, s:I, s:o, s:[]}", "name", db_col_text(st, 0), "protocol",
                      protocol, "algorithm", algo ? algo : "round_robin", "deregistration_delay",
                      attr_int(attrs, "deregistration_delay.timeout_seconds", 300), "health_check",
                      render_health_check(h, protocol), "targets"));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, err, "render target groups");
    /* Deregistered targets are left out: skiff-lb drains them. */
    st = db_stmt(db,
                 "SELECT id, port FROM elb_targets WHERE tg_arn = ?1 AND drain_until IS NULL "
                 "ORDER BY id, port",
                 err);
    if (!st)
        return -EIO;
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        db_bind_text(st, 1, json_get_str(g, "name"));
        json_t *targets = json_get_array(g, "targets");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new((json_t *)targets,
                                  json_pack("{s:s, s:i}", "ip", db_col_text(st, 0), "port",
                                            sqlite3_column_int(st, 1)));
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return db_fail(db, err, "render targets");
    }
    if (!dp->scope_path)
        return 0;
    json_array_foreach(groups, i, g)
    {
        size_t k;
        json_t *t;
        json_array_foreach(json_get_array(g, "targets"), k, t)
        {
            int r = target_route(dp, db, json_get_str(g, "name"), json_get_str(t, "ip"), t, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* The whole configuration, as text (stable for equal stores). */
static char *render(struct elb_dataplane *dp, struct db *db, size_t *ret_listeners,
                    struct error **err)
{
    _cleanup_json_ json_t *listeners = json_array();
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT l.arn, l.protocol, l.port, b.attributes, b.name "
                               "FROM elb_listeners l JOIN elb_load_balancers b ON b.arn = l.lb_arn "
                               "ORDER BY l.created_at, l.arn",
                               err);
    if (!st)
        return NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int port = sqlite3_column_int(st, 2);
        bool taken = false;
        size_t i;
        json_t *l;
        json_array_foreach(listeners, i, l) taken |= json_get_int(l, "port", 0) == port;
        if (taken) {
            /* One address for every load balancer: the first keeps it. */
            log_debug("elb: listener %s: port %d already served", db_col_text(st, 0), port);
            continue;
        }
        _cleanup_json_ json_t *attrs = parse_col(st, 3);
        const char *protocol = db_col_text(st, 1);
        bool tcp = !strcmp(protocol, "TCP");
        json_array_append_new(
            listeners,
            json_pack("{s:s, s:s, s:s, s:i, s:I, s:[]}", "arn", db_col_text(st, 0), "protocol",
                      tcp ? "TCP" : "HTTP", "address", dp->address, "port", port, "idle_timeout",
                      attr_int(attrs, "idle_timeout.timeout_seconds", tcp ? 350 : 60), "rules"));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db_fail(db, err, "render listeners");
        return NULL;
    }
    st = db_stmt(db,
                 "SELECT priority, is_default, conditions, actions FROM elb_rules "
                 "WHERE listener_arn = ?1 ORDER BY is_default, priority",
                 err);
    if (!st)
        return NULL;
    size_t i;
    json_t *l;
    json_array_foreach(listeners, i, l)
    {
        db_bind_text(st, 1, json_get_str(l, "arn"));
        json_t *rules = json_get_array(l, "rules");
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            _cleanup_json_ json_t *conditions = parse_col(st, 2);
            _cleanup_json_ json_t *actions = parse_col(st, 3);
            json_t *action = render_action(actions);
            if (sqlite3_column_int(st, 1))
                json_object_set_new(l, "default_action", action);
            else
                json_array_append_new((json_t *)rules,
                                      json_pack("{s:i, s:o, s:o}", "priority",
                                                sqlite3_column_int(st, 0), "conditions",
                                                render_conditions(conditions), "action", action));
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            db_fail(db, err, "render rules");
            return NULL;
        }
        if (json_array_size(rules) == 0)
            json_object_del(l, "rules");
        json_object_del(l, "arn");
    }
    _cleanup_json_ json_t *groups = json_array();
    if (render_groups(dp, db, groups, err) < 0)
        return NULL;
    *ret_listeners = json_array_size(listeners);
    _cleanup_json_ json_t *cfg = json_pack("{s:s, s:O, s:O}", "status_file", dp->status_path,
                                           "listeners", listeners, "target_groups", groups);
    return json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
}

/* ---- the skiff-lb process ---- */

/* True when pid runs skiff-lb with our configuration file. */
static bool is_ours(struct elb_dataplane *dp, pid_t pid)
{
    return proc_comm_is(pid, "skiff-lb") && proc_has_arg(pid, dp->config_path);
}

/* Starts skiff-lb as a daemon (a grandchild: it outlives skiffd). */
static int spawn(struct elb_dataplane *dp, struct error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return error_errno(err, errno, "pipe");
    pid_t child = fork();
    if (child < 0) {
        close(p[0]);
        close(p[1]);
        return error_errno(err, errno, "fork");
    }
    if (child == 0) {
        setsid();
        pid_t grandchild = fork();
        if (grandchild != 0) {
            (void)!write(p[1], &grandchild, sizeof(grandchild));
            _exit(0);
        }
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDONLY);
        int log = open(dp->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(127);
        execl(dp->binary, "skiff-lb", "--config", dp->config_path, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    pid_t pid = -1;
    ssize_t n = read(p[0], &pid, sizeof(pid));
    close(p[0]);
    waitpid(child, NULL, 0);
    if (n != (ssize_t)sizeof(pid) || pid <= 0)
        return error_set(err, EIO, NULL, "start %s: no process", dp->binary);
    dp->pid = pid;
    _cleanup_free_ char *text = xasprintf("%d\n", (int)pid);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", dp->pid_path);
    FILE *f = fopen(tmp, "we");
    if (f) {
        fputs(text, f);
        fclose(f);
        rename(tmp, dp->pid_path);
    }
    log_info("elb: started skiff-lb (pid %d, log %s)", (int)pid, dp->log_path);
    return 0;
}

/* Finds the skiff-lb a previous skiffd left running. */
static void adopt(struct elb_dataplane *dp)
{
    FILE *f = fopen(dp->pid_path, "re");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid > 1 && is_ours(dp, pid)) {
        dp->pid = pid;
        log_info("elb: skiff-lb (pid %d) kept running; adopted", pid);
    }
}

static int write_config(struct elb_dataplane *dp, const char *text, struct error **err)
{
    const char *dirs[] = {dp->data_dir, dp->run_dir};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST)
            return error_errno(err, errno, "mkdir %s", dirs[i]);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", dp->config_path);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(err, errno, "create %s", tmp);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        return error_errno(err, errno, "write %s", tmp);
    if (rename(tmp, dp->config_path) < 0)
        return error_errno(err, errno, "rename %s", tmp);
    return 0;
}

/* Gives skiff-lb the configuration text; starts it if none runs. */
static void apply(struct elb_dataplane *dp, char *text, size_t n_listeners)
{
    if (dp->pid && !is_ours(dp, dp->pid)) {
        log_warn("elb: skiff-lb (pid %d) is gone; see %s", (int)dp->pid, dp->log_path);
        dp->pid = 0;
        free(dp->died_with);
        dp->died_with = TAKE_PTR(dp->running);
        dp->died_ms = time_now_ms();
    }
    /* A configuration skiff-lb refuses (a port another program holds) is
     * not retried in a loop: again when it changes, or after a while. */
    if (!dp->pid && dp->died_with && !strcmp(dp->died_with, text) &&
        time_now_ms() - dp->died_ms < RESPAWN_MS) {
        free(text);
        return;
    }
    if (dp->running && !strcmp(dp->running, text)) {
        free(text);
        return;
    }
    if (!dp->pid && n_listeners == 0) {
        free(text); /* nothing to serve: no process */
        return;
    }
    _cleanup_error_ struct error *e = NULL;
    bool fresh = !dp->pid;
    if (write_config(dp, text, &e) < 0 || (fresh && spawn(dp, &e) < 0)) {
        log_warn("elb: data plane: %s", e->msg);
        free(text);
        return;
    }
    if (!fresh)
        kill(dp->pid, SIGHUP);
    free(dp->running);
    dp->running = text;
}

/* ---- target health back into the store ---- */

static void read_status(struct elb_dataplane *dp, struct db *db)
{
    struct stat st;
    if (stat(dp->status_path, &st) < 0 || (st.st_mtim.tv_sec == dp->status_mtime.tv_sec &&
                                           st.st_mtim.tv_nsec == dp->status_mtime.tv_nsec))
        return;
    json_error_t jerr;
    _cleanup_json_ json_t *status = json_load_file(dp->status_path, 0, &jerr);
    if (!status)
        return; /* half written is impossible (rename); a bad file waits for the next */
    _cleanup_error_ struct error *e = NULL;
    sqlite3_stmt *up = NULL;
    bool in_tx = false;
    size_t i;
    json_t *t;
    json_array_foreach(json_get_array(status, "targets"), i, t)
    {
        const char *state = json_get_str(t, "state");
        if (!state || !strcmp(state, "draining"))
            continue; /* draining is the store's: drain_until */
        if (!in_tx) {
            if (db_begin(db, &e) < 0)
                break;
            in_tx = true;
            up = db_stmt(db,
                         "UPDATE elb_targets SET state = ?4, reason = ?5 "
                         "WHERE tg_arn = ?1 AND id = ?2 AND port = ?3 AND drain_until IS NULL "
                         "AND (state IS NOT ?4 OR reason IS NOT ?5)",
                         &e);
            if (!up)
                break;
        }
        db_bind_text(up, 1, json_get_str(t, "target_group"));
        db_bind_text(up, 2, json_get_str(t, "ip"));
        sqlite3_bind_int(up, 3, (int)json_get_int(t, "port", 0));
        db_bind_text(up, 4, state);
        db_bind_text(up, 5, json_get_str(t, "reason"));
        if (db_exec_stmt(db, up, &e) < 0)
            break;
    }
    if (in_tx && !e && db_commit(db, &e) == 0) {
        dp->status_mtime = st.st_mtim;
        return;
    }
    if (in_tx)
        db_rollback(db);
    if (e)
        log_warn("elb: target health: %s", e->msg);
    else
        dp->status_mtime = st.st_mtim;
}

static void *dataplane_main(void *p)
{
    struct elb_dataplane *dp = p;
    struct db *db = NULL;
    _cleanup_error_ struct error *dberr = NULL;
    if (store_thread_db(dp->store, &db, &dberr) < 0) {
        log_err("elb: data plane: %s", dberr->msg);
        return NULL;
    }
    adopt(dp);
    pthread_mutex_lock(&dp->lock);
    while (!dp->closing) {
        pthread_mutex_unlock(&dp->lock);
        _cleanup_error_ struct error *e = NULL;
        size_t n = 0;
        char *text = render(dp, db, &n, &e);
        if (text)
            apply(dp, text, n);
        else
            log_warn("elb: render the data plane configuration: %s", e ? e->msg : "?");
        if (dp->pid)
            read_status(dp, db);
        pthread_mutex_lock(&dp->lock);
        struct timespec until = time_deadline(CLOCK_REALTIME, dp->interval_ms);
        while (!dp->closing && pthread_cond_timedwait(&dp->cond, &dp->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

static char *default_binary(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return xstrdup("skiff-lb");
    self[n] = '\0';
    return xasprintf("%s/skiff-lb", dirname(self));
}

int elb_dataplane_start(const struct elb_dataplane_config *cfg, struct store *store,
                        struct elb_dataplane **ret, struct error **err)
{
    _cleanup_free_ char *data = xasprintf("%s/lb", cfg->data_dir);
    _cleanup_free_ char *run = xasprintf("%s/lb", cfg->run_dir);
    struct elb_dataplane *dp = xzalloc(sizeof(*dp));
    dp->data_dir = TAKE_PTR(data);
    dp->run_dir = TAKE_PTR(run);
    dp->store = store;
    dp->config_path = xasprintf("%s/config.json", dp->data_dir);
    dp->status_path = xasprintf("%s/status.json", dp->run_dir);
    dp->pid_path = xasprintf("%s/skiff-lb.pid", dp->run_dir);
    dp->log_path = xasprintf("%s/skiff-lb.log", dp->run_dir);
    dp->binary = cfg->binary ? xstrdup(cfg->binary) : default_binary();
    dp->address = xstrdup(cfg->address ? cfg->address : "127.0.0.1");
    if (cfg->task_network)
        dp->scope_path = xasprintf("%s/net-scope", cfg->data_dir);
    dp->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : DEFAULT_INTERVAL_MS;
    pthread_mutex_init(&dp->lock, NULL);
    pthread_cond_init(&dp->cond, NULL);
    int r = pthread_create(&dp->thread, NULL, dataplane_main, dp);
    if (r != 0) {
        elb_dataplane_stop(dp);
        return error_errno(err, r, "start the load balancer thread");
    }
    dp->started = true;
    *ret = dp;
    return 0;
}

void elb_dataplane_stop(struct elb_dataplane *dp)
{
    if (!dp)
        return;
    pthread_mutex_lock(&dp->lock);
    dp->closing = true;
    pthread_cond_broadcast(&dp->cond);
    pthread_mutex_unlock(&dp->lock);
    if (dp->started)
        pthread_join(dp->thread, NULL);
    pthread_mutex_destroy(&dp->lock);
    pthread_cond_destroy(&dp->cond);
    free(dp->data_dir);
    free(dp->run_dir);
    free(dp->config_path);
    free(dp->status_path);
    free(dp->pid_path);
    free(dp->log_path);
    free(dp->binary);
    free(dp->address);
    free(dp->scope_path);
    free(dp->running);
    free(dp->died_with);
    free(dp);
}
