/* Unit tests for manager/store.c: apply of every command, versions, watches,
 * snapshot/restore, determinism and hostile commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cmocka.h>

#include "manager/ca.h"
#include "manager/store.h"

static char *g_ca_pem;
static char g_wtok[MGR_TOKEN_LEN + 1], g_mtok[MGR_TOKEN_LEN + 1];

static const char *const CLUSTER_ID = "p1voaej122dfrck89jhy60zp2";
static const char *const NODE_A = "pqmjfqj9be4sb7wwl3u1ifs0c";
static const char *const NODE_B = "ktygv29bb4di3jmpy86bzo14w";
static const char *const NODE_C = "ktygv29bb4di3jmpy86bzo14x";

static int setup_all(void **state)
{
    struct mgr_ca *ca;

    (void)state;
    assert_int_equal(mgr_ca_create(&ca, NULL), 0);
    assert_int_equal(mgr_ca_cert_pem(ca, &g_ca_pem, NULL), 0);
    assert_int_equal(mgr_token_new(g_ca_pem, g_wtok, NULL), 0);
    assert_int_equal(mgr_token_new(g_ca_pem, g_mtok, NULL), 0);
    mgr_ca_free(ca);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    free(g_ca_pem);
    return 0;
}

/* Pack with a fixed request id and timestamp (deterministic) and apply. */
static int apply(struct mgr_store *s, uint64_t index, MgrCommand *cmd, struct err *err)
{
    uint8_t rid[8];
    void *buf;
    size_t len;
    int r;

    for (int i = 0; i < 8; i++)
        rid[i] = (uint8_t)(index >> (8 * i));
    if (cmd->request_id.len == 0)
        cmd->request_id = (ProtobufCBinaryData){sizeof(rid), rid};
    cmd->timestamp_ns = 1700000000000000000LL + (int64_t)index * 1000;
    assert_int_equal(mgr_cmd_pack(cmd, &buf, &len, NULL), 0);
    assert_int_equal(len % 8, 0);
    r = mgr_store_apply(s, index, buf, len, NULL, err);
    free(buf);
    if (cmd->request_id.data == rid)
        cmd->request_id = (ProtobufCBinaryData){0, NULL};
    return r;
}

static int create_cluster(struct mgr_store *s, uint64_t index)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ClusterCreate cc = SHOAL__STORE__CLUSTER_CREATE__INIT;
    MgrCluster cl = SHOAL__STORE__CLUSTER__INIT;
    MgrClusterSpec sp = SHOAL__STORE__CLUSTER_SPEC__INIT;

    mgr_cluster_spec_defaults(&sp);
    cl.id = (char *)CLUSTER_ID;
    cl.spec = &sp;
    cl.worker_token = g_wtok;
    cl.manager_token = g_mtok;
    cl.ca_cert_pem = g_ca_pem;
    cc.cluster = &cl;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_CLUSTER_CREATE;
    cmd.cluster_create = &cc;
    return apply(s, index, &cmd, NULL);
}

static int create_node(struct mgr_store *s, uint64_t index, const char *id, const char *host,
                       int role, int state, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeCreate nc = SHOAL__STORE__NODE_CREATE__INIT;
    MgrNode n = SHOAL__STORE__NODE__INIT;
    MgrNodeSpec sp = SHOAL__STORE__NODE_SPEC__INIT;
    MgrNodeDescription d = SHOAL__STORE__NODE_DESCRIPTION__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;
    MgrManagerStatus ms = SHOAL__STORE__MANAGER_STATUS__INIT;
    Shoal__Store__Label l1 = SHOAL__STORE__LABEL__INIT, l2 = SHOAL__STORE__LABEL__INIT;
    Shoal__Store__Label *labels[2] = {&l1, &l2};

    l1.key = (char *)"zone";
    l1.value = (char *)"b";
    l2.key = (char *)"disk";
    l2.value = (char *)"ssd";
    sp.role = (Shoal__Store__NodeRole)role;
    d.hostname = (char *)host;
    d.architecture = (char *)"x86_64";
    d.os = (char *)"linux";
    d.engine_labels = labels;
    d.n_engine_labels = 2;
    st.state = (Shoal__Store__NodeState)state;
    st.addr = (char *)"10.0.0.1";
    ms.addr = (char *)"10.0.0.1:2377";
    ms.reachability = SHOAL__STORE__REACHABILITY__REACH_REACHABLE;
    n.id = (char *)id;
    n.spec = &sp;
    n.description = &d;
    n.status = &st;
    n.role = (Shoal__Store__NodeRole)role;
    if (role == MGR_ROLE_MANAGER)
        n.manager_status = &ms;
    n.raft_id = mgr_raft_id_from_node_id(id);
    nc.node = &n;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_CREATE;
    cmd.node_create = &nc;
    return apply(s, index, &cmd, err);
}

static int update_node(struct mgr_store *s, uint64_t index, const char *id, uint64_t version,
                       int role, int avail, const char *label, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeUpdate nu = SHOAL__STORE__NODE_UPDATE__INIT;
    MgrNodeSpec sp = SHOAL__STORE__NODE_SPEC__INIT;
    Shoal__Store__Label l = SHOAL__STORE__LABEL__INIT;
    Shoal__Store__Label *lp = &l;

    sp.role = (Shoal__Store__NodeRole)role;
    sp.availability = (Shoal__Store__NodeAvailability)avail;
    if (label) {
        l.key = (char *)label;
        l.value = (char *)"a";
        sp.labels = &lp;
        sp.n_labels = 1;
    }
    nu.id = (char *)id;
    nu.version = version;
    nu.spec = &sp;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE;
    cmd.node_update = &nu;
    return apply(s, index, &cmd, err);
}

static int set_status(struct mgr_store *s, uint64_t index, const char *id, int state,
                      struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeSetStatus ns = SHOAL__STORE__NODE_SET_STATUS__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;

    st.state = (Shoal__Store__NodeState)state;
    st.message = (char *)(state == SHOAL__STORE__NODE_STATE__STATE_DOWN ? "heartbeat failure" : "");
    st.addr = (char *)"10.0.0.2";
    ns.id = (char *)id;
    ns.status = &st;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_STATUS;
    cmd.node_set_status = &ns;
    return apply(s, index, &cmd, err);
}

static int remove_node(struct mgr_store *s, uint64_t index, const char *id, bool force,
                       struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeRemove nr = SHOAL__STORE__NODE_REMOVE__INIT;

    nr.id = (char *)id;
    nr.force = force;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_REMOVE;
    cmd.node_remove = &nr;
    return apply(s, index, &cmd, err);
}

static void test_cluster_and_nodes(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err = {0};
    const MgrNode *n;
    const MgrCluster *c;

    (void)state;
    assert_null(mgr_store_cluster(s));
    assert_int_equal(create_cluster(s, 9), 0);
    c = mgr_store_cluster(s);
    assert_non_null(c);
    assert_string_equal(c->id, CLUSTER_ID);
    assert_int_equal(c->meta->version, 9);
    assert_int_equal(c->spec->task_history_retention_limit, 5);
    assert_int_equal(create_cluster(s, 10), -EEXIST);

    assert_int_equal(create_node(s, 11, NODE_A, "ref-node-a", MGR_ROLE_MANAGER,
                                 SHOAL__STORE__NODE_STATE__STATE_READY, &err),
                     0);
    n = mgr_store_node(s, NODE_A);
    assert_non_null(n);
    assert_int_equal(n->meta->version, 11);
    assert_int_equal(n->meta->created_at_ns, 1700000000000000000LL + 11000);
    /* engine labels kept sorted */
    assert_string_equal(n->description->engine_labels[0]->key, "disk");
    assert_non_null(n->manager_status);
    assert_int_equal(create_node(s, 12, NODE_A, "x", MGR_ROLE_WORKER, 0, &err), -EEXIST);
    assert_int_equal(create_node(s, 13, NODE_B, "ref-node-b", MGR_ROLE_WORKER,
                                 SHOAL__STORE__NODE_STATE__STATE_READY, &err),
                     0);
    assert_null(mgr_store_node(s, NODE_B)->manager_status);
    assert_int_equal(mgr_store_count(s, MGR_KIND_NODE), 2);
    assert_int_equal(mgr_store_manager_count(s), 1);
    assert_true(mgr_store_raft_id_in_use(s, mgr_raft_id_from_node_id(NODE_B)));
    assert_int_equal(mgr_store_last_index(s), 13);

    /* update with the right version, then a stale one */
    assert_int_equal(update_node(s, 14, NODE_B, 13, MGR_ROLE_WORKER,
                                 SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN, "ref-zone", &err),
                     0);
    n = mgr_store_node(s, NODE_B);
    assert_int_equal(n->meta->version, 14);
    assert_int_equal(n->meta->created_at_ns, 1700000000000000000LL + 13000);
    assert_int_equal(n->meta->updated_at_ns, 1700000000000000000LL + 14000);
    assert_int_equal(n->spec->availability, SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN);
    assert_string_equal(n->spec->labels[0]->key, "ref-zone");
    assert_int_equal(update_node(s, 15, NODE_B, 13, MGR_ROLE_WORKER, 0, NULL, &err), -ESTALE);
    assert_string_equal(err.msg, "update out of sequence");
    assert_int_equal(mgr_store_node(s, NODE_B)->meta->version, 14);
    {
        char msg[256];
        assert_int_equal(mgr_api_error(&err, msg, sizeof(msg)), 500);
        assert_string_equal(msg, "rpc error: code = Unknown desc = update out of sequence");
    }
    assert_int_equal(update_node(s, 16, "nope", 1, 0, 0, NULL, &err), -ENOENT);
    assert_string_equal(err.msg, "node nope not found");
    /* bad enum values */
    assert_int_equal(update_node(s, 17, NODE_B, 14, 7, 0, NULL, &err), -EINVAL);
    assert_int_equal(update_node(s, 18, NODE_B, 14, 0, 9, NULL, &err), -EINVAL);

    /* demoting the last manager */
    assert_int_equal(update_node(s, 19, NODE_A, 11, MGR_ROLE_WORKER, 0, NULL, &err), -EBUSY);
    assert_string_equal(err.msg, "attempting to demote the last manager of the swarm");
    {
        char msg[256];
        assert_int_equal(mgr_api_error(&err, msg, sizeof(msg)), 400);
        assert_string_equal(msg, "rpc error: code = FailedPrecondition desc = attempting to "
                                 "demote the last manager of the swarm");
    }
    /* promote B, then A can be demoted */
    assert_int_equal(update_node(s, 20, NODE_B, 14, MGR_ROLE_MANAGER, 0, NULL, &err), 0);
    assert_int_equal(mgr_store_manager_count(s), 2);
    assert_int_equal(update_node(s, 21, NODE_A, 11, MGR_ROLE_WORKER, 0, NULL, &err), 0);
    assert_int_equal(update_node(s, 22, NODE_B, 20, MGR_ROLE_WORKER, 0, NULL, &err), -EBUSY);

    /* status: no version check */
    assert_int_equal(set_status(s, 23, NODE_A, SHOAL__STORE__NODE_STATE__STATE_DOWN, &err), 0);
    n = mgr_store_node(s, NODE_A);
    assert_int_equal(n->status->state, SHOAL__STORE__NODE_STATE__STATE_DOWN);
    assert_string_equal(n->status->message, "heartbeat failure");
    assert_int_equal(n->meta->version, 23);
    assert_int_equal(set_status(s, 24, NODE_A, 42, &err), -EINVAL);
    mgr_store_free(s);
}

/* A command far bigger than apply's first arena block (many labels, long
 * values): decoded across several chunks, applied, nothing leaked (ASan). */
