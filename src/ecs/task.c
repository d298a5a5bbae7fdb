/* Tasks: RunTask, StopTask, DescribeTasks, ListTasks.
 *
 * The API side only records intent: RunTask inserts tasks in PROVISIONING
 * with no node, StopTask sets the desired status, and the scheduler
 * (src/sched) places tasks on the agent and applies the agent's reports to
 * these rows. RunTask is idempotent per clientToken for 24 hours: the same
 * token with the same parameters answers the same tasks; with other
 * parameters, ConflictException. */
#include "ecs/task.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "ecs/ecs-internal.h"
#include "sched/sched.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define TASK_COLUMNS                                                                               \
    "arn, cluster_arn, taskdef_arn, last_status, desired_status, launch_type, "                    \
    "capacity_provider, cpu, memory, ephemeral_gib, started_by, grp, created_at, "                 \
    "pull_started_at, pull_stopped_at, started_at, stopping_at, execution_stopped_at, "            \
    "stopped_at, stop_code, stopped_reason, health_status, version, overrides, containers, "       \
    "attachments"

#define TASK_MAX_DESCRIBE 100

static void set_time(json_t *o, const char *key, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        json_object_set_new(o, key, json_timestamp(sqlite3_column_int64(st, col)));
}

static void set_text(json_t *o, const char *key, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        json_object_set_new(o, key, json_string(db_col_text(st, col)));
}

/* The Task shape from the current row of st (TASK_COLUMNS). */
static int task_doc(struct api_ctx *ctx, sqlite3_stmt *st, bool with_tags, json_t **ret,
                    struct error **err)
{
    json_t *o = json_object();
    const char *arn = db_col_text(st, 0);
    json_object_set_new(o, "taskArn", json_string(arn));
    json_object_set_new(o, "clusterArn", json_string(db_col_text(st, 1)));
    json_object_set_new(o, "taskDefinitionArn", json_string(db_col_text(st, 2)));
    const char *last = db_col_text(st, 3);
    json_object_set_new(o, "lastStatus", json_string(last));
    json_object_set_new(o, "desiredStatus", json_string(db_col_text(st, 4)));
    set_text(o, "launchType", st, 5);
    set_text(o, "capacityProviderName", st, 6);
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)sqlite3_column_int64(st, 7));
    json_object_set_new(o, "cpu", json_string(buf));
    snprintf(buf, sizeof(buf), "%lld", (long long)sqlite3_column_int64(st, 8));
    json_object_set_new(o, "memory", json_string(buf));
    json_object_set_new(o, "ephemeralStorage",
                        json_pack("{s:I}", "sizeInGiB", (json_int_t)sqlite3_column_int64(st, 9)));
    set_text(o, "startedBy", st, 10);
    set_text(o, "group", st, 11);
    set_time(o, "createdAt", st, 12);
    set_time(o, "pullStartedAt", st, 13);
    set_time(o, "pullStoppedAt", st, 14);
    set_time(o, "startedAt", st, 15);
    set_time(o, "stoppingAt", st, 16);
    set_time(o, "executionStoppedAt", st, 17);
    set_time(o, "stoppedAt", st, 18);
    set_text(o, "stopCode", st, 19);
    set_text(o, "stoppedReason", st, 20);
    set_text(o, "healthStatus", st, 21);
    json_object_set_new(o, "version", json_integer(sqlite3_column_int64(st, 22)));
    json_object_set_new(o, "overrides", json_parse_trusted(db_col_text(st, 23)));
    json_t *containers = json_parse_trusted(db_col_text(st, 24));
    json_object_set_new(o, "containers", json_is_array(containers) ? containers : json_array());
    if (!json_is_array(containers))
        json_decref(containers);
    json_t *att = json_parse_trusted(db_col_text(st, 25));
    json_object_set_new(o, "attachments", json_is_array(att) ? att : json_array());
    if (!json_is_array(att))
        json_decref(att);
    json_object_set_new(o, "attributes", json_array());
    _cleanup_free_ char *az = xasprintf("%sa", ctx->region);
    json_object_set_new(o, "availabilityZone", json_string(az));
    json_object_set_new(o, "enableExecuteCommand", json_false());
    json_object_set_new(o, "platformVersion", json_string("1.4.0"));
    json_object_set_new(o, "platformFamily", json_string("Linux"));
    if (sched_status_rank(last) >= sched_status_rank("PENDING")) {
        json_object_set_new(o, "connectivity", json_string("CONNECTED"));
        if (sqlite3_column_type(st, 13) != SQLITE_NULL)
            set_time(o, "connectivityAt", st, 13);
        else
            set_time(o, "connectivityAt", st, 12);
    }
    if (with_tags) {
        json_t *tags = NULL;
        int r = ecs_tags_get(ctx, arn, &tags, err);
        if (r < 0) {
            json_decref(o);
            return r;
        }
        json_object_set_new(o, "tags", tags);
    }
    *ret = o;
    return 0;
}

