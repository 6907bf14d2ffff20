/*
 * scheduler/scheduler.c - filters, spread tree and explanations.
 *
 * sched_place() works in three steps:
 *   1. parse the constraints once and run the static filters on every node;
 *   2. build the spread tree: one level per placement preference, nodes
 *      grouped by label value (sorted paths, so building is O(n log n)).
 *      Every group keeps a binary min-heap of its children (sub-groups or
 *      eligible nodes) ordered by (tasks of the service, tasks in total,
 *      key, ordinal);
 *   3. per task, walk from the root to the best leaf through the heap tops,
 *      place the task there, then fix the heaps bottom-up: the keys only
 *      grow, so each level is one sift-down, or a removal when the node (or
 *      the whole group) cannot take another task.
 * At the end, when a task is left over, every node is run through the
 * filters again with its final state to count why each one refused.
 */
#include "scheduler/scheduler.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "lib/macros.h"

#define NODE_LABEL_PREFIX   "node.labels."
#define ENGINE_LABEL_PREFIX "engine.labels."
#define NONE                ((size_t)-1)

/* ---- constraints -------------------------------------------------------- */

enum ckey {
    CK_ID,
    CK_HOSTNAME,
    CK_IP,
    CK_ROLE,
    CK_OS,
    CK_ARCH,
    CK_NODE_LABEL,
    CK_ENGINE_LABEL,
    CK_UNKNOWN,
};

struct cons {
    enum ckey kind;
    bool eq;           /* == (else !=) */
    const char *label; /* CK_*_LABEL: label name, not NUL-terminated */
    size_t label_len;
    const char *val; /* trimmed value, not NUL-terminated */
    size_t val_len;
};

static bool key_char_ok(unsigned char c, bool first)
{
    if (isalpha(c) || c == '_')
        return true;
    return !first && (isdigit(c) || c == '-' || c == '.');
}

/* Docker: ^(?i)[a-z_][a-z0-9\-_.]+$ */
static bool key_valid(const char *s, size_t n)
{
    if (n < 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!key_char_ok((unsigned char)s[i], i == 0))
            return false;
    return true;
}

/* Docker: ^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$ (\s as in RE2) */
static bool value_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || (c != '\v' && isspace(c)))
            continue;
        if (!strchr(":-_.*()?+[]\\^$|/", c) || c == '\0')
            return false;
    }
    return true;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static bool key_is(const char *k, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(k, name, n) == 0;
}

static bool key_has_prefix(const char *k, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && strncasecmp(k, prefix, p) == 0;
}

static int cons_parse(const char *expr, struct cons *c, struct err *err)
{
    static const char *const ops[] = {"==", "!="};

    if (!expr)
        return err_set(err, -EINVAL, "constraint expected one operator from ==, !=");
    for (size_t k = 0; k < ARRAY_SIZE(ops); k++) {
        const char *op = strstr(expr, ops[k]);
        const char *ks = expr, *ke = op, *vs, *ve;
        size_t kn;

        if (!op)
            continue;
        vs = op + 2;
        ve = vs + strlen(vs);
        trim(&ks, &ke);
        trim(&vs, &ve);
        kn = (size_t)(ke - ks);
        if (!key_valid(ks, kn))
            return err_set(err, -EINVAL, "key '%.*s' is invalid", (int)kn, ks);
        if (!value_valid(vs, (size_t)(ve - vs)))
            return err_set(err, -EINVAL, "value '%.*s' is invalid", (int)(ve - vs), vs);

        *c = (struct cons){.eq = k == 0, .val = vs, .val_len = (size_t)(ve - vs)};
        if (key_is(ks, kn, "node.id"))
            c->kind = CK_ID;
        else if (key_is(ks, kn, "node.hostname"))
            c->kind = CK_HOSTNAME;
        else if (key_is(ks, kn, "node.ip"))
            c->kind = CK_IP;
        else if (key_is(ks, kn, "node.role"))
            c->kind = CK_ROLE;
        else if (key_is(ks, kn, "node.platform.os"))
            c->kind = CK_OS;
        else if (key_is(ks, kn, "node.platform.arch"))
            c->kind = CK_ARCH;
        else if (key_has_prefix(ks, kn, NODE_LABEL_PREFIX))
            c->kind = CK_NODE_LABEL;
        else if (key_has_prefix(ks, kn, ENGINE_LABEL_PREFIX))
            c->kind = CK_ENGINE_LABEL;
        else
            c->kind = CK_UNKNOWN;
        if (c->kind == CK_NODE_LABEL || c->kind == CK_ENGINE_LABEL) {
            size_t p = strlen(c->kind == CK_NODE_LABEL ? NODE_LABEL_PREFIX : ENGINE_LABEL_PREFIX);
            c->label = ks + p;
            c->label_len = kn - p;
        }
        return 0;
    }
    return err_set(err, -EINVAL, "constraint expected one operator from ==, !=");
}

