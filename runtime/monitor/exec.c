/*
 * runtime/monitor/exec.c - docker exec inside the monitor (runtime-notes section 7).
 *
 * MON_C_EXEC forks a child straight into the container's PID namespace: the
 * monitor joined it for its children once (setns(pidfd, CLONE_NEWPID) affects
 * only processes created afterwards, and the monitor forks nothing else after
 * the init), so the exec is a direct child of the monitor, reaped by the same
 * waitpid(-1) as the init, with no intermediate process and no pid race. The
 * child (setup.c, mon_exec_child_main) joins the cgroup and the other
 * namespaces and applies the container's security before execve.
 *
 * Each exec has a close-on-exec SOCK_SEQPACKET sync socket: a pty master
 * arrives on it with SCM_RIGHTS, an error as MON_SYNC_ERROR, and EOF without
 * an error means the execve succeeded. Its stdout/stderr pipes (or pty) are
 * read only while the owning client has less than MON_EXEC_OUT_HIGH bytes
 * queued, so exec output is never dropped and never piles up in the monitor.
 * Everything stays in the one poll loop.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "lib/util.h"

#include "runtime/monitor/monitor.h"
#include "runtime/monitor_proto.h"

#define EXEC_DRAIN_MS 1000
#define EXEC_PREFIX   (1 + MON_EXEC_ID_MAX)

enum { S_SYNC, S_OUT, S_ERR, S_IN, S_N };

/* ---- frames ------------------------------------------------------------------ */

static void send_id_frame(struct mon *m, struct mon_client *c, uint8_t type, const char *id,
                          size_t idlen, const void *data, size_t len)
{
    unsigned char buf[EXEC_PREFIX + 1100];
    size_t pre;

    if (!c || c->fd < 0)
        return;
    if (len > sizeof(buf) - EXEC_PREFIX)
        len = sizeof(buf) - EXEC_PREFIX;
    pre = mon_put_exec_id(buf, id, idlen);
    if (len)
        memcpy(buf + pre, data, len);
    mon_client_send(m, c, type, buf, pre + len, false);
}

static void send_u32(struct mon *m, struct mon_client *c, uint8_t type, const char *id,
                     size_t idlen, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};

    send_id_frame(m, c, type, id, idlen, b, sizeof(b));
}

/* An exec that never got a process: error and exit at once. */
static void refuse(struct mon *m, struct mon_client *c, const char *id, size_t idlen, int code,
                   const char *msg)
{
    char b[600];
    int n = snprintf(b, sizeof(b), "%c%s", code, msg);

    send_id_frame(m, c, MON_M_EXEC_ERR, id, idlen, b, n < 0 ? 0 : (size_t)n);
    send_u32(m, c, MON_M_EXEC_EXIT, id, idlen, (uint32_t)code);
}

/* ---- lifetime ------------------------------------------------------------------ */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
    *fd = -1;
}

static void exec_free(struct mon_exec *x)
{
    close_fd(&x->sync_fd);
    close_fd(&x->in_fd);
    close_fd(&x->out_fd);
    close_fd(&x->err_fd);
    close_fd(&x->tty_fd);
    buf_release(&x->stdin_buf);
    free(x);
}

static struct mon_exec *exec_find(struct mon *m, const char *id, size_t idlen)
{
    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];
        if (!x->done && x->idlen == idlen && !memcmp(x->id, id, idlen))
            return x;
    }
    return NULL;
}

static int exit_code_of(const struct mon_exec *x)
{
    if (!x->reaped)
        return 128 + SIGKILL;
    if (WIFEXITED(x->wait_status))
        return WEXITSTATUS(x->wait_status);
    if (WIFSIGNALED(x->wait_status))
        return 128 + WTERMSIG(x->wait_status);
    return 255;
}

static void exec_finish(struct mon *m, struct mon_exec *x)
{
    if (x->done)
        return;
    x->done = true;
    if (x->sync_fd >= 0 && !x->started && !x->failed) {
        /* reaped before we saw the execve: it did run if there is no error */
        x->started = true;
        send_u32(m, x->owner, MON_M_EXEC_STARTED, x->id, x->idlen, (uint32_t)x->pid);
    }
    send_u32(m, x->owner, MON_M_EXEC_EXIT, x->id, x->idlen, (uint32_t)exit_code_of(x));
    close_fd(&x->sync_fd);
    close_fd(&x->in_fd);
    close_fd(&x->out_fd);
    close_fd(&x->err_fd);
    close_fd(&x->tty_fd);
    buf_release(&x->stdin_buf);
}

/* ---- stdin ------------------------------------------------------------------- */

