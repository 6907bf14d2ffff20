/* Unit tests for cli/flags.c and cli/runopts.c: docker-style flag parsing and
 * the POST /containers/create body built from `run`/`create` flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static json_t *build(struct cli_run_opts *o, bool is_run, int argc, const char **cargv)
{
    json_t *body = NULL;
    struct err err;
    int ex = -1;

    memset(o, 0, sizeof(*o));
    assert_int_equal(cli_run_opts_parse(o, is_run, argc, (char **)cargv, &ex), CLI_FLAGS_OK);
    assert_int_equal(cli_run_opts_to_json(o, &body, &err), 0);
    return body;
}

static json_int_t hc_int(json_t *body, const char *key)
{
    json_t *v = json_object_get(json_object_get(body, "HostConfig"), key);

    assert_non_null(v);
    return json_integer_value(v);
}

static void test_run_basic(void **state)
{
    const char *argv[] = {"-e",           "A=1",     "-m",     "32m", "--cpus", "0.5",
                          "--pids-limit", "50",      "--name", "x",   "img",    "sh",
                          "-c",           "echo hi", "-e",     "B=2"};
    struct cli_run_opts o;
    json_t *body = build(&o, true, ARGC(argv), argv);
    json_t *cmd = json_object_get(body, "Cmd");

    (void)state;
    assert_string_equal(o.name, "x");
    assert_string_equal(json_string_value(json_object_get(body, "Image")), "img");
    /* flags stop at the image: "-c" and "-e B=2" belong to the command */
    assert_int_equal(json_array_size(cmd), 5);
    assert_string_equal(json_string_value(json_array_get(cmd, 0)), "sh");
    assert_string_equal(json_string_value(json_array_get(cmd, 1)), "-c");
    assert_string_equal(json_string_value(json_array_get(cmd, 2)), "echo hi");
    assert_string_equal(json_string_value(json_array_get(cmd, 3)), "-e");
    assert_int_equal(json_array_size(json_object_get(body, "Env")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Env"), 0)), "A=1");
    assert_int_equal(hc_int(body, "Memory"), 33554432);
    assert_int_equal(hc_int(body, "NanoCpus"), 500000000);
    assert_int_equal(hc_int(body, "PidsLimit"), 50);
    assert_int_equal(hc_int(body, "MemorySwappiness"), -1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "HostConfig"), "NetworkMode")),
        "default");
    assert_true(json_is_false(json_object_get(json_object_get(body, "HostConfig"), "AutoRemove")));
    assert_true(json_is_true(json_object_get(body, "AttachStdout")));
    assert_true(json_is_true(json_object_get(body, "AttachStderr")));
    assert_true(json_is_false(json_object_get(body, "AttachStdin")));
    assert_true(json_is_null(json_object_get(body, "Entrypoint")));
    assert_non_null(json_object_get(
        json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig"), "default"));
    json_decref(body);
    cli_run_opts_release(&o);
}

static void test_run_detach_rm_network(void **state)
{
    const char *argv[] = {
        "-d",  "--rm", "--network=none", "-it", "-eFOO=bar", "--entrypoint", "", "-l",
        "k=v", "-l",   "flag",           "img"};
    struct cli_run_opts o;
    json_t *body = build(&o, true, ARGC(argv), argv);
    json_t *hc = json_object_get(body, "HostConfig");

    (void)state;
    assert_true(o.detach && o.rm && o.interactive && o.tty);
    assert_true(json_is_null(json_object_get(body, "Cmd")));
    assert_true(json_is_true(json_object_get(hc, "AutoRemove")));
    assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")), "none");
    assert_int_equal(json_object_size(json_object_get(json_object_get(body, "NetworkingConfig"),
                                                      "EndpointsConfig")),
                     0);
    /* -d: nothing attached, stdin stays open */
    assert_true(json_is_false(json_object_get(body, "AttachStdout")));
    assert_true(json_is_false(json_object_get(body, "AttachStdin")));
    assert_true(json_is_false(json_object_get(body, "StdinOnce")));
    assert_true(json_is_true(json_object_get(body, "OpenStdin")));
    assert_true(json_is_true(json_object_get(body, "Tty")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Env"), 0)),
                        "FOO=bar");
    assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Entrypoint"), 0)),
                        "");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "Labels"), "k")),
                        "v");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "Labels"), "flag")),
                        "");
    json_decref(body);
    cli_run_opts_release(&o);
}

