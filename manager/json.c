/*
 * manager/json.c - Engine API JSON for swarm objects and request parsing.
 */
#include "manager/json.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "manager/ca.h"
#include "manager/internal.h"

/* ---- names ---------------------------------------------------------------- */

const char *mgr_role_str(int role)
{
    return role == MGR_ROLE_MANAGER ? "manager" : "worker";
}

const char *mgr_availability_str(int a)
{
    switch (a) {
    case SHOAL__STORE__NODE_AVAILABILITY__AVAIL_PAUSE:
        return "pause";
    case SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN:
        return "drain";
    default:
        return "active";
    }
}

const char *mgr_node_state_str(int s)
{
    switch (s) {
    case SHOAL__STORE__NODE_STATE__STATE_DOWN:
        return "down";
    case SHOAL__STORE__NODE_STATE__STATE_READY:
        return "ready";
    case SHOAL__STORE__NODE_STATE__STATE_DISCONNECTED:
        return "disconnected";
    default:
        return "unknown";
    }
}

const char *mgr_reachability_str(int r)
{
    switch (r) {
    case SHOAL__STORE__REACHABILITY__REACH_UNREACHABLE:
        return "unreachable";
    case SHOAL__STORE__REACHABILITY__REACH_REACHABLE:
        return "reachable";
    default:
        return "unknown";
    }
}

int mgr_parse_role(const char *s, int *ret, struct err *err)
{
    if (s && strcasecmp(s, "worker") == 0)
        *ret = MGR_ROLE_WORKER;
    else if (s && strcasecmp(s, "manager") == 0)
        *ret = MGR_ROLE_MANAGER;
    else
        return err_set(err, -EINVAL, "invalid Role: \"%s\"", s ? s : "");
    return 0;
}

int mgr_parse_availability(const char *s, bool empty_ok, int *ret, struct err *err)
{
    if (((!s || !s[0]) && empty_ok) || (s && strcasecmp(s, "active") == 0))
        *ret = SHOAL__STORE__NODE_AVAILABILITY__AVAIL_ACTIVE;
    else if (s && strcasecmp(s, "pause") == 0)
        *ret = SHOAL__STORE__NODE_AVAILABILITY__AVAIL_PAUSE;
    else if (s && strcasecmp(s, "drain") == 0)
        *ret = SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN;
    else
        return err_set(err, -EINVAL, "invalid Availability: \"%s\"", s ? s : "");
    return 0;
}

int mgr_parse_version(const char *what, const char *s, uint64_t *ret, struct err *err)
{
    if (!s || parse_u64(s, ret) < 0)
        return err_set(err, -EINVAL,
                       "invalid %s version '%s': strconv.ParseUint: parsing \"%s\": invalid syntax",
                       what, s ? s : "", s ? s : "");
    return 0;
}

/* ---- views ---------------------------------------------------------------- */

static json_t *jtime(int64_t ns)
{
    char buf[40];

    time_fmt_rfc3339(ns, buf);
    return json_string(buf);
}

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");

    /* the store only holds UTF-8, but never drop a field silently */
    return j ? j : json_string("");
}

static json_t *jlabels(Shoal__Store__Label **labels, size_t n)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, labels[i]->key, jstr(labels[i]->value));
    return o;
}

static json_t *jversion(const Shoal__Store__Meta *m)
{
    return json_pack("{s:I}", "Index", (json_int_t)(m ? m->version : 0));
}

static void set_meta(json_t *o, const char *id, const Shoal__Store__Meta *m)
{
    json_object_set_new(o, "ID", jstr(id));
    json_object_set_new(o, "Version", jversion(m));
    json_object_set_new(o, "CreatedAt", jtime(m ? m->created_at_ns : 0));
    json_object_set_new(o, "UpdatedAt", jtime(m ? m->updated_at_ns : 0));
}

/* The root's subject and key, decoded once per root: parsing the PEM costs
 * far more than the rest of a node object (every GET /nodes/{id} needs it).
 * A mutex, not loop-only state, as the helper may run on any thread. */
static struct {
    pthread_mutex_t lock;
    char *pem, *subj, *pub;
    char *frag; /* the TLSInfo object as compact JSON text (mgr_json_node_text) */
} tls_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static json_t *jtls_pack(const char *pem, const char *subj, const char *pub)
{
    return json_pack("{s:s,s:s,s:s}", "TrustRoot", pem, "CertIssuerSubject", subj,
                     "CertIssuerPublicKey", pub);
}

