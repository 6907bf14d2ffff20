/*
 * node/api_logs.c - GET /containers/{id}/logs from the json-file log the
 * monitor writes (one {"log","stream","time"} object per line).
 *
 * The file is read in 64 KiB steps; the stream pauses while more than
 * LOGS_HIGH_WATER bytes wait to be written to the client, so a large log
 * never sits in memory. With follow=1 the reader registers as an output
 * listener of the container: every output event means "the file grew"
 * (the monitor appends to the log before it forwards output), and the end
 * of the container ends the stream after a last read.
 *
 * With --log-opt max-size/max-file the monitor rotates the log
 * (<log>.1 is the newest rotated file): the reader goes through the rotated
 * files oldest first, then the current one, and in follow mode notices a
 * rotation by the current path naming a new inode.
 */
#define LOG_MODULE "api"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "node/node.h"

#define LOGS_CHUNK      (64 * 1024)
#define LOGS_HIGH_WATER (1024 * 1024)
#define LOGS_MAX_LINE   (1024 * 1024)

struct logs {
    struct http_req *req;
    struct rt_container *c;
    struct rt_attach *trigger;
    uv_timer_t timer;
    int fd;
    off_t off;
    char **files; /* oldest first; the last is the current log */
    size_t n_files;
    size_t idx; /* file being read */
    struct buf line;
    bool want_out, want_err, timestamps, tty, follow;
    int64_t since_ns, until_ns;
    bool ended;    /* container over: read to EOF, then finish */
    bool finished; /* stream ended */
    bool scheduled;
};

static void logs_closed(uv_handle_t *h)
{
    struct logs *lg = h->data;

    buf_release(&lg->line);
    rt_strv_free(lg->files);
    rt_container_unref(lg->c);
    http_req_unref(lg->req);
    free(lg);
}

static void logs_finish(struct logs *lg)
{
    if (lg->finished)
        return;
    lg->finished = true;
    if (lg->trigger) {
        rt_attach_close(lg->trigger);
        lg->trigger = NULL;
    }
    if (lg->fd >= 0)
        (void)close(lg->fd);
    lg->fd = -1;
    lg->req->data = NULL;
    lg->req->on_abort = NULL;
    http_stream_end(lg->req);
    uv_timer_stop(&lg->timer);
    uv_close((uv_handle_t *)&lg->timer, logs_closed);
}

static void emit(struct logs *lg, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, 0, &jerr);
    const char *stream;
    const char *text;
    const char *tm;
    size_t tlen;
    int64_t ts = 0;
    int sid;
    unsigned char hdr[8] = {0};
    struct buf out;

    if (!o)
        return; /* a torn or foreign line: skip it */
    stream = json_string_value(json_object_get(o, "stream"));
    text = json_string_value(json_object_get(o, "log"));
    tlen = json_string_length(json_object_get(o, "log"));
    tm = json_string_value(json_object_get(o, "time"));
    sid = stream && strcmp(stream, "stderr") == 0 ? 2 : 1;
    if (!text || (sid == 1 && !lg->want_out) || (sid == 2 && !lg->want_err))
        goto out;
    if (tm)
        (void)time_parse_rfc3339(tm, &ts);
    if (lg->since_ns > 0 && ts < lg->since_ns)
        goto out;
    if (lg->until_ns > 0 && ts > lg->until_ns)
        goto out;
    buf_init(&out);
    if (!lg->tty)
        (void)buf_append(&out, hdr, sizeof(hdr));
    if (lg->timestamps && tm) {
        char t[40];
        time_fmt_rfc3339(ts, t);
        (void)buf_printf(&out, "%s ", t);
    }
    (void)buf_append(&out, text, tlen);
    if (!lg->tty) {
        size_t plen = out.len - sizeof(hdr);
        unsigned char *h = (unsigned char *)out.data;
        h[0] = (unsigned char)sid;
        h[4] = (unsigned char)(plen >> 24);
        h[5] = (unsigned char)(plen >> 16);
        h[6] = (unsigned char)(plen >> 8);
        h[7] = (unsigned char)plen;
    }
    http_stream_write(lg->req, out.data, out.len);
    buf_release(&out);
out:
    json_decref(o);
}

static void pump(struct logs *lg);

static void timer_cb(uv_timer_t *t)
{
    struct logs *lg = t->data;

    lg->scheduled = false;
    pump(lg);
}

