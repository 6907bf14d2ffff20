/*
 * runtime/monclient.c - shoald's side of a container monitor: spawning it
 * from the sealed memfd, the start-up handshake on the status pipe, and the
 * framed socket connection (runtime/monitor_proto.h).
 */
#define LOG_MODULE "runtime"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/internal.h"

struct mon_spawn {
    uv_process_t proc;
    uv_pipe_t status;
    struct rt_container *c; /* reference */
    struct buf line;
    int handles;
    bool answered;
    int64_t t_spawn; /* time_mono_ns() at spawn, for the debug log */
};

struct mon_conn {
    uv_pipe_t pipe;
    uv_connect_t creq;
    struct rt_container *c; /* reference; NULL once detached */
    struct buf in;
    int pid;           /* container pid from the handshake */
    bool restore;      /* reconnecting after a shoald restart */
    bool kill_on_open; /* a monitor waiting for a start that never came */
    bool connected;
    bool closing;
};

struct wreq {
    uv_write_t req;
    char data[];
};

static void conn_close(struct mon_conn *mc);

/* ---- exit record ----------------------------------------------------------- */

int rt__read_exit(struct rt_container *c, int *ret_code, bool *ret_oom, int64_t *ret_finished,
                  char **ret_error)
{
    char path[4096];
    char *data = NULL;
    size_t len = 0;
    Shoal__Rt__RtExit *ex;
    int r;

    (void)snprintf(path, sizeof(path), "%s/exit.pb", c->dir);
    r = read_file(path, &data, &len, 1 << 20);
    if (r < 0)
        return r;
    ex = shoal__rt__rt_exit__unpack(NULL, len, (const uint8_t *)data);
    free(data);
    if (!ex)
        return -EINVAL;
    *ret_code = ex->exit_code;
    *ret_oom = ex->oom_killed;
    *ret_finished = ex->finished_at_ns;
    *ret_error = ex->error && *ex->error ? strdup(ex->error) : NULL;
    shoal__rt__rt_exit__free_unpacked(ex, NULL);
    return 0;
}

/* The monitor is gone without telling us how the container ended. */
static void monitor_lost(struct rt_container *c)
{
    int code = 255;
    bool oom = false;
    int64_t fin = 0;
    char *error = NULL;

    if (rt__read_exit(c, &code, &oom, &fin, &error) < 0) {
        code = 255;
        error = strdup("container monitor exited unexpectedly");
    }
    if (c->starting) {
        rt__container_start_failed(c, -EIO, error ? error : "container exited during start");
    } else if (c->state == RT_STATE_RUNNING) {
        rt__container_exited(c, code, oom, error);
        if (fin > 0 && c->state == RT_STATE_EXITED) {
            c->finished_ns = fin;
            (void)rt__container_save(c);
        }
    }
    free(error);
}

/* ---- connection ------------------------------------------------------------ */

static void conn_closed(uv_handle_t *h)
{
    struct mon_conn *mc = h->data;

    buf_release(&mc->in);
    free(mc);
}

static void conn_close(struct mon_conn *mc)
{
    if (mc->closing)
        return;
    mc->closing = true;
    if (mc->c) {
        if (mc->c->conn == mc)
            mc->c->conn = NULL;
        rt_container_unref(mc->c);
        mc->c = NULL;
    }
    uv_close((uv_handle_t *)&mc->pipe, conn_closed);
}

void rt__monitor_detach(struct rt_container *c)
{
    if (c->conn)
        conn_close(c->conn);
}

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    free(container_of(req, struct wreq, req));
}

static int conn_send(struct mon_conn *mc, uint8_t type, const void *payload, size_t len)
{
    struct wreq *w;
    uv_buf_t b;
    int r;

    if (!mc->connected || mc->closing)
        return -ENOTCONN;
    if (len > MON_MAX_PAYLOAD)
        return -EMSGSIZE;
    w = malloc(sizeof(*w) + MON_HDR_LEN + len);
    if (!w)
        return -ENOMEM;
    mon_put_hdr((unsigned char *)w->data, type, (uint32_t)len);
    if (len)
        memcpy(w->data + MON_HDR_LEN, payload, len);
    b = uv_buf_init(w->data, (unsigned)(MON_HDR_LEN + len));
    r = uv_write(&w->req, (uv_stream_t *)&mc->pipe, &b, 1, write_done);
    if (r < 0) {
        free(w);
        return r == UV_EPIPE ? -EPIPE : -EIO;
    }
    return 0;
}