static json_t *jtls_info(const char *ca_pem)
{
    char *subj = NULL, *pub = NULL, *copy;
    json_t *o;

    if (!ca_pem || !ca_pem[0])
        return jtls_pack("", "", "");
    pthread_mutex_lock(&tls_cache.lock);
    if (tls_cache.pem && strcmp(tls_cache.pem, ca_pem) == 0) {
        o = jtls_pack(ca_pem, tls_cache.subj, tls_cache.pub);
        pthread_mutex_unlock(&tls_cache.lock);
        return o;
    }
    pthread_mutex_unlock(&tls_cache.lock);
    if (mgr_ca_tls_info(ca_pem, &subj, &pub, NULL) < 0)
        return jtls_pack("", "", "");
    o = jtls_pack(ca_pem, subj, pub);
    copy = strdup(ca_pem);
    if (copy) {
        pthread_mutex_lock(&tls_cache.lock);
        free(tls_cache.pem);
        free(tls_cache.subj);
        free(tls_cache.pub);
        free(tls_cache.frag);
        tls_cache.frag = json_dumps(o, JSON_COMPACT);
        tls_cache.pem = copy;
        tls_cache.subj = subj;
        tls_cache.pub = pub;
        pthread_mutex_unlock(&tls_cache.lock);
    } else {
        free(subj);
        free(pub);
    }
    return o;
}

json_t *mgr_json_node(const MgrNode *n, const struct mgr_json_ctx *ctx)
{
    json_t *o = json_object(), *spec, *desc, *st;

    if (!o)
        return NULL;
    set_meta(o, n->id, n->meta);

    spec = json_object();
    if (n->spec && n->spec->name[0])
        json_object_set_new(spec, "Name", jstr(n->spec->name));
    json_object_set_new(spec, "Labels",
                        n->spec ? jlabels(n->spec->labels, n->spec->n_labels) : json_object());
    json_object_set_new(spec, "Role", json_string(mgr_role_str(n->spec ? n->spec->role : 0)));
    json_object_set_new(spec, "Availability",
                        json_string(mgr_availability_str(n->spec ? n->spec->availability : 0)));
    json_object_set_new(o, "Spec", spec);

    desc = json_object();
    if (n->description) {
        const MgrNodeDescription *d = n->description;
        json_t *engine = json_object(), *plugins = json_array();

        json_object_set_new(desc, "Hostname", jstr(d->hostname));
        json_object_set_new(
            desc, "Platform",
            json_pack("{s:o,s:o}", "Architecture", jstr(d->architecture), "OS", jstr(d->os)));
        json_object_set_new(desc, "Resources",
                            json_pack("{s:I,s:I}", "NanoCPUs", (json_int_t)d->nano_cpus,
                                      "MemoryBytes", (json_int_t)d->memory_bytes));
        json_object_set_new(engine, "EngineVersion", jstr(d->engine_version));
        if (d->n_engine_labels)
            json_object_set_new(engine, "Labels", jlabels(d->engine_labels, d->n_engine_labels));
        for (size_t i = 0; i < d->n_plugins; i++)
            json_array_append_new(plugins, json_pack("{s:o,s:o}", "Type", jstr(d->plugins[i]->type),
                                                     "Name", jstr(d->plugins[i]->name)));
        if (d->n_plugins)
            json_object_set_new(engine, "Plugins", plugins);
        else
            json_decref(plugins);
        json_object_set_new(desc, "Engine", engine);
    }
    if (ctx && ctx->ca_cert_pem)
        json_object_set_new(desc, "TLSInfo", jtls_info(ctx->ca_cert_pem));
    json_object_set_new(o, "Description", desc);

    st = json_object();
    json_object_set_new(st, "State",
                        json_string(mgr_node_state_str(n->status ? n->status->state : 0)));
    if (n->status && n->status->message[0])
        json_object_set_new(st, "Message", jstr(n->status->message));
    json_object_set_new(st, "Addr", jstr(n->status ? n->status->addr : ""));
    json_object_set_new(o, "Status", st);

    if (n->role == MGR_ROLE_MANAGER && n->manager_status) {
        const MgrManagerStatus *ms = n->manager_status;
        bool leader = ctx && ctx->is_leader ? ctx->is_leader(ctx->ud, n) : ms->leader;
        int reach =
            ctx && ctx->reachability ? ctx->reachability(ctx->ud, n) : (int)ms->reachability;
        json_t *m = json_object();

        if (leader)
            json_object_set_new(m, "Leader", json_true());
        json_object_set_new(m, "Reachability", json_string(mgr_reachability_str(reach)));
        json_object_set_new(m, "Addr", jstr(ms->addr));
        json_object_set_new(o, "ManagerStatus", m);
    }
    return o;
}

/* ---- node views as text ---------------------------------------------------- */

/* GET /nodes/{id} is on the path of every `docker node update`: building the
 * jansson tree and dumping it took a quarter of the leader's loop under
 * load. The text writer below emits the same bytes as
 * json_dumps(mgr_json_node(), JSON_COMPACT) (test_mgr_json.c compares them),
 * escaping as jansson does; strings that are not UTF-8 become "" as jstr()
 * makes them, and label keys that are not UTF-8 are left out as jansson
 * refuses them. */

