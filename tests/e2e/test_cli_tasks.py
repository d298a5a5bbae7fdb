"""skiff run / ps / stop / inspect against a real skiffd: task definition
registration and reuse, RunTask, task IDs by prefix, table and JSON output
(JSON compared with the raw API answer), usage and API errors.

Where no agent runs tasks they stay PROVISIONING: the tests accept any
status a task can have before it stops, and the --attach tests skip while
the task does not leave PROVISIONING. Tasks that should keep running use an
image pushed to a local docker-registry, running a loop that ends on
SIGTERM; tasks that only need to exist use an image on a closed loopback
port, which fails to pull at once (nothing is fetched from outside the
host). Every test stops its tasks and waits for them before skiffd stops."""
import json
import os
import re
import subprocess
import time

import pytest

import registry as reg
import sigv4_client
from conftest import SKIFF
from registry import registry  # noqa: F401 (fixture)
from test_cli import clean_env, closed_port, skiff, skiff_json, table

ARN_RE = re.compile(r"^arn:aws:ecs:us-east-1:\d{12}:task/(?P<cluster>[^/]+)/(?P<id>[0-9a-f]{32})$")
NOT_STOPPED = {"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"}
# Members of a task that do not change once it exists.
STABLE = ("taskArn", "clusterArn", "taskDefinitionArn", "cpu", "memory", "launchType",
          "capacityProviderName", "createdAt", "group", "startedBy", "overrides",
          "platformVersion", "platformFamily", "ephemeralStorage", "availabilityZone",
          "enableExecuteCommand", "tags")
# Runs until StopTask's SIGTERM (busybox sh runs the trap between sleeps).
LOOP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
# An image no agent can pull (nothing listens there): a task of it stops
# at once where an agent runs, without any traffic off the host.
NOPULL = "127.0.0.1:%d/busybox" % closed_port()


def stop_all(s, timeout=60):
    """Stops every task of every cluster and waits until they are STOPPED."""
    ecs = s.client()
    clusters = ecs.list_clusters()["clusterArns"]
    pending = []
    for c in clusters:
        for arn in ecs.get_paginator("list_tasks").paginate(
                cluster=c, desiredStatus="RUNNING").build_full_result()["taskArns"]:
            ecs.stop_task(cluster=c, task=arn, reason="test teardown")
        for status in ("RUNNING", "STOPPED"):
            pending += [(c, a) for a in ecs.get_paginator("list_tasks").paginate(
                cluster=c, desiredStatus=status).build_full_result()["taskArns"]]
    deadline = time.time() + timeout
    while pending and time.time() < deadline:
        left = []
        for c, arn in pending:
            t = ecs.describe_tasks(cluster=c, tasks=[arn])["tasks"]
            if t and t[0]["lastStatus"] != "STOPPED":
                left.append((c, arn))
        pending = left
        if pending:
            time.sleep(0.2)
    assert not pending, "tasks did not stop: %r" % pending


@pytest.fixture
def skiffd(make_skiffd):
    """conftest's skiffd, whose tasks are all stopped at the end (a task
    left running would outlive the daemon)."""
    s = make_skiffd("--throttle-read", "off", "--throttle-write", "off")
    yield s
    if s.proc:
        stop_all(s)


@pytest.fixture
def image(registry):
    """A busybox image in the local registry, without an entrypoint (so
    that a command is run as it is); its reference."""
    img = reg.Image([(reg.busybox_layer(), "gzip")], config={"Entrypoint": None,
                                                             "Cmd": ["sh"]})
    reg.Pusher(registry).image("skiff/busybox", "cli", img)
    return "%s/skiff/busybox:cli" % registry.host


def raw(skiffd):
    return sigv4_client.for_profile(skiffd)


def describe(skiffd, arns, cluster=None):
    body = {"tasks": arns}
    if cluster:
        body["cluster"] = cluster
    r = raw(skiffd).call("DescribeTasks", body)
    assert r.status == 200, r
    return r.json


