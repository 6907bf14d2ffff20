/*
 * tests/unit/test_seccomp.c - runtime/seccomp.c: the built-in profile parses
 * and compiles; the compiled BPF, installed in a forked child, behaves like
 * Docker's default profile; bad profile text is refused with its line number.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"

#include "runtime/seccomp.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

#define DEFAULT_CAPS      0xa80425fbull
#define CAP_SYS_ADMIN_BIT (1ull << 21)

/* ---- child harness --------------------------------------------------------- */

static char child_msg[2048];
static size_t child_len;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            int n_ = snprintf(child_msg + child_len, sizeof(child_msg) - child_len, __VA_ARGS__);  \
            if (n_ > 0 && child_len + (size_t)n_ + 2 < sizeof(child_msg)) {                        \
                child_len += (size_t)n_;                                                           \
                child_msg[child_len++] = ';';                                                      \
                child_msg[child_len++] = ' ';                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

typedef void (*probe_fn)(void);

/* Fork, install bpf in the child, run probe, and return what it reported
 * ("" = every check passed). */
static const char *run_filtered(const void *bpf, size_t len, probe_fn probe)
{
    static char out[2048];
    size_t got = 0;
    int pfd[2];
    int status;
    pid_t pid;

    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
                                  .filter = (struct sock_filter *)(uintptr_t)bpf};
        close(pfd[0]);
        child_len = 0;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
            CHECK(0, "install filter: %s", strerror(errno));
        } else {
            probe();
        }
        if (write(pfd[1], child_msg, child_len) < 0)
            _exit(3);
        _exit(0);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t n = read(pfd[0], out + got, sizeof(out) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    out[got] = '\0';
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        (void)snprintf(out, sizeof(out), "child died: status %#x", status);
    return out;
}

static void probe_default(void)
{
    char dir[64];
    long r;
    int fd;
    pid_t pid;

    CHECK(getpid() > 0, "getpid");
    (void)snprintf(dir, sizeof(dir), "/tmp/shoal-sctest-%d", (int)getpid());
    CHECK(mkdir(dir, 0700) == 0, "mkdir: %s", strerror(errno));
    CHECK(rmdir(dir) == 0, "rmdir: %s", strerror(errno));

    errno = 0;
    CHECK(unshare(CLONE_NEWUSER) < 0 && errno == EPERM, "unshare(NEWUSER) errno %d", errno);
    errno = 0;
    CHECK(unshare(CLONE_NEWUTS) < 0 && errno == EPERM, "unshare(NEWUTS) errno %d", errno);
    /* without the filter this mount fails with ENODEV/ENOENT, never EPERM as root */
    errno = 0;
    CHECK(mount("none", "/nonexistent-shoal-dir", "shoal-no-such-fs", 0, NULL) < 0 &&
              errno == EPERM,
          "mount errno %d", errno);
    errno = 0;
    r = syscall(SYS_clone3, NULL, 0);
    CHECK(r < 0 && errno == ENOSYS, "clone3 errno %d", errno);
    errno = 0;
    r = syscall(SYS_clone, (unsigned long)(CLONE_NEWUTS | SIGCHLD), 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    CHECK(r < 0 && errno == EPERM, "clone(NEWUTS) r=%ld errno %d", r, errno);
    errno = 0;
    CHECK(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0) < 0 && errno == EPERM,
          "keyctl errno %d", errno);
    errno = 0;
    CHECK(syscall(SYS_bpf, 0, NULL, 0) < 0 && errno == EPERM, "bpf errno %d", errno);

    errno = 0;
    fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    CHECK(fd < 0 && errno == EPERM, "socket(AF_VSOCK) errno %d", errno);
    errno = 0;
    fd = socket(AF_ALG, SOCK_SEQPACKET, 0);
    CHECK(fd < 0 && errno == EPERM, "socket(AF_ALG) errno %d", errno);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0, "socket(AF_INET): %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket(AF_UNIX): %s", strerror(errno));
    if (fd >= 0)
        close(fd);

    errno = 0;
    CHECK(personality(0xffffffff) >= 0, "personality(query): %s", strerror(errno));
    errno = 0;
    CHECK(personality(ADDR_NO_RANDOMIZE) < 0 && errno == EPERM,
          "personality(ADDR_NO_RANDOMIZE) errno %d", errno);

    /* fork (clone without namespace flags) and wait work */
    pid = fork();
    if (pid == 0)
        _exit(7);
    CHECK(pid > 0, "fork: %s", strerror(errno));
    if (pid > 0) {
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7, "wait");
    }
    /* ptrace is allowed on kernels >= 4.8 (ESRCH, not EPERM, for a bogus pid) */
    errno = 0;
    CHECK(syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 0x7ffffff0, 0, 0) < 0 && errno == ESRCH,
          "ptrace errno %d", errno);
}

