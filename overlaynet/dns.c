/*
 * overlaynet/dns.c - the embedded DNS server of a container: 127.0.0.11:53
 * (udp and tcp) inside the container's namespace, served by the loop.
 *
 * The sockets are created by a helper thread inside the namespace and then
 * handed to libuv (a socket keeps its namespace). A-queries for names known
 * on the container's networks are answered here (TTL 600); everything else
 * is relayed, as received, to the upstream servers over UDP sockets opened
 * in the host's namespace (so a loopback upstream such as 127.0.0.53
 * works), trying the next upstream after 2 s and answering SERVFAIL at the
 * end.
 */
#define LOG_MODULE "onet"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

#include "overlaynet/internal.h"

#define DNS_ADDR      0x7f00000bu /* 127.0.0.11 */
#define DNS_MAX_MSG   4096
#define DNS_TIMEOUT   2000
#define DNS_TTL       600
#define TCP_MAX_CONNS 64

struct tcp_conn;

struct onet_dns {
    struct onet_dns_cfg cfg;
    char ctr_id[65];
    uv_udp_t udp;
    uv_tcp_t tcp;
    int refs; /* owner + open handles + pending forwards + connections */
    bool stopped;
    struct tcp_conn *conns;
    size_t n_conns;
};

struct tcp_conn {
    uv_tcp_t h;
    struct onet_dns *d;
    struct tcp_conn *next;
    int refs; /* handle + pending forwards */
    bool closed;
    uint8_t buf[2 + 65535];
    size_t len;
};

struct fwd {
    uv_udp_t sock;
    uv_timer_t timer;
    struct onet_dns *d;
    struct tcp_conn *conn; /* NULL: answer over udp to client */
    struct sockaddr_in client;
    uint8_t *query;
    size_t qlen;
    size_t upstream; /* index tried */
    bool done;
    int closing;
};

static void dns_unref(struct onet_dns *d)
{
    if (--d->refs == 0)
        free(d);
}

static void conn_unref(struct tcp_conn *c)
{
    if (--c->refs == 0) {
        struct onet_dns *d = c->d;
        free(c);
        dns_unref(d);
    }
}

/* ---- message handling -------------------------------------------------- */

/* Question name at off into out (lower case, dotted, no final dot);
 * returns the offset after QTYPE/QCLASS or -1. */
static int parse_question(const uint8_t *m, size_t len, char *out, size_t outlen,
                          uint16_t *ret_type)
{
    size_t off = 12, o = 0;

    for (;;) {
        if (off >= len)
            return -1;
        uint8_t l = m[off++];
        if (l == 0)
            break;
        if (l > 63 || off + l > len || o + l + 2 > outlen)
            return -1;
        if (o)
            out[o++] = '.';
        for (uint8_t i = 0; i < l; i++)
            out[o++] = (char)tolower(m[off + i]);
        off += l;
    }
    out[o] = '\0';
    if (off + 4 > len)
        return -1;
    *ret_type = (uint16_t)(m[off] << 8 | m[off + 1]);
    return (int)(off + 4);
}

/* Answer locally when the name is ours: writes the reply into out. */
static size_t answer_local(struct onet_dns *d, const uint8_t *q, size_t len, uint8_t *out,
                           size_t outlen)
{
    char name[256];
    uint16_t qtype;
    uint32_t ip;
    int end;

    if (len < 12 || (q[2] & 0x80) || (q[2] & 0x78) != 0 || q[4] != 0 || q[5] != 1)
        return 0;
    end = parse_question(q, len, name, sizeof(name), &qtype);
    if (end < 0 || (size_t)end + 16 > outlen)
        return 0;
    if (!d->cfg.lookup(d->cfg.arg, d->ctr_id, name, &ip))
        return 0;
    memcpy(out, q, (size_t)end);
    out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
    out[3] = 0x80;                            /* RA, NOERROR */
    out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
    if (qtype != 1 && qtype != 255)
        return (size_t)end; /* the name exists, no record of that type */
    out[7] = 1;
    uint8_t *a = out + end;
    uint32_t be = htonl(ip);
    a[0] = 0xc0, a[1] = 12;                 /* pointer to the question name */
    a[2] = 0, a[3] = 1, a[4] = 0, a[5] = 1; /* A, IN */
    a[6] = 0, a[7] = 0, a[8] = DNS_TTL >> 8, a[9] = DNS_TTL & 0xff;
    a[10] = 0, a[11] = 4;
    memcpy(a + 12, &be, 4);
    return (size_t)end + 16;
}

