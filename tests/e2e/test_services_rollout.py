"""Services under change and failure, with real containers: a killed task is
replaced (and the event says why), rolling deployments keep within
minimumHealthyPercent / maximumPercent (sampled every 100 ms), the circuit
breaker rolls a bad release back by itself, kill -9 of skiffd in the middle
of a deployment neither duplicates nor orphans tasks, and many services
converge from a cold start."""
import os
import signal
import subprocess
import threading
import time

import pytest

from tasks_util import (assert_no_leftovers, busybox_layout, container,  # noqa: F401
                        container_state, daemons, loop, register)
from test_services import (all_tasks, create, describe, describe_tasks, list_services, messages,
                           service_tasks, task_id, wait_for, wait_stable, wait_steady_event)
from conftest import SKIFFD

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


class Sampler(threading.Thread):
    """Samples a service's tasks every 100 ms: per sample, the tasks that
    are RUNNING with desired status RUNNING (healthy, when a health check
    exists), and those not yet STOPPED (whatever their desired status)."""

    def __init__(self, s, name, health=False):
        super().__init__(daemon=True)
        self.ecs = s.client()
        self.name = name
        self.health = health
        self.samples = []
        self.errors = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                arns = service_tasks(self.ecs, self.name, "RUNNING") + \
                    service_tasks(self.ecs, self.name, "STOPPED")
                # A task may move between the two lists while they are read.
                arns = sorted(set(arns))
                tasks = describe_tasks(self.ecs, arns) if arns else []
                up = [t for t in tasks if t["desiredStatus"] == "RUNNING" and
                      t["lastStatus"] == "RUNNING" and
                      (not self.health or t.get("healthStatus") == "HEALTHY")]
                alive = [t for t in tasks if t["lastStatus"] != "STOPPED"]
                self.samples.append((len(up), len(alive)))
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(e))
            time.sleep(0.1)

    def stop(self):
        self.done.set()
        self.join(10)
        assert self.errors == [], self.errors[:3]
        assert len(self.samples) > 5, self.samples
        return self.samples


def kill_container(s, arn):
    os.kill(container_state(s, arn)["pid"], signal.SIGKILL)


def cleanup(s):
    ecs = s.client()
    for arn in list_services(ecs):
        ecs.delete_service(cluster="default", service=arn, force=True)
    wait_for(lambda: not ecs.list_tasks(cluster="default")["taskArns"], timeout=120,
             what="service tasks to stop")
    assert_no_leftovers(s, timeout=30)


def test_killed_task_is_replaced(daemons):
    s = daemons.start()
    ecs = s.client()
    td = register(ecs, "killme", [container(command=loop(0))])
    create(ecs, "killme", td, 2)
    svc = wait_stable(s, "killme")
    before = service_tasks(ecs, "killme")
    assert len(before) == 2
    victim = before[0]
    kill_container(s, victim)

    def replaced():
        now = service_tasks(ecs, "killme")
        return len(now) == 2 and victim not in now and now
    now = wait_for(replaced, timeout=60, what="a replacement")
    # The replacement may start while the dead task is still being cleaned up.
    [t] = wait_for(lambda: [t for t in describe_tasks(ecs, [victim])
                            if t["lastStatus"] == "STOPPED"], timeout=60, what="STOPPED")
    assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "EssentialContainerExited", t
    svc = wait_stable(s, "killme")
    assert svc["runningCount"] == 2
    svc = wait_steady_event(ecs, "killme")
    msgs = messages(svc)
    why = [m for m in msgs if "(task %s) stopped unexpectedly" % task_id(victim) in m]
    assert len(why) == 1, msgs
    assert "EssentialContainerExited" in why[0]
    [new] = [a for a in now if a not in before]
    assert any(m.startswith("(service killme) has started 1 tasks: (task %s)" % task_id(new))
               for m in msgs), msgs
    # The newest event is the steady state again.
    assert msgs[0] == "(service killme) has reached a steady state."
    cleanup(s)


