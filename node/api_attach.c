/*
 * node/api_attach.c - POST /containers/{id}/attach: the hijacked stream.
 *
 * Output is framed with stdcopy headers unless the container has a TTY;
 * client bytes go to the container's stdin; a client half-close closes the
 * container's stdin but output keeps flowing until the container ends. With a
 * TTY the detach keys (`detachKeys` query, default ctrl-p,ctrl-q) end the
 * attach and leave the container running. Also the detach-key matcher of
 * node/detach.h.
 */
#define LOG_MODULE "api"

#include <errno.h>
#include <string.h>

#include "node/detach.h"
#include "node/events.h"
#include "node/node.h"

/* ---- attach ------------------------------------------------------------------ */

struct attach {
    struct http_req *req;
    struct rt_attach *a;
    bool tty;
    bool want_out;
    bool want_err;
    bool want_in;
    struct node_detach detach;
};

static void attach_free(struct attach *at)
{
    rt_attach_close(at->a);
    at->req->data = NULL;
    at->req->on_abort = NULL;
    http_req_unref(at->req);
    free(at);
}

static void on_output(void *arg, enum rt_stream s, const char *data, size_t len)
{
    struct attach *at = arg;
    unsigned char hdr[8] = {0};

    if ((s == RT_STDOUT && !at->want_out) || (s == RT_STDERR && !at->want_err))
        return;
    if (!at->tty) {
        hdr[0] = (unsigned char)s;
        hdr[4] = (unsigned char)(len >> 24);
        hdr[5] = (unsigned char)(len >> 16);
        hdr[6] = (unsigned char)(len >> 8);
        hdr[7] = (unsigned char)len;
        http_raw_write(at->req, hdr, sizeof(hdr));
    }
    http_raw_write(at->req, data, len);
}

static void on_end(void *arg)
{
    struct attach *at = arg;

    http_raw_close(at->req);
    attach_free(at);
}

static void fwd_stdin(void *arg, const char *data, size_t len)
{
    struct attach *at = arg;

    (void)rt_attach_stdin(at->a, data, len);
}

static void on_client(struct http_req *req, const char *data, size_t len, bool eof)
{
    struct attach *at = req->data;

    if (!at || !at->want_in)
        return;
    if (len > 0 && at->tty) {
        if (node_detach_feed(&at->detach, data, len, fwd_stdin, at)) {
            /* detached: the container keeps running */
            on_end(at);
            return;
        }
    } else if (len > 0) {
        (void)rt_attach_stdin(at->a, data, len);
    }
    if (eof)
        (void)rt_attach_stdin_eof(at->a);
}

static void on_abort(struct http_req *req)
{
    struct attach *at = req->data;

    if (at)
        attach_free(at);
}

void node_api_attach(struct http_req *req, struct rt_container *c)
{
    struct attach *at = calloc(1, sizeof(*at));

    if (!at) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    if (node_detach_parse(http_query_get(req, "detachKeys"), &at->detach) < 0) {
        http_reply_error(req, 400, "Invalid detach keys (%s) provided",
                         http_query_get(req, "detachKeys"));
        free(at);
        return;
    }
    at->tty = rt_container_tty(c);
    at->want_out = http_query_bool(req, "stdout", false);
    at->want_err = http_query_bool(req, "stderr", false);
    at->want_in = http_query_bool(req, "stdin", false) && rt_container_open_stdin(c);
    at->a = rt_container_attach(c, on_output, on_end, at);
    if (!at->a) {
        free(at);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_req_ref(req);
    at->req = req;
    req->data = at;
    req->on_abort = on_abort;
    http_hijack(req, on_client);
    node_event_container(c, "attach", NULL); /* Docker reports every attach */
    /* A container that is gone will never produce output. */
    if (rt_container_state(c) == RT_STATE_DEAD)
        on_end(at);
}
