/*
 * scheduler/scheduler.h - decide which node runs which task.
 *
 * A pure decision engine (no I/O, no clock, no libuv, no store access): the
 * manager passes a read-only snapshot of the nodes and one service's
 * requirements, and gets back a node for each task to place. Every decision
 * can be replayed in a unit test from its inputs alone.
 *
 * Placement follows swarmkit's scheduler:
 *   1. Filters, per node, stopping at the first failure (this order also
 *      decides which failure a node is counted under in the explanation):
 *      ready (Status ready and Availability active), resources (CPU and
 *      memory reservations), constraints, platform, host-mode ports, max
 *      replicas per node.
 *   2. Spread: each task goes to the eligible node holding the fewest tasks
 *      of the service, ties broken by fewest tasks in total, then by node id
 *      (strcmp), so the result is deterministic. Counts and reservations are
 *      updated as tasks are placed, so a batch of many tasks is spread in one
 *      pass (O(n_tasks * depth * log n_nodes)).
 *   3. Placement preferences (Placement.Preferences[].Spread): each
 *      descriptor ("node.labels.X" or "engine.labels.X") adds one level of a
 *      tree; tasks are first balanced across the values of the first label
 *      (fewest tasks of the service in the subtree wins; nodes lacking the
 *      label form the "" group), then of the next label inside that group,
 *      and finally across nodes as in 2. Group counts include tasks on nodes
 *      that are not eligible (as swarmkit does).
 * A task that fits nowhere is not an error: it gets node -1 and the
 * explanation is written to @reason, in Docker's words:
 *   "no suitable node (insufficient resources on 3 nodes; scheduling
 *    constraints not satisfied on 2 nodes)"   (most frequent failure first)
 *   "no suitable node"                         (no node at all)
 *
 * Constraints follow Docker (swarmkit manager/constraint): "key==value" or
 * "key!=value"; keys node.id, node.hostname, node.ip (address or CIDR),
 * node.role (manager|worker), node.platform.os, node.platform.arch,
 * node.labels.<label>, engine.labels.<label>. Key prefixes and values compare
 * case-insensitively, label names case-sensitively; a missing label or
 * attribute is "" (so "!=" matches it and "==" does not). An unknown key
 * parses but matches no node.
 *
 * Threading: no global state; every function is reentrant.
 * Ownership: everything passed in is borrowed for the call only.
 * Errors: 0 (or a count) or a negative errno code; a non-NULL err receives a
 *   one-line message fit for an API reply.
 */
#ifndef SCHEDULER_SCHEDULER_H
#define SCHEDULER_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err; /* lib/err.h */

/* Most placement preferences (tree levels) one request may carry. */
#define SCHED_MAX_SPREAD 32

/* Spec.Availability */
enum sched_availability {
    SCHED_AVAIL_ACTIVE = 0,
    SCHED_AVAIL_PAUSE = 1,
    SCHED_AVAIL_DRAIN = 2,
};

/* The filters, in pipeline order; SCHED_FILTER_OK means "passes all". */
enum sched_filter {
    SCHED_FILTER_OK = 0,
    SCHED_FILTER_READY,        /* not ready, paused or drained */
    SCHED_FILTER_RESOURCES,    /* reservations do not fit */
    SCHED_FILTER_CONSTRAINTS,  /* Placement.Constraints not satisfied */
    SCHED_FILTER_PLATFORM,     /* Placement.Platforms: no match */
    SCHED_FILTER_HOST_PORT,    /* a host-mode published port is in use */
    SCHED_FILTER_MAX_REPLICAS, /* Placement.MaxReplicas reached */
    SCHED_N_FILTERS,
};

/* A label: Spec.Labels (node.labels.X) or Description.Engine.Labels. */
struct sched_label {
    const char *key;
    const char *value;
};

/* A published port (Endpoint.Ports[] with PublishMode "host"). */
struct sched_port {
    const char *proto; /* "tcp" | "udp" | "sctp"; NULL means "tcp" */
    uint32_t port;     /* PublishedPort; 0 is ignored */
};

/* An OS/architecture pair; "" or NULL matches anything. x86_64 equals
 * amd64 and aarch64 equals arm64. */
struct sched_platform {
    const char *os;
    const char *arch;
};

/* One node as the scheduler sees it. Strings are borrowed, NUL-terminated;
 * NULL strings read as "". */
