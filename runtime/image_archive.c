/*
 * runtime/image_archive.c - docker save and docker load (see runtime/image.h).
 *
 * save writes the `docker save` tar itself (ustar headers, sequential
 * writes, so out_fd may be a pipe): <layer>/VERSION, <layer>/json,
 * <layer>/layer.tar streamed by rt_image_layer_tar (sizes are known
 * beforehand from the tar-split data), <config hex>.json, manifest.json,
 * repositories.
 *
 * load indexes the archive first (member name -> offset and size in the
 * uncompressed tar; a compressed archive is decompressed into the store's
 * tmp/ first), then reads small JSON members with pread and extracts each
 * layer straight from its byte range, so nothing is copied twice and memory
 * stays flat. Member names are confined (no absolute names, no "..").
 */
#define LOG_MODULE "image"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/macros.h"
#include "lib/util.h"

#include "runtime/image_internal.h"

#define JSON_MEMBER_MAX   (16 << 20)
#define ARCHIVE_MAX_FILES 100000
#define MAX_LINK_HOPS     8

/* ---- save ------------------------------------------------------------------------------------ */

static void octal(char *dst, size_t len, uint64_t v)
{
    /* len-1 digits and a NUL */
    dst[len - 1] = '\0';
    for (size_t i = len - 1; i-- > 0;) {
        dst[i] = (char)('0' + (v & 7));
        v >>= 3;
    }
}

static int tar_header(int fd, const char *name, char type, uint64_t size, int64_t mtime)
{
    unsigned char h[512];
    unsigned sum = 0;
    char *c = (char *)h;

    memset(h, 0, sizeof(h));
    if (strlen(name) > 99)
        return -ENAMETOOLONG;
    memcpy(c, name, strlen(name));
    octal(c + 100, 8, type == '5' ? 0755 : 0644);
    octal(c + 108, 8, 0);
    octal(c + 116, 8, 0);
    if (size < (1ULL << 33)) {
        octal(c + 124, 12, size);
    } else { /* base-256 */
        h[124] = 0x80;
        for (int i = 11; i >= 1; i--) {
            h[124 + i] = (unsigned char)(size & 0xff);
            size >>= 8;
        }
    }
    octal(c + 136, 12, mtime > 0 ? (uint64_t)mtime : 0);
    memset(c + 148, ' ', 8);
    c[156] = type;
    memcpy(c + 257, "ustar", 6);
    memcpy(c + 263, "00", 2);
    octal(c + 329, 8, 0);
    octal(c + 337, 8, 0);
    for (size_t i = 0; i < sizeof(h); i++)
        sum += h[i];
    octal(c + 148, 7, sum);
    c[155] = ' ';
    return write_all(fd, h, sizeof(h));
}

static int tar_pad(int fd, uint64_t size)
{
    static const char zeros[512];
    size_t pad = (size_t)((512 - size % 512) % 512);

    return pad ? write_all(fd, zeros, pad) : 0;
}

static int tar_file(int fd, const char *name, const void *data, size_t len, int64_t mtime)
{
    int r = tar_header(fd, name, '0', len, mtime);

    if (r == 0)
        r = write_all(fd, data, len);
    if (r == 0)
        r = tar_pad(fd, len);
    return r;
}

struct save_img {
    struct rt_image *img;
    json_t *tags; /* array of strings */
};

struct save_set {
    struct save_img *v;
    size_t n;
};

static void save_set_release(struct save_set *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        rt_image_free(ss->v[i].img);
        json_decref(ss->v[i].tags);
    }
    free(ss->v);
    ss->v = NULL;
    ss->n = 0;
}

/* Resolve names into images (merged by id) and check every layer is exportable. */
static int save_resolve(struct rt_image_store *s, const char *const *names, size_t n,
                        struct save_set *ss, struct err *err)
{
    int r;

    if (n == 0)
        return err_set(err, -EINVAL, "no image names given");
    ss->v = calloc(n, sizeof(*ss->v));
    if (!ss->v)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct rt_image *img = NULL;
        struct save_img *si = NULL;
        char ref[512];
        bool by_ref;

