/*
 * manager/svcjson.h - Docker Engine API views of services, tasks and swarm
 * networks, validation of the ServiceSpec the docker CLI sends, the parsed
 * facts the orchestrator and the scheduler need, and the /services and
 * /tasks list filters.
 *
 * Specs are stored as canonical JSON text (mgr_json_canonical: compact,
 * sorted keys) with Docker's defaults already filled in by
 * mgr_svc_spec_normalize, so GET with insertDefaults=true or false returns
 * the stored text unchanged.
 *
 * Views return a new jansson reference (NULL only on ENOMEM). They never fail
 * on a stored spec that does not parse: the field is shown as {}.
 * Functions returning int give 0 or a negative errno with a message fit for
 * an API reply (Docker's wording, "rpc error: code = InvalidArgument desc =
 * ..." where swarmkit words it so); -EINVAL maps to 400.
 * Nothing here touches the store, the clock or the network.
 */
#ifndef MANAGER_SVCJSON_H
#define MANAGER_SVCJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#include "manager/store.h"

/* Defaults Docker shows with insertDefaults=true. */
#define MGR_SVC_RESTART_DELAY_NS  INT64_C(5000000000)
#define MGR_SVC_UPDATE_MONITOR_NS INT64_C(5000000000)
#define MGR_SVC_STOP_GRACE_NS     INT64_C(10000000000)
#define MGR_SVC_MAX_NAME          63

/* ---- specs ----------------------------------------------------------------- */

/* Validate a ServiceSpec (POST /services/create and /services/{id}/update
 * body; spec is borrowed, not changed) and return in *ret a new object with
 * Docker's defaults filled in: Labels {}, Mode Replicated{Replicas:1},
 * TaskTemplate{ContainerSpec{Isolation:"default", StopGracePeriod:10s},
 * Resources{}, RestartPolicy{Condition:"any", Delay:5s, MaxAttempts:0},
 * Placement{}, ForceUpdate:0, Runtime:"container"}, UpdateConfig and
 * RollbackConfig {Parallelism:1, FailureAction:"pause", Monitor:5s,
 * MaxFailureRatio:0, Order:"stop-first"}, EndpointSpec{Mode:"vip"} and
 * Ports[].Protocol "tcp" / PublishMode "ingress". Empty strings for enums
 * ("Order":"" from compose) mean the default. Network Targets are kept as
 * given (the caller resolves names to ids). -EINVAL on any invalid field. */
int mgr_svc_spec_normalize(json_t *spec, json_t **ret, struct err *err);

/* Compact, sorted-keys JSON text (malloc'd; NULL on ENOMEM or NULL j). */
char *mgr_json_canonical(const json_t *j);

/* Whether an update makes the running tasks out of date: TaskTemplate (incl.
 * ForceUpdate), EndpointSpec or the deprecated top-level Networks differ
 * between the two spec texts (the store's rule for bumping spec_version). A
 * scale, a label or UpdateConfig change is not. Unparsable text: changed. */
bool mgr_svc_template_changed(const char *old_spec_json, const char *new_spec_json);

/* ---- views ------------------------------------------------------------------ */

/* ServiceStatus of GET /services?status=true. */
struct mgr_svc_counts {
    uint64_t running;   /* RunningTasks: state running, desired running */
    uint64_t desired;   /* DesiredTasks: replicas, or (global) tasks desired running */
    uint64_t completed; /* CompletedTasks */
    bool global;        /* set by mgr_svc_counts_init */
};

/* Start counts for a service (desired = replicas for replicated services),
 * then add every task of the service. */
void mgr_svc_counts_init(struct mgr_svc_counts *c, const MgrService *s);
void mgr_svc_counts_add(struct mgr_svc_counts *c, const MgrService *s, const MgrTask *t);

/* GET /services/{id}: ID, Version, CreatedAt, UpdatedAt, Spec, PreviousSpec
 * (after an update), Endpoint (stored, else {Spec: Spec.EndpointSpec}),
 * UpdateStatus (when a state is set), ServiceStatus (counts != NULL). */
