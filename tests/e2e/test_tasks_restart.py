"""Tasks outlive skiffd: kill -9 of the daemon with tasks running, then a
restart on the same data dir, run dir and cgroup parent. Running tasks stay
RUNNING with the same containers (runtime ids, PIDs and their start
times), an exit that happened while skiffd was down is recorded with its
real code and the log it wrote meanwhile, StopTask works afterwards, and a
RunTask retried with its clientToken after the restart duplicates nothing."""
import os
import signal
import subprocess
import tempfile
import time

import pytest

import sigv4_client
from conftest import Skiffd
from tasks_util import (UNIFIED, assert_no_leftovers, busybox_layout, container,  # noqa: F401
                        daemons, describe, container_state, hidden_unified, log_lines, loop,
                        proc_start_time, register, run, task_dir, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

# Exits 7 on SIGUSR1 (sent from the host while skiffd is down), 0 on SIGTERM.
EXITER = ["sh", "-c", "trap 'echo got-usr1; exit 7' USR1; trap 'exit 0' TERM; echo ready; "
          "while true; do sleep 0.1; done"]


def run_with_token(s, body):
    r = sigv4_client.for_profile(s).call("RunTask", body)
    assert r.status == 200, r
    return [t["taskArn"] for t in r.json["tasks"]]


def pids_of(s, arns):
    """{arn: (pid, start time)} of each task's container, checked alive."""
    out = {}
    for a in arns:
        st = container_state(s, a)
        assert proc_start_time(st["pid"]) == st["pid_start"], (a, st)
        out[a] = (st["pid"], st["pid_start"])
    return out


def test_kill9_restart_keeps_running_tasks(daemons):
    s = daemons.start()
    ecs = s.client()
    register(ecs, "survivor", [container(command=loop(0))])
    register(ecs, "exiter", [container(command=EXITER)])
    body = {"cluster": "default", "taskDefinition": "survivor", "launchType": "FARGATE",
            "count": 5, "startedBy": "restart-test", "clientToken": "restart-token-1"}
    survivors = sorted(run_with_token(s, body))
    [exiter] = run(ecs, "exiter")
    before = {t["taskArn"]: t for t in wait_tasks(ecs, survivors + [exiter], "RUNNING")}
    pids = pids_of(s, survivors + [exiter])
    assert len({p for p, _ in pids.values()}) == 6

    s.kill9()
    # The containers do not depend on skiffd.
    assert pids_of(s, survivors + [exiter]) == pids
    # One exits while skiffd is down, writing to its log on the way.
    os.kill(pids[exiter][0], signal.SIGUSR1)
    assert sigv4_client.wait_until(lambda: proc_start_time(pids[exiter][0]) is None, timeout=45)
    s.start()

    after = {t["taskArn"]: t for t in describe(ecs, survivors)}
    for a in survivors:
        assert after[a]["lastStatus"] == "RUNNING", after[a]
        assert after[a]["desiredStatus"] == "RUNNING"
        assert after[a]["startedAt"] == before[a]["startedAt"]
        [c0], [c1] = before[a]["containers"], after[a]["containers"]
        assert c1["runtimeId"] == c0["runtimeId"] and c1["lastStatus"] == "RUNNING", c1
        assert "exitCode" not in c1
    assert pids_of(s, survivors) == {a: pids[a] for a in survivors}

    [t] = wait_tasks(ecs, [exiter], "STOPPED", timeout=15)
    assert t["stopCode"] == "EssentialContainerExited", t
    assert t["containers"][0]["exitCode"] == 7, t["containers"]
    assert t["executionStoppedAt"] >= t["startedAt"]
    assert log_lines(s, exiter) == [("stdout", "ready"), ("stdout", "got-usr1")]

    # The RunTask retried after the restart answers the same tasks.
    assert sorted(run_with_token(s, body)) == survivors
    assert sorted(ecs.list_tasks(family="survivor")["taskArns"]) == survivors
    assert sorted(ecs.list_tasks(startedBy="restart-test")["taskArns"]) == survivors

    # StopTask reaches the reattached containers: SIGTERM, the trap, exit 0.
    for a in survivors:
        ecs.stop_task(task=a, reason="after the restart")
    for t in wait_tasks(ecs, survivors, "STOPPED"):
        assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "after the restart"
        assert t["containers"][0]["exitCode"] == 0, t["containers"]
        assert log_lines(s, t["taskArn"]) == [("stdout", "ready"), ("stdout", "got-term")]
    for a in survivors:
        assert proc_start_time(pids[a][0]) != pids[a][1]
    assert_no_leftovers(s)


def test_kill9_right_after_run_task_then_retry(daemons):
    """skiffd dies as soon as RunTask answered (the task may not be placed or
    assigned yet): after the restart the task runs once, and the retried
    RunTask answers it instead of starting another."""
    s = daemons.start()
    ecs = s.client()
    register(ecs, "hasty", [container(command=loop(0))])
    body = {"cluster": "default", "taskDefinition": "hasty", "launchType": "FARGATE",
            "clientToken": "hasty-token"}
    [arn] = run_with_token(s, body)
    s.kill9()
    s.start()
    assert run_with_token(s, body) == [arn]
    wait_tasks(ecs, [arn], "RUNNING", timeout=30)
    assert ecs.list_tasks(family="hasty")["taskArns"] == [arn]
    assert os.listdir(os.path.join(s.data_dir, "tasks")) == [arn.rsplit("/", 1)[1]]
    pid, start = pids_of(s, [arn])[arn]
    # A second kill and restart while it runs changes nothing.
    s.kill9()
    s.start()
    assert run_with_token(s, body) == [arn]
    assert pids_of(s, [arn])[arn] == (pid, start)
    [t] = describe(ecs, [arn])
    assert t["lastStatus"] == "RUNNING"
    ecs.stop_task(task=arn)
    [t] = wait_tasks(ecs, [arn], "STOPPED")
    assert t["containers"][0]["exitCode"] == 0
    assert not os.path.exists(os.path.join(task_dir(s, arn), "rw", "c"))
    assert_no_leftovers(s)


def test_kill9_while_creating_and_while_stopping(daemons):
    """kill -9 while containers are being created: after the restart each
    task runs exactly one container. kill -9 during a stop: the stop goes on
    (SIGKILL after stopTimeout for a container that ignores SIGTERM) with
    the user's reason. A graceful stop of skiffd leaves tasks running."""
    s = daemons.start()
    ecs = s.client()
    register(ecs, "crowd", [container(command=loop(0))])
    register(ecs, "stubborn", [container(command=[
        "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"], stopTimeout=2)])
    arns = run(ecs, "crowd", count=4)
    sigv4_client.wait_until(
        lambda: any(t["lastStatus"] != "PROVISIONING" for t in describe(ecs, arns)),
        timeout=10, interval=0.01)
    s.kill9()
    s.start()
    wait_tasks(ecs, arns, "RUNNING", timeout=30)
    pids = pids_of(s, arns)
    assert len({p for p, _ in pids.values()}) == 4
    conmons = [p for p in os.listdir("/proc") if p.isdigit() and
               is_conmon_of(p, s.data_dir)]
    assert len(conmons) == 4, conmons

    [stub] = run(ecs, "stubborn")
    wait_tasks(ecs, [stub], "RUNNING")
    ecs.stop_task(task=stub, reason="stop, then a crash")
    wait_tasks(ecs, [stub], "STOPPING")
    s.kill9()
    s.start()
    [t] = wait_tasks(ecs, [stub], "STOPPED", timeout=20)
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "stop, then a crash", t
    assert t["containers"][0]["exitCode"] == 137, t["containers"]
    # The agent restarts the stop timeout after a restart (it is not kept on
    # disk), so allow for the time skiffd was down.
    assert (t["executionStoppedAt"] - t["stoppingAt"]).total_seconds() < 2 * 2 + 5

    s.stop()
    assert pids_of(s, arns) == pids
    s.start()
    wait_tasks(ecs, arns, "RUNNING")
    assert pids_of(s, arns) == pids
    for a in arns:
        ecs.stop_task(task=a)
    for t in wait_tasks(ecs, arns, "STOPPED"):
        assert t["containers"][0]["exitCode"] == 0
    assert_no_leftovers(s)


def is_conmon_of(pid, data_dir):
    try:
        with open("/proc/%s/comm" % pid) as f:
            if f.read().strip() != "conmon":
                return False
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return data_dir.encode() in f.read()
    except OSError:
        return False


def test_crash_between_placement_and_assignment(daemons):
    """The window the scheduler's reconcile repairs: a task recorded as
    placed on the node that the node never received (skiffd died between
    the two). Made by hand in the store while skiffd is down: a waiting task
    marked placed is assigned again after the restart and runs; one that
    should stop is recorded as stopped with its reason."""
    import sqlite3
    s = daemons.start()
    ecs = s.client()
    ncpu = os.cpu_count()
    register(ecs, "filler", [container(command=loop(0))], cpu="1024", memory="2048")
    register(ecs, "late", [container(command=loop(0))])
    fillers = run(ecs, "filler", count=ncpu)
    wait_tasks(ecs, fillers, "RUNNING")
    waiting = run(ecs, "late", count=2)
    time.sleep(0.5)
    assert [t["lastStatus"] for t in describe(ecs, waiting)] == ["PROVISIONING"] * 2
    s.kill9()
    db = sqlite3.connect(os.path.join(s.data_dir, "state.db"))
    with db:
        db.execute("UPDATE tasks SET node = 'local' WHERE arn IN (?, ?)", waiting)
        db.execute("UPDATE tasks SET desired_status = 'STOPPED', stop_code = 'UserInitiated', "
                   "stopped_reason = 'stopped before the crash' WHERE arn = ?", (waiting[1],))
    db.close()
    s.start()
    [t] = wait_tasks(ecs, [waiting[0]], "RUNNING", timeout=20)
    [t] = wait_tasks(ecs, [waiting[1]], "STOPPED", timeout=20)
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "stopped before the crash"
    assert not os.path.exists(task_dir(s, waiting[1]))
    for a in fillers + [waiting[0]]:
        ecs.stop_task(task=a)
    wait_tasks(ecs, fillers + [waiting[0]], "STOPPED")
    assert "is not held by node" not in s.log()
    assert_no_leftovers(s)


@pytest.mark.skipif(not os.path.ismount(UNIFIED), reason="not a hybrid cgroup host")
def test_restart_sweeps_cgroup_paths_under_the_hidden_unified_mount(daemons):
    """Older versions let crun make its cgroup paths (and cgroup.procs
    files) under the unified mount point in the /sys/fs/cgroup tmpfs, where
    they stayed: a restart removes those under its cgroup parent, and tasks
    run now leave none."""
    s = daemons.start()
    base = s.cgroup_parent.lstrip("/")
    ecs = s.client()
    register(ecs, "short", [container(command=["true"])])
    wait_tasks(ecs, run(ecs, "short"), "STOPPED", timeout=60)
    assert hidden_unified(base) == []
    s.stop()
    planted = "%s/%s/0123abcd/main" % (UNIFIED, base)
    subprocess.run(["unshare", "-m", "sh", "-c",
                    "mount --make-rslave / && umount -l %s && mkdir -p %s && touch %s/cgroup.procs"
                    % (UNIFIED, planted, planted)], check=True)
    assert len(hidden_unified(base)) == 3
    s.start()
    assert sigv4_client.wait_until(lambda: hidden_unified(base) == [], timeout=10)


def ready_mounts(s):
    """Mount points of the agent's mounted storage pool (DATA-DIR/ephemeral/ready)."""
    prefix = os.path.join(s.data_dir, "ephemeral", "ready") + "/"
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f if line.split()[4].startswith(prefix))


