/*
 * manager/dispatcher.h - the leader's side of task assignment: every node's
 * agent session gets the tasks assigned to its node (the whole set when the
 * session starts, then only what changed), and the task status the agents
 * report is written back to the store in batches.
 *
 * Messages (JSON objects, one per frame on the SESSION channel):
 *   leader -> agent  {"t":"tasks", "full":bool, "tasks":[Task...], "removed":[id...]}
 *                    Task is the API's Task object plus "ServiceName"; with
 *                    full=true the list replaces everything the agent had.
 *   agent -> leader  {"t":"status", "updates":[{"ID","State","Message","Err",
 *                    "ContainerID","PID","ExitCode","Timestamp"(ns)}...]}
 * A node may only report tasks assigned to it; anything else is dropped.
 */
#ifndef MANAGER_DISPATCHER_H
#define MANAGER_DISPATCHER_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "manager/orchestrator.h"
#include "manager/store.h"

struct mgr_disp;

/* Send one message to a node's agent (msg borrowed). */
typedef int (*mgr_disp_send_fn)(void *conn, json_t *msg);

struct mgr_disp *mgr_disp_new(uv_loop_t *loop, const struct mgr_store *store,
                              mgr_orch_write_fn write, void *ud);
/* A node's session started on conn (the full set is sent first), or, with
 * send NULL, the session on conn ended (a newer one of the node is kept). */
void mgr_disp_session(struct mgr_disp *d, const char *node_id, void *conn, mgr_disp_send_fn send);
/* Status updates from the agent of node_id (borrowed JSON array). */
void mgr_disp_status(struct mgr_disp *d, const char *node_id, json_t *updates);
/* Send msg (borrowed) on node_id's agent session: 0, or -ENOTCONN when the
 * node has no session with this leader (the send function's error otherwise). */
int mgr_disp_send(struct mgr_disp *d, const char *node_id, json_t *msg);
/* Tasks changed in the store: send the differences soon. */
void mgr_disp_kick(struct mgr_disp *d);
/* Close the timer; pending status updates are dropped (agents resend them to
 * the next leader). Frees d once closed. */
void mgr_disp_close(struct mgr_disp *d);

#endif
