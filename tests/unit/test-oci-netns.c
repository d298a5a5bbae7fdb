/* Network namespaces as root on this host: one made ahead is held by its
 * descriptor alone, with loopback up; bound at a path it outlives the
 * descriptor, is the same namespace there, and goes with
 * oci_netns_remove. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "oci/netns.h"

struct lo_check {
    const char *path;
    int up; /* -1: could not enter or ask */
};

/* In a thread of its own (only it moves): enters the namespace at path and
 * reads loopback's flags. */
static void *lo_thread(void *p)
{
    struct lo_check *c = p;
    c->up = -1;
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    int r = setns(fd, CLONE_NEWNET);
    close(fd);
    if (r < 0)
        return NULL;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
        c->up = (ifr.ifr_flags & IFF_UP) != 0;
    if (s >= 0)
        close(s);
    return NULL;
}

static int lo_up(const char *path)
{
    struct lo_check c = {path, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, lo_thread, &c), 0);
    pthread_join(t, NULL);
    return c.up;
}

static void test_made_ahead_then_bound(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct error *err = NULL;
    int fd = -1;
    if (oci_netns_new(&fd, &err) < 0)
        fail_msg("new: %s", err->msg);
    assert_true(fd >= 0);
    struct stat mine, made;
    assert_int_equal(stat("/proc/self/ns/net", &mine), 0);
    assert_int_equal(fstat(fd, &made), 0);
    assert_true(mine.st_ino != made.st_ino);

    char dir[] = "/tmp/skiff-netns-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/sub/ns", dir);
    if (oci_netns_bind(fd, path, &err) < 0)
        fail_msg("bind: %s", err->msg);
    close(fd);
    /* The binding holds it: the same namespace, loopback up. */
    assert_true(oci_netns_bound(path));
    struct stat bound;
    assert_int_equal(stat(path, &bound), 0);
    assert_true(bound.st_ino == made.st_ino);
    assert_int_equal(lo_up(path), 1);
    /* A second binding at the same path is refused. */
    int fd2 = -1;
    if (oci_netns_new(&fd2, &err) < 0)
        fail_msg("new: %s", err->msg);
    assert_int_equal(oci_netns_bind(fd2, path, &err), -EEXIST);
    error_free(err);
    err = NULL;
    close(fd2);

    assert_int_equal(oci_netns_remove(path, &err), 0);
    assert_false(oci_netns_bound(path));
    assert_int_equal(access(path, F_OK), -1);
    _cleanup_free_ char *sub = xasprintf("%s/sub", dir);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_made_ahead_then_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