        r = rt_image_get(s, names[i], &img, err);
        if (r < 0)
            return r;
        for (size_t j = 0; j < ss->n; j++)
            if (strcmp(ss->v[j].img->id, img->id) == 0)
                si = &ss->v[j];
        /* a name that is one of the image's tags saves that tag */
        by_ref = false;
        if (rt_image_normalize_ref(names[i], ref) == 0 && !strchr(ref, '@'))
            for (size_t t = 0; t < img->n_repo_tags; t++)
                by_ref = by_ref || strcmp(img->repo_tags[t], ref) == 0;
        if (!si) {
            si = &ss->v[ss->n++];
            si->img = img;
            si->tags = json_array();
            for (size_t l = 0; l < img->n_layers; l++) {
                uint64_t sz;
                r = rt_image_layer_tar_size(s, img->diff_ids[l], &sz, err);
                if (r < 0)
                    return r;
            }
        } else {
            rt_image_free(img);
        }
        if (by_ref) {
            bool dup = false;
            size_t k;
            json_t *v;
            json_array_foreach(si->tags, k, v) dup = dup || strcmp(json_string_value(v), ref) == 0;
            if (!dup)
                json_array_append_new(si->tags, json_string(ref));
        }
    }
    return 0;
}

int rt_image_save_check(struct rt_image_store *s, const char *const *names, size_t n_names,
                        struct err *err)
{
    struct save_set ss = {0};
    int r = save_resolve(s, names, n_names, &ss, err);

    save_set_release(&ss);
    return r;
}

static int save_write(struct rt_image_store *s, struct save_set *ss, int fd, struct err *err)
{
    json_auto_t *manifest = json_array();
    json_auto_t *repos = json_object();
    json_auto_t *written = json_object(); /* layer dirs already in the tar */
    cleanup_free char *mdata = NULL;
    cleanup_free char *rdata = NULL;
    int64_t now = time_now_ns() / 1000000000LL;
    int r;

    if (!manifest || !repos || !written)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < ss->n; i++) {
        struct rt_image *img = ss->v[i].img;
        json_t *layers = json_array();
        json_t *item;
        char name[160];
        char parent[65] = "";
        int64_t mtime = img->created_ns / 1000000000LL;

        for (size_t l = 0; l < img->n_layers; l++) {
            const char *hex = img->diff_ids[l] + 7;
            (void)snprintf(name, sizeof(name), "%s/layer.tar", hex);
            json_array_append_new(layers, json_string(name));
            if (!json_object_get(written, hex)) {
                uint64_t size;
                cleanup_free char *js = NULL;
                json_object_set_new(written, hex, json_true());
                (void)snprintf(name, sizeof(name), "%s/", hex);
                r = tar_header(fd, name, '5', 0, mtime);
                (void)snprintf(name, sizeof(name), "%s/VERSION", hex);
                if (r == 0)
                    r = tar_file(fd, name, "1.0", 3, mtime);
                if (asprintf(&js, "{\"id\":\"%s\"%s%s%s}", hex, *parent ? ",\"parent\":\"" : "",
                             parent, *parent ? "\"" : "") < 0) {
                    js = NULL;
                    json_decref(layers);
                    return err_set(err, -ENOMEM, "out of memory");
                }
                (void)snprintf(name, sizeof(name), "%s/json", hex);
                if (r == 0)
                    r = tar_file(fd, name, js, strlen(js), mtime);
                if (r == 0)
                    r = rt_image_layer_tar_size(s, img->diff_ids[l], &size, err);
                (void)snprintf(name, sizeof(name), "%s/layer.tar", hex);
                if (r == 0)
                    r = tar_header(fd, name, '0', size, mtime);
                if (r == 0)
                    r = rt_image_layer_tar(s, img->diff_ids[l], fd, err);
                if (r == 0)
                    r = tar_pad(fd, size);
                if (r < 0) {
                    json_decref(layers);
                    if (err && !err->msg[0])
                        err_set(err, r, "write: %s", strerror(-r));
                    return err ? err->code : r;
                }
            }
            (void)snprintf(parent, sizeof(parent), "%s", hex);
        }
        (void)snprintf(name, sizeof(name), "%s.json", img->id + 7);
        r = tar_file(fd, name, img->config_json, strlen(img->config_json), mtime);
        if (r < 0) {
            json_decref(layers);
            return err_set(err, r, "write: %s", strerror(-r));
        }
        item = json_pack("{s:s, s:O, s:o}", "Config", name, "RepoTags",
                         json_array_size(ss->v[i].tags) ? ss->v[i].tags : json_null(), "Layers",
                         layers);
        json_array_append_new(manifest, item);
        {
            size_t k;
            json_t *v;
            json_array_foreach(ss->v[i].tags, k, v)
            {
                const char *ref = json_string_value(v);
                const char *slash = strrchr(ref, '/');
                const char *colon = strrchr(slash ? slash : ref, ':');
                char repo[512];
                json_t *tags;
                if (!colon || !*parent)
                    continue;
                (void)snprintf(repo, sizeof(repo), "%.*s", (int)(colon - ref), ref);
                tags = json_object_get(repos, repo);
                if (!tags) {
                    tags = json_object();
                    json_object_set_new(repos, repo, tags);
                }
                json_object_set_new(tags, colon + 1, json_string(parent));
            }
        }
    }
    mdata = json_dumps(manifest, JSON_COMPACT);
    rdata = json_dumps(repos, JSON_COMPACT);
    if (!mdata || !rdata)
        return err_set(err, -ENOMEM, "out of memory");
    r = tar_file(fd, "manifest.json", mdata, strlen(mdata), now);
    if (r == 0 && json_object_size(repos))
        r = tar_file(fd, "repositories", rdata, strlen(rdata), now);
    if (r == 0) {
        static const char end[1024];
        r = write_all(fd, end, sizeof(end));
    }
    if (r < 0)
        return err_set(err, r, "write: %s", strerror(-r));
    return 0;
}

