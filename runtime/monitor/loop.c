/*
 * runtime/monitor/loop.c - the monitor's single-threaded poll loop.
 *
 * Sources: a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP), the listening
 * socket, its clients, the container's stdout/stderr (or pty master), the
 * stdin pipe when there is something to write, and the sync socket until the
 * exec is done. Nothing blocks: output to a slow client is buffered up to
 * MON_CLIENT_OUT_MAX and then dropped for that client, so the container never
 * stalls on a client; the log file is always written.
 *
 * The loop returns once the container init has been reaped and its output is
 * drained (EOF on the pipes, or MON_DRAIN_MS after the exit at most).
 */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "lib/util.h"

#include "runtime/monitor/monitor.h"
#include "runtime/monitor_proto.h"

#define MON_DRAIN_MS    1000
#define MON_MAX_CLIENTS 256

static void client_free(struct mon_client *c)
{
    if (c->fd >= 0)
        (void)close(c->fd);
    buf_release(&c->in);
    buf_release(&c->out);
    free(c);
}

static void client_kill(struct mon_client *c)
{
    /* removed from the array by reap_clients() */
    c->closing = true;
    c->out.len = c->out_pos = 0;
    if (c->fd >= 0)
        (void)close(c->fd);
    c->fd = -1;
}

static void reap_clients(struct mon *m)
{
    size_t j = 0;

    for (size_t i = 0; i < m->nclients; i++) {
        if (m->clients[i]->fd < 0) {
            mon_exec_client_gone(m, m->clients[i]);
            client_free(m->clients[i]);
        } else
            m->clients[j++] = m->clients[i];
    }
    m->nclients = j;
}

static void client_flush(struct mon_client *c)
{
    while (c->fd >= 0 && c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                client_kill(c);
            return;
        }
        c->out_pos += (size_t)n;
    }
    if (c->out_pos == c->out.len) {
        c->out.len = c->out_pos = 0;
        if (c->out.cap > 65536) {
            buf_release(&c->out);
            buf_init(&c->out);
        }
    }
}

