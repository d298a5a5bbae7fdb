/* Layer unpack: a gzip, zstd or plain tar stream into a layer directory,
 * every entry confined to the layer root.
 *
 * Two libarchive readers are chained: the outer one only decompresses
 * (format "raw"), the inner one reads tar from the outer's output through a
 * callback that also hashes it, so the diff_id (sha256 of the uncompressed
 * tar) is checked on the very bytes that were unpacked.
 *
 * Confinement: names are cleaned by img_tarpath_clean() (".." refused,
 * leading "/" dropped); parent directories are opened with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) relative to the layer root
 * (or one component at a time with O_NOFOLLOW when they must be created),
 * so no symlink, whether in the layer or planted by an earlier entry, is
 * ever followed; the entry itself is created with *at() calls on that
 * parent fd and O_NOFOLLOW/O_EXCL. Hard links must name a file already in
 * this layer. Device nodes are skipped and setuid/setgid bits cleared;
 * extended attributes in the archive are not restored. */
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define UNPACK_BLOCK       (128 * 1024)
#define UNPACK_MAX_ENTRIES 2000000
#define UNPACK_MAX_BYTES   (256LL << 30)

struct stream {
    struct archive *outer;
    EVP_MD_CTX *md;
    char buf[UNPACK_BLOCK];
    bool outer_eof;
};

struct dir_mtime {
    char *path;
    struct timespec ts[2];
};

struct unpacker {
    int root;
    struct unpack_stats *stats;
    /* cache of the last parent directory opened */
    char *parent_path;
    int parent_fd;
    /* directory times are set last, as later entries change them */
    struct dir_mtime *dirs;
    size_t n_dirs, alloc_dirs;
    bool root_meta;
    struct stat root_st;
    struct timespec root_ts[2];
};

static ssize_t inner_read(struct archive *a, void *arg, const void **ret)
{
    (void)a;
    struct stream *s = arg;
    if (s->outer_eof)
        return 0;
    la_ssize_t n = archive_read_data(s->outer, s->buf, sizeof(s->buf));
    if (n < 0) {
        archive_set_error(a, EIO, "decompress: %s", archive_error_string(s->outer));
        return -1;
    }
    if (n == 0)
        s->outer_eof = true;
    EVP_DigestUpdate(s->md, s->buf, (size_t)n);
    *ret = s->buf;
    return n;
}

static long sys_openat2(int dirfd, const char *path, struct open_how *how)
{
    return syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

static void invalidate_parent(struct unpacker *u)
{
    free(u->parent_path);
    u->parent_path = NULL;
    closep(&u->parent_fd);
}

static int reject(struct error **err, const char *name, const char *why)
{
    return error_set(err, EPERM, NULL, "layer entry \"%.300s\" refused: %s", name, why);
}

/* Opens the directory rel (cleaned, "" = root) beneath the root without
 * following any symlink; creates missing directories when create is set. */
static int open_beneath(struct unpacker *u, const char *rel, bool create, const char *entry,
                        struct error **err)
{
    if (!*rel) {
        int fd = fcntl(u->root, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? error_errno(err, errno, "dup") : fd;
    }
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = sys_openat2(u->root, rel, &how);
    if (fd >= 0)
        return (int)fd;
    if (errno == ELOOP || errno == EXDEV)
        return reject(err, entry, "its path goes through a symlink");
    if (errno == ENOTDIR)
        return reject(err, entry, "its path goes through a non-directory");
    if (errno != ENOENT && errno != ENOSYS)
        return error_errno(err, errno, "open %s in the layer", rel);
    /* walk one component at a time, creating what is missing */
    _cleanup_free_ char *copy = xstrdup(rel);
    int cur = fcntl(u->root, F_DUPFD_CLOEXEC, 3);
    if (cur < 0)
        return error_errno(err, errno, "dup");
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        int next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                close(cur);
                return error_errno(err, e, "create directory %s in the layer", c);
            }
            next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            /* implied parents are 0755 whatever skiffd's umask */
            if (next >= 0)
                fchmod(next, 0755);
        }
        int e = errno;
        close(cur);
        if (next < 0) {
            if (e == ELOOP || e == ENOTDIR)
                return reject(err, entry,
                              e == ELOOP ? "its path goes through a symlink"
                                         : "its path goes through a non-directory");
            if (e == ENOENT)
                return error_set(err, ENOENT, NULL, "layer entry \"%.300s\": %s does not exist",
                                 entry, rel);
            return error_errno(err, e, "open %s in the layer", c);
        }
        cur = next;
    }
    return cur;
}

