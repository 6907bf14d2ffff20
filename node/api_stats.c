/*
 * node/api_stats.c - GET /containers/{id}/stats in dockerd's StatsJSON shape,
 * from the container's cgroup (v1 or v2), /proc/stat and the container
 * init's /proc/<pid>/net/dev.
 *
 *   stream=1 (default)        one object per second (precpu = the previous one)
 *   stream=0                  two samples one second apart, one object
 *   stream=0&one-shot=1       one sample, empty precpu_stats
 */
#define LOG_MODULE "api"

#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "lib/util.h"

#include "node/node.h"

#define STATS_INTERVAL_MS 1000

struct stats_op {
    struct http_req *req;
    struct rt_container *c;
    uv_timer_t timer;
    json_t *prev_cpu; /* cpu_stats of the previous sample */
    int64_t prev_ns;
    bool stream;
    bool done;
};

static uint64_t system_cpu_ns(void)
{
    char *data = NULL;
    unsigned long long v[8] = {0};
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t sum = 0;

    if (hz <= 0)
        hz = 100;
    if (read_file("/proc/stat", &data, NULL, 1 << 20) < 0)
        return 0;
    if (sscanf(data, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) >= 4) {
        for (int i = 0; i < 8; i++)
            sum += v[i];
    }
    free(data);
    return sum * (1000000000ull / (uint64_t)hz);
}

static json_t *empty_cpu(void)
{
    return json_pack("{s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "cpu_usage", "total_usage",
                     (json_int_t)0, "usage_in_kernelmode", (json_int_t)0, "usage_in_usermode",
                     (json_int_t)0, "throttling_data", "periods", (json_int_t)0,
                     "throttled_periods", (json_int_t)0, "throttled_time", (json_int_t)0);
}

static json_t *memory_stat_map(struct rt *rt, const char *cg)
{
    json_t *o = json_object();
    char *data = NULL;
    char *save = NULL;

    if (rt_cgroup_read(rt_cgroup_root(rt), rt_cgroup_mode(rt), cg, "memory", "memory.stat", &data,
                       NULL) < 0)
        return o;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[128];
        unsigned long long v;
        if (sscanf(line, "%127s %llu", key, &v) == 2)
            json_object_set_new(o, key, json_integer((json_int_t)v));
    }
    free(data);
    return o;
}

static json_t *percpu(struct rt *rt, const char *cg)
{
    json_t *a;
    char *data = NULL;
    char *p;

    if (rt_cgroup_mode(rt) != RT_CGROUP_V1 ||
        rt_cgroup_read(rt_cgroup_root(rt), RT_CGROUP_V1, cg, "cpuacct", "cpuacct.usage_percpu",
                       &data, NULL) < 0)
        return NULL;
    a = json_array();
    p = data;
    for (;;) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        json_array_append_new(a, json_integer((json_int_t)v));
        p = end;
    }
    free(data);
    return a;
}

