/*
 * manager/svcjson.c - ServiceSpec validation and defaults, Docker views of
 * services/tasks/swarm networks, parsed service facts, list filters.
 */
#include "manager/svcjson.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define RPC_INVALID "rpc error: code = InvalidArgument desc = "

/* ---- small helpers ------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Absent and null are the same thing in a Go struct. */
static json_t *jget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_null(v) ? NULL : v;
}

/* The object at key, created empty when absent or null. */
static int obj_at(json_t *parent, const char *key, const char *what, json_t **ret, struct err *err)
{
    json_t *v = jget(parent, key);

    *ret = NULL;
    if (!v) {
        v = json_object();
        if (!v || json_object_set_new(parent, key, v) < 0)
            return err_set(err, -ENOMEM, "out of memory");
    } else if (!json_is_object(v)) {
        return err_set(err, -EINVAL, "json: cannot unmarshal %s into Go struct field %s",
                       json_is_array(v) ? "array" : "value", what);
    }
    *ret = v;
    return 0;
}

static int set_int(json_t *o, const char *key, int64_t v, struct err *err)
{
    if (json_object_set_new(o, key, json_integer(v)) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int set_str(json_t *o, const char *key, const char *v, struct err *err)
{
    if (json_object_set_new(o, key, json_string(v)) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Integer field: *present false when absent/null. Types follow Go's decoder:
 * a non-integer (or a negative value for an unsigned field) is refused. */
static int get_int(json_t *o, const char *key, const char *what, bool is_unsigned, int64_t *ret,
                   bool *present, struct err *err)
{
    json_t *v = jget(o, key);

    *present = false;
    *ret = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return err_set(err, -EINVAL, "json: cannot unmarshal %s into Go struct field %s of type %s",
                       json_is_string(v) ? "string" : "value", what,
                       is_unsigned ? "uint64" : "int64");
    if (is_unsigned && json_integer_value(v) < 0)
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal number %" JSON_INTEGER_FORMAT
                       " into Go struct field %s of type uint64",
                       json_integer_value(v), what);
    *ret = json_integer_value(v);
    *present = true;
    return 0;
}

/* Optional string field ("" when absent); -EINVAL when not a string. */
static int get_str(json_t *o, const char *key, const char *what, const char **ret, struct err *err)
{
    json_t *v = jget(o, key);

    *ret = "";
    if (!v)
        return 0;
    if (!json_is_string(v))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field %s of type string", what);
    *ret = json_string_value(v);
    return 0;
}

static int check_str_array(json_t *o, const char *key, const char *what, struct err *err)
{
    json_t *v = jget(o, key), *x;
    size_t i;

    if (!v)
        return 0;
    if (!json_is_array(v))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field %s of type []string",
                       what);
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x))
            return err_set(err, -EINVAL,
                           "json: cannot unmarshal value into Go struct field %s of type string",
                           what);
    }
    return 0;
}

static int check_str_map(json_t *o, const char *key, const char *what, bool fill, struct err *err)
{
    json_t *v = jget(o, key), *x;
    const char *k;

    if (!v)
        return fill ? (json_object_set_new(o, key, json_object()) < 0
                           ? err_set(err, -ENOMEM, "out of memory")
                           : 0)
                    : 0;
    if (!json_is_object(v))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field %s of type "
                       "map[string]string",
                       what);
    json_object_foreach(v, k, x)
    {
        if (!json_is_string(x))
            return err_set(err, -EINVAL,
                           "json: cannot unmarshal value into Go struct field %s of type string",
                           what);
    }
    return 0;
}

/* swarmkit's DNS name component: [a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*, <= 63. */
static bool dns_component(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > MGR_SVC_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '_')
            return false;
        if (!alnum && (i == 0 || i == n - 1))
            return false;
    }
    return true;
}

char *mgr_json_canonical(const json_t *j)
{
    if (!j)
        return NULL;
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9) | JSON_ENCODE_ANY);
}

/* ---- normalize ------------------------------------------------------------ */

static int norm_container(json_t *tt, struct err *err)
{
    json_t *cs = jget(tt, "ContainerSpec");
    const char *image, *iso;
    int64_t grace;
    bool has;
    int r;

    if (!cs || !json_is_object(cs) || !(image = jstr(cs, "Image")) || !*image)
        return err_set(err, -EINVAL, RPC_INVALID "ContainerSpec: image reference must be provided");
    if ((r = check_str_array(cs, "Args", "ContainerSpec.Args", err)) < 0 ||
        (r = check_str_array(cs, "Command", "ContainerSpec.Command", err)) < 0 ||
        (r = check_str_array(cs, "Env", "ContainerSpec.Env", err)) < 0 ||
        (r = check_str_map(cs, "Labels", "ContainerSpec.Labels", false, err)) < 0)
        return r;
    if ((r = get_str(cs, "Isolation", "ContainerSpec.Isolation", &iso, err)) < 0)
        return r;
    if (!*iso && (r = set_str(cs, "Isolation", "default", err)) < 0)
        return r;
    if ((r = get_int(cs, "StopGracePeriod", "ContainerSpec.StopGracePeriod", false, &grace, &has,
                     err)) < 0)
        return r;
    if (has && grace < 0)
        return err_set(err, -EINVAL,
                       RPC_INVALID "ContainerSpec: stop grace period cannot be "
                                   "negative");
    if (!has && (r = set_int(cs, "StopGracePeriod", MGR_SVC_STOP_GRACE_NS, err)) < 0)
        return r;
    return 0;
}