int sched_constraint_check(const char *expr, struct err *err)
{
    struct cons c;

    return cons_parse(expr, &c, err);
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static const char *label_find(const struct sched_label *l, size_t n, const char *key, size_t klen)
{
    for (size_t i = 0; i < n; i++)
        if (l[i].key && strlen(l[i].key) == klen && memcmp(l[i].key, key, klen) == 0)
            return str_or_empty(l[i].value);
    return "";
}

/* Docker compares constraint values case-insensitively. */
static bool cons_value_is(const struct cons *c, const char *what)
{
    return strlen(what) == c->val_len && strncasecmp(what, c->val, c->val_len) == 0;
}

/* An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96, as Go does). */
static bool ip_parse(const char *s, size_t n, unsigned char out[16])
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char v4[4];

    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

/* node.ip: a single address or a CIDR; anything else matches nothing. */
static bool cons_ip_match(const struct cons *c, const char *node_addr)
{
    unsigned char want[16], have[16];
    bool have_ok = ip_parse(node_addr, strlen(node_addr), have);
    const char *slash = memchr(c->val, '/', c->val_len);
    bool hit;

    if (!slash) {
        if (!ip_parse(c->val, c->val_len, want))
            return false;
        hit = have_ok && memcmp(want, have, 16) == 0;
    } else {
        size_t alen = (size_t)(slash - c->val), plen = c->val_len - alen - 1;
        unsigned bits = 0, max;
        bool v4 = memchr(c->val, ':', alen) == NULL;

        if (!ip_parse(c->val, alen, want) || plen == 0 || plen > 3)
            return false;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)slash[1 + i]))
                return false;
            bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
        }
        max = v4 ? 32 : 128;
        if (bits > max)
            return false;
        if (v4)
            bits += 96;
        hit = have_ok;
        for (unsigned b = 0; hit && b < bits; b++) {
            unsigned char m = (unsigned char)(0x80u >> (b % 8));
            hit = (want[b / 8] & m) == (have[b / 8] & m);
        }
    }
    return hit == c->eq;
}

static bool cons_match(const struct cons *c, const struct sched_node *n)
{
    const char *v;

    switch (c->kind) {
    case CK_ID:
        v = str_or_empty(n->id);
        break;
    case CK_HOSTNAME:
        v = str_or_empty(n->hostname);
        break;
    case CK_IP:
        return cons_ip_match(c, str_or_empty(n->addr));
    case CK_ROLE:
        v = n->manager ? "manager" : "worker";
        break;
    case CK_OS:
        v = str_or_empty(n->os);
        break;
    case CK_ARCH:
        v = str_or_empty(n->arch);
        break;
    case CK_NODE_LABEL:
        v = label_find(n->labels, n->n_labels, c->label, c->label_len);
        break;
    case CK_ENGINE_LABEL:
        v = label_find(n->engine_labels, n->n_engine_labels, c->label, c->label_len);
        break;
    default:
        return false;
    }
    return cons_value_is(c, v) == c->eq;
}

static bool cons_all_match(const struct cons *cs, size_t n, const struct sched_node *node)
{
    for (size_t i = 0; cs && i < n; i++)
        if (!cons_match(&cs[i], node))
            return false;
    return true;
}

/* ---- other static filters ---------------------------------------------- */

