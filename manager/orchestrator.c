/*
 * manager/orchestrator.c - see manager/orchestrator.h.
 *
 * One pass, service by service:
 *   1. live tasks (desired <= running) that ended on their own, or whose node
 *      is down, drained or gone, are shut down; a slot (replicated) or node
 *      (global) left without a live task gets a new one unless the restart
 *      policy says the last one should stay ended;
 *   2. replicas: slots above the count are shut down, missing slots created;
 *   3. rolling update: out-of-date live tasks are replaced Parallelism at a
 *      time once the previous batch runs, Delay apart; failures among the new
 *      tasks beyond MaxFailureRatio pause, roll back or continue;
 *   4. history: at most TaskHistoryRetentionLimit tasks per slot;
 *   5. tasks of deleted services go to "remove" and are deleted once ended;
 *   6. unassigned tasks are placed by the scheduler in one batch.
 */
#define LOG_MODULE "orch"

#include "manager/orchestrator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/macros.h"

#include "manager/svcjson.h"
#include "scheduler/scheduler.h"

#define ST(x)             SHOAL__STORE__TASK_STATE__TASK_##x
#define NODE_READY        SHOAL__STORE__NODE_STATE__STATE_READY
#define NODE_AVAIL_ACTIVE SHOAL__STORE__NODE_AVAILABILITY__AVAIL_ACTIVE
#define NODE_AVAIL_DRAIN  SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN
#define DEFAULT_HISTORY   5
#define MAX_OPS_PER_PASS  2000

/* ---- arena ---------------------------------------------------------------------- */

struct ablock {
    struct ablock *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

static void *amalloc(void **arena, size_t n)
{
    struct ablock *b = *arena;

    n = (n + 15) & ~(size_t)15;
    if (!b || b->size - b->used < n) {
        size_t sz = n > 16384 ? n : 16384;
        struct ablock *nb = malloc(sizeof(*nb) + sz);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->size = sz;
        *arena = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static char *astrdup(void **arena, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *p = amalloc(arena, n);

    if (p)
        memcpy(p, s ? s : "", n);
    return p;
}

static void arena_free(void *arena)
{
    struct ablock *b = arena;

    while (b) {
        struct ablock *n = b->next;
        free(b);
        b = n;
    }
}

void mgr_orch_cmd_free(struct mgr_orch_cmd *c)
{
    if (!c)
        return;
    arena_free(c->arena);
    free(c);
}

/* ---- leader memory ---------------------------------------------------------------- */

struct upd_mem {
    char id[MGR_ID_LEN + 1];
    uint64_t spec_version; /* the update being paced */
    bool batch_out;        /* a batch was started and is not running yet */
    int64_t next_ns;       /* no new batch before this */
    bool seen;
};

struct mgr_orch_mem {
    struct upd_mem *u;
    size_t n;
};

struct mgr_orch_mem *mgr_orch_mem_new(void)
{
    return calloc(1, sizeof(struct mgr_orch_mem));
}

void mgr_orch_mem_free(struct mgr_orch_mem *m)
{
    if (!m)
        return;
    free(m->u);
    free(m);
}

static struct upd_mem *upd_get(struct mgr_orch_mem *m, const MgrService *s)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->u[i].id, s->id) == 0) {
            m->u[i].seen = true;
            if (m->u[i].spec_version != s->spec_version) {
                m->u[i].spec_version = s->spec_version;
                m->u[i].batch_out = false;
                m->u[i].next_ns = 0;
            }
            return &m->u[i];
        }
    struct upd_mem *nu = realloc(m->u, (m->n + 1) * sizeof(*nu));
    if (!nu)
        return NULL;
    m->u = nu;
    nu = &m->u[m->n++];
    memset(nu, 0, sizeof(*nu));
    snprintf(nu->id, sizeof(nu->id), "%s", s->id);
    nu->spec_version = s->spec_version;
    nu->seen = true;
    return nu;
}

static void upd_sweep(struct mgr_orch_mem *m)
{
    size_t j = 0;

    for (size_t i = 0; i < m->n; i++)
        if (m->u[i].seen) {
            m->u[i].seen = false;
            m->u[j++] = m->u[i];
        }
    m->n = j;
}

/* ---- the pass ---------------------------------------------------------------------- */

/* A node as the pass sees it. */
struct pnode {
    const MgrNode *n;
    bool usable;  /* exists, ready */
    bool drained; /* availability drain */
    bool active;  /* ready and availability active: may get new tasks */
    struct sched_node sn;
    struct sched_label *labels, *elabels;
};

/* A service's parsed spec, once per pass. */
struct vcache {
    const MgrService *sv;
    struct mgr_svc_view v;
    bool ok;
    struct sched_port *ports; /* host-mode published ports (arena) */
    size_t n_ports;
};

struct pass {
    const struct mgr_store *s;
    struct mgr_orch_mem *m;
    int64_t now;
    int64_t wake;
    void *arena;
    Shoal__Store__TaskOp **ops;
    size_t n_ops, cap_ops;
    struct pnode *nodes;
    size_t n_nodes;
    struct vcache *views; /* in store order (by id) */
    size_t n_views;
    uint64_t history;
    /* at most one service update-status command per pass */
    Shoal__Store__ServiceSetUpdateStatus *sus;
    int err;
};

static void wake_at(struct pass *p, int64_t t)
{
    if (t > p->now && (p->wake == 0 || t < p->wake))
        p->wake = t;
}

static struct pnode *pnode_find(struct pass *p, const char *id)
{
    if (!id || !id[0])
        return NULL;
    for (size_t i = 0; i < p->n_nodes; i++)
        if (strcmp(p->nodes[i].n->id, id) == 0)
            return &p->nodes[i];
    return NULL;
}

