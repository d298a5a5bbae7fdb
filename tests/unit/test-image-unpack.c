/* Layer unpack: a table of layers (built here with libarchive's writer) and
 * what unpacking them must do — produce the tree, or refuse the layer and
 * leave everything outside the layer root untouched. Runs as root (mknod
 * and trusted.* xattrs for whiteouts), as the daemon does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/hash.h"
#include "image/image-internal.h"

enum { F, D, L, H, C }; /* file, dir, symlink, hard link, char device */

struct ent {
    int type;
    const char *name;
    const char *data; /* content, or link target */
    int mode;
};

#define END                                                                                        \
    {                                                                                              \
        -1, NULL, NULL, 0                                                                          \
    }

struct out {
    char *data;
    size_t len;
};

static int mem_write_open(struct archive *a, void *arg)
{
    (void)a;
    (void)arg;
    return ARCHIVE_OK;
}

static la_ssize_t mem_write(struct archive *a, void *arg, const void *buf, size_t n)
{
    (void)a;
    struct out *o = arg;
    o->data = realloc(o->data, o->len + n);
    memcpy(o->data + o->len, buf, n);
    o->len += n;
    return (la_ssize_t)n;
}

static struct out make_tar(const struct ent *e)
{
    struct out o = {0};
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &o, mem_write_open, mem_write, NULL);
    for (; e->name; e++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e->name);
        archive_entry_set_mtime(ae, 1700000000, 0);
        switch (e->type) {
        case F:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e->mode ? e->mode : 0644);
            archive_entry_set_size(ae, (la_int64_t)strlen(e->data));
            break;
        case D:
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, e->mode ? e->mode : 0755);
            break;
        case L:
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e->data);
            break;
        case H:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e->data);
            break;
        case C:
            archive_entry_set_filetype(ae, AE_IFCHR);
            archive_entry_set_perm(ae, 0666);
            archive_entry_set_rdev(ae, makedev(1, 3));
            break;
        }
        archive_write_header(a, ae);
        if (e->type == F)
            archive_write_data(a, e->data, strlen(e->data));
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    return o;
}

/* Wraps tar bytes in gzip or zstd with libarchive's raw writer. */
static struct out compress(const struct out *tar, const char *filter)
{
    struct out o = {0};
    struct archive *a = archive_write_new();
    archive_write_set_format_raw(a);
    if (!strcmp(filter, "gzip"))
        archive_write_add_filter_gzip(a);
    else
        archive_write_add_filter_zstd(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &o, mem_write_open, mem_write, NULL);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_write_header(a, ae);
    archive_write_data(a, tar->data, tar->len);
    archive_entry_free(ae);
    archive_write_close(a);
    archive_write_free(a);
    return o;
}

static void digest_of(const struct out *o, char out[IMG_DIGEST_LEN + 1])
{
    uint8_t d[HASH_SHA256_LEN];
    hash_sha256(o->data, o->len, d);
    memcpy(out, "sha256:", 7);
    hash_hex(d, sizeof(d), out + 7);
}

/* The test's world: a work dir holding the layer root and, beside it, a
 * host sentinel that no layer may reach. */
static char work[64];
static char root[128];
static char sentinel[128];

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof(work), "/tmp/skiff-unpack-XXXXXX");
    assert_non_null(mkdtemp(work));
    snprintf(root, sizeof(root), "%s/a/b/root", work);
    snprintf(sentinel, sizeof(sentinel), "%s/sentinel", work);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && echo host > %s", root, sentinel);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", work);
    return system(cmd);
}

static void reset_root(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", root, root);
    assert_int_equal(system(cmd), 0);
}

/* Unpacks entries (compressed with filter, or "" for plain tar); returns
 * the result, with the error message in why. */
static int unpack(const struct ent *e, const char *filter, bool corrupt_diff_id,
                  struct unpack_stats *stats, char *why, size_t why_size)
{
    reset_root();
    struct out tar = make_tar(e);
    char diff_id[IMG_DIGEST_LEN + 1];
    digest_of(&tar, diff_id);
    if (corrupt_diff_id)
        diff_id[10] = diff_id[10] == 'a' ? 'b' : 'a';
    struct out blob = *filter ? compress(&tar, filter) : tar;
    char path[160];
    snprintf(path, sizeof(path), "%s/blob", work);
    FILE *f = fopen(path, "w");
    fwrite(blob.data, 1, blob.len, f);
    fclose(f);
    int fd = open(path, O_RDONLY);
    int dirfd = open(root, O_RDONLY | O_DIRECTORY);
    struct error *err = NULL;
    memset(stats, 0, sizeof(*stats));
    int r = img_layer_unpack(fd, dirfd, diff_id, stats, &err);
    snprintf(why, why_size, "%s", err ? err->msg : "");
    error_free(err);
    close(fd);
    close(dirfd);
    if (blob.data != tar.data)
        free(blob.data);
    free(tar.data);
    return r;
}

