/* Unit tests for cli/client.c against a scripted fake daemon on a Unix socket
 * (a forked child): requests on the wire, Content-Length and chunked replies
 * split across reads, error replies, 101 upgrades with stream bytes in the
 * same read, chunked request bodies and connection errors. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"

#include "cli/cli.h"

struct fixture {
    char dir[64];
    char sock[100];
    char host[160];
    int lfd;
    pid_t child;
    struct cli_client cli;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_cli_clientXXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    (void)snprintf(f->sock, sizeof(f->sock), "%s/s.sock", f->dir);
    (void)snprintf(f->host, sizeof(f->host), "unix://%s", f->sock);
    (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(f->lfd, 8) < 0 || cli_client_init(&f->cli, f->host, NULL) < 0) {
        if (f->lfd >= 0)
            close(f->lfd);
        unlink(f->sock);
        rmdir(f->dir);
        free(f);
        return -1;
    }
    f->child = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->child > 0) {
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    close(f->lfd);
    unlink(f->sock);
    rmdir(f->dir);
    cli_client_release(&f->cli);
    free(f);
    return 0;
}

/* Read one request (headers + Content-Length or chunked body) into b. */
static void read_request(int fd, struct buf *b)
{
    char c[4096];

    for (;;) {
        char *end = b->data ? strstr(b->data, "\r\n\r\n") : NULL;

        if (end) {
            const char *cl = strstr(b->data, "Content-Length: ");
            size_t head = (size_t)(end - b->data) + 4;

            if (strstr(b->data, "Transfer-Encoding: chunked")) {
                if (strstr(end + 4, "0\r\n\r\n"))
                    return;
            } else if (!cl || b->len >= head + strtoul(cl + 16, NULL, 10)) {
                return;
            }
        }
        ssize_t n = read(fd, c, sizeof(c));
        if (n <= 0)
            return;
        buf_append(b, c, (size_t)n);
    }
}

/* Child: accept one connection, read the request, send the pieces with
 * pauses between them (so the client sees separate reads). "@ECHO@" in a
 * piece is replaced by a Content-Length response carrying the request. */
struct piece {
    const char *data;
    size_t len;
};
#define P(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
#define P_END                                                                                      \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

static void serve(struct fixture *f, const struct piece *pieces)
{
    f->child = fork();
    assert_true(f->child >= 0);
    if (f->child > 0)
        return;
    int c = accept(f->lfd, NULL, NULL);
    struct buf req;

    buf_init(&req);
    read_request(c, &req);
    for (size_t i = 0; pieces[i].data; i++) {
        if (strcmp(pieces[i].data, "@ECHO@") == 0) {
            char head[128];
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             "%zu\r\n\r\n",
                             req.len);
            (void)!write(c, head, (size_t)n);
            (void)!write(c, req.data, req.len);
        } else {
            (void)!write(c, pieces[i].data, pieces[i].len);
        }
        usleep(20000);
    }
    /* keep the connection open a little: the client must stop on its own */
    usleep(100000);
    _exit(0);
}

static void reap(struct fixture *f)
{
    waitpid(f->child, NULL, 0);
    f->child = -1;
}

static void test_call_json(void **state)
{
    struct fixture *f = *state;
    const struct piece pieces[] = {
        P("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
          "Content-Length: 13\r\n\r\n{\"Id\":"),
        P("\"abc\"}\n"), P_END};
    json_t *j = NULL;
    struct err err;

    serve(f, pieces);
    assert_int_equal(cli_call(&f->cli, "GET", "/containers/x/json", NULL, NULL, &j, &err), 0);
    assert_string_equal(json_string_value(json_object_get(j, "Id")), "abc");
    json_decref(j);
    reap(f);
}

