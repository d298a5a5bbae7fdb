/* Per-task network namespaces, shared by the task's containers (they reach
 * each other on localhost). Each is bind-mounted at a file so that it
 * outlives the processes in it and containers join it by path. For now a
 * namespace holds only loopback; the networking work adds the task's
 * interface to the same namespace. */
#pragma once

#include "base/error.h"

/* Makes dir (created if needed) a shared bind mount, once: namespace files
 * below it are then unmounted from the runtime's slave mount namespaces too
 * when the host unmounts them. Idempotent. */
int oci_netns_dir_prepare(const char *dir, struct error **err);

/* Creates a network namespace with loopback up, bound at path (a new file;
 * -EEXIST when one is there). */
int oci_netns_create(const char *path, struct error **err);

/* Unmounts and removes the namespace file; a missing one is not an error. */
int oci_netns_remove(const char *path, struct error **err);
