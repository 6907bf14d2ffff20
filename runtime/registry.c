/*
 * runtime/registry.c - /distribution and login, and the repo digests file
 * (<data-root>/image/repodigests.json: {"sha256:<image id>": ["name@sha256:..."]}).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/registry_internal.h"

#define REPODIGESTS_MAX (16 * 1024 * 1024)

static pthread_mutex_t digests_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *digests_load(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    json_t *doc = NULL;

    if (read_file(path, &data, &len, REPODIGESTS_MAX) == 0)
        doc = json_loadb(data, len, 0, NULL);
    free(data);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    return doc;
}

int rt_reg_repo_digest_add(const char *data_root, const char *image_id, const char *repo_digest,
                           struct err *err)
{
    char path[4096];
    json_t *doc, *arr;
    char *out;
    const char *at = strchr(repo_digest, '@');
    int r = 0;

    if (!at)
        return err_set(err, -EINVAL, "not a digest reference: %s", repo_digest);
    (void)snprintf(path, sizeof(path), "%s/image/repodigests.json", data_root);
    (void)pthread_mutex_lock(&digests_lock);
    doc = digests_load(path);
    arr = json_object_get(doc, image_id);
    if (!json_is_array(arr)) {
        arr = json_array();
        (void)json_object_set_new(doc, image_id, arr);
    }
    /* one digest per repository, as Docker keeps it */
    for (size_t i = 0; i < json_array_size(arr);) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s && strncmp(s, repo_digest, (size_t)(at - repo_digest)) == 0 &&
            s[at - repo_digest] == '@')
            (void)json_array_remove(arr, i);
        else
            i++;
    }
    (void)json_array_append_new(arr, json_string(repo_digest));
    out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (!out)
        r = err_set(err, -ENOMEM, "out of memory");
    else if ((r = write_file_atomic(path, out, strlen(out), 0600, false)) < 0)
        err_set(err, r, "write %s: %s", path, strerror(-r));
    free(out);
    json_decref(doc);
    (void)pthread_mutex_unlock(&digests_lock);
    return r;
}

json_t *rt_reg_repo_digests(const char *data_root, const char *image_id)
{
    char path[4096];
    json_t *doc, *arr;

    (void)snprintf(path, sizeof(path), "%s/image/repodigests.json", data_root);
    (void)pthread_mutex_lock(&digests_lock);
    doc = digests_load(path);
    (void)pthread_mutex_unlock(&digests_lock);
    arr = json_object_get(doc, image_id);
    arr = json_is_array(arr) ? json_deep_copy(arr) : json_array();
    json_decref(doc);
    return arr;
}

int rt_reg_repo_digest_lookup(const char *data_root, const char *ref, char ret_id[72])
{
    char path[4096], norm[512];
    json_t *doc;
    const char *key;
    json_t *arr;
    int r = -ENOENT;

    if (rt_image_normalize_ref(ref, norm) < 0 || !strchr(norm, '@'))
        return -EINVAL;
    (void)snprintf(path, sizeof(path), "%s/image/repodigests.json", data_root);
    (void)pthread_mutex_lock(&digests_lock);
    doc = digests_load(path);
    (void)pthread_mutex_unlock(&digests_lock);
    json_object_foreach(doc, key, arr)
    {
        for (size_t i = 0; i < json_array_size(arr); i++) {
            const char *s = json_string_value(json_array_get(arr, i));
            if (s && strcmp(s, norm) == 0 && strlen(key) < 72) {
                (void)reg__copy(ret_id, 72, key);
                r = 0;
            }
        }
    }
    json_decref(doc);
    return r;
}

/* ---- /distribution/{name}/json ------------------------------------------------------------ */

