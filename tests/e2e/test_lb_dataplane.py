"""End-to-end tests of skiff-lb, the load balancer data plane (docs/lb.md):
the real binary on loopback ports in front of backends this file starts as
its own processes (python3 THIS_FILE http|tcp ...), by PID.

Timing assertions leave wide margins: CI runs this file beside others and
again under ASan."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from elb_util import listen_port as free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SKIFF_BUILD", "build"))
SKIFF_LB = os.path.join(BUILD, "skiff-lb")
PY = "/usr/bin/python3"

# --- backends (this file run as a script) ---


def read_chunked(rfile):
    body = b""
    while True:
        line = rfile.readline(1024)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b""):
                pass
            return body
        body += rfile.read(size)
        rfile.read(2)


def http_server(name, port, statedir):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_any(self):
            body = b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = read_chunked(self.rfile)
            elif self.headers.get("Content-Length"):
                body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 200
            if self.path == "/health":
                try:
                    with open(os.path.join(statedir, name + ".health")) as f:
                        status = int(f.read().strip() or 200)
                except FileNotFoundError:
                    pass
            if self.path.startswith("/slow/"):
                # Tells the test the request is in flight here.
                with open(os.path.join(statedir, name + ".slow"), "a") as f:
                    f.write(self.path + "\n")
                threading.Event().wait(float(self.path.split("/")[2]))
            out = json.dumps({
                "name": name, "path": self.path, "method": self.command,
                "host": self.headers.get("Host"),
                "xff": self.headers.get("X-Forwarded-For"),
                "xfp": self.headers.get("X-Forwarded-Proto"),
                "xfport": self.headers.get("X-Forwarded-Port"),
                "body_len": len(body),
            }).encode() + b"\n"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if self.path == "/chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if self.command != "HEAD":
                    for part in (out[:5], out[5:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.serve_forever()


def wait_slow(procs, *names, timeout=30):
    """Until a /slow/ request has reached one of the backends names."""
    end = time.time() + timeout
    while not any(os.path.exists(os.path.join(procs.tmp, n + ".slow")) for n in names):
        assert time.time() < end, "no slow request reached %s" % (names,)
        time.sleep(0.05)


def tcp_server(name, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(256)

    def serve(c):
        with c:
            data = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
            # Answer after the client's FIN: the half-close reached us.
            c.sendall(name.encode() + b":" + str(len(data)).encode() + b":" + data[:64])

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


# --- helpers ---


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d" % port)


class Procs:
    """Processes a test started, stopped by PID at the end."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, args, log):
        f = open(os.path.join(self.tmp, log), "ab")
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
        f.close()
        self.procs.append(p)
        return p

    def backend(self, name, kind="http"):
        # Another program may take the port first: then try another.
        for _ in range(5):
            port = free_port()
            args = [PY, os.path.abspath(__file__), kind, name, str(port)]
            if kind == "http":
                args.append(self.tmp)
            p = self.start(args, "backend-%s.log" % name)
            end = time.time() + 30
            while time.time() < end and p.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return port, p
                except OSError:
                    time.sleep(0.05)
            p.kill()
            p.wait()
        raise AssertionError("backend %s did not start" % name)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class LB:
    def __init__(self, procs, config):
        self.procs = procs
        self.path = os.path.join(procs.tmp, "lb.json")
        self.status_path = os.path.join(procs.tmp, "status.json")
        config.setdefault("status_file", self.status_path)
        self.write(config)
        self.proc = procs.start([SKIFF_LB, "--config", self.path], "lb.log")
        for l in config["listeners"]:
            wait_port(l["port"])

    def write(self, config):
        config.setdefault("status_file", self.status_path)
        with open(self.path + ".tmp", "w") as f:
            json.dump(config, f)
        os.rename(self.path + ".tmp", self.path)

    def reload(self, config):
        self.write(config)
        self.proc.send_signal(signal.SIGHUP)

    def status(self):
        try:
            with open(self.status_path) as f:
                return json.load(f)["targets"]
        except (FileNotFoundError, ValueError):
            return []

    def wait_state(self, group, port, state, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            for t in self.status():
                if t["target_group"] == group and t["port"] == port and t["state"] == state:
                    return time.time()
            time.sleep(0.05)
        raise AssertionError("%s:%d never %s: %s" % (group, port, state, self.status()))


@pytest.fixture
def procs():
    with tempfile.TemporaryDirectory(prefix="skiff-lb-") as tmp:
        p = Procs(tmp)
        try:
            yield p
        finally:
            p.stop_all()
            assert all(x.returncode is not None for x in p.procs)
            # Under ASan/UBSan (SKIFF_BUILD=build-asan) a report fails the test.
            log = os.path.join(tmp, "lb.log")
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    text = f.read()
                for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                    assert marker not in text, text[-4000:]


def group(name, ports, **kw):
    g = {"name": name, "targets": [{"ip": "127.0.0.1", "port": p} for p in ports],
         "health_check": {"path": "/health", "interval": 1, "timeout": 2,
                          "healthy_threshold": 2, "unhealthy_threshold": 2}}
    g.update(kw)
    return g


def http_listener(port, default, rules=(), **kw):
    l = {"protocol": "HTTP", "address": "127.0.0.1", "port": port, "idle_timeout": 30,
         "rules": list(rules), "default_action": default}
    l.update(kw)
    return l


def forward(*names):
    return {"type": "forward", "target_groups": [{"name": n} for n in names]}


NOT_FOUND = {"type": "fixed-response", "status_code": 404, "content_type": "text/plain",
             "body": "no route\n"}


def get(port, path="/", method="GET", headers=None, body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data, r


def who(port, path="/", **kw):
    status, data, _ = get(port, path, **kw)
    assert status == 200, (status, data)
    return json.loads(data)["name"]


def raw(port, payload, timeout=30):
    """Sends raw bytes, returns everything read until the LB closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(payload)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except ConnectionResetError:
        pass
    s.close()
    return out


# --- tests ---


def test_routing_by_path_host_header_method(procs):
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    c, _ = procs.backend("c")
    d, _ = procs.backend("d")
    port = free_port()
    rules = [
        {"priority": 10, "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
         "action": forward("A")},
        {"priority": 20, "conditions": [{"field": "host-header", "values": ["b.example"]}],
         "action": forward("B")},
        {"priority": 5, "conditions": [{"field": "http-header", "name": "X-Canary",
                                        "values": ["yes"]}],
         "action": forward("C")},
        {"priority": 30, "conditions": [{"field": "http-request-method", "values": ["DELETE"]},
                                        {"field": "path-pattern", "values": ["/item?"]}],
         "action": forward("D")},
        {"priority": 40, "conditions": [{"field": "path-pattern", "values": ["/old"]}],
         "action": {"type": "redirect", "path": "/new", "status_code": "HTTP_301"}},
    ]
    lb = LB(procs, {"listeners": [http_listener(port, NOT_FOUND, rules)],
                    "target_groups": [group("A", [a]), group("B", [b]), group("C", [c]),
                                      group("D", [d])]})
    assert who(port, "/api/users") == "a"
    assert who(port, "/api/x?q=1") == "a"
    assert who(port, "/", headers={"Host": "b.example"}) == "b"
    assert who(port, "/", headers={"Host": "B.Example:8080"}) == "b"
    # Priority 5 beats /api/* at 10.
    assert who(port, "/api/users", headers={"X-Canary": "yes"}) == "c"
    assert who(port, "/item7", method="DELETE") == "d"
    status, data, _ = get(port, "/item77", method="DELETE")
    assert (status, data) == (404, b"no route\n")
    status, data, r = get(port, "/nothing")
    assert (status, data) == (404, b"no route\n")
    assert r.getheader("Content-Type") == "text/plain"
    status, _, r = get(port, "/old?x=1", headers={"Host": "h.example"})
    assert status == 301
    assert r.getheader("Location") == "http://h.example:%d/new?x=1" % port

    # X-Forwarded-* added; an existing X-Forwarded-For is appended to.
    _, data, _ = get(port, "/api/h", headers={"X-Forwarded-For": "10.9.8.7"})
    seen = json.loads(data)
    assert seen["xff"] == "10.9.8.7, 127.0.0.1"
    assert seen["xfp"] == "http"
    assert seen["xfport"] == str(port)

    # Keep-alive: many requests over one client connection, bodies both ways,
    # chunked request and response bodies streamed through.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(20):
        status, data, _ = get(port, "/api/k%d" % i, conn=conn)
        assert status == 200 and json.loads(data)["path"] == "/api/k%d" % i
    status, data, _ = get(port, "/api/post", method="POST", body=b"x" * 100000, conn=conn)
    assert json.loads(data)["body_len"] == 100000
    conn.request("POST", "/api/chunk", body=iter([b"hello ", b"world" * 1000]),
                 encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    assert json.loads(r.read())["body_len"] == 5006
    status, data, r = get(port, "/api/../chunked".replace("/..", ""), conn=conn)
    status, data, r = get(port, "/chunked", headers={"X-Canary": "yes"}, conn=conn)
    assert status == 200 and json.loads(data)["name"] == "c"
    assert r.getheader("Transfer-Encoding") == "chunked"
    status, data, r = get(port, "/api/x", method="HEAD", conn=conn)
    assert status == 200 and data == b""
    assert who(port, "/api/after-head", conn=conn) == "a"
    conn.close()
    assert lb.proc.poll() is None


def test_pipelined_requests(procs):
    a, _ = procs.backend("a")
    port = free_port()
    LB(procs, {"listeners": [http_listener(port, forward("A"))],
               "target_groups": [group("A", [a])]})
    req = b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n"
    payload = b"".join(req % i for i in range(5))
    payload += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw(port, payload)
    assert out.count(b"HTTP/1.1 200") == 6 or out.count(b" 200 OK") == 6, out
    paths = [json.loads(line)["path"] for line in out.split(b"\n") if line.startswith(b"{")]
    assert paths == ["/p0", "/p1", "/p2", "/p3", "/p4", "/last"]


def test_weighted_forward_and_round_robin(procs):
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    c, _ = procs.backend("c")
    x, _ = procs.backend("x")
    port = free_port()
    weighted = {"type": "forward", "target_groups": [{"name": "RR", "weight": 3},
                                                     {"name": "X", "weight": 1}]}
    rules = [{"priority": 1, "conditions": [{"field": "path-pattern", "values": ["/rr*"]}],
              "action": forward("RR")}]
    lb = LB(procs, {"listeners": [http_listener(port, weighted, rules)],
                    "target_groups": [group("RR", [a, b, c]), group("X", [x])]})
    for p in (a, b, c):
        lb.wait_state("RR", p, "healthy")
    # Balancing is per request, also over one keep-alive connection.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    counts = {}
    for i in range(150):
        n = who(port, "/rr%d" % i, conn=conn if i % 2 else None)
        counts[n] = counts.get(n, 0) + 1
    assert set(counts) == {"a", "b", "c"}
    assert all(40 <= v <= 60 for v in counts.values()), counts

    counts = {}
    for i in range(200):
        n = who(port, "/w%d" % i, conn=conn if i % 2 else None)
        counts[n] = counts.get(n, 0) + 1
    conn.close()
    # 3:1 between the RR group and X.
    assert 40 <= counts.get("x", 0) <= 60, counts


def test_503_without_targets_and_502_on_dead_target(procs):
    port = free_port()
    dead = free_port()  # nothing listens there
    rules = [{"priority": 1, "conditions": [{"field": "path-pattern", "values": ["/dead*"]}],
              "action": forward("Dead")}]
    lb = LB(procs, {"listeners": [http_listener(port, forward("Empty"), rules)],
                    "target_groups": [group("Empty", []), group("Dead", [dead])]})
    status, _, _ = get(port, "/")
    assert status == 503
    status, _, _ = get(port, "/dead")
    assert status == 502
    # Still 502 (fail open) once the check marks it unhealthy.
    lb.wait_state("Dead", dead, "unhealthy")
    status, _, _ = get(port, "/dead")
    assert status == 502


def test_retry_idempotent_on_dead_target(procs):
    a, _ = procs.backend("a")
    dead = free_port()
    port = free_port()
    g = group("A", [a, dead])
    g["health_check"]["enabled"] = False  # both look healthy: the retry must do it
    LB(procs, {"listeners": [http_listener(port, forward("A"))], "target_groups": [g]})
    for i in range(10):
        assert who(port, "/r%d" % i) == "a"


def test_504_on_upstream_timeout(procs):
    a, _ = procs.backend("a")
    port = free_port()
    LB(procs, {"listeners": [http_listener(port, forward("A"), idle_timeout=2)],
               "target_groups": [group("A", [a])]})
    start = time.time()
    status, _, _ = get(port, "/slow/8")
    assert status == 504
    assert 1.5 <= time.time() - start < 8


def test_health_check_marks_failing_target_unhealthy(procs):
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    port = free_port()
    lb = LB(procs, {"listeners": [http_listener(port, forward("G"))],
                    "target_groups": [group("G", [a, b])]})
    lb.wait_state("G", a, "healthy")
    lb.wait_state("G", b, "healthy")
    assert {who(port, "/%d" % i) for i in range(10)} == {"a", "b"}
    with open(os.path.join(procs.tmp, "b.health"), "w") as f:
        f.write("500")
    start = time.time()
    lb.wait_state("G", b, "unhealthy")
    # interval 1 s × threshold 2, plus one interval of phase and a loaded
    # machine's margin.
    assert time.time() - start < 2 * 1 + 1 + 4
    reason = [t for t in lb.status() if t["port"] == b][0].get("reason")
    assert reason == "Target.ResponseCodeMismatch"
    assert {who(port, "/%d" % i) for i in range(30)} == {"a"}
    # Back to healthy after healthy_threshold good checks.
    os.unlink(os.path.join(procs.tmp, "b.health"))
    lb.wait_state("G", b, "healthy")
    assert {who(port, "/%d" % i) for i in range(20)} == {"a", "b"}


def test_all_unhealthy_fails_open(procs):
    a, _ = procs.backend("a")
    port = free_port()
    g = group("G", [a])
    g["health_check"]["path"] = "/nope"
    g["health_check"]["matcher"] = "299"
    lb = LB(procs, {"listeners": [http_listener(port, forward("G"))], "target_groups": [g]})
    lb.wait_state("G", a, "unhealthy")
    assert who(port, "/") == "a"


def test_reload_adds_and_removes_targets_keep_alive_survives(procs):
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    port = free_port()
    tcp_port = free_port()
    cfg = {"listeners": [http_listener(port, forward("G"))],
           "target_groups": [group("G", [a], deregistration_delay=5)]}
    lb = LB(procs, cfg)
    lb.wait_state("G", a, "healthy")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    errors = []
    seen = []
    stop = threading.Event()

    def client():
        # One keep-alive connection the whole time.
        while not stop.is_set():
            try:
                status, data, _ = get(port, "/k", conn=conn)
                if status != 200:
                    errors.append(status)
                else:
                    seen.append(json.loads(data)["name"])
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))
                return
            time.sleep(0.01)

    t = threading.Thread(target=client)
    t.start()
    try:
        time.sleep(0.5)
        # Add b, and a TCP listener.
        cfg["target_groups"] = [group("G", [a, b], deregistration_delay=5),
                                group("T", [a], protocol="TCP")]
        cfg["listeners"].append({"protocol": "TCP", "address": "127.0.0.1", "port": tcp_port,
                                 "default_action": forward("T")})
        lb.reload(cfg)
        wait_port(tcp_port)
        lb.wait_state("G", b, "healthy")
        end = time.time() + 20
        while "b" not in seen[-50:] and time.time() < end:
            time.sleep(0.1)
        assert "b" in seen, seen[-20:]
        # Remove a: it drains, then goes; the client goes on with b.
        cfg["target_groups"] = [group("G", [b], deregistration_delay=5)]
        cfg["listeners"] = cfg["listeners"][:1]
        lb.reload(cfg)
        end = time.time() + 20
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
                time.sleep(0.1)
            except OSError:
                break
        else:
            raise AssertionError("the removed TCP listener still accepts")
        # Every worker has the new configuration now; a request routed to a
        # just before may still be finishing.
        time.sleep(1)
        n = len(seen)
        end = time.time() + 10
        while len(seen) < n + 50 and time.time() < end:
            time.sleep(0.1)
        assert set(seen[n:]) == {"b"}, seen[n:]
    finally:
        stop.set()
        t.join()
        conn.close()
    assert errors == []
    # a left group G: draining (its in-flight requests) or already gone.
    assert [t["state"] for t in lb.status()
            if t["port"] == a and t["target_group"] == "G"] in ([], ["draining"])


def test_reload_drains_in_flight_request(procs):
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    port = free_port()
    cfg = {"listeners": [http_listener(port, forward("G"))],
           "target_groups": [group("G", [a], deregistration_delay=60)]}
    lb = LB(procs, cfg)
    lb.wait_state("G", a, "healthy")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", get(port, "/slow/8")))
    t.start()
    try:
        wait_slow(procs, "a")
        cfg["target_groups"] = [group("G", [b], deregistration_delay=60)]
        lb.reload(cfg)
        # a drains while its request runs; new requests go to b only.
        lb.wait_state("G", a, "draining", timeout=10)
        assert {who(port, "/%d" % i) for i in range(10)} == {"b"}
    finally:
        t.join(60)
    status, data, _ = result["r"]
    assert status == 200 and json.loads(data)["name"] == "a"
    # Nothing in flight any more: a leaves without waiting 60 s.
    end = time.time() + 20
    while any(x["port"] == a for x in lb.status()) and time.time() < end:
        time.sleep(0.1)
    assert not any(x["port"] == a for x in lb.status()), lb.status()


def test_drain_delay_end_cuts_in_flight_request(procs):
    """A request still in flight on a removed target when its
    deregistration delay ends is cut, as ELB closes such connections."""
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    port = free_port()
    cfg = {"listeners": [http_listener(port, forward("G"))],
           "target_groups": [group("G", [a], deregistration_delay=1)]}
    lb = LB(procs, cfg)
    lb.wait_state("G", a, "healthy")
    result = {}

    def slow():
        start = time.time()
        try:
            result["r"] = get(port, "/slow/20")[0]
        except (OSError, http.client.HTTPException) as e:
            result["r"] = repr(e)
        result["took"] = time.time() - start
    t = threading.Thread(target=slow)
    t.start()
    wait_slow(procs, "a")
    cfg["target_groups"] = [group("G", [b], deregistration_delay=1)]
    lb.reload(cfg)
    t.join(30)
    assert result["r"] != 200 and result["took"] < 15, result
    assert who(port, "/") == "b"


def test_least_outstanding_requests(procs):
    a, _ = procs.backend("a")
    b, _ = procs.backend("b")
    port = free_port()
    lb = LB(procs, {"listeners": [http_listener(port, forward("G"))],
                    "target_groups": [group("G", [a, b],
                                            algorithm="least_outstanding_requests")]})
    lb.wait_state("G", a, "healthy")
    lb.wait_state("G", b, "healthy")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", get(port, "/slow/8")))
    t.start()
    try:
        wait_slow(procs, "a", "b")
        # The slow request holds one target: every other goes to the other.
        names = {who(port, "/%d" % i) for i in range(10)}
    finally:
        t.join(60)
    busy = json.loads(result["r"][1])["name"]
    assert names == {"a", "b"} - {busy}


def test_reload_rejects_bad_config_and_keeps_running(procs):
    a, _ = procs.backend("a")
    port = free_port()
    cfg = {"listeners": [http_listener(port, forward("A"))], "target_groups": [group("A", [a])]}
    lb = LB(procs, cfg)
    with open(lb.path, "w") as f:
        f.write('{"listeners": [{"protocol": "UDP"}]}')
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert lb.proc.poll() is None
    assert who(port, "/") == "a"


def test_listener_on_a_taken_port_is_left_out(procs):
    """A port another program holds keeps that listener out, not the whole
    configuration; once the port is free, skiff-lb opens it by itself (it
    tries again every 5 s)."""
    a, _ = procs.backend("a")
    taken, free = free_port(), free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", taken))
    holder.listen(1)
    try:
        cfg = {"listeners": [http_listener(taken, forward("A")), http_listener(free, forward("A"))],
               "target_groups": [group("A", [a])]}
        lb = LB(procs, cfg)
        assert lb.proc.poll() is None
        assert who(free, "/") == "a"
        with open(os.path.join(procs.tmp, "lb.log"), errors="replace") as f:
            assert "not listening on 127.0.0.1:%d" % taken in f.read()
    finally:
        holder.close()
    end = time.time() + 30
    while True:
        try:
            if who(taken, "/") == "a":
                break
        except OSError:
            pass
        assert time.time() < end, "the freed port was never opened"
        time.sleep(0.1)
    assert who(free, "/") == "a"


SMUGGLING = [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n\tb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad[Name]: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
]


def test_smuggling_payloads_get_400(procs):
    a, _ = procs.backend("a")
    port = free_port()
    lb = LB(procs, {"listeners": [http_listener(port, forward("A"))],
                    "target_groups": [group("A", [a])]})
    for payload in SMUGGLING:
        out = raw(port, payload)
        assert out.startswith(b"HTTP/1.1 400 "), (payload, out)
        # Nothing else: no second response smuggled behind it.
        assert out.count(b"HTTP/1.") == 1, (payload, out)
    assert who(port, "/") == "a"
    assert lb.proc.poll() is None


def test_limits_431_and_414(procs):
    a, _ = procs.backend("a")
    port = free_port()
    LB(procs, {"max_request_line": 1024, "max_header_size": 8192,
               "listeners": [http_listener(port, forward("A"))],
               "target_groups": [group("A", [a])]})
    out = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(120))
    out = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 "), out[:100]
    out = raw(port, b"GET /" + b"u" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 414 "), out[:100]
    assert who(port, "/" + "u" * 900) == "a"


def test_slowloris_gets_408_while_others_are_served(procs):
    a, _ = procs.backend("a")
    port = free_port()
    LB(procs, {"header_timeout": 3, "listeners": [http_listener(port, forward("A"))],
               "target_groups": [group("A", [a])]})
    result = {}

    def slow():
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        start = time.time()
        out = b""
        try:
            for ch in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100:
                s.send(bytes([ch]))
                time.sleep(1)
                s.settimeout(0.01)
                try:
                    b = s.recv(4096)
                    out += b
                    if not b or out:
                        break
                except socket.timeout:
                    pass
                finally:
                    s.settimeout(30)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                out += b
        except OSError:
            pass
        result["out"] = out
        result["secs"] = time.time() - start
        s.close()

    threads = [threading.Thread(target=slow) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(1)
    for i in range(10):
        start = time.time()
        assert who(port, "/%d" % i) == "a"
        assert time.time() - start < 5
        time.sleep(0.1)
    for t in threads:
        t.join(60)
    assert result["out"].startswith(b"HTTP/1.1 408 "), result
    assert 2 <= result["secs"] < 15, result


def test_5000_idle_connections_new_clients_served(procs):
    a, _ = procs.backend("a")
    port = free_port()
    LB(procs, {"listeners": [http_listener(port, forward("A"))],
               "target_groups": [group("A", [a])]})
    idle = []
    try:
        for _ in range(5000):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        # Half of them with a partial head, half with nothing.
        for s in idle[::2]:
            s.send(b"GET / HTTP/1.1\r\n")
        for i in range(20):
            start = time.time()
            assert who(port, "/%d" % i) == "a"
            assert time.time() - start < 5
        # The idle connections are still open and usable.
        s = idle[1]
        s.sendall(b"GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        assert b'"/late"' in out
    finally:
        for s in idle:
            s.close()


def test_tcp_listener_forwards_both_ways_with_half_close(procs):
    a, _ = procs.backend("ta", kind="tcp")
    b, _ = procs.backend("tb", kind="tcp")
    port = free_port()
    lb = LB(procs, {"listeners": [{"protocol": "TCP", "address": "127.0.0.1", "port": port,
                                   "default_action": forward("T")}],
                    "target_groups": [{"name": "T", "protocol": "TCP",
                                       "targets": [{"ip": "127.0.0.1", "port": a},
                                                   {"ip": "127.0.0.1", "port": b}],
                                       "health_check": {"protocol": "TCP", "interval": 1,
                                                        "healthy_threshold": 2}}]})
    lb.wait_state("T", a, "healthy")
    lb.wait_state("T", b, "healthy")
    names = set()
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        data = os.urandom(1 << 20) if i == 0 else b"hello %d" % i
        s.sendall(data)
        # Our FIN reaches the target, which answers only then: the other
        # direction stays open after the half-close.
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        s.close()
        name, length, head = out.split(b":", 2)
        assert int(length) == len(data) and head == data[:64]
        names.add(name)
    assert names == {b"ta", b"tb"}


if __name__ == "__main__":
    if sys.argv[1] == "http":
        http_server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        tcp_server(sys.argv[2], int(sys.argv[3]))
