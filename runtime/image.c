/*
 * runtime/image.c - the local image store (see runtime/image.h).
 *
 * In memory: an array of images (id, raw config, created, diff ids, size)
 * and an array of tags (normalised ref -> id), both guarded by s->lock.
 * On disk (under <data-root>/image): configs/<hex>.json are the source of
 * truth for images, repositories.json for tags, layers/<hex>/ + .json for
 * layers. Every metadata write goes through write_file_atomic under the lock;
 * long work (extraction) runs without it.
 */
#define LOG_MODULE "image"
#include "runtime/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
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

#define CONFIG_MAX_BYTES (16 << 20)

struct img {
    char id[72];
    char *config;
    int64_t created_ns;
    char **diff_ids;
    size_t n_diff_ids;
    int64_t size;
};

struct tag {
    char *ref;
    char id[72];
};

struct tagtab {
    struct tag *v;
    size_t n, cap;
    const char *file; /* under the store root */
};

struct rt_image_store {
    pthread_mutex_t lock;
    char *root; /* absolute <data-root>/image */
    int dir_fd;
    int layers_fd;
    int configs_fd;
    int tmp_fd;
    struct img *imgs;
    size_t n_imgs;
    size_t cap_imgs;
    struct tagtab tags;    /* repositories.json: "name:tag" -> id */
    struct tagtab digests; /* repodigests.json: "name@sha256:..." -> id */
    struct rt__layer_limits lim;
};

static void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

static void img_release(struct img *m)
{
    free(m->config);
    for (size_t i = 0; i < m->n_diff_ids; i++)
        free(m->diff_ids[i]);
    free(m->diff_ids);
    memset(m, 0, sizeof(*m));
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Arrays are NULL-terminated (and calloc'd, so half-built ones are too). */
static void free_strv(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static bool is_sha256_id(const char *s)
{
    return strncmp(s, "sha256:", 7) == 0 && strlen(s) == 71 && id_is_hex(s + 7, 64);
}

/* ---- parsing a config ---------------------------------------------------------------------- */

static int parse_config(const char *data, size_t len, struct img *m, struct err *err)
{
    json_auto_t *doc = json_loadb(data, len, 0, NULL);
    json_t *ids;
    json_t *v;
    const char *created;
    size_t i;

    if (!doc || !json_is_object(doc))
        return err_set(err, -EINVAL, "invalid image config: not a JSON object");
    created = json_string_value(json_object_get(doc, "created"));
    m->created_ns = 0;
    if (created && time_parse_rfc3339(created, &m->created_ns) < 0)
        m->created_ns = 0;
    ids = json_object_get(json_object_get(doc, "rootfs"), "diff_ids");
    if (!json_is_array(ids))
        return err_set(err, -EINVAL, "invalid image config: no rootfs.diff_ids");
    m->diff_ids = calloc(json_array_size(ids) + 1, sizeof(char *));
    if (!m->diff_ids)
        return err_set(err, -ENOMEM, "out of memory");
    json_array_foreach(ids, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !is_sha256_id(s))
            return err_set(err, -EINVAL, "invalid image config: bad diff id");
        m->diff_ids[i] = strdup(s);
        if (!m->diff_ids[i])
            return err_set(err, -ENOMEM, "out of memory");
        m->n_diff_ids = i + 1;
    }
    return 0;
}

/* ---- layers -------------------------------------------------------------------------------- */

static int layer_refs_locked(struct rt_image_store *s, const char *diff_id)
{
    int n = 0;

    for (size_t i = 0; i < s->n_imgs; i++) {
        for (size_t j = 0; j < s->imgs[i].n_diff_ids; j++) {
            if (strcmp(s->imgs[i].diff_ids[j], diff_id) == 0) {
                n++;
                break;
            }
        }
    }
    return n;
}

static int write_layer_json_locked(struct rt_image_store *s, const char *diff_id, int64_t size)
{
    char path[PATH_MAX];
    char data[128];
    int n = snprintf(data, sizeof(data), "{\"size\":%lld,\"refs\":%d}\n", (long long)size,
                     layer_refs_locked(s, diff_id));

    if ((size_t)snprintf(path, sizeof(path), "%s/layers/%s.json", s->root, diff_id + 7) >=
        sizeof(path))
        return -ENAMETOOLONG;
    return write_file_atomic(path, data, (size_t)n, 0600, true);
}

/* Size of a stored layer: from layers/<hex>.json, else measured (and saved). */
static int layer_size_locked(struct rt_image_store *s, const char *diff_id, int64_t *ret)
{
    char name[80];
    cleanup_free char *data = NULL;
    cleanup_close int fd = -1;
    int r;

    (void)snprintf(name, sizeof(name), "%.64s.json", diff_id + 7);
    if (read_file_at(s->layers_fd, name, &data, NULL, 4096) == 0) {
        json_auto_t *j = json_loads(data, 0, NULL);
        json_t *sz = json_object_get(j, "size");
        if (json_is_integer(sz) && json_integer_value(sz) >= 0) {
            *ret = json_integer_value(sz);
            return 0;
        }
    }
    fd = openat(s->layers_fd, diff_id + 7, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = rt__layer_size(fd, ret);
    if (r < 0)
        return r;
    (void)write_layer_json_locked(s, diff_id, *ret);
    return 0;
}

static bool layer_exists(struct rt_image_store *s, const char *diff_id)
{
    struct stat st;

    if (!diff_id || strlen(diff_id) < 8)
        return false;
    return fstatat(s->layers_fd, diff_id + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* ---- tags and digests ---------------------------------------------------------------------- */

static int cmp_tag(const void *a, const void *b)
{
    return strcmp(((const struct tag *)a)->ref, ((const struct tag *)b)->ref);
}

static struct tag *tab_find(struct tagtab *t, const char *ref)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].ref, ref) == 0)
            return &t->v[i];
    }
    return NULL;
}

static struct tag *find_tag_locked(struct rt_image_store *s, const char *ref)
{
    return tab_find(&s->tags, ref);
}

static int tab_write(struct rt_image_store *s, struct tagtab *t)
{
    json_auto_t *doc = json_object();
    char path[PATH_MAX];
    cleanup_free char *data = NULL;

    if (!doc)
        return -ENOMEM;
    if (t->n)
        qsort(t->v, t->n, sizeof(*t->v), cmp_tag);
    for (size_t i = 0; i < t->n; i++) {
        if (json_object_set_new(doc, t->v[i].ref, json_string(t->v[i].id)) < 0)
            return -ENOMEM;
    }
    data = json_dumps(doc, JSON_INDENT(1));
    if (!data)
        return -ENOMEM;
    (void)snprintf(path, sizeof(path), "%s/%s", s->root, t->file);
    return write_file_atomic(path, data, strlen(data), 0600, true);
}

