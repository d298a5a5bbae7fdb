/* The control plane's side of the node protocol's "logs" message (see
 * sched/node.h): a batch of whole CRI lines read from a container's log at
 * a byte offset. The batch's events and the source's new offset are
 * written in one transaction, and a batch that does not start at the
 * stored offset is refused with the stored offset in the answer, so a
 * batch is stored exactly once whatever the agent or skiffd went through
 * (kill -9 of either, repeats, reordering). */
#include "logs/logs-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

static int read_offset(struct db *db, const char *source, int64_t *ret, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT offset FROM ship_offsets WHERE source = ?", err);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(db, err, "read ship offset");
    return 0;
}

static int add_event(void *arg, int64_t ts, const char *msg, size_t len)
{
    struct logs_inserter *ins = arg;
    struct error *e = NULL;
    int r = logs_insert_add(ins, ts, msg, len, &e);
    error_free(e);
    return r;
}

int logs_ingest(void *cp, const json_t *msg, json_t **ret, struct error **err)
{
    struct logs_store *ls = cp;
    const char *task = json_get_str(msg, "taskArn");
    const char *ctr = json_get_str(msg, "container");
    const char *account = json_get_str(msg, "accountId");
    const char *group = json_get_str(msg, "logGroup");
    const char *stream = json_get_str(msg, "logStream");
    json_t *lines = json_object_get(msg, "lines");
    if (!task || !ctr || !account || !group || !stream)
        return error_set(err, EINVAL, ERR_INVALID,
                         "logs message: taskArn, container, accountId, logGroup and logStream "
                         "are required");
    _cleanup_free_ char *source = xasprintf("%s#%s", task, ctr);
    struct db *db;
    int64_t stored;
    int r = logs_db_get(ls, &db, err);
    if (r < 0)
        return r;
    if (json_get_bool(msg, "forget", false)) {
        /* The agent purged the task: its offsets are no longer needed. */
        sqlite3_stmt *st = db_stmt(db, "DELETE FROM ship_offsets WHERE source = ?", err);
        if (!st)
            return -EIO;
        sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
        if ((r = db_exec_stmt(db, st, err)) < 0)
            return r;
        *ret = json_pack("{s:I}", "offset", (json_int_t)0);
        return 0;
    }
    if (!lines) {
        /* A probe: where does this source resume? A source that has
         * shipped nothing yet also learns that its group is missing (the
         * awslogs driver's check before a container starts). */
        if ((r = read_offset(db, source, &stored, err)) < 0)
            return r;
        struct logs_group g;
        if (stored == 0 && !json_get_bool(msg, "createGroup", false) &&
            (r = logs_group_find(db, account, group, &g, err)) < 0)
            return r;
        *ret = json_pack("{s:I}", "offset", (json_int_t)stored);
        return 0;
    }
    int64_t offset = json_get_int(msg, "offset", -1), end = json_get_int(msg, "end", -1);
    if (!json_is_string(lines) || offset < 0 || end < offset)
        return error_set(err, EINVAL, ERR_INVALID, "logs message: bad offset, end or lines");
    if ((r = db_begin(db, err)) < 0)
        return r;
    if ((r = read_offset(db, source, &stored, err)) < 0)
        goto fail;
    if (stored != offset) {
        db_rollback(db);
        *ret = json_pack("{s:I}", "offset", (json_int_t)stored);
        return 0;
    }
    int64_t now = time_now_ms();
    struct logs_group g;
    int64_t gid, sid;
    if ((r = logs_group_find(db, account, group, &g, err)) == 0) {
        gid = g.id;
    } else if (r == -ENOENT && json_get_bool(msg, "createGroup", false)) {
        error_free(*err);
        *err = NULL;
        if ((r = logs_group_create(db, account, group, now, &gid, err)) < 0)
            goto fail;
    } else {
        goto fail;
    }
    struct logs_inserter ins;
    if ((r = logs_stream_get(db, gid, stream, true, now, &sid, err)) < 0 ||
        (r = logs_insert_begin(db, gid, sid, now, &ins, err)) < 0)
        goto fail;
    r = logs_cri_parse(json_string_value(lines), json_string_length(lines), add_event, &ins);
    if (r < 0)
        r = db_fail(db, err, "insert events");
    else
        r = logs_insert_finish(&ins, err);
    logs_insert_done(&ins);
    if (r < 0)
        goto fail;
    sqlite3_stmt *st = db_stmt(db,
                               "INSERT INTO ship_offsets(source, offset, updated) VALUES (?, ?, ?) "
                               "ON CONFLICT(source) DO UPDATE SET offset = excluded.offset, "
                               "updated = excluded.updated",
                               err);
    if (!st) {
        r = -EIO;
        goto fail;
    }
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, end);
    sqlite3_bind_int64(st, 3, now);
    if ((r = db_exec_stmt(db, st, err)) < 0 || (r = db_commit(db, err)) < 0)
        goto fail;
    *ret = json_pack("{s:I}", "offset", (json_int_t)end);
    return 0;
fail:
    db_rollback(db);
    return r;
}
