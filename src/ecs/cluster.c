/* Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster,
 * UpdateCluster, UpdateClusterSettings, PutClusterCapacityProviders.
 *
 * A deleted cluster turns INACTIVE (still describable, no longer listed), as
 * on ECS; creating it again makes it ACTIVE. */
#include "ecs/ecs-internal.h"
#include "api/accounts.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define CLUSTER_COLUMNS                                                                            \
    "arn, name, status, settings, configuration, capacity_providers, default_strategy, "           \
    "service_connect"

enum cluster_include {
    INC_ATTACHMENTS = 1 << 0,
    INC_CONFIGURATIONS = 1 << 1,
    INC_SETTINGS = 1 << 2,
    INC_STATISTICS = 1 << 3,
    INC_TAGS = 1 << 4,
};

/* Task and service counts of a cluster. */
struct cluster_counts {
    int running_tasks;
    int pending_tasks;
    int active_tasks; /* not STOPPED, stopping ones included */
    int active_services;
    int draining_services;
};

static int cluster_counts(struct api_ctx *ctx, const char *arn, struct cluster_counts *c,
                          struct error **err)
{
    memset(c, 0, sizeof(*c));
    struct ecs_task_counts t;
    int r = ecs_task_counts(ctx, arn, &t, err);
    if (r < 0)
        return r;
    c->running_tasks = t.running;
    c->pending_tasks = t.pending;
    c->active_tasks = t.active;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT COALESCE(SUM(status = 'ACTIVE'), 0), "
                               "COALESCE(SUM(status = 'DRAINING'), 0) FROM services "
                               "WHERE account = ?1 AND cluster_arn = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->active_services = sqlite3_column_int(st, 0);
        c->draining_services = sqlite3_column_int(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(ctx->db, err, "count services");
}

static json_t *default_settings(void)
{
    return json_pack("[{s:s, s:s}]", "name", "containerInsights", "value", "disabled");
}

static json_t *kv(const char *name, int value)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", value);
    return json_pack("{s:s, s:s}", "name", name, "value", v);
}

/* Builds the Cluster shape from the current row of st (CLUSTER_COLUMNS). */
static int cluster_doc(struct api_ctx *ctx, sqlite3_stmt *st, unsigned include, json_t **ret,
                       struct error **err)
{
    const char *arn = db_col_text(st, 0);
    struct cluster_counts c;
    int r = cluster_counts(ctx, arn, &c, err);
    if (r < 0)
        return r;
    json_t *o = json_object();
    json_object_set_new(o, "clusterArn", json_string(arn));
    json_object_set_new(o, "clusterName", json_string(db_col_text(st, 1)));
    json_object_set_new(o, "status", json_string(db_col_text(st, 2)));
    json_object_set_new(o, "registeredContainerInstancesCount", json_integer(0));
    json_object_set_new(o, "runningTasksCount", json_integer(c.running_tasks));
    json_object_set_new(o, "pendingTasksCount", json_integer(c.pending_tasks));
    json_object_set_new(o, "activeServicesCount", json_integer(c.active_services));
    json_t *stats = json_array();
    if (include & INC_STATISTICS) {
        json_array_append_new(stats, kv("runningEC2TasksCount", 0));
        json_array_append_new(stats, kv("runningFargateTasksCount", c.running_tasks));
        json_array_append_new(stats, kv("pendingEC2TasksCount", 0));
        json_array_append_new(stats, kv("pendingFargateTasksCount", c.pending_tasks));
        json_array_append_new(stats, kv("activeEC2ServiceCount", 0));
        json_array_append_new(stats, kv("activeFargateServiceCount", c.active_services));
        json_array_append_new(stats, kv("drainingEC2ServiceCount", 0));
        json_array_append_new(stats, kv("drainingFargateServiceCount", c.draining_services));
    }
    json_object_set_new(o, "statistics", stats);
    json_t *tags = NULL;
    if (include & INC_TAGS) {
        r = ecs_tags_get(ctx, arn, &tags, err);
        if (r < 0) {
            json_decref(o);
            return r;
        }
    }
    json_object_set_new(o, "tags", tags ? tags : json_array());
    json_object_set_new(o, "settings", json_parse_trusted(db_col_text(st, 3)));
    if ((include & INC_CONFIGURATIONS) && sqlite3_column_type(st, 4) != SQLITE_NULL)
        json_object_set_new(o, "configuration", json_parse_trusted(db_col_text(st, 4)));
    json_object_set_new(o, "capacityProviders", json_parse_trusted(db_col_text(st, 5)));
    json_object_set_new(o, "defaultCapacityProviderStrategy",
                        json_parse_trusted(db_col_text(st, 6)));
    if (include & INC_ATTACHMENTS)
        json_object_set_new(o, "attachments", json_array());
    if (sqlite3_column_type(st, 7) != SQLITE_NULL)
        json_object_set_new(o, "serviceConnectDefaults", json_parse_trusted(db_col_text(st, 7)));
    *ret = o;
    return 0;
}

