/*
 * bench/httpload.c - a small HTTP/1.1 load generator for replicated writes.
 *
 * One thread, epoll, N keep-alive connections; each connection runs its
 * request sequence back to back, so N is the number of writes in flight.
 * Replaces the python client of bench/raft-vs-etcd.sh, which took much of the
 * machine's 2 cores itself.
 *
 *   httpload shoal unix:SOCK|HOST:PORT IDS COUNT INFLIGHT
 *       Engine API node label update, connection k owns node k of the
 *       comma-separated IDS: GET /v1.41/nodes/ID (Version.Index and Spec, as
 *       `docker node update` does), then POST /v1.41/nodes/ID/update?version=V
 *       with the spec and label bench=<i>. The POST is timed (the replicated
 *       commit); the rate counts whole writes.
 *   httpload etcd unix:SOCK|HOST:PORT COUNT INFLIGHT
 *       etcd v3 JSON gateway: POST /v3/kv/put of key k<conn>, timed.
 *
 * Prints one JSON line: writes, conflicts, errors, seconds, rate, p50_ms,
 * p99_ms (and last_error when there was one). Exit status 1 on errors.
 * Build: cc -O2 -o httpload bench/httpload.c $(pkg-config --cflags --libs jansson)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum mode { M_SHOAL, M_ETCD };
enum step { S_GET, S_POST };

struct conn {
    int fd;
    int k;            /* writer number */
    const char *node; /* shoal: the node this writer owns */
    long todo, done;  /* writes to do / done */
    enum step step;
    double t0; /* start of the timed request */
    char *out; /* pending request bytes */
    size_t out_len, out_off;
    char *in; /* response bytes */
    size_t in_len, in_cap;
};

static enum mode mode;
static const char *target;
static int epfd;
static double *lat;
static size_t nlat;
static long conflicts, errors;
static char last_error[256];
static int live;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "httpload: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int dial(void)
{
    int fd, one = 1;

    if (strncmp(target, "unix:", 5) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", target + 5);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            die(target);
    } else {
        char host[256];
        const char *colon = strrchr(target, ':');
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
        if (!colon || (size_t)(colon - target) >= sizeof(host)) {
            fprintf(stderr, "httpload: bad target %s\n", target);
            exit(2);
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - target), target);
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
            fprintf(stderr, "httpload: cannot resolve %s\n", target);
            exit(2);
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
            die(target);
        freeaddrinfo(ai);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void set_events(struct conn *c, uint32_t ev, int op)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(epfd, op, c->fd, &e) < 0)
        die("epoll_ctl");
}

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_error(const char *fmt, ...)
{
    va_list ap;
    errors++;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

/* Queue a request and try to write it now. */
static void send_req(struct conn *c, const char *method, const char *path, const char *body)
{
    size_t blen = body ? strlen(body) : 0;
    char *req;
    int n;

    if (body)
        n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, blen, body);
    else
        n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: bench\r\n\r\n", method, path);
    if (n < 0)
        die("asprintf");
    free(c->out);
    c->out = req;
    c->out_len = (size_t)n;
    c->out_off = 0;
    c->in_len = 0;
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && errno == EAGAIN) {
            set_events(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            return;
        }
        if (w < 0)
            die("write");
        c->out_off += (size_t)w;
    }
}

static void next_request(struct conn *c)
{
    char path[512];

    if (c->done >= c->todo || errors > 50) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        live--;
        return;
    }
    if (mode == M_ETCD) {
        char body[256], key[64], val[64];
        /* base64 of short ASCII: let jansson-free code do it by hand */
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char raw[2][32];
        char *outs[2] = {key, val};
        snprintf(raw[0], sizeof(raw[0]), "k%d", c->k);
        snprintf(raw[1], sizeof(raw[1]), "%ld", c->done);
        for (int j = 0; j < 2; j++) {
            const unsigned char *s = (const unsigned char *)raw[j];
            size_t len = strlen(raw[j]), o = 0;
            for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16;
                if (i + 1 < len)
                    v |= (uint32_t)s[i + 1] << 8;
                if (i + 2 < len)
                    v |= s[i + 2];
                outs[j][o++] = b64[(v >> 18) & 63];
                outs[j][o++] = b64[(v >> 12) & 63];
                outs[j][o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
                outs[j][o++] = i + 2 < len ? b64[v & 63] : '=';
            }
            outs[j][o] = '\0';
        }
        snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", key, val);
        c->step = S_POST;
        c->t0 = now();
        send_req(c, "POST", "/v3/kv/put", body);
        return;
    }
    snprintf(path, sizeof(path), "/v1.41/nodes/%s", c->node);
    c->step = S_GET;
    send_req(c, "GET", path, NULL);
}

