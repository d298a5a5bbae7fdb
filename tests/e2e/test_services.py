"""Services with real containers (conmon + crun), through /usr/bin/aws and
boto3: the reconciler keeps desiredCount tasks alive and replaces ones that
die, scales in with stopCode ServiceSchedulerInitiated, rolls deployments
out within minimumHealthyPercent/maximumPercent, trips the circuit breaker
and rolls back, and survives kill -9 of skiffd mid-deployment without
duplicates. The aws CLI's services-stable and services-inactive waiters
are used as users would."""
import os
import signal
import time

import botocore.exceptions
import pytest

from tasks_util import (assert_no_leftovers, busybox_layout, check_shape, container,  # noqa: F401
                        container_state, daemons, loop, register, sanitizer_report)
from conftest import Skiffd  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

NOT_STOPPED = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
               "DEPROVISIONING")


def create(ecs, name, td, desired, **kw):
    kw.setdefault("launchType", "FARGATE")
    return ecs.create_service(cluster="default", serviceName=name, taskDefinition=td,
                              desiredCount=desired, **kw)["service"]


def describe(ecs, name):
    out = ecs.describe_services(cluster="default", services=[name])
    assert out["failures"] == [], out
    return out["services"][0]


def service_tasks(ecs, name, desired="RUNNING"):
    arns = []
    kw = {}
    while True:
        out = ecs.list_tasks(cluster="default", serviceName=name, desiredStatus=desired,
                             maxResults=100, **kw)
        arns += out["taskArns"]
        if not out.get("nextToken"):
            return arns
        kw["nextToken"] = out["nextToken"]


def list_services(ecs):
    """Every service ARN of the default cluster (ListServices pages by 10)."""
    arns, kw = [], {}
    while True:
        out = ecs.list_services(cluster="default", **kw)
        arns += out["serviceArns"]
        if not out.get("nextToken"):
            return arns
        kw["nextToken"] = out["nextToken"]


def describe_tasks(ecs, arns):
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster="default", tasks=arns[i:i + 100])["tasks"]
    return out


def all_tasks(ecs, name):
    """Every task of the service that is not purged, whatever its state."""
    arns = service_tasks(ecs, name, "RUNNING") + service_tasks(ecs, name, "STOPPED")
    # A task may move between the two lists while they are read.
    return describe_tasks(ecs, sorted(set(arns)))


def wait_stable(s, name, timeout=120):
    """aws ecs wait services-stable (polls every 15 s: fine for a result
    that is there already); a Python poll first so tests do not take 15 s
    per step, which also waits for the rollout to finish (tasks HEALTHY,
    when there is a health check: the waiter looks at counts only)."""
    ecs = s.client()
    deadline = time.time() + timeout
    while time.time() < deadline:
        svc = describe(ecs, name)
        if len(svc["deployments"]) == 1 and svc["runningCount"] == svc["desiredCount"] \
                and svc["pendingCount"] == 0 and (
                    svc["deployments"][0]["rolloutState"] != "IN_PROGRESS"
                    or svc["status"] != "ACTIVE"):
            break
        time.sleep(0.1)
    rc, out, err = s.aws("ecs", "wait", "services-stable", "--cluster", "default",
                         "--services", name, timeout=timeout)
    assert rc == 0, (err, describe(ecs, name))
    return describe(ecs, name)


def messages(svc):
    return [e["message"] for e in svc["events"]]


def wait_steady_event(ecs, name, timeout=30):
    """The service once its newest event is the steady state. That event
    can come up to a second after services-stable holds: the waiter looks
    at counts, the scheduler also wants the tasks to have run SVC_SETTLE_MS
    (src/sched/service.c)."""
    want = "(service %s) has reached a steady state." % name

    def steady():
        svc = describe(ecs, name)
        return messages(svc)[:1] == [want] and svc
    return wait_for(steady, timeout=timeout, what="the steady-state event")


def task_id(arn):
    return arn.rsplit("/", 1)[1]