def task_of(skiffd, arn, cluster=None):
    return describe(skiffd, [arn], cluster)["tasks"][0]


def run_arns(out):
    """The task ARNs `skiff run` printed, one per line, checked."""
    lines = out.split("\n")
    assert lines[-1] == "", out
    for line in lines[:-1]:
        assert ARN_RE.match(line), line
    return lines[:-1]


def run(skiffd, *args):
    rc, out, err = skiff(skiffd, "run", *args)
    assert rc == 0, err
    return run_arns(out)


def stable(task):
    return {k: v for k, v in task.items() if k in STABLE}


def task_id(arn):
    return arn.rsplit("/", 1)[1]


def wait_status(skiffd, arn, status, timeout=30):
    t = sigv4_client.wait_until(lambda: task_of(skiffd, arn)["lastStatus"] == status,
                                timeout=timeout, interval=0.1)
    assert t, task_of(skiffd, arn)


def taskdef(skiffd, ref):
    return skiffd.client().describe_task_definition(taskDefinition=ref)["taskDefinition"]


# --- run ----------------------------------------------------------------------

def test_run_registers_once_and_reuses(skiffd):
    acct = skiffd.profile()["account_id"]
    [arn] = run(skiffd, NOPULL, "--env", "A=1", "--env", "EMPTY=", "--cmd", "sh -c true")
    t = task_of(skiffd, arn)
    assert t["taskDefinitionArn"] == \
        "arn:aws:ecs:us-east-1:%s:task-definition/skiff-run-busybox:1" % acct
    assert t["lastStatus"] in NOT_STOPPED | {"STOPPED"} and t["launchType"] == "FARGATE"
    td = taskdef(skiffd, "skiff-run-busybox:1")
    assert td["cpu"] == "256" and td["memory"] == "512"
    assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"]
    [c] = td["containerDefinitions"]
    assert c["name"] == "busybox" and c["image"] == NOPULL and c["essential"] is True
    assert c["environment"] == [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""}]
    assert c["command"] == ["sh", "-c", "true"]

    # The same definition again: the latest revision is reused.
    [arn2] = run(skiffd, NOPULL, "--env", "A=1", "--env", "EMPTY=", "--cmd", "sh -c true")
    assert task_of(skiffd, arn2)["taskDefinitionArn"].endswith("skiff-run-busybox:1")
    assert arn2 != arn

    # Anything different is a new revision, and going back is another one:
    # only the latest ACTIVE revision is reused.
    for args, rev in ((["--env", "A=2", "--cmd", "sh -c true"], 2),
                      (["--env", "A=1", "--env", "EMPTY=", "--cmd", "sh -c true"], 3),
                      (["--env", "A=1", "--env", "EMPTY=", "--cmd", "sh -c true", "--cpu", "512",
                        "--memory", "1024"], 4),
                      (["--env", "A=1", "--env", "EMPTY=", "--cpu", "512", "--memory", "1024"], 5),
                      ([], 6),
                      ([], 6)):
        [a] = run(skiffd, NOPULL, *args)
        assert task_of(skiffd, a)["taskDefinitionArn"].endswith(":%d" % rev), args
    td = taskdef(skiffd, "skiff-run-busybox:5")
    assert td["cpu"] == "512" and td["memory"] == "1024"
    assert "command" not in td["containerDefinitions"][0]
    assert td["containerDefinitions"][0]["environment"] == \
        [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""}]
    assert taskdef(skiffd, "skiff-run-busybox:6")["containerDefinitions"][0]["environment"] == []

    # A revision registered by someone else with more in it is not reused.
    skiffd.client().register_task_definition(
        family="skiff-run-busybox", cpu="256", memory="512", networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        containerDefinitions=[{"name": "busybox", "image": NOPULL, "essential": True,
                               "portMappings": [{"containerPort": 80}]}])
    [a] = run(skiffd, NOPULL)
    assert task_of(skiffd, a)["taskDefinitionArn"].endswith(":8")
    # ... nor a deregistered one.
    skiffd.client().deregister_task_definition(taskDefinition="skiff-run-busybox:8")
    [a] = run(skiffd, NOPULL)
    assert task_of(skiffd, a)["taskDefinitionArn"].endswith(":9")


