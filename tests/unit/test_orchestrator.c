/* Unit tests for manager/orchestrator.c: a simulated cluster (a store, nodes
 * and agents that do what they are told) driven pass by pass, checking what
 * the orchestrator decides: replicas by slot, spread, scaling, restart
 * policies, node failure and drain, global services, constraints, rolling
 * updates with pause/rollback, history limits and service removal. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manager/orchestrator.h"
#include "manager/store.h"
#include "manager/svcjson.h"

#define ST(x) SHOAL__STORE__TASK_STATE__TASK_##x

/* at most this many task changes per agent step (0: no limit) */
static size_t g_agent_limit;
#define SEC 1000000000LL

struct sim {
    struct mgr_store *s;
    struct mgr_orch_mem *m;
    uint64_t index;
    int64_t now;
    /* agent behaviour: exit code of tasks whose image is "fail" */
};

static void sim_apply(struct sim *sim, MgrCommand *cmd)
{
    void *buf;
    size_t len;
    struct err e;

    cmd->timestamp_ns = sim->now;
    cmd->request_id = (ProtobufCBinaryData){0, NULL};
    assert_int_equal(mgr_cmd_pack(cmd, &buf, &len, &e), 0);
    int r = mgr_store_apply(sim->s, ++sim->index, buf, len, NULL, &e);
    if (r < 0)
        fail_msg("apply: %s", e.msg);
    free(buf);
}

static char *mkid(unsigned n)
{
    static char ids[64][MGR_ID_LEN + 1];
    static unsigned k;
    char *p = ids[k++ % 64];

    snprintf(p, MGR_ID_LEN + 1, "n%024u", n);
    return p;
}

static void add_node(struct sim *sim, unsigned n, bool manager, const char *label_zone)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeCreate nc = SHOAL__STORE__NODE_CREATE__INIT;
    MgrNode node = SHOAL__STORE__NODE__INIT;
    MgrNodeSpec spec = SHOAL__STORE__NODE_SPEC__INIT;
    MgrNodeDescription d = SHOAL__STORE__NODE_DESCRIPTION__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;
    MgrManagerStatus ms = SHOAL__STORE__MANAGER_STATUS__INIT;
    Shoal__Store__Label lab = SHOAL__STORE__LABEL__INIT, *labs[1] = {&lab};
    char host[16], addr[32];

    snprintf(host, sizeof(host), "h%u", n);
    snprintf(addr, sizeof(addr), "10.0.0.%u:2377", n);
    node.id = mkid(n);
    node.raft_id = n;
    spec.role = manager ? MGR_ROLE_MANAGER : MGR_ROLE_WORKER;
    node.role = spec.role;
    if (label_zone) {
        lab.key = (char *)"zone";
        lab.value = (char *)label_zone;
        spec.labels = labs;
        spec.n_labels = 1;
    }
    d.hostname = host;
    d.os = (char *)"linux";
    d.architecture = (char *)"x86_64";
    d.nano_cpus = 2000000000;
    d.memory_bytes = 1LL << 30;
    st.state = SHOAL__STORE__NODE_STATE__STATE_READY;
    st.addr = addr + 0;
    ms.addr = addr;
    if (manager)
        node.manager_status = &ms;
    node.spec = &spec;
    node.description = &d;
    node.status = &st;
    nc.node = &node;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_CREATE;
    cmd.node_create = &nc;
    sim_apply(sim, &cmd);
}

static void node_state(struct sim *sim, unsigned n, int state)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeSetStatus ns = SHOAL__STORE__NODE_SET_STATUS__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;

    st.state = (Shoal__Store__NodeState)state;
    st.addr = (char *)"10.0.0.1";
    ns.id = mkid(n);
    ns.status = &st;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_STATUS;
    cmd.node_set_status = &ns;
    sim_apply(sim, &cmd);
}

static void node_avail(struct sim *sim, unsigned n, int avail)
{
    const MgrNode *nd = mgr_store_node(sim->s, mkid(n));
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeUpdate nu = SHOAL__STORE__NODE_UPDATE__INIT;
    MgrNodeSpec spec = *nd->spec;

    spec.availability = (Shoal__Store__NodeAvailability)avail;
    nu.id = nd->id;
    nu.version = nd->meta->version;
    nu.spec = &spec;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE;
    cmd.node_update = &nu;
    sim_apply(sim, &cmd);
}

