/* Image reference normalisation: a table of input -> normalised form (or
 * the reason it is refused), checked against Docker's own behaviour. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ref_case {
    const char *in;
    const char *out;    /* NULL: must be refused */
    const char *domain; /* checked when set */
    const char *path;
    const char *why; /* substring of the error when refused */
};

static const struct ref_case cases[] = {
    {"busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", NULL},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox", NULL},
    {"library/busybox", "docker.io/library/busybox:latest", NULL, NULL, NULL},
    {"docker.io/busybox", "docker.io/library/busybox:latest", NULL, NULL, NULL},
    {"index.docker.io/busybox", "docker.io/library/busybox:latest", NULL, NULL, NULL},
    {"index.docker.io/user/app:v2", "docker.io/user/app:v2", NULL, NULL, NULL},
    {"user/app", "docker.io/user/app:latest", "docker.io", "user/app", NULL},
    {"user/app/sub", "docker.io/user/app/sub:latest", NULL, NULL, NULL},
    {"localhost/app", "localhost/app:latest", "localhost", "app", NULL},
    {"localhost:5000/app:tag", "localhost:5000/app:tag", "localhost:5000", "app", NULL},
    {"127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", NULL},
    {"[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000", "app", NULL},
    {"ghcr.io/owner/repo", "ghcr.io/owner/repo:latest", "ghcr.io", "owner/repo", NULL},
    {"Registry/app", "Registry/app:latest", "Registry", "app", NULL},
    {"myhost:443/x", "myhost:443/x:latest", "myhost:443", "x", NULL},
    {"busybox@sha256:" D64, "docker.io/library/busybox@sha256:" D64, NULL, NULL, NULL},
    {"busybox:1@sha256:" D64, "docker.io/library/busybox:1@sha256:" D64, NULL, NULL, NULL},
    {"h.io:5000/a@sha256:" D64, "h.io:5000/a@sha256:" D64, "h.io:5000", "a", NULL},
    {"a.b-c_d__e---f", "docker.io/library/a.b-c_d__e---f:latest", NULL, NULL, NULL},
    {"app:_tag.with-dots", "docker.io/library/app:_tag.with-dots", NULL, NULL, NULL},
    {"localhost:5000", "docker.io/library/localhost:5000", NULL, NULL, NULL},
    /* refused */
    {"", NULL, NULL, NULL, "empty"},
    {"Busybox", NULL, NULL, NULL, "lowercase"},
    {"user/App", NULL, NULL, NULL, "lowercase"},
    {"busybox:", NULL, NULL, NULL, "tag"},
    {"busybox:-x", NULL, NULL, NULL, "tag"},
    {"busybox:a/b", NULL, NULL, NULL, NULL},
    {"busybox@sha256:abc", NULL, NULL, NULL, "digest"},
    {"busybox@sha256:" D64 "00", NULL, NULL, NULL, "digest"},
    {"busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", NULL, NULL,
     NULL, "digest"},
    {"busybox@sha512:" D64, NULL, NULL, NULL, "algorithm"},
    {"a//b", NULL, NULL, NULL, "repository"},
    {"a/", NULL, NULL, NULL, "repository"},
    {"/a", NULL, NULL, NULL, NULL},
    {"a..b", NULL, NULL, NULL, "repository"},
    {"a._b", NULL, NULL, NULL, "repository"},
    {"a___b", NULL, NULL, NULL, "repository"},
    {"-a", NULL, NULL, NULL, "repository"},
    {"a-", NULL, NULL, NULL, "repository"},
    {"host:port/a", NULL, NULL, NULL, "host"},
    {"host:123456/a", NULL, NULL, NULL, "host"},
    {"-host.io/a", NULL, NULL, NULL, "host"},
    {"[zz]:5000/a", NULL, NULL, NULL, "host"},
    {"a b", NULL, NULL, NULL, NULL},
    {"../etc/passwd", NULL, NULL, NULL, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ref_case *c = &cases[i];
        struct img_ref r = {0};
        struct error *err = NULL;
        int rc = img_ref_parse(c->in, &r, &err);
        if (c->out) {
            if (rc != 0)
                fail_msg("'%s' refused: %s", c->in, err ? err->msg : "?");
            char *s = img_ref_format(&r);
            if (strcmp(s, c->out) != 0)
                fail_msg("'%s' -> '%s', want '%s'", c->in, s, c->out);
            free(s);
            if (c->domain)
                assert_string_equal(r.domain, c->domain);
            if (c->path)
                assert_string_equal(r.path, c->path);
        } else {
            if (rc == 0)
                fail_msg("'%s' accepted, want refused", c->in);
            assert_int_equal(rc, -EINVAL);
            assert_non_null(err);
            assert_string_equal(err->type, ERR_INVALID);
            if (c->why && !strstr(err->msg, c->why))
                fail_msg("'%s': error '%s' lacks '%s'", c->in, err->msg, c->why);
            assert_null(r.domain);
        }
        img_ref_done(&r);
        error_free(err);
    }
}

static void test_name_length(void **state)
{
    (void)state;
    char name[300];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct img_ref r = {0};
    struct error *err = NULL;
    assert_int_equal(img_ref_parse(name, &r, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "255"));
    error_free(err);
    err = NULL;
    /* docker.io/library/ + 237 = 255 */
    name[237] = '\0';
    assert_int_equal(img_ref_parse(name, &r, &err), 0);
    img_ref_done(&r);
    name[237] = 'a';
    name[238] = '\0';
    assert_int_equal(img_ref_parse(name, &r, &err), -EINVAL);
    error_free(err);
}

static void test_digest_valid(void **state)
{
    (void)state;
    assert_true(img_digest_valid("sha256:" D64));
    assert_false(img_digest_valid("sha256:" D64 "0"));
    assert_false(img_digest_valid("sha256:"));
    assert_false(img_digest_valid("sha256:../../" D64));
    assert_false(img_digest_valid(NULL));
    assert_false(img_digest_valid("md5:" D64));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_digest_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
