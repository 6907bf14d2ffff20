/*
 * runtime/push.c - rt_push(): a local image to a registry.
 *
 * For each layer (base first): the original tar from rt_image_layer_tar() is
 * spooled to an unlinked temp file, then gzip-compressed into a second one
 * while both streams are hashed (the uncompressed hash must be the diff-id;
 * the compressed one is the blob digest). A HEAD on the blob skips layers the
 * registry already has; others are uploaded (POST uploads/ + monolithic PUT).
 * Then the config blob and the schema-2 manifest. The gzip stream has no
 * timestamp or name, so the same layer always gives the same blob.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/registry_internal.h"

#define PUSH_CHUNK (128 * 1024)

struct push {
    const struct rt_reg_opts *opts;
    struct reg_client *client;
    char tmp_dir[4096];
};

static void emit(struct push *p, const char *id, const char *status, bool bar, int64_t cur,
                 int64_t total, json_t *aux)
{
    struct rt_reg_event ev = {.bar = bar, .current = cur, .total = total, .aux = aux};

    if (p->opts && p->opts->cb) {
        (void)reg__copy(ev.id, sizeof(ev.id), id ? id : "");
        (void)reg__copy(ev.status, sizeof(ev.status), status);
        p->opts->cb(p->opts->cb_arg, &ev);
    }
    json_decref(aux);
}

static bool cancelled(struct push *p)
{
    return p->opts && p->opts->cancel && *p->opts->cancel;
}

static int tmpfile_in(const char *dir, struct err *err)
{
    char path[4200];
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0)
        return fd;
    (void)snprintf(path, sizeof(path), "%s/push-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return err_set(err, -errno, "create a temp file in %s: %m", dir);
    (void)unlink(path);
    return fd;
}

static void hex_digest(EVP_MD_CTX *md, char out[80])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    (void)EVP_DigestFinal_ex(md, d, &n);
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < n; i++)
        (void)snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

/* gzip in_fd (from offset 0) into out_fd; digests of both sides and the compressed size. */
static int gzip_file(struct push *p, int in_fd, int out_fd, char in_digest[80], char out_digest[80],
                     int64_t *out_size, struct err *err)
{
    z_stream z = {0};
    unsigned char *in = malloc(PUSH_CHUNK), *out = malloc(PUSH_CHUNK);
    EVP_MD_CTX *mi = EVP_MD_CTX_new(), *mo = EVP_MD_CTX_new();
    int64_t total = 0;
    off_t off = 0;
    int r = 0, zr = Z_OK;

    if (!in || !out || !mi || !mo || EVP_DigestInit_ex(mi, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(mo, EVP_sha256(), NULL) != 1 ||
        deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out_free;
    }
    for (bool eof = false; zr != Z_STREAM_END;) {
        if (cancelled(p)) {
            r = err_set(err, -ECANCELED, "cancelled");
            break;
        }
        if (z.avail_in == 0 && !eof) {
            ssize_t n = pread(in_fd, in, PUSH_CHUNK, off);
            if (n < 0) {
                r = err_set(err, -errno, "read layer tar: %m");
                break;
            }
            eof = n == 0;
            off += n;
            (void)EVP_DigestUpdate(mi, in, (size_t)n);
            z.next_in = in;
            z.avail_in = (uInt)n;
        }
        z.next_out = out;
        z.avail_out = PUSH_CHUNK;
        zr = deflate(&z, eof ? Z_FINISH : Z_NO_FLUSH);
        if (zr == Z_STREAM_ERROR) {
            r = err_set(err, -EIO, "gzip failed");
            break;
        }
        size_t have = PUSH_CHUNK - z.avail_out;
        if (have) {
            if (write_all(out_fd, out, have) < 0) {
                r = err_set(err, -errno, "write compressed layer: %m");
                break;
            }
            (void)EVP_DigestUpdate(mo, out, have);
            total += (int64_t)have;
        }
    }
    (void)deflateEnd(&z);
    if (r == 0) {
        hex_digest(mi, in_digest);
        hex_digest(mo, out_digest);
        *out_size = total;
    }
out_free:
    EVP_MD_CTX_free(mi);
    EVP_MD_CTX_free(mo);
    free(in);
    free(out);
    return r;
}

struct up_progress {
    struct push *p;
    const char *id;
    int64_t total;
};

static void on_up_progress(void *arg, int64_t cur)
{
    struct up_progress *u = arg;

    emit(u->p, u->id, "Pushing", true, cur, u->total, NULL);
}

/* HEAD the blob; upload it from fd when missing. */
static int put_blob(struct push *p, const char *id, int fd, int64_t size, const char *digest,
                    bool quiet, struct err *err)
{
    struct reg_resp resp = {0};
    char path[120];
    struct up_progress up = {.p = p, .id = id, .total = size};
    int r;

    (void)snprintf(path, sizeof(path), "blobs/%s", digest);
    r = reg__head(p->client, path, NULL, &resp, err);
    if (r < 0)
        return r;
    if (resp.status == 200) {
        if (!quiet)
            emit(p, id, "Layer already exists", false, 0, 0, NULL);
        return 0;
    }
    r = reg__upload_blob(p->client, fd, size, digest, quiet ? NULL : on_up_progress, &up, err);
    if (r == 0 && !quiet)
        emit(p, id, "Pushed", false, 0, 0, NULL);
    return r;
}

static int push_layer(struct push *p, struct rt_image_store *store, const char *diff_id,
                      const char *id, char ret_digest[80], int64_t *ret_size, struct err *err)
{
    int tar_fd = -1, gz_fd = -1, r;
    char in_digest[80];

    tar_fd = tmpfile_in(p->tmp_dir, err);
    if (tar_fd < 0)
        return tar_fd;
    gz_fd = tmpfile_in(p->tmp_dir, err);
    if (gz_fd < 0) {
        (void)close(tar_fd);
        return gz_fd;
    }
    r = rt_image_layer_tar(store, diff_id, tar_fd, err);
    if (r == 0)
        r = gzip_file(p, tar_fd, gz_fd, in_digest, ret_digest, ret_size, err);
    (void)close(tar_fd);
    if (r == 0 && strcmp(in_digest, diff_id) != 0)
        r = err_set(err, -EBADMSG, "layer %s: the stored tar hashes to %s (digest mismatch)",
                    diff_id, in_digest);
    if (r == 0)
        r = put_blob(p, id, gz_fd, *ret_size, ret_digest, false, err);
    (void)close(gz_fd);
    return r;
}

int rt_push(struct rt_image_store *store, const char *name, const char *tag,
            const struct rt_reg_opts *opts, char ret_digest[80], struct err *err)
{
    struct push p = {.opts = opts};
    struct rt_reg_ref ref;
    struct rt_image *img = NULL;
    char lookup[800], scope[600], status[1024], cfg_digest[80], man_digest[80];
    json_t *layers = NULL, *manifest = NULL;
    char *man = NULL;
    int cfg_fd = -1;
    int r;

    r = rt_reg_ref_parse(name, &ref, err);
    if (r < 0)
        return r;
    if (ref.digest[0])
        return err_set(err, -EINVAL, "cannot push a digest reference: %s", name);
    if (tag && *tag)
        (void)reg__copy(ref.tag, sizeof(ref.tag), tag);
    (void)snprintf(lookup, sizeof(lookup), "%s:%s", ref.familiar, ref.tag);
    r = rt_image_get(store, lookup, &img, NULL);
    if (r < 0)
        return err_set(err, -ENOENT, "An image does not exist locally with the tag: %s",
                       ref.familiar);
    if (opts && opts->tmp_dir)
        (void)snprintf(p.tmp_dir, sizeof(p.tmp_dir), "%s", opts->tmp_dir);
    else
        (void)snprintf(p.tmp_dir, sizeof(p.tmp_dir), "/var/tmp");
    (void)snprintf(scope, sizeof(scope), "repository:%s:pull,push", ref.repo);
    r = reg__client_new(ref.api_host, ref.repo, scope, opts, &p.client, err);
    if (r < 0)
        goto out;

    (void)snprintf(status, sizeof(status), "The push refers to repository [%s]", ref.familiar);
    emit(&p, NULL, status, false, 0, 0, NULL);
    for (size_t i = img->n_layers; i-- > 0;) {
        char id[16];
        (void)snprintf(id, sizeof(id), "%.12s", img->diff_ids[i] + 7);
        emit(&p, id, "Preparing", false, 0, 0, NULL);
    }
    layers = json_array();
    for (size_t i = img->n_layers; i-- > 0;) {
        char id[16];
        (void)snprintf(id, sizeof(id), "%.12s", img->diff_ids[i] + 7);
        emit(&p, id, "Waiting", false, 0, 0, NULL);
    }
    for (size_t i = 0; i < img->n_layers; i++) {
        char id[16], digest[80];
        int64_t size = 0;
        (void)snprintf(id, sizeof(id), "%.12s", img->diff_ids[i] + 7);
        r = push_layer(&p, store, img->diff_ids[i], id, digest, &size, err);
        if (r < 0)
            goto out;
        (void)json_array_append_new(layers,
                                    json_pack("{s:s, s:I, s:s}", "mediaType", RT_MT_DOCKER_LAYER,
                                              "size", (json_int_t)size, "digest", digest));
    }

    /* the config blob */
    size_t clen = strlen(img->config_json);
    reg__sha256(img->config_json, clen, cfg_digest);
    cfg_fd = tmpfile_in(p.tmp_dir, err);
    if (cfg_fd < 0) {
        r = cfg_fd;
        goto out;
    }
    if (write_all(cfg_fd, img->config_json, clen) < 0) {
        r = err_set(err, -errno, "write config: %m");
        goto out;
    }
    r = put_blob(&p, NULL, cfg_fd, (int64_t)clen, cfg_digest, true, err);
    if (r < 0)
        goto out;

    manifest = json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:O}", "schemaVersion", 2, "mediaType",
                         RT_MT_DOCKER_MANIFEST, "config", "mediaType", RT_MT_DOCKER_CONFIG, "size",
                         (json_int_t)clen, "digest", cfg_digest, "layers", layers);
    man = manifest ? json_dumps(manifest, JSON_INDENT(3) | JSON_PRESERVE_ORDER) : NULL;
    if (!man) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    reg__sha256(man, strlen(man), man_digest);
    r = reg__put_manifest(p.client, ref.tag, RT_MT_DOCKER_MANIFEST, man, strlen(man), err);
    if (r < 0)
        goto out;
    (void)snprintf(status, sizeof(status), "%s: digest: %s size: %zu", ref.tag, man_digest,
                   strlen(man));
    emit(&p, NULL, status, false, 0, 0, NULL);
    emit(&p, NULL, "", false, 0, 0,
         json_pack("{s:s, s:s, s:I}", "Tag", ref.tag, "Digest", man_digest, "Size",
                   (json_int_t)strlen(man)));
    if (ret_digest)
        (void)reg__copy(ret_digest, 80, man_digest);
out:
    if (cfg_fd >= 0)
        (void)close(cfg_fd);
    free(man);
    json_decref(manifest);
    json_decref(layers);
    rt_image_free(img);
    reg__client_free(p.client);
    return r;
}
