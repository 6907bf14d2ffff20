/*
 * cli/cmd_registry.c - shoal pull / push / login / logout.
 *
 * Credentials live in $HOME/.config/shoal/auth.json (mode 0600), in the
 * docker config shape: {"auths":{"<server>":{"auth":"base64(user:pass)"}}}.
 * pull and push send them as X-Registry-Auth (base64url JSON) for the
 * reference's registry. Progress: one line per layer, redrawn in place on a
 * terminal; plain status lines (no bars) otherwise, like docker.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

#include "cli/cli.h"

int cli_cmd_pull(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_push(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_login(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_logout(struct cli_ctx *ctx, int argc, char **argv);

/* ---- credentials ------------------------------------------------------------------------ */

static int auth_path(char *out, size_t len)
{
    const char *home = getenv("HOME");

    if (!home || !*home)
        return -ENOENT;
    if ((size_t)snprintf(out, len, "%s/.config/shoal/auth.json", home) >= len)
        return -ENAMETOOLONG;
    return 0;
}

static json_t *auth_load(void)
{
    char path[4096];
    char *data = NULL;
    size_t len = 0;
    json_t *doc = NULL;

    if (auth_path(path, sizeof(path)) == 0 && read_file(path, &data, &len, 1 << 20) == 0)
        doc = json_loadb(data, len, 0, NULL);
    free(data);
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
    }
    if (!json_is_object(json_object_get(doc, "auths")))
        (void)json_object_set_new(doc, "auths", json_object());
    return doc;
}

static int auth_save(json_t *doc, struct err *err)
{
    char path[4096], dir[4096];
    char *s;
    int r;

    if (auth_path(path, sizeof(path)) < 0)
        return err_set(err, -ENOENT, "HOME is not set: cannot store credentials");
    (void)snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    if ((r = mkdir_p(dir, 0700)) < 0)
        return err_set(err, r, "create %s: %s", dir, strerror(-r));
    s = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!s)
        return err_set(err, -ENOMEM, "out of memory");
    r = write_file_atomic(path, s, strlen(s), 0600, true);
    free(s);
    if (r < 0)
        return err_set(err, r, "write %s: %s", path, strerror(-r));
    return 0;
}

/* The registry part of a reference ("docker.io" when there is none). */
static void ref_server(const char *ref, char *out, size_t len)
{
    const char *slash = strchr(ref, '/');
    size_t n = slash ? (size_t)(slash - ref) : 0;

    if (slash && (memchr(ref, '.', n) || memchr(ref, ':', n) ||
                  (n == 9 && strncmp(ref, "localhost", 9) == 0)))
        (void)snprintf(out, len, "%.*s", (int)n, ref);
    else
        (void)snprintf(out, len, "docker.io");
}

static void normalize_server(const char *s, char *out, size_t len)
{
    if (!s || !*s)
        s = "docker.io";
    if (strncmp(s, "https://", 8) == 0)
        s += 8;
    else if (strncmp(s, "http://", 7) == 0)
        s += 7;
    (void)snprintf(out, len, "%s", s);
    out[strcspn(out, "/")] = '\0';
    if (strcmp(out, "index.docker.io") == 0 || strcmp(out, "registry-1.docker.io") == 0)
        (void)snprintf(out, len, "docker.io");
}

static char *b64(const void *data, size_t len, bool url)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n] = '\0';
    if (url) {
        for (int i = 0; i < n; i++)
            out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    return out;
}

/* X-Registry-Auth value for server, or NULL when no credentials are stored. */
static char *auth_header_for(const char *server)
{
    json_t *doc = auth_load();
    json_t *e = json_object_get(json_object_get(doc, "auths"), server);
    const char *a = json_string_value(json_object_get(e, "auth"));
    char *hdr = NULL;

    if (a && *a) {
        size_t al = strlen(a);
        unsigned char *raw = malloc(al + 4);
        int n = raw ? EVP_DecodeBlock(raw, (const unsigned char *)a, (int)al) : -1;
        if (n > 0) {
            while (n > 0 && raw[n - 1] == '\0')
                n--;
            raw[n] = '\0';
            char *colon = strchr((char *)raw, ':');
            if (colon) {
                *colon = '\0';
                json_t *o = json_pack("{s:s, s:s, s:s}", "username", (char *)raw, "password",
                                      colon + 1, "serveraddress", server);
                char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
                if (s) {
                    hdr = b64(s, strlen(s), true);
                    explicit_bzero(s, strlen(s));
                }
                free(s);
                json_decref(o);
            }
            explicit_bzero(raw, (size_t)n);
        }
        free(raw);
    }
    json_decref(doc);
    return hdr;
}

/* ---- progress display --------------------------------------------------------------------- */

