/*
 * tests/unit/test_monitor.c - shoal-monitor end to end: real namespaces,
 * overlayfs, cgroups and a busybox rootfs. Needs root and /bin/busybox
 * (Debian busybox-static); skips otherwise. The monitor binary is
 * $SHOAL_MONITOR or build/shoal-monitor (run from the repository root).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "proto/runtime.pb-c.h"
#include "runtime/monitor_proto.h"

#define DOCKER_CAPS 0xa80425fbULL
#define CG_PARENT   "shoal-montest"

static char g_tmp[256];
static char g_layer[300];
static char g_devlayer[300]; /* image whose /dev is a symlink to a host dir */
static char g_hostdir[300];
static const char *g_monitor;
static int g_seq;

static const char *const docker_masked[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};
static const char *const docker_ro[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

struct opts {
    const char *const *args;
    const char *user;
    const char *hostname;
    uint64_t cap_mask;
    const void *bpf;
    size_t bpf_len;
    bool nnp;
    int64_t memory;
    int64_t pids;
    bool open_stdin;
    bool tty;
    const char *stdin_data;
    const char *layer;
    int signal_after_start;   /* SIGNAL sent once STARTED (after a STATUS check) */
    const char *signal_when;  /* ... or once stdout contains this text */
    bool check_second_client; /* a second client asks STATUS while running */
    bool readonly_rootfs;
    int net_mode;
    const char *netns_path;
    bool no_start; /* SIGNAL 9 instead of START, then try START */
    Shoal__Rt__RtMount **mounts;
    size_t n_mounts;
    char **upper_layers; /* extra lowerdirs above the busybox layer, topmost first */
    size_t n_upper_layers;
};

struct result {
    char status[1024];
    pid_t mon_pid, ctr_pid;
    bool started;
    char start_err[1024];
    struct buf out, err;
    bool got_exit;
    int exit_code;
    bool oom;
    char second_status[32];
    long mon_rss_kb; /* VmRSS of the monitor while the container runs */
    int mon_ppid, mon_sid;
    bool state_ok;                         /* state.pb matched the status line while running */
    int64_t t_spawn, t_ok, t_exit, t_gone; /* CLOCK_MONOTONIC ns */
    char id[32];
    char dir[300];
    Shoal__Rt__RtExit *rtexit;
};

static void result_release(struct result *r)
{
    buf_release(&r->out);
    buf_release(&r->err);
    if (r->rtexit)
        shoal__rt__rt_exit__free_unpacked(r->rtexit, NULL);
}

static void xsystem(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void xsystem(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void make_layer(const char *dir, bool dev_symlink)
{
    static const char *const tools[] = {
        "sh",   "echo",  "cat", "sleep", "id",  "hostname", "ls",       "grep", "mount", "true",
        "kill", "mkdir", "wc",  "head",  "tty", "stat",     "readlink", "env",  "pwd",   "touch",
    };
    char p[600];

    xsystem("mkdir -p %s/bin %s/etc %s/tmp && cp /bin/busybox %s/bin/busybox", dir, dir, dir, dir);
    for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
        snprintf(p, sizeof(p), "%s/bin/%s", dir, tools[i]);
        assert_int_equal(symlink("busybox", p), 0);
    }
    snprintf(p, sizeof(p), "%s/etc/passwd", dir);
    const char pw[] = "root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    assert_int_equal(write_file_atomic(p, pw, sizeof(pw) - 1, 0644, false), 0);
    snprintf(p, sizeof(p), "%s/etc/group", dir);
    const char gr[] = "root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n";
    assert_int_equal(write_file_atomic(p, gr, sizeof(gr) - 1, 0644, false), 0);
    snprintf(p, sizeof(p), "%s/bin/noexec", dir);
    assert_int_equal(write_file_atomic(p, "#!/bin/sh\n", 10, 0644, false), 0);
    if (dev_symlink) {
        snprintf(p, sizeof(p), "%s/dev", dir);
        assert_int_equal(symlink(g_hostdir, p), 0);
        snprintf(p, sizeof(p), "%s/proc", dir);
        assert_int_equal(symlink(g_hostdir, p), 0);
        snprintf(p, sizeof(p), "%s/etc/hosts", dir);
        char t[400];
        snprintf(t, sizeof(t), "%s/hosts", g_hostdir);
        assert_int_equal(symlink(t, p), 0);
    }
}

static int group_setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0)
        return 0;
    g_monitor = getenv("SHOAL_MONITOR");
    if (!g_monitor)
        g_monitor = "build/shoal-monitor";
    if (access(g_monitor, X_OK) != 0)
        return 0;
    strcpy(g_tmp, "/tmp/shoal-montest-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    snprintf(g_layer, sizeof(g_layer), "%s/layer", g_tmp);
    snprintf(g_devlayer, sizeof(g_devlayer), "%s/devlayer", g_tmp);
    snprintf(g_hostdir, sizeof(g_hostdir), "%s/hostdir", g_tmp);
    if (mkdir(g_hostdir, 0755) < 0)
        return -1;
    make_layer(g_layer, false);
    make_layer(g_devlayer, true);
    return 0;
}

static int group_teardown(void **state)
{
    DIR *d;
    struct dirent *de;

    (void)state;
    if (g_tmp[0])
        (void)rm_rf(g_tmp);
    /* the monitors remove their own cgroups; the shared parent is ours */
    d = opendir("/sys/fs/cgroup");
    while (d && (de = readdir(d))) {
        char p[300];
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/" CG_PARENT, de->d_name);
        (void)rmdir(p);
    }
    if (d)
        closedir(d);
    (void)rmdir("/sys/fs/cgroup/" CG_PARENT); /* v2 */
    return 0;
}

static bool skip_needed(void)
{
    return geteuid() != 0 || access("/bin/busybox", X_OK) != 0 || !g_tmp[0];
}

#define REQUIRE_ENV()                                                                              \
    do {                                                                                           \
        if (skip_needed())                                                                         \
            skip();                                                                                \
    } while (0)

static void write_spec(const struct opts *o, struct result *r, char *spec_path, size_t splen)
{
    Shoal__Rt__RtSpec s = SHOAL__RT__RT_SPEC__INIT;
    char lower[300], upper[400], work[400], rootfs[400], state[400], exitp[400], logp[400];
    char *lowers[128];
    size_t nl = 0;
    size_t nargs = 0;
    uint8_t *data;
    size_t len;
    char *env[] = {(char *)"FOO=bar"};
    char *masked[32], *ro[16];
    size_t nm = 0, nr = 0;

    snprintf(r->id, sizeof(r->id), "t%dp%d", ++g_seq, (int)getpid());
    snprintf(r->dir, sizeof(r->dir), "%s/%s", g_tmp, r->id);
    xsystem("mkdir -p %s/upper %s/work %s/rootfs %s/state", r->dir, r->dir, r->dir, r->dir);
    snprintf(lower, sizeof(lower), "%s", o->layer ? o->layer : g_layer);
    snprintf(upper, sizeof(upper), "%s/upper", r->dir);
    snprintf(work, sizeof(work), "%s/work", r->dir);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", r->dir);
    snprintf(state, sizeof(state), "%s/state", r->dir);
    snprintf(exitp, sizeof(exitp), "%s/exit.pb", r->dir);
    snprintf(logp, sizeof(logp), "%s/log.json", r->dir);
    while (o->args[nargs])
        nargs++;
    for (size_t i = 0; docker_masked[i]; i++)
        masked[nm++] = (char *)docker_masked[i];
    for (size_t i = 0; docker_ro[i]; i++)
        ro[nr++] = (char *)docker_ro[i];

    s.id = r->id;
    s.n_args = nargs;
    s.args = (char **)o->args;
    s.n_env = 1;
    s.env = env;
    s.cwd = (char *)"/work/dir";
    s.user = (char *)(o->user ? o->user : "");
    s.hostname = (char *)(o->hostname ? o->hostname : "testhost");
    for (size_t i = 0; i < o->n_upper_layers && nl < 127; i++)
        lowers[nl++] = o->upper_layers[i];
    lowers[nl++] = lower;
    s.n_lowerdirs = nl;
    s.lowerdirs = lowers;
    s.upperdir = upper;
    s.workdir = work;
    s.rootfs = rootfs;
    s.net_mode = SHOAL__RT__RT_NET_MODE__RT_NET_NONE;
    s.cap_mask = o->cap_mask ? o->cap_mask : DOCKER_CAPS;
    s.seccomp_bpf.data = (uint8_t *)o->bpf;
    s.seccomp_bpf.len = o->bpf_len;
    s.no_new_privs = o->nnp;
    s.memory_limit = o->memory;
    s.pids_limit = o->pids;
    s.cgroup_parent = (char *)CG_PARENT;
    s.log_path = logp;
    s.tty = o->tty;
    s.open_stdin = o->open_stdin;
    s.n_masked_paths = nm;
    s.masked_paths = masked;
    s.n_readonly_paths = nr;
    s.readonly_paths = ro;
    s.readonly_rootfs = o->readonly_rootfs;
    s.net_mode = (Shoal__Rt__RtNetMode)o->net_mode;
    s.netns_path = (char *)(o->netns_path ? o->netns_path : "");
    s.n_mounts = o->n_mounts;
    s.mounts = o->mounts;
    s.state_dir = state;
    s.exit_path = exitp;
    len = shoal__rt__rt_spec__get_packed_size(&s);
    data = malloc(len);
    assert_non_null(data);
    shoal__rt__rt_spec__pack(&s, data);
    snprintf(spec_path, splen, "%s/spec.pb", r->dir);
    assert_int_equal(write_file_atomic(spec_path, data, len, 0600, false), 0);
    free(data);
}

static void send_frame(int fd, uint8_t type, const void *p, uint32_t len)
{
    unsigned char hdr[MON_HDR_LEN];

    mon_put_hdr(hdr, type, len);
    assert_int_equal(write_all(fd, hdr, sizeof(hdr)), 0);
    if (len)
        assert_int_equal(write_all(fd, p, len), 0);
}

static bool read_full(int fd, void *p, size_t len, int timeout_ms)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) <= 0)
            return false;
        n = read(fd, (char *)p + got, len - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* Returns the frame type, -1 on EOF/timeout; payload in *pl (caller frees). */
static int read_frame(int fd, char **pl, uint32_t *plen)
{
    unsigned char hdr[MON_HDR_LEN];
    uint32_t len;

    *pl = NULL;
    if (!read_full(fd, hdr, sizeof(hdr), 20000))
        return -1;
    len = mon_get_u32(hdr + 1);
    *pl = calloc(1, len + 1);
    if (!*pl || !read_full(fd, *pl, len, 20000))
        return -1;
    *plen = len;
    return hdr[0];
}

static int connect_mon(const struct result *r)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/state/%s", r->dir, MON_SOCK_NAME) <
                (int)sizeof(sa.sun_path));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static char *client_status(const struct result *r)
{
    int fd = connect_mon(r);
    char *pl = NULL;
    uint32_t len;
    int t;

    send_frame(fd, MON_C_STATUS, NULL, 0);
    t = read_frame(fd, &pl, &len);
    (void)close(fd);
    assert_int_equal(t, MON_M_STATUS);
    return pl;
}