static char *spec_text(const char *json_in)
{
    json_error_t je;
    json_t *in = json_loads(json_in, 0, &je), *out = NULL;
    struct err e;
    char *txt;

    if (!in)
        fail_msg("bad test json: %s", je.text);
    if (mgr_svc_spec_normalize(in, &out, &e) < 0)
        fail_msg("normalize: %s", e.msg);
    txt = mgr_json_canonical(out);
    json_decref(in);
    json_decref(out);
    return txt;
}

static const char *svc_create(struct sim *sim, const char *json_in)
{
    static char id[MGR_ID_LEN + 1];
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceCreate sc = SHOAL__STORE__SERVICE_CREATE__INIT;
    MgrService sv = SHOAL__STORE__SERVICE__INIT;
    char *txt = spec_text(json_in);
    json_t *j = json_loads(txt, 0, NULL);

    assert_int_equal(mgr_id_new(id), 0);
    sv.id = id;
    sv.name = (char *)json_string_value(json_object_get(j, "Name"));
    sv.spec_json = txt;
    sc.service = &sv;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_CREATE;
    cmd.service_create = &sc;
    sim_apply(sim, &cmd);
    json_decref(j);
    free(txt);
    return id;
}

static void svc_update(struct sim *sim, const char *id, const char *json_in, bool keep)
{
    const MgrService *old = mgr_store_service(sim->s, id);
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceUpdate su = SHOAL__STORE__SERVICE_UPDATE__INIT;
    MgrUpdateStatus us = SHOAL__STORE__UPDATE_STATUS__INIT;
    char *txt = spec_text(json_in);
    json_t *j = json_loads(txt, 0, NULL);

    su.id = (char *)id;
    su.version = old->meta->version;
    su.name = (char *)json_string_value(json_object_get(j, "Name"));
    su.spec_json = txt;
    su.previous_spec_json = old->spec_json;
    su.keep_spec_version = keep;
    if (!keep) {
        us.state = (char *)"updating";
        us.message = (char *)"update in progress";
        us.started_at_ns = sim->now;
        su.update_status = &us;
    }
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_UPDATE;
    cmd.service_update = &su;
    sim_apply(sim, &cmd);
    json_decref(j);
    free(txt);
}

static void svc_remove(struct sim *sim, const char *id)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceRemove sr = SHOAL__STORE__SERVICE_REMOVE__INIT;

    sr.id = (char *)id;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_REMOVE;
    cmd.service_remove = &sr;
    sim_apply(sim, &cmd);
}

/* Every agent of a ready node moves its tasks one step toward their desired
 * state in one batch. Images named "fail" exit 1 right after starting;
 * "done" exits 0. Returns how many tasks changed. */
static size_t agents_step(struct sim *sim)
{
    size_t n = mgr_store_count(sim->s, MGR_KIND_TASK), k = 0;
    Shoal__Store__TaskOp *ops = calloc(n + 1, sizeof(*ops));
    Shoal__Store__TaskOp **opp = calloc(n + 1, sizeof(*opp));
    Shoal__Store__TaskSetStatus *ss = calloc(n + 1, sizeof(*ss));
    MgrTaskStatus *st = calloc(n + 1, sizeof(*st));

    for (size_t i = 0; i < n; i++) {
        const MgrTask *t = mgr_store_at(sim->s, MGR_KIND_TASK, i);
        const MgrNode *nd = t->node_id[0] ? mgr_store_node(sim->s, t->node_id) : NULL;
        int cur = t->status ? (int)t->status->state : 0, next = -1, code = 0;
        const char *err = "";
        if (!nd || nd->status->state != SHOAL__STORE__NODE_STATE__STATE_READY)
            continue;
        if (t->desired_state == ST(RUNNING) && cur < ST(RUNNING)) {
            next = ST(RUNNING);
        } else if (t->desired_state == ST(RUNNING) && cur == ST(RUNNING)) {
            if (strstr(t->spec_json, "\"fail\"")) {
                next = ST(FAILED);
                code = 1;
                err = "task: non-zero exit (1)";
            } else if (strstr(t->spec_json, "\"done\"")) {
                next = ST(COMPLETE);
            }
        } else if (t->desired_state > ST(RUNNING) && cur <= ST(RUNNING)) {
            next = ST(SHUTDOWN);
        }
        if (next < 0)
            continue;
        if (g_agent_limit && k >= g_agent_limit)
            break;
        shoal__store__task_status__init(&st[k]);
        st[k].state = (Shoal__Store__TaskState)next;
        st[k].timestamp_ns = sim->now;
        st[k].exit_code = code;
        st[k].err = (char *)err;
        shoal__store__task_set_status__init(&ss[k]);
        ss[k].id = t->id;
        ss[k].status = &st[k];
        shoal__store__task_op__init(&ops[k]);
        ops[k].op_case = SHOAL__STORE__TASK_OP__OP_SET_STATUS;
        ops[k].set_status = &ss[k];
        opp[k] = &ops[k];
        k++;
    }
    if (k) {
        MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
        Shoal__Store__TaskBatch tb = SHOAL__STORE__TASK_BATCH__INIT;
        tb.ops = opp;
        tb.n_ops = k;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH;
        cmd.task_batch = &tb;
        sim_apply(sim, &cmd);
    }
    free(ops);
    free(opp);
    free(ss);
    free(st);
    return k;
}

