/*
 * tests/unit/test_svcjson.c - ServiceSpec normalization, service/task/network
 * views, the parsed service facts and the /services and /tasks filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manager/svcjson.h"

/* ---- helpers ---------------------------------------------------------------- */

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);

    if (!j)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return j;
}

/* Normalize text; returns the result (must succeed). */
static json_t *norm_ok(const char *text)
{
    json_t *in = parse(text), *out = NULL;
    struct err e = {0};
    int r = mgr_svc_spec_normalize(in, &out, &e);

    if (r != 0)
        fail_msg("normalize failed: %s (%s)", e.msg, text);
    json_decref(in);
    return out;
}

/* Normalize text; must fail with -EINVAL and a message containing want. */
static void norm_fails(const char *text, const char *want)
{
    json_t *in = parse(text), *out = (json_t *)0x1;
    struct err e = {0};
    int r = mgr_svc_spec_normalize(in, &out, &e);

    if (r != -EINVAL || !strstr(e.msg, want))
        fail_msg("expected -EINVAL '%s', got %d '%s' for %s", want, r, e.msg, text);
    assert_null(out);
    json_decref(in);
}

/* A path like "TaskTemplate.RestartPolicy.Delay" (numbers index arrays); an
 * object key may itself contain dots ("Labels.com.docker.stack.namespace"):
 * the longest run of parts that names a key wins. */
static json_t *at(json_t *j, const char *path)
{
    char buf[256], *parts[32], *save = NULL, *tok, key[256];
    size_t n = 0, i = 0;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok && n < 32; tok = strtok_r(NULL, ".", &save))
        parts[n++] = tok;
    while (j && i < n) {
        if (json_is_array(j)) {
            j = json_array_get(j, strtoul(parts[i++], NULL, 10));
            continue;
        }
        json_t *next = NULL;
        size_t used = 0;
        for (size_t k = n; k > i && !next; k--) {
            key[0] = '\0';
            for (size_t m = i; m < k; m++) {
                if (m > i)
                    strcat(key, ".");
                strcat(key, parts[m]);
            }
            next = json_object_get(j, key);
            used = k - i;
        }
        j = next;
        i += used;
    }
    return j;
}

static void assert_str_at(json_t *j, const char *path, const char *want)
{
    const char *s = json_string_value(at(j, path));

    if (!s || strcmp(s, want) != 0)
        fail_msg("%s: want '%s', got '%s'", path, want, s ? s : "(none)");
}

static void assert_int_at(json_t *j, const char *path, long long want)
{
    json_t *v = at(j, path);

    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("%s: want %lld, got %s", path, want, v ? "other" : "(none)");
}

#define MIN_SPEC "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"busybox\"}}"

/* ---- normalize -------------------------------------------------------------- */

static void test_normalize_defaults(void **state)
{
    (void)state;
    json_t *s = norm_ok(MIN_SPEC "}");

    assert_str_at(s, "Name", "web");
    assert_true(json_is_object(at(s, "Labels")));
    assert_int_at(s, "Mode.Replicated.Replicas", 1);
    assert_str_at(s, "TaskTemplate.ContainerSpec.Image", "busybox");
    assert_str_at(s, "TaskTemplate.ContainerSpec.Isolation", "default");
    assert_int_at(s, "TaskTemplate.ContainerSpec.StopGracePeriod", 10000000000LL);
    assert_true(json_is_object(at(s, "TaskTemplate.Resources")));
    assert_str_at(s, "TaskTemplate.RestartPolicy.Condition", "any");
    assert_int_at(s, "TaskTemplate.RestartPolicy.Delay", 5000000000LL);
    assert_int_at(s, "TaskTemplate.RestartPolicy.MaxAttempts", 0);
    assert_true(json_is_object(at(s, "TaskTemplate.Placement")));
    assert_int_at(s, "TaskTemplate.ForceUpdate", 0);
    assert_str_at(s, "TaskTemplate.Runtime", "container");
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "RollbackConfig" : "UpdateConfig";
        char p[64];
        snprintf(p, sizeof(p), "%s.Parallelism", k);
        assert_int_at(s, p, 1);
        snprintf(p, sizeof(p), "%s.FailureAction", k);
        assert_str_at(s, p, "pause");
        snprintf(p, sizeof(p), "%s.Monitor", k);
        assert_int_at(s, p, 5000000000LL);
        snprintf(p, sizeof(p), "%s.MaxFailureRatio", k);
        assert_int_at(s, p, 0);
        snprintf(p, sizeof(p), "%s.Order", k);
        assert_str_at(s, p, "stop-first");
        snprintf(p, sizeof(p), "%s.Delay", k);
        assert_null(at(s, p));
    }
    assert_str_at(s, "EndpointSpec.Mode", "vip");
    assert_null(at(s, "EndpointSpec.Ports"));
    json_decref(s);
}

