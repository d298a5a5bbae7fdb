/* Services with load balancers: their tasks as elbv2 targets (see
 * docs/services.md, "Load balancers").
 *
 * The reconciler (service.c) registers a task's ENI address with each
 * target group of the service's loadBalancers once the task is RUNNING,
 * reads back the health the data plane reports, and deregisters the task
 * as soon as it is told to stop (or stops by itself); the task's stop is
 * then held (lastStatus DEACTIVATING) until the target groups' deregistration
 * delay has passed, so the load balancer stops sending it requests and
 * lets the ones in flight finish before the task gets SIGTERM. Everything
 * goes through the elb tables the elbv2 API uses (DescribeTargetHealth shows
 * the tasks), inside the reconciler's transaction. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"

struct db;

/* A task as the load balancer hooks see it; all strings borrowed. */
struct sched_lb_task {
    const char *account;
    const char *arn;
    const char *ip;  /* its ENI's address, NULL when it has none */
    const char *vpc; /* its ENI's VPC */
};

/* Registers t's address with each target group of lbs (the service's
 * loadBalancers: [{targetGroupArn, containerPort, ...}]) that still exists
 * in t's account and VPC, on containerPort, and records the task as
 * registered (tasks.lb_registered). A target that was draining starts
 * afresh. */
int sched_lb_register(struct db *db, const struct sched_lb_task *t, const json_t *lbs,
                      int64_t now_ms, struct error **err);

/* Deregisters t's address from every target group of its account and VPC
 * (an address is one task there). Targets of groups a load balancer
 * forwards to drain for the group's deregistration_delay.timeout_seconds;
 * the task's stop waits until the longest has passed (tasks.lb_drain_until,
 * read by the scheduler's send_stops) and a RUNNING task shows
 * DEACTIVATING meanwhile. */
int sched_lb_deregister(struct db *db, const struct sched_lb_task *t, int64_t now_ms,
                        struct error **err);

enum sched_lb_health {
    SCHED_LB_NONE,      /* registered nowhere */
    SCHED_LB_INITIAL,   /* some target group has not decided yet */
    SCHED_LB_HEALTHY,   /* healthy in every target group */
    SCHED_LB_UNHEALTHY, /* unhealthy in some target group */
};

/* t's health in the target groups of lbs (the service's loadBalancers):
 * unhealthy when unhealthy in one, healthy when healthy in all, else
 * initial (a group that has no live target of t counts as initial). When
 * unhealthy, *ret_tg (optional) gets the first such group's name and
 * *ret_reason (optional) its reason code (new strings, NULL otherwise). */
int sched_lb_health(struct db *db, const struct sched_lb_task *t, const json_t *lbs,
                    enum sched_lb_health *ret, char **ret_tg, char **ret_reason,
                    struct error **err);

/* Appends to rules (src/net/sg.h rules of the task's ENI) the load
 * balancer allowance of the service task_arn belongs to: an "lb" ingress
 * rule for each loadBalancers containerPort and each numeric health-check
 * port of their target groups. Nothing for other tasks. */
int sched_lb_rules(struct db *db, const char *task_arn, json_t *rules, struct error **err);

/* Adds the allowance to the rules a new task is assigned with (its
 * network_config's eni.rules), inside the transaction that created it. */
int sched_lb_rules_init(struct db *db, const char *task_arn, struct error **err);