static const char *arch_norm(const char *a)
{
    if (strcmp(a, "x86_64") == 0)
        return "amd64";
    if (strcmp(a, "aarch64") == 0)
        return "arm64";
    return a;
}

static bool platform_ok(const struct sched_req *req, const struct sched_node *n)
{
    const char *nos = str_or_empty(n->os), *narch = arch_norm(str_or_empty(n->arch));

    if (req->n_platforms == 0)
        return true;
    for (size_t i = 0; i < req->n_platforms; i++) {
        const char *os = str_or_empty(req->platforms[i].os);
        const char *arch = str_or_empty(req->platforms[i].arch);
        if ((!*arch || strcmp(arch_norm(arch), narch) == 0) && (!*os || strcmp(os, nos) == 0))
            return true;
    }
    return false;
}

static bool port_eq(const struct sched_port *a, const struct sched_port *b)
{
    return a->port == b->port &&
           strcasecmp(a->proto ? a->proto : "tcp", b->proto ? b->proto : "tcp") == 0;
}

static bool req_has_ports(const struct sched_req *req)
{
    for (size_t i = 0; i < req->n_host_ports; i++)
        if (req->host_ports[i].port != 0)
            return true;
    return false;
}

static bool ports_free(const struct sched_req *req, const struct sched_node *n)
{
    for (size_t i = 0; i < req->n_host_ports; i++) {
        if (req->host_ports[i].port == 0)
            continue;
        for (size_t k = 0; k < n->n_ports_in_use; k++)
            if (port_eq(&req->host_ports[i], &n->ports_in_use[k]))
                return false;
    }
    return true;
}

static bool resources_enabled(const struct sched_req *req)
{
    return req->nano_cpus != 0 || req->memory != 0;
}

/* ---- explanations ------------------------------------------------------ */

static void appendf(char *buf, size_t len, size_t *off, const char *fmt, ...) PRINTF_LIKE(4, 5);
static void appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *off += (size_t)n;
    if (*off >= len)
        *off = len - 1;
}

static void explain_one(enum sched_filter f, size_t n, char *buf, size_t len, size_t *off)
{
    const char *nodes = n == 1 ? "node" : "nodes";

    switch (f) {
    case SCHED_FILTER_READY:
        appendf(buf, len, off, "%zu %s not available for new tasks", n, nodes);
        break;
    case SCHED_FILTER_RESOURCES:
        appendf(buf, len, off, "insufficient resources on %zu %s", n, nodes);
        break;
    case SCHED_FILTER_CONSTRAINTS:
        appendf(buf, len, off, "scheduling constraints not satisfied on %zu %s", n, nodes);
        break;
    case SCHED_FILTER_PLATFORM:
        appendf(buf, len, off, "unsupported platform on %zu %s", n, nodes);
        break;
    case SCHED_FILTER_HOST_PORT:
        appendf(buf, len, off, "host-mode port already in use on %zu %s", n, nodes);
        break;
    case SCHED_FILTER_MAX_REPLICAS:
        appendf(buf, len, off, "max replicas per node limit exceed");
        break;
    default:
        break;
    }
}

void sched_explain(const size_t counts[SCHED_N_FILTERS], char *buf, size_t len)
{
    enum sched_filter order[SCHED_N_FILTERS];
    size_t n = 0, off = 0;

    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    /* most frequent first; equal counts keep pipeline order (stable insertion) */
    for (int f = SCHED_FILTER_OK + 1; f < SCHED_N_FILTERS; f++) {
        size_t k = n;
        if (counts[f] == 0)
            continue;
        while (k > 0 && counts[order[k - 1]] < counts[f]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = (enum sched_filter)f;
        n++;
    }
    appendf(buf, len, &off, "no suitable node");
    if (n == 0)
        return;
    appendf(buf, len, &off, " (");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            appendf(buf, len, &off, "; ");
        explain_one(order[i], counts[order[i]], buf, len, &off);
    }
    appendf(buf, len, &off, ")");
}

/* ---- one node ------------------------------------------------------------ */

/* Per-node state while placing. */
struct nstate {
    int64_t cpu_avail, mem_avail;
    uint64_t svc, total;
    uint64_t placed;
    bool ready_ok, cons_ok, plat_ok, ports_ok;
};

