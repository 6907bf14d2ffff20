/*
 * cli/cmd_swarm.c - `shoal swarm init|join|leave|join-token|update|inspect`
 * and `shoal node ls|inspect|update|promote|demote|rm|ps`.
 *
 * Requests, flag names and output text follow the docker CLI (28.x) against
 * the Engine API v1.41 routes /swarm* and /nodes*. The pure pieces (Go
 * durations, listen addresses, the node table, `node inspect --pretty`,
 * merging `node update` flags into a NodeSpec, the join-command text) are
 * exported through cli.h for the unit tests.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"

#include "cli/cli.h"

#define SW_END_FLAGS                                                                               \
    {                                                                                              \
        .name = NULL                                                                               \
    }
#define SW_DEFAULT_LISTEN "0.0.0.0:2377"

static int fail(struct cli_ctx *ctx, const struct err *err)
{
    cli_print_err(ctx, err);
    return 1;
}

static int oom(void)
{
    fprintf(stderr, "shoal: out of memory\n");
    return 1;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key)) ?: "";
}

/* ---- pure helpers ------------------------------------------------------ */

void cli_capitalize(const char *s, char *out, size_t outlen)
{
    size_t i;

    if (!outlen)
        return;
    for (i = 0; s[i] && i + 1 < outlen; i++)
        out[i] = (char)(i == 0 ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
    out[i] = '\0';
}

/* One Go duration unit; returns its size in ns, 0 if unknown. */
static int64_t dur_unit(const char *u, size_t n)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC greek mu */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60LL * 1000000000},
        {"h", 3600LL * 1000000000},
    };

    for (size_t i = 0; i < ARRAY_SIZE(units); i++)
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
            return units[i].ns;
    return 0;
}

int cli_go_duration_parse(const char *s, int64_t *ret_ns)
{
    const char *p = s;
    bool neg = false;
    double total = 0;

    if (!s || !*s)
        return -EINVAL;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ret_ns = 0;
        return 0;
    }
    if (!*p)
        return -EINVAL;
    while (*p) {
        double whole = 0, frac = 0, scale = 1;
        bool digits = false;
        const char *u;
        int64_t unit;

        while (*p >= '0' && *p <= '9') {
            whole = whole * 10 + (*p++ - '0');
            digits = true;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                scale /= 10;
                frac += (*p++ - '0') * scale;
                digits = true;
            }
        }
        if (!digits)
            return -EINVAL;
        u = p;
        while (*p && *p != '.' && !(*p >= '0' && *p <= '9'))
            p++;
        unit = dur_unit(u, (size_t)(p - u));
        if (!unit)
            return -EINVAL;
        total += (whole + frac) * (double)unit;
        if (total > (double)INT64_MAX)
            return -ERANGE;
    }
    *ret_ns = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

