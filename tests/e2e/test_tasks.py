"""RunTask, StopTask, DescribeTasks and ListTasks with real containers
(conmon + crun), through /usr/bin/aws and boto3: task lifecycles and their
documents, stop semantics, RunTask validation, clientToken idempotency,
listing and describing, cluster counts, tenant isolation, capacity waits
and image pull failures.

Most tests share one skiffd (module scope) and use their own families and
clusters; test_zz_no_leftovers checks that the module's tasks left nothing
on the host."""
import concurrent.futures
import json
import os
import time
import uuid

import botocore.exceptions
import pytest

import sigv4_client
from tasks_util import (IMAGE, assert_no_leftovers, busybox_layout, check_shape,  # noqa: F401
                        container, daemons, describe, log_lines, loop, register, run, shared_daemon,
                        stop_all_tasks, task_dir, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

TIMES = ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt",
         "executionStoppedAt", "stoppedAt")
ORDER = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
         "DEPROVISIONING", "STOPPED")


@pytest.fixture(scope="module")
def s(shared_daemon):
    return shared_daemon


@pytest.fixture(scope="module")
def ecs(s):
    return s.client()


def raw_describe(s, arns, cluster="default"):
    """DescribeTasks (with TAGS) as sent, checked against the model."""
    r = sigv4_client.for_profile(s).call("DescribeTasks", {
        "cluster": cluster, "tasks": arns, "include": ["TAGS"]})
    assert r.status == 200, r
    check_shape(r.json, "DescribeTasksResponse")
    return r.json


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def check_times(t):
    times = [t[k] for k in TIMES]
    assert times == sorted(times), [(k, t[k].isoformat()) for k in TIMES]


def check_versions(seen):
    """Statuses seen in lifecycle order, each change with a higher version."""
    statuses = [st for st, _ in seen]
    assert [ORDER.index(x) for x in statuses] == sorted(ORDER.index(x) for x in statuses), seen
    versions = [v for _, v in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions), seen


# ---------------------------------------------------------------- lifecycles

def test_echo_task_exits_zero_with_output_and_times(s, ecs):
    td = register(ecs, "echo", [container(command=[
        "sh", "-c", "echo hello from $GREETING; echo to-stderr >&2"],
        environment=[{"name": "GREETING", "value": "skiff"}])])
    rc, out, err = s.aws("ecs", "run-task", "--task-definition", "echo", "--launch-type",
                         "FARGATE", "--started-by", "echo-test")
    assert rc == 0, err
    [t0] = out["tasks"]
    arn = t0["taskArn"]
    assert t0["lastStatus"] == "PROVISIONING" and t0["desiredStatus"] == "RUNNING"
    assert t0["taskDefinitionArn"] == td and t0["startedBy"] == "echo-test"
    assert t0["cpu"] == "256" and t0["memory"] == "512" and t0["launchType"] == "FARGATE"
    assert t0["group"] == "family:echo"
    seen = {arn: [(t0["lastStatus"], t0["version"])]}
    [t] = wait_tasks(ecs, [arn], "STOPPED", seen=seen)
    check_versions(seen[arn])
    assert t["version"] > t0["version"]
    rc, out, err = s.aws("ecs", "wait", "tasks-stopped", "--tasks", arn, timeout=30)
    assert rc == 0, err

    assert t["desiredStatus"] == "STOPPED"
    assert t["stopCode"] == "EssentialContainerExited", t
    assert "Essential container in task exited" in t["stoppedReason"]
    check_times(t)
    [c] = t["containers"]
    assert c["name"] == "main" and c["lastStatus"] == "STOPPED" and c["exitCode"] == 0, c
    assert c["image"] == IMAGE and c["imageDigest"].startswith("sha256:")
    assert c["runtimeId"].startswith(arn.rsplit("/", 1)[1]), c
    assert log_lines(s, arn) == [("stdout", "hello from skiff"), ("stderr", "to-stderr")]
    doc = raw_describe(s, [arn])["tasks"][0]
    assert isinstance(doc["createdAt"], float) and doc["version"] == t["version"]
    # Stopping a stopped task answers it unchanged.
    again = ecs.stop_task(task=arn, reason="too late")["task"]
    assert again["stopCode"] == "EssentialContainerExited" and again["version"] == t["version"]
    assert again["stoppedReason"] == t["stoppedReason"]


