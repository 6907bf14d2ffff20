/*
 * node/api_registry.c - registry routes:
 *   POST /images/create?fromImage=X&tag=T   pull (Docker's JSON progress stream)
 *   POST /images/{name}/push?tag=T          push
 *   GET  /distribution/{name}/json          manifest descriptor and platforms
 *   POST /auth                              docker login
 * Credentials come from X-Registry-Auth (pull, push, distribution) or the
 * body (/auth). The blocking work runs on a thread of its own (a pull can
 * take minutes; the libuv pool stays free for imports and removals); its
 * progress events are queued and handed to the loop thread through a
 * uv_async. Errors before the first event are plain HTTP errors; later ones
 * go into the stream. A client that goes away cancels the operation.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"

#include "node/events.h"
#include "node/node.h"
#include "node/progress.h"
#include "runtime/registry.h"

enum op_kind { OP_PULL, OP_PUSH, OP_DIST, OP_LOGIN };

struct op_event {
    struct rt_reg_event ev; /* aux: our reference */
};

struct op {
    enum op_kind kind;
    uv_async_t async;
    uv_thread_t thread;
    bool thread_started;
    struct http_req *req;
    char ref[1024];
    char tag[200];
    char tmp_dir[4096];
    struct rt_reg_auth auth;
    struct rt_reg_opts opts;
    volatile bool cancel;
    bool streaming; /* the 200 stream has begun (http.c does not set req->responded) */

    pthread_mutex_t lock; /* events, done */
    struct op_event *events;
    size_t n_events, cap_events;
    bool done;

    /* results (read on the loop thread after done) */
    int r;
    struct err err;
    json_t *result;
    struct rt_pull_result pull;
};

static void op_free(struct op *op)
{
    for (size_t i = 0; i < op->n_events; i++)
        json_decref(op->events[i].ev.aux);
    free(op->events);
    rt_reg_auth_clear(&op->auth);
    json_decref(op->result);
    (void)pthread_mutex_destroy(&op->lock);
    free(op);
}

static void op_closed(uv_handle_t *h)
{
    struct op *op = h->data;

    if (op->thread_started)
        (void)uv_thread_join(&op->thread);
    if (op->req) {
        op->req->on_abort = NULL;
        op->req->data = NULL;
        http_req_unref(op->req);
    }
    op_free(op);
}

/* Worker side: queue an event (coalescing consecutive bars of one layer). */
static void op_event_cb(void *arg, const struct rt_reg_event *ev)
{
    struct op *op = arg;

    (void)pthread_mutex_lock(&op->lock);
    if (ev->bar && !ev->aux && op->n_events > 0) {
        struct rt_reg_event *last = &op->events[op->n_events - 1].ev;
        if (last->bar && !last->aux && strcmp(last->id, ev->id) == 0 &&
            strcmp(last->status, ev->status) == 0) {
            last->current = ev->current;
            last->total = ev->total;
            (void)pthread_mutex_unlock(&op->lock);
            return;
        }
    }
    if (op->n_events == op->cap_events) {
        size_t cap = op->cap_events ? op->cap_events * 2 : 32;
        struct op_event *v = realloc(op->events, cap * sizeof(*v));
        if (!v) {
            (void)pthread_mutex_unlock(&op->lock);
            return; /* drop a progress line rather than fail the pull */
        }
        op->events = v;
        op->cap_events = cap;
    }
    op->events[op->n_events].ev = *ev;
    if (ev->aux)
        json_incref(ev->aux);
    op->n_events++;
    (void)pthread_mutex_unlock(&op->lock);
    (void)uv_async_send(&op->async);
}

static const char *const *insecure_list(size_t *n)
{
    *n = node_current->cfg->n_insecure_registries;
    return node_current->cfg->insecure_registries;
}

static void op_thread(void *arg)
{
    struct op *op = arg;
    struct rt_image_store *store = rt_images(node_current->rt);

    switch (op->kind) {
    case OP_PULL:
        op->r =
            rt_pull(store, node_current->cfg->data_root, op->ref, &op->opts, &op->pull, &op->err);
        break;
    case OP_PUSH: {
        char digest[80];
        op->r = rt_push(store, op->ref, op->tag, &op->opts, digest, &op->err);
        break;
    }
    case OP_DIST:
        op->r = rt_reg_distribution(op->ref, &op->opts, &op->result, &op->err);
        break;
    case OP_LOGIN:
        op->r = rt_reg_login(op->ref, &op->auth, op->opts.insecure, op->opts.n_insecure, &op->err);
        break;
    }
    (void)pthread_mutex_lock(&op->lock);
    op->done = true;
    (void)pthread_mutex_unlock(&op->lock);
    (void)uv_async_send(&op->async);
}

