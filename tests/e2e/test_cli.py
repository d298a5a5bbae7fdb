"""The skiff command line client against a real skiffd: table and JSON output
(JSON compared with what /usr/bin/aws answers for the same call), where it
finds skiffd and its credentials, and how it reports failures."""
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import ROOT, SKIFF

TASKDEF = {
    "family": "web",
    "cpu": "256",
    "memory": "512",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "containerDefinitions": [
        {"name": "web", "image": "nginx:1.25", "essential": True,
         "portMappings": [{"containerPort": 80, "protocol": "tcp"}]},
        {"name": "sidecar", "image": "busybox", "memoryReservation": 64, "essential": False},
    ],
}


def clean_env(skiffd, **overrides):
    """skiffd.env() (credentials file, profile, SKIFF_ENDPOINT) without any
    region or key from the caller's environment; None removes a variable."""
    env = skiffd.env()
    for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
              "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        env.pop(k, None)
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def skiff(skiffd, *args, env=None, stdin=None):
    """Runs skiff; returns (rc, stdout, stderr). The working directory is the
    data dir, so no stray ./.skiff/credentials is picked up."""
    p = subprocess.run([SKIFF] + list(args), env=env if env is not None else clean_env(skiffd),
                       input=stdin, capture_output=True, text=True, timeout=60,
                       cwd=skiffd.data_dir)
    return p.returncode, p.stdout, p.stderr


def skiff_json(skiffd, *args, env=None, stdin=None, rc=0):
    code, out, err = skiff(skiffd, *args, "--output", "json", env=env, stdin=stdin)
    assert code == rc, err
    return json.loads(out)


