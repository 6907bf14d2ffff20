/* Unit tests for manager/json.c: Engine API views compared with the shapes of
 * the recorded transcripts, and parsing of the CLI's request bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

#include "manager/ca.h"
#include "manager/json.h"
#include "manager/store.h"

static char *g_ca;

static int setup_all(void **state)
{
    struct mgr_ca *ca;

    (void)state;
    assert_int_equal(mgr_ca_create(&ca, NULL), 0);
    assert_int_equal(mgr_ca_cert_pem(ca, &g_ca, NULL), 0);
    mgr_ca_free(ca);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    free(g_ca);
    return 0;
}

/* Same keys (recursively) and JSON types; arrays compare their first element. */
static void same_shape(const json_t *want, const json_t *got, const char *path)
{
    const char *k;
    json_t *v;

    if (json_typeof(want) != json_typeof(got) && !(json_is_boolean(want) && json_is_boolean(got)))
        fail_msg("%s: type %d, want %d", path, json_typeof(got), json_typeof(want));
    if (json_is_object(want)) {
        json_object_foreach((json_t *)want, k, v)
        {
            char sub[256];
            const json_t *g = json_object_get(got, k);
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (!g)
                fail_msg("%s missing", sub);
            same_shape(v, g, sub);
        }
        json_object_foreach((json_t *)got, k, v)
        {
            if (!json_object_get(want, k))
                fail_msg("%s.%s is extra", path, k);
        }
    } else if (json_is_array(want) && json_array_size(want) && json_array_size(got)) {
        same_shape(json_array_get(want, 0), json_array_get(got, 0), path);
    }
}

/* GET /nodes/{id} from swarm_init.txt (plugins cut to two, TLSInfo shortened). */
static const char NODE_JSON[] =
    "{\"ID\":\"pqmjfqj9be4sb7wwl3u1ifs0c\",\"Version\":{\"Index\":9},"
    "\"CreatedAt\":\"2026-11-22T15:01:52.317518286Z\","
    "\"UpdatedAt\":\"2026-11-22T15:01:52.432421198Z\","
    "\"Spec\":{\"Labels\":{},\"Role\":\"manager\",\"Availability\":\"active\"},"
    "\"Description\":{\"Hostname\":\"ref-node-a\",\"Platform\":{\"Architecture\":\"x86_64\","
    "\"OS\":\"linux\"},\"Resources\":{\"NanoCPUs\":2000000000,\"MemoryBytes\":25276514304},"
    "\"Engine\":{\"EngineVersion\":\"20.10.24+dfsg1\",\"Plugins\":[{\"Type\":\"Log\","
    "\"Name\":\"awslogs\"},{\"Type\":\"Log\",\"Name\":\"fluentd\"}]},"
    "\"TLSInfo\":{\"TrustRoot\":\"-----BEGIN CERTIFICATE-----\\n\","
    "\"CertIssuerSubject\":\"MBMxETAPBgNVBAMTCHN3YXJtLWNh\",\"CertIssuerPublicKey\":\"MFkw\"}},"
    "\"Status\":{\"State\":\"ready\",\"Addr\":\"10.210.0.1\"},"
    "\"ManagerStatus\":{\"Leader\":true,\"Reachability\":\"reachable\",\"Addr\":\"10.210.0.1:"
    "2377\"}}";

