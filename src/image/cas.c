/* The content store: verified blobs, unpacked layers and the temp area
 * where both are built (see image-internal.h for the layout).
 *
 * Nothing enters blobs/ or layers/ except by rename from tmp/ after
 * verification, so a reader never sees a partial blob or layer, and a
 * kill -9 leaves only entries in tmp/. Whoever writes into tmp/ holds a
 * flock on what it writes; cas_open() removes the entries nobody holds.
 *
 * Deduplication of concurrent work: inside the process a table of in-flight
 * (kind, digest) entries with a condition variable; across processes a lock
 * file tmp/<kind>-<hex>.lock held with flock while the work runs. A lock
 * file is unlinked by its holder when done, so whoever takes a lock checks
 * that the file it locked is still the one at that path. */
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct cas {
    char *data_dir;
    int blobs_fd;  /* blobs/sha256 */
    int layers_fd; /* layers */
    int tmp_fd;    /* tmp */
};

static int mkdir_p(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -errno;
    _cleanup_free_ char *parent = xstrdup(path);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return -ENOENT;
    *slash = '\0';
    int r = mkdir_p(parent, mode);
    if (r < 0)
        return r;
    return (mkdir(path, mode) == 0 || errno == EEXIST) ? 0 : -errno;
}

static int open_dir(const char *data_dir, const char *sub, int *ret, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", data_dir, sub);
    int r = mkdir_p(path, 0700);
    if (r < 0)
        return error_errno(err, -r, "create %s", path);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", path);
    *ret = fd;
    return 0;
}

static int flock_retry(int fd, int op)
{
    int r;
    do
        r = flock(fd, op);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

int cas_rmtree_at(int parent, const char *name)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int q = cas_rmtree_at(dirfd(d), de->d_name);
        if (q < 0 && r == 0)
            r = q;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

/* Removes what killed pulls left in tmp/: every entry no live process
 * holds a flock on. */
void cas_clean_tmp(struct cas *s)
{
    int fd = dup(s->tmp_fd);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "gc.lock"))
            continue;
        _cleanup_close_ int efd =
            openat(s->tmp_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (efd < 0 || flock(efd, LOCK_EX | LOCK_NB) < 0)
            continue;
        cas_rmtree_at(s->tmp_fd, de->d_name);
    }
    closedir(d);
}

int cas_open(const char *data_dir, struct cas **ret, struct error **err)
{
    struct cas *s = xzalloc(sizeof(*s));
    s->blobs_fd = s->layers_fd = s->tmp_fd = -1;
    s->data_dir = xstrdup(data_dir);
    int r;
    if ((r = open_dir(data_dir, "blobs/sha256", &s->blobs_fd, err)) < 0 ||
        (r = open_dir(data_dir, "layers", &s->layers_fd, err)) < 0 ||
        (r = open_dir(data_dir, "tmp", &s->tmp_fd, err)) < 0) {
        cas_free(s);
        return r;
    }
    cas_clean_tmp(s);
    *ret = s;
    return 0;
}

void cas_free(struct cas *s)
{
    if (!s)
        return;
    closep(&s->blobs_fd);
    closep(&s->layers_fd);
    closep(&s->tmp_fd);
    free(s->data_dir);
    free(s);
}

const char *cas_data_dir(const struct cas *s)
{
    return s->data_dir;
}

int cas_tmp_fd(const struct cas *s)
{
    return s->tmp_fd;
}

int cas_layers_fd(const struct cas *s)
{
    return s->layers_fd;
}

int cas_blobs_fd(const struct cas *s)
{
    return s->blobs_fd;
}

char *cas_blob_path(const struct cas *s, const char *digest)
{
    return xasprintf("%s/blobs/sha256/%s", s->data_dir, digest + 7);
}

char *cas_layer_path(const struct cas *s, const char *diff_id)
{
    return xasprintf("%s/layers/%s", s->data_dir, diff_id + 7);
}

