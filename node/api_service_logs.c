/*
 * node/api_service_logs.c - GET /services/{id}/logs and GET /tasks/{id}/logs
 * (managers), and the agent side that reads task logs for the leader.
 *
 * The manager answering the request takes the tasks that have a container
 * (any state). Containers on this node are read straight from their
 * json-file logs. For the others, the leader asks each node's agent over its
 * SESSION channel (manager/cluster.h, mgr_cluster_send_to_node):
 *   leader -> agent  {"t":"logs", req, follow, tail (-1 = all), since (ns),
 *                    stdout, stderr, tasks:[{task, container}]}
 *   agent -> leader  {"t":"loglines", req, lines:[{task, stream (1|2), ts (ns),
 *                    line}]} (batched well below the 256 KiB frame limit),
 *                    then {"t":"logend", req} once the backlog is sent
 *                    (without follow)
 *   leader -> agent  {"t":"logstop", req} when the client went away (follow)
 * A node without a session, or one that has not finished within
 * REMOTE_WAIT_MS (no follow), is left out: the answer is partial, it never
 * hangs. Without follow every line is collected and written in time order
 * across tasks and nodes; with follow lines are written as they come.
 *
 * A follower manager has no session to the other nodes: it hands the whole
 * request to the leader over the RPC channel of its forwarded writes
 * (manager/cluster.h, mgr_cluster_send_to_leader):
 *   follower -> leader {"t":"logs", req, ref, task (bool), follow, tail,
 *                      since, stdout, stderr}
 *   leader -> follower {"t":"loglines", req, lines:[{task, node, service,
 *                      stream, ts, line}]} (the first one possibly empty with
 *                      follow), then {"t":"logend", req [, error]}
 *   follower -> leader {"t":"logstop", req} when its client went away
 * The leader runs the same collection as for its own clients (SLOG_PEER)
 * and sends the lines it would have written, already sorted without follow.
 * When the leader refuses, does not answer within FWD_WAIT_MS (no follow),
 * or the channel drops, the follower answers with its own node's tasks
 * (with follow after a started stream: their new lines only), and shoald
 * logs a warning (the CLI would abort on a stream-3 error frame, so nothing
 * is said to the client).
 *
 * Each frame carries one line: [timestamp ' '] details ' ' line, where the
 * details are com.docker.swarm.node.id=..,com.docker.swarm.service.id=..,
 * com.docker.swarm.task.id=.. (the CLI builds its "name.slot.task@host |"
 * prefix from them). stdcopy framing unless the service has a TTY.
 */
#define LOG_MODULE "api"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "manager/cluster.h"
#include "manager/store.h"
#include "node/node.h"
#include "node/swarm_api.h"

#define REMOTE_WAIT_MS 2000
#define READ_CHUNK     (64 * 1024)
#define MAX_LINE_BYTES (32 * 1024)   /* longer lines are cut (agent frames stay small) */
#define BATCH_BYTES    (64 * 1024)   /* agent: flush a loglines frame at this size */
#define MAX_PARTIAL    (1024 * 1024) /* an unterminated "line" longer than this is dropped */

/* ---- reading one container's json-file log -------------------------------------- */

typedef void (*lrd_line_fn)(void *owner, size_t idx, int stream, int64_t ts, const char *text,
                            size_t len);

struct lrd_opts {
    bool out, err, follow;
    int64_t tail; /* lines per container, -1 = all */
    int64_t since_ns;
};

struct lline {
    int stream;
    int64_t ts;
    char *text;
    size_t len;
};

struct lrd {
    struct rt_container *c;
    struct rt_attach *trig;
    char **files; /* oldest first, the last is the current log */
    size_t n_files;
    int fd; /* the current log while following */
    off_t off;
    struct buf part; /* bytes after the last newline */
    struct lrd_opts o;
    lrd_line_fn line;
    void (*flush)(void *owner); /* after each read pass while following (optional) */
    void *owner;
    size_t idx;
    /* the initial read with a tail: the last lines kept here */
    struct lline *keep;
    size_t n_keep;
    bool collecting;
};

static void lrd_free(struct lrd *r)
{
    if (!r)
        return;
    if (r->trig)
        rt_attach_close(r->trig);
    if (r->fd >= 0)
        (void)close(r->fd);
    for (size_t i = 0; i < r->n_keep; i++)
        free(r->keep[i].text);
    free(r->keep);
    buf_release(&r->part);
    rt_strv_free(r->files);
    rt_container_unref(r->c);
    free(r);
}

static void lrd_keep(struct lrd *r, int stream, int64_t ts, const char *text, size_t len)
{
    size_t max = (size_t)r->o.tail;
    struct lline *n;

    if (max == 0)
        return;
    if (r->n_keep >= 2 * max) {
        /* drop the oldest so only the last max remain */
        size_t drop = r->n_keep - max + 1;
        for (size_t i = 0; i < drop; i++)
            free(r->keep[i].text);
        memmove(r->keep, r->keep + drop, (r->n_keep - drop) * sizeof(*r->keep));
        r->n_keep -= drop;
    }
    n = realloc(r->keep, (r->n_keep + 1) * sizeof(*n));
    if (!n)
        return;
    r->keep = n;
    n[r->n_keep].text = malloc(len ? len : 1);
    if (!n[r->n_keep].text)
        return;
    memcpy(n[r->n_keep].text, text, len);
    n[r->n_keep].len = len;
    n[r->n_keep].stream = stream;
    n[r->n_keep].ts = ts;
    r->n_keep++;
}

