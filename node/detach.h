/*
 * node/detach.h - Docker detach keys on hijacked streams with a TTY
 * (attach and exec): the client types the sequence (default ctrl-p,ctrl-q)
 * and is detached; the container or exec keeps running. Bytes that start the
 * sequence are held back until it completes or breaks (then they are passed
 * on), like dockerd's escape proxy. Implemented in node/detach.c.
 */
#ifndef NODE_DETACH_H
#define NODE_DETACH_H

#include <stdbool.h>
#include <stddef.h>

#define NODE_DETACH_MAX 16

struct node_detach {
    unsigned char keys[NODE_DETACH_MAX];
    size_t n;
    size_t matched;
};

/* Parse "ctrl-p,ctrl-q" style keys ("" or NULL = the default); -EINVAL if bad. */
int node_detach_parse(const char *spec, struct node_detach *d);
/* Feed client bytes; what is not part of the sequence goes to fwd. Returns
 * true when the sequence completed (bytes after it are dropped). */
bool node_detach_feed(struct node_detach *d, const char *data, size_t len,
                      void (*fwd)(void *arg, const char *data, size_t len), void *arg);

#endif
