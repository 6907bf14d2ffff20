/*
 * node/api_events.c - GET /events: replay from the ring (since/until), then
 * a chunked stream of one JSON object per line until `until` or the client
 * leaves.
 */
#define LOG_MODULE "api"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#include "node/events.h"
#include "node/node.h"

struct ev_stream {
    struct http_req *req;
    json_t *filters;
    struct node_event_sub sub;
    uv_timer_t timer; /* ends the stream at `until` */
    int64_t until_ns;
    bool done;
};

static void stream_closed(uv_handle_t *h)
{
    struct ev_stream *es = h->data;

    json_decref(es->filters);
    http_req_unref(es->req);
    free(es);
}

static void stream_finish(struct ev_stream *es)
{
    if (es->done)
        return;
    es->done = true;
    node_events_unsubscribe(&es->sub);
    es->req->data = NULL;
    es->req->on_abort = NULL;
    http_stream_end(es->req);
    uv_timer_stop(&es->timer);
    uv_close((uv_handle_t *)&es->timer, stream_closed);
}

static void write_line(struct http_req *req, const char *text)
{
    size_t len = strlen(text);
    char *line = malloc(len + 2);

    if (!line)
        return;
    memcpy(line, text, len);
    line[len] = '\n';
    http_stream_write(req, line, len + 1);
    free(line);
}

static void on_event(void *arg, json_t *ev, const char *text)
{
    struct ev_stream *es = arg;

    if (es->done || es->req->aborted)
        return;
    if (es->until_ns > 0 && json_integer_value(json_object_get(ev, "timeNano")) > es->until_ns)
        return;
    if (node_event_match(es->filters, ev))
        write_line(es->req, text);
}

static void on_until(uv_timer_t *t)
{
    stream_finish(t->data);
}

static void on_abort(struct http_req *req)
{
    struct ev_stream *es = req->data;

    if (es)
        stream_finish(es);
}

static void get_events(struct http_req *req)
{
    const char *since_s = http_query_get(req, "since");
    const char *until_s = http_query_get(req, "until");
    int64_t since = 0, until = 0, now = time_now_ns();
    struct ev_stream *es;
    json_t *f;
    bool bad;

    if (since_s && *since_s && node_events_parse_time(since_s, &since) < 0) {
        http_reply_error(req, 400, "invalid value for since: %s", since_s);
        return;
    }
    if (until_s && *until_s && node_events_parse_time(until_s, &until) < 0) {
        http_reply_error(req, 400, "invalid value for until: %s", until_s);
        return;
    }
    if (since > 0 && until > 0 && until < since) {
        http_reply_error(req, 400, "`since` time (%s) cannot be after `until` time (%s)", since_s,
                         until_s);
        return;
    }
    f = node_parse_filters(req, &bad);
    if (bad)
        return;
    es = calloc(1, sizeof(*es));
    if (!es) {
        json_decref(f);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    es->filters = f;
    es->until_ns = until;
    es->sub.fn = on_event;
    es->sub.arg = es;
    es->sub.next = es->sub.prev = &es->sub;
    http_req_ref(req);
    es->req = req;
    req->data = es;
    req->on_abort = on_abort;
    uv_timer_init(node_current->loop, &es->timer);
    es->timer.data = es;
    http_stream_begin(req, 200, "application/json");
    if (since > 0) {
        size_t n = node_events_count();
        for (size_t i = 0; i < n; i++) {
            int64_t ns;
            json_t *ev = node_events_at(i, &ns);
            char *text;
            if (ns < since || (until > 0 && ns > until) || !node_event_match(f, ev))
                continue;
            text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (text)
                write_line(req, text);
            free(text);
        }
    }
    if (until > 0 && until <= now) {
        stream_finish(es);
        return;
    }
    node_events_subscribe(&es->sub);
    if (until > 0)
        uv_timer_start(&es->timer, on_until, (uint64_t)((until - now) / 1000000 + 1), 0);
}

bool node_api_events(struct http_req *req, const char *path)
{
    static bool registered;

    /* the runtime's callback (node_events_init also belongs in start-up) */
    if (!registered && node_current && node_current->rt) {
        node_events_init(node_current);
        registered = true;
    }
    if (strcmp(path, "/events") != 0)
        return false;
    if (strcmp(req->method, "GET") != 0) {
        http_reply_error(req, 405, "method not allowed");
        return true;
    }
    get_events(req);
    return true;
}