/* Loop side: forward the queued events, finish when the worker is done. */
static void op_async(uv_async_t *a)
{
    struct op *op = a->data;
    struct op_event *evs;
    size_t n;
    bool done;
    struct http_req *req = op->req;

    (void)pthread_mutex_lock(&op->lock);
    evs = op->events;
    n = op->n_events;
    op->events = NULL;
    op->n_events = op->cap_events = 0;
    done = op->done;
    (void)pthread_mutex_unlock(&op->lock);

    for (size_t i = 0; i < n; i++) {
        struct rt_reg_event *ev = &evs[i].ev;
        op->streaming = true;
        if (ev->aux)
            progress_aux(req, ev->aux); /* takes our reference */
        else if (ev->bar)
            progress_bar(req, ev->id, ev->status, ev->current, ev->total);
        else
            progress_status(req, ev->id[0] ? ev->id : NULL, ev->status);
    }
    free(evs);
    if (!done || uv_is_closing((uv_handle_t *)a))
        return;

    if (op->r < 0) {
        if (op->r != -ECANCELED)
            log_warn("%s %s: %s",
                     op->kind == OP_PULL   ? "pull"
                     : op->kind == OP_PUSH ? "push"
                     : op->kind == OP_DIST ? "distribution"
                                           : "login",
                     op->ref, op->err.msg);
        if (!op->streaming) {
            int status = node_http_status(op->r);
            if (op->r == -EACCES)
                status = op->kind == OP_LOGIN ? 401 : 403;
            else if (op->r == -EIO || op->r == -EBADMSG)
                status = 500;
            http_reply_error(req, status, "%s", op->err.msg);
        } else {
            progress_error(req, op->err.msg);
            progress_end(req);
        }
    } else {
        switch (op->kind) {
        case OP_PULL: {
            json_t *attrs = json_pack("{s:s}", "name", op->ref);
            log_info("pulled %s as %s", op->ref, op->pull.image_id);
            node_event_emit("image", "pull", op->ref, attrs);
            json_decref(attrs);
            progress_end(req);
            break;
        }
        case OP_PUSH: {
            json_t *attrs = json_pack("{s:s}", "name", op->ref);
            node_event_emit("image", "push", op->ref, attrs);
            json_decref(attrs);
            progress_end(req);
            break;
        }
        case OP_DIST:
            http_reply_json(req, 200, op->result);
            op->result = NULL;
            break;
        case OP_LOGIN:
            http_reply_json(
                req, 200,
                json_pack("{s:s, s:s}", "Status", "Login Succeeded", "IdentityToken", ""));
            break;
        }
    }
    uv_close((uv_handle_t *)a, op_closed);
}

static void op_abort(struct http_req *req)
{
    struct op *op = req->data;

    if (op)
        op->cancel = true;
}

static struct op *op_new(struct http_req *req, enum op_kind kind)
{
    struct op *op = calloc(1, sizeof(*op));

    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return NULL;
    }
    op->kind = kind;
    (void)pthread_mutex_init(&op->lock, NULL);
    op->opts.auth = &op->auth;
    op->opts.insecure = insecure_list(&op->opts.n_insecure);
    op->opts.cancel = &op->cancel;
    op->opts.cb = op_event_cb;
    op->opts.cb_arg = op;
    (void)snprintf(op->tmp_dir, sizeof(op->tmp_dir), "%s/image/tmp", node_current->cfg->data_root);
    op->opts.tmp_dir = op->tmp_dir;
    return op;
}

static bool decode_auth_header(struct http_req *req, struct op *op)
{
    struct err err = {0};

    if (rt_reg_auth_decode(http_req_header(req, "X-Registry-Auth"), &op->auth, &err) < 0) {
        http_reply_error(req, 400, "%s", err.msg);
        op_free(op);
        return false;
    }
    return true;
}

static void op_start(struct http_req *req, struct op *op)
{
    if (uv_async_init(node_current->loop, &op->async, op_async) < 0) {
        http_reply_error(req, 500, "cannot start the operation");
        op_free(op);
        return;
    }
    op->async.data = op;
    http_req_ref(req);
    op->req = req;
    req->data = op;
    req->on_abort = op_abort;
    if (uv_thread_create(&op->thread, op_thread, op) < 0) {
        op->r = err_set(&op->err, -EAGAIN, "cannot start a thread");
        op->done = true;
        (void)uv_async_send(&op->async);
        return;
    }
    op->thread_started = true;
}