void mon_client_send(struct mon *m, struct mon_client *c, uint8_t type, const void *data,
                     size_t len, bool is_output)
{
    unsigned char hdr[MON_HDR_LEN];
    size_t pending = c->out.len - c->out_pos;
    size_t off = 0;

    (void)m;
    if (c->fd < 0)
        return;
    if (is_output && pending + MON_HDR_LEN + len > MON_CLIENT_OUT_MAX) {
        c->dropped = true;
        return;
    }
    mon_put_hdr(hdr, type, (uint32_t)len);
    if (pending == 0) {
        struct iovec iov[2] = {{hdr, MON_HDR_LEN}, {(void *)data, len}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
        ssize_t n;

        do {
            n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            client_kill(c);
            return;
        }
        off = n < 0 ? 0 : (size_t)n;
        if (off == MON_HDR_LEN + len)
            return;
    }
    if (off < MON_HDR_LEN) {
        if (buf_append(&c->out, hdr + off, MON_HDR_LEN - off) < 0 ||
            buf_append(&c->out, data, len) < 0)
            client_kill(c);
    } else if (buf_append(&c->out, (const char *)data + (off - MON_HDR_LEN),
                          len - (off - MON_HDR_LEN)) < 0) {
        client_kill(c);
    }
}

void mon_broadcast(struct mon *m, uint8_t type, const void *data, size_t len, bool is_output,
                   uint8_t attach_flag)
{
    for (size_t i = 0; i < m->nclients; i++) {
        struct mon_client *c = m->clients[i];
        if (is_output && !(c->attach & attach_flag))
            continue;
        mon_client_send(m, c, type, data, len, is_output);
    }
}

void mon_clients_flush_close(struct mon *m, int timeout_ms)
{
    int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;
    struct pollfd *pfd = calloc(m->nclients + 1, sizeof(*pfd));

    while (pfd) {
        size_t n = 0;
        int64_t left = (deadline - time_mono_ns()) / 1000000;

        for (size_t i = 0; i < m->nclients; i++) {
            struct mon_client *c = m->clients[i];
            if (c->fd >= 0 && c->out_pos < c->out.len)
                pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
        }
        if (n == 0 || left <= 0)
            break;
        if (poll(pfd, n, (int)left) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < m->nclients; i++)
            client_flush(m->clients[i]);
    }
    free(pfd);
    for (size_t i = 0; i < m->nclients; i++) {
        /* half-close first so the peer reads every byte before EOF */
        if (m->clients[i]->fd >= 0)
            (void)shutdown(m->clients[i]->fd, SHUT_WR);
        client_free(m->clients[i]);
    }
    m->nclients = 0;
}

/* ---- stdin ---------------------------------------------------------------- */

static void stdin_close(struct mon *m)
{
    if (m->in_fd >= 0 && m->in_fd != m->tty_fd)
        (void)close(m->in_fd);
    m->in_fd = -1;
    buf_release(&m->stdin_buf);
    m->stdin_pos = 0;
}

static void stdin_flush(struct mon *m)
{
    while (m->in_fd >= 0 && m->stdin_pos < m->stdin_buf.len) {
        ssize_t n =
            write(m->in_fd, m->stdin_buf.data + m->stdin_pos, m->stdin_buf.len - m->stdin_pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                stdin_close(m); /* EPIPE: the container closed its stdin */
            return;
        }
        m->stdin_pos += (size_t)n;
    }
    if (m->stdin_pos == m->stdin_buf.len) {
        m->stdin_buf.len = m->stdin_pos = 0;
        if (m->stdin_buf.cap > 65536) {
            buf_release(&m->stdin_buf);
            buf_init(&m->stdin_buf);
        }
        if (m->stdin_eof && !m->spec->tty)
            stdin_close(m);
    }
}

/* ---- the sync socket -------------------------------------------------------- */

void mon_handle_sync(struct mon *m)
{
    char buf[1100];
    ssize_t n;

    if (m->sync_fd < 0)
        return;
    do {
        n = recv(m->sync_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    (void)close(m->sync_fd);
    m->sync_fd = -1;
    if (n > 2 && buf[0] == MON_SYNC_ERROR) {
        buf[n] = 0;
        free(m->error);
        m->error = strdup(buf + 2);
        m->error_code = (unsigned char)buf[1];
        if (m->error_code < 125 || m->error_code > 127)
            m->error_code = mon_exec_error_code(buf + 2);
        for (size_t i = 0; i < m->nclients; i++) {
            struct mon_client *c = m->clients[i];
            if (c->want_started) {
                mon_client_send(m, c, MON_M_START_ERR, buf + 2, (size_t)n - 2, false);
                c->want_started = false;
            }
        }
        return;
    }
    if (n == 0 && m->start_sent) {
        /* close-on-exec socket at EOF without an error: the execve succeeded (the
         * program may already have exited, SIGCHLD can be seen first) */
        m->started = true;
        m->started_at_ns = time_now_ns();
        if (m->exited && m->finished_at_ns && m->started_at_ns > m->finished_at_ns)
            m->started_at_ns = m->finished_at_ns;
        mon_write_state(m);
        for (size_t i = 0; i < m->nclients; i++) {
            struct mon_client *c = m->clients[i];
            if (c->want_started) {
                mon_client_send(m, c, MON_M_STARTED, NULL, 0, false);
                c->want_started = false;
            }
        }
    }
    /* EOF before START: the setup process died (SIGKILL); SIGCHLD tells the rest */
}

/* ---- client requests ---------------------------------------------------------- */

static void handle_start(struct mon *m, struct mon_client *c)
{
    if (m->started) {
        mon_client_send(m, c, MON_M_STARTED, NULL, 0, false);
        return;
    }
    if (m->exited || m->error || m->killed_before_start) {
        const char *msg = m->error ? m->error : "container exited before it started";
        mon_client_send(m, c, MON_M_START_ERR, msg, strlen(msg), false);
        return;
    }
    c->want_started = true;
    if (!m->start_sent && m->sync_fd >= 0) {
        char s = MON_SYNC_START;
        m->start_sent = true;
        (void)send(m->sync_fd, &s, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
}

static void handle_frame(struct mon *m, struct mon_client *c, uint8_t type, const unsigned char *p,
                         uint32_t len)
{
    switch (type) {
    case MON_C_ATTACH:
        c->attach = len >= 1 ? p[0] : (MON_ATTACH_STDOUT | MON_ATTACH_STDERR);
        break;
    case MON_C_START:
        handle_start(m, c);
        break;
    case MON_C_SIGNAL:
        if (len >= 4 && !m->exited) {
            uint32_t sig = mon_get_u32(p);
            if (sig >= 1 && sig <= 64 && kill(m->pid, (int)sig) == 0 && sig == SIGKILL &&
                !m->start_sent)
                m->killed_before_start = true; /* never let START race the kill */
        }
        break;
    case MON_C_STDIN:
        if (m->in_fd >= 0 && !m->stdin_eof && len > 0 &&
            m->stdin_buf.len - m->stdin_pos < MON_STDIN_MAX + MON_MAX_PAYLOAD) {
            if (buf_append(&m->stdin_buf, p, len) == 0)
                stdin_flush(m);
        }
        break;
    case MON_C_STDIN_EOF:
        m->stdin_eof = true;
        stdin_flush(m);
        break;
    case MON_C_RESIZE:
        if (len >= 4 && m->tty_fd >= 0) {
            struct winsize ws = {
                .ws_row = (unsigned short)((p[0] << 8) | p[1]),
                .ws_col = (unsigned short)((p[2] << 8) | p[3]),
            };
            (void)ioctl(m->tty_fd, TIOCSWINSZ, &ws);
        }
        break;
    case MON_C_EXEC:
    case MON_C_EXEC_STDIN:
    case MON_C_EXEC_STDIN_EOF:
    case MON_C_EXEC_RESIZE:
    case MON_C_EXEC_SIGNAL:
        mon_exec_request(m, c, type, p, len);
        break;
    case MON_C_STATUS: {
        const char *st = m->exited ? "exited" : m->started ? "running" : "created";
        mon_client_send(m, c, MON_M_STATUS, st, strlen(st), false);
        break;
    }
    default:
        break; /* unknown requests are ignored (newer clients) */
    }
}

static void client_read(struct mon *m, struct mon_client *c)
{
    size_t off = 0;
    ssize_t n;

    do {
        n = read(c->fd, m->rdbuf, MON_READ_CHUNK);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0 || buf_append(&c->in, m->rdbuf, (size_t)n) < 0) {
        client_kill(c);
        return;
    }
    while (c->fd >= 0 && c->in.len - off >= MON_HDR_LEN) {
        const unsigned char *p = (const unsigned char *)c->in.data + off;
        uint32_t len = mon_get_u32(p + 1);

        if (len > MON_MAX_PAYLOAD) {
            client_kill(c);
            return;
        }
        if (c->in.len - off < MON_HDR_LEN + len)
            break;
        handle_frame(m, c, p[0], p + MON_HDR_LEN, len);
        off += MON_HDR_LEN + len;
    }
    if (c->fd < 0)
        return;
    buf_consume(&c->in, off);
    if (c->in.len == 0 && c->in.cap > 65536 + 2 * MON_MAX_PAYLOAD) {
        buf_release(&c->in);
        buf_init(&c->in);
    }
}

static void accept_clients(struct mon *m)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct mon_client *c, **nc;

        if (fd < 0)
            return; /* EAGAIN, or a transient error: try again on the next poll */
        if (m->nclients >= MON_MAX_CLIENTS) {
            (void)close(fd);
            continue;
        }
        c = calloc(1, sizeof(*c));
        nc = realloc(m->clients, (m->nclients + 1) * sizeof(*nc));
        if (!c || !nc) {
            free(c);
            if (nc)
                m->clients = nc;
            (void)close(fd);
            continue;
        }
        m->clients = nc;
        c->fd = fd;
        buf_init(&c->in);
        buf_init(&c->out);
        m->clients[m->nclients++] = c;
    }
}

/* ---- container output ---------------------------------------------------------- */

static void output_read(struct mon *m, int *fdp, enum mon_stream s)
{
    /* bounded per wakeup so that one chatty stream cannot starve the rest */
    for (int rounds = 0; rounds < 4 && *fdp >= 0; rounds++) {
        ssize_t n = read(*fdp, m->rdbuf, MON_READ_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* EOF (EIO on a pty master once the last slave is closed) */
            (void)mon_jsonlog_flush(&m->log, s, time_now_ns());
            (void)close(*fdp);
            *fdp = -1;
            return;
        }
        (void)mon_jsonlog_feed(&m->log, s, m->rdbuf, (size_t)n, time_now_ns());
        mon_broadcast(m, s == MON_STREAM_STDOUT ? MON_M_STDOUT : MON_M_STDERR, m->rdbuf, (size_t)n,
                      true, s == MON_STREAM_STDOUT ? MON_ATTACH_STDOUT : MON_ATTACH_STDERR);
        if ((size_t)n < MON_READ_CHUNK)
            return;
    }
}

/* ---- signals ---------------------------------------------------------------- */

static void handle_signals(struct mon *m)
{
    struct signalfd_siginfo si;
    bool chld = false;

    while (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            chld = true;
        else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !m->exited)
            (void)kill(m->pid, (int)si.ssi_signo); /* pass it on to the container */
        /* SIGHUP: ignored, the monitor has no terminal and no config */
    }
    if (!chld)
        return;
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);

        if (pid <= 0)
            break;
        if (pid == m->pid && !m->exited) {
            m->exited = true;
            m->wait_status = st;
            m->finished_at_ns = time_now_ns();
        } else {
            (void)mon_exec_reaped(m, pid, st);
        }
    }
}

