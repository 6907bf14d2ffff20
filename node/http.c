/*
 * node/http.c - the HTTP/1.1 server of shoald (see node/http.h).
 *
 * Structure:
 *   - a tiny connection I/O layer (io_*) over a uv_stream_t, so that a TCP or
 *     TLS transport can later be slotted in without touching the HTTP logic;
 *   - the request parser glue (libhttp-parser callbacks, prefixed p_);
 *   - the per-connection state machine (conn_*): one request in flight at a
 *     time, input after a complete request is buffered (bounded) while its
 *     handler runs, so that a client hang-up is still noticed;
 *   - the response API (http_reply*, http_stream_*, http_hijack, http_raw_*).
 *
 * Re-entrancy rule: handler callbacks (route, on_complete, on_abort, on_read)
 * are only called from libuv callbacks (read, write, shutdown, idle) or from
 * http_server_close(), never from inside a reply/write call a handler made.
 * Work that a reply call would trigger (processing a pipelined request, a
 * failed write) is deferred to the connection's idle handle.
 */
#define LOG_MODULE "http"
#include "node/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/util.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0.1.0"
#endif

#define LISTEN_BACKLOG 1024
#define READ_SIZE      (64 * 1024)
/* Input kept while a handler is pending (pipelined requests); above this we
 * stop reading until the pending request is answered. */
#define PIPELINE_MAX (HTTP_MAX_HEADER_BYTES + 64 * 1024)
/* A body left unread by an early reply is discarded up to this size;
 * above it (or when chunked) the connection is closed instead. */
#define DISCARD_MAX (256 * 1024)

/* req->flags */
enum {
    RF_ROUTED = 1 << 0,       /* route callback ran */
    RF_HEADERS_DONE = 1 << 1, /* header section parsed */
    RF_MSG_DONE = 1 << 2,     /* whole request (body included) parsed */
    RF_COMPLETE_CALLED = 1 << 3,
    RF_RESPONDED = 1 << 4, /* reply/stream/hijack begun */
    RF_RESP_DONE = 1 << 5, /* response complete (handler finished) */
    RF_ABORT_NOTIFIED = 1 << 6,
    RF_HEAD = 1 << 7,
    RF_UPGRADE = 1 << 8, /* Connection: Upgrade request */
    RF_CLOSE = 1 << 9,   /* close the connection after the response */
    RF_HTTP10 = 1 << 10,
    RF_STREAMING = 1 << 11,
    RF_STREAM_RAW = 1 << 12, /* HTTP/1.0 stream: no chunking, close-delimited */
    RF_HIJACKED = 1 << 13,
};

struct http_listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    struct http_server *srv;
    char *path; /* Unix socket path (unlinked at close), NULL for TCP */
    bool tcp;
    struct tls_ctx *tls; /* borrowed; NULL: plain */
    bool require_cert;
    struct http_listener *next;
};

struct http_server {
    uv_loop_t *loop;
    http_req_cb route;
    struct http_listener *listeners;
    struct http_conn *conns; /* doubly linked through prev/next */
    unsigned int open;       /* listeners + connections not yet freed */
    bool closing;
    /* read buffer shared by the connections: libuv pairs each alloc with
     * its read callback, which consumes the bytes before returning; a
     * fresh 64 KiB malloc per read cost a malloc_consolidate each time */
    char *rbuf;
    bool rbuf_busy;
};

struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } io;
    /* TLS transport (instead of io): the tls_conn owns the socket */
    struct tls_conn *tls;
    bool require_cert;
    bool hs_done;     /* handshake finished and accepted */
    bool tls_closing; /* tls_conn_close called */
    bool tls_gone;    /* its close callback ran */
    uv_idle_t defer;
    uv_shutdown_t shutdown_req;
    int open_handles;

    http_parser parser;
    struct http_req *req; /* current request; the server holds a reference */
    struct buf in;        /* received, not yet consumed */

    /* header parsing state of the current request */
    struct buf url;
    struct buf hfield;
    struct buf hvalue;
    bool in_value;
    size_t header_bytes;
    int fail_status; /* set by a parser callback that refused the request */
    const char *fail_msg;

    bool reading;
    bool peer_eof;      /* the client shut its write side */
    bool eof_delivered; /* on_read(NULL, 0, true) was called */
    bool closing;       /* uv_close called */
    bool shutting;      /* no more output accepted; closing once it drained */
    bool in_process;
    bool write_failed;
};

struct http_write {
    uv_write_t w;
    char data[];
};

static void conn_close(struct http_conn *c);
static void conn_handle_gone(struct http_conn *c);
static void conn_finish(struct http_conn *c);
static void conn_process(struct http_conn *c);
static void conn_update_reading(struct http_conn *c);
static void conn_on_defer(uv_idle_t *idle);

/* Run conn_process (or a close after a failed write) from the loop soon. */
static void conn_defer(struct http_conn *c)
{
    if (!c->closing)
        (void)uv_idle_start(&c->defer, conn_on_defer);
}

/* ---------------------------------------------------------------------------
 * Connection I/O layer. Everything below it speaks bytes only.
 */

static void io_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct http_server *s = ((struct http_conn *)h->data)->srv;

    (void)suggested;
    if (!s->rbuf_busy && (s->rbuf || (s->rbuf = malloc(READ_SIZE)))) {
        s->rbuf_busy = true;
        b->base = s->rbuf;
    } else {
        b->base = malloc(READ_SIZE);
    }
    b->len = b->base ? READ_SIZE : 0;
}

static void io_release_buf(struct http_server *s, char *base)
{
    if (base && base == s->rbuf)
        s->rbuf_busy = false;
    else
        free(base);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void conn_input(struct http_conn *c, ssize_t nread, const char *data);
static void conn_close_handle(struct http_conn *c);

static void io_tls_read_cb(struct tls_conn *t, const void *data, size_t len, int status)
{
    struct http_conn *c = tls_conn_data(t);

    if (!c || c->closing)
        return;
    if (status == 0)
        conn_input(c, (ssize_t)len, data);
    else
        conn_input(c, status == UV_EOF ? UV_EOF : (status < 0 ? status : UV_EIO), NULL);
}

static int io_read_start(struct http_conn *c)
{
    if (c->tls)
        return tls_conn_read_start(c->tls, io_tls_read_cb);
    return uv_read_start(&c->io.stream, io_alloc_cb, conn_on_read);
}

static void io_read_stop(struct http_conn *c)
{
    if (c->tls) {
        tls_conn_read_stop(c->tls);
        return;
    }
    (void)uv_read_stop(&c->io.stream);
}

static void io_tls_write_cb(struct tls_conn *t, int status, void *arg)
{
    struct http_conn *c = arg;

    (void)t;
    if (status < 0 && status != UV_ECANCELED && !c->closing && !c->tls_closing) {
        log_debug("TLS write failed: %d", status);
        c->write_failed = true;
        conn_defer(c);
    }
}

static void io_write_cb(uv_write_t *w, int status)
{
    struct http_conn *c = w->handle->data;

    free(container_of(w, struct http_write, w));
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("write failed: %s", uv_strerror(status));
        conn_close(c);
    }
}

