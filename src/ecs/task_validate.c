#include "ecs/task.h"
#include "base/json.h"
#include "ecs/ecs-internal.h"
#include "ecs/taskdef.h"
#include "api/accounts.h"
#include "ec2/ec2.h"
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ecs_run_plan_done(struct ecs_run_plan *plan)
{
    json_decref(plan->overrides);
    plan->overrides = NULL;
    json_decref(plan->network);
    plan->network = NULL;
}

int ecs_run_task_network(struct api_ctx *ctx, const json_t *in, struct ecs_run_plan *plan,
                         struct error **err)
{
    json_t *aws =
        json_get_object(json_get_object(in, "networkConfiguration"), "awsvpcConfiguration");
    json_decref(plan->network);
    plan->network = NULL;
    return ec2_awsvpc_resolve(ctx, aws, &plan->network, err);
}

static json_t *detail(const char *name, const char *value)
{
    return json_pack("{s:s, s:s}", "name", name, "value", value);
}

int ecs_task_eni_attach(struct api_ctx *ctx, const char *arn, const struct ecs_run_plan *plan,
                        struct error **err)
{
    if (!plan->network)
        return 0;
    json_t *eni = NULL;
    int r = ec2_eni_allocate(ctx->db, ctx->account->account_id, arn, plan->network, ctx->now_ms,
                             &eni, err);
    if (r < 0)
        return r;
    const char *ip = json_get_str(eni, "ip");
    unsigned a[4] = {0};
    sscanf(ip, "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
    char dns[64], att_id[37];
    snprintf(dns, sizeof(dns), "ip-%u-%u-%u-%u.ec2.internal", a[0], a[1], a[2], a[3]);
    /* The attachment id is the ENI id's random part laid out as a UUID. */
    const char *hex = json_get_str(eni, "id") + 4;
    snprintf(att_id, sizeof(att_id), "%.8s-%.4s-4%.3s-8%.2s0-0000%.8s", hex, hex + 8, hex + 12,
             hex + 15, hex);
    json_t *att = json_pack("[{s:s, s:s, s:s, s:[o, o, o, o, o]}]", "id", att_id, "type",
                            "ElasticNetworkInterface", "status", "PRECREATED", "details",
                            detail("subnetId", json_get_str(eni, "subnetId")),
                            detail("networkInterfaceId", json_get_str(eni, "id")),
                            detail("macAddress", json_get_str(eni, "mac")),
                            detail("privateDnsName", dns), detail("privateIPv4Address", ip));
    char *att_s = json_dump_compact(att);
    json_t *rules = NULL;
    if ((r = ec2_eni_rules(ctx->db, json_get_str(eni, "id"), &rules, err)) < 0) {
        json_decref(att);
        json_decref(eni);
        return r;
    }
    json_object_set_new(eni, "rules", rules);
    /* The agent reports it back with its ATTACHED/DETACHED steps. */
    json_object_set(eni, "attachment", json_array_get(att, 0));
    /* The agent reads "eni" from the assign message (src/agent/net.c). */
    json_t *nc = json_pack("{s:{s:O, s:O, s:O}, s:O}", "awsvpcConfiguration", "subnets",
                           json_object_get(plan->network, "subnets"), "securityGroups",
                           json_object_get(plan->network, "securityGroups"), "assignPublicIp",
                           json_object_get(plan->network, "assignPublicIp"), "eni", eni);
    char *nc_s = json_dump_compact(nc);
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "UPDATE tasks SET attachments = ?2, network_config = ?3 "
                               "WHERE arn = ?1",
                               err);
    if (st) {
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, att_s);
        db_bind_text(st, 3, nc_s);
        r = db_exec_stmt(ctx->db, st, err);
    } else {
        r = -EIO;
    }
    free(att_s);
    free(nc_s);
    json_decref(att);
    json_decref(nc);
    json_decref(eni);
    return r;
}

static bool started_by_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-_/", s[i]))
            return false;
    return true;
}

