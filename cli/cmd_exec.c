/*
 * cli/cmd_exec.c - `shoal exec` and `shoal top`, like docker's:
 *   exec: POST /containers/{c}/exec -> POST /exec/{id}/start (hijacked, or
 *         Detach) -> POST /exec/{id}/resize with a tty -> GET /exec/{id}/json,
 *         whose ExitCode becomes ours.
 *   top:  GET /containers/{c}/top[?ps_args=] printed as a table.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

static char *path_of(const char *kind, const char *name, const char *suffix)
{
    struct buf b;

    buf_init(&b);
    if (buf_printf(&b, "/%s/", kind) < 0 || cli_path_escape(&b, name) < 0 ||
        buf_puts(&b, suffix) < 0) {
        buf_release(&b);
        return NULL;
    }
    return b.data;
}

static int out_demux(void *ctx, int stream, const char *data, size_t len)
{
    bool *syserr = ctx;

    if (stream == CLI_STREAM_SYSERR)
        *syserr = true;
    return cli_out(stream == CLI_STREAM_STDOUT ? STDOUT_FILENO : STDERR_FILENO, data, len);
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Copy stdin to the stream (if in) and the stream to stdout/stderr until EOF. */
static int pump(struct cli_conn *conn, bool tty, bool in, struct err *err)
{
    int fd = cli_conn_fd(conn);
    struct buf *pend = cli_conn_pending(conn);
    struct cli_demux d;
    bool syserr = false;
    char data[32 * 1024];
    int r = 0;

    cli_demux_init(&d);
    if (!in)
        (void)shutdown(fd, SHUT_WR);
    if (pend->len) {
        r = tty ? cli_out(STDOUT_FILENO, pend->data, pend->len)
                : cli_demux_feed(&d, pend->data, pend->len, out_demux, &syserr);
        buf_consume(pend, pend->len);
    }
    while (r >= 0) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = in ? STDIN_FILENO : -1, .events = POLLIN}};
        ssize_t k;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return err_set(err, -errno, "poll: %s", strerror(errno));
        }
        if (in && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            k = read(STDIN_FILENO, data, sizeof(data));
            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (k <= 0 || send_all(fd, data, (size_t)k) < 0) {
                in = false;
                (void)shutdown(fd, SHUT_WR);
            }
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            k = read(fd, data, sizeof(data));
            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (k < 0 && errno != ECONNRESET)
                return err_set(err, -errno, "error reading stream: %s", strerror(errno));
            if (k <= 0)
                break;
            r = tty ? cli_out(STDOUT_FILENO, data, (size_t)k)
                    : cli_demux_feed(&d, data, (size_t)k, out_demux, &syserr);
        }
    }
    if (r == -EPROTO)
        return err_set(err, r, "Unrecognized input header: %d", d.stream);
    if (r < 0)
        return err_set(err, r, "error writing output: %s", strerror(-r));
    if (syserr)
        return err_set(err, -EIO, "error from daemon in stream");
    return 0;
}

static void resize(struct cli_ctx *ctx, const char *exec_path_resize)
{
    struct winsize ws;
    char q[64];
    struct err err;

    if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 ||
        (ws.ws_row == 0 && ws.ws_col == 0))
        return;
    (void)snprintf(q, sizeof(q), "h=%u&w=%u", ws.ws_row, ws.ws_col);
    (void)cli_call(&ctx->client, "POST", exec_path_resize, q, NULL, NULL, &err);
}

