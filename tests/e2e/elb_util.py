"""Helpers of the load balancer files (test_elb_traffic, test_services_lb,
test_services_lb_rules): free listener ports, plain HTTP requests to a
listener, polling, and the elbv2/ec2/ecs look-ups they share."""
import http.client
import random
import socket
import time


def listen_port():
    """A port below the ephemeral range, free now: a port the kernel hands
    out for binding to 0 could be taken again at once as the local port of
    an outgoing connection (skiff-lb's to its targets) before the listener
    that wants it binds it."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(1000):
        port = random.randrange(10000, low)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def http_get(port, path="/", host=None, timeout=10):
    """(status, body) of one GET on a new connection to 127.0.0.1:port."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def wait_for(fn, what, timeout=90, interval=0.2):
    """fn()'s first true answer within timeout seconds (errors of the
    connection count as no answer yet); AssertionError naming what
    otherwise."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("%s: last %r" % (what, last))


def health(elb, tg, with_port=False):
    """Target → state of a target group; targets are ids, or (id, port)."""
    return {(d["Target"]["Id"], d["Target"]["Port"]) if with_port else d["Target"]["Id"]:
            d["TargetHealth"]["State"]
            for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]}


def default_network(s, profile="default"):
    """(subnet id, VPC id, default security group id) of the account's
    default VPC."""
    ec2 = s.client("ec2", profile=profile)
    [subnet] = ec2.describe_subnets()["Subnets"]
    [sg] = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    return subnet["SubnetId"], subnet["VpcId"], sg["GroupId"]


def ip_of(task):
    """The private address of a task's ENI."""
    att = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"][0]
    return {d["name"]: d["value"] for d in att["details"]}["privateIPv4Address"]


def service_tasks(ecs, name):
    arns = ecs.list_tasks(cluster="default", serviceName=name)["taskArns"]
    return ecs.describe_tasks(cluster="default", tasks=arns)["tasks"] if arns else []
