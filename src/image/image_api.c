/* skiff's image operations (PullImage, ListImages, DescribeImages,
 * DeleteImage, PruneImages, ImportImage, DescribeImageStore,
 * DescribePullProgress): AWS JSON 1.1
 * under X-Amz-Target SkiffV20261101.*, signed with SigV4 for service
 * "skiff" (models/skiff/2026-11-01/service-2.json). */
#include "image/image_api.h"
#include "image/image.h"
#include "image/ref.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

extern const char skiff_model_json[];

#define LIST_DEFAULT 100

/* The host's administrator (profile "default", as for ImportImage) sees and
 * manages the whole store; any other account only the images it pulled or
 * ran (img_access_*). */
static bool is_admin(const struct api_ctx *ctx)
{
    return ctx->account && strcmp(ctx->account->profile, "default") == 0;
}

/* 1 when the caller may see the record of reference, 0 if not, -errno. */
static int visible(struct api_ctx *ctx, const char *reference, struct error **err)
{
    if (is_admin(ctx))
        return 1;
    if (!ctx->account)
        return 0;
    return img_access_has(ctx->db, ctx->account->account_id, reference, err);
}

/* References other accounts are pulling through PullImage now, so that
 * DescribePullProgress shows each account its own pulls only. */
struct inflight {
    const char *account, *reference;
    struct inflight *next;
};
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inflight *inflight_list;

static bool pulling(const char *account, const char *reference)
{
    bool found = false;
    pthread_mutex_lock(&inflight_lock);
    for (struct inflight *f = inflight_list; f && !found; f = f->next)
        found = !strcmp(f->account, account) && !strcmp(f->reference, reference);
    pthread_mutex_unlock(&inflight_lock);
    return found;
}

static json_t *string_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *config_json(const struct img_config *c)
{
    json_t *o = json_object();
    json_set_str(o, "os", c->os);
    json_set_str(o, "architecture", c->arch);
    if (c->has_entrypoint)
        json_object_set_new(o, "entrypoint", string_array(c->entrypoint, c->n_entrypoint));
    if (c->has_cmd)
        json_object_set_new(o, "cmd", string_array(c->cmd, c->n_cmd));
    json_object_set_new(o, "env", string_array(c->env, c->n_env));
    json_set_str(o, "workingDir", c->working_dir);
    json_set_str(o, "user", c->user);
    json_set_str(o, "stopSignal", c->stop_signal);
    json_object_set_new(o, "exposedPorts", string_array(c->exposed_ports, c->n_exposed_ports));
    json_t *labels = json_object();
    for (size_t i = 0; i < c->n_labels; i++)
        json_object_set_new(labels, c->labels[i].key, json_string(c->labels[i].value));
    json_object_set_new(o, "labels", labels);
    return o;
}

static json_t *image_json(const struct img_info *i)
{
    json_t *o = json_object();
    json_set_str(o, "reference", i->reference);
    json_set_str(o, "digest", i->digest);
    if (i->index_digest[0])
        json_set_str(o, "indexDigest", i->index_digest);
    json_set_str(o, "configDigest", i->config_digest);
    json_set_str(o, "mediaType", i->media_type);
    json_object_set_new(o, "size", json_integer(i->size));
    if (i->unpacked_size >= 0)
        json_object_set_new(o, "unpackedSize", json_integer(i->unpacked_size));
    json_object_set_new(o, "pulledAt", json_timestamp(i->pulled_at_ms));
    json_object_set_new(o, "lastUsedAt", json_timestamp(i->last_used_ms));
    json_t *layers = json_array();
    for (size_t k = 0; k < i->n_layers; k++)
        json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:s}", "digest",
                                                i->layers[k].digest, "diffId", i->layers[k].diff_id,
                                                "size", (json_int_t)i->layers[k].size, "mediaType",
                                                i->layers[k].media_type));
    json_object_set_new(o, "layers", layers);
    if (i->config)
        json_object_set_new(o, "config", config_json(i->config));
    return o;
}

