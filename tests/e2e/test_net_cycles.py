"""500 RunTask/StopTask cycles with task networking (skiffd --task-network,
batches of count=10 in their own VPC), with a kill -9 of skiffd half-way
(one batch starting, the one before it stopping) and a restart: at the end
no task veth, no subnet bridge, no nftables chain or map entry, no ENI and
no allocated address is left, and nothing else a task leaves (mounts,
cgroups, namespaces, processes).

SKIFF_CYCLES changes the number of tasks (default 500; make check runs 100
under ASan)."""
import os
import time

import pytest

from net_util import links, net_daemons, table  # noqa: F401
from tasks_util import (assert_no_leftovers, busybox_layout, container, daemons,  # noqa: F401
                        loop, register, run, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

CYCLES = int(os.environ.get("SKIFF_CYCLES", "500"))
BATCH = 10


def test_net_cycles_leave_nothing(net_daemons):
    s = net_daemons.start("--task-network",
                          "--node-capacity", "%d:%d" % (2 * BATCH * 256, 2 * BATCH * 512))
    ecs, ec2 = s.client(), s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.70.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="cyc", Description="c", VpcId=vpc)["GroupId"]
    # Members admit each other: every start and stop changes the rules of
    # the running members too.
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "UserIdGroupPairs": [{"GroupId": sg}]}])
    net = {"awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg]}}
    register(ecs, "ncycle", [container(command=loop(0))])

    def start():
        return run(ecs, "ncycle", count=BATCH, networkConfiguration=net)

    started = time.monotonic()
    done, stopping = [], []
    killed = False
    for i in range(CYCLES // BATCH):
        arns = start()
        if not killed and i == CYCLES // BATCH // 2:
            # Half-way: this batch starting, the one before it stopping.
            killed = True
            time.sleep(0.2)
            s.kill9()
            s.restart()
        wait_tasks(ecs, arns, "RUNNING", timeout=180, interval=0.05)
        if stopping:
            wait_tasks(ecs, stopping, "STOPPED", timeout=180, interval=0.05)
        for a in arns:
            ecs.stop_task(task=a)
        stopping = arns
        done += arns
    wait_tasks(ecs, stopping, "STOPPED", timeout=180, interval=0.05)
    print("%d networked run/stop cycles in %.1f s" % (len(done), time.monotonic() - started))
    assert len(set(done)) == CYCLES and killed

    deadline = time.time() + 20
    while (links(s, "ske") or links(s, "skb")) and time.time() < deadline:
        time.sleep(0.1)
    assert links(s, "ske") == [] and links(s, "skb") == []
    rules = table(s) + table(s, "bridge")
    assert "in_ske" not in rules and "out_ske" not in rules and "10.70." not in rules, rules
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    assert ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0][
        "AvailableIpAddressCount"] == 256 - 5
    assert_no_leftovers(s)
