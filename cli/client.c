/*
 * cli/client.c - a small blocking HTTP/1.1 client over a Unix socket.
 *
 * One request per connection (the daemon may keep it alive; we simply close
 * it). Responses are parsed with libhttp-parser: Content-Length, chunked and
 * read-until-close bodies, and 101 upgrades, after which the socket carries a
 * raw stream (the bytes that came with the headers are kept in `pending`).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/macros.h"

#include "cli/cli.h"

struct cli_conn {
    int fd;
    struct cli_client *cli;
    http_parser parser;
    http_parser_settings settings;
    bool is_head;
    struct cli_resp *resp;
    struct buf hname, hval;
    bool in_value;
    size_t header_bytes;
    bool headers_done, message_done, upgraded, eof;
    struct buf pending;
    cli_body_cb body_cb;
    void *body_ctx;
    int cb_err;
    bool too_big;
};

int cli_client_init(struct cli_client *cli, const char *host, struct err *err)
{
    const char *path;

    memset(cli, 0, sizeof(*cli));
    if (!host || !*host)
        host = CLI_DEFAULT_HOST;
    if (strncmp(host, "tcp://", 6) == 0) {
        const char *a = host + 6;
        size_t l = strcspn(a, "/");

        if (l == 0 || !strchr(a, ':'))
            return err_set(err, -EINVAL, "invalid host '%s': expected tcp://host:port", host);
        cli->host = strdup(host);
        cli->tcp_addr = strndup(a, l);
        if (!cli->host || !cli->tcp_addr) {
            cli_client_release(cli);
            return err_set(err, -ENOMEM, "out of memory");
        }
        return 0;
    }
    if (strncmp(host, "unix://", 7) == 0)
        path = host + 7;
    else if (host[0] == '/')
        path = host;
    else if (strstr(host, "://"))
        return err_set(err, -EINVAL, "unsupported host '%s': only unix:// and tcp:// are supported",
                       host);
    else
        return err_set(err, -EINVAL, "invalid host '%s': expected unix:///path", host);
    if (!*path)
        return err_set(err, -EINVAL, "invalid host '%s': empty socket path", host);
    if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
        return err_set(err, -ENAMETOOLONG, "socket path too long: '%s'", path);
    if (host[0] == '/') {
        if (asprintf(&cli->host, "unix://%s", host) < 0)
            cli->host = NULL;
    } else {
        cli->host = strdup(host);
    }
    cli->sock_path = strdup(path);
    if (!cli->host || !cli->sock_path) {
        cli_client_release(cli);
        return err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

void cli_client_release(struct cli_client *cli)
{
    free(cli->host);
    free(cli->sock_path);
    free(cli->tcp_addr);
    cli->host = cli->sock_path = cli->tcp_addr = NULL;
}

void cli_resp_init(struct cli_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body);
}

void cli_resp_release(struct cli_resp *resp)
{
    buf_release(&resp->body);
}

/* ---- parser callbacks ---------------------------------------------------- */

static void conn_store_header(struct cli_conn *c)
{
    struct cli_resp *r = c->resp;

    if (!c->hname.len)
        return;
    if (r && strcasecmp(c->hname.data, "Content-Type") == 0)
        (void)snprintf(r->content_type, sizeof(r->content_type), "%s",
                       c->hval.data ? c->hval.data : "");
    else if (r && strcasecmp(c->hname.data, "Api-Version") == 0)
        (void)snprintf(r->api_version, sizeof(r->api_version), "%s",
                       c->hval.data ? c->hval.data : "");
    c->hname.len = 0;
    c->hval.len = 0;
    if (c->hname.data)
        c->hname.data[0] = '\0';
    if (c->hval.data)
        c->hval.data[0] = '\0';
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct cli_conn *c = p->data;

    c->header_bytes += len;
    if (c->header_bytes > CLI_MAX_HEADER_SIZE)
        return -1;
    if (c->in_value) {
        conn_store_header(c);
        c->in_value = false;
    }
    return buf_append(&c->hname, at, len) < 0 ? -1 : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct cli_conn *c = p->data;

    c->header_bytes += len;
    if (c->header_bytes > CLI_MAX_HEADER_SIZE)
        return -1;
    c->in_value = true;
    return buf_append(&c->hval, at, len) < 0 ? -1 : 0;
}

