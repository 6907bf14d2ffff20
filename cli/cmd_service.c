/*
 * cli/cmd_service.c - `shoal service create|ls|ps|inspect|scale|update|
 * rollback|rm|logs`.
 *
 * Requests, flags, output text and exit codes follow the docker CLI (28.x)
 * against the Engine API v1.41 (/services, /tasks, /nodes, /networks,
 * /distribution). Without --detach, create/update/scale/rollback poll the
 * service every 200 ms (GET /services/ID, GET /tasks with the _up-to-date
 * filter, GET /nodes) and draw docker's progress display; on a stdout that is
 * not a terminal, a line is printed only when its text changes.
 *
 * The pure parts (flags -> ServiceSpec, update rules, the task table, the
 * service table, `inspect --pretty`, one progress round) are exported
 * through cli.h for tests/unit/test_cli_service.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"

#include "cli/cli.h"

#define SVC_END_FLAGS                                                                              \
    {                                                                                              \
        .name = NULL                                                                               \
    }
#define SVC_NS_PER_S        1000000000LL
#define SVC_POLL_MS         200
#define SVC_MAX_BARS        20
#define SVC_LONGEST_STATE   9 /* strlen("preparing") */
#define SVC_MAX_ERR_LEN     30
#define SVC_DEFAULT_MONITOR (5 * SVC_NS_PER_S)

static int oom(void)
{
    fprintf(stderr, "shoal: out of memory\n");
    return 1;
}

static int fail(struct cli_ctx *ctx, const struct err *err)
{
    cli_print_err(ctx, err);
    return 1;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key)) ?: "";
}

static json_t *jpath(json_t *v, const char *a, const char *b, const char *c)
{
    v = json_object_get(v, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return v;
}

/* The object (or array) member key of obj, created (or replaced when of
 * another type). */
static json_t *jmember(json_t *obj, const char *key, bool array)
{
    json_t *v = json_object_get(obj, key);

    if (array ? json_is_array(v) : json_is_object(v))
        return v;
    v = array ? json_array() : json_object();
    if (!v || json_object_set_new(obj, key, v) < 0)
        return NULL;
    return v;
}

static json_t *jsub(json_t *obj, const char *key)
{
    return jmember(obj, key, false);
}

static json_t *jarr(json_t *obj, const char *key)
{
    return jmember(obj, key, true);
}

static int64_t jint(json_t *obj, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(obj, key));
}