static void test_run_interactive_attached(void **state)
{
    const char *argv[] = {"-i", "img", "cat"};
    struct cli_run_opts o;
    json_t *body = build(&o, true, ARGC(argv), argv);

    (void)state;
    assert_true(json_is_true(json_object_get(body, "AttachStdin")));
    assert_true(json_is_true(json_object_get(body, "OpenStdin")));
    assert_true(json_is_true(json_object_get(body, "StdinOnce")));
    json_decref(body);
    cli_run_opts_release(&o);
}

static void test_run_ports_restart(void **state)
{
    const char *argv[] = {"-p",
                          "18080:80",
                          "-p",
                          "127.0.0.1:9090:90/udp",
                          "-p",
                          "7000-7001:70-71",
                          "-p",
                          "[::1]::53",
                          "--restart",
                          "on-failure:3",
                          "--stop-timeout",
                          "5",
                          "--stop-signal",
                          "USR1",
                          "-w",
                          "/tmp",
                          "-u",
                          "1000",
                          "-h",
                          "hh",
                          "img"};
    struct cli_run_opts o;
    json_t *body = build(&o, false, ARGC(argv), argv);
    json_t *hc = json_object_get(body, "HostConfig");
    json_t *pb = json_object_get(hc, "PortBindings");
    json_t *b;

    (void)state;
    assert_non_null(json_object_get(json_object_get(body, "ExposedPorts"), "80/tcp"));
    assert_non_null(json_object_get(json_object_get(body, "ExposedPorts"), "90/udp"));
    assert_non_null(json_object_get(json_object_get(body, "ExposedPorts"), "71/tcp"));
    b = json_array_get(json_object_get(pb, "80/tcp"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "HostIp")), "");
    assert_string_equal(json_string_value(json_object_get(b, "HostPort")), "18080");
    b = json_array_get(json_object_get(pb, "90/udp"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "HostIp")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(b, "HostPort")), "9090");
    b = json_array_get(json_object_get(pb, "71/tcp"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "HostPort")), "7001");
    b = json_array_get(json_object_get(pb, "53/tcp"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "HostIp")), "::1");
    assert_string_equal(json_string_value(json_object_get(b, "HostPort")), "");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(hc, "RestartPolicy"), "Name")),
        "on-failure");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(hc, "RestartPolicy"),
                                                        "MaximumRetryCount")),
                     3);
    assert_int_equal(json_integer_value(json_object_get(body, "StopTimeout")), 5);
    assert_string_equal(json_string_value(json_object_get(body, "StopSignal")), "USR1");
    assert_string_equal(json_string_value(json_object_get(body, "WorkingDir")), "/tmp");
    assert_string_equal(json_string_value(json_object_get(body, "User")), "1000");
    assert_string_equal(json_string_value(json_object_get(body, "Hostname")), "hh");
    json_decref(body);
    cli_run_opts_release(&o);
}

static void test_run_env_file(void **state)
{
    char path[] = "/tmp/test_cli_envXXXXXX";
    int fd = mkstemp(path);
    const char *content = "# comment\n\nX=1\n  Y=two words\nTEST_CLI_FROM_ENV\nTEST_CLI_UNSET\n";
    const char *argv[] = {"--env-file", path, "-e", "Z=3", "img"};
    struct cli_run_opts o;
    json_t *body, *env;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    setenv("TEST_CLI_FROM_ENV", "yes", 1);
    unsetenv("TEST_CLI_UNSET");
    body = build(&o, true, ARGC(argv), argv);
    unlink(path);
    env = json_object_get(body, "Env");
    assert_int_equal(json_array_size(env), 4);
    assert_string_equal(json_string_value(json_array_get(env, 0)), "X=1");
    assert_string_equal(json_string_value(json_array_get(env, 1)), "Y=two words");
    assert_string_equal(json_string_value(json_array_get(env, 2)), "TEST_CLI_FROM_ENV=yes");
    assert_string_equal(json_string_value(json_array_get(env, 3)), "Z=3");
    json_decref(body);
    cli_run_opts_release(&o);
}