/* GET /swarm from swarm_init.txt */
static const char SWARM_JSON[] =
    "{\"ID\":\"p1voaej122dfrck89jhy60zp2\",\"Version\":{\"Index\":10},"
    "\"CreatedAt\":\"2026-11-22T15:01:52.317490255Z\",\"UpdatedAt\":\"2026-11-22T15:01:52."
    "437603946Z\","
    "\"Spec\":{\"Name\":\"default\",\"Labels\":{},\"Orchestration\":{\"TaskHistoryRetentionLimit\":"
    "5},"
    "\"Raft\":{\"SnapshotInterval\":10000,\"KeepOldSnapshots\":0,\"LogEntriesForSlowFollowers\":"
    "500,"
    "\"ElectionTick\":10,\"HeartbeatTick\":1},\"Dispatcher\":{\"HeartbeatPeriod\":5000000000},"
    "\"CAConfig\":{\"NodeCertExpiry\":7776000000000000},\"TaskDefaults\":{},"
    "\"EncryptionConfig\":{\"AutoLockManagers\":false}},"
    "\"TLSInfo\":{\"TrustRoot\":\"x\",\"CertIssuerSubject\":\"MBMxETAPBgNVBAMTCHN3YXJtLWNh\","
    "\"CertIssuerPublicKey\":\"MFkw\"},\"RootRotationInProgress\":false,\"DefaultAddrPool\":null,"
    "\"SubnetSize\":24,\"DataPathPort\":4789,\"JoinTokens\":{\"Worker\":\"SWMTKN-1-x\","
    "\"Manager\":\"SWMTKN-1-y\"}}";

static MgrCluster *make_cluster(void)
{
    MgrCluster c = SHOAL__STORE__CLUSTER__INIT;
    MgrClusterSpec sp = SHOAL__STORE__CLUSTER_SPEC__INIT;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;

    mgr_cluster_spec_defaults(&sp);
    meta.version = 10;
    meta.created_at_ns = 1795359712317490255LL;
    meta.updated_at_ns = 1795359712437603946LL;
    c.id = (char *)"p1voaej122dfrck89jhy60zp2";
    c.meta = &meta;
    c.spec = &sp;
    c.worker_token = (char *)"SWMTKN-1-w";
    c.manager_token = (char *)"SWMTKN-1-m";
    c.ca_cert_pem = g_ca;
    return mgr_msg_dup(&c);
}

static MgrNode *make_node(int role, const char *msg)
{
    MgrNode n = SHOAL__STORE__NODE__INIT;
    MgrNodeSpec sp = SHOAL__STORE__NODE_SPEC__INIT;
    MgrNodeDescription d = SHOAL__STORE__NODE_DESCRIPTION__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;
    MgrManagerStatus ms = SHOAL__STORE__MANAGER_STATUS__INIT;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;
    Shoal__Store__Plugin p1 = SHOAL__STORE__PLUGIN__INIT, p2 = SHOAL__STORE__PLUGIN__INIT;
    Shoal__Store__Plugin *pl[2] = {&p1, &p2};

    p1.type = p2.type = (char *)"Log";
    p1.name = (char *)"awslogs";
    p2.name = (char *)"fluentd";
    meta.version = 9;
    meta.created_at_ns = 1795359712317518286LL;
    meta.updated_at_ns = 1795359712432421198LL;
    sp.role = (Shoal__Store__NodeRole)role;
    d.hostname = (char *)"ref-node-a";
    d.architecture = (char *)"x86_64";
    d.os = (char *)"linux";
    d.nano_cpus = 2000000000;
    d.memory_bytes = 25276514304LL;
    d.engine_version = (char *)"20.10.24+dfsg1";
    d.plugins = pl;
    d.n_plugins = 2;
    st.state = SHOAL__STORE__NODE_STATE__STATE_READY;
    st.addr = (char *)"10.210.0.1";
    st.message = (char *)msg;
    ms.leader = true;
    ms.reachability = SHOAL__STORE__REACHABILITY__REACH_REACHABLE;
    ms.addr = (char *)"10.210.0.1:2377";
    n.id = (char *)"pqmjfqj9be4sb7wwl3u1ifs0c";
    n.meta = &meta;
    n.spec = &sp;
    n.description = &d;
    n.status = &st;
    n.role = (Shoal__Store__NodeRole)role;
    if (role == MGR_ROLE_MANAGER)
        n.manager_status = &ms;
    return mgr_msg_dup(&n);
}

static bool not_leader(void *ud, const MgrNode *n)
{
    (void)ud;
    (void)n;
    return false;
}

