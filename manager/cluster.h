/*
 * manager/cluster.h - the swarm runtime of one shoald: local swarm state on
 * disk, role (worker or manager), the cluster port, raft + the store FSM on
 * managers, the join exchange (server and client), follower -> leader write
 * forwarding, and agent sessions with heartbeats (dispatcher on the leader).
 *
 * One object per daemon, created at start-up and kept for the whole process
 * (it is never freed while the loop runs; mgr_cluster_shutdown closes its
 * handles). Everything runs on the daemon's loop; nothing is thread safe.
 *
 * State on disk, <data-root>/swarm/:
 *   state.json      node id, cluster id, role, raft id, addresses, managers
 *   ca.pem          the swarm's root certificate
 *   node-key.pem    this node's key, node-cert.pem its certificate
 *   raft/           libraft's log and snapshots (managers)
 *
 * Asynchronous operations report through a mgr_cluster_cb that runs exactly
 * once (from the loop) when they returned 0; a negative return means the
 * callback never runs and err says why. Error codes: ERR_NOT_MANAGER (503,
 * worker), ERR_NOT_LEADER (503, no reachable leader), -EEXIST/-EBUSY/-EINVAL
 * and the store's codes (mgr_api_error gives Docker's wording).
 */
#ifndef MANAGER_CLUSTER_H
#define MANAGER_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

#include "manager/json.h"
#include "manager/store.h"

#define MGR_DEFAULT_LISTEN_ADDR "0.0.0.0:2377"
#define MGR_MSG_NOT_MANAGER                                                                        \
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "      \
    "state. Please run this command on a manager node or promote the current node to a manager."
#define MGR_MSG_ALREADY_IN_SWARM                                                                   \
    "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and "    \
    "join another one."
#define MGR_MSG_NOT_IN_SWARM "This node is not part of a swarm"
#define MGR_MSG_LEAVE_MANAGER                                                                      \
    "You are attempting to leave the swarm on a node that is participating as a manager. "         \
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "    \
    "this message."
#define MGR_MSG_NO_LEADER                                                                          \
    "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too "   \
    "few managers are online. Make sure more than half of the managers are online."

/* The node's task agent (worker/), driven by the cluster runtime. */
struct mgr_agent_ops {
    void *ud;
    /* tasks for this node: {"full":bool,"tasks":[...],"removed":[...]} (borrowed) */
    void (*assign)(void *ud, json_t *msg);
    /* whether a dispatcher takes status reports now (session up, or this node
     * leads); node_id is this node's id */
    void (*session)(void *ud, bool up, const char *node_id);
    /* the node left the swarm: its task containers go */
    void (*left)(void *ud);
    /* service logs: a {"t":"logs"} or {"t":"logstop"} request from the leader
     * (borrowed; answers go through mgr_cluster_agent_send), or NULL when the
     * session ended (stop every log stream). On the leader it also gets the
     * requests follower managers proxy over their RPC channel: the same kinds
     * carrying "peer" (an id > 0; answers go through mgr_cluster_peer_send),
     * and {"t":"peergone", peer} when that channel closed. */
    void (*logs)(void *ud, json_t *msg);
};

struct mgr_cluster_opts {
    uv_loop_t *loop;
    const char *data_root;
    const char *listen_addr;    /* NULL: the request's, else 0.0.0.0:2377 */
    const char *advertise_addr; /* NULL: the request's, else derived */
    unsigned heartbeat_ms;      /* agent heartbeat period; 0 = 2000 */
    unsigned heartbeat_grace;   /* missed periods before Down; 0 = 3 */
    const char *engine_version;
    struct mgr_agent_ops agent; /* all NULL: no tasks run here */
};

enum mgr_local_state {
    MGR_LOCAL_INACTIVE,
    MGR_LOCAL_PENDING,
    MGR_LOCAL_ACTIVE,
    MGR_LOCAL_ERROR,
};

struct mgr_cluster;

/* Create the runtime; if <data-root>/swarm/state.json exists, rejoin the
 * swarm (port, raft replay, agent). */
int mgr_cluster_open(const struct mgr_cluster_opts *o, struct mgr_cluster **ret, struct err *err);
/* Close raft, the port and every channel (daemon exit). */
void mgr_cluster_shutdown(struct mgr_cluster *c);

