/* Offline import: an OCI image layout (directory or tar) or a `docker save`
 * tar, without a registry.
 *
 * Every file of a tar is streamed into the content store as it comes (its
 * digest computed on the way), so a multi-GB archive is read once; files
 * named blobs/sha256/<hex> must hash to their name. A directory is read on
 * demand, each file opened beneath the directory without following
 * symlinks. Then the index (index.json, OCI) or manifest.json (docker save)
 * says which images there are; each is installed like a pulled one (layers
 * verified against their diff_ids and unpacked, record written). */
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IMPORT_MAX_FILES  100000
#define IMPORT_MAX_IMAGES 1000
#define IMPORT_BLOCK      (256 * 1024)

struct src_file {
    char *name; /* cleaned path inside the archive */
    char digest[IMG_DIGEST_LEN + 1];
    int64_t size;
};

struct source {
    struct cas *cas;
    int dirfd; /* directory layout; -1 for a tar */
    struct src_file *files;
    size_t n, alloc;
};

static void add_file(struct source *s, const char *name, const char *digest, int64_t size)
{
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? 2 * s->alloc : 64;
        s->files = xrealloc(s->files, s->alloc * sizeof(*s->files));
    }
    struct src_file *f = &s->files[s->n++];
    f->name = xstrdup(name);
    memcpy(f->digest, digest, IMG_DIGEST_LEN + 1);
    f->size = size;
}

static void source_done(struct source *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->files[i].name);
    free(s->files);
    closep(&s->dirfd);
}

/* "blobs/sha256/<hex>" names its own digest. */
static bool name_digest(const char *name, char out[IMG_DIGEST_LEN + 1])
{
    if (strncmp(name, "blobs/sha256/", 13) != 0)
        return false;
    snprintf(out, IMG_DIGEST_LEN + 1, "sha256:%s", name + 13);
    return img_digest_valid(out);
}

/* Streams fd (or the archive's current entry) into the store. */
static int ingest(struct source *s, const char *name, int fd, struct archive *a, struct error **err)
{
    char want[IMG_DIGEST_LEN + 1];
    bool named = name_digest(name, want);
    struct cas_writer *w = NULL;
    int r = cas_writer_new(s->cas, NULL, -1, &w, err);
    if (r < 0)
        return r;
    struct reg_sink sink = cas_writer_sink(w);
    _cleanup_free_ char *block = xmalloc(IMPORT_BLOCK);
    int64_t total = 0;
    for (;;) {
        ssize_t n;
        if (a) {
            n = archive_read_data(a, block, IMPORT_BLOCK);
            if (n < 0) {
                r = error_set(err, EBADMSG, NULL, "%s: %s", name, archive_error_string(a));
                break;
            }
        } else {
            n = read(fd, block, IMPORT_BLOCK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                r = error_errno(err, errno, "read %s", name);
                break;
            }
        }
        if (n == 0)
            break;
        r = sink.write(sink.arg, block, (size_t)n);
        if (r < 0) {
            r = error_errno(err, -r, "store %s", name);
            break;
        }
        total += n;
    }
    char digest[IMG_DIGEST_LEN + 1];
    if (r == 0)
        r = cas_writer_commit_any(w, digest, err);
    cas_writer_free(w);
    if (r < 0)
        return r;
    if (named && strcmp(want, digest) != 0)
        return error_set(err, EBADMSG, NULL, "%s: content has digest %s (digest mismatch)", name,
                         digest);
    add_file(s, name, digest, total);
    return 0;
}

