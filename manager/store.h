/*
 * manager/store.h - the replicated store of a swarm (cluster, nodes; services,
 * tasks and networks come next), its commands, and swarm ids.
 *
 * The store is a deterministic state machine. Every write is one encoded
 * StoreCommand (proto/store.proto) that the raft layer replicates and hands to
 * mgr_store_apply() on every manager, in log order, with the entry's index:
 *
 *     proposer:  mgr_cmd_*()  -> bytes  -> rft apply (replicated)
 *     every FSM: mgr_store_apply(store, index, bytes, len, &res, &err)
 *     snapshot:  mgr_store_snapshot() -> bytes;  mgr_store_restore(bytes)
 *
 * apply never reads the clock or a random source: the proposer puts the
 * timestamp (and any random token or id) in the command. A command that fails
 * validation changes nothing and returns the error text Docker uses; the
 * proposer reports it to its caller. Bytes from the log are hostile input:
 * apply rejects anything malformed with -EINVAL and never crashes.
 *
 * Objects are protobuf-c messages owned by the store. A `const` pointer
 * returned by a getter stays valid until the next apply/restore/free.
 * Every object carries Meta.version = the raft index of the command that last
 * changed it; versioned updates with another version fail with
 * "update out of sequence" (-ESTALE).
 *
 * Error codes from apply and the lookups (map them with mgr_api_error()):
 *   -ESTALE  update out of sequence        (Docker: 500, rpc code Unknown)
 *   -EBUSY   failed precondition (demote last manager, remove a live node)
 *   -ENOENT  no such object               (404)
 *   -EEXIST  already exists / name conflict (409)
 *   -EINVAL  malformed command or invalid value (400)
 *   -ENOMEM
 */
#ifndef MANAGER_STORE_H
#define MANAGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#include "proto/store.pb-c.h"

typedef Shoal__Store__Cluster MgrCluster;
typedef Shoal__Store__ClusterSpec MgrClusterSpec;
typedef Shoal__Store__Node MgrNode;
typedef Shoal__Store__NodeSpec MgrNodeSpec;
typedef Shoal__Store__NodeStatus MgrNodeStatus;
typedef Shoal__Store__NodeDescription MgrNodeDescription;
typedef Shoal__Store__ManagerStatus MgrManagerStatus;
typedef Shoal__Store__RemovedNode MgrRemovedNode;
typedef Shoal__Store__StoreCommand MgrCommand;

enum mgr_kind {
    MGR_KIND_CLUSTER = SHOAL__STORE__OBJECT_KIND__KIND_CLUSTER,
    MGR_KIND_NODE = SHOAL__STORE__OBJECT_KIND__KIND_NODE,
    MGR_KIND_REMOVED_NODE = SHOAL__STORE__OBJECT_KIND__KIND_REMOVED_NODE,
    MGR_N_KINDS,
};

#define MGR_ROLE_WORKER  SHOAL__STORE__NODE_ROLE__ROLE_WORKER
#define MGR_ROLE_MANAGER SHOAL__STORE__NODE_ROLE__ROLE_MANAGER

/* ---- ids ---------------------------------------------------------------- */

#define MGR_ID_LEN 25

/* 25 lowercase base36 chars of 128 random bits, zero-padded (node, cluster,
 * later service/task/network ids). */
int mgr_id_new(char out[MGR_ID_LEN + 1]);
bool mgr_id_valid(const char *s);
/* The raft id of a node: the first 8 bytes of sha256(node id), never 0.
 * Check mgr_store_raft_id_in_use() at join: on a collision pick another
 * (mgr_raft_id_next()). */
uint64_t mgr_raft_id_from_node_id(const char *node_id);
uint64_t mgr_raft_id_next(uint64_t raft_id);
/* Lowercase base36 of a big-endian unsigned number, left-padded with '0' to
 * `width` chars. Returns 0, or -ENOSPC when the number needs more than
 * `width` chars. out needs width + 1 bytes. */
int mgr_base36(const uint8_t *bytes, size_t n, char *out, size_t width);

/* ---- store -------------------------------------------------------------- */

struct mgr_store;

enum mgr_change { MGR_CHANGE_CREATE, MGR_CHANGE_UPDATE, MGR_CHANGE_DELETE };

/* Called after each applied change, when the store already holds the new
 * state. old is NULL for a create, new is NULL for a delete. Both objects are
 * valid only during the call. A callback must not apply or restore. */
typedef void (*mgr_watch_cb)(void *ud, enum mgr_kind kind, enum mgr_change change,
                             const void *old_obj, const void *new_obj, uint64_t index);

struct mgr_apply_result {
    bool duplicate;          /* request id seen before: nothing applied */
    char id[MGR_ID_LEN + 1]; /* the object created/changed ("" if none) */
};

struct mgr_store *mgr_store_new(void);
struct mgr_store *mgr_store_free(struct mgr_store *s);

