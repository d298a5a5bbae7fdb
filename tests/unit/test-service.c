/* Service checks and documents (ecs/service_validate.c): table-driven,
 * request JSON in, accepted or the error type out; the circuit breaker's
 * threshold; the spec and the RunTask-shaped request built from it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "ecs/service.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v)
        fail_msg("bad JSON in test: %s: %s", text, jerr.text);
    return v;
}

static void test_breaker_threshold(void **state)
{
    (void)state;
    static const struct {
        long desired;
        int want;
    } cases[] = {
        {0, 3}, {1, 3}, {2, 3}, {5, 3}, {6, 3}, {7, 4}, {10, 5}, {100, 50}, {399, 200}, {5000, 200},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(ecs_svc_breaker_threshold(cases[i].desired), cases[i].want);
}

static void test_create_checks(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        const char *err; /* NULL: accepted */
    } cases[] = {
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 2}", NULL},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 0}", NULL},
        {"{\"serviceName\": \"w b\", \"taskDefinition\": \"td\", \"desiredCount\": 1}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"desiredCount\": 1}", "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\"}", "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": -1}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 5001}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"schedulingStrategy\": \"DAEMON\"}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"deploymentController\": {\"type\": \"CODE_DEPLOY\"}}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"deploymentConfiguration\": {\"maximumPercent\": 99}}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"deploymentConfiguration\": {\"minimumHealthyPercent\": 100, \"maximumPercent\": "
         "100}}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"deploymentConfiguration\": {\"minimumHealthyPercent\": 50, \"maximumPercent\": "
         "100}}",
         NULL},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"deploymentConfiguration\": {\"deploymentCircuitBreaker\": {\"enable\": true}}}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"loadBalancers\": [{\"loadBalancerName\": \"clb\", \"containerName\": \"w\", "
         "\"containerPort\": 80}]}",
         "InvalidParameterException"},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"loadBalancers\": [{\"targetGroupArn\": \"arn:aws:elasticloadbalancing:us-east-1:"
         "123456789012:targetgroup/tg/1\", \"containerName\": \"w\", \"containerPort\": 80}]}",
         NULL},
        {"{\"serviceName\": \"web\", \"taskDefinition\": \"td\", \"desiredCount\": 1, "
         "\"clientToken\": \"0123456789012345678901234567890123456\"}",
         "InvalidParameterException"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        json_t *in = parse(cases[i].req);
        json_t *spec = NULL;
        _cleanup_error_ struct error *err = NULL;
        int r = ecs_svc_spec_from_create(in, &spec, &err);
        if (cases[i].err) {
            if (r == 0)
                fail_msg("case %zu accepted: %s", i, cases[i].req);
            assert_string_equal(err->type, cases[i].err);
        } else {
            if (r < 0)
                fail_msg("case %zu refused: %s: %s", i, cases[i].req, err->msg);
            assert_non_null(spec);
        }
        json_decref(spec);
        json_decref(in);
    }
}

static void test_spec_defaults_and_limits(void **state)
{
    (void)state;
    json_t *in = parse("{\"serviceName\": \"web\", \"taskDefinition\": \"td\", "
                       "\"desiredCount\": 3, \"healthCheckGracePeriodSeconds\": 7, "
                       "\"propagateTags\": \"SERVICE\", \"enableECSManagedTags\": true}");
    json_t *spec = NULL;
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(ecs_svc_spec_from_create(in, &spec, &err), 0);
    assert_string_equal(json_get_str(spec, "launchType"), "FARGATE");
    struct ecs_svc_limits lim;
    ecs_svc_limits(spec, &lim);
    assert_int_equal(lim.max_percent, 200);
    assert_int_equal(lim.min_percent, 100);
    assert_false(lim.breaker);
    assert_int_equal(lim.grace_ms, 7000);

    /* The request tasks are launched with. */
    json_t *dspec = ecs_svc_deployment_spec(spec);
    assert_null(json_object_get(dspec, "propagateTags"));
    json_t *tags = parse("[{\"key\": \"team\", \"value\": \"a\"}]");
    json_t *run = ecs_svc_run_request(spec, dspec, "ecs-svc/1234567890123456789", "web", tags);
    assert_string_equal(json_get_str(run, "startedBy"), "ecs-svc/1234567890123456789");
    assert_string_equal(json_get_str(run, "group"), "service:web");
    assert_string_equal(json_get_str(run, "launchType"), "FARGATE");
    assert_true(json_equal(json_object_get(run, "tags"), tags));
    assert_null(json_object_get(run, "propagateTags"));
    assert_true(json_get_bool(run, "enableECSManagedTags", false));

    /* An update: a new network configuration asks for a new deployment,
     * a new deployment configuration does not. */
    json_t *upd = parse("{\"deploymentConfiguration\": {\"minimumHealthyPercent\": 50}}");
    json_t *spec2 = NULL;
    bool redeploy = true;
    assert_int_equal(ecs_svc_spec_update(spec, upd, &spec2, &redeploy, &err), 0);
    assert_false(redeploy);
    ecs_svc_limits(spec2, &lim);
    assert_int_equal(lim.min_percent, 50);
    assert_int_equal(lim.max_percent, 200);
    json_decref(spec2);
    json_decref(upd);
    upd = parse("{\"networkConfiguration\": {\"awsvpcConfiguration\": {\"subnets\": "
                "[\"subnet-1\"]}}}");
    assert_int_equal(ecs_svc_spec_update(spec, upd, &spec2, &redeploy, &err), 0);
    assert_true(redeploy);
    json_decref(spec2);
    json_decref(upd);

    json_decref(run);
    json_decref(tags);
    json_decref(dspec);
    json_decref(spec);
    json_decref(in);
}

static void test_deployment_ids(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        char id[28];
        ecs_svc_new_deployment_id(id);
        assert_int_equal(strlen(id), 27);
        assert_memory_equal(id, "ecs-svc/", 8);
        assert_true(id[8] >= '1' && id[8] <= '9');
        for (int k = 9; k < 27; k++)
            assert_true(id[k] >= '0' && id[k] <= '9');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_threshold),
        cmocka_unit_test(test_create_checks),
        cmocka_unit_test(test_spec_defaults_and_limits),
        cmocka_unit_test(test_deployment_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
