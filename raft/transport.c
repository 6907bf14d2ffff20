/*
 * raft/transport.c - libraft's struct raft_uv_transport (0.15 layout) over
 * the cluster port.
 *
 * libraft wants a plain uv stream it can uv_write/uv_read_start/uv_close and
 * later raft_free. TLS cannot live inside such a stream, so each connection
 * is a proxy: socketpair(); one end is a raft_malloc'd uv_pipe_t handed to
 * raft, the other end is pumped to and from the TLS connection here, with
 * back-pressure both ways. EOF or an error on either side closes both, and
 * raft reconnects after its retry delay.
 *
 * Connect: TLS client (our manager certificate) + RAFT hello {our id, our
 * address}; the server must present OU swarm-manager. Accept: the port
 * checked the certificate against the claimed id (verify_raft_peer).
 */
#define LOG_MODULE "raft"
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"

#include "raft/internal.h"

#define HIGH_WATER (4u * 1024 * 1024)
#define LOW_WATER  (1u * 1024 * 1024)

struct link {
    struct link *next, *prev;
};

static void link_init(struct link *l)
{
    l->next = l->prev = l;
}

static void link_add(struct link *head, struct link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void link_del(struct link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    link_init(l);
}

struct tp {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    struct rft_port *port;
    struct tls_ctx *cctx;
    raft_id id;
    char address[RFT_ADDR_MAX];
    raft_uv_accept_cb accept_cb;
    struct link connects;
    struct link proxies;
    uv_timer_t closer;
    bool closing;
    bool closer_done;
    bool released;
    raft_uv_transport_close_cb close_cb;
};

struct conreq {
    struct link link;
    struct tp *tp;
    struct raft_uv_connect *req;
    struct rft_dial *dial;
};

struct proxy {
    struct link link;
    struct tp *tp;
    struct tls_conn *c;
    uv_pipe_t pipe;
    uint64_t inbound_id; /* peer's raft id for accepted connections, else 0 */
    int handles;
    bool closing;
    bool pipe_paused; /* not reading from raft: TLS side is full */
    bool tls_paused;  /* not reading from TLS: raft's side is full */
    char rbuf[64 * 1024];
};

struct pipe_write {
    uv_write_t req;
    struct proxy *px;
    char data[];
};

static void tp_maybe_finish(struct tp *tp);
static void on_tls_read(struct tls_conn *c, const void *data, size_t len, int status);
static int pipe_read_start(struct proxy *px);

static void proxy_freed(struct proxy *px)
{
    struct tp *tp = px->tp;

    link_del(&px->link);
    free(px);
    tp_maybe_finish(tp);
}

static void proxy_conn_closed(struct tls_conn *c)
{
    struct proxy *px = tls_conn_data(c);

    if (--px->handles == 0)
        proxy_freed(px);
}

static void proxy_pipe_closed(uv_handle_t *h)
{
    struct proxy *px = h->data;

    if (--px->handles == 0)
        proxy_freed(px);
}

static void proxy_close(struct proxy *px)
{
    if (px->closing)
        return;
    px->closing = true;
    tls_conn_close(px->c, proxy_conn_closed);
    uv_close((uv_handle_t *)&px->pipe, proxy_pipe_closed);
}

static void on_tls_written(struct tls_conn *c, int status, void *arg)
{
    struct proxy *px = arg;

    (void)c;
    if (status < 0) {
        proxy_close(px);
        return;
    }
    if (px->pipe_paused && !px->closing && tls_conn_pending(px->c) < LOW_WATER) {
        px->pipe_paused = false;
        if (pipe_read_start(px) < 0)
            proxy_close(px);
    }
}

static void pipe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct proxy *px = h->data;

    (void)hint;
    *b = uv_buf_init(px->rbuf, sizeof(px->rbuf));
}

static void on_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct proxy *px = s->data;

    if (n == 0 || px->closing)
        return;
    if (n < 0 || tls_conn_write(px->c, b->base, (size_t)n, on_tls_written, px) < 0) {
        proxy_close(px);
        return;
    }
    if (tls_conn_pending(px->c) > HIGH_WATER) {
        uv_read_stop(s);
        px->pipe_paused = true;
    }
}

static int pipe_read_start(struct proxy *px)
{
    return uv_read_start((uv_stream_t *)&px->pipe, pipe_alloc, on_pipe_read);
}

static void on_pipe_written(uv_write_t *req, int status)
{
    struct pipe_write *w = container_of(req, struct pipe_write, req);
    struct proxy *px = w->px;

    free(w);
    if (status < 0) {
        proxy_close(px);
        return;
    }
    if (px->tls_paused && !px->closing && px->pipe.write_queue_size < LOW_WATER) {
        px->tls_paused = false;
        if (tls_conn_read_start(px->c, on_tls_read) < 0)
            proxy_close(px);
    }
}

