/*
 * tests/unit/test_cgroup.c - runtime/cgroup.c against fake v1/v2 trees in a
 * temporary directory (exact file contents), plus real-kernel tests that
 * run only as root on a host with cgroups mounted at /sys/fs/cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/cgroup.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct fixture {
    char root[64];
};

/* ---- helpers ------------------------------------------------------------- */

static void mkfile(const char *root, const char *rel, const char *content)
{
    char p[4096];
    char dir[4096];
    char *slash;
    int fd;

    (void)snprintf(p, sizeof(p), "%s/%s", root, rel);
    (void)snprintf(dir, sizeof(dir), "%s", p);
    slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    assert_int_equal(mkdir_p(dir, 0755), 0);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, content, strlen(content)), 0);
    close(fd);
}

static void mkdirs(const char *root, const char *rel)
{
    char p[4096];

    (void)snprintf(p, sizeof(p), "%s/%s/", root, rel);
    assert_int_equal(mkdir_p(p, 0755), 0);
}

/* Returns the file's content (static buffer) or "<missing>". */
static const char *slurp(const char *root, const char *rel)
{
    static char out[4096];
    char p[4096];
    char *s = NULL;

    (void)snprintf(p, sizeof(p), "%s/%s", root, rel);
    if (read_file(p, &s, NULL, sizeof(out) - 1) < 0)
        return "<missing>";
    (void)snprintf(out, sizeof(out), "%s", s);
    free(s);
    return out;
}

static bool exists(const char *root, const char *rel)
{
    char p[4096];

    (void)snprintf(p, sizeof(p), "%s/%s", root, rel);
    return access(p, F_OK) == 0;
}

