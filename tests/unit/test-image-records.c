/* Image records in a real SQLite store: put, find by reference and by
 * digest, list in LRU order, touch, delete (refused while the runtime's
 * in-use hook claims the image), and the auth_required flag of tenant
 * isolation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image-internal.h"
#include "image/records.h"
#include "store/db.h"

#define D(c)                                                                                       \
    "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
        c c c c c c c c c c c c c c c c c c c c c c

static char dir[64];
static struct store *store;
static struct db *db;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/skiff-records-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/state.db", dir);
    struct error *err = NULL;
    assert_int_equal(store_open(path, &store, &err), 0);
    assert_int_equal(store_thread_db(store, &db, &err), 0);
    img_init(dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_free(store);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void put(const char *ref, const char *digest, int64_t used)
{
    struct img_layer_info layer = {.digest = D("a"),
                                   .diff_id = D("b"),
                                   .size = 10,
                                   .media_type = (char *)"application/vnd.oci.image.layer.v1.tar"};
    struct img_info i = {
        .reference = (char *)ref,
        .config_digest = D("c"),
        .media_type = (char *)IMG_MT_OCI_MANIFEST,
        .layers = &layer,
        .n_layers = 1,
        .size = 100,
        .pulled_at_ms = used,
        .last_used_ms = used,
    };
    snprintf(i.digest, sizeof(i.digest), "%s", digest);
    struct error *err = NULL;
    assert_int_equal(img_record_put(db, &i, &err), 0);
}

static const char *busy_ref;

static bool in_use(const char *reference, void *arg)
{
    (void)arg;
    return busy_ref && !strcmp(reference, busy_ref);
}

static void test_records(void **state)
{
    (void)state;
    put("docker.io/library/busybox:latest", D("1"), 1000);
    put("docker.io/library/busybox:1.36", D("1"), 3000);
    put("h:5000/app:v1", D("2"), 2000);
    struct error *err = NULL;

    /* by reference, normalised first */
    struct img_info *i = NULL;
    assert_int_equal(img_get(db, "busybox", false, &i, &err), 0);
    assert_string_equal(i->reference, "docker.io/library/busybox:latest");
    assert_string_equal(i->digest, D("1"));
    assert_int_equal(i->n_layers, 1);
    assert_string_equal(i->layers[0].diff_id, D("b"));
    assert_int_equal(i->unpacked_size, -1); /* no layer row yet */
    img_info_free(i);
    assert_int_equal(img_record_layer(db, D("b"), 4096, 1, &err), 0);
    assert_int_equal(img_get(db, "h:5000/app:v1", false, &i, &err), 0);
    assert_int_equal(i->unpacked_size, 4096);
    img_info_free(i);

    /* by digest: the most recently used reference to it */
    assert_int_equal(img_get(db, D("1"), false, &i, &err), 0);
    assert_string_equal(i->reference, "docker.io/library/busybox:1.36");
    img_info_free(i);
    assert_int_equal(img_get(db, "nope", false, &i, &err), -ENOENT);
    assert_string_equal(err->type, IMG_ERR_NOT_IMG);
    error_free(err);
    err = NULL;

    /* LRU order, and touch moves one to the front */
    struct img_info **list = NULL;
    size_t n = 0;
    assert_int_equal(img_list(db, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->reference, "docker.io/library/busybox:1.36");
    assert_string_equal(list[2]->reference, "docker.io/library/busybox:latest");
    img_info_list_free(list, n);
    assert_int_equal(img_touch(db, "busybox:latest", &err), 0);
    assert_int_equal(img_list(db, &list, &n, &err), 0);
    assert_string_equal(list[0]->reference, "docker.io/library/busybox:latest");
    img_info_list_free(list, n);

    /* delete: refused while in use, by reference or by digest */
    img_set_in_use_hook(in_use, NULL);
    busy_ref = "docker.io/library/busybox:1.36";
    size_t removed = 0;
    assert_int_equal(img_delete(db, D("1"), &removed, &err), -EBUSY);
    assert_non_null(strstr(err->msg, "in use"));
    error_free(err);
    err = NULL;
    assert_int_equal(img_delete(db, "busybox:1.36", &removed, &err), -EBUSY);
    error_free(err);
    err = NULL;
    assert_int_equal(img_delete(db, "busybox", &removed, &err), 0);
    assert_int_equal(removed, 1);
    busy_ref = NULL;
    assert_int_equal(img_delete(db, D("1"), &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(img_delete(db, D("1"), &removed, &err), -ENOENT);
    error_free(err);
    err = NULL;
    img_set_in_use_hook(NULL, NULL);
    assert_int_equal(img_list(db, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    img_info_list_free(list, n);

    char *p = img_layer_path(D("b"));
    char want[200];
    snprintf(want, sizeof(want), "%s/layers/%s", dir, &D("b")[7]);
    assert_string_equal(p, want);
    free(p);
}

/* auth_required is stored as put, survives a re-read, and is changed only
 * while the record still names the digest that was checked. */
static void test_auth_required(void **state)
{
    (void)state;
    struct error *err = NULL;
    struct img_info *i = NULL;
    put("h:5000/private:v1", D("3"), 5000);
    assert_int_equal(img_get(db, "h:5000/private:v1", false, &i, &err), 0);
    assert_false(i->auth_required);
    i->auth_required = true;
    assert_int_equal(img_record_put(db, i, &err), 0);
    img_info_free(i);

    static const struct {
        const char *digest;
        bool set;
        bool want;
    } steps[] = {
        {D("4"), false, true}, /* another digest: untouched */
        {D("3"), false, false},
        {D("3"), true, true},
    };
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        assert_int_equal(img_record_set_auth_required(db, "h:5000/private:v1", steps[k].digest,
                                                      steps[k].set, &err),
                         0);
        assert_int_equal(img_get(db, "h:5000/private:v1", false, &i, &err), 0);
        assert_int_equal(i->auth_required, steps[k].want);
        img_info_free(i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_auth_required),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