static int start_stream(struct cli_ctx *ctx, const char *id, bool tty, bool in, struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *conn = NULL;
    cleanup_free char *path = path_of("exec", id, "/start");
    cleanup_free char *rpath = path_of("exec", id, "/resize");
    cleanup_free char *body = NULL;
    struct cli_req req = {
        .method = "POST", .content_type = "application/json", .body_fd = -1, .upgrade = true};
    struct cli_resp resp;
    struct termios saved, raw;
    bool restore = false;
    int r;

    {
        json_t *o = json_pack("{s:b, s:b}", "Detach", 0, "Tty", tty);
        body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    }
    if (!path || !rpath || !body)
        return err_set(err, -ENOMEM, "out of memory");
    req.path = path;
    req.body = body;
    req.body_len = strlen(body);
    cli_resp_init(&resp);
    r = cli_conn_open(&ctx->client, &conn, err);
    if (r >= 0)
        r = cli_conn_send(conn, &req, err);
    if (r >= 0)
        r = cli_conn_read_head(conn, &resp, err);
    if (r >= 0 && resp.status != 101) {
        if (resp.status >= 400 && cli_conn_read_body(conn, NULL, NULL, err) >= 0)
            r = cli_resp_error(&resp, &req, err);
        else
            r = err_set(err, -EPROTO, "unable to upgrade to tcp, received %d", resp.status);
    }
    cli_resp_release(&resp);
    if (r < 0)
        return r;
    if (tty && in && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        raw = saved;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST;
        restore = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    if (tty)
        resize(ctx, rpath);
    r = pump(conn, tty, in, err);
    if (restore)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return r;
}

int cli_cmd_exec(struct cli_ctx *ctx, int argc, char **argv)
{
    bool interactive = false, tty = false, detach = false, privileged = false;
    const char *user = NULL, *workdir = NULL, *detach_keys = NULL;
    struct cli_strv env = {0}, args = {0};
    const struct cli_flag flags[] = {
        {"interactive", 'i', CLI_FLAG_BOOL, &interactive, "Keep STDIN open even if not attached",
         NULL, NULL},
        {"tty", 't', CLI_FLAG_BOOL, &tty, "Allocate a pseudo-TTY", NULL, NULL},
        {"detach", 'd', CLI_FLAG_BOOL, &detach, "Detached mode: run command in the background",
         NULL, NULL},
        {"user", 'u', CLI_FLAG_STRING, &user,
         "Username or UID (format: \"<name|uid>[:<group|gid>]\")", NULL, NULL},
        {"workdir", 'w', CLI_FLAG_STRING, &workdir, "Working directory inside the container", NULL,
         NULL},
        {"env", 'e', CLI_FLAG_LIST, &env, "Set environment variables", NULL, NULL},
        {"privileged", 0, CLI_FLAG_BOOL, &privileged, "Give extended privileges to the command",
         NULL, NULL},
        {"detach-keys", 0, CLI_FLAG_STRING, &detach_keys,
         "Override the key sequence for detaching a container", NULL, NULL},
        {NULL, 0, CLI_FLAG_BOOL, NULL, NULL, NULL, NULL},
    };
    const struct cli_cmd_spec spec = {
        .name = "exec",
        .usage = "[OPTIONS] CONTAINER COMMAND [ARG...]",
        .desc = "Execute a command in a running container",
        .flags = flags,
        .no_interspersed = true,
        .min_args = 2,
        .max_args = -1,
    };
    cleanup_free char *cpath = NULL, *ipath = NULL;
    struct err err = {0};
    json_t *body, *cmd, *envj, *resp = NULL;
    char id[80];
    int code = 0, r;

    r = cli_flags_parse(&spec, argc, argv, &args, &code);
    if (r != CLI_FLAGS_OK)
        return r == CLI_FLAGS_HELP ? 0 : code;
    cmd = json_array();
    envj = json_array();
    for (size_t i = 1; i < args.n; i++)
        json_array_append_new(cmd, json_string(args.v[i]));
    for (size_t i = 0; i < env.n; i++) {
        const char *e = env.v[i];
        if (strchr(e, '=')) {
            json_array_append_new(envj, json_string(e));
        } else if (getenv(e)) { /* docker: "-e NAME" takes the client's value */
            char kv[4096];
            (void)snprintf(kv, sizeof(kv), "%s=%s", e, getenv(e));
            json_array_append_new(envj, json_string(kv));
        }
    }
    body = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:s, s:o, s:s, s:o}", "User",
                     user ? user : "", "Privileged", privileged, "Tty", tty, "AttachStdin",
                     interactive && !detach, "AttachStderr", !detach, "AttachStdout", !detach,
                     "Detach", detach, "DetachKeys", detach_keys ? detach_keys : "", "Env",
                     env.n ? envj : (json_decref(envj), json_null()), "WorkingDir",
                     workdir ? workdir : "", "Cmd", cmd);
    cpath = path_of("containers", args.v[0], "/exec");
    if (!body || !cpath) {
        json_decref(body);
        cli_strv_release(&args);
        cli_strv_release(&env);
        return 1;
    }
    r = cli_call(&ctx->client, "POST", cpath, NULL, body, &resp, &err);
    json_decref(body);
    cli_strv_release(&args);
    cli_strv_release(&env);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    (void)snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(resp, "Id")) ?: "");
    json_decref(resp);
    if (!*id) {
        err_set(&err, -EPROTO, "no exec id in the daemon's reply");
        cli_print_err(ctx, &err);
        return 1;
    }
    if (detach) {
        cleanup_free char *spath = path_of("exec", id, "/start");
        json_t *o = json_pack("{s:b, s:b}", "Detach", 1, "Tty", tty);
        r = cli_call(&ctx->client, "POST", spath, NULL, o, NULL, &err);
        json_decref(o);
        if (r < 0) {
            cli_print_err(ctx, &err);
            return 1;
        }
        return 0;
    }
    r = start_stream(ctx, id, tty, interactive, &err);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    ipath = path_of("exec", id, "/json");
    resp = NULL;
    if (!ipath || cli_call(&ctx->client, "GET", ipath, NULL, NULL, &resp, &err) < 0) {
        if (ipath)
            cli_print_err(ctx, &err);
        return 1;
    }
    code = (int)json_integer_value(json_object_get(resp, "ExitCode"));
    json_decref(resp);
    return code;
}

