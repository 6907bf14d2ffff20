/*
 * worker/worker.c - the task agent: assignments in, containers run through
 * the embedded runtime, task status out (see worker.h for the semantics).
 *
 * Every task is a small level-triggered state machine: task_step() compares
 * the desired state with what the container is doing and starts the next
 * asynchronous operation (pull, start, stop, remove). Completions and
 * container exits never act directly: they record what happened and "kick"
 * the task, and the kick timer runs task_step() on a clean stack, outside
 * the runtime's own callbacks.
 *
 * Tasks are reference counted: the agent's list holds one reference, every
 * runtime operation in flight one more, so a callback arriving after the
 * task was forgotten (or the agent freed) finds valid memory with t->a NULL.
 */
#define LOG_MODULE "wrk"

#include "worker/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/macros.h"
#include "lib/util.h"

#include "runtime/registry.h"
#include "runtime/runtime.h"

#define LABEL_TASK_ID      "com.docker.swarm.task.id"
#define LABEL_TASK_NAME    "com.docker.swarm.task.name"
#define LABEL_TASK         "com.docker.swarm.task"
#define LABEL_SERVICE_ID   "com.docker.swarm.service.id"
#define LABEL_SERVICE_NAME "com.docker.swarm.service.name"
#define LABEL_NODE_ID      "com.docker.swarm.node.id"

#define DEFAULT_REPORT_DELAY_MS 50
#define DEFAULT_STOP_GRACE_S    10
#define PULL_CANCEL_WAIT_S      10

/* Docker's TaskState order. */
enum wrk_state {
    WS_NEW,
    WS_ALLOCATED,
    WS_PENDING,
    WS_ASSIGNED,
    WS_ACCEPTED,
    WS_PREPARING,
    WS_READY,
    WS_STARTING,
    WS_RUNNING,
    WS_COMPLETE,
    WS_SHUTDOWN,
    WS_FAILED,
    WS_REJECTED,
    WS_REMOVE,
    WS_ORPHANED,
    WS_N_STATES,
};

static const char *const state_names[WS_N_STATES] = {
    "new",     "allocated", "pending",  "assigned", "accepted", "preparing", "ready",    "starting",
    "running", "complete",  "shutdown", "failed",   "rejected", "remove",    "orphaned",
};

static int state_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < WS_N_STATES; i++) {
        if (strcmp(s, state_names[i]) == 0)
            return i;
    }
    return -1;
}

struct pull_job;

struct task {
    struct task *next, *prev;
    struct wrk_agent *a; /* NULL once forgotten */
    int refs;
    char *id;
    json_t *json; /* the latest Task object (NULL for adopted-only tasks) */
    int desired;
    int state; /* observed, as last set (reported when dirty) */
    char *msg;
    char *errmsg;
    int64_t ts;
    int exit_code;
    int pid;
    struct rt_container *c; /* referenced */
    char cid[72];
    struct rt_waiter *waiter;
    struct pull_job *pull; /* waiting for this pull */
    char *pull_err;        /* the pull failed: reject with this */
    bool known;            /* named by an assignment (else adopted, left alone) */
    bool dropped;          /* not in the set any more: remove, then forget */
    bool dirty;            /* status not reported yet */
    bool kicked;           /* task_step pending */
    bool busy;             /* a runtime operation is in flight */
    bool stop_requested;   /* the exit is ours: shutdown, not complete/failed */
    bool stop_failed;
    unsigned gen; /* assignment generation that last named it */
};

struct pull_job {
    struct pull_job *next;
    uv_work_t work;
    struct wrk_agent *a; /* NULL once the agent is freed */
    char *ref;
    struct rt_image_store *store;
    char data_root[4000];
    char tmp_dir[4096];
    struct rt_reg_auth auth;
    struct rt_reg_opts opts;
    volatile bool cancel;
    bool finished; /* the pool thread let go (under g_pull_lock) */
    int r;
    struct err err;
    struct rt_pull_result result;
};

struct wrk_agent {
    uv_loop_t *loop;
    struct rt *rt;
    const char *const *insecure;
    size_t n_insecure;
    char *network_mode;
    int (*prepare)(void *ud, json_t *task, json_t *config, json_t *host_config, struct err *err);
    void *prepare_ud;
    unsigned report_delay_ms;
    char *node_id;

    struct task head; /* list sentinel */
    size_t n_tasks;
    struct pull_job *pulls;
    unsigned gen;

    uv_timer_t kick_timer;
    uv_timer_t report_timer;
    int closing; /* handles still to close */
    bool freed;

    wrk_report_cb report_cb;
    void *report_ud;
};

static pthread_mutex_t g_pull_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pull_cond = PTHREAD_COND_INITIALIZER;

static void task_step(struct task *t);

/* ---- tasks ------------------------------------------------------------------------------ */

static struct task *task_ref(struct task *t)
{
    t->refs++;
    return t;
}

static void task_unref(struct task *t)
{
    if (!t || --t->refs > 0)
        return;
    if (t->waiter)
        rt_waiter_cancel(t->waiter);
    rt_container_unref(t->c);
    json_decref(t->json);
    free(t->id);
    free(t->msg);
    free(t->errmsg);
    free(t->pull_err);
    free(t);
}

static struct task *task_find(struct wrk_agent *a, const char *id)
{
    for (struct task *t = a->head.next; t != &a->head; t = t->next) {
        if (strcmp(t->id, id) == 0)
            return t;
    }
    return NULL;
}