static const json_t *find_container(const json_t *taskdef, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(taskdef, "containerDefinitions"), i, c)
    {
        const char *n = json_get_str(c, "name");
        if (n && name && !strcmp(n, name))
            return c;
    }
    return NULL;
}

static int check_launch(const json_t *in, struct ecs_run_plan *plan, struct error **err)
{
    const char *lt = json_get_str(in, "launchType");
    json_t *strategy = json_get_array(in, "capacityProviderStrategy");
    if (lt && strategy && json_array_size(strategy))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Specifying both a launch type and capacity provider strategy is not "
                         "supported. Remove one and try again.");
    plan->launch_type = "FARGATE";
    if (lt && strcmp(lt, "FARGATE") != 0)
        return error_set(err, EINVAL, ERR_INVALID,
                         "skiff runs tasks the Fargate way only: launchType must be FARGATE, not "
                         "%s.",
                         lt);
    size_t i;
    json_t *s;
    int bases = 0, weighted = 0;
    json_array_foreach(strategy, i, s)
    {
        const char *p = json_get_str(s, "capacityProvider");
        if (!p || (strcmp(p, "FARGATE") != 0 && strcmp(p, "FARGATE_SPOT") != 0))
            return error_set(err, EINVAL, ERR_INVALID,
                             "The specified capacity provider strategy cannot contain a capacity "
                             "provider that is not FARGATE or FARGATE_SPOT: '%.128s'.",
                             p ? p : "");
        json_int_t w = json_get_int(s, "weight", 0), b = json_get_int(s, "base", 0);
        if (w < 0 || w > 1000 || b < 0 || b > 100000)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Capacity provider weight must be 0-1000 and base 0-100000.");
        if (b > 0 && ++bases > 1)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Only one capacity provider in a strategy can have a base.");
        /* One host pool: the provider with a base, else the first with
         * weight, names the task's capacity provider. */
        if ((!bases && w > 0 && !weighted) || b > 0)
            plan->capacity_provider = !strcmp(p, "FARGATE") ? "FARGATE" : "FARGATE_SPOT";
        weighted += w > 0;
    }
    if (json_array_size(strategy) && !weighted)
        return error_set(err, EINVAL, ERR_INVALID,
                         "At least one capacity provider in the strategy must have a weight "
                         "greater than zero.");
    return 0;
}

static int check_network(const json_t *in, struct error **err)
{
    json_t *nc = json_get_object(in, "networkConfiguration");
    if (!nc)
        return 0;
    json_t *aws = json_get_object(nc, "awsvpcConfiguration");
    if (!aws)
        return error_set(err, EINVAL, ERR_INVALID,
                         "networkConfiguration.awsvpcConfiguration is required for awsvpc tasks.");
    json_t *subnets = json_get_array(aws, "subnets");
    if (!subnets || json_array_size(subnets) < 1 || json_array_size(subnets) > 16)
        return error_set(err, EINVAL, ERR_INVALID,
                         "subnets can have at least 1 and at most 16 items.");
    if (json_array_size(json_get_array(aws, "securityGroups")) > 5)
        return error_set(err, EINVAL, ERR_INVALID, "securityGroups can have at most 5 items.");
    return 0;
}

/* Applies containerOverrides: names must exist, each container at most
 * once; sizes non-negative and consistent. Returns the sum of container
 * hard memory limits after overrides in *ret_mem and of cpu in *ret_cpu. */
