/*
 * manager/json.h - Docker Engine API views of swarm objects (jansson) and
 * parsing of the request bodies the docker CLI sends for swarm and nodes.
 *
 * Views follow the recorded transcripts field for field: times RFC 3339 with
 * nanoseconds (never ""), durations integer nanoseconds, ManagerStatus only
 * for managers, Leader and Message left out when false/empty.
 * Parsers return 0 or -EINVAL with a message fit for a 400 reply.
 */
#ifndef MANAGER_JSON_H
#define MANAGER_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#include "manager/store.h"

struct mgr_json_ctx {
    const char *ca_cert_pem; /* root for Description.TLSInfo; NULL: left out */
    /* live raft view; NULL: the values stored in ManagerStatus */
    bool (*is_leader)(void *ud, const MgrNode *n);
    int (*reachability)(void *ud, const MgrNode *n); /* SHOAL__STORE__REACHABILITY__* */
    void *ud;
};

/* GET /nodes/{id} object (new reference, NULL on ENOMEM). */
json_t *mgr_json_node(const MgrNode *n, const struct mgr_json_ctx *ctx);
struct buf;
/* The same object as compact JSON text appended to b (no newline): the
 * bytes json_dumps(mgr_json_node(n, ctx), JSON_COMPACT) gives, without the
 * tree. 0 or -ENOMEM. */
int mgr_json_node_text(struct buf *b, const MgrNode *n, const struct mgr_json_ctx *ctx);
/* GET /swarm (with_tokens: JoinTokens) and the Cluster block of /info. */
json_t *mgr_json_cluster(const MgrCluster *c, bool with_tokens);

struct mgr_remote_manager {
    const char *node_id;
    const char *addr;
};

struct mgr_info_swarm {
    const char *node_id; /* "" when inactive */
    const char *node_addr;
    const char *local_node_state; /* inactive|pending|active|error|locked */
    const char *error;
    bool control_available;                           /* manager */
    const struct mgr_remote_manager *remote_managers; /* NULL: null */
    size_t n_remote_managers;
    size_t nodes, managers;    /* managers only */
    const MgrCluster *cluster; /* managers only */
};
/* The Swarm section of GET /info, in its three shapes (inactive, worker,
 * manager). */
json_t *mgr_json_info_swarm(const struct mgr_info_swarm *in);

/* ---- request bodies ------------------------------------------------------- */

/* Lowercase names as the API shows them. */
const char *mgr_role_str(int role);
const char *mgr_availability_str(int a);
const char *mgr_node_state_str(int s);
const char *mgr_reachability_str(int r);
/* Docker's words, case-insensitive: -EINVAL "invalid Role: \"x\"" /
 * "invalid Availability: \"x\"". An empty availability is "active" only when
 * empty_ok (swarm init/join). */
int mgr_parse_role(const char *s, int *ret, struct err *err);
int mgr_parse_availability(const char *s, bool empty_ok, int *ret, struct err *err);
/* ?version= of an update: -EINVAL "invalid <what> version '<s>': ..." */
int mgr_parse_version(const char *what, const char *s, uint64_t *ret, struct err *err);

struct mgr_swarm_init_req {
    char *listen_addr;    /* default "0.0.0.0:2377" */
    char *advertise_addr; /* may be "" (the daemon picks one) */
    char *data_path_addr;
    uint32_t data_path_port; /* 0 = 4789 */
    bool force_new_cluster;
    bool autolock_managers;
    int availability;
    char **default_addr_pool;
    size_t n_default_addr_pool;
    uint32_t subnet_size; /* 0 = 24 */
    MgrClusterSpec *spec; /* owned; Docker's defaults filled in */
};
int mgr_json_parse_swarm_init(const json_t *body, struct mgr_swarm_init_req *out, struct err *err);
void mgr_swarm_init_req_release(struct mgr_swarm_init_req *r);

struct mgr_swarm_join_req {
    char *listen_addr;
    char *advertise_addr;
    char *data_path_addr;
    char **remote_addrs;
    size_t n_remote_addrs; /* >= 1 */
    char *join_token;      /* shape checked with mgr_token_parse */
    int availability;
};
int mgr_json_parse_swarm_join(const json_t *body, struct mgr_swarm_join_req *out, struct err *err);
void mgr_swarm_join_req_release(struct mgr_swarm_join_req *r);

/* POST /nodes/{id}/update body -> owned NodeSpec (mgr_msg_free). */
int mgr_json_parse_node_spec(const json_t *body, MgrNodeSpec **ret, struct err *err);
/* POST /swarm/update body -> owned ClusterSpec (mgr_msg_free); zero fields
 * get Docker's defaults. */
int mgr_json_parse_cluster_spec(const json_t *body, MgrClusterSpec **ret, struct err *err);

#endif
