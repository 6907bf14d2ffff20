/*
 * manager/cluster.c - per-node swarm runtime (see manager/cluster.h).
 *
 * Wire protocol on the cluster port's framed channels: one JSON object per
 * frame, with "t" naming the message.
 *   JOIN    joiner -> manager {"t":"join", token, csr, hostname, arch, os, cpus,
 *           mem, engine, addr, port, availability}; answer {"t":"joined",
 *           node_id, cluster_id, role, raft_id, cert, ca, managers[{id,addr}]}
 *           or {"t":"error", msg}.
 *   RPC     manager -> leader {"t":"propose", seq, cmd (hex StoreCommand)};
 *           answer {"t":"result", seq, status, msg, id}. Manager certificates
 *           only (checked here, not just at the port). Service logs asked
 *           through a follower go the same way: {"t":"logs"|"logstop", req},
 *           answered by {"t":"loglines"|"logend", req} (see cluster.h).
 *   SESSION agent -> manager {"t":"hb", addr} every period; answer
 *           {"t":"ok", period_ms, role, managers} from the leader, or
 *           {"t":"redirect", leader} from a follower. {"t":"cert", csr} asks
 *           for a certificate matching the node's current role.
 */
#define LOG_MODULE "cluster"

#include "manager/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/util.h"

#include "manager/ca.h"
#include "manager/dispatcher.h"
#include "manager/orchestrator.h"
#include "raft/rft.h"

#define ADDR_MAX        RFT_ADDR_MAX
#define TICK_MS         200
#define RPC_TIMEOUT_MS  10000
#define JOIN_TIMEOUT_MS 20000
/* a joining manager answers once it is a raft voter, or after this long */
#define JOIN_VOTER_WAIT_MS 20000
#define MSG_JOIN_BACKGROUND                                                                        \
    "Timeout was reached before node joined. The attempt to join the swarm will continue in the "  \
    "background. Use the \"docker info\" command to see the current swarm status of your node."

struct mgr_ref {
    char id[MGR_ID_LEN + 1];
    char addr[ADDR_MAX];
};

struct hb {
    char id[MGR_ID_LEN + 1];
    char addr[ADDR_MAX]; /* the node's cluster port address, from its heartbeats */
    uint64_t last;
    bool got;
    bool inflight;
};

struct fwd_req {
    struct fwd_req *next;
    uint64_t index;
    char id[MGR_ID_LEN + 1];
    uint32_t seq;
    uint64_t deadline;
    mgr_cluster_cb cb;
    void *data;
};

struct mgr_cluster {
    uv_loop_t *loop;
    char data_root[4096];
    char swarm_dir[4096];
    char raft_dir[4096];
    char *opt_listen, *opt_advertise, *engine_version;
    unsigned hb_ms, grace;
    uv_timer_t tick;

    enum mgr_local_state state;
    char errmsg[256];
    bool manager; /* running as a manager: port + raft + store */
    char node_id[MGR_ID_LEN + 1];
    char cluster_id[MGR_ID_LEN + 1];
    uint64_t raft_id;
    char listen_addr[ADDR_MAX];
    char adv_ip[ADDR_MAX];
    char mgr_addr[ADDR_MAX]; /* adv_ip:listen port */
    char *ca_pem, *key_pem, *cert_pem;
    struct mgr_ref *mgrs;
    size_t n_mgrs;

    struct tls_ctx *srv, *cli;
    struct tls_ctx **retired_ctxs; /* replaced by a role change, kept till exit */
    size_t n_retired_ctxs;
    struct rft_port *port;
    struct rft *rft;
    struct mgr_store *store;
    bool leader_ready;
    struct schan *schans;    /* server-side channels (JOIN, RPC, SESSION), closed on exit */
    struct held_write *held; /* writes waiting for this new leader's barrier */

    /* init */
    void *boot[2];
    size_t boot_len[2];
    mgr_cluster_cb init_cb;
    void *init_data;

    /* leader: controllers (services), dispatcher and reconciler */
    struct mgr_orch *orch;
    struct mgr_disp *disp;
    struct mgr_agent_ops agent;
    bool agent_up;               /* the agent's reports have somewhere to go */
    mgr_cluster_log_fn log_sink; /* service logs frames from agents */
    void *log_sink_ud;
    uint64_t log_peer_next; /* ids of followers' RPC channels proxying logs */
    struct hb *hbs;
    size_t n_hbs;
    bool rec_busy;
    uint64_t rec_next;

    /* follower -> leader forwarding */
    struct rft_chan *fwd;
    struct rft_dial *fwd_dial;
    char fwd_addr[ADDR_MAX];
    struct fwd_req *fwd_reqs;
    struct fwd_req *waiters; /* done on the leader, waiting for our store */
    uv_timer_t wait_timer;
    uint32_t seq;
    /* service logs proxied to the leader: the channel they went out on, or
     * queued for the dial under way */
    mgr_cluster_logfwd_fn logfwd_fn;
    void *logfwd_ud;
    struct rft_chan *logfwd_ch;
    bool logfwd_pending;

    /* agent */
    struct rft_chan *sess;
    struct rft_dial *sess_dial;
    size_t sess_idx;
    char sess_target[ADDR_MAX];
    uint64_t sess_sent, sess_recv, sess_retry;
    bool cert_pending;
    char *cert_key_pending;

    /* join (client side) */
    struct rft_dial *join_dial;
    struct rft_chan *join_ch;
    struct tls_ctx *join_ctx;
    uv_timer_t join_timer;
    mgr_cluster_cb join_cb;
    void *join_data;
    char *join_token, *join_key, *join_csr, *join_remote;
    int join_avail;
    uint64_t join_voter_deadline;

    /* leave */
    bool leaving;
    uint64_t leave_deadline;
    mgr_cluster_cb leave_cb;
    void *leave_data;
    int closing; /* handles still closing during teardown */
};

static void start_agent_tick(struct mgr_cluster *c);
static void on_wait_timer(uv_timer_t *t);
static int start_manager(struct mgr_cluster *c, bool bootstrap, bool force_new, struct err *err);
static void teardown(struct mgr_cluster *c, void (*done)(struct mgr_cluster *c));

/* ---- small helpers --------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void mgr_ca_freep_(struct mgr_ca **p)
{
    *p = mgr_ca_free(*p);
}

static char *hex_encode(const void *buf, size_t len)
{
    static const char d[] = "0123456789abcdef";
    const uint8_t *b = buf;
    char *out = malloc(len * 2 + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[len * 2] = '\0';
    return out;
}

static int hexv(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static int hex_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
    size_t n = strlen(s);
    uint8_t *out;

    if (n % 2 || n / 2 > (4u << 20))
        return -EINVAL;
    out = malloc(n / 2 + 1);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexv(s[2 * i]), lo = hexv(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return -EINVAL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *ret = out;
    *ret_len = n / 2;
    return 0;
}

/* The token's 50 base36 chars back into the 32-byte sha256 they encode. */
static int digest_to_pin(const char *digest, uint8_t out[32])
{
    memset(out, 0, 32);
    for (const char *p = digest; *p; p++) {
        int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10 : -1;
        unsigned carry;
        if (v < 0)
            return -EINVAL;
        carry = (unsigned)v;
        for (int i = 31; i >= 0; i--) {
            unsigned x = out[i] * 36u + carry;
            out[i] = (uint8_t)x;
            carry = x >> 8;
        }
        if (carry)
            return -EINVAL;
    }
    return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int send_json(struct rft_chan *ch, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    int r = s ? rft_chan_send(ch, s, strlen(s)) : -ENOMEM;

    free(s);
    json_decref(o);
    return r;
}

static json_t *parse_frame(const void *data, size_t len)
{
    json_t *o = json_loadb(data, len, 0, NULL);

    if (o && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Split "host:port"; port 2377 when absent. */
static void split_addr(const char *a, char *host, size_t hlen, unsigned *port)
{
    const char *colon = strrchr(a, ':');

    *port = 2377;
    if (colon) {
        snprintf(host, hlen, "%.*s", (int)(colon - a), a);
        *port = (unsigned)strtoul(colon + 1, NULL, 10);
    } else {
        snprintf(host, hlen, "%s", a);
    }
}

static bool is_ipv4(const char *s)
{
    struct in_addr a;
    return inet_pton(AF_INET, s, &a) == 1;
}

/* The local address the kernel would use to reach host (no packet sent). */
static int local_addr_for(const char *host, char *out, size_t outlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
    socklen_t sl = sizeof(sa);
    int fd, r = -EADDRNOTAVAIL;

    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 &&
        inet_ntop(AF_INET, &sa.sin_addr, out, (socklen_t)outlen))
        r = 0;
    close(fd);
    return r;
}

static void path_in(const struct mgr_cluster *c, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->swarm_dir, name);
}

static int write_text(const struct mgr_cluster *c, const char *name, const char *text, int mode)
{
    char p[4200];

    path_in(c, name, p, sizeof(p));
    return write_file_atomic(p, text, strlen(text), (mode_t)mode, true);
}

static char *read_text(const struct mgr_cluster *c, const char *name)
{
    char p[4200];
    char *data = NULL;

    path_in(c, name, p, sizeof(p));
    if (read_file(p, &data, NULL, 1 << 20) < 0)
        return NULL;
    return data;
}

static void set_managers(struct mgr_cluster *c, json_t *arr)
{
    size_t i, n = json_array_size(arr);
    json_t *v;
    struct mgr_ref *m;

    if (!json_is_array(arr) || n == 0)
        return;
    m = calloc(n, sizeof(*m));
    if (!m)
        return;
    json_array_foreach(arr, i, v)
    {
        snprintf(m[i].id, sizeof(m[i].id), "%s", jstr(v, "id"));
        snprintf(m[i].addr, sizeof(m[i].addr), "%s", jstr(v, "addr"));
    }
    free(c->mgrs);
    c->mgrs = m;
    c->n_mgrs = n;
}

static json_t *managers_json(const struct mgr_cluster *c)
{
    json_t *a = json_array();

    if (c->store) {
        size_t n = mgr_store_count(c->store, MGR_KIND_NODE);
        for (size_t i = 0; i < n; i++) {
            const MgrNode *nd = mgr_store_at(c->store, MGR_KIND_NODE, i);
            if (nd->role == MGR_ROLE_MANAGER && nd->manager_status)
                json_array_append_new(
                    a, json_pack("{s:s,s:s}", "id", nd->id, "addr", nd->manager_status->addr));
        }
        if (json_array_size(a))
            return a;
    }
    for (size_t i = 0; i < c->n_mgrs; i++)
        json_array_append_new(a,
                              json_pack("{s:s,s:s}", "id", c->mgrs[i].id, "addr", c->mgrs[i].addr));
    return a;
}

static int save_state(struct mgr_cluster *c)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:o}", "node_id", c->node_id, "cluster_id",
                          c->cluster_id, "role", c->manager ? "manager" : "worker", "raft_id",
                          (json_int_t)c->raft_id, "listen_addr", c->listen_addr, "advertise_addr",
                          c->adv_ip, "managers", managers_json(c));
    char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    int r = s ? write_text(c, "state.json", s, 0600) : -ENOMEM;

    if (r < 0)
        log_error("saving swarm state: %s", strerror(-r));
    free(s);
    json_decref(o);
    return r;
}

/* ---- TLS contexts and the port ------------------------------------------- */

static bool verify_raft_peer(void *data, const char *cn, const char *ou, uint64_t id)
{
    struct mgr_cluster *c = data;
    const MgrNode *n;

    (void)ou;
    if (strcmp(cn, c->node_id) == 0)
        return id == c->raft_id;
    if (c->store && mgr_store_node_removed(c->store, cn))
        return false;
    n = c->store ? mgr_store_node(c->store, cn) : NULL;
    if (n)
        return n->raft_id == id;
    /* not replicated to us yet (we are joining): the derivation */
    return mgr_raft_id_from_node_id(cn) == id;
}

static bool is_revoked(void *data, const char *serial, const char *cn)
{
    struct mgr_cluster *c = data;

    (void)serial;
    return c->store && mgr_store_node_removed(c->store, cn);
}

static int make_ctxs(struct mgr_cluster *c, struct err *err)
{
    struct tls_ctx *s = NULL, *k = NULL;
    int r;

    r = tls_ctx_new(TLS_SERVER, c->ca_pem, c->cert_pem, c->key_pem, &s, err);
    if (r == 0)
        r = tls_ctx_new(TLS_CLIENT, c->ca_pem, c->cert_pem, c->key_pem, &k, err);
    if (r < 0) {
        tls_ctx_free(s);
        return r;
    }
    /* old contexts may still be referenced by a closing port or dial: keep
     * them (reachable) until the process ends; a role change is rare */
    for (int i = 0; i < 2; i++) {
        struct tls_ctx *old = i ? c->cli : c->srv;
        struct tls_ctx **n;
        if (!old)
            continue;
        n = realloc(c->retired_ctxs, (c->n_retired_ctxs + 1) * sizeof(*n));
        if (!n) {
            tls_ctx_free(s);
            tls_ctx_free(k);
            return err_set(err, -ENOMEM, "out of memory");
        }
        c->retired_ctxs = n;
        n[c->n_retired_ctxs++] = old;
    }
    c->srv = s;
    c->cli = k;
    return 0;
}

static void on_join_conn(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                         void *data);
static void on_rpc_conn(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                        void *data);
static void on_session_conn(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                            void *data);

static int open_port(struct mgr_cluster *c, struct err *err)
{
    struct rft_port_ops ops = {
        .data = c, .verify_raft_peer = verify_raft_peer, .is_revoked = is_revoked};
    int r;

    r = rft_port_open(c->loop, c->listen_addr, c->srv, &ops, &c->port, err);
    /* A shoald restarted right after a crash can find its port still held
     * for a moment by the dying process: wait for it (bounded) instead of
     * dropping out of the swarm. */
    for (int i = 0; r == -EADDRINUSE && i < 50; i++) {
        (void)usleep(100 * 1000);
        err_clear(err);
        r = rft_port_open(c->loop, c->listen_addr, c->srv, &ops, &c->port, err);
    }
    if (r < 0)
        return err_wrap(err, "listening on %s", c->listen_addr);
    rft_port_set_handler(c->port, RFT_KIND_JOIN, on_join_conn, c);
    rft_port_set_handler(c->port, RFT_KIND_RPC, on_rpc_conn, c);
    rft_port_set_handler(c->port, RFT_KIND_SESSION, on_session_conn, c);
    return 0;
}

/* ---- FSM ------------------------------------------------------------------ */

struct apply_res {
    int status;
    char msg[ERR_MSG_MAX];
    char id[MGR_ID_LEN + 1];
};

