/* Garbage collection, disk usage and the LRU-bounded cache.
 *
 * GC holds the GC lock exclusively (pulls hold it shared), so it never
 * races a pull that has fetched blobs but not yet recorded its image. What
 * it removes: blobs and layer directories that no image record references,
 * and temp entries nobody holds. With a size bound it first drops image
 * records, least recently used first, until what remains fits. */
#include "image/image-internal.h"
#include "image/records.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool (*in_use_fn)(const char *reference, void *arg);
static void *in_use_arg;

void img_set_in_use_hook(bool (*fn)(const char *reference, void *arg), void *arg)
{
    in_use_fn = fn;
    in_use_arg = arg;
}

bool img_in_use(const char *reference)
{
    return in_use_fn && in_use_fn(reference, in_use_arg);
}

int64_t img_cache_limit(void)
{
    const char *dir = img_data_dir();
    int64_t max = 0;
    if (dir)
        img_cache_conf_load(dir, &max, NULL);
    return max;
}

/* A sorted set of digests (hex part) referenced by image records. */
struct refset {
    char **v;
    size_t n, alloc;
};

static void refset_add(struct refset *s, const char *digest)
{
    if (!img_digest_valid(digest))
        return;
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? 2 * s->alloc : 64;
        s->v = xrealloc(s->v, s->alloc * sizeof(*s->v));
    }
    s->v[s->n++] = xstrdup(digest + 7);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool refset_has(const struct refset *s, const char *hex)
{
    return s->n && bsearch(&hex, s->v, s->n, sizeof(*s->v), cmp_str);
}

static void refset_done(struct refset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int collect_refs(struct db *db, struct refset *blobs, struct refset *layers,
                        struct error **err)
{
    struct img_info **list = NULL;
    size_t n = 0;
    int r = img_list(db, &list, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        refset_add(blobs, list[i]->digest);
        refset_add(blobs, list[i]->index_digest);
        refset_add(blobs, list[i]->config_digest);
        for (size_t k = 0; k < list[i]->n_layers; k++) {
            refset_add(blobs, list[i]->layers[k].digest);
            refset_add(layers, list[i]->layers[k].diff_id);
        }
    }
    img_info_list_free(list, n);
    if (blobs->n)
        qsort(blobs->v, blobs->n, sizeof(*blobs->v), cmp_str);
    if (layers->n)
        qsort(layers->v, layers->n, sizeof(*layers->v), cmp_str);
    return 0;
}

static bool is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

/* Bytes used by a tree (apparent sizes of regular files), without
 * following symlinks. */
static int64_t tree_bytes(int parent, const char *name)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? st.st_size : 0;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    int64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            total += tree_bytes(dirfd(d), de->d_name);
    closedir(d);
    return total;
}

/* Calls fn for every hex-named entry of dir. */
static int each_entry(int dir, void (*fn)(const char *hex, void *arg), void *arg)
{
    int fd = dup(dir);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (is_hex64(de->d_name))
            fn(de->d_name, arg);
    closedir(d);
    return 0;
}

struct sweep {
    struct db *db;
    struct cas *cas;
    struct refset *keep;
    bool dry; /* count only */
    size_t removed;
    int64_t bytes;
};

