/*
 * node/node.h - shoald: configuration, the daemon context, and the Engine
 * API handlers (node/api*.c) on top of node/http.h.
 */
#ifndef NODE_NODE_H
#define NODE_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "node/http.h"
#include "runtime/runtime.h"

#define SHOAL_API_VERSION     "1.41"
#define SHOAL_MIN_API_VERSION "1.24"
#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0.1.0"
#endif

#define NODE_MAX_HOSTS 8

struct node_config {
    const char *data_root;
    const char *exec_root;
    const char *hosts[NODE_MAX_HOSTS];
    size_t n_hosts;
    const char *cgroup_parent;
    const char *log_level;
    const char *insecure_registries[NODE_MAX_HOSTS]; /* host[:port] or CIDR */
    size_t n_insecure_registries;
    /* swarm (manager/cluster.h): NULL = defaults / derived */
    const char *listen_addr;    /* --listen-addr, cluster port (default 0.0.0.0:2377) */
    bool no_bridge_fast_path;   /* --no-bridge-fast-path */
    const char *advertise_addr; /* --advertise-addr */
    unsigned heartbeat_ms;      /* --heartbeat-period (default 2 s) */
    unsigned heartbeat_grace;   /* --heartbeat-grace: missed periods before Down (default 3) */
};

struct mgr_cluster;
struct wrk_agent;

struct node {
    uv_loop_t *loop;
    const struct node_config *cfg;
    struct rt *rt;
    struct http_server *http;
    struct mgr_cluster *cluster; /* swarm runtime */
    struct wrk_agent *agent;     /* runs this node's swarm tasks */
    char engine_id[80];
    int64_t started_ns;
};

/* The daemon context (one per process). */
extern struct node *node_current;

/* Route one request (http_req_cb of the server). */
void node_api_route(struct http_req *req);

/* Map a negative errno / project code to an HTTP status. */
int node_http_status(int code);
/* Reply with the error's status and message. */
void node_reply_err(struct http_req *req, int code, const char *msg);

/* Handlers split by area; each returns true if it took the request. */
bool node_api_containers(struct http_req *req, const char *path);
bool node_api_images(struct http_req *req, const char *path);
bool node_api_system(struct http_req *req, const char *path);
/* Registry routes: pull (POST /images/create?fromImage=), push, /distribution, /auth
 * (node/api_registry.c). */
bool node_api_registry(struct http_req *req, const char *path);
/* Logs of a container (node/api_logs.c). */
void node_api_logs(struct http_req *req, struct rt_container *c);
/* GET /events (node/api_events.c); also registers the runtime's event
 * callback on first use. Events API: node/events.h. */
bool node_api_events(struct http_req *req, const char *path);
/* GET /containers/{id}/stats (node/api_stats.c). */
void node_api_stats(struct http_req *req, struct rt_container *c);
/* GET/HEAD/PUT /containers/{id}/archive (node/api_archive.c). */
void node_api_archive(struct http_req *req, struct rt_container *c);
/* Attach (node/api_attach.c). */
void node_api_attach(struct http_req *req, struct rt_container *c);
/* Exec and top (node/api_exec.c): /containers/{id}/exec, /exec/{id}/...,
 * /containers/{id}/top. */
bool node_api_exec(struct http_req *req, const char *path);

/* /networks routes (node/api_networks.c). */
bool node_api_networks(struct http_req *req, const char *path);
struct err;
struct onet;
/* Networking (overlaynet) of this node: open it and install the runtime's
 * network hooks; close it at shutdown (node/api_networks.c). */
int node_net_open(struct node *n, const char *bip, const char *const *dns, size_t n_dns,
                  struct err *err);
void node_net_close(void);
struct onet *node_net(void);

/* Services, tasks, secrets/configs (empty) and swarm-scoped /networks on
 * managers (node/api_services.c); local /networks fall through. */
bool node_api_services(struct http_req *req, const char *path);
/* GET /services/{id}/logs and /tasks/{id}/logs, and the agent side of
 * service logs (mgr_agent_ops.logs) (node/api_service_logs.c). */
bool node_api_service_logs(struct http_req *req, const char *path);
void node_service_logs_agent(void *ud, json_t *msg);
/* Swarm and node routes (node/api_swarm.c). */
bool node_api_swarm(struct http_req *req, const char *path);
/* The Swarm section of GET /info (new reference). */
json_t *node_swarm_info(void);

/* Iterate over every value of key in the raw query (for repeated keys);
 * calls fn with each decoded value. */
void node_query_each(struct http_req *req, const char *key, void (*fn)(const char *, void *),
                     void *arg);
/* Parse the `filters` query parameter ({"key":{"value":true}} or the old
 * {"key":["value"]} form) into a JSON object key -> array of strings.
 * Returns NULL and replies 400 on malformed input. */
json_t *node_parse_filters(struct http_req *req, bool *ret_bad);
bool node_filter_match(json_t *filters, const char *key, const char *value);

#endif
