/* Error values carried up the stack (crun's libcrun_error pattern).
 *
 * A fallible function returns 0 or a negative errno and, on failure, fills
 * *err with a struct error it allocates. Callers add context with
 * error_wrap() as the error climbs; the top level prints it once (as an API
 * error or a log line) and frees it with error_free().
 *
 * `type` is the AWS error code the API answers with (for example
 * "ClientException"); NULL means an internal failure (ServerException). It
 * always points at a string literal. */
#pragma once

#include <stdarg.h>

struct error {
    int errnum;       /* positive errno */
    const char *type; /* AWS error code or NULL */
    char *msg;
};

/* Sets *err (when err is non-NULL and *err is NULL) and returns -errnum. */
int error_set(struct error **err, int errnum, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like error_set() with errno's text appended to the message. */
int error_errno(struct error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message with "context: "; returns -errnum of the error (or
 * -EIO when *err is unset). */
int error_wrap(struct error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees an error; NULL-safe. */
void error_free(struct error *e);
static inline void error_freep(struct error **e)
{
    error_free(*e);
    *e = (void *)0;
}
#define _cleanup_error_ __attribute__((cleanup(error_freep)))

/* Frequently used AWS error codes. */
#define ERR_CLIENT     "ClientException"
#define ERR_INVALID    "InvalidParameterException"
#define ERR_SERVER     "ServerException"
#define ERR_SERIALIZE  "SerializationException"
#define ERR_CLUSTER_NF "ClusterNotFoundException"
#define ERR_NOT_FOUND  "ResourceNotFoundException"
#define ERR_THROTTLE   "ThrottlingException"