static Shoal__Store__TaskOp *op_new(struct pass *p)
{
    Shoal__Store__TaskOp *op;

    if (p->err)
        return NULL;
    if (p->n_ops == p->cap_ops) {
        size_t nc = p->cap_ops ? p->cap_ops * 2 : 32;
        Shoal__Store__TaskOp **n = amalloc(&p->arena, nc * sizeof(*n));
        if (!n) {
            p->err = -ENOMEM;
            return NULL;
        }
        if (p->n_ops)
            memcpy(n, p->ops, p->n_ops * sizeof(*n));
        p->ops = n;
        p->cap_ops = nc;
    }
    op = amalloc(&p->arena, sizeof(*op));
    if (!op) {
        p->err = -ENOMEM;
        return NULL;
    }
    shoal__store__task_op__init(op);
    p->ops[p->n_ops++] = op;
    return op;
}

static void op_desired(struct pass *p, const MgrTask *t, int desired)
{
    Shoal__Store__TaskOp *op = op_new(p);
    Shoal__Store__TaskSetDesired *sd = op ? amalloc(&p->arena, sizeof(*sd)) : NULL;

    if (!sd) {
        p->err = -ENOMEM;
        return;
    }
    shoal__store__task_set_desired__init(sd);
    sd->id = t->id;
    sd->desired_state = (Shoal__Store__TaskState)desired;
    op->op_case = SHOAL__STORE__TASK_OP__OP_SET_DESIRED;
    op->set_desired = sd;
}

static void op_remove(struct pass *p, const MgrTask *t)
{
    Shoal__Store__TaskOp *op = op_new(p);
    Shoal__Store__TaskRemove *rm = op ? amalloc(&p->arena, sizeof(*rm)) : NULL;

    if (!rm) {
        p->err = -ENOMEM;
        return;
    }
    shoal__store__task_remove__init(rm);
    rm->id = t->id;
    op->op_case = SHOAL__STORE__TASK_OP__OP_REMOVE;
    op->remove = rm;
}

static MgrTaskStatus *status_new(struct pass *p, int state, const char *msg, const char *err)
{
    MgrTaskStatus *st = amalloc(&p->arena, sizeof(*st));

    if (!st) {
        p->err = -ENOMEM;
        return NULL;
    }
    shoal__store__task_status__init(st);
    st->state = (Shoal__Store__TaskState)state;
    st->timestamp_ns = p->now;
    st->message = astrdup(&p->arena, msg);
    st->err = astrdup(&p->arena, err);
    if (!st->message || !st->err)
        p->err = -ENOMEM;
    return st;
}

/* A new task of service sv in slot (replicated) or on node (global). */
static MgrTask *op_create(struct pass *p, const MgrService *sv, const char *task_template,
                          uint64_t slot, const char *node_id, int desired, uint64_t attempt,
                          int64_t restart_at)
{
    Shoal__Store__TaskOp *op = op_new(p);
    Shoal__Store__TaskCreate *tc = op ? amalloc(&p->arena, sizeof(*tc)) : NULL;
    MgrTask *t = tc ? amalloc(&p->arena, sizeof(*t)) : NULL;
    char id[MGR_ID_LEN + 1];

    if (!t || mgr_id_new(id) < 0) {
        p->err = -ENOMEM;
        return NULL;
    }
    shoal__store__task_create__init(tc);
    shoal__store__task__init(t);
    t->id = astrdup(&p->arena, id);
    t->service_id = sv->id;
    t->service_name = sv->name;
    t->slot = slot;
    t->node_id = astrdup(&p->arena, node_id ? node_id : "");
    t->desired_state = (Shoal__Store__TaskState)desired;
    t->spec_version = sv->spec_version;
    t->spec_json = (char *)task_template;
    t->endpoint_json = sv->endpoint_json ? sv->endpoint_json : (char *)"";
    t->attempt = attempt;
    t->restart_at_ns = restart_at;
    if (node_id && node_id[0])
        t->status = status_new(p, ST(ASSIGNED), "scheduler assigned task to node", "");
    else
        t->status = status_new(p, ST(NEW), "created", "");
    if (!t->id || !t->node_id)
        p->err = -ENOMEM;
    tc->task = t;
    op->op_case = SHOAL__STORE__TASK_OP__OP_CREATE;
    op->create = tc;
    return t;
}

/* ---- per-service helpers ------------------------------------------------------------ */

static bool is_live(const MgrTask *t)
{
    return t->desired_state <= ST(RUNNING);
}

static int tstate(const MgrTask *t)
{
    return t->status ? (int)t->status->state : ST(NEW);
}

static int64_t tstamp(const MgrTask *t)
{
    return t->status ? t->status->timestamp_ns : 0;
}

/* The task ended by itself (exit, failure, rejection), not because we
 * stopped it. */
static bool ended_on_own(const MgrTask *t)
{
    int st = tstate(t);

    return st == ST(COMPLETE) || st == ST(FAILED) || st == ST(REJECTED);
}

static bool is_done(const MgrTask *t)
{
    return tstate(t) > ST(RUNNING);
}

static int64_t created(const MgrTask *t)
{
    return t->meta ? t->meta->created_at_ns : 0;
}

/* Is the newest task of a slot to be followed by another one? */
static bool should_restart(const struct mgr_svc_view *v, const MgrTask *newest, uint64_t *attempt,
                           int64_t *restart_at)
{
    *attempt = 0;
    *restart_at = 0;
    if (!newest || !ended_on_own(newest))
        return true; /* never ran or was stopped by us: replace at once */
    switch (v->restart.condition) {
    case MGR_RESTART_NONE:
        return false;
    case MGR_RESTART_ON_FAILURE:
        if (tstate(newest) == ST(COMPLETE))
            return false;
        break;
    default:
        break;
    }
    *attempt = newest->attempt + 1;
    if (v->restart.window_ns > 0 && tstamp(newest) - created(newest) > v->restart.window_ns)
        *attempt = 1;
    if (v->restart.max_attempts > 0 && *attempt > v->restart.max_attempts)
        return false;
    *restart_at = tstamp(newest) + v->restart.delay_ns;
    return true;
}

static const struct vcache *view_of(struct pass *p, const char *service_id);