static int setup_tmp(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    (void)snprintf(f->root, sizeof(f->root), "/tmp/shoal-cgtest-XXXXXX");
    if (!mkdtemp(f->root)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_tmp(void **state)
{
    struct fixture *f = *state;

    (void)rm_rf(f->root);
    free(f);
    return 0;
}

static const char *const v1_leaf_files[] = {
    "memory/shoal/c1/memory.limit_in_bytes",
    "memory/shoal/c1/memory.memsw.limit_in_bytes",
    "memory/shoal/c1/cgroup.procs",
    "cpu/shoal/c1/cpu.cfs_period_us",
    "cpu/shoal/c1/cpu.cfs_quota_us",
    "cpu/shoal/c1/cpu.shares",
    "cpu/shoal/c1/cgroup.procs",
    "cpuacct/shoal/c1/cgroup.procs",
    "pids/shoal/c1/pids.max",
    "pids/shoal/c1/cgroup.procs",
    "freezer/shoal/c1/cgroup.procs",
    "freezer/shoal/c1/freezer.state",
    "devices/shoal/c1/devices.deny",
    "devices/shoal/c1/devices.allow",
    "devices/shoal/c1/cgroup.procs",
    "cpuset/shoal/cpuset.cpus",
    "cpuset/shoal/cpuset.mems",
    "cpuset/shoal/c1/cpuset.cpus",
    "cpuset/shoal/c1/cpuset.mems",
    "cpuset/shoal/c1/cgroup.procs",
};

/* A v1 tree as on this VM (separate cpu and cpuacct), with the leaf files
 * the kernel would create pre-created; name=systemd and unified present. */
static void make_v1_tree(const char *root)
{
    for (size_t i = 0; i < sizeof(v1_leaf_files) / sizeof(v1_leaf_files[0]); i++)
        mkfile(root, v1_leaf_files[i], "");
    mkfile(root, "cpuset/cpuset.cpus", "0-1\n");
    mkfile(root, "cpuset/cpuset.mems", "0\n");
    mkfile(root, "systemd/cgroup.procs", "");
    mkfile(root, "unified/cgroup.controllers", "hugetlb\n");
}

/* ---- v1 fake tree -------------------------------------------------------- */

static void test_cgroup_v1_detect(void **state)
{
    struct fixture *f = *state;
    enum rt_cgroup_mode mode = 0;

    make_v1_tree(f->root);
    assert_int_equal(rt_cgroup_detect(f->root, &mode, NULL), 0);
    assert_int_equal(mode, RT_CGROUP_V1);
}

static void test_cgroup_detect_empty_fails(void **state)
{
    struct fixture *f = *state;
    enum rt_cgroup_mode mode = 0;
    struct err err = {0};

    mkdirs(f->root, "systemd");
    assert_int_equal(rt_cgroup_detect(f->root, &mode, &err), -ENODEV);
    assert_non_null(strstr(err.msg, "no cgroup"));
}

static void test_cgroup_v1_limits_written(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_limits l = {
        .memory = 32 << 20,
        .memory_swap = 64 << 20,
        .cpu_quota = 50000,
        .cpu_shares = 512,
        .pids = 50,
    };
    struct err err = {0};

    make_v1_tree(f->root);
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V1, "shoal/c1", &l, &err), 0);
    assert_string_equal(slurp(f->root, "memory/shoal/c1/memory.limit_in_bytes"), "33554432");
    assert_string_equal(slurp(f->root, "memory/shoal/c1/memory.memsw.limit_in_bytes"), "67108864");
    assert_string_equal(slurp(f->root, "cpu/shoal/c1/cpu.cfs_period_us"), "100000");
    assert_string_equal(slurp(f->root, "cpu/shoal/c1/cpu.cfs_quota_us"), "50000");
    assert_string_equal(slurp(f->root, "cpu/shoal/c1/cpu.shares"), "512");
    assert_string_equal(slurp(f->root, "pids/shoal/c1/pids.max"), "50");
    assert_string_equal(slurp(f->root, "devices/shoal/c1/devices.deny"), "a");
    assert_string_equal(slurp(f->root, "devices/shoal/c1/devices.allow"), "c *:* m\n"
                                                                          "b *:* m\n"
                                                                          "c 1:3 rwm\n"
                                                                          "c 1:5 rwm\n"
                                                                          "c 1:7 rwm\n"
                                                                          "c 1:8 rwm\n"
                                                                          "c 1:9 rwm\n"
                                                                          "c 5:0 rwm\n"
                                                                          "c 5:1 rwm\n"
                                                                          "c 5:2 rwm\n"
                                                                          "c 136:* rwm\n"
                                                                          "c 10:200 rwm\n");
    assert_null(strstr(slurp(f->root, "devices/shoal/c1/devices.allow"), "10:229"));
    /* cpuset copied down from the hierarchy root, level by level */
    assert_string_equal(slurp(f->root, "cpuset/shoal/cpuset.cpus"), "0-1");
    assert_string_equal(slurp(f->root, "cpuset/shoal/cpuset.mems"), "0");
    assert_string_equal(slurp(f->root, "cpuset/shoal/c1/cpuset.cpus"), "0-1");
    assert_string_equal(slurp(f->root, "cpuset/shoal/c1/cpuset.mems"), "0");
    /* named and unified hierarchies are left alone */
    assert_false(exists(f->root, "systemd/shoal"));
    assert_false(exists(f->root, "unified/shoal"));
}

static void test_cgroup_v1_no_memsw_no_devices(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_limits l = {
        .memory = 1 << 20,
        .memory_swap = -1,
        .devices_allow_all = true,
    };
    char p[4096];

    make_v1_tree(f->root);
    (void)snprintf(p, sizeof(p), "%s/memory/shoal/c1/memory.memsw.limit_in_bytes", f->root);
    assert_int_equal(unlink(p), 0); /* swap accounting off */
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V1, "shoal/c1", &l, NULL), 0);
    assert_string_equal(slurp(f->root, "memory/shoal/c1/memory.limit_in_bytes"), "1048576");
    assert_string_equal(slurp(f->root, "devices/shoal/c1/devices.deny"), "");
    assert_string_equal(slurp(f->root, "devices/shoal/c1/devices.allow"), "");
    assert_string_equal(slurp(f->root, "cpu/shoal/c1/cpu.shares"), "");
    assert_string_equal(slurp(f->root, "pids/shoal/c1/pids.max"), "");
}