static void test_big_command(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err = {0};
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeUpdate nu = SHOAL__STORE__NODE_UPDATE__INIT;
    MgrNodeSpec sp = SHOAL__STORE__NODE_SPEC__INIT;
    enum { N = 1000 };
    Shoal__Store__Label *l = calloc(N, sizeof(*l)), **lp = calloc(N, sizeof(*lp));
    char(*keys)[16] = calloc(N, 16);
    char *value = malloc(4000);
    const MgrNode *n;

    (void)state;
    assert_non_null(l);
    assert_non_null(lp);
    assert_non_null(keys);
    assert_non_null(value);
    memset(value, 'v', 3999);
    value[3999] = 0;
    for (int i = 0; i < N; i++) {
        l[i] = (Shoal__Store__Label)SHOAL__STORE__LABEL__INIT;
        snprintf(keys[i], 16, "k%05d", i);
        l[i].key = keys[i];
        l[i].value = i == N / 2 ? value : keys[i];
        lp[i] = &l[i];
    }
    assert_int_equal(create_cluster(s, 1), 0);
    assert_int_equal(create_node(s, 2, NODE_A, "big", MGR_ROLE_WORKER,
                                 SHOAL__STORE__NODE_STATE__STATE_READY, &err),
                     0);
    sp.role = MGR_ROLE_WORKER;
    sp.labels = lp;
    sp.n_labels = N;
    nu.id = (char *)NODE_A;
    nu.version = 2;
    nu.spec = &sp;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE;
    cmd.node_update = &nu;
    assert_int_equal(apply(s, 3, &cmd, &err), 0);
    n = mgr_store_node(s, NODE_A);
    assert_non_null(n);
    assert_int_equal(n->spec->n_labels, N);
    assert_string_equal(n->spec->labels[N - 1]->key, "k00999");
    assert_int_equal(strlen(n->spec->labels[N / 2]->value), 3999);
    /* the same bytes cut short: refused, nothing leaked */
    nu.version = 3;
    {
        MgrCommand *c2 = &cmd;
        size_t len = protobuf_c_message_get_packed_size(&c2->base);
        uint8_t *buf = malloc(len);
        assert_non_null(buf);
        protobuf_c_message_pack(&c2->base, buf);
        assert_int_equal(mgr_store_apply(s, 4, buf, len - 1000, NULL, &err), -EINVAL);
        free(buf);
    }
    free(value);
    free(keys);
    free(lp);
    free(l);
    mgr_store_free(s);
}

static void test_remove_and_roles(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err = {0};
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeSetRole sr = SHOAL__STORE__NODE_SET_ROLE__INIT;
    MgrManagerStatus ms = SHOAL__STORE__MANAGER_STATUS__INIT;

    (void)state;
    assert_int_equal(create_cluster(s, 1), 0);
    assert_int_equal(create_node(s, 2, NODE_A, "a", MGR_ROLE_MANAGER,
                                 SHOAL__STORE__NODE_STATE__STATE_READY, &err),
                     0);
    assert_int_equal(create_node(s, 3, NODE_B, "b", MGR_ROLE_WORKER,
                                 SHOAL__STORE__NODE_STATE__STATE_READY, &err),
                     0);
    assert_int_equal(remove_node(s, 4, NODE_B, false, &err), -EBUSY);
    assert_string_equal(err.msg, "node ktygv29bb4di3jmpy86bzo14w is not down and can't be removed");
    assert_int_equal(remove_node(s, 5, NODE_A, false, &err), -EBUSY);
    assert_int_equal(remove_node(s, 6, NODE_A, true, &err), -EBUSY); /* last manager */
    assert_int_equal(set_status(s, 7, NODE_B, SHOAL__STORE__NODE_STATE__STATE_DOWN, &err), 0);
    assert_int_equal(remove_node(s, 8, NODE_B, false, &err), 0);
    assert_null(mgr_store_node(s, NODE_B));
    assert_true(mgr_store_node_removed(s, NODE_B));
    assert_true(mgr_store_raft_id_in_use(s, mgr_raft_id_from_node_id(NODE_B)));
    /* a removed node cannot come back with the same id */
    assert_int_equal(create_node(s, 9, NODE_B, "b", MGR_ROLE_WORKER, 0, &err), -EPERM);
    assert_int_equal(remove_node(s, 10, NODE_B, true, &err), -ENOENT);
    /* force removes a live worker */
    assert_int_equal(create_node(s, 11, NODE_C, "c", MGR_ROLE_WORKER,
                                 SHOAL__STORE__NODE_STATE__STATE_READY, &err),
                     0);
    assert_int_equal(remove_node(s, 12, NODE_C, true, &err), 0);

    /* set role: manager needs a manager status */
    assert_int_equal(create_node(s, 13, "0000000000000000000000001", "d", MGR_ROLE_WORKER, 0, &err),
                     0);
    sr.id = (char *)"0000000000000000000000001";
    sr.role = MGR_ROLE_MANAGER;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_ROLE;
    cmd.node_set_role = &sr;
    assert_int_equal(apply(s, 14, &cmd, &err), -EINVAL);
    ms.addr = (char *)"10.0.0.9:2377";
    sr.manager_status = &ms;
    assert_int_equal(apply(s, 15, &cmd, &err), 0);
    assert_int_equal(mgr_store_node(s, sr.id)->role, MGR_ROLE_MANAGER);
    assert_string_equal(mgr_store_node(s, sr.id)->manager_status->addr, "10.0.0.9:2377");
    sr.role = MGR_ROLE_WORKER;
    assert_int_equal(apply(s, 16, &cmd, &err), 0);
    assert_null(mgr_store_node(s, sr.id)->manager_status);
    mgr_store_free(s);
}

static void test_cluster_update_tokens(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err = {0};
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ClusterUpdate cu = SHOAL__STORE__CLUSTER_UPDATE__INIT;
    Shoal__Store__JoinTokenRotate jr = SHOAL__STORE__JOIN_TOKEN_ROTATE__INIT;
    MgrClusterSpec sp = SHOAL__STORE__CLUSTER_SPEC__INIT;
    char tok[MGR_TOKEN_LEN + 1], old_w[MGR_TOKEN_LEN + 1];
    int role;

    (void)state;
    assert_int_equal(create_cluster(s, 5), 0);
    mgr_cluster_spec_defaults(&sp);
    sp.heartbeat_period_ns = 2000000000;
    cu.id = (char *)CLUSTER_ID;
    cu.version = 4;
    cu.spec = &sp;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_CLUSTER_UPDATE;
    cmd.cluster_update = &cu;
    assert_int_equal(apply(s, 6, &cmd, &err), -ESTALE);
    cu.version = 5;
    assert_int_equal(mgr_token_new(g_ca_pem, tok, NULL), 0);
    cu.worker_token = tok;
    assert_int_equal(apply(s, 7, &cmd, &err), 0);
    assert_int_equal(mgr_store_cluster(s)->spec->heartbeat_period_ns, 2000000000);
    assert_string_equal(mgr_store_cluster(s)->worker_token, tok);
    assert_string_equal(mgr_store_cluster(s)->manager_token, g_mtok);
    assert_int_equal(mgr_store_cluster(s)->meta->version, 7);
    /* the old worker token no longer grants anything */
    assert_int_equal(mgr_token_role(g_wtok, mgr_store_cluster(s)->worker_token,
                                    mgr_store_cluster(s)->manager_token, &role, &err),
                     -EACCES);
    assert_int_equal(mgr_token_role(tok, mgr_store_cluster(s)->worker_token,
                                    mgr_store_cluster(s)->manager_token, &role, &err),
                     0);
    assert_int_equal(role, MGR_ROLE_WORKER);
    /* bad spec */
    cu.version = 7;
    sp.name = (char *)"other";
    assert_int_equal(apply(s, 8, &cmd, &err), -EINVAL);
    sp.name = (char *)"default";
    sp.node_cert_expiry_ns = 1000;
    assert_int_equal(apply(s, 9, &cmd, &err), -EINVAL);

    /* rotate the manager token without a version */
    snprintf(old_w, sizeof(old_w), "%s", mgr_store_cluster(s)->manager_token);
    assert_int_equal(mgr_token_new(g_ca_pem, tok, NULL), 0);
    jr.role = MGR_ROLE_MANAGER;
    jr.token = tok;
    memset(&cmd, 0, sizeof(cmd));
    shoal__store__store_command__init(&cmd);
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_JOIN_TOKEN_ROTATE;
    cmd.join_token_rotate = &jr;
    assert_int_equal(apply(s, 10, &cmd, &err), 0);
    assert_string_equal(mgr_store_cluster(s)->manager_token, tok);
    assert_string_not_equal(mgr_store_cluster(s)->manager_token, old_w);
    jr.token = (char *)"SWMTKN-1-bad";
    assert_int_equal(apply(s, 11, &cmd, &err), -EINVAL);
    mgr_store_free(s);
}

struct watch_log {
    int creates, updates, deletes;
    uint64_t last_index;
    char last_id[32];
};

static void watch_cb(void *ud, enum mgr_kind kind, enum mgr_change ch, const void *old_obj,
                     const void *new_obj, uint64_t index)
{
    struct watch_log *w = ud;

    assert_int_equal(kind, MGR_KIND_NODE);
    switch (ch) {
    case MGR_CHANGE_CREATE:
        assert_null(old_obj);
        assert_non_null(new_obj);
        w->creates++;
        break;
    case MGR_CHANGE_UPDATE:
        assert_non_null(old_obj);
        assert_non_null(new_obj);
        assert_true(((const MgrNode *)old_obj)->meta->version <
                    ((const MgrNode *)new_obj)->meta->version);
        w->updates++;
        break;
    case MGR_CHANGE_DELETE:
        assert_non_null(old_obj);
        assert_null(new_obj);
        w->deletes++;
        break;
    }
    snprintf(w->last_id, sizeof(w->last_id), "%s",
             new_obj ? ((const MgrNode *)new_obj)->id : ((const MgrNode *)old_obj)->id);
    w->last_index = index;
}

static void test_watches(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct watch_log w = {0};
    struct err err;
    int h;

    (void)state;
    h = mgr_store_watch(s, MGR_KIND_NODE, watch_cb, &w);
    assert_true(h > 0);
    assert_int_equal(create_cluster(s, 1), 0); /* not a node: not seen */
    assert_int_equal(w.creates, 0);
    assert_int_equal(create_node(s, 2, NODE_A, "a", MGR_ROLE_MANAGER, 2, &err), 0);
    assert_int_equal(create_node(s, 3, NODE_B, "b", MGR_ROLE_WORKER, 2, &err), 0);
    assert_int_equal(set_status(s, 4, NODE_B, SHOAL__STORE__NODE_STATE__STATE_DOWN, &err), 0);
    assert_int_equal(update_node(s, 5, NODE_B, 1, 0, 0, NULL, &err), -ESTALE); /* no event */
    assert_int_equal(remove_node(s, 6, NODE_B, false, &err), 0);
    assert_int_equal(w.creates, 2);
    assert_int_equal(w.updates, 1);
    assert_int_equal(w.deletes, 1);
    assert_int_equal(w.last_index, 6);
    assert_string_equal(w.last_id, NODE_B);
    mgr_store_unwatch(s, h);
    assert_int_equal(set_status(s, 7, NODE_A, 2, &err), 0);
    assert_int_equal(w.updates, 1);
    mgr_store_free(s);
}

static void test_duplicate_request(void **state)
{
    struct mgr_store *s = mgr_store_new();
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeSetStatus ns = SHOAL__STORE__NODE_SET_STATUS__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;
    struct mgr_apply_result res;
    void *buf;
    size_t len;

    (void)state;
    assert_int_equal(create_cluster(s, 1), 0);
    assert_int_equal(create_node(s, 2, NODE_A, "a", MGR_ROLE_MANAGER, 2, NULL), 0);
    st.state = SHOAL__STORE__NODE_STATE__STATE_DOWN;
    ns.id = (char *)NODE_A;
    ns.status = &st;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_STATUS;
    cmd.node_set_status = &ns;
    cmd.request_id = (ProtobufCBinaryData){5, (uint8_t *)"abcde"};
    cmd.timestamp_ns = 42;
    assert_int_equal(mgr_cmd_pack(&cmd, &buf, &len, NULL), 0);
    assert_int_equal(mgr_store_apply(s, 3, buf, len, &res, NULL), 0);
    assert_false(res.duplicate);
    assert_string_equal(res.id, NODE_A);
    assert_int_equal(mgr_store_apply(s, 4, buf, len, &res, NULL), 0);
    assert_true(res.duplicate);
    assert_int_equal(mgr_store_node(s, NODE_A)->meta->version, 3);
    free(buf);
    mgr_store_free(s);
}

