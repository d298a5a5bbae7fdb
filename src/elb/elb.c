/* The ELBv2 operation table (plain query protocol, Version 2015-12-01). */
#include "elb/elb.h"
#include "elb/elb-internal.h"
#include "base/cleanup.h"

extern const char elb_model_json[];

static const struct api_op ops[] = {
    {"AddTags", elb_add_tags, API_OP_WRITE},
    {"CreateListener", elb_create_listener, API_OP_WRITE},
    {"CreateLoadBalancer", elb_create_load_balancer, API_OP_WRITE},
    {"CreateRule", elb_create_rule, API_OP_WRITE},
    {"CreateTargetGroup", elb_create_target_group, API_OP_WRITE},
    {"DeleteListener", elb_delete_listener, API_OP_WRITE},
    {"DeleteLoadBalancer", elb_delete_load_balancer, API_OP_WRITE},
    {"DeleteRule", elb_delete_rule, API_OP_WRITE},
    {"DeleteTargetGroup", elb_delete_target_group, API_OP_WRITE},
    {"DeregisterTargets", elb_deregister_targets, API_OP_WRITE},
    {"DescribeListeners", elb_describe_listeners, 0},
    {"DescribeLoadBalancerAttributes", elb_describe_load_balancer_attributes, 0},
    {"DescribeLoadBalancers", elb_describe_load_balancers, 0},
    {"DescribeRules", elb_describe_rules, 0},
    {"DescribeTags", elb_describe_tags, 0},
    {"DescribeTargetGroupAttributes", elb_describe_target_group_attributes, 0},
    {"DescribeTargetGroups", elb_describe_target_groups, 0},
    {"DescribeTargetHealth", elb_describe_target_health, 0},
    {"ModifyListener", elb_modify_listener, API_OP_WRITE},
    {"ModifyLoadBalancerAttributes", elb_modify_load_balancer_attributes, API_OP_WRITE},
    {"ModifyRule", elb_modify_rule, API_OP_WRITE},
    {"ModifyTargetGroup", elb_modify_target_group, API_OP_WRITE},
    {"ModifyTargetGroupAttributes", elb_modify_target_group_attributes, API_OP_WRITE},
    {"RegisterTargets", elb_register_targets, API_OP_WRITE},
    {"RemoveTags", elb_remove_tags, API_OP_WRITE},
    {"SetRulePriorities", elb_set_rule_priorities, API_OP_WRITE},
};

const struct api_service elb_api = {
    .name = "elbv2",
    .signing_name = "elasticloadbalancing",
    .model_json = elb_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
    .protocol = API_PROTOCOL_QUERY,
    .xml_namespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
};
