"""skiff image pull / ls / inspect / rm / prune / import against a real
skiffd and Debian's docker-registry on loopback: table output (sizes in
binary units) and JSON output compared with the raw API answer (skiff's own
API, signed for the service "skiff"), errors, and the signs of life a pull
shows on a terminal and elsewhere."""
import hashlib
import json
import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import time

import pytest

import registry as reg
import sigv4_client
from conftest import SKIFF
from registry import registry  # noqa: F401 (fixture)
from test_cli import clean_env, closed_port, skiff, skiff_json, table

SKIFF_PREFIX = "SkiffV20261101"


def api(skiffd, op, body=None):
    """skiff's own API, raw: the JSON exactly as skiffd answers it."""
    c = sigv4_client.for_profile(skiffd, service="skiff", target_prefix=SKIFF_PREFIX)
    r = c.call(op, body or {})
    assert r.status == 200, r
    return r.json


def human(n):
    """What the CLI prints for a byte count."""
    if n < 1024:
        return "%dB" % n
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    v, u = float(n), 0
    while v >= 1024 and u + 1 < len(units):
        v /= 1024
        u += 1
    if v < 99.95:
        return "%.1f%s" % (v, units[u])
    if v < 1023.5:
        return "%.0f%s" % (v, units[u])
    return "1.0" + units[u + 1]


def short(digest):
    algo, hexd = digest.split(":")
    return "%s:%s" % (algo, hexd[:12])


def keyvalue(text):
    """A key/value block (keys may hold single spaces) as a dict."""
    return dict(re.split(r"\s{3,}", line, maxsplit=1) for line in text.strip("\n").split("\n"))


def image_on(base, name, size=256 << 10):
    top = reg.Layer().file(name, os.urandom(size)).bytes()
    return reg.Image([(base, "gzip"), (top, "gzip")], config={"Labels": {"name": name}})


@pytest.fixture
def pushed(registry):
    """Two images sharing a base layer, pushed as app:a and app:b."""
    base = reg.busybox_layer()
    a, b = image_on(base, "a"), image_on(base, "b", size=1 << 20)
    p = reg.Pusher(registry)
    p.image("app", "a", a)
    p.image("app", "b", b)
    return {"a": ("%s/app:a" % registry.host, a), "b": ("%s/app:b" % registry.host, b)}


