/* img_pull(): reference -> manifest (through an index for the host
 * platform) -> config -> layer blobs (in parallel, each once however many
 * pulls want it) -> unpacked layers (in parallel, each once) -> record.
 *
 * A pull holds the GC lock shared from its first blob to its record, so
 * garbage collection never removes what a pull is about to reference. */
#include "image/image-internal.h"
#include "image/records.h"
#include "base/cleanup.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define UNPACK_THREADS 4
#define CLAIM_ROUNDS   4

static struct cas *global_cas;
static char *global_data_dir;

void img_init(const char *data_dir)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    free(global_data_dir);
    global_data_dir = xstrdup(data_dir);
    struct error *err = NULL;
    if (!global_cas && cas_open(data_dir, &global_cas, &err) < 0)
        error_free(err); /* reported again by the first pull */
}

const char *img_data_dir(void)
{
    return global_data_dir;
}

struct cas *cas_global(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (global_cas || !global_data_dir)
        return global_cas;
    pthread_mutex_lock(&lock);
    struct error *err = NULL;
    if (!global_cas && cas_open(global_data_dir, &global_cas, &err) < 0)
        error_free(err);
    pthread_mutex_unlock(&lock);
    return global_cas;
}

/* Turns err into the task-report form; returns its -errno. */
static int pull_failed(struct error **err, const char *reference)
{
    if (!*err)
        error_set(err, EIO, NULL, "unknown error");
    (*err)->type = IMG_ERR_PULL;
    return error_wrap(err, "CannotPullContainerError: %s", reference);
}

struct pull {
    struct db *db;
    struct cas *cas;
    struct reg_client *rc;
    struct img_info *info;
    struct img_manifest *m;
    struct img_progress *progress;
    struct unpack_pool *pool;
    bool *handled;                  /* per layer: present, unpacking, or waited for */
    struct cas_claim **layer_waits; /* per layer: another pull's unpack to wait for */
};

/* A sink that counts bytes for the progress display on their way to the
 * content store's writer. */
struct counting_sink {
    struct reg_sink inner;
    struct img_progress *progress;
    size_t layer;
};

static int counting_write(void *arg, const void *p, size_t n)
{
    struct counting_sink *c = arg;
    int r = c->inner.write(c->inner.arg, p, n);
    if (r == 0)
        img_progress_bytes(c->progress, c->layer, (int64_t)n);
    return r;
}

static int counting_rewind(void *arg)
{
    struct counting_sink *c = arg;
    img_progress_reset(c->progress, c->layer);
    return c->inner.rewind(c->inner.arg);
}

static int64_t counting_written(void *arg)
{
    struct counting_sink *c = arg;
    return c->inner.written(c->inner.arg);
}

/* ---- manifest and config ---- */

static int fetch_manifest(struct pull *p, const struct img_ref *ref,
                          const struct img_pull_opts *opts, struct error **err)
{
    struct buf body;
    _cleanup_free_ char *ct = NULL;
    char digest[IMG_DIGEST_LEN + 1];
    int r = reg_get_manifest(p->rc, ref->digest ? ref->digest : ref->tag, &body, &ct, digest, err);
    if (r < 0)
        return r;
    struct img_manifest *m = NULL;
    r = img_manifest_parse(body.data ? body.data : "", body.len, ct, &m, err);
    if (r == 0)
        r = cas_blob_put(p->cas, digest, body.data ? body.data : "", body.len, err);
    int64_t manifest_bytes = (int64_t)body.len;
    buf_done(&body);
    if (r < 0) {
        img_manifest_free(m);
        return r;
    }
    if (m->kind == IMG_INDEX) {
        const char *os, *arch, *variant;
        img_platform_host(&os, &arch, &variant);
        if (opts && opts->os)
            os = opts->os;
        if (opts && opts->arch) {
            arch = opts->arch;
            variant = opts->variant;
        }
        const struct img_platform_entry *e = NULL;
        r = img_index_select(m, os, arch, variant, &e, err);
        if (r < 0) {
            img_manifest_free(m);
            return r;
        }
        memcpy(p->info->index_digest, digest, sizeof(digest));
        char child[IMG_DIGEST_LEN + 1];
        memcpy(child, e->desc.digest, sizeof(child));
        int64_t child_size = e->desc.size;
        img_manifest_free(m);
        m = NULL;
        _cleanup_free_ char *ct2 = NULL;
        r = reg_get_manifest(p->rc, child, &body, &ct2, digest, err);
        if (r < 0)
            return r;
        if ((int64_t)body.len != child_size)
            r = error_set(err, EBADMSG, NULL, "manifest %s is %zu bytes, the index says %lld",
                          child, body.len, (long long)child_size);
        if (r == 0)
            r = img_manifest_parse(body.data ? body.data : "", body.len, ct2, &m, err);
        if (r == 0 && m->kind != IMG_MANIFEST)
            r = error_set(err, EINVAL, NULL, "index entry %s is not an image manifest", child);
        if (r == 0)
            r = cas_blob_put(p->cas, digest, body.data ? body.data : "", body.len, err);
        manifest_bytes += (int64_t)body.len;
        buf_done(&body);
        if (r < 0) {
            img_manifest_free(m);
            return r;
        }
    }
    memcpy(p->info->digest, digest, sizeof(digest));
    p->info->media_type = xstrdup(m->media_type);
    p->info->size = manifest_bytes;
    p->m = m;
    return 0;
}