static int write_repositories_locked(struct rt_image_store *s)
{
    return tab_write(s, &s->tags);
}

static int tab_append(struct tagtab *t, const char *ref, const char *id)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        struct tag *n = realloc(t->v, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        t->v = n;
        t->cap = ncap;
    }
    t->v[t->n].ref = strdup(ref);
    if (!t->v[t->n].ref)
        return -ENOMEM;
    memcpy(t->v[t->n].id, id, 72);
    t->n++;
    return 0;
}

/* Point ref at id (moving it from another image) and persist; reverted on failure. */
static int tab_set(struct rt_image_store *s, struct tagtab *tt, const char *ref, const char *id,
                   struct err *err)
{
    struct tag *t = tab_find(tt, ref);
    char old[72];
    int r;

    if (t) {
        if (strcmp(t->id, id) == 0)
            return 0;
        memcpy(old, t->id, sizeof(old));
        memcpy(t->id, id, 72);
        r = tab_write(s, tt);
        if (r < 0) {
            t = tab_find(tt, ref);
            memcpy(t->id, old, sizeof(old));
            return err_set(err, r, "write %s: %s", tt->file, strerror(-r));
        }
        return 0;
    }
    if (tab_append(tt, ref, id) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    r = tab_write(s, tt);
    if (r < 0) {
        t = tab_find(tt, ref);
        free(t->ref);
        *t = tt->v[--tt->n];
        return err_set(err, r, "write %s: %s", tt->file, strerror(-r));
    }
    return 0;
}

static int set_tag_locked(struct rt_image_store *s, const char *ref, const char *id,
                          struct err *err)
{
    return tab_set(s, &s->tags, ref, id, err);
}

/* Drop ref from the table (memory only; the caller writes the file). */
static void tab_del(struct tagtab *tt, const char *ref)
{
    struct tag *t = tab_find(tt, ref);

    if (!t)
        return;
    free(t->ref);
    *t = tt->v[--tt->n];
}

static void tab_release(struct tagtab *tt)
{
    for (size_t i = 0; i < tt->n; i++)
        free(tt->v[i].ref);
    free(tt->v);
    tt->v = NULL;
    tt->n = tt->cap = 0;
}

/* ---- index --------------------------------------------------------------------------------- */

static struct img *find_img_locked(struct rt_image_store *s, const char *id)
{
    for (size_t i = 0; i < s->n_imgs; i++) {
        if (strcmp(s->imgs[i].id, id) == 0)
            return &s->imgs[i];
    }
    return NULL;
}

/* Takes ownership of *m's members on success. */
static int add_img_locked(struct rt_image_store *s, struct img *m)
{
    int64_t total = 0;

    for (size_t i = 0; i < m->n_diff_ids; i++) {
        int64_t sz = 0;
        if (layer_size_locked(s, m->diff_ids[i], &sz) < 0)
            return -ENOENT;
        total += sz;
    }
    m->size = total;
    if (s->n_imgs == s->cap_imgs) {
        size_t ncap = s->cap_imgs ? s->cap_imgs * 2 : 16;
        struct img *n = realloc(s->imgs, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->imgs = n;
        s->cap_imgs = ncap;
    }
    s->imgs[s->n_imgs++] = *m;
    memset(m, 0, sizeof(*m));
    return 0;
}

static void load_configs(struct rt_image_store *s)
{
    CLEANUP(closedirp) DIR *d = NULL;
    struct dirent *de;
    int fd = openat(s->configs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            (void)close(fd);
        log_warn("image store: cannot list configs: %m");
        return;
    }
    while ((de = readdir(d))) {
        struct img m = {0};
        struct err e = {0};
        size_t len = 0;
        char want[72];
        bool ok = true;

        if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".json") != 0 ||
            !id_is_hex(de->d_name, 64))
            continue;
        if (read_file_at(s->configs_fd, de->d_name, &m.config, &len, CONFIG_MAX_BYTES) < 0) {
            log_warn("image store: cannot read config %s", de->d_name);
            continue;
        }
        rt__sha256_id(m.config, len, m.id);
        (void)snprintf(want, sizeof(want), "sha256:%.64s", de->d_name);
        if (strcmp(m.id, want) != 0) {
            log_warn("image store: config %s does not match its digest, ignored", de->d_name);
            img_release(&m);
            continue;
        }
        if (parse_config(m.config, len, &m, &e) < 0) {
            log_warn("image store: config %s: %s", de->d_name, e.msg);
            img_release(&m);
            continue;
        }
        for (size_t i = 0; i < m.n_diff_ids; i++)
            ok = ok && layer_exists(s, m.diff_ids[i]);
        if (!ok || add_img_locked(s, &m) < 0) {
            log_warn("image store: image %.12s has missing layers, ignored", de->d_name);
            img_release(&m);
        }
    }
}

static void load_tab(struct rt_image_store *s, struct tagtab *tt, bool digests)
{
    cleanup_free char *data = NULL;
    json_auto_t *doc = NULL;
    const char *k;
    json_t *v;
    bool dropped = false;

    if (read_file_at(s->dir_fd, tt->file, &data, NULL, CONFIG_MAX_BYTES) < 0)
        return;
    doc = json_loads(data, 0, NULL);
    if (!json_is_object(doc)) {
        log_warn("image store: %s is not a JSON object, ignored", tt->file);
        return;
    }
    json_object_foreach(doc, k, v)
    {
        const char *id = json_string_value(v);
        char ref[512];

        if (!id || rt_image_normalize_ref(k, ref) < 0 || !find_img_locked(s, id) ||
            (strchr(ref, '@') != NULL) != digests) {
            dropped = true;
            continue;
        }
        if (tab_append(tt, ref, id) < 0)
            return;
    }
    if (dropped && tab_write(s, tt) < 0)
        log_warn("image store: cannot rewrite %s", tt->file);
}

static void load_repositories(struct rt_image_store *s)
{
    load_tab(s, &s->tags, false);
    load_tab(s, &s->digests, true);
}

/* Remove leftovers of interrupted imports. */
static void clean_tmp(struct rt_image_store *s)
{
    CLEANUP(closedirp) DIR *d = NULL;
    struct dirent *de;
    int fd = openat(s->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char path[PATH_MAX];

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            (void)close(fd);
        return;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/tmp/%s", s->root, de->d_name) < sizeof(path) &&
            rm_rf(path) < 0)
            log_warn("image store: cannot remove %s", path);
    }
}

static void clean_orphan_layers(struct rt_image_store *s);

/* ---- open / free --------------------------------------------------------------------------- */

