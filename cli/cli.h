/*
 * cli/cli.h - the shoal command-line client (private to cli/).
 *
 * `shoal` speaks only the daemon's Docker-Engine-compatible HTTP API (v1.41)
 * over a Unix socket, like the docker CLI, and mirrors docker's commands,
 * flags, output tables and exit codes.
 *
 * Pieces:
 *   client.c   blocking HTTP/1.1 client (http_parser), hijacked streams
 *   stdcopy.c  stdout/stderr multiplexing (8-byte frame headers)
 *   format.c   human sizes/durations, ellipsis, quoting, ports, tables,
 *              JSON re-indenting, URL escaping, a tiny Go-template subset
 *   flags.c    docker-style flag parsing (pflag-like) and --help
 *   runopts.c  `run`/`create` flags -> the create request body
 *   cmd_*.c    the commands; cli.c dispatches (cli_main)
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/macros.h"

#define CLI_VERSION         "0.1.0"
#define CLI_API_VERSION     "1.41"
#define CLI_DEFAULT_HOST    "unix:///run/shoal/shoal.sock"
#define CLI_MAX_RESP_BODY   ((size_t)256 * 1024 * 1024)
#define CLI_MAX_HEADER_SIZE ((size_t)64 * 1024)

/* Iteration without jansson's foreach macros (static analysers do not see
 * system headers). Arguments are evaluated more than once. */
#define CLI_JSON_ARRAY_EACH(arr, i, v)                                                             \
    for ((i) = 0; (i) < json_array_size(arr) && ((v) = json_array_get((arr), (i))) != NULL; (i)++)
#define CLI_JSON_OBJECT_EACH(obj, key, v)                                                          \
    for (void *cli_it_ = json_object_iter(obj);                                                    \
         cli_it_ &&                                                                                \
         ((key) = json_object_iter_key(cli_it_), (v) = json_object_iter_value(cli_it_), 1);        \
         cli_it_ = json_object_iter_next((obj), cli_it_))

/* ---- client.c --------------------------------------------------------- */

struct cli_tls_opts {
    bool enabled;                /* --tls / --tlsverify / SHOAL_TLS_VERIFY */
    bool verify;                 /* verify the server against ca (--tlsverify) */
    const char *ca, *cert, *key; /* PEM files */
};

struct cli_client {
    char *host;      /* "unix:///path" or "tcp://host:port", for messages */
    char *sock_path; /* "/path" (unix) */
    char *tcp_addr;  /* "host:port" (tcp) */
    struct cli_tls_opts tls;
    bool connect_failed;
};

struct cli_req {
    const char *method;
    const char *path;  /* API route without version: "/containers/json" */
    const char *query; /* encoded, without '?', or NULL */
    bool unversioned;  /* "/_ping" style: no /v1.41 prefix */
    const char *content_type;
    const void *body; /* sized body (Content-Length) */
    size_t body_len;
    int body_fd;  /* >= 0: stream this fd as a chunked body (body ignored) */
    bool upgrade; /* Connection: Upgrade, Upgrade: tcp */
};

struct cli_resp {
    int status;
    char content_type[128];
    char api_version[32];
    struct buf body;
};

typedef int (*cli_body_cb)(void *ctx, const char *data, size_t len);

struct cli_conn;

/* Parse "unix:///path" (or a bare "/path") or "tcp://host:port". */
int cli_client_init(struct cli_client *cli, const char *host, struct err *err);
/* TLS for tcp:// hosts (strings borrowed, must outlive cli). */
void cli_client_set_tls(struct cli_client *cli, const struct cli_tls_opts *o);

/* tlsconn.c: a connected blocking TCP socket, or a TLS connection behind a
 * socketpair (a detached thread pumps it; see tlsconn.c). */
int cli_tcp_connect(const char *addr, int *ret_fd, struct err *err);
int cli_tls_connect(const char *addr, const struct cli_tls_opts *o, int *ret_fd, struct err *err);
void cli_client_release(struct cli_client *cli);

int cli_conn_open(struct cli_client *cli, struct cli_conn **ret_conn, struct err *err);
struct cli_conn *cli_conn_free(struct cli_conn *c);
void cli_conn_freep(struct cli_conn **c);
int cli_conn_fd(const struct cli_conn *c);
int cli_conn_send(struct cli_conn *c, const struct cli_req *req, struct err *err);
/* Read until the response headers are complete. After a 101 the connection
 * is a raw stream: cli_conn_take_pending() returns the stream bytes that
 * arrived together with the headers. */
