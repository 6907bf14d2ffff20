/*
 * runtime/pull.c - rt_pull(): an image from a registry into the local store.
 *
 * Manifest (or list/index -> the linux/amd64 manifest), then the config blob,
 * then the layers: up to opts->max_concurrent threads each take the next
 * layer, largest first, and stream it through a pipe into rt_image_layer_import_verified()
 * running on a second thread, so a layer is extracted while it downloads;
 * the compressed digest is checked at the end of the download, before the
 * extractor may commit the layer. The image is registered only when every
 * layer is in and every diff-id matches the config, so a failure leaves no
 * image.
 */
#define LOG_MODULE "registry"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/registry_internal.h"

#define PULL_MANIFEST_MAX (4 * 1024 * 1024)
#define PULL_CONFIG_MAX   (8 * 1024 * 1024)
#define PULL_MAX_LAYERS   256
#define PULL_ACCEPT                                                                                \
    RT_MT_DOCKER_MANIFEST ", " RT_MT_DOCKER_LIST ", " RT_MT_OCI_MANIFEST ", " RT_MT_OCI_INDEX

struct pull_layer {
    char digest[80];
    int64_t size;
    char diff_id[72]; /* expected, from the config */
    char short_id[16];
    bool present; /* already in the store */
};

struct pull {
    struct rt_image_store *store;
    const struct rt_reg_opts *opts;
    struct reg_client *client;
    char layers_dir[4096];
    char tmp_dir[4096];
    struct pull_layer *layers;
    size_t *order; /* indexes into layers, largest first */
    size_t n_layers;
    pthread_mutex_t lock; /* next, first error, callbacks */
    size_t next;
    volatile bool stop;
    int r;
    struct err err;
};

