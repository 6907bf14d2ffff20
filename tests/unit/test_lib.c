/* Unit tests for lib/: ids, times, sizes, buffers, files, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"

static void test_id_new_hex_shape(void **state)
{
    char id[ID_HEX_LEN + 1];

    (void)state;
    for (int i = 0; i < 200; i++) {
        bool digits = true;
        assert_int_equal(id_new_hex(id), 0);
        assert_int_equal(strlen(id), 64);
        assert_true(id_is_hex(id, 64));
        for (int k = 0; k < 12; k++)
            digits = digits && id[k] >= '0' && id[k] <= '9';
        assert_false(digits);
    }
    assert_false(id_is_hex("abcg", 4));
    assert_false(id_is_hex("ABCD", 4));
}

static void test_parse_size_units(void **state)
{
    int64_t v;

    (void)state;
    assert_int_equal(parse_size("32m", &v), 0);
    assert_int_equal(v, 32 << 20);
    assert_int_equal(parse_size("1g", &v), 0);
    assert_int_equal(v, 1LL << 30);
    assert_int_equal(parse_size("512K", &v), 0);
    assert_int_equal(v, 512 << 10);
    assert_int_equal(parse_size("100b", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(parse_size("1024", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(parse_size("1.5m", &v), 0);
    assert_int_equal(v, 1572864);
    assert_int_equal(parse_size("64MiB", &v), 0);
    assert_int_equal(v, 64 << 20);
    assert_int_equal(parse_size("12q", &v), -EINVAL);
    assert_int_equal(parse_size("", &v), -EINVAL);
    assert_int_equal(parse_size("-5m", &v), -EINVAL);
    assert_int_equal(parse_size("m", &v), -EINVAL);
    assert_int_equal(parse_size("99999999999p", &v), -ERANGE);
}

static void test_parse_ints_strict(void **state)
{
    uint64_t u;
    int64_t i;

    (void)state;
    assert_int_equal(parse_u64("42", &u), 0);
    assert_int_equal(u, 42);
    assert_int_equal(parse_u64("-1", &u), -EINVAL);
    assert_int_equal(parse_u64("4x", &u), -EINVAL);
    assert_int_equal(parse_u64("", &u), -EINVAL);
    assert_int_equal(parse_u64("99999999999999999999999", &u), -EINVAL);
    assert_int_equal(parse_i64("-1", &i), 0);
    assert_int_equal(i, -1);
    assert_int_equal(parse_i64("+7", &i), 0);
    assert_int_equal(i, 7);
    assert_int_equal(parse_i64(" 7", &i), -EINVAL);
}

static void test_time_rfc3339_roundtrip(void **state)
{
    char out[40];
    int64_t ns;

    (void)state;
    time_fmt_rfc3339(0, out);
    assert_string_equal(out, "0001-01-01T00:00:00Z");
    assert_int_equal(time_parse_rfc3339("0001-01-01T00:00:00Z", &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(time_parse_rfc3339("2026-11-22T14:55:04.206496007Z", &ns), 0);
    time_fmt_rfc3339(ns, out);
    assert_string_equal(out, "2026-11-22T14:55:04.206496007Z");
    assert_int_equal(time_parse_rfc3339("1970-01-01T00:00:01Z", &ns), 0);
    assert_int_equal(ns, 1000000000LL);
    assert_int_equal(time_parse_rfc3339("1970-01-01T01:00:01.5+01:00", &ns), 0);
    assert_int_equal(ns, 1500000000LL);
    assert_int_equal(time_parse_rfc3339("2026-13-01T00:00:00Z", &ns), -EINVAL);
    assert_int_equal(time_parse_rfc3339("2026-11-22 14:55:04Z", &ns), -EINVAL);
    assert_int_equal(time_parse_rfc3339("2026-11-22T14:55:04", &ns), -EINVAL);
    assert_int_equal(time_parse_rfc3339("2026-11-22T14:55:04Zjunk", &ns), -EINVAL);
    /* outside what int64 nanoseconds can hold: an error, not an overflow */
    assert_int_equal(time_parse_rfc3339("1026-01-01T00:00:00Z", &ns), -ERANGE);
    assert_int_equal(time_parse_rfc3339("9999-12-31T23:59:59Z", &ns), -ERANGE);
}