int cli_conn_read_head(struct cli_conn *c, struct cli_resp *resp, struct err *err);
/* Read the rest of the body: to cb if not NULL, else into resp->body. */
int cli_conn_read_body(struct cli_conn *c, cli_body_cb cb, void *ctx, struct err *err);
/* Bytes parsed but not yet delivered (body before read_body, or raw stream
 * bytes after a 101). The caller consumes them from the returned buf. */
struct buf *cli_conn_pending(struct cli_conn *c);

void cli_resp_init(struct cli_resp *resp);
void cli_resp_release(struct cli_resp *resp);
/* Turn an error reply into err: "Error response from daemon: <message>". Code
 * by status: 404 -ENOENT, 409 -EEXIST, 400 -EINVAL, 403 -EPERM, else -EIO. */
int cli_resp_error(const struct cli_resp *resp, const struct cli_req *req, struct err *err);

/* One request on its own connection; the whole body lands in resp->body.
 * Returns 0 whenever a response arrived, whatever its status. */
int cli_request(struct cli_client *cli, const struct cli_req *req, struct cli_resp *resp,
                struct err *err);
/* Request + status check (>= 400 -> cli_resp_error) + optional JSON decode of
 * the reply (ret_json may be NULL). body_json may be NULL. */
int cli_call(struct cli_client *cli, const char *method, const char *path, const char *query,
             json_t *body_json, json_t **ret_json, struct err *err);
/* cli_call on the route prefix + path-escaped name ("/services/" + "a b"). */
int cli_call_named(struct cli_client *cli, const char *method, const char *prefix, const char *name,
                   const char *query, json_t *body_json, json_t **ret_json, struct err *err);
/* One request on its own connection whose body streams to cb (a reply with
 * status >= 400 turns into err by cli_resp_error instead). Returns 0, or
 * a negative error (cb's, the connection's or the daemon's) in err. */
int cli_stream(struct cli_client *cli, const struct cli_req *req, cli_body_cb cb, void *cb_ctx,
               struct err *err);

/* ---- stdcopy.c -------------------------------------------------------- */

enum { CLI_STREAM_STDIN = 0, CLI_STREAM_STDOUT = 1, CLI_STREAM_STDERR = 2, CLI_STREAM_SYSERR = 3 };

struct cli_demux {
    unsigned char hdr[8];
    size_t hdr_len;
    size_t remaining; /* payload bytes still to come in the current frame */
    int stream;
};

typedef int (*cli_demux_cb)(void *ctx, int stream, const char *data, size_t len);

void cli_demux_init(struct cli_demux *d);
/* Feed any number of bytes; complete or partial payloads go to cb. Returns 0,
 * -EPROTO on a bad header, or cb's negative return. */
int cli_demux_feed(struct cli_demux *d, const char *data, size_t len, cli_demux_cb cb, void *ctx);
/* True when the stream ended on a frame boundary. */
bool cli_demux_idle(const struct cli_demux *d);

/* ---- format.c --------------------------------------------------------- */

/* go-units HumanSizeWithPrecision(size, 3): "4.27MB", "1.2kB", "0B". */
void cli_human_size(double size, char *out, size_t outlen);
/* go-units HumanDuration: "Less than a second", "About a minute", "3 hours". */
void cli_human_duration(int64_t seconds, char *out, size_t outlen);
/* docker's formatter.Ellipsis on runes; returns a malloc'd string. */
char *cli_ellipsis(const char *s, size_t max_runes);
/* Go strconv.Quote; returns a malloc'd string. */
char *cli_go_quote(const char *s);
size_t cli_rune_count(const char *s);
/* docker's DisplayablePorts for a /containers/json "Ports" array. */
char *cli_ports_string(json_t *ports);
/* 12-char id, "sha256:" stripped. out needs 13 bytes. */
void cli_short_id(const char *id, char out[13]);
/* Go's url.QueryEscape / a path-segment escape, appended to b. */
int cli_query_escape(struct buf *b, const char *s);
int cli_path_escape(struct buf *b, const char *s);
/* Append "key=value" (escaped) to a query, with '&' when needed. */
int cli_query_add(struct buf *q, const char *key, const char *value);
/* Go's json.Indent(dst, src, prefix, "    "). */
int cli_json_indent(struct buf *out, const char *src, size_t len, const char *prefix);