static int pull_image(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    struct img_pull_opts opts = {.policy = IMG_PULL_ALWAYS};
    const char *policy = json_get_str(in, "pullPolicy");
    if (policy && !strcmp(policy, "IF_NOT_PRESENT"))
        opts.policy = IMG_PULL_IF_MISSING;
    json_t *creds = json_get_object(in, "credentials");
    struct img_creds c = {json_get_str(creds, "username"), json_get_str(creds, "password")};
    if (creds)
        opts.creds = &c;
    /* platform "os/arch[/variant]" */
    _cleanup_free_ char *platform = NULL;
    const char *p = json_get_str(in, "platform");
    if (p) {
        platform = xstrdup(p);
        char *save = NULL;
        opts.os = strtok_r(platform, "/", &save);
        opts.arch = strtok_r(NULL, "/", &save);
        opts.variant = strtok_r(NULL, "/", &save);
        if (!opts.os || !opts.arch || strtok_r(NULL, "/", &save))
            return error_set(err, EINVAL, ERR_INVALID, "platform must be os/arch[/variant]");
    }
    const char *reference = json_get_str(in, "reference");
    _cleanup_free_ char *norm = NULL;
    struct img_ref ref = {0};
    if (img_ref_parse(reference, &ref, NULL) == 0) {
        norm = img_ref_format(&ref);
        img_ref_done(&ref);
    }
    struct inflight self = {.account = ctx->account ? ctx->account->account_id : "",
                            .reference = norm ? norm : ""};
    pthread_mutex_lock(&inflight_lock);
    self.next = inflight_list;
    inflight_list = &self;
    pthread_mutex_unlock(&inflight_lock);
    struct img_info *info = NULL;
    int r = img_pull(ctx->db, reference, &opts, &info, err);
    pthread_mutex_lock(&inflight_lock);
    for (struct inflight **pp = &inflight_list; *pp; pp = &(*pp)->next)
        if (*pp == &self) {
            *pp = self.next;
            break;
        }
    pthread_mutex_unlock(&inflight_lock);
    if (r == 0 && ctx->account)
        r = img_access_grant(ctx->db, ctx->account->account_id, info->reference, err);
    if (r < 0) {
        img_info_free(info);
        return r;
    }
    *ret = json_pack("{s:o}", "image", image_json(info));
    img_info_free(info);
    return 0;
}

static int list_images(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    json_int_t limit = json_get_int(in, "maxResults", LIST_DEFAULT);
    const char *token = json_get_str(in, "nextToken");
    size_t start = 0;
    if (token) {
        char *end;
        unsigned long v = strtoul(token, &end, 10);
        if (!*token || *end)
            return error_set(err, EINVAL, ERR_INVALID, "nextToken is not valid");
        start = v;
    }
    struct img_info **list = NULL;
    size_t n = 0;
    int r = img_list(ctx->db, &list, &n, err);
    if (r < 0)
        return r;
    /* Keep the caller's own. */
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        int v = visible(ctx, list[k]->reference, err);
        if (v < 0) {
            img_info_list_free(list, n);
            return v;
        }
        if (v)
            list[kept++] = list[k];
        else
            img_info_free(list[k]);
    }
    n = kept;
    json_t *images = json_array();
    size_t i;
    for (i = start; i < n && (json_int_t)(i - start) < limit; i++)
        json_array_append_new(images, image_json(list[i]));
    json_t *out = json_pack("{s:o}", "images", images);
    if (i < n) {
        char next[32];
        snprintf(next, sizeof(next), "%zu", i);
        json_set_str(out, "nextToken", next);
    }
    img_info_list_free(list, n);
    *ret = out;
    return 0;
}