struct ctx {
    const struct sched_node *nodes;
    size_t n_nodes;
    const struct sched_req *req;
    struct cons *cons;
    bool res_on, has_ports;
    struct nstate *st;
};

static void nstate_init(const struct ctx *c, const struct sched_node *n, struct nstate *s)
{
    *s = (struct nstate){
        .cpu_avail = n->nano_cpus - n->reserved_cpus,
        .mem_avail = n->memory_bytes - n->reserved_memory,
        .svc = n->service_tasks,
        .total = n->n_tasks,
        .ready_ok = n->ready && n->availability == SCHED_AVAIL_ACTIVE,
        .cons_ok = cons_all_match(c->cons, c->req->n_constraints, n),
        .plat_ok = platform_ok(c->req, n),
        .ports_ok = ports_free(c->req, n),
    };
}

/* The first filter that refuses one more task on a node in state s. */
static enum sched_filter first_failure(const struct ctx *c, const struct nstate *s, bool max_on)
{
    const struct sched_req *req = c->req;

    if (!s->ready_ok)
        return SCHED_FILTER_READY;
    if (c->res_on && (req->nano_cpus > s->cpu_avail || req->memory > s->mem_avail))
        return SCHED_FILTER_RESOURCES;
    if (!s->cons_ok)
        return SCHED_FILTER_CONSTRAINTS;
    if (!s->plat_ok)
        return SCHED_FILTER_PLATFORM;
    if (!s->ports_ok || (c->has_ports && s->placed > 0))
        return SCHED_FILTER_HOST_PORT;
    if (max_on && req->max_replicas > 0 && s->svc >= req->max_replicas)
        return SCHED_FILTER_MAX_REPLICAS;
    return SCHED_FILTER_OK;
}

