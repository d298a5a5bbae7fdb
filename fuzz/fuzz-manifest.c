/* libFuzzer harness for the registry documents skiff parses: manifests and
 * indexes (with each Content-Type the registry could claim), image
 * configs, WWW-Authenticate challenges and image references.
 *
 * The image module's parsers are compiled into this harness directly (they
 * need nothing beyond base/ and jansson), so the fuzz build needs no
 * dependency on the whole module. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/image/auth.c"
#include "../src/image/manifest.c"
#include "../src/image/ref.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {NULL,
                                        IMG_MT_OCI_INDEX,
                                        IMG_MT_OCI_MANIFEST,
                                        IMG_MT_DOCKER_LIST,
                                        IMG_MT_DOCKER_MANIFEST,
                                        "text/plain; charset=utf-8"};
    if (size == 0)
        return 0;
    /* the first byte picks the Content-Type */
    const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;

    struct img_manifest *m = NULL;
    struct error *err = NULL;
    if (img_manifest_parse(doc, len, ct, &m, &err) == 0) {
        if (!m || (m->kind != IMG_INDEX && m->kind != IMG_MANIFEST))
            abort();
        for (size_t i = 0; i < m->n_layers; i++)
            if (!img_digest_valid(m->layers[i].digest) || m->layers[i].size < 0)
                abort();
        if (m->kind == IMG_INDEX) {
            const struct img_platform_entry *e = NULL;
            struct error *e2 = NULL;
            if (img_index_select(m, "linux", "arm", "v7", &e, &e2) == 0 &&
                !img_digest_valid(e->desc.digest))
                abort();
            error_free(e2);
        }
        img_manifest_free(m);
    } else if (!err) {
        abort(); /* a failure always explains itself */
    }
    error_free(err);

    err = NULL;
    struct img_config *c = NULL;
    if (img_config_parse(doc, len, &c, &err) == 0) {
        for (size_t i = 0; i < c->n_diff_ids; i++)
            if (!img_digest_valid(c->diff_ids[i]))
                abort();
        img_config_free(c);
    }
    error_free(err);

    /* NUL-terminated views for the string parsers */
    char *s = malloc(len + 1);
    memcpy(s, doc, len);
    s[len] = '\0';
    struct img_challenge ch;
    if (img_challenge_parse(s, &ch) == 0)
        img_challenge_done(&ch);
    struct img_ref r = {0};
    err = NULL;
    if (img_ref_parse(s, &r, &err) == 0) {
        char *f = img_ref_format(&r);
        /* normalisation is idempotent */
        struct img_ref r2 = {0};
        struct error *e2 = NULL;
        if (img_ref_parse(f, &r2, &e2) != 0)
            abort();
        char *f2 = img_ref_format(&r2);
        if (strcmp(f, f2) != 0)
            abort();
        free(f2);
        free(f);
        img_ref_done(&r2);
        img_ref_done(&r);
    }
    error_free(err);
    free(s);
    return 0;
}
