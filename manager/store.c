/*
 * manager/store.c - the replicated store: generic tables of protobuf objects
 * sorted by id, the apply of StoreCommands, watches, snapshot and restore.
 *
 * Objects are never changed in place: apply builds the new version as a
 * shallow copy whose pointers borrow from the old object and the command,
 * then makes it an owned object in one block (mgr_msg_dup, msgcopy.c). The
 * old object is freed after the watches ran.
 */
#include "manager/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/util.h"

#include "manager/ca.h"
#include "manager/internal.h"

#define RECENT_MAX 256
#define MAX_JSON   (1u << 20) /* one JSON text in an object */

#define HEAD_CHECK(type, what)                                                                     \
    _Static_assert(offsetof(type, id) == offsetof(struct mgr__obj_head, id), what " head");        \
    _Static_assert(offsetof(type, meta) == offsetof(struct mgr__obj_head, meta), what " head")
HEAD_CHECK(MgrService, "service");
HEAD_CHECK(MgrTask, "task");
HEAD_CHECK(MgrNetwork, "network");

_Static_assert(offsetof(MgrCluster, id) == offsetof(struct mgr__obj_head, id), "cluster head");
_Static_assert(offsetof(MgrCluster, meta) == offsetof(struct mgr__obj_head, meta), "cluster head");
_Static_assert(offsetof(MgrNode, id) == offsetof(struct mgr__obj_head, id), "node head");
_Static_assert(offsetof(MgrNode, meta) == offsetof(struct mgr__obj_head, meta), "node head");
_Static_assert(offsetof(MgrRemovedNode, id) == offsetof(struct mgr__obj_head, id), "rm head");
_Static_assert(offsetof(MgrRemovedNode, meta) == offsetof(struct mgr__obj_head, meta), "rm head");

struct kind_def {
    const char *name;
    const ProtobufCMessageDescriptor *desc;
};

static const struct kind_def kinds[MGR_N_KINDS] = {
    [MGR_KIND_CLUSTER] = {"cluster", &shoal__store__cluster__descriptor},
    [MGR_KIND_NODE] = {"node", &shoal__store__node__descriptor},
    [MGR_KIND_REMOVED_NODE] = {"removed node", &shoal__store__removed_node__descriptor},
    [MGR_KIND_SERVICE] = {"service", &shoal__store__service__descriptor},
    [MGR_KIND_TASK] = {"task", &shoal__store__task__descriptor},
    [MGR_KIND_NETWORK] = {"network", &shoal__store__network__descriptor},
};

struct table {
    struct mgr__obj_head **objs; /* sorted by id */
    size_t n, cap;
};

struct watch {
    int handle;
    enum mgr_kind kind;
    mgr_watch_cb cb;
    void *ud;
};

struct recent {
    uint8_t id[MGR__MAX_REQ_ID];
    size_t len;
};

struct mgr_store {
    struct table tables[MGR_N_KINDS];
    uint64_t last_index;
    struct watch *watches;
    size_t n_watches;
    int next_handle;
    struct recent recent[RECENT_MAX];
    size_t recent_n, recent_next; /* ring: next slot to write */
};

/* ---- messages ------------------------------------------------------------ */

bool mgr__utf8_valid(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    if (!s)
        return true;
    while (*p) {
        unsigned c = *p;
        int extra;
        uint32_t cp;

        if (++n > max)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            extra = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            extra = 2, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            extra = 3, cp = c & 0x07;
        else
            return false;
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p & 0x3f);
        }
        n += (size_t)extra;
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return n <= max;
}

static int label_cmp(const void *a, const void *b)
{
    const Shoal__Store__Label *x = *(Shoal__Store__Label *const *)a;
    const Shoal__Store__Label *y = *(Shoal__Store__Label *const *)b;

    return strcmp(x->key, y->key);
}

int mgr__labels_sort(Shoal__Store__Label **labels, size_t n)
{
    if (n > 1)
        qsort(labels, n, sizeof(*labels), label_cmp);
    for (size_t i = 0; i < n; i++) {
        if (!labels[i]->key[0])
            return -EINVAL;
        if (i > 0 && strcmp(labels[i - 1]->key, labels[i]->key) == 0)
            return -EINVAL;
    }
    return 0;
}

/* ---- validation (commands and snapshots are hostile) --------------------- */

static int check_str(const char *what, const char *s, size_t max, struct err *err)
{
    if (!mgr__utf8_valid(s, max))
        return err_set(err, -EINVAL, "invalid %s: not UTF-8 or too long", what);
    return 0;
}

static int check_labels(const char *what, Shoal__Store__Label **labels, size_t n, struct err *err)
{
    if (n > MGR__MAX_LABELS)
        return err_set(err, -EINVAL, "too many %s", what);
    for (size_t i = 0; i < n; i++) {
        if (!labels[i]->key[0])
            return err_set(err, -EINVAL, "invalid %s: empty key", what);
        if (check_str(what, labels[i]->key, MGR__MAX_STR, err) < 0 ||
            check_str(what, labels[i]->value, MGR__MAX_STR, err) < 0)
            return err->code;
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i]->key, labels[j]->key) == 0)
                return err_set(err, -EINVAL, "invalid %s: duplicate key '%s'", what,
                               labels[i]->key);
    }
    return 0;
}

static int check_role(int role, struct err *err)
{
    if (role != MGR_ROLE_WORKER && role != MGR_ROLE_MANAGER)
        return err_set(err, -EINVAL, "invalid role %d", role);
    return 0;
}

static int check_cluster_spec(const MgrClusterSpec *sp, struct err *err)
{
    if (!sp)
        return err_set(err, -EINVAL, "missing cluster spec");
    if (check_str("cluster name", sp->name, MGR__MAX_STR, err) < 0 ||
        check_labels("cluster labels", sp->labels, sp->n_labels, err) < 0 ||
        check_str("log driver", sp->task_log_driver, MGR__MAX_STR, err) < 0)
        return err->code;
    if (strcmp(sp->name, "default") != 0)
        return err_set(err, -EINVAL, "invalid cluster name '%s': must be \"default\"", sp->name);
    if (sp->task_history_retention_limit < 0)
        return err_set(err, -EINVAL, "invalid task history retention limit");
    if (sp->heartbeat_period_ns < 0 || sp->node_cert_expiry_ns < 0)
        return err_set(err, -EINVAL, "invalid negative duration");
    if (sp->node_cert_expiry_ns != 0 && sp->node_cert_expiry_ns < 3600LL * 1000000000LL)
        return err_set(err, -EINVAL, "minimum certificate expiry time is 1h0m0s");
    if (sp->election_tick != 0 && sp->heartbeat_tick != 0 &&
        sp->election_tick <= sp->heartbeat_tick)
        return err_set(err, -EINVAL, "election tick must be greater than heartbeat tick");
    return 0;
}

static int check_token(const char *what, const char *t, struct err *err)
{
    char d[MGR_TOKEN_DIGEST_LEN + 1], s[MGR_TOKEN_SECRET_LEN + 1];

    if (mgr_token_parse(t, d, s, err) < 0)
        return err_wrap(err, "%s", what);
    return 0;
}

static int check_cluster(const MgrCluster *c, struct err *err)
{
    if (!mgr_id_valid(c->id))
        return err_set(err, -EINVAL, "invalid cluster id");
    if (check_cluster_spec(c->spec, err) < 0 ||
        check_token("worker token", c->worker_token, err) < 0 ||
        check_token("manager token", c->manager_token, err) < 0 ||
        check_str("CA certificate", c->ca_cert_pem, MGR__MAX_PEM, err) < 0 ||
        check_str("CA key", c->ca_key_pem, MGR__MAX_PEM, err) < 0)
        return err->code;
    if (!c->ca_cert_pem[0])
        return err_set(err, -EINVAL, "missing CA certificate");
    if (c->n_default_addr_pool > MGR__MAX_LIST)
        return err_set(err, -EINVAL, "too many address pools");
    for (size_t i = 0; i < c->n_default_addr_pool; i++)
        if (check_str("address pool", c->default_addr_pool[i], 64, err) < 0)
            return err->code;
    if (c->subnet_size > 32 || c->data_path_port > 65535)
        return err_set(err, -EINVAL, "invalid subnet size or data path port");
    return 0;
}

static int check_node_spec(const MgrNodeSpec *sp, struct err *err)
{
    if (!sp)
        return err_set(err, -EINVAL, "missing node spec");
    if (check_str("node name", sp->name, MGR__MAX_STR, err) < 0 ||
        check_labels("node labels", sp->labels, sp->n_labels, err) < 0 ||
        check_role(sp->role, err) < 0)
        return err->code;
    if (sp->availability < SHOAL__STORE__NODE_AVAILABILITY__AVAIL_ACTIVE ||
        sp->availability > SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN)
        return err_set(err, -EINVAL, "invalid availability %d", sp->availability);
    return 0;
}

static int check_node_status(const MgrNodeStatus *st, struct err *err)
{
    if (!st)
        return err_set(err, -EINVAL, "missing node status");
    if (st->state < SHOAL__STORE__NODE_STATE__STATE_UNKNOWN ||
        st->state > SHOAL__STORE__NODE_STATE__STATE_DISCONNECTED)
        return err_set(err, -EINVAL, "invalid node state %d", st->state);
    if (check_str("status message", st->message, MGR__MAX_STR, err) < 0 ||
        check_str("node address", st->addr, 256, err) < 0)
        return err->code;
    return 0;
}

static int check_node_desc(const MgrNodeDescription *d, struct err *err)
{
    if (!d)
        return 0;
    if (check_str("hostname", d->hostname, MGR__MAX_STR, err) < 0 ||
        check_str("architecture", d->architecture, 256, err) < 0 ||
        check_str("os", d->os, 256, err) < 0 ||
        check_str("engine version", d->engine_version, 256, err) < 0 ||
        check_labels("engine labels", d->engine_labels, d->n_engine_labels, err) < 0)
        return err->code;
    if (d->n_plugins > MGR__MAX_LIST)
        return err_set(err, -EINVAL, "too many plugins");
    for (size_t i = 0; i < d->n_plugins; i++)
        if (check_str("plugin", d->plugins[i]->type, 256, err) < 0 ||
            check_str("plugin", d->plugins[i]->name, 256, err) < 0)
            return err->code;
    return 0;
}