static int open_subdir(int dfd, const char *name, mode_t mode, int *ret, struct err *err)
{
    if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
        return err_set(err, -errno, "create image store dir %s: %m", name);
    *ret = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*ret < 0)
        return err_set(err, -errno, "open image store dir %s: %m", name);
    return 0;
}

int rt_image_store_open(const char *data_root, struct rt_image_store **ret, struct err *err)
{
    struct rt_image_store *s;
    char path[PATH_MAX];
    char real[PATH_MAX];
    int r;

    if (!data_root || !*data_root || !ret)
        return err_set(err, -EINVAL, "image store: no data root");
    if ((size_t)snprintf(path, sizeof(path), "%s/image", data_root) >= sizeof(path))
        return err_set(err, -ENAMETOOLONG, "image store: data root too long");
    r = mkdir_p(path, 0700);
    if (r < 0)
        return err_set(err, r, "create %s: %s", path, strerror(-r));
    if (!realpath(path, real))
        return err_set(err, -errno, "resolve %s: %m", path);
    s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, -ENOMEM, "out of memory");
    s->dir_fd = s->layers_fd = s->configs_fd = s->tmp_fd = -1;
    s->lim.max_bytes = RT_LAYER_DEFAULT_MAX_BYTES;
    s->lim.max_entries = RT_LAYER_DEFAULT_MAX_ENTRIES;
    s->tags.file = "repositories.json";
    s->digests.file = "repodigests.json";
    (void)pthread_mutex_init(&s->lock, NULL);
    s->root = strdup(real);
    if (!s->root) {
        rt_image_store_free(s);
        return err_set(err, -ENOMEM, "out of memory");
    }
    s->dir_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        r = err_set(err, -errno, "open %s: %m", real);
        rt_image_store_free(s);
        return r;
    }
    if ((r = open_subdir(s->dir_fd, "layers", 0700, &s->layers_fd, err)) < 0 ||
        (r = open_subdir(s->dir_fd, "configs", 0700, &s->configs_fd, err)) < 0 ||
        (r = open_subdir(s->dir_fd, "tmp", 0700, &s->tmp_fd, err)) < 0) {
        rt_image_store_free(s);
        return r;
    }
    clean_tmp(s);
    load_configs(s);
    load_repositories(s);
    clean_orphan_layers(s);
    log_debug("image store %s: %zu images, %zu tags", s->root, s->n_imgs, s->tags.n);
    *ret = s;
    return 0;
}

void rt_image_store_free(struct rt_image_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_imgs; i++)
        img_release(&s->imgs[i]);
    free(s->imgs);
    tab_release(&s->tags);
    tab_release(&s->digests);
    closep(&s->dir_fd);
    closep(&s->layers_fd);
    closep(&s->configs_fd);
    closep(&s->tmp_fd);
    free(s->root);
    (void)pthread_mutex_destroy(&s->lock);
    free(s);
}

void rt_image_store_set_limits(struct rt_image_store *s, uint64_t max_bytes, uint64_t max_entries)
{
    (void)pthread_mutex_lock(&s->lock);
    if (max_bytes)
        s->lim.max_bytes = max_bytes;
    if (max_entries)
        s->lim.max_entries = max_entries;
    (void)pthread_mutex_unlock(&s->lock);
}

/* ---- layers in / images in ----------------------------------------------------------------- */