static struct task *task_new(struct wrk_agent *a, const char *id)
{
    struct task *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->id = strdup(id);
    if (!t->id) {
        free(t);
        return NULL;
    }
    t->a = a;
    t->refs = 1;
    t->state = WS_ASSIGNED;
    t->desired = WS_ASSIGNED;
    t->next = &a->head;
    t->prev = a->head.prev;
    a->head.prev->next = t;
    a->head.prev = t;
    a->n_tasks++;
    return t;
}

/* Forget a task: off the list, no more callbacks act on it. */
static void task_forget(struct task *t)
{
    struct wrk_agent *a = t->a;

    if (!a)
        return;
    log_debug("forgetting task %s", t->id);
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
    a->n_tasks--;
    t->a = NULL;
    if (t->waiter) {
        rt_waiter_cancel(t->waiter);
        t->waiter = NULL;
    }
    task_unref(t);
}

static void set_container(struct task *t, struct rt_container *c)
{
    if (t->c == c)
        return;
    if (t->waiter) {
        rt_waiter_cancel(t->waiter);
        t->waiter = NULL;
    }
    rt_container_unref(t->c);
    t->c = c ? rt_container_ref(c) : NULL;
    if (c)
        (void)snprintf(t->cid, sizeof(t->cid), "%s", rt_container_id(c));
}

static void replace_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s && *s ? strdup(s) : NULL;
}

static void report_schedule(struct wrk_agent *a);

/* Move the observed state forward (never back); true if it moved. */
static bool set_state(struct task *t, int st, const char *msg, const char *errmsg)
{
    if (st <= t->state)
        return false;
    log_debug("task %s: %s -> %s%s%s", t->id, state_names[t->state], state_names[st],
              errmsg ? ": " : "", errmsg ? errmsg : "");
    t->state = st;
    replace_str(&t->msg, msg);
    if (errmsg)
        replace_str(&t->errmsg, errmsg);
    t->ts = time_now_ns();
    t->dirty = true;
    if (t->a)
        report_schedule(t->a);
    return true;
}

static void kick_cb(uv_timer_t *timer);

static void task_kick(struct task *t)
{
    struct wrk_agent *a = t->a;

    if (!a || a->freed)
        return;
    t->kicked = true;
    if (!uv_is_active((uv_handle_t *)&a->kick_timer))
        uv_timer_start(&a->kick_timer, kick_cb, 0, 0);
}

static void kick_cb(uv_timer_t *timer)
{
    struct wrk_agent *a = timer->data;

    /* One pass; a task kicked again meanwhile re-arms the timer. A step
     * forgets at most the task it runs on. */
    for (struct task *t = a->head.next, *n; t != &a->head; t = n) {
        n = t->next;
        if (!t->kicked)
            continue;
        t->kicked = false;
        task_step(t);
    }
}

/* ---- status reports ---------------------------------------------------------------------- */

static json_t *task_status_json(const struct task *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "ID", t->id, "State",
                     state_names[t->state], "Message", t->msg ? t->msg : "", "Err",
                     t->errmsg ? t->errmsg : "", "ContainerID", t->cid, "PID", t->pid, "ExitCode",
                     t->exit_code, "Timestamp", (json_int_t)t->ts);
}

static void report_flush(struct wrk_agent *a)
{
    json_t *arr;

    if (!a->report_cb)
        return; /* everything is reported when a reporter is set */
    arr = json_array();
    if (!arr)
        return;
    for (struct task *t = a->head.next; t != &a->head; t = t->next) {
        if (!t->dirty || t->dropped)
            continue;
        t->dirty = false;
        json_array_append_new(arr, task_status_json(t));
    }
    if (json_array_size(arr) > 0)
        a->report_cb(a->report_ud, arr);
    json_decref(arr);
}

static void report_timer_cb(uv_timer_t *timer)
{
    report_flush(timer->data);
}

static void report_schedule(struct wrk_agent *a)
{
    if (a->freed || !a->report_cb || uv_is_active((uv_handle_t *)&a->report_timer))
        return;
    uv_timer_start(&a->report_timer, report_timer_cb, a->report_delay_ms, 0);
}

/* ---- container config ------------------------------------------------------------------- */

static const char *task_str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static json_t *container_spec(const struct task *t)
{
    return json_object_get(json_object_get(t->json, "Spec"), "ContainerSpec");
}

static const char *service_name(const struct task *t)
{
    const char *s = task_str(t->json, "ServiceName");

    if (!s || !*s)
        s = task_str(json_object_get(t->json, "ServiceAnnotations"), "Name");
    if (!s || !*s)
        s = task_str(t->json, "ServiceID");
    return s && *s ? s : "task";
}

static json_int_t task_slot(const struct task *t)
{
    return json_integer_value(json_object_get(t->json, "Slot"));
}

static const char *task_node(const struct task *t)
{
    const char *n = task_str(t->json, "NodeID");

    return n && *n ? n : t->a->node_id;
}

/* "<service>.<slot>.<id>", or "<service>.<node>.<id>" for global tasks. */
static void task_name(const struct task *t, char *out, size_t len)
{
    json_int_t slot = task_slot(t);

    if (slot > 0)
        (void)snprintf(out, len, "%s.%lld.%s", service_name(t), (long long)slot, t->id);
    else
        (void)snprintf(out, len, "%s.%s.%s", service_name(t), task_node(t), t->id);
}

/* Expand the Go-template placeholders swarm supports in Hostname and Env
 * ({{.Service.Name}}, {{.Task.Slot}}, {{.Node.ID}}...); others stay as is. */
