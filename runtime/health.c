/*
 * runtime/health.c - Docker health checks (Config.Healthcheck).
 *
 * One record per running container that has a check. A uv timer fires every
 * Interval; each probe is an exec inside the container (runtime/exec.h) with
 * the container's user and environment; a second timer kills the probe after
 * Timeout. Results follow dockerd's rules: a success makes the container
 * healthy and resets the failing streak; a failure during StartPeriod does
 * not count; Retries consecutive failures make it unhealthy. The last five
 * results (output trimmed to 4 KiB) are kept for inspect; status changes are
 * reported as "health_status: <status>" events.
 *
 * Records live in a list of their own (keyed by container), so the container
 * structure needs no field for them. The state is in memory only: after a
 * restart of the container (or of shoald) a container starts over in
 * "starting".
 */
#define LOG_MODULE "health"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/exec.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

#define NS_PER_MS 1000000LL

struct rt_health {
    struct rt_health *next;
    struct rt_container *c; /* holds a reference */
    struct rt_health_cfg cfg;
    json_t *test;       /* the probe's argv */
    uv_timer_t timer;   /* next probe */
    uv_timer_t timeout; /* running probe's deadline */
    int handles;
    bool stopping;

    /* the probe in flight */
    struct rt_exec *x;
    int probe_pid;
    bool timed_out;
    int64_t probe_start_ns;
    struct buf out;

    int64_t started_ns; /* container start (StartPeriod origin) */
    enum rt_health_status status;
    int failing;
    json_t *log; /* last RT_HEALTH_LOG_MAX results */
};

static struct rt_health *health_head;

const char *rt_health_status_name(enum rt_health_status s)
{
    switch (s) {
    case RT_HEALTH_HEALTHY:
        return "healthy";
    case RT_HEALTH_UNHEALTHY:
        return "unhealthy";
    case RT_HEALTH_STARTING:
        return "starting";
    case RT_HEALTH_NONE:
    default:
        return "none";
    }
}

static int duration_field(json_t *hc, const char *key, int64_t *ret, struct err *err)
{
    json_t *v = json_object_get(hc, key);

    *ret = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return err_set(err, -EINVAL, "Healthcheck.%s must be an integer (nanoseconds)", key);
    *ret = json_integer_value(v);
    if (*ret != 0 && *ret < 1000000LL)
        return err_set(err, -EINVAL, "%s in Healthcheck cannot be less than 1ms",
                       strcmp(key, "StartPeriod") == 0 ? "StartPeriod" : key);
    return 0;
}

int rt_health_parse(json_t *hc, struct rt_health_cfg *cfg, json_t **ret_test, struct err *err)
{
    json_t *test;
    json_t *v;
    const char *kind;
    size_t i;
    int64_t iv, to, sp;
    int r;

    memset(cfg, 0, sizeof(*cfg));
    if (ret_test)
        *ret_test = NULL;
    if (!hc || json_is_null(hc))
        return 0;
    if (!json_is_object(hc))
        return err_set(err, -EINVAL, "Healthcheck must be an object");
    test = json_object_get(hc, "Test");
    if (test && !json_is_null(test) && !json_is_array(test))
        return err_set(err, -EINVAL, "Healthcheck.Test must be an array of strings");
    json_array_foreach(test, i, v)
    {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "Healthcheck.Test must be an array of strings");
    }
    if ((r = duration_field(hc, "Interval", &iv, err)) < 0 ||
        (r = duration_field(hc, "Timeout", &to, err)) < 0 ||
        (r = duration_field(hc, "StartPeriod", &sp, err)) < 0)
        return r;
    v = json_object_get(hc, "Retries");
    if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
        return err_set(err, -EINVAL, "Retries in Healthcheck cannot be negative");
    cfg->interval_ms = iv ? iv / NS_PER_MS : RT_HEALTH_DEFAULT_INTERVAL_MS;
    cfg->timeout_ms = to ? to / NS_PER_MS : RT_HEALTH_DEFAULT_TIMEOUT_MS;
    cfg->start_period_ms = sp / NS_PER_MS;
    cfg->retries = json_integer_value(v) ? (int)json_integer_value(v) : RT_HEALTH_DEFAULT_RETRIES;
    if (json_array_size(test) == 0)
        return 0; /* inherit / nothing */
    kind = json_string_value(json_array_get(test, 0));
    if (strcmp(kind, "NONE") == 0)
        return 0;
    if (strcmp(kind, "CMD") == 0) {
        if (json_array_size(test) < 2)
            return err_set(err, -EINVAL, "Healthcheck CMD needs a command");
        if (ret_test) {
            *ret_test = json_array();
            for (i = 1; i < json_array_size(test); i++)
                json_array_append(*ret_test, json_array_get(test, i));
        }
    } else if (strcmp(kind, "CMD-SHELL") == 0) {
        if (json_array_size(test) != 2)
            return err_set(err, -EINVAL, "Healthcheck CMD-SHELL takes exactly one string");
        if (ret_test)
            *ret_test = json_pack("[s, s, O]", "/bin/sh", "-c", json_array_get(test, 1));
    } else {
        return err_set(err, -EINVAL, "unknown Healthcheck type '%s'", kind);
    }
    cfg->enabled = true;
    return 0;
}

