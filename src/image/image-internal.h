/* Internals shared by the image module's files: registry configuration and
 * credentials, the registry client, the content store and layer unpacking.
 * Other modules use image/image.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "image/image.h"
#include "image/manifest.h"
#include "image/ref.h"

/* ---- registries.conf and config.json (regconf.c) ---- */

/* How to reach one registry, from DATA-DIR/registries.conf (a TOML subset,
 * the shape of containers-registries.conf(5)):
 *
 *   [[registry]]
 *   location = "myregistry.example:5000"
 *   insecure = true          # plain HTTP allowed and TLS not verified
 *   ca_file = "/etc/x/ca.pem" # skiff: trust this CA for the registry
 *   blocked = true           # refuse pulls from it
 *
 * Loopback registries (127.0.0.0/8, ::1, localhost) may use plain HTTP
 * without being listed; their TLS, when they speak it, is still verified. */
struct img_registry_conf {
    char *host;      /* where to connect (docker.io -> registry-1.docker.io) */
    bool allow_http; /* loopback, or listed insecure */
    bool tls_verify; /* false only when listed insecure */
    bool blocked;    /* listed blocked */
    char *ca_file;   /* NULL: the system store (or $SSL_CERT_FILE) */
};

/* Reads the entry for domain (a reference's registry host[:port]); a missing
 * file or entry gives the defaults. -EINVAL with *err set on a syntax
 * error. */
int img_registry_conf_load(const char *data_dir, const char *domain, struct img_registry_conf *ret,
                           struct error **err);
void img_registry_conf_done(struct img_registry_conf *c);
/* The [cache] table of registries.conf:
 *   [cache]
 *   max_size = "20G"   # bytes, or with a K/M/G/T suffix (powers of 1024)
 * *ret is 0 when unset. */
int img_cache_conf_load(const char *data_dir, int64_t *ret, struct error **err);
/* True for localhost, 127.0.0.0/8 and [::1], with or without a port. */
bool img_host_is_loopback(const char *domain);

/* Looks domain up in DATA-DIR/config.json ({"auths": {HOST: {"auth":
 * base64(user:password)} or {"username", "password"}}}, Docker's format;
 * docker.io also matches https://index.docker.io/v1/). 0 with both set
 * when found, -ENOENT when not, -EINVAL with *err on a malformed file. */
int img_credentials_lookup(const char *data_dir, const char *domain, char **ret_user,
                           char **ret_password, struct error **err);

/* ---- registry client (registry.c, auth.c) ---- */

/* A WWW-Authenticate challenge. */
struct img_challenge {
    char scheme[16]; /* "Bearer" or "Basic" */
    char *realm;
    char *service;
    char *scope;
};

/* Parses the first challenge of a WWW-Authenticate value. -EINVAL when it
 * names no scheme. Fuzzed with the manifest parser. */
int img_challenge_parse(const char *value, struct img_challenge *ret);
void img_challenge_done(struct img_challenge *c);

/* Where a download writes: the content store's writer (cas.c). */
struct reg_sink {
    int (*write)(void *arg, const void *p, size_t n); /* < 0 aborts the transfer */
    int (*rewind)(void *arg);                         /* start over from byte 0 */
    int64_t (*written)(void *arg);                    /* bytes so far (for Range resume) */
    void *arg;
};

struct reg_client;

/* A client for one repository of one registry. Connections are kept alive
 * across its requests. creds may be NULL (config.json is then consulted). */
int reg_client_new(const char *data_dir, const struct img_ref *ref, const struct img_creds *creds,
                   struct reg_client **ret, struct error **err);
void reg_client_free(struct reg_client *c);
/* True when the registry asked for credentials (a 401 challenge) and was
 * given those the caller passed to reg_client_new(): what this client
 * fetched may be private to whoever holds them. Credentials from
 * config.json do not count: every task on the host gets those. */
bool reg_client_sent_caller_creds(const struct reg_client *c);
/* The host requests go to, for messages. */
const char *reg_client_host(const struct reg_client *c);

