"""The task metadata endpoint (Fargate's v4, docs/metadata.md), from inside
tasks: busybox wget of ${ECS_CONTAINER_METADATA_URI_V4}, /task, /stats and
/task/stats answers the task's own metadata (checked against DescribeTasks)
and Docker-shaped stats from its cgroups; another task's container id gets a
404, never that task's data; after a kill -9 and restart of skiffd the
endpoint answers again.

Each container saves what it fetched under /tmp/roundN/ when the test sends
it SIGUSR1; the test reads those files from the container's overlay upper
directory on the host."""
import json
import os
import signal
import time

import pytest

from tasks_util import (busybox_layout, container, container_state, daemons,  # noqa: F401
                        describe, log_lines, register, run, task_dir, task_id, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

# On each SIGUSR1: fetch every path into /tmp/rN, then rename it /tmp/roundN
# (the rename tells the test the round is complete). OTHER is another
# task's container endpoint (may be empty).
FETCHER = r"""
n=0
fetch() {
  n=$((n+1)); d=/tmp/r$n; mkdir -p $d
  echo "$ECS_CONTAINER_METADATA_URI_V4" > $d/uri
  wget -qO $d/self "$ECS_CONTAINER_METADATA_URI_V4"; echo $? > $d/self.rc
  wget -qO $d/task "$ECS_CONTAINER_METADATA_URI_V4/task"; echo $? > $d/task.rc
  wget -qO $d/stats "$ECS_CONTAINER_METADATA_URI_V4/stats"; echo $? > $d/stats.rc
  wget -qO $d/taskstats "$ECS_CONTAINER_METADATA_URI_V4/task/stats"; echo $? > $d/taskstats.rc
  wget -qO $d/own80 http://127.0.0.1/passwd; echo $? > $d/own80.rc
  if [ -n "$OTHER" ]; then
    wget -qO $d/other "$OTHER/task" 2>$d/other.err; echo $? > $d/other.rc
  fi
  mv $d /tmp/round$n
}
trap fetch USR1
trap 'exit 0' TERM
echo ready
while true; do sleep 0.1; done
"""

# The task's own server on port 80 of every address: the endpoint must not
# take the port from it.
SIDE = ["sh", "-c", "trap 'exit 0' TERM; httpd -p 80 -h /etc || exit 1; "
        "while true; do sleep 0.1; done"]


def fetch_round(s, arn, n, timeout=60):
    """Signals the task's main container and waits for /tmp/roundN; answers
    {name: text} of its files."""
    pid = container_state(s, arn)["pid"]
    os.kill(pid, signal.SIGUSR1)
    d = os.path.join(task_dir(s, arn), "rw", "c", "main", "upper", "tmp", "round%d" % n)
    deadline = time.time() + timeout
    while not os.path.isdir(d):
        assert time.time() < deadline, "no round %d from %s" % (n, arn)
        time.sleep(0.1)
    out = {}
    for name in os.listdir(d):
        with open(os.path.join(d, name), errors="replace") as f:
            out[name] = f.read()
    return out


def start_tasks(s, family, other_uri=""):
    ecs = s.client()
    register(ecs, family, [
        container("main", command=["sh", "-c", FETCHER],
                  environment=[{"name": "OTHER", "value": other_uri}],
                  logConfiguration={"logDriver": "awslogs", "options": {
                      "awslogs-group": "/meta", "awslogs-stream-prefix": "m",
                      "awslogs-region": "us-east-1", "awslogs-create-group": "true"}}),
        container("side", command=SIDE, essential=False, memory=128),
    ])
    [arn] = run(ecs, family)
    [t] = wait_tasks(ecs, [arn], "RUNNING", timeout=90)
    # RUNNING means started, not that the shell has set its trap yet (a
    # SIGUSR1 before it would end the shell).
    deadline = time.time() + 60
    while ("stdout", "ready") not in log_lines(s, arn):
        assert time.time() < deadline, "main never got ready: %r" % log_lines(s, arn)
        time.sleep(0.1)
    return t


def ok(files, name):
    assert files[name + ".rc"].strip() == "0", (name, files)
    return json.loads(files[name])


def check_task(meta, t):
    """The /task answer against DescribeTasks."""
    td = t["taskDefinitionArn"].rsplit("/", 1)[1]
    family, rev = td.split(":")
    assert meta["Cluster"] == t["clusterArn"]
    assert meta["TaskARN"] == t["taskArn"]
    assert meta["Family"] == family and meta["Revision"] == rev
    assert meta["DesiredStatus"] == "RUNNING" and meta["KnownStatus"] == "RUNNING"
    assert meta["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert meta["LaunchType"] == "FARGATE"
    assert meta["AvailabilityZone"] == t["availabilityZone"]
    for k in ("PullStartedAt", "PullStoppedAt"):
        assert meta[k].endswith("Z") and meta[k][:4] == "20" + meta[k][2:4], meta[k]
    by_name = {c["name"]: c for c in t["containers"]}
    assert sorted(c["Name"] for c in meta["Containers"]) == ["main", "side"]
    for c in meta["Containers"]:
        d = by_name[c["Name"]]
        assert c["DockerId"] == d["runtimeId"]
        assert c["ContainerARN"] == d["containerArn"]
        assert c["Image"] == d["image"]
        assert c["ImageID"] == d["imageDigest"]
        assert c["KnownStatus"] == "RUNNING" and c["DesiredStatus"] == "RUNNING"
        assert c["Type"] == "NORMAL"
        assert c["Labels"] == {
            "com.amazonaws.ecs.cluster": t["clusterArn"],
            "com.amazonaws.ecs.container-name": c["Name"],
            "com.amazonaws.ecs.task-arn": t["taskArn"],
            "com.amazonaws.ecs.task-definition-family": family,
            "com.amazonaws.ecs.task-definition-version": rev,
        }
        assert c["Networks"][0]["NetworkMode"] == "awsvpc"
        assert isinstance(c["Networks"][0]["IPv4Addresses"], list)
        assert c["CreatedAt"] <= c["StartedAt"]
    main = [c for c in meta["Containers"] if c["Name"] == "main"][0]
    side = [c for c in meta["Containers"] if c["Name"] == "side"][0]
    assert main["LogDriver"] == "awslogs" and main["LogOptions"]["awslogs-group"] == "/meta"
    assert side["Limits"] == {"CPU": 0, "Memory": 128}


def check_stats(st, docker_id, limit):
    assert st["id"] == docker_id
    assert st["read"].endswith("Z")
    assert st["memory_stats"]["usage"] > 0
    assert st["memory_stats"]["limit"] == limit
    assert isinstance(st["memory_stats"]["stats"], dict) and st["memory_stats"]["stats"]
    cpu = st["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] > 0
    assert cpu["system_cpu_usage"] > 0 and cpu["online_cpus"] >= 1
    assert "cpu_usage" in st["precpu_stats"]
    assert st["pids_stats"]["current"] >= 1


def test_own_metadata_and_stats_only(daemons):
    s = daemons.start()
    other = start_tasks(s, "meta-other")
    other_uri = "http://169.254.170.2:51679/v4/%s-0" % task_id(other["taskArn"])
    t = start_tasks(s, "meta-self", other_uri)
    ids = {c["name"]: c["runtimeId"] for c in t["containers"]}

    f = fetch_round(s, t["taskArn"], 1)
    assert f["own80.rc"].strip() == "0" and "root:x:0:0" in f["own80"], f
    assert f["uri"].strip() == "http://169.254.170.2:51679/v4/" + ids["main"]
    self_meta = ok(f, "self")
    assert self_meta["Name"] == "main" and self_meta["DockerId"] == ids["main"]
    assert self_meta["Labels"]["com.amazonaws.ecs.task-arn"] == t["taskArn"]
    check_task(ok(f, "task"), t)

    stats = ok(f, "stats")
    check_stats(stats, ids["main"], 512 << 20)
    all_stats = ok(f, "taskstats")
    assert sorted(all_stats) == sorted(ids.values())
    check_stats(all_stats[ids["main"]], ids["main"], 512 << 20)
    check_stats(all_stats[ids["side"]], ids["side"], 128 << 20)

    # Another task's container id: not found here, and never its data.
    assert f["other.rc"].strip() != "0", f
    assert "404" in f["other.err"], f
    assert other["taskArn"] not in f.get("other", "")

    # precpu_stats is the previous reading of the same container.
    f2 = fetch_round(s, t["taskArn"], 2)
    stats2 = ok(f2, "stats")
    assert stats2["preread"] != "0001-01-01T00:00:00Z"
    assert stats2["precpu_stats"]["system_cpu_usage"] <= stats2["cpu_stats"]["system_cpu_usage"]

    # The other task sees its own metadata through its own endpoint.
    fo = fetch_round(s, other["taskArn"], 1)
    assert ok(fo, "task")["TaskARN"] == other["taskArn"]

    # Stopped: the endpoint goes with the namespace (and nothing is left,
    # which the fixture checks).
    ecs = s.client()
    ecs.stop_task(cluster="default", task=t["taskArn"])
    ecs.stop_task(cluster="default", task=other["taskArn"])
    wait_tasks(ecs, [t["taskArn"], other["taskArn"]], "STOPPED", timeout=90)


def test_endpoint_survives_kill9(daemons):
    s = daemons.start()
    t = start_tasks(s, "meta-restart")
    check_task(ok(fetch_round(s, t["taskArn"], 1), "task"), t)

    s.kill9()
    s.start()
    ecs = s.client()
    [t2] = describe(ecs, [t["taskArn"]])
    assert t2["lastStatus"] == "RUNNING"
    f = fetch_round(s, t["taskArn"], 2)
    check_task(ok(f, "task"), t2)
    assert ok(f, "stats")["memory_stats"]["usage"] > 0

    ecs.stop_task(cluster="default", task=t["taskArn"])
    wait_tasks(ecs, [t["taskArn"]], "STOPPED", timeout=90)
