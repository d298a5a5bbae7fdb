"""kill -9 of skiffd with 20 running tasks, then a restart on the same data
dir, run dir and cgroup parent: all 20 are still RUNNING with the same
container PIDs (and start times), a task that exited while skiffd was down
reports its real exit code, and StopTask stops every one of them."""
import os
import signal

import pytest

import sigv4_client
from tasks_util import (assert_no_leftovers, busybox_layout, container, container_state,  # noqa
                        daemons, describe, log_lines, loop, proc_start_time, register, run,
                        wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

EXITER = ["sh", "-c", "trap 'echo got-usr1; exit 42' USR1; trap 'exit 0' TERM; echo ready; "
          "while true; do sleep 0.1; done"]


def pids_of(s, arns):
    out = {}
    for a in arns:
        st = container_state(s, a)
        assert proc_start_time(st["pid"]) == st["pid_start"], (a, st)
        out[a] = (st["pid"], st["pid_start"])
    return out


def test_kill9_with_twenty_running_tasks(daemons):
    # 21 tasks of 0.25 vCPU need more than a 2-core host advertises.
    s = daemons.start("--node-capacity", "%d:%d" % (32 * 256, 32 * 512))
    ecs = s.client()
    register(ecs, "twenty", [container(command=loop(0))])
    register(ecs, "exiter", [container(command=EXITER)])
    arns = run(ecs, "twenty", count=10) + run(ecs, "twenty", count=10)
    [exiter] = run(ecs, "exiter")
    before = {t["taskArn"]: t for t in wait_tasks(ecs, arns + [exiter], "RUNNING", timeout=90)}
    pids = pids_of(s, arns + [exiter])
    assert len({p for p, _ in pids.values()}) == 21

    s.kill9()
    assert pids_of(s, arns + [exiter]) == pids
    os.kill(pids[exiter][0], signal.SIGUSR1)
    # The shell runs its trap once its current `sleep 0.1` is done: a fork
    # and an exec that took over 10 s once at load average 800.
    assert sigv4_client.wait_until(lambda: proc_start_time(pids[exiter][0]) is None, timeout=45)
    s.start()

    after = {t["taskArn"]: t for t in describe(ecs, arns)}
    for a in arns:
        assert after[a]["lastStatus"] == "RUNNING", after[a]
        assert after[a]["startedAt"] == before[a]["startedAt"]
        [c0], [c1] = before[a]["containers"], after[a]["containers"]
        assert c1["runtimeId"] == c0["runtimeId"] and c1["lastStatus"] == "RUNNING", c1
    assert pids_of(s, arns) == {a: pids[a] for a in arns}

    [t] = wait_tasks(ecs, [exiter], "STOPPED", timeout=30)
    assert t["stopCode"] == "EssentialContainerExited", t
    assert t["containers"][0]["exitCode"] == 42, t["containers"]
    assert log_lines(s, exiter) == [("stdout", "ready"), ("stdout", "got-usr1")]

    for a in arns:
        ecs.stop_task(task=a, reason="after the restart")
    for t in wait_tasks(ecs, arns, "STOPPED", timeout=60):
        assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "after the restart"
        assert t["containers"][0]["exitCode"] == 0, t["containers"]
    for a in arns:
        assert proc_start_time(pids[a][0]) != pids[a][1]
    assert_no_leftovers(s)
