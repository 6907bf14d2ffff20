/*
 * node/api_exec.c - docker exec and docker top:
 *   POST /containers/{id}/exec    create (201 {"Id"})
 *   POST /exec/{id}/start         hijacked stream (or Detach: 200 once started)
 *   POST /exec/{id}/resize        ?h=&w=
 *   GET  /exec/{id}/json          inspect
 *   GET  /containers/{id}/top     ps -ef table
 *
 * The start stream is stdcopy-framed without a TTY and raw with one; a client
 * half-close closes the exec's stdin while output keeps flowing; the stream
 * ends after the exec's last output. A start failure is written into the
 * stream as text followed by "\r\n", as dockerd does; the exit code (126)
 * is then read by the client from GET /exec/{id}/json.
 */
#define LOG_MODULE "api"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"

#include "node/detach.h"
#include "node/node.h"
#include "runtime/exec.h"

struct exec_stream {
    struct http_req *req;
    struct rt_exec *x;
    bool tty, want_out, want_err, want_in, detach;
    struct node_detach keys;
};

static void stream_free(struct exec_stream *s)
{
    if (s->x)
        rt_exec_detach(s->x);
    s->req->data = NULL;
    s->req->on_abort = NULL;
    http_req_unref(s->req);
    free(s);
}

static void write_frame(struct exec_stream *s, int stream, const char *data, size_t len)
{
    unsigned char hdr[8] = {0};

    if (!s->tty) {
        hdr[0] = (unsigned char)stream;
        hdr[4] = (unsigned char)(len >> 24);
        hdr[5] = (unsigned char)(len >> 16);
        hdr[6] = (unsigned char)(len >> 8);
        hdr[7] = (unsigned char)len;
        http_raw_write(s->req, hdr, sizeof(hdr));
    }
    http_raw_write(s->req, data, len);
}

static void on_output(void *arg, enum rt_stream st, const char *data, size_t len)
{
    struct exec_stream *s = arg;

    if ((st == RT_STDOUT && !s->want_out) || (st == RT_STDERR && !s->want_err))
        return;
    write_frame(s, st == RT_STDOUT ? 1 : 2, data, len);
}

