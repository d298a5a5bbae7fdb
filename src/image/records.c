/* Image records in the SQLite store: reference -> manifest, config and
 * layers, with sizes and last use (for LRU eviction). Layer rows hold the
 * unpacked size of each layer directory. */
#include "image/image-internal.h"
#include "image/records.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

#define IMAGE_COLUMNS                                                                              \
    "reference, digest, index_digest, config_digest, media_type, layers, size, pulled_at, "        \
    "last_used, auth_required"

void img_info_free(struct img_info *i)
{
    if (!i)
        return;
    free(i->reference);
    free(i->media_type);
    for (size_t k = 0; k < i->n_layers; k++)
        free(i->layers[k].media_type);
    free(i->layers);
    img_config_free(i->config);
    free(i);
}

void img_info_list_free(struct img_info **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        img_info_free(list[i]);
    free(list);
}

static json_t *layers_json(const struct img_info *i)
{
    json_t *a = json_array();
    for (size_t k = 0; k < i->n_layers; k++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:s}", "digest", i->layers[k].digest,
                                           "diffId", i->layers[k].diff_id, "size",
                                           (json_int_t)i->layers[k].size, "mediaType",
                                           i->layers[k].media_type ? i->layers[k].media_type : ""));
    return a;
}

static void copy_digest(char dst[IMG_DIGEST_LEN + 1], const char *src)
{
    snprintf(dst, IMG_DIGEST_LEN + 1, "%s", img_digest_valid(src) ? src : "");
}

/* The row of st (IMAGE_COLUMNS) as a new img_info. */
static struct img_info *row_info(sqlite3_stmt *st)
{
    struct img_info *i = xzalloc(sizeof(*i));
    i->reference = xstrdup(db_col_text(st, 0));
    copy_digest(i->digest, db_col_text(st, 1));
    copy_digest(i->index_digest, db_col_text(st, 2));
    copy_digest(i->config_digest, db_col_text(st, 3));
    i->media_type = xstrdup(db_col_text(st, 4));
    json_t *layers = json_parse_trusted(db_col_text(st, 5));
    size_t n = json_array_size(layers);
    i->layers = xcalloc(n ? n : 1, sizeof(*i->layers));
    for (size_t k = 0; k < n; k++) {
        json_t *l = json_array_get(layers, k);
        copy_digest(i->layers[k].digest, json_get_str(l, "digest"));
        copy_digest(i->layers[k].diff_id, json_get_str(l, "diffId"));
        i->layers[k].size = json_get_int(l, "size", 0);
        const char *mt = json_get_str(l, "mediaType");
        i->layers[k].media_type = xstrdup(mt ? mt : "");
    }
    i->n_layers = n;
    json_decref(layers);
    i->size = sqlite3_column_int64(st, 6);
    i->pulled_at_ms = sqlite3_column_int64(st, 7);
    i->last_used_ms = sqlite3_column_int64(st, 8);
    i->auth_required = sqlite3_column_int(st, 9) != 0;
    i->unpacked_size = -1;
    return i;
}

/* Sum of the recorded unpacked sizes of i's layers (-1 when one is
 * unknown). */