static int fetch_config(struct pull *p, struct error **err)
{
    const struct img_descriptor *d = &p->m->config;
    struct buf b;
    int r = -ENOENT;
    /* fetched once however many pulls want it, like the layers */
    for (int round = 0; round < CLAIM_ROUNDS && r == -ENOENT; round++) {
        r = cas_blob_read(p->cas, d->digest, IMG_MAX_CONFIG, &b, err);
        if (r != -ENOENT)
            break;
        if (!p->rc)
            return error_set(err, ENOENT, NULL, "config blob %s is missing", d->digest);
        enum cas_claim_state state;
        struct cas_claim *c = NULL;
        r = cas_claim(p->cas, CAS_BLOB, d->digest, &state, &c, err);
        if (r < 0)
            return r;
        if (state == CAS_WAIT) {
            cas_claim_wait(c);
            r = -ENOENT;
            continue;
        }
        if (state == CAS_PRESENT) {
            r = -ENOENT;
            continue;
        }
        r = reg_get_blob_mem(p->rc, d, IMG_MAX_CONFIG, &b, err);
        if (r == 0)
            r = cas_blob_put(p->cas, d->digest, b.data ? b.data : "", b.len, err);
        cas_claim_release(c);
        if (r < 0 && b.data)
            buf_done(&b);
    }
    if (r == -ENOENT)
        return error_set(err, EAGAIN, NULL, "config blob %s still missing", d->digest);
    if (r < 0)
        return r;
    r = img_config_parse(b.data ? b.data : "", b.len, &p->info->config, err);
    buf_done(&b);
    if (r < 0)
        return r;
    memcpy(p->info->config_digest, d->digest, sizeof(d->digest));
    p->info->size += d->size;
    if (p->info->config->n_diff_ids != p->m->n_layers)
        return error_set(err, EINVAL, NULL,
                         "image config lists %zu diff_ids for %zu layers in the manifest",
                         p->info->config->n_diff_ids, p->m->n_layers);
    size_t n = p->m->n_layers;
    p->info->layers = xcalloc(n ? n : 1, sizeof(*p->info->layers));
    p->info->n_layers = n;
    for (size_t i = 0; i < n; i++) {
        struct img_layer_info *l = &p->info->layers[i];
        memcpy(l->digest, p->m->layers[i].digest, sizeof(l->digest));
        memcpy(l->diff_id, p->info->config->diff_ids[i], sizeof(l->diff_id));
        l->size = p->m->layers[i].size;
        l->media_type = xstrdup(p->m->layers[i].media_type);
        p->info->size += l->size;
    }
    return 0;
}

/* ---- layers: a pool of unpack threads fed as blobs arrive ---- */

struct unpack_job {
    struct pull *p;
    size_t index;
    const struct img_layer_info *layer;
    struct cas_claim *claim; /* CAS_MINE */
    int64_t size;
    struct error *err;
};