/* Loads one task of the caller by ARN (any cluster); *ret NULL if absent. */
static int task_load(struct api_ctx *ctx, const char *arn, bool with_tags, json_t **ret,
                     struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT " TASK_COLUMNS " FROM tasks WHERE arn = ?1 AND account = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    *ret = NULL;
    int rc = sqlite3_step(st), r = 0;
    if (rc == SQLITE_ROW)
        r = task_doc(ctx, st, with_tags, ret, err);
    else if (rc != SQLITE_DONE)
        r = db_fail(ctx->db, err, "read task");
    sqlite3_reset(st);
    return r;
}

int ecs_task_counts(struct api_ctx *ctx, const char *cluster_arn, struct ecs_task_counts *ret,
                    struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT COALESCE(SUM(last_status = 'RUNNING'), 0), "
                               "COALESCE(SUM(last_status IN ('PROVISIONING', 'PENDING', "
                               "'ACTIVATING')), 0), COUNT(*) FROM tasks "
                               "WHERE account = ?1 AND cluster_arn = ?2 AND "
                               "last_status != 'STOPPED'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, cluster_arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->running = sqlite3_column_int(st, 0);
        ret->pending = sqlite3_column_int(st, 1);
        ret->active = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "count tasks");
}

/* The cluster name of a cluster ARN ("arn:...:cluster/NAME"). */
static const char *cluster_name(const char *cluster_arn)
{
    const char *slash = strchr(cluster_arn, '/');
    return slash ? slash + 1 : cluster_arn;
}

/* Resolves a task reference (ID or ARN) within a cluster to its ARN. */
static char *task_arn_of(struct api_ctx *ctx, const char *cluster_arn, const char *ref)
{
    if (arn_is(ref))
        return xstrdup(ref);
    return ecs_arn(ctx, "task/%s/%s", cluster_name(cluster_arn), ref);
}

static void new_id(char out[33])
{
    uint8_t b[16];
    hash_random(b, sizeof(b));
    hash_hex(b, sizeof(b), out);
}

