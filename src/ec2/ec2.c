/* The EC2 operation table (query protocol, dialect "ec2"). */
#include "ec2/ec2.h"
#include "ec2/ec2-internal.h"
#include "base/cleanup.h"

extern const char ec2_model_json[];

static const struct api_op ops[] = {
    {"AuthorizeSecurityGroupEgress", ec2_authorize_egress, API_OP_WRITE},
    {"AuthorizeSecurityGroupIngress", ec2_authorize_ingress, API_OP_WRITE},
    {"CreateSecurityGroup", ec2_create_security_group, API_OP_WRITE},
    {"CreateSubnet", ec2_create_subnet, API_OP_WRITE},
    {"CreateTags", ec2_create_tags, API_OP_WRITE},
    {"CreateVpc", ec2_create_vpc, API_OP_WRITE},
    {"DeleteSecurityGroup", ec2_delete_security_group, API_OP_WRITE},
    {"DeleteSubnet", ec2_delete_subnet, API_OP_WRITE},
    {"DeleteTags", ec2_delete_tags, API_OP_WRITE},
    {"DeleteVpc", ec2_delete_vpc, API_OP_WRITE},
    {"DescribeNetworkInterfaces", ec2_describe_network_interfaces, 0},
    {"DescribeSecurityGroupRules", ec2_describe_security_group_rules, 0},
    {"DescribeSecurityGroups", ec2_describe_security_groups, 0},
    {"DescribeSubnets", ec2_describe_subnets, 0},
    {"DescribeTags", ec2_describe_tags, 0},
    {"DescribeVpcs", ec2_describe_vpcs, 0},
    {"RevokeSecurityGroupEgress", ec2_revoke_egress, API_OP_WRITE},
    {"RevokeSecurityGroupIngress", ec2_revoke_ingress, API_OP_WRITE},
};

const struct api_service ec2_api = {
    .name = "ec2",
    .signing_name = "ec2",
    .model_json = ec2_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
    .protocol = API_PROTOCOL_EC2,
    .xml_namespace = "http://ec2.amazonaws.com/doc/2016-11-15/",
};
