/* Unit tests for the pure parts of cli/cmd_service.c: flags -> ServiceSpec
 * (checked against the body docker sent in service_create.txt), --publish
 * and --mount, `service update` rules, the `service ps` table with history
 * rows, the `service ls` table, `inspect --pretty` (service_inspect_pretty.txt)
 * and the convergence progress computed from task lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "cli/cli.h"

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);

    if (!j)
        fail_msg("bad test JSON: %s (%s)", e.text, s);
    return j;
}

/* compact dump keeping key order */
static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

    assert_non_null(s);
    return s;
}

static void assert_json_eq(json_t *got, const char *want_text)
{
    json_t *want = load(want_text);
    char *g = dump(got), *w = dump(want);

    if (strcmp(g, w) != 0)
        fail_msg("JSON differs\n got: %s\nwant: %s", g, w);
    free(g);
    free(w);
    json_decref(want);
}

#define STRV(...)                                                                                  \
    ((struct cli_strv){(const char *[]){__VA_ARGS__, NULL},                                        \
                       sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)})

/* ---- flags -> spec ---------------------------------------------------------- */

static void test_spec_create_like_docker(void **state)
{
    /* service_create.txt: --name ref-web --replicas 2 --constraint node.role==manager
     * --publish 8080:80 --env FOO=bar --limit-memory 64M --restart-condition on-failure
     * --update-parallelism 1 --update-delay 2s IMAGE httpd -f -p 80 */
    const char *args[] = {"httpd", "-f", "-p", "80"};
    struct cli_svc_opts o = {0};
    struct err err = {0};
    json_t *spec = NULL;

    (void)state;
    o.name = "ref-web";
    o.replicas = "2";
    o.constraints = STRV("node.role==manager");
    o.publish = STRV("8080:80");
    o.env = STRV("FOO=bar");
    o.limit_memory = "64M";
    o.restart_condition = "on-failure";
    o.update.parallelism = "1";
    o.update.delay = "2s";
    o.networks = STRV("ref-ovl");
    o.image_arg = "127.0.0.1:5111/ref-pull:latest";
    o.args = args;
    o.nargs = 4;
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), 0);
    assert_json_eq(
        spec,
        "{\"Name\":\"ref-web\",\"Labels\":{},\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":"
        "\"127.0.0.1:5111/ref-pull:latest\",\"Args\":[\"httpd\",\"-f\",\"-p\",\"80\"],\"Env\":"
        "[\"FOO=bar\"],\"Init\":false,\"DNSConfig\":{}},\"Resources\":{\"Limits\":{"
        "\"MemoryBytes\":67108864},\"Reservations\":{}},\"RestartPolicy\":{\"Condition\":\"on-"
        "failure\",\"Delay\":5000000000,\"MaxAttempts\":0},\"Placement\":{\"Constraints\":["
        "\"node.role==manager\"]},\"Networks\":[{\"Target\":\"ref-ovl\"}],\"ForceUpdate\":0},"
        "\"Mode\":{\"Replicated\":{\"Replicas\":2}},\"UpdateConfig\":{\"Parallelism\":1,"
        "\"Delay\":2000000000,\"FailureAction\":\"pause\",\"Monitor\":5000000000,"
        "\"MaxFailureRatio\":0,\"Order\":\"stop-first\"},\"EndpointSpec\":{\"Mode\":\"vip\","
        "\"Ports\":[{\"Protocol\":\"tcp\",\"TargetPort\":80,\"PublishedPort\":8080,"
        "\"PublishMode\":\"ingress\"}]}}");
    json_decref(spec);
}

