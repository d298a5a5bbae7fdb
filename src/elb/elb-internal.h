/* Helpers shared by the ELBv2 operation files (see docs/elb.md). */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "base/error.h"
#include "base/json.h"

/* Error codes: the model's exception codes, and the query protocol's
 * generic ValidationError. */
#define ELB_VALIDATION       "ValidationError"
#define ELB_LB_NOT_FOUND     "LoadBalancerNotFound"
#define ELB_TG_NOT_FOUND     "TargetGroupNotFound"
#define ELB_LISTENER_NF      "ListenerNotFound"
#define ELB_RULE_NOT_FOUND   "RuleNotFound"
#define ELB_INVALID_CONFIG   "InvalidConfigurationRequest"
#define ELB_NOT_PERMITTED    "OperationNotPermitted"
#define ELB_IN_USE           "ResourceInUse"
#define ELB_INVALID_ACTION   "InvalidLoadBalancerAction"
#define ELB_UNSUPPORTED_PROT "UnsupportedProtocol"

/* AWS's default quotas. */
#define ELB_MAX_LBS          50
#define ELB_MAX_TGS          3000
#define ELB_MAX_LISTENERS    50
#define ELB_MAX_RULES        100 /* per load balancer, default rules not counted */
#define ELB_MAX_TARGETS      1000
#define ELB_MAX_TAGS         50
#define ELB_MAX_TARGET_REGS  100 /* registrations of one target id */
#define ELB_MAX_COND_VALUES  5
#define ELB_MAX_FORWARD_TGS  5
#define ELB_PAGE_MAX         400
#define ELB_DEFAULT_PRIORITY 50001 /* sorts the default rule after every other */

/* "arn:aws:elasticloadbalancing:REGION:ACCOUNT:" fmt..., a new string. */
char *elb_arn(const struct api_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 16 random lowercase hex digits (the id part of every ELB ARN). */
void elb_id_new(char out[17]);
/* ISO 8601 with milliseconds (2026-11-27T12:00:00.000Z), a new string. */
char *elb_timestamp(int64_t ms);
/* Load balancer and target group names: 1-32 letters, digits and '-',
 * not starting or ending with '-'. */
bool elb_name_valid(const char *name);
/* Parses dotted-quad IPv4 strictly into host byte order. */
int elb_ipv4_parse(const char *s, uint32_t *ret);
/* The CIDR block of vpc_id in the caller's account: *ret_net (host order)
 * and *ret_prefix; -ENOENT when there is no such VPC. */
int elb_vpc_cidr(struct api_ctx *ctx, const char *vpc_id, uint32_t *ret_net, int *ret_prefix,
                 struct error **err);

/* Rows the operations look up in the caller's account. Another account's
 * ARN is not found, never a leak. */
struct elb_lb {
    char arn[300];
    char name[40];
    char type[16]; /* application | network */
    char vpc_id[40];
};
int elb_lb_find(struct api_ctx *ctx, const char *arn, struct elb_lb *ret, struct error **err);

struct elb_tg {
    char arn[300];
    char name[40];
    char protocol[8];
    int port;
    char vpc_id[40];
};
int elb_tg_find(struct api_ctx *ctx, const char *arn, struct elb_tg *ret, struct error **err);

struct elb_listener {
    char arn[400];
    char lb_arn[300];
    char protocol[8];
    int port;
    struct elb_lb lb;
};
int elb_listener_find(struct api_ctx *ctx, const char *arn, struct elb_listener *ret,
                      struct error **err);

/* How many different strings list holds (a Describe call may name one
 * resource twice). */
size_t elb_unique_count(const json_t *list);

/* Pagination over items already in sort order ([{"key": K, "doc": D}]):
 * PageSize (default and max 400) and Marker (the opaque key of the last
 * item of the previous page). Sets out[member] to the page and
 * out["NextMarker"] when more items follow. */
int elb_page(const json_t *in, const json_t *items, const char *member, json_t *out,
             struct error **err);

/* Actions and conditions. elb_actions_check validates a Create/Modify
 * actions list for a listener of protocol on lb and normalises it into the
 * form Describe answers (*ret_actions, new) with the target groups it
 * forwards to in *ret_tgs (new array of ARNs). elb_conditions_check does
 * the same for rule conditions. */
int elb_actions_check(struct api_ctx *ctx, const struct elb_lb *lb, const json_t *actions,
                      json_t **ret_actions, json_t **ret_tgs, struct error **err);
int elb_conditions_check(const json_t *conditions, json_t **ret, struct error **err);
/* Records which target groups rule_arn forwards to (replacing what it had);
 * inside a transaction. TargetGroupAssociationLimit when one is in use by
 * another load balancer. */
int elb_rule_tgs_set(struct api_ctx *ctx, const char *rule_arn, const char *listener_arn,
                     const char *lb_arn, const json_t *tgs, struct error **err);

/* Inserts a rule of listener l (inside a transaction): priority, or the
 * default rule when is_default; conditions and actions normalised; tgs the
 * target groups its actions forward to. *ret_arn (optional) gets its ARN. */
int elb_rule_insert(struct api_ctx *ctx, const struct elb_listener *l, int priority,
                    bool is_default, const json_t *conditions, const json_t *actions,
                    const json_t *tgs, char **ret_arn, struct error **err);
/* Deletes the rules (with their tags and target group links) of the
 * listener, or the one rule, arn (inside a transaction). */
int elb_rules_drop(struct api_ctx *ctx, const char *listener_arn, const char *rule_arn,
                   struct error **err);

/* Tags (AWS [{Key, Value}] lists), per ARN. */
int elb_tags_check(const json_t *tags, struct error **err);
int elb_tags_put(struct api_ctx *ctx, const char *arn, const json_t *tags, struct error **err);
int elb_tags_drop(struct api_ctx *ctx, const char *arn, struct error **err);

/* Operation handlers. */
#define ELB_OP(name) int name(struct api_ctx *, const json_t *, json_t **, struct error **)
ELB_OP(elb_create_load_balancer);
ELB_OP(elb_describe_load_balancers);
ELB_OP(elb_delete_load_balancer);
ELB_OP(elb_describe_load_balancer_attributes);
ELB_OP(elb_modify_load_balancer_attributes);
ELB_OP(elb_create_target_group);
ELB_OP(elb_describe_target_groups);
ELB_OP(elb_modify_target_group);
ELB_OP(elb_delete_target_group);
ELB_OP(elb_describe_target_group_attributes);
ELB_OP(elb_modify_target_group_attributes);
ELB_OP(elb_register_targets);
ELB_OP(elb_deregister_targets);
ELB_OP(elb_describe_target_health);
ELB_OP(elb_create_listener);
ELB_OP(elb_describe_listeners);
ELB_OP(elb_modify_listener);
ELB_OP(elb_delete_listener);
ELB_OP(elb_create_rule);
ELB_OP(elb_describe_rules);
ELB_OP(elb_modify_rule);
ELB_OP(elb_delete_rule);
ELB_OP(elb_set_rule_priorities);
ELB_OP(elb_add_tags);
ELB_OP(elb_remove_tags);
ELB_OP(elb_describe_tags);
