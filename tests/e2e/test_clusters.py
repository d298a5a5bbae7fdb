"""Cluster, tag and capacity-provider operations through the unmodified aws
CLI (/usr/bin/aws) and boto3, as a Fargate user would run them."""
import base64

import botocore.exceptions
import pytest

from sigv4_client import for_profile

STAT_NAMES = {"runningEC2TasksCount", "runningFargateTasksCount", "pendingEC2TasksCount",
              "pendingFargateTasksCount", "activeEC2ServiceCount", "activeFargateServiceCount",
              "drainingEC2ServiceCount", "drainingFargateServiceCount"}


def arn(skiffd, resource, profile="default"):
    return "arn:aws:ecs:us-east-1:%s:%s" % (skiffd.profile(profile)["account_id"], resource)


def client_error(fn, *args, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*args, **kw)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def aws_error(skiffd, *args):
    rc, out, err = skiffd.aws(*args)
    assert rc != 0, out
    assert "An error occurred (" in err, err
    return err.split("An error occurred (", 1)[1].split(")", 1)[0]


def tags_of(ecs, resource_arn):
    return {t["key"]: t["value"] for t in ecs.list_tags_for_resource(
        resourceArn=resource_arn)["tags"]}


# ---- CreateCluster ---------------------------------------------------------

def test_create_cluster_aws_cli(skiffd):
    rc, out, err = skiffd.aws("ecs", "create-cluster", "--cluster-name", "web", check=True)
    c = out["cluster"]
    assert c["clusterArn"] == arn(skiffd, "cluster/web")
    assert c["clusterName"] == "web"
    assert c["status"] == "ACTIVE"
    for k in ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount",
              "activeServicesCount"):
        assert c[k] == 0
    assert c["settings"] == [{"name": "containerInsights", "value": "disabled"}]


def test_create_cluster_is_idempotent_by_name(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="same")["cluster"]
    b = ecs.create_cluster(clusterName="same")["cluster"]
    assert a["clusterArn"] == b["clusterArn"] and b["status"] == "ACTIVE"
    rc, out, err = skiffd.aws("ecs", "create-cluster", "--cluster-name", "same", check=True)
    assert out["cluster"]["clusterArn"] == a["clusterArn"]
    assert ecs.list_clusters()["clusterArns"] == [a["clusterArn"]]


def test_create_without_name_makes_default(skiffd):
    ecs = skiffd.client()
    c = ecs.create_cluster()["cluster"]
    assert c["clusterName"] == "default"
    # "default" is what describe and delete assume without a cluster.
    d = ecs.describe_clusters()
    assert [x["clusterName"] for x in d["clusters"]] == ["default"]
    assert ecs.delete_cluster(cluster="default")["cluster"]["status"] == "INACTIVE"


@pytest.mark.parametrize("name", ["bad name", "slash/name", "dot.name", "ünïcode", "a" * 256,
                                  "arn:aws:ecs:us-east-1:123456789012:cluster/x", ""])
def test_create_cluster_invalid_name(skiffd, name):
    ecs = skiffd.client()
    code, msg = client_error(ecs.create_cluster, clusterName=name)
    assert code == "InvalidParameterException"
    assert ecs.list_clusters()["clusterArns"] == []


def test_create_cluster_name_limits(skiffd):
    ecs = skiffd.client()
    for name in ["a", "A-b_9", "x" * 255]:
        assert ecs.create_cluster(clusterName=name)["cluster"]["clusterName"] == name
    assert aws_error(skiffd, "ecs", "create-cluster", "--cluster-name",
                     "x" * 256) == "InvalidParameterException"