static void test_node_view(void **state)
{
    json_t *want = json_loads(NODE_JSON, 0, NULL), *got;
    MgrNode *n = make_node(MGR_ROLE_MANAGER, "");
    struct mgr_json_ctx ctx = {.ca_cert_pem = g_ca};

    (void)state;
    assert_non_null(want);
    got = mgr_json_node(n, &ctx);
    same_shape(want, got, "node");
    assert_string_equal(json_string_value(json_object_get(got, "CreatedAt")),
                        "2026-11-22T15:01:52.317518286Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "Version"), "Index")),
                     9);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(got, "Description"), "TLSInfo"), "CertIssuerSubject")),
        "MBMxETAPBgNVBAMTCHN3YXJtLWNh");
    json_decref(got);

    /* a follower: Leader left out */
    ctx.is_leader = not_leader;
    got = mgr_json_node(n, &ctx);
    assert_null(json_object_get(json_object_get(got, "ManagerStatus"), "Leader"));
    json_decref(got);
    mgr_msg_free(n);

    /* a worker has no ManagerStatus; a down node has a Message */
    n = make_node(MGR_ROLE_WORKER, "heartbeat failure");
    got = mgr_json_node(n, &ctx);
    assert_null(json_object_get(got, "ManagerStatus"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "Status"), "Message")),
        "heartbeat failure");
    assert_string_equal(json_string_value(json_object_get(json_object_get(got, "Spec"), "Role")),
                        "worker");
    json_decref(got);
    mgr_msg_free(n);
    json_decref(want);
}

