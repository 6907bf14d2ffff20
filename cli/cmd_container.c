/*
 * cli/cmd_container.c - run, create, start, ps, logs, stop, restart, kill,
 * rm, wait and inspect, following the request sequences of the docker CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"

#include "cli/cli.h"

#define END_FLAGS                                                                                  \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/* ---- small helpers ------------------------------------------------------------ */

/* "/containers/<escaped name><suffix>" into a fresh string (NULL on ENOMEM). */
static char *obj_path(const char *kind, const char *name, const char *suffix)
{
    struct buf b;

    buf_init(&b);
    if (buf_printf(&b, "/%s/", kind) < 0 || cli_path_escape(&b, name) < 0 ||
        buf_puts(&b, suffix ? suffix : "") < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static int oom(void)
{
    fprintf(stderr, "shoal: out of memory\n");
    return 1;
}

/* Docker's familiar image name with a default tag: "bb" -> "bb:latest". */
static void image_with_tag(const char *image, char *out, size_t outlen)
{
    const char *slash = strrchr(image, '/');
    const char *last = slash ? slash + 1 : image;

    if (strchr(image, '@') || strchr(last, ':'))
        (void)snprintf(out, outlen, "%s", image);
    else
        (void)snprintf(out, outlen, "%s:latest", image);
}

static int start_exit_code(const char *msg)
{
    if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory") ||
        strstr(msg, "system cannot find the file specified"))
        return 127;
    if (strstr(msg, "permission denied") || strstr(msg, "is a directory"))
        return 126;
    return 125;
}

static void run_err(struct cli_ctx *ctx, const char *cmd, const struct err *err)
{
    cli_print_err(ctx, err);
    if (!ctx->client.connect_failed)
        fprintf(stderr, "\nRun 'shoal %s --help' for more information\n", cmd);
}

/* ---- signals ---------------------------------------------------------------------- */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;

    if (sig_pipe[1] >= 0)
        (void)!write(sig_pipe[1], &c, 1);
    errno = saved;
}

