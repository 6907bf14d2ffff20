/*
 * cli/stdcopy.c - demultiplex the stdcopy stream used by attach and logs when
 * the container has no TTY: frames of an 8-byte header (stream byte, three
 * zero bytes, big-endian uint32 length) followed by the payload. Input may be
 * split at any byte; payloads are handed on as they arrive.
 */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"

void cli_demux_init(struct cli_demux *d)
{
    memset(d, 0, sizeof(*d));
}

bool cli_demux_idle(const struct cli_demux *d)
{
    return d->hdr_len == 0 && d->remaining == 0;
}

int cli_demux_feed(struct cli_demux *d, const char *data, size_t len, cli_demux_cb cb, void *ctx)
{
    int r;

    while (len > 0) {
        if (d->remaining == 0) {
            size_t take = sizeof(d->hdr) - d->hdr_len;

            if (take > len)
                take = len;
            memcpy(d->hdr + d->hdr_len, data, take);
            d->hdr_len += take;
            data += take;
            len -= take;
            if (d->hdr_len < sizeof(d->hdr))
                return 0;
            d->hdr_len = 0;
            if (d->hdr[0] > CLI_STREAM_SYSERR)
                return -EPROTO;
            d->stream = d->hdr[0];
            d->remaining = ((size_t)d->hdr[4] << 24) | ((size_t)d->hdr[5] << 16) |
                           ((size_t)d->hdr[6] << 8) | (size_t)d->hdr[7];
            continue;
        }
        {
            size_t take = d->remaining < len ? d->remaining : len;

            r = cb(ctx, d->stream, data, take);
            if (r < 0)
                return r;
            d->remaining -= take;
            data += take;
            len -= take;
        }
    }
    return 0;
}
