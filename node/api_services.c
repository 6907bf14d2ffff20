/*
 * node/api_services.c - swarm service routes of the Engine API, managers
 * only: /services (list, create, inspect, update incl. ?rollback=previous,
 * remove), /tasks (list, inspect), /secrets and /configs (always empty), and
 * the swarm-scoped part of /networks (overlay create/list/inspect/remove;
 * everything local falls through to node/api_networks.c).
 *
 * Writes go through mgr_cluster_write (forwarded to the leader on a
 * follower) and are answered once the command committed. The proposer fills
 * in what apply must not compute: ids, normalized specs with Docker's
 * defaults, network names resolved to ids, published ingress ports, subnets
 * and VXLAN ids, timestamps of update states.
 * GET /services/{id}/logs and /tasks/{id}/logs: node/api_service_logs.c.
 */
#define LOG_MODULE "api"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "manager/cluster.h"
#include "manager/json.h"
#include "manager/store.h"
#include "manager/svcjson.h"
#include "node/node.h"
#include "node/swarm_api.h"
#include "overlaynet/overlaynet.h"

/* Published ingress ports without a number get one from this range. */
#define INGRESS_PORT_MIN 30000
#define INGRESS_PORT_MAX 32767
#define OVERLAY_VNI_BASE 4096 /* the ingress network's; user networks from 4097 */

