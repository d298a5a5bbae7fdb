/* The host's load balancer data plane, driven by the elbv2 control plane
 * (docs/elb.md, "Data plane"): one skiff-lb process serves every listener
 * in the store. A thread renders its configuration from the elb_* tables,
 * writes it and has skiff-lb reload when it changes, and copies the target
 * health skiff-lb reports back into elb_targets for DescribeTargetHealth.
 * skiff-lb outlives skiffd, like the tasks do: a restarted skiffd adopts
 * the running one. */
#pragma once

#include <stdbool.h>

#include "base/error.h"

struct store;
struct elb_dataplane;

struct elb_dataplane_config {
    const char *data_dir; /* DATA-DIR/lb/config.json */
    const char *run_dir;  /* RUN-DIR/lb: status file, pid file, log */
    const char *binary;   /* skiff-lb; NULL: beside skiffd's own executable */
    const char *address;  /* the address listeners bind on */
    int interval_ms;      /* how often the store and the status file are read */
    /* skiffd runs with --task-network: targets that are task ENIs are
     * reached through their subnet's bridge (SO_BINDTODEVICE, the names of
     * src/agent/net.c with the scope in DATA-DIR/net-scope) with the mark
     * their "lb" security group rule admits (NET_LB_MARK). */
    bool task_network;
};

int elb_dataplane_start(const struct elb_dataplane_config *cfg, struct store *store,
                        struct elb_dataplane **ret, struct error **err);
/* Stops the thread; skiff-lb keeps serving. NULL-safe. */
void elb_dataplane_stop(struct elb_dataplane *dp);