/* Queue an owned copy of the pieces as one write. Errors are reported later
 * (deferred), never by calling back into handlers from here. */
static void io_write(struct http_conn *c, const uv_buf_t *bufs, unsigned int n)
{
    struct http_write *wr;
    uv_buf_t b;
    size_t len = 0;
    size_t off = 0;
    size_t skip = 0; /* bytes already written in place */
    int r;

    for (unsigned int i = 0; i < n; i++)
        len += bufs[i].len;
    if (len == 0)
        return;
    if (c->tls) {
        char *data;

        if (c->tls_closing)
            return;
        if (n == 1) {
            r = tls_conn_write(c->tls, bufs[0].base, len, io_tls_write_cb, c);
        } else {
            data = malloc(len);
            if (!data) {
                c->write_failed = true;
                conn_defer(c);
                return;
            }
            for (unsigned int i = 0; i < n; i++) {
                memcpy(data + off, bufs[i].base, bufs[i].len);
                off += bufs[i].len;
            }
            r = tls_conn_write(c->tls, data, len, io_tls_write_cb, c);
            free(data);
        }
        if (r < 0) {
            c->write_failed = true;
            conn_defer(c);
        }
        return;
    }
    /* Nothing queued: write in place. A response mostly goes out whole, with
     * no copy, no request and, unlike uv_write, no epoll_ctl on the next
     * turn of the loop (libuv re-arms the watcher after every completed
     * uv_write). Whatever the socket did not take is queued below. */
    if (uv_stream_get_write_queue_size(&c->io.stream) == 0) {
        r = uv_try_write(&c->io.stream, bufs, n);
        if (r >= 0) {
            skip = (size_t)r;
        } else if (r != UV_EAGAIN) {
            c->write_failed = true;
            conn_defer(c);
            return;
        }
        if (skip == len)
            return;
    }
    wr = malloc(sizeof(*wr) + len - skip);
    if (!wr) {
        c->write_failed = true;
        conn_defer(c);
        return;
    }
    for (unsigned int i = 0; i < n; i++) {
        size_t k = bufs[i].len;
        const char *p = bufs[i].base;

        if (skip >= k) {
            skip -= k;
            continue;
        }
        p += skip;
        k -= skip;
        skip = 0;
        memcpy(wr->data + off, p, k);
        off += k;
    }
    b = uv_buf_init(wr->data, (unsigned int)off);
    r = uv_write(&wr->w, &c->io.stream, &b, 1, io_write_cb);
    if (r < 0) {
        free(wr);
        c->write_failed = true;
        conn_defer(c);
    }
}

static void io_shutdown_cb(uv_shutdown_t *sr, int status)
{
    (void)status;
    conn_close(sr->handle->data);
}

static void io_tls_closed(struct tls_conn *t)
{
    struct http_conn *c = tls_conn_data(t);

    c->tls = NULL;
    c->tls_gone = true;
    if (c->closing)
        conn_handle_gone(c);
    else
        conn_close(c); /* after a shutdown: the socket is gone, finish up */
}

/* Half-close our side once queued writes are out; then the connection closes.
 * TLS: close_notify after the queued records, then the socket is closed. */
static int io_shutdown(struct http_conn *c)
{
    if (c->tls) {
        if (!c->tls_closing) {
            c->tls_closing = true;
            tls_conn_close(c->tls, io_tls_closed);
        }
        return 0;
    }
    return uv_shutdown(&c->shutdown_req, &c->io.stream, io_shutdown_cb);
}

static size_t io_queue_size(const struct http_conn *c)
{
    if (c->tls)
        return tls_conn_pending(c->tls);
    if (c->tls_gone)
        return 0;
    return uv_stream_get_write_queue_size(&c->io.stream);
}

/* ---------------------------------------------------------------------------
 * Small helpers.
 */

static const char *status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Requested Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Entity";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

static bool status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/* RFC 7231 IMF-fixdate, independent of the locale; formatted once a second
 * (every reply carries it). Only the loop thread replies. */
static const char *http_date(void)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static time_t last = -1;
    static char cached[64];
    time_t t = time(NULL);
    struct tm tm;

    if (t != last) {
        if (!gmtime_r(&t, &tm))
            (void)snprintf(cached, sizeof(cached), "Thu, 01 Jan 1970 00:00:00 GMT");
        else
            (void)snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                           days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = t;
    }
    return cached;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+len) into a new string. Path mode: '+' is literal and a
 * bad escape or %00 is an error (-EINVAL). Query mode: '+' is a space and bad
 * escapes are kept as they are. */
static int url_decode(const char *s, size_t len, bool query, char **ret)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];

        if (ch == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;

            if (hi >= 0 && lo >= 0) {
                char v = (char)(hi * 16 + lo);

                if (v == '\0' && !query) {
                    free(out);
                    return -EINVAL;
                }
                if (v != '\0') {
                    out[o++] = v;
                } else {
                    /* a NUL in a query value would cut the string: keep it encoded */
                    memcpy(out + o, "%00", 3);
                    o += 3;
                }
                i += 2;
                continue;
            }
            if (!query) {
                free(out);
                return -EINVAL;
            }
        } else if (ch == '+' && query) {
            ch = ' ';
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    *ret = out;
    return 0;
}

static bool header_token_ok(const char *s, bool is_name)
{
    if (is_name && !*s)
        return false;
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || (is_name && (*s == ':' || *s == ' ' || *s == '\t')))
            return false;
    return true;
}

/* JSON string body {"message":"..."}\n with the bytes escaped the way Go does
 * for control characters and quotes. */
