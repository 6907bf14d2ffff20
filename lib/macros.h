/*
 * lib/macros.h - small language helpers shared by every module.
 *
 * Cleanup attributes (free/close on scope exit), ownership transfer
 * (TAKE_PTR/TAKE_FD), container_of, array sizes and attribute shorthands.
 * No dependencies beyond libc.
 */
#ifndef LIB_MACROS_H
#define LIB_MACROS_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))
#define MUST_CHECK        __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNUSED            __attribute__((unused))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void freep(void *p)
{
    free(*(void **)p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
}

#define CLEANUP(fn)   __attribute__((cleanup(fn)))
#define cleanup_free  CLEANUP(freep)
#define cleanup_close CLEANUP(closep)

/* Hand ownership out of a cleanup-managed local. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) take_ptr_tmp_ = (p);                                                         \
        (p) = NULL;                                                                                \
        take_ptr_tmp_;                                                                             \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int take_fd_tmp_ = (fd);                                                                   \
        (fd) = -1;                                                                                 \
        take_fd_tmp_;                                                                              \
    })

#endif
