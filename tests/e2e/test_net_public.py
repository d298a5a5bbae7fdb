"""assignPublicIp (skiffd --task-network): ENABLED routes the task out of
its VPC to the host's other interfaces, masqueraded; DISABLED leaves it
private. The "uplink" is a namespace the test makes, joined to the host by
a veth, with a listener in it: only the public task reaches it (the
namespace has no route back to the VPC, so an answer proves the
masquerade). Neither task reaches a listener on the host's own address on
that link: a public IP does not open the host's services."""
import os
import subprocess
import time

import pytest

from net_util import net_daemons  # noqa: F401
from tasks_util import (busybox_layout, container, daemons, log_lines, register,  # noqa: F401
                        run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


PY = "/usr/bin/python3"
# Answers "hi" to every connection to ADDR:PORT.
SERVE = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.sendall(b"hi\\n")
    c.close()
"""


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def uplink():
    """(outside address, host address) of a namespace behind a veth."""
    tag = os.urandom(3).hex()
    ns, host_if = "skt%su" % tag, "skt%sh" % tag
    x = int(tag[:2], 16)
    outside, host = "198.18.%d.2" % x, "198.18.%d.1" % x
    procs = []
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "addr", "add", host + "/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", outside + "/30", "dev", "eth0")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", SERVE, outside,
                                       "9000"], start_new_session=True))
        procs.append(subprocess.Popen([PY, "-c", SERVE, host, "9001"], start_new_session=True))
        time.sleep(0.5)
        yield outside, host
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
            p.wait()
        sh("ip", "link", "del", host_if, check=False)
        sh("ip", "netns", "del", ns, check=False)


def probe(targets):
    lines = ["if echo | nc -w 3 %s %d | grep -q hi; then echo open-%s-%d; "
             "else echo closed-%s-%d; fi" % (h, p, h, p, h, p) for h, p in targets]
    return ["sh", "-c", "; ".join(lines) + "; sleep 1"]


def outcome(s, arn):
    return {text.strip() for stream, text in log_lines(s, arn) if stream == "stdout"}


def test_public_ip_reaches_the_uplink_only_when_enabled(net_daemons, uplink):
    outside, host = uplink
    s = net_daemons.start("--task-network")
    ecs, ec2 = s.client(), s.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.80.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    td = register(ecs, "pubprobe", [container(command=probe([(outside, 9000), (host, 9001)]))])

    def net(public):
        return {"awsvpcConfiguration": {"subnets": [sub], "securityGroups": [sg],
                                        "assignPublicIp": public}}

    [pub] = run(ecs, td, networkConfiguration=net("ENABLED"))
    [priv] = run(ecs, td, networkConfiguration=net("DISABLED"))
    wait_tasks(ecs, [pub, priv], "STOPPED", timeout=90)
    got = outcome(s, pub)
    assert got >= {"open-%s-9000" % outside, "closed-%s-9001" % host}, got
    got = outcome(s, priv)
    assert got >= {"closed-%s-9000" % outside, "closed-%s-9001" % host}, got
    stop_all_tasks(s)
