"""Metering end to end: tasks of known duration and size run on a real
skiffd, and GetCostReport (through Debian's aws CLI with skiff's model, and
through `skiff cost`) bills them exactly as docs/billing.md's formula says;
a CPU-burning task and an idle one of the same size show different
utilisation and only the idle one is advised a smaller size; usage records
outlive the purge of their task rows; prices come from the billing config."""
import csv
import datetime
import io
import json
import os
import sqlite3
import subprocess
import tempfile
import time
from fractions import Fraction as F

import pytest

from conftest import AWS, REGION, ROOT
from tasks_util import (busybox_layout, container, register, run,  # noqa: F401
                        stop_all_tasks, Daemons, wait_tasks)
from test_cli import skiff

MODELS = os.path.join(ROOT, "models")

# The published us-east-1 x86 Linux prices, nano-dollars per hour.
X86 = (40480000, 4445000, 111000)


def rnd(x):
    """Half away from zero, x >= 0."""
    return int((x + F(1, 2)) // 1)


def cost_nd(run_ms, cpu, mib, gib, prices=X86):
    """docs/billing.md's formula, in integers."""
    vcpu_h, gb_h, sto_h = prices
    billed_ms = max(60, -(-run_ms // 1000)) * 1000
    h = F(billed_ms, 3600000)
    return (rnd(vcpu_h * F(cpu, 1024) * h) + rnd(gb_h * F(mib, 1024) * h)
            + rnd(sto_h * max(0, gib - 20) * h))


def cents(nd):
    return rnd(F(nd, 10**7))


def ms(dt):
    """A datetime (boto3), an ISO 8601 string (the aws CLI) or seconds, in ms."""
    if isinstance(dt, str):
        dt = datetime.datetime.fromisoformat(dt)
    if isinstance(dt, (int, float)):
        return int(round(dt * 1000))
    return int(round(dt.timestamp() * 1000))


def cost_report(s, *args):
    """GetCostReport through /usr/bin/aws and skiff's botocore model."""
    env = s.env()
    env["AWS_DATA_PATH"] = MODELS
    p = subprocess.run([AWS, "--endpoint-url", s.endpoint, "--region", REGION, "--output",
                        "json", "skiff", "get-cost-report"] + list(args),
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def groups(report):
    return {g["key"]: g for g in report["groups"]}


@pytest.fixture(scope="module")
def daemon(busybox_layout):  # noqa: F811
    ds = Daemons(busybox_layout)
    s = ds.start("--stats-interval", "0.5")
    yield s
    try:
        stop_all_tasks(s)
    finally:
        ds.stop_all()


def test_billed_cost_equals_the_formula(daemon):
    ecs = daemon.client()
    short = register(ecs, "cost-short", [container(command=["sh", "-c", "sleep 2"])],
                     cpu="256", memory="512")
    # Past the one-minute minimum, with ephemeral storage above 20 GiB.
    long_ = register(ecs, "cost-long", [container(command=["sh", "-c", "sleep 63"])],
                     cpu="512", memory="2048", ephemeralStorage={"sizeInGiB": 21})
    arns = (run(ecs, short, tags=[{"key": "team", "value": "red"}])
            + run(ecs, long_, tags=[{"key": "team", "value": "blue"}]))

    # While the long one runs, the report counts it up to now.
    wait_tasks(ecs, arns[1:], "RUNNING", timeout=60)
    live = groups(cost_report(daemon, "--group-by", "task"))[arns[1]]
    assert live["runningTasks"] == 1 and "stoppedAt" not in live
    assert live["billedSeconds"] == 60

    tasks = wait_tasks(ecs, arns, "STOPPED", timeout=150, interval=0.5)
    report = cost_report(daemon, "--group-by", "task")
    by_task = groups(report)
    total = 0
    for t, size in zip(tasks, ((256, 512, 20), (512, 2048, 21))):
        start = ms(t.get("pullStartedAt") or t["createdAt"])
        run_ms = ms(t["stoppedAt"]) - start
        want = cost_nd(run_ms, *size)
        g = by_task[t["taskArn"]]
        assert (g["cpu"], g["memory"], g["ephemeralStorageGiB"]) == size
        assert ms(g["billingStartedAt"]) == start
        assert ms(g["stoppedAt"]) == ms(t["stoppedAt"])
        assert g["billedSeconds"] == max(60, -(-run_ms // 1000))
        assert g["costNanoUsd"] == want, (run_ms, size)
        assert cents(g["costNanoUsd"]) == cents(want)
        assert g["runningTasks"] == 0
        total += want
    assert by_task[arns[0]]["billedSeconds"] == 60  # the minimum
    assert by_task[arns[0]]["storageCostNanoUsd"] == 0
    assert by_task[arns[1]]["billedSeconds"] > 60
    assert by_task[arns[1]]["storageCostNanoUsd"] > 0

    # Grouped by tag and family, the same money.
    tag = groups(cost_report(daemon, "--group-by", "tag:team"))
    assert tag["red"]["costNanoUsd"] == by_task[arns[0]]["costNanoUsd"]
    assert tag["blue"]["costNanoUsd"] == by_task[arns[1]]["costNanoUsd"]
    fam = groups(cost_report(daemon, "--group-by", "family"))
    assert fam["cost-short"]["costNanoUsd"] + fam["cost-long"]["costNanoUsd"] == total

    # A window that ends before the tasks began holds nothing.
    early = cost_report(daemon, "--group-by", "task", "--until", "2020-01-01T00:00:00Z")
    assert early["groups"] == [] and early["total"]["costNanoUsd"] == 0

    # The comparison with EC2 is one sentence with both figures.
    cmp = report["ec2Comparison"]
    assert cmp["feasible"] and cmp["fleetInstances"] >= 1
    assert cmp["sentence"].startswith("This workload cost $")
    assert " for the same hours would have cost $" in cmp["sentence"]

    # The records outlive the task rows (the scheduler purges them an hour
    # after they stop; here the rows go at once, as the purge removes them).
    db = sqlite3.connect(os.path.join(daemon.data_dir, "state.db"), timeout=30)
    with db:
        for a in arns:
            db.execute("DELETE FROM tags WHERE arn = ?", (a,))
            db.execute("DELETE FROM tasks WHERE arn = ?", (a,))
    db.close()
    after = groups(cost_report(daemon, "--group-by", "task"))
    for a in arns:
        assert after[a]["costNanoUsd"] == by_task[a]["costNanoUsd"]
    assert groups(cost_report(daemon, "--group-by", "tag:team"))["red"]["tasks"] == 1


def test_busy_and_idle_tasks_get_different_advice(daemon):
    ecs = daemon.client()
    burn = register(ecs, "cost-burn", [container(command=[
        "sh", "-c", "end=$(( $(date +%s) + 12 )); while [ $(date +%s) -lt $end ]; do :; done"])],
        cpu="512", memory="1024")
    idle = register(ecs, "cost-idle", [container(command=["sh", "-c", "sleep 12"])],
                    cpu="512", memory="1024")
    arns = run(ecs, burn) + run(ecs, idle)
    wait_tasks(ecs, arns, "STOPPED", timeout=120, interval=0.5)
    by_task = groups(cost_report(daemon, "--group-by", "task"))
    b, i = by_task[arns[0]], by_task[arns[1]]
    # Samples every 0.5 s over about 12 s of running.
    assert b["sampledSeconds"] >= 5 and i["sampledSeconds"] >= 5
    # The burner is capped at its 0.5 vCPU; on a loaded machine it gets
    # less (5% of it at load average 378 once), but always far more than a
    # sleeping shell.
    assert b["cpuUtilizationPercent"] > max(5 * i["cpuUtilizationPercent"], 2), (b, i)
    assert i["cpuUtilizationPercent"] < 5, i
    assert b["cpuP95MilliVcpu"] > max(3 * i["cpuP95MilliVcpu"], 10), (b, i)
    assert i["cpuP95MilliVcpu"] < 50, i
    assert 0 < i["memoryUtilizationPercent"] < 10
    assert i["idleCostNanoUsd"] > b["idleCostNanoUsd"]
    assert i["idleCostNanoUsd"] <= i["costNanoUsd"]

    (ri,) = i["rightSizing"]
    assert (ri["cpu"], ri["memory"]) == (512, 1024)
    assert (ri["recommendedCpu"], ri["recommendedMemory"]) == (256, 512)
    assert ri["savingsNanoUsd"] > 0 and i["savingsNanoUsd"] == ri["savingsNanoUsd"]
    # Same billed time at half the vCPU and memory: exactly half the price
    # of each dimension, rounded once.
    assert ri["recommendedCostNanoUsd"] == cost_nd(i["billedSeconds"] * 1000, 256, 512, 20)

    # The busy task's advice covers what it used plus 20% headroom; when it
    # got its whole 0.5 vCPU (an unloaded machine) that is no smaller size.
    (rb,) = b["rightSizing"]
    assert rb["recommendedCpu"] * 1000 >= b["cpuP95MilliVcpu"] * 1.2 * 1024, rb
    if b["cpuP95MilliVcpu"] >= 450:
        assert rb["recommendedCpu"] >= 512 and rb["savingsNanoUsd"] <= 0, rb


def test_cli_cost(daemon):
    ecs = daemon.client()
    td = register(ecs, "cost-cli", [container(command=["sh", "-c", "sleep 1"])])
    arns = run(ecs, td)
    wait_tasks(ecs, arns, "STOPPED", timeout=60, interval=0.5)
    raw = groups(cost_report(daemon, "--group-by", "family"))

    rc, out, err = skiff(daemon, "cost", "--by", "family", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assert groups(doc)["cost-cli"]["costNanoUsd"] == raw["cost-cli"]["costNanoUsd"]

    rc, out, err = skiff(daemon, "cost", "--by", "family", "--format", "csv")
    assert rc == 0, err
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["cost-cli"]["cost_usd"] == "%d.%09d" % divmod(raw["cost-cli"]["costNanoUsd"], 10**9)
    assert rows["cost-cli"]["tasks"] == "1"

    rc, out, err = skiff(daemon, "cost", "--by", "family")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["GROUP", "TASKS", "COST"]
    assert any(line.startswith("cost-cli ") for line in lines)
    assert any(line.startswith("This workload cost $") for line in lines)

    rc, out, err = skiff(daemon, "cost", "--by", "colour")
    assert rc != 0 and "cluster, service, family, task or tag:KEY" in err

    now = time.time()
    rc, out, err = skiff(daemon, "cost", "--since", "2020-01-01T00:00:00Z", "--until",
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 60)),
                         "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["total"]["tasks"] >= 1


def test_prices_come_from_the_billing_config(busybox_layout):  # noqa: F811
    d = tempfile.mkdtemp(prefix="skiff-cost-conf-")
    conf = os.path.join(d, "billing.conf")
    with open(conf, "w") as f:
        f.write("[prices]\nx86_64.vcpu_hour = 0.1\nx86_64.gb_hour = 0.01\n")
    ds = Daemons(busybox_layout)
    try:
        s = ds.start("--billing-config", conf)
        ecs = s.client()
        td = register(ecs, "cost-conf", [container(command=["sh", "-c", "sleep 1"])])
        arns = run(ecs, td)
        (t,) = wait_tasks(ecs, arns, "STOPPED", timeout=60, interval=0.5)
        start = ms(t.get("pullStartedAt") or t["createdAt"])
        g = groups(cost_report(s, "--group-by", "task"))[arns[0]]
        assert g["costNanoUsd"] == cost_nd(ms(t["stoppedAt"]) - start, 256, 512, 20,
                                           prices=(100000000, 10000000, 111000))
        # One minute of 0.25 vCPU at $0.1 plus 0.5 GB at $0.01.
        assert g["costNanoUsd"] == 416667 + 83333
    finally:
        ds.stop_all()
        subprocess.run(["rm", "-rf", d])


def test_a_bad_billing_config_stops_skiffd(make_skiffd):
    d = tempfile.mkdtemp(prefix="skiff-cost-bad-")
    conf = os.path.join(d, "billing.conf")
    with open(conf, "w") as f:
        f.write("[prices]\nx86_64.vcpu_hour = cheap\n")
    try:
        with pytest.raises(RuntimeError, match="line 2"):
            make_skiffd("--billing-config", conf)
    finally:
        subprocess.run(["rm", "-rf", d])