/* Plan and apply until the orchestrator has nothing to do. Returns the
 * number of commands written. */
static int orch_settle(struct sim *sim)
{
    int writes = 0;

    for (int i = 0; i < 200; i++) {
        struct mgr_orch_cmd *c = NULL;
        int64_t wake = 0;
        struct err e;
        int r = mgr_orch_plan(sim->s, sim->m, sim->now, &c, &wake, &e);
        if (r < 0)
            fail_msg("plan: %s", e.msg);
        if (r == 0)
            return writes;
        sim_apply(sim, &c->cmd);
        mgr_orch_cmd_free(c);
        writes++;
    }
    fail_msg("the orchestrator does not settle");
    return writes;
}

/* Orchestrator and agents in turn, advancing the clock, until both are idle
 * for a whole round or `secs` simulated seconds passed. */
static void run(struct sim *sim, int secs)
{
    for (int i = 0; i < secs * 10; i++) {
        int w = orch_settle(sim);
        size_t a = agents_step(sim);
        sim->now += SEC / 10;
        (void)w;
        (void)a;
    }
}

static struct sim *sim_new(unsigned managers, unsigned workers)
{
    struct sim *sim = calloc(1, sizeof(*sim));

    sim->s = mgr_store_new();
    sim->m = mgr_orch_mem_new();
    sim->now = 1700000000LL * SEC;
    for (unsigned i = 1; i <= managers + workers; i++)
        add_node(sim, i, i <= managers, NULL);
    return sim;
}

static void sim_free(struct sim *sim)
{
    mgr_store_free(sim->s);
    mgr_orch_mem_free(sim->m);
    free(sim);
}

/* Live tasks (desired running) running, per node index 1..n. */
static size_t running(struct sim *sim, const char *svc, size_t per_node[16])
{
    const MgrTask **t = NULL;
    size_t n = 0, r = 0;

    if (per_node)
        memset(per_node, 0, 16 * sizeof(*per_node));
    assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (t[i]->desired_state != ST(RUNNING) || t[i]->status->state != ST(RUNNING))
            continue;
        r++;
        if (per_node)
            per_node[strtoul(t[i]->node_id + 1, NULL, 10)]++;
    }
    free(t);
    return r;
}

static size_t count_tasks(struct sim *sim, const char *svc)
{
    const MgrTask **t = NULL;
    size_t n = 0;

    assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
    free(t);
    return n;
}

/* No slot has two tasks that want to run. */
static void assert_slots_unique(struct sim *sim, const char *svc)
{
    const MgrTask **t = NULL;
    size_t n = 0;

    assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (t[i]->slot && t[i]->slot == t[j]->slot && t[i]->desired_state == ST(RUNNING) &&
                t[j]->desired_state == ST(RUNNING) && t[i]->spec_version == t[j]->spec_version)
                fail_msg("slot %llu has two live tasks", (unsigned long long)t[i]->slot);
    free(t);
}

#define WEB(replicas, extra)                                                                       \
    "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"bb\"}" extra "},"          \
    "\"Mode\":{\"Replicated\":{\"Replicas\":" #replicas "}}}"