static int fsm_apply(void *data, const void *buf, size_t len, void **ret_result)
{
    struct mgr_cluster *c = data;
    struct apply_res *res = calloc(1, sizeof(*res));
    struct mgr_apply_result ar;
    struct err e = {0};
    uint64_t index = c->rft ? rft_apply_index(c->rft) : 0;

    /* Versions are the raft log index of the entry (as in swarmkit): the
     * same on every manager; it also counts barriers and configuration
     * entries, which the FSM never sees. (The fallback cannot trigger: raft
     * indexes only grow and a restored snapshot is never ahead of them.) */
    if (index <= mgr_store_last_index(c->store))
        index = mgr_store_last_index(c->store) + 1;
    res->status = mgr_store_apply(c->store, index, buf, len, &ar, &e);
    if (res->status < 0)
        snprintf(res->msg, sizeof(res->msg), "%s", e.msg);
    else
        snprintf(res->id, sizeof(res->id), "%s", ar.id);
    *ret_result = res;
    if (c->waiters)
        uv_timer_start(&c->wait_timer, on_wait_timer, 0, 0);
    return 0;
}

static void fsm_free_result(void *data, void *result)
{
    (void)data;
    free(result);
}

static int fsm_snapshot(void *data, void **ret_buf, size_t *ret_len)
{
    struct mgr_cluster *c = data;
    return mgr_store_snapshot(c->store, ret_buf, ret_len, NULL);
}

