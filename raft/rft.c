/*
 * raft/rft.c - the replicated log: libraft 0.15 + uv disk backend + our TLS
 * transport, request-id dedupe, leadership barrier, membership with quorum
 * checks.
 *
 * Entry layout (every entry a multiple of 8 bytes: 0.15 does not check this
 * and writes an unrestartable log otherwise, raft-notes §4):
 *   [16 request id][u32 LE payload length][u32 LE magic "RFT1"][payload][0 pad]
 *
 * Dedupe: the last `dedupe_window` request ids applied are remembered in
 * apply order (FIFO ring + chained hash). Eviction depends only on the log,
 * so every node holds the same set, and the set travels in the snapshot:
 *   [u32 magic "RFTS"][u32 version 1][u32 count][u32 0][count x 16 ids,
 *    oldest first][u64 LE fsm length][fsm bytes]
 *
 * libraft 0.15 has no accessors for the configuration or the leader's
 * per-follower progress; the three functions that read struct raft fields
 * directly are marked (config_of, config_committed, progress_of) so an
 * upgrade touches only them.
 */
#define LOG_MODULE "raft"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/log.h"

#include "raft/internal.h"

#define ENTRY_MAGIC       0x31544652u /* "RFT1" little-endian */
#define SNAP_MAGIC        0x53544652u /* "RFTS" */
#define HDR_LEN           24
#define N_PENDING_BUCKETS 1024

struct prop {
    struct raft_apply req;
    struct rft *r;
    rft_propose_cb cb;
    void *data;
    struct prop *hnext;
    struct prop *qnext;     /* submit queue, or the list of orphans applied */
    struct raft_buffer buf; /* the entry, until it is submitted */
    uint8_t reqid[RFT_REQID_LEN];
    void *result;
    bool applied;
    bool dup;
    bool orphan;   /* its batch's callback came before its own entry applied */
    uint64_t term; /* the term it was submitted in */
};

/* Several proposals submitted in one raft_apply: libraft replicates them in
 * one AppendEntries per follower (0.15 sends one message per raft_apply
 * call), but calls back only for the first entry. Each entry finds its
 * proposal by request id in fsm_apply; those not applied yet when the batch's
 * callback comes are completed when their entry applies (orphans). */
#define BATCH_MAX_ENTRIES 256
#define BATCH_MAX_BYTES   (1u << 20)

struct batch {
    struct raft_apply req;
    struct rft *r;
    unsigned n;
    struct prop *props[];
};

struct seen {
    uint64_t id;
    uint64_t at; /* uv_now of last contact */
};

enum change_op { OP_NONE, OP_ADD, OP_ADD_ASSIGN, OP_PROMOTE, OP_DEMOTE, OP_REMOVE };

struct rft {
    uv_loop_t *loop;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    struct rft_fsm user;
    struct rft_opts opts;
    char *data_dir;
    char address[RFT_ADDR_MAX];
    uv_timer_t poll;
    bool raft_inited, started, closing;
    void (*close_cb)(void *);
    void *close_data;
    uint64_t applying; /* raft index of the entry fsm.apply is working on */
    /* leadership */
    bool was_leader, ready;
    uint64_t barrier_gen;
    /* dedupe */
    uint8_t (*ring)[RFT_REQID_LEN];
    int32_t *chain;
    int32_t *buckets;
    uint32_t nbuckets, window, count, head;
    /* local proposals waiting for their entry */
    struct prop *pending[N_PENDING_BUCKETS];
    /* proposals made during this loop iteration, submitted together from an
     * idle handle; orphans whose entry applied, completed from there too */
    uv_idle_t flush;
    struct prop *q_head, **q_tail, *orphans_done;
    unsigned n_orphans;
    int open_handles;
    /* reachability as seen by the leader */
    struct seen *seen;
    size_t n_seen;
    /* membership change in flight */
    struct raft_change change;
    enum change_op op;
    uint64_t op_id;
    rft_change_cb change_cb;
    void *change_data;
    struct raft_transfer transfer;
    bool transfer_busy;
    rft_change_cb transfer_cb;
    void *transfer_data;
};

/* ---- error mapping ------------------------------------------------------ */

int rft_errno(int code)
{
    switch (code) {
    case 0:
        return 0;
    case RAFT_NOMEM:
        return -ENOMEM;
    case RAFT_BADID:
    case RAFT_NOTFOUND:
        return -ENOENT;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_CANTBOOTSTRAP:
        return -EEXIST;
    case RAFT_BADROLE:
        return -EALREADY;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        return ERR_NOT_LEADER;
    case RAFT_SHUTDOWN:
        return -ESHUTDOWN;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
        return -EBUSY;
    case RAFT_CANCELED:
        return -ECANCELED;
    case RAFT_NAMETOOLONG:
        return -ENAMETOOLONG;
    case RAFT_TOOBIG:
        return -EMSGSIZE;
    case RAFT_NOCONNECTION:
        return -ETIMEDOUT;
    case RAFT_IOERR:
    case RAFT_CORRUPT:
        return -EIO;
    case RAFT_INVALID:
    case RAFT_MALFORMED:
        return -EINVAL;
    case RAFT_UNAUTHORIZED:
        return -EACCES;
    case RAFT_NOSPACE:
        return -ENOSPC;
    case RAFT_TOOMANY:
        return -EMFILE;
    default:
        return -EPROTO;
    }
}