static void test_find_and_filters(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err;
    const MgrNode *n, **list;
    size_t cnt;

    (void)state;
    assert_int_equal(create_cluster(s, 1), 0);
    assert_int_equal(create_node(s, 2, NODE_A, "ref-node-a", MGR_ROLE_MANAGER, 2, NULL), 0);
    assert_int_equal(create_node(s, 3, NODE_B, "ref-node-b", MGR_ROLE_WORKER, 2, NULL), 0);
    assert_int_equal(create_node(s, 4, NODE_C, "ref-node-c", MGR_ROLE_WORKER, 2, NULL), 0);
    assert_int_equal(update_node(s, 5, NODE_C, 4, MGR_ROLE_WORKER, 0, "ref-zone", NULL), 0);

    assert_int_equal(mgr_store_node_find(s, NODE_A, &n, &err), 0);
    assert_string_equal(n->id, NODE_A);
    assert_int_equal(mgr_store_node_find(s, "ref-node-b", &n, &err), 0);
    assert_string_equal(n->id, NODE_B);
    assert_int_equal(mgr_store_node_find(s, "pq", &n, &err), 0);
    assert_string_equal(n->id, NODE_A);
    assert_int_equal(mgr_store_node_find(s, "ktyg", &n, &err), -EINVAL);
    assert_string_equal(err.msg, "node ktyg is ambiguous (2 matches found)");
    assert_int_equal(mgr_store_node_find(s, "self", &n, &err), -ENOENT);
    assert_string_equal(err.msg, "node self not found");

    {
        struct mgr_node_filter f[] = {{"role", "worker"}};
        assert_int_equal(mgr_store_node_list(s, f, 1, &list, &cnt, &err), 0);
        assert_int_equal(cnt, 2);
        free(list);
    }
    {
        struct mgr_node_filter f[] = {{"role", "worker"}, {"node.label", "ref-zone=a"}};
        assert_int_equal(mgr_store_node_list(s, f, 2, &list, &cnt, &err), 0);
        assert_int_equal(cnt, 1);
        assert_string_equal(list[0]->id, NODE_C);
        free(list);
    }
    {
        struct mgr_node_filter f[] = {{"name", "ref-node-a"}, {"name", "ref-node-c"}};
        assert_int_equal(mgr_store_node_list(s, f, 2, &list, &cnt, &err), 0);
        assert_int_equal(cnt, 2);
        free(list);
    }
    {
        struct mgr_node_filter f[] = {
            {"label", "disk=ssd"}, {"id", "pq"}, {"membership", "accepted"}};
        assert_int_equal(mgr_store_node_list(s, f, 3, &list, &cnt, &err), 0);
        assert_int_equal(cnt, 1);
        free(list);
    }
    {
        struct mgr_node_filter f[] = {{"label", "disk=hdd"}};
        assert_int_equal(mgr_store_node_list(s, f, 1, &list, &cnt, &err), 0);
        assert_int_equal(cnt, 0);
        free(list);
    }
    {
        struct mgr_node_filter f[] = {{"role", "boss"}};
        assert_int_equal(mgr_store_node_list(s, f, 1, &list, &cnt, &err), -EINVAL);
        assert_string_equal(err.msg, "Invalid role filter: 'boss'");
        struct mgr_node_filter g[] = {{"color", "x"}};
        assert_int_equal(mgr_node_filter_check(g, 1, &err), -EINVAL);
    }
    mgr_store_free(s);
}

/* Build a store with many objects from a fixed command list. */
static void fill(struct mgr_store *s, int nodes)
{
    uint64_t idx = 1;
    char id[MGR_ID_LEN + 1];

    assert_int_equal(create_cluster(s, idx++), 0);
    for (int i = 0; i < nodes; i++) {
        snprintf(id, sizeof(id), "%025d", i + 1);
        assert_int_equal(create_node(s, idx++, id, "host",
                                     i == 0 ? MGR_ROLE_MANAGER : MGR_ROLE_WORKER,
                                     SHOAL__STORE__NODE_STATE__STATE_READY, NULL),
                         0);
        if (i % 3 == 1) {
            assert_int_equal(update_node(s, idx, id, idx - 1, MGR_ROLE_WORKER, 1, "k", NULL), 0);
            idx++;
        }
        if (i % 5 == 2) {
            assert_int_equal(set_status(s, idx++, id, 1, NULL), 0);
            assert_int_equal(remove_node(s, idx++, id, false, NULL), 0);
        }
    }
}

static void test_determinism_and_snapshot(void **state)
{
    struct mgr_store *a = mgr_store_new(), *b = mgr_store_new(), *c = mgr_store_new();
    void *sa, *sb, *sc;
    size_t la, lb, lc;
    struct err err;

    (void)state;
    fill(a, 300);
    fill(b, 300);
    assert_int_equal(mgr_store_snapshot(a, &sa, &la, &err), 0);
    assert_int_equal(mgr_store_snapshot(b, &sb, &lb, &err), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);

    /* restore into a store that holds something else */
    assert_int_equal(create_cluster(c, 1), 0);
    assert_int_equal(mgr_store_restore(c, sa, la, &err), 0);
    assert_int_equal(mgr_store_count(c, MGR_KIND_NODE), mgr_store_count(a, MGR_KIND_NODE));
    assert_int_equal(mgr_store_count(c, MGR_KIND_REMOVED_NODE), 60);
    assert_int_equal(mgr_store_last_index(c), mgr_store_last_index(a));
    assert_int_equal(mgr_store_snapshot(c, &sc, &lc, &err), 0);
    assert_int_equal(lc, la);
    assert_memory_equal(sa, sc, la);
    /* the restored store keeps working */
    assert_int_equal(
        set_status(c, mgr_store_last_index(c) + 1, "0000000000000000000000001", 1, &err), 0);

    /* garbage and truncations are refused, the store stays as it was */
    assert_int_equal(mgr_store_restore(c, "garbage", 7, &err), -EINVAL);
    for (size_t cut = 1; cut < la; cut += la / 97 + 1)
        assert_true(mgr_store_restore(c, sa, cut, &err) < 0 || cut == la);
    assert_int_equal(mgr_store_count(c, MGR_KIND_NODE), mgr_store_count(a, MGR_KIND_NODE));
    assert_non_null(mgr_store_cluster(c));
    free(sa);
    free(sb);
    free(sc);
    mgr_store_free(a);
    mgr_store_free(b);
    mgr_store_free(c);
}

static void test_hostile_commands(void **state)
{
    struct mgr_store *s = mgr_store_new();
    uint8_t buf[512];
    struct err err;
    void *good;
    size_t glen;
    uint64_t idx = 10;
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeRemove nr = SHOAL__STORE__NODE_REMOVE__INIT;

    (void)state;
    assert_int_equal(create_cluster(s, 1), 0);
    assert_int_equal(create_node(s, 2, NODE_A, "a", MGR_ROLE_MANAGER, 2, NULL), 0);
    assert_int_equal(create_node(s, 3, NODE_B, "b", MGR_ROLE_WORKER, 1, NULL), 0);

    /* random buffers */
    for (int i = 0; i < 5000; i++) {
        size_t len = (size_t)(i % 500) + 1;
        assert_int_equal(getrandom(buf, len, 0), (ssize_t)len);
        (void)mgr_store_apply(s, idx++, buf, len, NULL, &err);
    }
    /* a valid command, truncated and bit-flipped everywhere */
    nr.id = (char *)NODE_B;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_REMOVE;
    cmd.node_remove = &nr;
    assert_int_equal(mgr_cmd_pack(&cmd, &good, &glen, NULL), 0);
    for (size_t cut = 1; cut < glen; cut++)
        (void)mgr_store_apply(s, idx++, good, cut, NULL, &err);
    for (size_t pos = 0; pos < glen && pos < sizeof(buf); pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, good, glen);
            buf[pos] ^= (uint8_t)(1 << bit);
            (void)mgr_store_apply(s, idx++, buf, glen, NULL, &err);
        }
    }
    free(good);
    /* huge length prefix: field 12 (node_create) claiming 2^31 bytes */
    {
        const uint8_t huge[] = {0x62, 0x80, 0x80, 0x80, 0x80, 0x08, 0x01};
        assert_int_equal(mgr_store_apply(s, idx++, huge, sizeof(huge), NULL, &err), -EINVAL);
    }
    /* unknown oneof member (field 99): parses, but no op */
    {
        const uint8_t unk[] = {0x9a, 0x06, 0x00};
        assert_int_equal(mgr_store_apply(s, idx++, unk, sizeof(unk), NULL, &err), -EINVAL);
    }
    /* missing submessages and invalid strings */
    {
        MgrCommand c2 = SHOAL__STORE__STORE_COMMAND__INIT;
        Shoal__Store__NodeUpdate nu = SHOAL__STORE__NODE_UPDATE__INIT;
        Shoal__Store__NodeCreate nc = SHOAL__STORE__NODE_CREATE__INIT;
        MgrNode n = SHOAL__STORE__NODE__INIT;
        MgrNodeSpec sp = SHOAL__STORE__NODE_SPEC__INIT;
        MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;
        char bad[] = {'a', (char)0xff, 'b', 0};

        nu.id = (char *)NODE_A;
        nu.version = 2;
        c2.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE;
        c2.node_update = &nu;
        assert_int_equal(apply(s, idx++, &c2, &err), -EINVAL); /* no spec */
        c2.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_CREATE;
        c2.node_create = &nc;
        assert_int_equal(apply(s, idx++, &c2, &err), -EINVAL); /* no node */
        nc.node = &n;
        n.id = (char *)"short";
        assert_int_equal(apply(s, idx++, &c2, &err), -EINVAL);
        n.id = (char *)"0000000000000000000000009";
        assert_int_equal(apply(s, idx++, &c2, &err), -EINVAL); /* no spec/status */
        n.spec = &sp;
        n.status = &st;
        sp.name = bad;
        assert_int_equal(apply(s, idx++, &c2, &err), -EINVAL); /* not UTF-8 */
    }
    assert_int_equal(mgr_store_apply(s, idx++, NULL, 0, NULL, &err), -EINVAL);
    assert_int_equal(mgr_store_apply(s, 0, "x", 1, NULL, &err), -EINVAL);
    /* the store is intact */
    assert_int_equal(mgr_store_count(s, MGR_KIND_NODE) + mgr_store_count(s, MGR_KIND_REMOVED_NODE),
                     2);
    assert_non_null(mgr_store_node(s, NODE_A));
    mgr_store_free(s);
}

