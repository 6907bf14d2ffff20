/*
 * manager/internal.h - what the files of manager/ share; not public.
 */
#ifndef MANAGER_INTERNAL_H
#define MANAGER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "manager/store.h"

/* Every object message starts with `string id = 1; Meta meta = 2;`, so the
 * generated structs share this head (checked by static asserts in store.c). */
struct mgr__obj_head {
    ProtobufCMessage base;
    char *id;
    Shoal__Store__Meta *meta;
};

/* Limits on what a command may carry (bytes from the log are hostile). */
#define MGR__MAX_CMD    (4u << 20)
#define MGR__MAX_STR    4096
#define MGR__MAX_PEM    (64u << 10)
#define MGR__MAX_LABELS 1024
#define MGR__MAX_LIST   1024
#define MGR__MAX_REQ_ID 64

bool mgr__utf8_valid(const char *s, size_t max);
/* Sort a label array by key; -EINVAL on duplicate or empty keys. */
int mgr__labels_sort(Shoal__Store__Label **labels, size_t n);

#endif
