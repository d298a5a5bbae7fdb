"""The store keeps every acknowledged write: across a clean restart, and
across kill -9 in the middle of a burst of concurrent writes, after which
the database passes SQLite's integrity check and every request has either
fully applied or not at all."""
import http.client
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from sigv4_client import for_profile

NOTHROTTLE = ("--throttle-read", "off", "--throttle-write", "off")


def integrity_ok(data_dir):
    """PRAGMA integrity_check with the sqlite3 CLI (and Python's sqlite3 when
    the CLI is missing) on a stopped skiffd's database."""
    db = os.path.join(data_dir, "state.db")
    try:
        p = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True,
                           text=True, timeout=60)
        out = p.stdout.strip()
    except FileNotFoundError:
        con = sqlite3.connect(db)
        out = "\n".join(r[0] for r in con.execute("PRAGMA integrity_check"))
        con.close()
    return out


def describe_all(ecs, names):
    r = ecs.describe_clusters(clusters=names, include=["TAGS", "SETTINGS", "CONFIGURATIONS",
                                                       "STATISTICS"])
    return sorted(r["clusters"], key=lambda c: c["clusterName"]), r["failures"]


def test_restart_keeps_clusters_and_tags(make_skiffd):
    s = make_skiffd(*NOTHROTTLE)
    ecs = s.client()
    ecs.create_cluster(clusterName="plain")
    ecs.create_cluster(clusterName="rich", tags=[{"key": "team", "value": "web"}],
                       settings=[{"name": "containerInsights", "value": "enabled"}],
                       configuration={"executeCommandConfiguration": {"logging": "DEFAULT"}},
                       capacityProviders=["FARGATE", "FARGATE_SPOT"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT",
                                                         "weight": 2, "base": 1}])
    rich = ecs.describe_clusters(clusters=["rich"])["clusters"][0]["clusterArn"]
    ecs.tag_resource(resourceArn=rich, tags=[{"key": "k%d" % i, "value": "v"} for i in range(20)])
    ecs.untag_resource(resourceArn=rich, tagKeys=["k0"])
    ecs.create_cluster(clusterName="gone")
    ecs.delete_cluster(cluster="gone")
    ecs.update_cluster_settings(cluster="plain", settings=[{"name": "containerInsights",
                                                            "value": "enabled"}])
    names = ["plain", "rich", "gone", "never"]
    before = describe_all(ecs, names)
    listed = ecs.list_clusters()["clusterArns"]
    tags = ecs.list_tags_for_resource(resourceArn=rich)["tags"]

    assert s.stop() == 0
    assert integrity_ok(s.data_dir) == "ok"
    s.start()
    ecs = s.client()
    assert describe_all(ecs, names) == before
    assert ecs.list_clusters()["clusterArns"] == listed
    assert ecs.list_tags_for_resource(resourceArn=rich)["tags"] == tags
    rc, out, err = s.aws("ecs", "describe-clusters", "--clusters", "gone", check=True)
    assert out["clusters"][0]["status"] == "INACTIVE"
    # And it keeps working after the restart.
    ecs.create_cluster(clusterName="after")
    assert len(ecs.list_clusters()["clusterArns"]) == 3


def burst(client, n_threads, stop, prefix):
    """Writers on keep-alive connections: CreateCluster with two tags, then
    TagResource with two more. Returns per-thread lists of acknowledged
    writes, filled in as answers arrive; a writer ends on its first
    connection error (skiffd is gone)."""
    acked = []

    def writer(n, out):
        conn = client.connect(timeout=5)
        i = 0
        try:
            while not stop.is_set():
                name = "%s-w%d-%d" % (prefix, n, i)
                r = client.call("CreateCluster", {"clusterName": name, "tags": [
                    {"key": "born", "value": name}, {"key": "n", "value": str(i)}]}, conn=conn)
                if r.status != 200:
                    raise AssertionError(r)
                out.append(("cluster", name, r.json["cluster"]["clusterArn"]))
                r = client.call("TagResource", {
                    "resourceArn": r.json["cluster"]["clusterArn"],
                    "tags": [{"key": "x1", "value": name}, {"key": "x2", "value": name}]},
                    conn=conn)
                if r.status != 200:
                    raise AssertionError(r)
                out.append(("tags", name, None))
                i += 1
        except (OSError, http.client.HTTPException):
            pass  # skiffd was killed
        finally:
            conn.close()

    threads = []
    for n in range(n_threads):
        out = []
        acked.append(out)
        t = threading.Thread(target=writer, args=(n, out), daemon=True)
        t.start()
        threads.append(t)
    return threads, acked


