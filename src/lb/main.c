/* skiff-lb: runs the load balancer from a JSON configuration file and
 * reloads it on SIGHUP (docs/lb.md).
 *
 *     skiff-lb --config FILE
 *
 * SIGTERM or SIGINT stops it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "lb/lb.h"

static char *read_file(const char *path, struct error **err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f) {
        error_errno(err, errno, "open %s", path);
        return NULL;
    }
    size_t alloc = 4096, len = 0;
    char *s = malloc(alloc);
    size_t n;
    while (s && (n = fread(s + len, 1, alloc - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == alloc) {
            alloc *= 2;
            char *t = realloc(s, alloc);
            if (!t)
                free(s);
            s = t;
        }
        if (len > 16 * 1024 * 1024) {
            free(s);
            error_set(err, EFBIG, NULL, "%s: over 16 MiB", path);
            return NULL;
        }
    }
    if (!s) {
        error_set(err, ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s[len] = '\0';
    return s;
}

/* A listener another program's port keeps out is logged; the others serve. */
static void warn_unbound(struct lb *lb)
{
    char *which = lb_unbound_listeners(lb);
    if (which)
        log_warn("skiff-lb: not listening on %s; the other listeners serve", which);
    free(which);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s --config FILE\n", argv[0]);
            return o == 'h' ? 0 : 2;
        }
    }
    if (!config || optind != argc) {
        fprintf(stderr, "usage: %s --config FILE\n", argv[0]);
        return 2;
    }

    /* Every connection costs descriptors: take all the process may have. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* splice(2) to a reset socket raises SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* Signals go to this thread only: the workers inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct error *err = NULL;
    char *text = read_file(config, &err);
    struct lb *lb = NULL;
    if (!text || lb_new(text, &lb, &err) < 0) {
        log_err("skiff-lb: %s: %s", config, err ? err->msg : "failed");
        error_free(err);
        free(text);
        return 1;
    }
    free(text);
    log_info("skiff-lb: running %s", config);
    warn_unbound(lb);

    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        text = read_file(config, &err);
        if (!text || lb_reload(lb, text, &err) < 0) {
            log_err("skiff-lb: reload %s: %s (the running configuration stays)", config,
                    err ? err->msg : "failed");
            error_free(err);
            err = NULL;
        } else {
            log_info("skiff-lb: reloaded %s", config);
            warn_unbound(lb);
        }
        free(text);
    }
    lb_free(lb);
    log_info("skiff-lb: stopped");
    return 0;
}
