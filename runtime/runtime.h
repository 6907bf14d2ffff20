/*
 * runtime/runtime.h - local containers as shoald sees them.
 *
 * The runtime keeps the node's containers: their Docker-shaped
 * configuration (Config and HostConfig JSON objects, stored as received with
 * defaults filled in, so `inspect` shows what the user asked for), their
 * state on disk under <data-root>/containers/<id>/, and one connection per
 * live container to its monitor process (runtime/monitor_proto.h).
 *
 * Containers outlive shoald: rt_open() reconnects to every running
 * container's monitor (live restore) and rt_close() only drops the
 * connections. Everything here runs on the daemon's libuv loop thread;
 * blocking work (directory removal) goes to the thread pool.
 *
 * Ownership: containers are reference counted (rt_container_ref/unref);
 * a removed container stays valid for holders of a reference but is no
 * longer found by name. Callbacks run on the loop thread, once.
 * Errors: 0 or a negative errno value with a message in err:
 *   -ENOENT  "No such container: x" / "No such image: x"
 *   -EEXIST  name conflict (HTTP 409)      -EBUSY   running (HTTP 409)
 *   -EINVAL  bad input (HTTP 400)          ERR_NOT_MODIFIED (HTTP 304)
 */
#ifndef RUNTIME_RUNTIME_H
#define RUNTIME_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "runtime/cgroup.h"
#include "runtime/image.h"

struct err;
struct rt;
struct rt_container;
struct rt_waiter;
struct rt_attach;

/* Docker's default capability set (CapEff 00000000a80425fb). */
#define RT_DEFAULT_CAPS 0xa80425fbULL

struct rt_opts {
    uv_loop_t *loop;
    const char *data_root;     /* images, containers */
    const char *exec_root;     /* monitor sockets */
    const char *cgroup_parent; /* default "shoal" */
    const char *cgroup_root;   /* default "/sys/fs/cgroup" */
};

enum rt_state {
    RT_STATE_CREATED,
    RT_STATE_RUNNING,
    RT_STATE_EXITED,
    RT_STATE_REMOVING,
    RT_STATE_DEAD,
};

enum rt_wait_cond {
    RT_WAIT_NOT_RUNNING, /* now if not running, else at the next exit */
    RT_WAIT_NEXT_EXIT,   /* the next exit after registration */
    RT_WAIT_REMOVED,     /* after removal (exit code of the last run) */
};

enum rt_stream { RT_STDOUT = 1, RT_STDERR = 2 };

/* status: 0 or negative errno; msg: error text or NULL. */
typedef void (*rt_done_cb)(void *arg, int status, const char *msg);
/* exit_code of the container; msg non-NULL if waiting failed. */
typedef void (*rt_wait_cb)(void *arg, int exit_code, const char *msg);
typedef void (*rt_output_cb)(void *arg, enum rt_stream stream, const char *data, size_t len);
/* The container ended (or was removed): no more output. */
typedef void (*rt_end_cb)(void *arg);

int rt_open(const struct rt_opts *opts, struct rt **ret, struct err *err);
/* Drop monitor connections (containers keep running) and free everything. */
void rt_close(struct rt *rt);

struct rt_image_store *rt_images(struct rt *rt);
enum rt_cgroup_mode rt_cgroup_mode(struct rt *rt);
const char *rt_data_root(struct rt *rt);

/* Create from Docker-shaped Config and HostConfig (borrowed; copied).
 * name may be NULL or "" (a name is generated) and may start with '/'. */
int rt_container_create(struct rt *rt, const char *name, json_t *config, json_t *host_config,
                        struct rt_container **ret, struct err *err);

/* Find by full id, name (with or without '/') or unique id prefix.
 * Borrowed pointer (valid until the next loop turn unless ref'd). */
int rt_container_find(struct rt *rt, const char *ref, struct rt_container **ret, struct err *err);
/* All containers, newest first; *ret is a malloc'd array of borrowed pointers. */
int rt_container_list(struct rt *rt, struct rt_container ***ret, size_t *ret_n);

struct rt_container *rt_container_ref(struct rt_container *c);
void rt_container_unref(struct rt_container *c);

const char *rt_container_id(const struct rt_container *c);
const char *rt_container_name(const struct rt_container *c); /* without '/' */
enum rt_state rt_container_state(const struct rt_container *c);
bool rt_container_tty(const struct rt_container *c);
bool rt_container_open_stdin(const struct rt_container *c);
const char *rt_container_log_path(const struct rt_container *c);
int rt_container_exit_code(const struct rt_container *c);
int rt_container_pid(const struct rt_container *c);

