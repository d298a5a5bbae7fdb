/* Images: pull OCI images from registries into a verified content store
 * shared by every task on the host (docs/images.md).
 *
 * Blobs are stored by digest once verified, layers are unpacked once into
 * DATA-DIR/layers/<diff_id>/ (overlayfs lower dirs, never written again) and
 * image records (reference -> manifest, config, layers) live in the SQLite
 * store. Nothing partial ever becomes visible: downloads and unpacks happen
 * in DATA-DIR/tmp/ and are renamed into place when verified.
 *
 * Pull failures carry the type IMG_ERR_PULL and a message in the form a task
 * reports: "CannotPullContainerError: <reference>: <cause>". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/manifest.h"

struct db;

#define IMG_ERR_PULL    "CannotPullContainerError"
#define IMG_ERR_NOT_IMG "ImageNotFoundException"

/* Registry credentials for one pull. */
struct img_creds {
    const char *username;
    const char *password;
};

enum img_pull_policy {
    IMG_PULL_ALWAYS,     /* ask the registry what the tag points at now (docker pull) */
    IMG_PULL_IF_MISSING, /* use the local record when complete; no network */
};

struct img_pull_opts {
    enum img_pull_policy policy;
    const struct img_creds *creds; /* NULL: DATA-DIR/config.json, else anonymous */
    const char *os;                /* NULL: the host's platform */
    const char *arch;
    const char *variant;
    /* IMG_PULL_IF_MISSING with the image present: its last use (LRU
     * order) is recorded only when the recorded one is older than this
     * (0: always). A task start is not worth a store write and its fsync
     * each time (ECR, likewise, refreshes lastRecordedPullTime at most
     * daily); images of tasks not stopped are kept by the in-use hook. */
    int64_t touch_after_ms;
};

struct img_layer_info {
    char digest[IMG_DIGEST_LEN + 1];  /* compressed blob */
    char diff_id[IMG_DIGEST_LEN + 1]; /* uncompressed tar: names layers/<hex> */
    int64_t size;                     /* blob bytes */
    char *media_type;
};

struct img_info {
    char *reference;                       /* normalised, as recorded */
    char digest[IMG_DIGEST_LEN + 1];       /* the (platform) manifest */
    char index_digest[IMG_DIGEST_LEN + 1]; /* "" unless resolved through an index */
    char config_digest[IMG_DIGEST_LEN + 1];
    char *media_type;              /* of the manifest */
    struct img_layer_info *layers; /* lowest first */
    size_t n_layers;
    int64_t size;          /* bytes of manifest, config and layer blobs */
    int64_t unpacked_size; /* bytes of the unpacked layers (-1 unknown) */
    int64_t pulled_at_ms;
    int64_t last_used_ms;
    /* The registry gave this image only to credentials a caller passed
     * (a task's repositoryCredentials, PullImage's credentials): a task
     * may use the cached copy only once the registry has let its own
     * credentials read the manifest (docs/images.md, "Tenant isolation"). */
    bool auth_required;
    struct img_config *config; /* parsed; may be NULL in listings */
};

void img_info_free(struct img_info *i);
void img_info_list_free(struct img_info **list, size_t n);

/* Sets the data dir (DIR/blobs, DIR/layers, DIR/tmp), initialises libcurl
 * and removes temp files that killed pulls left behind. Call once at start,
 * before threads. Failures surface again on first use. */
void img_init(const char *data_dir);
/* The data dir given to img_init(), or NULL. */
const char *img_data_dir(void);

/* Pulls reference (normalised as in ref.h) for the host platform (or
 * opts->os/arch), verifies every blob, unpacks every layer and records the
 * image. opts may be NULL (IMG_PULL_ALWAYS, config.json credentials). On
 * success *ret (may be NULL) describes the image, config included. */
int img_pull(struct db *db, const char *reference, const struct img_pull_opts *opts,
             struct img_info **ret, struct error **err);

/* The record of a reference (normalised first) or of a manifest digest
 * ("sha256:..." matches any reference recorded with that digest). -ENOENT
 * with *err (IMG_ERR_NOT_IMG) when absent. with_config also loads the
 * config from the store. */
