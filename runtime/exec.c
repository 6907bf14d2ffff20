/*
 * runtime/exec.c - docker exec records and their monitor connections, and
 * docker top (see runtime/exec.h).
 *
 * Each started exec has its own connection to the container's monitor: the
 * monitor sends exec frames only to the connection that started the exec, so
 * one connection per exec keeps the routing trivial, and 100 concurrent execs
 * are 100 connections the monitor polls. The connection handle is unref'd:
 * a detached exec never keeps shoald's loop alive at shutdown.
 *
 * The records live in one list per process (shoald has one runtime); they are
 * swept on every create/find: finished ones after RT_EXEC_KEEP_S, and the
 * oldest non-running ones whenever there are more than RT_EXEC_MAX.
 */
#define LOG_MODULE "runtime"

#include "runtime/exec.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/internal.h"

#define EXEC_SIZE_WAIT_MS 300
#define EXEC_STDIN_MAX    (1024 * 1024)
#define EXEC_CHUNK        (MON_MAX_PAYLOAD - 1 - MON_EXEC_ID_MAX)

struct rt_exec {
    struct rt_exec *next, *prev;
    struct rt *rt;
    char id[65];
    char cid[65];
    char *state_dir;
    json_t *cmd; /* array of strings */
    json_t *env; /* array of "K=V" */
    char *user, *cwd, *detach_keys;
    bool tty, attach_in, attach_out, attach_err, privileged;

    bool started, running, exited, failed, got_started;
    int exit_code;
    int pid;
    uint64_t created_ms, finished_ms; /* uv_now */
    unsigned rows, cols;

    struct rt_exec_handlers h;
    void *arg;

    /* the monitor connection (while handles > 0 the record is not freed) */
    uv_pipe_t pipe;
    uv_connect_t creq;
    uv_timer_t timer;
    int handles;
    bool connected, exec_sent, closing;
    struct buf in;
    struct buf pending; /* stdin before the exec was sent */
    bool pending_eof;
};

static struct rt_exec *exec_head;
static size_t exec_n;

/* ---- records ------------------------------------------------------------------- */

static void exec_free(struct rt_exec *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else if (exec_head == x)
        exec_head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    exec_n--;
    json_decref(x->cmd);
    json_decref(x->env);
    free(x->state_dir);
    free(x->user);
    free(x->cwd);
    free(x->detach_keys);
    buf_release(&x->in);
    buf_release(&x->pending);
    free(x);
}

static bool exec_busy(const struct rt_exec *x)
{
    return x->running || x->handles > 0;
}

static void exec_sweep(struct rt *rt)
{
    uint64_t now = uv_now(rt->loop);
    struct rt_exec *x, *next;

    for (x = exec_head; x; x = next) {
        uint64_t since = x->exited ? x->finished_ms : x->created_ms;
        next = x->next;
        if (!exec_busy(x) && now - since >= (uint64_t)RT_EXEC_KEEP_S * 1000)
            exec_free(x);
    }
    /* too many: the oldest idle ones go (the list is newest first) */
    while (exec_n > RT_EXEC_MAX) {
        struct rt_exec *victim = NULL;
        for (x = exec_head; x; x = x->next)
            if (!exec_busy(x))
                victim = x;
        if (!victim)
            break;
        exec_free(victim);
    }
}

size_t rt_exec_count(void)
{
    return exec_n;
}

static char *dup_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return strdup(s ? s : "");
}

