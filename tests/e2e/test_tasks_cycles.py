"""500 RunTask/StopTask cycles (batches of count=10) leave nothing behind:
no mounts, cgroups, network namespaces, loop devices, processes, runtime
state or per-task files beyond task.json and the logs, and skiffd holds as
many descriptors and threads as before.

SKIFF_CYCLES changes the number of tasks (default 500)."""
import glob
import os
import time

import pytest

from tasks_util import (assert_no_leftovers, without_ready_pool, busybox_layout, container, daemons,  # noqa: F401
                        loop, register, run, task_dir, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

CYCLES = int(os.environ.get("SKIFF_CYCLES", "500"))
BATCH = 10


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_targets(pid):
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        t = t.split("[")[0] if "[" in t else t
        out[t] = out.get(t, 0) + 1
    return out


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def loop_devices(data_dir, wait=10.0):
    """Loop devices backed by a file under data_dir, after waiting up to
    `wait` seconds for them to go: an autoclear device detaches when the
    last copy of its mount goes, and the copies in the mount namespaces of
    the monitors that just exited are released by the kernel a little later
    on a busy host (as test_agent.loop_devices)."""
    deadline = time.time() + wait
    while True:
        out = []
        for f in glob.glob("/sys/block/loop*/loop/backing_file"):
            try:
                with open(f) as fh:
                    b = fh.read().strip()
                    if b.startswith(data_dir):
                        out.append((f, b))
            except OSError:
                pass
        keep = without_ready_pool(data_dir, [b for _, b in out])
        out = [f for f, b in out if b in keep]
        if not out or time.time() > deadline:
            return out
        time.sleep(0.1)


def settle(pid, what, baseline, timeout=15):
    """what(pid) comes back to at most baseline (threads end, pools idle)."""
    deadline = time.time() + timeout
    while what(pid) > baseline and time.time() < deadline:
        time.sleep(0.1)
    return what(pid)


def test_run_stop_cycles_leave_nothing(daemons):
    s = daemons.start("--node-capacity", "%d:%d" % (2 * BATCH * 256, 2 * BATCH * 512))
    ecs = s.client()
    register(ecs, "cycle", [container(command=loop(0))])
    # One batch first, so that lazily made things (image mounts, the
    # storage pool, store connections) exist before the baseline.
    arns = run(ecs, "cycle", count=BATCH)
    wait_tasks(ecs, arns, "RUNNING", timeout=60)
    for a in arns:
        ecs.stop_task(task=a)
    wait_tasks(ecs, arns, "STOPPED", timeout=60)
    time.sleep(1)
    base_fds, base_threads = fds(s.pid), threads(s.pid)

    def check_stopped(arns):
        for t in wait_tasks(ecs, arns, "STOPPED", timeout=120, interval=0.02):
            assert t["stopCode"] == "UserInitiated", t
            assert t["containers"][0]["exitCode"] == 0, t["containers"]

    # Two batches overlap: one stops while the next starts.
    started = time.monotonic()
    done = []
    stopping = []
    for _ in range(CYCLES // BATCH):
        arns = run(ecs, "cycle", count=BATCH)
        wait_tasks(ecs, arns, "RUNNING", timeout=120, interval=0.02)
        if stopping:
            check_stopped(stopping)
        for a in arns:
            ecs.stop_task(task=a)
        stopping = arns
        done += arns
    check_stopped(stopping)
    elapsed = time.monotonic() - started
    print("%d run/stop cycles in %.1f s" % (len(done), elapsed))
    assert len(set(done)) == CYCLES

    assert_no_leftovers(s)
    t0 = time.monotonic()
    assert loop_devices(s.data_dir) == []
    print("loop devices gone %.2f s after the leftovers check" % (time.monotonic() - t0))
    for a in done:
        left = sorted(os.listdir(task_dir(s, a)))
        assert left == ["logs", "task.json"], (a, left)
    # The runtime's and conmon's state directories are empty.
    for root, dirs, files in os.walk(s.run_dir):
        assert files == [] and [d for d in dirs if d not in ("netns", "crun", "runc", "s")] == [], \
            (root, dirs, files)
    # A little slack for connections and workers opened lazily (a store
    # connection per HTTP worker, say); a leak per task would be hundreds.
    assert settle(s.pid, fds, base_fds + 8) <= base_fds + 8, "%d: %s" % (
        base_fds, fd_targets(s.pid))
    assert settle(s.pid, threads, base_threads + 4) <= base_threads + 4, (
        threads(s.pid), base_threads)
