/*
 * node/api_networks.c - /networks routes and the glue between the runtime's
 * network hooks (runtime/runtime.h, struct rt_net_hooks) and overlaynet.
 */
#define LOG_MODULE "api"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "node/events.h"
#include "node/node.h"
#include "overlaynet/overlaynet.h"

static struct onet *g_onet;

struct onet *node_net(void)
{
    return g_onet;
}

/* ---- runtime hooks ----------------------------------------------------- */

/* Replace a file's content in place: the container may already have it
 * bind-mounted (network connect on a running container). */
static void write_in_place(const char *path, const char *text)
{
    int fd;

    if (!path || !*path)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        log_warn("writing %s: %s, ignoring", path, strerror(errno));
    if (fd >= 0)
        (void)close(fd);
}

static void write_etc(struct rt_container *c, json_t *insp)
{
    const char *mode =
        json_string_value(json_object_get(json_object_get(insp, "HostConfig"), "NetworkMode"));
    const char *host =
        json_string_value(json_object_get(json_object_get(insp, "Config"), "Hostname"));
    char *hosts = NULL, *resolv = NULL;

    if (!onet_container_netns(g_onet, rt_container_id(c)))
        return; /* host, none, container: the runtime's files stay */
    if (onet_container_etc_files(g_onet, rt_container_id(c), host, mode, &hosts, &resolv) < 0)
        return;
    write_in_place(json_string_value(json_object_get(insp, "HostsPath")), hosts);
    write_in_place(json_string_value(json_object_get(insp, "ResolvConfPath")), resolv);
    free(hosts);
    free(resolv);
}

/* For container:X: the namespace of X (ours, or its process's). */
static void join_path(const char *mode, char *out, size_t len)
{
    struct rt_container *o = NULL;
    const char *p;

    out[0] = '\0';
    if (!mode || strncmp(mode, "container:", 10) != 0 ||
        rt_container_find(node_current->rt, mode + 10, &o, NULL) < 0)
        return;
    if (rt_container_state(o) != RT_STATE_RUNNING)
        return;
    if ((p = onet_container_netns(g_onet, rt_container_id(o))))
        (void)snprintf(out, len, "%s", p);
    else if (rt_container_pid(o) > 0)
        (void)snprintf(out, len, "/proc/%d/ns/net", rt_container_pid(o));
}

static int ctr_of(struct rt_container *c, json_t **ret_insp, struct onet_ctr *oc, char *join,
                  size_t join_len)
{
    json_t *insp = rt_container_inspect(c);
    json_t *hc = json_object_get(insp, "HostConfig");

    if (!insp)
        return -ENOMEM;
    memset(oc, 0, sizeof(*oc));
    oc->id = rt_container_id(c);
    oc->name = rt_container_name(c);
    oc->config = json_object_get(insp, "Config");
    oc->hostname = json_string_value(json_object_get(oc->config, "Hostname"));
    oc->host_config = hc;
    /* present once the runtime keeps NetworkingConfig (aliases) */
    oc->networking = json_object_get(insp, "NetworkingConfig");
    join_path(json_string_value(json_object_get(hc, "NetworkMode")), join, join_len);
    oc->join_netns = join;
    *ret_insp = insp;
    return 0;
}

static int hook_prepare(void *arg, struct rt_container *c, char *netns_path, size_t len,
                        struct err *err)
{
    struct onet_ctr oc;
    char join[4096];
    json_t *insp = NULL;
    int r;

    (void)arg;
    if (ctr_of(c, &insp, &oc, join, sizeof(join)) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    r = onet_container_prepare(g_onet, &oc, netns_path, len, err);
    if (r == 0)
        write_etc(c, insp);
    json_decref(insp);
    return r;
}

static void hook_release(void *arg, struct rt_container *c, bool removed)
{
    (void)arg;
    onet_container_release(g_onet, rt_container_id(c), removed);
}

static int hook_validate(void *arg, json_t *config, json_t *host_config, json_t *networking,
                         struct err *err)
{
    (void)arg;
    return onet_validate(g_onet, config, host_config, networking, err);
}

/* Implemented by the runtime; weak so that this file links before it is. */
#pragma weak rt_set_net_hooks

int node_net_open(struct node *n, const char *bip, const char *const *dns, size_t n_dns,
                  struct err *err)
{
    struct onet_opts o = {
        .loop = n->loop,
        .data_root = n->cfg->data_root,
        .exec_root = n->cfg->exec_root,
        .bip = bip,
        .no_fast_path = n->cfg->no_bridge_fast_path,
    };
    static const struct rt_net_hooks hooks = {
        .prepare = hook_prepare,
        .release = hook_release,
        .validate = hook_validate,
    };
    struct rt_container **all = NULL;
    size_t cnt = 0;
    int r;

    for (size_t i = 0; i < n_dns && i < ONET_MAX_DNS; i++)
        o.dns[o.n_dns++] = dns[i];
    if ((r = onet_open(&o, &g_onet, err)) < 0)
        return r;
    /* containers that ended while shoald was down lose their networking */
    if (rt_container_list(n->rt, &all, &cnt) == 0) {
        const char **ids = calloc(cnt + 1, sizeof(*ids));
        size_t k = 0;
        for (size_t i = 0; ids && i < cnt; i++)
            if (rt_container_state(all[i]) == RT_STATE_RUNNING)
                ids[k++] = rt_container_id(all[i]);
        if (ids)
            onet_sync_running(g_onet, ids, k);
        free(ids);
        free(all);
    }
    if (rt_set_net_hooks)
        rt_set_net_hooks(n->rt, &hooks);
    else
        log_warn("the runtime has no network hooks yet: containers get no bridge networking");
    return 0;
}

void node_net_close(void)
{
    onet_close(g_onet);
    g_onet = NULL;
}

/* ---- /networks --------------------------------------------------------- */

static json_t *body_json(struct http_req *req)
{
    json_error_t jerr;
    json_t *b = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &jerr);