static void stdin_close(struct mon_exec *x)
{
    close_fd(&x->in_fd);
    buf_release(&x->stdin_buf);
    x->stdin_pos = 0;
}

static void stdin_flush(struct mon_exec *x)
{
    while (x->in_fd >= 0 && x->stdin_pos < x->stdin_buf.len) {
        ssize_t n =
            write(x->in_fd, x->stdin_buf.data + x->stdin_pos, x->stdin_buf.len - x->stdin_pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                stdin_close(x);
            return;
        }
        x->stdin_pos += (size_t)n;
    }
    if (x->stdin_pos == x->stdin_buf.len) {
        x->stdin_buf.len = x->stdin_pos = 0;
        if (x->stdin_buf.cap > 65536) {
            buf_release(&x->stdin_buf);
            buf_init(&x->stdin_buf);
        }
        if (x->stdin_eof && !x->tty)
            stdin_close(x);
    }
}

/* ---- start ------------------------------------------------------------------- */

static const char *validate(const Shoal__Rt__RtExec *x)
{
    if (x->n_args == 0 || !x->args[0])
        return "no exec command specified";
    if (*x->cwd && x->cwd[0] != '/')
        return "the working directory of an exec must be absolute";
    return NULL;
}

static int join_pidns(struct mon *m)
{
    if (m->pidfd < 0) {
        m->pidfd = (int)syscall(SYS_pidfd_open, m->pid, 0);
        if (m->pidfd < 0)
            return -errno;
        (void)fcntl(m->pidfd, F_SETFD, FD_CLOEXEC);
    }
    if (!m->pidns_joined) {
        if (setns(m->pidfd, CLONE_NEWPID) < 0)
            return -errno;
        m->pidns_joined = true;
    }
    return 0;
}

static void exec_start(struct mon *m, struct mon_client *c, const unsigned char *p, uint32_t len)
{
    Shoal__Rt__RtExec *rx = shoal__rt__rt_exec__unpack(NULL, len, p);
    int sp[2] = {-1, -1}, pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    struct mon_exec *x = NULL, **nx;
    const char *bad;
    size_t idlen;
    char msg[300];
    pid_t pid;
    int r;

    if (!rx)
        return; /* no id to answer to */
    idlen = strlen(rx->id);
    if (idlen == 0 || idlen > MON_EXEC_ID_MAX)
        goto out;
    bad = validate(rx);
    if (bad) {
        refuse(m, c, rx->id, idlen, 125, bad);
        goto out;
    }
    if (!m->started || m->exited) {
        refuse(m, c, rx->id, idlen, 125, "container is not running");
        goto out;
    }
    if (exec_find(m, rx->id, idlen)) {
        refuse(m, c, rx->id, idlen, 125, "exec id already in use");
        goto out;
    }
    if (m->nexecs >= MON_MAX_EXECS) {
        refuse(m, c, rx->id, idlen, 125, "too many concurrent execs in this container");
        goto out;
    }
    r = join_pidns(m);
    if (r < 0) {
        (void)snprintf(msg, sizeof(msg), "join the container's PID namespace: %s", strerror(-r));
        refuse(m, c, rx->id, idlen, 125, msg);
        goto out;
    }
    x = calloc(1, sizeof(*x));
    nx = realloc(m->execs, (m->nexecs + 1) * sizeof(*nx));
    if (nx)
        m->execs = nx;
    if (!x || !nx) {
        refuse(m, c, rx->id, idlen, 125, "out of memory");
        goto out;
    }
    memcpy(x->id, rx->id, idlen);
    x->idlen = idlen;
    x->owner = c;
    x->tty = rx->tty;
    x->sync_fd = x->in_fd = x->out_fd = x->err_fd = x->tty_fd = -1;
    buf_init(&x->stdin_buf);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0 ||
        (!rx->tty && (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)) ||
        (!rx->tty && rx->open_stdin && pipe2(pin, O_CLOEXEC) < 0)) {
        (void)snprintf(msg, sizeof(msg), "create pipes: %s", strerror(errno));
        refuse(m, c, rx->id, idlen, 125, msg);
        goto out_fds;
    }
    pid = fork();
    if (pid < 0) {
        /* ENOMEM here: the PID namespace is dying with its init */
        (void)snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
        refuse(m, c, rx->id, idlen, 125, msg);
        goto out_fds;
    }
    if (pid == 0) {
        int fds[4] = {sp[1], pin[0], pout[1], perr[1]};
        mon_exec_child_main(m, rx, fds);
    }
    x->pid = pid;
    x->sync_fd = sp[0];
    x->in_fd = pin[1];
    x->out_fd = pout[0];
    x->err_fd = perr[0];
    sp[0] = pin[1] = pout[0] = perr[0] = -1;
    (void)fcntl(x->sync_fd, F_SETFL, O_NONBLOCK);
    if (x->in_fd >= 0)
        (void)fcntl(x->in_fd, F_SETFL, O_NONBLOCK);
    if (x->out_fd >= 0)
        (void)fcntl(x->out_fd, F_SETFL, O_NONBLOCK);
    if (x->err_fd >= 0)
        (void)fcntl(x->err_fd, F_SETFL, O_NONBLOCK);
    /* a tty exec gets its stdin fd with the pty master (exec_sync) */
    x->stdin_eof = !rx->open_stdin;
    m->execs[m->nexecs++] = x;
    x = NULL;
