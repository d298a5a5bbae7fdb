/* The credentials file: parsing, and creating it on first start. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

struct expect_account {
    const char *profile, *access_key, *secret, *account_id, *session_token;
};

struct parse_case {
    const char *name;
    const char *text;
    const char *error; /* NULL: parses; else the whole message */
    struct expect_account accounts[3];
    size_t n;
};

#define BAD(n, t, e)                                                                               \
    {                                                                                              \
        .name = (n), .text = (t), .error = (e)                                                     \
    }

static const struct parse_case cases[] = {
    {"one profile",
     "[default]\n"
     "aws_access_key_id = AKIAEXAMPLE\n"
     "aws_secret_access_key = secret/with+chars=\n"
     "account_id = 123456789012\n",
     NULL,
     {{"default", "AKIAEXAMPLE", "secret/with+chars=", "123456789012", NULL}},
     1},
    {"two profiles, comments, blank lines, CRLF, spaces, other keys",
     "# generated\r\n"
     "; another comment\r\n"
     "\r\n"
     "  [ default ]  \r\n"
     "region = us-east-1\r\n"
     "aws_access_key_id=AKIA1\r\n"
     "  aws_secret_access_key   =   s1  \r\n"
     "account_id = 000000000001\r\n"
     "\r\n"
     "[other]\r\n"
     "AWS_ACCESS_KEY_ID = AKIA2\r\n"
     "aws_secret_access_key = s2\r\n"
     "account_id = 999999999999\r\n"
     "aws_session_token = tok=en\r\n",
     NULL,
     {{"default", "AKIA1", "s1", "000000000001", NULL},
      {"other", "AKIA2", "s2", "999999999999", "tok=en"}},
     2},
    {"a key given twice: the last wins",
     "[p]\naws_access_key_id = A\naws_access_key_id = B\naws_secret_access_key = s\n"
     "account_id = 123456789012\n",
     NULL,
     {{"p", "B", "s", "123456789012", NULL}},
     1},
    {"empty session token is none",
     "[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = 123456789012\n"
     "aws_session_token =\n",
     NULL,
     {{"p", "A", "s", "123456789012", NULL}},
     1},
    {"no trailing newline",
     "[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = 123456789012",
     NULL,
     {{"p", "A", "s", "123456789012", NULL}},
     1},
    {"empty file", "", NULL, {{0}}, 0},
    {"only comments", "# nothing\n; here\n", NULL, {{0}}, 0},

    BAD("missing secret", "[p]\naws_access_key_id = A\naccount_id = 123456789012\n",
        "credentials: profile [p] needs aws_access_key_id, aws_secret_access_key and account_id"),
    BAD("empty secret",
        "[p]\naws_access_key_id = A\naws_secret_access_key =   \naccount_id = 123456789012\n",
        "credentials: profile [p] needs aws_access_key_id, aws_secret_access_key and account_id"),
    BAD("missing account id in the first of two",
        "[a]\naws_access_key_id = A\naws_secret_access_key = s\n"
        "[b]\naws_access_key_id = B\naws_secret_access_key = s\naccount_id = 123456789012\n",
        "credentials: profile [a] needs aws_access_key_id, aws_secret_access_key and account_id"),
    BAD("section without keys", "[empty]\n",
        "credentials: profile [empty] needs aws_access_key_id, aws_secret_access_key and "
        "account_id"),
    BAD("account id too short",
        "[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = 12345678901\n",
        "credentials: profile [p]: account_id must be 12 digits"),
    BAD("account id too long",
        "[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = 1234567890123\n",
        "credentials: profile [p]: account_id must be 12 digits"),
    BAD("account id not digits",
        "[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = 12345678901x\n",
        "credentials: profile [p]: account_id must be 12 digits"),
    BAD("account id with a sign",
        "[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = -12345678901\n",
        "credentials: profile [p]: account_id must be 12 digits"),
    BAD("duplicate access key",
        "[a]\naws_access_key_id = SAME\naws_secret_access_key = s1\naccount_id = 111111111111\n"
        "[b]\naws_access_key_id = SAME\naws_secret_access_key = s2\naccount_id = 222222222222\n",
        "credentials: profiles [a] and [b] share an access key"),
    BAD("duplicate profile",
        "[a]\naws_access_key_id = A\naws_secret_access_key = s1\naccount_id = 111111111111\n"
        "\n"
        "[a]\naws_access_key_id = B\naws_secret_access_key = s2\naccount_id = 222222222222\n",
        "credentials: line 6: profile [a] appears twice"),
    BAD("key before any section", "\n\naws_access_key_id = A\n",
        "credentials: line 3: expected key = value in a [profile]"),
    BAD("line without '='", "[p]\n# ok\n\njunk\n",
        "credentials: line 4: expected key = value in a [profile]"),
    BAD("unterminated section", "\n[p\n", "credentials: line 2: unterminated section"),
    BAD("empty section name", "[  ]\n", "credentials: line 1: empty profile name"),
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct parse_case *c = &cases[i];
        struct accounts *a = NULL;
        _cleanup_error_ struct error *err = NULL;
        print_message("%s\n", c->name);
        int r = accounts_parse(c->text, &a, &err);
        if (c->error) {
            assert_int_equal(r, -EINVAL);
            assert_null(a);
            assert_non_null(err);
            assert_string_equal(err->msg, c->error);
            continue;
        }
        if (r < 0)
            print_message("unexpected: %s\n", err->msg);
        assert_int_equal(r, 0);
        for (size_t j = 0; j < c->n; j++) {
            const struct expect_account *e = &c->accounts[j];
            const struct account *acc = accounts_at(a, j);
            assert_non_null(acc);
            assert_string_equal(acc->profile, e->profile);
            assert_string_equal(acc->access_key, e->access_key);
            assert_string_equal(acc->secret, e->secret);
            assert_string_equal(acc->account_id, e->account_id);
            if (e->session_token)
                assert_string_equal(acc->session_token, e->session_token);
            else
                assert_null(acc->session_token);
            assert_ptr_equal(accounts_find(a, e->access_key), acc);
        }
        assert_null(accounts_at(a, c->n));
        assert_null(accounts_find(a, "AKIANOBODY"));
        assert_null(accounts_find(a, ""));
        accounts_free(a);
    }
    accounts_free(NULL);
    assert_null(accounts_find(NULL, "x"));
    assert_null(accounts_at(NULL, 0));
}