static void test_replicas_spread_scale(void **state)
{
    struct sim *sim = sim_new(3, 2);
    size_t per[16];
    const char *id;

    (void)state;
    id = svc_create(sim, WEB(10, ""));
    char svc[MGR_ID_LEN + 1];
    snprintf(svc, sizeof(svc), "%s", id);
    run(sim, 2);
    assert_int_equal(running(sim, svc, per), 10);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(per[i], 2);
    assert_slots_unique(sim, svc);

    svc_update(sim, svc, WEB(30, ""), true);
    run(sim, 2);
    assert_int_equal(running(sim, svc, per), 30);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(per[i], 6);

    svc_update(sim, svc, WEB(4, ""), true);
    run(sim, 2);
    assert_int_equal(running(sim, svc, NULL), 4);
    assert_slots_unique(sim, svc);

    svc_remove(sim, svc);
    run(sim, 2);
    assert_int_equal(count_tasks(sim, svc), 0);
    sim_free(sim);
}

static void test_node_down_and_drain(void **state)
{
    struct sim *sim = sim_new(1, 3);
    size_t per[16];
    char svc[MGR_ID_LEN + 1];

    (void)state;
    snprintf(svc, sizeof(svc), "%s", svc_create(sim, WEB(8, "")));
    run(sim, 2);
    assert_int_equal(running(sim, svc, per), 8);
    assert_int_equal(per[4], 2);

    node_state(sim, 4, SHOAL__STORE__NODE_STATE__STATE_DOWN);
    run(sim, 2);
    assert_int_equal(running(sim, svc, per), 8);
    assert_int_equal(per[4], 0);
    assert_slots_unique(sim, svc);

    node_avail(sim, 3, SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN);
    run(sim, 2);
    assert_int_equal(running(sim, svc, per), 8);
    assert_int_equal(per[3], 0);
    assert_int_equal(per[1] + per[2], 8);
    sim_free(sim);
}

static void test_global(void **state)
{
    struct sim *sim = sim_new(2, 1);
    size_t per[16];
    char svc[MGR_ID_LEN + 1];

    (void)state;
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, "{\"Name\":\"g\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":"
                             "\"bb\"}},\"Mode\":{\"Global\":{}}}"));
    run(sim, 1);
    assert_int_equal(running(sim, svc, per), 3);
    add_node(sim, 4, false, NULL);
    run(sim, 1);
    assert_int_equal(running(sim, svc, per), 4);
    assert_int_equal(per[4], 1);
    node_avail(sim, 2, SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN);
    run(sim, 1);
    assert_int_equal(running(sim, svc, per), 3);
    assert_int_equal(per[2], 0);
    sim_free(sim);
}

static void test_constraints_and_resources(void **state)
{
    struct sim *sim = sim_new(1, 0);
    size_t per[16];
    char svc[MGR_ID_LEN + 1];
    const MgrTask **t = NULL;
    size_t n = 0;

    (void)state;
    add_node(sim, 2, false, "a");
    add_node(sim, 3, false, "b");
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, WEB(4, ",\"Placement\":{\"Constraints\":[\"node.labels.zone==a\"]}")));
    run(sim, 1);
    assert_int_equal(running(sim, svc, per), 4);
    assert_int_equal(per[2], 4);
    svc_remove(sim, svc);
    run(sim, 1);

    /* more memory than any node has: pending with a reason */
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, WEB(1, ",\"Resources\":{\"Reservations\":{\"MemoryBytes\":"
                                    "1099511627776}}")));
    run(sim, 1);
    assert_int_equal(running(sim, svc, NULL), 0);
    assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(t[0]->status->state, ST(PENDING));
    assert_non_null(strstr(t[0]->status->err, "insufficient resources on 3 nodes"));
    free(t);
    sim_free(sim);
}

static void test_restart_policies(void **state)
{
    struct sim *sim = sim_new(1, 1);
    char svc[MGR_ID_LEN + 1];

    (void)state;
    /* any, 2 attempts: the first task and two restarts, then nothing */
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, "{\"Name\":\"f\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":"
                             "\"fail\"},\"RestartPolicy\":{\"Condition\":\"any\",\"Delay\":"
                             "1000000000,\"MaxAttempts\":2}},\"Mode\":{\"Replicated\":"
                             "{\"Replicas\":1}}}"));
    run(sim, 10);
    assert_int_equal(count_tasks(sim, svc), 3);
    assert_int_equal(running(sim, svc, NULL), 0);
    svc_remove(sim, svc);
    run(sim, 1);

    /* on-failure: an exit 0 is left alone */
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, "{\"Name\":\"d\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":"
                             "\"done\"},\"RestartPolicy\":{\"Condition\":\"on-failure\"}},"
                             "\"Mode\":{\"Replicated\":{\"Replicas\":2}}}"));
    run(sim, 10);
    assert_int_equal(count_tasks(sim, svc), 2);
    svc_remove(sim, svc);
    run(sim, 1);

    /* any without a limit: history stays at 5 per slot */
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, "{\"Name\":\"h\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":"
                             "\"fail\"},\"RestartPolicy\":{\"Condition\":\"any\",\"Delay\":"
                             "100000000}},\"Mode\":{\"Replicated\":{\"Replicas\":1}}}"));
    run(sim, 10);
    assert_in_range(count_tasks(sim, svc), 2, 6);
    assert_slots_unique(sim, svc);
    sim_free(sim);
}

