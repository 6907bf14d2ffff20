/* tests/unit/test_health.c - health check config parsing and state machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"

#include "runtime/runtime.h"

static void test_parse(void **state)
{
    struct rt_health_cfg cfg;
    struct err err = {0};
    json_t *test = NULL;
    json_t *hc;

    (void)state;
    assert_int_equal(rt_health_parse(NULL, &cfg, &test, &err), 0);
    assert_false(cfg.enabled);

    hc = json_pack("{s:[s, s]}", "Test", "CMD-SHELL", "curl -f x || exit 1");
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), 0);
    assert_true(cfg.enabled);
    assert_int_equal(cfg.interval_ms, RT_HEALTH_DEFAULT_INTERVAL_MS);
    assert_int_equal(cfg.timeout_ms, RT_HEALTH_DEFAULT_TIMEOUT_MS);
    assert_int_equal(cfg.retries, 3);
    assert_int_equal(json_array_size(test), 3);
    assert_string_equal(json_string_value(json_array_get(test, 0)), "/bin/sh");
    assert_string_equal(json_string_value(json_array_get(test, 2)), "curl -f x || exit 1");
    json_decref(test);
    json_decref(hc);

    hc = json_pack("{s:[s, s, s], s:I, s:I, s:I, s:i}", "Test", "CMD", "true", "x", "Interval",
                   (json_int_t)2000000000, "Timeout", (json_int_t)500000000, "StartPeriod",
                   (json_int_t)1000000000, "Retries", 5);
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), 0);
    assert_int_equal(cfg.interval_ms, 2000);
    assert_int_equal(cfg.timeout_ms, 500);
    assert_int_equal(cfg.start_period_ms, 1000);
    assert_int_equal(cfg.retries, 5);
    assert_int_equal(json_array_size(test), 2);
    json_decref(test);
    json_decref(hc);

    hc = json_pack("{s:[s]}", "Test", "NONE");
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), 0);
    assert_false(cfg.enabled);
    assert_null(test);
    json_decref(hc);

    hc = json_pack("{s:[s, s]}", "Test", "BOGUS", "x");
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), -EINVAL);
    json_decref(hc);
    hc = json_pack("{s:[s, s], s:i}", "Test", "CMD", "x", "Interval", 5);
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), -EINVAL);
    json_decref(hc);
    hc = json_pack("{s:[s, s], s:i}", "Test", "CMD", "x", "Retries", -1);
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), -EINVAL);
    json_decref(hc);
    hc = json_pack("{s:[s, i]}", "Test", "CMD", 3);
    assert_int_equal(rt_health_parse(hc, &cfg, &test, &err), -EINVAL);
    json_decref(hc);
}

static void test_apply(void **state)
{
    struct rt_health_cfg cfg = {.enabled = true, .retries = 2, .start_period_ms = 1000};
    struct rt_health_state st = {.status = RT_HEALTH_STARTING};

    (void)state;
    /* failures in the start period are ignored */
    rt_health_apply(&st, &cfg, 1, 100);
    rt_health_apply(&st, &cfg, 1, 900);
    assert_int_equal(st.status, RT_HEALTH_STARTING);
    assert_int_equal(st.failing, 0);
    /* after it they count */
    rt_health_apply(&st, &cfg, 1, 1100);
    assert_int_equal(st.status, RT_HEALTH_STARTING);
    assert_int_equal(st.failing, 1);
    rt_health_apply(&st, &cfg, 1, 1200);
    assert_int_equal(st.status, RT_HEALTH_UNHEALTHY);
    assert_int_equal(st.failing, 2);
    /* success resets */
    rt_health_apply(&st, &cfg, 0, 1300);
    assert_int_equal(st.status, RT_HEALTH_HEALTHY);
    assert_int_equal(st.failing, 0);
    /* once healthy, a failure in the (former) start period counts */
    rt_health_apply(&st, &cfg, 1, 1400);
    assert_int_equal(st.status, RT_HEALTH_HEALTHY);
    assert_int_equal(st.failing, 1);
    rt_health_apply(&st, &cfg, -1, 1500);
    assert_int_equal(st.status, RT_HEALTH_UNHEALTHY);
    /* success in the start period: healthy at once */
    st = (struct rt_health_state){.status = RT_HEALTH_STARTING};
    rt_health_apply(&st, &cfg, 0, 10);
    assert_int_equal(st.status, RT_HEALTH_HEALTHY);
    assert_string_equal(rt_health_status_name(st.status), "healthy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
