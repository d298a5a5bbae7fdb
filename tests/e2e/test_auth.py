"""SigV4 at the front door: every way a signature can be wrong gets its AWS
error (HTTP 400 with the right __type), and the real clients (aws CLI,
boto3) print or raise that error by name. Also the credentials file and its
reload on SIGHUP as far as keys are concerned."""
import datetime
import os
import re
import stat
import subprocess

import botocore.exceptions
import pytest

from conftest import AWS, REGION
from sigv4_client import RawClient, for_profile, reload_credentials, wait_until

SIG = "InvalidSignatureException"
INCOMPLETE = "IncompleteSignatureException"
UNRECOGNIZED = "UnrecognizedClientException"
MISSING = "MissingAuthenticationTokenException"


def assert_error(r, code, status=400):
    assert (r.status, r.type) == (status, code), r
    assert r.message, r
    assert r.headers.get("content-type") == "application/x-amz-json-1.1"
    assert r.request_id


def aws_with_credentials(skiffd, tmp_path, text, *args, extra_env=None):
    """Runs the aws CLI with a credentials file of our own (profile x)."""
    path = tmp_path / "credentials"
    path.write_text(text)
    env = skiffd.env()
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(path)
    env["AWS_PROFILE"] = "x"
    env.update(extra_env or {})
    p = subprocess.run([AWS, "--endpoint-url", skiffd.endpoint, "--region", REGION] + list(args),
                       env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def profile_text(akid, secret, token=None):
    t = "[x]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (akid, secret)
    if token:
        t += "aws_session_token = %s\n" % token
    return t


# ---- the baseline: a correctly signed request passes --------------------

def test_signed_request_passes(skiffd):
    r = for_profile(skiffd).call("ListClusters", {})
    assert r.status == 200, r
    assert r.json == {"clusterArns": []}


def test_unsigned_header_may_change(skiffd):
    """Headers outside SignedHeaders are not covered by the signature."""
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"User-Agent": "before"})
    assert "user-agent" not in p.header("Authorization")
    p.set_header("User-Agent", "after")
    assert c.send(p).status == 200


def test_header_whitespace_is_canonicalised(skiffd):
    """SigV4 trims header values and collapses inner runs of spaces."""
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"X-Custom": "a b"})
    assert "x-custom" in p.header("Authorization")
    p.set_header("X-Custom", "  a    b  ")
    assert c.send(p).status == 200


def test_query_string_is_signed(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, path="/?b=2&a=1%20x&c")
    assert c.send(p).status == 200
    p.path = "/?b=3&a=1%20x&c"
    assert_error(c.send(p), SIG)


def test_replay_inside_window_is_allowed(skiffd):
    """As on AWS, a signed request may be sent again within the skew window
    (the benchmark relies on it)."""
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    for _ in range(3):
        assert c.send(p).status == 200


# ---- each SigV4 failure --------------------------------------------------

def test_wrong_secret(skiffd):
    c = for_profile(skiffd)
    assert_error(c.call("ListClusters", {}, secret=c.secret[:-1] + ("A" if c.secret[-1] != "A"
                                                                       else "B")), SIG)


def test_wrong_secret_is_reported_by_aws_cli_and_boto3(skiffd, tmp_path):
    prof = skiffd.profile()
    rc, out, err = aws_with_credentials(skiffd, tmp_path,
                                        profile_text(prof["aws_access_key_id"], "wrong" * 8),
                                        "ecs", "list-clusters")
    assert rc != 0
    assert "(InvalidSignatureException)" in err, err
    import boto3
    ecs = boto3.client("ecs", endpoint_url=skiffd.endpoint, region_name=REGION,
                       aws_access_key_id=prof["aws_access_key_id"],
                       aws_secret_access_key="wrong" * 8)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.list_clusters()
    assert e.value.response["Error"]["Code"] == SIG
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tampered_body(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("CreateCluster", {"clusterName": "signed"})
    p.body = b'{"clusterName": "tampered"}'
    assert_error(c.send(p), SIG)
    # Nothing was created under either name.
    r = c.call("ListClusters", {})
    assert r.json == {"clusterArns": []}


def test_body_extended_after_signing(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    p.body = p.body + b" "
    assert_error(c.send(p), SIG)


@pytest.mark.parametrize("header,value", [
    ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeClusters"),
    ("Content-Type", "application/json"),
    ("Host", "localhost:1"),
    ("X-Custom", "changed"),
])
def test_altered_signed_header(skiffd, header, value):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"X-Custom": "original"})
    assert header.lower() in p.header("Authorization")
    p.set_header(header, value)
    assert_error(c.send(p), SIG)