static void at(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", root, rel);
}

static void assert_sentinel_untouched(void)
{
    char buf[16] = "";
    FILE *f = fopen(sentinel, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "host\n");
    struct stat st;
    assert_int_equal(lstat(sentinel, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal((int)st.st_nlink, 1);
    /* nothing appeared beside the layer root either */
    char p[200];
    snprintf(p, sizeof(p), "%s/a/b/x", work);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/pwned", work);
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- refused layers ---- */

struct bad_case {
    const char *title;
    struct ent entries[6];
    const char *why;
};

static const struct bad_case bad_cases[] = {
    {"dotdot", {{F, "../../../sentinel", "evil\n", 0}, END}, "'..'"},
    {"dotdot inside", {{D, "d", NULL, 0}, {F, "d/../../x", "evil\n", 0}, END}, "'..'"},
    {"write through absolute symlink",
     {{L, "evil", "/tmp", 0}, {F, "evil/pwned", "evil\n", 0}, END},
     "symlink"},
    {"write through relative symlink",
     {{L, "evil", "../../..", 0}, {F, "evil/pwned", "evil\n", 0}, END},
     "symlink"},
    {"mkdir through symlink", {{L, "evil", "/", 0}, {D, "evil/x", NULL, 0}, END}, "symlink"},
    {"deep write through symlink",
     {{D, "a", NULL, 0}, {L, "a/l", "../../..", 0}, {F, "a/l/b/x", "evil\n", 0}, END},
     "symlink"},
    {"hard link out with dotdot", {{H, "l", "../../../sentinel", 0}, END}, "leaves the layer"},
    {"hard link to an absolute host path", {{H, "l", "/etc/passwd", 0}, END}, "not in this layer"},
    {"hard link through symlink", {{L, "s", "/etc", 0}, {H, "l", "s/passwd", 0}, END}, "symlink"},
    {"hard link to a directory", {{D, "d", NULL, 0}, {H, "l", "d", 0}, END}, "directory"},
    {"whiteout through symlink", {{L, "s", "/etc", 0}, {F, "s/.wh.passwd", "", 0}, END}, "symlink"},
    {"file over a symlinked parent after a dir",
     {{D, "x", NULL, 0}, {L, "x/y", "/", 0}, {F, "x/y/z", "evil\n", 0}, END},
     "symlink"},
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct unpack_stats st;
        char why[512];
        int r = unpack(c->entries, "", false, &st, why, sizeof(why));
        if (r == 0)
            fail_msg("%s: accepted", c->title);
        if (!strstr(why, c->why))
            fail_msg("%s: error \"%s\" lacks \"%s\"", c->title, why, c->why);
        assert_sentinel_untouched();
        /* nothing was written through the link into the host */
        assert_int_equal(access("/tmp/pwned", F_OK), -1);
        assert_int_equal(access("/pwned", F_OK), -1);
    }
}

/* ---- accepted layers ---- */

static void test_tree_and_policies(void **state)
{
    (void)state;
    static const struct ent e[] = {
        {D, "./", NULL, 0755},
        {D, "bin", NULL, 0755},
        {F, "bin/tool", "#!/bin/sh\n", 04755},
        {F, "/abs/file", "absolute names land inside\n", 0},
        {L, "bin/sh", "/bin/tool", 0},
        {H, "bin/tool2", "bin/tool", 0},
        {C, "dev/null", NULL, 0},
        {F, "sgid", "x", 02755},
        {F, "a//b/./c", "cleaned\n", 0},
        {-1, NULL, NULL, 0},
    };
    struct unpack_stats st;
    char why[512], p[300];
    mode_t old_umask = umask(077);
    assert_int_equal(unpack(e, "gzip", false, &st, why, sizeof(why)), 0);
    umask(old_umask);
    struct stat s;
    at(p, sizeof(p), "bin/tool");
    assert_int_equal(stat(p, &s), 0);
    assert_int_equal(s.st_mode & 07777, 0755); /* setuid cleared */
    assert_int_equal((int)s.st_nlink, 2);      /* hard link kept */
    at(p, sizeof(p), "sgid");
    assert_int_equal(stat(p, &s), 0);
    assert_int_equal(s.st_mode & 07777, 0755);
    assert_int_equal((int)st.setid_cleared, 2);
    at(p, sizeof(p), "abs/file");
    assert_int_equal(access(p, F_OK), 0);
    at(p, sizeof(p), "abs"); /* implied parent: 0755 whatever the umask */
    assert_int_equal(stat(p, &s), 0);
    assert_int_equal(s.st_mode & 07777, 0755);
    at(p, sizeof(p), "a/b/c");
    assert_int_equal(access(p, F_OK), 0);
    char target[64] = "";
    at(p, sizeof(p), "bin/sh");
    assert_true(readlink(p, target, sizeof(target) - 1) > 0);
    assert_string_equal(target, "/bin/tool"); /* stored as is, never followed */
    at(p, sizeof(p), "dev/null");
    assert_int_equal(access(p, F_OK), -1); /* device nodes skipped */
    assert_int_equal((int)st.devices_skipped, 1);
    assert_sentinel_untouched();
}

static void test_whiteouts(void **state)
{
    (void)state;
    static const struct ent e[] = {
        {D, "etc", NULL, 0},          {F, "etc/.wh.passwd", "", 0},
        {D, "var/cache", NULL, 0},    {F, "var/cache/.wh..wh..opq", "", 0},
        {F, "var/cache/new", "n", 0}, {F, ".wh..wh.plnk", "", 0},
        {-1, NULL, NULL, 0},
    };
    struct unpack_stats st;
    char why[512], p[300];
    assert_int_equal(unpack(e, "zstd", false, &st, why, sizeof(why)), 0);
    struct stat s;
    at(p, sizeof(p), "etc/passwd");
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISCHR(s.st_mode));
    assert_int_equal((int)s.st_rdev, 0);
    at(p, sizeof(p), "etc/.wh.passwd");
    assert_int_equal(access(p, F_OK), -1);
    at(p, sizeof(p), "var/cache");
    char v[4] = "";
    assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    at(p, sizeof(p), "var/cache/.wh..wh..opq");
    assert_int_equal(access(p, F_OK), -1);
    at(p, sizeof(p), ".wh..wh.plnk");
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal((int)st.whiteouts, 2);
}

static void test_replacements(void **state)
{
    (void)state;
    /* later entries replace earlier ones, whatever their types */
    static const struct ent e[] = {
        {D, "x", NULL, 0},     {F, "x/inner", "i", 0}, {F, "x", "now a file", 0},
        {F, "y", "a file", 0}, {D, "y", NULL, 0},      {L, "z", "/etc", 0},
        {D, "z", NULL, 0},     {F, "z/ok", "ok", 0},   {-1, NULL, NULL, 0},
    };
    struct unpack_stats st;
    char why[512], p[300];
    assert_int_equal(unpack(e, "", false, &st, why, sizeof(why)), 0);
    struct stat s;
    at(p, sizeof(p), "x");
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISREG(s.st_mode));
    at(p, sizeof(p), "y");
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISDIR(s.st_mode));
    at(p, sizeof(p), "z/ok");
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISREG(s.st_mode));
    assert_int_equal(access("/etc/ok", F_OK), -1);
}

