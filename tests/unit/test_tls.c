/*
 * tests/unit/test_tls.c - lib/tls.c and the cluster port (raft/port.c) over
 * real loopback sockets with a test CA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/tls.h"

#include "raft/internal.h"
#include "raft/rft.h"
#include "tests/unit/test_rft_certs.h"

static uv_loop_t loop;
static struct tcert ca, other_ca, mgr, worker, revoked, stranger;
static struct tls_ctx *srv_ctx, *mgr_ctx, *worker_ctx, *revoked_ctx, *stranger_ctx, *anon_ctx,
    *pin_ctx;
static struct rft_port *port;
static char addr[RFT_ADDR_MAX];
static int raft_accepted;
static uint64_t raft_last_id;
static int server_close_status = 1;
static char handler_cn[TLS_NAME_MAX], handler_ou[TLS_NAME_MAX];

/* ---- loop helpers -------------------------------------------------------- */

static bool timed_out;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    timed_out = true;
}

static void run_until(const bool *flag)
{
    uv_timer_t t;

    timed_out = false;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_deadline, 5000, 0);
    while (!*flag && !timed_out)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_false(timed_out);
}

static void settle(void)
{
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- server side --------------------------------------------------------- */

static bool verify_raft_peer(void *data, const char *cn, const char *ou, uint64_t id)
{
    char want[32];

    (void)data;
    (void)ou;
    snprintf(want, sizeof(want), "m%llu", (unsigned long long)id);
    return strcmp(cn, want) == 0;
}

static bool is_revoked(void *data, const char *serial, const char *cn)
{
    (void)data;
    (void)serial;
    return strcmp(cn, "m9") == 0;
}

static void srv_msg(struct rft_chan *ch, const void *data, size_t len)
{
    assert_int_equal(rft_chan_send(ch, data, len), 0);
}

static void srv_closed(struct rft_chan *ch, int status)
{
    (void)ch;
    server_close_status = status;
}

static void echo_handler(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                         void *data)
{
    (void)p;
    (void)body;
    (void)len;
    (void)data;
    snprintf(handler_cn, sizeof(handler_cn), "%s", rft_chan_peer(ch)->cn);
    snprintf(handler_ou, sizeof(handler_ou), "%s", rft_chan_peer(ch)->ou);
    server_close_status = 1;
    rft_chan_start(ch, srv_msg, srv_closed, NULL);
}

static void raft_handler(struct rft_port *p, struct tls_conn *c, uint64_t id, const char *a,
                         void *data)
{
    (void)p;
    (void)a;
    (void)data;
    raft_accepted++;
    raft_last_id = id;
    tls_conn_close(c, NULL);
}

/* ---- client side ---------------------------------------------------------- */

struct dial_res {
    bool done;
    int status;
    struct rft_chan *ch;
    char msg[ERR_MSG_MAX];
};

static void on_dial(struct rft_chan *ch, int status, const struct err *err, void *data)
{
    struct dial_res *r = data;

    r->done = true;
    r->status = status;
    r->ch = ch;
    if (err)
        snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
}

static int dial_sync(struct tls_ctx *ctx, const uint8_t *pin, enum rft_kind kind, const void *body,
                     size_t len, struct rft_chan **ret)
{
    struct dial_res r = {0};
    struct err err;

    if (rft_dial(&loop, ctx, addr, pin, kind, body, len, on_dial, &r, NULL, &err) < 0)
        return err.code;
    run_until(&r.done);
    if (ret)
        *ret = r.ch;
    else if (r.ch)
        rft_chan_close(r.ch);
    return r.status;
}

struct echo_state {
    bool got, closed;
    int close_status;
    char buf[256];
    size_t len;
};

static void cli_msg(struct rft_chan *ch, const void *data, size_t len)
{
    struct echo_state *e = rft_chan_data(ch);

    memcpy(e->buf, data, len < sizeof(e->buf) ? len : sizeof(e->buf));
    e->len = len;
    e->got = true;
}

static void cli_closed(struct rft_chan *ch, int status)
{
    struct echo_state *e = rft_chan_data(ch);

    e->closed = true;
    e->close_status = status;
}

static void echo_over(struct rft_chan *ch)
{
    struct echo_state e = {0};

    assert_int_equal(rft_chan_start(ch, cli_msg, cli_closed, &e), 0);
    assert_int_equal(rft_chan_send(ch, "ping", 4), 0);
    run_until(&e.got);
    assert_int_equal(e.len, 4);
    assert_memory_equal(e.buf, "ping", 4);
    rft_chan_close(ch);
    run_until(&e.closed);
    assert_int_equal(e.close_status, 0);
}

/* The listener still serves a valid manager. */
static void assert_serving(void)
{
    struct rft_chan *ch = NULL;

    assert_int_equal(dial_sync(mgr_ctx, NULL, RFT_KIND_RPC, NULL, 0, &ch), 0);
    echo_over(ch);
}

/* ---- setup ---------------------------------------------------------------- */

static int setup(void **state)
{
    struct rft_port_ops ops = {.verify_raft_peer = verify_raft_peer, .is_revoked = is_revoked};
    struct err err;

    (void)state;
    uv_loop_init(&loop);
    ca = tc_make(NULL, "shoal-test-ca", NULL, 1);
    other_ca = tc_make(NULL, "other-ca", NULL, 1);
    mgr = tc_make(&ca, "m1", RFT_OU_MANAGER, 2);
    worker = tc_make(&ca, "w1", RFT_OU_WORKER, 3);
    revoked = tc_make(&ca, "m9", RFT_OU_MANAGER, 99);
    stranger = tc_make(&other_ca, "m1", RFT_OU_MANAGER, 2);
    if (tls_ctx_new(TLS_SERVER, ca.cert, mgr.cert, mgr.key, &srv_ctx, &err) ||
        tls_ctx_new(TLS_CLIENT, ca.cert, mgr.cert, mgr.key, &mgr_ctx, &err) ||
        tls_ctx_new(TLS_CLIENT, ca.cert, worker.cert, worker.key, &worker_ctx, &err) ||
        tls_ctx_new(TLS_CLIENT, ca.cert, revoked.cert, revoked.key, &revoked_ctx, &err) ||
        tls_ctx_new(TLS_CLIENT, ca.cert, stranger.cert, stranger.key, &stranger_ctx, &err) ||
        tls_ctx_new(TLS_CLIENT, ca.cert, NULL, NULL, &anon_ctx, &err) ||
        tls_ctx_new(TLS_CLIENT, NULL, NULL, NULL, &pin_ctx, &err)) {
        fprintf(stderr, "tls ctx: %s\n", err.msg);
        return -1;
    }
    if (rft_port_open(&loop, "127.0.0.1:0", srv_ctx, &ops, &port, &err) < 0) {
        fprintf(stderr, "port: %s\n", err.msg);
        return -1;
    }
    snprintf(addr, sizeof(addr), "%s", rft_port_address(port));
    rft_port_set_handler(port, RFT_KIND_RPC, echo_handler, NULL);
    rft_port_set_handler(port, RFT_KIND_SESSION, echo_handler, NULL);
    rft_port_set_handler(port, RFT_KIND_JOIN, echo_handler, NULL);
    rft__port_set_raft_handler(port, raft_handler, NULL);
    return 0;
}

static void port_closed(void *data)
{
    *(bool *)data = true;
}

static int teardown(void **state)
{
    bool closed = false;

    (void)state;
    rft_port_close(port, port_closed, &closed);
    run_until(&closed);
    settle();
    tls_ctx_free(srv_ctx);
    tls_ctx_free(mgr_ctx);
    tls_ctx_free(worker_ctx);
    tls_ctx_free(revoked_ctx);
    tls_ctx_free(stranger_ctx);
    tls_ctx_free(anon_ctx);
    tls_ctx_free(pin_ctx);
    tc_free(&ca);
    tc_free(&other_ca);
    tc_free(&mgr);
    tc_free(&worker);
    tc_free(&revoked);
    tc_free(&stranger);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_echo_with_client_cert(void **state)
{
    struct rft_chan *ch = NULL;

    (void)state;
    assert_int_equal(dial_sync(mgr_ctx, NULL, RFT_KIND_RPC, "x", 1, &ch), 0);
    echo_over(ch);
    assert_string_equal(handler_cn, "m1");
    assert_string_equal(handler_ou, RFT_OU_MANAGER);
    /* a worker may use SESSION */
    assert_int_equal(dial_sync(worker_ctx, NULL, RFT_KIND_SESSION, NULL, 0, &ch), 0);
    echo_over(ch);
    assert_string_equal(handler_ou, RFT_OU_WORKER);
}

static void test_join_without_cert_and_pinning(void **state)
{
    uint8_t pin[TLS_SHA256_LEN], bad[TLS_SHA256_LEN];
    struct rft_chan *ch = NULL;
    struct err err;
    char *root = NULL;

    (void)state;
    /* CA-verified, no client certificate */
    assert_int_equal(dial_sync(anon_ctx, NULL, RFT_KIND_JOIN, "tok", 3, &ch), 0);
    assert_true(rft_chan_peer(ch)->has_cert); /* the client sees the server's cert */
    assert_string_equal(rft_chan_peer(ch)->cn, "m1");
    echo_over(ch);
    assert_string_equal(handler_cn, ""); /* server saw no client certificate */
    /* pinned by the CA digest */
    assert_int_equal(tls_pem_sha256(ca.cert, pin, &err), 0);
    assert_int_equal(dial_sync(pin_ctx, pin, RFT_KIND_JOIN, "tok", 3, &ch), 0);
    assert_int_equal(rft_chan_peer_root_pem(ch, &root), 0);
    assert_string_equal(root, ca.cert);
    free(root);
    echo_over(ch);
    /* wrong digest */
    memcpy(bad, pin, sizeof(bad));
    bad[0] ^= 1;
    assert_int_equal(dial_sync(pin_ctx, bad, RFT_KIND_JOIN, "tok", 3, NULL), -EPERM);
    /* another CA's digest */
    assert_int_equal(tls_pem_sha256(other_ca.cert, bad, &err), 0);
    assert_int_equal(dial_sync(pin_ctx, bad, RFT_KIND_JOIN, "tok", 3, NULL), -EPERM);
    assert_serving();
}

static void test_certificate_rejections(void **state)
{
    uint8_t body[8 + 16] = {0, 0, 0, 0, 0, 0, 0, 1};
    struct rft_port_stats st;

    (void)state;
    memcpy(body + 8, "127.0.0.1:1", 11);
    /* no certificate: RPC, SESSION and RAFT refused */
    assert_int_equal(dial_sync(anon_ctx, NULL, RFT_KIND_RPC, NULL, 0, NULL), -EACCES);
    assert_int_equal(dial_sync(anon_ctx, NULL, RFT_KIND_SESSION, NULL, 0, NULL), -EACCES);
    assert_int_equal(dial_sync(anon_ctx, NULL, RFT_KIND_RAFT, body, 19, NULL), -EACCES);
    /* worker certificate: no raft */
    assert_int_equal(dial_sync(worker_ctx, NULL, RFT_KIND_RAFT, body, 19, NULL), -EACCES);
    /* manager claiming someone else's raft id */
    body[7] = 2;
    assert_int_equal(dial_sync(mgr_ctx, NULL, RFT_KIND_RAFT, body, 19, NULL), -EACCES);
    assert_int_equal(raft_accepted, 0);
    /* its own id: accepted and handed to the raft handler */
    body[7] = 1;
    assert_int_equal(dial_sync(mgr_ctx, NULL, RFT_KIND_RAFT, body, 19, NULL), 0);
    assert_int_equal(raft_accepted, 1);
    assert_int_equal(raft_last_id, 1);
    /* revoked */
    assert_int_equal(dial_sync(revoked_ctx, NULL, RFT_KIND_RPC, NULL, 0, NULL), -EACCES);
    /* certificate from another CA: the TLS handshake fails */
    rft_port_stats(port, &st);
    assert_true(dial_sync(stranger_ctx, NULL, RFT_KIND_RPC, NULL, 0, NULL) < 0);
    settle();
    struct rft_port_stats st2;
    rft_port_stats(port, &st2);
    assert_int_equal(st2.handshakes_failed, st.handshakes_failed + 1);
    assert_serving();
}

/* ---- raw TLS client for malformed hellos ------------------------------------ */

struct raw {
    bool hs, ended;
    int hs_status;
    size_t got;
    const void *send;
    size_t send_len;
};

static void raw_read(struct tls_conn *c, const void *data, size_t len, int status)
{
    struct raw *r = tls_conn_data(c);

    (void)data;
    if (status < 0)
        r->ended = true;
    r->got += len;
}

static void raw_hs(struct tls_conn *c, int status)
{
    struct raw *r = tls_conn_data(c);

    r->hs = true;
    r->hs_status = status;
    if (status < 0) {
        r->ended = true;
        return;
    }
    assert_int_equal(tls_conn_write(c, r->send, r->send_len, NULL, NULL), 0);
    assert_int_equal(tls_conn_read_start(c, raw_read), 0);
}

/* Send bytes as the hello; true when the server closed without accepting. */
static void assert_hello_rejected(const void *bytes, size_t len)
{
    struct raw r = {.send = bytes, .send_len = len};
    struct tls_conn *c;
    struct err err;

    assert_int_equal(tls_conn_connect(&loop, mgr_ctx, addr, NULL, raw_hs, &r, &c, &err), 0);
    run_until(&r.ended);
    assert_int_equal(r.hs_status, 0);
    assert_int_equal(r.got, 0); /* no status byte: just closed */
    tls_conn_close(c, NULL);
    settle();
}

static void test_malformed_hellos(void **state)
{
    uint8_t zero[] = {0, 0, 0, 0};
    uint8_t huge[] = {0, 0, 0x20, 0, 3};
    uint8_t unknown[] = {0, 0, 0, 1, 9};
    uint8_t trailing[] = {0, 0, 0, 1, 3, 'x', 'y'};
    uint8_t raft_short[] = {0, 0, 0, 3, 1, 0, 0};

    (void)state;
    assert_hello_rejected(zero, sizeof(zero));
    assert_hello_rejected(huge, sizeof(huge));
    assert_hello_rejected(unknown, sizeof(unknown));
    assert_hello_rejected(trailing, sizeof(trailing));
    assert_hello_rejected(raft_short, sizeof(raft_short));
    assert_serving();
}

static void test_oversized_frame(void **state)
{
    struct rft_chan *ch = NULL;
    struct echo_state e = {0};
    uint8_t big[2048];

    (void)state;
    rft_port_set_max_frame(port, 1024);
    assert_int_equal(dial_sync(mgr_ctx, NULL, RFT_KIND_RPC, NULL, 0, &ch), 0);
    rft_chan_set_max_frame(ch, sizeof(big) * 2); /* our side allows it */
    memset(big, 'a', sizeof(big));
    assert_int_equal(rft_chan_start(ch, cli_msg, cli_closed, &e), 0);
    assert_int_equal(rft_chan_send(ch, "ok", 2), 0);
    run_until(&e.got);
    assert_int_equal(rft_chan_send(ch, big, sizeof(big)), 0);
    run_until(&e.closed);
    assert_true(e.close_status == UV_EOF || e.close_status < 0);
    settle();
    assert_int_equal(server_close_status, -EMSGSIZE);
    rft_port_set_max_frame(port, RFT_MAX_FRAME);
    assert_serving();
}

/* ---- garbage instead of TLS ------------------------------------------------------- */

struct plain {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    bool ended;
    char buf[256];
};

static void plain_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct plain *p = h->data;

    (void)hint;
    *b = uv_buf_init(p->buf, sizeof(p->buf));
}

static void plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct plain *p = s->data;

    (void)b;
    if (n < 0)
        p->ended = true;
}

