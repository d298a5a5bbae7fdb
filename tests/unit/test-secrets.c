/* Secret values at rest (src/secrets/crypt.c): the key file, sealing round
 * trips, and that any change to a sealed value, its additional data or the
 * key makes it fail to open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "secrets/secrets-internal.h"
#include "secrets/secrets.h"

static char *make_dir(void)
{
    char tmpl[] = "/tmp/skiff-test-secrets-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static void remove_dir(char *dir)
{
    _cleanup_free_ char *key = xasprintf("%s/secrets.key", dir);
    unlink(key);
    rmdir(dir);
    free(dir);
}

static void seal(const char *aad, const void *v, size_t n, uint8_t **out, size_t *out_len)
{
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(secrets_seal(aad, v, n, out, out_len, &err), 0);
    assert_int_equal(*out_len, n + SECRETS_NONCE_LEN + SECRETS_TAG_LEN);
}

static int unseal(const char *aad, const uint8_t *s, size_t n, char **out, size_t *out_len)
{
    _cleanup_error_ struct error *err = NULL;
    int r = secrets_unseal(aad, s, n, out, out_len, &err);
    assert_true(r == 0 || err != NULL);
    return r;
}

static void test_key_file(void **state)
{
    (void)state;
    char *dir = make_dir();
    _cleanup_free_ char *path = xasprintf("%s/secrets.key", dir);
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(secrets_init(dir, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SECRETS_KEY_LEN);

    /* The next start reads the same key: what was sealed still opens. */
    _cleanup_free_ uint8_t *sealed = NULL;
    size_t len;
    seal("arn\nv1", "value", 5, &sealed, &len);
    uint8_t other[SECRETS_KEY_LEN] = {1};
    secrets_set_key(other);
    char *plain = NULL;
    assert_int_equal(unseal("arn\nv1", sealed, len, &plain, NULL), -EBADMSG);
    assert_int_equal(secrets_init(dir, &err), 0);
    assert_int_equal(unseal("arn\nv1", sealed, len, &plain, NULL), 0);
    assert_string_equal(plain, "value");
    free(plain);

    /* A key others can read is refused; so is a file of the wrong size. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(secrets_init(dir, &err), -EPERM);
    error_freep(&err);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(truncate(path, 16), 0);
    assert_int_equal(secrets_init(dir, &err), -EINVAL);
    error_freep(&err);
    remove_dir(dir);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 15, 16, 17, 4096, SECRETS_VALUE_MAX};
    uint8_t key[SECRETS_KEY_LEN];
    memset(key, 7, sizeof(key));
    secrets_set_key(key);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint8_t *v = xmalloc(sizes[i] + 1);
        for (size_t k = 0; k < sizes[i]; k++)
            v[k] = (uint8_t)(k * 31 + i); /* NUL bytes included */
        _cleanup_free_ uint8_t *a = NULL;
        _cleanup_free_ uint8_t *b = NULL;
        size_t alen, blen;
        seal("x", v, sizes[i], &a, &alen);
        seal("x", v, sizes[i], &b, &blen);
        /* A fresh nonce each time: equal values do not look equal. */
        assert_memory_not_equal(a, b, SECRETS_NONCE_LEN);
        char *plain = NULL;
        size_t plen = 0;
        assert_int_equal(unseal("x", a, alen, &plain, &plen), 0);
        assert_int_equal(plen, sizes[i]);
        if (sizes[i])
            assert_memory_equal(plain, v, sizes[i]);
        assert_int_equal(plain[plen], 0);
        free(plain);
        free(v);
    }
}

static void test_tampering_fails(void **state)
{
    (void)state;
    uint8_t key[SECRETS_KEY_LEN];
    memset(key, 9, sizeof(key));
    secrets_set_key(key);
    const char *aad = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf\nv1";
    _cleanup_free_ uint8_t *sealed = NULL;
    size_t len;
    seal(aad, "{\"username\":\"u\",\"password\":\"p\"}", 32, &sealed, &len);
    char *plain = NULL;
    /* Every byte: nonce, ciphertext and tag. */
    for (size_t i = 0; i < len; i++) {
        sealed[i] ^= 0x01;
        assert_int_equal(unseal(aad, sealed, len, &plain, NULL), -EBADMSG);
        sealed[i] ^= 0x01;
    }
    /* Another row's additional data, a truncation. */
    assert_int_equal(unseal("arn:other\nv1", sealed, len, &plain, NULL), -EBADMSG);
    assert_int_equal(unseal(aad, sealed, len - 1, &plain, NULL), -EBADMSG);
    assert_int_equal(unseal(aad, sealed, SECRETS_NONCE_LEN, &plain, NULL), -EBADMSG);
    assert_int_equal(unseal(aad, sealed, len, &plain, NULL), 0);
    free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_tampering_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
