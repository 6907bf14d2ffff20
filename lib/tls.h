/*
 * lib/tls.h - TLS over libuv TCP streams (OpenSSL with memory BIOs).
 *
 * A `struct tls_ctx` holds the configuration shared by many connections:
 * role (client or server), our certificate and key (optional for clients),
 * and the CA bundle peers are verified against. TLS 1.2 is the minimum; 1.3 is
 * negotiated when both sides have it.
 *
 * Verification:
 * - A server asks for a client certificate but does not require one
 *   (SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT): a certificate that is
 *   presented must chain to the CA, a missing one is left to the caller
 *   (tls_conn_peer() says whether there was one).
 * - A client verifies the server against the CA, or, when the context has no
 *   CA, against a pin given per connection: the sha256 digest of the DER
 *   encoding of the root certificate at the end of the chain the server sends
 *   (servers append their CA to the chain for this). The leaf must chain to
 *   that root; tls_conn_peer_root_pem() then returns it so the caller can
 *   trust it from then on (swarm join tokens carry this digest).
 *
 * Connections live on one libuv loop. Everything is callback driven:
 *   handshake_cb once (0 or a negative errno),
 *   read_cb for each chunk of plaintext while reading is on, then once with
 *     UV_EOF (peer closed) or a negative error,
 *   write callbacks once per tls_conn_write() (0 or error, also on close),
 *   close_cb once, after which the memory is gone.
 * Any callback may call tls_conn_close(). Back-pressure: tls_conn_pending()
 * is the number of encrypted bytes handed to the kernel socket but not yet
 * written; stop producing while it is large and resume from a write callback.
 */
#ifndef LIB_TLS_H
#define LIB_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

#define TLS_NAME_MAX   128
#define TLS_SHA256_LEN 32

struct tls_ctx;
struct tls_conn;

enum tls_role { TLS_CLIENT, TLS_SERVER };

/* PEM strings; cert_pem/key_pem may be NULL (a client without a certificate).
 * ca_pem may hold several certificates; NULL only for a client that pins. A
 * server with a CA sends it after its own certificate (for pinning clients). */
int tls_ctx_new(enum tls_role role, const char *ca_pem, const char *cert_pem, const char *key_pem,
                struct tls_ctx **ret, struct err *err);
struct tls_ctx *tls_ctx_free(struct tls_ctx *ctx);
/* Servers: make a client certificate mandatory at the handshake (the Engine
 * API with --tlsverify): a client without one fails the handshake itself. */
void tls_ctx_require_peer_cert(struct tls_ctx *ctx);

/* Identity of the peer's verified certificate (empty strings without one). */
struct tls_peer {
    bool has_cert;
    char cn[TLS_NAME_MAX];
    char ou[TLS_NAME_MAX];
    char serial[TLS_NAME_MAX]; /* upper-case hex, no separators */
};

typedef void (*tls_handshake_cb)(struct tls_conn *c, int status);
typedef void (*tls_read_cb)(struct tls_conn *c, const void *data, size_t len, int status);
typedef void (*tls_write_cb)(struct tls_conn *c, int status, void *arg);
typedef void (*tls_close_cb)(struct tls_conn *c);

/* Server side: accept one connection from a listening TCP handle and start
 * the handshake. */
int tls_conn_accept(uv_stream_t *listener, struct tls_ctx *ctx, tls_handshake_cb cb, void *data,
                    struct tls_conn **ret, struct err *err);
/* Client side: connect to "a.b.c.d:port" and handshake. pin_sha256 (32 bytes)
 * is required when ctx has no CA and ignored otherwise. On failure the
 * handshake callback reports it; the caller then closes the connection. */
int tls_conn_connect(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr,
                     const uint8_t *pin_sha256, tls_handshake_cb cb, void *data,
                     struct tls_conn **ret, struct err *err);

void *tls_conn_data(const struct tls_conn *c);
void tls_conn_set_data(struct tls_conn *c, void *data);
uv_loop_t *tls_conn_loop(const struct tls_conn *c);
const struct tls_peer *tls_conn_peer(const struct tls_conn *c);
/* Root of the chain a pinned server sent (malloc'd PEM), after a handshake
 * that verified a pin. -ENOENT otherwise. */
int tls_conn_peer_root_pem(const struct tls_conn *c, char **ret_pem);
/* Textual reason of the last failure (handshake or verification). */
const char *tls_conn_errmsg(const struct tls_conn *c);

/* Reading: the callback is replaced on every call. Data buffered while
 * reading was stopped is delivered (from the loop, not from this call). */
int tls_conn_read_start(struct tls_conn *c, tls_read_cb cb);
void tls_conn_read_stop(struct tls_conn *c);

/* Encrypt and queue len bytes (copied). cb may be NULL. -ENOTCONN before the
 * handshake has finished or after close. */
int tls_conn_write(struct tls_conn *c, const void *data, size_t len, tls_write_cb cb, void *arg);
size_t tls_conn_pending(const struct tls_conn *c);

/* Clean shutdown: close_notify, let queued writes drain, close the socket.
 * Safe to call more than once and from any callback; cb may be NULL. */
void tls_conn_close(struct tls_conn *c, tls_close_cb cb);

/* sha256 of the DER encoding of the first certificate in a PEM string. */
int tls_pem_sha256(const char *pem, uint8_t out[TLS_SHA256_LEN], struct err *err);

#endif
