/* oci_spawn as root on this host: the program runs in a mount namespace of
 * its own, where ro_bind (the runtime's binary) is a read-only bind of
 * itself, so that crun and runc skip copying themselves (CVE-2019-5736
 * defence) at every call; the host never sees that mount. And the error
 * path: a program that cannot be executed fails with its errno. A detached
 * program (conmon) runs but is not the caller's child, and leaves the
 * caller no child to reap, whether its exec worked or not. Under ASan,
 * the child's stack leaves no poisoned shadow behind for the next mapping
 * at its address (a thread stack there read as a stack-buffer-overflow).
 * From a base namespace: the mounts under its dropped directories and
 * those made after it are not there, except the one carried. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/spawn.h"

static const char *const env[] = {"PATH=/usr/bin:/bin", NULL};

/* The mount options of the mount at exactly `target` in a mountinfo text,
 * or NULL. */
static char *mount_options(const char *mountinfo, const char *target)
{
    _cleanup_free_ char *copy = xstrdup(mountinfo);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char mnt[4096], opts[1024];
        if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mnt, opts) == 2 && !strcmp(mnt, target))
            return xstrdup(opts);
    }
    return NULL;
}

static char *host_mountinfo(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    assert_non_null(f);
    char *text = xmalloc(1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void test_run_binds_program_read_only(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const char *const argv[] = {"/usr/bin/cat", "/proc/self/mountinfo", NULL};
    _cleanup_free_ char *out = NULL;
    struct error *err = NULL;
    int r = oci_spawn_run(argv, env, false, NULL, NULL, &out, &err);
    if (r != 0)
        fail_msg("cat: %d %s", r, err ? err->msg : out);
    /* In the program's namespace its binary is a read-only mount... */
    _cleanup_free_ char *opts = mount_options(out, "/usr/bin/cat");
    if (!opts)
        fail_msg("no mount at /usr/bin/cat in:\n%s", out);
    assert_true(!strncmp(opts, "ro,", 3) || !strcmp(opts, "ro"));
    /* ...which the host does not see. */
    _cleanup_free_ char *host = host_mountinfo();
    _cleanup_free_ char *hopts = mount_options(host, "/usr/bin/cat");
    assert_null(hopts);
}

static void test_spawn_without_ro_bind_leaves_program_alone(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    const char *const argv[] = {"/usr/bin/cat", "/proc/self/mountinfo", NULL};
    struct oci_spawn sp = {.argv = argv, .envp = env, .fds = {-1, out[1], 2, -1, -1}};
    struct error *err = NULL;
    pid_t pid;
    int r = oci_spawn(&sp, &pid, &err);
    close(out[1]);
    if (r < 0)
        fail_msg("spawn: %s", err->msg);
    char *text = xmalloc(1 << 20);
    size_t len = 0;
    ssize_t n;
    while ((n = read(out[0], text + len, (1 << 20) - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
    close(out[0]);
    int status;
    assert_int_equal(oci_spawn_wait(pid, &status, NULL), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    _cleanup_free_ char *opts = mount_options(text, "/usr/bin/cat");
    assert_null(opts);
    free(text);
}

/* The child runs on a stack oci_spawn maps and unmaps; the next mapping of
 * that size usually lands at the same address. */
static void test_child_stack_leaves_no_asan_poison(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    if (geteuid() != 0)
        skip();
    for (int i = 0; i < 20; i++) {
        const char *const argv[] = {"/bin/true", NULL};
        struct error *err = NULL;
        int r = oci_spawn_run(argv, env, false, NULL, NULL, NULL, &err);
        assert_int_equal(r, 0);
        size_t size = 64 * 1024;
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(m != MAP_FAILED);
        void *bad = __asan_region_is_poisoned(m, size);
        munmap(m, size);
        if (bad)
            fail_msg("poisoned shadow at %p in a fresh mapping %p", bad, m);
    }
#else
    skip();
#endif
}

static void test_base_namespace(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char dir[] = "/tmp/skiff-spawn-base-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *drop = xasprintf("%s/drop", dir);
    _cleanup_free_ char *dropped = xasprintf("%s/drop/m", dir);
    _cleanup_free_ char *late = xasprintf("%s/late", dir);
    _cleanup_free_ char *file = xasprintf("%s/late/f", dir);
    assert_int_equal(mkdir(drop, 0755), 0);
    assert_int_equal(mkdir(dropped, 0755), 0);
    assert_int_equal(mkdir(late, 0755), 0);
    assert_int_equal(mount("tmpfs", dropped, "tmpfs", 0, "size=64k"), 0);
    const char *const drops[] = {drop, NULL};
    struct oci_spawn_base *base = NULL;
    struct error *err = NULL;
    int r = oci_spawn_base_new(drops, false, &base, &err);
    if (r < 0)
        fail_msg("base: %s", err->msg);
    /* Made after the base, as a task's storage is. */
    assert_int_equal(mount("tmpfs", late, "tmpfs", 0, "size=64k"), 0);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("carried\n", f);
    fclose(f);

    const char *const mi[] = {"/usr/bin/cat", "/proc/self/mountinfo", NULL};
    _cleanup_free_ char *out = NULL;
    r = oci_spawn_run(mi, env, false, base, NULL, &out, &err);
    if (r != 0)
        fail_msg("cat: %d %s", r, err ? err->msg : out);
    _cleanup_free_ char *o1 = mount_options(out, dropped);
    _cleanup_free_ char *o2 = mount_options(out, late);
    assert_null(o1);
    assert_null(o2);
    _cleanup_free_ char *o3 = mount_options(out, "/proc");
    assert_non_null(o3);

    /* Carried: the mount holding the path is there, the file readable. */
    const char *const cat[] = {"/usr/bin/cat", file, NULL};
    _cleanup_free_ char *text = NULL;
    r = oci_spawn_run(cat, env, false, base, file, &text, &err);
    if (r != 0)
        fail_msg("cat: %d %s", r, err ? err->msg : text);
    assert_string_equal(text, "carried\n");
    /* A path the base shows already is not carried. */
    _cleanup_free_ char *out2 = NULL;
    r = oci_spawn_run(mi, env, false, base, "/proc/self", &out2, &err);
    assert_int_equal(r, 0);
    _cleanup_free_ char *o4 = mount_options(out2, late);
    assert_null(o4);

    oci_spawn_base_free(base);
    assert_int_equal(umount2(late, MNT_DETACH), 0);
    assert_int_equal(umount2(dropped, MNT_DETACH), 0);
    unlink(file);
    rmdir(late);
    rmdir(dropped);
    rmdir(drop);
    rmdir(dir);
}

static void test_missing_program_fails_with_errno(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const char *const argv[] = {"/nonexistent/skiff-no-such-program", NULL};
    struct error *err = NULL;
    int r = oci_spawn_run(argv, env, false, NULL, NULL, NULL, &err);
    assert_int_equal(r, -ENOENT);
    assert_non_null(err);
    assert_non_null(strstr(err->msg, "exec /nonexistent/skiff-no-such-program"));
    error_free(err);
}

/* The parent pid in /proc/PID/stat, or -1. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *end = strrchr(buf, ')');
    int ppid = -1;
    if (!end || sscanf(end + 1, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

static void assert_no_child(void)
{
    int status;
    assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_detached_program_is_not_our_child(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const char *const argv[] = {"/bin/sleep", "30", NULL};
    struct oci_spawn sp = {.argv = argv, .envp = env, .detach = true, .fds = {-1, -1, -1, -1, -1}};
    struct error *err = NULL;
    pid_t pid;
    if (oci_spawn(&sp, &pid, &err) < 0)
        fail_msg("spawn: %s", err->msg);
    assert_true(pid > 0);
    char comm[64] = "";
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(comm, sizeof(comm), f));
    fclose(f);
    pid_t ppid = parent_of(pid);
    kill(pid, SIGKILL);
    assert_string_equal(comm, "sleep\n"); /* it had exec'd on return */
    assert_true(ppid > 0 && ppid != getpid());
    assert_no_child(); /* the intermediate child was reaped */
}

static void test_detached_missing_program_fails_with_errno(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    const char *const argv[] = {"/nonexistent/skiff-no-such-program", NULL};
    struct oci_spawn sp = {.argv = argv, .envp = env, .detach = true, .fds = {-1, -1, -1, -1, -1}};
    struct error *err = NULL;
    pid_t pid = 0;
    assert_int_equal(oci_spawn(&sp, &pid, &err), -ENOENT);
    assert_non_null(err);
    assert_non_null(strstr(err->msg, "exec /nonexistent/skiff-no-such-program"));
    error_free(err);
    assert_no_child();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_binds_program_read_only),
        cmocka_unit_test(test_spawn_without_ro_bind_leaves_program_alone),
        cmocka_unit_test(test_missing_program_fails_with_errno),
        cmocka_unit_test(test_base_namespace),
        cmocka_unit_test(test_child_stack_leaves_no_asan_poison),
        cmocka_unit_test(test_detached_program_is_not_our_child),
        cmocka_unit_test(test_detached_missing_program_fails_with_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