static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n, i;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_seq_len(p);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

struct tw {
    struct buf *b;
    int err;
};

static void tw_mem(struct tw *w, const char *s, size_t n)
{
    if (!w->err && buf_append(w->b, s, n) < 0)
        w->err = -ENOMEM;
}

static void tw_raw(struct tw *w, const char *s)
{
    tw_mem(w, s, strlen(s));
}

/* a string literal, its length known at compile time */
#define TW_LIT(w, lit) tw_mem((w), "" lit, sizeof(lit) - 1)

/* Printable ASCII without '"' and '\\': written as it is. */
static bool plain_ascii(const char *s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++)
        if (*p < 0x20 || *p >= 0x80 || *p == '"' || *p == '\\')
            return false;
    *len = (size_t)(p - (const unsigned char *)s);
    return true;
}

static void tw_str(struct tw *w, const char *s)
{
    const char *run;
    char esc[8];
    size_t n;

    if (s && plain_ascii(s, &n)) { /* nearly every string: copied whole */
        TW_LIT(w, "\"");
        tw_mem(w, s, n);
        TW_LIT(w, "\"");
        return;
    }
    if (!s || !utf8_valid(s))
        s = "";
    TW_LIT(w, "\"");
    for (run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c && c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (s > run && !w->err && buf_append(w->b, run, (size_t)(s - run)) < 0)
            w->err = -ENOMEM;
        if (!c)
            break;
        switch (c) {
        case '"':
            TW_LIT(w, "\\\"");
            break;
        case '\\':
            TW_LIT(w, "\\\\");
            break;
        case '\b':
            TW_LIT(w, "\\b");
            break;
        case '\f':
            TW_LIT(w, "\\f");
            break;
        case '\n':
            TW_LIT(w, "\\n");
            break;
        case '\r':
            TW_LIT(w, "\\r");
            break;
        case '\t':
            TW_LIT(w, "\\t");
            break;
        default:
            (void)snprintf(esc, sizeof(esc), "\\u%04X", c);
            tw_raw(w, esc);
        }
        run = s + 1;
    }
    TW_LIT(w, "\"");
}

/* "key":"value" with a leading comma unless first */
static void tw_kv(struct tw *w, bool first, const char *k, const char *v)
{
    if (!first)
        TW_LIT(w, ",");
    tw_str(w, k);
    TW_LIT(w, ":");
    tw_str(w, v);
}

static void tw_int(struct tw *w, long long v)
{
    char num[32];

    (void)snprintf(num, sizeof(num), "%lld", v);
    tw_raw(w, num);
}

static void tw_time(struct tw *w, int64_t ns)
{
    char t[40];

    time_fmt_rfc3339(ns, t);
    tw_str(w, t);
}

/* an object of labels, as jlabels() builds it: the first place of a key,
 * the last value given for it */
static void tw_labels(struct tw *w, Shoal__Store__Label **labels, size_t n)
{
    bool first = true;

    TW_LIT(w, "{");
    for (size_t i = 0; i < n; i++) {
        const char *k = labels[i]->key, *v = labels[i]->value;
        bool seen = false;
        if (!k || !utf8_valid(k))
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen = labels[j]->key && strcmp(labels[j]->key, k) == 0;
        if (seen)
            continue;
        for (size_t j = i + 1; j < n; j++)
            if (labels[j]->key && strcmp(labels[j]->key, k) == 0)
                v = labels[j]->value;
        tw_kv(w, first, k, v);
        first = false;
    }
    TW_LIT(w, "}");
}

static void tw_tls(struct tw *w, const char *ca_pem)
{
    json_t *o;
    char *s;

    pthread_mutex_lock(&tls_cache.lock);
    if (ca_pem[0] && tls_cache.frag && tls_cache.pem && strcmp(tls_cache.pem, ca_pem) == 0) {
        tw_raw(w, tls_cache.frag);
        pthread_mutex_unlock(&tls_cache.lock);
        return;
    }
    pthread_mutex_unlock(&tls_cache.lock);
    o = jtls_info(ca_pem); /* fills the cache */
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        w->err = -ENOMEM;
        return;
    }
    tw_raw(w, s);
    free(s);
}