struct sched_node {
    const char *id; /* required */
    const char *hostname;
    const char *addr; /* Status.Addr, for node.ip constraints */
    bool manager;     /* node.role: manager or worker */
    bool ready;       /* Status.State == "ready" */
    int availability; /* enum sched_availability */
    const struct sched_label *labels;
    size_t n_labels;
    const struct sched_label *engine_labels;
    size_t n_engine_labels;
    const char *os;                        /* Description.Platform.OS ("linux") */
    const char *arch;                      /* Description.Platform.Architecture ("x86_64") */
    int64_t nano_cpus;                     /* Description.Resources.NanoCPUs */
    int64_t memory_bytes;                  /* Description.Resources.MemoryBytes */
    int64_t reserved_cpus;                 /* sum of reservations of live tasks on the node */
    int64_t reserved_memory;               /* same, memory */
    uint64_t n_tasks;                      /* live tasks on the node, all services */
    uint64_t service_tasks;                /* live tasks of the service being placed */
    const struct sched_port *ports_in_use; /* host-mode ports taken on the node */
    size_t n_ports_in_use;
};

/* What every task of one service (one spec version) needs. */
struct sched_req {
    const char *service_id;         /* informational */
    const char *const *constraints; /* "node.labels.zone==a" */
    size_t n_constraints;
    const char *const *spread; /* SpreadDescriptor of each preference, in order */
    size_t n_spread;
    uint64_t max_replicas;               /* per node; 0 = unlimited */
    int64_t nano_cpus;                   /* Resources.Reservations.NanoCPUs */
    int64_t memory;                      /* Resources.Reservations.MemoryBytes */
    const struct sched_port *host_ports; /* host-mode published ports */
    size_t n_host_ports;
    const struct sched_platform *platforms; /* Placement.Platforms; none = any */
    size_t n_platforms;
};

/*
 * Validate one constraint expression the way Docker does. Returns 0 or
 * -EINVAL with err->msg set to swarmkit's text, one of:
 *   "constraint expected one operator from ==, !="
 *   "key 'X' is invalid"        (key must match [A-Za-z_][A-Za-z0-9_.-]+)
 *   "value 'X' is invalid"      (empty, or a character outside Docker's set)
 * The Docker API answers 400 with
 *   "rpc error: code = InvalidArgument desc = <that text>".
 */
int sched_constraint_check(const char *expr, struct err *err);

/*
 * Place n_tasks identical new tasks of req on nodes[0..n_nodes).
 *
 * ret_node[i] receives the index into nodes of task i's node, or -1. When
 * any task is left unplaced, reason (if reason_len > 0) gets the explanation
 * ("no suitable node (...)"); otherwise reason is set to "". nodes are not
 * modified; see sched_account() to carry the placements into a next call.
 *
 * Returns the number of tasks placed (>= 0), or -EINVAL (NULL arguments, a
 * node without id, a malformed constraint, a negative reservation, more
 * than SCHED_MAX_SPREAD preferences: err says which), -E2BIG (more
 * than INT_MAX tasks or nodes), -ENOMEM.
 */
int sched_place(const struct sched_node *nodes, size_t n_nodes, const struct sched_req *req,
                size_t n_tasks, int *ret_node, char *reason, size_t reason_len, struct err *err);

/*
 * Add the tasks that sched_place() placed (ret_node, n_tasks) to nodes:
 * reservations, n_tasks and service_tasks. Host ports are not recorded
 * (ports_in_use is borrowed): schedule services publishing the same host
 * port in separate snapshots.
 */
void sched_account(struct sched_node *nodes, size_t n_nodes, const struct sched_req *req,
                   const int *ret_node, size_t n_tasks);

/*
 * Run every filter except max replicas on one node for one more task of req
 * (for global services, whose tasks are pinned to a node). *ret_failed gets
 * the first failing filter or SCHED_FILTER_OK; when it fails and reason_len
 * > 0, reason gets e.g. "no suitable node (insufficient resources on 1 node)".
 * Returns 0, or -EINVAL for bad arguments or a malformed constraint.
 */
int sched_node_check(const struct sched_node *node, const struct sched_req *req,
                     enum sched_filter *ret_failed, char *reason, size_t reason_len,
                     struct err *err);

/* sched_node_check() == 0 with SCHED_FILTER_OK. */
bool sched_node_eligible(const struct sched_node *node, const struct sched_req *req);

/*
 * Docker's explanation for per-filter node counts (counts[SCHED_FILTER_OK]
 * is ignored): "no suitable node (a; b)" with the most frequent failure
 * first, or "no suitable node" when every count is 0. Always NUL-terminates
 * when len > 0.
 */
void sched_explain(const size_t counts[SCHED_N_FILTERS], char *buf, size_t len);

#endif /* SCHEDULER_SCHEDULER_H */
