/*
 * raft/port.c - the cluster port: one TLS listener whose connections start
 * with a hello naming their kind (see rft.h), framed channels, and the
 * client side (dial).
 */
#define LOG_MODULE "port"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"

#include "raft/internal.h"

#define HELLO_TIMEOUT_MS 10000
#define DIAL_TIMEOUT_MS  5000
#define STATUS_OK        0
#define STATUS_REFUSED   1

void rft__put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t rft__get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64be(const uint8_t *p)
{
    return (uint64_t)rft__get_u32be(p) << 32 | rft__get_u32be(p + 4);
}

/* ---- channels --------------------------------------------------------- */

struct rft_chan {
    struct tls_conn *c;
    struct buf rx;
    size_t max;
    rft_chan_msg_cb msg_cb;
    rft_chan_close_cb close_cb;
    void *data;
    int status; /* reported to close_cb */
    bool closing;
};

static void chan_conn_closed(struct tls_conn *c)
{
    struct rft_chan *ch = tls_conn_data(c);

    if (ch->close_cb)
        ch->close_cb(ch, ch->status);
    buf_release(&ch->rx);
    free(ch);
}

static void chan_fail(struct rft_chan *ch, int status)
{
    if (ch->closing)
        return;
    ch->closing = true;
    ch->status = status;
    tls_conn_close(ch->c, chan_conn_closed);
}

/* Deliver every complete frame in rx. */
static void chan_parse(struct rft_chan *ch)
{
    size_t off = 0;

    while (!ch->closing && ch->msg_cb && ch->rx.len - off >= 4) {
        uint32_t n = rft__get_u32be((const uint8_t *)ch->rx.data + off);
        if (n > ch->max) {
            log_debug("frame of %u bytes over the limit of %zu, closing", n, ch->max);
            chan_fail(ch, -EMSGSIZE);
            break;
        }
        if (ch->rx.len - off - 4 < n)
            break;
        ch->msg_cb(ch, ch->rx.data + off + 4, n);
        off += 4 + (size_t)n;
    }
    if (off)
        buf_consume(&ch->rx, off);
}

static void chan_on_read(struct tls_conn *c, const void *data, size_t len, int status)
{
    struct rft_chan *ch = tls_conn_data(c);

    if (ch->closing)
        return;
    if (status < 0) {
        chan_fail(ch, status);
        return;
    }
    if (buf_append(&ch->rx, data, len) < 0) {
        chan_fail(ch, -ENOMEM);
        return;
    }
    chan_parse(ch);
}

static struct rft_chan *chan_new(struct tls_conn *c, size_t max, const void *extra, size_t n)
{
    struct rft_chan *ch = calloc(1, sizeof(*ch));

    if (!ch)
        return NULL;
    buf_init(&ch->rx);
    if (n && buf_append(&ch->rx, extra, n) < 0) {
        free(ch);
        return NULL;
    }
    ch->c = c;
    ch->max = max;
    tls_conn_set_data(c, ch);
    return ch;
}

int rft_chan_start(struct rft_chan *ch, rft_chan_msg_cb msg_cb, rft_chan_close_cb close_cb,
                   void *data)
{
    int rc;

    ch->msg_cb = msg_cb;
    ch->close_cb = close_cb;
    ch->data = data;
    if (ch->closing)
        return -ENOTCONN;
    rc = tls_conn_read_start(ch->c, chan_on_read);
    if (rc < 0) {
        chan_fail(ch, rc);
        return rc;
    }
    chan_parse(ch); /* frames that arrived with the hello reply */
    return 0;
}

void *rft_chan_data(const struct rft_chan *ch)
{
    return ch->data;
}

const struct tls_peer *rft_chan_peer(const struct rft_chan *ch)
{
    return tls_conn_peer(ch->c);
}

int rft_chan_peer_root_pem(const struct rft_chan *ch, char **ret_pem)
{
    return tls_conn_peer_root_pem(ch->c, ret_pem);
}

void rft_chan_set_max_frame(struct rft_chan *ch, size_t max)
{
    ch->max = max;
}

int rft_chan_send(struct rft_chan *ch, const void *data, size_t len)
{
    uint8_t small[4096];
    uint8_t *b = small;
    int rc;

    if (ch->closing)
        return -ENOTCONN;
    if (len > ch->max || len > UINT32_MAX)
        return -EMSGSIZE;
    if (len + 4 > sizeof(small)) {
        b = malloc(len + 4);
        if (!b)
            return -ENOMEM;
    }
    rft__put_u32be(b, (uint32_t)len);
    if (len)
        memcpy(b + 4, data, len);
    rc = tls_conn_write(ch->c, b, len + 4, NULL, NULL);
    if (b != small)
        free(b);
    return rc;
}

