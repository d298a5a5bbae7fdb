/* Accounts and their access keys, read from DATA-DIR/credentials: an
 * AWS-style INI file in which each profile carries aws_access_key_id,
 * aws_secret_access_key, account_id and optionally aws_session_token. The
 * aws CLI reads the same file (AWS_SHARED_CREDENTIALS_FILE). */
#pragma once

#include <stddef.h>

#include "base/error.h"

#define ACCOUNT_ID_LEN 12

struct account {
    char *profile;
    char *access_key;
    char *secret;
    char *account_id;
    char *session_token; /* NULL when the profile has none */
};

struct accounts;

/* Writes a fresh credentials file with a `default` profile (random 12-digit
 * account id not starting with 0, random keys, mode 0600) unless path
 * already exists, which is left alone. The file appears whole or not at
 * all (written under a temporary name in the same directory, then linked). */
int accounts_init_file(const char *path, struct error **err);
/* Parses the file; a profile missing a key (an empty value counts as
 * missing) or with a malformed account id, a profile named twice and two
 * profiles sharing an access key are errors naming the profile or line.
 * Keys other than the four above are ignored; '#' and ';' start comment
 * lines. */
int accounts_load(const char *path, struct accounts **ret, struct error **err);
/* Parses INI text (for tests and the fuzzer). */
int accounts_parse(const char *text, struct accounts **ret, struct error **err);
void accounts_free(struct accounts *a);
/* The account owning access_key, or NULL. */
const struct account *accounts_find(const struct accounts *a, const char *access_key);
/* The n-th profile (for listing), or NULL past the end. */
const struct account *accounts_at(const struct accounts *a, size_t n);