def test_pull_ls_inspect_rm_prune_table(skiffd, pushed):
    ra, a = pushed["a"]
    rb, b = pushed["b"]
    rc, out, err = skiff(skiffd, "image", "pull", ra)
    assert rc == 0, err
    # Not a terminal: a plain line before and after (and one per change of
    # a layer's state that a progress poll saw; test_image_progress_cli.py).
    assert re.match(r"^Pulling %s\n(sha256:[0-9a-f]{12}: .+\n)*Pulled %s in \d+\.\ds\n$" % (
        re.escape(ra), re.escape(ra)), err), err
    [im] = api(skiffd, "DescribeImages", {"references": [ra]})["images"]
    [row] = table(out)
    # "just now" is under a second: a slow host can make it a few seconds.
    assert re.fullmatch(r"just now|[1-5]s ago", row.pop("PULLED")) and \
        re.fullmatch(r"just now|[1-5]s ago", row.pop("LAST-USED")), out
    assert row == {"REFERENCE": ra, "DIGEST": short(a.digest), "SIZE": human(im["size"]),
                   "UNPACKED": human(im["unpackedSize"])}
    time.sleep(1.1)
    assert skiff(skiffd, "image", "pull", rb)[0] == 0

    # Most recently used first.
    rc, out, err = skiff(skiffd, "image", "ls")
    assert rc == 0, err
    rows = table(out)
    assert [r["REFERENCE"] for r in rows] == [rb, ra]
    listed = api(skiffd, "ListImages")["images"]
    for r, im in zip(rows, listed):
        assert r["DIGEST"] == short(im["digest"])
        assert r["SIZE"] == human(im["size"]) and r["UNPACKED"] == human(im["unpackedSize"])
        assert re.match(r"^(just now|\d+s ago)$", r["PULLED"])
    assert all(re.match(r"^\d+(\.\d)?(B|KiB|MiB)$", r[k]) for r in rows for k in ("SIZE", "UNPACKED"))
    assert re.match(r"^\d+s ago$", rows[1]["PULLED"])

    # inspect --output table: a summary of the image and its config, then its layers.
    rc, out, err = skiff(skiffd, "image", "inspect", ra, "--output", "table")
    assert rc == 0, err
    summary, layers = out.split("\n\n")
    kv = keyvalue(summary)
    [im] = api(skiffd, "DescribeImages", {"references": [ra]})["images"]
    assert kv["REFERENCE"] == ra and kv["DIGEST"] == a.digest
    assert kv["CONFIG DIGEST"] == a.config_digest and kv["INDEX DIGEST"] == "-"
    assert kv["MEDIA TYPE"] == reg.MT_OCI_MANIFEST
    assert kv["PLATFORM"] == "linux/amd64"
    assert kv["SIZE"] == human(im["size"]) and kv["UNPACKED"] == human(im["unpackedSize"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", kv["PULLED"])
    assert kv["ENTRYPOINT"] == '["/bin/sh"]' and kv["CMD"] == '["-c","echo hello"]'
    assert kv["ENV"] == "PATH=/bin SKIFF_TEST=1"
    assert kv["WORKDIR"] == "/data" and kv["USER"] == "0:0" and kv["PORTS"] == "8080/tcp"
    assert table(layers) == [{"LAYER": d, "SIZE": human(len(a.blobs[d])),
                              "MEDIA-TYPE": reg.MT_LAYER["gzip"]} for d in a.layer_digests]

    # rm prints what it removed; the blobs stay until prune.
    rc, out, err = skiff(skiffd, "image", "rm", ra)
    assert rc == 0, err
    assert out == ra + "\n"
    assert [r["REFERENCE"] for r in table(skiff(skiffd, "image", "ls")[1])] == [rb]
    before = api(skiffd, "DescribeImageStore")
    rc, out, err = skiff(skiffd, "image", "prune")
    assert rc == 0, err
    after = api(skiffd, "DescribeImageStore")
    freed = before["blobBytes"] + before["layerBytes"] - after["blobBytes"] - after["layerBytes"]
    assert keyvalue(out) == {"IMAGES REMOVED": "0", "BLOBS REMOVED": "3", "LAYERS REMOVED": "1",
                             "SPACE FREED": human(freed)}
    assert freed > 256 << 10
    # Nothing left to free.
    assert keyvalue(skiff(skiffd, "image", "prune")[1])["SPACE FREED"] == "0B"

    # --max-size evicts least recently used images.
    rc, out, err = skiff(skiffd, "image", "prune", "--max-size", "1K")
    assert rc == 0, err
    kv = keyvalue(out)
    assert kv["IMAGES REMOVED"] == "1" and kv["LAYERS REMOVED"] == "2"
    rc, out, err = skiff(skiffd, "image", "ls")
    assert rc == 0 and out.split() == ["REFERENCE", "DIGEST", "SIZE", "UNPACKED", "PULLED",
                                       "LAST-USED"]


def test_json_is_the_api_answer(skiffd, pushed):
    ra, a = pushed["a"]
    rb, b = pushed["b"]
    rc, out, err = skiff(skiffd, "image", "pull", ra, "--output", "json")
    assert rc == 0, err
    assert err == ""  # no progress lines around JSON
    pulled = json.loads(out)
    assert pulled["image"]["digest"] == a.digest
    assert pulled["image"]["config"]["labels"] == {"name": "a"}
    again = api(skiffd, "PullImage", {"reference": ra, "pullPolicy": "IF_NOT_PRESENT"})
    strip = ("pulledAt", "lastUsedAt")
    assert {k: v for k, v in pulled["image"].items() if k not in strip} == \
        {k: v for k, v in again["image"].items() if k not in strip}
    skiff_json(skiffd, "image", "pull", rb)

    listed = skiff_json(skiffd, "image", "ls")
    assert listed == api(skiffd, "ListImages")
    assert [i["reference"] for i in listed["images"]] == [rb, ra]

    # inspect prints the image document, JSON by default.
    for args in ([], ["--output", "json"]):
        rc, out, err = skiff(skiffd, "image", "inspect", ra, *args)
        assert rc == 0, err
        assert json.loads(out) == api(skiffd, "DescribeImages", {"references": [ra]})["images"][0]
    # ... also by digest.
    assert json.loads(skiff(skiffd, "image", "inspect", b.digest)[1])["reference"] == rb

    deleted = skiff_json(skiffd, "image", "rm", ra, b.digest)
    assert deleted == {"deleted": [ra, rb]}
    pruned = skiff_json(skiffd, "image", "prune")
    assert set(pruned) == {"imagesRemoved", "blobsRemoved", "layersRemoved", "bytesFreed"}
    assert pruned["blobsRemoved"] == 7 and pruned["layersRemoved"] == 3
    assert skiff_json(skiffd, "image", "ls") == {"images": []}


def test_pages_of_images(skiffd, registry):
    """ListImages answers 100 images a page: 102 need two."""
    img = image_on(reg.busybox_layer(), "many", size=1024)
    p = reg.Pusher(registry)
    refs = []
    for i in range(102):
        p.manifest("many", "t%d" % i, img.manifest, img.media_type) if i else \
            p.image("many", "t0", img)
        refs.append("%s/many:t%d" % (registry.host, i))
    c = reg.client(skiffd)
    for r in refs:
        c.pull_image(reference=r)
    listed = skiff_json(skiffd, "image", "ls")["images"]
    assert sorted(i["reference"] for i in listed) == sorted(refs)
    assert sorted(r["REFERENCE"] for r in table(skiff(skiffd, "image", "ls")[1])) == sorted(refs)


def test_errors(skiffd, registry):
    missing = "%s/nothing:here" % registry.host
    rc, out, err = skiff(skiffd, "image", "pull", missing)
    assert rc == 1 and out == ""
    assert err.startswith("Pulling %s\nskiff: CannotPullContainerError: " % missing), err
    dead = "127.0.0.1:%d/x:y" % closed_port()
    rc, out, err = skiff(skiffd, "image", "pull", dead, "--output", "json")
    assert rc == 1 and out == ""
    assert err.startswith("skiff: CannotPullContainerError: ") and dead in err, err

    rc, out, err = skiff(skiffd, "image", "rm", "nope:1", "also/nope")
    assert rc == 1 and out == ""
    assert err.count("skiff: ImageNotFoundException: ") == 2, err
    rc, out, err = skiff(skiffd, "image", "inspect", "nope:1")
    assert rc == 1 and out == ""
    assert err.startswith("skiff: nope:1: "), err

    # Only the default profile may import from the host's files.
    skiffd.add_profile("other", "210987654321", "AKIDOTHEROTHER12", "s" * 40)
    rc, out, err = skiff(skiffd, "--profile", "other", "image", "import", "/etc")
    assert rc == 1 and err.endswith("\nskiff: AccessDeniedException: Only the default profile "
                                    "(the host's administrator) may import images from host "
                                    "paths.\n"), err


@pytest.mark.parametrize("args", [
    ["image"],
    ["image", "nope"],
    ["image", "pull"],
    ["image", "pull", "a", "b"],
    ["image", "pull", "a", "--platform"],
    ["image", "ls", "x"],
    ["image", "rm"],
    ["image", "inspect"],
    ["image", "inspect", "a", "b"],
    ["image", "import"],
    ["image", "import", "a", "--name"],
    ["image", "prune", "x"],
    ["image", "prune", "--max-size", "lots"],
    ["image", "prune", "--max-size", "10X"],
    ["image", "prune", "--max-size", "-1"],
])
def test_usage_errors(skiffd, args):
    dead = "http://127.0.0.1:%d" % closed_port()
    rc, out, err = skiff(skiffd, *args, env=clean_env(skiffd, SKIFF_ENDPOINT=dead))
    assert rc == 2, (args, out, err)
    assert out == ""
    assert "cannot reach" not in err


def write_layout(path, img, ref_name):
    """An OCI image layout holding img, named ref_name."""
    os.makedirs(os.path.join(path, "blobs", "sha256"))
    for d, data in list(img.blobs.items()) + [(img.digest, img.manifest)]:
        with open(os.path.join(path, "blobs", "sha256", d.split(":")[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": img.media_type, "digest": img.digest, "size": len(img.manifest),
             "annotations": {"org.opencontainers.image.ref.name": ref_name}}]}, f)


def test_import_layout_dir_and_tar(skiffd):
    img = image_on(reg.busybox_layer(), "imported")
    d = tempfile.mkdtemp(prefix="skiff-cli-import-")
    try:
        write_layout(os.path.join(d, "layout"), img, "cli/imported:v1")
        # A relative path is made absolute before skiffd (whose working
        # directory is elsewhere) reads it.
        p = subprocess.run([SKIFF, "image", "import", "layout"], env=clean_env(skiffd), cwd=d,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        path = os.path.join(os.path.realpath(d), "layout")
        assert p.stderr.startswith("Importing %s\nImported %s in " % (path, path)), p.stderr
        [row] = table(p.stdout)
        assert row["REFERENCE"] == "docker.io/cli/imported:v1"
        assert row["DIGEST"] == short(img.digest)
        [im] = api(skiffd, "DescribeImages", {"references": ["cli/imported:v1"]})["images"]
        assert row["SIZE"] == human(im["size"])
        assert [l["diffId"] for l in im["layers"]] == img.diff_ids

        # The same layout as a tar, under another name, in JSON.
        tar = os.path.join(d, "layout.tar")
        subprocess.run(["tar", "-C", os.path.join(d, "layout"), "-cf", tar, "."], check=True)
        rc, out, err = skiff(skiffd, "image", "import", tar, "--name", "local/renamed:1",
                             "--output", "json")
        assert rc == 0, err
        doc = json.loads(out)
        [im] = doc["images"]
        assert im["reference"] == "docker.io/local/renamed:1" and im["digest"] == img.digest
        assert im["config"]["labels"] == {"name": "imported"}
        assert sorted(r["REFERENCE"] for r in table(skiff(skiffd, "image", "ls")[1])) == \
            ["docker.io/cli/imported:v1", "docker.io/local/renamed:1"]

        # A path that is not there: skiffd's error names the absolute path.
        p = subprocess.run([SKIFF, "image", "import", "nothere.tar"], env=clean_env(skiffd),
                           cwd=d, capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and p.stdout == ""
        assert "skiff: CannotPullContainerError: " in p.stderr, p.stderr
        assert os.path.join(os.path.realpath(d), "nothere.tar") in p.stderr
    finally:
        shutil.rmtree(d)


def test_pull_on_a_terminal_shows_a_spinner(skiffd, registry):
    """Through a slow proxy the pull takes a few seconds: on a terminal the
    line is redrawn (carriage returns, elapsed seconds), then cleared."""
    img = image_on(reg.busybox_layer(), "slow", size=1 << 20)
    reg.Pusher(registry).image("slow", "1", img)
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=300 << 10)
    try:
        ref = "%s/slow:1" % proxy.host
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(skiffd.data_dir)
            os.execve(SKIFF, [SKIFF, "image", "pull", ref], clean_env(skiffd))
        chunks = []
        deadline = time.time() + 120
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if not r:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    finally:
        proxy.close()
    text = b"".join(chunks).decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text
    frames = re.findall(r"\r([|/\\-]) Pulling %s  (\d+)s" % re.escape(ref), text)
    assert len(frames) >= 2, text
    assert int(frames[-1][1]) >= 1
    assert "\r\x1b[K" in text
    assert re.search(r"Pulled %s in \d+\.\ds" % re.escape(ref), text)
    assert short(img.digest) in text.split("Pulled")[-1]


def test_help_lists_image_commands(skiffd):
    rc, out, err = skiff(skiffd, "image", "--help")
    assert rc == 0
    commands = [l.split()[0] for l in out.split("Commands:\n")[1].split("\n\n")[0].split("\n")]
    assert commands == ["pull", "ls", "inspect", "rm", "import", "prune"]
    for cmd in commands:
        rc, out, err = skiff(skiffd, "image", cmd, "--help")
        assert rc == 0 and out.startswith("Usage: skiff image %s" % cmd), (cmd, err)