static int error_body(struct buf *b, const char *msg)
{
    int r = buf_puts(b, "{\"message\":\"");

    for (const unsigned char *p = (const unsigned char *)msg; r == 0 && *p; p++) {
        switch (*p) {
        case '"':
            r = buf_puts(b, "\\\"");
            break;
        case '\\':
            r = buf_puts(b, "\\\\");
            break;
        case '\n':
            r = buf_puts(b, "\\n");
            break;
        case '\r':
            r = buf_puts(b, "\\r");
            break;
        case '\t':
            r = buf_puts(b, "\\t");
            break;
        case '<':
            r = buf_puts(b, "\\u003c");
            break;
        case '>':
            r = buf_puts(b, "\\u003e");
            break;
        case '&':
            r = buf_puts(b, "\\u0026");
            break;
        default:
            if (*p < 0x20)
                r = buf_printf(b, "\\u%04x", *p);
            else
                r = buf_append(b, p, 1);
        }
    }
    return r ? r : buf_puts(b, "\"}\n");
}

/* ---------------------------------------------------------------------------
 * Requests.
 */

static struct http_req *req_new(struct http_conn *c)
{
    struct http_req *req = calloc(1, sizeof(*req));

    if (!req)
        return NULL;
    req->method = "GET";
    req->body_fd = -1;
    req->body_limit = HTTP_MAX_BODY_BYTES;
    buf_init(&req->body);
    req->conn = c;
    req->refs = 1;
    return req;
}

static void headers_free(struct http_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
}

static void req_free(struct http_req *req)
{
    headers_free(req->headers, req->n_headers);
    headers_free(req->resp_headers, req->n_resp_headers);
    free(req->resp_headers);
    headers_free(req->query_params, req->n_query_params);
    free(req->query_params);
    free(req->path);
    free(req->query);
    buf_release(&req->body);
    free(req);
}

void http_req_ref(struct http_req *req)
{
    if (req)
        req->refs++;
}

void http_req_unref(struct http_req *req)
{
    if (!req)
        return;
    if (req->refs <= 0) {
        log_error("http_req_unref: reference count underflow");
        return;
    }
    if (--req->refs == 0)
        req_free(req);
}

/* Tell the handler once that its request is dead; replies become no-ops. */
static void req_notify_abort(struct http_req *req)
{
    if (!(req->flags & RF_ROUTED) || (req->flags & (RF_RESP_DONE | RF_ABORT_NOTIFIED)))
        return;
    req->flags |= RF_ABORT_NOTIFIED;
    req->aborted = true;
    if (req->on_abort) {
        http_req_ref(req);
        req->on_abort(req);
        http_req_unref(req);
    }
}

/* The connection a reply may use, or NULL (aborted, finished, closing). */
static struct http_conn *req_live_conn(const struct http_req *req)
{
    struct http_conn *c;

    if (!req || req->aborted || !req->conn)
        return NULL;
    c = req->conn;
    if (c->closing || c->shutting || c->req != req)
        return NULL;
    return c;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    if (!req || !name)
        return NULL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

int http_req_add_header(struct http_req *req, const char *name, const char *value)
{
    struct http_header *h;

    if (!req || !name || !value || (req->flags & RF_RESPONDED) || !header_token_ok(name, true) ||
        !header_token_ok(value, false))
        return -EINVAL;
    h = realloc(req->resp_headers, (req->n_resp_headers + 1) * sizeof(*h));
    if (!h)
        return -ENOMEM;
    req->resp_headers = h;
    h = &h[req->n_resp_headers];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return -ENOMEM;
    }
    req->n_resp_headers++;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Response heads.
 */

enum body_mode {
    BODY_LENGTH,  /* Content-Length: len */
    BODY_CHUNKED, /* Transfer-Encoding: chunked */
    BODY_NONE,    /* neither (close-delimited HTTP/1.0 stream) */
};

struct hdr_ref {
    const char *name;
    const char *value;
};

static int head_line(struct buf *b, const char *x, const char *y, const char *z)
{
    int r = buf_puts(b, x);

    if (r == 0)
        r = buf_puts(b, y);
    return r ?: buf_puts(b, z);
}

static int build_head(struct buf *b, const struct http_req *req, int status, const char *ctype,
                      enum body_mode mode, size_t len, bool close)
{
    struct hdr_ref fixed[] = {
        {"Api-Version", "1.41"},
        {"Content-Type", ctype},
        {"Docker-Experimental", "false"},
        {"Ostype", "linux"},
        {"Server", "shoal/" SHOAL_VERSION " (linux)"},
    };
    size_t n_extra = req ? req->n_resp_headers : 0;
    size_t n = 0;
    struct hdr_ref stack[ARRAY_SIZE(fixed) + 4];
    struct hdr_ref *h = stack;
    char num[24];
    int r;

    if (ARRAY_SIZE(fixed) + n_extra > ARRAY_SIZE(stack)) {
        h = calloc(ARRAY_SIZE(fixed) + n_extra, sizeof(*h));
        if (!h)
            return -ENOMEM;
    }
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
        if (fixed[i].value)
            h[n++] = fixed[i];
    for (size_t i = 0; i < n_extra; i++)
        h[n++] = (struct hdr_ref){req->resp_headers[i].name, req->resp_headers[i].value};
    /* dockerd (Go) writes its headers sorted by name; the fixed ones already
     * are, so the extra ones are inserted among them (stable) */
    for (size_t i = n - n_extra; i < n; i++) {
        struct hdr_ref t = h[i];
        size_t j = i;

        for (; j > 0 && strcasecmp(h[j - 1].name, t.name) > 0; j--)
            h[j] = h[j - 1];
        h[j] = t;
    }

