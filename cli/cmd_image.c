/*
 * cli/cmd_image.c - images and import.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"

#include "cli/cli.h"

#define END_FLAGS                                                                                  \
    {                                                                                              \
        .name = NULL                                                                               \
    }

static int oom(void)
{
    fprintf(stderr, "shoal: out of memory\n");
    return 1;
}

/* Split "repo:tag" at the last ':' after the last '/'. */
static void split_repo_tag(const char *rt, char *repo, size_t rlen, char *tag, size_t tlen)
{
    const char *slash = strrchr(rt, '/');
    const char *colon = strrchr(slash ? slash : rt, ':');

    if (!colon) {
        (void)snprintf(repo, rlen, "%s", rt);
        (void)snprintf(tag, tlen, "<none>");
        return;
    }
    (void)snprintf(repo, rlen, "%.*s", (int)(colon - rt), rt);
    (void)snprintf(tag, tlen, "%s", colon + 1);
}

static int filters_to_json(const struct cli_strv *f, char **ret)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < f->n; i++) {
        const char *eq = strchr(f->v[i], '=');
        char key[128];
        json_t *vals;

        if (!eq) {
            json_decref(o);
            return -EINVAL;
        }
        (void)snprintf(key, sizeof(key), "%.*s", (int)(eq - f->v[i]), f->v[i]);
        vals = json_object_get(o, key);
        if (!vals) {
            vals = json_object();
            json_object_set_new(o, key, vals);
        }
        json_object_set_new(vals, eq + 1, json_true());
    }
    if (!o)
        return -ENOMEM;
    *ret = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return *ret ? 0 : -ENOMEM;
}

int cli_cmd_images(struct cli_ctx *ctx, int argc, char **argv)
{
    bool all = false, quiet = false, no_trunc = false;
    struct cli_strv filters = {NULL, 0};
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("all", 'a', &all, "Show all images (default hides intermediate images)"),
        CLI_FLAG_FILTER(&filters),
        CLI_BOOL_FLAG("no-trunc", 0, &no_trunc, "Don't truncate output"),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only show image IDs"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images", flags, false, 0, 1};
    struct cli_strv args;
    cleanup_free char *fjson = NULL;
    struct err err = {0};
    struct buf q, out;
    struct cli_table t;
    json_t *list = NULL, *img;
    size_t i;
    int64_t now = time(NULL);
    int ex, rc, r = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        cli_strv_release(&filters);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    if (args.n == 1) {
        /* docker images REPO[:TAG] == --filter reference=REPO[:TAG] */
        const char **v = realloc(filters.v, (filters.n + 2) * sizeof(char *));
        static char ref[512];

        if (!v)
            return oom();
        filters.v = v;
        (void)snprintf(ref, sizeof(ref), "reference=%s", args.v[0]);
        filters.v[filters.n++] = ref;
    }
    cli_strv_release(&args);
    r = filters.n ? filters_to_json(&filters, &fjson) : 0;
    cli_strv_release(&filters);
    if (r < 0) {
        fprintf(stderr, "bad format of filter (expected name=value)\n");
        return 1;
    }
    buf_init(&q);
    if (all)
        r = cli_query_add(&q, "all", "1");
    if (r >= 0 && fjson)
        r = cli_query_add(&q, "filters", fjson);
    if (r < 0)
        return oom();
    r = cli_call(&ctx->client, "GET", "/images/json", q.data, NULL, &list, &err);
    buf_release(&q);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    buf_init(&out);
    cli_table_init(&t, 5);
    if (!quiet) {
        const char *hdr[] = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"};

        r = cli_table_add(&t, hdr);
    }
    CLI_JSON_ARRAY_EACH(list, i, img)
    {
        const char *id = json_string_value(json_object_get(img, "Id"));
        json_t *tags = json_object_get(img, "RepoTags");
        json_t *digests = json_object_get(img, "RepoDigests");
        char sid[13], dur[64], created[80], size[32];
        size_t ntags = json_array_size(tags), k;

        if (r < 0)
            break;
        if (!id)
            id = "";
        cli_short_id(id, sid);
        cli_human_duration(now - (int64_t)json_integer_value(json_object_get(img, "Created")), dur,
                           sizeof(dur));
        (void)snprintf(created, sizeof(created), "%s ago", dur);
        cli_human_size((double)json_integer_value(json_object_get(img, "Size")), size,
                       sizeof(size));
        for (k = 0; k < (ntags ? ntags : 1) && r >= 0; k++) {
            char repo[512] = "<none>", tag[256] = "<none>";
            const char *rt = ntags ? json_string_value(json_array_get(tags, k)) : NULL;

            if (rt && strcmp(rt, "<none>:<none>") != 0) {
                split_repo_tag(rt, repo, sizeof(repo), tag, sizeof(tag));
            } else if (json_array_size(digests)) {
                const char *d = json_string_value(json_array_get(digests, 0));
                const char *at = d ? strchr(d, '@') : NULL;

                if (at)
                    (void)snprintf(repo, sizeof(repo), "%.*s", (int)(at - d), d);
            }
            if (quiet) {
                r = buf_printf(&out, "%s\n", no_trunc ? id : sid);
            } else {
                const char *row[] = {repo, tag, no_trunc ? id : sid, created, size};

                r = cli_table_add(&t, row);
            }
        }
    }
    json_decref(list);
    if (r >= 0 && !quiet)
        r = cli_table_render(&t, &out);
    cli_table_release(&t);
    if (r < 0) {
        buf_release(&out);
        return oom();
    }
    if (out.len)
        (void)cli_out(STDOUT_FILENO, out.data, out.len);
    buf_release(&out);
    return 0;
}

