/*
 * runtime/registry_http.c - the HTTP side of the registry client (libcurl).
 *
 * One reg_client per operation and registry: base URL (http for loopback and
 * insecure registries, https otherwise), the repository, the token scope, and
 * the credentials in force (none, Basic, or a Bearer token obtained from the
 * realm of a WWW-Authenticate challenge). Requests are plain curl easy handles
 * (one per request, any thread) sharing one connection cache and DNS cache.
 * Bodies are never buffered beyond a small cap: blobs go to a file while their
 * sha256 is computed.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/registry_internal.h"

#define REG_ERR_BODY_MAX    (16 * 1024)
#define REG_TOKEN_MAX       (64 * 1024)
#define REG_CONNECT_TIMEOUT 15L
#define REG_LOW_SPEED_TIME  30L
#define REG_PROGRESS_NS     (100 * 1000000LL)

struct reg_client {
    char base[300]; /* "http://127.0.0.1:5000" */
    char host[256];
    char repo[256];
    char scope[600];
    const struct rt_reg_opts *opts;
    const volatile bool *stop;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t lock; /* token and basic */
    char *token;
    bool basic;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_init_once(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct reg_client *c = arg;

    (void)h;
    (void)access;
    (void)pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    struct reg_client *c = arg;

    (void)h;
    (void)pthread_mutex_unlock(&c->share_locks[data]);
}

int reg__client_new(const char *api_host, const char *repo, const char *scope,
                    const struct rt_reg_opts *opts, struct reg_client **ret, struct err *err)
{
    struct reg_client *c;
    bool plain;

    (void)pthread_once(&curl_once, curl_init_once);
    if (!curl_ok)
        return err_set(err, -EIO, "libcurl initialisation failed");
    c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, -ENOMEM, "out of memory");
    plain =
        rt_reg_host_insecure(api_host, opts ? opts->insecure : NULL, opts ? opts->n_insecure : 0);
    (void)snprintf(c->base, sizeof(c->base), "%s://%.255s", plain ? "http" : "https", api_host);
    (void)reg__copy(c->host, sizeof(c->host), api_host);
    (void)reg__copy(c->repo, sizeof(c->repo), repo ? repo : "");
    (void)reg__copy(c->scope, sizeof(c->scope), scope ? scope : "");
    c->opts = opts;
    (void)pthread_mutex_init(&c->lock, NULL);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        (void)pthread_mutex_init(&c->share_locks[i], NULL);
    c->share = curl_share_init();
    if (c->share) {
        (void)curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
        (void)curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        (void)curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
        (void)curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        (void)curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    }
    *ret = c;
    return 0;
}

void reg__client_set_stop(struct reg_client *c, const volatile bool *stop)
{
    c->stop = stop;
}

struct reg_client *reg__client_free(struct reg_client *c)
{
    if (!c)
        return NULL;
    if (c->share)
        curl_share_cleanup(c->share);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        (void)pthread_mutex_destroy(&c->share_locks[i]);
    (void)pthread_mutex_destroy(&c->lock);
    if (c->token)
        explicit_bzero(c->token, strlen(c->token));
    free(c->token);
    free(c);
    return NULL;
}

/* ---- hashing sinks -------------------------------------------------------------------- */

void reg__sha256(const void *data, size_t len, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    (void)EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < mdlen; i++)
        (void)snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

int reg__sink_init(struct reg_sink *s, int fd, size_t mem_max)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->mem_max = mem_max;
    s->md = EVP_MD_CTX_new();
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->md);
        s->md = NULL;
        return -ENOMEM;
    }
    return 0;
}

void reg__sink_release(struct reg_sink *s)
{
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
    free(s->mem);
    s->mem = NULL;
}

void reg__sink_digest(struct reg_sink *s, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    (void)EVP_DigestFinal_ex(s->md, md, &mdlen);
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < mdlen; i++)
        (void)snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Forget what was received (before a retry). */
static int sink_reset(struct reg_sink *s)
{
    s->written = 0;
    s->mem_len = 0;
    if (s->mem)
        s->mem[0] = '\0';
    if (s->fd >= 0 && (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0))
        return -errno;
    if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
        return -EIO;
    return 0;
}

/* ---- one request --------------------------------------------------------------------- */

