/* The query protocols (src/api/query.c): form decoding along a small
 * hand-written model in both dialects, XML rendering and errors, then the
 * EC2 CIDR helpers (src/ec2/common.c). Table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "ec2/ec2-internal.h"

static const char model_text[] =
    "{\"metadata\": {\"apiVersion\": \"2016-11-15\"},"
    " \"operations\": {\"Make\": \"MakeRequest\", \"Bare\": null},"
    " \"shapes\": {"
    "  \"MakeRequest\": {\"type\": \"structure\", \"members\": {"
    "    \"CidrBlock\": {\"shape\": \"String\"},"
    "    \"DryRun\": {\"shape\": \"Boolean\", \"locationName\": \"dryRun\"},"
    "    \"Count\": {\"shape\": \"Integer\"},"
    "    \"Filters\": {\"shape\": \"FilterList\", \"locationName\": \"Filter\"},"
    "    \"Ids\": {\"shape\": \"IdList\", \"locationName\": \"Id\"},"
    "    \"Named\": {\"shape\": \"String\", \"queryName\": \"Other\"},"
    "    \"Attrs\": {\"shape\": \"AttrMap\"}}},"
    "  \"String\": {\"type\": \"string\"},"
    "  \"Boolean\": {\"type\": \"boolean\"},"
    "  \"Integer\": {\"type\": \"integer\"},"
    "  \"FilterList\": {\"type\": \"list\", \"member\": {\"shape\": \"Filter\", "
    "\"locationName\": \"Filter\"}},"
    "  \"Filter\": {\"type\": \"structure\", \"members\": {"
    "    \"Name\": {\"shape\": \"String\"},"
    "    \"Values\": {\"shape\": \"IdList\", \"locationName\": \"Value\"}}},"
    "  \"IdList\": {\"type\": \"list\", \"member\": {\"shape\": \"String\", "
    "\"locationName\": \"item\"}},"
    "  \"AttrMap\": {\"type\": \"map\", \"key\": {\"shape\": \"String\"}, "
    "\"value\": {\"shape\": \"String\"}}}}";

struct decode_case {
    enum query_dialect dialect;
    const char *body;
    const char *want_json; /* NULL: an error */
    const char *want_code;
};

static const struct decode_case decode_cases[] = {
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&CidrBlock=10.0.0.0%2F16",
     "{\"CidrBlock\": \"10.0.0.0/16\"}", NULL},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&DryRun=true&Count=-3",
     "{\"DryRun\": true, \"Count\": -3}", NULL},
    {QUERY_DIALECT_EC2,
     "Action=Make&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=a&Filter.1.Value.2=b"
     "&Filter.2.Name=x+y",
     "{\"Filters\": [{\"Name\": \"vpc-id\", \"Values\": [\"a\", \"b\"]}, {\"Name\": \"x y\"}]}",
     NULL},
    /* ec2 lists are Name.N; a gap ends the list. */
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&Id.1=a&Id.2=b&Id.4=d",
     "{\"Ids\": [\"a\", \"b\"]}", NULL},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&Other=q", "{\"Named\": \"q\"}", NULL},
    /* The plain query dialect: lists as Name.member.N (here the member's
     * locationName), names uncapitalised, maps as entry.N. */
    {QUERY_DIALECT_AWS,
     "Action=Make&Version=2016-11-15&dryRun=false&Id.item.1=a&Attrs.entry.1.key=k"
     "&Attrs.entry.1.value=v",
     "{\"DryRun\": false, \"Ids\": [\"a\"], \"Attrs\": {\"k\": \"v\"}}", NULL},
    {QUERY_DIALECT_AWS, "Action=Make&Version=2016-11-15&Id=", "{\"Ids\": []}", NULL},
    {QUERY_DIALECT_EC2, "Action=Bare&Version=2016-11-15&Whatever=1", "{}", NULL},
    {QUERY_DIALECT_EC2, "Version=2016-11-15", NULL, "MissingAction"},
    {QUERY_DIALECT_EC2, "Action=Nope&Version=2016-11-15", NULL, "InvalidAction"},
    {QUERY_DIALECT_EC2, "Action=Make", NULL, "MissingParameter"},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2015-01-01", NULL, "InvalidParameterValue"},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&Count=3x", NULL, "InvalidParameterValue"},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&DryRun=yes", NULL, "InvalidParameterValue"},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&CidrBlock=%zz", NULL,
     "InvalidParameterCombination"},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&CidrBlock=%00", NULL,
     "InvalidParameterCombination"},
    {QUERY_DIALECT_EC2, "Action=Make&Version=2016-11-15&CidrBlock=%4", NULL,
     "InvalidParameterCombination"},
};