/* One json-file line: {"log","stream","time"}. */
static void lrd_parse(struct lrd *r, const char *data, size_t len)
{
    json_t *o = json_loadb(data, len, 0, NULL);
    const char *stream, *text, *tm;
    size_t tlen;
    int64_t ts = 0;
    int sid;

    if (!o)
        return;
    stream = json_string_value(json_object_get(o, "stream"));
    text = json_string_value(json_object_get(o, "log"));
    tlen = json_string_length(json_object_get(o, "log"));
    tm = json_string_value(json_object_get(o, "time"));
    sid = stream && strcmp(stream, "stderr") == 0 ? 2 : 1;
    if (tm)
        (void)time_parse_rfc3339(tm, &ts);
    if (text && ((sid == 1 && r->o.out) || (sid == 2 && r->o.err)) &&
        (r->o.since_ns <= 0 || ts >= r->o.since_ns)) {
        if (r->collecting && r->o.tail >= 0)
            lrd_keep(r, sid, ts, text, tlen);
        else
            r->line(r->owner, r->idx, sid, ts, text, tlen);
    }
    json_decref(o);
}

/* Read fd from *off to its end, one callback per complete line. */
static void lrd_read(struct lrd *r, int fd, off_t *off)
{
    char chunk[READ_CHUNK];

    for (;;) {
        ssize_t n = pread(fd, chunk, sizeof(chunk), *off);
        size_t done = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        *off += n;
        if (buf_append(&r->part, chunk, (size_t)n) < 0)
            return;
        for (;;) {
            char *nl = memchr(r->part.data + done, '\n', r->part.len - done);
            if (!nl)
                break;
            lrd_parse(r, r->part.data + done, (size_t)(nl - (r->part.data + done)));
            done = (size_t)(nl - r->part.data) + 1;
        }
        buf_consume(&r->part, done);
        if (r->part.len > MAX_PARTIAL)
            buf_consume(&r->part, r->part.len);
    }
}

