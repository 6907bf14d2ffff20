/*
 * lib/err.h - error values that carry a message.
 *
 * Functions that can fail return 0 or a negative errno value and take an
 * optional caller-owned `struct err *err` last. On failure they fill it with
 * the code and a one-line message fit for a user (an API reply or the CLI);
 * on success it is left untouched. Reporting never allocates.
 *
 * Codes errno lacks live above 4096 (like libuv's UV_EOF).
 */
#ifndef LIB_ERR_H
#define LIB_ERR_H

#include <errno.h>

#include "lib/macros.h"

#define ERR_MSG_MAX 512

/* Project codes beyond errno; negative like errno codes. */
enum {
    ERR_NOT_LEADER = -4097, /* swarm: this manager is not the leader */
    ERR_NOT_MANAGER = -4098,
    ERR_NOT_MODIFIED = -4099, /* HTTP 304: already started / already stopped */
    ERR_NO_SUCH_IMAGE = -4100,
};

struct err {
    int code;
    char msg[ERR_MSG_MAX];
};

/* Fill err (if not NULL) and return code. */
int err_set(struct err *err, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Prefix the existing message with context: "ctx: old message". Returns err->code. */
int err_wrap(struct err *err, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Reset to "no error". */
void err_clear(struct err *err);

#endif
