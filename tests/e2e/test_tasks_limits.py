"""Isolation and limits of a task started through RunTask (boto3 and
/usr/bin/aws), seen from inside its containers: the isolation probe of
test_oci.py run as a container's PID 1, linuxParameters.capabilities
add/drop, a container OOM-killed inside its task while its neighbours run
on, a 0.25 vCPU task held to a quarter of a core, a fork bomb stopped at the
task's pids limit, and ephemeral storage that ends in ENOSPC in that task
only.

One skiffd serves the module; test_zz_no_leftovers checks that the tasks
left nothing on the host."""
import glob
import json
import os
import subprocess
import tempfile
import shutil
import time

import pytest

import registry as reg
import tasks_util
from conftest import AWS
from tasks_util import (assert_no_leftovers, busybox_layout, describe, log_lines,  # noqa: F401
                        loop, oci_layout, register, run, shared_daemon, stop_all_tasks, task_id,
                        wait_tasks)
from test_oci import PROBE_C

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

PROBE_IMAGE = "skiff/probe:tasks"
DEFAULT_CAPS = 0x00000000a80425fb
CAP = {"CHOWN": 0, "NET_RAW": 13, "SYS_CHROOT": 18, "SYS_PTRACE": 19}
# A fork bomb in C (a shell one grows too slowly on a loaded 2-core host to
# reach 4096 processes in a test's time): every process forks forever.
BOMB_C = "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n"


@pytest.fixture(scope="module")
def s(shared_daemon):
    """The module's skiffd, with the busybox image plus a static probe at
    /bin/probe imported as PROBE_IMAGE."""
    d = tempfile.mkdtemp(prefix="skiff-probe-img-")
    try:
        src = os.path.join(d, "probe.c")
        with open(src, "w") as f:
            f.write(PROBE_C)
        subprocess.run(["cc", "-static", "-O2", "-o", os.path.join(d, "probe"), src], check=True)
        with open(os.path.join(d, "bomb.c"), "w") as f:
            f.write(BOMB_C)
        subprocess.run(["cc", "-static", "-O2", "-o", os.path.join(d, "bomb"),
                        os.path.join(d, "bomb.c")], check=True)
        with open(reg.BUSYBOX, "rb") as f:
            bb = f.read()
        with open(os.path.join(d, "probe"), "rb") as f:
            probe = f.read()
        with open(os.path.join(d, "bomb"), "rb") as f:
            bomb = f.read()
        base = reg.Layer().dir("bin").file("bin/busybox", bb, mode=0o755)
        for a in ("sh", "cat", "sleep", "grep", "mkfifo"):
            base.symlink("bin/" + a, "busybox")
        base.dir("etc").file("etc/passwd", tasks_util.PASSWD)
        base.dir("tmp", mode=0o1777).dir("proc").dir("sys").dir("dev")
        top = reg.Layer().dir("bin").file("bin/probe", probe, mode=0o755).file(
            "bin/bomb", bomb, mode=0o755)
        img = reg.Image([(base.bytes(), "gzip"), (top.bytes(), "gzip")], config={
            "Entrypoint": ["/bin/probe"], "Cmd": None, "WorkingDir": "/", "User": "",
            "Env": ["PATH=/bin"]})
        layout = os.path.join(d, "layout")
        oci_layout(layout, img)
        out = reg.client(shared_daemon).import_image(path=layout, reference=PROBE_IMAGE)
        assert [i["reference"] for i in out["images"]] == ["docker.io/" + PROBE_IMAGE]
    finally:
        shutil.rmtree(d)
    return shared_daemon


@pytest.fixture(scope="module")
def ecs(s):
    return s.client()


def ctr(name="main", command=None, image=tasks_util.IMAGE, **kw):
    return tasks_util.container(name=name, command=command, image=image, **kw)


def probe_results(s, arn, name="main"):
    res = {}
    for stream, text in log_lines(s, arn, name):
        if "=" in text:
            k, v = text.split("=", 1)
            res[k] = v.strip()
    return res


