/*
 * lib/tls.c - TLS over libuv TCP streams with OpenSSL memory BIOs.
 *
 * Ciphertext from the socket is pushed into rbio; OpenSSL's output is pulled
 * from wbio and written with uv_write. Memory BIOs never block, so SSL_write
 * on an established connection always takes the whole buffer; the only
 * WANT_READ we see is from the handshake and from SSL_read running dry.
 */
#include "lib/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK (64 * 1024)

struct tls_ctx {
    SSL_CTX *ssl_ctx;
    enum tls_role role;
    bool has_ca;
};

enum conn_state { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

struct tls_conn {
    uv_tcp_t tcp;
    uv_timer_t kick; /* delivers buffered plaintext after read_start */
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    SSL *ssl;
    BIO *rbio, *wbio;
    struct tls_ctx *ctx;
    enum conn_state state;
    bool reading;     /* the user wants plaintext */
    bool tcp_reading; /* uv_read_start is active */
    bool tcp_eof;     /* the socket reached EOF */
    bool final_sent;  /* read_cb got EOF/error: no more reads */
    bool pinned;
    int open_handles;
    size_t pending;
    uint8_t pin[TLS_SHA256_LEN];
    X509 *pinned_root;
    tls_handshake_cb hs_cb;
    tls_read_cb read_cb;
    tls_close_cb close_cb;
    void *data;
    struct tls_peer peer;
    char rbuf[READ_CHUNK];
    char plain[READ_CHUNK];
    char errmsg[256];
};

struct write_req {
    uv_write_t req;
    struct tls_conn *c;
    tls_write_cb cb;
    void *arg;
    size_t len;
    char data[];
};

static void conn_process(struct tls_conn *c);

static void ssl_errstr(char *out, size_t outlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200] = "";

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(out, outlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* ---- context ---------------------------------------------------------- */

static int load_ca(SSL_CTX *sctx, const char *ca_pem, bool add_chain, struct err *err)
{
    BIO *bio = BIO_new_mem_buf(ca_pem, -1);
    X509_STORE *store = SSL_CTX_get_cert_store(sctx);
    int n = 0;

    if (!bio)
        return err_set(err, -ENOMEM, "out of memory");
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        if (X509_STORE_add_cert(store, x) != 1) {
            X509_free(x);
            BIO_free(bio);
            return err_set(err, -EINVAL, "tls: cannot add CA certificate");
        }
        if (add_chain && n == 0)
            SSL_CTX_add1_chain_cert(sctx, x);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0)
        return err_set(err, -EINVAL, "tls: no certificate in the CA bundle");
    return 0;
}

static int load_cert_key(SSL_CTX *sctx, const char *cert_pem, const char *key_pem, struct err *err)
{
    char msg[256];
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = NULL;
    int rc = 0;

    BIO_free(bio);
    if (!x || SSL_CTX_use_certificate(sctx, x) != 1) {
        ssl_errstr(msg, sizeof(msg), "bad certificate");
        rc = err_set(err, -EINVAL, "tls: %s", msg);
        goto out;
    }
    bio = BIO_new_mem_buf(key_pem, -1);
    k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!k || SSL_CTX_use_PrivateKey(sctx, k) != 1 || SSL_CTX_check_private_key(sctx) != 1) {
        ssl_errstr(msg, sizeof(msg), "bad private key");
        rc = err_set(err, -EINVAL, "tls: %s", msg);
    }
out:
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int tls_ctx_new(enum tls_role role, const char *ca_pem, const char *cert_pem, const char *key_pem,
                struct tls_ctx **ret, struct err *err)
{
    struct tls_ctx *ctx;
    int rc;