static void test_random_snapshots(void **state)
{
    struct mgr_store *s = mgr_store_new();
    uint8_t buf[256];
    struct err err;

    (void)state;
    assert_int_equal(create_cluster(s, 1), 0);
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(i % 255) + 1;
        assert_int_equal(getrandom(buf, len, 0), (ssize_t)len);
        (void)mgr_store_restore(s, buf, len, &err);
    }
    /* a snapshot with a bogus kind, a duplicate and a broken object */
    {
        Shoal__Store__StoreSnapshot snap = SHOAL__STORE__STORE_SNAPSHOT__INIT;
        Shoal__Store__StoreTable t = SHOAL__STORE__STORE_TABLE__INIT;
        Shoal__Store__StoreTable *tp = &t;
        ProtobufCBinaryData obj = {3, (uint8_t *)"\x0a\x01z"};
        uint8_t out[128];
        size_t len;

        snap.format = 1;
        snap.n_tables = 1;
        snap.tables = &tp;
        t.kind = (Shoal__Store__ObjectKind)77;
        len = shoal__store__store_snapshot__pack(&snap, out);
        assert_int_equal(mgr_store_restore(s, out, len, &err), -EINVAL);
        t.kind = SHOAL__STORE__OBJECT_KIND__KIND_NODE;
        t.n_objects = 1;
        t.objects = &obj;
        len = shoal__store__store_snapshot__pack(&snap, out);
        assert_int_equal(mgr_store_restore(s, out, len, &err), -EINVAL);
        snap.format = 2;
        t.n_objects = 0;
        len = shoal__store__store_snapshot__pack(&snap, out);
        assert_int_equal(mgr_store_restore(s, out, len, &err), -EINVAL);
    }
    assert_non_null(mgr_store_cluster(s));
    mgr_store_free(s);
}

static void test_ids(void **state)
{
    char a[MGR_ID_LEN + 1], b[MGR_ID_LEN + 1];
    uint8_t max[16];
    char out[40];

    (void)state;
    for (int i = 0; i < 500; i++) {
        assert_int_equal(mgr_id_new(a), 0);
        assert_int_equal(mgr_id_new(b), 0);
        assert_int_equal(strlen(a), 25);
        assert_true(mgr_id_valid(a));
        assert_string_not_equal(a, b);
    }
    assert_true(mgr_id_valid("v73mdzlha5gx4fhvwj104j022"));
    assert_false(mgr_id_valid("v73mdzlha5gx4fhvwj104j02"));
    assert_false(mgr_id_valid("V73mdzlha5gx4fhvwj104j022"));
    assert_false(mgr_id_valid("v73mdzlha5gx4fhvwj104j02-"));
    assert_false(mgr_id_valid(NULL));
    /* base36 arithmetic */
    memset(max, 0xff, sizeof(max));
    assert_int_equal(mgr_base36(max, 16, out, 25), 0);
    assert_string_equal(out, "f5lxx1zz5pnorynqglhzmsp33"); /* 2^128 - 1 */
    memset(max, 0, sizeof(max));
    max[15] = 35;
    assert_int_equal(mgr_base36(max, 16, out, 25), 0);
    assert_string_equal(out, "000000000000000000000000z");
    max[15] = 36;
    assert_int_equal(mgr_base36(max, 16, out, 1), -ENOSPC);
    /* raft ids */
    assert_true(mgr_raft_id_from_node_id(NODE_A) != 0);
    assert_true(mgr_raft_id_from_node_id(NODE_A) == mgr_raft_id_from_node_id(NODE_A));
    assert_true(mgr_raft_id_from_node_id(NODE_A) != mgr_raft_id_from_node_id(NODE_B));
    assert_true(mgr_raft_id_next(0x61c8864680b583ebULL) != 0);
}

/* ---- services, tasks, networks ------------------------------------------ */

#define SPEC_V1                                                                                    \
    "{\"Mode\":{\"Replicated\":{\"Replicas\":3}},\"Name\":\"web\",\"TaskTemplate\":"               \
    "{\"ContainerSpec\":{\"Image\":\"busybox:1\"}}}"
#define SPEC_V1_SCALED                                                                             \
    "{\"Mode\":{\"Replicated\":{\"Replicas\":7}},\"Name\":\"web\",\"TaskTemplate\":"               \
    "{\"ContainerSpec\":{\"Image\":\"busybox:1\"}}}"
#define SPEC_V2                                                                                    \
    "{\"Mode\":{\"Replicated\":{\"Replicas\":7}},\"Name\":\"web\",\"TaskTemplate\":"               \
    "{\"ContainerSpec\":{\"Image\":\"busybox:2\"}}}"
#define SPEC_V3_RENAMED                                                                            \
    "{\"Mode\":{\"Replicated\":{\"Replicas\":7}},\"Name\":\"www\",\"TaskTemplate\":"               \
    "{\"ContainerSpec\":{\"Image\":\"busybox:3\"}}}"
#define TASK_SPEC "{\"ContainerSpec\":{\"Image\":\"busybox:1\"}}"

static const char *const SVC_A = "s00000000000000000000000a";
static const char *const SVC_B = "s00000000000000000000000b";

static void mk_id(char out[MGR_ID_LEN + 1], char prefix, unsigned n)
{
    snprintf(out, MGR_ID_LEN + 1, "%c%024u", prefix, n);
}

static int svc_create(struct mgr_store *s, uint64_t idx, const char *id, const char *name,
                      const char *spec, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceCreate sc = SHOAL__STORE__SERVICE_CREATE__INIT;
    MgrService sv = SHOAL__STORE__SERVICE__INIT;

    sv.id = (char *)id;
    sv.name = (char *)name;
    sv.spec_json = (char *)spec;
    sv.spec_version = 999; /* apply overrides it */
    sc.service = &sv;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_CREATE;
    cmd.service_create = &sc;
    return apply(s, idx, &cmd, err);
}

static int svc_update(struct mgr_store *s, uint64_t idx, const char *id, uint64_t version,
                      const char *name, const char *spec, bool rollback, const char *upd_state,
                      const char *endpoint, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceUpdate su = SHOAL__STORE__SERVICE_UPDATE__INIT;
    MgrUpdateStatus us = SHOAL__STORE__UPDATE_STATUS__INIT;

    su.id = (char *)id;
    su.version = version;
    su.name = (char *)name;
    su.spec_json = (char *)spec;
    su.previous_spec_json = (char *)"{\"ignored\":true}";
    su.rollback = rollback;
    if (upd_state) {
        us.state = (char *)upd_state;
        us.started_at_ns = 77;
        su.update_status = &us;
    }
    if (endpoint)
        su.endpoint_json = (char *)endpoint;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_UPDATE;
    cmd.service_update = &su;
    return apply(s, idx, &cmd, err);
}

static int svc_set_update_status(struct mgr_store *s, uint64_t idx, const char *id,
                                 const char *state, const char *rollback_spec, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceSetUpdateStatus ss = SHOAL__STORE__SERVICE_SET_UPDATE_STATUS__INIT;
    MgrUpdateStatus us = SHOAL__STORE__UPDATE_STATUS__INIT;

    ss.id = (char *)id;
    if (state) {
        us.state = (char *)state;
        us.message = (char *)"update in progress";
        ss.update_status = &us;
    }
    if (rollback_spec)
        ss.spec_json = (char *)rollback_spec;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_SET_UPDATE_STATUS;
    cmd.service_set_update_status = &ss;
    return apply(s, idx, &cmd, err);
}

static int svc_remove(struct mgr_store *s, uint64_t idx, const char *id, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__ServiceRemove sr = SHOAL__STORE__SERVICE_REMOVE__INIT;

    sr.id = (char *)id;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_REMOVE;
    cmd.service_remove = &sr;
    return apply(s, idx, &cmd, err);
}

/* A TaskBatch under construction (heap: a batch may hold thousands of ops). */
#define BATCH_MAX 2100
struct batch {
    size_t n;
    Shoal__Store__TaskOp *ops[BATCH_MAX];
    Shoal__Store__TaskOp op[BATCH_MAX];
    Shoal__Store__TaskCreate create[BATCH_MAX];
    Shoal__Store__TaskSetDesired desired[BATCH_MAX];
    Shoal__Store__TaskAssign assign[BATCH_MAX];
    Shoal__Store__TaskSetStatus setst[BATCH_MAX];
    Shoal__Store__TaskRemove remove[BATCH_MAX];
    MgrTask task[BATCH_MAX];
    MgrTaskStatus status[BATCH_MAX];
    char id[BATCH_MAX][MGR_ID_LEN + 1];
    char str[BATCH_MAX][MGR_ID_LEN + 1];
};

static struct batch *batch_new(void)
{
    struct batch *b = calloc(1, sizeof(*b));

    assert_non_null(b);
    return b;
}

static Shoal__Store__TaskOp *batch_op(struct batch *b, const char *id, size_t *ret_i)
{
    size_t i = b->n++;

    assert_true(i < BATCH_MAX);
    shoal__store__task_op__init(&b->op[i]);
    shoal__store__task_status__init(&b->status[i]);
    snprintf(b->id[i], sizeof(b->id[i]), "%s", id);
    b->ops[i] = &b->op[i];
    *ret_i = i;
    return &b->op[i];
}

static void batch_create(struct batch *b, const char *id, const char *svc, uint64_t slot,
                         const char *node)
{
    size_t i;
    Shoal__Store__TaskOp *op = batch_op(b, id, &i);
    MgrTask *t = &b->task[i];

    shoal__store__task__init(t);
    shoal__store__task_create__init(&b->create[i]);
    t->id = b->id[i];
    snprintf(b->str[i], sizeof(b->str[i]), "%s", svc);
    t->service_id = b->str[i];
    t->service_name = (char *)"web";
    t->slot = slot;
    t->node_id = (char *)(node ? node : "");
    t->desired_state = MGR_TASK_RUNNING;
    t->spec_json = (char *)TASK_SPEC;
    t->spec_version = 5;
    t->service_labels_json = (char *)"{\"com.docker.stack.namespace\":\"st\"}";
    t->networks_json = (char *)"[]";
    b->create[i].task = t;
    op->op_case = SHOAL__STORE__TASK_OP__OP_CREATE;
    op->create = &b->create[i];
}

static void batch_desired(struct batch *b, const char *id, int st)
{
    size_t i;
    Shoal__Store__TaskOp *op = batch_op(b, id, &i);

    shoal__store__task_set_desired__init(&b->desired[i]);
    b->desired[i].id = b->id[i];
    b->desired[i].desired_state = (Shoal__Store__TaskState)st;
    op->op_case = SHOAL__STORE__TASK_OP__OP_SET_DESIRED;
    op->set_desired = &b->desired[i];
}

static void batch_assign(struct batch *b, const char *id, const char *node, int st, const char *msg)
{
    size_t i;
    Shoal__Store__TaskOp *op = batch_op(b, id, &i);

    shoal__store__task_assign__init(&b->assign[i]);
    b->assign[i].id = b->id[i];
    b->assign[i].node_id = (char *)node;
    b->status[i].state = (Shoal__Store__TaskState)st;
    b->status[i].message = (char *)msg;
    b->status[i].timestamp_ns = (int64_t)b->n;
    b->assign[i].status = &b->status[i];
    op->op_case = SHOAL__STORE__TASK_OP__OP_ASSIGN;
    op->assign = &b->assign[i];
}

static MgrTaskStatus *batch_status(struct batch *b, const char *id, int st, const char *msg,
                                   int64_t ts)
{
    size_t i;
    Shoal__Store__TaskOp *op = batch_op(b, id, &i);

    shoal__store__task_set_status__init(&b->setst[i]);
    b->setst[i].id = b->id[i];
    b->status[i].state = (Shoal__Store__TaskState)st;
    b->status[i].message = (char *)msg;
    b->status[i].timestamp_ns = ts;
    b->setst[i].status = &b->status[i];
    op->op_case = SHOAL__STORE__TASK_OP__OP_SET_STATUS;
    op->set_status = &b->setst[i];
    return &b->status[i];
}

static void batch_remove(struct batch *b, const char *id)
{
    size_t i;
    Shoal__Store__TaskOp *op = batch_op(b, id, &i);

    shoal__store__task_remove__init(&b->remove[i]);
    b->remove[i].id = b->id[i];
    op->op_case = SHOAL__STORE__TASK_OP__OP_REMOVE;
    op->remove = &b->remove[i];
}

