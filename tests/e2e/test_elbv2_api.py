"""Elastic Load Balancing v2 control plane (src/elb, docs/elb.md) on the plain
query protocol: load balancers, target groups, targets, listeners, rules,
tags, pagination, AWS's error codes, tenant isolation and restart
persistence. The unmodified aws CLI drives one round trip (each call costs
seconds on a loaded machine); boto3, which uses the same botocore
serializer and parser, drives the rest."""
import re
import time

import botocore.exceptions
import pytest

from conftest import REGION

ARN = "arn:aws:elasticloadbalancing:%s:" % REGION


def err_code(stderr):
    """The AWS error code from an aws CLI error line."""
    start = stderr.find("(")
    return stderr[start + 1:stderr.find(")", start)] if start >= 0 else stderr


def code(fn, **kw):
    """Calls fn and returns the AWS error code it fails with (a 400)."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.value.response["ResponseMetadata"]["RequestId"]
    return e.value.response["Error"]["Code"]


class Env:
    """An account's clients and its default VPC and subnet."""

    def __init__(self, skiffd, profile="default"):
        self.ec2 = skiffd.client("ec2", profile=profile)
        self.elb = skiffd.client("elbv2", profile=profile)
        sub = [s for s in self.ec2.describe_subnets()["Subnets"] if s["DefaultForAz"]][0]
        self.subnet = sub["SubnetId"]
        self.vpc = sub["VpcId"]

    def alb(self, name="web", **kw):
        return self.elb.create_load_balancer(Name=name, Subnets=[self.subnet],
                                             **kw)["LoadBalancers"][0]

    def nlb(self, name="tcp"):
        return self.elb.create_load_balancer(Name=name, Subnets=[self.subnet],
                                             Type="network")["LoadBalancers"][0]

    def tg(self, name="tg", protocol="HTTP", port=8080, **kw):
        return self.elb.create_target_group(Name=name, Protocol=protocol, Port=port,
                                            VpcId=self.vpc, TargetType="ip",
                                            **kw)["TargetGroups"][0]

    def listener(self, lb, tg=None, port=80, protocol="HTTP", actions=None):
        actions = actions or [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
        return self.elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol=protocol,
                                        Port=port, DefaultActions=actions)["Listeners"][0]


@pytest.fixture
def env(skiffd):
    return Env(skiffd)


def fixed(status="404", body="nothing here"):
    return [{"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": status, "ContentType": "text/plain", "MessageBody": body}}]


def test_aws_cli_round_trip(skiffd):
    """Three CLI calls (each costs seconds on a loaded machine): a create,
    a nested shorthand list, and an error."""
    env = Env(skiffd)
    rc, out, err = skiffd.aws("elbv2", "create-load-balancer", "--name", "cli-lb", "--subnets",
                              env.subnet, check=True)
    lb = out["LoadBalancers"][0]
    assert lb["Type"] == "application" and lb["State"]["Code"] == "provisioning"
    tg = env.tg("cli-tg", port=80)
    rc, out, err = skiffd.aws("elbv2", "create-listener", "--load-balancer-arn",
                              lb["LoadBalancerArn"], "--protocol", "HTTP", "--port", "8080",
                              "--default-actions",
                              "Type=forward,TargetGroupArn=" + tg["TargetGroupArn"], check=True)
    assert out["Listeners"][0]["Port"] == 8080
    assert out["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    rc, out, err = skiffd.aws("elbv2", "describe-load-balancers", "--names", "cli-lb", "nope")
    assert rc != 0 and err_code(err) == "LoadBalancerNotFound", err


def test_load_balancer_create_describe_delete(env):
    lb = env.alb(Tags=[{"Key": "team", "Value": "a"}])
    arn = lb["LoadBalancerArn"]
    assert re.fullmatch(re.escape(ARN) + r"\d{12}:loadbalancer/app/web/[0-9a-f]{16}", arn), arn
    assert re.fullmatch(r"web-\d{9}\.%s\.elb\.localhost" % REGION, lb["DNSName"]), lb
    assert lb["Scheme"] == "internet-facing" and lb["IpAddressType"] == "ipv4"
    assert lb["VpcId"] == env.vpc
    assert lb["AvailabilityZones"] == [{"ZoneName": REGION + "a", "SubnetId": env.subnet,
                                        "LoadBalancerAddresses": []}]
    # An ALB without security groups gets the VPC's default group.
    default_sg = env.ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [env.vpc]}, {"Name": "group-name", "Values": ["default"]}])
    assert lb["SecurityGroups"] == [default_sg["SecurityGroups"][0]["GroupId"]]

    nlb = env.elb.create_load_balancer(Name="inner", Subnets=[env.subnet], Type="network",
                                       Scheme="internal")["LoadBalancers"][0]
    assert "/net/inner/" in nlb["LoadBalancerArn"] and "SecurityGroups" not in nlb
    assert nlb["DNSName"].startswith("internal-inner-")

    got = env.elb.describe_load_balancers()["LoadBalancers"]
    assert [g["LoadBalancerName"] for g in got] == ["inner", "web"]
    assert all(g["State"]["Code"] == "active" for g in got)
    assert env.elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0][
        "DNSName"] == lb["DNSName"]
    assert env.elb.describe_load_balancers(Names=["inner"])["LoadBalancers"][0][
        "LoadBalancerArn"] == nlb["LoadBalancerArn"]
    assert code(env.elb.describe_load_balancers, Names=["web", "gone"]) == "LoadBalancerNotFound"
    assert len(env.elb.describe_load_balancers(Names=["web", "web"])["LoadBalancers"]) == 1
    assert code(env.elb.describe_load_balancers, Names=["web"],
                LoadBalancerArns=[arn]) == "ValidationError"

    env.elb.delete_load_balancer(LoadBalancerArn=arn)
    assert code(env.elb.describe_load_balancers, LoadBalancerArns=[arn]) == "LoadBalancerNotFound"
    # As on AWS, deleting what is gone succeeds; the name is free again.
    env.elb.delete_load_balancer(LoadBalancerArn=arn)
    again = env.alb()
    assert again["LoadBalancerArn"] != arn and again["DNSName"] == lb["DNSName"]


