/*
 * runtime/inspect.c - how containers look through the Engine API:
 * inspect objects, list summaries, status texts, capability names.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "runtime/internal.h"
#include "runtime/mounts.h"

static const char *const cap_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

int rt_cap_parse(const char *name, uint64_t *ret_mask)
{
    if (!name)
        return -EINVAL;
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    if (strcasecmp(name, "ALL") == 0) {
        *ret_mask = (1ULL << ARRAY_SIZE(cap_names)) - 1;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++) {
        if (strcasecmp(name, cap_names[i]) == 0) {
            *ret_mask = 1ULL << i;
            return 0;
        }
    }
    return -EINVAL;
}

void rt_status_text(enum rt_state st, int exit_code, int64_t started_ns, int64_t finished_ns,
                    int64_t now_ns, char *out, size_t outlen)
{
    char dur[64];

    switch (st) {
    case RT_STATE_RUNNING:
        time_human_duration(now_ns - started_ns, dur, sizeof(dur));
        (void)snprintf(out, outlen, "Up %s", dur);
        return;
    case RT_STATE_EXITED:
        if (finished_ns <= 0) {
            (void)snprintf(out, outlen, "Exited (%d)", exit_code);
            return;
        }
        time_human_duration(now_ns - finished_ns, dur, sizeof(dur));
        (void)snprintf(out, outlen, "Exited (%d) %s ago", exit_code, dur);
        return;
    case RT_STATE_REMOVING:
        (void)snprintf(out, outlen, "Removal In Progress");
        return;
    case RT_STATE_DEAD:
        (void)snprintf(out, outlen, "Dead");
        return;
    case RT_STATE_CREATED:
    default:
        (void)snprintf(out, outlen, "Created");
        return;
    }
}

static bool needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++) {
        if (strchr(" \t\n'\"\\$`;&|<>()*?[]{}!#~", *s))
            return true;
    }
    return false;
}

char *rt_command_display(json_t *args)
{
    struct buf b;
    size_t i;
    json_t *v;

    buf_init(&b);
    json_array_foreach(args, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (i > 0)
            (void)buf_puts(&b, " ");
        if (!needs_quotes(s)) {
            (void)buf_puts(&b, s);
            continue;
        }
        (void)buf_puts(&b, "'");
        for (const char *p = s; *p; p++) {
            if (*p == '\'')
                (void)buf_puts(&b, "'\"'\"'");
            else
                (void)buf_append(&b, p, 1);
        }
        (void)buf_puts(&b, "'");
    }
    return buf_steal(&b);
}

static json_t *argv_of(struct rt_container *c)
{
    json_t *argv = json_array();

    json_array_extend(argv, json_object_get(c->config, "Entrypoint"));
    json_array_extend(argv, json_object_get(c->config, "Cmd"));
    return argv;
}

static const char *state_name(struct rt_container *c)
{
    if (c->restarting)
        return "restarting";
    if (c->state == RT_STATE_RUNNING && c->paused)
        return "paused";
    switch (c->state) {
    case RT_STATE_RUNNING:
        return "running";
    case RT_STATE_EXITED:
        return "exited";
    case RT_STATE_REMOVING:
        return "removing";
    case RT_STATE_DEAD:
        return "dead";
    case RT_STATE_CREATED:
    default:
        return "created";
    }
}

static const char *network_name(struct rt_container *c)
{
    const char *nm = json_string_value(json_object_get(c->host_config, "NetworkMode"));

    if (!nm || !*nm || strcmp(nm, "default") == 0 || strcmp(nm, "bridge") == 0)
        return "none";
    return nm;
}

static json_t *endpoint_json(void)
{
    return json_pack("{s:n, s:n, s:n, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n}", "IPAMConfig",
                     "Links", "Aliases", "NetworkID", "", "EndpointID", "", "Gateway", "",
                     "IPPrefixLen", 0, "IPAddress", "", "IPv6Gateway", "", "GlobalIPv6PrefixLen", 0,
                     "MacAddress", "", "DriverOpts");
}

json_t *rt_container_summary(struct rt_container *c)
{
    char status[96];
    json_t *argv = argv_of(c);
    char *cmd = rt_command_display(argv);
    json_t *labels = json_object_get(c->config, "Labels");
    json_t *o;

    labels = json_is_object(labels) ? json_incref(labels) : json_object();

    rt_status_text(c->state, c->exit_code, c->started_ns, c->finished_ns, time_now_ns(), status,
                   sizeof(status));
    if (c->restarting) {
        char dur[64];
        time_human_duration(time_now_ns() - c->finished_ns, dur, sizeof(dur));
        (void)snprintf(status, sizeof(status), "Restarting (%d) %s ago", c->exit_code, dur);
    } else if (c->state == RT_STATE_RUNNING && c->paused) {
        size_t l = strlen(status);
        (void)snprintf(status + l, sizeof(status) - l, " (Paused)");
    } else if (c->state == RT_STATE_RUNNING && rt_health_get(c) != RT_HEALTH_NONE) {
        size_t l = strlen(status);
        enum rt_health_status hs = rt_health_get(c);
        (void)snprintf(status + l, sizeof(status) - l, " (%s%s)",
                       hs == RT_HEALTH_STARTING ? "health: " : "", rt_health_status_name(hs));
    }
    o = json_pack("{s:s, s:[s+], s:s, s:s, s:s, s:I, s:[], s:o, s:s, s:s, s:{s:s},"
                  " s:{s:{s:o}}, s:[]}",
                  "Id", c->id, "Names", "/", c->name, "Image",
                  json_string_value(json_object_get(c->config, "Image")) ?: "", "ImageID",
                  c->image_id, "Command", cmd ? cmd : "", "Created",
                  (json_int_t)(c->created_ns / 1000000000LL), "Ports", "Labels", labels, "State",
                  state_name(c), "Status", status, "HostConfig", "NetworkMode",
                  json_string_value(json_object_get(c->host_config, "NetworkMode")) ?: "default",
                  "NetworkSettings", "Networks", network_name(c), endpoint_json(), "Mounts");
    free(cmd);
    json_decref(argv);
    return o;
}

/* The stored HostConfig is the client's; the fields Engine 20.10's inspect
 * fills in on the daemon side are added where the client left them out:
 * the masked and read-only paths (the lists runtime/spec.c applies to
 * unprivileged containers), KernelMemory*, Runtime. */
