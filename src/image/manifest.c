/* Manifest, index and config parsing (see manifest.h). Everything here reads
 * untrusted bytes: every member is type-checked and every count capped. */
#include "image/manifest.h"
#include "image/ref.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#define MAX_STRING_LIST 4096 /* entries of Env, Cmd, ... */
#define MAX_LABELS      4096

static int bad(struct error **err, const char *fmt, const char *what)
{
    return error_set(err, EINVAL, NULL, fmt, what);
}

static void descriptor_done(struct img_descriptor *d)
{
    free(d->media_type);
    d->media_type = NULL;
}

static enum img_compression compression_of(const char *mt)
{
    size_t n = strlen(mt);
    if ((n >= 5 && !strcmp(mt + n - 5, "+zstd")))
        return IMG_COMP_ZSTD;
    if ((n >= 5 && !strcmp(mt + n - 5, "+gzip")) || (n >= 5 && !strcmp(mt + n - 5, ".gzip")))
        return IMG_COMP_GZIP;
    return IMG_COMP_NONE;
}

static bool layer_type_known(const char *mt)
{
    static const char *const known[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    };
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (!strcmp(mt, known[i]))
            return true;
    return false;
}

static int parse_descriptor(const json_t *o, const char *what, struct img_descriptor *d,
                            struct error **err)
{
    if (!json_is_object(o))
        return bad(err, "%s: descriptor is not an object", what);
    const char *mt = json_get_str(o, "mediaType");
    const char *digest = json_get_str(o, "digest");
    json_t *size = json_object_get(o, "size");
    if (!mt || !*mt || strlen(mt) > 255)
        return bad(err, "%s: descriptor without a valid mediaType", what);
    if (!img_digest_valid(digest))
        return bad(err, "%s: descriptor digest is not sha256:<64 hex>", what);
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > IMG_MAX_BLOB_SIZE)
        return bad(err, "%s: descriptor size is missing or out of range", what);
    d->media_type = xstrdup(mt);
    memcpy(d->digest, digest, IMG_DIGEST_LEN + 1);
    d->size = json_integer_value(size);
    d->compression = compression_of(mt);
    return 0;
}

static int parse_manifest(const json_t *doc, struct img_manifest *m, struct error **err)
{
    int r = parse_descriptor(json_object_get(doc, "config"), "config", &m->config, err);
    if (r < 0)
        return r;
    json_t *layers = json_object_get(doc, "layers");
    if (!json_is_array(layers))
        return bad(err, "%s: manifest has no layers list", "manifest");
    size_t n = json_array_size(layers);
    if (n > IMG_MAX_LAYERS)
        return error_set(err, E2BIG, NULL, "manifest has %zu layers (at most %d)", n,
                         IMG_MAX_LAYERS);
    m->layers = xcalloc(n ? n : 1, sizeof(*m->layers));
    for (size_t i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof(what), "layer %zu", i);
        r = parse_descriptor(json_array_get(layers, i), what, &m->layers[i], err);
        if (r < 0)
            return r;
        m->n_layers = i + 1;
        if (!layer_type_known(m->layers[i].media_type))
            return error_set(err, EINVAL, NULL, "layer %zu: unsupported media type %.200s", i,
                             m->layers[i].media_type);
    }
    return 0;
}

static char *opt_str(const json_t *o, const char *key, size_t max)
{
    const char *s = json_get_str(o, key);
    return s && strlen(s) <= max ? xstrdup(s) : NULL;
}