def test_create_cluster_with_everything(skiffd):
    ecs = skiffd.client()
    c = ecs.create_cluster(
        clusterName="full",
        tags=[{"key": "team", "value": "web"}, {"key": "env", "value": "prod"}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
        configuration={"executeCommandConfiguration": {"logging": "DEFAULT"}},
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1, "base": 2},
                                         {"capacityProvider": "FARGATE_SPOT", "weight": 3}],
    )["cluster"]
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert c["configuration"] == {"executeCommandConfiguration": {"logging": "DEFAULT"}}
    assert c["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert c["defaultCapacityProviderStrategy"][0] == {"capacityProvider": "FARGATE",
                                                       "weight": 1, "base": 2}
    assert sorted((t["key"], t["value"]) for t in c["tags"]) == [("env", "prod"), ("team", "web")]
    assert tags_of(ecs, c["clusterArn"]) == {"team": "web", "env": "prod"}


@pytest.mark.parametrize("kw", [
    {"settings": [{"name": "containerInsights", "value": "maybe"}]},
    {"settings": [{"name": "somethingElse", "value": "enabled"}]},
    {"capacityProviders": ["EC2_ASG"]},
    {"capacityProviders": ["FARGATE"],
     "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]},
    {"capacityProviders": ["FARGATE", "FARGATE_SPOT"],
     "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "base": 1},
                                         {"capacityProvider": "FARGATE_SPOT", "base": 1}]},
    {"tags": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]},
    {"tags": [{"key": "aws:reserved", "value": "x"}]},
    {"tags": [{"key": "AWS:Reserved", "value": "x"}]},
    {"tags": [{"key": "k%d" % i, "value": "v"} for i in range(51)]},
])
def test_create_cluster_invalid_parameters(skiffd, kw):
    ecs = skiffd.client()
    code, msg = client_error(ecs.create_cluster, clusterName="bad", **kw)
    assert code == "InvalidParameterException", msg
    # Nothing was created.
    assert ecs.list_clusters()["clusterArns"] == []
    assert ecs.describe_clusters(clusters=["bad"])["failures"][0]["reason"] == "MISSING"


# ---- DescribeClusters --------------------------------------------------------

def test_describe_clusters_include(skiffd):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="d1", tags=[{"key": "k", "value": "v"}],
                       configuration={"executeCommandConfiguration": {"logging": "NONE"}},
                       settings=[{"name": "containerInsights", "value": "enabled"}])
    plain = ecs.describe_clusters(clusters=["d1"])["clusters"][0]
    assert plain.get("tags", []) == []
    assert plain.get("statistics", []) == []
    assert "configuration" not in plain

    full = ecs.describe_clusters(clusters=["d1"], include=[
        "STATISTICS", "TAGS", "SETTINGS", "CONFIGURATIONS", "ATTACHMENTS"])["clusters"][0]
    assert full["tags"] == [{"key": "k", "value": "v"}]
    assert {s["name"] for s in full["statistics"]} == STAT_NAMES
    assert all(s["value"] == "0" for s in full["statistics"])
    assert full["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert full["configuration"] == {"executeCommandConfiguration": {"logging": "NONE"}}

    rc, out, err = skiffd.aws("ecs", "describe-clusters", "--clusters", "d1", "--include",
                              "TAGS", "STATISTICS", check=True)
    c = out["clusters"][0]
    assert c["tags"] == [{"key": "k", "value": "v"}]
    assert {s["name"] for s in c["statistics"]} == STAT_NAMES


def test_describe_clusters_missing(skiffd):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="here")
    other = "arn:aws:ecs:us-east-1:%s:cluster/nope" % skiffd.profile()["account_id"]
    r = ecs.describe_clusters(clusters=["here", "gone", other, "arn:aws:ecs:bogus"])
    assert [c["clusterName"] for c in r["clusters"]] == ["here"]
    assert r["failures"] == [
        {"arn": arn(skiffd, "cluster/gone"), "reason": "MISSING"},
        {"arn": other, "reason": "MISSING"},
        {"arn": "arn:aws:ecs:bogus", "reason": "MISSING"},
    ]
    rc, out, err = skiffd.aws("ecs", "describe-clusters", "--clusters", "gone", check=True)
    assert out["failures"] == [{"arn": arn(skiffd, "cluster/gone"), "reason": "MISSING"}]
    assert out["clusters"] == []