int cli_node_addr_normalize(const char *in, char *out, size_t outlen)
{
    const char *host, *port = NULL, *s = in;
    size_t hlen;
    char *end;
    long pn;
    int n;

    if (!s)
        return -EINVAL;
    if (strncmp(s, "tcp://", 6) == 0)
        s += 6;
    if (*s == '[') {
        const char *rb = strchr(s, ']');

        if (!rb || (rb[1] && rb[1] != ':'))
            return -EINVAL;
        host = s;
        hlen = (size_t)(rb + 1 - s);
        if (rb[1] == ':')
            port = rb + 2;
    } else {
        const char *colon = strchr(s, ':');

        if (colon && strchr(colon + 1, ':'))
            return -EINVAL; /* bare IPv6 needs brackets */
        host = s;
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (colon)
            port = colon + 1;
    }
    if (memchr(host, '/', hlen))
        return -EINVAL;
    if (port && *port) {
        errno = 0;
        pn = strtol(port, &end, 10);
        if (errno || *end || pn < 1 || pn > 65535)
            return -EINVAL;
    } else {
        port = "2377";
    }
    if (hlen == 0)
        n = snprintf(out, outlen, "0.0.0.0:%s", port);
    else
        n = snprintf(out, outlen, "%.*s:%s", (int)hlen, host, port);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int node_cmp(const void *a, const void *b)
{
    json_t *na = *(json_t *const *)a, *nb = *(json_t *const *)b;
    int c = strcmp(jstr(json_object_get(na, "Description"), "Hostname"),
                   jstr(json_object_get(nb, "Description"), "Hostname"));

    return c ? c : strcmp(jstr(na, "ID"), jstr(nb, "ID"));
}

int cli_node_ls_render(json_t *nodes, const char *self_id, bool quiet, struct buf *out)
{
    static const char *const hdr[] = {"ID",           "HOSTNAME",       "STATUS",
                                      "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"};
    size_t n = json_array_size(nodes), i;
    cleanup_free json_t **v = calloc(n ? n : 1, sizeof(*v));
    struct cli_table t;
    int r = 0;

    if (!v)
        return -ENOMEM;
    for (i = 0; i < n; i++)
        v[i] = json_array_get(nodes, i);
    qsort(v, n, sizeof(*v), node_cmp);
    if (quiet) {
        for (i = 0; i < n && r >= 0; i++)
            r = buf_printf(out, "%s\n", jstr(v[i], "ID"));
        return r;
    }
    cli_table_init(&t, ARRAY_SIZE(hdr));
    r = cli_table_add(&t, hdr);
    for (i = 0; i < n && r >= 0; i++) {
        json_t *desc = json_object_get(v[i], "Description");
        json_t *ms = json_object_get(v[i], "ManagerStatus");
        char id[128], status[64], avail[64], mstatus[64];
        const char *row[6];

        (void)snprintf(id, sizeof(id), "%s%s", jstr(v[i], "ID"),
                       self_id && *self_id && strcmp(self_id, jstr(v[i], "ID")) == 0 ? " *" : "");
        cli_capitalize(jstr(json_object_get(v[i], "Status"), "State"), status, sizeof(status));
        cli_capitalize(jstr(json_object_get(v[i], "Spec"), "Availability"), avail, sizeof(avail));
        mstatus[0] = '\0';
        if (json_is_object(ms)) {
            if (json_is_true(json_object_get(ms, "Leader")))
                (void)snprintf(mstatus, sizeof(mstatus), "Leader");
            else
                cli_capitalize(jstr(ms, "Reachability"), mstatus, sizeof(mstatus));
        }
        row[0] = id;
        row[1] = jstr(desc, "Hostname");
        row[2] = status;
        row[3] = avail;
        row[4] = mstatus;
        row[5] = jstr(json_object_get(desc, "Engine"), "EngineVersion");
        r = cli_table_add(&t, row);
    }
    if (r >= 0)
        r = cli_table_render(&t, out);
    cli_table_release(&t);
    return r;
}

/* Go's time.Time.String() of an RFC 3339 timestamp, as docker's PrettyPrint
 * shows it (first letter upper, the rest lower): "2026-11-22
 * 14:50:27.320376972 +0000 utc". Unparseable input is copied. */
static void go_time_string(const char *ts, char *out, size_t outlen)
{
    char date[11], clock[9], frac[10] = "", zone[16];
    const char *p = ts, *z;
    size_t fl = 0;

    if (strlen(ts) < 20 || ts[10] != 'T') {
        (void)snprintf(out, outlen, "%s", ts);
        return;
    }
    memcpy(date, ts, 10);
    date[10] = '\0';
    memcpy(clock, ts + 11, 8);
    clock[8] = '\0';
    p = ts + 19;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (fl < 9)
                frac[fl++] = *p;
            p++;
        }
        frac[fl] = '\0';
        while (fl > 0 && frac[fl - 1] == '0')
            frac[--fl] = '\0';
    }
    z = p;
    if (strcmp(z, "Z") == 0) {
        (void)snprintf(zone, sizeof(zone), "+0000 utc");
    } else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && z[3] == ':') {
        (void)snprintf(zone, sizeof(zone), "%.3s%.2s %.3s%.2s", z, z + 4, z, z + 4);
    } else {
        (void)snprintf(out, outlen, "%s", ts);
        return;
    }
    (void)snprintf(out, outlen, "%s %s%s%s %s", date, clock, fl ? "." : "", frac, zone);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* " - k=v" lines of a label object, sorted by key. */
static int print_labels(struct buf *out, json_t *labels)
{
    size_t n = json_object_size(labels), k = 0;
    cleanup_free const char **keys = calloc(n ? n : 1, sizeof(*keys));
    const char *key;
    json_t *val;
    int r = 0;

    if (!keys)
        return -ENOMEM;
    CLI_JSON_OBJECT_EACH(labels, key, val)
    {
        (void)val;
        keys[k++] = key;
    }
    qsort(keys, k, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < k && r >= 0; i++) {
        const char *v = json_string_value(json_object_get(labels, keys[i])) ?: "";

        r = buf_printf(out, "\n - %s%s%s", keys[i], *v ? "=" : "", v);
    }
    return r;
}

/* "Plugins:" lines: one per type (sorted), names sorted and comma-joined. */
static int print_plugins(struct buf *out, json_t *plugins)
{
    size_t n = json_array_size(plugins), i, j;
    cleanup_free const char **types = calloc(n ? n : 1, sizeof(*types));
    cleanup_free const char **names = calloc(n ? n : 1, sizeof(*names));
    json_t *p;
    int r = 0;

    if (!types || !names)
        return -ENOMEM;
    CLI_JSON_ARRAY_EACH(plugins, i, p)
    types[i] = jstr(p, "Type");
    qsort(types, n, sizeof(*types), cmp_str);
    r = buf_puts(out, "\nPlugins:");
    for (i = 0; i < n && r >= 0; i++) {
        size_t k = 0;
        json_t *q;

        if (i > 0 && strcmp(types[i], types[i - 1]) == 0)
            continue;
        CLI_JSON_ARRAY_EACH(plugins, j, q)
        if (strcmp(jstr(q, "Type"), types[i]) == 0)
            names[k++] = jstr(q, "Name");
        qsort(names, k, sizeof(*names), cmp_str);
        r = buf_printf(out, "\n %s:", types[i]);
        for (j = 0; j < k && r >= 0; j++)
            r = buf_printf(out, "%s%s", j ? ", " : "\t\t", names[j]);
    }
    return r;
}