static void test_cgroup_v1_swap_below_memory_rejected(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_limits l = {.memory = 2 << 20, .memory_swap = 1 << 20};
    struct err err = {0};

    make_v1_tree(f->root);
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V1, "shoal/c1", &l, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "memory+swap"));
}

static void test_cgroup_v1_joined_cpu_cpuacct(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_limits l = {.cpu_shares = 2048};
    char a[4096], b[4096];

    mkfile(f->root, "cpu,cpuacct/x/c1/cpu.shares", "");
    mkfile(f->root, "cpu,cpuacct/x/c1/cgroup.procs", "");
    (void)snprintf(a, sizeof(a), "%s/cpu", f->root);
    (void)snprintf(b, sizeof(b), "%s/cpuacct", f->root);
    assert_int_equal(symlink("cpu,cpuacct", a), 0);
    assert_int_equal(symlink("cpu,cpuacct", b), 0);
    mkfile(f->root, "memory/x/c1/cgroup.procs", "");
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V1, "x/c1", &l, NULL), 0);
    assert_string_equal(slurp(f->root, "cpu,cpuacct/x/c1/cpu.shares"), "2048");
    assert_int_equal(rt_cgroup_enter(f->root, RT_CGROUP_V1, "x/c1", 4321, NULL), 0);
    assert_string_equal(slurp(f->root, "cpu,cpuacct/x/c1/cgroup.procs"), "4321");
    assert_string_equal(slurp(f->root, "memory/x/c1/cgroup.procs"), "4321");
}

static void test_cgroup_v1_enter_and_destroy(void **state)
{
    struct fixture *f = *state;
    static const char *const ctrls[] = {"memory",  "cpu",     "cpuacct", "pids",
                                        "freezer", "devices", "cpuset"};
    char p[512];

    make_v1_tree(f->root);
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V1, "shoal/c1", NULL, NULL), 0);
    assert_int_equal(rt_cgroup_enter(f->root, RT_CGROUP_V1, "shoal/c1", 1234, NULL), 0);
    for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
        (void)snprintf(p, sizeof(p), "%s/shoal/c1/cgroup.procs", ctrls[i]);
        assert_string_equal(slurp(f->root, p), "1234");
    }
    /* cgroupfs directories hold only virtual files; a fake one must be emptied */
    for (size_t i = 0; i < sizeof(v1_leaf_files) / sizeof(v1_leaf_files[0]); i++) {
        if (strstr(v1_leaf_files[i], "/c1/")) {
            (void)snprintf(p, sizeof(p), "%s/%s", f->root, v1_leaf_files[i]);
            assert_int_equal(unlink(p), 0);
        }
    }
    assert_int_equal(rt_cgroup_destroy(f->root, RT_CGROUP_V1, "shoal/c1", NULL), 0);
    for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
        (void)snprintf(p, sizeof(p), "%s/shoal/c1", ctrls[i]);
        assert_false(exists(f->root, p));
        (void)snprintf(p, sizeof(p), "%s/shoal", ctrls[i]);
        assert_true(exists(f->root, p)); /* parents stay */
    }
    /* missing = success */
    assert_int_equal(rt_cgroup_destroy(f->root, RT_CGROUP_V1, "shoal/c1", NULL), 0);
}

