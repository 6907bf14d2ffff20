/*
 * tests/unit/test_http.c - node/http.c over a real Unix socket.
 *
 * The server runs on a libuv loop in the test's main thread; each test's
 * client runs in a second thread with blocking sockets and records what it
 * saw; the main thread asserts afterwards (cmocka asserts stay on one thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/http.h"

#define NRES        8
#define GATHER_N    200
#define SPOOL_BYTES (10 * 1024 * 1024)

struct fx {
    uv_loop_t loop;
    struct http_server *srv;
    char dir[64];
    char path[128];
    char spool_path[160];
    uv_async_t done;
    pthread_t th;
    void (*client)(struct fx *);
    /* what the client saw */
    char *r[NRES];
    size_t rl[NRES];
    int v[NRES];
};

/* handler-side observations */
static struct {
    int routed;
    int completes;
    int aborts;
    int slow_pending;
    int slow_replied;
    int late_reply_on_aborted;
    int eofs;
    uint64_t spooled;
    size_t spool_mem;
    size_t queued;
    struct http_req *held[GATHER_N];
    int n_held;
    struct http_req *hold; /* /hold stream waiting for /release */
    char got_raw[256];
    size_t got_raw_len;
} st;

static struct fx *F;

/* ------------------------------------------------------------------------
 * Handlers
 */

static void h_abort_count(struct http_req *req)
{
    (void)req;
    st.aborts++;
}

static void h_echo(struct http_req *req)
{
    char *s = NULL;
    int n;

    st.completes++;
    n = asprintf(&s, "%s %s q=%s len=%llu body=%.*s", req->method, req->path,
                 req->query ? req->query : "(null)", (unsigned long long)req->body_received,
                 (int)req->body.len, req->body.data ? req->body.data : "");
    if (n < 0)
        return;
    http_reply(req, 200, "text/plain", s, (size_t)n);
    free(s);
}

static void h_err(struct http_req *req)
{
    http_reply_error(req, 404, "No such container: %s", "ref-missing");
}

static void h_json(struct http_req *req)
{
    http_reply_json(req, 200, json_array());
}

static void h_ping(struct http_req *req)
{
    (void)http_req_add_header(req, "Pragma", "no-cache");
    (void)http_req_add_header(req, "Cache-Control", "no-cache, no-store, must-revalidate");
    http_reply(req, 200, "text/plain; charset=utf-8", "OK", 2);
}

static void h_query(struct http_req *req)
{
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:b, s:b, s:s?}", "path", req->path,
                          "query", req->query, "filters", http_query_get(req, "filters"), "x",
                          http_query_get(req, "x"), "flag", http_query_bool(req, "flag", false),
                          "off", http_query_bool(req, "off", true), "missing",
                          http_query_bool(req, "missing", true), "k", http_query_get(req, "a b"));

    http_reply_json(req, 200, o);
}

struct slow {
    uv_timer_t t;
    struct http_req *req;
};

static void slow_closed(uv_handle_t *h)
{
    free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
    struct slow *s = t->data;

    if (s->req->aborted)
        st.late_reply_on_aborted++;
    else
        st.slow_replied++;
    http_reply(s->req, 200, "text/plain", "late", 4); /* a no-op when aborted */
    http_req_unref(s->req);
    st.slow_pending--;
    uv_close((uv_handle_t *)&s->t, slow_closed);
}

static void slow_abort(struct http_req *req)
{
    struct slow *s = req->data;

    st.aborts++;
    st.slow_pending--;
    uv_timer_stop(&s->t);
    http_req_unref(s->req);
    uv_close((uv_handle_t *)&s->t, slow_closed);
}

static void h_slow(struct http_req *req)
{
    struct slow *s = calloc(1, sizeof(*s));
    const char *ms = http_query_get(req, "ms");

    s->req = req;
    http_req_ref(req);
    uv_timer_init(&F->loop, &s->t);
    s->t.data = s;
    req->data = s;
    st.slow_pending++;
    if (http_query_bool(req, "noabort", false))
        req->on_abort = NULL;
    uv_timer_start(&s->t, slow_fire, ms ? strtoull(ms, NULL, 10) : 200, 0);
}

static void h_spool_done(struct http_req *req)
{
    char msg[64];
    int n;

    close(req->body_fd);
    req->body_fd = -1;
    st.spooled = req->body_received;
    st.spool_mem = req->body.len;
    n = snprintf(msg, sizeof(msg), "spooled %llu", (unsigned long long)req->body_received);
    http_reply(req, 201, "text/plain", msg, (size_t)n);
}

static void h_spool_abort(struct http_req *req)
{
    st.aborts++;
    close(req->body_fd);
    req->body_fd = -1;
}

static void h_stream(struct http_req *req)
{
    http_stream_begin(req, 200, NULL);
    http_stream_write(req, "one", 3);
    http_stream_write(req, "", 0); /* must not end the stream */
    http_stream_write(req, "two", 3);
    http_stream_end(req);
    http_stream_write(req, "late", 4); /* ignored */
}

static void h_hold_abort(struct http_req *req)
{
    st.aborts++;
    if (st.hold == req) {
        st.hold = NULL;
        http_req_unref(req);
    }
}

