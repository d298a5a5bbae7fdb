/* The CLI client's pure parts: request signing against signatures botocore
 * computed for the same requests, and the reading of AWS JSON errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"

#define BODY   "{\"clusterName\":\"demo\"}"
#define TARGET "AmazonEC2ContainerServiceV20141113.CreateCluster"

/* Expected values from botocore's SigV4Auth for POST http://127.0.0.1:8080/
 * at 2024-01-02T03:04:05Z with AWS's example keys. */
static const struct {
    const char *token;
    const char *authorization;
} sign_cases[] = {
    {NULL, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/ecs/aws4_request, "
           "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
           "Signature=cbc74ff285e0956d7f3ad7f2407cb492c0edcf8e816ee49404d9317ab5c69371"},
    {"FQoGZXIvYXdzEXAMPLETOKEN",
     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/ecs/aws4_request, "
     "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
     "Signature=018d043313375ae920bb46d997ade1f09445f516cddcb0bdc3050cc19d8f00e5"},
};

static void test_sign_matches_botocore(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sign_cases) / sizeof(sign_cases[0]); i++) {
        struct api_header h[5];
        size_t n = 0;
        h[n++] = (struct api_header){"content-type", "application/x-amz-json-1.1"};
        h[n++] = (struct api_header){"host", "127.0.0.1:8080"};
        h[n++] = (struct api_header){"x-amz-date", "20240102T030405Z"};
        if (sign_cases[i].token)
            h[n++] = (struct api_header){"x-amz-security-token", sign_cases[i].token};
        h[n++] = (struct api_header){"x-amz-target", TARGET};
        struct api_request req = {.method = "POST",
                                  .path = "/",
                                  .headers = h,
                                  .n_headers = n,
                                  .body = BODY,
                                  .body_len = strlen(BODY)};
        char *auth = client_sign(&req, "us-east-1", "ecs", "AKIDEXAMPLE",
                                 "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20240102T030405Z");
        assert_non_null(auth);
        assert_string_equal(auth, sign_cases[i].authorization);
        free(auth);
    }
}

static void test_sign_refuses_unsorted_headers(void **state)
{
    (void)state;
    struct api_header h[] = {{"x-amz-date", "20240102T030405Z"}, {"host", "127.0.0.1:8080"}};
    struct api_request req = {.method = "POST", .path = "/", .headers = h, .n_headers = 2};
    assert_null(client_sign(&req, "us-east-1", "ecs", "AKID", "secret", "20240102T030405Z"));
}

static const struct {
    const char *body;
    const char *code;
    const char *message;
} error_cases[] = {
    {"{\"__type\":\"ClusterNotFoundException\",\"message\":\"Cluster not found.\"}",
     "ClusterNotFoundException", "Cluster not found."},
    {"{\"__type\":\"com.amazonaws.ecs#ClientException\",\"message\":\"m\"}", "ClientException",
     "m"},
    {"{\"code\":\"ThrottlingException\",\"Message\":\"Rate exceeded\"}", "ThrottlingException",
     "Rate exceeded"},
    {"{\"__type\":\"\",\"message\":\"no code\"}", NULL, "no code"},
    {"{}", NULL, NULL},
};

static void test_error_parts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        json_t *doc = json_loads(error_cases[i].body, 0, NULL);
        assert_non_null(doc);
        const char *code, *msg;
        client_error_parts(doc, &code, &msg);
        if (error_cases[i].code)
            assert_string_equal(code, error_cases[i].code);
        else
            assert_null(code);
        if (error_cases[i].message)
            assert_string_equal(msg, error_cases[i].message);
        else
            assert_null(msg);
        json_decref(doc);
    }
}

static void test_endpoint_must_be_http(void **state)
{
    (void)state;
    static const char *const bad[] = {"ftp://127.0.0.1:21", "127.0.0.1:8080", "http://", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct client_config cfg = {
            .endpoint = bad[i], .region = "us-east-1", .access_key = "AKID", .secret = "secret"};
        struct client *c = NULL;
        struct error *err = NULL;
        assert_true(client_new(&cfg, &c, &err) < 0);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "endpoint"));
        error_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_botocore),
        cmocka_unit_test(test_sign_refuses_unsorted_headers),
        cmocka_unit_test(test_error_parts),
        cmocka_unit_test(test_endpoint_must_be_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