/* Reads one cluster by ARN (any status) into *ret; 0 with *ret NULL when
 * absent. */
static int cluster_load(struct api_ctx *ctx, const char *arn, unsigned include, json_t **ret,
                        struct error **err)
{
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " CLUSTER_COLUMNS " FROM clusters "
                               "WHERE arn = ?1 AND account = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    *ret = NULL;
    int r = 0;
    if (rc == SQLITE_ROW)
        r = cluster_doc(ctx, st, include, ret, err);
    else if (rc != SQLITE_DONE)
        r = db_fail(ctx->db, err, "read cluster");
    sqlite3_reset(st);
    return r;
}

static const char *const capacity_providers[] = {"FARGATE", "FARGATE_SPOT"};

/* Checks capacityProviders / defaultCapacityProviderStrategy: only the
 * built-in Fargate providers exist; weights 0..1000, base 0..100000, at most
 * one base. */
static int check_capacity(const json_t *providers, const json_t *strategy, struct error **err)
{
    size_t i;
    json_t *v;
    json_array_foreach(providers, i, v)
    {
        const char *name = json_string_value(v);
        bool ok = false;
        for (size_t k = 0; k < 2; k++)
            ok |= !strcmp(name, capacity_providers[k]);
        if (!ok)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The specified capacity provider '%.128s' does not exist.", name);
    }
    int bases = 0;
    json_array_foreach(strategy, i, v)
    {
        const char *name = json_get_str(v, "capacityProvider");
        bool listed = false;
        size_t k;
        json_t *p;
        json_array_foreach(providers, k, p) listed |= !strcmp(json_string_value(p), name);
        if (!listed)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The capacity provider '%.128s' in the strategy is not associated "
                             "with the cluster.",
                             name);
        json_int_t w = json_get_int(v, "weight", 0), b = json_get_int(v, "base", 0);
        if (w < 0 || w > 1000)
            return error_set(err, EINVAL, ERR_INVALID, "weight must be between 0 and 1000");
        if (b < 0 || b > 100000)
            return error_set(err, EINVAL, ERR_INVALID, "base must be between 0 and 100000");
        if (b > 0 && ++bases > 1)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Only one capacity provider in a strategy can have a base.");
    }
    return 0;
}

static int check_settings(const json_t *settings, struct error **err)
{
    size_t i;
    json_t *v;
    json_array_foreach(settings, i, v)
    {
        const char *name = json_get_str(v, "name"), *value = json_get_str(v, "value");
        if (!name || strcmp(name, "containerInsights") != 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Cluster setting name must be containerInsights.");
        if (!value || (strcmp(value, "enabled") != 0 && strcmp(value, "disabled") != 0 &&
                       strcmp(value, "enhanced") != 0))
            return error_set(err, EINVAL, ERR_INVALID,
                             "containerInsights must be enabled, enhanced or disabled.");
    }
    return 0;
}

static char *dump_or_null(const json_t *v)
{
    return v ? json_dump_compact(v) : NULL;
}

int ecs_create_cluster(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *name = json_get_str(in, "clusterName");
    if (!name)
        name = "default";
    if (!ecs_name_valid(name))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Cluster name can have up to 255 letters (uppercase and lowercase), "
                         "numbers, underscores, and hyphens.");
    json_t *tags = json_get_array(in, "tags");
    json_t *settings = json_get_array(in, "settings");
    json_t *providers = json_get_array(in, "capacityProviders");
    json_t *strategy = json_get_array(in, "defaultCapacityProviderStrategy");
    int r = ecs_tags_validate(tags, err);
    if (r < 0)
        return r;
    if ((r = check_settings(settings, err)) < 0 ||
        (r = check_capacity(providers, strategy, err)) < 0)
        return r;

    _cleanup_free_ char *arn = ecs_arn(ctx, "cluster/%s", name);
    _cleanup_free_ char *settings_s = settings ? json_dump_compact(settings) : NULL;
    _cleanup_free_ char *config_s = dump_or_null(json_object_get(in, "configuration"));
    _cleanup_free_ char *providers_s = providers ? json_dump_compact(providers) : NULL;
    _cleanup_free_ char *strategy_s = strategy ? json_dump_compact(strategy) : NULL;
    _cleanup_free_ char *sc_s = dump_or_null(json_object_get(in, "serviceConnectDefaults"));
    if (!settings_s) {
        json_t *d = default_settings();
        settings_s = json_dump_compact(d);
        json_decref(d);
    }

    if ((r = db_begin(ctx->db, err)) < 0)
        return r;
    /* Idempotent by name: an ACTIVE cluster is returned as it is; an INACTIVE
     * one comes back to life with the new parameters. */
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "INSERT INTO clusters(arn, account, name, status, created_at, "
                               "settings, configuration, capacity_providers, default_strategy, "
                               "service_connect) "
                               "VALUES (?1, ?2, ?3, 'ACTIVE', ?4, ?5, ?6, ?7, ?8, ?9) "
                               "ON CONFLICT(arn) DO UPDATE SET status = 'ACTIVE', "
                               "created_at = excluded.created_at, settings = excluded.settings, "
                               "configuration = excluded.configuration, "
                               "capacity_providers = excluded.capacity_providers, "
                               "default_strategy = excluded.default_strategy, "
                               "service_connect = excluded.service_connect "
                               "WHERE clusters.status = 'INACTIVE'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, name);
    sqlite3_bind_int64(st, 4, ctx->now_ms);
    db_bind_text(st, 5, settings_s);
    db_bind_text(st, 6, config_s);
    db_bind_text(st, 7, providers_s ? providers_s : "[]");
    db_bind_text(st, 8, strategy_s ? strategy_s : "[]");
    db_bind_text(st, 9, sc_s);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        return r;
    /* A cluster created anew, or brought back from INACTIVE, starts with
     * exactly the tags of this call: none of a deleted namesake's survive. */
    bool created = sqlite3_changes(db_handle(ctx->db)) > 0;
    if (created && (r = ecs_tags_drop(ctx, arn, err)) < 0)
        return r;
    if (created && tags && (r = ecs_tags_put(ctx, arn, tags, err)) < 0)
        return r;
    if ((r = db_commit(ctx->db, err)) < 0)
        return r;
    json_t *doc = NULL;
    r = cluster_load(ctx, arn, INC_CONFIGURATIONS | (tags ? INC_TAGS : 0), &doc, err);
    if (r < 0)
        return r;
    *ret_out = json_pack("{s:o}", "cluster", doc ? doc : json_object());
    return 0;
}