    if ((cert_pem == NULL) != (key_pem == NULL))
        return err_set(err, -EINVAL, "tls: certificate and key go together");
    if (role == TLS_SERVER && (!cert_pem || !ca_pem))
        return err_set(err, -EINVAL, "tls: a server needs a certificate and a CA");
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return err_set(err, -ENOMEM, "out of memory");
    ctx->role = role;
    ctx->ssl_ctx = SSL_CTX_new(role == TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!ctx->ssl_ctx) {
        free(ctx);
        return err_set(err, -ENOMEM, "tls: SSL_CTX_new failed");
    }
    SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    if (role == TLS_SERVER)
        SSL_CTX_set_num_tickets(ctx->ssl_ctx, 0);
    if (ca_pem) {
        rc = load_ca(ctx->ssl_ctx, ca_pem, role == TLS_SERVER, err);
        if (rc < 0)
            goto fail;
        ctx->has_ca = true;
    }
    if (cert_pem) {
        rc = load_cert_key(ctx->ssl_ctx, cert_pem, key_pem, err);
        if (rc < 0)
            goto fail;
    }
    /* Servers: verify a presented client certificate, accept none. */
    SSL_CTX_set_verify(ctx->ssl_ctx, ctx->has_ca ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    *ret = ctx;
    return 0;
fail:
    tls_ctx_free(ctx);
    return rc;
}

void tls_ctx_require_peer_cert(struct tls_ctx *ctx)
{
    if (ctx && ctx->has_ca)
        SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
}

struct tls_ctx *tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx) {
        SSL_CTX_free(ctx->ssl_ctx);
        free(ctx);
    }
    return NULL;
}

int tls_pem_sha256(const char *pem, uint8_t out[TLS_SHA256_LEN], struct err *err)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned int n = 0;
    int rc = 0;

    BIO_free(bio);
    if (!x || X509_digest(x, EVP_sha256(), out, &n) != 1 || n != TLS_SHA256_LEN)
        rc = err_set(err, -EINVAL, "tls: not a PEM certificate");
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* ---- connection plumbing ---------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct tls_conn *c = h->data;

    if (--c->open_handles > 0)
        return;
    if (c->close_cb)
        c->close_cb(c);
    SSL_free(c->ssl); /* frees both BIOs */
    X509_free(c->pinned_root);
    free(c);
}

static void close_handles(struct tls_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->kick))
        uv_close((uv_handle_t *)&c->kick, on_handle_closed);
}

static void on_write_done(uv_write_t *req, int status)
{
    struct write_req *w = container_of(req, struct write_req, req);
    struct tls_conn *c = w->c;

    c->pending -= w->len;
    if (w->cb)
        w->cb(c, status, w->arg);
    free(w);
}

/* Move everything OpenSSL produced to the socket. The last write carries the
 * user's callback (if any). */
static int flush_out(struct tls_conn *c, tls_write_cb cb, void *arg)
{
    size_t n = BIO_ctrl_pending(c->wbio);
    struct write_req *w;
    uv_buf_t b;
    int rc;

    if (n == 0) {
        if (cb)
            return 1; /* nothing to write: the caller completes the request */
        return 0;
    }
    w = malloc(sizeof(*w) + n);
    if (!w)
        return -ENOMEM;
    if (BIO_read(c->wbio, w->data, (int)n) != (int)n) {
        free(w);
        return -EIO;
    }
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    w->len = n;
    b = uv_buf_init(w->data, (unsigned)n);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
    if (rc < 0) {
        free(w);
        return rc;
    }
    c->pending += n;
    return 0;
}

static void fail_conn(struct tls_conn *c, int status)
{
    if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) {
        c->state = ST_CLOSING;
        if (c->hs_cb)
            c->hs_cb(c, status);
        return;
    }
    if (c->state == ST_OPEN && !c->final_sent) {
        c->final_sent = true;
        if (c->reading && c->read_cb)
            c->read_cb(c, NULL, 0, status);
        else
            c->tcp_eof = true; /* reported on read_start */
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct tls_conn *c = h->data;

    (void)hint;
    *b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct tls_conn *c = s->data;

    (void)b;
    if (n == 0 || c->state == ST_CLOSING)
        return;
    if (n < 0) {
        uv_read_stop(s);
        c->tcp_reading = false;
        c->tcp_eof = true;
        conn_process(c); /* deliver what is left, then the end */
        if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) {
            snprintf(c->errmsg, sizeof(c->errmsg), "connection closed during TLS handshake");
            fail_conn(c, n == UV_EOF ? -ECONNRESET : (int)n);
        } else if (c->state == ST_OPEN && !c->final_sent) {
            fail_conn(c, n == UV_EOF ? UV_EOF : (int)n);
        }
        return;
    }
    if (BIO_write(c->rbio, c->rbuf, (int)n) != (int)n) {
        fail_conn(c, -ENOMEM);
        return;
    }
    conn_process(c);
}