static void test_spec_create_global_and_more(void **state)
{
    struct cli_svc_opts o = {0};
    struct err err = {0};
    json_t *spec = NULL;

    (void)state;
    /* service_create_global_detach.txt */
    o.mode = "global";
    o.name = "ref-glob";
    o.labels = STRV("ref-l=1");
    o.image_arg = "img";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), 0);
    assert_json_eq(spec, "{\"Name\":\"ref-glob\",\"Labels\":{\"ref-l\":\"1\"},\"TaskTemplate\":{"
                         "\"ContainerSpec\":{\"Image\":\"img\",\"Init\":false,\"DNSConfig\":{}},"
                         "\"Resources\":{\"Limits\":{},\"Reservations\":{}},\"Placement\":{},"
                         "\"ForceUpdate\":0},\"Mode\":{\"Global\":{}},\"EndpointSpec\":{\"Mode\":"
                         "\"vip\"}}");
    json_decref(spec);

    /* global + --replicas is refused like docker */
    o.replicas = "3";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "replicas can only be used with replicated or replicated-job mode");
    assert_null(spec);

    memset(&o, 0, sizeof(o));
    o.image_arg = "img";
    o.mode = "bogus";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    assert_string_equal(err.msg, "Unknown mode: bogus, only replicated and global supported");

    /* replicated without --replicas: Replicated {} (the daemon defaults to 1);
     * placement prefs, max per node, reservations, rollback config, mounts,
     * workdir/user/hostname, stop grace, health */
    memset(&o, 0, sizeof(o));
    o.image_arg = "img";
    o.placement_prefs = STRV("spread=node.labels.zone");
    o.max_per_node = "2";
    o.reserve_memory = "1g";
    o.reserve_cpu = "0.5";
    o.limit_cpu = "2";
    o.rollback.parallelism = "0";
    o.rollback.failure_action = "continue";
    o.mounts =
        STRV("type=bind,source=/data,target=/d,readonly", "type=tmpfs,target=/t,tmpfs-size=1m");
    o.workdir = "/w";
    o.user = "nobody";
    o.hostname = "h";
    o.stop_grace = "3s";
    o.health_cmd = "true";
    o.health_interval = "1s";
    o.entrypoint = "sh -c 'echo hi'";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), 0);
    assert_json_eq(
        spec,
        "{\"Labels\":{},\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"img\",\"Init\":false,"
        "\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/data\",\"Target\":\"/d\",\"ReadOnly\":"
        "true},{\"Type\":\"tmpfs\",\"Target\":\"/t\",\"TmpfsOptions\":{\"SizeBytes\":1048576}}],"
        "\"DNSConfig\":{},\"Dir\":\"/w\",\"User\":\"nobody\",\"Hostname\":\"h\",\"Command\":["
        "\"sh\",\"-c\",\"echo hi\"],\"StopGracePeriod\":3000000000,\"Healthcheck\":{\"Test\":["
        "\"CMD-SHELL\",\"true\"],\"Interval\":1000000000}},\"Resources\":{\"Limits\":{"
        "\"NanoCPUs\":2000000000},\"Reservations\":{\"NanoCPUs\":500000000,\"MemoryBytes\":"
        "1073741824}},\"Placement\":{\"Preferences\":[{\"Spread\":{\"SpreadDescriptor\":"
        "\"node.labels.zone\"}}],\"MaxReplicas\":2},\"ForceUpdate\":0},\"Mode\":{\"Replicated\":"
        "{}},\"RollbackConfig\":{\"Parallelism\":0,\"Delay\":0,\"FailureAction\":\"continue\","
        "\"Monitor\":5000000000,\"MaxFailureRatio\":0,\"Order\":\"stop-first\"},"
        "\"EndpointSpec\":{\"Mode\":\"vip\"}}");
    json_decref(spec);

    /* bad values */
    memset(&o, 0, sizeof(o));
    o.image_arg = "img";
    o.rollback.failure_action = "rollback";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    o.rollback.failure_action = NULL;
    o.update.delay = "5";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    assert_string_equal(
        err.msg, "invalid argument \"5\" for \"--update-delay\" flag: time: invalid duration");
    o.update.delay = NULL;
    o.replicas = "-1";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    o.replicas = NULL;
    o.limit_memory = "lots";
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    o.limit_memory = NULL;
    o.placement_prefs = STRV("binpack=x");
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), -EINVAL);
    assert_null(spec);
}

static void test_env_from_environment(void **state)
{
    struct cli_svc_opts o = {0};
    struct err err = {0};
    json_t *spec = NULL;

    (void)state;
    setenv("SVC_TEST_VAR", "v1", 1);
    o.image_arg = "img";
    o.env = STRV("A=1", "SVC_TEST_VAR", "A=2", "UNSET_SVC_VAR_X");
    assert_int_equal(cli_svc_spec_from_opts(&o, &spec, &err), 0);
    assert_json_eq(
        json_object_get(json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec"),
                        "Env"),
        "[\"A=2\",\"SVC_TEST_VAR=v1\",\"UNSET_SVC_VAR_X\"]");
    json_decref(spec);
}

static void test_publish(void **state)
{
    json_t *p = json_array();
    struct err err = {0};

    (void)state;
    assert_int_equal(cli_svc_parse_publish("8080:80", p, &err), 0);
    assert_int_equal(cli_svc_parse_publish("53:53/udp", p, &err), 0);
    assert_int_equal(cli_svc_parse_publish("90", p, &err), 0);
    assert_int_equal(cli_svc_parse_publish("mode=host,target=81,published=8081", p, &err), 0);
    assert_int_equal(cli_svc_parse_publish("7000-7001:70-71", p, &err), 0);
    assert_json_eq(p, "[{\"Protocol\":\"tcp\",\"TargetPort\":80,\"PublishedPort\":8080,"
                      "\"PublishMode\":\"ingress\"},{\"Protocol\":\"udp\",\"TargetPort\":53,"
                      "\"PublishedPort\":53,\"PublishMode\":\"ingress\"},{\"Protocol\":\"tcp\","
                      "\"TargetPort\":90,\"PublishedPort\":0,\"PublishMode\":\"ingress\"},{"
                      "\"Protocol\":\"tcp\",\"TargetPort\":81,\"PublishedPort\":8081,"
                      "\"PublishMode\":\"host\"},{\"Protocol\":\"tcp\",\"TargetPort\":70,"
                      "\"PublishedPort\":7000,\"PublishMode\":\"ingress\"},{\"Protocol\":\"tcp\","
                      "\"TargetPort\":71,\"PublishedPort\":7001,\"PublishMode\":\"ingress\"}]");
    assert_int_equal(cli_svc_parse_publish("1.2.3.4:80:80", p, &err), -EINVAL);
    assert_string_equal(err.msg, "hostip is not supported");
    assert_int_equal(cli_svc_parse_publish("published=80", p, &err), -EINVAL);
    assert_string_equal(err.msg, "missing mandatory field \"target\"");
    assert_int_equal(cli_svc_parse_publish("mode=x,target=1", p, &err), -EINVAL);
    assert_int_equal(cli_svc_parse_publish("80/icmp", p, &err), -EINVAL);
    assert_int_equal(cli_svc_parse_publish("99999", p, &err), -EINVAL);
    assert_int_equal(cli_svc_parse_publish("1-3:1-2", p, &err), -EINVAL);
    assert_int_equal(json_array_size(p), 6);
    json_decref(p);
}