static void test_run_errors(void **state)
{
    struct cli_run_opts o;
    int ex;
    const char *bad_mem[] = {"-m", "foo", "img"};
    const char *bad_cpus[] = {"--cpus", "0.0000000001", "img"};
    const char *conflict[] = {"--rm", "--restart", "always", "img"};
    const char *unknown[] = {"--bogus", "img"};
    const char *noimg[] = {"-d"};
    const char *help[] = {"--help"};
    const char *needarg[] = {"img", "--name"}; /* after the image: part of the command */

    (void)state;
    memset(&o, 0, sizeof(o));
    assert_true(cli_run_opts_parse(&o, true, ARGC(bad_mem), (char **)bad_mem, &ex) < 0);
    assert_int_equal(ex, 125);
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_true(cli_run_opts_parse(&o, true, ARGC(bad_cpus), (char **)bad_cpus, &ex) < 0);
    assert_int_equal(ex, 125);
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_true(cli_run_opts_parse(&o, true, ARGC(conflict), (char **)conflict, &ex) < 0);
    assert_int_equal(ex, 125);
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_true(cli_run_opts_parse(&o, true, ARGC(unknown), (char **)unknown, &ex) < 0);
    assert_int_equal(ex, 125);
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_true(cli_run_opts_parse(&o, true, ARGC(noimg), (char **)noimg, &ex) < 0);
    assert_int_equal(ex, 1); /* "requires at least 1 argument" */
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_int_equal(cli_run_opts_parse(&o, true, ARGC(help), (char **)help, &ex), CLI_FLAGS_HELP);
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_int_equal(cli_run_opts_parse(&o, true, ARGC(needarg), (char **)needarg, &ex),
                     CLI_FLAGS_OK);
    assert_null(o.name);
    assert_int_equal(o.cmd.n, 2);
    cli_run_opts_release(&o);
    memset(&o, 0, sizeof(o));
    assert_true(cli_run_opts_parse(&o, false, 3, (char **)(const char *[]){"-d", "img", "x"}, &ex) <
                0);
    assert_int_equal(ex, 125); /* create has no -d */
    cli_run_opts_release(&o);
}

static void test_flags_generic(void **state)
{
    bool force = false, all = false;
    long long n = -1;
    const char *fmt = NULL;
    struct cli_strv filters = {NULL, 0}, args;
    const struct cli_flag flags[] = {
        {.name = "force", .shorthand = 'f', .type = CLI_FLAG_BOOL, .dest = &force},
        {.name = "all", .shorthand = 'a', .type = CLI_FLAG_BOOL, .dest = &all},
        {.name = "last", .shorthand = 'n', .type = CLI_FLAG_INT, .dest = &n},
        {.name = "format", .type = CLI_FLAG_STRING, .dest = &fmt},
        {.name = "filter", .shorthand = 'F', .type = CLI_FLAG_LIST, .dest = &filters},
        {.name = NULL},
    };
    const struct cli_cmd_spec spec = {"x", "[OPTIONS] A...", "test", flags, false, 1, 3};
    const char *argv[] = {"c1", "-fa",      "--last=5", "-F", "a=b",      "-Fc=d",
                          "c2", "--format", "{{.ID}}",  "--", "-notaflag"};
    const char *bad_int[] = {"-n", "x", "c"};
    const char *too_many[] = {"a", "b", "c", "d"};
    int ex;

    (void)state;
    assert_int_equal(cli_flags_parse(&spec, ARGC(argv), (char **)argv, &args, &ex), CLI_FLAGS_OK);
    assert_true(force && all);
    assert_int_equal(n, 5);
    assert_string_equal(fmt, "{{.ID}}");
    assert_int_equal(filters.n, 2);
    assert_string_equal(filters.v[0], "a=b");
    assert_string_equal(filters.v[1], "c=d");
    assert_int_equal(args.n, 3);
    assert_string_equal(args.v[0], "c1");
    assert_string_equal(args.v[1], "c2");
    assert_string_equal(args.v[2], "-notaflag");
    cli_strv_release(&args);
    cli_strv_release(&filters);
    assert_true(cli_flags_parse(&spec, ARGC(bad_int), (char **)bad_int, &args, &ex) < 0);
    assert_int_equal(ex, 125);
    assert_true(cli_flags_parse(&spec, ARGC(too_many), (char **)too_many, &args, &ex) < 0);
    assert_int_equal(ex, 1);
    assert_true(cli_flags_parse(&spec, 0, NULL, &args, &ex) < 0);
    assert_int_equal(ex, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_basic),
        cmocka_unit_test(test_run_detach_rm_network),
        cmocka_unit_test(test_run_interactive_attached),
        cmocka_unit_test(test_run_ports_restart),
        cmocka_unit_test(test_run_env_file),
        cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_flags_generic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
