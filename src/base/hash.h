/* SHA-256, HMAC-SHA256, hex and base64 helpers (OpenSSL underneath). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define HASH_SHA256_LEN 32

void hash_sha256(const void *data, size_t len, uint8_t out[HASH_SHA256_LEN]);
void hash_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[HASH_SHA256_LEN]);
/* Writes 2*len lowercase hex digits plus NUL into out. */
void hash_hex(const uint8_t *in, size_t len, char *out);
/* Constant-time comparison of two equal-length byte strings. */
bool hash_equal(const void *a, const void *b, size_t len);
/* Base64url without padding; returns a new string. */
char *hash_b64url_encode(const void *data, size_t len);
/* Decodes base64url (padding optional); returns length or -EINVAL. out must
 * hold at least len*3/4+3 bytes. */
long hash_b64url_decode(const char *in, size_t len, uint8_t *out);
/* Fills buf with cryptographically random bytes (getrandom). */
void hash_random(void *buf, size_t len);
