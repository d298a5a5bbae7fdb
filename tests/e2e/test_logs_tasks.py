"""The awslogs log driver end to end: containers' stdout/stderr shipped
from the agent's CRI logs to the log store through the node protocol, read
back with the unmodified aws CLI (get-log-events, filter-log-events, tail
and tail --follow) while the task runs and after it stopped; the group
rules (awslogs-create-group); and 100,000 lines from one task stored all,
in order, exactly once across a kill -9 of skiffd while the task keeps
writing."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tasks_util import (container, daemons, busybox_layout, register, run,  # noqa: F401
                        task_id, wait_tasks, describe)

REGION = "us-east-1"


def awslogs(group, prefix="app", create=True):
    opts = {"awslogs-group": group, "awslogs-region": REGION, "awslogs-stream-prefix": prefix}
    if create:
        opts["awslogs-create-group"] = "true"
    return {"logDriver": "awslogs", "options": opts}


def register_logged(ecs, family, script):
    """A definition of one `sh -c script` container whose output goes to
    the awslogs group /skiff/FAMILY; answers its ARN."""
    return register(ecs, family, [container(command=["sh", "-c", script],
                                            logConfiguration=awslogs("/skiff/" + family))])


def stream_of(arn, name="main", prefix="app"):
    return "%s/%s/%s" % (prefix, name, task_id(arn))


def all_events(logs, group, stream):
    out, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, **kw)
        out += page["events"]
        if page["nextForwardToken"] == token:
            return out
        token = page["nextForwardToken"]


def wait_messages(logs, group, stream, want, timeout=30):
    """Polls until the stream holds at least `want` events; answers them."""
    deadline = time.time() + timeout
    while True:
        try:
            ev = all_events(logs, group, stream)
        except logs.exceptions.ResourceNotFoundException:
            ev = []
        if len(ev) >= want:
            return ev
        if time.time() > deadline:
            raise AssertionError("only %d of %d events in %s/%s" % (len(ev), want, group, stream))
        time.sleep(0.1)


def test_running_and_stopped_task(daemons):
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    # Lines on stdout and stderr, then it waits for StopTask.
    script = ("echo hello stdout; sleep 0.2; echo ERROR on stderr >&2; sleep 0.2; "
              "echo 'spaces  kept '; "
              "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done")
    td = register_logged(ecs, "logs-run", script)
    arn = run(ecs, td)[0]
    wait_tasks(ecs, [arn], "RUNNING")
    stream = stream_of(arn)
    ev = wait_messages(logs, "/skiff/logs-run", stream, 4)
    msgs = [e["message"] for e in ev]
    # stdout keeps its order; where the stderr line falls among them is the
    # order the monitor read the two pipes in.
    assert sorted(msgs) == sorted(["hello stdout", "ERROR on stderr", "spaces  kept ", "ready"])
    assert [m for m in msgs if m != "ERROR on stderr"] == ["hello stdout", "spaces  kept ", "ready"]
    assert all(abs(e["timestamp"] - time.time() * 1000) < 120000 for e in ev)
    assert [e["timestamp"] for e in ev] == sorted(e["timestamp"] for e in ev)

    # The aws CLI, unmodified, while the task runs.
    out = s.aws("logs", "get-log-events", "--log-group-name", "/skiff/logs-run",
                "--log-stream-name", stream, "--start-from-head", check=True)[1]
    assert [e["message"] for e in out["events"]] == msgs
    out = s.aws("logs", "filter-log-events", "--log-group-name", "/skiff/logs-run",
                "--filter-pattern", "ERROR", check=True)[1]
    assert [(e["logStreamName"], e["message"]) for e in out["events"]] == [
        (stream, "ERROR on stderr")]
    streams = s.aws("logs", "describe-log-streams", "--log-group-name", "/skiff/logs-run",
                    "--order-by", "LastEventTime", "--descending", check=True)[1]
    assert [x["logStreamName"] for x in streams["logStreams"]] == [stream]

    # tail --follow sees a line written after it started.
    follow = subprocess.Popen(
        ["/usr/bin/aws", "--endpoint-url", s.endpoint, "--region", REGION, "logs", "tail",
         "/skiff/logs-run", "--follow", "--since", "10m", "--format", "short"],
        env=s.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ecs.stop_task(cluster="default", task=arn, reason="test")
        wait_tasks(ecs, [arn], "STOPPED")
        got = []
        reader = threading.Thread(target=lambda: got.extend(iter(follow.stdout.readline, "")),
                                  daemon=True)
        reader.start()
        deadline = time.time() + 30
        while time.time() < deadline and not any(ln.endswith(" bye\n") for ln in list(got)):
            time.sleep(0.2)
        lines = [ln.rstrip("\n").split(" ", 1)[1] for ln in list(got)]
        # (the CLI strips trailing blanks)
        assert lines == [m.rstrip() for m in msgs] + ["bye"], got
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            follow.wait(timeout=10)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait()
        follow.stdout.close()
        follow.stderr.close()

    # After the stop: everything, through get-log-events and tail.
    ev = wait_messages(logs, "/skiff/logs-run", stream, 5)
    assert [e["message"] for e in ev] == msgs + ["bye"]
    rc, text, err = s.aws("logs", "tail", "/skiff/logs-run", "--since", "1h", "--format", "short")
    assert rc == 0, err
    assert [ln.split(" ", 1)[1] for ln in text.splitlines()] == [m.rstrip() for m in msgs] + [
        "bye"]


def test_group_must_exist_without_create_group(daemons):
    """Without awslogs-create-group the group must exist: otherwise the task
    fails as on ECS (ResourceInitializationError) and nothing is created."""
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    td = register(ecs, "logs-nogroup", [container(
        command=["sh", "-c", "echo one; sleep 30"],
        logConfiguration=awslogs("/skiff/absent", create=False))])
    arn = run(ecs, td)[0]
    t = wait_tasks(ecs, [arn], "STOPPED", timeout=60)[0]
    assert t["stopCode"] == "TaskFailedToStart", t
    assert t["stoppedReason"].startswith("ResourceInitializationError: failed to validate logger "
                                         "args"), t
    assert "log group does not exist" in t["stoppedReason"]
    assert logs.describe_log_groups(logGroupNamePrefix="/skiff/absent")["logGroups"] == []

    # With the group in place, the same definition runs and ships.
    logs.create_log_group(logGroupName="/skiff/absent")
    td = register(ecs, "logs-nogroup", [container(
        command=["sh", "-c", "echo one; echo two"],
        logConfiguration=awslogs("/skiff/absent", create=False))])
    arn = run(ecs, td)[0]
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    ev = wait_messages(logs, "/skiff/absent", stream_of(arn), 2, timeout=30)
    assert [e["message"] for e in ev] == ["one", "two"]


def test_containers_without_awslogs_ship_nothing(daemons):
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    td = register(ecs, "logs-two", [
        container("a", command=["sh", "-c", "echo from-a"], essential=False,
                  logConfiguration=awslogs("/skiff/logs-two")),
        container("b", command=["sh", "-c", "echo from-b; sleep 1"])])
    arn = run(ecs, td)[0]
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    ev = wait_messages(logs, "/skiff/logs-two", stream_of(arn, "a"), 1)
    assert [e["message"] for e in ev] == ["from-a"]
    time.sleep(1)
    streams = logs.describe_log_streams(logGroupName="/skiff/logs-two")["logStreams"]
    assert [x["logStreamName"] for x in streams] == [stream_of(arn, "a")]


def test_100k_lines_survive_kill9(daemons):
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    n = 100000
    # The first 30,000 lines, a pause long enough to kill skiffd and keep it
    # down while the rest is written, then 70,000 more.
    script = "seq 1 30000; sleep 4; seq 30001 %d; sleep 1" % n
    td = register_logged(ecs, "logs-100k", script)
    arn = run(ecs, td)[0]
    stream = stream_of(arn)
    wait_messages(logs, "/skiff/logs-100k", stream, 1, timeout=60)
    s.kill9()
    time.sleep(5)  # the container writes the other 70,000 lines meanwhile
    s.start(s.port)
    ecs, logs = s.client(), s.client("logs")
    wait_tasks(ecs, [arn], "STOPPED", timeout=120)
    ev = wait_messages(logs, "/skiff/logs-100k", stream, n, timeout=120)
    msgs = [e["message"] for e in ev]
    assert len(msgs) == n, "got %d lines" % len(msgs)
    assert msgs == [str(i) for i in range(1, n + 1)]
    stamps = [e["timestamp"] for e in ev]
    assert stamps == sorted(stamps)
    # Nothing more arrives later (no duplicate batch).
    time.sleep(1.5)
    assert len(all_events(logs, "/skiff/logs-100k", stream)) == n


def test_line_written_in_two_parts_is_one_event(daemons):
    """A line whose first part stays alone at the end of the log for a while
    (conmon writes it at once, tagged P) is one event once its end comes,
    however the shipper's reads fall: never the part on its own."""
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    script = "echo before; printf 'first half, '; sleep 2; echo 'second half'; echo after"
    td = register_logged(ecs, "logs-parts", script)
    arn = run(ecs, td)[0]
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    ev = wait_messages(logs, "/skiff/logs-parts", stream_of(arn), 3)
    time.sleep(1)
    msgs = [e["message"] for e in all_events(logs, "/skiff/logs-parts", stream_of(arn))]
    assert msgs == ["before", "first half, second half", "after"], msgs
    # The agent's own log has the line in two pieces, P then F.
    with open(os.path.join(s.data_dir, "tasks", task_id(arn), "logs", "main.log")) as f:
        tags = [line.split(" ", 3)[2] for line in f.read().splitlines()]
    assert tags == ["F", "P", "F", "F"], tags


def test_stopped_means_every_line_is_stored(daemons):
    """The agent reports STOPPED only once the shipper has stored the task's
    logs: read right after DescribeTasks shows STOPPED, the stream holds
    every line, even a last one without its newline (which the shipper
    otherwise holds back, waiting for its end)."""
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    td = register_logged(ecs, "logs-flush", "seq 1 3000; printf 'the end, no newline'")
    for _ in range(2):
        arn = run(ecs, td)[0]
        wait_tasks(ecs, [arn], "STOPPED", timeout=60)
        msgs = [e["message"] for e in all_events(logs, "/skiff/logs-flush", stream_of(arn))]
        assert msgs == [str(i) for i in range(1, 3001)] + ["the end, no newline"], msgs[-3:]
