/*
 * runtime/cgroup.h - container cgroups on cgroup v1 (and hybrid hosts) and v2.
 *
 * libc only: linked into shoald and into the static shoal-monitor.
 * Every function takes the cgroup filesystem root ("/sys/fs/cgroup" in
 * production, a temporary directory in unit tests) so the file writes can be
 * checked without a kernel.
 *
 * `path` is relative to the hierarchy root, e.g. "shoal/<id>"; it must not
 * be absolute or contain "..".
 *
 * v1: one directory per mounted controller we use (memory, cpu, cpuacct,
 *     pids, freezer, devices, blkio, cpuset, systemd's name=systemd is ignored);
 *     the devices controller gets Docker's allow-list.
 * v2: one directory; the controllers are enabled top-down in
 *     cgroup.subtree_control of every ancestor first.
 * A hybrid host (v1 controllers + cgroup2 at <root>/unified) is treated as v1.
 *
 * Errors: 0 or a negative errno value with a message in err.
 */
#ifndef RUNTIME_CGROUP_H
#define RUNTIME_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

enum rt_cgroup_mode {
    RT_CGROUP_V1 = 1,
    RT_CGROUP_V2 = 2,
};

struct rt_cgroup_limits {
    int64_t memory;         /* bytes, 0 = unlimited */
    int64_t memory_swap;    /* mem+swap bytes, 0 = unset, -1 = unlimited */
    int64_t cpu_quota;      /* us per period, 0 = unlimited */
    uint64_t cpu_period;    /* us, 0 = 100000 */
    uint64_t cpu_shares;    /* 0 = leave default; v2 maps to cpu.weight */
    int64_t pids;           /* 0 = unlimited */
    bool devices_allow_all; /* privileged: no device restriction */
};

struct rt_cgroup_stats {
    uint64_t memory_usage; /* bytes, includes cache */
    uint64_t memory_limit; /* bytes, UINT64_MAX if none */
    uint64_t memory_inactive_file;
    uint64_t cpu_usage_ns; /* cumulative */
    uint64_t pids_current;
    /* added for `docker stats` (0 when the kernel does not report them) */
    uint64_t memory_max_usage; /* v1 memory.max_usage_in_bytes, v2 memory.peak */
    uint64_t cpu_user_ns;
    uint64_t cpu_system_ns;
    uint64_t throttle_periods;
    uint64_t throttled_periods;
    uint64_t throttled_ns;
};

/* Decide v1 or v2 from what is mounted at root (statfs magic of root and of
 * root/unified, or the presence of cgroup.controllers in unit tests). */
int rt_cgroup_detect(const char *root, enum rt_cgroup_mode *ret_mode, struct err *err);

/* Create the cgroup (parents too) and apply the limits. Idempotent. */
int rt_cgroup_create(const char *root, enum rt_cgroup_mode mode, const char *path,
                     const struct rt_cgroup_limits *limits, struct err *err);

/* Move pid into the cgroup (every v1 hierarchy, or the v2 one). */
int rt_cgroup_enter(const char *root, enum rt_cgroup_mode mode, const char *path, pid_t pid,
                    struct err *err);

/* Send sig to every process in the cgroup (v2 uses cgroup.kill for SIGKILL). */
int rt_cgroup_kill_all(const char *root, enum rt_cgroup_mode mode, const char *path, int sig,
                       struct err *err);

/* true if the kernel OOM-killed something in this cgroup. */
bool rt_cgroup_oom_killed(const char *root, enum rt_cgroup_mode mode, const char *path);

int rt_cgroup_stats(const char *root, enum rt_cgroup_mode mode, const char *path,
                    struct rt_cgroup_stats *ret_stats, struct err *err);

/* Freeze (true) or thaw (false) every process of the cgroup: v1 freezer.state
 * FROZEN/THAWED, v2 cgroup.freeze 1/0. Waits (up to ~1 s) until the freeze
 * is complete. -ENOENT if there is no freezer for the cgroup. */
int rt_cgroup_freeze(const char *root, enum rt_cgroup_mode mode, const char *path, bool frozen,
                     struct err *err);

/* Read a whole knob of the cgroup in the hierarchy of `controller` ("memory",
 * "cpuacct", "cpu", "pids", "freezer"; ignored on v2), e.g. "memory.stat".
 * *ret is malloc'd and NUL-terminated. */
int rt_cgroup_read(const char *root, enum rt_cgroup_mode mode, const char *path,
                   const char *controller, const char *file, char **ret, struct err *err);

/* Remove the cgroup directories, retrying briefly while tasks drain.
 * A cgroup that does not exist is not an error. */
int rt_cgroup_destroy(const char *root, enum rt_cgroup_mode mode, const char *path,
                      struct err *err);

/* v2 helper exposed for tests: Docker cpu shares (2..262144) -> cpu.weight (1..10000). */
uint64_t rt_cgroup_shares_to_weight(uint64_t shares);

#endif
