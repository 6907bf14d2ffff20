/*
 * tests/unit/test_rft.c - a real rft cluster: every node is a forked child
 * process (libraft 0.15 uses global strtok/rand: one instance per process)
 * with its own loop, cluster port (mutual TLS on 127.0.0.1, ephemeral port)
 * and data dir, driven by the test over a socketpair with text commands.
 *
 * Prints (does not assert) commit latency at 1 and 64 in flight and the
 * leader failover time.
 */
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "raft/rft.h"
#include "tests/unit/test_rft_certs.h"

#define MAX_NODES 5

static struct tcert ca, certs[MAX_NODES + 1];
static char tmpdir[64];

/* ======================= child: one rft node ============================= */

struct node {
    uv_loop_t loop;
    uv_pipe_t ctl;
    int ctl_fd;
    int id;
    struct buf in;
    struct rft *r;
    struct rft_port *port;
    struct tls_ctx *srv, *cli;
    /* fsm */
    uint64_t count, hash, last_seq, disorder, restores;
    /* batch in progress */
    uint64_t next, end;
    unsigned inflight, outstanding, errors;
    int first_error;
    uint64_t *lat;
    size_t nlat;
    uint64_t t0;
    bool quitting;
};

struct preq {
    struct node *n;
    uint64_t start;
};

static void reply(struct node *n, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void reply(struct node *n, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len > (int)sizeof(line) - 2)
        len = (int)sizeof(line) - 2;
    line[len++] = '\n';
    (void)write_all(n->ctl_fd, line, (size_t)len);
}

static int fsm_apply(void *data, const void *buf, size_t len, void **ret)
{
    struct node *n = data;
    uint64_t seq;

    *ret = NULL;
    if (len != 8)
        return 0;
    memcpy(&seq, buf, 8);
    if (seq <= n->last_seq)
        n->disorder++;
    n->last_seq = seq;
    n->count++;
    n->hash = (n->hash ^ seq) * 1099511628211ULL;
    return 0;
}

static int fsm_snapshot(void *data, void **ret, size_t *ret_len)
{
    struct node *n = data;
    uint64_t *b = malloc(4 * sizeof(uint64_t));

    b[0] = n->count;
    b[1] = n->hash;
    b[2] = n->last_seq;
    b[3] = n->disorder;
    *ret = b;
    *ret_len = 4 * sizeof(uint64_t);
    return 0;
}