static int pipe_write(struct proxy *px, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    struct pipe_write *w;
    int n = 0;

    if (px->pipe.write_queue_size == 0) {
        n = uv_try_write((uv_stream_t *)&px->pipe, &b, 1);
        if (n < 0 && n != UV_EAGAIN)
            return n;
        if (n < 0)
            n = 0;
        if ((size_t)n == len)
            return 0;
    }
    w = malloc(sizeof(*w) + len - (size_t)n);
    if (!w)
        return -ENOMEM;
    w->px = px;
    memcpy(w->data, (const char *)data + n, len - (size_t)n);
    b = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
    n = uv_write(&w->req, (uv_stream_t *)&px->pipe, &b, 1, on_pipe_written);
    if (n < 0) {
        free(w);
        return n;
    }
    return 0;
}

static void on_tls_read(struct tls_conn *c, const void *data, size_t len, int status)
{
    struct proxy *px = tls_conn_data(c);

    if (px->closing)
        return;
    if (status < 0 || pipe_write(px, data, len) < 0) {
        proxy_close(px);
        return;
    }
    if (px->pipe.write_queue_size > HIGH_WATER) {
        tls_conn_read_stop(c);
        px->tls_paused = true;
    }
}

/* Wrap conn in a proxy; *ret_stream is raft's end. Closes conn on failure. */
static int proxy_new(struct tp *tp, struct tls_conn *c, const void *extra, size_t extra_len,
                     uv_stream_t **ret_stream)
{
    struct proxy *px = calloc(1, sizeof(*px));
    uv_pipe_t *rp = raft_malloc(sizeof(*rp));
    int fds[2] = {-1, -1};
    int rc;

    if (!px || !rp) {
        rc = -ENOMEM;
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0) {
        rc = -errno;
        goto fail;
    }
    uv_pipe_init(tp->loop, rp, 0);
    rc = uv_pipe_open(rp, fds[1]);
    if (rc < 0) {
        close(fds[1]);
        fds[1] = -1;
        uv_close((uv_handle_t *)rp, (uv_close_cb)raft_free);
        rp = NULL;
        goto fail;
    }
    fds[1] = -1;
    uv_pipe_init(tp->loop, &px->pipe, 0);
    rc = uv_pipe_open(&px->pipe, fds[0]);
    if (rc < 0) {
        uv_close((uv_handle_t *)&px->pipe, NULL);
        uv_close((uv_handle_t *)rp, (uv_close_cb)raft_free);
        rp = NULL;
        goto fail;
    }
    fds[0] = -1;
    px->tp = tp;
    px->c = c;
    px->pipe.data = px;
    px->handles = 2;
    tls_conn_set_data(c, px);
    link_add(&tp->proxies, &px->link);
    if (pipe_read_start(px) < 0 || tls_conn_read_start(c, on_tls_read) < 0 ||
        (extra_len && pipe_write(px, extra, extra_len) < 0)) {
        proxy_close(px);
        uv_close((uv_handle_t *)rp, (uv_close_cb)raft_free);
        return -EIO;
    }
    *ret_stream = (uv_stream_t *)rp;
    return 0;
fail:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(px);
    raft_free(rp);
    tls_conn_close(c, NULL);
    return rc;
}

/* ---- accept ------------------------------------------------------------ */

static void on_raft_hello(struct rft_port *p, struct tls_conn *c, uint64_t id, const char *address,
                          void *data)
{
    struct tp *tp = data;
    uv_stream_t *stream = NULL;

    (void)p;
    if (tp->closing || !tp->accept_cb) {
        tls_conn_close(c, NULL);
        return;
    }
    if (proxy_new(tp, c, NULL, 0, &stream) < 0)
        return;
    ((struct proxy *)tp->proxies.next)->inbound_id = id; /* proxy_new adds at the head */
    log_debug("raft peer %llu (%s) connected", (unsigned long long)id, address);
    tp->accept_cb(tp->t, id, address, stream);
}

/* ---- the transport interface --------------------------------------------- */

static int tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct tp *tp = t->impl;

    if (strlen(address) >= sizeof(tp->address))
        return RAFT_NAMETOOLONG;
    tp->id = id;
    strcpy(tp->address, address);
    return 0;
}

static int tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct tp *tp = t->impl;

    tp->accept_cb = cb;
    rft__port_set_raft_handler(tp->port, on_raft_hello, tp);
    return 0;
}

