/*
 * Tests for worker/worker.c: the task agent against a real runtime in a
 * temporary data root with the busybox rootfs imported as bb:latest.
 * Containers use NetworkMode "none" (no bridge, no root-netns lock needed).
 * Needs root and /bin/busybox (busybox-static), run from the repository root
 * (tests/lib/mkrootfs.sh builds the rootfs); skips otherwise. The pull test
 * also needs /usr/bin/docker-registry (Debian's docker-registry) on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/registry.h"
#include "runtime/runtime.h"
#include "worker/worker.h"

#define TIMEOUT_MS 30000

static char g_tmp[64];
static char g_cgparent[64];
static uv_loop_t g_loop;
static struct rt *g_rt;
static struct wrk_agent *g_agent;
static json_t *g_reports; /* every status object reported, in order */
static unsigned g_calls;  /* report callback calls */

/* ---- helpers ----------------------------------------------------------------------------- */

static void on_report(void *ud, json_t *updates)
{
    size_t i;
    json_t *u;

    (void)ud;
    assert_true(json_is_array(updates));
    assert_true(json_array_size(updates) > 0);
    g_calls++;
    json_array_foreach(updates, i, u)
    {
        json_array_append(g_reports, u);
    }
}

static void wake(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until pred() or timeout; returns pred(). */
static bool run_until(bool (*pred)(const void *), const void *arg, int timeout_ms)
{
    uv_timer_t tick;
    int64_t end = time_mono_ns() + (int64_t)timeout_ms * 1000000;
    bool ok;

    uv_timer_init(&g_loop, &tick);
    uv_timer_start(&tick, wake, 10, 10);
    while (!(ok = pred(arg)) && time_mono_ns() < end)
        uv_run(&g_loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&g_loop, UV_RUN_NOWAIT);
    return ok;
}

static bool never(const void *arg)
{
    (void)arg;
    return false;
}

static void run_for(int ms)
{
    (void)run_until(never, NULL, ms);
}

/* The last status reported for task id (NULL if none). */
static json_t *last_status(const char *id)
{
    json_t *last = NULL;
    size_t i;
    json_t *u;

    json_array_foreach(g_reports, i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "ID")), id) == 0)
            last = u;
    }
    return last;
}

static const char *last_state(const char *id)
{
    json_t *u = last_status(id);

    return u ? json_string_value(json_object_get(u, "State")) : "";
}

struct want {
    const char *id;
    const char *state;
};

static bool state_is(const void *arg)
{
    const struct want *w = arg;

    return strcmp(last_state(w->id), w->state) == 0;
}

static void wait_state(const char *id, const char *state)
{
    struct want w = {id, state};

    if (!run_until(state_is, &w, TIMEOUT_MS))
        fail_msg("task %s: wanted state %s, last reported '%s'", id, state, last_state(id));
}

static bool container_gone(const void *arg)
{
    struct rt_container *c;

    return rt_container_find(g_rt, arg, &c, NULL) < 0;
}

static bool no_tasks(const void *arg)
{
    (void)arg;
    return wrk_agent_task_count(g_agent) == 0;
}

static bool one_task(const void *arg)
{
    (void)arg;
    return wrk_agent_task_count(g_agent) == 1;
}

static int state_rank(const char *s)
{
    static const char *const order[] = {"new",      "allocated", "pending",  "assigned",
                                        "accepted", "preparing", "ready",    "starting",
                                        "running",  "complete",  "shutdown", "failed",
                                        "rejected", "remove",    "orphaned"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (strcmp(s, order[i]) == 0)
            return (int)i;
    }
    return -1;
}

/* Reported states of id strictly increase (each change reported once). */
static void assert_forward_only(const char *id)
{
    int prev = -1;
    size_t i;
    json_t *u;

    json_array_foreach(g_reports, i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "ID")), id) != 0)
            continue;
        int r = state_rank(json_string_value(json_object_get(u, "State")));
        assert_true(r >= 0);
        if (r <= prev)
            fail_msg("task %s: state %s reported after a later/equal one", id,
                     json_string_value(json_object_get(u, "State")));
        prev = r;
    }
}

