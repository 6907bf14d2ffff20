/*
 * node/api.c - Engine API routing: version prefixes, error mapping, query
 * and filter helpers, and the system routes (/_ping, /version, /info).
 */
#define LOG_MODULE "api"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "node/node.h"

int node_http_status(int code)
{
    switch (code) {
    case -ENOENT:
    case ERR_NO_SUCH_IMAGE:
        return 404;
    case -EEXIST:
    case -EBUSY:
        return 409;
    case -EINVAL:
    case -ERANGE:
    case -E2BIG:
    case -ENAMETOOLONG:
        return 400;
    case -EPERM:
    case -EACCES:
        return 403;
    case ERR_NOT_MODIFIED:
        return 304;
    case ERR_NOT_LEADER:
    case ERR_NOT_MANAGER:
        return 503;
    case -EFBIG:
        return 413;
    default:
        return 500;
    }
}

void node_reply_err(struct http_req *req, int code, const char *msg)
{
    int status = node_http_status(code);

    if (status == 304) {
        http_reply(req, 304, NULL, NULL, 0);
        return;
    }
    http_reply_error(req, status, "%s", msg && *msg ? msg : strerror(code < 0 ? -code : code));
}

/* ---- query helpers -------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static char *query_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return out;
}

void node_query_each(struct http_req *req, const char *key, void (*fn)(const char *, void *),
                     void *arg)
{
    const char *q = req->query;
    size_t klen = strlen(key);

    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
            char *v = query_decode(q + klen + 1, len - klen - 1);
            if (v) {
                fn(v, arg);
                free(v);
            }
        }
        q = amp ? amp + 1 : NULL;
    }
}

json_t *node_parse_filters(struct http_req *req, bool *ret_bad)
{
    const char *raw = http_query_get(req, "filters");
    json_error_t jerr;
    json_t *in;
    json_t *out;
    const char *key;
    json_t *val;

    *ret_bad = false;
    out = json_object();
    if (!raw || !*raw)
        return out;
    in = json_loads(raw, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        json_decref(out);
        *ret_bad = true;
        http_reply_error(req, 400, "invalid filter: %s", raw);
        return NULL;
    }
    json_object_foreach(in, key, val)
    {
        json_t *arr = json_array();
        if (json_is_object(val)) {
            const char *v;
            json_t *b;
            json_object_foreach(val, v, b)
            {
                if (json_is_true(b))
                    json_array_append_new(arr, json_string(v));
            }
        } else if (json_is_array(val)) {
            size_t i;
            json_t *v;
            json_array_foreach(val, i, v)
            {
                if (json_is_string(v))
                    json_array_append(arr, v);
            }
        } else {
            json_decref(arr);
            json_decref(in);
            json_decref(out);
            *ret_bad = true;
            http_reply_error(req, 400, "invalid filter '%s'", key);
            return NULL;
        }
        json_object_set_new(out, key, arr);
    }
    json_decref(in);
    return out;
}

bool node_filter_match(json_t *filters, const char *key, const char *value)
{
    json_t *arr = json_object_get(filters, key);
    size_t i;
    json_t *v;

    if (!arr || json_array_size(arr) == 0)
        return true;
    json_array_foreach(arr, i, v)
    {
        if (value && strcmp(json_string_value(v), value) == 0)
            return true;
    }
    return false;
}

/* ---- system routes -------------------------------------------------------- */

static void reply_ping(struct http_req *req)
{
    http_req_add_header(req, "Cache-Control", "no-cache, no-store, must-revalidate");
    http_req_add_header(req, "Pragma", "no-cache");
    http_reply(req, 200, "text/plain; charset=utf-8", "OK", 2);
}

static void reply_version(struct http_req *req)
{
    struct utsname u;
    char built[40];

    (void)uname(&u);
    time_fmt_rfc3339(time_now_ns(), built);
    http_reply_json(
        req, 200,
        json_pack(
            "{s:{s:s}, s:[{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}], s:s, s:s,"
            " s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
            "Platform", "Name", "shoal", "Components", "Name", "Engine", "Version", SHOAL_VERSION,
            "Details", "ApiVersion", SHOAL_API_VERSION, "Arch", "amd64", "MinAPIVersion",
            SHOAL_MIN_API_VERSION, "Os", "linux", "BuildTime", built, "Experimental", "false",
            "GitCommit", "shoal", "GoVersion", "none (C)", "KernelVersion", u.release, "Version",
            SHOAL_VERSION, "ApiVersion", SHOAL_API_VERSION, "MinAPIVersion", SHOAL_MIN_API_VERSION,
            "GitCommit", "shoal", "GoVersion", "none (C)", "Os", "linux", "Arch", "amd64",
            "KernelVersion", u.release, "BuildTime", built));
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return 0;
    while (readdir(d))
        n++;
    (void)closedir(d);
    return n > 2 ? n - 3 : 0; /* ".", ".." and the one opendir holds */
}

