/*
 * node/api_containers.c - /containers/... routes of the Engine API.
 */
#define LOG_MODULE "api"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "node/events.h"
#include "node/node.h"
#include "overlaynet/overlaynet.h"

int rt_signal_parse(const char *s); /* runtime/container.c */

/* An async operation bound to one request. */
struct op {
    struct http_req *req;
    struct rt_container *c;
    struct rt_waiter *waiter;
    int timeout; /* restart: stop timeout */
};

static struct op *op_new(struct http_req *req, struct rt_container *c)
{
    struct op *op = calloc(1, sizeof(*op));

    if (!op)
        return NULL;
    http_req_ref(req);
    op->req = req;
    op->c = c ? rt_container_ref(c) : NULL;
    req->data = op;
    return op;
}

static void op_free(struct op *op)
{
    op->req->data = NULL;
    op->req->on_abort = NULL;
    http_req_unref(op->req);
    rt_container_unref(op->c);
    free(op);
}

/* ---- create --------------------------------------------------------------- */

static void create_container(struct http_req *req)
{
    struct node *n = node_current;
    json_error_t jerr;
    json_t *body;
    json_t *cfg;
    json_t *hc;
    struct rt_container *c = NULL;
    struct err err = {0};
    const char *name = http_query_get(req, "name");

    body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &jerr);
    if (!json_is_object(body)) {
        http_reply_error(req, 400, "invalid JSON body: %s", body ? "not an object" : jerr.text);
        json_decref(body);
        return;
    }
    cfg = json_deep_copy(body);
    hc = json_incref(json_object_get(body, "HostConfig"));
    json_object_del(cfg, "HostConfig");
    /* NetworkingConfig stays in: the runtime keeps it for the network hooks. */
    if (rt_container_create(n->rt, name, cfg, hc, &c, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
    } else {
        http_reply_json(req, 201, json_pack("{s:s, s:[]}", "Id", rt_container_id(c), "Warnings"));
    }
    json_decref(cfg);
    json_decref(hc);
    json_decref(body);
}

/* ---- networking (overlaynet) in inspect and ps ---------------------------- */

static json_t *net_inspect(struct rt_container *c, json_t *ins)
{
    const char *mode;
    json_t *ns;

    if (!ins || !node_net())
        return ins;
    mode = json_string_value(json_object_get(json_object_get(ins, "HostConfig"), "NetworkMode"));
    ns = onet_container_settings_json(node_net(), rt_container_id(c), mode ? mode : "default");
    if (ns)
        json_object_set_new(ins, "NetworkSettings", ns);
    return ins;
}

static void net_summary(struct rt_container *c, json_t *s)
{
    const char *mode;
    json_t *ports, *nets;

    if (!node_net())
        return;
    /* the summary already carries it: no need to build the inspect object */
    mode = json_string_value(json_object_get(json_object_get(s, "HostConfig"), "NetworkMode"));
    if (!mode)
        mode = "default";
    ports = onet_container_ports_summary(node_net(), rt_container_id(c));
    nets = onet_container_networks_json(node_net(), rt_container_id(c), mode);
    if (ports)
        json_object_set_new(s, "Ports", ports);
    if (nets)
        json_object_set_new(json_object_get(s, "NetworkSettings"), "Networks", nets);
}

/* ---- list ----------------------------------------------------------------- */

static const char *state_word(enum rt_state s)
{
    switch (s) {
    case RT_STATE_RUNNING:
        return "running";
    case RT_STATE_EXITED:
        return "exited";
    case RT_STATE_REMOVING:
        return "removing";
    case RT_STATE_DEAD:
        return "dead";
    default:
        return "created";
    }
}

static bool label_match(json_t *filters, json_t *labels)
{
    json_t *want = json_object_get(filters, "label");
    size_t i;
    json_t *v;

    json_array_foreach(want, i, v)
    {
        const char *s = json_string_value(v);
        const char *eq = strchr(s, '=');
        char key[256];
        json_t *have;

        (void)snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
        have = json_object_get(labels, key);
        if (!have)
            return false;
        if (eq && strcmp(json_string_value(have) ?: "", eq + 1) != 0)
            return false;
    }
    return true;
}