/* Install the tar-split file tmp/<tmpname>.ts as layers/<hex>.tarsplit (lock held). */
static void install_tarsplit_locked(struct rt_image_store *s, const char *tsname,
                                    const char *diff_id, bool replace)
{
    char dst[80];

    (void)snprintf(dst, sizeof(dst), "%.64s.tarsplit", diff_id + 7);
    if (!replace && faccessat(s->layers_fd, dst, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return;
    if (renameat(s->tmp_fd, tsname, s->layers_fd, dst) < 0)
        log_warn("store tar-split of layer %.19s: %m", diff_id);
}

int rt__layer_import_src(struct rt_image_store *s, const struct rt__layer_src *src,
                         char ret_diff_id[72], int64_t *ret_size, bool *ret_new, struct err *err)
{
    struct rt__layer_limits lim;
    struct rt__ts *ts = NULL;
    char hex[ID_HEX_LEN + 1];
    char tmpname[40];
    char tsname[48];
    char tmppath[PATH_MAX];
    char diff_id[72];
    int64_t size = 0;
    bool existed = false;
    bool have_ts = false;
    int ts_fd = -1;
    int dfd;
    int r;

    if (!s || !src || src->fd < 0 || !ret_diff_id)
        return err_set(err, -EINVAL, "invalid arguments");
    r = id_new_hex(hex);
    if (r < 0)
        return err_set(err, r, "random name: %s", strerror(-r));
    (void)snprintf(tmpname, sizeof(tmpname), "layer-%.24s", hex);
    (void)snprintf(tsname, sizeof(tsname), "layer-%.24s.ts", hex);
    (void)snprintf(tmppath, sizeof(tmppath), "%s/tmp/%s", s->root, tmpname);
    if (mkdirat(s->tmp_fd, tmpname, 0755) < 0)
        return err_set(err, -errno, "create %s: %m", tmppath);
    dfd = openat(s->tmp_fd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        r = err_set(err, -errno, "open %s: %m", tmppath);
        (void)rm_rf(tmppath);
        return r;
    }
    ts_fd = openat(s->tmp_fd, tsname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (ts_fd < 0 || rt__ts_new(ts_fd, &ts, NULL) < 0) {
        log_warn("cannot record tar-split data, layer will not be exportable");
        ts = NULL;
    }
    (void)pthread_mutex_lock(&s->lock);
    lim = s->lim;
    (void)pthread_mutex_unlock(&s->lock);

    r = rt__layer_extract(src, dfd, &lim, ts, diff_id, err);
    if (r == 0) {
        r = rt__layer_size(dfd, &size);
        if (r < 0)
            err_set(err, r, "measure layer: %s", strerror(-r));
    }
    if (r == 0 && src->verify)
        r = src->verify(src->verify_arg, diff_id, err);
    (void)close(dfd);
    if (r == 0 && ts) {
        struct err te = {0};
        if (rt__ts_finish(ts, ts_fd, &te) == 0)
            have_ts = true;
        else
            log_warn("layer %.19s: no tar-split data (%s): docker save/push of it will fail",
                     diff_id, te.msg);
    }
    rt__ts_free(ts);
    if (ts_fd >= 0)
        (void)close(ts_fd);
    if (r < 0) {
        if (rm_rf(tmppath) < 0)
            log_warn("cannot remove %s", tmppath);
        (void)unlinkat(s->tmp_fd, tsname, 0);
        return r;
    }

    (void)pthread_mutex_lock(&s->lock);
    if (renameat(s->tmp_fd, tmpname, s->layers_fd, diff_id + 7) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            existed = true; /* layers are shared: keep the one we have */
            r = layer_size_locked(s, diff_id, &size);
            if (r < 0)
                err_set(err, r, "layer %.19s: %s", diff_id, strerror(-r));
            else if (have_ts) /* a layer stored before tar-split recording gains it */
                install_tarsplit_locked(s, tsname, diff_id, false);
        } else {
            r = err_set(err, -errno, "store layer %.19s: %m", diff_id);
        }
    } else {
        r = write_layer_json_locked(s, diff_id, size);
        if (r < 0) {
            err_set(err, r, "write layer metadata: %s", strerror(-r));
            /* undo: a layer dir without metadata would be measured again anyway,
             * but a failed call must not leave state behind */
            (void)renameat(s->layers_fd, diff_id + 7, s->tmp_fd, tmpname);
            existed = true;
        } else if (have_ts) {
            install_tarsplit_locked(s, tsname, diff_id, true);
        }
    }
    (void)pthread_mutex_unlock(&s->lock);
    (void)unlinkat(s->tmp_fd, tsname, 0);
    if (existed && rm_rf(tmppath) < 0)
        log_warn("cannot remove %s", tmppath);
    if (r < 0)
        return r;
    memcpy(ret_diff_id, diff_id, 72);
    if (ret_size)
        *ret_size = size;
    if (ret_new)
        *ret_new = !existed;
    return 0;
}

int rt_image_layer_import(struct rt_image_store *s, int tar_fd, char ret_diff_id[72],
                          int64_t *ret_size, struct err *err)
{
    struct rt__layer_src src = {.fd = tar_fd, .off = 0, .len = -1};

    return rt__layer_import_src(s, &src, ret_diff_id, ret_size, NULL, err);
}

int rt_image_layer_import_verified(struct rt_image_store *s, int tar_fd,
                                   int (*verify)(void *arg, const char *diff_id, struct err *err),
                                   void *arg, char ret_diff_id[72], int64_t *ret_size,
                                   struct err *err)
{
    struct rt__layer_src src = {
        .fd = tar_fd, .off = 0, .len = -1, .verify = verify, .verify_arg = arg};

    return rt__layer_import_src(s, &src, ret_diff_id, ret_size, NULL, err);
}

bool rt__layer_exists(struct rt_image_store *s, const char *diff_id)
{
    bool r;

    (void)pthread_mutex_lock(&s->lock);
    r = layer_exists(s, diff_id);
    (void)pthread_mutex_unlock(&s->lock);
    return r;
}

int rt_image_layer_tar_size(struct rt_image_store *s, const char *diff_id, uint64_t *ret_size,
                            struct err *err)
{
    char name[80];
    cleanup_close int fd = -1;

    if (!s || !diff_id || !is_sha256_id(diff_id) || !ret_size)
        return err_set(err, -EINVAL, "invalid layer id");
    (void)snprintf(name, sizeof(name), "%.64s.tarsplit", diff_id + 7);
    fd = openat(s->layers_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && layer_exists(s, diff_id))
            return err_set(err, -ENOTSUP,
                           "layer %.19s was stored without its original tar layout (imported by an "
                           "older shoal): it cannot be exported; remove the image and load or pull "
                           "it again",
                           diff_id);
        if (errno == ENOENT)
            return err_set(err, -ENOENT, "layer %s is not in the store", diff_id);
        return err_set(err, -errno, "open tar-split of layer %.19s: %m", diff_id);
    }
    if (rt__ts_size(fd, ret_size) < 0)
        return err_set(err, -EIO, "corrupt tar-split file of layer %.19s", diff_id);
    return 0;
}

int rt_image_layer_tar(struct rt_image_store *s, const char *diff_id, int out_fd, struct err *err)
{
    char name[80];
    cleanup_close int fd = -1;
    cleanup_close int lfd = -1;
    uint64_t size;
    int r;

    r = rt_image_layer_tar_size(s, diff_id, &size, err);
    if (r < 0)
        return r;
    (void)snprintf(name, sizeof(name), "%.64s.tarsplit", diff_id + 7);
    fd = openat(s->layers_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    lfd = openat(s->layers_fd, diff_id + 7, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || lfd < 0)
        return err_set(err, -ENOENT, "layer %s is not in the store", diff_id);
    r = rt__ts_rebuild(fd, lfd, out_fd, err);
    if (r < 0 && err)
        (void)err_wrap(err, "layer %.19s", diff_id);
    return r;
}

int rt_image_add(struct rt_image_store *s, const char *config_json, size_t len,
                 const char *repo_tag, char ret_id[72], struct err *err)
{
    struct img m = {0};
    char ref[512];
    char id[72];
    char config_name[80];
    char path[PATH_MAX];
    int r = 0;

    if (!s || !config_json)
        return err_set(err, -EINVAL, "invalid arguments");
    if (repo_tag && *repo_tag) {
        if (rt_image_normalize_ref(repo_tag, ref) < 0)
            return err_set(err, -EINVAL, "invalid reference format: %s", repo_tag);
        if (strchr(ref, '@'))
            return err_set(err, -EINVAL, "refusing to create a tag with a digest reference");
    }
    m.config = strndup(config_json, len);
    if (!m.config)
        return err_set(err, -ENOMEM, "out of memory");
    rt__sha256_id(config_json, len, m.id);
    memcpy(id, m.id, sizeof(id));
    r = parse_config(config_json, len, &m, err);
    if (r < 0)
        goto out;

    (void)pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < m.n_diff_ids; i++) {
        if (!layer_exists(s, m.diff_ids[i])) {
            r = err_set(err, -ENOENT, "layer %s is not in the store", m.diff_ids[i]);
            goto unlock;
        }
    }
    if (!find_img_locked(s, id)) {
        (void)snprintf(config_name, sizeof(config_name), "%.64s.json", id + 7);
        (void)snprintf(path, sizeof(path), "%s/configs/%s", s->root, config_name);
        r = write_file_atomic(path, config_json, len, 0600, true);
        if (r < 0) {
            err_set(err, r, "write image config: %s", strerror(-r));
            goto unlock;
        }
        r = add_img_locked(s, &m);
        if (r < 0) {
            (void)unlinkat(s->configs_fd, config_name, 0);
            err_set(err, r, "add image: %s", strerror(-r));
            goto unlock;
        }
        /* refresh reference counts of its layers */
        {
            struct img *added = find_img_locked(s, id);
            for (size_t i = 0; added && i < added->n_diff_ids; i++) {
                int64_t sz = 0;
                if (layer_size_locked(s, added->diff_ids[i], &sz) == 0)
                    (void)write_layer_json_locked(s, added->diff_ids[i], sz);
            }
        }
    }
    if (repo_tag && *repo_tag)
        r = set_tag_locked(s, ref, id, err);
unlock:
    (void)pthread_mutex_unlock(&s->lock);
    if (r == 0 && ret_id)
        memcpy(ret_id, id, 72);
out:
    img_release(&m);
    return r;
}

int rt_image_import(struct rt_image_store *s, int tar_fd, const char *repo_tag,
                    const char *const *changes, size_t n_changes, const char *message,
                    char ret_id[72], struct err *err)
{
    static const char placeholder[] =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    cleanup_free char *config = NULL;
    char ref[512];
    char diff_id[72];
    char id[72];
    int r;

    if (!s || tar_fd < 0)
        return err_set(err, -EINVAL, "invalid arguments");
    /* Refuse bad input before reading the (possibly large) tar. */
    if (repo_tag && *repo_tag) {
        if (rt_image_normalize_ref(repo_tag, ref) < 0)
            return err_set(err, -EINVAL, "invalid reference format: %s", repo_tag);
        if (strchr(ref, '@'))
            return err_set(err, -EINVAL, "refusing to create a tag with a digest reference");
    }
    r = rt__image_config_import(changes, n_changes, message, placeholder, 1, &config, err);
    if (r < 0)
        return r;
    free(TAKE_PTR(config));

    r = rt_image_layer_import(s, tar_fd, diff_id, NULL, err);
    if (r < 0)
        return r;
    r = rt__image_config_import(changes, n_changes, message, diff_id, time_now_ns(), &config, err);
    if (r < 0)
        return r;
    r = rt_image_add(s, config, strlen(config), repo_tag, id, err);
    if (r < 0)
        return r;
    /* The layer stays even if no image ended up using it: a later prune
     * collects unreferenced layers (refs == 0 in layers/<hex>.json). */
    if (ret_id)
        memcpy(ret_id, id, 72);
    return 0;
}

/* ---- lookup -------------------------------------------------------------------------------- */

/* Unique image whose hex id starts with prefix; -ENOENT / -EINVAL (ambiguous). */
static int find_prefix_locked(struct rt_image_store *s, const char *prefix, struct img **ret)
{
    size_t n = strlen(prefix);
    struct img *found = NULL;

    for (size_t i = 0; i < s->n_imgs; i++) {
        if (strncmp(s->imgs[i].id + 7, prefix, n) == 0) {
            if (found)
                return -EINVAL;
            found = &s->imgs[i];
        }
    }
    if (!found)
        return -ENOENT;
    *ret = found;
    return 0;
}

static int resolve_locked(struct rt_image_store *s, const char *name, struct img **ret,
                          struct err *err)
{
    char ref[512];
    const char *hex = name;
    size_t hl;
    struct tag *t;
    int r;

    if (!name || !*name)
        return err_set(err, -EINVAL, "empty image name");
    /* 1. a full id */
    if (is_sha256_id(name)) {
        *ret = find_img_locked(s, name);
        if (*ret)
            return 0;
        return err_set(err, -ENOENT, "No such image: %s", name);
    }
    /* 2. a reference */
    if (rt_image_normalize_ref(name, ref) == 0) {
        t = strchr(ref, '@') ? tab_find(&s->digests, ref) : find_tag_locked(s, ref);
        if (t && (*ret = find_img_locked(s, t->id)))
            return 0;
        /* name@sha256:<manifest digest> of any repository known for the image */
        if (!t && strchr(ref, '@')) {
            const char *d = strchr(ref, '@');
            for (size_t i = 0; i < s->digests.n; i++) {
                const char *dd = strchr(s->digests.v[i].ref, '@');
                if (dd && strcmp(dd, d) == 0 && (*ret = find_img_locked(s, s->digests.v[i].id)))
                    return 0;
            }
        }
    }
    /* 3. a unique id prefix, with or without "sha256:" */
    if (strncmp(hex, "sha256:", 7) == 0)
        hex += 7;
    hl = strlen(hex);
    if (hl >= 1 && hl <= 64 && id_is_hex(hex, hl)) {
        r = find_prefix_locked(s, hex, ret);
        if (r == 0)
            return 0;
        if (r == -EINVAL)
            return err_set(err, -EINVAL, "ambiguous image id prefix %s: several images match",
                           name);
    }
    return err_set(err, -ENOENT, "No such image: %s", name);
}

/* NULL-terminated copy of the refs of table tt that point at id, sorted. */
static char **refs_of(struct tagtab *tt, const char *id, size_t *ret_n)
{
    size_t nt = 0;
    char **v;

    for (size_t i = 0; i < tt->n; i++)
        nt += strcmp(tt->v[i].id, id) == 0;
    v = calloc(nt + 1, sizeof(char *));
    if (!v)
        return NULL;
    nt = 0;
    for (size_t i = 0; i < tt->n; i++) {
        if (strcmp(tt->v[i].id, id) != 0)
            continue;
        v[nt] = strdup(tt->v[i].ref);
        if (!v[nt]) {
            free_strv(v);
            return NULL;
        }
        nt++;
    }
    qsort(v, nt, sizeof(char *), cmp_strp);
    *ret_n = nt;
    return v;
}

static struct rt_image *copy_img_locked(struct rt_image_store *s, const struct img *m)
{
    struct rt_image *img = calloc(1, sizeof(*img));

    if (!img)
        return NULL;
    memcpy(img->id, m->id, sizeof(img->id));
    img->created_ns = m->created_ns;
    img->size = m->size;
    img->config_json = strdup(m->config);
    img->repo_tags = refs_of(&s->tags, m->id, &img->n_repo_tags);
    img->repo_digests = refs_of(&s->digests, m->id, &img->n_repo_digests);
    img->layers = calloc(m->n_diff_ids + 1, sizeof(char *));
    img->diff_ids = calloc(m->n_diff_ids + 1, sizeof(char *));
    if (!img->config_json || !img->repo_tags || !img->repo_digests || !img->layers ||
        !img->diff_ids)
        goto fail;
    for (size_t i = 0; i < m->n_diff_ids; i++) {
        img->diff_ids[i] = strdup(m->diff_ids[i]);
        if (!img->diff_ids[i] ||
            asprintf(&img->layers[i], "%s/layers/%s", s->root, m->diff_ids[i] + 7) < 0) {
            img->layers[i] = NULL;
            goto fail;
        }
        img->n_layers = i + 1;
    }
    return img;
fail:
    rt_image_free(img);
    return NULL;
}

int rt_image_get(struct rt_image_store *s, const char *name, struct rt_image **ret, struct err *err)
{
    struct img *m = NULL;
    int r;

    if (!s || !ret)
        return err_set(err, -EINVAL, "invalid arguments");
    (void)pthread_mutex_lock(&s->lock);
    r = resolve_locked(s, name, &m, err);
    if (r == 0) {
        *ret = copy_img_locked(s, m);
        if (!*ret)
            r = err_set(err, -ENOMEM, "out of memory");
    }
    (void)pthread_mutex_unlock(&s->lock);
    return r;
}

static int cmp_created_desc(const void *a, const void *b)
{
    const struct rt_image *x = *(const struct rt_image *const *)a;
    const struct rt_image *y = *(const struct rt_image *const *)b;

    if (x->created_ns != y->created_ns)
        return x->created_ns > y->created_ns ? -1 : 1;
    return strcmp(x->id, y->id);
}

int rt_image_list(struct rt_image_store *s, struct rt_image ***ret, size_t *ret_n, struct err *err)
{
    struct rt_image **v;
    size_t n;

    if (!s || !ret || !ret_n)
        return err_set(err, -EINVAL, "invalid arguments");
    (void)pthread_mutex_lock(&s->lock);
    n = s->n_imgs;
    v = calloc(n + 1, sizeof(*v));
    if (!v) {
        (void)pthread_mutex_unlock(&s->lock);
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = copy_img_locked(s, &s->imgs[i]);
        if (!v[i]) {
            (void)pthread_mutex_unlock(&s->lock);
            rt_image_list_free(v, i);
            return err_set(err, -ENOMEM, "out of memory");
        }
    }
    (void)pthread_mutex_unlock(&s->lock);
    qsort(v, n, sizeof(*v), cmp_created_desc);
    *ret = v;
    *ret_n = n;
    return 0;
}

void rt_image_free(struct rt_image *img)
{
    if (!img)
        return;
    free_strv(img->repo_tags);
    free_strv(img->repo_digests);
    free_strv(img->layers);
    free_strv(img->diff_ids);
    free(img->config_json);
    free(img);
}

void rt_image_list_free(struct rt_image **imgs, size_t n)
{
    if (!imgs)
        return;
    for (size_t i = 0; i < n; i++)
        rt_image_free(imgs[i]);
    free(imgs);
}

int rt_image_tag(struct rt_image_store *s, const char *name, const char *target, struct err *err)
{
    char ref[512];
    char id[72];
    struct img *m = NULL;
    int r;

    if (!s || !name || !target)
        return err_set(err, -EINVAL, "invalid arguments");
    if (rt_image_normalize_ref(target, ref) < 0)
        return err_set(err, -EINVAL, "invalid reference format: %s", target);
    if (strchr(ref, '@'))
        return err_set(err, -EINVAL, "refusing to create a tag with a digest reference");
    (void)pthread_mutex_lock(&s->lock);
    r = resolve_locked(s, name, &m, err);
    if (r == 0) {
        memcpy(id, m->id, sizeof(id));
        r = set_tag_locked(s, ref, id, err);
    }
    (void)pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- repo digests ---------------------------------------------------------------------------- */

static size_t repo_len(const char *ref)
{
    const char *at = strchr(ref, '@');
    const char *slash = strrchr(ref, '/');
    const char *colon;

    if (at)
        return (size_t)(at - ref);
    colon = strrchr(slash ? slash : ref, ':');
    return colon ? (size_t)(colon - ref) : strlen(ref);
}

static bool same_repo(const char *a, const char *b)
{
    size_t la = repo_len(a);

    return la == repo_len(b) && strncmp(a, b, la) == 0;
}

int rt_image_add_repo_digest(struct rt_image_store *s, const char *id, const char *ref,
                             struct err *err)
{
    char norm[512];
    struct img *m = NULL;
    int r;

    if (!s || !id || !ref)
        return err_set(err, -EINVAL, "invalid arguments");
    if (rt_image_normalize_ref(ref, norm) < 0 || !strchr(norm, '@'))
        return err_set(err, -EINVAL, "invalid digest reference: %s", ref);
    (void)pthread_mutex_lock(&s->lock);
    r = resolve_locked(s, id, &m, err);
    if (r == 0) {
        char mid[72];
        memcpy(mid, m->id, sizeof(mid));
        /* one digest per repository and image: the newest wins */
        for (size_t i = 0; i < s->digests.n;) {
            if (strcmp(s->digests.v[i].id, mid) == 0 && same_repo(s->digests.v[i].ref, norm) &&
                strcmp(s->digests.v[i].ref, norm) != 0)
                tab_del(&s->digests, s->digests.v[i].ref);
            else
                i++;
        }
        r = tab_set(s, &s->digests, norm, mid, err);
    }
    (void)pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- removal --------------------------------------------------------------------------------- */

struct rmlist {
    struct rt_image_rm *v;
    size_t n, cap;
    char **trash; /* tmp dirs to rm_rf after unlocking */
    size_t n_trash, cap_trash;
    int64_t reclaimed;
};

static int rm_add(struct rmlist *l, bool deleted, const char *what)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        struct rt_image_rm *n = realloc(l->v, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        l->v = n;
        l->cap = ncap;
    }
    l->v[l->n].deleted = deleted;
    l->v[l->n].what = strdup(what);
    if (!l->v[l->n].what)
        return -ENOMEM;
    l->n++;
    return 0;
}

static int trash_add(struct rmlist *l, char *path)
{
    if (l->n_trash == l->cap_trash) {
        size_t ncap = l->cap_trash ? l->cap_trash * 2 : 8;
        char **n = realloc(l->trash, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        l->trash = n;
        l->cap_trash = ncap;
    }
    l->trash[l->n_trash++] = path;
    return 0;
}

void rt_image_rm_free(struct rt_image_rm *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].what);
    free(v);
}

/* Remove the rmlist's trash directories (lock NOT held). */
static void rm_empty_trash(struct rmlist *l)
{
    for (size_t i = 0; i < l->n_trash; i++) {
        if (rm_rf(l->trash[i]) < 0)
            log_warn("cannot remove %s, ignoring (removed at next start)", l->trash[i]);
        free(l->trash[i]);
    }
    free(l->trash);
    l->trash = NULL;
    l->n_trash = l->cap_trash = 0;
}

/* Move layers/<hex> into tmp/ and drop its metadata (lock held). The image
 * configs using it are gone already, so a crash leaves only an orphan. */
static int drop_layer_locked(struct rt_image_store *s, const char *diff_id, struct rmlist *l)
{
    char name[80];
    char hex[ID_HEX_LEN + 1];
    char tmpname[100];
    char *path = NULL;
    int r;

    r = id_new_hex(hex);
    if (r < 0)
        return r;
    (void)snprintf(tmpname, sizeof(tmpname), "del-%.24s", hex);
    if (renameat(s->layers_fd, diff_id + 7, s->tmp_fd, tmpname) < 0) {
        if (errno != ENOENT)
            return -errno;
    } else if (asprintf(&path, "%s/tmp/%s", s->root, tmpname) < 0 || trash_add(l, path) < 0) {
        free(path);
        return -ENOMEM;
    }
    (void)snprintf(name, sizeof(name), "%.64s.json", diff_id + 7);
    (void)unlinkat(s->layers_fd, name, 0);
    (void)snprintf(name, sizeof(name), "%.64s.tarsplit", diff_id + 7);
    (void)unlinkat(s->layers_fd, name, 0);
    return 0;
}

/* Delete image m (no references left): config first, then unused layers. */
static int delete_img_locked(struct rt_image_store *s, struct img *m, struct rmlist *l,
                             struct err *err)
{
    char name[80];
    char id[72];
    char **chain = NULL;
    struct img gone = *m;
    size_t n = gone.n_diff_ids;
    int r;

    memcpy(id, m->id, sizeof(id));
    (void)snprintf(name, sizeof(name), "%.64s.json", id + 7);
    if (unlinkat(s->configs_fd, name, 0) < 0 && errno != ENOENT)
        return err_set(err, -errno, "remove image config: %m");
    (void)fsync(s->configs_fd);
    /* out of the index (the image's members now belong to `gone`) */
    *m = s->imgs[--s->n_imgs];
    r = rm_add(l, true, id);
    /* chain ids, as docker reports deleted layers */
    chain = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; chain && i < n; i++) {
        char buf[160];
        if (i == 0) {
            chain[i] = strdup(gone.diff_ids[0]);
        } else {
            char cid[72];
            int k = snprintf(buf, sizeof(buf), "%s %s", chain[i - 1] ? chain[i - 1] : "",
                             gone.diff_ids[i]);
            rt__sha256_id(buf, (size_t)k, cid);
            chain[i] = strdup(cid);
        }
    }
    for (size_t i = n; i-- > 0;) {
        const char *d = gone.diff_ids[i];
        bool dup = false;
        for (size_t j = i + 1; j < n; j++)
            dup = dup || strcmp(gone.diff_ids[j], d) == 0;
        if (dup)
            continue;
        if (layer_refs_locked(s, d) == 0) {
            int64_t sz = 0;
            (void)layer_size_locked(s, d, &sz);
            if (drop_layer_locked(s, d, l) < 0) {
                log_warn("cannot remove layer %.19s, ignoring (removed at next start)", d);
                continue;
            }
            l->reclaimed += sz;
            if (r == 0 && chain && chain[i])
                r = rm_add(l, true, chain[i]);
        } else {
            int64_t sz = 0;
            if (layer_size_locked(s, d, &sz) == 0)
                (void)write_layer_json_locked(s, d, sz);
        }
    }
    free_strv(chain);
    img_release(&gone);
    if (r < 0)
        return err_set(err, r, "out of memory");
    return 0;
}

