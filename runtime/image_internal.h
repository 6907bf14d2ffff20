/*
 * runtime/image_internal.h - what the image store's files share (rt__ prefix).
 *
 * image.c         the store: index, repositories.json, lookup, tag, import
 * image_layer.c   hostile-tar extraction into one layer directory + diff-id
 * image_config.c  image config JSON for import and `docker import -c` changes
 * image_ref.c     reference normalisation ("bb" -> "bb:latest")
 *
 * Not a public header: only these files and tests/unit/test_image*.c include it.
 */
#ifndef RUNTIME_IMAGE_INTERNAL_H
#define RUNTIME_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/image.h"

struct err;
struct rt__ts;

/* Hard caps independent of the configurable ones. */
#define RT_LAYER_MAX_PATH  4096 /* bytes of an entry name */
#define RT_LAYER_MAX_LINK  4096 /* bytes of a symlink / hard link target */
#define RT_LAYER_MAX_DEPTH 200  /* directory depth (keeps fd use and rm_rf bounded) */

#define RT_LAYER_DEFAULT_MAX_BYTES   (64ULL << 30) /* uncompressed tar stream */
#define RT_LAYER_DEFAULT_MAX_ENTRIES (1ULL << 20)

struct rt__layer_limits {
    uint64_t max_bytes;   /* uncompressed stream bytes, and sum of declared file sizes */
    uint64_t max_entries; /* tar entries */
};

/*
 * Extract the tar read from src (plain, gzip, bzip2, xz, zstd or lz4) into
 * the empty directory dest_fd (opened O_RDONLY|O_DIRECTORY). ret_diff_id gets
 * "sha256:<hex>" of the whole uncompressed stream. Blocking; no locks taken.
 * On error the directory may hold a partial tree: the caller removes it.
 * Errors: -EINVAL (corrupt tar, hostile entry), -EFBIG (limits), -errno.
 */
struct rt__layer_src {
    int fd;
    int64_t off;  /* pread from here */
    int64_t len;  /* bytes of the (compressed) layer, < 0: until EOF */
    void *raw_md; /* EVP_MD_CTX * updated with the raw bytes read, or NULL */
    /* Called after a successful extraction, before the layer is committed;
     * a negative return discards it. NULL: no check. */
    int (*verify)(void *arg, const char *diff_id, struct err *err);
    void *verify_arg;
};
int rt__layer_extract(const struct rt__layer_src *src, int dest_fd,
                      const struct rt__layer_limits *lim, struct rt__ts *ts, char ret_diff_id[72],
                      struct err *err);

/* Open directory dir ("" = root, "a/b") under root_fd without following any
 * symlink; O_PATH fd or -errno. entry names the tar entry for messages. */
int rt__layer_walk_dir(int root_fd, const char *dir, const char *entry);

/*
 * Tar-split recording (image_tarsplit.c): rt__ts_new() starts writing the
 * recording to out_fd (a new empty file); the extractor feeds every byte of
 * the uncompressed stream (rt__ts_feed), reports each tar entry (rt__ts_entry:
 * is_file for a regular file with content) and, for such a file, where its
 * content went (rt__ts_file: the data offset of the entry in the stream, its
 * size and the cleaned path in the layer). rt__ts_finish() completes the
 * file: -ENOTSUP (err says why) when the layer cannot be reproduced; the
 * caller then drops the file. All calls accept a NULL recorder.
 */
struct rt__ts;
int rt__ts_new(int out_fd, struct rt__ts **ret, struct err *err);
void rt__ts_feed(struct rt__ts *t, const void *data, size_t len);
void rt__ts_entry(struct rt__ts *t, const char *rel, bool is_dir, bool is_file);
void rt__ts_file(struct rt__ts *t, uint64_t data_off, uint64_t size, const char *rel);
int rt__ts_finish(struct rt__ts *t, int out_fd, struct err *err);
void rt__ts_free(struct rt__ts *t);
/* Total tar size recorded in a tar-split file. */
int rt__ts_size(int ts_fd, uint64_t *ret_size);
/* Write the original tar: recorded bytes + file contents read from the layer
 * directory layer_fd (O_NOFOLLOW walks). */
int rt__ts_rebuild(int ts_fd, int layer_fd, int out_fd, struct err *err);

/* Docker's layer size: lstat sizes of all non-directories, hard links once. */
int rt__layer_size(int dir_fd, int64_t *ret_size);

/*
 * Build the config JSON of an imported image: one layer diff_id, created at
 * created_ns, comment = message (or "Imported from -"), config from changes.
 * *ret_json is malloc'd, NUL-terminated; its bytes are what the id hashes.
 */
int rt__image_config_import(const char *const *changes, size_t n_changes, const char *message,
                            const char *diff_id, int64_t created_ns, char **ret_json,
                            struct err *err);

/* Layer import from a source (a stream or a range of a file); ret_new says
 * whether the layer was not in the store before. For load. */
int rt__layer_import_src(struct rt_image_store *s, const struct rt__layer_src *src,
                         char ret_diff_id[72], int64_t *ret_size, bool *ret_new, struct err *err);
bool rt__layer_exists(struct rt_image_store *s, const char *diff_id);
/* Remove a layer if no image uses it (cleanup of a failed load). */
void rt__layer_drop_unused(struct rt_image_store *s, const char *diff_id);

/* The store's tmp/ directory fd (for O_TMPFILE spools). */
int rt__image_tmp_fd(struct rt_image_store *s);

/* sha256 of data as "sha256:<64 hex>". */
void rt__sha256_id(const void *data, size_t len, char out[72]);

#endif