struct unpack_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct unpack_job *jobs; /* at most one per layer */
    size_t n, next;
    bool closed;
    pthread_t threads[UNPACK_THREADS];
    size_t n_threads;
};

static int unpack_one(struct unpack_job *j)
{
    struct cas *cas = j->p->cas;
    const struct img_layer_info *l = j->layer;
    _cleanup_free_ char *blob = cas_blob_path(cas, l->digest);
    _cleanup_close_ int fd = open(blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(&j->err, errno, "layer %s: open blob", l->digest);
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "layer-%s", l->diff_id + 7);
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int dirfd = cas_tmpdir_new(cas, prefix, &tmp, &j->err);
    if (dirfd < 0)
        return dirfd;
    struct unpack_stats stats;
    int r = img_layer_unpack(fd, dirfd, l->diff_id, &stats, &j->err);
    if (r == 0)
        r = cas_layer_commit(cas, tmp, l->diff_id, &j->err);
    if (r < 0) {
        cas_rmtree_at(cas_tmp_fd(cas), tmp);
        return error_wrap(&j->err, "layer %s", l->digest);
    }
    j->size = (int64_t)stats.bytes;
    return 0;
}

static void *pool_worker(void *arg)
{
    struct unpack_pool *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->next == q->n && !q->closed)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->next == q->n)
            break;
        struct unpack_job *j = &q->jobs[q->next++];
        pthread_mutex_unlock(&q->lock);
        img_progress_state(j->p->progress, j->index, IMG_LAYER_EXTRACTING);
        if (unpack_one(j) == 0)
            img_progress_state(j->p->progress, j->index, IMG_LAYER_COMPLETE);
        cas_claim_release(TAKE_PTR(j->claim));
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void pool_init(struct unpack_pool *q, size_t n_layers)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->jobs = xcalloc(n_layers ? n_layers : 1, sizeof(*q->jobs));
}

static void pool_submit(struct unpack_pool *q, const struct unpack_job *job)
{
    pthread_mutex_lock(&q->lock);
    q->jobs[q->n++] = *job;
    if (q->n_threads < UNPACK_THREADS &&
        pthread_create(&q->threads[q->n_threads], NULL, pool_worker, q) == 0)
        q->n_threads++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* Waits for every submitted unpack, records the layers' sizes, and returns
 * the first failure. */
static int pool_finish(struct pull *p, struct unpack_pool *q, struct error **err)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (size_t t = 0; t < q->n_threads; t++)
        pthread_join(q->threads[t], NULL);
    if (q->next < q->n)
        pool_worker(q); /* no thread could be started: drain here */
    int r = 0;
    for (size_t k = 0; k < q->n; k++) {
        struct unpack_job *j = &q->jobs[k];
        if (!j->err) {
            img_record_layer(p->db, j->layer->diff_id, j->size, time_now_ms(), NULL);
        } else if (r == 0 && err && !*err) {
            r = -j->err->errnum;
            *err = TAKE_PTR(j->err);
        } else {
            if (r == 0)
                r = -j->err->errnum;
            error_free(TAKE_PTR(j->err));
        }
    }
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q->jobs);
    return r;
}

/* Starts unpacking layer i unless it is present, being unpacked by this
 * pull already, or by another one (whose claim is kept to wait on). The
 * layer's blob must be in the store. */
static int try_unpack(struct pull *p, size_t i, struct error **err)
{
    if (p->handled[i])
        return 0;
    const struct img_layer_info *l = &p->info->layers[i];
    for (size_t k = 0; k < p->info->n_layers; k++) {
        if (k != i && p->handled[k] && !strcmp(p->info->layers[k].diff_id, l->diff_id)) {
            p->handled[i] = true; /* the same layer twice in one image */
            return 0;
        }
    }
    enum cas_claim_state state;
    struct cas_claim *c = NULL;
    int r = cas_claim(p->cas, CAS_LAYER, l->diff_id, &state, &c, err);
    if (r < 0)
        return r;
    p->handled[i] = true;
    if (state == CAS_PRESENT)
        img_progress_state(p->progress, i, IMG_LAYER_COMPLETE);
    else if (state == CAS_WAIT)
        p->layer_waits[i] = c;
    else
        pool_submit(p->pool, &(struct unpack_job){.p = p, .index = i, .layer = l, .claim = c});
    return 0;
}

