/*
 * runtime/image.h - the local image store.
 *
 * Layout under <data-root>/image/:
 *   layers/<diff-id hex>/          extracted layer (an overlay lowerdir), 0700 parent
 *   layers/<diff-id hex>.json      {"size": bytes, "refs": n}  (shared by images)
 *   configs/<image id hex>.json    the image config (OCI/Docker image config JSON)
 *   layers/<diff-id hex>.tarsplit  the layer tar minus file contents (see rt_image_layer_tar)
 *   repositories.json              {"name:tag": "sha256:<id>", ...}
 *   repodigests.json               {"name@sha256:<manifest digest>": "sha256:<id>", ...}
 *   tmp/                           spooled uploads and partial extractions
 * The image id is the sha256 of the config JSON bytes, as in Docker.
 *
 * Import of a rootfs tar (docker import) makes a one-layer image; the diff-id
 * is the sha256 of the uncompressed tar stream. Extraction treats the tar as
 * hostile: every entry is created relative to the layer directory without
 * following symlinks (openat with O_NOFOLLOW walks; an entry whose parent is
 * a symlink fails the import), absolute names are confined, ".." escaping
 * the root fails, hard links must point to an existing non-directory inside
 * the layer, whiteouts become overlay whiteouts (0/0 char device, opaque
 * xattr), ownership/modes/xattrs are kept (never trusted.*, and of
 * security.* only security.capability), and total size and entry count are
 * capped. A failed import leaves nothing (no layer, no tmp, no tag).
 * layers/<hex>.json "refs" counts the images using the layer (0 = prunable).
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
    char id[72];      /* "sha256:<64 hex>" */
    char **repo_tags; /* NULL-terminated, normalised ("bb:latest") */
    size_t n_repo_tags;
    char **layers; /* NULL-terminated absolute layer dirs, BASE FIRST */
    size_t n_layers;
    char **diff_ids; /* "sha256:<hex>", base first */
    int64_t created_ns;
    int64_t size;        /* sum of layer sizes (Docker's: lstat sizes of non-dirs) */
    char *config_json;   /* the raw image config document */
    char **repo_digests; /* NULL-terminated "name@sha256:...", sorted */
    size_t n_repo_digests;
};

/* Open (creating dirs) the store under data_root. Loads configs/ and
 * repositories.json, drops leftovers in tmp/ (interrupted imports). */
int rt_image_store_open(const char *data_root, struct rt_image_store **ret, struct err *err);
void rt_image_store_free(struct rt_image_store *s);

/* Extraction limits for later imports: max_bytes caps the uncompressed tar
 * stream and the sum of declared file sizes (default 64 GiB), max_entries the
 * number of tar entries (default 1M); 0 keeps the current value. Exceeding
 * one fails the import with -EFBIG. Fixed caps: names and link targets 4096
 * bytes, directory depth 200. */
void rt_image_store_set_limits(struct rt_image_store *s, uint64_t max_bytes, uint64_t max_entries);

/* Extract one layer tar read from tar_fd until EOF (plain, gzip, bzip2, xz,
 * zstd or lz4; the fd is not closed) into layers/<diff-id hex>/, with the
 * safety rules above. ret_diff_id gets "sha256:<hex of the uncompressed
 * stream>"; ret_size (may be NULL) the layer size. If the layer is already
 * stored the new copy is dropped (layers are shared). Blocking; for docker
 * load / pull, one call per layer. -EINVAL bad tar, -EFBIG over a limit. */
int rt_image_layer_import(struct rt_image_store *s, int tar_fd, char ret_diff_id[72],
                          int64_t *ret_size, struct err *err);
/* As rt_image_layer_import, reading tar_fd as a stream (a pipe is fine), and
 * calling verify(arg, diff_id) after the extraction and before the layer is
 * committed: a negative return discards the layer and is the result. Lets a
 * pull extract while it downloads and still refuse a blob whose digest turns
 * out wrong at the end. */
int rt_image_layer_import_verified(struct rt_image_store *s, int tar_fd,
                                   int (*verify)(void *arg, const char *diff_id, struct err *err),
                                   void *arg, char ret_diff_id[72], int64_t *ret_size,
                                   struct err *err);

/* Register an image from its config JSON bytes (the id is their sha256):
 * every rootfs.diff_ids entry must already be a stored layer (-ENOENT
 * otherwise). Writes configs/<hex>.json; tags it with repo_tag if not
 * NULL/"" (a tag held by another image moves). Adding an existing image only
 * (re)tags it. ret_id may be NULL. For docker load / pull. */
int rt_image_add(struct rt_image_store *s, const char *config_json, size_t len,
                 const char *repo_tag, char ret_id[72], struct err *err);

/* Import a rootfs tar from tar_fd (plain or gzip/bzip2/xz/zstd/lz4 compressed;
 * read to EOF, not closed). repo_tag may be NULL/"" (untagged). changes:
 * Dockerfile-like lines ("CMD [..]", "ENV A=1", "WORKDIR /x", "USER u",
 * "ENTRYPOINT ..", "EXPOSE 80", "LABEL k=v", "VOLUME /v", "ONBUILD ..",
 * "STOPSIGNAL s") applied to the config, may be NULL; others fail with
 * -EINVAL "<x> is not a valid change command" before the tar is read.
 * message: history comment (NULL/"" -> "Imported from -").
 * ret_id receives "sha256:<hex>". Blocking: run it on the thread pool. */
int rt_image_import(struct rt_image_store *s, int tar_fd, const char *repo_tag,
                    const char *const *changes, size_t n_changes, const char *message,
                    char ret_id[72], struct err *err);