static const char *os_name(char *buf, size_t len)
{
    char *data = NULL;

    (void)snprintf(buf, len, "Linux");
    if (read_file("/etc/os-release", &data, NULL, 64 * 1024) == 0) {
        char *p = strstr(data, "PRETTY_NAME=");
        if (p) {
            p += 12;
            if (*p == '"')
                p++;
            size_t n = strcspn(p, "\"\n");
            (void)snprintf(buf, len, "%.*s", (int)n, p);
        }
        free(data);
    }
    return buf;
}

static void reply_info(struct http_req *req)
{
    struct node *n = node_current;
    struct utsname u;
    struct sysinfo si;
    char hostname[256] = "";
    char osn[256];
    char now[40];
    size_t total, running, paused, stopped;
    struct rt_image **imgs = NULL;
    size_t n_imgs = 0;
    json_t *o;

    (void)uname(&u);
    (void)sysinfo(&si);
    (void)gethostname(hostname, sizeof(hostname) - 1);
    rt_counts(n->rt, &total, &running, &paused, &stopped);
    if (rt_image_list(rt_images(n->rt), &imgs, &n_imgs, NULL) == 0)
        rt_image_list_free(imgs, n_imgs);
    time_fmt_rfc3339(time_now_ns(), now);
    o = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:[[s,s]], s:b, s:b, s:b, s:b, s:b, s:b,"
        " s:b, s:b, s:b, s:b, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i,"
        " s:I, s:s, s:s, s:s, s:[], s:s, s:[s], s:{s:s, s:s, s:s, s:b, s:s, s:n},"
        " s:s, s:b}",
        "ID", n->engine_id, "Containers", (json_int_t)total, "ContainersRunning",
        (json_int_t)running, "ContainersPaused", (json_int_t)paused, "ContainersStopped",
        (json_int_t)stopped, "Images", (json_int_t)n_imgs, "Driver", "overlay2", "DriverStatus",
        "Backing Filesystem", "extfs", "MemoryLimit", 1, "SwapLimit", 1, "CpuCfsPeriod", 1,
        "CpuCfsQuota", 1, "CPUShares", 1, "CPUSet", 1, "PidsLimit", 1, "IPv4Forwarding", 0,
        "BridgeNfIptables", 0, "Debug", log_max_level >= LOG_DEBUG, "SystemTime", now,
        "LoggingDriver", "json-file", "CgroupDriver", "cgroupfs", "CgroupVersion",
        rt_cgroup_mode(n->rt) == RT_CGROUP_V2 ? "2" : "1", "NEventsListener", 0, "KernelVersion",
        u.release, "OperatingSystem", os_name(osn, sizeof(osn)), "OSVersion", "", "OSType", "linux",
        "Architecture", u.machine, "NCPU", (int)sysconf(_SC_NPROCESSORS_ONLN), "MemTotal",
        (json_int_t)si.totalram * (json_int_t)si.mem_unit, "Name", hostname, "ServerVersion",
        SHOAL_VERSION, "DockerRootDir", n->cfg->data_root, "Labels", "DefaultRuntime", "shoal",
        "SecurityOptions", "name=seccomp,profile=default", "Swarm", "NodeID", "", "NodeAddr", "",
        "LocalNodeState", "inactive", "ControlAvailable", 0, "Error", "", "RemoteManagers",
        "InitBinary", "", "LiveRestoreEnabled", 1);
    if (o) {
        json_object_set_new(o, "Runtimes",
                            json_pack("{s:{s:s}, s:{s:s}}", "shoal", "path", "shoald (embedded)",
                                      "runc", "path", "shoald (embedded, runc-compatible name)"));
        json_object_set_new(o, "Plugins",
                            json_pack("{s:[], s:[s,s], s:[s], s:n}", "Volume", "Network", "host",
                                      "null", "Log", "json-file", "Authorization"));
        json_t *insecure = json_array();
        for (size_t i = 0; i < n->cfg->n_insecure_registries; i++)
            json_array_append_new(insecure, json_string(n->cfg->insecure_registries[i]));
        json_array_append_new(insecure, json_string("127.0.0.0/8"));
        json_object_set_new(
            o, "RegistryConfig",
            json_pack("{s:[], s:[], s:o, s:{}, s:[]}", "AllowNondistributableArtifactsCIDRs",
                      "AllowNondistributableArtifactsHostnames", "InsecureRegistryCIDRs", insecure,
                      "IndexConfigs", "Mirrors"));
        /* fields the CLI may template on; values where shoal has an answer */
        json_object_set_new(o, "BridgeNfIp6tables", json_false());
        json_object_set_new(o, "KernelMemory", json_true());
        json_object_set_new(o, "KernelMemoryTCP", json_true());
        json_object_set_new(o, "OomKillDisable", json_true());
        json_object_set_new(o, "ExperimentalBuild", json_false());
        json_object_set_new(o, "GenericResources", json_null());
        json_object_set_new(o, "HttpProxy", json_string(""));
        json_object_set_new(o, "HttpsProxy", json_string(""));
        json_object_set_new(o, "NoProxy", json_string(""));
        json_object_set_new(o, "IndexServerAddress", json_string("https://index.docker.io/v1/"));
        json_object_set_new(o, "Isolation", json_string(""));
        json_object_set_new(o, "NFd", json_integer(count_fds()));
        json_object_set_new(o, "NGoroutines", json_integer(1)); /* one event loop */
        json_object_set_new(o, "ContainerdCommit",
                            json_pack("{s:s, s:s}", "ID", "", "Expected", ""));
        json_object_set_new(o, "RuncCommit", json_pack("{s:s, s:s}", "ID", "", "Expected", ""));
        json_object_set_new(o, "InitCommit", json_pack("{s:s, s:s}", "ID", "", "Expected", ""));
        json_object_set_new(o, "Warnings", json_array());
        json_object_set_new(o, "Swarm", node_swarm_info());
    }
    http_reply_json(req, 200, o);
}