/* A task as the dispatcher sends it. args: JSON array text. */
static json_t *mk_task(const char *id, int slot, const char *desired, const char *image,
                       const char *args)
{
    json_error_t jerr;
    json_t *a = json_loads(args, 0, &jerr);
    json_t *t;

    assert_non_null(a);
    t = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:{s:{s:s, s:o, s:I, s:{s:s}}}, s:{s:s}}", "ID",
                  id, "ServiceID", "svc0123456789", "ServiceName", "web", "Slot", slot, "NodeID",
                  "node0123456789", "DesiredState", desired, "Spec", "ContainerSpec", "Image",
                  image, "Args", a, "StopGracePeriod", (json_int_t)1000000000, "Labels", "x", "y",
                  "Status", "State", "assigned");
    assert_non_null(t);
    return t;
}

/* Assign: full or not, tasks (stolen references), removed ids (NULL-terminated). */
static void assign(bool full, json_t **tasks, size_t n, const char *const *removed)
{
    json_t *msg = json_pack("{s:b, s:[], s:[]}", "full", full, "tasks", "removed");
    json_t *ta = json_object_get(msg, "tasks");

    for (size_t i = 0; i < n; i++)
        json_array_append_new(ta, tasks[i]);
    for (const char *const *r = removed; r && *r; r++)
        json_array_append_new(json_object_get(msg, "removed"), json_string(*r));
    wrk_agent_assign(g_agent, msg);
    json_decref(msg);
}

static void assign1(bool full, json_t *task)
{
    assign(full, &task, 1, NULL);
}

static struct wrk_agent *agent_new(void)
{
    struct wrk_opts o = {
        .loop = &g_loop,
        .rt = g_rt,
        .network_mode = "none",
        .report_delay_ms = 20,
    };
    struct wrk_agent *a = NULL;
    struct err err = {0};

    if (wrk_agent_new(&o, &a, &err) < 0)
        fail_msg("wrk_agent_new: %s", err.msg);
    wrk_agent_set_node(a, "node0123456789");
    return a;
}

static void open_rt(void)
{
    struct rt_opts ro = {0};
    struct err err = {0};
    char data[128], exec[128];

    (void)snprintf(data, sizeof(data), "%s/data", g_tmp);
    (void)snprintf(exec, sizeof(exec), "%s/run", g_tmp);
    ro.loop = &g_loop;
    ro.data_root = data;
    ro.exec_root = exec;
    ro.cgroup_parent = g_cgparent;
    if (rt_open(&ro, &g_rt, &err) < 0)
        fail_msg("rt_open: %s", err.msg);
}

static void done_cb(void *arg, int status, const char *msg)
{
    (void)status;
    (void)msg;
    (*(int *)arg)--;
}

static bool counter_zero(const void *arg)
{
    return *(const int *)arg == 0;
}