static const struct rt_image_user *find_user(const struct rt_image_user *users, size_t n,
                                             const char *id, bool running_only)
{
    for (size_t i = 0; users && i < n; i++) {
        if (users[i].image_id && strcmp(users[i].image_id, id) == 0 &&
            (!running_only || users[i].running))
            return &users[i];
    }
    return NULL;
}

/* Untag every reference of id (lock held). */
static int untag_all_locked(struct rt_image_store *s, const char *id, struct rmlist *l)
{
    bool tags = false, digests = false;
    int r = 0;

    for (size_t i = 0; i < s->tags.n && r == 0;) {
        if (strcmp(s->tags.v[i].id, id) == 0) {
            r = rm_add(l, false, s->tags.v[i].ref);
            tab_del(&s->tags, s->tags.v[i].ref);
            tags = true;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < s->digests.n && r == 0;) {
        if (strcmp(s->digests.v[i].id, id) == 0) {
            r = rm_add(l, false, s->digests.v[i].ref);
            tab_del(&s->digests, s->digests.v[i].ref);
            digests = true;
        } else {
            i++;
        }
    }
    if (tags && write_repositories_locked(s) < 0)
        r = -EIO;
    if (digests && tab_write(s, &s->digests) < 0)
        r = -EIO;
    return r;
}

static size_t count_refs_locked(struct rt_image_store *s, const char *id)
{
    size_t n = 0;

    for (size_t i = 0; i < s->tags.n; i++)
        n += strcmp(s->tags.v[i].id, id) == 0;
    for (size_t i = 0; i < s->digests.n; i++)
        n += strcmp(s->digests.v[i].id, id) == 0;
    return n;
}

static bool single_repo_locked(struct rt_image_store *s, const char *id)
{
    const char *first = NULL;
    struct tagtab *tabs[2] = {&s->tags, &s->digests};

    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < tabs[t]->n; i++) {
            if (strcmp(tabs[t]->v[i].id, id) != 0)
                continue;
            if (!first)
                first = tabs[t]->v[i].ref;
            else if (!same_repo(first, tabs[t]->v[i].ref))
                return false;
        }
    return true;
}

