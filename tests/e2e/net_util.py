"""Helpers of the test_net_* files: the names a networking skiffd uses on
the host. Each daemon has its own scope (DATA-DIR/net-scope, 4 hex digits):
its subnet bridges are skb<scope>…, its task ports ske<scope>…, its nftables
tables skiff_<scope>, so the files run side by side (docs/network.md)."""
import os
import subprocess

import pytest

LOCK_DIR = "/run/skiff-net"
# A subnet bridge's policy-routing rule (src/net/net.h): fwmark and table
# NET_BRIDGE_MARK_BASE | the bridge's ifindex, priority NET_BRIDGE_RULE_PRIO.
BRIDGE_MARK_BASE = 0x5b000000
BRIDGE_RULE_PRIO = 30000


def delete_link(name):
    """ip link del, and first the routing rule skiffd keeps for a bridge of
    that index: the daemon deletes it with its bridges, and sweeps those of
    bridges gone while it was down, but not after a test removed them."""
    try:
        with open("/sys/class/net/%s/ifindex" % name) as f:
            mark = BRIDGE_MARK_BASE | int(f.read())
    except (OSError, ValueError):
        return
    subprocess.run(["ip", "rule", "del", "fwmark", hex(mark), "table", str(mark),
                    "priority", str(BRIDGE_RULE_PRIO)], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "link", "del", name], stderr=subprocess.DEVNULL)


def scope_of(s):
    with open(os.path.join(s.data_dir, "net-scope")) as f:
        return f.read().strip()


def links(s, kind):
    """The daemon's links of kind "skb" (bridges) or "ske" (task ports)."""
    prefix = kind + scope_of(s)
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def bridge_of(s, subnet_id):
    return "skb" + scope_of(s) + subnet_id[7:15]


def table(s, family="inet"):
    """The daemon's nftables table of family, as `nft list` prints it."""
    return subprocess.run(["nft", "list", "table", family, "skiff_" + scope_of(s)],
                          capture_output=True, text=True).stdout


def drop_scope(sc):
    """After the daemon stopped and its tasks are gone: removes what is left
    of its scope (links, if a test failed before its tasks stopped; its
    tables and scope lock, which a daemon keeps across its own restarts for
    the tasks that outlive it)."""
    for kind in ("ske", "skb"):
        for n in os.listdir("/sys/class/net"):
            if n.startswith(kind + sc):
                delete_link(n)
    for family in ("inet", "bridge"):
        subprocess.run(["nft", "delete", "table", family, "skiff_" + sc],
                       stderr=subprocess.DEVNULL)
    try:
        os.unlink(os.path.join(LOCK_DIR, sc + ".lock"))
    except OSError:
        pass


@pytest.fixture
def net_daemons(daemons):
    """The daemons fixture (tasks_util), plus, at the end, drop_scope() for
    every daemon that had task networking."""
    scopes = []
    start = daemons.start

    def start_and_note(*args):
        s = start(*args)
        if os.path.exists(os.path.join(s.data_dir, "net-scope")):
            scopes.append(scope_of(s))
        return s

    daemons.start = start_and_note
    yield daemons
    daemons.stop_all()
    for sc in scopes:
        drop_scope(sc)
