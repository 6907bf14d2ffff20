/*
 * raft/internal.h - shared between the files of raft/ (never published).
 */
#ifndef RAFT_INTERNAL_H
#define RAFT_INTERNAL_H

#include <raft.h>
#include <raft/uv.h>

#include "lib/tls.h"

#include "raft/rft.h"

/* A RAFT hello was accepted: the handler owns conn (stopped reading, data
 * pointer free for its use). address is valid during the call. */
typedef void (*rft__raft_handler)(struct rft_port *p, struct tls_conn *conn, uint64_t id,
                                  const char *address, void *data);
void rft__port_set_raft_handler(struct rft_port *p, rft__raft_handler h, void *data);

/* Dial and exchange the hello; on success the raw connection (reading
 * stopped) plus any bytes that followed the status byte. */
typedef void (*rft__dial_raw_cb)(struct tls_conn *conn, const void *extra, size_t extra_len,
                                 int status, const struct err *err, void *data);
int rft__dial_raw(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr, const uint8_t *pin,
                  enum rft_kind kind, const void *body, size_t len, rft__dial_raw_cb cb, void *data,
                  struct rft_dial **ret, struct err *err);

/* The libraft transport over the cluster port. */
int rft__transport_init(struct raft_uv_transport *t, uv_loop_t *loop, struct rft_port *port,
                        struct tls_ctx *client_ctx);
void rft__transport_release(struct raft_uv_transport *t);
/* Is there a live inbound connection from raft id `id` (it is up and
 * talking to us)? */
bool rft__transport_peer_connected(struct raft_uv_transport *t, uint64_t id);

/* libc's syscall() and posix_fallocate() looked up for aio.c's versions
 * (io_destroy off the loop thread, zero-filled segments); called by
 * rft_open() so that aio.c is linked in. */
void rft__aio_init(void);

void rft__put_u32be(uint8_t *p, uint32_t v);
uint32_t rft__get_u32be(const uint8_t *p);

#endif
