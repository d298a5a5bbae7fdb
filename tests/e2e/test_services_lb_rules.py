"""An ALB's listener rules routing to ECS services' tasks (skiffd
--task-network): the default action is a fixed 404, a path-pattern rule
forwards /api/* to service A's target group and a host-header rule forwards
Host: b.example to service B's; each task answers every path with its
service's name and its own address, so a request that reaches the wrong
group or the default action shows. (An NLB forwarding raw TCP to a
service's tasks is covered by test_services_lb.py.) Driven through boto3
and the aws CLI only."""
import os
import time

import pytest

import elb_util
from elb_util import default_network, health, ip_of, listen_port, service_tasks, wait_for
from net_util import net_daemons  # noqa: F401
from tasks_util import busybox_layout, container, daemons, register  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

HEALTH_WAIT = 90
PORT = 8080

# busybox httpd on 8080: /, /api/x and /other answer "NAME ADDRESS" (the
# service's name and the task's own address), /health "ok".
WEB = r"""
mkdir -p /www/api
IP=$(ip -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]}')
for f in index.html api/x other; do echo "NAME $IP" > /www/$f; done
echo ok > /www/health
exec httpd -f -p 8080 -h /www
"""









def get(port, path, host=None, timeout=10):
    status, body = elb_util.http_get(port, path, host, timeout)
    return status, body.strip()


def healthy_ip(elb, tg, ecs, name):
    """The address of the service's one running task once it is the only
    target of the group and healthy there."""
    ips = [ip_of(t) for t in service_tasks(ecs, name)
           if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"]
    return ips[0] if len(ips) == 1 and health(elb, tg) == {ips[0]: "healthy"} else None


def test_alb_rules_route_to_services(net_daemons):
    t0 = time.time()

    def phase(name):
        print("%6.1f s %s" % (time.time() - t0, name))
    s = net_daemons.start("--task-network")
    ecs, elb = s.client(), s.client("elbv2")
    subnet, vpc, sg = default_network(s)
    net = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}

    def target_group(name):
        arn = elb.create_target_group(
            Name=name, Protocol="HTTP", Port=PORT, VpcId=vpc, TargetType="ip",
            HealthCheckPath="/health", HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=4, HealthyThresholdCount=2,
            UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
        return arn
    tg_a, tg_b = target_group("svc-a"), target_group("svc-b")

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
        Actions=[{"Type": "forward", "TargetGroupArn": tg_a}])
    # The host rule through the aws CLI.
    rc, out, err = s.aws("elbv2", "create-rule", "--listener-arn", listener,
                         "--priority", "20", "--conditions",
                         '[{"Field": "host-header", "Values": ["b.example"]}]',
                         "--actions", '[{"Type": "forward", "TargetGroupArn": "%s"}]' % tg_b)
    assert rc == 0, err
    [rule_b] = out["Rules"]
    assert rule_b["Priority"] == "20" and not rule_b["IsDefault"], rule_b

    # One service per group, one task each.
    for name, tg in (("a", tg_a), ("b", tg_b)):
        td = register(ecs, "web-" + name, [container(
            "web", command=["sh", "-c", WEB.replace("NAME", name)],
            portMappings=[{"containerPort": PORT}])])
        ecs.create_service(cluster="default", serviceName="svc-" + name, taskDefinition=td,
                           desiredCount=1, launchType="FARGATE", networkConfiguration=net,
                           loadBalancers=[{"targetGroupArn": tg, "containerName": "web",
                                           "containerPort": PORT}])
    phase("services created")

    # Before any target is healthy the default action answers (once
    # skiff-lb has opened the listener: within a render and a reload).
    wait_for(lambda: get(port, "/other") == (404, "nothing here"), "listener answers")

    ip_a = wait_for(lambda: healthy_ip(elb, tg_a, ecs, "svc-a"), "service A's task healthy")
    ip_b = wait_for(lambda: healthy_ip(elb, tg_b, ecs, "svc-b"), "service B's task healthy")
    assert ip_a != ip_b
    phase("both healthy")

    # skiff-lb picks up the healthy verdicts within a render: wait for both
    # groups to answer, then check every route.
    wait_for(lambda: get(port, "/api/x")[0] == 200, "path rule answers")
    wait_for(lambda: get(port, "/", host="b.example")[0] == 200, "host rule answers")
    for _ in range(3):
        assert get(port, "/api/x") == (200, "a " + ip_a)
        assert get(port, "/api/x", host="b.example") == (200, "a " + ip_a)  # priority 10 first
        assert get(port, "/", host="b.example") == (200, "b " + ip_b)
        assert get(port, "/other", host="b.example") == (200, "b " + ip_b)
        assert get(port, "/", host="B.Example") == (200, "b " + ip_b)  # hosts ignore case
        assert get(port, "/") == (404, "nothing here")
        assert get(port, "/other") == (404, "nothing here")
        assert get(port, "/api") == (404, "nothing here")  # /api/* needs the slash
        assert get(port, "/other", host="c.example") == (404, "nothing here")
    phase("routes checked")

    # DescribeRules (the aws CLI): the two rules in priority order, then the
    # default rule with the fixed response.
    rc, out, err = s.aws("elbv2", "describe-rules", "--listener-arn", listener)
    assert rc == 0, err
    rules = out["Rules"]
    assert [r["Priority"] for r in rules] == ["10", "20", "default"], rules
    assert rules[0]["Actions"][0]["TargetGroupArn"] == tg_a
    assert rules[1]["Actions"][0]["TargetGroupArn"] == tg_b
    assert rules[2]["IsDefault"] and rules[2]["Actions"][0]["Type"] == "fixed-response"

    for name, tg in (("a", tg_a), ("b", tg_b)):
        ecs.update_service(cluster="default", service="svc-" + name, desiredCount=0)
        ecs.delete_service(cluster="default", service="svc-" + name)
    for name, tg in (("a", tg_a), ("b", tg_b)):
        wait_for(lambda: all(t["lastStatus"] == "STOPPED"
                             for t in service_tasks(ecs, "svc-" + name)), "service gone")
        wait_for(lambda: set(health(elb, tg).values()) <= {"draining"}, "targets deregistered")
    # With both groups empty the rules' forwards have nowhere to go; the
    # default action is unchanged.
    assert get(port, "/other") == (404, "nothing here")
    phase("services deleted")