/* ---- blobs ---- */

/* One download of this pull: its writer and claim, and what to do once
 * the registry has sent it all. */
struct blob_fetch {
    struct pull *p;
    size_t layer;
    struct cas_writer *writer;
    struct cas_claim *claim;
    struct counting_sink counter;
};

/* A blob arrived: verify and store it, let other pulls waiting for it go,
 * and start unpacking the layers made of it while the other downloads run. */
static int blob_arrived(struct reg_blob_job *job, struct error **err)
{
    struct blob_fetch *b = job->arg;
    struct pull *p = b->p;
    int r = cas_writer_commit(b->writer, err);
    if (r < 0)
        return r;
    cas_claim_release(TAKE_PTR(b->claim));
    const char *digest = p->info->layers[b->layer].digest;
    for (size_t i = 0; i < p->info->n_layers && r == 0; i++) {
        if (strcmp(p->info->layers[i].digest, digest) != 0)
            continue;
        img_progress_state(p->progress, i, IMG_LAYER_DOWNLOADED);
        r = try_unpack(p, i, err);
    }
    return r;
}

/* Makes the blobs of the layers that still need unpacking present:
 * downloads the ones this pull claims, waits for the ones others fetch.
 * Layers whose blob is (or becomes) present go to the unpack pool at once. */
static int fetch_blobs(struct pull *p, struct error **err)
{
    size_t n = p->info->n_layers;
    for (int round = 0; round < CLAIM_ROUNDS; round++) {
        struct reg_blob_job *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
        struct blob_fetch *fetches = xcalloc(n ? n : 1, sizeof(*fetches));
        struct cas_claim **waits = xcalloc(n ? n : 1, sizeof(*waits));
        size_t n_jobs = 0, n_waits = 0, missing = 0;
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
            const struct img_layer_info *l = &p->info->layers[i];
            if (p->handled[i])
                continue;
            if (cas_layer_present(p->cas, l->diff_id)) {
                img_progress_state(p->progress, i, IMG_LAYER_ALREADY_EXISTS);
                p->handled[i] = true;
                continue;
            }
            /* the same blob twice in one image: claim it once */
            bool dup = false;
            for (size_t k = 0; k < i && !dup; k++)
                dup = !strcmp(p->info->layers[k].digest, l->digest);
            if (dup)
                continue;
            enum cas_claim_state state;
            struct cas_claim *c = NULL;
            r = cas_claim(p->cas, CAS_BLOB, l->digest, &state, &c, err);
            if (r < 0)
                break;
            if (state == CAS_PRESENT) {
                img_progress_state(p->progress, i, IMG_LAYER_DOWNLOADED);
                r = try_unpack(p, i, err);
                continue;
            }
            missing++;
            if (state == CAS_WAIT) {
                waits[n_waits++] = c;
                continue;
            }
            if (!p->rc) {
                cas_claim_release(c);
                r = error_set(err, ENOENT, NULL, "layer blob %s is missing", l->digest);
                break;
            }
            struct blob_fetch *b = &fetches[n_jobs];
            r = cas_writer_new(p->cas, l->digest, l->size, &b->writer, err);
            if (r < 0) {
                cas_claim_release(c);
                break;
            }
            b->p = p;
            b->layer = i;
            b->claim = c;
            b->counter = (struct counting_sink){cas_writer_sink(b->writer), p->progress, i};
            jobs[n_jobs] = (struct reg_blob_job){
                .desc = &p->m->layers[i],
                .sink = {counting_write, counting_rewind, counting_written, &b->counter},
                .on_done = blob_arrived,
                .arg = b,
            };
            img_progress_state(p->progress, i, IMG_LAYER_DOWNLOADING);
            n_jobs++;
        }
        if (r == 0)
            r = reg_get_blobs(p->rc, jobs, n_jobs, err);
        for (size_t k = 0; k < n_jobs; k++) {
            cas_writer_free(fetches[k].writer);
            cas_claim_release(fetches[k].claim); /* those that did not arrive */
        }
        for (size_t k = 0; k < n_waits; k++)
            cas_claim_wait(waits[k]);
        free(jobs);
        free(fetches);
        free(waits);
        if (r < 0)
            return r;
        if (missing == 0 || n_waits == 0)
            return 0;
        /* others fetched some: look again (they may have failed) */
    }
    return error_set(err, EAGAIN, NULL, "blobs still missing after concurrent pulls failed");
}