/* ---- routes ----------------------------------------------------------------------------- */

static void pull(struct http_req *req)
{
    const char *img = http_query_get(req, "fromImage");
    const char *tag = http_query_get(req, "tag");
    const char *platform = http_query_get(req, "platform");
    struct op *op;

    if (!img || !*img) {
        http_reply_error(req, 400, "fromImage or fromSrc is required");
        return;
    }
    if (platform && *platform && strcmp(platform, "linux/amd64") != 0 &&
        strcmp(platform, "linux") != 0) {
        http_reply_error(req, 400, "shoald pulls linux/amd64 images only, not %s", platform);
        return;
    }
    op = op_new(req, OP_PULL);
    if (!op)
        return;
    if (tag && *tag)
        (void)snprintf(op->ref, sizeof(op->ref), "%s%s%s", img,
                       strncmp(tag, "sha256:", 7) == 0 ? "@" : ":", tag);
    else
        (void)snprintf(op->ref, sizeof(op->ref), "%s", img);
    if (!decode_auth_header(req, op))
        return;
    op_start(req, op);
}

static void push(struct http_req *req, const char *name)
{
    const char *tag = http_query_get(req, "tag");
    struct op *op = op_new(req, OP_PUSH);

    if (!op)
        return;
    (void)snprintf(op->ref, sizeof(op->ref), "%s", name);
    (void)snprintf(op->tag, sizeof(op->tag), "%s", tag ? tag : "");
    if (!decode_auth_header(req, op))
        return;
    op_start(req, op);
}

static void distribution(struct http_req *req, const char *name)
{
    struct op *op = op_new(req, OP_DIST);

    if (!op)
        return;
    op->opts.cb = NULL;
    (void)snprintf(op->ref, sizeof(op->ref), "%s", name);
    if (!decode_auth_header(req, op))
        return;
    op_start(req, op);
}

static void login(struct http_req *req)
{
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    const char *u = json_string_value(json_object_get(body, "username"));
    const char *p = json_string_value(json_object_get(body, "password"));
    const char *t = json_string_value(json_object_get(body, "identitytoken"));
    const char *s = json_string_value(json_object_get(body, "serveraddress"));
    struct op *op;

    if (!json_is_object(body)) {
        json_decref(body);
        http_reply_error(req, 400, "invalid JSON body for /auth");
        return;
    }
    op = op_new(req, OP_LOGIN);
    if (!op) {
        json_decref(body);
        return;
    }
    op->opts.cb = NULL;
    op->auth.username = u && *u ? strdup(u) : NULL;
    op->auth.password = p ? strdup(p) : NULL;
    op->auth.identitytoken = t && *t ? strdup(t) : NULL;
    (void)snprintf(op->ref, sizeof(op->ref), "%s", s ? s : "");
    json_decref(body);
    op_start(req, op);
}

static bool has_suffix(const char *s, const char *suffix, size_t *stem)
{
    size_t ls = strlen(s), lf = strlen(suffix);

    if (ls <= lf || strcmp(s + ls - lf, suffix) != 0)
        return false;
    *stem = ls - lf;
    return true;
}

bool node_api_registry(struct http_req *req, const char *path)
{
    const char *m = req->method;
    char name[1024];
    size_t stem;

    if (strcmp(path, "/images/create") == 0 && strcmp(m, "POST") == 0 &&
        !http_query_get(req, "fromSrc")) {
        pull(req);
        return true;
    }
    if (strcmp(path, "/auth") == 0 && strcmp(m, "POST") == 0) {
        login(req);
        return true;
    }
    if (strncmp(path, "/images/", 8) == 0 && strcmp(m, "POST") == 0 &&
        has_suffix(path + 8, "/push", &stem) && stem < sizeof(name)) {
        (void)snprintf(name, sizeof(name), "%.*s", (int)stem, path + 8);
        push(req, name);
        return true;
    }
    if (strncmp(path, "/distribution/", 14) == 0 && strcmp(m, "GET") == 0 &&
        has_suffix(path + 14, "/json", &stem) && stem < sizeof(name)) {
        (void)snprintf(name, sizeof(name), "%.*s", (int)stem, path + 14);
        distribution(req, name);
        return true;
    }
    return false;
}
