/* libFuzzer harness for the query protocol decoder (src/api/query.c): the
 * input is a form-encoded body, decoded along the embedded ec2 model in
 * both dialects. Whatever the input, decoding ends with a JSON object or an
 * error with a code, never an internal (code-less) error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"

extern const char ec2_model_json[];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *model;
    if (!model)
        model = json_loads(ec2_model_json, 0, NULL);
    for (int d = 0; d < 2; d++) {
        char *action = NULL;
        json_t *in = NULL;
        struct error *err = NULL;
        int r = query_decode(model, d ? QUERY_DIALECT_AWS : QUERY_DIALECT_EC2, (const char *)data,
                             size, &action, &in, &err);
        if (r < 0 && (!err || !err->type))
            abort();
        if (r == 0 && !json_is_object(in))
            abort();
        free(action);
        json_decref(in);
        error_free(err);
    }
    return 0;
}