def test_signed_header_removed(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"X-Custom": "original"})
    p.del_header("X-Custom")
    assert_error(c.send(p), SIG)


@pytest.mark.parametrize("minutes", [-6, 6, -60 * 24, 60 * 24 * 365])
def test_skewed_date_is_rejected(skiffd, minutes):
    c = for_profile(skiffd)
    when = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
    r = c.call("ListClusters", {}, when=when)
    assert_error(r, SIG)
    assert "expired" in r.message.lower() or "skew" in r.message.lower(), r


@pytest.mark.parametrize("minutes", [-4, 4])
def test_date_inside_window_is_accepted(skiffd, minutes):
    c = for_profile(skiffd)
    when = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
    assert c.call("ListClusters", {}, when=when).status == 200


def test_date_altered_after_signing(skiffd):
    c = for_profile(skiffd)
    when = datetime.datetime.utcnow() - datetime.timedelta(seconds=30)
    p = c.prepare("ListClusters", {}, when=when)
    later = when + datetime.timedelta(seconds=1)
    p.set_header("X-Amz-Date", later.strftime("%Y%m%dT%H%M%SZ"))
    assert_error(c.send(p), SIG)


def test_scope_date_differs_from_request_date(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    auth = p.header("Authorization")
    day = re.search(r"/(\d{8})/", auth).group(1)
    other = (datetime.datetime.strptime(day, "%Y%m%d") - datetime.timedelta(days=1))
    p.set_header("Authorization", auth.replace("/%s/" % day, "/%s/" % other.strftime("%Y%m%d")))
    assert_error(c.send(p), SIG)


@pytest.mark.parametrize("date", [None, "", "yesterday", "20240101", "2024-01-01T00:00:00Z"])
def test_missing_or_malformed_date(skiffd, date):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, unsigned=("x-amz-date",))
    if date is None:
        p.del_header("X-Amz-Date")
    else:
        p.set_header("X-Amz-Date", date)
    r = c.send(p)
    assert r.status == 400 and r.type in (INCOMPLETE, SIG), r


def test_unknown_key(skiffd, tmp_path):
    c = for_profile(skiffd)
    r = c.call("ListClusters", {}, access_key="AKIAUNKNOWNUNKNOWN00")
    assert_error(r, UNRECOGNIZED)
    rc, out, err = aws_with_credentials(skiffd, tmp_path,
                                        profile_text("AKIAUNKNOWNUNKNOWN00", "x" * 40),
                                        "ecs", "list-clusters")
    assert rc != 0 and "(UnrecognizedClientException)" in err, err


def test_very_long_unknown_key(skiffd):
    c = for_profile(skiffd)
    assert_error(c.call("ListClusters", {}, access_key="K" * 300), UNRECOGNIZED)


def test_no_auth(skiffd):
    c = for_profile(skiffd)
    assert_error(c.call("ListClusters", {}, sign=False), MISSING)
    assert_error(c.call("CreateCluster", {"clusterName": "x"}, sign=False), MISSING)
    rc, out, err = skiffd.aws("ecs", "list-clusters", "--no-sign-request")
    assert rc != 0 and "(MissingAuthenticationTokenException)" in err, err
    assert for_profile(skiffd).call("ListClusters", {}).json == {"clusterArns": []}


def test_no_auth_even_for_unknown_target(skiffd):
    """Authentication comes before dispatch: an anonymous caller learns
    nothing about which operations exist."""
    c = for_profile(skiffd)
    assert_error(c.call("NoSuchOperation", {}, sign=False), MISSING)
    assert_error(c.call("x", {}, target="Bogus.Thing", sign=False), MISSING)