/* Apply and empty the batch. */
static int batch_apply(struct mgr_store *s, uint64_t idx, struct batch *b, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__TaskBatch tb = SHOAL__STORE__TASK_BATCH__INIT;
    int r;

    tb.n_ops = b->n;
    tb.ops = b->ops;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH;
    cmd.task_batch = &tb;
    r = apply(s, idx, &cmd, err);
    b->n = 0;
    return r;
}

static int net_create(struct mgr_store *s, uint64_t idx, const char *id, const char *name,
                      uint32_t vni, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NetworkCreate nc = SHOAL__STORE__NETWORK_CREATE__INIT;
    MgrNetwork n = SHOAL__STORE__NETWORK__INIT;

    n.id = (char *)id;
    n.name = (char *)name;
    n.spec_json = (char *)"{\"Driver\":\"overlay\",\"Labels\":{}}";
    n.subnet = (char *)"10.0.1.0/24";
    n.gateway = (char *)"10.0.1.1";
    n.vni = vni;
    nc.network = &n;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NETWORK_CREATE;
    cmd.network_create = &nc;
    return apply(s, idx, &cmd, err);
}

static int net_remove(struct mgr_store *s, uint64_t idx, const char *id, struct err *err)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NetworkRemove nr = SHOAL__STORE__NETWORK_REMOVE__INIT;

    nr.id = (char *)id;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NETWORK_REMOVE;
    cmd.network_remove = &nr;
    return apply(s, idx, &cmd, err);
}

/* Counts every change of any kind, checking old/new against the kind. */
struct any_watch {
    int n[MGR_N_KINDS][3];
    int total;
    uint64_t last_index;
};

static void any_watch_cb(void *ud, enum mgr_kind kind, enum mgr_change ch, const void *old_obj,
                         const void *new_obj, uint64_t index)
{
    struct any_watch *w = ud;

    assert_true(kind > 0 && kind < MGR_N_KINDS);
    assert_true((ch == MGR_CHANGE_CREATE) == (old_obj == NULL));
    assert_true((ch == MGR_CHANGE_DELETE) == (new_obj == NULL));
    if (new_obj) /* the store already holds the change */
        assert_int_equal(((const MgrService *)new_obj)->meta->version, index);
    w->n[kind][ch]++;
    w->total++;
    w->last_index = index;
}

static void test_service_create_update(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct any_watch w = {0};
    struct err err = {0};
    const MgrService *sv;

    (void)state;
    assert_true(mgr_store_watch(s, MGR_KIND_SERVICE, any_watch_cb, &w) > 0);
    assert_int_equal(svc_create(s, 5, SVC_A, "web", SPEC_V1, &err), 0);
    sv = mgr_store_service(s, SVC_A);
    assert_non_null(sv);
    assert_string_equal(sv->name, "web");
    assert_int_equal(sv->spec_version, 5);
    assert_int_equal(sv->meta->version, 5);
    assert_string_equal(sv->previous_spec_json, "");
    assert_null(sv->update_status);
    assert_int_equal(w.n[MGR_KIND_SERVICE][MGR_CHANGE_CREATE], 1);

    /* same id, same name */
    assert_int_equal(svc_create(s, 6, SVC_A, "other", SPEC_V1, &err), -EEXIST);
    assert_int_equal(svc_create(s, 7, SVC_B, "web", SPEC_V1, &err), -EEXIST);
    assert_string_equal(err.msg, "rpc error: code = AlreadyExists desc = name conflicts with an "
                                 "existing object");
    assert_int_equal(svc_create(s, 8, SVC_B, "db", SPEC_V1, &err), 0);
    assert_int_equal(mgr_store_count(s, MGR_KIND_SERVICE), 2);

    /* update: stale version, then the right one */
    assert_int_equal(svc_update(s, 9, SVC_A, 4, "web", SPEC_V2, false, NULL, NULL, &err), -ESTALE);
    assert_string_equal(err.msg, "update out of sequence");
    assert_int_equal(mgr_store_service(s, SVC_A)->meta->version, 5);
    assert_int_equal(svc_update(s, 10, SVC_A, 5, "web", SPEC_V2, false, "updating",
                                "{\"Spec\":{\"Mode\":\"vip\"}}", &err),
                     0);
    sv = mgr_store_service(s, SVC_A);
    assert_int_equal(sv->meta->version, 10);
    assert_int_equal(sv->meta->created_at_ns, 1700000000000000000LL + 5000);
    assert_int_equal(sv->spec_version, 10);
    assert_string_equal(sv->spec_json, SPEC_V2);
    assert_string_equal(sv->previous_spec_json, SPEC_V1); /* the command's text is ignored */
    assert_int_equal(sv->previous_spec_version, 5);
    assert_non_null(sv->update_status);
    assert_string_equal(sv->update_status->state, "updating");
    assert_string_equal(sv->endpoint_json, "{\"Spec\":{\"Mode\":\"vip\"}}");
    assert_int_equal(w.n[MGR_KIND_SERVICE][MGR_CHANGE_UPDATE], 1);

    /* rename onto another service's name; rename to a free name */
    assert_int_equal(svc_update(s, 11, SVC_A, 10, "db", SPEC_V2, false, NULL, NULL, &err), -EEXIST);
    assert_int_equal(svc_update(s, 12, SVC_A, 10, "www", SPEC_V3_RENAMED, false, NULL, NULL, &err),
                     0);
    sv = mgr_store_service(s, SVC_A);
    assert_string_equal(sv->name, "www");
    assert_int_equal(sv->spec_version, 12);
    assert_int_equal(sv->previous_spec_version, 10);
    assert_string_equal(sv->previous_spec_json, SPEC_V2);
    /* kept when the command has none */
    assert_string_equal(sv->update_status->state, "updating");
    assert_string_equal(sv->endpoint_json, "{\"Spec\":{\"Mode\":\"vip\"}}");

    /* manual rollback: spec and spec versions swap */
    assert_int_equal(svc_update(s, 13, SVC_A, 12, "web", SPEC_V1, true, NULL, NULL, &err),
                     -EINVAL); /* not the previous spec */
    assert_int_equal(
        svc_update(s, 14, SVC_A, 12, "web", SPEC_V2, true, "rollback_started", NULL, &err), 0);
    sv = mgr_store_service(s, SVC_A);
    assert_string_equal(sv->name, "web");
    assert_string_equal(sv->spec_json, SPEC_V2);
    assert_int_equal(sv->spec_version, 10);
    assert_string_equal(sv->previous_spec_json, SPEC_V3_RENAMED);
    assert_int_equal(sv->previous_spec_version, 12);
    assert_string_equal(sv->update_status->state, "rollback_started");
    /* rolling back again returns to v3 and its version */
    assert_int_equal(svc_update(s, 15, SVC_A, 14, "www", SPEC_V3_RENAMED, true, NULL, NULL, &err),
                     0);
    assert_int_equal(mgr_store_service(s, SVC_A)->spec_version, 12);
    assert_int_equal(mgr_store_service(s, SVC_A)->previous_spec_version, 10);
    /* a service never updated has nothing to roll back to */
    assert_int_equal(svc_update(s, 16, SVC_B, 8, "db", SPEC_V1, true, NULL, NULL, &err), -EBUSY);
    assert_string_equal(err.msg, "service s00000000000000000000000b does not have a previous spec");

    /* scaling does not make tasks out of date: spec_version stays */
    assert_int_equal(svc_update(s, 17, SVC_B, 8, "db", SPEC_V1_SCALED, false, NULL, NULL, &err), 0);
    sv = mgr_store_service(s, SVC_B);
    assert_int_equal(sv->spec_version, 8);
    assert_int_equal(sv->previous_spec_version, 8);
    assert_int_equal(sv->meta->version, 17);
    assert_string_equal(sv->spec_json, SPEC_V1_SCALED);
    /* the proposer may keep the version even when the TaskTemplate changed */
    {
        static const char *const SVC_C = "s00000000000000000000000c";
        MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
        Shoal__Store__ServiceUpdate su = SHOAL__STORE__SERVICE_UPDATE__INIT;

        assert_int_equal(svc_create(s, 40, SVC_C, "kv", SPEC_V1, &err), 0);
        su.id = (char *)SVC_C;
        su.version = 40;
        su.name = (char *)"kv";
        su.spec_json = (char *)SPEC_V2;
        su.keep_spec_version = true;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_UPDATE;
        cmd.service_update = &su;
        assert_int_equal(apply(s, 41, &cmd, &err), 0);
        assert_int_equal(mgr_store_service(s, SVC_C)->spec_version, 40);
        assert_string_equal(mgr_store_service(s, SVC_C)->spec_json, SPEC_V2);
        su.version = 41;
        su.spec_json = (char *)SPEC_V1_SCALED;
        su.keep_spec_version = false;
        assert_int_equal(apply(s, 42, &cmd, &err), 0);
        assert_int_equal(mgr_store_service(s, SVC_C)->spec_version, 42);
        su.version = 42;
        su.rollback = true;
        su.spec_json = (char *)SPEC_V2;
        assert_int_equal(apply(s, 43, &cmd, &err), 0);
        assert_int_equal(mgr_store_service(s, SVC_C)->spec_version, 40);
        assert_int_equal(mgr_store_service(s, SVC_C)->previous_spec_version, 42);
        assert_int_equal(svc_remove(s, 44, SVC_C, &err), 0);
    }

    /* bad input changes nothing */
    assert_int_equal(svc_update(s, 18, SVC_B, 17, "", SPEC_V1, false, NULL, NULL, &err), -EINVAL);
    assert_int_equal(svc_update(s, 19, SVC_B, 17, "db", "{\"x\":", false, NULL, NULL, &err),
                     -EINVAL);
    assert_int_equal(svc_update(s, 20, SVC_B, 17, "db", "[1]", false, NULL, NULL, &err), -EINVAL);
    assert_int_equal(svc_update(s, 21, SVC_B, 17, "db", SPEC_V1, false, "exploding", NULL, &err),
                     -EINVAL);
    assert_int_equal(svc_update(s, 22, SVC_B, 17, "db", SPEC_V1, false, NULL, "[", &err), -EINVAL);
    assert_int_equal(svc_update(s, 23, "nope", 1, "db", SPEC_V1, false, NULL, NULL, &err), -ENOENT);
    assert_string_equal(err.msg, "service nope not found");
    assert_int_equal(mgr_store_service(s, SVC_B)->meta->version, 17);

    /* lookups */
    {
        const MgrService *f;
        assert_int_equal(mgr_store_service_find(s, SVC_B, &f, &err), 0);
        assert_string_equal(f->id, SVC_B);
        assert_int_equal(mgr_store_service_find(s, "www", &f, &err), 0); /* rolled back to v3 */
        assert_string_equal(f->id, SVC_A);
        assert_int_equal(mgr_store_service_find(s, "s00000000000000000000000a", &f, &err), 0);
        assert_int_equal(mgr_store_service_find(s, "s0000000000000000000000", &f, &err), -EINVAL);
        assert_string_equal(err.msg, "service s0000000000000000000000 is ambiguous (2 matches "
                                     "found)");
        assert_int_equal(mgr_store_service_find(s, "s00000000000000000000000b", &f, &err), 0);
        assert_int_equal(mgr_store_service_find(s, "web", &f, &err), -ENOENT);
        assert_string_equal(err.msg, "service web not found");
        assert_int_equal(mgr_store_service_find(s, "", &f, &err), -ENOENT);
    }

    /* remove */
    w.total = 0;
    assert_int_equal(svc_remove(s, 30, SVC_B, &err), 0);
    assert_null(mgr_store_service(s, SVC_B));
    assert_int_equal(w.n[MGR_KIND_SERVICE][MGR_CHANGE_DELETE], 2); /* "kv" too */
    assert_int_equal(svc_remove(s, 31, SVC_B, &err), -ENOENT);
    assert_int_equal(w.total, 1);
    /* the name is free again */
    assert_int_equal(svc_create(s, 32, SVC_B, "db", SPEC_V1, &err), 0);
    mgr_store_free(s);
}

