/* The Elastic Load Balancing v2 API subset (application and network load
 * balancers, target groups, targets, listeners, rules, tags) on the plain
 * query protocol, stored in the control plane's SQLite. See docs/elb.md. */
#pragma once

#include "api/api.h"

extern const struct api_service elb_api;