static int check_manager_status(const MgrManagerStatus *ms, struct err *err)
{
    if (!ms)
        return 0;
    if (ms->reachability < SHOAL__STORE__REACHABILITY__REACH_UNKNOWN ||
        ms->reachability > SHOAL__STORE__REACHABILITY__REACH_REACHABLE)
        return err_set(err, -EINVAL, "invalid reachability %d", ms->reachability);
    return check_str("manager address", ms->addr, 256, err);
}

static int check_node(const MgrNode *n, struct err *err)
{
    if (!mgr_id_valid(n->id))
        return err_set(err, -EINVAL, "invalid node id");
    if (check_node_spec(n->spec, err) < 0 || check_node_desc(n->description, err) < 0 ||
        check_node_status(n->status, err) < 0 || check_manager_status(n->manager_status, err) < 0 ||
        check_role(n->role, err) < 0 ||
        check_str("certificate serial", n->cert_serial, 64, err) < 0)
        return err->code;
    return 0;
}

static int check_removed(const MgrRemovedNode *r, struct err *err)
{
    if (!mgr_id_valid(r->id))
        return err_set(err, -EINVAL, "invalid node id");
    return check_str("certificate serial", r->cert_serial, 64, err);
}

/* "" (when !required) or JSON text whose top level has the given type. */
static int check_json(const char *what, const char *text, json_type type, bool required,
                      struct err *err)
{
    json_error_t jerr;
    json_t *j;
    size_t len;
    bool ok;

    if (!text || !text[0]) {
        if (required)
            return err_set(err, -EINVAL, "missing %s", what);
        return 0;
    }
    len = strnlen(text, MAX_JSON + 1);
    if (len > MAX_JSON)
        return err_set(err, -EINVAL, "invalid %s: longer than %u bytes", what, MAX_JSON);
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return err_set(err, -EINVAL, "invalid %s: %s", what, jerr.text);
    ok = json_typeof(j) == type;
    json_decref(j);
    if (!ok)
        return err_set(err, -EINVAL, "invalid %s: not a JSON %s", what,
                       type == JSON_OBJECT ? "object" : "array");
    return 0;
}

static int check_name(const char *what, const char *name, struct err *err)
{
    if (!name || !name[0])
        return err_set(err, -EINVAL, "missing %s", what);
    return check_str(what, name, MGR__MAX_STR, err);
}

static const char *const update_states[] = {
    "",
    "updating",
    "paused",
    "completed",
    "rollback_started",
    "rollback_paused",
    "rollback_completed",
};

static int check_update_status(const MgrUpdateStatus *u, struct err *err)
{
    bool known = false;

    if (!u)
        return 0;
    for (size_t i = 0; i < sizeof(update_states) / sizeof(update_states[0]) && !known; i++)
        known = strcmp(u->state, update_states[i]) == 0;
    if (!known)
        return err_set(err, -EINVAL, "invalid update state '%.64s'", u->state);
    return check_str("update status message", u->message, MGR__MAX_STR, err);
}

static int check_task_state(const char *what, int st, struct err *err)
{
    if (st < MGR_TASK_NEW || st > MGR_TASK_ORPHANED)
        return err_set(err, -EINVAL, "invalid task %s %d", what, st);
    return 0;
}

static int check_task_status(const MgrTaskStatus *st, struct err *err)
{
    if (!st)
        return 0;
    if (check_task_state("state", st->state, err) < 0 ||
        check_str("task status message", st->message, MGR__MAX_STR, err) < 0 ||
        check_str("task error", st->err, MGR__MAX_STR, err) < 0 ||
        check_str("container id", st->container_id, 128, err) < 0 ||
        check_json("task port status", st->port_status_json, JSON_OBJECT, false, err) < 0)
        return err->code;
    return 0;
}

/* "" or a valid id (node ids of tasks not yet scheduled are ""). */
static int check_opt_id(const char *what, const char *id, struct err *err)
{
    if (id && id[0] && !mgr_id_valid(id))
        return err_set(err, -EINVAL, "invalid %s '%.64s'", what, id);
    return 0;
}

static int check_service(const MgrService *sv, struct err *err)
{
    if (!mgr_id_valid(sv->id))
        return err_set(err, -EINVAL, "invalid service id");
    if (check_name("service name", sv->name, err) < 0 ||
        check_json("service spec", sv->spec_json, JSON_OBJECT, true, err) < 0 ||
        check_json("previous service spec", sv->previous_spec_json, JSON_OBJECT, false, err) < 0 ||
        check_json("service endpoint", sv->endpoint_json, JSON_OBJECT, false, err) < 0 ||
        check_update_status(sv->update_status, err) < 0)
        return err->code;
    return 0;
}

static int check_task(const MgrTask *t, struct err *err)
{
    if (!mgr_id_valid(t->id))
        return err_set(err, -EINVAL, "invalid task id '%.64s'", t->id);
    if (!mgr_id_valid(t->service_id))
        return err_set(err, -EINVAL, "invalid service id '%.64s' in task %s", t->service_id, t->id);
    if (check_opt_id("node id", t->node_id, err) < 0 ||
        check_str("service name", t->service_name, MGR__MAX_STR, err) < 0 ||
        check_task_state("desired state", t->desired_state, err) < 0 ||
        check_task_status(t->status, err) < 0 ||
        check_json("task spec", t->spec_json, JSON_OBJECT, true, err) < 0 ||
        check_json("service labels", t->service_labels_json, JSON_OBJECT, false, err) < 0 ||
        check_json("task networks", t->networks_json, JSON_ARRAY, false, err) < 0 ||
        check_json("task endpoint", t->endpoint_json, JSON_OBJECT, false, err) < 0)
        return err_wrap(err, "task %s", t->id);
    return 0;
}

static int check_network(const MgrNetwork *n, struct err *err)
{
    if (!mgr_id_valid(n->id))
        return err_set(err, -EINVAL, "invalid network id");
    if (check_name("network name", n->name, err) < 0 ||
        check_json("network spec", n->spec_json, JSON_OBJECT, true, err) < 0 ||
        check_str("network subnet", n->subnet, 64, err) < 0 ||
        check_str("network gateway", n->gateway, 64, err) < 0)
        return err->code;
    if (n->vni > 0xffffff)
        return err_set(err, -EINVAL, "invalid VXLAN id %u", n->vni);
    return 0;
}

static int check_object(enum mgr_kind kind, const void *obj, struct err *err)
{
    const struct mgr__obj_head *h = obj;

    if (!h->meta)
        return err_set(err, -EINVAL, "object without meta");
    switch (kind) {
    case MGR_KIND_CLUSTER:
        return check_cluster(obj, err);
    case MGR_KIND_NODE:
        return check_node(obj, err);
    case MGR_KIND_REMOVED_NODE:
        return check_removed(obj, err);
    case MGR_KIND_SERVICE:
        return check_service(obj, err);
    case MGR_KIND_TASK:
        if (!((const MgrTask *)obj)->status)
            return err_set(err, -EINVAL, "task %s without status", h->id);
        return check_task(obj, err);
    case MGR_KIND_NETWORK:
        return check_network(obj, err);
    default:
        return err_set(err, -EINVAL, "unknown object kind %d", (int)kind);
    }
}

/* Owned copy of a built object, with its label arrays in canonical order. */
static void *finish_object(enum mgr_kind kind, const void *built)
{
    void *obj = mgr_msg_dup(built);

    if (!obj)
        return NULL;
    if (kind == MGR_KIND_NODE) {
        MgrNode *n = obj;
        if (n->spec)
            (void)mgr__labels_sort(n->spec->labels, n->spec->n_labels);
        if (n->description)
            (void)mgr__labels_sort(n->description->engine_labels, n->description->n_engine_labels);
    } else if (kind == MGR_KIND_CLUSTER) {
        MgrCluster *c = obj;
        if (c->spec)
            (void)mgr__labels_sort(c->spec->labels, c->spec->n_labels);
    }
    return obj;
}

/* ---- tables -------------------------------------------------------------- */

/* Index of the first object with id >= key. */
static size_t table_lower(const struct table *t, const char *key)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->objs[mid]->id, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct mgr__obj_head *table_get(const struct table *t, const char *id)
{
    size_t i = table_lower(t, id);

    return i < t->n && strcmp(t->objs[i]->id, id) == 0 ? t->objs[i] : NULL;
}

