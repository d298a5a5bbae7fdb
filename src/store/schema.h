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

/* state.db: the control plane's migrations, with an integrity check at open. */
struct store_schema;
extern const struct store_schema store_state_schema;
