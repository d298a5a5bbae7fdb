/* The awslogs shipper (ship.h): one thread that tails the CRI logs of the
 * containers that asked for awslogs and sends their lines to the control
 * plane through the node protocol's logs message. */
#include "logs/ship.h"
#include "logs/logs-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHIP_RETRY_MS 5000 /* after a refused or failed batch */
/* While a log is being written the shipper looks every SHIP_HOT_MS; it
 * ships at once when SHIP_EAGER bytes wait, else at most every
 * SHIP_TRICKLE_MS (each batch is a transaction with an fsync, so a
 * trickle of lines is gathered). Idle logs are looked at every poll_ms. */
#define SHIP_HOT_MS      10
#define SHIP_HOT_FOR_MS  2000
#define SHIP_EAGER       (64 * 1024)
#define SHIP_TRICKLE_MS  50
#define SHIP_STATE_MAX   (8 * 1024 * 1024) /* task.json */
#define SHIP_MAX_SOURCES 10                /* containers per task */

/* One container's log. */
struct source {
    char *name;   /* container name */
    char *group;  /* awslogs-group */
    char *stream; /* PREFIX/NAME/TASK-ID */
    bool create_group;
    int fd;
    int64_t offset; /* stored by the control plane; -1 until asked */
    int64_t retry_at;
    int64_t shipped_at; /* last batch */
    bool done;          /* the task stopped and everything is stored */
    bool warned;
};

struct ship_task {
    char *id, *arn, *account;
    struct timespec mtime; /* of task.json when last read */
    bool stopped;
    bool seen; /* in this scan */
    struct source *src;
    size_t n_src;
    struct ship_task *next;
};

/* A logs_ship_flush call waiting (on its caller's stack). */
struct flush_req {
    const char *task_id;
    bool done;
    struct flush_req *next;
};

struct logs_ship {
    struct logs_ship_config cfg;
    char *tasks_dir;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    struct flush_req *flushes; /* under lock */
    pthread_cond_t flushed;
    struct ship_task *tasks;
    char *buf;         /* one batch */
    int64_t hot_until; /* look every SHIP_HOT_MS until then */
};

static void task_free(struct ship_task *t)
{
    for (size_t i = 0; i < t->n_src; i++) {
        struct source *s = &t->src[i];
        if (s->fd >= 0)
            close(s->fd);
        free(s->name);
        free(s->group);
        free(s->stream);
    }
    free(t->src);
    free(t->id);
    free(t->arn);
    free(t->account);
    free(t);
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static int read_file(const char *path, size_t cap, char **ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size > cap)
        return -EFBIG;
    char *data = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    data[got] = '\0';
    *ret = data;
    return 0;
}

/* The awslogs containers of an assign message. */
static void task_sources(struct ship_task *t, const json_t *assign)
{
    json_t *defs =
        json_get_array(json_get_object(assign, "taskDefinition"), "containerDefinitions");
    size_t i;
    json_t *c;
    t->src = xcalloc(SHIP_MAX_SOURCES, sizeof(*t->src));
    json_array_foreach(defs, i, c)
    {
        json_t *lc = json_get_object(c, "logConfiguration");
        json_t *opts = json_get_object(lc, "options");
        const char *name = json_get_str(c, "name");
        const char *group = json_get_str(opts, "awslogs-group");
        const char *prefix = json_get_str(opts, "awslogs-stream-prefix");
        const char *create = json_get_str(opts, "awslogs-create-group");
        if (!name || !group || strcmp(json_get_str(lc, "logDriver") ?: "", "awslogs") != 0 ||
            t->n_src == SHIP_MAX_SOURCES)
            continue;
        struct source *s = &t->src[t->n_src++];
        s->name = xstrdup(name);
        s->group = xstrdup(group);
        /* ECS's stream name; without a prefix, container/task-id. */
        s->stream = prefix && *prefix ? xasprintf("%s/%s/%s", prefix, name, t->id)
                                      : xasprintf("%s/%s", name, t->id);
        s->create_group = create && !strcasecmp(create, "true");
        s->fd = -1;
        s->offset = -1;
    }
}