static void h_hold(struct http_req *req)
{
    http_stream_begin(req, 200, "application/json");
    http_req_ref(req);
    st.hold = req;
}

static void h_release(struct http_req *req)
{
    struct http_req *h = st.hold;

    if (h) {
        st.hold = NULL;
        http_stream_write(h, "{\"StatusCode\":0}\n", 17);
        http_stream_end(h);
        http_req_unref(h);
    }
    http_reply(req, 204, NULL, NULL, 0);
}

static void hj_read(struct http_req *req, const char *data, size_t len, bool eof)
{
    if (eof) {
        st.eofs++;
        http_raw_write(req, "bye", 3);
        http_raw_close(req);
        http_raw_write(req, "after", 5); /* ignored */
        http_req_unref(req);
        return;
    }
    if (st.got_raw_len + len < sizeof(st.got_raw)) {
        memcpy(st.got_raw + st.got_raw_len, data, len);
        st.got_raw_len += len;
    }
    http_raw_write(req, data, len); /* echo */
}

static void hj_abort(struct http_req *req)
{
    st.aborts++;
    http_req_unref(req);
}

static void hj_timer(uv_timer_t *t)
{
    struct http_req *req = t->data;

    http_hijack(req, hj_read);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void h_hijack(struct http_req *req)
{
    http_req_ref(req); /* dropped at EOF or abort */
    req->on_abort = hj_abort;
    if (http_query_bool(req, "delay", false)) {
        uv_timer_t *t = calloc(1, sizeof(*t));

        uv_timer_init(&F->loop, t);
        t->data = req;
        uv_timer_start(t, hj_timer, 100, 0);
        return;
    }
    http_hijack(req, hj_read);
    http_reply(req, 500, NULL, NULL, 0); /* ignored: already answered */
}

static void h_gather(struct http_req *req)
{
    http_req_ref(req);
    st.held[st.n_held++] = req;
    if (st.n_held < GATHER_N)
        return;
    for (int i = 0; i < st.n_held; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "n=%d", i);

        http_reply(st.held[i], 200, "text/plain", msg, (size_t)n);
        http_req_unref(st.held[i]);
    }
}

static void h_big(struct http_req *req)
{
    size_t len = 8 * 1024 * 1024;
    char *b = malloc(len);

    for (size_t i = 0; i < len; i++)
        b[i] = (char)('a' + (i * 7 + i / 4093) % 26); /* where each byte goes shows */
    http_reply(req, 200, "application/octet-stream", b, len);
    free(b);
    /* a Unix socket cannot take 8 MiB at once: the rest waits in the queue */
    st.queued = http_req_write_queue_size(req);
}

