/* The ECS operation table. */
#include "ecs/ecs.h"
#include "ecs/ecs-internal.h"
#include "base/cleanup.h"

extern const char ecs_model_json[];

static const struct api_op ops[] = {
    {"CreateCluster", ecs_create_cluster, API_OP_WRITE},
    {"CreateService", ecs_create_service, API_OP_WRITE},
    {"DeleteCluster", ecs_delete_cluster, API_OP_WRITE},
    {"DeleteService", ecs_delete_service, API_OP_WRITE},
    {"DeleteTaskDefinitions", ecs_delete_task_definitions, API_OP_WRITE},
    {"DeregisterTaskDefinition", ecs_deregister_task_definition, API_OP_WRITE},
    {"DescribeCapacityProviders", ecs_describe_capacity_providers, 0},
    {"DescribeClusters", ecs_describe_clusters, 0},
    {"DescribeServices", ecs_describe_services, 0},
    {"DescribeTaskDefinition", ecs_describe_task_definition, 0},
    {"DescribeTasks", ecs_describe_tasks, 0},
    {"ListClusters", ecs_list_clusters, 0},
    {"ListServices", ecs_list_services, 0},
    {"ListTagsForResource", ecs_list_tags_for_resource, 0},
    {"ListTaskDefinitionFamilies", ecs_list_task_definition_families, 0},
    {"ListTaskDefinitions", ecs_list_task_definitions, 0},
    {"ListTasks", ecs_list_tasks, 0},
    {"PutClusterCapacityProviders", ecs_put_cluster_capacity_providers, API_OP_WRITE},
    {"RegisterTaskDefinition", ecs_register_task_definition, API_OP_WRITE},
    {"RunTask", ecs_run_task, API_OP_WRITE},
    {"StopTask", ecs_stop_task, API_OP_WRITE},
    {"TagResource", ecs_tag_resource, API_OP_WRITE},
    {"UntagResource", ecs_untag_resource, API_OP_WRITE},
    {"UpdateCluster", ecs_update_cluster, API_OP_WRITE},
    {"UpdateClusterSettings", ecs_update_cluster_settings, API_OP_WRITE},
    {"UpdateService", ecs_update_service, API_OP_WRITE},
};

const struct api_service ecs_api = {
    .name = "ecs",
    .signing_name = "ecs",
    .target_prefix = "AmazonEC2ContainerServiceV20141113",
    .model_json = ecs_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
};