static void wait_monitor_gone(pid_t pid)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (pfd < 0)
        return; /* already gone */
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    (void)close(pfd);
}

/* Spawn the monitor on a spec and run the container to its end. */
static void run(const struct opts *o, struct result *r)
{
    char spec[400], path[500];
    int sp[2];
    pid_t pid;
    int st, fd;
    ssize_t n;
    size_t got = 0;
    bool signalled = false;

    memset(r, 0, sizeof(*r));
    buf_init(&r->out);
    buf_init(&r->err);
    write_spec(o, r, spec, sizeof(spec));

    assert_int_equal(pipe2(sp, O_CLOEXEC), 0);
    r->t_spawn = time_mono_ns();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        dup2(sp[1], 3);
        execl(g_monitor, "shoal-monitor", spec, (char *)NULL);
        _exit(99);
    }
    (void)close(sp[1]);
    while ((n = read(sp[0], r->status + got, sizeof(r->status) - 1 - got)) > 0)
        got += (size_t)n;
    r->status[got] = 0;
    r->t_ok = time_mono_ns();
    (void)close(sp[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));

    if (strncmp(r->status, "ok ", 3) != 0) {
        /* setup failed: the monitor recorded an RtExit */
        char *data = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/exit.pb", r->dir);
        for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
            usleep(10000);
        if (read_file(path, &data, &len, 1 << 20) == 0) {
            r->rtexit = shoal__rt__rt_exit__unpack(NULL, len, (uint8_t *)data);
            free(data);
        }
        return;
    }
    assert_int_equal(sscanf(r->status, "ok %d %d", &r->mon_pid, &r->ctr_pid), 2);

    fd = connect_mon(r);
    {
        uint8_t fl = MON_ATTACH_STDOUT | MON_ATTACH_STDERR | (o->open_stdin ? MON_ATTACH_STDIN : 0);
        send_frame(fd, MON_C_ATTACH, &fl, 1);
    }
    {
        char *s = client_status(r);
        assert_string_equal(s, "created");
        free(s);
    }
    if (o->no_start) {
        unsigned char b[4] = {0, 0, 0, 9};
        send_frame(fd, MON_C_SIGNAL, b, 4);
    }
    send_frame(fd, MON_C_START, NULL, 0);
    if (o->stdin_data) {
        send_frame(fd, MON_C_STDIN, o->stdin_data, (uint32_t)strlen(o->stdin_data));
        send_frame(fd, MON_C_STDIN_EOF, NULL, 0);
    }
    for (;;) {
        char *pl;
        uint32_t len = 0;
        int t = read_frame(fd, &pl, &len);

        if (t < 0) {
            free(pl);
            break;
        }
        switch (t) {
        case MON_M_STDOUT:
            buf_append(&r->out, pl, len);
            if (o->signal_when && strstr(r->out.data, o->signal_when) && !signalled) {
                unsigned char b[4] = {0, 0, 0, (unsigned char)o->signal_after_start};
                send_frame(fd, MON_C_SIGNAL, b, 4);
                signalled = true;
            }
            break;
        case MON_M_STDERR:
            buf_append(&r->err, pl, len);
            break;
        case MON_M_STARTED:
            r->started = true;
            if (o->check_second_client) {
                char spath[400];
                char *stext = NULL;
                snprintf(spath, sizeof(spath), "/proc/%d/status", (int)r->mon_pid);
                if (read_file(spath, &stext, NULL, 1 << 16) == 0 && strstr(stext, "VmRSS:"))
                    r->mon_rss_kb = strtol(strstr(stext, "VmRSS:") + 6, NULL, 10);
                free(stext);
                stext = NULL;
                snprintf(spath, sizeof(spath), "/proc/%d/stat", (int)r->mon_pid);
                if (read_file(spath, &stext, NULL, 1 << 16) == 0)
                    (void)sscanf(strrchr(stext, ')') + 2, "%*c %d %*d %d", &r->mon_ppid,
                                 &r->mon_sid);
                free(stext);
                stext = NULL;
                assert_true(snprintf(spath, sizeof(spath), "%s/state/state.pb", r->dir) <
                            (int)sizeof(spath));
                size_t sl = 0;
                if (read_file(spath, &stext, &sl, 1 << 16) == 0) {
                    Shoal__Rt__RtState *rs =
                        shoal__rt__rt_state__unpack(NULL, sl, (uint8_t *)stext);
                    if (rs && rs->pid == r->ctr_pid && rs->monitor_pid == r->mon_pid &&
                        rs->pid_start_time > 0 && rs->started_at_ns > 0)
                        r->state_ok = true;
                    if (rs)
                        shoal__rt__rt_state__free_unpacked(rs, NULL);
                }
                free(stext);
                char *s = client_status(r);
                snprintf(r->second_status, sizeof(r->second_status), "%s", s);
                free(s);
            }
            if (o->signal_after_start && !o->signal_when) {
                unsigned char b[4] = {0, 0, 0, (unsigned char)o->signal_after_start};
                send_frame(fd, MON_C_SIGNAL, b, 4);
            }
            break;
        case MON_M_START_ERR:
            snprintf(r->start_err, sizeof(r->start_err), "%s", pl);
            break;
        case MON_M_EXIT:
            assert_int_equal(len, 5);
            r->got_exit = true;
            r->t_exit = time_mono_ns();
            r->exit_code = (int)mon_get_u32((unsigned char *)pl);
            r->oom = pl[4] != 0;
            break;
        default:
            break;
        }
        free(pl);
        if (r->got_exit)
            break;
    }
    (void)close(fd);
    if (!r->got_exit)
        (void)kill(r->ctr_pid, SIGKILL);
    wait_monitor_gone(r->mon_pid);
    r->t_gone = time_mono_ns();
    {
        char *data = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/exit.pb", r->dir);
        if (read_file(path, &data, &len, 1 << 20) == 0) {
            r->rtexit = shoal__rt__rt_exit__unpack(NULL, len, (uint8_t *)data);
            free(data);
        }
    }
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void run_simple(const char *const *args, struct result *r)
{
    struct opts o = {.args = args};
    run(&o, r);
}

