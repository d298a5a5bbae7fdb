/* Helpers shared by the ECS operation files. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "api/api.h"
#include "base/error.h"

/* Page size limits shared by the List operations. */
#define ECS_PAGE_DEFAULT 100
#define ECS_PAGE_MAX     100

/* Name rules shared by clusters, families and services: 1-255 of letters,
 * digits, '-' and '_'. */
bool ecs_name_valid(const char *name);

/* "arn:aws:ecs:REGION:ACCOUNT:" fmt..., as a new string. */
char *ecs_arn(const struct api_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resolves a cluster reference (short name or ARN; NULL = "default") of the
 * caller's account to its ARN. Only ACTIVE clusters resolve;
 * ClusterNotFoundException otherwise, including for another account's ARN. */
int ecs_cluster_resolve(struct api_ctx *ctx, const char *ref, char **ret_arn, struct error **err);

/* Pagination: reads maxResults (1..max, default def) and nextToken from in.
 * *ret_after is the decoded sort key to continue after, or NULL. */
int ecs_page_args(const json_t *in, int def, int max, int *ret_limit, char **ret_after,
                  struct error **err);
/* Encodes the sort key of the last item of a full page as a nextToken. */
json_t *ecs_page_token(const char *last_key);
/* Steps st (bound to fetch limit + 1 rows in key order; column 0 is the
 * item, column key_col its sort key) and answers {member: [items],
 * nextToken} with nextToken only when another page exists. */
int ecs_page_collect(struct api_ctx *ctx, sqlite3_stmt *st, int limit, int key_col,
                     const char *member, json_t **ret_out, struct error **err);

/* Tags ("tags" members as [{key, value}]). */
/* Validates a tags list: at most 50, no duplicate keys, no aws: prefix. */
int ecs_tags_validate(const json_t *tags, struct error **err);
/* Adds or replaces tags on arn (call inside a transaction). */
int ecs_tags_put(struct api_ctx *ctx, const char *arn, const json_t *tags, struct error **err);
/* The tags of arn as a new [{key, value}] list. */
int ecs_tags_get(struct api_ctx *ctx, const char *arn, json_t **ret, struct error **err);
/* Removes every tag of arn (call inside a transaction). */
int ecs_tags_drop(struct api_ctx *ctx, const char *arn, struct error **err);

/* The TaskDefinition document named by ref ("family" = latest ACTIVE
 * revision, "family:revision", or an ARN) in the caller's account; a new
 * reference. ClientException when there is none. */
int ecs_taskdef_lookup(struct api_ctx *ctx, const char *ref, json_t **ret, struct error **err);

/* Inserts one task (PROVISIONING, desired RUNNING, not yet placed) and its
 * tags inside the caller's transaction: the path RunTask and the service
 * reconciler share. in is RunTask-shaped (startedBy, group,
 * networkConfiguration, tags, propagateTags, enableECSManagedTags), plan
 * comes from ecs_run_task_validate(). *ret_arn is the new task's ARN. */
struct ecs_run_plan;
int ecs_task_insert(struct api_ctx *ctx, const json_t *in, const char *cluster_arn,
                    const json_t *taskdef, const struct ecs_run_plan *plan, char **ret_arn,
                    struct error **err);

/* Task counts of a cluster (for DescribeClusters and DeleteCluster). */
struct ecs_task_counts {
    int running;
    int pending;
    int active; /* every task not STOPPED, stopping ones included */
};
int ecs_task_counts(struct api_ctx *ctx, const char *cluster_arn, struct ecs_task_counts *ret,
                    struct error **err);

/* Operation handlers, one file per resource. */
int ecs_create_cluster(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_describe_clusters(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_list_clusters(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_delete_cluster(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_update_cluster(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_update_cluster_settings(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_put_cluster_capacity_providers(struct api_ctx *, const json_t *, json_t **,
                                       struct error **);

int ecs_register_task_definition(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_describe_task_definition(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_list_task_definitions(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_list_task_definition_families(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_deregister_task_definition(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_delete_task_definitions(struct api_ctx *, const json_t *, json_t **, struct error **);

int ecs_tag_resource(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_untag_resource(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_list_tags_for_resource(struct api_ctx *, const json_t *, json_t **, struct error **);

int ecs_run_task(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_stop_task(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_describe_tasks(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_list_tasks(struct api_ctx *, const json_t *, json_t **, struct error **);

int ecs_create_service(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_describe_services(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_list_services(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_update_service(struct api_ctx *, const json_t *, json_t **, struct error **);
int ecs_delete_service(struct api_ctx *, const json_t *, json_t **, struct error **);

int ecs_describe_capacity_providers(struct api_ctx *, const json_t *, json_t **, struct error **);