void rt_health_apply(struct rt_health_state *st, const struct rt_health_cfg *cfg, int exit_code,
                     int64_t since_start_ms)
{
    if (exit_code == 0) {
        st->failing = 0;
        st->status = RT_HEALTH_HEALTHY;
        return;
    }
    if (st->status == RT_HEALTH_STARTING && since_start_ms < cfg->start_period_ms)
        return; /* failures in the start period do not count */
    st->failing++;
    if (st->failing >= cfg->retries && st->status != RT_HEALTH_UNHEALTHY)
        st->status = RT_HEALTH_UNHEALTHY;
}

static struct rt_health *find(const struct rt_container *c)
{
    for (struct rt_health *h = health_head; h; h = h->next)
        if (h->c == c && !h->stopping)
            return h;
    return NULL;
}

static void handle_closed(uv_handle_t *hd)
{
    struct rt_health *h = hd->data;

    if (--h->handles > 0)
        return;
    rt_container_unref(h->c);
    json_decref(h->test);
    json_decref(h->log);
    buf_release(&h->out);
    free(h);
}

static void list_remove(struct rt_health *h)
{
    for (struct rt_health **pp = &health_head; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            return;
        }
    }
}

static void probe_start(uv_timer_t *t);

static void schedule_next(struct rt_health *h)
{
    if (!h->stopping)
        (void)uv_timer_start(&h->timer, probe_start, h->cfg.interval_ms, 0);
}

static void record(struct rt_health *h, int exit_code, const char *output, size_t len)
{
    struct rt_health_state st = {.status = h->status, .failing = h->failing};
    enum rt_health_status old = h->status;
    char start[40], end[40];
    json_t *entry;

    time_fmt_rfc3339(h->probe_start_ns, start);
    time_fmt_rfc3339(time_now_ns(), end);
    if (len > RT_HEALTH_OUTPUT_MAX)
        len = RT_HEALTH_OUTPUT_MAX;
    entry = json_pack("{s:s, s:s, s:i, s:s%}", "Start", start, "End", end, "ExitCode", exit_code,
                      "Output", output ? output : "", output ? len : 0);
    if (!entry) /* not UTF-8: keep what can be shown */
        entry = json_pack("{s:s, s:s, s:i, s:s}", "Start", start, "End", end, "ExitCode", exit_code,
                          "Output", "");
    if (entry) {
        json_array_append_new(h->log, entry);
        while (json_array_size(h->log) > RT_HEALTH_LOG_MAX)
            json_array_remove(h->log, 0);
    }
    rt_health_apply(&st, &h->cfg, exit_code, (h->probe_start_ns - h->started_ns) / NS_PER_MS);
    h->status = st.status;
    h->failing = st.failing;
    log_debug("container %.12s: probe exit %d, %s (streak %d)", h->c->id, exit_code,
              rt_health_status_name(h->status), h->failing);
    if (h->status != old) {
        char action[40];
        (void)snprintf(action, sizeof(action), "health_status: %s",
                       rt_health_status_name(h->status));
        rt__event(h->c, action, NULL);
    }
}

static void probe_output(void *arg, enum rt_stream s, const char *data, size_t len)
{
    struct rt_health *h = arg;

    (void)s;
    if (h->out.len < RT_HEALTH_OUTPUT_MAX) {
        size_t room = RT_HEALTH_OUTPUT_MAX - h->out.len;
        (void)buf_append(&h->out, data, len < room ? len : room);
    }
}

static void probe_started(void *arg, int pid)
{
    struct rt_health *h = arg;

    h->probe_pid = pid;
}

static void probe_error(void *arg, const char *msg)
{
    struct rt_health *h = arg;

    buf_release(&h->out);
    buf_init(&h->out);
    (void)buf_puts(&h->out, msg);
}

static void probe_exit(void *arg, int exit_code)
{
    struct rt_health *h = arg;
    struct buf out = h->out;

    (void)uv_timer_stop(&h->timeout);
    h->x = NULL;
    h->probe_pid = 0;
    buf_init(&h->out);
    if (!h->stopping) {
        if (h->timed_out) {
            char msg[96];
            (void)snprintf(msg, sizeof(msg), "Health check exceeded timeout (%llds)",
                           (long long)(h->cfg.timeout_ms / 1000));
            record(h, -1, msg, strlen(msg));
        } else {
            record(h, exit_code, out.data, out.len);
        }
        schedule_next(h);
    }
    h->timed_out = false;
    buf_release(&out);
}

static void probe_timeout(uv_timer_t *t)
{
    struct rt_health *h = t->data;

    if (!h->x)
        return;
    h->timed_out = true;
    log_debug("container %.12s: health probe timed out", h->c->id);
    if (h->probe_pid > 0)
        (void)kill(h->probe_pid, SIGKILL);
}

