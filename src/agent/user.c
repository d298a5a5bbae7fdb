/* Users and groups of an image, read from /etc/passwd and /etc/group in its
 * unpacked layers without mounting anything: the topmost layer holding the
 * file wins, a whiteout (0/0 character device) or an opaque /etc
 * (trusted.overlay.opaque) hides the layers below, as overlayfs would. The
 * rules for the user spec are Docker's (runc's user.GetExecUser). */
#include "agent/agent-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ETC_FILE_MAX (4 * 1024 * 1024)
#define NGROUPS_CAP  64

static int read_fd(int fd, char **ret)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size > ETC_FILE_MAX)
        return -EFBIG;
    char *s = xmalloc((size_t)st.st_size + 1);
    size_t len = 0;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, s + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    s[len] = '\0';
    *ret = s;
    return 0;
}

/* The text of /etc/NAME as the merged rootfs would show it, or NULL when
 * no layer has it (or it is not a plain file). */
static char *etc_file(const char *const *lower, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_close_ int root = open(lower[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
            continue;
        struct stat st;
        if (fstatat(root, "etc", &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISDIR(st.st_mode))
            return NULL; /* deleted, or a symlink we do not follow */
        _cleanup_close_ int etc =
            openat(root, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (etc < 0)
            return NULL;
        if (fstatat(etc, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (!S_ISREG(st.st_mode))
                return NULL; /* a whiteout, or not a plain file */
            _cleanup_close_ int fd = openat(etc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            char *text = NULL;
            if (fd < 0 || read_fd(fd, &text) < 0)
                return NULL;
            return text;
        }
        char opaque[2] = {0};
        if (fgetxattr(etc, "trusted.overlay.opaque", opaque, 1) == 1 && opaque[0] == 'y')
            return NULL;
    }
    return NULL;
}

static bool parse_id(const char *s, uint32_t *ret)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > UINT32_MAX - 1 || s[0] == '-' || s[0] == '+')
        return false;
    *ret = (uint32_t)v;
    return true;
}

/* Splits a passwd/group line into at most max ':'-separated fields. */
static size_t fields(char *line, char **f, size_t max)
{
    size_t n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

struct pw {
    char *name;
    uint32_t uid, gid;
};

/* Finds a passwd entry by name, or by uid when name is NULL. */
static bool passwd_find(const char *passwd, const char *name, uint32_t uid, struct pw *ret)
{
    _cleanup_free_ char *text = xstrdup(passwd);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7];
        if (line[0] == '#' || fields(line, f, 7) < 4)
            continue;
        uint32_t u, g;
        if (!parse_id(f[2], &u) || !parse_id(f[3], &g))
            continue;
        if (name ? strcmp(f[0], name) == 0 : u == uid) {
            ret->name = xstrdup(f[0]);
            ret->uid = u;
            ret->gid = g;
            return true;
        }
    }
    return false;
}

static bool group_find(const char *group, const char *name, uint32_t *ret)
{
    _cleanup_free_ char *text = xstrdup(group);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        uint32_t g;
        if (line[0] == '#' || fields(line, f, 4) < 3 || !parse_id(f[2], &g))
            continue;
        if (strcmp(f[0], name) == 0) {
            *ret = g;
            return true;
        }
    }
    return false;
}

/* The gids of the groups listing user as a member. */
static void group_members(const char *group, const char *user, uint32_t **gids, size_t *n)
{
    _cleanup_free_ char *text = xstrdup(group);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        uint32_t g;
        if (line[0] == '#' || fields(line, f, 4) < 4 || !parse_id(f[2], &g))
            continue;
        char *s2 = NULL;
        for (char *m = strtok_r(f[3], ",", &s2); m; m = strtok_r(NULL, ",", &s2))
            if (strcmp(m, user) == 0 && *n < NGROUPS_CAP) {
                *gids = xrealloc(*gids, (*n + 1) * sizeof(**gids));
                (*gids)[(*n)++] = g;
                break;
            }
    }
}

int agent_user_resolve(const char *spec, const char *const *lower, size_t n_lower,
                       uint32_t *ret_uid, uint32_t *ret_gid, uint32_t **ret_gids,
                       size_t *ret_n_gids, struct error **err)
{
    _cleanup_free_ char *u = xstrdup(spec && *spec ? spec : "0");
    char *g = strchr(u, ':');
    if (g)
        *g++ = '\0';
    _cleanup_free_ char *passwd = etc_file(lower, n_lower, "passwd");
    _cleanup_free_ char *group = etc_file(lower, n_lower, "group");

    uint32_t uid, gid = 0;
    struct pw pw = {0};
    bool found;
    if (parse_id(u, &uid)) {
        found = passwd && passwd_find(passwd, NULL, uid, &pw);
        if (found)
            gid = pw.gid;
    } else {
        found = passwd && passwd_find(passwd, u, 0, &pw);
        if (!found)
            return error_set(err, ENOENT, NULL,
                             "unable to find user %s: no matching entries in passwd file", u);
        uid = pw.uid;
        gid = pw.gid;
    }
    if (g && *g && !parse_id(g, &gid) && !(group && group_find(group, g, &gid))) {
        free(pw.name);
        return error_set(err, ENOENT, NULL,
                         "unable to find group %s: no matching entries in group file", g);
    }
    uint32_t *gids = NULL;
    size_t n = 0;
    if (found && group)
        group_members(group, pw.name, &gids, &n);
    free(pw.name);
    *ret_uid = uid;
    *ret_gid = gid;
    *ret_gids = gids;
    *ret_n_gids = n;
    return 0;
}