static int describe_images(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    json_t *images = json_array(), *failures = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_get_array(in, "references"), i, v)
    {
        const char *ref = json_string_value(v);
        struct img_info *info = NULL;
        struct error *e = NULL;
        int r = img_get(ctx->db, ref, true, &info, &e);
        if (r == 0) {
            r = visible(ctx, info->reference, &e);
            if (r == 0) {
                img_info_free(info);
                r = -ENOENT;
            } else if (r > 0) {
                r = 0;
            }
        }
        if (r == 0) {
            json_array_append_new(images, image_json(info));
            img_info_free(info);
        } else if (r == -ENOENT || r == -EINVAL) {
            json_array_append_new(failures, json_pack("{s:s, s:s}", "reference", ref, "reason",
                                                      r == -ENOENT ? "MISSING" : e->msg));
            error_free(e);
        } else {
            json_decref(images);
            json_decref(failures);
            *err = e;
            return r;
        }
    }
    *ret = json_pack("{s:o, s:o}", "images", images, "failures", failures);
    return 0;
}

/* DeleteImage for an account that is not the administrator: it gives up
 * its own access to each matching record, and the record goes only when no
 * other account has access left. */
static int delete_own(struct api_ctx *ctx, const char *ref, json_t *deleted, struct error **err)
{
    struct img_info **list = NULL;
    size_t n = 0;
    int r = img_list(ctx->db, &list, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *norm = NULL;
    bool by_digest = img_digest_valid(ref);
    if (!by_digest) {
        struct img_ref parsed = {0};
        if ((r = img_ref_parse(ref, &parsed, err)) < 0) {
            img_info_list_free(list, n);
            return r;
        }
        norm = img_ref_format(&parsed);
        img_ref_done(&parsed);
    }
    const char *account = ctx->account ? ctx->account->account_id : "";
    for (size_t i = 0; i < n && r == 0; i++) {
        const struct img_info *im = list[i];
        bool match = by_digest ? (!strcmp(im->digest, ref) || !strcmp(im->index_digest, ref))
                               : !strcmp(im->reference, norm);
        if (!match || (r = img_access_has(ctx->db, account, im->reference, err)) <= 0)
            continue;
        r = img_access_count(ctx->db, im->reference, err);
        if (r > 1)
            r = img_access_revoke(ctx->db, account, im->reference, err);
        else if (r >= 0)
            r = img_delete(ctx->db, im->reference, NULL, err);
        if (r == 0)
            json_array_append_new(deleted, json_string(im->reference));
    }
    img_info_list_free(list, n);
    if (r == 0 && json_array_size(deleted) == 0)
        r = error_set(err, ENOENT, IMG_ERR_NOT_IMG, "image %.300s not found", ref);
    return r;
}

static int delete_image(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    const char *ref = json_get_str(in, "reference");
    if (!is_admin(ctx)) {
        json_t *deleted = json_array();
        int r = delete_own(ctx, ref, deleted, err);
        if (r < 0) {
            json_decref(deleted);
            return r;
        }
        *ret = json_pack("{s:o}", "deleted", deleted);
        return 0;
    }
    /* name what goes before it goes */
    json_t *deleted = json_array();
    if (img_digest_valid(ref)) {
        struct img_info **list = NULL;
        size_t n = 0;
        int r = img_list(ctx->db, &list, &n, err);
        if (r < 0) {
            json_decref(deleted);
            return r;
        }
        for (size_t i = 0; i < n; i++)
            if (!strcmp(list[i]->digest, ref) || !strcmp(list[i]->index_digest, ref))
                json_array_append_new(deleted, json_string(list[i]->reference));
        img_info_list_free(list, n);
    } else {
        struct img_info *info = NULL;
        if (img_get(ctx->db, ref, false, &info, NULL) == 0) {
            json_array_append_new(deleted, json_string(info->reference));
            img_info_free(info);
        }
    }
    int r = img_delete(ctx->db, ref, NULL, err);
    if (r < 0) {
        json_decref(deleted);
        return r;
    }
    *ret = json_pack("{s:o}", "deleted", deleted);
    return 0;
}

static int prune_images(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    if (!is_admin(ctx))
        return error_set(err, EACCES, "AccessDeniedException",
                         "Only the default profile (the host's administrator) may prune the "
                         "host's image store; DeleteImage removes your own images.");
    json_int_t max = json_get_int(in, "maxCacheSize", 0);
    if (max < 0)
        return error_set(err, EINVAL, ERR_INVALID, "maxCacheSize must not be negative");
    struct img_prune_result res;
    int r = img_prune(ctx->db, max, 0, &res, err);
    if (r < 0)
        return r;
    *ret = json_pack("{s:I, s:I, s:I, s:I}", "imagesRemoved", (json_int_t)res.images_removed,
                     "blobsRemoved", (json_int_t)res.blobs_removed, "layersRemoved",
                     (json_int_t)res.layers_removed, "bytesFreed", (json_int_t)res.bytes_freed);
    return 0;
}

static int import_image(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    /* it reads any path on the host: the host administrator's only */
    if (!ctx->account || strcmp(ctx->account->profile, "default") != 0)
        return error_set(err, EACCES, "AccessDeniedException",
                         "Only the default profile (the host's administrator) may import images "
                         "from host paths.");
    struct img_info **list = NULL;
    size_t n = 0;
    int r = img_import(ctx->db, json_get_str(in, "path"), json_get_str(in, "reference"), &list, &n,
                       err);
    if (r < 0)
        return r;
    json_t *images = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(images, image_json(list[i]));
    img_info_list_free(list, n);
    *ret = json_pack("{s:o}", "images", images);
    return 0;
}

static int describe_store(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    (void)in;
    struct img_usage u;
    int r = img_disk_usage(ctx->db, &u, err);
    if (r < 0)
        return r;
    *ret = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "blobBytes", (json_int_t)u.blob_bytes,
                     "layerBytes", (json_int_t)u.layer_bytes, "blobs", (json_int_t)u.blobs,
                     "layers", (json_int_t)u.layers, "images", (json_int_t)u.images, "maxCacheSize",
                     (json_int_t)img_cache_limit());
    return 0;
}

