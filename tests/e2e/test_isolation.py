"""Tenant isolation: one account can never see, change or guess another's
resources, even by full ARN; accounts come and go with SIGHUP, and a broken
credentials file keeps the accounts that were loaded."""
import os
import signal

import botocore.exceptions
import pytest

from sigv4_client import RawClient, for_profile, reload_credentials, wait_until

B_ACCOUNT = "222233334444"
B_KEY = "AKIABBBBBBBBBBBBBBBB"
B_SECRET = "b" * 40


def code_of(fn, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def works(client):
    return client.call("ListClusters", {}).status == 200


@pytest.fixture
def two(skiffd):
    """skiffd with accounts A (default) and B."""
    assert skiffd.profile()["account_id"] != B_ACCOUNT
    skiffd.add_profile("b", B_ACCOUNT, B_KEY, B_SECRET)
    assert wait_until(lambda: works(for_profile(skiffd, "b")))
    return skiffd, skiffd.client(), skiffd.client(profile="b")


def test_lists_are_per_account(two):
    s, a, b = two
    a.create_cluster(clusterName="a-only")
    b.create_cluster(clusterName="b-only")
    assert [x.rsplit("/", 1)[1] for x in a.list_clusters()["clusterArns"]] == ["a-only"]
    assert [x.rsplit("/", 1)[1] for x in b.list_clusters()["clusterArns"]] == ["b-only"]
    rc, out, err = s.aws("ecs", "list-clusters", profile="b", check=True)
    assert out["clusterArns"] == ["arn:aws:ecs:us-east-1:%s:cluster/b-only" % B_ACCOUNT]


def test_same_names_are_independent(two):
    s, a, b = two
    ca = a.create_cluster(clusterName="shared", tags=[{"key": "owner", "value": "a"}])["cluster"]
    cb = b.create_cluster(clusterName="shared", tags=[{"key": "owner", "value": "b"}])["cluster"]
    assert ca["clusterArn"] != cb["clusterArn"]
    assert B_ACCOUNT in cb["clusterArn"] and s.profile()["account_id"] in ca["clusterArn"]
    b.update_cluster_settings(cluster="shared", settings=[{"name": "containerInsights",
                                                           "value": "enabled"}])
    b.delete_cluster(cluster="shared")
    da = a.describe_clusters(clusters=["shared"], include=["TAGS", "SETTINGS"])["clusters"][0]
    assert da["status"] == "ACTIVE"
    assert da["tags"] == [{"key": "owner", "value": "a"}]
    assert da["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    db = b.describe_clusters(clusters=["shared"])["clusters"][0]
    assert db["status"] == "INACTIVE"


def test_other_account_cannot_touch_by_arn(two):
    s, a, b = two
    victim = a.create_cluster(clusterName="victim", tags=[{"key": "k", "value": "v"}],
                              capacityProviders=["FARGATE"])["cluster"]["clusterArn"]
    r = b.describe_clusters(clusters=[victim], include=["TAGS"])
    assert r["clusters"] == [] and r["failures"] == [{"arn": victim, "reason": "MISSING"}]
    attempts = [
        (b.delete_cluster, {"cluster": victim}),
        (b.update_cluster_settings, {"cluster": victim, "settings": [
            {"name": "containerInsights", "value": "enabled"}]}),
        (b.update_cluster, {"cluster": victim, "settings": [
            {"name": "containerInsights", "value": "enabled"}]}),
        (b.put_cluster_capacity_providers, {"cluster": victim, "capacityProviders": [],
                                            "defaultCapacityProviderStrategy": []}),
        (b.tag_resource, {"resourceArn": victim, "tags": [{"key": "k", "value": "evil"}]}),
        (b.untag_resource, {"resourceArn": victim, "tagKeys": ["k"]}),
        (b.list_tags_for_resource, {"resourceArn": victim}),
    ]
    for fn, kw in attempts:
        code, msg = code_of(fn, **kw)
        assert code in ("ClusterNotFoundException", "ResourceNotFoundException"), (fn, code)
    # A's cluster is exactly as it was.
    c = a.describe_clusters(clusters=["victim"], include=["TAGS", "SETTINGS"])["clusters"][0]
    assert c["status"] == "ACTIVE"
    assert c["tags"] == [{"key": "k", "value": "v"}]
    assert c["capacityProviders"] == ["FARGATE"]
    assert c["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    rc, out, err = s.aws("ecs", "delete-cluster", "--cluster", victim, profile="b")
    assert rc != 0 and "(ClusterNotFoundException)" in err
    assert a.list_clusters()["clusterArns"] == [victim]


def test_no_existence_oracle(two):
    """B gets the same answer for A's existing cluster as for a cluster that
    does not exist at all: B cannot even learn that A's ARN is real."""
    s, a, b = two
    real = a.create_cluster(clusterName="real")["cluster"]["clusterArn"]
    fake = real.replace("/real", "/fake")
    c = for_profile(s, "b")
    calls = [
        ("DeleteCluster", lambda x: {"cluster": x}),
        ("UpdateClusterSettings", lambda x: {"cluster": x, "settings": [
            {"name": "containerInsights", "value": "enabled"}]}),
        ("UpdateCluster", lambda x: {"cluster": x}),
        ("PutClusterCapacityProviders", lambda x: {"cluster": x, "capacityProviders": [],
                                                   "defaultCapacityProviderStrategy": []}),
        ("TagResource", lambda x: {"resourceArn": x, "tags": [{"key": "k", "value": "v"}]}),
        ("UntagResource", lambda x: {"resourceArn": x, "tagKeys": ["k"]}),
        ("ListTagsForResource", lambda x: {"resourceArn": x}),
        ("DescribeClusters", lambda x: {"clusters": [x]}),
    ]
    for op, body in calls:
        r1 = c.call(op, body(real))
        r2 = c.call(op, body(fake))
        assert r1.status == r2.status, op
        assert r1.body.replace(b"/real", b"/X") == r2.body.replace(b"/fake", b"/X"), op


def test_next_token_of_another_account_reveals_nothing(two):
    s, a, b = two
    for i in range(4):
        a.create_cluster(clusterName="a%d" % i)
    b.create_cluster(clusterName="zz-b")
    tok = a.list_clusters(maxResults=1)["nextToken"]
    r = b.list_clusters(nextToken=tok)
    assert all(B_ACCOUNT in x for x in r["clusterArns"])


def test_two_keys_of_one_account_share_resources(two):
    s, a, b = two
    s.add_profile("b2", B_ACCOUNT, "AKIAB2B2B2B2B2B2B2B2", "c" * 40)
    assert wait_until(lambda: works(for_profile(s, "b2")))
    b2 = s.client(profile="b2")
    b.create_cluster(clusterName="team")
    assert b2.list_clusters()["clusterArns"] == b.list_clusters()["clusterArns"]
    b2.delete_cluster(cluster="team")
    assert b.list_clusters()["clusterArns"] == []


def test_sighup_adds_account_without_restart(skiffd):
    pid = skiffd.pid
    with open(skiffd.credentials, "a") as f:
        f.write("\n[late]\naws_access_key_id = AKIALATELATELATELATE\n"
                "aws_secret_access_key = %s\naccount_id = 555566667777\n" % ("l" * 40))
    late = for_profile(skiffd, "late")
    # Not known until skiffd is told to reload.
    r = late.call("ListClusters", {})
    assert (r.status, r.type) == (400, "UnrecognizedClientException")
    reload_credentials(skiffd)
    assert wait_until(lambda: works(late))
    assert skiffd.pid == pid and skiffd.proc.poll() is None
    ecs = skiffd.client(profile="late")
    assert "555566667777" in ecs.create_cluster(clusterName="x")["cluster"]["clusterArn"]
    assert works(for_profile(skiffd))


@pytest.mark.parametrize("broken", [
    "this is not an ini file\n",
    "[default]\naws_access_key_id = X\n",                       # missing members
    "[p]\naws_access_key_id = K\naws_secret_access_key = S\naccount_id = 12345\n",
    "[p]\naws_access_key_id = K\naws_secret_access_key = S\naccount_id = 12345678901x\n",
    "[unterminated\n",
    "[a]\naws_access_key_id = SAME\naws_secret_access_key = S\naccount_id = 111111111111\n"
    "[b]\naws_access_key_id = SAME\naws_secret_access_key = T\naccount_id = 222222222222\n",
])
def test_broken_credentials_on_sighup_keep_old_accounts(two, broken):
    s, a, b = two
    a.create_cluster(clusterName="keep")
    good = open(s.credentials).read()
    # A broken file that also names a new, valid profile: none of it applies.
    reload_credentials(s, broken + "\n[new]\naws_access_key_id = AKIANEWNEWNEWNEWNEW0\n"
                       "aws_secret_access_key = %s\naccount_id = 999988887777\n" % ("n" * 40))
    assert wait_until(lambda: "keeping the old" in s.log(), timeout=30), s.log()
    new = RawClient(s.endpoint, "AKIANEWNEWNEWNEWNEW0", "n" * 40)
    assert new.call("ListClusters", {}).type == "UnrecognizedClientException"
    assert [x.rsplit("/", 1)[1] for x in a.list_clusters()["clusterArns"]] == ["keep"]
    assert b.list_clusters()["clusterArns"] == []
    assert s.proc.poll() is None
    # Repaired, it loads again.
    reload_credentials(s, good + "\n[new]\naws_access_key_id = AKIANEWNEWNEWNEWNEW0\n"
                       "aws_secret_access_key = %s\naccount_id = 999988887777\n" % ("n" * 40))
    assert wait_until(lambda: works(new))


def test_missing_credentials_file_on_sighup_keeps_old_accounts(two):
    s, a, b = two
    ac = for_profile(s)
    os.rename(s.credentials, s.credentials + ".away")
    try:
        reload_credentials(s)
        assert wait_until(lambda: "keeping the old" in s.log(), timeout=30), s.log()
        assert works(ac) and works(RawClient(s.endpoint, B_KEY, B_SECRET))
    finally:
        os.rename(s.credentials + ".away", s.credentials)


def test_removed_profile_is_revoked_on_sighup(two):
    s, a, b = two
    bc = RawClient(s.endpoint, B_KEY, B_SECRET)
    conn = bc.connect()
    for _ in range(5):  # warm the signing-key cache on a kept-alive connection
        assert bc.call("ListClusters", {}, conn=conn).status == 200
    text = open(s.credentials).read()
    keep = text.split("\n[b]\n")[0] + "\n"
    reload_credentials(s, keep)
    assert wait_until(lambda: bc.call("ListClusters", {}).status == 400)
    r = bc.call("ListClusters", {}, conn=conn)
    assert (r.status, r.type) == (400, "UnrecognizedClientException")
    conn.close()
    assert works(for_profile(s))


def test_sighup_storm_under_load(two):
    """Reloads while requests are in flight neither crash skiffd nor fail a
    request of an account that stays."""
    import threading
    s, a, b = two
    c = for_profile(s)
    stop = threading.Event()
    failures = []

    def load():
        conn = c.connect()
        while not stop.is_set():
            r = c.call("ListClusters", {}, conn=conn)
            if r.status != 200:
                failures.append(r)
        conn.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(50):
            s.proc.send_signal(signal.SIGHUP)
            import time
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert s.proc.poll() is None