def aws_json(s, *args):
    p = subprocess.run([AWS, "--endpoint-url", s.endpoint, "--region", "us-east-1", "--output",
                        "json", *args], env=s.env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


def task_cgroup(s, arn, controller):
    """The task's cgroup directory holding controller's files (v1: its own
    hierarchy, v2: the unified one)."""
    rel = s.cgroup_parent.lstrip("/") + "/" + task_id(arn)
    for d in glob.glob("/sys/fs/cgroup/*/" + rel) + ["/sys/fs/cgroup/" + rel]:
        if controller in os.path.basename(os.path.dirname(os.path.dirname(d))).split(",") or \
                os.path.exists(os.path.join(d, controller + ".max")):
            return d
    raise AssertionError("no %s cgroup for %s" % (controller, arn))


def cpu_usage_ns(s, arn):
    try:
        d = task_cgroup(s, arn, "cpuacct")
        with open(os.path.join(d, "cpuacct.usage")) as f:
            return int(f.read())
    except AssertionError:
        d = task_cgroup(s, arn, "cpu")
        with open(os.path.join(d, "cpu.stat")) as f:
            stat = dict(line.split() for line in f.read().splitlines())
        return int(stat["usage_usec"]) * 1000


# ---------------------------------------------------------------- isolation

def test_isolation_probes(s, ecs):
    """The probe as PID 1 of a task started with `aws ecs run-task`."""
    register(ecs, "probe", [ctr(image=PROBE_IMAGE)])
    out = aws_json(s, "ecs", "run-task", "--cluster", "default", "--task-definition", "probe",
                   "--launch-type", "FARGATE")
    assert out["failures"] == []
    [arn] = [t["taskArn"] for t in out["tasks"]]
    [t] = wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    assert t["containers"][0]["exitCode"] == 0, t
    res = probe_results(s, arn)
    assert int(res["CapEff"], 16) == DEFAULT_CAPS, res
    assert res["NoNewPrivs"] == "1" and res["Seccomp"] == "2", res
    assert res["pid"] == "1"
    assert res["fds"] == "0,1,2,", res
    for call in ("mount", "unshare_mnt", "unshare_user", "unshare_net", "keyctl", "add_key",
                 "bpf"):
        assert res[call] == "EPERM", (call, res[call])
    assert res["write_proc_sys"] in ("EROFS", "EACCES"), res
    assert res["read:/proc/kcore"] in ("0", "ENOENT"), res
    assert res["read:/proc/keys"] == "0" and res["read:/proc/timer_list"] == "0", res
    with open("/proc/timer_list", "rb") as f:
        assert f.read(64)  # the masking is the container's, not the host's
    assert res["chroot"] == "ok" and res["mknod_null"] == "ok"
    assert res["ptrace_attach"] == "EPERM"


def caps_of(res):
    return int(res["CapEff"], 16)


def test_capabilities_add_and_drop(s, ecs):
    """linuxParameters.capabilities: SYS_PTRACE added, default ones dropped
    (seccomp follows: no chroot without SYS_CHROOT), drop ALL leaves none
    but an added SYS_PTRACE."""
    bit = lambda n: 1 << CAP[n]  # noqa: E731
    cases = {
        "capadd": ({"add": ["SYS_PTRACE"]}, DEFAULT_CAPS | bit("SYS_PTRACE")),
        "capdrop": ({"drop": ["CHOWN", "NET_RAW", "SYS_CHROOT", "MAC_ADMIN"]},
                    DEFAULT_CAPS & ~(bit("CHOWN") | bit("NET_RAW") | bit("SYS_CHROOT"))),
        "capall": ({"add": ["SYS_PTRACE"], "drop": ["ALL"]}, bit("SYS_PTRACE")),
    }
    arns = {}
    for fam, (caps, _) in cases.items():
        register(ecs, fam, [ctr(image=PROBE_IMAGE, linuxParameters={"capabilities": caps})])
        [arns[fam]] = run(ecs, fam)
    wait_tasks(ecs, list(arns.values()), "STOPPED", timeout=60)
    for fam, (_, want) in cases.items():
        res = probe_results(s, arns[fam])
        assert caps_of(res) == want, (fam, hex(caps_of(res)), hex(want))
        assert res["NoNewPrivs"] == "1" and res["Seccomp"] == "2", res
    assert probe_results(s, arns["capadd"])["chroot"] == "ok"
    assert probe_results(s, arns["capdrop"])["chroot"] == "EPERM"
    # The one capability Fargate lets a task add is the only one it may add.
    with pytest.raises(Exception) as exc:
        register(ecs, "capbad", [ctr(image=PROBE_IMAGE, linuxParameters={
            "capabilities": {"add": ["SYS_ADMIN"]}})])
    assert "SYS_PTRACE" in str(exc.value)


# ---------------------------------------------------------------- limits

def test_container_oom_in_task_neighbours_unaffected(s, ecs):
    """A container limited to 128 MiB inside a 512 MiB task touches
    256 MiB: OOM reason and 137 for it; its task's other container and a
    neighbour task run on."""
    # dd's 256 MiB buffer is touched by the read into it.
    hog = ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]
    register(ecs, "oomtask", [ctr("hog", hog, essential=False, memory=128),
                              ctr("calm", loop(0))], memory="512")
    register(ecs, "oomneighbour", [ctr(command=loop(0))], memory="512")
    [neighbour] = run(ecs, "oomneighbour")
    wait_tasks(ecs, [neighbour], "RUNNING")
    [arn] = run(ecs, "oomtask")
    deadline = time.time() + 60
    while True:
        [t] = describe(ecs, [arn])
        hogc = [c for c in t["containers"] if c["name"] == "hog"][0]
        if hogc["lastStatus"] == "STOPPED":
            break
        assert time.time() < deadline, t
        time.sleep(0.1)
    assert hogc["exitCode"] == 137, hogc
    assert hogc["reason"] == "OutOfMemoryError: Container killed due to memory usage", hogc
    assert t["lastStatus"] == "RUNNING", t
    calm = [c for c in t["containers"] if c["name"] == "calm"][0]
    assert calm["lastStatus"] == "RUNNING" and "reason" not in calm, calm
    [n] = describe(ecs, [neighbour])
    assert n["lastStatus"] == "RUNNING"
    for a in (arn, neighbour):
        ecs.stop_task(task=a)
    for t in wait_tasks(ecs, [arn, neighbour], "STOPPED"):
        for c in t["containers"]:
            if c["name"] != "hog":
                assert c["exitCode"] == 0 and "reason" not in c, c


