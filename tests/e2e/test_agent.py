"""The host agent (src/agent) with real containers, as root: conmon + crun
(runc for one test), images imported into a content store from an OCI
layout written here (static busybox from busybox-static, plus a static
memory hog), driven through build/src/agent/agent-tool, which speaks the
node protocol's JSON messages on stdin/stdout.

Every test removes what it creates; test_zz_no_leftovers checks that
nothing of this module's tasks remains: mounts, cgroups, namespaces,
processes, runtime state, files."""
import calendar
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import registry as reg
from conftest import sanitizer_excerpt
from tasks_util import without_ready_pool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SKIFF_BUILD", "build"))
TOOL = os.path.join(BUILD, "src", "agent", "agent-tool")
CGROUP_PARENT = "/skiff-agent-e2e-%d" % os.getpid()
IMAGE = "busybox:agent-e2e"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

HOG_C = r"""
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    for (size_t i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (!p)
            return 2;
        memset(p, 1, 1 << 20);
    }
    printf("touched %zu MiB\n", mib);
    return 0;
}
"""

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "app:x:1000:1000:app:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/:/bin/false\n")
GROUP = "root:x:0:\nwheel:x:10:app\nstaff:x:50:app,other\napp:x:1000:\nnogroup:x:65534:\n"


def oci_layout(path, img):
    os.makedirs(os.path.join(path, "blobs", "sha256"))
    for d, data in list(img.blobs.items()) + [(img.digest, img.manifest)]:
        with open(os.path.join(path, "blobs", "sha256", d.split(":")[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": img.media_type, "digest": img.digest, "size": len(img.manifest)}]}, f)


def build_image(workdir):
    """busybox with every applet, /etc/passwd and /etc/group, a static hog;
    image config: Cmd sh, Env with IMG_ONLY and SHARED=image."""
    hog_src = os.path.join(workdir, "hog.c")
    hog = os.path.join(workdir, "hog")
    with open(hog_src, "w") as f:
        f.write(HOG_C)
    subprocess.run(["cc", "-static", "-O2", "-o", hog, hog_src], check=True)
    with open(reg.BUSYBOX, "rb") as f:
        bb = f.read()
    with open(hog, "rb") as f:
        hogb = f.read()
    layer = reg.Layer().dir("bin").file("bin/busybox", bb, mode=0o755)
    layer.file("bin/hog", hogb, mode=0o755)
    applets = subprocess.run([reg.BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            layer.symlink("bin/" + a, "busybox")
    layer.dir("etc").file("etc/passwd", PASSWD).file("etc/group", GROUP)
    layer.dir("tmp", mode=0o1777).dir("proc").dir("sys").dir("dev").dir("data")
    layer.dir("home").dir("home/app", uid=1000, gid=1000)
    img = reg.Image([(layer.bytes(), "gzip")], config={
        "Entrypoint": None, "Cmd": ["sh"], "WorkingDir": "/", "User": "",
        "Env": ["PATH=/bin", "IMG_ONLY=1", "SHARED=image"]})
    path = os.path.join(workdir, "layout")
    oci_layout(path, img)
    return path, img


class Agent:
    """One agent-tool serve process over a data dir and a run dir."""

    def __init__(self, data_dir, run_dir, runtime=None, stop_timeout_ms=None, retention_ms=None):
        cmd = [TOOL, "-d", data_dir, "-R", run_dir, "-P", CGROUP_PARENT]
        if retention_ms:
            cmd += ["-T", str(retention_ms)]
        if runtime:
            cmd += ["-r", runtime]
        if stop_timeout_ms:
            cmd += ["-s", str(stop_timeout_ms)]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd + ["serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     bufsize=1)
        self.reports = {}
        self.cond = threading.Condition()
        self.answers = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        first = self.answers.get(timeout=30)
        assert "ready" in first, first

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "report" in msg:
                r = msg["report"]
                with self.cond:
                    self.reports.setdefault(r["taskArn"], []).append(r)
                    self.cond.notify_all()
            else:
                self.answers.put(msg)
        self.answers.put({"eof": True})

    def request(self, req, check=True):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ans = self.answers.get(timeout=60)
        if check:
            assert ans.get("ok"), ans
        return ans

    def assign(self, msg, check=True):
        return self.request({"op": "assign", "msg": msg}, check)

    def stop(self, arn, code="UserInitiated", reason="Task stopped by test"):
        return self.request({"op": "stop", "msg": {"taskArn": arn, "stopCode": code,
                                                   "reason": reason}})

    def list(self):
        return self.request({"op": "list"})["tasks"]

    def log(self, arn, container):
        ans = self.request({"op": "log", "taskArn": arn, "container": container})
        with open(ans["path"]) as f:
            return f.read()

    def purge(self, arn):
        return self.request({"op": "purge", "taskArn": arn})

    def last(self, arn):
        with self.cond:
            return self.reports.get(arn, [None])[-1]

    def wait(self, arn, status, timeout=90, pred=None):
        """Waits for a report of arn with lastStatus status (and pred)."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for r in self.reports.get(arn, []):
                    if r["lastStatus"] == status and (pred is None or pred(r)):
                        return r
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("%s never reached %s; last: %s\n%s" % (
                        arn, status, self.reports.get(arn, [None])[-1], self.err()))
                self.cond.wait(left)

    def err(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-20000:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.reader.join(timeout=5)
        self.stderr.seek(0)
        full = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        # Under an ASan/UBSan build a sanitizer report fails the test.
        report = sanitizer_excerpt(full)
        assert report is None, report
        assert self.proc.returncode == 0, full[-20000:]

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=5)
        self.stderr.close()


@pytest.fixture(scope="module")
def env():
    """A data dir with the image imported, a short run dir; at the end
    every leftover cgroup of this module is removed."""
    if not os.path.exists(TOOL):
        pytest.fail("%s not built" % TOOL)
    work = tempfile.mkdtemp(prefix="skiff-agent-e2e-")
    run_dir = tempfile.mkdtemp(prefix="ska-", dir="/tmp")
    data_dir = os.path.join(work, "data")
    layout, img = build_image(work)
    p = subprocess.run([TOOL, "-d", data_dir, "-R", run_dir, "-P", CGROUP_PARENT, "import",
                        layout, IMAGE], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    e = {"work": work, "data": data_dir, "run": run_dir, "digest": img.digest}
    yield e
    force_cleanup(e)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    for d in glob.glob("/sys/fs/cgroup/*%s" % CGROUP_PARENT):
        subprocess.run(["find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"],
                       capture_output=True)


def force_cleanup(env):
    """What a failed test may have left: this module's containers (the
    processes in its cgroups), their monitors, mounts under its dirs."""
    for f in glob.glob("/sys/fs/cgroup/pids%s/**/cgroup.procs" % CGROUP_PARENT,
                       recursive=True):
        with open(f) as fh:
            for pid in fh.read().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
    deadline = time.time() + 5
    while time.time() < deadline and processes(env["run"].encode()):
        time.sleep(0.1)
    for p, _ in processes(env["run"].encode()):
        try:
            os.kill(int(p.split("/")[2]), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split()[4] for l in f.read().splitlines()
                  if env["run"] in l.split()[4] or env["data"] in l.split()[4]]
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", m], capture_output=True)


@pytest.fixture
def agent(env):
    a = Agent(env["data"], env["run"])
    yield a
    # Stop what the test left running, then let the agent go.
    for arn, reps in list(a.reports.items()):
        if reps[-1]["lastStatus"] != "STOPPED":
            a.stop(arn)
    for arn in list(a.reports):
        a.wait(arn, "STOPPED", timeout=60)
        a.purge(arn)
    a.close()


COUNTER = [0]


def task(*containers, cpu=256, memory=512, volumes=(), overrides=None):
    """An assign message for a task of the given container definitions."""
    COUNTER[0] += 1
    tid = "%08x%04d%020d" % (os.getpid(), COUNTER[0], int(time.time() * 1000))
    tid = tid[:32]
    return {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/e2e/%s" % tid,
        "taskId": tid,
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/e2e",
        "accountId": "123456789012", "region": "us-east-1",
        "cpu": cpu, "memory": memory, "ephemeralStorageGiB": 20,
        "taskDefinition": {"family": "e2e", "containerDefinitions": list(containers),
                           "volumes": [{"name": v} for v in volumes]},
        "overrides": overrides or {},
        "createdAt": int(time.time() * 1000),
    }


def ctr(name, command, **kw):
    c = {"name": name, "image": IMAGE, "essential": True, "command": command}
    c.update(kw)
    return c


def sh(script, name="app", **kw):
    return ctr(name, ["sh", "-c", script], **kw)


def container(report, name):
    return next(c for c in report["containers"] if c["name"] == name)


def log_lines(text):
    """CRI k8s-file lines -> [(timestamp string, stream, text)]."""
    out = []
    for line in text.splitlines():
        ts, stream, _tag, msg = (line.split(" ", 3) + [""])[:4]
        out.append((ts, stream, msg))
    return out


def task_dir(env, msg):
    return os.path.join(env["data"], "tasks", msg["taskId"])


def ctr_state(env, msg, name):
    with open(os.path.join(task_dir(env, msg), "rw", "c", name, "state.json")) as f:
        return json.load(f)


def proc_start(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def processes(needle):
    """/proc/PID/cmdline of the processes whose command line holds needle."""
    found = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle in cmd:
            found.append((p, cmd))
    return found


def assert_task_clean(env, msg):
    """After STOPPED: no cgroup, no netns, no rw dir, no runtime state; the
    task dir holds task.json and logs only."""
    tid = msg["taskId"]
    assert glob.glob("/sys/fs/cgroup/*%s/%s" % (CGROUP_PARENT, tid)) == []
    assert not os.path.exists(os.path.join(env["run"], "netns", tid))
    left = sorted(os.listdir(task_dir(env, msg)))
    assert left == ["logs", "task.json"], left
    for f in os.listdir(os.path.join(task_dir(env, msg), "logs")):
        assert not os.path.islink(os.path.join(task_dir(env, msg), "logs", f))
    assert [d for d in os.listdir(os.path.join(env["run"], "crun")) if d.startswith(tid)] == []
    assert processes(tid.encode()) == []


# ---------------------------------------------------------------- tests

def test_echo_task(env, agent):
    msg = task(sh("echo hello from skiff; echo to stderr >&2"))
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED")
    c = container(r, "app")
    assert c["exitCode"] == 0 and "reason" not in c
    assert c["imageDigest"] == env["digest"]
    assert c["runtimeId"] == msg["taskId"] + "-0"
    assert r["stopCode"] == "EssentialContainerExited"
    assert r["stoppedReason"] == "Essential container in task exited"
    # every status in order, each reported
    seen = [x["lastStatus"] for x in agent.reports[msg["taskArn"]]]
    order = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
             "DEPROVISIONING", "STOPPED"]
    assert [s for s in order if s in seen] == order
    assert sorted(set(seen), key=order.index) == order
    assert r["pullStartedAt"] <= r["pullStoppedAt"] <= r["startedAt"] <= r["stoppingAt"] <= \
        r["executionStoppedAt"] <= r["stoppedAt"]
    lines = log_lines(agent.log(msg["taskArn"], "app"))
    assert ("stdout", "hello from skiff") in [(s, m) for _, s, m in lines]
    assert ("stderr", "to stderr") in [(s, m) for _, s, m in lines]
    assert lines[0][0].startswith(time.strftime("%Y-", time.gmtime()))
    assert_task_clean(env, msg)
    # list holds the stopped task's final report
    listed = [t for t in agent.list() if t["taskArn"] == msg["taskArn"]]
    assert listed == [r]


def test_process_from_definition_and_image(env, agent):
    """user name from the image's passwd/group, env precedence, working dir,
    hostname, /etc/hosts, ulimits, read-only rootfs, init, ptrace."""
    script = ("id; echo cwd=$(pwd); echo host=$(hostname); echo shared=$SHARED img=$IMG_ONLY "
              "td=$TD_ONLY ov=$OV_ONLY exec=$AWS_EXECUTION_ENV; ulimit -n; ulimit -Hn; "
              "grep -c skiffhost /etc/hosts; touch /rootfile 2>/dev/null || echo rofs; "
              "cat /proc/1/cmdline | tr '\\0' ' '; echo; grep CapBnd /proc/self/status")
    msg = task(
        sh(script, user="app", workingDirectory="/home/app", hostname="skiffhost",
           readonlyRootFilesystem=True,
           environment=[{"name": "SHARED", "value": "taskdef"},
                        {"name": "TD_ONLY", "value": "t"}],
           ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
           linuxParameters={"initProcessEnabled": True,
                            "capabilities": {"add": ["SYS_PTRACE"]}}),
        overrides={"containerOverrides": [{"name": "app", "environment": [
            {"name": "SHARED", "value": "override"}, {"name": "OV_ONLY", "value": "o"}]}]})
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED")
    assert container(r, "app")["exitCode"] == 0, agent.log(msg["taskArn"], "app")
    out = [m for _, _, m in log_lines(agent.log(msg["taskArn"], "app"))]
    assert out[0].startswith("uid=1000(app) gid=1000(app)")
    assert "10(wheel)" in out[0] and "50(staff)" in out[0]
    assert "cwd=/home/app" in out
    assert "host=skiffhost" in out
    assert "shared=override img=1 td=t ov=o exec=AWS_ECS_FARGATE" in out
    assert out[4:7] == ["1024", "2048", "1"]  # ulimits; the hostname in /etc/hosts
    assert "rofs" in out
    assert any(l.startswith("/dev/init -- sh -c") for l in out), out
    capbnd = int([l for l in out if l.startswith("CapBnd")][0].split()[1], 16)
    assert capbnd & (1 << 19)  # CAP_SYS_PTRACE (a non-root user has no effective caps)


def test_command_override_and_image_cmd(env, agent):
    """No command: the image's Cmd (sh) runs; an override command wins over
    the definition's; entryPoint drops the image's Cmd."""
    m1 = task(ctr("app", None))
    del m1["taskDefinition"]["containerDefinitions"][0]["command"]
    m2 = task(ctr("app", ["echo", "from-taskdef"]),
              overrides={"containerOverrides": [{"name": "app", "command": ["echo", "from-override"]}]})
    m3 = task(ctr("app", None, entryPoint=["echo", "entry"]))
    del m3["taskDefinition"]["containerDefinitions"][0]["command"]
    for m in (m1, m2, m3):
        agent.assign(m)
    for m in (m1, m2, m3):
        r = agent.wait(m["taskArn"], "STOPPED")
        assert container(r, "app")["exitCode"] == 0
    assert [x for _, _, x in log_lines(agent.log(m2["taskArn"], "app"))] == ["from-override"]
    assert [x for _, _, x in log_lines(agent.log(m3["taskArn"], "app"))] == ["entry"]


def test_long_running_stop_sigterm_honoured(env, agent):
    msg = task(sh("trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.1; done",
                  stopTimeout=20))
    agent.assign(msg)
    agent.wait(msg["taskArn"], "RUNNING")
    time.sleep(0.5)
    t0 = time.time()
    agent.stop(msg["taskArn"], "UserInitiated", "because the test said so")
    r = agent.wait(msg["taskArn"], "STOPPED")
    assert time.time() - t0 < 10
    c = container(r, "app")
    assert c["exitCode"] == 0 and "reason" not in c
    assert r["stopCode"] == "UserInitiated"
    assert r["stoppedReason"] == "because the test said so"
    assert "got TERM" in [m for _, _, m in log_lines(agent.log(msg["taskArn"], "app"))]
    # a second stop is harmless
    agent.stop(msg["taskArn"])
    assert_task_clean(env, msg)


def test_sigterm_ignored_sigkill_after_stop_timeout(env, agent):
    msg = task(sh("trap '' TERM; while :; do sleep 0.1; done", stopTimeout=2))
    agent.assign(msg)
    agent.wait(msg["taskArn"], "RUNNING")
    t0 = time.time()
    agent.stop(msg["taskArn"])
    r = agent.wait(msg["taskArn"], "STOPPED")
    took = time.time() - t0
    assert 1.9 <= took < 12, took
    c = container(r, "app")
    assert c["exitCode"] == 137
    assert "reason" not in c  # killed, not out of memory


def test_essential_exit_stops_task_nonessential_recorded(env, agent):
    msg = task(sh("sleep 2; exit 3", name="main"),
               sh("exit 5", name="side", essential=False),
               sh("trap 'exit 0' TERM; while :; do sleep 0.1; done", name="helper",
                  essential=False))
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "RUNNING",
                   pred=lambda r: container(r, "side")["lastStatus"] == "STOPPED")
    assert r["lastStatus"] == "RUNNING"
    assert container(r, "side")["exitCode"] == 5
    r = agent.wait(msg["taskArn"], "STOPPED")
    assert r["stopCode"] == "EssentialContainerExited"
    assert container(r, "main")["exitCode"] == 3
    assert container(r, "helper")["exitCode"] == 0
    assert container(r, "side")["exitCode"] == 5


def test_depends_on_order(env, agent):
    """init (SUCCESS) -> db (HEALTHY) -> web (START) -> sidecar; proven by
    the log timestamps and by files in a shared volume."""
    vol = [{"sourceVolume": "shared", "containerPath": "/shared"}]
    msg = task(
        sh("echo init-done; echo ok > /shared/init", name="init", essential=False,
           mountPoints=vol),
        sh("test -f /shared/init || exit 9; sleep 1; echo db-ready; touch /tmp/ready; "
           "trap 'exit 0' TERM; while :; do sleep 0.1; done", name="db", mountPoints=vol,
           dependsOn=[{"containerName": "init", "condition": "SUCCESS"}],
           healthCheck={"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 1,
                        "timeout": 2, "retries": 3}),
        sh("echo web-start; cat /shared/init; trap 'exit 0' TERM; "
           "while :; do sleep 0.1; done", name="web", mountPoints=vol,
           dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        sh("echo side-start; trap 'exit 0' TERM; while :; do sleep 0.1; done", name="side",
           dependsOn=[{"containerName": "web", "condition": "START"}]),
        volumes=["shared"])
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "RUNNING", timeout=40)
    assert container(r, "init")["exitCode"] == 0
    assert container(r, "db")["healthStatus"] == "HEALTHY"
    arn = msg["taskArn"]

    def first(name, text):
        """The time of the first line text (conmon may still be writing it)."""
        deadline = time.time() + 10
        while True:
            found = [ts for ts, _, m in log_lines(agent.log(arn, name)) if m == text]
            if found or time.time() > deadline:
                return found[0]
            time.sleep(0.05)

    t_init, t_db = first("init", "init-done"), first("db", "db-ready")
    t_web, t_side = first("web", "web-start"), first("side", "side-start")
    assert t_init < t_db < t_web, (t_init, t_db, t_web)
    # START means web was started first, not that its first line was written
    # first (both run at once from then on): side's start and its first line
    # come after web's start.
    web_ms = ctr_state(env, msg, "web")["started_ms"]
    side_ms = ctr_state(env, msg, "side")["started_ms"]
    side_line_ms = calendar.timegm(time.strptime(t_side[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + \
        int(t_side[20:23])
    # (side's started_ms is taken just after its start returns, so its first
    # line may carry an earlier millisecond: not compared.)
    assert 0 < web_ms <= side_ms and web_ms <= side_line_ms, (web_ms, side_ms, t_side)
    first("web", "ok")  # web read the file init wrote
    # stop: reverse order, everyone honours TERM
    agent.stop(arn)
    r = agent.wait(arn, "STOPPED")
    for name in ("db", "web", "side"):
        assert container(r, name)["exitCode"] == 0


def test_dependency_never_met_fails_start(env, agent):
    msg = task(sh("exit 1", name="init", essential=False),
               sh("echo never", name="app",
                  dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]))
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED")
    assert r["stopCode"] == "TaskFailedToStart"
    assert "init" in r["stoppedReason"] and "SUCCESS" in r["stoppedReason"]
    assert "exitCode" not in container(r, "app")


def test_health_checks(env, agent):
    msg = task(
        sh("trap 'exit 0' TERM; while :; do sleep 0.1; done", name="bad",
           healthCheck={"command": ["CMD", "false"], "interval": 1, "timeout": 2,
                        "retries": 2}),
        sh("trap 'exit 0' TERM; while :; do sleep 0.1; done", name="good",
           healthCheck={"command": ["CMD-SHELL", "exit 0"], "interval": 1, "timeout": 5,
                        "retries": 3}),
        sh("trap 'exit 0' TERM; while :; do sleep 0.1; done", name="slow", essential=False,
           healthCheck={"command": ["CMD", "sleep", "10"], "interval": 1, "timeout": 1,
                        "retries": 1}))
    agent.assign(msg)
    arn = msg["taskArn"]
    r = agent.wait(arn, "RUNNING", timeout=20,
                   pred=lambda r: container(r, "bad")["healthStatus"] == "UNHEALTHY" and
                   container(r, "good")["healthStatus"] == "HEALTHY" and
                   container(r, "slow")["healthStatus"] == "UNHEALTHY")
    assert r["healthStatus"] == "UNHEALTHY"
    # probes that time out are killed: no sleep 10 left in the task
    time.sleep(0.5)
    assert len(processes(b"sleep\x0010\x00")) <= 1  # at most the probe in flight


def test_health_status_healthy_task(env, agent):
    """Probes run as the container's process: its user, working directory
    and environment."""
    check = '[ "$(id -u)" = 1000 ] && [ "$(pwd)" = /home/app ] && [ "$MARK" = m1 ]'
    msg = task(sh("trap 'exit 0' TERM; while :; do sleep 0.1; done", user="app",
                  workingDirectory="/home/app", environment=[{"name": "MARK", "value": "m1"}],
                  healthCheck={"command": ["CMD-SHELL", check], "interval": 1, "timeout": 2,
                               "retries": 1, "startPeriod": 5}))
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "RUNNING", pred=lambda r: r["healthStatus"] == "HEALTHY")
    assert container(r, "app")["healthStatus"] == "HEALTHY"


def test_oom_kill_reason_and_neighbour_unaffected(env, agent):
    neighbour = task(sh("trap 'exit 0' TERM; /bin/hog 64; while :; do sleep 0.1; done",
                        name="n"), memory=512)
    agent.assign(neighbour)
    agent.wait(neighbour["taskArn"], "RUNNING")
    msg = task(ctr("app", ["/bin/hog", "256"]), memory=128)
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED")
    c = container(r, "app")
    assert c["exitCode"] == 137
    assert c["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert agent.last(neighbour["taskArn"])["lastStatus"] == "RUNNING"


def test_container_memory_limit_nested(env, agent):
    """A container-level memory limit inside a larger task."""
    msg = task(ctr("app", ["/bin/hog", "100"], memory=64), memory=512)
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED")
    assert container(r, "app")["exitCode"] == 137
    assert container(r, "app")["reason"].startswith("OutOfMemoryError")


def test_ephemeral_storage_enforced(env, agent):
    """Writing past the task's ephemeral storage fails with ENOSPC in that
    task only; layers and volumes share the size. (The agent accepts 1 GiB
    so that the test writes little; the control plane asks for 20-200.)"""
    small = task(sh("df -k / | tail -1; dd if=/dev/zero of=/big bs=1M count=700 2>&1; "
                    "dd if=/dev/zero of=/vol/big bs=1M count=700 2>&1; sync",
                    mountPoints=[{"sourceVolume": "v", "containerPath": "/vol"}]),
                 volumes=["v"])
    small["ephemeralStorageGiB"] = 1
    big = task(sh("dd if=/dev/zero of=/big bs=1M count=100 2>&1 | tail -1; df -k / | tail -1"))
    agent.assign(small)
    agent.assign(big)
    r = agent.wait(small["taskArn"], "STOPPED", timeout=60)
    out = [m for _, _, m in log_lines(agent.log(small["taskArn"], "app"))]
    size_kib = int(out[0].split()[1])
    assert 900 * 1024 < size_kib <= 1024 * 1024, out
    assert "No space left on device" in "\n".join(out[1:]), out
    r = agent.wait(big["taskArn"], "STOPPED", timeout=60)
    assert container(r, "app")["exitCode"] == 0
    out = [m for _, _, m in log_lines(agent.log(big["taskArn"], "app"))]
    assert "No space" not in out[0] and int(out[1].split()[1]) > 19 * 1024 * 1024, out
    for m in (small, big):
        assert_task_clean(env, m)
    assert loop_devices(env) == []


def test_pull_failure(env, agent):
    msg = task(ctr("app", ["true"], image="127.0.0.1:1/nothing/here:v1"))
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED", timeout=60)
    assert r["stopCode"] == "TaskFailedToStart"
    assert r["stoppedReason"].startswith("CannotPullContainerError: ")
    assert container(r, "app")["reason"].startswith("CannotPullContainerError: ")
    assert "pullStartedAt" in r and "pullStoppedAt" in r and "startedAt" not in r


def test_stop_while_pulling(env, agent):
    """A registry on loopback that accepts and never answers: the task waits
    in PENDING; a stop ends it at once (the pull is abandoned)."""
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []
    done = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        msg = task(ctr("app", ["true"], image="127.0.0.1:%d/slow/image:v1" %
                       srv.getsockname()[1]))
        agent.assign(msg)
        agent.wait(msg["taskArn"], "PENDING", pred=lambda r: "pullStartedAt" in r)
        time.sleep(0.5)
        assert agent.last(msg["taskArn"])["lastStatus"] == "PENDING"
        # The container's monitor was started ahead, at the end of the
        # provisioning: conmon waits on its start pipe, with no runtime
        # under it (docs/agent.md, "Start path"). The storage thread starts
        # it after the provisioning goes on, so it may come a moment later.
        needle = ("%s-0" % msg["taskId"]).encode()
        deadline = time.time() + 20
        while len(processes(needle)) != 1 and time.time() < deadline:
            time.sleep(0.1)
        [(cmdline, cmd)] = processes(needle)
        pid = int(cmdline.split("/")[2])
        assert cmd.startswith(b"/usr/bin/conmon\0"), cmd
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            assert f.read().split() == []
        t0 = time.time()
        agent.stop(msg["taskArn"], "ServiceSchedulerInitiated", "scaled in")
        r = agent.wait(msg["taskArn"], "STOPPED")
        assert time.time() - t0 < 6
        assert r["stopCode"] == "ServiceSchedulerInitiated"
        assert r["stoppedReason"] == "scaled in"
        assert "exitCode" not in container(r, "app")
        assert_task_clean(env, msg)
    finally:
        done.set()
        th.join()
        for c in held:
            c.close()
        srv.close()


def test_restart_while_waiting_for_a_dependency(env):
    """kill -9 while a container waits for another's SUCCESS: the new agent
    starts it when the condition holds."""
    a = Agent(env["data"], env["run"])
    msg = task(sh("sleep 3; echo init-done", name="init", essential=False),
               sh("echo app-start", name="app",
                  dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]))
    a.assign(msg)
    a.wait(msg["taskArn"], "ACTIVATING",
           pred=lambda r: container(r, "init")["lastStatus"] == "RUNNING")
    a.kill9()
    b = Agent(env["data"], env["run"])
    try:
        r = b.wait(msg["taskArn"], "STOPPED", timeout=30)
        assert container(r, "init")["exitCode"] == 0
        assert container(r, "app")["exitCode"] == 0
        assert r["stopCode"] == "EssentialContainerExited"
        t_init = [ts for ts, _, m in log_lines(b.log(msg["taskArn"], "init"))][0]
        t_app = [ts for ts, _, m in log_lines(b.log(msg["taskArn"], "app"))][0]
        assert t_init < t_app
        b.purge(msg["taskArn"])
    finally:
        b.close()


def test_bad_command_fails_to_start(env, agent):
    msg = task(ctr("app", ["/no/such/binary"]), ctr("u", ["true"], user="ghost",
                                                      essential=False))
    agent.assign(msg)
    r = agent.wait(msg["taskArn"], "STOPPED")
    assert r["stopCode"] == "TaskFailedToStart"
    reasons = [c.get("reason", "") for c in r["containers"]]
    assert any(x.startswith("Cannot") for x in reasons), r


def test_assign_validation_and_idempotence(env, agent):
    bad = task(ctr("app", ["true"]))
    bad["taskDefinition"]["containerDefinitions"][0]["dependsOn"] = [
        {"containerName": "nope", "condition": "START"}]
    ans = agent.assign(bad, check=False)
    assert "unknown container" in ans["error"]
    msg = task(sh("trap 'exit 0' TERM; while :; do sleep 0.1; done"))
    agent.assign(msg)
    agent.assign(msg)  # a no-op
    agent.wait(msg["taskArn"], "RUNNING")
    assert len([t for t in agent.list() if t["taskArn"] == msg["taskArn"]]) == 1
    ans = agent.request({"op": "purge", "taskArn": msg["taskArn"]}, check=False)
    assert "not stopped" in ans["error"]
    ans = agent.request({"op": "stop", "msg": {"taskArn": "arn:nope"}}, check=False)
    assert "error" in ans
    cap = agent.request({"op": "capacity"})["capacity"]
    assert cap["cpu"] == os.cpu_count() * 1024
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) // 1024
    assert total - max(256, total // 20) - 2 <= cap["memory"] <= total - 256


def test_runc_runtime(env):
    a = Agent(env["data"], env["run"], runtime="runc")
    try:
        msg = task(sh("echo runc says hi"))
        a.assign(msg)
        r = a.wait(msg["taskArn"], "STOPPED")
        assert container(r, "app")["exitCode"] == 0
        assert "runc says hi" in a.log(msg["taskArn"], "app")
        a.purge(msg["taskArn"])
    finally:
        a.close()


def test_kill9_reattach(env):
    """kill -9 of the process holding the agent: containers keep running
    under conmon; a new agent on the same dirs reattaches (same PIDs),
    records the exit that happened meanwhile with its real code, and can
    stop the rest."""
    a = Agent(env["data"], env["run"])
    # Retries and a timeout that a busy host's `crun exec` fits in.
    long = [task(sh("trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done",
                    healthCheck={"command": ["CMD-SHELL", "true"], "interval": 1,
                                 "timeout": 5, "retries": 3}))
            for _ in range(8)]
    # Exits on SIGUSR1, sent once the agent is dead: a timed exit could
    # come before the kill on a busy host (the first agent would then
    # report it, and the second has nothing left to tell).
    short = task(sh("trap 'echo done; exit 7' USR1; while :; do sleep 0.1; done"))
    for m in long + [short]:
        a.assign(m)
    for m in long + [short]:
        a.wait(m["taskArn"], "RUNNING")
    # Read before the short task can end (and its directory go).
    pids = {m["taskId"]: ctr_state(env, m, "app")["pid"] for m in long + [short]}
    starts = {tid: proc_start(pid) for tid, pid in pids.items()}
    for m in long:
        a.wait(m["taskArn"], "RUNNING", pred=lambda r: r["healthStatus"] == "HEALTHY")
    a.kill9()
    # The short task exits while nobody watches.
    os.kill(pids[short["taskId"]], signal.SIGUSR1)
    deadline = time.time() + 30
    while os.path.exists("/proc/%d" % pids[short["taskId"]]) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    b = Agent(env["data"], env["run"])
    try:
        r = b.wait(short["taskArn"], "STOPPED")
        assert container(r, "app")["exitCode"] == 7
        assert r["stopCode"] == "EssentialContainerExited"
        assert "done" in [m for _, _, m in log_lines(b.log(short["taskArn"], "app"))]
        for m in long:
            r = b.wait(m["taskArn"], "RUNNING")
            assert r["healthStatus"] == "HEALTHY"
            pid = ctr_state(env, m, "app")["pid"]
            assert pid == pids[m["taskId"]] and proc_start(pid) == starts[m["taskId"]]
        listed = {t["taskArn"]: t["lastStatus"] for t in b.list()}
        assert all(listed[m["taskArn"]] == "RUNNING" for m in long)
        for m in long:
            b.stop(m["taskArn"])
        for m in long:
            r = b.wait(m["taskArn"], "STOPPED")
            assert container(r, "app")["exitCode"] == 0
            assert "bye" in [x for _, _, x in log_lines(b.log(m["taskArn"], "app"))]
            assert_task_clean(env, m)
        for m in long + [short]:
            b.purge(m["taskArn"])
            assert not os.path.exists(task_dir(env, m))
    finally:
        b.close()


def test_stopped_tasks_kept_until_purge_or_retention(env):
    """A stopped task (its logs) survives a restart; past the retention it
    is forgotten."""
    a = Agent(env["data"], env["run"])
    msg = task(sh("echo kept"))
    try:
        a.assign(msg)
        a.wait(msg["taskArn"], "STOPPED")
    finally:
        a.close()
    b = Agent(env["data"], env["run"])
    try:
        listed = [t for t in b.list() if t["taskArn"] == msg["taskArn"]]
        assert listed and listed[0]["lastStatus"] == "STOPPED"
        assert "kept" in b.log(msg["taskArn"], "app")
    finally:
        b.close()
    time.sleep(0.2)
    c = Agent(env["data"], env["run"], retention_ms=100)
    try:
        assert [t for t in c.list() if t["taskArn"] == msg["taskArn"]] == []
        assert not os.path.exists(task_dir(env, msg))
    finally:
        c.close()


def test_restart_sweeps_leftovers(env):
    """Cgroups, namespaces and runtime state no task holds are removed when
    an agent starts."""
    stray = "stray%d" % os.getpid()
    for h in ("memory", "pids", "cpu"):
        os.makedirs("/sys/fs/cgroup/%s%s/%s" % (h, CGROUP_PARENT, stray), exist_ok=True)
    ns = os.path.join(env["run"], "netns", stray)
    open(ns, "w").close()
    a = Agent(env["data"], env["run"])
    a.close()
    assert glob.glob("/sys/fs/cgroup/*%s/%s" % (CGROUP_PARENT, stray)) == []
    assert not os.path.exists(ns)


def test_run_stop_cycles_leave_nothing(env):
    """50 run/stop cycles, 10 tasks at a time."""
    a = Agent(env["data"], env["run"])
    try:
        for _ in range(5):
            batch = [task(ctr("app", ["sleep", "1000"], stopTimeout=10,
                              linuxParameters={"initProcessEnabled": True}))
                     for _ in range(10)]
            for m in batch:
                a.assign(m)
            for m in batch:
                a.wait(m["taskArn"], "RUNNING")
            # Stopped at once: the agent waits (up to a second) for
            # catatonit to set up its signals, which a PID 1 without a
            # handler would drop.
            for m in batch:
                a.stop(m["taskArn"])
            for m in batch:
                r = a.wait(m["taskArn"], "STOPPED")
                assert container(r, "app")["exitCode"] == 143  # catatonit: child got TERM
                a.purge(m["taskArn"])
    finally:
        a.close()
    check_no_leftovers(env)


def loop_devices(env, wait=10.0):
    """Loop devices backed by a file in the data dir, after waiting up to
    `wait` seconds for them to go: an autoclear device detaches when the
    last copy of its mount goes, and a copy in an exited monitor's mount
    namespace is released by the kernel a little later on a busy host."""
    deadline = time.time() + wait
    while True:
        left = loop_backing(env)
        if not left or time.time() > deadline:
            return left
        time.sleep(0.1)


def loop_backing(env):
    backing = []
    for f in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(f) as fh:
                backing.append(fh.read().strip())
        except OSError:
            pass
    # The agent's mounted pool while it runs is its own, not a task's.
    return without_ready_pool(env["data"], [b for b in backing if env["data"] in b])


def check_no_leftovers(env):
    run = env["run"]
    with open("/proc/self/mountinfo") as f:
        mounts = [l for l in f.read().splitlines() if run in l or env["data"] in l]
    assert mounts == []
    assert os.listdir(os.path.join(run, "netns")) == []
    assert os.listdir(os.path.join(run, "crun")) == []
    assert os.listdir(os.path.join(run, "s")) == []
    assert os.listdir(os.path.join(env["data"], "tasks")) == []
    leftovers = []
    for d in glob.glob("/sys/fs/cgroup/*%s" % CGROUP_PARENT):
        for root, dirs, _ in os.walk(d):
            leftovers += [os.path.join(root, x) for x in dirs]
    assert leftovers == []
    assert processes(run.encode()) == [] and processes(env["data"].encode()) == []
    assert loop_devices(env) == []
    # the image store's temp dir holds only its GC lock
    tmp = os.path.join(env["data"], "tmp")
    assert not os.path.exists(tmp) or os.listdir(tmp) in ([], ["gc.lock"])


def test_zz_no_leftovers(env):
    check_no_leftovers(env)
