/*
 * raft/aio.c - libraft's kernel AIO, made to pay off: io_destroy(2) taken
 * off the loop thread, and log segments zero-filled so that writes to them
 * can go through AIO at all.
 *
 * io_destroy. libraft 0.15's uv backend gives every open log segment a
 * kernel AIO context and destroys it with io_destroy(2) when the segment is
 * closed: at each snapshot (the open segment is finalised) and at each
 * segment roll-over, on the loop thread. io_destroy waits for an RCU grace
 * period before it returns, measured at 29-31 ms on this 2-core VM (strace
 * -T), and for that time the whole manager stands still: no appends, no
 * replication, no API. Under a steady stream of writes that was a 30 ms
 * stall every 8192 entries, the p99 of every write benchmark and about a
 * tenth of the throughput.
 *
 * libraft makes the call as syscall(__NR_io_destroy, ctx) through libc's
 * syscall() (its own io_destroy wrapper is not exported), so shoald defines
 * syscall() itself: every call goes straight to libc's, except io_destroy,
 * which is handed to a reaper thread and reported done. The context is
 * idle by then (libraft destroys it after its last request completed, or
 * after a failed set-up); the kernel frees it a moment later than it would
 * have, and at exit frees whatever is left. An io_destroy handed over
 * reports success (libraft ignores its result). If the reaper cannot start,
 * the call is made in place as before.
 *
 * Zero-filled segments. libraft creates each segment (8 MiB, opened
 * O_DSYNC, later O_DIRECT) with posix_fallocate(3), which on ext4 and xfs
 * reserves "unwritten" extents. It then submits every append with
 * RWF_NOWAIT on the loop thread, and ext4 refuses (EAGAIN, in the
 * completion) a NOWAIT direct write into unwritten extents that closely
 * follows another one, which is how libraft appends: half of the appends or
 * more went the slow way, libraft's fallback to the libuv threadpool, a
 * blocking io_submit there whose O_DSYNC completion also commits the extent
 * conversion to the journal, and back to the loop through uv_async.
 * shoald therefore defines posix_fallocate(3) too: it calls libc's, and for
 * a descriptor opened O_DSYNC (libraft's segments and its capability probe
 * file; nothing else in shoald calls it) it then writes zeros over the
 * range (a few large O_DSYNC writes, ~10-30 ms for a segment, on libraft's
 * preparing threadpool thread, ahead of use) and drops the now-clean pages
 * from the page cache (a NOWAIT direct write over cached pages is refused
 * as well). The appends become overwrites of written blocks: the NOWAIT
 * submission is taken on the loop thread and each write is shorter. API
 * writes at 64 in flight went from ~29k/s to ~35k/s here. What a reader
 * sees does not change (unwritten extents read as zeros too). The zeros
 * are best effort: if writing them fails the range stays as fallocate left
 * it, which libraft handles as before.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "raft/internal.h"

typedef long (*syscall_fn)(long, ...);
typedef int (*fallocate_fn)(int, off_t, off_t);

static void *real_syscall, *real_fallocate; /* libc's, from dlsym */

struct dead_ctx {
    struct dead_ctx *next;
    unsigned long ctx;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct dead_ctx *head;
    int state; /* 0: not started, 1: running, -1: could not start */
} reaper = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0};

/* libc's definition of name, looked up once into *slot */
static void *next_def(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

static syscall_fn resolve(void)
{
    return (syscall_fn)next_def(&real_syscall, "syscall");
}

static fallocate_fn resolve_fallocate(void)
{
    return (fallocate_fn)next_def(&real_fallocate, "posix_fallocate");
}

static void *reaper_main(void *arg)
{
    syscall_fn f = resolve();

    (void)arg;
    pthread_mutex_lock(&reaper.lock);
    for (;;) {
        while (!reaper.head)
            pthread_cond_wait(&reaper.cond, &reaper.lock);
        struct dead_ctx *d = reaper.head;
        reaper.head = d->next;
        pthread_mutex_unlock(&reaper.lock);
        f(SYS_io_destroy, d->ctx);
        free(d);
        pthread_mutex_lock(&reaper.lock);
    }
    return NULL;
}

/* Queue ctx for the reaper; false: destroy it in place. */
static bool reap_later(unsigned long ctx)
{
    struct dead_ctx *d = malloc(sizeof(*d));
    bool ok = false;

    if (!d)
        return false;
    d->ctx = ctx;
    pthread_mutex_lock(&reaper.lock);
    if (reaper.state == 0) {
        pthread_attr_t attr;
        pthread_t tid;
        sigset_t all, old;

        /* the reaper takes no signals: shoald handles them on its loop */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        reaper.state = pthread_create(&tid, &attr, reaper_main, NULL) == 0 ? 1 : -1;
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (reaper.state == 1)
            pthread_setname_np(tid, "aio-reaper");
    }
    if (reaper.state == 1) {
        d->next = reaper.head;
        reaper.head = d;
        pthread_cond_signal(&reaper.cond);
        ok = true;
    }
    pthread_mutex_unlock(&reaper.lock);
    if (!ok)
        free(d);
    return ok;
}

long syscall(long nr, ...)
{
    syscall_fn f = resolve();
    va_list ap;
    long a[6];

    /* syscall(2) passes up to six words; libc's own reads all six the same way */
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (nr == SYS_io_destroy && reap_later((unsigned long)a[0]))
        return 0;
    return f(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

#define ZERO_CHUNK (64 * 1024)
#define ZERO_IOVS  64 /* 4 MiB per write */

/* Write zeros over [off, off+len); false when a write failed. The buffer is
 * never written to, so its pages stay the kernel's shared zero page. */
static bool zero_fill(int fd, off_t off, off_t len)
{
    static char zeros[ZERO_CHUNK]; /* .bss, never written */
    struct iovec iov[ZERO_IOVS];
    off_t end = off + len;

    while (off < end) {
        off_t left = end - off;
        int n = 0;
        ssize_t w;

        while (n < ZERO_IOVS && left > 0) {
            size_t k = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;

            iov[n].iov_base = zeros;
            iov[n].iov_len = k;
            left -= (off_t)k;
            n++;
        }
        w = pwritev(fd, iov, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
    fallocate_fn f = resolve_fallocate();
    int saved = errno;
    int flags;
    int r;

    if (!f)
        return ENOSYS;
    r = f(fd, offset, len);
    if (r != 0)
        return r;
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_DSYNC) == O_DSYNC && zero_fill(fd, offset, len))
        (void)posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED);
    errno = saved; /* posix_fallocate reports through its result only */
    return 0;
}

/* libc's syscall() is looked up before main (no dlsym later, in a forked
 * child or a signal handler); rft_open() calls rft__aio_init() so that the
 * linker takes this file out of libcore.a. */
__attribute__((constructor)) static void aio_resolve(void)
{
    (void)resolve();
    (void)resolve_fallocate();
}

void rft__aio_init(void)
{
    (void)resolve();
    (void)resolve_fallocate();
}
