"""Concurrent pulls download each blob once (threads of one skiffd, and two
skiffd processes sharing a data dir); kill -9 during a pull leaves only
temp files, which the next start removes."""
import os
import subprocess
import threading
import time

import pytest

import conftest
import registry as reg
from registry import registry, image_skiffd  # noqa: F401 (fixtures)


def random_image(n_layers=3, size=3 << 20):
    layers = [(reg.busybox_layer(), "gzip")]
    for i in range(n_layers):
        layers.append((reg.Layer().file("blob%d" % i, os.urandom(size)).bytes(),
                       "zstd" if i % 2 else "gzip"))
    return reg.Image(layers)


def pull_all(clients, ref):
    results, errors = [None] * len(clients), []
    barrier = threading.Barrier(len(clients))

    def run(i):
        try:
            barrier.wait()
            results[i] = clients[i].pull_image(reference=ref)["image"]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    deadline = time.time() + 300
    for t in threads:
        t.join(timeout=max(0, deadline - time.time()))
    assert not errors, errors
    # A pull left without an answer is a stall, not a slow pull (the proxy
    # makes each take seconds).
    assert not any(t.is_alive() for t in threads), "pulls unanswered after 300 s"
    assert None not in results, results
    return results


def test_eight_concurrent_pulls_download_each_blob_once(image_skiffd, registry):
    img = random_image()
    reg.Pusher(registry).image("shared", "v1", img)
    # a slow path to the registry (per connection), so that the pulls overlap
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=2 << 20)
    try:
        ref = "%s/shared:v1" % proxy.host
        clients = [reg.client(image_skiffd) for _ in range(8)]
        t0 = time.time()
        results = pull_all(clients, ref)
        elapsed = time.time() - t0
        assert elapsed > 0.5  # the proxy made them overlap (without it: ~0.05 s)
        # ~5 s at this rate; a request left unanswered shows as the
        # client's 300 s read timeout and its retry
        assert elapsed < 150, elapsed
        assert {r["digest"] for r in results} == {img.digest}
        for d in img.layer_digests + [img.config_digest]:
            assert registry.blob_gets(d) == 1, (d, registry.blob_gets(d))
            assert proxy.count("/blobs/" + d) == 1
        # every client asked for the manifest: that is the registry round trip
        assert proxy.count("/manifests/v1") >= 8
    finally:
        proxy.close()
    reg.check_store_verified(image_skiffd)
    assert reg.tmp_entries(image_skiffd) == []
    for d in img.diff_ids:
        assert os.path.isdir(reg.layer_dir(image_skiffd, d))


def test_two_daemons_on_one_data_dir_download_each_blob_once(make_skiffd, registry):
    img = random_image(n_layers=2)
    reg.Pusher(registry).image("shared", "v1", img)
    a = make_skiffd("--throttle-read", "off", "--throttle-write", "off", "--threads", "4")
    b = conftest.Skiffd(a.data_dir, ["--throttle-read", "off", "--throttle-write", "off",
                                     "--threads", "4"]).start()
    b.log_path = a.log_path
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=8 << 20)
    try:
        ref = "%s/shared:v1" % proxy.host
        clients = [reg.client(a), reg.client(b)] * 2
        results = pull_all(clients, ref)
        assert {r["digest"] for r in results} == {img.digest}
        for d in img.layer_digests + [img.config_digest]:
            assert registry.blob_gets(d) == 1, d
    finally:
        proxy.close()
        b.stop()
    reg.check_store_verified(a)
    assert reg.tmp_entries(a) == []


