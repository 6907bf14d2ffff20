/*
 * tests/unit/test_events.c - the event ring, filters and since/until parsing
 * (node/events.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "node/events.h"
#include "node/node.h"

struct node *node_current;

static json_t *filters(const char *text)
{
    json_t *in = json_loads(text, 0, NULL);
    json_t *out = json_object();
    const char *k;
    json_t *v;

    json_object_foreach(in, k, v)
    {
        json_object_set(out, k, v);
    }
    json_decref(in);
    return out;
}

static void test_events_ring_and_shape(void **state)
{
    json_t *a = json_pack("{s:s, s:s}", "name", "c1", "image", "bb:latest");
    json_t *ev;
    int64_t ns1, ns2;
    char *text;

    (void)state;
    node_events_reset();
    node_event_emit("container", "start", "abc123", a);
    node_event_emit("image", "tag", "sha256:ff", NULL);
    assert_int_equal(node_events_count(), 2);
    ev = node_events_at(0, &ns1);
    assert_non_null(node_events_at(1, &ns2));
    assert_true(ns2 > ns1);
    text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(strstr(text, "{\"status\":\"start\",\"id\":\"abc123\",\"from\":\"bb:latest\","
                                 "\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":"
                                 "\"abc123\",\"Attributes\":{\"image\":\"bb:latest\",\"name\":"
                                 "\"c1\"}},\"scope\":\"local\""));
    free(text);
    json_decref(a);
    node_events_reset();
}

static void test_events_ring_bounded(void **state)
{
    int64_t ns;

    (void)state;
    node_events_reset();
    for (int i = 0; i < NODE_EVENTS_RING + 10; i++) {
        char id[16];
        (void)snprintf(id, sizeof(id), "n%d", i);
        node_event_emit("network", "create", id, NULL);
    }
    assert_int_equal(node_events_count(), NODE_EVENTS_RING);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(node_events_at(0, &ns), "Actor"), "ID")),
        "n10");
    node_events_reset();
}

static void test_events_filters(void **state)
{
    json_t *a = json_pack("{s:s, s:s, s:s}", "name", "web", "image", "bb:latest", "tier", "x");
    json_t *ev, *f;

    (void)state;
    node_events_reset();
    node_event_emit("container", "exec_start: sh -c true", "0123456789ab", a);
    ev = node_events_at(0, NULL);
    f = filters("{\"type\":[\"container\"],\"event\":[\"exec_start\"]}");
    assert_true(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"container\":[\"web\"]}");
    assert_true(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"container\":[\"0123\"]}");
    assert_true(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"container\":[\"other\"]}");
    assert_false(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"image\":[\"bb\"]}");
    assert_true(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"label\":[\"tier=x\"]}");
    assert_true(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"label\":[\"tier=y\"]}");
    assert_false(node_event_match(f, ev));
    json_decref(f);
    f = filters("{\"type\":[\"image\"]}");
    assert_false(node_event_match(f, ev));
    json_decref(f);
    json_decref(a);
    node_events_reset();
}

static void test_events_parse_time(void **state)
{
    int64_t ns = 0;

    (void)state;
    assert_int_equal(node_events_parse_time("1700000000", &ns), 0);
    assert_int_equal(ns, 1700000000000000000LL);
    assert_int_equal(node_events_parse_time("1700000000.5", &ns), 0);
    assert_int_equal(ns, 1700000000500000000LL);
    assert_int_equal(node_events_parse_time("1700000000.000000001", &ns), 0);
    assert_int_equal(ns, 1700000000000000001LL);
    assert_int_equal(node_events_parse_time("2023-11-14T22:13:20Z", &ns), 0);
    assert_int_equal(ns, 1700000000000000000LL);
    assert_true(node_events_parse_time("abc", &ns) < 0);
    assert_true(node_events_parse_time("", &ns) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_ring_and_shape),
        cmocka_unit_test(test_events_ring_bounded),
        cmocka_unit_test(test_events_filters),
        cmocka_unit_test(test_events_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