size_t rft_chan_pending(const struct rft_chan *ch)
{
    return tls_conn_pending(ch->c);
}

void rft_chan_close(struct rft_chan *ch)
{
    chan_fail(ch, 0);
}

/* ---- listener ---------------------------------------------------------- */

struct handler {
    rft_port_handler fn;
    void *data;
};

struct pending {
    struct pending *next, *prev;
    struct rft_port *p;
    struct tls_conn *c;
    struct buf rx;
    uint64_t started;
    bool done; /* refused or closing */
};

struct rft_port {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    struct tls_ctx *srv;
    struct rft_port_ops ops;
    struct handler handlers[RFT_KIND_SESSION + 1];
    rft__raft_handler raft_fn;
    void *raft_data;
    size_t max_frame;
    struct pending head; /* circular list of connections before hand-off */
    int n_pending;
    int open_handles;
    bool closing;
    void (*close_cb)(void *);
    void *close_data;
    struct rft_port_stats stats;
    char address[RFT_ADDR_MAX];
};

static void port_maybe_free(struct rft_port *p)
{
    if (p->open_handles > 0 || p->n_pending > 0)
        return;
    if (p->close_cb)
        p->close_cb(p->close_data);
    free(p);
}

static void pending_unlink(struct pending *pd)
{
    pd->prev->next = pd->next;
    pd->next->prev = pd->prev;
    pd->next = pd->prev = pd;
}

static void pending_conn_closed(struct tls_conn *c)
{
    struct pending *pd = tls_conn_data(c);
    struct rft_port *p = pd->p;

    pending_unlink(pd);
    buf_release(&pd->rx);
    free(pd);
    p->n_pending--;
    if (p->closing)
        port_maybe_free(p);
}

static void pending_drop(struct pending *pd, bool tell)
{
    if (pd->done)
        return;
    pd->done = true;
    if (tell) {
        uint8_t st = STATUS_REFUSED;
        (void)tls_conn_write(pd->c, &st, 1, NULL, NULL);
        pd->p->stats.refused++;
    }
    tls_conn_close(pd->c, pending_conn_closed);
}

/* The hello is handed over: the pending record goes, the connection stays. */
static void pending_release(struct pending *pd)
{
    struct rft_port *p = pd->p;

    pending_unlink(pd);
    buf_release(&pd->rx);
    free(pd);
    p->n_pending--;
}

static bool peer_ok(struct rft_port *p, const struct tls_peer *peer, bool manager_only)
{
    if (!peer->has_cert)
        return false;
    if (strcmp(peer->ou, RFT_OU_MANAGER) != 0 &&
        (manager_only || strcmp(peer->ou, RFT_OU_WORKER) != 0))
        return false;
    if (p->ops.is_revoked && p->ops.is_revoked(p->ops.data, peer->serial, peer->cn))
        return false;
    return true;
}

static void handle_hello(struct pending *pd, uint8_t kind, const uint8_t *body, size_t len)
{
    struct rft_port *p = pd->p;
    const struct tls_peer *peer = tls_conn_peer(pd->c);
    struct tls_conn *c = pd->c;
    uint8_t ok = STATUS_OK;

    if (kind == RFT_KIND_RAFT) {
        char addr[RFT_ADDR_MAX];
        uint64_t id;

        if (len < 8 || len - 8 >= sizeof(addr) || !p->raft_fn) {
            pending_drop(pd, len >= 8 && len - 8 < sizeof(addr));
            return;
        }
        id = get_u64be(body);
        memcpy(addr, body + 8, len - 8);
        addr[len - 8] = '\0';
        if (id == 0 || strlen(addr) != len - 8 || !peer_ok(p, peer, true) ||
            (p->ops.verify_raft_peer &&
             !p->ops.verify_raft_peer(p->ops.data, peer->cn, peer->ou, id))) {
            log_debug("raft hello refused: id=%llu cn='%s' ou='%s'", (unsigned long long)id,
                      peer->cn, peer->ou);
            pending_drop(pd, true);
            return;
        }
        if (tls_conn_write(c, &ok, 1, NULL, NULL) < 0) {
            pending_drop(pd, false);
            return;
        }
        tls_conn_read_stop(c);
        pending_release(pd);
        p->stats.accepted++;
        p->raft_fn(p, c, id, addr, p->raft_data);
        return;
    }
    if (kind > RFT_KIND_SESSION || !p->handlers[kind].fn) {
        pending_drop(pd, kind <= RFT_KIND_SESSION);
        return;
    }
    if (kind != RFT_KIND_JOIN && !peer_ok(p, peer, false)) {
        log_debug("hello kind %u refused: cn='%s' ou='%s'", kind, peer->cn, peer->ou);
        pending_drop(pd, true);
        return;
    }
    if (tls_conn_write(c, &ok, 1, NULL, NULL) < 0) {
        pending_drop(pd, false);
        return;
    }
    tls_conn_read_stop(c);
    struct rft_chan *ch = chan_new(c, p->max_frame, NULL, 0);
    if (!ch) {
        pending_drop(pd, false);
        return;
    }
    struct handler h = p->handlers[kind];
    /* body lives in pd->rx: copy out before releasing it */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        tls_conn_set_data(c, pd);
        free(ch);
        pending_drop(pd, false);
        return;
    }
    memcpy(copy, body, len);
    pending_release(pd);
    p->stats.accepted++;
    h.fn(p, ch, copy, len, h.data);
    free(copy);
}