static size_t servfail(const uint8_t *q, size_t len, uint8_t *out)
{
    if (len < 12)
        return 0;
    memcpy(out, q, 12);
    out[2] = (uint8_t)(0x80 | (q[2] & 0x79));
    out[3] = 0x82; /* RA, SERVFAIL */
    memset(out + 6, 0, 6);
    out[4] = 0, out[5] = 0;
    return 12;
}

struct send_req {
    uv_udp_send_t s;
    uv_write_t w;
    uint8_t data[];
};

static void udp_sent(uv_udp_send_t *s, int status)
{
    (void)status;
    free(container_of(s, struct send_req, s));
}

static void tcp_written(uv_write_t *w, int status)
{
    (void)status;
    free(container_of(w, struct send_req, w));
}

static void reply_udp(struct onet_dns *d, const struct sockaddr_in *to, const uint8_t *m, size_t n)
{
    struct send_req *s;
    uv_buf_t b;

    if (d->stopped || !(s = malloc(sizeof(*s) + n)))
        return;
    memcpy(s->data, m, n);
    b = uv_buf_init((char *)s->data, (unsigned)n);
    if (uv_udp_send(&s->s, &d->udp, &b, 1, (const struct sockaddr *)to, udp_sent) < 0)
        free(s);
}

static void reply_tcp(struct tcp_conn *c, const uint8_t *m, size_t n)
{
    struct send_req *s;
    uv_buf_t b;

    if (c->closed || n > 65535 || !(s = malloc(sizeof(*s) + n + 2)))
        return;
    s->data[0] = (uint8_t)(n >> 8);
    s->data[1] = (uint8_t)n;
    memcpy(s->data + 2, m, n);
    b = uv_buf_init((char *)s->data, (unsigned)(n + 2));
    if (uv_write(&s->w, (uv_stream_t *)&c->h, &b, 1, tcp_written) < 0)
        free(s);
}

static void fwd_reply(struct fwd *f, const uint8_t *m, size_t n)
{
    if (f->conn)
        reply_tcp(f->conn, m, n);
    else
        reply_udp(f->d, &f->client, m, n);
}

static void fwd_closed(uv_handle_t *h)
{
    struct fwd *f = h->data;

    if (--f->closing > 0)
        return;
    if (f->conn)
        conn_unref(f->conn);
    dns_unref(f->d);
    free(f->query);
    free(f);
}

static void fwd_finish(struct fwd *f)
{
    if (f->done)
        return;
    f->done = true;
    f->closing = 2;
    uv_close((uv_handle_t *)&f->sock, fwd_closed);
    uv_close((uv_handle_t *)&f->timer, fwd_closed);
}

static void fwd_timeout(uv_timer_t *t);

static int fwd_send(struct fwd *f)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    uv_buf_t b = uv_buf_init((char *)f->query, (unsigned)f->qlen);

    to.sin_addr.s_addr = htonl(f->d->cfg.upstream[f->upstream]);
    to.sin_port = htons(f->d->cfg.upstream_port[f->upstream] ?: 53);
    if (uv_udp_try_send(&f->sock, &b, 1, (const struct sockaddr *)&to) < 0)
        return -EIO;
    return uv_timer_start(&f->timer, fwd_timeout, DNS_TIMEOUT, 0);
}

