/* Unit tests for raft/aio.c: syscall() passes every call through unchanged
 * (arguments, result, errno) except io_destroy(2), which a reaper thread
 * makes; the context is destroyed all the same. */
#include <dirent.h>
#include <errno.h>
#include <linux/aio_abi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "raft/internal.h"

static void test_passthrough(void **state)
{
    int p[2];
    char buf[4] = {0};
    void *m;

    (void)state;
    rft__aio_init();
    assert_int_equal(syscall(SYS_getpid), getpid());
    errno = 0;
    assert_int_equal(syscall(SYS_close, -1), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(syscall(SYS_write, p[1], "abc", 3), 3);
    assert_int_equal(read(p[0], buf, 3), 3);
    assert_string_equal(buf, "abc");
    close(p[0]);
    close(p[1]);
    /* six arguments */
    m = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 1, 4096);
    assert_int_equal(munmap(m, 4096), 0);
}

static bool reaper_running(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    bool found = false;

    assert_non_null(d);
    while (!found && (e = readdir(d))) {
        char path[300], comm[32] = "";
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            found = strncmp(comm, "aio-reaper", 10) == 0;
        fclose(f);
    }
    closedir(d);
    return found;
}

static void test_io_destroy_deferred(void **state)
{
    aio_context_t ctx = 0;
    int i;

    (void)state;
    assert_int_equal(syscall(SYS_io_setup, 8, &ctx), 0);
    assert_int_equal(syscall(SYS_io_submit, ctx, 0, NULL), 0); /* a live context */
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
    /* made by the reaper thread, not by the caller */
    assert_true(reaper_running());
    /* and the context does go away */
    for (i = 0; i < 10000; i++) {
        errno = 0;
        if (syscall(SYS_io_submit, ctx, 0, NULL) < 0 && errno == EINVAL)
            break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_true(i < 10000);

    /* many at once: all destroyed */
    aio_context_t many[16] = {0};
    for (i = 0; i < 16; i++)
        assert_int_equal(syscall(SYS_io_setup, 1, &many[i]), 0);
    for (i = 0; i < 16; i++)
        assert_int_equal(syscall(SYS_io_destroy, many[i]), 0);
    for (i = 0; i < 16; i++) {
        int tries = 0;
        while (!(syscall(SYS_io_submit, many[i], 0, NULL) < 0 && errno == EINVAL) &&
               tries++ < 10000)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        assert_true(tries < 10000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_io_destroy_deferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