int cli_node_pretty(json_t *node, struct buf *out)
{
    json_t *spec = json_object_get(node, "Spec"), *desc = json_object_get(node, "Description");
    json_t *status = json_object_get(node, "Status"), *ms = json_object_get(node, "ManagerStatus");
    json_t *platform = json_object_get(desc, "Platform"), *res = json_object_get(desc, "Resources");
    json_t *engine = json_object_get(desc, "Engine"), *tls = json_object_get(desc, "TLSInfo");
    char joined[96], state[64], avail[64], reach[64], mem[32], cpus[32] = "";
    int64_t nano = json_integer_value(json_object_get(res, "NanoCPUs"));
    int r;

    go_time_string(jstr(node, "CreatedAt"), joined, sizeof(joined));
    cli_capitalize(jstr(status, "State"), state, sizeof(state));
    cli_capitalize(jstr(spec, "Availability"), avail, sizeof(avail));
    cli_bytes_size((double)json_integer_value(json_object_get(res, "MemoryBytes")), mem,
                   sizeof(mem));
    if (nano)
        (void)snprintf(cpus, sizeof(cpus), "%.15g", (double)nano / 1e9);

    r = buf_printf(out, "ID:\t\t\t%s", jstr(node, "ID"));
    if (r >= 0 && *jstr(spec, "Name"))
        r = buf_printf(out, "\nName:\t\t\t%s", jstr(spec, "Name"));
    if (r >= 0 && json_object_size(json_object_get(spec, "Labels"))) {
        r = buf_puts(out, "\nLabels:");
        if (r >= 0)
            r = print_labels(out, json_object_get(spec, "Labels"));
    }
    if (r >= 0)
        r = buf_printf(out,
                       "\nHostname:              \t%s\nJoined at:             \t%s\nStatus:\n"
                       " State:\t\t\t%s",
                       jstr(desc, "Hostname"), joined, state);
    if (r >= 0 && *jstr(status, "Message"))
        r = buf_printf(out, "\n Message:              \t%s", jstr(status, "Message"));
    if (r >= 0)
        r = buf_printf(out, "\n Availability:         \t%s", avail);
    if (r >= 0 && *jstr(status, "Addr"))
        r = buf_printf(out, "\n Address:\t\t%s", jstr(status, "Addr"));
    if (r >= 0 && json_is_object(ms)) {
        cli_capitalize(jstr(ms, "Reachability"), reach, sizeof(reach));
        r = buf_printf(
            out, "\nManager Status:\n Address:\t\t%s\n Raft Status:\t\t%s\n Leader:\t\t%s",
            jstr(ms, "Addr"), reach, json_is_true(json_object_get(ms, "Leader")) ? "Yes" : "No");
    }
    if (r >= 0)
        r = buf_printf(out,
                       "\nPlatform:\n Operating System:\t%s\n Architecture:\t\t%s\nResources:\n"
                       " CPUs:\t\t\t%s\n Memory:\t\t%s",
                       jstr(platform, "OS"), jstr(platform, "Architecture"), cpus, mem);
    if (r >= 0 && json_array_size(json_object_get(engine, "Plugins")))
        r = print_plugins(out, json_object_get(engine, "Plugins"));
    if (r >= 0)
        r = buf_printf(out, "\nEngine Version:\t\t%s", jstr(engine, "EngineVersion"));
    if (r >= 0 && json_object_size(json_object_get(engine, "Labels"))) {
        r = buf_puts(out, "\nEngine Labels:");
        if (r >= 0)
            r = print_labels(out, json_object_get(engine, "Labels"));
    }
    if (r >= 0 && (*jstr(tls, "TrustRoot") || *jstr(tls, "CertIssuerSubject") ||
                   *jstr(tls, "CertIssuerPublicKey")))
        r = buf_printf(
            out, "\nTLS Info:\n TrustRoot:\n%s\n Issuer Subject:\t%s\n Issuer Public Key:\t%s",
            jstr(tls, "TrustRoot"), jstr(tls, "CertIssuerSubject"),
            jstr(tls, "CertIssuerPublicKey"));
    if (r >= 0)
        r = buf_puts(out, "\n");
    return r;
}

int cli_node_spec_apply(json_t *spec, const struct cli_node_update *u, struct err *err)
{
    json_t *labels;

    if (!json_is_object(spec))
        return err_set(err, -EINVAL, "node has no spec");
    if (u->role) {
        char role[32];

        cli_capitalize(u->role, role, sizeof(role));
        role[0] = (char)tolower((unsigned char)role[0]);
        if (strcmp(role, "worker") != 0 && strcmp(role, "manager") != 0)
            return err_set(err, -EINVAL, "invalid role %s, only worker and manager are supported",
                           u->role);
        json_object_set_new(spec, "Role", json_string(role));
    }
    if (u->availability) {
        char av[32];

        cli_capitalize(u->availability, av, sizeof(av));
        av[0] = (char)tolower((unsigned char)av[0]);
        if (strcmp(av, "active") != 0 && strcmp(av, "pause") != 0 && strcmp(av, "drain") != 0)
            return err_set(err, -EINVAL,
                           "invalid availability %s, only active, pause and drain are supported",
                           u->availability);
        json_object_set_new(spec, "Availability", json_string(av));
    }
    labels = json_object_get(spec, "Labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(spec, "Labels", labels);
    }
    for (size_t i = 0; i < u->label_add.n; i++) {
        const char *kv = u->label_add.v[i], *eq = strchr(kv, '=');
        cleanup_free char *key = eq ? strndup(kv, (size_t)(eq - kv)) : strdup(kv);

        if (!key)
            return err_set(err, -ENOMEM, "out of memory");
        if (!*key)
            return err_set(err, -EINVAL, "invalid label '%s': empty key", kv);
        json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
    }
    for (size_t i = 0; i < u->label_rm.n; i++) {
        if (!json_object_get(labels, u->label_rm.v[i]))
            return err_set(err, -ENOENT, "key %s doesn't exist in node's labels", u->label_rm.v[i]);
        json_object_del(labels, u->label_rm.v[i]);
    }
    return 0;
}

