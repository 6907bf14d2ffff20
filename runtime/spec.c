/*
 * runtime/spec.c - turn a container's Docker-shaped Config/HostConfig into
 * the RtSpec a monitor runs (proto/runtime.proto), with Docker's defaults:
 * capabilities, seccomp, masked and read-only paths, rlimits.
 */
#define LOG_MODULE "runtime"

#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/internal.h"
#include "runtime/mounts.h"
#include "runtime/seccomp.h"

/* Docker's masked paths (moby master, incl. the three newer entries). */
static const char *const masked_paths[] = {
    "/proc/acpi",       "/proc/asound",        "/proc/interrupts",  "/proc/kcore",
    "/proc/keys",       "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
    "/proc/timer_list", "/proc/timer_stats",   "/sys/firmware",     "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

const void *rt__seccomp_for(struct rt *rt, uint64_t mask, size_t *ret_len, struct err *err)
{
    void *bpf = NULL;
    size_t len = 0;
    int r;

    for (size_t i = 0; i < rt->n_seccomp; i++) {
        if (rt->seccomp[i].mask == mask) {
            *ret_len = rt->seccomp[i].len;
            return rt->seccomp[i].bpf;
        }
    }
    r = rt_seccomp_compile(NULL, mask, &bpf, &len, err);
    if (r < 0)
        return NULL;
    if (rt->n_seccomp == ARRAY_SIZE(rt->seccomp)) {
        free(rt->seccomp[0].bpf);
        memmove(&rt->seccomp[0], &rt->seccomp[1], sizeof(rt->seccomp[0]) * (rt->n_seccomp - 1));
        rt->n_seccomp--;
    }
    rt->seccomp[rt->n_seccomp].mask = mask;
    rt->seccomp[rt->n_seccomp].bpf = bpf;
    rt->seccomp[rt->n_seccomp].len = len;
    rt->n_seccomp++;
    *ret_len = len;
    return bpf;
}

static char **str_array(json_t *arr, size_t *ret_n)
{
    size_t n = json_array_size(arr);
    char **out = calloc(n + 1, sizeof(*out));
    size_t i;
    json_t *v;

    if (!out)
        return NULL;
    json_array_foreach(arr, i, v)
    {
        out[i] = (char *)json_string_value(v);
    }
    *ret_n = n;
    return out;
}

static bool sec_opt(json_t *hc, const char *a, const char *b, const char *c2)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(hc, "SecurityOpt"), i, v)
    {
        const char *s = json_string_value(v);
        if (s && (strcmp(s, a) == 0 || (b && strcmp(s, b) == 0) || (c2 && strcmp(s, c2) == 0)))
            return true;
    }
    return false;
}