static int read_tar(struct source *s, const char *path, struct error **err)
{
    struct archive *a = archive_read_new();
    if (!a)
        abort();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    int r = 0;
    if (archive_read_open_filename(a, path, IMPORT_BLOCK) != ARCHIVE_OK) {
        r = error_set(err, EINVAL, NULL, "%s: %s", path, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    for (;;) {
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = error_set(err, EINVAL, NULL, "%s is not a valid tar archive: %s", path,
                          archive_error_string(a));
            goto out;
        }
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
            continue;
        const char *name = archive_entry_pathname(e);
        char clean[PATH_MAX];
        const char *why;
        if (!name || img_tarpath_clean(name, clean, sizeof(clean), &why) < 0)
            continue;
        if (s->n >= IMPORT_MAX_FILES) {
            r = error_set(err, E2BIG, NULL, "%s has more than %d files", path, IMPORT_MAX_FILES);
            goto out;
        }
        r = ingest(s, clean, -1, a, err);
        if (r < 0)
            goto out;
    }
out:
    archive_read_free(a);
    return r;
}

/* The file called name in the source: its digest in the store. */
static const struct src_file *src_get(struct source *s, const char *name, struct error **err)
{
    char clean[PATH_MAX];
    const char *why;
    if (img_tarpath_clean(name, clean, sizeof(clean), &why) < 0) {
        error_set(err, EINVAL, NULL, "archive names a bad path \"%.200s\": %s", name, why);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->files[i].name, clean))
            return &s->files[i];
    if (s->dirfd < 0) {
        error_set(err, ENOENT, NULL, "archive has no file %.200s", clean);
        return NULL;
    }
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, s->dirfd, clean, &how, sizeof(how));
    if (fd < 0) {
        error_errno(err, errno, "open %.200s in the image layout", clean);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_set(err, EINVAL, NULL, "%.200s in the image layout is not a regular file", clean);
        return NULL;
    }
    if (ingest(s, clean, fd, NULL, err) < 0)
        return NULL;
    return &s->files[s->n - 1];
}

/* A small JSON file of the source, parsed. */
static int src_json(struct source *s, const char *name, json_t **ret, struct error **err)
{
    const struct src_file *f = src_get(s, name, err);
    if (!f)
        return -(*err)->errnum;
    struct buf b;
    int r = cas_blob_read(s->cas, f->digest, IMG_MAX_MANIFEST, &b, err);
    if (r < 0)
        return r == -ENOENT ? error_set(err, ENOENT, NULL, "%s vanished", name) : r;
    json_error_t jerr;
    *ret = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
    buf_done(&b);
    if (!*ret)
        return error_set(err, EINVAL, NULL, "%s: %s", name, jerr.text);
    return 0;
}

struct results {
    struct img_info **v;
    size_t n;
};

static void add_result(struct results *res, struct img_info *i)
{
    res->v = xrealloc(res->v, (res->n + 1) * sizeof(*res->v));
    res->v[res->n++] = i;
}

/* Installs the manifest whose digest is given (an index: the host's
 * platform) under reference. */
static int install(struct db *db, struct source *s, const char *digest, const char *reference,
                   struct results *res, struct error **err)
{
    struct cas *cas = s->cas;
    char blob[64 + 14];
    snprintf(blob, sizeof(blob), "blobs/sha256/%s", digest + 7);
    if (!cas_blob_present(cas, digest, NULL) && !src_get(s, blob, err))
        return -(*err)->errnum;
    struct buf b;
    int r = cas_blob_read(cas, digest, IMG_MAX_MANIFEST, &b, err);
    if (r < 0)
        return r;
    struct img_manifest *m = NULL;
    r = img_manifest_parse(b.data ? b.data : "", b.len, NULL, &m, err);
    int64_t bytes = (int64_t)b.len;
    buf_done(&b);
    if (r < 0)
        return r;
    char index_digest[IMG_DIGEST_LEN + 1] = "";
    char mdigest[IMG_DIGEST_LEN + 1];
    memcpy(mdigest, digest, sizeof(mdigest));
    if (m->kind == IMG_INDEX) {
        const char *os, *arch, *variant;
        const struct img_platform_entry *e = NULL;
        img_platform_host(&os, &arch, &variant);
        r = img_index_select(m, os, arch, variant, &e, err);
        if (r < 0) {
            img_manifest_free(m);
            return r;
        }
        memcpy(index_digest, digest, sizeof(index_digest));
        memcpy(mdigest, e->desc.digest, sizeof(mdigest));
        img_manifest_free(m);
        m = NULL;
        snprintf(blob, sizeof(blob), "blobs/sha256/%s", mdigest + 7);
        if (!cas_blob_present(cas, mdigest, NULL) && !src_get(s, blob, err))
            return -(*err)->errnum;
        r = cas_blob_read(cas, mdigest, IMG_MAX_MANIFEST, &b, err);
        if (r < 0)
            return r;
        r = img_manifest_parse(b.data ? b.data : "", b.len, NULL, &m, err);
        bytes += (int64_t)b.len;
        buf_done(&b);
        if (r == 0 && m->kind != IMG_MANIFEST)
            r = error_set(err, EINVAL, NULL, "index entry %s is not an image manifest", mdigest);
        if (r < 0) {
            img_manifest_free(m);
            return r;
        }
    }
    /* a directory layout: bring the config and layers in */
    for (size_t i = 0; r == 0 && i <= m->n_layers; i++) {
        const char *d = i < m->n_layers ? m->layers[i].digest : m->config.digest;
        snprintf(blob, sizeof(blob), "blobs/sha256/%s", d + 7);
        if (!cas_blob_present(cas, d, NULL) && !src_get(s, blob, err))
            r = -(*err)->errnum;
    }
    struct img_info *info = NULL;
    if (r == 0)
        r = img_install_manifest(db, cas, m, mdigest, index_digest[0] ? index_digest : NULL, bytes,
                                 reference, &info, err);
    img_manifest_free(m);
    if (r < 0)
        return error_wrap(err, "image %s", reference);
    add_result(res, info);
    return 0;
}