static void assert_ok_exit(struct result *r, int code)
{
    if (!r->got_exit)
        fail_msg("no EXIT; status line '%s'", r->status);
    if (r->exit_code != code || r->err.len)
        print_message("exit %d, stdout: %s\nstderr: %s\n", r->exit_code,
                      r->out.data ? r->out.data : "", r->err.data ? r->err.data : "");
    assert_true(r->started);
    assert_int_equal(r->exit_code, code);
    assert_non_null(r->rtexit);
    assert_int_equal(r->rtexit->exit_code, code);
}

/* ---- cases ------------------------------------------------------------------- */

static void test_monitor_echo_and_log(void **state)
{
    struct result r;
    char path[400];
    char *log = NULL;

    (void)state;
    REQUIRE_ENV();
    run_simple(ARGS("echo", "hello"), &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "hello\n");
    assert_int_equal(r.err.len, 0);
    snprintf(path, sizeof(path), "%s/log.json", r.dir);
    assert_int_equal(read_file(path, &log, NULL, 1 << 20), 0);
    assert_true(strncmp(log, "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"", 43) == 0);
    /* one line, ending with a well-formed RFC 3339 UTC time */
    assert_non_null(strstr(log, "Z\"}\n"));
    assert_int_equal(strchr(log, '\n') - log + 1, (long)strlen(log));
    int64_t ns;
    char ts[64];
    const char *t = strstr(log, "\"time\":\"") + 8;
    snprintf(ts, sizeof(ts), "%.*s", (int)(strchr(t, '"') - t), t);
    assert_int_equal(time_parse_rfc3339(ts, &ns), 0);
    assert_true(ns > 0);
    free(log);
    assert_true(r.rtexit->started_at_ns > 0);
    assert_true(r.rtexit->finished_at_ns >= r.rtexit->started_at_ns);
    assert_int_equal(r.rtexit->pid, r.ctr_pid);
    result_release(&r);
}

static void test_monitor_exit_code(void **state)
{
    struct result r;

    (void)state;
    REQUIRE_ENV();
    run_simple(ARGS("sh", "-c", "echo err >&2; exit 7"), &r);
    assert_ok_exit(&r, 7);
    assert_string_equal(r.err.data, "err\n");
    result_release(&r);
}

static void test_monitor_killed_137(void **state)
{
    struct result r;
    struct opts o = {
        .args = ARGS("sleep", "100"), .signal_after_start = 9, .check_second_client = true};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 137);
    assert_int_equal(r.rtexit->signal, 9);
    assert_string_equal(r.second_status, "running");
    /* detached from its spawner (double fork + setsid) */
    assert_true(r.mon_ppid > 0);
    assert_int_not_equal(r.mon_ppid, getpid());
    assert_int_equal(r.mon_sid, r.mon_pid);
    assert_true(r.state_ok);
    print_message("monitor VmRSS %ld kB\n", r.mon_rss_kb);
    assert_true(r.mon_rss_kb > 0 && r.mon_rss_kb < 1536);
    result_release(&r);
}

/* PID 1 without a SIGTERM handler ignores SIGTERM (kernel rule, as in Docker);
 * a trapping shell gets it and exits 143. */
static void test_monitor_sigterm_143(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c", "trap 'exit 143' TERM; echo ready; sleep 100 & wait"),
                     .signal_after_start = 15,
                     .signal_when = "ready"};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 143);
    assert_string_equal(r.out.data, "ready\n");
    result_release(&r);
}

