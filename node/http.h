/*
 * node/http.h - the HTTP/1.1 server of shoald (Docker Engine API transport).
 *
 * Runs on the daemon's one libuv loop. Listens on Unix sockets, TCP and
 * TCP+TLS (lib/tls.h); serves many connections at once; keep-alive; requests on one
 * connection are handled one at a time (parsing pauses while a request is in
 * flight, so pipelined requests wait their turn; reading goes on for a bounded
 * amount so that a client hang-up during a long poll is noticed). Request
 * bodies may be sized (Content-Length) or chunked. Parsing uses libhttp-parser.
 * The path is percent-decoded (%00 or a bad escape -> 400); the query is kept
 * raw (see http_query_get). HEAD replies carry the Content-Length the body
 * would have, without the body. "Expect: 100-continue" is answered.
 *
 * Limits (each answered with a JSON error and the connection closed):
 *   header section > HTTP_MAX_HEADER_BYTES       -> 431
 *   more than HTTP_MAX_HEADERS header fields     -> 431
 *   buffered body  > HTTP_MAX_BODY_BYTES         -> 413
 *   malformed request                            -> 400
 *
 * Flow: when the headers of a request are complete the server calls the
 * route callback given to http_server_new() with req->method/path/query/
 * headers filled in. The callback may set req->body_fd (an fd it owns,
 * opened for writing) to spool a large body to a file instead of memory,
 * and req->body_limit to change the cap. When the whole body has arrived
 * the server calls req->on_complete (set by the route callback); if the
 * route callback left on_complete NULL the server answers 404.
 *
 * Lifetime: a request is reference counted. The server holds one reference
 * while the connection is open. A handler that answers later (long poll,
 * stream, hijack, thread-pool work) takes a reference with http_req_ref()
 * and drops it with http_req_unref() when done. If the client goes away
 * first, req->on_abort (if set) is called once, req->aborted becomes true,
 * and every later reply/write call is a harmless no-op.
 *
 * on_abort is called at most once per request, only after the route callback
 * ran, and only while the response is not complete (a one-shot reply was not
 * queued, a stream was not ended, a hijacked connection was not raw-closed).
 * Besides a client disconnect this also covers a request that dies before
 * on_complete (body over the limit, malformed chunked body, spool write
 * error, http_server_close()): a handler gets exactly one of "on_complete and
 * later maybe on_abort" or "on_abort" or (no on_abort set) nothing. The
 * server never closes req->body_fd; its owner does (in on_complete/on_abort).
 * Callbacks are never called from inside a reply/write call the handler made.
 *
 * body_limit caps the body whichever way it is stored. Its default is
 * HTTP_MAX_BODY_BYTES for a buffered body; when the route callback sets
 * body_fd and leaves body_limit at that default, the spooled body is not
 * capped (set body_limit explicitly to cap it). A Content-Length above the
 * limit is refused before any body byte is read.
 *
 * Replies: exactly one of http_reply(_error|_json), http_stream_begin or http_hijack per
 * request; later calls are ignored. A reply may be sent from the route
 * callback itself (the server then discards the rest of the body, or closes
 * the connection when that rest is large or chunked). An Upgrade request that
 * is answered without http_hijack() gets "Connection: close".
 * A client's half-close (EOF) on an Upgrade request before http_hijack() is
 * remembered and reported to on_read after the hijack, not as an abort.
 *
 * Every response carries Api-Version: 1.41, Docker-Experimental: false,
 * Ostype: linux, Server: shoal/<version> (linux) and Date, like dockerd.
 */
#ifndef NODE_HTTP_H
#define NODE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/macros.h"

#define HTTP_MAX_HEADER_BYTES (64 * 1024)
#define HTTP_MAX_BODY_BYTES   (8 * 1024 * 1024)
#define HTTP_MAX_HEADERS      100

struct http_server;
struct http_req;

typedef void (*http_req_cb)(struct http_req *req);
/* Raw bytes from a hijacked connection; len 0 with eof=true on half-close. */
typedef void (*http_hijack_read_cb)(struct http_req *req, const char *data, size_t len, bool eof);

struct http_header {
    char *name; /* as received */
    char *value;
};

struct http_req {
    /* filled by the server before the route callback */
    const char *method; /* "GET", "POST", "HEAD", "DELETE", "PUT" ... */
    char *path;         /* percent-decoded path, without the query */
    char *query;        /* raw query string after '?', or NULL */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
    bool chunked_body;
    uint64_t content_length; /* 0 when absent */