enum mgr_local_state mgr_cluster_state(const struct mgr_cluster *c);
const char *mgr_cluster_state_str(const struct mgr_cluster *c);
/* Active and running as a manager (holding the store). */
bool mgr_cluster_is_manager(const struct mgr_cluster *c);
const char *mgr_cluster_node_id(const struct mgr_cluster *c);
/* The replicated store (managers only, else NULL). */
const struct mgr_store *mgr_cluster_store(const struct mgr_cluster *c);
/* The Swarm section of GET /info (new reference). */
json_t *mgr_cluster_info_json(const struct mgr_cluster *c);
/* Live leader/reachability view for mgr_json_node (ctx valid while c is). */
void mgr_cluster_json_ctx(struct mgr_cluster *c, struct mgr_json_ctx *ctx);

/* status 0: id = the node id (init) or the object id a write touched. */
typedef void (*mgr_cluster_cb)(int status, const struct err *err, const char *id, void *data);

int mgr_cluster_init(struct mgr_cluster *c, const struct mgr_swarm_init_req *req, mgr_cluster_cb cb,
                     void *data, struct err *err);
int mgr_cluster_join(struct mgr_cluster *c, const struct mgr_swarm_join_req *req, mgr_cluster_cb cb,
                     void *data, struct err *err);
int mgr_cluster_leave(struct mgr_cluster *c, bool force, mgr_cluster_cb cb, void *data,
                      struct err *err);
/* Replicate one store command (packed here; request id and timestamp filled
 * in). On a follower the command is forwarded to the leader. */
int mgr_cluster_write(struct mgr_cluster *c, MgrCommand *cmd, mgr_cluster_cb cb, void *data,
                      struct err *err);

/* Task status from this node's agent (borrowed JSON array, see
 * manager/dispatcher.h); dropped when no dispatcher is reachable (the agent
 * reports everything again when its session comes back). */
void mgr_cluster_report(struct mgr_cluster *c, json_t *updates);

/* ---- service logs (node/api_service_logs.c) ---- */

/* Agent side: send msg (stolen) to the leader on this node's session;
 * -ENOTCONN without a session, -ENOBUFS while too much is queued. */
int mgr_cluster_agent_send(struct mgr_cluster *c, json_t *msg);
/* Leader side: send msg (borrowed) to another node's agent session;
 * ERR_NOT_LEADER when this manager does not lead, -ENOTCONN when the node
 * has no session. */
int mgr_cluster_send_to_node(struct mgr_cluster *c, const char *node_id, json_t *msg);
/* Leader side: where {"t":"loglines"} / {"t":"logend"} frames from agent
 * sessions go (msg borrowed); msg NULL: node_id's session ended. */
typedef void (*mgr_cluster_log_fn)(void *ud, const char *node_id, json_t *msg);
void mgr_cluster_set_log_sink(struct mgr_cluster *c, mgr_cluster_log_fn fn, void *ud);

/* Proxying from a follower manager to the leader over the RPC channel that
 * carries forwarded writes (frames well below RFT_MAX_FRAME):
 *   follower -> leader {"t":"logs", req, ...} / {"t":"logstop", req}
 *   leader -> follower {"t":"loglines", req, lines} ... {"t":"logend", req
 *                      [, error]} */
/* This manager leads and its dispatcher runs (agent sessions reach it). */
bool mgr_cluster_is_leader(const struct mgr_cluster *c);
/* Follower side: send msg (stolen) to the leader, dialing it when needed;
 * ERR_NOT_LEADER when no other node is known to lead. */
int mgr_cluster_send_to_leader(struct mgr_cluster *c, json_t *msg);
/* Follower side: where the leader's answers go (msg borrowed); msg NULL: the
 * channel to the leader dropped, every request sent on it is over. */
typedef void (*mgr_cluster_logfwd_fn)(void *ud, json_t *msg);
void mgr_cluster_set_logfwd_sink(struct mgr_cluster *c, mgr_cluster_logfwd_fn fn, void *ud);
/* Leader side: answer the follower behind peer (msg stolen); -ENOTCONN when
 * its channel is gone, -ENOBUFS while too much is queued to it. */
int mgr_cluster_peer_send(struct mgr_cluster *c, uint64_t peer, json_t *msg);

#endif
