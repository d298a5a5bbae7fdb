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


def marker_image(arch, text):
    base = reg.busybox_layer()
    top = reg.Layer().dir("etc").file("etc/platform", text)
    return reg.Image([(base, "gzip"), (top.bytes(), "gzip")], arch=arch)


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-list"])
def test_multi_platform_index_picks_host_platform(image_skiffd, registry, docker):
    amd = marker_image("amd64", "amd64\n")
    arm = marker_image("arm64", "arm64\n")
    idx = reg.Index([(arm, "arm64", "v8"), (amd, "amd64", None)], docker=docker)
    reg.Pusher(registry).index("multi", "latest", idx)
    c = reg.client(image_skiffd)
    im = c.pull_image(reference="%s/multi" % registry.host)["image"]
    assert im["reference"] == "%s/multi:latest" % registry.host
    assert im["indexDigest"] == idx.digest
    assert im["digest"] == amd.digest  # this host is linux/amd64
    top = reg.layer_dir(image_skiffd, im["layers"][-1]["diffId"])
    with open(os.path.join(top, "etc/platform")) as f:
        assert f.read() == "amd64\n"
    # another platform on request
    im2 = c.pull_image(reference="%s/multi" % registry.host, platform="linux/arm64")["image"]
    assert im2["digest"] == arm.digest
    assert im2["config"]["architecture"] == "arm64"
    # none fits
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference="%s/multi" % registry.host, platform="linux/s390x")
    assert "no matching manifest for linux/s390x" in str(e.value)


def test_pull_by_digest_and_docker_schema2(image_skiffd, registry):
    img = multilayer_image(docker=True)
    reg.Pusher(registry).image("d/s2", "t", img)
    c = reg.client(image_skiffd)
    ref = "%s/d/s2@%s" % (registry.host, img.digest)
    im = c.pull_image(reference=ref)["image"]
    assert im["reference"] == ref
    assert im["digest"] == img.digest
    assert im["mediaType"] == reg.MT_DOCKER_MANIFEST
    # the digest names the image: asking for one the registry lacks fails
    bad = "%s/d/s2@sha256:%s" % (registry.host, "0" * 64)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=bad)
    msg = str(e.value)
    assert "CannotPullContainerError: %s" % bad in msg and "not found" in msg
    # listing and describing
    listed = c.list_images()["images"]
    assert [i["reference"] for i in listed] == [ref]
    d = c.describe_images(references=[ref, "%s/d/s2:nope" % registry.host])
    assert d["images"][0]["config"]["entrypoint"] == ["/bin/sh"]
    assert d["failures"] == [{"reference": "%s/d/s2:nope" % registry.host, "reason": "MISSING"}]
    # by manifest digest too
    assert c.describe_images(references=[img.digest])["images"][0]["reference"] == ref


def test_pull_errors_name_the_image_and_the_cause(image_skiffd, registry):
    c = reg.client(image_skiffd)
    reg.Pusher(registry).image("there", "v1", multilayer_image())
    cases = [
        ("127.0.0.1:1/nothing:v1", "unreachable"),
        ("%s/not-there:v1" % registry.host, "not found"),
        ("%s/there:v2" % registry.host, "manifest v2 not found: MANIFEST_UNKNOWN"),
    ]
    for ref, cause in cases:
        rc, out, err = reg.aws(image_skiffd, "pull-image", "--reference", ref)
        assert rc != 0
        assert "(CannotPullContainerError)" in err, err
        assert "CannotPullContainerError: %s" % ref in err, err
        assert cause in err, err
    # a malformed reference is the caller's mistake
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference="%s/Upper:v1" % registry.host)
    assert "invalid reference format" in str(e.value)
    assert c.list_images()["images"] == []
    assert reg.tmp_entries(image_skiffd) == []


def test_if_not_present_needs_no_registry(image_skiffd, registry):
    img = multilayer_image()
    reg.Pusher(registry).image("app", "v1", img)
    c = reg.client(image_skiffd)
    ref = "%s/app:v1" % registry.host
    first = c.pull_image(reference=ref)["image"]
    registry.stop()
    again = c.pull_image(reference=ref, pullPolicy="IF_NOT_PRESENT")["image"]
    assert again["digest"] == first["digest"]
    assert again["lastUsedAt"] >= first["lastUsedAt"]
    assert again["config"]["cmd"] == ["-c", "echo hello"]
    # ALWAYS asks the registry, which is gone
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref)
    assert "unreachable" in str(e.value)


def test_second_pull_downloads_nothing(image_skiffd, registry):
    img = multilayer_image()
    reg.Pusher(registry).image("app", "v1", img)
    c = reg.client(image_skiffd)
    ref = "%s/app:v1" % registry.host
    c.pull_image(reference=ref)
    c.pull_image(reference=ref)
    for d in img.layer_digests + [img.config_digest]:
        assert registry.blob_gets(d) == 1, d