static void schedule(struct logs *lg, uint64_t ms)
{
    if (lg->scheduled || lg->finished)
        return;
    lg->scheduled = true;
    uv_timer_start(&lg->timer, timer_cb, ms, 0);
}

static void pump(struct logs *lg)
{
    char chunk[LOGS_CHUNK];

    if (lg->finished)
        return;
    if (lg->req->aborted) {
        logs_finish(lg);
        return;
    }
again:
    if (lg->fd < 0) {
        lg->fd = open(lg->files[lg->idx], O_RDONLY | O_CLOEXEC);
        if (lg->fd < 0 && lg->idx + 1 < lg->n_files) {
            lg->idx++; /* rotated away meanwhile */
            lg->off = 0;
            goto again;
        }
        if (lg->fd < 0 && (!lg->follow || lg->ended)) {
            logs_finish(lg);
            return;
        }
    }
    for (int rounds = 0; lg->fd >= 0 && rounds < 16; rounds++) {
        ssize_t n;
        if (http_req_write_queue_size(lg->req) > LOGS_HIGH_WATER) {
            schedule(lg, 5);
            return;
        }
        n = pread(lg->fd, chunk, sizeof(chunk), lg->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            logs_finish(lg);
            return;
        }
        if (n == 0) {
            struct stat a, b;
            if (lg->idx + 1 < lg->n_files) {
                /* done with a rotated file: on to the next one */
                (void)close(lg->fd);
                lg->fd = -1;
                lg->idx++;
                lg->off = 0;
                buf_consume(&lg->line, lg->line.len);
                goto again;
            }
            if (lg->follow && fstat(lg->fd, &a) == 0 && stat(lg->files[lg->idx], &b) == 0 &&
                (a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
                /* the current file was rotated: read the new one */
                (void)close(lg->fd);
                lg->fd = -1;
                lg->off = 0;
                buf_consume(&lg->line, lg->line.len);
                goto again;
            }
            break;
        }
        lg->off += n;
        if (buf_append(&lg->line, chunk, (size_t)n) < 0) {
            logs_finish(lg);
            return;
        }
        size_t done = 0;
        for (;;) {
            char *nl = memchr(lg->line.data + done, '\n', lg->line.len - done);
            if (!nl)
                break;
            emit(lg, lg->line.data + done, (size_t)(nl - (lg->line.data + done)));
            done = (size_t)(nl - lg->line.data) + 1;
        }
        buf_consume(&lg->line, done);
        if (lg->line.len > LOGS_MAX_LINE)
            buf_consume(&lg->line, lg->line.len); /* not a log line: drop it */
        if ((size_t)n < sizeof(chunk) && lg->idx + 1 >= lg->n_files)
            break; /* at the end of the current file (a rotated one: look for EOF) */
        if (rounds == 15) {
            schedule(lg, 0); /* let other connections run */
            return;
        }
    }
    if (!lg->follow || lg->ended)
        logs_finish(lg);
}

static void trigger_output(void *arg, enum rt_stream s, const char *data, size_t len)
{
    struct logs *lg = arg;

    (void)s;
    (void)data;
    (void)len;
    schedule(lg, 0);
}

static void trigger_end(void *arg)
{
    struct logs *lg = arg;

    rt_attach_close(lg->trigger);
    lg->trigger = NULL;
    lg->ended = true;
    schedule(lg, 0);
}

static void logs_abort(struct http_req *req)
{
    struct logs *lg = req->data;

    if (lg)
        logs_finish(lg);
}

/* Start offset for tail=N: walk back over N complete lines. When the file
 * has fewer, returns 0 and *ret_lines (if not NULL) gets its line count. */
static off_t tail_offset(int fd, uint64_t n, uint64_t *ret_lines)
{
    char block[8192];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t pos = end;
    uint64_t seen = 0;
    bool first = true;

    if (ret_lines)
        *ret_lines = n;
    if (end <= 0 || n == 0) {
        if (ret_lines && end <= 0)
            *ret_lines = 0;
        return end < 0 ? 0 : end;
    }
    while (pos > 0) {
        off_t from = pos > (off_t)sizeof(block) ? pos - (off_t)sizeof(block) : 0;
        ssize_t got = pread(fd, block, (size_t)(pos - from), from);
        if (got <= 0)
            return 0;
        for (ssize_t i = got - 1; i >= 0; i--) {
            if (block[i] != '\n')
                continue;
            if (first && from + i == end - 1) {
                first = false;
                continue; /* the newline ending the last line */
            }
            first = false;
            if (++seen == n)
                return from + i + 1;
        }
        pos = from;
    }
    if (ret_lines)
        *ret_lines = seen + 1;
    return 0;
}

/* tail=N over the rotated files: the file and offset to start at. */
static void tail_start(struct logs *lg, uint64_t n)
{
    for (size_t k = lg->n_files; k > 0; k--) {
        int fd = open(lg->files[k - 1], O_RDONLY | O_CLOEXEC);
        uint64_t lines = 0;
        off_t off;
        if (fd < 0)
            continue;
        off = tail_offset(fd, n, &lines);
        if (lines >= n || k == 1) {
            if (lg->fd >= 0)
                (void)close(lg->fd);
            lg->fd = fd;
            lg->idx = k - 1;
            lg->off = lines >= n ? off : 0;
            return;
        }
        (void)close(fd);
        n -= lines;
    }
}

static int parse_unix_time(const char *s, int64_t *ret)
{
    double v;
    char *end;

    if (!s || !*s) {
        *ret = 0;
        return 0;
    }
    v = strtod(s, &end);
    if (*end || v < 0) {
        /* RFC 3339 is accepted too */
        return time_parse_rfc3339(s, ret);
    }
    *ret = (int64_t)(v * 1e9);
    return 0;
}

void node_api_logs(struct http_req *req, struct rt_container *c)
{
    struct logs *lg;
    const char *tail = http_query_get(req, "tail");
    uint64_t tail_n = 0;
    bool tail_all = !tail || !*tail || strcmp(tail, "all") == 0;
    int64_t since = 0, until = 0;

    if (!tail_all && parse_u64(tail, &tail_n) < 0) {
        int64_t neg;
        if (parse_i64(tail, &neg) == 0 && neg < 0) {
            tail_all = true;
        } else {
            http_reply_error(req, 400, "invalid value for tail: %s", tail);
            return;
        }
    }
    if (parse_unix_time(http_query_get(req, "since"), &since) < 0 ||
        parse_unix_time(http_query_get(req, "until"), &until) < 0) {
        http_reply_error(req, 400, "invalid time value for since or until");
        return;
    }
    if (!http_query_bool(req, "stdout", false) && !http_query_bool(req, "stderr", false)) {
        http_reply_error(req, 400, "Bad parameters: you must choose at least one stream");
        return;
    }
    lg = calloc(1, sizeof(*lg));
    if (!lg) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    buf_init(&lg->line);
    lg->fd = -1;
    lg->want_out = http_query_bool(req, "stdout", false);
    lg->want_err = http_query_bool(req, "stderr", false);
    lg->timestamps = http_query_bool(req, "timestamps", false);
    lg->follow = http_query_bool(req, "follow", false);
    lg->tty = rt_container_tty(c);
    lg->since_ns = since;
    lg->until_ns = until;
    lg->c = rt_container_ref(c);
    http_req_ref(req);
    lg->req = req;
    req->data = lg;
    req->on_abort = logs_abort;
    uv_timer_init(node_current->loop, &lg->timer);
    lg->timer.data = lg;
    http_stream_begin(req, 200, NULL);
    if (rt_container_log_files(c, &lg->files, &lg->n_files) < 0 || lg->n_files == 0) {
        logs_finish(lg);
        return;
    }
    if (!tail_all) {
        lg->idx = lg->n_files - 1;
        lg->fd = open(lg->files[lg->idx], O_RDONLY | O_CLOEXEC);
        if (tail_n > 0)
            tail_start(lg, tail_n);
        else if (lg->fd >= 0)
            lg->off = lseek(lg->fd, 0, SEEK_END);
    } else {
        lg->fd = open(lg->files[0], O_RDONLY | O_CLOEXEC);
    }
    if (lg->follow && rt_container_state(c) == RT_STATE_RUNNING) {
        lg->trigger = rt_container_attach(c, trigger_output, trigger_end, lg);
        if (!lg->trigger)
            lg->ended = true;
    } else {
        lg->ended = true;
    }
    pump(lg);
}
