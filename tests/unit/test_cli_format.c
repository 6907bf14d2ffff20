/* Unit tests for cli/format.c and cli/stdcopy.c: human units, truncation,
 * quoting, ports, tables, json.Indent, URL escaping, templates, timestamps
 * and stdcopy demultiplexing across arbitrary read boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

#include "cli/cli.h"

static void test_human_size(void **state)
{
    char s[32];

    (void)state;
    cli_human_size(4270000, s, sizeof(s));
    assert_string_equal(s, "4.27MB");
    cli_human_size(1200, s, sizeof(s));
    assert_string_equal(s, "1.2kB");
    cli_human_size(1982256, s, sizeof(s));
    assert_string_equal(s, "1.98MB");
    cli_human_size(0, s, sizeof(s));
    assert_string_equal(s, "0B");
    cli_human_size(999, s, sizeof(s));
    assert_string_equal(s, "999B");
    cli_human_size(1000, s, sizeof(s));
    assert_string_equal(s, "1kB");
    cli_human_size(1880, s, sizeof(s));
    assert_string_equal(s, "1.88kB");
    cli_human_size(72800000000.0, s, sizeof(s));
    assert_string_equal(s, "72.8GB");
}

static void test_human_duration(void **state)
{
    char s[64];

    (void)state;
    cli_human_duration(0, s, sizeof(s));
    assert_string_equal(s, "Less than a second");
    cli_human_duration(1, s, sizeof(s));
    assert_string_equal(s, "1 second");
    cli_human_duration(59, s, sizeof(s));
    assert_string_equal(s, "59 seconds");
    cli_human_duration(60, s, sizeof(s));
    assert_string_equal(s, "About a minute");
    cli_human_duration(119, s, sizeof(s));
    assert_string_equal(s, "About a minute");
    cli_human_duration(120, s, sizeof(s));
    assert_string_equal(s, "2 minutes");
    cli_human_duration(3599, s, sizeof(s));
    assert_string_equal(s, "59 minutes");
    cli_human_duration(3600, s, sizeof(s));
    assert_string_equal(s, "About an hour");
    cli_human_duration(90LL * 60, s, sizeof(s)); /* Go rounds 1.5h to 2 */
    assert_string_equal(s, "2 hours");
    cli_human_duration(47LL * 3600, s, sizeof(s));
    assert_string_equal(s, "47 hours");
    cli_human_duration(3LL * 86400, s, sizeof(s));
    assert_string_equal(s, "3 days");
    cli_human_duration(20LL * 86400, s, sizeof(s));
    assert_string_equal(s, "2 weeks");
    cli_human_duration(90LL * 86400, s, sizeof(s));
    assert_string_equal(s, "3 months");
    cli_human_duration(800LL * 86400, s, sizeof(s));
    assert_string_equal(s, "2 years");
}

static void test_ellipsis_quote(void **state)
{
    char *e, *q;

    (void)state;
    e = cli_ellipsis("sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'", 20);
    assert_string_equal(e, "sh -c 'trap \"exit 0\xe2\x80\xa6");
    assert_int_equal(cli_rune_count(e), 20);
    q = cli_go_quote(e);
    assert_string_equal(q, "\"sh -c 'trap \\\"exit 0\xe2\x80\xa6\"");
    free(e);
    free(q);
    e = cli_ellipsis("true", 20);
    assert_string_equal(e, "true");
    free(e);
    e = cli_ellipsis("12345678901234567890", 20); /* exactly 20: untouched */
    assert_string_equal(e, "12345678901234567890");
    free(e);
    e = cli_ellipsis("\xc3\xa9\xc3\xa9\xc3\xa9", 2); /* runes, not bytes */
    assert_string_equal(e, "\xc3\xa9\xe2\x80\xa6");
    free(e);
    q = cli_go_quote("a\tb\nc\\d\x01\xff");
    assert_string_equal(q, "\"a\\tb\\nc\\\\d\\x01\\xff\"");
    free(q);
}

