/*
 * raft/rft.h - the cluster port (mutual TLS, framed channels) and the
 * replicated log (libraft 0.15 with its uv disk backend and our TLS
 * transport). Generic: commands are opaque bytes handed to FSM callbacks.
 *
 * Everything runs on one libuv loop; no function is thread safe.
 *
 * ---- Cluster port wire format --------------------------------------------
 * TCP + TLS (1.2 minimum). After the handshake the client sends one hello
 *   [u32 BE length n][u8 kind][n-1 bytes body]     (n <= 1 + RFT_HELLO_MAX)
 * and waits for one status byte from the server: 0 accepted, 1 refused
 * (after a refusal, or a malformed/oversized/unknown hello, the server
 * closes). Nothing else may be sent before the status byte.
 * Kinds and who may use them:
 *   RAFT    body = [u64 BE raft id][address bytes]; certificate with OU
 *           swarm-manager, not revoked, and verify_raft_peer(cn, ou, id) true.
 *           Then the connection carries libraft's byte stream.
 *   JOIN    any body; no certificate needed. Handed to the JOIN handler.
 *   RPC     certificate with OU swarm-manager or swarm-worker, not revoked.
 *   SESSION same as RPC.
 * After an accepted non-RAFT hello both sides exchange frames:
 *   [u32 BE length][payload], length <= max_frame (default 16 MiB).
 */
#ifndef RAFT_RFT_H
#define RAFT_RFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"
#include "lib/tls.h"

#define RFT_OU_MANAGER "swarm-manager"
#define RFT_OU_WORKER  "swarm-worker"
#define RFT_HELLO_MAX  4096
#define RFT_MAX_FRAME  (16u * 1024 * 1024)
#define RFT_ADDR_MAX   64
#define RFT_REQID_LEN  16

enum rft_kind { RFT_KIND_RAFT = 1, RFT_KIND_JOIN = 2, RFT_KIND_RPC = 3, RFT_KIND_SESSION = 4 };

/* ---- framed channels ---------------------------------------------------- */

struct rft_chan;
/* One complete frame; data is valid during the call only. */
typedef void (*rft_chan_msg_cb)(struct rft_chan *ch, const void *data, size_t len);
/* Called once when the channel is finished: 0 after rft_chan_close, UV_EOF
 * when the peer closed, else a negative error (-EMSGSIZE: oversized frame).
 * The channel is freed after this returns. */
typedef void (*rft_chan_close_cb)(struct rft_chan *ch, int status);

/* Start delivering frames (buffered frames are delivered from the loop). */
int rft_chan_start(struct rft_chan *ch, rft_chan_msg_cb msg_cb, rft_chan_close_cb close_cb,
                   void *data);
void *rft_chan_data(const struct rft_chan *ch);
const struct tls_peer *rft_chan_peer(const struct rft_chan *ch);
void rft_chan_set_max_frame(struct rft_chan *ch, size_t max);
/* Queue one frame (copied). -EMSGSIZE over max_frame, -ENOTCONN when closed. */
int rft_chan_send(struct rft_chan *ch, const void *data, size_t len);
/* Bytes queued to the socket and not yet written (back-pressure). */
size_t rft_chan_pending(const struct rft_chan *ch);
void rft_chan_close(struct rft_chan *ch);

/* ---- the listener ----------------------------------------------------- */

struct rft_port;
struct rft_port_ops {
    void *data;
    /* RAFT hello: does this certificate (CN, OU) own raft id `id`? */
    bool (*verify_raft_peer)(void *data, const char *cn, const char *ou, uint64_t id);
    /* Certificate refused although it chains to the CA (node removed). */
    bool (*is_revoked)(void *data, const char *serial, const char *cn);
};
/* Handler for JOIN/RPC/SESSION: it owns ch from now on (must start or close
 * it). peer->has_cert is false only for JOIN. body is the hello body. */
