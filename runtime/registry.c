/*
 * runtime/registry.c - /distribution and login. Repo digests are kept by the
 * image store (rt_image_add_repo_digest).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/registry_internal.h"

/* ---- /distribution/{name}/json ------------------------------------------------------------ */

static int get_small(struct reg_client *c, const char *path, const char *accept, char **ret,
                     size_t *ret_len, char digest[80], char ctype[128], struct err *err)
{
    struct reg_sink sink;
    struct reg_resp resp = {0};
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
    char scope[600], path[300], digest[80] = "", ctype[128] = "", d2[80] = "";
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