def test_run_name_and_args_after_double_dash(skiffd):
    # Global options may come after the image; ARGS after -- are kept word by word.
    rc, out, err = skiff(skiffd, "run", NOPULL, "--name", "my-job", "--output", "json", "-e",
                         "X=a b", "--", "sh", "-c", "exit 3", "--cpu")
    assert rc == 0, err
    answer = json.loads(out)
    [t] = answer["tasks"]
    assert answer["failures"] == []
    assert t["taskDefinitionArn"].endswith(":task-definition/my-job:1")
    td = taskdef(skiffd, "my-job")
    [c] = td["containerDefinitions"]
    assert c["name"] == "busybox"
    assert c["command"] == ["sh", "-c", "exit 3", "--cpu"]
    assert c["environment"] == [{"name": "X", "value": "a b"}]
    assert td["cpu"] == "256"


@pytest.mark.parametrize("image,family,container", [
    ("busybox", "skiff-run-busybox", "busybox"),
    ("docker.io/library/busybox:1.36", "skiff-run-busybox", "busybox"),
    ("127.0.0.1:5000/team/my.app:v1", "skiff-run-team-my-app", "team-my-app"),
    ("localhost/x@sha256:" + "ab" * 32, "skiff-run-x", "x"),
    ("registry.example.com/a/b/c", "skiff-run-a-b-c", "a-b-c"),
    ("ghcr.io/o/__x__", "skiff-run-o-__x__", "o-__x__"),
])
def test_run_family_from_image_name(skiffd, image, family, container):
    # RunTask fails (no such cluster) after the registration: no task
    # tries to pull these images.
    rc, out, err = skiff(skiffd, "run", image, "--cluster", "nope")
    assert rc == 1 and "ClusterNotFoundException" in err, err
    td = taskdef(skiffd, family)
    assert td["family"] == family
    assert td["containerDefinitions"][0]["name"] == container
    assert td["containerDefinitions"][0]["image"] == image


def test_run_json_count_and_clusters(skiffd):
    """A fresh skiffd has no cluster: run creates 'default' (and says so),
    but never a cluster it was told to use."""
    assert skiffd.client().list_clusters()["clusterArns"] == []
    rc, out, err = skiff(skiffd, "run", NOPULL, "--count", "3", "--output", "json")
    assert rc == 0, err
    assert err == "skiff: created the cluster 'default'\n"
    answer = json.loads(out)
    assert answer["failures"] == [] and len(answer["tasks"]) == 3
    arns = [t["taskArn"] for t in answer["tasks"]]
    assert all(ARN_RE.match(a).group("cluster") == "default" for a in arns)
    # The answer is the API's: every task as DescribeTasks shows it then.
    described = {t["taskArn"]: t for t in describe(skiffd, arns)["tasks"]}
    for t in answer["tasks"]:
        assert stable(t) == stable(described[t["taskArn"]])
        assert len(stable(t)) >= 10
    # No second note once it exists.
    rc, out, err = skiff(skiffd, "run", NOPULL)
    assert rc == 0 and err == ""

    rc, out, err = skiff(skiffd, "run", NOPULL, "--cluster", "nope")
    assert rc == 1 and out == ""
    assert err.startswith("skiff: ClusterNotFoundException: "), err
    assert [a.rsplit("/", 1)[1] for a in skiffd.client().list_clusters()["clusterArns"]] == \
        ["default"]
    skiffd.client().create_cluster(clusterName="other")
    [arn] = run(skiffd, NOPULL, "--cluster", "other")
    assert ARN_RE.match(arn).group("cluster") == "other"


