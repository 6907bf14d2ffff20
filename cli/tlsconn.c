/*
 * cli/tlsconn.c - TCP and TCP+TLS transports of the shoal CLI.
 *
 * The rest of the client works on one plain, blocking socket fd (poll,
 * shutdown(SHUT_WR) for half-close, hijacked streams). For TLS we keep it
 * that way: after a blocking handshake a detached thread pumps bytes between
 * the TLS connection and one end of a socketpair; the caller gets the other
 * end. A half-close of the caller (SHUT_WR) becomes a TLS close_notify, the
 * server's close_notify or EOF becomes EOF on the socketpair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/macros.h"

#include "cli/cli.h"

#define PUMP_CHUNK (16 * 1024)

struct pump {
    SSL *ssl;
    SSL_CTX *ctx;
    int net;           /* TCP socket, non-blocking */
    int app;           /* our end of the socketpair, blocking */
    struct pump *next; /* g_pumps while the thread runs */
};

/* Running pump threads: at exit they are woken (their TCP socket shut down)
 * and waited for, so no thread is cut off holding OpenSSL state. */
static pthread_mutex_t g_pump_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pump_done = PTHREAD_COND_INITIALIZER;
static struct pump *g_pumps;
static int g_running; /* threads not yet done with OpenSSL */
static bool g_atexit_set;

static void pumps_stop(void)
{
    struct timespec until;

    (void)clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    (void)pthread_mutex_lock(&g_pump_lock);
    for (struct pump *q = g_pumps; q; q = q->next) {
        (void)shutdown(q->net, SHUT_RDWR);
        (void)shutdown(q->app, SHUT_RDWR);
    }
    while (g_running > 0)
        if (pthread_cond_timedwait(&g_pump_done, &g_pump_lock, &until) != 0)
            break;
    (void)pthread_mutex_unlock(&g_pump_lock);
}

static void pump_register(struct pump *p)
{
    (void)pthread_mutex_lock(&g_pump_lock);
    if (!g_atexit_set)
        g_atexit_set = atexit(pumps_stop) == 0;
    p->next = g_pumps;
    g_pumps = p;
    g_running++;
    (void)pthread_mutex_unlock(&g_pump_lock);
}

