/*
 * runtime/image_config.c - the image config of `docker import`, with changes.
 *
 * What Docker 20.10 writes for an import (checked against dockerd):
 *   {"architecture":"amd64","comment":"Imported from -","config":{...},
 *    "container_config":{...},"created":"<RFC 3339, Go trims zeros>",
 *    "history":[{"created":"...","comment":"Imported from -"}],"os":"linux",
 *    "rootfs":{"type":"layers","diff_ids":["sha256:..."]}}
 * config/container_config carry the Go ContainerConfig fields in Go's order,
 * nil lists as null; Env stays null unless ENV is given. With a message, the
 * message replaces "Imported from -" in comment and history.
 *
 * Changes (`docker import -c`): CMD, ENTRYPOINT (JSON array or shell form ->
 * ["/bin/sh","-c",...]), ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR
 * as Docker, plus STOPSIGNAL. Anything else: "<x> is not a valid change
 * command" (Docker's wording).
 */
#define LOG_MODULE "image"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "lib/err.h"
#include "lib/macros.h"
#include "lib/util.h"

#include "runtime/image_internal.h"

struct cfg {
    json_t *env;        /* array or NULL */
    json_t *cmd;        /* array or NULL */
    json_t *entrypoint; /* array or NULL */
    json_t *exposed;    /* object or NULL */
    json_t *volumes;    /* object or NULL */
    json_t *onbuild;    /* array or NULL */
    json_t *labels;     /* object or NULL */
    char *user;
    char *workdir;
    char *stopsignal;
};

static void cfg_release(struct cfg *c)
{
    json_decref(c->env);
    json_decref(c->cmd);
    json_decref(c->entrypoint);
    json_decref(c->exposed);
    json_decref(c->volumes);
    json_decref(c->onbuild);
    json_decref(c->labels);
    free(c->user);
    free(c->workdir);
    free(c->stopsignal);
}

