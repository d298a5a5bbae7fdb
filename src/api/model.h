/* Request validation against a botocore service model (the input shapes
 * embedded by scripts/gen-model.py).
 *
 * model_validate() walks a parsed JSON request along its input shape and
 * reports the first problem in the API's own terms:
 *   - a value of the wrong JSON type      -> SerializationException
 *   - a missing required member, a value outside an enum, a string, list or
 *     map longer or shorter than the model allows, a number out of range,
 *     a string longer than MODEL_MAX_STRING -> InvalidParameterException
 * Members the model does not know are ignored, as AWS does; JSON null counts
 * as absent. */
#pragma once

#include <jansson.h>

#include "base/error.h"

/* Cap for any string the model leaves unbounded (bytes). */
#define MODEL_MAX_STRING (64 * 1024)
/* Cap for any list or map the model leaves unbounded (entries). */
#define MODEL_MAX_ENTRIES 10000

struct model;

/* Parses the embedded model text; aborts on a malformed model (a build
 * error, not a runtime condition). */
struct model *model_new(const char *json_text);
void model_free(struct model *m);
/* Input shape name of operation op, or NULL when the model has no such
 * operation. */
const char *model_op_input(const struct model *m, const char *op);
/* A model metadata string (e.g. "targetPrefix"), or NULL. */
const char *model_metadata(const struct model *m, const char *key);
/* Validates value against shape (see above). 0 or -EINVAL with *err set. */
int model_validate(const struct model *m, const char *shape, const json_t *value,
                   struct error **err);
