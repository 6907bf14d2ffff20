/*
 * node/events.c - the event ring and its publication (see node/events.h).
 */
#define LOG_MODULE "events"

#include "node/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"

#include "node/node.h"

struct ring_entry {
    json_t *ev;
    int64_t ns;
};

static struct ring_entry ring[NODE_EVENTS_RING];
static size_t ring_head; /* index of the oldest entry */
static size_t ring_len;
static struct node_event_sub subs = {&subs, &subs, NULL, NULL};
static int64_t last_ns;

size_t node_events_count(void)
{
    return ring_len;
}

json_t *node_events_at(size_t i, int64_t *ret_time_ns)
{
    struct ring_entry *e;

    if (i >= ring_len)
        return NULL;
    e = &ring[(ring_head + i) % NODE_EVENTS_RING];
    if (ret_time_ns)
        *ret_time_ns = e->ns;
    return e->ev;
}

void node_events_subscribe(struct node_event_sub *s)
{
    s->next = &subs;
    s->prev = subs.prev;
    subs.prev->next = s;
    subs.prev = s;
}

void node_events_unsubscribe(struct node_event_sub *s)
{
    if (!s->next || s->next == s)
        return;
    s->prev->next = s->next;
    s->next->prev = s->prev;
    s->next = s->prev = s;
}

