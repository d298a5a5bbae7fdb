"""A logs.db of the one-row-per-event schema (logs.db migration 1, as skiffd
wrote it before segments) is upgraded in place when skiffd opens it
(migration 2, src/logs/store.c): every event reads back, in order, with its
time and ingestion time; tokens the old code gave out still resume at the
same place; new events land after the old ones."""
import os
import sqlite3
import time

import pytest

from conftest import Skiffd

# logs.db's migration 1, exactly as the code before segments ran it.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS log_groups (
  id INTEGER PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL,
  created INTEGER NOT NULL, retention_days INTEGER NOT NULL DEFAULT 0,
  stored_bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (account, name));
CREATE TABLE IF NOT EXISTS log_group_tags (
  group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (group_id, key));
CREATE TABLE IF NOT EXISTS log_streams (
  id INTEGER PRIMARY KEY,
  group_id INTEGER NOT NULL REFERENCES log_groups(id) ON DELETE CASCADE,
  name TEXT NOT NULL, created INTEGER NOT NULL, first_event INTEGER,
  last_event INTEGER, last_ingestion INTEGER,
  stored_bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (group_id, name));
CREATE INDEX IF NOT EXISTS log_streams_last ON log_streams(group_id, last_event);
CREATE TABLE IF NOT EXISTS log_events (
  id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL,
  ts INTEGER NOT NULL, ingest INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_events_stream ON log_events(stream_id, ts);
CREATE INDEX IF NOT EXISTS log_events_group ON log_events(group_id, ts);
CREATE TABLE IF NOT EXISTS ship_offsets (
  source TEXT PRIMARY KEY, offset INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version(version) VALUES (1);
"""

N = 3000  # events per stream


def write_v1(path, account, now):
    """Two streams of N events each, interleaved in time and inserted in
    arrival order (row ids), with runs of equal timestamps and non-ASCII
    text; returns the expected events per stream as (ts, ingest, message)."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute("INSERT INTO log_groups(id, account, name, created, stored_bytes) "
               "VALUES (1, ?, '/old/group', ?, 0)", (account, now - 3600000))
    for sid, name in ((1, "s/a"), (2, "s/b")):
        db.execute("INSERT INTO log_streams(id, group_id, name, created) VALUES (?, 1, ?, ?)",
                   (sid, name, now - 3600000))
    want = {1: [], 2: []}
    base = now - 1800000
    for i in range(N):
        for sid in (1, 2):
            ts = base + (i // 3) * 7 + sid  # three events share each time
            msg = "%s line %d \u00e9\u4e2d" % ("ab"[sid - 1], i)
            ingest = ts + 500
            db.execute("INSERT INTO log_events(group_id, stream_id, ts, ingest, message) "
                       "VALUES (1, ?, ?, ?, ?)", (sid, ts, ingest, msg))
            want[sid].append((ts, ingest, msg))
    for sid in (1, 2):
        size = sum(len(m.encode()) for _, _, m in want[sid])
        db.execute("UPDATE log_streams SET first_event = ?, last_event = ?, last_ingestion = ?, "
                   "stored_bytes = ? WHERE id = ?",
                   (want[sid][0][0], want[sid][-1][0], want[sid][-1][1], size, sid))
    db.execute("UPDATE log_groups SET stored_bytes = (SELECT SUM(stored_bytes) FROM log_streams)")
    db.execute("INSERT INTO ship_offsets VALUES ('arn:old#main', 12345, ?)", (now,))
    db.commit()
    # An old token: after the 100th event of s/a ("f/TS/ROWID" of the old code).
    row = db.execute("SELECT ts, id FROM log_events WHERE stream_id = 1 ORDER BY ts, id "
                     "LIMIT 1 OFFSET 99").fetchone()
    db.close()
    return want, row


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("skiff-logs-upgrade"))
    s = Skiffd(d, ("--throttle-read", "off", "--throttle-write", "off"))
    # A first start writes the credentials (the account); then logs.db is
    # replaced by one of the old schema.
    s.start()
    account = s.profile()["account_id"]
    s.stop()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(os.path.join(d, "logs.db" + suffix))
        except FileNotFoundError:
            pass
    now = int(time.time() * 1000)
    want, old_pos = write_v1(os.path.join(d, "logs.db"), account, now)
    s.start()
    yield s, want, old_pos
    s.stop()
    s.cleanup_host()
    with open(s.log_path, errors="replace") as f:
        text = f.read()
    assert not any(m in text for m in ("runtime error:", "AddressSanitizer", "LeakSanitizer")), \
        text[-20000:]


def read_all(logs, stream, **kw):
    out, token = [], None
    while True:
        args = dict(logGroupName="/old/group", logStreamName=stream, startFromHead=True,
                    limit=1000, **kw)
        if token:
            args["nextToken"] = token
        page = logs.get_log_events(**args)
        out += [(e["timestamp"], e["ingestionTime"], e["message"]) for e in page["events"]]
        if page["nextForwardToken"] == token:
            return out
        token = page["nextForwardToken"]


def test_every_event_reads_back(upgraded):
    s, want, _ = upgraded
    logs = s.client("logs")
    assert read_all(logs, "s/a") == want[1]
    assert read_all(logs, "s/b") == want[2]
    # Backward from the end (the default) pages back to the start.
    page = logs.get_log_events(logGroupName="/old/group", logStreamName="s/b", limit=10)
    assert [(e["timestamp"], e["message"]) for e in page["events"]] == \
        [(t, m) for t, _, m in want[2][-10:]]
    streams = logs.describe_log_streams(logGroupName="/old/group")["logStreams"]
    assert {x["logStreamName"]: x["storedBytes"] for x in streams} == {
        "s/a": sum(len(m.encode()) for _, _, m in want[1]),
        "s/b": sum(len(m.encode()) for _, _, m in want[2])}


def test_filter_interleaves(upgraded):
    s, want, _ = upgraded
    logs = s.client("logs")
    got, token = [], None
    while True:
        args = dict(logGroupName="/old/group")
        if token:
            args["nextToken"] = token
        page = logs.filter_log_events(**args)
        got += [(e["timestamp"], e["message"]) for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    expect = sorted([(t, m) for t, _, m in want[1] + want[2]],
                    key=lambda x: (x[0], x[1][0]))  # s/a's event comes first at equal times
    assert got == expect
    page = logs.filter_log_events(logGroupName="/old/group", filterPattern='"line 2999"')
    assert sorted(e["message"] for e in page["events"]) == [
        "a line 2999 \u00e9\u4e2d", "b line 2999 \u00e9\u4e2d"]


def test_old_tokens_resume(upgraded):
    s, want, (ts, rowid) = upgraded
    logs = s.client("logs")
    page = logs.get_log_events(logGroupName="/old/group", logStreamName="s/a", limit=5,
                               nextToken="f/%d/%d" % (ts, rowid))
    assert [e["message"] for e in page["events"]] == [m for _, _, m in want[1][100:105]]
    page = logs.get_log_events(logGroupName="/old/group", logStreamName="s/a", limit=5,
                               nextToken="b/%d/%d" % (ts, rowid))
    assert [e["message"] for e in page["events"]] == [m for _, _, m in want[1][94:99]]


def test_schema_and_new_events(upgraded):
    s, want, _ = upgraded
    logs = s.client("logs")
    t = want[1][-1][0] + 1
    logs.put_log_events(logGroupName="/old/group", logStreamName="s/a", logEvents=[
        {"timestamp": t, "message": "new one"}, {"timestamp": t, "message": "new two"}])
    got = read_all(logs, "s/a")
    assert got[:-2] == want[1]
    assert [m for _, _, m in got[-2:]] == ["new one", "new two"]
    db = sqlite3.connect("file:%s/logs.db?mode=ro" % s.data_dir, uri=True)
    try:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [1, 2]
        assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'log_events'")\
            .fetchone()[0] == 0
        # The shipper's offsets survive the upgrade.
        assert db.execute("SELECT offset FROM ship_offsets WHERE source = 'arn:old#main'")\
            .fetchone()[0] == 12345
    finally:
        db.close()