static void test_monitor_not_found_127(void **state)
{
    struct result r;

    (void)state;
    REQUIRE_ENV();
    run_simple(ARGS("nosuchcmd"), &r);
    assert_false(r.got_exit);
    assert_non_null(strstr(r.status, "err "));
    assert_non_null(strstr(r.status, "exec: \"nosuchcmd\": executable file not found in $PATH"));
    assert_non_null(r.rtexit);
    assert_int_equal(r.rtexit->exit_code, 127);
    assert_non_null(strstr(r.rtexit->error, "executable file not found"));
    result_release(&r);

    run_simple(ARGS("/bin/noexec"), &r);
    assert_non_null(strstr(r.status, "permission denied"));
    assert_non_null(r.rtexit);
    assert_int_equal(r.rtexit->exit_code, 126);
    result_release(&r);

    run_simple(ARGS("/nope/x"), &r);
    assert_non_null(strstr(r.status, "no such file or directory"));
    assert_int_equal(r.rtexit->exit_code, 127);
    result_release(&r);
}

static void test_monitor_pid1_hostname_env(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c",
                                  "echo $$; hostname; head -c 2 /proc/1/cmdline; echo; "
                                  "echo $FOO $HOSTNAME $HOME; pwd; echo $PATH"),
                     .hostname = "myhost"};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data,
                        "1\nmyhost\nsh\nbar myhost /root\n/work/dir\n"
                        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    result_release(&r);
}