    /* pieces appended, not printf'ed: this runs for every reply */
    (void)snprintf(num, sizeof(num), "%d", status);
    r = head_line(b, "HTTP/1.1", " ", num);
    if (r == 0)
        r = head_line(b, " ", status_reason(status), "\r\n");
    for (size_t i = 0; r == 0 && i < n; i++)
        r = head_line(b, h[i].name, ": ", h[i].value) ?: buf_puts(b, "\r\n");
    if (h != stack)
        free(h);
    if (r == 0)
        r = head_line(b, "Date: ", http_date(), "\r\n");
    if (r == 0 && status_has_body(status)) {
        if (mode == BODY_LENGTH) {
            (void)snprintf(num, sizeof(num), "%zu", len);
            r = head_line(b, "Content-Length: ", num, "\r\n");
        } else if (mode == BODY_CHUNKED) {
            r = buf_puts(b, "Transfer-Encoding: chunked\r\n");
        }
    }
    if (r == 0 && close)
        r = buf_puts(b, "Connection: close\r\n");
    else if (r == 0 && req && (req->flags & RF_HTTP10))
        r = buf_puts(b, "Connection: keep-alive\r\n");
    if (r == 0)
        r = buf_puts(b, "\r\n");
    return r;
}

/* The response to req is complete: finish the request or the connection. */
static void conn_response_done(struct http_conn *c)
{
    struct http_req *req = c->req;

    req->flags |= RF_RESP_DONE;
    if (req->flags & RF_CLOSE) {
        conn_finish(c);
        return;
    }
    if (!(req->flags & RF_MSG_DONE))
        return; /* the rest of the body is discarded by conn_process */
    /* processing of what follows happens outside the handler's call */
    if (!c->in_process)
        conn_defer(c);
}

/* Decide whether the connection survives this response: not after an
 * Upgrade request that is not hijacked, nor when a large unread body is left. */
static void req_check_unread_body(struct http_conn *c, struct http_req *req)
{
    if (req->flags & RF_UPGRADE)
        req->flags |= RF_CLOSE;
    if (req->flags & RF_MSG_DONE)
        return;
    /* without Content-Length or chunked coding a request has no body */
    if ((c->parser.flags & F_CHUNKED) ||
        (c->parser.content_length != ULLONG_MAX && c->parser.content_length > DISCARD_MAX))
        req->flags |= RF_CLOSE;
}

/* Send a complete response on c (req may be NULL for protocol errors). */
static void conn_send(struct http_conn *c, const struct http_req *req, int status,
                      const char *ctype, const void *body, size_t len, bool close)
{
    struct buf head;
    uv_buf_t bufs[2];
    bool with_body = status_has_body(status);

    buf_init(&head);
    if (build_head(&head, req, status, with_body ? ctype : NULL, BODY_LENGTH, with_body ? len : 0,
                   close) < 0) {
        buf_release(&head);
        c->write_failed = true;
        conn_defer(c);
        return;
    }
    bufs[0] = uv_buf_init(head.data, (unsigned int)head.len);
    bufs[1] = uv_buf_init((char *)body, (unsigned int)len);
    io_write(c, bufs, with_body && body && !(req && (req->flags & RF_HEAD)) ? 2 : 1);
    buf_release(&head);
}

void http_reply(struct http_req *req, int status, const char *content_type, const void *body,
                size_t len)
{
    struct http_conn *c = req_live_conn(req);

    if (!c || (req->flags & RF_RESPONDED))
        return;
    if (len > UINT_MAX) {
        http_reply_error(req, 500, "response too large");
        return;
    }
    req->flags |= RF_RESPONDED;
    req->responded = true;
    req_check_unread_body(c, req);
    conn_send(c, req, status, content_type, body, len, req->flags & RF_CLOSE);
    conn_response_done(c);
}

void http_reply_error(struct http_req *req, int status, const char *fmt, ...)
{
    struct buf body;
    char *msg = NULL;
    va_list ap;
    int r;

    if (!req_live_conn(req) || (req->flags & RF_RESPONDED))
        return;
    va_start(ap, fmt);
    r = vasprintf(&msg, fmt, ap);
    va_end(ap);
    buf_init(&body);
    if (r < 0 || error_body(&body, msg) < 0) {
        buf_release(&body);
        free(msg);
        http_reply(req, status, "application/json", "{\"message\":\"out of memory\"}\n", 28);
        return;
    }
    http_reply(req, status, "application/json", body.data, body.len);
    buf_release(&body);
    free(msg);
}

void http_reply_json(struct http_req *req, int status, void *json_value)
{
    json_t *v = json_value;
    char *s = NULL;
    size_t len;

    if (req_live_conn(req) && !(req->flags & RF_RESPONDED) && v)
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!req_live_conn(req) || (req->flags & RF_RESPONDED)) {
        free(s);
        return;
    }
    if (!s) {
        http_reply_error(req, 500, "cannot encode the JSON reply");
        return;
    }
    len = strlen(s);
    {
        char *t = realloc(s, len + 2);

        if (!t) {
            free(s);
            http_reply_error(req, 500, "out of memory");
            return;
        }
        s = t;
    }
    s[len++] = '\n';
    s[len] = '\0';
    http_reply(req, status, "application/json", s, len);
    free(s);
}

void http_stream_begin(struct http_req *req, int status, const char *content_type)
{
    struct http_conn *c = req_live_conn(req);
    enum body_mode mode = BODY_CHUNKED;
    struct buf head;
    uv_buf_t b;

    if (!c || (req->flags & RF_RESPONDED))
        return;
    req->flags |= RF_RESPONDED | RF_STREAMING;
    req->responded = true;
    req_check_unread_body(c, req);
    if (req->flags & RF_HTTP10) {
        /* no chunked coding in HTTP/1.0: the body ends when we close */
        req->flags |= RF_STREAM_RAW | RF_CLOSE;
        mode = BODY_NONE;
    }
    buf_init(&head);
    if (build_head(&head, req, status, content_type, mode, 0, req->flags & RF_CLOSE) < 0) {
        buf_release(&head);
        c->write_failed = true;
        conn_defer(c);
        return;
    }
    b = uv_buf_init(head.data, (unsigned int)head.len);
    io_write(c, &b, 1);
    buf_release(&head);
}

void http_stream_write(struct http_req *req, const void *data, size_t len)
{
    struct http_conn *c = req_live_conn(req);
    char size_line[32];
    uv_buf_t bufs[3];

    if (!c || !(req->flags & RF_STREAMING) || (req->flags & (RF_RESP_DONE | RF_HEAD)) || len == 0 ||
        len > UINT_MAX)
        return;
    if (req->flags & RF_STREAM_RAW) {
        bufs[0] = uv_buf_init((char *)data, (unsigned int)len);
        io_write(c, bufs, 1);
        return;
    }
    /* one chunk per call: clients (docker logs -f, events) see each message at once */
    bufs[0] = uv_buf_init(size_line,
                          (unsigned int)snprintf(size_line, sizeof(size_line), "%zx\r\n", len));
    bufs[1] = uv_buf_init((char *)data, (unsigned int)len);
    bufs[2] = uv_buf_init((char *)"\r\n", 2);
    io_write(c, bufs, 3);
}