def test_nonzero_exit_code_reported(s, ecs):
    register(ecs, "exits", [container(command=["sh", "-c", "exit 0"])])
    # The strategy's first provider with a weight names the capacity provider.
    [arn] = run(ecs, "exits", overrides={"containerOverrides": [
        {"name": "main", "command": ["sh", "-c", "echo failing; exit 42"]}]},
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 0},
                                  {"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    [t] = wait_tasks(ecs, [arn], "STOPPED")
    assert t["capacityProviderName"] == "FARGATE_SPOT" and t["launchType"] == "FARGATE"
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["containers"][0]["exitCode"] == 42, t["containers"]
    assert t["overrides"]["containerOverrides"][0]["command"][-1].endswith("exit 42")
    check_times(t)
    assert log_lines(s, arn) == [("stdout", "failing")]


def test_stop_task_sigterm_honoured(s, ecs):
    # Two essential containers: one exits 0 on SIGTERM, the other 143.
    register(ecs, "sigterm", [container("zero", loop(0)), container("minus", loop(143))])
    [arn] = run(ecs, "sigterm")
    rc, out, err = s.aws("ecs", "wait", "tasks-running", "--tasks", arn, timeout=30)
    assert rc == 0, err
    [t] = describe(ecs, [arn])
    raw_describe(s, [arn])
    assert t["lastStatus"] == "RUNNING" and t["startedAt"] >= t["pullStoppedAt"]
    assert {c["lastStatus"] for c in t["containers"]} == {"RUNNING"}
    assert all("exitCode" not in c for c in t["containers"])
    reason = "stopped by the sigterm test"
    t_stop = time.time()
    out = ecs.stop_task(task=arn, reason=reason)["task"]
    assert out["desiredStatus"] == "STOPPED" and out["stoppedReason"] == reason
    [t] = wait_tasks(ecs, [arn], "STOPPED")
    # The default stopTimeout is 30 s: the trap, not a SIGKILL, ended them.
    assert time.time() - t_stop < 20
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == reason, t
    codes = {c["name"]: c.get("exitCode") for c in t["containers"]}
    assert codes == {"zero": 0, "minus": 143}, t["containers"]
    check_times(t)
    for ctr in ("zero", "minus"):
        assert log_lines(s, arn, ctr) == [("stdout", "ready"), ("stdout", "got-term")]


def test_sigterm_ignored_is_killed_after_stop_timeout(s, ecs):
    register(ecs, "stubborn", [container(command=[
        "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"],
        stopTimeout=2)])
    [arn] = run(ecs, "stubborn")
    wait_tasks(ecs, [arn], "RUNNING")
    t_stop = time.time()
    ecs.stop_task(task=arn)
    [t] = wait_tasks(ecs, [arn], "STOPPED")
    elapsed = time.time() - t_stop
    assert 1.9 <= elapsed < 10, elapsed
    [c] = t["containers"]
    assert c["exitCode"] == 137, c
    assert "OutOfMemory" not in c.get("reason", "")
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "Task stopped by user"
    killed_after = (t["executionStoppedAt"] - t["stoppingAt"]).total_seconds()
    assert 1.9 <= killed_after < 6, killed_after


def test_image_not_present_fails_to_start(s, ecs):
    register(ecs, "nopull", [container(image="127.0.0.1:1/nope:latest")])
    [arn] = run(ecs, "nopull")
    [t] = wait_tasks(ecs, [arn], "STOPPED")
    raw_describe(s, [arn])
    assert t["stopCode"] == "TaskFailedToStart", t
    [c] = t["containers"]
    assert c["reason"].startswith("CannotPullContainerError"), c
    assert "127.0.0.1:1/nope:latest" in c["reason"]
    assert "exitCode" not in c and "startedAt" not in t
    assert t["stoppedReason"].startswith("CannotPullContainerError")


# ---------------------------------------------------------------- validation

def test_run_task_validation(s, ecs):
    register(ecs, "valid", [container(command=["true"])])
    gone = register(ecs, "valid", [container(command=["false"])])
    ecs.deregister_task_definition(taskDefinition=gone)
    base = {"cluster": "default", "taskDefinition": "valid:1"}
    cases = [
        ({"count": 0}, "InvalidParameterException"),
        ({"count": 11}, "InvalidParameterException"),
        ({"launchType": "EC2"}, "InvalidParameterException"),
        ({"launchType": "FARGATE",
          "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]},
         "InvalidParameterException"),
        ({"capacityProviderStrategy": [{"capacityProvider": "my-asg", "weight": 1}]},
         "InvalidParameterException"),
        ({"overrides": {"containerOverrides": [{"name": "ghost", "command": ["true"]}]}},
         "InvalidParameterException"),
        ({"overrides": {"cpu": "256", "memory": "4096"}}, "ClientException"),
        ({"overrides": {"cpu": "3000"}}, "ClientException"),
        ({"overrides": {"memory": "lots"}}, "InvalidParameterException"),
        ({"taskDefinition": gone}, "ClientException"),
        ({"taskDefinition": "no-such-family"}, "ClientException"),
        ({"taskDefinition": "valid:99"}, "ClientException"),
        ({"cluster": "no-such-cluster"}, "ClusterNotFoundException"),
        ({"startedBy": "bad chars!"}, "InvalidParameterException"),
        ({"placementConstraints": [{"type": "distinctInstance"}]}, "InvalidParameterException"),
        ({"placementStrategy": [{"type": "spread", "field": "instanceId"}]},
         "InvalidParameterException"),
        ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 0}]},
         "InvalidParameterException"),
        ({"propagateTags": "SERVICE"}, "InvalidParameterException"),
        ({"enableExecuteCommand": True}, "InvalidParameterException"),
        ({"platformVersion": "1.3.0"}, "PlatformUnknownException"),
        ({"tags": [{"key": "aws:owner", "value": "me"}]}, "InvalidParameterException"),
    ]
    before = ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] + ecs.list_tasks()["taskArns"]
    for extra, code in cases:
        req = dict(base, **extra)
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            ecs.run_task(**req)
        assert error_code(ei) == code, (extra, ei.value.response["Error"])
    after = ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] + ecs.list_tasks()["taskArns"]
    assert sorted(after) == sorted(before)