struct progress {
    struct buf pending;
    bool tty;
    bool quiet;
    char **ids; /* layer lines, in order of appearance */
    char **lines;
    size_t n;
    bool failed;
    char error[1024];
};

static void progress_release(struct progress *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->ids[i]);
        free(p->lines[i]);
    }
    free(p->ids);
    free(p->lines);
    buf_release(&p->pending);
}

static void progress_show(struct progress *p, json_t *m)
{
    const char *err = json_string_value(json_object_get(m, "error"));
    const char *status = json_string_value(json_object_get(m, "status"));
    const char *id = json_string_value(json_object_get(m, "id"));
    const char *bar = json_string_value(json_object_get(m, "progress"));
    char line[1024];
    size_t i;

    if (err) {
        p->failed = true;
        (void)snprintf(p->error, sizeof(p->error), "%s", err);
        return;
    }
    if (!status || p->quiet)
        return;
    if (!id || !*id) {
        printf("%s\n", status);
        fflush(stdout);
        return;
    }
    if (!p->tty) {
        if (!bar) /* docker prints no bars when not on a terminal */
            printf("%s: %s\n", id, status);
        fflush(stdout);
        return;
    }
    (void)snprintf(line, sizeof(line), "%s: %s %s", id, status, bar ? bar : "");
    for (i = 0; i < p->n && strcmp(p->ids[i], id) != 0; i++)
        ;
    if (i == p->n) {
        char **ni = realloc(p->ids, (p->n + 1) * sizeof(char *));
        if (ni)
            p->ids = ni;
        char **nl = realloc(p->lines, (p->n + 1) * sizeof(char *));
        if (nl)
            p->lines = nl;
        if (!ni || !nl)
            return;
        p->ids[p->n] = strdup(id);
        p->lines[p->n] = strdup(line);
        p->n++;
        printf("%s\n", line);
    } else {
        free(p->lines[i]);
        p->lines[i] = strdup(line);
        /* move up to that line, rewrite it, come back down */
        size_t up = p->n - i;
        printf("\033[%zuA\r\033[2K%s\r\033[%zuB", up, line, up);
    }
    fflush(stdout);
}

static int progress_body(void *ctx, const char *data, size_t len)
{
    struct progress *p = ctx;
    int r = buf_append(&p->pending, data, len);

    if (r < 0)
        return r;
    for (;;) {
        size_t skip = 0;
        json_error_t jerr;
        json_t *m;

        while (skip < p->pending.len && strchr(" \t\r\n", p->pending.data[skip]))
            skip++;
        buf_consume(&p->pending, skip);
        if (!p->pending.len)
            return 0;
        m = json_loadb(p->pending.data, p->pending.len, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!m) {
            if (json_error_code(&jerr) == json_error_premature_end_of_input)
                return 0;
            return -EPROTO;
        }
        buf_consume(&p->pending, (size_t)jerr.position);
        progress_show(p, m);
        json_decref(m);
    }
}

/* POST path?query with X-Registry-Auth and show the JSON message stream. */
static int stream_request(struct cli_ctx *ctx, const char *path, const char *query,
                          const char *auth, bool quiet, struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    struct cli_req req = {.method = "POST", .path = path, .query = query, .body_fd = -1};
    struct progress p = {.tty = isatty(STDOUT_FILENO) == 1, .quiet = quiet};
    struct cli_resp resp;
    struct buf h;
    int r;

    buf_init(&p.pending);
    buf_init(&h);
    cli_resp_init(&resp);
    r = cli_conn_open(&ctx->client, &c, err);
    if (r < 0)
        goto out;
    /* written by hand: the request needs the X-Registry-Auth header */
    r = buf_printf(&h,
                   "POST /v" CLI_API_VERSION "%s?%s HTTP/1.1\r\nHost: shoal\r\n"
                   "User-Agent: shoal/" CLI_VERSION " (linux)\r\nContent-Length: 0\r\n"
                   "X-Registry-Auth: %s\r\n\r\n",
                   path, query ? query : "", auth && *auth ? auth : "e30=");
    if (r < 0) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if (write_all(cli_conn_fd(c), h.data, h.len) < 0) {
        r = err_set(err, -errno, "write to %s: %m", ctx->client.host);
        goto out;
    }
    r = cli_conn_read_head(c, &resp, err);
    if (r < 0)
        goto out;
    if (resp.status >= 400) {
        r = cli_conn_read_body(c, NULL, NULL, err);
        if (r >= 0)
            r = cli_resp_error(&resp, &req, err);
        goto out;
    }
    r = cli_conn_read_body(c, progress_body, &p, err);
    if (r >= 0 && p.failed)
        r = err_set(err, -EIO, "%s", p.error);
out:
    if (h.data)
        explicit_bzero(h.data, h.len);
    buf_release(&h);
    cli_resp_release(&resp);
    progress_release(&p);
    return r;
}