static unsigned parse_include(const json_t *in)
{
    static const struct {
        const char *name;
        unsigned flag;
    } names[] = {{"ATTACHMENTS", INC_ATTACHMENTS},
                 {"CONFIGURATIONS", INC_CONFIGURATIONS},
                 {"SETTINGS", INC_SETTINGS},
                 {"STATISTICS", INC_STATISTICS},
                 {"TAGS", INC_TAGS}};
    unsigned flags = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(in, "include"), i, v)
    {
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (!strcmp(json_string_value(v), names[k].name))
                flags |= names[k].flag;
    }
    return flags;
}

int ecs_describe_clusters(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                          struct error **err)
{
    json_t *refs = json_get_array(in, "clusters");
    if (json_array_size(refs) > 100)
        return error_set(err, EINVAL, ERR_INVALID, "clusters can have at most 100 items.");
    unsigned include = parse_include(in);
    json_t *clusters = json_array(), *failures = json_array();
    json_t *def = NULL;
    if (!refs || !json_array_size(refs))
        refs = def = json_pack("[s]", "default");
    size_t i;
    json_t *v;
    int r = 0;
    json_array_foreach(refs, i, v)
    {
        const char *ref = json_string_value(v);
        _cleanup_free_ char *arn = NULL;
        struct arn a;
        if (arn_is(ref)) {
            if (arn_parse(ref, &a) < 0 || strncmp(a.resource, "cluster/", 8) != 0) {
                json_array_append_new(failures,
                                      json_pack("{s:s, s:s}", "arn", ref, "reason", "MISSING"));
                continue;
            }
            arn = xstrdup(ref);
        } else {
            arn = ecs_arn(ctx, "cluster/%s", ref);
        }
        json_t *doc = NULL;
        r = cluster_load(ctx, arn, include, &doc, err);
        if (r < 0)
            break;
        if (doc)
            json_array_append_new(clusters, doc);
        else
            json_array_append_new(failures,
                                  json_pack("{s:s, s:s}", "arn", arn, "reason", "MISSING"));
    }
    json_decref(def);
    if (r < 0) {
        json_decref(clusters);
        json_decref(failures);
        return r;
    }
    *ret_out = json_pack("{s:o, s:o}", "clusters", clusters, "failures", failures);
    return 0;
}

int ecs_list_clusters(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    int limit;
    _cleanup_free_ char *after = NULL;
    int r = ecs_page_args(in, ECS_PAGE_DEFAULT, ECS_PAGE_MAX, &limit, &after, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT arn FROM clusters WHERE account = ?1 AND status = 'ACTIVE' "
                               "AND arn > ?2 ORDER BY arn LIMIT ?3",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, after ? after : "");
    sqlite3_bind_int(st, 3, limit + 1);
    return ecs_page_collect(ctx, st, limit, 0, "clusterArns", ret_out, err);
}