static void probe_sys_admin(void)
{
    long r;

    /* the filter now allows unshare; as root it succeeds */
    CHECK(unshare(CLONE_NEWUTS) == 0, "unshare(NEWUTS): %s", strerror(errno));
    errno = 0;
    r = syscall(SYS_clone3, NULL, 0);
    CHECK(r < 0 && errno != ENOSYS && errno != EPERM, "clone3 errno %d", errno);
    errno = 0;
    CHECK(mount("none", "/nonexistent-shoal-dir", "shoal-no-such-fs", 0, NULL) < 0 &&
              errno != EPERM,
          "mount errno %d", errno);
}

static void probe_custom(void)
{
    errno = 0;
    CHECK(syscall(SYS_getpgrp) > 0, "getpgrp: %s", strerror(errno));
    errno = 0;
    CHECK(syscall(SYS_getppid) < 0 && errno == EPERM, "getppid errno %d", errno);
    errno = 0;
    CHECK(syscall(SYS_getsid, 0) < 0 && errno == 13, "getsid errno %d", errno);
    errno = 0;
    CHECK(syscall(SYS_getuid) < 0 && errno == EPERM, "getuid errno %d", errno);
    errno = 0;
    CHECK(syscall(SYS_getgid) >= 0, "getgid errno %d", errno);
    errno = 0;
    CHECK(syscall(SYS_umask, 022) < 0 && errno == EPERM, "umask errno %d", errno);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_seccomp_default_profile_text(void **state)
{
    const char *p = rt_seccomp_default_profile();

    (void)state;
    assert_non_null(p);
    assert_non_null(strstr(p, "default errno(1)"));
    assert_non_null(strstr(p, "arches x86_64 x86 x32"));
    assert_non_null(strstr(p, "errno(38) clone3"));
}

static void test_seccomp_default_compiles(void **state)
{
    struct err err = {0};
    void *bpf = NULL;
    size_t len = 0;
    struct timespec a, b;
    double ms;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (rt_seccomp_compile(NULL, DEFAULT_CAPS, &bpf, &len, &err) < 0)
        fail_msg("compile: %s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    assert_non_null(bpf);
    assert_true(len > 0 && len % sizeof(struct sock_filter) == 0);
    assert_true(len / sizeof(struct sock_filter) < 4096); /* BPF_MAXINSNS */
    print_message("default profile: %.2f ms, %zu bytes (%zu instructions)\n", ms, len,
                  len / sizeof(struct sock_filter));
    free(bpf);
}

static void test_seccomp_default_enforced(void **state)
{
    struct err err = {0};
    void *bpf = NULL;
    size_t len = 0;
    const char *msg;

    (void)state;
    if (geteuid() != 0)
        skip(); /* the probes rely on root semantics (EPERM only from the filter) */
    if (rt_seccomp_compile(NULL, DEFAULT_CAPS, &bpf, &len, &err) < 0)
        fail_msg("compile: %s", err.msg);
    msg = run_filtered(bpf, len, probe_default);
    free(bpf);
    if (*msg)
        fail_msg("default profile: %s", msg);
}

static void test_seccomp_sys_admin_unlocks(void **state)
{
    struct err err = {0};
    void *bpf = NULL;
    size_t len = 0;
    const char *msg;

    (void)state;
    if (geteuid() != 0)
        skip();
    if (rt_seccomp_compile(NULL, DEFAULT_CAPS | CAP_SYS_ADMIN_BIT, &bpf, &len, &err) < 0)
        fail_msg("compile: %s", err.msg);
    msg = run_filtered(bpf, len, probe_sys_admin);
    free(bpf);
    if (*msg)
        fail_msg("CAP_SYS_ADMIN profile: %s", msg);
}

/* A custom profile: default action, errno(N), conditions, caps and kernel gates,
 * unknown syscall names skipped. */
static void test_seccomp_custom_profile(void **state)
{
    static const char text[] =
        "# test\n"
        "default errno(1)\n"
        "arches x86_64 x86 x32\n"
        "allow exit exit_group write read close rt_sigreturn rt_sigprocmask no_such_syscall\n"
        "allow brk mmap munmap mprotect futex madvise sigaltstack rt_sigaction prctl\n"
        "allow getpid gettid sched_yield\n"
        "allow getpgrp when minkernel=3.0\n"
        "allow getppid when minkernel=99.0\n"
        "errno(13) getsid\n"
        "allow getuid when cap=CAP_SYS_BOOT\n"
        "allow getgid when !cap=CAP_SYS_BOOT arch=x86_64,aarch64\n"
        "errno(1) getgid   # same as default: a no-op\n";
    struct err err = {0};
    void *bpf = NULL;
    size_t len = 0;
    const char *msg;

    (void)state;
    if (rt_seccomp_compile(text, DEFAULT_CAPS, &bpf, &len, &err) < 0)
        fail_msg("compile: %s", err.msg);
#if defined(__x86_64__) || defined(__aarch64__)
    msg = run_filtered(bpf, len, probe_custom);
    if (*msg)
        fail_msg("custom profile: %s", msg);
#else
    (void)msg;
#endif
    free(bpf);
}

static void expect_bad(const char *text, unsigned line, const char *what)
{
    struct err err = {0};
    void *bpf = (void *)1;
    size_t len = 0;
    char want[64];

    if (rt_seccomp_compile(text, DEFAULT_CAPS, &bpf, &len, &err) != -EINVAL)
        fail_msg("for %s: not refused (%s)", text, err.msg);
    (void)snprintf(want, sizeof(want), "seccomp profile line %u: ", line);
    if (strncmp(err.msg, want, strlen(want)) != 0 || !strstr(err.msg, what))
        fail_msg("for %s: got '%s', want '%s...%s'", text, err.msg, want, what);
    assert_ptr_equal(bpf, (void *)1); /* untouched */
}

static void test_seccomp_bad_profiles(void **state)
{
    (void)state;
    expect_bad("allow getpid\nfrobnicate getpid\n", 2, "frobnicate");
    expect_bad("\n\n# c\nallow\n", 4, "at least one syscall");
    expect_bad("allow getpid if arg9 == 1\n", 1, "arg0..arg5");
    expect_bad("allow getpid if arg0 =~ 1\n", 1, "comparison");
    expect_bad("allow getpid if arg0 == zz\n", 1, "bad number");
    expect_bad("allow getpid if arg0 & 0x10 != 0\n", 1, "arg0 & <mask> == <value>");
    expect_bad("allow getpid if arg0 == 1 or arg1 == 2\n", 1, "unexpected 'or'");
    expect_bad("allow getpid when cap=CAP_NOPE\n", 1, "unknown capability");
    expect_bad("allow getpid when arch=vax\n", 1, "unknown architecture");
    expect_bad("allow getpid when minkernel=4\n", 1, "minkernel");
    expect_bad("allow getpid when\n", 1, "at least one condition");
    expect_bad("allow getpid when sometimes\n", 1, "unknown condition");
    expect_bad("allow Get-Pid\n", 1, "bad syscall name");
    expect_bad("errno(99999) getpid\n", 1, "unknown statement or action");
    expect_bad("default errno(1)\ndefault allow\n", 2, "second 'default'");
    expect_bad("arches vax\n", 1, "unknown architecture");
    expect_bad("allow getpid when cap=CAP_SYS_ADMIN if arg0 == 1\n", 1, "unknown condition");
    /* conflicting actions for one syscall are caught at compile time */
    expect_bad("allow getpid\nerrno(5) getpid\n", 2, "getpid");
}

static void test_seccomp_default_per_capmask_differs(void **state)
{
    void *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;

    (void)state;
    assert_int_equal(rt_seccomp_compile(NULL, DEFAULT_CAPS, &a, &la, NULL), 0);
    assert_int_equal(rt_seccomp_compile(NULL, ~0ull, &b, &lb, NULL), 0);
    assert_true(la != lb || memcmp(a, b, la) != 0);
    free(a);
    free(b);
    assert_int_equal(rt_seccomp_compile(NULL, DEFAULT_CAPS, NULL, &la, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seccomp_default_profile_text),
        cmocka_unit_test(test_seccomp_default_compiles),
        cmocka_unit_test(test_seccomp_default_enforced),
        cmocka_unit_test(test_seccomp_sys_admin_unlocks),
        cmocka_unit_test(test_seccomp_custom_profile),
        cmocka_unit_test(test_seccomp_bad_profiles),
        cmocka_unit_test(test_seccomp_default_per_capmask_differs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