static void name_field(X509_NAME *name, int nid, char *out, size_t outlen)
{
    out[0] = '\0';
    if (name && X509_NAME_get_text_by_NID(name, nid, out, (int)outlen) < 0)
        out[0] = '\0';
}

static void fill_peer(struct tls_conn *c, X509 *x)
{
    const ASN1_INTEGER *sn;
    BIGNUM *bn;

    memset(&c->peer, 0, sizeof(c->peer));
    if (!x)
        return;
    c->peer.has_cert = true;
    name_field(X509_get_subject_name(x), NID_commonName, c->peer.cn, sizeof(c->peer.cn));
    name_field(X509_get_subject_name(x), NID_organizationalUnitName, c->peer.ou,
               sizeof(c->peer.ou));
    sn = X509_get0_serialNumber(x);
    bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
    if (bn) {
        char *hex = BN_bn2hex(bn);
        if (hex) {
            snprintf(c->peer.serial, sizeof(c->peer.serial), "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
}

/* Client pinning: the root of the chain the server sent must have the pinned
 * digest, and the leaf must verify against that root alone. */
static int check_pin(struct tls_conn *c)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    X509 *root;
    X509_STORE *store = NULL;
    X509_STORE_CTX *sctx = NULL;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = -EPERM;

    if (!chain || !leaf || sk_X509_num(chain) < 1) {
        snprintf(c->errmsg, sizeof(c->errmsg), "server sent no certificate chain");
        return -EPERM;
    }
    root = sk_X509_value(chain, sk_X509_num(chain) - 1);
    if (X509_check_issued(root, root) != X509_V_OK ||
        X509_digest(root, EVP_sha256(), md, &mdlen) != 1 || mdlen != TLS_SHA256_LEN ||
        CRYPTO_memcmp(md, c->pin, TLS_SHA256_LEN) != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "server's root CA does not match the pinned digest");
        goto out;
    }
    store = X509_STORE_new();
    sctx = X509_STORE_CTX_new();
    if (!store || !sctx || X509_STORE_add_cert(store, root) != 1 ||
        X509_STORE_CTX_init(sctx, store, leaf, chain) != 1) {
        rc = -ENOMEM;
        goto out;
    }
    if (X509_verify_cert(sctx) != 1) {
        snprintf(c->errmsg, sizeof(c->errmsg), "server certificate: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
        goto out;
    }
    X509_up_ref(root);
    c->pinned_root = root;
    rc = 0;
out:
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

static void deliver(struct tls_conn *c)
{
    while (c->state == ST_OPEN && c->reading && !c->final_sent) {
        int n = SSL_read(c->ssl, c->plain, sizeof(c->plain));
        if (n > 0) {
            c->read_cb(c, c->plain, (size_t)n, 0);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) {
            (void)flush_out(c, NULL, NULL); /* e.g. key update replies */
            if (c->tcp_eof) {
                c->final_sent = true;
                c->read_cb(c, NULL, 0, UV_EOF);
            }
            return;
        }
        c->final_sent = true;
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->read_cb(c, NULL, 0, UV_EOF);
        } else {
            ssl_errstr(c->errmsg, sizeof(c->errmsg), "TLS read");
            c->read_cb(c, NULL, 0, -EPROTO);
        }
        return;
    }
}

static void conn_process(struct tls_conn *c)
{
    if (c->state == ST_HANDSHAKE) {
        int r = SSL_do_handshake(c->ssl);
        int frc = flush_out(c, NULL, NULL);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ && frc >= 0)
                return;
            if (c->ctx->role == TLS_CLIENT || SSL_get_verify_result(c->ssl) != X509_V_OK) {
                long v = SSL_get_verify_result(c->ssl);
                if (v != X509_V_OK)
                    snprintf(c->errmsg, sizeof(c->errmsg), "TLS handshake: peer certificate: %s",
                             X509_verify_cert_error_string(v));
                else
                    ssl_errstr(c->errmsg, sizeof(c->errmsg), "TLS handshake");
            } else {
                ssl_errstr(c->errmsg, sizeof(c->errmsg), "TLS handshake");
            }
            ERR_clear_error();
            fail_conn(c, -EPROTO);
            return;
        }
        if (c->pinned) {
            int rc = check_pin(c);
            if (rc < 0) {
                fail_conn(c, rc);
                return;
            }
        }
        fill_peer(c, SSL_get0_peer_certificate(c->ssl));
        c->state = ST_OPEN;
        c->hs_cb(c, 0);
    }
    if (c->state == ST_OPEN)
        deliver(c);
}