/* ---- pull ---------------------------------------------------------------------------------- */

/* Split NAME[:TAG][@DIGEST] into fromImage and tag (digest or tag, "latest" by default). */
static void split_ref(const char *ref, char *name, size_t nlen, char *tag, size_t tlen)
{
    const char *at = strchr(ref, '@');
    const char *slash, *colon;

    if (at) {
        (void)snprintf(name, nlen, "%.*s", (int)(at - ref), ref);
        (void)snprintf(tag, tlen, "%s", at + 1);
        return;
    }
    (void)snprintf(name, nlen, "%s", ref);
    slash = strrchr(name, '/');
    colon = strrchr(name, ':');
    if (colon && (!slash || colon > slash)) {
        (void)snprintf(tag, tlen, "%s", colon + 1);
        name[colon - name] = '\0';
    } else {
        (void)snprintf(tag, tlen, "latest");
    }
}

int cli_pull_image(struct cli_ctx *ctx, const char *ref, bool quiet)
{
    char name[1024], tag[256], server[512];
    struct buf q;
    struct err err = {0};
    cleanup_free char *auth = NULL;
    int r;

    split_ref(ref, name, sizeof(name), tag, sizeof(tag));
    ref_server(name, server, sizeof(server));
    auth = auth_header_for(server);
    buf_init(&q);
    r = cli_query_add(&q, "fromImage", name);
    if (r >= 0)
        r = cli_query_add(&q, "tag", tag);
    if (r < 0) {
        buf_release(&q);
        fprintf(stderr, "shoal: out of memory\n");
        return 1;
    }
    r = stream_request(ctx, "/images/create", q.data, auth, quiet, &err);
    buf_release(&q);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    if (quiet)
        printf("%s%s%s\n", name, strncmp(tag, "sha256:", 7) == 0 ? "@" : ":", tag);
    return 0;
}

int cli_cmd_pull(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false, all = false;
    const char *platform = NULL;
    const struct cli_flag flags[] = {
        {"quiet", 'q', CLI_FLAG_BOOL, &quiet, "Suppress verbose output", NULL, NULL},
        {"all-tags", 'a', CLI_FLAG_BOOL, &all, "Download all tagged images (not supported)", NULL,
         NULL},
        {"platform", 0, CLI_FLAG_STRING, &platform, "Set platform (linux/amd64 only)", NULL, NULL},
        {NULL, 0, 0, NULL, NULL, NULL, NULL},
    };
    const struct cli_cmd_spec spec = {"pull",
                                      "[OPTIONS] NAME[:TAG|@DIGEST]",
                                      "Download an image from a registry",
                                      flags,
                                      false,
                                      1,
                                      1};
    struct cli_strv args = {0};
    int ex, r;

    r = cli_flags_parse(&spec, argc, argv, &args, &ex);
    if (r == CLI_FLAGS_HELP)
        return 0;
    if (r < 0)
        return ex;
    if (all) {
        cli_strv_release(&args);
        fprintf(stderr, "shoal: --all-tags is not supported\n");
        return 1;
    }
    r = cli_pull_image(ctx, args.v[0], quiet);
    cli_strv_release(&args);
    return r;
}

/* ---- push ---------------------------------------------------------------------------------- */

int cli_cmd_push(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false;
    const struct cli_flag flags[] = {
        {"quiet", 'q', CLI_FLAG_BOOL, &quiet, "Suppress verbose output", NULL, NULL},
        {NULL, 0, 0, NULL, NULL, NULL, NULL},
    };
    const struct cli_cmd_spec spec = {
        "push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", flags, false, 1, 1};
    struct cli_strv args = {0};
    char name[1024], tag[256], server[512], path[1200];
    struct buf q, pb;
    struct err err = {0};
    cleanup_free char *auth = NULL;
    int ex, r;

    r = cli_flags_parse(&spec, argc, argv, &args, &ex);
    if (r == CLI_FLAGS_HELP)
        return 0;
    if (r < 0)
        return ex;
    if (strchr(args.v[0], '@')) {
        fprintf(stderr, "shoal: cannot push a digest reference\n");
        cli_strv_release(&args);
        return 1;
    }
    split_ref(args.v[0], name, sizeof(name), tag, sizeof(tag));
    cli_strv_release(&args);
    ref_server(name, server, sizeof(server));
    auth = auth_header_for(server);
    buf_init(&q);
    buf_init(&pb);
    r = cli_query_add(&q, "tag", tag);
    if (r >= 0)
        r = cli_path_escape(&pb, name);
    if (r >= 0) {
        (void)snprintf(path, sizeof(path), "/images/%s/push", pb.data);
        r = stream_request(ctx, path, q.data, auth, quiet, &err);
    } else {
        err_set(&err, -ENOMEM, "out of memory");
    }
    buf_release(&q);
    buf_release(&pb);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    return 0;
}

