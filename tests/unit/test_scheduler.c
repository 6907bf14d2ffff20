/* Unit tests for scheduler/: constraints, every filter, explanations,
 * spread, placement preferences, max replicas, determinism, and a
 * brute-force reference run on random clusters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/err.h"

#include "scheduler/scheduler.h"

#define GB  (1024LL * 1024 * 1024)
#define CPU 1000000000LL

/* ---- helpers ------------------------------------------------------------ */

static struct sched_node node_mk(const char *id)
{
    return (struct sched_node){
        .id = id,
        .hostname = id,
        .ready = true,
        .availability = SCHED_AVAIL_ACTIVE,
        .os = "linux",
        .arch = "x86_64",
        .nano_cpus = 4 * CPU,
        .memory_bytes = 8 * GB,
    };
}

/* Five plain nodes n1..n5. */
static void nodes5(struct sched_node n[5])
{
    static const char *const ids[] = {"n1", "n2", "n3", "n4", "n5"};
    for (int i = 0; i < 5; i++)
        n[i] = node_mk(ids[i]);
}

static void count_per_node(const int *ret, size_t n_tasks, size_t *counts, size_t n_nodes)
{
    memset(counts, 0, n_nodes * sizeof(*counts));
    for (size_t k = 0; k < n_tasks; k++) {
        assert_true(ret[k] >= -1 && ret[k] < (int)n_nodes);
        if (ret[k] >= 0)
            counts[ret[k]]++;
    }
}

/* Does the constraint list accept this one node? */
static bool accepts(const struct sched_node *n, const char *expr)
{
    const char *cons[] = {expr};
    struct sched_req req = {.constraints = cons, .n_constraints = 1};
    enum sched_filter f = SCHED_N_FILTERS;
    struct err err = {0};

    assert_int_equal(sched_node_check(n, &req, &f, NULL, 0, &err), 0);
    assert_true(f == SCHED_FILTER_OK || f == SCHED_FILTER_CONSTRAINTS);
    return f == SCHED_FILTER_OK;
}

/* ---- constraint syntax ---------------------------------------------------- */

static void test_sched_constraint_syntax_valid(void **state)
{
    static const char *const ok[] = {
        "node.labels.zone==a", "node.role!=manager",      " node == node1",       "NoDe==node1",
        "no.de==node1",        "_node==_node1",           "node==[a-b]+c*(n|b)/", "node==node 1",
        "node.ip==10.0.0.0/8", "engine.labels.os==f.-$o", "node.hostname==a:b",
    };
    struct err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (sched_constraint_check(ok[i], &err) != 0)
            fail_msg("'%s' rejected: %s", ok[i], err.msg);
    }
}

static void test_sched_constraint_syntax_invalid(void **state)
{
    static const struct {
        const char *expr, *msg;
    } bad[] = {
        {"", "constraint expected one operator from ==, !="},
        {" ", "constraint expected one operator from ==, !="},
        {"nodeabc", "constraint expected one operator from ==, !="},
        {"node ~ abc", "constraint expected one operator from ==, !="},
        {"node=abc", "constraint expected one operator from ==, !="},
        {"1node==a2", "key '1node' is invalid"},
        {"no de== node1", "key 'no de' is invalid"},
        {"no*de==node1", "key 'no*de' is invalid"},
        {"==node1", "key '' is invalid"},
        {"n==node1", "key 'n' is invalid"},
        {"no$de==node1", "key 'no$de' is invalid"},
        {"node==", "value '' is invalid"},
        {"node== ", "value '' is invalid"},
        {"node==a!=b", "value 'a!=b' is invalid"},
        {"node.labels.x==a,b", "value 'a,b' is invalid"},
        {"node.labels.x!=é", "value 'é' is invalid"},
    };
    struct err err;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (struct err){0};
        if (sched_constraint_check(bad[i].expr, &err) != -EINVAL)
            fail_msg("'%s' accepted", bad[i].expr);
        assert_int_equal(err.code, -EINVAL);
        assert_string_equal(err.msg, bad[i].msg);
    }
    assert_int_equal(sched_constraint_check(NULL, NULL), -EINVAL);
}

static void test_sched_place_rejects_bad_constraint(void **state)
{
    struct sched_node n[5];
    const char *cons[] = {"node.labels.zone==a", "zone"};
    struct sched_req req = {.constraints = cons, .n_constraints = 2};
    int ret[3];
    struct err err = {0};

    (void)state;
    nodes5(n);
    assert_int_equal(sched_place(n, 5, &req, 3, ret, NULL, 0, &err), -EINVAL);
    assert_string_equal(err.msg, "constraint expected one operator from ==, !=");
}

/* ---- constraint matching -------------------------------------------------- */

static void test_sched_constraint_node_attrs(void **state)
{
    struct sched_node n = node_mk("abc123");

    (void)state;
    n.hostname = "Host-1";
    n.manager = true;
    assert_true(accepts(&n, "node.id==abc123"));
    assert_false(accepts(&n, "node.id==abc"));
    assert_true(accepts(&n, "node.id!=abc"));
    assert_true(accepts(&n, "node.hostname==host-1")); /* values: case-insensitive */
    assert_false(accepts(&n, "node.hostname!=HOST-1"));
    assert_true(accepts(&n, "NODE.HOSTNAME==Host-1")); /* keys too */
    assert_true(accepts(&n, "node.role==manager"));
    assert_false(accepts(&n, "node.role!=manager"));
    assert_false(accepts(&n, "node.role==worker"));
    n.manager = false;
    assert_true(accepts(&n, "node.role==worker"));
    assert_true(accepts(&n, "node.role!=manager"));
    assert_true(accepts(&n, "node.platform.os==linux"));
    assert_true(accepts(&n, "node.platform.arch==x86_64"));
    assert_false(accepts(&n, "node.platform.arch==arm64"));
    assert_true(accepts(&n, "node.platform.os!=windows"));
    /* unknown keys parse but match nothing, with either operator */
    assert_false(accepts(&n, "node.name==abc123"));
    assert_false(accepts(&n, "node.name!=abc123"));
    /* a NULL hostname reads as "" */
    n.hostname = NULL;
    assert_false(accepts(&n, "node.hostname==x"));
    assert_true(accepts(&n, "node.hostname!=x"));
}

