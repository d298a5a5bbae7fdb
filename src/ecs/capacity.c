/* DescribeCapacityProviders: skiff has exactly the two built-in Fargate
 * providers, as every ECS account does. */
#include "ecs/ecs-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <string.h>

static json_t *provider(struct api_ctx *ctx, const char *name)
{
    _cleanup_free_ char *arn = ecs_arn(ctx, "capacity-provider/%s", name);
    return json_pack("{s:s, s:s, s:s, s:[]}", "capacityProviderArn", arn, "name", name, "status",
                     "ACTIVE", "tags");
}

int ecs_describe_capacity_providers(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                                    struct error **err)
{
    static const char *const names[] = {"FARGATE", "FARGATE_SPOT"};
    json_t *wanted = json_get_array(in, "capacityProviders");
    int limit = 0;
    _cleanup_free_ char *after = NULL;
    int r = ecs_page_args(in, 10, 10, &limit, &after, err);
    if (r < 0)
        return r;
    json_t *list = json_array(), *failures = json_array();
    json_t *token = NULL;
    if (!wanted || !json_array_size(wanted)) {
        /* Pages in name order; the token is the last name answered. */
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
            if (after && strcmp(names[i], after) <= 0)
                continue;
            if ((int)json_array_size(list) == limit) {
                token = ecs_page_token(names[i - 1]);
                break;
            }
            json_array_append_new(list, provider(ctx, names[i]));
        }
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(wanted, i, v)
        {
            const char *ref = json_string_value(v);
            const char *found = NULL;
            for (size_t k = 0; k < 2; k++) {
                _cleanup_free_ char *arn = ecs_arn(ctx, "capacity-provider/%s", names[k]);
                if (!strcmp(ref, names[k]) || !strcmp(ref, arn))
                    found = names[k];
            }
            if (found)
                json_array_append_new(list, provider(ctx, found));
            else
                json_array_append_new(failures,
                                      json_pack("{s:s, s:s}", "arn", ref, "reason", "MISSING"));
        }
    }
    *ret_out = json_pack("{s:o, s:o}", "capacityProviders", list, "failures", failures);
    if (token)
        json_object_set_new(*ret_out, "nextToken", token);
    return 0;
}
