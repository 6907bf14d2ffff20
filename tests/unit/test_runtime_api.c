/* Unit tests for the runtime's API-facing helpers: status texts, command
 * display, capability and signal names. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/runtime.h"

int rt_signal_parse(const char *s);

static void test_status_text(void **state)
{
    char out[96];
    const int64_t s = 1000000000LL;

    (void)state;
    rt_status_text(RT_STATE_RUNNING, 0, 100 * s, 0, 110 * s, out, sizeof(out));
    assert_string_equal(out, "Up 10 seconds");
    rt_status_text(RT_STATE_EXITED, 137, 100 * s, 200 * s, 201 * s, out, sizeof(out));
    assert_string_equal(out, "Exited (137) 1 second ago");
    rt_status_text(RT_STATE_CREATED, 0, 0, 0, 5 * s, out, sizeof(out));
    assert_string_equal(out, "Created");
    rt_status_text(RT_STATE_REMOVING, 0, 0, 0, 5 * s, out, sizeof(out));
    assert_string_equal(out, "Removal In Progress");
}

static void test_command_display_quotes_like_docker(void **state)
{
    json_t *a = json_pack("[s,s,s]", "sh", "-c", "trap \"exit 0\" TERM; sleep 1");
    char *s = rt_command_display(a);

    (void)state;
    assert_string_equal(s, "sh -c 'trap \"exit 0\" TERM; sleep 1'");
    free(s);
    json_decref(a);
    a = json_pack("[s,s]", "echo", "it's");
    s = rt_command_display(a);
    assert_string_equal(s, "echo 'it'\"'\"'s'");
    free(s);
    json_decref(a);
    a = json_pack("[s,s]", "sleep", "1000");
    s = rt_command_display(a);
    assert_string_equal(s, "sleep 1000");
    free(s);
    json_decref(a);
}

static void test_cap_parse(void **state)
{
    uint64_t m;

    (void)state;
    assert_int_equal(rt_cap_parse("NET_ADMIN", &m), 0);
    assert_int_equal(m, 1ULL << 12);
    assert_int_equal(rt_cap_parse("cap_sys_admin", &m), 0);
    assert_int_equal(m, 1ULL << 21);
    assert_int_equal(rt_cap_parse("ALL", &m), 0);
    assert_true((m & RT_DEFAULT_CAPS) == RT_DEFAULT_CAPS);
    assert_int_equal(rt_cap_parse("NOPE", &m), -EINVAL);
    /* The 14 default capabilities are Docker's mask. */
    static const char *const defaults[] = {
        "CHOWN",   "DAC_OVERRIDE", "FSETID",           "FOWNER",
        "MKNOD",   "NET_RAW",      "SETGID",           "SETUID",
        "SETFCAP", "SETPCAP",      "NET_BIND_SERVICE", "SYS_CHROOT",
        "KILL",    "AUDIT_WRITE"};
    uint64_t all = 0;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        assert_int_equal(rt_cap_parse(defaults[i], &m), 0);
        all |= m;
    }
    assert_int_equal(all, RT_DEFAULT_CAPS);
}

static void test_signal_parse(void **state)
{
    (void)state;
    assert_int_equal(rt_signal_parse("TERM"), SIGTERM);
    assert_int_equal(rt_signal_parse("SIGKILL"), SIGKILL);
    assert_int_equal(rt_signal_parse("hup"), SIGHUP);
    assert_int_equal(rt_signal_parse("9"), 9);
    assert_int_equal(rt_signal_parse("0"), -EINVAL);
    assert_int_equal(rt_signal_parse("65"), -EINVAL);
    assert_int_equal(rt_signal_parse("SIGNOPE"), -EINVAL);
    assert_int_equal(rt_signal_parse(""), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_command_display_quotes_like_docker),
        cmocka_unit_test(test_cap_parse),
        cmocka_unit_test(test_signal_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
