/*
 * manager/dispatcher.c - see manager/dispatcher.h.
 */
#define LOG_MODULE "dispatcher"

#include "manager/dispatcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#include "manager/svcjson.h"

#define FLUSH_MS  10
#define STATUS_MS 50
#define MAX_BATCH 1000

struct sent {
    char id[MGR_ID_LEN + 1];
    uint64_t version;
};

struct sess {
    char node_id[MGR_ID_LEN + 1];
    void *conn;
    mgr_disp_send_fn send;
    bool full;         /* next message carries the whole set */
    struct sent *sent; /* sorted by id */
    size_t n_sent;
};

struct pending_status {
    char id[MGR_ID_LEN + 1];
    MgrTaskStatus st;
    char *message, *err, *container_id;
};

struct mgr_disp {
    uv_loop_t *loop;
    const struct mgr_store *store;
    mgr_orch_write_fn write;
    void *ud;
    uv_timer_t flush_timer, status_timer;
    int open_handles;
    bool closing;
    bool writing;
    struct sess *s;
    size_t n_s;
    struct pending_status *ps;
    size_t n_ps;
};

static void on_flush(uv_timer_t *t);
static void on_status_timer(uv_timer_t *t);

struct mgr_disp *mgr_disp_new(uv_loop_t *loop, const struct mgr_store *store,
                              mgr_orch_write_fn write, void *ud)
{
    struct mgr_disp *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->loop = loop;
    d->store = store;
    d->write = write;
    d->ud = ud;
    uv_timer_init(loop, &d->flush_timer);
    uv_timer_init(loop, &d->status_timer);
    d->flush_timer.data = d->status_timer.data = d;
    d->open_handles = 2;
    return d;
}

static struct sess *sess_find(struct mgr_disp *d, const char *node_id)
{
    for (size_t i = 0; i < d->n_s; i++)
        if (strcmp(d->s[i].node_id, node_id) == 0)
            return &d->s[i];
    return NULL;
}

static void sess_drop(struct mgr_disp *d, struct sess *s)
{
    free(s->sent);
    *s = d->s[--d->n_s];
}

void mgr_disp_session(struct mgr_disp *d, const char *node_id, void *conn, mgr_disp_send_fn send)
{
    struct sess *s;

    if (!d || d->closing)
        return;
    s = sess_find(d, node_id);
    if (!send) {
        if (s && s->conn == conn)
            sess_drop(d, s);
        return;
    }
    if (!s) {
        struct sess *n = realloc(d->s, (d->n_s + 1) * sizeof(*n));
        if (!n)
            return;
        d->s = n;
        s = &d->s[d->n_s++];
        memset(s, 0, sizeof(*s));
        snprintf(s->node_id, sizeof(s->node_id), "%s", node_id);
    } else if (s->conn == conn) {
        return;
    }
    s->conn = conn;
    s->send = send;
    s->full = true;
    free(s->sent);
    s->sent = NULL;
    s->n_sent = 0;
    mgr_disp_kick(d);
}

int mgr_disp_send(struct mgr_disp *d, const char *node_id, json_t *msg)
{
    struct sess *s = d && !d->closing ? sess_find(d, node_id) : NULL;

    if (!s || !s->send)
        return -ENOTCONN;
    return s->send(s->conn, msg);
}

void mgr_disp_kick(struct mgr_disp *d)
{
    if (!d || d->closing || !d->n_s || uv_is_active((uv_handle_t *)&d->flush_timer))
        return;
    uv_timer_start(&d->flush_timer, on_flush, FLUSH_MS, 0);
}

static int cmp_sent(const void *a, const void *b)
{
    return strcmp(((const struct sent *)a)->id, ((const struct sent *)b)->id);
}

static json_t *task_msg(const MgrTask *t)
{
    json_t *o = mgr_json_task(t);

    if (o)
        json_object_set_new(o, "ServiceName", json_string(t->service_name ? t->service_name : ""));
    if (o && t->endpoint_json && t->endpoint_json[0]) {
        json_t *ep = json_loads(t->endpoint_json, 0, NULL);
        if (ep)
            json_object_set_new(o, "Endpoint", ep);
    }
    return o;
}