static void test_normalize_keeps_values(void **state)
{
    (void)state;
    /* what `docker stack deploy` sends: no Delay, empty Order, EndpointSpec
     * without Mode, network target by name */
    json_t *s = norm_ok(
        "{\"Name\":\"stk_web\",\"Labels\":{\"com.docker.stack.namespace\":\"stk\"},"
        "\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"busybox\",\"Env\":[\"A=1\"],"
        "\"StopGracePeriod\":3000000000,\"Isolation\":\"default\"},"
        "\"RestartPolicy\":{\"Condition\":\"on-failure\"},"
        "\"Placement\":{\"Constraints\":[\"node.role==manager\",\"node.labels.zone != b\"]},"
        "\"Networks\":[{\"Target\":\"stk_front\",\"Aliases\":[\"web\"]}],\"ForceUpdate\":2},"
        "\"Mode\":{\"Replicated\":{\"Replicas\":0}},"
        "\"UpdateConfig\":{\"Parallelism\":0,\"Delay\":2000000000,\"MaxFailureRatio\":0.5,"
        "\"Order\":\"\",\"FailureAction\":\"rollback\",\"Monitor\":1000000000},"
        "\"RollbackConfig\":{\"Delay\":0,\"Order\":\"start-first\"},"
        "\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80,\"PublishedPort\":8080},"
        "{\"Protocol\":\"udp\",\"TargetPort\":53,\"PublishedPort\":53,\"PublishMode\":\"host\"}]}"
        "}");

    assert_str_at(s, "Labels.com.docker.stack.namespace", "stk");
    assert_int_at(s, "TaskTemplate.ContainerSpec.StopGracePeriod", 3000000000LL);
    assert_str_at(s, "TaskTemplate.RestartPolicy.Condition", "on-failure");
    assert_int_at(s, "TaskTemplate.RestartPolicy.Delay", 5000000000LL);
    assert_str_at(s, "TaskTemplate.Networks.0.Target", "stk_front");
    assert_int_at(s, "TaskTemplate.ForceUpdate", 2);
    assert_int_at(s, "Mode.Replicated.Replicas", 0);
    assert_int_at(s, "UpdateConfig.Parallelism", 0);
    assert_int_at(s, "UpdateConfig.Delay", 2000000000LL);
    assert_int_at(s, "UpdateConfig.Monitor", 1000000000LL);
    assert_str_at(s, "UpdateConfig.Order", "stop-first");
    assert_str_at(s, "UpdateConfig.FailureAction", "rollback");
    assert_true(json_number_value(at(s, "UpdateConfig.MaxFailureRatio")) == 0.5);
    assert_null(at(s, "RollbackConfig.Delay"));
    assert_str_at(s, "RollbackConfig.Order", "start-first");
    assert_str_at(s, "EndpointSpec.Mode", "vip");
    assert_str_at(s, "EndpointSpec.Ports.0.Protocol", "tcp");
    assert_str_at(s, "EndpointSpec.Ports.0.PublishMode", "ingress");
    assert_str_at(s, "EndpointSpec.Ports.1.PublishMode", "host");
    json_decref(s);

    /* global mode stays global; the input is not modified */
    json_t *in = parse(MIN_SPEC ",\"Mode\":{\"Global\":{}}}"), *out = NULL;
    char *before = mgr_json_canonical(in), *after;
    assert_int_equal(mgr_svc_spec_normalize(in, &out, NULL), 0);
    assert_non_null(at(out, "Mode.Global"));
    assert_null(at(out, "Mode.Replicated"));
    after = mgr_json_canonical(in);
    assert_string_equal(before, after);
    free(before);
    free(after);
    json_decref(in);

    /* normalizing twice changes nothing (the CLI sends back what it read) */
    char *once = mgr_json_canonical(out);
    json_t *out2 = NULL;
    assert_int_equal(mgr_svc_spec_normalize(out, &out2, NULL), 0);
    char *twice = mgr_json_canonical(out2);
    assert_string_equal(once, twice);
    free(once);
    free(twice);
    json_decref(out);
    json_decref(out2);
}