int mgr_json_node_text(struct buf *b, const MgrNode *n, const struct mgr_json_ctx *ctx)
{
    struct tw w = {.b = b};
    const MgrNodeSpec *sp = n->spec;

    if (buf_reserve(b, 2048) < 0) /* a node is ~1.5 KiB: no regrowth */
        return -ENOMEM;

    TW_LIT(&w, "{\"ID\":");
    tw_str(&w, n->id);
    TW_LIT(&w, ",\"Version\":{\"Index\":");
    tw_int(&w, (long long)(n->meta ? n->meta->version : 0));
    TW_LIT(&w, "},\"CreatedAt\":");
    tw_time(&w, n->meta ? n->meta->created_at_ns : 0);
    TW_LIT(&w, ",\"UpdatedAt\":");
    tw_time(&w, n->meta ? n->meta->updated_at_ns : 0);

    TW_LIT(&w, ",\"Spec\":{");
    if (sp && sp->name[0]) {
        tw_kv(&w, true, "Name", sp->name);
        TW_LIT(&w, ",");
    }
    TW_LIT(&w, "\"Labels\":");
    tw_labels(&w, sp ? sp->labels : NULL, sp ? sp->n_labels : 0);
    tw_kv(&w, false, "Role", mgr_role_str(sp ? sp->role : 0));
    tw_kv(&w, false, "Availability", mgr_availability_str(sp ? sp->availability : 0));
    TW_LIT(&w, "},\"Description\":{");
    if (n->description) {
        const MgrNodeDescription *d = n->description;
        tw_kv(&w, true, "Hostname", d->hostname);
        TW_LIT(&w, ",\"Platform\":{");
        tw_kv(&w, true, "Architecture", d->architecture);
        tw_kv(&w, false, "OS", d->os);
        TW_LIT(&w, "},\"Resources\":{\"NanoCPUs\":");
        tw_int(&w, (long long)d->nano_cpus);
        TW_LIT(&w, ",\"MemoryBytes\":");
        tw_int(&w, (long long)d->memory_bytes);
        TW_LIT(&w, "},\"Engine\":{");
        tw_kv(&w, true, "EngineVersion", d->engine_version);
        if (d->n_engine_labels) {
            TW_LIT(&w, ",\"Labels\":");
            tw_labels(&w, d->engine_labels, d->n_engine_labels);
        }
        if (d->n_plugins) {
            TW_LIT(&w, ",\"Plugins\":[");
            for (size_t i = 0; i < d->n_plugins; i++) {
                tw_raw(&w, i ? ",{" : "{");
                tw_kv(&w, true, "Type", d->plugins[i]->type);
                tw_kv(&w, false, "Name", d->plugins[i]->name);
                TW_LIT(&w, "}");
            }
            TW_LIT(&w, "]");
        }
        TW_LIT(&w, "}");
    }
    if (ctx && ctx->ca_cert_pem) {
        tw_raw(&w, n->description ? ",\"TLSInfo\":" : "\"TLSInfo\":");
        tw_tls(&w, ctx->ca_cert_pem);
    }
    TW_LIT(&w, "},\"Status\":{");
    tw_kv(&w, true, "State", mgr_node_state_str(n->status ? n->status->state : 0));
    if (n->status && n->status->message[0])
        tw_kv(&w, false, "Message", n->status->message);
    tw_kv(&w, false, "Addr", n->status ? n->status->addr : "");
    TW_LIT(&w, "}");
    if (n->role == MGR_ROLE_MANAGER && n->manager_status) {
        const MgrManagerStatus *ms = n->manager_status;
        bool leader = ctx && ctx->is_leader ? ctx->is_leader(ctx->ud, n) : ms->leader;
        int reach =
            ctx && ctx->reachability ? ctx->reachability(ctx->ud, n) : (int)ms->reachability;
        TW_LIT(&w, ",\"ManagerStatus\":{");
        if (leader)
            TW_LIT(&w, "\"Leader\":true,");
        tw_kv(&w, true, "Reachability", mgr_reachability_str(reach));
        tw_kv(&w, false, "Addr", ms->addr);
        TW_LIT(&w, "}");
    }
    TW_LIT(&w, "}");
    return w.err;
}