static void pending_on_read(struct tls_conn *c, const void *data, size_t len, int status)
{
    struct pending *pd = tls_conn_data(c);
    const uint8_t *b;
    uint32_t n;

    if (pd->done)
        return;
    if (status < 0) {
        pending_drop(pd, false);
        return;
    }
    if (buf_append(&pd->rx, data, len) < 0) {
        pending_drop(pd, false);
        return;
    }
    if (pd->rx.len < 4)
        return;
    b = (const uint8_t *)pd->rx.data;
    n = rft__get_u32be(b);
    if (n < 1 || n > 1 + RFT_HELLO_MAX) {
        log_debug("malformed hello (length %u), closing", n);
        pending_drop(pd, false);
        return;
    }
    if (pd->rx.len < 4 + (size_t)n)
        return;
    if (pd->rx.len > 4 + (size_t)n) { /* nothing may follow before our reply */
        pending_drop(pd, false);
        return;
    }
    handle_hello(pd, b[4], b + 5, n - 1);
}

static void pending_on_handshake(struct tls_conn *c, int status)
{
    struct pending *pd = tls_conn_data(c);

    if (status < 0) {
        log_debug("TLS handshake failed: %s", tls_conn_errmsg(c));
        pd->p->stats.handshakes_failed++;
        pending_drop(pd, false);
        return;
    }
    if (tls_conn_read_start(c, pending_on_read) < 0)
        pending_drop(pd, false);
}

static void on_connection(uv_stream_t *s, int status)
{
    struct rft_port *p = s->data;
    struct pending *pd;
    struct err err;

    if (status < 0 || p->closing)
        return;
    pd = calloc(1, sizeof(*pd));
    if (!pd)
        return; /* stays in the backlog */
    pd->p = p;
    buf_init(&pd->rx);
    pd->started = uv_now(p->loop);
    pd->next = p->head.next;
    pd->prev = &p->head;
    p->head.next->prev = pd;
    p->head.next = pd;
    p->n_pending++;
    if (tls_conn_accept(s, p->srv, pending_on_handshake, pd, &pd->c, &err) < 0) {
        pending_unlink(pd);
        p->n_pending--;
        free(pd);
        log_debug("accept failed: %s", err.msg);
    }
}

static void on_sweep(uv_timer_t *t)
{
    struct rft_port *p = t->data;
    uint64_t now = uv_now(p->loop);
    struct pending *pd, *next;

    for (pd = p->head.next; pd != &p->head; pd = next) {
        next = pd->next;
        if (!pd->done && now - pd->started > HELLO_TIMEOUT_MS)
            pending_drop(pd, false);
    }
}