static void test_normalize_errors(void **state)
{
    (void)state;
    char longname[80];

    norm_fails("[1]", "must be an object");
    norm_fails("{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"}}}",
               "rpc error: code = InvalidArgument desc = meta: name must be provided");
    norm_fails("{\"Name\":\"-web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"}}}",
               "rpc error: code = InvalidArgument desc = name must be valid as a DNS name "
               "component");
    norm_fails("{\"Name\":\"we b\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"}}}",
               "name must be valid as a DNS name component");
    norm_fails("{\"Name\":\"web_\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"}}}",
               "name must be valid as a DNS name component");
    memset(longname, 'a', 64);
    longname[64] = '\0';
    {
        char spec[256];
        snprintf(spec, sizeof(spec),
                 "{\"Name\":\"%s\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"}}}",
                 longname);
        norm_fails(spec, "name must be valid as a DNS name component");
        longname[63] = '\0';
        snprintf(spec, sizeof(spec),
                 "{\"Name\":\"%s\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"}}}",
                 longname);
        json_decref(norm_ok(spec));
    }
    norm_fails("{\"Name\":\"web\"}", "ContainerSpec: image reference must be provided");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{}}}",
               "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be "
               "provided");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\","
               "\"Env\":\"A=1\"}}}",
               "ContainerSpec.Env");
    norm_fails(MIN_SPEC ",\"Labels\":{\"a\":1}}", "ServiceSpec.Labels");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"RestartPolicy\":{\"Condition\":\"sometimes\"}}}",
               "invalid RestartCondition: \"sometimes\"");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"RestartPolicy\":{\"Delay\":-1}}}",
               "restart-delay cannot be negative");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"RestartPolicy\":{\"MaxAttempts\":-3}}}",
               "uint64");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"RestartPolicy\":{\"Window\":-3}}}",
               "restart-window cannot be negative");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"Placement\":{\"Constraints\":[\"node.role=manager\"]}}}",
               "constraint expected one operator from ==, !=");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"Placement\":{\"Constraints\":[\"==manager\"]}}}",
               "invalid constraint");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"Resources\":{\"Limits\":{\"MemoryBytes\":-5}}}}",
               "invalid memory value");
    norm_fails("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\"},"
               "\"Networks\":[{\"Aliases\":[]}]}}",
               "network target must be provided");
    norm_fails(MIN_SPEC ",\"Mode\":{\"Replicated\":{\"Replicas\":-1}}}",
               "cannot unmarshal number -1");
    norm_fails(MIN_SPEC ",\"Mode\":{\"Replicated\":{\"Replicas\":\"2\"}}}", "cannot unmarshal");
    norm_fails(MIN_SPEC ",\"Mode\":{\"Replicated\":{\"Replicas\":2},\"Global\":{}}}",
               "cannot specify both replicated mode and global mode");
    norm_fails(MIN_SPEC ",\"Mode\":{\"ReplicatedJob\":{}}}", "not supported");
    norm_fails(MIN_SPEC ",\"UpdateConfig\":{\"FailureAction\":\"explode\"}}",
               "unrecognized update failure action explode");
    norm_fails(MIN_SPEC ",\"RollbackConfig\":{\"Order\":\"random\"}}",
               "unrecognized rollback order random");
    norm_fails(MIN_SPEC ",\"UpdateConfig\":{\"Delay\":-1}}", "update-delay cannot be negative");
    norm_fails(MIN_SPEC ",\"UpdateConfig\":{\"Monitor\":-1}}", "update-monitor cannot be negative");
    norm_fails(MIN_SPEC ",\"UpdateConfig\":{\"Parallelism\":-1}}", "uint64");
    norm_fails(MIN_SPEC ",\"UpdateConfig\":{\"MaxFailureRatio\":1.5}}",
               "maxfailureratio cannot be less than 0 or bigger than 1");
    norm_fails(MIN_SPEC ",\"EndpointSpec\":{\"Mode\":\"round-robin\"}}",
               "invalid resolution mode: \"round-robin\"");
    norm_fails(MIN_SPEC ",\"EndpointSpec\":{\"Mode\":\"dnsrr\",\"Ports\":[{\"TargetPort\":80,"
                        "\"PublishedPort\":80}]}}",
               "port published with ingress mode can't be used with dnsrr mode");
    norm_fails(MIN_SPEC ",\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80,\"PublishedPort\":80},"
                        "{\"TargetPort\":81,\"PublishedPort\":80}]}}",
               "duplicate published ports provided");
    norm_fails(MIN_SPEC ",\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":0}]}}",
               "invalid target port 0");
    norm_fails(MIN_SPEC
               ",\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80,\"Protocol\":\"icmp\"}]}}",
               "invalid protocol icmp");
    norm_fails(MIN_SPEC
               ",\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80,\"PublishMode\":\"x\"}]}}",
               "invalid publish mode x");
}