json_t *mgr_json_cluster(const MgrCluster *c, bool with_tokens)
{
    const MgrClusterSpec *sp = c->spec;
    json_t *o = json_object(), *spec, *pool, *td;

    if (!o)
        return NULL;
    set_meta(o, c->id, c->meta);
    spec = json_object();
    json_object_set_new(spec, "Name", jstr(sp ? sp->name : "default"));
    json_object_set_new(spec, "Labels", sp ? jlabels(sp->labels, sp->n_labels) : json_object());
    if (sp) {
        json_object_set_new(spec, "Orchestration",
                            json_pack("{s:I}", "TaskHistoryRetentionLimit",
                                      (json_int_t)sp->task_history_retention_limit));
        json_object_set_new(
            spec, "Raft",
            json_pack("{s:I,s:I,s:I,s:i,s:i}", "SnapshotInterval",
                      (json_int_t)sp->snapshot_interval, "KeepOldSnapshots",
                      (json_int_t)sp->keep_old_snapshots, "LogEntriesForSlowFollowers",
                      (json_int_t)sp->log_entries_for_slow_followers, "ElectionTick",
                      (int)sp->election_tick, "HeartbeatTick", (int)sp->heartbeat_tick));
        json_object_set_new(
            spec, "Dispatcher",
            json_pack("{s:I}", "HeartbeatPeriod", (json_int_t)sp->heartbeat_period_ns));
        json_object_set_new(
            spec, "CAConfig",
            json_pack("{s:I}", "NodeCertExpiry", (json_int_t)sp->node_cert_expiry_ns));
        td = json_object();
        if (sp->task_log_driver[0])
            json_object_set_new(td, "LogDriver",
                                json_pack("{s:o}", "Name", jstr(sp->task_log_driver)));
        json_object_set_new(spec, "TaskDefaults", td);
        json_object_set_new(spec, "EncryptionConfig",
                            json_pack("{s:b}", "AutoLockManagers", (int)sp->autolock_managers));
    }
    json_object_set_new(o, "Spec", spec);
    json_object_set_new(o, "TLSInfo", jtls_info(c->ca_cert_pem));
    json_object_set_new(o, "RootRotationInProgress", json_false());
    if (c->n_default_addr_pool) {
        pool = json_array();
        for (size_t i = 0; i < c->n_default_addr_pool; i++)
            json_array_append_new(pool, jstr(c->default_addr_pool[i]));
    } else {
        pool = json_null();
    }
    json_object_set_new(o, "DefaultAddrPool", pool);
    json_object_set_new(o, "SubnetSize", json_integer(c->subnet_size ? c->subnet_size : 24));
    json_object_set_new(o, "DataPathPort",
                        json_integer(c->data_path_port ? c->data_path_port : 4789));
    if (with_tokens)
        json_object_set_new(o, "JoinTokens",
                            json_pack("{s:o,s:o}", "Worker", jstr(c->worker_token), "Manager",
                                      jstr(c->manager_token)));
    return o;
}

json_t *mgr_json_info_swarm(const struct mgr_info_swarm *in)
{
    json_t *o = json_object(), *rm;

    if (!o)
        return NULL;
    json_object_set_new(o, "NodeID", jstr(in->node_id));
    json_object_set_new(o, "NodeAddr", jstr(in->node_addr));
    json_object_set_new(o, "LocalNodeState",
                        jstr(in->local_node_state ? in->local_node_state : "inactive"));
    json_object_set_new(o, "ControlAvailable", json_boolean(in->control_available));
    json_object_set_new(o, "Error", jstr(in->error));
    if (in->remote_managers) {
        rm = json_array();
        for (size_t i = 0; i < in->n_remote_managers; i++)
            json_array_append_new(rm, json_pack("{s:o,s:o}", "NodeID",
                                                jstr(in->remote_managers[i].node_id), "Addr",
                                                jstr(in->remote_managers[i].addr)));
    } else {
        rm = json_null();
    }
    json_object_set_new(o, "RemoteManagers", rm);
    if (in->control_available) {
        json_object_set_new(o, "Nodes", json_integer((json_int_t)in->nodes));
        json_object_set_new(o, "Managers", json_integer((json_int_t)in->managers));
        json_object_set_new(o, "Cluster",
                            in->cluster ? mgr_json_cluster(in->cluster, false) : json_null());
    }
    return o;
}

/* ---- parsing -------------------------------------------------------------- */

/* Optional string member: absent/null -> def. */
static int get_str(const json_t *obj, const char *key, const char *def, const char **ret,
                   struct err *err)
{
    const json_t *v = json_object_get(obj, key);

    *ret = def; /* set on every path (also keeps static analysers informed) */
    if (!v || json_is_null(v)) {
        *ret = def;
        return 0;
    }
    if (!json_is_string(v))
        return err_set(err, -EINVAL, "invalid JSON: %s must be a string", key);
    *ret = json_string_value(v);
    if (strlen(*ret) > MGR__MAX_STR)
        return err_set(err, -EINVAL, "invalid JSON: %s is too long", key);
    return 0;
}

static int get_bool(const json_t *obj, const char *key, bool *ret, struct err *err)
{
    const json_t *v = json_object_get(obj, key);

    *ret = false;
    if (!v || json_is_null(v)) {
        *ret = false;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(err, -EINVAL, "invalid JSON: %s must be a boolean", key);
    *ret = json_is_true(v);
    return 0;
}

static int get_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *ret,
                   struct err *err)
{
    const json_t *v = json_object_get(obj, key);

    *ret = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return err_set(err, -EINVAL, "invalid JSON: %s must be an integer", key);
    *ret = (int64_t)json_integer_value(v);
    if (*ret < min || *ret > max)
        return err_set(err, -EINVAL, "invalid %s: %lld is out of range", key, (long long)*ret);
    return 0;
}

