/* The node protocol: the only way the control plane (placement, task
 * records; src/sched, src/ecs) and a host's agent (images, containers,
 * networking; src/agent) talk to each other.
 *
 * It is deliberately narrow — assign a task, stop a task, report status,
 * advertise capacity, list what the agent holds — and every message is a
 * JSON document, so that the same messages can travel over HTTP when agents
 * run on other hosts. On one machine the control plane calls the local
 * agent through struct node_ops and the agent calls back through
 * node_report_fn, all inside one skiffd process.
 *
 * Times in messages are integer milliseconds since the epoch. Task sizes are
 * integers: cpu in CPU units (1024 = one vCPU), memory in MiB.
 *
 * ## assign (control plane -> agent)
 *   {
 *     "taskArn": "arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID",
 *     "taskId": "ID", "clusterArn": "...", "accountId": "123456789012",
 *     "region": "us-east-1",
 *     "cpu": 256, "memory": 512, "ephemeralStorageGiB": 20,
 *     "taskDefinition": { the full TaskDefinition document (ecs model shape) },
 *     "overrides": { TaskOverride as given to RunTask, or {} },
 *     "networkConfiguration": {"awsvpcConfiguration": {resolved: subnets,
 *                                securityGroups, assignPublicIp},
 *                              "eni": {"id", "subnetId", "vpcId", "ip",
 *                                      "gateway", "prefix", "mac",
 *                                      "securityGroups", "assignPublicIp",
 *                                      "rules": [src/net/sg.h rules]}}
 *                             | absent (tasks inserted without a network),
 *     "createdAt": ms,
 *     "containerArns": {"<container name>": "arn:aws:ecs:...:container/..."},
 *     "registryAuth": {"<container name>": {"username": "...",
 *                                           "password": "..."}}  (optional)
 *   }
 * The agent takes the task and answers at once; the task then moves on by
 * reports. Assigning a task the agent already holds is a no-op.
 *
 * registryAuth carries the registry credentials of the containers whose
 * definition names repositoryCredentials.credentialsParameter: the control
 * plane reads the secret (src/secrets) when it assigns the task and sends
 * its value here, and nowhere else. The agent takes the member out of the
 * message before it parses or saves it (task.json keeps the message
 * without it) and holds the credentials in memory only, for that task's
 * pulls; they never appear in reports, task documents or logs. After an
 * agent restart a pull that still needs them (rare: the image was pulled
 * before the create) goes without. When the secret is missing or its value
 * is not {"username", "password"}, the control plane does not assign the
 * task: it stops it with TaskFailedToStart and "ResourceInitializationError:
 * unable to pull secrets or registry auth: ...".
 *
 * ## stop (control plane -> agent)
 *   {"taskArn": "...", "stopCode": "UserInitiated", "reason": "..."}
 * Idempotent. The agent stops the containers (SIGTERM, SIGKILL after each
 * container's stopTimeout, reverse dependency order), cleans up, and reports
 * STOPPED.
 *
 * ## report (agent -> control plane), on every change of a task
 *   {
 *     "taskArn": "...",
 *     "lastStatus": "PROVISIONING|PENDING|ACTIVATING|RUNNING|DEACTIVATING|
 *                    STOPPING|DEPROVISIONING|STOPPED",
 *     "pullStartedAt": ms, "pullStoppedAt": ms, "startedAt": ms,
 *     "stoppingAt": ms, "executionStoppedAt": ms, "stoppedAt": ms,
 *     "stopCode": "TaskFailedToStart|EssentialContainerExited|UserInitiated|
 *                  ServiceSchedulerInitiated",          (when stopping)
 *     "stoppedReason": "...",                               (when stopping)
 *     "healthStatus": "HEALTHY|UNHEALTHY|UNKNOWN",
 *     "containers": [ {"name", "lastStatus", "exitCode", "reason",
 *                      "runtimeId", "imageDigest", "healthStatus"} ],
 *     "attachments": [ ElasticNetworkInterface attachment ] (networking)
 *   }
 * Members that have not happened yet are absent. Reports are level-based:
 * each carries the whole current state, so a lost or repeated report does no
 * harm and the latest wins.
 *
 * ## stats (agent -> control plane), every sampling interval per RUNNING task
 *   {"taskArn": "...",
 *    "stats": {"t": ms, "cpuUsec": cumulative CPU time of the task cgroup,
 *              "memoryBytes": memory charged now,
 *              "memoryPeakBytes": high-water mark (0 when the kernel lacks it)}}
 * Delivered through node_report_fn like a report (a message with "stats"
 * is not a status report). The control plane keeps the samples for
 * metering (src/metering); a lost sample only thins the series.
 *
 * ## capacity (agent -> control plane, on request)
 *   {"node": "local", "cpu": cores*1024, "memory": MiB minus a reserve}
 *
 * ## network (control plane -> agent)
 *   {"taskArn": "...", "rules": [src/net/sg.h rules]}
 * The task's security group rules as they are now (sent after
 * Authorize/Revoke and once after skiffd starts). Level-based and
 * idempotent: the agent replaces the task's rules in one nftables
 * transaction when they differ from those it applied, and keeps them across
 * its restarts; a task that is stopping or stopped is left alone. A rule
 * that references a group names it ("group"); its members come by:
 *
 * ## groups (control plane -> agent)
 *   {"groups": {"sg-…": ["a.b.c.d", ...], ...}}
 * The members (ENI addresses) of the referenced groups whose membership
 * changed, each list whole (level-based), [] for a group that has none or
 * is no longer referenced; every referenced group once after skiffd
 * starts. The agent replaces each group's set in one nftables transaction
 * and keeps the lists across its restarts. One message per change,
 * whatever the number of tasks whose rules name the group.
 *
 * ## list (agent -> control plane, on request)
 *   [ report, ... ] for every task the agent holds (after a restart the
 *   control plane reconciles its records with this list).
 *
 * ## logs (agent -> control plane), the awslogs driver's shipping
 *   {
 *     "taskArn": "...", "accountId": "...", "container": "NAME",
 *     "logGroup": "awslogs-group", "logStream": "PREFIX/NAME/TASK-ID",
 *     "createGroup": awslogs-create-group == "true",
 *     "offset": N, "end": M,
 *     "lines": "bytes N..M of the container's log: whole CRI k8s-file
 *               lines, 'TIME stdout|stderr F|P text\n', as UTF-8"
 *   }
 * answered with {"offset": the byte offset the control plane has stored
 * for this taskArn and container}. The lines and the new offset are stored
 * in one transaction, and a batch whose "offset" is not the stored one is
 * not stored (the answer says where to resume), so every line is stored
 * exactly once across restarts of either side. Without "lines" the message
 * only asks for the stored offset (what an agent does after a restart);
 * with "forget": true it drops it (the agent purged the task). A
 * group that does not exist, without createGroup, is a
 * ResourceNotFoundException. See docs/logs.md. */
#pragma once

#include <jansson.h>

#include "base/error.h"

struct node;

/* Delivers a report to the control plane; report is borrowed. May be called
 * from any agent thread. */
typedef void (*node_report_fn)(void *cp, const json_t *report);
/* Delivers a logs message (see "## logs"); msg is borrowed, the answer is
 * a new reference in *ret. May be called from any agent thread. */
typedef int (*node_logs_fn)(void *cp, const json_t *msg, json_t **ret, struct error **err);

struct node_ops {
    int (*assign)(struct node *n, const json_t *msg, struct error **err);
    int (*stop)(struct node *n, const json_t *msg, struct error **err);
    int (*capacity)(struct node *n, json_t **ret, struct error **err);
    int (*list)(struct node *n, json_t **ret, struct error **err);
    /* Optional (NULL: no task networking). -ENOENT: no such task. */
    int (*network)(struct node *n, const json_t *msg, struct error **err);
    /* Optional (NULL: no task networking). */
    int (*groups)(struct node *n, const json_t *msg, struct error **err);
    void (*free)(struct node *n);
};

/* A node as the control plane sees it. Implementations embed it first in
 * their own struct. */
struct node {
    const struct node_ops *ops;
    const char *name; /* "local" for the in-process agent */
};