static int remove_locked(struct rt_image_store *s, const char *name, bool force,
                         const struct rt_image_user *users, size_t n_users, struct rmlist *l,
                         struct err *err)
{
    struct img *m = NULL;
    struct tag *t = NULL;
    char ref[512];
    char id[72];
    const struct rt_image_user *u;
    bool quiet = false;
    int r;

    r = resolve_locked(s, name, &m, err);
    if (r < 0)
        return r;
    if (!m || !name)
        return err_set(err, -ENOENT, "No such image: %s", name ? name : "");
    memcpy(id, m->id, sizeof(id));
    if (!is_sha256_id(name) && rt_image_normalize_ref(name, ref) == 0)
        t = tab_find(strchr(ref, '@') ? &s->digests : &s->tags, ref);
    if (t && strcmp(t->id, id) == 0) {
        bool is_digest = strchr(ref, '@') != NULL;
        if (count_refs_locked(s, id) == 1) {
            u = find_user(users, n_users, id, true);
            if (!u && !force)
                u = find_user(users, n_users, id, false);
            if (u)
                return err_set(err, -EEXIST,
                               "conflict: unable to remove repository reference \"%s\" (%s) - "
                               "container %.12s is using its referenced image %.12s",
                               name, force ? "cannot be forced" : "must force", u->container_id,
                               id + 7);
        }
        r = rm_add(l, false, ref);
        if (r < 0)
            return err_set(err, r, "out of memory");
        tab_del(is_digest ? &s->digests : &s->tags, ref);
        r = is_digest ? tab_write(s, &s->digests) : write_repositories_locked(s);
        if (r < 0)
            return err_set(err, r, "write references: %s", strerror(-r));
        if (!is_digest) {
            /* the last tag of a repository takes that repository's digests along */
            bool other_tag = false;
            for (size_t i = 0; i < s->tags.n; i++)
                other_tag = other_tag ||
                            (strcmp(s->tags.v[i].id, id) == 0 && same_repo(s->tags.v[i].ref, ref));
            if (!other_tag) {
                bool changed = false;
                for (size_t i = 0; i < s->digests.n;) {
                    if (strcmp(s->digests.v[i].id, id) == 0 &&
                        same_repo(s->digests.v[i].ref, ref)) {
                        if (rm_add(l, false, s->digests.v[i].ref) < 0)
                            return err_set(err, -ENOMEM, "out of memory");
                        tab_del(&s->digests, s->digests.v[i].ref);
                        changed = true;
                    } else {
                        i++;
                    }
                }
                if (changed)
                    (void)tab_write(s, &s->digests);
            }
        }
        if (count_refs_locked(s, id) > 0)
            return 0;
        quiet = true;
    } else {
        if (count_refs_locked(s, id) > 0 && !force && !single_repo_locked(s, id))
            return err_set(err, -EEXIST,
                           "conflict: unable to delete %.12s (must be forced) - image is "
                           "referenced in multiple repositories",
                           id + 7);
        u = find_user(users, n_users, id, true);
        if (u)
            return err_set(err, -EEXIST,
                           "conflict: unable to delete %.12s (cannot be forced) - image is being "
                           "used by running container %.12s",
                           id + 7, u->container_id);
        u = find_user(users, n_users, id, false);
        if (u && !force)
            return err_set(err, -EEXIST,
                           "conflict: unable to delete %.12s (must be forced) - image is being "
                           "used by stopped container %.12s",
                           id + 7, u->container_id);
        r = untag_all_locked(s, id, l);
        if (r < 0)
            return err_set(err, r, "untag: %s", strerror(-r));
    }
    /* the image itself */
    if (find_user(users, n_users, id, true) || (!force && find_user(users, n_users, id, false))) {
        if (quiet)
            return 0; /* untagged; the image stays for its container */
    }
    m = find_img_locked(s, id);
    if (!m)
        return 0;
    return delete_img_locked(s, m, l, err);
}

