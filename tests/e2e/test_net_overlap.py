"""Two accounts' default VPCs (both 172.31.0.0/16, the same default subnet
CIDR) on one host. The host's main routing table cannot tell their bridges
apart, so each bridge has a routing table and rule of its own, reached by
the mark its tasks' connections carry (docs/network.md): both accounts'
public tasks get their answers back, and once the tasks are gone the rules
are too."""
import os
import subprocess
import time

import pytest

from net_util import links, net_daemons  # noqa: F401
from tasks_util import (busybox_layout, container, daemons, log_lines, register,  # noqa: F401
                        run, stop_all_tasks, wait_tasks)
from test_net_public import outcome, probe, uplink  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

MARK_BASE = 0x5b000000
RULE_PRIO = 30000


def default_net(ec2):
    sub = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
        "Subnets"][0]
    sg = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    return sub["CidrBlock"], {"awsvpcConfiguration": {
        "subnets": [sub["SubnetId"]], "securityGroups": [sg], "assignPublicIp": "ENABLED"}}


def bridge_rules():
    """Marks of the bridge rules on the host (any daemon's)."""
    out = subprocess.run(["ip", "-j", "rule", "show", "pref", str(RULE_PRIO)],
                         capture_output=True, text=True, check=True).stdout
    import json
    return {int(r["fwmark"], 16) for r in json.loads(out or "[]") if "fwmark" in r}


def lines(s, arn):
    """The running task's stdout lines so far (through logs/'s link)."""
    try:
        return [text for stream, text in log_lines(s, arn) if stream == "stdout"]
    except OSError:
        return []


def test_overlapping_default_vpcs_both_reach_out(net_daemons, uplink):
    outside, _ = uplink
    s = net_daemons.start("--task-network")
    s.add_profile("other", "222222222222", "AKIAOTHER0000000004", "othersecret")
    runs, cidrs = [], []
    for prof in ("default", "other"):
        ecs, ec2 = s.client(profile=prof), s.client("ec2", profile=prof)
        ecs.create_cluster(clusterName="default")
        cidr, net = default_net(ec2)
        cidrs.append(cidr)
        # Three attempts, then a wait for the test's stop, so that it sees
        # both accounts' bridges whenever the tasks started.
        td = register(ecs, "overlap", [container(
            command=probe([(outside, 9000)] * 3)[:2] + [probe([(outside, 9000)] * 3)[2]
                                                          + "; trap 'exit 0' TERM;"
                                                          " sleep 300 & wait"])])
        runs.append((ecs, run(ecs, td, count=2, networkConfiguration=net)))
    assert cidrs[0] == cidrs[1], cidrs  # the case this file is about
    for ecs, arns in runs:
        wait_tasks(ecs, arns, "RUNNING", timeout=90)
    bridges = links(s, "skb")
    assert len(bridges) == 2, bridges
    marks = set()
    for b in bridges:
        with open("/sys/class/net/%s/ifindex" % b) as f:
            marks.add(MARK_BASE | int(f.read()))
    assert marks <= bridge_rules()
    for ecs, arns in runs:
        for arn in arns:
            deadline = time.time() + 60
            while len(lines(s, arn)) < 3 and time.time() < deadline:
                time.sleep(0.2)
            ecs.stop_task(task=arn)
        wait_tasks(ecs, arns, "STOPPED", timeout=90)
        for arn in arns:
            assert outcome(s, arn) == {"open-%s-9000" % outside}, arn
    stop_all_tasks(s)
    deadline = time.time() + 30
    while marks & bridge_rules() and time.time() < deadline:
        time.sleep(0.2)
    assert not marks & bridge_rules()
