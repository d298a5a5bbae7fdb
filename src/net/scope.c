/* A daemon's scope of names on the host (see net_scope_acquire in net.h). */
#include "net/net.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The scope this process holds (its lock stays open until exit). */
static char held[NET_SCOPE_LEN + 1];
static int held_fd = -1;

static bool scope_valid(const char *s)
{
    return strlen(s) == NET_SCOPE_LEN && strspn(s, "0123456789abcdef") == NET_SCOPE_LEN;
}

/* Whether a link of the scope exists (skb<scope>… or ske<scope>…). */
static bool links_use(const char *scope)
{
    DIR *d = opendir("/sys/class/net");
    if (!d)
        return false;
    struct dirent *de;
    bool used = false;
    while (!used && (de = readdir(d)))
        used = (strncmp(de->d_name, "skb", 3) == 0 || strncmp(de->d_name, "ske", 3) == 0) &&
               strncmp(de->d_name + 3, scope, NET_SCOPE_LEN) == 0;
    closedir(d);
    return used;
}

/* Takes the scope's lock: the fd, -EBUSY when another process holds it. */
static int lock_scope(const char *lock_dir, const char *scope)
{
    if (mkdir(lock_dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    _cleanup_free_ char *path = xasprintf("%s/%s.lock", lock_dir, scope);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
        close(fd);
        return r;
    }
    return fd;
}

static int write_scope(const char *data_dir, const char *scope)
{
    _cleanup_free_ char *path = xasprintf("%s/net-scope", data_dir);
    _cleanup_free_ char *tmp = xasprintf("%s/net-scope.tmp", data_dir);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    fprintf(f, "%s\n", scope);
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        int r = -errno;
        fclose(f);
        unlink(tmp);
        return r;
    }
    fclose(f);
    if (rename(tmp, path) < 0) {
        int r = -errno;
        unlink(tmp);
        return r;
    }
    return 0;
}

int net_scope_acquire(const char *data_dir, const char *lock_dir, char *ret, struct error **err)
{
    char scope[NET_SCOPE_LEN + 2] = "";
    _cleanup_free_ char *path = xasprintf("%s/net-scope", data_dir);
    FILE *f = fopen(path, "re");
    if (f) {
        if (!fgets(scope, sizeof(scope), f))
            scope[0] = '\0';
        fclose(f);
        scope[strcspn(scope, "\n")] = '\0';
        if (!scope_valid(scope))
            return error_set(err, EINVAL, NULL, "%s: not a network scope", path);
    } else if (errno != ENOENT) {
        return error_errno(err, errno, "open %s", path);
    }
    if (held_fd >= 0 && (!scope[0] || strcmp(scope, held) == 0)) {
        memcpy(ret, held, sizeof(held));
        return 0;
    }
    if (held_fd >= 0)
        return error_set(err, EBUSY, NULL, "this process holds network scope %s already", held);
    int fd;
    if (scope[0]) {
        if ((fd = lock_scope(lock_dir, scope)) < 0)
            return error_errno(err, -fd, "network scope %s (%s)%s", scope, path,
                               fd == -EBUSY ? ": held by another skiffd" : "");
    } else {
        /* A new one: random, held by no live daemon, used by no link. */
        fd = -EBUSY;
        for (int tries = 0; tries < 64 && fd == -EBUSY; tries++) {
            uint8_t rnd[NET_SCOPE_LEN / 2];
            hash_random(rnd, sizeof(rnd));
            for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(scope + 2 * i, 3, "%02x", rnd[i]);
            if (links_use(scope))
                continue;
            fd = lock_scope(lock_dir, scope);
        }
        if (fd < 0)
            return error_errno(err, -fd, "pick a network scope");
        int r = write_scope(data_dir, scope);
        if (r < 0) {
            close(fd);
            return error_errno(err, -r, "write %s", path);
        }
    }
    held_fd = fd;
    memcpy(held, scope, sizeof(held));
    memcpy(ret, held, sizeof(held));
    return 0;
}
