"""Malicious images are refused and nothing outside the store changes: layers
that reach for a host sentinel file (path traversal, an absolute symlink
written through, hard links out of the root), blobs whose bytes do not
match their digest, layers whose content does not match the config's
diff_id, oversized manifests."""
import hashlib
import json
import os
import shutil
import tempfile

import pytest

import registry as reg
from registry import registry, image_skiffd  # noqa: F401 (fixtures)


@pytest.fixture
def sentinel():
    d = tempfile.mkdtemp(prefix="skiff-sentinel-")
    path = os.path.join(d, "sentinel")
    with open(path, "w") as f:
        f.write("host data\n")
    st = os.stat(path)
    yield d, path
    with open(path) as f:
        assert f.read() == "host data\n"
    st2 = os.stat(path)
    assert (st2.st_ino, st2.st_mtime_ns, st2.st_nlink, st2.st_size) == \
        (st.st_ino, st.st_mtime_ns, 1, st.st_size)
    assert os.listdir(d) == ["sentinel"]
    shutil.rmtree(d)


UP = "../" * 24  # from any layer dir up to /


def evil_layers(sdir, spath):
    """(title, layer bytes, what the error says)"""
    rel = UP + spath.lstrip("/")
    return [
        ("path traversal",
         reg.Layer().file(rel, "pwned\n").bytes(), "'..' component"),
        ("absolute symlink then write through it",
         reg.Layer().symlink("evil", sdir).file("evil/sentinel", "pwned\n").bytes(),
         "goes through a symlink"),
        ("absolute symlink then new file through it",
         reg.Layer().symlink("evil", sdir).file("evil/new", "pwned\n").bytes(),
         "goes through a symlink"),
        ("relative symlink out then write through it",
         reg.Layer().symlink("evil", UP.rstrip("/")).file("evil" + spath, "pwned\n").bytes(),
         "goes through a symlink"),
        ("hard link out of the root with ..",
         reg.Layer().hardlink("link", rel).file("after", "x").bytes(), "leaves the layer"),
        ("hard link to an absolute host path",
         reg.Layer().hardlink("link", spath).bytes(), "not in this layer"),
        ("whiteout through a symlink",
         reg.Layer().symlink("evil", sdir).file("evil/.wh.sentinel", "").bytes(),
         "goes through a symlink"),
    ]


def assert_nothing_recorded(skiffd, c, diff_id=None):
    assert c.list_images()["images"] == []
    assert reg.tmp_entries(skiffd) == []
    if diff_id:
        assert not os.path.exists(reg.layer_dir(skiffd, diff_id))


def test_malicious_layers_are_refused(image_skiffd, registry, sentinel):
    sdir, spath = sentinel
    c = reg.client(image_skiffd)
    base = reg.busybox_layer()
    p = reg.Pusher(registry)
    for i, (title, layer, why) in enumerate(evil_layers(sdir, spath)):
        img = reg.Image([(base, "gzip"), (layer, "gzip")])
        p.image("evil", "t%d" % i, img)
        ref = "%s/evil:t%d" % (registry.host, i)
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.pull_image(reference=ref)
        msg = str(e.value)
        assert "CannotPullContainerError: %s" % ref in msg, title
        assert "refused" in msg and why in msg, (title, msg)
        assert "layer %s" % img.layer_digests[1] in msg, title
        assert_nothing_recorded(image_skiffd, c, img.diff_ids[1])
    # the good base layer was unpacked once and is kept for the next pull
    assert os.path.isdir(reg.layer_dir(image_skiffd, reg.sha256(base)))
    for name in ("pwned", "new", "evil"):
        assert not os.path.exists(os.path.join("/", name))


def test_device_nodes_and_setuid_are_neutralised(image_skiffd, registry):
    layer = (reg.Layer().dir("dev").chardev("dev/mem", 1, 1).chardev("dev/kmsg", 1, 11)
             .file("bin/su", "#!/bin/sh\n", mode=0o4755).file("bin/sg", "x", mode=0o2711)
             .bytes())
    img = reg.Image([(layer, "gzip")])
    reg.Pusher(registry).image("neutral", "v1", img)
    c = reg.client(image_skiffd)
    c.pull_image(reference="%s/neutral:v1" % registry.host)
    d = reg.layer_dir(image_skiffd, img.diff_ids[0])
    assert os.listdir(os.path.join(d, "dev")) == []
    assert os.stat(os.path.join(d, "bin/su")).st_mode & 0o7777 == 0o755
    assert os.stat(os.path.join(d, "bin/sg")).st_mode & 0o7777 == 0o711