static void sess_flush(struct mgr_disp *d, struct sess *s)
{
    const MgrTask **tasks = NULL;
    size_t n = 0, k = 0;
    struct sent *now;
    json_t *list, *removed, *msg;

    if (mgr_store_tasks_of_node(d->store, s->node_id, &tasks, &n) < 0)
        return;
    now = calloc(n ? n : 1, sizeof(*now));
    list = json_array();
    removed = json_array();
    if (!now || !list || !removed)
        goto out;
    for (size_t i = 0; i < n; i++) {
        snprintf(now[i].id, sizeof(now[i].id), "%s", tasks[i]->id);
        now[i].version = tasks[i]->meta ? tasks[i]->meta->version : 0;
    }
    qsort(now, n, sizeof(*now), cmp_sent);
    /* merge the sorted old and new sets */
    for (size_t i = 0; i < n; i++) {
        while (k < s->n_sent && strcmp(s->sent[k].id, now[i].id) < 0)
            json_array_append_new(removed, json_string(s->sent[k++].id));
        bool same = k < s->n_sent && strcmp(s->sent[k].id, now[i].id) == 0;
        if (!s->full && same && s->sent[k].version == now[i].version) {
            k++;
            continue;
        }
        if (same)
            k++;
        const MgrTask *t = mgr_store_task(d->store, now[i].id);
        json_t *o = t ? task_msg(t) : NULL;
        if (o)
            json_array_append_new(list, o);
    }
    while (k < s->n_sent)
        json_array_append_new(removed, json_string(s->sent[k++].id));
    if (!s->full && json_array_size(list) == 0 && json_array_size(removed) == 0)
        goto out;
    msg = json_pack("{s:s,s:b,s:O,s:O}", "t", "tasks", "full", s->full, "tasks", list, "removed",
                    removed);
    if (msg && s->send(s->conn, msg) == 0) {
        s->full = false;
        free(s->sent);
        s->sent = now;
        s->n_sent = n;
        now = NULL;
    }
    json_decref(msg);
out:
    free(now);
    json_decref(list);
    json_decref(removed);
    free(tasks);
}

static void on_flush(uv_timer_t *t)
{
    struct mgr_disp *d = t->data;

    for (size_t i = 0; i < d->n_s; i++)
        sess_flush(d, &d->s[i]);
}

/* ---- status from agents ----------------------------------------------------------- */

