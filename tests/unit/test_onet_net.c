/*
 * tests/unit/test_onet_net.c - overlaynet against the real kernel (root).
 *
 * Drives the overlaynet API directly with "containers" that are just the
 * namespaces it creates; processes are started in them with nsenter. All
 * traffic stays in namespaces this test creates or on loopback. Everything
 * uses names of its own (bridge onettst0, table onettest, 10.231-10.236.x)
 * and is removed at the end, also on failure (group teardown).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/util.h"

#include "overlaynet/overlaynet.h"

static char root[256];
static char data_root[300], exec_root[300], resolv[300], outfile[300];
static struct onet *onet;
static uv_loop_t *loop;
static pid_t bg[16];
static size_t n_bg;

#define ID(c)                                                                                      \
    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
        c c c c c c c c c c c c c c c c c

/* ---- helpers ----------------------------------------------------------- */

static void quiet_system(const char *cmd)
{
    if (system(cmd) != 0) {
        /* cleanup of things that may not exist */
    }
}

struct run_ctx {
    bool done;
    int64_t status;
};

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct run_ctx *c = p->data;

    c->done = true;
    c->status = sig ? 128 + sig : status;
    uv_close((uv_handle_t *)p, NULL);
}

/* Run a shell command while the loop serves DNS; output in outfile. */
static int sh(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[2048], full[2400];
    va_list ap;
    uv_process_t p;
    struct run_ctx c = {0};
    char *args[] = {(char *)"/bin/sh", (char *)"-c", full, NULL};
    uv_process_options_t o = {.file = "/bin/sh", .args = args, .exit_cb = on_exit_cb};

    va_start(ap, fmt);
    (void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    (void)snprintf(full, sizeof(full), "(%s) >%s 2>&1", cmd, outfile);
    p.data = &c;
    if (uv_spawn(loop, &p, &o) < 0)
        return -1;
    while (!c.done)
        uv_run(loop, UV_RUN_ONCE);
    uv_run(loop, UV_RUN_NOWAIT);
    return (int)c.status;
}

static char *out(void)
{
    static char buf[8192];
    FILE *f = fopen(outfile, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

#define assert_has(want)                                                                           \
    do {                                                                                           \
        if (!strstr(out(), want))                                                                  \
            fail_msg("output lacks '%s':\n%s", want, out());                                       \
    } while (0)

static void bg_start(const char *cmd)
{
    pid_t pid = fork();

    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    bg[n_bg++] = pid;
    usleep(300000);
}

static void bg_stop_all(void)
{
    for (size_t i = 0; i < n_bg; i++) {
        (void)kill(-bg[i], SIGKILL);
        (void)waitpid(bg[i], NULL, 0);
    }
    n_bg = 0;
}

static struct onet *open_onet(void)
{
    struct onet_opts o = {
        .loop = loop,
        .data_root = data_root,
        .exec_root = exec_root,
        .bip = "10.231.0.1/24",
        .bridge_name = "onettst0",
        .nft_table = "onettest",
        .dns = {"127.0.0.77"},
        .n_dns = 1,
        .resolv_conf = resolv,
    };
    struct err err = {0};
    struct onet *n = NULL;
    int r = onet_open(&o, &n, &err);

    if (r < 0)
        fail_msg("onet_open: %s", err.msg);
    return n;
}

static int prepare(const char *id, const char *name, const char *hc_json, const char *net_json,
                   char path[4096], struct err *err)
{
    json_t *hc = json_loads(hc_json, 0, NULL);
    json_t *cfg = json_loads("{\"ExposedPorts\": {\"7000/tcp\": {}}}", 0, NULL);
    json_t *nw = net_json ? json_loads(net_json, 0, NULL) : NULL;
    struct onet_ctr c = {.id = id,
                         .name = name,
                         .hostname = name,
                         .config = cfg,
                         .host_config = hc,
                         .networking = nw};
    int r;

    assert_non_null(hc);
    r = onet_validate(onet, cfg, hc, nw, err);
    if (r == 0)
        r = onet_container_prepare(onet, &c, path, 4096, err);
    json_decref(hc);
    json_decref(cfg);
    json_decref(nw);
    return r;
}

static void net_create(const char *body, int want)
{
    json_t *b = json_loads(body, 0, NULL);
    char id[65];
    struct err err = {0};
    int r;

    assert_non_null(b);
    r = onet_network_create(onet, b, id, &err);
    json_decref(b);
    if (r != want)
        fail_msg("network create %s: got %d (%s), want %d", body, r, err.msg, want);
}

/* ---- setup ------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0 ||
        access("/usr/bin/nsenter", X_OK) != 0)
        return 0;
    (void)snprintf(root, sizeof(root), "/tmp/onet-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    (void)snprintf(data_root, sizeof(data_root), "%s/data", root);
    (void)snprintf(exec_root, sizeof(exec_root), "%s/exec", root);
    (void)snprintf(resolv, sizeof(resolv), "%s/resolv.conf", root);
    (void)snprintf(outfile, sizeof(outfile), "%s/out", root);
    (void)write_file_atomic(resolv, "search example.test\nnameserver 127.0.0.77\n", 43, 0644,
                            false);
    (void)mkdir_p(data_root, 0700);
    (void)mkdir_p(exec_root, 0700);
    /* test_onet_release_off_loop fills the thread pool: make its size known */
    (void)setenv("UV_THREADPOOL_SIZE", "4", 1);
    loop = uv_default_loop();
    return 0;
}

static void pool_unblock(void);

static int group_teardown(void **state)
{
    (void)state;
    if (!loop)
        return 0;
    bg_stop_all();
    pool_unblock(); /* a failed test may have left the thread pool blocked */
    if (onet) {
        const char *none[1];
        json_t *del = NULL;
        onet_sync_running(onet, none, 0);
        (void)onet_network_prune(onet, NULL, &del, NULL);
        json_decref(del);
        onet_close(onet);
        onet = NULL;
    }
    uv_run(loop, UV_RUN_NOWAIT);
    /* belt and braces: nothing of ours may survive a failed run */
    quiet_system("ip link del onettst0 2>/dev/null; ip netns del onet-out 2>/dev/null; "
                 "ip link del onet-out0 2>/dev/null; ip link del onettst1 2>/dev/null; "
                 "nft delete table ip onettest 2>/dev/null");
    (void)rm_rf(root);
    return 0;
}

#define REQUIRE_ROOT()                                                                             \
    do {                                                                                           \
        if (!loop)                                                                                 \
            skip();                                                                                \
    } while (0)

static char pa[4096], pb[4096], pc[4096];

static void test_onet_default_bridge_ports_nat(void **state)
{
    struct err err = {0};
    char www[400], cmd[8192];
    int r;

    (void)state;
    REQUIRE_ROOT();
    onet = open_onet();
    r = prepare(ID("a"), "web",
                "{\"NetworkMode\":\"default\",\"PublishAllPorts\":true,\"PortBindings\":"
                "{\"80/tcp\":[{\"HostPort\":\"18981\"}],"
                "\"5353/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"18982\"}]}}",
                NULL, pa, &err);
    if (r < 0)
        fail_msg("prepare a: %s", err.msg);
    assert_int_equal(sh("nsenter --net=%s ip -br addr show eth0", pa), 0);
    assert_has("10.231.0.2/24");
    assert_int_equal(sh("nsenter --net=%s ip route", pa), 0);
    assert_has("default via 10.231.0.1");
    assert_int_equal(sh("ip -br link show onettst0"), 0);
    r = prepare(ID("b"), "client", "{\"NetworkMode\":\"bridge\"}", NULL, pb, &err);
    if (r < 0)
        fail_msg("prepare b: %s", err.msg);

    (void)snprintf(www, sizeof(www), "%s/www", root);
    (void)mkdir_p(www, 0755);
    (void)snprintf(cmd, sizeof(cmd), "%s/index.html", www);
    (void)write_file_atomic(cmd, "hello-from-web\n", 15, 0644, false);
    (void)chmod(cmd, 0644);
    (void)snprintf(cmd, sizeof(cmd), "exec nsenter --net=%s busybox httpd -f -p 80 -h %s", pa, www);
    bg_start(cmd);
    (void)snprintf(cmd, sizeof(cmd),
                   "exec nsenter --net=%s python3 -c \"import socket\n"
                   "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                   "s.bind(('0.0.0.0',5353))\n"
                   "while True:\n d,a=s.recvfrom(100); s.sendto(b'echo:'+d,a)\"",
                   pa);
    bg_start(cmd);

    /* container -> container on the bridge */
    assert_int_equal(sh("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nsenter --net=%s busybox "
                        "nc 10.231.0.2 80",
                        pb),
                     0);
    assert_has("hello-from-web");
    /* host -> published port, on 127.0.0.1 and on the bridge address */
    assert_int_equal(sh("curl -s --max-time 5 http://127.0.0.1:18981/"), 0);
    assert_has("hello-from-web");
    assert_int_equal(sh("curl -s --max-time 5 http://10.231.0.1:18981/"), 0);
    assert_has("hello-from-web");
    /* another container -> published port on the host's address (DNAT in prerouting) */
    assert_int_equal(sh("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nsenter --net=%s busybox "
                        "nc 10.231.0.1 18981",
                        pb),
                     0);
    assert_has("hello-from-web");
    /* the container reaching its own published port (hairpin) */
    assert_int_equal(sh("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nsenter --net=%s busybox "
                        "nc 10.231.0.1 18981",
                        pa),
                     0);
    assert_has("hello-from-web");
    /* udp, published on 127.0.0.1 only */
    assert_int_equal(sh("python3 -c \"import socket\n"
                        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)\n"
                        "s.sendto(b'ping',('127.0.0.1',18982)); print(s.recvfrom(100)[0])\""),
                     0);
    assert_has("echo:ping");
    /* -P: 7000/tcp got a host port */
    json_t *ps = onet_container_ports_summary(onet, ID("a"));
    size_t i;
    json_t *v;
    bool seen7000 = false;
    json_array_foreach(ps, i, v)
    {
        if (json_integer_value(json_object_get(v, "PrivatePort")) == 7000)
            seen7000 = json_integer_value(json_object_get(v, "PublicPort")) > 0;
    }
    json_decref(ps);
    assert_true(seen7000);
    json_t *st = onet_container_settings_json(onet, ID("a"), "default");
    assert_string_equal(json_string_value(json_object_get(st, "IPAddress")), "10.231.0.2");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(st, "Ports"), "80/tcp"), 0),
            "HostPort")),
        "18981");
    json_decref(st);
    char *hosts = NULL, *rc = NULL;
    assert_int_equal(onet_container_etc_files(onet, ID("a"), "web", "default", &hosts, &rc), 0);
    assert_non_null(strstr(hosts, "10.231.0.2\tweb\n"));
    assert_non_null(strstr(rc, "nameserver 127.0.0.11\n"));
    assert_non_null(strstr(rc, "search example.test\n"));
    free(hosts);
    free(rc);

    /* a port already in use: clear error, nothing half-configured */
    assert_int_equal(sh("ip -o link | grep -c veth"), 0);
    char before[8192];
    (void)snprintf(before, sizeof(before), "%s", out());
    r = prepare(ID("c"), "dup", "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"18981\"}]}}", NULL,
                pc, &err);
    assert_int_equal(r, -EEXIST);
    assert_non_null(strstr(err.msg, "port is already allocated"));
    (void)snprintf(cmd, sizeof(cmd), "%s/netns/%s", exec_root, ID("c"));
    assert_int_not_equal(access(cmd, F_OK), 0);
    assert_int_equal(sh("ip -o link | grep -c veth"), 0);
    assert_string_equal(out(), before);
    /* bad port specifications */
    r = prepare(ID("c"), "bad", "{\"PortBindings\":{\"80/sctp\":[{\"HostPort\":\"1\"}]}}", NULL, pc,
                &err);
    assert_int_equal(r, -EINVAL);

    /* outgoing NAT to a test host in a namespace */
    assert_int_equal(sh("ip netns add onet-out && ip link add onet-out0 type veth peer name eth0 "
                        "netns onet-out && ip addr add 10.236.0.1/30 dev onet-out0 && ip link set "
                        "onet-out0 up && ip -n onet-out addr add 10.236.0.2/30 dev eth0 && ip -n "
                        "onet-out link set eth0 up && ip -n onet-out link set lo up"),
                     0);
    bg_start("exec ip netns exec onet-out python3 -c \"import socket\n"
             "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
             "s.bind(('10.236.0.2',9000)); s.listen(5)\n"
             "while True:\n c,a=s.accept(); c.sendall(('peer='+a[0]+'\\n').encode()); c.close()\"");
    assert_int_equal(sh("timeout 5 nsenter --net=%s busybox nc 10.236.0.2 9000 </dev/null", pb), 0);
    assert_has("peer=10.236.0.1");
}

