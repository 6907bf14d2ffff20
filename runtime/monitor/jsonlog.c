/*
 * runtime/monitor/jsonlog.c - the container log in Docker's json-file format.
 *
 * One JSON object per line:
 *   {"log":"hello\n","stream":"stdout","time":"2026-11-22T10:00:00.123456789Z"}
 * Output is split on '\n' like dockerd's copier: an entry is a line including
 * its '\n'; bytes without a newline are kept until the line completes, reaches
 * MON_LOG_PARTIAL_MAX (then written as an entry of their own) or the stream
 * ends. Rotation: when the file reaches max_size, log -> log.1 -> ... ->
 * log.<max_files-1> (the oldest is dropped), like dockerd without compression.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

#include "runtime/monitor/monitor.h"

static const char hexdig[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

int mon_json_escape(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    int r = buf_reserve(out, len + 16);

    if (r < 0)
        return r;
    while (i < len) {
        size_t run = i;
        char esc[8];
        size_t elen = 0;

        /* copy the longest run of bytes that need no escaping at once */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\' &&
               p[run] != '<' && p[run] != '>' && p[run] != '&')
            run++;
        if (run > i) {
            r = buf_append(out, p + i, run - i);
            if (r < 0)
                return r;
            i = run;
            continue;
        }
        if (p[i] >= 0x80) {
            size_t sl = utf8_seq(p + i, len - i);

            if (sl == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] & 0xfe) == 0xa8) {
                /* U+2028 / U+2029, escaped by Go as well */
                r = buf_puts(out, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
            } else if (sl == 0) {
                r = buf_puts(out, "\\ufffd");
                sl = 1;
            } else {
                r = buf_append(out, p + i, sl);
            }
            if (r < 0)
                return r;
            i += sl;
            continue;
        }
        switch (p[i]) {
        case '"':
        case '\\':
            esc[0] = '\\';
            esc[1] = (char)p[i];
            elen = 2;
            break;
        case '\n':
            memcpy(esc, "\\n", 2);
            elen = 2;
            break;
        case '\r':
            memcpy(esc, "\\r", 2);
            elen = 2;
            break;
        case '\t':
            memcpy(esc, "\\t", 2);
            elen = 2;
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hexdig[p[i] >> 4];
            esc[5] = hexdig[p[i] & 15];
            elen = 6;
            break;
        }
        r = buf_append(out, esc, elen);
        if (r < 0)
            return r;
        i++;
    }
    return 0;
}

int mon_jsonlog_open(struct mon_jsonlog *l, const char *path, uint64_t max_size, unsigned max_files,
                     struct err *err)
{
    struct stat st;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    buf_init(&l->pending[0]);
    buf_init(&l->pending[1]);
    buf_init(&l->line);
    if (!path || !*path)
        return 0;
    l->path = strdup(path);
    if (!l->path)
        return err_set(err, -ENOMEM, "out of memory");
    l->max_size = max_size;
    l->max_files = max_files ? max_files : 1;
    l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (l->fd < 0)
        return err_set(err, -errno, "open log file '%s': %s", path, strerror(errno));
    if (fstat(l->fd, &st) == 0)
        l->size = (uint64_t)st.st_size;
    return 0;
}

static void jsonlog_rotate(struct mon_jsonlog *l)
{
    size_t plen = strlen(l->path);
    char *a = malloc(plen + 16);
    char *b = malloc(plen + 16);
    int fd;

    if (!a || !b)
        goto out;
    if (l->max_files > 1) {
        for (unsigned i = l->max_files - 1; i >= 2; i--) {
            snprintf(a, plen + 16, "%s.%u", l->path, i - 1);
            snprintf(b, plen + 16, "%s.%u", l->path, i);
            (void)rename(a, b);
        }
        snprintf(b, plen + 16, "%s.1", l->path);
        (void)rename(l->path, b);
        fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd >= 0) {
            (void)close(l->fd);
            l->fd = fd;
        }
    } else if (ftruncate(l->fd, 0) < 0) {
        goto out;
    }
    l->size = 0;
out:
    free(a);
    free(b);
}

static int jsonlog_entry(struct mon_jsonlog *l, enum mon_stream s, const char *data, size_t len,
                         int64_t now_ns)
{
    char ts[40];
    int r;

    time_fmt_rfc3339(now_ns, ts);
    l->line.len = 0;
    r = buf_puts(&l->line, "{\"log\":\"");
    if (r == 0)
        r = mon_json_escape(&l->line, data, len);
    if (r == 0)
        r = buf_printf(&l->line, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n",
                       s == MON_STREAM_STDOUT ? "stdout" : "stderr", ts);
    if (r < 0)
        return r;
    r = write_all(l->fd, l->line.data, l->line.len);
    if (r < 0)
        return r;
    l->size += l->line.len;
    if (l->max_size && l->size >= l->max_size)
        jsonlog_rotate(l);
    /* keep the scratch buffer small after a big entry */
    if (l->line.cap > 4 * MON_LOG_PARTIAL_MAX) {
        buf_release(&l->line);
        buf_init(&l->line);
    }
    return 0;
}

int mon_jsonlog_feed(struct mon_jsonlog *l, enum mon_stream s, const void *data, size_t len,
                     int64_t now_ns)
{
    struct buf *pend = &l->pending[s];
    const char *p = data;
    int r = 0;

    if (l->fd < 0)
        return 0;
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) + 1 : len;
        size_t room = MON_LOG_PARTIAL_MAX - pend->len;

        if (take > room) {
            /* the line so far reaches the partial limit: write it as it is */
            take = room;
            nl = NULL;
        }
        if (nl || pend->len + take == MON_LOG_PARTIAL_MAX) {
            if (pend->len == 0) {
                r = jsonlog_entry(l, s, p, take, now_ns);
            } else {
                r = buf_append(pend, p, take);
                if (r == 0)
                    r = jsonlog_entry(l, s, pend->data, pend->len, now_ns);
                pend->len = 0;
            }
        } else {
            r = buf_append(pend, p, take);
        }
        if (r < 0)
            return r;
        p += take;
        len -= take;
    }
    return 0;
}

int mon_jsonlog_flush(struct mon_jsonlog *l, enum mon_stream s, int64_t now_ns)
{
    struct buf *pend = &l->pending[s];
    int r = 0;

    if (l->fd >= 0 && pend->len > 0)
        r = jsonlog_entry(l, s, pend->data, pend->len, now_ns);
    buf_release(pend);
    return r;
}

void mon_jsonlog_close(struct mon_jsonlog *l)
{
    if (l->fd >= 0)
        (void)close(l->fd);
    l->fd = -1;
    buf_release(&l->pending[0]);
    buf_release(&l->pending[1]);
    buf_release(&l->line);
    free(l->path);
    l->path = NULL;
}