static bool filters_match(json_t *f, struct rt_container *c, json_t *summary)
{
    const char *id = rt_container_id(c);
    size_t i;
    json_t *v;
    bool ok;

    if (!node_filter_match(f, "status", state_word(rt_container_state(c))))
        return false;
    if (json_array_size(json_object_get(f, "id"))) {
        ok = false;
        json_array_foreach(json_object_get(f, "id"), i, v)
        {
            if (strncmp(id, json_string_value(v), strlen(json_string_value(v))) == 0)
                ok = true;
        }
        if (!ok)
            return false;
    }
    if (json_array_size(json_object_get(f, "name"))) {
        ok = false;
        json_array_foreach(json_object_get(f, "name"), i, v)
        {
            /* Docker matches names as a substring/regexp; substring covers common use. */
            if (strstr(rt_container_name(c), json_string_value(v)))
                ok = true;
        }
        if (!ok)
            return false;
    }
    if (json_array_size(json_object_get(f, "exited"))) {
        char code[16];
        (void)snprintf(code, sizeof(code), "%d", rt_container_exit_code(c));
        if (rt_container_state(c) != RT_STATE_EXITED || !node_filter_match(f, "exited", code))
            return false;
    }
    if (json_array_size(json_object_get(f, "ancestor"))) {
        const char *img = json_string_value(json_object_get(summary, "Image"));
        const char *img_id = json_string_value(json_object_get(summary, "ImageID"));
        ok = false;
        json_array_foreach(json_object_get(f, "ancestor"), i, v)
        {
            const char *s = json_string_value(v);
            if ((img && strcmp(img, s) == 0) || (img_id && strstr(img_id, s)))
                ok = true;
        }
        if (!ok)
            return false;
    }
    return label_match(f, json_object_get(summary, "Labels"));
}

static void list_containers(struct http_req *req)
{
    bool all = http_query_bool(req, "all", false);
    const char *limit_s = http_query_get(req, "limit");
    int64_t limit = -1;
    struct rt_container **arr = NULL;
    size_t n = 0;
    json_t *out;
    json_t *f;
    bool bad;

    if (limit_s && *limit_s && parse_i64(limit_s, &limit) < 0) {
        http_reply_error(req, 400, "invalid limit: %s", limit_s);
        return;
    }
    f = node_parse_filters(req, &bad);
    if (bad)
        return;
    if (limit > 0 || json_array_size(json_object_get(f, "status")) ||
        json_array_size(json_object_get(f, "exited")))
        all = true;
    if (rt_container_list(node_current->rt, &arr, &n) < 0) {
        json_decref(f);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *s;
        if (!all && rt_container_state(arr[i]) != RT_STATE_RUNNING)
            continue;
        s = rt_container_summary(arr[i]);
        if (!s)
            continue;
        net_summary(arr[i], s);
        if (!filters_match(f, arr[i], s)) {
            json_decref(s);
            continue;
        }
        json_array_append_new(out, s);
        if (limit > 0 && (int64_t)json_array_size(out) >= limit)
            break;
    }
    free(arr);
    json_decref(f);
    http_reply_json(req, 200, out);
}

/* ---- start / stop / kill / restart / rm ----------------------------------- */

static void done_204(void *arg, int status, const char *msg)
{
    struct op *op = arg;

    if (status == 0)
        http_reply(op->req, 204, NULL, NULL, 0);
    else
        node_reply_err(op->req, status, msg);
    op_free(op);
}

static void op_abort(struct http_req *req)
{
    /* The operation goes on (a start or stop is not undone because the
     * client left); its reply becomes a no-op. */
    (void)req;
}

