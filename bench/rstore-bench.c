/*
 * bench/rstore-bench.c - raw replicated store commands: three manager
 * processes on 127.0.0.1, each running shoal's raft layer (libraft 0.15, uv
 * disk backend, the mutual-TLS transport through the cluster port) with the
 * real store (manager/store.c) as its state machine, exactly as shoald wires
 * them, minus the HTTP API. Node 1 bootstraps, adds and promotes the other
 * two (the join path), creates 64 node objects, then proposes NodeSetStatus
 * commands (no version check: every command is a committed change of a
 * node object) at 1, 16 and 64 in flight and measures, per command, the time
 * from the proposal to its application on the leader (committed = stored on
 * a majority with O_DIRECT|O_DSYNC, then applied).
 *
 * Usage: rstore-bench DIR BASEPORT WRITES
 *   DIR      scratch directory (n1..n3 are created in it)
 *   BASEPORT node i listens on 127.0.0.1:BASEPORT+i
 *   WRITES   commands per in-flight level
 * Prints one JSON line per level ({"inflight","writes","errors","seconds",
 * "rate","p50_ms","p99_ms"}) and exits 0, or a message on stderr and 1.
 *
 * Built by bench/raft-vs-etcd.sh against build/libcore.a.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"

#include "manager/ca.h"
#include "manager/store.h"
#include "raft/rft.h"

#define N_NODES   3
#define N_OBJECTS 64

static const int levels[] = {1, 16, 64};

static char *ca_pem, *cert_pem[N_NODES + 1], *key_pem[N_NODES + 1];
static char names[N_NODES + 1][MGR_ID_LEN + 1]; /* certificate CN of raft id i */

enum phase { PH_LEADER, PH_ADD, PH_PROMOTE, PH_CREATE, PH_WARM, PH_RUN, PH_DONE };

struct node {
    uv_loop_t loop;
    uv_timer_t tick;
    uv_pipe_t ctl;
    int id, baseport;
    struct rft *r;
    struct rft_port *port;
    struct tls_ctx *srv, *cli;
    struct mgr_store *store;
    /* driver (node 1) */
    enum phase ph;
    int peer;       /* 2 or 3 being added/promoted */
    bool busy;      /* a membership change in flight */
    int level;      /* index into levels[] */
    uint64_t total; /* commands of this phase */
    uint64_t sent, done, errors;
    unsigned inflight, outstanding;
    uint64_t *lat;
    uint64_t t0;
    char ids[N_OBJECTS][MGR_ID_LEN + 1];
};

struct prop {
    struct node *n;
    uint64_t start;
};

static void die(const char *what, const struct err *e)
{
    fprintf(stderr, "rstore-bench: %s: %s\n", what, e ? e->msg : "");
    _exit(1);
}

/* ---- FSM: the store, versioned by raft index (as manager/cluster.c) ---- */

static int fsm_apply(void *data, const void *buf, size_t len, void **ret)
{
    struct node *n = data;
    struct mgr_apply_result ar;
    struct err e;
    int *st = malloc(sizeof(*st));

    *st = mgr_store_apply(n->store, rft_apply_index(n->r), buf, len, &ar, &e);
    *ret = st;
    return 0;
}

static void fsm_free(void *data, void *result)
{
    (void)data;
    free(result);
}

static int fsm_snapshot(void *data, void **ret, size_t *ret_len)
{
    struct node *n = data;
    return mgr_store_snapshot(n->store, ret, ret_len, NULL);
}

static int fsm_restore(void *data, const void *buf, size_t len)
{
    struct node *n = data;
    return mgr_store_restore(n->store, buf, len, NULL);
}

static bool verify_peer(void *data, const char *cn, const char *ou, uint64_t id)
{
    (void)data;
    (void)ou;
    return id >= 1 && id <= N_NODES && strcmp(cn, names[id]) == 0;
}