/* Reads task.json again when it changed: a new task's sources, and
 * whether the task has stopped. */
static void task_refresh(struct logs_ship *sh, struct ship_task *t, const char *path,
                         const struct stat *st)
{
    if (t->stopped || (t->mtime.tv_sec == st->st_mtim.tv_sec &&
                       t->mtime.tv_nsec == st->st_mtim.tv_nsec && t->src))
        return;
    _cleanup_free_ char *text = NULL;
    if (read_file(path, SHIP_STATE_MAX, &text) < 0)
        return;
    json_t *state = json_loads(text, 0, NULL);
    if (!state)
        return; /* replaced while read: next time */
    t->mtime = st->st_mtim;
    json_t *assign = json_get_object(state, "assign");
    if (!t->src) {
        t->arn = xstrdup(json_get_str(assign, "taskArn") ?: "");
        t->account = xstrdup(json_get_str(assign, "accountId") ?: "");
        task_sources(t, assign);
    }
    t->stopped = !strcmp(json_get_str(state, "lastStatus") ?: "", "STOPPED");
    json_decref(state);
    (void)sh;
}

static json_t *message(const struct ship_task *t, const struct source *s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "taskArn", t->arn, "accountId", t->account,
                     "container", s->name, "logGroup", s->group, "logStream", s->stream,
                     "createGroup", s->create_group);
}

/* Finds new tasks and forgets the ones whose directory is gone. */
static void scan(struct logs_ship *sh)
{
    _cleanup_(closedirp) DIR *d = opendir(sh->tasks_dir);
    if (!d)
        return;
    for (struct ship_task *t = sh->tasks; t; t = t->next)
        t->seen = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s/task.json", sh->tasks_dir, de->d_name);
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        struct ship_task *t;
        for (t = sh->tasks; t && strcmp(t->id, de->d_name); t = t->next)
            ;
        if (!t) {
            t = xzalloc(sizeof(*t));
            t->id = xstrdup(de->d_name);
            t->next = sh->tasks;
            sh->tasks = t;
        }
        t->seen = true;
        task_refresh(sh, t, path, &st);
    }
    for (struct ship_task **pt = &sh->tasks; *pt;) {
        struct ship_task *t = *pt;
        if (!t->seen) {
            /* Purged: the control plane may drop what it kept for it. */
            for (size_t i = 0; i < t->n_src; i++) {
                json_t *msg = message(t, &t->src[i]), *ans = NULL;
                _cleanup_error_ struct error *err = NULL;
                json_object_set_new(msg, "forget", json_true());
                sh->cfg.send(sh->cfg.cp, msg, &ans, &err);
                json_decref(msg);
                json_decref(ans);
            }
            *pt = t->next;
            task_free(t);
        } else {
            pt = &t->next;
        }
    }
}

/* Sends msg; on success the stored offset becomes s->offset. */
static int send_msg(struct logs_ship *sh, const struct ship_task *t, struct source *s, json_t *msg)
{
    _cleanup_error_ struct error *err = NULL;
    json_t *ans = NULL;
    int r = sh->cfg.send(sh->cfg.cp, msg, &ans, &err);
    json_decref(msg);
    if (r < 0) {
        if (!s->warned)
            log_warn("awslogs: task %s container %s: %s (retrying)", t->id, s->name, err->msg);
        s->warned = true;
        s->retry_at = time_now_ms() + SHIP_RETRY_MS;
        return r;
    }
    s->warned = false;
    s->offset = json_get_int(ans, "offset", s->offset);
    json_decref(ans);
    return 0;
}

