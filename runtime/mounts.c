/*
 * runtime/mounts.c - bind and tmpfs mounts from HostConfig.Binds, .Mounts and
 * .Tmpfs, validated the way dockerd validates them (see runtime/mounts.h).
 */
#include "runtime/mounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "lib/util.h"

#define PATH_LEN 4096

int rt_path_clean(const char *in, char *out, size_t outlen)
{
    size_t len = 0;
    const char *p = in;

    if (!in || in[0] != '/')
        return -EINVAL;
    if (outlen < 2)
        return -ENAMETOOLONG;
    while (*p) {
        size_t n;

        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.')) {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            /* drop the last component; ".." at the root stays at the root */
            while (len > 0 && out[--len] != '/')
                ;
            p += n;
            continue;
        }
        if (len + 1 + n >= outlen)
            return -ENAMETOOLONG;
        out[len] = '/';
        memcpy(out + len + 1, p, n);
        len += 1 + n;
        p += n;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    return 0;
}

static const struct {
    const char *name;
    uint64_t flags;
} propagations[] = {
    {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},   {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},     {"rslave", MS_SLAVE | MS_REC},
};

/* The table's own name for a propagation mode (NULL: unknown), its flags in *ret. */
static const char *propagation_flags(const char *name, uint64_t *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(propagations); i++) {
        if (strcmp(name, propagations[i].name) == 0) {
            *ret = propagations[i].flags;
            return propagations[i].name;
        }
    }
    return NULL;
}

/* A -v mode list: "ro", "rw", "z", "Z", a propagation, a consistency. */
static int bind_mode(const char *mode, bool *ret_rw, const char **ret_prop)
{
    int rwmodes = 0, props = 0;
    const char *p = mode;

    *ret_rw = true;
    *ret_prop = "rprivate";
    while (*p) {
        size_t n = strcspn(p, ",");
        char tok[32];
        uint64_t pf;
        const char *pname;

        if (n == 0 || n >= sizeof(tok))
            return -EINVAL;
        memcpy(tok, p, n);
        tok[n] = '\0';
        p += n;
        if (*p == ',' && !*++p)
            return -EINVAL;
        if (strcmp(tok, "ro") == 0 || strcmp(tok, "rw") == 0) {
            *ret_rw = tok[1] == 'w';
            rwmodes++;
        } else if ((pname = propagation_flags(tok, &pf))) {
            *ret_prop = pname;
            props++;
        } else if (strcmp(tok, "z") != 0 && strcmp(tok, "Z") != 0 &&
                   strcmp(tok, "consistent") != 0 && strcmp(tok, "cached") != 0 &&
                   strcmp(tok, "delegated") != 0) {
            return -EINVAL;
        }
    }
    return rwmodes > 1 || props > 1 ? -EINVAL : 0;
}

static bool is_mode_only(const char *s)
{
    bool rw;
    const char *prop;

    return *s && bind_mode(s, &rw, &prop) == 0;
}

static json_t *mount_new(const char *type, const char *src, const char *dst, const char *mode,
                         bool rw, const char *prop, uint64_t flags, const char *data, bool create,
                         bool listed)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:s, s:b, s:b}", "Type", type, "Source",
                     src, "Destination", dst, "Mode", mode, "RW", rw, "Propagation", prop, "Flags",
                     (json_int_t)flags, "Data", data, "Create", create, "Listed", listed);
}

static int bad_path(struct err *err, const char *type, const char *path)
{
    return err_set(err, -EINVAL,
                   "invalid mount config for type \"%s\": invalid mount path: '%s' mount path "
                   "must be absolute",
                   type, path);
}

static int clean_dest(const char *type, const char *in, char *out, struct err *err)
{
    int r = rt_path_clean(in, out, PATH_LEN);

    if (r == -EINVAL)
        return bad_path(err, type, in);
    if (r < 0)
        return err_set(err, r, "invalid mount config for type \"%s\": path too long", type);
    if (strcmp(out, "/") == 0)
        return err_set(err, -EINVAL,
                       "invalid mount config for type \"%s\": invalid specification: "
                       "destination can't be '/'",
                       type);
    return 0;
}