/* ---- commands ------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void fill(struct node *n);

static void on_proposed(struct rft *r, int status, void *result, void *data)
{
    struct prop *p = data;
    struct node *n = p->n;
    int *st = result;

    (void)r;
    if (status == 0 && st && *st == 0)
        n->lat[n->done] = uv_hrtime() - p->start;
    else
        n->errors++;
    n->done++;
    free(st);
    free(p);
    n->outstanding--;
    fill(n);
}

static int propose_cmd(struct node *n, uint64_t k)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeCreate nc = SHOAL__STORE__NODE_CREATE__INIT;
    Shoal__Store__NodeSetStatus ns = SHOAL__STORE__NODE_SET_STATUS__INIT;
    MgrNode node = SHOAL__STORE__NODE__INIT;
    MgrNodeSpec spec = SHOAL__STORE__NODE_SPEC__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;
    char msg[64], host[32];
    void *buf = NULL;
    size_t len = 0;
    struct prop *p;
    struct err e;
    int rc;

    snprintf(msg, sizeof(msg), "bench write %" PRIu64, k);
    st.state = SHOAL__STORE__NODE_STATE__STATE_READY;
    st.message = msg;
    st.addr = (char *)"127.0.0.1";
    if (n->ph == PH_CREATE) {
        snprintf(host, sizeof(host), "bench-%" PRIu64, k);
        spec.role = SHOAL__STORE__NODE_ROLE__ROLE_WORKER;
        spec.availability = SHOAL__STORE__NODE_AVAILABILITY__AVAIL_ACTIVE;
        spec.name = host;
        node.id = n->ids[k];
        node.spec = &spec;
        node.status = &st;
        node.role = SHOAL__STORE__NODE_ROLE__ROLE_WORKER;
        nc.node = &node;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_CREATE;
        cmd.node_create = &nc;
    } else {
        ns.id = n->ids[k % N_OBJECTS];
        ns.status = &st;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_STATUS;
        cmd.node_set_status = &ns;
    }
    if (mgr_cmd_pack(&cmd, &buf, &len, &e) < 0)
        die("pack", &e);
    p = malloc(sizeof(*p));
    p->n = n;
    p->start = uv_hrtime();
    rc = rft_propose(n->r, NULL, buf, len, on_proposed, p, &e);
    free(buf);
    if (rc < 0) {
        free(p);
        die("propose", &e);
    }
    return 0;
}

static void phase_start(struct node *n, enum phase ph, uint64_t total, unsigned inflight)
{
    n->ph = ph;
    n->total = total;
    n->sent = n->done = n->errors = 0;
    n->inflight = inflight;
    free(n->lat);
    n->lat = calloc(total + 1, sizeof(uint64_t));
    n->t0 = uv_hrtime();
    fill(n);
}

static uint64_t writes_per_level;

static void phase_end(struct node *n)
{
    double secs = (double)(uv_hrtime() - n->t0) / 1e9;
    uint64_t ok = 0, *v = n->lat;

    if (n->ph == PH_RUN) {
        for (uint64_t i = 0; i < n->done; i++)
            if (v[i])
                v[ok++] = v[i];
        qsort(v, ok, sizeof(*v), cmp_u64);
        printf("{\"inflight\": %d, \"writes\": %" PRIu64 ", \"errors\": %" PRIu64
               ", \"seconds\": %.3f, \"rate\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}\n",
               levels[n->level], ok, n->errors, secs, (double)ok / secs,
               ok ? (double)v[ok / 2] / 1e6 : 0.0, ok ? (double)v[ok * 99 / 100] / 1e6 : 0.0);
        fflush(stdout);
        n->level++;
    } else if (n->errors) {
        fprintf(stderr, "rstore-bench: %" PRIu64 " commands failed while preparing\n", n->errors);
        _exit(1);
    }
    if (n->ph == PH_CREATE)
        phase_start(n, PH_WARM, 2000, 16);
    else if (n->level < (int)(sizeof(levels) / sizeof(levels[0])))
        phase_start(n, PH_RUN, writes_per_level, (unsigned)levels[n->level]);
    else {
        n->ph = PH_DONE;
        printf("done\n");
        fflush(stdout);
    }
}

static void fill(struct node *n)
{
    while (n->sent < n->total && n->outstanding < n->inflight) {
        n->outstanding++;
        propose_cmd(n, n->sent++);
    }
    if (n->outstanding == 0 && n->done == n->total && n->ph != PH_DONE)
        phase_end(n);
}

/* ---- driver: bootstrap -> add + promote peers -> objects -> levels --------- */

static void on_change(struct rft *r, int status, const struct err *err, void *data)
{
    struct node *n = data;

    (void)r;
    (void)err;
    n->busy = false;
    if (status == 0 && n->ph == PH_ADD) {
        n->ph = PH_PROMOTE;
    } else if (status == 0 && n->ph == PH_PROMOTE) {
        if (n->peer < N_NODES) {
            n->peer++;
            n->ph = PH_ADD;
        } else {
            for (int k = 0; k < N_OBJECTS; k++)
                (void)mgr_id_new(n->ids[k]);
            phase_start(n, PH_CREATE, N_OBJECTS, 16);
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    char addr[RFT_ADDR_MAX];
    struct err e;

    if (n->id != 1 || n->busy || !rft_ready_as_leader(n->r))
        return;
    if (n->ph == PH_LEADER) {
        n->ph = PH_ADD;
        n->peer = 2;
    }
    if (n->ph == PH_ADD) {
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", n->baseport + n->peer);
        n->busy = rft_add_nonvoter(n->r, (uint64_t)n->peer, addr, on_change, n, &e) == 0;
    } else if (n->ph == PH_PROMOTE) {
        /* -EAGAIN until it has caught up */
        n->busy = rft_promote(n->r, (uint64_t)n->peer, on_change, n, &e) == 0;
    }
}

/* ---- process plumbing ---------------------------------------------------- */

static void on_closed(void *data)
{
    struct node *n = data;

    rft_port_close(n->port, NULL, NULL);
    uv_close((uv_handle_t *)&n->tick, NULL);
    uv_close((uv_handle_t *)&n->ctl, NULL);
}

static void ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[64];

    (void)h;
    (void)hint;
    *b = uv_buf_init(buf, sizeof(buf));
}

static void ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct node *n = s->data;

    (void)b;
    if (nread >= 0)
        return;
    /* the parent is finished: shut down cleanly */
    uv_read_stop(s);
    uv_timer_stop(&n->tick);
    rft_close(n->r, on_closed, n);
}

