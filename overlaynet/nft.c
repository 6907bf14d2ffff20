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

struct onet_nft *onet__nft_new(void)
{
    struct onet_nft *x = calloc(1, sizeof(*x));

    if (!x)
        return NULL;
    x->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!x->ctx) {
        free(x);
        return NULL;
    }
    (void)nft_ctx_buffer_output(x->ctx);
    (void)nft_ctx_buffer_error(x->ctx);
    return x;
}

struct onet_nft *onet__nft_free(struct onet_nft *x)
{
    if (x) {
        nft_ctx_free(x->ctx);
        free(x);
    }
    return NULL;
}

int onet__nft_run(struct onet_nft *x, const char *cmds, struct err *err)
{
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