static unsigned at_least(uint64_t v, unsigned min)
{
    return v < min ? min : v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

/* The cluster spec's raft settings (docker swarm init/update
 * --snapshot-interval; LogEntriesForSlowFollowers) on this manager's raft
 * (0: raft keeps what it has). At least RAFT_MIN_INTERVAL entries between
 * snapshots, and at least RAFT_MIN_TRAILING kept behind each: a follower a
 * few milliseconds behind under load should catch up from the log, not from
 * a snapshot. */
#define RAFT_MIN_INTERVAL 100
#define RAFT_MIN_TRAILING 1024
static void raft_settings(struct mgr_cluster *c)
{
    const MgrCluster *cl = c->store ? mgr_store_cluster(c->store) : NULL;
    uint64_t every;

    if (!c->rft || !cl || !cl->spec)
        return;
    every = cl->spec->snapshot_interval;
    rft_set_snapshot(c->rft, every ? at_least(every, RAFT_MIN_INTERVAL) : 0,
                     at_least(cl->spec->log_entries_for_slow_followers, RAFT_MIN_TRAILING));
}

static int fsm_restore(void *data, const void *buf, size_t len)
{
    struct mgr_cluster *c = data;
    struct err e;
    int r = mgr_store_restore(c->store, buf, len, &e);

    if (r < 0)
        log_error("restoring the store from a snapshot: %s", e.msg);
    else
        raft_settings(c);
    return r;
}

/* ---- writes ----------------------------------------------------------------- */

struct wreq {
    struct mgr_cluster *c;
    mgr_cluster_cb cb;
    void *data;
};

static void on_local_proposed(struct rft *r, int status, void *result, void *data)
{
    struct wreq *w = data;
    struct apply_res *res = result;
    struct err e = {0};

    (void)r;
    if (status == -EALREADY) {
        status = 0;
    } else if (status == 0 && res && res->status < 0) {
        status = err_set(&e, res->status, "%s", res->msg);
    } else if (status < 0) {
        if (status == ERR_NOT_LEADER)
            err_set(&e, status, "%s", MGR_MSG_NO_LEADER);
        else
            err_set(&e, status, "raft: %s", strerror(-status));
    }
    if (w->cb)
        w->cb(status, status ? &e : NULL, res && status == 0 ? res->id : "", w->data);
    free(res);
    free(w);
}

static int propose_bytes(struct mgr_cluster *c, const void *buf, size_t len, mgr_cluster_cb cb,
                         void *data, struct err *err);
static int propose_cmd_bytes(struct mgr_cluster *c, const void *buf, size_t len, bool local,
                             mgr_cluster_cb cb, void *data, struct err *err);

/* Requests swarmkit's control API refuses before they reach raft. */
static int write_precheck(const struct mgr_cluster *c, const MgrCommand *cmd, struct err *err)
{
    const MgrNode *n;

    if (cmd->op_case != SHOAL__STORE__STORE_COMMAND__OP_NODE_REMOVE || !cmd->node_remove)
        return 0;
    n = mgr_store_node(c->store, cmd->node_remove->id ? cmd->node_remove->id : "");
    /* as swarmkit: a node whose desired role is manager must be demoted
     * first, --force or not (the reconciler then takes it out of raft; a
     * manager's own `swarm leave` removes itself without this check) */
    if (n && n->spec && n->spec->role == MGR_ROLE_MANAGER)
        return err_set(err, -EBUSY,
                       "node %s is a cluster manager and is a member of the raft cluster. It "
                       "must be demoted to worker before removal",
                       n->id);
    return 0;
}

static int cluster_write(struct mgr_cluster *c, MgrCommand *cmd, bool check, mgr_cluster_cb cb,
                         void *data, struct err *err)
{
    void *buf = NULL;
    size_t len = 0;
    int r;

    if (!c->manager || !c->store)
        return err_set(err, ERR_NOT_MANAGER, "%s", MGR_MSG_NOT_MANAGER);
    if (check && (r = write_precheck(c, cmd, err)) < 0)
        return r;
    r = mgr_cmd_pack(cmd, &buf, &len, err);
    if (r < 0)
        return r;
    r = propose_cmd_bytes(c, buf, len, true, cb, data, err);
    free(buf);
    return r;
}

int mgr_cluster_write(struct mgr_cluster *c, MgrCommand *cmd, mgr_cluster_cb cb, void *data,
                      struct err *err)
{
    return cluster_write(c, cmd, true, cb, data, err);
}

static void fwd_fail_all(struct mgr_cluster *c, int status, const char *msg);
static int fwd_send(struct mgr_cluster *c, const void *buf, size_t len, mgr_cluster_cb cb,
                    void *data, struct err *err);
static int hold_write(struct mgr_cluster *c, const void *buf, size_t len, mgr_cluster_cb cb,
                      void *data, struct err *err);

static int propose_bytes(struct mgr_cluster *c, const void *buf, size_t len, mgr_cluster_cb cb,
                         void *data, struct err *err)
{
    return propose_cmd_bytes(c, buf, len, false, cb, data, err);
}

/* local: buf was packed here by mgr_cmd_pack (not bytes from a peer) */
static int propose_cmd_bytes(struct mgr_cluster *c, const void *buf, size_t len, bool local,
                             mgr_cluster_cb cb, void *data, struct err *err)
{
    MgrCommand *cmd;
    uint8_t reqid[RFT_REQID_LEN];
    struct wreq *w;
    int r;

    if (!c->rft)
        return err_set(err, ERR_NOT_MANAGER, "%s", MGR_MSG_NOT_MANAGER);
    if (!rft_ready_as_leader(c->rft)) {
        if (rft_state(c->rft) == RFT_LEADER && !c->leaving)
            return hold_write(c, buf, len, cb, data, err);
        return fwd_send(c, buf, len, cb, data, err);
    }
    /* the command's own request id also dedupes at the raft layer, so a
     * forwarded write retried after a leader change applies once. A command
     * packed here starts with its 16-byte id (protobuf-c writes field 1
     * first): read off the front, no unpack; bytes from a peer are unpacked,
     * which also checks them. */
    memset(reqid, 0, sizeof(reqid));
    if (local && len >= 2 + RFT_REQID_LEN && ((const uint8_t *)buf)[0] == 0x0a &&
        ((const uint8_t *)buf)[1] == RFT_REQID_LEN) {
        memcpy(reqid, (const uint8_t *)buf + 2, RFT_REQID_LEN);
    } else {
        cmd = mgr_cmd_unpack(buf, len);
        if (!cmd)
            return err_set(err, -EINVAL, "malformed store command");
        memcpy(reqid, cmd->request_id.data,
               cmd->request_id.len < RFT_REQID_LEN ? cmd->request_id.len : RFT_REQID_LEN);
        mgr_cmd_free(cmd);
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(err, -ENOMEM, "out of memory");
    w->c = c;
    w->cb = cb;
    w->data = data;
    r = rft_propose(c->rft, reqid, buf, len, on_local_proposed, w, err);
    if (r < 0) {
        free(w);
        if (r == ERR_NOT_LEADER)
            return err_set(err, r, "%s", MGR_MSG_NO_LEADER);
    }
    return r;
}

/* ---- forwarding (client side) ----------------------------------------------- */

static void waiters_check(struct mgr_cluster *c)
{
    uint64_t now = uv_now(c->loop);
    uint64_t have = c->store ? mgr_store_last_index(c->store) : UINT64_MAX;
    struct fwd_req **pp = &c->waiters;

    while (*pp) {
        struct fwd_req *q = *pp;
        if (q->index <= have || q->deadline <= now) {
            *pp = q->next;
            if (q->cb)
                q->cb(0, NULL, q->id, q->data);
            free(q);
        } else {
            pp = &q->next;
        }
    }
}

/* ---- writes held while a new leader commits its barrier ------------------------ */

/* A node that was just elected leads (and `node ls` says so) one barrier
 * commit before it serves writes: a write arriving in that window waits for
 * it (bounded by two election timeouts) instead of failing. */
#define HOLD_MS 2000

struct held_write {
    struct held_write *next;
    mgr_cluster_cb cb;
    void *data;
    uint64_t deadline;
    size_t len;
    uint8_t buf[];
};

static int hold_write(struct mgr_cluster *c, const void *buf, size_t len, mgr_cluster_cb cb,
                      void *data, struct err *err)
{
    struct held_write *h = malloc(sizeof(*h) + len);
    struct held_write **pp = &c->held;

    if (!h)
        return err_set(err, -ENOMEM, "out of memory");
    h->next = NULL;
    h->cb = cb;
    h->data = data;
    h->deadline = uv_now(c->loop) + HOLD_MS;
    h->len = len;
    memcpy(h->buf, buf, len);
    while (*pp) /* keep the arrival order */
        pp = &(*pp)->next;
    *pp = h;
    uv_timer_start(&c->wait_timer, on_wait_timer, 10, 0);
    return 0;
}

/* status 0: propose the held writes again (leader ready, or somebody else
 * leads: forwarded); else fail them. */
static void held_release(struct mgr_cluster *c, int status)
{
    struct held_write *h = c->held;
    struct err e;

    c->held = NULL;
    while (h) {
        struct held_write *next = h->next;
        int r = status;
        if (r == 0)
            r = propose_bytes(c, h->buf, h->len, h->cb, h->data, &e);
        else
            err_set(&e, status, "%s",
                    status == ERR_NOT_MANAGER ? "this node left the swarm" : MGR_MSG_NO_LEADER);
        if (r < 0 && h->cb)
            h->cb(r, &e, "", h->data);
        free(h);
        h = next;
    }
}

static void held_check(struct mgr_cluster *c)
{
    if (!c->held)
        return;
    if (!c->rft || c->leaving)
        held_release(c, c->leaving ? ERR_NOT_MANAGER : ERR_NOT_LEADER);
    else if (rft_ready_as_leader(c->rft) || rft_state(c->rft) != RFT_LEADER)
        held_release(c, 0);
    else if (uv_now(c->loop) >= c->held->deadline)
        held_release(c, ERR_NOT_LEADER);
    else
        uv_timer_start(&c->wait_timer, on_wait_timer, 10, 0);
}

static void on_wait_timer(uv_timer_t *t)
{
    waiters_check(t->data);
    held_check(t->data);
}

static void fwd_fail_all(struct mgr_cluster *c, int status, const char *msg)
{
    struct fwd_req *q = c->fwd_reqs;
    struct err e;

    c->fwd_reqs = NULL;
    while (q) {
        struct fwd_req *next = q->next;
        err_set(&e, status, "%s", msg);
        if (q->cb)
            q->cb(status, &e, "", q->data);
        free(q);
        q = next;
    }
}

/* The proxied service logs requests lost their channel to the leader. */
static void logfwd_drop(struct mgr_cluster *c)
{
    c->logfwd_ch = NULL;
    c->logfwd_pending = false;
    if (c->logfwd_fn)
        c->logfwd_fn(c->logfwd_ud, NULL);
}

static void on_fwd_msg(struct rft_chan *ch, const void *data, size_t len)
{
    struct mgr_cluster *c = rft_chan_data(ch);
    json_t *o = parse_frame(data, len);
    struct fwd_req **pp, *q;
    uint32_t seq;
    struct err e;
    int status;

    if (!o)
        return;
    if (strcmp(jstr(o, "t"), "loglines") == 0 || strcmp(jstr(o, "t"), "logend") == 0) {
        if (c->logfwd_fn)
            c->logfwd_fn(c->logfwd_ud, o);
        json_decref(o);
        return;
    }
    seq = (uint32_t)json_integer_value(json_object_get(o, "seq"));
    for (pp = &c->fwd_reqs; *pp && (*pp)->seq != seq; pp = &(*pp)->next)
        ;
    q = *pp;
    if (q) {
        *pp = q->next;
        status = (int)json_integer_value(json_object_get(o, "status"));
        if (status > 0 || status < -5000)
            status = -EPROTO;
        if (status) {
            err_set(&e, status, "%s", jstr(o, "msg"));
            if (q->cb)
                q->cb(status, &e, jstr(o, "id"), q->data);
            free(q);
        } else {
            /* answer once our own store shows the write (read-your-writes
             * for the GET that follows, e.g. `node update` after `promote`) */
            q->index = (uint64_t)json_integer_value(json_object_get(o, "index"));
            snprintf(q->id, sizeof(q->id), "%s", jstr(o, "id"));
            q->deadline = uv_now(c->loop) + 3000;
            q->next = c->waiters;
            c->waiters = q;
            waiters_check(c);
        }
    }
    json_decref(o);
}

static void on_fwd_close(struct rft_chan *ch, int status)
{
    struct mgr_cluster *c = rft_chan_data(ch);

    (void)status;
    if (ch == c->logfwd_ch)
        logfwd_drop(c);
    if (c->fwd != ch)
        return; /* replaced already: its requests were answered then */
    c->fwd = NULL;
    fwd_fail_all(c, ERR_NOT_LEADER, MGR_MSG_NO_LEADER);
}

struct pending_send {
    struct pending_send *next;
    char *frame;
};
static struct pending_send *fwd_queue;

static void on_fwd_dialed(struct rft_chan *ch, int status, const struct err *err, void *data)
{
    struct mgr_cluster *c = data;

    c->fwd_dial = NULL;
    if (status < 0) {
        log_warn("forwarding to the leader at %s: %s", c->fwd_addr, err ? err->msg : "");
        while (fwd_queue) {
            struct pending_send *p = fwd_queue;
            fwd_queue = p->next;
            free(p->frame);
            free(p);
        }
        fwd_fail_all(c, ERR_NOT_LEADER, MGR_MSG_NO_LEADER);
        if (c->logfwd_pending)
            logfwd_drop(c);
        return;
    }
    c->fwd = ch;
    if (c->logfwd_pending) {
        c->logfwd_pending = false;
        c->logfwd_ch = ch;
    }
    rft_chan_start(ch, on_fwd_msg, on_fwd_close, c);
    while (fwd_queue) {
        struct pending_send *p = fwd_queue;
        fwd_queue = p->next;
        (void)rft_chan_send(ch, p->frame, strlen(p->frame));
        free(p->frame);
        free(p);
    }
}

static int fwd_send(struct mgr_cluster *c, const void *buf, size_t len, mgr_cluster_cb cb,
                    void *data, struct err *err)
{
    char laddr[ADDR_MAX];
    uint64_t lid = 0;
    struct fwd_req *q;
    char *hex, *frame;
    json_t *o;

    if (rft_leader(c->rft, &lid, laddr) < 0 || lid == c->raft_id)
        return err_set(err, ERR_NOT_LEADER, "%s", MGR_MSG_NO_LEADER);
    if (c->fwd && strcmp(c->fwd_addr, laddr) != 0) {
        /* another leader now: what was sent to the old one has an unknown
         * outcome (the callers may retry with the same request id) */
        rft_chan_close(c->fwd);
        c->fwd = NULL;
        fwd_fail_all(c, ERR_NOT_LEADER, MGR_MSG_NO_LEADER);
    }
    if (!c->fwd && c->fwd_dial && strcmp(c->fwd_addr, laddr) != 0)
        return err_set(err, ERR_NOT_LEADER, "%s", MGR_MSG_NO_LEADER);
    hex = hex_encode(buf, len);
    q = calloc(1, sizeof(*q));
    o = json_pack("{s:s,s:I,s:s}", "t", "propose", "seq", (json_int_t)c->seq + 1, "cmd",
                  hex ? hex : "");
    frame = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    free(hex);
    if (!q || !frame) {
        free(q);
        free(frame);
        return err_set(err, -ENOMEM, "out of memory");
    }
    q->seq = ++c->seq;
    q->cb = cb;
    q->data = data;
    q->deadline = uv_now(c->loop) + RPC_TIMEOUT_MS;
    q->next = c->fwd_reqs;
    c->fwd_reqs = q;
    if (c->fwd) {
        (void)rft_chan_send(c->fwd, frame, strlen(frame));
        free(frame);
        return 0;
    }
    struct pending_send *p = calloc(1, sizeof(*p));
    if (!p) {
        free(frame);
        c->fwd_reqs = q->next;
        free(q);
        return err_set(err, -ENOMEM, "out of memory");
    }
    p->frame = frame;
    p->next = fwd_queue;
    fwd_queue = p;
    if (!c->fwd_dial) {
        snprintf(c->fwd_addr, sizeof(c->fwd_addr), "%s", laddr);
        if (rft_dial(c->loop, c->cli, laddr, NULL, RFT_KIND_RPC, "", 0, on_fwd_dialed, c,
                     &c->fwd_dial, err) < 0) {
            c->fwd_dial = NULL;
            fwd_queue = p->next;
            free(p->frame);
            free(p);
            c->fwd_reqs = q->next;
            free(q);
            return err_set(err, ERR_NOT_LEADER, "%s", MGR_MSG_NO_LEADER);
        }
    }
    return 0;
}

static void fwd_expire(struct mgr_cluster *c)
{
    uint64_t now = uv_now(c->loop);
    struct fwd_req **pp = &c->fwd_reqs;
    char laddr[ADDR_MAX];
    uint64_t lid = 0;

    /* The leader we forwarded to is gone from our raft's view (this node is
     * cut off and campaigning, or another node leads now): answer at once
     * instead of after RPC_TIMEOUT_MS. A partitioned follower gets here one
     * randomized election timeout (1-2 s) after its last heartbeat. */
    if ((c->fwd_reqs || c->fwd_dial || c->logfwd_ch) && c->rft &&
        (rft_leader(c->rft, &lid, laddr) < 0 || lid == c->raft_id ||
         strcmp(laddr, c->fwd_addr) != 0)) {
        log_info("the leader at %s is gone: failing the writes forwarded to it", c->fwd_addr);
        if (c->fwd_dial) /* its callback drops the queued frames and fails all */
            rft_dial_cancel(c->fwd_dial);
        if (c->fwd) {
            rft_chan_close(c->fwd);
            c->fwd = NULL;
        }
        fwd_fail_all(c, ERR_NOT_LEADER, MGR_MSG_NO_LEADER);
        if (c->logfwd_ch)
            logfwd_drop(c);
        return;
    }

    while (*pp) {
        struct fwd_req *q = *pp;
        if (q->deadline <= now) {
            struct err e;
            *pp = q->next;
            err_set(&e, -ETIMEDOUT, "%s", MGR_MSG_NO_LEADER);
            if (q->cb)
                q->cb(-ETIMEDOUT, &e, "", q->data);
            free(q);
        } else {
            pp = &q->next;
        }
    }
}

/* ---- server-side channels (refcounted: channel + in-flight writes) --------- */

struct schan {
    struct mgr_cluster *c;
    struct rft_chan *ch;
    struct schan *next, **pprev; /* c->schans while ch is open */
    int refs;
    char cn[MGR_ID_LEN + 1];
    bool manager;
    bool kind_session; /* an agent's SESSION channel */
    uint64_t log_peer; /* > 0: a follower proxies service logs on this RPC channel */
};

static struct schan *schan_new(struct mgr_cluster *c, struct rft_chan *ch)
{
    struct schan *s = calloc(1, sizeof(*s));
    const struct tls_peer *peer = rft_chan_peer(ch);

    if (!s)
        return NULL;
    s->c = c;
    s->ch = ch;
    s->refs = 1;
    s->next = c->schans;
    if (s->next)
        s->next->pprev = &s->next;
    s->pprev = &c->schans;
    c->schans = s;
    if (peer && peer->has_cert) {
        copy_str(s->cn, sizeof(s->cn), peer->cn);
        s->manager = strcmp(peer->ou, RFT_OU_MANAGER) == 0;
    }
    return s;
}

static void schan_unlink(struct schan *s)
{
    if (!s->pprev)
        return;
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    s->next = NULL;
    s->pprev = NULL;
}

static void schan_unref(struct schan *s)
{
    if (--s->refs == 0) {
        schan_unlink(s);
        free(s);
    }
}

static void on_schan_close(struct rft_chan *ch, int status)
{
    struct schan *s = rft_chan_data(ch);

    (void)status;
    if (s->c->disp && s->cn[0])
        mgr_disp_session(s->c->disp, s->cn, ch, NULL);
    if (s->c->log_sink && s->cn[0] && s->kind_session)
        s->c->log_sink(s->c->log_sink_ud, s->cn, NULL);
    if (s->log_peer && s->c->agent.logs) {
        json_t *m = json_pack("{s:s,s:I}", "t", "peergone", "peer", (json_int_t)s->log_peer);
        if (m)
            s->c->agent.logs(s->c->agent.ud, m);
        json_decref(m);
    }
    s->ch = NULL;
    schan_unlink(s);
    schan_unref(s);
}

/* Accept a server-side channel of the cluster port: track it and read its
 * frames (a channel refused here is closed). */
static void schan_accept(struct mgr_cluster *c, struct rft_chan *ch, bool managers_only,
                         bool session, size_t max_frame, rft_chan_msg_cb on_msg)
{
    struct schan *s = schan_new(c, ch);

    if (!s || (managers_only && !s->manager)) {
        if (s)
            schan_unref(s);
        rft_chan_close(ch);
        return;
    }
    if (max_frame)
        rft_chan_set_max_frame(ch, max_frame);
    s->kind_session = session;
    /* on failure the close callback still runs and releases s */
    (void)rft_chan_start(ch, on_msg, on_schan_close, s);
}

/* Close every server-side channel: a peer that is cut off never closes its
 * end, and an open channel keeps the loop (and a stopping shoald) alive. */
static void schans_close_all(struct mgr_cluster *c)
{
    while (c->schans) {
        struct schan *s = c->schans;
        struct rft_chan *ch = s->ch;
        schan_unlink(s);
        if (ch)
            rft_chan_close(ch);
    }
}

/* ---- RPC server: forwarded writes --------------------------------------------- */

struct rpc_call {
    struct schan *s;
    json_int_t seq;
};

static void on_rpc_done(int status, const struct err *err, const char *id, void *data)
{
    struct rpc_call *rc = data;
    struct mgr_cluster *c = rc->s->c;

    if (rc->s->ch)
        (void)send_json(rc->s->ch,
                        json_pack("{s:s,s:I,s:i,s:s,s:s,s:I}", "t", "result", "seq", rc->seq,
                                  "status", status, "msg", err ? err->msg : "", "id", id ? id : "",
                                  "index",
                                  (json_int_t)(c->store ? mgr_store_last_index(c->store) : 0)));
    schan_unref(rc->s);
    free(rc);
}

/* A follower's service logs request: served by the node's log code, which
 * answers through mgr_cluster_peer_send (s->log_peer). */
static void rpc_logs(struct schan *s, json_t *o)
{
    struct mgr_cluster *c = s->c;
    bool start = strcmp(jstr(o, "t"), "logs") == 0;

    if (!s->log_peer)
        s->log_peer = ++c->log_peer_next;
    if (start && (!c->agent.logs || !mgr_cluster_is_leader(c))) {
        (void)send_json(s->ch, json_pack("{s:s,s:O,s:s}", "t", "logend", "req",
                                         json_object_get(o, "req"), "error", "not the leader"));
        return;
    }
    if (!c->agent.logs || json_object_set_new(o, "peer", json_integer((json_int_t)s->log_peer)))
        return;
    c->agent.logs(c->agent.ud, o);
}

static void on_rpc_msg(struct rft_chan *ch, const void *data, size_t len)
{
    struct schan *s = rft_chan_data(ch);
    struct mgr_cluster *c = s->c;
    json_t *o = parse_frame(data, len);
    json_int_t seq;
    struct rpc_call *rc;
    uint8_t *cmd = NULL;
    size_t clen = 0;
    struct err e = {0};
    int r;

    if (o && (strcmp(jstr(o, "t"), "logs") == 0 || strcmp(jstr(o, "t"), "logstop") == 0)) {
        rpc_logs(s, o);
        json_decref(o);
        return;
    }
    if (!o || strcmp(jstr(o, "t"), "propose") != 0) {
        json_decref(o);
        rft_chan_close(ch);
        return;
    }
    seq = json_integer_value(json_object_get(o, "seq"));
    if (!s->manager) {
        r = err_set(&e, -EPERM, "permission denied: manager certificate required");
    } else if (hex_decode(jstr(o, "cmd"), &cmd, &clen) < 0) {
        r = err_set(&e, -EINVAL, "malformed command");
    } else if (!c->rft || rft_state(c->rft) != RFT_LEADER) {
        /* (a leader whose barrier is pending holds the write: propose_bytes) */
        r = err_set(&e, ERR_NOT_LEADER, "%s", MGR_MSG_NO_LEADER);
    } else {
        rc = calloc(1, sizeof(*rc));
        rc->s = s;
        rc->seq = seq;
        s->refs++;
        r = propose_bytes(c, cmd, clen, on_rpc_done, rc, &e);
        if (r < 0) {
            s->refs--;
            free(rc);
        }
    }
    free(cmd);
    if (r < 0)
        (void)send_json(ch, json_pack("{s:s,s:I,s:i,s:s,s:s}", "t", "result", "seq", seq, "status",
                                      r, "msg", e.msg, "id", ""));
    json_decref(o);
}

static void on_rpc_conn(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                        void *data)
{
    (void)p;
    (void)body;
    (void)len;
    /* worker certificates may not call manager RPCs */
    schan_accept(data, ch, true, false, 0, on_rpc_msg);
}

/* ---- node description ------------------------------------------------------ */

struct desc {
    char hostname[256];
    char arch[65];
    int64_t cpus;
    int64_t mem;
};

static void local_desc(struct desc *d)
{
    struct utsname u;
    struct sysinfo si;

    memset(d, 0, sizeof(*d));
    (void)gethostname(d->hostname, sizeof(d->hostname) - 1);
    if (uname(&u) == 0)
        snprintf(d->arch, sizeof(d->arch), "%s", u.machine);
    if (sysinfo(&si) == 0)
        d->mem = (int64_t)si.totalram * (int64_t)si.mem_unit;
    d->cpus = sysconf(_SC_NPROCESSORS_ONLN) * 1000000000LL;
}

static Shoal__Store__Plugin plug[] = {
    {PROTOBUF_C_MESSAGE_INIT(&shoal__store__plugin__descriptor), (char *)"Log",
     (char *)"json-file"},
    {PROTOBUF_C_MESSAGE_INIT(&shoal__store__plugin__descriptor), (char *)"Network",
     (char *)"bridge"},
    {PROTOBUF_C_MESSAGE_INIT(&shoal__store__plugin__descriptor), (char *)"Network", (char *)"host"},
    {PROTOBUF_C_MESSAGE_INIT(&shoal__store__plugin__descriptor), (char *)"Network", (char *)"null"},
    {PROTOBUF_C_MESSAGE_INIT(&shoal__store__plugin__descriptor), (char *)"Network",
     (char *)"overlay"},
};
static Shoal__Store__Plugin *plugp[] = {&plug[0], &plug[1], &plug[2], &plug[3], &plug[4]};

/* Build a NodeCreate command for a node (strings borrowed). */
struct node_cmd {
    MgrCommand cmd;
    Shoal__Store__NodeCreate nc;
    MgrNode n;
    MgrNodeSpec sp;
    MgrNodeDescription d;
    MgrNodeStatus st;
    MgrManagerStatus ms;
};

static void node_cmd_build(struct node_cmd *b, const char *id, uint64_t raft_id, int role,
                           int avail, const char *hostname, const char *arch, int64_t cpus,
                           int64_t mem, const char *engine, const char *ip, const char *mgr_addr,
                           int state)
{
    shoal__store__store_command__init(&b->cmd);
    shoal__store__node_create__init(&b->nc);
    shoal__store__node__init(&b->n);
    shoal__store__node_spec__init(&b->sp);
    shoal__store__node_description__init(&b->d);
    shoal__store__node_status__init(&b->st);
    shoal__store__manager_status__init(&b->ms);
    b->sp.role = (Shoal__Store__NodeRole)role;
    b->sp.availability = (Shoal__Store__NodeAvailability)avail;
    b->d.hostname = (char *)hostname;
    b->d.architecture = (char *)arch;
    b->d.os = (char *)"linux";
    b->d.nano_cpus = cpus;
    b->d.memory_bytes = mem;
    b->d.engine_version = (char *)engine;
    b->d.plugins = plugp;
    b->d.n_plugins = sizeof(plugp) / sizeof(plugp[0]);
    b->st.state = (Shoal__Store__NodeState)state;
    b->st.addr = (char *)ip;
    b->ms.addr = (char *)mgr_addr;
    b->ms.reachability = SHOAL__STORE__REACHABILITY__REACH_REACHABLE;
    b->n.id = (char *)id;
    b->n.spec = &b->sp;
    b->n.description = &b->d;
    b->n.status = &b->st;
    b->n.role = (Shoal__Store__NodeRole)role;
    b->n.raft_id = raft_id;
    if (role == MGR_ROLE_MANAGER)
        b->n.manager_status = &b->ms;
    b->nc.node = &b->n;
    b->cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_CREATE;
    b->cmd.node_create = &b->nc;
}

/* ---- leadership ------------------------------------------------------------- */

static struct hb *hb_get(struct mgr_cluster *c, const char *id, bool create)
{
    for (size_t i = 0; i < c->n_hbs; i++)
        if (strcmp(c->hbs[i].id, id) == 0)
            return &c->hbs[i];
    if (!create)
        return NULL;
    struct hb *n = realloc(c->hbs, (c->n_hbs + 1) * sizeof(*n));
    if (!n)
        return NULL;
    c->hbs = n;
    memset(&n[c->n_hbs], 0, sizeof(*n));
    snprintf(n[c->n_hbs].id, sizeof(n->id), "%s", id);
    n[c->n_hbs].last = uv_now(c->loop);
    return &n[c->n_hbs++];
}

static void on_boot_written(int status, const struct err *err_in, const char *id, void *data)
{
    struct mgr_cluster *c = data;
    mgr_cluster_cb cb = c->init_cb;
    struct err e;
    const struct err *err = err_in;

    (void)id;
    if (status < 0)
        log_error("swarm init: %s", err ? err->msg : "");
    if (c->boot[1] && status == 0) {
        /* ClusterCreate applied: now the node */
        void *b = c->boot[1];
        c->boot[1] = NULL;
        if (propose_bytes(c, b, c->boot_len[1], on_boot_written, c, &e) < 0) {
            free(b);
            status = e.code;
            err = &e;
        } else {
            free(b);
            return;
        }
    }
    free(c->boot[1]);
    c->boot[1] = NULL;
    c->init_cb = NULL;
    if (status == 0)
        save_state(c);
    if (cb)
        cb(status, err, c->node_id, c->init_data);
}

/* ---- services: controllers on the leader, the local agent ---------------------- */

struct ctl_write {
    mgr_orch_done_cb done;
    void *data;
};

static void on_ctl_written(int status, const struct err *err, const char *id, void *data)
{
    struct ctl_write *w = data;

    (void)id;
    w->done(w->data, status, err);
    free(w);
}

static int ctl_write(void *ud, MgrCommand *cmd, mgr_orch_done_cb done, void *data, struct err *err)
{
    struct mgr_cluster *c = ud;
    struct ctl_write *w = malloc(sizeof(*w));
    int r;

    if (!w)
        return err_set(err, -ENOMEM, "out of memory");
    w->done = done;
    w->data = data;
    r = mgr_cluster_write(c, cmd, on_ctl_written, w, err);
    if (r < 0)
        free(w);
    return r;
}

static void agent_set(struct mgr_cluster *c, bool up)
{
    if (c->agent_up == up || !c->agent.session)
        return;
    c->agent_up = up;
    c->agent.session(c->agent.ud, up, c->node_id);
}

/* The leader's own agent gets its tasks without a channel. */
static int local_send(void *conn, json_t *msg)
{
    struct mgr_cluster *c = conn;

    if (c->agent.assign)
        c->agent.assign(c->agent.ud, msg);
    return 0;
}

static int chan_send(void *conn, json_t *msg)
{
    return send_json(conn, json_incref(msg));
}

static void on_store_change(void *ud, enum mgr_kind kind, enum mgr_change change,
                            const void *old_obj, const void *new_obj, uint64_t index)
{
    struct mgr_cluster *c = ud;

    (void)change;
    (void)old_obj;
    (void)new_obj;
    (void)index;
    if (kind == MGR_KIND_CLUSTER)
        raft_settings(c);
    if (kind == MGR_KIND_TASK)
        mgr_disp_kick(c->disp);
    mgr_orch_kick(c->orch);
}

static void controllers_stop(struct mgr_cluster *c)
{
    if (c->orch) {
        mgr_orch_close(c->orch);
        c->orch = NULL;
    }
    if (c->disp) {
        mgr_disp_close(c->disp);
        c->disp = NULL;
        agent_set(c, c->sess != NULL);
    }
}

static void controllers_start(struct mgr_cluster *c)
{
    controllers_stop(c);
    c->orch = mgr_orch_new(c->loop, c->store, ctl_write, c);
    c->disp = mgr_disp_new(c->loop, c->store, ctl_write, c);
    if (!c->orch || !c->disp) {
        log_error("out of memory starting the service controllers");
        return;
    }
    mgr_orch_set_active(c->orch, true);
    if (c->agent.assign)
        mgr_disp_session(c->disp, c->node_id, c, local_send);
    agent_set(c, true);
}

void mgr_cluster_report(struct mgr_cluster *c, json_t *updates)
{
    if (c->disp)
        mgr_disp_status(c->disp, c->node_id, updates);
    else if (c->sess)
        (void)send_json(c->sess, json_pack("{s:s,s:O}", "t", "status", "updates", updates));
}

static void on_leader(struct rft *r, bool ready, void *data)
{
    struct mgr_cluster *c = data;

    (void)r;
    c->leader_ready = ready;
    log_info("%s",
             ready ? "this manager is now the leader" : "this manager is no longer the leader");
    if (!ready) {
        controllers_stop(c);
        return;
    }
    controllers_start(c);
    /* a new leader starts every node's heartbeat timer from now */
    free(c->hbs);
    c->hbs = NULL;
    c->n_hbs = 0;
    c->rec_busy = false;
    if (c->boot[0]) {
        void *b = c->boot[0];
        struct err e;
        c->boot[0] = NULL;
        if (propose_bytes(c, b, c->boot_len[0], on_boot_written, c, &e) < 0)
            on_boot_written(e.code, &e, "", c);
        free(b);
    }
}

static int start_manager(struct mgr_cluster *c, bool bootstrap, bool force_new, struct err *err)
{
    struct rft_opts o = {0};
    int r;

    if ((r = mkdir_p(c->raft_dir, 0700)) < 0)
        return err_set(err, r, "creating %s: %s", c->raft_dir, strerror(-r));
    if (!c->port && (r = open_port(c, err)) < 0)
        return r;
    c->store = mgr_store_new();
    if (!c->store || mgr_store_watch(c->store, MGR_N_KINDS, on_store_change, c) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    o.data_dir = c->raft_dir;
    o.raft_id = c->raft_id;
    o.address = c->mgr_addr;
    o.fsm = (struct rft_fsm){.data = c,
                             .apply = fsm_apply,
                             .free_result = fsm_free_result,
                             .snapshot = fsm_snapshot,
                             .restore = fsm_restore};
    o.port = c->port;
    o.client_ctx = c->cli;
    o.leader_cb = on_leader;
    o.cb_data = c;
    o.force_new_cluster = force_new;
    r = rft_open(c->loop, &o, &c->rft, err);
    if (r < 0)
        return r;
    if (bootstrap && (r = rft_bootstrap(c->rft, err)) < 0 && r != -EEXIST)
        return r;
    if ((r = rft_start(c->rft, err)) < 0)
        return r;
    c->manager = true;
    return 0;
}

/* ---- start from disk -------------------------------------------------------- */

static int load_state(struct mgr_cluster *c, struct err *err)
{
    char *s = read_text(c, "state.json");
    json_t *o;
    unsigned port;
    char host[ADDR_MAX];

    if (!s)
        return -ENOENT;
    o = json_loads(s, 0, NULL);
    free(s);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(err, -EINVAL, "swarm state.json is corrupt");
    }
    snprintf(c->node_id, sizeof(c->node_id), "%s", jstr(o, "node_id"));
    snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", jstr(o, "cluster_id"));
    c->manager = strcmp(jstr(o, "role"), "manager") == 0;
    c->raft_id = (uint64_t)json_integer_value(json_object_get(o, "raft_id"));
    snprintf(c->listen_addr, sizeof(c->listen_addr), "%s",
             c->opt_listen ? c->opt_listen : jstr(o, "listen_addr"));
    snprintf(c->adv_ip, sizeof(c->adv_ip), "%s",
             c->opt_advertise ? c->opt_advertise : jstr(o, "advertise_addr"));
    set_managers(c, json_object_get(o, "managers"));
    json_decref(o);
    split_addr(c->listen_addr, host, sizeof(host), &port);
    (void)!snprintf(c->mgr_addr, sizeof(c->mgr_addr), "%.40s:%u", c->adv_ip, port);
    c->ca_pem = read_text(c, "ca.pem");
    c->key_pem = read_text(c, "node-key.pem");
    c->cert_pem = read_text(c, "node-cert.pem");
    if (!c->ca_pem || !c->key_pem || !c->cert_pem || !mgr_id_valid(c->node_id))
        return err_set(err, -EINVAL, "swarm state in %s is incomplete", c->swarm_dir);
    return 0;
}

int mgr_cluster_open(const struct mgr_cluster_opts *o, struct mgr_cluster **ret, struct err *err)
{
    struct mgr_cluster *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return err_set(err, -ENOMEM, "out of memory");
    c->loop = o->loop;
    snprintf(c->data_root, sizeof(c->data_root), "%s", o->data_root);
    snprintf(c->swarm_dir, sizeof(c->swarm_dir), "%s/swarm", o->data_root);
    snprintf(c->raft_dir, sizeof(c->raft_dir), "%s/swarm/raft", o->data_root);
    c->opt_listen = o->listen_addr ? strdup(o->listen_addr) : NULL;
    c->opt_advertise = o->advertise_addr ? strdup(o->advertise_addr) : NULL;
    c->engine_version = strdup(o->engine_version ? o->engine_version : "0");
    c->hb_ms = o->heartbeat_ms ? o->heartbeat_ms : 2000;
    c->agent = o->agent;
    c->grace = o->heartbeat_grace ? o->heartbeat_grace : 3;
    uv_timer_init(c->loop, &c->tick);
    c->tick.data = c;
    uv_timer_init(c->loop, &c->wait_timer);
    c->wait_timer.data = c;
    uv_unref((uv_handle_t *)&c->wait_timer);
    uv_timer_init(c->loop, &c->join_timer);
    c->join_timer.data = c;
    uv_unref((uv_handle_t *)&c->join_timer);
    *ret = c;

    r = load_state(c, err);
    if (r == -ENOENT)
        return 0;
    if (r < 0) {
        c->state = MGR_LOCAL_ERROR;
        copy_str(c->errmsg, sizeof(c->errmsg), err->msg);
        log_error("%s", err->msg);
        return 0;
    }
    r = make_ctxs(c, err);
    if (r == 0 && c->manager)
        r = start_manager(c, false, false, err);
    if (r < 0) {
        c->state = MGR_LOCAL_ERROR;
        copy_str(c->errmsg, sizeof(c->errmsg), err->msg);
        log_error("rejoining the swarm: %s", err->msg);
        return 0;
    }
    c->state = MGR_LOCAL_ACTIVE;
    start_agent_tick(c);
    log_info("rejoined the swarm as %s %s", c->manager ? "manager" : "worker", c->node_id);
    return 0;
}

/* ---- init ---------------------------------------------------------------------- */

static int pick_addresses(struct mgr_cluster *c, const char *req_listen, const char *req_adv,
                          const char *remote, struct err *err)
{
    char host[ADDR_MAX], rhost[ADDR_MAX];
    unsigned port, rport;

    snprintf(c->listen_addr, sizeof(c->listen_addr), "%s",
             c->opt_listen ? c->opt_listen
                           : (req_listen && *req_listen ? req_listen : MGR_DEFAULT_LISTEN_ADDR));
    split_addr(c->listen_addr, host, sizeof(host), &port);
    if (!is_ipv4(host))
        return err_set(err, -EINVAL, "invalid listen address %s: an IPv4 address is required",
                       c->listen_addr);
    if (!strchr(c->listen_addr, ':'))
        (void)!snprintf(c->listen_addr, sizeof(c->listen_addr), "%.40s:%u", host, port);
    c->adv_ip[0] = '\0';
    if (c->opt_advertise)
        snprintf(c->adv_ip, sizeof(c->adv_ip), "%s", c->opt_advertise);
    else if (req_adv && *req_adv)
        snprintf(c->adv_ip, sizeof(c->adv_ip), "%s", req_adv);
    if (c->adv_ip[0]) {
        char a[ADDR_MAX];
        unsigned ap;
        split_addr(c->adv_ip, a, sizeof(a), &ap);
        snprintf(c->adv_ip, sizeof(c->adv_ip), "%s", a);
    } else if (strcmp(host, "0.0.0.0") != 0) {
        snprintf(c->adv_ip, sizeof(c->adv_ip), "%s", host);
    } else if (remote) {
        split_addr(remote, rhost, sizeof(rhost), &rport);
        if (local_addr_for(rhost, c->adv_ip, sizeof(c->adv_ip)) < 0)
            c->adv_ip[0] = '\0';
    }
    if (!c->adv_ip[0])
        return err_set(err, -EINVAL,
                       "could not choose an IP address to advertise since this system has "
                       "multiple addresses on different interfaces");
    if (!is_ipv4(c->adv_ip))
        return err_set(err, -EINVAL, "advertise address must be a non-zero IPv4 address (%s)",
                       c->adv_ip);
    (void)!snprintf(c->mgr_addr, sizeof(c->mgr_addr), "%.40s:%u", c->adv_ip, port);
    return 0;
}

static void reset_identity(struct mgr_cluster *c)
{
    free(c->ca_pem);
    free(c->key_pem);
    free(c->cert_pem);
    c->ca_pem = c->key_pem = c->cert_pem = NULL;
    c->node_id[0] = c->cluster_id[0] = '\0';
    c->raft_id = 0;
    free(c->mgrs);
    c->mgrs = NULL;
    c->n_mgrs = 0;
}

static int do_force_new_cluster(struct mgr_cluster *c, mgr_cluster_cb cb, void *data,
                                struct err *err);

int mgr_cluster_init(struct mgr_cluster *c, const struct mgr_swarm_init_req *req, mgr_cluster_cb cb,
                     void *data, struct err *err)
{
    CLEANUP(mgr_ca_freep_) struct mgr_ca *ca = NULL;
    char wtok[MGR_TOKEN_LEN + 1], mtok[MGR_TOKEN_LEN + 1];
    char *ca_key = NULL, *csr = NULL;
    struct desc d;
    int r;

    if (c->state == MGR_LOCAL_ACTIVE && req->force_new_cluster && c->manager)
        return do_force_new_cluster(c, cb, data, err);
    if (c->state != MGR_LOCAL_INACTIVE || c->leaving)
        return err_set(err, -EALREADY, "%s", MGR_MSG_ALREADY_IN_SWARM);
    if (req->autolock_managers)
        return err_set(err, -EINVAL, "autolock is not supported by shoal");
    r = pick_addresses(c, req->listen_addr, req->advertise_addr, NULL, err);
    if (r < 0)
        return r;
    reset_identity(c);
    if ((r = mgr_ca_create(&ca, err)) < 0 || (r = mgr_ca_cert_pem(ca, &c->ca_pem, err)) < 0 ||
        (r = mgr_ca_key_pem(ca, &ca_key, err)) < 0 ||
        (r = mgr_ca_make_csr(&c->key_pem, &csr, err)) < 0 || (r = mgr_id_new(c->node_id)) < 0 ||
        (r = mgr_id_new(c->cluster_id)) < 0 ||
        (r = mgr_ca_sign(ca, csr, c->node_id, MGR_ROLE_MANAGER, c->cluster_id, 0, &c->cert_pem,
                         err)) < 0 ||
        (r = mgr_token_new(c->ca_pem, wtok, err)) < 0 ||
        (r = mgr_token_new(c->ca_pem, mtok, err)) < 0)
        goto fail;
    c->raft_id = mgr_raft_id_from_node_id(c->node_id);

    /* the two first commands, proposed once this node leads */
    {
        MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
        Shoal__Store__ClusterCreate cc = SHOAL__STORE__CLUSTER_CREATE__INIT;
        MgrCluster cl = SHOAL__STORE__CLUSTER__INIT;
        MgrClusterSpec sp = *req->spec;
        struct node_cmd nb;

        if (sp.heartbeat_period_ns == 5000000000LL)
            sp.heartbeat_period_ns = (int64_t)c->hb_ms * 1000000;
        cl.id = c->cluster_id;
        cl.spec = &sp;
        cl.worker_token = wtok;
        cl.manager_token = mtok;
        cl.ca_cert_pem = c->ca_pem;
        cl.ca_key_pem = ca_key;
        cl.default_addr_pool = req->default_addr_pool;
        cl.n_default_addr_pool = req->n_default_addr_pool;
        cl.subnet_size = req->subnet_size ? req->subnet_size : 24;
        cl.data_path_port = req->data_path_port ? req->data_path_port : 4789;
        cc.cluster = &cl;
        cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_CLUSTER_CREATE;
        cmd.cluster_create = &cc;
        if ((r = mgr_cmd_pack(&cmd, &c->boot[0], &c->boot_len[0], err)) < 0)
            goto fail;
        local_desc(&d);
        node_cmd_build(&nb, c->node_id, c->raft_id, MGR_ROLE_MANAGER, req->availability, d.hostname,
                       d.arch, d.cpus, d.mem, c->engine_version, c->adv_ip, c->mgr_addr,
                       SHOAL__STORE__NODE_STATE__STATE_READY);
        if ((r = mgr_cmd_pack(&nb.cmd, &c->boot[1], &c->boot_len[1], err)) < 0)
            goto fail;
    }
    (void)rm_rf(c->swarm_dir);
    if ((r = mkdir_p(c->swarm_dir, 0700)) < 0) {
        err_set(err, r, "creating %s: %s", c->swarm_dir, strerror(-r));
        goto fail;
    }
    if ((r = write_text(c, "ca.pem", c->ca_pem, 0644)) < 0 ||
        (r = write_text(c, "node-key.pem", c->key_pem, 0600)) < 0 ||
        (r = write_text(c, "node-cert.pem", c->cert_pem, 0644)) < 0) {
        err_set(err, r, "writing swarm certificates: %s", strerror(-r));
        goto fail;
    }
    c->manager = true;
    if ((r = save_state(c)) < 0) {
        err_set(err, r, "writing swarm state: %s", strerror(-r));
        goto fail;
    }
    if ((r = make_ctxs(c, err)) < 0 || (r = start_manager(c, true, false, err)) < 0)
        goto fail_started;
    c->init_cb = cb;
    c->init_data = data;
    c->state = MGR_LOCAL_ACTIVE;
    start_agent_tick(c);
    free(ca_key);
    free(csr);
    log_info("swarm initialized: node %s, cluster %s, cluster port %s", c->node_id, c->cluster_id,
             c->listen_addr);
    return 0;
fail_started:
    /* undo what was started; the state dir goes away with it */
    c->state = MGR_LOCAL_ACTIVE;
    teardown(c, NULL);
    free(ca_key);
    free(csr);
    return r;
fail:
    free(c->boot[0]);
    free(c->boot[1]);
    c->boot[0] = c->boot[1] = NULL;
    c->manager = false;
    reset_identity(c);
    free(ca_key);
    free(csr);
    return r;
}

/* ---- teardown (leave) -------------------------------------------------------- */

static void (*teardown_done)(struct mgr_cluster *c);

static void teardown_step(struct mgr_cluster *c)
{
    if (--c->closing > 0)
        return;
    (void)rm_rf(c->swarm_dir);
    controllers_stop(c);
    agent_set(c, false);
    if (c->agent.left)
        c->agent.left(c->agent.ud);
    c->store = mgr_store_free(c->store);
    c->manager = false;
    c->leader_ready = false;
    free(c->hbs);
    c->hbs = NULL;
    c->n_hbs = 0;
    reset_identity(c);
    c->state = MGR_LOCAL_INACTIVE;
    c->leaving = false;
    log_info("left the swarm");
    if (teardown_done)
        teardown_done(c);
}

static void on_rft_closed(void *data)
{
    teardown_step(data);
}

static void on_port_closed(void *data)
{
    teardown_step(data);
}

static void teardown(struct mgr_cluster *c, void (*done)(struct mgr_cluster *c))
{
    c->leaving = true;
    teardown_done = done;
    c->closing = 1;
    uv_timer_stop(&c->tick);
    if (c->sess_dial)
        rft_dial_cancel(c->sess_dial);
    if (c->sess)
        rft_chan_close(c->sess);
    if (c->fwd_dial)
        rft_dial_cancel(c->fwd_dial);
    if (c->fwd)
        rft_chan_close(c->fwd);
    schans_close_all(c);
    fwd_fail_all(c, ERR_NOT_MANAGER, "this node left the swarm");
    held_release(c, ERR_NOT_MANAGER);
    if (c->rft) {
        struct rft *r = c->rft;
        c->rft = NULL;
        c->closing++;
        rft_close(r, on_rft_closed, c);
    }
    if (c->port) {
        struct rft_port *p = c->port;
        c->port = NULL;
        c->closing++;
        rft_port_close(p, on_port_closed, c);
    }
    if (c->init_cb) {
        struct err e;
        mgr_cluster_cb cb = c->init_cb;
        c->init_cb = NULL;
        err_set(&e, -ECANCELED, "swarm init was cancelled");
        cb(-ECANCELED, &e, "", c->init_data);
    }
    free(c->boot[0]);
    free(c->boot[1]);
    c->boot[0] = c->boot[1] = NULL;
    teardown_step(c);
}

static void leave_done(struct mgr_cluster *c)
{
    mgr_cluster_cb cb = c->leave_cb;

    c->leave_cb = NULL;
    if (cb)
        cb(0, NULL, "", c->leave_data);
}

static void leave_remove_self(struct mgr_cluster *c);

static void on_leave_retry(uv_timer_t *t)
{
    leave_remove_self(t->data);
}

static void on_leave_removed(int status, const struct err *err, const char *id, void *data)
{
    struct mgr_cluster *c = data;

    (void)id;
    /* right after a leadership transfer the new leader may not serve yet */
    if ((status == ERR_NOT_LEADER || status == -ETIMEDOUT) && uv_now(c->loop) < c->leave_deadline) {
        uv_timer_start(&c->join_timer, on_leave_retry, 300, 0);
        return;
    }
    if (status < 0)
        log_warn("removing this node from the swarm: %s, ignoring", err ? err->msg : "");
    teardown(c, leave_done);
}

static void leave_remove_self(struct mgr_cluster *c)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeRemove nr = SHOAL__STORE__NODE_REMOVE__INIT;
    struct err e;

    nr.id = c->node_id;
    nr.force = true;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_REMOVE;
    cmd.node_remove = &nr;
    if (cluster_write(c, &cmd, false, on_leave_removed, c, &e) < 0)
        on_leave_removed(e.code, &e, "", c);
}

static void on_leave_transferred(struct rft *r, int status, const struct err *err, void *data)
{
    struct mgr_cluster *c = data;

    (void)r;
    if (status < 0) {
        log_warn("leadership transfer before leaving: %s", err ? err->msg : "");
        teardown(c, leave_done);
        return;
    }
    /* give the new leader a moment to become ready, then ask it */
    leave_remove_self(c);
}

int mgr_cluster_leave(struct mgr_cluster *c, bool force, mgr_cluster_cb cb, void *data,
                      struct err *err)
{
    size_t others = 0;

    if (c->leaving)
        return err_set(err, -EBUSY, "this node is already leaving the swarm");
    if (c->state == MGR_LOCAL_INACTIVE)
        return err_set(err, ERR_NOT_MANAGER, "%s", MGR_MSG_NOT_IN_SWARM);
    if (c->state == MGR_LOCAL_PENDING)
        return err_set(err, -EBUSY, "this node is joining a swarm");
    if (c->manager && !force)
        return err_set(err, ERR_NOT_MANAGER, "%s", MGR_MSG_LEAVE_MANAGER);
    c->leave_cb = cb;
    c->leave_data = data;
    if (c->manager && c->store && c->rft) {
        size_t n = mgr_store_count(c->store, MGR_KIND_NODE);
        for (size_t i = 0; i < n; i++) {
            const MgrNode *nd = mgr_store_at(c->store, MGR_KIND_NODE, i);
            if (nd->role == MGR_ROLE_MANAGER && strcmp(nd->id, c->node_id) != 0)
                others++;
        }
    }
    if (others > 0) {
        c->leaving = true;
        c->leave_deadline = uv_now(c->loop) + 10000;
        if (rft_state(c->rft) == RFT_LEADER &&
            rft_transfer_leadership(c->rft, 0, on_leave_transferred, c, NULL) == 0)
            return 0;
        leave_remove_self(c);
        return 0;
    }
    teardown(c, leave_done);
    return 0;
}

/* ---- force new cluster -------------------------------------------------------- */

static mgr_cluster_cb fnc_cb;
static void *fnc_data;

static void on_fnc_rft_closed(void *data)
{
    struct mgr_cluster *c = data;
    struct err e = {0};
    int r;

    controllers_stop(c);
    c->store = mgr_store_free(c->store);
    c->manager = false;
    r = start_manager(c, false, true, &e);
    c->leaving = false;
    if (fnc_cb)
        fnc_cb(r, r ? &e : NULL, c->node_id, fnc_data);
}

static int do_force_new_cluster(struct mgr_cluster *c, mgr_cluster_cb cb, void *data,
                                struct err *err)
{
    if (!c->rft)
        return err_set(err, -EINVAL, "raft is not running");
    fnc_cb = cb;
    fnc_data = data;
    c->leaving = true;
    struct rft *r = c->rft;
    c->rft = NULL;
    c->leader_ready = false;
    rft_close(r, on_fnc_rft_closed, c);
    return 0;
}

/* ---- join: server side --------------------------------------------------------- */

struct jreq {
    struct schan *s;
    char node_id[MGR_ID_LEN + 1];
    int role;
    uint64_t raft_id;
    char *csr;
};

static void join_reply_err(struct rft_chan *ch, const char *msg)
{
    if (ch)
        (void)send_json(ch, json_pack("{s:s,s:s}", "t", "error", "msg", msg));
}

static void on_join_created(int status, const struct err *err, const char *id, void *data)
{
    struct jreq *j = data;
    struct mgr_cluster *c = j->s->c;
    const MgrCluster *cl = c->store ? mgr_store_cluster(c->store) : NULL;
    CLEANUP(mgr_ca_freep_) struct mgr_ca *ca = NULL;
    char *cert = NULL;
    struct err e;

    (void)id;
    if (status < 0) {
        join_reply_err(j->s->ch, err ? err->msg : "join failed");
    } else if (!cl || mgr_ca_load(cl->ca_cert_pem, cl->ca_key_pem, &ca, &e) < 0 ||
               mgr_ca_sign(ca, j->csr, j->node_id, j->role, cl->id, cl->spec->node_cert_expiry_ns,
                           &cert, &e) < 0) {
        join_reply_err(j->s->ch, cl ? e.msg : "the cluster is not initialised");
    } else if (j->s->ch) {
        (void)send_json(j->s->ch,
                        json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:o}", "t", "joined", "node_id",
                                  j->node_id, "cluster_id", cl->id, "role", mgr_role_str(j->role),
                                  "raft_id", (json_int_t)j->raft_id, "cert", cert, "ca",
                                  cl->ca_cert_pem, "managers", managers_json(c)));
        log_info("node %s joined as %s", j->node_id, mgr_role_str(j->role));
    }
    free(cert);
    free(j->csr);
    schan_unref(j->s);
    free(j);
}

