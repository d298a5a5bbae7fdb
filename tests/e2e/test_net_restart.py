"""Task networking across a kill -9 of skiffd (skiffd --task-network): at
start the agent makes the host agree with the tasks it still holds. The
survivors keep their interface and their security group rules (an allowed
port still open, a port not allowed still closed), orphans (veths, bridges,
nftables chains and map entries no task owns) go, and once every task has
stopped nothing is left: no task veth or bridge, no rule, no ENI. Another
daemon's links and tables (another scope) are not touched."""
import os
import subprocess
import time

import pytest

from net_util import bridge_of, delete_link, links, net_daemons, scope_of, table  # noqa: F401
from tasks_util import (busybox_layout, container, daemons, describe, log_lines,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

SERVER = ("(while true; do echo hi | nc -l -p 8080; done) & "
          "(while true; do echo hi | nc -l -p 8081; done) & wait")

def ip_of(task):
    att = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"][0]
    return {d["name"]: d["value"] for d in att["details"]}["privateIPv4Address"]


def unused_scope():
    """A scope no daemon holds: stands for another skiffd's links and tables."""
    while True:
        sc = os.urandom(2).hex()
        if not os.path.exists("/run/skiff-net/%s.lock" % sc) and not any(
                n[3:7] == sc for n in os.listdir("/sys/class/net")):
            return sc


def plant(scope):
    """Links and rules as a skiffd of scope killed mid-way leaves them; the
    names of what was planted."""
    port, peer, bridge = "ske%sbadc0ffe" % scope, "skq%sbadc0ffe" % scope, "skb%sbadc0ffe" % scope
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "add", port, "master", bridge, "type", "veth",
                    "peer", "name", peer], check=True)
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
        "add table inet skiff_{s}\n"
        "add map inet skiff_{s} ingress {{ type ifname . ipv4_addr : verdict; }}\n"
        "add chain inet skiff_{s} in_{p}\n"
        "add rule inet skiff_{s} in_{p} drop\n"
        "add element inet skiff_{s} ingress {{ \"{b}\" . 10.99.0.9 : jump in_{p} }}\n"
        "add table bridge skiff_{s}\n"
        "add set bridge skiff_{s} ports {{ type ifname . ipv4_addr . ether_addr; }}\n"
        "add element bridge skiff_{s} ports {{ \"{p}\" . 10.99.0.9 . 02:00:00:00:00:01 }}\n"
        .format(s=scope, p=port, b=bridge)))
    return port, bridge


def unplant(scope):
    for name in ("ske%sbadc0ffe" % scope, "skb%sbadc0ffe" % scope):
        delete_link(name)
    for family in ("inet", "bridge"):
        subprocess.run(["nft", "delete", "table", family, "skiff_" + scope],
                       stderr=subprocess.DEVNULL)


def exists(name):
    return os.path.exists("/sys/class/net/" + name)


def probe(targets):
    lines = ["if echo | nc -w 3 %s %d | grep -q hi; then echo open-%s-%d; "
             "else echo closed-%s-%d; fi" % (h, p, h, p, h, p) for h, p in targets]
    return ["sh", "-c", "; ".join(lines) + "; sleep 1"]


def test_kill9_restart_reconciles(net_daemons):
    s = net_daemons.start("--task-network")
    scope, other_scope = scope_of(s), unused_scope()
    ecs, ec2 = s.client(), s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="srv", Description="s", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}])
    net = {"awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg]}}
    bridge = bridge_of(s, sub)
    try:
        [srv] = run(ecs, register(ecs, "rsrv", [container(command=["sh", "-c", SERVER])]),
                    networkConfiguration=net)
        [other] = run(ecs, register(ecs, "rsleep", [container(command=["sleep", "600"])]),
                      networkConfiguration=net)
        wait_tasks(ecs, [srv, other], "RUNNING", timeout=60)
        srv_ip = ip_of(describe(ecs, [srv])[0])
        short_td = register(ecs, "rshort", [container(command=["sleep", "1"])])
        # Mid-way: one task stopping, short ones starting, when skiffd dies.
        ecs.stop_task(task=other)
        run(ecs, short_td, count=3, networkConfiguration=net)
        time.sleep(0.3)
        s.kill9()
        orphan_port, orphan_bridge = plant(scope)
        other_port, other_bridge = plant(other_scope)
        s.restart()
        assert scope_of(s) == scope
        # Reconciled before skiffd answers: the planted orphans are gone.
        assert not exists(orphan_port) and not exists(orphan_bridge)
        rs = table(s) + table(s, "bridge")
        assert orphan_port not in rs and "10.99.0.9" not in rs, rs
        # Another daemon's are not.
        assert exists(other_port) and exists(other_bridge)
        rs = subprocess.run(["nft", "list", "table", "inet", "skiff_" + other_scope],
                            capture_output=True, text=True).stdout
        assert "in_" + other_port in rs and "10.99.0.9" in rs, rs
        # The survivor keeps its interface and its rules.
        assert describe(ecs, [srv])[0]["lastStatus"] == "RUNNING"
        assert bridge in links(s, "skb")
        [cli] = run(ecs, register(ecs, "rprobe", [container(
            command=probe([(srv_ip, 8080), (srv_ip, 8081)]))]), networkConfiguration=net)
        wait_tasks(ecs, [cli], "STOPPED", timeout=90)
        got = {t.strip() for stream, t in log_lines(s, cli) if stream == "stdout"}
        assert got >= {"open-%s-8080" % srv_ip, "closed-%s-8081" % srv_ip}, got

        stop_all_tasks(s, timeout=90)
        deadline = time.time() + 15
        while (links(s, "ske") or links(s, "skb")) and time.time() < deadline:
            time.sleep(0.1)
        assert links(s, "ske") == [] and links(s, "skb") == []
        rs = table(s)
        assert "in_ske" not in rs and "out_ske" not in rs and "10.40." not in rs, rs
        assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
        assert ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0][
            "AvailableIpAddressCount"] == 256 - 5
    finally:
        unplant(scope)
        unplant(other_scope)