int rt_exec_create(struct rt_container *c, json_t *config, struct rt_exec **ret, struct err *err)
{
    struct rt_exec *x;
    json_t *cmd = json_object_get(config, "Cmd");
    json_t *env = json_object_get(config, "Env");
    json_t *v;
    size_t i;

    if (!json_is_object(config))
        return err_set(err, -EINVAL, "invalid exec configuration");
    exec_sweep(c->rt);
    if (c->state != RT_STATE_RUNNING)
        return err_set(err, -EBUSY, "Container %s is not running", c->id);
    if (!json_is_array(cmd) || json_array_size(cmd) == 0)
        return err_set(err, -EINVAL, "No exec command specified");
    json_array_foreach(cmd, i, v)
    {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "exec command must be an array of strings");
    }
    if (env && !json_is_null(env) && !json_is_array(env))
        return err_set(err, -EINVAL, "exec Env must be an array of strings");
    json_array_foreach(env, i, v)
    {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "exec Env must be an array of strings");
    }
    x = calloc(1, sizeof(*x));
    if (!x)
        return err_set(err, -ENOMEM, "out of memory");
    x->rt = c->rt;
    if (id_new_hex(x->id) < 0) {
        free(x);
        return err_set(err, -EIO, "no randomness for an exec id");
    }
    memcpy(x->cid, c->id, sizeof(x->cid));
    x->state_dir = strdup(c->state_dir);
    x->cmd = json_incref(cmd);
    x->env = json_is_array(env) ? json_incref(env) : json_array();
    x->user = dup_str(config, "User");
    x->cwd = dup_str(config, "WorkingDir");
    x->detach_keys = dup_str(config, "DetachKeys");
    x->tty = json_is_true(json_object_get(config, "Tty"));
    x->attach_in = json_is_true(json_object_get(config, "AttachStdin"));
    x->attach_out = json_is_true(json_object_get(config, "AttachStdout"));
    x->attach_err = json_is_true(json_object_get(config, "AttachStderr"));
    x->privileged = json_is_true(json_object_get(config, "Privileged"));
    x->created_ms = uv_now(c->rt->loop);
    buf_init(&x->in);
    buf_init(&x->pending);
    x->next = exec_head;
    if (exec_head)
        exec_head->prev = x;
    exec_head = x;
    exec_n++;
    if (!x->state_dir || !x->user || !x->cwd || !x->detach_keys || !x->env) {
        exec_free(x);
        return err_set(err, -ENOMEM, "out of memory");
    }
    *ret = x;
    return 0;
}

int rt_exec_find(struct rt *rt, const char *id, struct rt_exec **ret, struct err *err)
{
    exec_sweep(rt);
    for (struct rt_exec *x = exec_head; x; x = x->next) {
        if (x->rt == rt && strcmp(x->id, id) == 0) {
            *ret = x;
            return 0;
        }
    }
    return err_set(err, -ENOENT, "No such exec instance: %s", id);
}

const char *rt_exec_id(const struct rt_exec *x)
{
    return x->id;
}

bool rt_exec_tty(const struct rt_exec *x)
{
    return x->tty;
}

bool rt_exec_attach_stdin(const struct rt_exec *x)
{
    return x->attach_in;
}

bool rt_exec_attach_stdout(const struct rt_exec *x)
{
    return x->attach_out;
}

bool rt_exec_attach_stderr(const struct rt_exec *x)
{
    return x->attach_err;
}

const char *rt_exec_detach_keys(const struct rt_exec *x)
{
    return x->detach_keys;
}

bool rt_exec_running(const struct rt_exec *x)
{
    return x->running;
}

json_t *rt_exec_inspect(const struct rt_exec *x)
{
    json_t *args = json_array();
    json_t *pc;
    size_t i;
    json_t *v;

    json_array_foreach(x->cmd, i, v)
    {
        if (i > 0)
            json_array_append(args, v);
    }
    pc = json_pack("{s:b, s:s, s:o, s:b}", "tty", x->tty, "entrypoint",
                   json_string_value(json_array_get(x->cmd, 0)), "arguments", args, "privileged",
                   x->privileged);
    if (pc && *x->user)
        json_object_set_new(pc, "user", json_string(x->user));
    return json_pack("{s:s, s:b, s:o, s:o, s:b, s:b, s:b, s:b, s:s, s:s, s:i}", "ID", x->id,
                     "Running", x->running, "ExitCode",
                     x->exited ? json_integer(x->exit_code) : json_null(), "ProcessConfig", pc,
                     "OpenStdin", x->attach_in, "OpenStderr", x->attach_err, "OpenStdout",
                     x->attach_out, "CanRemove", 0, "ContainerID", x->cid, "DetachKeys",
                     x->detach_keys, "Pid", x->pid);
}

