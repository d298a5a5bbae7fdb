"""The awsvpc data plane (src/net) driven through net-tool, in network
namespaces the test creates: a subnet bridge, veths created with their peer
inside each namespace, addresses, MACs, default routes, loopback, traffic
between two tasks' namespaces, and teardown by deleting the namespace."""
import os
import subprocess
import time
import uuid

import pytest

from conftest import BUILD

NET_TOOL = os.path.join(BUILD, "src", "net", "net-tool")
BUSYBOX = "/bin/busybox"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, **kw)


def link_exists(name):
    return os.path.exists("/sys/class/net/" + name)


@pytest.fixture
def lab():
    """Unique names for namespaces, bridges and veths; removes what remains."""
    tag = uuid.uuid4().hex[:6]
    made = {"ns": [], "links": []}

    def ns(name):
        full = "skt%s%s" % (tag, name)
        sh("ip", "netns", "add", full)
        made["ns"].append(full)
        return full

    def link(name):
        full = "sk%s%s" % (tag, name)
        made["links"].append(full)
        return full

    yield ns, link
    for n in made["ns"]:
        sh("ip", "netns", "del", n, check=False)
    for l in made["links"]:
        sh("ip", "link", "del", l, check=False)


def in_ns(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def test_two_tasks_on_a_subnet_bridge(lab):
    ns, link = lab
    br = link("br")
    a, b = ns("a"), ns("b")
    va, vb = link("va"), link("vb")
    sh(NET_TOOL, "bridge", br, "10.66.1.1/24")
    sh(NET_TOOL, "bridge", br, "10.66.1.1/24")  # idempotent
    sh(NET_TOOL, "up", "/run/netns/" + a, br, va, "10.66.1.4/24", "10.66.1.1",
       "0e:00:00:66:01:04")
    sh(NET_TOOL, "up", "/run/netns/" + b, br, vb, "10.66.1.5/24", "10.66.1.1",
       "0e:00:00:66:01:05")
    # Inside: eth0 with the ENI's address and MAC, lo up, the default route.
    out = in_ns(a, "ip", "-o", "addr", "show", "dev", "eth0").stdout
    assert "inet 10.66.1.4/24" in out
    assert in_ns(a, "cat", "/sys/class/net/eth0/address").stdout.strip() == "0e:00:00:66:01:04"
    assert "default via 10.66.1.1 dev eth0" in in_ns(a, "ip", "route").stdout
    assert "UP" in in_ns(a, "ip", "-br", "link", "show", "lo").stdout
    # The host side is a port of the bridge and up; the peer never existed on the host.
    assert os.path.realpath("/sys/class/net/%s/master" % va).endswith("/" + br)
    assert not link_exists("eth0") or "skt" not in os.path.realpath("/sys/class/net/eth0")
    # Traffic: the gateway, then TCP between the two namespaces.
    in_ns(a, BUSYBOX, "ping", "-c", "1", "-W", "5", "10.66.1.1")
    srv = subprocess.Popen(["ip", "netns", "exec", b, BUSYBOX, "nc", "-l", "-p", "7000"],
                           stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if ":1B58" in in_ns(b, "cat", "/proc/net/tcp").stdout:
                break
            time.sleep(0.05)
        in_ns(a, BUSYBOX, "sh", "-c", "echo hello-from-a | %s nc -w 5 10.66.1.5 7000" % BUSYBOX)
        assert srv.communicate(timeout=10)[0].strip() == "hello-from-a"
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    # localhost inside a task namespace works (containers of one task talk over lo).
    in_ns(a, BUSYBOX, "ping", "-c", "1", "-W", "5", "127.0.0.1")

    # Teardown: deleting the namespace lets the kernel reap the veth.
    sh("ip", "netns", "del", a)
    deadline = time.time() + 10
    while link_exists(va) and time.time() < deadline:
        time.sleep(0.05)
    assert not link_exists(va)
    assert link_exists(vb)
    sh(NET_TOOL, "bridge-del", br)
    assert not link_exists(br)


def test_setup_failures_leave_nothing(lab):
    ns, link = lab
    br = link("br")
    a = ns("a")
    va = link("va")
    r = sh(NET_TOOL, "up", "/run/netns/" + a, br, va, "10.66.2.4/24", "10.66.2.1",
           "0e:00:00:66:02:04", check=False)
    assert r.returncode != 0 and "bridge" in r.stderr
    assert not link_exists(va)
    sh(NET_TOOL, "bridge", br, "10.66.2.1/24")
    sh(NET_TOOL, "up", "/run/netns/" + a, br, va, "10.66.2.4/24", "10.66.2.1",
       "0e:00:00:66:02:04")
    # The same host interface again: refused, the first one untouched.
    b = ns("b")
    r = sh(NET_TOOL, "up", "/run/netns/" + b, br, va, "10.66.2.5/24", "10.66.2.1",
           "0e:00:00:66:02:05", check=False)
    assert r.returncode != 0 and "exists" in r.stderr.lower()
    assert link_exists(va)
    assert "eth0" not in in_ns(b, "ip", "-br", "link").stdout
    # A gateway outside the subnet: the route fails, the veth is removed again.
    vb = link("vb")
    r = sh(NET_TOOL, "up", "/run/netns/" + b, br, vb, "10.66.2.5/24", "10.99.9.9",
           "0e:00:00:66:02:05", check=False)
    assert r.returncode != 0 and "route" in r.stderr
    assert not link_exists(vb)
    assert "eth0" not in in_ns(b, "ip", "-br", "link").stdout
    # Deleting what does not exist is not an error (reconciliation).
    sh(NET_TOOL, "del", link("none"))
    sh(NET_TOOL, "bridge-del", link("nobr"))


def test_setup_is_fast(lab):
    """bench/net's measurement in small: netlink setup per task well under
    the issue's 3 ms target even on a loaded machine (generous margin)."""
    ns, link = lab
    br = link("bb")
    r = sh(NET_TOOL, "bench", "20", br, timeout=300)
    import json
    res = json.loads(r.stdout)
    assert res["netlink_setup_ms"] < 30, res
    assert not link_exists(br)