# ---------------------------------------------------------------- clientToken

def test_client_token_idempotent_under_concurrency(s, ecs):
    register(ecs, "token", [container(command=loop(0))])
    raw = sigv4_client.for_profile(s)
    token = uuid.uuid4().hex
    body = {"cluster": "default", "taskDefinition": "token", "launchType": "FARGATE",
            "startedBy": "token-test", "clientToken": token}

    def call(_):
        r = raw.call("RunTask", body)
        assert r.status == 200, r
        check_shape(r.json, "RunTaskResponse")
        return [t["taskArn"] for t in r.json["tasks"]]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    assert len(answers[0]) == 1 and all(a == answers[0] for a in answers), answers
    [arn] = answers[0]
    assert ecs.list_tasks(startedBy="token-test")["taskArns"] == [arn]

    # The same token with other parameters is refused; nothing new runs.
    for change in ({"startedBy": "token-test-2"}, {"count": 2}, {"group": "other"}):
        r = raw.call("RunTask", dict(body, **change))
        assert r.status == 400 and r.type == "ConflictException", r
    # A retry after all that still answers the same task, even once its
    # task definition is gone and the task has stopped.
    assert call(0) == [arn]
    wait_tasks(ecs, [arn], "RUNNING")
    ecs.deregister_task_definition(taskDefinition="token:1")
    assert call(0) == [arn]
    ecs.stop_task(task=arn)
    wait_tasks(ecs, [arn], "STOPPED")
    assert call(0) == [arn]
    # Without the token the same request is refused: the definition is gone.
    r = raw.call("RunTask", {k: v for k, v in body.items() if k != "clientToken"})
    assert r.status == 400 and r.type == "ClientException", r
    assert ecs.list_tasks(startedBy="token-test", desiredStatus="STOPPED")["taskArns"] == [arn]
    assert ecs.list_tasks(startedBy="token-test-2", desiredStatus="STOPPED")["taskArns"] == []