static int fsm_restore(void *data, const void *buf, size_t len)
{
    struct node *n = data;
    uint64_t b[4];

    if (len != sizeof(b))
        return -EINVAL;
    memcpy(b, buf, sizeof(b));
    n->count = b[0];
    n->hash = b[1];
    n->last_seq = b[2];
    n->disorder = b[3];
    n->restores++;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void batch_fill(struct node *n);

static void on_proposed(struct rft *r, int status, void *result, void *data)
{
    struct preq *p = data;
    struct node *n = p->n;

    (void)r;
    (void)result;
    if (status != 0) {
        n->errors++;
        if (!n->first_error)
            n->first_error = status;
    } else {
        n->lat[n->nlat++] = (uv_hrtime() - p->start) / 1000;
    }
    free(p);
    n->outstanding--;
    batch_fill(n);
}

static void batch_fill(struct node *n)
{
    while (n->next < n->end && n->outstanding < n->inflight) {
        struct preq *p = malloc(sizeof(*p));
        uint64_t seq = n->next++;
        struct err err;

        p->n = n;
        p->start = uv_hrtime();
        n->outstanding++;
        if (rft_propose(n->r, NULL, &seq, 8, on_proposed, p, &err) < 0) {
            free(p);
            n->outstanding--;
            n->errors++;
            if (!n->first_error)
                n->first_error = err.code;
        }
    }
    if (n->outstanding == 0 && n->next == n->end && n->lat) {
        uint64_t p50 = 0, p99 = 0;
        if (n->nlat) {
            qsort(n->lat, n->nlat, sizeof(uint64_t), cmp_u64);
            p50 = n->lat[n->nlat / 2];
            p99 = n->lat[(n->nlat * 99) / 100];
        }
        reply(n, "ok %u %d %" PRIu64 " %" PRIu64 " %" PRIu64, n->errors, n->first_error, p50, p99,
              (uv_hrtime() - n->t0) / 1000000);
        free(n->lat);
        n->lat = NULL;
    }
}

static void on_change(struct rft *r, int status, const struct err *err, void *data)
{
    struct node *n = data;

    (void)r;
    if (status)
        reply(n, "err %d %s", status, err ? err->msg : "");
    else
        reply(n, "ok");
}

static int dup_status[2];
static int dup_done;

static void on_dup(struct rft *r, int status, void *result, void *data)
{
    struct node *n = data;

    (void)r;
    (void)result;
    dup_status[dup_done++] = status;
    if (dup_done == 1) {
        static const uint8_t reqid[RFT_REQID_LEN] = "dupdupdupdupdup";
        uint64_t seq = n->last_seq + 1000000;
        struct err err;
        if (rft_propose(n->r, reqid, &seq, 8, on_dup, n, &err) < 0)
            reply(n, "err %d %s", err.code, err.msg);
    } else {
        reply(n, "ok %d %d", dup_status[0], dup_status[1]);
    }
}

static void on_closed(void *data)
{
    struct node *n = data;

    rft_port_close(n->port, NULL, NULL);
    uv_close((uv_handle_t *)&n->ctl, NULL);
}

static void run_cmd(struct node *n, char *line)
{
    char addr[RFT_ADDR_MAX];
    unsigned long long a = 0, b = 0, c = 0;
    struct err err;
    int rc = 0;

    if (strcmp(line, "state") == 0) {
        uint64_t lid = 0;
        (void)rft_leader(n->r, &lid, addr);
        reply(n, "ok %d %llu %d", rft_state(n->r), (unsigned long long)lid,
              rft_ready_as_leader(n->r));
    } else if (strcmp(line, "fsm") == 0) {
        reply(n, "ok %llu %llu %llu %llu %llu", (unsigned long long)n->count,
              (unsigned long long)n->hash, (unsigned long long)n->disorder,
              (unsigned long long)n->restores, (unsigned long long)rft_last_applied(n->r));
    } else if (sscanf(line, "propose %llu %llu %llu", &a, &b, &c) == 3) {
        n->next = a;
        n->end = a + b;
        n->inflight = (unsigned)c;
        n->errors = 0;
        n->first_error = 0;
        n->lat = calloc(b + 1, sizeof(uint64_t));
        n->nlat = 0;
        n->t0 = uv_hrtime();
        batch_fill(n);
    } else if (sscanf(line, "add %llu %63s", &a, addr) == 2) {
        rc = rft_add_nonvoter(n->r, a, addr, on_change, n, &err);
    } else if (sscanf(line, "promote %llu", &a) == 1) {
        rc = rft_promote(n->r, a, on_change, n, &err);
    } else if (sscanf(line, "demote %llu", &a) == 1) {
        rc = rft_demote(n->r, a, on_change, n, &err);
    } else if (sscanf(line, "remove %llu", &a) == 1) {
        rc = rft_remove(n->r, a, on_change, n, &err);
    } else if (sscanf(line, "transfer %llu", &a) == 1) {
        rc = rft_transfer_leadership(n->r, a, on_change, n, &err);
    } else if (strcmp(line, "conf") == 0) {
        struct rft_server *s;
        size_t k, ns;
        char out[400] = "";
        rft_configuration(n->r, &s, &ns);
        for (k = 0; k < ns; k++)
            snprintf(out + strlen(out), sizeof(out) - strlen(out), " %llu:%d:%d",
                     (unsigned long long)s[k].id, s[k].role, s[k].reachable);
        free(s);
        reply(n, "ok%s", out);
    } else if (strcmp(line, "dup") == 0) {
        static const uint8_t reqid[RFT_REQID_LEN] = "dupdupdupdupdup";
        uint64_t seq = n->last_seq + 1000000;
        dup_done = 0;
        rc = rft_propose(n->r, reqid, &seq, 8, on_dup, n, &err);
    } else if (strcmp(line, "quit") == 0) {
        n->quitting = true;
        rft_close(n->r, on_closed, n);
    } else {
        reply(n, "err -22 unknown command");
    }
    if (rc < 0)
        reply(n, "err %d %s", rc, err.msg);
}

static void ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[4096];

    (void)h;
    (void)hint;
    *b = uv_buf_init(buf, sizeof(buf));
}