def test_run_api_errors(skiffd):
    skiffd.client().create_cluster(clusterName="default")
    # Not a Fargate size: RegisterTaskDefinition refuses it.
    rc, out, err = skiff(skiffd, "run", NOPULL, "--cpu", "256", "--memory", "8192")
    assert rc == 1 and out == ""
    assert err.startswith("skiff: ClientException: "), err
    # An invalid family name.
    rc, out, err = skiff(skiffd, "run", NOPULL, "--name", "bad name")
    assert rc == 1 and out == ""
    assert "Exception: " in err
    # More tasks than RunTask starts at once.
    rc, out, err = skiff(skiffd, "run", NOPULL, "--count", "11")
    assert rc == 1 and out == ""
    assert err.startswith("skiff: InvalidParameterException: "), err


@pytest.mark.parametrize("args,message", [
    ([], "missing argument"),
    (["busybox", "echo", "hi"], "after '--'"),
    (["busybox", "--cmd", "echo", "--", "echo"], "not both"),
    (["busybox", "--cmd", "  "], "--cmd is empty"),
    (["busybox", "--env", "NOEQUALS"], "KEY=VALUE"),
    (["busybox", "--env", "=x"], "KEY=VALUE"),
    (["busybox", "--count", "0"], "positive number"),
    (["busybox", "--count", "2x"], "positive number"),
    (["busybox", "--attach", "--count", "2"], "--count"),
    (["busybox", "--memory"], "needs a value"),
    (["busybox", "--nope"], "unknown option"),
    ([":latest"], "names no image"),
])
def test_run_usage_errors(skiffd, args, message):
    dead = "http://127.0.0.1:%d" % closed_port()
    rc, out, err = skiff(skiffd, "run", *args, env=clean_env(skiffd, SKIFF_ENDPOINT=dead))
    assert rc == 2, (args, out, err)
    assert out == ""
    assert err.startswith("skiff: run: ") and message in err, err