struct cli_table {
    size_t ncols;
    size_t nrows;
    char **cells; /* nrows * ncols, owned */
};
void cli_table_init(struct cli_table *t, size_t ncols);
void cli_table_release(struct cli_table *t);
/* ncols strings (copied). */
int cli_table_add(struct cli_table *t, const char *const *row);
/* text/tabwriter(minwidth 10, padding 3) layout, like docker's tables. */
int cli_table_render(const struct cli_table *t, struct buf *out);

/* Execute a minimal Go text/template ("{{.State.Status}}", "{{json .Config}}",
 * literal text) against v. */
int cli_template_exec(const char *tmpl, json_t *v, struct buf *out, struct err *err);

/* Docker-style since/until: "10m", RFC 3339, or unix seconds -> "s.nnnnnnnnn". */
int cli_parse_timestamp(const char *value, int64_t now_s, char *out, size_t outlen);
/* go-units BytesSize: binary units, "%.4g" ("1.5GiB", "512MiB", "0B"). */
void cli_bytes_size(double size, char *out, size_t outlen);
/* Errors collected over several arguments, one per line ("msg1\nmsg2"). */
void cli_errs_add(struct buf *errs, const char *msg);
/* Print collected errors as "shoal: <errs>" (+ "\n" with newline) on stderr
 * after flushing stdout; returns 1 when there were any, else 0. */
int cli_errs_flush(const struct buf *errs, bool newline);
/* The end of `service|node inspect`: as_json (no --pretty, no --format)
 * prints all as a 4-space indented JSON array, else the text in out. */
void cli_inspect_print(json_t *all, bool as_json, const struct buf *out);
/* The query of GET /containers|services|tasks/ID/logs, in docker's order
 * (since/until already converted by cli_parse_timestamp; NULL: not given). */
struct cli_logs_query {
    bool details, follow, timestamps;
    const char *since, *until, *tail;
};
int cli_logs_query(struct buf *q, const struct cli_logs_query *o);

/* ---- flags.c ---------------------------------------------------------- */

enum cli_flag_type { CLI_FLAG_BOOL, CLI_FLAG_STRING, CLI_FLAG_LIST, CLI_FLAG_INT };

struct cli_strv {
    const char **v;
    size_t n;
};

struct cli_flag {
    const char *name; /* long name, without "--" */
    char shorthand;   /* 0: none */
    enum cli_flag_type type;
    void *dest; /* bool *, const char **, struct cli_strv *, long long * */
    const char *help;
    const char *defval; /* shown in --help as (default ...) */
    bool *set;          /* optional: set to true when the flag is given */
};

struct cli_cmd_spec {
    const char *name;  /* "ps", "run" */
    const char *usage; /* "[OPTIONS] IMAGE [COMMAND] [ARG...]" */
    const char *desc;
    const struct cli_flag *flags; /* terminated by a {NULL} entry */
    bool no_interspersed;         /* flags stop at the first positional */
    int min_args;
    int max_args; /* -1: unlimited */
};

enum { CLI_FLAGS_OK = 0, CLI_FLAGS_HELP = 1 };

/* Parse argv[0..argc) (argv[0] is the first argument after the command
 * name). On success the positionals are in *ret_args (v is malloc'd; the
 * strings are borrowed from argv). Returns CLI_FLAGS_OK, CLI_FLAGS_HELP
 * (usage printed to stdout), or a negative error with a docker-style message
 * already printed to stderr; the caller exits 125 (flag errors) or 1
 * (argument count) as set in *ret_exit. */
int cli_flags_parse(const struct cli_cmd_spec *spec, int argc, char **argv,
                    struct cli_strv *ret_args, int *ret_exit);
void cli_flags_usage(const struct cli_cmd_spec *spec, FILE *f);
void cli_strv_release(struct cli_strv *sv);
/* A CPU count ("1.5") as NanoCPUs (1500000000): digits with at most 9
 * fraction digits. -ERANGE when too precise or above 1000000, -EINVAL when
 * malformed. */
int cli_parse_nano_cpus(const char *s, int64_t *ret);

/* Flag-table entries on one line each, and the entries several commands
 * share (same name, shorthand and help text as docker's). */