/* ---- JSON message streams (import, later pull and load) ------------------------------ */

struct jsonmsg_ctx {
    struct buf pending;
    char error[ERR_MSG_MAX];
    bool failed;
};

static int jsonmsg_show(struct jsonmsg_ctx *jc, json_t *m)
{
    const char *error = json_string_value(json_object_get(m, "error"));
    json_t *detail = json_object_get(m, "errorDetail");
    const char *status = json_string_value(json_object_get(m, "status"));
    const char *id = json_string_value(json_object_get(m, "id"));
    const char *stream = json_string_value(json_object_get(m, "stream"));
    const char *progress = json_string_value(json_object_get(m, "progress"));

    if (detail && json_string_value(json_object_get(detail, "message")))
        error = json_string_value(json_object_get(detail, "message"));
    if (error) {
        (void)snprintf(jc->error, sizeof(jc->error), "%s", error);
        jc->failed = true;
        return 0;
    }
    if (stream)
        return cli_out(STDOUT_FILENO, stream, strlen(stream));
    if (status) {
        printf("%s%s%s%s%s\n", id ? id : "", id ? ": " : "", status, progress ? " " : "",
               progress ? progress : "");
        fflush(stdout);
    }
    return 0;
}

static int jsonmsg_body(void *ctx, const char *data, size_t len)
{
    struct jsonmsg_ctx *jc = ctx;
    int r = buf_append(&jc->pending, data, len);

    if (r < 0)
        return r;
    for (;;) {
        size_t skip = 0;
        json_error_t jerr;
        json_t *m;

        while (skip < jc->pending.len && strchr(" \t\r\n", jc->pending.data[skip]))
            skip++;
        buf_consume(&jc->pending, skip);
        if (!jc->pending.len)
            return 0;
        m = json_loadb(jc->pending.data, jc->pending.len, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!m) {
            if (json_error_code(&jerr) == json_error_premature_end_of_input)
                return 0; /* wait for more */
            return -EPROTO;
        }
        buf_consume(&jc->pending, (size_t)jerr.position);
        r = jsonmsg_show(jc, m);
        json_decref(m);
        if (r < 0)
            return r;
    }
}

