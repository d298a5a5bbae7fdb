"""Image test fixtures: Debian's docker-registry on a free loopback port, a
small OCI image writer (layers from /bin/busybox of busybox-static, made
with Python's tarfile), a pusher speaking the distribution API, a Bearer
token server, a test CA, and a throttling/counting TCP proxy.

Everything listens on 127.0.0.1 and is stopped by PID or closed at the end
of the test that started it."""
import base64
import crypt
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import stat
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import botocore.config
import botocore.session
import pytest

from conftest import AWS, REGION, ROOT

REGISTRY_BIN = "/usr/bin/docker-registry"
BUSYBOX = "/bin/busybox"

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_LAYER = {
    "tar": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "docker": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- layers

class Layer:
    """A tar layer built entry by entry (deterministic: fixed mtimes)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name, type_, mode, **kw):
        ti = tarfile.TarInfo(name)
        ti.type = type_
        ti.mode = mode
        ti.mtime = kw.get("mtime", 1700000000)
        ti.uid = kw.get("uid", 0)
        ti.gid = kw.get("gid", 0)
        return ti

    def dir(self, name, mode=0o755, **kw):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))
        return self

    def file(self, name, data, mode=0o644, **kw):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name, target, **kw):
        ti = self._info(name, tarfile.SYMTYPE, 0o777, **kw)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, name, target, **kw):
        ti = self._info(name, tarfile.LNKTYPE, 0o644, **kw)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def chardev(self, name, major, minor, **kw):
        ti = self._info(name, tarfile.CHRTYPE, 0o666, **kw)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def whiteout(self, path):
        d, b = os.path.split(path)
        return self.file(os.path.join(d, ".wh." + b), b"", mode=0o600)

    def opaque(self, dirpath):
        return self.file(os.path.join(dirpath, ".wh..wh..opq"), b"", mode=0o600)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def busybox_layer():
    """bin/busybox (static) with sh/ls/cat/echo links, and a little /etc."""
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    l = Layer().dir("bin").file("bin/busybox", bb, mode=0o755)
    for app in ("sh", "ls", "cat", "echo", "test", "stat"):
        l.symlink("bin/" + app, "busybox")
    l.dir("etc").file("etc/hostname", "skiff-test\n").file("etc/motd", "from the base layer\n")
    l.dir("data").file("data/keep", "kept\n").file("data/drop", "dropped later\n")
    l.dir("opaque").file("opaque/old1", "old\n").file("opaque/old2", "old\n")
    return l.bytes()


def compress(tar_bytes, how):
    if how == "tar":
        return tar_bytes
    if how in ("gzip", "docker"):
        return gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=tar_bytes, check=True,
                              capture_output=True).stdout
    raise ValueError(how)


class Image:
    """An image ready to push: blobs by digest, the manifest, the config."""

    def __init__(self, layers, config=None, arch="amd64", docker=False, os_="linux"):
        """layers: list of (tar_bytes, compression)."""
        self.blobs = {}
        diff_ids, descs = [], []
        for tar_bytes, how in layers:
            blob = compress(tar_bytes, how)
            d = sha256(blob)
            self.blobs[d] = blob
            diff_ids.append(sha256(tar_bytes))
            descs.append({"mediaType": MT_LAYER["docker" if docker else how], "digest": d,
                          "size": len(blob)})
        cfg = {"architecture": arch, "os": os_,
               "config": {"Env": ["PATH=/bin", "SKIFF_TEST=1"], "Entrypoint": ["/bin/sh"],
                          "Cmd": ["-c", "echo hello"], "WorkingDir": "/data", "User": "0:0",
                          "ExposedPorts": {"8080/tcp": {}}, "Labels": {"org.skiff.test": "yes"}},
               "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        if config:
            cfg["config"].update(config)
        self.config = json.dumps(cfg, sort_keys=True).encode()
        self.config_digest = sha256(self.config)
        self.blobs[self.config_digest] = self.config
        self.layer_digests = [d["digest"] for d in descs]
        self.diff_ids = diff_ids
        m = {"schemaVersion": 2,
             "mediaType": MT_DOCKER_MANIFEST if docker else MT_OCI_MANIFEST,
             "config": {"mediaType": MT_DOCKER_CONFIG if docker else MT_OCI_CONFIG,
                        "digest": self.config_digest, "size": len(self.config)},
             "layers": descs}
        self.manifest = json.dumps(m, indent=1).encode()
        self.media_type = m["mediaType"]
        self.digest = sha256(self.manifest)


class Index:
    """A multi-platform index over images [(image, arch, variant)]."""

    def __init__(self, entries, docker=False):
        self.images = [e[0] for e in entries]
        ms = []
        for img, arch, variant in entries:
            p = {"architecture": arch, "os": "linux"}
            if variant:
                p["variant"] = variant
            ms.append({"mediaType": img.media_type, "digest": img.digest,
                       "size": len(img.manifest), "platform": p})
        self.media_type = MT_DOCKER_LIST if docker else MT_OCI_INDEX
        self.manifest = json.dumps({"schemaVersion": 2, "mediaType": self.media_type,
                                    "manifests": ms}).encode()
        self.digest = sha256(self.manifest)


# ---------------------------------------------------------------- registry

class Registry:
    """docker-registry serving a temp dir on a free loopback port."""

    def __init__(self, tls=None, htpasswd=None, token=None):
        self.dir = tempfile.mkdtemp(prefix="skiff-registry-")
        self.port = free_port()
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.log_path = os.path.join(self.dir, "registry.log")
        cfg = ["version: 0.1",
               "log:", "  level: info", "  accesslog:", "    disabled: false",
               "storage:", "  filesystem:", "    rootdirectory: %s/storage" % self.dir,
               "  delete:", "    enabled: true",
               "  maintenance:", "    uploadpurging:", "      enabled: false",
               "http:", "  addr: 127.0.0.1:%d" % self.port, "  secret: skiff-test-secret"]
        if tls:
            cfg += ["  tls:", "    certificate: %s" % tls.cert, "    key: %s" % tls.key]
        if htpasswd:
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "w") as f:
                for user, pw in htpasswd.items():
                    f.write("%s:%s\n" % (user, crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH))))
            cfg += ["auth:", "  htpasswd:", "    realm: skiff-test", "    path: %s" % path]
        if token:
            cfg += ["auth:", "  token:", "    realm: %s" % token.realm,
                    "    service: %s" % token.service, "    issuer: %s" % token.issuer,
                    "    rootcertbundle: %s" % token.cert_path]
        self.config_path = os.path.join(self.dir, "config.yml")
        with open(self.config_path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.proc = None
        self.host = "127.0.0.1:%d" % self.port

    def start(self):
        log = open(self.log_path, "ab")
        env = {"PATH": "/usr/bin:/bin", "HOME": self.dir}
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config_path], stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited:\n" + self.log())
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                s.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start:\n" + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def blob_gets(self, digest):
        """Successful GETs of a blob in the access log."""
        needle = "GET /v2/"
        n = 0
        for line in self.log().splitlines():
            if needle in line and "/blobs/" + digest in line and '" 200 ' in line:
                n += 1
        return n

    def blob_data_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.dir, "storage", "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")

    def write_manifest_raw(self, repo, tag, data):
        """Puts a manifest straight into the registry's storage (for documents
        the registry would refuse to take over HTTP)."""
        d = sha256(data)
        hexd = d.split(":", 1)[1]
        base = os.path.join(self.dir, "storage", "docker", "registry", "v2")
        blob = os.path.join(base, "blobs", "sha256", hexd[:2], hexd)
        os.makedirs(blob, exist_ok=True)
        with open(os.path.join(blob, "data"), "wb") as f:
            f.write(data)
        repo_dir = os.path.join(base, "repositories", repo, "_manifests")
        for p in (os.path.join(repo_dir, "revisions", "sha256", hexd),
                  os.path.join(repo_dir, "tags", tag, "current"),
                  os.path.join(repo_dir, "tags", tag, "index", "sha256", hexd)):
            os.makedirs(p, exist_ok=True)
            with open(os.path.join(p, "link"), "w") as f:
                f.write(d)
        return d


# ---------------------------------------------------------------- pushing

class Pusher:
    """Pushes blobs and manifests with the distribution API, answering Basic
    and Bearer challenges."""

    def __init__(self, registry, user=None, password=None, cafile=None):
        self.base = "%s://%s" % (registry.scheme, registry.host)
        self.user, self.password = user, password
        self.ctx = None
        if cafile:
            import ssl
            self.ctx = ssl.create_default_context(cafile=cafile)
        self.auth = None

    def _basic(self):
        raw = ("%s:%s" % (self.user, self.password)).encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _learn(self, challenge):
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            self.auth = self._basic()
            return
        kv = {}
        for part in params.split(","):
            k, _, v = part.strip().partition("=")
            kv[k] = v.strip('"')
        q = {"service": kv.get("service", "")}
        if "scope" in kv:
            # pushing needs push as well as the pull the challenge names
            q["scope"] = kv["scope"].rsplit(":", 1)[0] + ":pull,push"
        req = urllib.request.Request(kv["realm"] + "?" + urllib.parse.urlencode(q))
        if self.user:
            req.add_header("Authorization", self._basic())
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            self.auth = "Bearer " + json.loads(r.read())["token"]

    def request(self, method, url, data=None, headers=None):
        if not url.startswith("http"):
            url = self.base + url
        for _ in range(3):
            req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            if self.auth:
                req.add_header("Authorization", self.auth)
            try:
                with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as e:
                if e.code == 401 and "WWW-Authenticate" in e.headers:
                    self._learn(e.headers["WWW-Authenticate"])
                    continue
                raise
        raise RuntimeError("push: authentication keeps failing")

    def blob(self, repo, digest, data):
        st, h, _ = self.request("POST", "/v2/%s/blobs/uploads/" % repo, data=b"")
        loc = h["Location"]
        if not loc.startswith("http"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        self.request("PUT", loc + sep + "digest=" + urllib.parse.quote(digest), data=data,
                     headers={"Content-Type": "application/octet-stream"})

    def manifest(self, repo, ref, data, media_type):
        self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), data=data,
                     headers={"Content-Type": media_type})

    def image(self, repo, tag, img):
        for d, data in img.blobs.items():
            self.blob(repo, d, data)
        self.manifest(repo, tag or img.digest, img.manifest, img.media_type)
        return img.digest

    def index(self, repo, tag, idx):
        for img in idx.images:
            self.image(repo, None, img)
        self.manifest(repo, tag, idx.manifest, idx.media_type)
        return idx.digest


# ---------------------------------------------------------------- TLS and tokens

class TestCA:
    """A CA and a server certificate for 127.0.0.1, made with the openssl CLI."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = os.path.join(directory, "ca.pem")
        ca_key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "server.pem")
        self.key = os.path.join(directory, "server.key")
        csr = os.path.join(directory, "server.csr")
        ext = os.path.join(directory, "ext.cnf")

        def ossl(*args):
            subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out",
             self.ca, "-days", "2", "-subj", "/CN=skiff test CA")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", csr, "-subj",
             "/CN=127.0.0.1")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n")
        ossl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", self.cert, "-days", "2", "-extfile", ext)


