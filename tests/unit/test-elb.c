/* The pure parts of the ELBv2 control plane (src/elb): names, addresses,
 * timestamps, attribute tables, rule conditions and pagination.
 * Table-driven. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "elb/attrs.h"
#include "elb/elb-internal.h"

static void test_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool ok;
    } cases[] = {
        {"web", true},
        {"a", true},
        {"my-lb-1", true},
        {"abcdefghijklmnopqrstuvwxyz012345", true},
        {"abcdefghijklmnopqrstuvwxyz0123456", false},
        {"", false},
        {"-web", false},
        {"web-", false},
        {"we_b", false},
        {"we b", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(elb_name_valid(cases[i].name), cases[i].ok);
}

static void test_ipv4(void **state)
{
    (void)state;
    uint32_t a = 0;
    assert_int_equal(elb_ipv4_parse("172.31.0.10", &a), 0);
    assert_int_equal(a, 172u << 24 | 31u << 16 | 10u);
    assert_int_equal(elb_ipv4_parse("0.0.0.0", &a), 0);
    static const char *const bad[] = {"256.0.0.1", "1.2.3",  "1.2.3.4.5", " 1.2.3.4", "1.2.3.4/8",
                                      "+1.2.3.4",  "i-0123", "",          "::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(elb_ipv4_parse(bad[i], &a), -EINVAL);
}

static void test_timestamp(void **state)
{
    (void)state;
    char *s = elb_timestamp(1795737600123LL);
    assert_string_equal(s, "2026-11-27T00:00:00.123Z");
    free(s);
}

static json_t *kv(const char *k, const char *v)
{
    return json_pack("[{s:s, s:s}]", "Key", k, "Value", v);
}

static void test_attrs(void **state)
{
    (void)state;
    static const struct {
        enum elb_attr_owner owner;
        const char *scope, *key, *value, *code; /* code NULL = accepted */
    } cases[] = {
        {ELB_ATTRS_LB, "application", "idle_timeout.timeout_seconds", "1", NULL},
        {ELB_ATTRS_LB, "application", "idle_timeout.timeout_seconds", "4000", NULL},
        {ELB_ATTRS_LB, "application", "idle_timeout.timeout_seconds", "0", ELB_INVALID_CONFIG},
        {ELB_ATTRS_LB, "application", "idle_timeout.timeout_seconds", "4001", ELB_INVALID_CONFIG},
        {ELB_ATTRS_LB, "application", "idle_timeout.timeout_seconds", "12x", ELB_INVALID_CONFIG},
        {ELB_ATTRS_LB, "network", "idle_timeout.timeout_seconds", "10", ELB_VALIDATION},
        {ELB_ATTRS_LB, "network", "deletion_protection.enabled", "true", NULL},
        {ELB_ATTRS_LB, "network", "deletion_protection.enabled", "TRUE", ELB_INVALID_CONFIG},
        {ELB_ATTRS_LB, "application", "load_balancing.cross_zone.enabled", "true", ELB_VALIDATION},
        {ELB_ATTRS_LB, "application", "nope", "1", ELB_VALIDATION},
        {ELB_ATTRS_TG, "HTTP", "deregistration_delay.timeout_seconds", "0", NULL},
        {ELB_ATTRS_TG, "TCP", "deregistration_delay.timeout_seconds", "3600", NULL},
        {ELB_ATTRS_TG, "TCP", "deregistration_delay.timeout_seconds", "3601", ELB_INVALID_CONFIG},
        {ELB_ATTRS_TG, "HTTP", "stickiness.type", "app_cookie", NULL},
        {ELB_ATTRS_TG, "HTTP", "stickiness.type", "source_ip", ELB_INVALID_CONFIG},
        {ELB_ATTRS_TG, "TCP", "stickiness.type", "source_ip", NULL},
        {ELB_ATTRS_TG, "HTTP", "load_balancing.algorithm.type", "least_outstanding_requests", NULL},
        {ELB_ATTRS_TG, "TCP", "load_balancing.algorithm.type", "round_robin", ELB_VALIDATION},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *attrs = elb_attrs_defaults(cases[i].owner, cases[i].scope);
        json_t *change = kv(cases[i].key, cases[i].value);
        struct error *err = NULL;
        int r = elb_attrs_apply(cases[i].owner, cases[i].scope, attrs, change, &err);
        if (!cases[i].code) {
            assert_int_equal(r, 0);
            assert_string_equal(json_string_value(json_object_get(attrs, cases[i].key)),
                                cases[i].value);
        } else {
            assert_true(r < 0);
            assert_string_equal(err->type, cases[i].code);
        }
        error_free(err);
        json_decref(change);
        json_decref(attrs);
    }
    /* Defaults, answered sorted by key. */
    json_t *attrs = elb_attrs_defaults(ELB_ATTRS_TG, "TCP");
    json_t *list = elb_attrs_list(attrs);
    assert_int_equal(json_array_size(list), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "Key")),
                        "deregistration_delay.connection_termination.enabled");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "Value")),
                        "300");
    json_decref(list);
    json_decref(attrs);
}

