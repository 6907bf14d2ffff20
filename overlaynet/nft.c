/*
 * overlaynet/nft.c - nftables transactions through libnftables.
 *
 * The context is created on the loop thread, so its netlink socket lives in
 * the host's namespace. Every call of onet__nft_run is one transaction.
 */
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#include "overlaynet/internal.h"

struct onet_nft {
    struct nft_ctx *ctx;
};

/* The libnftables context is made on the first transaction: a daemon that
 * never publishes a port or attaches a bridge never loads the library (see
 * overlaynet/nft_dl.c). */
struct onet_nft *onet__nft_new(void)
{
    return calloc(1, sizeof(struct onet_nft));
}

static int nft_ctx_ready(struct onet_nft *x, struct err *err)
{
    if (x->ctx)
        return 0;
    x->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!x->ctx)
        return err_set(err, -EIO, "nftables: cannot create a context (is libnftables installed?)");
    (void)nft_ctx_buffer_output(x->ctx);
    (void)nft_ctx_buffer_error(x->ctx);
    return 0;
}

struct onet_nft *onet__nft_free(struct onet_nft *x)
{
    if (x) {
        if (x->ctx)
            nft_ctx_free(x->ctx);
        free(x);
    }
    return NULL;
}

int onet__nft_run(struct onet_nft *x, const char *cmds, struct err *err)
{
    int r = nft_ctx_ready(x, err);

    if (r < 0)
        return r;
    if (nft_run_cmd_from_buffer(x->ctx, cmds) != 0) {
        const char *e = nft_ctx_get_error_buffer(x->ctx);
        char msg[400];
        size_t l;

        (void)snprintf(msg, sizeof(msg), "%s", e && *e ? e : "failed");
        l = strlen(msg);
        while (l && msg[l - 1] == '\n')
            msg[--l] = '\0';
        (void)nft_ctx_get_output_buffer(x->ctx);
        return err_set(err, -EIO, "nftables: %s", msg);
    }
    /* reading the buffers resets them */
    (void)nft_ctx_get_output_buffer(x->ctx);
    (void)nft_ctx_get_error_buffer(x->ctx);
    return 0;
}
