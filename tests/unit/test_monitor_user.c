/*
 * tests/unit/test_monitor_user.c - "user[:group]" resolution of the monitor
 * against passwd/group texts (runc GetExecUser semantics, Docker's messages).
 */
#include <fcntl.h>
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

#include "lib/util.h"

#include "runtime/monitor/monitor.h"

static const char passwd[] = "# comment\n"
                             "root:x:0:0:root:/root:/bin/sh\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                             "broken line\n"
                             "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                             "nohome:x:1000:1000::::\n";
static const char group[] = "root:x:0:\n"
                            "daemon:x:1:\n"
                            "adm:x:4:daemon, www-data\n"
                            "www-data:x:33:\n"
                            "video:x:44:www-data,nobody\n"
                            "staff:x:50:\n"
                            "nogroup:x:65534:\n";

static void test_monitor_user_default_root(void **state)
{
    struct mon_user u;

    (void)state;
    assert_int_equal(mon_user_resolve("", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 0);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/root");
    assert_int_equal(u.ngroups, 0);
    /* no passwd at all: still root, HOME=/ */
    assert_int_equal(mon_user_resolve(NULL, NULL, NULL, &u, NULL), 0);
    assert_int_equal(u.uid, 0);
    assert_string_equal(u.home, "/");
}

static void test_monitor_user_by_name(void **state)
{
    struct mon_user u;

    (void)state;
    assert_int_equal(mon_user_resolve("www-data", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 33);
    assert_int_equal(u.gid, 33);
    assert_string_equal(u.home, "/var/www");
    assert_int_equal(u.ngroups, 2);
    assert_int_equal(u.groups[0], 4);
    assert_int_equal(u.groups[1], 44);
}

static void test_monitor_user_numeric(void **state)
{
    struct mon_user u;

    (void)state;
    /* a uid with an entry takes its gid and home */
    assert_int_equal(mon_user_resolve("65534", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 65534);
    assert_int_equal(u.gid, 65534);
    assert_string_equal(u.home, "/nonexistent");
    assert_int_equal(u.ngroups, 1);
    /* without one: gid 0, home / */
    assert_int_equal(mon_user_resolve("4242", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 4242);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/");
    assert_int_equal(u.ngroups, 0);
    /* empty home field */
    assert_int_equal(mon_user_resolve("nohome", passwd, group, &u, NULL), 0);
    assert_string_equal(u.home, "/");
}

static void test_monitor_user_group(void **state)
{
    struct mon_user u;
    struct err e = {0};

    (void)state;
    assert_int_equal(mon_user_resolve("daemon:staff", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 1);
    assert_int_equal(u.gid, 50);
    assert_int_equal(u.ngroups, 0); /* explicit group: no supplementary ones */
    assert_int_equal(mon_user_resolve("1234:5678", passwd, group, &u, NULL), 0);
    assert_int_equal(u.uid, 1234);
    assert_int_equal(u.gid, 5678);
    assert_int_equal(mon_user_resolve("root:", passwd, group, &u, NULL), 0);
    assert_int_equal(u.gid, 0);
    assert_int_equal(mon_user_resolve("root:nosuch", passwd, group, &u, &e), -ENOENT);
    assert_string_equal(e.msg, "unable to find group nosuch: no matching entries in group file");
}

static void test_monitor_user_errors(void **state)
{
    struct mon_user u;
    struct err e = {0};

    (void)state;
    assert_int_equal(mon_user_resolve("alice", passwd, group, &u, &e), -ENOENT);
    assert_string_equal(e.msg, "unable to find user alice: no matching entries in passwd file");
    assert_int_equal(mon_user_resolve("alice", NULL, NULL, &u, &e), -ENOENT);
    /* out of range numbers are names, which do not exist */
    assert_int_equal(mon_user_resolve("4294967296", passwd, group, &u, &e), -ENOENT);
    assert_int_equal(mon_user_resolve("-1", passwd, group, &u, &e), -ENOENT);
    /* a prefix of a name is not the name */
    assert_int_equal(mon_user_resolve("www", passwd, group, &u, &e), -ENOENT);
}

static void test_monitor_user_at(void **state)
{
    char dir[] = "/tmp/shoal-monuser-XXXXXX";
    char p[128];
    struct mon_user u;
    int dfd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    dfd = open(dir, O_PATH | O_DIRECTORY);
    assert_true(dfd >= 0);
    /* no etc at all */
    assert_int_equal(mon_user_resolve_at(dfd, "123", &u, NULL), 0);
    assert_int_equal(u.uid, 123);
    snprintf(p, sizeof(p), "%s/etc", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc/passwd", dir);
    assert_int_equal(write_file_atomic(p, passwd, strlen(passwd), 0644, false), 0);
    snprintf(p, sizeof(p), "%s/etc/group", dir);
    assert_int_equal(write_file_atomic(p, group, strlen(group), 0644, false), 0);
    assert_int_equal(mon_user_resolve_at(dfd, "nobody", &u, NULL), 0);
    assert_int_equal(u.uid, 65534);
    assert_int_equal(u.ngroups, 1);
    assert_int_equal(u.groups[0], 44);
    (void)close(dfd);
    assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitor_user_default_root),
        cmocka_unit_test(test_monitor_user_by_name),
        cmocka_unit_test(test_monitor_user_numeric),
        cmocka_unit_test(test_monitor_user_group),
        cmocka_unit_test(test_monitor_user_errors),
        cmocka_unit_test(test_monitor_user_at),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