int cli_join_command(json_t *swarm, const char *mgr_addr, bool worker, bool manager,
                     struct buf *out)
{
    json_t *tokens = json_object_get(swarm, "JoinTokens");
    int r = 0;

    if (worker)
        r = buf_printf(out,
                       "To add a worker to this swarm, run the following command:\n\n"
                       "    shoal swarm join --token %s %s\n\n",
                       jstr(tokens, "Worker"), mgr_addr);
    if (r >= 0 && manager)
        r = buf_printf(out,
                       "To add a manager to this swarm, run the following command:\n\n"
                       "    shoal swarm join --token %s %s\n\n",
                       jstr(tokens, "Manager"), mgr_addr);
    return r;
}

/* ---- API helpers ------------------------------------------------------- */

static int node_path(struct buf *p, const char *id, const char *suffix)
{
    int r = buf_puts(p, "/nodes/");

    if (r >= 0)
        r = cli_path_escape(p, id);
    if (r >= 0 && suffix)
        r = buf_puts(p, suffix);
    return r;
}

static int get_node(struct cli_ctx *ctx, const char *id, json_t **ret, struct err *err)
{
    struct buf p;
    int r;

    buf_init(&p);
    r = node_path(&p, id, NULL);
    if (r < 0)
        r = err_set(err, r, "out of memory");
    else
        r = cli_call(&ctx->client, "GET", p.data, NULL, NULL, ret, err);
    buf_release(&p);
    return r;
}

/* The node id of the daemon we talk to (GET /info Swarm.NodeID); "" when
 * the node is not in a swarm. */
static int self_node_id(struct cli_ctx *ctx, char *out, size_t outlen, struct err *err)
{
    json_t *info = NULL;
    int r = cli_call(&ctx->client, "GET", "/info", NULL, NULL, &info, err);

    if (r < 0)
        return r;
    (void)snprintf(out, outlen, "%s", jstr(json_object_get(info, "Swarm"), "NodeID"));
    json_decref(info);
    return 0;
}

/* The join command(s) for the node self_id, as docker prints them: nothing
 * if that node is not a manager. */
static int print_join_command(struct cli_ctx *ctx, const char *self_id, bool worker, bool manager,
                              struct err *err)
{
    json_t *node = NULL, *swarm = NULL, *ms;
    struct buf out;
    int r;

    r = get_node(ctx, self_id, &node, err);
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", "/swarm", NULL, NULL, &swarm, err);
    ms = json_object_get(node, "ManagerStatus");
    buf_init(&out);
    if (r >= 0 && json_is_object(ms)) {
        r = cli_join_command(swarm, jstr(ms, "Addr"), worker, manager, &out);
        if (r < 0)
            r = err_set(err, r, "out of memory");
        else if (out.len)
            r = cli_out(1, out.data, out.len);
    }
    buf_release(&out);
    json_decref(node);
    json_decref(swarm);
    return r;
}

/* POST /swarm/update?version=N&... with spec. */
static int swarm_update_call(struct cli_ctx *ctx, json_t *swarm, bool rot_worker, bool rot_manager,
                             struct err *err)
{
    char q[160];

    (void)snprintf(q, sizeof(q),
                   "version=%" JSON_INTEGER_FORMAT
                   "&rotateWorkerToken=%s&rotateManagerToken=%s&rotateManagerUnlockKey=false",
                   json_integer_value(json_object_get(json_object_get(swarm, "Version"), "Index")),
                   rot_worker ? "true" : "false", rot_manager ? "true" : "false");
    return cli_call(&ctx->client, "POST", "/swarm/update", q, json_object_get(swarm, "Spec"), NULL,
                    err);
}

static int bad_flag(const char *value, const char *flag, const char *why)
{
    fprintf(stderr, "invalid argument \"%s\" for \"--%s\" flag: %s\n", value, flag, why);
    return 125;
}

/* ---- swarm --------------------------------------------------------------- */