struct tmpdir {
    char path[64];
};

static int setup_tmpdir(void **state)
{
    struct tmpdir *t = xzalloc(sizeof(*t));
    strcpy(t->path, "/tmp/skiff-test-accounts-XXXXXX");
    if (!mkdtemp(t->path)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown_tmpdir(void **state)
{
    struct tmpdir *t = *state;
    DIR *d = opendir(t->path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    int r = rmdir(t->path);
    free(t);
    return r;
}

static size_t count_entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void test_init_file(void **state)
{
    struct tmpdir *t = *state;
    _cleanup_free_ char *path = xasprintf("%s/credentials", t->path);
    _cleanup_error_ struct error *err = NULL;
    mode_t old = umask(0);
    int r = accounts_init_file(path, &err);
    umask(old);
    assert_int_equal(r, 0);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(count_entries(t->path), 1); /* no temporary left */

    struct accounts *a = NULL;
    assert_int_equal(accounts_load(path, &a, &err), 0);
    const struct account *acc = accounts_at(a, 0);
    assert_non_null(acc);
    assert_null(accounts_at(a, 1));
    assert_string_equal(acc->profile, "default");
    assert_int_equal(strlen(acc->account_id), 12);
    assert_true(acc->account_id[0] >= '1' && acc->account_id[0] <= '9');
    assert_int_equal(strspn(acc->account_id, "0123456789"), 12);
    assert_int_equal(strncmp(acc->access_key, "AKIA", 4), 0);
    assert_int_equal(strlen(acc->access_key), 20);
    assert_int_equal(strlen(acc->secret), 40);
    assert_null(acc->session_token);
    _cleanup_free_ char *akid = xstrdup(acc->access_key);
    accounts_free(a);

    /* a second call leaves the file alone */
    assert_int_equal(accounts_init_file(path, &err), 0);
    assert_int_equal(accounts_load(path, &a, &err), 0);
    assert_string_equal(accounts_at(a, 0)->access_key, akid);
    accounts_free(a);

    /* nor does it touch a file it did not write, whatever it holds */
    _cleanup_free_ char *other = xasprintf("%s/mine", t->path);
    FILE *f = fopen(other, "we");
    assert_non_null(f);
    fputs("hand-written\n", f);
    fclose(f);
    assert_int_equal(accounts_init_file(other, &err), 0);
    char buf[64] = "";
    f = fopen(other, "re");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "hand-written\n");
    assert_int_equal(count_entries(t->path), 2);

    /* two fresh files get different keys and accounts */
    _cleanup_free_ char *second = xasprintf("%s/second", t->path);
    assert_int_equal(accounts_init_file(second, &err), 0);
    assert_int_equal(accounts_load(second, &a, &err), 0);
    assert_string_not_equal(accounts_at(a, 0)->access_key, akid);
    accounts_free(a);
}

static void test_init_file_errors(void **state)
{
    struct tmpdir *t = *state;
    _cleanup_free_ char *path = xasprintf("%s/missing/credentials", t->path);
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(accounts_init_file(path, &err), -ENOENT);
    assert_non_null(err);
    assert_non_null(strstr(err->msg, "credentials: create"));
    assert_int_equal(count_entries(t->path), 0);

    struct accounts *a = NULL;
    _cleanup_error_ struct error *err2 = NULL;
    assert_int_equal(accounts_load(path, &a, &err2), -ENOENT);
    assert_null(a);
    assert_non_null(strstr(err2->msg, "credentials: open"));
}

/* A file over the 1 MiB cap is refused. */
static void test_load_too_big(void **state)
{
    struct tmpdir *t = *state;
    _cleanup_free_ char *path = xasprintf("%s/big", t->path);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs("[p]\naws_access_key_id = A\naws_secret_access_key = s\naccount_id = 123456789012\n", f);
    for (int i = 0; i < (1 << 20) / 16 + 1; i++)
        fputs("# padding.......\n", f);
    fclose(f);
    struct accounts *a = NULL;
    _cleanup_error_ struct error *err = NULL;
    assert_int_equal(accounts_load(path, &a, &err), -EFBIG);
    assert_null(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test_setup_teardown(test_init_file, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_init_file_errors, setup_tmpdir, teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_load_too_big, setup_tmpdir, teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