static struct tls_conn *conn_alloc(uv_loop_t *loop, struct tls_ctx *ctx, tls_handshake_cb cb,
                                   void *data)
{
    struct tls_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->ssl = SSL_new(ctx->ssl_ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        free(c);
        return NULL;
    }
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    c->ctx = ctx;
    c->hs_cb = cb;
    c->data = data;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->kick);
    c->tcp.data = c;
    c->kick.data = c;
    c->open_handles = 2;
    return c;
}

static int start_handshake(struct tls_conn *c)
{
    int rc;

    c->state = ST_HANDSHAKE;
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read);
    if (rc < 0)
        return rc;
    c->tcp_reading = true;
    conn_process(c);
    return 0;
}

int tls_conn_accept(uv_stream_t *listener, struct tls_ctx *ctx, tls_handshake_cb cb, void *data,
                    struct tls_conn **ret, struct err *err)
{
    struct tls_conn *c = conn_alloc(listener->loop, ctx, cb, data);
    int rc;

    if (!c)
        return err_set(err, -ENOMEM, "out of memory");
    SSL_set_accept_state(c->ssl);
    rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        c->state = ST_CLOSING;
        close_handles(c);
        return err_set(err, rc, "accept: %s", uv_strerror(rc));
    }
    *ret = c;
    rc = start_handshake(c);
    if (rc < 0) {
        fail_conn(c, rc);
        return 0; /* reported through the callback */
    }
    return 0;
}

static void on_connected(uv_connect_t *req, int status)
{
    struct tls_conn *c = req->data;

    if (c->state != ST_CONNECTING)
        return;
    if (status < 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "connect: %s", uv_strerror(status));
        fail_conn(c, status);
        return;
    }
    status = start_handshake(c);
    if (status < 0)
        fail_conn(c, status);
}

static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end;
    unsigned long port;

    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port == 0 || port > 65535)
        return -EINVAL;
    return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : -EINVAL;
}

int tls_conn_connect(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr,
                     const uint8_t *pin_sha256, tls_handshake_cb cb, void *data,
                     struct tls_conn **ret, struct err *err)
{
    struct sockaddr_in sa;
    struct tls_conn *c;
    int rc;

    if (ctx->role != TLS_CLIENT)
        return err_set(err, -EINVAL, "tls: not a client context");
    if (parse_addr(addr, &sa) < 0)
        return err_set(err, -EINVAL, "invalid address '%s' (want a.b.c.d:port)", addr);
    if (!ctx->has_ca && !pin_sha256)
        return err_set(err, -EINVAL, "tls: no CA and no pinned CA digest");
    c = conn_alloc(loop, ctx, cb, data);
    if (!c)
        return err_set(err, -ENOMEM, "out of memory");
    SSL_set_connect_state(c->ssl);
    if (!ctx->has_ca) {
        c->pinned = true;
        memcpy(c->pin, pin_sha256, TLS_SHA256_LEN);
        SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
    }
    c->state = ST_CONNECTING;
    c->connect_req.data = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&sa, on_connected);
    if (rc < 0) {
        c->state = ST_CLOSING;
        close_handles(c);
        return err_set(err, rc, "connect to %s: %s", addr, uv_strerror(rc));
    }
    *ret = c;
    return 0;
}