static void test_canonical_and_template_changed(void **state)
{
    (void)state;
    json_t *j = parse("{\"b\":1,\"a\":{\"d\":[1,2],\"c\":\"x\"}}");
    char *t = mgr_json_canonical(j);

    assert_string_equal(t, "{\"a\":{\"c\":\"x\",\"d\":[1,2]},\"b\":1}");
    free(t);
    json_decref(j);
    assert_null(mgr_json_canonical(NULL));

    const char *a =
        "{\"Mode\":{\"Replicated\":{\"Replicas\":1}},\"TaskTemplate\":{\"ContainerSpec\":"
        "{\"Image\":\"b\"},\"ForceUpdate\":0}}";
    const char *scaled = "{\"Mode\":{\"Replicated\":{\"Replicas\":5}},\"TaskTemplate\":{"
                         "\"ForceUpdate\":0,\"ContainerSpec\":{\"Image\":\"b\"}}}";
    const char *env =
        "{\"Mode\":{\"Replicated\":{\"Replicas\":1}},\"TaskTemplate\":{\"ContainerSpec\":"
        "{\"Image\":\"b\",\"Env\":[\"X=1\"]},\"ForceUpdate\":0}}";
    const char *forced = "{\"Mode\":{\"Replicated\":{\"Replicas\":1}},\"TaskTemplate\":{"
                         "\"ContainerSpec\":{\"Image\":\"b\"},\"ForceUpdate\":1}}";
    assert_false(mgr_svc_template_changed(a, scaled));
    assert_true(mgr_svc_template_changed(a, env));
    assert_true(mgr_svc_template_changed(a, forced));
    const char *ports = "{\"Mode\":{\"Replicated\":{\"Replicas\":1}},\"TaskTemplate\":{"
                        "\"ContainerSpec\":{\"Image\":\"b\"},\"ForceUpdate\":0},"
                        "\"EndpointSpec\":{\"Mode\":\"vip\"}}";
    assert_true(mgr_svc_template_changed(a, ports));
    assert_true(mgr_svc_template_changed(a, "garbage"));
}

/* ---- views ------------------------------------------------------------------- */

static void test_json_service(void **state)
{
    (void)state;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;
    MgrUpdateStatus us = SHOAL__STORE__UPDATE_STATUS__INIT;
    MgrService s = SHOAL__STORE__SERVICE__INIT;
    json_t *spec = norm_ok(MIN_SPEC ",\"Mode\":{\"Replicated\":{\"Replicas\":3}},"
                                    "\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80,"
                                    "\"PublishedPort\":8080}]}}");
    char *txt = mgr_json_canonical(spec);
    json_t *o;

    meta.version = 243;
    meta.created_at_ns = 1000000001;
    meta.updated_at_ns = 2000000002;
    s.id = (char *)"ic2bw55v9dz9a5moaogrs5vgb";
    s.meta = &meta;
    s.name = (char *)"web";
    s.spec_json = txt;
    s.previous_spec_json = (char *)"";
    s.endpoint_json = (char *)"";

    o = mgr_json_service(&s, NULL);
    assert_str_at(o, "ID", "ic2bw55v9dz9a5moaogrs5vgb");
    assert_int_at(o, "Version.Index", 243);
    assert_str_at(o, "CreatedAt", "1970-01-01T00:00:01.000000001Z");
    assert_str_at(o, "UpdatedAt", "1970-01-01T00:00:02.000000002Z");
    assert_true(json_equal(at(o, "Spec"), spec));
    assert_null(at(o, "PreviousSpec"));
    assert_null(at(o, "UpdateStatus"));
    assert_null(at(o, "ServiceStatus"));
    /* no stored endpoint: Endpoint.Spec is the spec's EndpointSpec */
    assert_str_at(o, "Endpoint.Spec.Mode", "vip");
    assert_int_at(o, "Endpoint.Spec.Ports.0.PublishedPort", 8080);
    json_decref(o);

    /* after an update, during an update, with counts */
    struct mgr_svc_counts c;
    MgrTask t1 = SHOAL__STORE__TASK__INIT, t2 = SHOAL__STORE__TASK__INIT;
    MgrTaskStatus st1 = SHOAL__STORE__TASK_STATUS__INIT, st2 = SHOAL__STORE__TASK_STATUS__INIT;
    t1.desired_state = MGR_TASK_RUNNING;
    st1.state = MGR_TASK_RUNNING;
    t1.status = &st1;
    t2.desired_state = MGR_TASK_RUNNING;
    st2.state = MGR_TASK_PENDING;
    t2.status = &st2;
    s.previous_spec_json = (char *)"{\"Name\":\"web\"}";
    s.endpoint_json = (char *)"{\"Spec\":{\"Mode\":\"vip\"},\"VirtualIPs\":[{\"NetworkID\":\"n\","
                              "\"Addr\":\"10.0.1.2/24\"}]}";
    us.state = (char *)"updating";
    us.started_at_ns = 3000000000;
    us.message = (char *)"update in progress";
    s.update_status = &us;
    mgr_svc_counts_init(&c, &s);
    mgr_svc_counts_add(&c, &s, &t1);
    mgr_svc_counts_add(&c, &s, &t2);
    o = mgr_json_service(&s, &c);
    assert_str_at(o, "PreviousSpec.Name", "web");
    assert_str_at(o, "Endpoint.VirtualIPs.0.Addr", "10.0.1.2/24");
    assert_str_at(o, "UpdateStatus.State", "updating");
    assert_str_at(o, "UpdateStatus.Message", "update in progress");
    assert_str_at(o, "UpdateStatus.StartedAt", "1970-01-01T00:00:03.000000000Z");
    assert_null(at(o, "UpdateStatus.CompletedAt"));
    assert_int_at(o, "ServiceStatus.RunningTasks", 1);
    assert_int_at(o, "ServiceStatus.DesiredTasks", 3);
    assert_int_at(o, "ServiceStatus.CompletedTasks", 0);
    json_decref(o);

    /* an empty state means "never updated" */
    us.state = (char *)"";
    o = mgr_json_service(&s, NULL);
    assert_null(at(o, "UpdateStatus"));
    json_decref(o);

    /* global: desired = tasks desired running */
    s.spec_json = (char *)"{\"Name\":\"g\",\"Mode\":{\"Global\":{}}}";
    mgr_svc_counts_init(&c, &s);
    assert_true(c.global);
    mgr_svc_counts_add(&c, &s, &t1);
    mgr_svc_counts_add(&c, &s, &t2);
    t2.desired_state = MGR_TASK_SHUTDOWN;
    mgr_svc_counts_add(&c, &s, &t2);
    assert_int_equal(c.desired, 2);
    assert_int_equal(c.running, 1);

    json_decref(spec);
    free(txt);
}