static int norm_resources(json_t *tt, struct err *err)
{
    static const char *const parts[] = {"Limits", "Reservations"};
    json_t *res, *p;
    int64_t v;
    bool has;
    int r;

    if ((r = obj_at(tt, "Resources", "TaskSpec.Resources", &res, err)) < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        p = jget(res, parts[i]);
        if (!p)
            continue;
        if (!json_is_object(p))
            return err_set(err, -EINVAL,
                           "json: cannot unmarshal value into Go struct field "
                           "ResourceRequirements.%s",
                           parts[i]);
        if ((r = get_int(p, "NanoCPUs", "Resources.NanoCPUs", false, &v, &has, err)) < 0)
            return r;
        if (v < 0)
            return err_set(err, -EINVAL, RPC_INVALID "invalid cpu value %g: must not be negative",
                           (double)v / 1e9);
        if ((r = get_int(p, "MemoryBytes", "Resources.MemoryBytes", false, &v, &has, err)) < 0)
            return r;
        if (v < 0)
            return err_set(err, -EINVAL,
                           RPC_INVALID "invalid memory value %" PRId64 ": must not be negative", v);
    }
    return 0;
}

static int norm_restart(json_t *tt, struct err *err)
{
    json_t *rp;
    const char *cond;
    int64_t v;
    bool has;
    int r;

    if ((r = obj_at(tt, "RestartPolicy", "TaskSpec.RestartPolicy", &rp, err)) < 0 ||
        (r = get_str(rp, "Condition", "RestartPolicy.Condition", &cond, err)) < 0)
        return r;
    if (!*cond) {
        if ((r = set_str(rp, "Condition", "any", err)) < 0)
            return r;
    } else if (strcmp(cond, "none") != 0 && strcmp(cond, "on-failure") != 0 &&
               strcmp(cond, "any") != 0) {
        return err_set(err, -EINVAL, "invalid RestartCondition: \"%s\"", cond);
    }
    if ((r = get_int(rp, "Delay", "RestartPolicy.Delay", false, &v, &has, err)) < 0)
        return r;
    if (v < 0)
        return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: restart-delay cannot be negative");
    if (!has && (r = set_int(rp, "Delay", MGR_SVC_RESTART_DELAY_NS, err)) < 0)
        return r;
    if ((r = get_int(rp, "MaxAttempts", "RestartPolicy.MaxAttempts", true, &v, &has, err)) < 0)
        return r;
    if (!has && (r = set_int(rp, "MaxAttempts", 0, err)) < 0)
        return r;
    if ((r = get_int(rp, "Window", "RestartPolicy.Window", false, &v, &has, err)) < 0)
        return r;
    if (v < 0)
        return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: restart-window cannot be negative");
    return 0;
}

/* A constraint is "key==value" or "key!=value" with non-empty sides. */
static bool constraint_ok(const char *c)
{
    const char *op = strstr(c, "==");
    const char *ne = strstr(c, "!=");
    const char *k, *v;

    if (!op || (ne && ne < op))
        op = ne;
    if (!op)
        return false;
    for (k = c; k < op && (*k == ' ' || *k == '\t'); k++)
        ;
    for (v = op + 2; *v == ' ' || *v == '\t'; v++)
        ;
    return k < op && *v && !strstr(op + 2, "==") && !strstr(op + 2, "!=");
}

static int norm_placement(json_t *tt, struct err *err)
{
    json_t *pl, *arr, *x;
    size_t i;
    int64_t v;
    bool has;
    int r;

    if ((r = obj_at(tt, "Placement", "TaskSpec.Placement", &pl, err)) < 0 ||
        (r = check_str_array(pl, "Constraints", "Placement.Constraints", err)) < 0)
        return r;
    arr = jget(pl, "Constraints");
    json_array_foreach(arr, i, x)
    {
        if (!constraint_ok(json_string_value(x)))
            return err_set(err, -EINVAL,
                           RPC_INVALID "invalid constraint '%s': constraint expected one "
                                       "operator from ==, !=",
                           json_string_value(x));
    }
    arr = jget(pl, "Preferences");
    if (arr && !json_is_array(arr))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field "
                       "Placement.Preferences of type []swarm.PlacementPreference");
    json_array_foreach(arr, i, x)
    {
        const char *d = jstr(json_object_get(x, "Spread"), "SpreadDescriptor");
        if (!d || !*d)
            return err_set(err, -EINVAL,
                           RPC_INVALID "placement preference %zu: Spread.SpreadDescriptor must "
                                       "be provided",
                           i + 1);
    }
    if ((r = get_int(pl, "MaxReplicas", "Placement.MaxReplicas", true, &v, &has, err)) < 0)
        return r;
    return 0;
}

static int norm_networks(json_t *tt, struct err *err)
{
    json_t *arr = jget(tt, "Networks"), *x;
    size_t i;

    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field "
                       "TaskSpec.Networks of type []swarm.NetworkAttachmentConfig");
    json_array_foreach(arr, i, x)
    {
        const char *t = jstr(x, "Target");
        if (!json_is_object(x) || !t || !*t)
            return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: network target must be provided");
        if (check_str_array(x, "Aliases", "NetworkAttachmentConfig.Aliases", err) < 0)
            return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(jstr(json_array_get(arr, j), "Target"), t) == 0)
                return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: duplicate network target %s",
                               t);
    }
    return 0;
}

