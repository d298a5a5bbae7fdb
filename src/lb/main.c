/* skiff-lb: runs the load balancer from a JSON configuration file and
 * reloads it on SIGHUP (docs/lb.md).
 *
 *     skiff-lb --config FILE
 *
 * SIGTERM or SIGINT stops it. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

/* While a listener is kept out (another program holds its port), the
 * configuration is applied again this often, so it opens once the port is
 * free without waiting for the next change. */
#define RETRY_UNBOUND_S 5

/* Logs the listeners another program's port keeps out, when that set
 * changed since *last (which it updates); answers whether there are any. */
static bool warn_unbound(struct lb *lb, char **last)
{
    char *which = lb_unbound_listeners(lb);
    if (which && (!*last || strcmp(*last, which) != 0))
        log_warn("skiff-lb: not listening on %s; the other listeners serve", which);
    else if (!which && *last)
        log_info("skiff-lb: every listener is open");
    free(*last);
    *last = which;
    return which != NULL;
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
    char *unbound = NULL;
    bool retry = warn_unbound(lb, &unbound);

    for (;;) {
        int sig;
        bool quiet = false;
        if (retry) {
            struct timespec ts = {.tv_sec = RETRY_UNBOUND_S};
            sig = sigtimedwait(&set, NULL, &ts);
            if (sig < 0 && errno != EAGAIN)
                continue;
            if (sig < 0) {
                sig = SIGHUP; /* time to try the kept-out listeners again */
                quiet = true;
            }
        } else if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP)
            break;
        text = read_file(config, &err);
        if (!text || lb_reload(lb, text, &err) < 0) {
            log_err("skiff-lb: reload %s: %s (the running configuration stays)", config,
                    err ? err->msg : "failed");
            error_free(err);
            err = NULL;
        } else {
            if (!quiet)
                log_info("skiff-lb: reloaded %s", config);
            retry = warn_unbound(lb, &unbound);
        }
        free(text);
    }
    free(unbound);
    lb_free(lb);
    log_info("skiff-lb: stopped");
    return 0;
}