static void test_sched_constraint_labels(void **state)
{
    static const struct sched_label labels[] = {{"zone", "a"}, {"disk", "ssd"}};
    static const struct sched_label eng[] = {{"gpu", "yes"}};
    struct sched_node n = node_mk("n1");

    (void)state;
    n.labels = labels;
    n.n_labels = 2;
    n.engine_labels = eng;
    n.n_engine_labels = 1;
    assert_true(accepts(&n, "node.labels.zone==a"));
    assert_true(accepts(&n, "node.labels.zone==A"));
    assert_false(accepts(&n, "node.labels.zone==b"));
    assert_true(accepts(&n, "node.labels.zone!=b"));
    assert_true(accepts(&n, "Node.Labels.disk==ssd")); /* prefix is case-insensitive */
    assert_false(accepts(&n, "node.labels.Zone==a"));  /* label names are not */
    /* a missing label is "": != matches, == does not */
    assert_false(accepts(&n, "node.labels.rack==r1"));
    assert_true(accepts(&n, "node.labels.rack!=r1"));
    assert_true(accepts(&n, "engine.labels.gpu==yes"));
    assert_false(accepts(&n, "engine.labels.zone==a")); /* engine and node labels differ */
    assert_false(accepts(&n, "node.labels.gpu==yes"));
}

static void test_sched_constraint_node_ip(void **state)
{
    struct sched_node n = node_mk("n1");

    (void)state;
    n.addr = "10.1.2.3";
    assert_true(accepts(&n, "node.ip==10.1.2.3"));
    assert_false(accepts(&n, "node.ip!=10.1.2.3"));
    assert_false(accepts(&n, "node.ip==10.1.2.4"));
    assert_true(accepts(&n, "node.ip==10.0.0.0/8"));
    assert_true(accepts(&n, "node.ip==10.1.2.0/24"));
    assert_false(accepts(&n, "node.ip==10.1.3.0/24"));
    assert_true(accepts(&n, "node.ip!=192.168.0.0/16"));
    assert_true(accepts(&n, "node.ip==0.0.0.0/0"));
    assert_false(accepts(&n, "node.ip==10.0.0.0/33")); /* malformed: matches nothing */
    assert_false(accepts(&n, "node.ip!=10.0.0.0/33"));
    assert_false(accepts(&n, "node.ip==host"));
    n.addr = "2001:db8::2";
    assert_true(accepts(&n, "node.ip==2001:db8::2"));
    assert_true(accepts(&n, "node.ip==2001:db8::/32"));
    assert_false(accepts(&n, "node.ip==2001:db9::/32"));
    assert_false(accepts(&n, "node.ip==10.0.0.0/8"));
}

static void test_sched_constraints_filter_in_place(void **state)
{
    static const struct sched_label za[] = {{"zone", "a"}}, zb[] = {{"zone", "b"}};
    struct sched_node n[5];
    const char *cons[] = {"node.labels.zone==a", "node.role!=manager"};
    struct sched_req req = {.constraints = cons, .n_constraints = 2};
    int ret[6];
    size_t counts[5];
    char reason[256];

    (void)state;
    nodes5(n);
    n[0].labels = za, n[0].n_labels = 1;
    n[1].labels = za, n[1].n_labels = 1, n[1].manager = true;
    n[2].labels = za, n[2].n_labels = 1;
    n[3].labels = zb, n[3].n_labels = 1;
    assert_int_equal(sched_place(n, 5, &req, 6, ret, reason, sizeof(reason), NULL), 6);
    assert_string_equal(reason, "");
    count_per_node(ret, 6, counts, 5);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 3);
    assert_int_equal(counts[3], 0);
    assert_int_equal(counts[4], 0);

    cons[0] = "node.labels.zone==c";
    assert_int_equal(sched_place(n, 5, &req, 2, ret, reason, sizeof(reason), NULL), 0);
    assert_int_equal(ret[0], -1);
    assert_int_equal(ret[1], -1);
    assert_string_equal(reason,
                        "no suitable node (scheduling constraints not satisfied on 5 nodes)");
}

/* ---- the other filters ---------------------------------------------------- */

static void test_sched_ready_filter(void **state)
{
    struct sched_node n[5];
    struct sched_req req = {0};
    int ret[4];
    size_t counts[5];
    char reason[256];

    (void)state;
    nodes5(n);
    n[0].ready = false;                    /* down */
    n[1].availability = SCHED_AVAIL_PAUSE; /* paused */
    n[2].availability = SCHED_AVAIL_DRAIN; /* drained */
    assert_int_equal(sched_place(n, 5, &req, 4, ret, reason, sizeof(reason), NULL), 4);
    count_per_node(ret, 4, counts, 5);
    assert_int_equal(counts[0] + counts[1] + counts[2], 0);
    assert_int_equal(counts[3], 2);
    assert_int_equal(counts[4], 2);

    n[3].ready = false;
    n[4].availability = SCHED_AVAIL_DRAIN;
    assert_int_equal(sched_place(n, 5, &req, 1, ret, reason, sizeof(reason), NULL), 0);
    assert_int_equal(ret[0], -1);
    assert_string_equal(reason, "no suitable node (5 nodes not available for new tasks)");

    n[3].ready = true;
    n[4].availability = SCHED_AVAIL_ACTIVE;
    n[4].ready = false;
    assert_int_equal(sched_place(n, 1, &req, 1, ret, reason, sizeof(reason), NULL), 0);
    assert_string_equal(reason, "no suitable node (1 node not available for new tasks)");
}