# ---------------------------------------------------------------- list, describe

def test_list_and_describe(s, ecs):
    ecs.create_cluster(clusterName="lists")
    register(ecs, "lister", [container(command=["true"])],
             tags=[{"key": "team", "value": "blue"}])
    register(ecs, "other-family", [container(command=loop(0))])
    arns = sorted(run(ecs, "lister", cluster="lists", count=3, startedBy="lister-x",
                      propagateTags="TASK_DEFINITION", tags=[{"key": "run", "value": "1"}]))
    [other] = run(ecs, "other-family", cluster="lists", startedBy="lister-y")
    wait_tasks(ecs, arns, "STOPPED", cluster="lists")
    wait_tasks(ecs, [other], "RUNNING", cluster="lists")

    def listed(**kw):
        return sorted(ecs.list_tasks(cluster="lists", **kw)["taskArns"])

    assert listed() == [other]
    assert listed(desiredStatus="STOPPED") == arns
    assert listed(desiredStatus="STOPPED", family="lister") == arns
    assert listed(family="lister") == []
    assert listed(desiredStatus="STOPPED", family="other-family") == []
    assert listed(startedBy="lister-y") == [other]
    assert listed(desiredStatus="STOPPED", startedBy="lister-x") == arns
    assert listed(desiredStatus="STOPPED", startedBy="lister-y") == []
    assert listed(launchType="FARGATE") == [other]
    assert listed(launchType="EC2") == []
    # ECS never sets a desired status of PENDING.
    assert listed(desiredStatus="PENDING") == []
    assert ecs.list_tasks(cluster="default", family="lister")["taskArns"] == []

    # Pagination: the CLI pages with maxResults 1 and joins the pages; with
    # --max-items it hands out a token to go on from.
    rc, out, err = s.aws("ecs", "list-tasks", "--cluster", "lists", "--desired-status",
                         "STOPPED", "--page-size", "1", check=True)
    assert out["taskArns"] == arns
    rc, out, err = s.aws("ecs", "list-tasks", "--cluster", "lists", "--desired-status",
                         "STOPPED", "--page-size", "1", "--max-items", "2", check=True)
    assert out["taskArns"] == arns[:2] and out["NextToken"]
    rc, out2, err = s.aws("ecs", "list-tasks", "--cluster", "lists", "--desired-status",
                          "STOPPED", "--page-size", "1", "--starting-token", out["NextToken"],
                          check=True)
    assert out2["taskArns"] == arns[2:] and "NextToken" not in out2
    page = ecs.list_tasks(cluster="lists", desiredStatus="STOPPED", maxResults=3)
    assert sorted(page["taskArns"]) == arns and "nextToken" not in page

    # DescribeTasks: ids or ARNs; an unknown one is a MISSING failure.
    ids = [a.rsplit("/", 1)[1] for a in arns]
    missing = "0" * 32
    out = ecs.describe_tasks(cluster="lists", tasks=[ids[0], arns[1], missing],
                             include=["TAGS"])
    assert [t["taskArn"] for t in out["tasks"]] == arns[:2]
    [f] = out["failures"]
    assert f["reason"] == "MISSING" and f["arn"].endswith("task/lists/" + missing)
    for t in out["tasks"]:
        assert sorted((x["key"], x["value"]) for x in t["tags"]) == \
            [("run", "1"), ("team", "blue")]
        assert t["containers"][0]["exitCode"] == 0
    out = ecs.describe_tasks(cluster="lists", tasks=[arns[0]])
    assert "tags" not in out["tasks"][0] or out["tasks"][0]["tags"] == []
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecs.describe_tasks(cluster="lists", tasks=[])
    assert error_code(ei) == "InvalidParameterException"
    # A task of another cluster is missing from this one.
    out = ecs.describe_tasks(cluster="default", tasks=[arns[0]])
    assert out["tasks"] == [] and out["failures"][0]["reason"] == "MISSING"
    ecs.stop_task(cluster="lists", task=other)
    wait_tasks(ecs, [other], "STOPPED", cluster="lists")