int cli_cmd_import(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cli_strv changes = {NULL, 0};
    const char *message = NULL, *platform = NULL;
    const struct cli_flag flags[] = {
        CLI_LIST_FLAG("change", 'c', &changes, "Apply Dockerfile instruction to the created image"),
        CLI_STRING_FLAG("message", 'm', &message, "Set commit message for imported image"),
        CLI_STRING_FLAG("platform", 0, &platform,
                        "Set platform if server is multi-platform capable"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"import",
                                      "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                                      "Import the contents from a tarball to create a filesystem "
                                      "image",
                                      flags,
                                      false,
                                      1,
                                      2};
    struct cli_strv args;
    struct err err = {0};
    struct buf q;
    cleanup_close int fd = -1;
    const char *src;
    bool is_url;
    struct jsonmsg_ctx jc;
    int ex, rc, r = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        cli_strv_release(&changes);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    src = args.v[0];
    is_url = strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0;
    if (strcmp(src, "-") == 0) {
        fd = dup(STDIN_FILENO);
    } else if (!is_url) {
        fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            char msg[128];

            (void)snprintf(msg, sizeof(msg), "%s", strerror(errno));
            msg[0] = (char)tolower((unsigned char)msg[0]);
            fprintf(stderr, "open %s: %s\n", src, msg);
            cli_strv_release(&args);
            cli_strv_release(&changes);
            return 1;
        }
    }
    buf_init(&q);
    for (size_t i = 0; i < changes.n && r >= 0; i++)
        r = cli_query_add(&q, "changes", changes.v[i]);
    if (r >= 0)
        r = cli_query_add(&q, "fromSrc", is_url ? src : "-");
    if (r >= 0 && message && *message)
        r = cli_query_add(&q, "message", message);
    if (r >= 0 && platform && *platform)
        r = cli_query_add(&q, "platform", platform);
    if (r >= 0 && args.n > 1)
        r = cli_query_add(&q, "repo", args.v[1]);
    cli_strv_release(&args);
    cli_strv_release(&changes);
    if (r < 0)
        return oom();
    memset(&jc, 0, sizeof(jc));
    buf_init(&jc.pending);
    {
        struct cli_req req = {.method = "POST",
                              .path = "/images/create",
                              .query = q.data,
                              .content_type = "text/plain",
                              .body_fd = fd};

        r = cli_stream(&ctx->client, &req, jsonmsg_body, &jc, &err);
    }
    buf_release(&q);
    buf_release(&jc.pending);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    if (jc.failed) {
        fprintf(stderr, "%s\n", jc.error);
        return 1;
    }
    return 0;
}

/* ---- load, save, rmi, tag, history, image prune ------------------------------------ */

static int escaped_path(struct buf *p, const char *prefix, const char *name, const char *suffix)
{
    int r = buf_puts(p, prefix);

    if (r >= 0)
        r = cli_path_escape(p, name);
    if (r >= 0 && suffix)
        r = buf_puts(p, suffix);
    return r;
}

int cli_cmd_load(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *input = NULL;
    bool quiet = false;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("input", 'i', &input, "Read from tar archive file, instead of STDIN"),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Suppress the load output"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "load", "[OPTIONS]", "Load an image from a tar archive or STDIN", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    cleanup_close int fd = -1;
    struct jsonmsg_ctx jc;
    int ex, rc, r = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (input && *input) {
        fd = open(input, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "open %s: %s\n", input, strerror(errno));
            return 1;
        }
    } else {
        if (isatty(STDIN_FILENO)) {
            fprintf(stderr, "requested load from stdin, but stdin is empty\n");
            return 1;
        }
        fd = dup(STDIN_FILENO);
    }
    memset(&jc, 0, sizeof(jc));
    buf_init(&jc.pending);
    {
        struct cli_req req = {.method = "POST",
                              .path = "/images/load",
                              .query = quiet || !isatty(STDOUT_FILENO) ? "quiet=1" : "quiet=0",
                              .content_type = "application/x-tar",
                              .body_fd = fd};

        r = cli_stream(&ctx->client, &req, jsonmsg_body, &jc, &err);
    }
    buf_release(&jc.pending);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    if (jc.failed) {
        fprintf(stderr, "%s\n", jc.error);
        return 1;
    }
    return 0;
}

struct save_out {
    int fd;
};

static int save_body(void *ctx, const char *data, size_t len)
{
    struct save_out *so = ctx;

    return write_all(so->fd, data, len) < 0 ? -EIO : 0;
}

