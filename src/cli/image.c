/* skiff image pull|ls|inspect|rm|import|prune: PullImage, ListImages,
 * DescribeImages, DeleteImage, ImportImage and PruneImages of skiff's own
 * API (models/skiff/), which act on the content store of skiffd's host. */
#include "cli/cli.h"
#include "cli/table.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A short digest in tables: "sha256:" and this many hex digits. */
#define IMAGE_SHORT_HEX 12
/* The spinner is redrawn at most this often. */
#define SPIN_INTERVAL_MS 100
/* A pull's progress is asked for (DescribePullProgress) this often. */
#define PROGRESS_POLL_MS 250
/* Width of a layer's progress bar on a terminal. */
#define PROGRESS_BAR 24

static const char *const image_headers[] = {"REFERENCE", "DIGEST", "SIZE",
                                            "UNPACKED",  "PULLED", "LAST-USED"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *short_digest(const char *digest, char *out, size_t size)
{
    const char *colon = digest ? strchr(digest, ':') : NULL;
    if (!colon)
        return digest;
    snprintf(out, size, "%.*s%.*s", (int)(colon + 1 - digest), digest, IMAGE_SHORT_HEX, colon + 1);
    return out;
}

static const char *size_cell(const json_t *obj, const char *key, char *out, size_t size)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? cli_format_size(json_integer_value(v), out, size) : NULL;
}

static void add_image_row(struct table *t, const json_t *im, double now)
{
    char digest[80], size[16], unpacked[16], pulled[32], used[32];
    const char *cells[] = {
        json_get_str(im, "reference"),
        short_digest(json_get_str(im, "digest"), digest, sizeof(digest)),
        size_cell(im, "size", size, sizeof(size)),
        size_cell(im, "unpackedSize", unpacked, sizeof(unpacked)),
        cli_format_age(json_object_get(im, "pulledAt"), now, pulled, sizeof(pulled)),
        cli_format_age(json_object_get(im, "lastUsedAt"), now, used, sizeof(used)),
    };
    table_add(t, cells);
}

static void print_images(const json_t *images)
{
    struct table *t = table_new(ARRAY_SIZE(image_headers), image_headers);
    double now = cli_now();
    size_t i;
    json_t *im;
    json_array_foreach(images, i, im) add_image_row(t, im, now);
    table_print(t, stdout);
    table_free(t);
}

/* What shows that a long call is alive: on a terminal a spinner with the
 * time spent (PullImage answers once the pull is done, with no progress on
 * the way); elsewhere a line before and one after. */
struct spinner {
    const char *verb; /* "Pulling" */
    const char *what;
    double start;
    double drawn;
    unsigned frame;
};

static void spin(void *arg)
{
    static const char frames[] = "|/-\\";
    struct spinner *s = arg;
    double t = now_s();
    if (t - s->drawn < SPIN_INTERVAL_MS / 1000.0)
        return;
    s->drawn = t;
    fprintf(stderr, "\r%c %s %s  %.0fs", frames[s->frame++ % 4], s->verb, s->what, t - s->start);
    fflush(stderr);
}

/* Calls a skiff operation that may take long (a pull, an import): without
 * the usual time limit and with a sign of life on stderr in table output.
 * Prints the failure and returns -1 when it fails. */
static int long_call(struct cli *cli, const char *verb, const char *done, const char *what,
                     const char *operation, json_t *in, json_t **ret_out)
{
    struct client *c = cli_client(cli);
    if (!c) {
        json_decref(in);
        return -1;
    }
    bool tty = isatty(STDERR_FILENO);
    bool table = cli->output == CLI_OUTPUT_TABLE;
    struct spinner s = {.verb = verb, .what = what, .start = now_s()};
    if (tty) {
        client_set_tick(c, spin, &s);
        spin(&s);
    } else if (table) {
        fprintf(stderr, "%s %s\n", verb, what);
    }
    client_set_timeout(c, 0);
    _cleanup_error_ struct error *err = NULL;
    int r = cli_try(cli, &client_skiff, operation, in, ret_out, &err);
    client_set_timeout(c, CLIENT_TIMEOUT_S);
    client_set_tick(c, NULL, NULL);
    if (tty)
        fputs("\r\033[K", stderr);
    if (r < 0) {
        cli_fail("%s", err->msg);
        return -1;
    }
    if (table)
        fprintf(stderr, "%s %s in %.1fs\n", done, what, now_s() - s.start);
    return 0;
}

