/* Service input checks and spec documents that need no store, kept apart
 * from the handlers in service.c so that they can be tested on their own. */
#include "ecs/service.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "ecs/ecs-internal.h"

#include <errno.h>
#include <string.h>

/* The request members a service spec keeps as given. */
static const char *const spec_members[] = {
    "launchType",           "capacityProviderStrategy",      "platformVersion",
    "networkConfiguration", "healthCheckGracePeriodSeconds", "loadBalancers",
    "serviceRegistries",    "placementConstraints",          "placementStrategy",
    "propagateTags",        "enableECSManagedTags",          "enableExecuteCommand",
};

/* The spec members that make up what a deployment rolls out. */
static const char *const deployment_members[] = {
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
};

void ecs_svc_limits(const json_t *spec, struct ecs_svc_limits *ret)
{
    json_t *dc = json_get_object(spec, "deploymentConfiguration");
    json_t *cb = json_get_object(dc, "deploymentCircuitBreaker");
    ret->max_percent = (int)json_get_int(dc, "maximumPercent", ECS_SVC_DEFAULT_MAX_PERCENT);
    ret->min_percent = (int)json_get_int(dc, "minimumHealthyPercent", ECS_SVC_DEFAULT_MIN_PERCENT);
    ret->breaker = json_get_bool(cb, "enable", false);
    ret->rollback = json_get_bool(cb, "rollback", false);
    ret->grace_ms = json_get_int(spec, "healthCheckGracePeriodSeconds", 0) * 1000;
}

int ecs_svc_breaker_threshold(long desired)
{
    long t = (desired + 1) / 2;
    if (t < 3)
        t = 3;
    if (t > 200)
        t = 200;
    return (int)t;
}

