/* Image references, normalised the way Docker does it:
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   user/app:1.2                 -> docker.io/user/app:1.2
 *   localhost:5000/app           -> localhost:5000/app:latest
 *   ghcr.io/o/r@sha256:<hex>     -> ghcr.io/o/r@sha256:<hex>
 *   ghcr.io/o/r:v1@sha256:<hex>  -> kept as is; the digest decides what is pulled
 *
 * The first path component is a registry host when it contains '.' or ':',
 * is "localhost", or has upper-case letters; otherwise the registry is
 * docker.io, whose one-component names live under library/. index.docker.io
 * is spelled docker.io. Repository paths are lower case; tags are
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; only sha256 digests are accepted (the
 * content store verifies them). */
#pragma once

#include <stdbool.h>

#include "base/error.h"

#define IMG_REF_MAX_NAME 255 /* domain + '/' + path, as Docker */

struct img_ref {
    char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* NULL when the reference names only a digest */
    char *digest; /* "sha256:<64 lowercase hex>" or NULL */
};

/* Parses and normalises s into *ret (which the caller releases with
 * img_ref_done()). On failure returns -EINVAL with *err set
 * (InvalidParameterException) and leaves *ret untouched. */
int img_ref_parse(const char *s, struct img_ref *ret, struct error **err);
/* Frees the members; NULL-safe and idempotent. */
void img_ref_done(struct img_ref *r);
/* The normalised reference "domain/path[:tag][@digest]" as a new string. */
char *img_ref_format(const struct img_ref *r);
/* "domain/path" as a new string. */
char *img_ref_name(const struct img_ref *r);
/* True when s is "sha256:" followed by 64 lowercase hex digits. */
bool img_digest_valid(const char *s);