static void on_join_msg(struct rft_chan *ch, const void *data, size_t len);

/* A join that reached a manager whose store has not caught up yet (it
 * joined a moment ago, or restarted and waits for the leader's commit
 * index): retried every 100 ms until the cluster object is there. */
#define JOIN_PARK_MS 15000

struct jpark {
    uv_timer_t timer;
    struct schan *s;
    uint64_t deadline;
    size_t len;
    uint8_t data[];
};

static void on_jpark_closed(uv_handle_t *h)
{
    struct jpark *jp = h->data;

    schan_unref(jp->s);
    free(jp);
}

static void on_jpark_timer(uv_timer_t *t)
{
    struct jpark *jp = t->data;
    struct mgr_cluster *c = jp->s->c;

    if (jp->s->ch && !(c->store && mgr_store_cluster(c->store)) && uv_now(c->loop) < jp->deadline &&
        c->manager)
        return;
    uv_timer_stop(t);
    if (jp->s->ch && c->store && mgr_store_cluster(c->store))
        on_join_msg(jp->s->ch, jp->data, jp->len);
    else if (jp->s->ch)
        join_reply_err(jp->s->ch, "the cluster is not initialised");
    uv_close((uv_handle_t *)t, on_jpark_closed);
}

static bool join_park(struct schan *s, const void *data, size_t len)
{
    struct mgr_cluster *c = s->c;
    struct jpark *jp;

    if (!c->manager || !c->rft || !c->store)
        return false;
    jp = malloc(sizeof(*jp) + len);
    if (!jp)
        return false;
    jp->s = s;
    jp->deadline = uv_now(c->loop) + JOIN_PARK_MS;
    jp->len = len;
    memcpy(jp->data, data, len);
    s->refs++;
    uv_timer_init(c->loop, &jp->timer);
    jp->timer.data = jp;
    uv_timer_start(&jp->timer, on_jpark_timer, 100, 100);
    log_debug("join request parked: this manager's store has not caught up yet");
    return true;
}