static int parse_index(const json_t *doc, struct img_manifest *m, struct error **err)
{
    json_t *list = json_object_get(doc, "manifests");
    if (!json_is_array(list))
        return bad(err, "%s: index has no manifests list", "index");
    size_t n = json_array_size(list);
    if (n > IMG_MAX_INDEX)
        return error_set(err, E2BIG, NULL, "index has %zu entries (at most %d)", n, IMG_MAX_INDEX);
    m->entries = xcalloc(n ? n : 1, sizeof(*m->entries));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        char what[32];
        snprintf(what, sizeof(what), "index entry %zu", i);
        struct img_platform_entry *pe = &m->entries[i];
        int r = parse_descriptor(e, what, &pe->desc, err);
        if (r < 0)
            return r;
        m->n_entries = i + 1;
        json_t *p = json_object_get(e, "platform");
        if (p && !json_is_object(p))
            return bad(err, "%s: platform is not an object", what);
        pe->os = opt_str(p, "os", 64);
        pe->arch = opt_str(p, "architecture", 64);
        pe->variant = opt_str(p, "variant", 64);
    }
    return 0;
}

static bool is_index_type(const char *mt)
{
    return mt && (!strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_DOCKER_LIST));
}

static bool is_manifest_type(const char *mt)
{
    return mt && (!strcmp(mt, IMG_MT_OCI_MANIFEST) || !strcmp(mt, IMG_MT_DOCKER_MANIFEST));
}

int img_manifest_parse(const char *data, size_t len, const char *content_type,
                       struct img_manifest **ret, struct error **err)
{
    if (len > IMG_MAX_MANIFEST)
        return error_set(err, E2BIG, NULL, "manifest is %zu bytes (at most %d)", len,
                         IMG_MAX_MANIFEST);
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return error_set(err, EINVAL, NULL, "manifest is not valid JSON: %.200s", jerr.text);
    struct img_manifest *m = xzalloc(sizeof(*m));
    int r = 0;
    if (!json_is_object(doc)) {
        r = bad(err, "%s is not a JSON object", "manifest");
        goto out;
    }
    json_t *sv = json_object_get(doc, "schemaVersion");
    if (json_is_integer(sv) && json_integer_value(sv) == 1) {
        r = bad(err, "%s: Docker schema 1 manifests are not supported", "manifest");
        goto out;
    }
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        r = bad(err, "%s: schemaVersion must be 2", "manifest");
        goto out;
    }
    /* Strip parameters ("; charset=...") from the Content-Type. */
    char ct[128] = "";
    if (content_type) {
        snprintf(ct, sizeof(ct), "%s", content_type);
        ct[strcspn(ct, "; \t")] = '\0';
    }
    const char *mt = json_get_str(doc, "mediaType");
    if (json_object_get(doc, "mediaType") && !mt) {
        r = bad(err, "%s: mediaType is not a string", "manifest");
        goto out;
    }
    const char *kind = mt ? mt : ct;
    if (is_index_type(kind)) {
        m->kind = IMG_INDEX;
    } else if (is_manifest_type(kind)) {
        m->kind = IMG_MANIFEST;
    } else if (mt) {
        r = error_set(err, EINVAL, NULL, "unsupported manifest media type %.200s", mt);
        goto out;
    } else if (json_object_get(doc, "manifests")) {
        m->kind = IMG_INDEX;
        kind = IMG_MT_OCI_INDEX;
    } else if (json_object_get(doc, "config")) {
        m->kind = IMG_MANIFEST;
        kind = IMG_MT_OCI_MANIFEST;
    } else {
        r = bad(err, "%s: neither an index nor an image manifest", "manifest");
        goto out;
    }
    /* A document that contradicts its own kind is refused (the OCI spec's
     * guard against a manifest being read as an index or vice versa). */
    if ((m->kind == IMG_INDEX && json_object_get(doc, "layers")) ||
        (m->kind == IMG_MANIFEST && json_object_get(doc, "manifests"))) {
        r = bad(err, "%s: document has both manifest and index members", "manifest");
        goto out;
    }
    m->media_type = xstrdup(kind);
    r = m->kind == IMG_INDEX ? parse_index(doc, m, err) : parse_manifest(doc, m, err);
