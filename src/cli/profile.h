/* The signing identity of the CLI: one named profile of an AWS-style
 * credentials file (skiffd's DATA-DIR/credentials or any file the aws CLI
 * reads), parsed by the server's own reader (api/accounts.h). */
#pragma once

#include "base/error.h"

struct profile {
    char *name;
    char *access_key;
    char *secret;
    char *session_token; /* NULL when the profile has none */
};

/* Reads the credentials file at path and copies out profile `name`. Fails
 * with a message naming the file when it cannot be read or parsed, or when
 * it holds no such profile. */
int profile_load(const char *path, const char *name, struct profile **ret, struct error **err);
/* A profile built from explicit keys (AWS_ACCESS_KEY_ID and friends). */
struct profile *profile_new(const char *name, const char *access_key, const char *secret,
                            const char *session_token);
/* NULL-safe; wipes the secret. */
void profile_free(struct profile *p);
