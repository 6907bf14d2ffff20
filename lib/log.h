/*
 * lib/log.h - levelled logfmt logging on stderr.
 *
 * Each .c file may define LOG_MODULE before including this header. The level
 * is checked before any argument is evaluated. Output looks like dockerd's:
 *   time=2026-11-22T10:00:00.000Z level=info module=node msg="listening"
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include "lib/macros.h"

#ifndef LOG_MODULE
#define LOG_MODULE "shoal"
#endif

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern enum log_level log_max_level;

/* Parse "error|warn|info|debug"; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *ret_level);
void log_emit(enum log_level lvl, const char *module, const char *fmt, ...) PRINTF_LIKE(3, 4);

#define log_at(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= log_max_level)                                                                \
            log_emit((lvl), LOG_MODULE, __VA_ARGS__);                                              \
    } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