static void test_service_update_status(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err = {0};
    const MgrService *sv;

    (void)state;
    assert_int_equal(svc_create(s, 1, SVC_A, "web", SPEC_V1, &err), 0);
    /* no version check, but the version moves */
    assert_int_equal(svc_set_update_status(s, 2, SVC_A, "updating", NULL, &err), 0);
    sv = mgr_store_service(s, SVC_A);
    assert_int_equal(sv->meta->version, 2);
    assert_string_equal(sv->update_status->state, "updating");
    assert_string_equal(sv->update_status->message, "update in progress");
    assert_int_equal(sv->spec_version, 1);
    /* no previous spec: no automatic rollback */
    assert_int_equal(svc_set_update_status(s, 3, SVC_A, "rollback_started", SPEC_V1, &err), -EBUSY);
    /* rename + new image, then the updater rolls back automatically */
    assert_int_equal(
        svc_update(s, 4, SVC_A, 2, "www", SPEC_V3_RENAMED, false, "updating", NULL, &err), 0);
    assert_int_equal(svc_set_update_status(s, 5, SVC_A, "paused", NULL, &err), 0);
    assert_int_equal(mgr_store_service(s, SVC_A)->spec_version, 4);
    assert_int_equal(svc_set_update_status(s, 6, SVC_A, "rollback_started", SPEC_V2, &err),
                     -EINVAL); /* not the previous spec */
    assert_int_equal(svc_set_update_status(s, 7, SVC_A, "rollback_started", SPEC_V1, &err), 0);
    sv = mgr_store_service(s, SVC_A);
    assert_string_equal(sv->spec_json, SPEC_V1);
    assert_string_equal(sv->name, "web"); /* from the restored spec */
    assert_int_equal(sv->spec_version, 1);
    assert_string_equal(sv->previous_spec_json, SPEC_V3_RENAMED);
    assert_int_equal(sv->previous_spec_version, 4);
    assert_string_equal(sv->update_status->state, "rollback_started");
    assert_int_equal(sv->meta->version, 7);
    /* the name of the restored spec is taken meanwhile: the rollback fails */
    assert_int_equal(svc_update(s, 8, SVC_A, 7, "www", SPEC_V3_RENAMED, false, NULL, NULL, &err),
                     0);
    assert_int_equal(svc_create(s, 9, SVC_B, "web", SPEC_V1, &err), 0);
    assert_int_equal(svc_set_update_status(s, 10, SVC_A, "rollback_started", SPEC_V1, &err),
                     -EEXIST);
    assert_string_equal(mgr_store_service(s, SVC_A)->name, "www");
    /* malformed */
    assert_int_equal(svc_set_update_status(s, 11, SVC_A, NULL, NULL, &err), -EINVAL);
    assert_int_equal(svc_set_update_status(s, 12, SVC_A, "bogus", NULL, &err), -EINVAL);
    assert_int_equal(svc_set_update_status(s, 13, "nope", "updating", NULL, &err), -ENOENT);
    assert_int_equal(mgr_store_service(s, SVC_A)->meta->version, 8);
    assert_int_equal(svc_set_update_status(s, 14, SVC_A, "completed", NULL, &err), 0);
    assert_string_equal(mgr_store_service(s, SVC_A)->update_status->state, "completed");
    mgr_store_free(s);
}

static void test_task_batch(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct batch *b = batch_new();
    struct any_watch w = {0};
    struct err err = {0};
    char t1[MGR_ID_LEN + 1], t2[MGR_ID_LEN + 1], t3[MGR_ID_LEN + 1], t4[MGR_ID_LEN + 1];
    const MgrTask *t;

    (void)state;
    mk_id(t1, 't', 1);
    mk_id(t2, 't', 2);
    mk_id(t3, 't', 3);
    mk_id(t4, 't', 4);
    assert_int_equal(svc_create(s, 1, SVC_A, "web", SPEC_V1, &err), 0);
    assert_true(mgr_store_watch(s, MGR_KIND_TASK, any_watch_cb, &w) > 0);

    /* create 3 (one for a service that does not exist: skipped), then
     * assign the first in the same batch */
    batch_create(b, t1, SVC_A, 1, NULL);
    batch_create(b, t2, SVC_A, 2, NULL);
    batch_create(b, t4, SVC_B, 1, NULL);
    batch_assign(b, t1, NODE_A, MGR_TASK_ASSIGNED, "scheduler assigned task to node");
    batch_status(b, t3, MGR_TASK_RUNNING, "missing", 1); /* missing: skipped */
    assert_int_equal(batch_apply(s, 2, b, &err), 0);
    assert_int_equal(mgr_store_count(s, MGR_KIND_TASK), 2);
    assert_null(mgr_store_task(s, t4));
    assert_int_equal(w.n[MGR_KIND_TASK][MGR_CHANGE_CREATE], 2);
    assert_int_equal(w.n[MGR_KIND_TASK][MGR_CHANGE_UPDATE], 1);
    t = mgr_store_task(s, t1);
    assert_non_null(t);
    assert_string_equal(t->node_id, NODE_A);
    assert_int_equal(t->status->state, MGR_TASK_ASSIGNED);
    assert_int_equal(t->meta->version, 2);
    assert_int_equal(t->spec_version, 5);
    assert_string_equal(t->spec_json, TASK_SPEC);
    t = mgr_store_task(s, t2);
    assert_non_null(t->status); /* creator gave none: state new */
    assert_int_equal(t->status->state, MGR_TASK_NEW);
    assert_string_equal(t->node_id, "");

    /* assign: "no suitable node" keeps it pending; then a node; then no
     * second assignment */
    w.total = 0;
    batch_assign(b, t2, "", MGR_TASK_PENDING, "no suitable node");
    assert_int_equal(batch_apply(s, 3, b, &err), 0);
    assert_int_equal(w.total, 1);
    t = mgr_store_task(s, t2);
    assert_int_equal(t->status->state, MGR_TASK_PENDING);
    assert_string_equal(t->status->message, "no suitable node");
    batch_assign(b, t2, "", MGR_TASK_PENDING, "no suitable node"); /* same: no change */
    assert_int_equal(batch_apply(s, 4, b, &err), 0);
    assert_int_equal(w.total, 1);
    assert_int_equal(mgr_store_task(s, t2)->meta->version, 3);
    batch_assign(b, t2, NODE_B, MGR_TASK_ASSIGNED, "assigned");
    batch_assign(b, t2, NODE_A, MGR_TASK_ASSIGNED, "again"); /* has a node: skipped */
    batch_assign(b, t1, NODE_B, MGR_TASK_ASSIGNED, "again"); /* has a node: skipped */
    assert_int_equal(batch_apply(s, 5, b, &err), 0);
    assert_int_equal(w.total, 2);
    assert_string_equal(mgr_store_task(s, t2)->node_id, NODE_B);
    assert_string_equal(mgr_store_task(s, t1)->node_id, NODE_A);

    /* set_status only moves forward; equal state updates details */
    w.total = 0;
    batch_status(b, t1, MGR_TASK_PREPARING, "preparing", 100);
    batch_status(b, t1, MGR_TASK_RUNNING, "started", 200)->container_id = (char *)"c0ffee";
    batch_status(b, t1, MGR_TASK_STARTING, "late report", 150); /* backwards: ignored */
    assert_int_equal(batch_apply(s, 6, b, &err), 0);
    assert_int_equal(w.total, 2);
    t = mgr_store_task(s, t1);
    assert_int_equal(t->status->state, MGR_TASK_RUNNING);
    assert_string_equal(t->status->message, "started");
    assert_string_equal(t->status->container_id, "c0ffee");
    assert_int_equal(t->status->timestamp_ns, 200);
    {
        MgrTaskStatus *st = batch_status(b, t1, MGR_TASK_RUNNING, "started", 300);
        st->pid = 4242;
        st->port_status_json = (char *)"{\"Ports\":[]}";
    }
    assert_int_equal(batch_apply(s, 7, b, &err), 0);
    t = mgr_store_task(s, t1);
    assert_int_equal(t->status->pid, 4242);
    assert_string_equal(t->status->container_id, "c0ffee"); /* kept */
    assert_string_equal(t->status->port_status_json, "{\"Ports\":[]}");
    assert_int_equal(t->status->timestamp_ns, 200); /* time it entered the state */
    assert_int_equal(t->meta->version, 7);
    batch_status(b, t1, MGR_TASK_RUNNING, "started", 400); /* nothing new */
    assert_int_equal(batch_apply(s, 8, b, &err), 0);
    assert_int_equal(mgr_store_task(s, t1)->meta->version, 7);
    assert_int_equal(w.total, 3);

    /* desired state: forward only (ready -> running allowed) */
    w.total = 0;
    batch_desired(b, t2, MGR_TASK_READY);   /* backwards from running */
    batch_desired(b, t2, MGR_TASK_RUNNING); /* equal: nothing */
    batch_desired(b, t1, MGR_TASK_SHUTDOWN);
    batch_desired(b, t1, MGR_TASK_RUNNING); /* backwards: skipped */
    assert_int_equal(batch_apply(s, 9, b, &err), 0);
    assert_int_equal(w.total, 1);
    assert_int_equal(mgr_store_task(s, t2)->desired_state, MGR_TASK_RUNNING);
    assert_int_equal(mgr_store_task(s, t1)->desired_state, MGR_TASK_SHUTDOWN);
    batch_create(b, t3, SVC_A, 3, NULL);
    batch_desired(b, t3, MGR_TASK_REMOVE);
    assert_int_equal(batch_apply(s, 10, b, &err), 0);
    assert_int_equal(mgr_store_task(s, t3)->desired_state, MGR_TASK_REMOVE);
    {
        /* a task created with desired ready moves to running */
        char t5[MGR_ID_LEN + 1];
        mk_id(t5, 't', 5);
        batch_create(b, t5, SVC_A, 4, NULL);
        b->task[b->n - 1].desired_state = MGR_TASK_READY;
        batch_desired(b, t5, MGR_TASK_RUNNING);
        assert_int_equal(batch_apply(s, 11, b, &err), 0);
        assert_int_equal(mgr_store_task(s, t5)->desired_state, MGR_TASK_RUNNING);
        batch_remove(b, t5);
        assert_int_equal(batch_apply(s, 12, b, &err), 0);
    }

    /* a failing op undoes the whole batch: nothing changed, no watch */
    w.total = 0;
    batch_remove(b, t3);
    batch_status(b, t1, MGR_TASK_COMPLETE, "done", 500);
    batch_create(b, t4, SVC_A, 9, NULL);
    batch_create(b, t2, SVC_A, 9, NULL); /* exists */
    assert_int_equal(batch_apply(s, 13, b, &err), -EEXIST);
    assert_string_equal(err.msg, "task t000000000000000000000002 already exists");
    assert_int_equal(w.total, 0);
    assert_non_null(mgr_store_task(s, t3));
    assert_null(mgr_store_task(s, t4));
    assert_int_equal(mgr_store_task(s, t1)->status->state, MGR_TASK_RUNNING);
    assert_int_equal(mgr_store_task(s, t1)->meta->version, 9); /* set_desired at 9 */
    assert_int_equal(mgr_store_count(s, MGR_KIND_TASK), 3);
    batch_remove(b, t3);
    batch_desired(b, t1, 99); /* malformed */
    assert_int_equal(batch_apply(s, 14, b, &err), -EINVAL);
    assert_string_equal(err.msg, "task batch op 1: invalid task desired state 99");
    assert_non_null(mgr_store_task(s, t3));
    /* create then remove in one batch, and remove twice */
    batch_create(b, t4, SVC_A, 9, NULL);
    batch_remove(b, t4);
    batch_remove(b, t3);
    batch_remove(b, t3);
    assert_int_equal(batch_apply(s, 15, b, &err), 0);
    assert_int_equal(w.n[MGR_KIND_TASK][MGR_CHANGE_DELETE], 3); /* t5, t4, t3 */
    assert_int_equal(w.total, 3);
    assert_null(mgr_store_task(s, t3));
    assert_null(mgr_store_task(s, t4));
    assert_int_equal(mgr_store_count(s, MGR_KIND_TASK), 2);

    /* task lookups */
    {
        const MgrTask *f;
        assert_int_equal(mgr_store_task_find(s, t1, &f, &err), 0);
        assert_string_equal(f->id, t1);
        assert_int_equal(mgr_store_task_find(s, "t00000000000000000000000", &f, &err), -EINVAL);
        assert_string_equal(err.msg, "task t00000000000000000000000 is ambiguous (2 matches "
                                     "found)");
        assert_int_equal(mgr_store_task_find(s, "web", &f, &err), -ENOENT);
        assert_string_equal(err.msg, "task web not found");
    }
    /* removing the service leaves its tasks to the orchestrator */
    assert_int_equal(svc_remove(s, 16, SVC_A, &err), 0);
    assert_int_equal(mgr_store_count(s, MGR_KIND_TASK), 2);
    /* ... and a create for it is skipped */
    batch_create(b, t4, SVC_A, 9, NULL);
    assert_int_equal(batch_apply(s, 17, b, &err), 0);
    assert_null(mgr_store_task(s, t4));
    /* an empty batch is fine */
    assert_int_equal(batch_apply(s, 18, b, &err), 0);
    free(b);
    mgr_store_free(s);
}