static int table_reserve(struct table *t, size_t extra)
{
    if (t->n + extra <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 16;
    while (cap < t->n + extra)
        cap *= 2;
    struct mgr__obj_head **o = realloc(t->objs, cap * sizeof(*o));
    if (!o)
        return -ENOMEM;
    t->objs = o;
    t->cap = cap;
    return 0;
}

/* Insert or replace; returns the replaced object (caller frees) or NULL. */
static struct mgr__obj_head *table_put(struct table *t, struct mgr__obj_head *obj)
{
    size_t i = table_lower(t, obj->id);

    if (i < t->n && strcmp(t->objs[i]->id, obj->id) == 0) {
        struct mgr__obj_head *old = t->objs[i];
        t->objs[i] = obj;
        return old;
    }
    /* caller reserved room */
    memmove(&t->objs[i + 1], &t->objs[i], (t->n - i) * sizeof(*t->objs));
    t->objs[i] = obj;
    t->n++;
    return NULL;
}

static struct mgr__obj_head *table_del(struct table *t, const char *id)
{
    size_t i = table_lower(t, id);
    struct mgr__obj_head *old;

    if (i >= t->n || strcmp(t->objs[i]->id, id) != 0)
        return NULL;
    old = t->objs[i];
    memmove(&t->objs[i], &t->objs[i + 1], (t->n - i - 1) * sizeof(*t->objs));
    t->n--;
    return old;
}

static void table_release(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        mgr_msg_free(t->objs[i]);
    free(t->objs);
    memset(t, 0, sizeof(*t));
}

/* ---- store --------------------------------------------------------------- */

struct mgr_store *mgr_store_new(void)
{
    struct mgr_store *s = calloc(1, sizeof(*s));

    if (s)
        s->next_handle = 1;
    return s;
}

struct mgr_store *mgr_store_free(struct mgr_store *s)
{
    if (!s)
        return NULL;
    for (int k = 0; k < MGR_N_KINDS; k++)
        table_release(&s->tables[k]);
    free(s->watches);
    free(s);
    return NULL;
}

uint64_t mgr_store_last_index(const struct mgr_store *s)
{
    return s->last_index;
}

int mgr_store_watch(struct mgr_store *s, enum mgr_kind kind, mgr_watch_cb cb, void *ud)
{
    struct watch *w;

    if (!cb || (int)kind < 0 || kind > MGR_N_KINDS)
        return -EINVAL;
    w = realloc(s->watches, (s->n_watches + 1) * sizeof(*w));
    if (!w)
        return -ENOMEM;
    s->watches = w;
    w[s->n_watches] = (struct watch){s->next_handle, kind, cb, ud};
    s->n_watches++;
    return s->next_handle++;
}

void mgr_store_unwatch(struct mgr_store *s, int handle)
{
    for (size_t i = 0; i < s->n_watches; i++) {
        if (s->watches[i].handle == handle) {
            memmove(&s->watches[i], &s->watches[i + 1],
                    (s->n_watches - i - 1) * sizeof(*s->watches));
            s->n_watches--;
            return;
        }
    }
}

static void notify(struct mgr_store *s, enum mgr_kind kind, enum mgr_change ch, const void *old,
                   const void *new, uint64_t index)
{
    for (size_t i = 0; i < s->n_watches; i++) {
        const struct watch *w = &s->watches[i];
        if (w->kind == kind || w->kind == MGR_N_KINDS)
            w->cb(w->ud, kind, ch, old, new, index);
    }
}

/* Put a finished object into its table and tell the watchers. */
static int commit(struct mgr_store *s, enum mgr_kind kind, void *obj, uint64_t index,
                  struct err *err)
{
    struct table *t = &s->tables[kind];
    struct mgr__obj_head *old;

    if (!obj)
        return err_set(err, -ENOMEM, "out of memory");
    if (table_reserve(t, 1) < 0) {
        mgr_msg_free(obj);
        return err_set(err, -ENOMEM, "out of memory");
    }
    old = table_put(t, obj);
    notify(s, kind, old ? MGR_CHANGE_UPDATE : MGR_CHANGE_CREATE, old, obj, index);
    mgr_msg_free(old);
    return 0;
}

static void remove_obj(struct mgr_store *s, enum mgr_kind kind, const char *id, uint64_t index)
{
    struct mgr__obj_head *old = table_del(&s->tables[kind], id);

    if (old) {
        notify(s, kind, MGR_CHANGE_DELETE, old, NULL, index);
        mgr_msg_free(old);
    }
}

/* ---- reads --------------------------------------------------------------- */

const void *mgr_store_get(const struct mgr_store *s, enum mgr_kind kind, const char *id)
{
    if ((int)kind <= 0 || kind >= MGR_N_KINDS || !id)
        return NULL;
    return table_get(&s->tables[kind], id);
}

size_t mgr_store_count(const struct mgr_store *s, enum mgr_kind kind)
{
    if ((int)kind <= 0 || kind >= MGR_N_KINDS)
        return 0;
    return s->tables[kind].n;
}

const void *mgr_store_at(const struct mgr_store *s, enum mgr_kind kind, size_t i)
{
    if ((int)kind <= 0 || kind >= MGR_N_KINDS || i >= s->tables[kind].n)
        return NULL;
    return s->tables[kind].objs[i];
}

const MgrCluster *mgr_store_cluster(const struct mgr_store *s)
{
    return s->tables[MGR_KIND_CLUSTER].n ? (const MgrCluster *)s->tables[MGR_KIND_CLUSTER].objs[0]
                                         : NULL;
}

const MgrNode *mgr_store_node(const struct mgr_store *s, const char *id)
{
    return mgr_store_get(s, MGR_KIND_NODE, id);
}

const char *mgr_node_name(const MgrNode *n)
{
    if (n->spec && n->spec->name[0])
        return n->spec->name;
    if (n->description)
        return n->description->hostname;
    return "";
}

int mgr_store_node_find(const struct mgr_store *s, const char *ref, const MgrNode **ret,
                        struct err *err)
{
    const struct table *t = &s->tables[MGR_KIND_NODE];
    const MgrNode *found = NULL;
    size_t matches = 0, plen;

    if (!ref || !ref[0])
        return err_set(err, -ENOENT, "node %s not found", ref ? ref : "");
    found = mgr_store_node(s, ref);
    if (found) {
        *ret = found;
        return 0;
    }
    for (size_t i = 0; i < t->n; i++) {
        const MgrNode *n = (const MgrNode *)t->objs[i];
        if (strcmp(mgr_node_name(n), ref) == 0) {
            found = n;
            matches++;
        }
    }
    if (matches == 0) {
        plen = strlen(ref);
        for (size_t i = table_lower(t, ref); i < t->n; i++) {
            if (strncmp(t->objs[i]->id, ref, plen) != 0)
                break;
            found = (const MgrNode *)t->objs[i];
            matches++;
        }
    }
    if (matches == 0)
        return err_set(err, -ENOENT, "node %s not found", ref);
    if (matches > 1)
        return err_set(err, -EINVAL, "node %s is ambiguous (%zu matches found)", ref, matches);
    *ret = found;
    return 0;
}

size_t mgr_store_manager_count(const struct mgr_store *s)
{
    const struct table *t = &s->tables[MGR_KIND_NODE];
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++)
        if (((const MgrNode *)t->objs[i])->spec->role == MGR_ROLE_MANAGER)
            n++;
    return n;
}

bool mgr_store_node_removed(const struct mgr_store *s, const char *node_id)
{
    return mgr_store_get(s, MGR_KIND_REMOVED_NODE, node_id) != NULL;
}

bool mgr_store_raft_id_in_use(const struct mgr_store *s, uint64_t raft_id)
{
    const struct table *t = &s->tables[MGR_KIND_NODE];
    const struct table *r = &s->tables[MGR_KIND_REMOVED_NODE];

    if (raft_id == 0)
        return true;
    for (size_t i = 0; i < t->n; i++)
        if (((const MgrNode *)t->objs[i])->raft_id == raft_id)
            return true;
    for (size_t i = 0; i < r->n; i++)
        if (((const MgrRemovedNode *)r->objs[i])->raft_id == raft_id)
            return true;
    return false;
}

/* ---- services, tasks, networks: reads ----------------------------------- */

const MgrService *mgr_store_service(const struct mgr_store *s, const char *id)
{
    return mgr_store_get(s, MGR_KIND_SERVICE, id);
}

const MgrTask *mgr_store_task(const struct mgr_store *s, const char *id)
{
    return mgr_store_get(s, MGR_KIND_TASK, id);
}

const MgrNetwork *mgr_store_network(const struct mgr_store *s, const char *id)
{
    return mgr_store_get(s, MGR_KIND_NETWORK, id);
}

/* The name of a service or network (both have `string name = 3`). */
static const char *obj_name(enum mgr_kind kind, const struct mgr__obj_head *o)
{
    if (kind == MGR_KIND_SERVICE)
        return ((const MgrService *)o)->name;
    if (kind == MGR_KIND_NETWORK)
        return ((const MgrNetwork *)o)->name;
    return NULL;
}

/* Docker's reference lookup: full id, else exact name (kinds with names), else
 * unique id prefix. */
static int find_ref(const struct mgr_store *s, enum mgr_kind kind, const char *ref,
                    const void **ret, struct err *err)
{
    const struct table *t = &s->tables[kind];
    const struct mgr__obj_head *found;
    size_t matches = 0, plen;

    if (!ref || !ref[0])
        return err_set(err, -ENOENT, "%s %s not found", kinds[kind].name, ref ? ref : "");
    found = table_get(t, ref);
    if (found) {
        *ret = found;
        return 0;
    }
    if (kind != MGR_KIND_TASK) {
        for (size_t i = 0; i < t->n; i++) {
            if (strcmp(obj_name(kind, t->objs[i]), ref) == 0) {
                found = t->objs[i];
                matches++;
            }
        }
    }
    if (matches == 0) {
        plen = strlen(ref);
        for (size_t i = table_lower(t, ref); i < t->n; i++) {
            if (strncmp(t->objs[i]->id, ref, plen) != 0)
                break;
            found = t->objs[i];
            matches++;
        }
    }
    if (matches == 0)
        return err_set(err, -ENOENT, "%s %s not found", kinds[kind].name, ref);
    if (matches > 1)
        return err_set(err, -EINVAL, "%s %s is ambiguous (%zu matches found)", kinds[kind].name,
                       ref, matches);
    *ret = found;
    return 0;
}

int mgr_store_service_find(const struct mgr_store *s, const char *ref, const MgrService **ret,
                           struct err *err)
{
    const void *o = NULL;
    int r = find_ref(s, MGR_KIND_SERVICE, ref, &o, err);

    if (r == 0)
        *ret = o;
    return r;
}

int mgr_store_task_find(const struct mgr_store *s, const char *ref, const MgrTask **ret,
                        struct err *err)
{
    const void *o = NULL;
    int r = find_ref(s, MGR_KIND_TASK, ref, &o, err);

    if (r == 0)
        *ret = o;
    return r;
}

int mgr_store_network_find(const struct mgr_store *s, const char *ref, const MgrNetwork **ret,
                           struct err *err)
{
    const void *o = NULL;
    int r = find_ref(s, MGR_KIND_NETWORK, ref, &o, err);

    if (r == 0)
        *ret = o;
    return r;
}

