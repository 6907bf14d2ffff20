/*
 * runtime/monitor/monitor.c - start-up and shut-down of shoal-monitor.
 *
 * mon_main(): read the RtSpec, detach from shoald (fork, setsid, subreaper),
 * create the cgroup, stdio and the sync socket, clone the setup child
 * (setup.c), put it in its cgroup, wait for "ready", then publish state.pb and
 * mon.sock, answer "ok" on the status pipe (fd 3) and run the loop (loop.c).
 * When the container is gone: RtExit to exit_path, EXIT to the clients,
 * cgroup removed, socket and state file unlinked.
 */
#include "runtime/monitor/monitor.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"

#include "runtime/monitor_proto.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define SPEC_MAX    (16 << 20)

static void status_line(struct mon *m, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void status_line(struct mon *m, const char *fmt, ...)
{
    char line[1100];
    va_list ap;
    int n;

    if (m->status_fd < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* one line: no newline inside the message */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    (void)write_all(m->status_fd, line, (size_t)n);
    (void)close(m->status_fd);
    m->status_fd = -1;
}

int mon_exec_error_code(const char *msg)
{
    if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory"))
        return 127;
    if (strstr(msg, "permission denied"))
        return 126;
    return 125;
}

static void write_exit(struct mon *m, int code, int sig, bool oom)
{
    Shoal__Rt__RtExit ex = SHOAL__RT__RT_EXIT__INIT;
    uint8_t *data;
    size_t len;

    if (!m->spec || !*m->spec->exit_path)
        return;
    ex.exit_code = code;
    ex.signal = sig;
    ex.oom_killed = oom;
    ex.started_at_ns = m->started_at_ns;
    ex.finished_at_ns = m->finished_at_ns ? m->finished_at_ns : time_now_ns();
    ex.pid = m->pid;
    ex.error = m->error ? m->error : (char *)"";
    len = shoal__rt__rt_exit__get_packed_size(&ex);
    data = malloc(len ? len : 1);
    if (!data)
        return;
    shoal__rt__rt_exit__pack(&ex, data);
    (void)write_file_atomic(m->spec->exit_path, data, len, 0644, false);
    free(data);
}

static void cleanup_files(struct mon *m)
{
    if (m->state_dirfd >= 0) {
        (void)unlinkat(m->state_dirfd, MON_SOCK_NAME, 0);
        (void)unlinkat(m->state_dirfd, "state.pb", 0);
    }
    if (m->cg_created) {
        struct err e;
        (void)rt_cgroup_destroy(CGROUP_ROOT, m->cg_mode, m->cg_path, &e);
        m->cg_created = false;
    }
}

/* Setup failed before "ok": report, undo, record, exit. */
static void __attribute__((noreturn)) mon_fail(struct mon *m, int code, const char *msg)
{
    status_line(m, "err %s", msg);
    if (m->pid > 0 && !m->exited) {
        int st;
        (void)kill(m->pid, SIGKILL);
        while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    cleanup_files(m);
    if (!m->error)
        m->error = strdup(msg);
    write_exit(m, code, 0, false);
    _exit(1);
}

static void __attribute__((noreturn)) mon_failf(struct mon *m, int code, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void mon_failf(struct mon *m, int code, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX + 128];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mon_fail(m, code, msg);
}

static const char *validate(const Shoal__Rt__RtSpec *s)
{
    if (!*s->id || strchr(s->id, '/') || !strcmp(s->id, ".") || !strcmp(s->id, ".."))
        return "invalid container id";
    if (s->n_args == 0)
        return "no command given";
    if (s->rootfs[0] != '/')
        return "rootfs must be an absolute path";
    if (s->state_dir[0] != '/')
        return "state_dir must be an absolute path";
    if (!*s->exit_path)
        return "exit_path is required";
    if (s->n_lowerdirs == 0)
        return "no image layers (lowerdirs) given";
    if (!*s->upperdir != !*s->workdir)
        return "upperdir and workdir go together";
    if (s->seccomp_bpf.len % 8 || s->seccomp_bpf.len > 4096 * 8)
        return "invalid seccomp program";
    if (s->net_mode == SHOAL__RT__RT_NET_MODE__RT_NET_PATH && !*s->netns_path)
        return "netns_path is required";
    if (strstr(s->cgroup_parent, ".."))
        return "invalid cgroup_parent";
    return NULL;
}

static int make_cg_path(struct mon *m)
{
    const char *p = m->spec->cgroup_parent;
    size_t len;

    while (*p == '/')
        p++;
    len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
        len--;
    m->cg_path = malloc(len + strlen(m->spec->id) + 2);
    if (!m->cg_path)
        return -ENOMEM;
    if (len)
        sprintf(m->cg_path, "%.*s/%s", (int)len, p, m->spec->id);
    else
        strcpy(m->cg_path, m->spec->id);
    return 0;
}

static unsigned read_cap_last_cap(void)
{
    char *s = NULL;
    uint64_t v = 40;

    if (read_file("/proc/sys/kernel/cap_last_cap", &s, NULL, 64) == 0) {
        s[strcspn(s, "\n")] = 0;
        if (parse_u64(s, &v) < 0 || v > 63)
            v = 40;
    }
    free(s);
    return (unsigned)v;
}

static uint64_t pid_start_time(pid_t pid)
{
    char path[64];
    char *s = NULL;
    uint64_t v = 0;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file(path, &s, NULL, 8192) < 0)
        return 0;
    p = strrchr(s, ')');
    /* after "pid (comm)": field 3 is the state; starttime is field 22 */
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p)
        v = strtoull(p + 1, NULL, 10);
    free(s);
    return v;
}

void mon_write_state(struct mon *m)
{
    Shoal__Rt__RtState st = SHOAL__RT__RT_STATE__INIT;
    char path[4200];
    uint8_t buf[64];
    size_t len;

    st.monitor_pid = m->self_pid;
    st.pid = m->pid;
    st.pid_start_time = pid_start_time(m->pid);
    st.started_at_ns = m->started_at_ns;
    len = shoal__rt__rt_state__pack(&st, buf);
    snprintf(path, sizeof(path), "%s/state.pb", m->spec->state_dir);
    (void)write_file_atomic(path, buf, len, 0600, false);
}

static int listen_socket(struct mon *m)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old;
    int fd, r;

    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", m->spec->state_dir,
                         MON_SOCK_NAME) >= sizeof(sa.sun_path))
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", m->state_dirfd,
                 MON_SOCK_NAME);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    (void)unlinkat(m->state_dirfd, MON_SOCK_NAME, 0);
    old = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 64) < 0) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    m->listen_fd = fd;
    return 0;
}