/* One HostConfig.Binds entry. */
static int parse_bind(const char *spec, json_t **ret, struct err *err)
{
    char src[PATH_LEN], dst[PATH_LEN];
    char *parts[4] = {0};
    char *copy = strdup(spec);
    char *p = copy;
    const char *prop;
    const char *mode = "";
    size_t n = 0;
    bool rw;
    int r;

    if (!copy)
        return err_set(err, -ENOMEM, "out of memory");
    for (;;) {
        char *colon = strchr(p, ':');
        if (n == ARRAY_SIZE(parts)) {
            n++;
            break;
        }
        parts[n++] = p;
        if (!colon)
            break;
        *colon = '\0';
        p = colon + 1;
    }
    if (n > 3 || !*parts[0]) {
        r = err_set(err, -EINVAL, "invalid volume specification: '%s'", spec);
        goto out;
    }
    if (n == 1 || (n == 2 && parts[0][0] == '/' && is_mode_only(parts[1]))) {
        r = err_set(err, -EINVAL,
                    "named volumes are not supported (\"%s\" would be an anonymous volume); "
                    "bind a host directory with -v /host/path:%s",
                    spec, parts[0]);
        goto out;
    }
    if (parts[0][0] != '/') {
        r = err_set(err, -EINVAL,
                    "named volumes are not supported (volume \"%s\"); bind a host directory "
                    "with -v /host/path:%s",
                    parts[0], parts[1]);
        goto out;
    }
    if (!*parts[1]) {
        r = err_set(err, -EINVAL, "invalid volume specification: '%s'", spec);
        goto out;
    }
    if ((r = clean_dest("bind", parts[1], dst, err)) < 0)
        goto out;
    if (n == 3)
        mode = parts[2];
    if (bind_mode(mode, &rw, &prop) < 0) {
        r = err_set(err, -EINVAL, "invalid mode: %s", mode);
        goto out;
    }
    if (rt_path_clean(parts[0], src, sizeof(src)) < 0) {
        r = err_set(err, -EINVAL, "invalid volume specification: '%s'", spec);
        goto out;
    }
    {
        uint64_t pf = 0;
        (void)propagation_flags(prop, &pf);
        *ret = mount_new("bind", src, dst, mode, rw, prop,
                         MS_BIND | MS_REC | (rw ? 0 : MS_RDONLY) | pf, "", true, true);
    }
    r = *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
out:
    free(copy);
    return r;
}

static const char *str_field(json_t *o, const char *key, bool *bad)
{
    json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return "";
    if (!json_is_string(v)) {
        *bad = true;
        return "";
    }
    return json_string_value(v);
}

static bool present(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v);
}

