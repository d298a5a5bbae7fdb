/* SigV4 canonicalisation and signing against AWS's published test vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/sigv4.h"

static const char *secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/* aws-sig-v4-test-suite: get-vanilla */
static void test_get_vanilla(void **state)
{
    (void)state;
    struct api_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
    struct api_request req = {.method = "GET", .path = "/", .headers = h, .n_headers = 2};
    struct buf canon, sts;
    buf_init(&canon, 0);
    buf_init(&sts, 0);
    assert_int_equal(
        sigv4_canonical_request(&req, "host;x-amz-date",
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                &canon),
        0);
    assert_string_equal(canon.data,
                        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                        "host;x-amz-date\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sigv4_string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canon.data,
                         canon.len, &sts);
    uint8_t key[32];
    sigv4_signing_key(secret, "20150830", "us-east-1", "service", key);
    char sig[65];
    sigv4_sign(key, sts.data, sts.len, sig);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    buf_done(&canon);
    buf_done(&sts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