static int cons_compile(const struct sched_req *req, struct cons **ret, struct err *err)
{
    cleanup_free struct cons *cs = NULL;

    *ret = NULL;
    if (req->n_constraints == 0)
        return 0;
    if (!req->constraints)
        return err_set(err, -EINVAL, "constraints missing");
    cs = calloc(req->n_constraints, sizeof(*cs));
    if (!cs)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < req->n_constraints; i++) {
        int r = cons_parse(req->constraints[i], &cs[i], err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(cs);
    return 0;
}

static int req_check(const struct sched_req *req, struct err *err)
{
    if (!req)
        return err_set(err, -EINVAL, "no scheduling request");
    if ((req->n_spread && !req->spread) || (req->n_host_ports && !req->host_ports) ||
        (req->n_platforms && !req->platforms))
        return err_set(err, -EINVAL, "invalid scheduling request");
    if (req->nano_cpus < 0 || req->memory < 0)
        return err_set(err, -EINVAL, "negative resource reservation");
    if (req->n_spread > SCHED_MAX_SPREAD)
        return err_set(err, -EINVAL, "too many placement preferences (at most %d)",
                       SCHED_MAX_SPREAD);
    return 0;
}

int sched_node_check(const struct sched_node *node, const struct sched_req *req,
                     enum sched_filter *ret_failed, char *reason, size_t reason_len,
                     struct err *err)
{
    cleanup_free struct cons *cs = NULL;
    struct ctx c;
    struct nstate s;
    enum sched_filter f = SCHED_N_FILTERS;
    int r;

    if (!node || !ret_failed)
        return err_set(err, -EINVAL, "invalid arguments");
    r = req_check(req, err);
    if (r < 0)
        return r;
    r = cons_compile(req, &cs, err);
    if (r < 0)
        return r;
    c = (struct ctx){.req = req, .cons = cs, .res_on = resources_enabled(req)};
    c.has_ports = req_has_ports(req);
    nstate_init(&c, node, &s);
    f = first_failure(&c, &s, false);
    if (reason && reason_len > 0) {
        reason[0] = '\0';
        if (f != SCHED_FILTER_OK) {
            size_t counts[SCHED_N_FILTERS] = {0};
            counts[f] = 1;
            sched_explain(counts, reason, reason_len);
        }
    }
    *ret_failed = f;
    return 0;
}

bool sched_node_eligible(const struct sched_node *node, const struct sched_req *req)
{
    enum sched_filter f = SCHED_N_FILTERS;

    return sched_node_check(node, req, &f, NULL, 0, NULL) == 0 && f == SCHED_FILTER_OK;
}

/* ---- the spread tree ---------------------------------------------------- */

/* A group of the tree (a label value at one level) or a node (a leaf). */
struct ent {
    uint64_t svc;    /* tasks of the service in the subtree */
    uint64_t total;  /* tasks of all services in the subtree */
    const char *key; /* label value or node id: third tie-break */
    size_t ord;      /* creation order or node index: last tie-break */
    size_t parent;   /* NONE for the root */
    size_t pos;      /* index in the parent's heap */
    size_t heap_off; /* groups: children heap = heap[heap_off .. +heap_len) */
    size_t heap_len;
    int node; /* index into nodes, -1 for a group */
};

struct tree {
    struct ent *ents; /* groups [0, n_groups), then node i at groups_max + i */
    size_t *heap;     /* all children heaps, back to back */
    size_t n_groups, groups_max;
};

static bool ent_less(const struct ent *a, const struct ent *b)
{
    int k;

    if (a->svc != b->svc)
        return a->svc < b->svc;
    if (a->total != b->total)
        return a->total < b->total;
    k = strcmp(a->key, b->key);
    if (k != 0)
        return k < 0;
    return a->ord < b->ord;
}

static void heap_set(struct tree *t, const struct ent *g, size_t pos, size_t e)
{
    t->heap[g->heap_off + pos] = e;
    t->ents[e].pos = pos;
}

static void sift_down(struct tree *t, struct ent *g, size_t pos)
{
    size_t *h = t->heap + g->heap_off;
    size_t e = h[pos];

    for (;;) {
        size_t l = 2 * pos + 1, best = l;
        if (l >= g->heap_len)
            break;
        if (l + 1 < g->heap_len && ent_less(&t->ents[h[l + 1]], &t->ents[h[l]]))
            best = l + 1;
        if (!ent_less(&t->ents[h[best]], &t->ents[e]))
            break;
        heap_set(t, g, pos, h[best]);
        pos = best;
    }
    heap_set(t, g, pos, e);
}

static void sift_up(struct tree *t, struct ent *g, size_t pos)
{
    size_t *h = t->heap + g->heap_off;
    size_t e = h[pos];

    while (pos > 0) {
        size_t p = (pos - 1) / 2;
        if (!ent_less(&t->ents[e], &t->ents[h[p]]))
            break;
        heap_set(t, g, pos, h[p]);
        pos = p;
    }
    heap_set(t, g, pos, e);
}

static void heap_remove(struct tree *t, struct ent *g, size_t pos)
{
    size_t last = t->heap[g->heap_off + g->heap_len - 1];

    g->heap_len--;
    if (pos == g->heap_len)
        return;
    heap_set(t, g, pos, last);
    sift_down(t, g, pos);
    sift_up(t, g, t->ents[last].pos);
}

/* Label values of the spread levels for each node: vals[i * depth + l]. */
static const char *spread_value(const char *desc, const struct sched_node *n)
{
    size_t np = strlen(NODE_LABEL_PREFIX), ep = strlen(ENGINE_LABEL_PREFIX);
    size_t len;

    if (!desc)
        return "";
    len = strlen(desc);
    if (len > np && strncasecmp(desc, NODE_LABEL_PREFIX, np) == 0)
        return label_find(n->labels, n->n_labels, desc + np, len - np);
    if (len > ep && strncasecmp(desc, ENGINE_LABEL_PREFIX, ep) == 0)
        return label_find(n->engine_labels, n->n_engine_labels, desc + ep, len - ep);
    return ""; /* other descriptors: one branch for everyone, as swarmkit */
}

struct path_sort {
    const char **vals;
    size_t depth;
};

static int path_cmp(const void *a, const void *b, void *arg)
{
    const struct path_sort *ps = arg;
    size_t i = *(const size_t *)a, k = *(const size_t *)b;

    for (size_t l = 0; l < ps->depth; l++) {
        int c = strcmp(ps->vals[i * ps->depth + l], ps->vals[k * ps->depth + l]);
        if (c != 0)
            return c;
    }
    return i < k ? -1 : i > k;
}

static void tree_release(struct tree *t)
{
    free(t->ents);
    free(t->heap);
    *t = (struct tree){0};
}

static int tree_build(struct tree *t, const struct ctx *c, struct err *err)
{
    size_t n = c->n_nodes, depth = c->req->n_spread, off = 0;
    cleanup_free const char **vals = NULL;
    cleanup_free size_t *order = NULL;
    cleanup_free size_t *cur = NULL;

    /* at most one new group per level per node, plus the root */
    t->groups_max = 1 + n * depth;
    t->ents = calloc(t->groups_max + n, sizeof(*t->ents));
    t->heap = calloc(t->groups_max + n, sizeof(*t->heap));
    order = calloc(n ? n : 1, sizeof(*order));
    cur = calloc(depth + 1, sizeof(*cur));
    if (depth > 0)
        vals = calloc(n ? n * depth : 1, sizeof(*vals));
    if (!t->ents || !t->heap || !order || !cur || (depth > 0 && !vals))
        return err_set(err, -ENOMEM, "out of memory");

    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        for (size_t l = 0; l < depth; l++)
            vals[i * depth + l] = spread_value(c->req->spread[l], &c->nodes[i]);
    }
    if (depth > 0) {
        struct path_sort ps = {.vals = vals, .depth = depth};
        qsort_r(order, n, sizeof(*order), path_cmp, &ps);
    }

    t->ents[0] = (struct ent){.key = "", .parent = NONE, .node = -1};
    t->n_groups = 1;
    cur[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k], lvl = 0, leaf;
        struct ent *ne = &t->ents[t->groups_max + i];

        if (k > 0) {
            size_t prev = order[k - 1];
            while (lvl < depth && strcmp(vals[i * depth + lvl], vals[prev * depth + lvl]) == 0)
                lvl++;
        }
        for (size_t l = lvl; l < depth; l++) {
            size_t g = t->n_groups++;
            t->ents[g] =
                (struct ent){.key = vals[i * depth + l], .ord = g, .parent = cur[l], .node = -1};
            cur[l + 1] = g;
        }
        leaf = cur[depth];
        *ne = (struct ent){.svc = c->st[i].svc,
                           .total = c->st[i].total,
                           .key = str_or_empty(c->nodes[i].id),
                           .ord = i,
                           .parent = leaf,
                           .node = (int)i};
        for (size_t g = leaf; g != NONE; g = t->ents[g].parent) {
            t->ents[g].svc += ne->svc;
            t->ents[g].total += ne->total;
        }
        if (first_failure(c, &c->st[i], true) == SCHED_FILTER_OK)
            t->ents[leaf].heap_len++; /* counted now, filled below */
    }

    /* a group joins its parent's heap when it holds an eligible node;
     * children are created after their parent, so walk backwards */
    for (size_t g = t->n_groups; g-- > 1;)
        if (t->ents[g].heap_len > 0)
            t->ents[t->ents[g].parent].heap_len++;
    /* heap_len holds each group's number of children so far: turn it into
     * offsets, then fill (groups first, then eligible nodes) */
    for (size_t g = 0; g < t->n_groups; g++) {
        size_t cap = t->ents[g].heap_len;
        t->ents[g].heap_off = off;
        t->ents[g].heap_len = 0;
        off += cap;
        if (g > 0 && cap > 0) {
            struct ent *p = &t->ents[t->ents[g].parent]; /* parent < g: already has its offset */
            heap_set(t, p, p->heap_len++, g);
        }
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if (first_failure(c, &c->st[i], true) == SCHED_FILTER_OK) {
            struct ent *p = &t->ents[t->ents[t->groups_max + i].parent];
            heap_set(t, p, p->heap_len++, t->groups_max + i);
        }
    }
    for (size_t g = 0; g < t->n_groups; g++)
        for (size_t pos = t->ents[g].heap_len / 2; pos-- > 0;)
            sift_down(t, &t->ents[g], pos);
    return 0;
}

