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
 * Extract the tar read from tar_fd (plain, gzip, bzip2, xz, zstd or lz4) into
 * the empty directory dest_fd (opened O_RDONLY|O_DIRECTORY). ret_diff_id gets
 * "sha256:<hex>" of the whole uncompressed stream. Blocking; no locks taken.
 * On error the directory may hold a partial tree: the caller removes it.
 * Errors: -EINVAL (corrupt tar, hostile entry), -EFBIG (limits), -errno.
 */
int rt__layer_extract(int tar_fd, int dest_fd, const struct rt__layer_limits *lim,
                      char ret_diff_id[72], struct err *err);

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

/* sha256 of data as "sha256:<64 hex>". */
void rt__sha256_id(const void *data, size_t len, char out[72]);

#endif