void http_stream_end(struct http_req *req)
{
    struct http_conn *c = req_live_conn(req);

    if (!c || !(req->flags & RF_STREAMING) || (req->flags & RF_RESP_DONE))
        return;
    if (!(req->flags & (RF_HEAD | RF_STREAM_RAW))) {
        uv_buf_t b = uv_buf_init((char *)"0\r\n\r\n", 5);

        io_write(c, &b, 1);
    }
    conn_response_done(c);
}

void http_hijack(struct http_req *req, http_hijack_read_cb on_read)
{
    static const char head[] = "HTTP/1.1 101 UPGRADED\r\n"
                               "Content-Type: application/vnd.docker.raw-stream\r\n"
                               "Connection: Upgrade\r\n"
                               "Upgrade: tcp\r\n"
                               "\r\n";
    struct http_conn *c = req_live_conn(req);
    uv_buf_t b = uv_buf_init((char *)head, sizeof(head) - 1);

    if (!c || (req->flags & RF_RESPONDED))
        return;
    req->flags |= RF_RESPONDED | RF_HIJACKED;
    req->responded = true;
    req->on_read = on_read;
    io_write(c, &b, 1);
    /* bytes the client sent after the request, and an early half-close, are
     * handed to on_read from the loop, not from inside this call */
    if (c->in.len || c->peer_eof)
        conn_defer(c);
    if (!c->in_process)
        conn_update_reading(c);
}

void http_raw_write(struct http_req *req, const void *data, size_t len)
{
    struct http_conn *c = req_live_conn(req);
    uv_buf_t b;

    if (!c || !(req->flags & RF_HIJACKED) || (req->flags & RF_RESP_DONE) || len == 0 ||
        len > UINT_MAX)
        return;
    b = uv_buf_init((char *)data, (unsigned int)len);
    io_write(c, &b, 1);
}

void http_raw_close(struct http_req *req)
{
    struct http_conn *c = req_live_conn(req);

    if (!c || !(req->flags & RF_HIJACKED) || (req->flags & RF_RESP_DONE))
        return;
    req->flags |= RF_RESP_DONE | RF_CLOSE;
    conn_finish(c);
}

size_t http_req_write_queue_size(const struct http_req *req)
{
    struct http_conn *c = req_live_conn(req);

    return c ? io_queue_size(c) : 0;
}

/* ---------------------------------------------------------------------------
 * Query strings.
 */

static int query_parse(struct http_req *req)
{
    const char *p = req->query;

    req->query_parsed = true;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t klen = eq ? (size_t)(eq - p) : seg;
        struct http_header *h;

        if (seg > 0) {
            h = realloc(req->query_params, (req->n_query_params + 1) * sizeof(*h));
            if (!h)
                return -ENOMEM;
            req->query_params = h;
            h = &h[req->n_query_params];
            h->name = NULL;
            h->value = NULL;
            if (url_decode(p, klen, true, &h->name) < 0 ||
                url_decode(eq ? eq + 1 : p + seg, eq ? seg - klen - 1 : 0, true, &h->value) < 0) {
                free(h->name);
                return -ENOMEM;
            }
            req->n_query_params++;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

const char *http_query_get(struct http_req *req, const char *key)
{
    if (!req || !key)
        return NULL;
    if (!req->query_parsed && query_parse(req) < 0)
        log_warn("out of memory parsing a query string");
    for (size_t i = 0; i < req->n_query_params; i++)
        if (strcmp(req->query_params[i].name, key) == 0)
            return req->query_params[i].value;
    return NULL;
}

bool http_query_bool(struct http_req *req, const char *key, bool def)
{
    const char *v = http_query_get(req, key);
    size_t len;

    if (!v)
        return def;
    while (*v == ' ' || *v == '\t')
        v++;
    len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0)
        return false;
    if ((len == 1 && v[0] == '0') || (len == 2 && strncasecmp(v, "no", 2) == 0) ||
        (len == 5 && strncasecmp(v, "false", 5) == 0) ||
        (len == 4 && strncasecmp(v, "none", 4) == 0))
        return false;
    return true;
}

/* ---------------------------------------------------------------------------
 * Parser callbacks. They return nonzero to stop the parser; the reason is left
 * in c->fail_status (0 when the connection is already being closed).
 */

static int p_fail(struct http_conn *c, int status, const char *msg)
{
    if (!c->fail_status) {
        c->fail_status = status;
        c->fail_msg = msg;
    }
    return -1;
}

static int p_count_header_bytes(struct http_conn *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > HTTP_MAX_HEADER_BYTES)
        return p_fail(c, 431, "request header section too large");
    return 0;
}

static int p_on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;

    if (c->req) /* cannot happen: the parser is paused until the request is done */
        return p_fail(c, 500, "internal error: request overlap");
    c->req = req_new(c);
    if (!c->req)
        return p_fail(c, 500, "out of memory");
    c->url.len = 0;
    c->hfield.len = 0;
    c->hvalue.len = 0;
    c->in_value = false;
    c->header_bytes = 0;
    return 0;
}

static int p_on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (p_count_header_bytes(c, len + 16) < 0)
        return -1;
    return buf_append(&c->url, at, len) < 0 ? p_fail(c, 500, "out of memory") : 0;
}

static int p_commit_header(struct http_conn *c)
{
    struct http_req *req = c->req;
    struct http_header *h;
    size_t vlen = c->hvalue.len;

    c->in_value = false;
    if (req->n_headers >= HTTP_MAX_HEADERS)
        return p_fail(c, 431, "too many request headers");
    while (vlen > 0 && (c->hvalue.data[vlen - 1] == ' ' || c->hvalue.data[vlen - 1] == '\t'))
        vlen--;
    h = &req->headers[req->n_headers];
    h->name = strndup(c->hfield.len ? c->hfield.data : "", c->hfield.len);
    h->value = strndup(vlen ? c->hvalue.data : "", vlen);
    c->hfield.len = 0;
    c->hvalue.len = 0;
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return p_fail(c, 500, "out of memory");
    }
    req->n_headers++;
    return 0;
}

static int p_on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->req->flags & RF_HEADERS_DONE)
        return 0; /* trailer fields of a chunked body: ignored */
    if (c->in_value && p_commit_header(c) < 0)
        return -1;
    if (p_count_header_bytes(c, len + 4) < 0)
        return -1;
    return buf_append(&c->hfield, at, len) < 0 ? p_fail(c, 500, "out of memory") : 0;
}

static int p_on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->req->flags & RF_HEADERS_DONE)
        return 0;
    c->in_value = true;
    if (p_count_header_bytes(c, len) < 0)
        return -1;
    return buf_append(&c->hvalue, at, len) < 0 ? p_fail(c, 500, "out of memory") : 0;
}

