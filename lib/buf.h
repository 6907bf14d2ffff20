/*
 * lib/buf.h - a growable byte buffer, always NUL-terminated for convenience.
 *
 * struct buf is embedded by its owner: buf_init() / buf_release().
 * Appends return 0 or -ENOMEM; a buffer that failed keeps its old content.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/macros.h"

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_release(struct buf *b);
/* Make room for at least `extra` more bytes. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Keep the first len bytes. */
void buf_truncate(struct buf *b, size_t len);
/* Hand the storage to the caller (NUL-terminated); the buf is reset. */
char *buf_steal(struct buf *b);

#endif