out:
    json_decref(doc);
    if (r < 0) {
        img_manifest_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

void img_manifest_free(struct img_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    descriptor_done(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_done(&m->layers[i]);
    free(m->layers);
    for (size_t i = 0; i < m->n_entries; i++) {
        descriptor_done(&m->entries[i].desc);
        free(m->entries[i].os);
        free(m->entries[i].arch);
        free(m->entries[i].variant);
    }
    free(m->entries);
    free(m);
}

void img_platform_host(const char **ret_os, const char **ret_arch, const char **ret_variant)
{
    static const struct {
        const char *uname, *arch, *variant;
    } map[] = {
        {"x86_64", "amd64", NULL},    {"aarch64", "arm64", "v8"}, {"armv7l", "arm", "v7"},
        {"armv6l", "arm", "v6"},      {"i686", "386", NULL},      {"i386", "386", NULL},
        {"ppc64le", "ppc64le", NULL}, {"s390x", "s390x", NULL},   {"riscv64", "riscv64", NULL},
    };
    struct utsname u;
    *ret_os = "linux";
    *ret_arch = "amd64";
    *ret_variant = NULL;
    if (uname(&u) < 0)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        if (!strcmp(u.machine, map[i].uname)) {
            *ret_arch = map[i].arch;
            *ret_variant = map[i].variant;
            return;
        }
    }
}

int img_index_select(const struct img_manifest *index, const char *os, const char *arch,
                     const char *variant, const struct img_platform_entry **ret, struct error **err)
{
    const struct img_platform_entry *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < index->n_entries; i++) {
        const struct img_platform_entry *e = &index->entries[i];
        if (!e->os || !e->arch || strcmp(e->os, os) != 0 || strcmp(e->arch, arch) != 0)
            continue;
        if (!is_manifest_type(e->desc.media_type))
            continue;
        /* exact variant > no variant in the entry > another variant (arm64's
         * v8 is the default, so "arm64" with no variant fits v8) */
        int score;
        if (variant && e->variant && !strcmp(variant, e->variant))
            score = 3;
        else if (!e->variant || !variant)
            score = 2;
        else
            score = 1;
        if (score > best_score) {
            best = e;
            best_score = score;
        }
    }
    if (!best || (best_score == 1 && strcmp(arch, "arm") == 0))
        return error_set(err, ENOENT, NULL,
                         "no matching manifest for %s/%s%s%s in the manifest list entries", os,
                         arch, variant ? "/" : "", variant ? variant : "");
    *ret = best;
    return 0;
}

/* A JSON list of strings into a new array; NULL or JSON null gives none. */
static int string_list(const json_t *v, const char *what, char ***ret, size_t *ret_n,
                       struct error **err)
{
    *ret = NULL;
    *ret_n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(err, "image config: %s is not a list", what);
    size_t n = json_array_size(v);
    if (n > MAX_STRING_LIST)
        return bad(err, "image config: %s has too many entries", what);
    char **a = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s) {
            for (size_t k = 0; k < i; k++)
                free(a[k]);
            free(a);
            return bad(err, "image config: %s has a non-string entry", what);
        }
        a[i] = xstrdup(s);
    }
    *ret = a;
    *ret_n = n;
    return 0;
}