/* Docker `GET /containers/{id}/json` and one `GET /containers/json` element.
 * New references. */
json_t *rt_container_inspect(struct rt_container *c);
json_t *rt_container_summary(struct rt_container *c);

/* Start: spawn the monitor, set up, exec. cb gets 0, ERR_NOT_MODIFIED when
 * already running, or an error (the message says why: "exec: ... executable
 * file not found in $PATH"). Returns an error without calling cb if the
 * start cannot begin. */
int rt_container_start(struct rt_container *c, rt_done_cb cb, void *arg, struct err *err);
/* Stop: stop signal, then SIGKILL after timeout_s (< 0: the container's
 * StopTimeout or 10). cb when the container has exited. */
int rt_container_stop(struct rt_container *c, int timeout_s, rt_done_cb cb, void *arg,
                      struct err *err);
int rt_container_kill(struct rt_container *c, int sig, struct err *err);
/* Remove; force kills a running container first. cb after the files are gone. */
int rt_container_remove(struct rt_container *c, bool force, rt_done_cb cb, void *arg,
                        struct err *err);

/* Wait for a condition; the returned handle is valid until cb runs or
 * rt_waiter_cancel() (after which cb never runs). */
struct rt_waiter *rt_container_wait(struct rt_container *c, enum rt_wait_cond cond, rt_wait_cb cb,
                                    void *arg);
void rt_waiter_cancel(struct rt_waiter *w);

/* Receive the container's output from now on (also used as a "log file
 * grew" trigger). on_end runs once when the container exits or is removed.
 * Cancel with rt_attach_close() (then no callback runs any more). */
struct rt_attach *rt_container_attach(struct rt_container *c, rt_output_cb on_output,
                                      rt_end_cb on_end, void *arg);
void rt_attach_close(struct rt_attach *a);
/* Forward stdin (only if the container was created with OpenStdin). */
int rt_attach_stdin(struct rt_attach *a, const void *data, size_t len);
int rt_attach_stdin_eof(struct rt_attach *a);
int rt_container_resize(struct rt_container *c, unsigned rows, unsigned cols, struct err *err);

/* ---- state changes, policies, pause, rename (issue 6) ---------------------- */

/* Reported state changes: action is Docker's event action ("create", "start",
 * "die", "kill", "stop", "destroy", "pause", "unpause", "rename", "oom");
 * attrs are extra Actor attributes as NULL-terminated key, value pairs
 * ({"exitCode", "0", NULL}), or NULL. c is valid for the call. Runs on the
 * loop thread, never from inside an rt_* call of the registering module's
 * own request handling that could re-enter it in a harmful way (it may call
 * the rt_container_* accessors). */
typedef void (*rt_event_cb)(void *arg, struct rt_container *c, const char *action,
                            const char *const *attrs);
/* Register the one event callback (NULL to remove). */
void rt_set_event_cb(struct rt *rt, rt_event_cb cb, void *arg);

bool rt_container_paused(const struct rt_container *c);
/* Waiting for the restart policy's back-off (State.Restarting). */
bool rt_container_restarting(const struct rt_container *c);
int rt_container_restart_count(const struct rt_container *c);
int64_t rt_container_created_ns(const struct rt_container *c);
int64_t rt_container_finished_ns(const struct rt_container *c);
/* Config.Image as the user wrote it ("bb:latest"). */
const char *rt_container_image(const struct rt_container *c);
/* Config.Labels (borrowed object, may be NULL). */
json_t *rt_container_labels(const struct rt_container *c);
/* Host path of the container's writable layer (<dir>/upper). */
const char *rt_container_upper_dir(const struct rt_container *c, char *out, size_t outlen);
/* The container's cgroup path below the hierarchy roots ("shoal/<id>") and
 * the runtime's cgroup root ("/sys/fs/cgroup"). */
const char *rt_container_cgroup(const struct rt_container *c, char *out, size_t outlen);
const char *rt_cgroup_root(struct rt *rt);

/* Freeze / thaw all processes of a running container (cgroup freezer).
 * -EBUSY (409) when not running, already paused / not paused. A paused
 * container that is stopped or killed gets the signal and is thawed. */
int rt_container_pause(struct rt_container *c, struct err *err);
int rt_container_unpause(struct rt_container *c, struct err *err);
/* New name (with or without '/'); -EEXIST if taken, -EINVAL if invalid. */
int rt_container_rename(struct rt_container *c, const char *name, struct err *err);