static json_t *networks(int pid)
{
    char path[64];
    char *data = NULL;
    char *save = NULL;
    json_t *o;
    int lineno = 0;

    if (pid <= 0)
        return NULL;
    (void)snprintf(path, sizeof(path), "/proc/%d/net/dev", pid);
    if (read_file(path, &data, NULL, 1 << 20) < 0)
        return NULL;
    o = json_object();
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        unsigned long long f[16] = {0};
        char name[64];
        if (++lineno <= 2 || !colon)
            continue;
        *colon = '\0';
        if (sscanf(line, " %63s", name) != 1 || strcmp(name, "lo") == 0)
            continue;
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0],
                   &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
                   &f[11]) < 12)
            continue;
        json_object_set_new(o, name,
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_bytes",
                                      (json_int_t)f[0], "rx_packets", (json_int_t)f[1], "rx_errors",
                                      (json_int_t)f[2], "rx_dropped", (json_int_t)f[3], "tx_bytes",
                                      (json_int_t)f[8], "tx_packets", (json_int_t)f[9], "tx_errors",
                                      (json_int_t)f[10], "tx_dropped", (json_int_t)f[11]));
    }
    free(data);
    if (json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One sample; *ret_cpu gets a new reference to its cpu_stats. */
static json_t *sample(struct rt_container *c, json_t *pre_cpu, int64_t pre_ns, json_t **ret_cpu,
                      int64_t *ret_ns)
{
    struct rt *rt = node_current->rt;
    struct rt_cgroup_stats st = {0};
    char cg[512];
    char read_s[40], pre_s[40], name[300];
    int64_t now = time_now_ns();
    bool running = rt_container_state(c) == RT_STATE_RUNNING;
    json_t *cpu, *mem, *o, *pc, *net;
    struct sysinfo si;
    uint64_t limit;

    rt_container_cgroup(c, cg, sizeof(cg));
    if (running && rt_cgroup_stats(rt_cgroup_root(rt), rt_cgroup_mode(rt), cg, &st, NULL) < 0)
        running = false;
    time_fmt_rfc3339(now, read_s);
    if (pre_ns > 0)
        time_fmt_rfc3339(pre_ns, pre_s);
    else
        (void)snprintf(pre_s, sizeof(pre_s), "0001-01-01T00:00:00Z");
    (void)snprintf(name, sizeof(name), "/%s", rt_container_name(c));
    if (!running) {
        cpu = empty_cpu();
        mem = json_object();
        o = json_pack("{s:s, s:s, s:{}, s:{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}, s:i, s:{},"
                      " s:o, s:O, s:o, s:s, s:s}",
                      "read", "0001-01-01T00:00:00Z", "preread", "0001-01-01T00:00:00Z",
                      "pids_stats", "blkio_stats", "io_service_bytes_recursive",
                      "io_serviced_recursive", "io_queue_recursive", "io_service_time_recursive",
                      "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive",
                      "sectors_recursive", "num_procs", 0, "storage_stats", "cpu_stats", cpu,
                      "precpu_stats", cpu, "memory_stats", mem, "name", name, "id",
                      rt_container_id(c));
        *ret_cpu = NULL;
        *ret_ns = 0;
        return o;
    }
    cpu = json_pack(
        "{s:{s:I, s:I, s:I}, s:I, s:i, s:{s:I, s:I, s:I}}", "cpu_usage", "total_usage",
        (json_int_t)st.cpu_usage_ns, "usage_in_kernelmode", (json_int_t)st.cpu_system_ns,
        "usage_in_usermode", (json_int_t)st.cpu_user_ns, "system_cpu_usage",
        (json_int_t)system_cpu_ns(), "online_cpus", (int)sysconf(_SC_NPROCESSORS_ONLN),
        "throttling_data", "periods", (json_int_t)st.throttle_periods, "throttled_periods",
        (json_int_t)st.throttled_periods, "throttled_time", (json_int_t)st.throttled_ns);
    pc = percpu(rt, cg);
    if (pc)
        json_object_set_new(json_object_get(cpu, "cpu_usage"), "percpu_usage", pc);
    limit = st.memory_limit;
    if (limit == UINT64_MAX && sysinfo(&si) == 0)
        limit = (uint64_t)si.totalram * si.mem_unit;
    mem = json_pack("{s:I, s:o, s:I}", "usage", (json_int_t)st.memory_usage, "stats",
                    memory_stat_map(rt, cg), "limit", (json_int_t)limit);
    if (st.memory_max_usage)
        json_object_set_new(mem, "max_usage", json_integer((json_int_t)st.memory_max_usage));
    o = json_pack("{s:s, s:s, s:{s:I}, s:{s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n}, s:i, s:{},"
                  " s:O, s:o, s:o, s:s, s:s}",
                  "read", read_s, "preread", pre_s, "pids_stats", "current",
                  (json_int_t)st.pids_current, "blkio_stats", "io_service_bytes_recursive",
                  "io_serviced_recursive", "io_queue_recursive", "io_service_time_recursive",
                  "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive",
                  "sectors_recursive", "num_procs", 0, "storage_stats", "cpu_stats", cpu,
                  "precpu_stats", pre_cpu ? json_incref(pre_cpu) : empty_cpu(), "memory_stats", mem,
                  "name", name, "id", rt_container_id(c));
    net = networks(rt_container_pid(c));
    if (net && o)
        json_object_set_new(o, "networks", net);
    else
        json_decref(net);
    *ret_cpu = cpu; /* the pack above took its own reference (s:O) */
    *ret_ns = now;
    return o;
}

static void op_closed(uv_handle_t *h)
{
    struct stats_op *op = h->data;

    json_decref(op->prev_cpu);
    rt_container_unref(op->c);
    http_req_unref(op->req);
    free(op);
}

static void op_finish(struct stats_op *op)
{
    if (op->done)
        return;
    op->done = true;
    op->req->data = NULL;
    op->req->on_abort = NULL;
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void op_abort(struct http_req *req)
{
    struct stats_op *op = req->data;

    if (op)
        op_finish(op);
}

static void tick(uv_timer_t *t)
{
    struct stats_op *op = t->data;
    json_t *cpu = NULL;
    int64_t ns = 0;
    json_t *o;

    if (op->req->aborted) {
        op_finish(op);
        return;
    }
    o = sample(op->c, op->prev_cpu, op->prev_ns, &cpu, &ns);
    if (!op->stream) {
        http_reply_json(op->req, 200, o);
        json_decref(cpu);
        op_finish(op);
        return;
    }
    {
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text) {
            size_t len = strlen(text);
            char *line = realloc(text, len + 2);
            if (line) {
                line[len] = '\n';
                http_stream_write(op->req, line, len + 1);
                text = line;
            }
            free(text);
        }
        json_decref(o);
    }
    json_decref(op->prev_cpu);
    op->prev_cpu = cpu;
    op->prev_ns = ns;
    if (rt_container_state(op->c) != RT_STATE_RUNNING) {
        http_stream_end(op->req);
        op_finish(op);
        return;
    }
    uv_timer_start(&op->timer, tick, STATS_INTERVAL_MS, 0);
}

void node_api_stats(struct http_req *req, struct rt_container *c)
{
    bool stream = http_query_bool(req, "stream", true);
    bool one_shot = http_query_bool(req, "one-shot", false);
    struct stats_op *op;

    if (!stream && (one_shot || rt_container_state(c) != RT_STATE_RUNNING)) {
        json_t *cpu = NULL;
        int64_t ns = 0;
        http_reply_json(req, 200, sample(c, NULL, 0, &cpu, &ns));
        json_decref(cpu);
        return;
    }
    op = calloc(1, sizeof(*op));
    if (!op) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    op->stream = stream;
    op->c = rt_container_ref(c);
    http_req_ref(req);
    op->req = req;
    req->data = op;
    req->on_abort = op_abort;
    uv_timer_init(node_current->loop, &op->timer);
    op->timer.data = op;
    if (stream) {
        http_stream_begin(req, 200, "application/json");
        tick(&op->timer); /* the first object at once, precpu empty */
        return;
    }
    /* stream=0: a first sample now, the answer in a second */
    {
        json_t *o = sample(c, NULL, 0, &op->prev_cpu, &op->prev_ns);
        json_decref(o);
    }
    uv_timer_start(&op->timer, tick, STATS_INTERVAL_MS, 0);
}
