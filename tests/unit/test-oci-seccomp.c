/* The seccomp profile compiled to BPF (crun's run.oci.seccomp_bpf_data):
 * the program is loaded into a forked child, which then tries the calls
 * the profile allows and refuses; the cache answers the same program for
 * the same capability set; the bundle carries it only when asked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/bundle.h"
#include "oci/oci-internal.h"

#define AF_VSOCK_ 40

/* Each check: a call and the errno it must fail with (0: must succeed;
 * -1: must not fail with EPERM, i.e. seccomp let it through). */
enum which {
    C_GETPID,
    C_MOUNT,
    C_UNSHARE,
    C_CLONE_NS,
    C_CLONE3,
    C_KEYCTL,
    C_BPF,
    C_SOCKET_UNIX,
    C_SOCKET_VSOCK,
    C_PERSONALITY_QUERY,
    C_PERSONALITY_OTHER,
    C_PROCESS_VM_READV,
    C_CHROOT,
};

static long call(enum which w)
{
    char buf[8];
    struct iovec local = {buf, sizeof(buf)}, remote = {buf, sizeof(buf)};
    switch (w) {
    case C_GETPID:
        return syscall(SYS_getpid);
    case C_MOUNT:
        return mount("none", "/nonexistent-skiff-seccomp-test", "tmpfs", 0, NULL);
    case C_UNSHARE:
        return unshare(CLONE_NEWNS);
    case C_CLONE_NS:
        /* Refused before it could fork. */
        return syscall(SYS_clone, (unsigned long)(CLONE_NEWUTS | SIGCHLD), 0, 0, 0, 0);
    case C_CLONE3:
        return syscall(SYS_clone3, NULL, 0);
    case C_KEYCTL:
        return syscall(SYS_keyctl, 0, 0, 0, 0, 0);
    case C_BPF:
        return syscall(SYS_bpf, 0, NULL, 0);
    case C_SOCKET_UNIX:
        return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    case C_SOCKET_VSOCK:
        return socket(AF_VSOCK_, SOCK_STREAM | SOCK_CLOEXEC, 0);
    case C_PERSONALITY_QUERY:
        return syscall(SYS_personality, 0xffffffffUL);
    case C_PERSONALITY_OTHER:
        return syscall(SYS_personality, (unsigned long)ADDR_NO_RANDOMIZE);
    case C_PROCESS_VM_READV:
        return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0);
    case C_CHROOT:
        return chroot("/");
    }
    return -1;
}

struct check {
    enum which w;
    const char *name;
    int expect; /* errno; 0 success; -1 anything but EPERM */
};

static const struct check default_checks[] = {
    {C_GETPID, "getpid", 0},
    {C_MOUNT, "mount", EPERM},
    {C_UNSHARE, "unshare", EPERM},
    {C_CLONE_NS, "clone(CLONE_NEWUTS)", EPERM},
    {C_CLONE3, "clone3", ENOSYS},
    {C_KEYCTL, "keyctl", EPERM},
    {C_BPF, "bpf", EPERM},
    {C_SOCKET_UNIX, "socket(AF_UNIX)", 0},
    {C_SOCKET_VSOCK, "socket(AF_VSOCK)", EPERM},
    {C_PERSONALITY_QUERY, "personality(0xffffffff)", 0},
    {C_PERSONALITY_OTHER, "personality(ADDR_NO_RANDOMIZE)", EPERM},
    {C_PROCESS_VM_READV, "process_vm_readv", EPERM},
    {C_CHROOT, "chroot", 0},
};

static const struct check ptrace_checks[] = {
    {C_PROCESS_VM_READV, "process_vm_readv", -1},
    {C_MOUNT, "mount", EPERM},
};

/* Loads the BPF in a child and runs the checks there; answers the index
 * of the first that failed plus one, 0 when all held. */
static int run_checks(const char *b64, const struct check *checks, size_t n)
{
    size_t len = strlen(b64);
    uint8_t *raw = xmalloc(len);
    int raw_len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    assert_true(raw_len > 0);
    /* EVP_DecodeBlock counts the padding as data. */
    while (len && b64[len - 1] == '=') {
        raw_len--;
        len--;
    }
    assert_int_equal(0, raw_len % sizeof(struct sock_filter));
    struct sock_fprog prog = {(unsigned short)(raw_len / sizeof(struct sock_filter)),
                              (struct sock_filter *)raw};
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            _exit(100);
        for (size_t i = 0; i < n; i++) {
            errno = 0;
            long r = call(checks[i].w);
            int e = r < 0 ? errno : 0;
            if (checks[i].expect == -1 ? e == EPERM : e != checks[i].expect)
                _exit((int)i + 1);
        }
        _exit(0);
    }
    free(raw);
    int status;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void expect_checks(uint64_t caps, const struct check *checks, size_t n)
{
    _cleanup_free_ char *b64 = NULL;
    assert_int_equal(0, oci_seccomp_bpf(caps, &b64));
    int r = run_checks(b64, checks, n);
    if (r == 100)
        fail_msg("the BPF program could not be loaded");
    if (r != 0)
        fail_msg("%s: not as the profile says", checks[r - 1].name);
}

static void test_default_set(void **state)
{
    (void)state;
    expect_checks(oci_caps_default(), default_checks, ARRAY_SIZE(default_checks));
}

static void test_sys_ptrace(void **state)
{
    (void)state;
    expect_checks(oci_caps_default() | OCI_CAP(CAP_SYS_PTRACE), ptrace_checks,
                  ARRAY_SIZE(ptrace_checks));
}

static void test_cache(void **state)
{
    (void)state;
    _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(0, oci_seccomp_bpf(oci_caps_default(), &a));
    assert_int_equal(0, oci_seccomp_bpf(oci_caps_default(), &b));
    assert_int_equal(0, oci_seccomp_bpf(oci_caps_default() & ~OCI_CAP(CAP_SYS_CHROOT), &c));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

static void test_bundle_annotation(void **state)
{
    (void)state;
    static const char *const args[] = {"/bin/true", NULL};
    static const struct oci_host host = {false, 1048576, 20000};
    struct oci_container_spec spec = {.id = "t1-web", .args = args};
    json_t *plain = oci_bundle_config(&spec, &host, NULL, NULL);
    assert_non_null(plain);
    assert_null(json_object_get(plain, "annotations"));
    assert_non_null(json_object_get(json_object_get(plain, "linux"), "seccomp"));
    json_decref(plain);

    spec.seccomp_bpf = true;
    json_t *c = oci_bundle_config(&spec, &host, NULL, NULL);
    const char *data = json_string_value(
        json_object_get(json_object_get(c, "annotations"), "run.oci.seccomp_bpf_data"));
    _cleanup_free_ char *b64 = NULL;
    assert_int_equal(0, oci_seccomp_bpf(oci_caps_default(), &b64));
    assert_non_null(data);
    assert_string_equal(b64, data);
    /* linux.seccomp stays, for runc and for readers of config.json. */
    assert_non_null(json_object_get(json_object_get(c, "linux"), "seccomp"));
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_set),
        cmocka_unit_test(test_sys_ptrace),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_bundle_annotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