static int task_order(const void *a, const void *b)
{
    const MgrTask *x = *(const MgrTask *const *)a, *y = *(const MgrTask *const *)b;
    int c;

    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    c = strcmp(x->node_id, y->node_id);
    if (c)
        return c;
    if (x->meta->created_at_ns != y->meta->created_at_ns)
        return x->meta->created_at_ns < y->meta->created_at_ns ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int tasks_where(const struct mgr_store *s, bool by_node, const char *id,
                       const MgrTask ***ret, size_t *ret_n)
{
    const struct table *t = &s->tables[MGR_KIND_TASK];
    const MgrTask **out;
    size_t n = 0;

    out = malloc((t->n + 1) * sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; id && i < t->n; i++) {
        const MgrTask *task = (const MgrTask *)t->objs[i];
        if (strcmp(by_node ? task->node_id : task->service_id, id) == 0)
            out[n++] = task;
    }
    if (n > 1)
        qsort(out, n, sizeof(*out), task_order);
    *ret = out;
    *ret_n = n;
    return 0;
}

int mgr_store_tasks_of_service(const struct mgr_store *s, const char *service_id,
                               const MgrTask ***ret, size_t *n)
{
    return tasks_where(s, false, service_id, ret, n);
}

int mgr_store_tasks_of_node(const struct mgr_store *s, const char *node_id, const MgrTask ***ret,
                            size_t *n)
{
    return tasks_where(s, true, node_id, ret, n);
}

static const char *const task_states[MGR_N_TASK_STATES] = {
    [MGR_TASK_NEW] = "new",           [MGR_TASK_ALLOCATED] = "allocated",
    [MGR_TASK_PENDING] = "pending",   [MGR_TASK_ASSIGNED] = "assigned",
    [MGR_TASK_ACCEPTED] = "accepted", [MGR_TASK_PREPARING] = "preparing",
    [MGR_TASK_READY] = "ready",       [MGR_TASK_STARTING] = "starting",
    [MGR_TASK_RUNNING] = "running",   [MGR_TASK_COMPLETE] = "complete",
    [MGR_TASK_SHUTDOWN] = "shutdown", [MGR_TASK_FAILED] = "failed",
    [MGR_TASK_REJECTED] = "rejected", [MGR_TASK_REMOVE] = "remove",
    [MGR_TASK_ORPHANED] = "orphaned",
};

const char *mgr_task_state_str(int st)
{
    if (st < 0 || st >= MGR_N_TASK_STATES)
        return "unknown";
    return task_states[st];
}

int mgr_task_state_parse(const char *str, int *ret)
{
    for (int i = 0; str && i < MGR_N_TASK_STATES; i++) {
        if (strcmp(task_states[i], str) == 0) {
            *ret = i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- node filters -------------------------------------------------------- */

int mgr_node_filter_check(const struct mgr_node_filter *f, size_t n, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = f[i].key, *v = f[i].value;
        if (!k || !v)
            return err_set(err, -EINVAL, "invalid filter");
        if (strcmp(k, "role") == 0) {
            if (strcmp(v, "manager") != 0 && strcmp(v, "worker") != 0)
                return err_set(err, -EINVAL, "Invalid role filter: '%s'", v);
        } else if (strcmp(k, "membership") == 0) {
            if (strcmp(v, "accepted") != 0 && strcmp(v, "pending") != 0)
                return err_set(err, -EINVAL, "Invalid membership filter: '%s'", v);
        } else if (strcmp(k, "id") != 0 && strcmp(k, "name") != 0 && strcmp(k, "label") != 0 &&
                   strcmp(k, "node.label") != 0) {
            return err_set(err, -EINVAL, "invalid filter '%s'", k);
        }
    }
    return 0;
}

static bool label_match(Shoal__Store__Label **labels, size_t n, const char *want)
{
    const char *eq = strchr(want, '=');
    size_t klen = eq ? (size_t)(eq - want) : strlen(want);

    for (size_t i = 0; i < n; i++) {
        if (strlen(labels[i]->key) != klen || strncmp(labels[i]->key, want, klen) != 0)
            continue;
        return !eq || strcmp(labels[i]->value, eq + 1) == 0;
    }
    return false;
}

static bool filter_one(const MgrNode *node, const char *k, const char *v)
{
    if (strcmp(k, "id") == 0)
        return strncmp(node->id, v, strlen(v)) == 0;
    if (strcmp(k, "name") == 0)
        return strncmp(mgr_node_name(node), v, strlen(v)) == 0;
    if (strcmp(k, "role") == 0)
        return (node->spec->role == MGR_ROLE_MANAGER) == (strcmp(v, "manager") == 0);
    if (strcmp(k, "membership") == 0)
        return strcmp(v, "accepted") == 0; /* every node in the store was accepted */
    if (strcmp(k, "label") == 0)
        return node->description &&
               label_match(node->description->engine_labels, node->description->n_engine_labels, v);
    if (strcmp(k, "node.label") == 0)
        return label_match(node->spec->labels, node->spec->n_labels, v);
    return false;
}

bool mgr_node_matches(const MgrNode *node, const struct mgr_node_filter *f, size_t n)
{
    /* AND over distinct keys, OR over the values of one key */
    for (size_t i = 0; i < n; i++) {
        bool seen = false, any = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(f[j].key, f[i].key) == 0;
        if (seen)
            continue;
        for (size_t j = i; j < n && !any; j++)
            if (strcmp(f[j].key, f[i].key) == 0)
                any = filter_one(node, f[j].key, f[j].value);
        if (!any)
            return false;
    }
    return true;
}

int mgr_store_node_list(const struct mgr_store *s, const struct mgr_node_filter *f, size_t n,
                        const MgrNode ***ret, size_t *ret_count, struct err *err)
{
    const struct table *t = &s->tables[MGR_KIND_NODE];
    const MgrNode **out;
    size_t cnt = 0;
    int r;

    r = mgr_node_filter_check(f, n, err);
    if (r < 0)
        return r;
    out = calloc(t->n + 1, sizeof(*out));
    if (!out)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < t->n; i++) {
        const MgrNode *node = (const MgrNode *)t->objs[i];
        if (mgr_node_matches(node, f, n))
            out[cnt++] = node;
    }
    *ret = out;
    *ret_count = cnt;
    return 0;
}

/* ---- apply --------------------------------------------------------------- */

struct ctx {
    struct mgr_store *s;
    uint64_t index;
    int64_t ts;
    struct mgr_apply_result *res;
};

static Shoal__Store__Meta new_meta(const struct ctx *c, const Shoal__Store__Meta *old)
{
    Shoal__Store__Meta m = SHOAL__STORE__META__INIT;

    m.version = c->index;
    m.created_at_ns = old ? old->created_at_ns : c->ts;
    m.updated_at_ns = c->ts;
    return m;
}

static void set_res_id(const struct ctx *c, const char *id)
{
    if (c->res)
        snprintf(c->res->id, sizeof(c->res->id), "%s", id);
}

static int name_conflict(const struct mgr_store *s, const char *self, const char *name,
                         struct err *err)
{
    const struct table *t = &s->tables[MGR_KIND_NODE];

    if (!name[0])
        return 0;
    for (size_t i = 0; i < t->n; i++) {
        const MgrNode *n = (const MgrNode *)t->objs[i];
        if (strcmp(n->id, self) != 0 && strcmp(n->spec->name, name) == 0)
            return err_set(err, -EEXIST, "node name '%s' is already in use by node %s", name,
                           n->id);
    }
    return 0;
}

static int get_node(const struct mgr_store *s, const char *id, const MgrNode **ret, struct err *err)
{
    *ret = mgr_store_node(s, id);
    if (!*ret)
        return err_set(err, -ENOENT, "node %s not found", id);
    return 0;
}

static int op_cluster_create(struct ctx *c, const Shoal__Store__ClusterCreate *op, struct err *err)
{
    MgrCluster cl;
    Shoal__Store__Meta meta;

    if (!op->cluster)
        return err_set(err, -EINVAL, "missing cluster");
    if (mgr_store_cluster(c->s))
        return err_set(err, -EEXIST, "cluster already exists");
    cl = *op->cluster;
    meta = new_meta(c, NULL);
    cl.meta = &meta;
    if (check_cluster(&cl, err) < 0)
        return err->code;
    set_res_id(c, cl.id);
    return commit(c->s, MGR_KIND_CLUSTER, finish_object(MGR_KIND_CLUSTER, &cl), c->index, err);
}

static int op_cluster_update(struct ctx *c, const Shoal__Store__ClusterUpdate *op, struct err *err)
{
    const MgrCluster *old = mgr_store_cluster(c->s);
    MgrCluster cl;
    Shoal__Store__Meta meta;

    if (!old || strcmp(old->id, op->id) != 0)
        return err_set(err, -ENOENT, "cluster %s not found", op->id);
    if (op->version != old->meta->version)
        return err_set(err, -ESTALE, "update out of sequence");
    if (check_cluster_spec(op->spec, err) < 0)
        return err->code;
    if ((op->worker_token[0] && check_token("worker token", op->worker_token, err) < 0) ||
        (op->manager_token[0] && check_token("manager token", op->manager_token, err) < 0))
        return err->code;
    cl = *old;
    meta = new_meta(c, old->meta);
    cl.meta = &meta;
    cl.spec = op->spec;
    if (op->worker_token[0])
        cl.worker_token = op->worker_token;
    if (op->manager_token[0])
        cl.manager_token = op->manager_token;
    set_res_id(c, cl.id);
    return commit(c->s, MGR_KIND_CLUSTER, finish_object(MGR_KIND_CLUSTER, &cl), c->index, err);
}

static int op_join_token_rotate(struct ctx *c, const Shoal__Store__JoinTokenRotate *op,
                                struct err *err)
{
    const MgrCluster *old = mgr_store_cluster(c->s);
    MgrCluster cl;
    Shoal__Store__Meta meta;

    if (!old)
        return err_set(err, -ENOENT, "no cluster");
    if (check_role(op->role, err) < 0 || check_token("join token", op->token, err) < 0)
        return err->code;
    cl = *old;
    meta = new_meta(c, old->meta);
    cl.meta = &meta;
    if (op->role == MGR_ROLE_MANAGER)
        cl.manager_token = op->token;
    else
        cl.worker_token = op->token;
    set_res_id(c, cl.id);
    return commit(c->s, MGR_KIND_CLUSTER, finish_object(MGR_KIND_CLUSTER, &cl), c->index, err);
}

static int op_node_create(struct ctx *c, const Shoal__Store__NodeCreate *op, struct err *err)
{
    MgrNode n;
    Shoal__Store__Meta meta;

    if (!op->node)
        return err_set(err, -EINVAL, "missing node");
    n = *op->node;
    meta = new_meta(c, NULL);
    n.meta = &meta;
    if (check_node(&n, err) < 0)
        return err->code;
    if (mgr_store_node(c->s, n.id))
        return err_set(err, -EEXIST, "node %s already exists", n.id);
    if (mgr_store_node_removed(c->s, n.id))
        return err_set(err, -EPERM, "node %s was removed from the swarm", n.id);
    if (n.raft_id && mgr_store_raft_id_in_use(c->s, n.raft_id))
        return err_set(err, -EEXIST, "raft id %llx is already in use",
                       (unsigned long long)n.raft_id);
    if (name_conflict(c->s, n.id, n.spec->name, err) < 0)
        return err->code;
    if (n.role != MGR_ROLE_MANAGER)
        n.manager_status = NULL;
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NODE, finish_object(MGR_KIND_NODE, &n), c->index, err);
}

static int op_node_update(struct ctx *c, const Shoal__Store__NodeUpdate *op, struct err *err)
{
    const MgrNode *old;
    MgrNode n;
    Shoal__Store__Meta meta;

    if (get_node(c->s, op->id, &old, err) < 0)
        return err->code;
    if (op->version != old->meta->version)
        return err_set(err, -ESTALE, "update out of sequence");
    if (check_node_spec(op->spec, err) < 0)
        return err->code;
    if (old->spec->role == MGR_ROLE_MANAGER && op->spec->role == MGR_ROLE_WORKER &&
        mgr_store_manager_count(c->s) <= 1)
        return err_set(err, -EBUSY, "attempting to demote the last manager of the swarm");
    /* a name kept as it was was checked when it was given (a scan of every
     * node per label update showed in the profiles) */
    if (strcmp(old->spec->name, op->spec->name) != 0 &&
        name_conflict(c->s, old->id, op->spec->name, err) < 0)
        return err->code;
    n = *old;
    meta = new_meta(c, old->meta);
    n.meta = &meta;
    n.spec = op->spec;
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NODE, finish_object(MGR_KIND_NODE, &n), c->index, err);
}

