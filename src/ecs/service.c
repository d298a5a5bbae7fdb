/* Services: CreateService, DescribeServices, ListServices, UpdateService,
 * DeleteService.
 *
 * The API side records intent — the service row, its deployments, events —
 * and kicks the scheduler; the reconciler (src/sched/service.c) launches and
 * stops the tasks. A deleted service turns DRAINING until its tasks have
 * stopped, then INACTIVE (still describable, no longer listed), as on ECS;
 * a service of the same name can then be created again. */
#include "ecs/service.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "ecs/ecs-internal.h"
#include "ecs/task.h"
#include "sched/sched.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define SERVICE_COLUMNS                                                                            \
    "arn, cluster_arn, name, status, created_at, desired_count, taskdef_arn, spec, client_token, " \
    "params_hash"
#define SERVICE_MAX_DESCRIBE 10

static const char *cluster_name(const char *cluster_arn)
{
    const char *slash = strchr(cluster_arn, '/');
    return slash ? slash + 1 : cluster_arn;
}

static void copy_member(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v)
        json_object_set(dst, key, v);
}

/* Running and pending tasks of a service, or of one of its deployments
 * when deployment is non-NULL. */
static int count_tasks(struct api_ctx *ctx, const char *service_arn, const char *deployment,
                       int *ret_running, int *ret_pending, struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT COALESCE(SUM(last_status = 'RUNNING'), 0), "
                               "COALESCE(SUM(last_status IN ('PROVISIONING', 'PENDING', "
                               "'ACTIVATING')), 0) FROM tasks WHERE service_arn = ?1 AND "
                               "last_status != 'STOPPED' AND (?2 IS NULL OR started_by = ?2)",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    db_bind_text(st, 2, deployment);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_running = sqlite3_column_int(st, 0);
        *ret_pending = sqlite3_column_int(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "count service tasks");
}

static int deployments_doc(struct api_ctx *ctx, const char *service_arn, long desired, json_t **ret,
                           struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT id, status, taskdef_arn, spec, failed_tasks, "
                               "rollout_state, rollout_reason, created_at, updated_at "
                               "FROM deployments WHERE service_arn = ?1 AND status != 'INACTIVE' "
                               "ORDER BY status = 'PRIMARY' DESC, created_at DESC",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *d = json_object();
        const char *status = db_col_text(st, 1);
        json_object_set_new(d, "id", json_string(db_col_text(st, 0)));
        json_object_set_new(d, "status", json_string(status));
        json_object_set_new(d, "taskDefinition", json_string(db_col_text(st, 2)));
        json_object_set_new(d, "desiredCount",
                            json_integer(!strcmp(status, "PRIMARY") ? desired : 0));
        json_object_set_new(d, "failedTasks", json_integer(sqlite3_column_int(st, 4)));
        json_object_set_new(d, "createdAt", json_timestamp(sqlite3_column_int64(st, 7)));
        json_object_set_new(d, "updatedAt", json_timestamp(sqlite3_column_int64(st, 8)));
        json_t *spec = json_parse_trusted(db_col_text(st, 3));
        copy_member(d, spec, "launchType");
        copy_member(d, spec, "capacityProviderStrategy");
        copy_member(d, spec, "networkConfiguration");
        json_decref(spec);
        json_object_set_new(d, "platformVersion", json_string("1.4.0"));
        json_object_set_new(d, "platformFamily", json_string("Linux"));
        json_object_set_new(d, "rolloutState", json_string(db_col_text(st, 5)));
        if (sqlite3_column_type(st, 6) != SQLITE_NULL)
            json_object_set_new(d, "rolloutStateReason", json_string(db_col_text(st, 6)));
        json_array_append_new(list, d);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return db_fail(ctx->db, err, "read deployments");
    }
    /* Counts after the statement is done: count_tasks needs the connection. */
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        int running = 0, pending = 0;
        int r = count_tasks(ctx, service_arn, json_get_str(d, "id"), &running, &pending, err);
        if (r < 0) {
            json_decref(list);
            return r;
        }
        json_object_set_new(d, "runningCount", json_integer(running));
        json_object_set_new(d, "pendingCount", json_integer(pending));
    }
    *ret = list;
    return 0;
}