/* GETs the manifest named by tag or digest into body (capped at
 * IMG_MAX_MANIFEST). *ret_ct is its Content-Type (new string, may be NULL);
 * ret_digest is the sha256 of the bytes; when reference is a digest they
 * must match, and a Docker-Content-Digest header must match too. */
int reg_get_manifest(struct reg_client *c, const char *reference, struct buf *body, char **ret_ct,
                     char ret_digest[IMG_DIGEST_LEN + 1], struct error **err);
/* GETs a blob into memory (at most cap bytes) and verifies its digest and
 * size. */
int reg_get_blob_mem(struct reg_client *c, const struct img_descriptor *d, size_t cap,
                     struct buf *out, struct error **err);

struct reg_blob_job {
    const struct img_descriptor *desc;
    struct reg_sink sink;
    /* Called (in the caller's thread, between transfers) once the blob has
     * been received whole; a failure stops every download. May be NULL. */
    int (*on_done)(struct reg_blob_job *job, struct error **err);
    void *arg;
};
/* Downloads blobs in parallel (curl multi, up to IMG_PARALLEL at once),
 * following redirects, retrying 5xx/429/timeouts with backoff and resuming
 * with Range. Each sink verifies what it gets. Stops at the first failure. */
int reg_get_blobs(struct reg_client *c, struct reg_blob_job *jobs, size_t n, struct error **err);

#define IMG_PARALLEL 4
#define IMG_RETRIES  4 /* attempts after the first one */

/* ---- content store (cas.c) ---- */

/* DATA-DIR layout:
 *   blobs/sha256/<hex>  verified blobs
 *   layers/<hex>/       unpacked layers, named by diff_id
 *   tmp/                temp files and dirs (flock'd while in use), lock files
 */
struct cas;

/* Opens (creating) the store under data_dir and removes what killed pulls
 * left in tmp/ (entries nobody holds a lock on). */
int cas_open(const char *data_dir, struct cas **ret, struct error **err);
void cas_free(struct cas *s);
/* Removes every entry of tmp/ that no live process holds a flock on. */
void cas_clean_tmp(struct cas *s);
const char *cas_data_dir(const struct cas *s);
/* The store of img_init(), or NULL before it. */
struct cas *cas_global(void);

char *cas_blob_path(const struct cas *s, const char *digest);
char *cas_layer_path(const struct cas *s, const char *diff_id);
bool cas_blob_present(const struct cas *s, const char *digest, int64_t *ret_size);
bool cas_layer_present(const struct cas *s, const char *diff_id);
/* Reads a whole blob (at most cap bytes) and verifies it against its
 * digest again (manifests and configs are small). -ENOENT when absent. */
int cas_blob_read(struct cas *s, const char *digest, size_t cap, struct buf *out,
                  struct error **err);
/* Stores data as a blob whose digest must be `digest`. */
int cas_blob_put(struct cas *s, const char *digest, const void *data, size_t len,
                 struct error **err);

/* A blob being written: a temp file in tmp/ hashed as it grows; commit
 * renames it into blobs/ only when size and digest match. size -1: any. */
struct cas_writer;
int cas_writer_new(struct cas *s, const char *digest, int64_t size, struct cas_writer **ret,
                   struct error **err);
struct reg_sink cas_writer_sink(struct cas_writer *w);
int cas_writer_commit(struct cas_writer *w, struct error **err);
/* For a writer made with digest NULL (content not known in advance):
 * stores it under the digest of what was written, into ret_digest. */
int cas_writer_commit_any(struct cas_writer *w, char ret_digest[IMG_DIGEST_LEN + 1],
                          struct error **err);
/* Removes the temp file unless committed; NULL-safe. */
void cas_writer_free(struct cas_writer *w);

/* In-flight work, so that a blob or layer wanted by several pulls at once
 * is fetched or unpacked once: a table of claims inside the process, lock
 * files in tmp/ across processes. */
enum cas_kind {
    CAS_BLOB,
    CAS_LAYER,
};
enum cas_claim_state {
    CAS_PRESENT, /* already there */
    CAS_MINE,    /* the caller does the work, then cas_claim_release() */
    CAS_WAIT,    /* someone else does: cas_claim_wait(), then claim again */
};
struct cas_claim;
int cas_claim(struct cas *s, enum cas_kind kind, const char *digest,
              enum cas_claim_state *ret_state, struct cas_claim **ret, struct error **err);