typedef void (*rft_port_handler)(struct rft_port *p, struct rft_chan *ch, const void *body,
                                 size_t len, void *data);

/* Listen on "a.b.c.d:port" (port 0 = ephemeral: see rft_port_address). The
 * port keeps a reference to srv (server context) until freed. */
int rft_port_open(uv_loop_t *loop, const char *addr, struct tls_ctx *srv,
                  const struct rft_port_ops *ops, struct rft_port **ret, struct err *err);
int rft_port_set_handler(struct rft_port *p, enum rft_kind kind, rft_port_handler h, void *data);
void rft_port_set_max_frame(struct rft_port *p, size_t max);
/* Actual bound address "a.b.c.d:port". */
const char *rft_port_address(const struct rft_port *p);
/* Counters for tests/metrics. */
struct rft_port_stats {
    uint64_t accepted, refused, handshakes_failed;
};
void rft_port_stats(const struct rft_port *p, struct rft_port_stats *ret);
/* Stop listening and drop connections still in handshake/hello. Channels
 * already handed out stay with their owners. cb may be NULL. */
void rft_port_close(struct rft_port *p, void (*cb)(void *data), void *data);

/* ---- dialing ---------------------------------------------------------- */

struct rft_dial;
/* status 0: ch is ours (start or close it). Otherwise ch is NULL and err
 * says why (-EACCES refused by the server, -ECANCELED, TLS errors...). */
typedef void (*rft_dial_cb)(struct rft_chan *ch, int status, const struct err *err, void *data);
/* ctx: client context (our cert, or none for JOIN). pin_sha256: see
 * tls_conn_connect. ret (may be NULL) allows rft_dial_cancel until cb runs. */
int rft_dial(uv_loop_t *loop, struct tls_ctx *ctx, const char *addr, const uint8_t *pin_sha256,
             enum rft_kind kind, const void *body, size_t len, rft_dial_cb cb, void *data,
             struct rft_dial **ret, struct err *err);
/* The callback then runs (from the loop) with -ECANCELED. */
void rft_dial_cancel(struct rft_dial *d);
/* After a pinned dial: the CA the server proved (malloc'd PEM). */
int rft_chan_peer_root_pem(const struct rft_chan *ch, char **ret_pem);

/* ---- the replicated log ----------------------------------------------- */

struct rft;

struct rft_fsm {
    void *data;
    /* Apply one committed command, on every node, in log order. Must be
     * deterministic; report business errors through *ret_result and return 0
     * (non-zero stalls the log). *ret_result goes to the proposer's callback
     * on the leader and is dropped (free_result) elsewhere. */
    int (*apply)(void *data, const void *buf, size_t len, void **ret_result);
    void (*free_result)(void *data, void *result);
    /* Serialise the whole state into a malloc'd buffer. */
    int (*snapshot)(void *data, void **ret_buf, size_t *ret_len);
    /* Replace the whole state (buf borrowed). */
    int (*restore)(void *data, const void *buf, size_t len);
};

enum rft_role { RFT_ROLE_STANDBY = 0, RFT_ROLE_VOTER = 1, RFT_ROLE_SPARE = 2 };
enum rft_state { RFT_UNAVAILABLE = 0, RFT_FOLLOWER, RFT_CANDIDATE, RFT_LEADER };

struct rft_server {
    uint64_t id;
    char address[RFT_ADDR_MAX];
    enum rft_role role;
    bool reachable; /* leader's view (see rft_remove); always true for self */
};

/* Fired after a barrier once this node leads (ready=true), and when it stops
 * leading (ready=false). */
typedef void (*rft_leader_cb)(struct rft *r, bool ready, void *data);