static void test_mount(void **state)
{
    struct err err = {0};
    json_t *m = NULL;

    (void)state;
    assert_int_equal(cli_svc_parse_mount("src=v1,dst=/v", &m, &err), 0);
    assert_json_eq(m, "{\"Type\":\"volume\",\"Source\":\"v1\",\"Target\":\"/v\"}");
    json_decref(m);
    assert_int_equal(cli_svc_parse_mount("type=tmpfs,target=/t,tmpfs-mode=1777", &m, &err), 0);
    assert_json_eq(m, "{\"Type\":\"tmpfs\",\"Target\":\"/t\",\"TmpfsOptions\":{\"Mode\":1023}}");
    json_decref(m);
    assert_int_equal(cli_svc_parse_mount("type=bind,target=/x", &m, &err), -EINVAL);
    assert_int_equal(cli_svc_parse_mount("type=bind,source=/x", &m, &err), -EINVAL);
    assert_string_equal(err.msg, "target is required");
    assert_int_equal(cli_svc_parse_mount("type=nfs,target=/x", &m, &err), -EINVAL);
    assert_int_equal(cli_svc_parse_mount("type=tmpfs,source=a,target=/x", &m, &err), -EINVAL);
    assert_int_equal(cli_svc_parse_mount("type=bind,source=/a,target=/x,bogus=1", &m, &err),
                     -EINVAL);
    assert_null(m);
}

/* ---- update ----------------------------------------------------------------- */

static const char *base_spec =
    "{\"Name\":\"web\",\"Labels\":{\"a\":\"1\",\"b\":\"2\"},\"TaskTemplate\":{\"ContainerSpec\":"
    "{\"Image\":\"img:1\",\"Env\":[\"FOO=bar\",\"X=1\"],\"Init\":false},\"Placement\":{"
    "\"Constraints\":[\"node.role==worker\"]},\"ForceUpdate\":2},\"Mode\":{\"Replicated\":{"
    "\"Replicas\":3}},\"EndpointSpec\":{\"Mode\":\"vip\",\"Ports\":[{\"Protocol\":\"tcp\","
    "\"TargetPort\":80,\"PublishedPort\":8080,\"PublishMode\":\"ingress\"}]}}";

static void test_update_rules(void **state)
{
    struct cli_svc_opts o = {0};
    struct err err = {0};
    json_t *spec = load(base_spec), *tt, *cs;

    (void)state;
    o.env_add = STRV("BAR=baz", "FOO=new");
    o.env_rm = STRV("X");
    o.label_add = STRV("c=3", "a=9");
    o.label_rm = STRV("b");
    o.constraint_add = STRV("node.labels.zone==a");
    o.constraint_rm = STRV("node.role==worker");
    o.publish_add = STRV("9090:90", "8080:80");
    o.publish_rm = STRV("80");
    o.replicas = "5";
    o.force = true;
    o.image = "img:2";
    o.update.parallelism = "5";
    assert_int_equal(cli_svc_spec_apply_update(spec, &o, &err), 0);
    tt = json_object_get(spec, "TaskTemplate");
    cs = json_object_get(tt, "ContainerSpec");
    assert_json_eq(json_object_get(cs, "Env"), "[\"FOO=new\",\"BAR=baz\"]");
    assert_json_eq(json_object_get(spec, "Labels"), "{\"a\":\"9\",\"c\":\"3\"}");
    assert_json_eq(json_object_get(json_object_get(tt, "Placement"), "Constraints"),
                   "[\"node.labels.zone==a\"]");
    /* the port being removed and re-added by the same flags comes back (docker
     * removes first, then adds what is not already present); sorted by
     * "published:target/proto/mode" */
    assert_json_eq(json_object_get(json_object_get(spec, "EndpointSpec"), "Ports"),
                   "[{\"Protocol\":\"tcp\",\"TargetPort\":80,\"PublishedPort\":8080,"
                   "\"PublishMode\":\"ingress\"},{\"Protocol\":\"tcp\",\"TargetPort\":90,"
                   "\"PublishedPort\":9090,\"PublishMode\":\"ingress\"}]");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(spec, "Mode"), "Replicated"), "Replicas")),
                     5);
    assert_int_equal(json_integer_value(json_object_get(tt, "ForceUpdate")), 3);
    assert_string_equal(json_string_value(json_object_get(cs, "Image")), "img:2");
    assert_json_eq(json_object_get(spec, "UpdateConfig"),
                   "{\"Parallelism\":5,\"Delay\":0,\"FailureAction\":\"pause\",\"Monitor\":"
                   "5000000000,\"MaxFailureRatio\":0,\"Order\":\"stop-first\"}");

    /* an existing UpdateConfig is changed in place, not reset to defaults */
    memset(&o, 0, sizeof(o));
    o.update.delay = "1s";
    o.update.max_failure_ratio = "0.25";
    assert_int_equal(cli_svc_spec_apply_update(spec, &o, &err), 0);
    assert_json_eq(json_object_get(spec, "UpdateConfig"),
                   "{\"Parallelism\":5,\"Delay\":1000000000,\"FailureAction\":\"pause\","
                   "\"Monitor\":5000000000,\"MaxFailureRatio\":0.25,\"Order\":\"stop-first\"}");

    /* publish-rm alone removes by target port */
    memset(&o, 0, sizeof(o));
    o.publish_rm = STRV("90");
    assert_int_equal(cli_svc_spec_apply_update(spec, &o, &err), 0);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(spec, "EndpointSpec"), "Ports")), 1);
    json_decref(spec);

    /* --replicas on a global service */
    spec = load("{\"Name\":\"g\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"i\"}},"
                "\"Mode\":{\"Global\":{}}}");
    memset(&o, 0, sizeof(o));
    o.replicas = "2";
    assert_int_equal(cli_svc_spec_apply_update(spec, &o, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "replicas can only be used with replicated or replicated-job mode");
    json_decref(spec);
}