static void req_from_view(struct pass *p, struct sched_req *req, const MgrService *sv,
                          const struct mgr_svc_view *v)
{
    const struct vcache *vc = view_of(p, sv->id);

    memset(req, 0, sizeof(*req));
    if (vc) {
        req->host_ports = vc->ports;
        req->n_host_ports = vc->n_ports;
    }
    req->service_id = sv->id;
    req->constraints = (const char *const *)v->constraints;
    req->n_constraints = v->n_constraints;
    req->spread = (const char *const *)v->spread_prefs;
    req->n_spread = v->n_spread_prefs;
    req->max_replicas = v->max_replicas;
    req->nano_cpus = v->res_nano_cpus;
    req->memory = v->res_memory;
}

/* May a new task of this service start on node pn? (global services) */
static bool global_eligible(struct pass *p, const MgrService *sv, const struct mgr_svc_view *v,
                            const struct pnode *pn)
{
    struct sched_req req;

    if (!pn || !pn->active)
        return false;
    req_from_view(p, &req, sv, v);
    return sched_node_eligible(&pn->sn, &req);
}

/* Does a running task of this service still belong on pn (constraints)? */
static bool node_fits(struct pass *p, const MgrService *sv, const struct mgr_svc_view *v,
                      const struct pnode *pn)
{
    struct sched_req req;
    enum sched_filter f = SCHED_FILTER_OK;

    req_from_view(p, &req, sv, v);
    if (sched_node_check(&pn->sn, &req, &f, NULL, 0, NULL) < 0)
        return true;
    return f != SCHED_FILTER_CONSTRAINTS && f != SCHED_FILTER_PLATFORM;
}

/* A group: the tasks of one slot (replicated) or one node (global), oldest first. */
struct group {
    uint64_t slot;
    const char *node_id;
    const MgrTask **t;
    size_t n;
};

struct svc_pass {
    const MgrService *sv;
    struct mgr_svc_view v;
    const char *tmpl; /* TaskTemplate JSON (arena) */
    struct upd_mem *um;
    bool updating;     /* spec change being rolled out */
    bool rolling_back; /* rollback_* states */
    bool paused;
    size_t in_progress; /* up-to-date live tasks not yet running */
    size_t failed_new;  /* up-to-date tasks that failed since the update began */
    const MgrTask *last_failed;
    size_t dirty;      /* out-of-date live tasks */
    size_t batch_left; /* slots this pass may still replace for the update */
    size_t n_slots;
};

static bool task_dirty(const struct svc_pass *sp, const MgrTask *t)
{
    return t->spec_version != sp->sv->spec_version;
}

/* Does another task of the group, told to stop, still run on a live node?
 * (stop-first updates start the new task only once the old one stopped) */
static bool old_still_running(struct pass *p, const struct group *g, const MgrTask *t)
{
    for (size_t i = 0; i < g->n; i++) {
        const MgrTask *u = g->t[i];
        const struct pnode *pn;
        if (u == t || is_live(u) || tstate(u) > ST(RUNNING) || tstate(u) < ST(ASSIGNED))
            continue;
        pn = pnode_find(p, u->node_id);
        if (pn && pn->usable)
            return true;
    }
    return false;
}

/* Handle the live tasks of one group: returns how many stay live. */
static size_t group_live(struct pass *p, struct svc_pass *sp, struct group *g, bool global,
                         const MgrTask **ret_replaceable)
{
    size_t live = 0;
    const MgrTask *up_running = NULL;

    *ret_replaceable = NULL;
    for (size_t i = 0; i < g->n; i++) {
        const MgrTask *t = g->t[i];
        if (is_live(t) && !task_dirty(sp, t) && tstate(t) == ST(RUNNING))
            up_running = t;
    }
    for (size_t i = 0; i < g->n; i++) {
        const MgrTask *t = g->t[i];
        struct pnode *pn;

        if (!is_live(t))
            continue;
        pn = pnode_find(p, t->node_id);
        if (is_done(t)) {
            op_desired(p, t, ST(SHUTDOWN));
            continue;
        }
        if (t->node_id[0] && (!pn || !pn->usable || pn->drained)) {
            op_desired(p, t, ST(SHUTDOWN));
            continue;
        }
        if (global && pn && !node_fits(p, sp->sv, &sp->v, pn)) {
            /* the constraints changed: no task here any more */
            op_desired(p, t, ST(SHUTDOWN));
            continue;
        }
        /* start-first update: the old task goes once the new one runs */
        if (up_running && up_running != t && task_dirty(sp, t)) {
            op_desired(p, t, ST(SHUTDOWN));
            continue;
        }
        if (t->desired_state == ST(READY)) {
            if (p->now < t->restart_at_ns)
                wake_at(p, t->restart_at_ns);
            else if (!old_still_running(p, g, t))
                op_desired(p, t, ST(RUNNING));
        }
        if (!task_dirty(sp, t) && tstate(t) < ST(RUNNING))
            sp->in_progress++;
        if (task_dirty(sp, t))
            *ret_replaceable = t;
        live++;
    }
    return live;
}

static void group_history(struct pass *p, struct group *g)
{
    size_t n = g->n;

    for (size_t i = 0; i < g->n && n > p->history; i++) {
        const MgrTask *t = g->t[i];
        struct pnode *pn = pnode_find(p, t->node_id);
        if (is_live(t))
            continue;
        if (is_done(t) || !pn || !pn->usable || tstate(t) < ST(ASSIGNED)) {
            op_remove(p, t);
            n--;
        }
    }
}

/* Restart (or first start) of a group that has no live task. */
static void group_fill(struct pass *p, struct svc_pass *sp, struct group *g, const char *node_id)
{
    const MgrTask *newest = g->n ? g->t[g->n - 1] : NULL;
    uint64_t attempt;
    int64_t restart_at;

    if (!should_restart(&sp->v, newest, &attempt, &restart_at))
        return;
    (void)op_create(p, sp->sv, sp->tmpl, g->slot, node_id,
                    restart_at > p->now ? ST(READY) : ST(RUNNING), attempt, restart_at);
    if (restart_at > p->now)
        wake_at(p, restart_at);
}