static void test_onet_user_networks_dns(void **state)
{
    struct err err = {0};
    char p1[4096], p2[4096], p3[4096], p4[4096];
    json_t *j;
    int r;

    (void)state;
    REQUIRE_ROOT();
    assert_non_null(onet);
    net_create("{\"Name\":\"n1\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.232.0.0/24\"}]},"
               "\"Labels\":{\"a\":\"b\"}}",
               0);
    net_create("{\"Name\":\"n2\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.233.0.0/24\","
               "\"Gateway\":\"10.233.0.254\"}]}}",
               0);
    net_create("{\"Name\":\"ni\",\"Internal\":true,\"IPAM\":{\"Config\":[{\"Subnet\":"
               "\"10.234.0.0/24\"}]}}",
               0);
    net_create("{\"Name\":\"n1\"}", -EEXIST);
    net_create("{\"Name\":\"bridge\"}", -EEXIST);
    net_create("{\"Name\":\"x1\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.232.0.128/25\"}]}}",
               -EINVAL);
    net_create("{\"Name\":\"x2\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.0.0.300/24\"}]}}", -EINVAL);
    net_create("{\"Name\":\"x3\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.235.0.0/24\","
               "\"Gateway\":\"10.1.0.1\"}]}}",
               -EINVAL);
    net_create("{\"Name\":\"x4\",\"Driver\":\"macvlan\"}", -ENOENT);
    /* a subnet picked for us */
    net_create("{\"Name\":\"auto\"}", 0);
    assert_int_equal(onet_network_remove(onet, "auto", &err), 0);

    r = prepare(ID("1"), "c1", "{\"NetworkMode\":\"n1\"}",
                "{\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"web-alias\"]}}}", p1, &err);
    if (r < 0)
        fail_msg("c1: %s", err.msg);
    r = prepare(ID("2"), "c2", "{\"NetworkMode\":\"n1\"}", NULL, p2, &err);
    assert_int_equal(r, 0);
    r = prepare(ID("3"), "c3", "{\"NetworkMode\":\"n2\"}", NULL, p3, &err);
    assert_int_equal(r, 0);
    r = prepare(ID("4"), "c4", "{\"NetworkMode\":\"ni\"}", NULL, p4, &err);
    assert_int_equal(r, 0);
    r = prepare(ID("5"), "c5", "{\"NetworkMode\":\"nope\"}", NULL, p4, &err);
    assert_int_equal(r, -ENOENT);

    /* fake upstream resolver on loopback: every A query -> 198.51.100.7 */
    bg_start("exec python3 -c \"import socket\n"
             "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.77',53))\n"
             "while True:\n"
             " q,a=s.recvfrom(512); i=12\n"
             " while q[i]: i+=q[i]+1\n"
             " r=q[:2]+b'\\x81\\x80'+q[4:6]+b'\\x00\\x01\\x00\\x00\\x00\\x00'+q[12:i+5]\n"
             " r+=b'\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04'+bytes([198,51,"
             "100,7])\n"
             " s.sendto(r,a)\"");

    assert_int_equal(sh("nsenter --net=%s busybox nslookup c1 127.0.0.11", p2), 0);
    assert_has("10.232.0.2");
    assert_int_equal(sh("nsenter --net=%s busybox nslookup web-alias 127.0.0.11", p2), 0);
    assert_has("10.232.0.2");
    assert_int_equal(sh("nsenter --net=%s busybox nslookup c1.n1 127.0.0.11", p2), 0);
    assert_has("10.232.0.2");
    /* tcp too */
    assert_int_equal(
        sh("nsenter --net=%s python3 -c \"import socket\n"
           "q=bytes.fromhex('abcd01000001000000000000')+b'\\x02c1\\x00\\x00\\x01\\x00\\x01'\n"
           "s=socket.create_connection(('127.0.0.11',53),3)\n"
           "s.sendall(len(q).to_bytes(2,'big')+q); r=s.recv(600)\n"
           "print(list(r[-4:]))\"",
           p2),
        0);
    assert_has("[10, 232, 0, 2]");
    /* forwarded to the upstream */
    assert_int_equal(sh("nsenter --net=%s busybox nslookup outside.example 127.0.0.11", p2), 0);
    assert_has("198.51.100.7");
    /* c3 (n2) does not see c1's name: the query goes upstream instead */
    (void)sh("nsenter --net=%s busybox nslookup c1 127.0.0.11", p3);
    assert_null(strstr(out(), "10.232.0.2"));

    /* reachability: same network yes, other network no, internal no way out */
    assert_int_equal(sh("nsenter --net=%s busybox ping -c1 -W2 10.232.0.2", p2), 0);
    assert_int_not_equal(sh("nsenter --net=%s busybox ping -c1 -W1 10.232.0.2", p3), 0);
    assert_int_not_equal(sh("nsenter --net=%s busybox ping -c1 -W1 10.236.0.2", p4), 0);
    assert_int_equal(sh("nsenter --net=%s ip route", p4), 0);
    assert_null(strstr(out(), "default"));
    assert_int_equal(sh("nsenter --net=%s busybox ping -c1 -W2 10.236.0.2", p3), 0);

    /* removing a network in use */
    r = onet_network_remove(onet, "n1", &err);
    assert_int_equal(r, -EBUSY);
    assert_non_null(strstr(err.msg, "error while removing network: network n1 id "));
    assert_non_null(strstr(err.msg, "has active endpoints"));

    /* connect c3 to n1 while running, then disconnect */
    json_t *hc = json_pack("{s:s}", "NetworkMode", "n2");
    struct onet_ctr c3 = {.id = ID("3"), .name = "c3", .hostname = "c3", .host_config = hc};
    assert_int_equal(onet_network_connect(onet, "n1", &c3, true, NULL, &err), 0);
    assert_int_equal(sh("nsenter --net=%s busybox ping -c1 -W2 10.232.0.2", p3), 0);
    assert_int_equal(onet_network_connect(onet, "n1", &c3, true, NULL, &err), -EEXIST);
    assert_int_equal(onet_network_disconnect(onet, "n1", ID("3"), false, &err), 0);
    assert_int_not_equal(sh("nsenter --net=%s busybox ping -c1 -W1 10.232.0.2", p3), 0);
    json_decref(hc);

    /* inspect and list */
    assert_int_equal(onet_network_inspect(onet, "n1", &j, &err), 0);
    assert_int_equal(json_object_size(json_object_get(j, "Containers")), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(j, "IPAM"), "Config"), 0), "Subnet")),
        "10.232.0.0/24");
    json_decref(j);
    json_t *f = json_pack("{s:[s]}", "label", "a=b");
    j = onet_network_list(onet, f);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    json_decref(f);
    j = onet_network_list(onet, NULL);
    assert_int_equal(json_array_size(j), 6); /* bridge n1 n2 ni host none */
    json_decref(j);
}

