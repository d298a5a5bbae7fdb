"""Per-account token buckets: a burst past the bucket gets
ThrottlingException, which the aws CLI and boto3 retry until it passes;
reads and writes are counted apart, accounts apart, and "off" disables."""
import subprocess
import time

import botocore.exceptions
import pytest

from conftest import AWS, REGION, SKIFFD
from sigv4_client import RawClient, for_profile, wait_until

THROTTLED = "ThrottlingException"
# A write that fails validation still costs a token (the rate limit comes
# before the handler), without waiting on the disk: bursts stay fast.
CHEAP_WRITE = ("CreateCluster", {"clusterName": "not valid!"})
# Burst 2, one token back every 20 s: for tests that need an empty bucket to
# stay empty however slowly a loaded machine serves the requests.
SLOW_REFILL = "0.05:2"


def burst(client, n, op=CHEAP_WRITE):
    """n requests on one keep-alive connection; returns (statuses, types,
    seconds taken)."""
    conn = client.connect()
    types = []
    t0 = time.monotonic()
    for _ in range(n):
        r = client.call(op[0], op[1], conn=conn)
        types.append(r.type)
        if r.type == THROTTLED:
            assert r.status == 400 and r.request_id and r.message, r
    elapsed = time.monotonic() - t0
    conn.close()
    return types, elapsed


def aws_retrying(s, *args, attempts):
    env = s.env()
    env["AWS_MAX_ATTEMPTS"] = str(attempts)
    env["AWS_RETRY_MODE"] = "standard"
    p = subprocess.run([AWS, "--endpoint-url", s.endpoint, "--region", REGION, "--output",
                        "json"] + list(args), env=env, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_write_burst_is_throttled(make_skiffd):
    s = make_skiffd("--throttle-write", SLOW_REFILL, "--throttle-read", "off")
    types, _ = burst(for_profile(s), 8)
    assert types[:2] == ["InvalidParameterException"] * 2, types
    assert types[2:].count(THROTTLED) >= 5, types


def test_throttled_request_does_not_apply(make_skiffd):
    s = make_skiffd("--throttle-write", SLOW_REFILL, "--throttle-read", "off")
    ecs = s.client(retries=0)
    results = {}
    for i in range(5):
        try:
            ecs.create_cluster(clusterName="c%d" % i)
            results["c%d" % i] = "ok"
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            results["c%d" % i] = e.response["Error"]["Code"]
    assert THROTTLED in results.values(), results
    listed = {a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]}
    assert listed == {k for k, v in results.items() if v == "ok"}


def test_aws_cli_prints_throttling(make_skiffd):
    # One token per 20 s: once drained, the CLI's call (a second to start)
    # cannot find a token.
    s = make_skiffd("--throttle-write", "0.05:1", "--throttle-read", "off")
    burst(for_profile(s), 3)
    rc, out, err = aws_retrying(s, "ecs", "create-cluster", "--cluster-name", "cli1",
                                attempts=1)
    assert rc != 0 and "(ThrottlingException)" in err, err
    assert s.client().list_clusters()["clusterArns"] == []


def test_clients_retry_until_it_passes(make_skiffd):
    s = make_skiffd("--throttle-write", "1:2", "--throttle-read", "off")
    c = for_profile(s)
    burst(c, 5)  # empty the bucket
    rc, out, err = aws_retrying(s, "ecs", "create-cluster", "--cluster-name", "cli2",
                                attempts=10)
    assert rc == 0, err
    # boto3 likewise, for several calls in a row: more than the bucket holds.
    burst(c, 5)
    ecs = s.client(retries=9)
    for i in range(5):
        ecs.create_cluster(clusterName="b%d" % i)
    names = {a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]}
    assert names == {"cli2", "b0", "b1", "b2", "b3", "b4"}


def test_bucket_refills(make_skiffd):
    s = make_skiffd("--throttle-write", "0.5:1", "--throttle-read", "off")
    c = for_profile(s)
    types, _ = burst(c, 3)
    assert types[0] != THROTTLED and types[-1] == THROTTLED, types
    time.sleep(2.2)  # a token every 2 s, bucket of 1: one token back
    types, _ = burst(c, 2)
    assert types[0] != THROTTLED and types[1] == THROTTLED, types


def test_reads_and_writes_are_counted_apart(make_skiffd):
    s = make_skiffd("--throttle-write", SLOW_REFILL, "--throttle-read", "off")
    c = for_profile(s)
    burst(c, 5)
    types, _ = burst(c, 200, op=("ListClusters", {}))
    assert THROTTLED not in types
    types, _ = burst(c, 2)
    assert types.count(THROTTLED) >= 1


def test_read_limit(make_skiffd):
    s = make_skiffd("--throttle-read", "0.05:3", "--throttle-write", "off")
    c = for_profile(s)
    types, _ = burst(c, 8, op=("DescribeClusters", {"clusters": ["x"]}))
    assert types[:3] == [None] * 3, types
    assert types[3:].count(THROTTLED) >= 4, types
    # Writes are not limited.
    types, _ = burst(c, 50)
    assert THROTTLED not in types
    ecs = s.client(retries=0)
    assert ecs.create_cluster(clusterName="w")["cluster"]["status"] == "ACTIVE"


def test_off_disables(make_skiffd):
    s = make_skiffd("--throttle-read", "off", "--throttle-write", "off")
    c = for_profile(s)
    types, _ = burst(c, 400)
    assert THROTTLED not in types
    types, _ = burst(c, 600, op=("ListClusters", {}))
    assert THROTTLED not in types


def test_defaults(make_skiffd):
    """Without flags: writes burst 100 refill 20/s, reads burst 500 refill
    100/s."""
    s = make_skiffd()
    c = for_profile(s)
    types, elapsed = burst(c, 200)
    passed = sum(t != THROTTLED for t in types)
    assert 100 <= passed <= 100 + 20 * elapsed + 2, (passed, elapsed)
    assert types[:100].count(THROTTLED) == 0
    types, elapsed = burst(c, 800, op=("ListClusters", {}))
    passed = sum(t != THROTTLED for t in types)
    assert 500 <= passed <= 500 + 100 * elapsed + 2, (passed, elapsed)


def test_accounts_are_throttled_apart(make_skiffd):
    s = make_skiffd("--throttle-write", SLOW_REFILL, "--throttle-read", "off")
    s.add_profile("b", "121212121212", "AKIATHROTTLEBBBBBBBB", "t" * 40)
    b = for_profile(s, "b")
    assert wait_until(lambda: b.call("ListClusters", {}).status == 200)
    a = for_profile(s)
    types, _ = burst(a, 5)
    assert THROTTLED in types
    types, _ = burst(b, 2)
    assert THROTTLED not in types, types


def test_unauthenticated_requests_cost_nothing(make_skiffd):
    """Requests that fail authentication do not drain the account's bucket
    (else anyone knowing an access key id could lock its owner out)."""
    s = make_skiffd("--throttle-write", SLOW_REFILL, "--throttle-read", "off")
    c = for_profile(s)
    forged = RawClient(s.endpoint, c.access_key, "f" * 40)
    for _ in range(20):
        r = forged.call(*CHEAP_WRITE)
        assert r.type == "InvalidSignatureException", r
    types, _ = burst(c, 2)
    assert THROTTLED not in types, types


@pytest.mark.parametrize("value", ["fast", "1", "0:5", "-1:5", "1:0", "1:", ":1", "1:2:3"])
def test_bad_rate_flag_refused(tmp_path, value):
    p = subprocess.run([SKIFFD, "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0",
                        "--throttle-write", value], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert "throttle" in p.stderr