struct rft_opts {
    const char *data_dir; /* must exist */
    uint64_t raft_id;     /* > 0, never reused */
    const char *address;  /* "a.b.c.d:port" of this node's cluster port */
    struct rft_fsm fsm;
    struct rft_port *port;      /* our listener: RAFT connections arrive here */
    struct tls_ctx *client_ctx; /* our manager certificate, for dialing peers */
    rft_leader_cb leader_cb;
    void *cb_data;
    /* tuning, 0 = default */
    unsigned election_timeout_ms; /* 1000 */
    unsigned heartbeat_ms;        /* 100 */
    unsigned snapshot_threshold;  /* 10000 */
    unsigned snapshot_trailing;   /* 1024 */
    unsigned dedupe_window;       /* 16384 request ids remembered */
    unsigned connect_retry_ms;    /* 250 */
    /* `swarm init --force-new-cluster`: rewrite the configuration to this
     * node as the only voter, keeping log and snapshot. */
    bool force_new_cluster;
};

int rft_open(uv_loop_t *loop, const struct rft_opts *opts, struct rft **ret, struct err *err);
/* First manager: a configuration with this node as the only voter. Returns
 * -EEXIST when the data dir already holds state (not an error at start-up).
 * Call before rft_start. */
int rft_bootstrap(struct rft *r, struct err *err);
int rft_start(struct rft *r, struct err *err);
/* cb fires once; after it the memory is gone. */
void rft_close(struct rft *r, void (*cb)(void *data), void *data);

/* Status 0: committed and applied locally, result from fsm.apply.
 * -EALREADY: this request id was applied before (result NULL).
 * ERR_NOT_LEADER: lost leadership, outcome unknown (retry with the same id).
 * The callback may be NULL. */
typedef void (*rft_propose_cb)(struct rft *r, int status, void *result, void *data);
/* reqid: RFT_REQID_LEN bytes or NULL (a random one). Leader only:
 * ERR_NOT_LEADER with the leader's address in err otherwise. */
int rft_propose(struct rft *r, const uint8_t *reqid, const void *cmd, size_t len, rft_propose_cb cb,
                void *data, struct err *err);

/* Entries between snapshots and entries kept behind each snapshot for slow
 * followers (swarm's SnapshotInterval / LogEntriesForSlowFollowers); 0
 * keeps the current value. Takes effect at the next snapshot decision. */
void rft_set_snapshot(struct rft *r, unsigned threshold, unsigned trailing);

/* Membership; leader only; one change at a time (-EBUSY otherwise). */
typedef void (*rft_change_cb)(struct rft *r, int status, const struct err *err, void *data);
int rft_add_nonvoter(struct rft *r, uint64_t id, const char *addr, rft_change_cb cb, void *data,
                     struct err *err);
int rft_promote(struct rft *r, uint64_t id, rft_change_cb cb, void *data, struct err *err);
int rft_demote(struct rft *r, uint64_t id, rft_change_cb cb, void *data, struct err *err);
int rft_remove(struct rft *r, uint64_t id, rft_change_cb cb, void *data, struct err *err);
/* id 0: any caught-up voter. cb status 0 when another node now leads. */
int rft_transfer_leadership(struct rft *r, uint64_t id, rft_change_cb cb, void *data,
                            struct err *err);

enum rft_state rft_state(const struct rft *r);
bool rft_ready_as_leader(const struct rft *r);
/* -ENOENT when no leader is known. addr gets RFT_ADDR_MAX bytes. */
int rft_leader(const struct rft *r, uint64_t *ret_id, char *ret_addr);
/* malloc'd array */
int rft_configuration(const struct rft *r, struct rft_server **ret, size_t *ret_n);
uint64_t rft_id(const struct rft *r);
uint64_t rft_last_applied(const struct rft *r);
uint64_t rft_last_index(const struct rft *r);
/* Inside fsm.apply: the raft log index of the entry being applied (0
 * elsewhere). The same on every node, so it can serve as an object version. */
uint64_t rft_apply_index(const struct rft *r);
/* This node is a voter in a committed configuration (a joining manager is
 * a full member from then on). */
bool rft_is_voter(const struct rft *r);

/* RAFT_* code to our -errno (exported for tests). */
int rft_errno(int raft_code);

#endif