static int norm_task_template(json_t *out, struct err *err)
{
    json_t *tt = jget(out, "TaskTemplate");
    const char *rt;
    int64_t v;
    bool has;
    int r;

    if (tt && !json_is_object(tt))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field "
                       "ServiceSpec.TaskTemplate of type swarm.TaskSpec");
    if (!tt)
        return err_set(err, -EINVAL, RPC_INVALID "ContainerSpec: image reference must be provided");
    if ((r = norm_container(tt, err)) < 0 || (r = norm_resources(tt, err)) < 0 ||
        (r = norm_restart(tt, err)) < 0 || (r = norm_placement(tt, err)) < 0 ||
        (r = norm_networks(tt, err)) < 0)
        return r;
    if ((r = get_int(tt, "ForceUpdate", "TaskSpec.ForceUpdate", true, &v, &has, err)) < 0)
        return r;
    if (!has && (r = set_int(tt, "ForceUpdate", 0, err)) < 0)
        return r;
    if ((r = get_str(tt, "Runtime", "TaskSpec.Runtime", &rt, err)) < 0)
        return r;
    if (!*rt)
        return set_str(tt, "Runtime", "container", err);
    if (strcmp(rt, "container") != 0)
        return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: runtime type %s is not supported", rt);
    return 0;
}

static int norm_mode(json_t *out, struct err *err)
{
    json_t *mode, *rep;
    int64_t v;
    bool has;
    int r;

    if ((r = obj_at(out, "Mode", "ServiceSpec.Mode", &mode, err)) < 0)
        return r;
    if (jget(mode, "ReplicatedJob") || jget(mode, "GlobalJob"))
        return err_set(err, -EINVAL, "jobs (ReplicatedJob, GlobalJob) are not supported by shoal");
    if (jget(mode, "Global") && jget(mode, "Replicated"))
        return err_set(err, -EINVAL, "cannot specify both replicated mode and global mode");
    if (jget(mode, "Global")) {
        if (!json_is_object(jget(mode, "Global")))
            return err_set(err, -EINVAL,
                           "json: cannot unmarshal value into Go struct field "
                           "ServiceMode.Global");
        return 0;
    }
    if ((r = obj_at(mode, "Replicated", "ServiceMode.Replicated", &rep, err)) < 0 ||
        (r = get_int(rep, "Replicas", "ReplicatedService.Mode.Replicated.Replicas", true, &v, &has,
                     err)) < 0)
        return r;
    if (!has)
        return set_int(rep, "Replicas", 1, err);
    return 0;
}

static int norm_update(json_t *out, const char *key, const char *what, struct err *err)
{
    json_t *uc, *ratio;
    const char *s;
    int64_t v;
    bool has;
    int r;

    if ((r = obj_at(out, key, key, &uc, err)) < 0)
        return r;
    if ((r = get_int(uc, "Parallelism", "UpdateConfig.Parallelism", true, &v, &has, err)) < 0)
        return r;
    if (!has && (r = set_int(uc, "Parallelism", 1, err)) < 0)
        return r;
    if ((r = get_int(uc, "Delay", "UpdateConfig.Delay", false, &v, &has, err)) < 0)
        return r;
    if (v < 0)
        return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: %s-delay cannot be negative", what);
    if (has && v == 0)
        (void)json_object_del(uc, "Delay"); /* Go's omitempty */
    if ((r = get_int(uc, "Monitor", "UpdateConfig.Monitor", false, &v, &has, err)) < 0)
        return r;
    if (v < 0)
        return err_set(err, -EINVAL, RPC_INVALID "TaskSpec: %s-monitor cannot be negative", what);
    if (v == 0 && (r = set_int(uc, "Monitor", MGR_SVC_UPDATE_MONITOR_NS, err)) < 0)
        return r;
    ratio = jget(uc, "MaxFailureRatio");
    if (ratio && !json_is_number(ratio))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field "
                       "UpdateConfig.MaxFailureRatio of type float32");
    if (ratio && (json_number_value(ratio) < 0 || json_number_value(ratio) > 1))
        return err_set(err, -EINVAL,
                       RPC_INVALID "TaskSpec: %s-maxfailureratio cannot be less than 0 or bigger "
                                   "than 1",
                       what);
    if (!ratio && (r = set_int(uc, "MaxFailureRatio", 0, err)) < 0)
        return r;
    if ((r = get_str(uc, "FailureAction", "UpdateConfig.FailureAction", &s, err)) < 0)
        return r;
    if (!*s) {
        if ((r = set_str(uc, "FailureAction", "pause", err)) < 0)
            return r;
    } else if (strcmp(s, "pause") != 0 && strcmp(s, "continue") != 0 &&
               strcmp(s, "rollback") != 0) {
        return err_set(err, -EINVAL, "unrecognized %s failure action %s", what, s);
    }
    if ((r = get_str(uc, "Order", "UpdateConfig.Order", &s, err)) < 0)
        return r;
    if (!*s)
        return set_str(uc, "Order", "stop-first", err);
    if (strcmp(s, "stop-first") != 0 && strcmp(s, "start-first") != 0)
        return err_set(err, -EINVAL, "unrecognized %s order %s", what, s);
    return 0;
}

