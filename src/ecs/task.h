/* RunTask input checks that need no store (src/ecs/task_validate.c), kept
 * apart from the handlers in task.c so they can be tested on their own. */
#pragma once

#include <jansson.h>

#include "base/error.h"
#include "api/api.h"

#define ECS_RUN_TASK_MAX_COUNT 10

/* What RunTask will create, derived from the request and the task
 * definition. */
struct ecs_run_plan {
    long count;
    long cpu;                      /* CPU units */
    long memory;                   /* MiB */
    long ephemeral_gib;            /* 20 unless asked for more */
    const char *launch_type;       /* "FARGATE" (static) */
    const char *capacity_provider; /* NULL, "FARGATE" or "FARGATE_SPOT" (static) */
    json_t *overrides;             /* normalised TaskOverride to store and echo */
    json_t *network;               /* resolved awsvpc configuration (ec2_awsvpc_resolve) */
};

/* Checks a RunTask request against its (already resolved) task definition:
 * launch type / capacity provider strategy, count, startedBy, group,
 * propagateTags, overrides (containers exist, sizes valid for Fargate and
 * consistent), network configuration shape. Fills *plan (free with
 * ecs_run_plan_done) or answers an AWS error. */
int ecs_run_task_validate(const json_t *in, const json_t *taskdef, struct ecs_run_plan *plan,
                          struct error **err);
void ecs_run_plan_done(struct ecs_run_plan *plan);

/* Resolves the request's awsvpcConfiguration against the caller's VPCs
 * (subnets and security groups exist, in one VPC; the default VPC when none
 * is given) into plan->network. InvalidParameterException otherwise. */
int ecs_run_task_network(struct api_ctx *ctx, const json_t *in, struct ecs_run_plan *plan,
                         struct error **err);
/* Gives the new task arn its ENI (an address of its subnet) when
 * plan->network is set, and records the ElasticNetworkInterface attachment
 * and the resolved configuration on the task row. Call inside the
 * transaction that inserted the task. */
int ecs_task_eni_attach(struct api_ctx *ctx, const char *arn, const struct ecs_run_plan *plan,
                        struct error **err);