/* Place one task on the best node; returns its index or -1. */
static int tree_take(struct tree *t, struct ctx *c)
{
    size_t e = 0, i;
    bool drop;
    struct nstate *s;

    if (t->ents[0].heap_len == 0)
        return -1;
    while (t->ents[e].node < 0)
        e = t->heap[t->ents[e].heap_off];
    i = (size_t)t->ents[e].node;
    s = &c->st[i];
    s->svc++;
    s->total++;
    s->placed++;
    s->cpu_avail -= c->req->nano_cpus;
    s->mem_avail -= c->req->memory;
    for (size_t x = e; x != NONE; x = t->ents[x].parent) {
        t->ents[x].svc++;
        t->ents[x].total++;
    }
    /* keys only grew: one sift-down per level, or a removal */
    drop = first_failure(c, s, true) != SCHED_FILTER_OK;
    for (size_t x = e; t->ents[x].parent != NONE; x = t->ents[x].parent) {
        struct ent *p = &t->ents[t->ents[x].parent];
        if (drop)
            heap_remove(t, p, t->ents[x].pos);
        else
            sift_down(t, p, t->ents[x].pos);
        drop = p->heap_len == 0;
    }
    return (int)i;
}

int sched_place(const struct sched_node *nodes, size_t n_nodes, const struct sched_req *req,
                size_t n_tasks, int *ret_node, char *reason, size_t reason_len, struct err *err)
{
    cleanup_free struct cons *cs = NULL;
    cleanup_free struct nstate *st = NULL;
    CLEANUP(tree_release) struct tree t = {0};
    struct ctx c;
    size_t placed = 0;
    int r;

    if (reason && reason_len > 0)
        reason[0] = '\0';
    r = req_check(req, err);
    if (r < 0)
        return r;
    if ((n_nodes > 0 && !nodes) || (n_tasks > 0 && !ret_node))
        return err_set(err, -EINVAL, "invalid arguments");
    if (n_tasks > INT_MAX || n_nodes > INT_MAX)
        return err_set(err, -E2BIG, "too many tasks or nodes to schedule at once");
    for (size_t i = 0; i < n_nodes; i++)
        if (!nodes[i].id)
            return err_set(err, -EINVAL, "node %zu has no id", i);
    r = cons_compile(req, &cs, err);
    if (r < 0)
        return r;
    if (n_tasks == 0)
        return 0;

    st = calloc(n_nodes ? n_nodes : 1, sizeof(*st));
    if (!st)
        return err_set(err, -ENOMEM, "out of memory");
    c = (struct ctx){.nodes = nodes,
                     .n_nodes = n_nodes,
                     .req = req,
                     .cons = cs,
                     .res_on = resources_enabled(req),
                     .has_ports = req_has_ports(req),
                     .st = st};
    for (size_t i = 0; i < n_nodes; i++)
        nstate_init(&c, &nodes[i], &st[i]);
    r = tree_build(&t, &c, err);
    if (r < 0)
        return r;

    for (size_t k = 0; k < n_tasks; k++) {
        ret_node[k] = tree_take(&t, &c);
        if (ret_node[k] >= 0)
            placed++;
    }
    if (placed < n_tasks && reason && reason_len > 0) {
        size_t counts[SCHED_N_FILTERS] = {0};
        for (size_t i = 0; i < n_nodes; i++)
            counts[first_failure(&c, &st[i], true)]++;
        sched_explain(counts, reason, reason_len);
    }
    return (int)placed;
}

void sched_account(struct sched_node *nodes, size_t n_nodes, const struct sched_req *req,
                   const int *ret_node, size_t n_tasks)
{
    if (!nodes || !req || !ret_node)
        return;
    for (size_t k = 0; k < n_tasks; k++) {
        struct sched_node *n;
        if (ret_node[k] < 0 || (size_t)ret_node[k] >= n_nodes)
            continue;
        n = &nodes[ret_node[k]];
        n->reserved_cpus += req->nano_cpus;
        n->reserved_memory += req->memory;
        n->n_tasks++;
        n->service_tasks++;
    }
}