/* Apply one encoded StoreCommand at raft index `index` (> 0). res may be NULL. */
int mgr_store_apply(struct mgr_store *s, uint64_t index, const void *cmd, size_t len,
                    struct mgr_apply_result *res, struct err *err);
/* Index of the last applied (or restored) entry. */
uint64_t mgr_store_last_index(const struct mgr_store *s);

/* The whole store as StoreSnapshot bytes (malloc'd; deterministic). */
int mgr_store_snapshot(const struct mgr_store *s, void **ret_buf, size_t *ret_len, struct err *err);
/* Replace everything with a snapshot. On error the store is unchanged. Watches
 * stay registered but are not called (subscribers rebuild from the store). */
int mgr_store_restore(struct mgr_store *s, const void *buf, size_t len, struct err *err);

/* Register a watch for one kind (or MGR_N_KINDS for all). Returns a handle > 0
 * or -ENOMEM. */
int mgr_store_watch(struct mgr_store *s, enum mgr_kind kind, mgr_watch_cb cb, void *ud);
void mgr_store_unwatch(struct mgr_store *s, int handle);

/* ---- reads -------------------------------------------------------------- */

/* The cluster object, NULL before ClusterCreate. */
const MgrCluster *mgr_store_cluster(const struct mgr_store *s);
/* Generic: exact id; NULL if absent. */
const void *mgr_store_get(const struct mgr_store *s, enum mgr_kind kind, const char *id);
size_t mgr_store_count(const struct mgr_store *s, enum mgr_kind kind);
/* The i-th object of a kind in id order (i < count). */
const void *mgr_store_at(const struct mgr_store *s, enum mgr_kind kind, size_t i);

const MgrNode *mgr_store_node(const struct mgr_store *s, const char *id);
/* Docker's lookup of a node reference: full id, else exact name (Spec.Name or
 * hostname), else unique id prefix. -ENOENT "node X not found",
 * -EINVAL "node X is ambiguous (N matches found)". */
int mgr_store_node_find(const struct mgr_store *s, const char *ref, const MgrNode **ret,
                        struct err *err);
/* The node's name as Docker shows it: Spec.Name, else Description.Hostname. */
const char *mgr_node_name(const MgrNode *n);
size_t mgr_store_manager_count(const struct mgr_store *s); /* Spec.Role == manager */
bool mgr_store_node_removed(const struct mgr_store *s, const char *node_id);
bool mgr_store_raft_id_in_use(const struct mgr_store *s, uint64_t raft_id);

/* `docker node ls -f` filters. Keys: id (prefix), name (prefix of the node
 * name), role (manager|worker), membership (accepted|pending), label (engine
 * labels), node.label (node spec labels); label values are "key" or
 * "key=value". Values of one key are OR'ed, keys are AND'ed. */
struct mgr_node_filter {
    const char *key;
    const char *value;
};
/* Checks filter keys and values: -EINVAL "invalid filter 'x'",
 * "Invalid role filter: 'x'", "Invalid membership filter: 'x'". */
int mgr_node_filter_check(const struct mgr_node_filter *f, size_t n, struct err *err);
bool mgr_node_matches(const MgrNode *node, const struct mgr_node_filter *f, size_t n);
/* Nodes matching (all when n == 0), in id order; *ret is a malloc'd array of
 * borrowed pointers. */
int mgr_store_node_list(const struct mgr_store *s, const struct mgr_node_filter *f, size_t n,
                        const MgrNode ***ret, size_t *ret_count, struct err *err);

/* ---- commands (proposer side) ------------------------------------------- */

/* Pack a command; fills request_id (16 random bytes) when it is empty and
 * timestamp_ns when it is 0. *ret_buf is malloc'd, padded with zeros to a
 * multiple of 8 bytes (*ret_len includes the padding; apply accepts it). */
int mgr_cmd_pack(MgrCommand *cmd, void **ret_buf, size_t *ret_len, struct err *err);
/* Decode for inspection (tests, the raft layer): free with mgr_cmd_free(). */
MgrCommand *mgr_cmd_unpack(const void *buf, size_t len);
void mgr_cmd_free(MgrCommand *cmd);

/* Fill in Docker's defaults for zero fields (name "default", history 5,
 * snapshot interval 10000, trailing 500, election 10, heartbeat tick 1,
 * heartbeat period 5 s, cert expiry 90 days). Strings stay borrowed. */
void mgr_cluster_spec_defaults(MgrClusterSpec *spec);

/* Deep copy of any store message (pack + unpack): free with mgr_msg_free. */
void *mgr_msg_dup(const void *msg);
void mgr_msg_free(void *msg);

/* ---- API mapping --------------------------------------------------------- */

/* HTTP status for a store/manager error and the message as Docker words it
 * ("rpc error: code = Unknown desc = update out of sequence",
 * "rpc error: code = FailedPrecondition desc = ..."). */
int mgr_api_error(const struct err *e, char *msg, size_t msglen);

#endif