static void test_monitor_caps(void **state)
{
    struct result r;

    (void)state;
    REQUIRE_ENV();
    run_simple(ARGS("grep", "^Cap", "/proc/self/status"), &r);
    assert_ok_exit(&r, 0);
    assert_non_null(strstr(r.out.data, "CapInh:\t0000000000000000\n"));
    assert_non_null(strstr(r.out.data, "CapPrm:\t00000000a80425fb\n"));
    assert_non_null(strstr(r.out.data, "CapEff:\t00000000a80425fb\n"));
    assert_non_null(strstr(r.out.data, "CapBnd:\t00000000a80425fb\n"));
    assert_non_null(strstr(r.out.data, "CapAmb:\t0000000000000000\n"));
    result_release(&r);
}

static void test_monitor_seccomp(void **state)
{
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_filter deny_mkdir[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    struct result r;
    struct opts o = {.args = ARGS("grep", "^Seccomp:", "/proc/self/status"),
                     .bpf = allow,
                     .bpf_len = sizeof(allow)};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "Seccomp:\t2\n");
    result_release(&r);

    o.args = ARGS("sh", "-c", "mkdir /tmp/x && echo made");
    o.bpf = deny_mkdir;
    o.bpf_len = sizeof(deny_mkdir);
    run(&o, &r);
    assert_ok_exit(&r, 1);
    assert_non_null(strstr(r.err.data, "Operation not permitted"));
    result_release(&r);

    /* with no_new_privs the filter goes on last */
    o.nnp = true;
    o.args = ARGS("sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/y");
    run(&o, &r);
    assert_ok_exit(&r, 1);
    assert_string_equal(r.out.data, "NoNewPrivs:\t1\nSeccomp:\t2\n");
    result_release(&r);

    /* no filter given: none installed */
    run_simple(ARGS("grep", "^Seccomp:", "/proc/self/status"), &r);
    assert_string_equal(r.out.data, "Seccomp:\t0\n");
    result_release(&r);
}