/* Split the request target into decoded path and raw query. */
static int req_set_target(struct http_req *req, const char *url, size_t len)
{
    const char *p = url;
    const char *end = url + len;
    const char *q;
    const char *hash;
    int r;

    if (len == 0)
        return -EINVAL;
    if (*p != '/' && !(len == 1 && *p == '*')) {
        /* absolute-form: scheme://authority/path?query */
        const char *s = memmem(p, len, "://", 3);

        if (!s)
            return -EINVAL;
        s += 3;
        while (s < end && *s != '/' && *s != '?')
            s++;
        p = s;
    }
    hash = memchr(p, '#', (size_t)(end - p));
    if (hash)
        end = hash;
    q = memchr(p, '?', (size_t)(end - p));
    if (q) {
        req->query = strndup(q + 1, (size_t)(end - q - 1));
        if (!req->query)
            return -ENOMEM;
        end = q;
    }
    if (p == end)
        return (req->path = strdup("/")) ? 0 : -ENOMEM;
    r = url_decode(p, (size_t)(end - p), false, &req->path);
    return r;
}

static int p_on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    struct http_req *req = c->req;
    const char *expect;
    int r;

    if (c->in_value || c->hfield.len) {
        if (p_commit_header(c) < 0)
            return -1;
    }
    req->flags |= RF_HEADERS_DONE;
    req->method = http_method_str((enum http_method)p->method);
    if (p->method == HTTP_HEAD)
        req->flags |= RF_HEAD;
    if (p->http_major == 1 && p->http_minor == 0)
        req->flags |= RF_HTTP10;
    else if (p->http_major != 1)
        return p_fail(c, 400, "unsupported HTTP version");
    if (!http_should_keep_alive(p))
        req->flags |= RF_CLOSE;
    if (p->upgrade)
        req->flags |= RF_UPGRADE;
    req->chunked_body = (p->flags & F_CHUNKED) != 0;
    req->content_length = p->content_length == ULLONG_MAX ? 0 : p->content_length;

    r = req_set_target(req, c->url.data ? c->url.data : "", c->url.len);
    if (r == -ENOMEM)
        return p_fail(c, 500, "out of memory");
    if (r < 0)
        return p_fail(c, 400, "invalid request target");

    /* the route callback: may set on_complete, body_fd, body_limit, or reply */
    req->flags |= RF_ROUTED;
    http_req_ref(req);
    c->srv->route(req);
    http_req_unref(req);
    if (c->closing || c->shutting)
        return -1;
    if (!(req->flags & RF_RESPONDED) && !req->on_complete) {
        http_reply_error(req, 404, "page not found");
        if (c->closing || c->shutting)
            return -1;
    }
    if (req->body_fd >= 0 && req->body_limit == HTTP_MAX_BODY_BYTES)
        req->body_limit = UINT64_MAX;
    if (!(req->flags & RF_RESPONDED) && req->content_length > req->body_limit)
        return p_fail(c, 413, "request body too large");

    expect = http_req_header(req, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && !(req->flags & RF_RESPONDED) &&
        !(req->flags & RF_HTTP10) && (req->chunked_body || req->content_length > 0)) {
        uv_buf_t b = uv_buf_init((char *)"HTTP/1.1 100 Continue\r\n\r\n", 25);

        io_write(c, &b, 1);
    }
    return 0;
}

static int p_on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req *req = c->req;
    int r;

    if (c->closing || c->shutting)
        return -1;
    if (req->flags & RF_RESP_DONE)
        return 0; /* answered early: discard */
    if (req->body_received + len < req->body_received || req->body_received + len > req->body_limit)
        return p_fail(c, 413, "request body too large");
    req->body_received += len;
    if (req->body_fd >= 0) {
        /* Spooling goes to local disk: a synchronous write per received chunk
         * keeps memory flat and is the back-pressure (we read no faster than
         * we write), at the cost of blocking the loop for a disk write. */
        r = write_all(req->body_fd, at, len);
        if (r < 0)
            return p_fail(c, 500, "cannot store the request body");
        return 0;
    }
    return buf_append(&req->body, at, len) < 0 ? p_fail(c, 500, "out of memory") : 0;
}

static int p_on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;

    c->req->flags |= RF_MSG_DONE;
    /* one request at a time: resume once it is answered */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = p_on_message_begin,
    .on_url = p_on_url,
    .on_header_field = p_on_header_field,
    .on_header_value = p_on_header_value,
    .on_headers_complete = p_on_headers_complete,
    .on_body = p_on_body,
    .on_message_complete = p_on_message_complete,
};

/* ---------------------------------------------------------------------------
 * Connections.
 */

static void server_maybe_free(struct http_server *s)
{
    if (s->closing && s->open == 0) {
        free(s->rbuf);
        free(s);
    }
}