static void test_tasks_order(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct batch *b = batch_new();
    struct err err = {0};
    char id[8][MGR_ID_LEN + 1];
    const MgrTask **list;
    size_t n;

    (void)state;
    for (unsigned i = 0; i < 8; i++)
        mk_id(id[i], 't', 8 - i); /* ids sort opposite to creation */
    assert_int_equal(svc_create(s, 1, SVC_A, "web", SPEC_V1, &err), 0);
    assert_int_equal(svc_create(s, 2, SVC_B, "glob", SPEC_V1, &err), 0);
    /* replicated: slot 2 twice (older one first), slot 1 */
    batch_create(b, id[0], SVC_A, 2, NODE_B);
    assert_int_equal(batch_apply(s, 3, b, &err), 0);
    batch_create(b, id[1], SVC_A, 2, NODE_B);
    batch_create(b, id[2], SVC_A, 1, NODE_B);
    batch_create(b, id[3], SVC_A, 3, "");
    assert_int_equal(batch_apply(s, 4, b, &err), 0);
    /* global: slot 0, ordered by node */
    batch_create(b, id[4], SVC_B, 0, NODE_C);
    batch_create(b, id[5], SVC_B, 0, NODE_A);
    batch_create(b, id[6], SVC_B, 0, NODE_B);
    assert_int_equal(batch_apply(s, 5, b, &err), 0);

    assert_int_equal(mgr_store_tasks_of_service(s, SVC_A, &list, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(list[0]->id, id[2]); /* slot 1 */
    assert_string_equal(list[1]->id, id[0]); /* slot 2, created first */
    assert_string_equal(list[2]->id, id[1]);
    assert_string_equal(list[3]->id, id[3]); /* slot 3 */
    free(list);
    assert_int_equal(mgr_store_tasks_of_service(s, SVC_B, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->node_id, NODE_B); /* "ktyg...w" < "ktyg...x" < "pqmj..." */
    assert_string_equal(list[1]->node_id, NODE_C);
    assert_string_equal(list[2]->node_id, NODE_A);
    free(list);
    assert_int_equal(mgr_store_tasks_of_node(s, NODE_B, &list, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(list[0]->id, id[6]); /* slot 0 */
    assert_string_equal(list[1]->id, id[2]);
    assert_string_equal(list[2]->id, id[0]);
    assert_string_equal(list[3]->id, id[1]);
    free(list);
    assert_int_equal(mgr_store_tasks_of_node(s, "nobody", &list, &n), 0);
    assert_int_equal(n, 0);
    assert_non_null(list);
    free(list);
    free(b);
    mgr_store_free(s);
}

static void test_networks(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct any_watch w = {0};
    struct err err = {0};
    const MgrNetwork *n;
    char n1[MGR_ID_LEN + 1], n2[MGR_ID_LEN + 1], n3[MGR_ID_LEN + 1];

    (void)state;
    mk_id(n1, 'n', 1);
    mk_id(n2, 'n', 2);
    mk_id(n3, 'n', 3);
    assert_true(mgr_store_watch(s, MGR_N_KINDS, any_watch_cb, &w) > 0);
    assert_int_equal(net_create(s, 1, n1, "web", 4097, &err), 0);
    n = mgr_store_network(s, n1);
    assert_non_null(n);
    assert_string_equal(n->name, "web");
    assert_int_equal(n->vni, 4097);
    assert_int_equal(n->meta->version, 1);
    assert_int_equal(net_create(s, 2, n2, "web", 4098, &err), -EEXIST);
    assert_string_equal(err.msg, "network with name web already exists");
    assert_int_equal(net_create(s, 3, n1, "other", 4098, &err), -EEXIST);
    assert_int_equal(net_create(s, 4, n2, "db", 4097, &err), -EEXIST); /* VNI in use */
    assert_int_equal(net_create(s, 5, n2, "db", 1u << 24, &err), -EINVAL);
    assert_int_equal(net_create(s, 6, n2, "", 4098, &err), -EINVAL);
    assert_int_equal(net_create(s, 7, "bad-id", "db", 4098, &err), -EINVAL);
    assert_int_equal(net_create(s, 8, n2, "db", 4098, &err), 0);
    assert_int_equal(net_create(s, 9, n3, "misc", 0, &err), 0);
    assert_int_equal(mgr_store_count(s, MGR_KIND_NETWORK), 3);
    assert_int_equal(w.n[MGR_KIND_NETWORK][MGR_CHANGE_CREATE], 3);

    assert_int_equal(mgr_store_network_find(s, "db", &n, &err), 0);
    assert_string_equal(n->id, n2);
    assert_int_equal(mgr_store_network_find(s, n3, &n, &err), 0);
    assert_string_equal(n->name, "misc");
    assert_int_equal(mgr_store_network_find(s, "n0000", &n, &err), -EINVAL);
    assert_string_equal(err.msg, "network n0000 is ambiguous (3 matches found)");
    assert_int_equal(mgr_store_network_find(s, "n000000000000000000000001", &n, &err), 0);
    assert_string_equal(n->id, n1);
    assert_int_equal(mgr_store_network_find(s, "ingress", &n, &err), -ENOENT);
    assert_string_equal(err.msg, "network ingress not found");

    assert_int_equal(net_remove(s, 10, n1, &err), 0);
    assert_null(mgr_store_network(s, n1));
    assert_int_equal(w.n[MGR_KIND_NETWORK][MGR_CHANGE_DELETE], 1);
    assert_int_equal(w.last_index, 10);
    assert_int_equal(net_remove(s, 11, n1, &err), -ENOENT);
    assert_string_equal(err.msg, "network n000000000000000000000001 not found");
    /* name and VNI are free again */
    assert_int_equal(net_create(s, 12, n1, "web", 4097, &err), 0);
    assert_int_equal(w.total, 5);
    mgr_store_free(s);
}

/* A store with services, tasks and networks from a fixed command list. */
static void fill_services(struct mgr_store *s)
{
    struct batch *b = batch_new();
    char id[MGR_ID_LEN + 1], tid[MGR_ID_LEN + 1];
    uint64_t idx = 1;

    assert_int_equal(create_cluster(s, idx++), 0);
    for (unsigned i = 0; i < 20; i++) {
        char name[16];
        mk_id(id, 's', i);
        snprintf(name, sizeof(name), "svc%u", i);
        assert_int_equal(svc_create(s, idx++, id, name, SPEC_V1, NULL), 0);
        for (unsigned k = 0; k < 10; k++) {
            mk_id(tid, 't', i * 100 + k);
            batch_create(b, tid, id, k + 1, NULL);
            batch_assign(b, tid, k % 2 ? NODE_A : NODE_B, MGR_TASK_ASSIGNED, "assigned");
            if (k % 3 == 0)
                batch_status(b, tid, MGR_TASK_RUNNING, "started", 1000 + k);
        }
        assert_int_equal(batch_apply(s, idx++, b, NULL), 0);
        if (i % 4 == 1) {
            assert_int_equal(
                svc_update(s, idx, id, idx - 2, name, SPEC_V2, false, "updating", NULL, NULL), 0);
            idx++;
        }
        mk_id(id, 'n', i);
        snprintf(name, sizeof(name), "net%u", i);
        assert_int_equal(net_create(s, idx++, id, name, 4096 + i, NULL), 0);
    }
    free(b);
}

static void test_snapshot_services(void **state)
{
    struct mgr_store *a = mgr_store_new(), *b = mgr_store_new(), *c = mgr_store_new();
    void *sa, *sb, *sc;
    size_t la, lb, lc;
    struct err err;

    (void)state;
    fill_services(a);
    fill_services(b);
    assert_int_equal(mgr_store_count(a, MGR_KIND_SERVICE), 20);
    assert_int_equal(mgr_store_count(a, MGR_KIND_TASK), 200);
    assert_int_equal(mgr_store_count(a, MGR_KIND_NETWORK), 20);
    assert_int_equal(mgr_store_snapshot(a, &sa, &la, &err), 0);
    assert_int_equal(mgr_store_snapshot(b, &sb, &lb, &err), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    assert_int_equal(svc_create(c, 1, SVC_A, "gone", SPEC_V1, NULL), 0);
    assert_int_equal(mgr_store_restore(c, sa, la, &err), 0);
    assert_null(mgr_store_service(c, SVC_A));
    assert_int_equal(mgr_store_count(c, MGR_KIND_SERVICE), 20);
    assert_int_equal(mgr_store_count(c, MGR_KIND_TASK), 200);
    assert_int_equal(mgr_store_count(c, MGR_KIND_NETWORK), 20);
    assert_int_equal(mgr_store_snapshot(c, &sc, &lc, &err), 0);
    assert_int_equal(lc, la);
    assert_memory_equal(sa, sc, la);
    {
        const MgrService *sv;
        const MgrTask *t;
        char id[MGR_ID_LEN + 1];
        assert_int_equal(mgr_store_service_find(c, "svc5", &sv, &err), 0);
        assert_string_equal(sv->spec_json, SPEC_V2);
        assert_string_equal(sv->previous_spec_json, SPEC_V1);
        mk_id(id, 't', 503);
        t = mgr_store_task(c, id);
        assert_non_null(t);
        assert_int_equal(t->status->state, MGR_TASK_RUNNING);
        assert_string_equal(t->node_id, NODE_A);
    }
    /* the restored store keeps applying */
    assert_int_equal(svc_remove(c, mgr_store_last_index(c) + 1, "s000000000000000000000003", NULL),
                     0);
    free(sa);
    free(sb);
    free(sc);
    mgr_store_free(a);
    mgr_store_free(b);
    mgr_store_free(c);
}

/* A snapshot whose tables break the store's rules is refused. */
static void test_snapshot_bad_objects(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct err err;
    MgrService s1 = SHOAL__STORE__SERVICE__INIT, s2 = SHOAL__STORE__SERVICE__INIT;
    MgrTask t = SHOAL__STORE__TASK__INIT;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;
    uint8_t b1[512], b2[512], out[2048];
    ProtobufCBinaryData objs[2];
    Shoal__Store__StoreSnapshot snap = SHOAL__STORE__STORE_SNAPSHOT__INIT;
    Shoal__Store__StoreTable tab = SHOAL__STORE__STORE_TABLE__INIT;
    Shoal__Store__StoreTable *tp = &tab;
    size_t len;

    (void)state;
    assert_int_equal(svc_create(s, 1, SVC_A, "keep", SPEC_V1, NULL), 0);
    meta.version = 1;
    s1.id = (char *)SVC_A;
    s1.meta = &meta;
    s1.name = (char *)"web";
    s1.spec_json = (char *)SPEC_V1;
    s2 = s1;
    s2.id = (char *)SVC_B;
    objs[0] = (ProtobufCBinaryData){shoal__store__service__pack(&s1, b1), b1};
    objs[1] = (ProtobufCBinaryData){shoal__store__service__pack(&s2, b2), b2};
    snap.format = 1;
    snap.complete = true;
    snap.n_tables = 1;
    snap.tables = &tp;
    tab.kind = SHOAL__STORE__OBJECT_KIND__KIND_SERVICE;
    tab.n_objects = 2;
    tab.objects = objs;
    len = shoal__store__store_snapshot__pack(&snap, out);
    assert_int_equal(mgr_store_restore(s, out, len, &err), -EINVAL); /* same name */
    s2.name = (char *)"db";
    objs[1] = (ProtobufCBinaryData){shoal__store__service__pack(&s2, b2), b2};
    len = shoal__store__store_snapshot__pack(&snap, out);
    assert_int_equal(mgr_store_restore(s, out, len, &err), 0);
    assert_int_equal(mgr_store_count(s, MGR_KIND_SERVICE), 2);
    s2.spec_json = (char *)"not json";
    objs[1] = (ProtobufCBinaryData){shoal__store__service__pack(&s2, b2), b2};
    len = shoal__store__store_snapshot__pack(&snap, out);
    assert_int_equal(mgr_store_restore(s, out, len, &err), -EINVAL);
    /* a task without status */
    t.id = (char *)"t00000000000000000000000a";
    t.meta = &meta;
    t.service_id = (char *)SVC_A;
    t.spec_json = (char *)TASK_SPEC;
    tab.kind = SHOAL__STORE__OBJECT_KIND__KIND_TASK;
    tab.n_objects = 1;
    objs[0] = (ProtobufCBinaryData){shoal__store__task__pack(&t, b1), b1};
    len = shoal__store__store_snapshot__pack(&snap, out);
    assert_int_equal(mgr_store_restore(s, out, len, &err), -EINVAL);
    assert_int_equal(mgr_store_count(s, MGR_KIND_SERVICE), 2);
    mgr_store_free(s);
}

static void test_malformed_service_commands(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct batch *b = batch_new();
    struct err err;
    char bad[] = {'a', (char)0xff, 'b', 0};
    char t1[MGR_ID_LEN + 1];
    uint64_t idx = 10;
    void *good;
    size_t glen;
    uint8_t buf[4096];

    (void)state;
    mk_id(t1, 't', 1);
    assert_int_equal(svc_create(s, 1, SVC_A, "web", SPEC_V1, NULL), 0);
    assert_int_equal(svc_create(s, idx++, SVC_B, "", SPEC_V1, &err), -EINVAL);
    assert_int_equal(svc_create(s, idx++, SVC_B, bad, SPEC_V1, &err), -EINVAL);
    assert_int_equal(svc_create(s, idx++, "S00000000000000000000000B", "db", SPEC_V1, &err),
                     -EINVAL);
    assert_int_equal(svc_create(s, idx++, SVC_B, "db", "", &err), -EINVAL);
    assert_string_equal(err.msg, "missing service spec");
    assert_int_equal(svc_create(s, idx++, SVC_B, "db", "{\"a\":1,\"a\":2}", &err), -EINVAL);
    assert_int_equal(svc_create(s, idx++, SVC_B, "db", "{\"a\":\"\\ud800\"}", &err), -EINVAL);
    {
        MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
        Shoal__Store__ServiceCreate sc = SHOAL__STORE__SERVICE_CREATE__INIT;
        Shoal__Store__NetworkCreate nc = SHOAL__STORE__NETWORK_CREATE__INIT;
        Shoal__Store__TaskBatch tb = SHOAL__STORE__TASK_BATCH__INIT;
        Shoal__Store__TaskOp op = SHOAL__STORE__TASK_OP__INIT, *opp = &op;

        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_SERVICE_CREATE;
        cmd.service_create = &sc;
        assert_int_equal(apply(s, idx++, &cmd, &err), -EINVAL);
        assert_string_equal(err.msg, "missing service");
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NETWORK_CREATE;
        cmd.network_create = &nc;
        assert_int_equal(apply(s, idx++, &cmd, &err), -EINVAL);
        /* a batch op with nothing set */
        tb.n_ops = 1;
        tb.ops = &opp;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH;
        cmd.task_batch = &tb;
        assert_int_equal(apply(s, idx++, &cmd, &err), -EINVAL);
    }
    /* tasks: bad ids, enums, JSON, strings */
    batch_create(b, "short", SVC_A, 1, NULL);
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, "nope", 1, NULL);
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, "node?");
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, NULL);
    b->task[0].spec_json = (char *)"";
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    assert_string_equal(err.msg, "task batch op 0: task t000000000000000000000001: missing task "
                                 "spec");
    batch_create(b, t1, SVC_A, 1, NULL);
    b->task[0].networks_json = (char *)"{}"; /* must be an array */
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, NULL);
    b->task[0].desired_state = (Shoal__Store__TaskState)15;
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, NULL);
    b->task[0].service_name = bad;
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, NULL);
    batch_status(b, t1, -1, "", 0);
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, NULL);
    batch_status(b, t1, MGR_TASK_RUNNING, "", 0)->port_status_json = (char *)"nope";
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_create(b, t1, SVC_A, 1, NULL);
    batch_status(b, t1, MGR_TASK_RUNNING, "", 0);
    b->setst[1].status = NULL;
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    batch_remove(b, "x");
    assert_int_equal(batch_apply(s, idx++, b, &err), -EINVAL);
    assert_int_equal(mgr_store_count(s, MGR_KIND_TASK), 0);
    assert_int_equal(mgr_store_count(s, MGR_KIND_SERVICE), 1);

    /* a valid batch, truncated and bit-flipped: never crashes */
    {
        MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
        Shoal__Store__TaskBatch tb = SHOAL__STORE__TASK_BATCH__INIT;
        batch_create(b, t1, SVC_A, 1, NULL);
        batch_assign(b, t1, NODE_A, MGR_TASK_ASSIGNED, "x");
        batch_status(b, t1, MGR_TASK_RUNNING, "y", 5);
        batch_remove(b, t1);
        tb.n_ops = b->n;
        tb.ops = b->ops;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH;
        cmd.task_batch = &tb;
        assert_int_equal(mgr_cmd_pack(&cmd, &good, &glen, NULL), 0);
        b->n = 0;
    }
    assert_true(glen <= sizeof(buf));
    for (size_t cut = 1; cut < glen; cut++)
        (void)mgr_store_apply(s, idx++, good, cut, NULL, NULL);
    for (size_t pos = 0; pos < glen; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, good, glen);
            buf[pos] ^= (uint8_t)(1 << bit);
            (void)mgr_store_apply(s, idx++, buf, glen, NULL, NULL);
        }
    }
    free(good);
    assert_non_null(mgr_store_service(s, SVC_A));
    free(b);
    mgr_store_free(s);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_task_batch_large(void **state)
{
    struct mgr_store *s = mgr_store_new();
    struct batch *b = batch_new();
    struct any_watch w = {0};
    struct err err = {0};
    char id[MGR_ID_LEN + 1];
    const MgrTask **list;
    size_t n;
    double t0, t1, t2;

    (void)state;
    assert_int_equal(svc_create(s, 1, SVC_A, "web", SPEC_V1, &err), 0);
    assert_true(mgr_store_watch(s, MGR_KIND_TASK, any_watch_cb, &w) > 0);
    /* ids in a scattered order so inserts land all over the table */
    for (unsigned i = 0; i < 1000; i++) {
        mk_id(id, 't', (i * 7919u) % 1000u);
        batch_create(b, id, SVC_A, i + 1, NULL);
    }
    t0 = now_s();
    assert_int_equal(batch_apply(s, 2, b, &err), 0);
    t1 = now_s();
    for (unsigned i = 0; i < 1000; i++) {
        mk_id(id, 't', i);
        batch_assign(b, id, i % 2 ? NODE_A : NODE_B, MGR_TASK_ASSIGNED, "assigned");
        batch_status(b, id, MGR_TASK_RUNNING, "started", i);
    }
    assert_int_equal(batch_apply(s, 3, b, &err), 0);
    t2 = now_s();
    print_message("1000 creates: %.1f ms, 2000 updates: %.1f ms\n", (t1 - t0) * 1e3,
                  (t2 - t1) * 1e3);
    assert_true(t1 - t0 < 2.0);
    assert_true(t2 - t1 < 2.0);
    assert_int_equal(w.n[MGR_KIND_TASK][MGR_CHANGE_CREATE], 1000);
    assert_int_equal(w.n[MGR_KIND_TASK][MGR_CHANGE_UPDATE], 2000);
    assert_int_equal(mgr_store_tasks_of_service(s, SVC_A, &list, &n), 0);
    assert_int_equal(n, 1000);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i]->slot, i + 1);
        assert_int_equal(list[i]->status->state, MGR_TASK_RUNNING);
    }
    free(list);
    assert_int_equal(mgr_store_tasks_of_node(s, NODE_A, &list, &n), 0);
    assert_int_equal(n, 500);
    free(list);
    /* remove all in one batch */
    for (unsigned i = 0; i < 1000; i++) {
        mk_id(id, 't', i);
        batch_remove(b, id);
    }
    t0 = now_s();
    assert_int_equal(batch_apply(s, 4, b, &err), 0);
    print_message("1000 removes: %.1f ms\n", (now_s() - t0) * 1e3);
    assert_int_equal(mgr_store_count(s, MGR_KIND_TASK), 0);
    free(b);
    mgr_store_free(s);
}

