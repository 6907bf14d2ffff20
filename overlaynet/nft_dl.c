/*
 * overlaynet/nft_dl.c - libnftables, loaded on first use.
 *
 * Linking libnftables maps it and its dependencies (libnftnl, libmnl, gmp,
 * xtables, jansson...) into shoald at start-up: about 2 MiB of resident
 * memory in a daemon that may never publish a port. These definitions of the
 * few functions overlaynet/nft.c calls dlopen("libnftables.so.1") the first
 * time one is called and forward to it. shoald is not linked with -rdynamic,
 * so libnftables' own internal calls are not redirected here.
 */
#define LOG_MODULE "onet"

#include <dlfcn.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdlib.h>

#include "lib/log.h"

static struct {
    void *lib;
    struct nft_ctx *(*ctx_new)(uint32_t);
    void (*ctx_free)(struct nft_ctx *);
    int (*buffer_output)(struct nft_ctx *);
    int (*buffer_error)(struct nft_ctx *);
    const char *(*get_output)(struct nft_ctx *);
    const char *(*get_error)(struct nft_ctx *);
    int (*run)(struct nft_ctx *, const char *);
} dl;

static pthread_once_t dl_once = PTHREAD_ONCE_INIT;

static void dl_load(void)
{
    dl.lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!dl.lib) {
        log_error("cannot load libnftables: %s", dlerror());
        return;
    }
    *(void **)&dl.ctx_new = dlsym(dl.lib, "nft_ctx_new");
    *(void **)&dl.ctx_free = dlsym(dl.lib, "nft_ctx_free");
    *(void **)&dl.buffer_output = dlsym(dl.lib, "nft_ctx_buffer_output");
    *(void **)&dl.buffer_error = dlsym(dl.lib, "nft_ctx_buffer_error");
    *(void **)&dl.get_output = dlsym(dl.lib, "nft_ctx_get_output_buffer");
    *(void **)&dl.get_error = dlsym(dl.lib, "nft_ctx_get_error_buffer");
    *(void **)&dl.run = dlsym(dl.lib, "nft_run_cmd_from_buffer");
    if (!dl.ctx_new || !dl.ctx_free || !dl.buffer_output || !dl.buffer_error || !dl.get_output ||
        !dl.get_error || !dl.run) {
        log_error("libnftables lacks an expected symbol");
        (void)dlclose(dl.lib);
        dl.lib = NULL;
    }
}

static int loaded(void)
{
    (void)pthread_once(&dl_once, dl_load);
    return dl.lib != NULL;
}

struct nft_ctx *nft_ctx_new(uint32_t flags)
{
    return loaded() ? dl.ctx_new(flags) : NULL;
}

void nft_ctx_free(struct nft_ctx *ctx)
{
    if (loaded())
        dl.ctx_free(ctx);
}

int nft_ctx_buffer_output(struct nft_ctx *ctx)
{
    return loaded() ? dl.buffer_output(ctx) : -1;
}

int nft_ctx_buffer_error(struct nft_ctx *ctx)
{
    return loaded() ? dl.buffer_error(ctx) : -1;
}

const char *nft_ctx_get_output_buffer(struct nft_ctx *ctx)
{
    return loaded() ? dl.get_output(ctx) : "";
}

const char *nft_ctx_get_error_buffer(struct nft_ctx *ctx)
{
    return loaded() ? dl.get_error(ctx) : "libnftables is not available";
}

int nft_run_cmd_from_buffer(struct nft_ctx *ctx, const char *buf)
{
    return loaded() ? dl.run(ctx, buf) : -1;
}