static void test_sched_resources_too_big(void **state)
{
    struct sched_node n[3] = {node_mk("a"), node_mk("b"), node_mk("c")};
    struct sched_req req = {.memory = 16 * GB};
    int ret[2];
    char reason[256];

    (void)state;
    assert_int_equal(sched_place(n, 3, &req, 2, ret, reason, sizeof(reason), NULL), 0);
    assert_int_equal(ret[0], -1);
    assert_int_equal(ret[1], -1);
    assert_string_equal(reason, "no suitable node (insufficient resources on 3 nodes)");

    req = (struct sched_req){.nano_cpus = 5 * CPU};
    assert_int_equal(sched_place(n, 3, &req, 1, ret, reason, sizeof(reason), NULL), 0);
    assert_string_equal(reason, "no suitable node (insufficient resources on 3 nodes)");
}

static void test_sched_resources_exhausted_in_batch(void **state)
{
    struct sched_node n[3] = {node_mk("a"), node_mk("b"), node_mk("c")};
    struct sched_req req = {.nano_cpus = 1 * CPU, .memory = 1 * GB};
    int ret[12];
    size_t counts[3];
    char reason[256];

    (void)state;
    n[0].reserved_cpus = 3 * CPU;  /* room for 1 */
    n[1].reserved_memory = 6 * GB; /* room for 2 */
    /* c: 4 CPUs, room for 4 -> 7 in all */
    assert_int_equal(sched_place(n, 3, &req, 10, ret, reason, sizeof(reason), NULL), 7);
    count_per_node(ret, 10, counts, 3);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 4);
    for (int k = 7; k < 10; k++)
        assert_int_equal(ret[k], -1); /* placed tasks come first */
    assert_string_equal(reason, "no suitable node (insufficient resources on 3 nodes)");

    /* zero reservation: the resource filter is off, even on a full node */
    req = (struct sched_req){0};
    n[0].reserved_cpus = 10 * CPU;
    assert_int_equal(sched_place(n, 3, &req, 12, ret, reason, sizeof(reason), NULL), 12);
    count_per_node(ret, 12, counts, 3);
    assert_int_equal(counts[0], 4);
}

static void test_sched_mixed_reasons(void **state)
{
    struct sched_node n[5];
    const char *cons[] = {"node.hostname!=n5"};
    struct sched_req req = {.memory = 6 * GB, .constraints = cons, .n_constraints = 1};
    int ret[6];
    char reason[256];

    (void)state;
    nodes5(n);
    n[0].availability = SCHED_AVAIL_DRAIN;
    /* n2, n3, n4 take one 6 GB task each, then are full; n5 fails constraints;
     * a node failing both resources and constraints counts as resources */
    assert_int_equal(sched_place(n, 5, &req, 6, ret, reason, sizeof(reason), NULL), 3);
    assert_string_equal(reason, "no suitable node (insufficient resources on 3 nodes; "
                                "1 node not available for new tasks; "
                                "scheduling constraints not satisfied on 1 node)");
    n[4].memory_bytes = 1 * GB;
    assert_int_equal(sched_place(n, 5, &req, 6, ret, reason, sizeof(reason), NULL), 3);
    assert_string_equal(reason, "no suitable node (insufficient resources on 4 nodes; "
                                "1 node not available for new tasks)");
}

static void test_sched_platform_filter(void **state)
{
    struct sched_node n[3] = {node_mk("a"), node_mk("b"), node_mk("c")};
    struct sched_platform arm[] = {{"linux", "arm64"}};
    struct sched_platform amd[] = {{"linux", "amd64"}, {"windows", ""}};
    struct sched_platform any_os[] = {{NULL, "arm64"}};
    struct sched_req req = {.platforms = arm, .n_platforms = 1};
    int ret[4];
    size_t counts[3];
    char reason[256];

    (void)state;
    n[1].arch = "aarch64"; /* same as arm64 */
    n[2].arch = "arm64";
    n[2].os = "windows";
    assert_int_equal(sched_place(n, 3, &req, 2, ret, reason, sizeof(reason), NULL), 2);
    assert_int_equal(ret[0], 1);
    assert_int_equal(ret[1], 1);

    req.platforms = any_os;
    assert_int_equal(sched_place(n, 3, &req, 4, ret, reason, sizeof(reason), NULL), 4);
    count_per_node(ret, 4, counts, 3);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 2);

    req.platforms = amd; /* x86_64 is amd64; windows with any arch */
    req.n_platforms = 2;
    assert_int_equal(sched_place(n, 3, &req, 4, ret, reason, sizeof(reason), NULL), 4);
    count_per_node(ret, 4, counts, 3);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 2);

    n[0].os = NULL;
    n[2].os = "linux";
    assert_int_equal(sched_place(n, 3, &req, 1, ret, reason, sizeof(reason), NULL), 0);
    assert_string_equal(reason, "no suitable node (unsupported platform on 3 nodes)");
}

