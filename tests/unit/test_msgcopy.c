/* Unit tests for manager/msgcopy.c: a one-block deep copy encodes to the same
 * bytes as its original, shares no memory with it, and keeps oneofs,
 * repeated fields, bytes, defaults and unknown fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manager/store.h"

static uint8_t *packed(const void *msg, size_t *len)
{
    uint8_t *b;

    *len = protobuf_c_message_get_packed_size(msg);
    b = malloc(*len ? *len : 1);
    assert_non_null(b);
    protobuf_c_message_pack(msg, b);
    return b;
}

static void same_bytes(const void *a, const void *b)
{
    size_t la, lb;
    uint8_t *pa = packed(a, &la), *pb = packed(b, &lb);

    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
}

/* Is p inside [block, block + n)? */
static bool inside(const void *p, const void *block, size_t n)
{
    return (const char *)p >= (const char *)block && (const char *)p < (const char *)block + n;
}

static void test_command(void **state)
{
    Shoal__Store__Label l1 = SHOAL__STORE__LABEL__INIT, l2 = SHOAL__STORE__LABEL__INIT;
    Shoal__Store__Label *labels[] = {&l1, &l2};
    MgrNodeSpec spec = SHOAL__STORE__NODE_SPEC__INIT;
    Shoal__Store__NodeUpdate up = SHOAL__STORE__NODE_UPDATE__INIT;
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT, *c;
    uint8_t reqid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    char key[] = "zone", value[] = "east", id[] = "n1";
    size_t len;
    uint8_t *raw;

    (void)state;
    l1.key = key;
    l1.value = value;
    l2.key = (char *)"empty"; /* value stays the static default */
    spec.labels = labels;
    spec.n_labels = 2;
    spec.role = MGR_ROLE_MANAGER;
    up.id = id;
    up.version = 42;
    up.spec = &spec;
    cmd.request_id.data = reqid;
    cmd.request_id.len = sizeof(reqid);
    cmd.timestamp_ns = 123456789;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE;
    cmd.node_update = &up;

    c = mgr_msg_dup(&cmd);
    assert_non_null(c);
    same_bytes(&cmd, c);
    raw = packed(&cmd, &len);
    /* everything the copy points at is its own (or a static default) */
    assert_ptr_not_equal(c->request_id.data, reqid);
    assert_memory_equal(c->request_id.data, reqid, sizeof(reqid));
    assert_int_equal(c->op_case, SHOAL__STORE__STORE_COMMAND__OP_NODE_UPDATE);
    assert_ptr_not_equal(c->node_update, &up);
    assert_ptr_not_equal(c->node_update->spec->labels[0]->key, key);
    assert_string_equal(c->node_update->spec->labels[0]->key, "zone");
    assert_string_equal(c->node_update->spec->labels[1]->value, "");
    assert_null(c->pad.data);
    /* changing the original does not change the copy */
    key[0] = 'Z';
    reqid[0] = 99;
    assert_string_equal(c->node_update->spec->labels[0]->key, "zone");
    assert_int_equal(c->request_id.data[0], 1);
    mgr_msg_free(c);

    /* a decoded command copies the same way */
    c = mgr_cmd_unpack(raw, len);
    assert_non_null(c);
    MgrCommand *d = mgr_msg_dup(c);
    same_bytes(c, d);
    mgr_cmd_free(c);
    mgr_msg_free(d);
    free(raw);
}

static void test_node(void **state)
{
    MgrNode n = SHOAL__STORE__NODE__INIT, *c;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;
    MgrNodeSpec spec = SHOAL__STORE__NODE_SPEC__INIT;
    MgrNodeDescription desc = SHOAL__STORE__NODE_DESCRIPTION__INIT;
    Shoal__Store__Plugin p1 = SHOAL__STORE__PLUGIN__INIT, p2 = SHOAL__STORE__PLUGIN__INIT;
    Shoal__Store__Plugin *plugins[] = {&p1, &p2};
    size_t size;

    (void)state;
    n.id = (char *)"abcdef";
    meta.version = 7;
    n.meta = &meta;
    spec.name = (char *)"worker-1";
    n.spec = &spec;
    desc.hostname = (char *)"h1";
    desc.nano_cpus = 2000000000;
    p1.type = (char *)"Network";
    p1.name = (char *)"bridge";
    p2.type = (char *)"Volume";
    desc.plugins = plugins;
    desc.n_plugins = 2;
    n.description = &desc;
    n.raft_id = 0x1234;

    c = mgr_msg_dup(&n);
    assert_non_null(c);
    same_bytes(&n, c);
    assert_null(c->status);
    assert_null(c->manager_status);
    size = sizeof(*c) + 4096; /* the block is small: all of it is near c */
    assert_true(inside(c->spec, c, size));
    assert_true(inside(c->description->plugins, c, size));
    assert_true(inside(c->description->plugins[1]->type, c, size));
    assert_string_equal(c->description->plugins[1]->name, "");
    mgr_msg_free(c);

    /* an empty message */
    n = (MgrNode)SHOAL__STORE__NODE__INIT;
    c = mgr_msg_dup(&n);
    assert_non_null(c);
    same_bytes(&n, c);
    mgr_msg_free(c);
    assert_null(mgr_msg_dup(NULL));
}

/* Fields a newer version added (unknown here) survive the copy. */
static void test_unknown_fields(void **state)
{
    /* Label{key="k"} followed by field 9 (varint 5) and field 10 (bytes "xyz") */
    static const uint8_t wire[] = {0x0a, 0x01, 'k', 0x48, 0x05, 0x52, 0x03, 'x', 'y', 'z'};
    Shoal__Store__Label *l, *c;

    (void)state;
    l = shoal__store__label__unpack(NULL, sizeof(wire), wire);
    assert_non_null(l);
    assert_int_equal(l->base.n_unknown_fields, 2);
    c = mgr_msg_dup(l);
    assert_non_null(c);
    assert_int_equal(c->base.n_unknown_fields, 2);
    assert_ptr_not_equal(c->base.unknown_fields, l->base.unknown_fields);
    same_bytes(l, c);
    shoal__store__label__free_unpacked(l, NULL);
    mgr_msg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_unknown_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
