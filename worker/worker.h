/*
 * worker/worker.h - the task agent that runs on every node.
 *
 * The agent executes the tasks the dispatcher assigns to this node through
 * the embedded runtime and reports their observed status. It knows nothing
 * about the transport: the session code hands it assignment messages and
 * gives it a callback for status batches.
 *
 * Assignment message (borrowed JSON, built by the dispatcher):
 *   {"full": bool, "tasks": [T...], "removed": ["id"...]}
 * where T is the API Task object (ID, ServiceID, ServiceName, Slot, NodeID,
 * DesiredState, Spec{ContainerSpec, Resources, LogDriver...}, Status).
 * full=true replaces the whole set: tasks missing from it are dropped.
 *
 * Per task (Docker swarm semantics, tasks are never restarted locally):
 *   desired ready/running: preparing (pull when the image is missing, create
 *     the container "<service>.<slot>.<task id>", or "<service>.<node id>.<task id>"
 *     for global services) -> ready; desired running: starting -> running.
 *     Pull or create failures: rejected. The container exiting: complete
 *     (exit 0) or failed ("task: non-zero exit (N)").
 *   desired shutdown/complete/failed/...: stop with the spec's StopGracePeriod
 *     (default 10 s), report shutdown; the stopped container is kept.
 *   desired remove: as shutdown, then the container is removed.
 *   dropped from the set: stop, remove the container, forget the task.
 * Reported states only move forward; changes are coalesced for about 50 ms
 * and handed to the report callback as one array of
 *   {"ID","State","Message","Err","ContainerID","PID","ExitCode","Timestamp"(ns)}.
 *
 * Reconciliation: wrk_agent_new adopts the containers carrying the label
 * com.docker.swarm.task.id (a shoald restart never kills healthy tasks);
 * until the first full assignment arrives adopted containers are left alone.
 * A full assignment removes the containers of tasks not in it.
 *
 * Threading: everything runs on the loop thread; image pulls run on the
 * libuv thread pool. Free the agent before rt_close(): wrk_agent_free cancels
 * pulls in flight and waits (at most a few seconds) for them to let go of
 * the image store; its handle close completes on the next loop turn.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

struct err;
struct rt;
struct wrk_agent;

struct wrk_opts {
    uv_loop_t *loop;
    struct rt *rt;
    /* for pulls: --insecure-registry entries (borrowed for the agent's life;
     * the registry allow list is global, see rt_reg_set_allowed) */
    const char *const *insecure;
    size_t n_insecure;
    /* HostConfig.NetworkMode of task containers (NULL: the runtime's default) */
    const char *network_mode;
    /* Optional: adjust a task container's Config / HostConfig (network
     * attachments...) just before it is created; a negative return rejects
     * the task with err's message. task is the assignment's Task object. */
    int (*prepare)(void *ud, json_t *task, json_t *config, json_t *host_config, struct err *err);
    void *prepare_ud;
    /* Coalescing window of status reports in ms (0: 50). */
    unsigned report_delay_ms;
};

/* The agent adopts existing task containers at once. */
int wrk_agent_new(const struct wrk_opts *o, struct wrk_agent **ret, struct err *err);
/* NULL is fine. Containers keep running. Call before rt_close(). */
void wrk_agent_free(struct wrk_agent *a);

/* This node's id (copied); "" when not in a swarm. Used for the node label
 * and global task names. */
void wrk_agent_set_node(struct wrk_agent *a, const char *node_id);

/* updates: a borrowed array of status objects (see above). */
typedef void (*wrk_report_cb)(void *ud, json_t *updates);
/* Set (or clear with NULL, while there is no session) the report callback.
 * When set, the current status of every known task is reported soon after. */
void wrk_agent_set_reporter(struct wrk_agent *a, wrk_report_cb cb, void *ud);

/* Apply an assignment message (borrowed). */
void wrk_agent_assign(struct wrk_agent *a, json_t *msg);

/* The node left the swarm: stop and remove every task container (also the
 * ones of tasks the agent does not know) and forget all tasks. */
void wrk_agent_leave(struct wrk_agent *a);

/* Number of tasks the agent currently tracks (tests, info). */
size_t wrk_agent_task_count(const struct wrk_agent *a);

#endif