/* ---- accessors, reading, writing, closing ----------------------------- */

void *tls_conn_data(const struct tls_conn *c)
{
    return c->data;
}

void tls_conn_set_data(struct tls_conn *c, void *data)
{
    c->data = data;
}

uv_loop_t *tls_conn_loop(const struct tls_conn *c)
{
    return c->tcp.loop;
}

const struct tls_peer *tls_conn_peer(const struct tls_conn *c)
{
    return &c->peer;
}

const char *tls_conn_errmsg(const struct tls_conn *c)
{
    return c->errmsg[0] ? c->errmsg : "TLS error";
}

int tls_conn_peer_root_pem(const struct tls_conn *c, char **ret_pem)
{
    BIO *bio;
    char *p;
    long n;

    if (!c->pinned_root)
        return -ENOENT;
    bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_X509(bio, c->pinned_root) != 1) {
        BIO_free(bio);
        return -ENOMEM;
    }
    n = BIO_get_mem_data(bio, &p);
    *ret_pem = malloc((size_t)n + 1);
    if (!*ret_pem) {
        BIO_free(bio);
        return -ENOMEM;
    }
    memcpy(*ret_pem, p, (size_t)n);
    (*ret_pem)[n] = '\0';
    BIO_free(bio);
    return 0;
}

static void on_kick(uv_timer_t *t)
{
    struct tls_conn *c = t->data;

    if (c->state != ST_OPEN || !c->reading)
        return;
    if (c->final_sent && c->tcp_eof && !c->reading)
        return;
    deliver(c);
}

int tls_conn_read_start(struct tls_conn *c, tls_read_cb cb)
{
    c->read_cb = cb;
    if (c->state != ST_OPEN)
        return -ENOTCONN;
    c->reading = true;
    if (c->final_sent) {
        /* the end was seen while reading was off: report it from the loop */
        c->final_sent = false;
        c->tcp_eof = true;
    }
    if (!c->tcp_reading && !c->tcp_eof) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_tcp_read);
        if (rc < 0)
            return rc;
        c->tcp_reading = true;
    }
    if (SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(c->rbio) > 0 || c->tcp_eof)
        uv_timer_start(&c->kick, on_kick, 0, 0);
    return 0;
}

void tls_conn_read_stop(struct tls_conn *c)
{
    c->reading = false;
    if (c->tcp_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->tcp_reading = false;
    }
}

int tls_conn_write(struct tls_conn *c, const void *data, size_t len, tls_write_cb cb, void *arg)
{
    int rc;

    if (c->state != ST_OPEN)
        return -ENOTCONN;
    while (len > 0) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int n = SSL_write(c->ssl, data, chunk);
        if (n <= 0) {
            ssl_errstr(c->errmsg, sizeof(c->errmsg), "TLS write");
            return -EPROTO;
        }
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    rc = flush_out(c, cb, arg);
    if (rc == 1) {
        cb(c, 0, arg); /* zero-length write */
        return 0;
    }
    return rc;
}

size_t tls_conn_pending(const struct tls_conn *c)
{
    return c->pending;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct tls_conn *c = req->data;

    (void)status;
    close_handles(c);
}

void tls_conn_close(struct tls_conn *c, tls_close_cb cb)
{
    bool graceful;

    if (cb)
        c->close_cb = cb;
    if (c->state == ST_CLOSING &&
        (uv_is_closing((uv_handle_t *)&c->tcp) || c->shutdown_req.data == c))
        return;
    graceful = c->state == ST_OPEN;
    c->state = ST_CLOSING;
    c->reading = false;
    if (c->tcp_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->tcp_reading = false;
    }
    uv_timer_stop(&c->kick);
    if (graceful) {
        (void)SSL_shutdown(c->ssl);
        ERR_clear_error();
        if (flush_out(c, NULL, NULL) >= 0) {
            c->shutdown_req.data = c;
            if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) == 0)
                return;
        }
    }
    c->shutdown_req.data = c;
    close_handles(c);
}
