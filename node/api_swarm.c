/*
 * node/api_swarm.c - swarm and node routes of the Engine API: /swarm,
 * /swarm/{init,join,leave,update,unlockkey,unlock}, /nodes, /nodes/{id},
 * /nodes/{id}/update, DELETE /nodes/{id}. The work is done by the cluster
 * runtime (manager/cluster.h); writes on a follower are forwarded there.
 */
#define LOG_MODULE "api"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"

#include "manager/ca.h"
#include "manager/cluster.h"
#include "manager/json.h"
#include "node/node.h"
#include "node/swarm_api.h"

#define MSG_INACTIVE                                                                               \
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to "     \
    "connect this node to swarm and try again."

/* ---- shared with the service routes (node/swarm_api.h) ------------------------- */

void node_swarm_reply_err(struct http_req *req, const struct err *e)
{
    char msg[ERR_MSG_MAX + 64];
    int status;

    if (e->code == -EALREADY) {
        http_reply_error(req, 503, "%s", e->msg);
        return;
    }
    status = mgr_api_error(e, msg, sizeof(msg));
    http_reply_error(req, status, "%s", msg);
}

struct mgr_cluster *node_swarm_cluster(void)
{
    return node_current ? node_current->cluster : NULL;
}

const struct mgr_store *node_swarm_store(struct http_req *req)
{
    struct mgr_cluster *c = node_swarm_cluster();

    if (c && mgr_cluster_is_manager(c) && mgr_cluster_store(c))
        return mgr_cluster_store(c);
    if (!c || mgr_cluster_state(c) != MGR_LOCAL_ACTIVE)
        http_reply_error(req, 503, "%s", MSG_INACTIVE);
    else
        http_reply_error(req, 503, "%s", MGR_MSG_NOT_MANAGER);
    return NULL;
}

json_t *node_swarm_body(struct http_req *req)
{
    json_error_t jerr;
    json_t *b;

    if (req->body.len == 0)
        return json_object();
    b = json_loadb(req->body.data, req->body.len, 0, &jerr);
    if (!b)
        http_reply_error(req, 400, "invalid JSON: %s", jerr.text);
    return b;
}

/* ---- completion of asynchronous operations ----------------------------------- */

struct pend {
    struct http_req *req;
    enum node_swarm_reply kind;
    char id[MGR_ID_LEN + 1];
};

static void on_done(int status, const struct err *err, const char *id, void *data)
{
    struct pend *p = data;

    if (status < 0) {
        struct err e = {.code = status};
        snprintf(e.msg, sizeof(e.msg), "%s", err && err->msg[0] ? err->msg : strerror(-status));
        node_swarm_reply_err(p->req, &e);
    } else {
        switch (p->kind) {
        case NODE_REPLY_ID_STRING:
            http_reply_json(p->req, 200, json_string(id ? id : ""));
            break;
        case NODE_REPLY_CREATED_ID:
            http_reply_json(p->req, 201, json_pack("{s:s}", "ID", p->id));
            break;
        case NODE_REPLY_WARNINGS:
            http_reply_json(p->req, 200, json_pack("{s:n}", "Warnings"));
            break;
        case NODE_REPLY_NET_CREATED:
            http_reply_json(p->req, 201, json_pack("{s:s, s:s}", "Id", p->id, "Warning", ""));
            break;
        case NODE_REPLY_NO_CONTENT:
            http_reply(p->req, 204, NULL, NULL, 0);
            break;
        case NODE_REPLY_EMPTY:
            http_reply(p->req, 200, NULL, NULL, 0);
            break;
        }
    }
    http_req_unref(p->req);
    free(p);
}

static struct pend *pend_new(struct http_req *req, enum node_swarm_reply kind, const char *id)
{
    struct pend *p = calloc(1, sizeof(*p));

