/* Task definition validation and normalisation (ecs/taskdef_validate.c).
 *
 * Pure functions: no store, no clock, no I/O, so that every rule can be
 * tested table-driven without a server. Only ecs/taskdef.c (the operation
 * handlers) and the unit tests include this header.
 *
 * skiff is Fargate-only: every task definition is validated as a Fargate
 * one, whatever requiresCompatibilities says (see taskdef_validate.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"

/* Most containers one task definition may hold (the ECS quota). */
#define ECS_TASKDEF_MAX_CONTAINERS 10

/* Parses a task-level cpu value: CPU units as an integer ("256") or vCPUs
 * with a "vCPU" suffix, case-insensitive, optional space, decimals allowed
 * (".25 vCPU", "2 vcpu"). Writes the CPU units (1 vCPU = 1024) to *ret_units
 * and returns 0, or -EINVAL when s is not such a value or not a whole
 * number of units. */
int ecs_taskdef_parse_cpu(const char *s, long *ret_units);

/* Parses a task-level memory value: MiB as an integer ("2048") or GB with a
 * "GB" suffix, case-insensitive, optional space, decimals allowed ("1GB",
 * "0.5 gb"; 1 GB = 1024 MiB). Writes MiB to *ret_mib and returns 0, or
 * -EINVAL. */
int ecs_taskdef_parse_memory(const char *s, long *ret_mib);

/* True when (cpu units, memory MiB) is one of Fargate's task sizes. */
bool ecs_fargate_size_valid(long cpu, long memory_mib);

/* Validates a RegisterTaskDefinition request `in` (already valid against
 * the botocore model: members of the wrong JSON type are treated as absent)
 * against the Fargate rules, and on success returns in *ret_doc a new
 * normalised TaskDefinition document: cpu and memory as integer strings,
 * ECS's defaults filled in (networkMode, essential, container cpu, port
 * mapping hostPort and protocol, health check timings, empty lists),
 * compatibilities and requiresAttributes computed. The document lacks what
 * registration adds: taskDefinitionArn, revision, status, registeredAt,
 * registeredBy. Tags are not part of it.
 *
 * On failure returns -EINVAL with *err set: ClientException for a task
 * definition ECS (or skiff, which runs only Linux Fargate tasks) refuses,
 * InvalidParameterException for a malformed request. */
int ecs_taskdef_validate(const json_t *in, json_t **ret_doc, struct error **err);
