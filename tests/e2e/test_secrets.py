"""Secrets Manager subset: the aws CLI and boto3, unmodified, against skiffd.

Round trips (create, get, describe, list, put, update, versions and staging
labels, tags, delete with a recovery window or at once, restore), the
model's errors, encryption at rest, and isolation between accounts."""
import base64
import os
import re
import sqlite3
import stat

import botocore.exceptions
import pytest

ARN_RE = re.compile(r"^arn:aws:secretsmanager:us-east-1:(\d{12}):secret:(.+)-([A-Za-z0-9]{6})$")


def error_code(exc):
    return exc.value.response["Error"]["Code"]


def test_cli_round_trip(skiffd):
    rc, out, err = skiffd.aws("secretsmanager", "create-secret", "--name", "db/password",
                              "--description", "the db", "--secret-string", "hunter2",
                              "--tags", "Key=team,Value=blue")
    assert rc == 0, err
    m = ARN_RE.match(out["ARN"])
    assert m and m.group(2) == "db/password", out["ARN"]
    assert out["Name"] == "db/password"
    v1 = out["VersionId"]

    _, got, _ = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id", "db/password",
                           check=True)
    assert got["SecretString"] == "hunter2"
    assert got["VersionId"] == v1 and got["VersionStages"] == ["AWSCURRENT"]
    assert got["ARN"] == out["ARN"]

    # By ARN, and by the ARN without its random suffix (a partial ARN).
    _, got, _ = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id", out["ARN"],
                           check=True)
    assert got["SecretString"] == "hunter2"
    _, got, _ = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id",
                           out["ARN"][:-7], check=True)
    assert got["SecretString"] == "hunter2"

    _, put, _ = skiffd.aws("secretsmanager", "put-secret-value", "--secret-id", "db/password",
                           "--secret-string", "correct horse", check=True)
    v2 = put["VersionId"]
    assert put["VersionStages"] == ["AWSCURRENT"] and v2 != v1
    _, got, _ = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id", "db/password",
                           check=True)
    assert got["SecretString"] == "correct horse"
    _, prev, _ = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id", "db/password",
                            "--version-stage", "AWSPREVIOUS", check=True)
    assert prev["SecretString"] == "hunter2" and prev["VersionId"] == v1
    _, byid, _ = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id", "db/password",
                            "--version-id", v1, check=True)
    assert byid["SecretString"] == "hunter2"

    _, desc, _ = skiffd.aws("secretsmanager", "describe-secret", "--secret-id", "db/password",
                            check=True)
    assert desc["Description"] == "the db"
    assert desc["VersionIdsToStages"] == {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"]}
    assert desc["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert "DeletedDate" not in desc

    _, upd, _ = skiffd.aws("secretsmanager", "update-secret", "--secret-id", "db/password",
                           "--description", "still the db", "--secret-string", "third",
                           check=True)
    v3 = upd["VersionId"]
    _, desc, _ = skiffd.aws("secretsmanager", "describe-secret", "--secret-id", "db/password",
                            check=True)
    assert desc["Description"] == "still the db"
    assert desc["VersionIdsToStages"] == {v2: ["AWSPREVIOUS"], v3: ["AWSCURRENT"]}

    skiffd.aws("secretsmanager", "tag-resource", "--secret-id", "db/password", "--tags",
               "Key=env,Value=prod", "Key=team,Value=red", check=True)
    skiffd.aws("secretsmanager", "untag-resource", "--secret-id", "db/password", "--tag-keys",
               "env", check=True)
    _, desc, _ = skiffd.aws("secretsmanager", "describe-secret", "--secret-id", "db/password",
                            check=True)
    assert desc["Tags"] == [{"Key": "team", "Value": "red"}]

    _, lst, _ = skiffd.aws("secretsmanager", "list-secrets", check=True)
    assert [s["Name"] for s in lst["SecretList"]] == ["db/password"]
    assert lst["SecretList"][0]["SecretVersionsToStages"][v3] == ["AWSCURRENT"]

    rc, _, _ = skiffd.aws("secretsmanager", "delete-secret", "--secret-id", "db/password",
                          "--force-delete-without-recovery")
    assert rc == 0
    rc, _, err = skiffd.aws("secretsmanager", "get-secret-value", "--secret-id", "db/password")
    assert rc != 0 and "ResourceNotFoundException" in err
    # The value is never in the daemon's log.
    with open(skiffd.log_path) as f:
        log = f.read()
    assert "hunter2" not in log and "correct horse" not in log


def test_errors(skiffd):
    sm = skiffd.client("secretsmanager")
    sm.create_secret(Name="dup", SecretString="x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name="dup", SecretString="y")
    assert error_code(e) == "ResourceExistsException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId="nope")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_secret(SecretId="arn:aws:secretsmanager:us-east-1:000000000000:secret:x-abcdef")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name="both", SecretString="x", SecretBinary=b"y")
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name="bad name!", SecretString="x")
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.delete_secret(SecretId="dup", RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.delete_secret(SecretId="dup", RecoveryWindowInDays=3)
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId="dup")
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId="dup", SecretString="x" * 65537)
    assert error_code(e) == "InvalidParameterException"
    # A secret without a value has no AWSCURRENT version.
    sm.create_secret(Name="empty")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId="empty")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId="dup", VersionId="0" * 32)
    assert error_code(e) == "ResourceNotFoundException"