/* Remove every container (force). */
static void remove_all(void)
{
    struct rt_container **cs = NULL;
    size_t n = 0;
    int pending = 0;

    if (!g_rt || rt_container_list(g_rt, &cs, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        pending++;
        if (rt_container_remove(cs[i], true, done_cb, &pending, NULL) < 0)
            pending--;
    }
    free(cs);
    (void)run_until(counter_zero, &pending, TIMEOUT_MS);
}

static struct rt_container *find(const char *name)
{
    struct rt_container *c = NULL;
    struct err err = {0};

    if (rt_container_find(g_rt, name, &c, &err) < 0)
        fail_msg("container %s: %s", name, err.msg);
    return c;
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static bool g_skip;

static int group_setup(void **state)
{
    char cmd[256];
    char tar[128];
    char id[72];
    struct err err = {0};
    static const char *const allowed[] = {"127.0.0.1"};
    int fd;

    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0 ||
        access("tests/lib/mkrootfs.sh", X_OK) != 0) {
        g_skip = true;
        return 0;
    }
    /* Nothing here may reach out of the machine. */
    rt_reg_set_allowed(allowed, 1);
    strcpy(g_tmp, "/tmp/shoal-wrk-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    (void)snprintf(g_cgparent, sizeof(g_cgparent), "shoalwrktest-%d", (int)getpid());
    (void)snprintf(tar, sizeof(tar), "%s/bb.tar", g_tmp);
    (void)snprintf(cmd, sizeof(cmd), "tests/lib/mkrootfs.sh %s >/dev/null", tar);
    if (system(cmd) != 0)
        return -1;
    if (uv_loop_init(&g_loop) < 0)
        return -1;
    open_rt();
    fd = open(tar, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (rt_image_import(rt_images(g_rt), fd, "bb:latest", NULL, 0, NULL, id, &err) < 0) {
        fprintf(stderr, "import: %s\n", err.msg);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int group_teardown(void **state)
{
    DIR *d;
    struct dirent *de;
    char p[600];

    (void)state;
    if (g_skip)
        return 0;
    remove_all();
    rt_close(g_rt);
    g_rt = NULL;
    uv_run(&g_loop, UV_RUN_NOWAIT);
    (void)uv_loop_close(&g_loop);
    if (g_tmp[0])
        (void)rm_rf(g_tmp);
    d = opendir("/sys/fs/cgroup");
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        (void)snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", de->d_name, g_cgparent);
        (void)rmdir(p);
    }
    if (d)
        closedir(d);
    (void)snprintf(p, sizeof(p), "/sys/fs/cgroup/%s", g_cgparent);
    (void)rmdir(p);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (g_skip)
        return 0;
    g_reports = json_array();
    g_calls = 0;
    g_agent = agent_new();
    wrk_agent_set_reporter(g_agent, on_report, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_skip)
        return 0;
    wrk_agent_free(g_agent);
    g_agent = NULL;
    remove_all();
    run_for(20);
    json_decref(g_reports);
    g_reports = NULL;
    return 0;
}

#define REQUIRE_ENV()                                                                              \
    do {                                                                                           \
        if (g_skip)                                                                                \
            skip();                                                                                \
    } while (0)

/* ---- tests --------------------------------------------------------------------------------- */

#define T1 "t1aaaaaaaaaaaaaaaaaaaaaaa"
#define T2 "t2bbbbbbbbbbbbbbbbbbbbbbb"
#define T3 "t3ccccccccccccccccccccccc"

static void test_run_shutdown_remove(void **state)
{
    struct rt_container *c;
    json_t *st;
    json_t *insp;
    json_t *labels;

    (void)state;
    REQUIRE_ENV();
    json_t *t1 = mk_task(T1, 1, "running", "bb:latest", "[\"sleep\",\"1000\"]");
    json_t *cs = json_object_get(json_object_get(t1, "Spec"), "ContainerSpec");
    json_object_set_new(cs, "Hostname", json_string("{{.Service.Name}}-{{ .Task.Slot }}"));
    json_object_set_new(cs, "Env", json_pack("[s]", "WHO={{.Task.Name}}@{{.Node.ID}}"));
    assign1(true, t1);
    wait_state(T1, "running");
    assert_forward_only(T1);
    st = last_status(T1);
    assert_int_equal(strlen(json_string_value(json_object_get(st, "ContainerID"))), 64);
    assert_true(json_integer_value(json_object_get(st, "PID")) > 0);
    assert_string_equal(json_string_value(json_object_get(st, "Message")), "started");
    assert_true(json_integer_value(json_object_get(st, "Timestamp")) > 0);
    /* preparing was reported before running (possibly coalesced with ready/starting) */
    assert_true(json_array_size(g_reports) >= 1);

    c = find("web.1." T1);
    assert_int_equal(rt_container_state(c), RT_STATE_RUNNING);
    assert_string_equal(rt_container_id(c), json_string_value(json_object_get(st, "ContainerID")));
    labels = rt_container_labels(c);
    assert_string_equal(json_string_value(json_object_get(labels, "com.docker.swarm.task.id")), T1);
    assert_string_equal(json_string_value(json_object_get(labels, "com.docker.swarm.task.name")),
                        "web.1." T1);
    assert_string_equal(json_string_value(json_object_get(labels, "com.docker.swarm.service.name")),
                        "web");
    assert_string_equal(json_string_value(json_object_get(labels, "com.docker.swarm.service.id")),
                        "svc0123456789");
    assert_string_equal(json_string_value(json_object_get(labels, "com.docker.swarm.node.id")),
                        "node0123456789");
    assert_string_equal(json_string_value(json_object_get(labels, "x")), "y");
    insp = rt_container_inspect(c);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(insp, "HostConfig"), "RestartPolicy"), "Name")),
        "no");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(insp, "Config"), "StopTimeout")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(insp, "Config"), "Hostname")), "web-1");
    {
        json_t *env = json_object_get(json_object_get(insp, "Config"), "Env");
        size_t i;
        json_t *e;
        bool found = false;
        json_array_foreach(env, i, e)
        {
            found = found || strcmp(json_string_value(e), "WHO=web.1." T1 "@node0123456789") == 0;
        }
        assert_true(found);
    }
    json_decref(insp);

    /* Re-sending the same assignment changes nothing. */
    size_t nrep = json_array_size(g_reports);
    assign1(true, mk_task(T1, 1, "running", "bb:latest", "[\"sleep\",\"1000\"]"));
    run_for(200);
    assert_int_equal(json_array_size(g_reports), nrep);
    assert_int_equal(rt_container_state(c), RT_STATE_RUNNING);

    /* Desired shutdown: stopped (sleep as pid 1 ignores TERM: killed after 1 s), kept. */
    assign1(false, mk_task(T1, 1, "shutdown", "bb:latest", "[\"sleep\",\"1000\"]"));
    wait_state(T1, "shutdown");
    assert_forward_only(T1);
    c = find("web.1." T1);
    assert_int_equal(rt_container_state(c), RT_STATE_EXITED);
    assert_int_equal(wrk_agent_task_count(g_agent), 1);

    /* Removed from the set: container removed, task forgotten. */
    static const char *const rm[] = {T1, NULL};
    assign(false, NULL, 0, rm);
    assert_true(run_until(container_gone, "web.1." T1, TIMEOUT_MS));
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
    /* Nothing reported for a dropped task. */
    assert_string_equal(last_state(T1), "shutdown");
}