int ecs_delete_cluster(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    /* Resolving inside the write transaction makes the ACTIVE check and
     * the change one step: of two racing deletes, one finds no cluster. */
    _cleanup_free_ char *arn = NULL;
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    if ((r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &arn, err)) < 0)
        return r;
    struct cluster_counts c;
    if ((r = cluster_counts(ctx, arn, &c, err)) < 0)
        return r;
    if (c.active_services + c.draining_services > 0)
        return error_set(err, EBUSY, "ClusterContainsServicesException",
                         "The Cluster cannot be deleted while Services are active.");
    if (c.active_tasks > 0)
        return error_set(err, EBUSY, "ClusterContainsTasksException",
                         "The Cluster cannot be deleted while Tasks are active.");
    sqlite3_stmt *st =
        db_stmt(ctx->db, "UPDATE clusters SET status = 'INACTIVE' WHERE arn = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        return r;
    json_t *doc = NULL;
    if ((r = cluster_load(ctx, arn, INC_CONFIGURATIONS, &doc, err)) < 0)
        return r;
    *ret_out = json_pack("{s:o}", "cluster", doc ? doc : json_object());
    return 0;
}

/* Answers the cluster's document as this transaction leaves it, then
 * commits: read after the commit, a DeleteCluster committed in between
 * would show through (an update answered on an INACTIVE cluster). */
static int answer_committed(struct api_ctx *ctx, const char *arn, json_t **ret_out,
                            struct error **err)
{
    json_t *doc = NULL;
    int r = cluster_load(ctx, arn, INC_CONFIGURATIONS | INC_SETTINGS, &doc, err);
    if (r == 0 && (r = db_commit(ctx->db, err)) == 0)
        *ret_out = json_pack("{s:o}", "cluster", doc ? doc : json_object());
    else
        json_decref(doc);
    return r;
}

/* Applies a column update to an ACTIVE cluster and answers its document. */
static int update_column(struct api_ctx *ctx, const json_t *in, const char *sql, const char *value,
                         json_t **ret_out, struct error **err)
{
    _cleanup_free_ char *arn = NULL;
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    if ((r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &arn, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(ctx->db, sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, value);
    db_bind_text(st, 2, arn);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        return r;
    return answer_committed(ctx, arn, ret_out, err);
}

int ecs_update_cluster(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    json_t *settings = json_get_array(in, "settings");
    json_t *config = json_object_get(in, "configuration");
    json_t *sc = json_object_get(in, "serviceConnectDefaults");
    int r = check_settings(settings, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *arn = NULL;
    if ((r = db_begin(ctx->db, err)) < 0)
        return r;
    if ((r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &arn, err)) < 0)
        return r;
    static const char *const sqls[] = {
        "UPDATE clusters SET settings = ?1 WHERE arn = ?2",
        "UPDATE clusters SET configuration = ?1 WHERE arn = ?2",
        "UPDATE clusters SET service_connect = ?1 WHERE arn = ?2",
    };
    const json_t *vals[] = {settings, config, sc};
    for (size_t i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        _cleanup_free_ char *s = json_dump_compact(vals[i]);
        sqlite3_stmt *st = db_stmt(ctx->db, sqls[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, s);
        db_bind_text(st, 2, arn);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    return answer_committed(ctx, arn, ret_out, err);
}

int ecs_update_cluster_settings(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                struct error **err)
{
    json_t *settings = json_get_array(in, "settings");
    int r = check_settings(settings, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *s = json_dump_compact(settings);
    return update_column(ctx, in, "UPDATE clusters SET settings = ?1 WHERE arn = ?2", s, ret_out,
                         err);
}

int ecs_put_cluster_capacity_providers(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                       struct error **err)
{
    json_t *providers = json_get_array(in, "capacityProviders");
    json_t *strategy = json_get_array(in, "defaultCapacityProviderStrategy");
    int r = check_capacity(providers, strategy, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *arn = NULL;
    if ((r = db_begin(ctx->db, err)) < 0)
        return r;
    if ((r = ecs_cluster_resolve(ctx, json_get_str(in, "cluster"), &arn, err)) < 0)
        return r;
    _cleanup_free_ char *p = json_dump_compact(providers);
    _cleanup_free_ char *s = json_dump_compact(strategy);
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE clusters SET capacity_providers = ?1, "
                               "default_strategy = ?2 WHERE arn = ?3",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, p);
    db_bind_text(st, 2, s);
    db_bind_text(st, 3, arn);
    if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
        return r;
    return answer_committed(ctx, arn, ret_out, err);
}