void node_events_reset(void)
{
    for (size_t i = 0; i < ring_len; i++)
        json_decref(ring[(ring_head + i) % NODE_EVENTS_RING].ev);
    ring_head = ring_len = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Attributes in key order (Go marshals maps sorted). */
static json_t *sorted_attrs(json_t *in)
{
    size_t n = json_object_size(in);
    const char **keys = calloc(n + 1, sizeof(*keys));
    json_t *out = json_object();
    const char *k;
    json_t *v;
    size_t i = 0;

    if (!keys || !out) {
        free(keys);
        json_decref(out);
        return NULL;
    }
    json_object_foreach(in, k, v)
    {
        keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (i = 0; i < n; i++) {
        json_t *val = json_object_get(in, keys[i]);
        if (json_is_string(val))
            json_object_set(out, keys[i], val);
        else if (json_is_integer(val)) {
            char b[32];
            (void)snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(val));
            json_object_set_new(out, keys[i], json_string(b));
        }
    }
    free(keys);
    return out;
}

static void publish(const char *type, const char *action, const char *id, const char *from,
                    json_t *attrs)
{
    int64_t ns = time_now_ns();
    json_t *ev = json_object();
    json_t *sa = sorted_attrs(attrs);
    char *text;
    struct ring_entry *slot;
    bool legacy = strcmp(type, "container") == 0 || strcmp(type, "image") == 0;

    if (!ev || !sa) {
        json_decref(ev);
        json_decref(sa);
        return;
    }
    /* strictly increasing, so `since` replays never duplicate or skip */
    if (ns <= last_ns)
        ns = last_ns + 1;
    last_ns = ns;
    if (legacy) {
        json_object_set_new(ev, "status", json_string(action));
        json_object_set_new(ev, "id", json_string(id ? id : ""));
        if (from && *from)
            json_object_set_new(ev, "from", json_string(from));
    }
    json_object_set_new(ev, "Type", json_string(type));
    json_object_set_new(ev, "Action", json_string(action));
    json_object_set_new(ev, "Actor", json_pack("{s:s, s:o}", "ID", id ? id : "", "Attributes", sa));
    json_object_set_new(ev, "scope", json_string("local"));
    json_object_set_new(ev, "time", json_integer((json_int_t)(ns / 1000000000LL)));
    json_object_set_new(ev, "timeNano", json_integer((json_int_t)ns));

    if (ring_len == NODE_EVENTS_RING) {
        json_decref(ring[ring_head].ev);
        ring_head = (ring_head + 1) % NODE_EVENTS_RING;
        ring_len--;
    }
    slot = &ring[(ring_head + ring_len) % NODE_EVENTS_RING];
    slot->ev = ev;
    slot->ns = ns;
    ring_len++;
    log_debug("event %s %s %.12s", type, action, id ? id : "");

    if (subs.next == &subs)
        return;
    text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return;
    json_incref(ev); /* a listener may drop the ring entry by emitting */
    for (struct node_event_sub *s = subs.next, *nx; s != &subs; s = nx) {
        nx = s->next;
        s->fn(s->arg, ev, text);
    }
    json_decref(ev);
    free(text);
}

void node_event_container(struct rt_container *c, const char *action, json_t *attrs)
{
    json_t *a = json_object();
    json_t *labels = rt_container_labels(c);
    const char *k;
    json_t *v;

    if (!a)
        return;
    json_object_foreach(labels, k, v)
    {
        if (json_is_string(v))
            json_object_set(a, k, v);
    }
    json_object_set_new(a, "image", json_string(rt_container_image(c)));
    json_object_set_new(a, "name", json_string(rt_container_name(c)));
    if (json_is_object(attrs))
        json_object_update(a, attrs);
    publish("container", action, rt_container_id(c), rt_container_image(c), a);
    json_decref(a);
}

void node_event_emit(const char *type, const char *action, const char *id, json_t *attrs)
{
    struct rt_container *c = NULL;

    if (!type || !action)
        return;
    if (strcmp(type, "container") == 0 && id && node_current && node_current->rt &&
        rt_container_find(node_current->rt, id, &c, NULL) == 0) {
        node_event_container(c, action, attrs);
        return;
    }
    {
        json_t *a = json_is_object(attrs) ? json_incref(attrs) : json_object();
        const char *from = NULL;
        if (strcmp(type, "container") == 0)
            from = json_string_value(json_object_get(a, "image"));
        publish(type, action, id, from, a);
        json_decref(a);
    }
}

static void rt_event(void *arg, struct rt_container *c, const char *action,
                     const char *const *attrs)
{
    json_t *a = json_object();

    (void)arg;
    for (size_t i = 0; attrs && attrs[i] && attrs[i + 1]; i += 2)
        json_object_set_new(a, attrs[i], json_string(attrs[i + 1]));
    node_event_container(c, action, a);
    json_decref(a);
}

void node_events_init(struct node *n)
{
    if (n && n->rt)
        rt_set_event_cb(n->rt, rt_event, n);
}

/* ---- filters -------------------------------------------------------------------- */

static bool fuzzy(json_t *vals, const char *s)
{
    size_t i;
    json_t *v;

    if (!s || !*s)
        return false;
    json_array_foreach(vals, i, v)
    {
        const char *f = json_string_value(v);
        if (f && (strcmp(f, s) == 0 || (*f && strncmp(s, f, strlen(f)) == 0)))
            return true;
    }
    return false;
}

static bool image_is(const char *have, const char *want)
{
    size_t wl;

    if (!have || !want || !*want)
        return false;
    if (strcmp(have, want) == 0)
        return true;
    wl = strlen(want);
    /* "bb" matches "bb:latest"; "sha256:abc" prefixes */
    if (strncmp(have, want, wl) == 0 && (strcmp(have + wl, ":latest") == 0))
        return true;
    if (strncmp(have, "sha256:", 7) == 0 && strncmp(have + 7, want, wl) == 0 && wl >= 4)
        return true;
    return strncmp(want, "sha256:", 7) == 0 && strncmp(have, want, wl) == 0;
}

bool node_event_match(json_t *f, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "Type"));
    const char *action = json_string_value(json_object_get(ev, "Action"));
    json_t *actor = json_object_get(ev, "Actor");
    const char *aid = json_string_value(json_object_get(actor, "ID"));
    json_t *attrs = json_object_get(actor, "Attributes");
    const char *name = json_string_value(json_object_get(attrs, "name"));
    json_t *vals;
    size_t i;
    json_t *v;

    if (!node_filter_match(f, "type", type))
        return false;
    vals = json_object_get(f, "event");
    if (json_array_size(vals)) {
        bool ok = false;
        json_array_foreach(vals, i, v)
        {
            const char *want = json_string_value(v);
            size_t wl = strlen(want);
            /* "exec_start" also matches "exec_start: sh -c ..." */
            if (strcmp(action, want) == 0 || (strncmp(action, want, wl) == 0 && action[wl] == ':'))
                ok = true;
        }
        if (!ok)
            return false;
    }
    vals = json_object_get(f, "container");
    if (json_array_size(vals) &&
        (strcmp(type, "container") != 0 || !(fuzzy(vals, aid) || fuzzy(vals, name))))
        return false;
    vals = json_object_get(f, "image");
    if (json_array_size(vals)) {
        bool ok = false;
        json_array_foreach(vals, i, v)
        {
            const char *want = json_string_value(v);
            if (strcmp(type, "container") == 0)
                ok = ok || image_is(json_string_value(json_object_get(attrs, "image")), want);
            else if (strcmp(type, "image") == 0)
                ok = ok || image_is(aid, want) || image_is(name, want);
        }
        if (!ok)
            return false;
    }
    vals = json_object_get(f, "label");
    json_array_foreach(vals, i, v)
    {
        const char *s = json_string_value(v);
        const char *eq = strchr(s, '=');
        char key[256];
        json_t *have;

        (void)snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
        have = json_object_get(attrs, key);
        if (!have || (eq && strcmp(json_string_value(have) ?: "", eq + 1) != 0))
            return false;
    }
    return true;
}

int node_events_parse_time(const char *s, int64_t *ret_ns)
{
    int64_t sec = 0, frac = 0;
    const char *dot;
    char ibuf[32];
    size_t ilen;

    if (!s || !*s)
        return -EINVAL;
    dot = strchr(s, '.');
    ilen = dot ? (size_t)(dot - s) : strlen(s);
    if (ilen == 0 || ilen >= sizeof(ibuf))
        return time_parse_rfc3339(s, ret_ns);
    memcpy(ibuf, s, ilen);
    ibuf[ilen] = '\0';
    if (parse_i64(ibuf, &sec) < 0)
        return time_parse_rfc3339(s, ret_ns);
    if (dot) {
        const char *p = dot + 1;
        int digits = 0;
        for (; *p && digits < 9; p++, digits++) {
            if (*p < '0' || *p > '9')
                return -EINVAL;
            frac = frac * 10 + (*p - '0');
        }
        if (*p)
            return -EINVAL;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (sec < 0 || sec > 1LL << 33)
        return -EINVAL;
    *ret_ns = sec * 1000000000LL + frac;
    return 0;
}