int rt_image_save(struct rt_image_store *s, const char *const *names, size_t n_names, int out_fd,
                  struct err *err)
{
    struct save_set ss = {0};
    int r;

    if (!s || !names || out_fd < 0)
        return err_set(err, -EINVAL, "invalid arguments");
    r = save_resolve(s, names, n_names, &ss, err);
    if (r == 0)
        r = save_write(s, &ss, out_fd, err);
    save_set_release(&ss);
    return r;
}

/* ---- load: the archive index ------------------------------------------------------------------
 */

struct member {
    char *name; /* cleaned */
    int64_t off, size;
    char *link; /* symlink target (cleaned, relative to the root) */
    bool is_reg;
};

struct arc {
    int fd; /* the uncompressed tar */
    int tmp_fd;
    struct member *m;
    size_t n, cap;
};

static void arc_release(struct arc *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->m[i].name);
        free(a->m[i].link);
    }
    free(a->m);
    if (a->tmp_fd >= 0)
        (void)close(a->tmp_fd);
}

/* Lexically clean a member name; -EINVAL if absolute or escaping. */
static int clean_name(const char *in, const char *base_dir, char *out, size_t outlen)
{
    char tmp[4096];
    size_t len = 0;
    const char *p;

    if (in[0] == '/')
        return -EINVAL;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s%s%s", base_dir ? base_dir : "",
                         base_dir && *base_dir ? "/" : "", in) >= sizeof(tmp))
        return -ENAMETOOLONG;
    out[0] = '\0';
    p = tmp;
    while (*p) {
        const char *s;
        size_t n;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        s = p;
        while (*p && *p != '/')
            p++;
        n = (size_t)(p - s);
        if (n == 1 && s[0] == '.')
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (len == 0)
                return -EINVAL;
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            out[len] = '\0';
            continue;
        }
        if (len + n + 2 > outlen)
            return -ENAMETOOLONG;
        if (len)
            out[len++] = '/';
        memcpy(out + len, s, n);
        len += n;
        out[len] = '\0';
    }
    return 0;
}

static struct member *arc_find(struct arc *a, const char *name, struct err *err)
{
    char cur[4096];

    if (clean_name(name, NULL, cur, sizeof(cur)) < 0) {
        err_set(err, -EINVAL, "invalid archive: path %s escapes the archive", name);
        return NULL;
    }
    for (int hop = 0; hop <= MAX_LINK_HOPS; hop++) {
        struct member *m = NULL;
        for (size_t i = a->n; i-- > 0;)
            if (strcmp(a->m[i].name, cur) == 0) {
                m = &a->m[i];
                break;
            }
        if (!m) {
            err_set(err, -EINVAL, "invalid archive: %s not found in the archive", name);
            return NULL;
        }
        if (!m->link) {
            if (!m->is_reg) {
                err_set(err, -EINVAL, "invalid archive: %s is not a regular file", name);
                return NULL;
            }
            return m;
        }
        (void)snprintf(cur, sizeof(cur), "%s", m->link);
    }
    err_set(err, -EINVAL, "invalid archive: too many symbolic links at %s", name);
    return NULL;
}

