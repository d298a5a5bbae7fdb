#include "base/error.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int error_set(struct error **err, int errnum, const char *type, const char *fmt, ...)
{
    if (errnum <= 0)
        errnum = EIO;
    if (err && !*err) {
        struct error *e = xzalloc(sizeof(*e));
        va_list ap;
        va_start(ap, fmt);
        e->msg = xvasprintf(fmt, ap);
        va_end(ap);
        e->errnum = errnum;
        e->type = type;
        *err = e;
    }
    return -errnum;
}

int error_errno(struct error **err, int errnum, const char *fmt, ...)
{
    if (errnum <= 0)
        errnum = EIO;
    if (err && !*err) {
        va_list ap;
        va_start(ap, fmt);
        char *m = xvasprintf(fmt, ap);
        va_end(ap);
        error_set(err, errnum, NULL, "%s: %s", m, strerror(errnum));
        free(m);
    }
    return -errnum;
}

int error_wrap(struct error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char *m = xasprintf("%s: %s", ctx, (*err)->msg);
    free(ctx);
    free((*err)->msg);
    (*err)->msg = m;
    return -(*err)->errnum;
}

void error_free(struct error *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e);
}
