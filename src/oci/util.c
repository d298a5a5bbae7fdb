#include "oci/util.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t write_all(int fd, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)done;
}

int oci_file_write_at(int dirfd, const char *name, const char *s, struct error **err)
{
    _cleanup_close_ int fd = -1;
    do
        fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return error_errno(err, errno, "open %s", name);
    if (write_all(fd, s, strlen(s)) < 0)
        return error_errno(err, errno, "write %s to %s", s, name);
    return 0;
}

int oci_file_read_at(int dirfd, const char *name, size_t cap, char **ret, struct error **err)
{
    _cleanup_close_ int fd = -1;
    do
        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return error_errno(err, errno, "open %s", name);
    _cleanup_free_ char *buf = xmalloc(cap);
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, errno, "read %s", name);
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (strncmp(s, "max", 3) == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -errno;
    if (*end && *end != '\n' && *end != ' ')
        return -EINVAL;
    *ret = v;
    return 0;
}

int oci_file_read_u64_at(int dirfd, const char *name, uint64_t *ret, struct error **err)
{
    _cleanup_free_ char *s = NULL;
    int r = oci_file_read_at(dirfd, name, 64, &s, err);
    if (r < 0)
        return r;
    if (parse_u64(s, ret) < 0)
        return error_set(err, EINVAL, NULL, "%s: not a number: %.20s", name, s);
    return 0;
}

int oci_file_read_keyed_at(int dirfd, const char *name, const char *key, uint64_t *ret,
                           struct error **err)
{
    _cleanup_free_ char *s = NULL;
    int r = oci_file_read_at(dirfd, name, 8192, &s, err);
    if (r < 0)
        return r;
    size_t klen = strlen(key);
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            if (parse_u64(line + klen + 1, ret) < 0)
                return error_set(err, EINVAL, NULL, "%s: bad value for %s", name, key);
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return error_set(err, ENOENT, NULL, "%s: no %s", name, key);
}

int oci_file_replace(const char *path, const char *content, size_t len, mode_t mode,
                     struct error **err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return error_errno(err, errno, "create %s", tmp);
    if (write_all(fd, content, len) < 0) {
        int e = errno;
        unlink(tmp);
        return error_errno(err, e, "write %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return error_errno(err, e, "rename %s", tmp);
    }
    return 0;
}

int oci_dir_make(const char *path, mode_t mode, struct error **err)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return error_errno(err, errno, "mkdir %s", p);
        *s = c;
        if (!c)
            break;
    }
    return 0;
}

/* Removes the contents of the directory open at fd; dev is the device of
 * the tree's root, so mount points below it are left alone (rmdir on them
 * then fails with EBUSY rather than deleting another file system's files). */
static int remove_contents(int fd, dev_t dev, int depth)
{
    if (depth > 256)
        return -ELOOP;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return -e;
    }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT && !ret)
                ret = -errno;
            continue;
        }
        if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
            int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (errno != ENOENT && !ret)
                    ret = -errno;
                continue;
            }
            /* Overlay work dirs are created mode 000; root may still need
             * to be able to list them. */
            int r = remove_contents(sub, dev, depth + 1);
            close(sub);
            if (r < 0 && !ret)
                ret = r;
            if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT && !ret)
                ret = -errno;
        } else if (unlinkat(fd, de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 &&
                   errno != ENOENT && !ret) {
            ret = -errno;
        }
    }
    closedir(d);
    return ret;
}

int oci_dir_remove_tree(const char *path, struct error **err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_errno(err, errno, "stat %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return error_errno(err, errno, "unlink %s", path);
        return 0;
    }
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", path);
    int r = remove_contents(fd, st.st_dev, 0);
    if (r < 0)
        return error_errno(err, -r, "remove contents of %s", path);
    if (rmdir(path) < 0 && errno != ENOENT)
        return error_errno(err, errno, "rmdir %s", path);
    return 0;
}

bool oci_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}