static int swarm_init(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *advertise = "", *listen = SW_DEFAULT_LISTEN, *availability = "active";
    bool force_new = false, avail_set = false;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("advertise-addr", 0, &advertise,
                        "Advertised address (format: \"<ip|interface>[:port]\")"),
        {.name = "listen-addr",
         .type = CLI_FLAG_STRING,
         .dest = &listen,
         .help = "Listen address (format: \"<ip|interface>[:port]\")",
         .defval = SW_DEFAULT_LISTEN},
        CLI_BOOL_FLAG("force-new-cluster", 0, &force_new,
                      "Force create a new cluster from current state"),
        {.name = "availability",
         .type = CLI_FLAG_STRING,
         .dest = &availability,
         .help = "Availability of the node (\"active\", \"pause\", \"drain\")",
         .defval = "\"active\"",
         .set = &avail_set},
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "swarm init", "[OPTIONS]", "Initialize a swarm", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    char listen_norm[300], av[32] = "";
    json_t *body, *out = NULL;
    cleanup_free char *node_id = NULL;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (cli_node_addr_normalize(listen, listen_norm, sizeof(listen_norm)) < 0)
        return bad_flag(listen, "listen-addr", "invalid address");
    if (avail_set) {
        cli_capitalize(availability, av, sizeof(av));
        av[0] = (char)tolower((unsigned char)av[0]);
        if (strcmp(av, "active") != 0 && strcmp(av, "pause") != 0 && strcmp(av, "drain") != 0) {
            fprintf(stderr,
                    "shoal: invalid availability \"%s\", only active, pause and drain are "
                    "supported\n",
                    availability);
            return 1;
        }
    }
    body =
        json_pack("{s:s, s:s, s:s, s:i, s:b, s:{s:n, s:{}, s:{s:i, s:i}, s:{}, s:{}, s:{}, "
                  "s:{s:b}}, s:b, s:s, s:[], s:i}",
                  "ListenAddr", listen_norm, "AdvertiseAddr", advertise, "DataPathAddr", "",
                  "DataPathPort", 0, "ForceNewCluster", force_new, "Spec", "Labels",
                  "Orchestration", "Raft", "ElectionTick", 0, "HeartbeatTick", 0, "Dispatcher",
                  "CAConfig", "TaskDefaults", "EncryptionConfig", "AutoLockManagers", 0,
                  "AutoLockManagers", 0, "Availability", av, "DefaultAddrPool", "SubnetSize", 24);
    if (!body)
        return oom();
    r = cli_call(&ctx->client, "POST", "/swarm/init", NULL, body, &out, &err);
    json_decref(body);
    if (r < 0)
        return fail(ctx, &err);
    node_id = strdup(json_string_value(out) ?: "");
    json_decref(out);
    if (!node_id)
        return oom();
    printf("Swarm initialized: current node (%s) is now a manager.\n\n", node_id);
    fflush(stdout);
    if (print_join_command(ctx, node_id, true, false, &err) < 0)
        return fail(ctx, &err);
    printf("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the "
           "instructions.\n\n");
    return 0;
}

static int swarm_join(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *token = NULL, *advertise = "", *listen = SW_DEFAULT_LISTEN,
               *availability = "active";
    bool avail_set = false;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("token", 0, &token, "Token for entry into the swarm"),
        CLI_STRING_FLAG("advertise-addr", 0, &advertise,
                        "Advertised address (format: \"<ip|interface>[:port]\")"),
        {.name = "listen-addr",
         .type = CLI_FLAG_STRING,
         .dest = &listen,
         .help = "Listen address (format: \"<ip|interface>[:port]\")",
         .defval = SW_DEFAULT_LISTEN},
        {.name = "availability",
         .type = CLI_FLAG_STRING,
         .dest = &availability,
         .help = "Availability of the node (\"active\", \"pause\", \"drain\")",
         .defval = "\"active\"",
         .set = &avail_set},
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"swarm join",
                                      "[OPTIONS] HOST:PORT",
                                      "Join a swarm as a node and/or manager",
                                      flags,
                                      false,
                                      1,
                                      1};
    struct cli_strv args;
    struct err err = {0};
    char listen_norm[300], av[32] = "";
    json_t *body, *info = NULL;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (cli_node_addr_normalize(listen, listen_norm, sizeof(listen_norm)) < 0) {
        cli_strv_release(&args);
        return bad_flag(listen, "listen-addr", "invalid address");
    }
    if (avail_set) {
        cli_capitalize(availability, av, sizeof(av));
        av[0] = (char)tolower((unsigned char)av[0]);
    }
    body = json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "ListenAddr", listen_norm, "AdvertiseAddr",
                     advertise, "DataPathAddr", "", "RemoteAddrs", args.v[0], "JoinToken",
                     token ? token : "", "Availability", av);
    cli_strv_release(&args);
    if (!body)
        return oom();
    r = cli_call(&ctx->client, "POST", "/swarm/join", NULL, body, NULL, &err);
    json_decref(body);
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", "/info", NULL, NULL, &info, &err);
    if (r < 0)
        return fail(ctx, &err);
    printf("This node joined a swarm as a %s.\n",
           json_is_true(json_object_get(json_object_get(info, "Swarm"), "ControlAvailable"))
               ? "manager"
               : "worker");
    json_decref(info);
    return 0;
}

static int swarm_leave(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("force", 'f', &force,
                      "Force this node to leave the swarm, ignoring warnings"),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "swarm leave", "[OPTIONS]", "Leave the swarm", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (cli_call(&ctx->client, "POST", "/swarm/leave", force ? "force=1" : NULL, NULL, NULL, &err) <
        0)
        return fail(ctx, &err);
    printf("Node left the swarm.\n");
    return 0;
}

static int swarm_join_token(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false, rotate = false, worker, manager;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("rotate", 0, &rotate, "Rotate join token"),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display token"),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "swarm join-token", "[OPTIONS] (worker|manager)", "Manage join tokens", flags, false, 1, 1};
    struct cli_strv args;
    struct err err = {0};
    char self[128];
    json_t *swarm = NULL;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    worker = strcmp(args.v[0], "worker") == 0;
    manager = strcmp(args.v[0], "manager") == 0;
    if (!worker && !manager) {
        fprintf(stderr, "shoal: unknown role %s\n", args.v[0]);
        cli_strv_release(&args);
        return 1;
    }
    cli_strv_release(&args);
    if (rotate) {
        if (cli_call(&ctx->client, "GET", "/swarm", NULL, NULL, &swarm, &err) < 0 ||
            swarm_update_call(ctx, swarm, worker, manager, &err) < 0) {
            json_decref(swarm);
            return fail(ctx, &err);
        }
        json_decref(swarm);
        swarm = NULL;
        if (!quiet)
            printf("Successfully rotated %s join token.\n\n", worker ? "worker" : "manager");
    }
    if (cli_call(&ctx->client, "GET", "/swarm", NULL, NULL, &swarm, &err) < 0)
        return fail(ctx, &err);
    if (quiet) {
        printf("%s\n", jstr(json_object_get(swarm, "JoinTokens"), worker ? "Worker" : "Manager"));
        json_decref(swarm);
        return 0;
    }
    json_decref(swarm);
    fflush(stdout);
    if (self_node_id(ctx, self, sizeof(self), &err) < 0 ||
        print_join_command(ctx, self, worker, manager, &err) < 0)
        return fail(ctx, &err);
    return 0;
}