def test_kill_9_during_pull_leaves_only_temp_files(make_skiffd, registry):
    img = random_image(n_layers=1, size=24 << 20)
    reg.Pusher(registry).image("big", "v1", img)
    s = make_skiffd("--throttle-read", "off", "--throttle-write", "off")
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=3 << 20)
    big = img.layer_digests[1]
    try:
        ref = "%s/big:v1" % proxy.host
        c = reg.client(s)
        t = threading.Thread(target=lambda: pytest.raises(Exception, c.pull_image,
                                                          reference=ref))
        t.start()
        # wait until the big blob is being written
        deadline = time.time() + 30
        while time.time() < deadline:
            if any(n.startswith("blob-" + big.split(":")[1]) for n in reg.tmp_entries(s)):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the download never started: %s" % reg.tmp_entries(s))
        time.sleep(0.5)
        s.kill9()
        t.join(timeout=60)
        left = reg.tmp_entries(s)
        assert any(n.startswith("blob-") for n in left), left
        # nothing partial is visible: blobs/ holds only verified blobs
        assert not os.path.exists(reg.blob_path(s, big))
        reg.check_store_verified(s)
        assert not os.path.exists(reg.layer_dir(s, img.diff_ids[1]))
        s.start()
        assert reg.tmp_entries(s) == []  # the next start removed them
        rc = subprocess.run(["sqlite3", os.path.join(s.data_dir, "state.db"),
                             "select count(*) from images"], capture_output=True, text=True)
        assert rc.stdout.strip() == "0"
    finally:
        proxy.close()
    # and the pull works when tried again
    im = reg.client(s).pull_image(reference="%s/big:v1" % registry.host)["image"]
    assert im["digest"] == img.digest
    reg.check_store_verified(s)


def test_pull_progress_while_downloading(image_skiffd, registry):
    img = random_image(n_layers=2, size=6 << 20)
    reg.Pusher(registry).image("slow", "v1", img)
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=2 << 20)
    try:
        ref = "%s/slow:v1" % proxy.host
        c = reg.client(image_skiffd)
        done = []
        t = threading.Thread(target=lambda: done.append(c.pull_image(reference=ref)))
        t.start()
        seen, last = None, None
        deadline = time.time() + 60
        # the pull runs off skiffd's HTTP workers (API_OP_SLOW), so any
        # connection answers meanwhile
        time.sleep(0.3)
        while time.time() < deadline and not done:
            pulls = reg.client(image_skiffd).describe_pull_progress(reference=ref)["pulls"]
            last = pulls or last
            if pulls:
                assert pulls[0]["reference"] == ref
                ls = pulls[0]["layers"]
                assert [l["digest"] for l in ls] == img.layer_digests
                partial = [l for l in ls if l["status"] == "DOWNLOADING"
                           and 0 < l["downloadedBytes"] < l["size"]]
                if partial:
                    seen = pulls[0]
                    break
            time.sleep(0.05)
        t.join(timeout=120)
        assert seen, ("never saw a layer part way", last, done)
        assert done and done[0]["image"]["digest"] == img.digest
        assert c.describe_pull_progress()["pulls"] == []
    finally:
        proxy.close()


def test_a_slow_pull_keeps_no_other_call_waiting(make_skiffd, registry):
    """One HTTP worker serves every connection here. A pull crawling
    through a slow proxy runs off it, so calls on a connection opened before
    the pull and on a new one are answered while the pull goes on."""
    s = make_skiffd("--throttle-read", "off", "--throttle-write", "off", "--threads", "1")
    img = random_image(n_layers=1)
    reg.Pusher(registry).image("crawl", "v1", img)
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=128 << 10)  # 3 MiB: ~24 s
    try:
        ref = "%s/crawl:v1" % proxy.host
        early = reg.client(s)
        assert early.list_images()["images"] == []  # its connection is open now
        done, errors = [], []

        def pull():
            try:
                done.append(reg.client(s).pull_image(reference=ref))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        t = threading.Thread(target=pull)
        t.start()
        deadline = time.time() + 60
        # a layer's blob (the config blob comes before the pull shows)
        while not any(proxy.count("/blobs/" + d) for d in img.layer_digests):
            assert time.time() < deadline and t.is_alive(), ("the pull fetched no layer", errors)
            time.sleep(0.05)
        pulls = early.describe_pull_progress()["pulls"]
        assert [p["reference"] for p in pulls] == [ref]
        assert reg.client(s).list_images()["images"] == []
        # Answered during the pull, not after it.
        assert t.is_alive() and not done, (done, errors)
        proxy.rate = None
        t.join(timeout=120)
        assert errors == [] and done[0]["image"]["digest"] == img.digest
        assert [i["reference"] for i in early.list_images()["images"]] == [ref]
    finally:
        proxy.rate = None
        proxy.close()