static void test_json_task(void **state)
{
    (void)state;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;
    MgrTask t = SHOAL__STORE__TASK__INIT;
    MgrTaskStatus st = SHOAL__STORE__TASK_STATUS__INIT;
    json_t *o;

    meta.version = 244;
    t.id = (char *)"3lmildnw7hx5tgd9s4de9pveq";
    t.meta = &meta;
    t.service_id = (char *)"ic2bw55v9dz9a5moaogrs5vgb";
    t.service_name = (char *)"web";
    t.slot = 2;
    t.node_id = (char *)"";
    t.desired_state = MGR_TASK_RUNNING;
    t.spec_json = (char *)"{\"ContainerSpec\":{\"Image\":\"busybox\"}}";
    st.state = MGR_TASK_PENDING;
    st.timestamp_ns = 5;
    st.message = (char *)"pending task scheduling";
    st.err = (char *)"";
    st.container_id = (char *)"";
    st.port_status_json = (char *)"";
    t.status = &st;

    o = mgr_json_task(&t);
    assert_str_at(o, "ID", "3lmildnw7hx5tgd9s4de9pveq");
    assert_int_at(o, "Version.Index", 244);
    assert_true(json_is_object(at(o, "Labels")) && json_object_size(at(o, "Labels")) == 0);
    assert_str_at(o, "Spec.ContainerSpec.Image", "busybox");
    assert_str_at(o, "ServiceID", "ic2bw55v9dz9a5moaogrs5vgb");
    assert_int_at(o, "Slot", 2);
    assert_null(at(o, "NodeID"));
    assert_str_at(o, "Status.State", "pending");
    assert_str_at(o, "Status.Message", "pending task scheduling");
    assert_str_at(o, "Status.Timestamp", "1970-01-01T00:00:00.000000005Z");
    assert_null(at(o, "Status.Err"));
    assert_null(at(o, "Status.ContainerStatus"));
    assert_true(json_is_object(at(o, "Status.PortStatus")));
    assert_str_at(o, "DesiredState", "running");
    assert_null(at(o, "NetworksAttachments"));
    json_decref(o);

    /* global task, running, then failed with an error */
    t.slot = 0;
    t.node_id = (char *)"v73mdzlha5gx4fhvwj104j022";
    st.state = MGR_TASK_FAILED;
    st.err = (char *)"task: non-zero exit (1)";
    st.container_id = (char *)"245dddb769d9";
    st.pid = 0;
    st.exit_code = 1;
    st.message = (char *)"";
    st.port_status_json = (char *)"{\"Ports\":[{\"Protocol\":\"tcp\",\"TargetPort\":80}]}";
    t.desired_state = MGR_TASK_SHUTDOWN;
    t.networks_json = (char *)"[{\"Addresses\":[\"10.0.1.4/24\"]}]";
    o = mgr_json_task(&t);
    assert_null(at(o, "Slot"));
    assert_str_at(o, "NodeID", "v73mdzlha5gx4fhvwj104j022");
    assert_str_at(o, "Status.State", "failed");
    assert_null(at(o, "Status.Message"));
    assert_str_at(o, "Status.Err", "task: non-zero exit (1)");
    assert_str_at(o, "Status.ContainerStatus.ContainerID", "245dddb769d9");
    assert_int_at(o, "Status.ContainerStatus.PID", 0);
    assert_int_at(o, "Status.ContainerStatus.ExitCode", 1);
    assert_int_at(o, "Status.PortStatus.Ports.0.TargetPort", 80);
    assert_str_at(o, "DesiredState", "shutdown");
    assert_str_at(o, "NetworksAttachments.0.Addresses.0", "10.0.1.4/24");
    json_decref(o);
}