static void ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct node *n = s->data;
    char *nl;

    if (nread < 0) {
        _exit(0); /* the test went away */
    }
    buf_append(&n->in, b->base, (size_t)nread);
    while ((nl = memchr(n->in.data, '\n', n->in.len))) {
        char line[256];
        size_t len = (size_t)(nl - n->in.data);
        snprintf(line, sizeof(line), "%.*s", (int)len, n->in.data);
        buf_consume(&n->in, len + 1);
        if (!n->quitting)
            run_cmd(n, line);
    }
}

static bool verify_peer(void *data, const char *cn, const char *ou, uint64_t id)
{
    char want[32];

    (void)data;
    (void)ou;
    snprintf(want, sizeof(want), "m%llu", (unsigned long long)id);
    return strcmp(cn, want) == 0;
}

static void node_main(int fd, int id, const char *listen, bool boot, bool force)
{
    struct node n = {0};
    struct rft_port_ops ops = {.verify_raft_peer = verify_peer};
    struct rft_opts o = {0};
    char dir[128];
    struct err err;

    n.id = id;
    n.ctl_fd = fd;
    buf_init(&n.in);
    uv_loop_init(&n.loop);
    snprintf(dir, sizeof(dir), "%s/n%d", tmpdir, id);
    mkdir_p(dir, 0700);
    if (tls_ctx_new(TLS_SERVER, ca.cert, certs[id].cert, certs[id].key, &n.srv, &err) < 0 ||
        tls_ctx_new(TLS_CLIENT, ca.cert, certs[id].cert, certs[id].key, &n.cli, &err) < 0 ||
        rft_port_open(&n.loop, listen, n.srv, &ops, &n.port, &err) < 0)
        goto fail;
    o.data_dir = dir;
    o.raft_id = (uint64_t)id;
    o.address = rft_port_address(n.port);
    o.fsm = (struct rft_fsm){
        .data = &n, .apply = fsm_apply, .snapshot = fsm_snapshot, .restore = fsm_restore};
    o.port = n.port;
    o.client_ctx = n.cli;
    o.force_new_cluster = force;
    if (rft_open(&n.loop, &o, &n.r, &err) < 0)
        goto fail;
    if (boot && rft_bootstrap(n.r, &err) < 0 && err.code != -EEXIST)
        goto fail;
    if (rft_start(n.r, &err) < 0)
        goto fail;
    uv_pipe_init(&n.loop, &n.ctl, 0);
    uv_pipe_open(&n.ctl, fd);
    n.ctl.data = &n;
    uv_read_start((uv_stream_t *)&n.ctl, ctl_alloc, ctl_read);
    reply(&n, "addr %s", rft_port_address(n.port));
    uv_run(&n.loop, UV_RUN_DEFAULT);
    reply(&n, "bye");
    _exit(0);
fail:
    reply(&n, "err %d %s", err.code, err.msg);
    _exit(1);
}

/* ======================= parent: the driver ============================== */

struct child {
    pid_t pid;
    int fd;
    char addr[RFT_ADDR_MAX];
};

static struct child kids[MAX_NODES + 1];

