/*
 * runtime/curl_dl.c - libcurl, loaded on first use.
 *
 * Linking libcurl normally maps it and its dependencies (GnuTLS, Kerberos,
 * p11-kit, LDAP...) into shoald at start-up: about 4 MiB of resident memory
 * for a daemon that may never talk to a registry. These definitions of the
 * libcurl functions the registry client uses dlopen("libcurl.so.4") the first
 * time one is called and forward to it. Our definitions are not exported
 * (shoald is not linked with -rdynamic), so libcurl's own internal calls are
 * not redirected here.
 *
 * If the library cannot be loaded, curl_global_init() fails and the
 * registry client reports "registry support unavailable" instead of crashing;
 * the other entry points are only reached after a successful init.
 */
#define LOG_MODULE "registry"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

#include "lib/log.h"

/* curl.h wraps these in type-checking macros under gcc: define the real functions. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt

static struct {
    void *lib;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    char *(*easy_escape)(CURL *, const char *, int);
    void (*free_fn)(void *);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_cleanup)(CURLSH *);
    CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} dl;

static pthread_once_t dl_once = PTHREAD_ONCE_INIT;

#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&dl.field = dlsym(dl.lib, name);                                                 \
        if (!dl.field)                                                                             \
            ok = 0;                                                                                \
    } while (0)

static void dl_load(void)
{
    int ok = 1;

    dl.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!dl.lib) {
        log_error("cannot load libcurl: %s", dlerror());
        return;
    }
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(easy_escape, "curl_easy_escape");
    SYM(free_fn, "curl_free");
    SYM(share_init, "curl_share_init");
    SYM(share_cleanup, "curl_share_cleanup");
    SYM(share_setopt, "curl_share_setopt");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    if (!ok) {
        log_error("libcurl lacks an expected symbol: %s", dlerror());
        (void)dlclose(dl.lib);
        dl.lib = NULL;
    }
}

static int loaded(void)
{
    (void)pthread_once(&dl_once, dl_load);
    return dl.lib != NULL;
}

CURLcode curl_global_init(long flags)
{
    if (!loaded())
        return CURLE_FAILED_INIT;
    return dl.global_init(flags);
}

CURL *curl_easy_init(void)
{
    return loaded() ? dl.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *h)
{
    if (loaded())
        dl.easy_cleanup(h);
}

CURLcode curl_easy_perform(CURL *h)
{
    return loaded() ? dl.easy_perform(h) : CURLE_FAILED_INIT;
}

/* Options carry one argument whose type the option number tells:
 * long < 10000 <= object pointer < 20000 <= function pointer < 30000 <= curl_off_t < 40000
 * <= blob pointer. */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    va_list ap;
    CURLcode r;

    if (!loaded())
        return CURLE_FAILED_INIT;
    va_start(ap, opt);
    if (opt < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        r = dl.easy_setopt(h, opt, v);
    } else if (opt < CURLOPTTYPE_OFF_T) {
        void *v = va_arg(ap, void *);
        r = dl.easy_setopt(h, opt, v);
    } else if (opt < CURLOPTTYPE_BLOB) {
        curl_off_t v = va_arg(ap, curl_off_t);
        r = dl.easy_setopt(h, opt, v);
    } else {
        void *v = va_arg(ap, void *);
        r = dl.easy_setopt(h, opt, v);
    }
    va_end(ap);
    return r;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    va_list ap;
    void *p;

    if (!loaded())
        return CURLE_FAILED_INIT;
    va_start(ap, info);
    p = va_arg(ap, void *);
    va_end(ap);
    return dl.easy_getinfo(h, info, p);
}

const char *curl_easy_strerror(CURLcode code)
{
    return loaded() ? dl.easy_strerror(code) : "libcurl is not available";
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
    return loaded() ? dl.easy_escape(h, s, len) : NULL;
}

void curl_free(void *p)
{
    if (loaded())
        dl.free_fn(p);
}

CURLSH *curl_share_init(void)
{
    return loaded() ? dl.share_init() : NULL;
}

CURLSHcode curl_share_cleanup(CURLSH *sh)
{
    return loaded() ? dl.share_cleanup(sh) : CURLSHE_NOT_BUILT_IN;
}

/* CURLSHOPT_SHARE/UNSHARE take an int (promoted), the others a pointer. */
CURLSHcode curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
    va_list ap;
    CURLSHcode r;

    if (!loaded())
        return CURLSHE_NOT_BUILT_IN;
    va_start(ap, opt);
    if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE) {
        int v = va_arg(ap, int);
        r = dl.share_setopt(sh, opt, v);
    } else {
        void *v = va_arg(ap, void *);
        r = dl.share_setopt(sh, opt, v);
    }
    va_end(ap);
    return r;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
    return loaded() ? dl.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
    if (loaded())
        dl.slist_free_all(l);
}