static int op_node_set_status(struct ctx *c, const Shoal__Store__NodeSetStatus *op, struct err *err)
{
    const MgrNode *old;
    MgrNode n;
    Shoal__Store__Meta meta;

    if (get_node(c->s, op->id, &old, err) < 0 || check_node_status(op->status, err) < 0)
        return err->code;
    n = *old;
    meta = new_meta(c, old->meta);
    n.meta = &meta;
    n.status = op->status;
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NODE, finish_object(MGR_KIND_NODE, &n), c->index, err);
}

static int op_node_set_description(struct ctx *c, const Shoal__Store__NodeSetDescription *op,
                                   struct err *err)
{
    const MgrNode *old;
    MgrNode n;
    Shoal__Store__Meta meta;

    if (get_node(c->s, op->id, &old, err) < 0)
        return err->code;
    if (!op->description)
        return err_set(err, -EINVAL, "missing node description");
    if (check_node_desc(op->description, err) < 0)
        return err->code;
    n = *old;
    meta = new_meta(c, old->meta);
    n.meta = &meta;
    n.description = op->description;
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NODE, finish_object(MGR_KIND_NODE, &n), c->index, err);
}

static int op_node_set_role(struct ctx *c, const Shoal__Store__NodeSetRole *op, struct err *err)
{
    const MgrNode *old;
    MgrNode n;
    Shoal__Store__Meta meta;

    if (get_node(c->s, op->id, &old, err) < 0 || check_role(op->role, err) < 0 ||
        check_manager_status(op->manager_status, err) < 0)
        return err->code;
    if (op->role == MGR_ROLE_MANAGER && !op->manager_status)
        return err_set(err, -EINVAL, "a manager needs a manager status");
    n = *old;
    meta = new_meta(c, old->meta);
    n.meta = &meta;
    n.role = op->role;
    n.manager_status = op->role == MGR_ROLE_MANAGER ? op->manager_status : NULL;
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NODE, finish_object(MGR_KIND_NODE, &n), c->index, err);
}

static int op_node_set_cert(struct ctx *c, const Shoal__Store__NodeSetCert *op, struct err *err)
{
    const MgrNode *old;
    MgrNode n;
    Shoal__Store__Meta meta;

    if (get_node(c->s, op->id, &old, err) < 0 ||
        check_str("certificate serial", op->cert_serial, 64, err) < 0)
        return err->code;
    n = *old;
    meta = new_meta(c, old->meta);
    n.meta = &meta;
    n.cert_serial = op->cert_serial;
    n.cert_not_after_ns = op->cert_not_after_ns;
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NODE, finish_object(MGR_KIND_NODE, &n), c->index, err);
}

static int op_node_remove(struct ctx *c, const Shoal__Store__NodeRemove *op, struct err *err)
{
    const MgrNode *old;
    MgrRemovedNode r = SHOAL__STORE__REMOVED_NODE__INIT;
    Shoal__Store__Meta meta;
    char id[MGR_ID_LEN + 1];
    int ret;

    if (get_node(c->s, op->id, &old, err) < 0)
        return err->code;
    if (old->spec->role == MGR_ROLE_MANAGER || old->role == MGR_ROLE_MANAGER) {
        if (!op->force)
            return err_set(err, -EBUSY,
                           "node %s is a cluster manager and is a member of the raft cluster. "
                           "It must be demoted to worker before removal",
                           old->id);
        if (mgr_store_manager_count(c->s) <= 1)
            return err_set(err, -EBUSY, "attempting to remove the last manager of the swarm");
    }
    if (old->status->state != SHOAL__STORE__NODE_STATE__STATE_DOWN && !op->force)
        return err_set(err, -EBUSY, "node %s is not down and can't be removed", old->id);
    snprintf(id, sizeof(id), "%s", old->id);
    meta = new_meta(c, NULL);
    r.id = id;
    r.meta = &meta;
    r.raft_id = old->raft_id;
    r.cert_serial = old->cert_serial;
    r.cert_not_after_ns = old->cert_not_after_ns;
    ret = commit(c->s, MGR_KIND_REMOVED_NODE, finish_object(MGR_KIND_REMOVED_NODE, &r), c->index,
                 err);
    if (ret < 0)
        return ret;
    remove_obj(c->s, MGR_KIND_NODE, id, c->index);
    set_res_id(c, id);
    return 0;
}

/* ---- services ------------------------------------------------------------ */

static int get_service(const struct mgr_store *s, const char *id, const MgrService **ret,
                       struct err *err)
{
    *ret = mgr_store_service(s, id);
    if (!*ret)
        return err_set(err, -ENOENT, "service %s not found", id);
    return 0;
}

static int service_name_conflict(const struct mgr_store *s, const char *self, const char *name,
                                 struct err *err)
{
    const struct table *t = &s->tables[MGR_KIND_SERVICE];

    for (size_t i = 0; i < t->n; i++) {
        const MgrService *sv = (const MgrService *)t->objs[i];
        if (strcmp(sv->id, self) != 0 && strcmp(sv->name, name) == 0)
            return err_set(err, -EEXIST,
                           "rpc error: code = AlreadyExists desc = name conflicts with an "
                           "existing object");
    }
    return 0;
}

/* Whether a new ServiceSpec makes the tasks of the old one out of date: its
 * TaskTemplate, EndpointSpec or (deprecated) Networks differ. Scaling or
 * changing UpdateConfig, Labels, Name does not (Docker restarts no task, as
 * swarmkit's IsTaskDirty compares exactly these). This backs up the
 * proposer's keep_spec_version: a no-op update never restarts tasks. */
static bool task_spec_changed(const char *old_text, const char *new_text)
{
    static const char *const keys[] = {"TaskTemplate", "EndpointSpec", "Networks"};
    json_t *a = json_loads(old_text, 0, NULL), *b = json_loads(new_text, 0, NULL);
    bool changed = !a || !b;

    for (size_t i = 0; !changed && i < ARRAY_SIZE(keys); i++) {
        json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
        if (!x || !y)
            changed = x != y;
        else
            changed = !json_equal(x, y);
    }
    json_decref(a);
    json_decref(b);
    return changed;
}

/* The "Name" of a ServiceSpec text, malloc'd; "" when it has none. */
static int spec_name(const char *text, char **ret, struct err *err)
{
    json_t *j = json_loads(text, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "Name"));

    *ret = strdup(name ? name : "");
    json_decref(j);
    if (!*ret)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* A rollback restores the stored previous spec, byte for byte. */
static int check_rollback(const MgrService *old, const char *spec_json, struct err *err)
{
    if (!old->previous_spec_json[0])
        return err_set(err, -EBUSY, "service %s does not have a previous spec", old->id);
    if (strcmp(spec_json, old->previous_spec_json) != 0)
        return err_set(err, -EINVAL, "rollback of service %s: spec is not its previous spec",
                       old->id);
    return 0;
}

static int op_service_create(struct ctx *c, const Shoal__Store__ServiceCreate *op, struct err *err)
{
    MgrService sv;
    Shoal__Store__Meta meta;

    if (!op->service)
        return err_set(err, -EINVAL, "missing service");
    sv = *op->service;
    meta = new_meta(c, NULL);
    sv.meta = &meta;
    sv.spec_version = c->index;
    sv.previous_spec_json = (char *)"";
    sv.previous_spec_version = 0;
    if (check_service(&sv, err) < 0)
        return err->code;
    if (mgr_store_service(c->s, sv.id))
        return err_set(err, -EEXIST, "service %s already exists", sv.id);
    if (service_name_conflict(c->s, sv.id, sv.name, err) < 0)
        return err->code;
    set_res_id(c, sv.id);
    return commit(c->s, MGR_KIND_SERVICE, finish_object(MGR_KIND_SERVICE, &sv), c->index, err);
}