static void emit(struct pull *p, const char *id, const char *status, bool bar, int64_t cur,
                 int64_t total)
{
    struct rt_reg_event ev = {.bar = bar, .current = cur, .total = total};

    if (!p->opts || !p->opts->cb)
        return;
    (void)reg__copy(ev.id, sizeof(ev.id), id ? id : "");
    (void)reg__copy(ev.status, sizeof(ev.status), status);
    (void)pthread_mutex_lock(&p->lock);
    p->opts->cb(p->opts->cb_arg, &ev);
    (void)pthread_mutex_unlock(&p->lock);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool valid_sha256(const char *d)
{
    return d && strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 && id_is_hex(d + 7, 64);
}

/* ---- one layer --------------------------------------------------------------------------- */

struct dl_progress {
    struct pull *p;
    struct pull_layer *l;
};

static void on_dl_progress(void *arg, int64_t cur)
{
    struct dl_progress *d = arg;

    emit(d->p, d->l->short_id, "Downloading", true, cur, d->l->size);
}

/* One layer is downloaded into a pipe and extracted from it at the same time
 * (extraction is what a pull spends its time on). The compressed digest is
 * only known at the end of the download: the extractor asks for the verdict
 * before it commits the layer, so a blob with the wrong digest never enters
 * the store. */
struct extract_job {
    struct rt_image_store *store;
    int rfd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int verdict; /* 0 pending, 1 good, -1 bad */
    struct err verr;
    int r;
    struct err err;
    char diff_id[72];
};

static int extract_verify(void *arg, const char *diff_id, struct err *err)
{
    struct extract_job *j = arg;
    int v;

    (void)diff_id;
    (void)pthread_mutex_lock(&j->lock);
    while (j->verdict == 0)
        (void)pthread_cond_wait(&j->cond, &j->lock);
    v = j->verdict;
    (void)pthread_mutex_unlock(&j->lock);
    if (v < 0)
        return err_set(err, -EBADMSG, "%s", j->verr.msg);
    return 0;
}

static void *extract_thread(void *arg)
{
    struct extract_job *j = arg;

    j->r = rt_image_layer_import_verified(j->store, j->rfd, extract_verify, j, j->diff_id, NULL,
                                          &j->err);
    /* On an extraction error keep reading until the download ends: its
     * digest decides which error the user sees (a corrupt blob is a digest
     * mismatch, not a tar error). */
    if (j->r < 0) {
        char sink[65536];
        while (read(j->rfd, sink, sizeof(sink)) > 0)
            ;
    }
    (void)close(j->rfd);
    j->rfd = -1;
    return NULL;
}

static void set_verdict(struct extract_job *j, int v, const struct err *e)
{
    (void)pthread_mutex_lock(&j->lock);
    j->verdict = v;
    if (e)
        j->verr = *e;
    (void)pthread_cond_broadcast(&j->cond);
    (void)pthread_mutex_unlock(&j->lock);
}

static int pull_layer(struct pull *p, struct pull_layer *l, struct err *err)
{
    struct dl_progress dp = {.p = p, .l = l};
    struct extract_job j = {.store = p->store, .rfd = -1};
    struct reg_sink sink;
    struct reg_resp resp = {0};
    struct err derr = {0};
    pthread_t th;
    char path[120];
    char got[80];
    int64_t t0 = now_ms(), t_dl;
    int fds[2];
    int r;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_set(err, -errno, "pipe: %m");
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    if (reg__sink_init(&sink, fds[1], 0) < 0) {
        (void)close(fds[0]);
        (void)close(fds[1]);
        return err_set(err, -ENOMEM, "out of memory");
    }
    (void)pthread_mutex_init(&j.lock, NULL);
    (void)pthread_cond_init(&j.cond, NULL);
    j.rfd = fds[0];
    if (pthread_create(&th, NULL, extract_thread, &j) != 0) {
        (void)close(fds[0]);
        (void)close(fds[1]);
        reg__sink_release(&sink);
        return err_set(err, -EAGAIN, "cannot start an extraction thread");
    }
    sink.on_progress = on_dl_progress;
    sink.progress_arg = &dp;
    (void)snprintf(path, sizeof(path), "blobs/%s", l->digest);
    emit(p, l->short_id, "Downloading", true, 0, l->size);
    r = reg__get(p->client, path, NULL, &sink, &resp, &derr);
    (void)close(fds[1]); /* EOF for the extractor */
    t_dl = now_ms();
    if (r < 0) {
        err_wrap(&derr, "error pulling layer %s", l->short_id);
    } else {
        emit(p, l->short_id, "Verifying Checksum", false, 0, 0);
        reg__sink_digest(&sink, got);
        if (strcmp(got, l->digest) != 0)
            r = err_set(&derr, -EBADMSG,
                        "filesystem layer verification failed for digest %s: digest mismatch "
                        "(the registry sent content with digest %s)",
                        l->digest, got);
        else if (l->size > 0 && sink.written != l->size)
            r = err_set(&derr, -EBADMSG,
                        "layer %s: size mismatch: got %lld bytes, manifest says %lld", l->digest,
                        (long long)sink.written, (long long)l->size);
    }
    if (r == 0) {
        emit(p, l->short_id, "Download complete", false, 0, 0);
        emit(p, l->short_id, "Extracting", true, 0, l->size);
    }
    set_verdict(&j, r < 0 ? -1 : 1, r < 0 ? &derr : NULL);
    (void)pthread_join(th, NULL);
    reg__sink_release(&sink);
    (void)pthread_cond_destroy(&j.cond);
    (void)pthread_mutex_destroy(&j.lock);
    if (r < 0) {
        *err = derr;
        return r;
    }
    if (j.r < 0) {
        *err = j.err;
        err_wrap(err, "failed to register layer %s", l->short_id);
        return j.r;
    }
    if (strcmp(j.diff_id, l->diff_id) != 0)
        return err_set(err, -EBADMSG,
                       "layer %s: diff-id mismatch: the content has %s, the image config says %s",
                       l->digest, j.diff_id, l->diff_id);
    log_debug("layer %s: %lld bytes downloaded in %lld ms, extracted in %lld ms", l->short_id,
              (long long)l->size, (long long)(t_dl - t0), (long long)(now_ms() - t0));
    emit(p, l->short_id, "Extracting", true, l->size, l->size);
    emit(p, l->short_id, "Pull complete", false, 0, 0);
    return 0;
}

/* Largest layer first: the pull takes as long as its longest layer, so that
 * one should not wait for a free worker behind small ones. */
static int by_size_desc(const void *a, const void *b, void *arg)
{
    const struct pull_layer *layers = arg;
    int64_t sa = layers[*(const size_t *)a].size;
    int64_t sb = layers[*(const size_t *)b].size;

    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;

    if (sa != sb)
        return sa > sb ? -1 : 1;
    return (ia > ib) - (ia < ib);
}

static void *layer_worker(void *arg)
{
    struct pull *p = arg;

    for (;;) {
        struct pull_layer *l = NULL;
        struct err e = {0};
        int r;

        (void)pthread_mutex_lock(&p->lock);
        while (p->next < p->n_layers && p->layers[p->order[p->next]].present)
            p->next++;
        if (!p->stop && p->next < p->n_layers)
            l = &p->layers[p->order[p->next++]];
        (void)pthread_mutex_unlock(&p->lock);
        if (!l)
            return NULL;
        r = pull_layer(p, l, &e);
        if (r < 0) {
            (void)pthread_mutex_lock(&p->lock);
            /* the first real error wins over the cancellations it caused */
            if (p->r == 0 || (p->r == -ECANCELED && r != -ECANCELED)) {
                p->r = r;
                p->err = e;
            }
            p->stop = true;
            (void)pthread_mutex_unlock(&p->lock);
            return NULL;
        }
    }
}

/* ---- manifests ----------------------------------------------------------------------------- */

/* GET manifests/<reference>; returns the parsed document, its media type and digest. */
static int fetch_manifest(struct pull *p, const struct rt_reg_ref *ref, const char *reference,
                          json_t **ret_doc, char media_type[128], char digest[80],
                          int64_t *ret_size, struct err *err)
{
    struct reg_sink sink;
    struct reg_resp resp = {0};
    char path[300];
    json_t *doc;
    const char *mt;
    int r;

    if (reg__sink_init(&sink, -1, PULL_MANIFEST_MAX) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    (void)snprintf(path, sizeof(path), "manifests/%s", reference);
    r = reg__get(p->client, path, PULL_ACCEPT, &sink, &resp, err);
    if (r == -ENOENT) {
        err_wrap(err, "manifest for %s%s%s not found", ref->familiar,
                 reference[0] == 's' && strchr(reference, ':') ? "@" : ":", reference);
        goto out;
    }
    if (r == -EACCES) {
        err_wrap(err,
                 "pull access denied for %s, repository does not exist or may require "
                 "'docker login'",
                 ref->familiar);
        goto out;
    }
    if (r < 0)
        goto out;
    reg__sink_digest(&sink, digest);
    if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest) != 0) {
        r = err_set(err, -EBADMSG,
                    "manifest verification failed for digest %s: digest mismatch "
                    "(got %s)",
                    reference, digest);
        goto out;
    }
    doc = json_loadb(sink.mem ? sink.mem : "", sink.mem_len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        r = err_set(err, -EINVAL, "manifest of %s is not a JSON object", ref->familiar);
        goto out;
    }
    mt = json_string_value(json_object_get(doc, "mediaType"));
    if (!mt || !*mt)
        mt = resp.content_type;
    if (json_integer_value(json_object_get(doc, "schemaVersion")) == 1) {
        json_decref(doc);
        r = err_set(err, -EINVAL,
                    "%s uses the old Docker schema 1 manifest, which shoal does "
                    "not support",
                    ref->familiar);
        goto out;
    }
    /* an OCI document without mediaType: tell a manifest from an index by its members */
    if (!mt || !*mt || strncmp(mt, "text/plain", 10) == 0 ||
        strncmp(mt, "application/json", 16) == 0)
        mt = json_object_get(doc, "manifests") ? RT_MT_OCI_INDEX : RT_MT_OCI_MANIFEST;
    (void)reg__copy(media_type, 128, mt);
    if (ret_size)
        *ret_size = (int64_t)sink.mem_len;
    *ret_doc = doc;
out:
    reg__sink_release(&sink);
    return r;
}

