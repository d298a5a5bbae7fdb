"""The CloudWatch Logs API subset (src/logs) driven by boto3 and the
unmodified aws CLI: log groups, streams, PutLogEvents, GetLogEvents with its
tokens, FilterLogEvents with patterns, retention (enforced), tags and
per-account isolation. No tasks here; test_logs_tasks.py ships container
logs."""
import json
import subprocess
import time

import botocore.exceptions
import pytest

from conftest import Skiffd


DAY_MS = 24 * 3600 * 1000


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    s = Skiffd(str(tmp_path_factory.mktemp("skiff-logs-api")),
               ("--throttle-read", "off", "--throttle-write", "off"))
    s.start()
    yield s
    s.stop()
    s.cleanup_host()
    with open(s.log_path, errors="replace") as f:
        text = f.read()
    assert not any(m in text for m in ("runtime error:", "AddressSanitizer", "LeakSanitizer")), \
        text[-20000:]


def now_ms():
    return int(time.time() * 1000)


def error_code(exc):
    return exc.value.response["Error"]["Code"]


def put(logs, group, stream, messages, start=None, step=1):
    t = start if start is not None else now_ms() - 60000
    events = [{"timestamp": t + i * step, "message": m} for i, m in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_groups_and_streams(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/groups", tags={"team": "a"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName="/api/groups")
    assert error_code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName="bad name!")
    assert error_code(e) == "InvalidParameterException"
    groups = logs.describe_log_groups(logGroupNamePrefix="/api/groups")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/api/groups"]
    g = groups[0]
    assert g["arn"].endswith(":log-group:/api/groups:*") and g["storedBytes"] == 0
    assert "retentionInDays" not in g

    for name in ("b", "a", "c"):
        logs.create_log_stream(logGroupName="/api/groups", logStreamName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_stream(logGroupName="/api/groups", logStreamName="a")
    assert error_code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_stream(logGroupName="/api/nope", logStreamName="a")
    assert error_code(e) == "ResourceNotFoundException"
    # Events at distinct times make "b" the newest, then "a", then "c".
    put(logs, "/api/groups", "c", ["c1"], start=now_ms() - 3000)
    put(logs, "/api/groups", "a", ["a1"], start=now_ms() - 2000)
    put(logs, "/api/groups", "b", ["b1"], start=now_ms() - 1000)
    by_name = logs.describe_log_streams(logGroupName="/api/groups")["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["a", "b", "c"]
    by_time = logs.describe_log_streams(logGroupName="/api/groups", orderBy="LastEventTime",
                                        descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == ["b", "a", "c"]
    assert all(s["storedBytes"] == 2 and s["firstEventTimestamp"] == s["lastEventTimestamp"]
               for s in by_time)
    # Pages of one.
    names, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.describe_log_streams(logGroupName="/api/groups", limit=1,
                                         orderBy="LastEventTime", **kw)
        names += [s["logStreamName"] for s in page["logStreams"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == ["c", "a", "b"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.describe_log_streams(logGroupName="/api/groups", orderBy="LastEventTime",
                                  logStreamNamePrefix="a")
    assert error_code(e) == "InvalidParameterException"

    logs.delete_log_group(logGroupName="/api/groups")
    assert logs.describe_log_groups(logGroupNamePrefix="/api/groups")["logGroups"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.delete_log_group(logGroupName="/api/groups")
    assert error_code(e) == "ResourceNotFoundException"


def test_get_log_events_tokens(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/get")
    logs.create_log_stream(logGroupName="/api/get", logStreamName="s")
    t0 = now_ms() - 100000
    put(logs, "/api/get", "s", ["m%d" % i for i in range(25)], start=t0, step=10)

    # From the head, pages of 10, following nextForwardToken to the end
    # (the same token back means the end).
    got, token = [], None
    for _ in range(10):
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName="/api/get", logStreamName="s", limit=10, **kw)
        got += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert got == ["m%d" % i for i in range(25)]

    # Without startFromHead: the newest events, oldest first; backwards from there.
    last = logs.get_log_events(logGroupName="/api/get", logStreamName="s", limit=10)
    assert [e["message"] for e in last["events"]] == ["m%d" % i for i in range(15, 25)]
    back = logs.get_log_events(logGroupName="/api/get", logStreamName="s", limit=10,
                               nextToken=last["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["m%d" % i for i in range(5, 15)]
    ev = last["events"][0]
    assert ev["timestamp"] == t0 + 150 and ev["ingestionTime"] >= ev["timestamp"]

    # A new event after the end shows up through the last forward token.
    put(logs, "/api/get", "s", ["late"], start=t0 + 1000)
    more = logs.get_log_events(logGroupName="/api/get", logStreamName="s",
                               nextToken=last["nextForwardToken"])
    assert [e["message"] for e in more["events"]] == ["late"]

    # Time range: startTime inclusive, endTime exclusive.
    rng = logs.get_log_events(logGroupName="/api/get", logStreamName="s", startFromHead=True,
                              startTime=t0 + 20, endTime=t0 + 50)
    assert [e["message"] for e in rng["events"]] == ["m2", "m3", "m4"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.get_log_events(logGroupName="/api/get", logStreamName="nope")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.get_log_events(logGroupName="/api/get", logStreamName="s", nextToken="garbage")
    assert error_code(e) == "InvalidParameterException"


def test_put_log_events_rules(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/put")
    logs.create_log_stream(logGroupName="/api/put", logStreamName="s")
    now = now_ms()
    out = logs.put_log_events(logGroupName="/api/put", logStreamName="s", logEvents=[
        {"timestamp": now - 14 * DAY_MS - 60000, "message": "too old"},
        {"timestamp": now - 14 * DAY_MS + 60000, "message": "old"}])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    out = logs.put_log_events(logGroupName="/api/put", logStreamName="s", logEvents=[
        {"timestamp": now - 1000, "message": "fine"},
        {"timestamp": now + 2 * 3600 * 1000 + 60000, "message": "too new"}])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    got = logs.get_log_events(logGroupName="/api/put", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["old", "fine"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName="/api/put", logStreamName="s", logEvents=[
            {"timestamp": now - 2 * DAY_MS, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName="/api/put", logStreamName="s", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 10, "message": "a"}])
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName="/api/put", logStreamName="s", logEvents=[
            {"timestamp": now, "message": "x" * 300000}])
    assert error_code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_log_events(logGroupName="/api/put", logStreamName="nope",
                            logEvents=[{"timestamp": now, "message": "x"}])
    assert error_code(e) == "ResourceNotFoundException"


def test_filter_log_events(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/filter")
    t0 = now_ms() - 50000
    for stream, offset in (("web/1", 0), ("web/2", 1), ("db/1", 2)):
        logs.create_log_stream(logGroupName="/api/filter", logStreamName=stream)
        put(logs, "/api/filter", stream,
            ["%s ERROR disk full" % stream, "%s INFO ok" % stream, "%s ERROR timeout" % stream],
            start=t0 + offset, step=10)

    def messages(**kw):
        out, token = [], None
        while True:
            page = logs.filter_log_events(logGroupName="/api/filter",
                                          **dict(kw, **({"nextToken": token} if token else {})))
            out += [(e["logStreamName"], e["message"]) for e in page["events"]]
            token = page.get("nextToken")
            if not token:
                return out

    everything = messages()
    # Interleaved across streams in time order.
    assert [m for _, m in everything][:3] == ["web/1 ERROR disk full", "web/2 ERROR disk full",
                                              "db/1 ERROR disk full"]
    assert len(everything) == 9
    assert [m for _, m in messages(filterPattern="ERROR")] == [
        "web/1 ERROR disk full", "web/2 ERROR disk full", "db/1 ERROR disk full",
        "web/1 ERROR timeout", "web/2 ERROR timeout", "db/1 ERROR timeout"]
    assert [m for _, m in messages(filterPattern='"disk full"')] == [
        "web/1 ERROR disk full", "web/2 ERROR disk full", "db/1 ERROR disk full"]
    assert [m for _, m in messages(filterPattern="ERROR -disk", logStreamNamePrefix="web/")] == [
        "web/1 ERROR timeout", "web/2 ERROR timeout"]
    assert [s for s, _ in messages(logStreamNames=["db/1"])] == ["db/1"] * 3
    assert len(messages(startTime=t0 + 10, endTime=t0 + 20)) == 3
    assert len(messages(limit=2)) == 9  # pages of two, all reached
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.filter_log_events(logGroupName="/api/filter", filterPattern='{ $.level = "x" }')
    assert error_code(e) == "InvalidParameterException"
    page = logs.filter_log_events(logGroupName="/api/filter", limit=1)
    assert page["events"][0]["eventId"] and "nextToken" in page


def test_retention_enforced(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/retention")
    logs.create_log_stream(logGroupName="/api/retention", logStreamName="s")
    now = now_ms()
    put(logs, "/api/retention", "s", ["ten days old"], start=now - 10 * DAY_MS)
    put(logs, "/api/retention", "s", ["fresh"], start=now - 1000)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.put_retention_policy(logGroupName="/api/retention", retentionInDays=2)
    assert error_code(e) == "InvalidParameterException"
    logs.put_retention_policy(logGroupName="/api/retention", retentionInDays=7)
    g = logs.describe_log_groups(logGroupNamePrefix="/api/retention")["logGroups"][0]
    assert g["retentionInDays"] == 7 and g["storedBytes"] == len("fresh")
    got = logs.get_log_events(logGroupName="/api/retention", logStreamName="s",
                              startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["fresh"]
    # An event older than the retention is refused as expired.
    out = put(logs, "/api/retention", "s", ["eight days old"], start=now - 8 * DAY_MS)
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    logs.delete_retention_policy(logGroupName="/api/retention")
    g = logs.describe_log_groups(logGroupNamePrefix="/api/retention")["logGroups"][0]
    assert "retentionInDays" not in g
    put(logs, "/api/retention", "s", ["eight days old"], start=now - 8 * DAY_MS)
    got = logs.filter_log_events(logGroupName="/api/retention")
    assert [e["message"] for e in got["events"]] == ["eight days old", "fresh"]
    # The deletion itself is durable: the rows are gone from logs.db.
    import sqlite3
    db = sqlite3.connect("file:%s/logs.db?mode=ro" % daemon.data_dir, uri=True)
    try:
        # A segment of one event holds the bare message.
        rows = db.execute("SELECT CAST(data AS TEXT) FROM log_segments s JOIN log_groups g "
                          "ON g.id = s.group_id WHERE g.name = '/api/retention'")
        assert sorted(r[0] for r in rows) == ["eight days old", "fresh"]
    finally:
        db.close()


def test_tags(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/tags", tags={"a": "1"})
    arn = logs.describe_log_groups(logGroupNamePrefix="/api/tags")["logGroups"][0]["arn"]
    arn = arn[:-2]  # without ":*"
    logs.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert logs.list_tags_log_group(logGroupName="/api/tags")["tags"] == {"b": "2"}
    logs.tag_log_group(logGroupName="/api/tags", tags={"c": "3"})
    logs.untag_log_group(logGroupName="/api/tags", tags=["b"])
    assert logs.list_tags_for_resource(resourceArn=arn + ":*")["tags"] == {"c": "3"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.tag_resource(resourceArn=arn.replace("/api/tags", "/api/none"), tags={"x": "y"})
    assert error_code(e) == "ResourceNotFoundException"


def test_accounts_are_isolated(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/mine")
    logs.create_log_stream(logGroupName="/api/mine", logStreamName="s")
    put(logs, "/api/mine", "s", ["secret"])
    daemon.add_profile("other", "222233334444", "AKIALOGSOTHER0000001", "othersecret" * 3)
    other = daemon.client("logs", profile="other")
    assert other.describe_log_groups()["logGroups"] == []
    for call in (lambda: other.get_log_events(logGroupName="/api/mine", logStreamName="s"),
                 lambda: other.filter_log_events(logGroupName="/api/mine"),
                 lambda: other.delete_log_group(logGroupName="/api/mine")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFoundException"
    # The same name is free in the other account.
    other.create_log_group(logGroupName="/api/mine")
    assert logs.describe_log_groups(logGroupNamePrefix="/api/mine")["logGroups"][0][
        "storedBytes"] == len("secret")


def test_aws_cli(daemon):
    logs = daemon.client("logs")
    logs.create_log_group(logGroupName="/api/cli")
    logs.create_log_stream(logGroupName="/api/cli", logStreamName="s")
    put(logs, "/api/cli", "s", ["line %d" % i for i in range(30)], start=now_ms() - 5000)
    out = daemon.aws("logs", "get-log-events", "--log-group-name", "/api/cli",
                     "--log-stream-name", "s", "--start-from-head", check=True)[1]
    assert [e["message"] for e in out["events"]] == ["line %d" % i for i in range(30)]
    out = daemon.aws("logs", "filter-log-events", "--log-group-name", "/api/cli",
                     "--filter-pattern", '"line 2"', check=True)[1]
    assert [e["message"] for e in out["events"]] == ["line 2"] + ["line %d" % i
                                                                   for i in range(20, 30)]
    rc, text, err = daemon.aws("logs", "tail", "/api/cli", "--since", "1h", "--format", "short")
    assert rc == 0, err
    assert [ln.split(" ", 1)[1] for ln in text.splitlines()] == ["line %d" % i
                                                                 for i in range(30)]