static int arc_add(struct arc *a, struct archive *ar, struct archive_entry *e, struct err *err)
{
    const char *name = archive_entry_pathname(e);
    char clean[4096];
    struct member *m;

    if (!name)
        return 0;
    if (clean_name(name, NULL, clean, sizeof(clean)) < 0)
        return err_set(err, -EINVAL, "invalid archive: member name %s escapes the archive", name);
    if (!*clean || archive_entry_filetype(e) == AE_IFDIR)
        return 0;
    if (a->n >= ARCHIVE_MAX_FILES)
        return err_set(err, -EFBIG, "invalid archive: more than %d files", ARCHIVE_MAX_FILES);
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 32;
        struct member *n = realloc(a->m, ncap * sizeof(*n));
        if (!n)
            return err_set(err, -ENOMEM, "out of memory");
        a->m = n;
        a->cap = ncap;
    }
    m = &a->m[a->n];
    memset(m, 0, sizeof(*m));
    m->name = strdup(clean);
    if (!m->name)
        return err_set(err, -ENOMEM, "out of memory");
    a->n++;
    if (archive_entry_hardlink(e)) {
        char t[4096];
        if (clean_name(archive_entry_hardlink(e), NULL, t, sizeof(t)) < 0)
            return err_set(err, -EINVAL, "invalid archive: link %s escapes the archive", name);
        m->link = strdup(t);
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
        char dir[4096];
        char t[4096];
        const char *slash = strrchr(clean, '/');
        (void)snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - clean) : 0, clean);
        if (!archive_entry_symlink(e) ||
            clean_name(archive_entry_symlink(e), dir, t, sizeof(t)) < 0)
            return err_set(err, -EINVAL, "invalid archive: link %s escapes the archive", name);
        m->link = strdup(t);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
        m->is_reg = true;
        m->off = archive_filter_bytes(ar, 0);
        m->size = archive_entry_size(e);
        if (archive_entry_sparse_count(e) > 0)
            return err_set(err, -EINVAL, "invalid archive: sparse member %s", name);
    }
    if ((archive_entry_hardlink(e) || archive_entry_filetype(e) == AE_IFLNK) && !m->link)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

static struct archive *open_outer(int fd, bool raw)
{
    struct archive *ar = archive_read_new();

    if (!ar)
        return NULL;
    (void)archive_read_support_filter_gzip(ar);
    (void)archive_read_support_filter_bzip2(ar);
    (void)archive_read_support_filter_xz(ar);
    (void)archive_read_support_filter_zstd(ar);
    if (raw)
        (void)archive_read_support_format_raw(ar);
    else
        (void)archive_read_support_format_tar(ar);
    if (lseek(fd, 0, SEEK_SET) < 0 || archive_read_open_fd(ar, fd, 64 * 1024) != ARCHIVE_OK) {
        (void)archive_read_free(ar);
        return NULL;
    }
    return ar;
}

static int arc_index(struct arc *a, int fd, int tmp_dir_fd, struct err *err)
{
    struct archive *ar;
    struct archive_entry *e;
    int r;

    a->fd = fd;
    a->tmp_fd = -1;
    ar = open_outer(fd, false);
    if (!ar)
        return err_set(err, -EINVAL, "invalid archive: cannot read it");
    r = archive_read_next_header(ar, &e);
    if (r >= ARCHIVE_WARN && archive_filter_code(ar, 0) != ARCHIVE_FILTER_NONE) {
        /* compressed: decompress once into a temporary file, index that */
        char *buf = malloc(128 * 1024);
        (void)archive_read_free(ar);
        ar = open_outer(fd, true);
        a->tmp_fd = openat(tmp_dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (!buf || !ar || a->tmp_fd < 0 || archive_read_next_header(ar, &e) != ARCHIVE_OK) {
            free(buf);
            if (ar)
                (void)archive_read_free(ar);
            return err_set(err, -EIO, "cannot decompress the archive");
        }
        for (;;) {
            la_ssize_t n = archive_read_data(ar, buf, 128 * 1024);
            if (n < 0 || (n > 0 && write_all(a->tmp_fd, buf, (size_t)n) < 0)) {
                free(buf);
                (void)archive_read_free(ar);
                return err_set(err, -EINVAL, "invalid archive: decompression failed");
            }
            if (n == 0)
                break;
        }
        free(buf);
        (void)archive_read_free(ar);
        a->fd = a->tmp_fd;
        ar = open_outer(a->fd, false);
        if (!ar)
            return err_set(err, -EINVAL, "invalid archive: cannot read it");
        r = archive_read_next_header(ar, &e);
    }
    for (;;) {
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            r = err_set(err, -EINVAL, "invalid archive: %s",
                        archive_error_string(ar) ?: "not a tar archive");
            (void)archive_read_free(ar);
            return r;
        }
        r = arc_add(a, ar, e, err);
        if (r < 0) {
            (void)archive_read_free(ar);
            return r;
        }
        r = archive_read_next_header(ar, &e);
    }
    (void)archive_read_free(ar);
    if (a->n == 0)
        return err_set(err, -EINVAL, "invalid archive: empty");
    return 0;
}