static void on_join_msg(struct rft_chan *ch, const void *data, size_t len)
{
    struct schan *s = rft_chan_data(ch);
    struct mgr_cluster *c = s->c;
    const MgrCluster *cl = c->store ? mgr_store_cluster(c->store) : NULL;
    json_t *o;
    struct node_cmd nb;
    struct jreq *j;
    struct err e = {0};
    char msg[ERR_MSG_MAX + 64];
    int role, avail = 0;
    char maddr[ADDR_MAX];
    const char *ip;
    unsigned port;

    o = parse_frame(data, len);
    if (o && !cl && strcmp(jstr(o, "t"), "join") == 0 && join_park(s, data, len)) {
        json_decref(o);
        return;
    }
    if (!o || strcmp(jstr(o, "t"), "join") != 0 || !cl) {
        join_reply_err(ch, cl ? "malformed join request" : "the cluster is not initialised");
        goto out;
    }
    port = (unsigned)json_integer_value(json_object_get(o, "port"));
    if (mgr_token_role(jstr(o, "token"), cl->worker_token, cl->manager_token, &role, &e) < 0) {
        snprintf(msg, sizeof(msg), "rpc error: code = InvalidArgument desc = %s", e.msg);
        join_reply_err(ch, msg);
        goto out;
    }
    ip = jstr(o, "addr");
    if (!is_ipv4(ip) || port == 0 || port > 65535 ||
        mgr_parse_availability(jstr(o, "availability"), true, &avail, &e) < 0) {
        join_reply_err(ch, e.msg[0] ? e.msg : "invalid address in the join request");
        goto out;
    }
    j = calloc(1, sizeof(*j));
    if (!j)
        goto out;
    j->s = s;
    j->role = role;
    j->csr = strdup(jstr(o, "csr"));
    (void)mgr_id_new(j->node_id);
    j->raft_id = mgr_raft_id_from_node_id(j->node_id);
    while (mgr_store_raft_id_in_use(c->store, j->raft_id))
        j->raft_id = mgr_raft_id_next(j->raft_id);
    snprintf(maddr, sizeof(maddr), "%s:%u", ip, port);
    node_cmd_build(&nb, j->node_id, j->raft_id, role, avail, jstr(o, "hostname"), jstr(o, "arch"),
                   (int64_t)json_integer_value(json_object_get(o, "cpus")),
                   (int64_t)json_integer_value(json_object_get(o, "mem")), jstr(o, "engine"), ip,
                   maddr, SHOAL__STORE__NODE_STATE__STATE_UNKNOWN);
    s->refs++;
    if (mgr_cluster_write(c, &nb.cmd, on_join_created, j, &e) < 0) {
        s->refs--;
        join_reply_err(ch, e.msg);
        free(j->csr);
        free(j);
    }
out:
    json_decref(o);
}