bool node_api_system(struct http_req *req, const char *path)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (strcmp(path, "/_ping") == 0 && get)
        reply_ping(req);
    else if (strcmp(path, "/version") == 0 && get)
        reply_version(req);
    else if (strcmp(path, "/info") == 0 && get)
        reply_info(req);
    else
        return false;
    return true;
}

/* ---- routing -------------------------------------------------------------- */

static void not_found(struct http_req *req)
{
    http_reply_error(req, 404, "page not found");
}

/* Digits at *p (at most 6) -> *v; advances *p. */
static bool version_number(const char **p, unsigned *v)
{
    const char *s = *p;
    unsigned x = 0;

    if (!isdigit((unsigned char)*s))
        return false;
    for (; isdigit((unsigned char)*s); s++) {
        if (s - *p >= 6)
            return false;
        x = x * 10 + (unsigned)(*s - '0');
    }
    *v = x;
    *p = s;
    return true;
}

/* Strip "/v1.NN" and check the version; replies and returns NULL if bad. */
static const char *strip_version(struct http_req *req, const char *path)
{
    unsigned major, minor;
    const char *s = path + 2;

    if (strncmp(path, "/v", 2) != 0 || !isdigit((unsigned char)path[2]))
        return path;
    if (!version_number(&s, &major) || *s++ != '.' || !version_number(&s, &minor) ||
        (*s && *s != '/')) {
        not_found(req);
        return NULL;
    }
    if (major != 1 || minor > 41) {
        http_reply_error(req, 400,
                         "client version %u.%u is too new. Maximum supported API version is %s",
                         major, minor, SHOAL_API_VERSION);
        return NULL;
    }
    if (minor < 24) {
        http_reply_error(req, 400,
                         "client version %u.%u is too old. Minimum supported API version is %s, "
                         "please upgrade your client to a newer version",
                         major, minor, SHOAL_MIN_API_VERSION);
        return NULL;
    }
    return s;
}

static void route_complete(struct http_req *req)
{
    const char *path = strip_version(req, req->path);

    if (!path)
        return;
    log_debug("%s %s", req->method, req->path);
    if (node_api_events(req, path) || node_api_system(req, path) || node_api_exec(req, path) ||
        node_api_containers(req, path) || node_api_registry(req, path) ||
        node_api_images(req, path) || node_api_services(req, path) ||
        node_api_networks(req, path) || node_api_swarm(req, path))
        return;
    /* What `docker inspect` probes for other object types must be a 404. */
    not_found(req);
}

/* The client left before the request was handled: drop a spooled body. */
static void route_abort(struct http_req *req)
{
    if (req->body_fd >= 0) {
        (void)close(req->body_fd);
        req->body_fd = -1;
    }
}

void node_api_route(struct http_req *req)
{
    /* Image uploads and docker cp archives are spooled to disk; everything
     * else is a small JSON body. */
    if ((strcmp(req->method, "POST") == 0 &&
         ((strstr(req->path, "/images/create") && http_query_get(req, "fromSrc")) ||
          strstr(req->path, "/images/load"))) ||
        (strcmp(req->method, "PUT") == 0 && strstr(req->path, "/archive"))) {
        char tmpl[4096];
        (void)snprintf(tmpl, sizeof(tmpl), "%s/tmp", node_current->cfg->data_root);
        (void)mkdir_p(tmpl, 0700);
        int fd = open(tmpl, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
            req->body_fd = fd;
            req->body_limit = UINT64_C(64) << 30;
        }
    }
    req->on_complete = route_complete;
    req->on_abort = route_abort;
}