static int events_doc(struct api_ctx *ctx, const char *service_arn, json_t **ret,
                      struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT id, created_at, message FROM service_events "
                               "WHERE service_arn = ?1 ORDER BY seq DESC LIMIT ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    sqlite3_bind_int(st, 2, ECS_SVC_EVENTS_MAX);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(list,
                              json_pack("{s:s, s:o, s:s}", "id", db_col_text(st, 0), "createdAt",
                                        json_timestamp(sqlite3_column_int64(st, 1)), "message",
                                        db_col_text(st, 2)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return db_fail(ctx->db, err, "read service events");
    }
    *ret = list;
    return 0;
}

/* A service row, copied out of its statement. */
struct svc_row {
    char *arn, *cluster_arn, *name, *status, *taskdef_arn, *client_token, *params_hash;
    int64_t created_at;
    long desired;
    json_t *spec;
};

static void svc_row_done(struct svc_row *r)
{
    free(r->arn);
    free(r->cluster_arn);
    free(r->name);
    free(r->status);
    free(r->taskdef_arn);
    free(r->client_token);
    free(r->params_hash);
    json_decref(r->spec);
    memset(r, 0, sizeof(*r));
}

/* Reads a service of the caller by ARN; 0 with *found false when absent. */
static int svc_read(struct api_ctx *ctx, const char *arn, struct svc_row *row, bool *found,
                    struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " SERVICE_COLUMNS " FROM services "
                               "WHERE arn = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        row->arn = xstrdup(db_col_text(st, 0));
        row->cluster_arn = xstrdup(db_col_text(st, 1));
        row->name = xstrdup(db_col_text(st, 2));
        row->status = xstrdup(db_col_text(st, 3));
        row->created_at = sqlite3_column_int64(st, 4);
        row->desired = sqlite3_column_int(st, 5);
        row->taskdef_arn = xstrdup(db_col_text(st, 6));
        row->spec = json_parse_trusted(db_col_text(st, 7));
        row->client_token =
            sqlite3_column_type(st, 8) == SQLITE_NULL ? NULL : xstrdup(db_col_text(st, 8));
        row->params_hash = xstrdup(db_col_text(st, 9));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read service");
    return 0;
}

/* The Service shape. */
static int service_doc(struct api_ctx *ctx, const struct svc_row *row, bool with_tags, json_t **ret,
                       struct error **err)
{
    json_t *o = json_object();
    json_object_set_new(o, "serviceArn", json_string(row->arn));
    json_object_set_new(o, "serviceName", json_string(row->name));
    json_object_set_new(o, "clusterArn", json_string(row->cluster_arn));
    json_object_set_new(o, "status", json_string(row->status));
    json_object_set_new(o, "desiredCount", json_integer(row->desired));
    json_object_set_new(o, "taskDefinition", json_string(row->taskdef_arn));
    json_object_set_new(o, "createdAt", json_timestamp(row->created_at));
    const json_t *spec = row->spec;
    json_object_set_new(o, "loadBalancers", json_array());
    json_object_set_new(o, "serviceRegistries", json_array());
    json_object_set_new(o, "placementConstraints", json_array());
    json_object_set_new(o, "placementStrategy", json_array());
    static const char *const copied[] = {"launchType",
                                         "capacityProviderStrategy",
                                         "networkConfiguration",
                                         "healthCheckGracePeriodSeconds",
                                         "loadBalancers",
                                         "serviceRegistries",
                                         "placementConstraints",
                                         "placementStrategy",
                                         "deploymentConfiguration"};
    for (size_t i = 0; i < ARRAY_SIZE(copied); i++)
        copy_member(o, spec, copied[i]);
    json_object_set_new(o, "platformVersion", json_string("LATEST"));
    json_object_set_new(o, "platformFamily", json_string("Linux"));
    json_object_set_new(o, "schedulingStrategy", json_string("REPLICA"));
    json_object_set_new(o, "deploymentController", json_pack("{s:s}", "type", "ECS"));
    json_object_set_new(o, "propagateTags",
                        json_string(json_get_str(spec, "propagateTags")
                                        ? json_get_str(spec, "propagateTags")
                                        : "NONE"));
    json_object_set_new(o, "enableECSManagedTags",
                        json_boolean(json_get_bool(spec, "enableECSManagedTags", false)));
    json_object_set_new(o, "enableExecuteCommand", json_false());
    int running = 0, pending = 0;
    json_t *deps = NULL, *events = NULL;
    int r = count_tasks(ctx, row->arn, NULL, &running, &pending, err);
    if (r == 0)
        r = deployments_doc(ctx, row->arn, row->desired, &deps, err);
    if (r == 0)
        r = events_doc(ctx, row->arn, &events, err);
    if (r == 0 && with_tags) {
        json_t *tags = NULL;
        if ((r = ecs_tags_get(ctx, row->arn, &tags, err)) == 0)
            json_object_set_new(o, "tags", tags);
    }
    if (r < 0) {
        json_decref(deps);
        json_decref(events);
        json_decref(o);
        return r;
    }
    json_object_set_new(o, "runningCount", json_integer(running));
    json_object_set_new(o, "pendingCount", json_integer(pending));
    json_object_set_new(o, "deployments", deps);
    json_object_set_new(o, "events", events);
    *ret = o;
    return 0;
}