/* Wait for the child's "ready" (receiving the pty master on the way). */
static void wait_ready(struct mon *m)
{
    for (;;) {
        char buf[1100];
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t n = recvmsg(m->sync_fd, &msg, MSG_CMSG_CLOEXEC);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int st = 0;

            while (waitpid(m->pid, &st, 0) < 0 && errno == EINTR)
                ;
            m->exited = true; /* reaped: nothing left to kill */
            if (WIFSIGNALED(st))
                mon_failf(m, 125, "container setup process killed by signal %d", WTERMSIG(st));
            mon_failf(m, 125, "container setup process exited (status %d)", WEXITSTATUS(st));
        }
        buf[n] = 0;
        if (buf[0] == MON_SYNC_READY)
            return;
        if (buf[0] == MON_SYNC_TTY) {
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            if (!cm || cm->cmsg_type != SCM_RIGHTS)
                mon_fail(m, 125, "tty: no pty master received");
            memcpy(&m->tty_fd, CMSG_DATA(cm), sizeof(int));
            continue;
        }
        if (buf[0] == MON_SYNC_ERROR && n >= 2) {
            int code = (unsigned char)buf[1];
            if (code < 125 || code > 127)
                code = mon_exec_error_code(buf + 2);
            mon_fail(m, code, buf + 2);
        }
        mon_fail(m, 125, "protocol error on the sync socket");
    }
}

static void finish(struct mon *m) __attribute__((noreturn));