static void test_cgroup_v1_stats_and_oom(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_stats st;

    make_v1_tree(f->root);
    mkfile(f->root, "memory/shoal/c1/memory.usage_in_bytes", "1000000\n");
    mkfile(f->root, "memory/shoal/c1/memory.limit_in_bytes", "9223372036854771712\n");
    mkfile(f->root, "memory/shoal/c1/memory.stat",
           "cache 5\ninactive_file 1\ntotal_cache 5\ntotal_inactive_file 4096\n");
    mkfile(f->root, "cpuacct/shoal/c1/cpuacct.usage", "123456789\n");
    mkfile(f->root, "pids/shoal/c1/pids.current", "3\n");
    mkfile(f->root, "memory/shoal/c1/memory.oom_control",
           "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    assert_int_equal(rt_cgroup_stats(f->root, RT_CGROUP_V1, "shoal/c1", &st, NULL), 0);
    assert_int_equal(st.memory_usage, 1000000);
    assert_true(st.memory_limit == UINT64_MAX);
    assert_int_equal(st.memory_inactive_file, 4096);
    assert_int_equal(st.cpu_usage_ns, 123456789);
    assert_int_equal(st.pids_current, 3);
    assert_false(rt_cgroup_oom_killed(f->root, RT_CGROUP_V1, "shoal/c1"));
    mkfile(f->root, "memory/shoal/c1/memory.oom_control",
           "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    assert_true(rt_cgroup_oom_killed(f->root, RT_CGROUP_V1, "shoal/c1"));
    mkfile(f->root, "memory/shoal/c1/memory.limit_in_bytes", "33554432\n");
    assert_int_equal(rt_cgroup_stats(f->root, RT_CGROUP_V1, "shoal/c1", &st, NULL), 0);
    assert_int_equal(st.memory_limit, 33554432);
    assert_int_equal(rt_cgroup_stats(f->root, RT_CGROUP_V1, "shoal/nope", &st, NULL), -ENOENT);
}

/* ---- v2 fake tree -------------------------------------------------------- */

static void make_v2_tree(const char *root)
{
    mkfile(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    mkfile(root, "cgroup.subtree_control", "");
    mkfile(root, "shoal/cgroup.controllers", "cpu memory pids\n");
    mkfile(root, "shoal/cgroup.subtree_control", "");
    mkfile(root, "shoal/c1/memory.max", "");
    mkfile(root, "shoal/c1/memory.swap.max", "");
    mkfile(root, "shoal/c1/cpu.max", "");
    mkfile(root, "shoal/c1/cpu.weight", "");
    mkfile(root, "shoal/c1/pids.max", "");
    mkfile(root, "shoal/c1/cgroup.procs", "");
    mkfile(root, "shoal/c1/cgroup.subtree_control", "");
}

static void test_cgroup_v2_limits_written(void **state)
{
    struct fixture *f = *state;
    enum rt_cgroup_mode mode = 0;
    struct rt_cgroup_limits l = {
        .memory = 32 << 20,
        .memory_swap = 64 << 20,
        .cpu_quota = 150000,
        .cpu_shares = 512,
        .pids = 50,
    };
    struct err err = {0};

    make_v2_tree(f->root);
    assert_int_equal(rt_cgroup_detect(f->root, &mode, NULL), 0);
    assert_int_equal(mode, RT_CGROUP_V2);
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V2, "shoal/c1", &l, &err), 0);
    assert_string_equal(slurp(f->root, "cgroup.subtree_control"), "+cpu +memory +pids +io +cpuset");
    assert_string_equal(slurp(f->root, "shoal/cgroup.subtree_control"), "+cpu +memory +pids");
    assert_string_equal(slurp(f->root, "shoal/c1/cgroup.subtree_control"), ""); /* leaf */
    assert_string_equal(slurp(f->root, "shoal/c1/memory.max"), "33554432");
    assert_string_equal(slurp(f->root, "shoal/c1/memory.swap.max"), "33554432");
    assert_string_equal(slurp(f->root, "shoal/c1/cpu.max"), "150000 100000");
    assert_string_equal(slurp(f->root, "shoal/c1/cpu.weight"), "59");
    assert_string_equal(slurp(f->root, "shoal/c1/pids.max"), "50");
    assert_int_equal(rt_cgroup_enter(f->root, RT_CGROUP_V2, "shoal/c1", 77, NULL), 0);
    assert_string_equal(slurp(f->root, "shoal/c1/cgroup.procs"), "77");
}

static void test_cgroup_v2_unlimited_values(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_limits l = {
        .memory = -1,
        .memory_swap = -1,
        .cpu_quota = -1,
        .cpu_period = 50000,
        .cpu_shares = 1024,
        .pids = -1,
    };

    make_v2_tree(f->root);
    mkfile(f->root, "shoal/cgroup.subtree_control", "cpu memory pids\n"); /* already on */
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V2, "shoal/c1", &l, NULL), 0);
    assert_string_equal(slurp(f->root, "shoal/cgroup.subtree_control"), "cpu memory pids\n");
    assert_string_equal(slurp(f->root, "shoal/c1/memory.max"), "max");
    assert_string_equal(slurp(f->root, "shoal/c1/memory.swap.max"), "max");
    assert_string_equal(slurp(f->root, "shoal/c1/cpu.max"), "max 50000");
    assert_string_equal(slurp(f->root, "shoal/c1/cpu.weight"), "100");
    assert_string_equal(slurp(f->root, "shoal/c1/pids.max"), "max");
}