static int norm_endpoint(json_t *out, struct err *err)
{
    json_t *ep, *ports, *p;
    const char *mode, *s;
    bool dnsrr, has;
    int64_t v;
    size_t i;
    int r;

    if ((r = obj_at(out, "EndpointSpec", "ServiceSpec.EndpointSpec", &ep, err)) < 0 ||
        (r = get_str(ep, "Mode", "EndpointSpec.Mode", &mode, err)) < 0)
        return r;
    if (!*mode) {
        if ((r = set_str(ep, "Mode", "vip", err)) < 0)
            return r;
        mode = "vip";
    } else if (strcmp(mode, "vip") != 0 && strcmp(mode, "dnsrr") != 0) {
        return err_set(err, -EINVAL, "invalid resolution mode: \"%s\"", mode);
    }
    dnsrr = strcmp(mode, "dnsrr") == 0;
    ports = jget(ep, "Ports");
    if (!ports) {
        (void)json_object_del(ep, "Ports");
        return 0;
    }
    if (!json_is_array(ports))
        return err_set(err, -EINVAL,
                       "json: cannot unmarshal value into Go struct field "
                       "EndpointSpec.Ports of type []swarm.PortConfig");
    json_array_foreach(ports, i, p)
    {
        if (!json_is_object(p))
            return err_set(err, -EINVAL,
                           "json: cannot unmarshal value into Go struct field "
                           "EndpointSpec.Ports of type swarm.PortConfig");
        if ((r = get_str(p, "Protocol", "PortConfig.Protocol", &s, err)) < 0)
            return r;
        if (!*s && (r = set_str(p, "Protocol", "tcp", err)) < 0)
            return r;
        if (*s && strcmp(s, "tcp") != 0 && strcmp(s, "udp") != 0 && strcmp(s, "sctp") != 0)
            return err_set(err, -EINVAL, RPC_INVALID "EndpointSpec: invalid protocol %s", s);
        if ((r = get_str(p, "PublishMode", "PortConfig.PublishMode", &s, err)) < 0)
            return r;
        if (!*s && (r = set_str(p, "PublishMode", "ingress", err)) < 0)
            return r;
        if (*s && strcmp(s, "ingress") != 0 && strcmp(s, "host") != 0)
            return err_set(err, -EINVAL, RPC_INVALID "EndpointSpec: invalid publish mode %s", s);
        if ((r = get_int(p, "TargetPort", "PortConfig.TargetPort", true, &v, &has, err)) < 0)
            return r;
        if (v < 1 || v > 65535)
            return err_set(err, -EINVAL, RPC_INVALID "EndpointSpec: invalid target port %" PRId64,
                           v);
        if ((r = get_int(p, "PublishedPort", "PortConfig.PublishedPort", true, &v, &has, err)) < 0)
            return r;
        if (v > 65535)
            return err_set(err, -EINVAL,
                           RPC_INVALID "EndpointSpec: invalid published port %" PRId64, v);
        if (dnsrr && strcmp(jstr(p, "PublishMode"), "ingress") == 0)
            return err_set(err, -EINVAL,
                           RPC_INVALID "EndpointSpec: port published with ingress mode can't be "
                                       "used with dnsrr mode");
        for (size_t j = 0; v > 0 && j < i; j++) {
            json_t *q = json_array_get(ports, j);
            if (json_integer_value(json_object_get(q, "PublishedPort")) == v &&
                strcmp(jstr(q, "Protocol"), jstr(p, "Protocol")) == 0)
                return err_set(err, -EINVAL,
                               RPC_INVALID "EndpointSpec: duplicate published ports provided");
        }
    }
    return 0;
}

int mgr_svc_spec_normalize(json_t *spec, json_t **ret, struct err *err)
{
    json_t *out;
    const char *name;
    int r;

    *ret = NULL;
    if (!json_is_object(spec))
        return err_set(err, -EINVAL, "invalid JSON: the service spec must be an object");
    out = json_deep_copy(spec);
    if (!out)
        return err_set(err, -ENOMEM, "out of memory");
    if ((r = get_str(out, "Name", "ServiceSpec.Name", &name, err)) < 0)
        goto fail;
    if (!*name) {
        r = err_set(err, -EINVAL, RPC_INVALID "meta: name must be provided");
        goto fail;
    }
    if (!dns_component(name)) {
        r = err_set(err, -EINVAL, RPC_INVALID "name must be valid as a DNS name component");
        goto fail;
    }
    if ((r = check_str_map(out, "Labels", "ServiceSpec.Labels", true, err)) < 0 ||
        (r = norm_task_template(out, err)) < 0 || (r = norm_mode(out, err)) < 0 ||
        (r = norm_update(out, "UpdateConfig", "update", err)) < 0 ||
        (r = norm_update(out, "RollbackConfig", "rollback", err)) < 0 ||
        (r = norm_endpoint(out, err)) < 0)
        goto fail;
    *ret = out;
    return 0;
fail:
    json_decref(out);
    return r;
}

bool mgr_svc_template_changed(const char *old_spec_json, const char *new_spec_json)
{
    static const char *const keys[] = {"TaskTemplate", "EndpointSpec", "Networks"};
    json_t *a = json_loads(old_spec_json ? old_spec_json : "", 0, NULL);
    json_t *b = json_loads(new_spec_json ? new_spec_json : "", 0, NULL);
    bool changed = !a || !b;

    for (size_t i = 0; !changed && i < ARRAY_SIZE(keys); i++)
        changed = !json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])) &&
                  (json_object_get(a, keys[i]) || json_object_get(b, keys[i]));
    json_decref(a);
    json_decref(b);
    return changed;
}

