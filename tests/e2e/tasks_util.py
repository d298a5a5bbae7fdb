"""Shared pieces of the task e2e tests (test_tasks.py, test_tasks_restart.py):
a busybox image imported through skiff's own API (skiffd cannot reach a
registry), a daemon fixture that shares one skiffd across a module, task
definition and RunTask helpers, polling with short intervals, the agent's
on-disk view of a task (logs, container pids), and a check that a daemon's
stopped tasks left nothing behind on the host."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import registry as reg
from conftest import Skiffd, log_sanitizer_excerpt

IMAGE = "skiff/busybox:tasks"

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"

# Runs until SIGTERM; busybox sh runs the trap once the short sleep ends.
LOOP_SCRIPT = "trap 'echo got-term; exit %d' TERM; echo ready; while true; do sleep 0.1; done"


def loop(code=0):
    return ["sh", "-c", LOOP_SCRIPT % code]


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


def build_layout(workdir):
    """An OCI layout of busybox (every applet) with a little /etc; config
    Cmd sh, Env PATH=/bin."""
    with open(reg.BUSYBOX, "rb") as f:
        bb = f.read()
    layer = reg.Layer().dir("bin").file("bin/busybox", bb, mode=0o755)
    applets = subprocess.run([reg.BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            layer.symlink("bin/" + a, "busybox")
    layer.dir("etc").file("etc/passwd", PASSWD)
    layer.dir("tmp", mode=0o1777).dir("proc").dir("sys").dir("dev")
    img = reg.Image([(layer.bytes(), "gzip")], config={
        "Entrypoint": None, "Cmd": ["sh"], "WorkingDir": "/", "User": "",
        "Env": ["PATH=/bin"]})
    path = os.path.join(workdir, "layout")
    oci_layout(path, img)
    return path


def import_image(skiffd, layout):
    out = reg.client(skiffd).import_image(path=layout, reference=IMAGE)
    assert [i["reference"] for i in out["images"]] == ["docker.io/" + IMAGE]


@pytest.fixture(scope="session")
def busybox_layout():
    d = tempfile.mkdtemp(prefix="skiff-tasks-img-")
    try:
        yield build_layout(d)
    finally:
        shutil.rmtree(d)


def sanitizer_report(s):
    return log_sanitizer_excerpt(s.log_path)


class Daemons:
    """Starts skiffds with the test image imported and a default cluster;
    stop_all() stops them,
    cleans the host after them and fails on a sanitizer report."""

    def __init__(self, layout):
        self.layout = layout
        self.started = []

    def start(self, *extra_args):
        d = tempfile.mkdtemp(prefix="skiff-e2e-")
        s = Skiffd(d, ("--throttle-read", "off", "--throttle-write", "off") + extra_args)
        self.started.append(s)
        s.start()
        import_image(s, self.layout)
        s.client().create_cluster(clusterName="default")
        return s

    def stop_all(self):
        reports = []
        for s in self.started:
            s.stop()
            s.cleanup_host()
            rep = sanitizer_report(s)
            if rep:
                reports.append(rep)
            subprocess.run(["rm", "-rf", s.data_dir])
        self.started = []
        if reports:
            pytest.fail("sanitizer report in skiffd.log:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def daemons(busybox_layout):
    ds = Daemons(busybox_layout)
    yield ds
    ds.stop_all()


@pytest.fixture(scope="module")
def shared_daemon(busybox_layout):
    """One skiffd for a whole module (tests use their own families and
    clusters); at the end its tasks must have left nothing behind."""
    ds = Daemons(busybox_layout)
    s = ds.start()
    yield s
    try:
        stop_all_tasks(s)
        assert_no_leftovers(s)
    finally:
        ds.stop_all()


# ---------------------------------------------------------------- API helpers

def container(name="main", command=None, essential=True, **kw):
    c = {"name": name, "image": IMAGE, "essential": essential}
    if command is not None:
        c["command"] = command
    c.update(kw)
    return c


def register(ecs, family, containers, cpu="256", memory="512", **kw):
    td = ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu=cpu, memory=memory, containerDefinitions=containers, **kw)["taskDefinition"]
    return td["taskDefinitionArn"]


def run(ecs, taskdef, cluster="default", **kw):
    if "capacityProviderStrategy" not in kw:
        kw["launchType"] = "FARGATE"
    out = ecs.run_task(cluster=cluster, taskDefinition=taskdef, **kw)
    assert out["failures"] == [], out
    return [t["taskArn"] for t in out["tasks"]]


def describe(ecs, arns, cluster="default", **kw):
    out = ecs.describe_tasks(cluster=cluster, tasks=list(arns), **kw)
    assert out["failures"] == [], out
    by_arn = {t["taskArn"]: t for t in out["tasks"]}
    return [by_arn[a] for a in arns]


def wait_tasks(ecs, arns, status, cluster="default", timeout=30, interval=0.05, seen=None):
    """Polls DescribeTasks until every task's lastStatus is status; answers
    the tasks. A task that reaches STOPPED while waiting for another status
    fails at once. seen, a dict, collects every (lastStatus, version) seen
    per task."""
    deadline = time.time() + timeout
    while True:
        tasks = describe(ecs, arns, cluster)
        for t in tasks:
            if seen is not None:
                lst = seen.setdefault(t["taskArn"], [])
                if not lst or lst[-1] != (t["lastStatus"], t["version"]):
                    lst.append((t["lastStatus"], t["version"]))
        if all(t["lastStatus"] == status for t in tasks):
            return tasks
        if status != "STOPPED":
            for t in tasks:
                assert t["lastStatus"] != "STOPPED", t
        if time.time() > deadline:
            raise AssertionError("tasks never reached %s: %s" % (
                status, [(t["lastStatus"], t.get("stoppedReason")) for t in tasks]))
        time.sleep(interval)


def task_id(arn):
    return arn.rsplit("/", 1)[1]


def stop_all_tasks(s, timeout=60):
    """Stops every task of every cluster of the default account and waits
    for them to stop."""
    ecs = s.client()
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_tasks(cluster=cluster, maxResults=100)["taskArns"]
        for a in arns:
            ecs.stop_task(cluster=cluster, task=a, reason="test teardown")
        if arns:
            wait_tasks(ecs, arns, "STOPPED", cluster=cluster, timeout=timeout)


# ---------------------------------------------------------------- host side

def task_dir(s, arn):
    return os.path.join(s.data_dir, "tasks", task_id(arn))


def log_text(s, arn, ctr="main"):
    """The container's log (CRI k8s-file lines), as the agent keeps it."""
    with open(os.path.join(task_dir(s, arn), "logs", ctr + ".log"), errors="replace") as f:
        return f.read()