static void on_join_conn(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                         void *data)
{
    (void)p;
    (void)body;
    (void)len;
    schan_accept(data, ch, false, false, 64 * 1024, on_join_msg);
}

/* ---- join: client side ----------------------------------------------------------- */

static void join_release(struct mgr_cluster *c)
{
    if (c->join_ch) {
        struct rft_chan *ch = c->join_ch;
        c->join_ch = NULL;
        rft_chan_close(ch);
    }
    free(c->join_token);
    free(c->join_key);
    free(c->join_csr);
    free(c->join_remote);
    c->join_token = c->join_key = c->join_csr = c->join_remote = NULL;
}

static void join_finish(struct mgr_cluster *c, int status, const struct err *err)
{
    mgr_cluster_cb cb = c->join_cb;

    c->join_cb = NULL;
    uv_timer_stop(&c->join_timer);
    join_release(c);
    if (status < 0) {
        reset_identity(c);
        c->manager = false;
        c->state = MGR_LOCAL_INACTIVE;
    }
    if (cb)
        cb(status, err, c->node_id, c->join_data);
}

static void join_active(struct mgr_cluster *c)
{
    c->state = MGR_LOCAL_ACTIVE;
    start_agent_tick(c);
    log_info("joined the swarm as %s %s", c->manager ? "manager" : "worker", c->node_id);
}

static void on_join_voter_check(uv_timer_t *t)
{
    struct mgr_cluster *c = t->data;
    struct err e;

    if (c->state != MGR_LOCAL_PENDING || !c->rft || c->leaving) {
        uv_timer_stop(t);
        return;
    }
    if (rft_is_voter(c->rft)) {
        join_active(c);
        if (c->join_cb)
            join_finish(c, 0, NULL);
        else
            uv_timer_stop(t);
        return;
    }
    if (c->join_cb && uv_now(c->loop) >= c->join_voter_deadline) {
        /* docker's answer; this node keeps waiting for its promotion */
        mgr_cluster_cb cb = c->join_cb;
        c->join_cb = NULL;
        log_warn("not a raft voter %u ms after joining; still joining in the background",
                 JOIN_VOTER_WAIT_MS);
        err_set(&e, -ETIMEDOUT, "%s", MSG_JOIN_BACKGROUND);
        cb(e.code, &e, c->node_id, c->join_data);
    }
}

static void on_join_reply(struct rft_chan *ch, const void *data, size_t len)
{
    struct mgr_cluster *c = rft_chan_data(ch);
    json_t *o = parse_frame(data, len);
    struct mgr_cert_info ci;
    struct err e = {0};
    int r;

    if (!c->join_cb || ch != c->join_ch) {
        json_decref(o);
        return;
    }
    if (!o || strcmp(jstr(o, "t"), "joined") != 0) {
        err_set(&e, -EINVAL, "%s", o ? jstr(o, "msg") : "malformed answer from the manager");
        json_decref(o);
        join_finish(c, e.code, &e);
        return;
    }
    /* the certificate must chain to the CA the token pinned */
    if (mgr_ca_verify(c->ca_pem, jstr(o, "cert"), 0, &ci, &e) < 0 ||
        strcmp(ci.cn, jstr(o, "node_id")) != 0) {
        json_decref(o);
        err_set(&e, -EACCES, "the manager sent an invalid certificate");
        join_finish(c, e.code, &e);
        return;
    }
    snprintf(c->node_id, sizeof(c->node_id), "%s", jstr(o, "node_id"));
    snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", jstr(o, "cluster_id"));
    c->raft_id = (uint64_t)json_integer_value(json_object_get(o, "raft_id"));
    c->manager = strcmp(jstr(o, "role"), "manager") == 0;
    c->cert_pem = strdup(jstr(o, "cert"));
    c->key_pem = c->join_key;
    c->join_key = NULL;
    set_managers(c, json_object_get(o, "managers"));
    json_decref(o);

    (void)rm_rf(c->swarm_dir);
    if ((r = mkdir_p(c->swarm_dir, 0700)) < 0 ||
        (r = write_text(c, "ca.pem", c->ca_pem, 0644)) < 0 ||
        (r = write_text(c, "node-key.pem", c->key_pem, 0600)) < 0 ||
        (r = write_text(c, "node-cert.pem", c->cert_pem, 0644)) < 0 || (r = save_state(c)) < 0) {
        err_set(&e, r, "saving swarm state: %s", strerror(-r));
        (void)rm_rf(c->swarm_dir);
        join_finish(c, r, &e);
        return;
    }
    r = make_ctxs(c, &e);
    if (r == 0 && c->manager)
        r = start_manager(c, false, false, &e);
    if (r < 0) {
        (void)rm_rf(c->swarm_dir);
        join_finish(c, r, &e);
        return;
    }
    if (c->manager) {
        /* As docker, a manager join returns once this node is a voting
         * member (the leader adds it as a non-voter and promotes it when it
         * has caught up): returning earlier leaves a window in which losing
         * the leader loses the quorum. */
        join_release(c);
        c->join_voter_deadline = uv_now(c->loop) + JOIN_VOTER_WAIT_MS;
        uv_timer_start(&c->join_timer, on_join_voter_check, 20, 20);
        return;
    }
    join_active(c);
    join_finish(c, 0, NULL);
}

static void on_join_close(struct rft_chan *ch, int status)
{
    struct mgr_cluster *c = rft_chan_data(ch);
    struct err e;

    if (c->join_ch != ch)
        return;
    c->join_ch = NULL;
    if (c->join_cb) {
        err_set(&e, -ECONNRESET, "the manager closed the join connection (%s)",
                status ? strerror(-status) : "eof");
        join_finish(c, e.code, &e);
    }
}

static void on_join_dialed(struct rft_chan *ch, int status, const struct err *err, void *data)
{
    struct mgr_cluster *c = data;
    struct desc d;
    struct err e;
    char host[ADDR_MAX];
    unsigned port;

    c->join_dial = NULL;
    if (!c->join_cb) {
        if (ch)
            rft_chan_close(ch);
        return;
    }
    if (status < 0) {
        if (err && strstr(err->msg, "pin"))
            err_set(&e, -EACCES, "remote CA does not match fingerprint. Expected: %s",
                    c->join_token);
        else
            err_set(&e, status, "could not reach the manager at %s: %s", c->join_remote,
                    err ? err->msg : strerror(-status));
        join_finish(c, e.code, &e);
        return;
    }
    free(c->ca_pem);
    c->ca_pem = NULL;
    if (rft_chan_peer_root_pem(ch, &c->ca_pem) < 0 ||
        mgr_token_check_ca(c->join_token, c->ca_pem, &e) < 0) {
        rft_chan_close(ch);
        if (!c->ca_pem)
            err_set(&e, -EACCES, "remote CA does not match fingerprint");
        join_finish(c, -EACCES, &e);
        return;
    }
    c->join_ch = ch;
    rft_chan_start(ch, on_join_reply, on_join_close, c);
    local_desc(&d);
    split_addr(c->listen_addr, host, sizeof(host), &port);
    (void)send_json(ch,
                    json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:i,s:s}", "t", "join", "token",
                              c->join_token, "csr", c->join_csr, "hostname", d.hostname, "arch",
                              d.arch, "cpus", (json_int_t)d.cpus, "mem", (json_int_t)d.mem,
                              "engine", c->engine_version, "addr", c->adv_ip, "port", (int)port,
                              "availability", mgr_availability_str(c->join_avail)));
}

static void on_join_timeout(uv_timer_t *t)
{
    struct mgr_cluster *c = t->data;
    struct err e;

    if (c->join_dial) {
        rft_dial_cancel(c->join_dial);
        return; /* the dial callback finishes the join */
    }
    err_set(&e, -ETIMEDOUT, "timeout joining the swarm at %s", c->join_remote);
    join_finish(c, e.code, &e);
}

int mgr_cluster_join(struct mgr_cluster *c, const struct mgr_swarm_join_req *req, mgr_cluster_cb cb,
                     void *data, struct err *err)
{
    char digest[MGR_TOKEN_DIGEST_LEN + 1], secret[MGR_TOKEN_SECRET_LEN + 1];
    uint8_t pin[32];
    int r;

    if (c->state != MGR_LOCAL_INACTIVE || c->leaving)
        return err_set(err, -EALREADY, "%s", MGR_MSG_ALREADY_IN_SWARM);
    if ((r = mgr_token_parse(req->join_token, digest, secret, err)) < 0)
        return r;
    if (digest_to_pin(digest, pin) < 0)
        return err_set(err, -EINVAL, "invalid join token");
    r = pick_addresses(c, req->listen_addr, req->advertise_addr, req->remote_addrs[0], err);
    if (r < 0)
        return r;
    reset_identity(c);
    if (!c->join_ctx && (r = tls_ctx_new(TLS_CLIENT, NULL, NULL, NULL, &c->join_ctx, err)) < 0)
        return r;
    if ((r = mgr_ca_make_csr(&c->join_key, &c->join_csr, err)) < 0)
        return r;
    c->join_token = strdup(req->join_token);
    c->join_remote = strdup(req->remote_addrs[0]);
    c->join_avail = req->availability;
    if (!strchr(c->join_remote, ':')) {
        char *a = NULL;
        if (asprintf(&a, "%s:2377", c->join_remote) > 0) {
            free(c->join_remote);
            c->join_remote = a;
        }
    }
    c->join_cb = cb;
    c->join_data = data;
    r = rft_dial(c->loop, c->join_ctx, c->join_remote, pin, RFT_KIND_JOIN, "", 0, on_join_dialed, c,
                 &c->join_dial, err);
    if (r < 0) {
        c->join_cb = NULL;
        free(c->join_token);
        free(c->join_remote);
        free(c->join_key);
        free(c->join_csr);
        c->join_token = c->join_remote = c->join_key = c->join_csr = NULL;
        return r;
    }
    c->state = MGR_LOCAL_PENDING;
    uv_timer_start(&c->join_timer, on_join_timeout, JOIN_TIMEOUT_MS, 0);
    return 0;
}

/* ---- dispatcher (SESSION server) ------------------------------------------------ */

static int64_t cluster_hb_ms(const struct mgr_cluster *c)
{
    const MgrCluster *cl = c->store ? mgr_store_cluster(c->store) : NULL;

    if (cl && cl->spec && cl->spec->heartbeat_period_ns >= 100000000LL)
        return cl->spec->heartbeat_period_ns / 1000000;
    return c->hb_ms;
}