def test_versions_binary_and_idempotency(skiffd):
    sm = skiffd.client("secretsmanager")
    blob = bytes(range(256))
    out = sm.create_secret(Name="bin", SecretBinary=blob, ClientRequestToken="a" * 32)
    assert out["VersionId"] == "a" * 32
    got = sm.get_secret_value(SecretId="bin")
    assert got["SecretBinary"] == blob and "SecretString" not in got
    # A retry with the same token and value is a no-op; another value fails.
    again = sm.put_secret_value(SecretId="bin", SecretBinary=blob, ClientRequestToken="a" * 32)
    assert again["VersionId"] == "a" * 32
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.put_secret_value(SecretId="bin", SecretBinary=b"other", ClientRequestToken="a" * 32)
    assert error_code(e) == "ResourceExistsException"

    # A version with a custom label does not move AWSCURRENT.
    sm.put_secret_value(SecretId="bin", SecretString="pending", ClientRequestToken="b" * 32,
                        VersionStages=["AWSPENDING"])
    assert sm.get_secret_value(SecretId="bin")["SecretBinary"] == blob
    assert sm.get_secret_value(SecretId="bin", VersionStage="AWSPENDING")["SecretString"] == \
        "pending"
    # Promote it: AWSCURRENT moves, the old one becomes AWSPREVIOUS.
    sm.update_secret_version_stage(SecretId="bin", VersionStage="AWSCURRENT",
                                   RemoveFromVersionId="a" * 32, MoveToVersionId="b" * 32)
    assert sm.get_secret_value(SecretId="bin")["SecretString"] == "pending"
    stages = sm.describe_secret(SecretId="bin")["VersionIdsToStages"]
    assert stages == {"a" * 32: ["AWSPREVIOUS"], "b" * 32: ["AWSCURRENT", "AWSPENDING"]}
    versions = sm.list_secret_version_ids(SecretId="bin")["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["a" * 32, "b" * 32]
    # A third version deprecates the first (no label left on it).
    sm.put_secret_value(SecretId="bin", SecretString="third")
    versions = sm.list_secret_version_ids(SecretId="bin")["Versions"]
    assert "a" * 32 not in [v["VersionId"] for v in versions]
    versions = sm.list_secret_version_ids(SecretId="bin", IncludeDeprecated=True)["Versions"]
    assert "a" * 32 in [v["VersionId"] for v in versions]


def test_delete_with_recovery_window_and_restore(skiffd):
    sm = skiffd.client("secretsmanager")
    sm.create_secret(Name="gone", SecretString="v")
    out = sm.delete_secret(SecretId="gone", RecoveryWindowInDays=7)
    desc = sm.describe_secret(SecretId="gone")
    assert "DeletedDate" in desc
    days = (out["DeletionDate"] - desc["DeletedDate"]).total_seconds() / 86400
    assert abs(days - 7) < 0.01
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId="gone")
    assert error_code(e) == "InvalidRequestException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_secret(Name="gone", SecretString="again")
    assert error_code(e) == "InvalidRequestException"
    assert [s["Name"] for s in sm.list_secrets()["SecretList"]] == []
    sm.restore_secret(SecretId="gone")
    assert sm.get_secret_value(SecretId="gone")["SecretString"] == "v"
    # Forced deletion frees the name at once; the new secret has a new ARN.
    arn = sm.describe_secret(SecretId="gone")["ARN"]
    sm.delete_secret(SecretId="gone", ForceDeleteWithoutRecovery=True)
    new = sm.create_secret(Name="gone", SecretString="again")
    assert new["ARN"] != arn
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.get_secret_value(SecretId=arn)
    assert error_code(e) == "ResourceNotFoundException"