/* Every layer not yet handed to the pool: claim it now (all blobs are
 * present); wait for the ones other pulls unpack, and claim those again. */
static int unpack_layers(struct pull *p, struct error **err)
{
    size_t n = p->info->n_layers;
    for (int round = 0; round < CLAIM_ROUNDS; round++) {
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
            r = try_unpack(p, i, err);
        size_t n_waits = 0;
        for (size_t i = 0; i < n; i++) {
            if (p->layer_waits[i]) {
                cas_claim_wait(TAKE_PTR(p->layer_waits[i]));
                p->handled[i] = false;
                n_waits++;
            }
        }
        if (r < 0 || n_waits == 0)
            return r;
    }
    return error_set(err, EAGAIN, NULL, "layers still missing after concurrent pulls failed");
}

/* ---- the pull ---- */

/* Config, blobs, layers and record of the image whose manifest p->m is. */
static int finish(struct pull *p, struct error **err)
{
    int r = fetch_config(p, err);
    if (r < 0)
        return r;
    size_t n = p->info->n_layers;
    struct unpack_pool pool;
    pool_init(&pool, n);
    p->pool = &pool;
    p->handled = xcalloc(n ? n : 1, sizeof(*p->handled));
    p->layer_waits = xcalloc(n ? n : 1, sizeof(*p->layer_waits));
    p->progress = img_progress_begin(p->info->reference, p->info);
    r = fetch_blobs(p, err);
    if (r == 0)
        r = unpack_layers(p, err);
    /* even after a failure: the unpacks under way finish (and clean up) */
    int q = pool_finish(p, &pool, r < 0 ? NULL : err);
    if (r == 0)
        r = q;
    for (size_t i = 0; i < n; i++)
        if (p->layer_waits[i])
            cas_claim_wait(p->layer_waits[i]);
    free(p->handled);
    free(p->layer_waits);
    p->pool = NULL;
    img_progress_end(TAKE_PTR(p->progress));
    if (r < 0)
        return r;
    if (p->rc)
        p->info->auth_required = reg_client_sent_caller_creds(p->rc);
    int64_t now = time_now_ms();
    p->info->pulled_at_ms = now;
    p->info->last_used_ms = now;
    r = img_record_put(p->db, p->info, err);
    if (r < 0)
        return r;
    struct img_info *fresh = NULL;
    if (img_record_find(p->db, p->info->reference, &fresh, NULL) == 0) {
        p->info->unpacked_size = fresh->unpacked_size;
        img_info_free(fresh);
    }
    return 0;
}

int img_install_manifest(struct db *db, struct cas *cas, const struct img_manifest *m,
                         const char *digest, const char *index_digest, int64_t manifest_bytes,
                         const char *reference, struct img_info **ret, struct error **err)
{
    struct pull p = {.db = db, .cas = cas, .m = (struct img_manifest *)m};
    p.info = xzalloc(sizeof(*p.info));
    p.info->reference = xstrdup(reference);
    memcpy(p.info->digest, digest, IMG_DIGEST_LEN + 1);
    if (index_digest)
        memcpy(p.info->index_digest, index_digest, IMG_DIGEST_LEN + 1);
    p.info->media_type = xstrdup(m->media_type);
    p.info->size = manifest_bytes;
    int r = finish(&p, err);
    if (r < 0) {
        img_info_free(p.info);
        return r;
    }
    *ret = p.info;
    return 0;
}

static bool complete_locally(struct cas *cas, const struct img_info *i)
{
    if (!cas_blob_present(cas, i->config_digest, NULL))
        return false;
    for (size_t k = 0; k < i->n_layers; k++)
        if (!cas_layer_present(cas, i->layers[k].diff_id))
            return false;
    return true;
}

/* Tenant isolation of the shared store: an image the registry gave only to
 * a caller's credentials is used from the store only once the registry has
 * let this caller's credentials (or config.json's, or none) read its
 * manifest, and the manifest it answers is the one cached. 0: use the
 * cached copy; 1: the reference now names other content (pull it); < 0:
 * the registry refused (the error a real pull would give). */