static const char *skip_ws(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

static char *strdup_trim(const char *s)
{
    size_t n;

    s = skip_ws(s);
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/*
 * Split into words as the Dockerfile parser does for ENV/LABEL: whitespace
 * separates, quotes group and are removed, backslash escapes one character
 * (inside single quotes nothing is special). Returns a JSON array of strings.
 */
static int split_words(const char *s, json_t **ret)
{
    CLEANUP(json_decrefp) json_t *arr = json_array();
    cleanup_free char *w = malloc(strlen(s) + 1);
    size_t n = 0;
    bool in_word = false;
    char quote = 0;

    if (!arr || !w)
        return -ENOMEM;
    for (const char *p = s;; p++) {
        char c = *p;
        if (!c || (!quote && isspace((unsigned char)c))) {
            if (in_word) {
                w[n] = '\0';
                if (json_array_append_new(arr, json_string(w)) < 0)
                    return -ENOMEM;
                n = 0;
                in_word = false;
            }
            if (!c)
                break;
            continue;
        }
        in_word = true;
        if (quote == '\'') {
            if (c == '\'')
                quote = 0;
            else
                w[n++] = c;
        } else if (c == '\\' && p[1]) {
            /* inside double quotes only \" \\ \$ are escapes */
            if (quote == '"' && p[1] != '"' && p[1] != '\\' && p[1] != '$')
                w[n++] = c;
            else
                w[n++] = *++p;
        } else if (quote == '"') {
            if (c == '"')
                quote = 0;
            else
                w[n++] = c;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else {
            w[n++] = c;
        }
    }
    if (quote)
        return -EINVAL;
    *ret = TAKE_PTR(arr);
    return 0;
}

/* ENV / LABEL arguments -> array of {key, value} pairs (JSON [[k,v],...]). */
static int parse_name_vals(const char *instr, const char *args, json_t **ret, struct err *err)
{
    CLEANUP(json_decrefp) json_t *words = NULL;
    CLEANUP(json_decrefp) json_t *pairs = json_array();
    const char *first;
    size_t i;
    json_t *w;

    if (!pairs)
        return err_set(err, -ENOMEM, "out of memory");
    if (!*skip_ws(args))
        return err_set(err, -EINVAL, "%s requires at least one argument", instr);
    if (split_words(args, &words) < 0)
        return err_set(err, -EINVAL, "%s: unterminated quote in %s", instr, args);
    first = json_string_value(json_array_get(words, 0));
    if (!strchr(first, '=')) {
        /* old form: "ENV key value with spaces" */
        const char *p = skip_ws(args);
        cleanup_free char *value = NULL;
        while (*p && !isspace((unsigned char)*p))
            p++;
        value = strdup_trim(p);
        if (!value)
            return err_set(err, -ENOMEM, "out of memory");
        if (!*value)
            return err_set(err, -EINVAL, "%s must have two arguments", instr);
        if (json_array_append_new(pairs, json_pack("[ss]", first, value)) < 0)
            return err_set(err, -ENOMEM, "out of memory");
        *ret = TAKE_PTR(pairs);
        return 0;
    }
    json_array_foreach(words, i, w)
    {
        const char *s = json_string_value(w);
        const char *eq = strchr(s, '=');
        if (!eq || eq == s)
            return err_set(err, -EINVAL,
                           "Syntax error - can't find = in \"%s\". Must be of the form: "
                           "name=value",
                           s);
        if (json_array_append_new(pairs, json_pack("[s#s]", s, (int)(eq - s), eq + 1)) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    *ret = TAKE_PTR(pairs);
    return 0;
}

/* CMD/ENTRYPOINT/VOLUME: a JSON array of strings, or NULL if args is not one. */
static json_t *parse_json_array(const char *args)
{
    json_t *j;
    size_t i;
    json_t *v;

    if (*skip_ws(args) != '[')
        return NULL;
    j = json_loads(args, JSON_DECODE_ANY, NULL);
    if (!j || !json_is_array(j)) {
        json_decref(j);
        return NULL;
    }
    json_array_foreach(j, i, v)
    {
        if (!json_is_string(v)) {
            json_decref(j);
            return NULL;
        }
    }
    return j;
}

static json_t *parse_command(const char *args)
{
    json_t *j = parse_json_array(args);
    cleanup_free char *sh = NULL;

    if (j)
        return j;
    sh = strdup_trim(args);
    if (!sh)
        return NULL;
    if (!*sh)
        return json_pack("[ss]", "/bin/sh", "-c");
    return json_pack("[sss]", "/bin/sh", "-c", sh);
}

/* Lexical clean of an absolute path (WORKDIR). */
static int clean_abs(const char *in, char **ret)
{
    size_t len = strlen(in);
    char *out = malloc(len + 2);
    size_t n = 0;
    const char *p = in;

    if (!out)
        return -ENOMEM;
    while (*p) {
        const char *s;
        size_t l;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        s = p;
        while (*p && *p != '/')
            p++;
        l = (size_t)(p - s);
        if (l == 1 && s[0] == '.')
            continue;
        if (l == 2 && s[0] == '.' && s[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, s, l);
        n += l;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    *ret = out;
    return 0;
}

static int parse_port_num(const char *s, size_t n, unsigned *ret)
{
    unsigned v = 0;

    if (n == 0 || n > 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int add_exposed(struct cfg *c, const char *spec, struct err *err)
{
    const char *slash = strchr(spec, '/');
    size_t plen = slash ? (size_t)(slash - spec) : strlen(spec);
    const char *proto = slash ? slash + 1 : "tcp";
    const char *dash = memchr(spec, '-', plen);
    unsigned lo;
    unsigned hi;
    char key[32];

    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
        return err_set(err, -EINVAL, "invalid proto: %s", proto);
    if (dash) {
        if (parse_port_num(spec, (size_t)(dash - spec), &lo) < 0 ||
            parse_port_num(dash + 1, plen - (size_t)(dash - spec) - 1, &hi) < 0 || hi < lo)
            return err_set(err, -EINVAL, "invalid containerPort: %.*s", (int)plen, spec);
    } else {
        if (parse_port_num(spec, plen, &lo) < 0)
            return err_set(err, -EINVAL, "invalid containerPort: %.*s", (int)plen, spec);
        hi = lo;
    }
    if (!c->exposed && !(c->exposed = json_object()))
        return err_set(err, -ENOMEM, "out of memory");
    for (unsigned p = lo; p <= hi; p++) {
        (void)snprintf(key, sizeof(key), "%u/%s", p, proto);
        if (json_object_set_new(c->exposed, key, json_object()) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int set_string(char **dst, const char *instr, const char *args, struct err *err)
{
    char *v = strdup_trim(args);

    if (!v)
        return err_set(err, -ENOMEM, "out of memory");
    if (!*v) {
        free(v);
        return err_set(err, -EINVAL, "%s requires exactly one argument", instr);
    }
    free(*dst);
    *dst = v;
    return 0;
}

static int apply_change(struct cfg *c, const char *line, struct err *err)
{
    char instr[32];
    const char *p = skip_ws(line);
    const char *args;
    size_t n = 0;
    int r;

    while (p[n] && !isspace((unsigned char)p[n]))
        n++;
    if (n == 0)
        return err_set(err, -EINVAL, "empty change command");
    if (n >= sizeof(instr))
        return err_set(err, -EINVAL, "%.*s is not a valid change command", (int)n, p);
    for (size_t i = 0; i < n; i++)
        instr[i] = (char)toupper((unsigned char)p[i]);
    instr[n] = '\0';
    args = skip_ws(p + n);

    if (strcmp(instr, "CMD") == 0 || strcmp(instr, "ENTRYPOINT") == 0) {
        json_t **dst = instr[0] == 'C' ? &c->cmd : &c->entrypoint;
        json_t *v = parse_command(args);
        if (!v)
            return err_set(err, -ENOMEM, "out of memory");
        json_decref(*dst);
        *dst = v;
        return 0;
    }
    if (strcmp(instr, "ENV") == 0 || strcmp(instr, "LABEL") == 0) {
        CLEANUP(json_decrefp) json_t *pairs = NULL;
        size_t i;
        json_t *pair;

        r = parse_name_vals(instr, args, &pairs, err);
        if (r < 0)
            return r;
        json_array_foreach(pairs, i, pair)
        {
            const char *k = json_string_value(json_array_get(pair, 0));
            const char *v = json_string_value(json_array_get(pair, 1));
            if (instr[0] == 'L') {
                if (!c->labels && !(c->labels = json_object()))
                    return err_set(err, -ENOMEM, "out of memory");
                if (json_object_set_new(c->labels, k, json_string(v)) < 0)
                    return err_set(err, -ENOMEM, "out of memory");
            } else {
                size_t j;
                json_t *old;
                size_t klen = strlen(k);
                bool replaced = false;
                json_t *kv = json_sprintf("%s=%s", k, v);

                if (!kv)
                    return err_set(err, -ENOMEM, "out of memory");
                if (!c->env && !(c->env = json_array())) {
                    json_decref(kv);
                    return err_set(err, -ENOMEM, "out of memory");
                }
                /* a second ENV of the same name replaces the first, in place */
                json_array_foreach(c->env, j, old)
                {
                    const char *o = json_string_value(old);
                    if (strncmp(o, k, klen) == 0 && o[klen] == '=') {
                        (void)json_array_set(c->env, j, kv);
                        replaced = true;
                        break;
                    }
                }
                if (!replaced && json_array_append(c->env, kv) < 0) {
                    json_decref(kv);
                    return err_set(err, -ENOMEM, "out of memory");
                }
                json_decref(kv);
            }
        }
        return 0;
    }
    if (strcmp(instr, "EXPOSE") == 0) {
        CLEANUP(json_decrefp) json_t *words = NULL;
        size_t i;
        json_t *w;

        if (!*args)
            return err_set(err, -EINVAL, "EXPOSE requires at least one argument");
        if (split_words(args, &words) < 0)
            return err_set(err, -EINVAL, "EXPOSE: unterminated quote");
        json_array_foreach(words, i, w)
        {
            r = add_exposed(c, json_string_value(w), err);
            if (r < 0)
                return r;
        }
        return 0;
    }
    if (strcmp(instr, "VOLUME") == 0) {
        CLEANUP(json_decrefp) json_t *list = parse_json_array(args);
        size_t i;
        json_t *v;

        if (!list && split_words(args, &list) < 0)
            return err_set(err, -EINVAL, "VOLUME: unterminated quote");
        if (json_array_size(list) == 0)
            return err_set(err, -EINVAL, "VOLUME requires at least one argument");
        if (!c->volumes && !(c->volumes = json_object()))
            return err_set(err, -ENOMEM, "out of memory");
        json_array_foreach(list, i, v)
        {
            const char *s = json_string_value(v);
            if (!*s)
                return err_set(err, -EINVAL, "VOLUME specified can not be an empty string");
            if (json_object_set_new(c->volumes, s, json_object()) < 0)
                return err_set(err, -ENOMEM, "out of memory");
        }
        return 0;
    }
    if (strcmp(instr, "ONBUILD") == 0) {
        cleanup_free char *v = strdup_trim(args);
        if (!v)
            return err_set(err, -ENOMEM, "out of memory");
        if (!*v)
            return err_set(err, -EINVAL, "ONBUILD requires at least one argument");
        if (!c->onbuild && !(c->onbuild = json_array()))
            return err_set(err, -ENOMEM, "out of memory");
        return json_array_append_new(c->onbuild, json_string(v)) < 0
                   ? err_set(err, -ENOMEM, "out of memory")
                   : 0;
    }
    if (strcmp(instr, "USER") == 0)
        return set_string(&c->user, instr, args, err);
    if (strcmp(instr, "STOPSIGNAL") == 0)
        return set_string(&c->stopsignal, instr, args, err);
    if (strcmp(instr, "WORKDIR") == 0) {
        cleanup_free char *dir = NULL;
        cleanup_free char *joined = NULL;
        char *clean = NULL;

        r = set_string(&dir, instr, args, err);
        if (r < 0)
            return r;
        if (!dir)
            return err_set(err, -EINVAL, "WORKDIR needs a path");
        /* relative to the previous WORKDIR, always absolute */
        if (asprintf(&joined, "%s/%s", dir[0] == '/' ? "" : (c->workdir ? c->workdir : ""), dir) <
            0) {
            joined = NULL;
            return err_set(err, -ENOMEM, "out of memory");
        }
        if (clean_abs(joined, &clean) < 0)
            return err_set(err, -ENOMEM, "out of memory");
        free(c->workdir);
        c->workdir = clean;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        instr[i] = (char)tolower((unsigned char)instr[i]);
    return err_set(err, -EINVAL, "%s is not a valid change command", instr);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go marshals maps with sorted keys: rebuild an object in key order. */
static json_t *sorted_object(json_t *obj)
{
    size_t n = json_object_size(obj);
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    const char *k;
    json_t *v;
    json_t *out;
    size_t i = 0;

    if (!keys)
        return NULL;
    json_object_foreach(obj, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    out = json_object();
    for (i = 0; out && i < n; i++) {
        if (json_object_set(out, keys[i], json_object_get(obj, keys[i])) < 0) {
            json_decref(out);
            out = NULL;
        }
    }
    free(keys);
    return out;
}

static json_t *or_null(json_t *j)
{
    return j ? json_incref(j) : json_null();
}

static json_t *sorted_or_null(json_t *j)
{
    return j ? sorted_object(j) : json_null();
}

/* Go's ContainerConfig, field order and omitempty as Docker marshals it. */
static json_t *container_config(const struct cfg *c)
{
    json_t *o = json_object();
    json_t *v;

    if (!o)
        return NULL;
#define SET(k, val)                                                                                \
    do {                                                                                           \
        v = (val);                                                                                 \
        if (!v || json_object_set_new(o, (k), v) < 0)                                              \
            goto fail;                                                                             \
    } while (0)
    SET("Hostname", json_string(""));
    SET("Domainname", json_string(""));
    SET("User", json_string(c->user ? c->user : ""));
    SET("AttachStdin", json_false());
    SET("AttachStdout", json_false());
    SET("AttachStderr", json_false());
    if (c->exposed)
        SET("ExposedPorts", sorted_object(c->exposed));
    SET("Tty", json_false());
    SET("OpenStdin", json_false());
    SET("StdinOnce", json_false());
    SET("Env", or_null(c->env));
    SET("Cmd", or_null(c->cmd));
    SET("Image", json_string(""));
    SET("Volumes", sorted_or_null(c->volumes));
    SET("WorkingDir", json_string(c->workdir ? c->workdir : ""));
    SET("Entrypoint", or_null(c->entrypoint));
    SET("OnBuild", or_null(c->onbuild));
    SET("Labels", sorted_or_null(c->labels));
    if (c->stopsignal)
        SET("StopSignal", json_string(c->stopsignal));
#undef SET
    return o;
fail:
    json_decref(o);
    return NULL;
}

static const char *go_arch(void)
{
    static const struct {
        const char *machine;
        const char *goarch;
    } map[] = {
        {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"armv7l", "arm"},
        {"armv6l", "arm"},      {"i686", "386"},      {"i386", "386"},
        {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"},
    };
    struct utsname u;

    if (uname(&u) == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
            if (strcmp(u.machine, map[i].machine) == 0)
                return map[i].goarch;
        }
    }
    return "amd64";
}

/* RFC 3339 as Go's RFC3339Nano: trailing zeros of the fraction dropped. */
static void go_time(int64_t ns, char out[40])
{
    size_t n;

    time_fmt_rfc3339(ns, out);
    n = strlen(out);
    if (n < 2 || !strchr(out, '.'))
        return;
    n--; /* at 'Z' */
    while (out[n - 1] == '0')
        n--;
    if (out[n - 1] == '.')
        n--;
    out[n] = 'Z';
    out[n + 1] = '\0';
}

int rt__image_config_import(const char *const *changes, size_t n_changes, const char *message,
                            const char *diff_id, int64_t created_ns, char **ret_json,
                            struct err *err)
{
    struct cfg c = {0};
    struct cfg empty = {0};
    CLEANUP(json_decrefp) json_t *doc = NULL;
    json_t *config = NULL;
    json_t *cconfig = NULL;
    char created[40];
    const char *comment = message && *message ? message : "Imported from -";
    char *out;
    int r = 0;

    for (size_t i = 0; i < n_changes; i++) {
        if (!changes[i])
            continue;
        r = apply_change(&c, changes[i], err);
        if (r < 0)
            goto out;
    }
    go_time(created_ns, created);
    config = container_config(&c);
    cconfig = container_config(&empty);
    if (!config || !cconfig) {
        json_decref(config);
        json_decref(cconfig);
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    doc =
        json_pack("{s:s, s:s, s:o, s:o, s:s, s:[{s:s, s:s}], s:s, s:{s:s, s:[s]}}", "architecture",
                  go_arch(), "comment", comment, "config", config, "container_config", cconfig,
                  "created", created, "history", "created", created, "comment", comment, "os",
                  "linux", "rootfs", "type", "layers", "diff_ids", diff_id);
    if (!doc) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    out = json_dumps(doc, JSON_COMPACT);
    if (!out) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    *ret_json = out;
out:
    cfg_release(&c);
    return r;
}