def test_describe_clusters_by_arn_and_name_alike(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="byarn")["cluster"]["clusterArn"]
    by_arn = ecs.describe_clusters(clusters=[a])["clusters"]
    by_name = ecs.describe_clusters(clusters=["byarn"])["clusters"]
    assert by_arn == by_name and len(by_arn) == 1


def test_describe_clusters_in_another_region_is_missing(skiffd):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="r")
    west = arn(skiffd, "cluster/r").replace("us-east-1", "us-west-2")
    assert ecs.describe_clusters(clusters=[west])["failures"] == [{"arn": west,
                                                                   "reason": "MISSING"}]


def test_describe_clusters_at_most_100(skiffd):
    ecs = skiffd.client()
    r = ecs.describe_clusters(clusters=["c%d" % i for i in range(100)])
    assert len(r["failures"]) == 100
    code, msg = client_error(ecs.describe_clusters, clusters=["c%d" % i for i in range(101)])
    assert code == "InvalidParameterException"


# ---- ListClusters and pagination -------------------------------------------

@pytest.fixture
def many(skiffd):
    ecs = skiffd.client()
    arns = sorted(ecs.create_cluster(clusterName="p%02d" % i)["cluster"]["clusterArn"]
                  for i in range(25))
    return arns


def test_list_clusters_aws_cli_page_size(skiffd, many):
    rc, out, err = skiffd.aws("ecs", "list-clusters", "--page-size", "7", check=True)
    assert sorted(out["clusterArns"]) == many
    assert len(out["clusterArns"]) == 25
    assert "NextToken" not in out


def test_list_clusters_aws_cli_max_items(skiffd, many):
    seen = []
    args = ["ecs", "list-clusters", "--max-items", "10", "--page-size", "4"]
    token = None
    for _ in range(10):
        rc, out, err = skiffd.aws(*(args + (["--starting-token", token] if token else [])),
                                  check=True)
        seen += out["clusterArns"]
        token = out.get("NextToken")
        if not token:
            break
        assert len(out["clusterArns"]) == 10
    assert seen == many


def test_list_clusters_boto3_paginator(skiffd, many):
    ecs = skiffd.client()
    pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 7}))
    assert [len(p["clusterArns"]) for p in pages] == [7, 7, 7, 4]
    assert all("nextToken" in p for p in pages[:-1])
    assert "nextToken" not in pages[-1]
    assert [a for p in pages for a in p["clusterArns"]] == many


def test_list_clusters_exact_multiple_has_no_token_on_last_page(skiffd):
    ecs = skiffd.client()
    for i in range(10):
        ecs.create_cluster(clusterName="e%d" % i)
    p1 = ecs.list_clusters(maxResults=5)
    assert len(p1["clusterArns"]) == 5 and p1["nextToken"]
    p2 = ecs.list_clusters(maxResults=5, nextToken=p1["nextToken"])
    assert len(p2["clusterArns"]) == 5
    assert "nextToken" not in p2
    assert not set(p1["clusterArns"]) & set(p2["clusterArns"])


def test_list_clusters_default_page_is_100(skiffd):
    c = for_profile(skiffd)
    for i in range(105):
        assert c.call("CreateCluster", {"clusterName": "m%03d" % i}).status == 200
    p1 = c.call("ListClusters", {}).json
    assert len(p1["clusterArns"]) == 100 and "nextToken" in p1
    p2 = c.call("ListClusters", {"nextToken": p1["nextToken"]}).json
    assert len(p2["clusterArns"]) == 5 and "nextToken" not in p2


