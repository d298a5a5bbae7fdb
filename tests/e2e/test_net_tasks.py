"""Real tasks with awsvpc networking (skiffd --task-network): each task's
namespace gets its ENI on the subnet bridge; security groups decide which
task reaches which port; the host's own services (skiffd's API port
included) are out of reach; containers of one task talk over localhost;
stopped tasks leave no veth, bridge or nftables entry behind."""
import os
import time

import pytest

from net_util import bridge_of, net_daemons, table  # noqa: F401
from tasks_util import (busybox_layout, container, daemons, describe, log_lines,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

# Answers "hi" on 8080 and 8081 for ever.
SERVER = ("(while true; do echo hi | nc -l -p 8080; done) & "
          "(while true; do echo hi | nc -l -p 8081; done) & wait")


def probe(targets):
    """A client that tries each host:port once (3 s) and prints the outcome."""
    lines = ["if echo | nc -w 3 %s %d | grep -q hi; then echo open-%s-%d; "
             "else echo closed-%s-%d; fi" % (h, p, h, p, h, p) for h, p in targets]
    return ["sh", "-c", "; ".join(lines) + "; sleep 1"]


def ip_of(task):
    att = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"][0]
    return {d["name"]: d["value"] for d in att["details"]}["privateIPv4Address"]


def outcome(s, arn):
    return {text.strip() for stream, text in log_lines(s, arn) if stream == "stdout"}


def test_security_groups_between_tasks(net_daemons):
    s = net_daemons.start("--task-network")
    ecs, ec2 = s.client(), s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    srv_sg = ec2.create_security_group(GroupName="srv", Description="s", VpcId=vpc)["GroupId"]
    cli_sg = ec2.create_security_group(GroupName="cli", Description="c", VpcId=vpc)["GroupId"]
    other_sg = ec2.create_security_group(GroupName="oth", Description="o", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=srv_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": cli_sg}]},
        {"IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    # Another VPC of the account, and another account (its default VPC).
    far_vpc = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    far_sub = ec2.create_subnet(VpcId=far_vpc, CidrBlock="10.31.1.0/24")["Subnet"]["SubnetId"]
    s.add_profile("other", "222222222222", "AKIAOTHER0000000003", "othersecret")
    their_ecs = s.client(profile="other")
    their_ecs.create_cluster(clusterName="default")

    def net(sg):
        return {"awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg]}}

    server_td = register(ecs, "netsrv", [container(command=["sh", "-c", SERVER])])
    # The server first (addresses go lowest first: it gets .4); the probes
    # join "cli" as they start, and the server's rule, naming the group,
    # admits them once the group's members reach its set: they wait a
    # little before they try.
    [srv] = run(ecs, server_td, networkConfiguration=net(srv_sg))
    srv_ip, port = "10.30.1.4", s.port
    assert ip_of(describe(ecs, [srv])[0]) == srv_ip
    wait_tasks(ecs, [srv], "RUNNING", timeout=60)
    targets = [(srv_ip, 8080), (srv_ip, 8081), ("10.30.1.1", port)]
    delayed = ["sh", "-c", "sleep 5; " + probe(targets)[2]]
    [probe_cli] = run(ecs, register(ecs, "netprobe", [container(command=delayed)]),
                      networkConfiguration=net(cli_sg))
    [probe_oth] = run(ecs, register(ecs, "netprobe2", [container(command=delayed)]),
                      networkConfiguration=net(other_sg))
    [probe_far] = run(ecs, register(ecs, "netprobe3", [container(command=delayed)]),
                      networkConfiguration={"awsvpcConfiguration": {"subnets": [far_sub]}})
    [probe_acct] = run(their_ecs, register(their_ecs, "netprobe4",
                                           [container(command=delayed)]))
    wait_tasks(ecs, [probe_cli, probe_oth, probe_far], "STOPPED", timeout=90)
    wait_tasks(their_ecs, [probe_acct], "STOPPED", timeout=90)
    # A member of "cli": 8080 (from the group) and 8081 (from anywhere)
    # open; the host's gateway address (skiffd's own port) unreachable.
    got = outcome(s, probe_cli)
    assert got >= {"open-%s-8080" % srv_ip, "open-%s-8081" % srv_ip,
                   "closed-10.30.1.1-%d" % port}, got
    # Same VPC, not a member: 8081 only.
    got = outcome(s, probe_oth)
    assert got >= {"closed-%s-8080" % srv_ip, "open-%s-8081" % srv_ip,
                   "closed-10.30.1.1-%d" % port}, got
    # Another VPC, another account: nothing at all, not even 8081.
    for arn in (probe_far, probe_acct):
        got = outcome(s, arn)
        assert got >= {"closed-%s-8080" % srv_ip, "closed-%s-8081" % srv_ip}, got
    cli_ip = ip_of(describe(ecs, [probe_cli])[0])

    stop_all_tasks(s)
    wait_tasks(their_ecs, [probe_acct], "STOPPED")
    # Nothing left on the host: no veth or bridge of this subnet, no rules.
    bridge = bridge_of(s, sub)
    deadline = time.time() + 10
    while os.path.exists("/sys/class/net/" + bridge) and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists("/sys/class/net/" + bridge)
    ruleset = table(s)
    assert srv_ip not in ruleset and cli_ip not in ruleset
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []


def test_localhost_between_containers(net_daemons):
    s = net_daemons.start("--task-network")
    ecs = s.client()
    td = register(ecs, "netlocal", [
        container("srv", command=["sh", "-c", "echo hi | nc -l -p 9000"], essential=False),
        container("main", command=["sh", "-c", "sleep 1; echo | nc -w 3 127.0.0.1 9000"]),
    ])
    [arn] = run(ecs, td)
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    assert ("stdout", "hi") in log_lines(s, arn, "main")


def test_attachment_steps(net_daemons):
    """The ENI attachment is PRECREATED at RunTask, ATTACHED once the task's
    interface is up (RUNNING), DETACHED once stopped; each container shows
    its network interface."""
    s = net_daemons.start("--task-network")
    ecs = s.client()
    td = register(ecs, "netatt", [container("a", command=["sleep", "600"]),
                                  container("b", command=["sleep", "600"])])
    [arn] = run(ecs, td)
    att = describe(ecs, [arn])[0]["attachments"][0]
    assert att["type"] == "ElasticNetworkInterface"
    assert att["status"] in ("PRECREATED", "ATTACHED")
    wait_tasks(ecs, [arn], "RUNNING", timeout=60)
    task = describe(ecs, [arn])[0]
    [att] = task["attachments"]
    assert att["status"] == "ATTACHED"
    ip = ip_of(task)
    for c in task["containers"]:
        assert c["networkInterfaces"] == [{"attachmentId": att["id"],
                                           "privateIpv4Address": ip}], c
    ecs.stop_task(task=arn)
    wait_tasks(ecs, [arn], "STOPPED", timeout=60)
    [att] = describe(ecs, [arn])[0]["attachments"]
    assert att["status"] == "DETACHED"
    assert ip_of(describe(ecs, [arn])[0]) == ip