def test_quarter_vcpu_busy_on_two_threads(s, ecs):
    """cpu 256: two busy loops get at most 30% of one core over 10 s, read
    from the task cgroup's usage counter."""
    register(ecs, "busy", [ctr(command=[
        "sh", "-c", "trap 'exit 0' TERM; (while :; do :; done) & (while :; do :; done) & "
        "while :; do sleep 0.1; done"])], cpu="256")
    [arn] = run(ecs, "busy")
    wait_tasks(ecs, [arn], "RUNNING")
    time.sleep(1)
    u0, t0 = cpu_usage_ns(s, arn), time.monotonic()
    time.sleep(10)
    u1, t1 = cpu_usage_ns(s, arn), time.monotonic()
    share = (u1 - u0) / 1e9 / (t1 - t0)
    assert share <= 0.30, share
    # It did run (held back by the quota, not merely starved by the host).
    assert share > 0.05, share
    ecs.stop_task(task=arn)
    wait_tasks(ecs, [arn], "STOPPED")


def test_fork_bomb_stopped_at_pids_limit(s, ecs):
    """A fork bomb in a task stays at the task's pids limit (4096); the
    host still forks, a neighbour task still runs, and StopTask ends it
    all."""
    # PID 1 forks once, for the bomb, then waits with a builtin on a fifo
    # (no fork of its own to be refused).
    register(ecs, "bomb", [ctr(image=PROBE_IMAGE, entryPoint=[
        "sh", "-c", "mkfifo /tmp/p; exec 3<>/tmp/p; trap 'exit 0' TERM; /bin/bomb & "
        "while :; do read -t 1 x <&3; done"])], cpu="1024", memory="2048")
    register(ecs, "bombneighbour", [ctr(command=loop(0))])
    [neighbour] = run(ecs, "bombneighbour")
    [arn] = run(ecs, "bomb")
    wait_tasks(ecs, [arn, neighbour], "RUNNING")
    d = task_cgroup(s, arn, "pids")
    with open(os.path.join(d, "pids.max")) as f:
        limit = int(f.read())
    assert limit == 4096

    def current():
        with open(os.path.join(d, "pids.current")) as f:
            return int(f.read())

    deadline = time.time() + 60
    samples = []
    while time.time() < deadline:
        samples.append(current())
        if samples[-1] >= limit - 64:
            break
        time.sleep(0.2)
    assert max(samples) >= limit - 64, samples[-10:]
    for _ in range(10):
        samples.append(current())
        time.sleep(0.1)
    assert max(samples) <= limit, max(samples)
    refused = 0
    for ev in glob.glob(d + "/pids.events") + glob.glob(d + "/*/pids.events"):
        with open(ev) as f:
            refused += int(f.read().split("max ")[1].split()[0])
    assert refused > 0
    assert subprocess.run(["true"]).returncode == 0
    [n] = describe(ecs, [neighbour])
    assert n["lastStatus"] == "RUNNING"
    for a in (arn, neighbour):
        ecs.stop_task(task=a)
    [t, n] = wait_tasks(ecs, [arn, neighbour], "STOPPED", timeout=120)
    assert n["containers"][0]["exitCode"] == 0
    assert not os.path.exists(d)