static int fill_unpacked_size(struct db *db, struct img_info *i, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT size FROM image_layers WHERE diff_id = ?1", err);
    if (!st)
        return -EIO;
    int64_t total = 0;
    for (size_t k = 0; k < i->n_layers; k++) {
        sqlite3_reset(st);
        db_bind_text(st, 1, i->layers[k].diff_id);
        if (sqlite3_step(st) != SQLITE_ROW) {
            total = -1;
            break;
        }
        total += sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    i->unpacked_size = total;
    return 0;
}

int img_record_put(struct db *db, const struct img_info *i, struct error **err)
{
    int r = db_begin(db, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(db,
                               "INSERT INTO images (" IMAGE_COLUMNS ") "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                               "ON CONFLICT(reference) DO UPDATE SET digest = ?2, "
                               "index_digest = ?3, config_digest = ?4, media_type = ?5, "
                               "layers = ?6, size = ?7, pulled_at = ?8, last_used = ?9, "
                               "auth_required = ?10",
                               err);
    if (!st) {
        db_rollback(db);
        return -EIO;
    }
    _cleanup_free_ char *layers = NULL;
    json_t *lj = layers_json(i);
    layers = json_dump_compact(lj);
    json_decref(lj);
    db_bind_text(st, 1, i->reference);
    db_bind_text(st, 2, i->digest);
    db_bind_text(st, 3, i->index_digest[0] ? i->index_digest : NULL);
    db_bind_text(st, 4, i->config_digest);
    db_bind_text(st, 5, i->media_type ? i->media_type : "");
    db_bind_text(st, 6, layers);
    sqlite3_bind_int64(st, 7, i->size);
    sqlite3_bind_int64(st, 8, i->pulled_at_ms);
    sqlite3_bind_int64(st, 9, i->last_used_ms);
    sqlite3_bind_int(st, 10, i->auth_required);
    r = db_exec_stmt(db, st, err);
    if (r < 0) {
        db_rollback(db);
        return r;
    }
    return db_commit(db, err);
}

int img_record_layer(struct db *db, const char *diff_id, int64_t size, int64_t now_ms,
                     struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "INSERT INTO image_layers (diff_id, size, created_at) "
                               "VALUES (?1, ?2, ?3) "
                               "ON CONFLICT(diff_id) DO UPDATE SET size = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, diff_id);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, now_ms);
    return db_exec_stmt(db, st, err);
}

static int not_found(struct error **err, const char *reference)
{
    return error_set(err, ENOENT, IMG_ERR_NOT_IMG, "image %.300s not found", reference);
}

int img_record_find(struct db *db, const char *reference, struct img_info **ret, struct error **err)
{
    _cleanup_free_ char *norm = NULL;
    sqlite3_stmt *st;
    if (img_digest_valid(reference)) {
        st = db_stmt(db,
                     "SELECT " IMAGE_COLUMNS " FROM images WHERE digest = ?1 OR "
                     "index_digest = ?1 ORDER BY last_used DESC LIMIT 1",
                     err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, reference);
    } else {
        struct img_ref ref = {0};
        int r = img_ref_parse(reference, &ref, err);
        if (r < 0)
            return r;
        norm = img_ref_format(&ref);
        img_ref_done(&ref);
        st = db_stmt(db, "SELECT " IMAGE_COLUMNS " FROM images WHERE reference = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, norm);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return not_found(err, reference);
    }
    if (rc != SQLITE_ROW)
        return db_fail(db, err, "read image");
    struct img_info *i = row_info(st);
    sqlite3_reset(st);
    int r = fill_unpacked_size(db, i, err);
    if (r < 0) {
        img_info_free(i);
        return r;
    }
    *ret = i;
    return 0;
}

int img_get(struct db *db, const char *reference, bool with_config, struct img_info **ret,
            struct error **err)
{
    struct img_info *i = NULL;
    int r = img_record_find(db, reference, &i, err);
    if (r < 0)
        return r;
    struct cas *cas = cas_global();
    if (with_config && cas) {
        struct buf b;
        r = cas_blob_read(cas, i->config_digest, IMG_MAX_CONFIG, &b, err);
        if (r == -ENOENT)
            r = error_set(err, ENOENT, NULL, "image %s: config blob %s is missing from the store",
                          i->reference, i->config_digest);
        if (r == 0) {
            r = img_config_parse(b.data, b.len, &i->config, err);
            buf_done(&b);
        }
        if (r < 0) {
            img_info_free(i);
            return r;
        }
    }
    *ret = i;
    return 0;
}

int img_list(struct db *db, struct img_info ***ret, size_t *ret_n, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY last_used DESC, reference", err);
    if (!st)
        return -EIO;
    struct img_info **list = NULL;
    size_t n = 0, alloc = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            list = xrealloc(list, alloc * sizeof(*list));
        }
        list[n++] = row_info(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        img_info_list_free(list, n);
        return db_fail(db, err, "list images");
    }
    for (size_t i = 0; i < n; i++) {
        int r = fill_unpacked_size(db, list[i], err);
        if (r < 0) {
            img_info_list_free(list, n);
            return r;
        }
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

int img_touch(struct db *db, const char *reference, struct error **err)
{
    struct img_info *i = NULL;
    int r = img_record_find(db, reference, &i, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = db_stmt(db, "UPDATE images SET last_used = ?2 WHERE reference = ?1", err);
    if (!st) {
        img_info_free(i);
        return -EIO;
    }
    db_bind_text(st, 1, i->reference);
    sqlite3_bind_int64(st, 2, time_now_ms());
    img_info_free(i);
    return db_exec_stmt(db, st, err);
}

int img_record_set_auth_required(struct db *db, const char *reference, const char *digest,
                                 bool required, struct error **err)
{
    /* only while the record still names the digest that was checked */
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE images SET auth_required = ?3 "
                               "WHERE reference = ?1 AND digest = ?2",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, reference);
    db_bind_text(st, 2, digest);
    sqlite3_bind_int(st, 3, required);
    return db_exec_stmt(db, st, err);
}

/* Refuses to delete what a running task uses (its layers are mounted). */
static int check_not_in_use(struct db *db, const char *reference, struct error **err)
{
    struct img_info **list = NULL;
    size_t n = 0;
    int r = img_list(db, &list, &n, err);
    if (r < 0)
        return r;
    bool by_digest = img_digest_valid(reference);
    _cleanup_free_ char *norm = NULL;
    if (!by_digest) {
        struct img_ref ref = {0};
        if (img_ref_parse(reference, &ref, NULL) == 0) {
            norm = img_ref_format(&ref);
            img_ref_done(&ref);
        }
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        const struct img_info *im = list[i];
        bool match = by_digest
                         ? (!strcmp(im->digest, reference) || !strcmp(im->index_digest, reference))
                         : (norm && !strcmp(im->reference, norm));
        if (match && img_in_use(im->reference))
            r = error_set(err, EBUSY, ERR_CLIENT, "image %s is in use by a running task",
                          im->reference);
    }
    img_info_list_free(list, n);
    return r;
}

int img_delete(struct db *db, const char *reference, size_t *ret_removed, struct error **err)
{
    sqlite3_stmt *st;
    _cleanup_free_ char *norm = NULL;
    int r0 = check_not_in_use(db, reference, err);
    if (r0 < 0)
        return r0;
    if (img_digest_valid(reference)) {
        st = db_stmt(db, "DELETE FROM images WHERE digest = ?1 OR index_digest = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, reference);
    } else {
        struct img_ref ref = {0};
        int r = img_ref_parse(reference, &ref, err);
        if (r < 0)
            return r;
        norm = img_ref_format(&ref);
        img_ref_done(&ref);
        st = db_stmt(db, "DELETE FROM images WHERE reference = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, norm);
    }
    int r = db_exec_stmt(db, st, err);
    if (r < 0)
        return r;
    size_t n = (size_t)sqlite3_changes(db_handle(db));
    if (n == 0)
        return not_found(err, reference);
    st = db_stmt(
        db, "DELETE FROM image_access WHERE reference NOT IN (SELECT reference FROM images)", err);
    if (!st || db_exec_stmt(db, st, err) < 0)
        return -EIO;
    if (ret_removed)
        *ret_removed = n;
    return 0;
}

int img_access_grant(struct db *db, const char *account, const char *reference, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "INSERT OR IGNORE INTO image_access (account, reference) VALUES (?1, ?2)", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, account);
    db_bind_text(st, 2, reference);
    return db_exec_stmt(db, st, err);
}

int img_access_revoke(struct db *db, const char *account, const char *reference, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "DELETE FROM image_access WHERE account = ?1 AND reference = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, account);
    db_bind_text(st, 2, reference);
    return db_exec_stmt(db, st, err);
}

/* The single integer a SELECT answers (0 without a row). */
static int count_of(struct db *db, sqlite3_stmt *st, struct error **err)
{
    int rc = sqlite3_step(st);
    int n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(db, err, "image access");
    return n;
}

int img_access_has(struct db *db, const char *account, const char *reference, struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(db, "SELECT count(*) FROM image_access WHERE account = ?1 AND reference = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, account);
    db_bind_text(st, 2, reference);
    int n = count_of(db, st, err);
    return n < 0 ? n : n > 0;
}

int img_access_count(struct db *db, const char *reference, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM image_access WHERE reference = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, reference);
    return count_of(db, st, err);
}

char *img_layer_path(const char *diff_id)
{
    return xasprintf("%s/layers/%s", img_data_dir() ? img_data_dir() : ".",
                     img_digest_valid(diff_id) ? diff_id + 7 : "invalid");
}