static int op_service_update(struct ctx *c, const Shoal__Store__ServiceUpdate *op, struct err *err)
{
    const MgrService *old;
    MgrService sv;
    Shoal__Store__Meta meta;

    if (get_service(c->s, op->id, &old, err) < 0)
        return err->code;
    if (op->version != old->meta->version)
        return err_set(err, -ESTALE, "update out of sequence");
    if (check_name("service name", op->name, err) < 0 ||
        check_json("service spec", op->spec_json, JSON_OBJECT, true, err) < 0 ||
        check_json("service endpoint", op->endpoint_json, JSON_OBJECT, false, err) < 0 ||
        check_update_status(op->update_status, err) < 0)
        return err->code;
    if (op->rollback && check_rollback(old, op->spec_json, err) < 0)
        return err->code;
    if (service_name_conflict(c->s, old->id, op->name, err) < 0)
        return err->code;
    sv = *old;
    meta = new_meta(c, old->meta);
    sv.meta = &meta;
    sv.name = op->name;
    sv.spec_json = op->spec_json;
    sv.previous_spec_json = old->spec_json;
    sv.previous_spec_version = old->spec_version;
    if (op->rollback)
        sv.spec_version = old->previous_spec_version;
    else if (!op->keep_spec_version && task_spec_changed(old->spec_json, op->spec_json))
        sv.spec_version = c->index;
    if (op->update_status)
        sv.update_status = op->update_status;
    if (op->endpoint_json[0])
        sv.endpoint_json = op->endpoint_json;
    set_res_id(c, sv.id);
    return commit(c->s, MGR_KIND_SERVICE, finish_object(MGR_KIND_SERVICE, &sv), c->index, err);
}

static int op_service_set_update_status(struct ctx *c,
                                        const Shoal__Store__ServiceSetUpdateStatus *op,
                                        struct err *err)
{
    cleanup_free char *name = NULL;
    const MgrService *old;
    MgrService sv;
    Shoal__Store__Meta meta;
    bool rollback = op->spec_json[0] != '\0';

    if (get_service(c->s, op->id, &old, err) < 0)
        return err->code;
    if (!op->update_status)
        return err_set(err, -EINVAL, "missing update status");
    if (check_update_status(op->update_status, err) < 0)
        return err->code;
    if (rollback) {
        if (check_rollback(old, op->spec_json, err) < 0 ||
            spec_name(old->previous_spec_json, &name, err) < 0)
            return err->code;
        if (name[0] && service_name_conflict(c->s, old->id, name, err) < 0)
            return err->code;
    }
    sv = *old;
    meta = new_meta(c, old->meta);
    sv.meta = &meta;
    sv.update_status = op->update_status;
    if (rollback) {
        if (name[0])
            sv.name = name;
        sv.spec_json = old->previous_spec_json;
        sv.previous_spec_json = old->spec_json;
        sv.spec_version = old->previous_spec_version;
        sv.previous_spec_version = old->spec_version;
    }
    set_res_id(c, sv.id);
    return commit(c->s, MGR_KIND_SERVICE, finish_object(MGR_KIND_SERVICE, &sv), c->index, err);
}

static int op_service_remove(struct ctx *c, const Shoal__Store__ServiceRemove *op, struct err *err)
{
    const MgrService *old;

    if (get_service(c->s, op->id, &old, err) < 0)
        return err->code;
    set_res_id(c, old->id);
    remove_obj(c->s, MGR_KIND_SERVICE, op->id, c->index);
    return 0;
}

/* ---- tasks --------------------------------------------------------------- */

/* One task change of a batch: old NULL = created, new NULL = removed. */
struct change {
    struct mgr__obj_head *old, *new;
};

static int check_task_op(const Shoal__Store__TaskOp *op, struct err *err)
{
    switch (op->op_case) {
    case SHOAL__STORE__TASK_OP__OP_CREATE:
        if (!op->create || !op->create->task)
            return err_set(err, -EINVAL, "missing task");
        return check_task(op->create->task, err);
    case SHOAL__STORE__TASK_OP__OP_SET_DESIRED:
        if (!op->set_desired || !mgr_id_valid(op->set_desired->id))
            return err_set(err, -EINVAL, "invalid task id");
        return check_task_state("desired state", op->set_desired->desired_state, err);
    case SHOAL__STORE__TASK_OP__OP_ASSIGN:
        if (!op->assign || !mgr_id_valid(op->assign->id))
            return err_set(err, -EINVAL, "invalid task id");
        if (check_opt_id("node id", op->assign->node_id, err) < 0)
            return err->code;
        return check_task_status(op->assign->status, err);
    case SHOAL__STORE__TASK_OP__OP_SET_STATUS:
        if (!op->set_status || !mgr_id_valid(op->set_status->id))
            return err_set(err, -EINVAL, "invalid task id");
        if (!op->set_status->status)
            return err_set(err, -EINVAL, "missing task status");
        return check_task_status(op->set_status->status, err);
    case SHOAL__STORE__TASK_OP__OP_REMOVE:
        if (!op->remove || !mgr_id_valid(op->remove->id))
            return err_set(err, -EINVAL, "invalid task id");
        return 0;
    default:
        return err_set(err, -EINVAL, "unknown task op %d", (int)op->op_case);
    }
}

static bool status_equal(const MgrTaskStatus *a, const MgrTaskStatus *b)
{
    return a->state == b->state && a->timestamp_ns == b->timestamp_ns && a->pid == b->pid &&
           a->exit_code == b->exit_code && strcmp(a->message, b->message) == 0 &&
           strcmp(a->err, b->err) == 0 && strcmp(a->container_id, b->container_id) == 0 &&
           strcmp(a->port_status_json, b->port_status_json) == 0;
}

/* The status a report leads to (borrowing from both); false when it changes
 * nothing or would move the state backwards. */
static bool status_merge(const MgrTaskStatus *old, const MgrTaskStatus *in, MgrTaskStatus *out)
{
    if (in->state < old->state)
        return false;
    if (in->state > old->state) {
        *out = *in;
        return true;
    }
    *out = *old;
    out->message = in->message;
    out->err = in->err;
    if (in->container_id[0])
        out->container_id = in->container_id;
    if (in->pid)
        out->pid = in->pid;
    if (in->exit_code)
        out->exit_code = in->exit_code;
    if (in->port_status_json[0])
        out->port_status_json = in->port_status_json;
    return !status_equal(old, out);
}

/* The task a (checked) op other than create is about. */
static const char *task_op_id(const Shoal__Store__TaskOp *op)
{
    switch (op->op_case) {
    case SHOAL__STORE__TASK_OP__OP_SET_DESIRED:
        return op->set_desired->id;
    case SHOAL__STORE__TASK_OP__OP_ASSIGN:
        return op->assign->id;
    case SHOAL__STORE__TASK_OP__OP_SET_STATUS:
        return op->set_status->id;
    case SHOAL__STORE__TASK_OP__OP_REMOVE:
        return op->remove->id;
    default:
        return "";
    }
}

/* Apply one (checked) op to the task table; appends to log what it changed. */
static int task_op_apply(struct ctx *c, const Shoal__Store__TaskOp *op, struct change *log,
                         size_t *nlog, struct err *err)
{
    static const MgrTaskStatus empty_status = SHOAL__STORE__TASK_STATUS__INIT;
    struct table *t = &c->s->tables[MGR_KIND_TASK];
    const MgrTask *old = NULL;
    MgrTask n;
    MgrTaskStatus st;
    Shoal__Store__Meta meta;
    struct mgr__obj_head *obj;

    if (op->op_case == SHOAL__STORE__TASK_OP__OP_CREATE) {
        const MgrTask *in = op->create->task;
        if (table_get(t, in->id))
            return err_set(err, -EEXIST, "task %s already exists", in->id);
        if (!mgr_store_service(c->s, in->service_id))
            return 0; /* the service went away: nothing to create */
        n = *in;
        meta = new_meta(c, NULL);
        if (!n.status)
            n.status = (MgrTaskStatus *)&empty_status;
    } else {
        old = (const MgrTask *)table_get(t, task_op_id(op));
        if (!old)
            return 0;
        n = *old;
        meta = new_meta(c, old->meta);
    }
    n.meta = &meta;
    switch (op->op_case) {
    case SHOAL__STORE__TASK_OP__OP_SET_DESIRED:
        if (op->set_desired->desired_state <= old->desired_state)
            return 0;
        n.desired_state = op->set_desired->desired_state;
        break;
    case SHOAL__STORE__TASK_OP__OP_ASSIGN:
        if (old->node_id[0])
            return 0;
        if (op->assign->status) {
            if (op->assign->status->state < old->status->state)
                return 0;
            if (status_merge(old->status, op->assign->status, &st))
                n.status = &st;
        }
        n.node_id = op->assign->node_id;
        if (!n.node_id[0] && n.status == old->status)
            return 0;
        break;
    case SHOAL__STORE__TASK_OP__OP_SET_STATUS:
        if (!status_merge(old->status, op->set_status->status, &st))
            return 0;
        n.status = &st;
        break;
    case SHOAL__STORE__TASK_OP__OP_REMOVE:
        obj = table_del(t, old->id);
        log[(*nlog)++] = (struct change){obj, NULL};
        return 0;
    default:
        break;
    }
    obj = finish_object(MGR_KIND_TASK, &n);
    if (!obj)
        return err_set(err, -ENOMEM, "out of memory");
    log[(*nlog)++] = (struct change){table_put(t, obj), obj};
    return 0;
}

/* All ops or none: they go into the table as they come (later ops see
 * earlier ones); on failure the log undoes them. Watches run at the end. */