static int not_leader(const struct rft *r, struct err *err)
{
    uint64_t id;
    char addr[RFT_ADDR_MAX];

    if (rft_leader(r, &id, addr) == 0 && id != r->opts.raft_id)
        return err_set(err, ERR_NOT_LEADER, "this node is not the leader; the leader is %s", addr);
    return err_set(err, ERR_NOT_LEADER,
                   "no leader: the managers cannot reach a quorum (election in progress or "
                   "quorum lost)");
}

/* ---- little-endian helpers ---------------------------------------------- */

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- dedupe set --------------------------------------------------------- */

/* All 16 bytes count: ids made by one process share their first 8 (a
 * random prefix) and differ in the last 8 (a counter). */
static uint32_t id_hash(const uint8_t *id)
{
    uint64_t h, lo;

    memcpy(&h, id, sizeof(h));
    memcpy(&lo, id + 8, sizeof(lo));
    h ^= lo * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

static int dedupe_init(struct rft *r, uint32_t window)
{
    uint32_t nb = 16;

    while (nb < 2 * window)
        nb <<= 1;
    r->window = window;
    r->nbuckets = nb;
    r->ring = calloc(window, sizeof(*r->ring));
    r->chain = calloc(window, sizeof(*r->chain));
    r->buckets = malloc(nb * sizeof(*r->buckets));
    if (!r->ring || !r->chain || !r->buckets)
        return -ENOMEM;
    memset(r->buckets, 0xff, nb * sizeof(*r->buckets));
    r->count = r->head = 0;
    return 0;
}

static void dedupe_reset(struct rft *r)
{
    memset(r->buckets, 0xff, r->nbuckets * sizeof(*r->buckets));
    r->count = r->head = 0;
}

static bool dedupe_has(const struct rft *r, const uint8_t *id)
{
    int32_t i = r->buckets[id_hash(id) & (r->nbuckets - 1)];

    for (; i >= 0; i = r->chain[i])
        if (memcmp(r->ring[i], id, RFT_REQID_LEN) == 0)
            return true;
    return false;
}

static void dedupe_add(struct rft *r, const uint8_t *id)
{
    uint32_t slot = r->head;
    int32_t *pp;

    if (r->count == r->window) { /* evict the oldest, which lives at head */
        pp = &r->buckets[id_hash(r->ring[slot]) & (r->nbuckets - 1)];
        while (*pp >= 0 && *pp != (int32_t)slot)
            pp = &r->chain[*pp];
        if (*pp == (int32_t)slot)
            *pp = r->chain[slot];
    } else {
        r->count++;
    }
    memcpy(r->ring[slot], id, RFT_REQID_LEN);
    pp = &r->buckets[id_hash(id) & (r->nbuckets - 1)];
    r->chain[slot] = *pp;
    *pp = (int32_t)slot;
    r->head = (slot + 1) % r->window;
}

/* ---- local proposals ---------------------------------------------------- */

static struct prop **pending_slot(struct rft *r, const uint8_t *id)
{
    return &r->pending[id_hash(id) % N_PENDING_BUCKETS];
}

static struct prop *pending_find(struct rft *r, const uint8_t *id)
{
    struct prop *p;

    for (p = *pending_slot(r, id); p; p = p->hnext)
        if (!p->applied && memcmp(p->reqid, id, RFT_REQID_LEN) == 0)
            return p;
    return NULL;
}

static void pending_del(struct rft *r, struct prop *p)
{
    struct prop **pp = pending_slot(r, p->reqid);

    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
}

/* ---- FSM bridge --------------------------------------------------------- */

static void on_flush(uv_idle_t *h);
static void prop_finish(struct rft *r, struct prop *p, int status);
static void orphans_fail(struct rft *r, uint64_t keep_term, int status);

/* An orphan's entry applied: complete it from the idle handle, outside
 * libraft's apply loop (as libraft's own callbacks come after the apply). */
static void orphan_applied(struct rft *r, struct prop *p)
{
    if (!p->orphan)
        return;
    p->orphan = false;
    r->n_orphans--;
    p->qnext = r->orphans_done;
    r->orphans_done = p;
    uv_idle_start(&r->flush, on_flush);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct rft *r = fsm->data;
    const uint8_t *b = buf->base;
    struct prop *p;
    void *res = NULL;
    uint32_t len;
    int rc;

    *result = NULL;
    if (buf->len < HDR_LEN || get_u32le(b + 20) != ENTRY_MAGIC ||
        (len = get_u32le(b + 16)) > buf->len - HDR_LEN) {
        log_error("skipping a malformed log entry of %zu bytes", buf->len);
        return 0;
    }
    p = pending_find(r, b);
    if (dedupe_has(r, b)) {
        if (p) {
            p->applied = true;
            p->dup = true;
            orphan_applied(r, p);
        }
        return 0;
    }
    /* 0.15 advances last_applied after the FSM returns (raft-notes §4) */
    r->applying = raft_last_applied(&r->raft) + 1;
    rc = r->user.apply(r->user.data, b + HDR_LEN, len, &res);
    r->applying = 0;
    if (rc != 0) {
        log_error("fsm apply failed (%d); the entry will be retried", rc);
        return RAFT_IOERR;
    }
    dedupe_add(r, b);
    if (p) {
        p->applied = true;
        p->result = res;
        orphan_applied(r, p);
    } else if (res && r->user.free_result) {
        r->user.free_result(r->user.data, res);
    }
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct rft *r = fsm->data;
    void *ub = NULL;
    size_t ulen = 0, total;
    uint8_t *out;
    uint32_t i, start;
    int rc;

    rc = r->user.snapshot(r->user.data, &ub, &ulen);
    if (rc != 0)
        return RAFT_BUSY;
    total = 16 + (size_t)r->count * RFT_REQID_LEN + 8 + ulen;
    *bufs = raft_malloc(sizeof(**bufs));
    out = raft_malloc(total);
    if (!*bufs || !out) {
        raft_free(*bufs);
        raft_free(out);
        free(ub);
        return RAFT_NOMEM;
    }
    put_u32le(out, SNAP_MAGIC);
    put_u32le(out + 4, 1);
    put_u32le(out + 8, r->count);
    put_u32le(out + 12, 0);
    start = (r->head + r->window - r->count) % r->window;
    for (i = 0; i < r->count; i++)
        memcpy(out + 16 + (size_t)i * RFT_REQID_LEN, r->ring[(start + i) % r->window],
               RFT_REQID_LEN);
    uint8_t *q = out + 16 + (size_t)r->count * RFT_REQID_LEN;
    put_u32le(q, (uint32_t)ulen);
    put_u32le(q + 4, (uint32_t)((uint64_t)ulen >> 32));
    if (ulen)
        memcpy(q + 8, ub, ulen);
    free(ub);
    (*bufs)[0].base = out;
    (*bufs)[0].len = total;
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct rft *r = fsm->data;
    const uint8_t *b = buf->base;
    uint32_t count, i;
    uint64_t ulen;
    const uint8_t *q;
    int rc;

    if (buf->len < 24 || get_u32le(b) != SNAP_MAGIC || get_u32le(b + 4) != 1)
        return RAFT_MALFORMED;
    count = get_u32le(b + 8);
    if ((buf->len - 24) / RFT_REQID_LEN < count)
        return RAFT_MALFORMED;
    q = b + 16 + (size_t)count * RFT_REQID_LEN;
    ulen = get_u32le(q) | (uint64_t)get_u32le(q + 4) << 32;
    if (ulen > buf->len - (size_t)(q + 8 - b))
        return RAFT_MALFORMED;
    rc = r->user.restore(r->user.data, q + 8, (size_t)ulen);
    if (rc != 0)
        return RAFT_MALFORMED;
    dedupe_reset(r);
    /* a smaller window than the snapshot's keeps the newest ids */
    for (i = count > r->window ? count - r->window : 0; i < count; i++)
        dedupe_add(r, b + 16 + (size_t)i * RFT_REQID_LEN);
    raft_free(buf->base);
    return 0;
}

/* ---- leadership tracking ------------------------------------------------ */

/* libraft 0.15 field access #1: the current configuration. */
static const struct raft_configuration *config_of(const struct rft *r)
{
    return &r->raft.configuration;
}

/* libraft 0.15 field access #3: is the current configuration committed? A
 * follower sets configuration_uncommitted_index when it appends a
 * configuration entry and clears it when that entry is applied. */
static bool config_committed(const struct rft *r)
{
    return r->raft.configuration_uncommitted_index == 0;
}

/* libraft 0.15 field access #2: leader's progress for configuration slot i. */
static const struct raft_progress *progress_of(const struct rft *r, unsigned i)
{
    if (r->raft.state != RAFT_LEADER || !r->raft.leader_state.progress)
        return NULL;
    return &r->raft.leader_state.progress[i];
}

struct barrier {
    struct raft_barrier req;
    struct rft *r;
    uint64_t gen;
};

static void on_barrier(struct raft_barrier *req, int status)
{
    struct barrier *b = container_of(req, struct barrier, req);
    struct rft *r = b->r;
    bool fire = status == 0 && b->gen == r->barrier_gen && r->was_leader && !r->ready &&
                !r->closing && raft_state(&r->raft) == RAFT_LEADER;

    free(b);
    if (!fire)
        return;
    r->ready = true;
    log_info("leader ready (barrier applied at %llu)",
             (unsigned long long)raft_last_applied(&r->raft));
    if (r->opts.leader_cb)
        r->opts.leader_cb(r, true, r->opts.cb_data);
}

static void note_contacts(struct rft *r)
{
    const struct raft_configuration *c = config_of(r);
    uint64_t now = uv_now(r->loop);
    unsigned i;

    for (i = 0; i < c->n; i++) {
        const struct raft_progress *pr = progress_of(r, i);
        size_t j;

        if (!pr || !pr->recent_recv)
            continue;
        for (j = 0; j < r->n_seen; j++)
            if (r->seen[j].id == c->servers[i].id)
                break;
        if (j == r->n_seen) {
            struct seen *ns = realloc(r->seen, (r->n_seen + 1) * sizeof(*ns));
            if (!ns)
                return;
            r->seen = ns;
            r->n_seen++;
        }
        r->seen[j].id = c->servers[i].id;
        r->seen[j].at = now;
    }
}

static bool is_reachable(const struct rft *r, uint64_t id)
{
    uint64_t now = uv_now(r->loop);
    size_t j;

    if (id == r->opts.raft_id)
        return true;
    if (raft_state((struct raft *)&r->raft) != RAFT_LEADER)
        return false;
    /* A dead peer's connections close at once; a partitioned one's stay
     * open but stop answering: require both signs of life. */
    if (!rft__transport_peer_connected((struct raft_uv_transport *)&r->transport, id))
        return false;
    for (j = 0; j < r->n_seen; j++)
        if (r->seen[j].id == id)
            return now - r->seen[j].at <= 2ull * r->opts.election_timeout_ms;
    return false;
}

static void on_poll(uv_timer_t *t)
{
    struct rft *r = t->data;
    bool leader = raft_state(&r->raft) == RAFT_LEADER;

    if (leader && !r->was_leader) {
        struct barrier *b = calloc(1, sizeof(*b));
        r->was_leader = true;
        r->ready = false;
        r->n_seen = 0;
        log_info("elected leader in term %llu", (unsigned long long)r->raft.current_term);
        if (b) {
            b->r = r;
            b->gen = ++r->barrier_gen;
            if (raft_barrier(&r->raft, &b->req, on_barrier) != 0) {
                free(b);
                r->was_leader = false; /* try again on the next tick */
            }
        }
    } else if (!leader && r->was_leader) {
        bool was_ready = r->ready;
        r->was_leader = false;
        r->ready = false;
        log_info("no longer leader");
        if (was_ready && r->opts.leader_cb)
            r->opts.leader_cb(r, false, r->opts.cb_data);
    }
    if (r->n_orphans > 0)
        orphans_fail(r, leader ? r->raft.current_term : 0, ERR_NOT_LEADER);
    if (leader)
        note_contacts(r);
}

/* ---- open / start / close ------------------------------------------------ */

int rft_open(uv_loop_t *loop, const struct rft_opts *opts, struct rft **ret, struct err *err)
{
    struct rft *r;
    int rc;

    if (!opts->data_dir || !opts->address || opts->raft_id == 0 || !opts->port ||
        !opts->client_ctx || !opts->fsm.apply || !opts->fsm.snapshot || !opts->fsm.restore)
        return err_set(err, -EINVAL, "raft: incomplete options");
    if (strlen(opts->address) >= RFT_ADDR_MAX)
        return err_set(err, -EINVAL, "raft: address too long");
    rft__aio_init();
    r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(err, -ENOMEM, "out of memory");
    r->loop = loop;
    r->opts = *opts;
    r->user = opts->fsm;
    r->data_dir = strdup(opts->data_dir);
    snprintf(r->address, sizeof(r->address), "%s", opts->address);
    r->opts.data_dir = r->data_dir;
    r->opts.address = r->address;
    /* Failover target < 3 s: a follower starts an election after a random
     * [T, 2T) without heartbeats, plus one tick of 100 ms granularity and a
     * pre-vote + vote round trip (sub-ms on a LAN): T = 1 s gives 1.0-2.1 s.
     * Heartbeats every 100 ms leave ten chances per election timeout. */
    if (!r->opts.election_timeout_ms)
        r->opts.election_timeout_ms = 1000;
    if (!r->opts.heartbeat_ms)
        r->opts.heartbeat_ms = 100;
    if (r->opts.heartbeat_ms >= r->opts.election_timeout_ms) {
        rc = err_set(err, -EINVAL, "raft: heartbeat must be shorter than the election timeout");
        goto fail;
    }
    /* swarm's default SnapshotInterval (the cluster spec then sets it, see
     * rft_set_snapshot): 10000 entries of store commands is a few MiB of
     * log, restarts replay at most that many entries, and the snapshot
     * (whole store) is cheap for our state sizes. libraft's default 1024
     * would snapshot several times a second under load. Trailing 1024 keeps
     * tens of milliseconds of traffic at full rate, so a follower that blinked
     * catches up from the log rather than through InstallSnapshot. */
    if (!r->opts.snapshot_threshold)
        r->opts.snapshot_threshold = 10000;
    if (!r->opts.snapshot_trailing)
        r->opts.snapshot_trailing = 1024;
    if (!r->opts.dedupe_window)
        r->opts.dedupe_window = 16384;
    if (!r->opts.connect_retry_ms)
        r->opts.connect_retry_ms = 250;
    if (!r->data_dir || dedupe_init(r, r->opts.dedupe_window) < 0) {
        rc = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    rc = rft__transport_init(&r->transport, loop, opts->port, opts->client_ctx);
    if (rc < 0) {
        err_set(err, rc, "raft transport: out of memory");
        goto fail;
    }
    rc = raft_uv_init(&r->io, loop, r->data_dir, &r->transport);
    if (rc != 0) {
        rc = err_set(err, rft_errno(rc), "raft: %s", r->io.errmsg);
        rft__transport_release(&r->transport);
        goto fail;
    }
    raft_uv_set_connect_retry_delay(&r->io, r->opts.connect_retry_ms);
    r->fsm.version = 1;
    r->fsm.data = r;
    r->fsm.apply = fsm_apply;
    r->fsm.snapshot = fsm_snapshot;
    r->fsm.restore = fsm_restore;
    rc = raft_init(&r->raft, &r->io, &r->fsm, opts->raft_id, r->address);
    if (rc != 0) {
        rc = err_set(err, rft_errno(rc), "raft: open %s: %s", r->data_dir, raft_errmsg(&r->raft));
        raft_uv_close(&r->io);
        rft__transport_release(&r->transport);
        goto fail;
    }
    r->raft.data = r;
    r->raft_inited = true;
    raft_set_election_timeout(&r->raft, r->opts.election_timeout_ms);
    raft_set_heartbeat_timeout(&r->raft, r->opts.heartbeat_ms);
    raft_set_pre_vote(&r->raft, true);
    raft_set_snapshot_threshold(&r->raft, r->opts.snapshot_threshold);
    raft_set_snapshot_trailing(&r->raft, r->opts.snapshot_trailing);
    uv_timer_init(loop, &r->poll);
    r->poll.data = r;
    uv_idle_init(loop, &r->flush);
    r->flush.data = r;
    r->q_tail = &r->q_head;
    r->open_handles = 2;
    *ret = r;
    return 0;
fail:
    free(r->ring);
    free(r->chain);
    free(r->buckets);
    free(r->data_dir);
    free(r);
    return rc;
}

int rft_bootstrap(struct rft *r, struct err *err)
{
    struct raft_configuration conf;
    int rc;

    raft_configuration_init(&conf);
    rc = raft_configuration_add(&conf, r->opts.raft_id, r->address, RAFT_VOTER);
    if (rc == 0)
        rc = raft_bootstrap(&r->raft, &conf);
    raft_configuration_close(&conf);
    if (rc == RAFT_CANTBOOTSTRAP)
        return err_set(err, -EEXIST, "raft: this node already has raft state");
    if (rc != 0)
        return err_set(err, rft_errno(rc), "raft bootstrap: %s", raft_strerror(rc));
    return 0;
}

int rft_start(struct rft *r, struct err *err)
{
    int rc;

    if (r->opts.force_new_cluster) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        rc = raft_configuration_add(&conf, r->opts.raft_id, r->address, RAFT_VOTER);
        if (rc == 0)
            rc = raft_recover(&r->raft, &conf);
        raft_configuration_close(&conf);
        if (rc != 0)
            return err_set(err, rft_errno(rc), "raft: force new cluster: %s",
                           raft_errmsg(&r->raft));
        log_warn("forced a new cluster: this node is now the only voter");
    }
    rc = raft_start(&r->raft);
    if (rc != 0)
        return err_set(err, rft_errno(rc), "raft: start: %s", raft_errmsg(&r->raft));
    r->started = true;
    uv_timer_start(&r->poll, on_poll, 0, r->opts.heartbeat_ms / 2 ? r->opts.heartbeat_ms / 2 : 1);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct rft *r = h->data;
    void (*cb)(void *) = r->close_cb;
    void *data = r->close_data;

    if (--r->open_handles > 0)
        return;
    free(r->ring);
    free(r->chain);
    free(r->buckets);
    free(r->seen);
    free(r->data_dir);
    free(r);
    if (cb)
        cb(data);
}

static void on_raft_closed(struct raft *raft)
{
    struct rft *r = raft->data;

    raft_uv_close(&r->io);
    rft__transport_release(&r->transport);
    uv_close((uv_handle_t *)&r->poll, on_handle_closed);
    uv_close((uv_handle_t *)&r->flush, on_handle_closed);
}

void rft_close(struct rft *r, void (*cb)(void *data), void *data)
{
    if (r->closing)
        return;
    r->closing = true;
    r->close_cb = cb;
    r->close_data = data;
    uv_timer_stop(&r->poll);
    /* proposals not handed to libraft yet fail as its pending ones will */
    uv_idle_stop(&r->flush);
    while (r->orphans_done) {
        struct prop *p = r->orphans_done;
        r->orphans_done = p->qnext;
        prop_finish(r, p, 0);
    }
    while (r->q_head) {
        struct prop *p = r->q_head;
        r->q_head = p->qnext;
        prop_finish(r, p, rft_errno(RAFT_LEADERSHIPLOST));
    }
    r->q_tail = &r->q_head;
    orphans_fail(r, 0, rft_errno(RAFT_LEADERSHIPLOST));
    if (r->ready && r->opts.leader_cb) {
        r->ready = false;
        r->opts.leader_cb(r, false, r->opts.cb_data);
    }
    raft_close(&r->raft, on_raft_closed);
}

void rft_set_snapshot(struct rft *r, unsigned threshold, unsigned trailing)
{
    if (threshold && threshold != r->opts.snapshot_threshold) {
        r->opts.snapshot_threshold = threshold;
        raft_set_snapshot_threshold(&r->raft, threshold);
    }
    if (trailing && trailing != r->opts.snapshot_trailing) {
        r->opts.snapshot_trailing = trailing;
        raft_set_snapshot_trailing(&r->raft, trailing);
    }
}

/* ---- proposals ------------------------------------------------------------ */

/* Complete a proposal (status: 0 or -errno) and free it. */
static void prop_finish(struct rft *r, struct prop *p, int status)
{
    pending_del(r, p);
    if (status == 0 && p->dup)
        status = -EALREADY;
    else if (status == 0 && !p->applied)
        status = -EPROTO; /* cannot happen: applied locally before the callback */
    if (p->cb)
        p->cb(r, status, status == 0 ? p->result : NULL, p->data);
    if ((!p->cb || status != 0) && p->result && r->user.free_result)
        r->user.free_result(r->user.data, p->result);
    raft_free(p->buf.base); /* NULL once submitted */
    free(p);
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    struct prop *p = container_of(req, struct prop, req);

    (void)result;
    prop_finish(p->r, p, rft_errno(status));
}

static void on_batch_applied(struct raft_apply *req, int status, void *result)
{
    struct batch *b = container_of(req, struct batch, req);
    struct rft *r = b->r;

    (void)result;
    for (unsigned i = 0; i < b->n; i++) {
        struct prop *p = b->props[i];
        if (status == 0 && !p->applied && !r->closing) {
            p->orphan = true; /* fsm_apply completes it */
            r->n_orphans++;
        } else {
            prop_finish(r, p,
                        status == 0 && !p->applied ? rft_errno(RAFT_CANCELED) : rft_errno(status));
        }
    }
    free(b);
}

/* Fail the orphans still waiting for their entry that were submitted in
 * another term than `keep_term` (all when it is 0): leadership lost or
 * closing, as libraft fails its own requests then; the entry may still
 * commit. */
static void orphans_fail(struct rft *r, uint64_t keep_term, int status)
{
    while (r->n_orphans > 0) {
        struct prop *found = NULL;
        for (unsigned i = 0; i < N_PENDING_BUCKETS && !found; i++)
            for (struct prop *p = r->pending[i]; p && !found; p = p->hnext)
                if (p->orphan && (keep_term == 0 || p->term != keep_term))
                    found = p;
        if (!found)
            break;
        found->orphan = false;
        r->n_orphans--;
        prop_finish(r, found, status);
    }
}

static void submit_failed(struct rft *r, struct prop *p, int rc)
{
    struct err e;
    int status = rc == RAFT_NOTLEADER ? not_leader(r, &e) : rft_errno(rc);

    prop_finish(r, p, status);
}

/* Submit up to BATCH_MAX_ENTRIES queued proposals in one raft_apply;
 * returns the first one not submitted. */
static struct prop *submit(struct rft *r, struct prop *q)
{
    struct raft_buffer bufs[BATCH_MAX_ENTRIES];
    struct prop *p, *next;
    struct batch *b;
    size_t bytes = 0;
    unsigned n = 0;
    int rc;

    for (p = q; p && n < BATCH_MAX_ENTRIES && (n == 0 || bytes + p->buf.len <= BATCH_MAX_BYTES);
         p = p->qnext) {
        bufs[n++] = p->buf;
        bytes += p->buf.len;
    }
    next = p;
    b = n > 1 ? malloc(sizeof(*b) + n * sizeof(b->props[0])) : NULL;
    if (!b) {
        /* one entry (or no memory for the batch): one request per entry */
        for (p = q; p != next; p = q) {
            q = p->qnext;
            rc = raft_apply(&r->raft, &p->req, &p->buf, 1, on_applied);
            if (rc == 0)
                p->buf.base = NULL; /* libraft owns it now */
            else
                submit_failed(r, p, rc);
        }
        return next;
    }
    b->r = r;
    b->n = n;
    n = 0;
    for (p = q; p != next; p = p->qnext) {
        p->term = r->raft.current_term;
        b->props[n++] = p;
    }
    rc = raft_apply(&r->raft, &b->req, bufs, n, on_batch_applied);
    for (unsigned i = 0; i < n; i++) {
        if (rc == 0)
            b->props[i]->buf.base = NULL;
        else
            submit_failed(r, b->props[i], rc);
    }
    if (rc != 0)
        free(b);
    return next;
}

static void on_flush(uv_idle_t *h)
{
    struct rft *r = h->data;
    struct prop *q = r->q_head, *done = r->orphans_done;

    uv_idle_stop(h);
    r->q_head = NULL;
    r->q_tail = &r->q_head;
    r->orphans_done = NULL;
    while (done) {
        struct prop *p = done;
        done = p->qnext;
        prop_finish(r, p, 0);
    }
    while (q)
        q = submit(r, q);
}

int rft_propose(struct rft *r, const uint8_t *reqid, const void *cmd, size_t len, rft_propose_cb cb,
                void *data, struct err *err)
{
    struct raft_buffer b;
    struct prop *p;
    struct prop **slot;

    if (r->closing)
        return err_set(err, -ESHUTDOWN, "raft is shutting down");
    if (len > UINT32_MAX - HDR_LEN - 8)
        return err_set(err, -EMSGSIZE, "command too large");
    if (raft_state(&r->raft) != RAFT_LEADER)
        return not_leader(r, err);
    p = calloc(1, sizeof(*p));
    b.len = (HDR_LEN + len + 7) & ~(size_t)7;
    b.base = raft_malloc(b.len);
    if (!p || !b.base) {
        free(p);
        raft_free(b.base);
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (reqid)
        memcpy(p->reqid, reqid, RFT_REQID_LEN);
    else if (getrandom(p->reqid, RFT_REQID_LEN, 0) != RFT_REQID_LEN)
        abort();
    memset(b.base, 0, b.len);
    memcpy(b.base, p->reqid, RFT_REQID_LEN);
    put_u32le((uint8_t *)b.base + 16, (uint32_t)len);
    put_u32le((uint8_t *)b.base + 20, ENTRY_MAGIC);
    if (len)
        memcpy((uint8_t *)b.base + HDR_LEN, cmd, len);
    p->r = r;
    p->cb = cb;
    p->data = data;
    p->buf = b;
    slot = pending_slot(r, p->reqid);
    p->hnext = *slot;
    *slot = p;
    /* submitted with the others of this loop iteration (on_flush) */
    *r->q_tail = p;
    r->q_tail = &p->qnext;
    uv_idle_start(&r->flush, on_flush);
    return 0;
}

/* ---- membership ------------------------------------------------------------ */

static int find_server(const struct rft *r, uint64_t id, unsigned *ret_i)
{
    const struct raft_configuration *c = config_of(r);
    unsigned i;

    for (i = 0; i < c->n; i++)
        if (c->servers[i].id == id) {
            *ret_i = i;
            return 0;
        }
    return -ENOENT;
}

/* Would the voters left after taking `id` out of the voting set still form
 * a quorum among the voters the leader can currently reach? A voter is
 * reachable when it is this leader, or it has a live inbound raft
 * connection to us AND answered us within the last two election timeouts
 * (sampled from libraft's per-follower recent_recv flag at every poll
 * tick). The configuration entry for the change must
 * itself commit under the new configuration, so the new voter set is the
 * one that needs a reachable majority. */
static int check_quorum_without(const struct rft *r, uint64_t id, struct err *err)
{
    const struct raft_configuration *c = config_of(r);
    unsigned i, voters = 0, reachable = 0, need;

    for (i = 0; i < c->n; i++) {
        if (c->servers[i].role != RAFT_VOTER || c->servers[i].id == id)
            continue;
        voters++;
        if (is_reachable(r, c->servers[i].id))
            reachable++;
    }
    if (voters == 0)
        return err_set(err, -EINVAL, "cannot remove the last manager");
    need = voters / 2 + 1;
    if (reachable < need)
        return err_set(err, -EBUSY,
                       "refusing: without %llu only %u of the remaining %u managers are "
                       "reachable and a quorum needs %u",
                       (unsigned long long)id, reachable, voters, need);
    return 0;
}

static int change_precheck(struct rft *r, struct err *err)
{
    if (r->closing)
        return err_set(err, -ESHUTDOWN, "raft is shutting down");
    if (raft_state(&r->raft) != RAFT_LEADER)
        return not_leader(r, err);
    if (r->op != OP_NONE)
        return err_set(err, -EBUSY, "another membership change is in progress");
    return 0;
}

static void change_done(struct rft *r, int status, const char *what)
{
    rft_change_cb cb = r->change_cb;
    void *data = r->change_data;
    struct err e;

    r->op = OP_NONE;
    err_clear(&e);
    if (status)
        err_set(&e, status, "%s %llu: %s", what, (unsigned long long)r->op_id,
                status == -ETIMEDOUT ? "the node did not catch up in time" : strerror(-status));
    if (cb)
        cb(r, status, status ? &e : NULL, data);
}

static void on_change(struct raft_change *req, int status)
{
    struct rft *r = req->data;
    static const char *const names[] = {"", "add", "add", "promote", "demote", "remove"};
    const char *what = names[r->op];

    if (status == 0 && r->op == OP_ADD) {
        /* libraft adds as spare (gets nothing); make it a standby so it
         * receives the log and can catch up before a promotion. */
        r->op = OP_ADD_ASSIGN;
        status = raft_assign(&r->raft, &r->change, r->op_id, RAFT_STANDBY, on_change);
        if (status == 0)
            return;
    }
    change_done(r, rft_errno(status), what);
}

static int start_change(struct rft *r, enum change_op op, uint64_t id, rft_change_cb cb, void *data)
{
    r->op = op;
    r->op_id = id;
    r->change_cb = cb;
    r->change_data = data;
    r->change.data = r;
    return 0;
}

int rft_add_nonvoter(struct rft *r, uint64_t id, const char *addr, rft_change_cb cb, void *data,
                     struct err *err)
{
    int rc = change_precheck(r, err);

    if (rc < 0)
        return rc;
    if (id == 0 || strlen(addr) >= RFT_ADDR_MAX)
        return err_set(err, -EINVAL, "invalid raft id or address");
    start_change(r, OP_ADD, id, cb, data);
    rc = raft_add(&r->raft, &r->change, id, addr, on_change);
    if (rc != 0) {
        r->op = OP_NONE;
        return err_set(err, rft_errno(rc), "add %llu: %s", (unsigned long long)id,
                       raft_strerror(rc));
    }
    return 0;
}

/* Promotion: we require the standby's match index (leader's progress) to be
 * within `snapshot_trailing` entries of the leader's last index, i.e. it is
 * replicating and could be caught up from the log alone. libraft then runs
 * its own catch-up rounds before the voter configuration is appended, so a
 * node that falls behind again just makes the change fail (-ETIMEDOUT). */
int rft_promote(struct rft *r, uint64_t id, rft_change_cb cb, void *data, struct err *err)
{
    const struct raft_progress *pr;
    uint64_t last, match;
    unsigned i;
    int rc = change_precheck(r, err);

    if (rc < 0)
        return rc;
    if (find_server(r, id, &i) < 0)
        return err_set(err, -ENOENT, "raft id %llu is not a member", (unsigned long long)id);
    if (config_of(r)->servers[i].role == RAFT_VOTER)
        return err_set(err, -EALREADY, "raft id %llu is already a voter", (unsigned long long)id);
    pr = progress_of(r, i);
    last = raft_last_index(&r->raft);
    match = pr ? pr->match_index : 0;
    if (!pr || match + r->opts.snapshot_trailing < last)
        return err_set(err, -EAGAIN, "raft id %llu has not caught up yet (%llu of %llu)",
                       (unsigned long long)id, (unsigned long long)match, (unsigned long long)last);
    start_change(r, OP_PROMOTE, id, cb, data);
    rc = raft_assign(&r->raft, &r->change, id, RAFT_VOTER, on_change);
    if (rc != 0) {
        r->op = OP_NONE;
        return err_set(err, rft_errno(rc), "promote %llu: %s", (unsigned long long)id,
                       raft_strerror(rc));
    }
    return 0;
}

static int voter_change(struct rft *r, enum change_op op, uint64_t id, rft_change_cb cb, void *data,
                        struct err *err)
{
    unsigned i;
    int rc = change_precheck(r, err);

    if (rc < 0)
        return rc;
    if (find_server(r, id, &i) < 0)
        return err_set(err, -ENOENT, "raft id %llu is not a member", (unsigned long long)id);
    if (id == r->opts.raft_id)
        return err_set(err, -EBUSY, "the leader cannot %s itself: transfer leadership first",
                       op == OP_DEMOTE ? "demote" : "remove");
    if (config_of(r)->servers[i].role == RAFT_VOTER) {
        rc = check_quorum_without(r, id, err);
        if (rc < 0)
            return rc;
    } else if (op == OP_DEMOTE) {
        return err_set(err, -EALREADY, "raft id %llu is not a voter", (unsigned long long)id);
    }
    start_change(r, op, id, cb, data);
    if (op == OP_DEMOTE)
        rc = raft_assign(&r->raft, &r->change, id, RAFT_STANDBY, on_change);
    else
        rc = raft_remove(&r->raft, &r->change, id, on_change);
    if (rc != 0) {
        r->op = OP_NONE;
        return err_set(err, rft_errno(rc), "%s %llu: %s", op == OP_DEMOTE ? "demote" : "remove",
                       (unsigned long long)id, raft_strerror(rc));
    }
    return 0;
}

int rft_demote(struct rft *r, uint64_t id, rft_change_cb cb, void *data, struct err *err)
{
    return voter_change(r, OP_DEMOTE, id, cb, data, err);
}

int rft_remove(struct rft *r, uint64_t id, rft_change_cb cb, void *data, struct err *err)
{
    return voter_change(r, OP_REMOVE, id, cb, data, err);
}

static void on_transfer(struct raft_transfer *req)
{
    struct rft *r = req->data;
    rft_change_cb cb = r->transfer_cb;
    raft_id lid = 0;
    const char *laddr = NULL;
    struct err e;
    int status = 0;

    r->transfer_busy = false;
    raft_leader(&r->raft, &lid, &laddr);
    if (lid == r->opts.raft_id || raft_state(&r->raft) == RAFT_LEADER)
        status = err_set(&e, -ETIMEDOUT, "leadership transfer did not complete");
    if (cb)
        cb(r, status, status ? &e : NULL, r->transfer_data);
}

int rft_transfer_leadership(struct rft *r, uint64_t id, rft_change_cb cb, void *data,
                            struct err *err)
{
    int rc;

    if (r->closing)
        return err_set(err, -ESHUTDOWN, "raft is shutting down");
    if (raft_state(&r->raft) != RAFT_LEADER)
        return not_leader(r, err);
    if (r->transfer_busy)
        return err_set(err, -EBUSY, "a leadership transfer is in progress");
    memset(&r->transfer, 0, sizeof(r->transfer));
    r->transfer.data = r;
    r->transfer_cb = cb;
    r->transfer_data = data;
    rc = raft_transfer(&r->raft, &r->transfer, id, on_transfer);
    if (rc != 0)
        return err_set(err, rft_errno(rc), "transfer leadership: %s", raft_strerror(rc));
    r->transfer_busy = true;
    return 0;
}

/* ---- queries ------------------------------------------------------------------ */

enum rft_state rft_state(const struct rft *r)
{
    return (enum rft_state)raft_state((struct raft *)&r->raft);
}

bool rft_ready_as_leader(const struct rft *r)
{
    return r->ready && raft_state((struct raft *)&r->raft) == RAFT_LEADER;
}

int rft_leader(const struct rft *r, uint64_t *ret_id, char *ret_addr)
{
    raft_id id = 0;
    const char *addr = NULL;

    raft_leader((struct raft *)&r->raft, &id, &addr);
    if (id == 0)
        return -ENOENT;
    if (ret_id)
        *ret_id = id;
    if (ret_addr)
        snprintf(ret_addr, RFT_ADDR_MAX, "%s", addr ? addr : "");
    return 0;
}

int rft_configuration(const struct rft *r, struct rft_server **ret, size_t *ret_n)
{
    const struct raft_configuration *c = config_of(r);
    struct rft_server *s = calloc(c->n ? c->n : 1, sizeof(*s));
    unsigned i;

    if (!s)
        return -ENOMEM;
    for (i = 0; i < c->n; i++) {
        s[i].id = c->servers[i].id;
        snprintf(s[i].address, sizeof(s[i].address), "%s", c->servers[i].address);
        s[i].role = (enum rft_role)c->servers[i].role;
        s[i].reachable = is_reachable(r, s[i].id);
    }
    *ret = s;
    *ret_n = c->n;
    return 0;
}

uint64_t rft_id(const struct rft *r)
{
    return r->opts.raft_id;
}

uint64_t rft_last_applied(const struct rft *r)
{
    return raft_last_applied((struct raft *)&r->raft);
}

uint64_t rft_apply_index(const struct rft *r)
{
    return r->applying;
}

bool rft_is_voter(const struct rft *r)
{
    unsigned i;

    if (find_server(r, r->opts.raft_id, &i) < 0)
        return false;
    return config_of(r)->servers[i].role == RAFT_VOTER && config_committed(r);
}

uint64_t rft_last_index(const struct rft *r)
{
    return raft_last_index((struct raft *)&r->raft);
}
