"""`skiff service create|ls|scale|deploy|rm|events` against a real skiffd with
real containers: what each command prints (tables and --output json), and
that it did what it says (checked through boto3)."""
import os

import pytest

from tasks_util import (assert_no_leftovers, busybox_layout, container, daemons,  # noqa: F401
                        loop, register)
from test_cli import clean_env, skiff, skiff_json, table
from test_services import (describe, describe_tasks, service_tasks, wait_for, wait_stable,
                           wait_steady_event)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def test_service_commands(daemons):
    s = daemons.start()
    ecs = s.client()
    v1 = register(ecs, "clisvc", [container(command=loop(0))])
    v2 = register(ecs, "clisvc", [container(command=loop(0), environment=[
        {"name": "V", "value": "2"}])])
    env = clean_env(s)

    rc, out, err = skiff(s, "service", "create", "web", "--taskdef", "clisvc:1", "--count", "2",
                         "--circuit-breaker", "--tag", "team=a", env=env)
    assert rc == 0, err
    [row] = table(out)
    assert row["NAME"] == "web" and row["STATUS"] == "ACTIVE" and row["DESIRED"] == "2"
    assert row["TASKDEF"] == "clisvc:1"
    svc = describe(ecs, "web")
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True, "rollback": True}
    wait_stable(s, "web")

    rc, out, err = skiff(s, "service", "ls", env=env)
    assert rc == 0, err
    [row] = table(out)
    assert (row["NAME"], row["RUNNING"], row["PENDING"], row["ROLLOUT"]) == \
        ("web", "2", "0", "COMPLETED")
    assert skiff_json(s, "service", "ls", env=env)["serviceArns"] == [svc["serviceArn"]]

    out = skiff_json(s, "service", "scale", "web", "3", env=env)
    assert out["service"]["desiredCount"] == 3
    wait_stable(s, "web")
    assert len(service_tasks(ecs, "web")) == 3

    rc, out, err = skiff(s, "service", "deploy", "web", "--taskdef", "clisvc:2", env=env)
    assert rc == 0, err
    svc = wait_stable(s, "web", timeout=180)
    assert svc["taskDefinition"] == v2
    assert all(t["taskDefinitionArn"] == v2 for t in describe_tasks(ecs, service_tasks(ecs, "web")))

    # deploy without --taskdef replaces every task with the same definition.
    before = set(service_tasks(ecs, "web"))
    out = skiff_json(s, "service", "deploy", "web", env=env)
    assert len(out["service"]["deployments"]) == 2
    wait_stable(s, "web", timeout=180)
    after = set(service_tasks(ecs, "web"))
    assert len(after) == 3 and not before & after

    wait_steady_event(ecs, "web")
    rc, out, err = skiff(s, "service", "events", "web", env=env)
    assert rc == 0, err
    lines = out.strip().split("\n")
    assert lines[-1].endswith("(service web) has reached a steady state."), lines
    assert any("(service web) has started 2 tasks:" in line for line in lines), lines

    rc, out, err = skiff(s, "service", "rm", "web", env=env)
    assert rc == 1 and "scaled above 0" in err, (out, err)
    rc, out, err = skiff(s, "service", "rm", "web", "--force", env=env)
    assert rc == 0, err
    assert table(out)[0]["STATUS"] == "DRAINING"
    wait_for(lambda: describe(ecs, "web")["status"] == "INACTIVE", timeout=90,
             what="INACTIVE")
    rc, out, err = skiff(s, "service", "ls", env=env)
    assert rc == 0, err
    assert (table(out) if out.strip() else []) == []

    # Usage errors exit 2.
    assert skiff(s, "service", "create", "x", env=env)[0] == 2
    assert skiff(s, "service", "scale", "web", "many", env=env)[0] == 2
    assert v1
    assert_no_leftovers(s, timeout=30)