static int op_task_batch(struct ctx *c, const Shoal__Store__TaskBatch *op, struct err *err)
{
    struct table *t = &c->s->tables[MGR_KIND_TASK];
    struct change *log;
    size_t nlog = 0, creates = 0;
    int r = 0;

    for (size_t i = 0; i < op->n_ops; i++) {
        if (check_task_op(op->ops[i], err) < 0)
            return err_wrap(err, "task batch op %zu", i);
        creates += op->ops[i]->op_case == SHOAL__STORE__TASK_OP__OP_CREATE;
    }
    if (op->n_ops == 0)
        return 0;
    /* room for every create up front: undoing never needs to grow the table */
    if (table_reserve(t, creates) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    log = calloc(op->n_ops, sizeof(*log));
    if (!log)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < op->n_ops && r == 0; i++)
        r = task_op_apply(c, op->ops[i], log, &nlog, err);
    if (r < 0) {
        for (size_t j = nlog; j-- > 0;) {
            if (log[j].old)
                (void)table_put(t, log[j].old);
            else
                (void)table_del(t, log[j].new->id);
            mgr_msg_free(log[j].new);
        }
        free(log);
        return r;
    }
    for (size_t j = 0; j < nlog; j++) {
        enum mgr_change ch = !log[j].old   ? MGR_CHANGE_CREATE
                             : !log[j].new ? MGR_CHANGE_DELETE
                                           : MGR_CHANGE_UPDATE;
        notify(c->s, MGR_KIND_TASK, ch, log[j].old, log[j].new, c->index);
    }
    for (size_t j = 0; j < nlog; j++)
        mgr_msg_free(log[j].old);
    free(log);
    return 0;
}

/* ---- networks ------------------------------------------------------------ */

static int op_network_create(struct ctx *c, const Shoal__Store__NetworkCreate *op, struct err *err)
{
    const struct table *t = &c->s->tables[MGR_KIND_NETWORK];
    MgrNetwork n;
    Shoal__Store__Meta meta;

    if (!op->network)
        return err_set(err, -EINVAL, "missing network");
    n = *op->network;
    meta = new_meta(c, NULL);
    n.meta = &meta;
    if (check_network(&n, err) < 0)
        return err->code;
    if (mgr_store_network(c->s, n.id))
        return err_set(err, -EEXIST, "network %s already exists", n.id);
    for (size_t i = 0; i < t->n; i++) {
        const MgrNetwork *o = (const MgrNetwork *)t->objs[i];
        if (strcmp(o->name, n.name) == 0)
            return err_set(err, -EEXIST, "network with name %s already exists", n.name);
        if (n.vni && o->vni == n.vni)
            return err_set(err, -EEXIST, "VXLAN id %u is already used by network %s", n.vni,
                           o->name);
    }
    set_res_id(c, n.id);
    return commit(c->s, MGR_KIND_NETWORK, finish_object(MGR_KIND_NETWORK, &n), c->index, err);
}

static int op_network_remove(struct ctx *c, const Shoal__Store__NetworkRemove *op, struct err *err)
{
    if (!mgr_store_network(c->s, op->id))
        return err_set(err, -ENOENT, "network %s not found", op->id);
    set_res_id(c, op->id);
    remove_obj(c->s, MGR_KIND_NETWORK, op->id, c->index);
    return 0;
}

static bool recent_seen(const struct mgr_store *s, const ProtobufCBinaryData *id)
{
    for (size_t i = 0; i < s->recent_n; i++)
        if (s->recent[i].len == id->len && memcmp(s->recent[i].id, id->data, id->len) == 0)
            return true;
    return false;
}

static void recent_add(struct mgr_store *s, const uint8_t *id, size_t len)
{
    struct recent *r = &s->recent[s->recent_next];

    memcpy(r->id, id, len);
    r->len = len;
    s->recent_next = (s->recent_next + 1) % RECENT_MAX;
    if (s->recent_n < RECENT_MAX)
        s->recent_n++;
}

/* The command being applied is decoded into a bump arena: a block on the
 * stack, then malloc'd chunks for big commands (task batches); nothing is
 * freed until the apply is over, then all of it at once. Apply never keeps
 * a pointer into the command (objects are copied by mgr_msg_dup). */
struct cmd_arena {
    char *p, *end;
    void *chunks; /* each starts with the pointer to the previous one */
};

static void *arena_alloc(void *data, size_t n)
{
    struct cmd_arena *a = data;
    void **chunk;
    size_t size;

    n = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - a->p) >= n) {
        void *r = a->p;
        a->p += n;
        return r;
    }
    size = n + 16 > 65536 ? n + 16 : 65536;
    chunk = malloc(size);
    if (!chunk)
        return NULL;
    *chunk = a->chunks;
    a->chunks = chunk;
    a->p = (char *)chunk + 16 + n;
    a->end = (char *)chunk + size;
    return (char *)chunk + 16;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void arena_release(struct cmd_arena *a)
{
    while (a->chunks) {
        void *next = *(void **)a->chunks;
        free(a->chunks);
        a->chunks = next;
    }
}

int mgr_store_apply(struct mgr_store *s, uint64_t index, const void *buf, size_t len,
                    struct mgr_apply_result *res, struct err *err)
{
    _Alignas(16) char first[8192];
    struct cmd_arena arena = {first, first + sizeof(first), NULL};
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
    MgrCommand *cmd;
    struct ctx c = {s, index, 0, res};
    struct err local_err;
    int r;

