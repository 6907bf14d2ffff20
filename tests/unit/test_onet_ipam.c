/* tests/unit/test_onet_ipam.c - CIDR parsing and address pools (no root). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "overlaynet/internal.h"

static void test_onet_cidr_parse(void **state)
{
    struct onet_cidr c;
    char out[19];

    (void)state;
    assert_int_equal(onet__cidr_parse("172.18.0.1/16", &c), 0);
    assert_int_equal(c.addr, 0xac120001u);
    assert_int_equal(c.prefix, 16);
    onet__cidr_fmt(c, out);
    assert_string_equal(out, "172.18.0.0/16");
    assert_int_equal(onet__cidr_parse("10.0.0.0/33", &c), -EINVAL);
    assert_int_equal(onet__cidr_parse("10.0.0.0", &c), -EINVAL);
    assert_int_equal(onet__cidr_parse("10.0.0/8", &c), -EINVAL);
    assert_int_equal(onet__cidr_parse("10.0.0.0/", &c), -EINVAL);
    assert_int_equal(onet__cidr_parse("10.0.0.0/-1", &c), -EINVAL);
    assert_int_equal(onet__cidr_parse("10.0.0.0/8x", &c), -EINVAL);
    assert_int_equal(onet__cidr_parse("banana/8", &c), -EINVAL);
}

static void test_onet_cidr_overlap(void **state)
{
    struct onet_cidr a, b;

    (void)state;
    assert_int_equal(onet__cidr_parse("10.1.0.0/16", &a), 0);
    assert_int_equal(onet__cidr_parse("10.1.200.0/24", &b), 0);
    assert_true(onet__cidr_overlap(a, b));
    assert_true(onet__cidr_overlap(b, a));
    assert_int_equal(onet__cidr_parse("10.2.0.0/24", &b), 0);
    assert_false(onet__cidr_overlap(a, b));
    assert_true(onet__cidr_contains(a, 0x0a01ff01u));
    assert_false(onet__cidr_contains(a, 0x0a02ff01u));
}

static void test_onet_pool_alloc(void **state)
{
    struct onet_pool p;
    struct onet_cidr c;
    uint32_t ip, seen[6];

    (void)state;
    assert_int_equal(onet__cidr_parse("10.9.9.0/29", &c), 0); /* 6 usable */
    assert_int_equal(onet__pool_init(&p, c), 0);
    assert_int_equal(onet__pool_take(&p, 0x0a090901u), 0); /* gateway */
    assert_int_equal(onet__pool_take(&p, 0x0a090901u), -EEXIST);
    assert_int_equal(onet__pool_take(&p, 0x0a090900u), -EINVAL); /* network */
    assert_int_equal(onet__pool_take(&p, 0x0a090907u), -EINVAL); /* broadcast */
    assert_int_equal(onet__pool_take(&p, 0x0a0a0901u), -EINVAL); /* outside */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(onet__pool_alloc(&p, &seen[i]), 0);
        assert_int_equal(seen[i], 0x0a090902u + (uint32_t)i);
    }
    assert_int_equal(onet__pool_alloc(&p, &ip), -ENOSPC);
    onet__pool_put(&p, seen[1]);
    assert_int_equal(onet__pool_alloc(&p, &ip), 0);
    assert_int_equal(ip, seen[1]);
    onet__pool_release(&p);
    assert_int_equal(onet__cidr_parse("10.0.0.0/31", &c), 0);
    assert_int_equal(onet__pool_init(&p, c), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onet_cidr_parse),
        cmocka_unit_test(test_onet_cidr_overlap),
        cmocka_unit_test(test_onet_pool_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