static int arc_read(struct arc *a, const char *name, char **ret, size_t *ret_len, struct err *err)
{
    struct member *m = arc_find(a, name, err);
    char *data;

    if (!m)
        return err ? err->code : -EINVAL;
    if (m->size > JSON_MEMBER_MAX)
        return err_set(err, -EFBIG, "invalid archive: %s is too large", name);
    data = malloc((size_t)m->size + 1);
    if (!data)
        return err_set(err, -ENOMEM, "out of memory");
    if (pread(a->fd, data, (size_t)m->size, m->off) != (ssize_t)m->size) {
        free(data);
        return err_set(err, -EINVAL, "invalid archive: cannot read %s", name);
    }
    data[m->size] = '\0';
    *ret = data;
    *ret_len = (size_t)m->size;
    return 0;
}

/* ---- load ------------------------------------------------------------------------------------ */

struct loader {
    struct rt_image_store *s;
    struct arc a;
    struct rt_image_load_result *res;
    char **new_layers; /* extracted by this load, for cleanup */
    size_t n_new;
};

static int push_str(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));

    if (!nv)
        return -ENOMEM;
    *v = nv;
    nv[*n] = strdup(s);
    if (!nv[*n])
        return -ENOMEM;
    (*n)++;
    nv[*n] = NULL;
    return 0;
}

void rt_image_load_result_release(struct rt_image_load_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_lines; i++)
        free(res->lines[i]);
    free(res->lines);
    free(res->layers);
    memset(res, 0, sizeof(*res));
}

/* Extract layer i of an image from member m (blob_digest: OCI descriptor
 * digest to verify, or NULL). */
static int load_layer(struct loader *ld, struct member *m, const char *want_diff_id, size_t i,
                      const char *blob_digest, struct err *err)
{
    struct rt__layer_src src = {.fd = ld->a.fd, .off = m->off, .len = m->size};
    EVP_MD_CTX *md = NULL;
    char diff_id[72];
    bool is_new = false;
    int r;

    if (rt__layer_exists(ld->s, want_diff_id))
        return 0; /* shared layer: already here */
    if (blob_digest) {
        md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            return err_set(err, -ENOMEM, "out of memory");
        }
        src.raw_md = md;
    }
    r = rt__layer_import_src(ld->s, &src, diff_id, NULL, &is_new, err);
    if (r == 0 && is_new) {
        struct rt_image_load_layer *nl =
            realloc(ld->res->layers, (ld->res->n_layers + 1) * sizeof(*nl));
        if (nl) {
            ld->res->layers = nl;
            (void)snprintf(nl[ld->res->n_layers].short_id, 13, "%.12s", diff_id + 7);
            nl[ld->res->n_layers].size = m->size;
            ld->res->n_layers++;
        }
        if (push_str(&ld->new_layers, &ld->n_new, diff_id) < 0 || !nl) {
            if (ld->n_new == 0 || strcmp(ld->new_layers[ld->n_new - 1], diff_id) != 0)
                rt__layer_drop_unused(ld->s, diff_id);
            r = err_set(err, -ENOMEM, "out of memory");
        }
    }
    if (r == 0 && md) {
        unsigned char d[32];
        unsigned int dl = 0;
        char got[72];
        (void)EVP_DigestFinal_ex(md, d, &dl);
        memcpy(got, "sha256:", 7);
        for (unsigned int k = 0; k < 32; k++)
            (void)snprintf(got + 7 + 2 * k, 3, "%02x", d[k]);
        if (strcmp(got, blob_digest) != 0)
            r = err_set(err, -EINVAL, "invalid archive: blob %s does not match its digest (got %s)",
                        blob_digest, got);
    }
    EVP_MD_CTX_free(md);
    if (r == 0 && strcmp(diff_id, want_diff_id) != 0)
        r = err_set(err, -EINVAL, "invalid diffID for layer %zu: expected \"%s\", got \"%s\"", i,
                    want_diff_id, diff_id);
    return r;
}

