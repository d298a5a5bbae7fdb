"""ECS services behind elbv2 load balancers, with real tasks as targets
(skiffd --task-network): each task's ENI address is registered with the
service's target group when it is RUNNING and drains before it is stopped;
the load balancer spreads requests over the tasks; a task its target group
finds unhealthy is replaced; a rolling deployment under constant load loses
no request; another account cannot use the load balancer's allowance to
reach the tasks. Driven through boto3 and the aws CLI only."""
import http.client
import os
import socket
import threading
import time

import pytest

import elb_util
from elb_util import default_network, health, ip_of, listen_port, service_tasks
from net_util import net_daemons  # noqa: F401
from tasks_util import busybox_layout, container, daemons, register  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

TIMEOUT = 180
PORT = 8080

# busybox httpd on 8080: / answers the task's address, /health "ok" while
# the file exists, /cgi-bin/fail removes it (the task's health check then
# fails) and answers the address too (its header lines end in CRLF: busybox
# httpd passes a CGI's output on as it is, and skiff-lb wants CRLF).
WEB = r"""
mkdir -p /www/cgi-bin
IP=$(ip -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]}')
echo "$IP" > /www/index.html
echo ok > /www/health
cat > /www/cgi-bin/fail <<EOF
#!/bin/sh
rm -f /www/health
printf 'Content-Type: text/plain\r\n\r\n$IP\n'
EOF
chmod 755 /www/cgi-bin/fail
exec httpd -f -p 8080 -h /www
"""








def get(port, path="/", timeout=10):
    status, body = elb_util.http_get(port, path, timeout=timeout)
    return status, body.strip()


def wait_for(fn, what, timeout=TIMEOUT):
    return elb_util.wait_for(fn, what, timeout)