/* ---- views ---------------------------------------------------------------- */

/* Parsed stored JSON text, or {} (text missing or broken). */
static json_t *load_or_empty(const char *text)
{
    json_t *j = (text && *text) ? json_loads(text, 0, NULL) : NULL;

    return j ? j : json_object();
}

static json_t *time_json(int64_t ns)
{
    char buf[40];

    time_fmt_rfc3339(ns, buf);
    return json_string(buf);
}

static void meta_fields(json_t *o, const char *id, const Shoal__Store__Meta *m)
{
    json_object_set_new(o, "ID", json_string(id ? id : ""));
    json_object_set_new(o, "Version",
                        json_pack("{s:I}", "Index", (json_int_t)(m ? m->version : 0)));
    json_object_set_new(o, "CreatedAt", time_json(m ? m->created_at_ns : 0));
    json_object_set_new(o, "UpdatedAt", time_json(m ? m->updated_at_ns : 0));
}

static bool spec_is_global(const json_t *spec)
{
    return jget(json_object_get((json_t *)spec, "Mode"), "Global") != NULL;
}

void mgr_svc_counts_init(struct mgr_svc_counts *c, const MgrService *s)
{
    json_t *spec = load_or_empty(s ? s->spec_json : NULL);
    json_t *rep =
        json_object_get(json_object_get(json_object_get(spec, "Mode"), "Replicated"), "Replicas");

    memset(c, 0, sizeof(*c));
    c->global = spec_is_global(spec);
    if (!c->global)
        c->desired = json_is_integer(rep) ? (uint64_t)json_integer_value(rep) : 1;
    json_decref(spec);
}

void mgr_svc_counts_add(struct mgr_svc_counts *c, const MgrService *s, const MgrTask *t)
{
    int state = t->status ? (int)t->status->state : MGR_TASK_NEW;

    (void)s;
    if (t->desired_state == MGR_TASK_RUNNING) {
        if (state == MGR_TASK_RUNNING)
            c->running++;
        if (c->global)
            c->desired++;
    }
    if (t->desired_state == MGR_TASK_COMPLETE && state == MGR_TASK_COMPLETE)
        c->completed++;
}

json_t *mgr_json_service(const MgrService *s, const struct mgr_svc_counts *counts)
{
    json_t *o = json_object(), *spec;
    const MgrUpdateStatus *us = s->update_status;

    if (!o)
        return NULL;
    meta_fields(o, s->id, s->meta);
    spec = load_or_empty(s->spec_json);
    json_object_set(o, "Spec", spec);
    if (s->previous_spec_json && *s->previous_spec_json)
        json_object_set_new(o, "PreviousSpec", load_or_empty(s->previous_spec_json));
    if (s->endpoint_json && *s->endpoint_json) {
        json_object_set_new(o, "Endpoint", load_or_empty(s->endpoint_json));
    } else {
        json_t *es = json_object_get(spec, "EndpointSpec");
        json_object_set_new(o, "Endpoint",
                            json_pack("{s:o}", "Spec", es ? json_deep_copy(es) : json_object()));
    }
    json_decref(spec);
    if (us && us->state && *us->state) {
        json_t *u = json_object();
        json_object_set_new(u, "State", json_string(us->state));
        if (us->started_at_ns > 0)
            json_object_set_new(u, "StartedAt", time_json(us->started_at_ns));
        if (us->completed_at_ns > 0)
            json_object_set_new(u, "CompletedAt", time_json(us->completed_at_ns));
        json_object_set_new(u, "Message", json_string(us->message ? us->message : ""));
        json_object_set_new(o, "UpdateStatus", u);
    }
    if (counts)
        json_object_set_new(o, "ServiceStatus",
                            json_pack("{s:I, s:I, s:I}", "RunningTasks",
                                      (json_int_t)counts->running, "DesiredTasks",
                                      (json_int_t)counts->desired, "CompletedTasks",
                                      (json_int_t)counts->completed));
    return o;
}

json_t *mgr_json_task(const MgrTask *t)
{
    const MgrTaskStatus *st = t->status;
    json_t *o = json_object(), *status;

    if (!o)
        return NULL;
    meta_fields(o, t->id, t->meta);
    json_object_set_new(o, "Labels", json_object());
    json_object_set_new(o, "Spec", load_or_empty(t->spec_json));
    json_object_set_new(o, "ServiceID", json_string(t->service_id ? t->service_id : ""));
    if (t->slot > 0)
        json_object_set_new(o, "Slot", json_integer((json_int_t)t->slot));
    if (t->node_id && *t->node_id)
        json_object_set_new(o, "NodeID", json_string(t->node_id));
    status = json_object();
    json_object_set_new(status, "Timestamp", time_json(st ? st->timestamp_ns : 0));
    json_object_set_new(status, "State", json_string(mgr_task_state_str(st ? (int)st->state : 0)));
    if (st && st->message && *st->message)
        json_object_set_new(status, "Message", json_string(st->message));
    if (st && st->err && *st->err)
        json_object_set_new(status, "Err", json_string(st->err));
    if (st && ((st->container_id && *st->container_id) || st->pid || st->exit_code))
        json_object_set_new(status, "ContainerStatus",
                            json_pack("{s:s, s:i, s:i}", "ContainerID",
                                      st->container_id ? st->container_id : "", "PID", (int)st->pid,
                                      "ExitCode", (int)st->exit_code));
    json_object_set_new(status, "PortStatus", load_or_empty(st ? st->port_status_json : NULL));
    json_object_set_new(o, "Status", status);
    json_object_set_new(o, "DesiredState", json_string(mgr_task_state_str((int)t->desired_state)));
    if (t->networks_json && *t->networks_json) {
        json_t *na = json_loads(t->networks_json, 0, NULL);
        if (json_is_array(na))
            json_object_set_new(o, "NetworksAttachments", na);
        else
            json_decref(na);
    }
    return o;
}