/* More output (follow): read what was appended, reopening a rotated log. */
static void lrd_more(struct lrd *r)
{
    struct stat a, b;
    const char *cur = r->files[r->n_files - 1];

    if (r->fd < 0) {
        r->fd = open(cur, O_RDONLY | O_CLOEXEC);
        r->off = 0;
        if (r->fd < 0)
            return;
    }
    lrd_read(r, r->fd, &r->off);
    if (fstat(r->fd, &a) == 0 && stat(cur, &b) == 0 &&
        (a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
        (void)close(r->fd);
        r->fd = open(cur, O_RDONLY | O_CLOEXEC);
        r->off = 0;
        buf_consume(&r->part, r->part.len);
        if (r->fd >= 0)
            lrd_read(r, r->fd, &r->off);
    }
}

static void lrd_on_output(void *arg, enum rt_stream s, const char *data, size_t len)
{
    struct lrd *r = arg;

    (void)s;
    (void)data;
    (void)len;
    lrd_more(r);
    if (r->flush)
        r->flush(r->owner);
}

static void lrd_on_end(void *arg)
{
    struct lrd *r = arg;

    rt_attach_close(r->trig);
    r->trig = NULL;
    lrd_more(r);
    if (r->flush)
        r->flush(r->owner);
}

/* Open the log of c, deliver the backlog (tail, since) through line, and
 * with follow keep delivering new lines until lrd_free. NULL on failure
 * (no log: nothing to say). */
static struct lrd *lrd_open(struct rt_container *c, const struct lrd_opts *o, lrd_line_fn line,
                            void *owner, size_t idx)
{
    struct lrd *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->fd = -1;
    buf_init(&r->part);
    r->c = rt_container_ref(c);
    r->o = *o;
    r->line = line;
    r->owner = owner;
    r->idx = idx;
    if (rt_container_log_files(c, &r->files, &r->n_files) < 0 || r->n_files == 0) {
        lrd_free(r);
        return NULL;
    }
    /* the backlog, oldest file first (a tail keeps only the last lines) */
    r->collecting = true;
    for (size_t i = 0; i < r->n_files; i++) {
        int fd = open(r->files[i], O_RDONLY | O_CLOEXEC);
        off_t off = 0;
        if (fd < 0)
            continue;
        buf_consume(&r->part, r->part.len);
        lrd_read(r, fd, &off);
        if (i + 1 == r->n_files && o->follow) {
            r->fd = fd;
            r->off = off;
        } else {
            (void)close(fd);
        }
    }
    r->collecting = false;
    if (o->tail >= 0) {
        size_t from = r->n_keep > (size_t)o->tail ? r->n_keep - (size_t)o->tail : 0;
        for (size_t i = from; i < r->n_keep; i++)
            line(owner, idx, r->keep[i].stream, r->keep[i].ts, r->keep[i].text, r->keep[i].len);
    }
    for (size_t i = 0; i < r->n_keep; i++)
        free(r->keep[i].text);
    free(r->keep);
    r->keep = NULL;
    r->n_keep = 0;
    if (o->follow && rt_container_state(c) == RT_STATE_RUNNING)
        r->trig = rt_container_attach(c, lrd_on_output, lrd_on_end, r);
    return r;
}

/* ---- options shared by both sides ----------------------------------------------- */

static int parse_since(const char *s, int64_t *ret)
{
    double v;
    char *end;

    *ret = 0;
    if (!s || !*s)
        return 0;
    v = strtod(s, &end);
    if (*end || v < 0)
        return time_parse_rfc3339(s, ret);
    *ret = (int64_t)(v * 1e9);
    return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

/* ---- agent side: read local task logs for the leader ---------------------------- */

struct areq {
    struct areq *next;
    json_int_t req;
    struct lrd **rd;
    char (*task)[MGR_ID_LEN + 1];
    size_t n;
    json_t *batch;
    size_t batch_bytes;
    bool dead; /* the session is gone */
};

static struct areq *areqs;

static void areq_flush(struct areq *a)
{
    struct mgr_cluster *c = node_current ? node_current->cluster : NULL;
    json_t *lines = a->batch;

    if (!lines || json_array_size(lines) == 0 || a->dead)
        return;
    a->batch = json_array();
    a->batch_bytes = 0;
    if (!c || mgr_cluster_agent_send(c, json_pack("{s:s,s:I,s:o}", "t", "loglines", "req", a->req,
                                                  "lines", lines)) == -ENOTCONN)
        a->dead = true;
}

/* Cut a line to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static void areq_line(void *owner, size_t idx, int stream, int64_t ts, const char *text, size_t len)
{
    struct areq *a = owner;
    size_t cut = utf8_cut(text, len, MAX_LINE_BYTES);
    json_t *l;

    if (a->dead || !a->batch)
        return;
    l = json_pack("{s:s,s:i,s:I,s:s%}", "task", a->task[idx], "stream", stream, "ts",
                  (json_int_t)ts, "line", text, cut);
    if (!l)
        return;
    json_array_append_new(a->batch, l);
    a->batch_bytes += cut + 128;
    if (a->batch_bytes >= BATCH_BYTES)
        areq_flush(a);
}

static void areq_free(struct areq *a)
{
    for (struct areq **pp = &areqs; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    for (size_t i = 0; i < a->n; i++)
        lrd_free(a->rd[i]);
    free(a->rd);
    free(a->task);
    json_decref(a->batch);
    free(a);
}

static void areq_flush_cb(void *owner)
{
    areq_flush(owner);
}

static void agent_logs_start(json_t *msg)
{
    struct areq *a = calloc(1, sizeof(*a));
    json_t *tasks = json_object_get(msg, "tasks"), *t;
    struct lrd_opts o = {
        .out = json_is_true(json_object_get(msg, "stdout")),
        .err = json_is_true(json_object_get(msg, "stderr")),
        .follow = json_is_true(json_object_get(msg, "follow")),
        .tail = (int64_t)json_integer_value(json_object_get(msg, "tail")),
        .since_ns = (int64_t)json_integer_value(json_object_get(msg, "since")),
    };
    size_t i, n = json_array_size(tasks);
    struct mgr_cluster *c = node_current->cluster;

    if (!a)
        return;
    if (!json_object_get(msg, "tail"))
        o.tail = -1;
    a->req = json_integer_value(json_object_get(msg, "req"));
    a->batch = json_array();
    a->rd = calloc(n ? n : 1, sizeof(*a->rd));
    a->task = calloc(n ? n : 1, sizeof(*a->task));
    if (!a->batch || !a->rd || !a->task) {
        areq_free(a);
        return;
    }
    a->next = areqs;
    areqs = a;
    json_array_foreach(tasks, i, t)
    {
        struct rt_container *ct = NULL;
        snprintf(a->task[i], sizeof(a->task[i]), "%s", jstr(t, "task"));
        a->n = i + 1;
        if (rt_container_find(node_current->rt, jstr(t, "container"), &ct, NULL) < 0)
            continue;
        a->rd[i] = lrd_open(ct, &o, areq_line, a, i);
        if (a->rd[i])
            a->rd[i]->flush = areq_flush_cb;
    }
    areq_flush(a);
    if (!o.follow) {
        if (!a->dead)
            (void)mgr_cluster_agent_send(c, json_pack("{s:s,s:I}", "t", "logend", "req", a->req));
        areq_free(a);
    }
}

/* ---- API side ------------------------------------------------------------------- */

/* a follower waits this long for the leader's answer (the leader itself
 * waits REMOTE_WAIT_MS for its agents) */
#define FWD_WAIT_MS (REMOTE_WAIT_MS + 2000)

struct stask {
    char id[MGR_ID_LEN + 1];
    char node[MGR_ID_LEN + 1];
    char service[MGR_ID_LEN + 1];
    char container[80];
    struct lrd *rd; /* on this node */
};

struct snode {
    char id[MGR_ID_LEN + 1];
    bool done;
};

struct ent {
    int64_t ts;
    size_t seq;
    size_t task;
    int stream;
    char *text;
    size_t len;
};

enum slog_mode {
    SLOG_LOCAL,   /* an HTTP request answered here (leader, or a follower on its own) */
    SLOG_PROXIED, /* an HTTP request on a follower, answered from the leader's frames */
    SLOG_PEER,    /* on the leader: a follower's request, lines go back as frames */
};

struct slog {
    struct slog *next;
    enum slog_mode mode;
    json_int_t req_id;    /* ours: in the requests to agents and to the leader */
    struct http_req *req; /* NULL for SLOG_PEER */
    uv_timer_t timer;
    struct lrd_opts o;
    bool follow, timestamps, tty, finished;
    /* SLOG_PROXIED */
    bool leader_open; /* the leader may still send (logstop when we finish) */
    bool got_lines;   /* the leader has sent lines (or its first, empty batch) */
    /* SLOG_PEER */
    uint64_t peer;
    json_int_t peer_req;
    bool peer_gone;
    json_t *batch;
    size_t batch_bytes;
    bool sent_any;
    struct stask *t;
    size_t n_t;
    struct snode *nodes;
    size_t n_nodes;
    struct ent *ents; /* without follow: everything, sorted at the end */
    size_t n_ents, cap_ents;
};

static struct slog *slogs;
static json_int_t next_req_id = 1;
static bool sink_set;

/* SLOG_PEER: send the batched lines to the follower. force: also an empty
 * batch when nothing was sent yet (tells a following follower that the
 * leader is streaming). */
static void slog_peer_flush(struct slog *sl, bool force)
{
    struct mgr_cluster *c = node_swarm_cluster();
    json_t *lines = sl->batch;
    int r;

    if (sl->peer_gone || !lines || !c)
        return;
    if (json_array_size(lines) == 0 && (sl->sent_any || !force))
        return;
    sl->batch = json_array();
    sl->batch_bytes = 0;
    sl->sent_any = true;
    r = mgr_cluster_peer_send(
        c, sl->peer,
        json_pack("{s:s,s:I,s:o}", "t", "loglines", "req", sl->peer_req, "lines", lines));
    if (r == -ENOTCONN)
        sl->peer_gone = true;
    else if (r == -ENOBUFS)
        log_debug("service logs: the follower reads too slowly, lines dropped");
}

static void slog_peer_add(struct slog *sl, size_t ti, int stream, int64_t ts, const char *text,
                          size_t len)
{
    const struct stask *t = &sl->t[ti];
    size_t cut = utf8_cut(text, len, MAX_LINE_BYTES);
    json_t *l;

    if (sl->peer_gone || !sl->batch)
        return;
    l = json_pack("{s:s,s:s,s:s,s:i,s:I,s:s%}", "task", t->id, "node", t->node, "service",
                  t->service, "stream", stream, "ts", (json_int_t)ts, "line", text, cut);
    if (!l)
        return;
    json_array_append_new(sl->batch, l);
    sl->batch_bytes += cut + 256;
    if (sl->batch_bytes >= BATCH_BYTES)
        slog_peer_flush(sl, false);
}

static void slog_write(struct slog *sl, size_t ti, int stream, int64_t ts, const char *text,
                       size_t len)
{
    const struct stask *t = &sl->t[ti];
    unsigned char hdr[8] = {0};
    struct buf out;
    bool nl = len > 0 && text[len - 1] == '\n';

    if (sl->mode == SLOG_PEER) {
        slog_peer_add(sl, ti, stream, ts, text, len);
        return;
    }
    buf_init(&out);
    if (!sl->tty)
        (void)buf_append(&out, hdr, sizeof(hdr));
    if (sl->timestamps) {
        char tb[40];
        time_fmt_rfc3339(ts, tb);
        (void)buf_printf(&out, "%s ", tb);
    }
    (void)buf_printf(&out,
                     "com.docker.swarm.node.id=%s,com.docker.swarm.service.id=%s,"
                     "com.docker.swarm.task.id=%s ",
                     t->node, t->service, t->id);
    (void)buf_append(&out, text, len);
    if (!nl)
        (void)buf_append(&out, "\n", 1);
    if (!sl->tty) {
        size_t plen = out.len - sizeof(hdr);
        unsigned char *h = (unsigned char *)out.data;
        h[0] = (unsigned char)stream;
        h[4] = (unsigned char)(plen >> 24);
        h[5] = (unsigned char)(plen >> 16);
        h[6] = (unsigned char)(plen >> 8);
        h[7] = (unsigned char)plen;
    }
    if (out.len)
        http_stream_write(sl->req, out.data, out.len);
    buf_release(&out);
}

static void slog_line(void *owner, size_t ti, int stream, int64_t ts, const char *text, size_t len)
{
    struct slog *sl = owner;
    struct ent *e;

    if (sl->finished)
        return;
    if (sl->follow) {
        slog_write(sl, ti, stream, ts, text, len);
        return;
    }
    if (sl->n_ents == sl->cap_ents) {
        size_t cap = sl->cap_ents ? 2 * sl->cap_ents : 64;
        struct ent *n = realloc(sl->ents, cap * sizeof(*n));
        if (!n)
            return;
        sl->ents = n;
        sl->cap_ents = cap;
    }
    e = &sl->ents[sl->n_ents];
    e->text = malloc(len ? len : 1);
    if (!e->text)
        return;
    memcpy(e->text, text, len);
    e->len = len;
    e->ts = ts;
    e->seq = sl->n_ents;
    e->task = ti;
    e->stream = stream;
    sl->n_ents++;
}

static void slog_flush_cb(void *owner)
{
    slog_peer_flush(owner, false);
}

static int cmp_ent(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void slog_closed(uv_handle_t *h)
{
    struct slog *sl = h->data;

    for (size_t i = 0; i < sl->n_ents; i++)
        free(sl->ents[i].text);
    free(sl->ents);
    free(sl->t);
    free(sl->nodes);
    json_decref(sl->batch);
    if (sl->req)
        http_req_unref(sl->req);
    free(sl);
}

static void slog_finish(struct slog *sl)
{
    struct mgr_cluster *c = node_swarm_cluster();

    if (sl->finished)
        return;
    for (struct slog **pp = &slogs; *pp; pp = &(*pp)->next)
        if (*pp == sl) {
            *pp = sl->next;
            break;
        }
    if (!sl->follow && (sl->req ? !sl->req->aborted : !sl->peer_gone)) {
        qsort(sl->ents, sl->n_ents, sizeof(*sl->ents), cmp_ent);
        for (size_t i = 0; i < sl->n_ents; i++)
            slog_write(sl, sl->ents[i].task, sl->ents[i].stream, sl->ents[i].ts, sl->ents[i].text,
                       sl->ents[i].len);
    }
    sl->finished = true;
    for (size_t i = 0; i < sl->n_nodes; i++) {
        if (sl->nodes[i].done)
            continue;
        json_t *m = json_pack("{s:s,s:I}", "t", "logstop", "req", sl->req_id);
        if (m && c)
            (void)mgr_cluster_send_to_node(c, sl->nodes[i].id, m);
        json_decref(m);
    }
    if (sl->mode == SLOG_PROXIED && sl->leader_open && c)
        (void)mgr_cluster_send_to_leader(c,
                                         json_pack("{s:s,s:I}", "t", "logstop", "req", sl->req_id));
    for (size_t i = 0; i < sl->n_t; i++) {
        lrd_free(sl->t[i].rd);
        sl->t[i].rd = NULL;
    }
    if (sl->mode == SLOG_PEER) {
        slog_peer_flush(sl, false);
        if (!sl->peer_gone && c)
            (void)mgr_cluster_peer_send(c, sl->peer,
                                        json_pack("{s:s,s:I}", "t", "logend", "req", sl->peer_req));
    } else {
        sl->req->data = NULL;
        sl->req->on_abort = NULL;
        http_stream_end(sl->req);
    }
    uv_timer_stop(&sl->timer);
    uv_close((uv_handle_t *)&sl->timer, slog_closed);
}

static void slog_check_done(struct slog *sl)
{
    if (sl->follow || sl->finished || sl->mode == SLOG_PROXIED)
        return;
    for (size_t i = 0; i < sl->n_nodes; i++)
        if (!sl->nodes[i].done)
            return;
    slog_finish(sl);
}

/* Read the logs of this node's tasks (with follow: keep reading). */
static void slog_open_local(struct slog *sl, const struct lrd_opts *o)
{
    const char *self = mgr_cluster_node_id(node_swarm_cluster());

    for (size_t i = 0; i < sl->n_t; i++) {
        struct rt_container *ct = NULL;
        if (strcmp(sl->t[i].node, self) != 0 || sl->t[i].rd || !sl->t[i].container[0] ||
            rt_container_find(node_current->rt, sl->t[i].container, &ct, NULL) < 0)
            continue;
        sl->t[i].rd = lrd_open(ct, o, slog_line, sl, i);
        if (!o->follow) {
            lrd_free(sl->t[i].rd);
            sl->t[i].rd = NULL;
        } else if (sl->t[i].rd && sl->mode == SLOG_PEER) {
            sl->t[i].rd->flush = slog_flush_cb;
        }
    }
}

/* A follower whose leader did not answer, or whose channel to it dropped:
 * this node's own tasks, and with follow what they print from now on when
 * the leader had already sent their backlog. */
static void slog_fallback(struct slog *sl, const char *why)
{
    const char *self = mgr_cluster_node_id(node_swarm_cluster());
    struct lrd_opts o = sl->o;
    size_t k = 0;

    if (sl->finished || sl->mode != SLOG_PROXIED)
        return;
    log_warn("service logs through the leader: %s; showing the tasks of this node", why);
    sl->mode = SLOG_LOCAL;
    sl->leader_open = false;
    uv_timer_stop(&sl->timer);
    /* this node's lines are read again from its own logs */
    for (size_t i = 0; i < sl->n_ents; i++) {
        if (strcmp(sl->t[sl->ents[i].task].node, self) == 0)
            free(sl->ents[i].text);
        else
            sl->ents[k++] = sl->ents[i];
    }
    sl->n_ents = k;
    if (sl->follow && sl->got_lines) {
        o.tail = 0;
        o.since_ns = 0;
    }
    slog_open_local(sl, &o);
    if (!sl->follow)
        slog_finish(sl);
}

static void on_slog_timeout(uv_timer_t *t)
{
    struct slog *sl = t->data;

    if (sl->mode == SLOG_PROXIED) {
        slog_fallback(sl, "no answer in time");
        return;
    }
    for (size_t i = 0; i < sl->n_nodes; i++)
        if (!sl->nodes[i].done)
            log_info("service logs: no answer from node %s, leaving its tasks out",
                     sl->nodes[i].id);
    slog_finish(sl);
}

static void on_slog_abort(struct http_req *req)
{
    struct slog *sl = req->data;

    if (sl)
        slog_finish(sl);
}

/* Frames from agent sessions (leader). msg NULL: node_id's session ended. */
static void on_log_frame(void *ud, const char *node_id, json_t *msg)
{
    json_int_t req = msg ? json_integer_value(json_object_get(msg, "req")) : 0;

    (void)ud;
    for (struct slog *sl = slogs, *next; sl; sl = next) {
        struct snode *nd = NULL;
        next = sl->next;
        if (msg && sl->req_id != req)
            continue;
        for (size_t i = 0; i < sl->n_nodes; i++)
            if (strcmp(sl->nodes[i].id, node_id) == 0)
                nd = &sl->nodes[i];
        if (!nd || nd->done)
            continue;
        if (!msg || strcmp(jstr(msg, "t"), "logend") == 0) {
            nd->done = true;
            slog_check_done(sl);
            continue;
        }
        json_t *lines = json_object_get(msg, "lines"), *l;
        size_t i;
        json_array_foreach(lines, i, l)
        {
            const char *task = jstr(l, "task");
            json_t *text = json_object_get(l, "line");
            int stream = (int)json_integer_value(json_object_get(l, "stream"));
            for (size_t k = 0; k < sl->n_t; k++) {
                /* only tasks this node runs */
                if (strcmp(sl->t[k].id, task) != 0 || strcmp(sl->t[k].node, node_id) != 0)
                    continue;
                if (json_is_string(text))
                    slog_line(sl, k, stream == 2 ? 2 : 1,
                              (int64_t)json_integer_value(json_object_get(l, "ts")),
                              json_string_value(text), json_string_length(text));
                break;
            }
        }
        slog_peer_flush(sl, false);
    }
}

/* The index of task id in sl->t, added (with the leader's node and service)
 * when this follower's store does not know it yet; -1 without memory. */
static ssize_t slog_task(struct slog *sl, const char *id, const char *node, const char *service)
{
    struct stask *n;

    for (size_t k = 0; k < sl->n_t; k++)
        if (strcmp(sl->t[k].id, id) == 0)
            return (ssize_t)k;
    n = realloc(sl->t, (sl->n_t + 1) * sizeof(*n));
    if (!n)
        return -1;
    sl->t = n;
    memset(&n[sl->n_t], 0, sizeof(*n));
    snprintf(n[sl->n_t].id, sizeof(n[0].id), "%s", id);
    snprintf(n[sl->n_t].node, sizeof(n[0].node), "%s", node);
    snprintf(n[sl->n_t].service, sizeof(n[0].service), "%s", service);
    return (ssize_t)sl->n_t++;
}

/* Frames from the leader on a follower (its answers to our proxied
 * requests). msg NULL: the channel to the leader dropped. */
static void on_leader_frame(void *ud, json_t *msg)
{
    json_int_t req;
    struct slog *sl;
    json_t *lines, *l;
    size_t i;

    (void)ud;
    if (!msg) {
        /* (each fallback turns its request into a local one) */
        for (;;) {
            for (sl = slogs; sl && sl->mode != SLOG_PROXIED; sl = sl->next)
                ;
            if (!sl)
                return;
            slog_fallback(sl, "the channel to the leader dropped");
        }
    }
    req = json_integer_value(json_object_get(msg, "req"));
    for (sl = slogs; sl && !(sl->mode == SLOG_PROXIED && sl->req_id == req); sl = sl->next)
        ;
    if (strcmp(jstr(msg, "t"), "logend") == 0) {
        if (!sl)
            return;
        if (json_object_get(msg, "error") || sl->follow) {
            slog_fallback(sl, json_object_get(msg, "error") ? jstr(msg, "error")
                                                            : "the leader ended the stream");
            return;
        }
        sl->leader_open = false;
        slog_finish(sl);
        return;
    }
    if (!sl) {
        /* a stream nobody reads any more (we gave up on it) */
        if (node_swarm_cluster())
            (void)mgr_cluster_send_to_leader(node_swarm_cluster(),
                                             json_pack("{s:s,s:I}", "t", "logstop", "req", req));
        return;
    }
    sl->got_lines = true;
    lines = json_object_get(msg, "lines");
    json_array_foreach(lines, i, l)
    {
        json_t *text = json_object_get(l, "line");
        int stream = (int)json_integer_value(json_object_get(l, "stream"));
        ssize_t k;
        if (!json_is_string(text))
            continue;
        k = slog_task(sl, jstr(l, "task"), jstr(l, "node"), jstr(l, "service"));
        if (k >= 0)
            slog_line(sl, (size_t)k, stream == 2 ? 2 : 1,
                      (int64_t)json_integer_value(json_object_get(l, "ts")),
                      json_string_value(text), json_string_length(text));
    }
}

static bool spec_tty(const char *spec_json, bool task_spec)
{
    json_t *o = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    json_t *ts = task_spec ? o : json_object_get(o, "TaskTemplate");
    bool tty = json_is_true(json_object_get(json_object_get(ts, "ContainerSpec"), "TTY"));

    json_decref(o);
    return tty;
}

static int add_task(struct slog *sl, const MgrTask *t)
{
    struct stask *n, *st;

    if (!t->status || !t->status->container_id || !t->status->container_id[0] || !t->node_id ||
        !t->node_id[0])
        return 0;
    n = realloc(sl->t, (sl->n_t + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    sl->t = n;
    st = &n[sl->n_t++];
    memset(st, 0, sizeof(*st));
    snprintf(st->id, sizeof(st->id), "%s", t->id);
    snprintf(st->node, sizeof(st->node), "%s", t->node_id);
    snprintf(st->service, sizeof(st->service), "%s", t->service_id ? t->service_id : "");
    snprintf(st->container, sizeof(st->container), "%s", t->status->container_id);
    return 0;
}

/* The tasks of service (or task) ref that have a container, and the TTY
 * setting of its spec. */
static int slog_collect(struct slog *sl, const struct mgr_store *s, const char *ref, bool is_task,
                        struct err *e)
{
    if (is_task) {
        const MgrTask *t;
        int r = mgr_store_task_find(s, ref, &t, e);
        if (r < 0)
            return r;
        sl->tty = spec_tty(t->spec_json, true);
        return add_task(sl, t);
    }
    const MgrService *sv;
    const MgrTask **tasks = NULL;
    size_t n = 0;
    int r = mgr_store_service_find(s, ref, &sv, e);
    if (r < 0)
        return r;
    sl->tty = spec_tty(sv->spec_json, false);
    if (mgr_store_tasks_of_service(s, sv->id, &tasks, &n) == 0)
        for (size_t i = 0; i < n; i++)
            (void)add_task(sl, tasks[i]);
    free(tasks);
    return 0;
}

/* Leader: ask every other node that runs one of the tasks. */
static void slog_start_remote(struct slog *sl, struct mgr_cluster *c, const struct lrd_opts *o)
{
    const char *self = mgr_cluster_node_id(c);

    for (size_t i = 0; i < sl->n_t; i++) {
        const char *node = sl->t[i].node;
        bool seen = strcmp(node, self) == 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(sl->t[k].node, node) == 0;
        if (seen)
            continue;
        json_t *tasks = json_array();
        for (size_t k = i; k < sl->n_t; k++)
            if (strcmp(sl->t[k].node, node) == 0)
                json_array_append_new(tasks, json_pack("{s:s,s:s}", "task", sl->t[k].id,
                                                       "container", sl->t[k].container));
        json_t *m =
            json_pack("{s:s,s:I,s:b,s:I,s:I,s:b,s:b,s:o}", "t", "logs", "req", sl->req_id, "follow",
                      o->follow, "tail", (json_int_t)o->tail, "since", (json_int_t)o->since_ns,
                      "stdout", o->out, "stderr", o->err, "tasks", tasks);
        int r = m ? mgr_cluster_send_to_node(c, node, m) : -ENOMEM;
        json_decref(m);
        if (r < 0) {
            log_info("service logs: node %s is not reachable, leaving its tasks out", node);
            continue;
        }
        struct snode *n = realloc(sl->nodes, (sl->n_nodes + 1) * sizeof(*n));
        if (!n)
            continue; /* its lines are ignored; a logstop is never sent */
        sl->nodes = n;
        memset(&n[sl->n_nodes], 0, sizeof(*n));
        snprintf(n[sl->n_nodes].id, sizeof(n[0].id), "%s", node);
        sl->n_nodes++;
    }
}

/* Run sl (tasks collected): on a follower, hand the whole request to the
 * leader; on the leader (or a follower that cannot reach it), read this
 * node's tasks and ask the other nodes. */
static void slog_start(struct slog *sl, struct mgr_cluster *c, const char *ref, bool is_task)
{
    bool leads = mgr_cluster_is_leader(c);

    if (!sink_set) {
        mgr_cluster_set_log_sink(c, on_log_frame, NULL);
        mgr_cluster_set_logfwd_sink(c, on_leader_frame, NULL);
        sink_set = true;
    }
    sl->req_id = next_req_id++;
    uv_timer_init(node_current->loop, &sl->timer);
    sl->timer.data = sl;
    sl->next = slogs;
    slogs = sl;
    if (sl->mode == SLOG_LOCAL && !leads) {
        json_t *m = json_pack("{s:s,s:I,s:s,s:b,s:b,s:I,s:I,s:b,s:b}", "t", "logs", "req",
                              sl->req_id, "ref", ref, "task", is_task, "follow", sl->o.follow,
                              "tail", (json_int_t)sl->o.tail, "since", (json_int_t)sl->o.since_ns,
                              "stdout", sl->o.out, "stderr", sl->o.err);
        if (mgr_cluster_send_to_leader(c, m) == 0) {
            sl->mode = SLOG_PROXIED;
            sl->leader_open = true;
            if (!sl->follow)
                uv_timer_start(&sl->timer, on_slog_timeout, FWD_WAIT_MS, 0);
            return;
        }
        log_warn("service logs on a follower manager without a reachable leader: only the "
                 "tasks of this node are shown");
    }
    if (leads)
        slog_start_remote(sl, c, &sl->o);
    slog_open_local(sl, &sl->o);
    if (!sl->follow)
        uv_timer_start(&sl->timer, on_slog_timeout, REMOTE_WAIT_MS, 0);
    else
        slog_peer_flush(sl, true);
    slog_check_done(sl);
}

static void service_logs(struct http_req *req, struct mgr_cluster *c, const struct mgr_store *s,
                         const char *ref, bool is_task)
{
    const char *tail = http_query_get(req, "tail");
    struct lrd_opts o = {.tail = -1};
    struct slog *sl;
    struct err e = {0};

    if (tail && *tail && strcmp(tail, "all") != 0) {
        int64_t v;
        if (parse_i64(tail, &v) < 0) {
            http_reply_error(req, 400, "invalid value for tail: %s", tail);
            return;
        }
        o.tail = v < 0 ? -1 : v;
    }
    if (parse_since(http_query_get(req, "since"), &o.since_ns) < 0) {
        http_reply_error(req, 400, "invalid time value for since");
        return;
    }
    o.out = http_query_bool(req, "stdout", false);
    o.err = http_query_bool(req, "stderr", false);
    o.follow = http_query_bool(req, "follow", false);
    if (!o.out && !o.err) {
        http_reply_error(req, 400, "Bad parameters: you must choose at least one stream");
        return;
    }
    sl = calloc(1, sizeof(*sl));
    if (!sl) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    sl->mode = SLOG_LOCAL;
    sl->o = o;
    sl->follow = o.follow;
    sl->timestamps = http_query_bool(req, "timestamps", false);
    if (slog_collect(sl, s, ref, is_task, &e) < 0) {
        free(sl->t);
        free(sl);
        node_swarm_reply_err(req, &e);
        return;
    }
    http_req_ref(req);
    sl->req = req;
    req->data = sl;
    req->on_abort = on_slog_abort;
    http_stream_begin(req, 200, NULL);
    slog_start(sl, c, ref, is_task);
}

/* ---- leader side of a follower's request ---------------------------------------- */

static void peer_logs_start(uint64_t peer, json_t *msg)
{
    struct mgr_cluster *c = node_swarm_cluster();
    const struct mgr_store *s = c ? mgr_cluster_store(c) : NULL;
    json_int_t preq = json_integer_value(json_object_get(msg, "req"));
    struct slog *sl = calloc(1, sizeof(*sl));
    struct err e = {0};
    const char *ref = jstr(msg, "ref");
    bool is_task = json_is_true(json_object_get(msg, "task"));

    if (!c)
        goto fail;
    if (!sl || !s || (sl->batch = json_array()) == NULL) {
        err_set(&e, -ENOMEM, "out of memory");
        goto fail;
    }
    sl->mode = SLOG_PEER;
    sl->peer = peer;
    sl->peer_req = preq;
    sl->o = (struct lrd_opts){
        .out = json_is_true(json_object_get(msg, "stdout")),
        .err = json_is_true(json_object_get(msg, "stderr")),
        .follow = json_is_true(json_object_get(msg, "follow")),
        .tail = json_object_get(msg, "tail")
                    ? (int64_t)json_integer_value(json_object_get(msg, "tail"))
                    : -1,
        .since_ns = (int64_t)json_integer_value(json_object_get(msg, "since")),
    };
    sl->follow = sl->o.follow;
    if (slog_collect(sl, s, ref, is_task, &e) < 0)
        goto fail;
    slog_start(sl, c, ref, is_task);
    return;
fail:
    if (c)
        (void)mgr_cluster_peer_send(c, peer,
                                    json_pack("{s:s,s:I,s:s}", "t", "logend", "req", preq, "error",
                                              e.msg[0] ? e.msg : "failed"));
    if (sl) {
        free(sl->t);
        json_decref(sl->batch);
        free(sl);
    }
}

/* A follower's logstop (req >= 0) or its channel closed (req < 0: all). */
static void peer_logs_stop(uint64_t peer, json_int_t req)
{
    for (struct slog *sl = slogs, *next; sl; sl = next) {
        next = sl->next;
        if (sl->mode != SLOG_PEER || sl->peer != peer || (req >= 0 && sl->peer_req != req))
            continue;
        if (req < 0)
            sl->peer_gone = true;
        slog_finish(sl);
    }
}

void node_service_logs_agent(void *ud, json_t *msg)
{
    json_int_t peer = msg ? json_integer_value(json_object_get(msg, "peer")) : 0;
    json_int_t req = msg ? json_integer_value(json_object_get(msg, "req")) : 0;
    const char *t;

    (void)ud;
    if (!node_current || !node_current->rt)
        return;
    if (!msg) {
        while (areqs)
            areq_free(areqs);
        return;
    }
    t = jstr(msg, "t");
    if (peer > 0) {
        /* proxied by a follower manager (this node leads) */
        if (strcmp(t, "logs") == 0)
            peer_logs_start((uint64_t)peer, msg);
        else if (strcmp(t, "logstop") == 0)
            peer_logs_stop((uint64_t)peer, req < 0 ? 0 : req);
        else if (strcmp(t, "peergone") == 0)
            peer_logs_stop((uint64_t)peer, -1);
        return;
    }
    if (strcmp(t, "logs") == 0) {
        agent_logs_start(msg);
    } else if (strcmp(t, "logstop") == 0) {
        for (struct areq *a = areqs; a; a = a->next)
            if (a->req == req) {
                areq_free(a);
                break;
            }
    }
}

/* "/<base>/<ref>/logs": copies ref. */
static bool logs_path(const char *path, const char *base, char *ref, size_t reflen)
{
    size_t bl = strlen(base), len;
    const char *rest;

    if (strncmp(path, base, bl) != 0 || path[bl] != '/')
        return false;
    rest = path + bl + 1;
    len = strcspn(rest, "/");
    if (len == 0 || len >= reflen || strcmp(rest + len, "/logs") != 0)
        return false;
    memcpy(ref, rest, len);
    ref[len] = '\0';
    return true;
}

bool node_api_service_logs(struct http_req *req, const char *path)
{
    const struct mgr_store *st;
    char ref[256];
    bool is_task;

    if (strcmp(req->method, "GET") != 0)
        return false;
    if (logs_path(path, "/services", ref, sizeof(ref)))
        is_task = false;
    else if (logs_path(path, "/tasks", ref, sizeof(ref)))
        is_task = true;
    else
        return false;
    if ((st = node_swarm_store(req)))
        service_logs(req, node_swarm_cluster(), st, ref, is_task);
    return true;
}