static void test_diff_id_mismatch(void **state)
{
    (void)state;
    static const struct ent e[] = {{F, "f", "content", 0}, END};
    struct unpack_stats st;
    char why[512];
    assert_int_equal(unpack(e, "gzip", true, &st, why, sizeof(why)), -EBADMSG);
    assert_non_null(strstr(why, "diff_id mismatch"));
}

static void test_not_a_tar(void **state)
{
    (void)state;
    reset_root();
    char path[160];
    snprintf(path, sizeof(path), "%s/junk", work);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 4096; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    int fd = open(path, O_RDONLY);
    int dirfd = open(root, O_RDONLY | O_DIRECTORY);
    struct error *err = NULL;
    struct unpack_stats st;
    assert_int_equal(
        img_layer_unpack(fd, dirfd,
                         "sha256:"
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         &st, &err),
        -EBADMSG);
    error_free(err);
    close(fd);
    close(dirfd);
}

/* ---- tar path cleaning ---- */

static void test_tarpath(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a/b", "a/b"},      {"./a/b/", "a/b"}, {"/etc/passwd", "etc/passwd"},
        {"//a//b//", "a/b"}, {"./", ""},        {"/", ""},
        {"a/./b/.", "a/b"},  {"...", "..."},    {"..a/b..", "..a/b.."},
        {"..", NULL},        {"a/..", NULL},    {"a/../b", NULL},
        {"/../x", NULL},     {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        const char *why = NULL;
        int r = img_tarpath_clean(cases[i].in, out, sizeof(out), &why);
        if (cases[i].out) {
            if (r != 0)
                fail_msg("'%s' refused: %s", cases[i].in, why);
            assert_string_equal(out, cases[i].out);
        } else if (r == 0) {
            fail_msg("'%s' accepted as '%s'", cases[i].in, out);
        }
    }
    char deep[2048] = "";
    for (int i = 0; i < 300; i++)
        strcat(deep, "d/");
    char out[2048];
    const char *why;
    assert_int_equal(img_tarpath_clean(deep, out, sizeof(out), &why), -EINVAL);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test-image-unpack needs root (mknod, trusted.* xattrs)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tarpath),           cmocka_unit_test(test_refused),
        cmocka_unit_test(test_tree_and_policies), cmocka_unit_test(test_whiteouts),
        cmocka_unit_test(test_replacements),      cmocka_unit_test(test_diff_id_mismatch),
        cmocka_unit_test(test_not_a_tar),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
