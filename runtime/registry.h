/*
 * runtime/registry.h - client of the OCI distribution API v2 (registry pull and push).
 *
 * Pieces:
 *   - pure helpers (registry_ref.c, registry_auth.c): reference parsing, the
 *     docker.io mapping, insecure-registry matching, WWW-Authenticate parsing,
 *     X-Registry-Auth decoding, platform selection in a manifest list / OCI index;
 *   - the HTTP client on libcurl (registry_http.c): ping, anonymous / Basic /
 *     Bearer-token auth, manifests and blobs streamed to files while hashed;
 *   - rt_pull() (pull.c), rt_push() (push.c), rt_reg_distribution() and
 *     rt_reg_login() (registry.c): blocking operations for a worker thread.
 *
 * Transport: registries on loopback (127.0.0.0/8, ::1, localhost) and hosts in
 * the insecure list are spoken to over plain HTTP; all others over HTTPS with
 * the system CAs. docker.io is reached as registry-1.docker.io.
 *
 * Threading: every blocking function may run on any thread; progress
 * callbacks are called from the pull's own threads, one at a time (never
 * concurrently for one operation). Cancellation: set *opts->cancel to true
 * from any thread; transfers stop within about a second with -ECANCELED.
 *
 * Errors: 0 or a negative errno with a message in err:
 *   -ENOENT  manifest / blob / repository unknown (HTTP 404 from the API)
 *   -EACCES  authentication required or refused
 *   -EINVAL  bad reference, bad manifest, no linux/amd64 entry
 *   -EBADMSG digest mismatch (content does not match its digest)
 *   -EIO     registry unreachable, connection cut, HTTP errors
 *   -ECANCELED the caller cancelled
 */
#ifndef RUNTIME_REGISTRY_H
#define RUNTIME_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/image.h"

struct err;

#define RT_REG_DOCKER_IO     "docker.io"
#define RT_REG_DOCKER_IO_API "registry-1.docker.io"

#define RT_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define RT_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define RT_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define RT_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define RT_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define RT_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"

/* A parsed image reference. */
struct rt_reg_ref {
    char domain[256];   /* "docker.io", "127.0.0.1:5000" */
    char api_host[256]; /* host[:port] to connect to ("registry-1.docker.io" for docker.io) */
    char repo[256];     /* "library/busybox", "test" */
    char tag[130];      /* "" when only a digest was given */
    char digest[80];    /* "sha256:<hex>" or "" */
    char familiar[512]; /* repository as docker shows it: "busybox", "127.0.0.1:5000/test" */
};

/* Parse NAME[:TAG][@DIGEST] with Docker's rules (short names are
 * docker.io/library/NAME, no tag and no digest means :latest).
 * -EINVAL "invalid reference format" otherwise. */
int rt_reg_ref_parse(const char *ref, struct rt_reg_ref *out, struct err *err);

/* True if host ("h", "h:port", "[::1]:port") must be spoken to over plain
 * HTTP: loopback, or listed in insecure (entries "host[:port]" matched
 * exactly or by host without port, or an IPv4/IPv6 CIDR). */
bool rt_reg_host_insecure(const char *host, const char *const *insecure, size_t n_insecure);

/* Credentials for one registry (all strings owned, may be NULL). */
struct rt_reg_auth {
    char *username;
    char *password;
    char *identitytoken;
    char *serveraddress;
};

/* Decode an X-Registry-Auth header value: base64url (padding optional; the
 * standard alphabet is accepted too) of {"username","password",
 * "serveraddress"} or {"identitytoken"}. NULL, "" and "e30=" ({}) give
 * empty credentials. -EINVAL on malformed input. */
int rt_reg_auth_decode(const char *header, struct rt_reg_auth *out, struct err *err);
void rt_reg_auth_clear(struct rt_reg_auth *a);
bool rt_reg_auth_empty(const struct rt_reg_auth *a);

/* A parsed WWW-Authenticate challenge. */
struct rt_reg_challenge {
    char scheme[16]; /* "Bearer", "Basic" (as sent) */
    char realm[1024];
    char service[256];
    char scope[512];
    char error[64]; /* e.g. "insufficient_scope" */
};