static void test_conditions(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *norm; /* NULL = refused with ValidationError */
    } cases[] = {
        {"[{\"Field\": \"path-pattern\", \"Values\": [\"/api/*\"]}]",
         "[{\"Field\": \"path-pattern\", \"Values\": [\"/api/*\"], \"PathPatternConfig\": "
         "{\"Values\": [\"/api/*\"]}}]"},
        {"[{\"Field\": \"host-header\", \"HostHeaderConfig\": {\"Values\": [\"*.example\"]}}]",
         "[{\"Field\": \"host-header\", \"Values\": [\"*.example\"], \"HostHeaderConfig\": "
         "{\"Values\": [\"*.example\"]}}]"},
        {"[{\"Field\": \"http-header\", \"HttpHeaderConfig\": {\"HttpHeaderName\": \"X-A\", "
         "\"Values\": [\"a b\"]}}]",
         "[{\"Field\": \"http-header\", \"HttpHeaderConfig\": {\"HttpHeaderName\": \"X-A\", "
         "\"Values\": [\"a b\"]}}]"},
        {"[{\"Field\": \"http-request-method\", \"HttpRequestMethodConfig\": {\"Values\": "
         "[\"GET\", \"POST\"]}}]",
         "[{\"Field\": \"http-request-method\", \"HttpRequestMethodConfig\": {\"Values\": "
         "[\"GET\", \"POST\"]}}]"},
        {"[]", NULL},
        {"[{\"Field\": \"path-pattern\"}]", NULL},
        {"[{\"Field\": \"path-pattern\", \"Values\": [\"/a\"], \"PathPatternConfig\": "
         "{\"Values\": [\"/b\"]}}]",
         NULL},
        {"[{\"Field\": \"path-pattern\", \"Values\": [\"/a\"]}, {\"Field\": \"path-pattern\", "
         "\"Values\": [\"/b\"]}]",
         NULL},
        {"[{\"Field\": \"path-pattern\", \"Values\": [\"/a\", \"/b\", \"/c\"]}, {\"Field\": "
         "\"host-header\", \"Values\": [\"a\", \"b\", \"c\"]}]",
         NULL},
        {"[{\"Field\": \"host-header\", \"Values\": [\"a/b\"]}]", NULL},
        {"[{\"Field\": \"http-header\", \"HttpHeaderConfig\": {\"HttpHeaderName\": \"X A\", "
         "\"Values\": [\"a\"]}}]",
         NULL},
        {"[{\"Field\": \"http-request-method\", \"HttpRequestMethodConfig\": {\"Values\": "
         "[\"get\"]}}]",
         NULL},
        {"[{\"Field\": \"source-ip\", \"SourceIpConfig\": {\"Values\": [\"10.0.0.0/8\"]}}]", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_loads(cases[i].json, 0, NULL);
        assert_non_null(in);
        json_t *out = NULL;
        struct error *err = NULL;
        int r = elb_conditions_check(in, &out, &err);
        if (cases[i].norm) {
            assert_int_equal(r, 0);
            json_t *want = json_loads(cases[i].norm, 0, NULL);
            assert_true(json_equal(out, want));
            json_decref(want);
        } else {
            assert_true(r < 0);
            assert_string_equal(err->type, ELB_VALIDATION);
        }
        error_free(err);
        json_decref(out);
        json_decref(in);
    }
}

static void test_page(void **state)
{
    (void)state;
    json_t *items = json_array();
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        json_array_append_new(items,
                              json_pack("{s:s, s:{s:s}}", "key", keys[i], "doc", "Name", keys[i]));
    json_t *in = json_pack("{s:i}", "PageSize", 2);
    char seen[8] = "";
    for (int pages = 0; pages < 3; pages++) {
        json_t *out = json_object();
        struct error *err = NULL;
        assert_int_equal(elb_page(in, items, "Things", out, &err), 0);
        size_t i;
        json_t *doc;
        json_array_foreach(json_object_get(out, "Things"), i, doc)
            strcat(seen, json_string_value(json_object_get(doc, "Name")));
        json_t *next = json_object_get(out, "NextMarker");
        assert_int_equal(next != NULL, pages < 2);
        if (next)
            json_object_set(in, "Marker", next);
        json_decref(out);
    }
    assert_string_equal(seen, "abcde");
    static const char *const bad[] = {"!!", ""};
    for (size_t i = 0; i < 2; i++) {
        json_t *b = json_pack("{s:s}", "Marker", bad[i]);
        json_t *out = json_object();
        struct error *err = NULL;
        assert_true(elb_page(b, items, "Things", out, &err) < 0);
        assert_string_equal(err->type, ELB_VALIDATION);
        error_free(err);
        json_decref(out);
        json_decref(b);
    }
    json_decref(in);
    json_decref(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),      cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_timestamp),  cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_conditions), cmocka_unit_test(test_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
