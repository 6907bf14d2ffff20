#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int err_wrap(struct err *err, const char *fmt, ...)
{
    char prefix[ERR_MSG_MAX];
    char old[ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return 0;
    va_start(ap, fmt);
    (void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* truncation is fine here; using the result keeps -Wformat-truncation quiet at -Os */
    if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) < 0)
        err->msg[0] = '\0';
    return err->code;
}

void err_clear(struct err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