static void sweep_blob(const char *hex, void *arg)
{
    struct sweep *s = arg;
    if (refset_has(s->keep, hex))
        return;
    struct stat st;
    if (fstatat(cas_blobs_fd(s->cas), hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    if (s->dry || unlinkat(cas_blobs_fd(s->cas), hex, 0) == 0) {
        s->removed++;
        s->bytes += st.st_size;
    }
}

static int64_t layer_bytes(struct db *db, struct cas *cas, const char *hex)
{
    char digest[IMG_DIGEST_LEN + 1];
    snprintf(digest, sizeof(digest), "sha256:%.64s", hex);
    sqlite3_stmt *st = db_stmt(db, "SELECT size FROM image_layers WHERE diff_id = ?1", NULL);
    if (st) {
        db_bind_text(st, 1, digest);
        if (sqlite3_step(st) == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(st, 0);
            sqlite3_reset(st);
            return v;
        }
        sqlite3_reset(st);
    }
    /* unknown (killed between unpack and record): measure and remember */
    int64_t v = tree_bytes(cas_layers_fd(cas), hex);
    img_record_layer(db, digest, v, time_now_ms(), NULL);
    return v;
}

static void sweep_layer(const char *hex, void *arg)
{
    struct sweep *s = arg;
    if (refset_has(s->keep, hex))
        return;
    int64_t bytes = layer_bytes(s->db, s->cas, hex);
    if (!s->dry) {
        /* move it out of layers/ first, so a half-removed layer is never
         * visible under its name */
        char tmpname[96];
        snprintf(tmpname, sizeof(tmpname), "gc-layer-%.64s", hex);
        if (renameat(cas_layers_fd(s->cas), hex, cas_tmp_fd(s->cas), tmpname) < 0)
            return;
        cas_rmtree_at(cas_tmp_fd(s->cas), tmpname);
        char digest[IMG_DIGEST_LEN + 1];
        snprintf(digest, sizeof(digest), "sha256:%.64s", hex);
        sqlite3_stmt *st = db_stmt(s->db, "DELETE FROM image_layers WHERE diff_id = ?1", NULL);
        if (st) {
            db_bind_text(st, 1, digest);
            db_exec_stmt(s->db, st, NULL);
        }
    }
    s->removed++;
    s->bytes += bytes;
}

static void add_blob_size(const char *hex, void *arg)
{
    struct sweep *s = arg;
    struct stat st;
    if (fstatat(cas_blobs_fd(s->cas), hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        s->removed++;
        s->bytes += st.st_size;
    }
}

static void add_layer_size(const char *hex, void *arg)
{
    struct sweep *s = arg;
    s->removed++;
    s->bytes += layer_bytes(s->db, s->cas, hex);
}

static int usage(struct db *db, struct cas *cas, struct img_usage *u)
{
    struct sweep b = {.db = db, .cas = cas}, l = {.db = db, .cas = cas};
    int r = each_entry(cas_blobs_fd(cas), add_blob_size, &b);
    if (r == 0)
        r = each_entry(cas_layers_fd(cas), add_layer_size, &l);
    u->blob_bytes = b.bytes;
    u->blobs = (int64_t)b.removed;
    u->layer_bytes = l.bytes;
    u->layers = (int64_t)l.removed;
    return r;
}

int img_disk_usage(struct db *db, struct img_usage *ret, struct error **err)
{
    struct cas *cas = cas_global();
    if (!cas)
        return error_set(err, EIO, NULL, "the image store is not open");
    struct img_usage u = {0};
    int r = usage(db, cas, &u);
    if (r < 0)
        return error_errno(err, -r, "measure the image store");
    sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM images", err);
    if (!st)
        return -EIO;
    if (sqlite3_step(st) == SQLITE_ROW)
        u.images = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    *ret = u;
    return 0;
}

/* Removes unreferenced blobs and layers. */
static int sweep(struct db *db, struct cas *cas, struct img_prune_result *res, struct error **err)
{
    struct refset blobs = {0}, layers = {0};
    int r = collect_refs(db, &blobs, &layers, err);
    if (r < 0)
        return r;
    struct sweep sb = {.db = db, .cas = cas, .keep = &blobs};
    struct sweep sl = {.db = db, .cas = cas, .keep = &layers};
    each_entry(cas_blobs_fd(cas), sweep_blob, &sb);
    each_entry(cas_layers_fd(cas), sweep_layer, &sl);
    /* rows of layers that are gone */
    sqlite3_stmt *st = db_stmt(db, "SELECT diff_id FROM image_layers", err);
    if (st) {
        struct refset gone = {0};
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *id = db_col_text(st, 0);
            if (!cas_layer_present(cas, id))
                refset_add(&gone, id);
        }
        sqlite3_reset(st);
        sqlite3_stmt *del = db_stmt(db, "DELETE FROM image_layers WHERE diff_id = ?1", NULL);
        for (size_t i = 0; del && i < gone.n; i++) {
            char digest[IMG_DIGEST_LEN + 1];
            snprintf(digest, sizeof(digest), "sha256:%s", gone.v[i]);
            db_bind_text(del, 1, digest);
            db_exec_stmt(db, del, NULL);
        }
        refset_done(&gone);
    }
    cas_clean_tmp(cas);
    res->blobs_removed += sb.removed;
    res->layers_removed += sl.removed;
    res->bytes_freed += sb.bytes + sl.bytes;
    refset_done(&blobs);
    refset_done(&layers);
    return 0;
}

/* The least recently used record that may go, or NULL. */
static char *lru_victim(struct db *db, int64_t keep_after_ms, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "SELECT reference FROM images WHERE last_used < ?1 "
                               "ORDER BY last_used ASC, reference",
                               err);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, keep_after_ms);
    char *victim = NULL;
    while (!victim && sqlite3_step(st) == SQLITE_ROW) {
        const char *ref = db_col_text(st, 0);
        if (!img_in_use(ref))
            victim = xstrdup(ref);
    }
    sqlite3_reset(st);
    return victim;
}

int img_prune(struct db *db, int64_t max_bytes, int64_t keep_recent_ms,
              struct img_prune_result *ret, struct error **err)
{
    struct cas *cas = cas_global();
    if (!cas)
        return error_set(err, EIO, NULL, "the image store is not open");
    struct img_prune_result res = {0};
    int lock = cas_gc_lock(cas, true, err);
    if (lock < 0)
        return lock;
    int r = sweep(db, cas, &res, err);
    int64_t keep_after = time_now_ms() - keep_recent_ms;
    while (r == 0 && max_bytes > 0) {
        struct img_usage u = {0};
        usage(db, cas, &u);
        if (u.blob_bytes + u.layer_bytes <= max_bytes)
            break;
        _cleanup_free_ char *victim = lru_victim(db, keep_after, err);
        if (!victim)
            break;
        size_t n = 0;
        r = img_delete(db, victim, &n, err);
        if (r < 0)
            break;
        res.images_removed += n;
        r = sweep(db, cas, &res, err);
    }
    cas_gc_unlock(lock);
    if (r < 0)
        return r;
    if (ret)
        *ret = res;
    return 0;
}