struct xfer {
    struct reg_client *c;
    CURL *h;
    struct reg_sink *sink;
    struct reg_resp *resp;
    struct buf errbody;
    char www_auth[2048];
    int sink_err;
    /* upload */
    int up_fd;
    int64_t up_size;
    int64_t up_off;
    void (*up_progress)(void *arg, int64_t current);
    void *up_arg;
    int64_t last_progress_ns;
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nitems;
    char line[2048];
    char *colon, *v;
    size_t vl;

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or 100): forget the previous headers */
        long status = 0;
        const char *sp = memchr(data, ' ', n);
        if (sp)
            status = strtol(sp + 1, NULL, 10);
        memset(x->resp, 0, sizeof(*x->resp));
        x->resp->status = status;
        x->resp->content_length = -1;
        x->www_auth[0] = '\0';
        return n;
    }
    if (n >= sizeof(line))
        return n;
    memcpy(line, data, n);
    line[n] = '\0';
    colon = strchr(line, ':');
    if (!colon)
        return n;
    *colon = '\0';
    v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    vl = strlen(v);
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        v[--vl] = '\0';
    if (strcasecmp(line, "Content-Type") == 0)
        (void)reg__copy(x->resp->content_type, sizeof(x->resp->content_type), v);
    else if (strcasecmp(line, "Docker-Content-Digest") == 0)
        (void)reg__copy(x->resp->docker_digest, sizeof(x->resp->docker_digest), v);
    else if (strcasecmp(line, "Location") == 0)
        (void)reg__copy(x->resp->location, sizeof(x->resp->location), v);
    else if (strcasecmp(line, "Content-Length") == 0)
        x->resp->content_length = strtoll(v, NULL, 10);
    else if (strcasecmp(line, "WWW-Authenticate") == 0 && !x->www_auth[0])
        (void)reg__copy(x->www_auth, sizeof(x->www_auth), v);
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    long code = 0;
    struct reg_sink *s = x->sink;

    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300 || !s) {
        /* an error body (or an unexpected one): keep a little for the message */
        if (x->errbody.len < REG_ERR_BODY_MAX)
            (void)buf_append(&x->errbody, data, n < REG_ERR_BODY_MAX ? n : REG_ERR_BODY_MAX);
        return n;
    }
    if (s->fd >= 0) {
        if (write_all(s->fd, data, n) < 0) {
            x->sink_err = -errno;
            return 0;
        }
    } else {
        if (s->mem_len + n > s->mem_max) {
            x->sink_err = -EFBIG;
            return 0;
        }
        char *m = realloc(s->mem, s->mem_len + n + 1);
        if (!m) {
            x->sink_err = -ENOMEM;
            return 0;
        }
        s->mem = m;
        memcpy(s->mem + s->mem_len, data, n);
        s->mem_len += n;
        s->mem[s->mem_len] = '\0';
    }
    (void)EVP_DigestUpdate(s->md, data, n);
    s->written += (int64_t)n;
    if (s->on_progress) {
        int64_t now = mono_ns();
        if (now - x->last_progress_ns >= REG_PROGRESS_NS) {
            x->last_progress_ns = now;
            s->on_progress(s->progress_arg, s->written);
        }
    }
    return n;
}

static size_t on_read(char *data, size_t size, size_t nitems, void *arg)
{
    struct xfer *x = arg;
    size_t want = size * nitems;
    ssize_t r;

    if (x->up_off >= x->up_size)
        return 0;
    if ((int64_t)want > x->up_size - x->up_off)
        want = (size_t)(x->up_size - x->up_off);
    r = pread(x->up_fd, data, want, x->up_off);
    if (r <= 0)
        return CURL_READFUNC_ABORT;
    x->up_off += r;
    if (x->up_progress) {
        int64_t now = mono_ns();
        if (now - x->last_progress_ns >= REG_PROGRESS_NS || x->up_off == x->up_size) {
            x->last_progress_ns = now;
            x->up_progress(x->up_arg, x->up_off);
        }
    }
    return (size_t)r;
}

static bool cancelled(struct reg_client *c)
{
    return (c->opts && c->opts->cancel && *c->opts->cancel) || (c->stop && *c->stop);
}

static int on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return cancelled(x->c) ? 1 : 0;
}