static void free_list(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

static int parse_config_body(const json_t *doc, struct img_config *c, struct error **err)
{
    c->os = opt_str(doc, "os", 64);
    c->arch = opt_str(doc, "architecture", 64);
    json_t *cfg = json_object_get(doc, "config");
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
        return bad(err, "image config: %s is not an object", "config");
    if (json_is_object(cfg)) {
        json_t *ep = json_object_get(cfg, "Entrypoint");
        json_t *cmd = json_object_get(cfg, "Cmd");
        int r;
        c->has_entrypoint = ep && !json_is_null(ep);
        c->has_cmd = cmd && !json_is_null(cmd);
        if ((r = string_list(ep, "Entrypoint", &c->entrypoint, &c->n_entrypoint, err)) < 0 ||
            (r = string_list(cmd, "Cmd", &c->cmd, &c->n_cmd, err)) < 0 ||
            (r = string_list(json_object_get(cfg, "Env"), "Env", &c->env, &c->n_env, err)) < 0)
            return r;
        const char *wd = json_get_str(cfg, "WorkingDir");
        if (wd && *wd)
            c->working_dir = xstrdup(wd);
        const char *user = json_get_str(cfg, "User");
        if (user && *user)
            c->user = xstrdup(user);
        const char *sig = json_get_str(cfg, "StopSignal");
        if (sig && *sig)
            c->stop_signal = xstrdup(sig);
        json_t *ports = json_object_get(cfg, "ExposedPorts");
        if (json_is_object(ports)) {
            size_t n = json_object_size(ports);
            if (n > MAX_STRING_LIST)
                return bad(err, "image config: %s has too many entries", "ExposedPorts");
            c->exposed_ports = xcalloc(n + 1, sizeof(char *));
            const char *k;
            json_t *v;
            json_object_foreach(ports, k, v) c->exposed_ports[c->n_exposed_ports++] = xstrdup(k);
        }
        json_t *labels = json_object_get(cfg, "Labels");
        if (json_is_object(labels)) {
            size_t n = json_object_size(labels);
            if (n > MAX_LABELS)
                return bad(err, "image config: %s has too many entries", "Labels");
            c->labels = xcalloc(n + 1, sizeof(*c->labels));
            const char *k;
            json_t *v;
            json_object_foreach(labels, k, v)
            {
                if (!json_is_string(v))
                    continue;
                c->labels[c->n_labels].key = xstrdup(k);
                c->labels[c->n_labels].value = xstrdup(json_string_value(v));
                c->n_labels++;
            }
        }
    }
    json_t *rootfs = json_object_get(doc, "rootfs");
    const char *type = json_get_str(rootfs, "type");
    json_t *ids = json_object_get(rootfs, "diff_ids");
    if (!type || strcmp(type, "layers") != 0 || !json_is_array(ids))
        return bad(err, "image config: %s must be {type: layers, diff_ids: [...]}", "rootfs");
    size_t n = json_array_size(ids);
    if (n > IMG_MAX_LAYERS)
        return bad(err, "image config: %s has too many entries", "rootfs.diff_ids");
    c->diff_ids = xcalloc(n ? n : 1, sizeof(*c->diff_ids));
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (!img_digest_valid(id))
            return bad(err, "image config: %s has an entry that is not sha256:<64 hex>",
                       "rootfs.diff_ids");
        memcpy(c->diff_ids[i], id, IMG_DIGEST_LEN + 1);
        c->n_diff_ids = i + 1;
    }
    return 0;
}

int img_config_parse(const char *data, size_t len, struct img_config **ret, struct error **err)
{
    if (len > IMG_MAX_CONFIG)
        return error_set(err, E2BIG, NULL, "image config is %zu bytes (at most %d)", len,
                         IMG_MAX_CONFIG);
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, 0, &jerr);
    if (!doc)
        return error_set(err, EINVAL, NULL, "image config is not valid JSON: %.200s", jerr.text);
    struct img_config *c = xzalloc(sizeof(*c));
    int r = json_is_object(doc) ? parse_config_body(doc, c, err)
                                : bad(err, "%s is not a JSON object", "image config");
    json_decref(doc);
    if (r < 0) {
        img_config_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

void img_config_free(struct img_config *c)
{
    if (!c)
        return;
    free(c->os);
    free(c->arch);
    free_list(c->entrypoint, c->n_entrypoint);
    free_list(c->cmd, c->n_cmd);
    free_list(c->env, c->n_env);
    free(c->working_dir);
    free(c->user);
    free(c->stop_signal);
    free_list(c->exposed_ports, c->n_exposed_ports);
    for (size_t i = 0; i < c->n_labels; i++) {
        free(c->labels[i].key);
        free(c->labels[i].value);
    }
    free(c->labels);
    free(c->diff_ids);
    free(c);
}