/* The reference to record an image under: the caller's, or the archive's
 * name for it, normalised. */
static int pick_reference(const char *given, const char *archive_name, size_t n_images, char **ret,
                          struct error **err)
{
    const char *name = given ? given : archive_name;
    if (!name || !*name)
        return error_set(err, EINVAL, ERR_INVALID,
                         "the archive does not name its image: give a reference to import it as");
    if (given && n_images != 1)
        return error_set(err, EINVAL, ERR_INVALID,
                         "the archive holds %zu images: a reference names only one", n_images);
    struct img_ref ref = {0};
    int r = img_ref_parse(name, &ref, err);
    if (r < 0)
        return r;
    *ret = img_ref_format(&ref);
    img_ref_done(&ref);
    return 0;
}

static int import_oci(struct db *db, struct source *s, const char *reference, struct results *res,
                      struct error **err)
{
    json_t *index = NULL;
    int r = src_json(s, "index.json", &index, err);
    if (r < 0)
        return r;
    json_t *list = json_get_array(index, "manifests");
    size_t n = json_array_size(list);
    if (!list || n == 0 || n > IMPORT_MAX_IMAGES) {
        json_decref(index);
        return error_set(err, EINVAL, NULL, "index.json lists no images (or too many)");
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *digest = json_get_str(e, "digest");
        json_t *ann = json_get_object(e, "annotations");
        const char *name = json_get_str(ann, "io.containerd.image.name");
        if (!name)
            name = json_get_str(ann, "org.opencontainers.image.ref.name");
        /* a bare tag ("latest", "v1") is not a name */
        if (name && !strchr(name, '/') && !strchr(name, ':') && !strchr(name, '@') && !reference)
            name = NULL;
        _cleanup_free_ char *refstr = NULL;
        if (!img_digest_valid(digest)) {
            r = error_set(err, EINVAL, NULL, "index.json entry %zu has no valid digest", i);
            break;
        }
        if ((r = pick_reference(reference, name, n, &refstr, err)) < 0 ||
            (r = install(db, s, digest, refstr, res, err)) < 0)
            break;
    }
    json_decref(index);
    return r;
}

static const char *layer_media_type(struct cas *cas, const char *digest)
{
    _cleanup_free_ char *path = cas_blob_path(cas, digest);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    unsigned char m[4] = {0};
    if (fd >= 0 && read(fd, m, 4) == 4) {
        if (m[0] == 0x1f && m[1] == 0x8b)
            return "application/vnd.oci.image.layer.v1.tar+gzip";
        if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
            return "application/vnd.oci.image.layer.v1.tar+zstd";
    }
    return "application/vnd.oci.image.layer.v1.tar";
}

/* docker save: manifest.json = [{Config, RepoTags, Layers}]; an OCI manifest
 * is written for each entry. */