def running_ips(ecs, name):
    return {ip_of(t): t for t in service_tasks(ecs, name)
            if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"}


def healthy_set(elb, tg, ecs, name, n):
    """The addresses of the service's n running tasks once each is healthy in
    the target group and no other target is."""
    h = health(elb, tg)
    ips = running_ips(ecs, name)
    healthy = {ip for ip, st in h.items() if st == "healthy"}
    return set(ips) if len(ips) == n and healthy == set(ips) else None


def events(ecs, name):
    [svc] = ecs.describe_services(cluster="default", services=[name])["services"]
    return [e["message"] for e in svc["events"]]


class Load:
    """Client threads sending GET / through the load balancer for as long as
    it runs: one on a keep-alive connection, one with a new connection per
    request. Counts answers by status, and connection errors."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.bad = []
        self.seen = set()
        self.threads = [threading.Thread(target=self.keepalive, daemon=True),
                        threading.Thread(target=self.fresh, daemon=True)]
        for t in self.threads:
            t.start()

    def note(self, status, body):
        with self.lock:
            if status == 200:
                self.ok += 1
                self.seen.add(body)
            else:
                self.bad.append((status, body[:200]))

    def keepalive(self):
        c = None
        while not self.stop.is_set():
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read().decode().strip()
                self.note(r.status, body)
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                self.note(None, repr(e))
                c = None
            time.sleep(0.01)

    def fresh(self):
        while not self.stop.is_set():
            try:
                self.note(*get(self.port, timeout=20))
            except (OSError, http.client.HTTPException) as e:
                self.note(None, repr(e))
            time.sleep(0.01)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def setup_alb(s, elb, vpc, subnet, sg, delay="6"):
    tg = elb.create_target_group(
        Name="web", Protocol="HTTP", Port=PORT, VpcId=vpc, TargetType="ip",
        HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=4,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": delay}])
    alb = elb.create_load_balancer(Name="front", Subnets=[subnet], SecurityGroups=[sg],
                                   Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    port = listen_port()
    elb.create_listener(LoadBalancerArn=alb, Protocol="HTTP", Port=port,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return tg, port



def test_load_balancers_need_task_network(daemons):
    """Without --task-network a service cannot have load balancers."""
    s = daemons.start()
    ecs, elb = s.client(), s.client("elbv2")
    subnet, vpc, sg = default_network(s)
    tg, _ = setup_alb(s, elb, vpc, subnet, sg)
    td = register(ecs, "lbweb", [container("web", command=["sh", "-c", WEB],
                                           portMappings=[{"containerPort": PORT}])])
    with pytest.raises(ecs.exceptions.InvalidParameterException) as e:
        ecs.create_service(cluster="default", serviceName="web", taskDefinition=td,
                           desiredCount=1, launchType="FARGATE", loadBalancers=[
                               {"targetGroupArn": tg, "containerName": "web",
                                "containerPort": PORT}])
    assert "--task-network" in str(e.value)


def test_service_behind_alb(net_daemons):
    t0 = time.time()

    def phase(name):
        print("%6.1f s %s" % (time.time() - t0, name))
    s = net_daemons.start("--task-network")
    ecs, elb = s.client(), s.client("elbv2")
    subnet, vpc, sg = default_network(s)
    tg, port = setup_alb(s, elb, vpc, subnet, sg)
    td = register(ecs, "lbweb", [container("web", command=["sh", "-c", WEB],
                                           portMappings=[{"containerPort": PORT}])])
    net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}

    def lb(tg_arn=tg, name="web", port=PORT):
        return [{"targetGroupArn": tg_arn, "containerName": name, "containerPort": port}]

    # Validation: the target group must exist in the account, be used by a
    # load balancer, and the container and port must be in the definition.
    unused = elb.create_target_group(Name="unused", Protocol="HTTP", Port=PORT, VpcId=vpc,
                                     TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    bad = [(lb(tg.replace("/web/", "/nope/")), "does not exist"),
           (lb(unused), "does not have an associated load balancer"),
           (lb(name="other"), "did not have a container port"),
           (lb(port=9999), "did not have a container port")]
    for lbs, msg in bad:
        with pytest.raises(ecs.exceptions.InvalidParameterException) as e:
            ecs.create_service(cluster="default", serviceName="bad", taskDefinition=td,
                               desiredCount=1, launchType="FARGATE", networkConfiguration=net,
                               loadBalancers=lbs)
        assert msg in str(e.value), (msg, str(e.value))
    s.add_profile("other", "222222222222", "AKIAOTHER0000000005", "othersecret")
    their_ecs, their_elb = s.client(profile="other"), s.client("elbv2", profile="other")
    their_ecs.create_cluster(clusterName="default")
    their_td = register(their_ecs, "lbweb", [container("web", command=["sh", "-c", WEB],
                                                       portMappings=[{"containerPort": PORT}])])
    with pytest.raises(their_ecs.exceptions.InvalidParameterException) as e:
        their_ecs.create_service(cluster="default", serviceName="steal", taskDefinition=their_td,
                                 desiredCount=1, launchType="FARGATE", loadBalancers=lb())
    assert "does not exist" in str(e.value)

    phase("validation done")
    # The same tasks behind an NLB too (a TCP target group, raw TCP).
    raw_tg = elb.create_target_group(
        Name="raw", Protocol="TCP", Port=PORT, VpcId=vpc, TargetType="ip",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=4, HealthyThresholdCount=2,
        UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(TargetGroupArn=raw_tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "6"}])
    nlb = elb.create_load_balancer(Name="raw", Subnets=[subnet],
                                   Type="network")["LoadBalancers"][0]["LoadBalancerArn"]
    raw_port = listen_port()
    elb.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=raw_port,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": raw_tg}])

    def raw_get():
        with socket.create_connection(("127.0.0.1", raw_port), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            got = b""
            while True:
                data = c.recv(4096)
                if not data:
                    return got.decode(errors="replace")
                got += data

    # One task: registered once RUNNING, healthy (the tasks' default group
    # admits only its members: the load balancer's allowance lets the
    # checks and the requests in), and answering through the listeners.
    ecs.create_service(cluster="default", serviceName="web", taskDefinition=td, desiredCount=1,
                       launchType="FARGATE", networkConfiguration=net,
                       loadBalancers=lb() + lb(raw_tg),
                       healthCheckGracePeriodSeconds=30,
                       deploymentConfiguration={"minimumHealthyPercent": 100,
                                                "maximumPercent": 200})
    [ip1] = wait_for(lambda: healthy_set(elb, tg, ecs, "web", 1), "first task healthy")
    assert get(port) == (200, ip1)
    wait_for(lambda: health(elb, raw_tg).get(ip1) == "healthy", "NLB target healthy")
    reply = raw_get()
    assert reply.startswith("HTTP/1.") and reply.rstrip().endswith(ip1), reply
    rc, out, err = s.aws("elbv2", "describe-target-health", "--target-group-arn", tg)
    assert rc == 0, err
    [d] = out["TargetHealthDescriptions"]
    assert d["Target"] == {"Id": ip1, "Port": PORT} and d["TargetHealth"]["State"] == "healthy"

    phase("one task healthy")
    # 1 -> 3: requests spread over all three.
    ecs.update_service(cluster="default", service="web", desiredCount=3)
    ips = wait_for(lambda: healthy_set(elb, tg, ecs, "web", 3), "three tasks healthy")
    wait_for(lambda: {get(port)[1] for _ in range(30)} == ips, "requests reach all three")

    phase("three spread")
    # Stopping a task: it leaves the target group and drains (DEACTIVATING)
    # before it gets SIGTERM; no request fails meanwhile; it is replaced.
    load = Load(port)
    victim = running_ips(ecs, "web")[sorted(ips)[0]]
    asked = time.time()
    ecs.stop_task(cluster="default", task=victim["taskArn"], reason="test stop")
    seen = set()

    def victim_stopped():
        [t] = ecs.describe_tasks(cluster="default", tasks=[victim["taskArn"]])["tasks"]
        seen.add(t["lastStatus"])
        seen.add(health(elb, tg).get(ip_of(victim)))
        return t if t["lastStatus"] == "STOPPED" else None
    t = wait_for(victim_stopped, "victim stopped")
    # It drained (DEACTIVATING, its target draining) and its stop (SIGTERM)
    # waited for the 6 s deregistration delay.
    assert {"DEACTIVATING", "draining"} <= seen, seen
    assert t["stoppingAt"].timestamp() - asked >= 5.5, (t["stoppingAt"], asked)
    assert t["stopCode"] == "UserInitiated", t
    ips = wait_for(lambda: healthy_set(elb, tg, ecs, "web", 3), "replacement healthy")
    load.finish()
    assert load.bad == [] and load.ok > 0, (load.bad[:5], load.ok)

    phase("stop drained")
    # A task whose health check starts failing is marked unhealthy and
    # replaced (after the grace period since its start, 30 s here).
    status, sick = get(port, "/cgi-bin/fail")
    assert status == 200 and sick in ips, (status, sick)
    wait_for(lambda: health(elb, tg).get(sick) in ("unhealthy", "draining", None),
             "sick target unhealthy")
    wait_for(lambda: any("is unhealthy in (target-group web) due to (reason Health checks failed)"
                         in e for e in events(ecs, "web")), "unhealthy event")
    wait_for(lambda: sick not in running_ips(ecs, "web"), "sick task stopped")
    ips = wait_for(lambda: healthy_set(elb, tg, ecs, "web", 3), "sick task replaced")
    [stopped] = [t for t in ecs.describe_tasks(cluster="default", tasks=ecs.list_tasks(
        cluster="default", serviceName="web", desiredStatus="STOPPED")["taskArns"])["tasks"]
        if ip_of(t) == sick and t["stoppedReason"].startswith("Task failed ELB health checks")]
    assert "(target-group web)" in stopped["stoppedReason"], stopped["stoppedReason"]

    phase("sick replaced")
    # Another account registers one of these tasks' address in its own
    # target group (its default VPC has the same CIDR): its load balancer
    # never reaches the task (no mark, not the task's bridge), so the
    # target never turns healthy and no request gets the task's answer.
    their_subnet, their_vpc, their_sg = default_network(s, "other")
    their_tg, their_port = setup_alb(s, their_elb, their_vpc, their_subnet, their_sg)
    target = sorted(ips)[0]
    their_elb.register_targets(TargetGroupArn=their_tg, Targets=[{"Id": target, "Port": PORT}])
    wait_for(lambda: health(their_elb, their_tg).get(target) == "unhealthy",
             "other account's target unhealthy")
    try:
        status, body = get(their_port, timeout=5)
    except OSError:
        status, body = None, ""  # the connection attempt is dropped: no answer
    assert status != 200 and target not in body, (status, body)

    phase("other account")
    # A rolling deployment under constant load: no 5xx, no connection error.
    load = Load(port)
    time.sleep(2)
    ecs.update_service(cluster="default", service="web", forceNewDeployment=True)

    def rolled():
        [svc] = ecs.describe_services(cluster="default", services=["web"])["services"]
        deps = svc["deployments"]
        return (len(deps) == 1 and deps[0]["rolloutState"] == "COMPLETED"
                and svc["runningCount"] == 3 and healthy_set(elb, tg, ecs, "web", 3))
    new_ips = wait_for(rolled, "rolling deployment completed", timeout=300)
    time.sleep(2)
    load.finish()
    assert load.bad == [], (len(load.bad), load.bad[:5], load.ok)
    assert load.ok > 50, load.ok
    assert new_ips and load.seen >= set(new_ips), (load.seen, new_ips)

    phase("rolled")
    ecs.update_service(cluster="default", service="web", desiredCount=0)
    ecs.delete_service(cluster="default", service="web")
    wait_for(lambda: service_tasks(ecs, "web") == [] or all(
        t["lastStatus"] == "STOPPED" for t in service_tasks(ecs, "web")), "service gone")
    wait_for(lambda: health(elb, tg) == {} or set(health(elb, tg).values()) == {"draining"},
             "targets deregistered")
