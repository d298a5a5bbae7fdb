/* Request validation against a service model: a small hand-written model
 * that has one of every shape feature, then a few cases against the real
 * embedded ECS model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "api/model.h"
#include "base/buf.h"
#include "base/cleanup.h"

extern const char ecs_model_json[];

static const char test_model[] =
    "{\"metadata\": {\"targetPrefix\": \"Test_20240101\", \"signingName\": \"test\"},"
    " \"operations\": {\"Create\": \"CreateRequest\", \"NoInput\": null},"
    " \"shapes\": {"
    "  \"CreateRequest\": {\"type\": \"structure\", \"required\": [\"name\", \"size\"],"
    "   \"members\": {\"name\": {\"shape\": \"Name\"}, \"size\": {\"shape\": \"Size\"},"
    "    \"count\": {\"shape\": \"Count\"}, \"big\": {\"shape\": \"Long\"},"
    "    \"flag\": {\"shape\": \"Bool\"}, \"when\": {\"shape\": \"Time\"},"
    "    \"data\": {\"shape\": \"Blob\"}, \"ratio\": {\"shape\": \"Double\"},"
    "    \"color\": {\"shape\": \"Color\"}, \"tags\": {\"shape\": \"TagList\"},"
    "    \"labels\": {\"shape\": \"Labels\"}, \"inner\": {\"shape\": \"Inner\"},"
    "    \"free\": {\"shape\": \"String\"}, \"items\": {\"shape\": \"ItemList\"}}},"
    "  \"Name\": {\"type\": \"string\", \"min\": 1, \"max\": 8},"
    "  \"Size\": {\"type\": \"integer\", \"min\": 1, \"max\": 10},"
    "  \"Count\": {\"type\": \"integer\"},"
    "  \"Long\": {\"type\": \"long\", \"min\": -5},"
    "  \"Bool\": {\"type\": \"boolean\"},"
    "  \"Time\": {\"type\": \"timestamp\"},"
    "  \"Blob\": {\"type\": \"blob\"},"
    "  \"Double\": {\"type\": \"double\"},"
    "  \"Color\": {\"type\": \"string\", \"enum\": [\"RED\", \"GREEN\"]},"
    "  \"TagList\": {\"type\": \"list\", \"member\": {\"shape\": \"Tag\"}, \"min\": 1, \"max\": 2},"
    "  \"Tag\": {\"type\": \"structure\", \"required\": [\"key\"],"
    "   \"members\": {\"key\": {\"shape\": \"Name\"}, \"value\": {\"shape\": \"String\"}}},"
    "  \"Labels\": {\"type\": \"map\", \"key\": {\"shape\": \"Name\"},"
    "   \"value\": {\"shape\": \"Size\"}, \"max\": 2},"
    "  \"Inner\": {\"type\": \"structure\","
    "   \"members\": {\"deep\": {\"shape\": \"Inner\"}, \"color\": {\"shape\": \"Color\"}}},"
    "  \"String\": {\"type\": \"string\"},"
    "  \"ItemList\": {\"type\": \"list\", \"member\": {\"shape\": \"String\"}}"
    " }}";

struct vcase {
    const char *json;
    const char *type; /* NULL: valid */
    const char *msg;  /* the whole expected message */
};