/* One HostConfig.Mounts entry (api/types/mount.Mount). */
static int parse_mount(json_t *m, bool check_sources, json_t **ret, struct err *err)
{
    char src[PATH_LEN], dst[PATH_LEN], data[128];
    bool bad = false;
    const char *type, *source, *target;
    bool rw;

    if (!json_is_object(m))
        return err_set(err, -EINVAL, "HostConfig.Mounts must be a list of objects");
    type = str_field(m, "Type", &bad);
    source = str_field(m, "Source", &bad);
    target = str_field(m, "Target", &bad);
    if (bad || (present(m, "ReadOnly") && !json_is_boolean(json_object_get(m, "ReadOnly"))))
        return err_set(err, -EINVAL, "invalid type for a field of HostConfig.Mounts");
    rw = !json_is_true(json_object_get(m, "ReadOnly"));
    if (strcmp(type, "volume") == 0)
        return err_set(err, -EINVAL,
                       "named volumes are not supported (--mount type=volume%s%s); use "
                       "type=bind with a host directory, or type=tmpfs",
                       *source ? ",src=" : "", source);
    if (strcmp(type, "bind") != 0 && strcmp(type, "tmpfs") != 0)
        return err_set(err, -EINVAL, "invalid mount config for type \"%s\": mount type unknown",
                       type);
    if (!*target)
        return err_set(err, -EINVAL,
                       "invalid mount config for type \"%s\": field Target must not be empty",
                       type);
    if (clean_dest(type, target, dst, err) < 0)
        return err->code;
    if (present(m, "VolumeOptions"))
        return err_set(err, -EINVAL,
                       "invalid mount config for type \"%s\": field VolumeOptions must not be "
                       "specified",
                       type);

    if (strcmp(type, "bind") == 0) {
        json_t *bo = json_object_get(m, "BindOptions");
        const char *prop = str_field(bo, "Propagation", &bad);
        bool create = json_is_true(json_object_get(bo, "CreateMountpoint"));
        bool nonrec = json_is_true(json_object_get(bo, "NonRecursive"));
        uint64_t pf = 0;
        struct stat st;

        if (bad || (bo && !json_is_null(bo) && !json_is_object(bo)))
            return err_set(err, -EINVAL, "invalid type for HostConfig.Mounts[].BindOptions");
        if (present(m, "TmpfsOptions"))
            return err_set(err, -EINVAL,
                           "invalid mount config for type \"bind\": field TmpfsOptions must not "
                           "be specified");
        if (!*source)
            return err_set(err, -EINVAL,
                           "invalid mount config for type \"bind\": field Source must not be "
                           "empty");
        if (rt_path_clean(source, src, sizeof(src)) < 0)
            return bad_path(err, "bind", source);
        if (!*prop)
            prop = "rprivate";
        if (!propagation_flags(prop, &pf))
            return err_set(err, -EINVAL,
                           "invalid mount config for type \"bind\": invalid propagation mode: %s",
                           prop);
        if (check_sources && !create && stat(src, &st) < 0)
            return err_set(err, -EINVAL,
                           "invalid mount config for type \"bind\": bind source path does not "
                           "exist: %s",
                           src);
        *ret = mount_new("bind", src, dst, "", rw, prop,
                         MS_BIND | (nonrec ? 0 : MS_REC) | (rw ? 0 : MS_RDONLY) |
                             (nonrec ? pf & ~(uint64_t)MS_REC : pf),
                         "", create, true);
        return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
    }

    /* tmpfs */
    json_t *to = json_object_get(m, "TmpfsOptions");
    json_t *size = json_object_get(to, "SizeBytes");
    json_t *mode = json_object_get(to, "Mode");
    size_t len = 0;

    if (*source)
        return err_set(err, -EINVAL,
                       "invalid mount config for type \"tmpfs\": field Source must not be "
                       "specified");
    if (present(m, "BindOptions"))
        return err_set(err, -EINVAL,
                       "invalid mount config for type \"tmpfs\": field BindOptions must not be "
                       "specified");
    if (to && !json_is_null(to) && !json_is_object(to))
        return err_set(err, -EINVAL, "invalid type for HostConfig.Mounts[].TmpfsOptions");
    data[0] = '\0';
    if (size && !json_is_null(size)) {
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return err_set(err, -EINVAL,
                           "invalid mount config for type \"tmpfs\": invalid tmpfs size");
        if (json_integer_value(size) > 0)
            len += (size_t)snprintf(data + len, sizeof(data) - len, "size=%lld",
                                    (long long)json_integer_value(size));
    }
    if (mode && !json_is_null(mode)) {
        if (!json_is_integer(mode) || json_integer_value(mode) < 0 ||
            json_integer_value(mode) > 07777)
            return err_set(err, -EINVAL,
                           "invalid mount config for type \"tmpfs\": invalid tmpfs mode");
        if (json_integer_value(mode) > 0)
            (void)snprintf(data + len, sizeof(data) - len, "%smode=%llo", len ? "," : "",
                           (unsigned long long)json_integer_value(mode));
    }
    *ret = mount_new("tmpfs", "", dst, "", rw, "", MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY),
                     data, false, true);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

