/* Manifest, index and config parsing: a table of registry documents and
 * what they must parse to (or why they are refused); platform selection;
 * WWW-Authenticate challenges; registries.conf and config.json. */
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

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

#define CFG(mt)      "{\"mediaType\":\"" mt "\",\"digest\":\"" D1 "\",\"size\":10}"
#define LAYER(mt, d) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":100}"
#define GZ           "application/vnd.oci.image.layer.v1.tar+gzip"

struct doc_case {
    const char *title;
    const char *doc;
    const char *content_type;
    int kind;        /* IMG_MANIFEST / IMG_INDEX, or -1 refused */
    size_t n;        /* layers or entries */
    const char *why; /* substring of the error */
};

static const struct doc_case docs[] = {
    {"oci manifest",
     "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST
     "\",\"config\":" CFG(IMG_MT_OCI_CONFIG) ",\"layers\":[" LAYER(GZ, D2) "," LAYER(
         "application/vnd.oci.image.layer.v1.tar+zstd", D3) "]}",
     NULL, IMG_MANIFEST, 2, NULL},
    {"docker manifest by content type",
     "{\"schemaVersion\":2,\"config\":" CFG(IMG_MT_DOCKER_CONFIG) ",\"layers\":[" LAYER(
         "application/vnd.docker.image.rootfs.diff.tar.gzip", D2) "]}",
     IMG_MT_DOCKER_MANIFEST "; charset=utf-8", IMG_MANIFEST, 1, NULL},
    {"manifest by structure",
     "{\"schemaVersion\":2,\"config\":" CFG(IMG_MT_OCI_CONFIG) ",\"layers\":[]}", NULL,
     IMG_MANIFEST, 0, NULL},
    {"oci index",
     "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":["
     "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":5,"
     "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
     "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":5,"
     "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}",
     NULL, IMG_INDEX, 2, NULL},
    {"docker list", "{\"schemaVersion\":2,\"manifests\":[]}", IMG_MT_DOCKER_LIST, IMG_INDEX, 0,
     NULL},
    /* refused */
    {"schema 1", "{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, -1, 0, "schema 1"},
    {"no schema", "{\"config\":{},\"layers\":[]}", NULL, -1, 0, "schemaVersion"},
    {"not json", "{\"schemaVersion\":2,", NULL, -1, 0, "JSON"},
    {"array", "[1,2]", NULL, -1, 0, "object"},
    {"duplicate keys", "{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, -1, 0, "JSON"},
    {"unknown media type", "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", NULL, -1, 0,
     "unsupported"},
    {"both kinds",
     "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST
     "\",\"config\":" CFG(IMG_MT_OCI_CONFIG) ",\"layers\":[],\"manifests\":[]}",
     NULL, -1, 0, "both"},
    {"bad digest",
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:abc\",\"size\":1},"
     "\"layers\":[]}",
     NULL, -1, 0, "digest"},
    {"path in digest",
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:../../../etc/"
     "passwd\",\"size\":1},\"layers\":[]}",
     NULL, -1, 0, "digest"},
    {"negative size",
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":-1},"
     "\"layers\":[]}",
     NULL, -1, 0, "size"},
    {"string size",
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":\"1\"},"
     "\"layers\":[]}",
     NULL, -1, 0, "size"},
    {"unknown layer type",
     "{\"schemaVersion\":2,\"config\":" CFG(IMG_MT_OCI_CONFIG) ",\"layers\":[" LAYER(
         "application/x-evil", D2) "]}",
     NULL, -1, 0, "unsupported media type"},
    {"layers not a list",
     "{\"schemaVersion\":2,\"config\":" CFG(IMG_MT_OCI_CONFIG) ",\"layers\":{}}", NULL, -1, 0,
     "layers"},
    {"index entry not an object", "{\"schemaVersion\":2,\"manifests\":[1]}", NULL, -1, 0,
     "descriptor"},
};

static void test_documents(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        const struct doc_case *c = &docs[i];
        struct img_manifest *m = NULL;
        struct error *err = NULL;
        int r = img_manifest_parse(c->doc, strlen(c->doc), c->content_type, &m, &err);
        if (c->kind < 0) {
            if (r == 0)
                fail_msg("%s: accepted", c->title);
            if (c->why && !strstr(err->msg, c->why))
                fail_msg("%s: error \"%s\" lacks \"%s\"", c->title, err->msg, c->why);
            assert_null(m);
        } else {
            if (r != 0)
                fail_msg("%s: refused: %s", c->title, err->msg);
            assert_int_equal(m->kind, c->kind);
            assert_int_equal(c->kind == IMG_INDEX ? m->n_entries : m->n_layers, c->n);
        }
        if (m && m->kind == IMG_MANIFEST && m->n_layers == 2)
            assert_int_equal(m->layers[1].compression, IMG_COMP_ZSTD);
        img_manifest_free(m);
        error_free(err);
    }
}

static void test_caps(void **state)
{
    (void)state;
    /* too many layers */
    size_t n = IMG_MAX_LAYERS + 1;
    size_t cap = 200 + n * 200;
    char *doc = malloc(cap);
    size_t o = (size_t)snprintf(
        doc, cap, "{\"schemaVersion\":2,\"config\":" CFG(IMG_MT_OCI_CONFIG) ",\"layers\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%s" LAYER(GZ, D2), i ? "," : "");
    o += (size_t)snprintf(doc + o, cap - o, "]}");
    struct img_manifest *m = NULL;
    struct error *err = NULL;
    assert_int_equal(img_manifest_parse(doc, o, NULL, &m, &err), -E2BIG);
    error_free(err);
    free(doc);
    /* a manifest larger than the cap is refused before parsing */
    err = NULL;
    assert_int_equal(img_manifest_parse("{}", IMG_MAX_MANIFEST + 1, NULL, &m, &err), -E2BIG);
    error_free(err);
}

static void test_index_select(void **state)
{
    (void)state;
    const char *doc =
        "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":5,"
        "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}},"
        "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":5,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
        "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":5,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
        "{\"mediaType\":\"" IMG_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":5,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":5,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
    struct img_manifest *m = NULL;
    struct error *err = NULL;
    assert_int_equal(img_manifest_parse(doc, strlen(doc), IMG_MT_OCI_INDEX, &m, &err), 0);
    static const struct {
        const char *arch, *variant, *want;
    } cases[] = {
        {"amd64", NULL, D1}, {"arm", "v7", D3},     {"arm", "v6", D2},
        {"arm64", "v8", D2}, {"s390x", NULL, NULL}, {"arm", "v5", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct img_platform_entry *e = NULL;
        err = NULL;
        int r = img_index_select(m, "linux", cases[i].arch, cases[i].variant, &e, &err);
        if (cases[i].want) {
            assert_int_equal(r, 0);
            assert_string_equal(e->desc.digest, cases[i].want);
        } else {
            assert_int_equal(r, -ENOENT);
            assert_non_null(strstr(err->msg, "no matching manifest"));
            error_free(err);
        }
    }
    const char *os, *arch, *variant;
    img_platform_host(&os, &arch, &variant);
    assert_string_equal(os, "linux");
    img_manifest_free(m);
}

static void test_config(void **state)
{
    (void)state;
    const char *doc = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
                      "\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,"
                      "\"Env\":[\"PATH=/bin\",\"A=b=c\"],\"WorkingDir\":\"/srv\","
                      "\"User\":\"1000:1000\",\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},"
                      "\"Labels\":{\"a\":\"1\",\"b\":\"2\"},\"StopSignal\":\"SIGQUIT\"},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
    struct img_config *c = NULL;
    struct error *err = NULL;
    assert_int_equal(img_config_parse(doc, strlen(doc), &c, &err), 0);
    assert_true(c->has_entrypoint);
    assert_int_equal(c->n_entrypoint, 2);
    assert_string_equal(c->entrypoint[1], "-c");
    assert_false(c->has_cmd);
    assert_int_equal(c->n_env, 2);
    assert_string_equal(c->env[1], "A=b=c");
    assert_string_equal(c->working_dir, "/srv");
    assert_string_equal(c->user, "1000:1000");
    assert_string_equal(c->stop_signal, "SIGQUIT");
    assert_int_equal(c->n_exposed_ports, 2);
    assert_int_equal(c->n_labels, 2);
    assert_int_equal(c->n_diff_ids, 2);
    assert_string_equal(c->diff_ids[1], D2);
    img_config_free(c);

    static const char *const bad[] = {
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:x\"]}}",
        "{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
        "{\"config\":{\"Env\":\"PATH=/bin\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "{\"config\":{\"Cmd\":[1]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "{\"config\":[],\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        c = NULL;
        if (img_config_parse(bad[i], strlen(bad[i]), &c, &err) == 0)
            fail_msg("config accepted: %s", bad[i]);
        error_free(err);
    }
}

static void test_challenges(void **state)
{
    (void)state;
    struct img_challenge c;
    assert_int_equal(
        img_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry."
                            "docker.io\",scope=\"repository:library/busybox:pull\"",
                            &c),
        0);
    assert_string_equal(c.scheme, "Bearer");
    assert_string_equal(c.realm, "https://auth.docker.io/token");
    assert_string_equal(c.service, "registry.docker.io");
    assert_string_equal(c.scope, "repository:library/busybox:pull");
    img_challenge_done(&c);
    assert_int_equal(img_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
    assert_string_equal(c.scheme, "Basic");
    assert_string_equal(c.realm, "Registry Realm");
    assert_null(c.service);
    img_challenge_done(&c);
    assert_int_equal(img_challenge_parse("Bearer realm=tok,  service = \"a\\\"b\"", &c), 0);
    assert_string_equal(c.realm, "tok");
    assert_string_equal(c.service, "a\"b");
    img_challenge_done(&c);
    assert_int_equal(img_challenge_parse("", &c), -EINVAL);
    assert_int_equal(img_challenge_parse("Bearer realm=\"unterminated", &c), -EINVAL);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void test_registry_conf(void **state)
{
    (void)state;
    char dir[] = "/tmp/skiff-regconf-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct img_registry_conf c;
    struct error *err = NULL;
    /* no file: defaults */
    assert_int_equal(img_registry_conf_load(dir, "docker.io", &c, &err), 0);
    assert_string_equal(c.host, "registry-1.docker.io");
    assert_false(c.allow_http);
    assert_true(c.tls_verify);
    img_registry_conf_done(&c);
    assert_int_equal(img_registry_conf_load(dir, "127.0.0.1:5000", &c, &err), 0);
    assert_true(c.allow_http);
    assert_true(c.tls_verify);
    img_registry_conf_done(&c);
    assert_int_equal(img_registry_conf_load(dir, "10.1.2.3:5000", &c, &err), 0);
    assert_false(c.allow_http); /* not loopback, not listed: TLS only */
    assert_true(c.tls_verify);
    assert_string_equal(c.host, "10.1.2.3:5000");
    img_registry_conf_done(&c);
    write_file(dir, "registries.conf",
               "# comment\nunqualified-search-registries = [\"docker.io\"]\n"
               "[[registry]]\nlocation = \"reg.lan:5000\"\ninsecure = true\n"
               "[[registry]]\n  location = \"secure.example\"  # trailing comment\n"
               "  ca_file = \"/etc/ca \\\"x\\\".pem\"\n"
               "[[registry]]\nlocation = \"bad.example\"\nblocked = true\n"
               "[cache]\nmax_size = \"1.5G\"\n");
    assert_int_equal(img_registry_conf_load(dir, "reg.lan:5000", &c, &err), 0);
    assert_true(c.allow_http);
    assert_false(c.tls_verify);
    img_registry_conf_done(&c);
    assert_int_equal(img_registry_conf_load(dir, "secure.example", &c, &err), 0);
    assert_false(c.allow_http);
    assert_string_equal(c.ca_file, "/etc/ca \"x\".pem");
    img_registry_conf_done(&c);
    assert_int_equal(img_registry_conf_load(dir, "bad.example", &c, &err), 0);
    assert_true(c.blocked);
    img_registry_conf_done(&c);
    int64_t max = 0;
    assert_int_equal(img_cache_conf_load(dir, &max, &err), 0);
    assert_int_equal(max, (int64_t)(1.5 * 1024 * 1024 * 1024));
    write_file(dir, "registries.conf", "[[registry]]\nlocation = unquoted\n");
    assert_int_equal(img_registry_conf_load(dir, "x", &c, &err), -EINVAL);
    assert_non_null(strstr(err->msg, ":2:"));
    error_free(err);
    err = NULL;
    write_file(dir, "registries.conf", "[cache]\nmax_size = \"lots\"\n");
    assert_int_equal(img_cache_conf_load(dir, &max, &err), -EINVAL);
    error_free(err);
    err = NULL;

    /* config.json credentials */
    char *user = NULL, *pass = NULL;
    assert_int_equal(img_credentials_lookup(dir, "docker.io", &user, &pass, &err), -ENOENT);
    /* "alice:s3cr:et" */
    write_file(dir, "config.json",
               "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6czNjcjpldA==\"},"
               "\"127.0.0.1:5000\":{\"username\":\"bob\",\"password\":\"pw\"}}}");
    assert_int_equal(img_credentials_lookup(dir, "docker.io", &user, &pass, &err), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(pass, "s3cr:et");
    free(user);
    free(pass);
    assert_int_equal(img_credentials_lookup(dir, "127.0.0.1:5000", &user, &pass, &err), 0);
    assert_string_equal(user, "bob");
    free(user);
    free(pass);
    assert_int_equal(img_credentials_lookup(dir, "127.0.0.1:5001", &user, &pass, &err), -ENOENT);
    write_file(dir, "config.json", "{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}");
    assert_int_equal(img_credentials_lookup(dir, "h", &user, &pass, &err), -EINVAL);
    error_free(err);

    assert_true(img_host_is_loopback("127.0.0.1:5000"));
    assert_true(img_host_is_loopback("127.9.9.9"));
    assert_true(img_host_is_loopback("localhost:80"));
    assert_true(img_host_is_loopback("[::1]:5000"));
    assert_false(img_host_is_loopback("128.0.0.1:5000"));
    assert_false(img_host_is_loopback("localhost.evil.com"));
    assert_false(img_host_is_loopback("[::2]:5000"));
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents),    cmocka_unit_test(test_caps),
        cmocka_unit_test(test_index_select), cmocka_unit_test(test_config),
        cmocka_unit_test(test_challenges),   cmocka_unit_test(test_registry_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
