/* Attributes of load balancers and target groups (src/elb/attrs.c). */
#pragma once

#include <jansson.h>

#include "base/error.h"

enum elb_attr_owner { ELB_ATTRS_LB, ELB_ATTRS_TG };

/* The defaults of owner's attributes for scope (a load balancer's type,
 * "application" or "network", or a target group's protocol, "HTTP" or
 * "TCP"), as a new {key: value} object. */
json_t *elb_attrs_defaults(enum elb_attr_owner owner, const char *scope);
/* Validates changes ([{Key, Value}]) and applies them to attrs. An unknown
 * key, or one the scope does not have, is ValidationError; a value out of
 * range is InvalidConfigurationRequest. attrs may be partly changed on
 * failure. */
int elb_attrs_apply(enum elb_attr_owner owner, const char *scope, json_t *attrs,
                    const json_t *changes, struct error **err);
/* attrs as a new [{Key, Value}] list sorted by key. */
json_t *elb_attrs_list(const json_t *attrs);