static void test_rolling_update(void **state)
{
    struct sim *sim = sim_new(3, 2);
    char svc[MGR_ID_LEN + 1];
    const MgrTask **t = NULL;
    size_t n = 0, old_live;

    (void)state;
    snprintf(svc, sizeof(svc), "%s",
             svc_create(sim, WEB(10, ",\"RestartPolicy\":{\"Condition\":\"any\"}")));
    run(sim, 1);
    assert_int_equal(running(sim, svc, NULL), 10);

    svc_update(sim, svc,
               "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"bb\",\"Env\":"
               "[\"X=1\"]}},\"Mode\":{\"Replicated\":{\"Replicas\":10}},\"UpdateConfig\":"
               "{\"Parallelism\":5}}",
               false);
    /* the first pass replaces exactly 5 */
    orch_settle(sim);
    assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
    old_live = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i]->desired_state == ST(RUNNING) &&
            t[i]->spec_version != mgr_store_service(sim->s, svc)->spec_version)
            old_live++;
    free(t);
    assert_int_equal(old_live, 5);
    run(sim, 8); /* batches, then Monitor (5 s) before "completed" */
    assert_int_equal(running(sim, svc, NULL), 10);
    assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (t[i]->desired_state == ST(RUNNING))
            assert_non_null(strstr(t[i]->spec_json, "X=1"));
    free(t);
    assert_string_equal(mgr_store_service(sim->s, svc)->update_status->state, "completed");
    assert_slots_unique(sim, svc);

    /* an update to a failing image pauses */
    svc_update(sim, svc,
               "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"fail\"}},"
               "\"Mode\":{\"Replicated\":{\"Replicas\":10}},\"UpdateConfig\":"
               "{\"Parallelism\":2}}",
               false);
    run(sim, 5);
    assert_string_equal(mgr_store_service(sim->s, svc)->update_status->state, "paused");
    assert_in_range(running(sim, svc, NULL), 4, 9); /* batches go on until a failure shows */

    /* with failure action rollback it goes back to the previous spec */
    sim_free(sim);
    sim = sim_new(1, 1);
    snprintf(svc, sizeof(svc), "%s", svc_create(sim, WEB(4, "")));
    run(sim, 1);
    svc_update(sim, svc,
               "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"fail\"}},"
               "\"Mode\":{\"Replicated\":{\"Replicas\":4}},\"UpdateConfig\":"
               "{\"Parallelism\":1,\"FailureAction\":\"rollback\"}}",
               false);
    run(sim, 20);
    const MgrService *sv = mgr_store_service(sim->s, svc);
    assert_string_equal(sv->update_status->state, "rollback_completed");
    assert_null(strstr(sv->spec_json, "fail"));
    assert_int_equal(running(sim, svc, NULL), 4);
    sim_free(sim);
}

/* With slow agents, an update is "completed" only once every new task runs,
 * and stop-first starts a new task only after the old one of its slot
 * stopped. */