/* ---- the monitor connection ------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    struct rt_exec *x = h->data;

    if (--x->handles == 0) {
        /* only the record stays: keep it small */
        buf_release(&x->in);
        buf_init(&x->in);
        buf_release(&x->pending);
        buf_init(&x->pending);
    }
}

static void conn_close(struct rt_exec *x)
{
    if (x->closing)
        return;
    x->closing = true;
    x->connected = false;
    (void)uv_timer_stop(&x->timer);
    uv_close((uv_handle_t *)&x->pipe, handle_closed);
    uv_close((uv_handle_t *)&x->timer, handle_closed);
}

struct wreq {
    uv_write_t req;
    char data[];
};

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    free(container_of(req, struct wreq, req));
}

/* One frame; id_prefix: put the exec id before payload. */
static int conn_send(struct rt_exec *x, uint8_t type, bool id_prefix, const void *payload,
                     size_t len)
{
    size_t pre = id_prefix ? 1 + strlen(x->id) : 0;
    struct wreq *w;
    uv_buf_t b;

    if (!x->connected || x->closing)
        return -ENOTCONN;
    if (pre + len > MON_MAX_PAYLOAD)
        return -EMSGSIZE;
    w = malloc(sizeof(*w) + MON_HDR_LEN + pre + len);
    if (!w)
        return -ENOMEM;
    mon_put_hdr((unsigned char *)w->data, type, (uint32_t)(pre + len));
    if (pre)
        (void)mon_put_exec_id((unsigned char *)w->data + MON_HDR_LEN, x->id, strlen(x->id));
    if (len)
        memcpy(w->data + MON_HDR_LEN + pre, payload, len);
    b = uv_buf_init(w->data, (unsigned)(MON_HDR_LEN + pre + len));
    if (uv_write(&w->req, (uv_stream_t *)&x->pipe, &b, 1, write_done) < 0) {
        free(w);
        return -EIO;
    }
    return 0;
}

static int send_stdin(struct rt_exec *x, const char *data, size_t len)
{
    while (len > 0) {
        size_t n = len > EXEC_CHUNK ? EXEC_CHUNK : len;
        int r = conn_send(x, MON_C_EXEC_STDIN, true, data, n);
        if (r < 0)
            return r;
        data += n;
        len -= n;
    }
    return 0;
}

static void finish(struct rt_exec *x, int code)
{
    struct rt_exec_handlers h = x->h;
    void *arg = x->arg;

    if (x->exited)
        return;
    x->running = false;
    x->exited = true;
    x->exit_code = x->failed ? 126 : code; /* dockerd reports 126 for any failed exec start */
    x->finished_ms = uv_now(x->rt->loop);
    memset(&x->h, 0, sizeof(x->h));
    x->arg = NULL;
    conn_close(x);
    if (h.on_exit)
        h.on_exit(arg, x->exit_code);
}

static void fail(struct rt_exec *x, const char *what)
{
    char msg[1200];

    x->failed = true;
    (void)snprintf(msg, sizeof(msg),
                   "OCI runtime exec failed: exec failed: unable to start container process: "
                   "%s: unknown",
                   what);
    if (x->h.on_error)
        x->h.on_error(x->arg, msg);
}

