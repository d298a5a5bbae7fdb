/* The log store and the CloudWatch Logs API (Logs_20140328), shapes from
 * the botocore logs 2014-03-28 model. See docs/logs.md.
 *
 * Events live in their own SQLite file, DATA-DIR/logs.db (WAL,
 * synchronous=FULL), apart from state.db so that heavy ingest never holds
 * the control plane's write lock. Each thread takes its own connection. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "base/error.h"

struct logs_store;

/* Opens (creating if needed) the log store at path and starts its
 * retention sweeper (every sweep_ms; 0: one minute). */
int logs_store_open(const char *path, int64_t sweep_ms, struct logs_store **ret,
                    struct error **err);
/* Stops the sweeper and closes every connection; NULL-safe. */
void logs_store_free(struct logs_store *ls);

/* The API service. Its handlers use the store given to logs_api_init
 * (borrowed; it must outlive the API server). */
extern const struct api_service logs_api;
void logs_api_init(struct logs_store *ls);

/* The control plane's side of the node protocol's "logs" message (see
 * sched/node.h): a node_logs_fn whose cp is the struct logs_store. Applies
 * the batch and answers {"offset": committed} — the inserted lines and the
 * new offset are one transaction, so a batch is stored exactly once. */
int logs_ingest(void *cp, const json_t *msg, json_t **ret, struct error **err);

/* Deletes the events older than their group's retention; 0 or -errno. */
int logs_retention_sweep(struct logs_store *ls, int64_t now_ms, struct error **err);