/* The parent directory of rel (created when missing), cached. */
static int parent_of(struct unpacker *u, const char *rel, const char **ret_base, const char *entry,
                     struct error **err)
{
    const char *slash = strrchr(rel, '/');
    _cleanup_free_ char *parent = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
    *ret_base = slash ? slash + 1 : rel;
    if (u->parent_path && !strcmp(u->parent_path, parent))
        return u->parent_fd;
    invalidate_parent(u);
    int fd = open_beneath(u, parent, true, entry, err);
    if (fd < 0)
        return fd;
    u->parent_path = TAKE_PTR(parent);
    u->parent_fd = fd;
    return fd;
}

/* Makes room for a new entry called base in dir: removes what is there
 * (a whole tree for a directory) unless keep_dir and it is a directory.
 * The parent cache always holds dir itself, never something below base, so
 * it stays valid. */
static int clear_slot(int dir, const char *base, bool keep_dir, bool *ret_is_dir,
                      struct error **err)
{
    struct stat st;
    *ret_is_dir = false;
    if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : error_errno(err, errno, "stat %s", base);
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir) {
            *ret_is_dir = true;
            return 0;
        }
        int r = cas_rmtree_at(dir, base);
        return r < 0 ? error_errno(err, -r, "replace directory %s", base) : 0;
    }
    if (unlinkat(dir, base, 0) < 0 && errno != ENOENT)
        return error_errno(err, errno, "replace %s", base);
    return 0;
}

static mode_t safe_mode(struct unpacker *u, mode_t mode)
{
    if (mode & (S_ISUID | S_ISGID)) {
        u->stats->setid_cleared++;
        mode &= ~(mode_t)(S_ISUID | S_ISGID);
    }
    return mode & 07777;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[0].tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
    ts[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : 0;
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
}

static int write_file(struct unpacker *u, struct archive *a, struct archive_entry *e, int dir,
                      const char *base, struct error **err)
{
    _cleanup_close_ int fd =
        openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(err, errno, "create %s", archive_entry_pathname(e));
    const void *block;
    size_t size;
    la_int64_t offset;
    int64_t end = 0;
    for (;;) {
        int r = archive_read_data_block(a, &block, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return error_set(err, EBADMSG, NULL, "layer: %s", archive_error_string(a));
        u->stats->bytes += size;
        if (u->stats->bytes > (uint64_t)UNPACK_MAX_BYTES)
            return error_set(err, E2BIG, NULL, "layer unpacks to more than %lld bytes",
                             (long long)UNPACK_MAX_BYTES);
        const char *p = block;
        while (size) {
            ssize_t k = pwrite(fd, p, size, offset);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return error_errno(err, errno, "write %s", archive_entry_pathname(e));
            p += k;
            size -= (size_t)k;
            offset += k;
        }
        if (offset > end)
            end = offset;
    }
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
        ftruncate(fd, archive_entry_size(e)) < 0)
        return error_errno(err, errno, "size %s", archive_entry_pathname(e));
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
        fchmod(fd, safe_mode(u, archive_entry_perm(e) | (archive_entry_mode(e) & 07000))) < 0)
        return error_errno(err, errno, "set owner/mode of %s", archive_entry_pathname(e));
    struct timespec ts[2];
    entry_times(e, ts);
    futimens(fd, ts);
    return 0;
}