static int config_diff_ids(const char *config, size_t len, json_t **ret, struct err *err)
{
    json_auto_t *doc = json_loadb(config, len, 0, NULL);
    json_t *ids = json_object_get(json_object_get(doc, "rootfs"), "diff_ids");
    size_t i;
    json_t *v;

    if (!json_is_array(ids))
        return err_set(err, -EINVAL, "invalid archive: image config without rootfs.diff_ids");
    json_array_foreach(ids, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71 || !id_is_hex(s + 7, 64))
            return err_set(err, -EINVAL, "invalid archive: bad diff id in the image config");
    }
    *ret = json_incref(ids);
    return 0;
}

/* Store the image and tag it; adds the "Loaded image" lines. */
static int load_finish(struct loader *ld, const char *config, size_t len, json_t *tags,
                       struct err *err)
{
    char id[72];
    char line[640];
    size_t k;
    json_t *v;
    int r;

    r = rt_image_add(ld->s, config, len, NULL, id, err);
    if (r < 0)
        return r;
    json_array_foreach(tags, k, v)
    {
        char ref[512];
        const char *t = json_string_value(v);
        if (!t || rt_image_normalize_ref(t, ref) < 0)
            return err_set(err, -EINVAL, "invalid archive: invalid reference %s", t ? t : "?");
        r = rt_image_tag(ld->s, id, ref, err);
        if (r < 0)
            return r;
        (void)snprintf(line, sizeof(line), "Loaded image: %s\n", ref);
        if (push_str(&ld->res->lines, &ld->res->n_lines, line) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    if (json_array_size(tags) == 0) {
        (void)snprintf(line, sizeof(line), "Loaded image ID: %s\n", id);
        if (push_str(&ld->res->lines, &ld->res->n_lines, line) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int load_docker(struct loader *ld, struct err *err)
{
    cleanup_free char *data = NULL;
    json_auto_t *manifest = NULL;
    size_t len = 0;
    size_t i;
    json_t *item;
    int r;

    r = arc_read(&ld->a, "manifest.json", &data, &len, err);
    if (r < 0)
        return r;
    manifest = json_loadb(data, len, 0, NULL);
    if (!json_is_array(manifest) || json_array_size(manifest) == 0)
        return err_set(err, -EINVAL, "invalid archive: manifest.json is not a JSON array");
    json_array_foreach(manifest, i, item)
    {
        const char *cfg = json_string_value(json_object_get(item, "Config"));
        json_t *layers = json_object_get(item, "Layers");
        json_t *tags = json_object_get(item, "RepoTags");
        json_auto_t *ids = NULL;
        json_auto_t *tagv = json_array();
        cleanup_free char *config = NULL;
        size_t clen = 0;
        size_t k;
        json_t *v;

        if (!cfg || !json_is_array(layers))
            return err_set(err, -EINVAL, "invalid archive: bad manifest.json entry");
        r = arc_read(&ld->a, cfg, &config, &clen, err);
        if (r < 0)
            return r;
        r = config_diff_ids(config, clen, &ids, err);
        if (r < 0)
            return r;
        if (json_array_size(ids) != json_array_size(layers))
            return err_set(err, -EINVAL,
                           "invalid manifest, layers length mismatch: expected %zu, got %zu",
                           json_array_size(ids), json_array_size(layers));
        json_array_foreach(tags, k, v)
        {
            char ref[512];
            if (!json_is_string(v) || rt_image_normalize_ref(json_string_value(v), ref) < 0)
                return err_set(err, -EINVAL, "invalid archive: invalid reference in RepoTags");
            json_array_append(tagv, v);
        }
        json_array_foreach(layers, k, v)
        {
            struct member *m;
            if (!json_is_string(v))
                return err_set(err, -EINVAL, "invalid archive: bad layer path");
            m = arc_find(&ld->a, json_string_value(v), err);
            if (!m)
                return err ? err->code : -EINVAL;
            r = load_layer(ld, m, json_string_value(json_array_get(ids, k)), k, NULL, err);
            if (r < 0)
                return r;
        }
        r = load_finish(ld, config, clen, tagv, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static const char *blob_path(const char *digest, char *out, size_t len, struct err *err)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71 ||
        !id_is_hex(digest + 7, 64)) {
        err_set(err, -EINVAL, "invalid archive: unsupported digest %s", digest ? digest : "?");
        return NULL;
    }
    (void)snprintf(out, len, "blobs/sha256/%s", digest + 7);
    return out;
}

/* Read a blob named by a descriptor and check its digest (and size). */
static int read_blob(struct loader *ld, json_t *desc, char **ret, size_t *ret_len, struct err *err)
{
    const char *digest = json_string_value(json_object_get(desc, "digest"));
    json_t *size = json_object_get(desc, "size");
    char path[128];
    char got[72];
    int r;

    if (!blob_path(digest, path, sizeof(path), err))
        return err->code;
    r = arc_read(&ld->a, path, ret, ret_len, err);
    if (r < 0)
        return r;
    rt__sha256_id(*ret, *ret_len, got);
    if (strcmp(got, digest) != 0 ||
        (json_is_integer(size) && (size_t)json_integer_value(size) != *ret_len)) {
        free(*ret);
        *ret = NULL;
        return err_set(err, -EINVAL, "invalid archive: blob %s does not match its digest", digest);
    }
    return 0;
}

static bool is_index_type(const char *mt)
{
    return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
                  strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

static bool platform_ok(json_t *desc)
{
    json_t *p = json_object_get(desc, "platform");
    const char *os = json_string_value(json_object_get(p, "os"));
    const char *arch = json_string_value(json_object_get(p, "architecture"));

    if (!p)
        return true;
    return (!os || strcmp(os, "linux") == 0) && (!arch || strcmp(arch, "amd64") == 0);
}

static const char *desc_ref(json_t *desc)
{
    json_t *ann = json_object_get(desc, "annotations");
    const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
    const char *name = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));

    if (full)
        return full;
    /* a bare tag ("latest") names no repository: the image stays untagged */
    if (name && (strchr(name, ':') || strchr(name, '/')))
        return name;
    return NULL;
}

static int load_oci_manifest(struct loader *ld, json_t *desc, const char *ref, int depth,
                             struct err *err);

static int load_oci_index(struct loader *ld, json_t *index, const char *ref, int depth,
                          struct err *err)
{
    json_t *mans = json_object_get(index, "manifests");
    size_t i;
    json_t *d;
    bool any = false;

    if (!json_is_array(mans))
        return err_set(err, -EINVAL, "invalid archive: index without manifests");
    json_array_foreach(mans, i, d)
    {
        const char *r2 = desc_ref(d) ? desc_ref(d) : ref;
        int r;
        if (!platform_ok(d))
            continue;
        r = load_oci_manifest(ld, d, r2, depth + 1, err);
        if (r < 0)
            return r;
        any = true;
        if (json_object_get(d, "platform") && depth > 0)
            break; /* one platform of a multi-platform image */
    }
    if (!any)
        return err_set(err, -EINVAL, "invalid archive: no manifest for linux/amd64");
    return 0;
}

static int load_oci_manifest(struct loader *ld, json_t *desc, const char *ref, int depth,
                             struct err *err)
{
    cleanup_free char *data = NULL;
    cleanup_free char *config = NULL;
    json_auto_t *doc = NULL;
    json_auto_t *ids = NULL;
    json_auto_t *tags = json_array();
    json_t *layers;
    size_t len = 0, clen = 0;
    const char *mt;
    size_t k;
    json_t *ld_desc;
    int r;

    if (depth > 8)
        return err_set(err, -EINVAL, "invalid archive: indexes nested too deep");
    r = read_blob(ld, desc, &data, &len, err);
    if (r < 0)
        return r;
    doc = json_loadb(data, len, 0, NULL);
    if (!json_is_object(doc))
        return err_set(err, -EINVAL, "invalid archive: manifest is not a JSON object");
    mt = json_string_value(json_object_get(doc, "mediaType"));
    if (!mt)
        mt = json_string_value(json_object_get(desc, "mediaType"));
    if (is_index_type(mt) || (!json_object_get(doc, "config") && json_object_get(doc, "manifests")))
        return load_oci_index(ld, doc, ref, depth, err);
    layers = json_object_get(doc, "layers");
    if (!json_is_object(json_object_get(doc, "config")) || !json_is_array(layers))
        return err_set(err, -EINVAL, "invalid archive: manifest without config or layers");
    r = read_blob(ld, json_object_get(doc, "config"), &config, &clen, err);
    if (r < 0)
        return r;
    r = config_diff_ids(config, clen, &ids, err);
    if (r < 0)
        return r;
    if (json_array_size(ids) != json_array_size(layers))
        return err_set(err, -EINVAL,
                       "invalid manifest, layers length mismatch: expected %zu, got %zu",
                       json_array_size(ids), json_array_size(layers));
    json_array_foreach(layers, k, ld_desc)
    {
        const char *digest = json_string_value(json_object_get(ld_desc, "digest"));
        json_t *size = json_object_get(ld_desc, "size");
        char path[128];
        struct member *m;
        if (!blob_path(digest, path, sizeof(path), err))
            return err->code;
        m = arc_find(&ld->a, path, err);
        if (!m)
            return err ? err->code : -EINVAL;
        if (json_is_integer(size) && json_integer_value(size) != m->size)
            return err_set(err, -EINVAL, "invalid archive: blob %s has the wrong size", digest);
        r = load_layer(ld, m, json_string_value(json_array_get(ids, k)), k, digest, err);
        if (r < 0)
            return r;
    }
    if (ref) {
        char norm[512];
        if (rt_image_normalize_ref(ref, norm) < 0 || strchr(norm, '@'))
            return err_set(err, -EINVAL, "invalid archive: invalid image name %s", ref);
        json_array_append_new(tags, json_string(norm));
    }
    return load_finish(ld, config, clen, tags, err);
}

static int load_oci(struct loader *ld, struct err *err)
{
    cleanup_free char *layout = NULL;
    cleanup_free char *data = NULL;
    json_auto_t *lj = NULL;
    json_auto_t *index = NULL;
    size_t len = 0;
    int r;

    r = arc_read(&ld->a, "oci-layout", &layout, &len, err);
    if (r < 0)
        return r;
    lj = json_loadb(layout, len, 0, NULL);
    if (!json_string_value(json_object_get(lj, "imageLayoutVersion")))
        return err_set(err, -EINVAL, "invalid archive: bad oci-layout file");
    r = arc_read(&ld->a, "index.json", &data, &len, err);
    if (r < 0)
        return r;
    index = json_loadb(data, len, 0, NULL);
    if (!json_is_object(index))
        return err_set(err, -EINVAL, "invalid archive: index.json is not a JSON object");
    return load_oci_index(ld, index, NULL, 0, err);
}

static bool arc_has(struct arc *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->m[i].name, name) == 0)
            return true;
    return false;
}

int rt_image_load(struct rt_image_store *s, int fd, struct rt_image_load_result *ret,
                  struct err *err)
{
    struct loader ld = {.s = s, .res = ret};
    int r;

    if (!s || fd < 0 || !ret)
        return err_set(err, -EINVAL, "invalid arguments");
    memset(ret, 0, sizeof(*ret));
    r = arc_index(&ld.a, fd, rt__image_tmp_fd(s), err);
    if (r == 0) {
        if (arc_has(&ld.a, "manifest.json"))
            r = load_docker(&ld, err);
        else if (arc_has(&ld.a, "index.json") && arc_has(&ld.a, "oci-layout"))
            r = load_oci(&ld, err);
        else
            r = err_set(err, -EINVAL,
                        "invalid archive: no manifest.json (docker save) nor index.json + "
                        "oci-layout (OCI image layout) found");
    }
    if (r < 0) {
        /* layers this load extracted and no image took: gone */
        for (size_t i = 0; i < ld.n_new; i++)
            rt__layer_drop_unused(s, ld.new_layers[i]);
    }
    for (size_t i = 0; i < ld.n_new; i++)
        free(ld.new_layers[i]);
    free(ld.new_layers);
    arc_release(&ld.a);
    if (r < 0)
        rt_image_load_result_release(ret);
    return r;
}
