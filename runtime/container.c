/*
 * runtime/container.c - the container store: create, find, persist, state
 * changes, waiters and output fan-out. The monitor connection lives in
 * monclient.c, the spec translation in spec.c.
 */
#define LOG_MODULE "runtime"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/util.h"

#include "runtime/internal.h"
#include "runtime/mounts.h"
#include "runtime/runtime.h"

#define DEFAULT_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct rt_stop_op {
    struct rt_stop_op *next;
    struct rt_container *c;
    uv_timer_t timer;
    rt_done_cb cb;
    void *arg;
    bool fired; /* SIGKILL sent */
};

struct rm_work {
    uv_work_t work;
    struct rt_container *c;
    char *dir;
    char *state_dir;
    int status;
};

static void cancel_restart(struct rt_container *c);
static void schedule_restart(struct rt_container *c, uint64_t delay_ms, bool count);
static void fire_waiters(struct rt_container *c, bool removed, const char *msg);

/* ---- lists ---------------------------------------------------------------- */

static void waiters_init(struct rt_container *c)
{
    c->waiters.next = c->waiters.prev = &c->waiters;
    c->attaches.next = c->attaches.prev = &c->attaches;
}

static void container_free(struct rt_container *c)
{
    buf_release(&c->stdin_pending);
    json_decref(c->config);
    json_decref(c->host_config);
    json_decref(c->networking);
    free(c->name);
    free(c->error);
    free(c->dir);
    free(c->state_dir);
    rt_health_forget(c);
    free(c);
}

struct rt_container *rt_container_ref(struct rt_container *c)
{
    c->refs++;
    return c;
}

void rt_container_unref(struct rt_container *c)
{
    if (!c)
        return;
    if (--c->refs == 0)
        container_free(c);
}

static void list_add(struct rt *rt, struct rt_container *c)
{
    c->prev = NULL;
    c->next = rt->head;
    if (rt->head)
        rt->head->prev = c;
    rt->head = c;
    rt->n_containers++;
}

static void list_del(struct rt *rt, struct rt_container *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (rt->head == c)
        rt->head = c->next;
    else
        return; /* not listed */
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    rt->n_containers--;
}

/* ---- accessors ------------------------------------------------------------ */

const char *rt_container_id(const struct rt_container *c)
{
    return c->id;
}

const char *rt_container_name(const struct rt_container *c)
{
    return c->name;
}

enum rt_state rt_container_state(const struct rt_container *c)
{
    return c->state;
}