static void probe_start(uv_timer_t *t)
{
    static const struct rt_exec_handlers handlers = {
        .on_started = probe_started,
        .on_error = probe_error,
        .on_output = probe_output,
        .on_exit = probe_exit,
    };
    struct rt_health *h = t->data;
    struct rt_container *c = h->c;
    json_t *cfg;
    struct err err = {0};
    struct rt_exec *x = NULL;

    if (h->stopping || h->x || c->state != RT_STATE_RUNNING)
        return;
    if (c->paused) {
        schedule_next(h);
        return;
    }
    cfg =
        json_pack("{s:O, s:b, s:b, s:b, s:s}", "Cmd", h->test, "AttachStdout", 1, "AttachStderr", 1,
                  "Tty", 0, "User", json_string_value(json_object_get(c->config, "User")) ?: "");
    buf_release(&h->out);
    buf_init(&h->out);
    h->probe_start_ns = time_now_ns();
    h->timed_out = false;
    if (!cfg || rt_exec_create(c, cfg, &x, &err) < 0 || rt_exec_start(x, &handlers, h, &err) < 0) {
        json_decref(cfg);
        record(h, -1, err.msg, strlen(err.msg));
        schedule_next(h);
        return;
    }
    json_decref(cfg);
    h->x = x;
    (void)uv_timer_start(&h->timeout, probe_timeout, h->cfg.timeout_ms, 0);
}

void rt_health_start(struct rt_container *c)
{
    struct rt_health_cfg cfg;
    struct rt_health *h;
    json_t *test = NULL;
    struct err err = {0};

    rt_health_stop(c);
    if (rt_health_parse(json_object_get(c->config, "Healthcheck"), &cfg, &test, &err) < 0) {
        log_warn("container %.12s: ignoring its health check: %s", c->id, err.msg);
        return;
    }
    if (!cfg.enabled) {
        json_decref(test);
        return;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        json_decref(test);
        return;
    }
    h->c = rt_container_ref(c);
    h->cfg = cfg;
    h->test = test;
    h->log = json_array();
    h->status = RT_HEALTH_STARTING;
    h->started_ns = c->started_ns ? c->started_ns : time_now_ns();
    buf_init(&h->out);
    (void)uv_timer_init(c->rt->loop, &h->timer);
    (void)uv_timer_init(c->rt->loop, &h->timeout);
    h->timer.data = h->timeout.data = h;
    h->handles = 2;
    h->next = health_head;
    health_head = h;
    schedule_next(h);
}

void rt_health_stop(struct rt_container *c)
{
    struct rt_health *h = find(c);

    if (!h)
        return;
    h->stopping = true;
    list_remove(h);
    (void)uv_timer_stop(&h->timer);
    (void)uv_timer_stop(&h->timeout);
    if (h->x) {
        rt_exec_detach(h->x);
        if (h->probe_pid > 0)
            (void)kill(h->probe_pid, SIGKILL);
        h->x = NULL;
    }
    /* the last state stays visible until the next start */
    {
        json_t *last = json_pack("{s:s, s:i, s:O}", "Status", rt_health_status_name(h->status),
                                 "FailingStreak", h->failing, "Log", h->log);
        rt_health_keep_last(c, last);
    }
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    uv_close((uv_handle_t *)&h->timeout, handle_closed);
}

void rt_health_stop_all(struct rt *rt)
{
    struct rt_health *h = health_head;

    while (h) {
        struct rt_health *next = h->next;
        if (h->c->rt == rt)
            rt_health_stop(h->c);
        h = next;
    }
}

/* Last state of stopped containers, so inspect still shows it. */
struct last_health {
    struct last_health *next;
    const struct rt_container *c;
    json_t *health;
};
static struct last_health *last_head;

void rt_health_keep_last(const struct rt_container *c, json_t *health)
{
    struct last_health *l;

    for (l = last_head; l; l = l->next) {
        if (l->c == c) {
            json_decref(l->health);
            l->health = health;
            if (!health)
                rt_health_forget(c);
            return;
        }
    }
    if (!health)
        return;
    l = calloc(1, sizeof(*l));
    if (!l) {
        json_decref(health);
        return;
    }
    l->c = c;
    l->health = health;
    l->next = last_head;
    last_head = l;
}

void rt_health_forget(const struct rt_container *c)
{
    for (struct last_health **pp = &last_head; *pp; pp = &(*pp)->next) {
        struct last_health *l = *pp;
        if (l->c == c) {
            *pp = l->next;
            json_decref(l->health);
            free(l);
            return;
        }
    }
}

json_t *rt_health_inspect(const struct rt_container *c)
{
    struct rt_health *h = find(c);

    if (h)
        return json_pack("{s:s, s:i, s:O}", "Status", rt_health_status_name(h->status),
                         "FailingStreak", h->failing, "Log", h->log);
    for (struct last_health *l = last_head; l; l = l->next)
        if (l->c == c && l->health)
            return json_incref(l->health);
    return NULL;
}

enum rt_health_status rt_health_get(const struct rt_container *c)
{
    struct rt_health *h = find(c);

    return h ? h->status : RT_HEALTH_NONE;
}