def test_list_clusters_pagination_survives_deletes(skiffd, many):
    """A token marks a position, not an offset: deleting listed clusters
    between pages skips or repeats nothing."""
    ecs = skiffd.client()
    p1 = ecs.list_clusters(maxResults=10)
    for a in p1["clusterArns"][:5]:
        ecs.delete_cluster(cluster=a)
    p2 = ecs.list_clusters(maxResults=10, nextToken=p1["nextToken"])
    assert p2["clusterArns"] == many[10:20]


@pytest.mark.parametrize("token", ["garbage", "!!!", base64.urlsafe_b64encode(b"x").decode(),
                                   "a" * 3000, base64.urlsafe_b64encode(b"k\x00x").decode()])
def test_list_clusters_bad_token(skiffd, token):
    ecs = skiffd.client()
    code, msg = client_error(ecs.list_clusters, nextToken=token)
    assert code == "InvalidParameterException"


@pytest.mark.parametrize("n", [0, 101, -5])
def test_list_clusters_bad_max_results(skiffd, n):
    code, msg = client_error(skiffd.client().list_clusters, maxResults=n)
    assert code == "InvalidParameterException"


# ---- DeleteCluster ---------------------------------------------------------------

def test_delete_cluster_lifecycle(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="life", tags=[{"key": "old", "value": "1"}],
                           settings=[{"name": "containerInsights",
                                      "value": "enabled"}])["cluster"]["clusterArn"]
    ecs.create_cluster(clusterName="stays")
    rc, out, err = skiffd.aws("ecs", "delete-cluster", "--cluster", "life", check=True)
    assert out["cluster"]["status"] == "INACTIVE"
    assert out["cluster"]["clusterArn"] == a

    # Still describable, no longer listed.
    d = ecs.describe_clusters(clusters=["life"])
    assert [c["status"] for c in d["clusters"]] == ["INACTIVE"] and d["failures"] == []
    assert ecs.list_clusters()["clusterArns"] == [arn(skiffd, "cluster/stays")]

    # An INACTIVE cluster cannot be deleted, updated or tagged.
    assert aws_error(skiffd, "ecs", "delete-cluster", "--cluster", "life") == \
        "ClusterNotFoundException"
    code, _ = client_error(ecs.update_cluster_settings, cluster="life",
                           settings=[{"name": "containerInsights", "value": "disabled"}])
    assert code == "ClusterNotFoundException"
    code, _ = client_error(ecs.tag_resource, resourceArn=a, tags=[{"key": "k", "value": "v"}])
    assert code in ("ClusterNotFoundException", "ResourceNotFoundException",
                    "InvalidParameterException")

    # Recreated: ACTIVE and listed again, as a new cluster (no old tags or
    # settings).
    c = ecs.create_cluster(clusterName="life")["cluster"]
    assert c["status"] == "ACTIVE" and c["clusterArn"] == a
    assert c["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert sorted(ecs.list_clusters()["clusterArns"]) == sorted([a, arn(skiffd,
                                                                        "cluster/stays")])
    assert tags_of(ecs, a) == {}
    full = ecs.describe_clusters(clusters=["life"], include=["TAGS"])["clusters"][0]
    assert full.get("tags", []) == []


def test_recreate_with_new_tags_replaces_old(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="rt", tags=[{"key": "old", "value": "1"}])[
        "cluster"]["clusterArn"]
    ecs.delete_cluster(cluster="rt")
    ecs.create_cluster(clusterName="rt", tags=[{"key": "new", "value": "2"}])
    assert tags_of(ecs, a) == {"new": "2"}


def test_delete_unknown_cluster(skiffd):
    ecs = skiffd.client()
    code, msg = client_error(ecs.delete_cluster, cluster="never")
    assert code == "ClusterNotFoundException"
    code, msg = client_error(ecs.delete_cluster, cluster=arn(skiffd, "cluster/never"))
    assert code == "ClusterNotFoundException"
    code, msg = client_error(ecs.delete_cluster, cluster="arn:aws:ecs:us-east-1:1:service/x")
    assert code in ("InvalidParameterException", "ClusterNotFoundException")