static bool is_index(const char *mt)
{
    return strcmp(mt, RT_MT_DOCKER_LIST) == 0 || strcmp(mt, RT_MT_OCI_INDEX) == 0;
}

static int fetch_config(struct pull *p, const char *digest, char **ret, size_t *ret_len,
                        struct err *err)
{
    struct reg_sink sink;
    struct reg_resp resp = {0};
    char path[120], got[80];
    int r;

    if (reg__sink_init(&sink, -1, PULL_CONFIG_MAX) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    (void)snprintf(path, sizeof(path), "blobs/%s", digest);
    r = reg__get(p->client, path, NULL, &sink, &resp, err);
    if (r < 0) {
        err_wrap(err, "image config %s", digest);
    } else {
        reg__sink_digest(&sink, got);
        if (strcmp(got, digest) != 0) {
            r = err_set(err, -EBADMSG,
                        "image config verification failed for digest %s: digest "
                        "mismatch (got %s)",
                        digest, got);
        } else {
            *ret = sink.mem ? sink.mem : strdup("");
            *ret_len = sink.mem_len;
            sink.mem = NULL;
        }
    }
    reg__sink_release(&sink);
    return r;
}

static bool layer_stored(struct pull *p, const char *diff_id)
{
    char path[4300];
    struct stat st;

    (void)snprintf(path, sizeof(path), "%s/%s.json", p->layers_dir, diff_id + 7);
    return stat(path, &st) == 0;
}

/* ---- the pull ------------------------------------------------------------------------------ */

int rt_pull(struct rt_image_store *store, const char *data_root, const char *refstr,
            const struct rt_reg_opts *opts, struct rt_pull_result *ret, struct err *err)
{
    struct pull p = {.store = store, .opts = opts};
    struct rt_reg_ref ref;
    char scope[600];
    char mt[128], top_digest[80], digest[80], sel[80];
    const char *reference;
    json_t *manifest = NULL, *cfg = NULL;
    char *config = NULL;
    size_t config_len = 0;
    struct rt_image *existing = NULL;
    pthread_t threads[8];
    size_t n_threads = 0;
    char status[1024];
    int64_t t_start = now_ms();
    int r;

    memset(ret, 0, sizeof(*ret));
    if (!store || !data_root)
        return err_set(err, -EINVAL, "invalid arguments");
    r = rt_reg_ref_parse(refstr, &ref, err);
    if (r < 0)
        return r;
    (void)pthread_mutex_init(&p.lock, NULL);
    (void)snprintf(p.layers_dir, sizeof(p.layers_dir), "%s/image/layers", data_root);
    if (opts && opts->tmp_dir)
        (void)snprintf(p.tmp_dir, sizeof(p.tmp_dir), "%s", opts->tmp_dir);
    else
        (void)snprintf(p.tmp_dir, sizeof(p.tmp_dir), "%s/image/tmp", data_root);
    (void)snprintf(scope, sizeof(scope), "repository:%s:pull", ref.repo);
    r = reg__client_new(ref.api_host, ref.repo, scope, opts, &p.client, err);
    if (r < 0)
        goto out;
    reg__client_set_stop(p.client, &p.stop);

    reference = ref.digest[0] ? ref.digest : ref.tag;
    r = fetch_manifest(&p, &ref, reference, &manifest, mt, top_digest, NULL, err);
    if (r < 0)
        goto out;
    (void)reg__copy(digest, sizeof(digest), top_digest);
    if (is_index(mt)) {
        r = rt_reg_select_platform(manifest, "linux", "amd64", sel, NULL, NULL, err);
        if (r < 0)
            goto out;
        json_decref(manifest);
        manifest = NULL;
        r = fetch_manifest(&p, &ref, sel, &manifest, mt, digest, NULL, err);
        if (r < 0)
            goto out;
        if (is_index(mt)) {
            r = err_set(err, -EINVAL, "manifest list %s points to another list", sel);
            goto out;
        }
    }
    if (strcmp(mt, RT_MT_DOCKER_MANIFEST) != 0 && strcmp(mt, RT_MT_OCI_MANIFEST) != 0) {
        r = err_set(err, -EINVAL, "unsupported manifest media type %s", mt);
        goto out;
    }

    /* config and layers from the manifest */
    json_t *jcfg = json_object_get(manifest, "config");
    json_t *jlayers = json_object_get(manifest, "layers");
    const char *cfg_digest = json_string_value(json_object_get(jcfg, "digest"));
    if (!valid_sha256(cfg_digest) || !json_is_array(jlayers) ||
        json_array_size(jlayers) > PULL_MAX_LAYERS) {
        r = err_set(err, -EINVAL, "malformed manifest %s (config or layers)", digest);
        goto out;
    }
    p.n_layers = json_array_size(jlayers);
    p.layers = calloc(p.n_layers ? p.n_layers : 1, sizeof(*p.layers));
    p.order = calloc(p.n_layers ? p.n_layers : 1, sizeof(*p.order));
    if (!p.layers || !p.order) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < p.n_layers; i++) {
        json_t *jl = json_array_get(jlayers, i);
        const char *d = json_string_value(json_object_get(jl, "digest"));
        const char *lmt = json_string_value(json_object_get(jl, "mediaType"));
        if (!valid_sha256(d)) {
            r = err_set(err, -EINVAL, "malformed manifest %s: layer %zu has no sha256 digest",
                        digest, i);
            goto out;
        }
        if (lmt && (strstr(lmt, "foreign") || strstr(lmt, "nondistributable"))) {
            r = err_set(err, -EINVAL, "layer %s has media type %s, which is not supported", d, lmt);
            goto out;
        }
        (void)reg__copy(p.layers[i].digest, sizeof(p.layers[i].digest), d);
        p.layers[i].size = json_integer_value(json_object_get(jl, "size"));
        (void)snprintf(p.layers[i].short_id, sizeof(p.layers[i].short_id), "%.12s", d + 7);
        p.order[i] = i;
    }
    qsort_r(p.order, p.n_layers, sizeof(*p.order), by_size_desc, p.layers);