static void test_json_network(void **state)
{
    (void)state;
    Shoal__Store__Meta meta = SHOAL__STORE__META__INIT;
    MgrNetwork n = SHOAL__STORE__NETWORK__INIT;
    json_t *o;

    n.id = (char *)"t54p4m8xrkutnpdh1xq1x48q8";
    n.meta = &meta;
    n.name = (char *)"ovl";
    n.spec_json = (char *)"{\"Name\":\"ovl\",\"Driver\":\"overlay\",\"Attachable\":true,"
                          "\"Labels\":{},\"Options\":{},\"IPAM\":{\"Driver\":\"default\","
                          "\"Options\":{},\"Config\":[]}}";
    n.subnet = (char *)"10.0.1.0/24";
    n.gateway = (char *)"10.0.1.1";
    n.vni = 4097;
    o = mgr_json_network_swarm(&n);
    assert_str_at(o, "Name", "ovl");
    assert_str_at(o, "Id", "t54p4m8xrkutnpdh1xq1x48q8");
    assert_str_at(o, "Created", "0001-01-01T00:00:00Z");
    assert_str_at(o, "Scope", "swarm");
    assert_str_at(o, "Driver", "overlay");
    assert_true(json_is_false(at(o, "EnableIPv6")));
    assert_str_at(o, "IPAM.Driver", "default");
    assert_true(json_is_null(at(o, "IPAM.Options")));
    assert_str_at(o, "IPAM.Config.0.Subnet", "10.0.1.0/24");
    assert_str_at(o, "IPAM.Config.0.Gateway", "10.0.1.1");
    assert_true(json_is_true(at(o, "Attachable")));
    assert_true(json_is_false(at(o, "Ingress")));
    assert_str_at(o, "ConfigFrom.Network", "");
    assert_true(json_is_null(at(o, "Containers")));
    assert_str_at(o, "Options.com.docker.network.driver.overlay.vxlanid_list", "4097");
    assert_true(json_is_null(at(o, "Labels")));
    json_decref(o);

    n.spec_json = (char *)"{\"Labels\":{\"com.docker.stack.namespace\":\"s\"}}";
    o = mgr_json_network_swarm(&n);
    assert_str_at(o, "Labels.com.docker.stack.namespace", "s");
    assert_str_at(o, "Driver", "overlay");
    json_decref(o);
}

/* ---- view_parse -------------------------------------------------------------- */

