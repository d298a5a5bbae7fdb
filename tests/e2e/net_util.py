"""Helpers of the test_net_* files: the names a networking skiffd uses on
the host. Each daemon has its own scope (DATA-DIR/net-scope, 4 hex digits):
its subnet bridges are skb<scope>…, its task ports ske<scope>…, its nftables
tables skiff_<scope>, so the files run side by side (docs/network.md)."""
import os
import subprocess

import pytest

LOCK_DIR = "/run/skiff-net"


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
                subprocess.run(["ip", "link", "del", n], stderr=subprocess.DEVNULL)
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