static int read_line(int fd, char *out, size_t outlen, int timeout_ms)
{
    size_t len = 0;

    while (len + 1 < outlen) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -ETIMEDOUT;
        ssize_t r = read(fd, out + len, 1);
        if (r <= 0)
            return -EPIPE;
        if (out[len] == '\n') {
            out[len] = '\0';
            return 0;
        }
        len++;
    }
    out[len] = '\0';
    return 0;
}

static void spawn(int id, const char *listen, bool boot, bool force)
{
    int sv[2];
    char line[256];
    pid_t pid;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        for (int i = 0; i <= MAX_NODES; i++)
            if (kids[i].pid > 0)
                close(kids[i].fd);
        node_main(sv[1], id, listen, boot, force);
        _exit(1);
    }
    close(sv[1]);
    kids[id].pid = pid;
    kids[id].fd = sv[0];
    assert_int_equal(read_line(sv[0], line, sizeof(line), 10000), 0);
    if (strncmp(line, "addr ", 5) != 0)
        fail_msg("node %d: %s", id, line);
    snprintf(kids[id].addr, sizeof(kids[id].addr), "%.63s", line + 5);
}

static void kill_node(int id)
{
    if (kids[id].pid <= 0)
        return;
    kill(kids[id].pid, SIGKILL);
    waitpid(kids[id].pid, NULL, 0);
    close(kids[id].fd);
    kids[id].pid = 0;
}

static void quit_node(int id)
{
    char line[256];

    if (kids[id].pid <= 0)
        return;
    (void)write_all(kids[id].fd, "quit\n", 5);
    (void)read_line(kids[id].fd, line, sizeof(line), 10000);
    waitpid(kids[id].pid, NULL, 0);
    close(kids[id].fd);
    kids[id].pid = 0;
}

/* Send a command and return its reply line ("ok ..." or "err ..."). */
static int cmd(int id, char *out, size_t outlen, int timeout_ms, const char *fmt, ...)
    PRINTF_LIKE(5, 6);
static int cmd(int id, char *out, size_t outlen, int timeout_ms, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    line[len++] = '\n';
    if (write_all(kids[id].fd, line, (size_t)len) < 0)
        return -EPIPE;
    int rc = read_line(kids[id].fd, out, outlen, timeout_ms);
    if (rc < 0)
        return rc;
    return strncmp(out, "ok", 2) == 0 ? 0 : -1;
}