static void test_sched_host_port_filter(void **state)
{
    struct sched_node n[3] = {node_mk("a"), node_mk("b"), node_mk("c")};
    struct sched_port used_a[] = {{"tcp", 8080}};
    struct sched_port used_b[] = {{"udp", 8080}, {NULL, 9090}};
    struct sched_port want[] = {{"tcp", 8080}, {"tcp", 0}};
    struct sched_req req = {.host_ports = want, .n_host_ports = 2};
    int ret[3];
    char reason[256];

    (void)state;
    n[0].ports_in_use = used_a, n[0].n_ports_in_use = 1;
    n[1].ports_in_use = used_b, n[1].n_ports_in_use = 2;
    /* a is taken; b uses 8080 only over udp; one task per node since the
     * port is taken by the first one */
    assert_int_equal(sched_place(n, 3, &req, 3, ret, reason, sizeof(reason), NULL), 2);
    assert_int_equal(ret[0], 1);
    assert_int_equal(ret[1], 2);
    assert_int_equal(ret[2], -1);
    assert_string_equal(reason, "no suitable node (host-mode port already in use on 3 nodes)");

    want[0] = (struct sched_port){"TCP", 9090}; /* NULL proto means tcp */
    assert_int_equal(sched_place(n, 3, &req, 3, ret, reason, sizeof(reason), NULL), 2);
    assert_int_equal(ret[0], 0);
    assert_int_equal(ret[1], 2);
}

static void test_sched_max_replicas(void **state)
{
    struct sched_node n[5];
    struct sched_req req = {.max_replicas = 2};
    int ret[10];
    size_t counts[5];
    char reason[256];

    (void)state;
    nodes5(n);
    n[0].service_tasks = 2; /* already at the limit */
    n[1].service_tasks = 1;
    assert_int_equal(sched_place(n, 5, &req, 10, ret, reason, sizeof(reason), NULL), 7);
    count_per_node(ret, 10, counts, 5);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 2);
    assert_int_equal(counts[3], 2);
    assert_int_equal(counts[4], 2);
    assert_string_equal(reason, "no suitable node (max replicas per node limit exceed)");

    req.max_replicas = 0; /* unlimited */
    assert_int_equal(sched_place(n, 5, &req, 10, ret, reason, sizeof(reason), NULL), 10);
}

/* ---- spread ----------------------------------------------------------------- */

