/* skiff logs, and the log follower `skiff run --attach` shares: a task's
 * container output read back through the CloudWatch Logs API from the
 * awslogs streams its task definition names. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"

extern const struct cli_command cli_logs_commands[];

/* The Logs API surface (Logs_20140328, signing name "logs"). */
extern const struct client_service cli_logs_service;

struct cli_log_follow;

/* Prepares to follow the awslogs streams of the tasks (DescribeTasks
 * task objects, borrowed). *ret is NULL, after printing why on stderr, when
 * no container of theirs ships its logs with awslogs; -1 after printing an
 * API failure. */
int cli_log_follow_new(struct cli *cli, const json_t *tasks, struct cli_log_follow **ret);
/* Replaces the followed tasks (a service's tasks change); the streams
 * already followed stay. */
int cli_log_follow_set_tasks(struct cli *cli, struct cli_log_follow *f, const json_t *tasks);
/* Prints the events that arrived since the last call, oldest first, to out
 * ("container | message" when several containers log). Returns how many,
 * or -1 after printing an API failure. */
int cli_log_follow_poll(struct cli *cli, struct cli_log_follow *f, FILE *out);
/* After the tasks stopped: polls until the shipper has had time to deliver
 * the last lines and nothing more arrives. */
int cli_log_follow_drain(struct cli *cli, struct cli_log_follow *f, FILE *out);
void cli_log_follow_free(struct cli_log_follow *f);