def test_run_attach(skiffd, image):
    """--attach prints the ARN, follows the task and exits with the
    container's exit code. Without an agent the task never leaves
    PROVISIONING: then the test skips."""
    env = clean_env(skiffd)
    p = subprocess.Popen([SKIFF, "run", image, "--attach", "--", "sh", "-c", "echo hi; exit 3"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=skiffd.data_dir)
    try:
        line = p.stdout.readline()
        m = ARN_RE.match(line.strip())
        assert m, (line, p.stderr.read() if p.poll() is not None else "")
        arn = line.strip()
        left = sigv4_client.wait_until(
            lambda: task_of(skiffd, arn)["lastStatus"] != "PROVISIONING", timeout=20,
            interval=0.2)
        if not left:
            p.kill()
            p.wait()
            skiffd.client().stop_task(task=arn)
            pytest.skip("tasks stay PROVISIONING: skiffd runs no agent yet")
        rest, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    t = task_of(skiffd, arn)
    assert t["lastStatus"] == "STOPPED"
    assert t["containers"][0].get("exitCode") == 3, t
    assert p.returncode == 3, err
    # The container's output (streamed through the Logs API), then the code.
    assert rest == "hi\nexit code 3\n"
    # Status changes were reported as they were seen, ending with STOPPED.
    assert err.rstrip("\n").split("\n")[-1] == "skiff: task %s: STOPPED" % m.group("id"), err

    # In JSON, the stopped task's DescribeTasks answer.
    rc, out, err = skiff(skiffd, "run", image, "--attach", "--output", "json", "--cmd",
                         "sh -c true")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["tasks"][0]["lastStatus"] == "STOPPED"
    assert doc["tasks"][0]["containers"][0]["exitCode"] == 0


def test_run_attach_task_without_exit_code(skiffd):
    """A task that stops without an exit code (its image cannot be pulled):
    status 125 and the container's reason."""
    p = subprocess.Popen([SKIFF, "run", NOPULL, "--attach"], env=clean_env(skiffd),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=skiffd.data_dir)
    try:
        arn = p.stdout.readline().strip()
        assert ARN_RE.match(arn), arn
        left = sigv4_client.wait_until(
            lambda: task_of(skiffd, arn)["lastStatus"] != "PROVISIONING", timeout=20,
            interval=0.2)
        if not left:
            pytest.skip("tasks stay PROVISIONING: skiffd runs no agent yet")
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    t = task_of(skiffd, arn)
    assert t["lastStatus"] == "STOPPED" and "exitCode" not in t["containers"][0], t
    assert p.returncode == 125, err
    assert out == ""
    reason = t["containers"][0].get("reason") or t["stoppedReason"]
    assert "skiff: the task stopped without an exit code: %s\n" % reason in err
    assert NOPULL in reason


# --- ps -------------------------------------------------------------------------

def test_ps_table_all_and_json(skiffd, image):
    acct = skiffd.profile()["account_id"]
    [a] = run(skiffd, image, "--name", "alpha", "--", *LOOP)
    [b] = run(skiffd, image, "--name", "beta", "--cpu", "512", "--memory", "1024", "--", *LOOP)
    rc, out, err = skiff(skiffd, "ps")
    assert rc == 0, err
    rows = table(out)
    assert list(rows[0]) == ["TASK-ID", "FAMILY:REV", "STATUS", "DESIRED", "CPU", "MEMORY",
                             "STARTED"]
    # Newest first.
    assert [r["TASK-ID"] for r in rows] == [task_id(b), task_id(a)]
    assert rows[0]["FAMILY:REV"] == "beta:1" and rows[1]["FAMILY:REV"] == "alpha:1"
    assert (rows[0]["CPU"], rows[0]["MEMORY"]) == ("512", "1024")
    assert (rows[1]["CPU"], rows[1]["MEMORY"]) == ("256", "512")
    for r, arn in zip(rows, (b, a)):
        assert r["STATUS"] in NOT_STOPPED and r["DESIRED"] == "RUNNING"
        # The task may start between `ps` and this describe, so "-" (not started when the
        # table was taken) is only wrong when the table says RUNNING.
        if r["STARTED"] == "-":
            assert r["STATUS"] != "RUNNING", r
        else:
            assert re.match(r"^(\d+[smhd] ago|just now)$", r["STARTED"]), r
            assert task_of(skiffd, arn).get("startedAt") is not None

    # JSON: the DescribeTasks answer for the same tasks.
    doc = skiff_json(skiffd, "ps")
    assert [t["taskArn"] for t in doc["tasks"]] == [b, a]
    assert doc["failures"] == []
    direct = describe(skiffd, [b, a])
    assert [stable(t) for t in doc["tasks"]] == [stable(t) for t in direct["tasks"]]
    assert set(doc["tasks"][0]) - set(direct["tasks"][0]) <= {"stopCode", "stoppedReason",
                                                              "stoppingAt", "stoppedAt",
                                                              "executionStoppedAt"}

    # A stopped task leaves ps and shows in ps --all with its stop code.
    rc, out, err = skiff(skiffd, "stop", task_id(a))
    assert rc == 0, err
    wait_status(skiffd, a, "STOPPED")
    assert [r["TASK-ID"] for r in table(skiff(skiffd, "ps")[1])] == [task_id(b)]
    rc, out, err = skiff(skiffd, "ps", "--all")
    assert rc == 0, err
    rows = {r["TASK-ID"]: r for r in table(out)}
    assert list(rows[task_id(a)]) == ["TASK-ID", "FAMILY:REV", "STATUS", "DESIRED", "CPU",
                                      "MEMORY", "STARTED", "STOP-CODE", "EXIT-CODE"]
    ra, rb = rows[task_id(a)], rows[task_id(b)]
    assert (ra["STATUS"], ra["DESIRED"], ra["STOP-CODE"]) == ("STOPPED", "STOPPED",
                                                              "UserInitiated")
    codes = [str(c["exitCode"]) for c in task_of(skiffd, a)["containers"] if "exitCode" in c]
    assert ra["EXIT-CODE"] == (",".join(codes) or "-")
    assert rb["STOP-CODE"] == "-" and rb["EXIT-CODE"] == "-"
    doc = skiff_json(skiffd, "ps", "--all")
    assert sorted(t["taskArn"] for t in doc["tasks"]) == sorted([a, b])

    # Another cluster's tasks show with --cluster only.
    skiffd.client().create_cluster(clusterName="other")
    [c] = run(skiffd, image, "--cluster", "other", "--", *LOOP)
    assert [r["TASK-ID"] for r in table(skiff(skiffd, "ps", "--cluster", "other")[1])] == \
        [task_id(c)]
    assert [t["taskArn"] for t in skiff_json(skiffd, "ps", "--cluster", "other")["tasks"]] == [c]
    assert task_id(c) not in skiff(skiffd, "ps", "--all")[1]
    # The cluster may be named by its ARN as well.
    other_arn = "arn:aws:ecs:us-east-1:%s:cluster/other" % acct
    assert [r["TASK-ID"] for r in table(skiff(skiffd, "ps", "--cluster", other_arn)[1])] == \
        [task_id(c)]
    for arn, cluster in ((b, None), (c, "other")):
        args = ["stop", arn] + (["--cluster", cluster] if cluster else [])
        assert skiff(skiffd, *args)[0] == 0


def test_ps_empty_and_errors(skiffd):
    # No cluster at all: ListTasks' error.
    rc, out, err = skiff(skiffd, "ps")
    assert rc == 1 and out == ""
    assert err.startswith("skiff: ClusterNotFoundException: "), err
    skiffd.client().create_cluster(clusterName="default")
    rc, out, err = skiff(skiffd, "ps")
    assert rc == 0, err
    assert out.split() == ["TASK-ID", "FAMILY:REV", "STATUS", "DESIRED", "CPU", "MEMORY",
                           "STARTED"]
    assert skiff_json(skiffd, "ps", "--all") == {"tasks": [], "failures": []}
    for args in (["ps", "extra"], ["ps", "--cluster"], ["ps", "--bad"]):
        rc, out, err = skiff(skiffd, *args)
        assert rc == 2 and out == "" and err.startswith("skiff: ps: "), (args, err)


def test_ps_pages_and_batches(skiffd):
    """ListTasks answers 100 ARNs a page and DescribeTasks takes 100 tasks:
    105 tasks need two of each."""
    skiffd.client().create_cluster(clusterName="default")
    arns = []
    for _ in range(10):
        arns += run(skiffd, NOPULL, "--count", "10")
    arns += run(skiffd, NOPULL, "--count", "5")
    doc = skiff_json(skiffd, "ps", "--all")
    assert sorted(t["taskArn"] for t in doc["tasks"]) == sorted(arns)
    rows = table(skiff(skiffd, "ps", "--all")[1])
    assert sorted(r["TASK-ID"] for r in rows) == sorted(task_id(a) for a in arns)


# --- stop ---------------------------------------------------------------------------

def test_stop_by_id_prefix_and_arn(skiffd, image):
    arns = run(skiffd, image, "--count", "3", "--", *LOOP)
    ids = [task_id(a) for a in arns]
    # The shortest prefix no other task shares.
    def unique_prefix(i):
        for n in range(1, 33):
            p = ids[i][:n]
            if sum(1 for x in ids if x.startswith(p)) == 1:
                return p
    rc, out, err = skiff(skiffd, "stop", unique_prefix(0), "--reason", "by prefix")
    assert rc == 0, err
    assert out == ids[0] + "\n"
    t = task_of(skiffd, arns[0])
    assert t["desiredStatus"] == "STOPPED" and t["stoppedReason"] == "by prefix"
    assert t["stopCode"] == "UserInitiated"

    # A full ID and an ARN in one go; JSON holds each StopTask answer's task.
    doc = skiff_json(skiffd, "stop", ids[1], arns[2])
    assert [t["taskArn"] for t in doc["tasks"]] == arns[1:]
    assert all(t["desiredStatus"] == "STOPPED" for t in doc["tasks"])
    assert all(t["stoppedReason"] == "Task stopped by user" for t in doc["tasks"])

    # A stopped task is still found by prefix (ListTasks desiredStatus STOPPED).
    wait_status(skiffd, arns[0], "STOPPED")
    rc, out, err = skiff(skiffd, "stop", unique_prefix(0))
    assert rc == 0 and out == ids[0] + "\n", err


def test_stop_failures(skiffd, image):
    skiffd.client().create_cluster(clusterName="default")
    # 20 tasks: two share a first hex digit, so one digit is ambiguous.
    arns = run(skiffd, NOPULL, "--count", "10") + run(skiffd, NOPULL, "--count", "10")
    ids = [task_id(a) for a in arns]
    shared = next(d for d in "0123456789abcdef" if sum(i.startswith(d) for i in ids) > 1)
    n = sum(i.startswith(shared) for i in ids)
    rc, out, err = skiff(skiffd, "stop", shared)
    assert rc == 1 and out == ""
    assert err == "skiff: '%s' matches %d tasks: give more of the ID\n" % (shared, n)
    assert not any(task_of(skiffd, a).get("stopCode") == "UserInitiated" for a in arns)

    # A missing task does not keep the others from stopping.
    [arn] = run(skiffd, image, "--", *LOOP)
    rc, out, err = skiff(skiffd, "stop", "ffffffffffffffffffffffffffffffffff", task_id(arn),
                         "xyz")
    assert rc == 1
    assert out == task_id(arn) + "\n"
    assert err == ("skiff: no task matches 'ffffffffffffffffffffffffffffffffff'\n"
                   "skiff: no task matches 'xyz'\n")
    t = task_of(skiffd, arn)
    assert t["desiredStatus"] == "STOPPED" and t["stopCode"] == "UserInitiated"
    # An ARN goes to the API as it is.
    bogus = arns[1][:-32] + "0" * 32
    rc, out, err = skiff(skiffd, "stop", bogus)
    assert rc == 1 and err.startswith("skiff: InvalidParameterException: "), err
    # In another cluster the IDs are unknown.
    skiffd.client().create_cluster(clusterName="other")
    rc, out, err = skiff(skiffd, "stop", ids[1], "--cluster", "other")
    assert rc == 1 and err == "skiff: no task matches '%s' in cluster other\n" % ids[1]
    for args in (["stop"], ["stop", "--reason"], ["stop", "--bad", ids[1]]):
        rc, out, err = skiff(skiffd, *args)
        assert rc == 2 and out == "" and err.startswith("skiff: stop: "), (args, err)


# --- inspect --------------------------------------------------------------------------

def test_inspect_json_and_table(skiffd, image):
    [arn] = run(skiffd, image, "--name", "insp", "--", *LOOP)
    tid = task_id(arn)
    skiffd.client().tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "cli"}])

    # JSON by default: the task document, as DescribeTasks (with tags) answers it.
    for args in ([], ["--output", "json"]):
        rc, out, err = skiff(skiffd, "inspect", tid[:10], *args)
        assert rc == 0, err
        doc = json.loads(out)
        direct = raw(skiffd).call("DescribeTasks", {"tasks": [arn], "include": ["TAGS"]}).json
        [t] = direct["tasks"]
        assert stable(doc) == stable(t) and set(doc) <= set(t) | {"startedAt", "pullStartedAt",
                                                                  "pullStoppedAt", "connectivity",
                                                                  "connectivityAt"}
        assert doc["tags"] == [{"key": "team", "value": "cli"}]

    rc, out, err = skiff(skiffd, "inspect", arn, "--output", "table")
    assert rc == 0, err
    summary, containers = out.split("\n\n")
    kv = dict(re.split(r"\s{3,}", line, maxsplit=1) for line in summary.split("\n"))
    assert kv["ARN"] == arn and kv["TASK ID"] == tid and kv["CLUSTER"] == "default"
    assert kv["TASK DEFINITION"] == "insp:1"
    assert kv["STATUS"] in NOT_STOPPED and kv["DESIRED"] == "RUNNING"
    assert kv["CPU"] == "256" and kv["MEMORY"] == "512"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", kv["CREATED"])
    assert kv["STOP CODE"] == "-" and kv["STOPPED"] == "-"
    [c] = table(containers)
    assert c["CONTAINER"] == "skiff-busybox" and c["IMAGE"] == image
    assert c["STATUS"] in {"PENDING", "RUNNING"} and c["EXIT-CODE"] == "-"

    # Stopped: the stop code and reason, and each container's exit code.
    assert skiff(skiffd, "stop", tid, "--reason", "inspected")[0] == 0
    wait_status(skiffd, arn, "STOPPED")
    rc, out, err = skiff(skiffd, "inspect", tid, "--output", "table")
    assert rc == 0, err
    summary, containers = out.split("\n\n")
    kv = dict(re.split(r"\s{3,}", line, maxsplit=1) for line in summary.split("\n"))
    assert kv["STATUS"] == "STOPPED" and kv["STOP CODE"] == "UserInitiated"
    assert kv["STOPPED REASON"] == "inspected"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", kv["STOPPED"])
    [c] = table(containers)
    t = task_of(skiffd, arn)
    assert c["STATUS"] == t["containers"][0]["lastStatus"]
    assert c["EXIT-CODE"] == str(t["containers"][0].get("exitCode", "-"))
    assert c["REASON"] == t["containers"][0].get("reason", "-")