static int answer_service(struct api_ctx *ctx, const char *arn, bool with_tags, json_t **ret_out,
                          struct error **err)
{
    struct svc_row row = {0};
    bool found;
    int r = svc_read(ctx, arn, &row, &found, err);
    if (r == 0 && !found)
        r = error_set(err, ENOENT, "ServiceNotFoundException", "Service not found.");
    json_t *doc = NULL;
    if (r == 0)
        r = service_doc(ctx, &row, with_tags, &doc, err);
    svc_row_done(&row);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:o}", "service", doc);
    return 0;
}

/* Hash of the request without its clientToken: a retry with the same
 * token and parameters answers the service already created. */
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

/* Removes every trace of an INACTIVE service so that its name can be used
 * again (inside the caller's transaction). */
static int forget_service(struct api_ctx *ctx, const char *arn, struct error **err)
{
    static const char *const sqls[] = {
        "DELETE FROM service_events WHERE service_arn = ?1",
        "DELETE FROM deployments WHERE service_arn = ?1",
        "DELETE FROM services WHERE arn = ?1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(sqls); i++) {
        sqlite3_stmt *st = db_stmt(ctx->db, sqls[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        int r = db_exec_stmt(ctx->db, st, err);
        if (r < 0)
            return r;
    }
    return ecs_tags_drop(ctx, arn, err);
}

/* Checks that the task definition can run with the service's launch
 * settings: the same checks as RunTask's (the awsvpc configuration resolved
 * against the caller's VPCs included), on the request the reconciler will
 * launch tasks with. */
static bool lb_task_network;

void ecs_svc_set_task_network(bool on)
{
    lb_task_network = on;
}

/* The service's target groups: in the caller's account, of target type ip
 * (Fargate's), forwarded to by a load balancer, in the VPC the tasks get
 * their ENIs in; and the host must give tasks their ENIs, or the targets
 * would be addresses nothing answers on. */
static int check_target_groups(struct api_ctx *ctx, const json_t *spec, const char *vpc,
                               struct error **err)
{
    const json_t *lbs = json_get_array(spec, "loadBalancers");
    if (json_array_size(lbs) == 0)
        return 0;
    if (!lb_task_network)
        return error_set(err, EINVAL, ERR_INVALID,
                         "loadBalancers need tasks with their own network interfaces (awsvpc), "
                         "and this skiffd runs without --task-network: its tasks cannot be "
                         "load balancer targets.");
    size_t i;
    json_t *lb;
    json_array_foreach(lbs, i, lb)
    {
        const char *arn = json_get_str(lb, "targetGroupArn");
        sqlite3_stmt *st =
            db_stmt(ctx->db,
                    "SELECT target_type, vpc_id, EXISTS (SELECT 1 FROM elb_rule_tgs r "
                    "WHERE r.tg_arn = g.arn) FROM elb_target_groups g "
                    "WHERE g.arn = ?1 AND g.account = ?2",
                    err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, ctx->account->account_id);
        int rc = sqlite3_step(st);
        _cleanup_free_ char *type = NULL, *tg_vpc = NULL;
        bool used = false;
        if (rc == SQLITE_ROW) {
            type = xstrdup(db_col_text(st, 0));
            tg_vpc = xstrdup(db_col_text(st, 1));
            used = sqlite3_column_int(st, 2) != 0;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_fail(ctx->db, err, "read target group");
        if (rc == SQLITE_DONE)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Unable to assume role and validate the specified targetGroupArn. "
                             "Target group %.300s does not exist.",
                             arn);
        if (strcmp(type, "ip") != 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The provided target group %.300s has target type %s, which is "
                             "incompatible with the awsvpc network mode specified in the task "
                             "definition.",
                             arn, type);
        if (!used)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The target group with targetGroupArn %.300s does not have an "
                             "associated load balancer.",
                             arn);
        if (vpc && strcmp(vpc, tg_vpc) != 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The target group %.300s is in VPC %s, not in the VPC of the "
                             "service's subnets (%s).",
                             arn, tg_vpc, vpc);
    }
    return 0;
}

static int check_launchable(struct api_ctx *ctx, const json_t *spec, const json_t *taskdef,
                            struct error **err)
{
    int r = ecs_svc_check_taskdef(spec, taskdef, err);
    if (r < 0)
        return r;
    json_t *dspec = ecs_svc_deployment_spec(spec);
    json_t *in = ecs_svc_run_request(spec, dspec, "ecs-svc/0", "check", NULL);
    json_decref(dspec);
    struct ecs_run_plan plan = {0};
    r = ecs_run_task_validate(in, taskdef, &plan, err);
    if (r == 0)
        r = ecs_run_task_network(ctx, in, &plan, err);
    if (r == 0)
        r = check_target_groups(ctx, spec, json_get_str(plan.network, "vpcId"), err);
    ecs_run_plan_done(&plan);
    json_decref(in);
    return r;
}

static bool include_tags(const json_t *in)
{
    size_t i;
    json_t *v;
    bool tags = false;
    json_array_foreach(json_get_array(in, "include"), i, v) tags |=
        !strcmp(json_string_value(v), "TAGS");
    return tags;
}

int ecs_create_service(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    json_t *spec = NULL, *taskdef = NULL;
    _cleanup_free_ char *cluster_arn = NULL, *arn = NULL, *spec_s = NULL;
    struct svc_row old = {0};
    int r = ecs_svc_spec_from_create(in, &spec, err);
    if (r < 0)
        return r;
    json_t *tags = json_get_array(in, "tags");
    if ((r = ecs_tags_validate(tags, err)) < 0)
        goto out;
    if ((r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err)) < 0)
        goto out;
    if ((r = ecs_taskdef_lookup(ctx, json_get_str(in, "taskDefinition"), &taskdef, err)) < 0)
        goto out;
    if ((r = check_launchable(ctx, spec, taskdef, err)) < 0)
        goto out;
    const char *name = json_get_str(in, "serviceName");
    const char *token = json_get_str(in, "clientToken");
    char hash[65];
    params_hash(in, hash);
    arn = ecs_arn(ctx, "service/%s/%s", cluster_name(cluster_arn), name);
    spec_s = json_dump_compact(spec);

    if ((r = db_begin(ctx->db, err)) < 0)
        goto out;
    bool found;
    if ((r = svc_read(ctx, arn, &old, &found, err)) < 0)
        goto out;
    if (found && !strcmp(old.status, "DRAINING")) {
        r = error_set(err, EINVAL, ERR_INVALID,
                      "Unable to Start a service that is still Draining.");
        goto out;
    }
    if (found && !strcmp(old.status, "ACTIVE")) {
        /* Idempotent only for a retry: same clientToken, same request. */
        if (token && old.client_token && !strcmp(token, old.client_token) &&
            !strcmp(hash, old.params_hash)) {
            db_rollback(ctx->db);
            r = answer_service(ctx, arn, tags != NULL, ret_out, err);
            goto out;
        }
        r = error_set(err, EINVAL, ERR_INVALID, "Creation of service was not idempotent.");
        goto out;
    }
    if (found && (r = forget_service(ctx, arn, err)) < 0)
        goto out;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO services(arn, account, cluster_arn, name, status, "
                               "created_at, desired_count, taskdef_arn, spec, client_token, "
                               "params_hash, updated_at) "
                               "VALUES (?1, ?2, ?3, ?4, 'ACTIVE', ?5, ?6, ?7, ?8, ?9, ?10, ?5)",
                               err);
    if (!st) {
        r = -EIO;
        goto out;
    }
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, cluster_arn);
    db_bind_text(st, 4, name);
    sqlite3_bind_int64(st, 5, ctx->now_ms);
    sqlite3_bind_int64(st, 6, json_get_int(in, "desiredCount", 0));
    db_bind_text(st, 7, json_get_str(taskdef, "taskDefinitionArn"));
    db_bind_text(st, 8, spec_s);
    db_bind_text(st, 9, token);
    db_bind_text(st, 10, hash);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        goto out;
    if (tags && (r = ecs_tags_put(ctx, arn, tags, err)) < 0)
        goto out;
    if ((r = ecs_svc_deploy(ctx->db, arn, taskdef, spec, ctx->now_ms, NULL, err)) < 0)
        goto out;
    /* The answer is the service as created: read inside the transaction, as
     * once committed the scheduler may already have acted on it (a service
     * of 0 tasks is steady at its first pass, with events). */
    json_t *answer = NULL;
    if ((r = answer_service(ctx, arn, tags != NULL, &answer, err)) < 0)
        goto out;
    if ((r = db_commit(ctx->db, err)) < 0) {
        json_decref(answer);
        goto out;
    }
    if (ctx->app)
        sched_kick(ctx->app);
    *ret_out = answer;