static void test_cgroup_v2_stats_and_oom(void **state)
{
    struct fixture *f = *state;
    struct rt_cgroup_stats st;

    make_v2_tree(f->root);
    mkfile(f->root, "shoal/c1/memory.current", "2048\n");
    mkfile(f->root, "shoal/c1/memory.max", "max\n");
    mkfile(f->root, "shoal/c1/memory.stat", "anon 1\nfile 2\ninactive_file 512\n");
    mkfile(f->root, "shoal/c1/cpu.stat", "usage_usec 1500\nuser_usec 1000\n");
    mkfile(f->root, "shoal/c1/pids.current", "7\n");
    mkfile(f->root, "shoal/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n");
    assert_int_equal(rt_cgroup_stats(f->root, RT_CGROUP_V2, "shoal/c1", &st, NULL), 0);
    assert_int_equal(st.memory_usage, 2048);
    assert_true(st.memory_limit == UINT64_MAX);
    assert_int_equal(st.memory_inactive_file, 512);
    assert_int_equal(st.cpu_usage_ns, 1500000);
    assert_int_equal(st.pids_current, 7);
    assert_false(rt_cgroup_oom_killed(f->root, RT_CGROUP_V2, "shoal/c1"));
    mkfile(f->root, "shoal/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    assert_true(rt_cgroup_oom_killed(f->root, RT_CGROUP_V2, "shoal/c1"));
}

/* ---- pure functions ------------------------------------------------------ */

static void test_cgroup_shares_to_weight(void **state)
{
    uint64_t prev = 0;

    (void)state;
    assert_int_equal(rt_cgroup_shares_to_weight(2), 1);
    assert_int_equal(rt_cgroup_shares_to_weight(1024), 100);
    assert_int_equal(rt_cgroup_shares_to_weight(262144), 10000);
    assert_int_equal(rt_cgroup_shares_to_weight(512), 59);
    assert_int_equal(rt_cgroup_shares_to_weight(2048), 174);
    assert_int_equal(rt_cgroup_shares_to_weight(100), 17);
    assert_int_equal(rt_cgroup_shares_to_weight(1), 1);
    assert_int_equal(rt_cgroup_shares_to_weight(1000000), 10000);
    assert_int_equal(rt_cgroup_shares_to_weight(0), 0);
    for (uint64_t s = 2; s <= 262144; s += 97) {
        uint64_t w = rt_cgroup_shares_to_weight(s);
        assert_true(w >= prev && w >= 1 && w <= 10000);
        prev = w;
    }
}

static void test_cgroup_path_validation(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"/abs", "..", "a/../b", "a/..", "", "./x"};
    struct rt_cgroup_stats st;
    struct err err = {0};

    make_v2_tree(f->root);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V2, bad[i], NULL, &err), -EINVAL);
        assert_int_equal(rt_cgroup_enter(f->root, RT_CGROUP_V2, bad[i], 1, NULL), -EINVAL);
        assert_int_equal(rt_cgroup_kill_all(f->root, RT_CGROUP_V2, bad[i], 9, NULL), -EINVAL);
        assert_int_equal(rt_cgroup_stats(f->root, RT_CGROUP_V2, bad[i], &st, NULL), -EINVAL);
        assert_int_equal(rt_cgroup_destroy(f->root, RT_CGROUP_V1, bad[i], NULL), -EINVAL);
        assert_false(rt_cgroup_oom_killed(f->root, RT_CGROUP_V2, bad[i]));
    }
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V2, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(rt_cgroup_create(f->root, RT_CGROUP_V2, "a/../../etc", NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, ".."));
    /* ".." inside a name is fine */
    mkfile(f->root, "shoal/a..b/cgroup.procs", "");
    assert_int_equal(rt_cgroup_enter(f->root, RT_CGROUP_V2, "shoal/a..b", 5, NULL), 0);
}

