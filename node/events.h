/*
 * node/events.h - the daemon's event log (Docker's `GET /events`).
 *
 * Every event is kept in a bounded in-memory ring (NODE_EVENTS_RING, oldest
 * dropped first) for `since` replay and written to every `/events` stream
 * whose filters match. Everything runs on the loop thread.
 *
 * The wire shape is dockerd's: {"status","id","from","Type","Action",
 * "Actor":{"ID","Attributes":{...}},"scope":"local","time","timeNano"}
 * (status/id/from only for container and image events, as dockerd).
 */
#ifndef NODE_EVENTS_H
#define NODE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

#define NODE_EVENTS_RING 1024

struct node;
struct http_req;

/* Register with the runtime (rt_set_event_cb) so container state changes
 * become events. Idempotent; call after rt_open(). */
void node_events_init(struct node *n);

/*
 * Record and publish one event.
 *   type   "container", "image", "network", "volume", "daemon"
 *   action "create", "exec_start: sh", "tag", ...
 *   id     the actor's id (container id, "sha256:..." image id, ...)
 *   attrs  extra Actor.Attributes (object of strings; borrowed, may be NULL).
 * For a container that is still known, name, image and its labels are added
 * to the attributes when attrs does not have them.
 */
void node_event_emit(const char *type, const char *action, const char *id, json_t *attrs);

/* Same, for a container object (used for events about removed containers). */
void node_event_container(struct rt_container *c, const char *action, json_t *attrs);

/* For tests and /events: walk the ring, oldest first. */
size_t node_events_count(void);
json_t *node_events_at(size_t i, int64_t *ret_time_ns); /* borrowed */

/* Filters of GET /events (key -> array of strings, from node_parse_filters). */
bool node_event_match(json_t *filters, json_t *event);

/* Parse Docker's since/until value: "1700000000", "1700000000.123456789" or
 * RFC 3339. 0 or -EINVAL. */
int node_events_parse_time(const char *s, int64_t *ret_ns);

/* Live listeners (node/api_events.c): fn gets every new event (object and
 * its serialised line, without the newline). Unsubscribe before freeing. */
struct node_event_sub {
    struct node_event_sub *next, *prev;
    void (*fn)(void *arg, json_t *event, const char *text);
    void *arg;
};
void node_events_subscribe(struct node_event_sub *s);
void node_events_unsubscribe(struct node_event_sub *s);

/* Free the ring (tests). */
void node_events_reset(void);

#endif
