"""Agent behaviours seen through RunTask: a stop's SIGKILL deadline survives
a kill -9 of skiffd (it is kept in task.json, so a restart does not grant a
new stopTimeout), and a container whose image could not be pulled never
shows a runtimeId."""
import json
import os
import time

import pytest

from tasks_util import (assert_no_leftovers, busybox_layout, container, daemons,  # noqa: F401
                        describe, register, run, task_dir, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

STUBBORN = ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"]


def test_sigkill_deadline_survives_restart(daemons):
    """stopTimeout 10 s; skiffd is killed 6 s into the stop and restarted
    at once: SIGKILL comes 10 s after the SIGTERM (not 6 + 10), and the
    deadline was on disk before the crash."""
    s = daemons.start()
    ecs = s.client()
    register(ecs, "stubborn", [container(command=STUBBORN, stopTimeout=10)])
    [arn] = run(ecs, "stubborn")
    wait_tasks(ecs, [arn], "RUNNING")
    time.sleep(1.5)  # the trap is set up: the stop signal goes at once
    ecs.stop_task(task=arn, reason="stop, then a crash")
    wait_tasks(ecs, [arn], "STOPPING")
    # The agent reports STOPPING, then signals and saves the deadline: give
    # it a moment (it has 6 s before the crash).
    deadline = time.time() + 3
    while True:
        with open(os.path.join(task_dir(s, arn), "task.json")) as f:
            saved = json.load(f)["containers"][0]
        if saved.get("termSent") or time.time() > deadline:
            break
        time.sleep(0.05)
    assert saved.get("termSent") is True, saved
    stopping_ms = describe(ecs, [arn])[0]["stoppingAt"].timestamp() * 1000
    assert 9000 <= saved["killAt"] - stopping_ms <= 12000, (saved, stopping_ms)
    time.sleep(6)
    s.kill9()
    s.start()
    # When skiffd serves again (its agent resumed the stop a little before).
    back = time.time() - stopping_ms / 1000
    [t] = wait_tasks(ecs, [arn], "STOPPED", timeout=30)
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "stop, then a crash", t
    assert t["containers"][0]["exitCode"] == 137, t["containers"]
    took = (t["executionStoppedAt"] - t["stoppingAt"]).total_seconds()
    # SIGKILL at the saved deadline, or as soon as the restarted agent
    # resumed when that was later (a slow restart on a loaded host); a fresh
    # stopTimeout after the restart would take 10 s more than that.
    assert 9.5 <= took < max(10, back) + 4, (took, back)
    assert_no_leftovers(s)


def test_pull_failure_has_no_runtime_id(daemons):
    """An image that cannot be pulled: TaskFailedToStart, the reason, and
    no runtimeId for a container the runtime never created, nor for its
    sibling that was never created either; after a restart too."""
    s = daemons.start()
    ecs = s.client()
    register(ecs, "nopull", [
        container("ok", ["true"], essential=False),
        container("bad", ["true"], image="127.0.0.1:1/nothing/here:v1")])
    [arn] = run(ecs, "nopull")
    [t] = wait_tasks(ecs, [arn], "STOPPED", timeout=90)
    assert t["stopCode"] == "TaskFailedToStart", t
    bad = [c for c in t["containers"] if c["name"] == "bad"][0]
    assert bad["reason"].startswith("CannotPullContainerError:"), bad
    for c in t["containers"]:
        assert "runtimeId" not in c and "exitCode" not in c, c
        assert c["lastStatus"] == "STOPPED", c
    s.kill9()
    s.start()
    [t] = describe(ecs, [arn])
    for c in t["containers"]:
        assert "runtimeId" not in c, c

    # A task that did start keeps its runtime ids after the stop.
    register(ecs, "pulled", [container("main", ["true"])])
    [arn] = run(ecs, "pulled")
    [t] = wait_tasks(ecs, [arn], "STOPPED", timeout=30)
    assert t["containers"][0]["runtimeId"] and t["containers"][0]["exitCode"] == 0, t
    assert_no_leftovers(s)