static bool cfg_bool(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

bool rt_container_tty(const struct rt_container *c)
{
    return cfg_bool(c->config, "Tty");
}

bool rt_container_open_stdin(const struct rt_container *c)
{
    return cfg_bool(c->config, "OpenStdin");
}

const char *rt_container_log_path(const struct rt_container *c)
{
    static __thread char path[4096];

    (void)snprintf(path, sizeof(path), "%s/%s-json.log", c->dir, c->id);
    return path;
}

int rt_container_exit_code(const struct rt_container *c)
{
    return c->exit_code;
}

int rt_container_pid(const struct rt_container *c)
{
    return c->state == RT_STATE_RUNNING ? c->pid : 0;
}

bool rt_container_paused(const struct rt_container *c)
{
    return c->paused;
}

bool rt_container_restarting(const struct rt_container *c)
{
    return c->restarting;
}

int rt_container_restart_count(const struct rt_container *c)
{
    return c->restart_count;
}

int64_t rt_container_created_ns(const struct rt_container *c)
{
    return c->created_ns;
}

int64_t rt_container_finished_ns(const struct rt_container *c)
{
    return c->finished_ns;
}

const char *rt_container_image(const struct rt_container *c)
{
    return json_string_value(json_object_get(c->config, "Image")) ?: "";
}

json_t *rt_container_labels(const struct rt_container *c)
{
    return json_object_get(c->config, "Labels");
}

const char *rt_container_upper_dir(const struct rt_container *c, char *out, size_t outlen)
{
    (void)snprintf(out, outlen, "%s/upper", c->dir);
    return out;
}

const char *rt_container_cgroup(const struct rt_container *c, char *out, size_t outlen)
{
    (void)snprintf(out, outlen, "%s/%s", c->rt->cgroup_parent, c->id);
    return out;
}

const char *rt_cgroup_root(struct rt *rt)
{
    return rt->cgroup_root;
}

void rt_set_event_cb(struct rt *rt, rt_event_cb cb, void *arg)
{
    rt->event_cb = cb;
    rt->event_arg = arg;
}

void rt__event(struct rt_container *c, const char *action, const char *const *attrs)
{
    struct rt *rt = c->rt;

    if (rt->event_cb && !rt->closing)
        rt->event_cb(rt->event_arg, c, action, attrs);
}

void rt_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

int rt_container_log_files(const struct rt_container *c, char ***ret, size_t *ret_n)
{
    unsigned max = 1;
    json_t *lc = json_object_get(json_object_get(c->host_config, "LogConfig"), "Config");
    const char *mf = json_string_value(json_object_get(lc, "max-file"));
    char **v;
    size_t n = 0;
    uint64_t m;

    if (mf && parse_u64(mf, &m) == 0 && m >= 1 && m <= 100)
        max = (unsigned)m;
    v = calloc(max + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (unsigned i = max; i >= 1; i--) {
        char path[4096];
        if (i == 1)
            (void)snprintf(path, sizeof(path), "%s/%s-json.log", c->dir, c->id);
        else
            (void)snprintf(path, sizeof(path), "%s/%s-json.log.%u", c->dir, c->id, i - 1);
        if (i > 1 && access(path, F_OK) < 0)
            continue;
        v[n] = strdup(path);
        if (!v[n]) {
            rt_strv_free(v);
            return -ENOMEM;
        }
        n++;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

struct rt_image_store *rt_images(struct rt *rt)
{
    return rt->images;
}

enum rt_cgroup_mode rt_cgroup_mode(struct rt *rt)
{
    return rt->cg_mode;
}

const char *rt_data_root(struct rt *rt)
{
    return rt->data_root;
}

void rt_counts(struct rt *rt, size_t *total, size_t *running, size_t *paused, size_t *stopped)
{
    *total = *running = *paused = *stopped = 0;
    for (struct rt_container *c = rt->head; c; c = c->next) {
        (*total)++;
        if (c->state == RT_STATE_RUNNING && c->paused)
            (*paused)++;
        else if (c->state == RT_STATE_RUNNING || c->restarting)
            (*running)++;
        else
            (*stopped)++;
    }
}

/* ---- network hooks -------------------------------------------------------- */

void rt_set_net_hooks(struct rt *rt, const struct rt_net_hooks *hooks)
{
    if (hooks)
        rt->net_hooks = *hooks;
    else
        memset(&rt->net_hooks, 0, sizeof(rt->net_hooks));
}

/* The container's networking for this run is over (exit or removal). */
static void net_release(struct rt_container *c, bool removed)
{
    struct rt *rt = c->rt;

    if (!rt->net_hooks.release || (!c->net_prepared && !removed))
        return;
    c->net_prepared = false;
    c->netns_path[0] = '\0';
    rt->net_hooks.release(rt->net_hooks.arg, c, removed);
}

/* ---- find ----------------------------------------------------------------- */

int rt_container_find(struct rt *rt, const char *ref, struct rt_container **ret, struct err *err)
{
    struct rt_container *match = NULL;
    size_t n = 0;
    size_t len;

    if (!ref || !*ref)
        return err_set(err, -ENOENT, "No such container: %s", ref ? ref : "");
    if (ref[0] == '/')
        ref++;
    len = strlen(ref);
    for (struct rt_container *c = rt->head; c; c = c->next) {
        if (strcmp(c->id, ref) == 0 || strcmp(c->name, ref) == 0) {
            *ret = c;
            return 0;
        }
    }
    if (len > 0 && len < 64 && id_is_hex(ref, len)) {
        for (struct rt_container *c = rt->head; c; c = c->next) {
            if (strncmp(c->id, ref, len) == 0) {
                match = c;
                n++;
            }
        }
    }
    if (n == 1) {
        *ret = match;
        return 0;
    }
    if (n > 1)
        return err_set(err, -EINVAL, "multiple IDs found with provided prefix: %s", ref);
    return err_set(err, -ENOENT, "No such container: %s", ref);
}

int rt_container_list(struct rt *rt, struct rt_container ***ret, size_t *ret_n)
{
    struct rt_container **arr = calloc(rt->n_containers + 1, sizeof(*arr));
    size_t n = 0;

    if (!arr)
        return -ENOMEM;
    for (struct rt_container *c = rt->head; c; c = c->next)
        arr[n++] = c;
    /* newest first */
    for (size_t i = 1; i < n; i++) {
        struct rt_container *x = arr[i];
        size_t j = i;
        while (j > 0 && arr[j - 1]->created_ns < x->created_ns) {
            arr[j] = arr[j - 1];
            j--;
        }
        arr[j] = x;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

/* ---- persistence ---------------------------------------------------------- */

static const char *const state_names[] = {"created", "running", "exited", "removing", "dead"};

static int state_from_name(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
        if (s && strcmp(s, state_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

int rt__container_save(struct rt_container *c)
{
    char path[4096];
    char *text;
    int r;
    json_t *doc = json_pack(
        "{s:s, s:s, s:I, s:s, s:O, s:O, s:{s:s, s:i, s:i, s:b, s:s, s:I, s:I},"
        " s:i}",
        "Id", c->id, "Name", c->name, "Created", (json_int_t)c->created_ns, "Image", c->image_id,
        "Config", c->config, "HostConfig", c->host_config, "State", "Status", state_names[c->state],
        "Pid", c->pid, "ExitCode", c->exit_code, "OOMKilled", c->oom_killed, "Error",
        c->error ? c->error : "", "StartedAt", (json_int_t)c->started_ns, "FinishedAt",
        (json_int_t)c->finished_ns, "RestartCount", c->restart_count);

    if (!doc)
        return -ENOMEM;
    json_object_set_new(json_object_get(doc, "State"), "Paused", json_boolean(c->paused));
    json_object_set_new(json_object_get(doc, "State"), "Restarting", json_boolean(c->restarting));
    json_object_set_new(doc, "HasBeenManuallyStopped", json_boolean(c->manual_stop));
    if (c->networking)
        json_object_set(doc, "NetworkingConfig", c->networking);
    json_object_set_new(doc, "RestartDelayMs", json_integer((json_int_t)c->restart_delay_ms));
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return -ENOMEM;
    (void)snprintf(path, sizeof(path), "%s/config.json", c->dir);
    r = write_file_atomic(path, text, strlen(text), 0600, false);
    free(text);
    if (r < 0)
        log_error("saving state of container %.12s: %s", c->id, strerror(-r));
    return r;
}

static struct rt_container *container_alloc(struct rt *rt, const char *id)
{
    struct rt_container *c = calloc(1, sizeof(*c));
    char path[4096];

    if (!c)
        return NULL;
    c->rt = rt;
    c->refs = 1;
    (void)snprintf(c->id, sizeof(c->id), "%s", id);
    waiters_init(c);
    (void)snprintf(path, sizeof(path), "%s/containers/%s", rt->data_root, id);
    c->dir = strdup(path);
    (void)snprintf(path, sizeof(path), "%s/%s", rt->exec_root, id);
    c->state_dir = strdup(path);
    if (!c->dir || !c->state_dir) {
        container_free(c);
        return NULL;
    }
    return c;
}

/* ---- restart policy --------------------------------------------------------- */

#define RESTART_FIRST_MS 100
#define RESTART_MAX_MS   60000
#define RESTART_RESET_NS (10LL * 1000000000LL)

static const char *policy_name(const struct rt_container *c, int *ret_max)
{
    json_t *rp = json_object_get(c->host_config, "RestartPolicy");
    const char *name = json_string_value(json_object_get(rp, "Name"));

    if (ret_max)
        *ret_max = (int)json_integer_value(json_object_get(rp, "MaximumRetryCount"));
    return name && *name ? name : "no";
}

/* Docker's restartmanager.ShouldRestart, with the manual-stop flag given. */
static bool policy_wants_restart(const struct rt_container *c, int exit_code, bool manual)
{
    int max;
    const char *name = policy_name(c, &max);

    if (strcmp(name, "always") == 0)
        return true;
    if (strcmp(name, "unless-stopped") == 0)
        return !manual;
    if (strcmp(name, "on-failure") == 0)
        return exit_code != 0 && (max <= 0 || c->restart_count < max);
    return false;
}

/* shoald starts: a stopped container whose policy says so runs again
 * (`always` even after a user stop, as dockerd does on daemon start). */
static void restore_policy(struct rt_container *c)
{
    if (c->started_ns <= 0)
        return; /* never started */
    if (c->restarting || policy_wants_restart(c, c->exit_code, c->manual_stop)) {
        log_info("container %.12s: restart policy %s, starting it again", c->id,
                 policy_name(c, NULL));
        /* a timer: the node layer registers its event callback after rt_open */
        schedule_restart(c, 0, false);
    }
}

static void restart_timer_closed(uv_handle_t *h)
{
    struct rt_container *c = h->data;

    free(h);
    rt_container_unref(c);
}

static void cancel_restart(struct rt_container *c)
{
    if (c->restart_timer) {
        uv_timer_stop(c->restart_timer);
        uv_close((uv_handle_t *)c->restart_timer, restart_timer_closed);
        c->restart_timer = NULL;
    }
    if (c->restarting) {
        c->restarting = false;
        (void)rt__container_save(c);
    }
}

static void restart_done(void *arg, int status, const char *msg)
{
    struct rt_container *c = arg;

    if (status < 0 && status != ERR_NOT_MODIFIED)
        log_warn("container %.12s: restart failed: %s", c->id, msg ? msg : strerror(-status));
    rt_container_unref(c);
}

static void restart_fire(uv_timer_t *t)
{
    struct rt_container *c = t->data;
    struct err err = {0};

    rt_container_ref(c);
    cancel_restart(c); /* closes the timer, clears restarting */
    if (c->state == RT_STATE_EXITED && !c->rt->closing) {
        rt_container_ref(c);
        if (rt_container_start(c, restart_done, c, &err) < 0) {
            log_warn("container %.12s: restart failed: %s", c->id, err.msg);
            rt_container_unref(c);
        }
    }
    rt_container_unref(c);
}

static void schedule_restart(struct rt_container *c, uint64_t delay_ms, bool count)
{
    uv_timer_t *t;

    cancel_restart(c);
    t = calloc(1, sizeof(*t));
    if (!t)
        return;
    uv_timer_init(c->rt->loop, t);
    t->data = rt_container_ref(c);
    c->restart_timer = t;
    c->restarting = true;
    if (count)
        c->restart_count++;
    (void)rt__container_save(c);
    uv_timer_start(t, restart_fire, delay_ms, 0);
}

/* After an exit: back-off as dockerd (100 ms doubling up to a minute, back
 * to 100 ms when the container ran for 10 s or more). */
static void policy_after_exit(struct rt_container *c)
{
    if (c->manual_stop || c->remove_after_exit || c->rt->closing ||
        !policy_wants_restart(c, c->exit_code, false))
        return;
    if (c->finished_ns - c->started_ns >= RESTART_RESET_NS)
        c->restart_delay_ms = 0;
    if (c->restart_delay_ms == 0)
        c->restart_delay_ms = RESTART_FIRST_MS;
    else
        c->restart_delay_ms *= 2;
    if (c->restart_delay_ms > RESTART_MAX_MS)
        c->restart_delay_ms = RESTART_MAX_MS;
    log_debug("container %.12s: restarting in %llu ms", c->id,
              (unsigned long long)c->restart_delay_ms);
    schedule_restart(c, c->restart_delay_ms, true);
}

static int container_load(struct rt *rt, const char *id)
{
    char path[4096];
    json_error_t jerr;
    json_t *doc;
    struct rt_container *c;
    json_t *st;
    int s;

    (void)snprintf(path, sizeof(path), "%s/containers/%s/config.json", rt->data_root, id);
    doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        log_warn("container %.12s: unreadable state (%s), ignoring", id, jerr.text);
        return -EINVAL;
    }
    c = container_alloc(rt, id);
    if (!c) {
        json_decref(doc);
        return -ENOMEM;
    }
    st = json_object_get(doc, "State");
    c->name = strdup(json_string_value(json_object_get(doc, "Name")) ?: id);
    c->config = json_incref(json_object_get(doc, "Config"));
    c->host_config = json_incref(json_object_get(doc, "HostConfig"));
    if (json_is_object(json_object_get(doc, "NetworkingConfig")))
        c->networking = json_incref(json_object_get(doc, "NetworkingConfig"));
    (void)snprintf(c->image_id, sizeof(c->image_id), "%s",
                   json_string_value(json_object_get(doc, "Image")) ?: "");
    c->created_ns = json_integer_value(json_object_get(doc, "Created"));
    c->restart_count = (int)json_integer_value(json_object_get(doc, "RestartCount"));
    s = state_from_name(json_string_value(json_object_get(st, "Status")));
    c->pid = (int)json_integer_value(json_object_get(st, "Pid"));
    c->exit_code = (int)json_integer_value(json_object_get(st, "ExitCode"));
    c->oom_killed = json_is_true(json_object_get(st, "OOMKilled"));
    c->started_ns = json_integer_value(json_object_get(st, "StartedAt"));
    c->finished_ns = json_integer_value(json_object_get(st, "FinishedAt"));
    if (json_string_length(json_object_get(st, "Error")))
        c->error = strdup(json_string_value(json_object_get(st, "Error")));
    c->paused = json_is_true(json_object_get(st, "Paused"));
    c->restarting = json_is_true(json_object_get(st, "Restarting"));
    c->manual_stop = json_is_true(json_object_get(doc, "HasBeenManuallyStopped"));
    c->restart_delay_ms = (uint64_t)json_integer_value(json_object_get(doc, "RestartDelayMs"));
    json_decref(doc);
    if (!c->name || !json_is_object(c->config) || !json_is_object(c->host_config) || s < 0) {
        log_warn("container %.12s: incomplete state, ignoring", id);
        container_free(c);
        return -EINVAL;
    }
    c->state = (enum rt_state)s;
    if (c->state == RT_STATE_REMOVING || c->state == RT_STATE_DEAD) {
        /* A removal was cut short: finish it. */
        (void)rm_rf(c->dir);
        (void)rm_rf(c->state_dir);
        container_free(c);
        return 0;
    }
    list_add(rt, c);
    /* Live restore: a running container's monitor is still there (or it
     * left an exit record); a created one may have a monitor waiting for a
     * start that never came. */
    /* A restored running container keeps the networking it was given. */
    if (c->state == RT_STATE_RUNNING)
        c->net_prepared = true;
    if (c->state == RT_STATE_RUNNING || c->state == RT_STATE_CREATED) {
        rt__monitor_reconnect(c);
        if (c->state == RT_STATE_RUNNING)
            rt_health_start(c);
    } else if (c->state == RT_STATE_EXITED) {
        restore_policy(c);
    }
    return 0;
}

static int load_all(struct rt *rt)
{
    char path[4096];
    DIR *d;
    struct dirent *de;

    (void)snprintf(path, sizeof(path), "%s/containers", rt->data_root);
    d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) != 64 || !id_is_hex(de->d_name, 64))
            continue;
        (void)container_load(rt, de->d_name);
    }
    (void)closedir(d);
    return 0;
}

/* ---- open / close --------------------------------------------------------- */

extern const char _binary_shoal_monitor_start[];
extern const char _binary_shoal_monitor_end[];

static int monitor_memfd(struct err *err)
{
    /* two linker symbols bounding one blob */
    size_t len =
        (size_t)((uintptr_t)_binary_shoal_monitor_end - (uintptr_t)_binary_shoal_monitor_start);
    int fd = memfd_create("shoal-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int r;

    if (fd < 0)
        return err_set(err, -errno, "memfd_create: %s", strerror(errno));
    r = write_all(fd, _binary_shoal_monitor_start, len);
    if (r == 0 && fchmod(fd, 0500) < 0)
        r = -errno;
    /* Sealed: a container that reaches this file through /proc can't change it. */
    if (r == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        r = -errno;
    if (r < 0) {
        (void)close(fd);
        return err_set(err, r, "preparing the container monitor: %s", strerror(-r));
    }
    /* The memfd holds the only copy we need: give the blob's pages back. */
    {
        long pg = sysconf(_SC_PAGESIZE);
        uintptr_t lo =
            ((uintptr_t)_binary_shoal_monitor_start + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
        uintptr_t hi = (uintptr_t)_binary_shoal_monitor_end & ~((uintptr_t)pg - 1);
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    return fd;
}

int rt_open(const struct rt_opts *opts, struct rt **ret, struct err *err)
{
    struct rt *rt = calloc(1, sizeof(*rt));
    char path[4096];
    int r;

    if (!rt)
        return err_set(err, -ENOMEM, "out of memory");
    rt->loop = opts->loop;
    rt->monitor_fd = -1;
    rt->data_root = strdup(opts->data_root);
    rt->exec_root = strdup(opts->exec_root);
    rt->cgroup_parent = strdup(opts->cgroup_parent ? opts->cgroup_parent : "shoal");
    rt->cgroup_root = strdup(opts->cgroup_root ? opts->cgroup_root : "/sys/fs/cgroup");
    if (!rt->data_root || !rt->exec_root || !rt->cgroup_parent || !rt->cgroup_root) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    /* Monitor sockets live at <exec-root>/<64 hex id>/mon.sock: sun_path holds 108. */
    if (strlen(rt->exec_root) + 1 + 64 + 1 + strlen(MON_SOCK_NAME) >= 108) {
        r = err_set(err, -ENAMETOOLONG,
                    "exec root '%s' is too long: container sockets need it under %zu characters",
                    rt->exec_root, (size_t)(108 - 1 - 64 - 1 - strlen(MON_SOCK_NAME) - 1));
        goto fail;
    }
    (void)snprintf(path, sizeof(path), "%s/containers", rt->data_root);
    if ((r = mkdir_p(path, 0700)) < 0 || (r = mkdir_p(rt->exec_root, 0700)) < 0) {
        err_set(err, r, "creating %s: %s", path, strerror(-r));
        goto fail;
    }
    r = rt_cgroup_detect(rt->cgroup_root, &rt->cg_mode, err);
    if (r < 0)
        goto fail;
    r = rt_image_store_open(rt->data_root, &rt->images, err);
    if (r < 0)
        goto fail;
    r = monitor_memfd(err);
    if (r < 0)
        goto fail;
    rt->monitor_fd = r;
    r = load_all(rt);
    if (r < 0) {
        err_set(err, r, "loading containers: %s", strerror(-r));
        goto fail;
    }
    *ret = rt;
    return 0;
fail:
    rt_close(rt);
    return r;
}

void rt_close(struct rt *rt)
{
    if (!rt)
        return;
    rt->closing = true;
    rt_health_stop_all(rt);
    while (rt->head) {
        struct rt_container *c = rt->head;
        list_del(rt, c);
        rt__monitor_detach(c);
        if (c->restart_timer) {
            uv_timer_stop(c->restart_timer);
            uv_close((uv_handle_t *)c->restart_timer, restart_timer_closed);
            c->restart_timer = NULL; /* Restarting stays recorded for the next start */
        }
        /* pending stop timers hold references and close themselves */
        for (struct rt_stop_op *op = c->stops; op; op = op->next)
            uv_timer_stop(&op->timer);
        rt_container_unref(c);
    }
    if (rt->monitor_fd >= 0)
        (void)close(rt->monitor_fd);
    rt_image_store_free(rt->images);
    for (size_t i = 0; i < rt->n_seccomp; i++)
        free(rt->seccomp[i].bpf);
    free(rt->data_root);
    free(rt->exec_root);
    free(rt->cgroup_parent);
    free(rt->cgroup_root);
    free(rt);
}

/* ---- create --------------------------------------------------------------- */

static const char *const name_left[] = {"brave", "calm",  "eager",  "fervent", "gentle",  "happy",
                                        "jolly", "keen",  "lucid",  "merry",   "nimble",  "proud",
                                        "quiet", "sharp", "swift",  "tender",  "vivid",   "witty",
                                        "zen",   "bold",  "clever", "dreamy",  "elastic", "frosty"};
static const char *const name_right[] = {
    "anchovy", "barracuda", "cod",    "dory",     "eel",    "flounder", "grouper", "halibut",
    "herring", "mackerel",  "marlin", "minnow",   "perch",  "pike",     "salmon",  "sardine",
    "shad",    "smelt",     "sprat",  "sturgeon", "tarpon", "trout",    "tuna",    "wahoo"};

static bool name_taken(struct rt *rt, const char *name)
{
    for (struct rt_container *c = rt->head; c; c = c->next) {
        if (strcmp(c->name, name) == 0)
            return true;
    }
    return false;
}

static char *generate_name(struct rt *rt, const char *id)
{
    char name[96];

    for (int attempt = 0; attempt < 64; attempt++) {
        unsigned v = (unsigned)strtoul((char[9]){id[attempt % 8], id[(attempt + 1) % 64],
                                                 id[(attempt + 7) % 64], id[(attempt + 13) % 64],
                                                 id[(attempt + 21) % 64], 0, 0, 0, 0},
                                       NULL, 16);
        if (attempt < 32)
            (void)snprintf(name, sizeof(name), "%s_%s", name_left[v % ARRAY_SIZE(name_left)],
                           name_right[(v / ARRAY_SIZE(name_left)) % ARRAY_SIZE(name_right)]);
        else
            (void)snprintf(name, sizeof(name), "%s_%s%d", name_left[v % ARRAY_SIZE(name_left)],
                           name_right[(v / ARRAY_SIZE(name_left)) % ARRAY_SIZE(name_right)],
                           attempt);
        if (!name_taken(rt, name))
            return strdup(name);
    }
    (void)snprintf(name, sizeof(name), "shoal_%.12s", id);
    return strdup(name);
}

static bool name_valid(const char *n)
{
    /* Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
    size_t len = strlen(n);

    if (len < 2 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (i == 0 ? !alnum : !(alnum || ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* Ensure key holds a JSON value of one of the expected kinds (or null). */
static int check_type(json_t *obj, const char *key, int kind, const char *what, struct err *err)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    switch (kind) {
    case 's':
        if (json_is_string(v))
            return 0;
        break;
    case 'i':
        if (json_is_integer(v))
            return 0;
        break;
    case 'b':
        if (json_is_boolean(v))
            return 0;
        break;
    case 'a':
        if (json_is_array(v))
            return 0;
        break;
    case 'o':
        if (json_is_object(v))
            return 0;
        break;
    case 'S': /* string or array of strings (Cmd/Entrypoint) */
        if (json_is_string(v))
            return 0;
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (!json_is_string(e))
                    return err_set(err, -EINVAL, "%s.%s must be a list of strings", what, key);
            }
            return 0;
        }
        break;
    default:
        break;
    }
    return err_set(err, -EINVAL, "invalid type for %s.%s", what, key);
}

static json_t *as_string_array(json_t *v)
{
    if (json_is_string(v))
        return json_pack("[s]", json_string_value(v));
    if (json_is_array(v))
        return json_deep_copy(v);
    return json_array();
}

static int validate_config(json_t *cfg, json_t *hc, bool net_hooked, struct err *err)
{
    static const struct {
        const char *key;
        int kind;
    } cfg_keys[] = {{"Hostname", 's'},   {"Domainname", 's'},  {"User", 's'},
                    {"Tty", 'b'},        {"OpenStdin", 'b'},   {"StdinOnce", 'b'},
                    {"Env", 'a'},        {"Cmd", 'S'},         {"Entrypoint", 'S'},
                    {"Image", 's'},      {"WorkingDir", 's'},  {"Labels", 'o'},
                    {"StopSignal", 's'}, {"StopTimeout", 'i'}, {"ExposedPorts", 'o'}},
      hc_keys[] = {{"Memory", 'i'},        {"MemorySwap", 'i'},     {"NanoCpus", 'i'},
                   {"CpuShares", 'i'},     {"CpuQuota", 'i'},       {"CpuPeriod", 'i'},
                   {"PidsLimit", 'i'},     {"NetworkMode", 's'},    {"AutoRemove", 'b'},
                   {"Privileged", 'b'},    {"ReadonlyRootfs", 'b'}, {"CapAdd", 'a'},
                   {"CapDrop", 'a'},       {"SecurityOpt", 'a'},    {"Ulimits", 'a'},
                   {"RestartPolicy", 'o'}, {"PortBindings", 'o'},   {"Binds", 'a'}};
    json_t *v;
    size_t i;
    int r;

    for (i = 0; i < ARRAY_SIZE(cfg_keys); i++) {
        if ((r = check_type(cfg, cfg_keys[i].key, cfg_keys[i].kind, "Config", err)) < 0)
            return r;
    }
    for (i = 0; i < ARRAY_SIZE(hc_keys); i++) {
        if ((r = check_type(hc, hc_keys[i].key, hc_keys[i].kind, "HostConfig", err)) < 0)
            return r;
    }
    json_array_foreach(json_object_get(cfg, "Env"), i, v)
    {
        if (!json_is_string(v))
            return err_set(err, -EINVAL, "Config.Env must be a list of strings");
        if (json_string_value(v)[0] == '=' || strlen(json_string_value(v)) == 0)
            return err_set(err, -EINVAL, "invalid environment variable: %s", json_string_value(v));
    }
    json_int_t mem = json_integer_value(json_object_get(hc, "Memory"));
    json_int_t swap = json_integer_value(json_object_get(hc, "MemorySwap"));
    json_int_t nano = json_integer_value(json_object_get(hc, "NanoCpus"));
    json_int_t pids = json_integer_value(json_object_get(hc, "PidsLimit"));
    json_int_t quota = json_integer_value(json_object_get(hc, "CpuQuota"));
    json_int_t period = json_integer_value(json_object_get(hc, "CpuPeriod"));
    json_int_t shares = json_integer_value(json_object_get(hc, "CpuShares"));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    if (mem < 0)
        return err_set(err, -EINVAL, "invalid memory limit %lld: must be positive", (long long)mem);
    if (mem > 0 && mem < 6 * 1024 * 1024)
        return err_set(err, -EINVAL, "Minimum memory limit allowed is 6MB");
    if (swap > 0 && mem > 0 && swap < mem)
        return err_set(err, -EINVAL,
                       "Minimum memoryswap limit should be larger than memory limit, see usage");
    if (swap > 0 && mem == 0)
        return err_set(err, -EINVAL,
                       "You should always set the Memory limit when using Memoryswap limit, see "
                       "usage");
    if (swap < -1)
        return err_set(err, -EINVAL, "invalid memory swap limit %lld", (long long)swap);
    if (nano < 0 || (nano > 0 && nano < 10000000LL) || nano > (json_int_t)ncpu * 1000000000LL)
        return err_set(err, -EINVAL,
                       "Range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs available",
                       ncpu, ncpu);
    if (nano > 0 && (quota > 0 || period > 0))
        return err_set(err, -EINVAL,
                       "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (quota < 0 && quota != -1)
        return err_set(err, -EINVAL, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    if (quota > 0 && quota < 1000)
        return err_set(err, -EINVAL, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    if (period != 0 && (period < 1000 || period > 1000000))
        return err_set(err, -EINVAL,
                       "CPU cfs period can not be less than 1ms (i.e. 1000) or "
                       "larger than 1s (i.e. 1000000)");
    if (shares < 0)
        return err_set(err, -EINVAL, "invalid CPU shares %lld", (long long)shares);
    if (pids < -1)
        return err_set(err, -EINVAL, "invalid PIDs limit %lld", (long long)pids);

    /* With network hooks (overlaynet) the node layer validates networking. */
    const char *nm = json_string_value(json_object_get(hc, "NetworkMode"));
    if (!net_hooked && nm && *nm && strcmp(nm, "default") != 0 && strcmp(nm, "none") != 0 &&
        strcmp(nm, "host") != 0 && strcmp(nm, "bridge") != 0) {
        if (strncmp(nm, "container:", 10) == 0)
            return err_set(err, -EINVAL, "network mode '%s' is not supported here", nm);
        return err_set(err, -ENOENT, "network %s not found", nm);
    }
    if (!net_hooked && json_object_size(json_object_get(hc, "PortBindings")) > 0)
        return err_set(err, -EINVAL, "publishing ports (-p) needs shoald's network support");
    if (!net_hooked && json_is_true(json_object_get(hc, "PublishAllPorts")))
        return err_set(err, -EINVAL, "publishing ports (-P) needs shoald's network support");
    json_t *rp = json_object_get(hc, "RestartPolicy");
    const char *rpn = json_string_value(json_object_get(rp, "Name"));
    json_t *rpmax = json_object_get(rp, "MaximumRetryCount");
    if (rpmax && !json_is_null(rpmax) && !json_is_integer(rpmax))
        return err_set(err, -EINVAL, "invalid type for HostConfig.RestartPolicy.MaximumRetryCount");
    if (rpn && *rpn && strcmp(rpn, "no") != 0 && strcmp(rpn, "always") != 0 &&
        strcmp(rpn, "unless-stopped") != 0 && strcmp(rpn, "on-failure") != 0)
        return err_set(err, -EINVAL, "invalid restart policy '%s'", rpn);
    if (json_integer_value(rpmax) < 0)
        return err_set(err, -EINVAL,
                       "invalid restart policy: maximum retry count cannot be negative");
    if (json_integer_value(rpmax) > 0 && (!rpn || strcmp(rpn, "on-failure") != 0))
        return err_set(err, -EINVAL,
                       "invalid restart policy: maximum retry count can only be used with "
                       "'on-failure'");
    if (rpn && *rpn && strcmp(rpn, "no") != 0 && json_is_true(json_object_get(hc, "AutoRemove")))
        return err_set(err, -EINVAL, "conflicting options: cannot specify both --restart and --rm");
    json_t *lc = json_object_get(hc, "LogConfig");
    if (lc && !json_is_null(lc)) {
        const char *lt = json_string_value(json_object_get(lc, "Type"));
        json_t *lo = json_object_get(lc, "Config");
        const char *k;
        json_t *lv;
        int64_t sz = 0;
        uint64_t nf = 1;
        if (!json_is_object(lc))
            return err_set(err, -EINVAL, "invalid type for HostConfig.LogConfig");
        if (lt && *lt && strcmp(lt, "json-file") != 0)
            return err_set(err, -EINVAL,
                           "logging driver %s is not supported: shoal has json-file only", lt);
        if (lo && !json_is_null(lo) && !json_is_object(lo))
            return err_set(err, -EINVAL, "invalid type for HostConfig.LogConfig.Config");
        json_object_foreach(lo, k, lv)
        {
            const char *sv = json_string_value(lv);
            if (!sv)
                return err_set(err, -EINVAL, "log opt %s must be a string", k);
            if (strcmp(k, "max-size") == 0) {
                if (parse_size(sv, &sz) < 0 || sz <= 0 || sz > 0xffffffffLL)
                    return err_set(err, -EINVAL, "invalid max-size %s (1 byte to 4 GiB)", sv);
            } else if (strcmp(k, "max-file") == 0) {
                if (parse_u64(sv, &nf) < 0 || nf < 1 || nf > 100)
                    return err_set(err, -EINVAL, "max-file cannot be less than 1 (nor above 100)");
            } else if (strcmp(k, "compress") != 0 && strcmp(k, "labels") != 0 &&
                       strcmp(k, "env") != 0 && strcmp(k, "tag") != 0 &&
                       strcmp(k, "labels-regex") != 0 && strcmp(k, "env-regex") != 0) {
                return err_set(err, -EINVAL, "unknown log opt '%s' for json-file log driver", k);
            }
        }
        if (nf > 1 && sz == 0)
            return err_set(err, -EINVAL, "max-file cannot be set without max-size");
    }
    {
        /* -v binds, --mount bind/tmpfs, --tmpfs (runtime/mounts.c); named volumes refused */
        json_t *mounts = NULL;
        int mr = rt_mounts_parse(cfg, hc, true, &mounts, err);
        json_decref(mounts);
        if (mr < 0)
            return mr;
    }
    json_array_foreach(json_object_get(hc, "CapAdd"), i, v)
    {
        uint64_t m;
        if (!json_is_string(v) || rt_cap_parse(json_string_value(v), &m) < 0)
            return err_set(err, -EINVAL, "unknown capability: \"%s\"",
                           json_is_string(v) ? json_string_value(v) : "?");
    }
    json_array_foreach(json_object_get(hc, "CapDrop"), i, v)
    {
        uint64_t m;
        if (!json_is_string(v) || rt_cap_parse(json_string_value(v), &m) < 0)
            return err_set(err, -EINVAL, "unknown capability: \"%s\"",
                           json_is_string(v) ? json_string_value(v) : "?");
    }
    json_array_foreach(json_object_get(hc, "SecurityOpt"), i, v)
    {
        const char *o = json_string_value(v);
        if (!o)
            return err_set(err, -EINVAL, "HostConfig.SecurityOpt must be a list of strings");
        if (strcmp(o, "no-new-privileges") == 0 || strcmp(o, "no-new-privileges:true") == 0 ||
            strcmp(o, "no-new-privileges=true") == 0 || strcmp(o, "no-new-privileges:false") == 0 ||
            strcmp(o, "no-new-privileges=false") == 0 || strcmp(o, "seccomp=unconfined") == 0 ||
            strcmp(o, "seccomp:unconfined") == 0 || strcmp(o, "apparmor=unconfined") == 0 ||
            strcmp(o, "label=disable") == 0 || strcmp(o, "label:disable") == 0)
            continue;
        return err_set(err, -EINVAL, "unsupported security option: %s", o);
    }
    {
        struct rt_health_cfg hcfg;
        int hr = rt_health_parse(json_object_get(cfg, "Healthcheck"), &hcfg, NULL, err);
        if (hr < 0)
            return hr;
    }
    return 0;
}

/* Merge "K=V" lists: later entries override earlier ones with the same key. */
static void env_merge(json_t *dst, json_t *src)
{
    size_t i;
    json_t *v;

    json_array_foreach(src, i, v)
    {
        const char *s = json_string_value(v);
        const char *eq = strchr(s, '=');
        size_t klen = eq ? (size_t)(eq - s) : strlen(s);
        size_t j;
        json_t *d;
        bool replaced = false;

        json_array_foreach(dst, j, d)
        {
            const char *ds = json_string_value(d);
            if (strncmp(ds, s, klen) == 0 && (ds[klen] == '=' || ds[klen] == '\0')) {
                json_array_set(dst, j, v);
                replaced = true;
                break;
            }
        }
        if (!replaced)
            json_array_append(dst, v);
    }
}

/* Fill the container Config from the image config the way dockerd does. */
static int apply_image_defaults(json_t *cfg, const struct rt_image *img, const char *id,
                                struct err *err)
{
    json_error_t jerr;
    json_t *icfg_doc = img->config_json ? json_loads(img->config_json, 0, &jerr) : NULL;
    json_t *icfg = json_object_get(icfg_doc, "config");
    json_t *env = json_array();
    json_t *v;
    bool user_entry =
        json_object_get(cfg, "Entrypoint") && !json_is_null(json_object_get(cfg, "Entrypoint"));
    bool user_cmd = json_object_get(cfg, "Cmd") && !json_is_null(json_object_get(cfg, "Cmd"));
    json_t *entry;
    json_t *cmd;

    /* Env: image first, then the user's. */
    env_merge(env, json_object_get(icfg, "Env"));
    env_merge(env, json_object_get(cfg, "Env"));
    bool has_path = false;
    size_t i;
    json_array_foreach(env, i, v)
    {
        if (strncmp(json_string_value(v), "PATH=", 5) == 0)
            has_path = true;
    }
    if (!has_path)
        json_array_insert_new(env, 0, json_string(DEFAULT_PATH_ENV));
    json_object_set_new(cfg, "Env", env);

    entry = as_string_array(user_entry ? json_object_get(cfg, "Entrypoint")
                                       : json_object_get(icfg, "Entrypoint"));
    if (user_cmd)
        cmd = as_string_array(json_object_get(cfg, "Cmd"));
    else if (!user_entry)
        cmd = as_string_array(json_object_get(icfg, "Cmd"));
    else
        cmd = json_array();
    /* A user entrypoint of [""] means "no entrypoint". */
    if (json_array_size(entry) == 1 && json_string_length(json_array_get(entry, 0)) == 0)
        json_array_clear(entry);
    if (json_array_size(entry) + json_array_size(cmd) == 0) {
        json_decref(entry);
        json_decref(cmd);
        json_decref(icfg_doc);
        return err_set(err, -EINVAL, "No command specified");
    }
    json_object_set_new(cfg, "Entrypoint", json_array_size(entry) ? entry : json_null());
    if (!json_array_size(entry))
        json_decref(entry);
    json_object_set_new(cfg, "Cmd", cmd);

    if (!json_string_length(json_object_get(cfg, "WorkingDir")))
        json_object_set_new(
            cfg, "WorkingDir",
            json_string(json_string_value(json_object_get(icfg, "WorkingDir")) ?: ""));
    if (!json_string_length(json_object_get(cfg, "User")))
        json_object_set_new(cfg, "User",
                            json_string(json_string_value(json_object_get(icfg, "User")) ?: ""));
    if (!json_string_length(json_object_get(cfg, "Hostname"))) {
        char host[13];
        (void)snprintf(host, sizeof(host), "%.12s", id);
        json_object_set_new(cfg, "Hostname", json_string(host));
    }
    if (!json_string_length(json_object_get(cfg, "StopSignal")) &&
        json_string_length(json_object_get(icfg, "StopSignal")))
        json_object_set(cfg, "StopSignal", json_object_get(icfg, "StopSignal"));
    /* Labels: image labels, overridden by the user's. */
    json_t *labels = json_object();
    if (json_is_object(json_object_get(icfg, "Labels")))
        json_object_update(labels, json_object_get(icfg, "Labels"));
    if (json_is_object(json_object_get(cfg, "Labels")))
        json_object_update(labels, json_object_get(cfg, "Labels"));
    json_object_set_new(cfg, "Labels", labels);
    if (json_is_object(json_object_get(icfg, "ExposedPorts"))) {
        json_t *ports = json_object();
        json_object_update(ports, json_object_get(icfg, "ExposedPorts"));
        if (json_is_object(json_object_get(cfg, "ExposedPorts")))
            json_object_update(ports, json_object_get(cfg, "ExposedPorts"));
        json_object_set_new(cfg, "ExposedPorts", ports);
    }
    {
        /* Healthcheck: the user's fields override the image's one by one
         * (an empty Test or a zero duration inherits), like dockerd. */
        json_t *ihc = json_object_get(icfg, "Healthcheck");
        json_t *uhc = json_object_get(cfg, "Healthcheck");
        if (json_is_object(ihc) && (!uhc || json_is_null(uhc))) {
            json_object_set(cfg, "Healthcheck", ihc);
        } else if (json_is_object(ihc) && json_is_object(uhc)) {
            static const char *const keys[] = {"Test", "Interval", "Timeout", "StartPeriod",
                                               "Retries"};
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                json_t *uv = json_object_get(uhc, keys[k]);
                bool empty = !uv || json_is_null(uv) ||
                             (json_is_array(uv) && json_array_size(uv) == 0) ||
                             (json_is_integer(uv) && json_integer_value(uv) == 0);
                if (empty && json_object_get(ihc, keys[k]))
                    json_object_set(uhc, keys[k], json_object_get(ihc, keys[k]));
            }
        }
    }
    json_decref(icfg_doc);
    return 0;
}

static int write_etc_files(struct rt_container *c, struct err *err)
{
    char path[4096];
    char text[1024];
    const char *host = json_string_value(json_object_get(c->config, "Hostname"));
    const char *nm = json_string_value(json_object_get(c->host_config, "NetworkMode"));
    bool hostnet = nm && strcmp(nm, "host") == 0;
    char *resolv = NULL;
    int r;

    (void)snprintf(path, sizeof(path), "%s/hostname", c->dir);
    (void)snprintf(text, sizeof(text), "%s\n", host);
    if ((r = write_file_atomic(path, text, strlen(text), 0644, false)) < 0)
        return err_set(err, r, "writing %s: %s", path, strerror(-r));
    (void)snprintf(path, sizeof(path), "%s/hosts", c->dir);
    (void)snprintf(text, sizeof(text),
                   "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                   "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                   "ff02::2\tip6-allrouters\n%s%s%s",
                   hostnet ? "" : "127.0.1.1\t", hostnet ? "" : host, hostnet ? "" : "\n");
    if ((r = write_file_atomic(path, text, strlen(text), 0644, false)) < 0)
        return err_set(err, r, "writing %s: %s", path, strerror(-r));
    /* The host's resolvers are only reachable with the host's network; a
     * container with its own (empty) network namespace gets an empty file,
     * as Docker gives --network none. */
    if (hostnet && read_file("/etc/resolv.conf", &resolv, NULL, 64 * 1024) == 0) {
        (void)snprintf(path, sizeof(path), "%s/resolv.conf", c->dir);
        r = write_file_atomic(path, resolv, strlen(resolv), 0644, false);
        free(resolv);
    } else {
        (void)snprintf(path, sizeof(path), "%s/resolv.conf", c->dir);
        r = write_file_atomic(path, "", 0, 0644, false);
    }
    if (r < 0)
        return err_set(err, r, "writing %s: %s", path, strerror(-r));
    return 0;
}

int rt_container_create(struct rt *rt, const char *name, json_t *config, json_t *host_config,
                        struct rt_container **ret, struct err *err)
{
    char id[ID_HEX_LEN + 1];
    struct rt_image *img = NULL;
    struct rt_container *c;
    const char *image;
    char path[4096];
    json_t *networking = NULL;
    int r;

    if (!json_is_object(config))
        return err_set(err, -EINVAL, "container config is missing or not an object");
    if (host_config && !json_is_object(host_config) && !json_is_null(host_config))
        return err_set(err, -EINVAL, "HostConfig must be an object");
    if (name && name[0] == '/')
        name++;
    if (name && *name && !name_valid(name))
        return err_set(err, -EINVAL,
                       "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                       name);
    if (name && *name) {
        struct rt_container *other;
        for (other = rt->head; other; other = other->next) {
            if (strcmp(other->name, name) == 0)
                return err_set(err, -EEXIST,
                               "Conflict. The container name \"/%s\" is already in use by "
                               "container \"%s\". You have to remove (or rename) that container "
                               "to be able to reuse that name.",
                               name, other->id);
        }
    }
    image = json_string_value(json_object_get(config, "Image"));
    if (!image || !*image)
        return err_set(err, -EINVAL, "No image specified");
    json_t *cfg = json_deep_copy(config);
    json_t *hc = json_is_object(host_config) ? json_deep_copy(host_config) : json_object();
    if (!cfg || !hc) {
        json_decref(cfg);
        json_decref(hc);
        return err_set(err, -ENOMEM, "out of memory");
    }
    networking = json_object_get(cfg, "NetworkingConfig");
    networking = json_is_object(networking) ? json_incref(networking) : NULL;
    json_object_del(cfg, "NetworkingConfig");
    r = validate_config(cfg, hc, rt->net_hooks.validate != NULL, err);
    if (r < 0)
        goto fail_json;
    if (rt->net_hooks.validate) {
        r = rt->net_hooks.validate(rt->net_hooks.arg, cfg, hc, networking, err);
        if (r < 0)
            goto fail_json;
    }
    r = rt_image_get(rt->images, image, &img, err);
    if (r == -ENOENT) {
        char ref[512];
        /* Docker names the image as normalised ("nope:latest"): the CLI
         * matches on it before it offers to pull. */
        if (rt_image_normalize_ref(image, ref) == 0)
            err_set(err, -ENOENT, "No such image: %s", ref);
        goto fail_json;
    }
    if (r < 0)
        goto fail_json;
    if ((r = id_new_hex(id)) < 0) {
        err_set(err, r, "generating an id: %s", strerror(-r));
        goto fail_json;
    }
    r = apply_image_defaults(cfg, img, id, err);
    if (r < 0)
        goto fail_json;
    /* Fill what inspect shows for defaults. */
    if (!json_string_length(json_object_get(hc, "NetworkMode")))
        json_object_set_new(hc, "NetworkMode", json_string("default"));
    if (!json_is_object(json_object_get(hc, "LogConfig")))
        json_object_set_new(hc, "LogConfig",
                            json_pack("{s:s, s:{}}", "Type", "json-file", "Config"));
    if (!json_string_length(json_object_get(json_object_get(hc, "LogConfig"), "Type")))
        json_object_set_new(json_object_get(hc, "LogConfig"), "Type", json_string("json-file"));
    if (!json_is_object(json_object_get(json_object_get(hc, "LogConfig"), "Config")))
        json_object_set_new(json_object_get(hc, "LogConfig"), "Config", json_object());
    if (!json_is_object(json_object_get(hc, "RestartPolicy")))
        json_object_set_new(hc, "RestartPolicy",
                            json_pack("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0));
    if (!json_integer_value(json_object_get(hc, "ShmSize")))
        json_object_set_new(hc, "ShmSize", json_integer(64 * 1024 * 1024));
    if (json_integer_value(json_object_get(hc, "Memory")) > 0 &&
        !json_integer_value(json_object_get(hc, "MemorySwap")))
        json_object_set_new(hc, "MemorySwap",
                            json_integer(2 * json_integer_value(json_object_get(hc, "Memory"))));

    c = container_alloc(rt, id);
    if (!c) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto fail_json;
    }
    c->name = name && *name ? strdup(name) : generate_name(rt, id);
    c->config = cfg;
    c->host_config = hc;
    c->networking = networking;
    cfg = hc = networking = NULL;
    (void)snprintf(c->image_id, sizeof(c->image_id), "%s", img->id);
    c->created_ns = time_now_ns();
    c->state = RT_STATE_CREATED;
    if (!c->name) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto fail_c;
    }
    if (mkdir(c->dir, 0700) < 0) {
        r = err_set(err, -errno, "creating %s: %s", c->dir, strerror(errno));
        goto fail_c;
    }
    static const char *const subdirs[] = {"upper", "work", "rootfs"};
    for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
        (void)snprintf(path, sizeof(path), "%s/%s", c->dir, subdirs[i]);
        if (mkdir(path, 0755) < 0) {
            r = err_set(err, -errno, "creating %s: %s", path, strerror(errno));
            goto fail_dir;
        }
    }
    if ((r = write_etc_files(c, err)) < 0)
        goto fail_dir;
    if ((r = rt__container_save(c)) < 0) {
        err_set(err, r, "saving container state: %s", strerror(-r));
        goto fail_dir;
    }
    rt_image_free(img);
    list_add(rt, c);
    log_debug("created container %.12s (%s)", c->id, c->name);
    rt__event(c, "create", NULL);
    *ret = c;
    return 0;
fail_dir:
    (void)rm_rf(c->dir);
fail_c:
    container_free(c);
fail_json:
    rt_image_free(img);
    json_decref(cfg);
    json_decref(hc);
    json_decref(networking);
    return r;
}

/* ---- waiters and output --------------------------------------------------- */

static void waiter_unlink(struct rt_waiter *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->next = w->prev = w;
}

struct rt_waiter *rt_container_wait(struct rt_container *c, enum rt_wait_cond cond, rt_wait_cb cb,
                                    void *arg)
{
    struct rt_waiter *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->c = rt_container_ref(c);
    w->cond = cond;
    w->cb = cb;
    w->arg = arg;
    w->next = &c->waiters;
    w->prev = c->waiters.prev;
    c->waiters.prev->next = w;
    c->waiters.prev = w;
    return w;
}

void rt_waiter_cancel(struct rt_waiter *w)
{
    if (!w)
        return;
    waiter_unlink(w);
    rt_container_unref(w->c);
    free(w);
}

/* Fire the waiters whose condition matches `removed` (false: an exit). */
static void fire_waiters(struct rt_container *c, bool removed, const char *msg)
{
    struct rt_waiter ready = {0};

    ready.next = ready.prev = &ready;
    for (struct rt_waiter *w = c->waiters.next, *n; w != &c->waiters; w = n) {
        n = w->next;
        if (!removed && w->cond == RT_WAIT_REMOVED)
            continue;
        waiter_unlink(w);
        w->next = &ready;
        w->prev = ready.prev;
        ready.prev->next = w;
        ready.prev = w;
    }
    while (ready.next != &ready) {
        struct rt_waiter *w = ready.next;
        waiter_unlink(w);
        w->cb(w->arg, c->exit_code, msg);
        rt_container_unref(w->c);
        free(w);
    }
}

struct rt_attach *rt_container_attach(struct rt_container *c, rt_output_cb on_output,
                                      rt_end_cb on_end, void *arg)
{
    struct rt_attach *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->c = rt_container_ref(c);
    a->on_output = on_output;
    a->on_end = on_end;
    a->arg = arg;
    a->next = &c->attaches;
    a->prev = c->attaches.prev;
    c->attaches.prev->next = a;
    c->attaches.prev = a;
    return a;
}

void rt_attach_close(struct rt_attach *a)
{
    if (!a)
        return;
    a->prev->next = a->next;
    a->next->prev = a->prev;
    rt_container_unref(a->c);
    free(a);
}

#define STDIN_PENDING_MAX (4 * 1024 * 1024)

int rt_attach_stdin(struct rt_attach *a, const void *data, size_t len)
{
    struct rt_container *c = a->c;
    const char *p = data;

    if (!rt_container_open_stdin(c))
        return -EBADF;
    if (c->stdin_pending.len > 0 || !rt__monitor_ready(c)) {
        /* Not connected yet: keep it for the start. */
        if (c->stdin_pending.len + len > STDIN_PENDING_MAX)
            return -ENOBUFS;
        return buf_append(&c->stdin_pending, data, len);
    }
    while (len > 0) {
        size_t n = len > MON_MAX_PAYLOAD ? MON_MAX_PAYLOAD : len;
        int r = rt__monitor_send(c, MON_C_STDIN, p, n);
        if (r < 0)
            return r;
        p += n;
        len -= n;
    }
    return 0;
}

int rt_attach_stdin_eof(struct rt_attach *a)
{
    struct rt_container *c = a->c;

    if (!rt_container_open_stdin(c))
        return 0;
    if (c->stdin_pending.len > 0 || !rt__monitor_ready(c) ||
        rt__monitor_send(c, MON_C_STDIN_EOF, NULL, 0) < 0) {
        c->stdin_eof_pending = true;
        return 0;
    }
    return 0;
}

void rt__container_flush_stdin(struct rt_container *c)
{
    size_t off = 0;

    while (off < c->stdin_pending.len) {
        size_t n = c->stdin_pending.len - off;
        if (n > MON_MAX_PAYLOAD)
            n = MON_MAX_PAYLOAD;
        if (rt__monitor_send(c, MON_C_STDIN, c->stdin_pending.data + off, n) < 0)
            break;
        off += n;
    }
    buf_consume(&c->stdin_pending, off);
    if (c->stdin_pending.len == 0 && c->stdin_eof_pending) {
        if (rt__monitor_send(c, MON_C_STDIN_EOF, NULL, 0) == 0)
            c->stdin_eof_pending = false;
    }
}

int rt_container_resize(struct rt_container *c, unsigned rows, unsigned cols, struct err *err)
{
    unsigned char p[4] = {(unsigned char)(rows >> 8), (unsigned char)rows,
                          (unsigned char)(cols >> 8), (unsigned char)cols};

    if (c->state != RT_STATE_RUNNING)
        return err_set(err, -EBUSY, "Container %s is not running", c->id);
    if (rows > 0xffff || cols > 0xffff)
        return err_set(err, -EINVAL, "invalid terminal size");
    if (!rt_container_tty(c))
        return 0;
    return rt__monitor_send(c, MON_C_RESIZE, p, sizeof(p));
}

void rt__container_output(struct rt_container *c, enum rt_stream s, const char *data, size_t len)
{
    for (struct rt_attach *a = c->attaches.next, *n; a != &c->attaches; a = n) {
        n = a->next; /* the callback may close a */
        a->on_output(a->arg, s, data, len);
    }
}

static void end_attaches(struct rt_container *c)
{
    rt_container_ref(c);
    while (c->attaches.next != &c->attaches) {
        struct rt_attach *a = c->attaches.next;
        /* unlink first: on_end is expected to close it, but must not loop */
        a->prev->next = a->next;
        a->next->prev = a->prev;
        a->next = a->prev = a;
        a->on_end(a->arg);
    }
    rt_container_unref(c);
}

/* ---- start ---------------------------------------------------------------- */

int rt_container_start(struct rt_container *c, rt_done_cb cb, void *arg, struct err *err)
{
    int r;

    if (c->state == RT_STATE_RUNNING)
        return err_set(err, ERR_NOT_MODIFIED, "container already started");
    if (c->restarting)
        cancel_restart(c); /* start now */
    if (c->starting)
        return err_set(err, -EBUSY, "container %s is already starting", c->id);
    if (c->state == RT_STATE_REMOVING || c->state == RT_STATE_DEAD || c->remove_after_exit)
        return err_set(err, -EBUSY, "container %s is marked for removal and cannot be started",
                       c->id);
    if (c->conn)
        rt__monitor_detach(c); /* a leftover connection from the previous run */
    c->starting = true;
    c->start_cb = cb;
    c->start_arg = arg;
    c->manual_stop = false;
    rt_container_ref(c);
    if (c->rt->net_hooks.prepare && !c->net_prepared) {
        c->netns_path[0] = '\0';
        r = c->rt->net_hooks.prepare(c->rt->net_hooks.arg, c, c->netns_path, sizeof(c->netns_path),
                                     err);
        if (r < 0) {
            c->starting = false;
            c->start_cb = NULL;
            rt_container_unref(c);
            return r;
        }
        c->net_prepared = true;
    }
    r = rt__monitor_start(c, err);
    if (r < 0) {
        c->starting = false;
        c->start_cb = NULL;
        net_release(c, false);
        rt_container_unref(c);
        return r;
    }
    return 0;
}

static void finish_start(struct rt_container *c, int status, const char *msg)
{
    rt_done_cb cb = c->start_cb;
    void *arg = c->start_arg;

    c->starting = false;
    c->start_cb = NULL;
    c->start_arg = NULL;
    if (cb)
        cb(arg, status, msg);
    rt_container_unref(c);
}

void rt__container_started(struct rt_container *c, int pid)
{
    c->state = RT_STATE_RUNNING;
    c->pid = pid;
    c->exit_code = 0;
    c->oom_killed = false;
    free(c->error);
    c->error = NULL;
    c->started_ns = time_now_ns();
    c->finished_ns = 0;
    c->paused = false;
    (void)rt__container_save(c);
    log_debug("started container %.12s pid %d", c->id, pid);
    rt_health_start(c);
    rt__event(c, "start", NULL);
    if (c->starting)
        finish_start(c, 0, NULL);
}

static int exit_code_for_error(const char *msg)
{
    if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory"))
        return 127;
    if (strstr(msg, "permission denied") || strstr(msg, "is a directory"))
        return 126;
    return 128;
}

void rt__container_start_failed(struct rt_container *c, int code, const char *msg)
{
    (void)code;
    free(c->error);
    c->error = strdup(msg);
    c->exit_code = exit_code_for_error(msg);
    c->pid = 0;
    c->finished_ns = time_now_ns();
    /* Docker leaves a container whose start failed in its previous state
     * ("created", or "exited" for a restart) with the error recorded. */
    if (c->state == RT_STATE_RUNNING)
        c->state = RT_STATE_EXITED;
    net_release(c, false);
    (void)rt__container_save(c);
    log_info("container %.12s failed to start: %s", c->id, msg);
    if (c->starting)
        finish_start(c, -EINVAL, msg);
    /* Waiters for the next exit see the failure as an exit (docker run). */
    fire_waiters(c, false, NULL);
    end_attaches(c);
    if (c->remove_after_exit || cfg_bool(c->host_config, "AutoRemove")) {
        c->remove_after_exit = false;
        (void)rt_container_remove(c, true, c->remove_cb, c->remove_arg, NULL);
    }
}

/* ---- exit ----------------------------------------------------------------- */

static void stop_op_closed(uv_handle_t *h)
{
    struct rt_stop_op *op = h->data;

    rt_container_unref(op->c);
    free(op);
}

static void complete_stops(struct rt_container *c, int status)
{
    struct rt_stop_op *op = c->stops;

    c->stops = NULL;
    while (op) {
        struct rt_stop_op *next = op->next;
        uv_timer_stop(&op->timer);
        if (op->cb)
            op->cb(op->arg, status, NULL);
        uv_close((uv_handle_t *)&op->timer, stop_op_closed);
        op = next;
    }
}

void rt__container_exited(struct rt_container *c, int exit_code, bool oom, const char *error)
{
    bool was_running = c->state == RT_STATE_RUNNING;

    if (c->starting) {
        /* The process ended before we heard it started (exec failure after
         * the handshake, or the monitor died). */
        rt__container_start_failed(c, -EINVAL, error ? error : "container exited during start");
        return;
    }
    if (!was_running && c->state != RT_STATE_CREATED)
        return;
    rt_container_ref(c);
    c->state = RT_STATE_EXITED;
    c->paused = false;
    c->exit_code = exit_code;
    c->oom_killed = oom;
    c->pid = 0;
    c->finished_ns = time_now_ns();
    buf_release(&c->stdin_pending);
    c->stdin_eof_pending = false;
    if (error && *error) {
        free(c->error);
        c->error = strdup(error);
    }
    (void)rt__container_save(c);
    rt_health_stop(c);
    log_debug("container %.12s exited with %d", c->id, exit_code);
    rt__monitor_detach(c);
    net_release(c, false);
    end_attaches(c);
    fire_waiters(c, false, NULL);
    {
        char code[16];
        const char *attrs[] = {"exitCode", code, NULL};
        (void)snprintf(code, sizeof(code), "%d", exit_code);
        if (oom)
            rt__event(c, "oom", NULL);
        rt__event(c, "die", attrs);
    }
    if (c->stops)
        rt__event(c, "stop", NULL);
    complete_stops(c, 0);
    policy_after_exit(c);
    if (c->remove_after_exit || cfg_bool(c->host_config, "AutoRemove")) {
        rt_done_cb cb = c->remove_cb;
        void *arg = c->remove_arg;
        c->remove_after_exit = false;
        c->remove_cb = NULL;
        (void)rt_container_remove(c, true, cb, arg, NULL);
    }
    rt_container_unref(c);
}

/* ---- stop / kill ---------------------------------------------------------- */

static int signal_number(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
                {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
                {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
                {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
                {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
                {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
                {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
                {"PWR", SIGPWR},       {"SYS", SIGSYS}};
    uint64_t n;

    if (!s || !*s)
        return -EINVAL;
    if (parse_u64(s, &n) == 0)
        return n >= 1 && n <= 64 ? (int)n : -EINVAL;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
        if (strcasecmp(s, sigs[i].name) == 0)
            return sigs[i].sig;
    }
    if (strncasecmp(s, "RTMIN+", 6) == 0 && parse_u64(s + 6, &n) == 0 && n <= 30)
        return SIGRTMIN + (int)n;
    return -EINVAL;
}

int rt_signal_parse(const char *s);
int rt_signal_parse(const char *s)
{
    return signal_number(s);
}

static int send_signal(struct rt_container *c, int sig)
{
    unsigned char p[4] = {(unsigned char)(sig >> 24), (unsigned char)(sig >> 16),
                          (unsigned char)(sig >> 8), (unsigned char)sig};

    return rt__monitor_send(c, MON_C_SIGNAL, p, sizeof(p));
}

/* A paused container gets its signal when it is thawed (Docker unpauses
 * for a stop or kill). */
static void thaw_for_signal(struct rt_container *c)
{
    char cg[512];
    struct err e = {0};

    if (!c->paused)
        return;
    (void)snprintf(cg, sizeof(cg), "%s/%s", c->rt->cgroup_parent, c->id);
    if (rt_cgroup_freeze(c->rt->cgroup_root, c->rt->cg_mode, cg, false, &e) < 0)
        log_warn("container %.12s: thaw: %s", c->id, e.msg);
    c->paused = false;
    (void)rt__container_save(c);
}

static void kill_event(struct rt_container *c, int sig)
{
    char s[16];
    const char *attrs[] = {"signal", s, NULL};

    (void)snprintf(s, sizeof(s), "%d", sig);
    rt__event(c, "kill", attrs);
}

int rt_container_kill(struct rt_container *c, int sig, struct err *err)
{
    int r;

    if (sig <= 0 || sig > 64)
        return err_set(err, -EINVAL, "Invalid signal: %d", sig);
    if (c->restarting) {
        /* the pending restart is all there is to stop */
        c->manual_stop = true;
        cancel_restart(c);
        kill_event(c, sig);
        return 0;
    }
    if (c->state != RT_STATE_RUNNING)
        return err_set(err, -EBUSY, "Container %s is not running", c->id);
    c->manual_stop = true;
    (void)rt__container_save(c);
    r = send_signal(c, sig);
    if (r < 0)
        return err_set(err, r, "cannot signal container %s: %s", c->id, strerror(-r));
    kill_event(c, sig);
    thaw_for_signal(c);
    return 0;
}

int rt_container_pause(struct rt_container *c, struct err *err)
{
    char cg[512];
    int r;

    if (c->state != RT_STATE_RUNNING)
        return err_set(err, -EBUSY, "Container %s is not running", c->id);
    if (c->paused)
        return err_set(err, -EBUSY, "Container %s is already paused", c->id);
    (void)snprintf(cg, sizeof(cg), "%s/%s", c->rt->cgroup_parent, c->id);
    r = rt_cgroup_freeze(c->rt->cgroup_root, c->rt->cg_mode, cg, true, err);
    if (r < 0) {
        struct err e2 = {0};
        (void)rt_cgroup_freeze(c->rt->cgroup_root, c->rt->cg_mode, cg, false, &e2);
        return err_wrap(err, "Cannot pause container %s", c->id);
    }
    c->paused = true;
    (void)rt__container_save(c);
    rt__event(c, "pause", NULL);
    return 0;
}

int rt_container_unpause(struct rt_container *c, struct err *err)
{
    char cg[512];
    int r;

    if (c->state != RT_STATE_RUNNING || !c->paused)
        return err_set(err, -EBUSY, "Container %s is not paused", c->id);
    (void)snprintf(cg, sizeof(cg), "%s/%s", c->rt->cgroup_parent, c->id);
    r = rt_cgroup_freeze(c->rt->cgroup_root, c->rt->cg_mode, cg, false, err);
    if (r < 0)
        return err_wrap(err, "Cannot unpause container %s", c->id);
    c->paused = false;
    (void)rt__container_save(c);
    rt__event(c, "unpause", NULL);
    return 0;
}

int rt_container_rename(struct rt_container *c, const char *name, struct err *err)
{
    char *old;
    char *dup;
    char oldattr[300];
    const char *attrs[] = {"oldName", oldattr, NULL};

    if (!name || !*name)
        return err_set(err, -EINVAL, "Neither old nor new names may be empty");
    if (name[0] == '/')
        name++;
    if (!name_valid(name))
        return err_set(err, -EINVAL,
                       "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                       name);
    if (strcmp(name, c->name) == 0)
        return err_set(err, -EINVAL, "Renaming a container with the same name as its current name");
    for (struct rt_container *o = c->rt->head; o; o = o->next) {
        if (strcmp(o->name, name) == 0)
            return err_set(err, -EEXIST,
                           "Error when allocating new name: Conflict. The container name \"/%s\" "
                           "is already in use by container \"%s\". You have to remove (or rename) "
                           "that container to be able to reuse that name.",
                           name, o->id);
    }
    if (c->state == RT_STATE_REMOVING || c->state == RT_STATE_DEAD)
        return err_set(err, -EBUSY, "container %s is being removed", c->id);
    dup = strdup(name);
    if (!dup)
        return err_set(err, -ENOMEM, "out of memory");
    old = c->name;
    c->name = dup;
    if (rt__container_save(c) < 0) {
        c->name = old;
        free(dup);
        return err_set(err, -EIO, "saving the new name failed");
    }
    (void)snprintf(oldattr, sizeof(oldattr), "/%s", old);
    free(old);
    rt__event(c, "rename", attrs);
    return 0;
}

static void stop_timeout(uv_timer_t *t)
{
    struct rt_stop_op *op = t->data;

    if (op->c->state == RT_STATE_RUNNING) {
        log_debug("container %.12s did not stop in time, killing", op->c->id);
        if (send_signal(op->c, SIGKILL) == 0)
            kill_event(op->c, SIGKILL);
        thaw_for_signal(op->c);
    }
    op->fired = true;
}

int rt_container_stop(struct rt_container *c, int timeout_s, rt_done_cb cb, void *arg,
                      struct err *err)
{
    struct rt_stop_op *op;
    int sig = SIGTERM;
    const char *ss = json_string_value(json_object_get(c->config, "StopSignal"));
    int r;

    if (c->restarting) {
        c->manual_stop = true;
        cancel_restart(c);
        rt__event(c, "stop", NULL);
        if (cb)
            cb(arg, 0, NULL);
        return 0;
    }
    if (c->state != RT_STATE_RUNNING)
        return err_set(err, ERR_NOT_MODIFIED, "container already stopped");
    c->manual_stop = true;
    (void)rt__container_save(c);
    if (ss && *ss) {
        int s = signal_number(ss);
        if (s > 0)
            sig = s;
    }
    if (timeout_s < 0) {
        json_t *st = json_object_get(c->config, "StopTimeout");
        timeout_s = json_is_integer(st) ? (int)json_integer_value(st) : 10;
    }
    op = calloc(1, sizeof(*op));
    if (!op)
        return err_set(err, -ENOMEM, "out of memory");
    op->c = rt_container_ref(c);
    op->cb = cb;
    op->arg = arg;
    uv_timer_init(c->rt->loop, &op->timer);
    op->timer.data = op;
    op->next = c->stops;
    c->stops = op;
    r = send_signal(c, timeout_s == 0 ? SIGKILL : sig);
    if (r < 0)
        log_warn("container %.12s: stop signal failed: %s", c->id, strerror(-r));
    else
        kill_event(c, timeout_s == 0 ? SIGKILL : sig);
    thaw_for_signal(c);
    if (timeout_s > 0)
        uv_timer_start(&op->timer, stop_timeout, (uint64_t)timeout_s * 1000, 0);
    return 0;
}

/* ---- remove --------------------------------------------------------------- */

/* The monitor of a container whose start failed reports the failure first
 * and writes its exit record (exit.pb, through exit.pb.tmp) into the
 * container's directory afterwards, so a file can appear while the tree is
 * being removed (ENOTEMPTY). Once the directory is gone its writes fail, so
 * trying again shortly is enough. */
static int rm_tree(const char *path)
{
    int r = rm_rf(path);

    for (int i = 0; i < 50 && r == -ENOTEMPTY; i++) {
        (void)usleep(10 * 1000);
        r = rm_rf(path);
    }
    return r;
}

static void rm_work(uv_work_t *w)
{
    struct rm_work *rw = container_of(w, struct rm_work, work);
    int r1 = rm_tree(rw->dir);
    int r2 = rm_tree(rw->state_dir);

    rw->status = r1 < 0 ? r1 : r2;
}

static void rm_done(uv_work_t *w, int status)
{
    struct rm_work *rw = container_of(w, struct rm_work, work);
    struct rt_container *c = rw->c;
    rt_done_cb cb = c->remove_cb;
    void *arg = c->remove_arg;

    (void)status;
    if (rw->status < 0)
        log_warn("removing files of container %.12s: %s", c->id, strerror(-rw->status));
    c->state = RT_STATE_DEAD;
    c->remove_cb = NULL;
    rt__event(c, "destroy", NULL);
    fire_waiters(c, true, NULL);
    end_attaches(c);
    if (cb)
        cb(arg, 0, NULL);
    free(rw->dir);
    free(rw->state_dir);
    free(rw);
    rt_container_unref(c);
}

static int do_remove(struct rt_container *c, rt_done_cb cb, void *arg, struct err *err)
{
    struct rm_work *rw = calloc(1, sizeof(*rw));
    struct rt *rt = c->rt;
    char cg[512];

    if (!rw)
        return err_set(err, -ENOMEM, "out of memory");
    rw->dir = strdup(c->dir);
    rw->state_dir = strdup(c->state_dir);
    if (!rw->dir || !rw->state_dir) {
        free(rw->dir);
        free(rw->state_dir);
        free(rw);
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->state = RT_STATE_REMOVING;
    c->remove_cb = cb;
    c->remove_arg = arg;
    (void)rt__container_save(c);
    rt__monitor_detach(c);
    net_release(c, true);
    /* The monitor removes the cgroup; do it again in case it died. */
    (void)snprintf(cg, sizeof(cg), "%s/%s", rt->cgroup_parent, c->id);
    (void)rt_cgroup_destroy(rt->cgroup_root, rt->cg_mode, cg, NULL);
    list_del(rt, c); /* the list's reference moves to the work item */
    rw->c = c;
    uv_queue_work(rt->loop, &rw->work, rm_work, rm_done);
    return 0;
}

int rt_container_remove(struct rt_container *c, bool force, rt_done_cb cb, void *arg,
                        struct err *err)
{
    if (c->state == RT_STATE_REMOVING || c->state == RT_STATE_DEAD || c->remove_after_exit)
        return err_set(err, -EBUSY, "removal of container %s is already in progress", c->id);
    if (c->restarting) {
        if (!force)
            return err_set(err, -EBUSY,
                           "You cannot remove a restarting container %s. Stop the container "
                           "before attempting removal or force remove",
                           c->id);
        cancel_restart(c);
    }
    if (c->state == RT_STATE_RUNNING || c->starting) {
        int r;
        if (!force)
            return err_set(err, -EBUSY,
                           "You cannot remove a running container %s. Stop the container before "
                           "attempting removal or force remove",
                           c->id);
        c->remove_after_exit = true;
        c->remove_cb = cb;
        c->remove_arg = arg;
        r = send_signal(c, SIGKILL);
        if (r == 0)
            kill_event(c, SIGKILL);
        thaw_for_signal(c);
        if (r < 0 && c->state == RT_STATE_RUNNING) {
            /* No monitor to ask: the container is gone or unreachable. */
            log_warn("container %.12s: no monitor, removing anyway", c->id);
            c->remove_after_exit = false;
            rt__container_exited(c, 137, false, "killed");
            if (c->state == RT_STATE_REMOVING)
                return 0;
            return do_remove(c, cb, arg, err);
        }
        return 0;
    }
    return do_remove(c, cb, arg, err);
}
