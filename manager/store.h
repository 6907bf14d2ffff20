/*
 * manager/store.h - the replicated store of a swarm (cluster, nodes, services,
 * tasks, networks), its commands, and swarm ids.
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
typedef Shoal__Store__Service MgrService;
typedef Shoal__Store__Task MgrTask;
typedef Shoal__Store__Network MgrNetwork;
typedef Shoal__Store__TaskStatus MgrTaskStatus;
typedef Shoal__Store__UpdateStatus MgrUpdateStatus;

enum mgr_kind {
    MGR_KIND_CLUSTER = SHOAL__STORE__OBJECT_KIND__KIND_CLUSTER,
    MGR_KIND_NODE = SHOAL__STORE__OBJECT_KIND__KIND_NODE,
    MGR_KIND_REMOVED_NODE = SHOAL__STORE__OBJECT_KIND__KIND_REMOVED_NODE,
    MGR_KIND_SERVICE = SHOAL__STORE__OBJECT_KIND__KIND_SERVICE,
    MGR_KIND_TASK = SHOAL__STORE__OBJECT_KIND__KIND_TASK,
    MGR_KIND_NETWORK = SHOAL__STORE__OBJECT_KIND__KIND_NETWORK,
    MGR_N_KINDS,
};

#define MGR_ROLE_WORKER  SHOAL__STORE__NODE_ROLE__ROLE_WORKER
#define MGR_ROLE_MANAGER SHOAL__STORE__NODE_ROLE__ROLE_MANAGER

/* Task states in Docker's order (a task only moves forward). */
#define MGR_TASK_NEW       SHOAL__STORE__TASK_STATE__TASK_NEW
#define MGR_TASK_ALLOCATED SHOAL__STORE__TASK_STATE__TASK_ALLOCATED
#define MGR_TASK_PENDING   SHOAL__STORE__TASK_STATE__TASK_PENDING
#define MGR_TASK_ASSIGNED  SHOAL__STORE__TASK_STATE__TASK_ASSIGNED
#define MGR_TASK_ACCEPTED  SHOAL__STORE__TASK_STATE__TASK_ACCEPTED
#define MGR_TASK_PREPARING SHOAL__STORE__TASK_STATE__TASK_PREPARING
#define MGR_TASK_READY     SHOAL__STORE__TASK_STATE__TASK_READY
#define MGR_TASK_STARTING  SHOAL__STORE__TASK_STATE__TASK_STARTING
#define MGR_TASK_RUNNING   SHOAL__STORE__TASK_STATE__TASK_RUNNING
#define MGR_TASK_COMPLETE  SHOAL__STORE__TASK_STATE__TASK_COMPLETE
#define MGR_TASK_SHUTDOWN  SHOAL__STORE__TASK_STATE__TASK_SHUTDOWN
#define MGR_TASK_FAILED    SHOAL__STORE__TASK_STATE__TASK_FAILED
#define MGR_TASK_REJECTED  SHOAL__STORE__TASK_STATE__TASK_REJECTED
#define MGR_TASK_REMOVE    SHOAL__STORE__TASK_STATE__TASK_REMOVE
#define MGR_TASK_ORPHANED  SHOAL__STORE__TASK_STATE__TASK_ORPHANED
#define MGR_N_TASK_STATES  (MGR_TASK_ORPHANED + 1)

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

/* ---- services, tasks, networks ------------------------------------------
 *
 * What the store guarantees about them (apply and restore check it):
 * - ids are valid swarm ids; service and network names are unique and
 *   non-empty; every *_json field is "" or valid JSON of the documented shape
 *   (Service.spec_json, Task.spec_json and Network.spec_json are never "").
 * - A stored task always has a status (state NEW when the creator gave none);
 *   a service's update_status is NULL until one was written.
 * - Removing a service does not remove its tasks (the orchestrator does).
 *
 * ServiceUpdate and ServiceSetUpdateStatus set previous_spec_json to the
 * stored spec they replace (the command's previous_spec_json is ignored).
 * ServiceUpdate sets spec_version := index only when the spec's TaskTemplate,
 * EndpointSpec or Networks changed (JSON equality) and keep_spec_version is
 * false; otherwise tasks stay up to date (a scale restarts nothing). A
 * rollback (ServiceUpdate.rollback, or ServiceSetUpdateStatus with spec_json)
 * needs a previous spec ("service X does not have a previous spec", -EBUSY)
 * and its spec_json must be exactly the stored previous_spec_json (-EINVAL);
 * it swaps spec/previous spec and their versions, so tasks made from the
 * restored spec are up to date again. An automatic rollback takes the name
 * from the restored spec's "Name".
 *
 * A TaskBatch applies all of its ops or none (a malformed op, or a create
 * of an id that exists, fails the whole batch). Ops that do not apply are
 * skipped silently: any op on a missing task, a create for a missing service,
 * set_desired that does not move forward, assign of a task that has a node,
 * set_status/assign whose state is lower than the task's. An equal state
 * updates message and err, and container id, pid, exit code, port status when
 * the new value is set; the timestamp stays the one of entering the state.
 * Watches run after the whole batch is in the store, once per op that changed
 * a task, in op order (so old/new of one op may differ from the store's
 * current object when a later op changed the same task again).
 */

const MgrService *mgr_store_service(const struct mgr_store *s, const char *id);
/* Full id, else exact name, else unique id prefix. -ENOENT "service X not
 * found", -EINVAL "service X is ambiguous (N matches found)". */
int mgr_store_service_find(const struct mgr_store *s, const char *ref, const MgrService **ret,
                           struct err *err);
const MgrTask *mgr_store_task(const struct mgr_store *s, const char *id);
/* Full id, else unique id prefix. -ENOENT "task X not found", -EINVAL
 * "task X is ambiguous (N matches found)". */
int mgr_store_task_find(const struct mgr_store *s, const char *ref, const MgrTask **ret,
                        struct err *err);
/* The tasks of a service / on a node ordered by slot, node id, creation time,
 * id. *ret is a malloc'd array of borrowed pointers (never NULL on success,
 * even when *n == 0). 0 or -ENOMEM. */
int mgr_store_tasks_of_service(const struct mgr_store *s, const char *service_id,
                               const MgrTask ***ret, size_t *n);
int mgr_store_tasks_of_node(const struct mgr_store *s, const char *node_id, const MgrTask ***ret,
                            size_t *n);
const MgrNetwork *mgr_store_network(const struct mgr_store *s, const char *id);
/* Full id, else exact name, else unique id prefix. -ENOENT "network X not
 * found", -EINVAL "network X is ambiguous (N matches found)". */
int mgr_store_network_find(const struct mgr_store *s, const char *ref, const MgrNetwork **ret,
                           struct err *err);

/* Docker's lowercase name of a task state ("running"); "unknown" when out of
 * range. parse: 0, or -EINVAL for an unknown name. */
const char *mgr_task_state_str(int st);
int mgr_task_state_parse(const char *s, int *ret);

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

/* Deep copy of any protobuf-c message in one malloc'd block (msgcopy.c):
 * free with mgr_msg_free, never with protobuf_c_message_free_unpacked. */
void *mgr_msg_dup(const void *msg);
void mgr_msg_free(void *msg);

/* ---- API mapping --------------------------------------------------------- */

/* HTTP status for a store/manager error and the message as Docker words it
 * ("rpc error: code = Unknown desc = update out of sequence",
 * "rpc error: code = FailedPrecondition desc = ..."). */
int mgr_api_error(const struct err *e, char *msg, size_t msglen);

#endif