#define CLI_FLAG_ENTRY(nm, sh, ty, de, he)                                                         \
    {                                                                                              \
        .name = (nm), .shorthand = (sh), .type = (ty), .dest = (de), .help = (he)                  \
    }
#define CLI_BOOL_FLAG(nm, sh, de, he)   CLI_FLAG_ENTRY(nm, sh, CLI_FLAG_BOOL, de, he)
#define CLI_STRING_FLAG(nm, sh, de, he) CLI_FLAG_ENTRY(nm, sh, CLI_FLAG_STRING, de, he)
#define CLI_LIST_FLAG(nm, sh, de, he)   CLI_FLAG_ENTRY(nm, sh, CLI_FLAG_LIST, de, he)
#define CLI_FLAG_FILTER(de)                                                                        \
    CLI_LIST_FLAG("filter", 'f', de, "Filter output based on conditions provided")
#define CLI_FLAG_NO_TRUNC(de)   CLI_BOOL_FLAG("no-trunc", 0, de, "Do not truncate output")
#define CLI_FLAG_NO_RESOLVE(de) CLI_BOOL_FLAG("no-resolve", 0, de, "Do not map IDs to Names")
#define CLI_FLAG_DETACH_SVC(de)                                                                    \
    CLI_BOOL_FLAG("detach", 'd', de,                                                               \
                  "Exit immediately instead of waiting for the service to converge")
#define CLI_FLAG_LOGS_DETAILS(de)                                                                  \
    CLI_BOOL_FLAG("details", 0, de, "Show extra details provided to logs")
#define CLI_FLAG_LOGS_FOLLOW(de) CLI_BOOL_FLAG("follow", 'f', de, "Follow log output")
#define CLI_FLAG_LOGS_SINCE(de)                                                                    \
    CLI_STRING_FLAG("since", 0, de,                                                                \
                    "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative "       \
                    "(e.g. \"42m\" for 42 minutes)")
#define CLI_FLAG_LOGS_TAIL(de)                                                                     \
    {                                                                                              \
        .name = "tail", .shorthand = 'n', .type = CLI_FLAG_STRING, .dest = (de),                   \
        .help = "Number of lines to show from the end of the logs", .defval = "\"all\""            \
    }
#define CLI_FLAG_LOGS_TIMESTAMPS(de) CLI_BOOL_FLAG("timestamps", 't', de, "Show timestamps")

/* ---- runopts.c -------------------------------------------------------- */

struct cli_run_opts {
    bool detach, rm, interactive, tty, privileged, read_only, publish_all, init;
    const char *name, *workdir, *user, *hostname, *memory, *cpus, *network, *entrypoint, *restart,
        *stop_signal, *cidfile, *platform, *memory_swap, *shm_size;
    const char *health_cmd, *health_interval, *health_timeout, *health_start_period;
    long long health_retries;
    bool no_healthcheck;
    long long pids_limit, stop_timeout, cpu_shares;
    bool stop_timeout_set;
    struct cli_strv env, env_file, labels, publish, expose, attach, volumes, cap_add, cap_drop, dns,
        add_host, tmpfs, security_opt, ulimits;
    /* results of cli_run_opts_parse */
    const char *image;
    struct cli_strv cmd; /* borrowed */
};

/* The flag table of run/create, bound to o (run adds -d and --rm). */
const struct cli_cmd_spec *cli_run_spec(struct cli_run_opts *o, bool is_run);
/* Parse run/create arguments into o. Same returns as cli_flags_parse. */
int cli_run_opts_parse(struct cli_run_opts *o, bool is_run, int argc, char **argv, int *ret_exit);
void cli_run_opts_release(struct cli_run_opts *o);
/* Build the POST /containers/create body exactly like the docker CLI. */
int cli_run_opts_to_json(const struct cli_run_opts *o, json_t **ret_body, struct err *err);

/* ---- cli.c and commands ---------------------------------------------- */

struct cli_ctx {
    struct cli_client client;
};

typedef int (*cli_cmd_fn)(struct cli_ctx *ctx, int argc, char **argv);

/* Print an error on stderr as "shoal: <message>", e.g.
 * "shoal: Error response from daemon: No such container: x". */
void cli_print_err(struct cli_ctx *ctx, const struct err *err);
/* Write all bytes to fd 1 or 2. */
int cli_out(int fd, const char *data, size_t len);

