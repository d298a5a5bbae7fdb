"""AWS JSON 1.1 and HTTP/1.1 at the front door: every malformed request gets
its own AWS error and never a crash; the transport keeps connections alive,
caps bodies and is not held up by slow clients."""
import json
import re
import socket
import threading
import time
import uuid

import pytest

from sigv4_client import for_profile

SER = "SerializationException"
INVALID = "InvalidParameterException"
UNKNOWN_OP = "UnknownOperationException"
JSON_CT = "application/x-amz-json-1.1"
MIB = 1024 * 1024


def short_id(v):
    """Test ids stay short: pytest puts them in PYTEST_CURRENT_TEST, which
    every subprocess inherits."""
    r = repr(v)
    return r if len(r) <= 40 else r[:30] + "...%d" % len(r)


def assert_error(r, code, status=400):
    assert (r.status, r.type) == (status, code), r
    assert isinstance(r.message, str) and r.message, r
    assert r.headers.get("content-type") == JSON_CT, r.headers
    assert r.request_id, r.headers
    assert set(r.json) == {"__type", "message"}, r


def healthy(skiffd):
    import urllib.request
    with urllib.request.urlopen(skiffd.endpoint + "/healthz", timeout=5) as r:
        return r.status == 200 and r.read() == b"ok\n"


# ---- dispatch -------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "AmazonEC2ContainerServiceV20141113.NoSuchOperation",
    "AmazonEC2ContainerServiceV20141113.",
    "AmazonEC2ContainerServiceV20141113",
    "AmazonEC2ContainerServiceV20141113.listClusters",
    "AmazonEC2ContainerServiceV20141114.ListClusters",
    "DynamoDB_20120810.ListTables",
    "ListClusters",
    "",
    "AmazonEC2ContainerServiceV20141113." + "X" * 10000,
], ids=short_id)
def test_unknown_operation(skiffd, target):
    r = for_profile(skiffd).call("x", {}, target=target)
    assert_error(r, UNKNOWN_OP)
    assert "X" * 100 not in r.message


