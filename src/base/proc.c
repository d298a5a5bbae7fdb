#include "base/proc.h"
#include "base/cleanup.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Reads /proc/PID/FILE into buf (NUL-terminated); its length, or -1. */
static ssize_t proc_read(pid_t pid, const char *file, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

bool proc_comm_is(pid_t pid, const char *name)
{
    char comm[32];
    ssize_t n = proc_read(pid, "comm", comm, sizeof(comm));
    if (n <= 0)
        return false;
    if (comm[n - 1] == '\n')
        comm[n - 1] = '\0';
    return strcmp(comm, name) == 0;
}

bool proc_has_arg(pid_t pid, const char *arg)
{
    char cmd[8192];
    ssize_t n = proc_read(pid, "cmdline", cmd, sizeof(cmd));
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(cmd + off) + 1)
        if (strcmp(cmd + off, arg) == 0)
            return true;
    return false;
}