    /* set by the route callback */
    http_req_cb on_complete; /* whole body received (required) */
    http_req_cb on_abort;    /* client went away before the handler finished */
    int body_fd;             /* >= 0: spool the body here instead of `body` */
    uint64_t body_limit;     /* max body bytes (default HTTP_MAX_BODY_BYTES) */
    void *data;              /* handler state */

    /* body (when body_fd < 0) and its size in either case */
    struct buf body;
    uint64_t body_received;

    bool aborted;   /* client disconnected */
    bool responded; /* a full response was sent or a stream/hijack begun */

    /* private to node/http.c */
    struct http_conn *conn;
    int refs;
    unsigned int flags;
    http_hijack_read_cb on_read;
    struct http_header *resp_headers; /* extra response headers */
    size_t n_resp_headers;
    struct http_header *query_params; /* decoded, parsed on first lookup */
    size_t n_query_params;
    bool query_parsed;
};

/* route: called once per request after the headers (see above).
 * Also sets SIGPIPE to SIG_IGN if it still has its default disposition. */
struct http_server *http_server_new(uv_loop_t *loop, http_req_cb route);
/* Listen on a Unix socket path (an existing socket file is replaced, any other
 * kind of file is refused with -EEXIST), mode 0660, backlog 1024. May be
 * called more than once. The socket files are unlinked by http_server_close. */
int http_server_listen_unix(struct http_server *s, const char *path, struct err *err);
struct tls_ctx;
/* Listen on TCP "IP:PORT" ("[v6]:PORT" too). tls (borrowed, must outlive the
 * server) makes it a TLS listener; require_client_cert then refuses clients
 * that present no certificate (presented ones are always verified against
 * the context's CA). tls NULL: plain TCP (the caller warns). */
int http_server_listen_tcp(struct http_server *s, const char *addr, struct tls_ctx *tls,
                           bool require_client_cert, struct err *err);
/* Stop listening and close every connection (on_abort for pending handlers);
 * the server is freed once the close callbacks ran, so keep running the loop
 * until it is empty. Safe with NULL. */
void http_server_close(struct http_server *s);

void http_req_ref(struct http_req *req);
void http_req_unref(struct http_req *req);

/* Header lookup, case-insensitive; NULL if absent. */
const char *http_req_header(const struct http_req *req, const char *name);

/* Add a response header (e.g. "Cache-Control" for /_ping) before replying;
 * name and value are copied. Headers are sent sorted by name together with
 * the common ones, like dockerd. Returns 0, -EINVAL (CR/LF/':' in the name,
 * CR/LF in the value, or the reply already begun) or -ENOMEM. */
int http_req_add_header(struct http_req *req, const char *name, const char *value);

/* One-shot responses. body may be NULL with len 0. Content-Length is set. */
void http_reply(struct http_req *req, int status, const char *content_type, const void *body,
                size_t len);
/* {"message": "..."} with Content-Type exactly application/json. */
void http_reply_error(struct http_req *req, int status, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Serialise a jansson value (takes a reference: pass json_incref if you keep it)
 * followed by "\n". Declared with void * to keep jansson out of this header. */
void http_reply_json(struct http_req *req, int status, void *json_value);

/* Chunked streaming response; headers are written and flushed at once. */
void http_stream_begin(struct http_req *req, int status, const char *content_type);
void http_stream_write(struct http_req *req, const void *data, size_t len); /* one chunk */
void http_stream_end(struct http_req *req); /* terminating chunk; connection kept alive */

/* Hijack: answer "101 UPGRADED" (Connection: Upgrade, Upgrade: tcp,
 * Content-Type: application/vnd.docker.raw-stream); from then on bytes from
 * the client go to on_read and http_raw_write() sends raw bytes.
 * http_raw_close() flushes pending writes, then closes the connection. */
void http_hijack(struct http_req *req, http_hijack_read_cb on_read);
void http_raw_write(struct http_req *req, const void *data, size_t len);
void http_raw_close(struct http_req *req);

/* Bytes queued for writing on this request's connection (for back-pressure);
 * 0 once the connection is gone. */
size_t http_req_write_queue_size(const struct http_req *req);

/* Query helpers over req->query ("a=1&b=x%20y"): decoded value or NULL.
 * The returned string is valid until the request is freed. */
const char *http_query_get(struct http_req *req, const char *key);
/* Docker booleans (dockerd's BoolValueOrDefault): absent -> def; present and,
 * after trimming and lower-casing, "", "0", "no", "false" or "none" -> false;
 * any other value ("1", "true", "True") -> true. */
bool http_query_bool(struct http_req *req, const char *key, bool def);

#endif
