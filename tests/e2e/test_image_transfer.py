"""The transfer engine against a registry that misbehaves on purpose:
retries with backoff on 5xx, Range resume of a cut blob, redirects to
another host (which never sees the registry's credentials), plain HTTP
only where allowed."""
import base64
import os

import pytest

import registry as reg
from registry import image_skiffd  # noqa: F401 (fixture)


def small_image():
    return reg.Image([(reg.Layer().file("a", os.urandom(300 << 10)).bytes(), "gzip"),
                      (reg.Layer().file("b", "b\n").bytes(), "zstd")])


def test_retries_5xx_then_succeeds(image_skiffd):
    img = small_image()
    h = reg.HostileRegistry()
    try:
        h.image("flaky", "v1", img)
        man = "/v2/flaky/manifests/v1"
        blob = "/v2/flaky/blobs/" + img.layer_digests[0]
        cfg = "/v2/flaky/blobs/" + img.config_digest
        h.faults = {man: ["503", "502"], blob: ["500", "504", "429"], cfg: ["503"]}
        c = reg.client(image_skiffd)
        im = c.pull_image(reference="%s/flaky:v1" % h.host)["image"]
        assert im["digest"] == img.digest
        assert h.hits.count(man) == 3 and h.hits.count(blob) == 4 and h.hits.count(cfg) == 2
        # one fault too many: the error says what the registry kept saying
        c.delete_image(reference="%s/flaky:v1" % h.host)
        c.prune_images()
        h.faults = {man: ["503"] * 5}
        with pytest.raises(c.exceptions.CannotPullContainerError) as e:
            c.pull_image(reference="%s/flaky:v1" % h.host)
        assert "answered 503 after 5 attempts: UNAVAILABLE: try later" in str(e.value)
        # 404 is not retried
        n = len(h.hits)
        with pytest.raises(c.exceptions.CannotPullContainerError):
            c.pull_image(reference="%s/flaky:nope" % h.host)
        assert len(h.hits) - n == 1
    finally:
        h.close()


def test_cut_blob_resumes_with_range(image_skiffd):
    img = small_image()
    h = reg.HostileRegistry()
    try:
        h.image("cut", "v1", img)
        blob = "/v2/cut/blobs/" + img.layer_digests[0]
        h.faults = {blob: ["cut:100000", "cut:50000"]}
        c = reg.client(image_skiffd)
        im = c.pull_image(reference="%s/cut:v1" % h.host)["image"]
        assert im["digest"] == img.digest
        ranges = [hd.get("Range") for p, hd in h.requests if p == blob]
        assert ranges == [None, "bytes=100000-", "bytes=150000-"]
        reg.check_store_verified(image_skiffd)
    finally:
        h.close()


def test_redirected_blobs_do_not_carry_credentials(image_skiffd):
    img = small_image()
    cdn = reg.HostileRegistry()
    front = reg.HostileRegistry()
    try:
        cdn.image("r", "v1", img)
        front.image("r", "v1", img)
        good = "Basic " + base64.b64encode(b"carol:secret").decode()
        # the front registry wants Basic auth for everything
        for path, route in list(front.routes.items()):
            def guarded(hd, route=route):
                if hd.headers.get("Authorization") != good:
                    return (401, "application/json", b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                            False, {"WWW-Authenticate": 'Basic realm="front"'})
                return route(hd) if callable(route) else route
            front.routes[path] = guarded
        for d in img.layer_digests:
            p = "/v2/r/blobs/" + d
            front.faults[p] = ["redirect:http://%s%s?sig=x" % (cdn.host, p)] * 3
        cdn.routes.update({k + "?sig=x": v for k, v in cdn.routes.items()})
        c = reg.client(image_skiffd)
        im = c.pull_image(reference="%s/r:v1" % front.host,
                          credentials={"username": "carol", "password": "secret"})["image"]
        assert im["digest"] == img.digest
        cdn_blobs = [(p, hd) for p, hd in cdn.requests if "/blobs/" in p]
        assert len(cdn_blobs) == 2
        assert all("Authorization" not in hd for _, hd in cdn_blobs)
        assert any(hd.get("Authorization") == good for _, hd in front.requests)
    finally:
        cdn.close()
        front.close()


def test_plain_http_for_localhost_and_insecure_listing(image_skiffd):
    """A registry on localhost may speak plain HTTP, as may one listed
    insecure. (That other hosts never get plain HTTP is the unit test of
    registries.conf: only loopback or insecure allows it.)"""
    img = small_image()
    h = reg.HostileRegistry()
    try:
        h.image("p", "v1", img)
        port = h.host.split(":")[1]
        ref = "localhost:%s/p:v1" % port
        c = reg.client(image_skiffd)
        assert c.pull_image(reference=ref)["image"]["digest"] == img.digest
        conf = os.path.join(image_skiffd.data_dir, "registries.conf")
        with open(conf, "w") as f:
            f.write('[[registry]]\nlocation = "localhost:%s"\ninsecure = true\n' % port)
        c.delete_image(reference=ref)
        c.prune_images()
        assert c.pull_image(reference=ref)["image"]["digest"] == img.digest
    finally:
        h.close()