static void on_session_msg(struct rft_chan *ch, const void *data, size_t len)
{
    struct schan *s = rft_chan_data(ch);
    struct mgr_cluster *c = s->c;
    json_t *o = parse_frame(data, len);
    const MgrNode *n;
    const char *t = o ? jstr(o, "t") : "";

    if (!o) {
        rft_chan_close(ch);
        return;
    }
    if (!c->leader_ready || !c->rft || !rft_ready_as_leader(c->rft)) {
        char laddr[ADDR_MAX] = "";
        uint64_t lid = 0;
        if (c->rft)
            (void)rft_leader(c->rft, &lid, laddr);
        (void)send_json(ch, json_pack("{s:s,s:s}", "t", "redirect", "leader",
                                      lid && lid != c->raft_id ? laddr : ""));
        json_decref(o);
        return;
    }
    n = mgr_store_node(c->store, s->cn);
    if (!n) {
        (void)send_json(ch, json_pack("{s:s,s:s}", "t", "error", "msg", "node not found"));
        rft_chan_close(ch);
        json_decref(o);
        return;
    }
    if (c->disp && strcmp(n->id, c->node_id) != 0)
        mgr_disp_session(c->disp, n->id, ch, chan_send);
    if (strcmp(t, "status") == 0) {
        if (c->disp)
            mgr_disp_status(c->disp, n->id, json_object_get(o, "updates"));
    } else if (strcmp(t, "loglines") == 0 || strcmp(t, "logend") == 0) {
        if (c->log_sink)
            c->log_sink(c->log_sink_ud, n->id, o);
    } else if (strcmp(t, "hb") == 0) {
        struct hb *h = hb_get(c, n->id, true);
        if (h) {
            h->last = uv_now(c->loop);
            h->got = true;
            snprintf(h->addr, sizeof(h->addr), "%s", jstr(o, "addr"));
        }
        (void)send_json(ch, json_pack("{s:s,s:I,s:s,s:o}", "t", "ok", "period_ms",
                                      (json_int_t)cluster_hb_ms(c), "role", mgr_role_str(n->role),
                                      "managers", managers_json(c)));
    } else if (strcmp(t, "cert") == 0) {
        const MgrCluster *cl = mgr_store_cluster(c->store);
        CLEANUP(mgr_ca_freep_) struct mgr_ca *ca = NULL;
        char *cert = NULL;
        struct err e;
        if (mgr_ca_load(cl->ca_cert_pem, cl->ca_key_pem, &ca, &e) == 0 &&
            mgr_ca_sign(ca, jstr(o, "csr"), n->id, n->role, cl->id, cl->spec->node_cert_expiry_ns,
                        &cert, &e) == 0)
            (void)send_json(ch,
                            json_pack("{s:s,s:s,s:s,s:I}", "t", "cert", "cert", cert, "role",
                                      mgr_role_str(n->role), "raft_id", (json_int_t)n->raft_id));
        else
            (void)send_json(ch, json_pack("{s:s,s:s}", "t", "error", "msg", e.msg));
        free(cert);
    }
    json_decref(o);
}

static void on_session_conn(struct rft_port *p, struct rft_chan *ch, const void *body, size_t len,
                            void *data)
{
    (void)p;
    (void)body;
    (void)len;
    schan_accept(data, ch, false, true, 256 * 1024, on_session_msg);
}

/* ---- agent (SESSION client) ------------------------------------------------------ */

static void switch_role(struct mgr_cluster *c, bool to_manager, const char *cert, uint64_t raft_id);

static void agent_send_hb(struct mgr_cluster *c)
{
    if (!c->sess)
        return;
    c->sess_sent = uv_now(c->loop);
    (void)send_json(c->sess, json_pack("{s:s,s:s}", "t", "hb", "addr", c->mgr_addr));
}

static void on_agent_msg(struct rft_chan *ch, const void *data, size_t len)
{
    struct mgr_cluster *c = rft_chan_data(ch);
    json_t *o = parse_frame(data, len);
    const char *t = o ? jstr(o, "t") : "";

    if (ch != c->sess) {
        json_decref(o);
        return;
    }
    c->sess_recv = uv_now(c->loop);
    if (strcmp(t, "ok") == 0) {
        json_int_t p = json_integer_value(json_object_get(o, "period_ms"));
        bool want_mgr = strcmp(jstr(o, "role"), "manager") == 0;
        if (p >= 100 && p <= 600000)
            c->hb_ms = (unsigned)p;
        if (!c->manager) {
            json_t *old = managers_json(c), *nw = json_object_get(o, "managers");
            if (!json_equal(old, nw)) {
                set_managers(c, nw);
                save_state(c);
            }
            json_decref(old);
        }
        if (want_mgr != c->manager && !c->cert_pending) {
            char *csr = NULL;
            struct err e;
            free(c->cert_key_pending);
            c->cert_key_pending = NULL;
            if (mgr_ca_make_csr(&c->cert_key_pending, &csr, &e) == 0) {
                c->cert_pending = true;
                (void)send_json(ch, json_pack("{s:s,s:s}", "t", "cert", "csr", csr));
            }
            free(csr);
        }
    } else if (strcmp(t, "tasks") == 0) {
        if (c->agent.assign)
            c->agent.assign(c->agent.ud, o);
    } else if (strcmp(t, "logs") == 0 || strcmp(t, "logstop") == 0) {
        if (c->agent.logs)
            c->agent.logs(c->agent.ud, o);
    } else if (strcmp(t, "cert") == 0 && c->cert_pending) {
        c->cert_pending = false;
        switch_role(c, strcmp(jstr(o, "role"), "manager") == 0, jstr(o, "cert"),
                    (uint64_t)json_integer_value(json_object_get(o, "raft_id")));
    } else if (strcmp(t, "redirect") == 0) {
        snprintf(c->sess_target, sizeof(c->sess_target), "%s", jstr(o, "leader"));
        rft_chan_close(ch);
    } else if (strcmp(t, "error") == 0) {
        log_warn("manager refused the session: %s", jstr(o, "msg"));
        c->cert_pending = false;
    }
    json_decref(o);
}

static void on_agent_close(struct rft_chan *ch, int status)
{
    struct mgr_cluster *c = rft_chan_data(ch);

    (void)status;
    if (c->sess != ch)
        return;
    c->sess = NULL;
    c->cert_pending = false;
    if (c->agent.logs)
        c->agent.logs(c->agent.ud, NULL);
    if (!c->disp)
        agent_set(c, false);
    if (!c->sess_target[0]) {
        c->sess_idx++;
        c->sess_retry = uv_now(c->loop) + 300;
    } else {
        c->sess_retry = uv_now(c->loop) + 50;
    }
}

static void on_agent_dialed(struct rft_chan *ch, int status, const struct err *err, void *data)
{
    struct mgr_cluster *c = data;

    c->sess_dial = NULL;
    if (status < 0) {
        log_debug("session dial: %s", err ? err->msg : "");
        c->sess_target[0] = '\0';
        c->sess_idx++;
        c->sess_retry = uv_now(c->loop) + 300;
        return;
    }
    if (c->state != MGR_LOCAL_ACTIVE || c->leaving) {
        rft_chan_close(ch);
        return;
    }
    c->sess = ch;
    c->sess_recv = uv_now(c->loop);
    rft_chan_start(ch, on_agent_msg, on_agent_close, c);
    agent_send_hb(c);
    agent_set(c, true);
}

static void agent_tick(struct mgr_cluster *c, uint64_t now)
{
    char addr[ADDR_MAX] = "";

    if (c->leader_ready) {
        /* the leader's own agent is the dispatcher itself */
        if (c->sess)
            rft_chan_close(c->sess);
        return;
    }
    if (c->sess) {
        if (now - c->sess_sent >= c->hb_ms)
            agent_send_hb(c);
        if (now - c->sess_recv > (uint64_t)c->hb_ms * c->grace) {
            log_warn("no answer from the manager for %u ms, trying another",
                     (unsigned)(now - c->sess_recv));
            c->sess_target[0] = '\0';
            rft_chan_close(c->sess);
        }
        return;
    }
    if (c->sess_dial || now < c->sess_retry)
        return;
    if (c->sess_target[0]) {
        snprintf(addr, sizeof(addr), "%s", c->sess_target);
        c->sess_target[0] = '\0';
    } else if (c->rft) {
        uint64_t lid = 0;
        if (rft_leader(c->rft, &lid, addr) < 0 || lid == c->raft_id)
            addr[0] = '\0';
    }
    if (!addr[0]) {
        json_t *m = managers_json(c);
        size_t n = json_array_size(m);
        for (size_t k = 0; k < n && !addr[0]; k++) {
            json_t *e = json_array_get(m, (c->sess_idx + k) % n);
            if (strcmp(jstr(e, "id"), c->node_id) != 0)
                snprintf(addr, sizeof(addr), "%s", jstr(e, "addr"));
            else if (n == 1)
                break;
        }
        json_decref(m);
    }
    if (!addr[0]) {
        c->sess_retry = now + 500;
        return;
    }
    if (rft_dial(c->loop, c->cli, addr, NULL, RFT_KIND_SESSION, "", 0, on_agent_dialed, c,
                 &c->sess_dial, NULL) < 0) {
        c->sess_dial = NULL;
        c->sess_idx++;
        c->sess_retry = now + 500;
    }
}

/* ---- service logs: frames between the leader and agents ------------------------- */

#define AGENT_LOG_QUEUE_MAX (8u << 20)

int mgr_cluster_agent_send(struct mgr_cluster *c, json_t *msg)
{
    if (!c->sess) {
        json_decref(msg);
        return -ENOTCONN;
    }
    if (rft_chan_pending(c->sess) > AGENT_LOG_QUEUE_MAX) {
        json_decref(msg);
        return -ENOBUFS;
    }
    return send_json(c->sess, msg);
}

int mgr_cluster_send_to_node(struct mgr_cluster *c, const char *node_id, json_t *msg)
{
    if (!c->disp || !c->leader_ready)
        return ERR_NOT_LEADER;
    if (strcmp(node_id, c->node_id) == 0)
        return -ENOTCONN; /* the leader's own agent has no channel */
    return mgr_disp_send(c->disp, node_id, msg);
}

void mgr_cluster_set_log_sink(struct mgr_cluster *c, mgr_cluster_log_fn fn, void *ud)
{
    c->log_sink = fn;
    c->log_sink_ud = ud;
}

/* ---- service logs: a follower's requests proxied to the leader ------------------ */

bool mgr_cluster_is_leader(const struct mgr_cluster *c)
{
    return c->disp && c->leader_ready && c->rft && rft_ready_as_leader(c->rft);
}

void mgr_cluster_set_logfwd_sink(struct mgr_cluster *c, mgr_cluster_logfwd_fn fn, void *ud)
{
    c->logfwd_fn = fn;
    c->logfwd_ud = ud;
}

int mgr_cluster_send_to_leader(struct mgr_cluster *c, json_t *msg)
{
    char laddr[ADDR_MAX];
    uint64_t lid = 0;
    struct pending_send *p;
    char *frame;
    struct err e;
    int r;

    if (!c->rft || rft_leader(c->rft, &lid, laddr) < 0 || lid == c->raft_id) {
        json_decref(msg);
        return ERR_NOT_LEADER;
    }
    frame = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!frame)
        return -ENOMEM;
    if (c->fwd && strcmp(c->fwd_addr, laddr) != 0) {
        /* the channel goes to a former leader (as in fwd_send) */
        rft_chan_close(c->fwd);
        c->fwd = NULL;
        fwd_fail_all(c, ERR_NOT_LEADER, MGR_MSG_NO_LEADER);
    }
    if (c->fwd) {
        if (c->logfwd_ch && c->logfwd_ch != c->fwd)
            logfwd_drop(c); /* requests on a replaced channel get no answer */
        r = rft_chan_send(c->fwd, frame, strlen(frame));
        free(frame);
        if (r == 0)
            c->logfwd_ch = c->fwd;
        return r;
    }
    if (c->fwd_dial && strcmp(c->fwd_addr, laddr) != 0) {
        free(frame);
        return ERR_NOT_LEADER;
    }
    if (c->logfwd_ch)
        logfwd_drop(c); /* that channel is closing: its requests get no answer */
    p = calloc(1, sizeof(*p));
    if (!p) {
        free(frame);
        return -ENOMEM;
    }
    p->frame = frame;
    p->next = fwd_queue;
    fwd_queue = p;
    if (!c->fwd_dial) {
        snprintf(c->fwd_addr, sizeof(c->fwd_addr), "%s", laddr);
        if (rft_dial(c->loop, c->cli, laddr, NULL, RFT_KIND_RPC, "", 0, on_fwd_dialed, c,
                     &c->fwd_dial, &e) < 0) {
            c->fwd_dial = NULL;
            fwd_queue = p->next;
            free(p->frame);
            free(p);
            return ERR_NOT_LEADER;
        }
    }
    c->logfwd_pending = true;
    return 0;
}

int mgr_cluster_peer_send(struct mgr_cluster *c, uint64_t peer, json_t *msg)
{
    struct schan *s = c->schans;

    while (s && s->log_peer != peer)
        s = s->next;
    if (!peer || !s || !s->ch) {
        json_decref(msg);
        return -ENOTCONN;
    }
    if (rft_chan_pending(s->ch) > AGENT_LOG_QUEUE_MAX) {
        json_decref(msg);
        return -ENOBUFS;
    }
    return send_json(s->ch, msg);
}

/* ---- role switch on this node (promotion / demotion) ----------------------- */

static void on_demote_rft_closed(void *data)
{
    struct mgr_cluster *c = data;

    controllers_stop(c);
    c->store = mgr_store_free(c->store);
    c->leader_ready = false;
    (void)rm_rf(c->raft_dir);
    save_state(c);
    log_info("demoted: this node is now a worker");
}

static void on_demote_port_closed(void *data)
{
    (void)data;
}