static void test_time_human_duration_buckets(void **state)
{
    char out[64];
    const int64_t s = 1000000000LL;

    (void)state;
    time_human_duration(s / 2, out, sizeof(out));
    assert_string_equal(out, "Less than a second");
    time_human_duration(1 * s, out, sizeof(out));
    assert_string_equal(out, "1 second");
    time_human_duration(45 * s, out, sizeof(out));
    assert_string_equal(out, "45 seconds");
    time_human_duration(90 * s, out, sizeof(out));
    assert_string_equal(out, "About a minute");
    time_human_duration(10 * 60 * s, out, sizeof(out));
    assert_string_equal(out, "10 minutes");
    time_human_duration(3600 * s, out, sizeof(out));
    assert_string_equal(out, "About an hour");
    time_human_duration(5 * 3600 * s, out, sizeof(out));
    assert_string_equal(out, "5 hours");
    time_human_duration(3 * 86400 * s, out, sizeof(out));
    assert_string_equal(out, "3 days");
}

static void test_buf_grow_consume_steal(void **state)
{
    struct buf b;
    char *p;

    (void)state;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%d,", i), 0);
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    buf_consume(&b, 2);
    assert_int_equal(strncmp(b.data, "1,2,", 4), 0);
    buf_consume(&b, b.len + 10);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_puts(&b, "xyzw"), 0);
    buf_truncate(&b, 10); /* longer: unchanged */
    assert_string_equal(b.data, "xyzw");
    buf_truncate(&b, 3);
    assert_int_equal(b.len, 3);
    p = buf_steal(&b);
    assert_string_equal(p, "xyz");
    assert_null(b.data);
    free(p);
    p = buf_steal(&b);
    assert_string_equal(p, "");
    free(p);
    buf_release(&b);
}

static void test_err_set_and_wrap(void **state)
{
    struct err e = {0};

    (void)state;
    assert_int_equal(err_set(&e, -ENOENT, "No such container: %s", "x"), -ENOENT);
    assert_string_equal(e.msg, "No such container: x");
    assert_int_equal(err_wrap(&e, "start %s", "c1"), -ENOENT);
    assert_string_equal(e.msg, "start c1: No such container: x");
    assert_int_equal(err_set(NULL, -EINVAL, "ignored"), -EINVAL);
    err_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(e.msg, "");
}

static void test_files_atomic_and_rm_rf(void **state)
{
    char dir[] = "/tmp/shoal-test-lib.XXXXXX";
    char path[256];
    char *data = NULL;
    size_t len = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/a/b/c", dir);
    assert_int_equal(mkdir_p(path, 0755), 0);
    assert_int_equal(mkdir_p(path, 0755), 0);
    (void)snprintf(path, sizeof(path), "%s/a/file", dir);
    assert_int_equal(write_file_atomic(path, "hello", 5, 0600, true), 0);
    assert_int_equal(read_file(path, &data, &len, 100), 0);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    free(data);
    assert_int_equal(read_file(path, &data, &len, 3), -EFBIG);
    /* a symlink inside the tree is removed, not followed */
    (void)snprintf(path, sizeof(path), "%s/a/b/link", dir);
    assert_int_equal(symlink("/etc", path), 0);
    assert_int_equal(rm_rf(dir), 0);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(access("/etc/passwd", F_OK), 0);
    assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_new_hex_shape),
        cmocka_unit_test(test_parse_size_units),
        cmocka_unit_test(test_parse_ints_strict),
        cmocka_unit_test(test_time_rfc3339_roundtrip),
        cmocka_unit_test(test_time_human_duration_buckets),
        cmocka_unit_test(test_buf_grow_consume_steal),
        cmocka_unit_test(test_err_set_and_wrap),
        cmocka_unit_test(test_files_atomic_and_rm_rf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