def test_missing_target(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("x", {}, headers={"X-Amz-Target": None})
    assert p.header("X-Amz-Target") is None
    assert_error(c.send(p), UNKNOWN_OP)


def test_unknown_operation_is_not_throttled_into_success(skiffd):
    c = for_profile(skiffd)
    for _ in range(5):
        assert_error(c.call("DeleteEverything", {}), UNKNOWN_OP)


# ---- bodies that are not a JSON object ------------------------------------

@pytest.mark.parametrize("body", [
    b"{",
    b"{\"clusterName\": }",
    b"{\"clusterName\": \"a\",}",
    b"{'clusterName': 'a'}",
    b"{\"clusterName\": \"a\"} trailing",
    b"{\"clusterName\": \"a\"}{}",
    b"nul",
    b"\xff\xfe{\x00}",
    b"{\"clusterName\": \"\xff\xfe\"}",
    b"{\"clusterName\": \"a\x00b\"}",
    b"{\"clusterName\": \"a\\u0000b\"}",
    b"{\"clusterName\": \"\\ud800\"}",
    b"{\"clusterName\": \"a\", \"clusterName\": \"b\"}",
    b"[" * 100000 + b"]" * 100000,
    b"{\"a\":" * 50000 + b"1" + b"}" * 50000,
    b"{\"maxResults\": 1e99999}",
    b"{\"maxResults\": 123456789012345678901234567890}",
    b"   ",
], ids=short_id)
def test_malformed_json(skiffd, body):
    c = for_profile(skiffd)
    assert_error(c.call("CreateCluster", body), SER)
    assert c.call("ListClusters", {}).json == {"clusterArns": []}


@pytest.mark.parametrize("body", [b"[]", b"[{}]", b"\"ListClusters\"", b"42", b"null", b"true"])
def test_json_that_is_not_an_object(skiffd, body):
    assert_error(for_profile(skiffd).call("ListClusters", body), SER)


def test_empty_body_is_an_empty_request(skiffd):
    r = for_profile(skiffd).call("ListClusters", b"")
    assert r.status == 200 and r.json == {"clusterArns": []}


# ---- members of the wrong type --------------------------------------------

@pytest.mark.parametrize("op,body", [
    ("CreateCluster", {"clusterName": 5}),
    ("CreateCluster", {"clusterName": ["a"]}),
    ("CreateCluster", {"clusterName": {"a": 1}}),
    ("CreateCluster", {"clusterName": True}),
    ("CreateCluster", {"clusterName": "a", "tags": "k=v"}),
    ("CreateCluster", {"clusterName": "a", "tags": [5]}),
    ("CreateCluster", {"clusterName": "a", "tags": [{"key": 1, "value": "v"}]}),
    ("CreateCluster", {"clusterName": "a", "settings": [{"name": "containerInsights",
                                                         "value": True}]}),
    ("CreateCluster", {"clusterName": "a", "configuration": {"executeCommandConfiguration": {
        "logging": 5}}}),
    ("CreateCluster", {"clusterName": "a", "defaultCapacityProviderStrategy": [
        {"capacityProvider": "FARGATE", "weight": "1"}]}),
    ("ListClusters", {"maxResults": "10"}),
    ("ListClusters", {"maxResults": 1.5}),
    ("ListClusters", {"maxResults": True}),
    ("ListClusters", {"maxResults": 2 ** 40}),
    ("ListClusters", {"nextToken": 7}),
    ("DescribeClusters", {"clusters": "a"}),
    ("DescribeClusters", {"clusters": [1, 2]}),
    ("DescribeClusters", {"include": "TAGS"}),
    ("TagResource", {"resourceArn": ["arn"], "tags": []}),
    ("UntagResource", {"resourceArn": "arn:aws:ecs:us-east-1:1:cluster/a", "tagKeys": "k"}),
], ids=short_id)
def test_wrong_member_type(skiffd, op, body):
    r = for_profile(skiffd).call(op, body)
    assert_error(r, SER)
    assert for_profile(skiffd).call("ListClusters", {}).json == {"clusterArns": []}


def test_type_error_names_the_member(skiffd):
    r = for_profile(skiffd).call("CreateCluster", {"clusterName": "a", "tags": [
        {"key": "k", "value": "v"}, {"key": 1}]})
    assert_error(r, SER)
    assert "tags[1].key" in r.message


# ---- missing members, bad values ------------------------------------------

@pytest.mark.parametrize("op,body,member", [
    ("DeleteCluster", {}, "cluster"),
    ("DeleteCluster", {"cluster": None}, "cluster"),
    ("TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/a"}, "tags"),
    ("TagResource", {"tags": []}, "resourceArn"),
    ("UntagResource", {"resourceArn": "arn:aws:ecs:us-east-1:123456789012:cluster/a"},
     "tagKeys"),
    ("ListTagsForResource", {}, "resourceArn"),
    ("UpdateCluster", {}, "cluster"),
    ("UpdateClusterSettings", {"cluster": "a"}, "settings"),
    ("PutClusterCapacityProviders", {"cluster": "a", "capacityProviders": []},
     "defaultCapacityProviderStrategy"),
    ("CreateCluster", {"defaultCapacityProviderStrategy": [{"weight": 1}]}, "capacityProvider"),
], ids=short_id)
def test_missing_required_member(skiffd, op, body, member):
    r = for_profile(skiffd).call(op, body)
    assert_error(r, INVALID)
    assert member in r.message


@pytest.mark.parametrize("op,body", [
    ("CreateCluster", {"clusterName": "a" * (64 * 1024 + 1)}),
    ("DescribeClusters", {"clusters": ["b" * (64 * 1024 + 1)]}),
    ("ListClusters", {"nextToken": "c" * (64 * 1024 + 1)}),
    ("TagResource", {"resourceArn": "d" * (64 * 1024 + 1), "tags": []}),
    ("CreateCluster", {"clusterName": "a", "tags": [{"key": "k" * 129, "value": "v"}]}),
    ("CreateCluster", {"clusterName": "a", "tags": [{"key": "k", "value": "v" * 257}]}),
    ("CreateCluster", {"clusterName": "a", "tags": [{"key": "", "value": "v"}]}),
    ("DescribeClusters", {"include": ["BOGUS"]}),
    ("ListClusters", {"maxResults": 0}),
    ("ListClusters", {"maxResults": 101}),
    ("ListClusters", {"maxResults": -1}),
    ("CreateCluster", {"clusterName": "a", "defaultCapacityProviderStrategy": [
        {"capacityProvider": "FARGATE", "weight": 1001}], "capacityProviders": ["FARGATE"]}),
], ids=short_id)
def test_invalid_value(skiffd, op, body):
    r = for_profile(skiffd).call(op, body)
    assert_error(r, INVALID)
    assert len(r.body) < 4096, "error messages must not echo huge input"
    assert for_profile(skiffd).call("ListClusters", {}).json == {"clusterArns": []}


