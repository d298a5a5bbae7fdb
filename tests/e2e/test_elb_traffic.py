"""The elbv2 control plane drives the data plane: load balancers, listeners,
rules and targets made through the aws CLI and boto3 carry traffic through
skiff-lb (started by skiffd), health checks show in DescribeTargetHealth,
and skiff-lb keeps serving while skiffd restarts. Backends are servers the
test runs on loopback, registered with AvailabilityZone "all" (addresses
outside the VPC, as AWS allows)."""
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import threading

import pytest

import elb_util
from elb_util import default_network, http_get as get, listen_port

TIMEOUT = 90


class Backend:
    """An HTTP server answering its name; /health answers self.health."""

    def __init__(self, name):
        self.name = name
        self.health = 200
        self.hits = 0
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/health":
                    code, body = backend.health, b"ok"
                else:
                    backend.hits += 1
                    code, body = 200, ("%s %s %s" % (backend.name, self.path,
                                                     self.headers.get("X-Forwarded-For"))).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Echo(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                while True:
                    data = self.request.recv(65536)
                    if not data:
                        break
                    self.request.sendall(data.upper())
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()






def wait_for(fn, what, timeout=TIMEOUT):
    return elb_util.wait_for(fn, what, timeout, interval=0.1)


def health(elb, tg):
    return elb_util.health(elb, tg, with_port=True)


def lb_pid(s):
    try:
        with open(os.path.join(s.run_dir, "lb", "skiff-lb.pid")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


@pytest.fixture
def backends():
    made = {n: Backend(n) for n in ("api", "web", "spare")}
    echo = Echo()
    yield made, echo
    for b in made.values():
        b.close()
    echo.shutdown()
    echo.server_close()



def test_alb_and_nlb_carry_traffic(skiffd, backends):
    bk, echo = backends
    s = skiffd
    elb = s.client("elbv2")
    subnet, vpc, sg = default_network(s)
    assert lb_pid(s) is None  # no listener, no process

    def tg(name, protocol="HTTP", port=80, **kw):
        return elb.create_target_group(Name=name, Protocol=protocol, Port=port, VpcId=vpc,
                                       TargetType="ip", **kw)["TargetGroups"][0]["TargetGroupArn"]
    hc = dict(HealthCheckPath="/health", HealthCheckIntervalSeconds=5,
              HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2)
    api = tg("api", **hc)
    web = tg("web", **hc)
    for arn, b in ((api, bk["api"]), (web, bk["web"])):
        elb.register_targets(TargetGroupArn=arn, Targets=[
            {"Id": "127.0.0.1", "Port": b.port, "AvailabilityZone": "all"}])
    alb = elb.create_load_balancer(Name="front", Subnets=[subnet], SecurityGroups=[sg],
                                   Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    port = listen_port()
    listener = elb.create_listener(
        LoadBalancerArn=alb, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "nothing here"}}]
    )["Listeners"][0]["ListenerArn"]
    elb.create_rule(ListenerArn=listener, Priority=10, Conditions=[
        {"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": api}])
    elb.create_rule(ListenerArn=listener, Priority=20, Conditions=[
        {"Field": "host-header", "Values": ["b.example"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": web}])

    # Routing: path → api, host → web, else the fixed 404. Changes reach
    # skiff-lb within a render (200 ms) and a reload: wait for both rules.
    wait_for(lambda: get(port, "/x", host="b.example")[0] == 200, "host rule up")
    status, body = wait_for(lambda: get(port, "/api/users"), "path rule up")
    assert (status, body.split()[:2]) == (200, ["api", "/api/users"]), body
    assert body.split()[2] == "127.0.0.1"  # X-Forwarded-For
    status, body = get(port, "/x", host="b.example")
    assert (status, body.split()[0]) == (200, "web")
    assert get(port, "/other") == (404, "nothing here")

    # Health checks reach DescribeTargetHealth.
    target = ("127.0.0.1", bk["api"].port)
    wait_for(lambda: health(elb, api).get(target) == "healthy", "api healthy")
    bk["api"].health = 500
    wait_for(lambda: health(elb, api).get(target) == "unhealthy", "api unhealthy")
    d = elb.describe_target_health(TargetGroupArn=api)["TargetHealthDescriptions"][0]
    assert d["TargetHealth"]["Reason"] == "Target.ResponseCodeMismatch", d
    bk["api"].health = 200
    wait_for(lambda: health(elb, api).get(target) == "healthy", "api healthy again")

    # A second target: requests spread over both; the first deregistered
    # drains and then gets nothing.
    elb.register_targets(TargetGroupArn=api, Targets=[
        {"Id": "127.0.0.1", "Port": bk["spare"].port, "AvailabilityZone": "all"}])
    wait_for(lambda: health(elb, api).get(("127.0.0.1", bk["spare"].port)) == "healthy",
             "spare healthy")
    for b in bk.values():
        b.hits = 0
    for _ in range(20):
        assert get(port, "/api/spread")[0] == 200
    assert bk["api"].hits > 0 and bk["spare"].hits > 0, (bk["api"].hits, bk["spare"].hits)
    elb.modify_target_group_attributes(TargetGroupArn=api, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    elb.deregister_targets(TargetGroupArn=api, Targets=[{"Id": "127.0.0.1",
                                                         "Port": bk["api"].port}])
    # Once a render and a reload dropped it, it gets nothing.
    wait_for(lambda: all(get(port, "/api/after")[1].startswith("spare ") for _ in range(5)),
             "deregistered target left")
    bk["api"].hits = 0
    for _ in range(10):
        assert get(port, "/api/after")[1].startswith("spare ")
    assert bk["api"].hits == 0

    # An NLB forwards raw TCP.
    echo_tg = tg("echo", protocol="TCP", port=echo.port,
                 HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                 HealthyThresholdCount=2)
    elb.register_targets(TargetGroupArn=echo_tg, Targets=[
        {"Id": "127.0.0.1", "Port": echo.port, "AvailabilityZone": "all"}])
    nlb = elb.create_load_balancer(Name="raw", Subnets=[subnet],
                                   Type="network")["LoadBalancers"][0]["LoadBalancerArn"]
    # One address for every load balancer of the host: the ALB's port is
    # taken.
    with pytest.raises(elb.exceptions.InvalidConfigurationRequestException):
        elb.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=port,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": echo_tg}])
    tcp_port = listen_port()
    elb.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=tcp_port,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": echo_tg}])

    def echo_once():
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as c:
            c.sendall(b"hello over tcp")
            c.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                data = c.recv(4096)
                if not data:
                    return got
                got += data
    assert wait_for(echo_once, "nlb up") == b"HELLO OVER TCP"

    # skiff-lb outlives skiffd and is adopted by the next one.
    pid = lb_pid(s)
    assert pid
    s.stop()
    assert get(port, "/api/while-down")[1].startswith("spare ")
    s.start()
    elb = s.client("elbv2")
    assert lb_pid(s) == pid
    elb.delete_rule(RuleArn=elb.describe_rules(ListenerArn=listener)["Rules"][1]["RuleArn"])
    wait_for(lambda: get(port, "/x", host="b.example")[0] == 404, "rule removed")
    assert get(port, "/api/still")[1].startswith("spare ")

    # Deleting the load balancers closes their listeners.
    elb.delete_load_balancer(LoadBalancerArn=alb)
    elb.delete_load_balancer(LoadBalancerArn=nlb)

    def closed():
        for p in (port, tcp_port):
            try:
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
                return False
            except OSError:
                pass
        return True
    wait_for(closed, "listeners closed")
    with open(os.path.join(s.run_dir, "lb", "skiff-lb.log"), errors="replace") as f:
        log = f.read()
    assert not any(m in log for m in ("runtime error:", "AddressSanitizer", "LeakSanitizer")), log
    os.kill(pid, signal.SIGTERM)


def test_config_is_rendered_from_the_store(skiffd):
    """The file skiffd gives skiff-lb: listeners on --lb-address, rules in
    priority order with the default last, groups with their live targets."""
    s = skiffd
    elb = s.client("elbv2")
    subnet, vpc, sg = default_network(s)
    tg = elb.create_target_group(Name="g", Protocol="HTTP", Port=8080, VpcId=vpc,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "172.31.0.20"},
                                                     {"Id": "172.31.0.21", "Port": 9090}])
    lb = elb.create_load_balancer(Name="cfg", Subnets=[subnet], SecurityGroups=[sg]
                                  )["LoadBalancers"][0]["LoadBalancerArn"]
    port = listen_port()
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
                                   )["Listeners"][0]["ListenerArn"]
    elb.create_rule(ListenerArn=listener, Priority=5, Conditions=[
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env",
                                                      "Values": ["prod*"]}}],
        Actions=[{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_302",
                                                         "Path": "/v2/#{path}"}}])
    path = os.path.join(s.data_dir, "lb", "config.json")
    def rendered():
        if not os.path.exists(path):
            return None
        with open(path) as f:
            cfg = json.load(f)
        return cfg if cfg["listeners"] and cfg["listeners"][0].get("rules") else None
    cfg = wait_for(rendered, "config with the rule written")
    [l] = cfg["listeners"]
    assert (l["protocol"], l["address"], l["port"], l["idle_timeout"]) == \
        ("HTTP", "127.0.0.1", port, 60)
    [rule] = l["rules"]
    assert rule["priority"] == 5
    assert rule["conditions"] == [{"field": "http-header", "name": "X-Env", "values": ["prod*"]}]
    assert rule["action"]["type"] == "redirect" and rule["action"]["path"] == "/v2/#{path}"
    assert rule["action"]["status_code"] == "HTTP_302"
    assert l["default_action"] == {"type": "forward",
                                   "target_groups": [{"name": tg, "weight": 1}]}
    [g] = cfg["target_groups"]
    assert g["name"] == tg and g["deregistration_delay"] == 300
    assert g["targets"] == [{"ip": "172.31.0.20", "port": 8080}, {"ip": "172.31.0.21", "port": 9090}]
    assert g["health_check"]["path"] == "/" and g["health_check"]["port"] == 0
    elb.delete_load_balancer(LoadBalancerArn=lb)
    wait_for(lambda: json.load(open(path))["listeners"] == [], "listener gone from the config")