static double jnum(json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

/* A float the way Go marshals it: integral values without a fraction. */
static json_t *json_go_number(double v)
{
    if (v > -9e15 && v < 9e15 && v == (double)(json_int_t)v)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* ---- small parsers and formatters ----------------------------------------- */

void cli_go_duration_string(int64_t ns, char *out, size_t outlen)
{
    uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
    const char *sign = ns < 0 ? "-" : "";
    char frac[16] = "";
    uint64_t whole, rest, unit;
    const char *uname;

    if (u == 0) {
        (void)snprintf(out, outlen, "0s");
        return;
    }
    if (u < 1000) {
        (void)snprintf(out, outlen, "%s%" PRIu64 "ns", sign, u);
        return;
    }
    if (u < (uint64_t)SVC_NS_PER_S) {
        unit = u < 1000000 ? 1000 : 1000000;
        uname = u < 1000000 ? "\xc2\xb5s" : "ms";
    } else {
        unit = (uint64_t)SVC_NS_PER_S;
        uname = "s";
    }
    {
        uint64_t secs_part = unit == (uint64_t)SVC_NS_PER_S ? u % (60 * unit) : u;
        int digits = unit == 1000 ? 3 : unit == 1000000 ? 6 : 9;

        whole = secs_part / unit;
        rest = secs_part % unit;
        if (rest) {
            int n = snprintf(frac, sizeof(frac), ".%0*" PRIu64, digits, rest);

            while (n > 1 && frac[n - 1] == '0')
                frac[--n] = '\0';
        }
    }
    if (unit != (uint64_t)SVC_NS_PER_S) {
        (void)snprintf(out, outlen, "%s%" PRIu64 "%s%s", sign, whole, frac, uname);
        return;
    }
    {
        uint64_t mins = u / (60 * unit), hours = mins / 60;

        if (hours)
            (void)snprintf(out, outlen, "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign, hours,
                           mins % 60, whole, frac);
        else if (mins)
            (void)snprintf(out, outlen, "%s%" PRIu64 "m%" PRIu64 "%ss", sign, mins, whole, frac);
        else
            (void)snprintf(out, outlen, "%s%" PRIu64 "%ss", sign, whole, frac);
    }
}

static int parse_u64_flag(const char *s, uint64_t *ret)
{
    return s && *s && *s != '-' ? parse_u64(s, ret) : -EINVAL;
}

static int bad_flag(struct err *err, const char *value, const char *flag, const char *why)
{
    return err_set(err, -EINVAL, "invalid argument \"%s\" for \"--%s\" flag: %s", value, flag, why);
}

/* A duration flag's value (when given) as obj[key] in nanoseconds. */
static int set_dur(json_t *obj, const char *key, const char *s, const char *flag, struct err *err)
{
    int64_t ns;

    if (!s)
        return 0;
    if (cli_go_duration_parse(s, &ns) < 0)
        return bad_flag(err, s, flag, "time: invalid duration");
    json_object_set_new(obj, key, json_integer(ns));
    return 0;
}

void cli_svc_image_display(const char *image, char *out, size_t outlen)
{
    const char *at = strchr(image, '@');
    const char *name = image;
    size_t len = at ? (size_t)(at - image) : strlen(image);
    const char *slash, *colon;

    /* a digest is cut only when a tag remains (docker: NamedTagged) */
    slash = memrchr(image, '/', len);
    colon = memrchr(slash ? slash : image, ':', len - (size_t)((slash ? slash : image) - image));
    if (at && !colon)
        len = strlen(image);
    if (len > 18 && strncmp(name, "docker.io/library/", 18) == 0) {
        name += 18;
        len -= 18;
    } else if (len > 10 && strncmp(name, "docker.io/", 10) == 0) {
        name += 10;
        len -= 10;
    }
    (void)snprintf(out, outlen, "%.*s", (int)len, name);
}

/* fvbommel/sortorder.NaturalLess: digit runs compare as numbers. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *a0 = a, *b0 = b;
            size_t la, lb;

            while (*a0 == '0' && isdigit((unsigned char)a0[1]))
                a0++;
            while (*b0 == '0' && isdigit((unsigned char)b0[1]))
                b0++;
            a = a0;
            b = b0;
            while (isdigit((unsigned char)*a))
                a++;
            while (isdigit((unsigned char)*b))
                b++;
            la = (size_t)(a - a0);
            lb = (size_t)(b - b0);
            if (la != lb)
                return la < lb ? -1 : 1;
            if (memcmp(a0, b0, la) != 0)
                return memcmp(a0, b0, la) < 0 ? -1 : 1;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* "K=V" -> key length (the whole string without '='). */
static size_t kv_keylen(const char *kv)
{
    const char *eq = strchr(kv, '=');

    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* docker's opts.ValidateEnv: "K" alone takes the value from our environment. */
static json_t *env_entry(const char *e, struct err *err)
{
    const char *v;
    char *kv;
    json_t *j;

    if (!*e || e[0] == '=') {
        (void)err_set(err, -EINVAL, "invalid environment variable: %s", e);
        return NULL;
    }
    if (strchr(e, '=') || !(v = getenv(e)))
        return json_string(e);
    if (asprintf(&kv, "%s=%s", e, v) < 0)
        return NULL;
    j = json_string(kv);
    free(kv);
    return j;
}

/* Append or replace (same key) env entry e in the Env array. */
static int env_set(json_t *env, const char *e, struct err *err)
{
    json_t *v = env_entry(e, err), *cur;
    const char *s;
    size_t i, kl;

    if (!v)
        return err->code ? err->code : err_set(err, -ENOMEM, "out of memory");
    s = json_string_value(v);
    kl = kv_keylen(s);
    CLI_JSON_ARRAY_EACH(env, i, cur)
    {
        const char *c = json_string_value(cur) ?: "";

        if (kv_keylen(c) == kl && strncmp(c, s, kl) == 0)
            return json_array_set_new(env, i, v) < 0 ? err_set(err, -ENOMEM, "out of memory") : 0;
    }
    return json_array_append_new(env, v) < 0 ? err_set(err, -ENOMEM, "out of memory") : 0;
}

static int labels_add(json_t *labels, const struct cli_strv *kvs, struct err *err)
{
    for (size_t i = 0; i < kvs->n; i++) {
        const char *kv = kvs->v[i];
        size_t kl = kv_keylen(kv);
        cleanup_free char *key = strndup(kv, kl);

        if (!key)
            return err_set(err, -ENOMEM, "out of memory");
        if (!*key)
            return err_set(err, -EINVAL, "invalid label '%s': empty name", kv);
        if (json_object_set_new(labels, key, json_string(kv[kl] ? kv + kl + 1 : "")) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* Go strings.Fields-like split honouring simple quotes (--entrypoint). */
static json_t *shell_words(const char *s)
{
    json_t *a = json_array();
    struct buf w;
    bool in_word = false;
    char q = 0;

    if (!a)
        return NULL;
    buf_init(&w);
    for (const char *p = s;; p++) {
        if (*p == '\0' || (!q && isspace((unsigned char)*p))) {
            if (in_word)
                json_array_append_new(a, json_string(w.data ? w.data : ""));
            in_word = false;
            w.len = 0;
            if (w.data)
                w.data[0] = '\0';
            if (!*p)
                break;
            continue;
        }
        in_word = true;
        if (q && *p == q) {
            q = 0;
            continue;
        }
        if (!q && (*p == '"' || *p == '\'')) {
            q = *p;
            continue;
        }
        if (*p == '\\' && p[1] && q != '\'')
            p++;
        if (buf_append(&w, p, 1) < 0)
            break;
    }
    buf_release(&w);
    return a;
}

/* ---- --publish and --mount ------------------------------------------------------- */

static int parse_port_num(const char *s, size_t len, long *lo, long *hi)
{
    char tmp[32], *end;
    const char *dash;

    if (len == 0 || len >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    *lo = strtol(tmp, &end, 10);
    if (errno || end == tmp || *lo < 0 || *lo > 65535)
        return -EINVAL;
    *hi = *lo;
    if (*end == '-') {
        dash = end + 1;
        *hi = strtol(dash, &end, 10);
        if (errno || end == dash || *hi < *lo || *hi > 65535)
            return -EINVAL;
    }
    return *end ? -EINVAL : 0;
}

static json_t *port_config(const char *proto, long target, long published, const char *mode)
{
    return json_pack("{s:s, s:I, s:I, s:s}", "Protocol", proto, "TargetPort", (json_int_t)target,
                     "PublishedPort", (json_int_t)published, "PublishMode", mode);
}

int cli_svc_parse_publish(const char *s, json_t *ports, struct err *err)
{
    if (strchr(s, '=')) {
        cleanup_free char *copy = strdup(s);
        const char *proto = "tcp", *mode = "ingress";
        long target = -1, published = 0, hi;
        char *save = NULL, *f;

        if (!copy)
            return err_set(err, -ENOMEM, "out of memory");
        for (f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            char *v = strchr(f, '=');

            if (!v)
                return err_set(err, -EINVAL, "invalid field %s", f);
            *v++ = '\0';
            if (strcmp(f, "mode") == 0) {
                if (strcmp(v, "ingress") != 0 && strcmp(v, "host") != 0)
                    return err_set(err, -EINVAL,
                                   "invalid publish mode value (%s): must be either "
                                   "'ingress' or 'host'",
                                   v);
                mode = v;
            } else if (strcmp(f, "target") == 0) {
                if (parse_port_num(v, strlen(v), &target, &hi) < 0 || hi != target)
                    return err_set(err, -EINVAL,
                                   "invalid target port (%s): value must be an "
                                   "integer",
                                   v);
            } else if (strcmp(f, "published") == 0) {
                if (parse_port_num(v, strlen(v), &published, &hi) < 0 || hi != published)
                    return err_set(err, -EINVAL,
                                   "invalid published port (%s): value must be an "
                                   "integer",
                                   v);
            } else if (strcmp(f, "protocol") == 0) {
                if (strcmp(v, "tcp") != 0 && strcmp(v, "udp") != 0 && strcmp(v, "sctp") != 0)
                    return err_set(err, -EINVAL, "invalid protocol value '%s'", v);
                proto = v;
            } else {
                return err_set(err, -EINVAL, "invalid field key %s", f);
            }
        }
        if (target < 0)
            return err_set(err, -EINVAL, "missing mandatory field \"target\"");
        if (json_array_append_new(ports, port_config(proto, target, published, mode)) < 0)
            return err_set(err, -ENOMEM, "out of memory");
        return 0;
    }
    {
        const char *slash = strchr(s, '/'), *proto = "tcp";
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        const char *colon = memchr(s, ':', len);
        long plo = 0, phi = 0, tlo, thi;

        if (slash) {
            proto = slash + 1;
            if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 &&
                strcmp(proto, "sctp") != 0)
                return err_set(err, -EINVAL, "invalid proto: %s", proto);
        }
        if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
            return err_set(err, -EINVAL, "hostip is not supported");
        if (colon) {
            if (colon > s && parse_port_num(s, (size_t)(colon - s), &plo, &phi) < 0)
                return err_set(err, -EINVAL, "invalid hostPort: %.*s", (int)(colon - s), s);
            if (parse_port_num(colon + 1, len - (size_t)(colon + 1 - s), &tlo, &thi) < 0)
                return err_set(err, -EINVAL, "invalid containerPort: %.*s",
                               (int)(len - (size_t)(colon + 1 - s)), colon + 1);
        } else if (parse_port_num(s, len, &tlo, &thi) < 0) {
            return err_set(err, -EINVAL, "invalid containerPort: %.*s", (int)len, s);
        }
        if (plo && phi - plo != thi - tlo)
            return err_set(err, -EINVAL,
                           "invalid ranges specified for container and host Ports: "
                           "%.*s",
                           (int)len, s);
        for (long t = tlo; t <= thi; t++)
            if (json_array_append_new(
                    ports, port_config(proto, t, plo ? plo + (t - tlo) : 0, "ingress")) < 0)
                return err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int bool_value(const char *v, bool *ret)
{
    if (!v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *ret = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *ret = false;
        return 0;
    }
    return -EINVAL;
}

int cli_svc_parse_mount(const char *s, json_t **ret, struct err *err)
{
    cleanup_free char *copy = strdup(s);
    const char *type = "volume", *source = NULL, *target = NULL, *propagation = NULL;
    bool readonly = false, ro_set = false, nocopy = false, nocopy_set = false;
    int64_t tmpfs_size = -1;
    long tmpfs_mode = -1;
    char *save = NULL, *f;
    json_t *m;

    *ret = NULL;
    if (!copy)
        return err_set(err, -ENOMEM, "out of memory");
    for (f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char *v = strchr(f, '=');

        if (v)
            *v++ = '\0';
        if (strcmp(f, "readonly") == 0 || strcmp(f, "ro") == 0) {
            if (bool_value(v, &readonly) < 0)
                return err_set(err, -EINVAL, "invalid value for %s: %s", f, v);
            ro_set = true;
            continue;
        }
        if (strcmp(f, "volume-nocopy") == 0) {
            if (bool_value(v, &nocopy) < 0)
                return err_set(err, -EINVAL, "invalid value for volume-nocopy: %s", v);
            nocopy_set = true;
            continue;
        }
        if (!v)
            return err_set(err, -EINVAL, "invalid field '%s' must be a key=value pair", f);
        if (strcmp(f, "type") == 0) {
            if (strcmp(v, "bind") != 0 && strcmp(v, "volume") != 0 && strcmp(v, "tmpfs") != 0)
                return err_set(err, -EINVAL, "invalid mount type '%s'", v);
            type = v;
        } else if (strcmp(f, "source") == 0 || strcmp(f, "src") == 0) {
            source = v;
        } else if (strcmp(f, "target") == 0 || strcmp(f, "dst") == 0 ||
                   strcmp(f, "destination") == 0) {
            target = v;
        } else if (strcmp(f, "bind-propagation") == 0) {
            propagation = v;
        } else if (strcmp(f, "tmpfs-size") == 0) {
            if (parse_size(v, &tmpfs_size) < 0)
                return err_set(err, -EINVAL, "invalid value for %s: %s", f, v);
        } else if (strcmp(f, "tmpfs-mode") == 0) {
            char *end;

            errno = 0;
            tmpfs_mode = strtol(v, &end, 8);
            if (errno || *end || tmpfs_mode < 0)
                return err_set(err, -EINVAL, "invalid value for %s: %s", f, v);
        } else {
            return err_set(err, -EINVAL, "unexpected key '%s' in '%s'", f, s);
        }
    }
    if (!target || !*target)
        return err_set(err, -EINVAL, "target is required");
    if (strcmp(type, "bind") == 0 && (!source || !*source))
        return err_set(err, -EINVAL, "source is required when specifying bind mounts");
    if (strcmp(type, "tmpfs") == 0 && source && *source)
        return err_set(err, -EINVAL, "source must not be specified for tmpfs mounts");
    m = json_pack("{s:s}", "Type", type);
    if (!m)
        return err_set(err, -ENOMEM, "out of memory");
    if (source)
        json_object_set_new(m, "Source", json_string(source));
    json_object_set_new(m, "Target", json_string(target));
    if (ro_set && readonly)
        json_object_set_new(m, "ReadOnly", json_true());
    if (propagation && strcmp(type, "bind") == 0)
        json_object_set_new(m, "BindOptions", json_pack("{s:s}", "Propagation", propagation));
    if (nocopy_set && strcmp(type, "volume") == 0)
        json_object_set_new(m, "VolumeOptions", json_pack("{s:b}", "NoCopy", nocopy));
    if (strcmp(type, "tmpfs") == 0 && (tmpfs_size >= 0 || tmpfs_mode >= 0)) {
        json_t *t = json_object();

        if (tmpfs_size >= 0)
            json_object_set_new(t, "SizeBytes", json_integer(tmpfs_size));
        if (tmpfs_mode >= 0)
            json_object_set_new(t, "Mode", json_integer(tmpfs_mode));
        json_object_set_new(m, "TmpfsOptions", t);
    }
    *ret = m;
    return 0;
}

/* ---- flags -> spec ------------------------------------------------------------- */

/* Update/RollbackConfig from flags, starting at cfg (defaults when NULL). */
static int apply_cfg_flags(json_t *parent, const char *key, const struct cli_svc_cfg_flags *f,
                           bool rollback, struct err *err)
{
    const char *pfx = rollback ? "rollback" : "update";
    json_t *cfg = json_object_get(parent, key);
    char flag[64];
    uint64_t u;
    int r;

    if (!f->parallelism && !f->delay && !f->failure_action && !f->monitor &&
        !f->max_failure_ratio && !f->order)
        return 0;
    if (!json_is_object(cfg)) {
        cfg = json_pack("{s:i, s:i, s:s, s:I, s:i, s:s}", "Parallelism", 1, "Delay", 0,
                        "FailureAction", "pause", "Monitor", (json_int_t)SVC_DEFAULT_MONITOR,
                        "MaxFailureRatio", 0, "Order", "stop-first");
        if (!cfg || json_object_set_new(parent, key, cfg) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    if (f->parallelism) {
        (void)snprintf(flag, sizeof(flag), "%s-parallelism", pfx);
        if (parse_u64_flag(f->parallelism, &u) < 0)
            return bad_flag(err, f->parallelism, flag, "strconv.ParseUint: parsing failed");
        json_object_set_new(cfg, "Parallelism", json_integer((json_int_t)u));
    }
    (void)snprintf(flag, sizeof(flag), "%s-delay", pfx);
    if ((r = set_dur(cfg, "Delay", f->delay, flag, err)) < 0)
        return r;
    (void)snprintf(flag, sizeof(flag), "%s-monitor", pfx);
    if ((r = set_dur(cfg, "Monitor", f->monitor, flag, err)) < 0)
        return r;
    if (f->failure_action) {
        const char *a = f->failure_action;

        if (strcmp(a, "pause") != 0 && strcmp(a, "continue") != 0 &&
            (rollback || strcmp(a, "rollback") != 0))
            return err_set(err, -EINVAL, "invalid %s failure action '%s': must be %s", pfx, a,
                           rollback ? "\"pause\" or \"continue\""
                                    : "\"pause\", \"continue\" or \"rollback\"");
        json_object_set_new(cfg, "FailureAction", json_string(a));
    }
    if (f->max_failure_ratio) {
        char *end;
        double v;

        errno = 0;
        v = strtod(f->max_failure_ratio, &end);
        (void)snprintf(flag, sizeof(flag), "%s-max-failure-ratio", pfx);
        if (errno || end == f->max_failure_ratio || *end || v < 0 || v > 1)
            return bad_flag(err, f->max_failure_ratio, flag,
                            "value must be a number between 0 and 1");
        json_object_set_new(cfg, "MaxFailureRatio", json_go_number(v));
    }
    if (f->order) {
        if (strcmp(f->order, "start-first") != 0 && strcmp(f->order, "stop-first") != 0)
            return err_set(err, -EINVAL,
                           "invalid %s order '%s': must be \"start-first\" or "
                           "\"stop-first\"",
                           pfx, f->order);
        json_object_set_new(cfg, "Order", json_string(f->order));
    }
    return 0;
}

static int apply_restart(json_t *tt, const struct cli_svc_opts *o, struct err *err)
{
    json_t *rp;
    uint64_t u;
    int r;

    if (!o->restart_condition && !o->restart_delay && !o->restart_max_attempts &&
        !o->restart_window)
        return 0;
    rp = json_object_get(tt, "RestartPolicy");
    if (!json_is_object(rp)) {
        rp = json_pack("{s:s, s:I, s:i}", "Condition", "any", "Delay",
                       (json_int_t)(5 * SVC_NS_PER_S), "MaxAttempts", 0);
        if (!rp || json_object_set_new(tt, "RestartPolicy", rp) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    if (o->restart_condition) {
        const char *c = o->restart_condition;

        if (strcmp(c, "none") != 0 && strcmp(c, "on-failure") != 0 && strcmp(c, "any") != 0)
            return err_set(err, -EINVAL, "invalid RestartCondition: %s", c);
        json_object_set_new(rp, "Condition", json_string(c));
    }
    if ((r = set_dur(rp, "Delay", o->restart_delay, "restart-delay", err)) < 0)
        return r;
    if (o->restart_max_attempts) {
        if (parse_u64_flag(o->restart_max_attempts, &u) < 0)
            return bad_flag(err, o->restart_max_attempts, "restart-max-attempts",
                            "strconv.ParseUint: parsing failed");
        json_object_set_new(rp, "MaxAttempts", json_integer((json_int_t)u));
    }
    if ((r = set_dur(rp, "Window", o->restart_window, "restart-window", err)) < 0)
        return r;
    return 0;
}

static int apply_resources(json_t *tt, const struct cli_svc_opts *o, struct err *err)
{
    json_t *res = jsub(tt, "Resources"), *lim, *resv;
    const struct {
        const char *value, *flag;
        bool cpus, limit;
    } fields[] = {
        {o->limit_cpu, "limit-cpu", true, true},
        {o->limit_memory, "limit-memory", false, true},
        {o->reserve_cpu, "reserve-cpu", true, false},
        {o->reserve_memory, "reserve-memory", false, false},
    };

    if (!res || !(lim = jsub(res, "Limits")) || !(resv = jsub(res, "Reservations")))
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *s = fields[i].value;
        int64_t v;

        if (!s)
            continue;
        if ((fields[i].cpus ? cli_parse_nano_cpus(s, &v) : parse_size(s, &v)) < 0)
            return bad_flag(err, s, fields[i].flag,
                            fields[i].cpus ? "invalid number of CPUs" : "invalid size");
        json_object_set_new(fields[i].limit ? lim : resv,
                            fields[i].cpus ? "NanoCPUs" : "MemoryBytes", json_integer(v));
    }
    return 0;
}

static int health_apply(json_t *cs, const struct cli_svc_opts *o, struct err *err)
{
    bool any = o->health_cmd || o->health_interval || o->health_timeout || o->health_start_period ||
               o->health_retries;
    json_t *h;
    int r;

    if (o->no_healthcheck) {
        if (any)
            return err_set(err, -EINVAL, "--no-healthcheck conflicts with --health-* options");
        json_object_set_new(cs, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
        return 0;
    }
    if (!any)
        return 0;
    h = jsub(cs, "Healthcheck");
    if (!h)
        return err_set(err, -ENOMEM, "out of memory");
    if (o->health_cmd)
        json_object_set_new(h, "Test", json_pack("[s, s]", "CMD-SHELL", o->health_cmd));
    if ((r = set_dur(h, "Interval", o->health_interval, "health-interval", err)) < 0)
        return r;
    if ((r = set_dur(h, "Timeout", o->health_timeout, "health-timeout", err)) < 0)
        return r;
    if ((r = set_dur(h, "StartPeriod", o->health_start_period, "health-start-period", err)) < 0)
        return r;
    if (o->health_retries) {
        int64_t n;

        if (parse_i64(o->health_retries, &n) < 0 || n < 0)
            return bad_flag(err, o->health_retries, "health-retries",
                            "must be a non-negative integer");
        json_object_set_new(h, "Retries", json_integer(n));
    }
    return 0;
}

static int placement_pref(const char *s, json_t **ret, struct err *err)
{
    const char *eq = strchr(s, '=');

    if (!eq)
        return err_set(err, -EINVAL,
                       "placement preference must be of the format "
                       "\"<strategy>=<arg>\"");
    if ((size_t)(eq - s) != 6 || strncmp(s, "spread", 6) != 0)
        return err_set(err, -EINVAL,
                       "unsupported placement preference %.*s (only spread is "
                       "supported)",
                       (int)(eq - s), s);
    *ret = json_pack("{s:{s:s}}", "Spread", "SpreadDescriptor", eq + 1);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int apply_common(json_t *spec, const struct cli_svc_opts *o, struct err *err)
{
    json_t *tt = jsub(spec, "TaskTemplate"), *cs = tt ? jsub(tt, "ContainerSpec") : NULL;
    int r;

    if (!cs)
        return err_set(err, -ENOMEM, "out of memory");
    if (o->workdir)
        json_object_set_new(cs, "Dir", json_string(o->workdir));
    if (o->user)
        json_object_set_new(cs, "User", json_string(o->user));
    if (o->hostname)
        json_object_set_new(cs, "Hostname", json_string(o->hostname));
    if (o->stop_signal)
        json_object_set_new(cs, "StopSignal", json_string(o->stop_signal));
    if (o->entrypoint) {
        json_t *w = shell_words(o->entrypoint);

        if (!w)
            return err_set(err, -ENOMEM, "out of memory");
        json_object_set_new(cs, "Command", w);
    }
    if (o->tty_set)
        json_object_set_new(cs, "TTY", json_boolean(o->tty));
    if (o->read_only_set)
        json_object_set_new(cs, "ReadOnly", json_boolean(o->read_only));
    if (o->init_set)
        json_object_set_new(cs, "Init", json_boolean(o->init));
    if ((r = set_dur(cs, "StopGracePeriod", o->stop_grace, "stop-grace-period", err)) < 0)
        return r;
    if ((r = health_apply(cs, o, err)) < 0)
        return r;
    if ((r = apply_resources(tt, o, err)) < 0)
        return r;
    if ((r = apply_restart(tt, o, err)) < 0)
        return r;
    if (o->max_per_node) {
        uint64_t u;

        if (parse_u64_flag(o->max_per_node, &u) < 0)
            return bad_flag(err, o->max_per_node, "replicas-max-per-node",
                            "strconv.ParseUint: parsing failed");
        if (!json_object_get(json_object_get(spec, "Mode"), "Replicated"))
            return err_set(err, -EINVAL,
                           "replicas-max-per-node can only be used with "
                           "replicated or replicated-job mode");
        json_object_set_new(jsub(tt, "Placement"), "MaxReplicas", json_integer((json_int_t)u));
    }
    if ((r = apply_cfg_flags(spec, "UpdateConfig", &o->update, false, err)) < 0)
        return r;
    if ((r = apply_cfg_flags(spec, "RollbackConfig", &o->rollback, true, err)) < 0)
        return r;
    if (o->endpoint_mode) {
        if (strcmp(o->endpoint_mode, "vip") != 0 && strcmp(o->endpoint_mode, "dnsrr") != 0)
            return bad_flag(err, o->endpoint_mode, "endpoint-mode", "must be vip or dnsrr");
        json_object_set_new(jsub(spec, "EndpointSpec"), "Mode", json_string(o->endpoint_mode));
    }
    return 0;
}

int cli_svc_spec_from_opts(const struct cli_svc_opts *o, json_t **ret_spec, struct err *err)
{
    json_t *spec = NULL, *tt, *cs, *mode, *ep, *a;
    const char *mname = o->mode ? o->mode : "replicated";
    uint64_t replicas = 0;
    int r;

    *ret_spec = NULL;
    if (!o->image_arg || !*o->image_arg)
        return err_set(err, -EINVAL, "image reference is required");
    if (strcmp(mname, "global") == 0) {
        if (o->replicas)
            return err_set(err, -EINVAL,
                           "replicas can only be used with replicated or replicated-job mode");
        if (o->max_per_node)
            return err_set(err, -EINVAL,
                           "replicas-max-per-node can only be used with "
                           "replicated or replicated-job mode");
        mode = json_pack("{s:{}}", "Global");
    } else if (strcmp(mname, "replicated") == 0) {
        if (o->replicas && parse_u64_flag(o->replicas, &replicas) < 0)
            return bad_flag(err, o->replicas, "replicas", "strconv.ParseUint: parsing failed");
        mode = o->replicas ? json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)replicas)
                           : json_pack("{s:{}}", "Replicated");
    } else {
        return err_set(err, -EINVAL, "Unknown mode: %s, only replicated and global supported",
                       mname);
    }
    spec = json_object();
    if (!spec || !mode) {
        json_decref(mode);
        json_decref(spec);
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (o->name && *o->name)
        json_object_set_new(spec, "Name", json_string(o->name));
    json_object_set_new(spec, "Labels", json_object());
    tt = jsub(spec, "TaskTemplate");
    cs = jsub(tt, "ContainerSpec");
    json_object_set_new(cs, "Image", json_string(o->image_arg));
    if (o->container_labels.n) {
        r = labels_add(jsub(cs, "Labels"), &o->container_labels, err);
        if (r < 0)
            goto fail;
    }
    if (o->nargs) {
        a = json_array();
        for (size_t i = 0; a && i < o->nargs; i++)
            json_array_append_new(a, json_string(o->args[i]));
        json_object_set_new(cs, "Args", a);
    }
    if (o->env.n) {
        a = jarr(cs, "Env");
        for (size_t i = 0; i < o->env.n; i++)
            if ((r = env_set(a, o->env.v[i], err)) < 0)
                goto fail;
    }
    json_object_set_new(cs, "Init", json_boolean(o->init));
    if (o->mounts.n) {
        a = jarr(cs, "Mounts");
        for (size_t i = 0; i < o->mounts.n; i++) {
            json_t *m;

            if ((r = cli_svc_parse_mount(o->mounts.v[i], &m, err)) < 0)
                goto fail;
            json_array_append_new(a, m);
        }
    }
    json_object_set_new(cs, "DNSConfig", json_object());
    json_object_set_new(tt, "Resources", json_pack("{s:{}, s:{}}", "Limits", "Reservations"));
    json_object_set_new(spec, "Mode", mode);
    if ((r = labels_add(json_object_get(spec, "Labels"), &o->labels, err)) < 0)
        goto fail;
    if ((r = apply_common(spec, o, err)) < 0)
        goto fail;
    /* docker's field order: Resources, RestartPolicy, Placement, Networks,
     * LogDriver, ForceUpdate; then Mode, UpdateConfig, RollbackConfig,
     * EndpointSpec */
    {
        json_t *pl = json_object_get(tt, "Placement");

        if (!pl) {
            pl = json_object();
            json_object_set_new(tt, "Placement", pl);
        } else {
            json_incref(pl);
            json_object_del(tt, "Placement");
            json_object_set_new(tt, "Placement", pl);
        }
        if (o->constraints.n) {
            json_t *c = json_array();

            for (size_t i = 0; c && i < o->constraints.n; i++)
                json_array_append_new(c, json_string(o->constraints.v[i]));
            json_object_set_new(pl, "Constraints", c);
        }
        if (o->placement_prefs.n) {
            json_t *p = jarr(pl, "Preferences");

            for (size_t i = 0; i < o->placement_prefs.n; i++) {
                json_t *one = NULL;

                if ((r = placement_pref(o->placement_prefs.v[i], &one, err)) < 0)
                    goto fail;
                json_array_append_new(p, one);
            }
        }
        /* MaxReplicas goes after Preferences */
        if (json_object_get(pl, "MaxReplicas")) {
            json_t *m = json_incref(json_object_get(pl, "MaxReplicas"));

            json_object_del(pl, "MaxReplicas");
            json_object_set_new(pl, "MaxReplicas", m);
        }
    }
    if (o->networks.n) {
        a = jarr(tt, "Networks");
        for (size_t i = 0; i < o->networks.n; i++)
            json_array_append_new(a, json_pack("{s:s}", "Target", o->networks.v[i]));
    }
    json_object_set_new(tt, "ForceUpdate", json_integer(0));
    /* move Mode before UpdateConfig/RollbackConfig, EndpointSpec last */
    {
        static const char *const order[] = {"Mode", "UpdateConfig", "RollbackConfig",
                                            "EndpointSpec"};

        ep = json_object_get(spec, "EndpointSpec");
        if (!ep)
            json_object_set_new(spec, "EndpointSpec", json_pack("{s:s}", "Mode", "vip"));
        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
            json_t *v = json_object_get(spec, order[i]);

            if (!v)
                continue;
            json_incref(v);
            json_object_del(spec, order[i]);
            json_object_set_new(spec, order[i], v);
        }
    }
    if (o->publish.n) {
        ep = jsub(spec, "EndpointSpec");
        a = jarr(ep, "Ports");
        for (size_t i = 0; i < o->publish.n; i++)
            if ((r = cli_svc_parse_publish(o->publish.v[i], a, err)) < 0)
                goto fail;
    }
    *ret_spec = spec;
    return 0;
fail:
    json_decref(spec);
    return r;
}

/* ---- update --------------------------------------------------------------------- */

static bool strv_has(const struct cli_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

/* Remove the entries of arr whose key (per keylen) is in rm. */
static void array_remove_keys(json_t *arr, const struct cli_strv *rm, bool by_key)
{
    for (size_t i = json_array_size(arr); i-- > 0;) {
        const char *s = json_string_value(json_array_get(arr, i)) ?: "";

        for (size_t k = 0; k < rm->n; k++) {
            bool hit = by_key ? (kv_keylen(s) == strlen(rm->v[k]) &&
                                 strncmp(s, rm->v[k], kv_keylen(s)) == 0) ||
                                    strcmp(s, rm->v[k]) == 0
                              : strcmp(s, rm->v[k]) == 0;

            if (hit) {
                json_array_remove(arr, i);
                break;
            }
        }
    }
}

static int cmp_jstr(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a) ?: "",
                  json_string_value(*(json_t *const *)b) ?: "");
}

static void port_key(json_t *p, char *out, size_t outlen)
{
    (void)snprintf(out, outlen, "%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT "/%s/%s",
                   json_integer_value(json_object_get(p, "PublishedPort")),
                   json_integer_value(json_object_get(p, "TargetPort")),
                   *jstr(p, "Protocol") ? jstr(p, "Protocol") : "tcp",
                   *jstr(p, "PublishMode") ? jstr(p, "PublishMode") : "ingress");
}

static int cmp_port(const void *a, const void *b)
{
    char ka[96], kb[96];

    port_key(*(json_t *const *)a, ka, sizeof(ka));
    port_key(*(json_t *const *)b, kb, sizeof(kb));
    return strcmp(ka, kb);
}

/* Sort a JSON array in place with cmp over its elements. */
static int json_array_sort(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    cleanup_free json_t **v = calloc(n ? n : 1, sizeof(*v));

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), cmp);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    return 0;
}

static int update_ports(json_t *spec, const struct cli_svc_opts *o, struct err *err)
{
    json_t *ep, *ports, *rm, *add, *p;
    size_t i;
    int r;

    if (!o->publish_add.n && !o->publish_rm.n)
        return 0;
    ep = jsub(spec, "EndpointSpec");
    ports = ep ? jarr(ep, "Ports") : NULL;
    rm = json_array();
    add = json_array();
    if (!ports || !rm || !add) {
        json_decref(rm);
        json_decref(add);
        return err_set(err, -ENOMEM, "out of memory");
    }
    r = 0;
    for (i = 0; i < o->publish_rm.n && r >= 0; i++)
        r = cli_svc_parse_publish(o->publish_rm.v[i], rm, err);
    for (i = 0; i < o->publish_add.n && r >= 0; i++)
        r = cli_svc_parse_publish(o->publish_add.v[i], add, err);
    if (r < 0)
        goto out;
    for (i = json_array_size(ports); i-- > 0;) {
        json_t *cur = json_array_get(ports, i), *x;
        size_t k;

        CLI_JSON_ARRAY_EACH(rm, k, x)
        {
            if (strcmp(*jstr(cur, "Protocol") ? jstr(cur, "Protocol") : "tcp",
                       jstr(x, "Protocol")) == 0 &&
                jint(cur, "TargetPort") == jint(x, "TargetPort") &&
                strcmp(*jstr(cur, "PublishMode") ? jstr(cur, "PublishMode") : "ingress",
                       jstr(x, "PublishMode")) == 0) {
                json_array_remove(ports, i);
                break;
            }
        }
    }
    CLI_JSON_ARRAY_EACH(add, i, p)
    {
        char kp[96], kc[96];
        json_t *cur;
        size_t k;
        bool dup = false;

        port_key(p, kp, sizeof(kp));
        CLI_JSON_ARRAY_EACH(ports, k, cur)
        {
            port_key(cur, kc, sizeof(kc));
            if (strcmp(kp, kc) == 0)
                dup = true;
        }
        if (!dup)
            json_array_append(ports, p);
    }
    r = json_array_sort(ports, cmp_port);
    if (r < 0)
        r = err_set(err, r, "out of memory");
out:
    json_decref(rm);
    json_decref(add);
    return r;
}

int cli_svc_spec_apply_update(json_t *spec, const struct cli_svc_opts *o, struct err *err)
{
    json_t *tt = jsub(spec, "TaskTemplate"), *cs = tt ? jsub(tt, "ContainerSpec") : NULL;
    json_t *labels, *a;
    int r;

    if (!cs || !(labels = jsub(spec, "Labels")))
        return err_set(err, -ENOMEM, "out of memory");
    /* service labels, container labels */
    if ((r = labels_add(labels, &o->label_add, err)) < 0)
        return r;
    for (size_t i = 0; i < o->label_rm.n; i++)
        json_object_del(labels, o->label_rm.v[i]);
    if (o->container_label_add.n || o->container_label_rm.n) {
        json_t *cl = jsub(cs, "Labels");

        if ((r = labels_add(cl, &o->container_label_add, err)) < 0)
            return r;
        for (size_t i = 0; i < o->container_label_rm.n; i++)
            json_object_del(cl, o->container_label_rm.v[i]);
    }
    /* environment: remove by key, then add (replacing the same key) */
    if (o->env_rm.n || o->env_add.n) {
        a = jarr(cs, "Env");
        array_remove_keys(a, &o->env_rm, true);
        for (size_t i = 0; i < o->env_add.n; i++)
            if ((r = env_set(a, o->env_add.v[i], err)) < 0)
                return r;
    }
    if (o->image)
        json_object_set_new(cs, "Image", json_string(o->image));
    if ((r = apply_common(spec, o, err)) < 0)
        return r;
    /* constraints: add, remove, sort */
    if (o->constraint_add.n || o->constraint_rm.n) {
        json_t *pl = jsub(tt, "Placement"), *c = pl ? jarr(pl, "Constraints") : NULL;

        if (!c)
            return err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < o->constraint_add.n; i++)
            json_array_append_new(c, json_string(o->constraint_add.v[i]));
        array_remove_keys(c, &o->constraint_rm, false);
        if (json_array_sort(c, cmp_jstr) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    }
    /* placement preferences: remove matching, then add */
    if (o->placement_pref_add.n || o->placement_pref_rm.n) {
        json_t *pl = jsub(tt, "Placement"), *p = pl ? jarr(pl, "Preferences") : NULL;

        if (!p)
            return err_set(err, -ENOMEM, "out of memory");
        for (size_t i = json_array_size(p); i-- > 0;) {
            char s[300];

            (void)snprintf(
                s, sizeof(s), "spread=%s",
                jstr(jpath(json_array_get(p, i), "Spread", NULL, NULL), "SpreadDescriptor"));
            if (strv_has(&o->placement_pref_rm, s))
                json_array_remove(p, i);
        }
        for (size_t i = 0; i < o->placement_pref_add.n; i++) {
            json_t *one = NULL;

            if ((r = placement_pref(o->placement_pref_add.v[i], &one, err)) < 0)
                return r;
            json_array_append_new(p, one);
        }
    }
    /* mounts: remove by target, then add */
    if (o->mount_add.n || o->mount_rm.n) {
        a = jarr(cs, "Mounts");
        for (size_t i = json_array_size(a); i-- > 0;)
            if (strv_has(&o->mount_rm, jstr(json_array_get(a, i), "Target")))
                json_array_remove(a, i);
        for (size_t i = 0; i < o->mount_add.n; i++) {
            json_t *m;

            if ((r = cli_svc_parse_mount(o->mount_add.v[i], &m, err)) < 0)
                return r;
            for (size_t k = json_array_size(a); k-- > 0;)
                if (strcmp(jstr(json_array_get(a, k), "Target"), jstr(m, "Target")) == 0)
                    json_array_remove(a, k);
            json_array_append_new(a, m);
        }
    }
    if ((r = update_ports(spec, o, err)) < 0)
        return r;
    /* networks: remove by target (name or ID as given), add as given */
    if (o->network_add.n || o->network_rm.n) {
        a = jarr(tt, "Networks");
        for (size_t i = json_array_size(a); i-- > 0;)
            if (strv_has(&o->network_rm, jstr(json_array_get(a, i), "Target")))
                json_array_remove(a, i);
        for (size_t i = 0; i < o->network_add.n; i++)
            json_array_append_new(a, json_pack("{s:s}", "Target", o->network_add.v[i]));
    }
    if (o->replicas) {
        json_t *rep = json_object_get(json_object_get(spec, "Mode"), "Replicated");
        uint64_t n;

        if (!json_is_object(rep))
            return err_set(err, -EINVAL,
                           "replicas can only be used with replicated or replicated-job mode");
        if (parse_u64_flag(o->replicas, &n) < 0)
            return bad_flag(err, o->replicas, "replicas", "strconv.ParseUint: parsing failed");
        json_object_set_new(rep, "Replicas", json_integer((json_int_t)n));
    }
    if (o->force)
        json_object_set_new(tt, "ForceUpdate", json_integer(jint(tt, "ForceUpdate") + 1));
    return 0;
}

/* ---- tables and --format ------------------------------------------------------- */

/* Render rows like docker's formatter.Context: format NULL/"" or "table"
 * uses def (a "table ..." template); "table TMPL" gives a header from hdr
 * and tabwriter columns; any other template prints one line per row. */
static int format_rows(const char *format, const char *def, json_t *hdr, json_t *const *rows,
                       size_t n, struct buf *out, struct err *err)
{
    const char *f = format && *format ? format : "table";
    bool table = false;
    struct buf tmpl, line;
    struct cli_table t;
    size_t ncols = 0;
    int r = 0;

    if (strcmp(f, "table") == 0)
        f = def;
    if (strncmp(f, "table", 5) == 0) {
        table = true;
        f += 5;
    }
    while (*f == ' ')
        f++;
    buf_init(&tmpl);
    buf_init(&line);
    for (const char *p = f; *p && r >= 0; p++) {
        if (p[0] == '\\' && (p[1] == 't' || p[1] == 'n')) {
            r = buf_puts(&tmpl, p[1] == 't' ? "\t" : "\n");
            p++;
        } else {
            r = buf_append(&tmpl, p, 1);
        }
    }
    while (r >= 0 && tmpl.len && tmpl.data[tmpl.len - 1] == ' ')
        tmpl.data[--tmpl.len] = '\0';
    if (r < 0 || !tmpl.data) {
        buf_release(&tmpl);
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (!table) {
        for (size_t i = 0; i < n && r >= 0; i++) {
            r = cli_template_exec(tmpl.data, rows[i], out, err);
            if (r >= 0 && buf_puts(out, "\n") < 0)
                r = err_set(err, -ENOMEM, "out of memory");
        }
        buf_release(&tmpl);
        return r;
    }
    /* table: count the columns of the template */
    ncols = 1;
    for (const char *p = tmpl.data; *p; p++)
        if (*p == '\t')
            ncols++;
    cli_table_init(&t, ncols);
    for (size_t i = 0; i <= n && r >= 0; i++) {
        cleanup_free const char **cells = calloc(ncols, sizeof(*cells));
        char *s, *tab;
        size_t c = 0;

        line.len = 0;
        if (!cells) {
            r = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        r = cli_template_exec(tmpl.data, i == 0 ? hdr : rows[i - 1], &line, err);
        if (r < 0)
            break;
        if (buf_puts(&line, "") < 0) {
            r = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        for (s = line.data; s && c < ncols; s = tab ? tab + 1 : NULL) {
            tab = strchr(s, '\t');
            if (tab)
                *tab = '\0';
            cells[c++] = s;
        }
        if (cli_table_add(&t, cells) < 0)
            r = err_set(err, -ENOMEM, "out of memory");
    }
    if (r >= 0 && cli_table_render(&t, out) < 0)
        r = err_set(err, -ENOMEM, "out of memory");
    cli_table_release(&t);
    buf_release(&line);
    buf_release(&tmpl);
    return r;
}

static void pretty_state(const char *s, char *out, size_t outlen)
{
    cli_capitalize(s, out, outlen);
}

struct task_row {
    json_t *task;
    char name[300];
    int64_t created;
    size_t idx;
};

static int task_row_cmp(const void *a, const void *b)
{
    const struct task_row *x = a, *y = b;
    int c = natural_cmp(x->name, y->name);

    if (c)
        return c;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1; /* most recent first */
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int64_t ts_ns(const char *s)
{
    int64_t ns = 0;

    return s && *s && time_parse_rfc3339(s, &ns) == 0 ? ns : 0;
}

int cli_task_print(json_t *tasks, const struct cli_task_print_opts *o, struct buf *out,
                   struct err *err)
{
    size_t n = json_array_size(tasks), i;
    cleanup_free struct task_row *rows = calloc(n ? n : 1, sizeof(*rows));
    cleanup_free json_t **objs = calloc(n ? n : 1, sizeof(*objs));
    json_t *hdr;
    const char *format = o->format;
    int r = 0;

    if (!rows || !objs)
        return err_set(err, -ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        json_t *t = json_array_get(tasks, i);
        const char *sid = jstr(t, "ServiceID");
        const char *sname = json_string_value(json_object_get(o->service_names, sid)) ?: sid;
        int64_t slot = jint(t, "Slot");

        rows[i].task = t;
        rows[i].idx = i;
        rows[i].created = ts_ns(jstr(t, "CreatedAt"));
        if (slot)
            (void)snprintf(rows[i].name, sizeof(rows[i].name), "%s.%" PRId64, sname, slot);
        else
            (void)snprintf(rows[i].name, sizeof(rows[i].name), "%s.%s", sname, jstr(t, "NodeID"));
    }
    qsort(rows, n, sizeof(*rows), task_row_cmp);
    if (o->quiet && (!format || !*format || strcmp(format, "table") == 0))
        format = "{{.ID}}";
    for (i = 0; i < n; i++) {
        json_t *t = rows[i].task, *st = json_object_get(t, "Status"), *pp;
        const char *id = jstr(t, "ID"), *node_id = jstr(t, "NodeID");
        const char *node = json_string_value(json_object_get(o->node_names, node_id)) ?: node_id;
        const char *image = jstr(jpath(t, "Spec", "ContainerSpec", NULL), "Image");
        const char *terr = jstr(st, "Err");
        char sid[13], img[512], desired[32], state[32], dur[64], cur[128], name[320];
        cleanup_free char *ell = NULL, *errq = NULL;
        struct buf ports;
        size_t k;
        bool table = !format || !*format || strncmp(format, "table", 5) == 0;

        cli_short_id(id, sid);
        if (o->trunc)
            cli_svc_image_display(image, img, sizeof(img));
        else
            (void)snprintf(img, sizeof(img), "%s", image);
        pretty_state(jstr(t, "DesiredState"), desired, sizeof(desired));
        pretty_state(jstr(st, "State"), state, sizeof(state));
        {
            int64_t ts = ts_ns(jstr(st, "Timestamp"));

            time_human_duration(ts ? o->now_ns - ts : 0, dur, sizeof(dur));
            for (char *p = dur; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
        (void)snprintf(cur, sizeof(cur), "%s %s ago", state, dur);
        ell = o->trunc ? cli_ellipsis(terr, SVC_MAX_ERR_LEN) : strdup(terr);
        if (!ell || (*ell && asprintf(&errq, "\"%s\"", ell) < 0))
            return err_set(err, -ENOMEM, "out of memory");
        (void)snprintf(name, sizeof(name), "%s%s",
                       table && i > 0 && strcmp(rows[i].name, rows[i - 1].name) == 0 ? " \\_ " : "",
                       rows[i].name);
        buf_init(&ports);
        CLI_JSON_ARRAY_EACH(json_object_get(json_object_get(st, "PortStatus"), "Ports"), k, pp)
        {
            r = buf_printf(&ports, "%s*:%" PRId64 "->%" PRId64 "/%s", k ? "," : "",
                           jint(pp, "PublishedPort"), jint(pp, "TargetPort"), jstr(pp, "Protocol"));
        }
        objs[i] =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ID", o->trunc ? sid : id, "Name",
                      name, "Image", img, "Node", node, "DesiredState", desired, "CurrentState",
                      cur, "Error", errq ? errq : "", "Ports", ports.data ? ports.data : "");
        buf_release(&ports);
        if (!objs[i] || r < 0) {
            r = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    hdr = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ID", "ID", "Name", "NAME", "Image",
                    "IMAGE", "Node", "NODE", "DesiredState", "DESIRED STATE", "CurrentState",
                    "CURRENT STATE", "Error", "ERROR", "Ports", "PORTS");
    if (!hdr) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    r = format_rows(format,
                    "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t"
                    "{{.CurrentState}}\t{{.Error}}\t{{.Ports}}",
                    hdr, objs, n, out, err);
    json_decref(hdr);
out:
    for (i = 0; i < n; i++)
        json_decref(objs[i]);
    return r;
}

static int svc_name_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

    return natural_cmp(jstr(json_object_get(x, "Spec"), "Name"),
                       jstr(json_object_get(y, "Spec"), "Name"));
}

struct port_range {
    int64_t ps, pe, ts, te;
    char proto[16];
};

/* docker's service ls PORTS: ingress ports only, consecutive ones merged. */
static int svc_ports(json_t *svc, struct buf *out)
{
    json_t *ports = json_object_get(json_object_get(svc, "Endpoint"), "Ports");
    size_t n = json_array_size(ports), i, cnt = 0;
    cleanup_free json_t **v = calloc(n ? n : 1, sizeof(*v));
    struct port_range pr = {0};
    int r = 0;

    if (!v)
        return -ENOMEM;
    for (i = 0; i < n; i++)
        v[i] = json_array_get(ports, i);
    /* by protocol, then published port (insertion sort keeps it stable) */
    for (i = 1; i < n; i++) {
        json_t *x = v[i];
        size_t j = i;

        while (j > 0) {
            json_t *y = v[j - 1];
            int c = strcmp(jstr(y, "Protocol"), jstr(x, "Protocol"));

            if (c < 0 || (c == 0 && jint(y, "PublishedPort") <= jint(x, "PublishedPort")))
                break;
            v[j] = y;
            j--;
        }
        v[j] = x;
    }
    for (i = 0; i < n && r >= 0; i++) {
        json_t *p = v[i];
        int64_t pub = jint(p, "PublishedPort"), tgt = jint(p, "TargetPort");
        const char *proto = jstr(p, "Protocol");
        bool is_range = pr.te != pr.ts, overlaps = tgt <= pr.te;

        if (strcmp(jstr(p, "PublishMode"), "ingress") != 0)
            continue;
        if (strcmp(proto, pr.proto) != 0 || pub - pr.pe > 1 || tgt - pr.te > 1 ||
            (is_range && overlaps)) {
            if (pr.ps > 0) {
                r = cnt++ ? buf_puts(out, ", ") : 0;
                if (r >= 0 && pr.ps == pr.pe)
                    r = buf_printf(out, "*:%" PRId64 "->%" PRId64 "/%s", pr.ps, pr.ts, pr.proto);
                else if (r >= 0)
                    r = buf_printf(out, "*:%" PRId64 "-%" PRId64 "->%" PRId64 "-%" PRId64 "/%s",
                                   pr.ps, pr.pe, pr.ts, pr.te, pr.proto);
            }
            pr.ps = pr.pe = pub;
            pr.ts = pr.te = tgt;
            (void)snprintf(pr.proto, sizeof(pr.proto), "%s", proto);
            continue;
        }
        pr.pe = pub;
        pr.te = tgt;
    }
    if (r >= 0 && pr.ps > 0) {
        r = cnt++ ? buf_puts(out, ", ") : 0;
        if (r >= 0 && pr.ps == pr.pe)
            r = buf_printf(out, "*:%" PRId64 "->%" PRId64 "/%s", pr.ps, pr.ts, pr.proto);
        else if (r >= 0)
            r = buf_printf(out, "*:%" PRId64 "-%" PRId64 "->%" PRId64 "-%" PRId64 "/%s", pr.ps,
                           pr.pe, pr.ts, pr.te, pr.proto);
    }
    return r;
}

int cli_service_ls_render(json_t *services, bool quiet, const char *format, struct buf *out,
                          struct err *err)
{
    size_t n = json_array_size(services), i;
    cleanup_free json_t **v = calloc(n ? n : 1, sizeof(*v));
    cleanup_free json_t **objs = calloc(n ? n : 1, sizeof(*objs));
    json_t *hdr = NULL;
    int r = 0;

    if (!v || !objs)
        return err_set(err, -ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        v[i] = json_array_get(services, i);
    qsort(v, n, sizeof(*v), svc_name_cmp);
    if (quiet && (!format || !*format || strcmp(format, "table") == 0))
        format = "{{.ID}}";
    for (i = 0; i < n && r >= 0; i++) {
        json_t *spec = json_object_get(v[i], "Spec"), *mode = json_object_get(spec, "Mode");
        json_t *st = json_object_get(v[i], "ServiceStatus");
        const char *mname = json_object_get(mode, "Global")          ? "global"
                            : json_object_get(mode, "ReplicatedJob") ? "replicated job"
                            : json_object_get(mode, "GlobalJob")     ? "global job"
                                                                     : "replicated";
        int64_t maxr = json_object_get(mode, "Replicated")
                           ? jint(jpath(spec, "TaskTemplate", "Placement", NULL), "MaxReplicas")
                           : 0;
        char sid[13], img[512], reps[96];
        struct buf ports;

        cli_short_id(jstr(v[i], "ID"), sid);
        cli_svc_image_display(jstr(jpath(spec, "TaskTemplate", "ContainerSpec", NULL), "Image"),
                              img, sizeof(img));
        if (maxr > 0)
            (void)snprintf(reps, sizeof(reps), "%" PRId64 "/%" PRId64 " (max %" PRId64 " per node)",
                           jint(st, "RunningTasks"), jint(st, "DesiredTasks"), maxr);
        else if (json_object_get(mode, "ReplicatedJob"))
            (void)snprintf(
                reps, sizeof(reps), "%" PRId64 "/%" PRId64 " (%" PRId64 "/%" PRId64 " completed)",
                jint(st, "RunningTasks"), jint(st, "DesiredTasks"), jint(st, "CompletedTasks"),
                jint(json_object_get(mode, "ReplicatedJob"), "TotalCompletions"));
        else
            (void)snprintf(reps, sizeof(reps), "%" PRId64 "/%" PRId64, jint(st, "RunningTasks"),
                           jint(st, "DesiredTasks"));
        buf_init(&ports);
        r = svc_ports(v[i], &ports);
        objs[i] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ID", sid, "Name", jstr(spec, "Name"),
                            "Mode", mname, "Replicas", reps, "Image", img, "Ports",
                            ports.data ? ports.data : "");
        buf_release(&ports);
        if (!objs[i] || r < 0)
            r = err_set(err, -ENOMEM, "out of memory");
    }
    if (r >= 0)
        hdr = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ID", "ID", "Name", "NAME", "Mode",
                        "MODE", "Replicas", "REPLICAS", "Image", "IMAGE", "Ports", "PORTS");
    if (r >= 0 && !hdr)
        r = err_set(err, -ENOMEM, "out of memory");
    if (r >= 0)
        r = format_rows(
            format, "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}",
            hdr, objs, n, out, err);
    json_decref(hdr);
    for (i = 0; i < n; i++)
        json_decref(objs[i]);
    return r;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int pretty_cfg(struct buf *out, json_t *cfg, bool rollback)
{
    char d[64];
    int r;

    r = buf_printf(out, "\n%s:\n Parallelism:\t%" PRId64,
                   rollback ? "RollbackConfig" : "UpdateConfig", jint(cfg, "Parallelism"));
    if (r >= 0 && jint(cfg, "Delay") > 0) {
        cli_go_duration_string(jint(cfg, "Delay"), d, sizeof(d));
        r = buf_printf(out, "\n Delay:\t\t%s", d);
    }
    if (r >= 0)
        r = buf_printf(out, "\n On failure:\t%s", jstr(cfg, "FailureAction"));
    if (r >= 0 && jint(cfg, "Monitor") > 0) {
        cli_go_duration_string(jint(cfg, "Monitor"), d, sizeof(d));
        r = buf_printf(out, "\n Monitoring Period: %s", d);
    }
    if (r >= 0)
        r = buf_printf(out, "\n Max failure ratio: %g\n %s order:%s%s",
                       jnum(cfg, "MaxFailureRatio"), rollback ? "Rollback" : "Update",
                       rollback ? "    " : "      ", jstr(cfg, "Order"));
    return r;
}

static int pretty_res(struct buf *out, json_t *res, const char *title)
{
    int64_t cpu = jint(res, "NanoCPUs"), mem = jint(res, "MemoryBytes");
    char m[32];
    int r = 0;

    if (cpu <= 0 && mem <= 0)
        return 0;
    r = buf_printf(out, "\n %s:", title);
    if (r >= 0 && cpu > 0)
        r = buf_printf(out, "\n  CPU:\t\t%g", (double)cpu / 1e9);
    if (r >= 0 && mem > 0) {
        cli_bytes_size((double)mem, m, sizeof(m));
        r = buf_printf(out, "\n  Memory:\t%s", m);
    }
    return r;
}

int cli_service_pretty(json_t *svc, json_t *network_names, int64_t now_ns, struct buf *out)
{
    json_t *spec = json_object_get(svc, "Spec"), *mode = json_object_get(spec, "Mode");
    json_t *tt = json_object_get(spec, "TaskTemplate"), *cs = json_object_get(tt, "ContainerSpec");
    json_t *pl = json_object_get(tt, "Placement"), *us = json_object_get(svc, "UpdateStatus");
    json_t *labels = json_object_get(spec, "Labels"), *v;
    char dur[64];
    size_t i;
    int r;

    r = buf_printf(out, "\nID:\t\t%s\nName:\t\t%s", jstr(svc, "ID"), jstr(spec, "Name"));
    if (r >= 0 && json_object_size(labels)) {
        size_t n = json_object_size(labels), k = 0;
        cleanup_free const char **keys = calloc(n, sizeof(*keys));
        const char *key;

        if (!keys)
            return -ENOMEM;
        CLI_JSON_OBJECT_EACH(labels, key, v)
        keys[k++] = key;
        qsort(keys, k, sizeof(*keys), cmp_cstr);
        r = buf_puts(out, "\nLabels:");
        for (i = 0; i < k && r >= 0; i++) {
            const char *val = jstr(labels, keys[i]);

            r = buf_printf(out, "\n %s%s%s", keys[i], *val ? "=" : "", val);
        }
    }
    if (r >= 0)
        r = buf_puts(out, "\nService Mode:");
    if (r >= 0 && json_object_get(mode, "Global"))
        r = buf_puts(out, "\tGlobal");
    else if (r >= 0 && json_object_get(mode, "Replicated")) {
        r = buf_puts(out, "\tReplicated");
        v = json_object_get(json_object_get(mode, "Replicated"), "Replicas");
        if (r >= 0 && v)
            r = buf_printf(out, "\n Replicas:\t%" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    if (r >= 0 && *jstr(us, "State")) {
        r = buf_printf(out, "\nUpdateStatus:\n State:\t\t%s", jstr(us, "State"));
        if (r >= 0 && ts_ns(jstr(us, "StartedAt"))) {
            time_human_duration(now_ns - ts_ns(jstr(us, "StartedAt")), dur, sizeof(dur));
            r = buf_printf(out, "\n Started:\t%s ago", dur);
        }
        if (r >= 0 && strcmp(jstr(us, "State"), "completed") == 0 &&
            ts_ns(jstr(us, "CompletedAt"))) {
            time_human_duration(now_ns - ts_ns(jstr(us, "CompletedAt")), dur, sizeof(dur));
            r = buf_printf(out, "\n Completed:\t%s ago", dur);
        }
        if (r >= 0)
            r = buf_printf(out, "\n Message:\t%s", jstr(us, "Message"));
    }
    if (r >= 0)
        r = buf_puts(out, "\nPlacement:");
    if (r >= 0 && json_array_size(json_object_get(pl, "Constraints"))) {
        r = buf_puts(out, "\n Constraints:\t[");
        CLI_JSON_ARRAY_EACH(json_object_get(pl, "Constraints"), i, v)
        r = buf_printf(out, "%s%s", i ? " " : "", json_string_value(v) ?: "");
        if (r >= 0)
            r = buf_puts(out, "]");
    }
    if (r >= 0 && json_array_size(json_object_get(pl, "Preferences"))) {
        size_t cnt = 0;

        r = buf_puts(out, "\n Preferences:   [");
        CLI_JSON_ARRAY_EACH(json_object_get(pl, "Preferences"), i, v)
        {
            json_t *sp = json_object_get(v, "Spread");

            if (sp && r >= 0)
                r = buf_printf(out, "%sspread=%s", cnt++ ? " " : "", jstr(sp, "SpreadDescriptor"));
        }
        if (r >= 0)
            r = buf_puts(out, "]");
    }
    if (r >= 0 && jint(pl, "MaxReplicas") > 0)
        r = buf_printf(out, "\n Max Replicas Per Node:   %" PRId64, jint(pl, "MaxReplicas"));
    if (r >= 0 && json_is_object(json_object_get(spec, "UpdateConfig")))
        r = pretty_cfg(out, json_object_get(spec, "UpdateConfig"), false);
    if (r >= 0 && json_is_object(json_object_get(spec, "RollbackConfig")))
        r = pretty_cfg(out, json_object_get(spec, "RollbackConfig"), true);
    if (r >= 0)
        r = buf_printf(out, "\nContainerSpec:\n Image:\t\t%s", jstr(cs, "Image"));
    if (r >= 0 && json_array_size(json_object_get(cs, "Args"))) {
        r = buf_puts(out, "\n Args:\t\t");
        CLI_JSON_ARRAY_EACH(json_object_get(cs, "Args"), i, v)
        r = buf_printf(out, "%s ", json_string_value(v) ?: "");
    }
    if (r >= 0 && json_array_size(json_object_get(cs, "Env"))) {
        r = buf_puts(out, "\n Env:\t\t");
        CLI_JSON_ARRAY_EACH(json_object_get(cs, "Env"), i, v)
        r = buf_printf(out, "%s ", json_string_value(v) ?: "");
    }
    if (r >= 0 && *jstr(cs, "Dir"))
        r = buf_printf(out, "\n Dir:\t\t%s", jstr(cs, "Dir"));
    if (r >= 0 && json_is_boolean(json_object_get(cs, "Init")))
        r = buf_printf(out, "\n Init:\t\t%s",
                       json_is_true(json_object_get(cs, "Init")) ? "true" : "false");
    if (r >= 0 && *jstr(cs, "User"))
        r = buf_printf(out, "\n User: %s", jstr(cs, "User"));
    if (r >= 0 && json_array_size(json_object_get(cs, "Mounts"))) {
        r = buf_puts(out, "\nMounts:");
        CLI_JSON_ARRAY_EACH(json_object_get(cs, "Mounts"), i, v)
        {
            if (r >= 0)
                r = buf_printf(out, "\n Target:\t%s\n  Source:\t%s\n  ReadOnly:\t%s\n  Type:\t\t%s",
                               jstr(v, "Target"), jstr(v, "Source"),
                               json_is_true(json_object_get(v, "ReadOnly")) ? "true" : "false",
                               jstr(v, "Type"));
        }
    }
    if (r >= 0 && json_is_object(json_object_get(tt, "Resources"))) {
        json_t *res = json_object_get(tt, "Resources");

        r = buf_puts(out, "\nResources:");
        if (r >= 0)
            r = pretty_res(out, json_object_get(res, "Reservations"), "Reservations");
        if (r >= 0)
            r = pretty_res(out, json_object_get(res, "Limits"), "Limits");
    }
    if (r >= 0 && json_array_size(json_object_get(tt, "Networks"))) {
        r = buf_puts(out, "\nNetworks:");
        CLI_JSON_ARRAY_EACH(json_object_get(tt, "Networks"), i, v)
        {
            const char *t = jstr(v, "Target");
            const char *nm = json_string_value(json_object_get(network_names, t));

            if (r >= 0)
                r = buf_printf(out, " %s", nm ? nm : t);
        }
        if (r >= 0)
            r = buf_puts(out, " ");
    }
    if (r >= 0)
        r = buf_printf(out, "\nEndpoint Mode:\t%s",
                       jstr(json_object_get(spec, "EndpointSpec"), "Mode"));
    if (r >= 0 && json_array_size(jpath(svc, "Endpoint", "Ports", NULL))) {
        r = buf_puts(out, "\nPorts:");
        CLI_JSON_ARRAY_EACH(jpath(svc, "Endpoint", "Ports", NULL), i, v)
        {
            if (r >= 0)
                r = buf_printf(out,
                               "\n PublishedPort = %" PRId64 "\n  Protocol = %s\n  TargetPort = "
                               "%" PRId64 "\n  PublishMode = %s",
                               jint(v, "PublishedPort"), jstr(v, "Protocol"), jint(v, "TargetPort"),
                               jstr(v, "PublishMode"));
        }
        if (r >= 0)
            r = buf_puts(out, " ");
    }
    if (r >= 0 && json_is_object(json_object_get(cs, "Healthcheck"))) {
        json_t *h = json_object_get(cs, "Healthcheck");
        char iv[64], sp[64], to[64];

        cli_go_duration_string(jint(h, "Interval"), iv, sizeof(iv));
        cli_go_duration_string(jint(h, "StartPeriod"), sp, sizeof(sp));
        cli_go_duration_string(jint(h, "Timeout"), to, sizeof(to));
        r = buf_printf(out,
                       "\n Healthcheck:\n  Interval = %s\n  Retries = %" PRId64
                       "\n  StartPeriod =\t%s\n  Timeout =\t%s",
                       iv, jint(h, "Retries"), sp, to);
        if (r >= 0 && json_array_size(json_object_get(h, "Test"))) {
            r = buf_puts(out, "\n  Tests:");
            CLI_JSON_ARRAY_EACH(json_object_get(h, "Test"), i, v)
            r = buf_printf(out, "\n\t Test = %s", json_string_value(v) ?: "");
            if (r >= 0)
                r = buf_puts(out, " ");
        }
    }
    if (r >= 0)
        r = buf_puts(out, "\n");
    return r;
}

/* ---- progress (pure) ----------------------------------------------------------- */

static const char *const task_states[] = {
    "",      "new",      "allocated", "pending",  "assigned", "accepted", "preparing",
    "ready", "starting", "running",   "complete", "shutdown", "failed",   "rejected"};
#define STATE_RUNNING 9

static int state_num(const char *s)
{
    for (size_t i = 1; i < ARRAY_SIZE(task_states); i++)
        if (strcmp(s, task_states[i]) == 0)
            return (int)i;
    return 0;
}

static bool state_terminal(const char *s)
{
    return state_num(s) > STATE_RUNNING;
}

void cli_svc_progress_init(struct cli_svc_progress *p)
{
    memset(p, 0, sizeof(*p));
}

void cli_svc_progress_clear(struct cli_svc_progress *p)
{
    for (size_t i = 0; i < p->nmsgs; i++) {
        free(p->msgs[i].id);
        free(p->msgs[i].action);
    }
    p->nmsgs = 0;
}

void cli_svc_progress_release(struct cli_svc_progress *p)
{
    cli_svc_progress_clear(p);
    free(p->msgs);
    free(p->slot_keys);
    free(p->slot_vals);
    memset(p, 0, sizeof(*p));
}

int cli_svc_progress_emit(struct cli_svc_progress *p, const char *id, int64_t current,
                          int64_t total, const char *fmt, ...)
{
    struct cli_prog_msg *m = realloc(p->msgs, (p->nmsgs + 1) * sizeof(*m));
    va_list ap;
    int n;

    if (!m)
        return -ENOMEM;
    p->msgs = m;
    m = &p->msgs[p->nmsgs];
    memset(m, 0, sizeof(*m));
    va_start(ap, fmt);
    n = vasprintf(&m->action, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    if (id && !(m->id = strdup(id))) {
        free(m->action);
        return -ENOMEM;
    }
    m->current = current;
    m->total = total;
    p->nmsgs++;
    return 0;
}

static int overall(struct cli_svc_progress *p, int64_t num, int64_t den, bool rollback)
{
    if (rollback)
        return cli_svc_progress_emit(p, "overall progress", 0, 0,
                                     "rolling back update: %" PRId64 " out of %" PRId64 " tasks",
                                     num, den);
    return cli_svc_progress_emit(p, "overall progress", 0, 0,
                                 "%" PRId64 " out of %" PRId64 " tasks", num, den);
}

/* docker's truncError: no newlines, at most 75 bytes. */
static void trunc_error(const char *e, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *e && n + 1 < outlen; e++)
        out[n++] = *e == '\n' ? ' ' : *e;
    out[n] = '\0';
    if (n > 75)
        (void)snprintf(out + 74, outlen - 74, "\xe2\x80\xa6");
}

static int task_progress(struct cli_svc_progress *p, json_t *t, const char *id)
{
    json_t *st = json_object_get(t, "Status");
    const char *state = jstr(st, "State");
    char e[256];

    if (*jstr(st, "Err")) {
        trunc_error(jstr(st, "Err"), e, sizeof(e));
        return cli_svc_progress_emit(p, id, 0, 0, "%s", e);
    }
    if (!state_terminal(jstr(t, "DesiredState")) && !state_terminal(state))
        return cli_svc_progress_emit(p, id, state_num(state), STATE_RUNNING, "%-*s",
                                     SVC_LONGEST_STATE, state);
    return 0;
}

static bool node_active(json_t *nodes, const char *id)
{
    json_t *n;
    size_t i;

    CLI_JSON_ARRAY_EACH(nodes, i, n)
    if (strcmp(jstr(n, "ID"), id) == 0)
        return strcmp(jstr(json_object_get(n, "Status"), "State"), "down") != 0;
    return false;
}

/* The best task per key (slot or node): lowest desired state, then lowest
 * observed state; tasks with unknown states are skipped. */
struct pick {
    json_t *task;
    int64_t slot;
    const char *node;
};

static int pick_cmp(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;

    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return strcmp(x->node, y->node);
}

static size_t pick_tasks(json_t *tasks, json_t *nodes, bool by_node, struct pick *out)
{
    size_t n = 0, i;
    json_t *t;

    CLI_JSON_ARRAY_EACH(tasks, i, t)
    {
        const char *ds = jstr(t, "DesiredState"), *st = jstr(json_object_get(t, "Status"), "State");
        const char *node = jstr(t, "NodeID");
        int64_t slot = by_node ? 0 : jint(t, "Slot");
        size_t k;

        if (!state_num(ds) || !state_num(st))
            continue;
        for (k = 0; k < n; k++)
            if (by_node ? strcmp(out[k].node, node) == 0 : out[k].slot == slot)
                break;
        if (k < n) {
            json_t *e = out[k].task;
            int eds = state_num(jstr(e, "DesiredState"));
            int est = state_num(jstr(json_object_get(e, "Status"), "State"));

            if (eds < state_num(ds))
                continue;
            if (eds == state_num(ds) && est <= state_num(st))
                continue;
        }
        if (!by_node && *node && !node_active(nodes, node))
            continue;
        out[k].task = t;
        out[k].slot = slot;
        out[k].node = node;
        if (k == n)
            n++;
    }
    qsort(out, n, sizeof(*out), pick_cmp);
    return n;
}

static int64_t slot_map(struct cli_svc_progress *p, int64_t slot)
{
    int64_t *k, *v;

    for (size_t i = 0; i < p->nslots; i++)
        if (p->slot_keys[i] == slot)
            return p->slot_vals[i];
    k = realloc(p->slot_keys, (p->nslots + 1) * sizeof(*k));
    if (k)
        p->slot_keys = k;
    v = realloc(p->slot_vals, (p->nslots + 1) * sizeof(*v));
    if (v)
        p->slot_vals = v;
    if (!k || !v)
        return -1;
    p->slot_keys[p->nslots] = slot;
    p->slot_vals[p->nslots] = (int64_t)p->nslots + 1;
    return (int64_t)++p->nslots;
}

int cli_svc_progress_step(struct cli_svc_progress *p, json_t *service, json_t *tasks, json_t *nodes,
                          bool rollback, bool *ret_converged, struct err *err)
{
    json_t *mode = jpath(service, "Spec", "Mode", NULL);
    json_t *rep = json_object_get(mode, "Replicated");
    size_t ntasks = json_array_size(tasks), n, i;
    cleanup_free struct pick *picks = NULL;
    int64_t running = 0;
    int r = 0;

    *ret_converged = false;
    if (!json_is_object(rep) && !json_object_get(mode, "Global"))
        return err_set(err, -EINVAL, "unrecognized service mode");
    picks = calloc(ntasks ? ntasks : 1, sizeof(*picks));
    if (!picks)
        return err_set(err, -ENOMEM, "out of memory");
    if (json_is_object(rep)) {
        /* a missing count is the daemon's default of 1 (docker would stop
         * with "unrecognized service mode"; waiting forever is worse) */
        int64_t replicas = json_object_get(rep, "Replicas") ? jint(rep, "Replicas") : 1;

        if (!p->initialized) {
            r = overall(p, 0, replicas, rollback);
            for (int64_t s = 1; r >= 0 && replicas <= SVC_MAX_BARS && s <= replicas; s++) {
                char id[48];

                (void)snprintf(id, sizeof(id), "%" PRId64 "/%" PRId64, s, replicas);
                r = cli_svc_progress_emit(p, id, 0, 0, " ");
            }
            p->initialized = true;
        }
        n = pick_tasks(tasks, nodes, false, picks);
        if (p->done)
            for (i = 0; i < n; i++)
                if (strcmp(jstr(json_object_get(picks[i].task, "Status"), "State"), "running") != 0)
                    p->done = false;
        for (i = 0; i < n && r >= 0; i++) {
            json_t *t = picks[i].task;
            int64_t mapped = slot_map(p, picks[i].slot);
            char id[48];

            if (mapped < 0)
                return err_set(err, -ENOMEM, "out of memory");
            if (!state_terminal(jstr(t, "DesiredState")) &&
                strcmp(jstr(json_object_get(t, "Status"), "State"), "running") == 0)
                running++;
            if (p->done || replicas > SVC_MAX_BARS || mapped > replicas)
                continue;
            (void)snprintf(id, sizeof(id), "%" PRId64 "/%" PRId64, mapped, replicas);
            r = task_progress(p, t, id);
        }
        if (r >= 0 && !p->done) {
            r = overall(p, running, replicas, rollback);
            if (running == replicas)
                p->done = true;
        }
        *ret_converged = running == replicas;
    } else {
        int64_t count;

        n = pick_tasks(tasks, nodes, true, picks);
        count = (int64_t)n;
        if (!p->initialized) {
            if (count == 0) {
                r = cli_svc_progress_emit(p, "overall progress", 0, 0, "waiting for new tasks");
                return r < 0 ? err_set(err, r, "out of memory") : 0;
            }
            r = overall(p, 0, count, rollback);
            p->initialized = true;
        }
        if (p->done)
            for (i = 0; i < n; i++)
                if (strcmp(jstr(json_object_get(picks[i].task, "Status"), "State"), "running") != 0)
                    p->done = false;
        for (i = 0; i < n && r >= 0; i++) {
            json_t *t = picks[i].task;
            char id[13];

            if (!node_active(nodes, picks[i].node))
                continue;
            if (!state_terminal(jstr(t, "DesiredState")) &&
                strcmp(jstr(json_object_get(t, "Status"), "State"), "running") == 0)
                running++;
            if (p->done || count > SVC_MAX_BARS)
                continue;
            cli_short_id(picks[i].node, id);
            r = task_progress(p, t, id);
        }
        if (r >= 0 && !p->done) {
            r = overall(p, running, count, rollback);
            if (running == count)
                p->done = true;
        }
        *ret_converged = running == count;
    }
    return r < 0 ? err_set(err, r, "out of memory") : 0;
}

int cli_prog_msg_format(const struct cli_prog_msg *m, int width, struct buf *out)
{
    int r;

    if (!m->id)
        return buf_puts(out, m->action);
    r = buf_printf(out, "%s: %s ", m->id, m->action);
    if (r >= 0 && m->total > 0 && m->current > 0 && width > 110) {
        int pct = (int)((double)m->current / (double)m->total * 100) / 2;

        if (pct > 50)
            pct = 50;
        r = buf_puts(out, "[");
        for (int i = 0; i < pct && r >= 0; i++)
            r = buf_puts(out, "=");
        if (r >= 0)
            r = buf_puts(out, ">");
        for (int i = pct; i < 50 && r >= 0; i++)
            r = buf_puts(out, " ");
        if (r >= 0)
            r = buf_puts(out, "] ");
    }
    return r;
}

/* ---- progress display and polling loop --------------------------------------- */

struct prog_display {
    bool tty, quiet;
    int width;
    char **ids;  /* lines drawn so far (tty), or ids seen (plain) */
    char **last; /* plain: last text per id */
    size_t n;
};

static void display_reset(struct prog_display *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->ids[i]);
        free(d->last[i]);
    }
    free(d->ids);
    free(d->last);
    d->ids = d->last = NULL;
    d->n = 0;
}

static int display_msg(struct prog_display *d, const struct cli_prog_msg *m)
{
    struct buf b;
    size_t line;
    int r = 0;

    if (d->quiet)
        return 0;
    buf_init(&b);
    if (!m->id) {
        display_reset(d);
        r = buf_printf(&b, "%s\n", m->action);
        goto out;
    }
    for (line = 0; line < d->n; line++)
        if (strcmp(d->ids[line], m->id) == 0)
            break;
    if (line == d->n) {
        char **ids = realloc(d->ids, (d->n + 1) * sizeof(*ids));
        char **last = ids ? realloc(d->last, (d->n + 1) * sizeof(*last)) : NULL;

        if (ids)
            d->ids = ids;
        if (last)
            d->last = last;
        if (!ids || !last || !(d->ids[d->n] = strdup(m->id))) {
            r = -ENOMEM;
            goto out;
        }
        d->last[d->n++] = NULL;
        if (d->tty)
            r = buf_puts(&b, "\n");
    }
    if (d->tty) {
        size_t diff = d->n - line;

        if (r >= 0)
            r = buf_printf(&b, "\x1b[%zuA\x1b[2K\r", diff);
        if (r >= 0)
            r = cli_prog_msg_format(m, d->width, &b);
        if (r >= 0)
            r = buf_printf(&b, "\r\x1b[%zuB", diff);
    } else {
        /* plain: "id: action" when its text changed (blank actions skipped) */
        size_t len;

        r = buf_printf(&b, "%s: %s", m->id, m->action);
        len = b.len;
        while (r >= 0 && len > 0 && b.data[len - 1] == ' ')
            len--;
        if (r < 0 || len <= strlen(m->id) + 1 ||
            (d->last[line] && strlen(d->last[line]) == len &&
             memcmp(d->last[line], b.data, len) == 0)) {
            b.len = 0;
            goto out;
        }
        free(d->last[line]);
        d->last[line] = strndup(b.data, len);
        b.len = len;
        r = buf_puts(&b, "\n");
    }
out:
    if (r >= 0 && b.len)
        r = cli_out(STDOUT_FILENO, b.data, b.len);
    buf_release(&b);
    return r;
}

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
}

static int flush_msgs(struct prog_display *d, struct cli_svc_progress *p)
{
    int r = 0;

    for (size_t i = 0; i < p->nmsgs && r >= 0; i++)
        r = display_msg(d, &p->msgs[i]);
    cli_svc_progress_clear(p);
    return r;
}

static int json_filters(json_t *f, struct buf *q)
{
    char *s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    int r = s ? cli_query_add(q, "filters", s) : -ENOMEM;

    free(s);
    return r;
}

static int get_service(struct cli_ctx *ctx, const char *ref, bool defaults, json_t **ret,
                       struct err *err)
{
    return cli_call_named(&ctx->client, "GET", "/services/", ref,
                          defaults ? "insertDefaults=true" : "insertDefaults=false", NULL, ret,
                          err);
}

static int64_t mono_ns(void)
{
    return time_mono_ns();
}

/* docker's ServiceProgress + DisplayJSONMessagesToStream. ref is what the
 * user named (ID after create); messages go to stdout unless quiet. */
static int wait_on_service(struct cli_ctx *ctx, const char *ref, bool quiet, struct err *err)
{
    struct prog_display d = {.tty = isatty(STDOUT_FILENO) == 1, .quiet = quiet, .width = 200};
    struct cli_svc_progress p;
    struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
    int64_t monitor = SVC_DEFAULT_MONITOR, converged_at = 0;
    bool converged = false, rollback = false;
    cleanup_free char *final_msg = NULL;
    struct winsize ws;
    int r = 0;

    if (d.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        d.width = ws.ws_col;
    cli_svc_progress_init(&p);
    got_sigint = 0;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &old_sa);
    for (;;) {
        json_t *svc = NULL, *tasks = NULL, *nodes = NULL, *us, *f;
        const char *state;
        struct buf q;
        int64_t mon;

        r = get_service(ctx, ref, false, &svc, err);
        if (r < 0)
            break;
        mon = jint(jpath(svc, "Spec", "UpdateConfig", NULL), "Monitor");
        if (mon)
            monitor = mon;
        us = json_object_get(svc, "UpdateStatus");
        state = jstr(us, "State");
        if (strcmp(state, "updating") == 0) {
            rollback = false;
        } else if (strcmp(state, "completed") == 0) {
            if (!converged) {
                json_decref(svc);
                break;
            }
        } else if (strcmp(state, "paused") == 0) {
            r = err_set(err, -EIO, "service update paused: %s", jstr(us, "Message"));
        } else if (strcmp(state, "rollback_started") == 0) {
            if (!rollback && *jstr(us, "Message"))
                r = cli_svc_progress_emit(&p, "rollback", 0, 0, "%s", jstr(us, "Message"));
            rollback = true;
        } else if (strcmp(state, "rollback_paused") == 0) {
            r = err_set(err, -EIO, "service rollback paused: %s", jstr(us, "Message"));
        } else if (strcmp(state, "rollback_completed") == 0) {
            if (!converged) {
                free(final_msg);
                final_msg = strdup(jstr(us, "Message"));
            }
            rollback = true;
        }
        if (r < 0) {
            json_decref(svc);
            break;
        }
        if (converged && mono_ns() - converged_at >= monitor) {
            r = cli_svc_progress_emit(&p, "verify", 0, 0, "Service %s converged", ref);
            if (r >= 0 && final_msg)
                r = cli_svc_progress_emit(&p, NULL, 0, 0, "rollback: %s", final_msg);
            json_decref(svc);
            r = r < 0 ? err_set(err, r, "out of memory") : 0;
            break;
        }
        buf_init(&q);
        f = json_pack("{s:{s:b}, s:{s:b}}", "_up-to-date", "true", 1, "service", jstr(svc, "ID"),
                      1);
        r = f ? json_filters(f, &q) : -ENOMEM;
        json_decref(f);
        if (r < 0)
            r = err_set(err, -ENOMEM, "out of memory");
        else
            r = cli_call(&ctx->client, "GET", "/tasks", q.data, NULL, &tasks, err);
        buf_release(&q);
        if (r >= 0)
            r = cli_call(&ctx->client, "GET", "/nodes", NULL, NULL, &nodes, err);
        if (r >= 0)
            r = cli_svc_progress_step(&p, svc, tasks, nodes, rollback, &converged, err);
        json_decref(svc);
        json_decref(tasks);
        json_decref(nodes);
        if (r < 0)
            break;
        if (converged) {
            int64_t wait;

            if (!converged_at)
                converged_at = mono_ns();
            wait = monitor - (mono_ns() - converged_at);
            if (wait >= 0)
                r = cli_svc_progress_emit(&p, "verify", 0, 0,
                                          "Waiting %" PRId64
                                          " seconds to verify that tasks are stable...",
                                          (int64_t)(wait / SVC_NS_PER_S + 1));
        } else {
            if (converged_at)
                r = cli_svc_progress_emit(&p, "verify", 0, 0, "Detected task failure");
            converged_at = 0;
        }
        if (r >= 0 && flush_msgs(&d, &p) < 0)
            r = -EIO;
        if (r < 0) {
            r = err_set(err, r, "writing progress: %s", strerror(-r));
            break;
        }
        {
            struct timespec ts = {0, SVC_POLL_MS * 1000000L};

            while (!got_sigint && nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
        if (got_sigint) {
            if (!converged) {
                (void)cli_svc_progress_emit(&p, NULL, 0, 0, "Operation continuing in background.");
                (void)cli_svc_progress_emit(&p, NULL, 0, 0,
                                            "Use `shoal service ps %s` to check progress.", ref);
            }
            break;
        }
    }
    (void)flush_msgs(&d, &p);
    (void)sigaction(SIGINT, &old_sa, NULL);
    cli_svc_progress_release(&p);
    display_reset(&d);
    return r;
}

/* ---- create / update flags ----------------------------------------------------- */

#define SVC_MAX_FLAGS 96

struct svc_cmd {
    struct cli_svc_opts o;
    bool detach, quiet, with_registry_auth, no_resolve_image, rollback;
    bool changed[SVC_MAX_FLAGS];
    int idx_rollback, idx_detach, idx_quiet;
    struct cli_flag flags[SVC_MAX_FLAGS];
    size_t nflags;
};

static void add_flag(struct svc_cmd *c, const char *name, char sh, enum cli_flag_type type,
                     void *dest, const char *help)
{
    if (c->nflags + 1 >= SVC_MAX_FLAGS)
        abort(); /* the table below is fixed */
    c->flags[c->nflags] = (struct cli_flag){.name = name,
                                            .shorthand = sh,
                                            .type = type,
                                            .dest = dest,
                                            .help = help,
                                            .set = &c->changed[c->nflags]};
    c->nflags++;
    c->flags[c->nflags] = (struct cli_flag){.name = NULL};
}

#define FS(n, s, d, h) add_flag(c, n, s, CLI_FLAG_STRING, d, h)
#define FL(n, s, d, h) add_flag(c, n, s, CLI_FLAG_LIST, d, h)
#define FB(n, s, d, h) add_flag(c, n, s, CLI_FLAG_BOOL, d, h)

static void svc_flags(struct svc_cmd *c, bool update)
{
    struct cli_svc_opts *o = &c->o;

    c->nflags = 0;
    if (!update) {
        FL("constraint", 0, &o->constraints, "Placement constraints");
        FL("container-label", 0, &o->container_labels, "Container labels");
    } else {
        FL("constraint-add", 0, &o->constraint_add, "Add or update a placement constraint");
        FL("constraint-rm", 0, &o->constraint_rm, "Remove a constraint");
        FL("container-label-add", 0, &o->container_label_add, "Add or update a container label");
        FL("container-label-rm", 0, &o->container_label_rm, "Remove a container label by its key");
    }
    c->idx_detach = (int)c->nflags;
    FB("detach", 'd', &c->detach,
       "Exit immediately instead of waiting for the service to converge");
    FS("endpoint-mode", 0, &o->endpoint_mode, "Endpoint mode (vip or dnsrr) (default \"vip\")");
    FS("entrypoint", 0, &o->entrypoint, "Overwrite the default ENTRYPOINT of the image");
    if (!update) {
        FL("env", 'e', &o->env, "Set environment variables");
    } else {
        FL("env-add", 0, &o->env_add, "Add or update an environment variable");
        FL("env-rm", 0, &o->env_rm, "Remove an environment variable");
        FB("force", 0, &o->force, "Force update even if no changes require it");
    }
    FS("health-cmd", 0, &o->health_cmd, "Command to run to check health");
    FS("health-interval", 0, &o->health_interval, "Time between running the check (ms|s|m|h)");
    FS("health-retries", 0, &o->health_retries, "Consecutive failures needed to report unhealthy");
    FS("health-start-period", 0, &o->health_start_period,
       "Start period for the container to initialize before counting retries towards unstable "
       "(ms|s|m|h)");
    FS("health-timeout", 0, &o->health_timeout,
       "Maximum time to allow one check to run (ms|s|m|h)");
    FS("hostname", 0, &o->hostname, "Container hostname");
    if (update)
        FS("image", 0, &o->image, "Service image tag");
    FB("init", 0, &o->init,
       "Use an init inside each service container to forward signals and reap processes");
    if (!update) {
        FL("label", 'l', &o->labels, "Service labels");
    } else {
        FL("label-add", 0, &o->label_add, "Add or update a service label");
        FL("label-rm", 0, &o->label_rm, "Remove a label by its key");
    }
    FS("limit-cpu", 0, &o->limit_cpu, "Limit CPUs");
    FS("limit-memory", 0, &o->limit_memory, "Limit Memory");
    if (!update) {
        FS("mode", 0, &o->mode,
           "Service mode (\"replicated\", \"global\") (default \"replicated\")");
        FL("mount", 0, &o->mounts, "Attach a filesystem mount to the service");
        FS("name", 0, &o->name, "Service name");
        FL("network", 0, &o->networks, "Network attachments");
    } else {
        FL("mount-add", 0, &o->mount_add, "Add or update a mount on a service");
        FL("mount-rm", 0, &o->mount_rm, "Remove a mount by its target path");
        FL("network-add", 0, &o->network_add, "Add a network");
        FL("network-rm", 0, &o->network_rm, "Remove a network");
    }
    FB("no-healthcheck", 0, &o->no_healthcheck, "Disable any container-specified HEALTHCHECK");
    FB("no-resolve-image", 0, &c->no_resolve_image,
       "Do not query the registry to resolve image digest and supported platforms");
    if (!update) {
        FL("placement-pref", 0, &o->placement_prefs, "Add a placement preference");
        FL("publish", 'p', &o->publish, "Publish a port as a node port");
    } else {
        FL("placement-pref-add", 0, &o->placement_pref_add, "Add a placement preference");
        FL("placement-pref-rm", 0, &o->placement_pref_rm, "Remove a placement preference");
        FL("publish-add", 0, &o->publish_add, "Add or update a published port");
        FL("publish-rm", 0, &o->publish_rm, "Remove a published port by its target port");
    }
    c->idx_quiet = (int)c->nflags;
    FB("quiet", 'q', &c->quiet, "Suppress progress output");
    FB("read-only", 0, &o->read_only, "Mount the container's root filesystem as read only");
    FS("replicas", 0, &o->replicas, "Number of tasks");
    FS("replicas-max-per-node", 0, &o->max_per_node,
       "Maximum number of tasks per node (default 0 = unlimited)");
    FS("reserve-cpu", 0, &o->reserve_cpu, "Reserve CPUs");
    FS("reserve-memory", 0, &o->reserve_memory, "Reserve Memory");
    FS("restart-condition", 0, &o->restart_condition,
       "Restart when condition is met (\"none\", \"on-failure\", \"any\") (default \"any\")");
    FS("restart-delay", 0, &o->restart_delay,
       "Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)");
    FS("restart-max-attempts", 0, &o->restart_max_attempts,
       "Maximum number of restarts before giving up");
    FS("restart-window", 0, &o->restart_window,
       "Window used to evaluate the restart policy (ns|us|ms|s|m|h)");
    if (update) {
        c->idx_rollback = (int)c->nflags;
        FB("rollback", 0, &c->rollback, "Rollback to previous specification");
    }
    FS("rollback-delay", 0, &o->rollback.delay,
       "Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)");
    FS("rollback-failure-action", 0, &o->rollback.failure_action,
       "Action on rollback failure (\"pause\", \"continue\") (default \"pause\")");
    FS("rollback-max-failure-ratio", 0, &o->rollback.max_failure_ratio,
       "Failure rate to tolerate during a rollback (default 0)");
    FS("rollback-monitor", 0, &o->rollback.monitor,
       "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)");
    FS("rollback-order", 0, &o->rollback.order,
       "Rollback order (\"start-first\", \"stop-first\") (default \"stop-first\")");
    FS("rollback-parallelism", 0, &o->rollback.parallelism,
       "Maximum number of tasks rolled back simultaneously (0 to roll back all at once) "
       "(default 1)");
    FS("stop-grace-period", 0, &o->stop_grace,
       "Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)");
    FS("stop-signal", 0, &o->stop_signal, "Signal to stop the container");
    FB("tty", 't', &o->tty, "Allocate a pseudo-TTY");
    FS("update-delay", 0, &o->update.delay, "Delay between updates (ns|us|ms|s|m|h) (default 0s)");
    FS("update-failure-action", 0, &o->update.failure_action,
       "Action on update failure (\"pause\", \"continue\", \"rollback\") (default \"pause\")");
    FS("update-max-failure-ratio", 0, &o->update.max_failure_ratio,
       "Failure rate to tolerate during an update (default 0)");
    FS("update-monitor", 0, &o->update.monitor,
       "Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)");
    FS("update-order", 0, &o->update.order,
       "Update order (\"start-first\", \"stop-first\") (default \"stop-first\")");
    FS("update-parallelism", 0, &o->update.parallelism,
       "Maximum number of tasks updated simultaneously (0 to update all at once) (default 1)");
    FS("user", 'u', &o->user, "Username or UID (format: <name|uid>[:<group|gid>])");
    FB("with-registry-auth", 0, &c->with_registry_auth,
       "Send registry authentication details to swarm agents");
    FS("workdir", 'w', &o->workdir, "Working directory inside the container");
}

#undef FS
#undef FL
#undef FB

static void svc_cmd_release(struct svc_cmd *c)
{
    struct cli_strv *lists[] = {
        &c->o.env,
        &c->o.labels,
        &c->o.container_labels,
        &c->o.constraints,
        &c->o.placement_prefs,
        &c->o.publish,
        &c->o.networks,
        &c->o.mounts,
        &c->o.env_add,
        &c->o.env_rm,
        &c->o.label_add,
        &c->o.label_rm,
        &c->o.container_label_add,
        &c->o.container_label_rm,
        &c->o.constraint_add,
        &c->o.constraint_rm,
        &c->o.publish_add,
        &c->o.publish_rm,
        &c->o.mount_add,
        &c->o.mount_rm,
        &c->o.network_add,
        &c->o.network_rm,
        &c->o.placement_pref_add,
        &c->o.placement_pref_rm,
    };

    for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
        cli_strv_release(lists[i]);
}

static void svc_cmd_mark_bools(struct svc_cmd *c)
{
    for (size_t i = 0; i < c->nflags; i++) {
        if (!c->changed[i])
            continue;
        if (c->flags[i].dest == &c->o.tty)
            c->o.tty_set = true;
        else if (c->flags[i].dest == &c->o.read_only)
            c->o.read_only_set = true;
        else if (c->flags[i].dest == &c->o.init)
            c->o.init_set = true;
    }
}

/* GET /networks/{name}?scope=swarm -> its ID (docker's verifyNetworks). */
static int network_id(struct cli_ctx *ctx, const char *name, char **ret, struct err *err)
{
    json_t *nw = NULL;
    int r;

    r = cli_call_named(&ctx->client, "GET", "/networks/", name, "scope=swarm", NULL, &nw, err);
    if (r < 0)
        return r;
    if (strcmp(jstr(nw, "Scope"), "swarm") != 0) {
        json_decref(nw);
        return err_set(err, -EINVAL, "network %s is not a swarm network", name);
    }
    *ret = strdup(*jstr(nw, "Id") ? jstr(nw, "Id") : jstr(nw, "ID"));
    json_decref(nw);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int resolve_networks(struct cli_ctx *ctx, json_t *spec, struct err *err)
{
    json_t *nets = jpath(spec, "TaskTemplate", "Networks", NULL), *n;
    size_t i;

    CLI_JSON_ARRAY_EACH(nets, i, n)
    {
        char *id = NULL;
        int r = network_id(ctx, jstr(n, "Target"), &id, err);

        if (r < 0)
            return r;
        json_object_set_new(n, "Target", json_string(id));
        free(id);
    }
    return 0;
}

/* docker's resolveContainerSpecImage: pin the image to its digest and record
 * the platforms, or return the warning text (malloc'd) in *ret_warning. */
static int resolve_image(struct cli_ctx *ctx, json_t *spec, char **ret_warning)
{
    json_t *tt = json_object_get(spec, "TaskTemplate"), *cs = json_object_get(tt, "ContainerSpec");
    const char *image = jstr(cs, "Image");
    cleanup_free char *path = NULL, *pinned = NULL;
    json_t *dist = NULL, *plats, *pl, *p;
    struct err e = {0};
    const char *digest;
    char disp[512];
    size_t i;

    *ret_warning = NULL;
    if (asprintf(&path, "/distribution/%s/json", image) < 0)
        return -ENOMEM;
    if (cli_call(&ctx->client, "GET", path, NULL, NULL, &dist, &e) < 0 ||
        !*(digest = jstr(json_object_get(dist, "Descriptor"), "digest"))) {
        json_decref(dist);
        if (asprintf(ret_warning,
                     "image %s could not be accessed on a registry to record\nits digest. Each "
                     "node will access %s independently,\npossibly leading to different nodes "
                     "running different\nversions of the image.\n",
                     image, image) < 0)
            return -ENOMEM;
        return 0;
    }
    if (!strchr(image, '@')) {
        cli_svc_image_display(image, disp, sizeof(disp));
        if (asprintf(&pinned, "%s@%s", disp, digest) < 0) {
            json_decref(dist);
            return -ENOMEM;
        }
        json_object_set_new(cs, "Image", json_string(pinned));
    }
    plats = json_object_get(dist, "Platforms");
    if (json_array_size(plats)) {
        json_t *a = json_array();

        pl = jsub(tt, "Placement");
        CLI_JSON_ARRAY_EACH(plats, i, p)
        {
            const char *arch = jstr(p, "architecture");

            json_array_append_new(a, json_pack("{s:s, s:s}", "Architecture",
                                               strcasecmp(arch, "arm") == 0 ? "" : arch, "OS",
                                               jstr(p, "os")));
        }
        if (pl)
            json_object_set_new(pl, "Platforms", a);
        else
            json_decref(a);
    }
    json_decref(dist);
    return 0;
}

static void print_warnings(json_t *resp, const char *extra)
{
    json_t *w;
    size_t i;

    fflush(stdout);
    CLI_JSON_ARRAY_EACH(json_object_get(resp, "Warnings"), i, w)
    fprintf(stderr, "%s\n", json_string_value(w) ?: "");
    if (extra)
        fprintf(stderr, "%s\n", extra);
}

/* Flag values are checked after parsing; like pflag, a bad value is a usage
 * error (exit 125). */
static int svc_fail(struct cli_ctx *ctx, const char *cmd, const struct err *err)
{
    if (err->code == -EINVAL && strncmp(err->msg, "invalid argument \"", 18) == 0) {
        fflush(stdout);
        fprintf(stderr, "shoal: %s\nSee 'shoal service %s --help'.\n", err->msg, cmd);
        return 125;
    }
    return fail(ctx, err);
}

/* ---- commands --------------------------------------------------------------------- */

static int service_create(struct cli_ctx *ctx, int argc, char **argv)
{
    struct svc_cmd *c = calloc(1, sizeof(*c));
    struct cli_cmd_spec spec = {"service create",
                                "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                                "Create a new service",
                                NULL,
                                true,
                                1,
                                -1};
    struct cli_strv args = {0};
    struct err err = {0};
    json_t *body = NULL, *resp = NULL;
    cleanup_free char *warning = NULL;
    int ex, rc, r;

    if (!c)
        return oom();
    svc_flags(c, false);
    spec.flags = c->flags;
    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        svc_cmd_release(c);
        free(c);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    svc_cmd_mark_bools(c);
    c->o.image_arg = args.v[0];
    c->o.args = args.v + 1;
    c->o.nargs = args.n - 1;
    r = cli_svc_spec_from_opts(&c->o, &body, &err);
    if (r >= 0)
        r = resolve_networks(ctx, body, &err);
    if (r >= 0 && !c->no_resolve_image && resolve_image(ctx, body, &warning) < 0)
        r = err_set(&err, -ENOMEM, "out of memory");
    if (r >= 0)
        r = cli_call(&ctx->client, "POST", "/services/create", NULL, body, &resp, &err);
    json_decref(body);
    if (r >= 0) {
        print_warnings(resp, warning);
        printf("%s\n", jstr(resp, "ID"));
        fflush(stdout);
        if (!c->detach)
            r = wait_on_service(ctx, jstr(resp, "ID"), c->quiet, &err);
    }
    json_decref(resp);
    cli_strv_release(&args);
    svc_cmd_release(c);
    free(c);
    return r < 0 ? svc_fail(ctx, "create", &err) : 0;
}

static int update_path(const char *id, struct buf *p)
{
    int r = buf_puts(p, "/services/");

    if (r >= 0)
        r = cli_path_escape(p, id);
    if (r >= 0)
        r = buf_puts(p, "/update");
    return r;
}

/* POST /services/ID/update?[registryAuthFrom=..&][rollback=previous&]version=N */
static int post_update(struct cli_ctx *ctx, json_t *svc, json_t *spec, const char *auth_from,
                       bool rollback, json_t **ret, struct err *err)
{
    struct buf p, q;
    char ver[32];
    int r;

    buf_init(&p);
    buf_init(&q);
    (void)snprintf(ver, sizeof(ver), "%" PRId64, jint(json_object_get(svc, "Version"), "Index"));
    r = update_path(jstr(svc, "ID"), &p);
    if (r >= 0 && auth_from)
        r = cli_query_add(&q, "registryAuthFrom", auth_from);
    if (r >= 0 && rollback)
        r = cli_query_add(&q, "rollback", "previous");
    if (r >= 0)
        r = cli_query_add(&q, "version", ver);
    if (r < 0)
        r = err_set(err, -ENOMEM, "out of memory");
    else
        r = cli_call(&ctx->client, "POST", p.data, q.data, spec, ret, err);
    buf_release(&p);
    buf_release(&q);
    return r;
}

static int resolve_strv_networks(struct cli_ctx *ctx, struct cli_strv *sv, char ***owned,
                                 struct err *err)
{
    char **ids = calloc(sv->n + 1, sizeof(*ids));

    *owned = ids;
    if (!ids)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < sv->n; i++) {
        int r = network_id(ctx, sv->v[i], &ids[i], err);

        if (r < 0)
            return r;
        sv->v[i] = ids[i];
    }
    return 0;
}

static void free_strs(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int service_update(struct cli_ctx *ctx, int argc, char **argv)
{
    struct svc_cmd *c = calloc(1, sizeof(*c));
    struct cli_cmd_spec spec = {
        "service update", "[OPTIONS] SERVICE", "Update a service", NULL, false, 1, 1};
    struct cli_strv args = {0};
    struct err err = {0};
    json_t *svc = NULL, *sp, *resp = NULL;
    cleanup_free char *warning = NULL;
    char **net_add = NULL, **net_rm = NULL;
    int ex, rc, r;

    if (!c)
        return oom();
    svc_flags(c, true);
    spec.flags = c->flags;
    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        svc_cmd_release(c);
        free(c);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    svc_cmd_mark_bools(c);
    r = 0;
    if (c->rollback)
        for (size_t i = 0; i < c->nflags; i++)
            if (c->changed[i] && (int)i != c->idx_rollback && (int)i != c->idx_detach &&
                (int)i != c->idx_quiet)
                r = err_set(&err, -EINVAL, "other flags may not be combined with --rollback");
    if (r >= 0)
        r = get_service(ctx, args.v[0], false, &svc, &err);
    sp = json_object_get(svc, "Spec");
    if (r >= 0 && !json_is_object(sp))
        r = err_set(&err, -EPROTO, "invalid service object from daemon");
    if (r >= 0 && !c->rollback) {
        r = resolve_strv_networks(ctx, &c->o.network_add, &net_add, &err);
        if (r >= 0)
            r = resolve_strv_networks(ctx, &c->o.network_rm, &net_rm, &err);
        if (r >= 0)
            r = cli_svc_spec_apply_update(sp, &c->o, &err);
        if (r >= 0 && c->o.image && !c->no_resolve_image && resolve_image(ctx, sp, &warning) < 0)
            r = err_set(&err, -ENOMEM, "out of memory");
    }
    if (r >= 0)
        r = post_update(ctx, svc, sp, "spec", c->rollback, &resp, &err);
    if (r >= 0) {
        print_warnings(resp, warning);
        printf("%s\n", args.v[0]);
        fflush(stdout);
        if (!c->detach)
            r = wait_on_service(ctx, args.v[0], c->quiet, &err);
    }
    free_strs(net_add);
    free_strs(net_rm);
    json_decref(resp);
    json_decref(svc);
    cli_strv_release(&args);
    svc_cmd_release(c);
    free(c);
    return r < 0 ? svc_fail(ctx, "update", &err) : 0;
}

static int service_rollback(struct cli_ctx *ctx, int argc, char **argv)
{
    bool detach = false, quiet = false;
    const struct cli_flag flags[] = {
        CLI_FLAG_DETACH_SVC(&detach),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Suppress progress output"),
        SVC_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"service rollback",
                                      "[OPTIONS] SERVICE",
                                      "Revert changes to a service's configuration",
                                      flags,
                                      false,
                                      1,
                                      1};
    struct cli_strv args;
    struct err err = {0};
    json_t *svc = NULL, *resp = NULL;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    r = get_service(ctx, args.v[0], false, &svc, &err);
    if (r >= 0)
        r = post_update(ctx, svc, json_object_get(svc, "Spec"), NULL, true, &resp, &err);
    if (r >= 0) {
        print_warnings(resp, NULL);
        printf("%s\n", args.v[0]);
        fflush(stdout);
        if (!detach)
            r = wait_on_service(ctx, args.v[0], quiet, &err);
    }
    json_decref(resp);
    json_decref(svc);
    cli_strv_release(&args);
    return r < 0 ? fail(ctx, &err) : 0;
}

static int service_scale(struct cli_ctx *ctx, int argc, char **argv)
{
    bool detach = false;
    const struct cli_flag flags[] = {
        CLI_FLAG_DETACH_SVC(&detach),
        SVC_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"service scale",
                                      "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
                                      "Scale one or multiple replicated services",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct buf errs;
    const char **done;
    size_t ndone = 0;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (size_t i = 0; i < args.n; i++) {
        const char *eq = strchr(args.v[i], '=');

        if (!eq || eq == args.v[i] || !eq[1]) {
            fprintf(stderr,
                    "shoal: Invalid scale specifier '%s'.\nSee 'shoal service scale --help'.\n\n"
                    "Usage:  shoal service scale %s\n\n%s\n",
                    args.v[i], spec.usage, spec.desc);
            cli_strv_release(&args);
            return 1;
        }
    }
    done = calloc(args.n + 1, sizeof(*done));
    if (!done) {
        cli_strv_release(&args);
        return oom();
    }
    buf_init(&errs);
    for (size_t i = 0; i < args.n; i++) {
        const char *eq = strchr(args.v[i], '=');
        cleanup_free char *name = strndup(args.v[i], (size_t)(eq - args.v[i]));
        struct err err = {0};
        json_t *svc = NULL, *resp = NULL, *rep;
        uint64_t n;
        int r;

        if (!name) {
            (void)buf_puts(&errs, "out of memory\n");
            continue;
        }
        if (parse_u64_flag(eq + 1, &n) < 0) {
            (void)buf_printf(&errs,
                             "%s: invalid replicas value %s: strconv.ParseUint: parsing "
                             "\"%s\": invalid syntax\n",
                             name, eq + 1, eq + 1);
            continue;
        }
        r = get_service(ctx, name, false, &svc, &err);
        rep = jpath(svc, "Spec", "Mode", "Replicated");
        if (r >= 0 && !json_is_object(rep))
            r = err_set(&err, -EINVAL,
                        "scale can only be used with replicated or "
                        "replicated-job mode");
        if (r >= 0) {
            json_object_set_new(rep, "Replicas", json_integer((json_int_t)n));
            r = post_update(ctx, svc, json_object_get(svc, "Spec"), NULL, false, &resp, &err);
        }
        if (r < 0) {
            (void)buf_printf(&errs, "%s: %s\n", name, err.msg);
        } else {
            print_warnings(resp, NULL);
            printf("%s scaled to %" PRIu64 "\n", name, n);
            fflush(stdout);
            done[ndone++] = args.v[i];
        }
        json_decref(svc);
        json_decref(resp);
    }
    for (size_t i = 0; !detach && i < ndone; i++) {
        const char *eq = strchr(done[i], '=');
        cleanup_free char *name = strndup(done[i], (size_t)(eq - done[i]));
        struct err err = {0};

        if (name && wait_on_service(ctx, name, false, &err) < 0)
            (void)buf_printf(&errs, "%s: %s\n", name, err.msg);
    }
    free(done);
    cli_strv_release(&args);
    rc = cli_errs_flush(&errs, false);
    buf_release(&errs);
    return rc;
}

static int service_rm(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {SVC_END_FLAGS};
    const struct cli_cmd_spec spec = {
        "service rm", "SERVICE [SERVICE...]", "Remove one or more services", flags, false, 1, -1};
    struct cli_strv args;
    struct buf errs;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    buf_init(&errs);
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        int r;

        r = cli_call_named(&ctx->client, "DELETE", "/services/", args.v[i], NULL, NULL, NULL, &err);
        if (r < 0)
            cli_errs_add(&errs, err.msg);
        else
            printf("%s\n", args.v[i]);
        if (r < 0 && ctx->client.connect_failed)
            break;
    }
    cli_strv_release(&args);
    rc = cli_errs_flush(&errs, true);
    buf_release(&errs);
    return rc;
}

/* "-f k=v" list -> filters object (k -> {v: true}). */
static int filters_obj(const struct cli_strv *fl, json_t **ret, struct err *err)
{
    json_t *f = json_object();

    *ret = NULL;
    if (!f)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < fl->n; i++) {
        const char *eq = strchr(fl->v[i], '=');
        char key[128];

        if (!eq) {
            json_decref(f);
            return err_set(err, -EINVAL, "bad format of filter (expected name=value)");
        }
        (void)snprintf(key, sizeof(key), "%.*s", (int)(eq - fl->v[i]), fl->v[i]);
        json_object_set_new(jsub(f, key), eq + 1, json_true());
    }
    *ret = f;
    return 0;
}

static int service_ls(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false;
    const char *format = NULL;
    struct cli_strv filters = {0};
    const struct cli_flag flags[] = {
        CLI_FLAG_FILTER(&filters),
        CLI_STRING_FLAG("format", 0, &format, "Format output using a custom template"),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display IDs"),
        SVC_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "service ls", "[OPTIONS]", "List services", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    json_t *f = NULL, *list = NULL;
    struct buf q, out;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    buf_init(&q);
    buf_init(&out);
    r = filters_obj(&filters, &f, &err);
    cli_strv_release(&filters);
    if (r >= 0 && json_object_size(f) && json_filters(f, &q) < 0)
        r = err_set(&err, -ENOMEM, "out of memory");
    if (r >= 0 && !quiet && cli_query_add(&q, "status", "true") < 0)
        r = err_set(&err, -ENOMEM, "out of memory");
    json_decref(f);
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", "/services", q.data, NULL, &list, &err);
    if (r >= 0)
        r = cli_service_ls_render(list, quiet, format, &out, &err);
    if (r >= 0 && out.len)
        (void)cli_out(STDOUT_FILENO, out.data, out.len);
    json_decref(list);
    buf_release(&q);
    buf_release(&out);
    return r < 0 ? fail(ctx, &err) : 0;
}

/* idresolver: node name (Spec.Name, else hostname, else ID); service name. */
static int resolve_names(struct cli_ctx *ctx, json_t *tasks, bool no_resolve, json_t *svc_names,
                         json_t *node_names)
{
    json_t *t;
    size_t i;

    if (no_resolve)
        return 0;
    CLI_JSON_ARRAY_EACH(tasks, i, t)
    {
        const char *sid = jstr(t, "ServiceID"), *nid = jstr(t, "NodeID");

        if (*sid && !json_object_get(svc_names, sid)) {
            json_t *svc = NULL;
            struct err e = {0};

            if (get_service(ctx, sid, false, &svc, &e) >= 0)
                json_object_set_new(svc_names, sid,
                                    json_string(jstr(json_object_get(svc, "Spec"), "Name")));
            else
                json_object_set_new(svc_names, sid, json_string(sid));
            json_decref(svc);
        }
        if (*nid && !json_object_get(node_names, nid)) {
            json_t *node = NULL;
            struct err e = {0};
            cleanup_free char *path = NULL;
            const char *nm = nid;

            if (asprintf(&path, "/nodes/%s", nid) < 0)
                return -ENOMEM;
            if (cli_call(&ctx->client, "GET", path, NULL, NULL, &node, &e) >= 0) {
                if (*jstr(json_object_get(node, "Spec"), "Name"))
                    nm = jstr(json_object_get(node, "Spec"), "Name");
                else if (*jstr(json_object_get(node, "Description"), "Hostname"))
                    nm = jstr(json_object_get(node, "Description"), "Hostname");
            }
            json_object_set_new(node_names, nid, json_string(nm));
            json_decref(node);
        }
    }
    return 0;
}

/* docker's createFilter: each argument by full ID, then exact name, then a
 * unique ID prefix. */
static int ps_service_filter(struct cli_ctx *ctx, const struct cli_strv *names, json_t *filter,
                             struct buf *notfound, struct err *err)
{
    json_t *fid = json_object(), *fname = json_object(), *by_id = NULL, *by_name = NULL, *s;
    json_t *svcf = jsub(filter, "service");
    struct buf q;
    size_t count = 0, k;
    int r = 0;

    if (!fid || !fname || !svcf) {
        json_decref(fid);
        json_decref(fname);
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < names->n; i++) {
        json_object_set_new(fid, names->v[i], json_true());
        json_object_set_new(fname, names->v[i], json_true());
    }
    buf_init(&q);
    {
        json_t *f = json_pack("{s:O}", "id", fid);

        r = f ? json_filters(f, &q) : -ENOMEM;
        json_decref(f);
    }
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", "/services", q.data, NULL, &by_id, err);
    else
        r = err_set(err, -ENOMEM, "out of memory");
    q.len = 0;
    if (q.data)
        q.data[0] = '\0';
    if (r >= 0) {
        json_t *f = json_pack("{s:O}", "name", fname);

        r = f ? json_filters(f, &q) : -ENOMEM;
        json_decref(f);
        if (r >= 0)
            r = cli_call(&ctx->client, "GET", "/services", q.data, NULL, &by_name, err);
        else
            r = err_set(err, -ENOMEM, "out of memory");
    }
    buf_release(&q);
    json_decref(fid);
    json_decref(fname);
    for (size_t i = 0; r >= 0 && i < names->n; i++) {
        const char *want = names->v[i];
        bool found = false;

        CLI_JSON_ARRAY_EACH(by_id, k, s)
        if (!found && strcmp(jstr(s, "ID"), want) == 0) {
            json_object_set_new(svcf, jstr(s, "ID"), json_true());
            found = true;
        }
        CLI_JSON_ARRAY_EACH(by_name, k, s)
        if (!found && strcmp(jstr(json_object_get(s, "Spec"), "Name"), want) == 0) {
            json_object_set_new(svcf, jstr(s, "ID"), json_true());
            found = true;
        }
        if (!found) {
            CLI_JSON_ARRAY_EACH(by_id, k, s)
            {
                if (strncmp(jstr(s, "ID"), want, strlen(want)) != 0)
                    continue;
                if (found) {
                    r = err_set(err, -EINVAL, "multiple services found with provided prefix: %s",
                                want);
                    break;
                }
                json_object_set_new(svcf, jstr(s, "ID"), json_true());
                found = true;
            }
        }
        if (found)
            count++;
        else
            (void)buf_printf(notfound, "%sno such service: %s", notfound->len ? "\n" : "", want);
    }
    json_decref(by_id);
    json_decref(by_name);
    if (r >= 0 && count == 0)
        r = err_set(err, -ENOENT, "%s", notfound->data ? notfound->data : "no such service");
    return r;
}

/* node filters: "self" -> this node's ID, names -> IDs (docker's node.Reference). */
static int ps_node_filter(struct cli_ctx *ctx, json_t *filter, struct err *err)
{
    json_t *nf = json_object_get(filter, "node"), *out, *v;
    const char *key;
    int r = 0;

    if (!json_is_object(nf))
        return 0;
    out = json_object();
    if (!out)
        return err_set(err, -ENOMEM, "out of memory");
    CLI_JSON_OBJECT_EACH(nf, key, v)
    {
        json_t *obj = NULL;
        cleanup_free char *path = NULL;

        (void)v;
        if (strcmp(key, "self") == 0) {
            r = cli_call(&ctx->client, "GET", "/info", NULL, NULL, &obj, err);
            if (r >= 0)
                json_object_set_new(out, jstr(json_object_get(obj, "Swarm"), "NodeID"),
                                    json_true());
        } else if (asprintf(&path, "/nodes/%s", key) < 0) {
            r = err_set(err, -ENOMEM, "out of memory");
        } else {
            r = cli_call(&ctx->client, "GET", path, NULL, NULL, &obj, err);
            if (r >= 0)
                json_object_set_new(out, jstr(obj, "ID"), json_true());
        }
        json_decref(obj);
        if (r < 0)
            break;
    }
    if (r >= 0)
        json_object_set(filter, "node", out);
    json_decref(out);
    return r;
}

int cli_tasks_print_filtered(struct cli_ctx *ctx, const struct cli_strv *user_filters,
                             json_t *extra, bool quiet, bool no_trunc, bool no_resolve,
                             const char *format, struct err *err)
{
    struct cli_task_print_opts po = {0};
    json_t *filter = NULL, *tasks = NULL, *k;
    const char *key;
    struct buf q, out;
    int r;

    buf_init(&q);
    buf_init(&out);
    po.service_names = json_object();
    po.node_names = json_object();
    r = filters_obj(user_filters, &filter, err);
    if (r >= 0 && (!po.service_names || !po.node_names))
        r = err_set(err, -ENOMEM, "out of memory");
    if (r >= 0 && extra)
        json_object_foreach(extra, key, k) json_object_set(filter, key, k);
    if (r >= 0)
        r = ps_node_filter(ctx, filter, err);
    if (r >= 0 && json_filters(filter, &q) < 0)
        r = err_set(err, -ENOMEM, "out of memory");
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", "/tasks", q.data, NULL, &tasks, err);
    if (r >= 0 && resolve_names(ctx, tasks, no_resolve, po.service_names, po.node_names) < 0)
        r = err_set(err, -ENOMEM, "out of memory");
    if (r >= 0) {
        po.trunc = !no_trunc; /* docker truncates -q output too */
        po.quiet = quiet;
        po.format = format;
        po.now_ns = time_now_ns();
        r = cli_task_print(tasks, &po, &out, err);
    }
    if (r >= 0 && out.len)
        (void)cli_out(STDOUT_FILENO, out.data, out.len);
    json_decref(filter);
    json_decref(tasks);
    json_decref(po.service_names);
    json_decref(po.node_names);
    buf_release(&q);
    buf_release(&out);
    return r;
}

static int service_ps(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_task_print_opts po = {0};
    bool quiet = false, no_trunc = false, no_resolve = false;
    const char *format = NULL;
    struct cli_strv filters = {0};
    const struct cli_flag flags[] = {
        CLI_FLAG_FILTER(&filters),
        CLI_STRING_FLAG("format", 0, &format, "Pretty-print tasks using a Go template"),
        CLI_FLAG_NO_RESOLVE(&no_resolve),
        CLI_FLAG_NO_TRUNC(&no_trunc),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display task IDs"),
        SVC_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"service ps",
                                      "[OPTIONS] SERVICE [SERVICE...]",
                                      "List the tasks of one or more services",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct err err = {0};
    json_t *filter = NULL, *tasks = NULL;
    struct buf notfound, q, out;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    buf_init(&notfound);
    buf_init(&q);
    buf_init(&out);
    po.service_names = json_object();
    po.node_names = json_object();
    r = filters_obj(&filters, &filter, &err);
    cli_strv_release(&filters);
    if (r >= 0 && (!po.service_names || !po.node_names))
        r = err_set(&err, -ENOMEM, "out of memory");
    if (r >= 0)
        r = ps_service_filter(ctx, &args, filter, &notfound, &err);
    if (r >= 0)
        r = ps_node_filter(ctx, filter, &err);
    if (r >= 0 && json_filters(filter, &q) < 0)
        r = err_set(&err, -ENOMEM, "out of memory");
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", "/tasks", q.data, NULL, &tasks, &err);
    if (r >= 0 && resolve_names(ctx, tasks, no_resolve, po.service_names, po.node_names) < 0)
        r = err_set(&err, -ENOMEM, "out of memory");
    if (r >= 0) {
        po.trunc = !no_trunc; /* docker truncates -q output too */
        po.quiet = quiet;
        po.format = format;
        po.now_ns = time_now_ns();
        r = cli_task_print(tasks, &po, &out, &err);
    }
    if (r >= 0 && out.len)
        (void)cli_out(STDOUT_FILENO, out.data, out.len);
    if (r >= 0 && notfound.len)
        r = err_set(&err, -ENOENT, "%s", notfound.data);
    json_decref(filter);
    json_decref(tasks);
    json_decref(po.service_names);
    json_decref(po.node_names);
    buf_release(&notfound);
    buf_release(&q);
    buf_release(&out);
    cli_strv_release(&args);
    return r < 0 ? fail(ctx, &err) : 0;
}

static int service_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *format = NULL;
    bool pretty = false;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("format", 'f', &format, "Format output using a custom template"),
        CLI_BOOL_FLAG("pretty", 0, &pretty, "Print the information in a human friendly format"),
        SVC_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"service inspect",
                                      "[OPTIONS] SERVICE [SERVICE...]",
                                      "Display detailed information on one or more services",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    json_t *all = json_array();
    struct buf out, errs;
    int ex, rc, status = 0;

    if (!all)
        return oom();
    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        json_decref(all);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    if (pretty && format && strcmp(format, "pretty") != 0) {
        fprintf(stderr, "shoal: --format is incompatible with human friendly format\n");
        json_decref(all);
        cli_strv_release(&args);
        return 1;
    }
    if (format && strcmp(format, "pretty") == 0) {
        pretty = true;
        format = NULL;
    }
    buf_init(&out);
    buf_init(&errs);
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        json_t *svc = NULL;
        int r = get_service(ctx, args.v[i], true, &svc, &err);

        if (r == -ENOENT)
            err_set(&err, r, "Error: no such service: %s", args.v[i]);
        if (r < 0) {
            cli_errs_add(&errs, err.msg);
            status = 1;
            if (ctx->client.connect_failed)
                break;
            continue;
        }
        if (pretty) {
            json_t *names = json_object(), *n;
            size_t k;

            CLI_JSON_ARRAY_EACH(jpath(svc, "Spec", "TaskTemplate", "Networks"), k, n)
            {
                char *id = NULL;
                struct err e2 = {0};
                json_t *nw = NULL;
                cleanup_free char *path = NULL;

                (void)id;
                if (asprintf(&path, "/networks/%s", jstr(n, "Target")) >= 0 &&
                    cli_call(&ctx->client, "GET", path, "scope=swarm", NULL, &nw, &e2) >= 0)
                    json_object_set_new(names, jstr(n, "Target"), json_string(jstr(nw, "Name")));
                json_decref(nw);
            }
            if (cli_service_pretty(svc, names, time_now_ns(), &out) < 0 || buf_puts(&out, "\n") < 0)
                status = 1;
            json_decref(names);
            json_decref(svc);
        } else if (format) {
            if (cli_template_exec(format, svc, &out, &err) < 0) {
                cli_errs_add(&errs, err.msg);
                status = 1;
            } else {
                (void)buf_puts(&out, "\n");
            }
            json_decref(svc);
        } else {
            json_array_append_new(all, svc);
        }
    }
    cli_strv_release(&args);
    cli_inspect_print(all, !pretty && !format, &out);
    (void)cli_errs_flush(&errs, true);
    buf_release(&out);
    buf_release(&errs);
    json_decref(all);
    return status;
}

/* ---- logs -------------------------------------------------------------------------- */

struct logs_ctx {
    struct cli_ctx *ctx;
    struct cli_demux demux;
    struct buf frame; /* the frame being assembled */
    bool raw, timestamps, details, no_task_ids, no_trunc, no_resolve;
    int padding;
    json_t *cache; /* "node|service|task" -> prefix */
    struct err err;
};

static int digits_of(int64_t v)
{
    char s[32];

    return snprintf(s, sizeof(s), "%" PRId64, v);
}

/* URL query unescape (logdetails.Parse values). */
static char *unescape(const char *s, size_t len)
{
    char *o = malloc(len + 1), *p = o;

    if (!o)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            *p++ = ' ';
        } else if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};

            *p++ = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    return o;
}

/* "name.slot.task@node" (+ padding), cached per context. */
static int log_prefix(struct logs_ctx *l, const char *node, const char *svc, const char *task,
                      char **ret)
{
    cleanup_free char *key = NULL;
    const char *cached;
    json_t *s = NULL, *t = NULL, *n = NULL;
    const char *sname = svc, *nname = node;
    char tid[13];
    int64_t slot;
    int pad;
    struct buf b;
    struct err e = {0};

    if (asprintf(&key, "%s|%s|%s", node, svc, task) < 0)
        return -ENOMEM;
    cached = json_string_value(json_object_get(l->cache, key));
    if (cached)
        return (*ret = strdup(cached)) ? 0 : -ENOMEM;
    if (!l->no_resolve) {
        cleanup_free char *path = NULL;

        if (asprintf(&path, "/nodes/%s", node) >= 0 &&
            cli_call(&l->ctx->client, "GET", path, NULL, NULL, &n, &e) >= 0) {
            if (*jstr(json_object_get(n, "Spec"), "Name"))
                nname = jstr(json_object_get(n, "Spec"), "Name");
            else if (*jstr(json_object_get(n, "Description"), "Hostname"))
                nname = jstr(json_object_get(n, "Description"), "Hostname");
        }
        if (get_service(l->ctx, svc, false, &s, &e) >= 0)
            sname = jstr(json_object_get(s, "Spec"), "Name");
    }
    {
        cleanup_free char *path = NULL;
        int r;

        if (asprintf(&path, "/tasks/%s", task) < 0)
            r = -ENOMEM;
        else
            r = cli_call(&l->ctx->client, "GET", path, NULL, NULL, &t, &l->err);
        if (r < 0) {
            json_decref(s);
            json_decref(n);
            return r;
        }
    }
    slot = jint(t, "Slot");
    buf_init(&b);
    (void)buf_printf(&b, "%s.%" PRId64, sname, slot);
    if (!l->no_task_ids) {
        cli_short_id(jstr(t, "ID"), tid);
        (void)buf_printf(&b, ".%s", l->no_trunc ? jstr(t, "ID") : tid);
    }
    (void)buf_printf(&b, "@%s", nname);
    for (pad = l->padding - digits_of(slot); pad > 0; pad--)
        (void)buf_puts(&b, " ");
    json_decref(s);
    json_decref(t);
    json_decref(n);
    if (!b.data)
        return -ENOMEM;
    json_object_set_new(l->cache, key, json_string(b.data));
    *ret = buf_steal(&b);
    return 0;
}

/* One complete frame: "[TS ]DETAILS MSG" -> "[TS ]PREFIX    | [details ]MSG". */
static int log_line(struct logs_ctx *l, int stream, const char *data, size_t len)
{
    int fd = stream == CLI_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO;
    const char *p = data, *end = data + len, *ts = NULL, *det, *sp;
    size_t ts_len = 0;
    cleanup_free char *node = NULL, *svc = NULL, *task = NULL, *prefix = NULL;
    struct buf extra, out;
    int r = 0;

    if (stream == CLI_STREAM_SYSERR)
        return err_set(&l->err, -EIO, "%.*s", (int)len, data);
    if (l->raw)
        return cli_out(fd, data, len);
    if (l->timestamps) {
        sp = memchr(p, ' ', len);
        if (!sp)
            return err_set(&l->err, -EPROTO, "invalid context in log message: %.*s", (int)len,
                           data);
        ts = p;
        ts_len = (size_t)(sp - p);
        p = sp + 1;
    }
    det = p;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
        return err_set(&l->err, -EPROTO, "invalid context in log message: %.*s", (int)len, data);
    p = sp + 1;
    buf_init(&extra);
    for (const char *f = det; f < sp;) {
        const char *comma = memchr(f, ',', (size_t)(sp - f)), *fe = comma ? comma : sp;
        const char *eq = memchr(f, '=', (size_t)(fe - f));
        cleanup_free char *k = NULL, *v = NULL;

        if (!eq) {
            buf_release(&extra);
            return err_set(&l->err, -EPROTO, "invalid details format");
        }
        k = unescape(f, (size_t)(eq - f));
        v = unescape(eq + 1, (size_t)(fe - eq - 1));
        if (!k || !v) {
            buf_release(&extra);
            return err_set(&l->err, -ENOMEM, "out of memory");
        }
        if (strcmp(k, "com.docker.swarm.node.id") == 0)
            node = TAKE_PTR(v);
        else if (strcmp(k, "com.docker.swarm.service.id") == 0)
            svc = TAKE_PTR(v);
        else if (strcmp(k, "com.docker.swarm.task.id") == 0)
            task = TAKE_PTR(v);
        else
            (void)buf_printf(&extra, "%s=%s ", k, v);
        f = comma ? comma + 1 : sp;
    }
    if (!node)
        r = err_set(&l->err, -EPROTO, "missing node id in details");
    else if (!svc)
        r = err_set(&l->err, -EPROTO, "missing service id in details");
    else if (!task)
        r = err_set(&l->err, -EPROTO, "missing task id in details");
    if (r >= 0 && (r = log_prefix(l, node, svc, task, &prefix)) < 0 && !l->err.msg[0])
        r = err_set(&l->err, r, "out of memory");
    if (r < 0) {
        buf_release(&extra);
        return r;
    }
    buf_init(&out);
    if (ts)
        (void)buf_printf(&out, "%.*s ", (int)ts_len, ts);
    (void)buf_printf(&out, "%s    | ", prefix);
    if (l->details && extra.len)
        (void)buf_append(&out, extra.data, extra.len);
    (void)buf_append(&out, p, (size_t)(end - p));
    r = out.data ? cli_out(fd, out.data, out.len) : -ENOMEM;
    buf_release(&out);
    buf_release(&extra);
    if (r < 0)
        return err_set(&l->err, r, "writing output: %s", strerror(-r));
    return 0;
}

static int logs_frame(void *ctx, int stream, const char *data, size_t len)
{
    struct logs_ctx *l = ctx;
    bool last = len == l->demux.remaining;
    int r;

    if (buf_append(&l->frame, data, len) < 0)
        return -ENOMEM;
    if (!last)
        return 0;
    r = log_line(l, stream, l->frame.data, l->frame.len);
    l->frame.len = 0;
    return r;
}

static int logs_body(void *ctx, const char *data, size_t len)
{
    struct logs_ctx *l = ctx;

    return cli_demux_feed(&l->demux, data, len, logs_frame, l);
}

static int logs_tty_body(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    return cli_out(STDOUT_FILENO, data, len);
}

static int service_logs(struct cli_ctx *ctx, int argc, char **argv)
{
    struct logs_ctx l = {.ctx = ctx};
    bool follow = false;
    const char *since = NULL, *tail = "all";
    const struct cli_flag flags[] = {
        CLI_FLAG_LOGS_DETAILS(&l.details),
        CLI_FLAG_LOGS_FOLLOW(&follow),
        CLI_BOOL_FLAG("no-resolve", 0, &l.no_resolve, "Do not map IDs to Names in output"),
        CLI_BOOL_FLAG("no-task-ids", 0, &l.no_task_ids, "Do not include task IDs in output"),
        CLI_FLAG_NO_TRUNC(&l.no_trunc),
        CLI_BOOL_FLAG("raw", 0, &l.raw, "Do not neatly format logs"),
        CLI_FLAG_LOGS_SINCE(&since),
        CLI_FLAG_LOGS_TAIL(&tail),
        CLI_FLAG_LOGS_TIMESTAMPS(&l.timestamps),
        SVC_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"service logs",
                                      "[OPTIONS] SERVICE|TASK",
                                      "Fetch the logs of a service or task",
                                      flags,
                                      false,
                                      1,
                                      1};
    struct cli_strv args;
    struct err err = {0};
    json_t *obj = NULL;
    bool tty = false, is_task = false;
    char ts_since[64];
    struct buf p, q;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (since && cli_parse_timestamp(since, time(NULL), ts_since, sizeof(ts_since)) < 0) {
        fprintf(stderr,
                "shoal: invalid value for \"since\": failed to parse value as time or "
                "duration: \"%s\"\n",
                since);
        cli_strv_release(&args);
        return 1;
    }
    l.padding = 1;
    r = get_service(ctx, args.v[0], false, &obj, &err);
    if (r == -ENOENT) {
        cleanup_free char *path = NULL;

        is_task = true;
        if (asprintf(&path, "/tasks/%s", args.v[0]) < 0)
            r = err_set(&err, -ENOMEM, "out of memory");
        else
            r = cli_call(&ctx->client, "GET", path, NULL, NULL, &obj, &err);
        if (r == -ENOENT)
            err_set(&err, r, "no such task or service: %s", args.v[0]);
        if (r >= 0) {
            tty = json_is_true(jpath(obj, "Spec", "ContainerSpec", "TTY"));
            l.padding = digits_of(jint(obj, "Slot"));
        }
    } else if (r >= 0) {
        json_t *rep = jpath(obj, "Spec", "Mode", "Replicated");

        if (json_object_get(rep, "Replicas"))
            l.padding = digits_of(jint(rep, "Replicas"));
    }
    if (r >= 0 && !is_task) {
        json_t *ttyv = json_object_get(jpath(obj, "Spec", "TaskTemplate", "ContainerSpec"), "TTY");

        tty = json_is_true(ttyv);
    }
    json_decref(obj);
    if (r >= 0 && tty && !l.raw)
        r = err_set(&err, -EINVAL, "tty service logs only supported with --raw");
    if (r < 0) {
        cli_strv_release(&args);
        return fail(ctx, &err);
    }
    buf_init(&p);
    buf_init(&q);
    r = buf_puts(&p, is_task ? "/tasks/" : "/services/");
    if (r >= 0)
        r = cli_path_escape(&p, args.v[0]);
    if (r >= 0)
        r = buf_puts(&p, "/logs");
    if (r >= 0) {
        const struct cli_logs_query lq = {.details = l.details || !l.raw,
                                          .follow = follow,
                                          .timestamps = l.timestamps,
                                          .since = since ? ts_since : NULL,
                                          .tail = tail};

        r = cli_logs_query(&q, &lq);
    }
    cli_strv_release(&args);
    if (r < 0) {
        buf_release(&p);
        buf_release(&q);
        return oom();
    }
    cli_demux_init(&l.demux);
    buf_init(&l.frame);
    l.cache = json_object();
    {
        struct cli_req req = {.method = "GET", .path = p.data, .query = q.data, .body_fd = -1};

        r = l.cache ? cli_stream(&ctx->client, &req, tty ? logs_tty_body : logs_body, &l, &err)
                    : err_set(&err, -ENOMEM, "oom");
        if (r < 0 && l.err.msg[0])
            err = l.err;
    }
    buf_release(&p);
    buf_release(&q);
    buf_release(&l.frame);
    json_decref(l.cache);
    return r < 0 ? fail(ctx, &err) : 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

int cli_cmd_service(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct {
        const char *name, *alias;
        cli_cmd_fn fn;
        const char *desc;
    } subs[] = {
        {"create", NULL, service_create, "Create a new service"},
        {"inspect", NULL, service_inspect, "Display detailed information on one or more services"},
        {"logs", NULL, service_logs, "Fetch the logs of a service or task"},
        {"ls", "list", service_ls, "List services"},
        {"ps", NULL, service_ps, "List the tasks of one or more services"},
        {"rm", "remove", service_rm, "Remove one or more services"},
        {"rollback", NULL, service_rollback, "Revert changes to a service's configuration"},
        {"scale", NULL, service_scale, "Scale one or multiple replicated services"},
        {"update", NULL, service_update, "Update a service"},
    };
    const char *sub = argc > 0 ? argv[0] : NULL;

    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        printf("\nUsage:  shoal service COMMAND\n\nManage Swarm services\n\nCommands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
            printf("  %-10s  %s\n", subs[i].name, subs[i].desc);
        printf("\nRun 'shoal service COMMAND --help' for more information on a command.\n");
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
        if (strcmp(sub, subs[i].name) == 0 || (subs[i].alias && strcmp(sub, subs[i].alias) == 0))
            return subs[i].fn(ctx, argc - 1, argv + 1);
    fprintf(stderr,
            "shoal: unknown command: shoal service %s\n\nRun 'shoal service --help' for more "
            "information\n",
            sub);
    return 1;
}