/* ---- real kernel --------------------------------------------------------- */

struct real {
    enum rt_cgroup_mode mode;
    const char *root;
    char path[64];
    pid_t child;
};

static int teardown_real(void **state)
{
    struct real *r = *state;

    if (r->child > 0) {
        (void)kill(r->child, SIGKILL);
        (void)waitpid(r->child, NULL, 0);
    }
    if (r->path[0])
        (void)rt_cgroup_destroy(r->root, r->mode, r->path, NULL);
    free(r);
    return 0;
}

static int setup_real(void **state)
{
    struct real *r = calloc(1, sizeof(*r));

    if (!r)
        return -1;
    r->root = "/sys/fs/cgroup";
    *state = r;
    return 0;
}

/* Child: wait until the parent has moved it, try the device opens, report
 * a byte (bit0: /dev/null opened, bit1: /dev/kmsg refused with EPERM), sleep. */
static pid_t fork_probe(int *ret_go, int *ret_res)
{
    int go[2], res[2];
    pid_t pid;

    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(res), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        unsigned char out = 0;
        int fd;

        close(go[1]);
        close(res[0]);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            out |= 1;
            close(fd);
        }
        fd = open("/dev/kmsg", O_RDONLY);
        if (fd < 0 && errno == EPERM)
            out |= 2;
        if (fd >= 0)
            close(fd);
        if (write(res[1], &out, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(go[0]);
    close(res[1]);
    *ret_go = go[1];
    *ret_res = res[0];
    return pid;
}

static void test_cgroup_real(void **state)
{
    struct real *r = *state;
    struct rt_cgroup_limits l = {.memory = 32 << 20, .pids = 50};
    struct rt_cgroup_stats st;
    struct err err = {0};
    char dir[256], p[512];
    char *s = NULL;
    unsigned char res = 0;
    int go, rd, status;

    if (geteuid() != 0)
        skip();
    if (rt_cgroup_detect(r->root, &r->mode, NULL) < 0)
        skip();
    (void)snprintf(r->path, sizeof(r->path), "shoal-test-%d", (int)getpid());
    if (rt_cgroup_create(r->root, r->mode, r->path, &l, &err) < 0)
        fail_msg("create: %s", err.msg);

    if (r->mode == RT_CGROUP_V1) {
        (void)snprintf(dir, sizeof(dir), "%s/memory/%s", r->root, r->path);
        (void)snprintf(p, sizeof(p), "%s/memory.limit_in_bytes", dir);
        assert_int_equal(read_file(p, &s, NULL, 4096), 0);
        assert_string_equal(s, "33554432\n");
        free(s);
        (void)snprintf(dir, sizeof(dir), "%s/pids/%s", r->root, r->path);
    } else {
        (void)snprintf(dir, sizeof(dir), "%s/%s", r->root, r->path);
        (void)snprintf(p, sizeof(p), "%s/memory.max", dir);
        assert_int_equal(read_file(p, &s, NULL, 4096), 0);
        assert_string_equal(s, "33554432\n");
        free(s);
    }
    (void)snprintf(p, sizeof(p), "%s/pids.max", dir);
    assert_int_equal(read_file(p, &s, NULL, 4096), 0);
    assert_string_equal(s, "50\n");
    free(s);

    r->child = fork_probe(&go, &rd);
    if (rt_cgroup_enter(r->root, r->mode, r->path, r->child, &err) < 0)
        fail_msg("enter: %s", err.msg);
    assert_int_equal(write(go, "x", 1), 1);
    assert_int_equal(read(rd, &res, 1), 1);
    close(go);
    close(rd);
    assert_true(res & 1); /* /dev/null allowed */
    assert_true(res & 2); /* /dev/kmsg denied by the device rules */
    (void)snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
    assert_int_equal(read_file(p, &s, NULL, 4096), 0);
    assert_int_equal(atoi(s), r->child);
    free(s);
    assert_int_equal(rt_cgroup_stats(r->root, r->mode, r->path, &st, NULL), 0);
    assert_int_equal(st.pids_current, 1);
    assert_int_equal(st.memory_limit, 33554432);

    assert_int_equal(rt_cgroup_kill_all(r->root, r->mode, r->path, SIGKILL, &err), 0);
    assert_int_equal(waitpid(r->child, &status, 0), r->child);
    r->child = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_false(rt_cgroup_oom_killed(r->root, r->mode, r->path));
    if (rt_cgroup_destroy(r->root, r->mode, r->path, &err) < 0)
        fail_msg("destroy: %s", err.msg);
    assert_int_equal(access(dir, F_OK), -1);
    r->path[0] = '\0';
}

/* The v2 eBPF device filter. Runs on a pure v2 host or on the cgroup2
 * mount of a hybrid host (/sys/fs/cgroup/unified): the kernel applies the
 * v2 device program whatever the v1 devices controller says. */
static void test_cgroup_real_v2_device_filter(void **state)
{
    struct real *r = *state;
    struct rt_cgroup_limits l = {.devices_allow_all = false};
    struct statfs sfs;
    struct err err = {0};
    unsigned char res = 0;
    int go, rd, status;
    char dir[256];

    if (geteuid() != 0)
        skip();
    r->mode = RT_CGROUP_V2;
    if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
        r->root = "/sys/fs/cgroup";
    else if (statfs("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
        r->root = "/sys/fs/cgroup/unified";
    else
        skip();
    (void)snprintf(r->path, sizeof(r->path), "shoal-test-dev-%d", (int)getpid());
    if (rt_cgroup_create(r->root, r->mode, r->path, &l, &err) < 0)
        fail_msg("create: %s", err.msg);
    /* idempotent: the program is replaced, not stacked */
    if (rt_cgroup_create(r->root, r->mode, r->path, &l, &err) < 0)
        fail_msg("create again: %s", err.msg);
    r->child = fork_probe(&go, &rd);
    if (rt_cgroup_enter(r->root, r->mode, r->path, r->child, &err) < 0)
        fail_msg("enter: %s", err.msg);
    assert_int_equal(write(go, "x", 1), 1);
    assert_int_equal(read(rd, &res, 1), 1);
    close(go);
    close(rd);
    assert_int_equal(res, 3);
    assert_int_equal(rt_cgroup_kill_all(r->root, r->mode, r->path, SIGKILL, &err), 0);
    assert_int_equal(waitpid(r->child, &status, 0), r->child);
    r->child = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(rt_cgroup_destroy(r->root, r->mode, r->path, &err), 0);
    (void)snprintf(dir, sizeof(dir), "%s/%s", r->root, r->path);
    assert_int_equal(access(dir, F_OK), -1);
    r->path[0] = '\0';
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cgroup_v1_detect, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_detect_empty_fails, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v1_limits_written, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v1_no_memsw_no_devices, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v1_swap_below_memory_rejected, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v1_joined_cpu_cpuacct, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v1_enter_and_destroy, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v1_stats_and_oom, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v2_limits_written, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v2_unlimited_values, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_v2_stats_and_oom, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_cgroup_shares_to_weight),
        cmocka_unit_test_setup_teardown(test_cgroup_path_validation, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_cgroup_real, setup_real, teardown_real),
        cmocka_unit_test_setup_teardown(test_cgroup_real_v2_device_filter, setup_real,
                                        teardown_real),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
