/*
 * runtime/exec.h - docker exec: processes started inside a running container.
 *
 * An exec is created from the Docker ExecConfig (POST /containers/{id}/exec)
 * and kept in memory under a 64-hex id; starting it opens a connection of its
 * own to the container's monitor and sends MON_C_EXEC (runtime/monitor_proto.h).
 * The monitor runs the process with the container's namespaces, cgroup and
 * security; its output, start result and exit code come back on that
 * connection. Finished execs are forgotten after RT_EXEC_KEEP_S seconds, and
 * at most RT_EXEC_MAX records are kept (the oldest finished ones go first),
 * so memory stays bounded.
 *
 * Everything runs on the daemon's loop thread. Records are owned by the
 * runtime; pointers returned here are borrowed and stay valid at least until
 * the next loop turn, and for as long as handlers are attached (a running
 * exec is never freed).
 * Errors: -ENOENT (404) "No such exec instance: x" / "No such container: x",
 * -EBUSY (409) "Container <id> is not running", -EEXIST (409) exec already
 * started, -EINVAL (400) bad config.
 */
#ifndef RUNTIME_EXEC_H
#define RUNTIME_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/runtime.h"

#define RT_EXEC_KEEP_S 300
#define RT_EXEC_MAX    1024

struct rt_exec;

/* What the starter of an exec hears about it; any member may be NULL. */
struct rt_exec_handlers {
    /* the process runs (pid is its host pid) */
    void (*on_started)(void *arg, int pid);
    /* it could not be started; msg is Docker's "OCI runtime exec failed: ..." */
    void (*on_error)(void *arg, const char *msg);
    void (*on_output)(void *arg, enum rt_stream stream, const char *data, size_t len);
    /* the end, after every output callback; exit code as in inspect */
    void (*on_exit)(void *arg, int exit_code);
};

/* Create an exec for a running container from a Docker ExecConfig JSON object
 * (Cmd, Env, User, WorkingDir, Tty, AttachStdin/Stdout/Stderr, Privileged,
 * DetachKeys). */
int rt_exec_create(struct rt_container *c, json_t *config, struct rt_exec **ret, struct err *err);
/* Find by full id. */
int rt_exec_find(struct rt *rt, const char *id, struct rt_exec **ret, struct err *err);

const char *rt_exec_id(const struct rt_exec *x);
bool rt_exec_tty(const struct rt_exec *x);
bool rt_exec_attach_stdin(const struct rt_exec *x);
bool rt_exec_attach_stdout(const struct rt_exec *x);
bool rt_exec_attach_stderr(const struct rt_exec *x);
const char *rt_exec_detach_keys(const struct rt_exec *x);
bool rt_exec_running(const struct rt_exec *x);

/* GET /exec/{id}/json. New reference. */
json_t *rt_exec_inspect(const struct rt_exec *x);

/* Start it; h (copied) and arg receive the events until rt_exec_detach().
 * An interactive tty exec (Tty and AttachStdin) waits up to 300 ms for its
 * first resize so that the program starts with the client's window size. */
int rt_exec_start(struct rt_exec *x, const struct rt_exec_handlers *h, void *arg, struct err *err);
/* The starter goes away: no more callbacks; the process keeps running (its
 * stdin is closed unless it has a tty) and its exit code is still recorded. */
void rt_exec_detach(struct rt_exec *x);
int rt_exec_stdin(struct rt_exec *x, const void *data, size_t len);
int rt_exec_stdin_eof(struct rt_exec *x);
/* POST /exec/{id}/resize; before the start the size is kept for it. */
int rt_exec_resize(struct rt_exec *x, unsigned rows, unsigned cols, struct err *err);

/* Number of exec records held (for tests and debugging). */
size_t rt_exec_count(void);

/* GET /containers/{id}/top: ps -ef style table of the processes in the
 * container's PID namespace. New reference: {"Titles":[..],"Processes":[[..]..]}. */
int rt_container_top(struct rt_container *c, json_t **ret, struct err *err);

#endif
