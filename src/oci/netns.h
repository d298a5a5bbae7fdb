/* Per-task network namespaces, shared by the task's containers (they reach
 * each other on localhost). Each is bind-mounted at a file so that it
 * outlives the processes in it and containers join it by path. For now a
 * namespace holds only loopback; the networking work adds the task's
 * interface to the same namespace. */
#pragma once

#include "base/error.h"

#include <stdbool.h>

/* Creates a network namespace with loopback up, bound at path (a new file,
 * its directory created if needed; -EEXIST when one is there). */
int oci_netns_create(const char *path, struct error **err);

/* A network namespace with loopback up, held by the descriptor *ret_fd
 * only (a pool's, made ahead of a task: closing it ends the namespace). */
int oci_netns_new(int *ret_fd, struct error **err);
/* Binds the namespace of fd at path, as oci_netns_create does; the caller
 * keeps fd. */
int oci_netns_bind(int fd, const char *path, struct error **err);

/* Whether path is a bound network namespace (not merely the file
 * oci_netns_create makes first: a crash before its bind mount leaves that,
 * and joining it fails with EINVAL). */
bool oci_netns_bound(const char *path);

/* Unmounts and removes the namespace file; a missing one is not an error.
 * Removing the file also detaches the copies of its mount that runtime
 * mount namespaces took (the kernel detaches mounts on a dentry that is
 * unlinked, in every namespace, since Linux 3.18), so no other task's
 * monitor keeps this namespace alive. */
int oci_netns_remove(const char *path, struct error **err);