bool cas_blob_present(const struct cas *s, const char *digest, int64_t *ret_size)
{
    struct stat st;
    if (!img_digest_valid(digest) ||
        fstatat(s->blobs_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return false;
    if (ret_size)
        *ret_size = st.st_size;
    return true;
}

bool cas_layer_present(const struct cas *s, const char *diff_id)
{
    struct stat st;
    return img_digest_valid(diff_id) &&
           fstatat(s->layers_fd, diff_id + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static void hex_of(EVP_MD_CTX *md, char out[IMG_DIGEST_LEN + 1])
{
    uint8_t d[HASH_SHA256_LEN];
    unsigned n = sizeof(d);
    EVP_DigestFinal_ex(md, d, &n);
    memcpy(out, "sha256:", 7);
    hash_hex(d, sizeof(d), out + 7);
}

int cas_blob_read(struct cas *s, const char *digest, size_t cap, struct buf *out,
                  struct error **err)
{
    if (!img_digest_valid(digest))
        return error_set(err, EINVAL, NULL, "invalid digest");
    _cleanup_close_ int fd = openat(s->blobs_fd, digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : error_errno(err, errno, "open blob %s", digest);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_errno(err, errno, "stat blob %s", digest);
    if ((uint64_t)st.st_size > cap)
        return error_set(err, E2BIG, NULL, "blob %s is %lld bytes (at most %zu)", digest,
                         (long long)st.st_size, cap);
    buf_init(out, cap);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            buf_done(out);
            return error_errno(err, e, "read blob %s", digest);
        }
        if (n == 0)
            break;
        if (buf_append(out, chunk, (size_t)n) < 0) {
            buf_done(out);
            return error_set(err, E2BIG, NULL, "blob %s grew past %zu bytes", digest, cap);
        }
    }
    uint8_t d[HASH_SHA256_LEN];
    char hex[2 * HASH_SHA256_LEN + 1];
    hash_sha256(out->data ? out->data : "", out->len, d);
    hash_hex(d, sizeof(d), hex);
    if (strcmp(hex, digest + 7) != 0) {
        buf_done(out);
        return error_set(err, EBADMSG, NULL, "blob %s in the store is corrupted", digest);
    }
    return 0;
}

/* ---- writers ---- */

struct cas_writer {
    struct cas *s;
    char digest[IMG_DIGEST_LEN + 1];
    int64_t size;
    int fd;
    char name[128];
    EVP_MD_CTX *md;
    int64_t written;
    bool committed;
};

static void random_suffix(char out[17])
{
    uint8_t r[8];
    hash_random(r, sizeof(r));
    hash_hex(r, sizeof(r), out);
}

int cas_writer_new(struct cas *s, const char *digest, int64_t size, struct cas_writer **ret,
                   struct error **err)
{
    if (digest && !img_digest_valid(digest))
        return error_set(err, EINVAL, NULL, "invalid digest");
    struct cas_writer *w = xzalloc(sizeof(*w));
    w->s = s;
    w->size = size;
    snprintf(w->digest, sizeof(w->digest), "%s", digest ? digest : "");
    char rnd[17];
    random_suffix(rnd);
    snprintf(w->name, sizeof(w->name), "blob-%s.%s", digest ? digest + 7 : "import", rnd);
    w->fd = openat(s->tmp_fd, w->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        return error_errno(err, e, "create temp file in %s/tmp", s->data_dir);
    }
    flock_retry(w->fd, LOCK_EX);
    w->md = EVP_MD_CTX_new();
    if (!w->md)
        abort();
    EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
    *ret = w;
    return 0;
}

static int writer_write(void *arg, const void *p, size_t n)
{
    struct cas_writer *w = arg;
    if (w->size >= 0 && w->written + (int64_t)n > w->size)
        return -EFBIG;
    const char *c = p;
    size_t left = n;
    while (left) {
        ssize_t k = write(w->fd, c, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        c += k;
        left -= (size_t)k;
    }
    EVP_DigestUpdate(w->md, p, n);
    w->written += (int64_t)n;
    return 0;
}

static int writer_rewind(void *arg)
{
    struct cas_writer *w = arg;
    if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
        return -errno;
    EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
    w->written = 0;
    return 0;
}

static int64_t writer_written(void *arg)
{
    return ((struct cas_writer *)arg)->written;
}

struct reg_sink cas_writer_sink(struct cas_writer *w)
{
    return (struct reg_sink){writer_write, writer_rewind, writer_written, w};
}

int cas_writer_commit(struct cas_writer *w, struct error **err)
{
    if (w->size >= 0 && w->written != w->size)
        return error_set(err, EBADMSG, NULL, "blob %s: size mismatch (got %lld bytes, want %lld)",
                         w->digest, (long long)w->written, (long long)w->size);
    char got[IMG_DIGEST_LEN + 1];
    hex_of(w->md, got);
    if (strcmp(got, w->digest) != 0)
        return error_set(err, EBADMSG, NULL, "blob %s: digest mismatch (content is %s)", w->digest,
                         got);
    if (fsync(w->fd) < 0)
        return error_errno(err, errno, "blob %s: fsync", w->digest);
    if (fchmod(w->fd, 0400) < 0 ||
        renameat(w->s->tmp_fd, w->name, w->s->blobs_fd, w->digest + 7) < 0)
        return error_errno(err, errno, "blob %s: move into the store", w->digest);
    w->committed = true;
    fsync(w->s->blobs_fd);
    return 0;
}

int cas_writer_commit_any(struct cas_writer *w, char ret_digest[IMG_DIGEST_LEN + 1],
                          struct error **err)
{
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    if (!copy)
        abort();
    EVP_MD_CTX_copy_ex(copy, w->md);
    hex_of(copy, w->digest);
    EVP_MD_CTX_free(copy);
    int r = cas_writer_commit(w, err);
    if (r == 0)
        memcpy(ret_digest, w->digest, IMG_DIGEST_LEN + 1);
    return r;
}

void cas_writer_free(struct cas_writer *w)
{
    if (!w)
        return;
    if (!w->committed)
        unlinkat(w->s->tmp_fd, w->name, 0);
    closep(&w->fd);
    EVP_MD_CTX_free(w->md);
    free(w);
}

int cas_blob_put(struct cas *s, const char *digest, const void *data, size_t len,
                 struct error **err)
{
    if (cas_blob_present(s, digest, NULL))
        return 0;
    struct cas_writer *w = NULL;
    int r = cas_writer_new(s, digest, (int64_t)len, &w, err);
    if (r < 0)
        return r;
    r = writer_write(w, data, len);
    if (r < 0)
        r = error_errno(err, -r, "blob %s: write", digest);
    else
        r = cas_writer_commit(w, err);
    cas_writer_free(w);
    return r;
}

/* ---- claims ---- */

struct inflight {
    enum cas_kind kind;
    char hex[65];
    int waiters;
    bool finished;
    struct inflight *next;
};

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inflight_cond = PTHREAD_COND_INITIALIZER;
static struct inflight *inflight;

struct cas_claim {
    struct cas *s;
    struct inflight *e;
    bool mine;   /* we created e */
    int lock_fd; /* MINE: the flock'd lock file; external wait: the file to wait on */
    char lock_name[96];
};

static const char *kind_name(enum cas_kind k)
{
    return k == CAS_BLOB ? "blob" : "layer";
}

static bool present(struct cas *s, enum cas_kind kind, const char *digest)
{
    return kind == CAS_BLOB ? cas_blob_present(s, digest, NULL) : cas_layer_present(s, digest);
}

/* Removes e from the table and wakes its waiters (inflight_lock held). */
static void inflight_finish(struct inflight *e)
{
    for (struct inflight **p = &inflight; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    e->finished = true;
    if (e->waiters == 0)
        free(e);
    pthread_cond_broadcast(&inflight_cond);
}

/* Opens and locks (non-blocking) tmp/<kind>-<hex>.lock, making sure the
 * locked file is still the one at that path. 1 when locked, 0 when another
 * process holds it (*ret_fd is then the open file, to wait on). */
static int lock_file(struct cas *s, const char *name, int *ret_fd, struct error **err)
{
    for (;;) {
        int fd = openat(s->tmp_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return error_errno(err, errno, "open lock %s", name);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK) {
                int e = errno;
                close(fd);
                return error_errno(err, e, "lock %s", name);
            }
            *ret_fd = fd;
            return 0;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && fstatat(s->tmp_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            *ret_fd = fd;
            return 1;
        }
        close(fd); /* unlinked by its last holder: take the new one */
    }
}

int cas_claim(struct cas *s, enum cas_kind kind, const char *digest,
              enum cas_claim_state *ret_state, struct cas_claim **ret, struct error **err)
{
    if (!img_digest_valid(digest))
        return error_set(err, EINVAL, NULL, "invalid digest");
    *ret = NULL;
    if (present(s, kind, digest)) {
        *ret_state = CAS_PRESENT;
        return 0;
    }
    struct cas_claim *c = xzalloc(sizeof(*c));
    c->s = s;
    c->lock_fd = -1;
    snprintf(c->lock_name, sizeof(c->lock_name), "%s-%s.lock", kind_name(kind), digest + 7);

    pthread_mutex_lock(&inflight_lock);
    struct inflight *e = inflight;
    while (e && !(e->kind == kind && !strcmp(e->hex, digest + 7)))
        e = e->next;
    if (e) {
        e->waiters++;
        pthread_mutex_unlock(&inflight_lock);
        c->e = e;
        *ret_state = CAS_WAIT;
        *ret = c;
        return 0;
    }
    e = xzalloc(sizeof(*e));
    e->kind = kind;
    snprintf(e->hex, sizeof(e->hex), "%s", digest + 7);
    e->next = inflight;
    inflight = e;
    pthread_mutex_unlock(&inflight_lock);
    c->e = e;
    c->mine = true;

    int r = lock_file(s, c->lock_name, &c->lock_fd, err);
    if (r < 0) {
        pthread_mutex_lock(&inflight_lock);
        inflight_finish(e);
        pthread_mutex_unlock(&inflight_lock);
        free(c);
        return r;
    }
    if (r == 0) {
        /* another process works on it: wait for its lock (our entry stays,
         * so our own threads wait on us meanwhile) */
        *ret_state = CAS_WAIT;
        *ret = c;
        return 0;
    }
    if (present(s, kind, digest)) {
        cas_claim_release(c);
        *ret_state = CAS_PRESENT;
        return 0;
    }
    *ret_state = CAS_MINE;
    *ret = c;
    return 0;
}

void cas_claim_wait(struct cas_claim *c)
{
    if (c->mine) {
        /* waiting on another process */
        flock_retry(c->lock_fd, LOCK_EX);
        closep(&c->lock_fd);
        pthread_mutex_lock(&inflight_lock);
        inflight_finish(c->e);
        pthread_mutex_unlock(&inflight_lock);
        free(c);
        return;
    }
    pthread_mutex_lock(&inflight_lock);
    while (!c->e->finished)
        pthread_cond_wait(&inflight_cond, &inflight_lock);
    if (--c->e->waiters == 0)
        free(c->e);
    pthread_mutex_unlock(&inflight_lock);
    free(c);
}

void cas_claim_release(struct cas_claim *c)
{
    if (!c)
        return;
    if (c->lock_fd >= 0) {
        unlinkat(c->s->tmp_fd, c->lock_name, 0);
        closep(&c->lock_fd);
    }
    pthread_mutex_lock(&inflight_lock);
    inflight_finish(c->e);
    pthread_mutex_unlock(&inflight_lock);
    free(c);
}

/* ---- GC lock and temp dirs ---- */

int cas_gc_lock(struct cas *s, bool exclusive, struct error **err)
{
    int fd = openat(s->tmp_fd, "gc.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(err, errno, "open %s/tmp/gc.lock", s->data_dir);
    int r = flock_retry(fd, exclusive ? LOCK_EX : LOCK_SH);
    if (r < 0) {
        close(fd);
        return error_errno(err, -r, "lock %s/tmp/gc.lock", s->data_dir);
    }
    return fd;
}

void cas_gc_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

int cas_tmpdir_new(struct cas *s, const char *prefix, char **ret_name, struct error **err)
{
    char rnd[17];
    random_suffix(rnd);
    _cleanup_free_ char *name = xasprintf("%s.%s", prefix, rnd);
    if (mkdirat(s->tmp_fd, name, 0755) < 0)
        return error_errno(err, errno, "create temp dir in %s/tmp", s->data_dir);
    int fd = openat(s->tmp_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        unlinkat(s->tmp_fd, name, AT_REMOVEDIR);
        return error_errno(err, e, "open temp dir in %s/tmp", s->data_dir);
    }
    flock_retry(fd, LOCK_EX);
    *ret_name = TAKE_PTR(name);
    return fd;
}

int cas_layer_commit(struct cas *s, const char *tmp_name, const char *diff_id, struct error **err)
{
    if (renameat(s->tmp_fd, tmp_name, s->layers_fd, diff_id + 7) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            /* another process finished it first: keep theirs */
            cas_rmtree_at(s->tmp_fd, tmp_name);
            return 0;
        }
        return error_errno(err, errno, "layer %s: move into the store", diff_id);
    }
    fsync(s->layers_fd);
    return 0;
}