static void test_exit_codes(void **state)
{
    json_t *tasks[2];
    json_t *st;

    (void)state;
    REQUIRE_ENV();
    tasks[0] = mk_task(T1, 1, "running", "bb:latest", "[\"sh\",\"-c\",\"exit 3\"]");
    tasks[1] = mk_task(T2, 2, "running", "bb:latest", "[\"true\"]");
    assign(true, tasks, 2, NULL);
    wait_state(T1, "failed");
    wait_state(T2, "complete");
    assert_forward_only(T1);
    assert_forward_only(T2);
    st = last_status(T1);
    assert_int_equal(json_integer_value(json_object_get(st, "ExitCode")), 3);
    assert_string_equal(json_string_value(json_object_get(st, "Err")), "task: non-zero exit (3)");
    st = last_status(T2);
    assert_int_equal(json_integer_value(json_object_get(st, "ExitCode")), 0);
    assert_string_equal(json_string_value(json_object_get(st, "Err")), "");
    /* Not restarted locally. */
    run_for(300);
    assert_int_equal(rt_container_state(find("web.1." T1)), RT_STATE_EXITED);
    assert_string_equal(last_state(T1), "failed");

    /* A full set without them removes both containers. */
    assign(true, NULL, 0, NULL);
    assert_true(run_until(container_gone, "web.1." T1, TIMEOUT_MS));
    assert_true(run_until(container_gone, "web.2." T2, TIMEOUT_MS));
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
}

