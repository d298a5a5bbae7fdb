/* The content store: verified writes, claims that make concurrent work happen
 * once (threads of one process, and two processes), the start-up cleanup of
 * temp entries, the GC lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/hash.h"
#include "image/image-internal.h"

static char dir[64];
static struct cas *cas;

static void digest_of(const char *data, char out[IMG_DIGEST_LEN + 1])
{
    uint8_t d[HASH_SHA256_LEN];
    hash_sha256(data, strlen(data), d);
    memcpy(out, "sha256:", 7);
    hash_hex(d, sizeof(d), out + 7);
}

static int count_entries(const char *sub)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "test $(ls -A %s/%s | grep -v gc.lock | wc -l) -eq 0", dir, sub);
    return system(cmd) == 0 ? 0 : 1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/skiff-cas-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct error *err = NULL;
    assert_int_equal(cas_open(dir, &cas, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cas_free(cas);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void test_writer_verifies(void **state)
{
    (void)state;
    char d[IMG_DIGEST_LEN + 1];
    digest_of("hello", d);
    struct error *err = NULL;
    struct cas_writer *w = NULL;

    /* other bytes than the digest names: refused, nothing visible */
    assert_int_equal(cas_writer_new(cas, d, 5, &w, &err), 0);
    struct reg_sink s = cas_writer_sink(w);
    assert_int_equal(s.write(s.arg, "jello", 5), 0);
    assert_int_equal(cas_writer_commit(w, &err), -EBADMSG);
    assert_non_null(strstr(err->msg, "digest mismatch"));
    error_free(err);
    err = NULL;
    cas_writer_free(w);
    assert_false(cas_blob_present(cas, d, NULL));
    assert_int_equal(count_entries("tmp"), 0);
    assert_int_equal(count_entries("blobs/sha256"), 0);

    /* more bytes than the descriptor says: the write itself fails */
    assert_int_equal(cas_writer_new(cas, d, 5, &w, &err), 0);
    s = cas_writer_sink(w);
    assert_int_equal(s.write(s.arg, "hello!", 6), -EFBIG);
    cas_writer_free(w);

    /* short, then rewound and rewritten: fine */
    assert_int_equal(cas_writer_new(cas, d, 5, &w, &err), 0);
    s = cas_writer_sink(w);
    assert_int_equal(s.write(s.arg, "xx", 2), 0);
    assert_int_equal(s.rewind(s.arg), 0);
    assert_int_equal(s.written(s.arg), 0);
    assert_int_equal(s.write(s.arg, "hel", 3), 0);
    assert_int_equal(s.write(s.arg, "lo", 2), 0);
    assert_int_equal(cas_writer_commit(w, &err), 0);
    cas_writer_free(w);
    int64_t size = 0;
    assert_true(cas_blob_present(cas, d, &size));
    assert_int_equal(size, 5);
    char *path = cas_blob_path(cas, d);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0400);
    free(path);
    struct buf b;
    assert_int_equal(cas_blob_read(cas, d, 100, &b, &err), 0);
    assert_string_equal(b.data, "hello");
    buf_done(&b);
    assert_int_equal(cas_blob_read(cas, d, 4, &b, &err), -E2BIG);
    error_free(err);
    err = NULL;
    assert_int_equal(count_entries("tmp"), 0);

    /* unknown digest up front (imports) */
    char got[IMG_DIGEST_LEN + 1];
    assert_int_equal(cas_writer_new(cas, NULL, -1, &w, &err), 0);
    s = cas_writer_sink(w);
    assert_int_equal(s.write(s.arg, "import me", 9), 0);
    assert_int_equal(cas_writer_commit_any(w, got, &err), 0);
    cas_writer_free(w);
    digest_of("import me", d);
    assert_string_equal(got, d);
    assert_true(cas_blob_present(cas, d, NULL));
}

/* ---- claims across threads ---- */

struct worker {
    const char *digest;
    int mine, waited, present;
};

static pthread_barrier_t barrier;

static void *claim_and_work(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&barrier);
    for (;;) {
        enum cas_claim_state st;
        struct cas_claim *c = NULL;
        struct error *err = NULL;
        assert_int_equal(cas_claim(cas, CAS_BLOB, w->digest, &st, &c, &err), 0);
        if (st == CAS_PRESENT) {
            w->present++;
            return NULL;
        }
        if (st == CAS_WAIT) {
            w->waited++;
            cas_claim_wait(c);
            continue;
        }
        w->mine++;
        usleep(100 * 1000); /* the others pile up meanwhile */
        assert_int_equal(cas_blob_put(cas, w->digest, "shared", 6, &err), 0);
        cas_claim_release(c);
        return NULL;
    }
}

static void test_claims_threads(void **state)
{
    (void)state;
    char d[IMG_DIGEST_LEN + 1];
    digest_of("shared", d);
    enum { N = 8 };
    struct worker w[N];
    pthread_t t[N];
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){.digest = d};
        pthread_create(&t[i], NULL, claim_and_work, &w[i]);
    }
    int mine = 0, waited = 0, present = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        mine += w[i].mine;
        waited += w[i].waited;
        present += w[i].present;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(mine, 1);
    assert_true(waited >= 1);
    assert_int_equal(mine + present, N);
    assert_int_equal(count_entries("tmp"), 0); /* lock file gone */
}