static void plain_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status;
}

static void plain_connected(uv_connect_t *req, int status)
{
    struct plain *p = req->data;
    static char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02\x03garbage";
    uv_buf_t b = uv_buf_init(junk, sizeof(junk));

    assert_int_equal(status, 0);
    uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, plain_written);
    uv_read_start((uv_stream_t *)&p->tcp, plain_alloc, plain_read);
}

static void test_garbage_instead_of_tls(void **state)
{
    struct plain p = {0};
    struct sockaddr_in sa;
    const char *colon = strrchr(addr, ':');

    (void)state;
    uv_ip4_addr("127.0.0.1", atoi(colon + 1), &sa);
    uv_tcp_init(&loop, &p.tcp);
    p.tcp.data = &p;
    p.creq.data = &p;
    assert_int_equal(uv_tcp_connect(&p.creq, &p.tcp, (struct sockaddr *)&sa, plain_connected), 0);
    run_until(&p.ended);
    uv_close((uv_handle_t *)&p.tcp, NULL);
    settle();
    assert_serving();
}

static void test_dial_errors(void **state)
{
    struct err err;
    struct dial_res r = {0};

    (void)state;
    /* nothing listens on port 1 */
    assert_int_equal(rft_dial(&loop, mgr_ctx, "127.0.0.1:1", NULL, RFT_KIND_RPC, NULL, 0, on_dial,
                              &r, NULL, &err),
                     0);
    run_until(&r.done);
    assert_true(r.status < 0);
    assert_true(rft_dial(&loop, mgr_ctx, "nonsense", NULL, RFT_KIND_RPC, NULL, 0, on_dial, &r, NULL,
                         &err) < 0);
    /* no CA and no pin */
    assert_true(
        rft_dial(&loop, pin_ctx, addr, NULL, RFT_KIND_JOIN, NULL, 0, on_dial, &r, NULL, &err) < 0);
    /* cancel */
    struct rft_dial *d = NULL;
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        rft_dial(&loop, mgr_ctx, addr, NULL, RFT_KIND_RPC, NULL, 0, on_dial, &r, &d, &err), 0);
    rft_dial_cancel(d);
    run_until(&r.done);
    assert_int_equal(r.status, -ECANCELED);
    settle();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_with_client_cert),
        cmocka_unit_test(test_join_without_cert_and_pinning),
        cmocka_unit_test(test_certificate_rejections),
        cmocka_unit_test(test_malformed_hellos),
        cmocka_unit_test(test_oversized_frame),
        cmocka_unit_test(test_garbage_instead_of_tls),
        cmocka_unit_test(test_dial_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