static void test_ready_then_running_global_name(void **state)
{
    struct rt_container *c;

    (void)state;
    REQUIRE_ENV();
    /* Slot 0: a global task, named after the node. */
    assign1(true, mk_task(T1, 0, "ready", "bb:latest", "[\"sleep\",\"1000\"]"));
    wait_state(T1, "ready");
    run_for(200);
    c = find("web.node0123456789." T1);
    assert_int_equal(rt_container_state(c), RT_STATE_CREATED);
    assert_string_equal(last_state(T1), "ready");
    assign1(true, mk_task(T1, 0, "running", "bb:latest", "[\"sleep\",\"1000\"]"));
    wait_state(T1, "running");
    assert_forward_only(T1);
    assert_int_equal(rt_container_state(c), RT_STATE_RUNNING);
    /* desired remove: stopped, shutdown reported, container removed, task kept until dropped */
    assign1(true, mk_task(T1, 0, "remove", "bb:latest", "[\"sleep\",\"1000\"]"));
    wait_state(T1, "shutdown");
    assert_true(run_until(container_gone, "web.node0123456789." T1, TIMEOUT_MS));
    assert_int_equal(wrk_agent_task_count(g_agent), 1);
    assign(true, NULL, 0, NULL);
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
}

static void test_adopt_after_restart(void **state)
{
    struct rt_container *c;
    char cid[72];
    int pid;
    json_t *st;
    json_t *tasks[2];

    (void)state;
    REQUIRE_ENV();
    tasks[0] = mk_task(T1, 1, "running", "bb:latest", "[\"sleep\",\"1000\"]");
    tasks[1] = mk_task(T2, 2, "running", "bb:latest", "[\"sleep\",\"1000\"]");
    assign(true, tasks, 2, NULL);
    wait_state(T1, "running");
    wait_state(T2, "running");
    c = find("web.1." T1);
    (void)snprintf(cid, sizeof(cid), "%s", rt_container_id(c));
    pid = rt_container_pid(c);

    /* shoald restart: agent and runtime go away, containers stay. */
    wrk_agent_free(g_agent);
    g_agent = NULL;
    run_for(20);
    rt_close(g_rt);
    g_rt = NULL;
    run_for(20);
    open_rt();
    json_array_clear(g_reports);
    g_agent = agent_new();
    assert_int_equal(wrk_agent_task_count(g_agent), 2);
    /* Adopted tasks are left alone until the first full set... */
    run_for(200);
    c = find("web.1." T1);
    assert_int_equal(rt_container_state(c), RT_STATE_RUNNING);
    /* ...and reported as running once there is a session. */
    wrk_agent_set_reporter(g_agent, on_report, NULL);
    wait_state(T1, "running");
    wait_state(T2, "running");
    st = last_status(T1);
    assert_string_equal(json_string_value(json_object_get(st, "ContainerID")), cid);
    assert_int_equal(json_integer_value(json_object_get(st, "PID")), pid);

    /* The full set keeps T1 as is; T2 is not in it: removed. */
    json_array_clear(g_reports);
    json_t *t1 = mk_task(T1, 1, "running", "bb:latest", "[\"sleep\",\"1000\"]");
    json_object_set_new(json_object_get(t1, "Status"), "State", json_string("running"));
    assign1(true, t1);
    assert_true(run_until(container_gone, "web.2." T2, TIMEOUT_MS));
    c = find("web.1." T1);
    assert_string_equal(rt_container_id(c), cid);
    assert_int_equal(rt_container_state(c), RT_STATE_RUNNING);
    assert_int_equal(rt_container_pid(c), pid);
    assert_true(run_until(one_task, NULL, TIMEOUT_MS));
    run_for(100);
    assert_int_equal(json_array_size(g_reports), 0);

    /* The adopted container's exit is seen. */
    assert_int_equal(rt_container_kill(c, SIGKILL, NULL), 0);
    wait_state(T1, "failed");
    st = last_status(T1);
    assert_int_equal(json_integer_value(json_object_get(st, "ExitCode")), 137);
}