static void test_monitor_proc_masks(void **state)
{
    struct result r;

    (void)state;
    REQUIRE_ENV();
    run_simple(
        ARGS("sh", "-c",
             "echo 1 > /proc/sys/kernel/ns_last_pid && echo writable; "
             "grep -c ' /proc/sys ro,' /proc/self/mountinfo; "
             "wc -c < /proc/timer_list; grep -c ' /proc/acpi ro,.* tmpfs ' /proc/self/mountinfo; "
             "grep -c ' /sys ro,' /proc/self/mountinfo; "
             "echo x > /sys/kernel/uevent_helper || echo sysro"),
        &r);
    assert_ok_exit(&r, 0);
    /* the host has both: the masks are what empties them */
    assert_int_equal(access("/proc/timer_list", F_OK), 0);
    assert_string_equal(r.out.data, "1\n0\n1\n1\nsysro\n");
    assert_null(strstr(r.out.data, "writable"));
    result_release(&r);
}

static void test_monitor_dev(void **state)
{
    struct result r;

    (void)state;
    REQUIRE_ENV();
    run_simple(ARGS("ls", "/dev"), &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "core\nfd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\n"
                                    "stdin\nstdout\ntty\nurandom\nzero\n");
    result_release(&r);

    run_simple(
        ARGS("sh", "-c",
             "stat -c '%t:%T %a' /dev/null /dev/urandom; readlink /dev/ptmx; readlink /dev/fd; "
             "grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/self/mountinfo | wc -l"),
        &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "1:3 666\n1:9 666\npts/ptmx\n/proc/self/fd\n4\n");
    result_release(&r);
}

static void test_monitor_user(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c", "id; echo $HOME; grep CapEff /proc/self/status"),
                     .user = "nobody"};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "uid=65534(nobody) gid=65534(nogroup) groups=50(staff)\n"
                                    "/nonexistent\nCapEff:\t0000000000000000\n");
    result_release(&r);

    o.user = "1234:50";
    o.args = ARGS("id");
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "uid=1234 gid=50(staff)\n");
    result_release(&r);

    o.user = "nosuchuser";
    run(&o, &r);
    assert_non_null(
        strstr(r.status, "err unable to find user nosuchuser: no matching entries in passwd file"));
    assert_non_null(r.rtexit);
    assert_int_equal(r.rtexit->exit_code, 125);
    result_release(&r);
}

static void test_monitor_cgroup_limits(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c",
                                  "if [ -e /sys/fs/cgroup/cgroup.controllers ]; then "
                                  "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; else "
                                  "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                  "/sys/fs/cgroup/pids/pids.max; fi; "
                                  "touch /sys/fs/cgroup/pids/x 2>/dev/null || echo ro"),
                     .memory = 32 << 20,
                     .pids = 50};
    char path[400];

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "33554432\n50\nro\n");
    /* the cgroup is gone once the monitor is */
    snprintf(path, sizeof(path), "/sys/fs/cgroup/memory/%s/%s", CG_PARENT, r.id);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/%s/%s", CG_PARENT, r.id);
    assert_int_not_equal(access(path, F_OK), 0);
    result_release(&r);
}

static void test_monitor_fds_and_cleanup(void **state)
{
    struct result r;
    char *mi = NULL;
    char path[400];

    (void)state;
    REQUIRE_ENV();
    run_simple(ARGS("ls", "/proc/self/fd"), &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "0\n1\n2\n3\n");
    /* no trace on the host */
    assert_int_equal(read_file("/proc/self/mountinfo", &mi, NULL, 1 << 22), 0);
    assert_null(strstr(mi, r.dir));
    free(mi);
    snprintf(path, sizeof(path), "%s/state/%s", r.dir, MON_SOCK_NAME);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/state/state.pb", r.dir);
    assert_int_not_equal(access(path, F_OK), 0);
    result_release(&r);
}

static void test_monitor_stdin(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("cat"), .open_stdin = true, .stdin_data = "from stdin\n"};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "from stdin\n");
    result_release(&r);
}