static void on_error(void *arg, const char *msg)
{
    struct exec_stream *s = arg;
    char line[1300];
    int n = snprintf(line, sizeof(line), "%s\r\n", msg);

    if (n > 0)
        write_frame(s, 1, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void on_exit_cb(void *arg, int code)
{
    struct exec_stream *s = arg;

    (void)code;
    s->x = NULL; /* finished: nothing to detach from */
    http_raw_close(s->req);
    stream_free(s);
}

static void fwd_stdin(void *arg, const char *data, size_t len)
{
    struct exec_stream *s = arg;

    (void)rt_exec_stdin(s->x, data, len);
}

static void on_client(struct http_req *req, const char *data, size_t len, bool eof)
{
    struct exec_stream *s = req->data;

    if (!s || !s->want_in || !s->x)
        return;
    if (len > 0 && s->tty) {
        if (node_detach_feed(&s->keys, data, len, fwd_stdin, s)) {
            /* detached: the exec keeps running */
            http_raw_close(s->req);
            stream_free(s);
            return;
        }
    } else if (len > 0) {
        (void)rt_exec_stdin(s->x, data, len);
    }
    if (eof)
        (void)rt_exec_stdin_eof(s->x);
}

static void on_abort(struct http_req *req)
{
    struct exec_stream *s = req->data;

    if (s)
        stream_free(s);
}

/* ---- detached start: answer once the process runs (or failed) ------------------ */

static void det_started(void *arg, int pid)
{
    struct exec_stream *s = arg;

    (void)pid;
    http_reply(s->req, 200, NULL, NULL, 0);
    stream_free(s); /* detaches from the exec: it runs on alone */
}

static void det_error(void *arg, const char *msg)
{
    struct exec_stream *s = arg;

    if (!s->req->responded)
        http_reply_error(s->req,
                         strstr(msg, "not found") || strstr(msg, "permission denied") ? 400 : 500,
                         "%s", msg);
}

static void det_exit(void *arg, int code)
{
    struct exec_stream *s = arg;

    (void)code;
    if (!s->req->responded)
        http_reply(s->req, 200, NULL, NULL, 0);
    s->x = NULL;
    stream_free(s);
}

/* ---- routes ------------------------------------------------------------------- */

static json_t *load_body(struct http_req *req, bool required)
{
    json_error_t jerr;
    json_t *body;

    if (req->body.len == 0 && !required)
        return json_object();
    body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        http_reply_error(req, 400, "invalid JSON body: %s", jerr.text);
        return NULL;
    }
    return body;
}

static void exec_create(struct http_req *req, const char *ref)
{
    struct err err = {0};
    struct rt_container *c;
    struct rt_exec *x;
    json_t *body;
    const char *keys;
    struct node_detach d;

    if (rt_container_find(node_current->rt, ref, &c, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        return;
    }
    body = load_body(req, true);
    if (!body)
        return;
    keys = json_string_value(json_object_get(body, "DetachKeys"));
    if (keys && *keys && node_detach_parse(keys, &d) < 0) {
        http_reply_error(req, 400, "Invalid detach keys (%s) provided", keys);
        json_decref(body);
        return;
    }
    if (rt_exec_create(c, body, &x, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        json_decref(body);
        return;
    }
    json_decref(body);
    log_debug("exec %.12s created in %.12s", rt_exec_id(x), rt_container_id(c));
    http_reply_json(req, 201, json_pack("{s:s}", "Id", rt_exec_id(x)));
}

static void exec_start(struct http_req *req, struct rt_exec *x)
{
    struct err err = {0};
    struct exec_stream *s;
    json_t *body = load_body(req, false);
    json_t *tty;
    bool detach;
    int r;

    if (!body)
        return;
    detach = json_is_true(json_object_get(body, "Detach"));
    tty = json_object_get(body, "Tty");
    s = calloc(1, sizeof(*s));
    if (!s) {
        json_decref(body);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    s->x = x;
    s->tty = json_is_boolean(tty) ? json_is_true(tty) : rt_exec_tty(x);
    json_decref(body);
    s->want_out = rt_exec_attach_stdout(x);
    s->want_err = rt_exec_attach_stderr(x);
    s->want_in = rt_exec_attach_stdin(x);
    s->detach = detach;
    (void)node_detach_parse(rt_exec_detach_keys(x), &s->keys);
    http_req_ref(req);
    s->req = req;
    req->data = s;
    req->on_abort = on_abort;
    if (detach) {
        struct rt_exec_handlers h = {
            .on_started = det_started, .on_error = det_error, .on_exit = det_exit};
        r = rt_exec_start(x, &h, s, &err);
    } else {
        struct rt_exec_handlers h = {
            .on_error = on_error, .on_output = on_output, .on_exit = on_exit_cb};
        r = rt_exec_start(x, &h, s, &err);
        if (r == 0)
            http_hijack(req, on_client);
    }
    if (r < 0) {
        s->x = NULL;
        node_reply_err(req, err.code, err.msg);
        stream_free(s);
    }
}

static void exec_resize(struct http_req *req, struct rt_exec *x)
{
    struct err err = {0};
    const char *h = http_query_get(req, "h"), *w = http_query_get(req, "w");
    char *e1 = NULL, *e2 = NULL;
    long rows = h ? strtol(h, &e1, 10) : -1, cols = w ? strtol(w, &e2, 10) : -1;

    if (!h || !w || *e1 || *e2 || rows < 0 || cols < 0 || rows > 65535 || cols > 65535) {
        http_reply_error(req, 400, "invalid resize parameters: h=%s w=%s", h ? h : "", w ? w : "");
        return;
    }
    if (rt_exec_resize(x, (unsigned)rows, (unsigned)cols, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        return;
    }
    http_reply(req, 200, NULL, NULL, 0);
}

static void container_top(struct http_req *req, const char *ref)
{
    struct err err = {0};
    struct rt_container *c;
    json_t *out;

    if (rt_container_find(node_current->rt, ref, &c, &err) < 0 ||
        rt_container_top(c, &out, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        return;
    }
    http_reply_json(req, 200, out);
}

bool node_api_exec(struct http_req *req, const char *path)
{
    bool post = strcmp(req->method, "POST") == 0;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    char ref[256];
    const char *rest;
    size_t n;

    if (strncmp(path, "/containers/", 12) == 0) {
        const char *p = path + 12;
        n = strcspn(p, "/");
        if (n == 0 || n >= sizeof(ref))
            return false;
        rest = p + n;
        if (!((post && strcmp(rest, "/exec") == 0) || (get && strcmp(rest, "/top") == 0)))
            return false;
        memcpy(ref, p, n);
        ref[n] = '\0';
        if (post)
            exec_create(req, ref);
        else
            container_top(req, ref);
        return true;
    }
    if (strncmp(path, "/exec/", 6) == 0) {
        struct err err = {0};
        struct rt_exec *x;
        const char *p = path + 6;

        n = strcspn(p, "/");
        if (n == 0 || n >= sizeof(ref))
            return false;
        rest = p + n;
        if (!((post && (strcmp(rest, "/start") == 0 || strcmp(rest, "/resize") == 0)) ||
              (get && strcmp(rest, "/json") == 0)))
            return false;
        memcpy(ref, p, n);
        ref[n] = '\0';
        if (rt_exec_find(node_current->rt, ref, &x, &err) < 0) {
            node_reply_err(req, err.code, err.msg);
            return true;
        }
        if (strcmp(rest, "/start") == 0)
            exec_start(req, x);
        else if (strcmp(rest, "/resize") == 0)
            exec_resize(req, x);
        else
            http_reply_json(req, 200, rt_exec_inspect(x));
        return true;
    }
    return false;
}