static void test_swarm_view(void **state)
{
    json_t *want = json_loads(SWARM_JSON, 0, NULL), *got, *info, *sw;
    MgrCluster *c = make_cluster();
    char *s;

    (void)state;
    assert_non_null(want);
    got = mgr_json_cluster(c, true);
    same_shape(want, got, "swarm");
    s = json_dumps(json_object_get(got, "Spec"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"CAConfig\":{\"NodeCertExpiry\":7776000000000000},\"Dispatcher\":"
                           "{\"HeartbeatPeriod\":5000000000},\"EncryptionConfig\":"
                           "{\"AutoLockManagers\":false},\"Labels\":{},\"Name\":\"default\","
                           "\"Orchestration\":{\"TaskHistoryRetentionLimit\":5},\"Raft\":"
                           "{\"ElectionTick\":10,\"HeartbeatTick\":1,\"KeepOldSnapshots\":0,"
                           "\"LogEntriesForSlowFollowers\":500,\"SnapshotInterval\":10000},"
                           "\"TaskDefaults\":{}}");
    free(s);
    json_decref(got);

    /* /info Swarm: manager shape (Cluster without JoinTokens) */
    {
        struct mgr_remote_manager rm = {"v73mdzlha5gx4fhvwj104j022", "127.0.0.1:2377"};
        struct mgr_info_swarm in = {.node_id = "v73mdzlha5gx4fhvwj104j022",
                                    .node_addr = "127.0.0.1",
                                    .local_node_state = "active",
                                    .error = "",
                                    .control_available = true,
                                    .remote_managers = &rm,
                                    .n_remote_managers = 1,
                                    .nodes = 1,
                                    .managers = 1,
                                    .cluster = c};
        info = mgr_json_info_swarm(&in);
        json_object_del(want, "JoinTokens");
        sw = json_pack("{s:s,s:s,s:s,s:b,s:s,s:[{s:s,s:s}],s:i,s:i,s:O}", "NodeID", "x", "NodeAddr",
                       "x", "LocalNodeState", "active", "ControlAvailable", 1, "Error", "",
                       "RemoteManagers", "NodeID", "x", "Addr", "x", "Nodes", 1, "Managers", 1,
                       "Cluster", want);
        same_shape(sw, info, "info.Swarm");
        json_decref(sw);
        json_decref(info);

        /* worker */
        in.control_available = false;
        in.cluster = NULL;
        info = mgr_json_info_swarm(&in);
        s = json_dumps(info, JSON_COMPACT);
        assert_string_equal(s, "{\"NodeID\":\"v73mdzlha5gx4fhvwj104j022\",\"NodeAddr\":"
                               "\"127.0.0.1\",\"LocalNodeState\":\"active\",\"ControlAvailable\""
                               ":false,\"Error\":\"\",\"RemoteManagers\":[{\"NodeID\":"
                               "\"v73mdzlha5gx4fhvwj104j022\",\"Addr\":\"127.0.0.1:2377\"}]}");
        free(s);
        json_decref(info);
    }
    /* inactive: exactly the recorded text */
    {
        struct mgr_info_swarm in = {.local_node_state = "inactive"};
        info = mgr_json_info_swarm(&in);
        s = json_dumps(info, JSON_COMPACT);
        assert_string_equal(s,
                            "{\"NodeID\":\"\",\"NodeAddr\":\"\",\"LocalNodeState\":\"inactive\","
                            "\"ControlAvailable\":false,\"Error\":\"\",\"RemoteManagers\":null}");
        free(s);
        json_decref(info);
    }
    mgr_msg_free(c);
    json_decref(want);
}

/* The exact request bodies from swarm_init.txt and swarm_join.txt */
static const char INIT_BODY[] =
    "{\"ListenAddr\":\"0.0.0.0:2377\",\"AdvertiseAddr\":\"10.210.0.1\",\"DataPathAddr\":\"\","
    "\"DataPathPort\":0,\"ForceNewCluster\":false,\"Spec\":{\"Labels\":null,\"Orchestration\":{},"
    "\"Raft\":{\"ElectionTick\":0,\"HeartbeatTick\":0},\"Dispatcher\":{},\"CAConfig\":{},"
    "\"TaskDefaults\":{},\"EncryptionConfig\":{\"AutoLockManagers\":false}},"
    "\"AutoLockManagers\":false,\"Availability\":\"\",\"DefaultAddrPool\":[],\"SubnetSize\":24}";

static const char JOIN_BODY[] =
    "{\"ListenAddr\":\"0.0.0.0:2377\",\"AdvertiseAddr\":\"\",\"DataPathAddr\":\"\","
    "\"RemoteAddrs\":[\"10.210.0.1:2377\"],\"JoinToken\":\"SWMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp"
    "91xo1eh1zxfob2xkwbv4y-2cnbhv5s1j6jo4yksnwb54nom\",\"Availability\":\"\"}";

static void test_parse_init_join(void **state)
{
    json_t *body = json_loads(INIT_BODY, 0, NULL);
    struct mgr_swarm_init_req init;
    struct mgr_swarm_join_req join;
    struct err err;

    (void)state;
    assert_int_equal(mgr_json_parse_swarm_init(body, &init, &err), 0);
    assert_string_equal(init.listen_addr, "0.0.0.0:2377");
    assert_string_equal(init.advertise_addr, "10.210.0.1");
    assert_int_equal(init.subnet_size, 24);
    assert_int_equal(init.n_default_addr_pool, 0);
    assert_false(init.force_new_cluster);
    assert_int_equal(init.availability, SHOAL__STORE__NODE_AVAILABILITY__AVAIL_ACTIVE);
    assert_string_equal(init.spec->name, "default");
    assert_int_equal(init.spec->election_tick, 10);
    assert_int_equal(init.spec->heartbeat_tick, 1);
    assert_int_equal(init.spec->heartbeat_period_ns, 5000000000LL);
    assert_int_equal(init.spec->node_cert_expiry_ns, 7776000000000000LL);
    assert_int_equal(init.spec->task_history_retention_limit, 5);
    mgr_swarm_init_req_release(&init);

    /* bad values */
    json_object_set_new(body, "Availability", json_string("sleepy"));
    assert_int_equal(mgr_json_parse_swarm_init(body, &init, &err), -EINVAL);
    assert_string_equal(err.msg, "invalid Availability: \"sleepy\"");
    json_object_set_new(body, "Availability", json_string("drain"));
    json_object_set_new(body, "DataPathPort", json_integer(80));
    assert_int_equal(mgr_json_parse_swarm_init(body, &init, &err), -EINVAL);
    json_object_set_new(body, "DataPathPort", json_string("4789"));
    assert_int_equal(mgr_json_parse_swarm_init(body, &init, &err), -EINVAL);
    json_object_set_new(body, "DataPathPort", json_integer(4789));
    json_object_set_new(body, "DefaultAddrPool", json_pack("[s]", "10.20.0.0/16"));
    assert_int_equal(mgr_json_parse_swarm_init(body, &init, &err), 0);
    assert_int_equal(init.n_default_addr_pool, 1);
    assert_string_equal(init.default_addr_pool[0], "10.20.0.0/16");
    assert_int_equal(init.availability, SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN);
    mgr_swarm_init_req_release(&init);
    assert_int_equal(mgr_json_parse_swarm_init(json_object_get(body, "ListenAddr"), &init, &err),
                     -EINVAL);
    json_decref(body);

    body = json_loads(JOIN_BODY, 0, NULL);
    assert_int_equal(mgr_json_parse_swarm_join(body, &join, &err), 0);
    assert_int_equal(join.n_remote_addrs, 1);
    assert_string_equal(join.remote_addrs[0], "10.210.0.1:2377");
    assert_string_equal(join.listen_addr, "0.0.0.0:2377");
    assert_int_equal(strncmp(join.join_token, "SWMTKN-1-6wus", 13), 0);
    mgr_swarm_join_req_release(&join);
    json_object_set_new(body, "JoinToken", json_string("SWMTKN-1-short-x"));
    assert_int_equal(mgr_json_parse_swarm_join(body, &join, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid join token"));
    json_object_set_new(body, "RemoteAddrs", json_array());
    assert_int_equal(mgr_json_parse_swarm_join(body, &join, &err), -EINVAL);
    assert_string_equal(err.msg, "at least 1 RemoteAddr is required to join");
    json_decref(body);
}

static void test_parse_specs(void **state)
{
    json_t *body = json_loads("{\"Labels\":{\"ref-zone\":\"a\",\"b\":\"\"},\"Role\":\"manager\","
                              "\"Availability\":\"drain\"}",
                              0, NULL);
    MgrNodeSpec *ns;
    MgrClusterSpec *cs;
    struct err err;
    uint64_t v;

    (void)state;
    assert_int_equal(mgr_json_parse_node_spec(body, &ns, &err), 0);
    assert_int_equal(ns->role, MGR_ROLE_MANAGER);
    assert_int_equal(ns->availability, SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN);
    assert_int_equal(ns->n_labels, 2);
    assert_string_equal(ns->labels[0]->key, "b"); /* sorted */
    assert_string_equal(ns->labels[1]->value, "a");
    mgr_msg_free(ns);
    json_object_set_new(body, "Role", json_string("boss"));
    assert_int_equal(mgr_json_parse_node_spec(body, &ns, &err), -EINVAL);
    assert_string_equal(err.msg, "invalid Role: \"boss\"");
    json_object_set_new(body, "Role", json_string("worker"));
    json_object_set_new(body, "Labels", json_pack("{s:i}", "x", 1));
    assert_int_equal(mgr_json_parse_node_spec(body, &ns, &err), -EINVAL);
    json_decref(body);

    /* swarm update: what the CLI sends back after GET /swarm */
    body = json_loads(SWARM_JSON, 0, NULL);
    assert_int_equal(mgr_json_parse_cluster_spec(json_object_get(body, "Spec"), &cs, &err), 0);
    assert_int_equal(cs->snapshot_interval, 10000);
    assert_int_equal(cs->node_cert_expiry_ns, 7776000000000000LL);
    mgr_msg_free(cs);
    json_object_set_new(json_object_get(json_object_get(body, "Spec"), "CAConfig"),
                        "NodeCertExpiry", json_integer(1000));
    assert_int_equal(mgr_json_parse_cluster_spec(json_object_get(body, "Spec"), &cs, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "minimum certificate expiry time is 1h0m0s");
    json_decref(body);

    assert_int_equal(mgr_parse_version("node", "238", &v, &err), 0);
    assert_int_equal(v, 238);
    assert_int_equal(mgr_parse_version("node", "", &v, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "invalid node version '': strconv.ParseUint: parsing \"\": invalid syntax");
}

/* mgr_json_node_text gives the bytes json_dumps(mgr_json_node()) gives */
static void same_text(const MgrNode *n, const struct mgr_json_ctx *ctx)
{
    json_t *o = mgr_json_node(n, ctx);
    char *want = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
    struct buf b;

    buf_init(&b);
    assert_int_equal(mgr_json_node_text(&b, n, ctx), 0);
    assert_non_null(want);
    assert_string_equal(b.data, want);
    free(want);
    json_decref(o);
    buf_release(&b);
}

static bool yes_leader(void *ud, const MgrNode *n)
{
    (void)ud;
    (void)n;
    return true;
}

static int unreachable(void *ud, const MgrNode *n)
{
    (void)ud;
    (void)n;
    return SHOAL__STORE__REACHABILITY__REACH_UNREACHABLE;
}

static void test_node_text(void **state)
{
    struct mgr_json_ctx ctx = {.ca_cert_pem = g_ca};
    struct mgr_json_ctx live = {
        .ca_cert_pem = g_ca, .is_leader = yes_leader, .reachability = unreachable};
    struct mgr_json_ctx nopem = {.ca_cert_pem = ""};
    MgrNode *n = make_node(MGR_ROLE_MANAGER, "");
    Shoal__Store__Label l[6] = {SHOAL__STORE__LABEL__INIT, SHOAL__STORE__LABEL__INIT,
                                SHOAL__STORE__LABEL__INIT, SHOAL__STORE__LABEL__INIT,
                                SHOAL__STORE__LABEL__INIT, SHOAL__STORE__LABEL__INIT};
    Shoal__Store__Label *lp[6] = {&l[0], &l[1], &l[2], &l[3], &l[4], &l[5]};
    MgrNodeSpec *sp;
    MgrNodeDescription *d;

    (void)state;
    same_text(n, &ctx);
    same_text(n, &ctx); /* the TLSInfo text from the cache */
    same_text(n, &live);
    same_text(n, &nopem);
    same_text(n, NULL);
    ctx.is_leader = not_leader;
    same_text(n, &ctx);
    ctx.is_leader = NULL;

    /* labels with everything that needs escaping, a key given twice, a key
     * and a value that are not UTF-8; a name; engine labels; a message */
    l[0].key = (char *)"a\"quote\\back/slash";
    l[0].value = (char *)"line\nfeed\ttab\r\b\f\x01\x1f end";
    l[1].key = (char *)"utf8-\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\x9f";
    l[1].value = (char *)"\xe6\xbc\xa2\xe5\xad\x97";
    l[2].key = (char *)"dup";
    l[2].value = (char *)"first";
    l[3].key = (char *)"bad-\xc3(";
    l[3].value = (char *)"x";
    l[4].key = (char *)"bad-value";
    l[4].value = (char *)"\xed\xa0\x80 surrogate";
    l[5].key = (char *)"dup";
    l[5].value = (char *)"last";
    sp = n->spec;
    sp->labels = lp;
    sp->n_labels = 6;
    sp->name = (char *)"node-\"one\""; /* strings of a copy can borrow: freed with its block */
    sp->availability = SHOAL__STORE__NODE_AVAILABILITY__AVAIL_DRAIN;
    d = n->description;
    d->engine_labels = lp;
    d->n_engine_labels = 3;
    n->status->message = (char *)"heartbeat \"failure\"";
    same_text(n, &ctx);
    same_text(n, &live);

    /* no description, no plugins */
    d->n_plugins = 0;
    same_text(n, &ctx);
    n->description = NULL;
    same_text(n, &ctx);
    same_text(n, NULL);
    n->description = d;
    sp->labels = NULL;
    sp->n_labels = 0;
    d->engine_labels = NULL;
    d->n_engine_labels = 0;
    d->n_plugins = 2;
    mgr_msg_free(n);

    /* a worker: no ManagerStatus */
    n = make_node(MGR_ROLE_WORKER, "down");
    same_text(n, &ctx);
    mgr_msg_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_view),   cmocka_unit_test(test_node_text),
        cmocka_unit_test(test_swarm_view),  cmocka_unit_test(test_parse_init_join),
        cmocka_unit_test(test_parse_specs),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