static int swarm_update(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *heartbeat = "5s", *cert_expiry = "2160h0m0s";
    long long history = 5;
    bool hb_set = false, ce_set = false, hist_set = false;
    const struct cli_flag flags[] = {
        {.name = "task-history-limit",
         .type = CLI_FLAG_INT,
         .dest = &history,
         .help = "Task history retention limit",
         .defval = "5",
         .set = &hist_set},
        {.name = "dispatcher-heartbeat",
         .type = CLI_FLAG_STRING,
         .dest = &heartbeat,
         .help = "Dispatcher heartbeat period (ns|us|ms|s|m|h)",
         .defval = "5s",
         .set = &hb_set},
        {.name = "cert-expiry",
         .type = CLI_FLAG_STRING,
         .dest = &cert_expiry,
         .help = "Validity period for node certificates (ns|us|ms|s|m|h)",
         .defval = "2160h0m0s",
         .set = &ce_set},
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "swarm update", "[OPTIONS]", "Update the swarm", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    int64_t hb_ns = 0, ce_ns = 0;
    json_t *swarm = NULL, *sp;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (hb_set && cli_go_duration_parse(heartbeat, &hb_ns) < 0)
        return bad_flag(heartbeat, "dispatcher-heartbeat", "time: invalid duration");
    if (ce_set && cli_go_duration_parse(cert_expiry, &ce_ns) < 0)
        return bad_flag(cert_expiry, "cert-expiry", "time: invalid duration");
    if (cli_call(&ctx->client, "GET", "/swarm", NULL, NULL, &swarm, &err) < 0)
        return fail(ctx, &err);
    sp = json_object_get(swarm, "Spec");
    if (!json_is_object(sp)) {
        sp = json_object();
        json_object_set_new(swarm, "Spec", sp);
    }
#define SUBOBJ(name)                                                                               \
    (json_is_object(json_object_get(sp, name))                                                     \
         ? json_object_get(sp, name)                                                               \
         : (json_object_set_new(sp, name, json_object()), json_object_get(sp, name)))
    if (hist_set)
        json_object_set_new(SUBOBJ("Orchestration"), "TaskHistoryRetentionLimit",
                            json_integer(history));
    if (hb_set)
        json_object_set_new(SUBOBJ("Dispatcher"), "HeartbeatPeriod", json_integer(hb_ns));
    if (ce_set)
        json_object_set_new(SUBOBJ("CAConfig"), "NodeCertExpiry", json_integer(ce_ns));
#undef SUBOBJ
    r = swarm_update_call(ctx, swarm, false, false, &err);
    json_decref(swarm);
    if (r < 0)
        return fail(ctx, &err);
    printf("Swarm updated.\n");
    return 0;
}

static int swarm_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {SW_END_FLAGS};
    const struct cli_cmd_spec spec = {
        "swarm inspect", "", "Display the swarm object (GET /swarm) as JSON", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    json_t *swarm = NULL;
    char *s;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (cli_call(&ctx->client, "GET", "/swarm", NULL, NULL, &swarm, &err) < 0)
        return fail(ctx, &err);
    s = json_dumps(swarm, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    json_decref(swarm);
    if (!s)
        return oom();
    printf("%s\n", s);
    free(s);
    return 0;
}

int cli_cmd_swarm(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : NULL;

    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        printf("\nUsage:  shoal swarm COMMAND\n\nManage Swarm\n\nCommands:\n"
               "  init        Initialize a swarm\n"
               "  inspect     Display the swarm object as JSON\n"
               "  join        Join a swarm as a node and/or manager\n"
               "  join-token  Manage join tokens\n"
               "  leave       Leave the swarm\n"
               "  update      Update the swarm\n"
               "\nRun 'shoal swarm COMMAND --help' for more information on a command.\n");
        return 0;
    }
    if (strcmp(sub, "init") == 0)
        return swarm_init(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "join") == 0)
        return swarm_join(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "leave") == 0)
        return swarm_leave(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "join-token") == 0)
        return swarm_join_token(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "update") == 0)
        return swarm_update(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "inspect") == 0)
        return swarm_inspect(ctx, argc - 1, argv + 1);
    fprintf(stderr,
            "shoal: unknown command: shoal swarm %s\n\nRun 'shoal swarm --help' for more "
            "information\n",
            sub);
    return 1;
}

/* ---- node ---------------------------------------------------------------- */

static int filters_query(const struct cli_strv *filters, struct buf *q)
{
    json_t *f = json_object();
    int r = 0;

    if (!f)
        return -ENOMEM;
    for (size_t i = 0; i < filters->n; i++) {
        const char *eq = strchr(filters->v[i], '=');
        char key[64];

        if (!eq) {
            json_decref(f);
            fprintf(stderr, "shoal: bad format of filter (expected name=value)\n");
            return -EINVAL;
        }
        (void)snprintf(key, sizeof(key), "%.*s", (int)(eq - filters->v[i]), filters->v[i]);
        if (!json_object_get(f, key))
            json_object_set_new(f, key, json_object());
        json_object_set_new(json_object_get(f, key), eq + 1, json_true());
    }
    if (json_object_size(f)) {
        char *s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);

        r = s ? cli_query_add(q, "filters", s) : -ENOMEM;
        free(s);
    }
    json_decref(f);
    return r;
}