    if (!json_is_object(b)) {
        json_decref(b);
        http_reply_error(req, 400, "invalid JSON body: %s", jerr.text);
        return NULL;
    }
    return b;
}

static void net_event(const char *action, const char *id, const char *name, const char *ctr)
{
    json_t *attrs = json_pack("{s:s, s:s}", "name", name ? name : id, "type", "bridge");

    if (ctr)
        json_object_set_new(attrs, "container", json_string(ctr));
    node_event_emit("network", action, id, attrs);
    json_decref(attrs);
}

static void do_create(struct http_req *req)
{
    json_t *b = body_json(req);
    struct err err = {0};
    char id[65];

    if (!b)
        return;
    if (onet_network_create(g_onet, b, id, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
    } else {
        net_event("create", id, json_string_value(json_object_get(b, "Name")), NULL);
        http_reply_json(req, 201, json_pack("{s:s, s:s}", "Id", id, "Warning", ""));
    }
    json_decref(b);
}

static void do_connect(struct http_req *req, const char *ref, bool connect)
{
    json_t *b = body_json(req), *insp = NULL, *netj = NULL;
    const char *cref;
    struct rt_container *c = NULL;
    struct err err = {0};
    struct onet_ctr oc;
    char join[4096];
    int r;

    if (!b)
        return;
    cref = json_string_value(json_object_get(b, "Container"));
    if (!cref || !*cref) {
        http_reply_error(req, 400, "container is required");
        goto out;
    }
    if (onet_network_inspect(g_onet, ref, &netj, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        goto out;
    }
    if (rt_container_find(node_current->rt, cref, &c, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        goto out;
    }
    if (connect) {
        if (ctr_of(c, &insp, &oc, join, sizeof(join)) < 0) {
            http_reply_error(req, 500, "out of memory");
            goto out;
        }
        r = onet_network_connect(g_onet, ref, &oc,
                                 rt_container_state(c) == RT_STATE_RUNNING &&
                                     onet_container_netns(g_onet, oc.id),
                                 json_object_get(b, "EndpointConfig"), &err);
        if (r == 0)
            write_etc(c, insp);
    } else {
        r = onet_network_disconnect(g_onet, ref, rt_container_id(c),
                                    json_is_true(json_object_get(b, "Force")), &err);
    }
    if (r < 0) {
        node_reply_err(req, err.code, err.msg);
        goto out;
    }
    net_event(connect ? "connect" : "disconnect", json_string_value(json_object_get(netj, "Id")),
              json_string_value(json_object_get(netj, "Name")), rt_container_id(c));
    http_reply(req, 200, "application/json", NULL, 0);
out:
    json_decref(insp);
    json_decref(netj);
    json_decref(b);
}

bool node_api_networks(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    struct err err = {0};
    char ref[256];
    const char *rest;
    json_t *j;
    bool bad;

    if (strncmp(path, "/networks", 9) != 0 || (path[9] && path[9] != '/'))
        return false;
    if (!g_onet) {
        http_reply_error(req, 503, "networking is not available on this node");
        return true;
    }
    rest = path[9] ? path + 10 : "";
    if (!*rest) {
        if (!get)
            goto bad_method;
        j = node_parse_filters(req, &bad);
        if (bad)
            return true;
        http_reply_json(req, 200, onet_network_list(g_onet, j));
        json_decref(j);
        return true;
    }
    if (strcmp(rest, "create") == 0) {
        if (!post)
            goto bad_method;
        do_create(req);
        return true;
    }
    if (strcmp(rest, "prune") == 0) {
        if (!post)
            goto bad_method;
        json_t *del = NULL;
        j = node_parse_filters(req, &bad);
        if (bad)
            return true;
        if (onet_network_prune(g_onet, j, &del, &err) < 0)
            node_reply_err(req, err.code, err.msg);
        else
            http_reply_json(req, 200, json_pack("{s:o}", "NetworksDeleted", del));
        json_decref(j);
        return true;
    }
    const char *slash = strchr(rest, '/');
    size_t l = slash ? (size_t)(slash - rest) : strlen(rest);
    if (l == 0 || l >= sizeof(ref)) {
        http_reply_error(req, 404, "network %s not found", rest);
        return true;
    }
    memcpy(ref, rest, l);
    ref[l] = '\0';
    if (!slash) {
        if (get) {
            if (onet_network_inspect(g_onet, ref, &j, &err) < 0)
                node_reply_err(req, err.code, err.msg);
            else
                http_reply_json(req, 200, j);
            return true;
        }
        if (strcmp(req->method, "DELETE") == 0) {
            json_t *info = NULL;
            (void)onet_network_inspect(g_onet, ref, &info, NULL);
            if (onet_network_remove(g_onet, ref, &err) < 0) {
                node_reply_err(req, err.code, err.msg);
            } else {
                net_event("destroy", json_string_value(json_object_get(info, "Id")),
                          json_string_value(json_object_get(info, "Name")), NULL);
                http_reply(req, 204, NULL, NULL, 0);
            }
            json_decref(info);
            return true;
        }
        goto bad_method;
    }
    if (post && (strcmp(slash, "/connect") == 0 || strcmp(slash, "/disconnect") == 0)) {
        do_connect(req, ref, slash[1] == 'c');
        return true;
    }
    http_reply_error(req, 404, "page not found");
    return true;
bad_method:
    http_reply_error(req, 405, "method not allowed");
    return true;
}