static void test_update_completes_when_running(void **state)
{
    struct sim *sim = sim_new(1, 2);
    char svc[MGR_ID_LEN + 1];

    (void)state;
    snprintf(svc, sizeof(svc), "%s", svc_create(sim, WEB(5, "")));
    run(sim, 1);
    svc_update(sim, svc,
               "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"bb\",\"Env\":"
               "[\"X=1\"]}},\"Mode\":{\"Replicated\":{\"Replicas\":5}},\"UpdateConfig\":"
               "{\"Parallelism\":2}}",
               false);
    g_agent_limit = 1;
    for (int i = 0; i < 400; i++) {
        const MgrService *sv;
        const MgrTask **t = NULL;
        size_t n = 0, up_running = 0;
        orch_settle(sim);
        sv = mgr_store_service(sim->s, svc);
        assert_int_equal(mgr_store_tasks_of_service(sim->s, svc, &t, &n), 0);
        for (size_t k = 0; k < n; k++) {
            if (t[k]->spec_version == sv->spec_version && t[k]->desired_state == ST(RUNNING) &&
                t[k]->status->state == ST(RUNNING))
                up_running++;
            /* stop-first: a new task runs only once its slot's old one stopped */
            for (size_t j = 0; j < n; j++)
                if (j != k && t[j]->slot == t[k]->slot && t[k]->status->state == ST(RUNNING) &&
                    t[j]->status->state == ST(RUNNING) && t[j]->spec_version != t[k]->spec_version)
                    fail_msg("slot %llu runs an old and a new task",
                             (unsigned long long)t[k]->slot);
        }
        free(t);
        if (sv->update_status && strcmp(sv->update_status->state, "completed") == 0) {
            assert_int_equal(up_running, 5);
            break;
        }
        agents_step(sim);
        sim->now += SEC / 10;
    }
    g_agent_limit = 0;
    assert_string_equal(mgr_store_service(sim->s, svc)->update_status->state, "completed");
    sim_free(sim);
}

/* A manual rollback keeps every slot's history: the task from before the
 * update, the updated one, and the rolled-back one. */
static void test_rollback_keeps_history(void **state)
{
    struct sim *sim = sim_new(1, 1);
    char svc[MGR_ID_LEN + 1];
    const MgrService *sv;
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceUpdate su = SHOAL__STORE__SERVICE_UPDATE__INIT;
    MgrUpdateStatus us = SHOAL__STORE__UPDATE_STATUS__INIT;

    (void)state;
    snprintf(svc, sizeof(svc), "%s", svc_create(sim, WEB(3, "")));
    run(sim, 1);
    svc_update(sim, svc,
               "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"bb\",\"Env\":"
               "[\"X=1\"]}},\"Mode\":{\"Replicated\":{\"Replicas\":3}}}",
               false);
    run(sim, 8);
    assert_string_equal(mgr_store_service(sim->s, svc)->update_status->state, "completed");
    assert_int_equal(count_tasks(sim, svc), 6);
    sv = mgr_store_service(sim->s, svc);
    su.id = sv->id;
    su.version = sv->meta->version;
    su.name = sv->name;
    su.spec_json = sv->previous_spec_json;
    su.rollback = true;
    us.state = (char *)"rollback_started";
    us.message = (char *)"manually requested rollback";
    us.started_at_ns = sim->now;
    su.update_status = &us;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_UPDATE;
    cmd.service_update = &su;
    sim_apply(sim, &cmd);
    run(sim, 10);
    assert_string_equal(mgr_store_service(sim->s, svc)->update_status->state, "rollback_completed");
    assert_int_equal(running(sim, svc, NULL), 3);
    assert_int_equal(count_tasks(sim, svc), 9);
    sim_free(sim);
}

/* A new leader (fresh memory) finishes a scale-up without duplicates. */
static void test_new_leader(void **state)
{
    struct sim *sim = sim_new(3, 0);
    char svc[MGR_ID_LEN + 1];
    struct mgr_orch_cmd *c = NULL;
    int64_t wake;

    (void)state;
    snprintf(svc, sizeof(svc), "%s", svc_create(sim, WEB(3, "")));
    run(sim, 1);
    svc_update(sim, svc, WEB(12, ""), true);
    /* the old leader planned but its write was lost */
    assert_int_equal(mgr_orch_plan(sim->s, sim->m, sim->now, &c, &wake, NULL), 1);
    mgr_orch_cmd_free(c);
    mgr_orch_mem_free(sim->m);
    sim->m = mgr_orch_mem_new();
    run(sim, 2);
    assert_int_equal(running(sim, svc, NULL), 12);
    assert_int_equal(count_tasks(sim, svc), 12);
    assert_slots_unique(sim, svc);
    sim_free(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicas_spread_scale),
        cmocka_unit_test(test_node_down_and_drain),
        cmocka_unit_test(test_global),
        cmocka_unit_test(test_constraints_and_resources),
        cmocka_unit_test(test_restart_policies),
        cmocka_unit_test(test_rolling_update),
        cmocka_unit_test(test_new_leader),
        cmocka_unit_test(test_update_completes_when_running),
        cmocka_unit_test(test_rollback_keeps_history),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