static void conn_handle_gone(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (--c->open_handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    buf_release(&c->in);
    buf_release(&c->url);
    buf_release(&c->hfield);
    buf_release(&c->hvalue);
    free(c);
    s->open--;
    server_maybe_free(s);
}

static void conn_close_cb(uv_handle_t *h)
{
    conn_handle_gone(h->data);
}

/* Close the transport: the uv handle, or the TLS connection (whose close
 * callback counts as the handle's). */
static void conn_close_handle(struct http_conn *c)
{
    if (c->tls_gone) {
        conn_handle_gone(c);
        return;
    }
    if (c->tls || c->tls_closing) {
        if (c->tls && !c->tls_closing) {
            c->tls_closing = true;
            tls_conn_close(c->tls, io_tls_closed);
        }
        return; /* io_tls_closed counts it */
    }
    uv_close(&c->io.handle, conn_close_cb);
}

/* Close at once (pending writes are dropped); aborts a pending handler. */
static void conn_close(struct http_conn *c)
{
    struct http_req *req = c->req;

    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    if (req) {
        c->req = NULL;
        req->conn = NULL;
        req_notify_abort(req);
        http_req_unref(req);
    }
    (void)uv_idle_stop(&c->defer);
    conn_close_handle(c);
    uv_close((uv_handle_t *)&c->defer, conn_close_cb);
}

/* Stop input, send what is queued, shut our side down, then close. */
static void conn_finish(struct http_conn *c)
{
    if (c->closing || c->shutting)
        return;
    c->shutting = true;
    if (c->reading) {
        io_read_stop(c);
        c->reading = false;
    }
    if (io_shutdown(c) < 0)
        conn_close(c);
}

/* A protocol error: abort the handler, answer with a JSON error, close. */
static void conn_fail(struct http_conn *c, int status, const char *msg)
{
    struct http_req *req = c->req;
    struct buf body;
    bool answered = req && (req->flags & RF_RESPONDED);

    if (c->closing || c->shutting)
        return;
    log_debug("closing a connection: %d %s", status, msg);
    if (req)
        req_notify_abort(req);
    if (c->closing || c->shutting)
        return;
    if (!answered) {
        buf_init(&body);
        if (error_body(&body, msg) == 0)
            conn_send(c, NULL, status, "application/json", body.data, body.len, true);
        buf_release(&body);
    }
    conn_finish(c);
}

/* Hand buffered raw input (and a pending EOF) to the hijacker. */
static void conn_hijack_deliver(struct http_conn *c)
{
    struct http_req *req = c->req;

    http_req_ref(req);
    while (c->in.len && !c->closing && c->req == req && !req->aborted) {
        struct buf data = c->in;

        buf_init(&c->in);
        if (req->on_read)
            req->on_read(req, data.data, data.len, false);
        buf_release(&data);
    }
    if (c->peer_eof && !c->eof_delivered && !c->closing && c->req == req && !req->aborted &&
        c->in.len == 0) {
        c->eof_delivered = true;
        if (req->on_read)
            req->on_read(req, NULL, 0, true);
    }
    http_req_unref(req);
}

/* The request and its response are both complete: ready for the next one. */
static void conn_request_done(struct http_conn *c)
{
    struct http_req *req = c->req;

    c->req = NULL;
    req->conn = NULL;
    http_parser_pause(&c->parser, 0);
    http_req_unref(req);
}

/* Run the parser over buffered input and dispatch, as far as the state of the
 * current request allows. */
static void conn_process(struct http_conn *c)
{
    if (c->in_process)
        return;
    c->in_process = true;
    while (!c->closing && !c->shutting) {
        struct http_req *req = c->req;
        enum http_errno e;
        size_t n;

        if (req && (req->flags & RF_HIJACKED)) {
            conn_hijack_deliver(c);
            break;
        }
        if (req && (req->flags & RF_MSG_DONE)) {
            if (req->flags & RF_RESP_DONE) {
                conn_request_done(c);
                continue;
            }
            if (!(req->flags & (RF_COMPLETE_CALLED | RF_RESPONDED))) {
                req->flags |= RF_COMPLETE_CALLED;
                http_req_ref(req);
                req->on_complete(req);
                http_req_unref(req);
                continue;
            }
            break; /* waiting for the handler */
        }
        if (c->in.len == 0)
            break;
        c->fail_status = 0;
        n = http_parser_execute(&c->parser, &parser_settings, c->in.data, c->in.len);
        e = HTTP_PARSER_ERRNO(&c->parser);
        if (c->closing || c->shutting)
            break;
        if (e != HPE_OK && e != HPE_PAUSED) {
            if (c->fail_status)
                conn_fail(c, c->fail_status, c->fail_msg);
            else if (e == HPE_HEADER_OVERFLOW)
                conn_fail(c, 431, "request header section too large");
            else
                conn_fail(c, 400, http_errno_description(e));
            break;
        }
        buf_consume(&c->in, n);
        if (n == 0 && e == HPE_OK)
            break; /* nothing consumed, nothing to wait for: avoid spinning */
    }
    c->in_process = false;
    conn_update_reading(c);
}

static void conn_update_reading(struct http_conn *c)
{
    bool want;

    if (c->closing || c->shutting || c->peer_eof || (c->tls && !c->hs_done))
        return;
    /* while a request is pending, read only a bounded amount ahead so that a
     * hang-up is noticed but a flood of pipelined requests is not buffered */
    want = !(c->req && (c->req->flags & RF_MSG_DONE) && !(c->req->flags & RF_HIJACKED) &&
             c->in.len >= PIPELINE_MAX);
    if (want && !c->reading) {
        if (io_read_start(c) < 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        io_read_stop(c);
        c->reading = false;
    }
}

static void conn_on_eof(struct http_conn *c)
{
    struct http_req *req = c->req;

    c->peer_eof = true;
    c->reading = false;
    if (req && (req->flags & RF_HIJACKED)) {
        conn_process(c); /* delivers buffered input, then the EOF */
        return;
    }
    if (req && (req->flags & RF_UPGRADE) && (req->flags & RF_MSG_DONE) &&
        !(req->flags & RF_RESP_DONE)) {
        /* A client about to be hijacked may half-close at once (no stdin):
         * that is not a hang-up. Reported to on_read after http_hijack(). */
        return;
    }
    if (req && (req->flags & RF_ROUTED) && !(req->flags & RF_RESP_DONE)) {
        conn_close(c); /* the client went away: abort */
        return;
    }
    conn_finish(c); /* let queued responses drain */
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = s->data;
    struct http_server *srv = c->srv; /* c may be gone after conn_input */

    conn_input(c, nread, b->base);
    io_release_buf(srv, b->base);
}

static void conn_input(struct http_conn *c, ssize_t nread, const char *data)
{
    if (nread > 0 && !c->closing && !c->shutting) {
        struct http_req *req = c->req;

        if (req && (req->flags & RF_HIJACKED) && c->in.len == 0) {
            http_req_ref(req);
            if (req->on_read && !req->aborted)
                req->on_read(req, data, (size_t)nread, false);
            http_req_unref(req);
        } else if (buf_append(&c->in, data, (size_t)nread) < 0) {
            conn_close(c);
        } else {
            conn_process(c);
        }
    } else if (nread == UV_EOF) {
        if (!c->closing && !c->shutting)
            conn_on_eof(c);
    } else if (nread < 0) {
        log_debug("read error: %s", uv_strerror((int)nread));
        conn_close(c);
    }
}

static void conn_on_defer(uv_idle_t *idle)
{
    struct http_conn *c = idle->data;

    (void)uv_idle_stop(idle);
    if (c->closing)
        return;
    if (c->write_failed) {
        conn_close(c);
        return;
    }
    conn_process(c);
}

static void conn_on_handshake(struct tls_conn *t, int status)
{
    struct http_conn *c = tls_conn_data(t);

    if (c->closing)
        return;
    if (status < 0) {
        log_info("TLS handshake failed: %s", tls_conn_errmsg(t));
        conn_close(c);
        return;
    }
    if (c->require_cert && !tls_conn_peer(t)->has_cert) {
        /* TLS 1.3 finishes the server side before it sees the client's
         * (empty) certificate message: refuse the connection here. */
        log_info("TLS client without a certificate refused");
        conn_close(c);
        return;
    }
    c->hs_done = true;
    conn_update_reading(c);
}

static void server_on_connection(uv_stream_t *ls, int status)
{
    struct http_listener *l = ls->data;
    struct http_server *s = l->srv;
    struct http_conn *c;

    if (status < 0) {
        log_warn("accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        log_error("accept: out of memory");
        return;
    }
    c->srv = s;
    buf_init(&c->in);
    buf_init(&c->url);
    buf_init(&c->hfield);
    buf_init(&c->hvalue);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (l->tls) {
        c->require_cert = l->require_cert;
    } else if ((l->tcp ? uv_tcp_init(s->loop, &c->io.tcp) : uv_pipe_init(s->loop, &c->io.pipe, 0)) <
               0) {
        free(c);
        return;
    }
    c->io.handle.data = c;
    (void)uv_idle_init(s->loop, &c->defer);
    c->defer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open++;

    if (l->tls) {
        struct err err = {0};

        if (tls_conn_accept(ls, l->tls, conn_on_handshake, c, &c->tls, &err) < 0) {
            log_warn("accept: %s", err.msg);
            c->tls = NULL;
            c->tls_gone = true;
            conn_close(c);
        }
        return;
    }
    if (uv_accept(ls, &c->io.stream) < 0) {
        conn_close(c);
        return;
    }
    if (l->tcp)
        (void)uv_tcp_nodelay(&c->io.tcp, 1);
    conn_update_reading(c);
}

/* ---------------------------------------------------------------------------
 * Server.
 */

/* A write to a socket the client closed must fail with EPIPE, not kill the
 * daemon. Only the default disposition is changed; a handler someone
 * installed is left alone. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        (void)sigaction(SIGPIPE, &sa, NULL);
    }
}

struct http_server *http_server_new(uv_loop_t *loop, http_req_cb route)
{
    struct http_server *s;

    if (!loop || !route)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    ignore_sigpipe();
    s->loop = loop;
    s->route = route;
    return s;
}

static void listener_close_cb(uv_handle_t *h)
{
    struct http_listener *l = h->data;
    struct http_server *s = l->srv;

    free(l->path);
    free(l);
    s->open--;
    server_maybe_free(s);
}

int http_server_listen_unix(struct http_server *s, const char *path, struct err *err)
{
    struct sockaddr_un sun;
    struct http_listener *l;
    struct stat st;
    int r;

    if (!s || !path || s->closing)
        return err_set(err, -EINVAL, "invalid arguments");
    if (strlen(path) >= sizeof(sun.sun_path))
        return err_set(err, -ENAMETOOLONG, "socket path %s is too long", path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return err_set(err, -EEXIST, "%s exists and is not a socket", path);
        if (unlink(path) < 0 && errno != ENOENT)
            return err_set(err, -errno, "remove stale socket %s: %m", path);
    }
    l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, -ENOMEM, "out of memory");
    l->srv = s;
    l->path = strdup(path);
    if (!l->path) {
        free(l);
        return err_set(err, -ENOMEM, "out of memory");
    }
    r = uv_pipe_init(s->loop, &l->h.pipe, 0);
    if (r < 0) {
        free(l->path);
        free(l);
        return err_set(err, r, "pipe: %s", uv_strerror(r));
    }
    l->h.pipe.data = l;
    s->open++;
    r = uv_pipe_bind(&l->h.pipe, path);
    if (r < 0) {
        err_set(err, r, "bind %s: %s", path, uv_strerror(r));
        goto err_close;
    }
    if (chmod(path, 0660) < 0) {
        r = err_set(err, -errno, "chmod %s: %m", path);
        goto err_unlink;
    }
    r = uv_listen(&l->h.stream, LISTEN_BACKLOG, server_on_connection);
    if (r < 0) {
        err_set(err, r, "listen on %s: %s", path, uv_strerror(r));
        goto err_unlink;
    }
    l->next = s->listeners;
    s->listeners = l;
    log_debug("listening on %s", path);
    return 0;

err_unlink:
    (void)unlink(path);
err_close:
    uv_close(&l->h.handle, listener_close_cb);
    return r;
}

int http_server_listen_tcp(struct http_server *s, const char *addr, struct tls_ctx *tls,
                           bool require_client_cert, struct err *err)
{
    struct sockaddr_storage ss;
    struct http_listener *l;
    char host[64];
    const char *colon;
    char *end;
    unsigned long port;
    int r;

    if (!s || !addr || s->closing)
        return err_set(err, -EINVAL, "invalid arguments");
    colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
        return err_set(err, -EINVAL, "invalid TCP address '%s' (want IP:PORT)", addr);
    (void)snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port > 65535)
        return err_set(err, -EINVAL, "invalid port in '%s'", addr);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) < 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) < 0)
        return err_set(err, -EINVAL, "invalid IP address in '%s'", addr);
    l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, -ENOMEM, "out of memory");
    l->srv = s;
    l->tcp = true;
    l->tls = tls;
    l->require_cert = require_client_cert;
    r = uv_tcp_init(s->loop, &l->h.tcp);
    if (r < 0) {
        free(l);
        return err_set(err, r, "tcp: %s", uv_strerror(r));
    }
    l->h.tcp.data = l;
    s->open++;
    r = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen(&l->h.stream, LISTEN_BACKLOG, server_on_connection);
    if (r < 0) {
        err_set(err, r, "listen on %s: %s", addr, uv_strerror(r));
        uv_close(&l->h.handle, listener_close_cb);
        return r;
    }
    l->next = s->listeners;
    s->listeners = l;
    log_debug("listening on tcp %s%s", addr, tls ? " (TLS)" : "");
    return 0;
}

void http_server_close(struct http_server *s)
{
    struct http_listener *l;
    struct http_conn *c;

    if (!s || s->closing)
        return;
    s->closing = true;
    while ((l = s->listeners)) {
        s->listeners = l->next;
        if (l->path)
            (void)unlink(l->path);
        uv_close(&l->h.handle, listener_close_cb);
    }
    /* connections leave the list only in their close callback */
    for (c = s->conns; c; c = c->next)
        conn_close(c);
    server_maybe_free(s);
}