bool rt__monitor_ready(struct rt_container *c)
{
    return c->conn && c->conn->connected && !c->conn->closing;
}

int rt__monitor_send(struct rt_container *c, uint8_t type, const void *payload, size_t len)
{
    if (!c->conn)
        return -ENOTCONN;
    return conn_send(c->conn, type, payload, len);
}

static void handle_frame(struct mon_conn *mc, uint8_t type, const char *p, size_t len)
{
    struct rt_container *c = mc->c;
    char msg[1024];

    switch (type) {
    case MON_M_STDOUT:
        rt__container_output(c, RT_STDOUT, p, len);
        break;
    case MON_M_STDERR:
        rt__container_output(c, RT_STDERR, p, len);
        break;
    case MON_M_STARTED:
        log_debug("container %.12s: started", c->id);
        rt__container_started(c, mc->pid);
        break;
    case MON_M_START_ERR:
        (void)snprintf(msg, sizeof(msg), "%.*s", (int)len, p);
        rt__container_start_failed(c, -EINVAL, msg);
        break;
    case MON_M_STATUS:
        break;
    case MON_M_EXIT:
        if (len >= 4) {
            int code = (int)mon_get_u32((const unsigned char *)p);
            bool oom = len >= 5 && p[4];
            if (c->starting)
                rt__container_start_failed(c, -EINVAL, "container exited during start");
            else
                rt__container_exited(c, code, oom, NULL);
        }
        break;
    default:
        log_debug("container %.12s: unknown monitor message %u, ignoring", c->id, type);
        break;
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct mon_conn *mc = h->data;

    (void)suggested;
    if (buf_reserve(&mc->in, 64 * 1024) < 0) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(mc->in.data + mc->in.len, (unsigned)(mc->in.cap - mc->in.len - 1));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct mon_conn *mc = s->data;
    size_t off = 0;

    (void)b;
    if (n < 0) {
        struct rt_container *c = mc->c;
        if (c) {
            rt_container_ref(c);
            conn_close(mc);
            monitor_lost(c);
            rt_container_unref(c);
        } else {
            conn_close(mc);
        }
        return;
    }
    mc->in.len += (size_t)n;
    /* Frames may call back into code that detaches this connection. */
    while (mc->c && mc->in.len - off >= MON_HDR_LEN) {
        const unsigned char *h = (const unsigned char *)mc->in.data + off;
        uint32_t len = mon_get_u32(h + 1);
        if (len > MON_MAX_PAYLOAD) {
            log_error("container %.12s: oversized monitor frame, dropping connection", mc->c->id);
            conn_close(mc);
            return;
        }
        if (mc->in.len - off < MON_HDR_LEN + len)
            break;
        struct rt_container *c = rt_container_ref(mc->c);
        handle_frame(mc, h[0], (const char *)h + MON_HDR_LEN, len);
        rt_container_unref(c);
        off += MON_HDR_LEN + len;
    }
    if (!mc->closing)
        buf_consume(&mc->in, off);
}

static void conn_connected(uv_connect_t *req, int status)
{
    struct mon_conn *mc = req->data;
    struct rt_container *c = mc->c;
    unsigned char flags = MON_ATTACH_STDOUT | MON_ATTACH_STDERR;

    if (!c || mc->closing) {
        if (!mc->closing)
            conn_close(mc);
        return;
    }
    if (status < 0) {
        rt_container_ref(c);
        conn_close(mc);
        if (mc->restore && c->state == RT_STATE_RUNNING) {
            log_info("container %.12s: monitor gone while we were away", c->id);
            monitor_lost(c);
        } else if (!mc->restore) {
            rt__container_start_failed(c, -EIO, "cannot reach the container monitor");
        }
        rt_container_unref(c);
        return;
    }
    mc->connected = true;
    if (uv_read_start((uv_stream_t *)&mc->pipe, conn_alloc, conn_read) < 0) {
        rt_container_ref(c);
        conn_close(mc);
        monitor_lost(c);
        rt_container_unref(c);
        return;
    }
    if (rt_container_open_stdin(c))
        flags |= MON_ATTACH_STDIN;
    (void)conn_send(mc, MON_C_ATTACH, &flags, 1);
    if (mc->kill_on_open) {
        unsigned char sig[4] = {0, 0, 0, SIGKILL};
        log_info("container %.12s: a start was cut short, cleaning up its monitor", c->id);
        (void)conn_send(mc, MON_C_SIGNAL, sig, sizeof(sig));
        /* We do not follow it further: drop the connection. */
        conn_close(mc);
    } else if (mc->restore) {
        (void)conn_send(mc, MON_C_STATUS, NULL, 0);
    } else {
        rt__container_flush_stdin(c);
        (void)conn_send(mc, MON_C_START, NULL, 0);
    }
}

static int conn_open(struct rt_container *c, bool restore, int pid)
{
    struct mon_conn *mc = calloc(1, sizeof(*mc));
    char path[256];
    int r;

    if (!mc)
        return -ENOMEM;
    buf_init(&mc->in);
    r = uv_pipe_init(c->rt->loop, &mc->pipe, 0);
    if (r < 0) {
        free(mc);
        return -ENOMEM;
    }
    mc->pipe.data = mc;
    mc->creq.data = mc;
    mc->c = rt_container_ref(c);
    mc->restore = restore;
    mc->pid = pid;
    mc->kill_on_open = restore && c->state == RT_STATE_CREATED;
    c->conn = mc;
    (void)snprintf(path, sizeof(path), "%s/%s", c->state_dir, MON_SOCK_NAME);
    uv_pipe_connect(&mc->creq, &mc->pipe, path, conn_connected);
    return 0;
}

void rt__monitor_reconnect(struct rt_container *c)
{
    char path[256];

    (void)snprintf(path, sizeof(path), "%s/%s", c->state_dir, MON_SOCK_NAME);
    if (access(path, F_OK) < 0) {
        if (c->state == RT_STATE_RUNNING)
            monitor_lost(c);
        return;
    }
    if (conn_open(c, true, c->pid) < 0 && c->state == RT_STATE_RUNNING)
        monitor_lost(c);
}

/* ---- spawn ----------------------------------------------------------------- */

static void spawn_handle_closed(uv_handle_t *h)
{
    struct mon_spawn *sp = h->data;

    if (--sp->handles > 0)
        return;
    buf_release(&sp->line);
    rt_container_unref(sp->c);
    free(sp);
}

static void spawn_exit(uv_process_t *p, int64_t status, int sig)
{
    struct mon_spawn *sp = p->data;

    if (status != 0 || sig != 0)
        log_debug("monitor launcher of %.12s ended with %lld/%d", sp->c->id, (long long)status,
                  sig);
    uv_close((uv_handle_t *)p, spawn_handle_closed);
}

static void spawn_answer(struct mon_spawn *sp, const char *line)
{
    struct rt_container *c = sp->c;
    int mon_pid = 0;
    int pid = 0;
    int r;

    sp->answered = true;
    log_debug("container %.12s: monitor answered after %lld us", c->id,
              (long long)((time_mono_ns() - sp->t_spawn) / 1000));
    if (c->spawn == sp)
        c->spawn = NULL;
    if (sscanf(line, "ok %d %d", &mon_pid, &pid) == 2 && pid > 0) {
        r = conn_open(c, false, pid);
        if (r < 0)
            rt__container_start_failed(c, r, "cannot connect to the container monitor");
        return;
    }
    if (strncmp(line, "err ", 4) == 0)
        line += 4;
    else if (!*line)
        line = "container monitor exited without a word";
    rt__container_start_failed(c, -EINVAL, line);
}

static void status_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct mon_spawn *sp = h->data;

    (void)suggested;
    if (buf_reserve(&sp->line, 1024) < 0) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(sp->line.data + sp->line.len, (unsigned)(sp->line.cap - sp->line.len - 1));
}