static char *expand_template(const struct task *t, const char *in)
{
    char tname[1024];
    char slot[32];
    struct {
        const char *key;
        const char *val;
    } vars[] = {
        {".Service.ID", task_str(t->json, "ServiceID")},
        {".Service.Name", service_name(t)},
        {".Task.ID", t->id},
        {".Task.Name", tname},
        {".Task.Slot", slot},
        {".Node.ID", task_node(t)},
    };
    size_t cap = strlen(in) + 1;
    char *out;
    size_t n = 0;
    const char *p = in;

    task_name(t, tname, sizeof(tname));
    if (task_slot(t) > 0)
        (void)snprintf(slot, sizeof(slot), "%lld", (long long)task_slot(t));
    else
        (void)snprintf(slot, sizeof(slot), "%s", task_node(t));
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        if (!vars[i].val)
            vars[i].val = "";
        cap += strlen(vars[i].val) * 8; /* generous; checked below */
    }
    out = malloc(cap);
    if (!out)
        return NULL;
    while (*p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open, "}}") : NULL;
        if (!open || !close) {
            size_t l = strlen(p);
            memcpy(out + n, p, l);
            n += l;
            break;
        }
        memcpy(out + n, p, (size_t)(open - p));
        n += (size_t)(open - p);
        const char *k = open + 2;
        const char *ke = close;
        while (k < ke && *k == ' ')
            k++;
        while (ke > k && ke[-1] == ' ')
            ke--;
        const char *val = NULL;
        for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
            if ((size_t)(ke - k) == strlen(vars[i].key) && memcmp(k, vars[i].key, ke - k) == 0)
                val = vars[i].val;
        }
        if (!val) { /* unknown: keep the text */
            size_t l = (size_t)(close + 2 - open);
            memcpy(out + n, open, l);
            n += l;
        } else {
            size_t l = strlen(val);
            if (n + l + strlen(close + 2) + 1 > cap) {
                char *bigger = realloc(out, cap = n + l + strlen(close + 2) + 1 + cap);
                if (!bigger) {
                    free(out);
                    return NULL;
                }
                out = bigger;
            }
            memcpy(out + n, val, l);
            n += l;
        }
        p = close + 2;
    }
    out[n] = '\0';
    return out;
}

static void copy_key(json_t *dst, const char *dkey, json_t *src, const char *skey)
{
    json_t *v = json_object_get(src, skey);

    if (v && !json_is_null(v))
        json_object_set(dst, dkey, v);
}

/* Seconds for rt_container_stop from StopGracePeriod (ns), rounded up. */
static int grace_seconds(json_t *cs)
{
    json_t *g = json_object_get(cs, "StopGracePeriod");
    json_int_t ns;

    if (!json_is_integer(g))
        return DEFAULT_STOP_GRACE_S;
    ns = json_integer_value(g);
    if (ns <= 0)
        return 0;
    if (ns > (json_int_t)3600 * 1000000000LL)
        return 3600;
    return (int)((ns + 999999999LL) / 1000000000LL);
}

/* ContainerSpec (+ Resources, LogDriver) -> Docker container Config/HostConfig. */
static int build_config(struct task *t, const char *image, json_t **ret_cfg, json_t **ret_hc,
                        struct err *err)
{
    json_t *spec = json_object_get(t->json, "Spec");
    json_t *cs = container_spec(t);
    json_t *cfg = json_object();
    json_t *hc = json_object();
    json_t *labels = json_object();
    json_t *v;
    size_t i;
    char tname[1024];

