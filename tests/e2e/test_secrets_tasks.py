"""repositoryCredentials: a task whose image sits behind Basic auth over TLS
(docker-registry with a test CA) pulls it with the username and password of
a Secrets Manager secret; without credentials, with a missing secret, with a
secret that is not {"username", "password"} or with a wrong password it
stops with TaskFailedToStart and the reason ECS gives. The credentials never
reach the task's documents, task.json or the log.

Tenant isolation of the shared image store: once one account's task has
pulled a private image with its credentials, another account's task gets
the cached copy only if the registry lets its own credentials read the
manifest; a public image still starts with no registry request at all."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import registry as reg
from tasks_util import (assert_no_leftovers, busybox_layout, daemons, describe,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

PASSWORD = "builder-" + os.urandom(6).hex()
B_ACCOUNT = "222233334444"


@pytest.fixture
def tls_registry():
    d = tempfile.mkdtemp(prefix="skiff-tls-")
    ca = reg.TestCA(d)
    r = reg.Registry(tls=ca, htpasswd={"bob": PASSWORD}).start()
    r.ca = ca
    yield r
    r.cleanup()
    shutil.rmtree(d, ignore_errors=True)


def test_repository_credentials(daemons, tls_registry):
    r = tls_registry
    rootfs = reg.Layer().dir("proc").dir("sys").dir("dev").dir("tmp", mode=0o1777).bytes()
    img = reg.Image([(reg.busybox_layer(), "gzip"), (rootfs, "gzip")],
                    config={"Entrypoint": None, "Cmd": ["sh"], "Env": ["PATH=/bin"],
                            "WorkingDir": "/"})
    reg.Pusher(r, "bob", PASSWORD, cafile=r.ca.ca).image("private/app", "v1", img)
    image = "%s/private/app:v1" % r.host

    s = daemons.start()
    with open(os.path.join(s.data_dir, "registries.conf"), "w") as f:
        f.write('[[registry]]\nlocation = "%s"\nca_file = "%s"\n' % (r.host, r.ca.ca))
    ecs = s.client()
    sm = s.client("secretsmanager")
    good = sm.create_secret(Name="reg/good", SecretString=json.dumps(
        {"username": "bob", "password": PASSWORD}))["ARN"]
    sm.create_secret(Name="reg/notjson", SecretString="bob:" + PASSWORD)
    sm.create_secret(Name="reg/wrong", SecretString=json.dumps(
        {"username": "bob", "password": "nope"}))

    def task(family, creds=None):
        c = {"name": "app", "image": image, "essential": True,
             "command": ["sh", "-c", "echo pulled"]}
        if creds:
            c["repositoryCredentials"] = {"credentialsParameter": creds}
        [arn] = run(ecs, register(ecs, family, [c]))
        [t] = wait_tasks(ecs, [arn], "STOPPED", timeout=120)
        return t

    # No credentials: the registry wants them.
    t = task("nocreds")
    assert t["stopCode"] == "TaskFailedToStart", t
    assert t["stoppedReason"].startswith("CannotPullContainerError: %s" % image), t
    assert "requires credentials" in t["stoppedReason"]

    # A secret that does not exist (by name, and by another account's ARN).
    missing = good.replace(":secret:reg/good", ":secret:reg/missing")
    for ref in ("reg/missing", missing, good.replace(s.profile()["account_id"], "999999999999")):
        t = task("missing", ref)
        assert t["stopCode"] == "TaskFailedToStart", t
        assert t["stoppedReason"].startswith(
            "ResourceInitializationError: unable to pull secrets or registry auth: "
            "execution resource retrieval failed: unable to retrieve secret from asm: "
            "failed to fetch secret %s from secrets manager: ResourceNotFoundException" % ref), t

    # A value that is not {"username", "password"}; the value is not repeated.
    t = task("notjson", "reg/notjson")
    assert t["stopCode"] == "TaskFailedToStart", t
    assert t["stoppedReason"].startswith(
        "ResourceInitializationError: unable to pull secrets or registry auth:"), t
    assert "username" in t["stoppedReason"] and PASSWORD not in t["stoppedReason"]

    # Wrong password: the registry refuses.
    t = task("wrong", "reg/wrong")
    assert t["stopCode"] == "TaskFailedToStart", t
    assert t["stoppedReason"].startswith("CannotPullContainerError: %s" % image), t
    assert "pull access denied" in t["stoppedReason"]

    # The right secret, by ARN: the task pulls, runs and exits 0.
    t = task("good", good)
    assert t["stopCode"] == "EssentialContainerExited", t
    [c] = t["containers"]
    assert c["exitCode"] == 0 and c["imageDigest"] == img.digest, c

    # The password is nowhere on disk but in the sealed store, nor in any answer.
    out = subprocess.run(["grep", "-rl", "--exclude=state.db*", "--exclude=secrets.key",
                          PASSWORD, s.data_dir], capture_output=True, text=True)
    assert out.stdout == "", out.stdout
    assert PASSWORD not in json.dumps(describe(ecs, [t["taskArn"]]), default=str)
    stop_all_tasks(s)
    assert_no_leftovers(s)


def manifest_gets(r, repo):
    """Manifest requests (any answer) for repo in the registry's access log."""
    return sum(1 for line in r.log().splitlines()
               if '"GET /v2/%s/manifests/' % repo in line or '"HEAD /v2/%s/manifests/' % repo in line)


