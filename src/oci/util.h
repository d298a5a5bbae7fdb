/* Small file-system helpers shared by the oci module: whole-file reads and
 * writes (cgroupfs, procfs, state files), atomic replacement, directory trees.
 * Every fd opened here is O_CLOEXEC; EINTR is retried. */
#pragma once

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes s to dir/name (dirfd may be AT_FDCWD) without O_CREAT or O_TRUNC,
 * as cgroupfs and procfs files expect. Returns 0 or -errno. */
int oci_file_write_at(int dirfd, const char *name, const char *s, struct error **err);
/* Reads at most cap-1 bytes of dir/name into a new NUL-terminated string. */
int oci_file_read_at(int dirfd, const char *name, size_t cap, char **ret, struct error **err);
/* Reads a file holding one unsigned decimal number ("max" reads as UINT64_MAX). */
int oci_file_read_u64_at(int dirfd, const char *name, uint64_t *ret, struct error **err);
/* Finds "key value" in a file of such lines (cpu.stat, memory.events,
 * memory.oom_control) and parses value; -ENOENT when the key is absent. */
int oci_file_read_keyed_at(int dirfd, const char *name, const char *key, uint64_t *ret,
                           struct error **err);
/* Replaces path with content atomically: writes path.tmp and renames it,
 * so a reader (or a restarted skiffd) sees the old or the new file, never a
 * part. No fsync: these files describe processes that do not survive a
 * host crash either, and fsync would sit on every container start. */
int oci_file_replace(const char *path, const char *content, size_t len, mode_t mode,
                     struct error **err);
/* mkdir -p with the given mode for the directories it creates. */
int oci_dir_make(const char *path, mode_t mode, struct error **err);
/* rm -rf of path, walking with *at() calls and never following symlinks or
 * crossing into other mounts. A missing path is not an error. */
int oci_dir_remove_tree(const char *path, struct error **err);
/* True when a name is usable as one path component and as a runtime id:
 * 1-128 of [A-Za-z0-9_.-], not "." or "..". */
bool oci_name_valid(const char *name);
