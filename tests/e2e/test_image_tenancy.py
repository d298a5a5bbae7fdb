"""Per-account views of the host-wide image store: an account lists,
describes, deletes and follows the pulls of the images it pulled or ran,
never another tenant's; the host's administrator (profile "default") sees
and prunes everything."""
import os
import threading
import time

import pytest

import registry as reg
from registry import image_skiffd, registry  # noqa: F401 (fixtures)
from tasks_util import busybox_layout, daemons, register, run, wait_tasks  # noqa: F401

B_ACCOUNT = "222233334444"
C_ACCOUNT = "333344445555"


def small_image(text):
    return reg.Image([(reg.busybox_layer(), "gzip"),
                      (reg.Layer().file("data.txt", text).bytes(), "gzip")])


def refs(c):
    return sorted(i["reference"] for i in c.list_images()["images"])


def with_accounts(s):
    s.add_profile("b", B_ACCOUNT, "AKIABBBBBBBBBBBBBBB1", "b" * 40)
    s.add_profile("c", C_ACCOUNT, "AKIACCCCCCCCCCCCCCC1", "c" * 40)
    return reg.client(s), reg.client(s, "b"), reg.client(s, "c")


def test_each_account_sees_only_its_images(image_skiffd, registry):
    admin, b, c = with_accounts(image_skiffd)
    reg.Pusher(registry).image("team-b/app", "v1", small_image("b\n"))
    reg.Pusher(registry).image("team-c/app", "v1", small_image("c\n"))
    ref_b = "%s/team-b/app:v1" % registry.host
    ref_c = "%s/team-c/app:v1" % registry.host

    b.pull_image(reference=ref_b)
    c.pull_image(reference=ref_c)
    assert refs(b) == [ref_b]
    assert refs(c) == [ref_c]
    assert refs(admin) == sorted([ref_b, ref_c])

    # Describe: another tenant's image is MISSING, by name and by digest.
    digest_c = admin.describe_images(references=[ref_c])["images"][0]["digest"]
    out = b.describe_images(references=[ref_c, digest_c, ref_b])
    assert [i["reference"] for i in out["images"]] == [ref_b]
    assert sorted(f["reference"] for f in out["failures"]) == sorted([ref_c, digest_c])
    assert {f["reason"] for f in out["failures"]} == {"MISSING"}

    # Delete: b cannot remove c's image, by name or by digest.
    for ref in (ref_c, digest_c):
        with pytest.raises(b.exceptions.ClientError) as e:
            b.delete_image(reference=ref)
        assert "ImageNotFoundException" in str(e.value)
    assert refs(c) == [ref_c]

    # Prune is the administrator's.
    with pytest.raises(b.exceptions.ClientError) as e:
        b.prune_images()
    assert "AccessDeniedException" in str(e.value)

    # A shared image: both pulled it; b's delete only drops b's view.
    c.pull_image(reference=ref_b)
    assert refs(c) == sorted([ref_b, ref_c])
    assert b.delete_image(reference=ref_b)["deleted"] == [ref_b]
    assert refs(b) == []
    assert refs(c) == sorted([ref_b, ref_c])
    assert ref_b in refs(admin)
    # c was the last account with access: the record goes.
    assert c.delete_image(reference=ref_b)["deleted"] == [ref_b]
    assert refs(admin) == [ref_c]

    # After a restart the views are the same.
    image_skiffd.stop()
    image_skiffd.start()
    assert refs(reg.client(image_skiffd, "b")) == []
    assert refs(reg.client(image_skiffd, "c")) == [ref_c]
    # The administrator deletes for everybody.
    reg.client(image_skiffd).delete_image(reference=ref_c)
    assert refs(reg.client(image_skiffd, "c")) == []


def test_pull_progress_is_the_callers(image_skiffd, registry):
    """A slow pull by c shows in c's DescribePullProgress and the
    administrator's, not in b's."""
    with_accounts(image_skiffd)
    # A client per call: each account's view over a connection of its own.
    def fresh(profile):
        return reg.client(image_skiffd, profile)
    big = reg.Layer().file("big", os.urandom(3 << 20)).bytes()
    reg.Pusher(registry).image("team-c/slow", "v1",
                               reg.Image([(reg.busybox_layer(), "gzip"), (big, "gzip")]))
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=256 << 10)
    ref = "%s/team-c/slow:v1" % proxy.host
    errors = []

    def pull():
        try:
            fresh("c").pull_image(reference=ref)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    t = threading.Thread(target=pull)
    t.start()
    try:
        deadline = time.time() + 60
        while not fresh("c").describe_pull_progress()["pulls"]:
            assert t.is_alive(), "the pull ended before it showed: %r" % errors
            assert time.time() < deadline, "the pull never showed"
            time.sleep(0.05)
        assert [p["reference"] for p in fresh("default").describe_pull_progress()["pulls"]] == [ref]
        assert fresh("b").describe_pull_progress()["pulls"] == []
        assert fresh("b").describe_pull_progress(reference=ref)["pulls"] == []
    finally:
        proxy.rate = None
        t.join(timeout=120)
        proxy.close()
    assert errors == []
    assert refs(fresh("c")) == [ref]
    assert refs(fresh("b")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
def test_running_a_task_gives_its_account_the_image(daemons):
    s = daemons.start()
    s.add_profile("b", B_ACCOUNT, "AKIABBBBBBBBBBBBBBB1", "b" * 40)
    b_ecs = s.client(profile="b")
    b_ecs.create_cluster(clusterName="default")
    # The administrator's view holds the suite's imported test image.
    before_b = refs(reg.client(s, "b"))
    [arn] = run(b_ecs, register(b_ecs, "ran", [
        {"name": "main", "image": "skiff/busybox:tasks", "essential": True,
         "command": ["true"]}]))
    wait_tasks(b_ecs, [arn], "STOPPED", timeout=60)
    assert before_b == []
    assert refs(reg.client(s, "b")) == ["docker.io/skiff/busybox:tasks"]