json_t *mgr_json_network_swarm(const MgrNetwork *n)
{
    json_t *spec = load_or_empty(n->spec_json);
    json_t *o = json_object(), *ipam, *opts, *labels, *x;
    const char *drv = jstr(spec, "Driver"), *k;
    char created[40], vni[16];

    if (!o) {
        json_decref(spec);
        return NULL;
    }
    time_fmt_rfc3339(n->meta ? n->meta->created_at_ns : 0, created);
    json_object_set_new(o, "Name", json_string(n->name ? n->name : ""));
    json_object_set_new(o, "Id", json_string(n->id ? n->id : ""));
    json_object_set_new(o, "Created", json_string(created));
    json_object_set_new(o, "Scope", json_string("swarm"));
    json_object_set_new(o, "Driver", json_string(drv && *drv ? drv : "overlay"));
    json_object_set_new(o, "EnableIPv6", json_boolean(json_is_true(jget(spec, "EnableIPv6"))));
    x = jget(spec, "IPAM");
    ipam = json_object();
    k = jstr(x, "Driver");
    json_object_set_new(ipam, "Driver", json_string(k && *k ? k : "default"));
    opts = jget(x, "Options");
    json_object_set_new(ipam, "Options",
                        json_is_object(opts) && json_object_size(opts) ? json_deep_copy(opts)
                                                                       : json_null());
    json_object_set_new(ipam, "Config",
                        (n->subnet && *n->subnet)
                            ? json_pack("[{s:s, s:s}]", "Subnet", n->subnet, "Gateway",
                                        n->gateway ? n->gateway : "")
                            : json_array());
    json_object_set_new(o, "IPAM", ipam);
    json_object_set_new(o, "Internal", json_boolean(json_is_true(jget(spec, "Internal"))));
    json_object_set_new(o, "Attachable", json_boolean(json_is_true(jget(spec, "Attachable"))));
    json_object_set_new(o, "Ingress", json_boolean(json_is_true(jget(spec, "Ingress"))));
    json_object_set_new(o, "ConfigFrom", json_pack("{s:s}", "Network", ""));
    json_object_set_new(o, "ConfigOnly", json_false());
    json_object_set_new(o, "Containers", json_null());
    opts = json_object();
    x = jget(spec, "Options");
    if (json_is_object(x))
        json_object_update(opts, x);
    snprintf(vni, sizeof(vni), "%u", (unsigned)n->vni);
    json_object_set_new(opts, "com.docker.network.driver.overlay.vxlanid_list", json_string(vni));
    json_object_set_new(o, "Options", opts);
    labels = jget(spec, "Labels");
    json_object_set_new(o, "Labels",
                        json_is_object(labels) && json_object_size(labels) ? json_deep_copy(labels)
                                                                           : json_null());
    json_decref(spec);
    return o;
}

/* ---- parsed facts ----------------------------------------------------------- */

static int64_t int_or(json_t *o, const char *key, int64_t def)
{
    json_t *v = jget(o, key);

    return json_is_integer(v) ? json_integer_value(v) : def;
}

static void parse_update(json_t *uc, struct mgr_svc_update *u)
{
    const char *fa = jstr(uc, "FailureAction"), *order = jstr(uc, "Order");
    json_t *ratio = jget(uc, "MaxFailureRatio");
    int64_t v;

    v = int_or(uc, "Parallelism", 1);
    u->parallelism = v < 0 ? 1 : (uint64_t)v;
    u->delay_ns = int_or(uc, "Delay", 0);
    u->monitor_ns = int_or(uc, "Monitor", 0);
    if (u->monitor_ns <= 0)
        u->monitor_ns = MGR_SVC_UPDATE_MONITOR_NS;
    u->failure_action = MGR_FAILURE_PAUSE;
    if (fa && strcmp(fa, "continue") == 0)
        u->failure_action = MGR_FAILURE_CONTINUE;
    else if (fa && strcmp(fa, "rollback") == 0)
        u->failure_action = MGR_FAILURE_ROLLBACK;
    u->max_failure_ratio = json_is_number(ratio) ? json_number_value(ratio) : 0;
    u->start_first = order && strcmp(order, "start-first") == 0;
}

/* Copy the strings of a JSON array (of strings, or of objects through fn). */
static int strv_from(json_t *arr, const char *(*fn)(json_t *), char ***ret, size_t *ret_n)
{
    size_t n = json_array_size(arr), k = 0, i;
    json_t *x;
    char **v;

    *ret = NULL;
    *ret_n = 0;
    if (n == 0)
        return 0;
    v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    json_array_foreach(arr, i, x)
    {
        const char *s = fn ? fn(x) : json_string_value(x);
        if (!s || !*s)
            continue;
        v[k] = strdup(s);
        if (!v[k]) {
            while (k > 0)
                free(v[--k]);
            free(v);
            return -ENOMEM;
        }
        k++;
    }
    *ret = v;
    *ret_n = k;
    return 0;
}

