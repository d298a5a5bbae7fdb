/* Image pulls for tasks, on a few long-lived worker threads: each holds its
 * own store connection (store_thread_db connections live as long as the
 * store, so they must not be taken by short-lived task threads), and a
 * task waiting for a pull can still be stopped.
 *
 * Registry credentials (the assign message's "registryAuth", node.h) are
 * taken out of the message before the agent parses or saves it, and kept
 * here, in memory only, until the task is gone: they never reach task.json
 * or a report. */
#include "agent/agent-internal.h"
#include "api/arn.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/image.h"
#include "store/db.h"

#include <errno.h>
#include <openssl/crypto.h>

/* A task start records its image's use (LRU order) when the recorded one
 * is older than this: not a store write and fsync at every start. */
#define AGENT_IMAGE_TOUCH_MS 60000
#include <string.h>

/* The credentials of one task: {"<container name>": {username, password}}. */
struct auth_entry {
    char *task_arn;
    json_t *auth;
    struct auth_entry *next;
};

/* Under auth_lock; ARNs are unique across agents, so one list serves all. */
static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
static struct auth_entry *auths;

static void wipe_json_strings(json_t *v)
{
    const char *k;
    json_t *m;
    if (json_is_object(v)) {
        json_object_foreach(v, k, m) wipe_json_strings(m);
    } else if (json_is_string(v)) {
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
    }
}

static void auth_entry_free(struct auth_entry *e)
{
    free(e->task_arn);
    wipe_json_strings(e->auth);
    json_decref(e->auth);
    free(e);
}

static bool held(struct agent *a, const char *arn)
{
    for (struct task *t = a->tasks; t; t = t->next)
        if (strcmp(t->def.arn, arn) == 0)
            return true;
    return false;
}

json_t *agent_pull_auth_take(struct agent *a, const json_t *msg)
{
    json_t *auth = json_object_get(msg, "registryAuth");
    const char *arn = json_get_str(msg, "taskArn");
    /* Forget the credentials of tasks this agent no longer holds. */
    pthread_mutex_lock(&a->lock);
    pthread_mutex_lock(&auth_lock);
    for (struct auth_entry **pp = &auths; *pp;) {
        struct auth_entry *e = *pp;
        if (!held(a, e->task_arn) || (arn && auth && strcmp(e->task_arn, arn) == 0)) {
            *pp = e->next;
            auth_entry_free(e);
        } else {
            pp = &e->next;
        }
    }
    if (json_is_object(auth) && arn) {
        struct auth_entry *e = xzalloc(sizeof(*e));
        e->task_arn = xstrdup(arn);
        e->auth = json_deep_copy(auth);
        e->next = auths;
        auths = e;
    }
    pthread_mutex_unlock(&auth_lock);
    pthread_mutex_unlock(&a->lock);
    if (!auth)
        return json_incref((json_t *)msg);
    json_t *copy = json_copy((json_t *)msg);
    json_object_del(copy, "registryAuth");
    return copy;
}

/* The credentials for container `name` of task `arn`, as new strings. */
static bool auth_find(const char *arn, const char *name, char **ret_user, char **ret_pass)
{
    bool found = false;
    pthread_mutex_lock(&auth_lock);
    for (struct auth_entry *e = auths; e && !found; e = e->next) {
        if (strcmp(e->task_arn, arn) != 0)
            continue;
        json_t *c = json_object_get(e->auth, name);
        const char *u = json_get_str(c, "username"), *p = json_get_str(c, "password");
        if (u && p) {
            *ret_user = xstrdup(u);
            *ret_pass = xstrdup(p);
            found = true;
        }
    }
    pthread_mutex_unlock(&auth_lock);
    return found;
}