/* Look up by any accepted name; returns a deep copy to free with
 * rt_image_free(), or -ENOENT (err: "No such image: <name>"). */
int rt_image_get(struct rt_image_store *s, const char *name, struct rt_image **ret,
                 struct err *err);
/* All images (copies), newest first. repo_tags of each are sorted. */
int rt_image_list(struct rt_image_store *s, struct rt_image ***ret, size_t *ret_n, struct err *err);
void rt_image_free(struct rt_image *img);
void rt_image_list_free(struct rt_image **imgs, size_t n);

/* Tag an image (target "name[:tag]", normalised). */
int rt_image_tag(struct rt_image_store *s, const char *name, const char *target, struct err *err);

/* Normalise a reference: strips "docker.io/" and "library/", adds ":latest"
 * when no tag or digest is given. out must hold 512 bytes. -EINVAL if invalid. */
int rt_image_normalize_ref(const char *ref, char out[512]);

/* Write the layer's original uncompressed tar to out_fd, byte for byte as it
 * was imported, so its sha256 is the diff-id (docker save, push). The store
 * keeps the tar's headers and padding at import ("tar-split") and reads the
 * file contents back from the extracted layer. -ENOENT if unknown.
 * Blocking: for the thread pool. */
int rt_image_layer_tar(struct rt_image_store *s, const char *diff_id, int out_fd, struct err *err);

/* Size in bytes of what rt_image_layer_tar writes. -ENOTSUP for a layer
 * stored without tar-split data, -ENOENT if unknown. Not blocking. */
int rt_image_layer_tar_size(struct rt_image_store *s, const char *diff_id, uint64_t *ret_size,
                            struct err *err);

/* Record that image id (full "sha256:<hex>" or any name) is known in a
 * registry by "name@sha256:<manifest digest>" (after a pull or push); shown
 * as RepoDigests, accepted by lookup. The image's other digest for the same
 * repository is replaced. */
int rt_image_add_repo_digest(struct rt_image_store *s, const char *id, const char *ref,
                             struct err *err);

/* A container using an image, for rmi and prune conflict checks. */
struct rt_image_user {
    const char *container_id; /* full id */
    const char *image_id;     /* "sha256:<hex>" */
    bool running;
};

/* One line of docker rmi's answer: {"Untagged": what} or {"Deleted": what}. */
struct rt_image_rm {
    bool deleted;
    char *what;
};
void rt_image_rm_free(struct rt_image_rm *v, size_t n);

/*
 * docker rmi (DELETE /images/{name}), with dockerd's rules: by a tag, the tag
 * is removed, and the image too when it was its last reference; by an id,
 * an image with several tags needs force (-EEXIST "unable to delete <id12>
 * (must be forced) - image is referenced in multiple repositories"); a
 * container using the image is a conflict (-EEXIST) unless force, and a
 * running one even with force ("cannot be forced"; by a tag with force the
 * tag goes and the image stays). Deleting an image deletes its layers that
 * no other image uses (noprune has no effect: there are no parent images).
 * Metadata is updated before any directory is removed, so a crash never
 * leaves an image with a missing layer. users: every container (may be
 * NULL/0). *ret is the docker answer (free with rt_image_rm_free).
 * Blocking (removes directories): for the thread pool.
 */
int rt_image_remove(struct rt_image_store *s, const char *name, bool force, bool noprune,
                    const struct rt_image_user *users, size_t n_users, struct rt_image_rm **ret,
                    size_t *ret_n, struct err *err);

/* docker image prune: all=false removes dangling (untagged) images, all=true
 * every image no container uses. ret_reclaimed: bytes of deleted layers. */
int rt_image_prune(struct rt_image_store *s, bool all, const struct rt_image_user *users,
                   size_t n_users, struct rt_image_rm **ret, size_t *ret_n, int64_t *ret_reclaimed,
                   struct err *err);

/*
 * docker save: write a tar in the `docker save` format (manifest.json,
 * repositories, <config hex>.json, <layer>/layer.tar, VERSION, json) of the
 * images named (a name saves that tag; an id saves the image untagged) to
 * out_fd (a pipe or file; written sequentially). Checks every name and
 * layer before the first byte is written (-ENOENT, -ENOTSUP).
 * Blocking: for a worker thread.
 */
int rt_image_save(struct rt_image_store *s, const char *const *names, size_t n_names, int out_fd,
                  struct err *err);
/* Check names for save without writing anything (same errors). */
int rt_image_save_check(struct rt_image_store *s, const char *const *names, size_t n_names,
                        struct err *err);

struct rt_image_load_layer {
    char short_id[13]; /* first 12 hex of the diff id */
    int64_t size;      /* bytes of the layer blob in the archive */
};

struct rt_image_load_result {
    char **lines; /* "Loaded image: x:t\n" or "Loaded image ID: sha256:...\n" */
    size_t n_lines;
    struct rt_image_load_layer *layers; /* layers extracted (not already stored) */
    size_t n_layers;
};
void rt_image_load_result_release(struct rt_image_load_result *res);

/*
 * docker load: read a tar (plain or compressed) from fd, a seekable file,
 * in the docker save format (manifest.json) or the OCI image layout
 * (oci-layout, index.json, blobs/sha256/..., nested indexes, linux/amd64
 * picked, tags from org.opencontainers.image.ref.name or
 * io.containerd.image.name). Verifies config digests, blob digests (OCI)
 * and every layer's diff-id against the config. Bad archives: -EINVAL with
 * a message; an image is stored whole or not at all, and layers extracted
 * by a failed load are removed. Blocking: for the thread pool.
 */
int rt_image_load(struct rt_image_store *s, int fd, struct rt_image_load_result *ret,
                  struct err *err);

#endif