def test_load_balancer_validation(skiffd, env):
    elb = env.elb
    sub = [env.subnet]
    assert code(elb.create_load_balancer, Name="-bad", Subnets=sub) == "ValidationError"
    assert code(elb.create_load_balancer, Name="a" * 33, Subnets=sub) == "ValidationError"
    assert code(elb.create_load_balancer, Name="internal-x", Subnets=sub) == "ValidationError"
    assert code(elb.create_load_balancer, Name="x") == "ValidationError"
    assert code(elb.create_load_balancer, Name="x",
                Subnets=["subnet-00000000000000000"]) == "SubnetNotFound"
    assert code(elb.create_load_balancer, Name="x", Subnets=sub,
                Type="gateway") == "ValidationError"
    assert code(elb.create_load_balancer, Name="x", Subnets=sub,
                IpAddressType="dualstack") == "ValidationError"
    assert code(elb.create_load_balancer, Name="x", Subnets=sub,
                SubnetMappings=[{"SubnetId": env.subnet}]) == "ValidationError"
    # One subnet per availability zone, and skiff has one zone.
    vpc2 = env.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    s1 = env.ec2.create_subnet(VpcId=vpc2, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    s2 = env.ec2.create_subnet(VpcId=vpc2, CidrBlock="10.20.2.0/24")["Subnet"]["SubnetId"]
    assert code(elb.create_load_balancer, Name="x",
                Subnets=[s1, s2]) == "InvalidConfigurationRequest"
    assert code(elb.create_load_balancer, Name="x",
                Subnets=[s1, env.subnet]) == "InvalidSubnet"
    sg2 = env.ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc2)["GroupId"]
    assert code(elb.create_load_balancer, Name="x", Subnets=sub,
                SecurityGroups=[sg2]) == "InvalidSecurityGroup"
    assert code(elb.create_load_balancer, Name="x", Subnets=sub,
                SecurityGroups=["sg-00000000000000000"]) == "InvalidSecurityGroup"
    lb = elb.create_load_balancer(Name="x", SubnetMappings=[{"SubnetId": s1}],
                                  SecurityGroups=[sg2])["LoadBalancers"][0]
    assert lb["VpcId"] == vpc2 and lb["SecurityGroups"] == [sg2]
    assert code(elb.create_load_balancer, Name="x", Subnets=sub) == "DuplicateLoadBalancerName"
    assert code(elb.create_load_balancer, Name="y", Subnets=sub,
                Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]) == \
        "DuplicateTagKeys"
    # Nothing of a refused call was kept.
    assert [b["LoadBalancerName"] for b in elb.describe_load_balancers()["LoadBalancers"]] == \
        ["x"]


def test_describe_load_balancers_pagination(env):
    names = ["lb-%d" % i for i in range(5)]
    for n in names:
        env.alb(n)
    seen, marker, pages = [], None, 0
    while True:
        kw = {"PageSize": 2}
        if marker:
            kw["Marker"] = marker
        out = env.elb.describe_load_balancers(**kw)
        pages += 1
        assert len(out["LoadBalancers"]) <= 2
        seen += [b["LoadBalancerName"] for b in out["LoadBalancers"]]
        marker = out.get("NextMarker")
        if not marker:
            break
    assert seen == names and pages == 3
    paginated = env.elb.get_paginator("describe_load_balancers").paginate(
        PaginationConfig={"PageSize": 4})
    assert [b["LoadBalancerName"] for p in paginated for b in p["LoadBalancers"]] == names
    assert code(env.elb.describe_load_balancers, Marker="!!") == "ValidationError"
    assert code(env.elb.describe_load_balancers, PageSize=401) == "ValidationError"