static void test_monitor_tty(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c", "tty; readlink /dev/console; echo hi"), .tty = true};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "/dev/pts/0\r\npts/0\r\nhi\r\n");
    result_release(&r);
}

/* CVE-2026-41579 style: an image whose /dev, /proc and /etc/hosts are
 * symlinks to a host directory must not make us create anything there. */
static void test_monitor_dev_symlink(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("ls", "/dev"), .layer = g_devlayer};
    DIR *d;
    struct dirent *de;
    int n = 0;

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_non_null(strstr(r.out.data, "null\n"));
    d = opendir(g_hostdir);
    assert_non_null(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    assert_int_equal(n, 0);
    result_release(&r);
}

static void test_monitor_mounts_and_ro_rootfs(void **state)
{
    char src[400], data[400];
    Shoal__Rt__RtMount m1 = SHOAL__RT__RT_MOUNT__INIT, m2 = SHOAL__RT__RT_MOUNT__INIT,
                       m3 = SHOAL__RT__RT_MOUNT__INIT;
    Shoal__Rt__RtMount *mounts[] = {&m1, &m2, &m3};
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c",
                                  "cat /etc/hosts; cat /data/deep/f; echo x > /run/t/y && cat "
                                  "/run/t/y; echo z > /etc/hosts || echo hostsro; "
                                  "touch /newfile || echo rootro; grep -c ' /run/t .*noexec' "
                                  "/proc/self/mountinfo"),
                     .readonly_rootfs = true,
                     .mounts = mounts,
                     .n_mounts = 3};

    (void)state;
    REQUIRE_ENV();
    snprintf(src, sizeof(src), "%s/hosts-src", g_tmp);
    assert_int_equal(write_file_atomic(src, "127.0.0.1 me\n", 13, 0644, false), 0);
    snprintf(data, sizeof(data), "%s/datadir", g_tmp);
    xsystem("mkdir -p %s/deep && echo deep > %s/deep/f", data, data);
    m1.source = src;
    m1.destination = (char *)"/etc/hosts";
    m1.type = (char *)"bind";
    m1.flags = MS_BIND | MS_RDONLY;
    m2.source = data;
    m2.destination = (char *)"/data"; /* missing in the image: created */
    m2.type = (char *)"bind";
    m2.flags = MS_BIND | MS_REC;
    m3.source = (char *)"tmpfs";
    m3.destination = (char *)"/run/t";
    m3.type = (char *)"tmpfs";
    m3.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    m3.data = (char *)"size=1m,mode=755";
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "127.0.0.1 me\ndeep\nx\nhostsro\nrootro\n1\n");
    result_release(&r);
}

static void test_monitor_network(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net")};
    char *host = NULL;

    (void)state;
    REQUIRE_ENV();
    /* own netns: only lo, and it is up (IFF_UP|IFF_LOOPBACK|IFF_RUNNING shows as 0x9) */
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "0x9\nlo\n");
    result_release(&r);

    /* host network: the host's interfaces under a read-only /sys */
    o.net_mode = SHOAL__RT__RT_NET_MODE__RT_NET_HOST;
    o.args = ARGS("sh", "-c", "ls /sys/class/net | wc -l; touch /sys/x 2>/dev/null || echo ro");
    run(&o, &r);
    assert_ok_exit(&r, 0);
    {
        int n = 0;
        DIR *d = opendir("/sys/class/net");
        struct dirent *de;
        char want[32];
        assert_non_null(d);
        while ((de = readdir(d)))
            n += de->d_name[0] != '.';
        closedir(d);
        snprintf(want, sizeof(want), "%d\nro\n", n);
        assert_string_equal(r.out.data, want);
    }
    free(host);
    result_release(&r);

    /* a namespace made by someone else (shoald's network code): joined as is */
    if (system("ip netns add shoal-montest >/dev/null 2>&1 && "
               "ip netns exec shoal-montest ip link add v0 type veth peer name v1") == 0) {
        o.net_mode = SHOAL__RT__RT_NET_MODE__RT_NET_PATH;
        o.netns_path = "/run/netns/shoal-montest";
        o.args = ARGS("ls", "/sys/class/net");
        run(&o, &r);
        (void)!system("ip netns del shoal-montest");
        assert_ok_exit(&r, 0);
        assert_string_equal(r.out.data, "lo\nv0\nv1\n");
        result_release(&r);
    } else {
        (void)!system("ip netns del shoal-montest >/dev/null 2>&1");
        print_message("RT_NET_PATH not tested: cannot create a netns with a veth pair\n");
    }
}

