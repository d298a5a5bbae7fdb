"""repositoryCredentials: a task whose image sits behind Basic auth over TLS
(docker-registry with a test CA) pulls it with the username and password of
a Secrets Manager secret; without credentials, with a missing secret, with a
secret that is not {"username", "password"} or with a wrong password it
stops with TaskFailedToStart and the reason ECS gives. The credentials never
reach the task's documents, task.json or the log."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import registry as reg
from tasks_util import (assert_no_leftovers, busybox_layout, daemons, describe,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

PASSWORD = "builder-" + os.urandom(6).hex()


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
