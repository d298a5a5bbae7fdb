"""The content store over time: delete and prune (GC of what no image uses),
disk usage, LRU eviction to a cache size, and offline import of OCI
layouts (directory and tar, as skopeo writes them) and docker save tars."""
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time

import pytest

import registry as reg
from registry import registry, image_skiffd  # noqa: F401 (fixtures)


def image_on(base, name, size=1 << 20):
    top = reg.Layer().file(name, os.urandom(size)).bytes()
    return reg.Image([(base, "gzip"), (top, "gzip")], config={"Labels": {"name": name}})


def store_files(skiffd):
    blobs = set(os.listdir(os.path.join(skiffd.data_dir, "blobs", "sha256")))
    layers = set(os.listdir(os.path.join(skiffd.data_dir, "layers")))
    return blobs, layers


def hexes(*digests):
    return {d.split(":", 1)[1] for d in digests}


def test_delete_and_prune_keep_what_others_use(image_skiffd, registry):
    base = reg.busybox_layer()
    a, b = image_on(base, "a"), image_on(base, "b")
    p = reg.Pusher(registry)
    p.image("app", "a", a)
    p.image("app", "b", b)
    c = reg.client(image_skiffd)
    ra, rb = "%s/app:a" % registry.host, "%s/app:b" % registry.host
    c.pull_image(reference=ra)
    c.pull_image(reference=rb)
    u = c.describe_image_store()
    assert u["images"] == 2 and u["layers"] == 3 and u["blobs"] == 7  # 2 manifests, 2 configs
    assert u["blobBytes"] > 2 << 20 and u["layerBytes"] > 3 << 20

    # nothing unreferenced yet
    assert c.prune_images()["bytesFreed"] == 0
    assert c.delete_image(reference=ra)["deleted"] == [ra]
    with pytest.raises(c.exceptions.ImageNotFoundException):
        c.delete_image(reference=ra)
    blobs, layers = store_files(image_skiffd)
    assert hexes(a.digest) <= blobs  # delete alone frees nothing
    res = c.prune_images()
    assert res["blobsRemoved"] == 3 and res["layersRemoved"] == 1
    assert res["bytesFreed"] > 1 << 20
    blobs, layers = store_files(image_skiffd)
    assert blobs == hexes(b.digest, b.config_digest, *b.layer_digests)
    assert layers == hexes(*b.diff_ids)
    # b still complete: it pulls without the registry
    registry.stop()
    im = c.pull_image(reference=rb, pullPolicy="IF_NOT_PRESENT")["image"]
    assert im["config"]["labels"] == {"name": "b"}
    # deleting by digest removes every reference to it
    assert c.delete_image(reference=b.digest)["deleted"] == [rb]
    c.prune_images()
    assert store_files(image_skiffd) == (set(), set())
    assert c.describe_image_store()["blobBytes"] == 0


def test_prune_removes_stray_temp_files_but_not_live_ones(image_skiffd):
    import fcntl
    tmp = os.path.join(image_skiffd.data_dir, "tmp")
    with open(os.path.join(tmp, "blob-stray.0"), "w") as f:
        f.write("left by a killed pull")
    os.makedirs(os.path.join(tmp, "layer-stray.1", "usr", "bin"))
    live = open(os.path.join(tmp, "blob-live.2"), "w")
    fcntl.flock(live, fcntl.LOCK_EX)
    try:
        reg.client(image_skiffd).prune_images()
        assert reg.tmp_entries(image_skiffd) == ["blob-live.2"]
    finally:
        live.close()