static void test_missing_image_rejected(void **state)
{
    json_t *tasks[2];
    json_t *st;
    struct rt_container *c;

    (void)state;
    REQUIRE_ENV();
    /* a loopback registry nobody listens on, and docker.io (outside the allow list) */
    tasks[0] = mk_task(T1, 1, "running", "127.0.0.1:1/nosuch:latest", "[\"true\"]");
    tasks[1] = mk_task(T2, 2, "running", "nosuchimage-wrktest:latest", "[\"true\"]");
    assign(true, tasks, 2, NULL);
    wait_state(T1, "rejected");
    wait_state(T2, "rejected");
    assert_forward_only(T1);
    assert_forward_only(T2);
    st = last_status(T1);
    assert_true(json_string_length(json_object_get(st, "Err")) > 0);
    st = last_status(T2);
    assert_true(json_string_length(json_object_get(st, "Err")) > 0);
    assert_true(rt_container_find(g_rt, "web.1." T1, &c, NULL) < 0);
    assert_true(rt_container_find(g_rt, "web.2." T2, &c, NULL) < 0);
    assign(true, NULL, 0, NULL);
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
}

static void test_full_set_removes_strangers_and_leave(void **state)
{
    struct rt_container *c = NULL;
    struct err err = {0};
    json_t *cfg;
    json_t *hc;

    (void)state;
    REQUIRE_ENV();
    /* A task container the agent never heard of (created behind its back). */
    cfg = json_pack("{s:s, s:[s,s], s:{s:s}}", "Image", "bb:latest", "Cmd", "sleep", "1000",
                    "Labels", "com.docker.swarm.task.id", T3);
    hc = json_pack("{s:s}", "NetworkMode", "none");
    if (rt_container_create(g_rt, "stranger", cfg, hc, &c, &err) < 0)
        fail_msg("create: %s", err.msg);
    json_decref(cfg);
    json_decref(hc);
    /* and a plain container, which must be left alone */
    cfg = json_pack("{s:s, s:[s,s]}", "Image", "bb:latest", "Cmd", "sleep", "1000");
    hc = json_pack("{s:s}", "NetworkMode", "none");
    if (rt_container_create(g_rt, "plain", cfg, hc, &c, &err) < 0)
        fail_msg("create: %s", err.msg);
    json_decref(cfg);
    json_decref(hc);

    assign1(true, mk_task(T1, 1, "running", "bb:latest", "[\"sleep\",\"1000\"]"));
    assert_true(run_until(container_gone, "stranger", TIMEOUT_MS));
    wait_state(T1, "running");
    assert_string_equal(last_state(T3), "");

    /* Leaving the swarm removes every task container. */
    assign1(false, mk_task(T2, 2, "running", "bb:latest", "[\"sleep\",\"1000\"]"));
    wait_state(T2, "running");
    wrk_agent_set_reporter(g_agent, NULL, NULL);
    wrk_agent_leave(g_agent);
    assert_true(run_until(container_gone, "web.1." T1, TIMEOUT_MS));
    assert_true(run_until(container_gone, "web.2." T2, TIMEOUT_MS));
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
    (void)find("plain");
}