/* A failed owner: the waiter gets the work next. */
static void test_claim_after_failed_owner(void **state)
{
    (void)state;
    char d[IMG_DIGEST_LEN + 1];
    digest_of("never written", d);
    enum cas_claim_state st;
    struct cas_claim *a = NULL, *b = NULL;
    struct error *err = NULL;
    assert_int_equal(cas_claim(cas, CAS_LAYER, d, &st, &a, &err), 0);
    assert_int_equal(st, CAS_MINE);
    assert_int_equal(cas_claim(cas, CAS_LAYER, d, &st, &b, &err), 0);
    assert_int_equal(st, CAS_WAIT);
    cas_claim_release(a); /* gave up without producing it */
    cas_claim_wait(b);
    assert_int_equal(cas_claim(cas, CAS_LAYER, d, &st, &b, &err), 0);
    assert_int_equal(st, CAS_MINE);
    cas_claim_release(b);
}

/* ---- claims across processes ---- */

static void test_claims_processes(void **state)
{
    (void)state;
    char d[IMG_DIGEST_LEN + 1];
    digest_of("cross", d);
    enum cas_claim_state st;
    struct cas_claim *mine = NULL;
    struct error *err = NULL;
    assert_int_equal(cas_claim(cas, CAS_BLOB, d, &st, &mine, &err), 0);
    assert_int_equal(st, CAS_MINE);
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* a separate process (exec'd: a forked copy would share our table's
         * state) with its own table and the same lock files */
        dup2(to_parent[1], 1);
        execl("/proc/self/exe", "test-image-cas", "--child", dir, d, (char *)NULL);
        _exit(127);
    }
    char c = 0;
    assert_int_equal(read(to_parent[0], &c, 1), 1);
    assert_int_equal(c, 'w');
    /* the child waits for us; it must not finish before we do */
    usleep(100 * 1000);
    int status;
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
    assert_int_equal(cas_blob_put(cas, d, "cross", 5, &err), 0);
    cas_claim_release(mine);
    assert_int_equal(read(to_parent[0], &c, 1), 1);
    assert_int_equal(c, 'p');
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
}

static void test_clean_tmp_and_gc_lock(void **state)
{
    (void)state;
    char p[160];
    snprintf(p, sizeof(p), "%s/tmp/blob-stale.1", dir);
    int stale = open(p, O_CREAT | O_WRONLY, 0600);
    close(stale);
    snprintf(p, sizeof(p), "%s/tmp/layer-stale.2/usr/bin", dir);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && chmod 0 %s", p, p);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof(p), "%s/tmp/blob-live.3", dir);
    int live = open(p, O_CREAT | O_WRONLY, 0600);
    assert_int_equal(flock(live, LOCK_EX), 0);
    struct error *err = NULL;
    char *name = NULL;
    int tmpdir = cas_tmpdir_new(cas, "layer-live", &name, &err);
    assert_true(tmpdir >= 0);
    cas_clean_tmp(cas);
    snprintf(cmd, sizeof(cmd),
             "cd %s/tmp && test \"$(ls | grep -v gc.lock | tr '\\n' ' ')\" = \"blob-live.3 %s \"",
             dir, name);
    assert_int_equal(system(cmd), 0);
    close(live);
    close(tmpdir);
    cas_clean_tmp(cas);
    assert_int_equal(count_entries("tmp"), 0);
    free(name);

    /* GC lock: shared holders exclude an exclusive one */
    int sh = cas_gc_lock(cas, false, &err);
    assert_true(sh >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        char lp[160];
        snprintf(lp, sizeof(lp), "%s/tmp/gc.lock", dir);
        int fd = open(lp, O_RDWR);
        _exit(flock(fd, LOCK_EX | LOCK_NB) == 0 ? 1 : 0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    cas_gc_unlock(sh);
}

/* The other process of test_claims_processes: writes 'w' once it waits on
 * the parent's claim, then 'p' if the blob is present after the wait. */
static int child(const char *data_dir, const char *digest)
{
    struct cas *c2 = NULL;
    struct error *e2 = NULL;
    char ok = 'x';
    enum cas_claim_state s2;
    struct cas_claim *cl = NULL;
    if (cas_open(data_dir, &c2, &e2) == 0 && cas_claim(c2, CAS_BLOB, digest, &s2, &cl, &e2) == 0 &&
        s2 == CAS_WAIT) {
        ok = 'w';
        if (write(1, &ok, 1) != 1)
            return 2;
        cas_claim_wait(cl); /* blocks until the parent releases */
        if (cas_claim(c2, CAS_BLOB, digest, &s2, &cl, &e2) == 0 && s2 == CAS_PRESENT)
            ok = 'p';
    }
    return write(1, &ok, 1) == 1 ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child"))
        return child(argv[2], argv[3]);
    if (geteuid() != 0) {
        fprintf(stderr, "test-image-cas needs root (to remove unreadable temp dirs)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_verifies),          cmocka_unit_test(test_claims_threads),
        cmocka_unit_test(test_claim_after_failed_owner), cmocka_unit_test(test_claims_processes),
        cmocka_unit_test(test_clean_tmp_and_gc_lock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
