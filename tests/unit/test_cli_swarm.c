/* Unit tests for the pure parts of cli/cmd_swarm.c: Go durations, listen
 * addresses, the `node ls` table (checked against docker's recorded output),
 * `node inspect --pretty`, merging `node update` flags into a NodeSpec and
 * the join-command text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"

#include "cli/cli.h"

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);

    assert_non_null(j);
    return j;
}

static void test_duration(void **state)
{
    int64_t ns = -1;

    (void)state;
    assert_int_equal(cli_go_duration_parse("5s", &ns), 0);
    assert_true(ns == 5000000000LL);
    assert_int_equal(cli_go_duration_parse("2160h0m0s", &ns), 0);
    assert_true(ns == 7776000000000000LL);
    assert_int_equal(cli_go_duration_parse("1h30m", &ns), 0);
    assert_true(ns == 5400LL * 1000000000);
    assert_int_equal(cli_go_duration_parse("1.5ms", &ns), 0);
    assert_true(ns == 1500000);
    assert_int_equal(cli_go_duration_parse("300us", &ns), 0);
    assert_true(ns == 300000);
    assert_int_equal(cli_go_duration_parse("10\xc2\xb5s", &ns), 0);
    assert_true(ns == 10000);
    assert_int_equal(cli_go_duration_parse("-2m", &ns), 0);
    assert_true(ns == -120LL * 1000000000);
    assert_int_equal(cli_go_duration_parse("0", &ns), 0);
    assert_true(ns == 0);
    assert_int_equal(cli_go_duration_parse("", &ns), -EINVAL);
    assert_int_equal(cli_go_duration_parse("5", &ns), -EINVAL);
    assert_int_equal(cli_go_duration_parse("s", &ns), -EINVAL);
    assert_int_equal(cli_go_duration_parse("5x", &ns), -EINVAL);
    assert_int_equal(cli_go_duration_parse("1h-2m", &ns), -EINVAL);
    assert_int_equal(cli_go_duration_parse("99999999999h", &ns), -ERANGE);
}

static void test_addr(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(cli_node_addr_normalize("127.0.0.1:4000", out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1:4000");
    assert_int_equal(cli_node_addr_normalize("127.0.0.1", out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1:2377");
    assert_int_equal(cli_node_addr_normalize(":4000", out, sizeof(out)), 0);
    assert_string_equal(out, "0.0.0.0:4000");
    assert_int_equal(cli_node_addr_normalize("eth0", out, sizeof(out)), 0);
    assert_string_equal(out, "eth0:2377");
    assert_int_equal(cli_node_addr_normalize("tcp://10.0.0.1:1", out, sizeof(out)), 0);
    assert_string_equal(out, "10.0.0.1:1");
    assert_int_equal(cli_node_addr_normalize("[::1]:99", out, sizeof(out)), 0);
    assert_string_equal(out, "[::1]:99");
    assert_int_equal(cli_node_addr_normalize("[::1]", out, sizeof(out)), 0);
    assert_string_equal(out, "[::1]:2377");
    assert_int_equal(cli_node_addr_normalize("::1", out, sizeof(out)), -EINVAL);
    assert_int_equal(cli_node_addr_normalize("1.2.3.4:x", out, sizeof(out)), -EINVAL);
    assert_int_equal(cli_node_addr_normalize("1.2.3.4:70000", out, sizeof(out)), -EINVAL);
    assert_int_equal(cli_node_addr_normalize("1.2.3.4:0", out, sizeof(out)), -EINVAL);
    assert_int_equal(cli_node_addr_normalize("averyveryverylonghostname", out, 10), -ENAMETOOLONG);
}

static void test_capitalize(void **state)
{
    char out[32];

    (void)state;
    cli_capitalize("ready", out, sizeof(out));
    assert_string_equal(out, "Ready");
    cli_capitalize("UNREACHABLE", out, sizeof(out));
    assert_string_equal(out, "Unreachable");
    cli_capitalize("", out, sizeof(out));
    assert_string_equal(out, "");
    cli_capitalize("active", out, 3);
    assert_string_equal(out, "Ac");
}

#define NODE(id, host, state, avail, ms)                                                           \
    "{\"ID\":\"" id "\",\"Spec\":{\"Availability\":\"" avail "\"},"                                \
    "\"Description\":{\"Hostname\":\"" host                                                        \
    "\",\"Engine\":{\"EngineVersion\":\"20.10.24+dfsg1\"}},"                                       \
    "\"Status\":{\"State\":\"" state "\"},\"ManagerStatus\":" ms "}"

static void test_node_ls(void **state)
{
    /* docker's node_ls_down and node_ls_two_managers transcripts, merged;
     * input out of order: the table is sorted by hostname */
    json_t *nodes =
        load("[" NODE("lymu02j9hjk6vysymgc3tl40m", "ref-node-b", "down", "active", "null") "," NODE(
            "ie2b8zapu4vb3fk64cjcfpc4v", "ref-node-a", "ready", "active",
            "{\"Leader\":true,\"Reachability\":\"reachable\"}") "," NODE("ktygv29bb4di3jmpy86bzo14"
                                                                         "w",
                                                                         "ref-node-c", "ready",
                                                                         "drain",
                                                                         "{\"Leader\":false,"
                                                                         "\"Reachability\":"
                                                                         "\"unreachable\"}") "]");
    struct buf out;

    (void)state;
    buf_init(&out);
    assert_int_equal(cli_node_ls_render(nodes, "ie2b8zapu4vb3fk64cjcfpc4v", false, &out), 0);
    assert_string_equal(
        out.data,
        "ID                            HOSTNAME     STATUS    AVAILABILITY   MANAGER STATUS   "
        "ENGINE VERSION\n"
        "ie2b8zapu4vb3fk64cjcfpc4v *   ref-node-a   Ready     Active         Leader           "
        "20.10.24+dfsg1\n"
        "lymu02j9hjk6vysymgc3tl40m     ref-node-b   Down      Active                          "
        "20.10.24+dfsg1\n"
        "ktygv29bb4di3jmpy86bzo14w     ref-node-c   Ready     Drain          Unreachable      "
        "20.10.24+dfsg1\n");
    buf_release(&out);
    buf_init(&out);
    assert_int_equal(cli_node_ls_render(nodes, NULL, true, &out), 0);
    assert_string_equal(out.data, "ie2b8zapu4vb3fk64cjcfpc4v\nlymu02j9hjk6vysymgc3tl40m\n"
                                  "ktygv29bb4di3jmpy86bzo14w\n");
    buf_release(&out);
    json_decref(nodes);

    /* no nodes: header only */
    nodes = json_array();
    buf_init(&out);
    assert_int_equal(cli_node_ls_render(nodes, "", false, &out), 0);
    assert_string_equal(out.data, "ID        HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   "
                                  "ENGINE VERSION\n");
    buf_release(&out);
    json_decref(nodes);
}

