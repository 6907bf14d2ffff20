#include "node/progress.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void send_obj(struct http_req *req, json_t *o)
{
    char *s;

    if (!o)
        return;
    progress_begin(req);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    size_t len = strlen(s);
    char *line = realloc(s, len + 3);
    if (line) {
        line[len] = '\r';
        line[len + 1] = '\n';
        http_stream_write(req, line, len + 2);
        s = line;
    }
    free(s);
}

void progress_begin(struct http_req *req)
{
    if (!req->responded)
        http_stream_begin(req, 200, "application/json");
}

void progress_status(struct http_req *req, const char *id, const char *status)
{
    if (id)
        send_obj(req, json_pack("{s:s, s:{}, s:s}", "status", status, "progressDetail", "id", id));
    else
        send_obj(req, json_pack("{s:s}", "status", status));
}

void progress_human_size(int64_t n, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1000.0 && u < sizeof(units) / sizeof(units[0]) - 1) {
        v /= 1000.0;
        u++;
    }
    (void)snprintf(out, outlen, "%.4g%s", v, units[u]);
}

void progress_bar_text(int64_t current, int64_t total, char *out, size_t outlen)
{
    char cur[32], tot[32];
    char bar[64];
    int width = 50;

    progress_human_size(current, cur, sizeof(cur));
    if (total <= 0) {
        (void)snprintf(out, outlen, "%8s", cur);
        return;
    }
    progress_human_size(total, tot, sizeof(tot));
    int filled = (int)((double)width * (double)current / (double)total);
    if (filled > width)
        filled = width;
    if (filled < 0)
        filled = 0;
    int n = 0;
    bar[n++] = '[';
    for (int i = 0; i < filled - 1 && i < width; i++)
        bar[n++] = '=';
    bar[n++] = filled > 0 && filled < width ? '>' : (filled == width ? '=' : ' ');
    while (n < width + 1)
        bar[n++] = ' ';
    bar[n++] = ']';
    bar[n] = '\0';
    (void)snprintf(out, outlen, "%s %8s/%s", bar, cur, tot);
}

void progress_bar(struct http_req *req, const char *id, const char *status, int64_t current,
                  int64_t total)
{
    char text[128];
    json_t *detail;

    progress_bar_text(current, total, text, sizeof(text));
    if (total > 0)
        detail =
            json_pack("{s:I, s:I}", "current", (json_int_t)current, "total", (json_int_t)total);
    else
        detail = json_pack("{s:I}", "current", (json_int_t)current);
    send_obj(req, json_pack("{s:s, s:o, s:s, s:s}", "status", status, "progressDetail", detail,
                            "progress", text, "id", id ? id : ""));
}

void progress_stream(struct http_req *req, const char *text)
{
    send_obj(req, json_pack("{s:s}", "stream", text));
}

void progress_aux(struct http_req *req, void *json_value)
{
    send_obj(req, json_pack("{s:o}", "aux", (json_t *)json_value));
}

void progress_error(struct http_req *req, const char *msg)
{
    send_obj(req, json_pack("{s:{s:s}, s:s}", "errorDetail", "message", msg, "error", msg));
}

void progress_end(struct http_req *req)
{
    progress_begin(req);
    http_stream_end(req);
}