def test_load_balancer_attributes_and_deletion_protection(env):
    lb = env.alb()
    arn = lb["LoadBalancerArn"]
    attrs = {a["Key"]: a["Value"] for a in env.elb.describe_load_balancer_attributes(
        LoadBalancerArn=arn)["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "60"
    assert attrs["deletion_protection.enabled"] == "false"
    out = env.elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "4000"},
        {"Key": "deletion_protection.enabled", "Value": "true"}])
    attrs = {a["Key"]: a["Value"] for a in out["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "4000"
    for bad in ("0", "4001", "x"):
        assert code(env.elb.modify_load_balancer_attributes, LoadBalancerArn=arn, Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": bad}]) == \
            "InvalidConfigurationRequest"
    assert code(env.elb.modify_load_balancer_attributes, LoadBalancerArn=arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "yes"}]) == "InvalidConfigurationRequest"
    assert code(env.elb.modify_load_balancer_attributes, LoadBalancerArn=arn, Attributes=[
        {"Key": "no.such.key", "Value": "1"}]) == "ValidationError"
    nlb = env.nlb()
    assert code(env.elb.modify_load_balancer_attributes, LoadBalancerArn=nlb["LoadBalancerArn"],
                Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "10"}]) == \
        "ValidationError"
    # A refused change leaves every attribute as it was.
    attrs = {a["Key"]: a["Value"] for a in env.elb.describe_load_balancer_attributes(
        LoadBalancerArn=arn)["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "4000"
    assert code(env.elb.delete_load_balancer, LoadBalancerArn=arn) == "OperationNotPermitted"
    env.elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    env.elb.delete_load_balancer(LoadBalancerArn=arn)
    assert code(env.elb.describe_load_balancer_attributes,
                LoadBalancerArn=arn) == "LoadBalancerNotFound"


def test_target_group_defaults_and_validation(env):
    http = env.tg("web")
    assert re.fullmatch(re.escape(ARN) + r"\d{12}:targetgroup/web/[0-9a-f]{16}",
                        http["TargetGroupArn"])
    assert {k: http[k] for k in ("Protocol", "Port", "VpcId", "TargetType", "HealthCheckProtocol",
                                 "HealthCheckPort", "HealthCheckPath", "HealthCheckEnabled",
                                 "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                                 "HealthyThresholdCount", "UnhealthyThresholdCount",
                                 "Matcher", "LoadBalancerArns")} == {
        "Protocol": "HTTP", "Port": 8080, "VpcId": env.vpc, "TargetType": "ip",
        "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/", "HealthCheckEnabled": True, "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"}, "LoadBalancerArns": []}
    tcp = env.tg("raw", protocol="TCP", port=5432)
    assert tcp["HealthCheckProtocol"] == "TCP" and tcp["HealthCheckTimeoutSeconds"] == 10
    assert "HealthCheckPath" not in tcp and "Matcher" not in tcp
    custom = env.tg("custom", HealthCheckPath="/healthz", HealthCheckIntervalSeconds=10,
                    HealthCheckTimeoutSeconds=3, HealthyThresholdCount=2,
                    UnhealthyThresholdCount=3, Matcher={"HttpCode": "200-299"},
                    HealthCheckPort="9000")
    assert custom["HealthCheckPath"] == "/healthz" and custom["HealthCheckPort"] == "9000"
    assert custom["Matcher"] == {"HttpCode": "200-299"}

    elb = env.elb
    base = dict(Protocol="HTTP", Port=80, VpcId=env.vpc, TargetType="ip")
    assert code(elb.create_target_group, Name="web", **base) == "DuplicateTargetGroupName"
    assert code(elb.create_target_group, Name="i", Protocol="HTTP", Port=80,
                VpcId=env.vpc) == "ValidationError"  # target type instance
    assert code(elb.create_target_group, Name="i", **dict(base, TargetType="lambda")) == \
        "ValidationError"
    assert code(elb.create_target_group, Name="i", **dict(base, Protocol="UDP")) == \
        "ValidationError"
    assert code(elb.create_target_group, Name="i", **dict(base, VpcId="vpc-00000000000000000")) \
        == "ValidationError"
    assert code(elb.create_target_group, Name="i", **dict(base, Port=70000)) == "ValidationError"
    assert code(elb.create_target_group, Name="i", HealthCheckIntervalSeconds=5,
                HealthCheckTimeoutSeconds=5, **base) == "InvalidConfigurationRequest"
    assert code(elb.create_target_group, Name="i", HealthCheckIntervalSeconds=301,
                **base) == "ValidationError"
    assert code(elb.create_target_group, Name="i", Matcher={"HttpCode": "600"},
                **base) == "ValidationError"
    assert code(elb.create_target_group, Name="i", HealthCheckPath="nope",
                **base) == "ValidationError"
    assert code(elb.create_target_group, Name="i", HealthCheckPath="/x",
                **dict(base, Protocol="TCP")) == "ValidationError"

    out = elb.modify_target_group(TargetGroupArn=http["TargetGroupArn"],
                                  HealthCheckPath="/ping", HealthyThresholdCount=3)
    assert out["TargetGroups"][0]["HealthCheckPath"] == "/ping"
    assert out["TargetGroups"][0]["HealthyThresholdCount"] == 3
    assert code(elb.modify_target_group, TargetGroupArn=http["TargetGroupArn"],
                HealthCheckTimeoutSeconds=60) == "InvalidConfigurationRequest"

    got = elb.describe_target_groups()["TargetGroups"]
    assert [g["TargetGroupName"] for g in got] == ["custom", "raw", "web"]
    assert elb.describe_target_groups(Names=["raw"])["TargetGroups"][0]["Port"] == 5432
    assert elb.describe_target_groups(TargetGroupArns=[http["TargetGroupArn"]])[
        "TargetGroups"][0]["HealthCheckPath"] == "/ping"
    assert code(elb.describe_target_groups, Names=["web", "gone"]) == "TargetGroupNotFound"
    page = elb.describe_target_groups(PageSize=2)
    rest = elb.describe_target_groups(PageSize=2, Marker=page["NextMarker"])
    assert [g["TargetGroupName"] for g in page["TargetGroups"] + rest["TargetGroups"]] == \
        ["custom", "raw", "web"] and "NextMarker" not in rest

    elb.delete_target_group(TargetGroupArn=tcp["TargetGroupArn"])
    assert code(elb.describe_target_groups, TargetGroupArns=[tcp["TargetGroupArn"]]) == \
        "TargetGroupNotFound"


def test_target_group_attributes(env):
    tg = env.tg()
    arn = tg["TargetGroupArn"]
    attrs = {a["Key"]: a["Value"] for a in env.elb.describe_target_group_attributes(
        TargetGroupArn=arn)["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "300"
    assert attrs["stickiness.enabled"] == "false" and attrs["stickiness.type"] == "lb_cookie"
    out = env.elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"},
        {"Key": "stickiness.enabled", "Value": "true"},
        {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}])
    attrs = {a["Key"]: a["Value"] for a in out["Attributes"]}
    assert attrs["deregistration_delay.timeout_seconds"] == "0"
    assert attrs["stickiness.enabled"] == "true"
    for bad in ("-1", "3601"):
        assert code(env.elb.modify_target_group_attributes, TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": bad}]) == \
            "InvalidConfigurationRequest"
    assert code(env.elb.modify_target_group_attributes, TargetGroupArn=arn, Attributes=[
        {"Key": "stickiness.type", "Value": "source_ip"}]) == "InvalidConfigurationRequest"
    assert code(env.elb.modify_target_group_attributes, TargetGroupArn=arn, Attributes=[
        {"Key": "bogus", "Value": "1"}]) == "ValidationError"
    tcp = env.tg("raw", protocol="TCP")
    attrs = {a["Key"]: a["Value"] for a in env.elb.describe_target_group_attributes(
        TargetGroupArn=tcp["TargetGroupArn"])["Attributes"]}
    assert attrs["stickiness.type"] == "source_ip"
    assert "load_balancing.algorithm.type" not in attrs


def health(env, tg, **kw):
    out = env.elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"], **kw)
    return [(d["Target"]["Id"], d["Target"]["Port"], d["TargetHealth"]["State"],
             d["TargetHealth"].get("Reason")) for d in out["TargetHealthDescriptions"]]


def test_targets_register_describe_deregister(env):
    tg = env.tg(port=8080)
    arn = tg["TargetGroupArn"]
    elb = env.elb
    assert code(elb.register_targets, TargetGroupArn=arn,
                Targets=[{"Id": "10.99.0.1"}]) == "InvalidTarget"  # outside the VPC
    assert code(elb.register_targets, TargetGroupArn=arn,
                Targets=[{"Id": "i-0123456789abcdef0"}]) == "InvalidTarget"
    assert code(elb.register_targets, TargetGroupArn=arn,
                Targets=[{"Id": "172.31.0.9", "AvailabilityZone": "eu-west-1a"}]) == \
        "ValidationError"
    elb.register_targets(TargetGroupArn=arn, Targets=[
        {"Id": "172.31.0.10"}, {"Id": "172.31.0.11", "Port": 9000}])
    # No load balancer sends to the group yet.
    assert health(env, tg) == [("172.31.0.10", 8080, "unused", "Target.NotInUse"),
                               ("172.31.0.11", 9000, "unused", "Target.NotInUse")]
    # Registering again is a no-op.
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.10"}])
    lb = env.alb()
    env.listener(lb, tg)
    assert health(env, tg) == [("172.31.0.10", 8080, "initial", "Elb.RegistrationInProgress"),
                               ("172.31.0.11", 9000, "initial", "Elb.RegistrationInProgress")]
    d = elb.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.11",
                                                                 "Port": 9000}])
    assert d["TargetHealthDescriptions"][0]["HealthCheckPort"] == "9000"
    assert health(env, tg, Targets=[{"Id": "172.31.0.12"}]) == [
        ("172.31.0.12", 8080, "unused", "Target.NotRegistered")]

    # Deregistration drains for deregistration_delay (300 s by default).
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.10"}])
    assert health(env, tg)[0] == ("172.31.0.10", 8080, "draining",
                                  "Target.DeregistrationInProgress")
    assert code(elb.deregister_targets, TargetGroupArn=arn,
                Targets=[{"Id": "172.31.0.12"}]) == "InvalidTarget"
    # Registered again, a draining target starts over.
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.10"}])
    assert ("172.31.0.10", 8080, "initial", "Elb.RegistrationInProgress") in health(env, tg)

    # With a 1 s delay the target is gone once draining ends.
    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.11", "Port": 9000}])
    deadline = time.monotonic() + 30
    while ("172.31.0.11", 9000) in [h[:2] for h in health(env, tg)]:
        assert time.monotonic() < deadline, health(env, tg)
        time.sleep(0.3)
    assert health(env, tg) == [("172.31.0.10", 8080, "initial", "Elb.RegistrationInProgress")]
    # With no delay deregistration is immediate.
    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "172.31.0.10"}])
    assert health(env, tg) == []
    assert code(elb.describe_target_health,
                TargetGroupArn=arn.replace(arn[-16:], "0" * 16)) == "TargetGroupNotFound"