int cli_cmd_top(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {{NULL, 0, CLI_FLAG_BOOL, NULL, NULL, NULL, NULL}};
    const struct cli_cmd_spec spec = {
        .name = "top",
        .usage = "CONTAINER [ps OPTIONS]",
        .desc = "Display the running processes of a container",
        .flags = flags,
        .no_interspersed = true,
        .min_args = 1,
        .max_args = -1,
    };
    cleanup_free char *path = NULL;
    struct cli_strv args = {0};
    struct cli_table t;
    struct buf q, out;
    struct err err = {0};
    json_t *resp = NULL, *titles, *procs, *row;
    size_t i;
    int code = 0, r;

    r = cli_flags_parse(&spec, argc, argv, &args, &code);
    if (r != CLI_FLAGS_OK)
        return r == CLI_FLAGS_HELP ? 0 : code;
    buf_init(&q);
    if (args.n > 1) {
        struct buf ps;
        buf_init(&ps);
        for (i = 1; i < args.n; i++)
            (void)buf_printf(&ps, "%s%s", i > 1 ? " " : "", args.v[i]);
        (void)cli_query_add(&q, "ps_args", ps.data ? ps.data : "");
        buf_release(&ps);
    }
    path = path_of("containers", args.v[0], "/top");
    cli_strv_release(&args);
    r = path ? cli_call(&ctx->client, "GET", path, q.len ? q.data : NULL, NULL, &resp, &err)
             : err_set(&err, -ENOMEM, "out of memory");
    buf_release(&q);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    titles = json_object_get(resp, "Titles");
    procs = json_object_get(resp, "Processes");
    cli_table_init(&t, json_array_size(titles));
    {
        const char *cells[32];
        size_t nc = json_array_size(titles) < 32 ? json_array_size(titles) : 32;
        size_t j;

        for (j = 0; j < nc; j++)
            cells[j] = json_string_value(json_array_get(titles, j)) ?: "";
        (void)cli_table_add(&t, cells);
        CLI_JSON_ARRAY_EACH(procs, i, row)
        {
            for (j = 0; j < nc; j++)
                cells[j] = json_string_value(json_array_get(row, j)) ?: "";
            (void)cli_table_add(&t, cells);
        }
    }
    buf_init(&out);
    if (cli_table_render(&t, &out) == 0 && out.len)
        (void)cli_out(STDOUT_FILENO, out.data, out.len);
    buf_release(&out);
    cli_table_release(&t);
    json_decref(resp);
    return 0;
}
