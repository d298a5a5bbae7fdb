"""Task networking across a kill -9 of skiffd (skiffd --task-network): at
start the agent makes the host agree with the tasks it still holds. The
survivors keep their interface and their security group rules (an allowed
port still open, a port not allowed still closed), orphans (veths, bridges,
nftables chains and map entries no task owns) go, and once every task has
stopped nothing is left: no task veth or bridge, no rule, no ENI."""
import os
import subprocess
import time

import pytest

from tasks_util import (busybox_layout, container, daemons, describe, log_lines,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

SERVER = ("(while true; do echo hi | nc -l -p 8080; done) & "
          "(while true; do echo hi | nc -l -p 8081; done) & wait")

# Orphans planted as a skiffd killed mid-way would leave them.
ORPHAN_PORT, ORPHAN_PEER, ORPHAN_BRIDGE = "ske0badc0ffee00", "skq0badc0ffee00", "skb0badc0ffee00"


def ip_of(task):
    att = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"][0]
    return {d["name"]: d["value"] for d in att["details"]}["privateIPv4Address"]


def links(prefix):
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def ruleset():
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout


def plant_orphans():
    subprocess.run(["ip", "link", "add", ORPHAN_BRIDGE, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "add", ORPHAN_PORT, "master", ORPHAN_BRIDGE, "type", "veth",
                    "peer", "name", ORPHAN_PEER], check=True)
    subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
        "add chain inet skiff in_%s\n"
        "add rule inet skiff in_%s drop\n"
        "add element inet skiff ingress { \"%s\" . 10.99.0.9 : jump in_%s }\n"
        "add element bridge skiff ports { \"%s\" . 10.99.0.9 . 02:00:00:00:00:01 }\n"
        % (ORPHAN_PORT, ORPHAN_PORT, ORPHAN_BRIDGE, ORPHAN_PORT, ORPHAN_PORT)))


def remove_orphans():
    """Only if the test failed before skiffd removed them."""
    for name in (ORPHAN_PORT, ORPHAN_BRIDGE):
        subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)


def probe(targets):
    lines = ["if echo | nc -w 3 %s %d | grep -q hi; then echo open-%s-%d; "
             "else echo closed-%s-%d; fi" % (h, p, h, p, h, p) for h, p in targets]
    return ["sh", "-c", "; ".join(lines) + "; sleep 1"]


def test_kill9_restart_reconciles(daemons):
    s = daemons.start("--task-network")
    ecs, ec2 = s.client(), s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="srv", Description="s", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
         "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}])
    net = {"awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg]}}
    bridge = "skb" + sub[7:19]
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
        plant_orphans()
        s.restart()
        # Reconciled before skiffd answers: the planted orphans are gone.
        assert ORPHAN_PORT not in links("ske") and ORPHAN_BRIDGE not in links("skb")
        rs = ruleset()
        assert ORPHAN_PORT not in rs and "10.99.0.9" not in rs, rs
        # The survivor keeps its interface and its rules.
        assert describe(ecs, [srv])[0]["lastStatus"] == "RUNNING"
        assert bridge in links("skb")
        [cli] = run(ecs, register(ecs, "rprobe", [container(
            command=probe([(srv_ip, 8080), (srv_ip, 8081)]))]), networkConfiguration=net)
        wait_tasks(ecs, [cli], "STOPPED", timeout=90)
        got = {t.strip() for stream, t in log_lines(s, cli) if stream == "stdout"}
        assert got >= {"open-%s-8080" % srv_ip, "closed-%s-8081" % srv_ip}, got

        stop_all_tasks(s, timeout=90)
        deadline = time.time() + 15
        while (links("ske") or links("skb")) and time.time() < deadline:
            time.sleep(0.1)
        assert links("ske") == [] and links("skb") == []
        rs = subprocess.run(["nft", "list", "table", "inet", "skiff"], capture_output=True,
                            text=True).stdout
        assert "in_ske" not in rs and "out_ske" not in rs and "10.40." not in rs, rs
        assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
        assert ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0][
            "AvailableIpAddressCount"] == 256 - 5
    finally:
        remove_orphans()