static int check_deployment_config(const json_t *dc, struct error **err)
{
    if (!dc)
        return 0;
    json_int_t max = json_get_int(dc, "maximumPercent", ECS_SVC_DEFAULT_MAX_PERCENT);
    json_int_t min = json_get_int(dc, "minimumHealthyPercent", ECS_SVC_DEFAULT_MIN_PERCENT);
    if (min < 0 || min > 100)
        return error_set(err, EINVAL, ERR_INVALID,
                         "minimumHealthyPercent must be between 0 and 100.");
    if (max < 100 || max > 200)
        return error_set(err, EINVAL, ERR_INVALID, "maximumPercent must be between 100 and 200.");
    if (min == 100 && max == 100)
        return error_set(err, EINVAL, ERR_INVALID,
                         "With minimumHealthyPercent 100 and maximumPercent 100 a deployment "
                         "can neither start new tasks nor stop old ones.");
    json_t *cb = json_object_get(dc, "deploymentCircuitBreaker");
    if (cb && (!json_is_boolean(json_object_get(cb, "enable")) ||
               !json_is_boolean(json_object_get(cb, "rollback"))))
        return error_set(err, EINVAL, ERR_INVALID,
                         "deploymentCircuitBreaker needs both enable and rollback.");
    if (json_object_get(dc, "alarms"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "CloudWatch alarms in deploymentConfiguration are not supported.");
    return 0;
}

/* loadBalancers: stored now, wired to target groups later; each names a
 * target group (ALB/NLB) with a container name and port. */
static int check_load_balancers(const json_t *lbs, struct error **err)
{
    size_t i;
    json_t *lb;
    if (json_array_size(lbs) > 5)
        return error_set(err, EINVAL, ERR_INVALID, "A service can have at most 5 load balancers.");
    json_array_foreach(lbs, i, lb)
    {
        const char *tg = json_get_str(lb, "targetGroupArn");
        if (json_get_str(lb, "loadBalancerName"))
            return error_set(err, EINVAL, ERR_INVALID,
                             "Classic Load Balancers are not supported on Fargate; use "
                             "targetGroupArn.");
        if (!tg || strncmp(tg, "arn:", 4) != 0 || !strstr(tg, ":elasticloadbalancing:") ||
            !strstr(tg, ":targetgroup/"))
            return error_set(err, EINVAL, ERR_INVALID,
                             "loadBalancers need a targetGroupArn of a target group.");
        if (!json_get_str(lb, "containerName") ||
            !json_is_integer(json_object_get(lb, "containerPort")))
            return error_set(err, EINVAL, ERR_INVALID,
                             "loadBalancers need a containerName and a containerPort.");
    }
    return 0;
}

static int check_common(const json_t *in, struct error **err)
{
    int r;
    if ((r = check_deployment_config(json_get_object(in, "deploymentConfiguration"), err)) < 0)
        return r;
    if ((r = check_load_balancers(json_get_array(in, "loadBalancers"), err)) < 0)
        return r;
    json_t *grace = json_object_get(in, "healthCheckGracePeriodSeconds");
    if (grace && (json_integer_value(grace) < 0 || json_integer_value(grace) > 2147483647))
        return error_set(err, EINVAL, ERR_INVALID,
                         "healthCheckGracePeriodSeconds must be between 0 and 2147483647.");
    if (json_array_size(json_get_array(in, "serviceRegistries")))
        return error_set(err, EINVAL, ERR_INVALID, "Service discovery is not supported yet.");
    if (json_object_get(in, "serviceConnectConfiguration"))
        return error_set(err, EINVAL, ERR_INVALID, "Service Connect is not supported yet.");
    return 0;
}

int ecs_svc_spec_from_create(const json_t *in, json_t **ret_spec, struct error **err)
{
    const char *name = json_get_str(in, "serviceName");
    if (!name || !ecs_name_valid(name))
        return error_set(err, EINVAL, ERR_INVALID,
                         "Service name can have up to 255 letters (uppercase and lowercase), "
                         "numbers, underscores, and hyphens.");
    if (!json_get_str(in, "taskDefinition"))
        return error_set(err, EINVAL, ERR_INVALID, "taskDefinition is required.");
    const char *strategy = json_get_str(in, "schedulingStrategy");
    if (strategy && !strcmp(strategy, "DAEMON"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "The daemon scheduling strategy is not supported with the FARGATE "
                         "launch type.");
    json_t *ctl = json_get_object(in, "deploymentController");
    const char *ctl_type = json_get_str(ctl, "type");
    if (ctl_type && strcmp(ctl_type, "ECS") != 0)
        return error_set(err, EINVAL, ERR_INVALID,
                         "Only the ECS (rolling update) deployment controller is supported.");
    json_t *dc = json_object_get(in, "desiredCount");
    json_int_t desired = dc ? json_integer_value(dc) : -1;
    if (desired < 0 || desired > ECS_SVC_MAX_DESIRED)
        return error_set(err, EINVAL, ERR_INVALID,
                         "desiredCount is required and must be between 0 and %d.",
                         ECS_SVC_MAX_DESIRED);
    const char *token = json_get_str(in, "clientToken");
    if (token && (strlen(token) < 1 || strlen(token) > 36))
        return error_set(err, EINVAL, ERR_INVALID, "clientToken must be 1-36 characters.");
    if (json_get_str(in, "role"))
        return error_set(err, EINVAL, ERR_INVALID,
                         "A role cannot be given for a service with the awsvpc network mode.");
    int r = check_common(in, err);
    if (r < 0)
        return r;
    json_t *spec = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(spec_members); i++) {
        json_t *v = json_object_get(in, spec_members[i]);
        if (v)
            json_object_set(spec, spec_members[i], v);
    }
    if (!json_object_get(spec, "launchType") &&
        !json_array_size(json_get_array(spec, "capacityProviderStrategy")))
        json_object_set_new(spec, "launchType", json_string("FARGATE"));
    json_t *conf = json_deep_copy(json_object_get(in, "deploymentConfiguration"));
    if (!conf)
        conf = json_object();
    if (!json_object_get(conf, "maximumPercent"))
        json_object_set_new(conf, "maximumPercent", json_integer(ECS_SVC_DEFAULT_MAX_PERCENT));
    if (!json_object_get(conf, "minimumHealthyPercent"))
        json_object_set_new(conf, "minimumHealthyPercent",
                            json_integer(ECS_SVC_DEFAULT_MIN_PERCENT));
    if (!json_object_get(conf, "deploymentCircuitBreaker"))
        json_object_set_new(conf, "deploymentCircuitBreaker",
                            json_pack("{s:b, s:b}", "enable", 0, "rollback", 0));
    json_object_set_new(spec, "deploymentConfiguration", conf);
    *ret_spec = spec;
    return 0;
}

int ecs_svc_spec_update(const json_t *spec, const json_t *in, json_t **ret_spec, bool *ret_redeploy,
                        struct error **err)
{
    int r = check_common(in, err);
    if (r < 0)
        return r;
    json_t *dc = json_object_get(in, "desiredCount");
    if (dc && (json_integer_value(dc) < 0 || json_integer_value(dc) > ECS_SVC_MAX_DESIRED))
        return error_set(err, EINVAL, ERR_INVALID, "desiredCount must be between 0 and %d.",
                         ECS_SVC_MAX_DESIRED);
    json_t *out = json_deep_copy(spec);
    bool redeploy = false;
    for (size_t i = 0; i < ARRAY_SIZE(spec_members); i++) {
        json_t *v = json_object_get(in, spec_members[i]);
        if (!v)
            continue;
        for (size_t k = 0; k < ARRAY_SIZE(deployment_members); k++)
            if (!strcmp(spec_members[i], deployment_members[k]) &&
                !json_equal(v, json_object_get(out, spec_members[i])))
                redeploy = true;
        /* New target groups: new tasks register there (and are checked,
         * which a deployment does), old ones leave as they go. */
        if (!strcmp(spec_members[i], "loadBalancers") &&
            !json_equal(v, json_object_get(out, spec_members[i])))
            redeploy = true;
        json_object_set(out, spec_members[i], v);
    }
    /* A strategy replaces the launch type and the other way round. */
    if (json_array_size(json_get_array(in, "capacityProviderStrategy")))
        json_object_del(out, "launchType");
    else if (json_get_str(in, "launchType"))
        json_object_del(out, "capacityProviderStrategy");
    json_t *newdc = json_get_object(in, "deploymentConfiguration");
    if (newdc) {
        json_t *conf = json_object_get(out, "deploymentConfiguration");
        const char *keys[] = {"maximumPercent", "minimumHealthyPercent",
                              "deploymentCircuitBreaker"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
            if (json_object_get(newdc, keys[i]))
                json_object_set(conf, keys[i], json_object_get(newdc, keys[i]));
        if ((r = check_deployment_config(conf, err)) < 0) {
            json_decref(out);
            return r;
        }
    }
    *ret_spec = out;
    *ret_redeploy = redeploy;
    return 0;
}

json_t *ecs_svc_deployment_spec(const json_t *spec)
{
    json_t *d = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(deployment_members); i++) {
        json_t *v = json_object_get(spec, deployment_members[i]);
        if (v)
            json_object_set(d, deployment_members[i], v);
    }
    return d;
}

int ecs_svc_check_taskdef(const json_t *spec, const json_t *taskdef, struct error **err)
{
    size_t i, j, k;
    json_t *lb, *cd, *pm;
    json_array_foreach(json_get_array(spec, "loadBalancers"), i, lb)
    {
        const char *name = json_get_str(lb, "containerName");
        json_int_t port = json_get_int(lb, "containerPort", -1);
        bool found = false;
        json_array_foreach(json_get_array(taskdef, "containerDefinitions"), j, cd)
        {
            if (strcmp(json_get_str(cd, "name") ? json_get_str(cd, "name") : "", name) != 0)
                continue;
            json_array_foreach(json_get_array(cd, "portMappings"), k, pm) found |=
                json_get_int(pm, "containerPort", -2) == port;
        }
        if (!found)
            return error_set(err, EINVAL, ERR_INVALID,
                             "The container %.255s did not have a container port %lld defined.",
                             name, (long long)port);
    }
    return 0;
}

json_t *ecs_svc_run_request(const json_t *spec, const json_t *dep_spec, const char *deployment_id,
                            const char *service_name, const json_t *service_tags)
{
    json_t *in = json_deep_copy(dep_spec);
    json_object_set_new(in, "startedBy", json_string(deployment_id));
    _cleanup_free_ char *group = xasprintf("service:%s", service_name);
    json_object_set_new(in, "group", json_string(group));
    const char *prop = json_get_str(spec, "propagateTags");
    if (prop && !strcmp(prop, "TASK_DEFINITION"))
        json_object_set_new(in, "propagateTags", json_string("TASK_DEFINITION"));
    else if (prop && !strcmp(prop, "SERVICE") && json_array_size(service_tags))
        json_object_set(in, "tags", (json_t *)service_tags);
    if (json_get_bool(spec, "enableECSManagedTags", false))
        json_object_set_new(in, "enableECSManagedTags", json_true());
    return in;
}

void ecs_svc_new_deployment_id(char out[28])
{
    uint8_t b[19];
    hash_random(b, sizeof(b));
    memcpy(out, "ecs-svc/", 8);
    for (size_t i = 0; i < 19; i++)
        out[8 + i] = (char)('0' + b[i] % 10);
    if (out[8] == '0')
        out[8] = '1';
    out[27] = '\0';
}