static void test_bad_create_rejected(void **state)
{
    json_t *t;
    json_t *st;

    (void)state;
    REQUIRE_ENV();
    /* An invalid memory limit: the runtime refuses the container. */
    t = mk_task(T1, 1, "running", "bb:latest", "[\"true\"]");
    json_object_set_new(json_object_get(t, "Spec"), "Resources",
                        json_pack("{s:{s:I}}", "Limits", "MemoryBytes", (json_int_t)1024));
    assign1(true, t);
    wait_state(T1, "rejected");
    st = last_status(T1);
    assert_non_null(strstr(json_string_value(json_object_get(st, "Err")), "memory"));
    assign(true, NULL, 0, NULL);
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
}

/* ---- a loopback registry (Debian's docker-registry), for the pull path ---------------------- */

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

static pid_t registry_start(int port)
{
    char dir[128], conf[160], text[512];
    pid_t pid;

    (void)snprintf(dir, sizeof(dir), "%s/registry", g_tmp);
    (void)snprintf(conf, sizeof(conf), "%s/config.yml", dir);
    if (mkdir_p(dir, 0700) < 0)
        return -1;
    (void)snprintf(text, sizeof(text),
                   "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                   "    rootdirectory: %s/store\nhttp:\n  addr: 127.0.0.1:%d\n",
                   dir, port);
    if (write_file_atomic(conf, text, strlen(text), 0600, false) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            (void)dup2(null, 1);
            (void)dup2(null, 2);
        }
        execl("/usr/bin/docker-registry", "docker-registry", "serve", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 100 && !port_open(port); i++)
        usleep(100000);
    return pid;
}

static void test_pull_then_run(void **state)
{
    char ref[128];
    struct err err = {0};
    struct rt_reg_opts ro = {0};
    struct rt_image_rm *rm = NULL;
    size_t nrm = 0;
    struct rt_image *img = NULL;
    int port;
    pid_t reg;
    json_t *st;
    int status;

    (void)state;
    REQUIRE_ENV();
    if (access("/usr/bin/docker-registry", X_OK) != 0)
        skip();
    port = free_port();
    assert_true(port > 0);
    reg = registry_start(port);
    assert_true(reg > 0);
    if (!port_open(port)) {
        kill(reg, SIGKILL);
        (void)waitpid(reg, &status, 0);
        fail_msg("docker-registry did not come up");
    }
    /* Push bb:latest as 127.0.0.1:PORT/wrk/bb:v1, then drop that tag locally. */
    (void)snprintf(ref, sizeof(ref), "127.0.0.1:%d/wrk/bb:v1", port);
    assert_int_equal(rt_image_tag(rt_images(g_rt), "bb:latest", ref, &err), 0);
    if (rt_push(rt_images(g_rt), ref, NULL, &ro, NULL, &err) < 0) {
        kill(reg, SIGKILL);
        (void)waitpid(reg, &status, 0);
        fail_msg("push: %s", err.msg);
    }
    assert_int_equal(rt_image_remove(rt_images(g_rt), ref, false, false, NULL, 0, &rm, &nrm, &err),
                     0);
    rt_image_rm_free(rm, nrm);
    assert_true(rt_image_get(rt_images(g_rt), ref, &img, NULL) < 0);

    assign1(true, mk_task(T1, 1, "running", ref, "[\"sleep\",\"1000\"]"));
    wait_state(T1, "running");
    assert_forward_only(T1);
    st = last_status(T1);
    assert_string_equal(json_string_value(json_object_get(st, "Err")), "");
    assert_int_equal(rt_image_get(rt_images(g_rt), ref, &img, NULL), 0);
    rt_image_free(img);
    assert_int_equal(rt_container_state(find("web.1." T1)), RT_STATE_RUNNING);

    kill(reg, SIGTERM);
    (void)waitpid(reg, &status, 0);
    assign(true, NULL, 0, NULL);
    assert_true(run_until(no_tasks, NULL, TIMEOUT_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_shutdown_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_then_running_global_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopt_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_image_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_set_removes_strangers_and_leave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_create_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_then_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
