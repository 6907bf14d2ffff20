/*
 * node/api_images.c - /images/... routes: list, inspect, import, tag, load,
 * save (get), remove, prune, history.
 */
#define LOG_MODULE "api"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "node/events.h"
#include "node/node.h"
#include "node/progress.h"

/* An image event ("import", "tag", "untag", "delete", "load", "save"). */
static void image_event(const char *action, const char *id, const char *name)
{
    json_t *attrs = json_pack("{s:s}", "name", name ? name : id);

    node_event_emit("image", action, id, attrs);
    json_decref(attrs);
}

static json_t *str_list(char **v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *image_config(const struct rt_image *img)
{
    json_error_t jerr;

    return img->config_json ? json_loads(img->config_json, 0, &jerr) : NULL;
}

static json_t *image_summary(const struct rt_image *img)
{
    json_t *doc = image_config(img);
    json_t *labels = json_object_get(json_object_get(doc, "config"), "Labels");
    json_t *o;

    o = json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:i, s:O, s:i}", "Id", img->id, "ParentId",
                  "", "RepoTags",
                  img->n_repo_tags ? str_list(img->repo_tags, img->n_repo_tags)
                                   : json_pack("[s]", "<none>:<none>"),
                  "RepoDigests",
                  img->n_repo_digests ? str_list(img->repo_digests, img->n_repo_digests)
                  : img->n_repo_tags  ? json_array()
                                      : json_pack("[s]", "<none>@<none>"),
                  "Created", (json_int_t)(img->created_ns / 1000000000LL), "Size",
                  (json_int_t)img->size, "VirtualSize", (json_int_t)img->size, "SharedSize", -1,
                  "Labels", json_is_object(labels) ? labels : json_null(), "Containers", -1);
    json_decref(doc);
    return o;
}

static void list_images(struct http_req *req)
{
    struct rt_image **imgs = NULL;
    size_t n = 0;
    struct err err = {0};
    json_t *out;
    json_t *f;
    bool bad;

    f = node_parse_filters(req, &bad);
    if (bad)
        return;
    if (rt_image_list(rt_images(node_current->rt), &imgs, &n, &err) < 0) {
        json_decref(f);
        node_reply_err(req, err.code, err.msg);
        return;
    }
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *refs = json_object_get(f, "reference");
        json_t *dangling = json_object_get(f, "dangling");
        bool keep = true;
        if (json_array_size(dangling)) {
            bool want = strcmp(json_string_value(json_array_get(dangling, 0)), "true") == 0;
            keep = want == (imgs[i]->n_repo_tags == 0);
        }
        if (keep && json_array_size(refs)) {
            keep = false;
            for (size_t t = 0; t < imgs[i]->n_repo_tags; t++) {
                size_t k;
                json_t *v;
                json_array_foreach(refs, k, v)
                {
                    const char *want = json_string_value(v);
                    const char *tag = imgs[i]->repo_tags[t];
                    size_t wl = strlen(want);
                    if (strcmp(tag, want) == 0 || (strncmp(tag, want, wl) == 0 && tag[wl] == ':'))
                        keep = true;
                }
            }
        }
        if (keep)
            json_array_append_new(out, image_summary(imgs[i]));
    }
    rt_image_list_free(imgs, n);
    json_decref(f);
    http_reply_json(req, 200, out);
}

/* "ContainerConfig" of an image: the config's container_config, or (an
 * imported image has none) the zero value Engine 20.10 prints. */
static json_t *image_container_config(json_t *cc)
{
    if (json_is_object(cc))
        return json_incref(cc);
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:n, s:n, s:s, s:n, s:s, s:n,"
                     " s:n, s:n}",
                     "Hostname", "", "Domainname", "", "User", "", "AttachStdin", 0, "AttachStdout",
                     0, "AttachStderr", 0, "Tty", 0, "OpenStdin", 0, "StdinOnce", 0, "Env", "Cmd",
                     "Image", "", "Volumes", "WorkingDir", "", "Entrypoint", "OnBuild", "Labels");
}

