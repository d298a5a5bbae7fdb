/* Secrets: a subset of AWS Secrets Manager (docs/secrets.md).
 *
 * Secrets belong to one account; each holds versions whose values are
 * encrypted at rest (AES-256-GCM under DATA-DIR/secrets.key) and carry
 * staging labels (AWSCURRENT, AWSPREVIOUS, ...). Values are never logged
 * and never appear in error messages. */
#pragma once

#include <jansson.h>

#include "api/api.h"
#include "base/error.h"

struct db;

/* The secretsmanager API (X-Amz-Target "secretsmanager.*"). */
extern const struct api_service secrets_api;

/* Loads DATA-DIR/secrets.key, creating it (32 random bytes, mode 0600) on
 * first start. Call once before threads; until it succeeds every operation
 * that touches a value fails with an internal error. */
int secrets_init(const char *data_dir, struct error **err);

/* The AWSCURRENT SecretString of the secret `ref` (a name, a full ARN or an
 * ARN without the random suffix) of `account` in `region`, as a new string
 * in *ret. -ENOENT (ResourceNotFoundException) when there is none, -EINVAL
 * (InvalidRequestException) when it is scheduled for deletion or holds a
 * binary value. The message never contains the value. */
int secrets_get_string(struct db *db, const char *account, const char *region, const char *ref,
                       char **ret, struct error **err);

/* Resolves the repositoryCredentials of every container of a task
 * definition (a TaskDefinition document) of `account`: *ret is a new object
 * {"<container name>": {"username": ..., "password": ...}} (empty when no
 * container names credentials). On failure *err holds the reason a task
 * reports, in ECS's words ("ResourceInitializationError: unable to pull
 * secrets or registry auth: ...") and the function returns a negative errno. */
int secrets_task_registry_auth(struct db *db, const char *account, const char *region,
                               const json_t *taskdef, json_t **ret, struct error **err);