static json_t *parse_body(struct http_req *req)
{
    if (req->body.len == 0)
        return json_object();
    return json_loadb(req->body.data, req->body.len, 0, NULL);
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- spec preparation ------------------------------------------------------- */

/* Docker names unnamed services adjective_surname; so do we, with our words. */
static int random_name(const struct mgr_store *s, char *out, size_t len)
{
    static const char *const adj[] = {"brave",  "calm",   "eager",  "gentle", "happy", "jolly",
                                      "keen",   "lucid",  "mellow", "nimble", "proud", "quiet",
                                      "serene", "sturdy", "vivid",  "witty"};
    static const char *const who[] = {
        "babbage",  "curie",   "darwin", "euler",   "faraday", "gauss",   "hopper", "kepler",
        "lovelace", "meitner", "newton", "noether", "pascal",  "ritchie", "turing", "volta"};
    const MgrService *sv;

    for (int tries = 0; tries < 64; tries++) {
        uint8_t r[2];
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
            return -EIO;
        snprintf(out, len, "%s_%s", adj[r[0] % ARRAY_SIZE(adj)], who[r[1] % ARRAY_SIZE(who)]);
        if (mgr_store_service_find(s, out, &sv, NULL) < 0 || strcmp(sv->name, out) != 0)
            return 0;
    }
    return -EEXIST;
}

/* TaskTemplate.Networks[].Target: a name or id prefix becomes the network id. */
static int resolve_networks(const struct mgr_store *s, json_t *spec, struct err *err)
{
    json_t *arr = json_object_get(json_object_get(spec, "TaskTemplate"), "Networks"), *x;
    size_t i;

    json_array_foreach(arr, i, x)
    {
        const char *target = jstr(x, "Target");
        const MgrNetwork *n;
        int r = mgr_store_network_find(s, target ? target : "", &n, err);
        if (r < 0)
            return r;
        json_object_set_new(x, "Target", json_string(n->id));
    }
    return 0;
}

struct port_use {
    char proto[8];
    int64_t port;
    const char *svc_id;
    const char *svc_name;
};

/* Ingress ports published by every service but self. */
static int ingress_ports_in_use(const struct mgr_store *s, const char *self_id,
                                struct port_use **ret, size_t *ret_n)
{
    size_t ns = mgr_store_count(s, MGR_KIND_SERVICE), n = 0, cap = 0;
    struct port_use *v = NULL;

    for (size_t i = 0; i < ns; i++) {
        const MgrService *sv = mgr_store_at(s, MGR_KIND_SERVICE, i);
        json_t *ep, *p;
        size_t k;
        if (self_id && strcmp(sv->id, self_id) == 0)
            continue;
        if (!sv->endpoint_json || !*sv->endpoint_json)
            continue;
        ep = json_loads(sv->endpoint_json, 0, NULL);
        json_array_foreach(json_object_get(ep, "Ports"), k, p)
        {
            const char *mode = jstr(p, "PublishMode"), *proto = jstr(p, "Protocol");
            int64_t pub = json_integer_value(json_object_get(p, "PublishedPort"));
            if ((mode && strcmp(mode, "ingress") != 0) || pub <= 0)
                continue;
            if (n == cap) {
                struct port_use *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
                if (!nv) {
                    json_decref(ep);
                    free(v);
                    return -ENOMEM;
                }
                v = nv;
            }
            snprintf(v[n].proto, sizeof(v[n].proto), "%s", proto ? proto : "tcp");
            v[n].port = pub;
            v[n].svc_id = sv->id;
            v[n].svc_name = sv->name;
            n++;
        }
        json_decref(ep);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static const struct port_use *port_used(const struct port_use *u, size_t n, const char *proto,
                                        int64_t port)
{
    for (size_t i = 0; i < n; i++)
        if (u[i].port == port && strcmp(u[i].proto, proto) == 0)
            return &u[i];
    return NULL;
}

/* The service's Endpoint: {Spec, Ports (published ingress ports numbered),
 * VirtualIPs kept from old_endpoint}. *ret: canonical text (malloc'd). */
static int build_endpoint(const struct mgr_store *s, const json_t *spec, const char *self_id,
                          const char *old_endpoint, char **ret, struct err *err)
{
    json_t *es = json_deep_copy(json_object_get(spec, "EndpointSpec"));
    json_t *old = old_endpoint && *old_endpoint ? json_loads(old_endpoint, 0, NULL) : NULL;
    json_t *ep = json_object(), *ports = json_array(), *p;
    struct port_use *used = NULL;
    size_t nused = 0, i;
    int r = 0;

    if (!es)
        es = json_object();
    if (!ep || !ports) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if (ingress_ports_in_use(s, self_id, &used, &nused) < 0) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(json_object_get(es, "Ports"), i, p)
    {
        json_t *q = json_deep_copy(p);
        const char *proto = jstr(q, "Protocol"), *mode = jstr(q, "PublishMode");
        int64_t pub = json_integer_value(json_object_get(q, "PublishedPort"));
        int64_t target = json_integer_value(json_object_get(q, "TargetPort"));
        const struct port_use *u;
        bool ingress = !mode || strcmp(mode, "ingress") == 0;

        if (!proto)
            proto = "tcp";
        if (ingress && pub > 0 && (u = port_used(used, nused, proto, pub))) {
            json_decref(q);
            r = err_set(err, -EINVAL,
                        "rpc error: code = InvalidArgument desc = port '%" PRId64
                        "' is already in use by service '%s' (%s) as an ingress port",
                        pub, u->svc_name, u->svc_id);
            goto out;
        }
        if (ingress && pub == 0) {
            /* keep the number given before (an update), else the lowest free one */
            json_t *op;
            size_t k;
            json_array_foreach(json_object_get(old, "Ports"), k, op)
            {
                int64_t opub = json_integer_value(json_object_get(op, "PublishedPort"));
                const char *oproto = jstr(op, "Protocol");
                if (json_integer_value(json_object_get(op, "TargetPort")) == target && oproto &&
                    strcmp(oproto, proto) == 0 && opub > 0 &&
                    !port_used(used, nused, proto, opub)) {
                    pub = opub;
                    break;
                }
            }
            for (int64_t c = INGRESS_PORT_MIN; pub == 0 && c <= INGRESS_PORT_MAX; c++) {
                bool mine = false;
                json_t *o;
                size_t m;
                json_array_foreach(ports, m, o)
                {
                    if (json_integer_value(json_object_get(o, "PublishedPort")) == c)
                        mine = true;
                }
                json_array_foreach(json_object_get(es, "Ports"), m, o)
                {
                    if (json_integer_value(json_object_get(o, "PublishedPort")) == c)
                        mine = true;
                }
                if (!mine && !port_used(used, nused, proto, c))
                    pub = c;
            }
            if (pub == 0) {
                json_decref(q);
                r = err_set(err, -EINVAL,
                            "rpc error: code = InvalidArgument desc = no free ingress port left");
                goto out;
            }
            json_object_set_new(q, "PublishedPort", json_integer(pub));
        }
        json_array_append_new(ports, q);
    }
    json_object_set(ep, "Spec", es);
    if (json_array_size(ports))
        json_object_set(ep, "Ports", ports);
    if (json_object_get(old, "VirtualIPs"))
        json_object_set(ep, "VirtualIPs", json_object_get(old, "VirtualIPs"));
    *ret = mgr_json_canonical(ep);
    if (!*ret)
        r = err_set(err, -ENOMEM, "out of memory");
out:
    free(used);
    json_decref(es);
    json_decref(old);
    json_decref(ep);
    json_decref(ports);
    return r;
}

/* Body -> normalized spec with networks resolved; replies on error. */
static json_t *prepare_spec(struct http_req *req, const struct mgr_store *s, bool create)
{
    json_t *body = node_swarm_body(req), *spec = NULL;
    struct err e = {0};
    char name[64];
    int r;

    if (!body)
        return NULL;
    if (create && json_is_object(body) && (!jstr(body, "Name") || !*jstr(body, "Name")) &&
        !(json_object_get(body, "Name") && !json_is_string(json_object_get(body, "Name")))) {
        if (random_name(s, name, sizeof(name)) == 0)
            json_object_set_new(body, "Name", json_string(name));
    }
    r = mgr_svc_spec_normalize(body, &spec, &e);
    json_decref(body);
    if (r == 0)
        r = resolve_networks(s, spec, &e);
    if (r < 0) {
        json_decref(spec);
        node_swarm_reply_err(req, &e);
        return NULL;
    }
    return spec;
}

/* ---- /services ---------------------------------------------------------------- */

static json_t *service_view(const struct mgr_store *s, const MgrService *sv, bool status)
{
    struct mgr_svc_counts c;
    const MgrTask **tasks = NULL;
    size_t n = 0;

    if (!status)
        return mgr_json_service(sv, NULL);
    mgr_svc_counts_init(&c, sv);
    if (mgr_store_tasks_of_service(s, sv->id, &tasks, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            mgr_svc_counts_add(&c, sv, tasks[i]);
        free(tasks);
    }
    return mgr_json_service(sv, &c);
}

static void services_list(struct http_req *req, const struct mgr_store *s)
{
    bool bad, status = http_query_bool(req, "status", false);
    json_t *filters = node_parse_filters(req, &bad), *out;
    struct err e = {0};
    size_t n;

    if (!filters)
        return;
    if (mgr_svc_filter_check(filters, &e) < 0) {
        json_decref(filters);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    out = json_array();
    n = mgr_store_count(s, MGR_KIND_SERVICE);
    for (size_t i = 0; i < n; i++) {
        const MgrService *sv = mgr_store_at(s, MGR_KIND_SERVICE, i);
        if (mgr_svc_filter_match(filters, sv))
            json_array_append_new(out, service_view(s, sv, status));
    }
    json_decref(filters);
    http_reply_json(req, 200, out);
}

static void service_create(struct http_req *req, const struct mgr_store *s)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceCreate sc = SHOAL__STORE__SERVICE_CREATE__INIT;
    MgrService svc = SHOAL__STORE__SERVICE__INIT;
    char id[MGR_ID_LEN + 1];
    char *text = NULL, *endpoint = NULL;
    struct err e = {0};
    json_t *spec = prepare_spec(req, s, true);

    if (!spec)
        return;
    if (mgr_id_new(id) < 0) {
        json_decref(spec);
        http_reply_error(req, 500, "cannot make a service id");
        return;
    }
    if (build_endpoint(s, spec, NULL, NULL, &endpoint, &e) < 0) {
        json_decref(spec);
        node_swarm_reply_err(req, &e);
        return;
    }
    text = mgr_json_canonical(spec);
    if (!text) {
        json_decref(spec);
        free(endpoint);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    svc.id = id;
    svc.name = (char *)jstr(spec, "Name");
    svc.spec_json = text;
    svc.previous_spec_json = (char *)"";
    svc.endpoint_json = endpoint;
    sc.service = &svc;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_CREATE;
    cmd.service_create = &sc;
    node_swarm_write(req, &cmd, NODE_REPLY_CREATED_ID, id);
    free(text);
    free(endpoint);
    json_decref(spec);
}

static void service_update(struct http_req *req, const struct mgr_store *s, const char *ref)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceUpdate su = SHOAL__STORE__SERVICE_UPDATE__INIT;
    MgrUpdateStatus us = SHOAL__STORE__UPDATE_STATUS__INIT;
    const char *rollback = http_query_get(req, "rollback");
    const MgrService *sv;
    char id[MGR_ID_LEN + 1];
    char *text = NULL, *endpoint = NULL, *name = NULL;
    uint64_t version;
    struct err e = {0};
    json_t *spec = NULL;

    if (mgr_store_service_find(s, ref, &sv, &e) < 0) {
        node_swarm_reply_err(req, &e);
        return;
    }
    snprintf(id, sizeof(id), "%s", sv->id);
    if (mgr_parse_version("service", http_query_get(req, "version"), &version, &e) < 0) {
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    if (rollback && *rollback && strcmp(rollback, "previous") != 0 &&
        strcmp(rollback, "none") != 0) {
        http_reply_error(req, 400, "invalid rollback value '%s'", rollback);
        return;
    }
    if (rollback && strcmp(rollback, "previous") == 0) {
        if (!sv->previous_spec_json || !*sv->previous_spec_json) {
            err_set(&e, -EBUSY, "service %s does not have a previous spec", id);
            node_swarm_reply_err(req, &e);
            return;
        }
        spec = json_loads(sv->previous_spec_json, 0, NULL);
        if (!json_is_object(spec)) {
            json_decref(spec);
            http_reply_error(req, 500, "service %s: stored previous spec is unreadable", id);
            return;
        }
        text = strdup(sv->previous_spec_json);
        su.rollback = true;
        us.state = (char *)"rollback_started";
        us.message = (char *)"manually requested rollback";
        us.started_at_ns = time_now_ns();
    } else {
        spec = prepare_spec(req, s, false);
        if (!spec)
            return;
        /* the store's pointers stay valid: nothing was applied since the find */
        text = mgr_json_canonical(spec);
        su.keep_spec_version = text && !mgr_svc_template_changed(sv->spec_json, text);
        if (text && !su.keep_spec_version) {
            us.state = (char *)"updating";
            us.message = (char *)"update in progress";
            us.started_at_ns = time_now_ns();
        } else {
            /* a scale or a label change: forget the last update's state,
             * like swarmkit (UpdateStatus nil) */
            us.state = (char *)"";
            us.message = (char *)"";
        }
    }
    name = strdup(jstr(spec, "Name") ? jstr(spec, "Name") : "");
    if (!text || !name) {
        http_reply_error(req, 500, "out of memory");
        goto out;
    }
    if (build_endpoint(s, spec, id, sv->endpoint_json, &endpoint, &e) < 0) {
        node_swarm_reply_err(req, &e);
        goto out;
    }
    su.id = id;
    su.version = version;
    su.name = name;
    su.spec_json = text;
    su.previous_spec_json = sv->spec_json;
    su.update_status = &us;
    su.endpoint_json = endpoint;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_UPDATE;
    cmd.service_update = &su;
    node_swarm_write(req, &cmd, NODE_REPLY_WARNINGS, id);
out:
    free(text);
    free(name);
    free(endpoint);
    json_decref(spec);
}

static void service_remove(struct http_req *req, const struct mgr_store *s, const char *ref)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceRemove sr = SHOAL__STORE__SERVICE_REMOVE__INIT;
    const MgrService *sv;
    char id[MGR_ID_LEN + 1];
    struct err e = {0};

    if (mgr_store_service_find(s, ref, &sv, &e) < 0) {
        node_swarm_reply_err(req, &e);
        return;
    }
    snprintf(id, sizeof(id), "%s", sv->id);
    sr.id = id;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_REMOVE;
    cmd.service_remove = &sr;
    node_swarm_write(req, &cmd, NODE_REPLY_EMPTY, id);
}

/* Split "/<base>/<ref>[/<rest>]": copies ref, returns rest ("" or "/x"), or
 * NULL when the path is not of that shape. */
static const char *split_ref(const char *path, const char *base, char *ref, size_t reflen)
{
    size_t bl = strlen(base), len;
    const char *rest;

    if (strncmp(path, base, bl) != 0 || path[bl] != '/')
        return NULL;
    rest = path + bl + 1;
    len = strcspn(rest, "/");
    if (len == 0 || len >= reflen)
        return NULL;
    memcpy(ref, rest, len);
    ref[len] = '\0';
    return rest + len;
}

static bool route_services(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const struct mgr_store *s;
    char ref[256];
    const char *rest;

    if (strcmp(path, "/services") == 0 && get) {
        if ((s = node_swarm_store(req)))
            services_list(req, s);
        return true;
    }
    if (strcmp(path, "/services/create") == 0 && post) {
        if ((s = node_swarm_store(req)))
            service_create(req, s);
        return true;
    }
    rest = split_ref(path, "/services", ref, sizeof(ref));
    if (!rest)
        return false;
    if (*rest == '\0' && get) {
        if ((s = node_swarm_store(req))) {
            const MgrService *sv;
            struct err e = {0};
            if (mgr_store_service_find(s, ref, &sv, &e) < 0)
                node_swarm_reply_err(req, &e);
            else
                http_reply_json(req, 200, mgr_json_service(sv, NULL));
        }
    } else if (*rest == '\0' && strcmp(req->method, "DELETE") == 0) {
        if ((s = node_swarm_store(req)))
            service_remove(req, s, ref);
    } else if (strcmp(rest, "/update") == 0 && post) {
        if ((s = node_swarm_store(req)))
            service_update(req, s, ref);
    } else {
        return false;
    }
    return true;
}

/* ---- /tasks --------------------------------------------------------------------- */

/* Replace service and node references in the filters by their ids. */
static int resolve_task_filters(const struct mgr_store *s, json_t *filters, struct err *err)
{
    static const char *const keys[] = {"service", "node"};

    for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        json_t *vals = json_object_get(filters, keys[k]), *v;
        size_t i;
        json_array_foreach(vals, i, v)
        {
            const char *ref = json_string_value(v);
            const char *id;
            int r;
            if (k == 0) {
                const MgrService *sv;
                r = mgr_store_service_find(s, ref ? ref : "", &sv, err);
                id = r == 0 ? sv->id : NULL;
            } else {
                const MgrNode *n;
                r = mgr_store_node_find(s, ref ? ref : "", &n, err);
                id = r == 0 ? n->id : NULL;
            }
            if (r < 0)
                return r;
            json_array_set_new(vals, i, json_string(id));
        }
    }
    return 0;
}

static void tasks_list(struct http_req *req, const struct mgr_store *s)
{
    bool bad;
    json_t *filters = node_parse_filters(req, &bad), *out, *svcs;
    struct err e = {0};

    if (!filters)
        return;
    if (mgr_task_filter_check(filters, &e) < 0) {
        json_decref(filters);
        http_reply_error(req, 400, "%s", e.msg);
        return;
    }
    if (resolve_task_filters(s, filters, &e) < 0) {
        json_decref(filters);
        node_swarm_reply_err(req, &e);
        return;
    }
    out = json_array();
    svcs = json_object_get(filters, "service");
    if (json_array_size(svcs) > 0) {
        json_t *v;
        size_t i;
        json_array_foreach(svcs, i, v)
        {
            const MgrService *sv = mgr_store_service(s, json_string_value(v));
            const MgrTask **tasks = NULL;
            size_t n = 0;
            bool dup = false;
            for (size_t j = 0; j < i; j++)
                if (json_equal(json_array_get(svcs, j), v))
                    dup = true;
            if (dup || !sv || mgr_store_tasks_of_service(s, sv->id, &tasks, &n) < 0)
                continue;
            for (size_t k = 0; k < n; k++)
                if (mgr_task_filter_match(filters, tasks[k], sv))
                    json_array_append_new(out, mgr_json_task(tasks[k]));
            free(tasks);
        }
    } else {
        size_t n = mgr_store_count(s, MGR_KIND_TASK);
        for (size_t i = 0; i < n; i++) {
            const MgrTask *t = mgr_store_at(s, MGR_KIND_TASK, i);
            const MgrService *sv = mgr_store_service(s, t->service_id);
            if (mgr_task_filter_match(filters, t, sv))
                json_array_append_new(out, mgr_json_task(t));
        }
    }
    json_decref(filters);
    http_reply_json(req, 200, out);
}

static bool route_tasks(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    const struct mgr_store *s;
    char ref[256];
    const char *rest;

    if (strcmp(path, "/tasks") == 0 && get) {
        if ((s = node_swarm_store(req)))
            tasks_list(req, s);
        return true;
    }
    rest = split_ref(path, "/tasks", ref, sizeof(ref));
    if (!rest || *rest || !get)
        return false;
    if ((s = node_swarm_store(req))) {
        const MgrTask *t;
        struct err e = {0};
        if (mgr_store_task_find(s, ref, &t, &e) < 0)
            node_swarm_reply_err(req, &e);
        else
            http_reply_json(req, 200, mgr_json_task(t));
    }
    return true;
}

/* ---- /secrets and /configs: none, ever ------------------------------------------ */

static bool route_secrets(struct http_req *req, const char *path, const char *base,
                          const char *what)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    char create[32], ref[256];
    const char *rest;

    snprintf(create, sizeof(create), "%s/create", base);
    if (strcmp(path, base) == 0 && get) {
        if (node_swarm_store(req))
            http_reply_json(req, 200, json_array());
        return true;
    }
    if (strcmp(path, create) == 0 && strcmp(req->method, "POST") == 0) {
        if (node_swarm_store(req))
            http_reply_error(req, 400, "%ss are not supported by shoal", what);
        return true;
    }
    rest = split_ref(path, base, ref, sizeof(ref));
    if (!rest)
        return false;
    if ((*rest == '\0' && (get || strcmp(req->method, "DELETE") == 0)) ||
        (strcmp(rest, "/update") == 0 && strcmp(req->method, "POST") == 0)) {
        if (node_swarm_store(req))
            http_reply_error(req, 404, "%s %s not found", what, ref);
        return true;
    }
    return false;
}

/* ---- swarm-scoped /networks --------------------------------------------------------- */

struct cidr {
    uint32_t addr; /* host order, masked */
    int prefix;
};

static int cidr_parse(const char *s, struct cidr *c)
{
    char buf[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    struct in_addr a;
    char *end;
    long p;

    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    p = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, buf, &a) != 1 || *end || end == slash + 1 || p < 8 || p > 30)
        return -EINVAL;
    c->prefix = (int)p;
    c->addr = ntohl(a.s_addr) & (0xffffffffu << (32 - p));
    return 0;
}

static bool cidr_overlap(const struct cidr *a, const struct cidr *b)
{
    int p = a->prefix < b->prefix ? a->prefix : b->prefix;
    uint32_t m = 0xffffffffu << (32 - p);

    return (a->addr & m) == (b->addr & m);
}

static void ip_fmt(uint32_t ip, char *out, size_t len)
{
    struct in_addr a = {.s_addr = htonl(ip)};

    if (!inet_ntop(AF_INET, &a, out, (socklen_t)len))
        snprintf(out, len, "0.0.0.0");
}

static bool subnet_free(const struct mgr_store *s, const struct cidr *c)
{
    size_t n = mgr_store_count(s, MGR_KIND_NETWORK);

    for (size_t i = 0; i < n; i++) {
        const MgrNetwork *x = mgr_store_at(s, MGR_KIND_NETWORK, i);
        struct cidr o;
        if (cidr_parse(x->subnet, &o) == 0 && cidr_overlap(&o, c))
            return false;
    }
    return true;
}

static bool vni_free(const struct mgr_store *s, uint32_t vni)
{
    size_t n = mgr_store_count(s, MGR_KIND_NETWORK);

    for (size_t i = 0; i < n; i++)
        if (((const MgrNetwork *)mgr_store_at(s, MGR_KIND_NETWORK, i))->vni == vni)
            return false;
    return true;
}

static bool network_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
            return false;
    }
    return true;
}

