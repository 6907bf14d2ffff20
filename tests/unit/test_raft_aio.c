/* Unit tests for raft/aio.c: syscall() passes every call through unchanged
 * (arguments, result, errno) except io_destroy(2), which a reaper thread
 * makes; the context is destroyed all the same. posix_fallocate(3) on an
 * O_DSYNC descriptor leaves written zeros, so that a RWF_NOWAIT direct
 * write into the range is taken (libraft's segments), and on any other
 * descriptor does what libc's does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

static char tmpdir[] = "/tmp/test-raft-aio.XXXXXX";

static int make_file(const char *name, int flags)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | flags, 0600);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* 1: some extent of fd is unwritten, 0: none is, -1: the file system does
 * not say (no FIEMAP, as on tmpfs) */
static int has_unwritten(int fd)
{
    struct {
        struct fiemap fm;
        struct fiemap_extent ext[64];
    } q;
    int any = 0;

    memset(&q, 0, sizeof(q));
    q.fm.fm_length = FIEMAP_MAX_OFFSET;
    q.fm.fm_flags = FIEMAP_FLAG_SYNC;
    q.fm.fm_extent_count = 64;
    if (ioctl(fd, FS_IOC_FIEMAP, &q.fm) < 0)
        return -1;
    for (unsigned int i = 0; i < q.fm.fm_mapped_extents; i++)
        if (q.ext[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN)
            any = 1;
    return any;
}

static void test_fallocate_zero_fill(void **state)
{
    const off_t len = 5 * 1024 * 1024 + 12288; /* more than one 4 MiB write */
    int seg, plain, rfd;
    char path[64];
    struct stat st;
    char *buf;
    ssize_t n;
    off_t off = 0;

    (void)state;
    seg = make_file("seg", O_DSYNC);
    plain = make_file("plain", 0);
    /* something to be overwritten: the whole range reads back as zeros */
    assert_int_equal(pwrite(seg, "xyz", 3, 4096), 3);
    assert_int_equal(posix_fallocate(seg, 0, len), 0);
    assert_int_equal(posix_fallocate(plain, 0, len), 0);
    assert_int_equal(fstat(seg, &st), 0);
    assert_int_equal(st.st_size, len);
    assert_int_equal(fstat(plain, &st), 0);
    assert_int_equal(st.st_size, len);
    if (has_unwritten(plain) == 1) {
        /* a file system with unwritten extents: the O_DSYNC file has none */
        assert_int_equal(has_unwritten(seg), 0);
    } else {
        print_message("no unwritten extents here: extent check skipped\n");
    }

    snprintf(path, sizeof(path), "/proc/self/fd/%d", seg);
    rfd = open(path, O_RDONLY);
    assert_true(rfd >= 0);
    buf = malloc(1 << 20);
    assert_non_null(buf);
    while ((n = pread(rfd, buf, 1 << 20, off)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != 0)
                fail_msg("byte %lld is %d", (long long)(off + i), buf[i]);
        off += n;
    }
    assert_int_equal(off, len);
    free(buf);
    close(rfd);

    /* errors come back as results, errno untouched */
    errno = 1234;
    assert_int_equal(posix_fallocate(-1, 0, 4096), EBADF);
    assert_int_equal(errno, 1234);
    assert_int_equal(posix_fallocate(seg, 0, 0), EINVAL);
    close(seg);
    close(plain);
}

/* What the zeros are for: libraft's NOWAIT direct writes are taken, not
 * refused with EAGAIN (which sent every append to the threadpool). On ext4
 * a NOWAIT write into unwritten extents right after another one completed
 * is refused; libraft appends exactly so, each write starting in the last
 * block of the one before. */
static void test_nowait_writes_taken(void **state)
{
    aio_context_t ctx = 0;
    struct iocb cb, *cbs[1] = {&cb};
    struct io_event ev;
    void *blk = NULL;
    int fd;

    (void)state;
    fd = make_file("nowait", O_DSYNC);
    assert_int_equal(posix_fallocate(fd, 0, 1 << 20), 0);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) < 0) {
        close(fd);
        skip(); /* no direct I/O here: libraft does not use AIO either */
    }
    assert_int_equal(posix_memalign(&blk, 4096, 8192), 0);
    memset(blk, 7, 8192);
    assert_int_equal(syscall(SYS_io_setup, 1, &ctx), 0);
    for (int i = 0; i < 16; i++) {
        memset(&cb, 0, sizeof(cb));
        cb.aio_lio_opcode = IOCB_CMD_PWRITE;
        cb.aio_fildes = (uint32_t)fd;
        cb.aio_buf = (uint64_t)(uintptr_t)blk;
        cb.aio_nbytes = 8192;
        cb.aio_offset = (int64_t)i * 4096;
        cb.aio_rw_flags = RWF_NOWAIT | RWF_DSYNC;
        if (syscall(SYS_io_submit, ctx, 1, cbs) != 1) {
            int e = errno;

            syscall(SYS_io_destroy, ctx);
            close(fd);
            free(blk);
            if (e == EOPNOTSUPP || e == EINVAL)
                skip(); /* no NOWAIT AIO: libraft uses the threadpool anyway */
            fail_msg("io_submit: %s", strerror(e));
        }
        assert_int_equal(syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL), 1);
        if (ev.res != 8192)
            fail_msg("write %d at %d: result %lld", i, i * 4096, (long long)ev.res);
    }
    syscall(SYS_io_destroy, ctx);
    close(fd);
    free(blk);
}

static int setup_dir(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_io_destroy_deferred),
        cmocka_unit_test(test_fallocate_zero_fill),
        cmocka_unit_test(test_nowait_writes_taken),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