/* Registry error body {"errors":[{"code","message"}]} -> "manifest unknown: manifest unknown". */
static void registry_message(const struct buf *body, long status, char *out, size_t outlen)
{
    json_t *doc = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    json_t *e = json_array_get(json_object_get(doc, "errors"), 0);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (code) {
        char lc[128];
        size_t i;
        for (i = 0; i < sizeof(lc) - 1 && code[i]; i++)
            lc[i] = code[i] == '_' ? ' ' : (char)tolower((unsigned char)code[i]);
        lc[i] = '\0';
        (void)snprintf(out, outlen, "%s: %s", lc, msg ? msg : lc);
    } else if (status == 401) {
        (void)snprintf(out, outlen, "unauthorized: authentication required");
    } else {
        (void)snprintf(out, outlen, "received unexpected HTTP status: %ld", status);
    }
    json_decref(doc);
}

static int status_code(long status)
{
    if (status == 404)
        return -ENOENT;
    if (status == 401 || status == 403)
        return -EACCES;
    return -EIO;
}

struct req_spec {
    const char *method; /* GET HEAD POST PUT */
    const char *url;
    const char *accept;
    const char *content_type;
    const char *body; /* small in-memory body */
    size_t body_len;
    int up_fd; /* >= 0: upload from this fd */
    int64_t up_size;
    void (*up_progress)(void *arg, int64_t current);
    void *up_arg;
    bool no_auth; /* token endpoint */
    const char *user, *pass;
};

static int token_fetch(struct reg_client *c, const struct rt_reg_challenge *ch, struct err *err);

static int perform(struct reg_client *c, const struct req_spec *rq, struct reg_sink *sink,
                   struct reg_resp *resp, char *www_auth, size_t www_len, struct buf *errbody,
                   struct err *err)
{
    struct xfer x = {.c = c,
                     .sink = sink,
                     .resp = resp,
                     .up_fd = rq->up_fd,
                     .up_size = rq->up_size,
                     .up_progress = rq->up_progress,
                     .up_arg = rq->up_arg};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char line[REG_TOKEN_MAX + 64];
    CURLcode cr;
    int r = 0;