static void finish(struct mon *m)
{
    unsigned char payload[5];
    int code = 0, sig = 0;
    bool oom;

    if (WIFEXITED(m->wait_status)) {
        code = WEXITSTATUS(m->wait_status);
    } else if (WIFSIGNALED(m->wait_status)) {
        sig = WTERMSIG(m->wait_status);
        code = 128 + sig;
    }
    if (m->error && code == 0)
        code = m->error_code ? m->error_code : 125;
    oom = m->cg_created && rt_cgroup_oom_killed(CGROUP_ROOT, m->cg_mode, m->cg_path);
    write_exit(m, code, sig, oom);

    for (size_t i = 0; i < m->nclients; i++) {
        struct mon_client *c = m->clients[i];
        if (c->want_started) {
            const char *msg = m->error ? m->error : "container exited before it started";
            mon_client_send(m, c, MON_M_START_ERR, msg, strlen(msg), false);
            c->want_started = false;
        }
    }
    mon_exec_finish_all(m);
    payload[0] = (unsigned char)((uint32_t)code >> 24);
    payload[1] = (unsigned char)((uint32_t)code >> 16);
    payload[2] = (unsigned char)((uint32_t)code >> 8);
    payload[3] = (unsigned char)code;
    payload[4] = oom;
    mon_broadcast(m, MON_M_EXIT, payload, sizeof(payload), false, 0);
    /* no new clients from here on: they would only find a dying monitor */
    if (m->listen_fd >= 0)
        (void)close(m->listen_fd);
    m->listen_fd = -1;
    (void)unlinkat(m->state_dirfd, MON_SOCK_NAME, 0);
    mon_clients_flush_close(m, 1000);
    mon_jsonlog_close(&m->log);
    cleanup_files(m);
    _exit(0);
}