static void switch_role(struct mgr_cluster *c, bool to_manager, const char *cert, uint64_t raft_id)
{
    struct mgr_cert_info ci;
    struct err e;
    char *key = c->cert_key_pending;

    c->cert_key_pending = NULL;
    if (!key || mgr_ca_verify(c->ca_pem, cert, 0, &ci, &e) < 0 || strcmp(ci.cn, c->node_id) != 0 ||
        strcmp(ci.ou, to_manager ? MGR_OU_MANAGER : MGR_OU_WORKER) != 0) {
        log_warn("role change: the manager sent an unusable certificate");
        free(key);
        return;
    }
    free(c->cert_pem);
    free(c->key_pem);
    c->cert_pem = strdup(cert);
    c->key_pem = key;
    (void)write_text(c, "node-key.pem", c->key_pem, 0600);
    (void)write_text(c, "node-cert.pem", c->cert_pem, 0644);
    if (make_ctxs(c, &e) < 0) {
        log_error("role change: %s", e.msg);
        return;
    }
    if (to_manager) {
        c->raft_id = raft_id;
        (void)rm_rf(c->raft_dir);
        if (start_manager(c, false, false, &e) < 0) {
            log_error("promotion: starting raft: %s", e.msg);
            return;
        }
        save_state(c);
        log_info("promoted: this node is now a manager (raft id %llu)",
                 (unsigned long long)raft_id);
    } else {
        struct rft *r = c->rft;
        struct rft_port *p = c->port;
        c->rft = NULL;
        c->port = NULL;
        c->manager = false;
        c->leader_ready = false;
        if (c->fwd)
            rft_chan_close(c->fwd);
        if (r)
            rft_close(r, on_demote_rft_closed, c);
        else
            on_demote_rft_closed(c);
        if (p)
            rft_port_close(p, on_demote_port_closed, c);
    }
    /* reconnect the session with the new certificate */
    if (c->sess)
        rft_chan_close(c->sess);
}

/* ---- leader: dispatcher timers and the role reconciler ------------------------- */

static void on_status_written(int status, const struct err *err, const char *id, void *data)
{
    struct mgr_cluster *c = data;

    (void)status;
    (void)err;
    for (size_t i = 0; i < c->n_hbs; i++)
        if (strcmp(c->hbs[i].id, id ? id : "") == 0)
            c->hbs[i].inflight = false;
    if (status < 0) /* id is unknown on failure: unblock everybody */
        for (size_t i = 0; i < c->n_hbs; i++)
            c->hbs[i].inflight = false;
}

static void set_status(struct mgr_cluster *c, struct hb *h, const MgrNode *n, int state,
                       const char *msg)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeSetStatus ns = SHOAL__STORE__NODE_SET_STATUS__INIT;
    MgrNodeStatus st = SHOAL__STORE__NODE_STATUS__INIT;

    st.state = (Shoal__Store__NodeState)state;
    st.message = (char *)msg;
    st.addr = n->status && n->status->addr ? n->status->addr : (char *)"";
    ns.id = n->id;
    ns.status = &st;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_STATUS;
    cmd.node_set_status = &ns;
    h->inflight = true;
    log_info("node %s is %s", n->id,
             state == SHOAL__STORE__NODE_STATE__STATE_READY ? "ready" : "down");
    if (mgr_cluster_write(c, &cmd, on_status_written, c, NULL) < 0)
        h->inflight = false;
}

static void dispatcher_tick(struct mgr_cluster *c, uint64_t now)
{
    size_t n = mgr_store_count(c->store, MGR_KIND_NODE);
    uint64_t grace = (uint64_t)cluster_hb_ms(c) * c->grace;

    for (size_t i = 0; i < n; i++) {
        const MgrNode *nd = mgr_store_at(c->store, MGR_KIND_NODE, i);
        struct hb *h = hb_get(c, nd->id, true);
        int st = nd->status ? (int)nd->status->state : 0;

        if (!h)
            return;
        nd = mgr_store_at(c->store, MGR_KIND_NODE, i);
        if (strcmp(nd->id, c->node_id) == 0) {
            h->last = now;
            h->got = true;
        }
        if (h->inflight)
            continue;
        if (h->got && now - h->last <= grace && st != SHOAL__STORE__NODE_STATE__STATE_READY)
            set_status(c, h, nd, SHOAL__STORE__NODE_STATE__STATE_READY, "");
        else if (now - h->last > grace && st != SHOAL__STORE__NODE_STATE__STATE_DOWN) {
            h->got = false;
            set_status(c, h, nd, SHOAL__STORE__NODE_STATE__STATE_DOWN, "heartbeat failure");
        }
    }
}

static void on_rec_change(struct rft *r, int status, const struct err *err, void *data)
{
    struct mgr_cluster *c = data;

    (void)r;
    c->rec_busy = false;
    if (status < 0 && status != -EAGAIN)
        log_info("membership change: %s", err ? err->msg : strerror(-status));
    c->rec_next = uv_now(c->loop) + (status < 0 ? 1000 : 0);
}

static void on_rec_written(int status, const struct err *err, const char *id, void *data)
{
    struct mgr_cluster *c = data;

    (void)id;
    c->rec_busy = false;
    if (status < 0)
        log_info("role change: %s", err ? err->msg : "");
}

static void set_role(struct mgr_cluster *c, const MgrNode *n, int role, const char *addr)
{
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__NodeSetRole sr = SHOAL__STORE__NODE_SET_ROLE__INIT;
    MgrManagerStatus ms = SHOAL__STORE__MANAGER_STATUS__INIT;

    ms.addr = (char *)addr;
    ms.reachability = SHOAL__STORE__REACHABILITY__REACH_REACHABLE;
    sr.id = n->id;
    sr.role = (Shoal__Store__NodeRole)role;
    if (role == MGR_ROLE_MANAGER)
        sr.manager_status = &ms;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_NODE_SET_ROLE;
    cmd.node_set_role = &sr;
    c->rec_busy = true;
    log_info("node %s: role is now %s", n->id, mgr_role_str(role));
    if (mgr_cluster_write(c, &cmd, on_rec_written, c, NULL) < 0)
        c->rec_busy = false;
}

static const struct rft_server *conf_find(const struct rft_server *s, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].id == id)
            return &s[i];
    return NULL;
}

static void reconcile_tick(struct mgr_cluster *c, uint64_t now)
{
    struct rft_server *conf = NULL;
    size_t nconf = 0, n;
    struct err e;

    if (c->rec_busy || now < c->rec_next || rft_configuration(c->rft, &conf, &nconf) < 0)
        return;
    n = mgr_store_count(c->store, MGR_KIND_NODE);
    for (size_t i = 0; i < n && !c->rec_busy; i++) {
        const MgrNode *nd = mgr_store_at(c->store, MGR_KIND_NODE, i);
        const struct rft_server *s = conf_find(conf, nconf, nd->raft_id);
        bool self = strcmp(nd->id, c->node_id) == 0;
        int r = 0;

        if (nd->spec->role == MGR_ROLE_MANAGER && nd->role == MGR_ROLE_WORKER) {
            struct hb *h = hb_get(c, nd->id, false);
            char addr[ADDR_MAX];
            if (h && h->addr[0])
                snprintf(addr, sizeof(addr), "%s", h->addr);
            else
                snprintf(addr, sizeof(addr), "%s:2377", nd->status->addr);
            set_role(c, nd, MGR_ROLE_MANAGER, addr);
        } else if (nd->role == MGR_ROLE_MANAGER && nd->spec->role == MGR_ROLE_MANAGER) {
            const char *addr = nd->manager_status ? nd->manager_status->addr : "";
            c->rec_busy = true;
            if (!s)
                r = rft_add_nonvoter(c->rft, nd->raft_id, addr, on_rec_change, c, &e);
            else if (s->role != RFT_ROLE_VOTER)
                r = rft_promote(c->rft, nd->raft_id, on_rec_change, c, &e);
            else
                c->rec_busy = false;
        } else if (nd->role == MGR_ROLE_MANAGER && nd->spec->role == MGR_ROLE_WORKER) {
            c->rec_busy = true;
            if (self)
                r = rft_transfer_leadership(c->rft, 0, on_rec_change, c, &e);
            else if (s && s->role == RFT_ROLE_VOTER)
                r = rft_demote(c->rft, nd->raft_id, on_rec_change, c, &e);
            else if (s)
                r = rft_remove(c->rft, nd->raft_id, on_rec_change, c, &e);
            else {
                c->rec_busy = false;
                set_role(c, nd, MGR_ROLE_WORKER, "");
            }
        }
        if (r < 0) {
            c->rec_busy = false;
            c->rec_next = now + 1000;
            if (r != -EAGAIN)
                log_info("reconcile node %s: %s", nd->id, e.msg);
        }
    }
    /* raft members whose node is gone or no longer a manager */
    for (size_t k = 0; k < nconf && !c->rec_busy; k++) {
        bool keep = conf[k].id == c->raft_id;
        for (size_t i = 0; i < n && !keep; i++) {
            const MgrNode *nd = mgr_store_at(c->store, MGR_KIND_NODE, i);
            if (nd->raft_id == conf[k].id && nd->role == MGR_ROLE_MANAGER)
                keep = true;
        }
        if (!keep) {
            c->rec_busy = true;
            if (rft_remove(c->rft, conf[k].id, on_rec_change, c, &e) < 0) {
                c->rec_busy = false;
                c->rec_next = now + 1000;
                log_info("removing raft member %llu: %s", (unsigned long long)conf[k].id, e.msg);
            }
        }
    }
    free(conf);
}

static void on_tick(uv_timer_t *t)
{
    struct mgr_cluster *c = t->data;
    uint64_t now = uv_now(c->loop);

    fwd_expire(c);
    waiters_check(c);
    if (c->state != MGR_LOCAL_ACTIVE || c->leaving)
        return;
    if (c->manager && c->rft && c->store && rft_ready_as_leader(c->rft) && !c->boot[1] &&
        mgr_store_cluster(c->store)) {
        dispatcher_tick(c, now);
        reconcile_tick(c, now);
    }
    agent_tick(c, now);
}

static void start_agent_tick(struct mgr_cluster *c)
{
    c->sess_retry = 0;
    uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
}

/* ---- queries -------------------------------------------------------------------- */

enum mgr_local_state mgr_cluster_state(const struct mgr_cluster *c)
{
    return c->state;
}

const char *mgr_cluster_state_str(const struct mgr_cluster *c)
{
    static const char *const names[] = {"inactive", "pending", "active", "error"};
    return names[c->state];
}

bool mgr_cluster_is_manager(const struct mgr_cluster *c)
{
    return c->state == MGR_LOCAL_ACTIVE && c->manager && c->store;
}

const char *mgr_cluster_node_id(const struct mgr_cluster *c)
{
    return c->node_id;
}

const struct mgr_store *mgr_cluster_store(const struct mgr_cluster *c)
{
    return mgr_cluster_is_manager(c) ? c->store : NULL;
}

static bool view_is_leader(void *ud, const MgrNode *n)
{
    struct mgr_cluster *c = ud;
    uint64_t lid = 0;

    return c->rft && rft_leader(c->rft, &lid, NULL) == 0 && lid == n->raft_id;
}

static int view_reachability(void *ud, const MgrNode *n)
{
    struct mgr_cluster *c = ud;
    struct rft_server *conf = NULL;
    size_t nconf = 0;
    const struct rft_server *s;
    int out = SHOAL__STORE__REACHABILITY__REACH_UNREACHABLE;
    uint64_t lid = 0;

    if (!c->rft || rft_configuration(c->rft, &conf, &nconf) < 0)
        return SHOAL__STORE__REACHABILITY__REACH_UNKNOWN;
    s = conf_find(conf, nconf, n->raft_id);
    if (!s)
        out = SHOAL__STORE__REACHABILITY__REACH_UNKNOWN;
    else if (rft_state(c->rft) == RFT_LEADER)
        out = s->reachable ? SHOAL__STORE__REACHABILITY__REACH_REACHABLE
                           : SHOAL__STORE__REACHABILITY__REACH_UNREACHABLE;
    else if (n->raft_id == c->raft_id ||
             (rft_leader(c->rft, &lid, NULL) == 0 && lid == n->raft_id) ||
             (n->status && n->status->state == SHOAL__STORE__NODE_STATE__STATE_READY))
        /* a follower only knows the leader first hand; others as the leader saw them */
        out = SHOAL__STORE__REACHABILITY__REACH_REACHABLE;
    free(conf);
    return out;
}

void mgr_cluster_json_ctx(struct mgr_cluster *c, struct mgr_json_ctx *ctx)
{
    const MgrCluster *cl = c->store ? mgr_store_cluster(c->store) : NULL;

    memset(ctx, 0, sizeof(*ctx));
    ctx->ca_cert_pem = cl ? cl->ca_cert_pem : c->ca_pem;
    ctx->is_leader = view_is_leader;
    ctx->reachability = view_reachability;
    ctx->ud = c;
}

json_t *mgr_cluster_info_json(const struct mgr_cluster *c)
{
    struct mgr_info_swarm in = {0};
    struct mgr_remote_manager *rm = NULL;
    json_t *m, *o;
    size_t n, i;

    in.local_node_state = mgr_cluster_state_str(c);
    in.node_id = c->state == MGR_LOCAL_ACTIVE ? c->node_id : "";
    in.node_addr = c->state == MGR_LOCAL_ACTIVE ? c->adv_ip : "";
    in.error = c->state == MGR_LOCAL_ERROR ? c->errmsg : "";
    if (c->state != MGR_LOCAL_ACTIVE)
        return mgr_json_info_swarm(&in);
    m = managers_json(c);
    n = json_array_size(m);
    rm = calloc(n + 1, sizeof(*rm));
    for (i = 0; rm && i < n; i++) {
        rm[i].node_id = jstr(json_array_get(m, i), "id");
        rm[i].addr = jstr(json_array_get(m, i), "addr");
    }
    in.remote_managers = rm;
    in.n_remote_managers = rm ? n : 0;
    if (mgr_cluster_is_manager(c)) {
        in.control_available = true;
        in.nodes = mgr_store_count(c->store, MGR_KIND_NODE);
        in.managers = mgr_store_manager_count(c->store);
        in.cluster = mgr_store_cluster(c->store);
    }
    o = mgr_json_info_swarm(&in);
    free(rm);
    json_decref(m);
    return o;
}

/* ---- shutdown -------------------------------------------------------------------- */

void mgr_cluster_shutdown(struct mgr_cluster *c)
{
    if (!c)
        return;
    uv_timer_stop(&c->tick);
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_close((uv_handle_t *)&c->join_timer, NULL);
    uv_close((uv_handle_t *)&c->wait_timer, NULL);
    if (c->join_dial)
        rft_dial_cancel(c->join_dial);
    if (c->join_ch)
        rft_chan_close(c->join_ch);
    if (c->sess_dial)
        rft_dial_cancel(c->sess_dial);
    if (c->sess)
        rft_chan_close(c->sess);
    if (c->fwd_dial)
        rft_dial_cancel(c->fwd_dial);
    if (c->fwd)
        rft_chan_close(c->fwd);
    schans_close_all(c);
    if (c->rft) {
        struct rft *r = c->rft;
        c->rft = NULL;
        rft_close(r, NULL, NULL);
    }
    if (c->port) {
        struct rft_port *p = c->port;
        c->port = NULL;
        rft_port_close(p, NULL, NULL);
    }
    c->state = MGR_LOCAL_INACTIVE;
}