static int rlimit_resource(const char *name)
{
    static const struct {
        const char *n;
        int r;
    } t[] = {{"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
             {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
             {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
             {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
             {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
             {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
             {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
             {"stack", RLIMIT_STACK}};

    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        if (name && strcmp(name, t[i].n) == 0)
            return t[i].r;
    }
    return -1;
}

/* The capabilities shoald itself may hand out (its bounding set). */
static uint64_t bounding_caps(void)
{
    static uint64_t cached;
    char *data = NULL;

    if (cached)
        return cached;
    if (read_file("/proc/self/status", &data, NULL, 1 << 16) == 0) {
        const char *p = strstr(data, "CapBnd:");
        if (p)
            cached = strtoull(p + 7, NULL, 16);
        free(data);
    }
    if (!cached)
        cached = ~0ULL;
    return cached;
}

int rt__build_spec(struct rt_container *c, const struct rt_image *img, struct buf *out,
                   struct err *err)
{
    struct rt *rt = c->rt;
    json_t *cfg = c->config;
    json_t *hc = c->host_config;
    Shoal__Rt__RtSpec spec = SHOAL__RT__RT_SPEC__INIT;
    Shoal__Rt__RtMount *mounts = NULL;
    Shoal__Rt__RtMount **mount_ptrs = NULL;
    json_t *user_mounts = NULL;
    Shoal__Rt__RtRlimit rlims[16];
    Shoal__Rt__RtRlimit *rlim_ptrs[16];
    json_t *argv = json_array();
    char upper[4096], work[4096], rootfs[4096], logp[4096], exitp[4096];
    char srcs[3][4096];
    char cg_parent[256];
    char **lower = NULL;
    char **args = NULL, **env = NULL;
    uint64_t caps = RT_DEFAULT_CAPS;
    bool privileged = json_is_true(json_object_get(hc, "Privileged"));
    const char *nm = json_string_value(json_object_get(hc, "NetworkMode"));
    size_t i, n;
    json_t *v;
    int r = 0;

    /* argv = Entrypoint + Cmd */
    json_array_extend(argv, json_object_get(cfg, "Entrypoint"));
    json_array_extend(argv, json_object_get(cfg, "Cmd"));
    if (json_array_size(argv) == 0) {
        json_decref(argv);
        return err_set(err, -EINVAL, "No command specified");
    }
    args = str_array(argv, &spec.n_args);
    env = str_array(json_object_get(cfg, "Env"), &spec.n_env);
    lower = calloc(img->n_layers + 1, sizeof(*lower));
    if (!args || !env || !lower) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    spec.id = c->id;
    spec.args = args;
    spec.env = env;
    spec.cwd = (char *)(json_string_length(json_object_get(cfg, "WorkingDir"))
                            ? json_string_value(json_object_get(cfg, "WorkingDir"))
                            : "/");
    if (spec.cwd[0] != '/') {
        r = err_set(err, -EINVAL,
                    "the working directory '%s' is invalid, it needs to be an "
                    "absolute path",
                    spec.cwd);
        goto out;
    }
    spec.user = (char *)(json_string_value(json_object_get(cfg, "User")) ?: "");
    spec.hostname = (char *)json_string_value(json_object_get(cfg, "Hostname"));
    spec.domainname = (char *)(json_string_value(json_object_get(cfg, "Domainname")) ?: "");
    /* overlay lowerdir lists the topmost layer first */
    for (i = 0; i < img->n_layers; i++)
        lower[i] = img->layers[img->n_layers - 1 - i];
    spec.lowerdirs = lower;
    spec.n_lowerdirs = img->n_layers;
    (void)snprintf(upper, sizeof(upper), "%s/upper", c->dir);
    (void)snprintf(work, sizeof(work), "%s/work", c->dir);
    (void)snprintf(rootfs, sizeof(rootfs), "%s/rootfs", c->dir);
    spec.upperdir = upper;
    spec.workdir = work;
    spec.rootfs = rootfs;
    if (c->netns_path[0]) {
        /* a namespace prepared by the network hooks (bridge, user network, container:X) */
        spec.net_mode = SHOAL__RT__RT_NET_MODE__RT_NET_PATH;
        spec.netns_path = c->netns_path;
    } else if (nm && strcmp(nm, "host") == 0) {
        spec.net_mode = SHOAL__RT__RT_NET_MODE__RT_NET_HOST;
    } else {
        spec.net_mode = SHOAL__RT__RT_NET_MODE__RT_NET_NONE;
    }

    /* capabilities */
    if (privileged) {
        caps = ~0ULL;
    } else {
        json_array_foreach(json_object_get(hc, "CapAdd"), i, v)
        {
            uint64_t m = 0;
            if (rt_cap_parse(json_string_value(v), &m) == 0)
                caps |= m;
        }
        json_array_foreach(json_object_get(hc, "CapDrop"), i, v)
        {
            uint64_t m = 0;
            if (rt_cap_parse(json_string_value(v), &m) == 0)
                caps &= ~m;
        }
    }
    caps &= bounding_caps();
    spec.cap_mask = caps;
    spec.privileged = privileged;
    spec.no_new_privs =
        sec_opt(hc, "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true");
    if (!privileged && !sec_opt(hc, "seccomp=unconfined", "seccomp:unconfined", NULL)) {
        size_t len = 0;
        const void *bpf = rt__seccomp_for(rt, caps, &len, err);
        if (!bpf) {
            r = err->code ? err->code : -EINVAL;
            goto out;
        }
        spec.seccomp_bpf.data = (uint8_t *)bpf;
        spec.seccomp_bpf.len = len;
    }

    /* resources */
    spec.memory_limit = json_integer_value(json_object_get(hc, "Memory"));
    spec.memory_swap = json_integer_value(json_object_get(hc, "MemorySwap"));
    if (json_integer_value(json_object_get(hc, "NanoCpus")) > 0) {
        spec.cpu_period = 100000;
        spec.cpu_quota = json_integer_value(json_object_get(hc, "NanoCpus")) * 100000 / 1000000000;
    } else {
        spec.cpu_quota = json_integer_value(json_object_get(hc, "CpuQuota"));
        spec.cpu_period = (uint64_t)json_integer_value(json_object_get(hc, "CpuPeriod"));
    }
    spec.cpu_shares = (uint64_t)json_integer_value(json_object_get(hc, "CpuShares"));
    spec.pids_limit = json_integer_value(json_object_get(hc, "PidsLimit"));
    if (spec.pids_limit < 0)
        spec.pids_limit = 0;
    (void)snprintf(cg_parent, sizeof(cg_parent), "%s", rt->cgroup_parent);
    spec.cgroup_parent = cg_parent;

    /* bind and tmpfs mounts (runtime/mounts.c): validated at create, the
     * missing -v sources made now, as Docker does at start */
    r = rt_mounts_parse(cfg, hc, false, &user_mounts, err);
    if (r == 0)
        r = rt_mounts_prepare(user_mounts, err);
    if (r < 0)
        goto out;
    n = json_array_size(user_mounts) + 3;
    mounts = calloc(n, sizeof(*mounts));
    mount_ptrs = calloc(n, sizeof(*mount_ptrs));
    if (!mounts || !mount_ptrs) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    spec.mounts = mount_ptrs;
    spec.n_mounts = 0;
    /* /etc/hostname, /etc/hosts, /etc/resolv.conf from the container dir,
     * unless the user mounts something of their own there */
    static const char *const etc[] = {"hostname", "hosts", "resolv.conf"};
    for (i = 0; i < ARRAY_SIZE(etc); i++) {
        Shoal__Rt__RtMount *mt = &mounts[spec.n_mounts];
        char dst[64];
        size_t k;

        (void)snprintf(dst, sizeof(dst), "/etc/%s", etc[i]);
        json_array_foreach(user_mounts, k, v)
        {
            if (strcmp(json_string_value(json_object_get(v, "Destination")), dst) == 0)
                break;
        }
        if (k < json_array_size(user_mounts))
            continue;
        shoal__rt__rt_mount__init(mt);
        (void)snprintf(srcs[i], sizeof(srcs[i]), "%s/%s", c->dir, etc[i]);
        mt->source = srcs[i];
        mt->destination = (char *)(i == 0   ? "/etc/hostname"
                                   : i == 1 ? "/etc/hosts"
                                            : "/etc/resolv.conf");
        mt->type = (char *)"bind";
        mt->flags = MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        mt->data = (char *)"";
        mount_ptrs[spec.n_mounts++] = mt;
    }
    json_array_foreach(user_mounts, i, v)
    {
        Shoal__Rt__RtMount *mt = &mounts[spec.n_mounts];
        const char *type = json_string_value(json_object_get(v, "Type"));

        shoal__rt__rt_mount__init(mt);
        mt->type = (char *)type;
        mt->source =
            (char *)(strcmp(type, "tmpfs") == 0 ? "tmpfs"
                                                : json_string_value(json_object_get(v, "Source")));
        mt->destination = (char *)json_string_value(json_object_get(v, "Destination"));
        mt->flags = (uint64_t)json_integer_value(json_object_get(v, "Flags"));
        mt->data = (char *)json_string_value(json_object_get(v, "Data"));
        mount_ptrs[spec.n_mounts++] = mt;
    }

    /* rlimits: explicit defaults instead of whatever shoald runs with */
    n = 0;
    shoal__rt__rt_rlimit__init(&rlims[n]);
    rlims[n].resource = RLIMIT_NOFILE;
    rlims[n].soft = rlims[n].hard = 1048576;
    {
        /* Raising the hard limit needs CAP_SYS_RESOURCE, which some hosts
         * (sandboxes, rootless set-ups) do not give shoald: stay within it. */
        struct rlimit cur;
        if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            cur.rlim_max < rlims[n].hard && !(bounding_caps() & (1ULL << 24)))
            rlims[n].soft = rlims[n].hard = cur.rlim_max;
    }
    rlim_ptrs[n] = &rlims[n];
    n++;
    json_array_foreach(json_object_get(hc, "Ulimits"), i, v)
    {
        int res = rlimit_resource(json_string_value(json_object_get(v, "Name")));
        if (res < 0) {
            r = err_set(err, -EINVAL, "invalid ulimit type: %s",
                        json_string_value(json_object_get(v, "Name")) ?: "?");
            goto out;
        }
        if (n == ARRAY_SIZE(rlims))
            break;
        size_t k;
        for (k = 0; k < n; k++) {
            if ((int)rlims[k].resource == res)
                break;
        }
        if (k == n) {
            shoal__rt__rt_rlimit__init(&rlims[n]);
            rlim_ptrs[n] = &rlims[n];
            n++;
        }
        rlims[k].resource = (uint32_t)res;
        rlims[k].soft = (uint64_t)json_integer_value(json_object_get(v, "Soft"));
        rlims[k].hard = (uint64_t)json_integer_value(json_object_get(v, "Hard"));
    }
    spec.rlimits = rlim_ptrs;
    spec.n_rlimits = n;

    (void)snprintf(logp, sizeof(logp), "%s/%s-json.log", c->dir, c->id);
    (void)snprintf(exitp, sizeof(exitp), "%s/exit.pb", c->dir);
    spec.log_path = logp;
    {
        json_t *lo = json_object_get(json_object_get(hc, "LogConfig"), "Config");
        const char *ms = json_string_value(json_object_get(lo, "max-size"));
        const char *mf = json_string_value(json_object_get(lo, "max-file"));
        int64_t sz = 0;
        uint64_t nf = 1;
        if (ms && parse_size(ms, &sz) == 0 && sz > 0 && sz <= 0xffffffffLL)
            spec.log_max_size = (uint32_t)sz;
        if (mf && parse_u64(mf, &nf) == 0 && nf >= 1 && nf <= 100)
            spec.log_max_files = (uint32_t)nf;
        else
            spec.log_max_files = 1;
    }
    spec.exit_path = exitp;
    spec.state_dir = c->state_dir;
    spec.tty = json_is_true(json_object_get(cfg, "Tty"));
    {
        /* HostConfig.ConsoleSize = [rows, cols]: the pty starts at the client's size */
        json_t *cs = json_object_get(hc, "ConsoleSize");
        json_int_t rows = json_integer_value(json_array_get(cs, 0));
        json_int_t cols = json_integer_value(json_array_get(cs, 1));
        if (rows > 0 && rows <= 0xffff && cols > 0 && cols <= 0xffff) {
            spec.console_rows = (uint32_t)rows;
            spec.console_cols = (uint32_t)cols;
        }
    }
    spec.open_stdin = json_is_true(json_object_get(cfg, "OpenStdin"));
    if (!privileged) {
        spec.masked_paths = (char **)masked_paths;
        spec.n_masked_paths = ARRAY_SIZE(masked_paths);
        spec.readonly_paths = (char **)readonly_paths;
        spec.n_readonly_paths = ARRAY_SIZE(readonly_paths);
    }
    spec.readonly_rootfs = json_is_true(json_object_get(hc, "ReadonlyRootfs"));
    spec.umask = 022;

    n = shoal__rt__rt_spec__get_packed_size(&spec);
    if (buf_reserve(out, n) < 0) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    out->len = shoal__rt__rt_spec__pack(&spec, (uint8_t *)out->data);
out:
    free(args);
    free(env);
    free(lower);
    free(mounts);
    free(mount_ptrs);
    json_decref(user_mounts);
    json_decref(argv);
    return r;
}