static void status_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct mon_spawn *sp = s->data;
    char *nl;

    (void)b;
    if (n > 0) {
        sp->line.len += (size_t)n;
        sp->line.data[sp->line.len] = '\0';
        if (sp->line.len > 8192)
            n = UV_EOF;
    }
    nl = sp->line.data ? strchr(sp->line.data, '\n') : NULL;
    if (nl || n < 0) {
        if (nl)
            *nl = '\0';
        uv_read_stop(s);
        if (!sp->answered) {
            struct rt_container *c = rt_container_ref(sp->c);
            spawn_answer(sp, sp->line.data ? sp->line.data : "");
            rt_container_unref(c);
        }
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, spawn_handle_closed);
    }
}

int rt__monitor_start(struct rt_container *c, struct err *err)
{
    struct rt *rt = c->rt;
    struct rt_image *img = NULL;
    struct buf spec;
    struct mon_spawn *sp;
    char spec_path[4096];
    char path[4096];
    char exe[64];
    int fds[2] = {-1, -1};
    int r;

    r = rt_image_get(rt->images, c->image_id, &img, err);
    if (r < 0)
        return r;
    buf_init(&spec);
    r = rt__build_spec(c, img, &spec, err);
    rt_image_free(img);
    if (r < 0)
        goto out_spec;
    (void)snprintf(spec_path, sizeof(spec_path), "%s/spec.pb", c->dir);
    r = write_file_atomic(spec_path, spec.data, spec.len, 0600, false);
    if (r < 0) {
        err_set(err, r, "writing %s: %s", spec_path, strerror(-r));
        goto out_spec;
    }
    if (mkdir(c->state_dir, 0700) < 0 && errno != EEXIST) {
        r = err_set(err, -errno, "creating %s: %s", c->state_dir, strerror(errno));
        goto out_spec;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", c->state_dir, MON_SOCK_NAME);
    (void)unlink(path);
    (void)snprintf(path, sizeof(path), "%s/exit.pb", c->dir);
    (void)unlink(path);
    if (pipe2(fds, O_CLOEXEC) < 0) {
        r = err_set(err, -errno, "pipe: %s", strerror(errno));
        goto out_spec;
    }
    sp = calloc(1, sizeof(*sp));
    if (!sp) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out_fds;
    }
    buf_init(&sp->line);
    sp->c = rt_container_ref(c);

    /* fd 3: status pipe; fd 4: the sealed monitor binary, run as /proc/self/fd/4. */
    uv_stdio_container_t stdio[5] = {
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
        {.flags = UV_INHERIT_FD, .data.fd = rt->monitor_fd},
    };
    char argv0[] = "shoal-monitor";
    char *args[] = {argv0, spec_path, NULL};
    (void)snprintf(exe, sizeof(exe), "/proc/self/fd/%d", 4);
    uv_process_options_t po = {
        .exit_cb = spawn_exit,
        .file = exe,
        .args = args,
        .stdio_count = 5,
        .stdio = stdio,
    };
    sp->proc.data = sp;
    sp->t_spawn = time_mono_ns();
    r = uv_spawn(rt->loop, &sp->proc, &po);
    if (r < 0) {
        err_set(err, -EIO, "starting the container monitor: %s", uv_strerror(r));
        buf_release(&sp->line);
        rt_container_unref(sp->c);
        free(sp);
        r = -EIO;
        goto out_fds;
    }
    sp->handles = 2;
    (void)close(fds[1]);
    fds[1] = -1;
    uv_pipe_init(rt->loop, &sp->status, 0);
    sp->status.data = sp;
    if (uv_pipe_open(&sp->status, fds[0]) < 0) {
        (void)close(fds[0]);
        uv_close((uv_handle_t *)&sp->status, spawn_handle_closed);
        r = err_set(err, -EIO, "watching the container monitor failed");
        goto out_spec;
    }
    fds[0] = -1;
    c->spawn = sp;
    uv_read_start((uv_stream_t *)&sp->status, status_alloc, status_read);
    r = 0;
out_fds:
    if (fds[0] >= 0)
        (void)close(fds[0]);
    if (fds[1] >= 0)
        (void)close(fds[1]);
out_spec:
    buf_release(&spec);
    return r;
}