static int do_whiteout(struct unpacker *u, const char *rel, const char *base, int dir,
                       const char *entry, struct error **err)
{
    if (!strcmp(base, ".wh..wh..opq")) {
        if (fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return error_errno(err, errno, "mark %s opaque", entry);
        u->stats->whiteouts++;
        return 0;
    }
    if (!strncmp(base, ".wh..wh.", 8))
        return 0; /* aufs bookkeeping (.wh..wh.plnk etc.): nothing to do */
    const char *name = base + 4;
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
        return reject(err, entry, "malformed whiteout");
    (void)rel;
    bool is_dir;
    int r = clear_slot(dir, name, false, &is_dir, err);
    if (r < 0)
        return r;
    if (mknodat(dir, name, S_IFCHR | 0, makedev(0, 0)) < 0)
        return error_errno(err, errno, "create whiteout for %s", entry);
    u->stats->whiteouts++;
    return 0;
}

static int do_hardlink(struct unpacker *u, const char *target, int dir, const char *base,
                       const char *entry, struct error **err)
{
    char clean[PATH_MAX];
    const char *why = NULL;
    if (img_tarpath_clean(target, clean, sizeof(clean), &why) < 0)
        return reject(err, entry, "hard link target leaves the layer");
    if (!*clean)
        return reject(err, entry, "hard link to the layer root");
    const char *slash = strrchr(clean, '/');
    _cleanup_free_ char *tparent = slash ? xstrndup(clean, (size_t)(slash - clean)) : xstrdup("");
    const char *tbase = slash ? slash + 1 : clean;
    _cleanup_error_ struct error *terr = NULL;
    _cleanup_close_ int tfd = open_beneath(u, tparent, false, entry, &terr);
    if (tfd < 0)
        return reject(err, entry,
                      terr && terr->errnum == EPERM ? "hard link target path goes through a symlink"
                                                    : "hard link target is not in this layer");
    struct stat st;
    if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return reject(err, entry, "hard link target is not in this layer");
    if (S_ISDIR(st.st_mode))
        return reject(err, entry, "hard link to a directory");
    bool is_dir;
    int r = clear_slot(dir, base, false, &is_dir, err);
    if (r < 0)
        return r;
    if (linkat(tfd, tbase, dir, base, 0) < 0)
        return error_errno(err, errno, "hard link %s", entry);
    return 0;
}

static int add_dir_time(struct unpacker *u, const char *rel, struct archive_entry *e)
{
    if (u->n_dirs == u->alloc_dirs) {
        u->alloc_dirs = u->alloc_dirs ? 2 * u->alloc_dirs : 64;
        u->dirs = xrealloc(u->dirs, u->alloc_dirs * sizeof(*u->dirs));
    }
    struct dir_mtime *d = &u->dirs[u->n_dirs++];
    d->path = xstrdup(rel);
    entry_times(e, d->ts);
    return 0;
}

static int do_entry(struct unpacker *u, struct archive *a, struct archive_entry *e,
                    struct error **err)
{
    const char *name = archive_entry_pathname(e);
    if (!name)
        return error_set(err, EBADMSG, NULL, "layer entry without a usable name");
    char rel[PATH_MAX];
    const char *why = NULL;
    if (img_tarpath_clean(name, rel, sizeof(rel), &why) < 0)
        return reject(err, name, why);
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);

    if (!*rel) {
        /* the root itself ("./"): its metadata, applied at the end */
        if (type == AE_IFDIR) {
            u->root_meta = true;
            u->root_st.st_mode = safe_mode(u, archive_entry_perm(e));
            u->root_st.st_uid = (uid_t)archive_entry_uid(e);
            u->root_st.st_gid = (gid_t)archive_entry_gid(e);
            entry_times(e, u->root_ts);
            return 0;
        }
        return reject(err, name, "the layer root must be a directory");
    }
    const char *base;
    int dir = parent_of(u, rel, &base, name, err);
    if (dir < 0)
        return dir;
    if (!strncmp(base, ".wh.", 4))
        return do_whiteout(u, rel, base, dir, name, err);

    bool is_dir;
    int r;
    if (hardlink)
        return do_hardlink(u, hardlink, dir, base, name, err);
    switch (type) {
    case AE_IFDIR:
        r = clear_slot(dir, base, true, &is_dir, err);
        if (r < 0)
            return r;
        if (!is_dir && mkdirat(dir, base, 0700) < 0)
            return error_errno(err, errno, "create directory %s", name);
        if (fchownat(dir, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(dir, base,
                     safe_mode(u, archive_entry_perm(e) | (archive_entry_mode(e) & 07000)), 0) < 0)
            return error_errno(err, errno, "set owner/mode of %s", name);
        return add_dir_time(u, rel, e);
    case AE_IFREG:
    case AE_IFLNK:
    case AE_IFIFO:
        r = clear_slot(dir, base, false, &is_dir, err);
        if (r < 0)
            return r;
        break;
    case AE_IFCHR:
    case AE_IFBLK:
        u->stats->devices_skipped++;
        return 0;
    default:
        return 0; /* sockets and unknown types: nothing to create */
    }
    if (type == AE_IFREG)
        return write_file(u, a, e, dir, base, err);
    struct timespec ts[2];
    entry_times(e, ts);
    if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!target || !*target)
            return reject(err, name, "symlink without a target");
        /* the target is stored as is: it is resolved inside the container's
         * root at run time, never by us */
        if (symlinkat(target, dir, base) < 0)
            return error_errno(err, errno, "create symlink %s", name);
    } else {
        if (mkfifoat(dir, base, 0600) < 0)
            return error_errno(err, errno, "create fifo %s", name);
        if (fchmodat(dir, base, safe_mode(u, archive_entry_perm(e)), 0) < 0)
            return error_errno(err, errno, "set mode of %s", name);
    }
    if (fchownat(dir, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return error_errno(err, errno, "set owner of %s", name);
    utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static void finish_dirs(struct unpacker *u)
{
    for (size_t i = u->n_dirs; i-- > 0;) {
        struct open_how how = {
            .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = sys_openat2(u->root, u->dirs[i].path, &how);
        if (fd >= 0) {
            futimens((int)fd, u->dirs[i].ts);
            close((int)fd);
        }
    }
    if (u->root_meta) {
        if (fchown(u->root, u->root_st.st_uid, u->root_st.st_gid) == 0)
            fchmod(u->root, u->root_st.st_mode);
        futimens(u->root, u->root_ts);
    } else {
        fchmod(u->root, 0755);
    }
}

int img_layer_unpack(int fd, int dirfd, const char *diff_id, struct unpack_stats *ret_stats,
                     struct error **err)
{
    struct unpack_stats stats = {0};
    struct unpacker u = {.root = dirfd, .stats = &stats, .parent_fd = -1};
    struct stream *s = xzalloc(sizeof(*s));
    s->md = EVP_MD_CTX_new();
    if (!s->md)
        abort();
    EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
    s->outer = archive_read_new();
    struct archive *inner = archive_read_new();
    if (!s->outer || !inner)
        abort();
    archive_read_support_filter_gzip(s->outer);
    archive_read_support_filter_zstd(s->outer);
    archive_read_support_format_raw(s->outer);
    archive_read_support_format_tar(inner);
    int r = 0;
    struct archive_entry *e;
    if (archive_read_open_fd(s->outer, fd, UNPACK_BLOCK) != ARCHIVE_OK ||
        archive_read_next_header(s->outer, &e) != ARCHIVE_OK) {
        r = error_set(err, EBADMSG, NULL, "layer: %s", archive_error_string(s->outer));
        goto out;
    }
    if (archive_read_open(inner, s, NULL, inner_read, NULL) != ARCHIVE_OK) {
        r = error_set(err, EBADMSG, NULL, "layer: %s", archive_error_string(inner));
        goto out;
    }
    for (;;) {
        int ar = archive_read_next_header(inner, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = error_set(err, EBADMSG, NULL, "layer is not a valid tar stream: %s",
                          archive_error_string(inner));
            goto out;
        }
        if (++stats.entries > UNPACK_MAX_ENTRIES) {
            r = error_set(err, E2BIG, NULL, "layer has more than %d entries", UNPACK_MAX_ENTRIES);
            goto out;
        }
        r = do_entry(&u, inner, e, err);
        if (r < 0)
            goto out;
    }
    /* what follows the end-of-archive blocks is part of the diff_id too */
    while (!s->outer_eof) {
        la_ssize_t n = archive_read_data(s->outer, s->buf, sizeof(s->buf));
        if (n < 0) {
            r = error_set(err, EBADMSG, NULL, "layer: %s", archive_error_string(s->outer));
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(s->md, s->buf, (size_t)n);
    }
    uint8_t d[HASH_SHA256_LEN];
    unsigned dn = sizeof(d);
    char got[IMG_DIGEST_LEN + 1] = "sha256:";
    EVP_DigestFinal_ex(s->md, d, &dn);
    hash_hex(d, sizeof(d), got + 7);
    if (strcmp(got, diff_id) != 0) {
        r = error_set(err, EBADMSG, NULL, "layer diff_id mismatch: config says %s, content is %s",
                      diff_id, got);
        goto out;
    }
    finish_dirs(&u);
    if (syncfs(dirfd) < 0) {
        r = error_errno(err, errno, "sync layer");
        goto out;
    }
    if (ret_stats)
        *ret_stats = stats;
out:
    invalidate_parent(&u);
    for (size_t i = 0; i < u.n_dirs; i++)
        free(u.dirs[i].path);
    free(u.dirs);
    archive_read_free(inner);
    archive_read_free(s->outer);
    EVP_MD_CTX_free(s->md);
    free(s);
    return r;
}