static bool local_network_exists(const char *ref, bool exact_name)
{
    json_t *j = NULL;
    bool found;

    if (!node_net() || onet_network_inspect(node_net(), ref, &j, NULL) < 0)
        return false;
    found = !exact_name || (jstr(j, "Name") && strcmp(jstr(j, "Name"), ref) == 0);
    json_decref(j);
    return found;
}

static void network_create(struct http_req *req, const struct mgr_store *s, json_t *body)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NetworkCreate nc = SHOAL__STORE__NETWORK_CREATE__INIT;
    MgrNetwork net = SHOAL__STORE__NETWORK__INIT;
    const char *name = jstr(body, "Name");
    json_t *cfgs = json_object_get(json_object_get(body, "IPAM"), "Config");
    json_t *cfg = json_array_get(cfgs, 0), *copy;
    bool ingress = json_is_true(json_object_get(body, "Ingress"));
    const MgrNetwork *other;
    char id[MGR_ID_LEN + 1], subnet[24], gw[16], *text;
    struct cidr c;
    uint32_t vni = 0;

    if (!name || !network_name_ok(name)) {
        http_reply_error(req, 400,
                         "rpc error: code = InvalidArgument desc = name must be valid as a DNS "
                         "name component");
        return;
    }
    if ((mgr_store_network_find(s, name, &other, NULL) == 0 && strcmp(other->name, name) == 0) ||
        local_network_exists(name, true)) {
        http_reply_error(req, 409, "network with name %s already exists", name);
        return;
    }
    if (json_is_true(json_object_get(body, "EnableIPv6"))) {
        http_reply_error(req, 400, "IPv6 overlay networks are not supported");
        return;
    }
    if (json_array_size(cfgs) > 1) {
        http_reply_error(req, 400, "only one IPv4 subnet per network is supported");
        return;
    }
    if (ingress) {
        size_t n = mgr_store_count(s, MGR_KIND_NETWORK);
        for (size_t i = 0; i < n; i++) {
            const MgrNetwork *x = mgr_store_at(s, MGR_KIND_NETWORK, i);
            json_t *sp = json_loads(x->spec_json ? x->spec_json : "", 0, NULL);
            bool is = json_is_true(json_object_get(sp, "Ingress"));
            json_decref(sp);
            if (is) {
                http_reply_error(req, 403,
                                 "rpc error: code = AlreadyExists desc = ingress network (%s) is "
                                 "already present",
                                 x->id);
                return;
            }
        }
    }
    if (jstr(cfg, "Subnet") && *jstr(cfg, "Subnet")) {
        if (cidr_parse(jstr(cfg, "Subnet"), &c) < 0) {
            http_reply_error(req, 400, "invalid subnet %s: an IPv4 CIDR (/8 to /30) is expected",
                             jstr(cfg, "Subnet"));
            return;
        }
        if (!subnet_free(s, &c)) {
            http_reply_error(req, 403, "Pool overlaps with other one on this address space");
            return;
        }
    } else {
        /* 10.0.0.0/24 is the ingress network's; user networks from 10.0.1.0/24 */
        bool found = false;
        for (uint32_t k = ingress ? 0 : 1; k < 256 && !found; k++) {
            c.addr = (10u << 24) | (k << 8);
            c.prefix = 24;
            if (subnet_free(s, &c)) {
                found = true;
                if (vni_free(s, OVERLAY_VNI_BASE + k))
                    vni = OVERLAY_VNI_BASE + k;
            }
        }
        if (!found) {
            http_reply_error(req, 403,
                             "could not find an available, non-overlapping IPv4 address "
                             "pool among the defaults to assign to the network");
            return;
        }
    }
    if (ingress && vni == 0 && vni_free(s, OVERLAY_VNI_BASE))
        vni = OVERLAY_VNI_BASE;
    for (uint32_t v = OVERLAY_VNI_BASE + 1; vni == 0 && v < OVERLAY_VNI_BASE + 65536; v++)
        if (vni_free(s, v))
            vni = v;
    snprintf(subnet, sizeof(subnet), "%u.%u.%u.%u/%d", c.addr >> 24, (c.addr >> 16) & 255,
             (c.addr >> 8) & 255, c.addr & 255, c.prefix);
    if (jstr(cfg, "Gateway") && *jstr(cfg, "Gateway")) {
        struct in_addr a;
        uint32_t m = 0xffffffffu << (32 - c.prefix);
        if (inet_pton(AF_INET, jstr(cfg, "Gateway"), &a) != 1 || (ntohl(a.s_addr) & m) != c.addr) {
            http_reply_error(req, 400, "invalid gateway %s for subnet %s", jstr(cfg, "Gateway"),
                             subnet);
            return;
        }
        snprintf(gw, sizeof(gw), "%s", jstr(cfg, "Gateway"));
    } else {
        ip_fmt(c.addr + 1, gw, sizeof(gw));
    }
    if (mgr_id_new(id) < 0) {
        http_reply_error(req, 500, "cannot make a network id");
        return;
    }
    copy = json_deep_copy(body);
    (void)json_object_del(copy, "CheckDuplicate");
    text = mgr_json_canonical(copy);
    json_decref(copy);
    if (!text) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    net.id = id;
    net.name = (char *)name;
    net.spec_json = text;
    net.subnet = subnet;
    net.gateway = gw;
    net.vni = vni;
    nc.network = &net;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NETWORK_CREATE;
    cmd.network_create = &nc;
    node_swarm_write(req, &cmd, NODE_REPLY_NET_CREATED, id);
    free(text);
}

