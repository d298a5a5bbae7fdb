/* Helpers shared by the EC2 operation files. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "base/error.h"
#include "base/json.h"

/* EC2 error codes (the botocore ec2 model names none; these are AWS's). */
#define EC2_INVALID_VALUE "InvalidParameterValue"
#define EC2_MISSING       "MissingParameter"

/* An IPv4 CIDR block; net is in host byte order with its host bits zero. */
struct ec2_cidr {
    uint32_t net;
    int prefix;
};

/* Parses a.b.c.d/n strictly; the host bits are cleared (AWS canonicalises
 * 10.0.0.5/16 to 10.0.0.0/16). -EINVAL on anything else. */
int ec2_cidr_parse(const char *s, struct ec2_cidr *ret);
/* Writes a.b.c.d/n (at most 19 bytes with NUL). */
void ec2_cidr_format(const struct ec2_cidr *c, char out[20]);
/* Writes a.b.c.d (at most 16 bytes with NUL). */
void ec2_addr_format(uint32_t addr, char out[16]);
bool ec2_cidr_contains(const struct ec2_cidr *outer, const struct ec2_cidr *inner);
bool ec2_cidr_overlap(const struct ec2_cidr *a, const struct ec2_cidr *b);

/* A new resource id: prefix "-" and 17 hex digits (vpc-0a1b...). */
char *ec2_id_new(const char *prefix);

/* Answers DryRunOperation when the request set DryRun (after the caller's
 * checks passed, as AWS does). */
int ec2_dry_run(const json_t *in, struct error **err);

/* Creates the account's default VPC (172.31.0.0/16), default subnet and
 * default security group on its first EC2 or RunTask call. Idempotent; runs
 * its own transaction (call outside one). */
int ec2_default_vpc_ensure(struct api_ctx *ctx, struct error **err);
/* The same, inside the caller's open transaction. */
int ec2_default_vpc_create(struct api_ctx *ctx, struct error **err);

/* Inserts a security group with AWS's default egress rule (all traffic to
 * 0.0.0.0/0); the default group also admits its own members. Call inside a
 * transaction. */
int ec2_sg_insert(struct api_ctx *ctx, const char *id, const char *vpc_id, const char *name,
                  const char *description, bool is_default, struct error **err);

/* One security group rule, normalised: protocol is "-1" (all), "tcp",
 * "udp", "icmp" or a protocol number; from/to are -1 when the protocol has
 * no ports (or for all ICMP types/codes); exactly one of cidr and
 * ref_group is set. */
struct ec2_rule {
    bool egress;
    const char *protocol;
    int from, to;
    const char *cidr;
    const char *ref_group;
    const char *description;
};

/* Inserts a rule of group_id (inside a transaction); *ret_id (optional)
 * gets the new sgr- id. InvalidPermission.Duplicate when an equal rule
 * exists. */
int ec2_rule_insert(struct api_ctx *ctx, const char *group_id, const struct ec2_rule *rule,
                    char **ret_id, struct error **err);
/* Resolves GroupId, or else GroupName in the default VPC, to a group of the
 * caller's account (new strings; ret_vpc optional). InvalidGroup.NotFound
 * otherwise. */
int ec2_sg_resolve(struct api_ctx *ctx, const char *group_id, const char *group_name, char **ret_id,
                   char **ret_vpc, struct error **err);

/* Filters. A resource is described by attrs, {filter-name: [values]}, and
 * its tags {key: value}; filters ([{Name, Values}]) match when every filter
 * matches one of its values ('*' and '?' wildcards, as AWS). allowed lists
 * the filter names the operation knows (NULL-terminated); tag:KEY, tag-key
 * and tag-value are always allowed. ec2_filters_check() refuses unknown
 * names with InvalidParameterValue. */
int ec2_filters_check(const json_t *filters, const char *const *allowed, struct error **err);
bool ec2_filters_match(const json_t *filters, const json_t *attrs, const json_t *tags);

/* The walk of a Describe call over the caller's rows (st bound, column 0
 * the resource id): a row whose id is among ids (every row when ids is
 * empty) gets its tags, and row() sets *ret_doc to its item when the
 * filters match it (NULL otherwise). An asked-for id that no row has is
 * not_found ("The <id_noun> '<id>' does not exist"). *ret_set gets the
 * items. */
struct ec2_walk {
    const json_t *ids;
    const json_t *filters;
    const char *read_what; /* "read vpcs" */
    const char *not_found; /* InvalidVpcID.NotFound */
    const char *id_noun;   /* vpc ID */
    int (*row)(struct api_ctx *ctx, sqlite3_stmt *st, const json_t *tags, const json_t *filters,
               json_t **ret_doc, struct error **err);
};
int ec2_describe_walk(struct api_ctx *ctx, sqlite3_stmt *st, const struct ec2_walk *w,
                      json_t **ret_set, struct error **err);

/* Tags of an EC2 resource. */
/* Tags of id as {key: value} (a new object). */
int ec2_tags_map(struct api_ctx *ctx, const char *id, json_t **ret, struct error **err);
/* The map as a tagSet list [{key, value}] (a new list). */
json_t *ec2_tag_set(const json_t *map);
/* Applies TagSpecifications of a Create call to the new resource of
 * resource_type (inside the transaction). */
int ec2_tags_apply_specs(struct api_ctx *ctx, const char *id, const char *resource_type,
                         const json_t *specs, struct error **err);
/* Removes every tag of id (inside a transaction). */
int ec2_tags_drop(struct api_ctx *ctx, const char *id, struct error **err);

/* Resource lookups in the caller's account; 0 and *ret_found false when
 * absent. */
int ec2_vpc_exists(struct api_ctx *ctx, const char *id, bool *ret_found, struct error **err);

/* Sorts and checks "ids" lists: each must name a resource found in items
 * (by id_key), else code/"The id 'x' does not exist". */
int ec2_ids_check(const json_t *ids, const json_t *found_ids, const char *code, const char *what,
                  struct error **err);

/* Operation handlers, one file per resource. */
int ec2_create_vpc(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_describe_vpcs(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_delete_vpc(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_create_subnet(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_describe_subnets(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_delete_subnet(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_create_security_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_describe_security_groups(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_delete_security_group(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_authorize_ingress(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_authorize_egress(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_revoke_ingress(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_revoke_egress(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_describe_security_group_rules(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_describe_network_interfaces(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_create_tags(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_delete_tags(struct api_ctx *, const json_t *, json_t **, struct error **);
int ec2_describe_tags(struct api_ctx *, const json_t *, json_t **, struct error **);