static void test_sched_spread_even(void **state)
{
    struct sched_node n[5];
    struct sched_req req = {.service_id = "svc"};
    int ret[30];
    size_t counts[5];
    char reason[64] = "junk";

    (void)state;
    nodes5(n);
    assert_int_equal(sched_place(n, 5, &req, 10, ret, reason, sizeof(reason), NULL), 10);
    assert_string_equal(reason, "");
    count_per_node(ret, 10, counts, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(counts[i], 2);
    /* the first five go to five different nodes, in id order */
    for (int k = 0; k < 5; k++)
        assert_int_equal(ret[k], k);

    /* scale 10 -> 30 from the existing counts */
    sched_account(n, 5, &req, ret, 10);
    for (int i = 0; i < 5; i++)
        assert_int_equal(n[i].service_tasks, 2);
    assert_int_equal(sched_place(n, 5, &req, 20, ret, NULL, 0, NULL), 20);
    count_per_node(ret, 20, counts, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(counts[i], 4);
}

static void test_sched_spread_from_uneven(void **state)
{
    struct sched_node n[4] = {node_mk("a"), node_mk("b"), node_mk("c"), node_mk("d")};
    struct sched_req req = {0};
    int ret[4];
    size_t counts[4];

    (void)state;
    n[0].service_tasks = n[0].n_tasks = 3;
    n[1].service_tasks = n[1].n_tasks = 1;
    assert_int_equal(sched_place(n, 4, &req, 4, ret, NULL, 0, NULL), 4);
    count_per_node(ret, 4, counts, 4);
    /* 3,1,0,0 + 4 -> 3,2,2,1 (c before d by id once b/c/d are level) */
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 2);
    assert_int_equal(counts[3], 1);
}

static void test_sched_spread_tie_total_tasks(void **state)
{
    struct sched_node n[3] = {node_mk("a"), node_mk("b"), node_mk("c")};
    struct sched_req req = {0};
    int ret[3];

    (void)state;
    n[0].n_tasks = 5; /* other services' tasks */
    n[1].n_tasks = 1;
    n[2].n_tasks = 0;
    assert_int_equal(sched_place(n, 3, &req, 3, ret, NULL, 0, NULL), 3);
    assert_int_equal(ret[0], 2);
    assert_int_equal(ret[1], 1);
    assert_int_equal(ret[2], 0); /* tasks of the service come first: a has none yet */
}

static void test_sched_deterministic(void **state)
{
    struct sched_node n[6] = {node_mk("f"), node_mk("b"), node_mk("d"),
                              node_mk("a"), node_mk("e"), node_mk("c")};
    struct sched_req req = {0};
    int r1[17], r2[17];

    (void)state;
    assert_int_equal(sched_place(n, 6, &req, 17, r1, NULL, 0, NULL), 17);
    assert_int_equal(sched_place(n, 6, &req, 17, r2, NULL, 0, NULL), 17);
    assert_memory_equal(r1, r2, sizeof(r1));
    /* equal counts: node id decides, not the array order */
    assert_int_equal(r1[0], 3); /* a */
    assert_int_equal(r1[1], 1); /* b */
    assert_int_equal(r1[2], 5); /* c */
    assert_int_equal(r1[5], 0); /* f */
    assert_int_equal(r1[6], 3); /* a again */
}

/* ---- placement preferences ---------------------------------------------- */

static void test_sched_spread_pref_label(void **state)
{
    static const struct sched_label za[] = {{"zone", "a"}}, zb[] = {{"zone", "b"}};
    struct sched_node n[5];
    const char *spread[] = {"node.labels.zone"};
    struct sched_req req = {.spread = spread, .n_spread = 1};
    int ret[12];
    size_t counts[5];

    (void)state;
    nodes5(n);
    /* zone a: n1 n2 n3; zone b: n4; no label: n5 */
    for (int i = 0; i < 3; i++)
        n[i].labels = za, n[i].n_labels = 1;
    n[3].labels = zb, n[3].n_labels = 1;
    assert_int_equal(sched_place(n, 5, &req, 12, ret, NULL, 0, NULL), 12);
    count_per_node(ret, 12, counts, 5);
    assert_int_equal(counts[0] + counts[1] + counts[2], 4);
    assert_int_equal(counts[3], 4);
    assert_int_equal(counts[4], 4);
    for (int i = 0; i < 3; i++)
        assert_true(counts[i] == 1 || counts[i] == 2);

    /* existing tasks count per group: zone b already has 4 */
    n[3].service_tasks = 4;
    assert_int_equal(sched_place(n, 5, &req, 8, ret, NULL, 0, NULL), 8);
    count_per_node(ret, 8, counts, 5);
    assert_int_equal(counts[0] + counts[1] + counts[2], 4);
    assert_int_equal(counts[3], 0);
    assert_int_equal(counts[4], 4);

    /* an unknown descriptor is one group for all: plain spread */
    n[3].service_tasks = 0;
    spread[0] = "node.hostname";
    assert_int_equal(sched_place(n, 5, &req, 10, ret, NULL, 0, NULL), 10);
    count_per_node(ret, 10, counts, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(counts[i], 2);
}

static void test_sched_spread_pref_nested(void **state)
{
    /* zone a: racks r1 (2 nodes), r2 (1 node); zone b: rack r1 (1 node) */
    static const struct sched_label a1[] = {{"zone", "a"}, {"rack", "r1"}};
    static const struct sched_label a2[] = {{"zone", "a"}, {"rack", "r2"}};
    static const struct sched_label b1[] = {{"rack", "r1"}};
    static const struct sched_label eb[] = {{"zone", "b"}};
    struct sched_node n[4] = {node_mk("x1"), node_mk("x2"), node_mk("x3"), node_mk("x4")};
    const char *spread[] = {"node.labels.zone", "node.labels.rack"};
    struct sched_req req = {.spread = spread, .n_spread = 2};
    int ret[8];
    size_t counts[4];

    (void)state;
    n[0].labels = a1, n[0].n_labels = 2;
    n[1].labels = a1, n[1].n_labels = 2;
    n[2].labels = a2, n[2].n_labels = 2;
    n[3].labels = b1, n[3].n_labels = 1;
    n[3].engine_labels = eb, n[3].n_engine_labels = 1; /* not a node label */
    /* x4 has no node zone label: group "" vs group "a": 4 each; inside a,
     * r1 and r2 get 2 each; inside a/r1, x1 and x2 get 1 each */
    assert_int_equal(sched_place(n, 4, &req, 8, ret, NULL, 0, NULL), 8);
    count_per_node(ret, 8, counts, 4);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 2);
    assert_int_equal(counts[3], 4);

    /* engine labels work as descriptors too */
    spread[0] = "engine.labels.zone";
    req.n_spread = 1;
    assert_int_equal(sched_place(n, 4, &req, 6, ret, NULL, 0, NULL), 6);
    count_per_node(ret, 6, counts, 4);
    assert_int_equal(counts[3], 3);
    assert_int_equal(counts[0] + counts[1] + counts[2], 3);
}

static void test_sched_spread_pref_full_group(void **state)
{
    static const struct sched_label za[] = {{"zone", "a"}}, zb[] = {{"zone", "b"}};
    struct sched_node n[3] = {node_mk("a1"), node_mk("b1"), node_mk("b2")};
    const char *spread[] = {"node.labels.zone"};
    struct sched_req req = {.spread = spread, .n_spread = 1, .memory = 4 * GB};
    int ret[8];
    size_t counts[3];
    char reason[256];

    (void)state;
    n[0].labels = za, n[0].n_labels = 1;
    n[1].labels = zb, n[1].n_labels = 1;
    n[2].labels = zb, n[2].n_labels = 1;
    /* zone a fits 2 tasks; the rest overflows into zone b */
    assert_int_equal(sched_place(n, 3, &req, 8, ret, reason, sizeof(reason), NULL), 6);
    count_per_node(ret, 8, counts, 3);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 2);
    assert_string_equal(reason, "no suitable node (insufficient resources on 3 nodes)");
    /* a drained node's tasks still count for its group */
    n[0].availability = SCHED_AVAIL_DRAIN;
    n[0].service_tasks = 3;
    n[1].labels = za;
    req.memory = 0;
    assert_int_equal(sched_place(n, 3, &req, 3, ret, reason, sizeof(reason), NULL), 3);
    count_per_node(ret, 3, counts, 3);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 3);
}

/* ---- global services, explanation, accounting, edge cases ------------------ */