/* Container documents as the task starts: one per container definition. */
static json_t *initial_containers(struct api_ctx *ctx, const char *task_arn,
                                  const char *cluster_arn, const char *task_id,
                                  const json_t *taskdef, const json_t *overrides)
{
    json_t *list = json_array();
    size_t i, j;
    json_t *cd, *co;
    json_array_foreach(json_object_get(taskdef, "containerDefinitions"), i, cd)
    {
        const char *name = json_get_str(cd, "name");
        char cid[33];
        new_id(cid);
        _cleanup_free_ char *carn =
            ecs_arn(ctx, "container/%s/%s/%s", cluster_name(cluster_arn), task_id, cid);
        json_int_t cpu = json_get_int(cd, "cpu", 0), mem = json_get_int(cd, "memory", 0);
        json_int_t res = json_get_int(cd, "memoryReservation", 0);
        json_array_foreach(json_object_get(overrides, "containerOverrides"), j, co)
        {
            if (!name || strcmp(name, json_get_str(co, "name") ? json_get_str(co, "name") : ""))
                continue;
            cpu = json_get_int(co, "cpu", cpu);
            mem = json_get_int(co, "memory", mem);
            res = json_get_int(co, "memoryReservation", res);
        }
        json_t *c = json_object();
        json_object_set_new(c, "containerArn", json_string(carn));
        json_object_set_new(c, "taskArn", json_string(task_arn));
        json_set_str(c, "name", name);
        json_set_str(c, "image", json_get_str(cd, "image"));
        json_object_set_new(c, "lastStatus", json_string("PENDING"));
        json_object_set_new(c, "networkInterfaces", json_array());
        json_object_set_new(c, "healthStatus", json_string("UNKNOWN"));
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)cpu);
        json_object_set_new(c, "cpu", json_string(v));
        if (mem) {
            snprintf(v, sizeof(v), "%lld", (long long)mem);
            json_object_set_new(c, "memory", json_string(v));
        }
        if (res) {
            snprintf(v, sizeof(v), "%lld", (long long)res);
            json_object_set_new(c, "memoryReservation", json_string(v));
        }
        json_array_append_new(list, c);
    }
    return list;
}

/* Hash of the request without its clientToken, to tell a retry from a
 * conflicting reuse of the token. */
static void params_hash(const json_t *in, char out[65])
{
    json_t *copy = json_deep_copy(in);
    json_object_del(copy, "clientToken");
    char *s = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t d[32];
    hash_sha256(s, strlen(s), d);
    hash_hex(d, 32, out);
    free(s);
    json_decref(copy);
}

/* Answers the tasks recorded for arns (a JSON list text). */
static int answer_tasks(struct api_ctx *ctx, const char *arns_s, json_t **ret_out,
                        struct error **err)
{
    json_t *arns = json_parse_trusted(arns_s);
    json_t *tasks = json_array();
    size_t i;
    json_t *a;
    int r = 0;
    json_array_foreach(arns, i, a)
    {
        json_t *doc = NULL;
        if ((r = task_load(ctx, json_string_value(a), false, &doc, err)) < 0)
            break;
        if (doc)
            json_array_append_new(tasks, doc);
    }
    json_decref(arns);
    if (r < 0) {
        json_decref(tasks);
        return r;
    }
    *ret_out = json_pack("{s:o, s:[]}", "tasks", tasks, "failures");
    return 0;
}

/* Checks the clientToken record: 1 when the request is a retry (answered
 * with what the first call started, ending the transaction if one is
 * open), 0 to go on, or an error. */
static int check_token(struct api_ctx *ctx, const char *token, const char *hash, json_t **ret_out,
                       struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT params_hash, task_arns FROM run_task_tokens "
                               "WHERE account = ?1 AND token = ?2 AND created_at > ?3",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, token);
    sqlite3_bind_int64(st, 3, ctx->now_ms - 24 * 3600 * 1000LL);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return 0;
    }
    bool same = !strcmp(db_col_text(st, 0), hash);
    _cleanup_free_ char *arns = xstrdup(db_col_text(st, 1));
    sqlite3_reset(st);
    if (!same)
        return error_set(err, EEXIST, "ConflictException",
                         "The clientToken was already used with different parameters.");
    db_rollback(ctx->db);
    int r = answer_tasks(ctx, arns, ret_out, err);
    return r < 0 ? r : 1;
}