static void test_onet_restart_and_cleanup(void **state)
{
    struct err err = {0};
    json_t *j;
    char tbl[512];

    (void)state;
    REQUIRE_ROOT();
    assert_non_null(onet);
    /* shoald stops with containers attached: everything stays */
    onet_close(onet);
    onet = NULL;
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(sh("ip -br link show onettst0"), 0);
    assert_int_equal(sh("nft list table ip onettest"), 0);
    onet = open_onet();
    assert_int_equal(onet_attached_count(onet), 6);
    assert_int_equal(onet_network_inspect(onet, "n1", &j, &err), 0);
    json_decref(j);
    (void)snprintf(tbl, sizeof(tbl), "%s/netns/%s", exec_root, ID("2"));
    assert_int_equal(sh("nsenter --net=%s busybox nslookup c1 127.0.0.11", tbl), 0);
    assert_has("10.232.0.2");
    assert_int_equal(sh("curl -s --max-time 5 http://127.0.0.1:18981/"), 0);
    assert_has("hello-from-web");
    /* a container that died while we were away */
    const char *alive[] = {ID("a"), ID("b"), ID("1"), ID("2"), ID("3")};
    onet_sync_running(onet, alive, 5);
    assert_int_equal(onet_attached_count(onet), 5);
    /* everything released: networks removable, then nothing left */
    bg_stop_all();
    onet_sync_running(onet, alive, 0);
    assert_int_equal(onet_network_remove(onet, "n1", &err), 0);
    assert_int_equal(onet_network_remove(onet, "bridge", &err), -EPERM);
    onet_close(onet);
    onet = open_onet(); /* networks persist */
    assert_int_equal(onet_network_inspect(onet, "n2", &j, &err), 0);
    json_decref(j);
    assert_int_equal(onet_network_inspect(onet, "n1", &j, &err), -ENOENT);
    j = NULL;
    assert_int_equal(onet_network_prune(onet, NULL, &j, &err), 0);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    onet_close(onet);
    onet = NULL;
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_not_equal(sh("ip link show onettst0"), 0);
    assert_int_not_equal(sh("nft list table ip onettest"), 0);
    assert_int_not_equal(sh("ip -o link | grep -E 'veth|br-'"), 0);
    (void)snprintf(tbl, sizeof(tbl), "%s/netns", exec_root);
    assert_int_not_equal(access(tbl, F_OK), 0);
    quiet_system("ip netns del onet-out 2>/dev/null");
}

