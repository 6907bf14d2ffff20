/*
 * tests/unit/test_monitor_exec.c - the exec pieces that run without a
 * container: exec id framing (runtime/monitor_proto.h), the RtExec message,
 * and the detach-key matcher (node/detach.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

#include "node/detach.h"
#include "proto/runtime.pb-c.h"
#include "runtime/monitor_proto.h"

static void test_exec_id_roundtrip(void **state)
{
    unsigned char p[1 + MON_EXEC_ID_MAX + 8];
    const char *id = NULL;
    size_t idlen = 0, pre;

    (void)state;
    pre = mon_put_exec_id(p, "abc", 3);
    assert_int_equal(pre, 4);
    memcpy(p + pre, "data", 4);
    assert_int_equal(mon_get_exec_id(p, pre + 4, &id, &idlen), 4);
    assert_int_equal(idlen, 3);
    assert_memory_equal(id, "abc", 3);
    assert_memory_equal(p + pre, "data", 4);
}

static void test_exec_id_malformed(void **state)
{
    unsigned char p[70] = {0};
    const char *id;
    size_t idlen;

    (void)state;
    assert_int_equal(mon_get_exec_id(p, 0, &id, &idlen), 0); /* empty */
    assert_int_equal(mon_get_exec_id(p, 5, &id, &idlen), 0); /* length 0 */
    p[0] = 10;
    assert_int_equal(mon_get_exec_id(p, 5, &id, &idlen), 0); /* truncated */
    p[0] = MON_EXEC_ID_MAX + 1;
    assert_int_equal(mon_get_exec_id(p, 70, &id, &idlen), 0); /* too long */
    /* an over-long id is truncated when written */
    {
        char big[100];
        memset(big, 'x', sizeof(big));
        assert_int_equal(mon_put_exec_id(p, big, sizeof(big)), 1 + MON_EXEC_ID_MAX);
    }
}

static void test_rt_exec_pack(void **state)
{
    Shoal__Rt__RtExec x = SHOAL__RT__RT_EXEC__INIT, *y;
    char *args[] = {(char *)"sh", (char *)"-c", (char *)"exit 3"};
    char *env[] = {(char *)"A=1"};
    uint8_t buf[256];
    size_t len;

    (void)state;
    x.id = (char *)"e1";
    x.n_args = 3;
    x.args = args;
    x.n_env = 1;
    x.env = env;
    x.tty = true;
    x.console_rows = 40;
    x.console_cols = 100;
    len = shoal__rt__rt_exec__pack(&x, buf);
    y = shoal__rt__rt_exec__unpack(NULL, len, buf);
    assert_non_null(y);
    assert_string_equal(y->id, "e1");
    assert_int_equal(y->n_args, 3);
    assert_string_equal(y->args[2], "exit 3");
    assert_true(y->tty);
    assert_false(y->open_stdin);
    assert_int_equal(y->console_rows, 40);
    assert_int_equal(y->console_cols, 100);
    shoal__rt__rt_exec__free_unpacked(y, NULL);
}

static void collect(void *arg, const char *data, size_t len)
{
    (void)buf_append(arg, data, len);
}

static void test_detach_parse(void **state)
{
    struct node_detach d;

    (void)state;
    assert_int_equal(node_detach_parse(NULL, &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.keys[0], 16);
    assert_int_equal(d.keys[1], 17);
    assert_int_equal(node_detach_parse("ctrl-x,a,ctrl-@,ctrl-[", &d), 0);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.keys[0], 24);
    assert_int_equal(d.keys[1], 'a');
    assert_int_equal(d.keys[2], 0);
    assert_int_equal(d.keys[3], 27);
    assert_int_equal(node_detach_parse("ctrl-1", &d), -EINVAL);
    assert_int_equal(node_detach_parse("foo", &d), -EINVAL);
    assert_int_equal(node_detach_parse(",", &d), -EINVAL);
}

static void test_detach_feed(void **state)
{
    struct node_detach d;
    struct buf out;

    (void)state;
    buf_init(&out);
    assert_int_equal(node_detach_parse("ctrl-p,ctrl-q", &d), 0);
    /* plain bytes pass */
    assert_false(node_detach_feed(&d, "ab", 2, collect, &out));
    /* a held ctrl-p across calls, then broken by 'c': both pass, in order */
    assert_false(node_detach_feed(&d, "x\x10", 2, collect, &out));
    assert_false(node_detach_feed(&d, "c", 1, collect, &out));
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data,
                        "abx\x10"
                        "c",
                        5);
    /* ctrl-p ctrl-p ctrl-q: the first ctrl-p passes, the sequence detaches */
    out.len = 0;
    assert_true(node_detach_feed(&d, "z\x10\x10\x11tail", 8, collect, &out));
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "z\x10", 2);
    /* split over calls */
    out.len = 0;
    assert_false(node_detach_feed(&d, "\x10", 1, collect, &out));
    assert_true(node_detach_feed(&d, "\x11", 1, collect, &out));
    assert_int_equal(out.len, 0);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_id_roundtrip), cmocka_unit_test(test_exec_id_malformed),
        cmocka_unit_test(test_rt_exec_pack),      cmocka_unit_test(test_detach_parse),
        cmocka_unit_test(test_detach_feed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