/* ---- the loop ------------------------------------------------------------------ */

enum { P_SIG, P_LISTEN, P_SYNC, P_OUT, P_ERR, P_IN, P_FIXED };

int mon_loop(struct mon *m)
{
    size_t pfd_cap = P_FIXED + 8;
    struct pollfd *pfd = calloc(pfd_cap, sizeof(*pfd));
    int64_t deadline = 0;

    if (!pfd)
        return -ENOMEM;

    for (;;) {
        size_t n = P_FIXED;
        size_t nx = mon_exec_prepare(m);
        size_t x0;
        int timeout = -1;
        bool stdin_full = m->stdin_buf.len - m->stdin_pos >= MON_STDIN_MAX;

        if (m->exited) {
            int64_t now = time_mono_ns();

            if (!deadline)
                deadline = now + (int64_t)MON_DRAIN_MS * 1000000;
            if ((m->out_fd < 0 && m->err_fd < 0) || now >= deadline)
                break;
            timeout = (int)((deadline - now) / 1000000) + 1;
        }
        if (pfd_cap < P_FIXED + m->nclients + nx) {
            struct pollfd *np = realloc(pfd, (P_FIXED + m->nclients + nx + 8) * sizeof(*np));
            if (!np) {
                free(pfd);
                return -ENOMEM;
            }
            pfd = np;
            pfd_cap = P_FIXED + m->nclients + nx + 8;
        }
        pfd[P_SIG] = (struct pollfd){.fd = m->sig_fd, .events = POLLIN};
        pfd[P_LISTEN] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        pfd[P_SYNC] = (struct pollfd){.fd = m->sync_fd, .events = POLLIN};
        pfd[P_OUT] = (struct pollfd){.fd = m->out_fd, .events = POLLIN};
        pfd[P_ERR] = (struct pollfd){.fd = m->err_fd, .events = POLLIN};
        pfd[P_IN] = (struct pollfd){.fd = m->stdin_pos < m->stdin_buf.len ? m->in_fd : -1,
                                    .events = POLLOUT};
        for (size_t i = 0; i < m->nclients; i++) {
            struct mon_client *c = m->clients[i];
            short ev = 0;

            if (!(stdin_full && (c->attach & MON_ATTACH_STDIN)) && !c->in_blocked)
                ev |= POLLIN;
            if (c->out_pos < c->out.len)
                ev |= POLLOUT;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        x0 = n;
        n += mon_exec_poll(m, pfd + x0, &timeout);

        if (poll(pfd, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            free(pfd);
            return -errno;
        }

        if (pfd[P_SIG].revents)
            handle_signals(m);
        mon_exec_dispatch(m, pfd + x0, n - x0);
        if (pfd[P_OUT].revents)
            output_read(m, &m->out_fd, MON_STREAM_STDOUT);
        if (pfd[P_ERR].revents)
            output_read(m, &m->err_fd, MON_STREAM_STDERR);
        if (pfd[P_SYNC].revents)
            mon_handle_sync(m);
        if (pfd[P_IN].revents)
            stdin_flush(m);
        /* clients: the array may grow below, so walk the polled ones only */
        for (size_t i = P_FIXED; i < x0; i++) {
            struct mon_client *c = m->clients[i - P_FIXED];

            if (!pfd[i].revents || c->fd < 0)
                continue;
            if (pfd[i].revents & POLLOUT)
                client_flush(c);
            if (c->fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                client_read(m, c);
        }
        reap_clients(m);
        if (pfd[P_LISTEN].revents)
            accept_clients(m);
    }
    free(pfd);
    /* the sync socket may still hold an exec error the child sent before dying */
    mon_handle_sync(m);
    if (m->out_fd >= 0)
        (void)mon_jsonlog_flush(&m->log, MON_STREAM_STDOUT, time_now_ns());
    if (m->err_fd >= 0)
        (void)mon_jsonlog_flush(&m->log, MON_STREAM_STDERR, time_now_ns());
    return 0;
}