def test_listeners(env):
    elb = env.elb
    lb, nlb = env.alb(), env.nlb()
    tg_a, tg_b, tg_tcp = env.tg("a"), env.tg("b"), env.tg("t", protocol="TCP", port=5000)
    lis = env.listener(lb, tg_a)
    assert re.fullmatch(re.escape(ARN) + r"\d{12}:listener/app/web/[0-9a-f]{16}/[0-9a-f]{16}",
                        lis["ListenerArn"])
    assert lis["LoadBalancerArn"] == lb["LoadBalancerArn"]
    fwd = lis["DefaultActions"][0]
    assert fwd["Type"] == "forward" and fwd["TargetGroupArn"] == tg_a["TargetGroupArn"]
    assert fwd["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": tg_a["TargetGroupArn"], "Weight": 1}]
    assert elb.describe_target_groups(TargetGroupArns=[tg_a["TargetGroupArn"]])[
        "TargetGroups"][0]["LoadBalancerArns"] == [lb["LoadBalancerArn"]]
    assert [g["TargetGroupName"] for g in elb.describe_target_groups(
        LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]] == ["a"]

    assert code(env.listener, lb=lb, tg=tg_b) == "DuplicateListener"
    assert code(env.listener, lb=lb, tg=tg_b, port=443, protocol="HTTPS") == \
        "UnsupportedProtocol"
    assert code(env.listener, lb=nlb, tg=tg_tcp, protocol="HTTP") == "UnsupportedProtocol"
    assert code(env.listener, lb=lb, tg=tg_tcp, port=81) == "IncompatibleProtocols"
    assert code(env.listener, lb=nlb, port=81, protocol="TCP", actions=fixed()) == \
        "InvalidLoadBalancerAction"
    assert code(env.listener, lb=lb, port=81, actions=[{"Type": "redirect", "RedirectConfig": {
        "StatusCode": "HTTP_301"}}]) == "InvalidLoadBalancerAction"  # a loop
    assert code(env.listener, lb=lb, port=81, actions=[{"Type": "forward", "TargetGroupArn":
        tg_a["TargetGroupArn"].replace("/a/", "/zz/")}]) == "TargetGroupNotFound"
    assert code(env.listener, lb=lb, port=81, actions=fixed(status="302")) == "ValidationError"
    assert code(env.listener, lb=lb, port=81, actions=fixed() + fixed()) == "TooManyActions"

    weighted = env.listener(lb, port=8080, actions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": tg_a["TargetGroupArn"], "Weight": 80},
                         {"TargetGroupArn": tg_b["TargetGroupArn"], "Weight": 20}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}])
    fc = weighted["DefaultActions"][0]["ForwardConfig"]
    assert [t["Weight"] for t in fc["TargetGroups"]] == [80, 20]
    assert fc["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 60}
    assert "TargetGroupArn" not in weighted["DefaultActions"][0]
    redirect = env.listener(lb, port=8081, actions=[{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_302"}}])
    assert redirect["DefaultActions"][0]["RedirectConfig"] == {
        "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}",
        "Query": "#{query}", "StatusCode": "HTTP_302"}
    env.listener(lb, port=8082, actions=fixed("503", "down"))
    tcp = env.listener(nlb, tg_tcp, port=5432, protocol="TCP")
    assert tcp["Protocol"] == "TCP"
    # A target group serves one load balancer.
    lb2 = env.alb("other")
    assert code(env.listener, lb=lb2, tg=tg_a) == "TargetGroupAssociationLimit"

    got = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert [x["Port"] for x in got] == [80, 8080, 8081, 8082]
    page = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"], PageSize=3)
    assert len(page["Listeners"]) == 3 and page["NextMarker"]
    assert elb.describe_listeners(ListenerArns=[tcp["ListenerArn"]])["Listeners"][0][
        "Port"] == 5432
    assert code(elb.describe_listeners) == "ValidationError"

    mod = elb.modify_listener(ListenerArn=lis["ListenerArn"], Port=90,
                              DefaultActions=[{"Type": "forward",
                                               "TargetGroupArn": tg_b["TargetGroupArn"]}])
    assert mod["Listeners"][0]["Port"] == 90
    assert mod["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"] == tg_b["TargetGroupArn"]
    assert code(elb.modify_listener, ListenerArn=lis["ListenerArn"], Port=8080) == \
        "DuplicateListener"

    assert code(elb.delete_target_group, TargetGroupArn=tg_b["TargetGroupArn"]) == \
        "ResourceInUse"
    elb.delete_listener(ListenerArn=lis["ListenerArn"])
    elb.delete_listener(ListenerArn=weighted["ListenerArn"])
    elb.delete_target_group(TargetGroupArn=tg_b["TargetGroupArn"])
    assert code(elb.delete_listener, ListenerArn=lis["ListenerArn"]) == "ListenerNotFound"
    assert code(elb.describe_listeners, ListenerArns=[lis["ListenerArn"]]) == "ListenerNotFound"
    # Deleting the load balancer takes its listeners along.
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert code(elb.describe_listeners, ListenerArns=[redirect["ListenerArn"]]) == \
        "ListenerNotFound"
    elb.delete_target_group(TargetGroupArn=tg_a["TargetGroupArn"])


def test_rules(env):
    elb = env.elb
    lb = env.alb()
    tg_a, tg_b = env.tg("a"), env.tg("b")
    lis = env.listener(lb, actions=fixed())
    la = lis["ListenerArn"]
    fwd_a = [{"Type": "forward", "TargetGroupArn": tg_a["TargetGroupArn"]}]
    fwd_b = [{"Type": "forward", "TargetGroupArn": tg_b["TargetGroupArn"]}]
    r1 = elb.create_rule(ListenerArn=la, Priority=10, Actions=fwd_a, Conditions=[
        {"Field": "path-pattern", "Values": ["/api/*"]}])["Rules"][0]
    assert re.fullmatch(re.escape(ARN) + r"\d{12}:listener-rule/app/web/[0-9a-f]{16}/"
                        r"[0-9a-f]{16}/[0-9a-f]{16}", r1["RuleArn"])
    assert r1["Priority"] == "10" and r1["IsDefault"] is False
    assert r1["Conditions"] == [{"Field": "path-pattern", "Values": ["/api/*"],
                                 "PathPatternConfig": {"Values": ["/api/*"]}}]
    r2 = elb.create_rule(ListenerArn=la, Priority=5, Actions=fwd_b, Conditions=[
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["b.example"]}},
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env",
                                                      "Values": ["blue", "gr*n"]}},
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}}
    ])["Rules"][0]
    assert r2["Conditions"][0] == {"Field": "host-header", "Values": ["b.example"],
                                   "HostHeaderConfig": {"Values": ["b.example"]}}
    assert r2["Conditions"][1]["HttpHeaderConfig"]["HttpHeaderName"] == "X-Env"

    rules = elb.describe_rules(ListenerArn=la)["Rules"]
    assert [r["Priority"] for r in rules] == ["5", "10", "default"]
    assert rules[-1]["IsDefault"] is True and rules[-1]["Conditions"] == []
    assert rules[-1]["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    assert elb.describe_rules(RuleArns=[r1["RuleArn"]])["Rules"][0]["Priority"] == "10"
    page = elb.describe_rules(ListenerArn=la, PageSize=2)
    rest = elb.describe_rules(ListenerArn=la, Marker=page["NextMarker"])
    assert [r["Priority"] for r in page["Rules"] + rest["Rules"]] == ["5", "10", "default"]

    cond = [{"Field": "path-pattern", "Values": ["/x"]}]
    assert code(elb.create_rule, ListenerArn=la, Priority=10, Actions=fwd_a,
                Conditions=cond) == "PriorityInUse"
    assert code(elb.create_rule, ListenerArn=la, Priority=50001, Actions=fwd_a,
                Conditions=cond) == "ValidationError"
    assert code(elb.create_rule, ListenerArn=la, Priority=11, Actions=fwd_a, Conditions=[
        {"Field": "path-pattern", "Values": ["/a", "/b", "/c", "/d", "/e", "/f"]}]) == \
        "ValidationError"
    assert code(elb.create_rule, ListenerArn=la, Priority=11, Actions=fwd_a, Conditions=[
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "x"}]}}]) == \
        "ValidationError"
    assert code(elb.create_rule, ListenerArn=la, Priority=11, Actions=fwd_a, Conditions=[
        {"Field": "host-header", "Values": ["bad host!"]}]) == "ValidationError"
    assert code(elb.create_rule, ListenerArn=la, Priority=11, Actions=fwd_a, Conditions=[
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["get"]}}]) == \
        "ValidationError"
    assert code(elb.create_rule, ListenerArn=la, Priority=11, Actions=fwd_a, Conditions=[]) == \
        "ValidationError"
    nlb = env.nlb()
    nl = env.listener(nlb, env.tg("t", protocol="TCP"), port=22, protocol="TCP")
    assert code(elb.create_rule, ListenerArn=nl["ListenerArn"], Priority=1, Actions=fwd_a,
                Conditions=cond) == "ValidationError"

    mod = elb.modify_rule(RuleArn=r1["RuleArn"], Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/v2/*"]}}],
        Actions=fixed("200", "ok"))["Rules"][0]
    assert mod["Conditions"][0]["Values"] == ["/v2/*"]
    assert mod["Actions"][0]["Type"] == "fixed-response"
    # tg_a is no longer used by the rule: it can go.
    elb.delete_target_group(TargetGroupArn=tg_a["TargetGroupArn"])

    swapped = elb.set_rule_priorities(RulePriorities=[
        {"RuleArn": r1["RuleArn"], "Priority": 5}, {"RuleArn": r2["RuleArn"], "Priority": 10}])
    assert sorted((r["RuleArn"], r["Priority"]) for r in swapped["Rules"]) == sorted(
        [(r1["RuleArn"], "5"), (r2["RuleArn"], "10")])
    r3 = elb.create_rule(ListenerArn=la, Priority=20, Actions=fixed(),
                         Conditions=cond)["Rules"][0]
    assert code(elb.set_rule_priorities, RulePriorities=[
        {"RuleArn": r1["RuleArn"], "Priority": 20}]) == "PriorityInUse"
    default_arn = rules[-1]["RuleArn"]
    assert code(elb.set_rule_priorities, RulePriorities=[
        {"RuleArn": default_arn, "Priority": 7}]) == "OperationNotPermitted"
    assert code(elb.delete_rule, RuleArn=default_arn) == "OperationNotPermitted"
    assert code(elb.modify_rule, RuleArn=default_arn, Conditions=cond) == \
        "OperationNotPermitted"
    assert [r["Priority"] for r in elb.describe_rules(ListenerArn=la)["Rules"]] == \
        ["5", "10", "20", "default"]

    elb.delete_rule(RuleArn=r3["RuleArn"])
    assert code(elb.delete_rule, RuleArn=r3["RuleArn"]) == "RuleNotFound"
    assert code(elb.describe_rules, RuleArns=[r3["RuleArn"]]) == "RuleNotFound"
    assert code(elb.describe_rules, ListenerArn=la + "0") == "ListenerNotFound"
    assert code(elb.delete_target_group, TargetGroupArn=tg_b["TargetGroupArn"]) == \
        "ResourceInUse"
    elb.delete_listener(ListenerArn=la)
    assert code(elb.describe_rules, RuleArns=[r1["RuleArn"]]) == "RuleNotFound"
    elb.delete_target_group(TargetGroupArn=tg_b["TargetGroupArn"])


def test_tags(env):
    elb = env.elb
    lb = env.alb()
    tg = env.tg()
    lis = env.listener(lb, tg)
    rule = elb.create_rule(ListenerArn=lis["ListenerArn"], Priority=1, Actions=fixed(),
                           Conditions=[{"Field": "path-pattern", "Values": ["/"]}])["Rules"][0]
    arns = [lb["LoadBalancerArn"], tg["TargetGroupArn"], lis["ListenerArn"], rule["RuleArn"]]
    elb.add_tags(ResourceArns=arns, Tags=[{"Key": "env", "Value": "prod"},
                                          {"Key": "team", "Value": "web"}])
    elb.add_tags(ResourceArns=[arns[0]], Tags=[{"Key": "env", "Value": "dev"}])
    elb.remove_tags(ResourceArns=[arns[1]], TagKeys=["team", "absent"])
    got = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]}
           for d in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]}
    assert got == {arns[0]: {"env": "dev", "team": "web"}, arns[1]: {"env": "prod"},
                   arns[2]: {"env": "prod", "team": "web"},
                   arns[3]: {"env": "prod", "team": "web"}}
    assert code(elb.add_tags, ResourceArns=[arns[0]], Tags=[
        {"Key": "k%d" % i, "Value": "v"} for i in range(49)]) == "TooManyTags"
    assert code(elb.add_tags, ResourceArns=[arns[0]], Tags=[
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]) == "DuplicateTagKeys"
    gone = lb["LoadBalancerArn"].replace(lb["LoadBalancerArn"][-16:], "0" * 16)
    assert code(elb.describe_tags, ResourceArns=[gone]) == "LoadBalancerNotFound"
    assert code(elb.add_tags, ResourceArns=[tg["TargetGroupArn"] + "0"],
                Tags=[{"Key": "a", "Value": "1"}]) == "TargetGroupNotFound"
    assert code(elb.describe_tags, ResourceArns=["arn:aws:s3:::bucket"]) == "ValidationError"
    # A deleted resource's tags go with it.
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    lb2 = env.alb()
    assert elb.describe_tags(ResourceArns=[lb2["LoadBalancerArn"]])["TagDescriptions"][0][
        "Tags"] == []


def test_tenant_isolation(skiffd):
    a = Env(skiffd)
    lb = a.alb()
    tg = a.tg()
    lis = a.listener(lb, tg)
    rule = a.elb.create_rule(ListenerArn=lis["ListenerArn"], Priority=1, Actions=fixed(),
                             Conditions=[{"Field": "path-pattern", "Values": ["/"]}])["Rules"][0]
    a.elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "172.31.0.20"}])
    skiffd.add_profile("other", "222222222222", "AKIAOTHER0000000001", "othersecret")
    # skiffd reloads its credentials on SIGHUP; on a loaded machine that can
    # take longer than add_profile waits.
    deadline = time.monotonic() + 20
    while True:
        try:
            b = Env(skiffd, "other")
            break
        except botocore.exceptions.ClientError:
            assert time.monotonic() < deadline, "the new account never became usable"
            time.sleep(0.2)
    assert b.elb.describe_load_balancers()["LoadBalancers"] == []
    assert b.elb.describe_target_groups()["TargetGroups"] == []
    e = b.elb
    assert code(e.describe_load_balancers, LoadBalancerArns=[lb["LoadBalancerArn"]]) == \
        "LoadBalancerNotFound"
    assert code(e.describe_load_balancer_attributes, LoadBalancerArn=lb["LoadBalancerArn"]) == \
        "LoadBalancerNotFound"
    assert code(e.modify_load_balancer_attributes, LoadBalancerArn=lb["LoadBalancerArn"],
                Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]) == \
        "LoadBalancerNotFound"
    assert code(e.describe_target_groups, TargetGroupArns=[tg["TargetGroupArn"]]) == \
        "TargetGroupNotFound"
    assert code(e.describe_target_health, TargetGroupArn=tg["TargetGroupArn"]) == \
        "TargetGroupNotFound"
    assert code(e.register_targets, TargetGroupArn=tg["TargetGroupArn"],
                Targets=[{"Id": "172.31.0.21"}]) == "TargetGroupNotFound"
    assert code(e.describe_listeners, ListenerArns=[lis["ListenerArn"]]) == "ListenerNotFound"
    assert code(e.describe_rules, ListenerArn=lis["ListenerArn"]) == "ListenerNotFound"
    assert code(e.delete_rule, RuleArn=rule["RuleArn"]) == "RuleNotFound"
    assert code(e.describe_tags, ResourceArns=[lb["LoadBalancerArn"]]) == "LoadBalancerNotFound"
    # B's listener cannot forward to A's target group.
    blb = b.alb()
    assert code(b.listener, lb=blb, tg=tg) == "TargetGroupNotFound"
    # Deletes of what B cannot see change nothing of A's.
    e.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    e.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    # Names are per account.
    assert blb["LoadBalancerName"] == "web" and b.tg()["TargetGroupName"] == "tg"
    assert [x["LoadBalancerArn"] for x in a.elb.describe_load_balancers()["LoadBalancers"]] == \
        [lb["LoadBalancerArn"]]
    assert health(a, tg) == [("172.31.0.20", 8080, "initial", "Elb.RegistrationInProgress")]


def test_restart_persistence(skiffd):
    env = Env(skiffd)
    lb = env.alb(Tags=[{"Key": "k", "Value": "v"}])
    tg = env.tg()
    lis = env.listener(lb, tg)
    rule = env.elb.create_rule(ListenerArn=lis["ListenerArn"], Priority=3, Actions=fixed(),
                               Conditions=[{"Field": "path-pattern",
                                            "Values": ["/a/*"]}])["Rules"][0]
    env.elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "172.31.0.30"}])
    env.elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "120"}])
    before = (env.elb.describe_load_balancers()["LoadBalancers"],
              env.elb.describe_target_groups()["TargetGroups"],
              env.elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"],
              env.elb.describe_rules(ListenerArn=lis["ListenerArn"])["Rules"])
    skiffd.restart()
    env = Env(skiffd)
    after = (env.elb.describe_load_balancers()["LoadBalancers"],
             env.elb.describe_target_groups()["TargetGroups"],
             env.elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"],
             env.elb.describe_rules(ListenerArn=lis["ListenerArn"])["Rules"])
    assert after == before
    assert rule["RuleArn"] in [r["RuleArn"] for r in after[3]]
    assert health(env, tg) == [("172.31.0.30", 8080, "initial", "Elb.RegistrationInProgress")]
    attrs = {a["Key"]: a["Value"] for a in env.elb.describe_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attrs["idle_timeout.timeout_seconds"] == "120"
    assert env.elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0][
        "Tags"] == [{"Key": "k", "Value": "v"}]