out:
    svc_row_done(&old);
    json_decref(spec);
    json_decref(taskdef);
    return r;
}

/* Resolves a service reference (name or ARN) in a cluster to its ARN. */
static char *service_arn_of(struct api_ctx *ctx, const char *cluster_arn, const char *ref)
{
    if (arn_is(ref))
        return xstrdup(ref);
    return ecs_arn(ctx, "service/%s/%s", cluster_name(cluster_arn), ref);
}

int ecs_describe_services(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                          struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    json_t *refs = json_get_array(in, "services");
    if (!json_array_size(refs))
        return error_set(err, EINVAL, ERR_INVALID, "Services cannot be empty.");
    if (json_array_size(refs) > SERVICE_MAX_DESCRIBE)
        return error_set(err, EINVAL, ERR_INVALID, "services can have at most %d items.",
                         SERVICE_MAX_DESCRIBE);
    bool with_tags = include_tags(in);
    json_t *services = json_array(), *failures = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(refs, i, v)
    {
        _cleanup_free_ char *arn = service_arn_of(ctx, cluster_arn, json_string_value(v));
        struct svc_row row = {0};
        bool found;
        if ((r = svc_read(ctx, arn, &row, &found, err)) < 0)
            break;
        if (found && !strcmp(row.cluster_arn, cluster_arn)) {
            json_t *doc = NULL;
            r = service_doc(ctx, &row, with_tags, &doc, err);
            if (r == 0)
                json_array_append_new(services, doc);
        } else {
            json_array_append_new(failures,
                                  json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING"));
        }
        svc_row_done(&row);
        if (r < 0)
            break;
    }
    if (r < 0) {
        json_decref(services);
        json_decref(failures);
        return r;
    }
    *ret_out = json_pack("{s:o, s:o}", "services", services, "failures", failures);
    return 0;
}

int ecs_list_services(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    int limit;
    _cleanup_free_ char *after = NULL;
    if ((r = ecs_page_args(in, 10, ECS_PAGE_MAX, &limit, &after, err)) < 0)
        return r;
    const char *lt = json_get_str(in, "launchType");
    const char *strategy = json_get_str(in, "schedulingStrategy");
    if ((lt && strcmp(lt, "FARGATE") != 0) || (strategy && strcmp(strategy, "REPLICA") != 0)) {
        *ret_out = json_pack("{s:[]}", "serviceArns");
        return 0;
    }
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT arn FROM services WHERE account = ?1 AND cluster_arn = ?2 "
                               "AND status IN ('ACTIVE', 'DRAINING') AND arn > ?3 "
                               "ORDER BY arn LIMIT ?4",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, cluster_arn);
    db_bind_text(st, 3, after ? after : "");
    sqlite3_bind_int(st, 4, limit + 1);
    return ecs_page_collect(ctx, st, limit, 0, "serviceArns", ret_out, err);
}