def test_string_at_the_limit_is_not_a_length_error(skiffd):
    """64 KiB exactly passes the generic cap; the cluster-name rule (255)
    then applies."""
    r = for_profile(skiffd).call("CreateCluster", {"clusterName": "a" * (64 * 1024)})
    assert_error(r, INVALID)
    assert "255" in r.message


def test_null_and_unknown_members_are_ignored(skiffd):
    c = for_profile(skiffd)
    r = c.call("ListClusters", {"maxResults": None, "nextToken": None, "bogus": {"x": [1]}})
    assert r.status == 200 and r.json == {"clusterArns": []}
    r = c.call("CreateCluster", {"clusterName": "n", "tags": None, "futureMember": 1})
    assert r.status == 200 and r.json["cluster"]["clusterName"] == "n"


def test_aws_cli_prints_server_validation_errors(skiffd):
    rc, out, err = skiffd.aws("ecs", "describe-clusters", "--include", "BOGUS")
    assert rc != 0
    assert "(InvalidParameterException)" in err, err
    rc, out, err = skiffd.aws("ecs", "create-cluster", "--cluster-name", "bad name!")
    assert rc != 0 and "(InvalidParameterException)" in err, err


# ---- HTTP ------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("GET", "/"), ("PUT", "/"), ("DELETE", "/"),
                                         ("PATCH", "/"), ("GET", "/healthz/x"),
                                         ("OPTIONS", "/")])
def test_non_post(skiffd, method, path):
    c = for_profile(skiffd)
    r = c.send(c.prepare("ListClusters", b"", method=method, path=path))
    assert r.status in (400, 404, 405), r
    assert r.type, r
    assert r.request_id


def test_healthz(skiffd):
    c = for_profile(skiffd)
    r = c.send(c.prepare("x", b"", method="GET", path="/healthz", sign=False))
    assert (r.status, r.body) == (200, b"ok\n")


def test_success_headers(skiffd):
    r = for_profile(skiffd).call("ListClusters", {})
    assert r.status == 200
    assert r.headers["content-type"] == JSON_CT
    uuid.UUID(r.request_id)
    assert int(r.headers["content-length"]) == len(r.body)


def test_request_ids_unique(skiffd):
    c = for_profile(skiffd)
    ids = []
    conn = c.connect()
    for i in range(100):
        r = c.call("ListClusters" if i % 2 else "Nope", {}, conn=conn)
        ids.append(r.request_id)
    conn.close()
    for i in range(20):  # fresh connections land on different worker threads
        ids.append(c.call("ListClusters", {}).request_id)
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_keep_alive(skiffd):
    c = for_profile(skiffd)
    conn = c.connect()
    conn.connect()
    sock = conn.sock
    port = sock.getsockname()[1]
    for i in range(30):
        op = ["ListClusters", "NoSuchOp", "CreateCluster"][i % 3]
        body = {"clusterName": "ka%d" % i} if op == "CreateCluster" else {}
        r = c.call(op, body, conn=conn)
        assert r.status == (400 if op == "NoSuchOp" else 200), r
        assert r.headers.get("connection", "").lower() != "close"
        assert conn.sock is sock and sock.getsockname()[1] == port
    # A malformed body or bad signature keeps the connection too.
    assert c.call("CreateCluster", b"{", conn=conn).status == 400
    assert c.call("ListClusters", {}, conn=conn, secret="x" * 40).status == 400
    assert c.call("ListClusters", {}, conn=conn).status == 200
    assert conn.sock is sock
    conn.close()
    assert len(c.call("ListClusters", {}).json["clusterArns"]) == 10