def rollout(s, name, desired, conf, health=False):
    ecs = s.client()
    # A probe's timeout counts as a failure: room for a busy host's exec.
    hc = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 5, "retries": 3,
          "startPeriod": 0} if health else None
    kw = {"healthCheck": hc} if hc else {}
    v1 = register(ecs, name, [container(command=loop(0), **kw)])
    v2 = register(ecs, name, [container(command=loop(0), environment=[
        {"name": "V", "value": "2"}], **kw)])
    create(ecs, name, v1, desired, deploymentConfiguration=conf)
    wait_stable(s, name, timeout=180)
    old = set(service_tasks(ecs, name))
    sampler = Sampler(s, name, health)
    sampler.start()
    time.sleep(0.5)
    ecs.update_service(cluster="default", service=name, taskDefinition=v2)
    svc = wait_stable(s, name, timeout=240)
    time.sleep(0.3)
    samples = sampler.stop()
    [dep] = svc["deployments"]
    assert dep["taskDefinition"] == v2 and dep["rolloutState"] == "COMPLETED", dep
    now = describe_tasks(ecs, service_tasks(ecs, name))
    assert len(now) == desired
    assert all(t["taskDefinitionArn"] == v2 and t["lastStatus"] == "RUNNING" for t in now)
    assert not old & {t["taskArn"] for t in now}
    for t in describe_tasks(ecs, list(old)):
        assert t["stopCode"] == "ServiceSchedulerInitiated", t
    return samples


def test_rolling_min100_max200_never_below_desired(daemons):
    s = daemons.start()
    samples = rollout(s, "roll-up", 3, {"minimumHealthyPercent": 100, "maximumPercent": 200})
    assert min(up for up, _ in samples) >= 3, samples
    assert max(alive for _, alive in samples) <= 6, samples
    # The rollout did run both versions side by side at some point.
    assert max(alive for _, alive in samples) > 3, samples
    cleanup(s)


def test_rolling_min50_max100_never_above_desired(daemons):
    s = daemons.start()
    samples = rollout(s, "roll-down", 2, {"minimumHealthyPercent": 50, "maximumPercent": 100})
    assert max(alive for _, alive in samples) <= 2, samples
    assert min(up for up, _ in samples) >= 1, samples
    cleanup(s)


