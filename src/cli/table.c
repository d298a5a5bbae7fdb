#include "cli/table.h"
#include "base/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_GAP 3

struct table {
    size_t n_cols;
    size_t n_rows; /* the header row included when present */
    int has_header;
    char **cells; /* n_rows * n_cols */
};

struct table *table_new(size_t n_cols, const char *const *headers)
{
    struct table *t = xzalloc(sizeof(*t));
    t->n_cols = n_cols;
    if (headers) {
        t->has_header = 1;
        table_add(t, headers);
    }
    return t;
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void table_add(struct table *t, const char *const *cells)
{
    t->cells = xrealloc(t->cells, (t->n_rows + 1) * t->n_cols * sizeof(*t->cells));
    for (size_t c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * t->n_cols + c] = xstrdup(cells[c] ? cells[c] : "-");
    t->n_rows++;
}

void table_addv(struct table *t, ...)
{
    const char **cells = xcalloc(t->n_cols, sizeof(*cells));
    va_list ap;
    va_start(ap, t);
    for (size_t c = 0; c < t->n_cols; c++)
        cells[c] = va_arg(ap, const char *);
    va_end(ap);
    table_add(t, cells);
    free(cells);
}

size_t table_rows(const struct table *t)
{
    return t->n_rows - (t->has_header ? 1 : 0);
}

/* Display width: UTF-8 code points, not bytes. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void table_print(const struct table *t, FILE *f)
{
    size_t *widths = xcalloc(t->n_cols, sizeof(*widths));
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < t->n_cols; c++) {
            size_t w = width(t->cells[r * t->n_cols + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[r * t->n_cols + c];
            fputs(cell, f);
            /* No trailing blanks after the last column. */
            if (c + 1 < t->n_cols)
                fprintf(f, "%*s", (int)(widths[c] - width(cell) + TABLE_GAP), "");
        }
        fputc('\n', f);
    }
    free(widths);
}