static void pump_unregister(struct pump *p)
{
    (void)pthread_mutex_lock(&g_pump_lock);
    for (struct pump **pp = &g_pumps; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    (void)pthread_mutex_unlock(&g_pump_lock);
}

/* The last thing a pump thread does with OpenSSL is done. */
static void pump_finished(void)
{
    (void)pthread_mutex_lock(&g_pump_lock);
    g_running--;
    (void)pthread_cond_broadcast(&g_pump_done);
    (void)pthread_mutex_unlock(&g_pump_lock);
}

static const char *ssl_errmsg(char *out, size_t outlen)
{
    unsigned long e = ERR_get_error();

    if (!e)
        (void)snprintf(out, outlen, "connection closed during the TLS handshake");
    else
        ERR_error_string_n(e, out, outlen);
    ERR_clear_error();
    return out;
}

/* Split "host:port" ("[v6]:port"). */
static int split_hostport(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hl;

    if (!colon || colon == addr || !colon[1])
        return -EINVAL;
    hl = (size_t)(colon - addr);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    (void)snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

int cli_tcp_connect(const char *addr, int *ret_fd, struct err *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char host[256], port[16];
    int fd = -1, e = ECONNREFUSED, one = 1;

    if (split_hostport(addr, host, sizeof(host), port, sizeof(port)) < 0)
        return err_set(err, -EINVAL, "invalid TCP address '%s' (want host:port)", addr);
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return err_set(err, -EHOSTUNREACH, "cannot resolve %s", host);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        (void)close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -e;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *ret_fd = fd;
    return 0;
}

static void pump_free(struct pump *p)
{
    if (p->ssl)
        SSL_free(p->ssl);
    if (p->ctx)
        SSL_CTX_free(p->ctx);
    if (p->net >= 0)
        (void)close(p->net);
    if (p->app >= 0)
        (void)close(p->app);
    free(p);
}

static int write_app(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* SSL_write the whole buffer on the non-blocking socket. */
static int write_net(struct pump *p, const char *data, size_t len)
{
    while (len > 0) {
        int n = SSL_write(p->ssl, data, (int)len);
        struct pollfd pfd = {.fd = p->net};

        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        switch (SSL_get_error(p->ssl, n)) {
        case SSL_ERROR_WANT_WRITE:
            pfd.events = POLLOUT;
            break;
        case SSL_ERROR_WANT_READ:
            pfd.events = POLLIN;
            break;
        default:
            return -EIO;
        }
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* Drain what TLS can give now; 1 at the end of the server's stream. */
static int read_net(struct pump *p)
{
    char buf[PUMP_CHUNK];

    for (;;) {
        int n = SSL_read(p->ssl, buf, sizeof(buf));

        if (n > 0) {
            if (write_app(p->app, buf, (size_t)n) < 0)
                return -EPIPE;
            continue;
        }
        switch (SSL_get_error(p->ssl, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return 0;
        case SSL_ERROR_ZERO_RETURN:
            return 1;
        default:
            ERR_clear_error();
            return 1; /* reset or truncated: the stream ends here */
        }
    }
}

static void *pump_main(void *arg)
{
    struct pump *p = arg;
    bool net_eof = false, app_eof = false;
    char buf[PUMP_CHUNK];

    while (!net_eof || !app_eof) {
        struct pollfd pfd[2] = {{.fd = net_eof ? -1 : p->net, .events = POLLIN},
                                {.fd = app_eof ? -1 : p->app, .events = POLLIN}};
        int r;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents) {
            r = read_net(p);
            if (r < 0)
                break; /* the caller closed its end */
            if (r == 1) {
                net_eof = true;
                (void)shutdown(p->app, SHUT_WR);
            }
        }
        if (pfd[1].revents) {
            ssize_t n = read(p->app, buf, sizeof(buf));

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                app_eof = true;
                (void)SSL_shutdown(p->ssl); /* close_notify: the client's half-close */
                if (n < 0)
                    break;
            } else if (write_net(p, buf, (size_t)n) < 0) {
                break;
            }
        }
    }
    pump_unregister(p);
    pump_free(p);
    OPENSSL_thread_stop(); /* this thread's error queue */
    pump_finished();
    return NULL;
}

static int handshake(struct pump *p, struct err *err)
{
    char msg[256];

    for (;;) {
        int r = SSL_connect(p->ssl);
        struct pollfd pfd = {.fd = p->net};

        if (r == 1)
            return 0;
        switch (SSL_get_error(p->ssl, r)) {
        case SSL_ERROR_WANT_READ:
            pfd.events = POLLIN;
            break;
        case SSL_ERROR_WANT_WRITE:
            pfd.events = POLLOUT;
            break;
        default: {
            long v = SSL_get_verify_result(p->ssl);
            if (v != X509_V_OK)
                return err_set(err, -EPROTO, "TLS: server certificate: %s",
                               X509_verify_cert_error_string(v));
            return err_set(err, -EPROTO, "TLS handshake: %s", ssl_errmsg(msg, sizeof(msg)));
        }
        }
        if (poll(&pfd, 1, 30000) <= 0)
            return err_set(err, -ETIMEDOUT, "TLS handshake timed out");
    }
}

int cli_tls_connect(const char *addr, const struct cli_tls_opts *o, int *ret_fd, struct err *err)
{
    struct pump *p;
    char host[256], port[16], msg[256];
    int sp[2];
    pthread_t th;
    pthread_attr_t attr;
    struct in6_addr ip;
    int r, fl;

    if (split_hostport(addr, host, sizeof(host), port, sizeof(port)) < 0)
        return err_set(err, -EINVAL, "invalid TCP address '%s' (want host:port)", addr);
    p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(err, -ENOMEM, "out of memory");
    p->net = p->app = -1;
    p->ctx = SSL_CTX_new(TLS_client_method());
    if (!p->ctx) {
        pump_free(p);
        return err_set(err, -ENOMEM, "TLS: %s", ssl_errmsg(msg, sizeof(msg)));
    }
    SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
    if (o->verify) {
        if (!o->ca || SSL_CTX_load_verify_locations(p->ctx, o->ca, NULL) != 1) {
            r = err_set(err, -EINVAL, "TLS: cannot load the CA %s: %s", o->ca ? o->ca : "(none)",
                        ssl_errmsg(msg, sizeof(msg)));
            pump_free(p);
            return r;
        }
        SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
    }
    if (o->cert && o->key && access(o->cert, R_OK) == 0) {
        if (SSL_CTX_use_certificate_chain_file(p->ctx, o->cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(p->ctx, o->key, SSL_FILETYPE_PEM) != 1) {
            r = err_set(err, -EINVAL, "TLS: cannot load the client certificate %s / key %s: %s",
                        o->cert, o->key, ssl_errmsg(msg, sizeof(msg)));
            pump_free(p);
            return r;
        }
    }
    r = cli_tcp_connect(addr, &p->net, err);
    if (r < 0) {
        pump_free(p);
        return r;
    }
    fl = fcntl(p->net, F_GETFL);
    (void)fcntl(p->net, F_SETFL, fl | O_NONBLOCK);
    p->ssl = SSL_new(p->ctx);
    if (!p->ssl || SSL_set_fd(p->ssl, p->net) != 1) {
        pump_free(p);
        return err_set(err, -ENOMEM, "TLS: %s", ssl_errmsg(msg, sizeof(msg)));
    }
    if (o->verify) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(p->ssl);
        if (inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1)
            r = X509_VERIFY_PARAM_set1_ip_asc(vp, host);
        else
            r = X509_VERIFY_PARAM_set1_host(vp, host, 0);
        if (r != 1) {
            pump_free(p);
            return err_set(err, -EINVAL, "TLS: bad server name %s", host);
        }
    }
    if (inet_pton(AF_INET, host, &ip) != 1 && inet_pton(AF_INET6, host, &ip) != 1)
        (void)SSL_set_tlsext_host_name(p->ssl, host);
    r = handshake(p, err);
    if (r < 0) {
        pump_free(p);
        return r;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        r = err_set(err, -errno, "socketpair: %m");
        pump_free(p);
        return r;
    }
    p->app = sp[1];
    (void)pthread_attr_init(&attr);
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pump_register(p);
    r = pthread_create(&th, &attr, pump_main, p);
    (void)pthread_attr_destroy(&attr);
    if (r != 0) {
        pump_unregister(p);
        pump_finished();
        (void)close(sp[0]);
        pump_free(p);
        return err_set(err, -r, "cannot start the TLS thread");
    }
    *ret_fd = sp[0];
    return 0;
}