static void test_view_parse(void **state)
{
    (void)state;
    struct mgr_svc_view v;
    struct err e = {0};
    json_t *spec =
        norm_ok("{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"b\","
                "\"StopGracePeriod\":2000000000},"
                "\"RestartPolicy\":{\"Condition\":\"on-failure\",\"Delay\":100,\"MaxAttempts\":3,"
                "\"Window\":7},"
                "\"Resources\":{\"Reservations\":{\"NanoCPUs\":500000000,\"MemoryBytes\":1048576}},"
                "\"Placement\":{\"Constraints\":[\"node.labels.zone==a\",\"node.role!=worker\"],"
                "\"Preferences\":[{\"Spread\":{\"SpreadDescriptor\":\"node.labels.rack\"}}],"
                "\"MaxReplicas\":2}},"
                "\"Mode\":{\"Replicated\":{\"Replicas\":10}},"
                "\"UpdateConfig\":{\"Parallelism\":5,\"Delay\":1000,\"FailureAction\":\"rollback\","
                "\"MaxFailureRatio\":0.25,\"Order\":\"start-first\"},"
                "\"RollbackConfig\":{\"FailureAction\":\"continue\"},"
                "\"EndpointSpec\":{\"Ports\":[{\"TargetPort\":80,\"PublishedPort\":8080},"
                "{\"Protocol\":\"udp\",\"TargetPort\":53,\"PublishedPort\":5353,"
                "\"PublishMode\":\"host\"}]}}");
    char *txt = mgr_json_canonical(spec);

    assert_int_equal(mgr_svc_view_parse(txt, &v, &e), 0);
    assert_false(v.global);
    assert_int_equal(v.replicas, 10);
    assert_int_equal(v.restart.condition, MGR_RESTART_ON_FAILURE);
    assert_int_equal(v.restart.delay_ns, 100);
    assert_int_equal(v.restart.window_ns, 7);
    assert_int_equal(v.restart.max_attempts, 3);
    assert_int_equal(v.update.parallelism, 5);
    assert_int_equal(v.update.delay_ns, 1000);
    assert_int_equal(v.update.monitor_ns, 5000000000LL);
    assert_int_equal(v.update.failure_action, MGR_FAILURE_ROLLBACK);
    assert_true(v.update.max_failure_ratio == 0.25);
    assert_true(v.update.start_first);
    assert_int_equal(v.rollback.parallelism, 1);
    assert_int_equal(v.rollback.failure_action, MGR_FAILURE_CONTINUE);
    assert_false(v.rollback.start_first);
    assert_int_equal(v.n_constraints, 2);
    assert_string_equal(v.constraints[0], "node.labels.zone==a");
    assert_string_equal(v.constraints[1], "node.role!=worker");
    assert_int_equal(v.n_spread_prefs, 1);
    assert_string_equal(v.spread_prefs[0], "node.labels.rack");
    assert_int_equal(v.max_replicas, 2);
    assert_int_equal(v.res_nano_cpus, 500000000);
    assert_int_equal(v.res_memory, 1048576);
    assert_int_equal(v.n_host_ports, 1);
    assert_string_equal(v.host_ports[0].protocol, "udp");
    assert_int_equal(v.host_ports[0].published, 5353);
    assert_int_equal(v.host_ports[0].target, 53);
    assert_int_equal(v.stop_grace_ns, 2000000000LL);
    mgr_svc_view_free(&v);
    mgr_svc_view_free(&v); /* twice is harmless */
    free(txt);
    json_decref(spec);

    /* defaults for a bare spec, global mode */
    assert_int_equal(mgr_svc_view_parse("{\"Mode\":{\"Global\":{}}}", &v, &e), 0);
    assert_true(v.global);
    assert_int_equal(v.replicas, 0);
    assert_int_equal(v.restart.condition, MGR_RESTART_ANY);
    assert_int_equal(v.restart.delay_ns, 5000000000LL);
    assert_int_equal(v.update.parallelism, 1);
    assert_int_equal(v.update.monitor_ns, 5000000000LL);
    assert_int_equal(v.update.failure_action, MGR_FAILURE_PAUSE);
    assert_int_equal(v.n_constraints, 0);
    assert_null(v.constraints);
    assert_int_equal(v.stop_grace_ns, 10000000000LL);
    mgr_svc_view_free(&v);

    assert_int_equal(mgr_svc_view_parse("{}", &v, &e), 0);
    assert_false(v.global);
    assert_int_equal(v.replicas, 1);
    mgr_svc_view_free(&v);

    assert_int_equal(mgr_svc_view_parse("not json", &v, &e), -EINVAL);
    mgr_svc_view_free(&v);
    assert_int_equal(mgr_svc_view_parse(NULL, &v, &e), -EINVAL);
    mgr_svc_view_free(&v);
}

/* ---- filters ------------------------------------------------------------------ */

static void test_service_filters(void **state)
{
    (void)state;
    MgrService a = SHOAL__STORE__SERVICE__INIT, b = SHOAL__STORE__SERVICE__INIT;
    struct err e = {0};
    json_t *f;

    a.id = (char *)"abc111";
    a.name = (char *)"stk_web";
    a.spec_json = (char *)"{\"Labels\":{\"com.docker.stack.namespace\":\"stk\",\"tier\":\"fe\"},"
                          "\"Mode\":{\"Replicated\":{\"Replicas\":2}}}";
    b.id = (char *)"def222";
    b.name = (char *)"mon";
    b.spec_json = (char *)"{\"Labels\":{},\"Mode\":{\"Global\":{}}}";

#define CHECK(ftext, wa, wb)                                                                       \
    do {                                                                                           \
        f = parse(ftext);                                                                          \
        assert_int_equal(mgr_svc_filter_check(f, &e), 0);                                          \
        assert_int_equal(mgr_svc_filter_match(f, &a), wa);                                         \
        assert_int_equal(mgr_svc_filter_match(f, &b), wb);                                         \
        json_decref(f);                                                                            \
    } while (0)

    CHECK("{}", true, true);
    CHECK("{\"id\":[\"abc\"]}", true, false);
    CHECK("{\"id\":[\"abc\",\"def2\"]}", true, true);
    CHECK("{\"id\":[\"bc\"]}", false, false);
    CHECK("{\"name\":[\"stk_\"]}", true, false);
    CHECK("{\"name\":[\"mon\"]}", false, true);
    CHECK("{\"label\":[\"com.docker.stack.namespace\"]}", true, false);
    CHECK("{\"label\":[\"com.docker.stack.namespace=stk\"]}", true, false);
    CHECK("{\"label\":[\"com.docker.stack.namespace=other\"]}", false, false);
    CHECK("{\"label\":[\"tier=fe\"],\"name\":[\"stk\"]}", true, false);
    CHECK("{\"label\":[\"tier=fe\"],\"name\":[\"mon\"]}", false, false);
    CHECK("{\"mode\":[\"global\"]}", false, true);
    CHECK("{\"mode\":[\"replicated\"]}", true, false);
    CHECK("{\"name\":[]}", true, true);
#undef CHECK

    f = parse("{\"colour\":[\"x\"]}");
    assert_int_equal(mgr_svc_filter_check(f, &e), -EINVAL);
    assert_string_equal(e.msg, "invalid filter 'colour'");
    json_decref(f);
    f = parse("{\"mode\":[\"job\"]}");
    assert_int_equal(mgr_svc_filter_check(f, &e), -EINVAL);
    assert_string_equal(e.msg, "Invalid filter: 'mode'='job'");
    json_decref(f);
    assert_true(mgr_svc_filter_match(NULL, &a));
}