def test_mounted_storage_pool(daemons):
    """The agent keeps two task directories with their disk mounted; a task
    takes one (its rw/ is that mount, renamed with the directory) and the
    pool refills; after a kill -9 the next start adopts the slots instead of
    mounting more; a clean stop unmounts them."""
    s = daemons.start()
    ecs = s.client()
    assert sigv4_client.wait_until(lambda: len(ready_mounts(s)) == 2, timeout=30), ready_mounts(s)
    slots = ready_mounts(s)
    register(ecs, "pooled", [container(command=loop(0))])
    [arn] = run(ecs, "pooled")
    wait_tasks(ecs, [arn], "RUNNING")
    rw = os.path.join(task_dir(s, arn), "rw")
    with open("/proc/self/mountinfo") as f:
        assert rw in [line.split()[4] for line in f]
    # The task's disk is one that was mounted ahead: its slot is gone from
    # the pool, which mounts a new one once no task is starting.
    # (A slot is made as tmp-N and renamed N once ready: wait for that too,
    # so that the kill -9 below does not interrupt a refill.)
    assert sigv4_client.wait_until(lambda: len(ready_mounts(s)) == 2 and
                                   ready_mounts(s) != slots and
                                   not any("/tmp-" in m for m in ready_mounts(s)),
                                   timeout=30), ready_mounts(s)
    # Each ready directory holds what a start writes, empty.
    slot = os.path.dirname(ready_mounts(s)[0])
    assert sorted(os.listdir(slot)) == ["disk.img", "hosts", "logs", "resolv.conf", "rw",
                                        "task.json", "task.json.tmp"]
    assert os.path.getsize(os.path.join(slot, "task.json")) == 0

    s.kill9()
    kept = ready_mounts(s)
    assert len(kept) == 2
    s.start()
    wait_tasks(ecs, [arn], "RUNNING")
    time.sleep(1)
    assert ready_mounts(s) == kept  # adopted, not mounted again
    [t] = describe(ecs, [arn])
    assert t["lastStatus"] == "RUNNING"

    ecs.stop_task(task=arn)
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    assert s.stop() == 0
    assert ready_mounts(s) == []


