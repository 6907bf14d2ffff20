/*
 * node/main.c - shoald: flags, start-up, signals, shutdown.
 */
#define LOG_MODULE "node"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "node/events.h"
#include "node/node.h"

struct node *node_current;

static struct node_config arg_cfg = {
    .data_root = "/var/lib/shoal",
    .exec_root = "/run/shoal",
    .cgroup_parent = "shoal",
    .log_level = "info",
};

static uv_signal_t sig_term, sig_int;
static bool stopping;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: shoald [OPTIONS]\n\n"
            "The shoal node daemon.\n\n"
            "Options:\n"
            "      --data-root PATH      images, containers and state (default /var/lib/shoal)\n"
            "      --exec-root PATH      sockets and runtime state (default /run/shoal)\n"
            "  -H, --host unix://PATH    API socket to listen on; repeatable\n"
            "                            (default unix:///run/shoal/shoal.sock)\n"
            "      --cgroup-parent NAME  parent cgroup of containers (default shoal)\n"
            "      --insecure-registry HOST[:PORT]\n"
            "                            registry reached over plain HTTP (loopback always is);\n"
            "                            repeatable\n"
            "  -l, --log-level LEVEL     error, warn, info or debug (default info)\n"
            "  -v, --version             print the version and exit\n"
            "  -h, --help                print this help and exit\n");
}