/* Reads the caller's ACTIVE service named by in's cluster and service
 * (inside the caller's transaction). */
static int resolve_active(struct api_ctx *ctx, const json_t *in, struct svc_row *row,
                          struct error **err)
{
    _cleanup_free_ char *cluster_arn = NULL;
    int r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &cluster_arn, err);
    if (r < 0)
        return r;
    const char *ref = json_get_str(in, "service");
    if (!ref)
        return error_set(err, EINVAL, ERR_INVALID, "service is required.");
    _cleanup_free_ char *arn = service_arn_of(ctx, cluster_arn, ref);
    bool found;
    if ((r = svc_read(ctx, arn, row, &found, err)) < 0)
        return r;
    if (!found || strcmp(row->cluster_arn, cluster_arn) != 0)
        return error_set(err, ENOENT, "ServiceNotFoundException", "Service not found.");
    if (strcmp(row->status, "ACTIVE") != 0)
        return error_set(err, EINVAL, "ServiceNotActiveException", "Service was not ACTIVE.");
    return 0;
}

int ecs_update_service(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    struct svc_row row = {0};
    json_t *taskdef = NULL, *spec = NULL;
    _cleanup_free_ char *spec_s = NULL;
    bool redeploy = false;
    int r;
    /* Look the task definition up before taking the write lock. */
    const char *tdref = json_get_str(in, "taskDefinition");
    if (tdref && (r = ecs_taskdef_lookup(ctx, tdref, &taskdef, err)) < 0)
        return r;
    if ((r = db_begin(ctx->db, err)) < 0)
        goto out;
    if ((r = resolve_active(ctx, in, &row, err)) < 0)
        goto out;
    if ((r = ecs_svc_spec_update(row.spec, in, &spec, &redeploy, err)) < 0)
        goto out;
    if (taskdef && strcmp(json_get_str(taskdef, "taskDefinitionArn"), row.taskdef_arn) != 0)
        redeploy = true;
    if (json_get_bool(in, "forceNewDeployment", false))
        redeploy = true;
    if (redeploy && !taskdef) {
        /* The current revision, from the primary deployment's copy (it may
         * have been deregistered since). */
        sqlite3_stmt *st = db_stmt(ctx->db,
                                   "SELECT taskdef FROM deployments WHERE service_arn = ?1 "
                                   "AND status = 'PRIMARY'",
                                   err);
        if (!st) {
            r = -EIO;
            goto out;
        }
        db_bind_text(st, 1, row.arn);
        if (sqlite3_step(st) == SQLITE_ROW)
            taskdef = json_parse_trusted(db_col_text(st, 0));
        sqlite3_reset(st);
        if (!taskdef) {
            r = error_set(err, EIO, NULL, "service %s has no primary deployment", row.arn);
            goto out;
        }
    }
    if (redeploy && (r = check_launchable(ctx, spec, taskdef, err)) < 0)
        goto out;
    spec_s = json_dump_compact(spec);
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE services SET spec = ?2, desired_count = ?3, "
                               "updated_at = ?4, steady = CASE WHEN desired_count = ?3 THEN "
                               "steady ELSE 0 END WHERE arn = ?1",
                               err);
    if (!st) {
        r = -EIO;
        goto out;
    }
    db_bind_text(st, 1, row.arn);
    db_bind_text(st, 2, spec_s);
    sqlite3_bind_int64(st, 3, json_get_int(in, "desiredCount", row.desired));
    sqlite3_bind_int64(st, 4, ctx->now_ms);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        goto out;
    if (redeploy &&
        (r = ecs_svc_deploy(ctx->db, row.arn, taskdef, spec, ctx->now_ms, NULL, err)) < 0)
        goto out;
    if ((r = db_commit(ctx->db, err)) < 0)
        goto out;
    if (ctx->app)
        sched_kick(ctx->app);
    r = answer_service(ctx, row.arn, false, ret_out, err);
out:
    svc_row_done(&row);
    json_decref(taskdef);
    json_decref(spec);
    return r;
}

int ecs_delete_service(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    struct svc_row row = {0};
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    if ((r = resolve_active(ctx, in, &row, err)) < 0)
        goto out;
    if (row.desired > 0 && !json_get_bool(in, "force", false)) {
        r = error_set(err, EINVAL, ERR_INVALID,
                      "The service cannot be stopped while it is scaled above 0.");
        goto out;
    }
    /* The reconciler stops the tasks (ServiceSchedulerInitiated) and turns
     * the service INACTIVE once none is left. */
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE services SET status = 'DRAINING', desired_count = 0, "
                               "steady = 0, updated_at = ?2 WHERE arn = ?1",
                               err);
    if (!st) {
        r = -EIO;
        goto out;
    }
    db_bind_text(st, 1, row.arn);
    sqlite3_bind_int64(st, 2, ctx->now_ms);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        goto out;
    if (ctx->app)
        sched_kick(ctx->app);
    r = answer_service(ctx, row.arn, false, ret_out, err);
out:
    svc_row_done(&row);
    return r;
}
