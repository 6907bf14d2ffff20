/*
 * node/main.c - shoald: flags, start-up, signals, shutdown.
 */
#define LOG_MODULE "node"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/util.h"

#include "manager/cluster.h"
#include "node/events.h"
#include "node/node.h"
#include "runtime/registry.h"
#include "worker/worker.h"

struct node *node_current;

static struct node_config arg_cfg = {
    .data_root = "/var/lib/shoal",
    .exec_root = "/run/shoal",
    .cgroup_parent = "shoal",
    .log_level = "info",
};

static const char *arg_bip = "172.18.0.1/16";
static const char *arg_dns[3];
static size_t arg_n_dns;

/* Remote API over TCP (dockerd's flag names; --tlsverify is required for
 * TCP unless --insecure-tcp says otherwise). */
enum {
    OPT_TLS = 400,
    OPT_TLSVERIFY,
    OPT_TLSCACERT,
    OPT_TLSCERT,
    OPT_TLSKEY,
    OPT_INSECURE_TCP,
    OPT_NO_FASTPATH
};
static bool arg_tls, arg_tlsverify, arg_insecure_tcp;
static const char *arg_tlscacert, *arg_tlscert, *arg_tlskey;
static struct tls_ctx *api_tls;

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
            "  -H, --host ADDR           API address, unix:///PATH or tcp://IP:PORT; repeatable\n"
            "                            (default unix:///run/shoal/shoal.sock)\n"
            "      --tlsverify           serve tcp:// hosts over TLS and require a client\n"
            "                            certificate signed by --tlscacert (required for TCP)\n"
            "      --tls                 same as --tlsverify for shoald (TCP without client\n"
            "                            verification is refused)\n"
            "      --tlscacert PATH      CA clients' certificates must chain to\n"
            "      --tlscert PATH        server certificate (PEM)\n"
            "      --tlskey PATH         server key (PEM)\n"
            "      --insecure-tcp        allow tcp:// hosts WITHOUT TLS: anyone who can reach the\n"
            "                            port is root on this host; loopback testing only\n"
            "      --cgroup-parent NAME  parent cgroup of containers (default shoal)\n"
            "      --insecure-registry HOST[:PORT]\n"
            "                            registry reached over plain HTTP (loopback always is);\n"
            "                            repeatable\n"
            "      --bip CIDR            address of the default bridge shoal0\n"
            "                            (default 172.18.0.1/16)\n"
            "      --dns IP              DNS server containers' queries are forwarded to;\n"
            "                            repeatable (default: the host's /etc/resolv.conf)\n"
            "      --no-bridge-fast-path containers of one network talk through the bridge\n"
            "                            (and the host's bridge netfilter rules) instead of\n"
            "                            straight from veth to veth\n"
            "      --listen-addr IP:PORT cluster port for swarm traffic (raft, joins, agent\n"
            "                            sessions; default 0.0.0.0:2377, overrides the one\n"
            "                            `swarm init/join` sends)\n"
            "      --advertise-addr IP   address other swarm nodes use to reach this one\n"
            "                            (default: from swarm init/join, else derived)\n"
            "      --heartbeat-period D  agent heartbeat period, e.g. 2s or 500ms (default 2s)\n"
            "      --heartbeat-grace N   missed heartbeats before a node is marked down\n"
            "                            (default 3)\n"
            "  -l, --log-level LEVEL     error, warn, info or debug (default info)\n"
            "  -v, --version             print the version and exit\n"
            "  -h, --help                print this help and exit\n");
}

/* "2s", "500ms", "1m" or plain milliseconds. */
static int parse_period_ms(const char *s, unsigned *ret)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mult = 1;

    if (end == s)
        return -1;
    if (strcmp(end, "ms") == 0 || *end == '\0')
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else
        return -1;
    v *= mult;
    if (v < 100 || v > 600000)
        return -1;
    *ret = (unsigned)v;
    return 0;
}

/* --registry-allow: the only registries shoald may contact (tests use it so
 * that nothing leaves the machine) */
static const char *arg_regallow[NODE_MAX_HOSTS];
static size_t arg_n_regallow;

