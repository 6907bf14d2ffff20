/*
 * cli/cmd_system.c - version and info.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/util.h"

#include "cli/cli.h"

#define END_FLAGS                                                                                  \
    {                                                                                              \
        .name = NULL                                                                               \
    }

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static const char *go_arch(const char *machine)
{
    if (strcmp(machine, "x86_64") == 0)
        return "amd64";
    if (strcmp(machine, "aarch64") == 0)
        return "arm64";
    if (strcmp(machine, "i686") == 0 || strcmp(machine, "i386") == 0)
        return "386";
    return machine;
}

/* RFC 3339 -> Go's time.ANSIC ("Thu May  7 21:09:36 2026"), as the docker CLI prints. */
static void ansic_time(const char *rfc, char *out, size_t outlen)
{
    int64_t ns;
    time_t t;
    struct tm tm;

    if (!rfc || time_parse_rfc3339(rfc, &ns) < 0 || ns == 0) {
        (void)snprintf(out, outlen, "%s", rfc ? rfc : "");
        return;
    }
    t = (time_t)(ns / 1000000000LL);
    if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%a %b %e %H:%M:%S %Y", &tm) == 0)
        (void)snprintf(out, outlen, "%s", rfc);
}

/* `version --format`: the template sees .Client and .Server with docker's Go
 * field names (.Server.APIVersion as well as the JSON's .Server.ApiVersion). */