def wait_for(cond, timeout=60, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def test_scale_0_3_1_0_and_delete(daemons):
    s = daemons.start()
    ecs = s.client()
    td = register(ecs, "web", [container(command=loop(0))])
    svc = create(ecs, "web", td, 0, tags=[{"key": "team", "value": "a"}],
                 propagateTags="SERVICE", enableECSManagedTags=True)
    assert svc["status"] == "ACTIVE" and svc["desiredCount"] == 0
    assert svc["deploymentConfiguration"]["maximumPercent"] == 200
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    [dep] = svc["deployments"]
    assert dep["status"] == "PRIMARY" and dep["id"].startswith("ecs-svc/")
    svc = wait_stable(s, "web")
    assert svc["runningCount"] == 0
    assert ecs.list_services(cluster="default")["serviceArns"] == [svc["serviceArn"]]

    ecs.update_service(cluster="default", service="web", desiredCount=3)
    svc = wait_stable(s, "web")
    assert svc["runningCount"] == 3
    arns = service_tasks(ecs, "web")
    assert len(arns) == 3
    tasks = describe_tasks(ecs, arns)
    for t in tasks:
        assert t["lastStatus"] == "RUNNING"
        assert t["startedBy"] == dep["id"] and t["group"] == "service:web"
    # The same network wiring as a RunTask task of the definition.
    [solo] = ecs.run_task(cluster="default", taskDefinition=td, launchType="FARGATE")["tasks"]
    ecs.stop_task(cluster="default", task=solo["taskArn"])
    assert [a["type"] for a in tasks[0]["attachments"]] == [
        a["type"] for a in solo["attachments"]]
    tags = ecs.list_tags_for_resource(resourceArn=arns[0])["tags"]
    assert {"key": "team", "value": "a"} in tags
    assert {"key": "aws:ecs:serviceName", "value": "web"} in tags
    assert {"key": "aws:ecs:clusterName", "value": "default"} in tags
    svc = wait_steady_event(ecs, "web")
    msgs = messages(svc)
    assert msgs[0] == "(service web) has reached a steady state."
    started = [m for m in msgs if m.startswith("(service web) has started 3 tasks:")]
    assert len(started) == 1 and all("(task %s)" % task_id(a) in started[0] for a in arns)

    ecs.update_service(cluster="default", service="web", desiredCount=1)
    svc = wait_stable(s, "web")
    [left] = service_tasks(ecs, "web")
    assert left in arns
    # Stable counts RUNNING tasks only: the scaled-in ones may still be on
    # their way down.
    gone_arns = [a for a in arns if a != left]
    wait_for(lambda: all(t["lastStatus"] == "STOPPED" for t in describe_tasks(ecs, gone_arns)),
             what="the scaled-in tasks to stop")
    gone = describe_tasks(ecs, gone_arns)
    for t in gone:
        assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "ServiceSchedulerInitiated", t
        assert t["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/")
    assert any(m.startswith("(service web) has stopped 2 running tasks:") for m in messages(svc))

    ecs.update_service(cluster="default", service="web", desiredCount=0)
    svc = wait_stable(s, "web")
    wait_for(lambda: describe_tasks(ecs, [left])[0]["lastStatus"] == "STOPPED",
             what="the last task to stop")
    [t] = describe_tasks(ecs, [left])
    assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "ServiceSchedulerInitiated"
    # Events are newest first.
    times = [e["createdAt"] for e in svc["events"]]
    assert times == sorted(times, reverse=True)

    # Deleting a service scaled above 0 needs force; DRAINING, then INACTIVE.
    ecs.update_service(cluster="default", service="web", desiredCount=2)
    wait_stable(s, "web")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.delete_service(cluster="default", service="web")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    out = ecs.delete_service(cluster="default", service="web", force=True)["service"]
    assert out["status"] == "DRAINING"
    rc, _, err = s.aws("ecs", "wait", "services-inactive", "--cluster", "default", "--services",
                       "web", timeout=120)
    assert rc == 0, err
    assert describe(ecs, "web")["status"] == "INACTIVE"
    assert ecs.list_services(cluster="default")["serviceArns"] == []
    for t in all_tasks(ecs, "web"):
        assert t["lastStatus"] == "STOPPED"
    # The name can be used again.
    svc = create(ecs, "web", td, 0)
    assert svc["status"] == "ACTIVE" and svc["events"] == []
    ecs.delete_service(cluster="default", service="web")
    assert_no_leftovers_after_stop(s)


def assert_no_leftovers_after_stop(s):
    ecs = s.client()
    for arn in list_services(ecs):
        ecs.delete_service(cluster="default", service=arn, force=True)
    wait_for(lambda: not ecs.list_tasks(cluster="default")["taskArns"], timeout=60,
             what="service tasks to stop")
    wait_for(lambda: not ecs.list_tasks(cluster="default", desiredStatus="STOPPED")["taskArns"]
             or all(t["lastStatus"] == "STOPPED" for t in describe_tasks(
                 ecs, ecs.list_tasks(cluster="default", desiredStatus="STOPPED",
                                     maxResults=100)["taskArns"])),
             timeout=60, what="tasks to reach STOPPED")
    assert_no_leftovers(s, timeout=20)


def test_create_validation_and_shapes(daemons):
    s = daemons.start()
    ecs = s.client()
    td = register(ecs, "shape", [container(command=loop(0))])

    def code(**kw):
        args = dict(cluster="default", serviceName="bad", taskDefinition=td, desiredCount=1)
        args.update(kw)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ecs.create_service(**args)
        return e.value.response["Error"]["Code"]

    assert code(serviceName="no spaces") == "InvalidParameterException"
    assert code(launchType="EC2") == "InvalidParameterException"
    assert code(deploymentConfiguration={"maximumPercent": 300}) == "InvalidParameterException"
    assert code(deploymentConfiguration={"minimumHealthyPercent": 101}) == \
        "InvalidParameterException"
    assert code(schedulingStrategy="DAEMON") == "InvalidParameterException"
    assert code(taskDefinition="nope") == "ClientException"
    assert code(cluster="nope") == "ClusterNotFoundException"
    assert code(loadBalancers=[{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:"
                                "123456789012:targetgroup/tg/0123456789abcdef",
                                "containerName": "main", "containerPort": 80}]) == \
        "InvalidParameterException"

    svc = create(ecs, "shape", td, 0, clientToken="tok-1",
                 deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50,
                                          "deploymentCircuitBreaker": {"enable": True,
                                                                       "rollback": True}},
                 healthCheckGracePeriodSeconds=30)
    # A retry with the same token answers the same service; another request
    # under the same name is not idempotent.
    again = create(ecs, "shape", td, 0, clientToken="tok-1",
                   deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50,
                                            "deploymentCircuitBreaker": {"enable": True,
                                                                         "rollback": True}},
                   healthCheckGracePeriodSeconds=30)
    assert again["serviceArn"] == svc["serviceArn"]
    assert again["deployments"][0]["id"] == svc["deployments"][0]["id"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(ecs, "shape", td, 1, clientToken="tok-1")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"

    # The raw answer matches the model's Service shape.
    import sigv4_client
    r = sigv4_client.for_profile(s).call("DescribeServices", {
        "cluster": "default", "services": ["shape", "missing"], "include": ["TAGS"]})
    assert r.status == 200, r
    check_shape(r.json, "DescribeServicesResponse")
    assert [f["reason"] for f in r.json["failures"]] == ["MISSING"]
    got = r.json["services"][0]
    assert got["healthCheckGracePeriodSeconds"] == 30
    assert got["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True, "rollback": True}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.update_service(cluster="default", service="missing", desiredCount=1)
    assert e.value.response["Error"]["Code"] == "ServiceNotFoundException"
    [cl] = ecs.describe_clusters(clusters=["default"])["clusters"]
    assert cl["activeServicesCount"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.delete_cluster(cluster="default")
    assert e.value.response["Error"]["Code"] == "ClusterContainsServicesException"
    # Services are taggable.
    ecs.tag_resource(resourceArn=svc["serviceArn"], tags=[{"key": "k", "value": "v"}])
    assert ecs.list_tags_for_resource(resourceArn=svc["serviceArn"])["tags"] == [
        {"key": "k", "value": "v"}]
    ecs.delete_service(cluster="default", service="shape")
    wait_for(lambda: describe(ecs, "shape")["status"] == "INACTIVE", timeout=30,
             what="INACTIVE")
    [cl] = ecs.describe_clusters(clusters=["default"])["clusters"]
    assert cl["activeServicesCount"] == 0