static void test_ports(void **state)
{
    json_t *p;
    char *s;

    (void)state;
    p = json_loads("[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":18080,\"Type\":\"tcp\"},"
                   "{\"IP\":\"::\",\"PrivatePort\":80,\"PublicPort\":18080,\"Type\":\"tcp\"}]",
                   0, NULL);
    s = cli_ports_string(p);
    assert_string_equal(s, "0.0.0.0:18080->80/tcp, [::]:18080->80/tcp");
    free(s);
    json_decref(p);
    p = json_loads("[{\"PrivatePort\":81,\"Type\":\"tcp\"},{\"PrivatePort\":80,\"Type\":\"tcp\"},"
                   "{\"PrivatePort\":53,\"Type\":\"udp\"},"
                   "{\"IP\":\"0.0.0.0\",\"PrivatePort\":90,\"PublicPort\":90,\"Type\":\"tcp\"}]",
                   0, NULL);
    s = cli_ports_string(p);
    assert_string_equal(s, "53/udp, 80-81/tcp, 0.0.0.0:90->90/tcp");
    free(s);
    json_decref(p);
    s = cli_ports_string(NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_table(void **state)
{
    struct cli_table t;
    struct buf out;
    const char *h[] = {"CONTAINER ID", "IMAGE", "COMMAND", "NAMES"};
    const char *r1[] = {"96b6a7e9d8d2", "bb:latest", "\"sh -c 'trap \\\"exit 0\xe2\x80\xa6\"",
                        "ref-c1"};

    (void)state;
    buf_init(&out);
    cli_table_init(&t, 4);
    assert_int_equal(cli_table_add(&t, h), 0);
    assert_int_equal(cli_table_render(&t, &out), 0);
    assert_string_equal(out.data, "CONTAINER ID   IMAGE     COMMAND   NAMES\n");
    buf_release(&out);
    assert_int_equal(cli_table_add(&t, r1), 0);
    assert_int_equal(cli_table_render(&t, &out), 0);
    assert_string_equal(out.data,
                        "CONTAINER ID   IMAGE       COMMAND                   NAMES\n"
                        "96b6a7e9d8d2   bb:latest   \"sh -c 'trap \\\"exit 0\xe2\x80\xa6\"   "
                        "ref-c1\n");
    buf_release(&out);
    cli_table_release(&t);
}

static void test_json_indent(void **state)
{
    struct buf out;
    const char *src = "[{\"Id\":\"a b\",\"E\":{},\"L\":[],\"N\":[1, 2],\"S\":\"x\\\"]\"}\n]";

    (void)state;
    buf_init(&out);
    assert_int_equal(cli_json_indent(&out, src, strlen(src), ""), 0);
    assert_string_equal(out.data, "[\n"
                                  "    {\n"
                                  "        \"Id\": \"a b\",\n"
                                  "        \"E\": {},\n"
                                  "        \"L\": [],\n"
                                  "        \"N\": [\n"
                                  "            1,\n"
                                  "            2\n"
                                  "        ],\n"
                                  "        \"S\": \"x\\\"]\"\n"
                                  "    }\n"
                                  "]");
    buf_release(&out);
}

static void test_query(void **state)
{
    struct buf q;

    (void)state;
    buf_init(&q);
    assert_int_equal(cli_query_add(&q, "changes", "CMD [\"sh\"]"), 0);
    assert_int_equal(cli_query_add(&q, "fromSrc", "-"), 0);
    assert_int_equal(cli_query_add(&q, "repo", "ref-imp:v1"), 0);
    assert_string_equal(q.data, "changes=CMD+%5B%22sh%22%5D&fromSrc=-&repo=ref-imp%3Av1");
    buf_release(&q);
    assert_int_equal(cli_path_escape(&q, "127.0.0.1:5111/ref pull:latest"), 0);
    assert_string_equal(q.data, "127.0.0.1:5111/ref%20pull:latest");
    buf_release(&q);
}

static void test_template(void **state)
{
    json_t *v = json_loads("{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Pid\":42,"
                           "\"Running\":true},\"Config\":{\"Cmd\":[\"sh\",\"-c\"],"
                           "\"Labels\":{\"b\":\"2\",\"a\":\"1\"}}}",
                           0, NULL);
    struct buf out;
    struct err err;

    (void)state;
    buf_init(&out);
    assert_int_equal(cli_template_exec("{{.State.Status}} {{ .Id }}/{{.State.Pid}}", v, &out, &err),
                     0);
    assert_string_equal(out.data, "running abc/42");
    buf_release(&out);
    assert_int_equal(
        cli_template_exec("{{json .Config.Cmd}} {{.Config.Labels}} {{.Nope}}", v, &out, &err), 0);
    assert_string_equal(out.data, "[\"sh\",\"-c\"] map[a:1 b:2] <no value>");
    buf_release(&out);
    assert_int_equal(cli_template_exec("{{.State.Running}} {{.Config.Cmd}}", v, &out, &err), 0);
    assert_string_equal(out.data, "true [sh -c]");
    buf_release(&out);
    assert_true(cli_template_exec("{{range .X}}", v, &out, &err) < 0);
    buf_release(&out);
    assert_true(cli_template_exec("{{.Id", v, &out, &err) < 0);
    buf_release(&out);
    json_decref(v);
}

static void test_timestamp(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(cli_parse_timestamp("10m", 1000000, out, sizeof(out)), 0);
    assert_string_equal(out, "999400");
    assert_int_equal(cli_parse_timestamp("1h30m", 1000000, out, sizeof(out)), 0);
    assert_string_equal(out, "994600");
    assert_int_equal(cli_parse_timestamp("2026-11-22T14:55:04.5Z", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "1795359304.500000000");
    assert_int_equal(cli_parse_timestamp("1795359304", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "1795359304");
    assert_true(cli_parse_timestamp("yesterday", 0, out, sizeof(out)) < 0);
}

/* ---- stdcopy ---- */

struct collect {
    struct buf out, err;
    int calls;
};

static int collect_cb(void *ctx, int stream, const char *data, size_t len)
{
    struct collect *c = ctx;

    c->calls++;
    assert_true(len > 0);
    return buf_append(stream == CLI_STREAM_STDERR ? &c->err : &c->out, data, len);
}

static void build_stream(struct buf *s)
{
    static const unsigned char f1[] = {1, 0, 0, 0, 0, 0, 0, 4, 'o', 'u', 't', '\n'};
    static const unsigned char f2[] = {2, 0, 0, 0, 0, 0, 0, 6, 'e', 'r', 'r', '1', '2', '\n'};
    static const unsigned char f3[] = {1, 0, 0, 0, 0, 0, 0, 0}; /* empty frame */
    unsigned char big[8 + 300];

    buf_init(s);
    buf_append(s, f1, sizeof(f1));
    buf_append(s, f2, sizeof(f2));
    buf_append(s, f3, sizeof(f3));
    memset(big, 'x', sizeof(big));
    big[0] = 1;
    big[1] = big[2] = big[3] = 0;
    big[4] = 0;
    big[5] = 0;
    big[6] = 1;
    big[7] = 44; /* 300 */
    buf_append(s, big, sizeof(big));
}

static void test_demux_boundaries(void **state)
{
    struct buf s;

    (void)state;
    build_stream(&s);
    /* every chunk size from 1 byte to the whole stream */
    for (size_t chunk = 1; chunk <= s.len; chunk++) {
        struct cli_demux d;
        struct collect c;

        memset(&c, 0, sizeof(c));
        buf_init(&c.out);
        buf_init(&c.err);
        cli_demux_init(&d);
        for (size_t off = 0; off < s.len; off += chunk) {
            size_t n = s.len - off < chunk ? s.len - off : chunk;

            assert_int_equal(cli_demux_feed(&d, s.data + off, n, collect_cb, &c), 0);
        }
        assert_true(cli_demux_idle(&d));
        assert_int_equal(c.out.len, 4 + 300);
        assert_memory_equal(c.out.data, "out\n", 4);
        assert_int_equal(c.out.data[4], 'x');
        assert_int_equal(c.out.data[303], 'x');
        assert_int_equal(c.err.len, 6);
        assert_memory_equal(c.err.data, "err12\n", 6);
        buf_release(&c.out);
        buf_release(&c.err);
    }
    buf_release(&s);
}

static void test_demux_bad_header(void **state)
{
    struct cli_demux d;
    struct collect c;
    static const unsigned char bad[] = {7, 0, 0, 0, 0, 0, 0, 1, 'x'};
    static const unsigned char half[] = {1, 0, 0, 0, 0, 0, 0, 5, 'a', 'b'};

    (void)state;
    memset(&c, 0, sizeof(c));
    cli_demux_init(&d);
    assert_int_equal(cli_demux_feed(&d, (const char *)bad, sizeof(bad), collect_cb, &c), -EPROTO);
    cli_demux_init(&d);
    assert_int_equal(cli_demux_feed(&d, (const char *)half, sizeof(half), collect_cb, &c), 0);
    assert_false(cli_demux_idle(&d)); /* 3 payload bytes still owed */
    buf_release(&c.out);
    buf_release(&c.err);
}

static void test_bytes_size(void **state)
{
    char out[32];

    (void)state;
    cli_bytes_size(0, out, sizeof(out));
    assert_string_equal(out, "0B");
    cli_bytes_size(1536, out, sizeof(out));
    assert_string_equal(out, "1.5KiB");
    cli_bytes_size(512.0 * 1024 * 1024, out, sizeof(out));
    assert_string_equal(out, "512MiB");
    cli_bytes_size(2.0 * 1024 * 1024 * 1024 * 1024 * 1024 * 1024, out, sizeof(out));
    assert_string_equal(out, "2EiB");
}

static void test_nano_cpus(void **state)
{
    int64_t v = 0;

    (void)state;
    assert_int_equal(cli_parse_nano_cpus("1.5", &v), 0);
    assert_int_equal(v, 1500000000);
    assert_int_equal(cli_parse_nano_cpus(".5", &v), 0);
    assert_int_equal(v, 500000000);
    assert_int_equal(cli_parse_nano_cpus("0.123456789", &v), 0);
    assert_int_equal(v, 123456789);
    assert_int_equal(cli_parse_nano_cpus("0.0000000001", &v), -ERANGE);
    assert_int_equal(cli_parse_nano_cpus("2000000", &v), -ERANGE);
    assert_int_equal(cli_parse_nano_cpus("", &v), -EINVAL);
    assert_int_equal(cli_parse_nano_cpus("-1", &v), -EINVAL);
    assert_int_equal(cli_parse_nano_cpus("1x", &v), -EINVAL);
}

static void test_logs_query(void **state)
{
    const struct cli_logs_query all = {.details = true,
                                       .follow = true,
                                       .timestamps = true,
                                       .since = "5.0",
                                       .until = "9.0",
                                       .tail = "all"};
    const struct cli_logs_query few = {.tail = "10"};
    struct buf q;

    (void)state;
    buf_init(&q);
    assert_int_equal(cli_logs_query(&q, &all), 0);
    assert_string_equal(q.data, "details=1&follow=1&since=5.0&stderr=1&stdout=1&tail=all&"
                                "timestamps=1&until=9.0");
    buf_release(&q);
    buf_init(&q);
    assert_int_equal(cli_logs_query(&q, &few), 0);
    assert_string_equal(q.data, "stderr=1&stdout=1&tail=10");
    buf_release(&q);
}

static void test_errs(void **state)
{
    struct buf e;

    (void)state;
    buf_init(&e);
    assert_int_equal(cli_errs_flush(&e, true), 0);
    cli_errs_add(&e, "a");
    cli_errs_add(&e, "b");
    assert_string_equal(e.data, "a\nb");
    buf_release(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_size),
        cmocka_unit_test(test_bytes_size),
        cmocka_unit_test(test_nano_cpus),
        cmocka_unit_test(test_logs_query),
        cmocka_unit_test(test_errs),
        cmocka_unit_test(test_human_duration),
        cmocka_unit_test(test_ellipsis_quote),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_json_indent),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_demux_boundaries),
        cmocka_unit_test(test_demux_bad_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