json_t *mgr_json_service(const MgrService *s, const struct mgr_svc_counts *counts);
/* GET /tasks/{id}: ID, Version, CreatedAt, UpdatedAt, Labels{}, Spec,
 * ServiceID, Slot (omitted for global), NodeID (omitted until assigned),
 * Status{Timestamp, State, Message?, Err?, ContainerStatus?, PortStatus},
 * DesiredState, NetworksAttachments (when stored). */
json_t *mgr_json_task(const MgrTask *t);
/* GET /networks/{id} for a swarm-scoped overlay network. */
json_t *mgr_json_network_swarm(const MgrNetwork *n);

/* ---- parsed facts for the orchestrator and the scheduler ------------------ */

enum mgr_restart_condition {
    MGR_RESTART_NONE,
    MGR_RESTART_ON_FAILURE,
    MGR_RESTART_ANY,
};

enum mgr_failure_action {
    MGR_FAILURE_PAUSE,
    MGR_FAILURE_CONTINUE,
    MGR_FAILURE_ROLLBACK,
};

struct mgr_svc_update {
    uint64_t parallelism; /* 0 = all at once */
    int64_t delay_ns;
    int64_t monitor_ns;
    int failure_action; /* enum mgr_failure_action */
    double max_failure_ratio;
    bool start_first; /* Order "start-first" */
};

struct mgr_svc_port_view {
    char protocol[8];   /* tcp | udp | sctp */
    uint32_t published; /* PublishedPort (host mode) */
    uint32_t target;
};

struct mgr_svc_view {
    bool global;
    uint64_t replicas; /* replicated only */
    struct {
        int condition; /* enum mgr_restart_condition */
        int64_t delay_ns;
        int64_t window_ns;     /* 0: none */
        uint64_t max_attempts; /* 0: unlimited */
    } restart;
    struct mgr_svc_update update;
    struct mgr_svc_update rollback;
    char **constraints; /* Placement.Constraints as written */
    size_t n_constraints;
    char **spread_prefs; /* Placement.Preferences[].Spread.SpreadDescriptor */
    size_t n_spread_prefs;
    uint64_t max_replicas; /* Placement.MaxReplicas per node; 0 = no limit */
    int64_t res_nano_cpus; /* Resources.Reservations */
    int64_t res_memory;
    struct mgr_svc_port_view *host_ports; /* EndpointSpec.Ports with PublishMode host */
    size_t n_host_ports;
    int64_t stop_grace_ns;
};

/* Parse a stored (normalized) spec; missing fields get the defaults above.
 * -EINVAL if the text is not a JSON object. Release with mgr_svc_view_free
 * (also after a failure; a zeroed view is fine). */
int mgr_svc_view_parse(const char *spec_json, struct mgr_svc_view *v, struct err *err);
void mgr_svc_view_free(struct mgr_svc_view *v);

/* ---- list filters -------------------------------------------------------- */

/* filters: the object node_parse_filters() builds, key -> array of strings.
 * Values of one key are OR'ed, keys are AND'ed. */

/* GET /services: id (prefix), name (prefix), label ("k" or "k=v"), mode
 * (replicated|global). -EINVAL "invalid filter 'x'" or
 * "Invalid filter: 'mode'='x'". */
int mgr_svc_filter_check(const json_t *filters, struct err *err);
bool mgr_svc_filter_match(const json_t *filters, const MgrService *s);

/* GET /tasks: id (prefix), name (prefix of "<service>.<slot|node>.<id>"),
 * service and node (exact ids: the caller first replaces names and prefixes
 * with ids through the store), desired-state (running|shutdown|accepted),
 * label (matches the SERVICE's labels), _up-to-date (true: task made from the
 * service's current spec version). -EINVAL "invalid filter 'x'" or
 * "Invalid desired-state filter: 'x'". */
int mgr_task_filter_check(const json_t *filters, struct err *err);
/* svc: the task's service (NULL if gone: label and _up-to-date then fail). */
bool mgr_task_filter_match(const json_t *filters, const MgrTask *t, const MgrService *svc);

#endif
