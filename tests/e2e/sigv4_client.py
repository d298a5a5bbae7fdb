"""Raw AWS JSON 1.1 requests to skiffd, signed with botocore's own SigV4
signer (SigV4Auth + AWSRequest) and sent with http.client, so that a test
can sign a request and then break it: change the body, a signed header or
the date, sign with the wrong secret or scope, or leave the signature out.

    c = RawClient(skiffd.endpoint, akid, secret)
    r = c.call("ListClusters", {})              # signed and sent
    p = c.prepare("ListClusters", {})           # signed, not sent
    p.body = b'{"maxResults": 1}'               # tamper after signing
    r = c.send(p)
    assert r.status == 400 and r.type == "InvalidSignatureException"
"""
import datetime
import http.client
import json
import urllib.parse

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113"
JSON_CT = "application/x-amz-json-1.1"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def type(self):
        """The AWS error code (__type), or None for a non-error answer."""
        try:
            doc = json.loads(self.body)
        except ValueError:
            return None
        return doc.get("__type") if isinstance(doc, dict) else None

    @property
    def message(self):
        try:
            return json.loads(self.body).get("message", "")
        except (ValueError, AttributeError):
            return ""

    @property
    def request_id(self):
        return self.headers.get("x-amzn-requestid")

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


class Prepared:
    """A request ready to send; every field may be changed before send()."""

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # dict, insertion-ordered
        self.body = body        # bytes

    def set_header(self, name, value):
        """Replaces a header whatever the case of its name."""
        self.del_header(name)
        self.headers[name] = value

    def del_header(self, name):
        for k in [k for k in self.headers if k.lower() == name.lower()]:
            del self.headers[k]

    def header(self, name):
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


class _Signer(SigV4Auth):
    """botocore's SigV4Auth with a chosen clock and optionally some headers
    left out of the signature."""

    def __init__(self, credentials, service, region, when=None, unsigned=()):
        super().__init__(credentials, service, region)
        self._when = when
        self._unsigned = {h.lower() for h in unsigned}

    def add_auth(self, request):
        when = self._when or datetime.datetime.utcnow()
        request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)

    def headers_to_sign(self, request):
        hm = super().headers_to_sign(request)
        for name in self._unsigned:
            if name in hm:
                del hm[name]
        return hm


class RawClient:
    def __init__(self, endpoint, access_key, secret, session_token=None, region="us-east-1",
                 service="ecs", target_prefix=ECS_PREFIX):
        u = urllib.parse.urlsplit(endpoint)
        self.host = u.hostname
        self.port = u.port
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret = secret
        self.session_token = session_token
        self.region = region
        self.service = service
        self.target_prefix = target_prefix

    def prepare(self, op, body=None, *, target=None, path="/", method="POST", headers=None,
                when=None, region=None, service=None, access_key=None, secret=None,
                session_token=None, unsigned=(), sign=True):
        """Builds and signs a request. body is a dict (JSON-encoded), bytes
        or str; target defaults to PREFIX.op. `unsigned` names headers to
        leave out of SignedHeaders."""
        if body is None:
            body = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {
            "Host": "%s:%d" % (self.host, self.port),
            "Content-Type": JSON_CT,
            "X-Amz-Target": target if target is not None else "%s.%s" % (self.target_prefix, op),
        }
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        if not sign:
            return Prepared(method, path, hdrs, body)
        token = session_token if session_token is not None else self.session_token
        creds = Credentials(access_key or self.access_key, secret or self.secret, token or None)
        req = AWSRequest(method=method, url=self.endpoint + path, data=body, headers=hdrs)
        _Signer(creds, service or self.service, region or self.region, when=when,
                unsigned=unsigned).add_auth(req)
        return Prepared(method, path, dict(req.headers.items()), body)

    def connect(self, timeout=10):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def send(self, p, conn=None, timeout=10):
        """Sends a prepared request (on conn when given, keeping it open)."""
        own = conn is None
        if own:
            conn = self.connect(timeout)
        try:
            conn.request(p.method, p.path, body=p.body, headers=p.headers)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if own:
                conn.close()

    def call(self, op, body=None, conn=None, **kw):
        return self.send(self.prepare(op, body, **kw), conn=conn)


def for_profile(skiffd, profile="default", **kw):
    """A RawClient signing with a profile of skiffd's credentials file."""
    p = skiffd.profile(profile)
    return RawClient(skiffd.endpoint, p["aws_access_key_id"], p["aws_secret_access_key"],
                     session_token=p.get("aws_session_token"), **kw)


def wait_until(cond, timeout=30.0, interval=0.02):
    """Polls cond() until it returns a true value (returned) or timeout."""
    import time
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


def reload_credentials(skiffd, text=None):
    """Optionally rewrites skiffd's credentials file, then sends SIGHUP."""
    import signal
    if text is not None:
        with open(skiffd.credentials, "w") as f:
            f.write(text)
    skiffd.proc.send_signal(signal.SIGHUP)