static int check_container_overrides(const json_t *ov, const json_t *taskdef, long *ret_cpu,
                                     long *ret_mem, struct error **err)
{
    json_t *cos = json_get_array(ov, "containerOverrides");
    size_t i, j;
    json_t *co, *other;
    json_array_foreach(cos, i, co)
    {
        const char *name = json_get_str(co, "name");
        if (!name)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Container overrides must name the container they override.");
        if (!find_container(taskdef, name))
            return error_set(err, EINVAL, ERR_INVALID,
                             "Override for container named %.255s is not a container in the "
                             "TaskDefinition.",
                             name);
        json_array_foreach(cos, j, other)
        {
            const char *o = json_get_str(other, "name");
            if (j > i && o && !strcmp(name, o))
                return error_set(err, EINVAL, ERR_INVALID,
                                 "Container '%.255s' is overridden more than once.", name);
        }
        json_int_t cpu = json_get_int(co, "cpu", 0), mem = json_get_int(co, "memory", 1);
        json_int_t res = json_get_int(co, "memoryReservation", 1);
        if (cpu < 0 || mem < 1 || res < 1)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Container override sizes must be positive (container %.255s).", name);
        if (json_get_array(co, "environmentFiles") &&
            json_array_size(json_get_array(co, "environmentFiles")))
            return error_set(err, EINVAL, ERR_INVALID,
                             "environmentFiles are not supported by skiff (there is no S3).");
        if (json_array_size(json_get_array(co, "resourceRequirements")))
            return error_set(err, EINVAL, ERR_INVALID,
                             "resourceRequirements (GPUs) are not supported on Fargate.");
    }
    long sum_cpu = 0, sum_mem = 0;
    json_t *cd;
    json_array_foreach(json_object_get(taskdef, "containerDefinitions"), i, cd)
    {
        const char *name = json_get_str(cd, "name");
        json_int_t cpu = json_get_int(cd, "cpu", 0), mem = json_get_int(cd, "memory", 0);
        json_int_t res = json_get_int(cd, "memoryReservation", 0);
        json_array_foreach(cos, j, co)
        {
            if (!name || strcmp(name, json_get_str(co, "name")))
                continue;
            cpu = json_get_int(co, "cpu", cpu);
            mem = json_get_int(co, "memory", mem);
            res = json_get_int(co, "memoryReservation", res);
        }
        if (mem && res && res > mem)
            return error_set(err, EINVAL, ERR_INVALID,
                             "Container %.255s: memoryReservation (%lld) must not exceed memory "
                             "(%lld).",
                             name, (long long)res, (long long)mem);
        sum_cpu += (long)cpu;
        sum_mem += (long)(mem ? mem : res);
    }
    *ret_cpu = sum_cpu;
    *ret_mem = sum_mem;
    return 0;
}