/* One HostConfig.Tmpfs entry: "/path": "rw,noexec,size=64m,mode=1777". */
static int parse_tmpfs(const char *path, json_t *opts, json_t **ret, struct err *err)
{
    static const struct {
        const char *name;
        uint64_t set, clr;
    } flags[] = {
        {"rw", 0, MS_RDONLY},           {"ro", MS_RDONLY, 0},
        {"exec", 0, MS_NOEXEC},         {"noexec", MS_NOEXEC, 0},
        {"suid", 0, MS_NOSUID},         {"nosuid", MS_NOSUID, 0},
        {"dev", 0, MS_NODEV},           {"nodev", MS_NODEV, 0},
        {"atime", 0, MS_NOATIME},       {"noatime", MS_NOATIME, 0},
        {"diratime", 0, MS_NODIRATIME}, {"nodiratime", MS_NODIRATIME, 0},
        {"relatime", MS_RELATIME, 0},   {"strictatime", MS_STRICTATIME, 0},
    };
    static const char *const keys[] = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"};
    char dst[PATH_LEN], data[256];
    uint64_t fl = MS_NOEXEC | MS_NOSUID | MS_NODEV;
    const char *s = json_string_value(opts);
    size_t len = 0;

    if (opts && !json_is_null(opts) && !s)
        return err_set(err, -EINVAL, "HostConfig.Tmpfs options must be strings");
    if (clean_dest("tmpfs", path, dst, err) < 0)
        return err->code;
    data[0] = '\0';
    while (s && *s) {
        size_t n = strcspn(s, ",");
        char tok[128];
        bool known = false;

        if (n >= sizeof(tok))
            return err_set(err, -EINVAL, "invalid tmpfs option for %s: %.*s", path, (int)n, s);
        memcpy(tok, s, n);
        tok[n] = '\0';
        s += n;
        if (*s == ',')
            s++;
        if (!*tok)
            continue;
        for (size_t i = 0; i < ARRAY_SIZE(flags) && !known; i++) {
            if (strcmp(tok, flags[i].name) == 0) {
                fl = (fl & ~flags[i].clr) | flags[i].set;
                known = true;
            }
        }
        for (size_t i = 0; i < ARRAY_SIZE(keys) && !known; i++) {
            size_t kl = strlen(keys[i]);
            const char *v = tok + kl + 1;

            if (strncmp(tok, keys[i], kl) != 0 || tok[kl] != '=')
                continue;
            known = true;
            if (i == 0) {
                int64_t sz;
                if (parse_size(v, &sz) < 0 || sz < 0)
                    return err_set(err, -EINVAL, "invalid tmpfs size for %s: %s", path, v);
            } else if (i == 1) {
                char *end;
                unsigned long md;
                errno = 0;
                md = strtoul(v, &end, 8);
                if (errno || end == v || *end || md > 07777)
                    return err_set(err, -EINVAL, "invalid tmpfs mode for %s: %s", path, v);
            } else if (!*v || strspn(v, "0123456789kKmMgG%") != strlen(v)) {
                return err_set(err, -EINVAL, "invalid tmpfs option for %s: %s", path, tok);
            }
            if (len + n + 2 > sizeof(data))
                return err_set(err, -EINVAL, "tmpfs options for %s are too long", path);
            len += (size_t)snprintf(data + len, sizeof(data) - len, "%s%s", len ? "," : "", tok);
        }
        if (!known)
            return err_set(err, -EINVAL, "invalid tmpfs option for %s: %s", path, tok);
    }
    *ret = mount_new("tmpfs", "", dst, "", !(fl & MS_RDONLY), "", fl, data, false, false);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static size_t depth(json_t *m)
{
    const char *d = json_string_value(json_object_get(m, "Destination"));
    size_t n = 0;

    for (; d && *d; d++)
        n += *d == '/';
    return n;
}

static int add_mount(json_t *list, json_t *m, struct err *err)
{
    const char *dst = json_string_value(json_object_get(m, "Destination"));
    size_t i, at;
    json_t *o;

    json_array_foreach(list, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "Destination")), dst) == 0) {
            int r = err_set(err, -EINVAL, "Duplicate mount point: %s", dst);
            json_decref(m);
            return r;
        }
    }
    /* stable insertion by depth: a parent is mounted before what goes inside it */
    at = json_array_size(list);
    while (at > 0 && depth(json_array_get(list, at - 1)) > depth(m))
        at--;
    if (json_array_insert_new(list, at, m) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

int rt_mounts_parse(json_t *cfg, json_t *hc, bool check_sources, json_t **ret, struct err *err)
{
    json_t *list = json_array();
    json_t *binds = json_object_get(hc, "Binds");
    json_t *mounts = json_object_get(hc, "Mounts");
    json_t *tmpfs = json_object_get(hc, "Tmpfs");
    json_t *vols = json_object_get(cfg, "Volumes");
    const char *key;
    json_t *v, *m = NULL;
    size_t i;
    int r;

    if (!list)
        return err_set(err, -ENOMEM, "out of memory");
    if ((binds && !json_is_null(binds) && !json_is_array(binds)) ||
        (mounts && !json_is_null(mounts) && !json_is_array(mounts)) ||
        (tmpfs && !json_is_null(tmpfs) && !json_is_object(tmpfs)) ||
        (vols && !json_is_null(vols) && !json_is_object(vols))) {
        json_decref(list);
        return err_set(err, -EINVAL,
                       "invalid type for HostConfig.Binds, HostConfig.Mounts, HostConfig.Tmpfs "
                       "or Config.Volumes");
    }
    json_array_foreach(binds, i, v)
    {
        if (!json_is_string(v)) {
            r = err_set(err, -EINVAL, "HostConfig.Binds must be a list of strings");
            goto fail;
        }
        if ((r = parse_bind(json_string_value(v), &m, err)) < 0 ||
            (r = add_mount(list, m, err)) < 0)
            goto fail;
    }
    json_array_foreach(mounts, i, v)
    {
        if ((r = parse_mount(v, check_sources, &m, err)) < 0 || (r = add_mount(list, m, err)) < 0)
            goto fail;
    }
    json_object_foreach(tmpfs, key, v)
    {
        if ((r = parse_tmpfs(key, v, &m, err)) < 0 || (r = add_mount(list, m, err)) < 0)
            goto fail;
    }
    /* Config.Volumes: anonymous volumes (-v /data), unless a mount covers the path */
    json_object_foreach(vols, key, v)
    {
        char dst[PATH_LEN];
        bool covered = false;

        if (rt_path_clean(key, dst, sizeof(dst)) < 0) {
            r = bad_path(err, "volume", key);
            goto fail;
        }
        json_array_foreach(list, i, m)
        {
            if (strcmp(json_string_value(json_object_get(m, "Destination")), dst) == 0)
                covered = true;
        }
        if (!covered) {
            r = err_set(err, -EINVAL,
                        "named volumes are not supported (\"%s\" would be an anonymous volume); "
                        "bind a host directory with -v /host/path:%s",
                        key, key);
            goto fail;
        }
    }
    *ret = list;
    return 0;
fail:
    json_decref(list);
    return r;
}

int rt_mounts_prepare(json_t *mounts, struct err *err)
{
    size_t i;
    json_t *m;

    json_array_foreach(mounts, i, m)
    {
        const char *src = json_string_value(json_object_get(m, "Source"));
        struct stat st;
        int r;

        if (!json_is_true(json_object_get(m, "Create")) || !src || !*src)
            continue;
        if (stat(src, &st) == 0)
            continue;
        if (errno != ENOENT)
            return err_set(err, -errno, "error while creating mount source path '%s': %s", src,
                           strerror(errno));
        if ((r = mkdir_p(src, 0755)) < 0)
            return err_set(err, r, "error while creating mount source path '%s': %s", src,
                           strerror(-r));
    }
    return 0;
}

json_t *rt_mounts_inspect(json_t *mounts)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;

    json_array_foreach(mounts, i, m)
    {
        if (!out)
            break;
        if (!json_is_true(json_object_get(m, "Listed")))
            continue;
        (void)json_array_append_new(
            out,
            json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "Type", json_object_get(m, "Type"),
                      "Source", json_object_get(m, "Source"), "Destination",
                      json_object_get(m, "Destination"), "Mode", json_object_get(m, "Mode"), "RW",
                      json_object_get(m, "RW"), "Propagation", json_object_get(m, "Propagation")));
    }
    return out;
}