def test_delete_by_arn(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="da")["cluster"]["clusterArn"]
    assert ecs.delete_cluster(cluster=a)["cluster"]["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == []


# ---- UpdateCluster / UpdateClusterSettings ------------------------------------------

def test_update_cluster_settings(skiffd):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="ci")
    rc, out, err = skiffd.aws("ecs", "update-cluster-settings", "--cluster", "ci", "--settings",
                              "name=containerInsights,value=enabled", check=True)
    assert out["cluster"]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    d = ecs.describe_clusters(clusters=["ci"], include=["SETTINGS"])["clusters"][0]
    assert d["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    r = ecs.update_cluster_settings(cluster="ci", settings=[{"name": "containerInsights",
                                                             "value": "disabled"}])
    assert r["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    code, _ = client_error(ecs.update_cluster_settings, cluster="ci",
                           settings=[{"name": "containerInsights", "value": "on"}])
    assert code == "InvalidParameterException"
    d = ecs.describe_clusters(clusters=["ci"], include=["SETTINGS"])["clusters"][0]
    assert d["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    code, _ = client_error(ecs.update_cluster_settings, cluster="nope",
                           settings=[{"name": "containerInsights", "value": "enabled"}])
    assert code == "ClusterNotFoundException"


def test_update_cluster(skiffd):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="uc")
    rc, out, err = skiffd.aws(
        "ecs", "update-cluster", "--cluster", "uc",
        "--settings", "name=containerInsights,value=enabled",
        "--configuration", "executeCommandConfiguration={logging=OVERRIDE,"
        "logConfiguration={cloudWatchLogGroupName=/ecs/x}}", check=True)
    c = out["cluster"]
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert c["configuration"]["executeCommandConfiguration"]["logging"] == "OVERRIDE"
    d = ecs.describe_clusters(clusters=["uc"], include=["CONFIGURATIONS",
                                                        "SETTINGS"])["clusters"][0]
    assert d["configuration"] == c["configuration"]
    assert d["settings"] == c["settings"]
    # Members left out stay as they were.
    ecs.update_cluster(cluster="uc", settings=[{"name": "containerInsights",
                                                "value": "disabled"}])
    d = ecs.describe_clusters(clusters=["uc"], include=["CONFIGURATIONS"])["clusters"][0]
    assert d["configuration"] == c["configuration"]
    code, _ = client_error(ecs.update_cluster, cluster="nope",
                           settings=[{"name": "containerInsights", "value": "enabled"}])
    assert code == "ClusterNotFoundException"
    code, _ = client_error(ecs.update_cluster, cluster="uc",
                           configuration={"executeCommandConfiguration": {"logging": "LOUD"}})
    assert code == "InvalidParameterException"


# ---- PutClusterCapacityProviders -------------------------------------------------