/* ---- pull progress ----
 *
 * PullImage answers once the pull is done, so the pull runs on a thread
 * with the command's connection while this thread asks DescribePullProgress
 * on a second one. On a terminal (stderr) a block of lines is redrawn in
 * place: a spinner with the time spent, then one line per layer with its
 * state, bytes done and total, rate and time left. Elsewhere, in table
 * output, each change of a layer's state is one plain line. */

struct layer_view {
    char *digest;
    char *status; /* last state seen */
    int64_t size, bytes;
    double rate; /* bytes per second, smoothed */
    int64_t sample_bytes;
    double sample_t;
};

struct progress {
    const char *ref;
    bool tty, lines;
    double start;
    unsigned frame;
    struct layer_view *layers;
    size_t n;
    int drawn; /* lines drawn by the last redraw, the spinner's included */
};

static void progress_done(struct progress *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->layers[i].digest);
        free(p->layers[i].status);
    }
    free(p->layers);
}

static const char *status_words(const char *status)
{
    static const struct {
        const char *status, *words;
    } words[] = {
        {"WAITING", "Waiting"},
        {"DOWNLOADING", "Downloading"},
        {"DOWNLOADED", "Download complete"},
        {"EXTRACTING", "Extracting"},
        {"COMPLETE", "Pull complete"},
        {"ALREADY_EXISTS", "Already exists"},
        {"READY", "In the store"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(words); i++)
        if (strcmp(status, words[i].status) == 0)
            return words[i].words;
    return status;
}

static struct layer_view *layer_view(struct progress *p, const char *digest)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->layers[i].digest, digest) == 0)
            return &p->layers[i];
    p->layers = xrealloc(p->layers, (p->n + 1) * sizeof(*p->layers));
    struct layer_view *l = &p->layers[p->n++];
    *l = (struct layer_view){.digest = xstrdup(digest), .sample_t = now_s()};
    return l;
}

/* Takes in a DescribePullProgress answer: the first pull of the reference
 * (another client may pull it too: they share the layers). */
static void progress_update(struct progress *p, const json_t *answer)
{
    json_t *pull = json_array_get(json_get_array(answer, "pulls"), 0);
    double t = now_s();
    size_t i;
    json_t *l;
    json_array_foreach(json_get_array(pull, "layers"), i, l)
    {
        const char *digest = json_get_str(l, "digest");
        const char *status = json_get_str(l, "status");
        if (!digest || !status)
            continue;
        struct layer_view *v = layer_view(p, digest);
        v->size = json_get_int(l, "size", 0);
        v->bytes = json_get_int(l, "downloadedBytes", 0);
        if (t - v->sample_t >= 0.2) {
            double r = (double)(v->bytes - v->sample_bytes) / (t - v->sample_t);
            v->rate = v->rate > 0 ? 0.6 * v->rate + 0.4 * r : r;
            v->sample_bytes = v->bytes;
            v->sample_t = t;
        }
        if (v->status && strcmp(v->status, status) == 0)
            continue;
        free(v->status);
        v->status = xstrdup(status);
        if (p->lines) {
            char digest_s[80], size[16];
            short_digest(digest, digest_s, sizeof(digest_s));
            if (strcmp(status, "DOWNLOADING") == 0)
                fprintf(stderr, "%s: Downloading (%s)\n", digest_s,
                        cli_format_size(v->size, size, sizeof(size)));
            else
                fprintf(stderr, "%s: %s\n", digest_s, status_words(status));
        }
    }
}

static void format_eta(double seconds, char *out, size_t size)
{
    long s = seconds < 0 ? 0 : seconds > 359999 ? 359999 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, size, "%lds", s);
}

static void draw_layer(const struct layer_view *v)
{
    char digest[80], done[16], total[16], rate[16], eta[32];
    short_digest(v->digest, digest, sizeof(digest));
    const char *status = v->status ? v->status : "WAITING";
    fprintf(stderr, "\r%s  %-17s", digest, status_words(status));
    if (strcmp(status, "DOWNLOADING") == 0 && v->size > 0) {
        char bar[PROGRESS_BAR + 1];
        int64_t bytes = v->bytes < v->size ? v->bytes : v->size;
        int fill = (int)(bytes * PROGRESS_BAR / v->size);
        for (int i = 0; i < PROGRESS_BAR; i++)
            bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[PROGRESS_BAR] = 0;
        fprintf(stderr, " [%s] %s/%s", bar, cli_format_size(bytes, done, sizeof(done)),
                cli_format_size(v->size, total, sizeof(total)));
        if (v->rate > 0) {
            format_eta((double)(v->size - bytes) / v->rate, eta, sizeof(eta));
            fprintf(stderr, "  %s/s  ETA %s", cli_format_size((int64_t)v->rate, rate, sizeof(rate)),
                    eta);
        }
    } else if (v->size > 0) {
        fprintf(stderr, " %s", cli_format_size(v->size, total, sizeof(total)));
    }
    fputs("\033[K\n", stderr);
}