int rft_port_open(uv_loop_t *loop, const char *addr, struct tls_ctx *srv,
                  const struct rft_port_ops *ops, struct rft_port **ret, struct err *err)
{
    struct sockaddr_in sa;
    struct sockaddr_storage ss = {0};
    int sslen = sizeof(ss);
    char host[64], tmp[40] = "";
    const char *colon = strrchr(addr, ':');
    struct rft_port *p;
    int rc;

    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return err_set(err, -EINVAL, "invalid listen address '%s'", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (uv_ip4_addr(host, atoi(colon + 1), &sa) != 0)
        return err_set(err, -EINVAL, "invalid listen address '%s'", addr);
    p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(err, -ENOMEM, "out of memory");
    p->loop = loop;
    p->srv = srv;
    if (ops)
        p->ops = *ops;
    p->max_frame = RFT_MAX_FRAME;
    p->head.next = p->head.prev = &p->head;
    uv_tcp_init(loop, &p->listener);
    uv_timer_init(loop, &p->sweep);
    p->listener.data = p;
    p->sweep.data = p;
    p->open_handles = 2;
    rc = uv_tcp_bind(&p->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&p->listener, 128, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&p->listener, (struct sockaddr *)&ss, &sslen);
    if (rc < 0) {
        rft_port_close(p, NULL, NULL);
        return err_set(err, rc, "listen on %s: %s", addr, uv_strerror(rc));
    }
    {
        struct sockaddr_in bound;
        memset(&bound, 0, sizeof(bound));
        memcpy(&bound, &ss, sizeof(bound));
        uv_ip4_name(&bound, tmp, sizeof(tmp));
        snprintf(p->address, sizeof(p->address), "%s:%d", tmp, ntohs(bound.sin_port));
    }
    uv_timer_start(&p->sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&p->sweep);
    *ret = p;
    return 0;
}

int rft_port_set_handler(struct rft_port *p, enum rft_kind kind, rft_port_handler h, void *data)
{
    if (kind == RFT_KIND_RAFT || kind < RFT_KIND_RAFT || kind > RFT_KIND_SESSION)
        return -EINVAL;
    p->handlers[kind].fn = h;
    p->handlers[kind].data = data;
    return 0;
}

void rft__port_set_raft_handler(struct rft_port *p, rft__raft_handler h, void *data)
{
    p->raft_fn = h;
    p->raft_data = data;
}

void rft_port_set_max_frame(struct rft_port *p, size_t max)
{
    p->max_frame = max;
}

const char *rft_port_address(const struct rft_port *p)
{
    return p->address;
}

void rft_port_stats(const struct rft_port *p, struct rft_port_stats *ret)
{
    *ret = p->stats;
}

static void port_handle_closed(uv_handle_t *h)
{
    struct rft_port *p = h->data;

    p->open_handles--;
    port_maybe_free(p);
}

void rft_port_close(struct rft_port *p, void (*cb)(void *data), void *data)
{
    struct pending *pd, *next;

    if (p->closing)
        return;
    p->closing = true;
    p->close_cb = cb;
    p->close_data = data;
    for (pd = p->head.next; pd != &p->head; pd = next) {
        next = pd->next;
        pending_drop(pd, false);
    }
    uv_close((uv_handle_t *)&p->listener, port_handle_closed);
    uv_close((uv_handle_t *)&p->sweep, port_handle_closed);
}

/* ---- dialing ------------------------------------------------------------ */

struct rft_dial {
    struct tls_conn *c;
    uv_timer_t timer;
    enum rft_kind kind;
    uint8_t *hello;
    size_t hello_len;
    rft__dial_raw_cb raw_cb;
    rft_dial_cb cb;
    void *data;
    struct rft_dial **retp;
    struct err err;
    bool finished;
    uint8_t extra[4096];
    size_t extra_len;
};

static void dial_free(uv_handle_t *h)
{
    struct rft_dial *d = h->data;

    free(d->hello);
    free(d);
}

static void dial_report(struct rft_dial *d, struct tls_conn *c, int status)
{
    if (d->raw_cb) {
        d->raw_cb(c, d->extra, d->extra_len, status, status ? &d->err : NULL, d->data);
        return;
    }
    if (status == 0) {
        struct rft_chan *ch = chan_new(c, RFT_MAX_FRAME, d->extra, d->extra_len);
        if (!ch) {
            err_set(&d->err, -ENOMEM, "out of memory");
            tls_conn_close(c, NULL);
            d->cb(NULL, -ENOMEM, &d->err, d->data);
            return;
        }
        d->cb(ch, 0, NULL, d->data);
        return;
    }
    d->cb(NULL, status, &d->err, d->data);
}

static void dial_conn_closed(struct tls_conn *c)
{
    struct rft_dial *d = tls_conn_data(c);

    dial_report(d, NULL, d->err.code);
    uv_close((uv_handle_t *)&d->timer, dial_free);
}

static void dial_fail(struct rft_dial *d, int code, const char *fmt, const char *detail)
{
    if (d->finished)
        return;
    d->finished = true;
    uv_timer_stop(&d->timer);
    err_set(&d->err, code, fmt, detail);
    tls_conn_close(d->c, dial_conn_closed);
}

static void dial_on_read(struct tls_conn *c, const void *data, size_t len, int status)
{
    struct rft_dial *d = tls_conn_data(c);
    const uint8_t *b = data;

    if (d->finished)
        return;
    if (status < 0 || len == 0) {
        dial_fail(d, status == UV_EOF ? -ECONNRESET : -EACCES, "%s",
                  status == UV_EOF ? "connection closed by the server"
                                   : "connection refused by the server");
        return;
    }
    if (b[0] != STATUS_OK) {
        dial_fail(d, -EACCES, "%s", "refused by the server");
        return;
    }
    if (len - 1 > sizeof(d->extra)) {
        dial_fail(d, -EPROTO, "%s", "unexpected data from the server");
        return;
    }
    memcpy(d->extra, b + 1, len - 1);
    d->extra_len = len - 1;
    d->finished = true;
    uv_timer_stop(&d->timer);
    tls_conn_read_stop(c);
    tls_conn_set_data(c, NULL);
    dial_report(d, c, 0);
    uv_close((uv_handle_t *)&d->timer, dial_free);
}

static void dial_on_handshake(struct tls_conn *c, int status)
{
    struct rft_dial *d = tls_conn_data(c);
    const struct tls_peer *peer = tls_conn_peer(c);

    if (d->finished)
        return;
    if (status < 0) {
        dial_fail(d, status, "%s", tls_conn_errmsg(c));
        return;
    }
    if (d->kind == RFT_KIND_RAFT && strcmp(peer->ou, RFT_OU_MANAGER) != 0) {
        dial_fail(d, -EPERM, "server is not a manager (OU '%s')", peer->ou);
        return;
    }
    if (tls_conn_write(c, d->hello, d->hello_len, NULL, NULL) < 0 ||
        tls_conn_read_start(c, dial_on_read) < 0)
        dial_fail(d, -EIO, "%s", "sending hello failed");
}

static void dial_on_timeout(uv_timer_t *t)
{
    struct rft_dial *d = t->data;

    dial_fail(d, -ETIMEDOUT, "%s", "timed out");
}

static int dial_start(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr, const uint8_t *pin,
                      enum rft_kind kind, const void *body, size_t len, struct rft_dial *d,
                      struct err *err)
{
    int rc;

    if (len > RFT_HELLO_MAX || kind < RFT_KIND_RAFT || kind > RFT_KIND_SESSION) {
        free(d);
        return err_set(err, -EINVAL, "invalid hello");
    }
    d->kind = kind;
    d->hello_len = 5 + len;
    d->hello = malloc(d->hello_len);
    if (!d->hello) {
        free(d);
        return err_set(err, -ENOMEM, "out of memory");
    }
    rft__put_u32be(d->hello, (uint32_t)(len + 1));
    d->hello[4] = (uint8_t)kind;
    if (len)
        memcpy(d->hello + 5, body, len);
    rc = tls_conn_connect(loop, ctx, addr, pin, dial_on_handshake, d, &d->c, err);
    if (rc < 0) {
        free(d->hello);
        free(d);
        return rc;
    }
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, dial_on_timeout, DIAL_TIMEOUT_MS, 0);
    return 0;
}

