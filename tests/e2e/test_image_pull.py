"""Pulling images from a real registry (Debian's docker-registry on
loopback) into the content store, with the aws CLI and botocore against
skiff's own API model."""
import json
import os
import subprocess
import tempfile

import pytest

import registry as reg
from registry import registry, image_skiffd  # noqa: F401 (fixtures)


def multilayer_image(docker=False):
    """busybox base; a layer that deletes a file and replaces a directory
    (opaque); a zstd layer adding a file."""
    base = reg.busybox_layer()
    l2 = (reg.Layer().dir("data").whiteout("data/drop").dir("opaque").opaque("opaque")
          .file("opaque/new", "new content\n").file("etc/motd", "from layer 2\n"))
    l3 = reg.Layer().dir("app").file("app/run.sh", "#!/bin/sh\necho run\n", mode=0o755)
    return reg.Image([(base, "gzip"), (l2.bytes(), "gzip"), (l3.bytes(), "zstd")], docker=docker)


def test_pull_multilayer_with_aws_cli(image_skiffd, registry):
    img = multilayer_image()
    reg.Pusher(registry).image("team/app", "v1", img)
    ref = "%s/team/app:v1" % registry.host
    rc, out, err = reg.aws(image_skiffd, "pull-image", "--reference", ref)
    assert rc == 0, err
    im = out["image"]
    assert im["reference"] == ref
    assert im["digest"] == img.digest
    assert im["configDigest"] == img.config_digest
    assert [l["digest"] for l in im["layers"]] == img.layer_digests
    assert [l["diffId"] for l in im["layers"]] == img.diff_ids
    assert im["layers"][2]["mediaType"].endswith("+zstd")
    cfg = im["config"]
    assert cfg["entrypoint"] == ["/bin/sh"]
    assert cfg["cmd"] == ["-c", "echo hello"]
    assert "SKIFF_TEST=1" in cfg["env"]
    assert cfg["workingDir"] == "/data"
    assert cfg["exposedPorts"] == ["8080/tcp"]
    assert cfg["labels"] == {"org.skiff.test": "yes"}
    assert im["size"] > 1_000_000 and im["unpackedSize"] > 1_900_000

    # every blob verified, every layer unpacked under its diff_id
    reg.check_store_verified(image_skiffd)
    for d in img.layer_digests + [img.config_digest, img.digest]:
        assert os.path.isfile(reg.blob_path(image_skiffd, d))
    l1, l2, l3 = (reg.layer_dir(image_skiffd, d) for d in img.diff_ids)
    with open(os.path.join(l1, "bin/busybox"), "rb") as f, open(reg.BUSYBOX, "rb") as g:
        assert f.read() == g.read()
    assert os.readlink(os.path.join(l1, "bin/sh")) == "busybox"
    assert reg.is_whiteout(os.path.join(l2, "data/drop"))
    assert os.getxattr(os.path.join(l2, "opaque"), "trusted.overlay.opaque") == b"y"
    assert not os.path.exists(os.path.join(l2, "opaque/.wh..wh..opq"))
    assert os.stat(os.path.join(l3, "app/run.sh")).st_mode & 0o777 == 0o755
    assert reg.tmp_entries(image_skiffd) == []


def test_layers_make_a_working_overlay_rootfs(image_skiffd, registry):
    """The unpacked layers, stacked by overlayfs, are the image: deleted
    files are gone, the opaque directory shows only the new layer, and
    busybox runs in it."""
    img = multilayer_image()
    reg.Pusher(registry).image("team/app", "v1", img)
    c = reg.client(image_skiffd)
    im = c.pull_image(reference="%s/team/app:v1" % registry.host)["image"]
    lower = ":".join(reg.layer_dir(image_skiffd, l["diffId"]) for l in reversed(im["layers"]))
    work = tempfile.mkdtemp(prefix="skiff-ovl-")
    merged, upper, wd = (os.path.join(work, n) for n in ("merged", "upper", "work"))
    for d in (merged, upper, wd):
        os.mkdir(d)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, wd), merged], check=True)
    try:
        assert sorted(os.listdir(os.path.join(merged, "data"))) == ["keep"]
        assert sorted(os.listdir(os.path.join(merged, "opaque"))) == ["new"]
        with open(os.path.join(merged, "etc/motd")) as f:
            assert f.read() == "from layer 2\n"
        out = subprocess.run(["chroot", merged, "/bin/sh", "-c", "cat /etc/hostname; /app/run.sh"],
                             capture_output=True, text=True, check=True).stdout
        assert out == "skiff-test\nrun\n"
    finally:
        subprocess.run(["umount", merged], check=True)
        subprocess.run(["rm", "-rf", work])
