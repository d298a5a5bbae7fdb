"""Security group membership changes reach running tasks (skiffd
--task-network): a server admits tcp 8080 from the members of group "cli".
A client of that group started after the server is admitted (the server's
rules gain its address when it starts, not at the next Authorize/Revoke);
once the client is stopped its address leaves the server's rules, before
it is released, so a non-member that gets the same address next is not
admitted."""
import os
import re
import time

import pytest

from net_util import net_daemons, scope_of, table  # noqa: F401
from tasks_util import (busybox_layout, container, daemons, describe, log_lines,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

SERVER = "while true; do echo hi | nc -l -p 8080; done"


def client(ip):
    # Each attempt's start time on the host's clock (/proc/uptime is not
    # namespaced), then its outcome.
    return ["sh", "-c", "while true; do t=$(cut -d' ' -f1 /proc/uptime); "
            "if echo | nc -w 1 %s 8080 | grep -q hi; then echo open $t; "
            "else echo closed $t; fi; sleep 0.1; done" % ip]


def eni_of(task):
    att = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"][0]
    return {d["name"]: d["value"] for d in att["details"]}


def ip_of(task):
    return eni_of(task)["privateIPv4Address"]


def ingress_chain(s, task):
    """The text of the task's ingress chain in the daemon's table, each
    group set it names (@g_…) followed by the set's elements."""
    name = "in_ske%s%s" % (scope_of(s), eni_of(task)["networkInterfaceId"][4:12])
    text = table(s)
    start = text.find("chain %s {" % name)
    assert start >= 0, text
    chain = text[start:text.index("}", start)]
    for g in sorted(set(re.findall(r"@(g_[0-9a-f]+)", chain))):
        at = text.find("set %s {" % g)
        assert at >= 0, text
        body = text[at:text.index("}", at)]
        chain += "\n%s: %s" % (g, body)
    return chain


def attempts(s, arn):
    out = []
    try:
        lines = log_lines(s, arn)
    except FileNotFoundError:  # not started yet
        return out
    for stream, text in lines:
        parts = text.split()
        if stream == "stdout" and len(parts) == 2 and parts[0] in ("open", "closed"):
            out.append((float(parts[1]), parts[0]))
    return out


def wait_for(s, arn, pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = attempts(s, arn)
        if pred(got):
            return got
        time.sleep(0.2)
    raise AssertionError("client never saw it: %r" % attempts(s, arn)[-20:])


def test_members_join_and_leave(net_daemons):
    s = net_daemons.start("--task-network")
    ecs, ec2 = s.client(), s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    srv_sg = ec2.create_security_group(GroupName="srv", Description="s", VpcId=vpc)["GroupId"]
    cli_sg = ec2.create_security_group(GroupName="cli", Description="c", VpcId=vpc)["GroupId"]
    oth_sg = ec2.create_security_group(GroupName="oth", Description="o", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=srv_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": cli_sg}]}])

    def net(sg):
        return {"awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg]}}

    [srv] = run(ecs, register(ecs, "msrv", [container(command=["sh", "-c", SERVER])]),
                networkConfiguration=net(srv_sg))
    wait_tasks(ecs, [srv], "RUNNING", timeout=60)
    srv_task = describe(ecs, [srv])[0]
    srv_ip = ip_of(srv_task)

    # A member joins: admitted from its first attempts (the server's rules
    # change in the scheduler pass that places the client, before its
    # interface exists).
    cli_td = register(ecs, "mcli", [container(command=client(srv_ip))])
    [cli] = run(ecs, cli_td, networkConfiguration=net(cli_sg))
    got = wait_for(s, cli, lambda a: len(a) >= 5, 60)
    first = got[0][0]
    late = [(t, o) for t, o in got if t > first + 2.0]
    assert any(o == "open" for _, o in got), got
    # The server listens again after each connection: an attempt that
    # comes in that gap is refused. Never two in a row, as a rule that
    # dropped the member would make them.
    assert not any(x[1] == y[1] == "closed" for x, y in zip(late, late[1:])), got
    cli_ip = ip_of(describe(ecs, [cli])[0])
    assert cli_ip in ingress_chain(s, srv_task)

    # It leaves: its address goes from the server's rules when it is told
    # to stop, well before its address is released.
    t0 = time.time()
    ecs.stop_task(task=cli)
    while cli_ip in ingress_chain(s, srv_task) and time.time() < t0 + 20:
        time.sleep(0.05)
    gone_after = time.time() - t0
    assert cli_ip not in ingress_chain(s, srv_task)
    assert gone_after < 10, gone_after
    wait_tasks(ecs, [cli], "STOPPED", timeout=60)

    # A non-member takes the freed address (the lowest free one): not
    # admitted on the old member's behalf.
    [oth] = run(ecs, register(ecs, "moth", [container(command=client(srv_ip))]),
                networkConfiguration=net(oth_sg))
    got = wait_for(s, oth, lambda a: len(a) >= 3, 60)
    assert ip_of(describe(ecs, [oth])[0]) == cli_ip
    assert all(o == "closed" for _, o in got), got

    # A member again, beside it: admitted.
    [cli2] = run(ecs, cli_td, networkConfiguration=net(cli_sg))
    wait_for(s, cli2, lambda a: any(o == "open" for _, o in a), 60)
    assert all(o == "closed" for _, o in attempts(s, oth)), attempts(s, oth)
    cli2_ip = ip_of(describe(ecs, [cli2])[0])

    # The agent keeps the members across its restarts: the reconciliation
    # rebuilds the table with the group's set as it was.
    s.kill9()
    s.restart()
    assert cli2_ip in ingress_chain(s, srv_task)
    assert cli_ip not in ingress_chain(s, srv_task)
    stop_all_tasks(s, timeout=90)