out_fds:
    close_fd(&sp[0]);
    close_fd(&sp[1]);
    close_fd(&pin[0]);
    close_fd(&pin[1]);
    close_fd(&pout[0]);
    close_fd(&pout[1]);
    close_fd(&perr[0]);
    close_fd(&perr[1]);
out:
    if (x)
        exec_free(x);
    shoal__rt__rt_exec__free_unpacked(rx, NULL);
}

/* ---- the sync socket ----------------------------------------------------------- */

static void exec_sync(struct mon *m, struct mon_exec *x)
{
    char buf[1100] = {0};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n;

    do {
        n = recvmsg(x->sync_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n > 0 && buf[0] == MON_SYNC_TTY) {
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        int fd;

        if (!cm || cm->cmsg_type != SCM_RIGHTS)
            return;
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (x->tty_fd >= 0) {
            (void)close(fd);
            return;
        }
        x->tty_fd = fd;
        (void)fcntl(fd, F_SETFL, O_NONBLOCK);
        x->out_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (!x->stdin_eof)
            x->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (x->stdin_buf.len)
            stdin_flush(x);
        return;
    }
    close_fd(&x->sync_fd);
    if (n > 2 && buf[0] == MON_SYNC_ERROR) {
        int code = (unsigned char)buf[1];

        buf[n] = 0;
        if (code < 125 || code > 127)
            code = mon_exec_error_code(buf + 2);
        x->failed = true;
        buf[1] = (char)code;
        send_id_frame(m, x->owner, MON_M_EXEC_ERR, x->id, x->idlen, buf + 1, (size_t)n - 1);
        return;
    }
    /* EOF: the execve closed the child's end */
    x->started = true;
    send_u32(m, x->owner, MON_M_EXEC_STARTED, x->id, x->idlen, (uint32_t)x->pid);
}

/* ---- output ---------------------------------------------------------------------- */

static bool owner_full(const struct mon_exec *x)
{
    const struct mon_client *c = x->owner;

    return c && c->fd >= 0 && c->out.len - c->out_pos >= MON_EXEC_OUT_HIGH;
}

static void exec_output(struct mon *m, struct mon_exec *x, int *fdp, uint8_t type)
{
    char *data = m->rdbuf + EXEC_PREFIX;

    for (int rounds = 0; rounds < 4 && *fdp >= 0 && !owner_full(x); rounds++) {
        ssize_t n = read(*fdp, data, MON_READ_CHUNK - EXEC_PREFIX);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close_fd(fdp); /* EOF, or EIO on a pty whose last slave is closed */
            return;
        }
        if (x->owner) {
            unsigned char *start = (unsigned char *)data - (1 + x->idlen);
            (void)mon_put_exec_id(start, x->id, x->idlen);
            mon_client_send(m, x->owner, type, start, 1 + x->idlen + (size_t)n, false);
        }
        if ((size_t)n < MON_READ_CHUNK - EXEC_PREFIX)
            return;
    }
}

/* ---- public -------------------------------------------------------------------- */

