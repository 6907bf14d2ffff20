/*
 * runtime/internal.h - what the runtime's own files share. Not public.
 */
#ifndef RUNTIME_INTERNAL_H
#define RUNTIME_INTERNAL_H

#include "lib/buf.h"

#include "proto/runtime.pb-c.h"
#include "runtime/monitor_proto.h"
#include "runtime/runtime.h"

struct rt_seccomp_entry {
    uint64_t mask;
    void *bpf;
    size_t len;
};

struct rt {
    uv_loop_t *loop;
    char *data_root;
    char *exec_root;
    char *cgroup_parent;
    char *cgroup_root;
    enum rt_cgroup_mode cg_mode;
    struct rt_image_store *images;
    int monitor_fd; /* sealed memfd holding shoal-monitor */
    struct rt_container *head;
    size_t n_containers;
    struct rt_seccomp_entry seccomp[8];
    size_t n_seccomp;
    bool closing;
    rt_event_cb event_cb;
    void *event_arg;
    struct rt_net_hooks net_hooks; /* set by the node layer; all NULL: none */
};

struct mon_conn;
struct mon_spawn;
struct rt_stop_op;

struct rt_waiter {
    struct rt_waiter *next, *prev;
    struct rt_container *c;
    enum rt_wait_cond cond;
    rt_wait_cb cb;
    void *arg;
};

struct rt_attach {
    struct rt_attach *next, *prev;
    struct rt_container *c;
    rt_output_cb on_output;
    rt_end_cb on_end;
    void *arg;
};

struct rt_container {
    struct rt *rt;
    struct rt_container *prev, *next; /* in rt->head while findable */
    int refs;
    char id[65];
    char *name;
    json_t *config;
    json_t *host_config;
    char image_id[72];
    int64_t created_ns;
    int64_t started_ns;
    int64_t finished_ns;
    enum rt_state state;
    int pid;
    int exit_code;
    bool oom_killed;
    char *error;
    int restart_count;
    char *dir;       /* <data-root>/containers/<id> */
    char *state_dir; /* <exec-root>/<id> */

    struct mon_conn *conn;   /* live monitor connection */
    struct mon_spawn *spawn; /* start in progress */
    bool starting;
    rt_done_cb start_cb;
    void *start_arg;

    struct rt_waiter waiters; /* list heads (sentinels) */
    struct rt_attach attaches;
    struct rt_stop_op *stops;
    rt_done_cb remove_cb;
    void *remove_arg;
    bool remove_after_exit;

    /* stdin that arrived before the monitor connection (docker run -i sends
     * it right after attach, before start) */
    json_t *networking;   /* NetworkingConfig of the create request (aliases...) */
    char netns_path[256]; /* from net_hooks.prepare for the current run */
    bool net_prepared;
    struct buf stdin_pending;
    bool stdin_eof_pending;

    /* restart policy and pause (issue 6) */
    bool paused;
    bool restarting;           /* waiting for the back-off timer */
    bool manual_stop;          /* Docker's HasBeenManuallyStopped */
    uv_timer_t *restart_timer; /* while restarting; holds a reference */
    uint64_t restart_delay_ms; /* last back-off */
};

/* container.c */
int rt__container_save(struct rt_container *c);
void rt__container_exited(struct rt_container *c, int exit_code, bool oom, const char *error);
void rt__container_output(struct rt_container *c, enum rt_stream s, const char *data, size_t len);
void rt__container_started(struct rt_container *c, int pid);
void rt__container_start_failed(struct rt_container *c, int code, const char *msg);
/* Report a state change to the registered event callback. */
void rt__event(struct rt_container *c, const char *action, const char *const *attrs);
/* Send stdin kept while the monitor was not connected yet. */
void rt__container_flush_stdin(struct rt_container *c);

/* monclient.c */
int rt__monitor_start(struct rt_container *c, struct err *err);
void rt__monitor_reconnect(struct rt_container *c);
int rt__monitor_send(struct rt_container *c, uint8_t type, const void *payload, size_t len);
/* A monitor connection is up (messages can be sent now). */
bool rt__monitor_ready(struct rt_container *c);
void rt__monitor_detach(struct rt_container *c); /* drop the connection, keep the container */
/* Read <dir>/exit.pb; 0 and fills the fields, or -ENOENT. */
int rt__read_exit(struct rt_container *c, int *ret_code, bool *ret_oom, int64_t *ret_finished,
                  char **ret_error);

/* spec.c */
int rt__build_spec(struct rt_container *c, const struct rt_image *img, struct buf *out,
                   struct err *err);
const void *rt__seccomp_for(struct rt *rt, uint64_t mask, size_t *ret_len, struct err *err);

#endif
