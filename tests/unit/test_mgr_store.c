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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_and_nodes),        cmocka_unit_test(test_remove_and_roles),
        cmocka_unit_test(test_cluster_update_tokens),    cmocka_unit_test(test_watches),
        cmocka_unit_test(test_duplicate_request),        cmocka_unit_test(test_find_and_filters),
        cmocka_unit_test(test_determinism_and_snapshot), cmocka_unit_test(test_hostile_commands),
        cmocka_unit_test(test_random_snapshots),         cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