static int parse_args(int argc, char **argv)
{
    enum {
        OPT_DATA = 256,
        OPT_EXEC,
        OPT_CGPARENT,
        OPT_INSECURE,
        OPT_REGALLOW,
        OPT_BIP,
        OPT_DNS,
        OPT_LISTEN,
        OPT_ADVERTISE,
        OPT_HB,
        OPT_GRACE
    };
    static const struct option opts[] = {
        {"data-root", required_argument, NULL, OPT_DATA},
        {"exec-root", required_argument, NULL, OPT_EXEC},
        {"host", required_argument, NULL, 'H'},
        {"cgroup-parent", required_argument, NULL, OPT_CGPARENT},
        {"insecure-registry", required_argument, NULL, OPT_INSECURE},
        {"registry-allow", required_argument, NULL, OPT_REGALLOW},
        {"bip", required_argument, NULL, OPT_BIP},
        {"dns", required_argument, NULL, OPT_DNS},
        {"listen-addr", required_argument, NULL, OPT_LISTEN},
        {"advertise-addr", required_argument, NULL, OPT_ADVERTISE},
        {"heartbeat-period", required_argument, NULL, OPT_HB},
        {"heartbeat-grace", required_argument, NULL, OPT_GRACE},
        {"tls", no_argument, NULL, OPT_TLS},
        {"tlsverify", no_argument, NULL, OPT_TLSVERIFY},
        {"tlscacert", required_argument, NULL, OPT_TLSCACERT},
        {"tlscert", required_argument, NULL, OPT_TLSCERT},
        {"tlskey", required_argument, NULL, OPT_TLSKEY},
        {"insecure-tcp", no_argument, NULL, OPT_INSECURE_TCP},
        {"no-bridge-fast-path", no_argument, NULL, OPT_NO_FASTPATH},
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
        case OPT_REGALLOW:
            if (arg_n_regallow == NODE_MAX_HOSTS) {
                fprintf(stderr, "shoald: at most %d --registry-allow entries\n", NODE_MAX_HOSTS);
                return -1;
            }
            arg_regallow[arg_n_regallow++] = optarg;
            break;
        case OPT_BIP:
            arg_bip = optarg;
            break;
        case OPT_DNS:
            if (arg_n_dns == 3) {
                fprintf(stderr, "shoald: at most 3 --dns servers\n");
                return -1;
            }
            arg_dns[arg_n_dns++] = optarg;
            break;
        case OPT_LISTEN:
            arg_cfg.listen_addr = optarg;
            break;
        case OPT_ADVERTISE:
            arg_cfg.advertise_addr = optarg;
            break;
        case OPT_HB:
            if (parse_period_ms(optarg, &arg_cfg.heartbeat_ms) < 0) {
                fprintf(stderr, "shoald: invalid --heartbeat-period '%s' (100ms to 10m)\n", optarg);
                return -1;
            }
            break;
        case OPT_TLS:
            arg_tls = true;
            break;
        case OPT_TLSVERIFY:
            arg_tlsverify = true;
            break;
        case OPT_TLSCACERT:
            arg_tlscacert = optarg;
            break;
        case OPT_TLSCERT:
            arg_tlscert = optarg;
            break;
        case OPT_TLSKEY:
            arg_tlskey = optarg;
            break;
        case OPT_INSECURE_TCP:
            arg_insecure_tcp = true;
            break;
        case OPT_NO_FASTPATH:
            arg_cfg.no_bridge_fast_path = true;
            break;
        case OPT_GRACE: {
            uint64_t g;
            if (parse_u64(optarg, &g) < 0 || g < 1 || g > 100) {
                fprintf(stderr, "shoald: invalid --heartbeat-grace '%s' (1 to 100)\n", optarg);
                return -1;
            }
            arg_cfg.heartbeat_grace = (unsigned)g;
            break;
        }
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
    mgr_cluster_shutdown(node_current->cluster);
    wrk_agent_free(node_current->agent);
    node_current->agent = NULL;
    node_net_close();
    rt_close(node_current->rt);
    node_current->rt = NULL;
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

/* ---- the task agent, driven by the swarm runtime ---- */

static void agent_report(void *ud, json_t *updates)
{
    struct node *n = ud;

    if (n->cluster)
        mgr_cluster_report(n->cluster, updates);
}

static void agent_assign(void *ud, json_t *msg)
{
    struct node *n = ud;

    if (!n->agent) /* shutting down: the cluster's handles close after the agent */
        return;
    wrk_agent_assign(n->agent, msg);
}

static void agent_session(void *ud, bool up, const char *node_id)
{
    struct node *n = ud;

    if (!n->agent) /* shutting down: the cluster's handles close after the agent */
        return;
    wrk_agent_set_node(n->agent, node_id);
    wrk_agent_set_reporter(n->agent, up ? agent_report : NULL, n);
}

static void agent_left(void *ud)
{
    struct node *n = ud;

    if (!n->agent) /* shutting down: the cluster's handles close after the agent */
        return;
    wrk_agent_leave(n->agent);
    wrk_agent_set_node(n->agent, "");
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

/* The TLS context of tcp:// hosts, checked before anything listens. */
static int open_api_tls(struct err *err)
{
    bool any_tcp = false;
    char *ca = NULL, *cert = NULL, *key = NULL;
    int r;

    for (size_t i = 0; i < arg_cfg.n_hosts; i++)
        any_tcp |= strncmp(arg_cfg.hosts[i], "tcp://", 6) == 0;
    if (!any_tcp) {
        if (arg_tls || arg_tlsverify)
            log_warn("--tls/--tlsverify given but no -H tcp:// host: ignored");
        return 0;
    }
    if (!arg_tls && !arg_tlsverify) {
        if (arg_insecure_tcp)
            return 0;
        return err_set(err, -EINVAL,
                       "refusing to serve the API on TCP without TLS: use --tlsverify with "
                       "--tlscacert, --tlscert and --tlskey (or --insecure-tcp for loopback "
                       "testing)");
    }
    if (!arg_tlscacert || !arg_tlscert || !arg_tlskey)
        return err_set(err, -EINVAL, "--tlsverify needs --tlscacert, --tlscert and --tlskey");
    if ((r = read_file(arg_tlscacert, &ca, NULL, 1 << 20)) < 0) {
        err_set(err, r, "reading --tlscacert %s: %s", arg_tlscacert, strerror(-r));
        goto out;
    }
    if ((r = read_file(arg_tlscert, &cert, NULL, 1 << 20)) < 0) {
        err_set(err, r, "reading --tlscert %s: %s", arg_tlscert, strerror(-r));
        goto out;
    }
    if ((r = read_file(arg_tlskey, &key, NULL, 1 << 20)) < 0) {
        err_set(err, r, "reading --tlskey %s: %s", arg_tlskey, strerror(-r));
        goto out;
    }
    r = tls_ctx_new(TLS_SERVER, ca, cert, key, &api_tls, err);
    if (r == 0)
        tls_ctx_require_peer_cert(api_tls); /* no client certificate: the handshake fails */
out:
    free(ca);
    free(cert);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    return r;
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
    /* TLS settings are checked before anything is touched */
    if (open_api_tls(&err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    /* One malloc arena: shoald's threads (thread pool, helpers) allocate
     * little, and each extra arena costs hundreds of KiB of resident memory. */
    (void)mallopt(M_ARENA_MAX, 1);
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
    rt_reg_set_allowed(arg_regallow, arg_n_regallow);
    if (node_net_open(&n, arg_bip, arg_dns, arg_n_dns, &err) < 0) {
        log_error("starting networking: %s", err.msg);
        return 1;
    }
    n.http = http_server_new(n.loop, node_api_route);
    if (!n.http) {
        log_error("out of memory");
        return 1;
    }
    for (size_t i = 0; i < arg_cfg.n_hosts; i++) {
        const char *h = arg_cfg.hosts[i];
        if (strncmp(h, "tcp://", 6) == 0) {
            if (!api_tls)
                log_warn("!!! API on %s WITHOUT TLS (--insecure-tcp): anyone who can connect "
                         "controls this host as root. Do not use beyond loopback testing. !!!",
                         h);
            if (http_server_listen_tcp(n.http, h + 6, api_tls, api_tls != NULL, &err) < 0) {
                log_error("listening on %s: %s", h, err.msg);
                return 1;
            }
            log_info("API listening on %s%s", h,
                     api_tls ? " (TLS, client certificates verified)" : " (plain TCP)");
            continue;
        }
        if (strncmp(h, "unix://", 7) != 0) {
            log_error("unsupported -H address '%s': use unix:///PATH or tcp://IP:PORT", h);
            return 1;
        }
        if (http_server_listen_unix(n.http, h + 7, &err) < 0) {
            log_error("listening on %s: %s", h, err.msg);
            return 1;
        }
        log_info("API listening on %s", h);
    }
    struct mgr_cluster_opts co = {
        .loop = n.loop,
        .data_root = arg_cfg.data_root,
        .listen_addr = arg_cfg.listen_addr,
        .advertise_addr = arg_cfg.advertise_addr,
        .heartbeat_ms = arg_cfg.heartbeat_ms,
        .heartbeat_grace = arg_cfg.heartbeat_grace,
        .engine_version = SHOAL_VERSION,
        .agent = {.ud = &n,
                  .assign = agent_assign,
                  .session = agent_session,
                  .left = agent_left,
                  .logs = node_service_logs_agent},
    };
    struct wrk_opts wo = {
        .loop = n.loop,
        .rt = n.rt,
        .insecure = arg_cfg.insecure_registries,
        .n_insecure = arg_cfg.n_insecure_registries,
    };
    if (wrk_agent_new(&wo, &n.agent, &err) < 0) {
        log_error("task agent: %s", err.msg);
        return 1;
    }
    if (mgr_cluster_open(&co, &n.cluster, &err) < 0) {
        log_error("swarm: %s", err.msg);
        return 1;
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
    api_tls = tls_ctx_free(api_tls); /* every connection is closed by now */
    r = uv_loop_close(n.loop);
    if (r != 0)
        log_debug("loop closed with handles still open: %s", uv_strerror(r));
    log_info("shoald stopped");
    return 0;
}
