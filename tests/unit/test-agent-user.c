/* User specs resolved against /etc/passwd and /etc/group found in unpacked
 * image layers (src/agent/user.c): Docker's rules, the topmost layer wins,
 * whiteouts and opaque directories hide lower layers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/util.h"

static char *root;

static void put(const char *layer, const char *name, const char *text)
{
    _cleanup_free_ char *dir = xasprintf("%s/%s/etc", root, layer);
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    assert_int_equal(oci_dir_make(dir, 0755, NULL), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *layer(const char *name)
{
    return xasprintf("%s/%s", root, name);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/skiff-user-XXXXXX";
    root = xstrdup(mkdtemp(tmpl));
    put("base", "passwd",
        "root:x:0:0:root:/root:/bin/sh\n"
        "# a comment\n"
        "broken line\n"
        "app:x:1000:1000:app:/home/app:/bin/sh\n");
    put("base", "group", "root:x:0:\nwheel:x:10:app,bob\nstaff:x:50:bob\napp:x:1000:\n");
    /* a layer above replaces passwd (adds web) and leaves group alone */
    put("top", "passwd",
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\nweb:x:2000:2001::/:/bin/sh\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    oci_dir_remove_tree(root, NULL);
    free(root);
    return 0;
}

struct want {
    const char *spec;
    int r;
    uint32_t uid, gid;
    const char *gids; /* comma-separated supplementary gids */
};

static void check(const char *const *lower, size_t n, const struct want *w)
{
    uint32_t uid = 99, gid = 99, *gids = NULL;
    size_t ng = 0;
    struct error *err = NULL;
    int r = agent_user_resolve(w->spec, lower, n, &uid, &gid, &gids, &ng, &err);
    if (r != w->r)
        fail_msg("%s: r=%d (%s), want %d", w->spec, r, err ? err->msg : "", w->r);
    if (r < 0) {
        assert_non_null(err);
        error_free(err);
        return;
    }
    char got[128] = "";
    for (size_t i = 0; i < ng; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? "," : "", gids[i]);
    if (uid != w->uid || gid != w->gid || strcmp(got, w->gids) != 0)
        fail_msg("%s: got %u:%u [%s], want %u:%u [%s]", w->spec, uid, gid, got, w->uid, w->gid,
                 w->gids);
    free(gids);
}

static void test_specs(void **state)
{
    (void)state;
    _cleanup_free_ char *top = layer("top");
    _cleanup_free_ char *base = layer("base");
    const char *lower[] = {top, base};
    static const struct want wants[] = {
        {"", 0, 0, 0, ""},
        {"root", 0, 0, 0, ""},
        {"app", 0, 1000, 1000, "10"},
        {"web", 0, 2000, 2001, ""}, /* only in the top layer's passwd */
        {"app:wheel", 0, 1000, 10, "10"},
        {"app:77", 0, 1000, 77, "10"},
        {"1000", 0, 1000, 1000, "10"},
        {"4242", 0, 4242, 0, ""},
        {"4242:77", 0, 4242, 77, ""},
        {"4242:staff", 0, 4242, 50, ""},
        {"ghost", -ENOENT, 0, 0, ""},
        {"app:ghost", -ENOENT, 0, 0, ""},
        {"-1", -ENOENT, 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
        check(lower, 2, &wants[i]);
}

static void test_no_files(void **state)
{
    (void)state;
    static const struct want numeric = {"5:6", 0, 5, 6, ""};
    static const struct want named = {"app", -ENOENT, 0, 0, ""};
    check(NULL, 0, &numeric);
    check(NULL, 0, &named);
}

static void test_whiteout_and_opaque(void **state)
{
    (void)state;
    /* "wo": group deleted over base (a 0/0 character device) */
    _cleanup_free_ char *etc = xasprintf("%s/wo/etc", root);
    _cleanup_free_ char *grp = xasprintf("%s/group", etc);
    assert_int_equal(oci_dir_make(etc, 0755, NULL), 0);
    if (mknod(grp, S_IFCHR | 0600, makedev(0, 0)) < 0)
        skip();
    _cleanup_free_ char *wo = layer("wo");
    _cleanup_free_ char *base = layer("base");
    const char *lower[] = {wo, base};
    static const struct want w1 = {"app", 0, 1000, 1000, ""}; /* no group file: no extras */
    static const struct want w2 = {"app:wheel", -ENOENT, 0, 0, ""};
    check(lower, 2, &w1);
    check(lower, 2, &w2);

    /* "op": an opaque /etc without passwd hides base's */
    _cleanup_free_ char *opetc = xasprintf("%s/op/etc", root);
    assert_int_equal(oci_dir_make(opetc, 0755, NULL), 0);
    if (setxattr(opetc, "trusted.overlay.opaque", "y", 1, 0) < 0)
        skip();
    _cleanup_free_ char *op = layer("op");
    const char *lower2[] = {op, base};
    static const struct want w3 = {"app", -ENOENT, 0, 0, ""};
    static const struct want w4 = {"1000:1000", 0, 1000, 1000, ""};
    check(lower2, 2, &w3);
    check(lower2, 2, &w4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_no_files),
        cmocka_unit_test(test_whiteout_and_opaque),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