static void test_decode(void **state)
{
    (void)state;
    json_t *model = json_loads(model_text, 0, NULL);
    assert_non_null(model);
    for (size_t i = 0; i < ARRAY_SIZE(decode_cases); i++) {
        const struct decode_case *c = &decode_cases[i];
        char *action = NULL;
        json_t *in = NULL;
        struct error *err = NULL;
        int r = query_decode(model, c->dialect, c->body, strlen(c->body), &action, &in, &err);
        if (c->want_json) {
            if (r < 0)
                fail_msg("case %zu: %s", i, err->msg);
            json_t *want = json_loads(c->want_json, 0, NULL);
            if (!json_equal(in, want)) {
                char *got = json_dumps(in, 0);
                fail_msg("case %zu: got %s", i, got);
            }
            json_decref(want);
        } else {
            assert_true(r < 0);
            if (strcmp(err->type, c->want_code) != 0)
                fail_msg("case %zu: got %s (%s)", i, err->type, err->msg);
        }
        free(action);
        json_decref(in);
        error_free(err);
    }
    json_decref(model);
}

static void test_render(void **state)
{
    (void)state;
    json_t *out = json_pack("{s:[{s:s, s:b}], s:i}", "vpcSet", "vpcId", "vpc-1<&>", "isDefault", 1,
                            "count", 2);
    char *x = query_render(QUERY_DIALECT_EC2, "DescribeVpcs", out, "req-1", "urn:x");
    assert_non_null(strstr(x, "<DescribeVpcsResponse xmlns=\"urn:x\"><requestId>req-1</requestId>"
                              "<vpcSet><item><vpcId>vpc-1&lt;&amp;&gt;</vpcId>"
                              "<isDefault>true</isDefault></item></vpcSet><count>2</count>"
                              "</DescribeVpcsResponse>"));
    free(x);
    x = query_render(QUERY_DIALECT_AWS, "ListThings", out, "req-2", NULL);
    assert_non_null(strstr(x, "<ListThingsResponse><ListThingsResult><vpcSet><member>"));
    assert_non_null(strstr(x, "</ListThingsResult><ResponseMetadata><RequestId>req-2"
                              "</RequestId></ResponseMetadata></ListThingsResponse>"));
    free(x);
    json_decref(out);
    x = query_render_error(QUERY_DIALECT_EC2, 400, "InvalidVpcID.NotFound", "no 'x'", "r");
    assert_non_null(strstr(x, "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code>"
                              "<Message>no &apos;x&apos;</Message></Error></Errors>"
                              "<RequestID>r</RequestID></Response>"));
    free(x);
    x = query_render_error(QUERY_DIALECT_AWS, 500, "InternalFailure", "m", "r");
    assert_non_null(strstr(x, "<ErrorResponse><Error><Type>Receiver</Type><Code>"
                              "InternalFailure</Code>"));
    free(x);
    assert_string_equal(
        query_error_code(QUERY_DIALECT_EC2, ERR_INVALID, "Missing required parameter 'x'"),
        "MissingParameter");
    assert_string_equal(query_error_code(QUERY_DIALECT_EC2, ERR_THROTTLE, NULL),
                        "RequestLimitExceeded");
    assert_string_equal(query_error_code(QUERY_DIALECT_AWS, ERR_THROTTLE, NULL), "Throttling");
    assert_string_equal(query_error_code(QUERY_DIALECT_EC2, "Other", NULL), "Other");
}

static const struct {
    const char *in;
    const char *canon; /* NULL: invalid */
} cidr_cases[] = {
    {"10.0.0.0/16", "10.0.0.0/16"},
    {"10.0.0.5/16", "10.0.0.0/16"},
    {"0.0.0.0/0", "0.0.0.0/0"},
    {"255.255.255.255/32", "255.255.255.255/32"},
    {"10.0.0.0/33", NULL},
    {"10.0.0/8", NULL},
    {"10.0.0.0", NULL},
    {" 10.0.0.0/8", NULL},
    {"10.0.0.0/8 ", NULL},
    {"256.0.0.0/8", NULL},
    {"10.0.0.0/+8", NULL},
    {"10.0.0.0/8/8", NULL},
};

static void test_cidr(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cidr_cases); i++) {
        struct ec2_cidr c;
        int r = ec2_cidr_parse(cidr_cases[i].in, &c);
        if (!cidr_cases[i].canon) {
            if (r == 0)
                fail_msg("'%s' parsed", cidr_cases[i].in);
            continue;
        }
        assert_int_equal(r, 0);
        char out[20];
        ec2_cidr_format(&c, out);
        assert_string_equal(out, cidr_cases[i].canon);
    }
    struct ec2_cidr vpc, a, b, c;
    ec2_cidr_parse("10.0.0.0/16", &vpc);
    ec2_cidr_parse("10.0.1.0/24", &a);
    ec2_cidr_parse("10.0.1.128/25", &b);
    ec2_cidr_parse("10.1.0.0/24", &c);
    assert_true(ec2_cidr_contains(&vpc, &a));
    assert_false(ec2_cidr_contains(&a, &vpc));
    assert_false(ec2_cidr_contains(&vpc, &c));
    assert_true(ec2_cidr_overlap(&a, &b));
    assert_true(ec2_cidr_overlap(&b, &a));
    assert_false(ec2_cidr_overlap(&a, &c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_cidr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