int ecs_task_insert(struct api_ctx *ctx, const json_t *in, const char *cluster_arn,
                    const json_t *taskdef, const struct ecs_run_plan *plan, char **ret_arn,
                    struct error **err)
{
    char task_id[33];
    new_id(task_id);
    _cleanup_free_ char *arn = ecs_arn(ctx, "task/%s/%s", cluster_name(cluster_arn), task_id);
    const char *tdarn = json_get_str(taskdef, "taskDefinitionArn");
    json_t *containers =
        initial_containers(ctx, arn, cluster_arn, task_id, taskdef, plan->overrides);
    _cleanup_free_ char *containers_s = json_dump_compact(containers);
    json_decref(containers);
    _cleanup_free_ char *taskdef_s = json_dump_compact(taskdef);
    _cleanup_free_ char *overrides_s = json_dump_compact(plan->overrides);
    json_t *nc = json_get_object(in, "networkConfiguration");
    _cleanup_free_ char *nc_s = nc ? json_dump_compact(nc) : NULL;
    const char *group = json_get_str(in, "group");
    _cleanup_free_ char *default_group = xasprintf(
        "family:%s", json_get_str(taskdef, "family") ? json_get_str(taskdef, "family") : "");
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO tasks(arn, account, cluster_arn, task_id, taskdef_arn, "
                               "taskdef, family, last_status, desired_status, launch_type, "
                               "capacity_provider, cpu, memory, ephemeral_gib, started_by, grp, "
                               "created_at, overrides, network_config, containers, "
                               "propagate_tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                               "'PROVISIONING', 'RUNNING', ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                               "?16, ?17, ?18, ?19)",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, cluster_arn);
    db_bind_text(st, 4, task_id);
    db_bind_text(st, 5, tdarn);
    db_bind_text(st, 6, taskdef_s);
    db_bind_text(st, 7, json_get_str(taskdef, "family"));
    db_bind_text(st, 8, plan->launch_type);
    db_bind_text(st, 9, plan->capacity_provider);
    sqlite3_bind_int64(st, 10, plan->cpu);
    sqlite3_bind_int64(st, 11, plan->memory);
    sqlite3_bind_int64(st, 12, plan->ephemeral_gib);
    db_bind_text(st, 13, json_get_str(in, "startedBy"));
    db_bind_text(st, 14, group ? group : default_group);
    sqlite3_bind_int64(st, 15, ctx->now_ms);
    db_bind_text(st, 16, overrides_s);
    db_bind_text(st, 17, nc_s);
    db_bind_text(st, 18, containers_s);
    db_bind_text(st, 19, json_get_str(in, "propagateTags"));
    int r = db_exec_stmt(ctx->db, st, err);
    if (r < 0)
        return r;
    if ((r = ecs_task_eni_attach(ctx, arn, plan, err)) < 0)
        return r;

    /* Tags: the request's, the task definition's when propagated, and the
     * ECS-managed ones when asked for. */
    json_t *tags = json_get_array(in, "tags");
    if (tags && (r = ecs_tags_put(ctx, arn, tags, err)) < 0)
        return r;
    const char *prop = json_get_str(in, "propagateTags");
    if (prop && !strcmp(prop, "TASK_DEFINITION")) {
        json_t *tdtags = NULL;
        if ((r = ecs_tags_get(ctx, tdarn, &tdtags, err)) < 0)
            return r;
        r = ecs_tags_put(ctx, arn, tdtags, err);
        json_decref(tdtags);
        if (r < 0)
            return r;
    }
    if (json_get_bool(in, "enableECSManagedTags", false)) {
        json_t *managed = json_pack("[{s:s, s:s}]", "key", "aws:ecs:clusterName", "value",
                                    cluster_name(cluster_arn));
        r = ecs_tags_put(ctx, arn, managed, err);
        json_decref(managed);
        if (r < 0)
            return r;
    }
    *ret_arn = TAKE_PTR(arn);
    return 0;
}

