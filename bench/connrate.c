/*
 * bench/connrate.c - TCP connections per second against an HTTP server.
 *
 * THREADS threads each loop until SECONDS have passed: connect to HOST:PORT,
 * send "GET / HTTP/1.0", read the answer to EOF, close with an RST (SO_LINGER
 * 0, so the client leaves no TIME_WAIT behind and never runs out of ports).
 * A connection counts when it was answered and the server closed it.
 * Prints one line: "conns N errors E seconds S rate R".
 *
 * "connrate serve PORT" is the matching server: one thread, accept, read the
 * request, answer, close; no fork per connection (unlike busybox httpd), so
 * what is measured is the path to it more than the server.
 *
 * Built by bench/net.sh (static, so it runs in the busybox image too):
 *   cc -O2 -static -pthread bench/connrate.c -o connrate
 * Usage: connrate HOST PORT SECONDS THREADS | connrate serve PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target;
static double deadline;
static atomic_long n_ok;
static atomic_long n_err;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_request(void)
{
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    char buf[4096];
    size_t got = 0;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = 0;

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0)
        goto out;
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        goto out;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    ok = got > 0;
out:
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    (void)close(fd);
    return ok ? 0 : -1;
}

static void *worker(void *arg)
{
    (void)arg;
    while (now_s() < deadline) {
        if (one_request() == 0)
            atomic_fetch_add(&n_ok, 1);
        else
            atomic_fetch_add(&n_err, 1);
    }
    return NULL;
}

static int serve(int port)
{
    static const char resp[] = "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
        perror("connrate serve");
        return 1;
    }
    for (;;) {
        char buf[2048];
        size_t got = 0;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
            continue;
        /* the request ends with an empty line */
        while (got < sizeof(buf) - 1) {
            ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        if (got > 0)
            (void)!write(fd, resp, sizeof(resp) - 1);
        (void)close(fd);
    }
}

int main(int argc, char **argv)
{
    pthread_t th[64];
    double secs, t0, t1;
    int threads;

    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(atoi(argv[2]));
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT SECONDS THREADS | %s serve PORT\n", argv[0], argv[0]);
        return 2;
    }
    memset(&target, 0, sizeof(target));
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) {
        fprintf(stderr, "connrate: bad address %s\n", argv[1]);
        return 2;
    }
    secs = atof(argv[3]);
    threads = atoi(argv[4]);
    if (secs <= 0 || threads < 1 || threads > 64) {
        fprintf(stderr, "connrate: bad SECONDS or THREADS\n");
        return 2;
    }
    t0 = now_s();
    deadline = t0 + secs;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "connrate: pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    t1 = now_s();
    printf("conns %ld errors %ld seconds %.2f rate %.0f\n", atomic_load(&n_ok), atomic_load(&n_err),
           t1 - t0, (double)atomic_load(&n_ok) / (t1 - t0));
    return atomic_load(&n_ok) > 0 ? 0 : 1;
}