static void fwd_timeout(uv_timer_t *t)
{
    struct fwd *f = t->data;
    uint8_t out[12];

    while (++f->upstream < f->d->cfg.n_upstream) {
        if (fwd_send(f) == 0)
            return;
    }
    size_t n = servfail(f->query, f->qlen, out);
    if (n)
        fwd_reply(f, out, n);
    fwd_finish(f);
}

static void fwd_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    (void)sz;
    b->base = malloc(DNS_MAX_MSG);
    b->len = b->base ? DNS_MAX_MSG : 0;
}

static void fwd_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags)
{
    struct fwd *f = u->data;

    (void)flags;
    if (n >= 12 && from && !f->done && memcmp(b->base, f->query, 2) == 0) {
        fwd_reply(f, (const uint8_t *)b->base, (size_t)n);
        fwd_finish(f);
    }
    free(b->base);
}

static void forward(struct onet_dns *d, const uint8_t *q, size_t len,
                    const struct sockaddr_in *client, struct tcp_conn *conn)
{
    struct sockaddr_in any = {.sin_family = AF_INET};
    uint8_t out[12];
    struct fwd *f = NULL;
    size_t n;

    if (d->cfg.n_upstream == 0 || !(f = calloc(1, sizeof(*f))) || !(f->query = malloc(len)))
        goto fail_nofwd;
    memcpy(f->query, q, len);
    f->qlen = len;
    f->d = d;
    d->refs++;
    if (conn) {
        f->conn = conn;
        conn->refs++;
    } else {
        f->client = *client;
    }
    uv_udp_init(d->cfg.loop, &f->sock);
    uv_timer_init(d->cfg.loop, &f->timer);
    f->sock.data = f->timer.data = f;
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    if (uv_udp_bind(&f->sock, (const struct sockaddr *)&any, 0) < 0 ||
        uv_udp_recv_start(&f->sock, fwd_alloc, fwd_recv) < 0 || fwd_send(f) < 0) {
        n = servfail(q, len, out);
        if (n)
            fwd_reply(f, out, n);
        fwd_finish(f);
    }
    return;
fail_nofwd:
    if (f)
        free(f);
    n = servfail(q, len, out);
    if (!n)
        return;
    if (conn)
        reply_tcp(conn, out, n);
    else
        reply_udp(d, client, out, n);
}

static void handle_query(struct onet_dns *d, const uint8_t *q, size_t len,
                         const struct sockaddr_in *client, struct tcp_conn *conn)
{
    uint8_t out[DNS_MAX_MSG];
    size_t n;

    if (len < 12 || (q[2] & 0x80))
        return; /* not a query */
    n = answer_local(d, q, len, out, sizeof(out));
    if (n) {
        if (conn)
            reply_tcp(conn, out, n);
        else
            reply_udp(d, client, out, n);
        return;
    }
    forward(d, q, len, client, conn);
}

/* ---- udp server -------------------------------------------------------- */

static void udp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    (void)sz;
    b->base = malloc(DNS_MAX_MSG);
    b->len = b->base ? DNS_MAX_MSG : 0;
}

static void udp_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags)
{
    struct onet_dns *d = u->data;

    (void)flags;
    if (n > 0 && from && from->sa_family == AF_INET && !d->stopped)
        handle_query(d, (const uint8_t *)b->base, (size_t)n, (const struct sockaddr_in *)from,
                     NULL);
    free(b->base);
}