static int version_format(struct cli_ctx *ctx, const char *format, const char *arch)
{
    json_t *server = NULL, *data;
    struct err err = {0};
    struct buf out;
    int r;

    if (cli_call(&ctx->client, "GET", "/version", NULL, NULL, &server, &err) < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    if (json_is_object(server) && json_object_get(server, "ApiVersion"))
        json_object_set(server, "APIVersion", json_object_get(server, "ApiVersion"));
    data = json_pack("{s:{s:s, s:s, s:s, s:s, s:s}, s:o}", "Client", "Version", CLI_VERSION,
                     "APIVersion", CLI_API_VERSION, "Os", "linux", "Arch", arch, "GoVersion",
                     "gcc " __VERSION__, "Server", server);
    if (!data) {
        fprintf(stderr, "shoal: out of memory\n");
        return 1;
    }
    buf_init(&out);
    r = cli_template_exec(format, data, &out, &err);
    json_decref(data);
    if (r < 0) {
        buf_release(&out);
        cli_print_err(ctx, &err);
        return 1;
    }
    printf("%s\n", out.data ? out.data : "");
    buf_release(&out);
    return 0;
}

int cli_cmd_version(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *format = NULL;
    const struct cli_flag flags[] = {
        CLI_STRING_FLAG("format", 'f', &format,
                        "Format output using a Go template subset ('{{.Server.APIVersion}}')"),
        END_FLAGS,
    };
    const struct cli_cmd_spec spec = {
        "version", "[OPTIONS]", "Show the shoal version information", flags, false, 0, 0};
    struct cli_strv args;
    struct utsname u;
    struct err err = {0};
    json_t *v = NULL, *comp;
    char built[64];
    size_t i;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    if (uname(&u) < 0)
        (void)snprintf(u.machine, sizeof(u.machine), "unknown");
    if (format)
        return version_format(ctx, format, go_arch(u.machine));
    printf("Client:\n");
    printf(" %-19s%s\n", "Version:", CLI_VERSION);
    printf(" %-19s%s\n", "API version:", CLI_API_VERSION);
    printf(" %-19s%s\n", "C compiler:", "gcc " __VERSION__);
    printf(" %-19s%s %s\n", "Built:", __DATE__, __TIME__);
    printf(" %-19s%s/%s\n", "OS/Arch:", "linux", go_arch(u.machine));
    printf("\n");
    fflush(stdout);
    if (cli_call(&ctx->client, "GET", "/version", NULL, NULL, &v, &err) < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    printf("Server:\n");
    printf(" Engine:\n");
    printf("  %-18s%s\n", "Version:", jstr(v, "Version"));
    printf("  %-18s%s (minimum version %s)\n", "API version:", jstr(v, "ApiVersion"),
           jstr(v, "MinAPIVersion"));
    if (*jstr(v, "GoVersion"))
        printf("  %-18s%s\n", "Go version:", jstr(v, "GoVersion"));
    printf("  %-18s%s\n", "Git commit:", jstr(v, "GitCommit"));
    ansic_time(jstr(v, "BuildTime"), built, sizeof(built));
    printf("  %-18s%s\n", "Built:", built);
    printf("  %-18s%s/%s\n", "OS/Arch:", jstr(v, "Os"), jstr(v, "Arch"));
    printf("  %-18s%s\n", "Kernel version:", jstr(v, "KernelVersion"));
    printf("  %-18s%s\n",
           "Experimental:", json_is_true(json_object_get(v, "Experimental")) ? "true" : "false");
    CLI_JSON_ARRAY_EACH(json_object_get(v, "Components"), i, comp)
    {
        const char *key;
        json_t *val;

        if (strcmp(jstr(comp, "Name"), "Engine") == 0)
            continue;
        printf(" %s:\n", jstr(comp, "Name"));
        printf("  %-18s%s\n", "Version:", jstr(comp, "Version"));
        CLI_JSON_OBJECT_EACH(json_object_get(comp, "Details"), key, val)
        {
            char k[64];

            (void)snprintf(k, sizeof(k), "%s:", key);
            printf("  %-18s%s\n", k, json_string_value(val) ? json_string_value(val) : "");
        }
    }
    json_decref(v);
    return 0;
}

int cli_cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
    const struct cli_flag flags[] = {END_FLAGS};
    const struct cli_cmd_spec spec = {
        "info", "[OPTIONS]", "Display system-wide information", flags, false, 0, 0};
    struct cli_strv args;
    struct err err = {0};
    json_t *v = NULL, *sw, *item, *sec;
    char mem[32];
    size_t i;
    int ex, rc;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    cli_strv_release(&args);
    printf("Client:\n Version:    %s\n Debug Mode: false\n\n", CLI_VERSION);
    fflush(stdout);
    if (cli_call(&ctx->client, "GET", "/info", NULL, NULL, &v, &err) < 0) {
        printf("Server:\n");
        fflush(stdout);
        cli_print_err(ctx, &err);
        return 1;
    }
    printf("Server:\n");
    printf(" Containers: %lld\n", (long long)json_integer_value(json_object_get(v, "Containers")));
    printf("  Running: %lld\n",
           (long long)json_integer_value(json_object_get(v, "ContainersRunning")));
    printf("  Paused: %lld\n",
           (long long)json_integer_value(json_object_get(v, "ContainersPaused")));
    printf("  Stopped: %lld\n",
           (long long)json_integer_value(json_object_get(v, "ContainersStopped")));
    printf(" Images: %lld\n", (long long)json_integer_value(json_object_get(v, "Images")));
    printf(" Server Version: %s\n", jstr(v, "ServerVersion"));
    printf(" Storage Driver: %s\n", jstr(v, "Driver"));
    CLI_JSON_ARRAY_EACH(json_object_get(v, "DriverStatus"), i, item)
    printf("  %s: %s\n",
           json_string_value(json_array_get(item, 0)) ? json_string_value(json_array_get(item, 0))
                                                      : "",
           json_string_value(json_array_get(item, 1)) ? json_string_value(json_array_get(item, 1))
                                                      : "");
    printf(" Logging Driver: %s\n", jstr(v, "LoggingDriver"));
    printf(" Cgroup Driver: %s\n", jstr(v, "CgroupDriver"));
    printf(" Cgroup Version: %s\n", jstr(v, "CgroupVersion"));
    sw = json_object_get(v, "Swarm");
    printf(" Swarm: %s\n", *jstr(sw, "LocalNodeState") ? jstr(sw, "LocalNodeState") : "inactive");
    if (strcmp(jstr(sw, "LocalNodeState"), "active") == 0) {
        json_t *cl = json_object_get(sw, "Cluster");

        printf("  NodeID: %s\n", jstr(sw, "NodeID"));
        if (*jstr(sw, "Error"))
            printf("  Error: %s\n", jstr(sw, "Error"));
        printf("  Is Manager: %s\n",
               json_is_true(json_object_get(sw, "ControlAvailable")) ? "true" : "false");
        if (json_is_true(json_object_get(sw, "ControlAvailable")) && json_is_object(cl)) {
            printf("  ClusterID: %s\n", jstr(cl, "ID"));
            printf("  Managers: %lld\n",
                   (long long)json_integer_value(json_object_get(sw, "Managers")));
            printf("  Nodes: %lld\n", (long long)json_integer_value(json_object_get(sw, "Nodes")));
        }
        printf("  Node Address: %s\n", jstr(sw, "NodeAddr"));
        if (json_array_size(json_object_get(sw, "RemoteManagers"))) {
            printf("  Manager Addresses:\n");
            CLI_JSON_ARRAY_EACH(json_object_get(sw, "RemoteManagers"), i, item)
            printf("   %s\n", jstr(item, "Addr"));
        }
    }
    if (json_object_size(json_object_get(v, "Runtimes"))) {
        const char *key;
        json_t *val;

        printf(" Runtimes:");
        CLI_JSON_OBJECT_EACH(json_object_get(v, "Runtimes"), key, val)
        {
            (void)val;
            printf(" %s", key);
        }
        printf("\n");
    }
    if (*jstr(v, "DefaultRuntime"))
        printf(" Default Runtime: %s\n", jstr(v, "DefaultRuntime"));
    sec = json_object_get(v, "SecurityOptions");
    if (json_array_size(sec)) {
        printf(" Security Options:\n");
        CLI_JSON_ARRAY_EACH(sec, i, item)
        {
            /* "name=seccomp,profile=default" */
            char buf[256], *tok, *save = NULL;

            (void)snprintf(buf, sizeof(buf), "%s",
                           json_string_value(item) ? json_string_value(item) : "");
            for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(tok, '=');

                if (!eq)
                    continue;
                *eq = '\0';
                if (strcmp(tok, "name") == 0)
                    printf("  %s\n", eq + 1);
                else
                    printf("   %c%s: %s\n", tok[0] >= 'a' && tok[0] <= 'z' ? tok[0] - 32 : tok[0],
                           tok + 1, eq + 1);
            }
        }
    }
    printf(" Kernel Version: %s\n", jstr(v, "KernelVersion"));
    printf(" Operating System: %s\n", jstr(v, "OperatingSystem"));
    printf(" OSType: %s\n", jstr(v, "OSType"));
    printf(" Architecture: %s\n", jstr(v, "Architecture"));
    printf(" CPUs: %lld\n", (long long)json_integer_value(json_object_get(v, "NCPU")));
    cli_bytes_size((double)json_integer_value(json_object_get(v, "MemTotal")), mem, sizeof(mem));
    printf(" Total Memory: %s\n", mem);
    printf(" Name: %s\n", jstr(v, "Name"));
    printf(" ID: %s\n", jstr(v, "ID"));
    printf(" Docker Root Dir: %s\n", jstr(v, "DockerRootDir"));
    printf(" Debug Mode: %s\n", json_is_true(json_object_get(v, "Debug")) ? "true" : "false");
    printf(" Experimental: %s\n",
           json_is_true(json_object_get(v, "ExperimentalBuild")) ? "true" : "false");
    printf(" Live Restore Enabled: %s\n",
           json_is_true(json_object_get(v, "LiveRestoreEnabled")) ? "true" : "false");
    printf("\n");
    fflush(stdout);
    CLI_JSON_ARRAY_EACH(json_object_get(v, "Warnings"), i, item)
    if (json_string_value(item))
        fprintf(stderr, "%s\n", json_string_value(item));
    json_decref(v);
    return 0;
}