/* Work items that block a thread-pool thread until released. */
#define N_HOLD 8
static uv_sem_t hold_sem;
static uv_work_t hold_req[N_HOLD];
static int hold_left;

static void hold_work(uv_work_t *w)
{
    (void)w;
    uv_sem_wait(&hold_sem);
}

static void hold_after(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
    hold_left--;
}

static void pool_hold(void)
{
    for (int i = 0; i < N_HOLD; i++) {
        assert_int_equal(uv_queue_work(loop, &hold_req[i], hold_work, hold_after), 0);
        hold_left++;
    }
}

static void pool_unblock(void)
{
    for (int i = 0; i < hold_left; i++)
        uv_sem_post(&hold_sem);
    for (int i = 0; i < 500 && hold_left; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
}

static void pool_release(void)
{
    for (int i = 0; i < N_HOLD; i++)
        uv_sem_post(&hold_sem);
    for (int i = 0; i < 500 && hold_left; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    assert_int_equal(hold_left, 0);
}

/* Ports of bridge onettst1 (the host ends of its containers' veths). */
static int bridge_ports(void)
{
    if (sh("ip -o link show master onettst1 | wc -l") != 0)
        return -1;
    return atoi(out());
}

static void ctr_id(char id[65], int k)
{
    memset(id, "56789"[k], 64);
    id[64] = '\0';
}

static double now_ms(void)
{
    return (double)uv_hrtime() / 1e6;
}

/* Releasing a container does not delete its veths on the loop: that waits
 * for the thread pool, and the addresses come back only once the links are
 * gone; a full network and onet_close() finish pending deletions at once. */
static void test_onet_release_off_loop(void **state)
{
    const char *hc = "{\"NetworkMode\":\"nr\"}";
    struct err err = {0};
    char id[65], path[4096], names[2048];
    int nsfd[5];
    double t0, t1;
    int r;

    (void)state;
    REQUIRE_ROOT();
    assert_int_equal(uv_sem_init(&hold_sem, 0), 0);
    onet = open_onet();
    /* 10.235.0.2 - .6: five addresses */
    net_create("{\"Name\":\"nr\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.235.0.0/29\"}]},"
               "\"Options\":{\"com.docker.network.bridge.name\":\"onettst1\"}}",
               0);
    for (int k = 0; k < 5; k++) {
        ctr_id(id, k);
        if (prepare(id, "r", hc, NULL, path, &err) < 0)
            fail_msg("prepare %d: %s", k, err.msg);
        /* like a process left in it: the namespace outlives the release, so
         * the kernel does not delete the veths with it */
        nsfd[k] = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(nsfd[k] >= 0);
    }
    assert_int_equal(bridge_ports(), 5);
    r = prepare(ID("f"), "full", hc, NULL, path, &err);
    assert_int_equal(r, -ENOSPC);

    /* every pool thread busy: the deletions wait, the loop does not */
    pool_hold();
    t0 = now_ms();
    for (int k = 0; k < 3; k++) {
        ctr_id(id, k);
        onet_container_release(onet, id, true);
    }
    t1 = now_ms();
    print_message("released 3 containers in %.1f ms\n", t1 - t0);
    assert_int_equal(bridge_ports(), 5);
    assert_null(onet_container_netns(onet, id));
    /* the network is full until the links are gone: a new container makes
     * the pending deletions happen now and gets one of their addresses */
    if (prepare(ID("f"), "full", hc, NULL, path, &err) < 0)
        fail_msg("prepare after release: %s", err.msg);
    assert_int_equal(bridge_ports(), 3);
    onet_container_release(onet, ID("f"), true);
    pool_release();
    assert_int_equal(bridge_ports(), 2);

    /* shoald stops while deletions are pending: nothing is left behind */
    assert_int_equal(sh("ip -o link show master onettst1 | awk -F': ' '{print $2}' | "
                        "sed 's/@.*//' | tr '\\n' ' '"),
                     0);
    (void)snprintf(names, sizeof(names), "%.1000s", out());
    assert_true(strlen(names) > 8);
    pool_hold();
    for (int k = 3; k < 5; k++) {
        ctr_id(id, k);
        onet_container_release(onet, id, true);
    }
    assert_int_equal(onet_attached_count(onet), 0);
    onet_close(onet);
    onet = NULL;
    assert_int_not_equal(sh("ip link show onettst1"), 0);
    assert_int_equal(sh("for l in %s; do ip link show $l && exit 1; done; exit 0", names), 0);
    pool_release();
    uv_run(loop, UV_RUN_NOWAIT);
    uv_sem_destroy(&hold_sem);
    for (int k = 0; k < 5; k++)
        (void)close(nsfd[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onet_default_bridge_ports_nat),
        cmocka_unit_test(test_onet_user_networks_dns),
        cmocka_unit_test(test_onet_restart_and_cleanup),
        cmocka_unit_test(test_onet_release_off_loop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