static void start_container(struct http_req *req, struct rt_container *c)
{
    struct err err = {0};
    struct op *op = op_new(req, c);

    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    req->on_abort = op_abort;
    if (rt_container_start(c, done_204, op, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        op_free(op);
    }
}

static int query_timeout(struct http_req *req, int *ret)
{
    const char *t = http_query_get(req, "t");
    int64_t v;

    *ret = -1;
    if (!t || !*t)
        return 0;
    if (parse_i64(t, &v) < 0 || v < -1 || v > 1000000) {
        http_reply_error(req, 400, "invalid value for t: %s", t);
        return -1;
    }
    *ret = (int)v;
    return 0;
}

static void stop_container(struct http_req *req, struct rt_container *c)
{
    struct err err = {0};
    struct op *op;
    int t;

    if (query_timeout(req, &t) < 0)
        return;
    op = op_new(req, c);
    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    req->on_abort = op_abort;
    if (rt_container_stop(c, t, done_204, op, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        op_free(op);
    }
}

static void restart_started(void *arg, int status, const char *msg)
{
    struct op *op = arg;

    if (status == 0 || status == ERR_NOT_MODIFIED)
        node_event_container(op->c, "restart", NULL);
    done_204(arg, status == ERR_NOT_MODIFIED ? 0 : status, msg);
}

static void restart_stopped(void *arg, int status, const char *msg)
{
    struct op *op = arg;
    struct err err = {0};

    if (status < 0) {
        done_204(arg, status, msg);
        return;
    }
    if (rt_container_start(op->c, restart_started, op, &err) < 0) {
        node_reply_err(op->req, err.code, err.msg);
        op_free(op);
    }
}

static void restart_container(struct http_req *req, struct rt_container *c)
{
    struct err err = {0};
    struct op *op;
    int t;
    int r;

    if (query_timeout(req, &t) < 0)
        return;
    op = op_new(req, c);
    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    req->on_abort = op_abort;
    r = rt_container_stop(c, t, restart_stopped, op, &err);
    if (r == ERR_NOT_MODIFIED) {
        restart_stopped(op, 0, NULL);
    } else if (r < 0) {
        node_reply_err(req, err.code, err.msg);
        op_free(op);
    }
}

static void kill_container(struct http_req *req, struct rt_container *c)
{
    const char *s = http_query_get(req, "signal");
    struct err err = {0};
    int sig = SIGKILL;

    if (s && *s) {
        sig = rt_signal_parse(s);
        if (sig < 0) {
            http_reply_error(req, 400, "Invalid signal: %s", s);
            return;
        }
    }
    if (rt_container_kill(c, sig, &err) < 0)
        node_reply_err(req, err.code, err.msg);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

static void remove_container(struct http_req *req, struct rt_container *c)
{
    struct err err = {0};
    struct op *op = op_new(req, c);

    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    req->on_abort = op_abort;
    if (rt_container_remove(c, http_query_bool(req, "force", false), done_204, op, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        op_free(op);
    }
}

/* ---- wait ----------------------------------------------------------------- */

static void wait_done(void *arg, int exit_code, const char *msg)
{
    struct op *op = arg;
    json_t *o;
    char *body;

    op->waiter = NULL;
    if (msg)
        o = json_pack("{s:{s:s}, s:i}", "Error", "Message", msg, "StatusCode", exit_code);
    else
        o = json_pack("{s:n, s:i}", "Error", "StatusCode", exit_code);
    body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body) {
        size_t len = strlen(body);
        char *line = realloc(body, len + 2);
        if (line) {
            line[len] = '\n';
            http_stream_write(op->req, line, len + 1);
            body = line;
        }
        free(body);
    }
    http_stream_end(op->req);
    op_free(op);
}

static void wait_abort(struct http_req *req)
{
    struct op *op = req->data;

    if (!op)
        return;
    rt_waiter_cancel(op->waiter);
    op->waiter = NULL;
    op_free(op);
}

static void wait_container(struct http_req *req, struct rt_container *c)
{
    const char *cond_s = http_query_get(req, "condition");
    enum rt_wait_cond cond = RT_WAIT_NOT_RUNNING;
    struct op *op;

    if (!cond_s || !*cond_s || strcmp(cond_s, "not-running") == 0)
        cond = RT_WAIT_NOT_RUNNING;
    else if (strcmp(cond_s, "next-exit") == 0)
        cond = RT_WAIT_NEXT_EXIT;
    else if (strcmp(cond_s, "removed") == 0)
        cond = RT_WAIT_REMOVED;
    else {
        http_reply_error(req, 400, "invalid condition: \"%s\"", cond_s);
        return;
    }
    op = op_new(req, c);
    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    /* Headers go out at once: `docker run` waits for them before it starts. */
    http_stream_begin(req, 200, "application/json");
    enum rt_state st = rt_container_state(c);
    if (cond == RT_WAIT_NOT_RUNNING && st != RT_STATE_RUNNING) {
        wait_done(op, rt_container_exit_code(c), NULL);
        return;
    }
    if (cond == RT_WAIT_REMOVED && st == RT_STATE_DEAD) {
        wait_done(op, rt_container_exit_code(c), NULL);
        return;
    }
    op->waiter = rt_container_wait(c, cond, wait_done, op);
    if (!op->waiter) {
        wait_done(op, -1, "out of memory");
        return;
    }
    req->on_abort = wait_abort;
}

/* ---- resize --------------------------------------------------------------- */

static void resize_container(struct http_req *req, struct rt_container *c)
{
    const char *h = http_query_get(req, "h");
    const char *w = http_query_get(req, "w");
    uint64_t rows = 0, cols = 0;
    struct err err = {0};

    if (!h || !w || parse_u64(h, &rows) < 0 || parse_u64(w, &cols) < 0) {
        http_reply_error(req, 400, "invalid terminal size: h and w must be numbers");
        return;
    }
    if (rt_container_resize(c, (unsigned)rows, (unsigned)cols, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
    } else {
        json_t *a = json_pack("{s:s, s:s}", "height", h, "width", w);
        node_event_container(c, "resize", a);
        json_decref(a);
        http_reply(req, 200, "text/plain; charset=utf-8", NULL, 0);
    }
}

/* ---- pause / unpause / rename --------------------------------------------- */

static void pause_container(struct http_req *req, struct rt_container *c, bool pause)
{
    struct err err = {0};
    int r = pause ? rt_container_pause(c, &err) : rt_container_unpause(c, &err);

    if (r < 0)
        node_reply_err(req, err.code, err.msg);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

static void rename_container(struct http_req *req, struct rt_container *c)
{
    const char *name = http_query_get(req, "name");
    struct err err = {0};

    if (rt_container_rename(c, name, &err) < 0)
        node_reply_err(req, err.code, err.msg);
    else
        http_reply(req, 204, NULL, NULL, 0);
}

/* ---- prune ---------------------------------------------------------------- */

struct prune {
    struct http_req *req;
    json_t *deleted;
    uint64_t reclaimed;
    size_t pending;
};

static __thread uint64_t du_total;

static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (uint64_t)st->st_blocks * 512;
    return 0;
}

static uint64_t dir_usage(const char *dir)
{
    du_total = 0;
    (void)nftw(dir, du_cb, 32, FTW_PHYS | FTW_MOUNT);
    return du_total;
}

static void prune_reply(struct prune *p)
{
    http_reply_json(p->req, 200,
                    json_pack("{s:o, s:I}", "ContainersDeleted", p->deleted, "SpaceReclaimed",
                              (json_int_t)p->reclaimed));
    http_req_unref(p->req);
    free(p);
}

static void prune_one_done(void *arg, int status, const char *msg)
{
    struct prune *p = arg;

    if (status < 0)
        log_warn("prune: %s", msg ? msg : strerror(-status));
    if (--p->pending == 0)
        prune_reply(p);
}

/* "10m", "1h30m", "45s" (Go durations, whole units). */
static int parse_duration_ns(const char *s, int64_t *ret)
{
    int64_t total = 0;

    if (!*s)
        return -EINVAL;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        int64_t unit;
        if (end == s)
            return -EINVAL;
        s = end;
        if (*s == 'h')
            unit = 3600LL * 1000000000LL;
        else if (*s == 'm' && s[1] == 's')
            unit = 1000000LL, s++;
        else if (*s == 'm')
            unit = 60LL * 1000000000LL;
        else if (*s == 's')
            unit = 1000000000LL;
        else
            return -EINVAL;
        s++;
        total += (int64_t)(v * (double)unit);
    }
    *ret = total;
    return 0;
}

static bool labels_filter(json_t *vals, json_t *labels, bool negate)
{
    size_t i;
    json_t *v;

    json_array_foreach(vals, i, v)
    {
        const char *s = json_string_value(v);
        const char *eq = strchr(s, '=');
        char key[256];
        json_t *have;
        bool hit;

        (void)snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
        have = json_object_get(labels, key);
        hit = have && (!eq || strcmp(json_string_value(have) ?: "", eq + 1) == 0);
        if (negate ? hit : !hit)
            return false;
    }
    return true;
}

static void prune_containers(struct http_req *req)
{
    struct rt_container **arr = NULL;
    size_t n = 0;
    int64_t until = 0;
    struct prune *p;
    json_t *f;
    bool bad;

    f = node_parse_filters(req, &bad);
    if (bad)
        return;
    {
        const char *k;
        json_t *v;
        json_object_foreach(f, k, v)
        {
            if (strcmp(k, "until") != 0 && strcmp(k, "label") != 0 && strcmp(k, "label!") != 0) {
                http_reply_error(req, 400, "invalid filter '%s'", k);
                json_decref(f);
                return;
            }
        }
    }
    if (json_array_size(json_object_get(f, "until"))) {
        const char *u = json_string_value(json_array_get(json_object_get(f, "until"), 0));
        int64_t d;
        if (node_events_parse_time(u, &until) < 0) {
            if (parse_duration_ns(u, &d) < 0) {
                http_reply_error(req, 400, "invalid filter 'until=%s'", u);
                json_decref(f);
                return;
            }
            until = time_now_ns() - d;
        }
    }
    p = calloc(1, sizeof(*p));
    if (!p || rt_container_list(node_current->rt, &arr, &n) < 0) {
        free(p);
        json_decref(f);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    p->deleted = json_array();
    http_req_ref(req);
    p->req = req;
    p->pending = 1;
    for (size_t i = 0; i < n; i++) {
        struct rt_container *c = arr[i];
        enum rt_state st = rt_container_state(c);
        char upper[4096];
        uint64_t size;
        if ((st != RT_STATE_CREATED && st != RT_STATE_EXITED) || rt_container_restarting(c))
            continue;
        if (until > 0 && rt_container_created_ns(c) >= until)
            continue;
        if (!labels_filter(json_object_get(f, "label"), rt_container_labels(c), false) ||
            !labels_filter(json_object_get(f, "label!"), rt_container_labels(c), true))
            continue;
        size = dir_usage(rt_container_upper_dir(c, upper, sizeof(upper)));
        p->pending++;
        if (rt_container_remove(c, false, prune_one_done, p, NULL) < 0) {
            p->pending--;
            continue;
        }
        json_array_append_new(p->deleted, json_string(rt_container_id(c)));
        p->reclaimed += size;
    }
    free(arr);
    json_decref(f);
    node_event_emit("container", "prune", "",
                    NULL); /* dockerd: {"Type":"container","Action":"prune"} */
    prune_one_done(p, 0, NULL);
}

/* ---- routing -------------------------------------------------------------- */

bool node_api_containers(struct http_req *req, const char *path)
{
    const char *m = req->method;
    char id[512];
    const char *rest;
    struct rt_container *c = NULL;
    struct err err = {0};

    if (strncmp(path, "/containers/", 12) != 0 && strcmp(path, "/containers") != 0)
        return false;
    if (strcmp(path, "/containers/json") == 0 && strcmp(m, "GET") == 0) {
        list_containers(req);
        return true;
    }
    if (strcmp(path, "/containers/create") == 0 && strcmp(m, "POST") == 0) {
        create_container(req);
        return true;
    }
    if (strcmp(path, "/containers/prune") == 0) {
        if (strcmp(m, "POST") != 0)
            return false;
        prune_containers(req);
        return true;
    }
    path += 12;
    rest = strchr(path, '/');
    (void)snprintf(id, sizeof(id), "%.*s", rest ? (int)(rest - path) : (int)strlen(path), path);
    if (!rest)
        rest = "";
    if (!*id)
        return false;
    bool archive = strcmp(rest, "/archive") == 0 &&
                   (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0);
    if (!(strcmp(m, "DELETE") == 0 && !*rest) && !archive &&
        !(strcmp(m, "GET") == 0 && (strcmp(rest, "/json") == 0 || strcmp(rest, "/logs") == 0 ||
                                    strcmp(rest, "/stats") == 0)) &&
        !(strcmp(m, "POST") == 0 &&
          (strcmp(rest, "/start") == 0 || strcmp(rest, "/stop") == 0 ||
           strcmp(rest, "/kill") == 0 || strcmp(rest, "/restart") == 0 ||
           strcmp(rest, "/wait") == 0 || strcmp(rest, "/attach") == 0 ||
           strcmp(rest, "/resize") == 0 || strcmp(rest, "/pause") == 0 ||
           strcmp(rest, "/unpause") == 0 || strcmp(rest, "/rename") == 0)))
        return false;
    if (rt_container_find(node_current->rt, id, &c, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        return true;
    }
    if (strcmp(m, "DELETE") == 0)
        remove_container(req, c);
    else if (strcmp(rest, "/json") == 0)
        http_reply_json(req, 200, net_inspect(c, rt_container_inspect(c)));
    else if (strcmp(rest, "/logs") == 0)
        node_api_logs(req, c);
    else if (strcmp(rest, "/start") == 0)
        start_container(req, c);
    else if (strcmp(rest, "/stop") == 0)
        stop_container(req, c);
    else if (strcmp(rest, "/kill") == 0)
        kill_container(req, c);
    else if (strcmp(rest, "/restart") == 0)
        restart_container(req, c);
    else if (strcmp(rest, "/wait") == 0)
        wait_container(req, c);
    else if (strcmp(rest, "/attach") == 0)
        node_api_attach(req, c);
    else if (strcmp(rest, "/resize") == 0)
        resize_container(req, c);
    else if (strcmp(rest, "/pause") == 0)
        pause_container(req, c, true);
    else if (strcmp(rest, "/unpause") == 0)
        pause_container(req, c, false);
    else if (strcmp(rest, "/rename") == 0)
        rename_container(req, c);
    else if (strcmp(rest, "/stats") == 0)
        node_api_stats(req, c);
    else if (archive)
        node_api_archive(req, c);
    return true;
}
