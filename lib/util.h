/*
 * lib/util.h - ids, times, sizes and file helpers with no project semantics.
 * libc only (the static monitor links it too).
 */
#ifndef LIB_UTIL_H
#define LIB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define ID_HEX_LEN 64

/* 64 lowercase hex chars + NUL, never all digits in the first 12 (they
 * become the hostname). Reads /dev/urandom via getrandom(). */
int id_new_hex(char out[ID_HEX_LEN + 1]);
bool id_is_hex(const char *s, size_t len);

/* Nanoseconds since the epoch (CLOCK_REALTIME) and since boot (CLOCK_MONOTONIC). */
int64_t time_now_ns(void);
int64_t time_mono_ns(void);
/* RFC 3339 with nanoseconds in UTC ("2026-11-22T10:00:00.123456789Z");
 * ns <= 0 gives "0001-01-01T00:00:00Z". out needs 40 bytes. */
void time_fmt_rfc3339(int64_t ns, char out[40]);
/* Parse what time_fmt_rfc3339 (and Docker) writes, also with fewer fraction
 * digits or a numeric zone offset. Returns 0 or -EINVAL. */
int time_parse_rfc3339(const char *s, int64_t *ret_ns);
/* "Up 3 seconds" style durations as Docker prints them ("Less than a second",
 * "About a minute", "2 hours"...). */
void time_human_duration(int64_t ns, char *out, size_t outlen);

/* Parse a size like docker's: "32m", "1g", "512k", "100b", "1024" (bytes).
 * Case-insensitive; "mb"/"kib" style suffixes accepted. */
int parse_size(const char *s, int64_t *ret_bytes);
/* Strict unsigned / signed decimal parsing of the whole string. */
int parse_u64(const char *s, uint64_t *ret);
int parse_i64(const char *s, int64_t *ret);

/* Read a whole (small) file; *ret is NUL-terminated, caller frees. */
int read_file(const char *path, char **ret, size_t *ret_len, size_t max);
int read_file_at(int dirfd, const char *path, char **ret, size_t *ret_len, size_t max);
/* Write data to path.tmp, fsync if asked, rename over path. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync);
/* Write a short string to an existing file (cgroup and /proc knobs). */
int write_file_str(const char *path, const char *s);
int mkdir_p(const char *path, mode_t mode);
/* Remove a directory tree without following symlinks. Missing = success. */
int rm_rf(const char *path);
/* Full write, retrying on EINTR/short writes. */
int write_all(int fd, const void *data, size_t len);

#endif