    if (!err)
        err = &local_err; /* the checks below read err->code */
    if (res)
        memset(res, 0, sizeof(*res));
    if (!s || index == 0)
        return err_set(err, -EINVAL, "invalid apply");
    s->last_index = index > s->last_index ? index : s->last_index;
    if (!buf || len == 0 || len > MGR__MAX_CMD)
        return err_set(err, -EINVAL, "malformed store command (%zu bytes)", len);
    cmd = shoal__store__store_command__unpack(&alloc, len, buf);
    if (!cmd) {
        arena_release(&arena);
        return err_set(err, -EINVAL, "malformed store command");
    }
    c.ts = cmd->timestamp_ns;
    if (cmd->request_id.len > MGR__MAX_REQ_ID) {
        r = err_set(err, -EINVAL, "malformed store command: request id too long");
        goto out;
    }
    if (cmd->request_id.len && recent_seen(s, &cmd->request_id)) {
        if (res)
            res->duplicate = true;
        r = 0;
        goto out;
    }
    switch (cmd->op_case) {
    case SHOAL__STORE__STORE_COMMAND__OP_CLUSTER_CREATE:
        r = op_cluster_create(&c, cmd->cluster_create, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_CLUSTER_UPDATE:
        r = op_cluster_update(&c, cmd->cluster_update, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_CREATE:
        r = op_node_create(&c, cmd->node_create, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE:
        r = op_node_update(&c, cmd->node_update, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_STATUS:
        r = op_node_set_status(&c, cmd->node_set_status, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_DESCRIPTION:
        r = op_node_set_description(&c, cmd->node_set_description, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_ROLE:
        r = op_node_set_role(&c, cmd->node_set_role, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_CERT:
        r = op_node_set_cert(&c, cmd->node_set_cert, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NODE_REMOVE:
        r = op_node_remove(&c, cmd->node_remove, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_JOIN_TOKEN_ROTATE:
        r = op_join_token_rotate(&c, cmd->join_token_rotate, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_SERVICE_CREATE:
        r = op_service_create(&c, cmd->service_create, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_SERVICE_UPDATE:
        r = op_service_update(&c, cmd->service_update, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_SERVICE_SET_UPDATE_STATUS:
        r = op_service_set_update_status(&c, cmd->service_set_update_status, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_SERVICE_REMOVE:
        r = op_service_remove(&c, cmd->service_remove, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH:
        r = op_task_batch(&c, cmd->task_batch, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NETWORK_CREATE:
        r = op_network_create(&c, cmd->network_create, err);
        break;
    case SHOAL__STORE__STORE_COMMAND__OP_NETWORK_REMOVE:
        r = op_network_remove(&c, cmd->network_remove, err);
        break;
    default:
        r = err_set(err, -EINVAL, "unknown store command %d", (int)cmd->op_case);
        break;
    }
    if (r == 0 && cmd->request_id.len)
        recent_add(s, cmd->request_id.data, cmd->request_id.len);
out:
    arena_release(&arena); /* the whole command */
    return r;
}

/* ---- snapshot / restore ------------------------------------------------- */

int mgr_store_snapshot(const struct mgr_store *s, void **ret_buf, size_t *ret_len, struct err *err)
{
    Shoal__Store__StoreSnapshot snap = SHOAL__STORE__STORE_SNAPSHOT__INIT;
    Shoal__Store__StoreTable tabs[MGR_N_KINDS];
    Shoal__Store__StoreTable *tabp[MGR_N_KINDS];
    ProtobufCBinaryData recent[RECENT_MAX];
    size_t ntab = 0, total = 0;
    int r = 0;
    uint8_t *out = NULL;

    memset(tabs, 0, sizeof(tabs));
    for (int k = 1; k < MGR_N_KINDS; k++) {
        const struct table *t = &s->tables[k];
        Shoal__Store__StoreTable *st = &tabs[ntab];
        shoal__store__store_table__init(st);
        st->kind = (Shoal__Store__ObjectKind)k;
        st->objects = calloc(t->n + 1, sizeof(*st->objects));
        if (!st->objects) {
            r = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        tabp[ntab++] = st;
        for (size_t i = 0; i < t->n; i++) {
            const ProtobufCMessage *m = &t->objs[i]->base;
            size_t l = protobuf_c_message_get_packed_size(m);
            uint8_t *b = malloc(l ? l : 1);
            if (!b) {
                r = err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            protobuf_c_message_pack(m, b);
            st->objects[st->n_objects++] = (ProtobufCBinaryData){l, b};
        }
    }
    for (size_t i = 0; i < s->recent_n; i++) {
        size_t slot = (s->recent_next + RECENT_MAX - s->recent_n + i) % RECENT_MAX;
        recent[i] = (ProtobufCBinaryData){s->recent[slot].len, (uint8_t *)s->recent[slot].id};
    }
    snap.format = 1;
    snap.complete = true;
    snap.last_index = s->last_index;
    snap.n_tables = ntab;
    snap.tables = tabp;
    snap.n_recent_requests = s->recent_n;
    snap.recent_requests = recent;
    total = shoal__store__store_snapshot__get_packed_size(&snap);
    out = malloc(total ? total : 1);
    if (!out) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    shoal__store__store_snapshot__pack(&snap, out);
    *ret_buf = out;
    *ret_len = total;
out:
    for (size_t t = 0; t < ntab; t++) {
        for (size_t i = 0; i < tabs[t].n_objects; i++)
            free(tabs[t].objects[i].data);
        free(tabs[t].objects);
    }
    return r;
}

static int obj_cmp(const void *a, const void *b)
{
    return strcmp((*(struct mgr__obj_head *const *)a)->id, (*(struct mgr__obj_head *const *)b)->id);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int names_unique(enum mgr_kind kind, const struct table *t, struct err *err)
{
    cleanup_free const char **names = malloc((t->n + 1) * sizeof(*names));

    if (!names)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < t->n; i++)
        names[i] = obj_name(kind, t->objs[i]);
    if (t->n > 1)
        qsort(names, t->n, sizeof(*names), name_cmp);
    for (size_t i = 1; i < t->n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return err_set(err, -EINVAL, "two %ss named '%s'", kinds[kind].name, names[i]);
    return 0;
}

int mgr_store_restore(struct mgr_store *s, const void *buf, size_t len, struct err *err)
{
    Shoal__Store__StoreSnapshot *snap;
    struct table tabs[MGR_N_KINDS];
    bool seen[MGR_N_KINDS] = {false};
    struct err local_err;
    int r = 0;

    if (!err)
        err = &local_err;
    memset(tabs, 0, sizeof(tabs));
    if (!buf || len == 0)
        return err_set(err, -EINVAL, "empty snapshot");
    snap = shoal__store__store_snapshot__unpack(NULL, len, buf);
    if (!snap)
        return err_set(err, -EINVAL, "malformed store snapshot");
    if (snap->format != 1) {
        r = err_set(err, -EINVAL, "unknown store snapshot format %u", snap->format);
        goto out;
    }
    if (!snap->complete) {
        r = err_set(err, -EINVAL, "truncated store snapshot");
        goto out;
    }
    if (snap->n_recent_requests > RECENT_MAX) {
        r = err_set(err, -EINVAL, "malformed store snapshot: too many request ids");
        goto out;
    }
    for (size_t i = 0; i < snap->n_recent_requests; i++) {
        if (snap->recent_requests[i].len > MGR__MAX_REQ_ID) {
            r = err_set(err, -EINVAL, "malformed store snapshot: request id too long");
            goto out;
        }
    }
    for (size_t ti = 0; ti < snap->n_tables; ti++) {
        const Shoal__Store__StoreTable *st = snap->tables[ti];
        int k = st->kind;
        struct table *t;

        if (k <= 0 || k >= MGR_N_KINDS) {
            r = err_set(err, -EINVAL, "malformed store snapshot: unknown kind %d", k);
            goto out;
        }
        t = &tabs[k];
        if (seen[k]) {
            r = err_set(err, -EINVAL, "malformed store snapshot: two %s tables", kinds[k].name);
            goto out;
        }
        seen[k] = true;
        if (table_reserve(t, st->n_objects + 1) < 0) {
            r = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < st->n_objects; i++) {
            ProtobufCMessage *u = protobuf_c_message_unpack(kinds[k].desc, NULL, st->objects[i].len,
                                                            st->objects[i].data);
            struct mgr__obj_head *o;
            if (!u) {
                r = err_set(err, -EINVAL, "malformed store snapshot: bad %s", kinds[k].name);
                goto out;
            }
            o = mgr_msg_dup(u); /* every store object is one block */
            protobuf_c_message_free_unpacked(u, NULL);
            if (!o) {
                r = err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            t->objs[t->n++] = o;
            if (check_object(k, o, err) < 0) {
                r = err_wrap(err, "malformed store snapshot");
                goto out;
            }
        }
        if (t->n > 1)
            qsort(t->objs, t->n, sizeof(*t->objs), obj_cmp);
        for (size_t i = 1; i < t->n; i++) {
            if (strcmp(t->objs[i - 1]->id, t->objs[i]->id) == 0) {
                r = err_set(err, -EINVAL, "malformed store snapshot: duplicate %s %s",
                            kinds[k].name, t->objs[i]->id);
                goto out;
            }
        }
        if ((k == MGR_KIND_SERVICE || k == MGR_KIND_NETWORK) && names_unique(k, t, err) < 0) {
            r = err_wrap(err, "malformed store snapshot");
            goto out;
        }
        if (k == MGR_KIND_CLUSTER && t->n > 1) {
            r = err_set(err, -EINVAL, "malformed store snapshot: several clusters");
            goto out;
        }
    }
    /* success: swap in */
    for (int k = 0; k < MGR_N_KINDS; k++) {
        table_release(&s->tables[k]);
        s->tables[k] = tabs[k];
        memset(&tabs[k], 0, sizeof(tabs[k]));
    }
    s->last_index = snap->last_index;
    s->recent_n = 0;
    s->recent_next = 0;
    for (size_t i = 0; i < snap->n_recent_requests; i++)
        recent_add(s, snap->recent_requests[i].data, snap->recent_requests[i].len);
out:
    for (int k = 0; k < MGR_N_KINDS; k++)
        table_release(&tabs[k]);
    shoal__store__store_snapshot__free_unpacked(snap, NULL);
    return r;
}

/* ---- commands ------------------------------------------------------------ */

/* A request id unique in the cluster: 8 random bytes drawn once per process,
 * then a counter (a getrandom(2) per write showed in the leader's profile). */
static int new_request_id(uint8_t rid[16])
{
    static uint8_t prefix[8];
    static int have_prefix;
    static uint64_t counter;
    uint64_t n;

    if (!__atomic_load_n(&have_prefix, __ATOMIC_ACQUIRE)) {
        uint8_t p[8];
        if (getrandom(p, sizeof(p), 0) != (ssize_t)sizeof(p))
            return -EIO;
        /* two threads racing here both store random bytes: either is fine */
        memcpy(prefix, p, sizeof(p));
        __atomic_store_n(&have_prefix, 1, __ATOMIC_RELEASE);
    }
    n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    memcpy(rid, prefix, 8);
    for (int i = 0; i < 8; i++)
        rid[8 + i] = (uint8_t)(n >> (8 * i));
    return 0;
}

int mgr_cmd_pack(MgrCommand *cmd, void **ret_buf, size_t *ret_len, struct err *err)
{
    uint8_t rid[16], zeros[8] = {0};
    size_t base, k, total;
    uint8_t *out;

    if (!cmd || cmd->op_case == SHOAL__STORE__STORE_COMMAND__OP__NOT_SET)
        return err_set(err, -EINVAL, "empty store command");
    if (cmd->request_id.len == 0) {
        if (new_request_id(rid) < 0)
            return err_set(err, -EIO, "getrandom failed");
        cmd->request_id = (ProtobufCBinaryData){sizeof(rid), rid};
    }
    if (cmd->timestamp_ns == 0)
        cmd->timestamp_ns = time_now_ns();
    cmd->pad = (ProtobufCBinaryData){0, NULL};
    base = shoal__store__store_command__get_packed_size(cmd);
    /* pad field: 1 tag byte + 1 length byte + k zeros */
    k = (8 - (base + 2) % 8) % 8;
    if (k == 0)
        k = 8; /* an empty bytes field is not encoded at all */
    cmd->pad = (ProtobufCBinaryData){k, zeros};
    total = base + 2 + k;
    out = calloc(1, total);
    if (!out) {
        cmd->pad = (ProtobufCBinaryData){0, NULL};
        if (cmd->request_id.data == rid)
            cmd->request_id = (ProtobufCBinaryData){0, NULL};
        return err_set(err, -ENOMEM, "out of memory");
    }
    shoal__store__store_command__pack(cmd, out);
    cmd->pad = (ProtobufCBinaryData){0, NULL};
    if (cmd->request_id.data == rid)
        cmd->request_id = (ProtobufCBinaryData){0, NULL};
    *ret_buf = out;
    *ret_len = total;
    return 0;
}

MgrCommand *mgr_cmd_unpack(const void *buf, size_t len)
{
    if (!buf || len == 0 || len > MGR__MAX_CMD)
        return NULL;
    return shoal__store__store_command__unpack(NULL, len, buf);
}

void mgr_cmd_free(MgrCommand *cmd)
{
    if (cmd)
        shoal__store__store_command__free_unpacked(cmd, NULL);
}

void mgr_cluster_spec_defaults(MgrClusterSpec *sp)
{
    if (!sp->name || !sp->name[0])
        sp->name = (char *)"default";
    if (sp->task_history_retention_limit == 0)
        sp->task_history_retention_limit = 5;
    if (sp->snapshot_interval == 0)
        sp->snapshot_interval = 10000;
    if (sp->log_entries_for_slow_followers == 0)
        sp->log_entries_for_slow_followers = 500;
    if (sp->election_tick == 0)
        sp->election_tick = 10;
    if (sp->heartbeat_tick == 0)
        sp->heartbeat_tick = 1;
    if (sp->heartbeat_period_ns == 0)
        sp->heartbeat_period_ns = 5000000000LL;
    if (sp->node_cert_expiry_ns == 0)
        sp->node_cert_expiry_ns = MGR_CA_NODE_VALIDITY_NS;
}

int mgr_api_error(const struct err *e, char *msg, size_t msglen)
{
    switch (e->code) {
    case -ESTALE:
        snprintf(msg, msglen, "rpc error: code = Unknown desc = %s", e->msg);
        return 500;
    case -EBUSY:
        snprintf(msg, msglen, "rpc error: code = FailedPrecondition desc = %s", e->msg);
        return 400;
    case -EACCES:
    case -EPERM:
        snprintf(msg, msglen, "rpc error: code = InvalidArgument desc = %s", e->msg);
        return 400;
    case ERR_NOT_LEADER:
    case ERR_NOT_MANAGER:
        snprintf(msg, msglen, "%s", e->msg);
        return 503;
    default:
        break;
    }
    snprintf(msg, msglen, "%s", e->msg);
    switch (e->code) {
    case -ENOENT:
        return 404;
    case -EEXIST:
        return 409;
    case -EINVAL:
        return 400;
    default:
        return 500;
    }
}
