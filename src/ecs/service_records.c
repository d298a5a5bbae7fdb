/* Service records both the API and the reconciler write: events and
 * deployments. */
#include "ecs/service.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <string.h>

int ecs_svc_event(struct db *db, const char *service_arn, int64_t now_ms, const char *message,
                  struct error **err)
{
    uint8_t b[16];
    char id[37];
    hash_random(b, sizeof(b));
    /* UUID-shaped, as ECS's event ids. */
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(id, sizeof(id), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    sqlite3_stmt *st = db_stmt(db,
                               "INSERT INTO service_events(service_arn, id, created_at, message) "
                               "VALUES (?1, ?2, ?3, ?4)",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    db_bind_text(st, 2, id);
    sqlite3_bind_int64(st, 3, now_ms);
    db_bind_text(st, 4, message);
    int r = db_exec_stmt(db, st, err);
    if (r < 0)
        return r;
    st = db_stmt(db,
                 "DELETE FROM service_events WHERE service_arn = ?1 AND seq <= "
                 "(SELECT seq FROM service_events WHERE service_arn = ?1 "
                 "ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    sqlite3_bind_int(st, 2, ECS_SVC_EVENTS_MAX);
    return db_exec_stmt(db, st, err);
}

int ecs_svc_deploy(struct db *db, const char *service_arn, const json_t *taskdef,
                   const json_t *spec, int64_t now_ms, char **ret_id, struct error **err)
{
    sqlite3_stmt *st = db_stmt(db,
                               "UPDATE deployments SET status = 'ACTIVE', updated_at = ?2 "
                               "WHERE service_arn = ?1 AND status = 'PRIMARY'",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    sqlite3_bind_int64(st, 2, now_ms);
    int r = db_exec_stmt(db, st, err);
    if (r < 0)
        return r;
    char id[28];
    ecs_svc_new_deployment_id(id);
    json_t *dspec = ecs_svc_deployment_spec(spec);
    _cleanup_free_ char *dspec_s = json_dump_compact(dspec);
    json_decref(dspec);
    _cleanup_free_ char *td_s = json_dump_compact(taskdef);
    _cleanup_free_ char *reason = xasprintf("ECS deployment %s in progress.", id);
    st = db_stmt(db,
                 "INSERT INTO deployments(id, service_arn, status, taskdef_arn, taskdef, spec, "
                 "rollout_state, rollout_reason, created_at, updated_at) "
                 "VALUES (?1, ?2, 'PRIMARY', ?3, ?4, ?5, 'IN_PROGRESS', ?6, ?7, ?7)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, service_arn);
    db_bind_text(st, 3, json_get_str(taskdef, "taskDefinitionArn"));
    db_bind_text(st, 4, td_s);
    db_bind_text(st, 5, dspec_s);
    db_bind_text(st, 6, reason);
    sqlite3_bind_int64(st, 7, now_ms);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    /* A new rollout starts with a clean slate: no backoff from the last. */
    st = db_stmt(db,
                 "UPDATE services SET fail_streak = 0, backoff_until = 0, steady = 0, "
                 "taskdef_arn = ?2, updated_at = ?3 WHERE arn = ?1",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, service_arn);
    db_bind_text(st, 2, json_get_str(taskdef, "taskDefinitionArn"));
    sqlite3_bind_int64(st, 3, now_ms);
    if ((r = db_exec_stmt(db, st, err)) < 0)
        return r;
    if (ret_id)
        *ret_id = xstrdup(id);
    return 0;
}