static int node_ls(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false;
    struct cli_strv filters = {0};
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display IDs"),
        CLI_FLAG_FILTER(&filters),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "node ls", "[OPTIONS]", "List nodes in the swarm", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    struct buf q, out;
    char self[128] = "";
    json_t *nodes = NULL;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    buf_init(&q);
    r = filters_query(&filters, &q);
    cli_strv_release(&filters);
    if (r < 0) {
        buf_release(&q);
        return r == -ENOMEM ? oom() : 1;
    }
    r = cli_call(&ctx->client, "GET", "/nodes", q.data, NULL, &nodes, &err);
    buf_release(&q);
    if (r >= 0 && json_array_size(nodes) && !quiet)
        r = self_node_id(ctx, self, sizeof(self), &err);
    if (r < 0) {
        json_decref(nodes);
        return fail(ctx, &err);
    }
    buf_init(&out);
    r = cli_node_ls_render(nodes, self, quiet, &out);
    json_decref(nodes);
    if (r >= 0 && out.len)
        r = cli_out(1, out.data, out.len);
    buf_release(&out);
    return r < 0 ? oom() : 0;
}

/* Resolve "self" through /info (once, cached in self). */
static int resolve_node(struct cli_ctx *ctx, const char *arg, char *self, size_t selflen,
                        const char **ret, struct err *err)
{
    if (strcmp(arg, "self") != 0) {
        *ret = arg;
        return 0;
    }
    if (!*self) {
        int r = self_node_id(ctx, self, selflen, err);

        if (r < 0)
            return r;
        if (!*self)
            return err_set(err, -EINVAL,
                           "This node is not a swarm manager. Use \"shoal swarm "
                           "init\" or \"shoal swarm join\" to connect this node to "
                           "swarm and try again.");
    }
    *ret = self;
    return 0;
}

static int node_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *format = NULL;
    bool pretty = false;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("format", 'f', &format, "Format output using a custom template"),
        CLI_BOOL_FLAG("pretty", 0, &pretty, "Print the information in a human friendly format"),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"node inspect",
                                      "[OPTIONS] self|NODE [NODE...]",
                                      "Display detailed information on one or more nodes",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct buf out;
    char self[128] = "";
    json_t *all = json_array();
    int ex, rc, status = 0;

    if (!all)
        return oom();
    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        json_decref(all);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    buf_init(&out);
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        const char *id;
        json_t *node = NULL;
        int r = resolve_node(ctx, args.v[i], self, sizeof(self), &id, &err);

        if (r >= 0)
            r = get_node(ctx, id, &node, &err);
        if (r < 0) {
            cli_print_err(ctx, &err);
            status = 1;
            continue;
        }
        if (pretty) {
            if (out.len)
                (void)buf_puts(&out, "\n\n");
            if (cli_node_pretty(node, &out) < 0)
                status = 1;
            json_decref(node);
        } else if (format) {
            if (cli_template_exec(format, node, &out, &err) < 0) {
                cli_print_err(ctx, &err);
                status = 1;
            } else {
                (void)buf_puts(&out, "\n");
            }
            json_decref(node);
        } else {
            json_array_append_new(all, node);
        }
    }
    cli_strv_release(&args);
    cli_inspect_print(all, !pretty && !format, &out);
    buf_release(&out);
    json_decref(all);
    return status;
}

/* GET the node, apply u to its spec, POST it back with the version read. */
static int node_update_one(struct cli_ctx *ctx, const char *id, const struct cli_node_update *u,
                           const char *want_role, bool *ret_noop, struct err *err)
{
    json_t *node = NULL, *spec;
    struct buf p;
    char q[64];
    int r;

    *ret_noop = false;
    r = get_node(ctx, id, &node, err);
    if (r < 0)
        return r;
    spec = json_object_get(node, "Spec");
    if (want_role && strcmp(jstr(spec, "Role"), want_role) == 0) {
        *ret_noop = true;
        json_decref(node);
        return 0;
    }
    r = cli_node_spec_apply(spec, u, err);
    if (r < 0) {
        json_decref(node);
        return r;
    }
    (void)snprintf(q, sizeof(q), "version=%" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(json_object_get(node, "Version"), "Index")));
    buf_init(&p);
    r = node_path(&p, *jstr(node, "ID") ? jstr(node, "ID") : id, "/update");
    if (r < 0)
        r = err_set(err, r, "out of memory");
    else
        r = cli_call(&ctx->client, "POST", p.data, q, spec, NULL, err);
    buf_release(&p);
    json_decref(node);
    return r;
}

static int node_update(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_node_update u = {0};
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("availability", 0, &u.availability,
                        "Availability of the node (\"active\", \"pause\", \"drain\")"),
        CLI_LIST_FLAG("label-add", 0, &u.label_add, "Add or update a node label (key=value)"),
        CLI_LIST_FLAG("label-rm", 0, &u.label_rm, "Remove a node label if exists"),
        CLI_STRING_FLAG("role", 0, &u.role, "Role of the node (\"worker\", \"manager\")"),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "node update", "[OPTIONS] NODE", "Update a node", flags, false, 1, 1};
    struct cli_strv args;
    struct err err = {0};
    bool noop;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    r = node_update_one(ctx, args.v[0], &u, NULL, &noop, &err);
    if (r >= 0)
        printf("%s\n", args.v[0]);
    cli_strv_release(&args);
    cli_strv_release(&u.label_add);
    cli_strv_release(&u.label_rm);
    return r < 0 ? fail(ctx, &err) : 0;
}