int rft_dial(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr, const uint8_t *pin_sha256,
             enum rft_kind kind, const void *body, size_t len, rft_dial_cb cb, void *data,
             struct rft_dial **ret, struct err *err)
{
    struct rft_dial *d = calloc(1, sizeof(*d));
    int rc;

    if (!d)
        return err_set(err, -ENOMEM, "out of memory");
    d->cb = cb;
    d->data = data;
    rc = dial_start(loop, ctx, addr, pin_sha256, kind, body, len, d, err);
    if (rc == 0 && ret)
        *ret = d;
    return rc;
}

int rft__dial_raw(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr, const uint8_t *pin,
                  enum rft_kind kind, const void *body, size_t len, rft__dial_raw_cb cb, void *data,
                  struct rft_dial **ret, struct err *err)
{
    struct rft_dial *d = calloc(1, sizeof(*d));
    int rc;

    if (!d)
        return err_set(err, -ENOMEM, "out of memory");
    d->raw_cb = cb;
    d->data = data;
    rc = dial_start(loop, ctx, addr, pin, kind, body, len, d, err);
    if (rc == 0 && ret)
        *ret = d;
    return rc;
}

void rft_dial_cancel(struct rft_dial *d)
{
    dial_fail(d, -ECANCELED, "%s", "canceled");
}
