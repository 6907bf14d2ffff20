/*
 * tests/unit/test_monitor_log.c - the monitor's json-file log writer: JSON
 * escaping, dockerd-style line splitting (16 KiB partials, EOF flush) and
 * rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"

#include "runtime/monitor/monitor.h"

#define T0 1795341600123456789LL /* 2026-11-22T10:00:00.123456789Z */

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/shoal-monlog-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rm_rf(g_dir);
}

static char *escape(const void *s, size_t len)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(mon_json_escape(&b, s, len), 0);
    if (!b.data)
        return strdup("");
    return buf_steal(&b);
}

static void test_monitor_log_escape(void **state)
{
    char *s;

    (void)state;
    s = escape("plain text", 10);
    assert_string_equal(s, "plain text");
    free(s);
    s = escape("a\"b\\c\n\r\t\x01\x1f", 10);
    assert_string_equal(s, "a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f");
    free(s);
    s = escape("<a&b>", 5);
    assert_string_equal(s, "\\u003ca\\u0026b\\u003e");
    free(s);
    /* NUL inside the data */
    s = escape("x\0y", 3);
    assert_string_equal(s, "x\\u0000y");
    free(s);
    /* valid UTF-8 is kept: é, €, 😀 */
    s = escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    assert_string_equal(s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    free(s);
    /* invalid: lone continuation, truncated sequence, overlong, surrogate, > U+10FFFF */
    s = escape("\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80", 15);
    assert_string_equal(s, "\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
                           "\\ufffd\\ufffd\\ufffd\\ufffd");
    free(s);
    /* U+2028 / U+2029 like Go */
    s = escape("\xe2\x80\xa8\xe2\x80\xa9", 6);
    assert_string_equal(s, "\\u2028\\u2029");
    free(s);
}

static char *read_log(const char *name)
{
    char p[128];
    char *data = NULL;

    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    if (read_file(p, &data, NULL, 1 << 24) < 0)
        return NULL;
    return data;
}

static void test_monitor_log_lines(void **state)
{
    struct mon_jsonlog l;
    char p[128];
    char *log;

    (void)state;
    snprintf(p, sizeof(p), "%s/a.log", g_dir);
    assert_int_equal(mon_jsonlog_open(&l, p, 0, 0, NULL), 0);
    assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDOUT, "hel", 3, T0), 0);
    assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDERR, "oops\n", 5, T0), 0);
    assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDOUT, "lo\nwor", 6, T0), 0);
    assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDOUT, "ld\n\ntail", 8, T0), 0);
    assert_int_equal(mon_jsonlog_flush(&l, MON_STREAM_STDOUT, T0), 0);
    assert_int_equal(mon_jsonlog_flush(&l, MON_STREAM_STDERR, T0), 0);
    mon_jsonlog_close(&l);
    log = read_log("a.log");
    assert_non_null(log);
    assert_string_equal(
        log,
        "{\"log\":\"oops\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n"
        "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n"
        "{\"log\":\"world\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n"
        "{\"log\":\"\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n"
        "{\"log\":\"tail\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.123456789Z\"}\n");
    free(log);
}

static void test_monitor_log_partial(void **state)
{
    struct mon_jsonlog l;
    char p[128];
    char *big = malloc(40000);
    char *log, *line2, *line3;

    (void)state;
    memset(big, 'x', 40000);
    big[39999] = '\n';
    snprintf(p, sizeof(p), "%s/b.log", g_dir);
    assert_int_equal(mon_jsonlog_open(&l, p, 0, 0, NULL), 0);
    /* 40000 bytes in odd chunks: entries of 16384, 16384, then 7232 with the '\n' */
    for (size_t off = 0; off < 40000; off += 7000)
        assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDOUT, big + off,
                                          off + 7000 > 40000 ? 40000 - off : 7000, T0),
                         0);
    mon_jsonlog_close(&l);
    free(big);
    log = read_log("b.log");
    assert_non_null(log);
    line2 = strchr(log, '\n') + 1;
    line3 = strchr(line2, '\n') + 1;
    assert_int_equal(strchr(line2, '\n') + 1, line3);
    assert_int_equal(line2 - log, 8 + 16384 + 60 + 1);
    assert_int_equal(line3 - line2, 8 + 16384 + 60 + 1);
    assert_int_equal(strlen(line3), 8 + 7231 + 2 + 60 + 1);
    assert_non_null(strstr(line3, "x\\n\",\"stream\""));
    free(log);
}

static void test_monitor_log_rotate(void **state)
{
    struct mon_jsonlog l;
    char p[128];
    char *a, *b, *c;

    (void)state;
    snprintf(p, sizeof(p), "%s/r.log", g_dir);
    /* each entry is 73 bytes: 2 entries per file */
    assert_int_equal(mon_jsonlog_open(&l, p, 140, 3, NULL), 0);
    for (int i = 0; i < 7; i++) {
        char line[16];
        snprintf(line, sizeof(line), "l%d\n", i);
        assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDOUT, line, 3, T0), 0);
    }
    mon_jsonlog_close(&l);
    a = read_log("r.log");
    b = read_log("r.log.1");
    c = read_log("r.log.2");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_null(read_log("r.log.3"));
    assert_non_null(strstr(a, "\"l6\\n\""));
    assert_null(strstr(a, "\"l5\\n\""));
    assert_non_null(strstr(b, "\"l4\\n\""));
    assert_non_null(strstr(b, "\"l5\\n\""));
    assert_non_null(strstr(c, "\"l2\\n\""));
    assert_non_null(strstr(c, "\"l3\\n\""));
    free(a);
    free(b);
    free(c);
}

static void test_monitor_log_disabled(void **state)
{
    struct mon_jsonlog l;

    (void)state;
    assert_int_equal(mon_jsonlog_open(&l, "", 0, 0, NULL), 0);
    assert_int_equal(mon_jsonlog_feed(&l, MON_STREAM_STDOUT, "x\n", 2, T0), 0);
    assert_int_equal(mon_jsonlog_flush(&l, MON_STREAM_STDOUT, T0), 0);
    mon_jsonlog_close(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitor_log_escape),   cmocka_unit_test(test_monitor_log_lines),
        cmocka_unit_test(test_monitor_log_partial),  cmocka_unit_test(test_monitor_log_rotate),
        cmocka_unit_test(test_monitor_log_disabled),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