int mon_main(const char *spec_path)
{
    struct mon *m;
    char *data = NULL;
    size_t len = 0;
    const char *bad;
    struct err e = {0};
    sigset_t mask;
    int sp[2], pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    unsigned long flags;
    pid_t pid;
    int r;

    (void)close_range(4, ~0U, 0);
    m = calloc(1, sizeof(*m));
    if (!m)
        return 1;
    m->status_fd = 3;
    m->sync_fd = m->netns_fd = m->devnull_fd = m->state_dirfd = -1;
    m->c_stdin = m->c_stdout = m->c_stderr = m->c_sync = -1;
    m->in_fd = m->out_fd = m->err_fd = m->tty_fd = -1;
    m->listen_fd = m->sig_fd = -1;
    m->pidfd = -1;
    buf_init(&m->stdin_buf);
    mon_jsonlog_open(&m->log, NULL, 0, 0, NULL);

    r = read_file(spec_path, &data, &len, SPEC_MAX);
    if (r < 0)
        mon_failf(m, 125, "read spec '%s': %s", spec_path, strerror(-r));
    m->spec = shoal__rt__rt_spec__unpack(NULL, len, (const uint8_t *)data);
    free(data);
    if (!m->spec)
        mon_fail(m, 125, "invalid spec: protobuf decoding failed");
    bad = validate(m->spec);
    if (bad) {
        Shoal__Rt__RtSpec *s = m->spec;
        /* without an exit_path there is nothing to record */
        if (!*s->exit_path)
            m->spec = NULL;
        mon_failf(m, 125, "invalid spec: %s", bad);
    }

    /* detach: shoald reaps the parent; we survive shoald */
    pid = fork();
    if (pid < 0)
        mon_failf(m, 125, "fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    (void)setsid();
    (void)!chdir("/");
    m->self_pid = getpid();
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    (void)signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    (void)sigprocmask(SIG_BLOCK, &mask, NULL);

    if (make_cg_path(m) < 0)
        mon_fail(m, 125, "out of memory");
    m->cap_last_cap = read_cap_last_cap();
    r = mkdir_p(m->spec->state_dir, 0700);
    if (r < 0 && r != -EEXIST)
        mon_failf(m, 125, "create state dir '%s': %s", m->spec->state_dir, strerror(-r));
    m->state_dirfd = open(m->spec->state_dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (m->state_dirfd < 0)
        mon_failf(m, 125, "open state dir '%s': %s", m->spec->state_dir, strerror(errno));
    if (m->spec->net_mode == SHOAL__RT__RT_NET_MODE__RT_NET_PATH) {
        m->netns_fd = open(m->spec->netns_path, O_RDONLY | O_CLOEXEC);
        if (m->netns_fd < 0)
            mon_failf(m, 125, "open network namespace '%s': %s", m->spec->netns_path,
                      strerror(errno));
    }
    if (mon_jsonlog_open(&m->log, m->spec->log_path, m->spec->log_max_size, m->spec->log_max_files,
                         &e) < 0)
        mon_fail(m, 125, e.msg);
    m->rdbuf = malloc(MON_READ_CHUNK);
    if (!m->rdbuf)
        mon_fail(m, 125, "out of memory");

    /* cgroup */
    {
        struct rt_cgroup_limits lim = {
            .memory = m->spec->memory_limit,
            .memory_swap = m->spec->memory_swap,
            .cpu_quota = m->spec->cpu_quota,
            .cpu_period = m->spec->cpu_period,
            .cpu_shares = m->spec->cpu_shares,
            .pids = m->spec->pids_limit,
            .devices_allow_all = m->spec->privileged,
        };
        if (rt_cgroup_detect(CGROUP_ROOT, &m->cg_mode, &e) < 0)
            mon_fail(m, 125, e.msg);
        m->cg_created = true; /* destroy tolerates a half-created cgroup */
        if (rt_cgroup_create(CGROUP_ROOT, m->cg_mode, m->cg_path, &lim, &e) < 0)
            mon_failf(m, 125, "create cgroup: %s", e.msg);
    }

    /* stdio and the sync channel */
    if ((!m->spec->tty && (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)) ||
        (!m->spec->tty && m->spec->open_stdin && pipe2(pin, O_CLOEXEC) < 0) ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        mon_failf(m, 125, "create pipes: %s", strerror(errno));
    m->c_stdin = pin[0];
    m->in_fd = pin[1];
    m->out_fd = pout[0];
    m->c_stdout = pout[1];
    m->err_fd = perr[0];
    m->c_stderr = perr[1];
    m->sync_fd = sp[0];
    m->c_sync = sp[1];

    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
    if (m->spec->net_mode == SHOAL__RT__RT_NET_MODE__RT_NET_NONE)
        flags |= CLONE_NEWNET;
    pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0)
        mon_failf(m, 125, "clone: %s", strerror(errno));
    if (pid == 0)
        mon_child_main(m);
    m->pid = pid;
    (void)close(m->c_sync);
    if (m->c_stdin >= 0)
        (void)close(m->c_stdin);
    if (m->c_stdout >= 0)
        (void)close(m->c_stdout);
    if (m->c_stderr >= 0)
        (void)close(m->c_stderr);
    m->c_sync = m->c_stdin = m->c_stdout = m->c_stderr = -1;

    if (rt_cgroup_enter(CGROUP_ROOT, m->cg_mode, m->cg_path, pid, &e) < 0)
        mon_failf(m, 125, "join cgroup: %s", e.msg);
    {
        char go = MON_SYNC_GO;
        if (send(m->sync_fd, &go, 1, MSG_NOSIGNAL) != 1)
            mon_failf(m, 125, "sync with setup process: %s", strerror(errno));
    }
    wait_ready(m);

    /* the container is created: publish it */
    if (m->tty_fd >= 0) {
        m->out_fd = fcntl(m->tty_fd, F_DUPFD_CLOEXEC, 3);
        if (m->out_fd < 0)
            mon_failf(m, 125, "dup pty: %s", strerror(errno));
        if (m->spec->open_stdin)
            m->in_fd = m->tty_fd;
    }
    (void)fcntl(m->sync_fd, F_SETFL, O_NONBLOCK);
    if (m->out_fd >= 0)
        (void)fcntl(m->out_fd, F_SETFL, O_NONBLOCK);
    if (m->err_fd >= 0)
        (void)fcntl(m->err_fd, F_SETFL, O_NONBLOCK);
    if (m->in_fd >= 0)
        (void)fcntl(m->in_fd, F_SETFL, O_NONBLOCK);
    m->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->sig_fd < 0)
        mon_failf(m, 125, "signalfd: %s", strerror(errno));
    mon_write_state(m);
    r = listen_socket(m);
    if (r < 0)
        mon_failf(m, 125, "listen on %s/%s: %s", m->spec->state_dir, MON_SOCK_NAME, strerror(-r));
    m->ready = true;
    status_line(m, "ok %d %d", (int)m->self_pid, (int)m->pid);

    (void)mon_loop(m);
    finish(m);
}