static int64_t now_ms(void)
{
    return time_mono_ns() / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The node that is leader and ready, waiting up to timeout_ms. */
static int wait_leader(int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    char out[256];

    while (now_ms() < end) {
        for (int i = 1; i <= MAX_NODES; i++) {
            int st = 0, ready = 0;
            unsigned long long lid = 0;
            if (kids[i].pid <= 0 || cmd(i, out, sizeof(out), 2000, "state") < 0)
                continue;
            if (sscanf(out, "ok %d %llu %d", &st, &lid, &ready) == 3 && st == RFT_LEADER && ready)
                return i;
        }
        sleep_ms(20);
    }
    fail_msg("no leader within %d ms", timeout_ms);
    return -1;
}

struct fsmv {
    unsigned long long count, hash, disorder, restores, applied;
};

static struct fsmv fsm_of(int id)
{
    struct fsmv v = {0};
    char out[256];

    assert_int_equal(cmd(id, out, sizeof(out), 5000, "fsm"), 0);
    assert_int_equal(sscanf(out, "ok %llu %llu %llu %llu %llu", &v.count, &v.hash, &v.disorder,
                            &v.restores, &v.applied),
                     5);
    return v;
}

static void wait_count(int id, unsigned long long want, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    struct fsmv v;

    do {
        v = fsm_of(id);
        if (v.count == want)
            return;
        sleep_ms(20);
    } while (now_ms() < end);
    fail_msg("node %d applied %llu commands, want %llu", id, v.count, want);
}

struct batch {
    unsigned errors;
    int first_error;
    unsigned long long p50, p99, ms;
};

static struct batch propose(int id, unsigned long long base, unsigned long long n,
                            unsigned inflight)
{
    struct batch b = {0};
    char out[256];

    if (cmd(id, out, sizeof(out), 30000, "propose %llu %llu %u", base, n, inflight) < 0)
        fail_msg("propose on %d: %s", id, out);
    assert_int_equal(
        sscanf(out, "ok %u %d %llu %llu %llu", &b.errors, &b.first_error, &b.p50, &b.p99, &b.ms),
        5);
    if (b.errors)
        fail_msg("%u proposals failed on %d (first error %d)", b.errors, id, b.first_error);
    return b;
}

/* Retry a membership command while the target catches up / a change runs. */
static void change(int leader, const char *what, int id, const char *extra)
{
    char out[256];
    int64_t end = now_ms() + 15000;

    for (;;) {
        if (cmd(leader, out, sizeof(out), 20000, "%s %d%s%s", what, id, extra ? " " : "",
                extra ? extra : "") == 0)
            return;
        if (now_ms() > end)
            fail_msg("%s %d: %s", what, id, out);
        sleep_ms(50);
    }
}

static int count_role(int leader, const char *needle)
{
    char out[256];

    assert_int_equal(cmd(leader, out, sizeof(out), 5000, "conf"), 0);
    return strstr(out, needle) != NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_rft.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    ca = tc_make(NULL, "rft-test-ca", NULL, 1);
    for (int i = 1; i <= MAX_NODES; i++) {
        char cn[16];
        snprintf(cn, sizeof(cn), "m%d", i);
        certs[i] = tc_make(&ca, cn, RFT_OU_MANAGER, 10 + i);
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 1; i <= MAX_NODES; i++) {
        kill_node(i);
        tc_free(&certs[i]);
    }
    tc_free(&ca);
    rm_rf(tmpdir);
    return 0;
}

static void test_cluster(void **state)
{
    unsigned long long seq = 1, total = 0;
    struct batch b;
    struct fsmv v1, v;
    char out[256];
    int leader, old;

    (void)state;
    /* swarm init: node 1 bootstraps alone */
    spawn(1, "127.0.0.1:0", true, false);
    assert_int_equal(wait_leader(5000), 1);
    /* two managers join as non-voters, then get promoted */
    for (int id = 2; id <= 3; id++) {
        spawn(id, "127.0.0.1:0", false, false);
        change(1, "add", id, kids[id].addr);
        change(1, "promote", id, NULL);
    }
    assert_true(count_role(1, " 2:1:"));
    assert_true(count_role(1, " 3:1:"));

    /* 10000 commands, 64 in flight, then latency at 1 in flight */
    b = propose(1, seq, 10000, 64);
    seq += 10000;
    total += 10000;
    printf("# commit 64 in flight: p50 %llu us, p99 %llu us, %llu ops/s\n", b.p50, b.p99,
           b.ms ? 10000ULL * 1000 / b.ms : 0);
    b = propose(1, seq, 1000, 1);
    seq += 1000;
    total += 1000;
    printf("# commit 1 in flight: p50 %llu us, p99 %llu us\n", b.p50, b.p99);
    for (int id = 1; id <= 3; id++)
        wait_count(id, total, 10000);
    v1 = fsm_of(1);
    for (int id = 2; id <= 3; id++) {
        v = fsm_of(id);
        assert_int_equal(v.hash, v1.hash);
        assert_int_equal(v.disorder, 0);
    }

    /* request-id dedupe: the same id proposed twice applies once */
    assert_int_equal(cmd(1, out, sizeof(out), 5000, "dup"), 0);
    assert_string_equal(out, "ok 0 -114"); /* -EALREADY */
    total += 1;
    for (int id = 1; id <= 3; id++)
        wait_count(id, total, 5000);
    seq += 2000000; /* past the dup command's sequence number */

    /* a follower cannot propose */
    assert_int_equal(cmd(2, out, sizeof(out), 5000, "propose %llu 1 1", seq), 0);
    assert_non_null(strstr(out, "ok 1 -4097"));

    /* kill the leader: a new one serves within a few seconds */
    int64_t t0 = now_ms();
    kill_node(1);
    leader = wait_leader(8000);
    b = propose(leader, seq, 1, 1);
    seq += 1;
    total += 1;
    printf("# failover: new leader %d accepted a write %lld ms after SIGKILL\n", leader,
           (long long)(now_ms() - t0));
    /* more entries than the snapshot threshold while node 1 is down */
    b = propose(leader, seq, 10000, 64);
    seq += 10000;
    total += 10000;
    /* restart node 1: it rejoins as a follower and catches up (snapshot) */
    spawn(1, kids[1].addr[0] ? kids[1].addr : "127.0.0.1:0", false, false);
    wait_count(1, total, 15000);
    v1 = fsm_of(1);
    v = fsm_of(leader);
    assert_int_equal(v1.hash, v.hash);
    assert_int_equal(v1.disorder, 0);
    printf("# node 1 restores after restart: %llu\n", v1.restores);
    assert_true(v1.restores >= 1);

    /* a fourth manager: non-voter, promoted, removed */
    spawn(4, "127.0.0.1:0", false, false);
    change(leader, "add", 4, kids[4].addr);
    assert_true(count_role(leader, " 4:0:"));
    change(leader, "promote", 4, NULL);
    assert_true(count_role(leader, " 4:1:"));
    wait_count(4, total, 10000);
    change(leader, "remove", 4, NULL);
    assert_false(count_role(leader, " 4:"));
    kill_node(4);

    /* quorum check: with one follower dead, removing the other is refused */
    int f1 = 0, f2 = 0;
    for (int id = 1; id <= 3; id++)
        if (id != leader) {
            if (!f1)
                f1 = id;
            else
                f2 = id;
        }
    kill_node(f1);
    sleep_ms(2500); /* two election timeouts: f1 is no longer reachable */
    assert_int_equal(cmd(leader, out, sizeof(out), 5000, "conf"), 0);
    printf("# leader %d conf with %d down: %s\n", leader, f1, out);
    assert_int_equal(cmd(leader, out, sizeof(out), 5000, "remove %d", f2), -1);
    printf("# remove %d with %d down: %s\n", f2, f1, out);
    assert_non_null(strstr(out, "err -16"));
    assert_non_null(strstr(out, "quorum"));
    spawn(f1, kids[f1].addr, false, false);
    wait_count(f1, total, 10000);

    /* leadership transfer */
    old = leader;
    assert_int_equal(cmd(old, out, sizeof(out), 10000, "transfer %d", f1), 0);
    leader = wait_leader(5000);
    assert_int_equal(leader, f1);
    b = propose(leader, seq, 100, 8);
    seq += 100;
    total += 100;

    /* demote the old leader, then the quorum of 2 voters; promote back */
    change(leader, "demote", old, NULL);
    snprintf(out, sizeof(out), " %d:0:", old);
    assert_true(count_role(leader, out));
    change(leader, "promote", old, NULL);

    /* total loss of quorum: only node `leader` survives; force a new cluster */
    for (int id = 1; id <= 3; id++)
        if (id != leader)
            kill_node(id);
    quit_node(leader);
    spawn(leader, kids[leader].addr, false, true);
    assert_int_equal(wait_leader(5000), leader);
    wait_count(leader, total, 5000);
    assert_int_equal(cmd(leader, out, sizeof(out), 5000, "conf"), 0);
    char want[32];
    snprintf(want, sizeof(want), "ok %d:1:1", leader);
    assert_string_equal(out, want);
    b = propose(leader, seq, 100, 8);
    total += 100;
    wait_count(leader, total, 5000);
    quit_node(leader);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