    (void)snprintf(status, sizeof(status), "Pulling from %s",
                   strncmp(ref.familiar, ref.domain, strlen(ref.domain)) == 0 &&
                           ref.familiar[strlen(ref.domain)] == '/'
                       ? ref.familiar + strlen(ref.domain) + 1
                       : ref.repo);
    emit(&p, reference, status, false, 0, 0);

    log_debug("pull %s: manifest after %lld ms", refstr, (long long)(now_ms() - t_start));
    r = fetch_config(&p, cfg_digest, &config, &config_len, err);
    if (r < 0)
        goto out;
    cfg = json_loadb(config, config_len, 0, NULL);
    json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(diff_ids) || json_array_size(diff_ids) != p.n_layers) {
        r = err_set(err, -EINVAL,
                    "image config %s: rootfs.diff_ids does not match the %zu layers "
                    "of the manifest",
                    cfg_digest, p.n_layers);
        goto out;
    }
    for (size_t i = 0; i < p.n_layers; i++) {
        const char *d = json_string_value(json_array_get(diff_ids, i));
        if (!valid_sha256(d)) {
            r = err_set(err, -EINVAL, "image config %s: bad diff_id %zu", cfg_digest, i);
            goto out;
        }
        (void)reg__copy(p.layers[i].diff_id, sizeof(p.layers[i].diff_id), d);
    }

    if (ref.tag[0])
        (void)snprintf(ret->tagged, sizeof(ret->tagged), "%s:%s", ref.familiar, ref.tag);
    (void)snprintf(ret->repo_digest, sizeof(ret->repo_digest), "%s@%s", ref.familiar, top_digest);
    (void)reg__copy(ret->manifest_digest, sizeof(ret->manifest_digest), top_digest);

    /* already here? (the image id is the config digest) */
    if (rt_image_get(store, cfg_digest, &existing, NULL) == 0) {
        struct rt_image *cur = NULL;
        ret->up_to_date = !ret->tagged[0] || (rt_image_get(store, ret->tagged, &cur, NULL) == 0 &&
                                              strcmp(cur->id, existing->id) == 0);
        rt_image_free(cur);
    } else {
        for (size_t i = 0; i < p.n_layers; i++) {
            p.layers[i].present = layer_stored(&p, p.layers[i].diff_id);
            emit(&p, p.layers[i].short_id,
                 p.layers[i].present ? "Already exists" : "Pulling fs layer", false, 0, 0);
        }
        size_t want = opts && opts->max_concurrent > 0 ? (size_t)opts->max_concurrent : 3;
        if (want > ARRAY_SIZE(threads))
            want = ARRAY_SIZE(threads);
        size_t todo = 0;
        for (size_t i = 0; i < p.n_layers; i++)
            todo += !p.layers[i].present;
        for (size_t i = 0, seen = 0; i < p.n_layers; i++) {
            const struct pull_layer *l = &p.layers[p.order[i]];
            if (!l->present && ++seen > want)
                emit(&p, l->short_id, "Waiting", false, 0, 0);
        }
        if (want > todo)
            want = todo;
        for (n_threads = 0; n_threads < want; n_threads++) {
            if (pthread_create(&threads[n_threads], NULL, layer_worker, &p) != 0)
                break;
        }
        if (n_threads == 0 && want > 0)
            layer_worker(&p);
        for (size_t i = 0; i < n_threads; i++)
            (void)pthread_join(threads[i], NULL);
        if (p.r < 0) {
            r = p.r;
            if (err)
                *err = p.err;
            goto out;
        }
        if (opts && opts->cancel && *opts->cancel) {
            r = err_set(err, -ECANCELED, "cancelled");
            goto out;
        }
    }

    log_debug("pull %s: layers in after %lld ms", refstr, (long long)(now_ms() - t_start));
    r = rt_image_add(store, config, config_len, ret->tagged[0] ? ret->tagged : NULL, ret->image_id,
                     err);
    if (r < 0)
        goto out;
    log_debug("pull %s: image added after %lld ms", refstr, (long long)(now_ms() - t_start));
    if (rt_image_add_repo_digest(store, ret->image_id, ret->repo_digest, NULL) < 0)
        log_warn("pull: cannot record the repo digest %s, ignoring", ret->repo_digest);
    (void)snprintf(status, sizeof(status), "Digest: %s", top_digest);
    emit(&p, NULL, status, false, 0, 0);
    (void)snprintf(status, sizeof(status), "Status: %s for %s",
                   ret->up_to_date ? "Image is up to date" : "Downloaded newer image",
                   ret->tagged[0] ? ret->tagged : ret->repo_digest);
    emit(&p, NULL, status, false, 0, 0);
out:
    rt_image_free(existing);
    json_decref(manifest);
    json_decref(cfg);
    free(config);
    free(p.layers);
    free(p.order);
    reg__client_free(p.client);
    (void)pthread_mutex_destroy(&p.lock);
    return r;
}