static void test_task_state_names(void **state)
{
    static const char *const names[] = {
        "new",       "allocated", "pending",  "assigned", "accepted",
        "preparing", "ready",     "starting", "running",  "complete",
        "shutdown",  "failed",    "rejected", "remove",   "orphaned",
    };
    int st;

    (void)state;
    assert_int_equal(MGR_N_TASK_STATES, 15);
    for (int i = 0; i < MGR_N_TASK_STATES; i++) {
        assert_string_equal(mgr_task_state_str(i), names[i]);
        assert_int_equal(mgr_task_state_parse(names[i], &st), 0);
        assert_int_equal(st, i);
    }
    assert_int_equal(MGR_TASK_RUNNING, 8);
    assert_int_equal(MGR_TASK_ORPHANED, 14);
    assert_string_equal(mgr_task_state_str(15), "unknown");
    assert_string_equal(mgr_task_state_str(-1), "unknown");
    assert_int_equal(mgr_task_state_parse("Running", &st), -EINVAL);
    assert_int_equal(mgr_task_state_parse("", &st), -EINVAL);
    assert_int_equal(mgr_task_state_parse(NULL, &st), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_and_nodes),
        cmocka_unit_test(test_big_command),
        cmocka_unit_test(test_remove_and_roles),
        cmocka_unit_test(test_cluster_update_tokens),
        cmocka_unit_test(test_watches),
        cmocka_unit_test(test_duplicate_request),
        cmocka_unit_test(test_find_and_filters),
        cmocka_unit_test(test_determinism_and_snapshot),
        cmocka_unit_test(test_hostile_commands),
        cmocka_unit_test(test_random_snapshots),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_service_create_update),
        cmocka_unit_test(test_service_update_status),
        cmocka_unit_test(test_task_batch),
        cmocka_unit_test(test_tasks_order),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_snapshot_services),
        cmocka_unit_test(test_snapshot_bad_objects),
        cmocka_unit_test(test_malformed_service_commands),
        cmocka_unit_test(test_task_batch_large),
        cmocka_unit_test(test_task_state_names),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