/* Optional object member: absent/null -> NULL. */
static int get_obj(const json_t *obj, const char *key, const json_t **ret, struct err *err)
{
    const json_t *v = json_object_get(obj, key);

    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return err_set(err, -EINVAL, "invalid JSON: %s must be an object", key);
    *ret = v;
    return 0;
}

/* Labels {"k":"v"} -> a temporary array of borrowed labels (free the arrays). */
struct tmp_labels {
    Shoal__Store__Label *items;
    Shoal__Store__Label **ptrs;
    size_t n;
};

static void tmp_labels_release(struct tmp_labels *t)
{
    free(t->items);
    free(t->ptrs);
    memset(t, 0, sizeof(*t));
}

static int get_labels(const json_t *obj, const char *key, struct tmp_labels *t, struct err *err)
{
    const json_t *v = json_object_get(obj, key), *val;
    const char *k = NULL;
    size_t n, i = 0;

    memset(t, 0, sizeof(*t));
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return err_set(err, -EINVAL, "invalid JSON: %s must be an object", key);
    n = json_object_size(v);
    if (n > MGR__MAX_LABELS)
        return err_set(err, -EINVAL, "too many %s", key);
    t->items = calloc(n + 1, sizeof(*t->items));
    t->ptrs = calloc(n + 1, sizeof(*t->ptrs));
    if (!t->items || !t->ptrs) {
        tmp_labels_release(t);
        return err_set(err, -ENOMEM, "out of memory");
    }
    json_object_foreach((json_t *)v, k, val)
    {
        if (!json_is_string(val)) {
            tmp_labels_release(t);
            return err_set(err, -EINVAL, "invalid JSON: %s values must be strings", key);
        }
        if (!k[0]) {
            tmp_labels_release(t);
            return err_set(err, -EINVAL, "invalid label: empty key");
        }
        shoal__store__label__init(&t->items[i]);
        t->items[i].key = (char *)k;
        t->items[i].value = (char *)json_string_value(val);
        t->ptrs[i] = &t->items[i];
        i++;
    }
    t->n = i;
    (void)mgr__labels_sort(t->ptrs, t->n);
    return 0;
}

/* Array of strings -> strdup'd vector. */
static int get_str_array(const json_t *obj, const char *key, char ***ret, size_t *ret_n,
                         struct err *err)
{
    const json_t *v = json_object_get(obj, key), *e;
    size_t i;
    char **out;

    *ret = NULL;
    *ret_n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return err_set(err, -EINVAL, "invalid JSON: %s must be an array", key);
    if (json_array_size(v) > MGR__MAX_LIST)
        return err_set(err, -EINVAL, "too many %s", key);
    out = calloc(json_array_size(v) + 1, sizeof(*out));
    if (!out)
        return err_set(err, -ENOMEM, "out of memory");
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || !(out[i] = strdup(json_string_value(e)))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return err_set(err, -EINVAL, "invalid JSON: %s must hold strings", key);
        }
    }
    *ret = out;
    *ret_n = json_array_size(v);
    return 0;
}

