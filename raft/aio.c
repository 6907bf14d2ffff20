/*
 * raft/aio.c - libraft's io_destroy(2) calls, taken off the loop thread.
 *
 * libraft 0.15's uv backend gives every open log segment a kernel AIO
 * context and destroys it with io_destroy(2) when the segment is closed:
 * at each snapshot (the open segment is finalised) and at each segment
 * roll-over, on the loop thread. io_destroy waits for an RCU grace period
 * before it returns, measured at 29-31 ms on this 2-core VM (strace -T),
 * and for that time the whole manager stands still: no appends, no
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
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "raft/internal.h"

typedef long (*syscall_fn)(long, ...);

static syscall_fn real_syscall;

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

static syscall_fn resolve(void)
{
    syscall_fn f = __atomic_load_n(&real_syscall, __ATOMIC_ACQUIRE);

    if (!f) {
        f = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
        __atomic_store_n(&real_syscall, f, __ATOMIC_RELEASE);
    }
    return f;
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

/* libc's syscall() is looked up before main (no dlsym later, in a forked
 * child or a signal handler); rft_open() calls rft__aio_init() so that the
 * linker takes this file out of libcore.a. */
__attribute__((constructor)) static void aio_resolve(void)
{
    (void)resolve();
}

void rft__aio_init(void)
{
    (void)resolve();
}