/* p at '{': the end of that JSON object (after its '}'), or NULL. */
static const char *obj_end(const char *p, const char *end)
{
    int depth = 0;
    bool str = false;

    for (; p < end; p++) {
        if (str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                str = false;
        } else if (*p == '"') {
            str = true;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

/* A complete response is in c->in: status, body. */
static void on_response(struct conn *c, int status, const char *body, size_t blen)
{
    if (c->step == S_GET) {
        const char *end = body + blen, *spec, *spec_end, *lab, *lab_end, *v;
        char path[512], out[4096];
        long long version;
        int n;

        if (status != 200) {
            note_error("GET %d %.200s", status, body);
            next_request(c);
            return;
        }
        /* Version.Index and the Spec object, with Labels replaced by
         * {"bench":"<i>"} (these nodes have no other label). Scanned, not
         * parsed: a jansson parse and dump of the whole node took a fifth of
         * the machine at 64 in flight, CPU the daemons then did not get. */
        v = memmem(body, blen, "\"Version\":{\"Index\":", 19);
        spec = memmem(body, blen, "\"Spec\":{", 8);
        spec_end = spec ? obj_end(spec + 7, end) : NULL;
        lab = spec_end ? memmem(spec, (size_t)(spec_end - spec), "\"Labels\":{", 10) : NULL;
        lab_end = lab ? obj_end(lab + 9, spec_end) : NULL;
        if (!v || !lab_end || sscanf(v + 19, "%lld", &version) != 1) {
            note_error("GET: bad node document");
            next_request(c);
            return;
        }
        n = snprintf(out, sizeof(out), "%.*s\"Labels\":{\"bench\":\"%ld\"}%.*s",
                     (int)(lab - (spec + 7)), spec + 7, c->done, (int)(spec_end - lab_end),
                     lab_end);
        if (n < 0 || (size_t)n >= sizeof(out)) {
            note_error("GET: node spec too large");
            next_request(c);
            return;
        }
        snprintf(path, sizeof(path), "/v1.41/nodes/%s/update?version=%lld", c->node, version);
        c->step = S_POST;
        c->t0 = now();
        send_req(c, "POST", path, out);
        return;
    }
    if (status == 200) {
        lat[nlat++] = now() - c->t0;
        c->done++;
    } else if (memmem(body, blen, "out of sequence", 15)) {
        conflicts++;
    } else {
        note_error("%s %d %.200s", mode == M_ETCD ? "PUT" : "POST", status, body);
    }
    next_request(c);
}

/* Parse c->in; returns true when a whole response was consumed. */
static bool try_parse(struct conn *c)
{
    char *hend, *p, *line;
    long clen = -1;
    bool chunked = false;
    int status;
    size_t hlen;

    if (c->in_len == 0)
        return false;
    c->in[c->in_len] = '\0';
    hend = strstr(c->in, "\r\n\r\n");
    if (!hend)
        return false;
    hlen = (size_t)(hend - c->in) + 4;
    if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1) {
        fprintf(stderr, "httpload: bad status line\n");
        exit(2);
    }
    for (line = strstr(c->in, "\r\n") + 2; line < hend; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "content-length:", 15) == 0)
            clen = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strcasestr(line, "chunked") &&
                 strcasestr(line, "chunked") < strstr(line, "\r\n"))
            chunked = true;
    }
    if (chunked) {
        /* de-chunk in place once the terminating chunk is there */
        char *src = c->in + hlen, *dst = src, *end = c->in + c->in_len;
        for (;;) {
            char *eol = memmem(src, (size_t)(end - src), "\r\n", 2);
            unsigned long n;
            if (!eol)
                return false;
            n = strtoul(src, NULL, 16);
            if (n == 0) {
                if (end - (eol + 2) < 2 || memcmp(eol + 2, "\r\n", 2) != 0)
                    return false; /* (no trailers from our servers) */
                break;
            }
            if ((size_t)(end - (eol + 2)) < n + 2)
                return false;
            src = eol + 2 + n + 2;
        }
        /* complete: now copy the data */
        src = c->in + hlen;
        for (;;) {
            char *eol = memmem(src, (size_t)(end - src), "\r\n", 2);
            unsigned long n = strtoul(src, NULL, 16);
            if (n == 0)
                break;
            memmove(dst, eol + 2, n);
            dst += n;
            src = eol + 2 + n + 2;
        }
        *dst = '\0';
        p = c->in + hlen;
        on_response(c, status, p, (size_t)(dst - p));
        return true;
    }
    if (clen < 0)
        clen = 0; /* our servers always send a length or chunks */
    if (c->in_len < hlen + (size_t)clen)
        return false;
    if (c->in_len > hlen + (size_t)clen) {
        fprintf(stderr, "httpload: unexpected extra bytes\n");
        exit(2);
    }
    on_response(c, status, c->in + hlen, (size_t)clen);
    return true;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n;
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 16384;
            c->in = realloc(c->in, c->in_cap + 1);
            if (!c->in)
                die("realloc");
        }
        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            die("read");
        if (n == 0) {
            fprintf(stderr, "httpload: server closed the connection\n");
            exit(2);
        }
        c->in_len += (size_t)n;
        if (try_parse(c))
            return; /* the next request was sent; its response comes later */
    }
}