def test_put_cluster_capacity_providers(skiffd):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="cp")
    rc, out, err = skiffd.aws(
        "ecs", "put-cluster-capacity-providers", "--cluster", "cp",
        "--capacity-providers", "FARGATE", "FARGATE_SPOT",
        "--default-capacity-provider-strategy",
        "capacityProvider=FARGATE,weight=1,base=1", "capacityProvider=FARGATE_SPOT,weight=4",
        check=True)
    c = out["cluster"]
    assert c["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert c["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 4, "base": 0}] or \
        c["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 4}]
    d = ecs.describe_clusters(clusters=["cp"])["clusters"][0]
    assert d["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    # Emptying both lists clears them.
    r = ecs.put_cluster_capacity_providers(cluster="cp", capacityProviders=[],
                                           defaultCapacityProviderStrategy=[])
    assert r["cluster"]["capacityProviders"] == []
    assert r["cluster"]["defaultCapacityProviderStrategy"] == []


@pytest.mark.parametrize("providers,strategy", [
    (["EC2"], []),
    (["FARGATE"], [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]),
    (["FARGATE", "FARGATE_SPOT"], [{"capacityProvider": "FARGATE", "base": 5},
                                   {"capacityProvider": "FARGATE_SPOT", "base": 1}]),
    (["FARGATE"], [{"capacityProvider": "FARGATE", "weight": 1001}]),
    (["FARGATE"], [{"capacityProvider": "FARGATE", "base": 100001}]),
])
def test_put_cluster_capacity_providers_invalid(skiffd, providers, strategy):
    ecs = skiffd.client()
    ecs.create_cluster(clusterName="cpi")
    code, _ = client_error(ecs.put_cluster_capacity_providers, cluster="cpi",
                           capacityProviders=providers,
                           defaultCapacityProviderStrategy=strategy)
    assert code == "InvalidParameterException"
    assert ecs.describe_clusters(clusters=["cpi"])["clusters"][0]["capacityProviders"] == []


def test_put_cluster_capacity_providers_unknown_cluster(skiffd):
    code, _ = client_error(skiffd.client().put_cluster_capacity_providers, cluster="nope",
                           capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[])
    assert code == "ClusterNotFoundException"


# ---- Tags -----------------------------------------------------------------------

def test_tag_untag_list_aws_cli(skiffd):
    skiffd.aws("ecs", "create-cluster", "--cluster-name", "tg", check=True)
    a = arn(skiffd, "cluster/tg")
    skiffd.aws("ecs", "tag-resource", "--resource-arn", a, "--tags", "key=team,value=web",
               "key=env,value=dev", check=True)
    rc, out, err = skiffd.aws("ecs", "list-tags-for-resource", "--resource-arn", a, check=True)
    assert sorted(out["tags"], key=lambda t: t["key"]) == [{"key": "env", "value": "dev"},
                                                          {"key": "team", "value": "web"}]
    # Overwrite one value, add one key.
    skiffd.aws("ecs", "tag-resource", "--resource-arn", a, "--tags", "key=env,value=prod",
               "key=new,value=", check=True)
    ecs = skiffd.client()
    assert tags_of(ecs, a) == {"team": "web", "env": "prod", "new": ""}
    skiffd.aws("ecs", "untag-resource", "--resource-arn", a, "--tag-keys", "team", "absent",
               check=True)
    assert tags_of(ecs, a) == {"env": "prod", "new": ""}
    ecs.untag_resource(resourceArn=a, tagKeys=["env", "new"])
    assert tags_of(ecs, a) == {}


def test_tag_limit_50(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="t50")["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=a, tags=[{"key": "k%02d" % i, "value": "v"} for i in range(50)])
    assert len(tags_of(ecs, a)) == 50
    # Overwriting existing keys stays within the limit.
    ecs.tag_resource(resourceArn=a, tags=[{"key": "k00", "value": "w"}])
    # One more key is too many, and nothing of the call applies.
    code, _ = client_error(ecs.tag_resource, resourceArn=a,
                           tags=[{"key": "k01", "value": "changed"},
                                 {"key": "extra", "value": "v"}])
    assert code == "InvalidParameterException"
    t = tags_of(ecs, a)
    assert len(t) == 50 and "extra" not in t and t["k01"] == "v" and t["k00"] == "w"
    # 51 in one call: refused too.
    b = ecs.create_cluster(clusterName="t51")["cluster"]["clusterArn"]
    code, _ = client_error(ecs.tag_resource, resourceArn=b,
                           tags=[{"key": "k%02d" % i, "value": "v"} for i in range(51)])
    assert code == "InvalidParameterException"
    assert tags_of(ecs, b) == {}
    # Room made by untagging can be used again.
    ecs.untag_resource(resourceArn=a, tagKeys=["k49"])
    ecs.tag_resource(resourceArn=a, tags=[{"key": "extra", "value": "v"}])
    assert len(tags_of(ecs, a)) == 50


@pytest.mark.parametrize("tags", [
    [{"key": "aws:x", "value": "v"}],
    [{"key": "Aws:x", "value": "v"}],
    [{"key": "ok", "value": "aws:reserved"}],
    [{"key": "k" * 129, "value": "v"}],
    [{"key": "k", "value": "v" * 257}],
    [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}],
    [{"value": "no key"}],
])
def test_tag_resource_invalid(skiffd, tags):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="ti", tags=[{"key": "keep", "value": "1"}])[
        "cluster"]["clusterArn"]
    c = for_profile(skiffd)
    r = c.call("TagResource", {"resourceArn": a, "tags": tags})
    assert (r.status, r.type) == (400, "InvalidParameterException"), r
    assert tags_of(ecs, a) == {"keep": "1"}


def test_tag_limits_exact(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="tl")["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=a, tags=[{"key": "k" * 128, "value": "v" * 256},
                                          {"key": "empty-value", "value": ""},
                                          {"key": "sp ace:/=+-@_.", "value": "ünï cödé"}])
    assert tags_of(ecs, a) == {"k" * 128: "v" * 256, "empty-value": "",
                               "sp ace:/=+-@_.": "ünï cödé"}