int ecs_run_task(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    const char *token = json_get_str(in, "clientToken");
    if (token && (strlen(token) < 1 || strlen(token) > 64))
        return error_set(err, EINVAL, ERR_INVALID, "clientToken must be 1-64 characters.");
    char hash[65];
    params_hash(in, hash);
    /* A retry answers what the first call started even when the request
     * would no longer be valid (its task definition deregistered since). */
    if (token && (r = check_token(ctx, token, hash, ret_out, err)) != 0)
        return r > 0 ? 0 : r;
    json_t *taskdef = NULL;
    if ((r = ecs_taskdef_lookup(ctx, json_get_str(in, "taskDefinition"), &taskdef, err)) < 0)
        return r;
    struct ecs_run_plan plan;
    r = ecs_run_task_validate(in, taskdef, &plan, err);
    if (r == 0)
        r = ecs_run_task_network(ctx, in, &plan, err);
    if (r < 0) {
        json_decref(taskdef);
        ecs_run_plan_done(&plan);
        return r;
    }
    json_t *arns = json_array();
    _cleanup_free_ char *arns_s = NULL;
    /* The commit does not wait for the disk: the scheduler is woken first,
     * and the answer waits for the fsync (db_sync). A start thus does not
     * wait on the write-ahead log's fsync, and no caller is answered
     * before its tasks are durable. */
    if ((r = db_begin_unsynced(ctx->db, err)) < 0)
        goto out;
    /* Again inside the transaction: a concurrent first call may have
     * committed since. */
    if (token) {
        r = check_token(ctx, token, hash, ret_out, err);
        if (r != 0) {
            r = r > 0 ? 0 : r;
            goto out;
        }
    }
    for (long i = 0; i < plan.count; i++) {
        _cleanup_free_ char *arn = NULL;
        if ((r = ecs_task_insert(ctx, in, cluster_arn, taskdef, &plan, &arn, err)) < 0)
            goto out;
        json_array_append_new(arns, json_string(arn));
    }
    arns_s = json_dump_compact(arns);
    if (token) {
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "INSERT OR REPLACE INTO run_task_tokens(account, token, "
                                   "params_hash, task_arns, created_at) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                                   err);
        if (!st) {
            r = -EIO;
            goto out;
        }
        db_bind_text(st, 1, ctx->account->account_id);
        db_bind_text(st, 2, token);
        db_bind_text(st, 3, hash);
        db_bind_text(st, 4, arns_s);
        sqlite3_bind_int64(st, 5, ctx->now_ms);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            goto out;
    }
    /* The answer is the tasks as inserted (PROVISIONING, as ECS answers):
     * read before the commit, since the scheduler and the agent may move
     * them on before this thread reads them again. */
    if ((r = answer_tasks(ctx, arns_s, ret_out, err)) < 0)
        goto out;
    if ((r = db_commit(ctx->db, err)) < 0) {
        json_decref(*ret_out);
        *ret_out = NULL;
        goto out;
    }
    if (ctx->app)
        sched_kick(ctx->app);
    if ((r = db_sync(ctx->db, err)) < 0) {
        json_decref(*ret_out);
        *ret_out = NULL;
    }
out:
    if (r < 0)
        db_sync(ctx->db, NULL); /* back to FULL for the connection's next user */
    json_decref(arns);
    json_decref(taskdef);
    ecs_run_plan_done(&plan);
    return r;
}

int ecs_stop_task(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    const char *reason = json_get_str(in, "reason");
    if (reason && strlen(reason) > 255)
        return error_set(err, EINVAL, ERR_INVALID, "reason can have at most 255 characters.");
    _cleanup_free_ char *arn = task_arn_of(ctx, cluster_arn, json_get_str(in, "task"));
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE tasks SET desired_status = 'STOPPED', "
                               "stop_code = COALESCE(stop_code, 'UserInitiated'), "
                               "stopped_reason = COALESCE(stopped_reason, ?4), "
                               "version = version + 1 "
                               "WHERE arn = ?1 AND account = ?2 AND cluster_arn = ?3 AND "
                               "desired_status != 'STOPPED'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, cluster_arn);
    db_bind_text(st, 4, reason && *reason ? reason : "Task stopped by user");
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        return r;
    if (ctx->app)
        sched_kick(ctx->app);
    json_t *doc = NULL;
    if ((r = task_load(ctx, arn, false, &doc, err)) < 0)
        return r;
    if (!doc || strcmp(json_get_str(doc, "clusterArn"), cluster_arn) != 0) {
        json_decref(doc);
        return error_set(err, ENOENT, ERR_INVALID, "The referenced task was not found.");
    }
    *ret_out = json_pack("{s:o}", "task", doc);
    return 0;
}