static void test_monitor_kill_before_start(void **state)
{
    struct result r;
    struct opts o = {.args = ARGS("echo", "never"), .no_start = true};

    (void)state;
    REQUIRE_ENV();
    run(&o, &r);
    assert_true(r.got_exit);
    assert_false(r.started);
    assert_int_equal(r.exit_code, 137);
    assert_non_null(strstr(r.start_err, "exited before it started"));
    assert_int_equal(r.out.len, 0);
    result_release(&r);
}

/* 60 layers with long paths: the overlay option string no longer fits in a
 * page, so the monitor has to pass the layers one by one (fsconfig). */
static void test_monitor_many_layers(void **state)
{
    char *layers[60];
    struct result r;
    struct opts o = {.args = ARGS("sh", "-c", "cat /etc/order; cat /etc/l59"),
                     .upper_layers = layers,
                     .n_upper_layers = 60};
    size_t total = 0;

    (void)state;
    REQUIRE_ENV();
    for (int i = 0; i < 60; i++) {
        char p[400];
        layers[i] = malloc(512);
        assert_non_null(layers[i]);
        snprintf(layers[i], 512,
                 "%s/layers/layer-%02d-padding-padding-padding-padding-padding-padding-padding",
                 g_tmp, i);
        xsystem("mkdir -p %s/etc && echo %d > %s/etc/l%d", layers[i], i, layers[i], i);
        /* the topmost layer wins */
        snprintf(p, sizeof(p), "%s/etc/order", layers[i]);
        char v[16];
        snprintf(v, sizeof(v), "%d\n", i);
        assert_int_equal(write_file_atomic(p, v, strlen(v), 0644, false), 0);
        total += strlen(layers[i]) + 1;
    }
    assert_true(total > 4096);
    run(&o, &r);
    assert_ok_exit(&r, 0);
    assert_string_equal(r.out.data, "0\n59\n");
    result_release(&r);
    for (int i = 0; i < 60; i++)
        free(layers[i]);
}

int main(void)
{
    /* debugging aid: MONTEST_CMD='shell code' runs one container and prints its output */
    /* MONTEST_BENCH=N: N sequential runs of /bin/true, spawn to EXIT */
    if (getenv("MONTEST_BENCH")) {
        int n = atoi(getenv("MONTEST_BENCH"));
        struct opts o = {.args = ARGS("true")};
        double ok = 0, ex = 0, gone = 0;
        if (group_setup(NULL) < 0 || skip_needed())
            return 77;
        for (int i = 0; i < n; i++) {
            struct result r;
            run(&o, &r);
            if (!r.got_exit || r.exit_code != 0)
                fprintf(stderr, "run %d failed: %s\n", i, r.status);
            ok += (double)(r.t_ok - r.t_spawn) / 1e6;
            ex += (double)(r.t_exit - r.t_spawn) / 1e6;
            gone += (double)(r.t_gone - r.t_spawn) / 1e6;
            result_release(&r);
        }
        printf("%d runs of /bin/true, mean ms from spawn: ok %.2f, EXIT %.2f, monitor gone %.2f\n",
               n, ok / n, ex / n, gone / n);
        group_teardown(NULL);
        return 0;
    }
    if (getenv("MONTEST_CMD")) {
        struct result r;
        struct opts o = {.args = ARGS("sh", "-c", getenv("MONTEST_CMD")),
                         .tty = getenv("MONTEST_TTY") != NULL};
        if (group_setup(NULL) < 0 || skip_needed())
            return 77;
        run(&o, &r);
        printf("status: %s\nstdout:\n%s\nstderr:\n%s\nexit: %d\n", r.status,
               r.out.data ? r.out.data : "", r.err.data ? r.err.data : "", r.exit_code);
        result_release(&r);
        group_teardown(NULL);
        return 0;
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitor_echo_and_log),
        cmocka_unit_test(test_monitor_exit_code),
        cmocka_unit_test(test_monitor_killed_137),
        cmocka_unit_test(test_monitor_sigterm_143),
        cmocka_unit_test(test_monitor_not_found_127),
        cmocka_unit_test(test_monitor_pid1_hostname_env),
        cmocka_unit_test(test_monitor_caps),
        cmocka_unit_test(test_monitor_seccomp),
        cmocka_unit_test(test_monitor_proc_masks),
        cmocka_unit_test(test_monitor_dev),
        cmocka_unit_test(test_monitor_user),
        cmocka_unit_test(test_monitor_cgroup_limits),
        cmocka_unit_test(test_monitor_fds_and_cleanup),
        cmocka_unit_test(test_monitor_stdin),
        cmocka_unit_test(test_monitor_tty),
        cmocka_unit_test(test_monitor_dev_symlink),
        cmocka_unit_test(test_monitor_mounts_and_ro_rootfs),
        cmocka_unit_test(test_monitor_network),
        cmocka_unit_test(test_monitor_kill_before_start),
        cmocka_unit_test(test_monitor_many_layers),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