static void test_chunked_split(void **state)
{
    struct fixture *f = *state;
    const struct piece pieces[] = {P("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"),
                                   P("5\r\n[1, 2"),
                                   P("\r\n"),
                                   P("3\r\n, 3\r"),
                                   P("\n2\r\n]\n\r\n0\r\n"),
                                   P("\r\n"),
                                   P_END};
    json_t *j = NULL;
    struct err err;

    serve(f, pieces);
    assert_int_equal(cli_call(&f->cli, "GET", "/containers/json", "all=1", NULL, &j, &err), 0);
    assert_int_equal(json_array_size(j), 3);
    assert_int_equal(json_integer_value(json_array_get(j, 2)), 3);
    json_decref(j);
    reap(f);
}

static void test_request_on_wire(void **state)
{
    struct fixture *f = *state;
    const struct piece pieces[] = {P("@ECHO@"), P_END};
    struct cli_req req = {.method = "POST",
                          .path = "/containers/create",
                          .query = "name=x",
                          .content_type = "application/json",
                          .body = "{}",
                          .body_len = 2,
                          .body_fd = -1};
    struct cli_resp resp;
    struct err err;

    serve(f, pieces);
    cli_resp_init(&resp);
    assert_int_equal(cli_request(&f->cli, &req, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.body.data);
    assert_true(strncmp(resp.body.data, "POST /v1.41/containers/create?name=x HTTP/1.1\r\n", 47) ==
                0);
    assert_non_null(strstr(resp.body.data, "\r\nHost: shoal\r\n"));
    assert_non_null(strstr(resp.body.data, "\r\nUser-Agent: shoal/" CLI_VERSION));
    assert_non_null(strstr(resp.body.data, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(resp.body.data, "\r\nContent-Length: 2\r\n\r\n{}"));
    cli_resp_release(&resp);
    reap(f);
}

static void test_chunked_request_body(void **state)
{
    struct fixture *f = *state;
    const struct piece pieces[] = {P("@ECHO@"), P_END};
    int p[2];
    struct cli_req req = {.method = "POST",
                          .path = "/images/create",
                          .query = "fromSrc=-",
                          .content_type = "text/plain"};
    struct cli_resp resp;
    struct err err;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "hello", 5), 5);
    close(p[1]);
    req.body_fd = p[0];
    serve(f, pieces);
    cli_resp_init(&resp);
    assert_int_equal(cli_request(&f->cli, &req, &resp, &err), 0);
    close(p[0]);
    assert_non_null(strstr(resp.body.data, "\r\nTransfer-Encoding: chunked\r\n"));
    assert_null(strstr(resp.body.data, "Content-Length"));
    assert_non_null(strstr(resp.body.data, "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    cli_resp_release(&resp);
    reap(f);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    const struct piece json404[] = {
        P("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 45\r\n\r\n"
          "{\"message\":\"No such container: ref-missing\"}\n"),
        P_END};
    const struct piece text500[] = {
        P("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 5\r\n\r\nboom\n"),
        P_END};
    const struct piece empty404[] = {P("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                                     P_END};
    struct err err;

    serve(f, json404);
    assert_int_equal(cli_call(&f->cli, "DELETE", "/containers/ref-missing", NULL, NULL, NULL, &err),
                     -ENOENT);
    assert_string_equal(err.msg, "Error response from daemon: No such container: ref-missing");
    reap(f);
    serve(f, text500);
    assert_int_equal(cli_call(&f->cli, "GET", "/info", NULL, NULL, NULL, &err), -EIO);
    assert_string_equal(err.msg, "Error response from daemon: boom");
    reap(f);
    serve(f, empty404);
    assert_int_equal(cli_call(&f->cli, "GET", "/nodes", NULL, NULL, NULL, &err), -ENOENT);
    assert_string_equal(err.msg, "request returned 404 Not Found for API route and version "
                                 "/v1.41/nodes, check if the server supports the requested API "
                                 "version");
    reap(f);
}

static void test_upgrade(void **state)
{
    struct fixture *f = *state;
    /* the first stream bytes arrive in the same read as the 101 headers */
    const struct piece pieces[] = {P("HTTP/1.1 101 UPGRADED\r\nContent-Type: "
                                     "application/vnd.docker.raw-stream\r\nConnection: "
                                     "Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00"),
                                   P("\x00\x00\x00\x00\x03"
                                     "abc"),
                                   P_END};
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    struct cli_req req = {.method = "POST",
                          .path = "/containers/x/attach",
                          .query = "stderr=1&stdout=1&stream=1",
                          .body_fd = -1,
                          .upgrade = true};
    struct cli_resp resp;
    struct err err;
    struct buf all;
    char data[64];
    ssize_t n;

    serve(f, pieces);
    cli_resp_init(&resp);
    buf_init(&all);
    assert_int_equal(cli_conn_open(&f->cli, &c, &err), 0);
    assert_int_equal(cli_conn_send(c, &req, &err), 0);
    assert_int_equal(cli_conn_read_head(c, &resp, &err), 0);
    assert_int_equal(resp.status, 101);
    assert_int_equal(cli_conn_pending(c)->len, 3);
    assert_memory_equal(cli_conn_pending(c)->data, "\x01\x00\x00", 3);
    buf_append(&all, cli_conn_pending(c)->data, 3);
    while ((n = read(cli_conn_fd(c), data, sizeof(data))) > 0)
        buf_append(&all, data, (size_t)n);
    assert_int_equal(all.len, 11);
    assert_memory_equal(all.data + 8, "abc", 3);
    buf_release(&all);
    cli_resp_release(&resp);
    reap(f);
}

static void test_wait_headers_first(void **state)
{
    struct fixture *f = *state;
    /* long poll: headers now, body later */
    const struct piece pieces[] = {P("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"),
                                   P("1d\r\n{\"Error\":null,\"StatusCode\":3}\r\n"), P("0\r\n\r\n"),
                                   P_END};
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    struct cli_req req = {.method = "POST",
                          .path = "/containers/x/wait",
                          .query = "condition=next-exit",
                          .body_fd = -1};
    struct cli_resp resp;
    struct err err;

    serve(f, pieces);
    cli_resp_init(&resp);
    assert_int_equal(cli_conn_open(&f->cli, &c, &err), 0);
    assert_int_equal(cli_conn_send(c, &req, &err), 0);
    assert_int_equal(cli_conn_read_head(c, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);
    assert_int_equal(cli_conn_read_body(c, NULL, NULL, &err), 0);
    assert_string_equal(resp.body.data, "{\"Error\":null,\"StatusCode\":3}");
    cli_resp_release(&resp);
    reap(f);
}

static void test_connect_errors(void **state)
{
    struct cli_client cli;
    struct err err;
    json_t *j = NULL;

    (void)state;
    assert_int_equal(cli_client_init(&cli, "unix:///nonexistent/shoal.sock", &err), 0);
    assert_int_equal(cli_call(&cli, "GET", "/_ping", NULL, NULL, &j, &err), -ENOENT);
    assert_true(cli.connect_failed);
    assert_string_equal(err.msg, "cannot connect to the shoal daemon at "
                                 "unix:///nonexistent/shoal.sock: no such file or directory. Is "
                                 "shoald running?");
    cli_client_release(&cli);
    assert_true(cli_client_init(&cli, "ssh://host", &err) < 0);
    assert_true(cli_client_init(&cli, "tcp://nohostport", &err) < 0);
    /* tcp:// is supported (plain or TLS); nothing listens on port 1 */
    assert_int_equal(cli_client_init(&cli, "tcp://127.0.0.1:1", &err), 0);
    assert_int_equal(cli_call(&cli, "GET", "/_ping", NULL, NULL, &j, &err), -ECONNREFUSED);
    assert_true(cli.connect_failed);
    cli_client_release(&cli);
    assert_int_equal(cli_client_init(&cli, NULL, &err), 0);
    assert_string_equal(cli.host, CLI_DEFAULT_HOST);
    assert_string_equal(cli.sock_path, "/run/shoal/shoal.sock");
    cli_client_release(&cli);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_on_wire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_request_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_headers_first, setup, teardown),
        cmocka_unit_test(test_connect_errors),
    };

    (void)signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
