"""The container runtime layer (src/oci) with real containers, as root, on
this host: conmon + crun (runc for one test), skiff's own cgroups, a network
namespace per task, an overlay rootfs of a busybox lower dir. Driven through
build/src/oci/oci-tool, which prints JSON.

Every test removes what it creates; test_zz_no_leftovers then checks that
nothing of this session remains: mounts, cgroups, namespaces, processes."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SKIFF_BUILD", "build"))
TOOL = os.path.join(BUILD, "src", "oci", "oci-tool")
SCHEMA_DIR = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema"
CGROUP_PARENT = "/skiff-e2e-%d" % os.getpid()

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

# A static probe run as a container's PID 1: what it may and may not do.
PROBE_C = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>

static void report(const char *what, long r)
{
    printf("%s=%s\n", what, r < 0 ? strerrorname_np(errno) : "ok");
}

int main(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "NoNewPrivs:", 11) ||
            !strncmp(line, "Seccomp:", 8)) {
            char *v = line + strcspn(line, ":") + 1;
            v += strspn(v, " \t");
            line[strcspn(line, ":")] = 0;
            printf("%s=%s", line, v);
        }
    if (f)
        fclose(f);
    /* descriptors open in PID 1, without the one reading the directory */
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    printf("fds=");
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
            printf("%s,", de->d_name);
    printf("\n");
    if (d)
        closedir(d);
    printf("pid=%d\n", getpid());
    report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("unshare_mnt", unshare(CLONE_NEWNS));
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("unshare_net", unshare(CLONE_NEWNET));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("add_key", syscall(SYS_add_key, "user", "k", "v", 1, KEY_SPEC_PROCESS_KEYRING));
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
    report("ptrace_attach", syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0));
    report("chroot", chroot("/"));
    int fd = open("/proc/sys/kernel/hostname", O_WRONLY);
    report("write_proc_sys", fd < 0 ? -1 : write(fd, "x", 1));
    /* masked paths read as empty (where this kernel has them at all) */
    const char *masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list"};
    for (int i = 0; i < 3; i++) {
        char buf[64];
        fd = open(masked[i], O_RDONLY);
        long n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
        if (n < 0)
            printf("read:%s=%s\n", masked[i], strerrorname_np(errno));
        else
            printf("read:%s=%ld\n", masked[i], n);
    }
    report("mknod_null", mknod("/tmp/null2", 020666, makedev(1, 3)));
    fd = open("/dev/null", O_WRONLY);
    report("open_dev_null", fd);
    return 0;
}
"""


def tool(*args, check=True, timeout=120, run_dir=None, runtime=None):
    cmd = [TOOL, "-R", run_dir or RUN_DIR, "-P", CGROUP_PARENT]
    if runtime:
        cmd += ["-r", runtime]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("oci-tool %s failed: %s" % (" ".join(args), p.stderr))
    if p.returncode != 0:
        return None
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "{}"
    return json.loads(line)


RUN_DIR = None


@pytest.fixture(scope="module", autouse=True)
def run_dir():
    """A short run dir (conmon's socket paths must fit in 108 bytes)."""
    global RUN_DIR
    if not os.path.exists(TOOL):
        pytest.fail("%s not built" % TOOL)
    RUN_DIR = tempfile.mkdtemp(prefix="sko-", dir="/tmp")
    yield RUN_DIR
    # Namespace files a failed test left mounted would keep rmtree out.
    with open("/proc/self/mountinfo") as f:
        for line in f.read().splitlines():
            if line.split()[4].startswith(RUN_DIR + "/"):
                subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    for d in glob.glob("/sys/fs/cgroup/*%s" % CGROUP_PARENT) + \
            glob.glob("/sys/fs/cgroup/*/*%s" % CGROUP_PARENT):
        subprocess.run(["find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"],
                       capture_output=True)