static void route(struct http_req *req)
{
    const char *p = req->path;

    st.routed++;
    req->on_abort = h_abort_count;
    if (!strcmp(p, "/echo")) {
        req->on_complete = h_echo;
    } else if (!strcmp(p, "/err")) {
        req->on_complete = h_err;
    } else if (!strcmp(p, "/json")) {
        req->on_complete = h_json;
    } else if (!strcmp(p, "/_ping")) {
        req->on_complete = h_ping;
    } else if (!strncmp(p, "/containers/", 12) || !strcmp(p, "/query")) {
        req->on_complete = h_query;
    } else if (!strcmp(p, "/slow")) {
        req->on_complete = h_slow;
        req->on_abort = slow_abort;
    } else if (!strcmp(p, "/spool")) {
        req->body_fd = open(F->spool_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        req->on_complete = h_spool_done;
        req->on_abort = h_spool_abort;
    } else if (!strcmp(p, "/limit")) {
        req->body_limit = 1000;
        req->on_complete = h_echo;
    } else if (!strcmp(p, "/stream")) {
        req->on_complete = h_stream;
    } else if (!strcmp(p, "/hold")) {
        req->on_complete = h_hold;
        req->on_abort = h_hold_abort;
    } else if (!strcmp(p, "/release")) {
        req->on_complete = h_release;
    } else if (!strcmp(p, "/hijack")) {
        req->on_complete = h_hijack;
    } else if (!strcmp(p, "/gather")) {
        req->on_complete = h_gather;
    } else if (!strcmp(p, "/big")) {
        req->on_complete = h_big;
    } else if (!strcmp(p, "/early")) {
        http_reply_error(req, 400, "refused early");
    }
    /* anything else: no on_complete -> the server answers 404 */
}

/* ------------------------------------------------------------------------
 * Client side (second thread; no cmocka calls here)
 */

struct rd {
    int fd;
    char *b;
    size_t len;
    size_t cap;
};

static int cl_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int cl_send(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cl_sends(int fd, const char *s)
{
    return cl_send(fd, s, strlen(s));
}

static void rd_init(struct rd *r, int fd)
{
    r->fd = fd;
    r->b = NULL;
    r->len = 0;
    r->cap = 0;
}

static void rd_release(struct rd *r)
{
    free(r->b);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* Read more; 0 on EOF, -1 on error/timeout. */
static ssize_t rd_fill(struct rd *r)
{
    ssize_t n;

    if (r->cap - r->len < 65536) {
        r->cap = r->cap ? r->cap * 2 : 131072;
        r->b = realloc(r->b, r->cap + 1);
    }
    do
        n = recv(r->fd, r->b + r->len, r->cap - r->len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        r->len += (size_t)n;
        r->b[r->len] = '\0';
    }
    return n;
}

static bool rd_need(struct rd *r, size_t n)
{
    while (r->len < n)
        if (rd_fill(r) <= 0)
            return false;
    return true;
}

/* Whole raw response (head + framed body), NUL-terminated; NULL on failure. */
static char *rd_response(struct rd *r, bool head_req, size_t *ret_len)
{
    char *end;
    size_t hlen;
    size_t total;
    char *cl;
    int status;
    char *out;

    while (!r->b || !(end = strstr(r->b, "\r\n\r\n")))
        if (rd_fill(r) <= 0)
            return NULL;
    hlen = (size_t)(end - r->b) + 4;
    if (sscanf(r->b, "HTTP/1.%*d %d", &status) != 1)
        return NULL;
    total = hlen;
    r->b[hlen - 2] = '\0'; /* restrict header search */
    cl = strcasestr(r->b, "\r\nContent-Length: ");
    if (head_req || status < 200 || status == 204 || status == 304) {
        /* no body */
    } else if (strcasestr(r->b, "\r\nTransfer-Encoding: chunked")) {
        r->b[hlen - 2] = '\r';
        for (;;) {
            char *crlf;
            unsigned long sz;

            while (!(crlf = memmem(r->b + total, r->len - total, "\r\n", 2)))
                if (rd_fill(r) <= 0)
                    return NULL;
            sz = strtoul(r->b + total, NULL, 16);
            total = (size_t)(crlf - r->b) + 2 + sz + 2;
            if (!rd_need(r, total))
                return NULL;
            if (sz == 0)
                break;
        }
    } else if (cl) {
        total += strtoul(cl + 18, NULL, 10);
    } else {
        while (rd_fill(r) > 0)
            ;
        total = r->len;
    }
    r->b[hlen - 2] = '\r';
    if (!rd_need(r, total))
        return NULL;
    out = malloc(total + 1);
    memcpy(out, r->b, total);
    out[total] = '\0';
    memmove(r->b, r->b + total, r->len - total);
    r->len -= total;
    r->b[r->len] = '\0';
    if (ret_len)
        *ret_len = total;
    return out;
}

/* 1 if the server closed the connection (EOF or reset) with nothing more. */
static int rd_eof(struct rd *r)
{
    if (r->len)
        return 0;
    return rd_fill(r) <= 0 ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * Fixture
 */

static void on_done(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void *client_main(void *arg)
{
    struct fx *f = arg;

    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void run_client(struct fx *f, void (*fn)(struct fx *))
{
    f->client = fn;
    assert_int_equal(pthread_create(&f->th, NULL, client_main, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->th, NULL);
}

static bool (*spin_cond)(void);

static void spin_check(uv_timer_t *t)
{
    if (spin_cond())
        uv_stop(t->loop);
}

static bool spin_until(struct fx *f, bool (*cond)(void), uint64_t timeout_ms)
{
    uv_timer_t t;
    uint64_t deadline = uv_now(&f->loop) + timeout_ms;

    spin_cond = cond;
    uv_timer_init(&f->loop, &t);
    uv_timer_start(&t, spin_check, 1, 1);
    while (!cond() && uv_now(&f->loop) < deadline) {
        uv_run(&f->loop, UV_RUN_ONCE);
        uv_update_time(&f->loop);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return cond();
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err err = {0};

    memset(&st, 0, sizeof(st));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_http.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
    snprintf(f->spool_path, sizeof(f->spool_path), "%s/spool", f->dir);
    uv_loop_init(&f->loop);
    uv_async_init(&f->loop, &f->done, on_done);
    f->srv = http_server_new(&f->loop, route);
    if (!f->srv || http_server_listen_unix(f->srv, f->path, &err) < 0) {
        fprintf(stderr, "listen: %s\n", err.msg);
        return -1;
    }
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    http_server_close(f->srv);
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (int i = 0; i < NRES; i++)
        free(f->r[i]);
    unlink(f->spool_path);
    unlink(f->path);
    snprintf(cmd, sizeof(cmd), "%s", f->dir);
    rmdir(cmd);
    free(f);
    F = NULL;
    return 0;
}

static bool has(const char *resp, const char *needle)
{
    return resp && strstr(resp, needle) != NULL;
}

/* Replace the Date value (29 chars) by X's for exact comparisons. */
static void blank_date(char *s)
{
    char *d = s ? strstr(s, "\r\nDate: ") : NULL;

    if (d && strlen(d + 8) >= 29)
        memset(d + 8, 'X', 29);
}

/* ------------------------------------------------------------------------
 * Tests
 */

static void c_keepalive(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /echo?a=1 HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    cl_sends(r.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    f->r[1] = rd_response(&r, false, &f->rl[1]);
    cl_sends(r.fd, "POST /json HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    f->r[2] = rd_response(&r, false, &f->rl[2]);
    rd_release(&r);
}

static void test_http_keepalive_two_requests(void **state)
{
    struct fx *f = *state;

    run_client(f, c_keepalive);
    assert_non_null(f->r[0]);
    assert_true(has(f->r[0], "HTTP/1.1 200 OK\r\n"));
    assert_true(has(f->r[0], "\r\nApi-Version: 1.41\r\n"));
    assert_true(has(f->r[0], "\r\nDocker-Experimental: false\r\n"));
    assert_true(has(f->r[0], "\r\nOstype: linux\r\n"));
    assert_true(has(f->r[0], "\r\nServer: shoal/0.1.0 (linux)\r\n"));
    assert_true(has(f->r[0], " GMT\r\n"));
    assert_false(has(f->r[0], "Connection: close"));
    assert_true(has(f->r[0], "\r\n\r\nGET /echo q=a=1 len=0 body="));
    assert_non_null(f->r[1]);
    assert_true(has(f->r[1], "\r\n\r\nPOST /echo q=(null) len=5 body=hello"));
    assert_non_null(f->r[2]);
    assert_true(has(f->r[2], "Content-Type: application/json\r\n"));
    assert_true(has(f->r[2], "Content-Length: 3\r\n\r\n[]\n"));
    assert_int_equal(st.aborts, 0);
}

static void c_pipelined(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /slow?ms=50 HTTP/1.1\r\n\r\n"
                   "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /json HTTP/1.1\r\nConnection: close\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    f->r[1] = rd_response(&r, false, &f->rl[1]);
    f->r[2] = rd_response(&r, false, &f->rl[2]);
    f->v[0] = rd_eof(&r);
    rd_release(&r);
}

static void test_http_pipelined(void **state)
{
    struct fx *f = *state;

    run_client(f, c_pipelined);
    assert_true(has(f->r[0], "\r\n\r\nlate"));
    assert_true(has(f->r[1], "\r\n\r\nPOST /echo q=(null) len=3 body=abc"));
    assert_true(has(f->r[2], "Connection: close\r\n"));
    assert_true(has(f->r[2], "\r\n\r\n[]\n"));
    assert_int_equal(f->v[0], 1);
    assert_int_equal(st.slow_replied, 1);
}

static void c_chunked(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                   "Expect: 100-continue\r\n\r\n");
    while (rd_fill(&r) > 0 && !strstr(r.b, "\r\n\r\n"))
        ;
    f->v[0] = r.b && strcmp(r.b, "HTTP/1.1 100 Continue\r\n\r\n") == 0;
    r.len = 0;
    r.b[0] = '\0';
    cl_sends(r.fd, "5\r\nhello\r\n");
    usleep(20000);
    cl_sends(r.fd, "1\r\n \r\n6;ext=1\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    rd_release(&r);
}

static void test_http_chunked_body(void **state)
{
    struct fx *f = *state;

    run_client(f, c_chunked);
    assert_int_equal(f->v[0], 1);
    assert_true(has(f->r[0], "\r\n\r\nPOST /echo q=(null) len=12 body=hello world!"));
}

static void c_spool(struct fx *f)
{
    struct rd r;
    char *chunk = malloc(65536);
    char head[128];

    rd_init(&r, cl_connect(f->path));
    snprintf(head, sizeof(head), "POST /spool HTTP/1.1\r\nContent-Length: %d\r\n\r\n", SPOOL_BYTES);
    cl_sends(r.fd, head);
    for (size_t off = 0; off < SPOOL_BYTES; off += 65536) {
        for (size_t i = 0; i < 65536; i++)
            chunk[i] = (char)((off + i) * 7 % 251);
        if (cl_send(r.fd, chunk, 65536) < 0)
            break;
    }
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    rd_release(&r);
    free(chunk);
}

static void test_http_spool_10mib(void **state)
{
    struct fx *f = *state;
    struct stat sb;
    char *buf = malloc(65536);
    int fd;
    bool same = true;

    run_client(f, c_spool);
    assert_true(has(f->r[0], "HTTP/1.1 201 Created\r\n"));
    assert_true(has(f->r[0], "spooled 10485760"));
    assert_int_equal(st.spooled, SPOOL_BYTES);
    assert_int_equal(st.spool_mem, 0);
    assert_int_equal(stat(f->spool_path, &sb), 0);
    assert_int_equal(sb.st_size, SPOOL_BYTES);
    fd = open(f->spool_path, O_RDONLY);
    assert_true(fd >= 0);
    for (size_t off = 0; off < SPOOL_BYTES && same; off += 65536) {
        assert_int_equal(read(fd, buf, 65536), 65536);
        for (size_t i = 0; i < 65536; i++)
            if (buf[i] != (char)((off + i) * 7 % 251))
                same = false;
    }
    close(fd);
    free(buf);
    assert_true(same);
}

static void c_limit(struct fx *f)
{
    struct rd r;
    char body[1200];

    memset(body, 'z', sizeof(body));
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /limit HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    f->v[0] = rd_eof(&r);
    rd_release(&r);

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /limit HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4b0\r\n");
    cl_send(r.fd, body, sizeof(body));
    cl_sends(r.fd, "\r\n0\r\n\r\n");
    f->r[1] = rd_response(&r, false, &f->rl[1]);
    f->v[1] = rd_eof(&r);
    rd_release(&r);

    /* under the limit still works */
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /limit HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    cl_send(r.fd, body, 1000);
    f->r[2] = rd_response(&r, false, &f->rl[2]);
    rd_release(&r);
}

static void test_http_body_limit(void **state)
{
    struct fx *f = *state;

    run_client(f, c_limit);
    assert_true(has(f->r[0], "HTTP/1.1 413 Request Entity Too Large\r\n"));
    assert_true(has(f->r[0], "Content-Type: application/json\r\n"));
    assert_true(has(f->r[0], "Connection: close\r\n"));
    assert_true(has(f->r[0], "\r\n\r\n{\"message\":\"request body too large\"}\n"));
    assert_int_equal(f->v[0], 1);
    assert_true(has(f->r[1], "HTTP/1.1 413 "));
    assert_int_equal(f->v[1], 1);
    assert_true(has(f->r[2], "HTTP/1.1 200 OK\r\n"));
    assert_true(has(f->r[2], "len=1000 "));
    /* both refused requests had been routed: their handler heard of it */
    assert_int_equal(st.aborts, 2);
    assert_int_equal(st.completes, 1);
}

static void c_header_limits(struct fx *f)
{
    struct rd r;
    size_t big = 70 * 1024;
    char *req = malloc(big + 128);
    int n;

    n = sprintf(req, "GET /echo HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'h', big);
    strcpy(req + n + big, "\r\n\r\n");
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, req);
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    f->v[0] = rd_eof(&r);
    rd_release(&r);

    n = sprintf(req, "GET /echo HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        n += sprintf(req + n, "X-H%d: v\r\n", i);
    strcpy(req + n, "\r\n");
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, req);
    f->r[1] = rd_response(&r, false, &f->rl[1]);
    f->v[1] = rd_eof(&r);
    rd_release(&r);
    free(req);
}

static void test_http_header_too_large(void **state)
{
    struct fx *f = *state;

    run_client(f, c_header_limits);
    assert_true(has(f->r[0], "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert_true(has(f->r[0], "Content-Type: application/json\r\n"));
    assert_true(has(f->r[0], "{\"message\":\"request header section too large\"}\n"));
    assert_int_equal(f->v[0], 1);
    assert_true(has(f->r[1], "HTTP/1.1 431 "));
    assert_true(has(f->r[1], "too many request headers"));
    assert_int_equal(f->v[1], 1);
    assert_int_equal(st.routed, 0);
}

static void c_garbage(struct fx *f)
{
    static const char *reqs[] = {
        "GARBAGE\x01 / HTTP/1.1\r\n\r\n",
        "GET /containers/a%00b/json HTTP/1.1\r\n\r\n",
        "GET /bad%zzescape HTTP/1.1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    };
    struct rd r;

    for (int i = 0; i < 4; i++) {
        rd_init(&r, cl_connect(f->path));
        cl_sends(r.fd, reqs[i]);
        f->r[i] = rd_response(&r, false, &f->rl[i]);
        f->v[i] = rd_eof(&r);
        rd_release(&r);
    }
}

static void test_http_garbage_400(void **state)
{
    struct fx *f = *state;

    run_client(f, c_garbage);
    for (int i = 0; i < 4; i++) {
        assert_true(has(f->r[i], "HTTP/1.1 400 Bad Request\r\n"));
        assert_true(has(f->r[i], "Content-Type: application/json\r\n"));
        assert_true(has(f->r[i], "Connection: close\r\n"));
        assert_true(has(f->r[i], "\r\n\r\n{\"message\":\""));
        assert_int_equal(f->v[i], 1);
    }
    /* only the chunked one got as far as the route, and was aborted */
    assert_int_equal(st.routed, 1);
    assert_int_equal(st.aborts, 1);
    assert_int_equal(st.completes, 0);
}

static void c_query(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /containers/a%2Fb%3Ac+d/json?filters=%7B%22a%22%3A%7B%22b%22%3Atrue%7D%7D"
                   "&x=a+b%20c&flag=1&off=0&a+b=%zz HTTP/1.1\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    cl_sends(r.fd, "GET /query?flag=True&off=false&missing=&x= HTTP/1.1\r\n\r\n");
    f->r[1] = rd_response(&r, false, &f->rl[1]);
    cl_sends(r.fd, "GET http://api.moby.localhost/query HTTP/1.1\r\n\r\n");
    f->r[2] = rd_response(&r, false, &f->rl[2]);
    rd_release(&r);
}

static void test_http_query_decoding(void **state)
{
    struct fx *f = *state;
    json_t *j;
    const char *b;

    run_client(f, c_query);
    assert_non_null(f->r[0]);
    b = strstr(f->r[0], "\r\n\r\n") + 4;
    j = json_loads(b, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/containers/a/b:c+d/json");
    assert_string_equal(json_string_value(json_object_get(j, "query")),
                        "filters=%7B%22a%22%3A%7B%22b%22%3Atrue%7D%7D&x=a+b%20c&flag=1&off=0"
                        "&a+b=%zz");
    assert_string_equal(json_string_value(json_object_get(j, "filters")), "{\"a\":{\"b\":true}}");
    assert_string_equal(json_string_value(json_object_get(j, "x")), "a b c");
    assert_string_equal(json_string_value(json_object_get(j, "k")), "%zz");
    assert_true(json_is_true(json_object_get(j, "flag")));
    assert_true(json_is_false(json_object_get(j, "off")));
    assert_true(json_is_true(json_object_get(j, "missing")));
    json_decref(j);

    b = strstr(f->r[1], "\r\n\r\n") + 4;
    j = json_loads(b, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "flag")));
    assert_true(json_is_false(json_object_get(j, "off")));
    assert_true(json_is_false(json_object_get(j, "missing")));
    assert_string_equal(json_string_value(json_object_get(j, "x")), "");
    json_decref(j);

    b = strstr(f->r[2], "\r\n\r\n") + 4;
    j = json_loads(b, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/query");
    assert_true(json_is_null(json_object_get(j, "query")));
    json_decref(j);
}

static void c_head(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n");
    f->r[0] = rd_response(&r, true, &f->rl[0]);
    cl_sends(r.fd, "HEAD /echo HTTP/1.1\r\n\r\n");
    f->r[1] = rd_response(&r, true, &f->rl[1]);
    cl_sends(r.fd, "GET /_ping HTTP/1.1\r\n\r\n");
    f->r[2] = rd_response(&r, false, &f->rl[2]);
    rd_release(&r);
}

static void test_http_head(void **state)
{
    struct fx *f = *state;
    const char *expect = "HTTP/1.1 200 OK\r\n"
                         "Api-Version: 1.41\r\n"
                         "Cache-Control: no-cache, no-store, must-revalidate\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "Docker-Experimental: false\r\n"
                         "Ostype: linux\r\n"
                         "Pragma: no-cache\r\n"
                         "Server: shoal/0.1.0 (linux)\r\n"
                         "Date: XXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
                         "Content-Length: 2\r\n"
                         "\r\n";
    char *get = NULL;

    run_client(f, c_head);
    blank_date(f->r[0]);
    assert_string_equal(f->r[0], expect);
    /* "HEAD /echo q=(null) len=0 body=" is 31 bytes */
    assert_true(has(f->r[1], "Content-Length: 31\r\n\r\n"));
    assert_true(strlen(f->r[1]) == f->rl[1]);
    blank_date(f->r[2]);
    assert_int_equal(asprintf(&get, "%sOK", expect), (int)strlen(expect) + 2);
    assert_string_equal(f->r[2], get);
    free(get);
}

static void c_errors(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /v1.41/../err HTTP/1.1\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    cl_sends(r.fd, "GET /err HTTP/1.1\r\n\r\n");
    f->r[1] = rd_response(&r, false, &f->rl[1]);
    cl_sends(r.fd, "POST /early HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    f->r[2] = rd_response(&r, false, &f->rl[2]);
    cl_sends(r.fd, "GET /json HTTP/1.0\r\n\r\n");
    f->r[3] = rd_response(&r, false, &f->rl[3]);
    f->v[0] = rd_eof(&r);
    rd_release(&r);
}

static void test_http_error_exact_bytes(void **state)
{
    struct fx *f = *state;

    run_client(f, c_errors);
    blank_date(f->r[0]);
    assert_string_equal(f->r[0], "HTTP/1.1 404 Not Found\r\n"
                                 "Api-Version: 1.41\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Docker-Experimental: false\r\n"
                                 "Ostype: linux\r\n"
                                 "Server: shoal/0.1.0 (linux)\r\n"
                                 "Date: XXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
                                 "Content-Length: 29\r\n"
                                 "\r\n"
                                 "{\"message\":\"page not found\"}\n");
    blank_date(f->r[1]);
    assert_string_equal(f->r[1], "HTTP/1.1 404 Not Found\r\n"
                                 "Api-Version: 1.41\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Docker-Experimental: false\r\n"
                                 "Ostype: linux\r\n"
                                 "Server: shoal/0.1.0 (linux)\r\n"
                                 "Date: XXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
                                 "Content-Length: 45\r\n"
                                 "\r\n"
                                 "{\"message\":\"No such container: ref-missing\"}\n");
    /* answered by the route before the body; the body was discarded and the
     * connection kept: the HTTP/1.0 request after it was served */
    assert_true(has(f->r[2], "HTTP/1.1 400 Bad Request\r\n"));
    assert_true(has(f->r[2], "{\"message\":\"refused early\"}\n"));
    assert_false(has(f->r[2], "Connection: close"));
    assert_true(has(f->r[3], "HTTP/1.1 200 OK\r\n"));
    assert_true(has(f->r[3], "Connection: close\r\n"));
    assert_int_equal(f->v[0], 1);
}

static void c_long_poll_abort(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /slow?ms=200 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    usleep(50000);
    rd_release(&r); /* hang up while the handler waits */

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /slow?ms=200&noabort=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    usleep(50000);
    rd_release(&r);
}

static bool cond_slow_settled(void)
{
    return st.slow_pending == 0 && st.aborts == 1 && st.late_reply_on_aborted == 1;
}

static void test_http_long_poll_abort(void **state)
{
    struct fx *f = *state;

    run_client(f, c_long_poll_abort);
    assert_true(spin_until(f, cond_slow_settled, 3000));
    assert_int_equal(st.slow_replied, 0);
    assert_int_equal(st.aborts, 1);
    assert_int_equal(st.late_reply_on_aborted, 1);
}

static void c_stream(struct fx *f)
{
    struct rd r;
    struct rd r2;
    size_t len;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /stream HTTP/1.1\r\n\r\n");
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    cl_sends(r.fd, "GET /json HTTP/1.1\r\n\r\n");
    f->r[1] = rd_response(&r, false, &f->rl[1]);

    /* /hold sends its headers at once and its body only after /release */
    cl_sends(r.fd, "POST /hold HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    while (!(r.b && strstr(r.b, "\r\n\r\n")))
        if (rd_fill(&r) <= 0)
            break;
    f->v[0] = r.b && strstr(r.b, "Transfer-Encoding: chunked\r\n\r\n") != NULL;
    rd_init(&r2, cl_connect(f->path));
    cl_sends(r2.fd, "POST /release HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    f->r[2] = rd_response(&r2, false, &f->rl[2]);
    rd_release(&r2);
    f->r[3] = rd_response(&r, false, &f->rl[3]);

    /* a stream whose client goes away is aborted */
    cl_sends(r.fd, "POST /hold HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    free(rd_response(&r, true, &len));
    rd_release(&r);
}

static bool cond_one_abort(void)
{
    return st.aborts == 1;
}

static void test_http_stream(void **state)
{
    struct fx *f = *state;

    run_client(f, c_stream);
    assert_true(
        has(f->r[0], "Transfer-Encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"));
    assert_false(has(f->r[0], "Content-Type"));
    assert_true(has(f->r[1], "\r\n\r\n[]\n"));
    assert_int_equal(f->v[0], 1);
    assert_true(has(f->r[2], "HTTP/1.1 204 No Content\r\n"));
    assert_false(has(f->r[2], "Content-Length"));
    assert_true(has(f->r[3], "Content-Type: application/json\r\n"));
    assert_true(has(f->r[3], "\r\n\r\n11\r\n{\"StatusCode\":0}\n\r\n0\r\n\r\n"));
    assert_true(spin_until(f, cond_one_abort, 3000));
    assert_null(st.hold);
}

static const char upgraded[] = "HTTP/1.1 101 UPGRADED\r\n"
                               "Content-Type: application/vnd.docker.raw-stream\r\n"
                               "Connection: Upgrade\r\n"
                               "Upgrade: tcp\r\n"
                               "\r\n";

static void c_hijack(struct fx *f)
{
    struct rd r;
    size_t n = strlen(upgraded);

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /hijack?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n"
                   "Host: api.moby.localhost\r\nContent-Length: 0\r\nConnection: Upgrade\r\n"
                   "Content-Type: text/plain\r\nUpgrade: tcp\r\n\r\nearly");
    rd_need(&r, n + 5);
    f->v[0] = r.len >= n && memcmp(r.b, upgraded, n) == 0;
    f->v[1] = r.len == n + 5 && memcmp(r.b + n, "early", 5) == 0;
    cl_sends(r.fd, "ping");
    rd_need(&r, n + 9);
    f->v[2] = r.len == n + 9 && memcmp(r.b + n + 5, "ping", 4) == 0;
    shutdown(r.fd, SHUT_WR); /* half-close: not a hang-up */
    while (rd_fill(&r) > 0)
        ;
    f->v[3] = r.len == n + 12 && memcmp(r.b + n + 9, "bye", 3) == 0;
    rd_release(&r);

    /* half-close before the (delayed) hijack */
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /hijack?delay=1 HTTP/1.1\r\nContent-Length: 0\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    shutdown(r.fd, SHUT_WR);
    while (rd_fill(&r) > 0)
        ;
    f->v[4] = r.len == n + 3 && memcmp(r.b, upgraded, n) == 0 && memcmp(r.b + n, "bye", 3) == 0;
    rd_release(&r);

    /* full hang-up of a hijacked connection, leaving the echo unread: the
     * server sees a reset, not a half-close */
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /hijack HTTP/1.1\r\nContent-Length: 0\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    rd_need(&r, n);
    cl_sends(r.fd, "x");
    usleep(100000);
    rd_release(&r);
}

static bool cond_hijack_gone(void)
{
    return st.eofs + st.aborts == 3;
}

static void test_http_hijack(void **state)
{
    struct fx *f = *state;

    run_client(f, c_hijack);
    assert_int_equal(f->v[0], 1);
    assert_int_equal(f->v[1], 1);
    assert_int_equal(f->v[2], 1);
    assert_int_equal(f->v[3], 1);
    assert_int_equal(f->v[4], 1);
    assert_true(spin_until(f, cond_hijack_gone, 3000));
    assert_int_equal(st.eofs, 2);
    assert_int_equal(st.aborts, 1);
    assert_memory_equal(st.got_raw, "earlypingx", 10);
}

static void c_many(struct fx *f)
{
    struct rd *r = calloc(GATHER_N, sizeof(*r));
    int ok = 0;

    for (int i = 0; i < GATHER_N; i++) {
        rd_init(&r[i], cl_connect(f->path));
        if (r[i].fd >= 0)
            cl_sends(r[i].fd, "GET /gather HTTP/1.1\r\n\r\n");
    }
    for (int i = 0; i < GATHER_N; i++) {
        size_t len;
        char *resp = r[i].fd >= 0 ? rd_response(&r[i], false, &len) : NULL;

        if (resp && strstr(resp, "HTTP/1.1 200 OK\r\n") && strstr(resp, "\r\n\r\nn="))
            ok++;
        free(resp);
        rd_release(&r[i]);
    }
    free(r);
    f->v[0] = ok;
}

static void test_http_many_connections(void **state)
{
    struct fx *f = *state;

    run_client(f, c_many);
    assert_int_equal(f->v[0], GATHER_N);
    assert_int_equal(st.n_held, GATHER_N);
}

/* A response the socket takes only in part (written in place up to what
 * fits, the rest queued), and a pipelined one after it: both arrive whole
 * and in order, the second not jumping the first's queued tail. */
static void c_big_then_small(struct fx *f)
{
    struct rd r;
    size_t len;
    char *b, *body;
    size_t n = 8 * 1024 * 1024;
    bool ok;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /big HTTP/1.1\r\n\r\nGET /echo?after=big HTTP/1.1\r\n\r\n");
    usleep(50000); /* let the server fill the socket first */
    b = rd_response(&r, false, &len);
    body = b ? strstr(b, "\r\n\r\n") : NULL;
    ok = body && len == (size_t)(body + 4 - b) + n;
    for (size_t i = 0; ok && i < n; i++)
        ok = body[4 + i] == (char)('a' + (i * 7 + i / 4093) % 26);
    f->v[0] = ok;
    free(b);
    f->r[0] = rd_response(&r, false, &f->rl[0]);
    rd_release(&r);
}

static void test_http_partial_write_then_pipelined(void **state)
{
    struct fx *f = *state;

    run_client(f, c_big_then_small);
    assert_int_equal(f->v[0], 1);
    assert_true(st.queued > 0);
    assert_true(has(f->r[0], "\r\n\r\nGET /echo q=after=big"));
}

static void c_mid_body(struct fx *f)
{
    struct rd r;
    char body[1000];

    memset(body, 'q', sizeof(body));
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    cl_send(r.fd, body, sizeof(body));
    rd_release(&r);

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /spool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n");
    cl_send(r.fd, body, sizeof(body));
    rd_release(&r);

    /* mid-header */
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /echo HTTP/1.1\r\nHost: x");
    rd_release(&r);

    /* mid-response: 8 MiB reply, read a little, hang up */
    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "GET /big HTTP/1.1\r\n\r\n");
    rd_fill(&r);
    rd_release(&r);
}

static bool cond_two_aborts(void)
{
    return st.aborts == 2;
}

static void test_http_disconnect_mid_request(void **state)
{
    struct fx *f = *state;

    run_client(f, c_mid_body);
    assert_true(spin_until(f, cond_two_aborts, 3000));
    assert_int_equal(st.completes, 0);
    assert_true(st.queued > 0);
    spin_until(f, cond_two_aborts, 50);
    assert_int_equal(st.aborts, 2);
}

static void c_close_pending(struct fx *f)
{
    struct rd r;

    rd_init(&r, cl_connect(f->path));
    cl_sends(r.fd, "POST /slow?ms=5000 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    f->v[0] = rd_eof(&r);
    rd_release(&r);
}

static void *close_pending_thread(void *arg)
{
    c_close_pending(arg);
    return NULL;
}

static bool cond_slow_pending(void)
{
    return st.slow_pending == 1;
}

static void test_http_server_close_aborts(void **state)
{
    struct fx *f = *state;
    pthread_t th;

    assert_int_equal(pthread_create(&th, NULL, close_pending_thread, f), 0);
    assert_true(spin_until(f, cond_slow_pending, 3000));
    http_server_close(f->srv);
    f->srv = NULL;
    assert_int_equal(st.aborts, 1);
    assert_int_equal(st.slow_pending, 0);
    spin_until(f, cond_one_abort, 100);
    pthread_join(th, NULL);
    assert_int_equal(f->v[0], 1);
    assert_int_equal(access(f->path, F_OK), -1);
}

static void test_http_listen_replaces_stale_socket(void **state)
{
    struct fx *f = *state;
    struct http_server *s2 = http_server_new(&f->loop, route);
    struct err err = {0};
    struct stat sb;
    char other[192];
    int fd;

    /* the fixture's socket file exists: a second server replaces it */
    assert_int_equal(http_server_listen_unix(s2, f->path, &err), 0);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0660);
    /* a regular file is not replaced */
    snprintf(other, sizeof(other), "%s/file", f->dir);
    fd = open(other, O_CREAT | O_WRONLY, 0600);
    close(fd);
    assert_int_equal(http_server_listen_unix(s2, other, &err), -EEXIST);
    unlink(other);
    http_server_close(s2);
    http_server_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_keepalive_two_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_spool_10mib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_header_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_garbage_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_query_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_error_exact_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_long_poll_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_hijack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_partial_write_then_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_many_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_disconnect_mid_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_close_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_listen_replaces_stale_socket, setup, teardown),
    };

    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