static void send_exec(struct rt_exec *x)
{
    Shoal__Rt__RtExec rx = SHOAL__RT__RT_EXEC__INIT;
    size_t nargs = json_array_size(x->cmd), nenv = json_array_size(x->env);
    char **args = calloc(nargs + 1, sizeof(char *));
    char **env = calloc(nenv + 1, sizeof(char *));
    uint8_t *data = NULL;
    size_t len;
    int r = -ENOMEM;

    if (x->exec_sent || x->closing)
        goto out;
    x->exec_sent = true;
    (void)uv_timer_stop(&x->timer);
    if (!args || !env)
        goto out;
    for (size_t i = 0; i < nargs; i++)
        args[i] = (char *)json_string_value(json_array_get(x->cmd, i));
    for (size_t i = 0; i < nenv; i++)
        env[i] = (char *)json_string_value(json_array_get(x->env, i));
    rx.id = x->id;
    rx.n_args = nargs;
    rx.args = args;
    rx.n_env = nenv;
    rx.env = env;
    rx.cwd = x->cwd;
    rx.user = x->user;
    rx.tty = x->tty;
    rx.open_stdin = x->attach_in;
    rx.privileged = x->privileged;
    rx.console_rows = x->rows;
    rx.console_cols = x->cols;
    len = shoal__rt__rt_exec__get_packed_size(&rx);
    data = malloc(len ? len : 1);
    if (!data)
        goto out;
    shoal__rt__rt_exec__pack(&rx, data);
    r = conn_send(x, MON_C_EXEC, false, data, len);
    if (r == 0 && x->pending.len)
        r = send_stdin(x, x->pending.data, x->pending.len);
    buf_release(&x->pending);
    buf_init(&x->pending);
    if (r == 0 && x->pending_eof)
        r = conn_send(x, MON_C_EXEC_STDIN_EOF, true, NULL, 0);
out:
    free(args);
    free(env);
    free(data);
    if (r < 0 && !x->exited) {
        fail(x, "cannot talk to the container monitor");
        finish(x, 126);
    }
}

