"""Task definitions end to end: RegisterTaskDefinition's Fargate rules through
boto3 (each invalid definition -> its AWS error code), and the register /
describe / list / deregister / delete flows through the real aws CLI."""
import concurrent.futures
import copy
import datetime
import json
import os
import tempfile

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from sigv4_client import for_profile

CLIENT = "ClientException"
INVALID = "InvalidParameterException"
SER = "SerializationException"


def raw_client(skiffd, profile="default"):
    """boto3 without client-side parameter validation, so malformed shapes
    reach the server."""
    p = skiffd.profile(profile)
    return boto3.client(
        "ecs", endpoint_url=skiffd.endpoint, region_name="us-east-1",
        aws_access_key_id=p["aws_access_key_id"],
        aws_secret_access_key=p["aws_secret_access_key"],
        config=botocore.config.Config(parameter_validation=False,
                                      retries={"max_attempts": 1, "mode": "standard"}))


def taskdef(family="web", containers=None, **task):
    """A valid minimal definition with task-level members replaced (None
    removes one)."""
    d = {"family": family, "cpu": "256", "memory": "512",
         "containerDefinitions": containers if containers is not None
         else [{"name": "web", "image": "nginx:1.25"}]}
    for k, v in task.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def c(**kw):
    d = {"name": "web", "image": "nginx:1.25"}
    d.update(kw)
    return d


def aws_json(skiffd, *args, doc=None, profile="default"):
    """Runs the aws CLI, optionally with --cli-input-json from doc."""
    args = list(args)
    path = None
    if doc is not None:
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        args += ["--cli-input-json", "file://" + path]
    try:
        return skiffd.aws(*args, profile=profile)
    finally:
        if path:
            os.unlink(path)


def error_code(fn, **kw):
    """Calls a boto3 operation expected to fail; returns (code, message)."""
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def register_cli(skiffd, doc, profile="default"):
    rc, out, err = aws_json(skiffd, "ecs", "register-task-definition", doc=doc, profile=profile)
    assert rc == 0, err
    return out["taskDefinition"]


AWSLOGS = {"logDriver": "awslogs",
           "options": {"awslogs-group": "/skiff/web", "awslogs-region": "us-east-1"}}
HEALTH = {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}