    if (!p) {
        http_reply_error(req, 500, "out of memory");
        return NULL;
    }
    p->req = req;
    p->kind = kind;
    snprintf(p->id, sizeof(p->id), "%s", id ? id : "");
    http_req_ref(req);
    return p;
}

static void pend_fail(struct pend *p, const struct err *e)
{
    node_swarm_reply_err(p->req, e);
    http_req_unref(p->req);
    free(p);
}

void node_swarm_write(struct http_req *req, MgrCommand *cmd, enum node_swarm_reply kind,
                      const char *id)
{
    struct pend *p = pend_new(req, kind, id);
    struct err e = {0};

    if (p && mgr_cluster_write(node_swarm_cluster(), cmd, on_done, p, &e) < 0)
        pend_fail(p, &e);
}

/* ---- /swarm ----------------------------------------------------------------- */

static void swarm_init(struct http_req *req)
{
    struct mgr_swarm_init_req in = {0};
    struct err e = {0};
    json_t *body = node_swarm_body(req);
    struct pend *p;

    if (!body)
        return;
    if (mgr_json_parse_swarm_init(body, &in, &e) < 0) {
        json_decref(body);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    json_decref(body);
    p = pend_new(req, NODE_REPLY_ID_STRING, NULL);
    if (p && mgr_cluster_init(node_swarm_cluster(), &in, on_done, p, &e) < 0)
        pend_fail(p, &e);
    mgr_swarm_init_req_release(&in);
}

static void swarm_join(struct http_req *req)
{
    struct mgr_swarm_join_req in = {0};
    struct err e = {0};
    json_t *body = node_swarm_body(req);
    struct pend *p;

    if (!body)
        return;
    if (mgr_cluster_state(node_swarm_cluster()) != MGR_LOCAL_INACTIVE) {
        json_decref(body);
        http_reply_error(req, 503, "%s", MGR_MSG_ALREADY_IN_SWARM);
        return;
    }
    if (mgr_json_parse_swarm_join(body, &in, &e) < 0) {
        json_decref(body);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    json_decref(body);
    p = pend_new(req, NODE_REPLY_EMPTY, NULL);
    if (p && mgr_cluster_join(node_swarm_cluster(), &in, on_done, p, &e) < 0)
        pend_fail(p, &e);
    mgr_swarm_join_req_release(&in);
}

static bool query_true(struct http_req *req, const char *key)
{
    const char *v = http_query_get(req, key);

    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "True") == 0);
}

static void swarm_leave(struct http_req *req)
{
    struct err e = {0};
    struct pend *p;

    if (mgr_cluster_state(node_swarm_cluster()) == MGR_LOCAL_INACTIVE) {
        http_reply_error(req, 503, "This node is not part of a swarm");
        return;
    }
    p = pend_new(req, NODE_REPLY_EMPTY, NULL);
    if (p && mgr_cluster_leave(node_swarm_cluster(), query_true(req, "force"), on_done, p, &e) < 0)
        pend_fail(p, &e);
}