/* Ships one batch of s; true when it moved. */
static bool ship_one(struct logs_ship *sh, struct ship_task *t, struct source *s, int64_t now)
{
    if (s->done || now < s->retry_at)
        return false;
    if (s->offset < 0) {
        int r = send_msg(sh, t, s, message(t, s));
        if (r == -ENOENT && !s->create_group && !t->stopped && sh->cfg.fail) {
            _cleanup_free_ char *reason =
                xasprintf("ResourceInitializationError: failed to validate logger args: "
                          "create stream has been retried 1 times: failed to create Cloudwatch "
                          "log stream: ResourceNotFoundException: The specified log group does "
                          "not exist. (container %s, awslogs-group %s)",
                          s->name, s->group);
            sh->cfg.fail(sh->cfg.fail_arg, t->arn, reason);
            s->done = true;
        }
        if (r < 0)
            return false;
    }
    if (s->fd < 0) {
        _cleanup_free_ char *path = NULL;
        _cleanup_error_ struct error *err = NULL;
        if (sh->cfg.path(sh->cfg.path_arg, t->arn, s->name, &path, &err) < 0)
            return false;
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            /* Not created yet, or the container never started. */
            if (t->stopped)
                s->done = true;
            else
                sh->hot_until = now + SHIP_HOT_FOR_MS; /* it may start any moment */
            return false;
        }
        sh->hot_until = now + SHIP_HOT_FOR_MS;
    }
    /* Read the stopped flag before the data: what a stopped task's log
     * holds then is all it will ever hold. */
    bool stopped = t->stopped;
    struct stat st;
    if (!stopped && fstat(s->fd, &st) == 0) {
        if (st.st_size <= s->offset)
            return false;
        sh->hot_until = now + SHIP_HOT_FOR_MS;
        if (st.st_size - s->offset < SHIP_EAGER && now - s->shipped_at < SHIP_TRICKLE_MS)
            return false;
    }
    ssize_t n;
    do
        n = pread(s->fd, sh->buf, LOGS_SHIP_BATCH, s->offset);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (stopped) {
            s->done = true;
            close(s->fd);
            s->fd = -1;
        }
        return false;
    }
    /* A line without its end (conmon writes what it has read of a line
     * as a P piece at once) waits for it, unless the task stopped or the
     * batch is full: then it is all there is. */
    bool whole = stopped || n == LOGS_SHIP_BATCH;
    size_t cut = logs_cri_cut(sh->buf, (size_t)n, whole);
    if (cut == 0) {
        if (!whole)
            return false;
        cut = (size_t)n;
    }
    logs_utf8_sanitize(sh->buf, cut);
    json_t *msg = message(t, s);
    json_object_set_new(msg, "offset", json_integer(s->offset));
    json_object_set_new(msg, "end", json_integer(s->offset + (int64_t)cut));
    json_object_set_new(msg, "lines", json_stringn_nocheck(sh->buf, cut));
    int64_t before = s->offset;
    s->shipped_at = now;
    return send_msg(sh, t, s, msg) == 0 && s->offset != before;
}

static struct ship_task *find_task(struct logs_ship *sh, const char *id)
{
    struct ship_task *t;
    for (t = sh->tasks; t && strcmp(t->id, id); t = t->next)
        ;
    return t;
}

/* Ships all of one task's logs, as stopped; the batches go one after the
 * other until none moves (everything is stored, or a send failed). */
static void flush_task(struct logs_ship *sh, const char *id)
{
    struct ship_task *t = find_task(sh, id);
    if (!t)
        return;
    t->stopped = true; /* its containers have exited: the logs are whole */
    bool moved = true;
    while (moved) {
        moved = false;
        for (size_t i = 0; i < t->n_src; i++)
            moved |= ship_one(sh, t, &t->src[i], time_now_ms());
    }
}

/* Answers the flush requests waiting now. */
static void flush_requested(struct logs_ship *sh, int64_t *last_scan)
{
    pthread_mutex_lock(&sh->lock);
    struct flush_req *reqs = sh->flushes;
    sh->flushes = NULL;
    pthread_mutex_unlock(&sh->lock);
    if (!reqs)
        return;
    /* A task that lived less than a poll is not known yet. */
    for (struct flush_req *r = reqs; r; r = r->next) {
        if (!find_task(sh, r->task_id)) {
            scan(sh);
            *last_scan = time_now_ms();
            break;
        }
    }
    for (struct flush_req *r = reqs; r; r = r->next)
        flush_task(sh, r->task_id);
    pthread_mutex_lock(&sh->lock);
    while (reqs) {
        struct flush_req *next = reqs->next;
        reqs->done = true; /* the caller may return and free it at once */
        reqs = next;
    }
    pthread_cond_broadcast(&sh->flushed);
    pthread_mutex_unlock(&sh->lock);
}

