/* AWS Signature Version 4: the pieces a server needs to verify a request
 * signed in the Authorization header. Pure functions, no I/O, so they can
 * be checked against AWS's published test vectors. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "api/request.h"
#include "base/buf.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* The parts of "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=hex". Strings point into `storage`. */
struct sigv4_auth {
    const char *access_key;
    const char *date; /* YYYYMMDD */
    const char *region;
    const char *service;
    const char *terminator;
    const char *signed_headers; /* "a;b;c" */
    const char *signature;      /* 64 lowercase hex digits */
    char storage[1024];
};

/* Parses an Authorization header value; -EINVAL when it is not a well-formed
 * SigV4 header (a message for the client goes to *why). */
int sigv4_parse_authorization(const char *value, struct sigv4_auth *out, const char **why);

/* Appends the canonical request for req to out. signed_headers is the
 * semicolon-separated lowercase list from the Authorization header and
 * payload_hash the hex SHA-256 of the body (or the x-amz-content-sha256
 * value). Returns -EINVAL when a signed header is missing from the request
 * or the list is not sorted and unique. */
int sigv4_canonical_request(const struct api_request *req, const char *signed_headers,
                            const char *payload_hash, struct buf *out);

/* Appends "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical)>" to out. */
void sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canonical,
                          size_t canonical_len, struct buf *out);

/* Derives the signing key from the secret and the credential scope. */
void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t out[32]);

/* Hex HMAC-SHA256 of the string to sign under key (65 bytes with NUL). */
void sigv4_sign(const uint8_t key[32], const char *sts, size_t sts_len, char out[65]);

/* Appends s percent-encoded as SigV4 wants (unreserved characters kept;
 * '/' kept when keep_slash). */
void sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash);