static void test_sched_node_check(void **state)
{
    struct sched_node n = node_mk("n1");
    const char *cons[] = {"node.role==worker"};
    struct sched_req req = {.constraints = cons, .n_constraints = 1, .max_replicas = 1};
    enum sched_filter f = SCHED_N_FILTERS;
    char reason[128];
    struct err err = {0};

    (void)state;
    n.service_tasks = 3; /* max replicas is not a global-service filter */
    assert_int_equal(sched_node_check(&n, &req, &f, reason, sizeof(reason), &err), 0);
    assert_int_equal(f, SCHED_FILTER_OK);
    assert_string_equal(reason, "");
    assert_true(sched_node_eligible(&n, &req));

    req.memory = 9 * GB;
    assert_int_equal(sched_node_check(&n, &req, &f, reason, sizeof(reason), &err), 0);
    assert_int_equal(f, SCHED_FILTER_RESOURCES);
    assert_string_equal(reason, "no suitable node (insufficient resources on 1 node)");
    assert_false(sched_node_eligible(&n, &req));

    n.availability = SCHED_AVAIL_PAUSE;
    assert_int_equal(sched_node_check(&n, &req, &f, reason, sizeof(reason), &err), 0);
    assert_int_equal(f, SCHED_FILTER_READY);

    n.availability = SCHED_AVAIL_ACTIVE;
    n.manager = true;
    req.memory = 0;
    assert_int_equal(sched_node_check(&n, &req, &f, reason, sizeof(reason), &err), 0);
    assert_int_equal(f, SCHED_FILTER_CONSTRAINTS);
    assert_string_equal(reason,
                        "no suitable node (scheduling constraints not satisfied on 1 node)");

    cons[0] = "role";
    assert_int_equal(sched_node_check(&n, &req, &f, reason, sizeof(reason), &err), -EINVAL);
    assert_false(sched_node_eligible(&n, &req));
    assert_int_equal(sched_node_check(NULL, &req, &f, NULL, 0, NULL), -EINVAL);
}

static void test_sched_explain_text(void **state)
{
    size_t c[SCHED_N_FILTERS] = {0};
    char buf[256], tiny[12];

    (void)state;
    sched_explain(c, buf, sizeof(buf));
    assert_string_equal(buf, "no suitable node");
    c[SCHED_FILTER_PLATFORM] = 2;
    c[SCHED_FILTER_HOST_PORT] = 2;
    c[SCHED_FILTER_READY] = 1;
    c[SCHED_FILTER_MAX_REPLICAS] = 7;
    sched_explain(c, buf, sizeof(buf));
    assert_string_equal(buf, "no suitable node (max replicas per node limit exceed; "
                             "unsupported platform on 2 nodes; "
                             "host-mode port already in use on 2 nodes; "
                             "1 node not available for new tasks)");
    sched_explain(c, tiny, sizeof(tiny));
    assert_string_equal(tiny, "no suitable");
    sched_explain(c, tiny, 1);
    assert_string_equal(tiny, "");
}

static void test_sched_no_nodes_and_args(void **state)
{
    struct sched_node n[2] = {node_mk("a"), node_mk("b")};
    struct sched_req req = {0};
    int ret[2] = {7, 7};
    char reason[64];
    struct err err = {0};

    (void)state;
    assert_int_equal(sched_place(NULL, 0, &req, 2, ret, reason, sizeof(reason), NULL), 0);
    assert_int_equal(ret[0], -1);
    assert_int_equal(ret[1], -1);
    assert_string_equal(reason, "no suitable node");
    assert_int_equal(sched_place(n, 2, &req, 0, NULL, reason, sizeof(reason), NULL), 0);
    assert_string_equal(reason, "");
    assert_int_equal(sched_place(n, 2, NULL, 1, ret, NULL, 0, &err), -EINVAL);
    assert_int_equal(sched_place(n, 2, &req, 1, NULL, NULL, 0, &err), -EINVAL);
    n[1].id = NULL;
    assert_int_equal(sched_place(n, 2, &req, 1, ret, NULL, 0, &err), -EINVAL);
    assert_string_equal(err.msg, "node 1 has no id");
    n[1].id = "b";
    req.memory = -1;
    assert_int_equal(sched_place(n, 2, &req, 1, ret, NULL, 0, &err), -EINVAL);
    assert_string_equal(err.msg, "negative resource reservation");
    req.memory = 0;
    req.n_spread = SCHED_MAX_SPREAD + 1;
    req.spread = (const char *const[]){"node.labels.x"};
    assert_int_equal(sched_place(n, 2, &req, 1, ret, NULL, 0, &err), -EINVAL);
}

static void test_sched_account(void **state)
{
    struct sched_node n[2] = {node_mk("a"), node_mk("b")};
    struct sched_req req = {.nano_cpus = CPU / 2, .memory = GB};
    int ret[] = {0, 1, 1, -1, 5};

    (void)state;
    sched_account(n, 2, &req, ret, 5);
    assert_int_equal(n[0].n_tasks, 1);
    assert_int_equal(n[0].service_tasks, 1);
    assert_int_equal(n[0].reserved_cpus, CPU / 2);
    assert_int_equal(n[1].n_tasks, 2);
    assert_int_equal(n[1].reserved_memory, 2 * GB);
}

/* ---- brute-force reference on random clusters ----------------------------- */

static const char *const zone_vals[] = {"a", "b", "c"};
static const char *const rack_vals[] = {"r1", "r2"};

struct rnd_cluster {
    struct sched_node n[24];
    struct sched_label labels[24][2];
    char ids[24][8];
    struct sched_port port80;
};

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static const char *ref_label(const struct sched_node *n, const char *desc)
{
    const char *key = desc + strlen("node.labels.");
    for (size_t i = 0; i < n->n_labels; i++)
        if (strcmp(n->labels[i].key, key) == 0)
            return n->labels[i].value;
    return "";
}

static bool ref_ok(const struct sched_node *n, const struct sched_req *req, uint64_t placed_here)
{
    enum sched_filter f = SCHED_N_FILTERS;
    if (sched_node_check(n, req, &f, NULL, 0, NULL) != 0 || f != SCHED_FILTER_OK)
        return false;
    if (req->n_host_ports > 0 && placed_here > 0)
        return false;
    return req->max_replicas == 0 || n->service_tasks < req->max_replicas;
}