def check_after_crash(s, acked, prefixes):
    ecs = s.client()
    pages = ecs.get_paginator("list_clusters").paginate()
    present = {a.rsplit("/", 1)[1] for p in pages for a in p["clusterArns"]}
    want_clusters = {name for out in acked for kind, name, _ in out if kind == "cluster"}
    want_tags = {name for out in acked for kind, name, _ in out if kind == "tags"}
    lost = want_clusters - present
    assert not lost, "acknowledged CreateCluster lost: %s" % sorted(lost)[:10]
    # Every cluster there is (acknowledged or not) is whole: its creation
    # tags came in the same request, and TagResource's two tags together.
    names = sorted(n for n in present if n.split("-w")[0] in prefixes)
    for i in range(0, len(names), 100):
        for c in ecs.describe_clusters(clusters=names[i:i + 100], include=["TAGS"])["clusters"]:
            t = {x["key"]: x["value"] for x in c.get("tags", [])}
            name = c["clusterName"]
            assert t.get("born") == name and "n" in t, (name, t)
            assert ("x1" in t) == ("x2" in t), (name, t)
            if name in want_tags:
                assert t.get("x1") == name and t.get("x2") == name, (name, t)
    return len(want_clusters), len(want_tags)


@pytest.mark.parametrize("rounds", [3])
def test_kill9_during_write_burst(make_skiffd, rounds):
    s = make_skiffd(*NOTHROTTLE)
    total = 0
    all_acked = []
    prefixes = []
    for rnd in range(rounds):
        prefix = "r%d" % rnd
        prefixes.append(prefix)
        stop = threading.Event()
        threads, acked = burst(for_profile(s), 8, stop, prefix)
        all_acked += acked
        # Kill once writes are flowing, at a different moment each round.
        deadline = time.time() + 10
        while sum(len(a) for a in acked) < 40 + 25 * rnd and time.time() < deadline:
            time.sleep(0.005)
        s.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads)
        assert integrity_ok(s.data_dir) == "ok"
        s.start()
        n_clusters, n_tags = check_after_crash(s, all_acked, prefixes)
        assert n_clusters >= 20, "the burst acknowledged too little to prove anything"
        total = n_clusters
    assert total > 0
    assert s.stop() == 0
    assert integrity_ok(s.data_dir) == "ok"


def test_sigterm_during_write_burst(make_skiffd):
    """A clean stop while writes are in flight: skiffd exits 0 and keeps
    every write it acknowledged."""
    s = make_skiffd(*NOTHROTTLE)
    stop = threading.Event()
    threads, acked = burst(for_profile(s), 6, stop, "t")
    deadline = time.time() + 10
    while sum(len(a) for a in acked) < 60 and time.time() < deadline:
        time.sleep(0.005)
    assert s.stop() == 0
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert integrity_ok(s.data_dir) == "ok"
    s.start()
    n_clusters, _ = check_after_crash(s, acked, ["t"])
    assert n_clusters >= 20


def test_corrupt_database_is_refused(make_skiffd):
    """An integrity failure at start stops skiffd with a message instead of
    serving from a damaged store."""
    s = make_skiffd(*NOTHROTTLE)
    s.client().create_cluster(clusterName="x")
    assert s.stop() == 0
    db = os.path.join(s.data_dir, "state.db")
    size = os.path.getsize(db)
    with open(db, "r+b") as f:
        f.seek(0)
        f.write(b"this is not sqlite" * 8)
    assert os.path.getsize(db) == size
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "state.db" in str(e.value) or "database" in str(e.value).lower() or \
        "store" in str(e.value).lower(), e.value
