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
 * On a follower manager there is no session to the other nodes: the answer
 * holds this node's tasks only, and shoald logs a warning (the CLI would
 * abort on a stream-3 error frame, so nothing is said to the client).
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

#define REMOTE_WAIT_MS 2000
#define READ_CHUNK     (64 * 1024)
#define MAX_LINE_BYTES (32 * 1024)   /* longer lines are cut (agent frames stay small) */
#define BATCH_BYTES    (64 * 1024)   /* agent: flush a loglines frame at this size */
#define MAX_PARTIAL    (1024 * 1024) /* an unterminated "line" longer than this is dropped */

#define MSG_INACTIVE                                                                               \
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to "     \
    "connect this node to swarm and try again."

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

void node_service_logs_agent(void *ud, json_t *msg)
{
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
    if (strcmp(t, "logs") == 0) {
        agent_logs_start(msg);
    } else if (strcmp(t, "logstop") == 0) {
        json_int_t req = json_integer_value(json_object_get(msg, "req"));
        for (struct areq *a = areqs; a; a = a->next)
            if (a->req == req) {
                areq_free(a);
                break;
            }
    }
}

/* ---- API side ------------------------------------------------------------------- */

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

struct slog {
    struct slog *next;
    json_int_t req_id;
    struct http_req *req;
    uv_timer_t timer;
    bool follow, timestamps, tty, finished;
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

static void slog_write(struct slog *sl, size_t ti, int stream, int64_t ts, const char *text,
                       size_t len)
{
    const struct stask *t = &sl->t[ti];
    unsigned char hdr[8] = {0};
    struct buf out;
    bool nl = len > 0 && text[len - 1] == '\n';

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
    http_req_unref(sl->req);
    free(sl);
}

static void slog_finish(struct slog *sl)
{
    struct mgr_cluster *c = node_current->cluster;

    if (sl->finished)
        return;
    for (struct slog **pp = &slogs; *pp; pp = &(*pp)->next)
        if (*pp == sl) {
            *pp = sl->next;
            break;
        }
    if (!sl->follow && !sl->req->aborted) {
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
    for (size_t i = 0; i < sl->n_t; i++) {
        lrd_free(sl->t[i].rd);
        sl->t[i].rd = NULL;
    }
    sl->req->data = NULL;
    sl->req->on_abort = NULL;
    http_stream_end(sl->req);
    uv_timer_stop(&sl->timer);
    uv_close((uv_handle_t *)&sl->timer, slog_closed);
}

static void slog_check_done(struct slog *sl)
{
    if (sl->follow || sl->finished)
        return;
    for (size_t i = 0; i < sl->n_nodes; i++)
        if (!sl->nodes[i].done)
            return;
    slog_finish(sl);
}

static void on_slog_timeout(uv_timer_t *t)
{
    struct slog *sl = t->data;

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

static void reply_store_err(struct http_req *req, const struct err *e)
{
    char msg[ERR_MSG_MAX + 64];
    int status = mgr_api_error(e, msg, sizeof(msg));

    http_reply_error(req, status, "%s", msg);
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

static void slog_start_remote(struct slog *sl, struct mgr_cluster *c, const struct lrd_opts *o)
{
    const char *self = mgr_cluster_node_id(c);
    bool warned = false;

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
        if (r == ERR_NOT_LEADER) {
            if (!warned)
                log_warn("service logs on a follower manager: only the tasks of this node "
                         "are shown (ask the leader for all of them)");
            warned = true;
            continue;
        }
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

static void service_logs(struct http_req *req, struct mgr_cluster *c, const struct mgr_store *s,
                         const char *ref, bool is_task)
{
    const char *tail = http_query_get(req, "tail");
    struct lrd_opts o = {.tail = -1};
    struct slog *sl;
    struct err e = {0};
    const char *self = mgr_cluster_node_id(c);

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
    sl->follow = o.follow;
    sl->timestamps = http_query_bool(req, "timestamps", false);
    if (is_task) {
        const MgrTask *t;
        if (mgr_store_task_find(s, ref, &t, &e) < 0 || add_task(sl, t) < 0) {
            free(sl->t);
            free(sl);
            reply_store_err(req, &e);
            return;
        }
        sl->tty = spec_tty(t->spec_json, true);
    } else {
        const MgrService *sv;
        const MgrTask **tasks = NULL;
        size_t n = 0;
        if (mgr_store_service_find(s, ref, &sv, &e) < 0) {
            free(sl);
            reply_store_err(req, &e);
            return;
        }
        sl->tty = spec_tty(sv->spec_json, false);
        if (mgr_store_tasks_of_service(s, sv->id, &tasks, &n) == 0)
            for (size_t i = 0; i < n; i++)
                (void)add_task(sl, tasks[i]);
        free(tasks);
    }
    if (!sink_set) {
        mgr_cluster_set_log_sink(c, on_log_frame, NULL);
        sink_set = true;
    }
    sl->req_id = next_req_id++;
    http_req_ref(req);
    sl->req = req;
    req->data = sl;
    req->on_abort = on_slog_abort;
    uv_timer_init(node_current->loop, &sl->timer);
    sl->timer.data = sl;
    sl->next = slogs;
    slogs = sl;
    http_stream_begin(req, 200, NULL);
    slog_start_remote(sl, c, &o);
    for (size_t i = 0; i < sl->n_t; i++) {
        struct rt_container *ct = NULL;
        if (strcmp(sl->t[i].node, self) != 0 ||
            rt_container_find(node_current->rt, sl->t[i].container, &ct, NULL) < 0)
            continue;
        sl->t[i].rd = lrd_open(ct, &o, slog_line, sl, i);
        if (!o.follow) {
            lrd_free(sl->t[i].rd);
            sl->t[i].rd = NULL;
        }
    }
    if (!o.follow)
        uv_timer_start(&sl->timer, on_slog_timeout, REMOTE_WAIT_MS, 0);
    slog_check_done(sl);
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
    struct mgr_cluster *c = node_current ? node_current->cluster : NULL;
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
    if (!c || !mgr_cluster_is_manager(c) || !mgr_cluster_store(c)) {
        http_reply_error(req, 503, "%s",
                         c && mgr_cluster_state(c) == MGR_LOCAL_ACTIVE ? MGR_MSG_NOT_MANAGER
                                                                       : MSG_INACTIVE);
        return true;
    }
    service_logs(req, c, mgr_cluster_store(c), ref, is_task);
    return true;
}
