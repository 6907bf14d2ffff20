/*
 * cli/runopts.c - the flags of `run` and `create` and the request body the
 * docker CLI builds from them for POST /containers/create: the full Config,
 * a HostConfig with every key the docker CLI sends (zero values included) and
 * NetworkingConfig.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/util.h"

#include "cli/cli.h"

#define OPT(field) (&o->field)

static struct cli_flag run_flags[48];
static struct cli_cmd_spec run_spec;

const struct cli_cmd_spec *cli_run_spec(struct cli_run_opts *o, bool is_run)
{
    size_t n = 0;

#define F(nm, sh, ty, de, he)                                                                      \
    run_flags[n++] = (struct cli_flag){                                                            \
        .name = (nm), .shorthand = (sh), .type = (ty), .dest = (de), .help = (he)}
    F("attach", 'a', CLI_FLAG_LIST, OPT(attach), "Attach to STDIN, STDOUT or STDERR");
    F("add-host", 0, CLI_FLAG_LIST, OPT(add_host), "Add a custom host-to-IP mapping (host:ip)");
    F("cap-add", 0, CLI_FLAG_LIST, OPT(cap_add), "Add Linux capabilities");
    F("cap-drop", 0, CLI_FLAG_LIST, OPT(cap_drop), "Drop Linux capabilities");
    F("cpu-shares", 'c', CLI_FLAG_INT, OPT(cpu_shares), "CPU shares (relative weight)");
    F("cpus", 0, CLI_FLAG_STRING, OPT(cpus), "Number of CPUs");
    if (is_run)
        F("detach", 'd', CLI_FLAG_BOOL, OPT(detach),
          "Run container in background and print container ID");
    F("dns", 0, CLI_FLAG_LIST, OPT(dns), "Set custom DNS servers");
    F("entrypoint", 0, CLI_FLAG_STRING, OPT(entrypoint),
      "Overwrite the default ENTRYPOINT of the image");
    F("env", 'e', CLI_FLAG_LIST, OPT(env), "Set environment variables");
    F("env-file", 0, CLI_FLAG_LIST, OPT(env_file), "Read in a file of environment variables");
    F("expose", 0, CLI_FLAG_LIST, OPT(expose), "Expose a port or a range of ports");
    F("health-cmd", 0, CLI_FLAG_STRING, OPT(health_cmd), "Command to run to check health");
    F("health-interval", 0, CLI_FLAG_STRING, OPT(health_interval),
      "Time between running the check (ms|s|m|h) (default 0s)");
    F("health-retries", 0, CLI_FLAG_INT, OPT(health_retries),
      "Consecutive failures needed to report unhealthy");
    F("health-start-period", 0, CLI_FLAG_STRING, OPT(health_start_period),
      "Start period for the container to initialize before starting health-retries countdown "
      "(ms|s|m|h) (default 0s)");
    F("health-timeout", 0, CLI_FLAG_STRING, OPT(health_timeout),
      "Maximum time to allow one check to run (ms|s|m|h) (default 0s)");
    F("hostname", 'h', CLI_FLAG_STRING, OPT(hostname), "Container host name");
    F("init", 0, CLI_FLAG_BOOL, OPT(init), "Run an init inside the container");
    F("interactive", 'i', CLI_FLAG_BOOL, OPT(interactive), "Keep STDIN open even if not attached");
    F("label", 'l', CLI_FLAG_LIST, OPT(labels), "Set meta data on a container");
    F("memory", 'm', CLI_FLAG_STRING, OPT(memory), "Memory limit");
    F("memory-swap", 0, CLI_FLAG_STRING, OPT(memory_swap),
      "Swap limit equal to memory plus swap: '-1' to enable unlimited swap");
    F("name", 0, CLI_FLAG_STRING, OPT(name), "Assign a name to the container");
    F("network", 0, CLI_FLAG_STRING, OPT(network), "Connect a container to a network");
    F("pids-limit", 0, CLI_FLAG_INT, OPT(pids_limit),
      "Tune container pids limit (set -1 for unlimited)");
    F("privileged", 0, CLI_FLAG_BOOL, OPT(privileged),
      "Give extended privileges to this container");
    F("publish", 'p', CLI_FLAG_LIST, OPT(publish), "Publish a container's port(s) to the host");
    F("publish-all", 'P', CLI_FLAG_BOOL, OPT(publish_all),
      "Publish all exposed ports to random ports");
    F("no-healthcheck", 0, CLI_FLAG_BOOL, OPT(no_healthcheck),
      "Disable any container-specified HEALTHCHECK");
    F("read-only", 0, CLI_FLAG_BOOL, OPT(read_only),
      "Mount the container's root filesystem as read only");
    F("restart", 0, CLI_FLAG_STRING, OPT(restart),
      "Restart policy to apply when a container exits");
    run_flags[n - 1].defval = "\"no\"";
    F("rm", 0, CLI_FLAG_BOOL, OPT(rm), "Automatically remove the container when it exits");
    F("security-opt", 0, CLI_FLAG_LIST, OPT(security_opt), "Security Options");
    F("shm-size", 0, CLI_FLAG_STRING, OPT(shm_size), "Size of /dev/shm");
    F("stop-signal", 0, CLI_FLAG_STRING, OPT(stop_signal), "Signal to stop the container");
    F("stop-timeout", 0, CLI_FLAG_INT, OPT(stop_timeout),
      "Timeout (in seconds) to stop a container");
    run_flags[n - 1].set = OPT(stop_timeout_set);
    F("tmpfs", 0, CLI_FLAG_LIST, OPT(tmpfs), "Mount a tmpfs directory");
    F("tty", 't', CLI_FLAG_BOOL, OPT(tty), "Allocate a pseudo-TTY");
    F("user", 'u', CLI_FLAG_STRING, OPT(user),
      "Username or UID (format: <name|uid>[:<group|gid>])");
    F("volume", 'v', CLI_FLAG_LIST, OPT(volumes), "Bind mount a volume");
    F("workdir", 'w', CLI_FLAG_STRING, OPT(workdir), "Working directory inside the container");
    run_flags[n] = (struct cli_flag){.name = NULL};
#undef F
    run_spec = (struct cli_cmd_spec){
        .name = is_run ? "run" : "create",
        .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        .desc = is_run ? "Create and run a new container from an image" : "Create a new container",
        .flags = run_flags,
        .no_interspersed = true,
        .min_args = 1,
        .max_args = -1,
    };
    return &run_spec;
}

void cli_run_opts_release(struct cli_run_opts *o)
{
    struct cli_strv *lists[] = {&o->env,          &o->env_file, &o->labels,   &o->publish,
                                &o->expose,       &o->attach,   &o->volumes,  &o->cap_add,
                                &o->cap_drop,     &o->dns,      &o->add_host, &o->tmpfs,
                                &o->security_opt, &o->ulimits};

    for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
        cli_strv_release(lists[i]);
    free(o->cmd.v);
    o->cmd.v = NULL;
}

static int bad_value(const char *value, const char *flag, const char *why, int *ret_exit)
{
    fprintf(stderr,
            "invalid argument \"%s\" for \"%s\" flag: %s\n\nUsage:  shoal run [OPTIONS] IMAGE "
            "[COMMAND] [ARG...]\n\nRun 'shoal run --help' for more information\n",
            value, flag, why);
    *ret_exit = 125;
    return -EINVAL;
}

int cli_run_opts_parse(struct cli_run_opts *o, bool is_run, int argc, char **argv, int *ret_exit)
{
    const struct cli_cmd_spec *spec;
    struct cli_strv args = {NULL, 0};
    int r;

    spec = cli_run_spec(o, is_run);
    r = cli_flags_parse(spec, argc, argv, &args, ret_exit);
    if (r != CLI_FLAGS_OK)
        return r;
    o->image = args.v[0];
    o->cmd.v = args.v; /* keep the array; cmd starts after the image */
    o->cmd.n = args.n;
    if (o->memory) {
        int64_t v;

        if (parse_size(o->memory, &v) < 0) {
            char why[128];

            (void)snprintf(why, sizeof(why), "invalid size: '%s'", o->memory);
            return bad_value(o->memory, "-m, --memory", why, ret_exit);
        }
    }
    if (o->memory_swap && strcmp(o->memory_swap, "-1") != 0) {
        int64_t v;

        if (parse_size(o->memory_swap, &v) < 0)
            return bad_value(o->memory_swap, "--memory-swap", "invalid size", ret_exit);
    }
    if (o->shm_size) {
        int64_t v;

        if (parse_size(o->shm_size, &v) < 0)
            return bad_value(o->shm_size, "--shm-size", "invalid size", ret_exit);
    }
    if (o->cpus) {
        int64_t v;
        char why[160];

        r = cli_parse_nano_cpus(o->cpus, &v);
        if (r == -ERANGE)
            return bad_value(o->cpus, "--cpus", "value is too precise", ret_exit);
        if (r < 0) {
            (void)snprintf(why, sizeof(why), "failed to parse %s as a rational number", o->cpus);
            return bad_value(o->cpus, "--cpus", why, ret_exit);
        }
    }
    if (o->detach && o->attach.n) {
        fprintf(stderr, "shoal: Conflicting options: -a and -d\n\nRun 'shoal run --help' for "
                        "more information\n");
        *ret_exit = 125;
        return -EINVAL;
    }
    if (o->rm && o->restart && strcmp(o->restart, "no") != 0 && strcmp(o->restart, "") != 0) {
        fprintf(stderr,
                "shoal: Conflicting options: cannot specify both --restart and --rm\n\n"
                "Run 'shoal %s --help' for more information\n",
                is_run ? "run" : "create");
        *ret_exit = 125;
        return -EINVAL;
    }
    return CLI_FLAGS_OK;
}