/* ---- formatting helpers ----------------------------------------------------------- */

static void test_duration_string(void **state)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {5000000000LL, "5s"},
        {2500000000LL, "2.5s"},
        {90000000000LL, "1m30s"},
        {3600000000000LL, "1h0m0s"},
        {3661000000000LL, "1h1m1s"},
        {1500000, "1.5ms"},
        {10000, "10\xc2\xb5s"},
        {999, "999ns"},
        {-2000000000LL, "-2s"},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cli_go_duration_string(cases[i].ns, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

static void test_image_display(void **state)
{
    char out[256];

    (void)state;
    cli_svc_image_display("127.0.0.1:5111/ref-pull:latest@sha256:8eb4", out, sizeof(out));
    assert_string_equal(out, "127.0.0.1:5111/ref-pull:latest");
    cli_svc_image_display("busybox@sha256:abcd", out, sizeof(out));
    assert_string_equal(out, "busybox@sha256:abcd"); /* no tag: digest kept */
    cli_svc_image_display("docker.io/library/busybox:1.36@sha256:ab", out, sizeof(out));
    assert_string_equal(out, "busybox:1.36");
    cli_svc_image_display("127.0.0.1:5000/x", out, sizeof(out));
    assert_string_equal(out, "127.0.0.1:5000/x");
}

/* ---- service ps --------------------------------------------------------------------- */

#define TASK(id, slot, node, created, desired, state, ts, err)                                     \
    "{\"ID\":\"" id "\",\"ServiceID\":\"svc1\",\"Slot\":" #slot ",\"NodeID\":\"" node "\","        \
    "\"CreatedAt\":\"" created "\",\"Spec\":{\"ContainerSpec\":{\"Image\":"                        \
    "\"127.0.0.1:5111/ref-pull:latest@sha256:8eb4\"}},\"DesiredState\":\"" desired "\","           \
    "\"Status\":{\"Timestamp\":\"" ts "\",\"State\":\"" state "\",\"Err\":\"" err "\"}}"

static void test_task_table_history(void **state)
{
    /* service_ps_history.txt, shuffled, plus slot 10 (natural sort) */
    json_t *tasks = load("[" TASK(
        "zbvaoeyzoq7iaaaaaaaaaaaaa", 1, "n1", "2026-11-22T15:00:00Z", "shutdown", "shutdown",
        "2026-11-22T15:00:53Z",
        "") "," TASK("xtv57rhcsk4baaaaaaaaaaaaa", 2, "n1", "2026-11-22T15:00:10Z", "running",
                     "running", "2026-11-22T15:00:39Z",
                     "") "," TASK("a5knutsl5575aaaaaaaaaaaaa", 1, "n1", "2026-11-22T14:58:28Z",
                                  "shutdown", "shutdown", "2026-11-22T14:59:00Z",
                                  "") "," TASK("jaheuntvxk7saaaaaaaaaaaaa", 1, "n1",
                                               "2026-11-22T15:00:20Z", "running", "running",
                                               "2026-11-22T15:00:54Z",
                                               "") "," TASK("t8sdba67utdnaaaaaaaaaaaaa", 10, "n2",
                                                            "2026-11-22T15:00:21Z", "ready",
                                                            "ready", "2026-11-22T15:00:54Z",
                                                            "") "," TASK("my2zyg821fchaaaaaaaaaaaa"
                                                                         "a",
                                                                         10, "n2",
                                                                         "2026-11-22T15:00:05Z",
                                                                         "shutdown", "failed",
                                                                         "2026-11-22T15:00:54Z",
                                                                         "task: non-zero exit (1): "
                                                                         "a very long error "
                                                                         "message") "," TASK("qvs7z"
                                                                                             "cmjz3"
                                                                                             "svaaa"
                                                                                             "aaaaa"
                                                                                             "aaaa"
                                                                                             "a",
                                                                                             2, "",
                                                                                             "2026-"
                                                                                             "11-"
                                                                                             "22T15"
                                                                                             ":00:"
                                                                                             "01Z",
                                                                                             "shutd"
                                                                                             "own",
                                                                                             "shutd"
                                                                                             "own",
                                                                                             "2026-"
                                                                                             "11-"
                                                                                             "22T15"
                                                                                             ":00:"
                                                                                             "38Z",
                                                                                             "") "]");
    json_t *svc = load("{\"svc1\":\"ref-web\"}"), *nodes = load("{\"n1\":\"vm\",\"n2\":\"vm2\"}");
    struct cli_task_print_opts o = {.trunc = true, .service_names = svc, .node_names = nodes};
    struct err err = {0};
    struct buf out;
    int64_t now;

    (void)state;
    assert_int_equal(time_parse_rfc3339("2026-11-22T15:01:00Z", &now), 0);
    o.now_ns = now;
    buf_init(&out);
    assert_int_equal(cli_task_print(tasks, &o, &out, &err), 0);
    assert_string_equal(out.data,
                        "ID             NAME             IMAGE                            NODE     "
                        " DESIRED STATE   "
                        "CURRENT STATE             ERROR                              PORTS\n"
                        "jaheuntvxk7s   ref-web.1        127.0.0.1:5111/ref-pull:latest   vm       "
                        " Running         "
                        "Running 6 seconds ago                                        \n"
                        "zbvaoeyzoq7i    \\_ ref-web.1    127.0.0.1:5111/ref-pull:latest   vm      "
                        "  Shutdown        "
                        "Shutdown 7 seconds ago                                       \n"
                        "a5knutsl5575    \\_ ref-web.1    127.0.0.1:5111/ref-pull:latest   vm      "
                        "  Shutdown        "
                        "Shutdown 2 minutes ago                                       \n"
                        "xtv57rhcsk4b   ref-web.2        127.0.0.1:5111/ref-pull:latest   vm       "
                        " Running         "
                        "Running 21 seconds ago                                       \n"
                        "qvs7zcmjz3sv    \\_ ref-web.2    127.0.0.1:5111/ref-pull:latest           "
                        "  Shutdown        "
                        "Shutdown 22 seconds ago                                      \n"
                        "t8sdba67utdn   ref-web.10       127.0.0.1:5111/ref-pull:latest   vm2      "
                        " Ready           "
                        "Ready 6 seconds ago                                          \n"
                        "my2zyg821fch    \\_ ref-web.10   127.0.0.1:5111/ref-pull:latest   vm2     "
                        "  Shutdown        "
                        "Failed 6 seconds ago      \"task: non-zero exit (1): a ve\xe2\x80\xa6"
                        "\"   \n");

    /* quiet: full IDs in the same order; a custom template */
    out.len = 0;
    o.quiet = true;
    o.trunc = false;
    assert_int_equal(cli_task_print(tasks, &o, &out, &err), 0);
    assert_true(strncmp(out.data, "jaheuntvxk7saaaaaaaaaaaaa\nzbvaoeyzoq7iaaaaaaaaaaaaa\n", 52) ==
                0);
    out.len = 0;
    o.quiet = false;
    o.format = "{{.Name}} {{.DesiredState}}";
    assert_int_equal(cli_task_print(tasks, &o, &out, &err), 0);
    /* no indentation outside tables (docker: indent only for table formats) */
    assert_true(strncmp(out.data, "ref-web.1 Running\nref-web.1 Shutdown\n", 36) == 0);
    out.len = 0;
    o.format = "table {{.ID}}\\t{{.Name}}";
    o.trunc = true;
    assert_int_equal(cli_task_print(tasks, &o, &out, &err), 0);
    assert_true(strncmp(out.data, "ID             NAME\njaheuntvxk7s   ref-web.1\n", 45) == 0);
    buf_release(&out);
    json_decref(tasks);
    json_decref(svc);
    json_decref(nodes);
}

/* ---- service ls ---------------------------------------------------------------------- */

static void test_service_ls(void **state)
{
    json_t *list = load(
        "[{\"ID\":\"zzzzzzzzzzzzzzzzzzzzzzzzz\",\"Spec\":{\"Name\":\"web10\",\"TaskTemplate\":{"
        "\"ContainerSpec\":{\"Image\":\"bb:latest\"}},\"Mode\":{\"Global\":{}}},\"ServiceStatus\":"
        "{\"RunningTasks\":2,\"DesiredTasks\":3}},"
        "{\"ID\":\"ic2bw55v9dz9a5moaogrs5vgb\",\"Spec\":{\"Name\":\"ref-web\",\"TaskTemplate\":{"
        "\"ContainerSpec\":{\"Image\":\"127.0.0.1:5111/ref-pull:latest@sha256:8eb4\"}},\"Mode\":{"
        "\"Replicated\":{\"Replicas\":2}}},\"Endpoint\":{\"Ports\":[{\"Protocol\":\"tcp\","
        "\"TargetPort\":80,\"PublishedPort\":8080,\"PublishMode\":\"ingress\"}]},"
        "\"ServiceStatus\":{\"RunningTasks\":2,\"DesiredTasks\":2}},"
        "{\"ID\":\"aaaaaaaaaaaaaaaaaaaaaaaaa\",\"Spec\":{\"Name\":\"web2\",\"TaskTemplate\":{"
        "\"ContainerSpec\":{\"Image\":\"bb\"},\"Placement\":{\"MaxReplicas\":1}},\"Mode\":{"
        "\"Replicated\":{\"Replicas\":4}}},\"Endpoint\":{\"Ports\":[{\"Protocol\":\"tcp\","
        "\"TargetPort\":81,\"PublishedPort\":8081,\"PublishMode\":\"ingress\"},{\"Protocol\":"
        "\"tcp\",\"TargetPort\":80,\"PublishedPort\":8080,\"PublishMode\":\"ingress\"},{"
        "\"Protocol\":\"udp\",\"TargetPort\":53,\"PublishedPort\":53,\"PublishMode\":\"ingress\"},"
        "{\"Protocol\":\"tcp\",\"TargetPort\":22,\"PublishedPort\":2222,\"PublishMode\":\"host\"}"
        "]},\"ServiceStatus\":{\"RunningTasks\":1,\"DesiredTasks\":4}}]");
    struct err err = {0};
    struct buf out;

    (void)state;
    buf_init(&out);
    assert_int_equal(cli_service_ls_render(list, false, NULL, &out, &err), 0);
    assert_string_equal(
        out.data,
        "ID             NAME      MODE         REPLICAS               IMAGE                      "
        "      PORTS\n"
        "ic2bw55v9dz9   ref-web   replicated   2/2                    127.0.0.1:5111/ref-pull:"
        "latest   *:8080->80/tcp\n"
        "aaaaaaaaaaaa   web2      replicated   1/4 (max 1 per node)   bb                         "
        "      *:8080-8081->80-81/tcp, *:53->53/udp\n"
        "zzzzzzzzzzzz   web10     global       2/3                    bb:latest                  "
        "      \n");
    out.len = 0;
    assert_int_equal(cli_service_ls_render(list, true, NULL, &out, &err), 0);
    assert_string_equal(out.data, "ic2bw55v9dz9\naaaaaaaaaaaa\nzzzzzzzzzzzz\n");
    out.len = 0;
    assert_int_equal(cli_service_ls_render(list, false, "{{.Name}}={{.Replicas}}", &out, &err), 0);
    assert_string_equal(out.data, "ref-web=2/2\nweb2=1/4 (max 1 per node)\nweb10=2/3\n");
    buf_release(&out);
    json_decref(list);
}

/* ---- inspect --pretty ------------------------------------------------------------------ */

static void test_pretty(void **state)
{
    /* the object of service_inspect_pretty.txt (trimmed to what is shown) */
    json_t *svc = load(
        "{\"ID\":\"ic2bw55v9dz9a5moaogrs5vgb\",\"Spec\":{\"Name\":\"ref-web\",\"Labels\":{},"
        "\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"127.0.0.1:5111/ref-pull:latest@sha256:"
        "8eb4\",\"Args\":[\"httpd\",\"-f\",\"-p\",\"80\"],\"Env\":[\"FOO=bar\"],\"Init\":false,"
        "\"StopGracePeriod\":10000000000,\"DNSConfig\":{},\"Isolation\":\"default\"},"
        "\"Resources\":{\"Limits\":{\"MemoryBytes\":67108864},\"Reservations\":{}},"
        "\"RestartPolicy\":{\"Condition\":\"on-failure\",\"Delay\":5000000000,\"MaxAttempts\":0},"
        "\"Placement\":{\"Constraints\":[\"node.role==manager\"]},\"Networks\":[{\"Target\":"
        "\"t54p\"}],\"ForceUpdate\":0,\"Runtime\":\"container\"},\"Mode\":{\"Replicated\":{"
        "\"Replicas\":2}},\"UpdateConfig\":{\"Parallelism\":1,\"Delay\":2000000000,"
        "\"FailureAction\":\"pause\",\"Monitor\":5000000000,\"MaxFailureRatio\":0,\"Order\":"
        "\"stop-first\"},\"RollbackConfig\":{\"Parallelism\":1,\"FailureAction\":\"pause\","
        "\"Monitor\":5000000000,\"MaxFailureRatio\":0,\"Order\":\"stop-first\"},"
        "\"EndpointSpec\":{\"Mode\":\"vip\",\"Ports\":[]}},\"Endpoint\":{\"Ports\":[{"
        "\"Protocol\":\"tcp\",\"TargetPort\":80,\"PublishedPort\":8080,\"PublishMode\":"
        "\"ingress\"}]}}");
    json_t *names = load("{\"t54p\":\"ref-ovl\"}");
    struct buf out;

    (void)state;
    buf_init(&out);
    assert_true(cli_service_pretty(svc, names, 0, &out) >= 0);
    assert_string_equal(out.data,
                        "\nID:\t\tic2bw55v9dz9a5moaogrs5vgb\nName:\t\tref-web\nService Mode:\t"
                        "Replicated\n Replicas:\t2\nPlacement:\n Constraints:\t[node.role=="
                        "manager]\nUpdateConfig:\n Parallelism:\t1\n Delay:\t\t2s\n On failure:\t"
                        "pause\n Monitoring Period: 5s\n Max failure ratio: 0\n Update order:      "
                        "stop-first\nRollbackConfig:\n Parallelism:\t1\n On failure:\tpause\n "
                        "Monitoring Period: 5s\n Max failure ratio: 0\n Rollback order:    stop-"
                        "first\nContainerSpec:\n Image:\t\t127.0.0.1:5111/ref-pull:latest@sha256:"
                        "8eb4\n Args:\t\thttpd -f -p 80 \n Env:\t\tFOO=bar \n Init:\t\tfalse\n"
                        "Resources:\n Limits:\n  Memory:\t64MiB\nNetworks: ref-ovl \nEndpoint "
                        "Mode:\tvip\nPorts:\n PublishedPort = 8080\n  Protocol = tcp\n  "
                        "TargetPort = 80\n  PublishMode = ingress \n");
    buf_release(&out);
    json_decref(svc);
    json_decref(names);
}

/* ---- progress ------------------------------------------------------------------------- */

static char *msgs_text(const struct cli_svc_progress *p)
{
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < p->nmsgs; i++)
        (void)buf_printf(&b, "%s: %s|%lld/%lld\n", p->msgs[i].id ? p->msgs[i].id : "-",
                         p->msgs[i].action, (long long)p->msgs[i].current,
                         (long long)p->msgs[i].total);
    (void)buf_puts(&b, "");
    return buf_steal(&b);
}

