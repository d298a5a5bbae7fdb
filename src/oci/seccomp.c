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

#include <errno.h>
#include <linux/capability.h>
#include <stddef.h>
#include <string.h>

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
