/* What /proc says about another process: used before signalling a pid read
 * from a file or found by a scan, in case it now runs something else. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* True when pid's command name (/proc/PID/comm, at most 15 characters) is
 * name. */
bool proc_comm_is(pid_t pid, const char *name);
/* True when one of pid's arguments (in the first 8 KiB of
 * /proc/PID/cmdline) is arg, whole. False for a zombie or a process that
 * is gone. */
bool proc_has_arg(pid_t pid, const char *arg);