int ecs_describe_tasks(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    json_t *refs = json_get_array(in, "tasks");
    if (!json_array_size(refs))
        return error_set(err, EINVAL, ERR_INVALID, "Tasks cannot be empty.");
    if (json_array_size(refs) > TASK_MAX_DESCRIBE)
        return error_set(err, EINVAL, ERR_INVALID, "tasks can have at most %d items.",
                         TASK_MAX_DESCRIBE);
    bool with_tags = false;
    size_t i;
    json_t *v;
    json_array_foreach(json_get_array(in, "include"), i, v) with_tags |=
        !strcmp(json_string_value(v), "TAGS");
    json_t *tasks = json_array(), *failures = json_array();
    json_array_foreach(refs, i, v)
    {
        _cleanup_free_ char *arn = task_arn_of(ctx, cluster_arn, json_string_value(v));
        json_t *doc = NULL;
        if ((r = task_load(ctx, arn, with_tags, &doc, err)) < 0)
            break;
        if (doc && !strcmp(json_get_str(doc, "clusterArn"), cluster_arn))
            json_array_append_new(tasks, doc);
        else {
            json_decref(doc);
            json_array_append_new(failures,
                                  json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING"));
        }
    }
    if (r < 0) {
        json_decref(tasks);
        json_decref(failures);
        return r;
    }
    *ret_out = json_pack("{s:o, s:o}", "tasks", tasks, "failures", failures);
    return 0;
}

int ecs_list_tasks(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    if (json_get_str(in, "containerInstance"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Fargate tasks run on no container instance; containerInstance cannot "
                         "be used.");
    int limit;
    _cleanup_free_ char *after = NULL;
    if ((r = ecs_page_args(in, ECS_PAGE_DEFAULT, ECS_PAGE_MAX, &limit, &after, err)) < 0)
        return r;
    /* Every task is a Fargate task, and ECS never sets a desired status of
     * PENDING: filtering on another launch type or on PENDING lists
     * nothing. */
    const char *lt = json_get_str(in, "launchType");
    const char *desired = json_get_str(in, "desiredStatus");
    if ((lt && strcmp(lt, "FARGATE") != 0) || (desired && !strcmp(desired, "PENDING"))) {
        *ret_out = json_pack("{s:[]}", "taskArns");
        return 0;
    }
    if (!desired)
        desired = "RUNNING";
    const char *service = json_get_str(in, "serviceName");
    _cleanup_free_ char *group = service ? xasprintf("service:%s", service) : NULL;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT arn FROM tasks WHERE account = ?1 AND cluster_arn = ?2 "
                               "AND desired_status = ?3 AND (?4 IS NULL OR family = ?4) "
                               "AND (?5 IS NULL OR started_by = ?5) "
                               "AND (?6 IS NULL OR grp = ?6) AND arn > ?7 "
                               "ORDER BY arn LIMIT ?8",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, cluster_arn);
    db_bind_text(st, 3, desired);
    db_bind_text(st, 4, json_get_str(in, "family"));
    db_bind_text(st, 5, json_get_str(in, "startedBy"));
    db_bind_text(st, 6, group);
    db_bind_text(st, 7, after ? after : "");
    sqlite3_bind_int(st, 8, limit + 1);
    return ecs_page_collect(ctx, st, limit, 0, "taskArns", ret_out, err);
}