def test_body_at_the_cap_is_accepted(skiffd):
    c = for_profile(skiffd)
    body = b'{"maxResults": 5}'
    body += b" " * (MIB - len(body))
    assert len(body) == MIB
    r = c.call("ListClusters", body)
    assert r.status == 200, r


def test_body_over_the_cap(skiffd):
    c = for_profile(skiffd)
    body = b'{"clusterName": "big", "x": "' + b"a" * MIB + b'"}'
    r = c.call("CreateCluster", body)
    assert r.status == 413, r
    assert r.type == SER and r.request_id
    assert healthy(skiffd)
    assert c.call("ListClusters", {}).json == {"clusterArns": []}


def test_chunked_body_over_the_cap(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("CreateCluster", b"", sign=False)
    conn = c.connect()
    conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    for k, v in p.headers.items():
        conn.putheader(k, v)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"a" * 65536
    status = None
    try:
        for _ in range(40):  # 2.5 MiB
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        status = r.status
        r.read()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading once it has answered
    conn.close()
    assert status in (None, 413), status
    assert healthy(skiffd)


def test_huge_content_length_is_refused_without_reading(skiffd):
    """A client announcing 10 GB gets 413 at once instead of the server
    reading (and discarding) the whole body."""
    c = for_profile(skiffd)
    s = socket.create_connection((c.host, c.port), timeout=5)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
              b"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n"
              b"Content-Length: 10000000000\r\n\r\n{")
    data = b""
    t0 = time.time()
    try:
        while b"\r\n\r\n" not in data and time.time() - t0 < 5:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    assert data.startswith(b"HTTP/1.1 413"), data
    assert healthy(skiffd)


def test_too_many_headers(skiffd):
    c = for_profile(skiffd)
    extra = {"X-H%d" % i: "v" for i in range(200)}
    p = c.prepare("ListClusters", {}, headers=extra)
    r = c.send(p)
    assert r.status in (400, 413, 431), r
    assert healthy(skiffd)


def test_huge_header(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"X-Big": "b" * 200000})
    try:
        r = c.send(p)
        assert r.status in (400, 413, 431), r
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        pass
    assert healthy(skiffd)
    assert c.call("ListClusters", {}).status == 200


def test_slow_clients_do_not_block_others(skiffd):
    c = for_profile(skiffd)
    slow = []
    try:
        for i in range(40):
            s = socket.create_connection((c.host, c.port), timeout=5)
            if i % 2:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Len")  # headers unfinished
            else:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
            slow.append(s)
        time.sleep(0.2)
        t0 = time.time()
        for _ in range(10):
            assert c.call("ListClusters", {}).status == 200
        assert time.time() - t0 < 4.0
        assert healthy(skiffd)
    finally:
        for s in slow:
            s.close()


def test_concurrent_keep_alive_clients(skiffd):
    c = for_profile(skiffd)
    ids, errors = [], []
    lock = threading.Lock()

    def worker(n):
        try:
            conn = c.connect()
            for i in range(40):
                if i % 4 == 0:
                    r = c.call("CreateCluster", {"clusterName": "t%d-%d" % (n, i)}, conn=conn)
                else:
                    r = c.call("ListClusters", {"maxResults": 100}, conn=conn)
                if r.status != 200:
                    raise AssertionError(r)
                with lock:
                    ids.append(r.request_id)
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(ids) == 320 and len(set(ids)) == 320
    arns = []
    tok = None
    while True:
        body = {"nextToken": tok} if tok else {}
        r = c.call("ListClusters", body).json
        arns += r["clusterArns"]
        tok = r.get("nextToken")
        if not tok:
            break
    assert len(arns) == 80 and len(set(arns)) == 80


def test_error_body_is_valid_json_even_for_odd_input(skiffd):
    """Messages that quote client input stay valid JSON."""
    c = for_profile(skiffd)
    for name in ['quote"name', "back\\slash", "ctl\x01char", "uni\u2603code", "</script>"]:
        r = c.call("DeleteCluster", {"cluster": name})
        assert r.status == 400, r
        json.loads(r.body)
        assert r.type in ("ClusterNotFoundException", INVALID), r