    if (!cfg || !hc || !labels) {
        json_decref(cfg);
        json_decref(hc);
        json_decref(labels);
        return err_set(err, -ENOMEM, "out of memory");
    }
    json_object_set_new(cfg, "Image", json_string(image));
    /* Command replaces the entrypoint, Args the command (docker's mapping). */
    v = json_object_get(cs, "Command");
    if (json_is_array(v) && json_array_size(v) > 0)
        json_object_set(cfg, "Entrypoint", v);
    v = json_object_get(cs, "Args");
    if (json_is_array(v) && json_array_size(v) > 0)
        json_object_set(cfg, "Cmd", v);
    v = json_object_get(cs, "Env");
    if (json_is_array(v)) {
        json_t *env = json_array();
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char *x = json_is_string(e) ? expand_template(t, json_string_value(e)) : NULL;
            if (x)
                json_array_append_new(env, json_string(x));
            free(x);
        }
        json_object_set_new(cfg, "Env", env);
    }
    copy_key(cfg, "WorkingDir", cs, "Dir");
    copy_key(cfg, "User", cs, "User");
    if (task_str(cs, "Hostname") && *task_str(cs, "Hostname")) {
        char *h = expand_template(t, task_str(cs, "Hostname"));
        if (h)
            json_object_set_new(cfg, "Hostname", json_string(h));
        free(h);
    }
    copy_key(cfg, "StopSignal", cs, "StopSignal");
    json_object_set_new(cfg, "StopTimeout", json_integer(grace_seconds(cs)));
    copy_key(cfg, "Healthcheck", cs, "Healthcheck");
    copy_key(cfg, "Tty", cs, "TTY");
    copy_key(cfg, "OpenStdin", cs, "OpenStdin");

    if (json_is_object(json_object_get(cs, "Labels")))
        json_object_update(labels, json_object_get(cs, "Labels"));
    task_name(t, tname, sizeof(tname));
    json_object_set_new(labels, LABEL_TASK, json_string(""));
    json_object_set_new(labels, LABEL_TASK_ID, json_string(t->id));
    json_object_set_new(labels, LABEL_TASK_NAME, json_string(tname));
    json_object_set_new(labels, LABEL_SERVICE_ID,
                        json_string(task_str(t->json, "ServiceID") ?: ""));
    json_object_set_new(labels, LABEL_SERVICE_NAME, json_string(service_name(t)));
    json_object_set_new(labels, LABEL_NODE_ID, json_string(task_node(t)));
    json_object_set_new(cfg, "Labels", labels);

    /* The orchestrator replaces tasks: containers are never restarted here. */
    json_object_set_new(hc, "RestartPolicy",
                        json_pack("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0));
    if (t->a->network_mode)
        json_object_set_new(hc, "NetworkMode", json_string(t->a->network_mode));
    copy_key(hc, "Init", cs, "Init");
    copy_key(hc, "ReadonlyRootfs", cs, "ReadOnly");
    copy_key(hc, "CapAdd", cs, "CapabilityAdd");
    copy_key(hc, "CapDrop", cs, "CapabilityDrop");
    copy_key(hc, "Ulimits", cs, "Ulimits");
    v = json_object_get(cs, "Mounts");
    if (json_is_array(v) && json_array_size(v) > 0)
        json_object_set(hc, "Mounts", v);
    json_t *lim = json_object_get(json_object_get(spec, "Resources"), "Limits");
    if (json_integer_value(json_object_get(lim, "NanoCPUs")) > 0)
        copy_key(hc, "NanoCpus", lim, "NanoCPUs");
    if (json_integer_value(json_object_get(lim, "MemoryBytes")) > 0)
        copy_key(hc, "Memory", lim, "MemoryBytes");
    if (json_integer_value(json_object_get(lim, "Pids")) > 0)
        copy_key(hc, "PidsLimit", lim, "Pids");
    /* host-mode published ports (the routing mesh for ingress ports is not
     * built: those are not published on the node) */
    json_t *ep = json_object_get(t->json, "Endpoint");
    json_t *ports = json_object_get(ep, "Ports");
    if (!json_is_array(ports))
        ports = json_object_get(json_object_get(ep, "Spec"), "Ports");
    json_array_foreach(ports, i, v)
    {
        const char *mode = task_str(v, "PublishMode");
        const char *proto = task_str(v, "Protocol");
        json_int_t target = json_integer_value(json_object_get(v, "TargetPort"));
        json_int_t pub = json_integer_value(json_object_get(v, "PublishedPort"));
        char key[32], hp[16];
        if (!mode || strcmp(mode, "host") != 0 || target <= 0 || target > 65535 || pub < 0 ||
            pub > 65535)
            continue;
        (void)snprintf(key, sizeof(key), "%d/%s", (int)target, proto && *proto ? proto : "tcp");
        (void)snprintf(hp, sizeof(hp), "%d", (int)pub);
        json_t *exp = json_object_get(cfg, "ExposedPorts");
        if (!exp) {
            exp = json_object();
            json_object_set_new(cfg, "ExposedPorts", exp);
        }
        json_object_set_new(exp, key, json_object());
        json_t *pb = json_object_get(hc, "PortBindings");
        if (!pb) {
            pb = json_object();
            json_object_set_new(hc, "PortBindings", pb);
        }
        json_t *list = json_object_get(pb, key);
        if (!list) {
            list = json_array();
            json_object_set_new(pb, key, list);
        }
        json_array_append_new(list, json_pack("{s:s,s:s}", "HostIp", "", "HostPort", hp));
    }
    json_t *ld = json_object_get(spec, "LogDriver");
    if (task_str(ld, "Name") && *task_str(ld, "Name")) {
        json_t *lc = json_pack("{s:s}", "Type", task_str(ld, "Name"));
        json_t *lo = json_object_get(ld, "Options");
        json_object_set_new(lc, "Config", json_is_object(lo) ? json_copy(lo) : json_object());
        json_object_set_new(hc, "LogConfig", lc);
    }
    *ret_cfg = cfg;
    *ret_hc = hc;
    return 0;
}

/* ---- pulls (libuv thread pool) --------------------------------------------------------------- */

static void pull_work(uv_work_t *w)
{
    struct pull_job *j = container_of(w, struct pull_job, work);

    j->r = rt_pull(j->store, j->data_root, j->ref, &j->opts, &j->result, &j->err);
    (void)pthread_mutex_lock(&g_pull_lock);
    j->finished = true;
    (void)pthread_cond_broadcast(&g_pull_cond);
    (void)pthread_mutex_unlock(&g_pull_lock);
}

static void pull_job_free(struct pull_job *j)
{
    rt_reg_auth_clear(&j->auth);
    free(j->ref);
    free(j);
}

static void pull_done(uv_work_t *w, int status)
{
    struct pull_job *j = container_of(w, struct pull_job, work);
    struct wrk_agent *a = j->a;

    if (status == UV_ECANCELED && j->r == 0)
        j->r = err_set(&j->err, -ECANCELED, "pull cancelled");
    if (!a) {
        pull_job_free(j);
        return;
    }
    for (struct pull_job **pp = &a->pulls; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    if (j->r < 0)
        log_warn("pulling '%s' for a task: %s", j->ref, j->err.msg);
    else
        log_info("pulled '%s' for a task (%s)", j->ref, j->result.image_id);
    for (struct task *t = a->head.next; t != &a->head; t = t->next) {
        if (t->pull != j)
            continue;
        t->pull = NULL;
        if (j->r < 0) {
            free(t->pull_err);
            if (j->r == -ENOENT) {
                if (asprintf(&t->pull_err, "No such image: %s", j->ref) < 0)
                    t->pull_err = NULL;
            } else
                t->pull_err = strdup(j->err.msg[0] ? j->err.msg : "pull failed");
            if (!t->pull_err)
                t->pull_err = strdup("pull failed");
        }
        task_kick(t);
    }
    pull_job_free(j);
}

/* Join (or start) the pull of the task's image. */
static int pull_start(struct task *t, const char *ref, struct err *err)
{
    struct wrk_agent *a = t->a;
    struct pull_job *j;
    const char *auth = task_str(json_object_get(container_spec(t), "PullOptions"), "RegistryAuth");
    int r;

    for (j = a->pulls; j; j = j->next) {
        if (strcmp(j->ref, ref) == 0 && !j->cancel) {
            t->pull = j;
            return 0;
        }
    }
    j = calloc(1, sizeof(*j));
    if (!j || !(j->ref = strdup(ref))) {
        free(j);
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (auth && *auth && rt_reg_auth_decode(auth, &j->auth, err) < 0) {
        pull_job_free(j);
        return err->code;
    }
    j->a = a;
    j->store = rt_images(a->rt);
    (void)snprintf(j->data_root, sizeof(j->data_root), "%s", rt_data_root(a->rt));
    (void)snprintf(j->tmp_dir, sizeof(j->tmp_dir), "%s/image/tmp", j->data_root);
    j->opts.auth = &j->auth;
    j->opts.insecure = a->insecure;
    j->opts.n_insecure = a->n_insecure;
    j->opts.cancel = &j->cancel;
    j->opts.tmp_dir = j->tmp_dir;
    r = uv_queue_work(a->loop, &j->work, pull_work, pull_done);
    if (r < 0) {
        pull_job_free(j);
        return err_set(err, -EAGAIN, "cannot queue the pull: %s", uv_strerror(r));
    }
    log_info("pulling '%s' for task %s", ref, t->id);
    j->next = a->pulls;
    a->pulls = j;
    t->pull = j;
    return 0;
}

/* ---- runtime operations -----------------------------------------------------------------------
 */

static void task_on_exit(void *arg, int exit_code, const char *msg);

static void ensure_waiter(struct task *t)
{
    if (t->waiter || !t->c)
        return;
    t->waiter = rt_container_wait(t->c, RT_WAIT_NEXT_EXIT, task_on_exit, t);
    if (!t->waiter)
        log_warn("task %s: cannot watch its container (out of memory)", t->id);
}

/* The container ended: record how (what to report is decided here). */
static void record_exit(struct task *t, int code)
{
    char e[64];

    t->exit_code = code;
    t->pid = 0;
    if (t->stop_requested || (t->known && t->desired > WS_RUNNING)) {
        (void)set_state(t, WS_SHUTDOWN, "shutdown", NULL);
    } else if (code == 0) {
        (void)set_state(t, WS_COMPLETE, "finished", NULL);
    } else {
        (void)snprintf(e, sizeof(e), "task: non-zero exit (%d)", code);
        (void)set_state(t, WS_FAILED, "started", e);
    }
}

static void task_on_exit(void *arg, int exit_code, const char *msg)
{
    struct task *t = arg;

    (void)msg;
    t->waiter = NULL; /* the runtime frees it */
    if (!t->a)
        return;
    if (t->state < WS_STARTING && !t->stop_requested)
        return; /* a failed start: on_started reports it */
    record_exit(t, exit_code);
    task_kick(t);
}

static void on_started(void *arg, int status, const char *msg)
{
    struct task *t = arg;

    t->busy = false;
    if (t->a) {
        if ((status == 0 || status == ERR_NOT_MODIFIED) && t->c &&
            rt_container_state(t->c) == RT_STATE_RUNNING) {
            t->pid = rt_container_pid(t->c);
            (void)set_state(t, WS_RUNNING, "started", NULL);
        } else if (status < 0 && status != ERR_NOT_MODIFIED) {
            char e[ERR_MSG_MAX + 40];
            (void)snprintf(e, sizeof(e), "starting container failed: %s",
                           msg ? msg : "unknown error");
            if (t->c)
                t->exit_code = rt_container_exit_code(t->c);
            (void)set_state(t, WS_FAILED, "starting", e);
        }
        task_kick(t);
    }
    task_unref(t);
}

static void do_start(struct task *t)
{
    struct err err = {0};
    int r;

    (void)set_state(t, WS_STARTING, "starting", NULL);
    ensure_waiter(t);
    t->busy = true;
    task_ref(t);
    r = rt_container_start(t->c, on_started, t, &err);
    if (r < 0) {
        t->busy = false;
        task_unref(t);
        if (r == ERR_NOT_MODIFIED) {
            task_kick(t);
            return;
        }
        char e[ERR_MSG_MAX + 40];
        (void)snprintf(e, sizeof(e), "starting container failed: %s", err.msg);
        (void)set_state(t, WS_FAILED, "starting", e);
    }
}

static void on_stopped(void *arg, int status, const char *msg)
{
    struct task *t = arg;

    t->busy = false;
    if (status < 0)
        log_warn("task %s: stopping its container: %s", t->id, msg ? msg : strerror(-status));
    task_kick(t);
    task_unref(t);
}

static void do_stop(struct task *t)
{
    struct err err = {0};
    int r;

    t->stop_requested = true;
    ensure_waiter(t);
    t->busy = true;
    task_ref(t);
    /* StopTimeout was set from StopGracePeriod at create. */
    r = rt_container_stop(t->c, -1, on_stopped, t, &err);
    if (r < 0) {
        t->busy = false;
        task_unref(t);
        if (r == ERR_NOT_MODIFIED) {
            task_kick(t);
            return;
        }
        log_warn("task %s: cannot stop container %.12s: %s", t->id, t->cid, err.msg);
        t->stop_failed = true;
    }
}

static void on_removed(void *arg, int status, const char *msg)
{
    struct task *t = arg;

    t->busy = false;
    if (status < 0)
        log_warn("task %s: removing container %.12s: %s", t->id, t->cid,
                 msg ? msg : strerror(-status));
    else
        log_debug("task %s: container %.12s removed", t->id, t->cid);
    set_container(t, NULL);
    task_kick(t);
    task_unref(t);
}

static void do_remove(struct task *t)
{
    struct err err = {0};
    int r;

    if (t->waiter) {
        rt_waiter_cancel(t->waiter);
        t->waiter = NULL;
    }
    t->busy = true;
    task_ref(t);
    r = rt_container_remove(t->c, true, on_removed, t, &err);
    if (r < 0) {
        t->busy = false;
        task_unref(t);
        /* Already being removed by someone else: it is going away. */
        log_warn("task %s: cannot remove container %.12s: %s", t->id, t->cid, err.msg);
        set_container(t, NULL);
        task_kick(t);
    }
}

/* Pull if needed, then create the container. Returns with t->c set, or a
 * pull in flight, or the task rejected. */
static void prepare(struct task *t)
{
    struct wrk_agent *a = t->a;
    json_t *cs = container_spec(t);
    const char *image = task_str(cs, "Image");
    struct rt_image *img = NULL;
    struct rt_container *c = NULL;
    json_t *cfg = NULL;
    json_t *hc = NULL;
    struct err err = {0};
    char name[1024];
    char local[1024];
    int r;

    (void)set_state(t, WS_PREPARING, "preparing", NULL);
    if (!image || !*image) {
        (void)set_state(t, WS_REJECTED, "preparing", "task has no image");
        return;
    }
    (void)snprintf(local, sizeof(local), "%s", image);
    r = rt_image_get(rt_images(a->rt), local, &img, NULL);
    if (r < 0 && strchr(image, '@') && t->pull_err) {
        /* Pinned digest unknown and the registry out of reach: a local
         * image under the same name:tag will do (docker falls back too). */
        local[strcspn(local, "@")] = '\0';
        r = rt_image_get(rt_images(a->rt), local, &img, NULL);
        if (r == 0)
            log_warn("task %s: using local '%s' for '%s': %s", t->id, local, image, t->pull_err);
    }
    rt_image_free(img);
    if (r < 0) {
        if (t->pull_err) {
            (void)set_state(t, WS_REJECTED, "preparing", t->pull_err);
            return;
        }
        if (pull_start(t, image, &err) < 0)
            (void)set_state(t, WS_REJECTED, "preparing", err.msg);
        return;
    }

    task_name(t, name, sizeof(name));
    if (build_config(t, local, &cfg, &hc, &err) < 0) {
        (void)set_state(t, WS_REJECTED, "preparing", err.msg);
        return;
    }
    if (a->prepare && a->prepare(a->prepare_ud, t->json, cfg, hc, &err) < 0) {
        (void)set_state(t, WS_REJECTED, "preparing", err.msg);
        goto out;
    }
    r = rt_container_create(a->rt, name, cfg, hc, &c, &err);
    if (r == -EEXIST && rt_container_find(a->rt, name, &c, NULL) == 0) {
        /* Ours from an earlier life (created, state lost)? */
        const char *lid = json_string_value(json_object_get(rt_container_labels(c), LABEL_TASK_ID));
        if (lid && strcmp(lid, t->id) == 0)
            r = 0;
        else
            c = NULL;
    }
    if (r < 0) {
        log_warn("task %s: creating container %s: %s", t->id, name, err.msg);
        (void)set_state(t, WS_REJECTED, "preparing", err.msg);
        goto out;
    }
    set_container(t, c);
    log_debug("task %s: container %.12s (%s) created", t->id, t->cid, name);
out:
    json_decref(cfg);
    json_decref(hc);
}

/* The state machine: one step toward the desired state. */
static void task_step(struct task *t)
{
    struct wrk_agent *a = t->a;
    enum rt_state cst;

    if (!a || t->busy)
        return;
    if (t->pull && (t->dropped || t->desired > WS_RUNNING)) {
        /* Not wanted any more: stop waiting; cancel the pull if nobody else waits. */
        struct pull_job *j = t->pull;
        bool others = false;
        t->pull = NULL;
        for (struct task *o = a->head.next; o != &a->head; o = o->next)
            others = others || o->pull == j;
        if (!others)
            j->cancel = true;
    }
    if (t->pull)
        return;
    /* The container went away under us (docker rm -f). */
    if (t->c && (rt_container_state(t->c) == RT_STATE_REMOVING ||
                 rt_container_state(t->c) == RT_STATE_DEAD)) {
        if (t->state >= WS_STARTING && t->state < WS_COMPLETE)
            record_exit(t, rt_container_exit_code(t->c));
        set_container(t, NULL);
    }
    cst = t->c ? rt_container_state(t->c) : RT_STATE_DEAD;

    if (!t->known && !t->dropped) {
        /* Adopted, no assignment yet: only watch. */
        if (cst == RT_STATE_RUNNING)
            ensure_waiter(t);
        return;
    }

    if (t->dropped || t->desired > WS_RUNNING) {
        if (cst == RT_STATE_RUNNING) {
            if (!t->stop_failed)
                do_stop(t);
            else if (t->dropped)
                do_remove(t); /* force */
            return;
        }
        if (!t->dropped && t->state < WS_COMPLETE)
            (void)set_state(t, WS_SHUTDOWN, "shutdown", NULL);
        if (t->dropped || t->desired == WS_REMOVE) {
            if (t->c) {
                do_remove(t);
                return;
            }
            if (t->dropped)
                task_forget(t);
        }
        return;
    }

    if (t->desired < WS_READY || t->state >= WS_COMPLETE)
        return;
    if (!t->c) {
        if (t->state >= WS_STARTING) {
            (void)set_state(t, WS_FAILED, "started", "task: container not found");
            return;
        }
        prepare(t);
        if (!t->c || t->state >= WS_COMPLETE)
            return;
        cst = rt_container_state(t->c);
    }
    switch (cst) {
    case RT_STATE_CREATED:
        (void)set_state(t, WS_READY, "prepared", NULL);
        if (t->desired >= WS_RUNNING)
            do_start(t);
        break;
    case RT_STATE_RUNNING:
        ensure_waiter(t);
        t->pid = rt_container_pid(t->c);
        (void)set_state(t, WS_RUNNING, "started", NULL);
        break;
    case RT_STATE_EXITED:
        if (t->state < WS_STARTING) {
            /* Created by us, exited: an earlier run we lost track of. */
            (void)set_state(t, WS_STARTING, "starting", NULL);
        }
        record_exit(t, rt_container_exit_code(t->c));
        break;
    default:
        break;
    }
}

/* ---- adoption ---------------------------------------------------------------------------------
 */

static const char *container_task_id(struct rt_container *c)
{
    const char *id = json_string_value(json_object_get(rt_container_labels(c), LABEL_TASK_ID));

    return id && *id ? id : NULL;
}

/* A task entry for an existing task container (state from the container). */
static struct task *adopt(struct wrk_agent *a, struct rt_container *c, const char *id)
{
    struct task *t = task_new(a, id);

    if (!t)
        return NULL;
    set_container(t, c);
    switch (rt_container_state(c)) {
    case RT_STATE_CREATED:
        t->state = WS_READY;
        replace_str(&t->msg, "prepared");
        break;
    case RT_STATE_RUNNING:
        t->state = WS_RUNNING;
        t->pid = rt_container_pid(c);
        replace_str(&t->msg, "started");
        ensure_waiter(t);
        break;
    default: {
        int code = rt_container_exit_code(c);
        t->exit_code = code;
        if (code == 0) {
            t->state = WS_COMPLETE;
            replace_str(&t->msg, "finished");
        } else {
            char e[64];
            (void)snprintf(e, sizeof(e), "task: non-zero exit (%d)", code);
            t->state = WS_FAILED;
            replace_str(&t->msg, "started");
            replace_str(&t->errmsg, e);
        }
        break;
    }
    }
    t->ts = time_now_ns();
    t->dirty = true;
    log_debug("adopted container %.12s of task %s (%s)", t->cid, id, state_names[t->state]);
    return t;
}

/* Adopt every task container the agent does not track yet; with drop set,
 * they are to be removed. */
static void adopt_all(struct wrk_agent *a, bool drop)
{
    struct rt_container **cs = NULL;
    size_t n = 0;

    if (rt_container_list(a->rt, &cs, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *id = container_task_id(cs[i]);
        struct task *t;
        enum rt_state st = rt_container_state(cs[i]);
        if (!id || st == RT_STATE_REMOVING || st == RT_STATE_DEAD)
            continue;
        t = task_find(a, id);
        if (t) {
            if (!t->c && !t->busy && t->state < WS_COMPLETE)
                set_container(t, cs[i]);
            continue;
        }
        t = adopt(a, cs[i], id);
        if (t && drop) {
            t->dropped = true;
            task_kick(t);
        }
    }
    free(cs);
}

/* ---- public -----------------------------------------------------------------------------------
 */

static int opts_copy(struct wrk_agent *a, const struct wrk_opts *o)
{
    a->loop = o->loop;
    a->rt = o->rt;
    a->insecure = o->insecure;
    a->n_insecure = o->n_insecure;
    a->prepare = o->prepare;
    a->prepare_ud = o->prepare_ud;
    a->report_delay_ms = o->report_delay_ms ? o->report_delay_ms : DEFAULT_REPORT_DELAY_MS;
    a->node_id = strdup("");
    if (o->network_mode && *o->network_mode)
        a->network_mode = strdup(o->network_mode);
    if (!a->node_id || (o->network_mode && *o->network_mode && !a->network_mode))
        return -ENOMEM;
    return 0;
}

int wrk_agent_new(const struct wrk_opts *o, struct wrk_agent **ret, struct err *err)
{
    struct wrk_agent *a;

    if (!o || !o->loop || !o->rt || !ret)
        return err_set(err, -EINVAL, "worker: loop and runtime are required");
    a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(err, -ENOMEM, "out of memory");
    a->head.next = a->head.prev = &a->head;
    if (opts_copy(a, o) < 0) {
        free(a->node_id);
        free(a->network_mode);
        free(a);
        return err_set(err, -ENOMEM, "out of memory");
    }
    uv_timer_init(a->loop, &a->kick_timer);
    uv_timer_init(a->loop, &a->report_timer);
    a->kick_timer.data = a;
    a->report_timer.data = a;
    adopt_all(a, false);
    if (a->n_tasks)
        log_info("adopted %zu task container(s)", a->n_tasks);
    *ret = a;
    return 0;
}

static void agent_closed(uv_handle_t *h)
{
    struct wrk_agent *a = h->data;

    if (--a->closing > 0)
        return;
    free(a->node_id);
    free(a->network_mode);
    free(a);
}

void wrk_agent_free(struct wrk_agent *a)
{
    struct timespec deadline;

    if (!a)
        return;
    a->freed = true;
    a->report_cb = NULL;
    /* Pulls: cancel, detach, and wait until no pool thread uses the image store. */
    (void)clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += PULL_CANCEL_WAIT_S;
    for (struct pull_job *j = a->pulls, *n; j; j = n) {
        n = j->next;
        j->cancel = true;
        j->a = NULL;
        if (uv_cancel((uv_req_t *)&j->work) == 0) {
            (void)pthread_mutex_lock(&g_pull_lock);
            j->finished = true; /* never ran; pull_done frees it */
            (void)pthread_mutex_unlock(&g_pull_lock);
        }
    }
    (void)pthread_mutex_lock(&g_pull_lock);
    for (struct pull_job *j = a->pulls; j; j = j->next) {
        while (!j->finished) {
            if (pthread_cond_timedwait(&g_pull_cond, &g_pull_lock, &deadline) != 0) {
                log_warn("a pull of '%s' did not stop in time", j->ref);
                break;
            }
        }
    }
    (void)pthread_mutex_unlock(&g_pull_lock);
    a->pulls = NULL;
    while (a->head.next != &a->head)
        task_forget(a->head.next);
    a->closing = 2;
    uv_timer_stop(&a->kick_timer);
    uv_timer_stop(&a->report_timer);
    uv_close((uv_handle_t *)&a->kick_timer, agent_closed);
    uv_close((uv_handle_t *)&a->report_timer, agent_closed);
}

void wrk_agent_set_node(struct wrk_agent *a, const char *node_id)
{
    char *s = strdup(node_id ? node_id : "");

    if (!s)
        return;
    free(a->node_id);
    a->node_id = s;
}

void wrk_agent_set_reporter(struct wrk_agent *a, wrk_report_cb cb, void *ud)
{
    a->report_cb = cb;
    a->report_ud = ud;
    if (!cb) {
        uv_timer_stop(&a->report_timer);
        return;
    }
    for (struct task *t = a->head.next; t != &a->head; t = t->next) {
        if (t->ts == 0)
            t->ts = time_now_ns();
        t->dirty = true;
    }
    if (a->n_tasks)
        report_schedule(a);
}

/* A task named by an assignment. */
static void assign_one(struct wrk_agent *a, json_t *tj)
{
    const char *id = task_str(tj, "ID");
    int desired = state_parse(task_str(tj, "DesiredState"));
    struct task *t;

    if (!id || !*id || desired < 0) {
        log_warn("assignment: task without ID or valid DesiredState, ignoring");
        return;
    }
    t = task_find(a, id);
    if (!t) {
        int st = state_parse(task_str(json_object_get(tj, "Status"), "State"));
        t = task_new(a, id);
        if (!t) {
            log_error("assignment: out of memory for task %s", id);
            return;
        }
        if (st > t->state)
            t->state = st;
        /* (the store's status stands until the task moves on) */
    }
    if (!t->known && t->state < WS_COMPLETE) {
        /* Adopted or new: the store may know more (it cannot know less). */
        int st = state_parse(task_str(json_object_get(tj, "Status"), "State"));
        if (st > t->state && st >= WS_COMPLETE) {
            t->state = st;
            t->dirty = false;
        }
    }
    json_t *copy = json_deep_copy(tj); /* the message is only borrowed */
    if (!copy) {
        log_error("assignment: out of memory for task %s", id);
        return;
    }
    json_decref(t->json);
    t->json = copy;
    t->known = true;
    t->dropped = false;
    t->gen = a->gen;
    if (desired > t->desired)
        t->desired = desired;
    task_kick(t);
}

void wrk_agent_assign(struct wrk_agent *a, json_t *msg)
{
    bool full = json_is_true(json_object_get(msg, "full"));
    json_t *v;
    size_t i;

    if (a->freed)
        return;
    a->gen++;
    json_array_foreach(json_object_get(msg, "tasks"), i, v)
    {
        if (json_is_object(v))
            assign_one(a, v);
    }
    json_array_foreach(json_object_get(msg, "removed"), i, v)
    {
        struct task *t = json_is_string(v) ? task_find(a, json_string_value(v)) : NULL;
        if (t) {
            t->dropped = true;
            task_kick(t);
        }
    }
    if (full) {
        for (struct task *t = a->head.next; t != &a->head; t = t->next) {
            if (t->gen != a->gen) {
                t->dropped = true;
                task_kick(t);
            }
        }
        adopt_all(a, true);
    }
}

void wrk_agent_leave(struct wrk_agent *a)
{
    if (a->freed)
        return;
    for (struct pull_job *j = a->pulls; j; j = j->next)
        j->cancel = true;
    for (struct task *t = a->head.next; t != &a->head; t = t->next) {
        t->dropped = true;
        task_kick(t);
    }
    adopt_all(a, true);
}

size_t wrk_agent_task_count(const struct wrk_agent *a)
{
    return a ? a->n_tasks : 0;
}