def test_blob_digest_mismatch(image_skiffd, registry, sentinel):
    img = reg.Image([(reg.busybox_layer(), "gzip"),
                     (reg.Layer().file("f", "original\n").bytes(), "gzip")])
    reg.Pusher(registry).image("tampered", "v1", img)
    # corrupt the layer in the registry's storage: same size, other bytes
    path = registry.blob_data_path(img.layer_digests[1])
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))
    c = reg.client(image_skiffd)
    ref = "%s/tampered:v1" % registry.host
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref)
    msg = str(e.value)
    assert "CannotPullContainerError: %s" % ref in msg
    assert "blob %s: digest mismatch" % img.layer_digests[1] in msg
    assert not os.path.exists(reg.blob_path(image_skiffd, img.layer_digests[1]))
    reg.check_store_verified(image_skiffd)
    assert_nothing_recorded(image_skiffd, c, img.diff_ids[1])


def test_blob_longer_than_its_descriptor(image_skiffd, registry):
    img = reg.Image([(reg.Layer().file("f", "x" * 1000).bytes(), "gzip")])
    reg.Pusher(registry).image("long", "v1", img)
    path = registry.blob_data_path(img.layer_digests[0])
    with open(path, "ab") as f:
        f.write(b"\0" * 4096)
    c = reg.client(image_skiffd)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference="%s/long:v1" % registry.host)
    assert "larger than its descriptor" in str(e.value)
    assert not os.path.exists(reg.blob_path(image_skiffd, img.layer_digests[0]))
    assert_nothing_recorded(image_skiffd, c)


def test_layer_content_not_matching_diff_id(image_skiffd, registry):
    real = reg.Layer().file("f", "real\n").bytes()
    img = reg.Image([(real, "gzip")])
    # rewrite the config to claim another diff_id, and the manifest to match
    cfg = json.loads(img.config)
    cfg["rootfs"]["diff_ids"] = ["sha256:" + hashlib.sha256(b"other").hexdigest()]
    img.config = json.dumps(cfg).encode()
    del img.blobs[img.config_digest]
    img.config_digest = reg.sha256(img.config)
    img.blobs[img.config_digest] = img.config
    m = json.loads(img.manifest)
    m["config"].update(digest=img.config_digest, size=len(img.config))
    img.manifest = json.dumps(m).encode()
    reg.Pusher(registry).image("liar", "v1", img)
    c = reg.client(image_skiffd)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference="%s/liar:v1" % registry.host)
    assert "diff_id mismatch" in str(e.value)
    assert_nothing_recorded(image_skiffd, c, cfg["rootfs"]["diff_ids"][0])
    assert os.listdir(os.path.join(image_skiffd.data_dir, "layers")) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_manifest(image_skiffd, chunked):
    """docker-registry itself caps manifests at 4 MiB, so a hostile registry
    serves this one."""
    small = reg.Image([(reg.Layer().file("f", "x").bytes(), "gzip")])
    m = json.loads(small.manifest)
    m["annotations"] = {"pad": "x" * (5 << 20)}
    big = json.dumps(m).encode()
    hostile = reg.HostileRegistry({"/v2/big/manifests/v1": (200, reg.MT_OCI_MANIFEST, big,
                                                            chunked)})
    try:
        c = reg.client(image_skiffd)
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.pull_image(reference="%s/big:v1" % hostile.host)
        assert "manifest v1 is larger than 4194304 bytes" in str(e.value)
        assert hostile.hits == ["/v2/big/manifests/v1"]  # refused, not retried
        assert_nothing_recorded(image_skiffd, c)
    finally:
        hostile.close()


def test_manifest_not_matching_its_digest(image_skiffd):
    """A registry answering a by-digest request with other bytes."""
    img = reg.Image([(reg.Layer().file("f", "x").bytes(), "gzip")])
    other = reg.Image([(reg.Layer().file("f", "y").bytes(), "gzip")])
    hostile = reg.HostileRegistry({
        "/v2/x/manifests/" + img.digest: (200, reg.MT_OCI_MANIFEST, other.manifest, False),
        "/v2/x/manifests/v1": (200, reg.MT_OCI_MANIFEST, other.manifest, False)})
    try:
        c = reg.client(image_skiffd)
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.pull_image(reference="%s/x@%s" % (hostile.host, img.digest))
        assert "manifest digest mismatch" in str(e.value)
        assert not os.path.exists(reg.blob_path(image_skiffd, other.digest))
        assert_nothing_recorded(image_skiffd, c)
    finally:
        hostile.close()


def test_too_many_layers(image_skiffd, registry):
    c = reg.client(image_skiffd)
    layer = reg.Layer().file("f", "x").bytes()
    img = reg.Image([(layer, "gzip")] * 129)
    reg.Pusher(registry).image("many", "v1", img)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference="%s/many:v1" % registry.host)
    assert "129 layers (at most 128)" in str(e.value)
    assert_nothing_recorded(image_skiffd, c)
    assert os.listdir(os.path.join(image_skiffd.data_dir, "layers")) == []