def log_lines(s, arn, ctr="main"):
    """(stream, text) of each full line of a container's log."""
    out = []
    for line in log_text(s, arn, ctr).splitlines():
        parts = line.split(" ", 3)
        assert len(parts) >= 3 and parts[1] in ("stdout", "stderr"), line
        out.append((parts[1], parts[3] if len(parts) == 4 else ""))
    return out


def container_state(s, arn, ctr="main"):
    """src/oci's state.json of a running container: pid, pid_start, ..."""
    with open(os.path.join(task_dir(s, arn), "rw", "c", ctr, "state.json")) as f:
        return json.load(f)


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat, or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def pool_refill(s, pid, cmd):
    """True for the running daemon's own mkfs.ext4 refilling its pool of
    ephemeral storage images: daemon work, not a task's leftover (it runs
    at nice 19 and can take many seconds on a loaded machine)."""
    if not s.proc or "mkfs.ext4" not in cmd or \
            (s.data_dir + "/ephemeral/tmp-") not in cmd:
        return False
    try:
        with open("/proc/%s/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return ppid == s.proc.pid


# The agent keeps this many task directories with their storage mounted
# ready (src/agent/storage.c, MOUNTED_SIZE), plus one being made.
READY_POOL = 2 + 1


def ready_pool_prefix(data_dir):
    """Where the agent's mounted pool lives: its mounts and loop devices
    are the daemon's, not a task's leftovers, as long as there are at most
    READY_POOL of them."""
    return os.path.join(data_dir, "ephemeral", "ready") + "/"


def without_ready_pool(data_dir, paths):
    """paths minus the mounted pool's, unless the pool holds more than it
    should (then they are all reported)."""
    prefix = ready_pool_prefix(data_dir)
    pool = [p for p in paths if p.startswith(prefix)]
    rest = [p for p in paths if not p.startswith(prefix)]
    return rest if len(pool) <= READY_POOL else rest + pool


def host_leftovers(s):
    """What a daemon's tasks left on the host: processes in its cgroups or
    naming its dirs, mounts under its dirs, task cgroups, runtime state."""
    found = []
    marks = (s.run_dir, s.data_dir)
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in (os.getpid(), s.proc.pid if s.proc else -1):
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/cgroup" % pid) as f:
                cg = f.read()
        except OSError:
            continue
        if pool_refill(s, pid, cmd):
            continue
        if any(m in cmd for m in marks) or (s.cgroup_parent + "/") in cg:
            found.append("process %s: %s" % (pid, cmd))
    with open("/proc/self/mountinfo") as f:
        mps = [line.split()[4] for line in f]
    # The run dir's own tmpfs (skiffd mounts one where it is on a disk)
    # stays: only what is mounted inside counts.
    found += ["mount " + mp for mp in without_ready_pool(
        s.data_dir, [mp for mp in mps if mp.startswith(s.run_dir + "/")
                     or mp.startswith(s.data_dir)])]
    base = s.cgroup_parent.lstrip("/")
    for hier in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", hier, base)
        if os.path.isdir(d):
            for sub in os.listdir(d):
                if os.path.isdir(os.path.join(d, sub)):
                    found.append("cgroup %s/%s" % (d, sub))
    for root, dirs, files in os.walk(s.run_dir):
        for f in files:
            found.append("run dir file " + os.path.join(root, f))
    found += ["hidden " + p for p in hidden_unified(base)]
    return found


UNIFIED = "/sys/fs/cgroup/unified"


def hidden_unified(base):
    """On a hybrid host, what lies under the unified mount point in the
    /sys/fs/cgroup tmpfs for cgroup parent base (the runtime runs with that
    mount hidden, and once wrote its cgroup paths there, where nothing
    removed them)."""
    if not os.path.ismount(UNIFIED):
        return []
    p = subprocess.run(["unshare", "-m", "sh", "-c",
                        "mount --make-rslave / && umount -l %s && find %s/%s -mindepth 1"
                        % (UNIFIED, UNIFIED, base)],
                       capture_output=True, text=True)
    return p.stdout.split()


def assert_no_leftovers(s, timeout=10):
    deadline = time.time() + timeout
    while True:
        left = host_leftovers(s)
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    assert left == [], left


# ---------------------------------------------------------------- the model

_MODEL = None


def ecs_shapes():
    global _MODEL
    if _MODEL is None:
        import botocore.session
        _MODEL = botocore.session.get_session().get_service_model("ecs")
    return _MODEL


def check_shape(value, shape_name, path=""):
    """Raw JSON (as the server sent it) against the ecs model's output
    shape: no unknown members, and each value of the member's type."""
    errors = []

    def walk(v, shape, p):
        t = shape.type_name
        if t == "structure":
            if not isinstance(v, dict):
                errors.append("%s: want an object, got %r" % (p, v))
                return
            for k, sub in v.items():
                if k not in shape.members:
                    errors.append("%s.%s: not in %s" % (p, k, shape.name))
                else:
                    walk(sub, shape.members[k], "%s.%s" % (p, k))
        elif t == "list":
            if not isinstance(v, list):
                errors.append("%s: want a list, got %r" % (p, v))
                return
            for i, sub in enumerate(v):
                walk(sub, shape.member, "%s[%d]" % (p, i))
        elif t == "map":
            if not isinstance(v, dict):
                errors.append("%s: want a map, got %r" % (p, v))
        elif t == "string":
            if not isinstance(v, str):
                errors.append("%s: want a string, got %r" % (p, v))
            elif shape.enum and v not in shape.enum:
                errors.append("%s: %r not in %s" % (p, v, shape.enum))
        elif t in ("integer", "long"):
            if not isinstance(v, int) or isinstance(v, bool):
                errors.append("%s: want an integer, got %r" % (p, v))
        elif t == "boolean":
            if not isinstance(v, bool):
                errors.append("%s: want a boolean, got %r" % (p, v))
        elif t == "timestamp":
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                errors.append("%s: want epoch seconds, got %r" % (p, v))

    walk(value, ecs_shapes().shape_for(shape_name), path or shape_name)
    assert errors == [], errors