static void ps_clear(struct pending_status *p)
{
    free(p->message);
    free(p->err);
    free(p->container_id);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

void mgr_disp_status(struct mgr_disp *d, const char *node_id, json_t *updates)
{
    size_t i;
    json_t *u;

    if (!d || d->closing || !json_is_array(updates))
        return;
    json_array_foreach(updates, i, u)
    {
        const char *id = jstr(u, "ID");
        const MgrTask *t = mgr_store_task(d->store, id);
        int state;
        struct pending_status *p = NULL;

        if (!t || strcmp(t->node_id, node_id) != 0) {
            log_debug("node %s reported task %s, which is not assigned to it", node_id, id);
            continue;
        }
        if (mgr_task_state_parse(jstr(u, "State"), &state) < 0)
            continue;
        for (size_t k = 0; k < d->n_ps; k++)
            if (strcmp(d->ps[k].id, id) == 0)
                p = &d->ps[k];
        if (!p) {
            struct pending_status *n = realloc(d->ps, (d->n_ps + 1) * sizeof(*n));
            if (!n)
                return;
            d->ps = n;
            p = &d->ps[d->n_ps++];
        } else {
            ps_clear(p);
        }
        memset(p, 0, sizeof(*p));
        snprintf(p->id, sizeof(p->id), "%s", id);
        shoal__store__task_status__init(&p->st);
        p->st.state = (Shoal__Store__TaskState)state;
        p->st.timestamp_ns = (int64_t)json_integer_value(json_object_get(u, "Timestamp"));
        p->st.exit_code = (int32_t)json_integer_value(json_object_get(u, "ExitCode"));
        p->st.pid = (int32_t)json_integer_value(json_object_get(u, "PID"));
        p->message = strdup(jstr(u, "Message"));
        p->err = strdup(jstr(u, "Err"));
        p->container_id = strdup(jstr(u, "ContainerID"));
        p->st.message = p->message ? p->message : (char *)"";
        p->st.err = p->err ? p->err : (char *)"";
        p->st.container_id = p->container_id ? p->container_id : (char *)"";
    }
    if (d->n_ps && !d->writing && !uv_is_active((uv_handle_t *)&d->status_timer))
        uv_timer_start(&d->status_timer, on_status_timer, STATUS_MS, 0);
}

static void on_status_written(void *data, int status, const struct err *err)
{
    struct mgr_disp *d = data;

    d->writing = false;
    if (d->closing) {
        if (d->open_handles == 0)
            free(d);
        return;
    }
    if (status < 0)
        log_info("writing task status: %s", err ? err->msg : strerror(-status));
    if (d->n_ps)
        uv_timer_start(&d->status_timer, on_status_timer, STATUS_MS, 0);
}

static void on_status_timer(uv_timer_t *t)
{
    struct mgr_disp *d = t->data;
    size_t n = d->n_ps > MAX_BATCH ? MAX_BATCH : d->n_ps;
    MgrCommand cmd = SHOAL__STORE__STORE_COMMAND__INIT;
    Shoal__Store__TaskBatch tb = SHOAL__STORE__TASK_BATCH__INIT;
    Shoal__Store__TaskOp *ops = calloc(n, sizeof(*ops));
    Shoal__Store__TaskOp **opp = calloc(n, sizeof(*opp));
    Shoal__Store__TaskSetStatus *ss = calloc(n, sizeof(*ss));
    struct err e;

    if (!ops || !opp || !ss || d->writing || !n)
        goto out;
    for (size_t i = 0; i < n; i++) {
        shoal__store__task_op__init(&ops[i]);
        shoal__store__task_set_status__init(&ss[i]);
        ss[i].id = d->ps[i].id;
        ss[i].status = &d->ps[i].st;
        ops[i].op_case = SHOAL__STORE__TASK_OP__OP_SET_STATUS;
        ops[i].set_status = &ss[i];
        opp[i] = &ops[i];
    }
    tb.n_ops = n;
    tb.ops = opp;
    cmd.op_case = SHOAL__STORE__STORE_COMMAND__OP_TASK_BATCH;
    cmd.task_batch = &tb;
    d->writing = true;
    if (d->write(d->ud, &cmd, on_status_written, d, &e) < 0) {
        d->writing = false;
        log_info("writing task status: %s", e.msg);
        uv_timer_start(&d->status_timer, on_status_timer, 500, 0);
    }
    /* the command is packed by now: drop what was sent */
    for (size_t i = 0; i < n; i++)
        ps_clear(&d->ps[i]);
    memmove(d->ps, d->ps + n, (d->n_ps - n) * sizeof(*d->ps));
    d->n_ps -= n;
out:
    free(ops);
    free(opp);
    free(ss);
}

static void on_closed(uv_handle_t *h)
{
    struct mgr_disp *d = h->data;

    if (--d->open_handles > 0 || d->writing)
        return;
    free(d);
}

void mgr_disp_close(struct mgr_disp *d)
{
    if (!d)
        return;
    d->closing = true;
    for (size_t i = 0; i < d->n_s; i++)
        free(d->s[i].sent);
    free(d->s);
    d->s = NULL;
    d->n_s = 0;
    for (size_t i = 0; i < d->n_ps; i++)
        ps_clear(&d->ps[i]);
    free(d->ps);
    d->ps = NULL;
    d->n_ps = 0;
    uv_close((uv_handle_t *)&d->flush_timer, on_closed);
    uv_close((uv_handle_t *)&d->status_timer, on_closed);
}