int img_get(struct db *db, const char *reference, bool with_config, struct img_info **ret,
            struct error **err);
/* Every record, most recently used first. */
int img_list(struct db *db, struct img_info ***ret, size_t *ret_n, struct error **err);
/* Marks an image used now (LRU order). */
int img_touch(struct db *db, const char *reference, struct error **err);
/* DATA-DIR/layers/<hex of diff_id>, for overlayfs lowerdir (new string). */
char *img_layer_path(const char *diff_id);

/* Removes the record of reference (or every record of a manifest digest)
 * and every account's access to it; blobs and layers go at the next GC. -ENOENT when absent; -EBUSY
 * (ClientException) when the in-use hook claims it. */
int img_delete(struct db *db, const char *reference, size_t *ret_removed, struct error **err);

/* Per-account views of the host-wide store (image_access): an account sees
 * the images it pulled or ran; the API shows the host's administrator all
 * of them. reference is a record's (normalised) reference. has answers 1
 * or 0, count the number of accounts with access, or -errno. */
int img_access_grant(struct db *db, const char *account, const char *reference, struct error **err);
int img_access_has(struct db *db, const char *account, const char *reference, struct error **err);
int img_access_count(struct db *db, const char *reference, struct error **err);
int img_access_revoke(struct db *db, const char *account, const char *reference,
                      struct error **err);

struct img_usage {
    int64_t blob_bytes;  /* DATA-DIR/blobs */
    int64_t layer_bytes; /* DATA-DIR/layers */
    int64_t blobs;
    int64_t layers;
    int64_t images;
};

/* Disk usage of the content store. */
int img_disk_usage(struct db *db, struct img_usage *ret, struct error **err);

struct img_prune_result {
    size_t images_removed;
    size_t blobs_removed;
    size_t layers_removed;
    int64_t bytes_freed;
};

/* Garbage collection: removes every blob and layer no image record
 * references, and temp entries nobody holds. When max_bytes > 0, first
 * removes least-recently-used image records (never those used within
 * keep_recent_ms) until the store would fit. */
int img_prune(struct db *db, int64_t max_bytes, int64_t keep_recent_ms,
              struct img_prune_result *ret, struct error **err);
/* The configured cache limit in bytes (DATA-DIR/registries.conf
 * "[cache] max_size"), 0 when none. After each pull, images are evicted
 * down to it, least recently used first, sparing those used within
 * IMG_KEEP_RECENT_MS and those the in-use hook claims. */
int64_t img_cache_limit(void);
#define IMG_KEEP_RECENT_MS 1000
/* Lets the task runtime protect the images of running tasks from eviction:
 * fn(reference, arg) returns true for an image in use. */
void img_set_in_use_hook(bool (*fn)(const char *reference, void *arg), void *arg);

/* Progress of the pulls in flight (for a progress display). */
enum img_layer_state {
    IMG_LAYER_WAITING, /* not started, or another pull is fetching it */
    IMG_LAYER_DOWNLOADING,
    IMG_LAYER_DOWNLOADED, /* blob verified */
    IMG_LAYER_EXTRACTING,
    IMG_LAYER_COMPLETE,       /* unpacked */
    IMG_LAYER_ALREADY_EXISTS, /* unpacked before this pull */
};

struct img_layer_status {
    char digest[IMG_DIGEST_LEN + 1];
    int64_t size;
    int64_t bytes; /* downloaded so far */
    enum img_layer_state state;
};

struct img_pull_status {
    char *reference; /* normalised */
    int64_t started_ms;
    struct img_layer_status *layers;
    size_t n_layers;
};

/* A snapshot of the pulls in flight (of reference, normalised, or all when
 * NULL); free with img_pull_status_free(). A pull appears once its config
 * is known. */
int img_pull_progress(const char *reference, struct img_pull_status **ret, size_t *ret_n);
void img_pull_status_free(struct img_pull_status *v, size_t n);

/* Offline import of an OCI image layout (directory or tar) or a `docker
 * save` tar at path. Every manifest found is imported (verified, unpacked,
 * recorded under the names the archive gives, or under `reference` when
 * the archive holds one image). */
int img_import(struct db *db, const char *path, const char *reference, struct img_info ***ret,
               size_t *ret_n, struct error **err);