static const struct {
    int sig;
    const char *name;
} proxied[] = {
    {SIGINT, "INT"},   {SIGTERM, "TERM"}, {SIGHUP, "HUP"},
    {SIGQUIT, "QUIT"}, {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"},
};

static int signals_setup(bool proxy, bool winch)
{
    struct sigaction sa;

    if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (proxy)
        for (size_t i = 0; i < ARRAY_SIZE(proxied); i++)
            (void)sigaction(proxied[i].sig, &sa, NULL);
    if (winch)
        (void)sigaction(SIGWINCH, &sa, NULL);
    return 0;
}

/* ---- attach / wait / resize --------------------------------------------------- */

static int attach_open(struct cli_ctx *ctx, const char *id, bool in, bool out, bool errs,
                       struct cli_conn **ret, struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    cleanup_free char *path = obj_path("containers", id, "/attach");
    struct buf q;
    struct cli_req req = {
        .method = "POST", .content_type = "text/plain", .body_fd = -1, .upgrade = true};
    struct cli_resp resp;
    int r;

    if (!path)
        return err_set(err, -ENOMEM, "out of memory");
    buf_init(&q);
    r = 0;
    if (errs)
        r = cli_query_add(&q, "stderr", "1");
    if (r >= 0 && in)
        r = cli_query_add(&q, "stdin", "1");
    if (r >= 0 && out)
        r = cli_query_add(&q, "stdout", "1");
    if (r >= 0)
        r = cli_query_add(&q, "stream", "1");
    if (r < 0) {
        buf_release(&q);
        return err_set(err, -ENOMEM, "out of memory");
    }
    req.path = path;
    req.query = q.data;
    cli_resp_init(&resp);
    r = cli_conn_open(&ctx->client, &c, err);
    if (r >= 0)
        r = cli_conn_send(c, &req, err);
    if (r >= 0)
        r = cli_conn_read_head(c, &resp, err);
    if (r >= 0 && resp.status != 101) {
        if (resp.status >= 400 && cli_conn_read_body(c, NULL, NULL, err) >= 0)
            r = cli_resp_error(&resp, &req, err);
        else
            r = err_set(err, -EPROTO, "unable to upgrade to tcp, received %d", resp.status);
    }
    cli_resp_release(&resp);
    buf_release(&q);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(c);
    return 0;
}

struct wait_call {
    struct cli_conn *conn;
    struct cli_resp resp;
    struct cli_req req;
    char *path;
};

static int wait_begin(struct cli_ctx *ctx, const char *id, const char *condition,
                      struct wait_call *w, struct err *err)
{
    struct buf q;
    int r;

    memset(w, 0, sizeof(*w));
    cli_resp_init(&w->resp);
    buf_init(&q);
    w->path = obj_path("containers", id, "/wait");
    if (!w->path || (condition && cli_query_add(&q, "condition", condition) < 0)) {
        buf_release(&q);
        return err_set(err, -ENOMEM, "out of memory");
    }
    w->req = (struct cli_req){.method = "POST", .path = w->path, .query = NULL, .body_fd = -1};
    w->req.query = q.data ? buf_steal(&q) : NULL;
    r = cli_conn_open(&ctx->client, &w->conn, err);
    if (r >= 0)
        r = cli_conn_send(w->conn, &w->req, err);
    if (r >= 0)
        r = cli_conn_read_head(w->conn, &w->resp, err);
    if (r >= 0 && w->resp.status >= 400) {
        r = cli_conn_read_body(w->conn, NULL, NULL, err);
        if (r >= 0)
            r = cli_resp_error(&w->resp, &w->req, err);
    }
    return r;
}

/* Read the wait body: {"StatusCode":N,"Error":{"Message":...}|null}. */
static int wait_end(struct wait_call *w, int *ret_status, struct err *err)
{
    json_t *j, *e;
    int r;

    r = cli_conn_read_body(w->conn, NULL, NULL, err);
    if (r < 0)
        return r;
    j = json_loadb(w->resp.body.data ? w->resp.body.data : "", w->resp.body.len, 0, NULL);
    if (!j)
        return err_set(err, -EPROTO, "invalid wait response from daemon");
    e = json_object_get(j, "Error");
    if (e && json_string_value(json_object_get(e, "Message")) &&
        *json_string_value(json_object_get(e, "Message"))) {
        r = err_set(err, -EIO, "%s", json_string_value(json_object_get(e, "Message")));
    } else {
        *ret_status = (int)json_integer_value(json_object_get(j, "StatusCode"));
    }
    json_decref(j);
    return r;
}

static void wait_release(struct wait_call *w)
{
    w->conn = cli_conn_free(w->conn);
    cli_resp_release(&w->resp);
    free(w->path);
    free((char *)w->req.query);
    w->path = NULL;
    w->req.query = NULL;
}

static void resize_tty(struct cli_ctx *ctx, const char *id)
{
    struct winsize ws;
    char q[64];
    cleanup_free char *path = obj_path("containers", id, "/resize");
    struct err err;

    if (!path || !isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 ||
        (ws.ws_row == 0 && ws.ws_col == 0))
        return;
    (void)snprintf(q, sizeof(q), "h=%u&w=%u", ws.ws_row, ws.ws_col);
    (void)cli_call(&ctx->client, "POST", path, q, NULL, NULL, &err); /* errors ignored */
}

static void proxy_signal(struct cli_ctx *ctx, const char *id, int sig)
{
    cleanup_free char *path = obj_path("containers", id, "/kill");
    char q[32];
    struct err err;

    for (size_t i = 0; path && i < ARRAY_SIZE(proxied); i++) {
        if (proxied[i].sig != sig)
            continue;
        (void)snprintf(q, sizeof(q), "signal=%s", proxied[i].name);
        if (cli_call(&ctx->client, "POST", path, q, NULL, NULL, &err) < 0)
            cli_print_err(ctx, &err);
    }
}

/* ---- the stream pump -------------------------------------------------------------- */

struct out_ctx {
    bool syserr;
};

static int demux_write(void *ctx, int stream, const char *data, size_t len)
{
    struct out_ctx *o = ctx;

    if (stream == CLI_STREAM_SYSERR) {
        o->syserr = true;
        return cli_out(STDERR_FILENO, data, len);
    }
    return cli_out(stream == CLI_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

static int raw_write(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    return cli_out(STDOUT_FILENO, data, len);
}

struct pump {
    struct cli_ctx *ctx;
    const char *id;
    bool tty;
    bool send_stdin;
    bool proxy_signals;
};

static int pump_output(struct cli_demux *d, struct out_ctx *oc, bool tty, const char *data,
                       size_t len)
{
    if (tty)
        return raw_write(NULL, data, len);
    return cli_demux_feed(d, data, len, demux_write, oc);
}

static int pump_run(const struct pump *p, struct cli_conn *att, struct err *err)
{
    int fd = cli_conn_fd(att);
    struct cli_demux demux;
    struct out_ctx oc = {false};
    struct buf *pend = cli_conn_pending(att);
    bool stdin_open = p->send_stdin;
    char data[64 * 1024];
    int r;

    cli_demux_init(&demux);
    if (!stdin_open)
        (void)shutdown(fd, SHUT_WR);
    if (pend->len) {
        r = pump_output(&demux, &oc, p->tty, pend->data, pend->len);
        buf_consume(pend, pend->len);
        if (r < 0)
            return err_set(err, r, "error reading stream: %s", strerror(-r));
    }
    for (;;) {
        struct pollfd pfd[3];
        nfds_t n = 0;
        int idx_in = -1, idx_sig = -1;

        pfd[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        if (stdin_open) {
            idx_in = (int)n;
            pfd[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        if (sig_pipe[0] >= 0) {
            idx_sig = (int)n;
            pfd[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        }
        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return err_set(err, -errno, "poll: %s", strerror(errno));
        }
        if (idx_sig >= 0 && (pfd[idx_sig].revents & POLLIN)) {
            unsigned char sigs[16];
            ssize_t k = read(sig_pipe[0], sigs, sizeof(sigs));

            for (ssize_t i = 0; i < k; i++) {
                if (sigs[i] == SIGWINCH)
                    resize_tty(p->ctx, p->id);
                else if (p->proxy_signals)
                    proxy_signal(p->ctx, p->id, sigs[i]);
            }
        }
        if (idx_in >= 0 && (pfd[idx_in].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t k = read(STDIN_FILENO, data, sizeof(data));

            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (k <= 0) {
                stdin_open = false;
                (void)shutdown(fd, SHUT_WR);
            } else {
                const char *q = data;
                size_t left = (size_t)k;

                while (left > 0) {
                    ssize_t w = send(fd, q, left, MSG_NOSIGNAL);

                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w < 0) { /* the daemon closed its side; keep reading output */
                        stdin_open = false;
                        break;
                    }
                    q += w;
                    left -= (size_t)w;
                }
            }
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(fd, data, sizeof(data));

            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (k < 0 && errno != ECONNRESET)
                return err_set(err, -errno, "error reading stream: %s", strerror(errno));
            if (k <= 0)
                break;
            r = pump_output(&demux, &oc, p->tty, data, (size_t)k);
            if (r == -EPROTO)
                return err_set(err, r, "Unrecognized input header: %d", demux.stream);
            if (r < 0)
                return err_set(err, r, "error writing output: %s", strerror(-r));
        }
    }
    if (oc.syserr)
        return err_set(err, -EIO, "error from daemon in stream");
    return 0;
}

/* ---- terminal ----------------------------------------------------------------------- */

static struct termios saved_tio;
static bool tio_saved;

static void term_raw(void)
{
    struct termios t;

    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
        return;
    tio_saved = true;
    t = saved_tio;
    cfmakeraw(&t);
    t.c_oflag |= OPOST; /* like docker: keep output processing */
    (void)tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static void term_restore(void)
{
    if (tio_saved)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    tio_saved = false;
}

/* ---- attached start (run, start -a) ------------------------------------------------ */

struct attached {
    const char *id;
    bool tty, in, out, errs, auto_remove, proxy_signals;
    const char *cmd; /* "run" or "start": how start errors are reported */
};

static int start_attached(struct cli_ctx *ctx, const struct attached *a)
{
    CLEANUP(cli_conn_freep) struct cli_conn *att = NULL;
    cleanup_free char *start_path = obj_path("containers", a->id, "/start");
    struct wait_call w;
    struct err err = {0};
    int status = 0, r;
    struct pump p = {ctx, a->id, a->tty, a->in, a->proxy_signals && !a->tty};

    if (!start_path)
        return oom();
    if (a->in || a->out || a->errs) {
        r = attach_open(ctx, a->id, a->in, a->out, a->errs, &att, &err);
        if (r < 0) {
            if (strcmp(a->cmd, "run") == 0)
                run_err(ctx, a->cmd, &err);
            else
                cli_print_err(ctx, &err);
            return strcmp(a->cmd, "run") == 0 ? 125 : 1;
        }
    }
    r = wait_begin(ctx, a->id, a->auto_remove ? "removed" : "next-exit", &w, &err);
    if (r < 0) {
        wait_release(&w);
        cli_print_err(ctx, &err);
        return strcmp(a->cmd, "run") == 0 ? 125 : 1;
    }
    if (signals_setup(p.proxy_signals, a->tty) < 0)
        fprintf(stderr, "shoal: cannot set up signal forwarding, ignoring\n");
    if (a->tty && a->in)
        term_raw();
    r = cli_call(&ctx->client, "POST", start_path, NULL, NULL, NULL, &err);
    if (r < 0) {
        term_restore();
        wait_release(&w);
        if (strcmp(a->cmd, "run") == 0) {
            run_err(ctx, "run", &err);
            return start_exit_code(err.msg);
        }
        cli_print_err(ctx, &err);
        return 1;
    }
    if (a->tty)
        resize_tty(ctx, a->id);
    if (att) {
        r = pump_run(&p, att, &err);
        term_restore();
        if (r < 0) {
            cli_print_err(ctx, &err);
            wait_release(&w);
            return 1;
        }
    }
    r = wait_end(&w, &status, &err);
    term_restore();
    wait_release(&w);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 125;
    }
    return status;
}

/* ---- run / create ---------------------------------------------------------------------- */

static int create_container(struct cli_ctx *ctx, const struct cli_run_opts *o, bool is_run,
                            char **ret_id)
{
    json_t *body = NULL, *reply = NULL, *warn;
    struct buf q;
    struct err err = {0};
    size_t i;
    int r;

    r = cli_run_opts_to_json(o, &body, &err);
    if (r < 0) {
        fprintf(stderr, "shoal: %s\n\nRun 'shoal %s --help' for more information\n", err.msg,
                is_run ? "run" : "create");
        return 125;
    }
    buf_init(&q);
    if (o->name && cli_query_add(&q, "name", o->name) < 0) {
        json_decref(body);
        return oom();
    }
    r = cli_call(&ctx->client, "POST", "/containers/create", q.data, body, &reply, &err);
    if (r == -ENOENT && strstr(err.msg, "No such image")) {
        /* Like docker: say so, pull it (progress on stderr), create again. */
        char ref[512];

        image_with_tag(o->image, ref, sizeof(ref));
        fprintf(stderr, "Unable to find image '%s' locally\n", ref);
        if (cli_pull_image(ctx, o->image, false) == 0) {
            err_clear(&err);
            r = cli_call(&ctx->client, "POST", "/containers/create", q.data, body, &reply, &err);
        } else {
            json_decref(body);
            buf_release(&q);
            return is_run ? 125 : 1;
        }
    }
    json_decref(body);
    buf_release(&q);
    if (r < 0) {
        if (is_run) {
            run_err(ctx, "run", &err);
            return ctx->client.connect_failed ? 1 : 125;
        }
        cli_print_err(ctx, &err);
        return 1;
    }
    CLI_JSON_ARRAY_EACH(json_object_get(reply, "Warnings"), i, warn)
    if (json_string_value(warn))
        fprintf(stderr, "WARNING: %s\n", json_string_value(warn));
    if (!json_string_value(json_object_get(reply, "Id"))) {
        json_decref(reply);
        fprintf(stderr, "shoal: invalid create response from daemon\n");
        return 125;
    }
    *ret_id = strdup(json_string_value(json_object_get(reply, "Id")));
    json_decref(reply);
    return *ret_id ? 0 : oom();
}

static int run_or_create(struct cli_ctx *ctx, int argc, char **argv, bool is_run)
{
    struct cli_run_opts o;
    cleanup_free char *id = NULL;
    struct err err = {0};
    int rc, ex;

    memset(&o, 0, sizeof(o));
    rc = cli_run_opts_parse(&o, is_run, argc, argv, &ex);
    if (rc != CLI_FLAGS_OK) {
        cli_run_opts_release(&o);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    if (is_run && !o.detach && o.tty && o.interactive && !isatty(STDIN_FILENO)) {
        cli_run_opts_release(&o);
        fprintf(stderr, "the input device is not a TTY\n");
        return 1;
    }
    rc = create_container(ctx, &o, is_run, &id);
    if (rc) {
        cli_run_opts_release(&o);
        return rc;
    }
    if (!is_run) {
        printf("%s\n", id);
        cli_run_opts_release(&o);
        return 0;
    }
    if (o.detach) {
        cleanup_free char *path = obj_path("containers", id, "/start");

        cli_run_opts_release(&o);
        if (!path)
            return oom();
        if (cli_call(&ctx->client, "POST", path, NULL, NULL, NULL, &err) < 0) {
            run_err(ctx, "run", &err);
            return start_exit_code(err.msg);
        }
        printf("%s\n", id);
        return 0;
    }
    {
        struct attached a = {
            .id = id, .tty = o.tty, .auto_remove = o.rm, .proxy_signals = true, .cmd = "run"};

        a.in = o.interactive;
        a.out = a.errs = o.attach.n == 0;
        for (size_t i = 0; i < o.attach.n; i++) {
            if (strcasecmp(o.attach.v[i], "stdin") == 0)
                a.in = true;
            else if (strcasecmp(o.attach.v[i], "stdout") == 0)
                a.out = true;
            else if (strcasecmp(o.attach.v[i], "stderr") == 0)
                a.errs = true;
        }
        cli_run_opts_release(&o);
        return start_attached(ctx, &a);
    }
}

int cli_cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
    return run_or_create(ctx, argc, argv, true);
}

int cli_cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
    return run_or_create(ctx, argc, argv, false);
}

/* ---- start ------------------------------------------------------------------------------ */

int cli_cmd_start(struct cli_ctx *ctx, int argc, char **argv)
{
    bool attach = false, interactive = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("attach", 'a', &attach, "Attach STDOUT/STDERR and forward signals"),
        CLI_BOOL_FLAG("interactive", 'i', &interactive, "Attach container's STDIN"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"start",
                                      "[OPTIONS] CONTAINER [CONTAINER...]",
                                      "Start one or more stopped containers",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct buf failed;
    int ex, rc = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (attach || interactive) {
        cleanup_free char *path = NULL;
        json_t *info = NULL;
        struct err err = {0};
        struct attached a = {.cmd = "start", .proxy_signals = true};
        cleanup_free char *id = NULL;

        if (args.n > 1) {
            cli_strv_release(&args);
            fprintf(stderr, "you cannot start and attach multiple containers at once\n");
            return 1;
        }
        path = obj_path("containers", args.v[0], "/json");
        cli_strv_release(&args);
        if (!path)
            return oom();
        if (cli_call(&ctx->client, "GET", path, NULL, NULL, &info, &err) < 0) {
            cli_print_err(ctx, &err);
            return 1;
        }
        id = strdup(json_string_value(json_object_get(info, "Id"))
                        ? json_string_value(json_object_get(info, "Id"))
                        : "");
        a.id = id;
        a.tty = json_is_true(json_object_get(json_object_get(info, "Config"), "Tty"));
        a.in = interactive &&
               json_is_true(json_object_get(json_object_get(info, "Config"), "OpenStdin"));
        a.out = a.errs = true;
        a.auto_remove =
            json_is_true(json_object_get(json_object_get(info, "HostConfig"), "AutoRemove"));
        json_decref(info);
        if (!id)
            return oom();
        return start_attached(ctx, &a);
    }
    buf_init(&failed);
    for (size_t i = 0; i < args.n; i++) {
        cleanup_free char *path = obj_path("containers", args.v[i], "/start");
        struct err err = {0};

        if (!path || cli_call(&ctx->client, "POST", path, NULL, NULL, NULL, &err) < 0) {
            cli_print_err(ctx, &err);
            if (ctx->client.connect_failed) {
                buf_release(&failed);
                cli_strv_release(&args);
                return 1;
            }
            (void)buf_printf(&failed, "%s%s", failed.len ? ", " : "", args.v[i]);
            continue;
        }
        printf("%s\n", args.v[i]);
        fflush(stdout);
    }
    if (failed.len) {
        fprintf(stderr, "Error: failed to start containers: %s\n", failed.data);
        rc = 1;
    }
    buf_release(&failed);
    cli_strv_release(&args);
    return rc;
}

/* ---- stop / restart / kill / rm ------------------------------------------------------- */

static int for_each_container(struct cli_ctx *ctx, const struct cli_strv *names, const char *method,
                              const char *suffix, const char *query, bool ignore_missing)
{
    int rc = 0;

    for (size_t i = 0; i < names->n; i++) {
        cleanup_free char *path = obj_path("containers", names->v[i], suffix);
        struct err err = {0};
        int r;

        if (!path)
            return oom();
        r = cli_call(&ctx->client, method, path, query, NULL, NULL, &err);
        if (r < 0) {
            if (ctx->client.connect_failed) {
                cli_print_err(ctx, &err);
                return 1;
            }
            cli_print_err(ctx, &err);
            if (!(ignore_missing && r == -ENOENT))
                rc = 1;
            continue;
        }
        printf("%s\n", names->v[i]);
        fflush(stdout);
    }
    return rc;
}

static int stop_like(struct cli_ctx *ctx, int argc, char **argv, const char *name, const char *desc)
{
    long long timeout = 0;
    bool timeout_set = false;
    const char *signal_name = NULL;
    struct cli_flag flags[] = {
        CLI_STRING_FLAG("signal", 's', &signal_name, "Signal to send to the container"),
        {.name = "timeout",
         .shorthand = 't',
         .type = CLI_FLAG_INT,
         .dest = &timeout,
         .help = "Seconds to wait before killing the container",
         .set = &timeout_set},
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        name, "[OPTIONS] CONTAINER [CONTAINER...]", desc, flags, false, 1, -1};
    struct cli_strv args;
    struct buf q;
    char t[32];
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    buf_init(&q);
    if (signal_name && cli_query_add(&q, "signal", signal_name) < 0)
        return oom();
    (void)snprintf(t, sizeof(t), "%lld", timeout);
    if (timeout_set && cli_query_add(&q, "t", t) < 0)
        return oom();
    rc = for_each_container(ctx, &args, "POST", strcmp(name, "stop") == 0 ? "/stop" : "/restart",
                            q.data, false);
    buf_release(&q);
    cli_strv_release(&args);
    return rc;
}

int cli_cmd_stop(struct cli_ctx *ctx, int argc, char **argv)
{
    return stop_like(ctx, argc, argv, "stop", "Stop one or more running containers");
}

int cli_cmd_restart(struct cli_ctx *ctx, int argc, char **argv)
{
    return stop_like(ctx, argc, argv, "restart", "Restart one or more containers");
}

int cli_cmd_kill(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *sig = NULL;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("signal", 's', &sig, "Signal to send to the container"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"kill",
                                      "[OPTIONS] CONTAINER [CONTAINER...]",
                                      "Kill one or more running containers",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct buf q;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    buf_init(&q);
    if (sig && *sig && cli_query_add(&q, "signal", sig) < 0)
        return oom();
    rc = for_each_container(ctx, &args, "POST", "/kill", q.data, false);
    buf_release(&q);
    cli_strv_release(&args);
    return rc;
}

int cli_cmd_rm(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false, volumes = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("force", 'f', &force,
                      "Force the removal of a running container (uses SIGKILL)"),
        CLI_BOOL_FLAG("volumes", 'v', &volumes,
                      "Remove anonymous volumes associated with the container"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"rm",
                                      "[OPTIONS] CONTAINER [CONTAINER...]",
                                      "Remove one or more containers",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct buf q;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    buf_init(&q);
    if ((force && cli_query_add(&q, "force", "1") < 0) ||
        (volumes && cli_query_add(&q, "v", "1") < 0))
        return oom();
    rc = for_each_container(ctx, &args, "DELETE", "", q.data, force);
    buf_release(&q);
    cli_strv_release(&args);
    return rc;
}

/* ---- wait ------------------------------------------------------------------------------- */

int cli_cmd_wait(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {END_FLAGS};
    const struct cli_cmd_spec spec = {"wait",
                                      "CONTAINER [CONTAINER...]",
                                      "Block until one or more containers stop, then print "
                                      "their exit codes",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (size_t i = 0; i < args.n; i++) {
        struct wait_call w;
        struct err err = {0};
        int status = 0;
        int r = wait_begin(ctx, args.v[i], NULL, &w, &err);

        if (r >= 0)
            r = wait_end(&w, &status, &err);
        wait_release(&w);
        if (r < 0) {
            cli_print_err(ctx, &err);
            rc = 1;
            if (ctx->client.connect_failed)
                break;
            continue;
        }
        printf("%d\n", status);
        fflush(stdout);
    }
    cli_strv_release(&args);
    return rc;
}

/* ---- logs ------------------------------------------------------------------------------- */

struct logs_ctx {
    bool tty;
    struct cli_demux demux;
    struct out_ctx oc;
};

static int logs_body(void *ctx, const char *data, size_t len)
{
    struct logs_ctx *l = ctx;

    if (l->tty)
        return cli_out(STDOUT_FILENO, data, len);
    return cli_demux_feed(&l->demux, data, len, demux_write, &l->oc);
}

int cli_cmd_logs(struct cli_ctx *ctx, int argc, char **argv)
{
    bool follow = false, timestamps = false, details = false;
    const char *since = NULL, *until = NULL, *tail = "all";
    const struct cli_flag flags[] = {
        CLI_FLAG_LOGS_DETAILS(&details),
        CLI_FLAG_LOGS_FOLLOW(&follow),
        CLI_FLAG_LOGS_SINCE(&since),
        CLI_FLAG_LOGS_TAIL(&tail),
        CLI_FLAG_LOGS_TIMESTAMPS(&timestamps),
        CLI_STRING_FLAG("until", 0, &until,
                        "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative "
                        "(e.g. \"42m\" for 42 minutes)"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container", flags, false, 1, 1};
    struct cli_strv args;
    cleanup_free char *path = NULL, *lpath = NULL;
    json_t *info = NULL;
    struct err err = {0};
    struct buf q;
    struct logs_ctx lc;
    char ts_since[64], ts_until[64];
    int64_t now = time(NULL);
    int ex, rc, r = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (since && cli_parse_timestamp(since, now, ts_since, sizeof(ts_since)) < 0) {
        fprintf(stderr,
                "invalid value for \"since\": failed to parse value as time or "
                "duration: \"%s\"\n",
                since);
        cli_strv_release(&args);
        return 1;
    }
    if (until && cli_parse_timestamp(until, now, ts_until, sizeof(ts_until)) < 0) {
        fprintf(stderr,
                "invalid value for \"until\": failed to parse value as time or "
                "duration: \"%s\"\n",
                until);
        cli_strv_release(&args);
        return 1;
    }
    path = obj_path("containers", args.v[0], "/json");
    cli_strv_release(&args);
    if (!path)
        return oom();
    if (cli_call(&ctx->client, "GET", path, NULL, NULL, &info, &err) < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    memset(&lc, 0, sizeof(lc));
    cli_demux_init(&lc.demux);
    lc.tty = json_is_true(json_object_get(json_object_get(info, "Config"), "Tty"));
    lpath = obj_path("containers",
                     json_string_value(json_object_get(info, "Id"))
                         ? json_string_value(json_object_get(info, "Id"))
                         : "",
                     "/logs");
    json_decref(info);
    if (!lpath)
        return oom();
    buf_init(&q);
    {
        const struct cli_logs_query lq = {.details = details,
                                          .follow = follow,
                                          .timestamps = timestamps,
                                          .since = since ? ts_since : NULL,
                                          .until = until ? ts_until : NULL,
                                          .tail = tail};

        r = cli_logs_query(&q, &lq);
    }
    if (r < 0)
        return oom();
    {
        struct cli_req req = {.method = "GET", .path = lpath, .query = q.data, .body_fd = -1};

        r = cli_stream(&ctx->client, &req, logs_body, &lc, &err);
        buf_release(&q);
        if (r == -EPROTO && !strstr(err.msg, "daemon"))
            err_set(&err, r, "Unrecognized input header: %d", lc.demux.stream);
        if (r < 0) {
            cli_print_err(ctx, &err);
            return 1;
        }
    }
    return lc.oc.syserr ? 1 : 0;
}

/* ---- ps ---------------------------------------------------------------------------------- */

static int filters_json(const struct cli_strv *f, char **ret, struct err *err)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < f->n; i++) {
        const char *eq = strchr(f->v[i], '=');
        char key[128];
        json_t *vals;

        if (!eq) {
            json_decref(o);
            return err_set(err, -EINVAL, "bad format of filter (expected name=value)");
        }
        (void)snprintf(key, sizeof(key), "%.*s", (int)(eq - f->v[i]), f->v[i]);
        vals = json_object_get(o, key);
        if (!vals) {
            vals = json_object();
            json_object_set_new(o, key, vals);
        }
        json_object_set_new(vals, eq + 1, json_true());
    }
    if (!o)
        return err_set(err, -ENOMEM, "out of memory");
    *ret = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static char *ps_image(json_t *c, bool trunc)
{
    const char *image = json_string_value(json_object_get(c, "Image"));
    const char *image_id = json_string_value(json_object_get(c, "ImageID"));
    char a[13], b[13];
    const char *at;

    if (!image || !*image)
        return strdup("<no image>");
    if (!trunc)
        return strdup(image);
    cli_short_id(image, a);
    cli_short_id(image_id ? image_id : "", b);
    if (strcmp(a, b) == 0)
        return strdup(a);
    at = strchr(image, '@');
    if (at) {
        char *r;

        if (asprintf(&r, "%.*s", (int)(at - image), image) < 0)
            return NULL;
        return r;
    }
    return strdup(image);
}

static char *ps_names(json_t *c, bool trunc)
{
    struct buf b;
    size_t i;
    json_t *n;

    buf_init(&b);
    CLI_JSON_ARRAY_EACH(json_object_get(c, "Names"), i, n)
    {
        const char *s = json_string_value(n);

        if (!s)
            continue;
        if (*s == '/')
            s++;
        if (trunc && strchr(s, '/'))
            continue;
        if (buf_printf(&b, "%s%s", b.len ? "," : "", s) < 0) {
            buf_release(&b);
            return NULL;
        }
    }
    return b.data ? buf_steal(&b) : strdup("");
}

int cli_cmd_ps(struct cli_ctx *ctx, int argc, char **argv)
{
    bool all = false, quiet = false, no_trunc = false, latest = false, size = false;
    long long last = -1;
    const char *format = NULL;
    struct cli_strv filters = {NULL, 0};
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("all", 'a', &all, "Show all containers (default shows just running)"),
        CLI_FLAG_FILTER(&filters),
        CLI_STRING_FLAG("format", 0, &format,
                        "Format output using a Go template subset (e.g. '{{.Names}}')"),
        {.name = "last",
         .shorthand = 'n',
         .type = CLI_FLAG_INT,
         .dest = &last,
         .help = "Show n last created containers (includes all states)",
         .defval = "-1"},
        CLI_BOOL_FLAG("latest", 'l', &latest,
                      "Show the latest created container (includes all states)"),
        CLI_BOOL_FLAG("no-trunc", 0, &no_trunc, "Don't truncate output"),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display container IDs"),
        CLI_BOOL_FLAG("size", 's', &size, "Display total file sizes"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"ps", "[OPTIONS]", "List containers", flags, false, 0, 0};
    struct cli_strv args;
    cleanup_free char *fjson = NULL;
    struct err err = {0};
    struct buf q, out;
    struct cli_table t;
    json_t *list = NULL, *c;
    char lim[32];
    size_t i;
    int ex, rc, r = 0;
    int64_t now = time(NULL);

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        cli_strv_release(&filters);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    cli_strv_release(&args);
    if (filters.n && filters_json(&filters, &fjson, &err) < 0) {
        cli_strv_release(&filters);
        cli_print_err(ctx, &err);
        return 1;
    }
    cli_strv_release(&filters);
    if (latest && last == -1)
        last = 1;
    buf_init(&q);
    if (all)
        r = cli_query_add(&q, "all", "1");
    if (r >= 0 && fjson)
        r = cli_query_add(&q, "filters", fjson);
    (void)snprintf(lim, sizeof(lim), "%lld", last);
    if (r >= 0 && last > 0)
        r = cli_query_add(&q, "limit", lim);
    if (r >= 0 && size)
        r = cli_query_add(&q, "size", "1");
    if (r < 0)
        return oom();
    r = cli_call(&ctx->client, "GET", "/containers/json", q.data, NULL, &list, &err);
    buf_release(&q);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    buf_init(&out);
    cli_table_init(&t, 7);
    if (!quiet && !format) {
        const char *hdr[] = {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                             "STATUS",       "PORTS", "NAMES"};

        r = cli_table_add(&t, hdr);
    }
    CLI_JSON_ARRAY_EACH(list, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *cmd = json_string_value(json_object_get(c, "Command"));
        const char *status = json_string_value(json_object_get(c, "Status"));
        char sid[13], dur[64], created[80];
        cleanup_free char *image = ps_image(c, !no_trunc);
        cleanup_free char *names = ps_names(c, !no_trunc);
        cleanup_free char *ports = cli_ports_string(json_object_get(c, "Ports"));
        cleanup_free char *ell = NULL, *quoted = NULL;

        if (r < 0)
            break;
        if (!id)
            id = "";
        cli_short_id(id, sid);
        ell = no_trunc ? strdup(cmd ? cmd : "") : cli_ellipsis(cmd ? cmd : "", 20);
        quoted = ell ? cli_go_quote(ell) : NULL;
        cli_human_duration(now - (int64_t)json_integer_value(json_object_get(c, "Created")), dur,
                           sizeof(dur));
        (void)snprintf(created, sizeof(created), "%s ago", dur);
        if (!image || !names || !ports || !quoted) {
            r = -ENOMEM;
            break;
        }
        if (quiet) {
            r = buf_printf(&out, "%s\n", no_trunc ? id : sid);
        } else if (format) {
            json_t *fo = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O*}", "ID",
                                   no_trunc ? id : sid, "Image", image, "Command", quoted,
                                   "RunningFor", created, "Status", status ? status : "", "Ports",
                                   ports, "Names", names, "State",
                                   json_string_value(json_object_get(c, "State"))
                                       ? json_string_value(json_object_get(c, "State"))
                                       : "",
                                   "CreatedAt", created, "Labels", json_object_get(c, "Labels"));

            if (!fo) {
                r = -ENOMEM;
                break;
            }
            r = cli_template_exec(format, fo, &out, &err);
            json_decref(fo);
            if (r < 0) {
                json_decref(list);
                buf_release(&out);
                cli_table_release(&t);
                cli_print_err(ctx, &err);
                return 1;
            }
            r = buf_puts(&out, "\n");
        } else {
            const char *row[] = {no_trunc ? id : sid,  image, quoted, created,
                                 status ? status : "", ports, names};

            r = cli_table_add(&t, row);
        }
    }
    json_decref(list);
    if (r >= 0 && !quiet && !format)
        r = cli_table_render(&t, &out);
    cli_table_release(&t);
    if (r < 0) {
        buf_release(&out);
        return oom();
    }
    if (out.len)
        (void)cli_out(STDOUT_FILENO, out.data, out.len);
    buf_release(&out);
    return 0;
}

/* ---- inspect ------------------------------------------------------------------------------- */

enum inspect_type { INSPECT_ANY, INSPECT_CONTAINER, INSPECT_IMAGE };

static int inspect_cmd(struct cli_ctx *ctx, int argc, char **argv, enum inspect_type type,
                       const char *name, const char *desc)
{
    const char *format = NULL, *type_flag = NULL;
    bool size = false;
    struct cli_flag flags[] = {
        CLI_STRING_FLAG("format", 'f', &format,
                        "Format output using a Go template subset ('{{.State.Status}}', '{{json "
                        ".Config}}')"),
        CLI_BOOL_FLAG("size", 's', &size, "Display total file sizes if the type is container"),
        {.name = type == INSPECT_ANY ? "type" : NULL,
         .type = CLI_FLAG_STRING,
         .dest = &type_flag,
         .help = "Return JSON for specified type"},
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {name, "[OPTIONS] NAME|ID [NAME|ID...]", desc, flags, false, 1,
                                      -1};
    struct cli_strv args;
    struct buf arr, out;
    bool first = true;
    int ex, rc = 0, r = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (type_flag) {
        if (strcmp(type_flag, "container") == 0)
            type = INSPECT_CONTAINER;
        else if (strcmp(type_flag, "image") == 0)
            type = INSPECT_IMAGE;
        else {
            fprintf(stderr, "\"%s\" is not a valid value for --type\n", type_flag);
            cli_strv_release(&args);
            return 1;
        }
    }
    buf_init(&arr);
    buf_init(&out);
    r = buf_puts(&arr, "[");
    for (size_t i = 0; i < args.n && r >= 0; i++) {
        struct cli_req req = {.method = "GET", .body_fd = -1};
        struct cli_resp resp;
        struct err err = {0};
        cleanup_free char *cpath = obj_path("containers", args.v[i], "/json");
        cleanup_free char *ipath = obj_path("images", args.v[i], "/json");
        bool found = false;

        if (!cpath || !ipath) {
            r = -ENOMEM;
            break;
        }
        cli_resp_init(&resp);
        for (int k = 0; k < 2 && !found; k++) {
            if ((k == 0 && type == INSPECT_IMAGE) || (k == 1 && type == INSPECT_CONTAINER))
                continue;
            req.path = k == 0 ? cpath : ipath;
            req.query = k == 0 && size ? "size=1" : NULL;
            cli_resp_release(&resp);
            cli_resp_init(&resp);
            r = cli_request(&ctx->client, &req, &resp, &err);
            if (r < 0)
                break;
            if (resp.status < 300) {
                found = true;
                break;
            }
            cli_resp_error(&resp, &req, &err);
            if (resp.status != 404)
                break;
        }
        if (r < 0) {
            cli_resp_release(&resp);
            cli_print_err(ctx, &err);
            buf_release(&arr);
            buf_release(&out);
            cli_strv_release(&args);
            return 1;
        }
        if (!found) {
            cli_resp_release(&resp);
            if (type == INSPECT_ANY && resp.status == 404)
                err_set(&err, -ENOENT, "Error: No such object: %s", args.v[i]);
            /* errors are printed after the output, like docker */
            (void)buf_printf(&out, "%s\n", err.msg);
            rc = 1;
            continue;
        }
        if (format) {
            json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
            struct buf line;

            buf_init(&line);
            if (!j || cli_template_exec(format, j, &line, &err) < 0) {
                if (!j)
                    err_set(&err, -EPROTO, "invalid JSON from daemon");
                json_decref(j);
                buf_release(&line);
                cli_resp_release(&resp);
                fflush(stdout);
                fprintf(stderr, "%s\n", err.msg);
                rc = 1;
                continue;
            }
            json_decref(j);
            printf("%s\n", line.data ? line.data : "");
            buf_release(&line);
        } else {
            if (!first)
                r = buf_puts(&arr, ",");
            if (r >= 0)
                r = buf_append(&arr, resp.body.data, resp.body.len);
            first = false;
        }
        cli_resp_release(&resp);
    }
    cli_strv_release(&args);
    if (r >= 0)
        r = buf_puts(&arr, "]");
    if (r < 0) {
        buf_release(&arr);
        buf_release(&out);
        return oom();
    }
    if (!format) {
        struct buf ind;

        buf_init(&ind);
        if (first)
            r = buf_puts(&ind, "[]");
        else
            r = cli_json_indent(&ind, arr.data, arr.len, "");
        if (r >= 0)
            r = buf_puts(&ind, "\n");
        if (r < 0) {
            fprintf(stderr, "shoal: invalid JSON from daemon\n");
            rc = 1;
        } else {
            (void)cli_out(STDOUT_FILENO, ind.data, ind.len);
        }
        buf_release(&ind);
    }
    fflush(stdout);
    if (out.len)
        fputs(out.data, stderr);
    buf_release(&arr);
    buf_release(&out);
    return rc;
}

int cli_cmd_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    return inspect_cmd(ctx, argc, argv, INSPECT_ANY, "inspect",
                       "Return low-level information on containers or images");
}

int cli_cmd_container_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    return inspect_cmd(ctx, argc, argv, INSPECT_CONTAINER, "container inspect",
                       "Display detailed information on one or more containers");
}

int cli_cmd_image_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    return inspect_cmd(ctx, argc, argv, INSPECT_IMAGE, "image inspect",
                       "Display detailed information on one or more images");
}

/* ---- pause / unpause / rename / prune / stats / events (issue 6) ---------------------- */

static int simple_each(struct cli_ctx *ctx, int argc, char **argv, const char *name,
                       const char *desc, const char *suffix)
{
    const struct cli_flag flags[] = {END_FLAGS};
    const struct cli_cmd_spec spec = {name, "CONTAINER [CONTAINER...]", desc, flags, false, 1, -1};
    struct cli_strv args;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    rc = for_each_container(ctx, &args, "POST", suffix, NULL, false);
    cli_strv_release(&args);
    return rc;
}

int cli_cmd_pause(struct cli_ctx *ctx, int argc, char **argv)
{
    return simple_each(ctx, argc, argv, "pause",
                       "Pause all processes within one or more containers", "/pause");
}

int cli_cmd_unpause(struct cli_ctx *ctx, int argc, char **argv)
{
    return simple_each(ctx, argc, argv, "unpause",
                       "Unpause all processes within one or more containers", "/unpause");
}

int cli_cmd_rename(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {END_FLAGS};
    const struct cli_cmd_spec spec = {
        "rename", "CONTAINER NEW_NAME", "Rename a container", flags, false, 2, 2};
    struct cli_strv args;
    struct err err = {0};
    struct buf q;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cleanup_free char *path = obj_path("containers", args.v[0], "/rename");
    buf_init(&q);
    if (!path || cli_query_add(&q, "name", args.v[1]) < 0)
        return oom();
    rc = 0;
    if (cli_call(&ctx->client, "POST", path, q.data, NULL, NULL, &err) < 0) {
        cli_print_err(ctx, &err);
        rc = 1;
    }
    buf_release(&q);
    cli_strv_release(&args);
    return rc;
}

/* scope-exit release of a string vector filled by flag parsing */
static void strv_releasep(struct cli_strv *v)
{
    cli_strv_release(v);
}

int cli_cmd_container_prune(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    CLEANUP(strv_releasep) struct cli_strv filters = {0};
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("force", 'f', &force, "Do not prompt for confirmation"),
        CLI_LIST_FLAG("filter", 0, &filters, "Provide filter values (e.g. \"until=<timestamp>\")"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "prune", "[OPTIONS]", "Remove all stopped containers", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    cleanup_free char *fj = NULL;
    json_t *out = NULL;
    struct buf q;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (!force) {
        char answer[16] = "";
        printf("WARNING! This will remove all stopped containers.\n"
               "Are you sure you want to continue? [y/N] ");
        fflush(stdout);
        if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y'))
            return 0;
    }
    buf_init(&q);
    if (filters.n) {
        if (filters_json(&filters, &fj, &err) < 0) {
            cli_print_err(ctx, &err);
            return 125;
        }
        if (cli_query_add(&q, "filters", fj) < 0)
            return oom();
    }
    rc = cli_call(&ctx->client, "POST", "/containers/prune", q.data, NULL, &out, &err);
    buf_release(&q);
    if (rc < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    {
        json_t *del = json_object_get(out, "ContainersDeleted");
        char size[32];
        size_t i;
        json_t *v;
        if (json_array_size(del)) {
            printf("Deleted Containers:\n");
            CLI_JSON_ARRAY_EACH(del, i, v)
            printf("%s\n", json_string_value(v));
            printf("\n");
        }
        cli_human_size((double)json_integer_value(json_object_get(out, "SpaceReclaimed")), size,
                       sizeof(size));
        printf("Total reclaimed space: %s\n", size);
    }
    json_decref(out);
    return 0;
}

/* docker's binary sizes for memory: "1.5MiB" */
static void bytes_binary(double v, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;

    while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    (void)snprintf(out, len, "%.4g%s", v, units[u]);
}

static int stats_row(struct cli_ctx *ctx, const char *id, struct cli_table *t)
{
    cleanup_free char *path = obj_path("containers", id, "/stats");
    struct err err = {0};
    json_t *s = NULL;
    char sid[13], cpu_s[32], mem_s[64], memp_s[32], net_s[64], pids_s[32], a[24], b[24];
    double cpu = 0, memp = 0, mem, limit, rx = 0, tx = 0;
    const char *k;
    json_t *v;

    if (!path)
        return oom();
    if (cli_call(&ctx->client, "GET", path, "stream=0", NULL, &s, &err) < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    {
        json_t *c = json_object_get(s, "cpu_stats"), *p = json_object_get(s, "precpu_stats");
        double cd = (double)json_integer_value(
                        json_object_get(json_object_get(c, "cpu_usage"), "total_usage")) -
                    (double)json_integer_value(
                        json_object_get(json_object_get(p, "cpu_usage"), "total_usage"));
        double sd = (double)json_integer_value(json_object_get(c, "system_cpu_usage")) -
                    (double)json_integer_value(json_object_get(p, "system_cpu_usage"));
        double n = (double)json_integer_value(json_object_get(c, "online_cpus"));
        if (cd > 0 && sd > 0)
            cpu = cd / sd * (n > 0 ? n : 1) * 100.0;
    }
    {
        json_t *m = json_object_get(s, "memory_stats");
        json_t *st = json_object_get(m, "stats");
        double inactive = (double)json_integer_value(json_object_get(st, "total_inactive_file"));
        if (!json_object_get(st, "total_inactive_file"))
            inactive = (double)json_integer_value(json_object_get(st, "inactive_file"));
        mem = (double)json_integer_value(json_object_get(m, "usage"));
        if (inactive < mem)
            mem -= inactive;
        limit = (double)json_integer_value(json_object_get(m, "limit"));
        if (limit > 0)
            memp = mem / limit * 100.0;
    }
    json_object_foreach(json_object_get(s, "networks"), k, v)
    {
        rx += (double)json_integer_value(json_object_get(v, "rx_bytes"));
        tx += (double)json_integer_value(json_object_get(v, "tx_bytes"));
    }
    cli_short_id(json_string_value(json_object_get(s, "id")) ?: id, sid);
    (void)snprintf(cpu_s, sizeof(cpu_s), "%.2f%%", cpu);
    bytes_binary(mem, a, sizeof(a));
    bytes_binary(limit, b, sizeof(b));
    (void)snprintf(mem_s, sizeof(mem_s), "%s / %s", a, b);
    (void)snprintf(memp_s, sizeof(memp_s), "%.2f%%", memp);
    cli_human_size(rx, a, sizeof(a));
    cli_human_size(tx, b, sizeof(b));
    (void)snprintf(net_s, sizeof(net_s), "%s / %s", a, b);
    (void)snprintf(pids_s, sizeof(pids_s), "%lld",
                   (long long)json_integer_value(
                       json_object_get(json_object_get(s, "pids_stats"), "current")));
    {
        const char *name = json_string_value(json_object_get(s, "name")) ?: "";
        const char *row[] = {
            sid, name[0] == '/' ? name + 1 : name, cpu_s, mem_s, memp_s, net_s, "0B / 0B", pids_s};
        (void)cli_table_add(t, row);
    }
    json_decref(s);
    return 0;
}

int cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
    bool no_stream = false, all = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("all", 'a', &all, "Show all containers (default shows just running)"),
        CLI_BOOL_FLAG("no-stream", 0, &no_stream,
                      "Disable streaming stats and only pull the first result"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"stats",
                                      "[OPTIONS] [CONTAINER...]",
                                      "Display a live stream of container(s) resource usage "
                                      "statistics",
                                      flags,
                                      false,
                                      0,
                                      -1};
    struct cli_strv args;
    struct err err = {0};
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (;;) {
        struct cli_table t;
        struct buf out;
        json_t *list = NULL;
        static const char *const hdr[] = {"CONTAINER ID",      "NAME",  "CPU %",
                                          "MEM USAGE / LIMIT", "MEM %", "NET I/O",
                                          "BLOCK I/O",         "PIDS"};

        cli_table_init(&t, 8);
        (void)cli_table_add(&t, hdr);
        rc = 0;
        if (args.n) {
            for (size_t i = 0; i < args.n; i++)
                rc |= stats_row(ctx, args.v[i], &t);
        } else {
            size_t i;
            json_t *v;
            if (cli_call(&ctx->client, "GET", "/containers/json", all ? "all=1" : NULL, NULL, &list,
                         &err) < 0) {
                cli_print_err(ctx, &err);
                cli_table_release(&t);
                cli_strv_release(&args);
                return 1;
            }
            CLI_JSON_ARRAY_EACH(list, i, v)
            rc |= stats_row(ctx, json_string_value(json_object_get(v, "Id")), &t);
            json_decref(list);
        }
        buf_init(&out);
        (void)cli_table_render(&t, &out);
        if (!no_stream)
            printf("\033[2J\033[H");
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        fflush(stdout);
        buf_release(&out);
        cli_table_release(&t);
        if (no_stream || rc)
            break;
    }
    cli_strv_release(&args);
    return rc ? 1 : 0;
}

struct events_out {
    struct buf line;
};

static void print_event(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *ev = json_loadb(text, len, 0, &jerr);
    json_t *attrs;
    char ts[40];
    const char *k;
    json_t *v;
    bool first = true;

    if (!ev)
        return;
    time_fmt_rfc3339(json_integer_value(json_object_get(ev, "timeNano")), ts);
    printf("%s %s %s %s", ts, json_string_value(json_object_get(ev, "Type")) ?: "",
           json_string_value(json_object_get(ev, "Action")) ?: "",
           json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID")) ?: "");
    attrs = json_object_get(json_object_get(ev, "Actor"), "Attributes");
    if (json_object_size(attrs)) {
        printf(" (");
        json_object_foreach(attrs, k, v)
        {
            printf("%s%s=%s", first ? "" : ", ", k, json_string_value(v) ?: "");
            first = false;
        }
        printf(")");
    }
    printf("\n");
    fflush(stdout);
    json_decref(ev);
}

static int events_body(void *ctx, const char *data, size_t len)
{
    struct events_out *eo = ctx;
    char *nl;

    if (buf_append(&eo->line, data, len) < 0)
        return -ENOMEM;
    while (eo->line.len && (nl = memchr(eo->line.data, '\n', eo->line.len))) {
        size_t n = (size_t)(nl - eo->line.data);
        print_event(eo->line.data, n);
        buf_consume(&eo->line, n + 1);
    }
    return 0;
}

int cli_cmd_events(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *since = NULL, *until = NULL;
    CLEANUP(strv_releasep) struct cli_strv filters = {0};
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("since", 0, &since, "Show all events created since timestamp"),
        CLI_STRING_FLAG("until", 0, &until, "Stream events until this timestamp"),
        CLI_FLAG_FILTER(&filters),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "events", "[OPTIONS]", "Get real time events from the server", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    struct events_out eo;
    CLEANUP(cli_conn_freep) struct cli_conn *conn = NULL;
    struct cli_resp resp;
    cleanup_free char *fj = NULL;
    char ts[64];
    int64_t now = (int64_t)time(NULL);
    struct buf q;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    buf_init(&q);
    if (since) {
        if (cli_parse_timestamp(since, now, ts, sizeof(ts)) < 0) {
            fprintf(stderr, "shoal: invalid value for \"since\": \"%s\"\n", since);
            return 125;
        }
        (void)cli_query_add(&q, "since", ts);
    }
    if (until) {
        if (cli_parse_timestamp(until, now, ts, sizeof(ts)) < 0) {
            fprintf(stderr, "shoal: invalid value for \"until\": \"%s\"\n", until);
            return 125;
        }
        (void)cli_query_add(&q, "until", ts);
    }
    if (filters.n) {
        if (filters_json(&filters, &fj, &err) < 0) {
            cli_print_err(ctx, &err);
            return 125;
        }
        (void)cli_query_add(&q, "filters", fj);
    }
    struct cli_req req = {.method = "GET", .path = "/events", .query = q.data, .body_fd = -1};
    cli_resp_init(&resp);
    buf_init(&eo.line);
    rc = cli_conn_open(&ctx->client, &conn, &err);
    if (rc == 0)
        rc = cli_conn_send(conn, &req, &err);
    if (rc == 0)
        rc = cli_conn_read_head(conn, &resp, &err);
    if (rc == 0 && resp.status >= 400) {
        (void)cli_conn_read_body(conn, NULL, NULL, &err);
        rc = cli_resp_error(&resp, &req, &err);
    } else if (rc == 0) {
        struct buf *pend = cli_conn_pending(conn);
        if (pend->len) {
            rc = events_body(&eo, pend->data, pend->len);
            buf_consume(pend, pend->len);
        }
        if (rc == 0)
            rc = cli_conn_read_body(conn, events_body, &eo, &err);
    }
    buf_release(&q);
    buf_release(&eo.line);
    cli_resp_release(&resp);
    if (rc < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    return 0;
}