static void swarm_update(struct http_req *req, const struct mgr_store *s)
{
    const MgrCluster *cl = mgr_store_cluster(s);
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ClusterUpdate cu = SHOAL__STORE__CLUSTER_UPDATE__INIT;
    char wtok[MGR_TOKEN_LEN + 1] = "", mtok[MGR_TOKEN_LEN + 1] = "";
    MgrClusterSpec *spec = NULL;
    uint64_t version;
    struct err e = {0};
    json_t *body;

    if (!cl) {
        http_reply_error(req, 503, "the swarm is still being initialised");
        return;
    }
    if (mgr_parse_version("swarm", http_query_get(req, "version"), &version, &e) < 0) {
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    body = node_swarm_body(req);
    if (!body)
        return;
    if (mgr_json_parse_cluster_spec(body, &spec, &e) < 0) {
        json_decref(body);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    json_decref(body);
    if (spec->autolock_managers) {
        mgr_msg_free(spec);
        http_reply_error(req, 400, "autolock is not supported by shoal");
        return;
    }
    if ((query_true(req, "rotateWorkerToken") && mgr_token_new(cl->ca_cert_pem, wtok, &e) < 0) ||
        (query_true(req, "rotateManagerToken") && mgr_token_new(cl->ca_cert_pem, mtok, &e) < 0)) {
        mgr_msg_free(spec);
        node_swarm_reply_err(req, &e);
        return;
    }
    cu.id = cl->id;
    cu.version = version;
    cu.spec = spec;
    cu.worker_token = wtok;
    cu.manager_token = mtok;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_CLUSTER_UPDATE;
    cmd.cluster_update = &cu;
    node_swarm_write(req, &cmd, NODE_REPLY_EMPTY, NULL);
    mgr_msg_free(spec);
}

static bool route_swarm(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const struct mgr_store *s;

    if (strcmp(path, "/swarm") == 0 && get) {
        if ((s = node_swarm_store(req))) {
            const MgrCluster *cl = mgr_store_cluster(s);
            if (cl)
                http_reply_json(req, 200, mgr_json_cluster(cl, true));
            else
                http_reply_error(req, 503, "the swarm is still being initialised");
        }
    } else if (strcmp(path, "/swarm/init") == 0 && post) {
        swarm_init(req);
    } else if (strcmp(path, "/swarm/join") == 0 && post) {
        swarm_join(req);
    } else if (strcmp(path, "/swarm/leave") == 0 && post) {
        swarm_leave(req);
    } else if (strcmp(path, "/swarm/update") == 0 && post) {
        if ((s = node_swarm_store(req)))
            swarm_update(req, s);
    } else if (strcmp(path, "/swarm/unlockkey") == 0 && get) {
        if (node_swarm_store(req))
            http_reply_error(req, 400, "no unlock key is set (autolock is not enabled)");
    } else if (strcmp(path, "/swarm/unlock") == 0 && post) {
        http_reply_error(req, 400, "swarm is not locked (autolock is not enabled)");
    } else {
        return false;
    }
    return true;
}

/* ---- /nodes ----------------------------------------------------------------- */

/* 200 with the JSON text in b (r: how writing it went); b released */
static void reply_text(struct http_req *req, struct buf *b, int r)
{
    if (r < 0)
        http_reply_error(req, 500, "out of memory");
    else
        http_reply(req, 200, "application/json", b->data, b->len);
    buf_release(b);
}

static void nodes_list(struct http_req *req, const struct mgr_store *s)
{
    struct mgr_node_filter f[64];
    size_t nf = 0, n = 0;
    const MgrNode **list = NULL;
    struct mgr_json_ctx ctx;
    struct err e = {0};
    bool bad;
    json_t *filters = node_parse_filters(req, &bad);
    const char *key;
    json_t *vals;
    struct buf b;
    int r;

    if (!filters)
        return;
    json_object_foreach(filters, key, vals)
    {
        size_t i;
        json_t *v;
        json_array_foreach(vals, i, v)
        {
            if (nf < 64)
                f[nf++] = (struct mgr_node_filter){key, json_string_value(v)};
        }
        if (json_array_size(vals) == 0 && nf < 64)
            f[nf++] = (struct mgr_node_filter){key, ""};
    }
    if (mgr_node_filter_check(f, nf, &e) < 0 || mgr_store_node_list(s, f, nf, &list, &n, &e) < 0) {
        json_decref(filters);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    mgr_cluster_json_ctx(node_swarm_cluster(), &ctx);
    json_decref(filters);
    buf_init(&b);
    r = buf_puts(&b, "[");
    for (size_t i = 0; i < n && r == 0; i++)
        if ((r = i ? buf_puts(&b, ",") : 0) == 0)
            r = mgr_json_node_text(&b, list[i], &ctx);
    free(list);
    reply_text(req, &b, r == 0 ? buf_puts(&b, "]\n") : r);
}

static void node_update(struct http_req *req, const struct mgr_store *s, const char *ref)
{
    const MgrNode *n;
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeUpdate nu = SHOAL__STORE__NODE_UPDATE__INIT;
    MgrNodeSpec *spec = NULL;
    char id[MGR_ID_LEN + 1];
    uint64_t version;
    struct err e = {0};
    json_t *body;

    if (mgr_store_node_find(s, ref, &n, &e) < 0) {
        node_swarm_reply_err(req, &e);
        return;
    }
    snprintf(id, sizeof(id), "%s", n->id);
    if (mgr_parse_version("node", http_query_get(req, "version"), &version, &e) < 0) {
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    body = node_swarm_body(req);
    if (!body)
        return;
    if (mgr_json_parse_node_spec(body, &spec, &e) < 0) {
        json_decref(body);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    json_decref(body);
    nu.id = id;
    nu.version = version;
    nu.spec = spec;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE;
    cmd.node_update = &nu;
    node_swarm_write(req, &cmd, NODE_REPLY_EMPTY, NULL);
    mgr_msg_free(spec);
}

static void node_remove(struct http_req *req, const struct mgr_store *s, const char *ref)
{
    const MgrNode *n;
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeRemove nr = SHOAL__STORE__NODE_REMOVE__INIT;
    char id[MGR_ID_LEN + 1];
    struct err e = {0};

    if (mgr_store_node_find(s, ref, &n, &e) < 0) {
        node_swarm_reply_err(req, &e);
        return;
    }
    snprintf(id, sizeof(id), "%s", n->id);
    nr.id = id;
    nr.force = query_true(req, "force");
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_REMOVE;
    cmd.node_remove = &nr;
    node_swarm_write(req, &cmd, NODE_REPLY_EMPTY, NULL);
}

static bool route_nodes(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    const struct mgr_store *s;
    char ref[256];
    const char *rest;
    size_t len;

    if (strcmp(path, "/nodes") == 0 && get) {
        if ((s = node_swarm_store(req)))
            nodes_list(req, s);
        return true;
    }
    if (strncmp(path, "/nodes/", 7) != 0)
        return false;
    rest = path + 7;
    len = strcspn(rest, "/");
    if (len == 0 || len >= sizeof(ref))
        return false;
    snprintf(ref, sizeof(ref), "%.*s", (int)len, rest);
    rest += len;
    if (*rest == '\0' && get) {
        if ((s = node_swarm_store(req))) {
            const MgrNode *n;
            struct err e = {0};
            struct mgr_json_ctx ctx;
            if (mgr_store_node_find(s, ref, &n, &e) < 0) {
                node_swarm_reply_err(req, &e);
            } else {
                struct buf b;
                int r;

                mgr_cluster_json_ctx(node_swarm_cluster(), &ctx);
                buf_init(&b);
                r = mgr_json_node_text(&b, n, &ctx);
                reply_text(req, &b, r == 0 ? buf_puts(&b, "\n") : r);
            }
        }
    } else if (*rest == '\0' && strcmp(req->method, "DELETE") == 0) {
        if ((s = node_swarm_store(req)))
            node_remove(req, s, ref);
    } else if (strcmp(rest, "/update") == 0 && strcmp(req->method, "POST") == 0) {
        if ((s = node_swarm_store(req)))
            node_update(req, s, ref);
    } else {
        return false;
    }
    return true;
}

bool node_api_swarm(struct http_req *req, const char *path)
{
    if (!node_swarm_cluster())
        return false;
    return route_swarm(req, path) || route_nodes(req, path);
}

json_t *node_swarm_info(void)
{
    struct mgr_info_swarm in = {
        .node_id = "", .node_addr = "", .local_node_state = "inactive", .error = ""};

    if (!node_swarm_cluster())
        return mgr_json_info_swarm(&in);
    return mgr_cluster_info_json(node_swarm_cluster());
}