def table(text):
    """Parses an aligned table into a list of {header: cell} and checks that
    every cell starts at its header's column."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    assert len(starts) == len(names)
    rows = []
    for line in lines[1:]:
        assert not line.endswith(" "), repr(line)
        cells = []
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(line)
            assert line[s] != " " and (s == 0 or line[s - 1] == " "), (header, line)
            cells.append(line[s:end].strip())
        rows.append(dict(zip(names, cells)))
    return rows


def error_code(aws_stderr):
    m = re.search(r"An error occurred \((\w+)\)", aws_stderr)
    assert m, aws_stderr
    return m.group(1)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_credentials(path, access_key, secret, account_id, profile="default"):
    with open(path, "w") as f:
        f.write("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\naccount_id = %s\n"
                % (profile, access_key, secret, account_id))
    os.chmod(path, 0o600)


# --- clusters ---------------------------------------------------------------

def test_cluster_lifecycle_table(skiffd):
    acct = skiffd.profile()["account_id"]
    rc, out, err = skiff(skiffd, "cluster", "ls")
    assert rc == 0, err
    assert out.split() == ["NAME", "STATUS", "RUNNING", "PENDING", "SERVICES"]

    rc, out, err = skiff(skiffd, "cluster", "create", "demo")
    assert rc == 0, err
    assert table(out) == [{"NAME": "demo", "STATUS": "ACTIVE", "RUNNING": "0", "PENDING": "0",
                           "SERVICES": "0",
                           "ARN": "arn:aws:ecs:us-east-1:%s:cluster/demo" % acct}]
    assert skiff(skiffd, "cluster", "create", "a-much-longer-cluster-name")[0] == 0

    rc, out, err = skiff(skiffd, "cluster", "ls")
    assert rc == 0, err
    rows = table(out)
    assert sorted(r["NAME"] for r in rows) == ["a-much-longer-cluster-name", "demo"]
    assert all(r["STATUS"] == "ACTIVE" and r["RUNNING"] == "0" for r in rows)

    rc, out, err = skiff(skiffd, "cluster", "describe", "demo")
    assert rc == 0, err
    assert [r["NAME"] for r in table(out)] == ["demo"]

    rc, out, err = skiff(skiffd, "cluster", "rm", "demo")
    assert rc == 0, err
    assert table(out)[0]["STATUS"] == "INACTIVE"
    rc, out, err = skiff(skiffd, "cluster", "ls")
    assert [r["NAME"] for r in table(out)] == ["a-much-longer-cluster-name"]
    rc, out, err = skiff(skiffd, "cluster", "describe", "demo")
    assert rc == 0, err
    assert table(out)[0]["STATUS"] == "INACTIVE"


def test_cluster_json_matches_aws_cli(skiffd):
    created = skiff_json(skiffd, "cluster", "create", "alpha")
    # CreateCluster of an existing cluster answers the same cluster.
    assert created == skiffd.aws("ecs", "create-cluster", "--cluster-name", "alpha", check=True)[1]
    assert created["cluster"]["clusterName"] == "alpha"
    skiff_json(skiffd, "cluster", "create", "beta")

    listed = skiff_json(skiffd, "cluster", "ls")
    assert listed == skiffd.aws("ecs", "list-clusters", check=True)[1]
    assert len(listed["clusterArns"]) == 2

    # A missing cluster is a failure in the answer and exit status 1.
    described = skiff_json(skiffd, "cluster", "describe", "alpha", "nope", rc=1)
    assert described == skiffd.aws("ecs", "describe-clusters", "--clusters", "alpha", "nope",
                                   check=True)[1]
    assert [f["reason"] for f in described["failures"]] == ["MISSING"]

    deleted = skiff_json(skiffd, "cluster", "rm", "alpha")
    by_aws = skiffd.aws("ecs", "delete-cluster", "--cluster", "beta", check=True)[1]
    assert json.loads(json.dumps(by_aws).replace("beta", "alpha")) == deleted
    assert deleted["cluster"]["status"] == "INACTIVE"


def test_ls_follows_next_token(skiffd):
    """ListClusters answers 100 ARNs a page and DescribeClusters takes 100
    names: 105 clusters need two of each."""
    ecs = skiffd.client()
    names = sorted("c%03d" % i for i in range(105))
    for n in names:
        ecs.create_cluster(clusterName=n)
    arns = skiff_json(skiffd, "cluster", "ls")["clusterArns"]
    assert sorted(a.rsplit("/", 1)[1] for a in arns) == names
    rc, out, err = skiff(skiffd, "cluster", "ls")
    assert rc == 0, err
    assert sorted(r["NAME"] for r in table(out)) == names


# --- where skiffd and the credentials come from -------------------------------

def test_data_dir_and_shared_credentials_file(skiffd):
    default_acct = skiffd.profile()["account_id"]
    other_acct = "210987654321"
    skiffd.add_profile("other", other_acct, "AKIAOTHEROTHEROTHER1", "othersecret" * 4)

    def arn_account(out):
        return json.loads(out)["cluster"]["clusterArn"].split(":")[4]

    # --data-dir alone: DIR/credentials, profile "default".
    env = clean_env(skiffd, AWS_SHARED_CREDENTIALS_FILE=None, AWS_PROFILE=None)
    rc, out, err = skiff(skiffd, "--data-dir", skiffd.data_dir, "cluster", "create", "d1",
                         "--output", "json", env=env)
    assert rc == 0, err
    assert arn_account(out) == default_acct

    # AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE.
    env = clean_env(skiffd, AWS_PROFILE="other")
    rc, out, err = skiff(skiffd, "cluster", "create", "o1", "--output", "json", env=env)
    assert rc == 0, err
    assert arn_account(out) == other_acct

    # --profile beats AWS_PROFILE and applies to --data-dir too.
    rc, out, err = skiff(skiffd, "--data-dir", skiffd.data_dir, "--profile", "default",
                         "cluster", "create", "d2", "--output", "json", env=env)
    assert rc == 0, err
    assert arn_account(out) == default_acct

    # --data-dir beats AWS_SHARED_CREDENTIALS_FILE (here a file of wrong keys).
    bogus = os.path.join(skiffd.data_dir, "bogus-credentials")
    write_credentials(bogus, "AKIANOSUCHKEYATALL00", "x" * 40, "111111111111")
    env = clean_env(skiffd, AWS_SHARED_CREDENTIALS_FILE=bogus)
    rc, out, err = skiff(skiffd, "--data-dir", skiffd.data_dir, "cluster", "ls", "--output",
                         "json", env=env)
    assert rc == 0, err
    assert sorted(a.rsplit("/", 1)[1] for a in json.loads(out)["clusterArns"]) == ["d1", "d2"]
    rc, out, err = skiff(skiffd, "cluster", "ls", env=env)
    assert rc == 1
    assert "skiff: UnrecognizedClientException: " in err

    # Each account sees its own clusters only.
    rows = table(skiff(skiffd, "cluster", "ls", env=clean_env(skiffd, AWS_PROFILE="other"))[1])
    assert [r["NAME"] for r in rows] == ["o1"]

    # A profile the file lacks is named in the error.
    rc, out, err = skiff(skiffd, "--profile", "nobody", "cluster", "ls")
    assert rc == 1
    assert "[nobody]" in err and skiffd.credentials in err


def test_session_token_is_signed(skiffd):
    skiffd.add_profile("temp", "123456789012", "ASIATEMPTEMPTEMPTEMP", "tempsecret" * 4,
                       session_token="FQoGZXIvYXdzEXAMPLE")
    rc, out, err = skiff(skiffd, "--profile", "temp", "cluster", "create", "t")
    assert rc == 0, err
    # The same keys without the token are refused, so the token did count.
    creds = os.path.join(skiffd.data_dir, "no-token")
    write_credentials(creds, "ASIATEMPTEMPTEMPTEMP", "tempsecret" * 4, "123456789012")
    rc, out, err = skiff(skiffd, "cluster", "ls",
                         env=clean_env(skiffd, AWS_SHARED_CREDENTIALS_FILE=creds))
    assert rc == 1
    assert "skiff: UnrecognizedClientException: " in err


def test_environment_keys(skiffd):
    prof = skiffd.profile()
    env = clean_env(skiffd, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                    AWS_ACCESS_KEY_ID=prof["aws_access_key_id"],
                    AWS_SECRET_ACCESS_KEY=prof["aws_secret_access_key"])
    rc, out, err = skiff(skiffd, "cluster", "create", "from-env", env=env)
    assert rc == 0, err


def test_endpoint_flag_and_environment(skiffd):
    dead = "http://127.0.0.1:%d" % closed_port()
    # SKIFF_ENDPOINT alone.
    rc, out, err = skiff(skiffd, "cluster", "ls", env=clean_env(skiffd))
    assert rc == 0, err
    # --endpoint-url beats SKIFF_ENDPOINT, both ways round.
    rc, out, err = skiff(skiffd, "--endpoint-url", skiffd.endpoint, "cluster", "ls",
                         env=clean_env(skiffd, SKIFF_ENDPOINT=dead))
    assert rc == 0, err
    rc, out, err = skiff(skiffd, "cluster", "ls", "--endpoint-url=" + dead,
                         env=clean_env(skiffd))
    assert rc == 1
    assert dead in err


def test_unreachable_endpoint(skiffd):
    dead = "http://127.0.0.1:%d" % closed_port()
    rc, out, err = skiff(skiffd, "cluster", "ls", env=clean_env(skiffd, SKIFF_ENDPOINT=dead))
    assert rc == 1
    assert out == ""
    assert err.startswith("skiff: cannot reach skiffd at %s: " % dead), err
    rc, out, err = skiff(skiffd, "--endpoint-url", "localhost:8080", "cluster", "ls")
    assert rc == 1
    assert "localhost:8080" in err


def test_region(skiffd):
    """skiffd answers for us-east-1 only: a request scoped to another region
    is refused, which shows where the CLI took the region from."""
    for args, env in ((["--region", "eu-west-1"], {}),
                      ([], {"AWS_REGION": "eu-west-1"}),
                      ([], {"AWS_DEFAULT_REGION": "eu-west-1"}),
                      (["--region", "eu-west-1"], {"AWS_REGION": "us-east-1"})):
        rc, out, err = skiff(skiffd, *args, "cluster", "ls", env=clean_env(skiffd, **env))
        assert rc == 1, (args, env)
        assert "skiff: InvalidSignatureException: " in err and "eu-west-1" in err
    rc, out, err = skiff(skiffd, "--region", "us-east-1", "cluster", "ls",
                         env=clean_env(skiffd, AWS_REGION="eu-west-1"))
    assert rc == 0, err


# --- failures -----------------------------------------------------------------

def test_api_error_shows_code(skiffd):
    rc, out, err = skiff(skiffd, "cluster", "rm", "nope")
    assert rc == 1
    assert out == ""
    code = error_code(skiffd.aws("ecs", "delete-cluster", "--cluster", "nope")[2])
    assert code == "ClusterNotFoundException"
    assert err.startswith("skiff: %s: " % code), err
    assert len(err.strip().split("\n")) == 1
    # Input the model rejects.
    rc, out, err = skiff(skiffd, "cluster", "create", "bad name!")
    assert rc == 1
    assert err.startswith("skiff: InvalidParameterException: "), err


def test_wrong_secret(skiffd):
    prof = skiffd.profile()
    creds = os.path.join(skiffd.data_dir, "wrong-secret")
    write_credentials(creds, prof["aws_access_key_id"], "W" * 40, prof["account_id"])
    rc, out, err = skiff(skiffd, "cluster", "ls",
                         env=clean_env(skiffd, AWS_SHARED_CREDENTIALS_FILE=creds))
    assert rc == 1
    assert err.startswith("skiff: InvalidSignatureException: "), err


@pytest.mark.parametrize("args", [
    [],
    ["nope"],
    ["cluster"],
    ["cluster", "nope"],
    ["cluster", "rm"],
    ["cluster", "create", "a", "b"],
    ["cluster", "ls", "extra"],
    ["cluster", "ls", "--bad"],
    ["cluster", "rm", "-x", "demo"],
    ["cluster", "describe"],
    ["--output", "yaml", "cluster", "ls"],
    ["cluster", "ls", "--region"],
    ["taskdef", "rm", "web"],
    ["taskdef", "ls", "--family"],
    ["taskdef", "ls", "--nope"],
    ["taskdef", "register"],
    ["help", "nope"],
    ["version", "extra"],
])
def test_usage_error(skiffd, args):
    # The endpoint is dead: a usage error must be found before any call.
    dead = "http://127.0.0.1:%d" % closed_port()
    rc, out, err = skiff(skiffd, *args, env=clean_env(skiffd, SKIFF_ENDPOINT=dead))
    assert rc == 2, (args, out, err)
    assert out == ""
    assert err.startswith("skiff: ") or err.startswith("Usage: skiff"), err
    assert "cannot reach" not in err


def test_help_and_version(skiffd):
    rc, out, err = skiff(skiffd, "help")
    assert rc == 0 and "Usage: skiff" in out and "cluster" in out and "taskdef" in out
    assert "--endpoint-url" in out and "SKIFF_ENDPOINT" in out
    for args, usage in ((["cluster", "--help"], "Usage: skiff cluster COMMAND"),
                        (["help", "cluster"], "Usage: skiff cluster COMMAND"),
                        (["cluster", "ls", "--help"], "Usage: skiff cluster ls"),
                        (["--help", "taskdef", "ls"], "Usage: skiff taskdef ls"),
                        (["help", "taskdef", "register"], "Usage: skiff taskdef register")):
        rc, out, err = skiff(skiffd, *args)
        assert rc == 0, (args, err)
        assert out.startswith(usage), (args, out)
    with open(os.path.join(ROOT, "meson.build")) as f:
        version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
    assert skiff(skiffd, "version")[1] == "skiff %s\n" % version
    assert skiff_json(skiffd, "version") == {"version": version}


# --- task definitions -----------------------------------------------------------

def register(skiffd, doc, *args, stdin=False):
    """Registers doc with skiff; skips the test while skiffd answers that
    task definitions are not implemented yet."""
    path = os.path.join(skiffd.data_dir, "taskdef.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    if stdin:
        rc, out, err = skiff(skiffd, "taskdef", "register", "-", *args, stdin=json.dumps(doc))
    else:
        rc, out, err = skiff(skiffd, "taskdef", "register", path, *args)
    if rc == 1 and "not implemented yet" in err:
        pytest.skip("skiffd does not implement task definitions yet")
    assert rc == 0, err
    return out


def test_taskdef_register_show_ls_rm(skiffd):
    acct = skiffd.profile()["account_id"]
    arn = "arn:aws:ecs:us-east-1:%s:task-definition/web:%d"
    out = register(skiffd, TASKDEF)
    assert table(out) == [{"FAMILY": "web", "REVISION": "1", "STATUS": "ACTIVE", "CPU": "256",
                           "MEMORY": "512", "ARN": arn % (acct, 1)}]

    doc = json.loads(register(skiffd, TASKDEF, "--output", "json", stdin=True))
    td = doc["taskDefinition"]
    assert td["taskDefinitionArn"] == arn % (acct, 2)
    by_aws = skiffd.aws("ecs", "describe-task-definition", "--task-definition", "web:2",
                        check=True)[1]["taskDefinition"]
    # The aws CLI prints timestamps as ISO 8601 text; everything else is the API's answer.
    assert set(td) == set(by_aws)
    assert {k: v for k, v in td.items() if k != "registeredAt"} == \
        {k: v for k, v in by_aws.items() if k != "registeredAt"}

    shown = skiff_json(skiffd, "taskdef", "show", "web")
    assert shown["taskDefinition"]["revision"] == 2
    assert {k: v for k, v in shown["taskDefinition"].items() if k != "registeredAt"} == \
        {k: v for k, v in by_aws.items() if k != "registeredAt"}

    rc, out, err = skiff(skiffd, "taskdef", "show", "web:1")
    assert rc == 0, err
    details, containers = out.split("\n\n")
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in details.split("\n"))
    assert fields["ARN"] == arn % (acct, 1)
    assert fields["FAMILY"] == "web" and fields["REVISION"] == "1"
    assert fields["STATUS"] == "ACTIVE" and fields["CPU"] == "256" and fields["MEMORY"] == "512"
    assert fields["NETWORK MODE"] == "awsvpc" and fields["REQUIRES"] == "FARGATE"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["REGISTERED"])
    rows = table(containers)
    assert [(r["CONTAINER"], r["IMAGE"], r["ESSENTIAL"]) for r in rows] == \
        [("web", "nginx:1.25", "true"), ("sidecar", "busybox", "false")]
    assert rows[1]["MEMORY"] == "64"

    listed = skiff_json(skiffd, "taskdef", "ls")
    assert listed == skiffd.aws("ecs", "list-task-definitions", check=True)[1]
    assert listed["taskDefinitionArns"] == [arn % (acct, 1), arn % (acct, 2)]

    removed = skiff_json(skiffd, "taskdef", "rm", "web:1")
    assert removed["taskDefinition"]["status"] == "INACTIVE"
    rc, out, err = skiff(skiffd, "taskdef", "ls")
    assert rc == 0, err
    assert [(r["FAMILY"], r["REVISION"], r["STATUS"]) for r in table(out)] == \
        [("web", "2", "ACTIVE")]
    rc, out, err = skiff(skiffd, "taskdef", "ls", "--all")
    assert [(r["REVISION"], r["STATUS"]) for r in table(out)] == \
        [("1", "INACTIVE"), ("2", "ACTIVE")]


def test_taskdef_ls_family_and_pages(skiffd):
    register(skiffd, TASKDEF)
    for i in range(3):
        register(skiffd, dict(TASKDEF, family="api"))
    ecs = skiffd.client()
    for i in range(100):
        ecs.register_task_definition(family="batch", cpu="256", memory="512",
                                     containerDefinitions=[{"name": "job", "image": "busybox"}])
    arns = skiff_json(skiffd, "taskdef", "ls", "--family", "api")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["api:1", "api:2", "api:3"]
    everything = skiff_json(skiffd, "taskdef", "ls")["taskDefinitionArns"]
    assert len(everything) == 104
    assert everything == skiffd.aws("ecs", "list-task-definitions", check=True)[1][
        "taskDefinitionArns"]
    rc, out, err = skiff(skiffd, "taskdef", "ls", "--family", "web")
    assert rc == 0, err
    assert [(r["FAMILY"], r["REVISION"]) for r in table(out)] == [("web", "1")]


def test_taskdef_register_copy_of_shown(skiffd):
    """`taskdef show --output json` output registers as a new revision."""
    register(skiffd, TASKDEF)
    shown = skiff_json(skiffd, "taskdef", "show", "web:1")
    out = json.loads(register(skiffd, shown, "--output", "json"))
    assert out["taskDefinition"]["revision"] == 2
    assert out["taskDefinition"]["containerDefinitions"] == \
        shown["taskDefinition"]["containerDefinitions"]


def test_taskdef_errors(skiffd):
    register(skiffd, TASKDEF)
    rc, out, err = skiff(skiffd, "taskdef", "show", "nope:1")
    assert rc == 1
    code = error_code(skiffd.aws("ecs", "describe-task-definition", "--task-definition",
                                 "nope:1")[2])
    assert err.startswith("skiff: %s: " % code), err
    rc, out, err = skiff(skiffd, "taskdef", "register", "-",
                         stdin=json.dumps({"family": "x"}))
    assert rc == 1
    assert err.startswith("skiff: InvalidParameterException: ") and "containerDefinitions" in err


def test_taskdef_register_bad_file(skiffd):
    path = os.path.join(skiffd.data_dir, "broken.json")
    with open(path, "w") as f:
        f.write('{"family": "web",')
    rc, out, err = skiff(skiffd, "taskdef", "register", path)
    assert rc == 1
    assert err.startswith("skiff: %s: not JSON" % path), err
    rc, out, err = skiff(skiffd, "taskdef", "register", path + ".missing")
    assert rc == 1
    assert "No such file" in err
    rc, out, err = skiff(skiffd, "taskdef", "register", "-", stdin="[1, 2]")
    assert rc == 1
    assert "expected a JSON object" in err