    memset(resp, 0, sizeof(*resp));
    resp->content_length = -1;
    {
        /* --registry-allow: refuse before curl resolves anything */
        char host[300];
        const char *p = strstr(rq->url, "://");
        size_t len;
        p = p ? p + 3 : rq->url;
        len = strcspn(p, "/?#");
        (void)snprintf(host, sizeof(host), "%.*s", (int)len, p);
        if (strchr(host, '@'))
            memmove(host, strchr(host, '@') + 1, strlen(strchr(host, '@') + 1) + 1);
        if (!rt_reg_host_allowed(host))
            return err_set(err, -EACCES,
                           "registry %s is not allowed: shoald was started with "
                           "--registry-allow and this host is not in the list",
                           host);
    }
    buf_init(&x.errbody);
    x.h = curl_easy_init();
    if (!x.h)
        return err_set(err, -ENOMEM, "out of memory (curl)");
    (void)curl_easy_setopt(x.h, CURLOPT_URL, rq->url);
    (void)curl_easy_setopt(x.h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(x.h, CURLOPT_USERAGENT,
                           "shoal/"
                           "0.1 (registry client)");
    (void)curl_easy_setopt(x.h, CURLOPT_ERRORBUFFER, errbuf);
    (void)curl_easy_setopt(x.h, CURLOPT_CONNECTTIMEOUT, REG_CONNECT_TIMEOUT);
    (void)curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    (void)curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_TIME, REG_LOW_SPEED_TIME);
    (void)curl_easy_setopt(x.h, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(x.h, CURLOPT_HEADERDATA, &x);
    (void)curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, on_write);
    (void)curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x);
    (void)curl_easy_setopt(x.h, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(x.h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    (void)curl_easy_setopt(x.h, CURLOPT_XFERINFODATA, &x);
    (void)curl_easy_setopt(x.h, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)curl_easy_setopt(x.h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (c->share)
        (void)curl_easy_setopt(x.h, CURLOPT_SHARE, c->share);
    if (strcmp(rq->method, "GET") == 0) {
        /* blobs may redirect to storage; credentials are not forwarded there */
        (void)curl_easy_setopt(x.h, CURLOPT_FOLLOWLOCATION, rt_reg_restricted() ? 0L : 1L);
        (void)curl_easy_setopt(x.h, CURLOPT_MAXREDIRS, 5L);
    } else if (strcmp(rq->method, "HEAD") == 0) {
        (void)curl_easy_setopt(x.h, CURLOPT_NOBODY, 1L);
        (void)curl_easy_setopt(x.h, CURLOPT_FOLLOWLOCATION, rt_reg_restricted() ? 0L : 1L);
    } else if (strcmp(rq->method, "PUT") == 0 && rq->up_fd >= 0) {
        (void)curl_easy_setopt(x.h, CURLOPT_UPLOAD, 1L);
        (void)curl_easy_setopt(x.h, CURLOPT_READFUNCTION, on_read);
        (void)curl_easy_setopt(x.h, CURLOPT_READDATA, &x);
        (void)curl_easy_setopt(x.h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->up_size);
    } else {
        (void)curl_easy_setopt(x.h, CURLOPT_CUSTOMREQUEST, rq->method);
        (void)curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        (void)curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (rq->accept) {
        (void)snprintf(line, sizeof(line), "Accept: %s", rq->accept);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (rq->content_type) {
        (void)snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (rq->user) {
        (void)curl_easy_setopt(x.h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        (void)curl_easy_setopt(x.h, CURLOPT_USERNAME, rq->user);
        (void)curl_easy_setopt(x.h, CURLOPT_PASSWORD, rq->pass ? rq->pass : "");
    } else if (!rq->no_auth) {
        const struct rt_reg_auth *a = c->opts ? c->opts->auth : NULL;
        (void)pthread_mutex_lock(&c->lock);
        if (c->token) {
            (void)snprintf(line, sizeof(line), "Authorization: Bearer %s", c->token);
            hdrs = curl_slist_append(hdrs, line);
        } else if (c->basic && a && a->username) {
            (void)curl_easy_setopt(x.h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            (void)curl_easy_setopt(x.h, CURLOPT_USERNAME, a->username);
            (void)curl_easy_setopt(x.h, CURLOPT_PASSWORD, a->password ? a->password : "");
        }
        (void)pthread_mutex_unlock(&c->lock);
    }
    explicit_bzero(line, sizeof(line));
    (void)curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdrs);

    cr = curl_easy_perform(x.h);
    if (cr != CURLE_OK) {
        if (cancelled(c) || cr == CURLE_ABORTED_BY_CALLBACK)
            r = err_set(err, -ECANCELED, "cancelled");
        else if (x.sink_err)
            r = err_set(err, x.sink_err, "writing %s: %s", rq->url, strerror(-x.sink_err));
        else
            r = err_set(err, -EIO, "%s \"%s\": %s", rq->method[0] == 'G' ? "Get" : rq->method,
                        rq->url, errbuf[0] ? errbuf : curl_easy_strerror(cr));
    } else {
        long code = 0;
        (void)curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &code);
        resp->status = code;
    }
    if (www_auth)
        (void)reg__copy(www_auth, www_len, x.www_auth);
    if (errbody) {
        buf_release(errbody);
        *errbody = x.errbody;
    } else {
        buf_release(&x.errbody);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(x.h);
    return r;
}

static void make_url(struct reg_client *c, const char *path, char *out, size_t outlen)
{
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
        (void)snprintf(out, outlen, "%s", path);
    else if (path[0] == '/')
        (void)snprintf(out, outlen, "%s%s", c->base, path);
    else
        (void)snprintf(out, outlen, "%s/v2/%s/%s", c->base, c->repo, path);
}

/* Run a request; on 401, authenticate as the challenge says and run it once more. */
static int request(struct reg_client *c, struct req_spec *rq, struct reg_sink *sink,
                   struct reg_resp *resp, struct buf *errbody, struct err *err)
{
    char www[2048];
    struct rt_reg_challenge ch;
    int r;

    for (int attempt = 0;; attempt++) {
        if (cancelled(c))
            return err_set(err, -ECANCELED, "cancelled");
        r = perform(c, rq, sink, resp, www, sizeof(www), errbody, err);
        if (r < 0 || resp->status != 401 || attempt > 0)
            return r;
        if (rt_reg_challenge_parse(www, &ch) < 0)
            return 0;
        if (strcasecmp(ch.scheme, "Bearer") == 0) {
            r = token_fetch(c, &ch, err);
            if (r < 0)
                return r;
        } else if (strcasecmp(ch.scheme, "Basic") == 0) {
            const struct rt_reg_auth *a = c->opts ? c->opts->auth : NULL;
            if (!a || !a->username)
                return 0; /* nothing to offer: the 401 stands */
            (void)pthread_mutex_lock(&c->lock);
            c->basic = true;
            (void)pthread_mutex_unlock(&c->lock);
        } else {
            return 0;
        }
        if (sink && (r = sink_reset(sink)) < 0)
            return err_set(err, r, "rewind: %s", strerror(-r));
    }
}

static int append_q(struct buf *b, CURL *h, const char *k, const char *v)
{
    char *e = curl_easy_escape(h, v, 0);
    int r;

    if (!e)
        return -ENOMEM;
    r = buf_printf(b, "%s%s=%s", strchr(b->data ? b->data : "", '?') ? "&" : "?", k, e);
    curl_free(e);
    return r;
}

static int token_fetch(struct reg_client *c, const struct rt_reg_challenge *ch, struct err *err)
{
    const struct rt_reg_auth *a = c->opts ? c->opts->auth : NULL;
    const char *scope = c->scope[0] ? c->scope : ch->scope;
    struct req_spec rq = {.method = "GET", .up_fd = -1, .no_auth = true};
    struct reg_sink sink;
    struct reg_resp resp = {0};
    struct buf url, form, eb;
    CURL *h;
    json_t *doc;
    const char *tok;
    int r;

    if (!ch->realm[0])
        return err_set(err, -EACCES, "unauthorized: the registry sent no token realm");
    if (strncmp(ch->realm, "http://", 7) != 0 && strncmp(ch->realm, "https://", 8) != 0)
        return err_set(err, -EACCES, "unsupported token realm %s", ch->realm);
    h = curl_easy_init();
    if (!h)
        return err_set(err, -ENOMEM, "out of memory");
    buf_init(&url);
    buf_init(&form);
    buf_init(&eb);
    r = buf_puts(&url, ch->realm);
    bool refresh = a && a->identitytoken && *a->identitytoken;
    struct buf *q = refresh ? &form : &url;
    if (refresh) {
        r = r < 0 ? r : buf_puts(&form, "?");
        r = r < 0 ? r : append_q(&form, h, "grant_type", "refresh_token");
        r = r < 0 ? r : append_q(&form, h, "refresh_token", a->identitytoken);
        r = r < 0 ? r : append_q(&form, h, "client_id", "shoal");
    }
    if (ch->service[0])
        r = r < 0 ? r : append_q(q, h, "service", ch->service);
    if (scope && *scope)
        r = r < 0 ? r : append_q(q, h, "scope", scope);
    if (!refresh && a && a->username)
        r = r < 0 ? r : append_q(q, h, "account", a->username);
    curl_easy_cleanup(h);
    if (r < 0 || reg__sink_init(&sink, -1, REG_TOKEN_MAX) < 0) {
        buf_release(&url);
        buf_release(&form);
        return err_set(err, -ENOMEM, "out of memory");
    }
    rq.url = url.data;
    if (refresh) {
        rq.method = "POST";
        rq.content_type = "application/x-www-form-urlencoded";
        rq.body = form.data + 1; /* skip the '?' */
        rq.body_len = form.len - 1;
    } else if (a && a->username) {
        rq.user = a->username;
        rq.pass = a->password;
    }
    r = perform(c, &rq, &sink, &resp, NULL, 0, &eb, err);
    if (r == 0 && resp.status != 200) {
        char msg[400];
        registry_message(&eb, resp.status, msg, sizeof(msg));
        if (resp.status == 401 || resp.status == 403)
            r = err_set(err, -EACCES, "unauthorized: incorrect username or password (%s)", msg);
        else
            r = err_set(err, -EIO, "token request to %s failed: %s", ch->realm, msg);
    }
    if (r == 0) {
        doc = json_loadb(sink.mem ? sink.mem : "", sink.mem_len, 0, NULL);
        tok = json_string_value(json_object_get(doc, "token"));
        if (!tok || !*tok)
            tok = json_string_value(json_object_get(doc, "access_token"));
        if (!tok || !*tok) {
            r = err_set(err, -EACCES, "token server %s sent no token", ch->realm);
        } else {
            char *t = strdup(tok);
            if (!t) {
                r = err_set(err, -ENOMEM, "out of memory");
            } else {
                (void)pthread_mutex_lock(&c->lock);
                free(c->token);
                c->token = t;
                (void)pthread_mutex_unlock(&c->lock);
            }
        }
        json_decref(doc);
    }
    if (sink.mem)
        explicit_bzero(sink.mem, sink.mem_len);
    reg__sink_release(&sink);
    buf_release(&url);
    if (form.data)
        explicit_bzero(form.data, form.len);
    buf_release(&form);
    buf_release(&eb);
    return r;
}

static int check_status(struct reg_client *c, const char *what, const struct reg_resp *resp,
                        const struct buf *eb, long want1, long want2, struct err *err)
{
    char msg[400];

    (void)c;
    if (resp->status == want1 || resp->status == want2)
        return 0;
    registry_message(eb, resp->status, msg, sizeof(msg));
    return err_set(err, status_code(resp->status), "%s%s%s", what ? what : "", what ? ": " : "",
                   msg);
}

int reg__get(struct reg_client *c, const char *path, const char *accept, struct reg_sink *sink,
             struct reg_resp *resp, struct err *err)
{
    char url[4096];
    struct req_spec rq = {.method = "GET", .url = url, .accept = accept, .up_fd = -1};
    struct buf eb;
    int r;

    make_url(c, path, url, sizeof(url));
    buf_init(&eb);
    r = request(c, &rq, sink, resp, &eb, err);
    if (r == 0)
        r = check_status(c, NULL, resp, &eb, 200, 200, err);
    buf_release(&eb);
    return r;
}

int reg__head(struct reg_client *c, const char *path, const char *accept, struct reg_resp *resp,
              struct err *err)
{
    char url[4096];
    struct req_spec rq = {.method = "HEAD", .url = url, .accept = accept, .up_fd = -1};
    struct buf eb;
    int r;

    make_url(c, path, url, sizeof(url));
    buf_init(&eb);
    r = request(c, &rq, NULL, resp, &eb, err);
    if (r == 0 && resp->status != 404)
        r = check_status(c, NULL, resp, &eb, 200, 200, err);
    buf_release(&eb);
    return r;
}

int reg__upload_blob(struct reg_client *c, int fd, int64_t size, const char *digest,
                     void (*on_progress)(void *arg, int64_t current), void *arg, struct err *err)
{
    char url[4096], put_url[4200];
    struct req_spec rq = {.method = "POST", .url = url, .up_fd = -1};
    struct reg_resp resp = {0};
    struct buf eb;
    int r;

    make_url(c, "blobs/uploads/", url, sizeof(url));
    buf_init(&eb);
    r = request(c, &rq, NULL, &resp, &eb, err);
    if (r == 0)
        r = check_status(c, "starting the blob upload", &resp, &eb, 202, 201, err);
    if (r == 0 && !resp.location[0])
        r = err_set(err, -EIO, "the registry sent no upload location");
    if (r == 0) {
        make_url(c, resp.location, url, sizeof(url));
        (void)snprintf(put_url, sizeof(put_url), "%s%sdigest=%s", url, strchr(url, '?') ? "&" : "?",
                       digest);
        struct req_spec put = {.method = "PUT",
                               .url = put_url,
                               .up_fd = fd,
                               .up_size = size,
                               .content_type = "application/octet-stream",
                               .up_progress = on_progress,
                               .up_arg = arg};
        r = request(c, &put, NULL, &resp, &eb, err);
        if (r == 0)
            r = check_status(c, "uploading the blob", &resp, &eb, 201, 204, err);
    }
    buf_release(&eb);
    return r;
}

int reg__put_manifest(struct reg_client *c, const char *ref, const char *media_type,
                      const char *body, size_t len, struct err *err)
{
    char path[600], url[4096];
    struct req_spec rq = {.method = "PUT",
                          .url = url,
                          .up_fd = -1,
                          .content_type = media_type,
                          .body = body,
                          .body_len = len};
    struct reg_resp resp = {0};
    struct buf eb;
    int r;

    (void)snprintf(path, sizeof(path), "manifests/%s", ref);
    make_url(c, path, url, sizeof(url));
    buf_init(&eb);
    r = request(c, &rq, NULL, &resp, &eb, err);
    if (r == 0)
        r = check_status(c, "uploading the manifest", &resp, &eb, 201, 200, err);
    buf_release(&eb);
    return r;
}

int reg__login(struct reg_client *c, struct err *err)
{
    char url[400];
    struct req_spec rq = {.method = "GET", .url = url, .up_fd = -1};
    struct reg_resp resp = {0};
    struct buf eb;
    int r;

    (void)snprintf(url, sizeof(url), "%s/v2/", c->base);
    buf_init(&eb);
    r = request(c, &rq, NULL, &resp, &eb, err);
    if (r == 0 && resp.status != 200)
        r = err_set(err, resp.status == 401 || resp.status == 403 ? -EACCES : -EIO,
                    "login attempt to %s failed with status: %ld %s", url, resp.status,
                    resp.status == 401 ? "Unauthorized" : "");
    buf_release(&eb);
    return r;
}