int ecs_run_task_validate(const json_t *in, const json_t *taskdef, struct ecs_run_plan *plan,
                          struct error **err)
{
    memset(plan, 0, sizeof(*plan));
    int r = check_launch(in, plan, err);
    if (r < 0)
        return r;
    json_t *count = json_object_get(in, "count");
    plan->count = json_is_integer(count) ? (long)json_integer_value(count) : 1;
    if (plan->count < 1 || plan->count > ECS_RUN_TASK_MAX_COUNT)
        return error_set(err, EINVAL, ERR_INVALID, "count must be between 1 and %d.",
                         ECS_RUN_TASK_MAX_COUNT);
    const char *started_by = json_get_str(in, "startedBy");
    if (started_by && !started_by_valid(started_by))
        return error_set(err, EINVAL, ERR_INVALID,
                         "startedBy can have up to 128 letters, numbers, hyphens, forward "
                         "slashes and underscores.");
    const char *group = json_get_str(in, "group");
    if (group && (strlen(group) < 1 || strlen(group) > 255))
        return error_set(err, EINVAL, ERR_INVALID, "group must be 1-255 characters.");
    const char *pv = json_get_str(in, "platformVersion");
    if (pv && strcmp(pv, "LATEST") != 0 && strcmp(pv, "1.4.0") != 0)
        return error_set(err, EINVAL, "PlatformUnknownException",
                         "The specified platform version '%.64s' does not exist; skiff offers "
                         "LATEST (1.4.0).",
                         pv);
    const char *prop = json_get_str(in, "propagateTags");
    if (prop && !strcmp(prop, "SERVICE"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "propagateTags SERVICE is only valid for tasks a service starts.");
    if (json_get_bool(in, "enableExecuteCommand", false))
        return error_set(err, EINVAL, ERR_INVALID,
                         "ECS Exec (enableExecuteCommand) is not supported by skiff.");
    if (json_array_size(json_get_array(in, "placementConstraints")) ||
        json_array_size(json_get_array(in, "placementStrategy")))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Placement constraints and strategies are not supported on Fargate.");
    if ((r = ecs_tags_validate(json_get_array(in, "tags"), err)) < 0)
        return r;
    if ((r = check_network(in, err)) < 0)
        return r;
    if (!strcmp(json_get_str(taskdef, "status") ? json_get_str(taskdef, "status") : "", "INACTIVE"))
        return error_set(err, EINVAL, ERR_CLIENT,
                         "TaskDefinition is inactive: register a new revision to run it.");

    /* Task size: the definition's, or the overrides'. */
    long cpu = 0, mem = 0;
    const char *tcpu = json_get_str(taskdef, "cpu"), *tmem = json_get_str(taskdef, "memory");
    if (!tcpu || !tmem || ecs_taskdef_parse_cpu(tcpu, &cpu) < 0 ||
        ecs_taskdef_parse_memory(tmem, &mem) < 0)
        return error_set(err, EINVAL, ERR_CLIENT,
                         "The task definition has no valid task-level cpu and memory.");
    json_t *ov = json_get_object(in, "overrides");
    const char *ocpu = json_get_str(ov, "cpu"), *omem = json_get_str(ov, "memory");
    if (ocpu && ecs_taskdef_parse_cpu(ocpu, &cpu) < 0)
        return error_set(err, EINVAL, ERR_INVALID, "Invalid 'cpu' override '%.32s'.", ocpu);
    if (omem && ecs_taskdef_parse_memory(omem, &mem) < 0)
        return error_set(err, EINVAL, ERR_INVALID, "Invalid 'memory' override '%.32s'.", omem);
    if (!ecs_fargate_size_valid(cpu, mem))
        return error_set(err, EINVAL, ERR_CLIENT,
                         "No Fargate configuration exists for given values: %ld CPU, %ld memory. "
                         "Please review the documentation for supported configurations.",
                         cpu, mem);
    long sum_cpu = 0, sum_mem = 0;
    if ((r = check_container_overrides(ov, taskdef, &sum_cpu, &sum_mem, err)) < 0)
        return r;
    if (sum_cpu > cpu)
        return error_set(err, EINVAL, ERR_CLIENT,
                         "The sum of container cpu (%ld) is more than the task's cpu (%ld).",
                         sum_cpu, cpu);
    if (sum_mem > mem)
        return error_set(err, EINVAL, ERR_CLIENT,
                         "The sum of container memory (%ld MiB) is more than the task's memory "
                         "(%ld MiB).",
                         sum_mem, mem);
    plan->ephemeral_gib =
        json_get_int(json_get_object(taskdef, "ephemeralStorage"), "sizeInGiB", 20);
    json_t *eph = json_get_object(ov, "ephemeralStorage");
    if (eph) {
        json_int_t g = json_get_int(eph, "sizeInGiB", 0);
        if (g < 21 || g > 200)
            return error_set(err, EINVAL, ERR_INVALID,
                             "ephemeralStorage.sizeInGiB must be between 21 and 200.");
        plan->ephemeral_gib = (long)g;
    }
    plan->cpu = cpu;
    plan->memory = mem;

    /* The stored overrides echo the request, as ECS does, with the lists it
     * always shows. */
    json_t *o = ov ? json_deep_copy(ov) : json_object();
    if (!json_object_get(o, "containerOverrides"))
        json_object_set_new(o, "containerOverrides", json_array());
    if (!json_object_get(o, "inferenceAcceleratorOverrides"))
        json_object_set_new(o, "inferenceAcceleratorOverrides", json_array());
    plan->overrides = o;
    return 0;
}