static json_t *inspect_host_config(json_t *stored)
{
    static const char *const masked[] = {
        "/proc/acpi",        "/proc/asound",  "/proc/interrupts",
        "/proc/kcore",       "/proc/keys",    "/proc/latency_stats",
        "/proc/sched_debug", "/proc/scsi",    "/proc/timer_list",
        "/proc/timer_stats", "/sys/firmware", "/sys/devices/virtual/powercap",
    };
    static const char *const readonly[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    };
    json_t *hc = json_is_object(stored) ? json_deep_copy(stored) : json_object();
    bool privileged;

    if (!hc)
        return NULL;
    privileged = json_is_true(json_object_get(hc, "Privileged"));
    if (!json_object_get(hc, "KernelMemory"))
        (void)json_object_set_new(hc, "KernelMemory", json_integer(0));
    if (!json_object_get(hc, "KernelMemoryTCP"))
        (void)json_object_set_new(hc, "KernelMemoryTCP", json_integer(0));
    if (!json_is_string(json_object_get(hc, "Runtime")))
        (void)json_object_set_new(hc, "Runtime", json_string("runc"));
    if (!privileged && !json_is_array(json_object_get(hc, "MaskedPaths"))) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < ARRAY_SIZE(masked); i++)
            (void)json_array_append_new(a, json_string(masked[i]));
        (void)json_object_set_new(hc, "MaskedPaths", a ? a : json_null());
    }
    if (!privileged && !json_is_array(json_object_get(hc, "ReadonlyPaths"))) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < ARRAY_SIZE(readonly); i++)
            (void)json_array_append_new(a, json_string(readonly[i]));
        (void)json_object_set_new(hc, "ReadonlyPaths", a ? a : json_null());
    }
    return hc;
}

/* Mounts[]: the container's binds and --mount tmpfs mounts, as Docker lists them. */
static json_t *mounts_json(struct rt_container *c)
{
    json_t *list = NULL;
    json_t *out;

    if (rt_mounts_parse(c->config, c->host_config, false, &list, NULL) < 0)
        return json_array();
    out = rt_mounts_inspect(list);
    json_decref(list);
    return out ? out : json_array();
}

