/* Task definitions (placeholder until the task definition work lands). */
#include "ecs/ecs-internal.h"

#include <errno.h>

#define NOT_YET(fn)                                                                                \
    int fn(struct api_ctx *ctx, const json_t *in, json_t **out, struct error **err)                \
    {                                                                                              \
        (void)ctx;                                                                                 \
        (void)in;                                                                                  \
        (void)out;                                                                                 \
        return error_set(err, ENOSYS, ERR_CLIENT, "not implemented yet");                          \
    }

NOT_YET(ecs_register_task_definition)
NOT_YET(ecs_describe_task_definition)
NOT_YET(ecs_list_task_definitions)
NOT_YET(ecs_list_task_definition_families)
NOT_YET(ecs_deregister_task_definition)
NOT_YET(ecs_delete_task_definitions)
