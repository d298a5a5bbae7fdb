"""The first thing a user does: list and create clusters with the aws CLI."""


def test_healthz_and_list_clusters(skiffd):
    rc, out, err = skiffd.aws("ecs", "list-clusters")
    assert rc == 0, err
    assert out == {"clusterArns": []}


def test_create_cluster_boto3(skiffd):
    ecs = skiffd.client()
    c = ecs.create_cluster(clusterName="demo")["cluster"]
    assert c["clusterName"] == "demo"
    assert c["status"] == "ACTIVE"
    acct = skiffd.profile()["account_id"]
    assert c["clusterArn"] == "arn:aws:ecs:us-east-1:%s:cluster/demo" % acct
