/*
 * runtime/image.h - the local image store.
 *
 * Layout under <data-root>/image/:
 *   layers/<diff-id hex>/          extracted layer (an overlay lowerdir), 0700 parent
 *   layers/<diff-id hex>.json      {"size": bytes, "refs": n}  (shared by images)
 *   configs/<image id hex>.json    the image config (OCI/Docker image config JSON)
 *   repositories.json              {"name:tag": "sha256:<id>", ...}
 *   tmp/                           spooled uploads and partial extractions
 * The image id is the sha256 of the config JSON bytes, as in Docker.
 *
 * Import of a rootfs tar (docker import) makes a one-layer image; the diff-id
 * is the sha256 of the uncompressed tar stream. Extraction treats the tar as
 * hostile: every entry is created relative to the layer directory without
 * following symlinks (openat with O_NOFOLLOW walks), absolute names and ".."
 * are confined, hard links must point inside the layer, whiteouts become
 * overlay whiteouts, ownership/modes/xattrs (except trusted.*) are kept, and
 * total size and entry count are capped. A failed import leaves nothing.
 *
 * Blocking functions (import, remove) are meant for the libuv thread pool:
 * the store has a mutex, so readers on the loop thread are safe at any time.
 *
 * Names: "name", "name:tag", "docker.io/library/name:tag", "sha256:<hex>",
 * a unique id prefix (>= 1 hex char, as Docker) are all accepted by lookup.
 */
#ifndef RUNTIME_IMAGE_H
#define RUNTIME_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct rt_image_store;

struct rt_image {
    char id[72];          /* "sha256:<64 hex>" */
    char **repo_tags;     /* NULL-terminated, normalised ("bb:latest") */
    size_t n_repo_tags;
    char **layers;        /* NULL-terminated absolute layer dirs, BASE FIRST */
    size_t n_layers;
    char **diff_ids;      /* "sha256:<hex>", base first */
    int64_t created_ns;
    int64_t size;         /* sum of layer sizes (bytes of file data) */
    char *config_json;    /* the raw image config document */
};

/* Open (creating dirs) the store under data_root. */
int rt_image_store_open(const char *data_root, struct rt_image_store **ret, struct err *err);
void rt_image_store_free(struct rt_image_store *s);

/* Import a rootfs tar from tar_fd (plain or gzip/xz/zstd compressed).
 * repo_tag may be NULL/"" (untagged). changes: Dockerfile-like lines ("CMD
 * [..]", "ENV A=1", "WORKDIR /x", "USER u", "ENTRYPOINT ..", "EXPOSE 80",
 * "LABEL k=v") applied to the config, may be NULL. message: history comment.
 * ret_id receives "sha256:<hex>". */
int rt_image_import(struct rt_image_store *s, int tar_fd, const char *repo_tag,
                    const char *const *changes, size_t n_changes, const char *message,
                    char ret_id[72], struct err *err);

/* Look up by any accepted name; returns a deep copy to free with
 * rt_image_free(), or -ENOENT (err: "No such image: <name>"). */
int rt_image_get(struct rt_image_store *s, const char *name, struct rt_image **ret,
                 struct err *err);
/* All images (copies). */
int rt_image_list(struct rt_image_store *s, struct rt_image ***ret, size_t *ret_n,
                  struct err *err);
void rt_image_free(struct rt_image *img);
void rt_image_list_free(struct rt_image **imgs, size_t n);

/* Tag an image (target "name[:tag]", normalised). */
int rt_image_tag(struct rt_image_store *s, const char *name, const char *target,
                 struct err *err);

/* Normalise a reference: strips "docker.io/" and "library/", adds ":latest"
 * when no tag or digest is given. out must hold 512 bytes. -EINVAL if invalid. */
int rt_image_normalize_ref(const char *ref, char out[512]);

#endif