static const struct vcase cases[] = {
    /* valid */
    {"{\"name\": \"a\", \"size\": 1}", NULL, NULL},
    {"{\"name\": \"abcdefgh\", \"size\": 10, \"count\": -2147483648, \"big\": 1099511627776,"
     " \"flag\": false, \"when\": 1.5, \"data\": \"aGk=\", \"ratio\": 3, \"color\": \"GREEN\","
     " \"tags\": [{\"key\": \"k\", \"value\": \"v\"}, {\"key\": \"k2\"}],"
     " \"labels\": {\"a\": 1, \"b\": 10}, \"inner\": {\"deep\": {\"color\": \"RED\"}},"
     " \"free\": \"\", \"items\": []}",
     NULL, NULL},
    {"{\"name\": \"a\", \"size\": 1, \"count\": 2147483647, \"big\": -5, \"when\": 0,"
     " \"ratio\": -0.5}",
     NULL, NULL},
    /* unknown members are ignored, whatever they hold */
    {"{\"name\": \"a\", \"size\": 1, \"bogus\": [1, {\"x\": null}], \"Name\": 5}", NULL, NULL},
    /* null is absent */
    {"{\"name\": \"a\", \"size\": 1, \"count\": null, \"tags\": null, \"inner\": {\"deep\": null}}",
     NULL, NULL},
    {"{\"name\": \"a\", \"size\": 1, \"labels\": {\"a\": null}}", NULL, NULL},
    /* lengths count characters, not bytes: 8 two-byte characters */
    {"{\"name\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\", \"size\": "
     "1}",
     NULL, NULL},

    /* required members */
    {"{}", "InvalidParameterException", "Missing required parameter 'name'"},
    {"{\"name\": \"a\"}", "InvalidParameterException", "Missing required parameter 'size'"},
    {"{\"name\": null, \"size\": 1}", "InvalidParameterException",
     "Missing required parameter 'name'"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": [{\"value\": \"v\"}]}", "InvalidParameterException",
     "Missing required parameter 'tags[0].key'"},

    /* wrong JSON types */
    {"{\"name\": 5, \"size\": 1}", "SerializationException",
     "Expected a string for 'name', got an integer"},
    {"{\"name\": \"a\", \"size\": \"3\"}", "SerializationException",
     "Expected an integer for 'size', got a string"},
    {"{\"name\": \"a\", \"size\": 1.0}", "SerializationException",
     "Expected an integer for 'size', got a number"},
    {"{\"name\": \"a\", \"size\": 1, \"big\": true}", "SerializationException",
     "Expected an integer for 'big', got a boolean"},
    {"{\"name\": \"a\", \"size\": 1, \"flag\": \"true\"}", "SerializationException",
     "Expected a boolean for 'flag', got a string"},
    {"{\"name\": \"a\", \"size\": 1, \"flag\": 1}", "SerializationException",
     "Expected a boolean for 'flag', got an integer"},
    {"{\"name\": \"a\", \"size\": 1, \"when\": \"2020-01-01\"}", "SerializationException",
     "Expected a timestamp (seconds since the epoch) for 'when', got a string"},
    {"{\"name\": \"a\", \"size\": 1, \"data\": 5}", "SerializationException",
     "Expected a base64 string for 'data', got an integer"},
    {"{\"name\": \"a\", \"size\": 1, \"ratio\": \"x\"}", "SerializationException",
     "Expected a number for 'ratio', got a string"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": {}}", "SerializationException",
     "Expected a list for 'tags', got an object"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": [\"x\"]}", "SerializationException",
     "Expected an object for 'tags[0]', got a string"},
    {"{\"name\": \"a\", \"size\": 1, \"labels\": []}", "SerializationException",
     "Expected a map for 'labels', got a list"},
    {"{\"name\": \"a\", \"size\": 1, \"inner\": [1]}", "SerializationException",
     "Expected an object for 'inner', got a list"},
    {"{\"name\": \"a\", \"size\": 1, \"count\": 2147483648}", "SerializationException",
     "'count' does not fit in a 32-bit integer"},
    {"{\"name\": \"a\", \"size\": 1, \"count\": -2147483649}", "SerializationException",
     "'count' does not fit in a 32-bit integer"},

    /* lengths, ranges, enums */
    {"{\"name\": \"\", \"size\": 1}", "InvalidParameterException",
     "'name' must have at least 1 characters"},
    {"{\"name\": \"abcdefghi\", \"size\": 1}", "InvalidParameterException",
     "'name' must have at most 8 characters"},
    {"{\"name\": \"a\", \"size\": 0}", "InvalidParameterException", "'size' must be at least 1"},
    {"{\"name\": \"a\", \"size\": 11}", "InvalidParameterException", "'size' must be at most 10"},
    {"{\"name\": \"a\", \"size\": 1, \"big\": -6}", "InvalidParameterException",
     "'big' must be at least -5"},
    {"{\"name\": \"a\", \"size\": 1, \"color\": \"BLUE\"}", "InvalidParameterException",
     "'color' has an invalid value; valid values are: RED, GREEN"},
    {"{\"name\": \"a\", \"size\": 1, \"color\": \"red\"}", "InvalidParameterException",
     "'color' has an invalid value; valid values are: RED, GREEN"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": []}", "InvalidParameterException",
     "'tags' must have at least 1 items"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": [{\"key\": \"a\"}, {\"key\": \"b\"}, {\"key\": "
     "\"c\"}]}",
     "InvalidParameterException", "'tags' must have at most 2 items"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": [{\"key\": \"a\"}, {\"key\": \"\"}]}",
     "InvalidParameterException", "'tags[1].key' must have at least 1 characters"},
    {"{\"name\": \"a\", \"size\": 1, \"tags\": [null]}", "InvalidParameterException",
     "'tags' contains null"},
    {"{\"name\": \"a\", \"size\": 1, \"labels\": {\"a\": 1, \"b\": 2, \"c\": 3}}",
     "InvalidParameterException", "'labels' must have at most 2 entries"},
    {"{\"name\": \"a\", \"size\": 1, \"labels\": {\"toolongkey\": 1}}", "InvalidParameterException",
     "'labels.toolongkey' must have at most 8 characters"},
    {"{\"name\": \"a\", \"size\": 1, \"labels\": {\"a\": 0}}", "InvalidParameterException",
     "'labels.a' must be at least 1"},
    {"{\"name\": \"a\", \"size\": 1, \"labels\": {\"a\": \"1\"}}", "SerializationException",
     "Expected an integer for 'labels.a', got a string"},
    {"{\"name\": \"a\", \"size\": 1, \"inner\": {\"deep\": {\"deep\": {\"color\": \"X\"}}}}",
     "InvalidParameterException",
     "'inner.deep.deep.color' has an invalid value; valid values are: RED, GREEN"},
    /* the first problem in document order is the one reported */
    {"{\"name\": \"a\", \"size\": 1, \"color\": \"X\", \"flag\": 3}", "InvalidParameterException",
     "'color' has an invalid value; valid values are: RED, GREEN"},
};

