/* The secretsmanager API surface: operation table (docs/secrets.md). */
#include "secrets/secrets.h"
#include "secrets/secrets-internal.h"
#include "base/cleanup.h"

extern const char secretsmanager_model_json[];

static const struct api_op ops[] = {
    {"CreateSecret", secrets_create, API_OP_WRITE},
    {"DeleteSecret", secrets_delete, API_OP_WRITE},
    {"DescribeSecret", secrets_describe, 0},
    {"GetRandomPassword", secrets_random_password, 0},
    {"GetSecretValue", secrets_get_value, 0},
    {"ListSecretVersionIds", secrets_list_versions, 0},
    {"ListSecrets", secrets_list, 0},
    {"PutSecretValue", secrets_put_value, API_OP_WRITE},
    {"RestoreSecret", secrets_restore, API_OP_WRITE},
    {"TagResource", secrets_tag, API_OP_WRITE},
    {"UntagResource", secrets_untag, API_OP_WRITE},
    {"UpdateSecret", secrets_update, API_OP_WRITE},
    {"UpdateSecretVersionStage", secrets_update_stage, API_OP_WRITE},
};

const struct api_service secrets_api = {
    .name = "secretsmanager",
    .signing_name = "secretsmanager",
    .target_prefix = "secretsmanager",
    .model_json = secretsmanager_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
};
