/*
 * node/swarm_api.h - what the swarm routes (node/api_swarm.c: /swarm, /nodes)
 * and the service routes (node/api_services.c: /services, /tasks, swarm
 * /networks) share: the manager check, Docker's wording of store errors,
 * request bodies, and a store write that answers the request once applied.
 * Implemented in node/api_swarm.c.
 */
#ifndef NODE_SWARM_API_H
#define NODE_SWARM_API_H

#include <jansson.h>

#include "lib/err.h"

#include "manager/store.h"
#include "node/http.h"

struct mgr_cluster;

/* This daemon's swarm runtime (NULL before start-up finished). */
struct mgr_cluster *node_swarm_cluster(void);

/* Manager-only routes: the store, or NULL after replying 503 (worker or
 * inactive node, in Docker's words). */
const struct mgr_store *node_swarm_store(struct http_req *req);

/* Reply with a store/cluster error as Docker words it. */
void node_swarm_reply_err(struct http_req *req, const struct err *e);

/* The JSON body ({} when empty), or NULL after replying 400. */
json_t *node_swarm_body(struct http_req *req);

/* How a write answers once applied. */
enum node_swarm_reply {
    NODE_REPLY_EMPTY,       /* 200, no body */
    NODE_REPLY_ID_STRING,   /* 200 "id" (swarm init) */
    NODE_REPLY_CREATED_ID,  /* 201 {"ID": id} */
    NODE_REPLY_WARNINGS,    /* 200 {"Warnings": null} */
    NODE_REPLY_NET_CREATED, /* 201 {"Id": id, "Warning": ""} */
    NODE_REPLY_NO_CONTENT,  /* 204 */
};

/* Replicate cmd and answer req as `kind` (id: the object, for the replies
 * that name it) once it is applied, or with the error. */
void node_swarm_write(struct http_req *req, MgrCommand *cmd, enum node_swarm_reply kind,
                      const char *id);

#endif