static void test_node_pretty(void **state)
{
    /* docker's node_inspect_pretty transcript (TrustRoot shortened) */
    json_t *node = load(
        "{\"ID\":\"v73mdzlha5gx4fhvwj104j022\",\"Version\":{\"Index\":9},"
        "\"CreatedAt\":\"2026-11-22T14:50:27.320376972Z\","
        "\"Spec\":{\"Labels\":{},\"Role\":\"manager\",\"Availability\":\"active\"},"
        "\"Description\":{\"Hostname\":\"vm\",\"Platform\":{\"Architecture\":\"x86_64\","
        "\"OS\":\"linux\"},\"Resources\":{\"NanoCPUs\":2000000000,\"MemoryBytes\":25276514304},"
        "\"Engine\":{\"EngineVersion\":\"20.10.24+dfsg1\",\"Plugins\":["
        "{\"Type\":\"Log\",\"Name\":\"json-file\"},{\"Type\":\"Volume\",\"Name\":\"local\"},"
        "{\"Type\":\"Network\",\"Name\":\"overlay\"},{\"Type\":\"Log\",\"Name\":\"awslogs\"},"
        "{\"Type\":\"Network\",\"Name\":\"bridge\"}]},"
        "\"TLSInfo\":{\"TrustRoot\":\"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END "
        "CERTIFICATE-----\\n\",\"CertIssuerSubject\":\"MBMx\",\"CertIssuerPublicKey\":\"MFkw\"}},"
        "\"Status\":{\"State\":\"ready\",\"Addr\":\"127.0.0.1\"},"
        "\"ManagerStatus\":{\"Leader\":true,\"Reachability\":\"reachable\","
        "\"Addr\":\"127.0.0.1:2377\"}}");
    struct buf out;

    (void)state;
    buf_init(&out);
    assert_int_equal(cli_node_pretty(node, &out), 0);
    assert_string_equal(out.data,
                        "ID:\t\t\tv73mdzlha5gx4fhvwj104j022\n"
                        "Hostname:              \tvm\n"
                        "Joined at:             \t2026-11-22 14:50:27.320376972 +0000 utc\n"
                        "Status:\n"
                        " State:\t\t\tReady\n"
                        " Availability:         \tActive\n"
                        " Address:\t\t127.0.0.1\n"
                        "Manager Status:\n"
                        " Address:\t\t127.0.0.1:2377\n"
                        " Raft Status:\t\tReachable\n"
                        " Leader:\t\tYes\n"
                        "Platform:\n"
                        " Operating System:\tlinux\n"
                        " Architecture:\t\tx86_64\n"
                        "Resources:\n"
                        " CPUs:\t\t\t2\n"
                        " Memory:\t\t23.54GiB\n"
                        "Plugins:\n"
                        " Log:\t\tawslogs, json-file\n"
                        " Network:\t\tbridge, overlay\n"
                        " Volume:\t\tlocal\n"
                        "Engine Version:\t\t20.10.24+dfsg1\n"
                        "TLS Info:\n"
                        " TrustRoot:\n"
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
                        "\n"
                        " Issuer Subject:\tMBMx\n"
                        " Issuer Public Key:\tMFkw\n");
    buf_release(&out);
    json_decref(node);

    /* a worker with labels, a whole-second join time, a status message */
    node = load("{\"ID\":\"w\",\"CreatedAt\":\"2026-01-02T03:04:05.500Z\","
                "\"Spec\":{\"Name\":\"n1\",\"Labels\":{\"zone\":\"a\",\"bare\":\"\"},"
                "\"Availability\":\"drain\"},"
                "\"Description\":{\"Hostname\":\"h\",\"Resources\":{\"NanoCPUs\":1500000000,"
                "\"MemoryBytes\":1024}},"
                "\"Status\":{\"State\":\"down\",\"Message\":\"heartbeat failure\"}}");
    buf_init(&out);
    assert_int_equal(cli_node_pretty(node, &out), 0);
    assert_string_equal(out.data, "ID:\t\t\tw\n"
                                  "Name:\t\t\tn1\n"
                                  "Labels:\n"
                                  " - bare\n"
                                  " - zone=a\n"
                                  "Hostname:              \th\n"
                                  "Joined at:             \t2026-01-02 03:04:05.5 +0000 utc\n"
                                  "Status:\n"
                                  " State:\t\t\tDown\n"
                                  " Message:              \theartbeat failure\n"
                                  " Availability:         \tDrain\n"
                                  "Platform:\n"
                                  " Operating System:\t\n"
                                  " Architecture:\t\t\n"
                                  "Resources:\n"
                                  " CPUs:\t\t\t1.5\n"
                                  " Memory:\t\t1KiB\n"
                                  "Engine Version:\t\t\n");
    buf_release(&out);
    json_decref(node);
}

