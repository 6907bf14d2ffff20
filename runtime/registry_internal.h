/*
 * runtime/registry_internal.h - shared by runtime/registry*.c, pull.c, push.c (private).
 */
#ifndef RUNTIME_REGISTRY_INTERNAL_H
#define RUNTIME_REGISTRY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "runtime/registry.h"

/* Copy s into d (n bytes); false (d truncated) when it does not fit. */
static inline bool reg__copy(char *d, size_t n, const char *s)
{
    size_t l = strlen(s);

    if (n == 0)
        return false;
    if (l >= n) {
        memcpy(d, s, n - 1);
        d[n - 1] = '\0';
        return false;
    }
    memcpy(d, s, l + 1);
    return true;
}

/* ---- registry_http.c: one client per registry and operation ---------------------------- */

struct reg_client;

/* scope: "repository:<repo>:pull" or "...:pull,push" ("" for login). */
int reg__client_new(const char *api_host, const char *repo, const char *scope,
                    const struct rt_reg_opts *opts, struct reg_client **ret, struct err *err);
struct reg_client *reg__client_free(struct reg_client *c);
/* A second cancellation flag (the operation's own "stop", e.g. a failed sibling download). */
void reg__client_set_stop(struct reg_client *c, const volatile bool *stop);

/* Response metadata of a request. */
struct reg_resp {
    long status;
    char content_type[128];
    char docker_digest[80];
    char location[2048];
    int64_t content_length;
};

/* Body sink: either memory (max bytes) or a file descriptor; both are hashed. */
struct reg_sink {
    int fd;    /* >= 0: write here */
    char *mem; /* else grown here (malloc'd, NUL-terminated), max mem_max bytes */
    size_t mem_len;
    size_t mem_max;
    int64_t written;
    void *md; /* EVP_MD_CTX (sha256) */
    /* progress: called about every 100 ms while receiving */
    void (*on_progress)(void *arg, int64_t current);
    void *progress_arg;
};

/* GET path (relative to https?://host/v2/<repo>/, e.g. "manifests/latest",
 * "blobs/sha256:...") into sink; accept may be NULL. Follows redirects
 * (blob storage). Handles 401 by authenticating once. status >= 400 is
 * turned into an error with the registry's message (404 -> -ENOENT). */
int reg__get(struct reg_client *c, const char *path, const char *accept, struct reg_sink *sink,
             struct reg_resp *resp, struct err *err);
/* HEAD path; resp->status is set; no error for 404 (returns 0). */
int reg__head(struct reg_client *c, const char *path, const char *accept, struct reg_resp *resp,
              struct err *err);
/* Upload a blob from fd (size bytes, digest known): POST uploads/ then PUT ?digest=. */
int reg__upload_blob(struct reg_client *c, int fd, int64_t size, const char *digest,
                     void (*on_progress)(void *arg, int64_t current), void *arg, struct err *err);
/* PUT manifests/<ref> with body and content type. */
int reg__put_manifest(struct reg_client *c, const char *ref, const char *media_type,
                      const char *body, size_t len, struct err *err);
/* GET /v2/ with credentials (login). */
int reg__login(struct reg_client *c, struct err *err);

/* sink helpers */
int reg__sink_init(struct reg_sink *s, int fd, size_t mem_max);
void reg__sink_release(struct reg_sink *s);
/* "sha256:<hex>" of everything received so far (finalises the hash). */
void reg__sink_digest(struct reg_sink *s, char out[80]);

/* sha256 of a buffer as "sha256:<hex>". */
void reg__sha256(const void *data, size_t len, char out[80]);

#endif