static int get_small(struct reg_client *c, const char *path, const char *accept, char **ret,
                     size_t *ret_len, char digest[80], char ctype[128], struct err *err)
{
    struct reg_sink sink;
    struct reg_resp resp;
    int r;

    if (reg__sink_init(&sink, -1, 8 * 1024 * 1024) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    r = reg__get(c, path, accept, &sink, &resp, err);
    if (r == 0) {
        reg__sink_digest(&sink, digest);
        (void)reg__copy(ctype, 128, resp.content_type);
        *ret = sink.mem ? sink.mem : strdup("");
        *ret_len = sink.mem_len;
        sink.mem = NULL;
    }
    reg__sink_release(&sink);
    return r;
}

int rt_reg_distribution(const char *refstr, const struct rt_reg_opts *opts, json_t **ret,
                        struct err *err)
{
    struct rt_reg_ref ref;
    struct reg_client *c = NULL;
    char scope[600], path[300], digest[80], ctype[128], d2[80];
    char *body = NULL, *cbody = NULL;
    size_t len = 0, clen = 0;
    json_t *doc = NULL, *cfg = NULL, *plats, *out;
    const char *mt;
    int r;

    r = rt_reg_ref_parse(refstr, &ref, err);
    if (r < 0)
        return r;
    (void)snprintf(scope, sizeof(scope), "repository:%s:pull", ref.repo);
    r = reg__client_new(ref.api_host, ref.repo, scope, opts, &c, err);
    if (r < 0)
        return r;
    (void)snprintf(path, sizeof(path), "manifests/%s", ref.digest[0] ? ref.digest : ref.tag);
    r = get_small(c, path,
                  RT_MT_DOCKER_MANIFEST ", " RT_MT_DOCKER_LIST ", " RT_MT_OCI_MANIFEST
                                        ", " RT_MT_OCI_INDEX,
                  &body, &len, digest, ctype, err);
    if (r == -ENOENT)
        err_wrap(err, "manifest for %s not found", refstr);
    if (r < 0)
        goto out;
    doc = json_loadb(body, len, 0, NULL);
    mt = json_string_value(json_object_get(doc, "mediaType"));
    if (!mt || !*mt)
        mt = ctype[0] && strncmp(ctype, "application/vnd.", 16) == 0
                 ? ctype
                 : (json_object_get(doc, "manifests") ? RT_MT_OCI_INDEX : RT_MT_OCI_MANIFEST);
    plats = json_array();
    if (json_object_get(doc, "manifests")) {
        json_t *list = json_object_get(doc, "manifests");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *p = json_object_get(json_array_get(list, i), "platform");
            json_t *o = json_object();
            json_t *a = json_object_get(p, "architecture"), *os = json_object_get(p, "os");
            json_t *v = json_object_get(p, "variant");
            (void)json_object_set_new(o, "architecture", a ? json_incref(a) : json_string(""));
            (void)json_object_set_new(o, "os", os ? json_incref(os) : json_string(""));
            if (v)
                (void)json_object_set(o, "variant", v);
            (void)json_array_append_new(plats, o);
        }
    } else {
        const char *cd =
            json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
        if (cd) {
            (void)snprintf(path, sizeof(path), "blobs/%s", cd);
            if (get_small(c, path, NULL, &cbody, &clen, d2, ctype, NULL) == 0)
                cfg = json_loadb(cbody, clen, 0, NULL);
        }
        const char *arch = json_string_value(json_object_get(cfg, "architecture"));
        const char *os = json_string_value(json_object_get(cfg, "os"));
        (void)json_array_append_new(plats,
                                    json_pack("{s:s, s:s}", "architecture", arch ? arch : "amd64",
                                              "os", os ? os : "linux"));
    }
    out = json_pack("{s:{s:s, s:s, s:I}, s:o}", "Descriptor", "mediaType", mt, "digest", digest,
                    "size", (json_int_t)len, "Platforms", plats);
    if (!out) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    *ret = out;
out:
    json_decref(doc);
    json_decref(cfg);
    free(body);
    free(cbody);
    reg__client_free(c);
    return r;
}

/* ---- login ---------------------------------------------------------------------------------- */

int rt_reg_login(const char *server, const struct rt_reg_auth *auth, const char *const *insecure,
                 size_t n_insecure, struct err *err)
{
    struct rt_reg_opts opts = {.auth = auth, .insecure = insecure, .n_insecure = n_insecure};
    struct reg_client *c = NULL;
    char host[256];
    const char *s = server;
    int r;

    if (!s || !*s)
        s = RT_REG_DOCKER_IO;
    if (strncmp(s, "https://", 8) == 0)
        s += 8;
    else if (strncmp(s, "http://", 7) == 0)
        s += 7;
    if (!reg__copy(host, sizeof(host), s))
        return err_set(err, -EINVAL, "invalid registry address %s", server);
    host[strcspn(host, "/")] = '\0';
    if (strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0)
        (void)reg__copy(host, sizeof(host), RT_REG_DOCKER_IO_API);
    if (!host[0])
        return err_set(err, -EINVAL, "invalid registry address %s", server);
    r = reg__client_new(host, "", "", &opts, &c, err);
    if (r < 0)
        return r;
    r = reg__login(c, err);
    reg__client_free(c);
    return r;
}