static void handle_frame(struct rt_exec *x, uint8_t type, const unsigned char *p, size_t len)
{
    const char *id;
    size_t idlen, pre = mon_get_exec_id(p, len, &id, &idlen);
    char msg[1100];

    if (!pre || idlen != strlen(x->id) || memcmp(id, x->id, idlen) != 0)
        return;
    p += pre;
    len -= pre;
    switch (type) {
    case MON_M_EXEC_STARTED:
        if (len >= 4)
            x->pid = (int)mon_get_u32(p);
        x->got_started = true;
        log_debug("exec %.12s in %.12s: started, pid %d", x->id, x->cid, x->pid);
        if (x->h.on_started)
            x->h.on_started(x->arg, x->pid);
        break;
    case MON_M_EXEC_ERR:
        if (len >= 1) {
            (void)snprintf(msg, sizeof(msg), "%.*s", (int)(len - 1), (const char *)p + 1);
            log_debug("exec %.12s in %.12s: %s", x->id, x->cid, msg);
            fail(x, msg);
        }
        break;
    case MON_M_EXEC_STDOUT:
    case MON_M_EXEC_STDERR:
        if (x->h.on_output && len > 0)
            x->h.on_output(x->arg, type == MON_M_EXEC_STDOUT ? RT_STDOUT : RT_STDERR,
                           (const char *)p, len);
        break;
    case MON_M_EXEC_EXIT:
        finish(x, len >= 4 ? (int)mon_get_u32(p) : 255);
        break;
    default:
        break;
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct rt_exec *x = h->data;

    (void)suggested;
    if (buf_reserve(&x->in, 32 * 1024) < 0) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(x->in.data + x->in.len, (unsigned)(x->in.cap - x->in.len - 1));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct rt_exec *x = s->data;
    size_t off = 0;

    (void)b;
    if (n < 0) {
        /* the monitor is gone (the container ended) without an exit frame */
        if (!x->got_started && !x->failed)
            fail(x, "container is not running");
        finish(x, 128 + 9);
        return;
    }
    x->in.len += (size_t)n;
    while (!x->closing && x->in.len - off >= MON_HDR_LEN) {
        const unsigned char *h = (const unsigned char *)x->in.data + off;
        uint32_t len = mon_get_u32(h + 1);

        if (len > MON_MAX_PAYLOAD) {
            finish(x, 255);
            return;
        }
        if (x->in.len - off < MON_HDR_LEN + len)
            break;
        handle_frame(x, h[0], h + MON_HDR_LEN, len);
        off += MON_HDR_LEN + len;
    }
    if (!x->closing)
        buf_consume(&x->in, off);
}

static void size_timeout(uv_timer_t *t)
{
    send_exec(t->data);
}

static void conn_connected(uv_connect_t *req, int status)
{
    struct rt_exec *x = req->data;

    if (x->closing)
        return;
    if (status < 0) {
        fail(x, "container is not running");
        finish(x, 126);
        return;
    }
    x->connected = true;
    if (uv_read_start((uv_stream_t *)&x->pipe, conn_alloc, conn_read) < 0) {
        fail(x, "cannot read from the container monitor");
        finish(x, 126);
        return;
    }
    if (x->tty && x->attach_in && !x->rows)
        (void)uv_timer_start(&x->timer, size_timeout, EXEC_SIZE_WAIT_MS, 0);
    else
        send_exec(x);
}

int rt_exec_start(struct rt_exec *x, const struct rt_exec_handlers *h, void *arg, struct err *err)
{
    struct rt_container *c = NULL;
    char path[4200];

    if (x->exited)
        return err_set(err, -EEXIST, "Error: Exec command %s has already run", x->id);
    if (x->started)
        return err_set(err, -EEXIST, "Error: Exec command %s is already running", x->id);
    if (rt_container_find(x->rt, x->cid, &c, NULL) < 0 || c->state != RT_STATE_RUNNING)
        return err_set(err, -EBUSY, "Container %s is not running", x->cid);
    if (h)
        x->h = *h;
    x->arg = arg;
    (void)uv_pipe_init(x->rt->loop, &x->pipe, 0);
    (void)uv_timer_init(x->rt->loop, &x->timer);
    x->pipe.data = x->timer.data = x->creq.data = x;
    x->handles = 2;
    uv_unref((uv_handle_t *)&x->pipe);
    uv_unref((uv_handle_t *)&x->timer);
    x->started = x->running = true;
    (void)snprintf(path, sizeof(path), "%s/%s", x->state_dir, MON_SOCK_NAME);
    uv_pipe_connect(&x->creq, &x->pipe, path, conn_connected);
    return 0;
}

void rt_exec_detach(struct rt_exec *x)
{
    memset(&x->h, 0, sizeof(x->h));
    x->arg = NULL;
    if (!x->tty)
        (void)rt_exec_stdin_eof(x);
}

int rt_exec_stdin(struct rt_exec *x, const void *data, size_t len)
{
    if (!x->attach_in || x->pending_eof || x->exited)
        return -EPIPE;
    if (!x->exec_sent) {
        if (x->pending.len + len > EXEC_STDIN_MAX)
            return -ENOBUFS;
        return buf_append(&x->pending, data, len);
    }
    return send_stdin(x, data, len);
}

int rt_exec_stdin_eof(struct rt_exec *x)
{
    if (x->pending_eof || x->exited)
        return 0;
    x->pending_eof = true;
    if (!x->exec_sent)
        return 0;
    return conn_send(x, MON_C_EXEC_STDIN_EOF, true, NULL, 0);
}

int rt_exec_resize(struct rt_exec *x, unsigned rows, unsigned cols, struct err *err)
{
    unsigned char p[4];

    if (rows > 65535 || cols > 65535)
        return err_set(err, -EINVAL, "invalid terminal size");
    if (x->exited)
        return err_set(err, -EBUSY, "Exec %s is not running", x->id);
    x->rows = rows;
    x->cols = cols;
    if (!x->exec_sent) {
        if (x->connected && rows && cols)
            send_exec(x);
        return 0;
    }
    p[0] = (unsigned char)(rows >> 8);
    p[1] = (unsigned char)rows;
    p[2] = (unsigned char)(cols >> 8);
    p[3] = (unsigned char)cols;
    return conn_send(x, MON_C_EXEC_RESIZE, true, p, sizeof(p)) < 0
               ? err_set(err, -EIO, "resize failed: monitor not reachable")
               : 0;
}

/* ---- top ---------------------------------------------------------------------------- */

struct top_row {
    int pid;
    json_t *row;
};

static int top_cmp(const void *a, const void *b)
{
    return ((const struct top_row *)a)->pid - ((const struct top_row *)b)->pid;
}

/* uid -> name from the host's /etc/passwd text (ps -ef prints names). */
static void uid_name(const char *passwd, unsigned uid, char *out, size_t outlen)
{
    const char *line = passwd;

    (void)snprintf(out, outlen, "%u", uid);
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;

        if (c1 && c2 && strtoul(c2 + 1, NULL, 10) == uid && isdigit((unsigned char)c2[1])) {
            (void)snprintf(out, outlen, "%.*s", (int)(c1 - line), line);
            return;
        }
        line = nl ? nl + 1 : NULL;
    }
}