/* The json-file log and its rotated files, oldest first (<log>.N ... <log>.1,
 * <log>); only the files that exist. *ret is a malloc'd NULL-terminated array
 * of malloc'd strings: free with rt_strv_free. */
int rt_container_log_files(const struct rt_container *c, char ***ret, size_t *ret_n);
void rt_strv_free(char **v);

/* ---- health checks (runtime/health.c) -------------------------------------- */

#define RT_HEALTH_DEFAULT_INTERVAL_MS 30000
#define RT_HEALTH_DEFAULT_TIMEOUT_MS  30000
#define RT_HEALTH_DEFAULT_RETRIES     3
#define RT_HEALTH_LOG_MAX             5
#define RT_HEALTH_OUTPUT_MAX          4096

enum rt_health_status {
    RT_HEALTH_NONE,
    RT_HEALTH_STARTING,
    RT_HEALTH_HEALTHY,
    RT_HEALTH_UNHEALTHY
};

struct rt_health_cfg {
    bool enabled; /* a CMD or CMD-SHELL test (not NONE, not empty) */
    int64_t interval_ms, timeout_ms, start_period_ms;
    int retries;
};

struct rt_health_state {
    enum rt_health_status status;
    int failing; /* FailingStreak */
};

/* Parse a Docker Healthcheck object (Test, Interval/Timeout/StartPeriod in ns,
 * Retries; defaults 30 s / 30 s / 0 / 3). *ret_test (may be NULL) gets the
 * probe's argv for CMD / CMD-SHELL (["/bin/sh","-c",x]). -EINVAL on bad input. */
int rt_health_parse(json_t *hc, struct rt_health_cfg *cfg, json_t **ret_test, struct err *err);
/* One probe result: dockerd's state machine (success -> healthy, streak 0;
 * failures inside the start period while starting are ignored; Retries
 * consecutive failures -> unhealthy). since_start_ms: probe start - container start. */
void rt_health_apply(struct rt_health_state *st, const struct rt_health_cfg *cfg, int exit_code,
                     int64_t since_start_ms);
const char *rt_health_status_name(enum rt_health_status s);
/* Start (again: state reset to "starting") or stop a container's checks; the
 * runtime calls these on start / exit. */
void rt_health_start(struct rt_container *c);
void rt_health_stop(struct rt_container *c);
void rt_health_stop_all(struct rt *rt);
/* Keep / drop the last State.Health of a stopped container (health is NULL or a
 * new reference the function takes). */
void rt_health_keep_last(const struct rt_container *c, json_t *health);
void rt_health_forget(const struct rt_container *c);
/* State.Health (new reference) or NULL when the container has no check. */
json_t *rt_health_inspect(const struct rt_container *c);
/* Current status of a running container's check (RT_HEALTH_NONE without). */
enum rt_health_status rt_health_get(const struct rt_container *c);

/* Counts for /info. */
void rt_counts(struct rt *rt, size_t *total, size_t *running, size_t *paused, size_t *stopped);

/* Capability names ("NET_ADMIN", "CAP_NET_ADMIN", "ALL") -> bit mask. */
int rt_cap_parse(const char *name, uint64_t *ret_mask);
/* Docker status text: "Up 5 seconds", "Exited (0) 3 seconds ago", "Created". */
void rt_status_text(enum rt_state st, int exit_code, int64_t started_ns, int64_t finished_ns,
                    int64_t now_ns, char *out, size_t outlen);
/* Display form of a command: args joined by spaces, shell-quoted when needed. */
char *rt_command_display(json_t *args_array);

/* Network hooks (set by the node layer, implemented by overlaynet users):
 * prepare runs before a container's monitor is spawned and may return the
 * path of a network namespace the container must join (e.g.
 * /run/shoal/netns/<id>); an empty path keeps the runtime's own choice
 * (none: fresh namespace with lo; host). release runs after the container
 * exited (removed=false) and again when it is removed (removed=true).
 * Both run on the loop thread; prepare must not block for long. */
struct rt_net_hooks {
    int (*prepare)(void *arg, struct rt_container *c, char *netns_path, size_t len,
                   struct err *err);
    void (*release)(void *arg, struct rt_container *c, bool removed);
    /* Validate HostConfig.NetworkMode / PortBindings / NetworkingConfig at
     * create; 0 to accept, -ENOENT "network X not found", -EINVAL ... */
    int (*validate)(void *arg, json_t *config, json_t *host_config, json_t *networking,
                    struct err *err);
    void *arg;
};
void rt_set_net_hooks(struct rt *rt, const struct rt_net_hooks *hooks);

#endif