#define PTASK(slot, node, desired, state, err)                                                     \
    "{\"ID\":\"t" #slot node desired state "\",\"Slot\":" #slot ",\"NodeID\":\"" node              \
    "\",\"DesiredState\":\"" desired "\",\"Status\":{\"State\":\"" state "\",\"Err\":\"" err       \
    "\"}}"

static const char *nodes_json = "[{\"ID\":\"n1\",\"Status\":{\"State\":\"ready\"}},"
                                "{\"ID\":\"n2\",\"Status\":{\"State\":\"ready\"}},"
                                "{\"ID\":\"n3\",\"Status\":{\"State\":\"down\"}}]";

static void test_progress_replicated(void **state)
{
    json_t *svc = load("{\"ID\":\"s\",\"Spec\":{\"Mode\":{\"Replicated\":{\"Replicas\":3}}}}");
    json_t *nodes = load(nodes_json), *tasks;
    struct cli_svc_progress p;
    struct err err = {0};
    bool conv = true;
    char *t;

    (void)state;
    cli_svc_progress_init(&p);
    tasks = load("[]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    json_decref(tasks);
    assert_false(conv);
    t = msgs_text(&p);
    assert_string_equal(t, "overall progress: 0 out of 3 tasks|0/0\n1/3:  |0/0\n2/3:  |0/0\n"
                           "3/3:  |0/0\noverall progress: 0 out of 3 tasks|0/0\n");
    free(t);
    cli_svc_progress_clear(&p);

    /* slot 2 has an old running task (desired shutdown) and a new pending one:
     * the lowest desired state wins; slot 3's task sits on a down node */
    tasks = load("[" PTASK(1, "n1", "running", "running", "") "," PTASK(
        2, "n1", "shutdown", "running",
        "") "," PTASK(2, "n2", "running", "pending", "") "," PTASK(3, "n3", "running", "running",
                                                                   "") "," PTASK(4, "", "running",
                                                                                 "remove", "") "]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    json_decref(tasks);
    assert_false(conv);
    t = msgs_text(&p);
    assert_string_equal(t, "1/3: running  |9/9\n2/3: pending  |3/9\n"
                           "overall progress: 1 out of 3 tasks|0/0\n");
    free(t);
    cli_svc_progress_clear(&p);

    /* an error shows in the slot line; rollback wording */
    tasks = load("[" PTASK(1, "n1", "running", "running", "") "," PTASK(
        2, "n2", "running", "rejected", "no suitable node\\nreally") "," PTASK(3, "n2", "running",
                                                                               "running", "") "]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, true, &conv, &err), 0);
    json_decref(tasks);
    t = msgs_text(&p);
    assert_string_equal(t, "1/3: running  |9/9\n2/3: no suitable node really|0/0\n"
                           "3/3: running  |9/9\n"
                           "overall progress: rolling back update: 2 out of 3 tasks|0/0\n");
    free(t);
    cli_svc_progress_clear(&p);

    /* converged: the overall line is written once, then nothing more */
    tasks = load("[" PTASK(1, "n1", "running", "running", "") "," PTASK(
        2, "n2", "running", "running", "") "," PTASK(3, "n2", "running", "running", "") "]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    assert_true(conv);
    t = msgs_text(&p);
    assert_string_equal(t, "1/3: running  |9/9\n2/3: running  |9/9\n3/3: running  |9/9\n"
                           "overall progress: 3 out of 3 tasks|0/0\n");
    free(t);
    cli_svc_progress_clear(&p);
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    assert_true(conv);
    assert_int_equal(p.nmsgs, 0);
    json_decref(tasks);
    cli_svc_progress_release(&p);
    json_decref(svc);

    /* more than 20 replicas: no per-slot lines */
    svc = load("{\"Spec\":{\"Mode\":{\"Replicated\":{\"Replicas\":30}}}}");
    cli_svc_progress_init(&p);
    tasks = load("[" PTASK(1, "n1", "running", "running", "") "]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    t = msgs_text(&p);
    assert_string_equal(t, "overall progress: 0 out of 30 tasks|0/0\n"
                           "overall progress: 1 out of 30 tasks|0/0\n");
    free(t);
    json_decref(tasks);
    cli_svc_progress_release(&p);
    json_decref(svc);
    json_decref(nodes);
}

static void test_progress_global(void **state)
{
    json_t *svc = load("{\"Spec\":{\"Mode\":{\"Global\":{}}}}");
    json_t *nodes = load(nodes_json), *tasks;
    struct cli_svc_progress p;
    struct err err = {0};
    bool conv = true;
    char *t;

    (void)state;
    cli_svc_progress_init(&p);
    tasks = load("[]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    json_decref(tasks);
    assert_false(conv);
    t = msgs_text(&p);
    assert_string_equal(t, "overall progress: waiting for new tasks|0/0\n");
    free(t);
    cli_svc_progress_clear(&p);
    tasks = load("[" PTASK(0, "n1", "running", "running", "") "," PTASK(0, "n2", "running",
                                                                        "starting", "") "]");
    assert_int_equal(cli_svc_progress_step(&p, svc, tasks, nodes, false, &conv, &err), 0);
    json_decref(tasks);
    assert_false(conv);
    t = msgs_text(&p);
    assert_string_equal(t, "overall progress: 0 out of 2 tasks|0/0\nn1: running  |9/9\n"
                           "n2: starting |8/9\noverall progress: 1 out of 2 tasks|0/0\n");
    free(t);
    cli_svc_progress_release(&p);
    json_decref(svc);

    /* a service in neither mode */
    svc = load("{\"Spec\":{\"Mode\":{}}}");
    cli_svc_progress_init(&p);
    assert_int_equal(cli_svc_progress_step(&p, svc, nodes, nodes, false, &conv, &err), -EINVAL);
    assert_string_equal(err.msg, "unrecognized service mode");
    cli_svc_progress_release(&p);
    json_decref(svc);
    json_decref(nodes);
}

static void test_progress_format(void **state)
{
    struct cli_prog_msg m = {
        .id = (char *)"1/2", .action = (char *)"pending  ", .current = 3, .total = 9};
    struct buf b;

    (void)state;
    buf_init(&b);
    /* service_create.txt under a 120-column terminal */
    assert_true(cli_prog_msg_format(&m, 120, &b) >= 0);
    assert_string_equal(b.data,
                        "1/2: pending   [================>                                  ] ");
    b.len = 0;
    assert_true(cli_prog_msg_format(&m, 80, &b) >= 0);
    assert_string_equal(b.data, "1/2: pending   ");
    b.len = 0;
    m.current = 9;
    assert_true(cli_prog_msg_format(&m, 200, &b) >= 0);
    assert_string_equal(b.data,
                        "1/2: pending   [==================================================>] ");
    b.len = 0;
    m.id = (char *)"overall progress";
    m.action = (char *)"0 out of 2 tasks";
    m.current = m.total = 0;
    assert_true(cli_prog_msg_format(&m, 200, &b) >= 0);
    assert_string_equal(b.data, "overall progress: 0 out of 2 tasks ");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_create_like_docker),
        cmocka_unit_test(test_spec_create_global_and_more),
        cmocka_unit_test(test_env_from_environment),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_mount),
        cmocka_unit_test(test_update_rules),
        cmocka_unit_test(test_duration_string),
        cmocka_unit_test(test_image_display),
        cmocka_unit_test(test_task_table_history),
        cmocka_unit_test(test_service_ls),
        cmocka_unit_test(test_pretty),
        cmocka_unit_test(test_progress_replicated),
        cmocka_unit_test(test_progress_global),
        cmocka_unit_test(test_progress_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