static void rm_steal(struct rmlist *l, struct rt_image_rm **ret, size_t *ret_n)
{
    if (ret && ret_n) {
        *ret = l->v;
        *ret_n = l->n;
    } else {
        rt_image_rm_free(l->v, l->n);
    }
    l->v = NULL;
    l->n = 0;
}

int rt_image_remove(struct rt_image_store *s, const char *name, bool force, bool noprune,
                    const struct rt_image_user *users, size_t n_users, struct rt_image_rm **ret,
                    size_t *ret_n, struct err *err)
{
    struct rmlist l = {0};
    int r;

    (void)noprune; /* no parent images: nothing to keep */
    if (!s || !name)
        return err_set(err, -EINVAL, "invalid arguments");
    (void)pthread_mutex_lock(&s->lock);
    r = remove_locked(s, name, force, users, n_users, &l, err);
    (void)pthread_mutex_unlock(&s->lock);
    rm_empty_trash(&l);
    if (r < 0) {
        rt_image_rm_free(l.v, l.n);
        return r;
    }
    rm_steal(&l, ret, ret_n);
    return 0;
}

int rt_image_prune(struct rt_image_store *s, bool all, const struct rt_image_user *users,
                   size_t n_users, struct rt_image_rm **ret, size_t *ret_n, int64_t *ret_reclaimed,
                   struct err *err)
{
    struct rmlist l = {0};
    int r = 0;