/* ---- body building -------------------------------------------------------------- */

static json_t *strv_array(const struct cli_strv *sv)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    return a;
}

static json_t *strv_array_or_null(const struct cli_strv *sv)
{
    return sv->n ? strv_array(sv) : json_null();
}

static int add_env_file(json_t *env, const char *path, struct err *err)
{
    cleanup_free char *data = NULL;
    size_t len;
    char *line, *save = NULL;
    int r;

    r = read_file(path, &data, &len, (size_t)16 * 1024 * 1024);
    if (r < 0)
        return err_set(err, r, "open %s: %s", path, strerror(-r));
    for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l;

        while (*line == ' ' || *line == '\t')
            line++;
        l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (!*line || *line == '#')
            continue;
        if (strchr(line, '=')) {
            json_array_append_new(env, json_string(line));
        } else {
            const char *v = getenv(line);

            if (v) {
                char *kv;

                if (asprintf(&kv, "%s=%s", line, v) < 0)
                    return err_set(err, -ENOMEM, "out of memory");
                json_array_append_new(env, json_string(kv));
                free(kv);
            }
        }
    }
    return 0;
}

static int add_env(json_t *env, const char *e, struct err *err)
{
    const char *v;
    char *kv;

    if (e[0] == '=' || !*e)
        return err_set(err, -EINVAL, "invalid environment variable: %s", e);
    if (strchr(e, '=') || !(v = getenv(e)))
        return json_array_append_new(env, json_string(e)) < 0 ? -ENOMEM : 0;
    if (asprintf(&kv, "%s=%s", e, v) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    json_array_append_new(env, json_string(kv));
    free(kv);
    return 0;
}

static int parse_port_range(const char *s, size_t len, long *ret_lo, long *ret_hi)
{
    char tmp[32];
    char *dash, *end;

    if (len == 0 || len >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    dash = strchr(tmp, '-');
    if (dash)
        *dash = '\0';
    *ret_lo = strtol(tmp, &end, 10);
    if (*end || end == tmp || *ret_lo < 1 || *ret_lo > 65535)
        return -EINVAL;
    *ret_hi = *ret_lo;
    if (dash) {
        *ret_hi = strtol(dash + 1, &end, 10);
        if (*end || end == dash + 1 || *ret_hi < *ret_lo || *ret_hi > 65535)
            return -EINVAL;
    }
    return 0;
}

/* nat.ParsePortSpec: [ip:][hostPort:]containerPort[/proto] with ranges. */
static int add_publish(json_t *exposed, json_t *bindings, const char *spec, struct err *err)
{
    char buf[256];
    char *proto, *cport, *hport = NULL, *ip = NULL, *last, *p;
    long clo, chi, hlo = 0, hhi = 0;

    if (strlen(spec) >= sizeof(buf))
        return err_set(err, -EINVAL, "invalid port specification: \"%s\"", spec);
    (void)snprintf(buf, sizeof(buf), "%s", spec);
    proto = strrchr(buf, '/');
    if (proto)
        *proto++ = '\0';
    else
        proto = (char *)"tcp";
    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
        return err_set(err, -EINVAL, "invalid proto: %s", proto);
    last = strrchr(buf, ':');
    if (!last) {
        cport = buf;
    } else {
        *last = '\0';
        cport = last + 1;
        p = strrchr(buf, ':');
        if (p && buf[0] == '[') { /* [v6]:host */
            char *rb = strchr(buf, ']');

            if (!rb || rb > p)
                return err_set(err, -EINVAL, "invalid IP address: %s", buf);
            *p = '\0';
            hport = p + 1;
            *rb = '\0';
            ip = buf + 1;
        } else if (p) {
            *p = '\0';
            hport = p + 1;
            ip = buf;
        } else {
            hport = buf;
        }
    }
    if (parse_port_range(cport, strlen(cport), &clo, &chi) < 0)
        return err_set(err, -EINVAL, "invalid containerPort: %s", cport);
    if (hport && *hport) {
        if (parse_port_range(hport, strlen(hport), &hlo, &hhi) < 0)
            return err_set(err, -EINVAL, "invalid hostPort: %s", hport);
        if (hhi - hlo != chi - clo && hlo != hhi)
            return err_set(err, -EINVAL,
                           "invalid ranges specified for container and host Ports: %s and %s",
                           cport, hport);
    }
    for (long port = clo; port <= chi; port++) {
        char key[32], hp[32] = "";
        json_t *list, *b;

        (void)snprintf(key, sizeof(key), "%ld/%s", port, proto);
        if (hlo) {
            if (hlo == hhi)
                (void)snprintf(hp, sizeof(hp), "%ld", hlo);
            else
                (void)snprintf(hp, sizeof(hp), "%ld", hlo + (port - clo));
        }
        json_object_set_new(exposed, key, json_object());
        if (!bindings)
            continue;
        list = json_object_get(bindings, key);
        if (!list) {
            list = json_array();
            json_object_set_new(bindings, key, list);
        }
        b = json_object();
        json_object_set_new(b, "HostIp", json_string(ip ? ip : ""));
        json_object_set_new(b, "HostPort", json_string(hp));
        json_array_append_new(list, b);
    }
    return 0;
}

static int parse_restart(const char *s, json_t **ret, struct err *err)
{
    const char *colon;
    long max = 0;
    char name[32];

    if (!s || !*s)
        s = "no";
    colon = strchr(s, ':');
    (void)snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
    if (colon) {
        char *end;

        if (colon == s)
            return err_set(err, -EINVAL,
                           "invalid restart policy format: no policy provided before colon");
        max = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || max < 0)
            return err_set(err, -EINVAL,
                           "invalid restart policy format: maximum retry count "
                           "must be an integer");
        if (strcmp(name, "on-failure") != 0)
            return err_set(err, -EINVAL,
                           "invalid restart policy format: maximum retry count can only be "
                           "used with 'on-failure'");
    }
    if (strcmp(name, "no") != 0 && strcmp(name, "always") != 0 &&
        strcmp(name, "unless-stopped") != 0 && strcmp(name, "on-failure") != 0)
        return err_set(err, -EINVAL, "invalid restart policy '%s'", s);
    *ret = json_pack("{s:s, s:I}", "Name", name, "MaximumRetryCount", (json_int_t)max);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static json_t *endpoint_settings(void)
{
    return json_pack("{s:n, s:n, s:n, s:s, s:n, s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, "
                     "s:n}",
                     "IPAMConfig", "Links", "Aliases", "MacAddress", "", "DriverOpts", "GwPriority",
                     0, "NetworkID", "", "EndpointID", "", "Gateway", "", "IPAddress", "",
                     "IPPrefixLen", 0, "IPv6Gateway", "", "GlobalIPv6Address", "",
                     "GlobalIPv6PrefixLen", 0, "DNSNames");
}

static void console_size(const struct cli_run_opts *o, json_int_t *h, json_int_t *w)
{
    struct winsize ws;

    *h = *w = 0;
    if (o->tty && !o->detach && isatty(STDOUT_FILENO) &&
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        *h = ws.ws_row;
        *w = ws.ws_col;
    }
}

#define SET(obj, key, val) json_object_set_new((obj), (key), (val))

/* Go's time.ParseDuration subset: "1.5s", "1m30s", "500ms", "0". */
static int parse_duration_ns(const char *s, int64_t *ret)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double total = 0;

    if (strcmp(s, "0") == 0) {
        *ret = 0;
        return 0;
    }
    if (!*s)
        return -EINVAL;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        size_t best = 0, best_len = 0;

        if (end == s || v < 0)
            return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(end, units[i].unit, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (!best_len)
            return -EINVAL;
        total += v * units[best].ns;
        s = end + best_len;
    }
    if (total > 9.2e18)
        return -ERANGE;
    *ret = (int64_t)total;
    return 0;
}

/* Config.Healthcheck from the --health-* flags (NULL when none is set). */
static int health_json(const struct cli_run_opts *o, json_t **ret, struct err *err)
{
    int64_t iv = 0, to = 0, sp = 0;
    bool any = o->health_cmd || o->health_interval || o->health_timeout || o->health_start_period ||
               o->health_retries;

    *ret = NULL;
    if (o->no_healthcheck) {
        if (any)
            return err_set(err, -EINVAL, "--no-healthcheck conflicts with --health-* options");
        *ret = json_pack("{s:[s]}", "Test", "NONE");
        return 0;
    }
    if (!any)
        return 0;
    if (o->health_interval && parse_duration_ns(o->health_interval, &iv) < 0)
        return err_set(err, -EINVAL, "invalid argument \"%s\" for \"--health-interval\" flag",
                       o->health_interval);
    if (o->health_timeout && parse_duration_ns(o->health_timeout, &to) < 0)
        return err_set(err, -EINVAL, "invalid argument \"%s\" for \"--health-timeout\" flag",
                       o->health_timeout);
    if (o->health_start_period && parse_duration_ns(o->health_start_period, &sp) < 0)
        return err_set(err, -EINVAL, "invalid argument \"%s\" for \"--health-start-period\" flag",
                       o->health_start_period);
    if (o->health_retries < 0)
        return err_set(err, -EINVAL, "--health-retries cannot be negative");
    *ret = json_pack("{s:o, s:I, s:I, s:I, s:I}", "Test",
                     o->health_cmd ? json_pack("[s, s]", "CMD-SHELL", o->health_cmd) : json_array(),
                     "Interval", (json_int_t)iv, "Timeout", (json_int_t)to, "StartPeriod",
                     (json_int_t)sp, "Retries", (json_int_t)o->health_retries);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

int cli_run_opts_to_json(const struct cli_run_opts *o, json_t **ret_body, struct err *err)
{
    json_t *body = json_object(), *hc = json_object(), *env = json_array();
    json_t *labels = json_object(), *exposed = json_object(), *bindings = json_object();
    json_t *binds = json_array(), *volumes = json_object(), *restart = NULL, *tmpfs = NULL;
    json_t *eps = json_object();
    struct cli_strv cmd = {o->cmd.n > 1 ? o->cmd.v + 1 : NULL, o->cmd.n > 1 ? o->cmd.n - 1 : 0};
    bool att_in = o->interactive, att_out = false, att_err = false, stdin_once;
    int64_t memory = 0, memswap = 0, nano = 0, shm = 0;
    json_int_t ch, cw;
    int r = 0;

    if (!body || !hc || !env || !labels || !exposed || !bindings || !binds || !volumes || !eps) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->attach.n; i++) {
        const char *a = o->attach.v[i];

        if (strcasecmp(a, "stdin") == 0)
            att_in = true;
        else if (strcasecmp(a, "stdout") == 0)
            att_out = true;
        else if (strcasecmp(a, "stderr") == 0)
            att_err = true;
        else {
            r = err_set(err, -EINVAL, "valid streams are STDIN, STDOUT and STDERR");
            goto out;
        }
    }
    if (o->attach.n == 0)
        att_out = att_err = true;
    stdin_once = o->interactive && att_in;
    if (o->detach)
        att_in = att_out = att_err = stdin_once = false;

    for (size_t i = 0; i < o->env_file.n && r >= 0; i++)
        r = add_env_file(env, o->env_file.v[i], err);
    for (size_t i = 0; i < o->env.n && r >= 0; i++)
        r = add_env(env, o->env.v[i], err);
    for (size_t i = 0; i < o->labels.n && r >= 0; i++) {
        const char *eq = strchr(o->labels.v[i], '=');
        char key[256];

        (void)snprintf(key, sizeof(key), "%.*s",
                       eq ? (int)(eq - o->labels.v[i]) : (int)strlen(o->labels.v[i]),
                       o->labels.v[i]);
        SET(labels, key, json_string(eq ? eq + 1 : ""));
    }
    for (size_t i = 0; i < o->expose.n && r >= 0; i++)
        r = add_publish(exposed, NULL, o->expose.v[i], err);
    for (size_t i = 0; i < o->publish.n && r >= 0; i++)
        r = add_publish(exposed, bindings, o->publish.v[i], err);
    for (size_t i = 0; i < o->volumes.n && r >= 0; i++) {
        if (strchr(o->volumes.v[i], ':'))
            json_array_append_new(binds, json_string(o->volumes.v[i]));
        else
            SET(volumes, o->volumes.v[i], json_object());
    }
    if (r >= 0 && o->tmpfs.n) {
        tmpfs = json_object();
        for (size_t i = 0; i < o->tmpfs.n; i++) {
            const char *c = strchr(o->tmpfs.v[i], ':');
            char key[512];

            (void)snprintf(key, sizeof(key), "%.*s",
                           c ? (int)(c - o->tmpfs.v[i]) : (int)strlen(o->tmpfs.v[i]),
                           o->tmpfs.v[i]);
            SET(tmpfs, key, json_string(c ? c + 1 : ""));
        }
    }
    if (r >= 0)
        r = parse_restart(o->restart, &restart, err);
    if (r >= 0 && o->memory && parse_size(o->memory, &memory) < 0)
        r = err_set(err, -EINVAL, "invalid size: '%s'", o->memory);
    if (r >= 0 && o->memory_swap) {
        if (strcmp(o->memory_swap, "-1") == 0)
            memswap = -1;
        else if (parse_size(o->memory_swap, &memswap) < 0)
            r = err_set(err, -EINVAL, "invalid size: '%s'", o->memory_swap);
    }
    if (r >= 0 && o->shm_size && parse_size(o->shm_size, &shm) < 0)
        r = err_set(err, -EINVAL, "invalid size: '%s'", o->shm_size);
    if (r >= 0 && o->cpus && cli_parse_nano_cpus(o->cpus, &nano) < 0)
        r = err_set(err, -EINVAL, "invalid value for --cpus: %s", o->cpus);
    if (r < 0)
        goto out;

    SET(body, "Hostname", json_string(o->hostname ? o->hostname : ""));
    SET(body, "Domainname", json_string(""));
    SET(body, "User", json_string(o->user ? o->user : ""));
    SET(body, "AttachStdin", json_boolean(att_in));
    SET(body, "AttachStdout", json_boolean(att_out));
    SET(body, "AttachStderr", json_boolean(att_err));
    if (json_object_size(exposed))
        SET(body, "ExposedPorts", json_incref(exposed));
    SET(body, "Tty", json_boolean(o->tty));
    SET(body, "OpenStdin", json_boolean(o->interactive));
    SET(body, "StdinOnce", json_boolean(stdin_once));
    SET(body, "Env", json_incref(env));
    SET(body, "Cmd", strv_array_or_null(&cmd));
    SET(body, "Image", json_string(o->image));
    SET(body, "Volumes", json_incref(volumes));
    SET(body, "WorkingDir", json_string(o->workdir ? o->workdir : ""));
    SET(body, "Entrypoint", o->entrypoint ? json_pack("[s]", o->entrypoint) : json_null());
    SET(body, "OnBuild", json_null());
    SET(body, "Labels", json_incref(labels));
    if (o->stop_signal)
        SET(body, "StopSignal", json_string(o->stop_signal));
    if (o->stop_timeout_set)
        SET(body, "StopTimeout", json_integer(o->stop_timeout));
    {
        json_t *health = NULL;
        r = health_json(o, &health, err);
        if (r < 0)
            goto out;
        if (health)
            SET(body, "Healthcheck", health);
    }

    SET(hc, "Binds", json_array_size(binds) ? json_incref(binds) : json_null());
    SET(hc, "ContainerIDFile", json_string(""));
    SET(hc, "LogConfig", json_pack("{s:s, s:{}}", "Type", "", "Config"));
    SET(hc, "NetworkMode", json_string(o->network ? o->network : "default"));
    SET(hc, "PortBindings", json_incref(bindings));
    SET(hc, "RestartPolicy", json_incref(restart));
    SET(hc, "AutoRemove", json_boolean(o->rm));
    SET(hc, "VolumeDriver", json_string(""));
    SET(hc, "VolumesFrom", json_null());
    console_size(o, &ch, &cw);
    SET(hc, "ConsoleSize", json_pack("[I, I]", ch, cw));
    SET(hc, "CapAdd", strv_array_or_null(&o->cap_add));
    SET(hc, "CapDrop", strv_array_or_null(&o->cap_drop));
    SET(hc, "CgroupnsMode", json_string(""));
    SET(hc, "Dns", strv_array(&o->dns));
    SET(hc, "DnsOptions", json_array());
    SET(hc, "DnsSearch", json_array());
    SET(hc, "ExtraHosts", strv_array_or_null(&o->add_host));
    SET(hc, "GroupAdd", json_null());
    SET(hc, "IpcMode", json_string(""));
    SET(hc, "Cgroup", json_string(""));
    SET(hc, "Links", json_null());
    SET(hc, "OomScoreAdj", json_integer(0));
    SET(hc, "PidMode", json_string(""));
    SET(hc, "Privileged", json_boolean(o->privileged));
    SET(hc, "PublishAllPorts", json_boolean(o->publish_all));
    SET(hc, "ReadonlyRootfs", json_boolean(o->read_only));
    SET(hc, "SecurityOpt", strv_array_or_null(&o->security_opt));
    if (tmpfs)
        SET(hc, "Tmpfs", json_incref(tmpfs));
    SET(hc, "UTSMode", json_string(""));
    SET(hc, "UsernsMode", json_string(""));
    SET(hc, "ShmSize", json_integer(shm));
    SET(hc, "Isolation", json_string(""));
    SET(hc, "CpuShares", json_integer(o->cpu_shares));
    SET(hc, "Memory", json_integer(memory));
    SET(hc, "NanoCpus", json_integer(nano));
    SET(hc, "CgroupParent", json_string(""));
    SET(hc, "BlkioWeight", json_integer(0));
    SET(hc, "BlkioWeightDevice", json_array());
    SET(hc, "BlkioDeviceReadBps", json_array());
    SET(hc, "BlkioDeviceWriteBps", json_array());
    SET(hc, "BlkioDeviceReadIOps", json_array());
    SET(hc, "BlkioDeviceWriteIOps", json_array());
    SET(hc, "CpuPeriod", json_integer(0));
    SET(hc, "CpuQuota", json_integer(0));
    SET(hc, "CpuRealtimePeriod", json_integer(0));
    SET(hc, "CpuRealtimeRuntime", json_integer(0));
    SET(hc, "CpusetCpus", json_string(""));
    SET(hc, "CpusetMems", json_string(""));
    SET(hc, "Devices", json_array());
    SET(hc, "DeviceCgroupRules", json_null());
    SET(hc, "DeviceRequests", json_null());
    SET(hc, "MemoryReservation", json_integer(0));
    SET(hc, "MemorySwap", json_integer(memswap));
    SET(hc, "MemorySwappiness", json_integer(-1));
    SET(hc, "OomKillDisable", json_false());
    SET(hc, "PidsLimit", json_integer(o->pids_limit));
    SET(hc, "Ulimits", json_array());
    SET(hc, "CpuCount", json_integer(0));
    SET(hc, "CpuPercent", json_integer(0));
    SET(hc, "IOMaximumIOps", json_integer(0));
    SET(hc, "IOMaximumBandwidth", json_integer(0));
    if (o->init)
        SET(hc, "Init", json_true());
    SET(hc, "MaskedPaths", json_null());
    SET(hc, "ReadonlyPaths", json_null());
    SET(body, "HostConfig", json_incref(hc));

    if (!o->network || strcmp(o->network, "default") == 0)
        SET(eps, "default", endpoint_settings());
    SET(body, "NetworkingConfig", json_pack("{s:O}", "EndpointsConfig", eps));
    *ret_body = json_incref(body);
out:
    json_decref(body);
    json_decref(hc);
    json_decref(env);
    json_decref(labels);
    json_decref(exposed);
    json_decref(bindings);
    json_decref(binds);
    json_decref(volumes);
    json_decref(restart);
    json_decref(tmpfs);
    json_decref(eps);
    return r;
}
