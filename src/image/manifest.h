/* OCI / Docker manifests, indexes (manifest lists) and image configs: parsing
 * of untrusted registry documents into small structs (fuzzed by
 * fuzz/fuzz-manifest.c).
 *
 * Accepted documents:
 *   application/vnd.oci.image.index.v1+json
 *   application/vnd.docker.distribution.manifest.list.v2+json   (indexes)
 *   application/vnd.oci.image.manifest.v1+json
 *   application/vnd.docker.distribution.manifest.v2+json        (manifests)
 * Docker schema 1 manifests are refused. Every count and size has a cap. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define IMG_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define IMG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"

/* Accept header for manifest requests: every kind we can read. */
#define IMG_MANIFEST_ACCEPT                                                                        \
    IMG_MT_OCI_INDEX ", " IMG_MT_DOCKER_LIST ", " IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_MANIFEST

#define IMG_MAX_MANIFEST  (4 * 1024 * 1024)  /* bytes of a manifest or index */
#define IMG_MAX_CONFIG    (16 * 1024 * 1024) /* bytes of an image config */
#define IMG_MAX_LAYERS    128                /* layers of one image */
#define IMG_MAX_INDEX     1024               /* entries of one index */
#define IMG_MAX_BLOB_SIZE (64LL << 30)       /* bytes of one layer blob */

#define IMG_DIGEST_LEN 71 /* "sha256:" + 64 hex */

enum img_compression {
    IMG_COMP_NONE,
    IMG_COMP_GZIP,
    IMG_COMP_ZSTD,
};

struct img_descriptor {
    char *media_type;
    char digest[IMG_DIGEST_LEN + 1];
    int64_t size;
    enum img_compression compression; /* layers only */
};

struct img_platform_entry {
    struct img_descriptor desc;
    char *os;
    char *arch;
    char *variant; /* may be NULL */
};

enum img_manifest_kind {
    IMG_INDEX,
    IMG_MANIFEST,
};

struct img_manifest {
    enum img_manifest_kind kind;
    char *media_type;
    /* IMG_MANIFEST */
    struct img_descriptor config;
    struct img_descriptor *layers;
    size_t n_layers;
    /* IMG_INDEX */
    struct img_platform_entry *entries;
    size_t n_entries;
};

/* Parses a manifest or an index. content_type is the registry's
 * Content-Type (may be NULL); the document's own mediaType wins when
 * present, and the structure decides when neither names a kind. On failure
 * returns -EINVAL (-E2BIG past a cap) with *err set. */
int img_manifest_parse(const char *data, size_t len, const char *content_type,
                       struct img_manifest **ret, struct error **err);
void img_manifest_free(struct img_manifest *m);

/* The host platform in OCI terms: os "linux", architecture ("amd64",
 * "arm64", ...) and variant (may be NULL). */
void img_platform_host(const char **ret_os, const char **ret_arch, const char **ret_variant);
/* Picks the entry of an index for os/arch (and variant when given; an entry
 * without a variant matches any). -ENOENT with *err set when none fits. */
int img_index_select(const struct img_manifest *index, const char *os, const char *arch,
                     const char *variant, const struct img_platform_entry **ret,
                     struct error **err);

/* An image config, as the runtime applies it under a task definition. */
struct img_label {
    char *key;
    char *value;
};

struct img_config {
    char *os;
    char *arch;
    bool has_entrypoint; /* Entrypoint given (even as []) */
    char **entrypoint;
    size_t n_entrypoint;
    bool has_cmd;
    char **cmd;
    size_t n_cmd;
    char **env; /* "KEY=value" */
    size_t n_env;
    char *working_dir;    /* NULL when unset */
    char *user;           /* NULL when unset */
    char *stop_signal;    /* NULL when unset */
    char **exposed_ports; /* "80/tcp" */
    size_t n_exposed_ports;
    struct img_label *labels;
    size_t n_labels;
    char (*diff_ids)[IMG_DIGEST_LEN + 1];
    size_t n_diff_ids;
};

/* Parses an image config (the JSON blob the manifest's config descriptor
 * names). rootfs.diff_ids must be valid sha256 digests. -EINVAL with *err
 * set on failure. */
int img_config_parse(const char *data, size_t len, struct img_config **ret, struct error **err);
void img_config_free(struct img_config *c);