    if (!s)
        return err_set(err, -EINVAL, "invalid arguments");
    (void)pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_imgs && r == 0;) {
        struct img *m = &s->imgs[i];
        char id[72];
        memcpy(id, m->id, sizeof(id));
        if (find_user(users, n_users, id, false) || (!all && count_refs_locked(s, id) > 0)) {
            i++;
            continue;
        }
        r = untag_all_locked(s, id, &l);
        if (r < 0) {
            err_set(err, r, "untag: %s", strerror(-r));
            break;
        }
        /* delete_img_locked moves the last image into slot i: do not advance */
        r = delete_img_locked(s, m, &l, err);
    }
    (void)pthread_mutex_unlock(&s->lock);
    rm_empty_trash(&l);
    if (ret_reclaimed)
        *ret_reclaimed = l.reclaimed;
    if (r < 0) {
        rt_image_rm_free(l.v, l.n);
        return r;
    }
    rm_steal(&l, ret, ret_n);
    return 0;
}

/* Remove a layer that a failed load stored and no image uses. */
void rt__layer_drop_unused(struct rt_image_store *s, const char *diff_id)
{
    struct rmlist l = {0};

    (void)pthread_mutex_lock(&s->lock);
    if (layer_refs_locked(s, diff_id) == 0 && drop_layer_locked(s, diff_id, &l) < 0)
        log_warn("cannot remove layer %.19s, ignoring", diff_id);
    (void)pthread_mutex_unlock(&s->lock);
    rm_empty_trash(&l);
}

/* Layers no image uses (a crash during rmi, a failed pull) and metadata
 * files without their layer: dropped at start, when nothing is in flight. */
static void clean_orphan_layers(struct rt_image_store *s)
{
    CLEANUP(closedirp) DIR *d = NULL;
    struct dirent *de;
    struct rmlist l = {0};
    int fd = openat(s->layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            (void)close(fd);
        return;
    }
    while ((de = readdir(d))) {
        char diff_id[72];
        size_t len = strlen(de->d_name);
        if (len < 64 || !id_is_hex(de->d_name, 64))
            continue;
        (void)snprintf(diff_id, sizeof(diff_id), "sha256:%.64s", de->d_name);
        if (len == 64) {
            if (layer_refs_locked(s, diff_id) == 0) {
                log_info("image store: removing unused layer %.19s", diff_id);
                (void)drop_layer_locked(s, diff_id, &l);
            }
        } else if ((strcmp(de->d_name + 64, ".json") == 0 ||
                    strcmp(de->d_name + 64, ".tarsplit") == 0) &&
                   !layer_exists(s, diff_id)) {
            (void)unlinkat(s->layers_fd, de->d_name, 0);
        }
    }
    rm_empty_trash(&l);
}

int rt__image_tmp_fd(struct rt_image_store *s)
{
    return s->tmp_fd;
}