def test_untag_reserved_key(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="ur")["cluster"]["clusterArn"]
    code, _ = client_error(ecs.untag_resource, resourceArn=a, tagKeys=["aws:cloudformation"])
    assert code == "InvalidParameterException"


@pytest.mark.parametrize("resource", [
    "cluster/nope",
    "task-definition/nope:1",
])
def test_tags_of_unknown_resource(skiffd, resource):
    ecs = skiffd.client()
    a = arn(skiffd, resource)
    for fn, kw in [(ecs.tag_resource, {"tags": [{"key": "k", "value": "v"}]}),
                   (ecs.untag_resource, {"tagKeys": ["k"]}),
                   (ecs.list_tags_for_resource, {})]:
        code, _ = client_error(fn, resourceArn=a, **kw)
        assert code in ("ClusterNotFoundException", "ResourceNotFoundException",
                        "ClientException"), (fn, code)


@pytest.mark.parametrize("resource_arn", [
    "not-an-arn",
    "web",
    "arn:aws:s3:::bucket",
    "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE_SPOT",
    "arn:aws:ecs:us-east-1:123456789012:",
    "arn:",
])
def test_tags_invalid_arn(skiffd, resource_arn):
    ecs = skiffd.client()
    code, _ = client_error(ecs.list_tags_for_resource, resourceArn=resource_arn)
    assert code in ("InvalidParameterException", "ResourceNotFoundException",
                    "ClusterNotFoundException")