static int node_role(struct cli_ctx *ctx, int argc, char **argv, bool promote)
{
    const struct cli_flag flags[] = {SW_END_FLAGS};
    const struct cli_cmd_spec spec = {promote ? "node promote" : "node demote",
                                      "NODE [NODE...]",
                                      promote
                                          ? "Promote one or more nodes to manager in the swarm"
                                          : "Demote one or more nodes from manager in the swarm",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_node_update u = {.role = promote ? "manager" : "worker"};
    struct cli_strv args;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        bool noop;

        /* like docker: stop at the first failure */
        if (node_update_one(ctx, args.v[i], &u, u.role, &noop, &err) < 0) {
            cli_strv_release(&args);
            return fail(ctx, &err);
        }
        if (noop)
            printf("Node %s is already a %s.\n", args.v[i], u.role);
        else if (promote)
            printf("Node %s promoted to a manager in the swarm.\n", args.v[i]);
        else
            printf("Manager %s demoted in the swarm.\n", args.v[i]);
    }
    cli_strv_release(&args);
    return 0;
}

static int node_rm(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("force", 'f', &force, "Force remove a node from the swarm"),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"node rm",
                                      "[OPTIONS] NODE [NODE...]",
                                      "Remove one or more nodes from the swarm",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    int ex, rc, status = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        struct buf p;
        int r;

        buf_init(&p);
        r = node_path(&p, args.v[i], NULL);
        if (r < 0)
            r = err_set(&err, r, "out of memory");
        else
            r = cli_call(&ctx->client, "DELETE", p.data, force ? "force=1" : NULL, NULL, NULL,
                         &err);
        buf_release(&p);
        if (r < 0) {
            cli_print_err(ctx, &err);
            status = 1;
        } else {
            printf("%s\n", args.v[i]);
        }
    }
    cli_strv_release(&args);
    return status;
}

static int node_ps(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false, no_trunc = false, no_resolve = false;
    struct cli_strv filters = {0};
    const char *format = NULL;
    const struct cli_flag flags[] = {
        CLI_FLAG_FILTER(&filters),
        CLI_STRING_FLAG("format", 0, &format, "Pretty-print tasks"),
        CLI_FLAG_NO_RESOLVE(&no_resolve),
        CLI_FLAG_NO_TRUNC(&no_trunc),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display task IDs"),
        SW_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "node ps",
        "[OPTIONS] [NODE...]",
        "List tasks running on one or more nodes, defaults to current node",
        flags,
        false,
        0,
        -1};
    struct cli_strv args;
    char self[128] = "";
    struct err err = {0};
    json_t *ids = json_object(), *extra = json_object();
    int ex, rc, status = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        json_decref(ids);
        json_decref(extra);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    for (size_t i = 0; ids && i < (args.n ? args.n : 1); i++) {
        const char *id;
        json_t *node = NULL;
        int r = resolve_node(ctx, args.n ? args.v[i] : "self", self, sizeof(self), &id, &err);

        if (r >= 0)
            r = get_node(ctx, id, &node, &err);
        if (r >= 0)
            json_object_set_new(ids, json_string_value(json_object_get(node, "ID")) ?: id,
                                json_true());
        json_decref(node);
        if (r < 0) {
            cli_print_err(ctx, &err);
            status = 1;
        }
    }
    if (status == 0 && ids && extra) {
        json_object_set(extra, "node", ids);
        if (cli_tasks_print_filtered(ctx, &filters, extra, quiet, no_trunc, no_resolve, format,
                                     &err) < 0) {
            cli_print_err(ctx, &err);
            status = 1;
        }
    }
    json_decref(ids);
    json_decref(extra);
    cli_strv_release(&filters);
    cli_strv_release(&args);
    return status;
}

int cli_cmd_node(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : NULL;

    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        printf("\nUsage:  shoal node COMMAND\n\nManage Swarm nodes\n\nCommands:\n"
               "  demote      Demote one or more nodes from manager in the swarm\n"
               "  inspect     Display detailed information on one or more nodes\n"
               "  ls          List nodes in the swarm\n"
               "  promote     Promote one or more nodes to manager in the swarm\n"
               "  ps          List tasks running on one or more nodes (header only until "
               "services exist)\n"
               "  rm          Remove one or more nodes from the swarm\n"
               "  update      Update a node\n"
               "\nRun 'shoal node COMMAND --help' for more information on a command.\n");
        return 0;
    }
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return node_ls(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "inspect") == 0)
        return node_inspect(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "update") == 0)
        return node_update(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "promote") == 0)
        return node_role(ctx, argc - 1, argv + 1, true);
    if (strcmp(sub, "demote") == 0)
        return node_role(ctx, argc - 1, argv + 1, false);
    if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0)
        return node_rm(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "ps") == 0)
        return node_ps(ctx, argc - 1, argv + 1);
    fprintf(stderr,
            "shoal: unknown command: shoal node %s\n\nRun 'shoal node --help' for more "
            "information\n",
            sub);
    return 1;
}
