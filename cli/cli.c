/*
 * cli/cli.c - global flags and command dispatch of `shoal`.
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct cmd {
    const char *name;
    cli_cmd_fn fn;
    const char *desc;
};

/* cli/cmd_registry.c */
int cli_cmd_pull(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_push(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_login(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_logout(struct cli_ctx *ctx, int argc, char **argv);

static const struct cmd commands[] = {
    {"run", cli_cmd_run, "Create and run a new container from an image"},
    {"exec", cli_cmd_exec, "Execute a command in a running container"},
    {"top", cli_cmd_top, "Display the running processes of a container"},
    {"pull", cli_cmd_pull, "Download an image from a registry"},
    {"push", cli_cmd_push, "Upload an image to a registry"},
    {"login", cli_cmd_login, "Log in to a registry"},
    {"logout", cli_cmd_logout, "Log out from a registry"},
    {"create", cli_cmd_create, "Create a new container"},
    {"start", cli_cmd_start, "Start one or more stopped containers"},
    {"ps", cli_cmd_ps, "List containers"},
    {"logs", cli_cmd_logs, "Fetch the logs of a container"},
    {"stop", cli_cmd_stop, "Stop one or more running containers"},
    {"restart", cli_cmd_restart, "Restart one or more containers"},
    {"kill", cli_cmd_kill, "Kill one or more running containers"},
    {"rm", cli_cmd_rm, "Remove one or more containers"},
    {"wait", cli_cmd_wait, "Block until one or more containers stop, then print their exit codes"},
    {"inspect", cli_cmd_inspect, "Return low-level information on containers or images"},
    {"images", cli_cmd_images, "List images"},
    {"import", cli_cmd_import, "Import the contents from a tarball to create a filesystem image"},
    {"version", cli_cmd_version, "Show the shoal version information"},
    {"info", cli_cmd_info, "Display system-wide information"},
    {"load", cli_cmd_load, "Load an image from a tar archive or STDIN"},
    {"save", cli_cmd_save, "Save one or more images to a tar archive"},
    {"rmi", cli_cmd_rmi, "Remove one or more images"},
    {"tag", cli_cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
    {"history", cli_cmd_history, "Show the history of an image"},
    {"pause", cli_cmd_pause, "Pause all processes within one or more containers"},
    {"unpause", cli_cmd_unpause, "Unpause all processes within one or more containers"},
    {"rename", cli_cmd_rename, "Rename a container"},
    {"stats", cli_cmd_stats, "Display a live stream of container(s) resource usage statistics"},
    {"events", cli_cmd_events, "Get real time events from the server"},
    {"network", cli_cmd_network, "Manage networks"},
    {"swarm", cli_cmd_swarm, "Manage Swarm"},
    {"node", cli_cmd_node, "Manage Swarm nodes"},
    {"service", cli_cmd_service, "Manage Swarm services"},
    {"cp", cli_cmd_cp, "Copy files/folders between a container and the local filesystem"},
};

/* `shoal container <sub>` and `shoal image <sub>` */
static const struct {
    const char *group, *sub;
    cli_cmd_fn fn;
} subcommands[] = {
    {"container", "run", cli_cmd_run},
    {"container", "exec", cli_cmd_exec},
    {"container", "top", cli_cmd_top},
    {"container", "create", cli_cmd_create},
    {"container", "start", cli_cmd_start},
    {"container", "ls", cli_cmd_ps},
    {"container", "ps", cli_cmd_ps},
    {"container", "list", cli_cmd_ps},
    {"container", "logs", cli_cmd_logs},
    {"container", "stop", cli_cmd_stop},
    {"container", "restart", cli_cmd_restart},
    {"container", "kill", cli_cmd_kill},
    {"container", "rm", cli_cmd_rm},
    {"container", "wait", cli_cmd_wait},
    {"container", "inspect", cli_cmd_container_inspect},
    {"image", "ls", cli_cmd_images},
    {"image", "list", cli_cmd_images},
    {"image", "import", cli_cmd_import},
    {"image", "inspect", cli_cmd_image_inspect},
    {"image", "load", cli_cmd_load},
    {"image", "save", cli_cmd_save},
    {"image", "rm", cli_cmd_rmi},
    {"image", "tag", cli_cmd_tag},
    {"image", "history", cli_cmd_history},
    {"image", "prune", cli_cmd_image_prune},
    {"system", "info", cli_cmd_info},
    {"container", "pause", cli_cmd_pause},
    {"container", "unpause", cli_cmd_unpause},
    {"container", "rename", cli_cmd_rename},
    {"container", "prune", cli_cmd_container_prune},
    {"container", "stats", cli_cmd_stats},
    {"system", "events", cli_cmd_events},
    {"container", "cp", cli_cmd_cp},
};

int cli_out(int fd, const char *data, size_t len)
{
    int r = write_all(fd, data, len);

    return r < 0 ? r : 0;
}

void cli_print_err(struct cli_ctx *ctx, const struct err *err)
{
    const char *msg = err && err->msg[0] ? err->msg : "unknown error";

    (void)ctx;
    fflush(stdout);
    fprintf(stderr, "shoal: %s\n", msg);
}

static void usage(FILE *f)
{
    fprintf(f, "\nUsage:  shoal [OPTIONS] COMMAND\n\n"
               "A client for the shoal container orchestrator\n\n"
               "Commands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].desc);
    fprintf(f,
            "\nManagement Commands:\n"
            "  container  Manage containers\n"
            "  image      Manage images\n"
            "  system     Manage shoal\n"
            "\nGlobal Options:\n"
            "  -H, --host string   Daemon socket to connect to (env SHOAL_HOST, default "
            "%s)\n"
            "      --tls           Use TLS; implied by --tlsverify\n"
            "      --tlscacert string  Trust certs signed only by this CA (default "
            "$SHOAL_CERT_PATH/ca.pem, ~/.shoal/ca.pem)\n"
            "      --tlscert string    Path to TLS certificate file (default .../cert.pem)\n"
            "      --tlskey string     Path to TLS key file (default .../key.pem)\n"
            "      --tlsverify     Use TLS and verify the remote (env SHOAL_TLS_VERIFY)\n"
            "  -h, --help          Print usage\n"
            "  -v, --version       Print version information and quit\n"
            "\nRun 'shoal COMMAND --help' for more information on a command.\n",
            CLI_DEFAULT_HOST);
}

static void group_usage(const char *group)
{
    printf("\nUsage:  shoal %s COMMAND\n\nManage %ss\n\nCommands:\n", group, group);
    for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
        if (strcmp(subcommands[i].group, group) == 0)
            printf("  %s\n", subcommands[i].sub);
    printf("\nRun 'shoal %s COMMAND --help' for more information on a command.\n", group);
}

int cli_main(int argc, char **argv)
{
    struct cli_ctx ctx;
    struct err err = {0};
    const char *host = getenv("SHOAL_HOST");
    const char *ca = NULL, *cert = NULL, *key = NULL;
    const char *cert_path = getenv("SHOAL_CERT_PATH");
    const char *tls_env = getenv("SHOAL_TLS_VERIFY");
    struct cli_tls_opts tls = {0};
    char paths[3][4096];
    cli_cmd_fn fn = NULL;
    int i, rc;

    (void)signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-H") == 0 || strcmp(a, "--host") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flag needs an argument: %s\n", a);
                return 125;
            }
            host = argv[++i];
        } else if (strncmp(a, "--host=", 7) == 0) {
            host = a + 7;
        } else if (strncmp(a, "-H", 2) == 0 && a[2]) {
            host = a + 2;
        } else if (strcmp(a, "--tls") == 0) {
            tls.enabled = true;
        } else if (strcmp(a, "--tlsverify") == 0 || strcmp(a, "--tlsverify=true") == 0) {
            tls.enabled = tls.verify = true;
        } else if (strcmp(a, "--tlscacert") == 0 || strcmp(a, "--tlscert") == 0 ||
                   strcmp(a, "--tlskey") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flag needs an argument: %s\n", a);
                return 125;
            }
            *(strcmp(a, "--tlscacert") == 0 ? &ca
              : strcmp(a, "--tlscert") == 0 ? &cert
                                            : &key) = argv[++i];
        } else if (strncmp(a, "--tlscacert=", 12) == 0) {
            ca = a + 12;
        } else if (strncmp(a, "--tlscert=", 10) == 0) {
            cert = a + 10;
        } else if (strncmp(a, "--tlskey=", 9) == 0) {
            key = a + 9;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            printf("shoal version %s, API %s\n", CLI_VERSION, CLI_API_VERSION);
            return 0;
        } else if (strcmp(a, "-D") == 0 || strcmp(a, "--debug") == 0) {
            continue;
        } else if (a[0] == '-') {
            fprintf(stderr, "unknown flag: %s\nSee 'shoal --help'.\n", a);
            return 125;
        } else {
            break;
        }
    }
    if (i >= argc) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t k = 0; k < ARRAY_SIZE(commands); k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            fn = commands[k].fn;
    if (!fn && (strcmp(argv[i], "container") == 0 || strcmp(argv[i], "image") == 0 ||
                strcmp(argv[i], "system") == 0)) {
        const char *group = argv[i];

        if (i + 1 >= argc || argv[i + 1][0] == '-') {
            group_usage(group);
            return 0;
        }
        for (size_t k = 0; k < ARRAY_SIZE(subcommands); k++)
            if (strcmp(group, subcommands[k].group) == 0 &&
                strcmp(argv[i + 1], subcommands[k].sub) == 0)
                fn = subcommands[k].fn;
        if (!fn) {
            fprintf(stderr,
                    "shoal: unknown command: shoal %s %s\n\nRun 'shoal %s --help' for more "
                    "information\n",
                    group, argv[i + 1], group);
            return 1;
        }
        i++;
    }
    if (!fn) {
        fprintf(stderr,
                "shoal: unknown command: shoal %s\n\nRun 'shoal --help' for more information\n",
                argv[i]);
        return 1;
    }
    if (cli_client_init(&ctx.client, host, &err) < 0) {
        fprintf(stderr, "shoal: %s\n", err.msg);
        return 1;
    }
    /* like docker: SHOAL_TLS_VERIFY (any non-empty value) turns verification
     * on; the files default to ca.pem, cert.pem, key.pem in SHOAL_CERT_PATH
     * (default ~/.shoal) */
    if (tls_env && *tls_env)
        tls.enabled = tls.verify = true;
    if (ca || cert || key)
        tls.enabled = true;
    if (tls.enabled) {
        const char *home = getenv("HOME");
        const char *names[3] = {"ca.pem", "cert.pem", "key.pem"};
        const char **dst[3] = {&ca, &cert, &key};

        for (int k = 0; k < 3; k++) {
            if (*dst[k])
                continue;
            if (cert_path && *cert_path)
                (void)snprintf(paths[k], sizeof(paths[k]), "%s/%s", cert_path, names[k]);
            else
                (void)snprintf(paths[k], sizeof(paths[k]), "%s/.shoal/%s", home ? home : "",
                               names[k]);
            *dst[k] = paths[k];
        }
        tls.ca = ca;
        tls.cert = cert;
        tls.key = key;
        cli_client_set_tls(&ctx.client, &tls);
    }
    /* argv[i] is the command name; the command sees its own arguments */
    rc = fn(&ctx, argc - i - 1, argv + i + 1);
    fflush(stdout);
    cli_client_release(&ctx.client);
    return rc;
}