static void on_writable(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && errno == EAGAIN)
            return;
        if (w < 0)
            die("write");
        c->out_off += (size_t)w;
    }
    set_events(c, EPOLLIN, EPOLL_CTL_MOD);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    size_t i;
    if (nlat == 0)
        return 0;
    i = (size_t)((double)nlat * p / 100.0);
    return lat[i < nlat ? i : nlat - 1];
}

static void usage(void)
{
    fprintf(stderr, "usage: httpload shoal unix:SOCK|HOST:PORT IDS COUNT INFLIGHT\n"
                    "       httpload etcd unix:SOCK|HOST:PORT COUNT INFLIGHT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    char *ids = NULL, *save = NULL, *tok;
    const char **nodes = NULL;
    long count, inflight, nnodes = 0;
    struct conn *conns;
    double t0, secs;

    if (argc < 2)
        usage();
    if (strcmp(argv[1], "shoal") == 0 && argc == 6) {
        mode = M_SHOAL;
        ids = strdup(argv[3]);
        count = atol(argv[4]);
        inflight = atol(argv[5]);
        nodes = calloc(strlen(ids) + 1, sizeof(*nodes));
        for (tok = strtok_r(ids, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            nodes[nnodes++] = tok;
        if (nnodes < inflight) {
            fprintf(stderr, "httpload: need at least %ld node ids, got %ld\n", inflight, nnodes);
            return 2;
        }
    } else if (strcmp(argv[1], "etcd") == 0 && argc == 5) {
        mode = M_ETCD;
        count = atol(argv[3]);
        inflight = atol(argv[4]);
    } else {
        usage();
    }
    target = argv[2];
    if (count <= 0 || inflight <= 0)
        usage();
    /* a port alone means 127.0.0.1 (as the python client took it) */
    if (strspn(target, "0123456789") == strlen(target)) {
        char *t;
        if (asprintf(&t, "127.0.0.1:%s", target) < 0)
            die("asprintf");
        target = t;
    }
    lat = calloc((size_t)count, sizeof(*lat));
    conns = calloc((size_t)inflight, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!lat || !conns || epfd < 0)
        die("setup");
    for (long k = 0; k < inflight; k++) {
        struct conn *c = &conns[k];
        c->k = (int)k;
        c->node = nodes ? nodes[k] : NULL;
        c->todo = count / inflight + (k < count % inflight ? 1 : 0);
        c->fd = dial();
        set_events(c, EPOLLIN, EPOLL_CTL_ADD);
        live++;
    }
    t0 = now();
    for (long k = 0; k < inflight; k++)
        next_request(&conns[k]);
    while (live > 0) {
        struct epoll_event ev[64];
        int n = epoll_wait(epfd, ev, 64, 30000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        if (n == 0) {
            fprintf(stderr, "httpload: no progress for 30 s\n");
            return 2;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c->fd >= 0 && (ev[i].events & EPOLLOUT))
                on_writable(c);
            if (c->fd >= 0 && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(c);
        }
    }
    secs = now() - t0;
    qsort(lat, nlat, sizeof(*lat), cmp_double);
    printf("{\"writes\": %zu, \"conflicts\": %ld, \"errors\": %ld, \"seconds\": %.3f, "
           "\"rate\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f",
           nlat, conflicts, errors, secs, (double)nlat / secs, pct(50) * 1000, pct(99) * 1000);
    if (last_error[0]) {
        json_t *s = json_string(last_error);
        char *js = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        printf(", \"last_error\": %s", js ? js : "\"?\"");
        free(js);
        json_decref(s);
    }
    printf("}\n");
    for (long k = 0; k < inflight; k++) {
        free(conns[k].out);
        free(conns[k].in);
    }
    free(conns);
    free(lat);
    free(nodes);
    free(ids);
    return errors ? 1 : 0;
}