static void test_spec_apply(void **state)
{
    const char *add[] = {"zone=a", "disk=ssd", "flag"};
    const char *rm[] = {"old"};
    struct cli_node_update u = {
        .availability = "Drain", .role = "worker", .label_add = {add, 3}, .label_rm = {rm, 1}};
    json_t *spec = load("{\"Labels\":{\"old\":\"x\",\"keep\":\"y\"},\"Role\":\"manager\","
                        "\"Availability\":\"active\",\"Name\":\"n\"}");
    json_t *want = load("{\"Labels\":{\"keep\":\"y\",\"zone\":\"a\",\"disk\":\"ssd\","
                        "\"flag\":\"\"},\"Role\":\"worker\",\"Availability\":\"drain\","
                        "\"Name\":\"n\"}");
    struct err err = {0};

    (void)state;
    assert_int_equal(cli_node_spec_apply(spec, &u, &err), 0);
    assert_true(json_equal(spec, want));
    json_decref(spec);
    json_decref(want);

    /* label-rm of a missing key fails like docker */
    spec = load("{\"Role\":\"worker\",\"Availability\":\"active\"}");
    u = (struct cli_node_update){.label_rm = {rm, 1}};
    assert_int_equal(cli_node_spec_apply(spec, &u, &err), -ENOENT);
    assert_string_equal(err.msg, "key old doesn't exist in node's labels");
    /* null labels become an object */
    u = (struct cli_node_update){.label_add = {add, 1}};
    assert_int_equal(cli_node_spec_apply(spec, &u, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "Labels"), "zone")),
                        "a");
    u = (struct cli_node_update){.availability = "sleep"};
    assert_int_equal(cli_node_spec_apply(spec, &u, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid availability sleep"));
    u = (struct cli_node_update){.role = "boss"};
    assert_int_equal(cli_node_spec_apply(spec, &u, &err), -EINVAL);
    assert_string_equal(json_string_value(json_object_get(spec, "Availability")), "active");
    json_decref(spec);
}

static void test_join_command(void **state)
{
    json_t *sw =
        load("{\"JoinTokens\":{\"Worker\":\"SWMTKN-1-abc-w\",\"Manager\":\"SWMTKN-1-abc-m\"}}");
    struct buf out;

    (void)state;
    buf_init(&out);
    assert_int_equal(cli_join_command(sw, "127.0.0.1:2377", true, false, &out), 0);
    assert_string_equal(out.data, "To add a worker to this swarm, run the following command:\n\n"
                                  "    shoal swarm join --token SWMTKN-1-abc-w 127.0.0.1:2377\n\n");
    buf_release(&out);
    buf_init(&out);
    assert_int_equal(cli_join_command(sw, "10.0.0.1:4000", false, true, &out), 0);
    assert_string_equal(out.data, "To add a manager to this swarm, run the following command:\n\n"
                                  "    shoal swarm join --token SWMTKN-1-abc-m 10.0.0.1:4000\n\n");
    buf_release(&out);
    json_decref(sw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),     cmocka_unit_test(test_addr),
        cmocka_unit_test(test_capitalize),   cmocka_unit_test(test_node_ls),
        cmocka_unit_test(test_node_pretty),  cmocka_unit_test(test_spec_apply),
        cmocka_unit_test(test_join_command),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