static const char *spread_of(json_t *pref)
{
    return jstr(json_object_get(pref, "Spread"), "SpreadDescriptor");
}

int mgr_svc_view_parse(const char *spec_json, struct mgr_svc_view *v, struct err *err)
{
    json_t *spec = json_loads(spec_json ? spec_json : "", 0, NULL);
    json_t *mode, *tt, *rp, *pl, *res, *ports, *p;
    const char *cond;
    size_t i, k = 0;

    memset(v, 0, sizeof(*v));
    if (!json_is_object(spec)) {
        json_decref(spec);
        return err_set(err, -EINVAL, "service spec is not a JSON object");
    }
    mode = json_object_get(spec, "Mode");
    v->global = jget(mode, "Global") != NULL;
    if (!v->global) {
        int64_t r = int_or(json_object_get(mode, "Replicated"), "Replicas", 1);
        v->replicas = r < 0 ? 0 : (uint64_t)r;
    }
    tt = json_object_get(spec, "TaskTemplate");
    rp = json_object_get(tt, "RestartPolicy");
    cond = jstr(rp, "Condition");
    v->restart.condition = MGR_RESTART_ANY;
    if (cond && strcmp(cond, "none") == 0)
        v->restart.condition = MGR_RESTART_NONE;
    else if (cond && strcmp(cond, "on-failure") == 0)
        v->restart.condition = MGR_RESTART_ON_FAILURE;
    v->restart.delay_ns = int_or(rp, "Delay", MGR_SVC_RESTART_DELAY_NS);
    v->restart.window_ns = int_or(rp, "Window", 0);
    v->restart.max_attempts = (uint64_t)int_or(rp, "MaxAttempts", 0);
    parse_update(json_object_get(spec, "UpdateConfig"), &v->update);
    parse_update(json_object_get(spec, "RollbackConfig"), &v->rollback);
    pl = json_object_get(tt, "Placement");
    if (strv_from(jget(pl, "Constraints"), NULL, &v->constraints, &v->n_constraints) < 0 ||
        strv_from(jget(pl, "Preferences"), spread_of, &v->spread_prefs, &v->n_spread_prefs) < 0)
        goto nomem;
    v->max_replicas = (uint64_t)int_or(pl, "MaxReplicas", 0);
    res = json_object_get(json_object_get(tt, "Resources"), "Reservations");
    v->res_nano_cpus = int_or(res, "NanoCPUs", 0);
    v->res_memory = int_or(res, "MemoryBytes", 0);
    v->stop_grace_ns =
        int_or(json_object_get(tt, "ContainerSpec"), "StopGracePeriod", MGR_SVC_STOP_GRACE_NS);
    ports = jget(json_object_get(spec, "EndpointSpec"), "Ports");
    json_array_foreach(ports, i, p)
    {
        const char *pm = jstr(p, "PublishMode");
        if (pm && strcmp(pm, "host") == 0 && int_or(p, "PublishedPort", 0) > 0)
            k++;
    }
    if (k) {
        v->host_ports = calloc(k, sizeof(*v->host_ports));
        if (!v->host_ports)
            goto nomem;
        json_array_foreach(ports, i, p)
        {
            const char *pm = jstr(p, "PublishMode"), *proto = jstr(p, "Protocol");
            struct mgr_svc_port_view *hp;
            if (!pm || strcmp(pm, "host") != 0 || int_or(p, "PublishedPort", 0) <= 0)
                continue;
            hp = &v->host_ports[v->n_host_ports++];
            snprintf(hp->protocol, sizeof(hp->protocol), "%s", proto && *proto ? proto : "tcp");
            hp->published = (uint32_t)int_or(p, "PublishedPort", 0);
            hp->target = (uint32_t)int_or(p, "TargetPort", 0);
        }
    }
    json_decref(spec);
    return 0;
nomem:
    json_decref(spec);
    mgr_svc_view_free(v);
    return err_set(err, -ENOMEM, "out of memory");
}

void mgr_svc_view_free(struct mgr_svc_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_constraints; i++)
        free(v->constraints[i]);
    free(v->constraints);
    for (size_t i = 0; i < v->n_spread_prefs; i++)
        free(v->spread_prefs[i]);
    free(v->spread_prefs);
    free(v->host_ports);
    memset(v, 0, sizeof(*v));
}

/* ---- filters ---------------------------------------------------------------- */