def fstype(path):
    """The file system type of the mount at exactly path, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                return fields[fields.index("-") + 1]
    return None


def test_run_dir_is_a_tmpfs(daemons):
    """RUN_DIR's files must not outlive the host: where it is not on a
    tmpfs already (this VM's /run is on its disk), skiffd mounts one on an
    empty run dir, which stays through a kill -9 and restart with the
    tasks' runtime state in it; a run dir on a disk holding files (a
    skiffd's from before) is left as it is."""
    s = daemons.start()
    parent_tmpfs = subprocess.run(["stat", "-f", "-c", "%T", os.path.dirname(s.run_dir)],
                                  capture_output=True, text=True).stdout.strip() == "tmpfs"
    if parent_tmpfs:
        assert fstype(s.run_dir) is None
    else:
        assert fstype(s.run_dir) == "tmpfs"
    ecs = s.client()
    register(ecs, "rundir", [container(command=loop())])
    [arn] = run(ecs, "rundir")
    wait_tasks(ecs, [arn], "RUNNING")
    before = container_state(s, arn)["pid"]
    s.kill9()
    s.restart()
    assert fstype(s.run_dir) == (None if parent_tmpfs else "tmpfs")
    assert container_state(s, arn)["pid"] == before
    ecs.stop_task(task=arn)
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    if parent_tmpfs:
        return
    # A run dir on the disk with something in it: no mount over it.
    d = tempfile.mkdtemp(prefix="skiff-e2e-")
    s2 = Skiffd(d, ("--throttle-read", "off", "--throttle-write", "off"))
    daemons.started.append(s2)
    os.makedirs(s2.run_dir)
    with open(os.path.join(s2.run_dir, "left-by-an-older-skiffd"), "w") as f:
        f.write("x")
    s2.start()
    assert fstype(s2.run_dir) is None
    assert os.path.exists(os.path.join(s2.run_dir, "left-by-an-older-skiffd"))