/* Redraws the block on a terminal: the spinner line, then the layers. */
static void progress_draw(struct progress *p)
{
    static const char frames[] = "|/-\\";
    if (!p->tty)
        return;
    if (p->drawn > 0)
        fprintf(stderr, "\033[%dA", p->drawn);
    fprintf(stderr, "\r%c Pulling %s  %.0fs\033[K\n", frames[p->frame++ % 4], p->ref,
            now_s() - p->start);
    for (size_t i = 0; i < p->n; i++)
        draw_layer(&p->layers[i]);
    p->drawn = 1 + (int)p->n;
    fflush(stderr);
}

struct pull_call {
    struct client *client;
    json_t *in;
    json_t *out;
    struct error *err;
    int r;
    int efd; /* written when the call is done */
};

static void *pull_thread(void *arg)
{
    struct pull_call *c = arg;
    c->r = client_call(c->client, &client_skiff, "PullImage", c->in, &c->out, &c->err);
    uint64_t one = 1;
    while (write(c->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* PullImage with a progress display; prints the failure and returns -1
 * when it fails. */
static int pull_with_progress(struct cli *cli, const char *ref, json_t *in, json_t **ret_out)
{
    struct client *c = cli_client(cli);
    if (!c) {
        json_decref(in);
        return -1;
    }
    /* A second connection for the progress questions: the first is busy
     * with the pull until it answers. */
    cli->client = NULL;
    struct client *poller = cli_client(cli);
    cli->client = c;
    if (!poller) {
        json_decref(in);
        return -1;
    }
    bool table = cli->output == CLI_OUTPUT_TABLE;
    struct progress p = {
        .ref = ref,
        .tty = isatty(STDERR_FILENO),
        .start = now_s(),
    };
    p.lines = !p.tty && table;
    if (p.lines)
        fprintf(stderr, "Pulling %s\n", ref);
    progress_draw(&p);

    struct pull_call call = {.client = c, .in = in, .efd = eventfd(0, EFD_CLOEXEC)};
    pthread_t th;
    client_set_timeout(c, 0);
    int r = call.efd < 0 ? -errno : -pthread_create(&th, NULL, pull_thread, &call);
    if (r < 0) {
        /* No thread: the pull without progress. */
        if (call.efd >= 0)
            close(call.efd);
        call.efd = -1;
        call.r = client_call(c, &client_skiff, "PullImage", in, &call.out, &call.err);
    } else {
        struct pollfd pfd = {.fd = call.efd, .events = POLLIN};
        while (poll(&pfd, 1, PROGRESS_POLL_MS) == 0 || (pfd.revents & POLLIN) == 0) {
            json_t *q = json_pack("{s:s}", "reference", ref);
            json_t *answer = NULL;
            _cleanup_error_ struct error *e = NULL;
            if (client_call(poller, &client_skiff, "DescribePullProgress", q, &answer, &e) == 0)
                progress_update(&p, answer);
            json_decref(q);
            json_decref(answer);
            progress_draw(&p);
        }
        pthread_join(th, NULL);
        close(call.efd);
    }
    client_set_timeout(c, CLIENT_TIMEOUT_S);
    client_free(poller);
    json_decref(in);

    /* The pull answered: the layers it names are complete (the last poll
     * may have seen them before the end). One never seen (a pull faster
     * than a poll) is only known to be in the store. */
    if (call.r == 0) {
        json_t *layers = json_array();
        size_t i;
        json_t *l;
        json_array_foreach(json_get_array(json_get_object(call.out, "image"), "layers"), i, l)
        {
            const char *digest = json_get_str(l, "digest");
            if (!digest)
                continue;
            const char *status = "READY";
            for (size_t k = 0; k < p.n; k++)
                if (strcmp(p.layers[k].digest, digest) == 0)
                    status = strcmp(p.layers[k].status, "ALREADY_EXISTS") == 0 ? "ALREADY_EXISTS"
                                                                               : "COMPLETE";
            json_int_t size = json_get_int(l, "size", 0);
            json_array_append_new(layers,
                                  json_pack("{s:s, s:I, s:I, s:s}", "digest", digest, "size", size,
                                            "downloadedBytes", size, "status", status));
        }
        json_t *final = json_pack("{s:[{s:o}]}", "pulls", "layers", layers);
        progress_update(&p, final);
        json_decref(final);
    }
    if (p.tty) {
        /* The spinner line becomes the result; the layers stay below it. */
        if (p.drawn > 0)
            fprintf(stderr, "\033[%dA", p.drawn);
        fputs("\r\033[K", stderr);
        if (call.r == 0)
            fprintf(stderr, "Pulled %s in %.1fs\n", ref, now_s() - p.start);
        else
            fputs("\n", stderr);
        for (size_t i = 0; i < p.n; i++)
            draw_layer(&p.layers[i]);
        fflush(stderr);
    }
    progress_done(&p);
    if (call.r < 0) {
        cli_fail("%s", call.err ? call.err->msg : strerror(-call.r));
        error_free(call.err);
        return -1;
    }
    if (p.lines)
        fprintf(stderr, "Pulled %s in %.1fs\n", ref, now_s() - p.start);
    *ret_out = call.out;
    return 0;
}

static int image_pull(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"platform", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *platform = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'p':
            platform = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(cli, argc == optind ? "missing argument" : "too many arguments");
    const char *ref = argv[optind];
    json_t *in = json_pack("{s:s}", "reference", ref);
    if (platform)
        json_object_set_new(in, "platform", json_string(platform));
    json_t *out = NULL;
    if (pull_with_progress(cli, ref, in, &out) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON) {
        cli_print_json(out);
    } else {
        json_t *list = json_array();
        if (json_get_object(out, "image"))
            json_array_append(list, json_get_object(out, "image"));
        print_images(list);
        json_decref(list);
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

static int image_ls(struct cli *cli, int argc, char **argv)
{
    if (cli_operands(cli, argc, argv, 0, 0) < 0)
        return CLI_EXIT_USAGE;
    json_t *images = NULL;
    if (cli_list_skiff(cli, "ListImages", json_object(), "images", &images) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *out = json_pack("{s:O}", "images", images);
        cli_print_json(out);
        json_decref(out);
    } else {
        print_images(images);
    }
    json_decref(images);
    return CLI_EXIT_OK;
}

static int image_rm(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, -1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    /* Every reference is tried; the status says whether one failed. */
    int rc = CLI_EXIT_OK;
    json_t *deleted = json_array();
    for (int i = first; i < argc; i++) {
        json_t *out = NULL;
        if (cli_call_skiff(cli, "DeleteImage", json_pack("{s:s}", "reference", argv[i]), &out) <
            0) {
            rc = CLI_EXIT_FAIL;
            continue;
        }
        size_t j;
        json_t *v;
        json_array_foreach(json_get_array(out, "deleted"), j, v)
        {
            if (cli->output == CLI_OUTPUT_TABLE)
                printf("%s\n", json_string_value(v));
            json_array_append(deleted, v);
        }
        json_decref(out);
    }
    if (cli->output == CLI_OUTPUT_JSON) {
        json_t *out = json_pack("{s:O}", "deleted", deleted);
        cli_print_json(out);
        json_decref(out);
    }
    json_decref(deleted);
    return rc;
}

static const char *join_json(const json_t *v, struct buf *b)
{
    if (!v || (json_is_array(v) && !json_array_size(v)))
        return NULL;
    char *s = json_dump_compact(v);
    buf_puts(b, s);
    free(s);
    return b->data;
}

static const char *join_words(const json_t *arr, const char *sep, struct buf *b)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i)
            buf_puts(b, sep);
        buf_puts(b, json_is_string(v) ? json_string_value(v) : "?");
    }
    return b->len ? b->data : NULL;
}

static void print_image(const json_t *im)
{
    json_t *cfg = json_get_object(im, "config");
    char size[16], unpacked[16], pulled[32], used[32];
    struct buf platform, entrypoint, cmd, env, ports;
    buf_init(&platform, 0);
    buf_init(&entrypoint, 0);
    buf_init(&cmd, 0);
    buf_init(&env, 0);
    buf_init(&ports, 0);
    if (json_get_str(cfg, "os"))
        buf_printf(&platform, "%s/%s", json_get_str(cfg, "os"),
                   json_get_str(cfg, "architecture") ? json_get_str(cfg, "architecture") : "?");
    struct table *t = table_new(2, NULL);
    table_addv(t, "REFERENCE", json_get_str(im, "reference"));
    table_addv(t, "DIGEST", json_get_str(im, "digest"));
    table_addv(t, "INDEX DIGEST", json_get_str(im, "indexDigest"));
    table_addv(t, "CONFIG DIGEST", json_get_str(im, "configDigest"));
    table_addv(t, "MEDIA TYPE", json_get_str(im, "mediaType"));
    table_addv(t, "PLATFORM", platform.len ? platform.data : NULL);
    table_addv(t, "SIZE", size_cell(im, "size", size, sizeof(size)));
    table_addv(t, "UNPACKED", size_cell(im, "unpackedSize", unpacked, sizeof(unpacked)));
    table_addv(t, "PULLED",
               cli_format_time(json_object_get(im, "pulledAt"), pulled, sizeof(pulled)));
    table_addv(t, "LAST USED",
               cli_format_time(json_object_get(im, "lastUsedAt"), used, sizeof(used)));
    table_addv(t, "ENTRYPOINT", join_json(json_object_get(cfg, "entrypoint"), &entrypoint));
    table_addv(t, "CMD", join_json(json_object_get(cfg, "cmd"), &cmd));
    table_addv(t, "ENV", join_words(json_get_array(cfg, "env"), " ", &env));
    table_addv(t, "WORKDIR", json_get_str(cfg, "workingDir"));
    table_addv(t, "USER", json_get_str(cfg, "user"));
    table_addv(t, "PORTS", join_words(json_get_array(cfg, "exposedPorts"), ",", &ports));
    table_print(t, stdout);
    table_free(t);
    buf_done(&platform);
    buf_done(&entrypoint);
    buf_done(&cmd);
    buf_done(&env);
    buf_done(&ports);

    static const char *const headers[] = {"LAYER", "SIZE", "MEDIA-TYPE"};
    t = table_new(ARRAY_SIZE(headers), headers);
    size_t i;
    json_t *l;
    json_array_foreach(json_get_array(im, "layers"), i, l)
    {
        char lsize[16];
        const char *cells[] = {json_get_str(l, "digest"),
                               size_cell(l, "size", lsize, sizeof(lsize)),
                               json_get_str(l, "mediaType")};
        table_add(t, cells);
    }
    fputc('\n', stdout);
    table_print(t, stdout);
    table_free(t);
}

static int image_inspect(struct cli *cli, int argc, char **argv)
{
    int first = cli_operands(cli, argc, argv, 1, 1);
    if (first < 0)
        return CLI_EXIT_USAGE;
    json_t *out = NULL;
    if (cli_call_skiff(cli, "DescribeImages", json_pack("{s:[s]}", "references", argv[first]),
                       &out) < 0)
        return CLI_EXIT_FAIL;
    json_t *im = json_array_get(json_get_array(out, "images"), 0);
    int rc = CLI_EXIT_OK;
    if (!im) {
        json_t *f = json_array_get(json_get_array(out, "failures"), 0);
        rc = cli_fail("%s: %s", argv[first],
                      json_get_str(f, "reason") ? json_get_str(f, "reason") : "no such image");
    } else if (cli->output == CLI_OUTPUT_TABLE && cli->output_given) {
        print_image(im);
    } else {
        cli_print_json(im);
    }
    json_decref(out);
    return rc;
}

/* FILE as skiffd on this host reads it: absolute, symbolic links resolved
 * when it exists here. Returns a new string. */
static char *absolute_path(const char *file)
{
    char resolved[PATH_MAX];
    if (realpath(file, resolved))
        return xstrdup(resolved);
    if (file[0] == '/')
        return xstrdup(file);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return xstrdup(file);
    return xasprintf("%s/%s", cwd, file);
}

static int image_import(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        switch (c) {
        case 'n':
            name = optarg;
            break;
        case CLI_OPT_BAD:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(cli, argc == optind ? "missing argument" : "too many arguments");
    _cleanup_free_ char *path = absolute_path(argv[optind]);
    json_t *in = json_pack("{s:s}", "path", path);
    if (name)
        json_object_set_new(in, "reference", json_string(name));
    json_t *out = NULL;
    if (long_call(cli, "Importing", "Imported", path, "ImportImage", in, &out) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON)
        cli_print_json(out);
    else
        print_images(json_get_array(out, "images"));
    json_decref(out);
    return CLI_EXIT_OK;
}

/* "1048576", "512M", "10G", "1.5GiB": bytes, in binary units. */
static int parse_size(const char *s, int64_t *ret)
{
    static const char units[] = "KMGTPE";
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    if (*end) {
        const char *u = strchr(units, *end >= 'a' ? *end - 'a' + 'A' : *end);
        if (!u || !*u)
            return -1;
        for (const char *p = units; p <= u; p++)
            v *= 1024;
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B"))
            end += strlen(end);
        if (*end)
            return -1;
    }
    if (v >= 9.2e18)
        return -1;
    *ret = (int64_t)v;
    return 0;
}

static int image_prune(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-size", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    json_t *in = json_object();
    int c;
    struct cli_getopt g = {.argc = argc, .argv = argv, .shortopts = ":", .longopts = opts};
    while ((c = cli_getopt_next(cli, &g)) != -1) {
        int64_t max = 0;
        switch (c) {
        case 'm':
            if (parse_size(optarg, &max) < 0) {
                json_decref(in);
                return cli_usage_error(cli, "--max-size takes a size such as 10G, not '%s'",
                                       optarg);
            }
            json_object_set_new(in, "maxCacheSize", json_integer(max));
            break;
        case CLI_OPT_BAD:
            json_decref(in);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        json_decref(in);
        return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
    }
    json_t *out = NULL;
    if (cli_call_skiff(cli, "PruneImages", in, &out) < 0)
        return CLI_EXIT_FAIL;
    if (cli->output == CLI_OUTPUT_JSON) {
        cli_print_json(out);
    } else {
        char images[24], blobs[24], layers[24], freed[16];
        struct table *t = table_new(2, NULL);
        table_addv(t, "IMAGES REMOVED", cli_cell(out, "imagesRemoved", images, sizeof(images)));
        table_addv(t, "BLOBS REMOVED", cli_cell(out, "blobsRemoved", blobs, sizeof(blobs)));
        table_addv(t, "LAYERS REMOVED", cli_cell(out, "layersRemoved", layers, sizeof(layers)));
        table_addv(t, "SPACE FREED", size_cell(out, "bytesFreed", freed, sizeof(freed)));
        table_print(t, stdout);
        table_free(t);
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

const struct cli_command cli_image_commands[] = {
    {"pull", image_pull, NULL, "REF [--platform OS/ARCH[/VARIANT]]",
     "Pull an image into the host's store (PullImage)",
     "REF is normalised as Docker does (busybox is docker.io/library/busybox:latest).\n"
     "Progress goes to stderr: on a terminal one line per layer, redrawn in\n"
     "place, with its state, bytes done and total, rate and time left; elsewhere\n"
     "(table output) a line before, one per change of a layer's state (Waiting,\n"
     "Downloading, Download complete, Extracting, Pull complete, Already exists)\n"
     "and one after.\n"
     "\n"
     "  --platform P   pick P from a multi-platform index (default: the host's)\n"},
    {"ls", image_ls, NULL, NULL, "List the images in the store (ListImages)",
     "Most recently used first; sizes in binary units (KiB, MiB, GiB).\n"},
    {"inspect", image_inspect, NULL, "REF", "Show an image and its config (DescribeImages)",
     "REF may also be a manifest digest. Prints the image as JSON; --output\n"
     "table prints a summary and its layers.\n"},
    {"rm", image_rm, NULL, "REF...", "Remove images from the store (DeleteImage)",
     "Removes the image records (a digest removes every reference to it) and\n"
     "prints the references removed; their blobs and layers go at the next\n"
     "'skiff image prune' unless another image uses them. Exits with status 1\n"
     "when a reference could not be removed, after trying the others.\n"},
    {"import", image_import, NULL, "FILE [--name REF]",
     "Import images from an OCI layout or a docker save tar (ImportImage)",
     "FILE is an OCI image layout (directory or tar) or a 'docker save' tar.\n"
     "skiffd reads it itself, so it must be on skiffd's host; a relative path\n"
     "is made absolute here first. Only the default profile (the host's\n"
     "administrator) may import.\n"
     "\n"
     "  --name REF   record the (single) image under REF instead of its names\n"},
    {"prune", image_prune, NULL, "[--max-size SIZE]",
     "Remove blobs and layers no image uses (PruneImages)",
     "  --max-size SIZE   also remove least recently used images until the store\n"
     "                    fits in SIZE (bytes, or with a K, M, G or T suffix;\n"
     "                    powers of 1024)\n"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