def test_wrong_region(skiffd, tmp_path):
    c = for_profile(skiffd)
    r = c.call("ListClusters", {}, region="us-west-2")
    assert_error(r, SIG)
    assert "region" in r.message
    prof = skiffd.profile()
    text = profile_text(prof["aws_access_key_id"], prof["aws_secret_access_key"])
    path = tmp_path / "credentials"
    path.write_text(text)
    env = skiffd.env()
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(path)
    env["AWS_PROFILE"] = "x"
    p = subprocess.run([AWS, "--endpoint-url", skiffd.endpoint, "--region", "eu-west-1", "ecs",
                        "list-clusters"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "(InvalidSignatureException)" in p.stderr, p.stderr


@pytest.mark.parametrize("service", ["ec2", "execute-api", "ECS", "ecs2"])
def test_wrong_service_in_scope(skiffd, service):
    c = for_profile(skiffd)
    r = c.call("ListClusters", {}, service=service)
    assert_error(r, SIG)
    assert "service" in r.message


def test_wrong_terminator(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    p.set_header("Authorization", p.header("Authorization").replace("/aws4_request",
                                                                    "/aws5_request"))
    assert_error(c.send(p), SIG)


def test_unsigned_host_header(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, unsigned=("host",))
    assert "host" not in p.header("Authorization").split("SignedHeaders=")[1].split(",")[0]
    r = c.send(p)
    assert_error(r, SIG)
    assert "Host" in r.message


def test_host_hidden_in_another_signed_header_name(skiffd):
    """'x-hostname' in SignedHeaders is not 'host'."""
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"X-Hostname": "h"}, unsigned=("host",))
    assert "x-hostname" in p.header("Authorization")
    assert_error(c.send(p), SIG)


def test_signed_headers_not_sorted_or_absent(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    auth = p.header("Authorization")
    p.set_header("Authorization", auth.replace("SignedHeaders=content-type;host;",
                                               "SignedHeaders=host;content-type;"))
    assert_error(c.send(p), SIG)
    p.set_header("Authorization", auth.replace("SignedHeaders=content-type;host;",
                                               "SignedHeaders=content-type;host;x-absent;"))
    assert_error(c.send(p), SIG)


def test_content_sha256_header_must_match(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {}, headers={"X-Amz-Content-Sha256": "0" * 64})
    assert_error(c.send(p), SIG)


@pytest.mark.parametrize("value", [
    "Bearer abcdef",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 ",
    "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/ecs/aws4_request",
    "AWS4-HMAC-SHA256 Credential=AKIA, SignedHeaders=host, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=A/B/C/D/E/F, SignedHeaders=host, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host, "
    "Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host, "
    "Signature=abc",
    "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host, "
    "Signature=" + "0" * 64 + ", Extra=1",
    "AWS4-HMAC-SHA256 " + "Credential=" + "A" * 5000,
    "AWS4-HMAC-SHA256 ,,,,,,",
    "AWS4-HMAC-SHA256 Credential=====, SignedHeaders=;;;;, Signature=" + "z" * 64,
], ids=lambda v: repr(v)[:40])
def test_garbage_authorization(skiffd, value):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    p.set_header("Authorization", value)
    assert_error(c.send(p), INCOMPLETE)


def test_garbage_authorization_keeps_server_healthy(skiffd):
    c = for_profile(skiffd)
    for value in ["AWS4-HMAC-SHA256 Credential=\xff\xfe/a/b/c/d, SignedHeaders=host, Signature=" +
                  "0" * 64, "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=" + "h;" * 3000 +
                  "host, Signature=" + "0" * 64]:
        p = c.prepare("ListClusters", {})
        p.set_header("Authorization", value)
        conn = c.connect()
        conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
        for k, v in p.headers.items():
            conn.putheader(k, v.encode("latin-1"))
        conn.endheaders(p.body)
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status in (400, 431), r.status
    assert c.call("ListClusters", {}).status == 200


def test_signature_of_right_length_but_not_hex(skiffd):
    c = for_profile(skiffd)
    p = c.prepare("ListClusters", {})
    auth = p.header("Authorization")
    p.set_header("Authorization", auth[:-64] + "g" * 64)
    r = c.send(p)
    assert r.status == 400 and r.type in (SIG, INCOMPLETE), r
    p.set_header("Authorization", auth[:-64] + auth[-64:].upper())
    r = c.send(p)
    assert r.status in (200, 400), r  # AWS compares hex case-sensitively; either is harmless
    p.set_header("Authorization", auth)
    assert c.send(p).status == 200


# ---- session tokens -------------------------------------------------------

@pytest.fixture
def token_profile(skiffd):
    prof = skiffd.profile()
    skiffd.add_profile("tok", prof["account_id"], "AKIATOKENPROFILE0001", "s" * 40,
                       session_token="FQoGZXIvYXdzEXAMPLETOKEN/with+chars==")
    assert wait_until(lambda: for_profile(skiffd, "tok").call("ListClusters").status == 200)
    return for_profile(skiffd, "tok")


def test_session_token_accepted_by_clients(skiffd, token_profile):
    ecs = skiffd.client(profile="tok")
    assert ecs.create_cluster(clusterName="with-token")["cluster"]["status"] == "ACTIVE"
    rc, out, err = skiffd.aws("ecs", "list-clusters", profile="tok", check=True)
    assert any(a.endswith("/with-token") for a in out["clusterArns"])
    p = token_profile.prepare("ListClusters", {})
    assert "x-amz-security-token" in p.header("Authorization")


def test_session_token_required_when_configured(skiffd, token_profile, tmp_path):
    c = token_profile
    p = c.prepare("ListClusters", {}, session_token="")
    assert p.header("X-Amz-Security-Token") is None
    assert_error(c.send(p), UNRECOGNIZED)
    rc, out, err = aws_with_credentials(skiffd, tmp_path,
                                        profile_text(c.access_key, c.secret), "ecs",
                                        "list-clusters")
    assert rc != 0 and "(UnrecognizedClientException)" in err, err


@pytest.mark.parametrize("token", ["wrong", "FQoGZXIvYXdzEXAMPLETOKEN/with+chars=",
                                   "FQoGZXIvYXdzEXAMPLETOKEN/with+chars===", "x" * 5000],
                         ids=lambda v: repr(v)[:40])
def test_wrong_session_token(skiffd, token_profile, token):
    assert_error(token_profile.call("ListClusters", {}, session_token=token), UNRECOGNIZED)


def test_session_token_must_be_signed(skiffd, token_profile):
    c = token_profile
    p = c.prepare("ListClusters", {}, unsigned=("x-amz-security-token",))
    assert p.header("X-Amz-Security-Token")
    assert "x-amz-security-token" not in p.header("Authorization")
    r = c.send(p)
    assert r.status == 400 and r.type in (SIG, INCOMPLETE), r


def test_session_token_refused_when_not_configured(skiffd):
    c = for_profile(skiffd)
    assert_error(c.call("ListClusters", {}, session_token="anything"), UNRECOGNIZED)


# ---- the credentials file ------------------------------------------------

def test_credentials_file_generated(skiffd):
    st = os.stat(skiffd.credentials)
    assert stat.S_IMODE(st.st_mode) == 0o600
    prof = skiffd.profile()
    assert re.fullmatch(r"[1-9]\d{11}", prof["account_id"])
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", prof["aws_access_key_id"])
    assert len(prof["aws_secret_access_key"]) == 40
    with open(skiffd.credentials) as f:
        before = f.read()
    skiffd.restart()
    with open(skiffd.credentials) as f:
        assert f.read() == before


def test_two_data_dirs_get_different_accounts(make_skiffd):
    a = make_skiffd("--throttle-read", "off", "--throttle-write", "off")
    b = make_skiffd("--throttle-read", "off", "--throttle-write", "off")
    pa, pb = a.profile(), b.profile()
    assert pa["account_id"] != pb["account_id"]
    assert pa["aws_access_key_id"] != pb["aws_access_key_id"]
    assert pa["aws_secret_access_key"] != pb["aws_secret_access_key"]
    # a's key means nothing to b.
    r = RawClient(b.endpoint, pa["aws_access_key_id"], pa["aws_secret_access_key"]).call(
        "ListClusters", {})
    assert_error(r, UNRECOGNIZED)


def test_secret_rotation_on_sighup(skiffd):
    """A changed secret takes effect on SIGHUP, although the derived signing
    key of the old secret is cached by every worker thread."""
    old = for_profile(skiffd)
    for _ in range(20):  # fresh connections reach every worker's cache
        assert old.call("ListClusters", {}).status == 200
    prof = skiffd.profile()
    new_secret = "N" * 40
    reload_credentials(skiffd, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                       "account_id = %s\n" % (prof["aws_access_key_id"], new_secret,
                                              prof["account_id"]))
    new = RawClient(skiffd.endpoint, prof["aws_access_key_id"], new_secret)
    assert wait_until(lambda: new.call("ListClusters", {}).status == 200)
    for _ in range(20):
        assert_error(old.call("ListClusters", {}), SIG)
        assert new.call("ListClusters", {}).status == 200