def test_cached_private_image_needs_own_credentials(daemons, tls_registry):
    r = tls_registry
    rootfs = reg.Layer().dir("proc").dir("sys").dir("dev").dir("tmp", mode=0o1777).bytes()
    img = reg.Image([(reg.busybox_layer(), "gzip"), (rootfs, "gzip")],
                    config={"Entrypoint": None, "Cmd": ["sh"], "Env": ["PATH=/bin"],
                            "WorkingDir": "/"})
    reg.Pusher(r, "bob", PASSWORD, cafile=r.ca.ca).image("private/app", "v1", img)
    image = "%s/private/app:v1" % r.host
    public = reg.Registry().start()
    try:
        reg.Pusher(public).image("public/app", "v1", img)
        pub_image = "%s/public/app:v1" % public.host

        s = daemons.start()
        with open(os.path.join(s.data_dir, "registries.conf"), "w") as f:
            f.write('[[registry]]\nlocation = "%s"\nca_file = "%s"\n' % (r.host, r.ca.ca))
        s.add_profile("b", B_ACCOUNT, "AKIABBBBBBBBBBBBBBBB", "b" * 40)
        ecs_a = s.client()
        ecs_b = s.client(profile="b")
        for _ in range(100):
            try:
                ecs_b.create_cluster(clusterName="default")
                break
            except Exception:
                time.sleep(0.1)
        a_secret = s.client("secretsmanager").create_secret(
            Name="reg/a", SecretString=json.dumps({"username": "bob", "password": PASSWORD}))
        sm_b = s.client("secretsmanager", profile="b")
        b_good = sm_b.create_secret(Name="reg/b", SecretString=json.dumps(
            {"username": "bob", "password": PASSWORD}))["ARN"]
        sm_b.create_secret(Name="reg/wrong", SecretString=json.dumps(
            {"username": "bob", "password": "nope"}))

        def task(ecs, family, img_ref, creds=None):
            c = {"name": "app", "image": img_ref, "essential": True,
                 "command": ["sh", "-c", "echo pulled"]}
            if creds:
                c["repositoryCredentials"] = {"credentialsParameter": creds}
            [arn] = run(ecs, register(ecs, family, [c]))
            [t] = wait_tasks(ecs, [arn], "STOPPED", timeout=120)
            return t

        def ran(t):
            assert t["stopCode"] == "EssentialContainerExited", t
            [c] = t["containers"]
            assert c["exitCode"] == 0 and c["imageDigest"] == img.digest, c

        m = json.loads(img.manifest)
        blobs = [d["digest"] for d in m["layers"]] + [m["config"]["digest"]]

        # Account A pulls the private image with its credentials.
        ran(task(ecs_a, "a", image, a_secret["ARN"]))
        gets = {d: r.blob_gets(d) for d in blobs}
        assert all(n == 1 for n in gets.values()), gets

        # Account B without credentials: the cached copy is not handed over.
        t = task(ecs_b, "b-none", image)
        assert t["stopCode"] == "TaskFailedToStart", t
        assert t["stoppedReason"].startswith("CannotPullContainerError: %s" % image), t
        assert "requires credentials" in t["stoppedReason"], t

        # Account B with wrong credentials: the registry's refusal.
        t = task(ecs_b, "b-wrong", image, "reg/wrong")
        assert t["stopCode"] == "TaskFailedToStart", t
        assert t["stoppedReason"].startswith("CannotPullContainerError: %s" % image), t
        assert "pull access denied" in t["stoppedReason"], t

        # Account B with its own right credentials: the registry agrees, the
        # cached copy runs, no blob is downloaded again.
        before = manifest_gets(r, "private/app")
        ran(task(ecs_b, "b-good", image, b_good))
        assert manifest_gets(r, "private/app") > before
        assert {d: r.blob_gets(d) for d in blobs} == gets

        # And B's denial did not cost A its access.
        ran(task(ecs_a, "a2", image, a_secret["ARN"]))
        assert {d: r.blob_gets(d) for d in blobs} == gets

        # A public image: pulled once, then started with no registry request.
        ran(task(ecs_a, "pub-a", pub_image))
        before = manifest_gets(public, "public/app")
        assert before >= 1
        ran(task(ecs_b, "pub-b", pub_image))
        assert manifest_gets(public, "public/app") == before

        stop_all_tasks(s)
        assert_no_leftovers(s)
    finally:
        public.cleanup()