def test_ephemeral_storage_enospc_in_task_only(s, ecs):
    """A 21 GiB task fills its ephemeral storage (fallocate, so that the
    host writes little) and then a write fails with ENOSPC; a neighbour
    task writes on, and the host's disk did not fill."""
    fill = ("avail=$(df -k / | tail -1 | awk '{print $4}'); echo size=$(df -k / | tail -1 "
            "| awk '{print $2}'); fallocate -l $((avail - 16384))k /fill && echo filled; "
            "dd if=/dev/zero of=/more bs=1M count=64 2>&1; echo dd=$?")
    register(ecs, "filler", [ctr(command=["sh", "-c", fill])], ephemeralStorage={"sizeInGiB": 21})
    register(ecs, "writer", [ctr(command=["sh", "-c", "sleep 2; dd if=/dev/zero of=/w bs=1M "
                                          "count=32 2>&1; echo dd=$?"])])
    host_before = shutil.disk_usage(s.data_dir).free
    [filler] = run(ecs, "filler")
    [writer] = run(ecs, "writer")
    [f, w] = wait_tasks(ecs, [filler, writer], "STOPPED", timeout=120)
    out = [text for _, text in log_lines(s, filler)]
    size_kib = int(out[0].split("=")[1])
    assert 20 << 20 < size_kib <= 21 << 20, out
    assert "filled" in out, out
    assert any("No space left on device" in line for line in out), out
    assert out[-1] != "dd=0", out
    wout = [text for _, text in log_lines(s, writer)]
    assert wout[-1] == "dd=0" and not any("No space" in x for x in wout), wout
    # The 21 GiB were reserved in the task's file system, not written to the
    # host's disk.
    assert host_before - shutil.disk_usage(s.data_dir).free < 2 << 30


def test_zz_no_leftovers(s):
    stop_all_tasks(s)
    assert_no_leftovers(s)