/* O(tasks * nodes * depth) greedy reference of the documented algorithm. */
static void ref_place(struct sched_node *n, size_t nn, const struct sched_req *req, size_t nt,
                      int *ret)
{
    uint64_t placed[24] = {0};

    for (size_t t = 0; t < nt; t++) {
        const char *path[2];
        int best = -1;
        bool dead = false;

        for (size_t l = 0; l < req->n_spread; l++) {
            const char *bestv = NULL;
            uint64_t bs = 0, bt = 0;
            for (size_t i = 0; i < nn; i++) {
                const char *v = ref_label(&n[i], req->spread[l]);
                uint64_t s = 0, tot = 0;
                bool elig = false, in = true;
                for (size_t p = 0; p < l; p++)
                    in = in && strcmp(ref_label(&n[i], req->spread[p]), path[p]) == 0;
                if (!in)
                    continue;
                for (size_t k = 0; k < nn; k++) {
                    bool same = strcmp(ref_label(&n[k], req->spread[l]), v) == 0;
                    for (size_t p = 0; p < l; p++)
                        same = same && strcmp(ref_label(&n[k], req->spread[p]), path[p]) == 0;
                    if (!same)
                        continue;
                    s += n[k].service_tasks;
                    tot += n[k].n_tasks;
                    elig = elig || ref_ok(&n[k], req, placed[k]);
                }
                if (!elig)
                    continue;
                if (!bestv || s < bs ||
                    (s == bs && (tot < bt || (tot == bt && strcmp(v, bestv) < 0)))) {
                    bestv = v;
                    bs = s;
                    bt = tot;
                }
            }
            if (!bestv) {
                dead = true;
                break;
            }
            path[l] = bestv;
        }
        for (size_t i = 0; i < nn && !dead; i++) {
            bool in = true;
            for (size_t p = 0; p < req->n_spread; p++)
                in = in && strcmp(ref_label(&n[i], req->spread[p]), path[p]) == 0;
            if (!in || !ref_ok(&n[i], req, placed[i]))
                continue;
            if (best < 0 || n[i].service_tasks < n[best].service_tasks ||
                (n[i].service_tasks == n[best].service_tasks &&
                 (n[i].n_tasks < n[best].n_tasks ||
                  (n[i].n_tasks == n[best].n_tasks && strcmp(n[i].id, n[best].id) < 0))))
                best = (int)i;
        }
        ret[t] = best;
        if (best >= 0) {
            placed[best]++;
            n[best].service_tasks++;
            n[best].n_tasks++;
            n[best].reserved_cpus += req->nano_cpus;
            n[best].reserved_memory += req->memory;
        }
    }
}

static void rnd_cluster_make(struct rnd_cluster *c, size_t nn, unsigned *seed)
{
    c->port80 = (struct sched_port){"tcp", 80};
    for (size_t i = 0; i < nn; i++) {
        struct sched_node *n = &c->n[i];
        size_t nl = 0;
        snprintf(c->ids[i], sizeof(c->ids[i]), "n%02u", rnd(seed) % 100);
        *n = node_mk(c->ids[i]);
        n->ready = rnd(seed) % 8 != 0;
        n->availability = rnd(seed) % 10 == 0 ? SCHED_AVAIL_DRAIN : SCHED_AVAIL_ACTIVE;
        n->manager = rnd(seed) % 3 == 0;
        n->nano_cpus = (int64_t)(rnd(seed) % 8) * CPU;
        n->memory_bytes = (int64_t)(rnd(seed) % 16) * GB;
        n->service_tasks = rnd(seed) % 4;
        n->n_tasks = n->service_tasks + rnd(seed) % 5;
        if (rnd(seed) % 3)
            c->labels[i][nl++] = (struct sched_label){"zone", zone_vals[rnd(seed) % 3]};
        if (rnd(seed) % 3)
            c->labels[i][nl++] = (struct sched_label){"rack", rack_vals[rnd(seed) % 2]};
        n->labels = c->labels[i];
        n->n_labels = nl;
        if (rnd(seed) % 6 == 0) {
            n->ports_in_use = &c->port80;
            n->n_ports_in_use = 1;
        }
    }
}

static void test_sched_matches_reference(void **state)
{
    static const char *const spreads[] = {"node.labels.zone", "node.labels.rack"};
    static const char *const cons[] = {"node.role!=manager"};
    unsigned seed = 12345;

    (void)state;
    for (int iter = 0; iter < 400; iter++) {
        struct rnd_cluster c, ref;
        struct sched_port port80 = {"tcp", 80};
        struct sched_req req = {0};
        size_t nn = 1 + rnd(&seed) % 24, nt = rnd(&seed) % 60;
        int got[60], want[60];
        char reason[256];
        int placed;

        rnd_cluster_make(&c, nn, &seed);
        req.n_spread = rnd(&seed) % 3;
        req.spread = (const char *const *)spreads;
        if (rnd(&seed) % 2) {
            req.nano_cpus = (int64_t)(rnd(&seed) % 3) * CPU;
            req.memory = (int64_t)(rnd(&seed) % 4) * GB;
        }
        if (rnd(&seed) % 3 == 0)
            req.max_replicas = 1 + rnd(&seed) % 4;
        if (rnd(&seed) % 4 == 0)
            req.constraints = (const char *const *)cons, req.n_constraints = 1;
        if (rnd(&seed) % 5 == 0)
            req.host_ports = &port80, req.n_host_ports = 1;

        placed = sched_place(c.n, nn, &req, nt, got, reason, sizeof(reason), NULL);
        assert_true(placed >= 0);
        memcpy(&ref, &c, sizeof(c));
        for (size_t i = 0; i < nn; i++) { /* re-point into the copy */
            ref.n[i].id = ref.ids[i];
            ref.n[i].hostname = ref.ids[i];
            ref.n[i].labels = ref.labels[i];
            if (ref.n[i].n_ports_in_use)
                ref.n[i].ports_in_use = &ref.port80;
        }
        ref_place(ref.n, nn, &req, nt, want);
        for (size_t t = 0; t < nt; t++)
            if (got[t] != want[t])
                fail_msg("iter %d task %zu: got %d want %d (nodes %zu spread %zu)", iter, t, got[t],
                         want[t], nn, req.n_spread);
        if ((size_t)placed < nt)
            assert_non_null(strstr(reason, "no suitable node"));
        else
            assert_string_equal(reason, "");
    }
}