static int on_headers_complete(http_parser *p)
{
    struct cli_conn *c = p->data;

    if (c->in_value)
        conn_store_header(c);
    c->in_value = false;
    c->headers_done = true;
    if (c->resp)
        c->resp->status = (int)p->status_code;
    if (p->status_code == 101) {
        c->upgraded = true;
        return 2; /* upgrade: no body, the rest is the raw stream */
    }
    if (c->is_head || p->status_code == 204 || p->status_code == 304)
        return 1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct cli_conn *c = p->data;
    int r;

    if (c->body_cb) {
        r = c->body_cb(c->body_ctx, at, len);
        if (r < 0) {
            c->cb_err = r;
            return -1;
        }
        return 0;
    }
    if (c->pending.len + len > CLI_MAX_RESP_BODY) {
        c->too_big = true;
        return -1;
    }
    return buf_append(&c->pending, at, len) < 0 ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    struct cli_conn *c = p->data;

    c->message_done = true;
    return 0;
}

/* ---- connection ------------------------------------------------------------ */

static char *lower_first(const char *s, char *out, size_t outlen)
{
    (void)snprintf(out, outlen, "%s", s);
    if (out[0])
        out[0] = (char)tolower((unsigned char)out[0]);
    return out;
}

/* Report a failed connect; always returns a negative code. */
static int connect_error(struct cli_client *cli, int e, struct err *err)
{
    char msg[128];

    if (e <= 0)
        e = EIO;
    cli->connect_failed = true;
    if (e == EACCES || e == EPERM)
        (void)err_set(err, -e,
                      "permission denied while connecting to the shoal daemon at %s: "
                      "are you root or in the shoal group?",
                      cli->host);
    else
        (void)err_set(err, -e, "cannot connect to the shoal daemon at %s: %s. Is shoald running?",
                      cli->host, lower_first(strerror(e), msg, sizeof(msg)));
    return -e;
}

void cli_client_set_tls(struct cli_client *cli, const struct cli_tls_opts *o)
{
    cli->tls = *o;
}

