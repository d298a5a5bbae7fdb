/* Services: what the ECS API (src/ecs/service.c) and the service reconciler
 * (src/sched/service.c) share.
 *
 * A service row holds what the user asked for; its launch settings (launch
 * type or capacity provider strategy, network configuration, deployment
 * configuration, grace period, load balancers, tag propagation) live in one
 * JSON document, "spec". A deployment is one task definition with the
 * launch settings it was created with; the service has one PRIMARY
 * deployment and, while a rollout runs, older ACTIVE ones. Tasks a service
 * starts carry startedBy = the deployment id ("ecs-svc/<19 digits>"),
 * group "service:<name>" and the service's ARN in tasks.service_arn. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct db;

/* Events kept (and shown) per service, newest first. */
#define ECS_SVC_EVENTS_MAX 100
/* ECS's defaults for deploymentConfiguration. */
#define ECS_SVC_DEFAULT_MAX_PERCENT 200
#define ECS_SVC_DEFAULT_MIN_PERCENT 100
#define ECS_SVC_MAX_DESIRED         5000

/* The deployment-relevant subset of a service spec. */
struct ecs_svc_limits {
    int max_percent;
    int min_percent;
    bool breaker;  /* deploymentCircuitBreaker.enable */
    bool rollback; /* deploymentCircuitBreaker.rollback */
    int64_t grace_ms;
};

/* Reads the limits from a spec document (defaults for what is absent). */
void ecs_svc_limits(const json_t *spec, struct ecs_svc_limits *ret);

/* The circuit breaker's failure threshold for a desired count: half of it,
 * rounded up, clamped to 3..200 (as ECS). */
int ecs_svc_breaker_threshold(long desired);

/* Checks a CreateService request (everything but the cluster, the task
 * definition lookup and the name's uniqueness) and answers the spec
 * document to store (a new reference). */
int ecs_svc_spec_from_create(const json_t *in, json_t **ret_spec, struct error **err);
/* Applies the launch-setting members of an UpdateService request to a copy
 * of spec; *ret_redeploy is set when they change what a deployment rolls
 * out (network configuration, launch type or strategy, platform version). */
int ecs_svc_spec_update(const json_t *spec, const json_t *in, json_t **ret_spec, bool *ret_redeploy,
                        struct error **err);
/* The deployment spec (launch settings only) of a service spec. */
json_t *ecs_svc_deployment_spec(const json_t *spec);
/* Whether skiffd gives tasks their ENIs on the host (--task-network):
 * without it CreateService/UpdateService refuse loadBalancers (the targets
 * would be unreachable). Set once at start. */
void ecs_svc_set_task_network(bool on);
/* Checks the spec's load balancers against the task definition (containers
 * and ports exist). */
int ecs_svc_check_taskdef(const json_t *spec, const json_t *taskdef, struct error **err);

/* The RunTask-shaped request the reconciler launches a deployment's tasks
 * with: startedBy = deployment id, group "service:NAME", launch settings of
 * the deployment, tags per propagateTags/enableECSManagedTags (service_tags
 * are the service's own, used with propagateTags SERVICE). */
json_t *ecs_svc_run_request(const json_t *spec, const json_t *dep_spec, const char *deployment_id,
                            const char *service_name, const json_t *service_tags);

/* A new deployment id, "ecs-svc/" and 19 digits; out holds 28 bytes. */
void ecs_svc_new_deployment_id(char out[28]);

/* Appends an event to a service (inside the caller's transaction) and drops
 * those beyond ECS_SVC_EVENTS_MAX. message is the whole text. */
int ecs_svc_event(struct db *db, const char *service_arn, int64_t now_ms, const char *message,
                  struct error **err);

/* Makes a new PRIMARY deployment (rollout IN_PROGRESS) of taskdef with the
 * launch settings of spec, demoting the current PRIMARY to ACTIVE, inside the
 * caller's transaction. *ret_id (optional) gets the new id. */
int ecs_svc_deploy(struct db *db, const char *service_arn, const json_t *taskdef,
                   const json_t *spec, int64_t now_ms, char **ret_id, struct error **err);