/* Parse `Bearer realm="https://a/token",service="reg",scope="repository:x:pull"`
 * (quoted or token values, any order, case-insensitive keys). -EINVAL if
 * there is no scheme. */
int rt_reg_challenge_parse(const char *header, struct rt_reg_challenge *out);

/* Pick the entry for os/arch (variant ignored unless given) from a manifest
 * list or OCI index document. ret_digest gets "sha256:..." and
 * ret_media_type (128 bytes, may be NULL) its mediaType. -ENOENT with
 * Docker's "no matching manifest for linux/amd64 in the manifest list
 * entries" when absent. */
int rt_reg_select_platform(json_t *index, const char *os, const char *arch, char ret_digest[80],
                           char ret_media_type[128], int64_t *ret_size, struct err *err);

/* ---- blocking operations (run them on a worker thread) ------------------------------- */

/* A progress event. id is the short layer id (12 hex) or the tag / "" for
 * global lines; bar: current/total are valid (total <= 0: unknown). */
struct rt_reg_event {
    char id[80];
    char status[256];
    bool bar;
    int64_t current;
    int64_t total;
    json_t *aux; /* push: {"Tag","Digest","Size"}; owned by the callee of the cb (incref to keep) */
};
typedef void (*rt_reg_event_cb)(void *arg, const struct rt_reg_event *ev);

struct rt_reg_opts {
    const struct rt_reg_auth *auth; /* may be NULL */
    const char *const *insecure;    /* --insecure-registry entries */
    size_t n_insecure;
    const volatile bool *cancel; /* may be NULL */
    rt_reg_event_cb cb;          /* may be NULL */
    void *cb_arg;
    int max_concurrent;  /* layer downloads at once (0: 3) */
    const char *tmp_dir; /* for blobs in flight (default: <store>/tmp) */
};

struct rt_pull_result {
    char image_id[72];
    char manifest_digest[80]; /* of the top-level manifest (list) */
    char repo_digest[700];    /* "familiar@sha256:..." */
    char tagged[700];         /* "familiar:tag", or "" for pulls by digest */
    bool up_to_date;
};

/* Pull ref into store. Progress as docker shows it (Pulling from, Pulling fs
 * layer, Downloading, Verifying Checksum, Download complete, Extracting,
 * Pull complete, Digest, Status). The image is added (and tagged) only once
 * every layer is in and its diff-id matches the config; nothing else
 * remains after a failure (blobs in flight are removed). Records the repo
 * digest with rt_image_add_repo_digest(). */
int rt_pull(struct rt_image_store *store, const char *data_root, const char *ref,
            const struct rt_reg_opts *opts, struct rt_pull_result *ret, struct err *err);

/* Push a local image (name, name:tag) to its registry under ref's tag
 * (tag NULL/"" means the tag of name, or "latest"). Layers are gzip
 * compressed from rt_image_layer_tar(); blobs already present are skipped.
 * ret_digest (80 bytes, may be NULL) gets the manifest digest. */
int rt_push(struct rt_image_store *store, const char *name, const char *tag,
            const struct rt_reg_opts *opts, char ret_digest[80], struct err *err);

/* GET /distribution/{name}/json: {"Descriptor":{mediaType,digest,size},
 * "Platforms":[{architecture,os}]} as a new JSON object in *ret. */
int rt_reg_distribution(const char *ref, const struct rt_reg_opts *opts, json_t **ret,
                        struct err *err);

/* docker login: check credentials against server ("" / NULL / docker.io
 * names -> docker.io). -EACCES with a message on refusal. */
int rt_reg_login(const char *server, const struct rt_reg_auth *auth, const char *const *insecure,
                 size_t n_insecure, struct err *err);

/* Restrict which registries shoald may contact (shoald --registry-allow,
 * used by the test suites so that nothing ever reaches out of the machine):
 * entries are host, host:port or IPv4 CIDRs; loopback is always allowed. With
 * no entries (the default) every registry is allowed. Checked on every
 * request's URL before any name resolution; redirects are not followed while
 * a list is set. Call once at start-up, before any pull. */
void rt_reg_set_allowed(const char *const *entries, size_t n);
/* true if host (as in a reference: "name[:port]") may be contacted. */
bool rt_reg_host_allowed(const char *host);
/* true when an allow list is in force. */
bool rt_reg_restricted(void);

#endif
