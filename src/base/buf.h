/* Growable byte buffer with a hard cap (curl's dynbuf): input can never grow
 * it past `cap` bytes. The content is always NUL-terminated. */
#pragma once

#include <stddef.h>
#include <stdarg.h>

struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap; /* 0 = no cap */
};

void buf_init(struct buf *b, size_t cap);
void buf_done(struct buf *b);
/* Appends n bytes; returns -E2BIG (leaving the buffer unchanged) past the cap. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hands the data out (caller frees) and leaves the buffer empty. */
char *buf_steal(struct buf *b);