static int parse_args(int argc, char **argv)
{
    enum { OPT_DATA = 256, OPT_EXEC, OPT_CGPARENT, OPT_INSECURE };
    static const struct option opts[] = {
        {"data-root", required_argument, NULL, OPT_DATA},
        {"exec-root", required_argument, NULL, OPT_EXEC},
        {"host", required_argument, NULL, 'H'},
        {"cgroup-parent", required_argument, NULL, OPT_CGPARENT},
        {"insecure-registry", required_argument, NULL, OPT_INSECURE},
        {"log-level", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "H:l:vh", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_DATA:
            arg_cfg.data_root = optarg;
            break;
        case OPT_EXEC:
            arg_cfg.exec_root = optarg;
            break;
        case OPT_CGPARENT:
            arg_cfg.cgroup_parent = optarg;
            break;
        case OPT_INSECURE:
            if (arg_cfg.n_insecure_registries == NODE_MAX_HOSTS) {
                fprintf(stderr, "shoald: at most %d --insecure-registry entries\n", NODE_MAX_HOSTS);
                return -1;
            }
            arg_cfg.insecure_registries[arg_cfg.n_insecure_registries++] = optarg;
            break;
        case 'H':
            if (arg_cfg.n_hosts == NODE_MAX_HOSTS) {
                fprintf(stderr, "shoald: at most %d -H addresses\n", NODE_MAX_HOSTS);
                return -1;
            }
            arg_cfg.hosts[arg_cfg.n_hosts++] = optarg;
            break;
        case 'l':
            arg_cfg.log_level = optarg;
            break;
        case 'v':
            printf("shoald version %s, API %s\n", SHOAL_VERSION, SHOAL_API_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shoald: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (arg_cfg.data_root[0] != '/' || arg_cfg.exec_root[0] != '/') {
        fprintf(stderr, "shoald: --data-root and --exec-root must be absolute paths\n");
        return -1;
    }
    if (strstr(arg_cfg.cgroup_parent, "..") || arg_cfg.cgroup_parent[0] == '/' ||
        !*arg_cfg.cgroup_parent) {
        fprintf(stderr, "shoald: --cgroup-parent must be a relative cgroup name without '..'\n");
        return -1;
    }
    return 0;
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (stopping) {
        log_warn("second signal %d, exiting now", signum);
        exit(1);
    }
    stopping = true;
    log_info("received signal %d, shutting down (containers keep running)", signum);
    http_server_close(node_current->http);
    node_current->http = NULL;
    rt_close(node_current->rt);
    node_current->rt = NULL;
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static int load_engine_id(struct node *n)
{
    char path[4096];
    char *data = NULL;
    char id[ID_HEX_LEN + 1];
    int r;

    (void)snprintf(path, sizeof(path), "%s/engine-id", n->cfg->data_root);
    if (read_file(path, &data, NULL, 256) == 0) {
        (void)snprintf(n->engine_id, sizeof(n->engine_id), "%s", data);
        free(data);
        n->engine_id[strcspn(n->engine_id, "\n")] = '\0';
        if (n->engine_id[0])
            return 0;
    }
    if ((r = id_new_hex(id)) < 0)
        return r;
    (void)snprintf(n->engine_id, sizeof(n->engine_id), "%s", id);
    return write_file_atomic(path, id, strlen(id), 0600, true);
}

int main(int argc, char **argv)
{
    static struct node n;
    struct err err = {0};
    enum log_level lvl;
    int r;

    if (parse_args(argc, argv) < 0)
        return 2;
    if (log_level_parse(arg_cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "shoald: invalid log level '%s' (error, warn, info, debug)\n",
                arg_cfg.log_level);
        return 2;
    }
    log_max_level = lvl;
    if (arg_cfg.n_hosts == 0)
        arg_cfg.hosts[arg_cfg.n_hosts++] = "unix:///run/shoal/shoal.sock";
    if (geteuid() != 0) {
        fprintf(stderr, "shoald: must run as root (it creates namespaces, mounts and cgroups)\n");
        return 1;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    umask(022);

    n.loop = uv_default_loop();
    n.cfg = &arg_cfg;
    n.started_ns = time_now_ns();
    node_current = &n;
    if ((r = mkdir_p(arg_cfg.data_root, 0711)) < 0 || (r = mkdir_p(arg_cfg.exec_root, 0700)) < 0) {
        log_error("creating the data and exec roots: %s", strerror(-r));
        return 1;
    }
    if ((r = load_engine_id(&n)) < 0) {
        log_error("engine id: %s", strerror(-r));
        return 1;
    }
    struct rt_opts ro = {
        .loop = n.loop,
        .data_root = arg_cfg.data_root,
        .exec_root = arg_cfg.exec_root,
        .cgroup_parent = arg_cfg.cgroup_parent,
    };
    if (rt_open(&ro, &n.rt, &err) < 0) {
        log_error("starting the runtime: %s", err.msg);
        return 1;
    }
    node_events_init(&n); /* before anything can happen to a container */
    n.http = http_server_new(n.loop, node_api_route);
    if (!n.http) {
        log_error("out of memory");
        return 1;
    }
    for (size_t i = 0; i < arg_cfg.n_hosts; i++) {
        const char *h = arg_cfg.hosts[i];
        if (strncmp(h, "unix://", 7) != 0) {
            log_error("unsupported -H address '%s': only unix:// sockets are served", h);
            return 1;
        }
        if (http_server_listen_unix(n.http, h + 7, &err) < 0) {
            log_error("listening on %s: %s", h, err.msg);
            return 1;
        }
        log_info("API listening on %s", h);
    }
    uv_signal_init(n.loop, &sig_term);
    uv_signal_init(n.loop, &sig_int);
    uv_signal_start(&sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&sig_int, on_stop_signal, SIGINT);
    log_info("shoald %s started (data root %s, cgroup v%d)", SHOAL_VERSION, arg_cfg.data_root,
             rt_cgroup_mode(n.rt) == RT_CGROUP_V2 ? 2 : 1);
    uv_run(n.loop, UV_RUN_DEFAULT);
    /* Drain close callbacks and thread-pool work before leaving. */
    uv_run(n.loop, UV_RUN_DEFAULT);
    r = uv_loop_close(n.loop);
    if (r != 0)
        log_debug("loop closed with handles still open: %s", uv_strerror(r));
    log_info("shoald stopped");
    return 0;
}
