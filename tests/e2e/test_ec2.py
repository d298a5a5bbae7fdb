"""EC2 API subset on the ec2 query protocol: VPCs, subnets, security groups
and rules, tags, filters, the default VPC and AWS's error codes. The unmodified
aws CLI drives one round trip (it costs seconds per call on a loaded
machine); boto3, which uses the same botocore serializer and parser, drives
the rest."""
import http.client
import urllib.parse

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION


def err_code(stderr):
    """The AWS error code from an aws CLI error line."""
    start = stderr.find("(")
    return stderr[start + 1:stderr.find(")", start)] if start >= 0 else stderr


def code(fn, **kw):
    """Calls fn and returns the AWS error code it fails with."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.value.response["ResponseMetadata"]["RequestId"]
    return e.value.response["Error"]["Code"]


def signed_request(skiffd, service, body):
    """POSTs a form body signed for service; returns (status, body bytes)."""
    prof = skiffd.profile()
    url = skiffd.endpoint + "/"
    req = AWSRequest(method="POST", url=url, data=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(prof["aws_access_key_id"], prof["aws_secret_access_key"],
                          prof.get("aws_session_token")), service, REGION).add_auth(req)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", "/", body=body.encode(), headers=dict(req.headers.items()))
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


@pytest.fixture
def ec2(skiffd):
    return skiffd.client("ec2")


def test_aws_cli_round_trip(skiffd):
    rc, out, err = skiffd.aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16", check=True)
    vid = out["Vpc"]["VpcId"]
    rc, out, err = skiffd.aws("ec2", "create-subnet", "--vpc-id", vid, "--cidr-block",
                              "10.9.1.0/24", check=True)
    sid = out["Subnet"]["SubnetId"]
    rc, out, err = skiffd.aws("ec2", "create-subnet", "--vpc-id", vid, "--cidr-block",
                              "10.9.1.0/25")
    assert rc != 0 and err_code(err) == "InvalidSubnet.Conflict", err
    rc, out, err = skiffd.aws("ec2", "delete-vpc", "--vpc-id", vid)
    assert rc != 0 and err_code(err) == "DependencyViolation", err
    rc, out, err = skiffd.aws("ec2", "describe-subnets", "--filters",
                              "Name=vpc-id,Values=" + vid, check=True)
    assert [s["SubnetId"] for s in out["Subnets"]] == [sid]
    skiffd.aws("ec2", "delete-subnet", "--subnet-id", sid, check=True)
    skiffd.aws("ec2", "delete-vpc", "--vpc-id", vid, check=True)
    rc, out, err = skiffd.aws("ec2", "describe-vpcs", "--vpc-ids", vid)
    assert rc != 0 and err_code(err) == "InvalidVpcID.NotFound", err


def test_default_vpc_subnet_and_group(ec2):
    vpcs = ec2.describe_vpcs()["Vpcs"]
    assert len(vpcs) == 1
    v = vpcs[0]
    assert v["CidrBlock"] == "172.31.0.0/16" and v["IsDefault"] is True
    assert v["State"] == "available" and v["VpcId"].startswith("vpc-")
    subnets = ec2.describe_subnets()["Subnets"]
    assert len(subnets) == 1 and subnets[0]["VpcId"] == v["VpcId"]
    assert subnets[0]["DefaultForAz"] is True
    assert subnets[0]["CidrBlock"] == "172.31.0.0/20"
    assert subnets[0]["AvailableIpAddressCount"] == 4096 - 5
    assert subnets[0]["AvailabilityZone"] == REGION + "a"
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    g = groups[0]
    # AWS's default group: all egress, and ingress from its own members.
    assert g["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    assert g["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert g["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == g["GroupId"]
    # Made once.
    assert ec2.describe_vpcs()["Vpcs"][0]["VpcId"] == v["VpcId"]
    # A security group without VpcId lands in the default VPC; GroupName
    # lookups are in the default VPC.
    gid = ec2.create_security_group(GroupName="plain", Description="d")["GroupId"]
    got = ec2.describe_security_groups(GroupNames=["plain"])["SecurityGroups"]
    assert [(x["GroupId"], x["VpcId"]) for x in got] == [(gid, v["VpcId"])]
    ec2.delete_security_group(GroupName="plain")


def test_vpc_round_trip_and_errors(ec2):
    v = ec2.create_vpc(CidrBlock="10.1.0.5/16")["Vpc"]
    assert v["CidrBlock"] == "10.1.0.0/16"  # canonicalised, as AWS does
    assert v["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    vid = v["VpcId"]
    got = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"]
    assert [x["VpcId"] for x in got] == [vid] and got[0]["IsDefault"] is False
    got = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.1.0.0/16"]}])["Vpcs"]
    assert [x["VpcId"] for x in got] == [vid]
    got = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert vid not in [x["VpcId"] for x in got] and len(got) == 1

    assert code(ec2.create_vpc, CidrBlock="10.1.0.0") == "InvalidParameterValue"
    assert code(ec2.create_vpc, CidrBlock="300.1.0.0/16") == "InvalidParameterValue"
    assert code(ec2.create_vpc, CidrBlock=" 10.1.0.0/16") == "InvalidParameterValue"
    assert code(ec2.create_vpc, CidrBlock="10.0.0.0/8") == "InvalidVpc.Range"
    assert code(ec2.create_vpc, CidrBlock="10.0.0.0/29") == "InvalidVpc.Range"
    assert code(ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"]) == "InvalidVpcID.NotFound"
    assert code(ec2.describe_vpcs,
                Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"

    # In use: a subnet, then a security group keep it.
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.1.1.0/24")["Subnet"]
    assert code(ec2.delete_vpc, VpcId=vid) == "DependencyViolation"
    ec2.delete_subnet(SubnetId=s["SubnetId"])
    g = ec2.create_security_group(GroupName="web", Description="w", VpcId=vid)["GroupId"]
    assert code(ec2.delete_vpc, VpcId=vid) == "DependencyViolation"
    ec2.delete_security_group(GroupId=g)
    ec2.delete_vpc(VpcId=vid)
    assert code(ec2.delete_vpc, VpcId=vid) == "InvalidVpcID.NotFound"
    assert vid not in [x["VpcId"] for x in ec2.describe_vpcs()["Vpcs"]]
    # Its default group went with it.
    assert ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vid]}])["SecurityGroups"] == []


def test_subnets(ec2):
    vid = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vid, CidrBlock="10.2.1.0/24")["Subnet"]
    assert a["AvailableIpAddressCount"] == 256 - 5
    assert a["CidrBlock"] == "10.2.1.0/24" and a["VpcId"] == vid
    assert a["SubnetArn"].endswith(":subnet/" + a["SubnetId"])
    b = ec2.create_subnet(VpcId=vid, CidrBlock="10.2.2.0/28")["Subnet"]
    assert b["AvailableIpAddressCount"] == 16 - 5
    for cidr, want in [("10.2.1.128/25", "InvalidSubnet.Conflict"),
                       ("10.2.0.0/20", "InvalidSubnet.Conflict"),
                       ("10.3.0.0/24", "InvalidSubnet.Range"),
                       ("10.2.3.0/29", "InvalidSubnet.Range"),
                       ("10.2.3.0/33", "InvalidParameterValue"),
                       ("10.2.3.0/2x", "InvalidParameterValue")]:
        assert code(ec2.create_subnet, VpcId=vid, CidrBlock=cidr) == want, cidr
    assert code(ec2.create_subnet, VpcId="vpc-00000000000000000",
                CidrBlock="10.2.3.0/24") == "InvalidVpcID.NotFound"
    assert code(ec2.create_subnet, VpcId=vid, CidrBlock="10.2.3.0/24",
                AvailabilityZone="mars-1a") == "InvalidParameterValue"
    got = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vid]}])["Subnets"]
    assert sorted(x["SubnetId"] for x in got) == sorted([a["SubnetId"], b["SubnetId"]])
    got = ec2.describe_subnets(SubnetIds=[b["SubnetId"]])["Subnets"]
    assert [x["CidrBlock"] for x in got] == ["10.2.2.0/28"]
    got = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.2.*"]}])["Subnets"]
    assert len(got) == 2
    assert code(ec2.describe_subnets,
                SubnetIds=["subnet-00000000000000000"]) == "InvalidSubnetID.NotFound"
    ec2.delete_subnet(SubnetId=a["SubnetId"])
    assert code(ec2.delete_subnet, SubnetId=a["SubnetId"]) == "InvalidSubnetID.NotFound"
    # The freed range can be used again.
    ec2.create_subnet(VpcId=vid, CidrBlock="10.2.1.0/25")


def test_security_groups_and_rules(ec2):
    vid = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    web = ec2.create_security_group(GroupName="web", Description="web tier",
                                    VpcId=vid)["GroupId"]
    app = ec2.create_security_group(GroupName="app", Description="app tier",
                                    VpcId=vid)["GroupId"]
    assert web.startswith("sg-")
    assert code(ec2.create_security_group, GroupName="web", Description="again",
                VpcId=vid) == "InvalidGroup.Duplicate"
    assert code(ec2.create_security_group, GroupName="sg-x", Description="x",
                VpcId=vid) == "InvalidParameterValue"
    assert code(ec2.create_security_group, GroupName="x", Description="x",
                VpcId="vpc-00000000000000000") == "InvalidVpcID.NotFound"

    out = ec2.authorize_security_group_ingress(GroupId=web, IpProtocol="tcp", FromPort=80,
                                               ToPort=80, CidrIp="0.0.0.0/0")
    assert out["Return"] is True
    rule = out["SecurityGroupRules"][0]
    assert rule["SecurityGroupRuleId"].startswith("sgr-")
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIpv4"]) == \
        ("tcp", 80, 80, "0.0.0.0/0")
    assert rule["IsEgress"] is False and rule["GroupId"] == web
    assert code(ec2.authorize_security_group_ingress, GroupId=web, IpProtocol="tcp",
                FromPort=80, ToPort=80, CidrIp="0.0.0.0/0") == "InvalidPermission.Duplicate"
    ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8099,
         "UserIdGroupPairs": [{"GroupId": web, "Description": "from web"}]},
        {"IpProtocol": "17", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "10.4.0.0/16"}]}])
    for proto, lo, hi, cidr in [("tcp", 90, 80, "10.0.0.0/8"), ("tcp", 80, 70000, "10.0.0.0/8"),
                                ("tcp", 80, 80, "10.0.0/8"), ("bogus", 80, 80, "10.0.0.0/8"),
                                ("icmp", 300, 0, "10.0.0.0/8")]:
        assert code(ec2.authorize_security_group_ingress, GroupId=app, IpProtocol=proto,
                    FromPort=lo, ToPort=hi, CidrIp=cidr) == "InvalidParameterValue", proto
    assert code(ec2.authorize_security_group_ingress, GroupId="sg-00000000000000000",
                IpProtocol="tcp", FromPort=80, ToPort=80,
                CidrIp="10.0.0.0/8") == "InvalidGroup.NotFound"
    assert code(ec2.authorize_security_group_ingress, GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1,
         "UserIdGroupPairs": [{"GroupId": "sg-00000000000000000"}]}]) == "InvalidGroup.NotFound"
    ec2.authorize_security_group_egress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}])

    g = ec2.describe_security_groups(GroupIds=[app])["SecurityGroups"][0]
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p for p in g["IpPermissions"]}
    assert perms[("tcp", 8000, 8099)]["UserIdGroupPairs"][0]["GroupId"] == web
    assert perms[("tcp", 8000, 8099)]["UserIdGroupPairs"][0]["Description"] == "from web"
    assert perms[("udp", 53, 53)]["IpRanges"] == [{"CidrIp": "10.4.0.0/16"}]
    egress = {(p["IpProtocol"], p.get("FromPort")) for p in g["IpPermissionsEgress"]}
    assert egress == {("-1", None), ("tcp", 5432)}

    got = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web"]},
                                                {"Name": "vpc-id", "Values": [vid]}])
    assert [x["GroupId"] for x in got["SecurityGroups"]] == [web]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [app]}])["SecurityGroupRules"]
    assert len(rules) == 4  # default egress, 5432 egress, 8000-8099 from web, udp 53
    ref = [r for r in rules if "ReferencedGroupInfo" in r]
    assert ref[0]["ReferencedGroupInfo"]["GroupId"] == web

    # web is referenced by app's rule: it cannot go yet.
    assert code(ec2.delete_security_group, GroupId=web) == "DependencyViolation"
    perm = [{"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8099,
             "UserIdGroupPairs": [{"GroupId": web}]}]
    ec2.revoke_security_group_ingress(GroupId=app, IpPermissions=perm)
    assert code(ec2.revoke_security_group_ingress, GroupId=app,
                IpPermissions=perm) == "InvalidPermission.NotFound"
    udp = [r for r in rules if r["IpProtocol"] == "udp"][0]["SecurityGroupRuleId"]
    ec2.revoke_security_group_ingress(GroupId=app, SecurityGroupRuleIds=[udp])
    assert code(ec2.describe_security_group_rules,
                SecurityGroupRuleIds=[udp]) == "InvalidSecurityGroupRuleId.NotFound"
    ec2.revoke_security_group_egress(GroupId=app, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}])
    g = ec2.describe_security_groups(GroupIds=[app])["SecurityGroups"][0]
    assert g["IpPermissions"] == [] and len(g["IpPermissionsEgress"]) == 1
    ec2.delete_security_group(GroupId=web)
    assert code(ec2.delete_security_group, GroupId=web) == "InvalidGroup.NotFound"
    default = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vid]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    assert code(ec2.delete_security_group, GroupId=default) == "CannotDelete"


def test_tags(ec2):
    vid = ec2.create_vpc(CidrBlock="10.5.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "blue"}]}])["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    got = ec2.describe_vpcs(Filters=[{"Name": "tag:team", "Values": ["blue"]}])["Vpcs"]
    assert [x["VpcId"] for x in got] == [vid]
    assert got[0]["Tags"] == [{"Key": "team", "Value": "blue"}]
    ec2.create_tags(Resources=[other], Tags=[{"Key": "team", "Value": "red"},
                                             {"Key": "env", "Value": "prod"}])
    got = ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": ["env"]}])["Vpcs"]
    assert [x["VpcId"] for x in got] == [other]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [other]}])["Tags"]
    assert sorted((t["Key"], t["Value"], t["ResourceType"]) for t in tags) == \
        [("env", "prod", "vpc"), ("team", "red", "vpc")]
    ec2.delete_tags(Resources=[other], Tags=[{"Key": "env"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [other]}])["Tags"]
    assert [t["Key"] for t in tags] == ["team"]
    assert code(ec2.create_tags, Resources=["vpc-00000000000000000"],
                Tags=[{"Key": "a", "Value": "b"}]) == "InvalidVpcID.NotFound"
    assert code(ec2.create_tags, Resources=[other],
                Tags=[{"Key": "aws:x", "Value": "b"}]) == "InvalidParameterValue"
    sid = ec2.create_subnet(VpcId=vid, CidrBlock="10.5.0.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "private"}]}])
    sid = sid["Subnet"]["SubnetId"]
    got = ec2.describe_subnets(Filters=[{"Name": "tag:tier", "Values": ["priv*"]}])["Subnets"]
    assert [x["SubnetId"] for x in got] == [sid]


def test_accounts_are_separate(skiffd, ec2):
    skiffd.add_profile("other", "222222222222", "AKIAOTHER0000000001", "othersecret")
    theirs = skiffd.client("ec2", profile="other")
    vid = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    got = theirs.describe_vpcs()["Vpcs"]
    assert vid not in [x["VpcId"] for x in got]
    # Their own default VPC, same CIDR as ours, different id.
    assert [x["CidrBlock"] for x in got] == ["172.31.0.0/16"]
    assert code(theirs.delete_vpc, VpcId=vid) == "InvalidVpcID.NotFound"
    assert code(theirs.create_subnet, VpcId=vid,
                CidrBlock="10.7.1.0/24") == "InvalidVpcID.NotFound"
    assert code(theirs.create_tags, Resources=[vid],
                Tags=[{"Key": "a", "Value": "b"}]) == "InvalidVpcID.NotFound"


def test_protocol(ec2, skiffd):
    # DryRun answers DryRunOperation once the request would have worked.
    assert code(ec2.create_vpc, CidrBlock="10.8.0.0/16", DryRun=True) == "DryRunOperation"
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.8.0.0/16"]}])["Vpcs"] == []
    # An action the model does not hold.
    rc, out, err = skiffd.aws("ec2", "describe-regions")
    assert rc != 0 and err_code(err) == "InvalidAction", err
    # Raw form bodies: wrong version, no action, bad escapes; the XML shapes.
    status, body = signed_request(skiffd, "ec2", "Action=DescribeVpcs&Version=2015-01-01")
    assert status == 400 and b"<Code>InvalidParameterValue</Code>" in body
    status, body = signed_request(skiffd, "ec2", "Version=2016-11-15")
    assert status == 400 and b"<Code>MissingAction</Code>" in body
    status, body = signed_request(skiffd, "ec2", "Action=DescribeVpcs&Version=2016-11-15")
    assert status == 200 and b"<DescribeVpcsResponse" in body and b"<requestId>" in body
    status, body = signed_request(skiffd, "ec2", "Action=CreateVpc&Version=2016-11-15")
    assert status == 400 and b"<Response><Errors><Error><Code>" in body
    status, body = signed_request(skiffd, "ec2", "Action=DescribeVpcs&Version=2016-11-15&"
                                  "Filter.1.Name=cidr&Filter.1.Value.1=%zz")
    assert status == 400
