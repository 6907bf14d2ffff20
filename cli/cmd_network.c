/*
 * cli/cmd_network.c - `shoal network create|ls|inspect|rm|connect|disconnect|prune`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"

#include "cli/cli.h"

#define NET_END_FLAGS                                                                              \
    {                                                                                              \
        .name = NULL                                                                               \
    }

static int fail(struct cli_ctx *ctx, const struct err *err)
{
    cli_print_err(ctx, err);
    return 1;
}

static int net_path(struct buf *p, const char *name, const char *suffix)
{
    int r = buf_puts(p, "/networks/");

    if (r >= 0)
        r = cli_path_escape(p, name);
    if (r >= 0 && suffix)
        r = buf_puts(p, suffix);
    return r;
}

static int kv_to_object(const struct cli_strv *sv, json_t *obj)
{
    for (size_t i = 0; i < sv->n; i++) {
        const char *eq = strchr(sv->v[i], '=');
        char key[256];
        if (!eq) {
            json_object_set_new(obj, sv->v[i], json_string(""));
            continue;
        }
        (void)snprintf(key, sizeof(key), "%.*s", (int)(eq - sv->v[i]), sv->v[i]);
        json_object_set_new(obj, key, json_string(eq + 1));
    }
    return 0;
}

static int net_create(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *driver = "bridge", *subnet = NULL, *gateway = NULL;
    bool internal = false, attachable = false;
    struct cli_strv labels = {0}, opts = {0};
    const struct cli_flag flags[] = {
        {.name = "driver",
         .shorthand = 'd',
         .type = CLI_FLAG_STRING,
         .dest = &driver,
         .help = "Driver to manage the Network",
         .defval = "\"bridge\""},
        CLI_STRING_FLAG("subnet", 0, &subnet,
                        "Subnet in CIDR format that represents a network segment"),
        CLI_STRING_FLAG("gateway", 0, &gateway, "IPv4 Gateway for the master subnet"),
        CLI_BOOL_FLAG("internal", 0, &internal, "Restrict external access to the network"),
        CLI_BOOL_FLAG("attachable", 0, &attachable, "Enable manual container attachment"),
        CLI_LIST_FLAG("label", 0, &labels, "Set metadata on a network"),
        CLI_LIST_FLAG("opt", 'o', &opts, "Set driver specific options"),
        NET_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "network create", "[OPTIONS] NETWORK", "Create a network", flags, false, 1, 1};
    struct cli_strv args;
    struct err err = {0};
    json_t *body, *out = NULL, *cfg;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cfg = json_array();
    if (subnet || gateway) {
        json_t *c = json_object();
        if (subnet)
            json_object_set_new(c, "Subnet", json_string(subnet));
        if (gateway)
            json_object_set_new(c, "Gateway", json_string(gateway));
        json_array_append_new(cfg, c);
    }
    body = json_pack("{s:s, s:s, s:{s:s, s:{}, s:o}, s:b, s:b, s:{}, s:{}, s:b}", "Name", args.v[0],
                     "Driver", driver, "IPAM", "Driver", "default", "Options", "Config", cfg,
                     "Internal", internal, "Attachable", attachable, "Options", "Labels",
                     "CheckDuplicate", 1);
    kv_to_object(&labels, json_object_get(body, "Labels"));
    kv_to_object(&opts, json_object_get(body, "Options"));
    r = cli_call(&ctx->client, "POST", "/networks/create", NULL, body, &out, &err);
    json_decref(body);
    cli_strv_release(&args);
    cli_strv_release(&labels);
    cli_strv_release(&opts);
    if (r < 0)
        return fail(ctx, &err);
    printf("%s\n", json_string_value(json_object_get(out, "Id")) ?: "");
    json_decref(out);
    return 0;
}

static int net_ls(struct cli_ctx *ctx, int argc, char **argv)
{
    bool quiet = false, no_trunc = false;
    struct cli_strv filters = {0};
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("quiet", 'q', &quiet, "Only display network IDs"),
        CLI_BOOL_FLAG("no-trunc", 0, &no_trunc, "Do not truncate the output"),
        CLI_LIST_FLAG("filter", 'f', &filters, "Provide filter values (e.g. 'driver=bridge')"),
        NET_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "network ls", "[OPTIONS]", "List networks", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    struct buf q, outb;
    struct cli_table t;
    json_t *out = NULL, *f = json_object(), *v;
    size_t i;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        json_decref(f);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    for (i = 0; i < filters.n; i++) {
        const char *eq = strchr(filters.v[i], '=');
        char key[64];
        if (!eq)
            continue;
        (void)snprintf(key, sizeof(key), "%.*s", (int)(eq - filters.v[i]), filters.v[i]);
        if (!json_object_get(f, key))
            json_object_set_new(f, key, json_object());
        json_object_set_new(json_object_get(f, key), eq + 1, json_true());
    }
    buf_init(&q);
    if (json_object_size(f)) {
        char *s = json_dumps(f, JSON_COMPACT);
        (void)cli_query_add(&q, "filters", s);
        free(s);
    }
    json_decref(f);
    r = cli_call(&ctx->client, "GET", "/networks", q.data, NULL, &out, &err);
    buf_release(&q);
    cli_strv_release(&args);
    cli_strv_release(&filters);
    if (r < 0)
        return fail(ctx, &err);
    cli_table_init(&t, 4);
    if (!quiet) {
        const char *hdr[] = {"NETWORK ID", "NAME", "DRIVER", "SCOPE"};
        (void)cli_table_add(&t, hdr);
    }
    CLI_JSON_ARRAY_EACH(out, i, v)
    {
        char sid[13];
        const char *id = json_string_value(json_object_get(v, "Id")) ?: "";
        cli_short_id(id, sid);
        if (quiet) {
            printf("%s\n", no_trunc ? id : sid);
            continue;
        }
        const char *row[] = {no_trunc ? id : sid,
                             json_string_value(json_object_get(v, "Name")) ?: "",
                             json_string_value(json_object_get(v, "Driver")) ?: "",
                             json_string_value(json_object_get(v, "Scope")) ?: ""};
        (void)cli_table_add(&t, row);
    }
    if (!quiet) {
        buf_init(&outb);
        (void)cli_table_render(&t, &outb);
        if (outb.data)
            fputs(outb.data, stdout);
        buf_release(&outb);
    }
    cli_table_release(&t);
    json_decref(out);
    return 0;
}

static int net_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *format = NULL;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("format", 'f', &format, "Format the output using the given Go template"),
        NET_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {"network inspect",
                                      "[OPTIONS] NETWORK [NETWORK...]",
                                      "Display detailed information on one or more networks",
                                      flags,
                                      false,
                                      1,
                                      -1};
    struct cli_strv args;
    json_t *all = json_array();
    int ex, rc, status = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK) {
        json_decref(all);
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    }
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        struct buf p;
        json_t *out = NULL;
        buf_init(&p);
        int r = net_path(&p, args.v[i], NULL);
        if (r >= 0)
            r = cli_call(&ctx->client, "GET", p.data, NULL, NULL, &out, &err);
        buf_release(&p);
        if (r < 0) {
            cli_print_err(ctx, &err);
            status = 1;
            continue;
        }
        if (format) {
            struct buf o;
            buf_init(&o);
            if (cli_template_exec(format, out, &o, &err) < 0) {
                cli_print_err(ctx, &err);
                status = 1;
            } else {
                printf("%s\n", o.data ?: "");
            }
            buf_release(&o);
            json_decref(out);
        } else {
            json_array_append_new(all, out);
        }
    }
    if (!format) {
        char *s = json_dumps(all, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ?: "[]");
        free(s);
    }
    json_decref(all);
    cli_strv_release(&args);
    return status;
}

static int net_rm(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {NET_END_FLAGS};
    const struct cli_cmd_spec spec = {
        "network rm", "NETWORK [NETWORK...]", "Remove one or more networks", flags, false, 1, -1};
    struct cli_strv args;
    int ex, rc, status = 0;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    for (size_t i = 0; i < args.n; i++) {
        struct err err = {0};
        struct buf p;
        buf_init(&p);
        int r = net_path(&p, args.v[i], NULL);
        if (r >= 0)
            r = cli_call(&ctx->client, "DELETE", p.data, NULL, NULL, NULL, &err);
        buf_release(&p);
        if (r < 0) {
            cli_print_err(ctx, &err);
            status = 1;
        } else {
            printf("%s\n", args.v[i]);
        }
    }
    cli_strv_release(&args);
    return status;
}

static int net_connect(struct cli_ctx *ctx, int argc, char **argv, bool connect)
{
    struct cli_strv aliases = {0};
    bool force = false;
    const struct cli_flag cflags[] = {
        CLI_LIST_FLAG("alias", 0, &aliases, "Add network-scoped alias for the container"),
        NET_END_FLAGS,
    };
    const struct cli_flag dflags[] = {
        CLI_BOOL_FLAG("force", 'f', &force, "Force the container to disconnect from a network"),
        NET_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {connect ? "network connect" : "network disconnect",
                                      "[OPTIONS] NETWORK CONTAINER",
                                      connect ? "Connect a container to a network"
                                              : "Disconnect a container from a network",
                                      connect ? cflags : dflags,
                                      false,
                                      2,
                                      2};
    struct cli_strv args;
    struct err err = {0};
    struct buf p;
    json_t *body;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    if (connect) {
        json_t *al = json_array();
        for (size_t i = 0; i < aliases.n; i++)
            json_array_append_new(al, json_string(aliases.v[i]));
        body = json_pack("{s:s, s:{s:o}}", "Container", args.v[1], "EndpointConfig", "Aliases", al);
    } else {
        body = json_pack("{s:s, s:b}", "Container", args.v[1], "Force", force);
    }
    buf_init(&p);
    r = net_path(&p, args.v[0], connect ? "/connect" : "/disconnect");
    if (r >= 0)
        r = cli_call(&ctx->client, "POST", p.data, NULL, body, NULL, &err);
    buf_release(&p);
    json_decref(body);
    cli_strv_release(&args);
    cli_strv_release(&aliases);
    return r < 0 ? fail(ctx, &err) : 0;
}

static int net_prune(struct cli_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("force", 'f', &force, "Do not prompt for confirmation"),
        NET_END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "network prune", "[OPTIONS]", "Remove all unused networks", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    json_t *out = NULL, *v;
    size_t i;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (!force) {
        char line[16];
        printf("WARNING! This will remove all custom networks not used by at least one "
               "container.\nAre you sure you want to continue? [y/N] ");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
            return 0;
    }
    if (cli_call(&ctx->client, "POST", "/networks/prune", NULL, NULL, &out, &err) < 0)
        return fail(ctx, &err);
    json_t *del = json_object_get(out, "NetworksDeleted");
    if (json_array_size(del)) {
        printf("Deleted Networks:\n");
        CLI_JSON_ARRAY_EACH(del, i, v)
        printf("%s\n", json_string_value(v) ?: "");
    }
    json_decref(out);
    return 0;
}

int cli_cmd_network(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : NULL;

    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        printf("\nUsage:  shoal network COMMAND\n\nManage networks\n\nCommands:\n"
               "  connect     Connect a container to a network\n"
               "  create      Create a network\n"
               "  disconnect  Disconnect a container from a network\n"
               "  inspect     Display detailed information on one or more networks\n"
               "  ls          List networks\n"
               "  prune       Remove all unused networks\n"
               "  rm          Remove one or more networks\n");
        return 0;
    }
    if (strcmp(sub, "create") == 0)
        return net_create(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return net_ls(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "inspect") == 0)
        return net_inspect(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0)
        return net_rm(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "connect") == 0)
        return net_connect(ctx, argc - 1, argv + 1, true);
    if (strcmp(sub, "disconnect") == 0)
        return net_connect(ctx, argc - 1, argv + 1, false);
    if (strcmp(sub, "prune") == 0)
        return net_prune(ctx, argc - 1, argv + 1);
    fprintf(stderr, "shoal: unknown command: shoal network %s\n", sub);
    return 1;
}