def test_cluster_counts_and_delete_with_tasks(s, ecs):
    ecs.create_cluster(clusterName="counted")
    register(ecs, "counted", [container(command=loop(0))])
    arns = run(ecs, "counted", cluster="counted", count=2)
    wait_tasks(ecs, arns, "RUNNING", cluster="counted")
    [c] = ecs.describe_clusters(clusters=["counted"])["clusters"]
    assert c["runningTasksCount"] == 2 and c["pendingTasksCount"] == 0, c
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecs.delete_cluster(cluster="counted")
    assert error_code(ei) == "ClusterContainsTasksException"
    for a in arns:
        ecs.stop_task(cluster="counted", task=a)
    wait_tasks(ecs, arns, "STOPPED", cluster="counted")
    [c] = ecs.describe_clusters(clusters=["counted"])["clusters"]
    assert c["runningTasksCount"] == 0 and c["pendingTasksCount"] == 0, c
    assert ecs.delete_cluster(cluster="counted")["cluster"]["status"] == "INACTIVE"


# ---------------------------------------------------------------- tenancy

def test_other_account_cannot_touch_task(s, ecs):
    register(ecs, "private", [container(command=loop(0))])
    [arn] = run(ecs, "private")
    wait_tasks(ecs, [arn], "RUNNING")
    s.add_profile("tasks-other", "210987654321", "AKIATASKSOTHER000001", "tasks-other-secret")
    other = s.client(profile="tasks-other")

    def reloaded():
        try:
            return other.list_clusters() is not None
        except botocore.exceptions.ClientError:
            return False
    assert sigv4_client.wait_until(reloaded, timeout=10, interval=0.1)
    other.create_cluster(clusterName="default")
    cluster_arn = arn.rsplit("/", 1)[0].replace(":task/", ":cluster/")

    out = other.describe_tasks(cluster="default", tasks=[arn], include=["TAGS"])
    assert out["tasks"] == [] and out["failures"][0]["reason"] == "MISSING"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.describe_tasks(cluster=cluster_arn, tasks=[arn])
    assert error_code(ei) == "ClusterNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.stop_task(cluster="default", task=arn, reason="hostile")
    assert error_code(ei) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.stop_task(cluster=cluster_arn, task=arn, reason="hostile")
    assert error_code(ei) == "ClusterNotFoundException"
    assert other.list_tasks(cluster="default")["taskArns"] == []
    assert other.list_tasks(cluster="default", desiredStatus="STOPPED")["taskArns"] == []
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.list_tasks(cluster=cluster_arn)
    assert error_code(ei) == "ClusterNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.tag_resource(resourceArn=arn, tags=[{"key": "owned", "value": "yes"}])
    assert error_code(ei) in ("ResourceNotFoundException", "InvalidParameterException")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        other.list_tags_for_resource(resourceArn=arn)
    assert error_code(ei) in ("ResourceNotFoundException", "InvalidParameterException")
    # The CLI with the other profile gets the same.
    rc, out, err = s.aws("ecs", "describe-tasks", "--tasks", arn, profile="tasks-other")
    assert rc == 0 and out["tasks"] == [], (out, err)

    # Untouched: still running, no stop reason, no tag.
    [t] = describe(ecs, [arn], include=["TAGS"])
    assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING", t
    assert "stoppedReason" not in t and t.get("tags", []) == []
    ecs.stop_task(task=arn)
    wait_tasks(ecs, [arn], "STOPPED")


# ---------------------------------------------------------------- capacity