static void node_main(int id, int baseport, const char *dir, int ctl_fd)
{
    struct node *n = calloc(1, sizeof(*n));
    struct rft_port_ops ops = {.verify_raft_peer = verify_peer};
    struct rft_opts o = {0};
    char listen[32], ndir[4200];
    struct err e;

    n->id = id;
    n->baseport = baseport;
    uv_loop_init(&n->loop);
    snprintf(ndir, sizeof(ndir), "%s/n%d", dir, id);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", baseport + id);
    if (mkdir_p(ndir, 0700) < 0)
        die("mkdir", NULL);
    n->store = mgr_store_new();
    if (tls_ctx_new(TLS_SERVER, ca_pem, cert_pem[id], key_pem[id], &n->srv, &e) < 0 ||
        tls_ctx_new(TLS_CLIENT, ca_pem, cert_pem[id], key_pem[id], &n->cli, &e) < 0 ||
        rft_port_open(&n->loop, listen, n->srv, &ops, &n->port, &e) < 0)
        die("port", &e);
    o.data_dir = ndir;
    o.raft_id = (uint64_t)id;
    o.address = listen;
    o.fsm = (struct rft_fsm){.data = n,
                             .apply = fsm_apply,
                             .free_result = fsm_free,
                             .snapshot = fsm_snapshot,
                             .restore = fsm_restore};
    o.port = n->port;
    o.client_ctx = n->cli;
    if (rft_open(&n->loop, &o, &n->r, &e) < 0)
        die("rft_open", &e);
    if (id == 1 && rft_bootstrap(n->r, &e) < 0)
        die("bootstrap", &e);
    if (rft_start(n->r, &e) < 0)
        die("rft_start", &e);
    uv_timer_init(&n->loop, &n->tick);
    n->tick.data = n;
    uv_timer_start(&n->tick, on_tick, 20, 20);
    uv_pipe_init(&n->loop, &n->ctl, 0);
    uv_pipe_open(&n->ctl, ctl_fd);
    n->ctl.data = n;
    uv_read_start((uv_stream_t *)&n->ctl, ctl_alloc, ctl_read);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    _exit(0);
}

int main(int argc, char **argv)
{
    struct mgr_ca *ca = NULL;
    char cluster_id[MGR_ID_LEN + 1];
    struct err e;
    int fds[N_NODES + 1];
    pid_t pids[N_NODES + 1];
    int baseport, status = 0;
    char line[512];
    FILE *f;

    if (argc != 4) {
        fprintf(stderr, "usage: rstore-bench DIR BASEPORT WRITES\n");
        return 2;
    }
    baseport = atoi(argv[2]);
    writes_per_level = strtoull(argv[3], NULL, 10);
    if (mgr_ca_create(&ca, &e) < 0 || mgr_ca_cert_pem(ca, &ca_pem, &e) < 0 ||
        mgr_id_new(cluster_id) < 0)
        die("CA", &e);
    for (int i = 1; i <= N_NODES; i++) {
        char *csr = NULL;
        if (mgr_id_new(names[i]) < 0 || mgr_ca_make_csr(&key_pem[i], &csr, &e) < 0 ||
            mgr_ca_sign(ca, csr, names[i], MGR_ROLE_MANAGER, cluster_id, 0, &cert_pem[i], &e) < 0)
            die("certificate", &e);
        free(csr);
    }
    fflush(NULL);
    for (int i = 1; i <= N_NODES; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair", NULL);
        pids[i] = fork();
        if (pids[i] == 0) {
            close(sv[0]);
            for (int k = 1; k < i; k++)
                close(fds[k]);
            if (i == 1) /* results go to the parent through this pipe */
                (void)dup2(sv[1], STDOUT_FILENO);
            node_main(i, baseport, argv[1], sv[1]);
        }
        close(sv[1]);
        fds[i] = sv[0];
    }
    f = fdopen(dup(fds[1]), "r");
    while (f && fgets(line, sizeof(line), f)) {
        if (strcmp(line, "done\n") == 0)
            break;
        fputs(line, stdout);
        fflush(stdout);
    }
    if (!f || feof(f)) {
        fprintf(stderr, "rstore-bench: node 1 ended early\n");
        status = 1;
    }
    if (f)
        fclose(f);
    for (int i = 1; i <= N_NODES; i++)
        close(fds[i]);
    for (int i = 1; i <= N_NODES; i++) {
        int ws = 0;
        alarm(30);
        if (waitpid(pids[i], &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            status = 1;
    }
    return status;
}