int cli_cmd_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_create(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_start(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ps(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_logs(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stop(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_restart(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_kill(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rm(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_wait(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_inspect(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_container_inspect(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_image_inspect(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_images(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_import(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_version(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_info(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_load(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_save(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rmi(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_tag(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_history(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_image_prune(struct cli_ctx *ctx, int argc, char **argv);
/* cli/cmd_exec.c */
int cli_cmd_exec(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_top(struct cli_ctx *ctx, int argc, char **argv);

/* cli/cmd_container.c (issue 6) */
int cli_cmd_pause(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_unpause(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rename(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_container_prune(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_events(struct cli_ctx *ctx, int argc, char **argv);

/* Entry point used by cli/main.c. Returns the process exit code. */
int cli_main(int argc, char **argv);

/* Pull ref with the progress display (cmd_registry.c); 0 on success,
 * after printing any error. */
int cli_pull_image(struct cli_ctx *ctx, const char *ref, bool quiet);

/* cli/cmd_network.c: `shoal network ...` */
int cli_cmd_network(struct cli_ctx *ctx, int argc, char **argv);

/* cli/cmd_cp.c: `shoal cp` */
int cli_cmd_cp(struct cli_ctx *ctx, int argc, char **argv);

/* cli/cmd_swarm.c: `shoal swarm ...` and `shoal node ...` */
int cli_cmd_swarm(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_node(struct cli_ctx *ctx, int argc, char **argv);

struct cli_node_update {
    const char *availability;            /* active|pause|drain, or NULL */
    const char *role;                    /* worker|manager, or NULL */
    struct cli_strv label_add, label_rm; /* "k=v" / "k" */
};

/* docker's PrettyPrint of a string: first letter upper, the rest lower. */
void cli_capitalize(const char *s, char *out, size_t outlen);
/* Go time.ParseDuration ("1h30m", "5s", "1.5ms", "0"); -EINVAL if malformed. */
int cli_go_duration_parse(const char *s, int64_t *ret_ns);
/* docker's --listen-addr: "[host][:port]" -> "host:port" (0.0.0.0, 2377). */
int cli_node_addr_normalize(const char *in, char *out, size_t outlen);
/* The `node ls` table (or IDs with quiet) of a GET /nodes array, sorted by
 * hostname; self_id gets " *". */
int cli_node_ls_render(json_t *nodes, const char *self_id, bool quiet, struct buf *out);
/* `node inspect --pretty` text of one node. */
int cli_node_pretty(json_t *node, struct buf *out);
/* Merge `node update` flags into a NodeSpec object (role, availability,
 * label-add, label-rm, in docker's order). */
int cli_node_spec_apply(json_t *spec, const struct cli_node_update *u, struct err *err);
/* "To add a worker/manager to this swarm, run ..." from a GET /swarm object. */
int cli_join_command(json_t *swarm, const char *mgr_addr, bool worker, bool manager,
                     struct buf *out);

/* cli/cmd_service.c: `shoal service ...` (docker's `service` commands) */
int cli_cmd_service(struct cli_ctx *ctx, int argc, char **argv);

/* UpdateConfig / RollbackConfig flags (strings as typed; NULL = not given) */
struct cli_svc_cfg_flags {
    const char *parallelism, *delay, *failure_action, *monitor, *max_failure_ratio, *order;
};

/* The flags of `service create` and `service update` (borrowed strings). */
struct cli_svc_opts {
    const char *name, *mode, *replicas, *max_per_node, *workdir, *user, *hostname, *stop_grace,
        *stop_signal, *entrypoint, *endpoint_mode;
    const char *reserve_memory, *reserve_cpu, *limit_memory, *limit_cpu;
    const char *restart_condition, *restart_delay, *restart_max_attempts, *restart_window;
    struct cli_svc_cfg_flags update, rollback;
    const char *health_cmd, *health_interval, *health_timeout, *health_start_period,
        *health_retries;
    bool no_healthcheck, tty, read_only, init, tty_set, read_only_set, init_set;
    struct cli_strv env, labels, container_labels, constraints, placement_prefs, publish, networks,
        mounts;
    /* update only */
    const char *image;
    bool force;
    struct cli_strv env_add, env_rm, label_add, label_rm, container_label_add, container_label_rm,
        constraint_add, constraint_rm, publish_add, publish_rm, mount_add, mount_rm, network_add,
        network_rm, placement_pref_add, placement_pref_rm;
    /* create: IMAGE [COMMAND [ARG...]] */
    const char *image_arg;
    const char *const *args;
    size_t nargs;
};

/* The ServiceSpec `service create` sends, in docker's key order. Networks[]
 * carry the names as given (the caller resolves them to IDs). */
int cli_svc_spec_from_opts(const struct cli_svc_opts *o, json_t **ret_spec, struct err *err);
/* Apply `service update` flags to a ServiceSpec in place (docker's rules). */
int cli_svc_spec_apply_update(json_t *spec, const struct cli_svc_opts *o, struct err *err);
/* One --publish value ("8080:80/udp", "80", "mode=host,target=80,published=8080")
 * appended to ports as EndpointSpec.Ports[] objects. */
int cli_svc_parse_publish(const char *s, json_t *ports, struct err *err);
/* One --mount value ("type=bind,source=/a,target=/b,readonly", tmpfs, volume). */
int cli_svc_parse_mount(const char *s, json_t **ret, struct err *err);
/* Go's time.Duration.String(): "5s", "1m30s", "1h0m0s", "500ms", "0s". */
void cli_go_duration_string(int64_t ns, char *out, size_t outlen);
/* The image as `service ls`/`ps` show it: digest cut when there is a tag,
 * docker.io/library/ prefix dropped. */
void cli_svc_image_display(const char *image, char *out, size_t outlen);

/* Task table of `service ps` (also usable by `node ps`/`stack ps`): names
 * "<service>.<slot>" (or .<node id> for global), natural sort, newest first
 * within a slot, older tasks of a slot indented " \_ ". service_names and
 * node_names map IDs to names (missing: the ID / ""). format: NULL, "table",
 * "table TEMPLATE", or a TEMPLATE over {ID,Name,Image,Node,DesiredState,
 * CurrentState,Error,Ports}. */
struct cli_task_print_opts {
    bool trunc, quiet;
    const char *format;
    int64_t now_ns;
    json_t *service_names, *node_names;
};
int cli_task_print(json_t *tasks, const struct cli_task_print_opts *o, struct buf *out,
                   struct err *err);
/* GET /tasks with the user's -f filters plus extra (key -> {value:true})
 * and print them like `service ps` (names resolved unless no_resolve). */
int cli_tasks_print_filtered(struct cli_ctx *ctx, const struct cli_strv *user_filters,
                             json_t *extra, bool quiet, bool no_trunc, bool no_resolve,
                             const char *format, struct err *err);
/* `service ls` of a GET /services array (sorted by name). */
int cli_service_ls_render(json_t *services, bool quiet, const char *format, struct buf *out,
                          struct err *err);
/* `service inspect --pretty` of one service; network_names maps IDs to names. */
int cli_service_pretty(json_t *svc, json_t *network_names, int64_t now_ns, struct buf *out);

/* The --detach=false progress display: a pure step per polling round. */
struct cli_prog_msg {
    char *id;               /* "overall progress", "1/3", "verify", node id; NULL: plain line */
    char *action;           /* text after "id: " */
    int64_t current, total; /* total > 0: a progress bar (shown on wide terminals) */
};
struct cli_svc_progress {
    bool initialized, done;
    int64_t *slot_keys, *slot_vals;
    size_t nslots;
    struct cli_prog_msg *msgs; /* emitted since the last cli_svc_progress_clear */
    size_t nmsgs;
};
void cli_svc_progress_init(struct cli_svc_progress *p);
void cli_svc_progress_clear(struct cli_svc_progress *p);
void cli_svc_progress_release(struct cli_svc_progress *p);
int cli_svc_progress_emit(struct cli_svc_progress *p, const char *id, int64_t current,
                          int64_t total, const char *fmt, ...) PRINTF_LIKE(5, 6);
/* One round: service (GET /services/ID), tasks (up-to-date tasks), nodes
 * (GET /nodes). Emits messages; *ret_converged as docker computes it. */
int cli_svc_progress_step(struct cli_svc_progress *p, json_t *service, json_t *tasks, json_t *nodes,
                          bool rollback, bool *ret_converged, struct err *err);
/* The text of one message as a terminal shows it (width > 110: with bar). */
int cli_prog_msg_format(const struct cli_prog_msg *m, int width, struct buf *out);

#endif