/* Blocks until the other owner is done (successfully or not); frees c. */
void cas_claim_wait(struct cas_claim *c);
/* Ends a CAS_MINE claim (waiters wake up and look again); frees c. */
void cas_claim_release(struct cas_claim *c);

/* Pulls hold the GC lock shared, GC holds it exclusively (flock on
 * tmp/gc.lock: across threads and processes alike). Returns an fd to pass
 * to cas_gc_unlock. */
int cas_gc_lock(struct cas *s, bool exclusive, struct error **err);
void cas_gc_unlock(int fd);

/* Creates a temp dir tmp/<prefix>.<random> for building something that will
 * be renamed into place; returns an O_DIRECTORY fd holding a flock (so the
 * start-up cleanup leaves it alone) and its name in tmp/. */
int cas_tmpdir_new(struct cas *s, const char *prefix, char **ret_name, struct error **err);
/* Renames tmp/<tmp_name> to layers/<hex of diff_id>; when another process
 * got there first, removes ours and succeeds. */
int cas_layer_commit(struct cas *s, const char *tmp_name, const char *diff_id, struct error **err);
/* Directory fds of the store (owned by it). */
int cas_tmp_fd(const struct cas *s);
int cas_layers_fd(const struct cas *s);
int cas_blobs_fd(const struct cas *s);
/* Removes a directory tree with *at() calls, never following symlinks. */
int cas_rmtree_at(int dirfd, const char *name);

/* ---- pull and import (pull.c) ---- */

/* Completes an image whose verified manifest m (already in the store as
 * digest) is known, from the store alone: config, layer unpack, record
 * under reference. The caller holds the GC lock shared. Used by import. */
int img_install_manifest(struct db *db, struct cas *cas, const struct img_manifest *m,
                         const char *digest, const char *index_digest, int64_t manifest_bytes,
                         const char *reference, struct img_info **ret, struct error **err);

/* ---- progress of pulls in flight (progress.c) ---- */

struct img_progress;
/* Registers a pull of reference with info's layers (all WAITING). */
struct img_progress *img_progress_begin(const char *reference, const struct img_info *info);
/* Unregisters and frees; NULL-safe. */
void img_progress_end(struct img_progress *p);
/* Updates one layer; all NULL-safe and callable from any thread. */
void img_progress_state(struct img_progress *p, size_t layer, enum img_layer_state s);
void img_progress_bytes(struct img_progress *p, size_t layer, int64_t delta);
void img_progress_reset(struct img_progress *p, size_t layer);

/* ---- layer unpack (unpack.c, tarpath.c) ---- */

/* Normalises a tar entry name for extraction under a layer root: strips
 * leading "/" and "./", collapses "//" and "/./", and refuses ".."
 * components, empty names and names over PATH_MAX. Writes the result (no
 * leading or trailing '/', "" meaning the root itself) into out
 * (out_size >= strlen(name) + 1). 0, or -EINVAL with *ret_why a static
 * reason. Fuzzed by fuzz/fuzz-tarpath.c. */
int img_tarpath_clean(const char *name, char *out, size_t out_size, const char **ret_why);

/* What unpacking did to keep a layer inside its root. */
struct unpack_stats {
    uint64_t entries;
    uint64_t bytes; /* regular file bytes written */
    uint64_t devices_skipped;
    uint64_t setid_cleared;
    uint64_t whiteouts;
};

/* Unpacks the layer blob at fd (gzip, zstd or plain tar, detected from the
 * bytes) into the directory dirfd, verifying that the sha256 of the
 * uncompressed stream equals diff_id. Policy (docs/images.md): absolute
 * names are made relative; ".." components, paths through symlinks and hard
 * links to anything outside the layer are refused (the layer is rejected);
 * device nodes are skipped; setuid/setgid bits are cleared; extended
 * attributes are not restored; whiteouts become overlayfs whiteouts. */
int img_layer_unpack(int fd, int dirfd, const char *diff_id, struct unpack_stats *ret_stats,
                     struct error **err);