def test_inspect_errors(skiffd):
    rc, out, err = skiff(skiffd, "inspect", "abc")
    assert rc == 1 and err.startswith("skiff: ClusterNotFoundException: "), err
    skiffd.client().create_cluster(clusterName="default")
    rc, out, err = skiff(skiffd, "inspect", "abc")
    assert rc == 1 and out == "" and err == "skiff: no task matches 'abc'\n"
    [arn] = run(skiffd, NOPULL)
    missing = arn[:-32] + "0" * 32
    rc, out, err = skiff(skiffd, "inspect", missing)
    assert rc == 1 and out == "" and err == "skiff: %s: no such task\n" % missing
    for args in (["inspect"], ["inspect", "a", "b"], ["inspect", "--cluster"]):
        rc, out, err = skiff(skiffd, *args)
        assert rc == 2 and out == "" and err.startswith("skiff: inspect: "), (args, err)


def test_help_lists_task_commands(skiffd):
    rc, out, err = skiff(skiffd, "help")
    assert rc == 0
    commands = [l.split()[0] for l in out.split("Commands:\n")[1].split("\n\n")[0].split("\n")]
    assert commands == ["run", "ps", "stop", "inspect", "logs", "cost", "image", "cluster",
                        "taskdef", "service", "version", "help"]
    for cmd in ("run", "ps", "stop", "inspect"):
        rc, out, err = skiff(skiffd, cmd, "--help")
        assert rc == 0 and out.startswith("Usage: skiff %s" % cmd), (cmd, err)
        assert skiff(skiffd, "help", cmd)[1] == out
    assert "see skiff logs" in skiff(skiffd, "run", "--help")[1]