static void fmt_cputime(uint64_t secs, char *out, size_t outlen)
{
    uint64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60, s = secs % 60;

    if (d)
        (void)snprintf(out, outlen, "%llu-%02llu:%02llu:%02llu", (unsigned long long)d,
                       (unsigned long long)h, (unsigned long long)m, (unsigned long long)s);
    else
        (void)snprintf(out, outlen, "%02llu:%02llu:%02llu", (unsigned long long)h,
                       (unsigned long long)m, (unsigned long long)s);
}

static void fmt_stime(time_t start, time_t now, char *out, size_t outlen)
{
    struct tm tm, tn;

    (void)localtime_r(&start, &tm);
    (void)localtime_r(&now, &tn);
    if (now - start < 86400)
        (void)strftime(out, outlen, "%H:%M", &tm);
    else if (tm.tm_year == tn.tm_year)
        (void)strftime(out, outlen, "%b%d", &tm);
    else
        (void)strftime(out, outlen, "%Y", &tm);
}

static void fmt_tty(unsigned long nr, char *out, size_t outlen)
{
    unsigned maj = (unsigned)((nr >> 8) & 0xfff),
             min = (unsigned)((nr & 0xff) | ((nr >> 12) & 0xfff00));

    if (nr != 0 && maj >= 136 && maj <= 143)
        (void)snprintf(out, outlen, "pts/%u", (maj - 136) * 256 + min);
    else if (maj == 4 && min < 64)
        (void)snprintf(out, outlen, "tty%u", min);
    else if (maj == 4)
        (void)snprintf(out, outlen, "ttyS%u", min - 64);
    else /* no terminal, or one we do not name */
        (void)snprintf(out, outlen, "?");
}

static uint64_t boot_time(void)
{
    char *s = NULL;
    uint64_t bt = 0;

    if (read_file("/proc/stat", &s, NULL, 1 << 20) == 0) {
        char *p = strstr(s, "\nbtime ");
        if (p)
            bt = strtoull(p + 7, NULL, 10);
    }
    free(s);
    return bt;
}

