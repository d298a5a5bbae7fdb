/* Schema migrations, applied in order; the version table records how far a
 * database has come. Append new migrations, never edit old ones. */
#pragma once

#include <stddef.h>

struct store_migration {
    int version;
    const char *sql;
};

extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;