int cli_conn_open(struct cli_client *cli, struct cli_conn **ret_conn, struct err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cleanup_close int fd = -1;
    struct cli_conn *c;

    if (cli->tcp_addr) {
        struct err e2 = {0};
        int r = cli->tls.enabled ? cli_tls_connect(cli->tcp_addr, &cli->tls, &fd, &e2)
                                 : cli_tcp_connect(cli->tcp_addr, &fd, &e2);
        if (r < 0) {
            if (!e2.msg[0])
                return connect_error(cli, -r, err);
            cli->connect_failed = true;
            (void)err_set(err, r, "error during connect: %s", e2.msg);
            return r;
        }
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return connect_error(cli, errno, err);
        (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cli->sock_path);
        while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            if (errno != EINTR)
                return connect_error(cli, errno, err);
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        (void)err_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    c->fd = TAKE_FD(fd);
    c->cli = cli;
    buf_init(&c->hname);
    buf_init(&c->hval);
    buf_init(&c->pending);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    http_parser_settings_init(&c->settings);
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_headers_complete = on_headers_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    *ret_conn = c;
    return 0;
}

struct cli_conn *cli_conn_free(struct cli_conn *c)
{
    if (!c)
        return NULL;
    if (c->fd >= 0)
        (void)close(c->fd);
    buf_release(&c->hname);
    buf_release(&c->hval);
    buf_release(&c->pending);
    free(c);
    return NULL;
}

void cli_conn_freep(struct cli_conn **c)
{
    *c = cli_conn_free(*c);
}

int cli_conn_fd(const struct cli_conn *c)
{
    return c->fd;
}

struct buf *cli_conn_pending(struct cli_conn *c)
{
    return &c->pending;
}

static int send_all(int fd, const void *data, size_t len, struct err *err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_set(err, -errno, "error during connect: write: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_chunked_fd(int sock, int fd, struct err *err)
{
    char data[64 * 1024];
    char head[32];
    int r;

    for (;;) {
        ssize_t n = read(fd, data, sizeof(data));
        int hl;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_set(err, -errno, "read request body: %s", strerror(errno));
        }
        if (n == 0)
            break;
        hl = snprintf(head, sizeof(head), "%zx\r\n", (size_t)n);
        r = send_all(sock, head, (size_t)hl, err);
        if (r >= 0)
            r = send_all(sock, data, (size_t)n, err);
        if (r >= 0)
            r = send_all(sock, "\r\n", 2, err);
        if (r < 0)
            return r;
    }
    return send_all(sock, "0\r\n\r\n", 5, err);
}

int cli_conn_send(struct cli_conn *c, const struct cli_req *req, struct err *err)
{
    struct buf h;
    int r;
    bool post_like;

    if (!c || !req || !req->method || !req->path)
        return err_set(err, -EINVAL, "invalid request");
    buf_init(&h);
    c->is_head = strcmp(req->method, "HEAD") == 0;
    r = buf_printf(&h, "%s %s%s%s%s HTTP/1.1\r\nHost: shoal\r\nUser-Agent: shoal/%s (linux)\r\n",
                   req->method, req->unversioned ? "" : "/v" CLI_API_VERSION, req->path,
                   req->query && *req->query ? "?" : "", req->query ? req->query : "", CLI_VERSION);
    if (r >= 0 && req->content_type)
        r = buf_printf(&h, "Content-Type: %s\r\n", req->content_type);
    if (r >= 0 && req->upgrade)
        r = buf_puts(&h, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
    post_like = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0;
    if (r >= 0) {
        if (req->body_fd >= 0)
            r = buf_puts(&h, "Transfer-Encoding: chunked\r\n");
        else if (req->body_len > 0 || post_like)
            r = buf_printf(&h, "Content-Length: %zu\r\n", req->body_len);
    }
    if (r >= 0)
        r = buf_puts(&h, "\r\n");
    if (r < 0) {
        buf_release(&h);
        return err_set(err, -ENOMEM, "out of memory");
    }
    r = send_all(c->fd, h.data, h.len, err);
    buf_release(&h);
    if (r < 0)
        return r;
    if (req->body_fd >= 0)
        return send_chunked_fd(c->fd, req->body_fd, err);
    if (req->body_len > 0)
        return send_all(c->fd, req->body, req->body_len, err);
    return 0;
}

/* Read once from the socket and feed the parser. */
static int conn_pump(struct cli_conn *c, struct err *err)
{
    char data[64 * 1024];
    ssize_t n;
    size_t parsed;

    do
        n = read(c->fd, data, sizeof(data));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return err_set(err, -errno, "error reading response: %s", strerror(errno));
    if (n == 0)
        c->eof = true;
    parsed = http_parser_execute(&c->parser, &c->settings, data, (size_t)n);
    if (c->cb_err < 0)
        return err_set(err, c->cb_err, "writing output: %s", strerror(-c->cb_err));
    if (c->too_big)
        return err_set(err, -EFBIG, "response body too large");
    if (c->upgraded) {
        if (parsed < (size_t)n && buf_append(&c->pending, data + parsed, (size_t)n - parsed) < 0)
            return err_set(err, -ENOMEM, "out of memory");
        return 0;
    }
    if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK && !c->message_done)
        return err_set(err, -EPROTO, "invalid response from daemon: %s",
                       http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
    if (c->eof && !c->message_done)
        return err_set(err, -EPIPE, "unexpected EOF from daemon");
    return 0;
}

int cli_conn_read_head(struct cli_conn *c, struct cli_resp *resp, struct err *err)
{
    int r;

    if (!c || !resp)
        return err_set(err, -EINVAL, "invalid connection");
    c->resp = resp;
    while (!c->headers_done) {
        r = conn_pump(c, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int append_body(void *ctx, const char *data, size_t len)
{
    struct buf *b = ctx;

    if (b->len + len > CLI_MAX_RESP_BODY)
        return -EFBIG;
    return buf_append(b, data, len);
}

int cli_conn_read_body(struct cli_conn *c, cli_body_cb cb, void *ctx, struct err *err)
{
    int r;

    if (!c || !c->resp)
        return err_set(err, -EINVAL, "invalid connection");
    if (c->upgraded)
        return 0;
    if (!cb) {
        cb = append_body;
        ctx = &c->resp->body;
    }
    if (c->pending.len) {
        r = cb(ctx, c->pending.data, c->pending.len);
        buf_consume(&c->pending, c->pending.len);
        if (r < 0)
            return err_set(err, r, "writing output: %s", strerror(-r));
    }
    c->body_cb = cb;
    c->body_ctx = ctx;
    while (!c->message_done) {
        r = conn_pump(c, err);
        if (r < 0)
            return r;
    }
    c->body_cb = NULL;
    return 0;
}

int cli_resp_error(const struct cli_resp *resp, const struct cli_req *req, struct err *err)
{
    int code;
    const char *body = resp->body.data ? resp->body.data : "";

    switch (resp->status) {
    case 400:
        code = -EINVAL;
        break;
    case 403:
        code = -EPERM;
        break;
    case 404:
        code = -ENOENT;
        break;
    case 409:
        code = -EEXIST;
        break;
    default:
        code = -EIO;
        break;
    }
    if (strcmp(resp->content_type, "application/json") == 0 && resp->body.len) {
        json_t *j = json_loadb(body, resp->body.len, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "message"));

        if (msg) {
            err_set(err, code, "Error response from daemon: %s", msg);
            json_decref(j);
            return code;
        }
        json_decref(j);
    }
    if (resp->body.len == 0)
        return err_set(err, code,
                       "request returned %d %s for API route and version /v%s%s, check if the "
                       "server supports the requested API version",
                       resp->status, http_status_str((enum http_status)resp->status),
                       CLI_API_VERSION, req ? req->path : "");
    {
        size_t n = resp->body.len;

        while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r'))
            n--;
        return err_set(err, code, "Error response from daemon: %.*s", (int)n, body);
    }
}

int cli_request(struct cli_client *cli, const struct cli_req *req, struct cli_resp *resp,
                struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    int r;

    r = cli_conn_open(cli, &c, err);
    if (r < 0)
        return r;
    r = cli_conn_send(c, req, err);
    if (r < 0)
        return r;
    r = cli_conn_read_head(c, resp, err);
    if (r < 0)
        return r;
    return cli_conn_read_body(c, NULL, NULL, err);
}

int cli_call(struct cli_client *cli, const char *method, const char *path, const char *query,
             json_t *body_json, json_t **ret_json, struct err *err)
{
    struct cli_req req = {.method = method, .path = path, .query = query, .body_fd = -1};
    struct cli_resp resp;
    cleanup_free char *body = NULL;
    int r;

    if (body_json) {
        body = json_dumps(body_json, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!body)
            return err_set(err, -ENOMEM, "out of memory");
        req.body = body;
        req.body_len = strlen(body);
        req.content_type = "application/json";
    }
    cli_resp_init(&resp);
    r = cli_request(cli, &req, &resp, err);
    if (r >= 0 && resp.status >= 400)
        r = cli_resp_error(&resp, &req, err);
    if (r >= 0 && ret_json) {
        json_error_t jerr;

        *ret_json =
            json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, JSON_DECODE_ANY, &jerr);
        if (!*ret_json)
            r = err_set(err, -EPROTO, "invalid JSON from daemon: %s", jerr.text);
    }
    cli_resp_release(&resp);
    return r;
}

int cli_call_named(struct cli_client *cli, const char *method, const char *prefix, const char *name,
                   const char *query, json_t *body_json, json_t **ret_json, struct err *err)
{
    struct buf p;
    int r;

    buf_init(&p);
    r = buf_puts(&p, prefix);
    if (r >= 0)
        r = cli_path_escape(&p, name);
    if (r < 0)
        r = err_set(err, -ENOMEM, "out of memory");
    else
        r = cli_call(cli, method, p.data, query, body_json, ret_json, err);
    buf_release(&p);
    return r;
}

int cli_stream(struct cli_client *cli, const struct cli_req *req, cli_body_cb cb, void *cb_ctx,
               struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    struct cli_resp resp;
    int r;

    cli_resp_init(&resp);
    r = cli_conn_open(cli, &c, err);
    if (r >= 0)
        r = cli_conn_send(c, req, err);
    if (r >= 0)
        r = cli_conn_read_head(c, &resp, err);
    if (r >= 0 && resp.status >= 400) {
        r = cli_conn_read_body(c, NULL, NULL, err);
        if (r >= 0)
            r = cli_resp_error(&resp, req, err);
    } else if (r >= 0) {
        r = cli_conn_read_body(c, cb, cb_ctx, err);
    }
    cli_resp_release(&resp);
    return r;
}