static void test_task_filters(void **state)
{
    (void)state;
    MgrService svc = SHOAL__STORE__SERVICE__INIT;
    MgrTask t1 = SHOAL__STORE__TASK__INIT, t2 = SHOAL__STORE__TASK__INIT;
    struct err e = {0};
    json_t *f;

    svc.id = (char *)"svc1";
    svc.name = (char *)"web";
    svc.spec_version = 10;
    svc.spec_json = (char *)"{\"Labels\":{\"com.docker.stack.namespace\":\"stk\"}}";
    t1.id = (char *)"task1aaa";
    t1.service_id = (char *)"svc1";
    t1.service_name = (char *)"web";
    t1.slot = 3;
    t1.node_id = (char *)"node1";
    t1.desired_state = MGR_TASK_RUNNING;
    t1.spec_version = 10;
    t2.id = (char *)"task2bbb";
    t2.service_id = (char *)"svc1";
    t2.service_name = (char *)"";
    t2.slot = 0;
    t2.node_id = (char *)"node2";
    t2.desired_state = MGR_TASK_SHUTDOWN;
    t2.spec_version = 9;
    t2.service_labels_json = (char *)"{\"other\":\"1\"}";

#define CHECK(ftext, w1, w2)                                                                       \
    do {                                                                                           \
        f = parse(ftext);                                                                          \
        assert_int_equal(mgr_task_filter_check(f, &e), 0);                                         \
        assert_int_equal(mgr_task_filter_match(f, &t1, &svc), w1);                                 \
        assert_int_equal(mgr_task_filter_match(f, &t2, &svc), w2);                                 \
        json_decref(f);                                                                            \
    } while (0)

    CHECK("{}", true, true);
    CHECK("{\"id\":[\"task1\"]}", true, false);
    CHECK("{\"service\":[\"svc1\"]}", true, true);
    CHECK("{\"service\":[\"svc\"]}", false, false); /* exact ids: the caller resolves */
    CHECK("{\"node\":[\"node2\"]}", false, true);
    CHECK("{\"node\":[\"node1\",\"node2\"]}", true, true);
    CHECK("{\"desired-state\":[\"running\"]}", true, false);
    CHECK("{\"desired-state\":[\"shutdown\"]}", false, true);
    CHECK("{\"desired-state\":[\"accepted\"]}", false, false);
    CHECK("{\"_up-to-date\":[\"true\"],\"service\":[\"svc1\"]}", true, false);
    CHECK("{\"name\":[\"web.3\"]}", true, false);
    CHECK("{\"name\":[\"web.node2\"]}", false, true); /* global: <service>.<node> */
    CHECK("{\"name\":[\"web\"]}", true, true);
    /* labels: the service's labels as stored on the task, else the service's */
    CHECK("{\"label\":[\"com.docker.stack.namespace=stk\"]}", true, false);
    CHECK("{\"label\":[\"other\"]}", false, true);
    CHECK("{\"label\":[\"com.docker.stack.namespace=x\"]}", false, false);
#undef CHECK

    /* without the service: label (from the service) and _up-to-date fail */
    f = parse("{\"_up-to-date\":[\"true\"]}");
    assert_false(mgr_task_filter_match(f, &t1, NULL));
    json_decref(f);
    f = parse("{\"label\":[\"com.docker.stack.namespace\"]}");
    assert_false(mgr_task_filter_match(f, &t1, NULL));
    json_decref(f);

    f = parse("{\"size\":[\"1\"]}");
    assert_int_equal(mgr_task_filter_check(f, &e), -EINVAL);
    assert_string_equal(e.msg, "invalid filter 'size'");
    json_decref(f);
    f = parse("{\"desired-state\":[\"complete\"]}");
    assert_int_equal(mgr_task_filter_check(f, &e), -EINVAL);
    assert_string_equal(e.msg, "Invalid desired-state filter: 'complete'");
    json_decref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_defaults),
        cmocka_unit_test(test_normalize_keeps_values),
        cmocka_unit_test(test_normalize_errors),
        cmocka_unit_test(test_canonical_and_template_changed),
        cmocka_unit_test(test_json_service),
        cmocka_unit_test(test_json_task),
        cmocka_unit_test(test_json_network),
        cmocka_unit_test(test_view_parse),
        cmocka_unit_test(test_service_filters),
        cmocka_unit_test(test_task_filters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