static void free_secret(char *s)
{
    if (s)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

struct pull_req {
    char *reference;
    char *account;             /* the task's, given access to the image */
    char *username, *password; /* NULL: DATA-DIR/config.json or anonymous */
    int refs;                  /* the queue or worker, and the waiting task */
    bool done;
    int r;
    struct img_info *info;
    struct error *err;
    struct pull_req *next;
};

static void req_unref(struct pull_req *q)
{
    if (--q->refs > 0)
        return;
    free(q->reference);
    free(q->account);
    free_secret(q->username);
    free_secret(q->password);
    img_info_free(q->info);
    error_free(q->err);
    free(q);
}

static void *worker(void *p)
{
    struct agent *a = p;
    struct db *db = NULL;
    struct error *dberr = NULL;
    store_thread_db(a->store, &db, &dberr);
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->pull_queue && !a->closing)
            pthread_cond_wait(&a->cond, &a->lock);
        if (a->closing)
            break;
        struct pull_req *q = a->pull_queue;
        a->pull_queue = q->next;
        pthread_mutex_unlock(&a->lock);

        struct img_info *info = NULL;
        struct error *e = NULL;
        int r;
        if (!db) {
            r = error_set(&e, EIO, NULL, "%s: %s: no store connection: %s", IMG_ERR_PULL,
                          q->reference, dberr ? dberr->msg : "?");
        } else {
            struct img_creds creds = {.username = q->username, .password = q->password};
            struct img_pull_opts opts = {.policy = IMG_PULL_IF_MISSING,
                                         .creds = q->username ? &creds : NULL,
                                         .touch_after_ms = AGENT_IMAGE_TOUCH_MS};
            r = img_pull(db, q->reference, &opts, &info, &e);
            /* The account now sees the image in its ListImages (a read
             * first: no write per task start once it has access). */
            _cleanup_error_ struct error *ge = NULL;
            if (r == 0 && q->account && img_access_has(db, q->account, info->reference, &ge) == 0 &&
                img_access_grant(db, q->account, info->reference, &ge) < 0)
                log_warn("agent: image %s: access for account %s: %s", info->reference, q->account,
                         ge->msg);
        }

        pthread_mutex_lock(&a->lock);
        q->r = r;
        q->info = info;
        q->err = e;
        q->done = true;
        req_unref(q);
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&a->lock);
    error_free(dberr);
    return NULL;
}

int agent_pull_start(struct agent *a, struct error **err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* img_pull (libcurl, libarchive, zstd) wants a normal stack. */
    pthread_attr_setstacksize(&attr, 2 * 1024 * 1024);
    for (size_t i = 0; i < AGENT_PULL_WORKERS; i++) {
        int r = pthread_create(&a->pullers[i], &attr, worker, a);
        if (r != 0) {
            pthread_attr_destroy(&attr);
            return error_errno(err, r, "start image pull worker");
        }
        a->n_pullers++;
    }
    pthread_attr_destroy(&attr);
    return 0;
}

void agent_pull_stop(struct agent *a)
{
    pthread_mutex_lock(&a->lock);
    a->closing = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    for (size_t i = 0; i < a->n_pullers; i++)
        pthread_join(a->pullers[i], NULL);
    a->n_pullers = 0;
    while (a->pull_queue) {
        struct pull_req *q = a->pull_queue;
        a->pull_queue = q->next;
        req_unref(q);
    }
}

struct pull_req *agent_pull_begin(struct task *t, const char *reference)
{
    struct agent *a = t->a;
    struct pull_req *q = xzalloc(sizeof(*q));
    q->reference = xstrdup(reference);
    struct arn arn;
    q->account = arn_parse(t->def.arn, &arn) == 0 && arn.account[0] ? xstrdup(arn.account) : NULL;
    q->refs = 2;
    for (size_t i = 0; i < t->def.n_ctrs; i++)
        if ((t->def.ctrs[i].image == reference || strcmp(t->def.ctrs[i].image, reference) == 0) &&
            auth_find(t->def.arn, t->def.ctrs[i].name, &q->username, &q->password))
            break;
    pthread_mutex_lock(&a->lock);
    struct pull_req **tail = &a->pull_queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = q;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    return q;
}

/* Under a->lock: gives up the caller's reference, and the queue's when no
 * worker took the request yet. */
static void abandon(struct agent *a, struct pull_req *q)
{
    for (struct pull_req **pp = &a->pull_queue; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            q->refs--;
            break;
        }
    req_unref(q);
}

int agent_pull_finish(struct task *t, struct pull_req *q, struct img_info **ret, struct error **err)
{
    struct agent *a = t->a;
    pthread_mutex_lock(&a->lock);
    while (!q->done && !t->stop_requested && !a->closing)
        pthread_cond_wait(&a->cond, &a->lock);
    int r;
    if (q->done) {
        r = q->r;
        if (r == 0)
            *ret = TAKE_PTR(q->info);
        else if (err && !*err)
            *err = TAKE_PTR(q->err);
        req_unref(q);
    } else {
        r = error_set(err, ECANCELED, NULL, "pull of %s abandoned", q->reference);
        abandon(a, q);
    }
    pthread_mutex_unlock(&a->lock);
    return r;
}

void agent_pull_drop(struct agent *a, struct pull_req *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&a->lock);
    abandon(a, q);
    pthread_mutex_unlock(&a->lock);
}

int agent_pull(struct task *t, const char *reference, struct img_info **ret, struct error **err)
{
    return agent_pull_finish(t, agent_pull_begin(t, reference), ret, err);
}
