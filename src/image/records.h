/* Image records in the store (records.c), for the image module's own
 * files; other modules use image.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "image/image.h"

struct db;

/* Inserts or replaces the record of i->reference (in its own
 * transaction). */
int img_record_put(struct db *db, const struct img_info *i, struct error **err);
/* Records the unpacked size of a layer directory. */
int img_record_layer(struct db *db, const char *diff_id, int64_t size, int64_t now_ms,
                     struct error **err);
/* True when the runtime's in-use hook claims reference. */
bool img_in_use(const char *reference);
/* Like img_get() without the config. */
int img_record_find(struct db *db, const char *reference, struct img_info **ret,
                    struct error **err);
/* Sets the auth_required flag of reference's record, if it still names
 * the manifest digest. */
int img_record_set_auth_required(struct db *db, const char *reference, const char *digest,
                                 bool required, struct error **err);