@pytest.fixture(scope="module")
def lower(run_dir):
    """A read-only lower dir: static busybox with its applets as relative
    symlinks, and the isolation probe."""
    d = tempfile.mkdtemp(prefix="skiff-lower-")
    os.makedirs(os.path.join(d, "bin"))
    for sub in ("etc", "tmp", "proc", "sys", "dev"):
        os.makedirs(os.path.join(d, sub))
    shutil.copy("/bin/busybox", os.path.join(d, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(d, "bin", a))
    src = os.path.join(d, "probe.c")
    with open(src, "w") as f:
        f.write(PROBE_C)
    subprocess.run(["cc", "-static", "-O2", "-o", os.path.join(d, "bin", "probe"), src],
                   check=True)
    os.unlink(src)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Task:
    """A task: network namespace + task cgroup, and its containers."""

    counter = 0

    def __init__(self, lower, cpu=None, memory=None, pids=None, runtime=None):
        Task.counter += 1
        self.name = "t%d-%d" % (os.getpid(), Task.counter)
        self.lower = lower
        self.runtime = runtime
        self.containers = []
        args = ["task-create", self.name]
        if cpu:
            args += ["--cpu", str(cpu)]
        if memory:
            args += ["--memory", str(memory)]
        if pids:
            args += ["--pids", str(pids)]
        try:
            self.info = tool(*args)
        except AssertionError:
            tool("task-delete", self.name, check=False)
            raise

    def dir(self, ctr):
        return os.path.join(RUN_DIR, "tasks", self.name, ctr)

    def run(self, ctr, cmd, *opts, start=True):
        self.containers.append(ctr)
        out = tool("run" if start else "create", self.name, ctr, self.dir(ctr),
                   "--lower", self.lower, *opts, "--", *cmd, runtime=self.runtime)
        return out

    def status(self, ctr):
        return tool("status", self.dir(ctr), self.name, ctr, runtime=self.runtime)

    def wait(self, ctr, timeout_ms=30000):
        return tool("wait", self.dir(ctr), "--timeout", str(timeout_ms), runtime=self.runtime)

    def stop(self, ctr, timeout_ms=10000):
        return tool("stop", self.dir(ctr), "--timeout", str(timeout_ms), runtime=self.runtime)

    def log(self, ctr):
        with open(os.path.join(self.dir(ctr), "ctr.log")) as f:
            return f.read()

    def delete(self, ctr):
        tool("delete", self.dir(ctr), self.name, ctr, "--force", runtime=self.runtime)
        self.containers.remove(ctr)

    def close(self):
        for c in list(self.containers):
            if os.path.exists(os.path.join(self.dir(c), "state.json")):
                tool("delete", self.dir(c), self.name, c, "--force", check=False,
                     runtime=self.runtime)
            self.containers.remove(c)
        tool("task-delete", self.name)


@pytest.fixture
def make_task(lower):
    tasks = []

    def make(**kw):
        t = Task(lower, **kw)
        tasks.append(t)
        return t

    yield make
    for t in tasks:
        t.close()


def pid_alive(pid):
    """Running, not a zombie waiting for its reaper."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d (stdout|stderr) [FP] ")


def test_echo_exits_zero_with_output_captured(make_task):
    t = make_task(cpu=256, memory=128, pids=64)
    out = t.run("echo", ["/bin/sh", "-c", "echo hello from skiff; echo to stderr >&2"])
    assert out["pid"] > 0 and out["monitor_pid"] > 0
    t.wait("echo")
    st = t.status("echo")
    assert st["state"] == "exited" and st["exit_code"] == 0, st
    assert st["exited_ms"] >= st["started_ms"] >= st["created_ms"] > 0
    lines = t.log("echo").splitlines()
    assert any(l.endswith("stdout F hello from skiff") for l in lines), lines
    assert any(l.endswith("stderr F to stderr") for l in lines), lines
    assert all(LOG_LINE.match(l) for l in lines), lines
    # The Fargate nofile default was clamped to the host's limit, and said so.
    assert "clamped" in out["warnings"]


def test_exit_code_and_environment(make_task):
    t = make_task()
    t.run("c", ["/bin/sh", "-c", 'echo "$GREETING $(hostname) $(pwd)"; ulimit -n; exit 3'],
          "--env", "GREETING=hi", "--hostname", "web", "--cwd", "/tmp")
    t.wait("c")
    assert t.status("c")["exit_code"] == 3
    log = t.log("c")
    assert "stdout F hi web /tmp" in log
    hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True,
                              text=True).stdout)
    assert "stdout F %d" % min(65535, hard) in log


def test_long_running_survives_launcher_and_stops_on_sigterm(make_task, lower):
    t = make_task()
    d = t.dir("svc")
    t.containers.append("svc")
    # Launch from a shell in its own process group, then kill the whole
    # group with SIGKILL: the container's parent is conmon, not the launcher.
    script = "%s -R %s -P %s run %s svc %s --lower %s -- /bin/sh -c %s; exec sleep 1000" % (
        TOOL, RUN_DIR, CGROUP_PARENT, t.name, d, lower,
        "'trap \"echo got TERM; exit 0\" TERM; echo up; while :; do sleep 0.1; done'")
    launcher = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE,
                                start_new_session=True, text=True)
    info = json.loads(launcher.stdout.readline())
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()
    launcher.stdout.close()
    time.sleep(0.5)
    st = t.status("svc")
    assert st["state"] == "running" and st["pid"] == info["pid"]
    assert pid_alive(info["pid"]) and pid_alive(info["monitor_pid"])
    # conmon is not in the launcher's session, and it is the container's parent.
    with open("/proc/%d/stat" % info["pid"]) as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    assert ppid == info["monitor_pid"]
    out = t.stop("svc", 10000)
    assert out["stop_ms"] < 8000
    st = t.status("svc")
    assert st["state"] == "exited" and st["exit_code"] == 0
    assert "stdout F got TERM" in t.log("svc")
    assert not pid_alive(info["monitor_pid"])


def test_exit_and_logs_recorded_with_nobody_watching(make_task):
    """The launcher is gone as soon as `run` returns; while no process of
    skiff's runs, the container writes logs and exits. A fresh process then
    reads the real exit code and the logs (what a restarted skiffd does)."""
    t = make_task()
    first = t.run("c", ["/bin/sh", "-c", "sleep 1; echo late line; exit 42"])
    time.sleep(1.5)
    # Each look is a fresh process: still nobody watching in between.
    deadline = time.time() + 30
    while (st := t.status("c"))["state"] != "exited" and time.time() < deadline:
        time.sleep(0.2)
    assert st["state"] == "exited" and st["exit_code"] == 42 and st["pid"] == first["pid"]
    assert "stdout F late line" in t.log("c")
    assert st["exited_ms"] - st["started_ms"] >= 900


def test_sigterm_ignored_gets_sigkill_after_timeout(make_task):
    t = make_task(memory=64)
    # sleep as PID 1 has no SIGTERM handler, so SIGTERM is ignored.
    t.run("stubborn", ["/bin/sleep", "1000"])
    t0 = time.time()
    t.stop("stubborn", 1500)
    took = time.time() - t0
    assert 1.4 <= took < 6, took
    st = tool("status", t.dir("stubborn"), t.name, "stubborn")
    assert st["state"] == "exited" and st["exit_code"] == 137
    assert st["usage"]["oom_kills"] == 0


def test_memory_limit_oom_detected(make_task):
    t = make_task(memory=128)
    # dd's 256 MiB buffer is touched by the read into it: far past 128 MiB.
    t.run("hog", ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"])
    t.wait("hog", 30000)
    st = t.status("hog")
    assert st["exit_code"] == 137, st
    assert st["usage"]["oom_kills"] >= 1, st
    assert st["usage"]["memory_peak"] <= 128 << 20
    task_usage = tool("usage", t.name)["usage"]
    assert task_usage["oom_kills"] >= 1


def test_neighbour_unaffected_by_oom(make_task):
    a = make_task(memory=64)
    b = make_task(memory=64)
    b.run("calm", ["/bin/sh", "-c", "sleep 2; echo still here"])
    a.run("hog", ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"])
    a.wait("hog")
    b.wait("calm")
    assert a.status("hog")["exit_code"] == 137
    sb = b.status("calm")
    assert sb["exit_code"] == 0 and sb["usage"]["oom_kills"] == 0
    assert "still here" in b.log("calm")


def test_cpu_quota_quarter_core(make_task):
    t = make_task(cpu=256)
    t.run("busy", ["/bin/sh", "-c", "while :; do :; done & while :; do :; done"])
    time.sleep(0.5)
    u0 = tool("usage", t.name)["usage"]["cpu_ns"]
    t0 = time.monotonic()
    time.sleep(4)
    u1 = tool("usage", t.name)["usage"]["cpu_ns"]
    share = (u1 - u0) / 1e9 / (time.monotonic() - t0)
    assert share <= 0.30, share
    # Busy, and held back by the quota (not merely starved by a loaded host).
    assert share > 0.05, share
    stat = [d + "/cpu.stat" for d in ("/sys/fs/cgroup/cpu%s/%s" % (CGROUP_PARENT, t.name),
                                      "/sys/fs/cgroup%s/%s" % (CGROUP_PARENT, t.name))
            if os.path.exists(d + "/cpu.stat")][0]
    with open(stat) as f:
        fields = dict(l.split() for l in f.read().splitlines())
    # At least once: on a host loaded by other work the task may get less
    # than its quota in most periods (6 of ~45 seen under parallel ASan runs).
    assert int(fields["nr_throttled"]) > 0, fields
    t.stop("busy", 2000)


def test_pids_limit_stops_fork_bomb(make_task):
    t = make_task(pids=32, memory=256)
    # PID 1 forks once, for the bomb, then waits on a fifo with a builtin
    # (no fork of its own to be refused) and exits when the test writes a
    # line to it, or after 60 s.
    t.run("bomb", ["/bin/sh", "-c",
                   "mkfifo /tmp/p; exec 3<>/tmp/p;"
                   " (f() { f | f & }; f) 2>/dev/null &"
                   " read -t 60 x <&3; echo survived"])
    time.sleep(1.5)
    st = t.status("bomb")
    assert st["state"] == "running"
    # Bomb processes die when their forks are refused and others take their
    # place: the count hovers at the limit, never above.
    samples = [tool("usage", t.name)["usage"]["pids_current"] for _ in range(5)]
    assert max(samples) <= 32 and max(samples) >= 24, samples
    # Forks were refused (v1 counts that in the forking cgroup, v2 in the
    # limiting one: sum the task's tree), and the count never passed 32.
    task_dir = [d for d in ("/sys/fs/cgroup/pids%s/%s" % (CGROUP_PARENT, t.name),
                            "/sys/fs/cgroup%s/%s" % (CGROUP_PARENT, t.name))
                if os.path.isdir(d)][0]
    refused = 0
    for ev in glob.glob(task_dir + "/pids.events") + glob.glob(task_dir + "/*/pids.events"):
        with open(ev) as f:
            refused += int(f.read().split("max ")[1].split()[0])
    assert refused > 0
    if os.path.exists(task_dir + "/pids.peak"):
        with open(task_dir + "/pids.peak") as f:
            assert int(f.read()) == 32
    # The host still forks.
    assert subprocess.run(["true"]).returncode == 0
    # Through PID 1's root (the overlay's fifo, not the upper dir's).
    fd = os.open("/proc/%d/root/tmp/p" % st["pid"], os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b"done\n")
    os.close(fd)
    t.wait("bomb", 30000)
    st = t.status("bomb")
    assert st["exit_code"] == 0 and "stdout F survived" in t.log("bomb")
    # PID 1's exit took the whole bomb with it.
    assert tool("usage", t.name)["usage"]["pids_current"] == 0


def test_isolation_probes(make_task):
    t = make_task()
    t.run("probe", ["/bin/probe"])
    t.wait("probe")
    assert t.status("probe")["exit_code"] == 0
    res = {}
    for line in t.log("probe").splitlines():
        body = line.split(" ", 3)[3]
        if "=" in body:
            k, v = body.split("=", 1)
            res[k] = v.strip()
    assert res["CapEff"] == "00000000a80425fb"
    assert res["NoNewPrivs"] == "1"
    assert res["Seccomp"] == "2"
    assert res["fds"] == "0,1,2,"
    assert res["pid"] == "1"
    for call in ("mount", "unshare_mnt", "unshare_user", "unshare_net", "keyctl", "add_key",
                 "bpf"):
        assert res[call] == "EPERM", (call, res[call])
    assert res["write_proc_sys"] in ("EROFS", "EACCES"), res["write_proc_sys"]
    # /proc/kcore is empty: masked where the kernel has it (this one has
    # none); the other masked files that exist read as empty too.
    assert res["read:/proc/kcore"] in ("0", "ENOENT")
    assert res["read:/proc/keys"] == "0" and res["read:/proc/timer_list"] == "0"
    with open("/proc/timer_list", "rb") as f:
        assert f.read(64)  # not empty outside the container
    # Allowed by the default profile and capabilities:
    assert res["chroot"] == "ok"
    assert res["mknod_null"] == "ok"
    assert res["open_dev_null"] == "ok"
    # ptrace is allowed by seccomp, but PID 1 cannot attach to itself.
    assert res["ptrace_attach"] == "EPERM"


def test_exec_in_running_container(make_task):
    """What health checks use: a command inside the container, with its
    confinement, its exit code and output, and a timeout that kills it."""
    t = make_task(pids=64)
    t.run("svc", ["/bin/sleep", "1000"], "--env", "ROLE=web")
    d = t.dir("svc")
    out = tool("exec", d, "--", "/bin/sh", "-c",
               "echo $ROLE; grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status")
    assert out["exit_code"] == 0 and not out["timed_out"], out
    assert out["output"].startswith("web\n")
    assert "00000000a80425fb" in out["output"] and "NoNewPrivs:\t1" in out["output"]
    assert "Seccomp:\t2" in out["output"]
    assert tool("exec", d, "--", "/bin/sh", "-c", "exit 3")["exit_code"] == 3
    t0 = time.time()
    out = tool("exec", d, "--timeout", "700", "--", "/bin/sleep", "30")
    assert out["timed_out"] and time.time() - t0 < 5, out
    # The timed-out process is gone (its exit is reaped a moment later on
    # a busy host): only the container's init remains.
    deadline = time.time() + 5
    while t.status("svc")["usage"]["pids_current"] != 1 and time.time() < deadline:
        time.sleep(0.1)
    assert t.status("svc")["usage"]["pids_current"] == 1
    assert t.status("svc")["state"] == "running"
    t.stop("svc", 500)
    # No exec into a container that is gone.
    assert tool("exec", d, "--", "/bin/true")["exit_code"] != 0


def test_sys_ptrace_added(make_task):
    t = make_task()
    t.run("probe", ["/bin/sh", "-c", "grep CapEff /proc/self/status"], "--ptrace")
    t.wait("probe")
    cap = int(t.log("probe").split()[-1], 16)
    assert cap == 0xa80425fb | (1 << 19)


def test_readonly_rootfs_and_writable_upper(make_task):
    t = make_task()
    t.run("ro", ["/bin/sh", "-c", "touch /x && echo WROTE; touch /tmp/y && echo TMP"],
          "--readonly")
    t.run("rw", ["/bin/sh", "-c", "echo data > /x && cat /x"])
    t.wait("ro")
    t.wait("rw")
    assert "WROTE" not in t.log("ro") and "Read-only file system" in t.log("ro")
    assert "stdout F data" in t.log("rw")
    # The write went to the container's upper dir, not to the shared layer.
    assert os.path.exists(os.path.join(t.dir("rw"), "upper", "x"))
    assert not os.path.exists(os.path.join(t.lower, "x"))


def test_containers_of_a_task_share_localhost(make_task):
    t = make_task()
    t.run("server", ["/bin/sh", "-c", "echo pong | nc -l -p 8080"])
    # Until the server listens, a connection is refused: try again.
    t.run("client", ["/bin/sh", "-c", "for i in $(seq 100); do "
                     "nc 127.0.0.1 8080 </dev/null && break; sleep 0.1; done"])
    t.wait("client", 10000)
    t.wait("server", 10000)
    assert "stdout F pong" in t.log("client")
    other = make_task()
    other.run("c", ["/bin/sh", "-c", "ip -o link | wc -l; ip -o addr show lo | head -1"])
    other.wait("c")
    log = other.log("c")
    assert "stdout F 1" in log  # only loopback
    assert "127.0.0.1" in log


def test_init_process(make_task):
    t = make_task()
    t.run("i", ["/bin/sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$"], "--init")
    t.wait("i")
    log = t.log("i")
    assert re.search(r"stdout [PF] /dev/init -- /bin/sh", log), log
    assert "stdout F 2" in log


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_create_failure_reports_and_leaves_nothing(make_task, runtime):
    t = make_task(runtime=runtime)
    d = t.dir("bad")
    p = subprocess.run([TOOL, "-R", RUN_DIR, "-P", CGROUP_PARENT, "-r", runtime, "run", t.name,
                        "bad", d, "--lower", t.lower, "--", "/no/such/binary"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "%s create failed" % runtime in p.stderr and "/no/such/binary" in p.stderr
    assert not os.path.exists(d)
    assert os.listdir(os.path.join(RUN_DIR, runtime)) == []


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_monitor_started_ahead(make_task, runtime):
    """The agent's start path: conmon started before the bundle exists waits
    on its start pipe, forking nothing; the rootfs is then mounted in its
    namespace and the container runs as any other. A failed create still
    leaves nothing behind."""
    t = make_task(runtime=runtime)
    out = t.run("c", ["/bin/sh", "-c", "echo early bird; test -x /bin/sh"], "--ahead", "300")
    assert out["ahead_waiting"] is True, out
    t.wait("c")
    st = t.status("c")
    assert st["state"] == "exited" and st["exit_code"] == 0, st
    assert any(l.endswith("stdout F early bird") for l in t.log("c").splitlines())
    d = t.dir("bad")
    p = subprocess.run([TOOL, "-R", RUN_DIR, "-P", CGROUP_PARENT, "-r", runtime, "run", t.name,
                        "bad", d, "--ahead", "50", "--lower", t.lower, "--", "/no/such/binary"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "%s create failed" % runtime in p.stderr and "/no/such/binary" in p.stderr
    assert not os.path.exists(d)
    assert [c for c in os.listdir(os.path.join(RUN_DIR, runtime)) if "bad" in c] == []


def test_task_netns_not_pinned_by_other_tasks(make_task):
    """A monitor's mount namespace is a copy of the host's taken when the
    container starts, netns bind mounts of other tasks included. Removing a
    task's namespace file detaches those copies too (the kernel does so for
    an unlinked mount point), so the namespace is freed."""
    a = make_task()
    b = make_task()
    path_a = os.path.join(RUN_DIR, "netns", a.name)
    b.run("long", ["/bin/sleep", "1000"])
    monitor = b.status("long")["monitor_pid"]
    with open("/proc/%d/mountinfo" % monitor) as f:
        assert path_a in f.read()
    tool("task-delete", a.name)
    with open("/proc/%d/mountinfo" % monitor) as f:
        assert path_a not in f.read()
    b.stop("long", 500)


def test_runc_selectable(make_task):
    t = make_task(runtime="runc", memory=64)
    t.run("r", ["/bin/sh", "-c", "echo via runc; grep Seccomp: /proc/self/status"])
    t.wait("r")
    st = t.status("r")
    assert st["exit_code"] == 0, t.log("r")
    log = t.log("r")
    assert "stdout F via runc" in log and "Seccomp:\t2" in log


def _validate_schema(config):
    try:
        import jsonschema
    except ImportError:
        return False
    if not os.path.isdir(SCHEMA_DIR):
        return False
    with open(os.path.join(SCHEMA_DIR, "config-schema.json")) as f:
        schema = json.load(f)
    resolver = jsonschema.RefResolver("file://%s/" % SCHEMA_DIR, schema)
    jsonschema.Draft4Validator(schema, resolver=resolver).validate(config)
    return True


@pytest.mark.parametrize("opts", [
    [],
    ["--readonly", "--ptrace", "--init", "--hostname", "h", "--cwd", "/srv", "--user",
     "1000:1000", "--env", "A=B", "--nofile", "1024:4096"],
])
def test_config_matches_runtime_spec_schema(opts):
    p = subprocess.run([TOOL, "config", "c1"] + opts + ["--", "/bin/sh", "-c", "true"],
                       capture_output=True, text=True, check=True)
    config = json.loads(p.stdout)
    # Required fields checked by hand (runtime-spec config.md), whatever the
    # schema validation below.
    assert re.match(r"^1\.0\.\d+", config["ociVersion"])
    assert config["root"]["path"] == "rootfs"
    proc = config["process"]
    assert proc["args"] and proc["cwd"].startswith("/")
    assert isinstance(proc["user"]["uid"], int) and isinstance(proc["user"]["gid"], int)
    for m in config["mounts"]:
        assert m["destination"].startswith("/")
    for ns in config["linux"]["namespaces"]:
        assert ns["type"] in ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")
    for r in proc["rlimits"]:
        assert r["type"].startswith("RLIMIT_") and r["soft"] <= r["hard"]
    for rule in config["linux"]["seccomp"]["syscalls"]:
        assert rule["names"] and rule["action"].startswith("SCMP_ACT_")
    # The OCI runtime-spec JSON schema (Debian's golang-github-opencontainers-
    # specs-dev) with python3-jsonschema.
    if not _validate_schema(config):
        pytest.skip("runtime-spec schema or python3-jsonschema not installed; "
                    "required fields checked by hand only")


def test_start_latency_against_bare_crun(lower):
    out = tool("bench", "10", lower, timeout=300)
    print("start latency:", out)
    assert out["skiff_p50_ms"] > 0 and out["bare_p50_ms"] > 0
    # conmon + create + start against one `crun run -d`: measured about
    # 1.7x here (docs/runtime.md); fail on a regression well past that
    # (further past under the sanitizers, which slow skiff's side only).
    limit = 4.0 if "asan" in os.path.basename(BUILD) else 3.0
    assert out["ratio_p50"] < limit, out


def test_zz_no_leftovers():
    """Runs last: nothing of this module's containers remains."""
    with open("/proc/self/mountinfo") as f:
        mounts = [l for l in f.read().splitlines() if RUN_DIR in l]
    assert mounts == []
    assert os.listdir(os.path.join(RUN_DIR, "netns")) == []
    assert not os.path.exists(os.path.join(RUN_DIR, "tasks")) or \
        os.listdir(os.path.join(RUN_DIR, "tasks")) == []
    leftovers = []
    for d in glob.glob("/sys/fs/cgroup/*%s" % CGROUP_PARENT) + \
            glob.glob("/sys/fs/cgroup/*/*%s" % CGROUP_PARENT):
        for root, dirs, _ in os.walk(d):
            leftovers += [os.path.join(root, x) for x in dirs]
    assert leftovers == []
    procs = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                if RUN_DIR.encode() in f.read():
                    procs.append(p)
        except OSError:
            pass
    assert procs == []
    # crun's state directory is empty too.
    assert os.listdir(os.path.join(RUN_DIR, "crun")) == []