/* ---- tcp server -------------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void conn_close(struct tcp_conn *c)
{
    struct tcp_conn **pp;

    if (c->closed)
        return;
    c->closed = true;
    for (pp = &c->d->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            c->d->n_conns--;
            break;
        }
    uv_close((uv_handle_t *)&c->h, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct tcp_conn *c = h->data;

    (void)sz;
    b->base = (char *)c->buf + c->len;
    b->len = sizeof(c->buf) - c->len;
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct tcp_conn *c = s->data;

    (void)b;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    while (c->len >= 2) {
        size_t ml = (size_t)c->buf[0] << 8 | c->buf[1];
        if (c->len < ml + 2)
            break;
        handle_query(c->d, c->buf + 2, ml, NULL, c);
        memmove(c->buf, c->buf + 2 + ml, c->len - 2 - ml);
        c->len -= 2 + ml;
    }
}

static void tcp_accept(uv_stream_t *srv, int status)
{
    struct onet_dns *d = srv->data;
    struct tcp_conn *c;

    if (status < 0 || d->stopped)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(d->cfg.loop, &c->h);
    c->h.data = c;
    c->d = d;
    c->refs = 1;
    d->refs++;
    c->next = d->conns;
    d->conns = c;
    d->n_conns++;
    if (uv_accept(srv, (uv_stream_t *)&c->h) < 0 || d->n_conns > TCP_MAX_CONNS ||
        uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) < 0)
        conn_close(c);
}

/* ---- sockets in the namespace ------------------------------------------ */

struct sock_job {
    int udp, tcp;
};

static int open_sockets(void *p)
{
    struct sock_job *j = p;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int one = 1;

    sa.sin_addr.s_addr = htonl(DNS_ADDR);
    sa.sin_port = htons(53);
    j->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    j->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (j->udp < 0 || j->tcp < 0)
        return -errno;
    (void)setsockopt(j->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(j->udp, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        bind(j->tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(j->tcp, 64) < 0)
        return -errno;
    return 0;
}

static void srv_closed(uv_handle_t *h)
{
    dns_unref(h->data);
}

int onet__dns_start(const struct onet_dns_cfg *cfg, int nsfd, const char *ctr_id,
                    struct onet_dns **ret, struct err *err)
{
    struct sock_job j = {-1, -1};
    struct onet_dns *d;
    int r;

    r = onet__in_netns(nsfd, open_sockets, &j);
    if (r < 0) {
        if (j.udp >= 0)
            (void)close(j.udp);
        if (j.tcp >= 0)
            (void)close(j.tcp);
        return err_set(err, r, "embedded DNS server on 127.0.0.11:53: %s", strerror(-r));
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        (void)close(j.udp);
        (void)close(j.tcp);
        return err_set(err, -ENOMEM, "out of memory");
    }
    d->cfg = *cfg;
    (void)snprintf(d->ctr_id, sizeof(d->ctr_id), "%s", ctr_id);
    d->refs = 3; /* owner, udp, tcp */
    uv_udp_init(cfg->loop, &d->udp);
    uv_tcp_init(cfg->loop, &d->tcp);
    d->udp.data = d->tcp.data = d;
    if ((r = uv_udp_open(&d->udp, j.udp)) < 0 || (r = uv_tcp_open(&d->tcp, j.tcp)) < 0 ||
        (r = uv_udp_recv_start(&d->udp, udp_alloc, udp_recv)) < 0 ||
        (r = uv_listen((uv_stream_t *)&d->tcp, 64, tcp_accept)) < 0) {
        /* fds not yet owned by a handle are closed here */
        if (uv_fileno((uv_handle_t *)&d->udp, &(uv_os_fd_t){0}) < 0)
            (void)close(j.udp);
        if (uv_fileno((uv_handle_t *)&d->tcp, &(uv_os_fd_t){0}) < 0)
            (void)close(j.tcp);
        onet__dns_stop(d);
        return err_set(err, -EIO, "embedded DNS server: %s", uv_strerror(r));
    }
    *ret = d;
    return 0;
}

void onet__dns_stop(struct onet_dns *d)
{
    if (!d)
        return;
    d->stopped = true;
    while (d->conns)
        conn_close(d->conns);
    uv_close((uv_handle_t *)&d->udp, srv_closed);
    uv_close((uv_handle_t *)&d->tcp, srv_closed);
    dns_unref(d);
}