class TokenServer:
    """A Bearer token server (docker-registry's token auth): issues RS256 JWTs
    carrying an x5c chain the registry trusts. Users in `users` get pull and
    push; anyone else gets a token without access."""

    def __init__(self, directory, users):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        import datetime
        self.users = users
        self.service = "skiff-test-registry"
        self.issuer = "skiff-test-issuer"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skiff token signer")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_path = os.path.join(directory, "token-signer.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if outer.users.get(u) != p:
                        self.send_response(401)
                        self.end_headers()
                        outer.requests.append(("denied", q))
                        return
                    user = u
                outer.requests.append((user, q))
                tok = outer.token(user, q.get("scope", [""])[0])
                body = json.dumps({"token": tok, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.realm = "http://127.0.0.1:%d/token" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, user, scope):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        access = []
        if user and scope.startswith("repository:"):
            _, name, actions = scope.split(":", 2)
            access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = (b64(json.dumps(header).encode()) + "." +
                         b64(json.dumps(claims).encode())).encode()
        sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64(sig)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- a hostile registry

class HostileRegistry:
    """A registry that serves whatever the test says. routes map a path to
    (status, content type, body, chunked), or to a function of the request
    handler returning that tuple (or a 5th item: send only that many body
    bytes, then drop the connection). Blob routes made by image() honour
    Range. For what docker-registry will not do: serve over-cap manifests,
    fail on purpose, cut connections, redirect. Records (path, headers) of
    every request in `requests`."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        self.faults = {}  # path -> list of faults to apply first ("503", "cut:N", "redirect:URL")
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                route = outer.routes.get(
                    self.path, (404, "application/json",
                                b'{"errors":[{"code":"NOT_FOUND","message":"no"}]}', False))
                faults = outer.faults.get(self.path)
                fault = faults.pop(0) if faults else None
                if fault and fault.startswith("redirect:"):
                    self.send_response(307)
                    self.send_header("Location", fault[9:])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault and fault.isdigit():
                    route = (int(fault), "application/json",
                             b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}', False)
                res = route(self) if callable(route) else route
                status, ctype, body, chunked = res[:4]
                cut = int(fault[4:]) if fault and fault.startswith("cut:") else None
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                try:
                    if chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for i in range(0, len(body), 65536):
                            part = body[i:i + 65536]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        for k, v in (res[4] if len(res) > 4 else {}).items():
                            self.send_header(k, v)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        if cut is not None:
                            self.wfile.write(body[:cut])
                            self.wfile.flush()
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self):
        return [p for p, _ in self.requests]

    def image(self, repo, tag, img):
        """Serves img as repo:tag (and by digest), blobs with Range."""
        for ref in (tag, img.digest):
            self.routes["/v2/%s/manifests/%s" % (repo, ref)] = (200, img.media_type,
                                                                img.manifest, False)
        for d, data in img.blobs.items():
            self.routes["/v2/%s/blobs/%s" % (repo, d)] = self._blob(data)

    @staticmethod
    def _blob(data):
        def serve(h):
            rng = h.headers.get("Range", "")
            if rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                return (206, "application/octet-stream", data[start:], False,
                        {"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))})
            return (200, "application/octet-stream", data, False)
        return serve

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- proxy

class Proxy:
    """A TCP proxy on loopback in front of `target` (host, port): counts
    requests per first line and can slow responses down (bytes per second)."""

    def __init__(self, target, rate=None):
        self.target = target
        self.rate = rate
        self.lines = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.host = "127.0.0.1:%d" % self.port
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _pipe(self, src, dst, slow, record):
        try:
            while True:
                data = src.recv(65536 if not slow else 8192)
                if not data:
                    break
                if record:
                    for line in data.split(b"\r\n"):
                        if line[:4] in (b"GET ", b"HEAD", b"POST", b"PUT "):
                            with self.lock:
                                self.lines.append(line.decode(errors="replace"))
                dst.sendall(data)
                if slow and self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self, c):
        try:
            u = socket.create_connection(self.target)
        except OSError:
            c.close()
            return
        t = threading.Thread(target=self._pipe, args=(c, u, False, True), daemon=True)
        t.start()
        self._pipe(u, c, True, False)
        t.join()
        c.close()
        u.close()

    def count(self, needle):
        with self.lock:
            return sum(1 for l in self.lines if needle in l)

    def close(self):
        self.closed = True
        self.sock.close()


# ---------------------------------------------------------------- skiff side

MODELS = os.path.join(ROOT, "models")


def client(skiffd, profile="default"):
    prof = skiffd.profile(profile)
    sess = botocore.session.Session()
    sess.get_component("data_loader").search_paths.insert(0, MODELS)
    return sess.create_client(
        "skiff", endpoint_url=skiffd.endpoint, region_name=REGION,
        aws_access_key_id=prof["aws_access_key_id"],
        aws_secret_access_key=prof["aws_secret_access_key"],
        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=300,
                                      connect_timeout=10))


def aws(skiffd, *args, timeout=300):
    """/usr/bin/aws skiff ... with the skiff model on AWS_DATA_PATH."""
    env = skiffd.env()
    env["AWS_DATA_PATH"] = MODELS
    cmd = [AWS, "--endpoint-url", skiffd.endpoint, "--region", REGION, "--output", "json",
           "--cli-read-timeout", "0", "skiff"] + list(args)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    out = p.stdout
    try:
        out = json.loads(out) if out.strip() else {}
    except ValueError:
        pass
    return p.returncode, out, p.stderr


def layer_dir(skiffd, diff_id):
    return os.path.join(skiffd.data_dir, "layers", diff_id.split(":", 1)[1])


def blob_path(skiffd, digest):
    return os.path.join(skiffd.data_dir, "blobs", "sha256", digest.split(":", 1)[1])


def check_store_verified(skiffd):
    """Every blob in the store hashes to its name."""
    d = os.path.join(skiffd.data_dir, "blobs", "sha256")
    for name in os.listdir(d):
        with open(os.path.join(d, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == name, name


def tmp_entries(skiffd):
    d = os.path.join(skiffd.data_dir, "tmp")
    return sorted(n for n in os.listdir(d) if n != "gc.lock") if os.path.isdir(d) else []


def is_whiteout(path):
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@pytest.fixture
def registry():
    r = Registry().start()
    yield r
    r.cleanup()


@pytest.fixture
def image_skiffd(make_skiffd):
    return make_skiffd("--throttle-read", "off", "--throttle-write", "off", "--threads", "8")
