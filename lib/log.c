#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_max_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *s, enum log_level *ret_level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *ret_level = LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

void log_emit(enum log_level lvl, const char *module, const char *fmt, ...)
{
    char msg[1024];
    char line[1400];
    char ts[40];
    struct timespec now;
    struct tm tm;
    va_list ap;
    size_t n = 0;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)clock_gettime(CLOCK_REALTIME, &now);
    (void)gmtime_r(&now.tv_sec, &tm);
    (void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    /* Escape quotes and newlines so one event stays one line. */
    n = (size_t)snprintf(line, sizeof(line), "time=%s.%03ldZ level=%s module=%s msg=\"", ts,
                         now.tv_nsec / 1000000, level_names[lvl], module);
    for (const char *p = msg; *p && n + 4 < sizeof(line); p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = *p;
        } else if (*p == '\n') {
            line[n++] = '\\';
            line[n++] = 'n';
        } else {
            line[n++] = *p;
        }
    }
    line[n++] = '"';
    line[n++] = '\n';
    (void)fwrite(line, 1, n, stderr);
}
