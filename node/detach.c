/*
 * node/detach.c - detach-key matching for hijacked TTY streams
 * (see node/detach.h). Pure: no I/O, unit-tested in tests/unit.
 */
#include "node/detach.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static int detach_key(const char *k, size_t len, unsigned char *ret)
{
    static const char ctrl_sym[] = "@[\\]^_";
    static const unsigned char codes[] = {0, 27, 28, 29, 30, 31};

    if (len == 1) {
        *ret = (unsigned char)k[0];
        return 0;
    }
    if (len == 6 && strncmp(k, "ctrl-", 5) == 0) {
        char c = k[5];
        const char *sym = strchr(ctrl_sym, c);

        if (c >= 'a' && c <= 'z') {
            *ret = (unsigned char)(c - 'a' + 1);
            return 0;
        }
        if (c && sym) {
            *ret = codes[sym - ctrl_sym];
            return 0;
        }
    }
    return -EINVAL;
}

int node_detach_parse(const char *spec, struct node_detach *d)
{
    d->n = d->matched = 0;
    if (!spec || !*spec)
        spec = "ctrl-p,ctrl-q";
    while (*spec) {
        size_t len = strcspn(spec, ",");

        if (d->n == NODE_DETACH_MAX || detach_key(spec, len, &d->keys[d->n]) < 0)
            return -EINVAL;
        d->n++;
        spec += len;
        if (*spec == ',')
            spec++;
    }
    return d->n ? 0 : -EINVAL;
}

bool node_detach_feed(struct node_detach *d, const char *data, size_t len,
                      void (*fwd)(void *arg, const char *data, size_t len), void *arg)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)data[i];

        if (ch != d->keys[d->matched] && d->matched > 0) {
            /* broken sequence: release the held keys, then look at ch again */
            size_t held = d->matched;
            d->matched = 0;
            fwd(arg, (const char *)d->keys, held);
            start = i;
        }
        if (ch == d->keys[d->matched]) {
            /* pass on what came before the (possible) sequence */
            if (d->matched == 0 && i > start)
                fwd(arg, data + start, i - start);
            d->matched++;
            start = i + 1;
            if (d->matched == d->n) {
                d->matched = 0;
                return true;
            }
        }
    }
    if (d->matched == 0 && len > start)
        fwd(arg, data + start, len - start);
    return false;
}