def test_lru_eviction_to_a_cache_size(image_skiffd, registry):
    base = reg.busybox_layer()
    imgs = {n: image_on(base, n, size=2 << 20) for n in "abc"}
    p = reg.Pusher(registry)
    c = reg.client(image_skiffd)
    for n, img in imgs.items():
        p.image("lru", n, img)
    refs = {n: "%s/lru:%s" % (registry.host, n) for n in "abc"}
    for n in "abc":
        c.pull_image(reference=refs[n])
        time.sleep(0.02)
    # a is used again: b is now the least recently used
    c.pull_image(reference=refs["a"], pullPolicy="IF_NOT_PRESENT")
    u = c.describe_image_store()
    total = u["blobBytes"] + u["layerBytes"]
    res = c.prune_images(maxCacheSize=total - (1 << 20))
    assert res["imagesRemoved"] == 1
    left = [i["reference"] for i in c.list_images()["images"]]
    assert sorted(left) == sorted([refs["a"], refs["c"]])
    u2 = c.describe_image_store()
    assert u2["blobBytes"] + u2["layerBytes"] <= total - (1 << 20)
    # a bound below the base layer evicts all
    res = c.prune_images(maxCacheSize=1)
    assert res["imagesRemoved"] == 2
    assert c.list_images()["images"] == []


def test_cache_size_from_registries_conf(image_skiffd, registry):
    base = reg.busybox_layer()
    a, b = image_on(base, "a", size=3 << 20), image_on(base, "b", size=3 << 20)
    p = reg.Pusher(registry)
    p.image("cfg", "a", a)
    p.image("cfg", "b", b)
    with open(os.path.join(image_skiffd.data_dir, "registries.conf"), "w") as f:
        f.write("[cache]\nmax_size = \"12M\"\n")
    c = reg.client(image_skiffd)
    assert c.describe_image_store()["maxCacheSize"] == 12 << 20
    c.pull_image(reference="%s/cfg:a" % registry.host)
    time.sleep(1.2)  # images used within the last second are spared
    c.pull_image(reference="%s/cfg:b" % registry.host)
    assert [i["reference"] for i in c.list_images()["images"]] == ["%s/cfg:b" % registry.host]
    blobs, layers = store_files(image_skiffd)
    assert a.diff_ids[1].split(":")[1] not in layers


# ---------------------------------------------------------------- import

def docker_save_tar(path, img, tags):
    """The layout `docker save` writes (Docker < 25): <id>/layer.tar,
    <config hex>.json, manifest.json."""
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        layers = []
        for i, d in enumerate(img.layer_digests):
            raw = img.raw_layers[i]
            lid = "%064x" % (i + 1)
            add(lid + "/layer.tar", raw)
            add(lid + "/VERSION", b"1.0")
            layers.append(lid + "/layer.tar")
        cfg = img.config_digest.split(":")[1] + ".json"
        add(cfg, img.config)
        add("manifest.json", json.dumps([{"Config": cfg, "RepoTags": tags,
                                          "Layers": layers}]).encode())


def test_import_docker_save_tar(image_skiffd):
    base = reg.busybox_layer()
    top = reg.Layer().file("hello.txt", "saved\n").bytes()
    img = reg.Image([(base, "tar"), (top, "tar")])
    img.raw_layers = [base, top]
    d = tempfile.mkdtemp(prefix="skiff-save-")
    try:
        path = os.path.join(d, "saved.tar")
        docker_save_tar(path, img, ["skiff/saved:v1", "skiff/saved:latest"])
        rc, out, err = reg.aws(image_skiffd, "import-image", "--path", path)
        assert rc == 0, err
        refs = [i["reference"] for i in out["images"]]
        assert refs == ["docker.io/skiff/saved:v1", "docker.io/skiff/saved:latest"]
        im = out["images"][0]
        assert [l["diffId"] for l in im["layers"]] == img.diff_ids
        assert im["config"]["entrypoint"] == ["/bin/sh"]
        with open(os.path.join(reg.layer_dir(image_skiffd, img.diff_ids[1]), "hello.txt")) as f:
            assert f.read() == "saved\n"
        reg.check_store_verified(image_skiffd)
        # an explicit name for a one-image archive
        c = reg.client(image_skiffd)
        out = c.import_image(path=path, reference="local/renamed:1")
        assert [i["reference"] for i in out["images"]] == ["docker.io/local/renamed:1"]
    finally:
        shutil.rmtree(d)


def skopeo_layout(registry, ref, dest):
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                    "docker://%s/%s" % (registry.host, ref), "oci:%s:%s" % (dest, ref)],
                   check=True, capture_output=True)