static int describe_progress(struct api_ctx *ctx, const json_t *in, json_t **ret,
                             struct error **err)
{
    static const char *const states[] = {"WAITING",    "DOWNLOADING", "DOWNLOADED",
                                         "EXTRACTING", "COMPLETE",    "ALREADY_EXISTS"};
    _cleanup_free_ char *norm = NULL;
    const char *ref = json_get_str(in, "reference");
    if (ref) {
        struct img_ref r = {0};
        int rc = img_ref_parse(ref, &r, err);
        if (rc < 0)
            return rc;
        norm = img_ref_format(&r);
        img_ref_done(&r);
    }
    struct img_pull_status *v = NULL;
    size_t n = 0;
    img_pull_progress(norm, &v, &n);
    json_t *pulls = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!is_admin(ctx) &&
            !(ctx->account && pulling(ctx->account->account_id, v[i].reference)) &&
            visible(ctx, v[i].reference, NULL) <= 0)
            continue;
        json_t *layers = json_array();
        for (size_t k = 0; k < v[i].n_layers; k++) {
            const struct img_layer_status *l = &v[i].layers[k];
            json_array_append_new(layers,
                                  json_pack("{s:s, s:I, s:I, s:s}", "digest", l->digest, "size",
                                            (json_int_t)l->size, "downloadedBytes",
                                            (json_int_t)l->bytes, "status", states[l->state]));
        }
        json_array_append_new(pulls,
                              json_pack("{s:s, s:o, s:o}", "reference", v[i].reference, "startedAt",
                                        json_timestamp(v[i].started_ms), "layers", layers));
    }
    img_pull_status_free(v, n);
    *ret = json_pack("{s:o}", "pulls", pulls);
    return 0;
}

static const struct api_op ops[] = {
    {"DeleteImage", delete_image, API_OP_WRITE},
    {"DescribeImageStore", describe_store, 0},
    {"DescribeImages", describe_images, 0},
    {"DescribePullProgress", describe_progress, 0},
    {"ImportImage", import_image, API_OP_WRITE | API_OP_SLOW},
    {"ListImages", list_images, 0},
    {"PruneImages", prune_images, API_OP_WRITE | API_OP_SLOW},
    {"PullImage", pull_image, API_OP_WRITE | API_OP_SLOW},
};

const struct api_service image_api = {
    .name = "skiff",
    .signing_name = "skiff",
    .target_prefix = "SkiffV20261101",
    .model_json = skiff_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
};