/* ---- scale ---------------------------------------------------------------- */

static void test_sched_large_batch(void **state)
{
    enum { NN = 10000, NT = 100000 };
    static const char *const zones[] = {"z0", "z1", "z2", "z3", "z4", "z5", "z6", "z7"};
    static const char *const kinds[] = {"ssd", "hdd"};
    struct sched_node *n = calloc(NN, sizeof(*n));
    struct sched_label(*labels)[2] = calloc(NN, sizeof(*labels));
    char(*ids)[16] = calloc(NN, sizeof(*ids));
    int *ret = calloc(NT, sizeof(*ret));
    size_t *per_node = calloc(NN, sizeof(*per_node));
    size_t per_zone[8] = {0}, lo[8], hi[8];
    const char *cons[] = {"node.labels.disk==ssd", "node.role!=manager"};
    const char *spread[] = {"node.labels.zone"};
    struct sched_req req = {.constraints = cons,
                            .n_constraints = 2,
                            .spread = spread,
                            .n_spread = 1,
                            .memory = 64 * 1024 * 1024};
    struct timespec t0, t1;
    double secs;
    int placed;

    (void)state;
    assert_non_null(n);
    assert_non_null(labels);
    assert_non_null(ids);
    assert_non_null(ret);
    assert_non_null(per_node);
    for (int i = 0; i < NN; i++) {
        snprintf(ids[i], sizeof(ids[i]), "node%05d", i);
        n[i] = node_mk(ids[i]);
        n[i].manager = i % 100 == 0;
        labels[i][0] = (struct sched_label){"zone", zones[i % 8]};
        labels[i][1] = (struct sched_label){"disk", kinds[(i / 8) % 2]};
        n[i].labels = labels[i];
        n[i].n_labels = 2;
        n[i].n_tasks = (uint64_t)(i % 7);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    placed = sched_place(n, NN, &req, NT, ret, NULL, 0, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("placed %d tasks on %d nodes in %.3f s\n", placed, NN, secs);
    assert_int_equal(placed, NT);
    for (int k = 0; k < NT; k++) {
        const struct sched_node *x = &n[ret[k]];
        assert_string_equal(x->labels[1].value, "ssd");
        assert_false(x->manager);
        per_node[ret[k]]++;
        per_zone[ret[k] % 8]++;
    }
    for (int z = 0; z < 8; z++) {
        assert_int_equal(per_zone[z], NT / 8);
        lo[z] = SIZE_MAX;
        hi[z] = 0;
    }
    for (int i = 0; i < NN; i++) {
        if (n[i].manager || (i / 8) % 2)
            continue;
        lo[i % 8] = per_node[i] < lo[i % 8] ? per_node[i] : lo[i % 8];
        hi[i % 8] = per_node[i] > hi[i % 8] ? per_node[i] : hi[i % 8];
    }
    for (int z = 0; z < 8; z++)
        assert_true(hi[z] - lo[z] <= 1);
    free(n);
    free(labels);
    free(ids);
    free(ret);
    free(per_node);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched_constraint_syntax_valid),
        cmocka_unit_test(test_sched_constraint_syntax_invalid),
        cmocka_unit_test(test_sched_place_rejects_bad_constraint),
        cmocka_unit_test(test_sched_constraint_node_attrs),
        cmocka_unit_test(test_sched_constraint_labels),
        cmocka_unit_test(test_sched_constraint_node_ip),
        cmocka_unit_test(test_sched_constraints_filter_in_place),
        cmocka_unit_test(test_sched_ready_filter),
        cmocka_unit_test(test_sched_resources_too_big),
        cmocka_unit_test(test_sched_resources_exhausted_in_batch),
        cmocka_unit_test(test_sched_mixed_reasons),
        cmocka_unit_test(test_sched_platform_filter),
        cmocka_unit_test(test_sched_host_port_filter),
        cmocka_unit_test(test_sched_max_replicas),
        cmocka_unit_test(test_sched_spread_even),
        cmocka_unit_test(test_sched_spread_from_uneven),
        cmocka_unit_test(test_sched_spread_tie_total_tasks),
        cmocka_unit_test(test_sched_deterministic),
        cmocka_unit_test(test_sched_spread_pref_label),
        cmocka_unit_test(test_sched_spread_pref_nested),
        cmocka_unit_test(test_sched_spread_pref_full_group),
        cmocka_unit_test(test_sched_node_check),
        cmocka_unit_test(test_sched_explain_text),
        cmocka_unit_test(test_sched_no_nodes_and_args),
        cmocka_unit_test(test_sched_account),
        cmocka_unit_test(test_sched_matches_reference),
        cmocka_unit_test(test_sched_large_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