def test_import_oci_layout_dir_and_tar(image_skiffd, registry):
    img = image_on(reg.busybox_layer(), "oci", size=256 << 10)
    reg.Pusher(registry).image("team/oci", "v2", img)
    d = tempfile.mkdtemp(prefix="skiff-oci-")
    try:
        layout = os.path.join(d, "layout")
        skopeo_layout(registry, "team/oci:v2", layout)
        c = reg.client(image_skiffd)
        out = c.import_image(path=layout)
        im = out["images"][0]
        assert im["reference"] == "docker.io/team/oci:v2"  # the layout's ref.name
        assert im["config"]["labels"] == {"name": "oci"}
        assert [l["diffId"] for l in im["layers"]] == img.diff_ids
        c.delete_image(reference=im["reference"])
        c.prune_images()
        assert store_files(image_skiffd) == (set(), set())
        # the same layout as a tar
        tar = os.path.join(d, "layout.tar")
        subprocess.run(["tar", "-C", layout, "-cf", tar, "."], check=True)
        out = c.import_image(path=tar, reference="127.0.0.1:5000/x/y:z")
        assert out["images"][0]["reference"] == "127.0.0.1:5000/x/y:z"
        assert out["images"][0]["digest"] == im["digest"]
        reg.check_store_verified(image_skiffd)

        # a tampered blob in the layout is refused (with the store emptied
        # first: a blob already verified in the store is not read again)
        c.delete_image(reference="127.0.0.1:5000/x/y:z")
        c.prune_images()
        bad = os.path.join(d, "bad")
        shutil.copytree(layout, bad)
        victim = os.path.join(bad, "blobs", "sha256", img.layer_digests[1].split(":")[1])
        with open(victim, "r+b") as f:
            f.seek(100)
            f.write(b"\xff\xff")
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.import_image(path=bad, reference="t/bad:1")
        assert "digest mismatch" in str(e.value)
        assert c.list_images()["images"] == []
        assert reg.tmp_entries(image_skiffd) == []
    finally:
        shutil.rmtree(d)


def test_import_refusals(image_skiffd):
    c = reg.client(image_skiffd)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.import_image(path="/nonexistent/archive.tar")
    assert "No such file" in str(e.value)
    d = tempfile.mkdtemp(prefix="skiff-imp-")
    try:
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.import_image(path=d)
        assert "neither an OCI image layout" in str(e.value)
        # a layout whose index.json points outside it through a symlink
        os.symlink("/etc", os.path.join(d, "blobs"))
        with open(os.path.join(d, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [
                {"mediaType": reg.MT_OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 1,
                 "annotations": {"org.opencontainers.image.ref.name": "x/y:z"}}]}, f)
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.import_image(path=d)
        assert "Too many levels of symbolic links" in str(e.value) or "symbolic" in str(e.value)
    finally:
        shutil.rmtree(d)
    # only the host's administrator may import from host paths
    image_skiffd.add_profile("other", "210987654321", "AKIDOTHEROTHER12", "s" * 40)
    with pytest.raises(c.exceptions.ClientError) as e:
        reg.client(image_skiffd, "other").import_image(path="/etc")
    assert "AccessDeniedException" in str(e.value)


def test_disk_full_is_a_clear_error_and_leaves_nothing(registry):
    """The data dir on a 16 MiB tmpfs; the image needs more."""
    import conftest
    d = tempfile.mkdtemp(prefix="skiff-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", d], check=True)
    s = None
    try:
        big = reg.Layer().file("big", os.urandom(24 << 20)).bytes()
        img = reg.Image([(reg.busybox_layer(), "gzip"), (big, "gzip")])
        reg.Pusher(registry).image("huge", "v1", img)
        s = conftest.Skiffd(d, ["--throttle-read", "off", "--throttle-write", "off"]).start()
        c = reg.client(s)
        ref = "%s/huge:v1" % registry.host
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.pull_image(reference=ref)
        msg = str(e.value)
        assert "CannotPullContainerError: %s" % ref in msg
        assert "No space left on device" in msg
        assert c.list_images()["images"] == []
        assert reg.tmp_entries(s) == []
        assert not os.path.exists(reg.blob_path(s, img.layer_digests[1]))
        reg.check_store_verified(s)
    finally:
        if s:
            s.stop()
        subprocess.run(["umount", d], check=True)
        os.rmdir(d)
