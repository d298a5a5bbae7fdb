/* The default seccomp profile and capability set. The semantics are
 * Docker's default profile (moby profiles/seccomp): everything not listed is
 * refused with EPERM; the list is what ordinary programs need, and what a
 * container could use to attack the host or its neighbours is left out
 * (mount, umount2, unshare, setns, keyctl, add_key, request_key, bpf,
 * perf_event_open, kexec_*, *_module, reboot, swapon, io_uring_*,
 * userfaultfd, open_by_handle_at, clock_settime, ...). The lists below are
 * written for skiff, grouped by purpose; names unknown to the runtime's
 * libseccomp on a given architecture are skipped by the runtime. */
#include "oci/bundle.h"
#include "oci/oci-internal.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <linux/capability.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct {
    unsigned cap;
    const char *name;
} cap_names[] = {
    {CAP_CHOWN, "CAP_CHOWN"},
    {CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"},
    {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"},
    {CAP_FOWNER, "CAP_FOWNER"},
    {CAP_FSETID, "CAP_FSETID"},
    {CAP_KILL, "CAP_KILL"},
    {CAP_SETGID, "CAP_SETGID"},
    {CAP_SETUID, "CAP_SETUID"},
    {CAP_SETPCAP, "CAP_SETPCAP"},
    {CAP_LINUX_IMMUTABLE, "CAP_LINUX_IMMUTABLE"},
    {CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
    {CAP_NET_BROADCAST, "CAP_NET_BROADCAST"},
    {CAP_NET_ADMIN, "CAP_NET_ADMIN"},
    {CAP_NET_RAW, "CAP_NET_RAW"},
    {CAP_IPC_LOCK, "CAP_IPC_LOCK"},
    {CAP_IPC_OWNER, "CAP_IPC_OWNER"},
    {CAP_SYS_MODULE, "CAP_SYS_MODULE"},
    {CAP_SYS_RAWIO, "CAP_SYS_RAWIO"},
    {CAP_SYS_CHROOT, "CAP_SYS_CHROOT"},
    {CAP_SYS_PTRACE, "CAP_SYS_PTRACE"},
    {CAP_SYS_PACCT, "CAP_SYS_PACCT"},
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
    {CAP_SYS_BOOT, "CAP_SYS_BOOT"},
    {CAP_SYS_NICE, "CAP_SYS_NICE"},
    {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"},
    {CAP_SYS_TIME, "CAP_SYS_TIME"},
    {CAP_SYS_TTY_CONFIG, "CAP_SYS_TTY_CONFIG"},
    {CAP_MKNOD, "CAP_MKNOD"},
    {CAP_LEASE, "CAP_LEASE"},
    {CAP_AUDIT_WRITE, "CAP_AUDIT_WRITE"},
    {CAP_AUDIT_CONTROL, "CAP_AUDIT_CONTROL"},
    {CAP_SETFCAP, "CAP_SETFCAP"},
};

uint64_t oci_caps_default(void)
{
    return OCI_CAP(CAP_CHOWN) | OCI_CAP(CAP_DAC_OVERRIDE) | OCI_CAP(CAP_FSETID) |
           OCI_CAP(CAP_FOWNER) | OCI_CAP(CAP_MKNOD) | OCI_CAP(CAP_NET_RAW) | OCI_CAP(CAP_SETGID) |
           OCI_CAP(CAP_SETUID) | OCI_CAP(CAP_SETFCAP) | OCI_CAP(CAP_SETPCAP) |
           OCI_CAP(CAP_NET_BIND_SERVICE) | OCI_CAP(CAP_SYS_CHROOT) | OCI_CAP(CAP_KILL) |
           OCI_CAP(CAP_AUDIT_WRITE);
}

const char *oci_cap_name(unsigned cap)
{
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (cap_names[i].cap == cap)
            return cap_names[i].name;
    return NULL;
}

int oci_cap_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strncmp(name, "CAP_", 4) == 0)
        name += 4;
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
        if (strcmp(cap_names[i].name + 4, name) == 0)
            return (int)cap_names[i].cap;
    return -1;
}

/* Files, directories, descriptors and I/O. */
static const char *const sys_files[] = {
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "ioctl",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pipe",
    "pipe2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "setxattr",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    /* asynchronous I/O, multiplexing and event fds */
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "_newselect",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    NULL,
};

/* Memory. */
static const char *const sys_memory[] = {
    "brk",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
    NULL,
};

/* Processes, threads, signals, credentials, scheduling, limits, time. */
static const char *const sys_process[] = {
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "vfork",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "get_robust_list",
    "set_robust_list",
    "get_thread_area",
    "set_thread_area",
    "set_tid_address",
    "getcpu",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "getuid",
    "getuid32",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "restart_syscall",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setuid",
    "setuid32",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
    "tgkill",
    "tkill",
    "ugetrlimit",
    "wait4",
    "waitid",
    "waitpid",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    /* ptrace of one's own processes (the kernel's rules still apply;
     * Docker allows it from Linux 4.8, whose ptrace respects seccomp) */
    "ptrace",
    /* time and system information */
    "alarm",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "adjtimex",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "pause",
    "setitimer",
    "sysinfo",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "times",
    "uname",
    "cachestat",
    NULL,
};

/* Sockets (socket itself has its own rule) and System V / POSIX IPC. */
static const char *const sys_ipc[] = {
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
    "ipc",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    NULL,
};

#if defined(__x86_64__) || defined(__i386__)
static const char *const sys_arch[] = {"arch_prctl", "modify_ldt", NULL};
static const char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};
#elif defined(__aarch64__) || defined(__arm__)
static const char *const sys_arch[] = {"arm_fadvise64_64",
                                       "arm_sync_file_range",
                                       "sync_file_range2",
                                       "breakpoint",
                                       "cacheflush",
                                       "set_tls",
                                       NULL};
static const char *const arches[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL};
#else
static const char *const sys_arch[] = {NULL};
static const char *const arches[] = {NULL};
#endif

/* Groups a capability unlocks. Only capabilities skiff can grant appear:
 * SYS_CHROOT is in the default set, SYS_PTRACE is the one a task may add. */
static const char *const sys_chroot[] = {"chroot", NULL};
static const char *const sys_ptrace[] = {
    "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", NULL};

static const struct {
    unsigned cap;
    const char *const *names;
} cap_groups[] = {
    {CAP_SYS_CHROOT, sys_chroot},
    {CAP_SYS_PTRACE, sys_ptrace},
};

/* personality(2) values programs use: PER_LINUX, PER_LINUX32,
 * UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query). */
static const json_int_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

/* CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET */
#define CLONE_NS_FLAGS 0x7E020000
#define AF_VSOCK_      40

static json_t *names_array(const char *const *names)
{
    json_t *a = json_array();
    for (size_t i = 0; names[i]; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

static json_t *rule(const char *const *names, const char *action)
{
    return json_pack("{s:o, s:s}", "names", names_array(names), "action", action);
}

static json_t *arg_rule(const char *name, unsigned index, json_int_t value, json_int_t value2,
                        const char *op)
{
    const char *names[] = {name, NULL};
    json_t *r = rule(names, "SCMP_ACT_ALLOW");
    json_t *arg = json_pack("{s:i, s:I, s:s}", "index", (int)index, "value", value, "op", op);
    if (value2)
        json_object_set_new(arg, "valueTwo", json_integer(value2));
    json_object_set_new(r, "args", json_pack("[o]", arg));
    return r;
}

json_t *oci_seccomp_profile(uint64_t caps)
{
    json_t *calls = json_array();
    const char *const *base[] = {sys_files, sys_memory, sys_process, sys_ipc, sys_arch};
    json_t *allowed = json_array();
    for (size_t g = 0; g < ARRAY_SIZE(base); g++)
        for (size_t i = 0; base[g][i]; i++)
            json_array_append_new(allowed, json_string(base[g][i]));
    for (size_t g = 0; g < ARRAY_SIZE(cap_groups); g++)
        if (caps & OCI_CAP(cap_groups[g].cap))
            for (size_t i = 0; cap_groups[g].names[i]; i++)
                json_array_append_new(allowed, json_string(cap_groups[g].names[i]));
    json_array_append_new(calls,
                          json_pack("{s:o, s:s}", "names", allowed, "action", "SCMP_ACT_ALLOW"));

    /* socket: any family but AF_VSOCK (host/guest channels). */
    json_array_append_new(calls, arg_rule("socket", 0, AF_VSOCK_, 0, "SCMP_CMP_NE"));
    for (size_t i = 0; i < ARRAY_SIZE(personalities); i++)
        json_array_append_new(calls,
                              arg_rule("personality", 0, personalities[i], 0, "SCMP_CMP_EQ"));
    if (!(caps & OCI_CAP(CAP_SYS_ADMIN))) {
        /* clone without namespace flags; s390 swaps the first two args. */
#if defined(__s390__) || defined(__s390x__)
        unsigned flags_arg = 1;
#else
        unsigned flags_arg = 0;
#endif
        json_array_append_new(
            calls, arg_rule("clone", flags_arg, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ"));
        /* clone3 passes its flags in memory, out of seccomp's sight: make
         * it look unimplemented so that libcs fall back to clone. */
        const char *clone3[] = {"clone3", NULL};
        json_t *r = rule(clone3, "SCMP_ACT_ERRNO");
        json_object_set_new(r, "errnoRet", json_integer(ENOSYS));
        json_array_append_new(calls, r);
    }

    json_t *profile =
        json_pack("{s:s, s:i, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet",
                  EPERM, "architectures", names_array(arches), "syscalls", calls);
    return profile;
}

/* ---- the profile compiled to BPF, once per capability set ---- */

static const struct {
    const char *name;
    enum scmp_compare op;
} cmp_ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static int rule_action(const json_t *r, uint32_t *ret)
{
    const char *a = json_string_value(json_object_get(r, "action"));
    if (a && strcmp(a, "SCMP_ACT_ALLOW") == 0) {
        *ret = SCMP_ACT_ALLOW;
        return 0;
    }
    if (a && strcmp(a, "SCMP_ACT_ERRNO") == 0) {
        json_t *e = json_object_get(r, "errnoRet");
        *ret = SCMP_ACT_ERRNO(e ? (uint16_t)json_integer_value(e) : EPERM);
        return 0;
    }
    return -EINVAL;
}

/* The comparisons of one rule; answers their number or -EINVAL. */
static int rule_args(const json_t *r, struct scmp_arg_cmp *cmps, size_t max)
{
    json_t *args = json_object_get(r, "args");
    size_t n = json_array_size(args);
    if (n > max)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(args, i);
        const char *op = json_string_value(json_object_get(a, "op"));
        size_t k = 0;
        while (k < ARRAY_SIZE(cmp_ops) && (!op || strcmp(op, cmp_ops[k].name) != 0))
            k++;
        if (k == ARRAY_SIZE(cmp_ops))
            return -EINVAL;
        cmps[i] = (struct scmp_arg_cmp){
            .arg = (unsigned)json_integer_value(json_object_get(a, "index")),
            .op = cmp_ops[k].op,
            .datum_a = (scmp_datum_t)json_integer_value(json_object_get(a, "value")),
            .datum_b = (scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo")),
        };
    }
    return (int)n;
}

/* libseccomp exports to a file descriptor: a memfd, read back. */
static int export_bpf(scmp_filter_ctx ctx, void **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = memfd_create("skiff-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return r;
    off_t len = lseek(fd, 0, SEEK_CUR);
    if (len <= 0)
        return -EIO;
    uint8_t *p = xmalloc((size_t)len);
    if (pread(fd, p, (size_t)len, 0) != len) {
        free(p);
        return -EIO;
    }
    *ret = p;
    *ret_len = (size_t)len;
    return 0;
}

/* Compiles a profile the way crun compiles linux.seccomp (libseccomp, the
 * same library crun links): default action, the listed architectures, one
 * rule per name (names this libseccomp does not know are skipped, as crun
 * skips them), comparisons ANDed within a rule. */
static int compile(const json_t *profile, void **ret, size_t *ret_len)
{
    json_t *d = json_object_get(profile, "defaultErrnoRet");
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(d ? (uint16_t)json_integer_value(d) : EPERM));
    if (!ctx)
        return -ENOMEM;
    int r = 0;
    size_t i, j;
    json_t *v, *name;
    json_array_foreach(json_object_get(profile, "architectures"), i, v)
    {
        uint32_t arch = 0;
        const char *a = json_string_value(v);
        if (a && strcmp(a, "SCMP_ARCH_X86_64") == 0)
            arch = SCMP_ARCH_X86_64;
        else if (a && strcmp(a, "SCMP_ARCH_X86") == 0)
            arch = SCMP_ARCH_X86;
        else if (a && strcmp(a, "SCMP_ARCH_X32") == 0)
            arch = SCMP_ARCH_X32;
        else if (a && strcmp(a, "SCMP_ARCH_AARCH64") == 0)
            arch = SCMP_ARCH_AARCH64;
        else if (a && strcmp(a, "SCMP_ARCH_ARM") == 0)
            arch = SCMP_ARCH_ARM;
        if (!arch) {
            r = -EINVAL;
            goto out;
        }
        if ((r = seccomp_arch_add(ctx, arch)) < 0 && r != -EEXIST)
            goto out;
        r = 0;
    }
    json_array_foreach(json_object_get(profile, "syscalls"), i, v)
    {
        uint32_t action;
        struct scmp_arg_cmp cmps[6];
        int n = rule_args(v, cmps, ARRAY_SIZE(cmps));
        if (rule_action(v, &action) < 0 || n < 0) {
            r = -EINVAL;
            goto out;
        }
        json_array_foreach(json_object_get(v, "names"), j, name)
        {
            int nr = seccomp_syscall_resolve_name(json_string_value(name));
            if (nr == __NR_SCMP_ERROR)
                continue;
            if ((r = seccomp_rule_add_array(ctx, action, nr, (unsigned)n, cmps)) < 0)
                goto out;
        }
    }
    r = export_bpf(ctx, ret, ret_len);
out:
    seccomp_release(ctx);
    return r;
}

/* A handful of capability sets occur (the default, minus drops, plus
 * SYS_PTRACE); each is compiled once per process. */
#define BPF_CACHE_MAX 16
static pthread_mutex_t bpf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t caps;
    char *b64;
} bpf_cache[BPF_CACHE_MAX];
static size_t bpf_cached;

int oci_seccomp_bpf(uint64_t caps, char **ret)
{
    pthread_mutex_lock(&bpf_lock);
    for (size_t i = 0; i < bpf_cached; i++)
        if (bpf_cache[i].caps == caps) {
            *ret = xstrdup(bpf_cache[i].b64);
            pthread_mutex_unlock(&bpf_lock);
            return 0;
        }
    pthread_mutex_unlock(&bpf_lock);

    json_t *profile = oci_seccomp_profile(caps);
    void *bpf = NULL;
    size_t len = 0;
    int r = compile(profile, &bpf, &len);
    json_decref(profile);
    if (r < 0)
        return r;
    char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, bpf, (int)len);
    free(bpf);

    pthread_mutex_lock(&bpf_lock);
    if (bpf_cached < BPF_CACHE_MAX) {
        bpf_cache[bpf_cached].caps = caps;
        bpf_cache[bpf_cached].b64 = xstrdup(b64);
        bpf_cached++;
    }
    pthread_mutex_unlock(&bpf_lock);
    *ret = b64;
    return 0;
}