static void inspect_image(struct http_req *req, const char *name)
{
    struct rt_image *img = NULL;
    struct err err = {0};
    json_t *doc;
    json_t *o;
    char created[40];

    if (rt_image_get(rt_images(node_current->rt), name, &img, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        return;
    }
    doc = image_config(img);
    time_fmt_rfc3339(img->created_ns, created);
    {
        char lower[16384] = "";
        size_t len = 0;
        for (size_t i = img->n_layers; i > 1; i--) {
            int k = snprintf(lower + len, sizeof(lower) - len, "%s%s", len ? ":" : "",
                             img->layers[i - 2]);
            if (k < 0 || (size_t)k >= sizeof(lower) - len)
                break;
            len += (size_t)k;
        }
        json_t *history = json_object_get(doc, "history");
        const char *comment = json_string_value(
            json_object_get(json_array_get(history, json_array_size(history) - 1), "comment"));
        o = json_pack(
            "{s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:O, s:s, s:s, s:I,"
            " s:I, s:{s:{}, s:s}, s:{s:s, s:o}, s:{s:s}}",
            "Id", img->id, "RepoTags", str_list(img->repo_tags, img->n_repo_tags), "RepoDigests",
            str_list(img->repo_digests, img->n_repo_digests), "Parent", "", "Comment",
            comment ? comment : "", "Created", created, "Container", "", "ContainerConfig",
            image_container_config(json_object_get(doc, "container_config")), "DockerVersion", "",
            "Author", json_string_value(json_object_get(doc, "author")) ?: "", "Config",
            json_object_get(doc, "config") ? json_object_get(doc, "config") : json_null(),
            "Architecture", json_string_value(json_object_get(doc, "architecture")) ?: "amd64",
            "Os", json_string_value(json_object_get(doc, "os")) ?: "linux", "Size",
            (json_int_t)img->size, "VirtualSize", (json_int_t)img->size, "GraphDriver", "Data",
            "Name", "overlay2", "RootFS", "Type", "layers", "Layers",
            str_list(img->diff_ids, img->n_layers), "Metadata", "LastTagTime",
            "0001-01-01T00:00:00Z");
        if (o && img->n_layers) {
            json_t *data = json_object_get(json_object_get(o, "GraphDriver"), "Data");
            json_object_set_new(data, "UpperDir", json_string(img->layers[img->n_layers - 1]));
            if (len)
                json_object_set_new(data, "LowerDir", json_string(lower));
        }
    }
    json_decref(doc);
    rt_image_free(img);
    http_reply_json(req, 200, o);
}

/* ---- import (POST /images/create?fromSrc=-) -------------------------------- */

struct import {
    uv_work_t work;
    struct http_req *req;
    int fd;
    char repo_tag[512];
    char *changes[32];
    size_t n_changes;
    char *message;
    char id[72];
    struct err err;
    int status;
};

static void collect_change(const char *v, void *arg)
{
    struct import *im = arg;

    if (im->n_changes < ARRAY_SIZE(im->changes)) {
        im->changes[im->n_changes] = strdup(v);
        if (im->changes[im->n_changes])
            im->n_changes++;
    }
}

static void import_work(uv_work_t *w)
{
    struct import *im = container_of(w, struct import, work);

    if (lseek(im->fd, 0, SEEK_SET) < 0) {
        im->status = err_set(&im->err, -errno, "rewinding the upload: %s", strerror(errno));
        return;
    }
    im->status = rt_image_import(
        rt_images(node_current->rt), im->fd, im->repo_tag[0] ? im->repo_tag : NULL,
        (const char *const *)im->changes, im->n_changes, im->message, im->id, &im->err);
}

static void import_done(uv_work_t *w, int status)
{
    struct import *im = container_of(w, struct import, work);
    char line[128];

    (void)status;
    if (im->status < 0) {
        node_reply_err(im->req, im->status, im->err.msg);
    } else {
        log_info("imported image %s%s%s", im->id, im->repo_tag[0] ? " as " : "", im->repo_tag);
        image_event("import", im->id, im->repo_tag[0] ? im->repo_tag : im->id);
        (void)snprintf(line, sizeof(line), "{\"status\":\"%s\"}\r\n", im->id);
        http_stream_begin(im->req, 200, "application/json");
        http_stream_write(im->req, line, strlen(line));
        http_stream_end(im->req);
    }
    (void)close(im->fd);
    for (size_t i = 0; i < im->n_changes; i++)
        free(im->changes[i]);
    free(im->message);
    http_req_unref(im->req);
    free(im);
}

static void import_image(struct http_req *req)
{
    const char *src = http_query_get(req, "fromSrc");
    const char *repo = http_query_get(req, "repo");
    const char *tag = http_query_get(req, "tag");
    const char *msg = http_query_get(req, "message");
    struct import *im;
    char ref[512];

    if (!src || strcmp(src, "-") != 0) {
        http_reply_error(req, 400,
                         "importing from a URL is not supported: send the tar as the "
                         "request body (fromSrc=-)");
        return;
    }
    if (req->body_fd < 0) {
        http_reply_error(req, 500, "the upload could not be stored");
        return;
    }
    im = calloc(1, sizeof(*im));
    if (!im) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    if (repo && *repo) {
        char full[600];
        if (tag && *tag)
            (void)snprintf(full, sizeof(full), "%s:%s", repo, tag);
        else
            (void)snprintf(full, sizeof(full), "%s", repo);
        if (rt_image_normalize_ref(full, ref) < 0) {
            free(im);
            http_reply_error(req, 400,
                             "invalid reference format: repository name must be "
                             "lowercase: %s",
                             full);
            return;
        }
        (void)snprintf(im->repo_tag, sizeof(im->repo_tag), "%s", ref);
    }
    node_query_each(req, "changes", collect_change, im);
    im->message = msg ? strdup(msg) : NULL;
    im->fd = req->body_fd;
    req->body_fd = -1;
    http_req_ref(req);
    im->req = req;
    uv_queue_work(node_current->loop, &im->work, import_work, import_done);
}

static void tag_image(struct http_req *req, const char *name)
{
    const char *repo = http_query_get(req, "repo");
    const char *tag = http_query_get(req, "tag");
    char target[600];
    struct err err = {0};

    if (!repo || !*repo) {
        http_reply_error(req, 400, "repository name is required");
        return;
    }
    if (tag && *tag)
        (void)snprintf(target, sizeof(target), "%s:%s", repo, tag);
    else
        (void)snprintf(target, sizeof(target), "%s", repo);
    if (rt_image_tag(rt_images(node_current->rt), name, target, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
    } else {
        struct rt_image *img = NULL;
        char ref[512];
        if (rt_image_get(rt_images(node_current->rt), name, &img, NULL) == 0) {
            image_event("tag", img->id, rt_image_normalize_ref(target, ref) == 0 ? ref : target);
            rt_image_free(img);
        }
        http_reply(req, 201, NULL, NULL, 0);
    }
}

/* ---- users of images (containers) ------------------------------------------ */

struct users {
    struct rt_image_user *v;
    char (*ids)[72];
    char (*cids)[80];
    size_t n;
};

static void users_release(struct users *u)
{
    free(u->v);
    free(u->ids);
    free(u->cids);
    memset(u, 0, sizeof(*u));
}

/* Every container with its image id (loop thread only). */
static int users_collect(struct users *u)
{
    struct rt_container **cs = NULL;
    size_t n = 0;

    memset(u, 0, sizeof(*u));
    if (rt_container_list(node_current->rt, &cs, &n) < 0)
        return -ENOMEM;
    u->v = calloc(n + 1, sizeof(*u->v));
    u->ids = calloc(n + 1, sizeof(*u->ids));
    u->cids = calloc(n + 1, sizeof(*u->cids));
    if (!u->v || !u->ids || !u->cids) {
        free(cs);
        users_release(u);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *ins = rt_container_inspect(cs[i]);
        const char *img = json_string_value(json_object_get(ins, "Image"));
        (void)snprintf(u->ids[u->n], sizeof(u->ids[0]), "%s", img ? img : "");
        (void)snprintf(u->cids[u->n], sizeof(u->cids[0]), "%s", rt_container_id(cs[i]));
        u->v[u->n].container_id = u->cids[u->n];
        u->v[u->n].image_id = u->ids[u->n];
        u->v[u->n].running = rt_container_state(cs[i]) == RT_STATE_RUNNING;
        u->n++;
        json_decref(ins);
    }
    free(cs);
    return 0;
}

static json_t *rm_json(struct rt_image_rm *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        image_event(v[i].deleted ? "delete" : "untag", v[i].what, v[i].what);
        json_array_append_new(a,
                              json_pack("{s:s}", v[i].deleted ? "Deleted" : "Untagged", v[i].what));
    }
    return a;
}

/* ---- remove (DELETE /images/{name}) and prune ----------------------------------- */

struct rmjob {
    uv_work_t work;
    struct http_req *req;
    char *name; /* NULL: prune */
    bool force, noprune, all;
    struct users users;
    struct rt_image_rm *out;
    size_t n_out;
    int64_t reclaimed;
    struct err err;
    int status;
};

static void rm_work(uv_work_t *w)
{
    struct rmjob *j = container_of(w, struct rmjob, work);
    struct rt_image_store *s = rt_images(node_current->rt);

    if (j->name)
        j->status = rt_image_remove(s, j->name, j->force, j->noprune, j->users.v, j->users.n,
                                    &j->out, &j->n_out, &j->err);
    else
        j->status = rt_image_prune(s, j->all, j->users.v, j->users.n, &j->out, &j->n_out,
                                   &j->reclaimed, &j->err);
}

static void rm_done(uv_work_t *w, int status)
{
    struct rmjob *j = container_of(w, struct rmjob, work);

    (void)status;
    if (j->status < 0) {
        node_reply_err(j->req, j->status, j->err.msg);
    } else if (j->name) {
        log_info("image %s removed", j->name);
        http_reply_json(j->req, 200, rm_json(j->out, j->n_out));
    } else {
        http_reply_json(j->req, 200,
                        json_pack("{s:o, s:I}", "ImagesDeleted",
                                  j->n_out ? rm_json(j->out, j->n_out) : json_null(),
                                  "SpaceReclaimed", (json_int_t)j->reclaimed));
    }
    rt_image_rm_free(j->out, j->n_out);
    users_release(&j->users);
    free(j->name);
    http_req_unref(j->req);
    free(j);
}

static void rm_start(struct http_req *req, const char *name, bool all)
{
    struct rmjob *j = calloc(1, sizeof(*j));

    if (!j || (name && !(j->name = strdup(name))) || users_collect(&j->users) < 0) {
        if (j)
            free(j->name);
        free(j);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    j->force = http_query_bool(req, "force", false);
    j->noprune = http_query_bool(req, "noprune", false);
    j->all = all;
    http_req_ref(req);
    j->req = req;
    uv_queue_work(node_current->loop, &j->work, rm_work, rm_done);
}

static void prune_images(struct http_req *req)
{
    bool bad;
    json_t *f = node_parse_filters(req, &bad);
    json_t *dangling;
    bool all = false;

    if (bad)
        return;
    dangling = json_object_get(f, "dangling");
    if (json_array_size(dangling)) {
        const char *v = json_string_value(json_array_get(dangling, 0));
        all = v && (strcmp(v, "false") == 0 || strcmp(v, "0") == 0);
    }
    {
        const char *key;
        json_t *val;
        json_object_foreach(f, key, val)
        {
            if (strcmp(key, "dangling") != 0) {
                json_decref(f);
                http_reply_error(req, 400, "invalid filter '%s'", key);
                return;
            }
        }
    }
    json_decref(f);
    rm_start(req, NULL, all);
}

/* ---- history -------------------------------------------------------------------- */

static void history_image(struct http_req *req, const char *name)
{
    struct rt_image *img = NULL;
    struct err err = {0};
    json_t *doc, *hist, *out;
    size_t layer, n;

    if (rt_image_get(rt_images(node_current->rt), name, &img, &err) < 0) {
        node_reply_err(req, err.code, err.msg);
        return;
    }
    doc = image_config(img);
    hist = json_object_get(doc, "history");
    n = json_array_size(hist);
    out = json_array();
    /* history entries that are not empty_layer map to the layers in order */
    layer = 0;
    {
        json_t **items = calloc(n + 1, sizeof(json_t *));
        for (size_t i = 0; items && i < n; i++) {
            json_t *h = json_array_get(hist, i);
            const char *created = json_string_value(json_object_get(h, "created"));
            int64_t ns = 0;
            int64_t size = 0;
            if (!json_is_true(json_object_get(h, "empty_layer"))) {
                if (layer < img->n_layers) {
                    char *lp = img->layers[layer];
                    char jpath[4200];
                    char *data = NULL;
                    (void)snprintf(jpath, sizeof(jpath), "%s.json", lp);
                    if (read_file(jpath, &data, NULL, 4096) == 0) {
                        json_t *lj = json_loads(data, 0, NULL);
                        size = json_integer_value(json_object_get(lj, "size"));
                        json_decref(lj);
                        free(data);
                    }
                }
                layer++;
            }
            if (created)
                (void)time_parse_rfc3339(created, &ns);
            items[i] = json_pack("{s:s, s:I, s:s, s:n, s:I, s:s}", "Id", "<missing>", "Created",
                                 (json_int_t)(ns / 1000000000LL), "CreatedBy",
                                 json_string_value(json_object_get(h, "created_by")) ?: "", "Tags",
                                 "Size", (json_int_t)size, "Comment",
                                 json_string_value(json_object_get(h, "comment")) ?: "");
        }
        /* newest first; the top one carries the image id and tags */
        for (size_t i = n; items && i-- > 0;) {
            if (i == n - 1) {
                json_object_set_new(items[i], "Id", json_string(img->id));
                json_object_set_new(items[i], "Tags",
                                    img->n_repo_tags ? str_list(img->repo_tags, img->n_repo_tags)
                                                     : json_null());
            }
            json_array_append_new(out, items[i]);
        }
        free(items);
    }
    json_decref(doc);
    rt_image_free(img);
    http_reply_json(req, 200, out);
}

/* ---- load (POST /images/load) ---------------------------------------------------- */

struct loadjob {
    uv_work_t work;
    struct http_req *req;
    int fd;
    bool quiet;
    struct rt_image_load_result res;
    struct err err;
    int status;
};

static void load_work(uv_work_t *w)
{
    struct loadjob *j = container_of(w, struct loadjob, work);

    j->status = rt_image_load(rt_images(node_current->rt), j->fd, &j->res, &j->err);
}

static void load_done(uv_work_t *w, int status)
{
    struct loadjob *j = container_of(w, struct loadjob, work);

    (void)status;
    if (j->status < 0) {
        node_reply_err(j->req, j->status, j->err.msg);
    } else {
        progress_begin(j->req);
        for (size_t i = 0; !j->quiet && i < j->res.n_layers; i++)
            progress_bar(j->req, j->res.layers[i].short_id, "Loading layer", j->res.layers[i].size,
                         j->res.layers[i].size);
        for (size_t i = 0; i < j->res.n_lines; i++) {
            const char *line = j->res.lines[i];
            const char *colon = strstr(line, ": ");
            char what[600];
            log_info("%.*s", (int)strcspn(line, "\n"), line);
            if (colon) {
                (void)snprintf(what, sizeof(what), "%.*s", (int)strcspn(colon + 2, "\n"),
                               colon + 2);
                image_event("load", what, what);
            }
            progress_stream(j->req, j->res.lines[i]);
        }
        progress_end(j->req);
    }
    rt_image_load_result_release(&j->res);
    (void)close(j->fd);
    http_req_unref(j->req);
    free(j);
}

static void load_images(struct http_req *req)
{
    struct loadjob *j;

    if (req->body_fd < 0) {
        http_reply_error(req, 500, "the upload could not be stored");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    j->quiet = http_query_bool(req, "quiet", false);
    j->fd = req->body_fd;
    req->body_fd = -1;
    http_req_ref(req);
    j->req = req;
    uv_queue_work(node_current->loop, &j->work, load_work, load_done);
}

/* ---- save (GET /images/get, GET /images/{name}/get) ------------------------------ */

/* A worker thread writes the tar into a pipe; the loop reads the pipe and
 * sends chunks, pausing while the client's socket has a backlog. */
struct savejob {
    struct http_req *req;
    uv_thread_t thread;
    uv_pipe_t pipe;
    uv_timer_t timer;
    int wfd;
    char **names;
    size_t n_names;
    struct err err;
    int status;
    bool reading;
    int closing;
};

#define SAVE_MAX_QUEUED (4u << 20)

static void save_thread(void *arg)
{
    struct savejob *j = arg;

    j->status = rt_image_save(rt_images(node_current->rt), (const char *const *)j->names,
                              j->n_names, j->wfd, &j->err);
    if (j->status < 0)
        log_warn("save: %s", j->err.msg);
    (void)close(j->wfd); /* EOF for the loop side */
}

static void save_free(struct savejob *j)
{
    for (size_t i = 0; i < j->n_names; i++)
        free(j->names[i]);
    free(j->names);
    free(j);
}

static void save_closed(uv_handle_t *h)
{
    struct savejob *j = h->data;

    if (--j->closing == 0) {
        (void)uv_thread_join(&j->thread);
        http_req_unref(j->req);
        save_free(j);
    }
}

static void save_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    b->base = malloc(64 * 1024);
    b->len = b->base ? 64 * 1024 : 0;
}

static void save_finish(struct savejob *j)
{
    if (j->closing)
        return;
    if (!j->req->aborted)
        http_stream_end(j->req);
    j->closing = 2;
    uv_close((uv_handle_t *)&j->pipe, save_closed);
    uv_close((uv_handle_t *)&j->timer, save_closed);
}

static void save_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct savejob *j = st->data;

    if (n > 0)
        http_stream_write(j->req, b->base, (size_t)n);
    free(b->base);
    if (n < 0) {
        save_finish(j); /* EOF (or error: the worker's status was logged) */
        return;
    }
    if (j->req->aborted) {
        /* the client left: the worker gets EPIPE once we close the pipe */
        save_finish(j);
        return;
    }
    if (http_req_write_queue_size(j->req) > SAVE_MAX_QUEUED && j->reading) {
        (void)uv_read_stop(st);
        j->reading = false;
    }
}

static void save_tick(uv_timer_t *t)
{
    struct savejob *j = t->data;

    if (j->req->aborted) {
        save_finish(j);
        return;
    }
    if (!j->reading && http_req_write_queue_size(j->req) < SAVE_MAX_QUEUED / 2) {
        j->reading = uv_read_start((uv_stream_t *)&j->pipe, save_alloc, save_read) == 0;
    }
}

static void collect_name(const char *v, void *arg)
{
    struct savejob *j = arg;
    char **nv = realloc(j->names, (j->n_names + 1) * sizeof(char *));

    if (!nv)
        return;
    j->names = nv;
    nv[j->n_names] = strdup(v);
    if (nv[j->n_names])
        j->n_names++;
}

static void save_images(struct http_req *req, const char *single)
{
    struct savejob *j = calloc(1, sizeof(*j));
    struct err err = {0};
    int fds[2];

    if (!j) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    if (single)
        collect_name(single, j);
    else
        node_query_each(req, "names", collect_name, j);
    if (j->n_names == 0) {
        save_free(j);
        http_reply_error(req, 400, "no image names given");
        return;
    }
    /* every name and layer is checked before the 200 goes out */
    if (rt_image_save_check(rt_images(node_current->rt), (const char *const *)j->names, j->n_names,
                            &err) < 0) {
        save_free(j);
        node_reply_err(req, err.code, err.msg);
        return;
    }
    if (pipe2(fds, O_CLOEXEC) < 0) {
        save_free(j);
        http_reply_error(req, 500, "pipe: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < j->n_names; i++)
        image_event("save", j->names[i], j->names[i]);
    j->wfd = fds[1];
    j->req = req;
    http_req_ref(req);
    (void)uv_pipe_init(node_current->loop, &j->pipe, 0);
    (void)uv_pipe_open(&j->pipe, fds[0]);
    (void)uv_timer_init(node_current->loop, &j->timer);
    j->pipe.data = j;
    j->timer.data = j;
    if (uv_thread_create(&j->thread, save_thread, j) < 0) {
        (void)close(fds[1]);
        http_reply_error(req, 500, "cannot start the save worker");
        j->closing = 2;
        uv_close((uv_handle_t *)&j->pipe, NULL);
        uv_close((uv_handle_t *)&j->timer, NULL);
        http_req_unref(req);
        save_free(j);
        return;
    }
    http_stream_begin(req, 200, "application/x-tar");
    j->reading = uv_read_start((uv_stream_t *)&j->pipe, save_alloc, save_read) == 0;
    (void)uv_timer_start(&j->timer, save_tick, 20, 20);
}

static bool ends_with(const char *s, const char *suffix, size_t *ret_stem)
{
    size_t ls = strlen(s), lf = strlen(suffix);

    if (ls <= lf || strcmp(s + ls - lf, suffix) != 0)
        return false;
    *ret_stem = ls - lf;
    return true;
}

bool node_api_images(struct http_req *req, const char *path)
{
    const char *m = req->method;
    char name[1024];
    size_t stem;

    if (strncmp(path, "/images/", 8) != 0)
        return false;
    if (strcmp(path, "/images/json") == 0 && strcmp(m, "GET") == 0) {
        list_images(req);
        return true;
    }
    if (strcmp(path, "/images/create") == 0 && strcmp(m, "POST") == 0 &&
        http_query_get(req, "fromSrc")) {
        import_image(req);
        return true;
    }
    if (strcmp(path, "/images/load") == 0 && strcmp(m, "POST") == 0) {
        load_images(req);
        return true;
    }
    if (strcmp(path, "/images/get") == 0 && strcmp(m, "GET") == 0) {
        save_images(req, NULL);
        return true;
    }
    if (strcmp(path, "/images/prune") == 0 && strcmp(m, "POST") == 0) {
        prune_images(req);
        return true;
    }
    path += 8;
    /* Image names contain '/' and ':': route on the suffix. */
    if (strcmp(m, "GET") == 0 && ends_with(path, "/json", &stem) && stem < sizeof(name)) {
        (void)snprintf(name, sizeof(name), "%.*s", (int)stem, path);
        inspect_image(req, name);
        return true;
    }
    if (strcmp(m, "POST") == 0 && ends_with(path, "/tag", &stem) && stem < sizeof(name)) {
        (void)snprintf(name, sizeof(name), "%.*s", (int)stem, path);
        tag_image(req, name);
        return true;
    }
    if (strcmp(m, "GET") == 0 && ends_with(path, "/history", &stem) && stem < sizeof(name)) {
        (void)snprintf(name, sizeof(name), "%.*s", (int)stem, path);
        history_image(req, name);
        return true;
    }
    if (strcmp(m, "GET") == 0 && ends_with(path, "/get", &stem) && stem < sizeof(name)) {
        (void)snprintf(name, sizeof(name), "%.*s", (int)stem, path);
        save_images(req, name);
        return true;
    }
    if (strcmp(m, "DELETE") == 0 && *path && strlen(path) < sizeof(name)) {
        rm_start(req, path, false);
        return true;
    }
    return false;
}