json_t *rt_container_inspect(struct rt_container *c)
{
    char created[40], started[40], finished[40];
    char path[4][4096];
    char lower[16384];
    json_t *argv = argv_of(c);
    json_t *args = json_array();
    json_t *o;
    json_t *state;
    json_t *graph;
    json_t *net;
    size_t len = 0;

    time_fmt_rfc3339(c->created_ns, created);
    time_fmt_rfc3339(c->started_ns, started);
    time_fmt_rfc3339(c->finished_ns, finished);
    for (size_t i = 1; i < json_array_size(argv); i++)
        json_array_append(args, json_array_get(argv, i));
    (void)snprintf(path[0], sizeof(path[0]), "%s/resolv.conf", c->dir);
    (void)snprintf(path[1], sizeof(path[1]), "%s/hostname", c->dir);
    (void)snprintf(path[2], sizeof(path[2]), "%s/hosts", c->dir);
    state =
        json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:s, s:s, s:s}", "Status",
                  state_name(c), "Running", c->state == RT_STATE_RUNNING || c->restarting, "Paused",
                  c->state == RT_STATE_RUNNING && c->paused, "Restarting", c->restarting,
                  "OOMKilled", c->oom_killed, "Dead", c->state == RT_STATE_DEAD, "Pid",
                  c->state == RT_STATE_RUNNING ? c->pid : 0, "ExitCode", c->exit_code, "Error",
                  c->error ? c->error : "", "StartedAt", started, "FinishedAt", finished);
    {
        json_t *health = rt_health_inspect(c);
        if (health)
            json_object_set_new(state, "Health", health);
    }
    lower[0] = '\0';
    {
        struct rt_image *img = NULL;
        if (rt_image_get(c->rt->images, c->image_id, &img, NULL) == 0) {
            for (size_t i = img->n_layers; i > 0; i--) {
                int n = snprintf(lower + len, sizeof(lower) - len, "%s%s", len ? ":" : "",
                                 img->layers[i - 1]);
                if (n < 0 || (size_t)n >= sizeof(lower) - len)
                    break;
                len += (size_t)n;
            }
            rt_image_free(img);
        }
    }
    (void)snprintf(path[3], sizeof(path[3]), "%s/upper", c->dir);
    graph = json_pack("{s:{s:s, s:s, s:s, s:s}, s:s}", "Data", "LowerDir", lower, "MergedDir", "",
                      "UpperDir", path[3], "WorkDir", "", "Name", "overlay2");
    {
        char merged[4096], workd[4096];
        (void)snprintf(merged, sizeof(merged), "%s/rootfs", c->dir);
        (void)snprintf(workd, sizeof(workd), "%s/work", c->dir);
        json_object_set_new(json_object_get(graph, "Data"), "MergedDir", json_string(merged));
        json_object_set_new(json_object_get(graph, "Data"), "WorkDir", json_string(workd));
    }
    net = json_pack("{s:s, s:s, s:b, s:s, s:i, s:{}, s:s, s:n, s:n, s:s, s:s, s:i, s:s, s:i,"
                    " s:s, s:s, s:{s:o}}",
                    "Bridge", "", "SandboxID", "", "HairpinMode", 0, "LinkLocalIPv6Address", "",
                    "LinkLocalIPv6PrefixLen", 0, "Ports", "SandboxKey", "", "SecondaryIPAddresses",
                    "SecondaryIPv6Addresses", "EndpointID", "", "Gateway", "",
                    "GlobalIPv6PrefixLen", 0, "IPAddress", "", "IPPrefixLen", 0, "IPv6Gateway", "",
                    "MacAddress", "", "Networks", network_name(c), endpoint_json());
    {
        char logp[4096], name[300];
        (void)snprintf(logp, sizeof(logp), "%s/%s-json.log", c->dir, c->id);
        (void)snprintf(name, sizeof(name), "/%s", c->name);
        o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s,"
                      " s:s, s:s, s:s, s:n, s:o, s:o, s:o, s:O, s:o}",
                      "Id", c->id, "Created", created, "Path",
                      json_string_value(json_array_get(argv, 0)) ?: "", "Args", args, "State",
                      state, "Image", c->image_id, "ResolvConfPath", path[0], "HostnamePath",
                      path[1], "HostsPath", path[2], "LogPath", logp, "Name", name, "RestartCount",
                      c->restart_count, "Driver", "overlay2", "Platform", "linux", "MountLabel", "",
                      "ProcessLabel", "", "AppArmorProfile", "", "ExecIDs", "HostConfig",
                      inspect_host_config(c->host_config), "GraphDriver", graph, "Mounts",
                      mounts_json(c), "Config", c->config, "NetworkSettings", net);
    }
    if (o && c->networking)
        json_object_set(o, "NetworkingConfig", c->networking);
    json_decref(argv);
    return o;
}