static int import_docker(struct db *db, struct source *s, const char *reference,
                         struct results *res, struct error **err)
{
    json_t *doc = NULL;
    int r = src_json(s, "manifest.json", &doc, err);
    if (r < 0)
        return r;
    size_t n = json_array_size(doc);
    if (!json_is_array(doc) || n == 0 || n > IMPORT_MAX_IMAGES) {
        json_decref(doc);
        return error_set(err, EINVAL, NULL, "manifest.json lists no images (or too many)");
    }
    size_t i;
    json_t *e;
    json_array_foreach(doc, i, e)
    {
        const char *config = json_get_str(e, "Config");
        json_t *layers = json_get_array(e, "Layers");
        if (!config || !layers || json_array_size(layers) > IMG_MAX_LAYERS) {
            r = error_set(err, EINVAL, NULL, "manifest.json entry %zu is malformed", i);
            break;
        }
        const struct src_file *cf = src_get(s, config, err);
        if (!cf) {
            r = -(*err)->errnum;
            break;
        }
        json_t *m =
            json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                      IMG_MT_OCI_MANIFEST, "config", "mediaType", IMG_MT_OCI_CONFIG, "digest",
                      cf->digest, "size", (json_int_t)cf->size, "layers");
        size_t k;
        json_t *l;
        json_array_foreach(layers, k, l)
        {
            const struct src_file *lf =
                json_is_string(l) ? src_get(s, json_string_value(l), err) : NULL;
            if (!lf) {
                if (!*err)
                    error_set(err, EINVAL, NULL, "manifest.json entry %zu: bad layer", i);
                r = -(*err)->errnum;
                break;
            }
            json_array_append_new(json_object_get(m, "layers"),
                                  json_pack("{s:s, s:s, s:I}", "mediaType",
                                            layer_media_type(s->cas, lf->digest), "digest",
                                            lf->digest, "size", (json_int_t)lf->size));
        }
        if (r < 0) {
            json_decref(m);
            break;
        }
        _cleanup_free_ char *text = json_dump_compact(m);
        json_decref(m);
        struct cas_writer *w = NULL;
        char digest[IMG_DIGEST_LEN + 1];
        r = cas_writer_new(s->cas, NULL, -1, &w, err);
        if (r == 0) {
            struct reg_sink sink = cas_writer_sink(w);
            r = sink.write(sink.arg, text, strlen(text));
            r = r < 0 ? error_errno(err, -r, "store manifest")
                      : cas_writer_commit_any(w, digest, err);
        }
        cas_writer_free(w);
        if (r < 0)
            break;
        json_t *tags = json_get_array(e, "RepoTags");
        size_t n_tags = reference ? 1 : json_array_size(tags);
        if (n_tags == 0) {
            r = pick_reference(reference, NULL, n, NULL, err);
            break;
        }
        for (size_t t = 0; t < n_tags && r == 0; t++) {
            _cleanup_free_ char *refstr = NULL;
            r = pick_reference(reference, json_string_value(json_array_get(tags, t)), n, &refstr,
                               err);
            if (r == 0)
                r = install(db, s, digest, refstr, res, err);
        }
        if (r < 0)
            break;
    }
    json_decref(doc);
    return r;
}

int img_import(struct db *db, const char *path, const char *reference, struct img_info ***ret,
               size_t *ret_n, struct error **err)
{
    struct cas *cas = cas_global();
    if (!cas)
        return error_set(err, EIO, NULL, "the image store is not open");
    struct source s = {.cas = cas, .dirfd = -1};
    struct results res = {0};
    int lock = cas_gc_lock(cas, false, err);
    if (lock < 0)
        return lock;
    struct stat st;
    int r;
    if (stat(path, &st) < 0) {
        r = error_errno(err, errno, "%s", path);
    } else if (S_ISDIR(st.st_mode)) {
        s.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = s.dirfd < 0 ? error_errno(err, errno, "open %s", path) : 0;
    } else {
        r = read_tar(&s, path, err);
    }
    if (r == 0) {
        bool oci = false;
        struct error *probe = NULL;
        oci = src_get(&s, "index.json", &probe) != NULL;
        error_free(probe);
        /* docker save tars of Docker >= 25 are OCI layouts with a
         * manifest.json too: prefer manifest.json, which names the images */
        probe = NULL;
        bool docker = src_get(&s, "manifest.json", &probe) != NULL;
        error_free(probe);
        if (docker)
            r = import_docker(db, &s, reference, &res, err);
        else if (oci)
            r = import_oci(db, &s, reference, &res, err);
        else
            r = error_set(err, EINVAL, ERR_INVALID,
                          "%s is neither an OCI image layout (index.json) nor a docker save "
                          "archive (manifest.json)",
                          path);
    }
    source_done(&s);
    cas_gc_unlock(lock);
    if (r < 0) {
        img_info_list_free(res.v, res.n);
        if (err && *err)
            (*err)->type = IMG_ERR_PULL;
        return error_wrap(err, "CannotPullContainerError: import %s", path);
    }
    *ret = res.v;
    *ret_n = res.n;
    return 0;
}
