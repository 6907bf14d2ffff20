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
    struct tag *tags;
    size_t n_tags;
    size_t cap_tags;
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

    return fstatat(s->layers_fd, diff_id + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* ---- tags ---------------------------------------------------------------------------------- */

static int cmp_tag(const void *a, const void *b)
{
    return strcmp(((const struct tag *)a)->ref, ((const struct tag *)b)->ref);
}

static struct tag *find_tag_locked(struct rt_image_store *s, const char *ref)
{
    for (size_t i = 0; i < s->n_tags; i++) {
        if (strcmp(s->tags[i].ref, ref) == 0)
            return &s->tags[i];
    }
    return NULL;
}

static int write_repositories_locked(struct rt_image_store *s)
{
    json_auto_t *doc = json_object();
    char path[PATH_MAX];
    cleanup_free char *data = NULL;

    if (!doc)
        return -ENOMEM;
    qsort(s->tags, s->n_tags, sizeof(*s->tags), cmp_tag);
    for (size_t i = 0; i < s->n_tags; i++) {
        if (json_object_set_new(doc, s->tags[i].ref, json_string(s->tags[i].id)) < 0)
            return -ENOMEM;
    }
    data = json_dumps(doc, JSON_INDENT(1));
    if (!data)
        return -ENOMEM;
    (void)snprintf(path, sizeof(path), "%s/repositories.json", s->root);
    return write_file_atomic(path, data, strlen(data), 0600, true);
}

/* Point ref at id (moving it from another image) and persist; reverted on failure. */
static int set_tag_locked(struct rt_image_store *s, const char *ref, const char *id,
                          struct err *err)
{
    struct tag *t = find_tag_locked(s, ref);
    char old[72];
    int r;

    if (t) {
        if (strcmp(t->id, id) == 0)
            return 0;
        memcpy(old, t->id, sizeof(old));
        memcpy(t->id, id, 72);
        r = write_repositories_locked(s);
        if (r < 0) {
            t = find_tag_locked(s, ref);
            memcpy(t->id, old, sizeof(old));
            return err_set(err, r, "write repositories.json: %s", strerror(-r));
        }
        return 0;
    }
    if (s->n_tags == s->cap_tags) {
        size_t ncap = s->cap_tags ? s->cap_tags * 2 : 16;
        struct tag *n = realloc(s->tags, ncap * sizeof(*n));
        if (!n)
            return err_set(err, -ENOMEM, "out of memory");
        s->tags = n;
        s->cap_tags = ncap;
    }
    t = &s->tags[s->n_tags];
    t->ref = strdup(ref);
    if (!t->ref)
        return err_set(err, -ENOMEM, "out of memory");
    memcpy(t->id, id, 72);
    s->n_tags++;
    r = write_repositories_locked(s);
    if (r < 0) {
        t = find_tag_locked(s, ref);
        free(t->ref);
        *t = s->tags[--s->n_tags];
        return err_set(err, r, "write repositories.json: %s", strerror(-r));
    }
    return 0;
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

static void load_repositories(struct rt_image_store *s)
{
    cleanup_free char *data = NULL;
    json_auto_t *doc = NULL;
    const char *k;
    json_t *v;
    bool dropped = false;

    if (read_file_at(s->dir_fd, "repositories.json", &data, NULL, CONFIG_MAX_BYTES) < 0)
        return;
    doc = json_loads(data, 0, NULL);
    if (!json_is_object(doc)) {
        log_warn("image store: repositories.json is not a JSON object, ignored");
        return;
    }
    json_object_foreach(doc, k, v)
    {
        const char *id = json_string_value(v);
        char ref[512];
        struct tag *t;

        if (!id || rt_image_normalize_ref(k, ref) < 0 || !find_img_locked(s, id)) {
            dropped = true;
            continue;
        }
        if (s->n_tags == s->cap_tags) {
            size_t ncap = s->cap_tags ? s->cap_tags * 2 : 16;
            t = realloc(s->tags, ncap * sizeof(*t));
            if (!t)
                return;
            s->tags = t;
            s->cap_tags = ncap;
        }
        t = &s->tags[s->n_tags];
        t->ref = strdup(ref);
        if (!t->ref)
            return;
        memcpy(t->id, id, 72);
        s->n_tags++;
    }
    if (dropped && write_repositories_locked(s) < 0)
        log_warn("image store: cannot rewrite repositories.json");
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
    log_debug("image store %s: %zu images, %zu tags", s->root, s->n_imgs, s->n_tags);
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
    for (size_t i = 0; i < s->n_tags; i++)
        free(s->tags[i].ref);
    free(s->tags);
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

int rt_image_layer_import(struct rt_image_store *s, int tar_fd, char ret_diff_id[72],
                          int64_t *ret_size, struct err *err)
{
    struct rt__layer_limits lim;
    char hex[ID_HEX_LEN + 1];
    char tmpname[40];
    char tmppath[PATH_MAX];
    char diff_id[72];
    int64_t size = 0;
    bool existed = false;
    int dfd;
    int r;

    if (!s || tar_fd < 0 || !ret_diff_id)
        return err_set(err, -EINVAL, "invalid arguments");
    r = id_new_hex(hex);
    if (r < 0)
        return err_set(err, r, "random name: %s", strerror(-r));
    (void)snprintf(tmpname, sizeof(tmpname), "layer-%.24s", hex);
    (void)snprintf(tmppath, sizeof(tmppath), "%s/tmp/%s", s->root, tmpname);
    if (mkdirat(s->tmp_fd, tmpname, 0755) < 0)
        return err_set(err, -errno, "create %s: %m", tmppath);
    dfd = openat(s->tmp_fd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        r = err_set(err, -errno, "open %s: %m", tmppath);
        (void)rm_rf(tmppath);
        return r;
    }
    (void)pthread_mutex_lock(&s->lock);
    lim = s->lim;
    (void)pthread_mutex_unlock(&s->lock);

    r = rt__layer_extract(tar_fd, dfd, &lim, diff_id, err);
    if (r == 0) {
        r = rt__layer_size(dfd, &size);
        if (r < 0)
            err_set(err, r, "measure layer: %s", strerror(-r));
    }
    (void)close(dfd);
    if (r < 0) {
        if (rm_rf(tmppath) < 0)
            log_warn("cannot remove %s", tmppath);
        return r;
    }

    (void)pthread_mutex_lock(&s->lock);
    if (renameat(s->tmp_fd, tmpname, s->layers_fd, diff_id + 7) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            existed = true; /* layers are shared: keep the one we have */
            r = layer_size_locked(s, diff_id, &size);
            if (r < 0)
                err_set(err, r, "layer %.19s: %s", diff_id, strerror(-r));
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
        }
    }
    (void)pthread_mutex_unlock(&s->lock);
    if (existed && rm_rf(tmppath) < 0)
        log_warn("cannot remove %s", tmppath);
    if (r < 0)
        return r;
    memcpy(ret_diff_id, diff_id, 72);
    if (ret_size)
        *ret_size = size;
    return 0;
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
        t = find_tag_locked(s, ref);
        if (t && (*ret = find_img_locked(s, t->id)))
            return 0;
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

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct rt_image *copy_img_locked(struct rt_image_store *s, const struct img *m)
{
    struct rt_image *img = calloc(1, sizeof(*img));
    size_t nt = 0;

    if (!img)
        return NULL;
    memcpy(img->id, m->id, sizeof(img->id));
    img->created_ns = m->created_ns;
    img->size = m->size;
    img->config_json = strdup(m->config);
    for (size_t i = 0; i < s->n_tags; i++)
        nt += strcmp(s->tags[i].id, m->id) == 0;
    img->repo_tags = calloc(nt + 1, sizeof(char *));
    img->layers = calloc(m->n_diff_ids + 1, sizeof(char *));
    img->diff_ids = calloc(m->n_diff_ids + 1, sizeof(char *));
    if (!img->config_json || !img->repo_tags || !img->layers || !img->diff_ids)
        goto fail;
    for (size_t i = 0; i < s->n_tags; i++) {
        if (strcmp(s->tags[i].id, m->id) != 0)
            continue;
        img->repo_tags[img->n_repo_tags] = strdup(s->tags[i].ref);
        if (!img->repo_tags[img->n_repo_tags])
            goto fail;
        img->n_repo_tags++;
    }
    qsort(img->repo_tags, img->n_repo_tags, sizeof(char *), cmp_strp);
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

/* Arrays are NULL-terminated (and calloc'd, so half-built ones are too). */
static void free_strv(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

void rt_image_free(struct rt_image *img)
{
    if (!img)
        return;
    free_strv(img->repo_tags);
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