void logs_ship_flush(struct logs_ship *sh, const char *task_id, int64_t timeout_ms)
{
    if (!sh)
        return;
    struct flush_req req = {.task_id = task_id};
    struct timespec until = time_deadline(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&sh->lock);
    req.next = sh->flushes;
    sh->flushes = &req;
    pthread_cond_signal(&sh->wake);
    while (!req.done && !sh->stop)
        if (pthread_cond_timedwait(&sh->flushed, &sh->lock, &until) == ETIMEDOUT)
            break;
    if (!req.done) {
        /* Not taken, or taken and still under way: take it back, or wait
         * for the answer that is coming (it touches req). */
        struct flush_req **pr = &sh->flushes;
        while (*pr && *pr != &req)
            pr = &(*pr)->next;
        if (*pr)
            *pr = req.next;
        else
            while (!req.done)
                pthread_cond_wait(&sh->flushed, &sh->lock);
        log_warn("awslogs: task %s: its logs were not all stored within %lld ms of its stop; "
                 "they follow",
                 task_id, (long long)timeout_ms);
    }
    pthread_mutex_unlock(&sh->lock);
}

static void *ship_main(void *arg)
{
    struct logs_ship *sh = arg;
    int64_t last_scan = 0;
    pthread_mutex_lock(&sh->lock);
    while (!sh->stop) {
        pthread_mutex_unlock(&sh->lock);
        flush_requested(sh, &last_scan);
        int64_t now = time_now_ms();
        if (now - last_scan >= sh->cfg.poll_ms) {
            scan(sh);
            last_scan = now;
        }
        bool moved = false;
        for (struct ship_task *t = sh->tasks; t; t = t->next)
            for (size_t i = 0; i < t->n_src; i++)
                moved |= ship_one(sh, t, &t->src[i], now);
        pthread_mutex_lock(&sh->lock);
        if (!moved && !sh->stop && !sh->flushes) {
            int64_t wait = now < sh->hot_until ? SHIP_HOT_MS : sh->cfg.poll_ms;
            struct timespec until = time_deadline(CLOCK_REALTIME, wait);
            pthread_cond_timedwait(&sh->wake, &sh->lock, &until);
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

int logs_ship_start(const struct logs_ship_config *cfg, struct logs_ship **ret, struct error **err)
{
    struct logs_ship *sh = xzalloc(sizeof(*sh));
    sh->cfg = *cfg;
    if (sh->cfg.poll_ms <= 0)
        sh->cfg.poll_ms = 200;
    sh->cfg.data_dir = NULL;
    sh->tasks_dir = xasprintf("%s/tasks", cfg->data_dir);
    sh->buf = xmalloc(LOGS_SHIP_BATCH);
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->wake, NULL);
    pthread_cond_init(&sh->flushed, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int e = pthread_create(&sh->thread, &attr, ship_main, sh);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        free(sh->buf);
        free(sh->tasks_dir);
        free(sh);
        return error_set(err, e, NULL, "awslogs shipper: cannot start its thread");
    }
    *ret = sh;
    return 0;
}

void logs_ship_free(struct logs_ship *sh)
{
    if (!sh)
        return;
    pthread_mutex_lock(&sh->lock);
    sh->stop = true;
    pthread_cond_signal(&sh->wake);
    pthread_cond_broadcast(&sh->flushed);
    pthread_mutex_unlock(&sh->lock);
    pthread_join(sh->thread, NULL);
    while (sh->tasks) {
        struct ship_task *t = sh->tasks;
        sh->tasks = t->next;
        task_free(t);
    }
    pthread_mutex_destroy(&sh->lock);
    pthread_cond_destroy(&sh->wake);
    pthread_cond_destroy(&sh->flushed);
    free(sh->buf);
    free(sh->tasks_dir);
    free(sh);
}