def test_list_filters_and_pages(skiffd):
    sm = skiffd.client("secretsmanager")
    for i in range(5):
        sm.create_secret(Name="app/%d" % i, SecretString="s", Description="d%d" % i,
                         Tags=[{"Key": "tier", "Value": "web" if i % 2 else "db"}])
    sm.create_secret(Name="other", SecretString="s")
    names = [s["Name"] for s in sm.list_secrets(
        Filters=[{"Key": "name", "Values": ["app/"]}])["SecretList"]]
    assert names == ["app/%d" % i for i in range(5)]
    names = [s["Name"] for s in sm.list_secrets(
        Filters=[{"Key": "tag-value", "Values": ["web"]}])["SecretList"]]
    assert names == ["app/1", "app/3"]
    names = [s["Name"] for s in sm.list_secrets(
        Filters=[{"Key": "name", "Values": ["!app/"]}])["SecretList"]]
    assert names == ["other"]
    names = [s["Name"] for s in sm.list_secrets(SortOrder="desc")["SecretList"]]
    assert names == ["other"] + ["app/%d" % i for i in reversed(range(5))]
    seen = []
    for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["SecretList"]) <= 2
        seen += [s["Name"] for s in page["SecretList"]]
    assert seen == ["app/%d" % i for i in range(5)] + ["other"]


def test_accounts_are_isolated(skiffd):
    skiffd.add_profile("other", "222233334444", "AKIDOTHERACCOUNT0001", "othersecret")
    mine = skiffd.client("secretsmanager")
    theirs = skiffd.client("secretsmanager", profile="other")
    arn = mine.create_secret(Name="shared-name", SecretString="mine")["ARN"]
    for ref in ("shared-name", arn):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            theirs.get_secret_value(SecretId=ref)
        assert error_code(e) == "ResourceNotFoundException"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            theirs.delete_secret(SecretId=ref, ForceDeleteWithoutRecovery=True)
        assert error_code(e) == "ResourceNotFoundException"
    assert theirs.list_secrets()["SecretList"] == []
    # The same name is free in the other account.
    other = theirs.create_secret(Name="shared-name", SecretString="theirs")["ARN"]
    assert ":222233334444:" in other
    assert mine.get_secret_value(SecretId="shared-name")["SecretString"] == "mine"
    assert theirs.get_secret_value(SecretId="shared-name")["SecretString"] == "theirs"


def test_values_encrypted_at_rest(skiffd):
    sm = skiffd.client("secretsmanager")
    marker = "plain-text-marker-" + os.urandom(8).hex()
    sm.create_secret(Name="enc", SecretString=marker)
    key = os.path.join(skiffd.data_dir, "secrets.key")
    st = os.stat(key)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    for name in os.listdir(skiffd.data_dir):
        path = os.path.join(skiffd.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert marker.encode() not in f.read(), name
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(skiffd.data_dir, "state.db"), uri=True)
    (blob,) = db.execute("SELECT value FROM secret_versions").fetchone()
    db.close()
    assert marker.encode() not in blob and len(blob) == len(marker) + 12 + 16
    # The key survives a restart: the value still decrypts.
    skiffd.restart()
    assert skiffd.client("secretsmanager").get_secret_value(SecretId="enc")["SecretString"] == \
        marker


def test_get_random_password(skiffd):
    sm = skiffd.client("secretsmanager")
    pw = sm.get_random_password()["RandomPassword"]
    assert len(pw) == 32
    punct = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    # Every class at least once by default: over a few draws of length 4.
    for _ in range(20):
        pw = sm.get_random_password(PasswordLength=4)["RandomPassword"]
        assert any(c.islower() for c in pw) and any(c.isupper() for c in pw)
        assert any(c.isdigit() for c in pw) and any(c in punct for c in pw), pw
    pw = sm.get_random_password(PasswordLength=200, ExcludePunctuation=True, ExcludeUppercase=True,
                                ExcludeCharacters="abc0")["RandomPassword"]
    assert len(pw) == 200 and set(pw) <= set("defghijklmnopqrstuvwxyz123456789"), pw
    assert sm.get_random_password(PasswordLength=50)["RandomPassword"] != \
        sm.get_random_password(PasswordLength=50)["RandomPassword"]
    rc, out, err = skiffd.aws("secretsmanager", "get-random-password", "--password-length", "12",
                              "--exclude-numbers", "--include-space")
    assert rc == 0 and len(out["RandomPassword"]) == 12 and " " in out["RandomPassword"], (out, err)
    for kw in ({"PasswordLength": 3}, {"ExcludeLowercase": True, "ExcludeUppercase": True,
                                        "ExcludeNumbers": True, "ExcludePunctuation": True}):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.get_random_password(**kw)
        assert error_code(e) == "InvalidParameterException", kw