static void on_dialed(struct tls_conn *c, const void *extra, size_t extra_len, int status,
                      const struct err *err, void *data)
{
    struct conreq *cr = data;
    struct tp *tp = cr->tp;
    struct raft_uv_connect *req = cr->req;
    uv_stream_t *stream = NULL;

    link_del(&cr->link);
    free(cr);
    if (status == 0 && tp->closing) {
        tls_conn_close(c, NULL);
        status = -ECANCELED;
    }
    if (status == 0 && proxy_new(tp, c, extra, extra_len, &stream) < 0)
        status = -EIO;
    if (status < 0) {
        if (status != -ECANCELED)
            log_debug("raft connect failed: %s", err ? err->msg : "proxy setup");
        req->cb(req, NULL, tp->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    } else {
        req->cb(req, stream, 0);
    }
    tp_maybe_finish(tp);
}

static int tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct tp *tp = t->impl;
    size_t alen = strlen(tp->address);
    uint8_t body[8 + RFT_ADDR_MAX];
    struct conreq *cr;
    struct err err;

    (void)id;
    if (tp->closing)
        return RAFT_CANCELED;
    cr = calloc(1, sizeof(*cr));
    if (!cr)
        return RAFT_NOMEM;
    req->cb = cb;
    cr->tp = tp;
    cr->req = req;
    rft__put_u32be(body, (uint32_t)(tp->id >> 32));
    rft__put_u32be(body + 4, (uint32_t)tp->id);
    memcpy(body + 8, tp->address, alen);
    link_add(&tp->connects, &cr->link);
    if (rft__dial_raw(tp->loop, tp->cctx, address, NULL, RFT_KIND_RAFT, body, 8 + alen, on_dialed,
                      cr, &cr->dial, &err) < 0) {
        link_del(&cr->link);
        free(cr);
        snprintf(t->errmsg, sizeof(t->errmsg), "%.200s", err.msg);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void on_closer_closed(uv_handle_t *h)
{
    struct tp *tp = h->data;

    tp->closer_done = true;
    if (tp->released) {
        free(tp);
        return;
    }
    /* the callback usually releases (frees) tp: touch nothing after it */
    if (tp->closing && tp->close_cb)
        tp->close_cb(tp->t);
}

static void tp_maybe_finish(struct tp *tp)
{
    if (!tp->closing || tp->connects.next != &tp->connects || tp->proxies.next != &tp->proxies)
        return;
    if (!uv_is_closing((uv_handle_t *)&tp->closer))
        uv_close((uv_handle_t *)&tp->closer, on_closer_closed);
}

static void tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct tp *tp = t->impl;
    struct link *l, *next;

    tp->closing = true;
    tp->close_cb = cb;
    tp->accept_cb = NULL;
    rft__port_set_raft_handler(tp->port, NULL, NULL);
    for (l = tp->connects.next; l != &tp->connects; l = next) {
        next = l->next;
        rft_dial_cancel(((struct conreq *)l)->dial);
    }
    for (l = tp->proxies.next; l != &tp->proxies; l = next) {
        next = l->next;
        proxy_close((struct proxy *)l);
    }
    tp_maybe_finish(tp);
}

int rft__transport_init(struct raft_uv_transport *t, uv_loop_t *loop, struct rft_port *port,
                        struct tls_ctx *client_ctx)
{
    struct tp *tp = calloc(1, sizeof(*tp));

    if (!tp)
        return -ENOMEM;
    memset(t, 0, sizeof(*t));
    tp->t = t;
    tp->loop = loop;
    tp->port = port;
    tp->cctx = client_ctx;
    link_init(&tp->connects);
    link_init(&tp->proxies);
    uv_timer_init(loop, &tp->closer);
    tp->closer.data = tp;
    t->impl = tp;
    t->init = tp_init;
    t->listen = tp_listen;
    t->connect = tp_connect;
    t->close = tp_close;
    return 0;
}

bool rft__transport_peer_connected(struct raft_uv_transport *t, uint64_t id)
{
    struct tp *tp = t->impl;
    struct link *l;

    if (!tp)
        return false;
    for (l = tp->proxies.next; l != &tp->proxies; l = l->next) {
        struct proxy *px = (struct proxy *)l;
        if (px->inbound_id == id && !px->closing)
            return true;
    }
    return false;
}

/* After the close callback (or if raft never started). */
void rft__transport_release(struct raft_uv_transport *t)
{
    struct tp *tp = t->impl;

    t->impl = NULL;
    if (!tp)
        return;
    tp->released = true;
    if (tp->closer_done)
        free(tp);
    else if (!uv_is_closing((uv_handle_t *)&tp->closer))
        uv_close((uv_handle_t *)&tp->closer, on_closer_closed);
}
