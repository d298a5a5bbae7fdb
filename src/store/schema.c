#include "store/schema.h"
#include "base/cleanup.h"

const struct store_migration store_migrations[] = {
    {1, "CREATE TABLE clusters ("
        "  arn TEXT PRIMARY KEY,"
        "  account TEXT NOT NULL,"
        "  name TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  settings TEXT NOT NULL DEFAULT '[]',"
        "  configuration TEXT,"
        "  capacity_providers TEXT NOT NULL DEFAULT '[]',"
        "  default_strategy TEXT NOT NULL DEFAULT '[]',"
        "  service_connect TEXT,"
        "  UNIQUE(account, name));"
        "CREATE TABLE task_definitions ("
        "  arn TEXT PRIMARY KEY,"
        "  account TEXT NOT NULL,"
        "  family TEXT NOT NULL,"
        "  revision INTEGER NOT NULL,"
        "  status TEXT NOT NULL,"
        "  registered_at INTEGER NOT NULL,"
        "  deregistered_at INTEGER,"
        "  doc TEXT NOT NULL,"
        "  UNIQUE(account, family, revision));"
        "CREATE INDEX task_definitions_family ON task_definitions(account, family, status);"
        "CREATE TABLE tags ("
        "  arn TEXT NOT NULL,"
        "  account TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  value TEXT NOT NULL,"
        "  PRIMARY KEY(arn, key));"
        "CREATE INDEX tags_account ON tags(account, key);"},
    /* Task definition revisions are numbered per (account, family) and never
     * reused, even after DeleteTaskDefinitions removed every row: the last
     * revision handed out lives here. */
    {2, "CREATE TABLE task_definition_families ("
        "  account TEXT NOT NULL,"
        "  family TEXT NOT NULL,"
        "  last_revision INTEGER NOT NULL,"
        "  PRIMARY KEY(account, family));"
        "INSERT INTO task_definition_families(account, family, last_revision) "
        "  SELECT account, family, MAX(revision) FROM task_definitions GROUP BY account, family;"},
    /* Images (src/image): what each pulled reference resolved to, and the
     * unpacked size of each shared layer directory. Host-wide, not per
     * account: the content store is shared by every task on the host. */
    {3, "CREATE TABLE images ("
        "  reference TEXT PRIMARY KEY,"
        "  digest TEXT NOT NULL,"
        "  index_digest TEXT,"
        "  config_digest TEXT NOT NULL,"
        "  media_type TEXT NOT NULL,"
        "  layers TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  pulled_at INTEGER NOT NULL,"
        "  last_used INTEGER NOT NULL);"
        "CREATE INDEX images_digest ON images(digest);"
        "CREATE INDEX images_last_used ON images(last_used);"
        "CREATE TABLE image_layers ("
        "  diff_id TEXT PRIMARY KEY,"
        "  size INTEGER NOT NULL,"
        "  created_at INTEGER NOT NULL);"},
};

const size_t store_migrations_count = ARRAY_SIZE(store_migrations);
