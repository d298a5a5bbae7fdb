/* Aligned text tables for the CLI's readable output: a header row (or none,
 * for key/value blocks) and rows of cells, printed in columns separated by
 * three spaces, each as wide as its widest cell. */
#pragma once

#include <stdio.h>

struct table;

/* A table with n_cols columns; headers (n_cols strings, borrowed) may be
 * NULL for a table without a header row. */
struct table *table_new(size_t n_cols, const char *const *headers);
void table_free(struct table *t);
/* Appends a row of n_cols cells, copied; a NULL cell prints as "-". */
void table_add(struct table *t, const char *const *cells);
/* Like table_add() from a list of exactly n_cols string arguments. */
void table_addv(struct table *t, ...);
size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *f);