@pytest.mark.parametrize("bad", ["missing-image", "exits-at-once"])
def test_circuit_breaker_rolls_back(daemons, bad):
    s = daemons.start()
    ecs = s.client()
    name = "cb-" + bad
    v1 = register(ecs, name, [container(command=loop(0))])
    if bad == "missing-image":
        # Nothing listens on port 9: the pull fails at once.
        v2 = register(ecs, name, [container(image="127.0.0.1:9/skiff/missing:1",
                                            command=loop(0))])
    else:
        v2 = register(ecs, name, [container(command=["sh", "-c", "exit 3"])])
    create(ecs, name, v1, 2, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    svc = wait_stable(s, name)
    first = svc["deployments"][0]["id"]
    old = set(service_tasks(ecs, name))
    sampler = Sampler(s, name)
    sampler.start()
    ecs.update_service(cluster="default", service=name, taskDefinition=v2)
    failed = ecs.describe_services(cluster="default", services=[name])["services"][0]
    bad_dep = [d for d in failed["deployments"] if d["status"] == "PRIMARY"][0]["id"]
    assert bad_dep != first

    def rolled_back():
        svc = describe(ecs, name)
        return (svc["taskDefinition"] == v1 and len(svc["deployments"]) == 1 and
                svc["deployments"][0]["rolloutState"] == "COMPLETED" and svc)
    svc = wait_for(rolled_back, timeout=180, what="the rollback")
    svc = wait_stable(s, name)
    samples = sampler.stop()
    assert svc["deployments"][0]["id"] == first
    assert svc["deployments"][0]["taskDefinition"] == v1
    msgs = messages(svc)
    assert any("(deployment %s) deployment failed: tasks failed to start." % bad_dep in m
               for m in msgs), msgs
    assert any(m == "(service %s) rolling back to deployment %s." % (name, first)
               for m in msgs), msgs
    # min 100 %: the old tasks kept serving throughout and are still the ones.
    assert set(service_tasks(ecs, name)) == old
    assert min(up for up, _ in samples) >= 2, samples
    assert any("is unable to consistently start tasks successfully" in m for m in msgs), msgs
    bad_tasks = [t for t in all_tasks(ecs, name) if t["taskDefinitionArn"] == v2]
    assert len(bad_tasks) >= 3 and all(t["lastStatus"] == "STOPPED" for t in bad_tasks)
    cleanup(s)


def test_kill9_mid_deployment_completes_without_duplicates(daemons):
    s = daemons.start()
    ecs = s.client()
    name = "crash"
    v1 = register(ecs, name, [container(command=loop(0))])
    v2 = register(ecs, name, [container(command=loop(0), environment=[
        {"name": "V", "value": "2"}])])
    create(ecs, name, v1, 4)
    wait_stable(s, name)
    ecs.update_service(cluster="default", service=name, taskDefinition=v2)
    wait_for(lambda: any(t["taskDefinitionArn"] == v2 for t in all_tasks(ecs, name)),
             timeout=60, interval=0.02, what="a v2 task")
    s.kill9()
    s.start()
    ecs = s.client()
    svc = wait_stable(s, name, timeout=240)
    [dep] = svc["deployments"]
    assert dep["taskDefinition"] == v2 and dep["rolloutState"] == "COMPLETED"
    running = describe_tasks(ecs, service_tasks(ecs, name))
    assert len(running) == 4
    assert all(t["taskDefinitionArn"] == v2 and t["lastStatus"] == "RUNNING" for t in running)
    tasks = all_tasks(ecs, name)
    assert [t for t in tasks if t["lastStatus"] != "STOPPED"] == \
        [t for t in tasks if t["taskArn"] in {r["taskArn"] for r in running}]
    v2_tasks = [t for t in tasks if t["taskDefinitionArn"] == v2]
    failed = [t for t in v2_tasks if t["lastStatus"] == "STOPPED"]
    # Every v2 task launched is one of the four, or one that failed and was
    # replaced (and then says so): none was launched twice.
    assert len(v2_tasks) == 4 + len(failed), [(t["lastStatus"], t.get("stoppedReason"))
                                              for t in v2_tasks]
    for t in failed:
        assert t.get("stopCode") != "ServiceSchedulerInitiated", t
    cleanup(s)


def node_capacity_flag():
    out = subprocess.run([SKIFFD, "--help"], capture_output=True, text=True).stdout
    return "--node-capacity" in out


def test_twenty_services_of_five_converge(daemons):
    if not node_capacity_flag():
        pytest.skip("skiffd has no --node-capacity")
    s = daemons.start("--node-capacity", "131072:262144")
    ecs = s.client()
    td = register(ecs, "many", [container(command=loop(0))])
    t0 = time.time()
    for i in range(20):
        create(ecs, "many-%02d" % i, td, 5)
    for i in range(20):
        svc = wait_stable(s, "many-%02d" % i, timeout=300)
        assert svc["runningCount"] == 5
    took = time.time() - t0
    total = sum(len(service_tasks(ecs, "many-%02d" % i)) for i in range(20))
    assert total == 100
    print("20 services x 5 tasks steady in %.1f s" % took)
    # ListServices pages by 10 by default.
    assert len(list_services(ecs)) == 20
    cleanup(s)


def test_unhealthy_task_replaced_after_grace_period(daemons):
    s = daemons.start()
    ecs = s.client()
    grace = 15
    hc = {"command": ["CMD-SHELL", "test -f /tmp/healthy"], "interval": 5, "timeout": 5,
          "retries": 1, "startPeriod": 0}
    td = register(ecs, "health", [container(
        command=["sh", "-c", "touch /tmp/healthy; " + loop(0)[2]], healthCheck=hc)])
    create(ecs, "health", td, 1, healthCheckGracePeriodSeconds=grace)
    # Steady needs the task HEALTHY, not only RUNNING.
    svc = wait_for(lambda: "(service health) has reached a steady state." in
                   messages(describe(ecs, "health")) and describe(ecs, "health"),
                   timeout=90, what="steady")
    [arn] = service_tasks(ecs, "health")
    [t] = describe_tasks(ecs, [arn])
    assert t["healthStatus"] == "HEALTHY", t
    started = t["startedAt"].timestamp()
    # The check starts failing (from the host, inside the container's root).
    os.remove("/proc/%d/root/tmp/healthy" % container_state(s, arn)["pid"])
    unhealthy_seen = None
    while True:
        [t] = describe_tasks(ecs, [arn])
        if t["healthStatus"] == "UNHEALTHY" and unhealthy_seen is None:
            unhealthy_seen = time.time()
        if t["desiredStatus"] == "STOPPED":
            stopped_at = time.time()
            break
        assert time.time() < started + grace + 60, t
        time.sleep(0.1)
    assert unhealthy_seen is not None
    # Not before the grace period, and soon after it (and after UNHEALTHY).
    assert stopped_at >= started + grace - 0.5, (stopped_at - started)
    assert stopped_at <= max(started + grace, unhealthy_seen) + 5, (stopped_at - started)
    t = wait_for(lambda: [x for x in describe_tasks(ecs, [arn]) if x["lastStatus"] == "STOPPED"],
                 timeout=60, what="STOPPED")[0]
    assert t["stopCode"] == "ServiceSchedulerInitiated"
    assert t["stoppedReason"] == "Task failed container health checks"
    svc = wait_for(lambda: (lambda d: d["runningCount"] == 1 and arn not in service_tasks(
        ecs, "health") and d)(describe(ecs, "health")), timeout=90, what="a replacement")
    assert any(m == "(service health) (task %s) failed container health checks." % task_id(arn)
               for m in messages(svc)), messages(svc)
    cleanup(s)


def test_rolling_with_health_check_never_below_desired_healthy(daemons):
    s = daemons.start()
    samples = rollout(s, "roll-hc", 2, {"minimumHealthyPercent": 100, "maximumPercent": 200},
                      health=True)
    assert min(up for up, _ in samples) >= 2, samples
    assert max(alive for _, alive in samples) <= 4, samples
    cleanup(s)


def test_failing_service_backs_off_exponentially(daemons):
    """Without the circuit breaker a service whose tasks exit at once keeps
    trying, waiting 1 s, 2 s, 4 s, ... between launches, and says so."""
    s = daemons.start()
    ecs = s.client()
    td = register(ecs, "crashloop", [container(command=["sh", "-c", "exit 1"])])
    create(ecs, "crashloop", td, 1)
    t0 = time.time()

    def waits():
        return [m for m in messages(describe(ecs, "crashloop"))
                if "is unable to consistently start tasks successfully" in m]
    wait_for(lambda: len(waits()) >= 3, timeout=120, what="three backoff events")
    took = time.time() - t0
    got = list(reversed(waits()))
    assert "(2 failed in a row); waiting 1 s" in got[0], got
    assert "(3 failed in a row); waiting 2 s" in got[1], got
    assert "(4 failed in a row); waiting 4 s" in got[2], got
    # 1 + 2 s of waiting at least lie between the first failure and the
    # fourth; and far fewer tasks than without a backoff were launched.
    assert took >= 3, took
    launched = len(all_tasks(ecs, "crashloop"))
    assert 4 <= launched <= 6, launched
    svc = describe(ecs, "crashloop")
    assert svc["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert svc["deployments"][0]["failedTasks"] >= 4
    cleanup(s)