def test_waits_for_capacity_then_starts(s, ecs):
    """The host advertises its 2 cores as 2048 CPU units: a 2 vCPU task
    waits while a 1 vCPU task runs and starts when it stops."""
    ncpu = os.cpu_count()
    register(ecs, "half", [container(command=loop(0))], cpu=str(ncpu * 512),
             memory=str(ncpu * 1024))
    register(ecs, "whole", [container(command=loop(0))], cpu=str(ncpu * 1024),
             memory=str(ncpu * 2048))
    [half] = run(ecs, "half")
    wait_tasks(ecs, [half], "RUNNING")
    [whole] = run(ecs, "whole")
    time.sleep(1.5)
    [t] = describe(ecs, [whole])
    assert t["lastStatus"] == "PROVISIONING" and "pullStartedAt" not in t, t
    [c] = ecs.describe_clusters(clusters=["default"])["clusters"]
    assert c["pendingTasksCount"] == 1 and c["runningTasksCount"] == 1, c
    ecs.stop_task(task=half)
    wait_tasks(ecs, [half], "STOPPED")
    wait_tasks(ecs, [whole], "RUNNING", timeout=60)
    ecs.stop_task(task=whole)
    wait_tasks(ecs, [whole], "STOPPED")


def test_never_overcommits(s, ecs):
    """Five 1 vCPU tasks on a 2-core host: at most two hold capacity at any
    time (from placement to STOPPED, which contains pullStartedAt to
    stoppedAt), and all of them run in the end."""
    ncpu = os.cpu_count()
    register(ecs, "waves", [container(command=["sh", "-c", "sleep 0.5"])], cpu="1024",
             memory="2048")
    arns = run(ecs, "waves", count=5)
    tasks = wait_tasks(ecs, arns, "STOPPED", timeout=60)
    spans = []
    for t in tasks:
        assert t["stopCode"] == "EssentialContainerExited", t
        assert t["containers"][0]["exitCode"] == 0
        spans.append((t["pullStartedAt"], t["stoppedAt"]))
    most = max(sum(1 for b, e in spans if b <= start < e) for start, _ in spans)
    assert most <= ncpu, spans
    assert most >= 2 or ncpu < 2, spans


def test_too_large_for_host_fails_after_placement_timeout(daemons):
    s = daemons.start("--placement-timeout", "6")
    ecs = s.client()
    ecs.create_cluster(clusterName="big")
    # The largest Fargate size: 16 vCPU, 120 GiB; this host has less.
    register(ecs, "huge", [container(command=loop(0))], cpu="16384", memory="122880")
    t_run = time.time()
    [arn, stopped] = run(ecs, "huge", cluster="big", count=2)
    time.sleep(1)
    for t in describe(ecs, [arn, stopped], cluster="big"):
        assert t["lastStatus"] == "PROVISIONING" and t["desiredStatus"] == "RUNNING", t
    [c] = ecs.describe_clusters(clusters=["big"])["clusters"]
    assert c["pendingTasksCount"] == 2 and c["runningTasksCount"] == 0, c
    # A waiting task stops at once when asked to, with the user's reason.
    ecs.stop_task(cluster="big", task=stopped, reason="no longer wanted")
    [t] = wait_tasks(ecs, [stopped], "STOPPED", cluster="big", timeout=15)
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "no longer wanted", t
    assert "pullStartedAt" not in t and "startedAt" not in t
    [t] = wait_tasks(ecs, [arn], "STOPPED", cluster="big", timeout=30)
    assert 5.9 <= time.time() - t_run < 20
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "apacity" in t["stoppedReason"], t
    assert "pullStartedAt" not in t and "startedAt" not in t
    assert t["stoppedAt"] >= t["createdAt"]
    assert not os.path.exists(task_dir(s, arn))
    [c] = ecs.describe_clusters(clusters=["big"])["clusters"]
    assert c["pendingTasksCount"] == 0


# ---------------------------------------------------------------- the end

def test_zz_no_leftovers(s):
    stop_all_tasks(s)
    assert_no_leftovers(s)