static void check(const struct model *m, const char *shape, const char *text, const char *type,
                  const char *msg)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    print_message("%s\n", text);
    assert_non_null(v);
    _cleanup_error_ struct error *err = NULL;
    int r = model_validate(m, shape, v, &err);
    json_decref(v);
    if (!type) {
        if (r != 0)
            print_message("unexpected error: %s\n", err->msg);
        assert_int_equal(r, 0);
        assert_null(err);
        return;
    }
    assert_int_equal(r, -EINVAL);
    assert_non_null(err);
    assert_string_equal(err->type, type);
    assert_string_equal(err->msg, msg);
}

static void test_cases(void **state)
{
    (void)state;
    struct model *m = model_new(test_model);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        check(m, "CreateRequest", cases[i].json, cases[i].type, cases[i].msg);
    model_free(m);
}

static void test_lookup(void **state)
{
    (void)state;
    struct model *m = model_new(test_model);
    assert_string_equal(model_op_input(m, "Create"), "CreateRequest");
    assert_string_equal(model_op_input(m, "NoInput"), "");
    assert_null(model_op_input(m, "Missing"));
    assert_null(model_op_input(m, "create"));
    assert_string_equal(model_metadata(m, "targetPrefix"), "Test_20240101");
    assert_null(model_metadata(m, "nope"));
    /* a shape the model does not have validates nothing */
    json_t *v = json_integer(1);
    assert_int_equal(model_validate(m, "Nope", v, NULL), 0);
    json_decref(v);
    /* the top level must be an object */
    check(m, "CreateRequest", "[]", "SerializationException",
          "Expected an object for 'request', got a list");
    model_free(m);
}

/* Drops the last n bytes. */
static void truncate_buf(struct buf *b, size_t n)
{
    b->len -= n;
    b->data[b->len] = '\0';
}

/* Caps for what the model leaves unbounded, and nesting depth. */
static void test_caps(void **state)
{
    (void)state;
    struct model *m = model_new(test_model);
    struct buf b;
    buf_init(&b, 0);

    buf_puts(&b, "{\"name\": \"a\", \"size\": 1, \"free\": \"");
    for (int i = 0; i < MODEL_MAX_STRING; i++)
        buf_puts(&b, "x");
    buf_puts(&b, "\"}");
    check(m, "CreateRequest", b.data, NULL, NULL);
    truncate_buf(&b, 2);
    buf_puts(&b, "x\"}");
    check(m, "CreateRequest", b.data, "InvalidParameterException",
          "'free' is longer than 65536 bytes");

    buf_reset(&b);
    buf_puts(&b, "{\"name\": \"a\", \"size\": 1, \"items\": [\"\"");
    for (int i = 1; i < MODEL_MAX_ENTRIES; i++)
        buf_puts(&b, ",\"\"");
    buf_puts(&b, "]}");
    check(m, "CreateRequest", b.data, NULL, NULL);
    truncate_buf(&b, 2);
    buf_puts(&b, ",\"\"]}");
    check(m, "CreateRequest", b.data, "InvalidParameterException",
          "'items' must have at most 10000 items");

    /* 63 levels of inner.deep are fine; 70 are not */
    for (int depth = 63; depth <= 70; depth += 7) {
        buf_reset(&b);
        buf_puts(&b, "{\"name\": \"a\", \"size\": 1, \"inner\": ");
        for (int i = 0; i < depth; i++)
            buf_puts(&b, "{\"deep\": ");
        buf_puts(&b, "{}");
        for (int i = 0; i < depth; i++)
            buf_puts(&b, "}");
        buf_puts(&b, "}");
        json_t *v = json_loads(b.data, 0, NULL);
        assert_non_null(v);
        _cleanup_error_ struct error *err = NULL;
        int r = model_validate(m, "CreateRequest", v, &err);
        json_decref(v);
        if (depth == 63) {
            assert_int_equal(r, 0);
        } else {
            assert_int_equal(r, -EINVAL);
            assert_string_equal(err->type, "InvalidParameterException");
            assert_non_null(strstr(err->msg, "is nested too deeply"));
        }
    }
    buf_done(&b);
    model_free(m);
}