void mon_exec_request(struct mon *m, struct mon_client *c, uint8_t type, const unsigned char *p,
                      uint32_t len)
{
    struct mon_exec *x;
    const char *id;
    size_t idlen, pre;

    if (type == MON_C_EXEC) {
        exec_start(m, c, p, len);
        return;
    }
    pre = mon_get_exec_id(p, len, &id, &idlen);
    if (!pre)
        return;
    x = exec_find(m, id, idlen);
    if (!x)
        return;
    p += pre;
    len -= (uint32_t)pre;
    switch (type) {
    case MON_C_EXEC_STDIN:
        if (x->owner == c && !x->stdin_eof && len > 0 && (x->in_fd >= 0 || x->tty_fd < 0) &&
            x->stdin_buf.len - x->stdin_pos < MON_STDIN_MAX + MON_MAX_PAYLOAD &&
            buf_append(&x->stdin_buf, p, len) == 0)
            stdin_flush(x);
        break;
    case MON_C_EXEC_STDIN_EOF:
        if (x->owner == c && !x->tty) {
            x->stdin_eof = true;
            stdin_flush(x);
        }
        break;
    case MON_C_EXEC_RESIZE:
        if (len >= 4 && x->tty_fd >= 0) {
            struct winsize ws = {
                .ws_row = (unsigned short)((p[0] << 8) | p[1]),
                .ws_col = (unsigned short)((p[2] << 8) | p[3]),
            };
            (void)ioctl(x->tty_fd, TIOCSWINSZ, &ws);
        }
        break;
    case MON_C_EXEC_SIGNAL:
        if (len >= 4 && !x->reaped) {
            uint32_t sig = mon_get_u32(p);
            if (sig >= 1 && sig <= 64)
                (void)kill(x->pid, (int)sig);
        }
        break;
    default:
        break;
    }
}

bool mon_exec_reaped(struct mon *m, pid_t pid, int status)
{
    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];
        if (x->pid == pid && !x->reaped) {
            x->reaped = true;
            x->wait_status = status;
            x->reaped_at_ns = time_mono_ns();
            return true;
        }
    }
    return false;
}

void mon_exec_client_gone(struct mon *m, struct mon_client *c)
{
    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];
        if (x->owner != c)
            continue;
        x->owner = NULL;
        if (!x->tty) {
            x->stdin_eof = true;
            stdin_close(x);
        }
    }
}

size_t mon_exec_prepare(struct mon *m)
{
    for (size_t i = 0; i < m->nclients; i++)
        m->clients[i]->in_blocked = false;
    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];
        if (x->owner && x->stdin_buf.len - x->stdin_pos >= MON_STDIN_MAX)
            x->owner->in_blocked = true;
    }
    return S_N * m->nexecs;
}

size_t mon_exec_poll(struct mon *m, struct pollfd *pfd, int *timeout_ms)
{
    int64_t now = 0;
    size_t n = 0;

    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];
        bool hold = owner_full(x);

        pfd[n++] = (struct pollfd){.fd = x->sync_fd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = hold ? -1 : x->out_fd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = hold ? -1 : x->err_fd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = x->stdin_pos < x->stdin_buf.len ? x->in_fd : -1,
                                   .events = POLLOUT};
        if (x->reaped && !x->done) {
            int64_t left;

            if (!now)
                now = time_mono_ns();
            left = (x->reaped_at_ns + (int64_t)EXEC_DRAIN_MS * 1000000 - now) / 1000000 + 1;
            if (left < 1)
                left = 1;
            if (*timeout_ms < 0 || left < *timeout_ms)
                *timeout_ms = (int)left;
        }
    }
    return n;
}

void mon_exec_dispatch(struct mon *m, const struct pollfd *pfd, size_t n)
{
    int64_t now = time_mono_ns();
    size_t j = 0;

    for (size_t i = 0; i < m->nexecs && (i + 1) * S_N <= n; i++) {
        struct mon_exec *x = m->execs[i];
        const struct pollfd *q = pfd + i * S_N;

        if (q[S_SYNC].revents && x->sync_fd >= 0)
            exec_sync(m, x);
        if (q[S_OUT].revents && x->out_fd >= 0)
            exec_output(m, x, &x->out_fd, MON_M_EXEC_STDOUT);
        if (q[S_ERR].revents && x->err_fd >= 0)
            exec_output(m, x, &x->err_fd, MON_M_EXEC_STDERR);
        if (q[S_IN].revents && x->in_fd >= 0)
            stdin_flush(x);
    }
    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];

        /* a reaped exec's error message may still sit in the sync socket */
        if (x->reaped && x->sync_fd >= 0)
            exec_sync(m, x);
        if (x->reaped && !x->done && x->sync_fd < 0 &&
            ((x->out_fd < 0 && x->err_fd < 0) ||
             now - x->reaped_at_ns >= (int64_t)EXEC_DRAIN_MS * 1000000))
            exec_finish(m, x);
        if (x->done)
            exec_free(x);
        else
            m->execs[j++] = x;
    }
    m->nexecs = j;
    if (j == 0 && m->execs) {
        free(m->execs);
        m->execs = NULL;
    }
}

void mon_exec_finish_all(struct mon *m)
{
    for (size_t i = 0; i < m->nexecs; i++) {
        struct mon_exec *x = m->execs[i];
        if (x->reaped && x->sync_fd >= 0)
            exec_sync(m, x);
        exec_finish(m, x);
        exec_free(x);
    }
    free(m->execs);
    m->execs = NULL;
    m->nexecs = 0;
}
