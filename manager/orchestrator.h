/*
 * manager/orchestrator.h - the leader's controllers for services: replicated
 * and global orchestration, restart policies, rolling updates and rollbacks,
 * task history, removal of tasks of deleted services, and placement of new
 * tasks through the scheduler.
 *
 * The controllers hold almost no state of their own: every decision is made
 * from the store by mgr_orch_plan(), which looks at all services and tasks
 * and returns at most one command (a TaskBatch holding every task change of
 * the pass, or one ServiceSetUpdateStatus). The caller writes it through raft
 * and plans again once it is applied, so a pass never works on a store that
 * lacks its own previous writes and never creates a task twice. A new leader
 * therefore rebuilds everything from the store; the only memory kept across
 * passes (struct mgr_orch_mem) is the pacing of rolling updates, which a new
 * leader restarts from "now".
 *
 *     leader:  store watch / timer -> mgr_orch_plan() -> write -> applied -> plan ...
 */
#ifndef MANAGER_ORCHESTRATOR_H
#define MANAGER_ORCHESTRATOR_H

#include <stdint.h>
#include <uv.h>

#include "lib/err.h"

#include "manager/store.h"

struct mgr_orch_mem;

struct mgr_orch_mem *mgr_orch_mem_new(void);
void mgr_orch_mem_free(struct mgr_orch_mem *m);

/* A planned command and the memory behind it. */
struct mgr_orch_cmd {
    MgrCommand cmd;
    void *arena; /* owned */
};
void mgr_orch_cmd_free(struct mgr_orch_cmd *c);

/* One reconcile pass at time now_ns (wall clock, ns). Returns 1 with *ret
 * set (free with mgr_orch_cmd_free) when there is something to write, 0 when
 * the store is as it should be, or a negative errno. *ret_wake_ns gets the
 * earliest future time a pass has something to do (a restart delay, an update
 * delay), or 0 when nothing is waiting. */
int mgr_orch_plan(const struct mgr_store *s, struct mgr_orch_mem *m, int64_t now_ns,
                  struct mgr_orch_cmd **ret, int64_t *ret_wake_ns, struct err *err);

/* ---- the running controller on a leader's loop ------------------------------------ */

typedef void (*mgr_orch_done_cb)(void *data, int status, const struct err *err);
/* Write one command through raft; done runs once it is applied (or failed).
 * Returns < 0 when done will not run. */
typedef int (*mgr_orch_write_fn)(void *ud, MgrCommand *cmd, mgr_orch_done_cb done, void *data,
                                 struct err *err);

struct mgr_orch;

struct mgr_orch *mgr_orch_new(uv_loop_t *loop, const struct mgr_store *store,
                              mgr_orch_write_fn write, void *ud);
/* Start (this manager leads and its store is current) or stop. */
void mgr_orch_set_active(struct mgr_orch *o, bool active);
/* Something in the store changed: plan again soon. */
void mgr_orch_kick(struct mgr_orch *o);
/* Close the timers; the object is freed once they are closed. */
void mgr_orch_close(struct mgr_orch *o);

#endif