static void network_remove(struct http_req *req, const struct mgr_store *s, const MgrNetwork *n)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NetworkRemove nr = SHOAL__STORE__NETWORK_REMOVE__INIT;
    char id[MGR_ID_LEN + 1];
    size_t ns = mgr_store_count(s, MGR_KIND_SERVICE);

    snprintf(id, sizeof(id), "%s", n->id);
    for (size_t i = 0; i < ns; i++) {
        const MgrService *sv = mgr_store_at(s, MGR_KIND_SERVICE, i);
        json_t *spec = json_loads(sv->spec_json ? sv->spec_json : "", 0, NULL), *x;
        bool uses = false;
        size_t k;
        json_array_foreach(json_object_get(json_object_get(spec, "TaskTemplate"), "Networks"), k, x)
        {
            const char *t = jstr(x, "Target");
            if (t && (strcmp(t, id) == 0 || strcmp(t, n->name) == 0))
                uses = true;
        }
        json_decref(spec);
        if (uses) {
            http_reply_error(req, 409,
                             "rpc error: code = FailedPrecondition desc = network %s is in use by "
                             "service %s",
                             id, sv->id);
            return;
        }
    }
    nr.id = id;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NETWORK_REMOVE;
    cmd.network_remove = &nr;
    node_swarm_write(req, &cmd, NODE_REPLY_NO_CONTENT, id);
}

