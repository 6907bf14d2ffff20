/*
 * node/api_images.c - /images/... routes: list, inspect, import, tag.
 */
#define LOG_MODULE "api"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "node/node.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

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

    o = json_pack("{s:s, s:s, s:o, s:[], s:I, s:I, s:I, s:i, s:O, s:i}", "Id", img->id,
                  "ParentId", "", "RepoTags",
                  img->n_repo_tags ? str_list(img->repo_tags, img->n_repo_tags)
                                   : json_pack("[s]", "<none>:<none>"),
                  "RepoDigests", "Created", (json_int_t)(img->created_ns / 1000000000LL),
                  "Size", (json_int_t)img->size, "VirtualSize", (json_int_t)img->size,
                  "SharedSize", -1, "Labels", json_is_object(labels) ? labels : json_null(),
                  "Containers", -1);
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
                    if (strcmp(tag, want) == 0 ||
                        (strncmp(tag, want, wl) == 0 && tag[wl] == ':'))
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
        o = json_pack("{s:s, s:o, s:[], s:s, s:s, s:s, s:s, s:{}, s:s, s:s, s:O, s:s, s:s, s:I,"
                      " s:I, s:{s:{}, s:s}, s:{s:s, s:o}, s:{s:s}}",
                      "Id", img->id, "RepoTags", str_list(img->repo_tags, img->n_repo_tags),
                      "RepoDigests", "Parent", "", "Comment", comment ? comment : "",
                      "Created", created, "Container", "", "ContainerConfig", "DockerVersion",
                      "", "Author", json_string_value(json_object_get(doc, "author")) ?: "",
                      "Config",
                      json_object_get(doc, "config") ? json_object_get(doc, "config")
                                                     : json_null(),
                      "Architecture",
                      json_string_value(json_object_get(doc, "architecture")) ?: "amd64", "Os",
                      json_string_value(json_object_get(doc, "os")) ?: "linux", "Size",
                      (json_int_t)img->size, "VirtualSize", (json_int_t)img->size,
                      "GraphDriver", "Data", "Name", "overlay2", "RootFS", "Type", "layers",
                      "Layers", str_list(img->diff_ids, img->n_layers), "Metadata",
                      "LastTagTime", "0001-01-01T00:00:00Z");
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
    im->status = rt_image_import(rt_images(node_current->rt), im->fd,
                                 im->repo_tag[0] ? im->repo_tag : NULL,
                                 (const char *const *)im->changes, im->n_changes, im->message,
                                 im->id, &im->err);
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
        http_reply_error(req, 400, "importing from a URL is not supported: send the tar as the "
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
            http_reply_error(req, 400, "invalid reference format: repository name must be "
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
    if (rt_image_tag(rt_images(node_current->rt), name, target, &err) < 0)
        node_reply_err(req, err.code, err.msg);
    else
        http_reply(req, 201, NULL, NULL, 0);
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
    return false;
}