/* One ps -ef row for /proc/<pid>, or NULL. */
static json_t *top_row(int pid, const char *passwd, uint64_t btime, time_t now, long hz)
{
    char path[64], uidname[64], stime[16], tty[16], cputime[32], num[3][24];
    char *pstat = NULL, *cmd = NULL;
    size_t cmdlen = 0;
    unsigned long ppid = 0, tty_nr = 0;
    unsigned long long utime = 0, stime_j = 0, start = 0;
    struct stat st;
    json_t *row = NULL;
    char *p, *comm_end;
    struct buf b;

    (void)snprintf(path, sizeof(path), "/proc/%d", pid);
    if (stat(path, &st) < 0)
        return NULL;
    (void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_file(path, &pstat, NULL, 8192) < 0)
        return NULL;
    comm_end = strrchr(pstat, ')');
    p = comm_end;
    /* fields after "pid (comm)": 3 state, 4 ppid, 7 tty_nr, 14 utime, 15 stime, 22 starttime */
    if (!p || sscanf(p + 2,
                     "%*c %lu %*d %*d %lu %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                     "%*d %*d %llu",
                     &ppid, &tty_nr, &utime, &stime_j, &start) != 5)
        goto out;
    uid_name(passwd, st.st_uid, uidname, sizeof(uidname));
    {
        uint64_t cpu_s = (utime + stime_j) / (uint64_t)hz;
        time_t started = (time_t)(btime + start / (uint64_t)hz);
        long elapsed = (long)(now - started);
        long c =
            elapsed > 0 ? (long)((utime + stime_j) * 100 / (uint64_t)hz / (uint64_t)elapsed) : 0;
        fmt_cputime(cpu_s, cputime, sizeof(cputime));
        fmt_stime(started, now, stime, sizeof(stime));
        (void)snprintf(num[2], sizeof(num[2]), "%ld", c > 99 ? 99 : c);
    }
    fmt_tty(tty_nr, tty, sizeof(tty));
    (void)snprintf(num[0], sizeof(num[0]), "%d", pid);
    (void)snprintf(num[1], sizeof(num[1]), "%lu", ppid);
    buf_init(&b);
    (void)snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    if (read_file(path, &cmd, &cmdlen, 64 * 1024) == 0 && cmdlen > 0) {
        while (cmdlen > 0 && cmd[cmdlen - 1] == '\0')
            cmdlen--;
        for (size_t i = 0; i < cmdlen; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        (void)buf_append(&b, cmd, cmdlen);
    } else {
        char *comm = strchr(pstat, '(');
        (void)buf_printf(&b, "[%.*s]", comm ? (int)(comm_end - comm - 1) : 0, comm ? comm + 1 : "");
    }
    (void)buf_append(&b, "", 1);
    row = json_pack("[s,s,s,s,s,s,s,s]", uidname, num[0], num[1], num[2], stime, tty, cputime,
                    b.data ? b.data : "");
    buf_release(&b);
out:
    free(pstat);
    free(cmd);
    return row;
}

int rt_container_top(struct rt_container *c, json_t **ret, struct err *err)
{
    struct top_row *rows = NULL;
    size_t n = 0, cap = 0;
    char path[64];
    struct stat ns;
    char *passwd = NULL;
    uint64_t btime = boot_time();
    time_t now = time(NULL);
    long hz = sysconf(_SC_CLK_TCK);
    struct dirent *de;
    json_t *procs, *out;
    DIR *d;

    if (c->state != RT_STATE_RUNNING || c->pid <= 0)
        return err_set(err, -EBUSY, "Container %s is not running", c->id);
    (void)snprintf(path, sizeof(path), "/proc/%d/ns/pid", c->pid);
    if (stat(path, &ns) < 0)
        return err_set(err, -EBUSY, "Container %s is not running", c->id);
    if (hz <= 0)
        hz = 100;
    (void)read_file("/etc/passwd", &passwd, NULL, 1 << 20);
    d = opendir("/proc");
    if (!d) {
        free(passwd);
        return err_set(err, -errno, "open /proc: %s", strerror(errno));
    }
    while ((de = readdir(d))) {
        struct stat st;
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end || pid <= 0)
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%ld/ns/pid", pid);
        if (stat(path, &st) < 0 || st.st_ino != ns.st_ino || st.st_dev != ns.st_dev)
            continue;
        if (n == cap) {
            struct top_row *nr = realloc(rows, (cap ? cap * 2 : 16) * sizeof(*nr));
            if (!nr)
                break;
            rows = nr;
            cap = cap ? cap * 2 : 16;
        }
        rows[n].pid = (int)pid;
        rows[n].row = top_row((int)pid, passwd ? passwd : "", btime, now, hz);
        if (rows[n].row)
            n++;
    }
    closedir(d);
    free(passwd);
    if (n)
        qsort(rows, n, sizeof(*rows), top_cmp);
    procs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(procs, rows[i].row);
    free(rows);
    out = json_pack("{s:[s,s,s,s,s,s,s,s], s:o}", "Titles", "UID", "PID", "PPID", "C", "STIME",
                    "TTY", "TIME", "CMD", "Processes", procs);
    if (!out)
        return err_set(err, -ENOMEM, "out of memory");
    *ret = out;
    return 0;
}