static void networks_list(struct http_req *req, const struct mgr_store *s)
{
    bool bad;
    json_t *filters = node_parse_filters(req, &bad), *out;
    size_t n;

    if (!filters)
        return;
    out = node_net() ? onet_network_list(node_net(), filters) : json_array();
    n = mgr_store_count(s, MGR_KIND_NETWORK);
    for (size_t i = 0; i < n; i++) {
        json_t *v = mgr_json_network_swarm(mgr_store_at(s, MGR_KIND_NETWORK, i));
        if (v && onet_network_filter_match(filters, v, json_is_true(json_object_get(v, "Ingress"))))
            json_array_append(out, v);
        json_decref(v);
    }
    json_decref(filters);
    http_reply_json(req, 200, out);
}

/* Returns false to let node/api_networks.c handle local networks. */
static bool route_networks(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    struct mgr_cluster *c = node_swarm_cluster();
    const struct mgr_store *s;
    const MgrNetwork *n;
    const char *rest, *scope;
    char ref[256];

    if (!c || !mgr_cluster_is_manager(c) || !(s = mgr_cluster_store(c)))
        return false;
    if (strcmp(path, "/networks") == 0 && get) {
        networks_list(req, s);
        return true;
    }
    if (strcmp(path, "/networks/create") == 0 && strcmp(req->method, "POST") == 0) {
        json_t *body = parse_body(req);
        const char *drv = jstr(body, "Driver");
        if (!json_is_object(body) || !drv || strcmp(drv, "overlay") != 0) {
            json_decref(body);
            return false;
        }
        network_create(req, s, body);
        json_decref(body);
        return true;
    }
    rest = split_ref(path, "/networks", ref, sizeof(ref));
    if (!rest || *rest || strcmp(ref, "create") == 0 || strcmp(ref, "prune") == 0)
        return false;
    scope = http_query_get(req, "scope");
    if (scope && strcmp(scope, "local") == 0)
        return false;
    if ((!scope || strcmp(scope, "swarm") != 0) && local_network_exists(ref, false))
        return false;
    if (mgr_store_network_find(s, ref, &n, NULL) < 0) {
        if (scope && strcmp(scope, "swarm") == 0 && get) {
            http_reply_error(req, 404, "network %s not found", ref);
            return true;
        }
        return false;
    }
    if (get) {
        http_reply_json(req, 200, mgr_json_network_swarm(n));
        return true;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        network_remove(req, s, n);
        return true;
    }
    return false;
}

/* ---- entry -------------------------------------------------------------------------- */

bool node_api_services(struct http_req *req, const char *path)
{
    if (!node_swarm_cluster())
        return false;
    if (node_api_service_logs(req, path))
        return true;
    if (strncmp(path, "/networks", 9) == 0)
        return route_networks(req, path);
    if (strncmp(path, "/services", 9) == 0)
        return route_services(req, path);
    if (strncmp(path, "/tasks", 6) == 0)
        return route_tasks(req, path);
    if (strncmp(path, "/secrets", 8) == 0)
        return route_secrets(req, path, "/secrets", "secret");
    if (strncmp(path, "/configs", 8) == 0)
        return route_secrets(req, path, "/configs", "config");
    return false;
}