# (id, request, expected error code, fragment of the message)
INVALID_CASES = [
    ("family-chars", taskdef(family="my.web"), CLIENT, "Family name can have"),
    ("family-too-long", taskdef(family="f" * 256), CLIENT, "Family name can have"),
    ("family-missing", taskdef(family=None), INVALID, "family"),
    ("containers-missing", taskdef(containerDefinitions=None), INVALID, "containerDefinitions"),
    ("containers-empty", taskdef(containers=[]), CLIENT, "Container list cannot be empty"),
    ("eleven-containers", taskdef(containers=[c(name="c%d" % i) for i in range(11)]), CLIENT,
     "at most 10"),
    ("network-bridge", taskdef(networkMode="bridge", requiresCompatibilities=["FARGATE"]),
     CLIENT, "Fargate only supports network mode 'awsvpc'"),
    ("network-host", taskdef(networkMode="host"), CLIENT, "awsvpc"),
    ("network-enum", taskdef(networkMode="overlay"), INVALID, "networkMode"),
    ("external", taskdef(requiresCompatibilities=["EXTERNAL"]), CLIENT, "EXTERNAL"),
    ("windows", taskdef(runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}),
     CLIENT, "Linux containers only"),
    ("cpu-missing", taskdef(cpu=None), CLIENT,
     "Fargate requires that 'cpu' be defined at the task level."),
    ("memory-missing", taskdef(memory=None), CLIENT, "'memory' be defined at the task level"),
    ("cpu-garbage", taskdef(cpu="fast"), CLIENT, "Invalid 'cpu' setting for task."),
    ("memory-garbage", taskdef(memory="1 TB"), CLIENT, "Invalid 'memory' setting for task."),
    ("cpu-not-a-string", taskdef(cpu=256), SER, "cpu"),
    ("size-256-4096", taskdef(memory="4096"), CLIENT,
     "No Fargate configuration exists for given values: 256 CPU, 4096 memory."),
    ("size-1vcpu-1gb", taskdef(cpu="1 vCPU", memory="1GB"), CLIENT,
     "given values: 1024 CPU, 1024 memory"),
    ("size-16vcpu-124gb", taskdef(cpu="16 vCPU", memory="124 GB"), CLIENT,
     "16384 CPU, 126976 memory"),
    ("ephemeral-20", taskdef(ephemeralStorage={"sizeInGiB": 20}), CLIENT, "between 21 and 200"),
    ("ephemeral-201", taskdef(ephemeralStorage={"sizeInGiB": 201}), CLIENT, "between 21 and 200"),
    ("ipc-mode", taskdef(ipcMode="task"), CLIENT, "do not support ipcMode"),
    ("pid-host", taskdef(pidMode="host"), CLIENT, "pidMode 'host'"),
    ("placement", taskdef(placementConstraints=[{"type": "memberOf", "expression": "x"}]),
     CLIENT, "placementConstraints"),
    ("host-volume-path", taskdef(volumes=[{"name": "v", "host": {"sourcePath": "/etc"}}]),
     CLIENT, "sourcePath"),
    ("efs-volume", taskdef(volumes=[{"name": "v",
                                     "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]),
     CLIENT, "efsVolumeConfiguration"),
    ("duplicate-volume", taskdef(volumes=[{"name": "v"}, {"name": "v"}]), CLIENT,
     "Duplicate volume name"),
    ("container-name-missing", taskdef(containers=[{"image": "nginx"}]), CLIENT,
     "Container.name should not be null or empty."),
    ("container-name-chars", taskdef(containers=[c(name="web 1")]), CLIENT,
     "Invalid container name"),
    ("container-names-unique", taskdef(containers=[c(), c()]), CLIENT,
     "Duplicate container name 'web'"),
    ("image-missing", taskdef(containers=[{"name": "web"}]), CLIENT, "Container.image"),
    ("no-essential", taskdef(containers=[c(essential=False)]), CLIENT,
     "at least one essential container"),
    ("privileged", taskdef(containers=[c(privileged=True)]), CLIENT, "privileged"),
    ("links", taskdef(containers=[c(links=["db"])]), CLIENT, "networkMode=awsvpc"),
    ("hostname", taskdef(containers=[c(hostname="web")]), CLIENT, "'hostname'"),
    ("security-options", taskdef(containers=[c(dockerSecurityOptions=["label:x"])]), CLIENT,
     "dockerSecurityOptions"),
    ("host-port-differs", taskdef(containers=[c(portMappings=[{"containerPort": 80,
                                                                "hostPort": 8080}])]),
     CLIENT, "When networkMode=awsvpc, the host ports and container ports in port mappings "
             "must match."),
    ("container-port-0", taskdef(containers=[c(portMappings=[{"containerPort": 0}])]), CLIENT,
     "Invalid 'containerPort' setting for container 'web'."),
    ("container-port-high", taskdef(containers=[c(portMappings=[{"containerPort": 70000}])]),
     CLIENT, "Invalid 'containerPort'"),
    ("container-port-string", taskdef(containers=[c(portMappings=[{"containerPort": "80"}])]),
     SER, "containerPort"),
    ("protocol-enum", taskdef(containers=[c(portMappings=[{"containerPort": 80,
                                                           "protocol": "sctp"}])]),
     INVALID, "protocol"),
    ("duplicate-port", taskdef(containers=[c(name="a", portMappings=[{"containerPort": 80}]),
                                           c(name="b", portMappings=[{"containerPort": 80}])]),
     CLIENT, "Port 80/tcp is mapped more than once"),
    ("depends-unknown", taskdef(containers=[c(dependsOn=[{"containerName": "db",
                                                          "condition": "START"}])]),
     CLIENT, "unknown container 'db'"),
    ("depends-cycle", taskdef(containers=[
        c(name="a", dependsOn=[{"containerName": "b", "condition": "START"}]),
        c(name="b", dependsOn=[{"containerName": "a", "condition": "START"}])]),
     CLIENT, "Circular dependsOn between containers: a -> b -> a"),
    ("depends-complete-essential", taskdef(containers=[
        c(name="init"), c(name="app", dependsOn=[{"containerName": "init",
                                                  "condition": "COMPLETE"}])]),
     CLIENT, "A dependency container with SUCCESS or COMPLETE condition cannot be an essential "
             "container"),
    ("depends-healthy-no-check", taskdef(containers=[
        c(name="db"), c(name="app", dependsOn=[{"containerName": "db",
                                                "condition": "HEALTHY"}])]),
     CLIENT, "has no healthCheck"),
    ("depends-condition-enum", taskdef(containers=[
        c(name="db"), c(name="app", dependsOn=[{"containerName": "db",
                                                "condition": "READY"}])]),
     INVALID, "condition"),
    ("health-no-cmd", taskdef(containers=[c(healthCheck={"command": ["curl", "x"]})]), CLIENT,
     "CMD, CMD-SHELL or NONE"),
    ("health-interval", taskdef(containers=[c(healthCheck=dict(HEALTH, interval=301))]), CLIENT,
     "'healthCheck.interval'"),
    ("health-timeout", taskdef(containers=[c(healthCheck=dict(HEALTH, timeout=1))]), CLIENT,
     "'healthCheck.timeout'"),
    ("health-retries", taskdef(containers=[c(healthCheck=dict(HEALTH, retries=11))]), CLIENT,
     "'healthCheck.retries'"),
    ("health-start-period", taskdef(containers=[c(healthCheck=dict(HEALTH, startPeriod=301))]),
     CLIENT, "'healthCheck.startPeriod'"),
    ("stop-timeout", taskdef(containers=[c(stopTimeout=121)]), CLIENT, "Invalid 'stopTimeout'"),
    ("memory-below-6", taskdef(containers=[c(memory=4)]), CLIENT, "the minimum is 6 MiB"),
    ("reservation-above-memory", taskdef(containers=[c(memory=128, memoryReservation=256)]),
     CLIENT, "'memoryReservation' must be less than or equal to 'memory'"),
    ("memory-sum", taskdef(containers=[c(name="a", memory=300), c(name="b", memory=300)]),
     CLIENT, "The sum of all container 'memory' values cannot be greater than the value of the "
             "task 'memory'."),
    ("cpu-sum", taskdef(containers=[c(name="a", cpu=200), c(name="b", cpu=100)]), CLIENT,
     "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."),
    ("cap-add", taskdef(containers=[c(linuxParameters={"capabilities": {"add": ["NET_ADMIN"]}})]),
     CLIENT, "SYS_PTRACE"),
    ("devices", taskdef(containers=[c(linuxParameters={
        "devices": [{"hostPath": "/dev/fuse"}]})]), CLIENT, "'linuxParameters.devices'"),
    ("shm", taskdef(containers=[c(linuxParameters={"sharedMemorySize": 64})]), CLIENT,
     "sharedMemorySize"),
    ("tmpfs", taskdef(containers=[c(linuxParameters={
        "tmpfs": [{"containerPath": "/t", "size": 8}]})]), CLIENT, "tmpfs"),
    ("swap", taskdef(containers=[c(linuxParameters={"maxSwap": 10, "swappiness": 5})]), CLIENT,
     "maxSwap"),
    ("log-splunk", taskdef(containers=[c(logConfiguration={"logDriver": "splunk"})]), CLIENT,
     "awslogs"),
    ("awslogs-no-options", taskdef(containers=[c(logConfiguration={"logDriver": "awslogs"})]),
     CLIENT, "Log driver awslogs requires options: awslogs-region, awslogs-group"),
    ("mount-unknown-volume", taskdef(containers=[c(mountPoints=[{"sourceVolume": "data",
                                                                 "containerPath": "/d"}])]),
     CLIENT, "unknown volume 'data'"),
    ("volumes-from-unknown", taskdef(containers=[c(volumesFrom=[{"sourceContainer": "x"}])]),
     CLIENT, "unknown container 'x'"),
    ("bad-tag", taskdef(tags=[{"key": "aws:owner", "value": "me"}]), INVALID, "aws:"),
]


@pytest.mark.parametrize("req,code,fragment", [x[1:] for x in INVALID_CASES],
                         ids=[x[0] for x in INVALID_CASES])
def test_register_invalid(skiffd, req, code, fragment):
    ecs = raw_client(skiffd)
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(**copy.deepcopy(req))
    assert e.value.response["Error"]["Code"] == code, e.value.response
    assert fragment in e.value.response["Error"]["Message"], e.value.response
    # Nothing was registered by the refused request.
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []


def test_register_full_fargate_definition(skiffd):
    """A realistic definition is accepted and normalised as ECS does."""
    acct = skiffd.profile()["account_id"]
    doc = taskdef(
        family="shop", cpu=".5 vCPU", memory="1 GB", requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc", runtimePlatform={"cpuArchitecture": "ARM64",
                                               "operatingSystemFamily": "LINUX"},
        ephemeralStorage={"sizeInGiB": 40}, volumes=[{"name": "scratch"}],
        executionRoleArn="arn:aws:iam::%s:role/ecsTaskExecutionRole" % acct,
        containers=[
            c(name="init", essential=False, command=["sh", "-c", "echo ready > /s/ready"],
              mountPoints=[{"sourceVolume": "scratch", "containerPath": "/s"}]),
            c(name="web", memory=768, memoryReservation=256, cpu=256,
              portMappings=[{"containerPort": 8080}, {"containerPort": 8125, "protocol": "udp",
                                                      "hostPort": 8125}],
              environment=[{"name": "MODE", "value": "prod"}],
              dependsOn=[{"containerName": "init", "condition": "SUCCESS"}],
              healthCheck=HEALTH, logConfiguration=AWSLOGS, stopTimeout=60,
              linuxParameters={"capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]},
                               "initProcessEnabled": True},
              ulimits=[{"name": "nofile", "softLimit": 4096, "hardLimit": 8192}],
              volumesFrom=[{"sourceContainer": "init", "readOnly": True}]),
        ],
        tags=[{"key": "team", "value": "shop"}])
    rc, out, err = aws_json(skiffd, "ecs", "register-task-definition", doc=doc)
    assert rc == 0, err
    td = out["taskDefinition"]
    assert out["tags"] == [{"key": "team", "value": "shop"}]
    assert td["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:%s:task-definition/shop:1" % acct
    assert (td["family"], td["revision"], td["status"]) == ("shop", 1, "ACTIVE")
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert td["networkMode"] == "awsvpc"
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    assert td["ephemeralStorage"] == {"sizeInGiB": 40}
    assert td["registeredBy"] == "arn:aws:iam::%s:root" % acct
    assert td["executionRoleArn"].endswith(":role/ecsTaskExecutionRole")
    assert td["volumes"] == [{"name": "scratch"}]
    assert td["placementConstraints"] == []
    assert "registeredAt" in td and "deregisteredAt" not in td
    names = {a["name"] for a in td["requiresAttributes"]}
    assert {"ecs.capability.task-eni", "ecs.capability.container-health-check",
            "com.amazonaws.ecs.capability.logging-driver.awslogs",
            "ecs.capability.container-ordering"} <= names
    init, web = td["containerDefinitions"]
    assert init["essential"] is False and init["cpu"] == 0
    assert init["portMappings"] == [] and init["environment"] == []
    assert web["essential"] is True
    assert web["portMappings"] == [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"},
        {"containerPort": 8125, "hostPort": 8125, "protocol": "udp"}]
    assert web["healthCheck"] == dict(HEALTH, interval=30, timeout=5, retries=3, startPeriod=0)
    assert web["systemControls"] == [] and web["mountPoints"] == []
    assert web["logConfiguration"] == AWSLOGS

    # Describe answers the same document, by family, family:revision and ARN.
    rc, out, err = skiffd.aws("ecs", "describe-task-definition", "--task-definition", "shop:1",
                              "--include", "TAGS")
    assert rc == 0, err
    assert out["taskDefinition"] == td
    assert out["tags"] == [{"key": "team", "value": "shop"}]
    ecs = skiffd.client()
    for ref in ("shop", td["taskDefinitionArn"]):
        out = ecs.describe_task_definition(taskDefinition=ref)
        assert out["taskDefinition"]["taskDefinitionArn"] == td["taskDefinitionArn"]
        assert out["taskDefinition"]["containerDefinitions"] == td["containerDefinitions"]
        assert "tags" not in out
    assert ecs.list_tags_for_resource(resourceArn=td["taskDefinitionArn"])["tags"] == \
        [{"key": "team", "value": "shop"}]


@pytest.mark.parametrize("cpu,memory,want_cpu,want_memory", [
    ("256", "512", "256", "512"),
    (".25 vCPU", "0.5GB", "256", "512"),
    ("0.25 vcpu", "2 gb", "256", "2048"),
    ("1 vCPU", "8GB", "1024", "8192"),
    ("2vCPU", "16 GB", "2048", "16384"),
    ("4 vCPU", "30720", "4096", "30720"),
    ("8 vCPU", "60 GB", "8192", "61440"),
    ("16 vCPU", "120 GB", "16384", "122880"),
])
def test_task_size_normalised(skiffd, cpu, memory, want_cpu, want_memory):
    td = skiffd.client().register_task_definition(**taskdef(cpu=cpu, memory=memory))
    td = td["taskDefinition"]
    assert (td["cpu"], td["memory"]) == (want_cpu, want_memory)


def test_revisions_per_family_and_deregister(skiffd):
    ecs = skiffd.client()
    arns = [ecs.register_task_definition(**taskdef(family=f))["taskDefinition"]
            for f in ("api", "api", "worker", "api")]
    assert [(t["family"], t["revision"]) for t in arns] == [
        ("api", 1), ("api", 2), ("worker", 1), ("api", 3)]

    # "family" means the latest ACTIVE revision.
    assert ecs.describe_task_definition(taskDefinition="api")["taskDefinition"]["revision"] == 3

    rc, out, err = skiffd.aws("ecs", "deregister-task-definition", "--task-definition", "api:3")
    assert rc == 0, err
    assert out["taskDefinition"]["status"] == "INACTIVE"
    assert "deregisteredAt" in out["taskDefinition"]
    first = out["taskDefinition"]["deregisteredAt"]

    assert ecs.describe_task_definition(taskDefinition="api")["taskDefinition"]["revision"] == 2
    # An INACTIVE revision stays describable.
    rc, out, err = skiffd.aws("ecs", "describe-task-definition", "--task-definition", "api:3")
    assert rc == 0, err
    assert out["taskDefinition"]["status"] == "INACTIVE"
    assert out["taskDefinition"]["deregisteredAt"] == first

    # Deregistering again changes nothing.
    again = ecs.deregister_task_definition(taskDefinition=arns[3]["taskDefinitionArn"])
    assert again["taskDefinition"]["status"] == "INACTIVE"
    assert again["taskDefinition"]["deregisteredAt"] == datetime.datetime.fromisoformat(first)

    # A new registration takes the next number, not the deregistered one.
    assert ecs.register_task_definition(**taskdef(family="api"))["taskDefinition"][
        "revision"] == 4

    # Family only, unknown revision, malformed references.
    rc, out, err = skiffd.aws("ecs", "deregister-task-definition", "--task-definition", "api")
    assert rc != 0 and "ClientException" in err and "revision is required" in err, err
    for ref, fragment in [("api:99", "does not exist"), ("nope:1", "does not exist"),
                          ("api:0", "Invalid task definition"),
                          ("api:x", "Invalid task definition")]:
        code, msg = error_code(ecs.deregister_task_definition, taskDefinition=ref)
        assert code == CLIENT and fragment in msg, (ref, msg)
    rc, out, err = skiffd.aws("ecs", "describe-task-definition", "--task-definition", "nope")
    assert rc != 0 and "ClientException" in err and "Unable to describe task definition." in err
    for ref in ("api:99", "a b", "arn:aws:ecs:us-east-1:123:cluster/x",
                "arn:aws:ecs:eu-west-1:%s:task-definition/api:1" % skiffd.profile()["account_id"]):
        code, msg = error_code(ecs.describe_task_definition, taskDefinition=ref)
        assert code == CLIENT, (ref, msg)


def test_list_task_definitions(skiffd):
    ecs = skiffd.client()
    for f in ["b", "a", "b", "a_x", "a-x", "a", "b"]:
        ecs.register_task_definition(**taskdef(family=f))
    acct = skiffd.profile()["account_id"]
    arn = "arn:aws:ecs:us-east-1:%s:task-definition/%%s" % acct
    # Ordered by family, then revision (numerically).
    asc = [arn % x for x in ["a:1", "a:2", "a-x:1", "a_x:1", "b:1", "b:2", "b:3"]]

    rc, out, err = skiffd.aws("ecs", "list-task-definitions")
    assert rc == 0, err
    assert out["taskDefinitionArns"] == asc

    # --page-size makes the CLI fetch page by page with nextToken.
    rc, out, err = skiffd.aws("ecs", "list-task-definitions", "--page-size", "2")
    assert rc == 0, err
    assert out["taskDefinitionArns"] == asc
    rc, out, err = skiffd.aws("ecs", "list-task-definitions", "--page-size", "3", "--sort",
                              "DESC")
    assert rc == 0, err
    assert out["taskDefinitionArns"] == asc[::-1]

    # --max-items stops early and hands out a token to resume from.
    rc, out, err = skiffd.aws("ecs", "list-task-definitions", "--page-size", "2",
                              "--max-items", "3")
    assert rc == 0, err
    assert out["taskDefinitionArns"] == asc[:3]
    rc, out2, err = skiffd.aws("ecs", "list-task-definitions", "--page-size", "2",
                               "--starting-token", out["NextToken"])
    assert rc == 0, err
    assert out2["taskDefinitionArns"] == asc[3:]

    # boto3 pages by hand.
    seen, token = [], None
    while True:
        kw = {"maxResults": 2}
        if token:
            kw["nextToken"] = token
        page = ecs.list_task_definitions(**kw)
        assert len(page["taskDefinitionArns"]) <= 2
        seen += page["taskDefinitionArns"]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == asc

    # familyPrefix is an exact family.
    assert ecs.list_task_definitions(familyPrefix="a")["taskDefinitionArns"] == \
        [arn % "a:1", arn % "a:2"]
    rc, out, err = skiffd.aws("ecs", "list-task-definitions", "--family-prefix", "b",
                              "--sort", "DESC", "--page-size", "1")
    assert rc == 0, err
    assert out["taskDefinitionArns"] == [arn % "b:3", arn % "b:2", arn % "b:1"]

    # status
    ecs.deregister_task_definition(taskDefinition="b:2")
    rc, out, err = skiffd.aws("ecs", "list-task-definitions", "--status", "INACTIVE")
    assert rc == 0, err
    assert out["taskDefinitionArns"] == [arn % "b:2"]
    assert ecs.list_task_definitions(familyPrefix="b")["taskDefinitionArns"] == \
        [arn % "b:1", arn % "b:3"]

    # Limits and tokens.
    raw = raw_client(skiffd)
    for kw in ({"maxResults": 0}, {"maxResults": 101}, {"nextToken": "!!not-a-token"}):
        with pytest.raises(ClientError) as e:
            raw.list_task_definitions(**kw)
        assert e.value.response["Error"]["Code"] == INVALID, kw


def test_list_task_definition_families(skiffd):
    ecs = skiffd.client()
    for f in ["web", "web", "web_api", "webapi", "worker", "db"]:
        ecs.register_task_definition(**taskdef(family=f))
    ecs.deregister_task_definition(taskDefinition="worker:1")
    ecs.deregister_task_definition(taskDefinition="web:1")

    def families(**kw):
        return ecs.list_task_definition_families(**kw)["families"]

    everything = ["db", "web", "web_api", "webapi", "worker"]
    rc, out, err = skiffd.aws("ecs", "list-task-definition-families")
    assert rc == 0, err
    assert out["families"] == everything
    assert families(status="ALL") == everything
    assert families(status="ACTIVE") == ["db", "web", "web_api", "webapi"]
    assert families(status="INACTIVE") == ["worker"]
    # familyPrefix is a real prefix, and '_' is not a wildcard.
    assert families(familyPrefix="web") == ["web", "web_api", "webapi"]
    assert families(familyPrefix="web_") == ["web_api"]
    assert families(familyPrefix="w", status="INACTIVE") == ["worker"]
    assert families(familyPrefix="zzz") == []
    rc, out, err = skiffd.aws("ecs", "list-task-definition-families", "--page-size", "2")
    assert rc == 0, err
    assert out["families"] == everything
    rc, out, err = skiffd.aws("ecs", "list-task-definition-families", "--page-size", "1",
                              "--max-items", "2")
    assert rc == 0, err
    assert out["families"] == ["db", "web"] and out["NextToken"]
    page = ecs.list_task_definition_families(maxResults=2, status="ACTIVE")
    assert page["families"] == ["db", "web"]
    page = ecs.list_task_definition_families(maxResults=2, status="ACTIVE",
                                             nextToken=page["nextToken"])
    assert page["families"] == ["web_api", "webapi"] and "nextToken" not in page
    ecs.deregister_task_definition(taskDefinition="web:2")
    assert families(status="INACTIVE") == ["web", "worker"]


def delete_task_definitions(skiffd, refs, profile="default"):
    """DeleteTaskDefinitions is newer than the installed botocore model, so
    neither the CLI nor boto3 can send it: send it signed by hand."""
    return for_profile(skiffd, profile).call("DeleteTaskDefinitions", {"taskDefinitions": refs})


def test_delete_task_definitions(skiffd):
    ecs = skiffd.client()
    for _ in range(3):
        ecs.register_task_definition(**taskdef(family="old", tags=[{"key": "k", "value": "v"}]))
    ecs.deregister_task_definition(taskDefinition="old:1")
    arn1 = ecs.describe_task_definition(taskDefinition="old:1")["taskDefinition"][
        "taskDefinitionArn"]

    r = delete_task_definitions(skiffd, ["old:1", "old:2", "old", "old:9"])
    assert r.status == 200, r
    doc = r.json
    assert [t["taskDefinitionArn"] for t in doc["taskDefinitions"]] == [arn1]
    assert doc["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"
    reasons = {f["arn"].rsplit("/", 1)[-1]: f["reason"] for f in doc["failures"]}
    assert reasons == {"old:2": "TASK_DEFINITION_NOT_INACTIVE", "old": "INVALID",
                       "old:9": "MISSING"}

    # Gone: not describable, not listed, its tags gone.
    rc, out, err = skiffd.aws("ecs", "describe-task-definition", "--task-definition", "old:1")
    assert rc != 0 and "ClientException" in err
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == []
    code, _ = error_code(ecs.list_tags_for_resource, resourceArn=arn1)
    assert code == "ResourceNotFoundException"

    # Delete every revision: numbering still goes on.
    ecs.deregister_task_definition(taskDefinition="old:2")
    ecs.deregister_task_definition(taskDefinition="old:3")
    r = delete_task_definitions(skiffd, ["old:2", "old:3"])
    assert r.status == 200 and len(r.json["taskDefinitions"]) == 2, r
    assert ecs.list_task_definition_families()["families"] == []
    assert ecs.register_task_definition(**taskdef(family="old"))["taskDefinition"][
        "revision"] == 4

    for body in ([], ["x:1"] * 11, [1]):
        r = delete_task_definitions(skiffd, body)
        assert (r.status, r.type) == (400, INVALID), (body, r)


def test_concurrent_registration(skiffd):
    """Registrations of one family from several threads get distinct,
    consecutive revisions."""
    n_threads, per_thread = 6, 5

    def work(i):
        ecs = skiffd.client()
        return [ecs.register_task_definition(**taskdef(family="race"))["taskDefinition"][
            "revision"] for _ in range(per_thread)]

    with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
        revs = [r for rs in pool.map(work, range(n_threads)) for r in rs]
    assert sorted(revs) == list(range(1, n_threads * per_thread + 1))
    for rs in [revs]:
        assert len(set(rs)) == len(rs)
    rc, out, err = skiffd.aws("ecs", "list-task-definitions", "--family-prefix", "race",
                              "--page-size", "7")
    assert rc == 0, err
    assert [int(a.rsplit(":", 1)[1]) for a in out["taskDefinitionArns"]] == \
        list(range(1, n_threads * per_thread + 1))


def test_accounts_are_isolated(skiffd):
    skiffd.add_profile("other", "210987654321", "AKIAOTHERACCOUNT0001",
                       "otherSecretKey0000000000000000000000000")
    mine = register_cli(skiffd, taskdef(family="secret"))
    arn = mine["taskDefinitionArn"]

    rc, out, err = skiffd.aws("ecs", "describe-task-definition", "--task-definition", arn,
                              profile="other")
    assert rc != 0 and "ClientException" in err, out
    other = skiffd.client(profile="other")
    for ref in ("secret", "secret:1"):
        code, _ = error_code(other.describe_task_definition, taskDefinition=ref)
        assert code == CLIENT, ref
    code, _ = error_code(other.deregister_task_definition, taskDefinition=arn)
    assert code == CLIENT
    code, _ = error_code(other.tag_resource, resourceArn=arn, tags=[{"key": "a", "value": "b"}])
    assert code == "ResourceNotFoundException"
    assert other.list_task_definitions()["taskDefinitionArns"] == []
    assert other.list_task_definition_families()["families"] == []
    r = delete_task_definitions(skiffd, [arn], profile="other")
    assert r.status == 200 and r.json["failures"][0]["reason"] == "MISSING", r

    # The other account numbers its own revisions of the same family.
    theirs = register_cli(skiffd, taskdef(family="secret"), profile="other")
    assert theirs["revision"] == 1
    assert theirs["taskDefinitionArn"] == \
        "arn:aws:ecs:us-east-1:210987654321:task-definition/secret:1"
    assert theirs["registeredBy"] == "arn:aws:iam::210987654321:root"
    # And mine is untouched.
    td = skiffd.client().describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert (td["status"], td["revision"]) == ("ACTIVE", 1)


def test_revisions_survive_restart(skiffd):
    ecs = skiffd.client()
    ecs.register_task_definition(**taskdef(family="keep"))
    ecs.register_task_definition(**taskdef(family="keep"))
    skiffd.restart()
    ecs = skiffd.client()
    assert ecs.describe_task_definition(taskDefinition="keep")["taskDefinition"]["revision"] == 2
    assert ecs.register_task_definition(**taskdef(family="keep"))["taskDefinition"][
        "revision"] == 3
