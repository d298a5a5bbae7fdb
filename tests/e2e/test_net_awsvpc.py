"""RunTask's awsvpc networking in the control plane: awsvpcConfiguration is
checked against the caller's VPCs, each task gets an ENI (an address of its
subnet, never one handed out twice) shown in DescribeTasks and
DescribeNetworkInterfaces, and the address returns to the subnet once the
task has stopped."""
import os

import botocore.exceptions
import pytest

from tasks_util import (busybox_layout, container, daemons, describe, loop,  # noqa: F401
                        register, run, stop_all_tasks, wait_tasks)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def code(fn, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def details(task):
    att = [a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface"]
    assert len(att) == 1, task["attachments"]
    return {d["name"]: d["value"] for d in att[0]["details"]}


def net(subnets, groups=None, public="DISABLED"):
    c = {"subnets": subnets, "assignPublicIp": public}
    if groups is not None:
        c["securityGroups"] = groups
    return {"awsvpcConfiguration": c}


def test_awsvpc_validation_and_enis(daemons):
    s = daemons.start()
    ecs, ec2 = s.client(), s.client("ec2")
    td = register(ecs, "netfam", [container(command=loop())])
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/28")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="t", Description="t", VpcId=vpc)["GroupId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    other_sg = ec2.create_security_group(GroupName="o", Description="o",
                                         VpcId=other_vpc)["GroupId"]

    def refused(nc):
        c, msg = code(ecs.run_task, cluster="default", taskDefinition=td, launchType="FARGATE",
                      networkConfiguration=nc)
        assert c == "InvalidParameterException", (c, msg)
        return msg

    assert "subnet-00000000000000000" in refused(net(["subnet-00000000000000000"]))
    assert "sg-00000000000000000" in refused(net([sub], ["sg-00000000000000000"]))
    assert other_sg in refused(net([sub], [other_sg]))
    # Another account's subnet is as unknown as a made-up one.
    s.add_profile("other", "222222222222", "AKIAOTHER0000000002", "othersecret")
    theirs = s.client("ec2", profile="other")
    their_sub = theirs.describe_subnets()["Subnets"][0]["SubnetId"]
    refused(net([their_sub]))

    # Two tasks in the /28: .4 and .5 (the first four and the last are AWS's).
    arns = run(ecs, td, count=2, networkConfiguration=net([sub], [sg]))
    tasks = describe(ecs, arns)
    ips = sorted(details(t)["privateIPv4Address"] for t in tasks)
    assert ips == ["10.20.1.4", "10.20.1.5"]
    d = details(tasks[0])
    assert d["subnetId"] == sub and d["networkInterfaceId"].startswith("eni-")
    assert d["privateDnsName"] == "ip-%s.ec2.internal" % d["privateIPv4Address"].replace(".", "-")
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [sub]}])["NetworkInterfaces"]
    assert sorted(e["PrivateIpAddress"] for e in enis) == ips
    assert all(e["Groups"][0]["GroupId"] == sg and e["VpcId"] == vpc for e in enis)
    by_id = {e["NetworkInterfaceId"]: e for e in enis}
    assert by_id[d["networkInterfaceId"]]["MacAddress"] == d["macAddress"]
    got = ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0]
    assert got["AvailableIpAddressCount"] == 16 - 5 - 2
    # In use: neither the subnet, the group nor the VPC can go.
    assert code(ec2.delete_subnet, SubnetId=sub)[0] == "DependencyViolation"
    assert code(ec2.delete_security_group, GroupId=sg)[0] == "DependencyViolation"
    assert code(ec2.delete_vpc, VpcId=vpc)[0] == "DependencyViolation"
    # Fill the subnet (11 usable addresses), then one more is refused.
    more = run(ecs, td, count=9, networkConfiguration=net([sub], [sg]))
    ips = {details(t)["privateIPv4Address"] for t in describe(ecs, arns + more)}
    assert len(ips) == 11
    c, msg = code(ecs.run_task, cluster="default", taskDefinition=td, launchType="FARGATE",
                  networkConfiguration=net([sub], [sg]))
    assert c == "InvalidParameterException" and "free IP" in msg

    # Without networkConfiguration: the default VPC's subnet and group.
    plain = run(ecs, td)
    d = details(describe(ecs, plain)[0])
    default_sub = ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    assert d["subnetId"] == default_sub["SubnetId"]
    assert d["privateIPv4Address"] == "172.31.0.4"

    # Stopped tasks give their addresses back.
    stop_all_tasks(s)
    wait_tasks(ecs, arns + more + plain, "STOPPED", timeout=120)
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    ec2.delete_subnet(SubnetId=sub)
    ec2.delete_security_group(GroupId=sg)