/* One step of a rolling update for a group whose live task is out of date. */
static void group_update(struct pass *p, struct svc_pass *sp, struct group *g, const MgrTask *old,
                         const char *node_id)
{
    const struct mgr_svc_update *uc = sp->rolling_back ? &sp->v.rollback : &sp->v.update;

    if (!sp->batch_left)
        return;
    sp->batch_left--;
    /* stop-first: the new task is prepared (ready) and started once the old
     * one has stopped; start-first: both run until the new one does */
    if (!uc->start_first)
        op_desired(p, old, ST(SHUTDOWN));
    (void)op_create(p, sp->sv, sp->tmpl, g->slot, node_id,
                    uc->start_first ? ST(RUNNING) : ST(READY), 0, 0);
}

static int cmp_task_slot(const void *a, const void *b)
{
    const MgrTask *x = *(const MgrTask *const *)a, *y = *(const MgrTask *const *)b;

    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    if (created(x) != created(y))
        return created(x) < created(y) ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int cmp_task_node(const void *a, const void *b)
{
    const MgrTask *x = *(const MgrTask *const *)a, *y = *(const MgrTask *const *)b;
    int c = strcmp(x->node_id, y->node_id);

    if (c)
        return c;
    if (created(x) != created(y))
        return created(x) < created(y) ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Update-status decisions, made before any task is touched. */
static void update_status_set(struct pass *p, const MgrService *sv, const char *state,
                              const char *msg, bool rollback_spec)
{
    Shoal__Store__ServiceSetUpdateStatus *c = amalloc(&p->arena, sizeof(*c));
    MgrUpdateStatus *us = c ? amalloc(&p->arena, sizeof(*us)) : NULL;

    if (!us || p->sus) {
        if (!us)
            p->err = -ENOMEM;
        return;
    }
    shoal__store__service_set_update_status__init(c);
    shoal__store__update_status__init(us);
    us->state = astrdup(&p->arena, state);
    us->message = astrdup(&p->arena, msg);
    us->started_at_ns = sv->update_status ? sv->update_status->started_at_ns : p->now;
    if (strstr(state, "completed") || strstr(state, "paused"))
        us->completed_at_ns = p->now;
    if (rollback_spec) {
        us->started_at_ns = p->now;
        c->spec_json = sv->previous_spec_json;
        c->previous_spec_json = sv->spec_json;
    }
    c->id = sv->id;
    c->update_status = us;
    p->sus = c;
}

static const char *ustate(const MgrService *sv)
{
    return sv->update_status && sv->update_status->state ? sv->update_status->state : "";
}

static int cmp_vcache_id(const void *key, const void *elem)
{
    return strcmp(key, ((const struct vcache *)elem)->sv->id);
}

static const struct vcache *view_of(struct pass *p, const char *service_id)
{
    const struct vcache *vc =
        bsearch(service_id, p->views, p->n_views, sizeof(*p->views), cmp_vcache_id);

    return vc && vc->ok ? vc : NULL;
}

/* The TaskTemplate of a stored spec as canonical JSON text (arena). */
static const char *task_template(struct pass *p, const char *spec_json)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    json_t *tt = spec ? json_object_get(spec, "TaskTemplate") : NULL;
    char *txt = tt ? mgr_json_canonical(tt) : NULL;
    const char *ret = txt ? astrdup(&p->arena, txt) : NULL;

    free(txt);
    json_decref(spec);
    return ret;
}

static void plan_service(struct pass *p, const MgrService *sv)
{
    struct svc_pass sp = {.sv = sv};
    const MgrTask **tasks = NULL;
    size_t n = 0;
    const char *us = ustate(sv);
    bool global;

    const struct vcache *vc = view_of(p, sv->id);

    if (!vc)
        return;   /* an unreadable spec was logged when it was parsed */
    sp.v = vc->v; /* shallow: owned by the cache */
    sp.tmpl = task_template(p, sv->spec_json);
    if (!sp.tmpl) {
        p->err = -ENOMEM;
        goto out;
    }
    global = sp.v.global;
    if (mgr_store_tasks_of_service(p->s, sv->id, &tasks, &n) < 0) {
        p->err = -ENOMEM;
        goto out;
    }
    qsort(tasks, n, sizeof(*tasks), global ? cmp_task_node : cmp_task_slot);
    sp.um = upd_get(p->m, sv);
    sp.rolling_back = strncmp(us, "rollback", 8) == 0;
    sp.paused = strcmp(us, "paused") == 0 || strcmp(us, "rollback_paused") == 0;

    /* update progress: failures among tasks of the current spec since it began */
    for (size_t i = 0; i < n; i++) {
        const MgrTask *t = tasks[i];
        if (is_live(t) && task_dirty(&sp, t))
            sp.dirty++;
        if (!task_dirty(&sp, t) && (tstate(t) == ST(FAILED) || tstate(t) == ST(REJECTED)) &&
            sv->update_status && sv->update_status->started_at_ns &&
            tstamp(t) >= sv->update_status->started_at_ns) {
            sp.failed_new++;
            sp.last_failed = t;
        }
    }
    sp.updating = (strcmp(us, "updating") == 0 || strcmp(us, "rollback_started") == 0);
    if (sp.updating && sp.failed_new > 0) {
        const struct mgr_svc_update *uc = sp.rolling_back ? &sp.v.rollback : &sp.v.update;
        size_t total = global ? p->n_nodes : (size_t)sp.v.replicas;
        if ((double)sp.failed_new > uc->max_failure_ratio * (double)(total ? total : 1)) {
            char msg[200];
            if (uc->failure_action == MGR_FAILURE_ROLLBACK && !sp.rolling_back &&
                sv->previous_spec_json && sv->previous_spec_json[0]) {
                snprintf(msg, sizeof(msg),
                         "update rolled back due to failure or early termination of task %s",
                         sp.last_failed->id);
                update_status_set(p, sv, "rollback_started", msg, true);
                goto out;
            }
            if (uc->failure_action != MGR_FAILURE_CONTINUE) {
                snprintf(msg, sizeof(msg),
                         "update paused due to failure or early termination of task %s",
                         sp.last_failed->id);
                update_status_set(p, sv, sp.rolling_back ? "rollback_paused" : "paused", msg,
                                  false);
                goto out;
            }
        }
    }

    /* pacing of the rolling update */
    if (sp.dirty && !sp.paused && sp.um) {
        const struct mgr_svc_update *uc = sp.rolling_back ? &sp.v.rollback : &sp.v.update;
        sp.batch_left = uc->parallelism ? uc->parallelism : SIZE_MAX;
        (void)uc;
    }

    /* walk the groups */
    for (size_t i = 0; i < n;) {
        struct group g = {.slot = tasks[i]->slot, .node_id = tasks[i]->node_id, .t = &tasks[i]};
        size_t j = i;
        while (j < n &&
               (global ? strcmp(tasks[j]->node_id, g.node_id) == 0 : tasks[j]->slot == g.slot))
            j++;
        g.n = j - i;
        i = j;
        if (global && !g.node_id[0])
            continue; /* global tasks are always created on a node */
        const MgrTask *replaceable;
        bool beyond = !global && g.slot > sp.v.replicas;
        if (beyond) {
            for (size_t k = 0; k < g.n; k++)
                if (is_live(g.t[k]))
                    op_desired(p, g.t[k], ST(SHUTDOWN));
            group_history(p, &g);
            continue;
        }
        size_t live = group_live(p, &sp, &g, global, &replaceable);
        struct pnode *pn = global ? pnode_find(p, g.node_id) : NULL;
        if (live == 0) {
            if (!global || global_eligible(p, sv, &sp.v, pn))
                group_fill(p, &sp, &g, global ? g.node_id : NULL);
        }
        group_history(p, &g);
        sp.n_slots++;
        (void)replaceable;
    }

    /* missing slots / nodes */
    if (!global) {
        /* slots 1..replicas that have no task at all */
        uint64_t *have = calloc(n + 1, sizeof(*have));
        size_t nh = 0;
        if (!have) {
            p->err = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (nh == 0 || have[nh - 1] != tasks[i]->slot)
                have[nh++] = tasks[i]->slot;
        size_t k = 0;
        for (uint64_t slot = 1; slot <= sp.v.replicas && !p->err; slot++) {
            while (k < nh && have[k] < slot)
                k++;
            if (k < nh && have[k] == slot)
                continue;
            (void)op_create(p, sv, sp.tmpl, slot, NULL, ST(RUNNING), 0, 0);
        }
        free(have);
    } else {
        for (size_t i = 0; i < p->n_nodes; i++) {
            struct pnode *pn = &p->nodes[i];
            bool has = false;
            for (size_t k = 0; k < n && !has; k++)
                has = strcmp(tasks[k]->node_id, pn->n->id) == 0;
            if (!has && global_eligible(p, sv, &sp.v, pn))
                (void)op_create(p, sv, sp.tmpl, 0, pn->n->id, ST(RUNNING), 0, 0);
        }
    }

    /* rolling update: replace out-of-date live tasks, a batch at a time */
    if (sp.dirty && !sp.paused && sp.um) {
        const struct mgr_svc_update *uc = sp.rolling_back ? &sp.v.rollback : &sp.v.update;
        if (sp.in_progress > 0) {
            sp.um->batch_out = true;
        } else {
            if (sp.um->batch_out) {
                sp.um->batch_out = false;
                sp.um->next_ns = p->now + uc->delay_ns;
            }
            if (p->now < sp.um->next_ns) {
                wake_at(p, sp.um->next_ns);
            } else {
                for (size_t i = 0; i < n && sp.batch_left;) {
                    struct group g = {
                        .slot = tasks[i]->slot, .node_id = tasks[i]->node_id, .t = &tasks[i]};
                    size_t j = i;
                    while (j < n && (global ? strcmp(tasks[j]->node_id, g.node_id) == 0
                                            : tasks[j]->slot == g.slot))
                        j++;
                    g.n = j - i;
                    i = j;
                    if (!global && g.slot > sp.v.replicas)
                        continue;
                    const MgrTask *old = NULL;
                    bool has_new = false;
                    for (size_t k = 0; k < g.n; k++) {
                        const MgrTask *t = g.t[k];
                        if (!is_live(t) || is_done(t))
                            continue;
                        if (task_dirty(&sp, t))
                            old = t;
                        else
                            has_new = true;
                    }
                    struct pnode *pn = pnode_find(p, old ? old->node_id : NULL);
                    if (!old || has_new || (old->node_id[0] && (!pn || !pn->usable)))
                        continue;
                    if (global && !global_eligible(p, sv, &sp.v, pn))
                        continue;
                    group_update(p, &sp, &g, old, global ? g.node_id : NULL);
                    sp.um->batch_out = true;
                }
            }
        }
    } else if (sp.updating && !sp.dirty && sp.in_progress == 0 && sp.um) {
        /* done once the last new task has run for Monitor without failing
         * (as swarm does; the docker CLI waits for that too) */
        const struct mgr_svc_update *uc = sp.rolling_back ? &sp.v.rollback : &sp.v.update;
        int64_t last = 0;
        for (size_t i = 0; i < n; i++)
            if (is_live(tasks[i]) && !task_dirty(&sp, tasks[i]) &&
                tstate(tasks[i]) == ST(RUNNING) && tstamp(tasks[i]) > last)
                last = tstamp(tasks[i]);
        if (last && p->now < last + uc->monitor_ns) {
            wake_at(p, last + uc->monitor_ns);
            goto out;
        }
        if (sp.um->batch_out) {
            sp.um->batch_out = false;
            sp.um->next_ns = p->now;
        }
        update_status_set(p, sv, sp.rolling_back ? "rollback_completed" : "completed",
                          sp.rolling_back ? "rollback completed" : "update completed", false);
    }
out:
    free(tasks);
}

/* Tasks whose service is gone: desired "remove", deleted once ended. */
static void plan_orphans(struct pass *p)
{
    size_t n = mgr_store_count(p->s, MGR_KIND_TASK);

    for (size_t i = 0; i < n && !p->err; i++) {
        const MgrTask *t = mgr_store_at(p->s, MGR_KIND_TASK, i);
        struct pnode *pn;

        if (mgr_store_service(p->s, t->service_id))
            continue;
        pn = pnode_find(p, t->node_id);
        if (t->desired_state < ST(REMOVE))
            op_desired(p, t, ST(REMOVE));
        else if (is_done(t) || !pn || !pn->usable || tstate(t) < ST(ASSIGNED))
            op_remove(p, t);
    }
}

/* ---- scheduling --------------------------------------------------------------------- */

/* Place cnt new tasks of sv: where[] gets indexes into p->nodes or -1. */
static int place(struct pass *p, const MgrService *sv, const struct mgr_svc_view *v, size_t cnt,
                 int *where, char *reason, size_t reason_len)
{
    struct sched_node *sn = calloc(p->n_nodes ? p->n_nodes : 1, sizeof(*sn));
    const MgrTask **tasks = NULL;
    size_t nt = 0;
    struct sched_req req;
    struct err e;
    int r;

    if (!sn)
        return -ENOMEM;
    if (mgr_store_tasks_of_service(p->s, sv->id, &tasks, &nt) < 0) {
        free(sn);
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->n_nodes; i++) {
        sn[i] = p->nodes[i].sn;
        sn[i].service_tasks = 0;
        for (size_t k = 0; k < nt; k++)
            if (is_live(tasks[k]) && strcmp(tasks[k]->node_id, sn[i].id) == 0)
                sn[i].service_tasks++;
    }
    req_from_view(p, &req, sv, v);
    /* two tasks of a service publishing host ports never share a node (the
     * scheduler checks ports taken before this pass, not within it) */
    if (req.n_host_ports && (req.max_replicas == 0 || req.max_replicas > 1))
        req.max_replicas = 1;
    r = sched_place(sn, p->n_nodes, &req, cnt, where, reason, reason_len, &e);
    if (r >= 0) {
        sched_account(sn, p->n_nodes, &req, where, cnt);
        for (size_t i = 0; i < p->n_nodes; i++) {
            p->nodes[i].sn.n_tasks = sn[i].n_tasks;
            p->nodes[i].sn.reserved_cpus = sn[i].reserved_cpus;
            p->nodes[i].sn.reserved_memory = sn[i].reserved_memory;
        }
    } else {
        log_warn("scheduling service %s: %s", sv->id, e.msg);
        snprintf(reason, reason_len, "%.200s", e.msg);
    }
    free(tasks);
    free(sn);
    return r < 0 ? r : 0;
}

struct unplaced {
    const MgrService *sv;
    MgrTask *created;      /* a task created in this pass (arena) */
    const MgrTask *stored; /* or one already in the store */
};

static void schedule(struct pass *p)
{
    struct unplaced *u = NULL;
    size_t nu = 0, cap = 0;
    size_t nt = mgr_store_count(p->s, MGR_KIND_TASK);

    /* new tasks of this pass without a node */
    for (size_t i = 0; i < p->n_ops; i++) {
        Shoal__Store__TaskOp *op = p->ops[i];
        if (op->op_case != SHOAL__STORE__TASK_OP__OP_CREATE || op->create->task->node_id[0])
            continue;
        if (nu == cap) {
            cap = cap ? cap * 2 : 64;
            struct unplaced *nw = realloc(u, cap * sizeof(*u));
            if (!nw)
                goto oom;
            u = nw;
        }
        u[nu++] = (struct unplaced){.sv = mgr_store_service(p->s, op->create->task->service_id),
                                    .created = op->create->task};
    }
    /* stored tasks still waiting for a node */
    for (size_t i = 0; i < nt; i++) {
        const MgrTask *t = mgr_store_at(p->s, MGR_KIND_TASK, i);
        if (t->node_id[0] || !is_live(t) || tstate(t) > ST(PENDING))
            continue;
        const MgrService *sv = mgr_store_service(p->s, t->service_id);
        if (!sv)
            continue;
        bool touched = false; /* shut down in this pass? */
        for (size_t k = 0; k < p->n_ops && !touched; k++)
            touched = p->ops[k]->op_case == SHOAL__STORE__TASK_OP__OP_SET_DESIRED &&
                      strcmp(p->ops[k]->set_desired->id, t->id) == 0 &&
                      p->ops[k]->set_desired->desired_state > ST(RUNNING);
        if (touched)
            continue;
        if (nu == cap) {
            cap = cap ? cap * 2 : 64;
            struct unplaced *nw = realloc(u, cap * sizeof(*u));
            if (!nw)
                goto oom;
            u = nw;
        }
        u[nu++] = (struct unplaced){.sv = sv, .stored = t};
    }
    if (!nu)
        goto done;

    /* one scheduler call per service */
    for (size_t i = 0; i < nu && !p->err; i++) {
        if (!u[i].sv)
            continue;
        const MgrService *sv = u[i].sv;
        const struct vcache *vc = view_of(p, sv->id);
        size_t cnt = 0;
        for (size_t k = i; k < nu; k++)
            if (u[k].sv == sv)
                cnt++;
        int *where = calloc(cnt, sizeof(*where));
        char reason[256] = "";
        if (!where)
            goto oom;
        if (!vc || place(p, sv, &vc->v, cnt, where, reason, sizeof(reason)) < 0)
            for (size_t k = 0; k < cnt; k++)
                where[k] = -1;
        size_t w = 0;
        for (size_t k = i; k < nu; k++) {
            if (u[k].sv != sv)
                continue;
            u[k].sv = NULL;
            const MgrNode *nd = where[w] >= 0 ? p->nodes[where[w]].n : NULL;
            w++;
            if (u[k].created) {
                MgrTask *t = u[k].created;
                if (nd) {
                    t->node_id = nd->id;
                    t->status = status_new(p, ST(ASSIGNED), "scheduler assigned task to node", "");
                } else {
                    t->status = status_new(p, ST(PENDING), "pending task scheduling", reason);
                }
            } else {
                const MgrTask *t = u[k].stored;
                const char *old_err = t->status && t->status->err ? t->status->err : "";
                if (!nd && tstate(t) == ST(PENDING) && strcmp(old_err, reason) == 0)
                    continue; /* nothing new to say */
                Shoal__Store__TaskOp *op = op_new(p);
                Shoal__Store__TaskAssign *as = op ? amalloc(&p->arena, sizeof(*as)) : NULL;
                if (!as) {
                    p->err = -ENOMEM;
                    break;
                }
                shoal__store__task_assign__init(as);
                as->id = t->id;
                as->node_id = nd ? nd->id : (char *)"";
                as->status = nd ? status_new(p, ST(ASSIGNED), "scheduler assigned task to node", "")
                                : status_new(p, ST(PENDING), "pending task scheduling", reason);
                op->op_case = SHOAL__STORE__TASK_OP__OP_ASSIGN;
                op->assign = as;
            }
        }
        free(where);
    }
done:
    free(u);
    return;
oom:
    p->err = -ENOMEM;
    free(u);
}

int mgr_orch_plan(const struct mgr_store *s, struct mgr_orch_mem *m, int64_t now_ns,
                  struct mgr_orch_cmd **ret, int64_t *ret_wake_ns, struct err *err)
{
    struct pass p = {.s = s, .m = m, .now = now_ns, .history = DEFAULT_HISTORY};
    const MgrCluster *cl = mgr_store_cluster(s);
    size_t ns = mgr_store_count(s, MGR_KIND_SERVICE);
    size_t nn = mgr_store_count(s, MGR_KIND_NODE);
    size_t nt = mgr_store_count(s, MGR_KIND_TASK);
    struct mgr_orch_cmd *out;

    *ret = NULL;
    *ret_wake_ns = 0;
    if (cl && cl->spec && cl->spec->task_history_retention_limit > 0)
        p.history = (uint64_t)cl->spec->task_history_retention_limit;
    if (ns == 0 && nt == 0)
        return 0;

    p.nodes = calloc(nn ? nn : 1, sizeof(*p.nodes));
    p.views = calloc(ns ? ns : 1, sizeof(*p.views));
    if (!p.nodes || !p.views) {
        free(p.nodes);
        free(p.views);
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ns; i++) {
        struct vcache *vc = &p.views[p.n_views++];
        struct err e;
        vc->sv = mgr_store_at(s, MGR_KIND_SERVICE, i);
        vc->ok = mgr_svc_view_parse(vc->sv->spec_json, &vc->v, &e) == 0;
        if (!vc->ok)
            log_warn("service %s: %s", vc->sv->id, e.msg);
        if (vc->ok && vc->v.n_host_ports) {
            vc->ports = amalloc(&p.arena, vc->v.n_host_ports * sizeof(*vc->ports));
            for (size_t k = 0; vc->ports && k < vc->v.n_host_ports; k++)
                vc->ports[vc->n_ports++] = (struct sched_port){vc->v.host_ports[k].protocol,
                                                               vc->v.host_ports[k].published};
        }
    }
    for (size_t i = 0; i < nn; i++) {
        const MgrNode *nd = mgr_store_at(s, MGR_KIND_NODE, i);
        struct pnode *pn = &p.nodes[p.n_nodes++];
        const MgrNodeDescription *d = nd->description;
        int avail = nd->spec ? (int)nd->spec->availability : 0;
        pn->n = nd;
        pn->usable = nd->status && nd->status->state == NODE_READY;
        pn->drained = avail == NODE_AVAIL_DRAIN;
        pn->active = pn->usable && avail == NODE_AVAIL_ACTIVE;
        pn->sn.id = nd->id;
        pn->sn.hostname = d ? d->hostname : "";
        pn->sn.addr = nd->status ? nd->status->addr : "";
        pn->sn.manager = nd->role == MGR_ROLE_MANAGER;
        pn->sn.ready = pn->usable;
        pn->sn.availability = avail;
        pn->sn.os = d ? d->os : "";
        pn->sn.arch = d ? d->architecture : "";
        pn->sn.nano_cpus = d ? d->nano_cpus : 0;
        pn->sn.memory_bytes = d ? d->memory_bytes : 0;
        if (nd->spec && nd->spec->n_labels) {
            pn->labels = amalloc(&p.arena, nd->spec->n_labels * sizeof(*pn->labels));
            for (size_t k = 0; pn->labels && k < nd->spec->n_labels; k++)
                pn->labels[k] =
                    (struct sched_label){nd->spec->labels[k]->key, nd->spec->labels[k]->value};
            pn->sn.labels = pn->labels;
            pn->sn.n_labels = pn->labels ? nd->spec->n_labels : 0;
        }
        if (d && d->n_engine_labels) {
            pn->elabels = amalloc(&p.arena, d->n_engine_labels * sizeof(*pn->elabels));
            for (size_t k = 0; pn->elabels && k < d->n_engine_labels; k++)
                pn->elabels[k] =
                    (struct sched_label){d->engine_labels[k]->key, d->engine_labels[k]->value};
            pn->sn.engine_labels = pn->elabels;
            pn->sn.n_engine_labels = pn->elabels ? d->n_engine_labels : 0;
        }
    }
    /* live tasks and reservations per node */
    for (size_t i = 0; i < nt; i++) {
        const MgrTask *t = mgr_store_at(s, MGR_KIND_TASK, i);
        struct pnode *pn;
        const struct vcache *vc;
        if (!is_live(t) || !(pn = pnode_find(&p, t->node_id)))
            continue;
        pn->sn.n_tasks++;
        if ((vc = view_of(&p, t->service_id))) {
            pn->sn.reserved_cpus += vc->v.res_nano_cpus;
            pn->sn.reserved_memory += vc->v.res_memory;
            pn->sn.n_ports_in_use += vc->n_ports;
        }
    }
    /* host-mode ports taken on each node */
    for (size_t i = 0; i < p.n_nodes; i++) {
        struct pnode *pn = &p.nodes[i];
        size_t cap = pn->sn.n_ports_in_use;
        struct sched_port *in_use = cap ? amalloc(&p.arena, cap * sizeof(*in_use)) : NULL;
        pn->sn.n_ports_in_use = 0;
        pn->sn.ports_in_use = in_use;
        for (size_t k = 0; in_use && k < nt; k++) {
            const MgrTask *t = mgr_store_at(s, MGR_KIND_TASK, k);
            const struct vcache *vc;
            if (!is_live(t) || strcmp(t->node_id, pn->n->id) != 0 ||
                !(vc = view_of(&p, t->service_id)))
                continue;
            for (size_t q = 0; q < vc->n_ports && pn->sn.n_ports_in_use < cap; q++)
                in_use[pn->sn.n_ports_in_use++] = vc->ports[q];
        }
    }

    for (size_t i = 0; i < ns && !p.err && !p.sus; i++)
        plan_service(&p, mgr_store_at(s, MGR_KIND_SERVICE, i));
    if (!p.sus) {
        if (!p.err)
            plan_orphans(&p);
        if (!p.err)
            schedule(&p);
    }
    upd_sweep(m);
    free(p.nodes);
    for (size_t i = 0; i < p.n_views; i++)
        mgr_svc_view_free(&p.views[i].v);
    free(p.views);
    if (p.err) {
        arena_free(p.arena);
        return err_set(err, p.err, "orchestrator: %s", strerror(-p.err));
    }
    *ret_wake_ns = p.wake;
    if (!p.sus && p.n_ops == 0) {
        arena_free(p.arena);
        return 0;
    }
    out = calloc(1, sizeof(*out));
    if (!out) {
        arena_free(p.arena);
        return err_set(err, -ENOMEM, "out of memory");
    }
    shoal__store__store_command__init(&out->cmd);
    if (p.sus) {
        out->cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_SET_UPDATE_STATUS;
        out->cmd.service_set_update_status = p.sus;
    } else {
        Shoal__Store__TaskBatch *tb = amalloc(&p.arena, sizeof(*tb));
        if (!tb) {
            arena_free(p.arena);
            free(out);
            return err_set(err, -ENOMEM, "out of memory");
        }
        shoal__store__task_batch__init(tb);
        tb->n_ops = p.n_ops > MAX_OPS_PER_PASS ? MAX_OPS_PER_PASS : p.n_ops;
        tb->ops = p.ops;
        out->cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH;
        out->cmd.task_batch = tb;
    }
    out->arena = p.arena;
    *ret = out;
    return 1;
}

/* ---- the controller on the loop ----------------------------------------------------- */

struct mgr_orch {
    uv_loop_t *loop;
    const struct mgr_store *store;
    mgr_orch_write_fn write;
    void *ud;
    struct mgr_orch_mem *mem;
    uv_timer_t timer;
    bool active;
    bool busy;    /* a command is being written */
    bool pending; /* something changed while busy */
    bool closing, closed;
    unsigned failures;
};

static void on_timer(uv_timer_t *t);

static void orch_schedule(struct mgr_orch *o, uint64_t ms)
{
    if (o->closing)
        return;
    if (uv_is_active((uv_handle_t *)&o->timer) && uv_timer_get_due_in(&o->timer) <= ms)
        return;
    uv_timer_start(&o->timer, on_timer, ms, 0);
}

static int64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void orch_run(struct mgr_orch *o);

static void on_written(void *data, int status, const struct err *err)
{
    struct mgr_orch *o = data;

    o->busy = false;
    if (o->closing) {
        if (o->closed) {
            mgr_orch_mem_free(o->mem);
            free(o);
        }
        return;
    }
    if (status < 0) {
        o->failures++;
        log_info("orchestrator write failed: %s", err ? err->msg : strerror(-status));
        orch_schedule(o, o->failures > 5 ? 1000 : 100);
        return;
    }
    o->failures = 0;
    if (o->active)
        orch_run(o);
}

static void orch_run(struct mgr_orch *o)
{
    struct mgr_orch_cmd *cmd = NULL;
    int64_t wake = 0, now;
    struct err e;
    int r;

    if (!o->active || o->busy || o->closing)
        return;
    o->pending = false;
    now = wall_ns();
    r = mgr_orch_plan(o->store, o->mem, now, &cmd, &wake, &e);
    if (r < 0) {
        log_warn("%s", e.msg);
        orch_schedule(o, 1000);
        return;
    }
    if (r > 0) {
        o->busy = true;
        if (o->write(o->ud, &cmd->cmd, on_written, o, &e) < 0) {
            o->busy = false;
            log_info("orchestrator: %s", e.msg);
            orch_schedule(o, 500);
        }
        mgr_orch_cmd_free(cmd);
        return;
    }
    /* nothing to do now: look again when a timer is due, and every second */
    uint64_t ms = 1000;
    if (wake > 0 && wake - now < 1000000000LL)
        ms = (uint64_t)((wake - now) / 1000000) + 1;
    orch_schedule(o, ms);
}

static void on_timer(uv_timer_t *t)
{
    orch_run(t->data);
}

struct mgr_orch *mgr_orch_new(uv_loop_t *loop, const struct mgr_store *store,
                              mgr_orch_write_fn write, void *ud)
{
    struct mgr_orch *o = calloc(1, sizeof(*o));

    if (!o)
        return NULL;
    o->mem = mgr_orch_mem_new();
    if (!o->mem) {
        free(o);
        return NULL;
    }
    o->loop = loop;
    o->store = store;
    o->write = write;
    o->ud = ud;
    uv_timer_init(loop, &o->timer);
    o->timer.data = o;
    return o;
}

void mgr_orch_set_active(struct mgr_orch *o, bool active)
{
    if (!o || o->active == active)
        return;
    o->active = active;
    if (active) {
        /* a new leader paces updates from now */
        mgr_orch_mem_free(o->mem);
        o->mem = mgr_orch_mem_new();
        orch_schedule(o, 10);
    } else {
        uv_timer_stop(&o->timer);
    }
}

void mgr_orch_kick(struct mgr_orch *o)
{
    if (!o || !o->active)
        return;
    if (o->busy) {
        o->pending = true;
        return;
    }
    orch_schedule(o, 5);
}

static void on_orch_closed(uv_handle_t *h)
{
    struct mgr_orch *o = h->data;

    o->closed = true;
    if (o->busy) {
        /* the write callback still has to run: it frees */
        return;
    }
    mgr_orch_mem_free(o->mem);
    free(o);
}

void mgr_orch_close(struct mgr_orch *o)
{
    if (!o)
        return;
    o->active = false;
    o->closing = true;
    uv_close((uv_handle_t *)&o->timer, on_orch_closed);
}