/* The real ECS model, as embedded from botocore. */
static const struct ecs_case {
    const char *op;
    const char *json;
    const char *type;
    const char *msg;
} ecs_cases[] = {
    {"CreateCluster", "{}", NULL, NULL},
    {"CreateCluster", "{\"clusterName\": \"x\", \"tags\": [{\"key\": \"a\", \"value\": \"b\"}]}",
     NULL, NULL},
    {"CreateCluster", "{\"clusterName\": 5}", "SerializationException",
     "Expected a string for 'clusterName', got an integer"},
    {"CreateCluster", "{\"tags\": [{\"key\": \"\"}]}", "InvalidParameterException",
     "'tags[0].key' must have at least 1 characters"},
    {"DescribeClusters", "{\"clusters\": \"default\"}", "SerializationException",
     "Expected a list for 'clusters', got a string"},
    {"RegisterTaskDefinition", "{}", "InvalidParameterException",
     "Missing required parameter 'family'"},
    {"RegisterTaskDefinition", "{\"family\": \"f\"}", "InvalidParameterException",
     "Missing required parameter 'containerDefinitions'"},
    {"RegisterTaskDefinition",
     "{\"family\": \"f\", \"containerDefinitions\": [{\"name\": \"a\", \"image\": \"x\","
     " \"portMappings\": [{\"containerPort\": 80}, {\"containerPort\": \"80\"}]}]}",
     "SerializationException",
     "Expected an integer for 'containerDefinitions[0].portMappings[1].containerPort', got a "
     "string"},
    {"RegisterTaskDefinition",
     "{\"family\": \"f\", \"networkMode\": \"bogus\", \"containerDefinitions\": []}",
     "InvalidParameterException",
     "'networkMode' has an invalid value; valid values are: bridge, host, awsvpc, none"},
    {"RegisterTaskDefinition",
     "{\"family\": \"f\", \"containerDefinitions\": [{\"name\": \"a\", \"essential\": \"yes\"}]}",
     "SerializationException",
     "Expected a boolean for 'containerDefinitions[0].essential', got a string"},
    {"TagResource", "{\"resourceArn\": \"arn:aws:ecs:us-east-1:123456789012:cluster/x\"}",
     "InvalidParameterException", "Missing required parameter 'tags'"},
};

static void test_ecs_model(void **state)
{
    (void)state;
    struct model *m = model_new(ecs_model_json);
    assert_string_equal(model_metadata(m, "targetPrefix"), "AmazonEC2ContainerServiceV20141113");
    assert_string_equal(model_metadata(m, "endpointPrefix"), "ecs");
    assert_string_equal(model_op_input(m, "CreateCluster"), "CreateClusterRequest");
    assert_null(model_op_input(m, "LaunchRocket"));
    for (size_t i = 0; i < ARRAY_SIZE(ecs_cases); i++)
        check(m, model_op_input(m, ecs_cases[i].op), ecs_cases[i].json, ecs_cases[i].type,
              ecs_cases[i].msg);

    /* Tags has max 50 */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"resourceArn\": \"arn:aws:ecs:us-east-1:123456789012:cluster/x\", \"tags\": [");
    for (int i = 0; i < 51; i++)
        buf_printf(&b, "%s{\"key\": \"k%d\", \"value\": \"v\"}", i ? "," : "", i);
    buf_puts(&b, "]}");
    check(m, "TagResourceRequest", b.data, "InvalidParameterException",
          "'tags' must have at most 50 items");
    buf_done(&b);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_ecs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
