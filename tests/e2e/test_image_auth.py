"""Registry authentication and TLS: a docker-registry behind Bearer token
auth (with the test's own token server), and one behind Basic auth over
TLS with a test CA."""
import json
import os
import shutil
import tempfile

import pytest

import registry as reg
from registry import image_skiffd  # noqa: F401 (fixture)


def small_image(text="hi\n"):
    return reg.Image([(reg.busybox_layer(), "gzip"),
                      (reg.Layer().file("secret.txt", text).bytes(), "zstd")])


@pytest.fixture
def token_registry():
    d = tempfile.mkdtemp(prefix="skiff-token-")
    ts = reg.TokenServer(d, {"alice": "wonderland"})
    r = reg.Registry(token=ts).start()
    yield r, ts
    r.cleanup()
    ts.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tls_registry():
    d = tempfile.mkdtemp(prefix="skiff-tls-")
    ca = reg.TestCA(d)
    r = reg.Registry(tls=ca, htpasswd={"bob": "builder"}).start()
    r.ca = ca
    yield r
    r.cleanup()
    shutil.rmtree(d, ignore_errors=True)


def write_config_json(skiffd, host, user, password):
    with open(os.path.join(skiffd.data_dir, "config.json"), "w") as f:
        json.dump({"auths": {host: {"username": user, "password": password}}}, f)


def test_bearer_token_auth(image_skiffd, token_registry):
    r, ts = token_registry
    img = small_image()
    reg.Pusher(r, "alice", "wonderland").image("private/app", "v1", img)
    ref = "%s/private/app:v1" % r.host
    c = reg.client(image_skiffd)

    # anonymous: the token server hands out a token without access
    n0 = len(ts.requests)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref)
    msg = str(e.value)
    assert "CannotPullContainerError: %s" % ref in msg
    assert "pull access denied for %s/private/app" % r.host in msg
    anon = ts.requests[n0:]
    assert anon and all(u is None for u, _ in anon)
    assert anon[0][1]["scope"] == ["repository:private/app:pull"]
    assert anon[0][1]["service"] == [ts.service]

    # wrong password: the token server refuses
    write_config_json(image_skiffd, r.host, "alice", "looking-glass")
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref)
    assert "token server" in str(e.value) and "refused the credentials" in str(e.value)

    # right credentials from DATA-DIR/config.json
    write_config_json(image_skiffd, r.host, "alice", "wonderland")
    im = c.pull_image(reference=ref)["image"]
    assert im["digest"] == img.digest
    assert ("alice", ) == tuple({u for u, _ in ts.requests[-1:]})
    # a token is fetched once per pull, not once per blob
    before = len(ts.requests)
    c.delete_image(reference=ref)
    c.prune_images()
    c.pull_image(reference=ref)
    assert len(ts.requests) - before == 1

    # credentials given with the call win over config.json
    os.unlink(os.path.join(image_skiffd.data_dir, "config.json"))
    c.delete_image(reference=ref)
    c.prune_images()
    im = c.pull_image(reference=ref, credentials={"username": "alice", "password": "wonderland"})
    assert im["image"]["digest"] == img.digest
    with open(os.path.join(reg.layer_dir(image_skiffd, img.diff_ids[1]), "secret.txt")) as f:
        assert f.read() == "hi\n"


def test_basic_auth_over_tls_with_test_ca(image_skiffd, tls_registry):
    r = tls_registry
    img = small_image("tls\n")
    reg.Pusher(r, "bob", "builder", cafile=r.ca.ca).image("secure/app", "v1", img)
    ref = "%s/secure/app:v1" % r.host
    c = reg.client(image_skiffd)
    creds = {"username": "bob", "password": "builder"}

    # the CA is unknown: TLS is verified, and a loopback registry that
    # speaks TLS is not quietly retried over plain HTTP
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref, credentials=creds)
    msg = str(e.value)
    assert "TLS with registry %s failed" % r.host in msg and "certificate" in msg
    assert "GET /v2/" not in r.log().replace("GET /v2/ ", "")  # nothing fetched

    conf = os.path.join(image_skiffd.data_dir, "registries.conf")
    with open(conf, "w") as f:
        f.write('[[registry]]\nlocation = "%s"\nca_file = "%s"\n' % (r.host, r.ca.ca))

    # Basic auth: no credentials, wrong ones, right ones
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref)
    assert "requires credentials" in str(e.value)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref, credentials={"username": "bob", "password": "nope"})
    assert "pull access denied" in str(e.value)
    im = c.pull_image(reference=ref, credentials=creds)["image"]
    assert im["digest"] == img.digest
    with open(os.path.join(reg.layer_dir(image_skiffd, img.diff_ids[1]), "secret.txt")) as f:
        assert f.read() == "tls\n"

    # insecure = true skips verification (and allows plain HTTP)
    c.delete_image(reference=ref)
    c.prune_images()
    with open(conf, "w") as f:
        f.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % r.host)
    assert c.pull_image(reference=ref, credentials=creds)["image"]["digest"] == img.digest

    # blocked = true refuses the registry outright
    with open(conf, "w") as f:
        f.write('[[registry]]\nlocation = "%s"\nblocked = true\n' % r.host)
    with pytest.raises(c.exceptions.CannotPullContainerError) as e:
        c.pull_image(reference=ref, credentials=creds)
    assert "blocked" in str(e.value)
