/* Shared by the files of src/secrets. */
#pragma once

#include <stddef.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "base/error.h"

#define SECRETS_KEY_LEN   32
#define SECRETS_NONCE_LEN 12
#define SECRETS_TAG_LEN   16
/* Secrets Manager's limit on SecretString / SecretBinary. */
#define SECRETS_VALUE_MAX 65536

#define ERR_SM_EXISTS  "ResourceExistsException"
#define ERR_SM_REQUEST "InvalidRequestException"
#define ERR_SM_TOKEN   "InvalidNextTokenException"
#define ERR_SM_LIMIT   "LimitExceededException"

/* Encrypts len bytes of plain with the data dir's key (AES-256-GCM, a fresh
 * random nonce, aad bound as additional data): *ret is nonce || ciphertext
 * || tag, *ret_len its size. Fails only without a key. */
int secrets_seal(const char *aad, const void *plain, size_t len, uint8_t **ret, size_t *ret_len,
                 struct error **err);
/* Decrypts what secrets_seal wrote for the same aad into a new
 * NUL-terminated buffer; -EBADMSG when it does not authenticate. */
int secrets_unseal(const char *aad, const uint8_t *sealed, size_t len, char **ret, size_t *ret_len,
                   struct error **err);
/* Uses key as the sealing key (tests). */
void secrets_set_key(const uint8_t key[SECRETS_KEY_LEN]);

struct db;

/* One secret row. */
struct secret {
    char *arn;
    char *name;
    char *description; /* NULL when none */
    char *kms_key_id;  /* NULL when none */
    json_t *tags;      /* [{Key, Value}] */
    int64_t created_ms, changed_ms;
    int64_t deleted_ms; /* 0 unless scheduled for deletion */
    int64_t purge_ms;   /* when a scheduled deletion happens */
};

void secret_done(struct secret *s);

/* Finds the secret `id` (name, ARN, or ARN without the random suffix) of
 * account in region, not yet purged, at time now. -ENOENT with *err
 * (ResourceNotFoundException) when there is none. */
int secrets_lookup(struct db *db, const char *account, const char *region, const char *id,
                   int64_t now_ms, struct secret *ret, struct error **err);

/* A version's value, decrypted: string (SecretString) or base64 text of a
 * SecretBinary, NUL-terminated. */
struct secret_value {
    char *version_id;
    char *data;
    size_t len;
    bool binary;
    int64_t created_ms;
};

void secret_value_done(struct secret_value *v);

/* Reads the version of s named by version_id and/or stage (stage defaults
 * to AWSCURRENT when both are NULL). -ENOENT (ResourceNotFoundException)
 * when there is none. */
int secrets_value_get(struct db *db, const struct secret *s, const char *version_id,
                      const char *stage, struct secret_value *ret, struct error **err);

/* The staging labels of one version as a new JSON array. */
int secrets_version_stages(struct db *db, const char *arn, const char *version_id, json_t **ret,
                           struct error **err);

/* Operation handlers. */
int secrets_create(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_describe(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_list(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_update(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_delete(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_restore(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_tag(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_untag(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_get_value(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_put_value(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_list_versions(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_update_stage(struct api_ctx *, const json_t *, json_t **, struct error **);
int secrets_random_password(struct api_ctx *, const json_t *, json_t **, struct error **);

/* Adds a version to s from in's SecretString / SecretBinary and
 * ClientRequestToken, labelled with stages (NULL: AWSCURRENT); moves
 * AWSCURRENT's old holder to AWSPREVIOUS. Inside a transaction. A request
 * without a value adds nothing (*ret_version NULL). */
int secrets_version_add(struct api_ctx *ctx, const struct secret *s, const json_t *in,
                        const json_t *stages, char **ret_version, struct error **err);