static bool key_allowed(const char *key, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static int filter_keys_check(const json_t *filters, const char *const *keys, size_t n,
                             struct err *err)
{
    const char *key;
    json_t *vals;

    json_object_foreach((json_t *)filters, key, vals)
    {
        if (!key_allowed(key, keys, n))
            return err_set(err, -EINVAL, "invalid filter '%s'", key);
    }
    return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "k" (key present) or "k=v" against a labels object. */
static bool label_match(const json_t *labels, const char *want)
{
    const char *eq = strchr(want, '=');
    const char *have;

    if (!eq)
        return json_object_get(labels, want) != NULL;
    json_t *lv = json_object_getn(labels, want, (size_t)(eq - want));
    have = json_string_value(lv);
    return have && strcmp(have, eq + 1) == 0;
}

/* Every key ANDed, its values ORed; match(key, value, ud) decides one value.
 * A key with no values matches everything. */
static bool filters_match(const json_t *filters, bool (*match)(const char *, const char *, void *),
                          void *ud)
{
    const char *key;
    json_t *vals, *v;
    size_t i;

    json_object_foreach((json_t *)filters, key, vals)
    {
        bool any = json_array_size(vals) == 0;
        json_array_foreach(vals, i, v)
        {
            const char *s = json_string_value(v);
            if (s && match(key, s, ud)) {
                any = true;
                break;
            }
        }
        if (!any)
            return false;
    }
    return true;
}

int mgr_svc_filter_check(const json_t *filters, struct err *err)
{
    static const char *const keys[] = {"id", "name", "label", "mode"};
    json_t *vals, *v;
    size_t i;
    int r;

    if ((r = filter_keys_check(filters, keys, ARRAY_SIZE(keys), err)) < 0)
        return r;
    vals = json_object_get((json_t *)filters, "mode");
    json_array_foreach(vals, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "replicated") != 0 && strcmp(s, "global") != 0))
            return err_set(err, -EINVAL, "Invalid filter: 'mode'='%s'", s ? s : "");
    }
    return 0;
}

struct svc_match {
    const MgrService *s;
    json_t *spec;
};

static bool svc_match_one(const char *key, const char *val, void *ud)
{
    struct svc_match *m = ud;

    if (strcmp(key, "id") == 0)
        return has_prefix(m->s->id, val);
    if (strcmp(key, "name") == 0)
        return has_prefix(m->s->name, val);
    if (strcmp(key, "label") == 0)
        return label_match(json_object_get(m->spec, "Labels"), val);
    if (strcmp(key, "mode") == 0)
        return spec_is_global(m->spec) == (strcmp(val, "global") == 0);
    return false;
}

bool mgr_svc_filter_match(const json_t *filters, const MgrService *s)
{
    struct svc_match m = {.s = s, .spec = NULL};
    bool ok;

    if (!filters || json_object_size(filters) == 0)
        return true;
    m.spec = load_or_empty(s->spec_json);
    ok = filters_match(filters, svc_match_one, &m);
    json_decref(m.spec);
    return ok;
}

int mgr_task_filter_check(const json_t *filters, struct err *err)
{
    static const char *const keys[] = {"id",    "name",          "service",     "node",
                                       "label", "desired-state", "_up-to-date", "runtime"};
    json_t *vals, *v;
    size_t i;
    int r;

    if ((r = filter_keys_check(filters, keys, ARRAY_SIZE(keys), err)) < 0)
        return r;
    vals = json_object_get((json_t *)filters, "desired-state");
    json_array_foreach(vals, i, v)
    {
        const char *s = json_string_value(v);
        if (!s ||
            (strcmp(s, "running") != 0 && strcmp(s, "shutdown") != 0 && strcmp(s, "accepted") != 0))
            return err_set(err, -EINVAL, "Invalid desired-state filter: '%s'", s ? s : "");
    }
    return 0;
}

struct task_match {
    const MgrTask *t;
    const MgrService *svc;
    json_t *labels; /* lazily loaded */
};

static bool task_match_one(const char *key, const char *val, void *ud)
{
    struct task_match *m = ud;
    const MgrTask *t = m->t;

    if (strcmp(key, "id") == 0)
        return has_prefix(t->id, val);
    if (strcmp(key, "service") == 0)
        return t->service_id && strcmp(t->service_id, val) == 0;
    if (strcmp(key, "node") == 0)
        return t->node_id && strcmp(t->node_id, val) == 0;
    if (strcmp(key, "desired-state") == 0)
        return strcmp(mgr_task_state_str((int)t->desired_state), val) == 0;
    if (strcmp(key, "runtime") == 0)
        return strcmp(val, "container") == 0;
    if (strcmp(key, "_up-to-date") == 0) {
        if (strcmp(val, "true") != 0 && strcmp(val, "1") != 0)
            return true;
        return m->svc && t->spec_version == m->svc->spec_version;
    }
    if (strcmp(key, "name") == 0) {
        const char *sname = t->service_name && *t->service_name ? t->service_name
                            : m->svc                            ? m->svc->name
                                                                : "";
        char name[512];
        if (t->slot > 0)
            snprintf(name, sizeof(name), "%s.%" PRIu64 ".%s", sname, t->slot, t->id);
        else
            snprintf(name, sizeof(name), "%s.%s.%s", sname, t->node_id ? t->node_id : "", t->id);
        return has_prefix(name, val);
    }
    if (strcmp(key, "label") == 0) {
        if (!m->labels) {
            if (t->service_labels_json && *t->service_labels_json) {
                m->labels = load_or_empty(t->service_labels_json);
            } else if (m->svc) {
                json_t *spec = load_or_empty(m->svc->spec_json);
                m->labels = json_incref(json_object_get(spec, "Labels"));
                json_decref(spec);
            }
            if (!m->labels)
                m->labels = json_object();
        }
        return label_match(m->labels, val);
    }
    return false;
}

bool mgr_task_filter_match(const json_t *filters, const MgrTask *t, const MgrService *svc)
{
    struct task_match m = {.t = t, .svc = svc, .labels = NULL};
    bool ok;

    if (!filters || json_object_size(filters) == 0)
        return true;
    ok = filters_match(filters, task_match_one, &m);
    json_decref(m.labels);
    return ok;
}