def test_tags_of_cluster_in_other_region_arn(skiffd):
    ecs = skiffd.client()
    a = ecs.create_cluster(clusterName="reg")["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=a, tags=[{"key": "k", "value": "v"}])
    west = a.replace("us-east-1", "us-west-2")
    code, _ = client_error(ecs.list_tags_for_resource, resourceArn=west)
    assert code in ("ClusterNotFoundException", "ResourceNotFoundException",
                    "InvalidParameterException")


# ---- DescribeCapacityProviders -----------------------------------------------------

def test_describe_capacity_providers(skiffd):
    rc, out, err = skiffd.aws("ecs", "describe-capacity-providers", check=True)
    names = [p["name"] for p in out["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT"]
    for p in out["capacityProviders"]:
        assert p["capacityProviderArn"] == arn(skiffd, "capacity-provider/" + p["name"])
        assert p["status"] == "ACTIVE"
    ecs = skiffd.client()
    r = ecs.describe_capacity_providers(capacityProviders=[
        "FARGATE_SPOT", arn(skiffd, "capacity-provider/FARGATE"), "EC2_ASG"])
    assert [p["name"] for p in r["capacityProviders"]] == ["FARGATE_SPOT", "FARGATE"]
    assert r["failures"] == [{"arn": "EC2_ASG", "reason": "MISSING"}]


def test_describe_capacity_providers_pages(skiffd):
    ecs = skiffd.client()
    p1 = ecs.describe_capacity_providers(maxResults=1)
    assert [p["name"] for p in p1["capacityProviders"]] == ["FARGATE"]
    p2 = ecs.describe_capacity_providers(maxResults=1, nextToken=p1["nextToken"])
    assert [p["name"] for p in p2["capacityProviders"]] == ["FARGATE_SPOT"]
    assert "nextToken" not in p2
    full = ecs.describe_capacity_providers(maxResults=2)
    assert len(full["capacityProviders"]) == 2 and "nextToken" not in full
    code, _ = client_error(ecs.describe_capacity_providers, maxResults=11)
    assert code == "InvalidParameterException"


def test_capacity_providers_of_another_account_arn(skiffd):
    ecs = skiffd.client()
    other = "arn:aws:ecs:us-east-1:999999999999:capacity-provider/FARGATE"
    r = ecs.describe_capacity_providers(capacityProviders=[other])
    assert r["capacityProviders"] == []
    assert r["failures"] == [{"arn": other, "reason": "MISSING"}]


# ---- concurrency --------------------------------------------------------------------

def test_concurrent_deletes_one_wins(skiffd):
    """Two DeleteCluster calls racing for one cluster: one deletes it, the
    other finds no ACTIVE cluster (the check and the change are one
    transaction)."""
    import threading
    c = for_profile(skiffd)
    for round_ in range(15):
        name = "race%d" % round_
        assert c.call("CreateCluster", {"clusterName": name}).status == 200
        barrier = threading.Barrier(3)
        results = []
        conns = [c.connect() for _ in range(3)]
        for conn in conns:  # connect before the race
            conn.connect()

        def delete(conn):
            p = c.prepare("DeleteCluster", {"cluster": name})
            barrier.wait()
            results.append(c.send(p, conn=conn))

        threads = [threading.Thread(target=delete, args=(conn,)) for conn in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for conn in conns:
            conn.close()
        ok = [r for r in results if r.status == 200]
        assert len(ok) == 1, [(r.status, r.type) for r in results]
        assert all(r.type == "ClusterNotFoundException" for r in results if r.status != 200)


def test_update_racing_delete_never_touches_inactive(skiffd):
    """An update that loses the race against DeleteCluster fails with
    ClusterNotFoundException; one that wins is visible on the INACTIVE
    cluster. Either way, what is stored is what some successful call said."""
    import threading
    c = for_profile(skiffd)
    ecs = skiffd.client()
    for round_ in range(10):
        name = "ur%d" % round_
        assert c.call("CreateCluster", {"clusterName": name}).status == 200
        barrier = threading.Barrier(2)
        out = {}
        conns = [c.connect(), c.connect()]
        for conn in conns:
            conn.connect()

        def update():
            p = c.prepare("UpdateClusterSettings", {"cluster": name, "settings": [
                {"name": "containerInsights", "value": "enabled"}]})
            barrier.wait()
            out["update"] = c.send(p, conn=conns[0])

        def delete():
            p = c.prepare("DeleteCluster", {"cluster": name})
            barrier.wait()
            out["delete"] = c.send(p, conn=conns[1])

        threads = [threading.Thread(target=update), threading.Thread(target=delete)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for conn in conns:
            conn.close()
        assert out["delete"].status == 200
        d = ecs.describe_clusters(clusters=[name], include=["SETTINGS"])["clusters"][0]
        assert d["status"] == "INACTIVE"
        value = d["settings"][0]["value"]
        if out["update"].status == 200:
            assert out["update"].json["cluster"]["status"] == "ACTIVE"
            assert value == "enabled"
        else:
            assert out["update"].type == "ClusterNotFoundException"
            assert value == "disabled"