/* ---- login / logout ------------------------------------------------------------------------ */

static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);

    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

int cli_cmd_login(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *user = NULL, *pass = NULL;
    bool pass_stdin = false;
    const struct cli_flag flags[] = {
        {"username", 'u', CLI_FLAG_STRING, &user, "Username", NULL, NULL},
        {"password", 'p', CLI_FLAG_STRING, &pass, "Password", NULL, NULL},
        {"password-stdin", 0, CLI_FLAG_BOOL, &pass_stdin, "Take the password from stdin", NULL,
         NULL},
        {NULL, 0, 0, NULL, NULL, NULL, NULL},
    };
    const struct cli_cmd_spec spec = {
        "login", "[OPTIONS] [SERVER]", "Log in to a registry", flags, false, 0, 1};
    struct cli_strv args = {0};
    char server[512];
    cleanup_free char *uline = NULL, *pline = NULL;
    json_t *body, *reply = NULL, *doc;
    struct err err = {0};
    int ex, r;

    r = cli_flags_parse(&spec, argc, argv, &args, &ex);
    if (r == CLI_FLAGS_HELP)
        return 0;
    if (r < 0)
        return ex;
    normalize_server(args.n ? args.v[0] : NULL, server, sizeof(server));
    cli_strv_release(&args);
    if (pass && pass_stdin) {
        fprintf(stderr, "shoal: --password and --password-stdin are mutually exclusive\n");
        return 1;
    }
    if (pass_stdin) {
        if (!user) {
            fprintf(stderr, "shoal: Must provide --username with --password-stdin\n");
            return 1;
        }
        pline = read_line(stdin);
        pass = pline;
    }
    if (!user) {
        fprintf(stderr, "Username: ");
        uline = read_line(stdin);
        user = uline;
    }
    if (!pass) {
        fprintf(stderr, "Password: ");
        pline = read_line(stdin);
        pass = pline;
    }
    if (!user || !*user || !pass) {
        fprintf(stderr, "shoal: Error: Non-null Username and Password Required\n");
        return 1;
    }
    if (pass == pline)
        (void)0;
    else if (!pass_stdin)
        fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use "
                        "--password-stdin.\n");
    body =
        json_pack("{s:s, s:s, s:s}", "username", user, "password", pass, "serveraddress", server);
    r = cli_call(&ctx->client, "POST", "/auth", NULL, body, &reply, &err);
    json_decref(body);
    if (r < 0) {
        if (pline)
            explicit_bzero(pline, strlen(pline));
        cli_print_err(ctx, &err);
        return 1;
    }
    json_decref(reply);
    /* store user:pass */
    size_t ul = strlen(user), pl = strlen(pass);
    char *up = malloc(ul + pl + 2);
    if (!up) {
        fprintf(stderr, "shoal: out of memory\n");
        return 1;
    }
    (void)snprintf(up, ul + pl + 2, "%s:%s", user, pass);
    char *enc = b64(up, ul + pl + 1, false);
    explicit_bzero(up, ul + pl + 1);
    free(up);
    if (pline)
        explicit_bzero(pline, strlen(pline));
    doc = auth_load();
    (void)json_object_set_new(json_object_get(doc, "auths"), server,
                              json_pack("{s:s}", "auth", enc ? enc : ""));
    free(enc);
    r = auth_save(doc, &err);
    json_decref(doc);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    printf("Login Succeeded\n");
    return 0;
}

int cli_cmd_logout(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {{NULL, 0, 0, NULL, NULL, NULL, NULL}};
    const struct cli_cmd_spec spec = {"logout", "[SERVER]", "Log out from a registry", flags, false,
                                      0,        1};
    struct cli_strv args = {0};
    char server[512];
    json_t *doc;
    struct err err = {0};
    int ex, r;

    r = cli_flags_parse(&spec, argc, argv, &args, &ex);
    if (r == CLI_FLAGS_HELP)
        return 0;
    if (r < 0)
        return ex;
    normalize_server(args.n ? args.v[0] : NULL, server, sizeof(server));
    cli_strv_release(&args);
    doc = auth_load();
    if (json_object_del(json_object_get(doc, "auths"), server) < 0) {
        printf("Not logged in to %s\n", server);
        json_decref(doc);
        return 0;
    }
    printf("Removing login credentials for %s\n", server);
    r = auth_save(doc, &err);
    json_decref(doc);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    return 0;
}