static int check_access(struct db *db, const struct img_ref *ref, const struct img_info *have,
                        const struct img_pull_opts *opts, struct error **err)
{
    struct reg_client *rc = NULL;
    int r = reg_client_new(cas_data_dir(cas_global()), ref, opts ? opts->creds : NULL, &rc, err);
    if (r < 0)
        return r;
    struct buf body;
    _cleanup_free_ char *ct = NULL;
    char digest[IMG_DIGEST_LEN + 1];
    r = reg_get_manifest(rc, ref->digest ? ref->digest : ref->tag, &body, &ct, digest, err);
    if (r == 0) {
        buf_done(&body);
        const char *cached = have->index_digest[0] ? have->index_digest : have->digest;
        if (strcmp(digest, cached) != 0) {
            r = 1;
        } else if (!reg_client_sent_caller_creds(rc)) {
            /* readable without a caller's credentials: so by every task */
            img_record_set_auth_required(db, have->reference, have->digest, false, NULL);
        }
    } else if (r == -ENOENT && ref->digest == NULL) {
        /* the tag is gone: the real pull that follows says so */
        error_free(TAKE_PTR(*err));
        r = 1;
    }
    reg_client_free(rc);
    return r;
}

static int pull(struct db *db, const struct img_ref *ref, const char *refstr,
                const struct img_pull_opts *opts, struct img_info **ret, struct error **err)
{
    struct cas *cas = cas_global();
    if (!cas)
        return error_set(err, EIO, NULL, "the image store at %s cannot be opened",
                         img_data_dir() ? img_data_dir() : "(unset)");
    if (opts && opts->policy == IMG_PULL_IF_MISSING) {
        struct img_info *have = NULL;
        struct error *e = NULL;
        if (img_get(db, refstr, true, &have, &e) == 0 && complete_locally(cas, have)) {
            int r = have->auth_required ? check_access(db, ref, have, opts, err) : 0;
            if (r < 0) {
                img_info_free(have);
                return r;
            }
            if (r == 0) {
                int64_t now = time_now_ms();
                if (now - have->last_used_ms >= opts->touch_after_ms) {
                    img_touch(db, refstr, NULL);
                    have->last_used_ms = now;
                }
                *ret = have;
                return 0;
            }
        }
        img_info_free(have);
        error_free(e);
    }
    struct pull p = {.db = db, .cas = cas};
    p.info = xzalloc(sizeof(*p.info));
    p.info->reference = xstrdup(refstr);
    int gc_fd = -1;
    int r = reg_client_new(cas_data_dir(cas), ref, opts ? opts->creds : NULL, &p.rc, err);
    if (r < 0)
        goto out;
    gc_fd = cas_gc_lock(cas, false, err);
    if (gc_fd < 0) {
        r = gc_fd;
        goto out;
    }
    if ((r = fetch_manifest(&p, ref, opts, err)) < 0)
        goto out;
    if ((r = finish(&p, err)) < 0)
        goto out;
out:
    cas_gc_unlock(gc_fd);
    reg_client_free(p.rc);
    img_manifest_free(p.m);
    if (r < 0) {
        img_info_free(p.info);
        return r;
    }
    *ret = p.info;
    return 0;
}

int img_pull(struct db *db, const char *reference, const struct img_pull_opts *opts,
             struct img_info **ret, struct error **err)
{
    struct img_ref ref = {0};
    int r = img_ref_parse(reference, &ref, err);
    if (r < 0)
        return pull_failed(err, reference);
    _cleanup_free_ char *refstr = img_ref_format(&ref);
    struct img_info *info = NULL;
    r = pull(db, &ref, refstr, opts, &info, err);
    img_ref_done(&ref);
    if (r < 0)
        return pull_failed(err, refstr);
    if (img_cache_limit() > 0) {
        struct img_prune_result pr;
        struct error *e = NULL;
        img_prune(db, img_cache_limit(), IMG_KEEP_RECENT_MS, &pr, &e);
        error_free(e);
    }
    if (ret)
        *ret = info;
    else
        img_info_free(info);
    return 0;
}