int cli_cmd_save(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *output = NULL;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("output", 'o', &output, "Write to a file, instead of STDOUT"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"save",
                                      "[OPTIONS] IMAGE [IMAGE...]",
                                      "Save one or more images to a tar archive (streamed to "
                                      "STDOUT by default)",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    struct err err = {0};
    struct buf q;
    struct save_out so = {.fd = -1};
    char tmp[4200] = "";
    int ex, rc, r = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (!output || !*output) {
        if (isatty(STDOUT_FILENO)) {
            fprintf(stderr, "shoal: Cowardly refusing to save to a terminal. Use the -o flag or "
                            "redirect\n");
            cli_strv_release(&args);
            return 1;
        }
        so.fd = STDOUT_FILENO;
    } else {
        /* written next to the target, renamed when complete (like docker) */
        (void)snprintf(tmp, sizeof(tmp), "%s.shoal-save-%d", output, (int)getpid());
        so.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (so.fd < 0) {
            fprintf(stderr, "shoal: failed to save image: invalid output path: %s\n",
                    strerror(errno));
            cli_strv_release(&args);
            return 1;
        }
    }
    buf_init(&q);
    for (size_t i = 0; i < args.n && r >= 0; i++)
        r = cli_query_add(&q, "names", args.v[i]);
    cli_strv_release(&args);
    if (r < 0)
        return oom();
    {
        struct cli_req req = {
            .method = "GET", .path = "/images/get", .query = q.data, .body_fd = -1};

        r = cli_stream(&ctx->client, &req, save_body, &so, &err);
    }
    buf_release(&q);
    if (tmp[0]) {
        if (r >= 0 && (fsync(so.fd) < 0 || rename(tmp, output) < 0))
            r = err_set(&err, -errno, "failed to save image: %s", strerror(errno));
        (void)close(so.fd);
        if (r < 0)
            (void)unlink(tmp);
    }
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    return 0;
}

int cli_cmd_rmi(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false, no_prune = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("force", 'f', &force, "Force removal of the image"),
        CLI_BOOL_FLAG("no-prune", 0, &no_prune, "Do not delete untagged parents"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", flags, false, 1, -1};
    struct cli_strv args;
    int ex, rc, status = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        struct buf p, q;
        json_t *out = NULL, *v;
        size_t k;
        int r;

        buf_init(&p);
        buf_init(&q);
        r = escaped_path(&p, "/images/", args.v[i], NULL);
        if (r >= 0 && force)
            r = cli_query_add(&q, "force", "1");
        if (r >= 0 && no_prune)
            r = cli_query_add(&q, "noprune", "1");
        if (r >= 0)
            r = cli_call(&ctx->client, "DELETE", p.data, q.data, NULL, &out, &err);
        buf_release(&p);
        buf_release(&q);
        if (r < 0) {
            fflush(stdout);
            fprintf(stderr, "%s\n", err.msg);
            status = 1;
            continue;
        }
        CLI_JSON_ARRAY_EACH(out, k, v)
        {
            const char *u = json_string_value(json_object_get(v, "Untagged"));
            const char *d = json_string_value(json_object_get(v, "Deleted"));
            if (u)
                printf("Untagged: %s\n", u);
            if (d)
                printf("Deleted: %s\n", d);
        }
        json_decref(out);
    }
    cli_strv_release(&args);
    fflush(stdout);
    return status;
}

int cli_cmd_tag(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {END_FLAGS};
    const struct cli_cmd_spec spec = {"tag",
                                      "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                                      "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                                      flags,
                                      false,
                                      2,
                                      2};
    struct cli_strv args;
    struct err err = {0};
    char repo[512], tag[256];
    struct buf p, q;
    int ex, rc, r;
    const char *t;
    const char *slash, *colon;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    t = args.v[1];
    slash = strrchr(t, '/');
    colon = strrchr(slash ? slash : t, ':');
    if (colon) {
        (void)snprintf(repo, sizeof(repo), "%.*s", (int)(colon - t), t);
        (void)snprintf(tag, sizeof(tag), "%s", colon + 1);
    } else {
        (void)snprintf(repo, sizeof(repo), "%s", t);
        (void)snprintf(tag, sizeof(tag), "latest");
    }
    buf_init(&p);
    buf_init(&q);
    r = escaped_path(&p, "/images/", args.v[0], "/tag");
    if (r >= 0)
        r = cli_query_add(&q, "repo", repo);
    if (r >= 0)
        r = cli_query_add(&q, "tag", tag);
    cli_strv_release(&args);
    if (r >= 0)
        r = cli_call(&ctx->client, "POST", p.data, q.data, NULL, NULL, &err);
    buf_release(&p);
    buf_release(&q);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    return 0;
}

int cli_cmd_history(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false, no_trunc = false, human = true;
    const struct cli_flag flags[] = {
        {.name = "human",
         .shorthand = 'H',
         .type = CLI_FLAG_BOOL,
         .dest = &human,
         .help = "Print sizes and dates in human readable format",
         .defval = "true"},
        CLI_BOOL_FLAG("no-trunc", 0, &no_trunc, "Don't truncate output"),
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only show image IDs"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "history", "[OPTIONS] IMAGE", "Show the history of an image", flags, false, 1, 1};
    struct cli_strv args;
    struct err err = {0};
    struct buf p, out;
    struct cli_table t;
    json_t *list = NULL, *h;
    size_t i;
    int64_t now = time(NULL);
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    buf_init(&p);
    r = escaped_path(&p, "/images/", args.v[0], "/history");
    cli_strv_release(&args);
    if (r >= 0)
        r = cli_call(&ctx->client, "GET", p.data, NULL, NULL, &list, &err);
    buf_release(&p);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    buf_init(&out);
    cli_table_init(&t, 5);
    if (!quiet) {
        const char *hdr[] = {"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"};
        r = cli_table_add(&t, hdr);
    }
    CLI_JSON_ARRAY_EACH(list, i, h)
    {
        const char *id = json_string_value(json_object_get(h, "Id")) ?: "";
        const char *by = json_string_value(json_object_get(h, "CreatedBy")) ?: "";
        const char *comment = json_string_value(json_object_get(h, "Comment")) ?: "";
        char sid[80], dur[64], created[96], size[32];
        cleanup_free char *by_s = NULL;

        if (r < 0)
            break;
        if (strcmp(id, "<missing>") == 0 || no_trunc)
            (void)snprintf(sid, sizeof(sid), "%s", id);
        else
            cli_short_id(id, sid);
        if (quiet) {
            r = buf_printf(&out, "%s\n", sid);
            continue;
        }
        cli_human_duration(now - (int64_t)json_integer_value(json_object_get(h, "Created")), dur,
                           sizeof(dur));
        (void)snprintf(created, sizeof(created), "%s ago", dur);
        cli_human_size((double)json_integer_value(json_object_get(h, "Size")), size, sizeof(size));
        by_s = no_trunc ? strdup(by) : cli_ellipsis(by, 45);
        {
            const char *row[] = {sid, created, by_s ? by_s : "", size, comment};
            r = cli_table_add(&t, row);
        }
    }
    json_decref(list);
    if (r >= 0 && !quiet)
        r = cli_table_render(&t, &out);
    cli_table_release(&t);
    if (r < 0) {
        buf_release(&out);
        return oom();
    }
    (void)cli_out(STDOUT_FILENO, out.data, out.len);
    buf_release(&out);
    return 0;
}

int cli_cmd_image_prune(struct cli_ctx *ctx, int argc, char **argv)
{
    bool all = false, force = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("all", 'a', &all, "Remove all unused images, not just dangling ones"),
        CLI_BOOL_FLAG("force", 'f', &force, "Do not prompt for confirmation"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"prune", "[OPTIONS]", "Remove unused images", flags, false, 0,
                                      0};
    struct cli_strv args;
    struct err err = {0};
    struct buf q;
    json_t *out = NULL, *v;
    size_t k;
    char size[32];
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (!force) {
        char ans[16] = "";
        printf("%s\nAre you sure you want to continue? [y/N] ",
               all ? "WARNING! This will remove all images without at least one container "
                     "associated to them."
                   : "WARNING! This will remove all dangling images.");
        fflush(stdout);
        if (!fgets(ans, sizeof(ans), stdin) || (ans[0] != 'y' && ans[0] != 'Y'))
            return 0;
    }
    buf_init(&q);
    r = cli_query_add(&q, "filters",
                      all ? "{\"dangling\":{\"false\":true}}" : "{\"dangling\":{\"true\":true}}");
    if (r >= 0)
        r = cli_call(&ctx->client, "POST", "/images/prune", q.data, NULL, &out, &err);
    buf_release(&q);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    if (json_array_size(json_object_get(out, "ImagesDeleted")))
        printf("Deleted Images:\n");
    CLI_JSON_ARRAY_EACH(json_object_get(out, "ImagesDeleted"), k, v)
    {
        const char *u = json_string_value(json_object_get(v, "Untagged"));
        const char *d = json_string_value(json_object_get(v, "Deleted"));
        if (u)
            printf("untagged: %s\n", u);
        if (d)
            printf("deleted: %s\n", d);
    }
    if (json_array_size(json_object_get(out, "ImagesDeleted")))
        printf("\n");
    cli_human_size((double)json_integer_value(json_object_get(out, "SpaceReclaimed")), size,
                   sizeof(size));
    printf("Total reclaimed space: %s\n", size);
    json_decref(out);
    fflush(stdout);
    return 0;
}