static void free_str_array(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

int mgr_json_parse_node_spec(const json_t *body, MgrNodeSpec **ret, struct err *err)
{
    MgrNodeSpec sp = SHOAL__STORE__NODE_SPEC__INIT;
    struct tmp_labels labels;
    const char *name = NULL, *role = NULL, *avail = NULL;
    int r = 0, irole = 0, iavail = 0;

    if (!json_is_object(body))
        return err_set(err, -EINVAL, "invalid JSON: the node spec must be an object");
    if ((r = get_str(body, "Name", "", &name, err)) < 0 ||
        (r = get_str(body, "Role", "", &role, err)) < 0 ||
        (r = get_str(body, "Availability", "", &avail, err)) < 0 ||
        (r = mgr_parse_role(role, &irole, err)) < 0 ||
        (r = mgr_parse_availability(avail, false, &iavail, err)) < 0)
        return r;
    r = get_labels(body, "Labels", &labels, err);
    if (r < 0)
        return r;
    sp.name = (char *)name;
    sp.role = (Shoal__Store__NodeRole)irole;
    sp.availability = (Shoal__Store__NodeAvailability)iavail;
    sp.labels = labels.ptrs;
    sp.n_labels = labels.n;
    *ret = mgr_msg_dup(&sp);
    tmp_labels_release(&labels);
    if (!*ret)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int parse_cluster_spec(const json_t *body, MgrClusterSpec **ret, struct err *err)
{
    MgrClusterSpec sp = SHOAL__STORE__CLUSTER_SPEC__INIT;
    struct tmp_labels labels = {0};
    const json_t *orch, *raft, *disp, *cacfg, *td, *enc, *ld = NULL;
    const char *name, *driver = "";
    int64_t v;
    int r;

    if (!json_is_object(body))
        return err_set(err, -EINVAL, "invalid JSON: the swarm spec must be an object");
    if ((r = get_str(body, "Name", "default", &name, err)) < 0 ||
        (r = get_obj(body, "Orchestration", &orch, err)) < 0 ||
        (r = get_obj(body, "Raft", &raft, err)) < 0 ||
        (r = get_obj(body, "Dispatcher", &disp, err)) < 0 ||
        (r = get_obj(body, "CAConfig", &cacfg, err)) < 0 ||
        (r = get_obj(body, "TaskDefaults", &td, err)) < 0 ||
        (r = get_obj(body, "EncryptionConfig", &enc, err)) < 0)
        return r;
    if (name[0] && strcmp(name, "default") != 0)
        return err_set(err, -EINVAL, "invalid Name '%s': the swarm is always named \"default\"",
                       name);
    sp.name = (char *)"default";
    if (orch) {
        if ((r = get_int(orch, "TaskHistoryRetentionLimit", 0, 1000000, &v, err)) < 0)
            return r;
        sp.task_history_retention_limit = v;
    }
    if (raft) {
        if ((r = get_int(raft, "SnapshotInterval", 0, INT64_MAX, &v, err)) < 0)
            return r;
        sp.snapshot_interval = (uint64_t)v;
        if ((r = get_int(raft, "KeepOldSnapshots", 0, INT64_MAX, &v, err)) < 0)
            return r;
        sp.keep_old_snapshots = (uint64_t)v;
        if ((r = get_int(raft, "LogEntriesForSlowFollowers", 0, INT64_MAX, &v, err)) < 0)
            return r;
        sp.log_entries_for_slow_followers = (uint64_t)v;
        if ((r = get_int(raft, "ElectionTick", 0, 1000000, &v, err)) < 0)
            return r;
        sp.election_tick = (uint32_t)v;
        if ((r = get_int(raft, "HeartbeatTick", 0, 1000000, &v, err)) < 0)
            return r;
        sp.heartbeat_tick = (uint32_t)v;
    }
    if (disp) {
        if ((r = get_int(disp, "HeartbeatPeriod", 0, INT64_MAX, &v, err)) < 0)
            return r;
        sp.heartbeat_period_ns = v;
    }
    if (cacfg) {
        const json_t *ext = json_object_get(cacfg, "ExternalCAs");
        if ((r = get_int(cacfg, "NodeCertExpiry", 0, INT64_MAX, &v, err)) < 0)
            return r;
        sp.node_cert_expiry_ns = v;
        if (ext && json_is_array(ext) && json_array_size(ext) > 0)
            return err_set(err, -EINVAL, "external CAs are not supported");
    }
    if (td && (r = get_obj(td, "LogDriver", &ld, err)) < 0)
        return r;
    if (ld && (r = get_str(ld, "Name", "", &driver, err)) < 0)
        return r;
    sp.task_log_driver = (char *)driver;
    if (enc) {
        bool b;
        if ((r = get_bool(enc, "AutoLockManagers", &b, err)) < 0)
            return r;
        sp.autolock_managers = b;
    }
    if (sp.autolock_managers)
        return err_set(err, -EINVAL, "autolock is not supported");
    if ((r = get_labels(body, "Labels", &labels, err)) < 0)
        return r;
    sp.labels = labels.ptrs;
    sp.n_labels = labels.n;
    mgr_cluster_spec_defaults(&sp);
    if (sp.node_cert_expiry_ns < 3600LL * 1000000000LL) {
        tmp_labels_release(&labels);
        return err_set(err, -EINVAL, "minimum certificate expiry time is 1h0m0s");
    }
    if (sp.election_tick <= sp.heartbeat_tick) {
        tmp_labels_release(&labels);
        return err_set(err, -EINVAL, "election tick must be greater than heartbeat tick");
    }
    *ret = mgr_msg_dup(&sp);
    tmp_labels_release(&labels);
    if (!*ret)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

int mgr_json_parse_cluster_spec(const json_t *body, MgrClusterSpec **ret, struct err *err)
{
    return parse_cluster_spec(body, ret, err);
}

static int dup_str(const char *s, char **ret, struct err *err)
{
    *ret = strdup(s ? s : "");
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

int mgr_json_parse_swarm_init(const json_t *body, struct mgr_swarm_init_req *out, struct err *err)
{
    const char *listen = NULL, *adv = NULL, *dpa = NULL, *avail = NULL;
    const json_t *spec;
    int64_t port, subnet;
    bool force, autolock;
    int r = 0, iavail = 0;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(body))
        return err_set(err, -EINVAL, "invalid JSON: the request body must be an object");
    if ((r = get_str(body, "ListenAddr", "", &listen, err)) < 0 ||
        (r = get_str(body, "AdvertiseAddr", "", &adv, err)) < 0 ||
        (r = get_str(body, "DataPathAddr", "", &dpa, err)) < 0 ||
        (r = get_str(body, "Availability", "", &avail, err)) < 0 ||
        (r = get_int(body, "DataPathPort", 0, 65535, &port, err)) < 0 ||
        (r = get_int(body, "SubnetSize", 0, 32, &subnet, err)) < 0 ||
        (r = get_bool(body, "ForceNewCluster", &force, err)) < 0 ||
        (r = get_bool(body, "AutoLockManagers", &autolock, err)) < 0 ||
        (r = get_obj(body, "Spec", &spec, err)) < 0 ||
        (r = mgr_parse_availability(avail, true, &iavail, err)) < 0)
        return r;
    if (port != 0 && (port < 1024 || port > 49151))
        return err_set(err, -EINVAL, "data path port %lld is out of the valid range 1024 - 49151",
                       (long long)port);
    if (subnet != 0 && (subnet < 8 || subnet > 30))
        return err_set(err, -EINVAL, "invalid SubnetSize %lld: must be between 8 and 30",
                       (long long)subnet);
    if (autolock)
        return err_set(err, -EINVAL, "autolock is not supported");
    out->data_path_port = (uint32_t)port;
    out->subnet_size = (uint32_t)subnet;
    out->force_new_cluster = force;
    out->availability = iavail;
    if ((r = dup_str(listen[0] ? listen : "0.0.0.0:2377", &out->listen_addr, err)) < 0 ||
        (r = dup_str(adv, &out->advertise_addr, err)) < 0 ||
        (r = dup_str(dpa, &out->data_path_addr, err)) < 0 ||
        (r = get_str_array(body, "DefaultAddrPool", &out->default_addr_pool,
                           &out->n_default_addr_pool, err)) < 0)
        goto fail;
    if (spec) {
        r = parse_cluster_spec(spec, &out->spec, err);
    } else {
        json_t *empty = json_object();
        r = empty ? parse_cluster_spec(empty, &out->spec, err) : -ENOMEM;
        json_decref(empty);
    }
    if (r < 0)
        goto fail;
    return 0;
fail:
    mgr_swarm_init_req_release(out);
    return r;
}

void mgr_swarm_init_req_release(struct mgr_swarm_init_req *r)
{
    free(r->listen_addr);
    free(r->advertise_addr);
    free(r->data_path_addr);
    free_str_array(r->default_addr_pool, r->n_default_addr_pool);
    mgr_msg_free(r->spec);
    memset(r, 0, sizeof(*r));
}

int mgr_json_parse_swarm_join(const json_t *body, struct mgr_swarm_join_req *out, struct err *err)
{
    char digest[MGR_TOKEN_DIGEST_LEN + 1], secret[MGR_TOKEN_SECRET_LEN + 1];
    const char *listen = NULL, *adv = NULL, *dpa = NULL, *token = NULL, *avail = NULL;
    int r = 0, iavail = 0;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(body))
        return err_set(err, -EINVAL, "invalid JSON: the request body must be an object");
    if ((r = get_str(body, "ListenAddr", "", &listen, err)) < 0 ||
        (r = get_str(body, "AdvertiseAddr", "", &adv, err)) < 0 ||
        (r = get_str(body, "DataPathAddr", "", &dpa, err)) < 0 ||
        (r = get_str(body, "JoinToken", "", &token, err)) < 0 ||
        (r = get_str(body, "Availability", "", &avail, err)) < 0 ||
        (r = mgr_parse_availability(avail, true, &iavail, err)) < 0)
        return r;
    out->availability = iavail;
    if ((r = get_str_array(body, "RemoteAddrs", &out->remote_addrs, &out->n_remote_addrs, err)) < 0)
        return r;
    if (out->n_remote_addrs == 0) {
        r = err_set(err, -EINVAL, "at least 1 RemoteAddr is required to join");
        goto fail;
    }
    if ((r = mgr_token_parse(token, digest, secret, err)) < 0)
        goto fail;
    if ((r = dup_str(listen[0] ? listen : "0.0.0.0:2377", &out->listen_addr, err)) < 0 ||
        (r = dup_str(adv, &out->advertise_addr, err)) < 0 ||
        (r = dup_str(dpa, &out->data_path_addr, err)) < 0 ||
        (r = dup_str(token, &out->join_token, err)) < 0)
        goto fail;
    return 0;
fail:
    mgr_swarm_join_req_release(out);
    return r;
}

void mgr_swarm_join_req_release(struct mgr_swarm_join_req *r)
{
    free(r->listen_addr);
    free(r->advertise_addr);
    free(r->data_path_addr);
    free(r->join_token);
    free_str_array(r->remote_addrs, r->n_remote_addrs);
    memset(r, 0, sizeof(*r));
}
