/*
 * runtime/cgroup.c - container cgroups on cgroup v1 (and hybrid hosts) and v2.
 *
 * libc only (linked into the static monitor). Every path is built from the
 * caller's `root`, so unit tests run the same code against a fake tree.
 *
 * Files are only written, never created: on cgroupfs the kernel creates them
 * at mkdir time; a fake tree in a test must pre-create them. The single
 * exception is an optional knob (memory.memsw.limit_in_bytes, memory.swap.max)
 * whose absence means the kernel lacks the feature and is silently skipped.
 */
#include "runtime/cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/macros.h"
#include "lib/util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

#define CG_FILE_MAX (1u << 20)

/* ---- v1 hierarchies ----------------------------------------------------- */

enum {
    CG_MEMORY = 1u << 0,
    CG_CPU = 1u << 1,
    CG_CPUACCT = 1u << 2,
    CG_PIDS = 1u << 3,
    CG_FREEZER = 1u << 4,
    CG_DEVICES = 1u << 5,
    CG_BLKIO = 1u << 6,
    CG_CPUSET = 1u << 7,
    CG_PERF_EVENT = 1u << 8,
    CG_NET_CLS = 1u << 9,
    CG_NET_PRIO = 1u << 10,
    CG_HUGETLB = 1u << 11,
};

static const struct {
    const char *name;
    unsigned bit;
} v1_known[] = {
    {"memory", CG_MEMORY},   {"cpu", CG_CPU},           {"cpuacct", CG_CPUACCT},
    {"pids", CG_PIDS},       {"freezer", CG_FREEZER},   {"devices", CG_DEVICES},
    {"blkio", CG_BLKIO},     {"cpuset", CG_CPUSET},     {"perf_event", CG_PERF_EVENT},
    {"net_cls", CG_NET_CLS}, {"net_prio", CG_NET_PRIO}, {"hugetlb", CG_HUGETLB},
};

#define V1_MAX_HIER 24

struct v1_hier {
    char dir[64]; /* entry name under root, e.g. "memory" or "cpu,cpuacct" */
    unsigned mask;
    dev_t dev;
    ino_t ino;
};

struct v1_set {
    struct v1_hier h[V1_MAX_HIER];
    size_t n;
};

/* Controllers named by a directory entry: "cpu,cpuacct" -> CG_CPU|CG_CPUACCT.
 * Named hierarchies (name=systemd) and unknown controllers give 0. */
static unsigned v1_mask_of(const char *name)
{
    unsigned mask = 0;
    const char *p = name;

    while (*p) {
        size_t len = strcspn(p, ",");
        for (size_t i = 0; i < ARRAY_SIZE(v1_known); i++) {
            if (strlen(v1_known[i].name) == len && memcmp(v1_known[i].name, p, len) == 0)
                mask |= v1_known[i].bit;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return mask;
}

/* Enumerate the v1 hierarchies under root that hold a controller we use.
 * Symlinks such as cpu -> cpu,cpuacct resolve to the same directory and
 * are merged (by device and inode), so each hierarchy is used once. */
static int v1_scan(const char *root, struct v1_set *set, struct err *err)
{
    DIR *d = opendir(root);
    struct dirent *de;

    set->n = 0;
    if (!d)
        return err_set(err, -errno, "cgroup: open %s: %s", root, strerror(errno));
    while ((de = readdir(d))) {
        char p[PATH_MAX];
        struct stat st;
        unsigned mask;
        size_t i;

        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(set->h[0].dir))
            continue;
        mask = v1_mask_of(de->d_name);
        if (!mask)
            continue;
        if (snprintf(p, sizeof(p), "%s/%s", root, de->d_name) >= (int)sizeof(p))
            continue;
        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        for (i = 0; i < set->n; i++) {
            if (set->h[i].dev == st.st_dev && set->h[i].ino == st.st_ino)
                break;
        }
        if (i < set->n) {
            set->h[i].mask |= mask;
            /* prefer the real (joined) directory name over a symlink */
            if (strchr(de->d_name, ','))
                memcpy(set->h[i].dir, de->d_name, strlen(de->d_name) + 1);
            continue;
        }
        if (set->n == V1_MAX_HIER)
            break;
        memcpy(set->h[set->n].dir, de->d_name, strlen(de->d_name) + 1); /* length checked */
        set->h[set->n].mask = mask;
        set->h[set->n].dev = st.st_dev;
        set->h[set->n].ino = st.st_ino;
        set->n++;
    }
    (void)closedir(d);
    if (set->n == 0)
        return err_set(err, -ENOENT, "cgroup: no v1 controller hierarchy under %s", root);
    return 0;
}

static const struct v1_hier *v1_find(const struct v1_set *set, unsigned bit)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->h[i].mask & bit)
            return &set->h[i];
    }
    return NULL;
}

/* ---- small file helpers -------------------------------------------------- */

static int path_join(char *out, size_t outlen, const char *a, const char *b, const char *c,
                     const char *d)
{
    int n = snprintf(out, outlen, "%s%s%s%s%s%s%s", a, b ? "/" : "", b ? b : "", c ? "/" : "",
                     c ? c : "", d ? "/" : "", d ? d : "");
    if (n < 0 || (size_t)n >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

static int write_knob(const char *dir, const char *file, const char *val, struct err *err)
{
    char p[PATH_MAX];
    int r;

    r = path_join(p, sizeof(p), dir, file, NULL, NULL);
    if (r < 0)
        return err_set(err, r, "cgroup: path too long: %s/%s", dir, file);
    r = write_file_str(p, val);
    if (r < 0)
        return err_set(err, r, "cgroup: write '%s' to %s: %s", val, p, strerror(-r));
    return 0;
}

/* Like write_knob, but a missing file (feature absent) is not an error. */
static int write_knob_optional(const char *dir, const char *file, const char *val, struct err *err)
{
    char p[PATH_MAX];

    if (path_join(p, sizeof(p), dir, file, NULL, NULL) < 0 || access(p, F_OK) < 0)
        return 0;
    return write_knob(dir, file, val, err);
}

static int write_knob_i64(const char *dir, const char *file, int64_t v, struct err *err)
{
    char s[32];

    (void)snprintf(s, sizeof(s), "%" PRId64, v);
    return write_knob(dir, file, s, err);
}

static int read_knob(const char *dir, const char *file, char **ret)
{
    char p[PATH_MAX];
    int r = path_join(p, sizeof(p), dir, file, NULL, NULL);

    if (r < 0)
        return r;
    return read_file(p, ret, NULL, CG_FILE_MAX);
}

static char *trim(char *s)
{
    size_t n;

    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Read a file holding one number ("max" gives UINT64_MAX). */
static int read_knob_u64(const char *dir, const char *file, uint64_t *ret)
{
    cleanup_free char *s = NULL;
    char *t;
    int r = read_knob(dir, file, &s);

    if (r < 0)
        return r;
    t = trim(s);
    if (strcmp(t, "max") == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    return parse_u64(t, ret);
}

/* Value of "key N" in a flat keyed file (memory.stat, memory.events, cpu.stat...). */
static int read_keyed_u64(const char *dir, const char *file, const char *key, uint64_t *ret)
{
    cleanup_free char *s = NULL;
    size_t klen = strlen(key);
    char *line, *save = NULL;
    int r = read_knob(dir, file, &s);

    if (r < 0)
        return r;
    for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return parse_u64(trim(line + klen + 1), ret);
    }
    return -ENOENT;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- path validation ----------------------------------------------------- */

static int check_path(const char *path, struct err *err)
{
    const char *p;

    if (!path || !*path)
        return err_set(err, -EINVAL, "cgroup: empty cgroup path");
    if (path[0] == '/')
        return err_set(err, -EINVAL, "cgroup: path '%s' must be relative", path);
    for (p = path; *p;) {
        size_t len = strcspn(p, "/");
        if ((len == 2 && p[0] == '.' && p[1] == '.') || (len == 1 && p[0] == '.'))
            return err_set(err, -EINVAL, "cgroup: path '%s' has a '%.*s' component", path, (int)len,
                           p);
        p += len;
        while (*p == '/')
            p++;
    }
    if (strlen(path) > PATH_MAX / 2)
        return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
    return 0;
}

static int check_args(const char *root, enum rt_cgroup_mode mode, const char *path, struct err *err)
{
    if (!root || !*root)
        return err_set(err, -EINVAL, "cgroup: no cgroup root");
    if (mode != RT_CGROUP_V1 && mode != RT_CGROUP_V2)
        return err_set(err, -EINVAL, "cgroup: bad cgroup mode %d", (int)mode);
    return check_path(path, err);
}

/* ---- detection ----------------------------------------------------------- */

int rt_cgroup_detect(const char *root, enum rt_cgroup_mode *ret_mode, struct err *err)
{
    struct statfs sfs;
    char p[PATH_MAX];
    struct v1_set set;

    if (!root || !ret_mode)
        return err_set(err, -EINVAL, "cgroup: bad arguments");
    if (statfs(root, &sfs) < 0)
        return err_set(err, -errno, "cgroup: statfs %s: %s", root, strerror(errno));
    if ((unsigned long)sfs.f_type == (unsigned long)CGROUP2_SUPER_MAGIC) {
        *ret_mode = RT_CGROUP_V2;
        return 0;
    }
    /* A tmpfs with v1 controller mounts (hybrid or legacy), or a plain
     * directory in a unit test: cgroup.controllers marks a (fake) v2 root. */
    if ((unsigned long)sfs.f_type != (unsigned long)TMPFS_MAGIC) {
        if (path_join(p, sizeof(p), root, "cgroup.controllers", NULL, NULL) == 0 &&
            access(p, F_OK) == 0) {
            *ret_mode = RT_CGROUP_V2;
            return 0;
        }
    }
    if (v1_scan(root, &set, NULL) == 0) {
        *ret_mode = RT_CGROUP_V1;
        return 0;
    }
    return err_set(err, -ENODEV, "cgroup: no cgroup v1 or v2 hierarchy at %s", root);
}

/* ---- v2 device filter (eBPF) --------------------------------------------- */

struct dev_rule {
    char type;     /* 'c', 'b' or 'a' (both) */
    int64_t major; /* -1 = any */
    int64_t minor; /* -1 = any */
    const char *access;
};

/* Docker's and runc's allow-list; everything else (incl. 10:229 fuse) is denied. */
static const struct dev_rule default_dev_rules[] = {
    {'c', -1, -1, "m"}, {'b', -1, -1, "m"}, {'c', 1, 3, "rwm"},    {'c', 1, 5, "rwm"},
    {'c', 1, 7, "rwm"}, {'c', 1, 8, "rwm"}, {'c', 1, 9, "rwm"},    {'c', 5, 0, "rwm"},
    {'c', 5, 1, "rwm"}, {'c', 5, 2, "rwm"}, {'c', 136, -1, "rwm"}, {'c', 10, 200, "rwm"},
};

#define INSN(c, d, s, o, i)                                                                        \
    ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

static unsigned dev_access_bits(const char *a)
{
    unsigned bits = 0;

    for (; *a; a++) {
        if (*a == 'm')
            bits |= BPF_DEVCG_ACC_MKNOD;
        else if (*a == 'r')
            bits |= BPF_DEVCG_ACC_READ;
        else if (*a == 'w')
            bits |= BPF_DEVCG_ACC_WRITE;
    }
    return bits;
}

/*
 * Assemble a BPF_PROG_TYPE_CGROUP_DEVICE program: ctx is struct
 * bpf_cgroup_dev_ctx {u32 access_type (access << 16 | type); u32 major; u32 minor}.
 * r2 = type, r3 = access, r4 = major, r5 = minor; each rule is a block whose
 * failed tests jump to the next block; a matching block returns 1 (allow);
 * the end returns 0 (deny).
 */
static size_t dev_prog_build(struct bpf_insn *ins, size_t cap)
{
    size_t n = 0;

#define EMIT(x)                                                                                    \
    do {                                                                                           \
        if (n < cap)                                                                               \
            ins[n] = (x);                                                                          \
        n++;                                                                                       \
    } while (0)

    EMIT(INSN(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0));
    EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0));
    EMIT(INSN(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff));
    EMIT(INSN(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16));
    EMIT(INSN(BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0));
    EMIT(INSN(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0));
    for (size_t i = 0; i < ARRAY_SIZE(default_dev_rules); i++) {
        const struct dev_rule *r = &default_dev_rules[i];
        size_t jumps[4];
        size_t nj = 0;
        unsigned acc = dev_access_bits(r->access);

        if (r->type != 'a') {
            jumps[nj++] = n;
            EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
                      r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
        }
        if (acc != (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)) {
            /* requested access must be a subset of acc */
            EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 3, 0, 0));
            EMIT(INSN(BPF_ALU64 | BPF_AND | BPF_K, 6, 0, 0, (int32_t)~acc));
            jumps[nj++] = n;
            EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 6, 0, 0, 0));
        }
        if (r->major >= 0) {
            jumps[nj++] = n;
            EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)r->major));
        }
        if (r->minor >= 0) {
            jumps[nj++] = n;
            EMIT(INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->minor));
        }
        EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
        EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        for (size_t j = 0; j < nj; j++) {
            if (jumps[j] < cap)
                ins[jumps[j]].off = (int16_t)(n - jumps[j] - 1);
        }
    }
    EMIT(INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    EMIT(INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
#undef EMIT
    return n;
}

static int v2_devices_apply(const char *dir, struct err *err)
{
    struct bpf_insn ins[256];
    char log[2048] = "";
    union bpf_attr attr;
    struct statfs sfs;
    cleanup_close int dirfd = -1;
    cleanup_close int progfd = -1;
    size_t n = dev_prog_build(ins, ARRAY_SIZE(ins));

    if (n > ARRAY_SIZE(ins))
        return err_set(err, -E2BIG, "cgroup: device program too long");
    /* Only a real cgroup2 directory can carry a program (a fake tree in a
     * unit test cannot enforce anything, so there is nothing to attach). */
    if (statfs(dir, &sfs) < 0)
        return err_set(err, -errno, "cgroup: statfs %s: %s", dir, strerror(errno));
    if ((unsigned long)sfs.f_type != (unsigned long)CGROUP2_SUPER_MAGIC)
        return 0;

    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)ins;
    attr.insn_cnt = (uint32_t)n;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    progfd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
    if (progfd < 0) {
        int e = errno;
        /* load again with the verifier log, only to explain the failure */
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = sizeof(log);
        attr.log_level = 1;
        progfd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
        if (progfd < 0)
            return err_set(err, -e, "cgroup: load device filter: %s (%.200s)", strerror(e),
                           trim(log));
    }

    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return err_set(err, -errno, "cgroup: open %s: %s", dir, strerror(errno));
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)dirfd;
    attr.attach_bpf_fd = (uint32_t)progfd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = 0; /* exclusive: replaces a program from an earlier create */
    if (syscall(__NR_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0)
        return err_set(err, -errno, "cgroup: attach device filter to %s: %s", dir, strerror(errno));
    return 0;
}

/* ---- creation ------------------------------------------------------------ */

typedef int (*level_cb)(const char *parent, const char *dir, void *ud, struct err *err);

/* mkdir base/path level by level; before each mkdir call pre(parent), after
 * it post(parent, dir). The hierarchy root itself is never created. */
static int mkdir_levels(const char *base, const char *path, level_cb pre, level_cb post, void *ud,
                        struct err *err)
{
    char parent[PATH_MAX];
    char dir[PATH_MAX];
    const char *p = path;
    int r;

    r = path_join(parent, sizeof(parent), base, NULL, NULL, NULL);
    if (r < 0)
        return err_set(err, r, "cgroup: path too long");
    while (*p) {
        size_t len = strcspn(p, "/");
        size_t plen = strlen(parent);

        if (len == 0) {
            p++;
            continue;
        }
        if (plen + 1 + len >= sizeof(dir))
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        memcpy(dir, parent, plen);
        dir[plen] = '/';
        memcpy(dir + plen + 1, p, len);
        dir[plen + 1 + len] = '\0';
        if (pre) {
            r = pre(parent, dir, ud, err);
            if (r < 0)
                return r;
        }
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return err_set(err, -errno, "cgroup: mkdir %s: %s", dir, strerror(errno));
        if (post) {
            r = post(parent, dir, ud, err);
            if (r < 0)
                return r;
        }
        memcpy(parent, dir, plen + 1 + len + 1);
        p += len;
    }
    return 0;
}

/* cpuset v1: a new cgroup starts with empty cpus/mems and refuses tasks
 * (ENOSPC) until both are filled: copy the parent's values down. */
static int cpuset_copy_cb(const char *parent, const char *dir, void *ud, struct err *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

    (void)ud;
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        cleanup_free char *mine = NULL;
        cleanup_free char *theirs = NULL;
        int r;

        r = read_knob(dir, files[i], &mine);
        if (r < 0)
            return err_set(err, r, "cgroup: read %s/%s: %s", dir, files[i], strerror(-r));
        if (*trim(mine))
            continue;
        r = read_knob(parent, files[i], &theirs);
        if (r < 0)
            return err_set(err, r, "cgroup: read %s/%s: %s", parent, files[i], strerror(-r));
        if (!*trim(theirs))
            continue;
        r = write_knob(dir, files[i], trim(theirs), err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int v1_memory(const char *dir, const struct rt_cgroup_limits *l, struct err *err)
{
    char mem[32];
    char sw[32];
    char p[PATH_MAX];
    bool have_memsw;
    int r;

    if (l->memory == 0 && l->memory_swap == 0)
        return 0;
    if (l->memory_swap > 0 && (l->memory <= 0 || l->memory_swap < l->memory))
        return err_set(err, -EINVAL,
                       "cgroup: memory+swap limit %" PRId64 " needs a memory limit below it",
                       l->memory_swap);
    (void)snprintf(mem, sizeof(mem), "%" PRId64, l->memory > 0 ? l->memory : -1);
    (void)snprintf(sw, sizeof(sw), "%" PRId64, l->memory_swap > 0 ? l->memory_swap : -1);
    have_memsw = path_join(p, sizeof(p), dir, "memory.memsw.limit_in_bytes", NULL, NULL) == 0 &&
                 access(p, F_OK) == 0;

    if (!have_memsw || l->memory_swap == 0)
        return l->memory != 0 ? write_knob(dir, "memory.limit_in_bytes", mem, err) : 0;
    if (l->memory == 0)
        return write_knob(dir, "memory.memsw.limit_in_bytes", sw, err);
    /* The kernel keeps memsw >= memory at every step. Lowering: memory first.
     * Raising memory above the current memsw fails with EINVAL: memsw first. */
    r = write_knob(dir, "memory.limit_in_bytes", mem, err);
    if (r == -EINVAL) {
        r = write_knob(dir, "memory.memsw.limit_in_bytes", sw, err);
        if (r < 0)
            return r;
        return write_knob(dir, "memory.limit_in_bytes", mem, err);
    }
    if (r < 0)
        return r;
    return write_knob(dir, "memory.memsw.limit_in_bytes", sw, err);
}

static int v1_devices(const char *dir, struct err *err)
{
    char p[PATH_MAX];
    cleanup_close int fd = -1;
    int r;

    r = write_knob(dir, "devices.deny", "a", err);
    if (r < 0)
        return r;
    r = path_join(p, sizeof(p), dir, "devices.allow", NULL, NULL);
    if (r < 0)
        return err_set(err, r, "cgroup: path too long");
    fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return err_set(err, -errno, "cgroup: open %s: %s", p, strerror(errno));
    /* one rule per write(2): the kernel parses each write separately */
    for (size_t i = 0; i < ARRAY_SIZE(default_dev_rules); i++) {
        const struct dev_rule *d = &default_dev_rules[i];
        char maj[24] = "*";
        char min[24] = "*";
        char line[80];
        int len;

        if (d->major >= 0)
            (void)snprintf(maj, sizeof(maj), "%" PRId64, d->major);
        if (d->minor >= 0)
            (void)snprintf(min, sizeof(min), "%" PRId64, d->minor);
        len = snprintf(line, sizeof(line), "%c %s:%s %s\n", d->type, maj, min, d->access);
        r = write_all(fd, line, (size_t)len);
        if (r < 0)
            return err_set(err, r, "cgroup: write '%.*s' to %s: %s", len - 1, line, p,
                           strerror(-r));
    }
    return 0;
}

static int v1_cpu(const char *dir, const struct rt_cgroup_limits *l, struct err *err)
{
    int r;

    if (l->cpu_quota != 0 || l->cpu_period != 0) {
        uint64_t period = l->cpu_period ? l->cpu_period : 100000;
        r = write_knob_i64(dir, "cpu.cfs_period_us", (int64_t)period, err);
        if (r < 0)
            return r;
        r = write_knob_i64(dir, "cpu.cfs_quota_us", l->cpu_quota > 0 ? l->cpu_quota : -1, err);
        if (r < 0)
            return r;
    }
    if (l->cpu_shares != 0) {
        r = write_knob_i64(dir, "cpu.shares", (int64_t)l->cpu_shares, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int v1_create(const char *root, const char *path, const struct rt_cgroup_limits *l,
                     struct err *err)
{
    struct v1_set set;
    char base[PATH_MAX];
    char dir[PATH_MAX];
    int r;

    r = v1_scan(root, &set, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < set.n; i++) {
        const struct v1_hier *h = &set.h[i];

        if (path_join(base, sizeof(base), root, h->dir, NULL, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        r = mkdir_levels(base, path, NULL, (h->mask & CG_CPUSET) ? cpuset_copy_cb : NULL, NULL,
                         err);
        if (r < 0)
            return r;
    }
    /* limits */
    for (size_t i = 0; i < set.n; i++) {
        const struct v1_hier *h = &set.h[i];

        if (path_join(dir, sizeof(dir), root, h->dir, path, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        if (h->mask & CG_MEMORY) {
            r = v1_memory(dir, l, err);
            if (r < 0)
                return r;
        }
        if (h->mask & CG_CPU) {
            r = v1_cpu(dir, l, err);
            if (r < 0)
                return r;
        }
        if ((h->mask & CG_PIDS) && l->pids != 0) {
            if (l->pids > 0)
                r = write_knob_i64(dir, "pids.max", l->pids, err);
            else
                r = write_knob(dir, "pids.max", "max", err);
            if (r < 0)
                return r;
        }
        if ((h->mask & CG_DEVICES) && !l->devices_allow_all) {
            r = v1_devices(dir, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* v2: enable our controllers (those the parent offers) in parent's subtree_control. */
static int v2_enable_cb(const char *parent, const char *dir, void *ud, struct err *err)
{
    static const char *const wanted[] = {"cpu", "memory", "pids", "io", "cpuset"};
    cleanup_free char *avail = NULL;
    cleanup_free char *enabled = NULL;
    char buf[128] = "";
    char *tok, *save = NULL;
    bool has[ARRAY_SIZE(wanted)] = {false};
    bool on[ARRAY_SIZE(wanted)] = {false};
    size_t len = 0;
    int r;

    (void)dir;
    (void)ud;
    r = read_knob(parent, "cgroup.controllers", &avail);
    if (r < 0)
        return err_set(err, r, "cgroup: read %s/cgroup.controllers: %s", parent, strerror(-r));
    for (tok = strtok_r(avail, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        for (size_t i = 0; i < ARRAY_SIZE(wanted); i++)
            has[i] = has[i] || strcmp(tok, wanted[i]) == 0;
    }
    if (read_knob(parent, "cgroup.subtree_control", &enabled) == 0) {
        save = NULL;
        for (tok = strtok_r(enabled, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
            for (size_t i = 0; i < ARRAY_SIZE(wanted); i++)
                on[i] = on[i] || strcmp(tok, wanted[i]) == 0;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
        if (has[i] && !on[i])
            len +=
                (size_t)snprintf(buf + len, sizeof(buf) - len, "%s+%s", len ? " " : "", wanted[i]);
    }
    if (len == 0)
        return 0;
    r = write_knob(parent, "cgroup.subtree_control", buf, NULL);
    if (r == 0)
        return 0;
    /* One controller may refuse (e.g. cpu with realtime tasks): enable the
     * others one by one and report only if memory or pids is refused. */
    for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
        char one[16];

        if (!has[i] || on[i])
            continue;
        (void)snprintf(one, sizeof(one), "+%s", wanted[i]);
        r = write_knob(parent, "cgroup.subtree_control", one, err);
        if (r < 0 && (strcmp(wanted[i], "memory") == 0 || strcmp(wanted[i], "pids") == 0))
            return r;
    }
    return 0;
}

static int v2_create(const char *root, const char *path, const struct rt_cgroup_limits *l,
                     struct err *err)
{
    char dir[PATH_MAX];
    char s[64];
    int r;

    r = mkdir_levels(root, path, v2_enable_cb, NULL, NULL, err);
    if (r < 0)
        return r;
    if (path_join(dir, sizeof(dir), root, path, NULL, NULL) < 0)
        return err_set(err, -ENAMETOOLONG, "cgroup: path too long");

    if (l->memory_swap > 0 && (l->memory <= 0 || l->memory_swap < l->memory))
        return err_set(err, -EINVAL,
                       "cgroup: memory+swap limit %" PRId64 " needs a memory limit below it",
                       l->memory_swap);
    if (l->memory != 0) {
        if (l->memory > 0)
            r = write_knob_i64(dir, "memory.max", l->memory, err);
        else
            r = write_knob(dir, "memory.max", "max", err);
        if (r < 0)
            return r;
    }
    if (l->memory_swap != 0) {
        if (l->memory_swap > 0)
            (void)snprintf(s, sizeof(s), "%" PRId64, l->memory_swap - l->memory);
        else
            (void)snprintf(s, sizeof(s), "max");
        r = write_knob_optional(dir, "memory.swap.max", s, err);
        if (r < 0)
            return r;
    }
    if (l->cpu_quota != 0 || l->cpu_period != 0) {
        uint64_t period = l->cpu_period ? l->cpu_period : 100000;
        if (l->cpu_quota > 0)
            (void)snprintf(s, sizeof(s), "%" PRId64 " %" PRIu64, l->cpu_quota, period);
        else
            (void)snprintf(s, sizeof(s), "max %" PRIu64, period);
        r = write_knob(dir, "cpu.max", s, err);
        if (r < 0)
            return r;
    }
    if (l->cpu_shares != 0) {
        r = write_knob_i64(dir, "cpu.weight", (int64_t)rt_cgroup_shares_to_weight(l->cpu_shares),
                           err);
        if (r < 0)
            return r;
    }
    if (l->pids != 0) {
        if (l->pids > 0)
            r = write_knob_i64(dir, "pids.max", l->pids, err);
        else
            r = write_knob(dir, "pids.max", "max", err);
        if (r < 0)
            return r;
    }
    if (!l->devices_allow_all) {
        r = v2_devices_apply(dir, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int rt_cgroup_create(const char *root, enum rt_cgroup_mode mode, const char *path,
                     const struct rt_cgroup_limits *limits, struct err *err)
{
    static const struct rt_cgroup_limits none = {.devices_allow_all = false};
    int r = check_args(root, mode, path, err);

    if (r < 0)
        return r;
    if (!limits)
        limits = &none;
    return mode == RT_CGROUP_V1 ? v1_create(root, path, limits, err)
                                : v2_create(root, path, limits, err);
}

/* ---- enter / kill -------------------------------------------------------- */

static int procs_write(const char *dir, pid_t pid, struct err *err)
{
    char s[24];
    int r = 0;

    (void)snprintf(s, sizeof(s), "%d", (int)pid);
    /* v1 can answer EINVAL transiently while the task is exiting/forking */
    for (int i = 0; i < 5; i++) {
        r = write_knob(dir, "cgroup.procs", s, err);
        if (r != -EINVAL)
            break;
        sleep_ms(10);
    }
    return r;
}

int rt_cgroup_enter(const char *root, enum rt_cgroup_mode mode, const char *path, pid_t pid,
                    struct err *err)
{
    char dir[PATH_MAX];
    struct v1_set set;
    int r = check_args(root, mode, path, err);

    if (r < 0)
        return r;
    if (pid <= 0)
        return err_set(err, -EINVAL, "cgroup: bad pid %d", (int)pid);
    if (mode == RT_CGROUP_V2) {
        if (path_join(dir, sizeof(dir), root, path, NULL, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        return procs_write(dir, pid, err);
    }
    r = v1_scan(root, &set, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < set.n; i++) {
        if (path_join(dir, sizeof(dir), root, set.h[i].dir, path, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        r = procs_write(dir, pid, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int signal_procs(const char *dir, int sig, struct err *err)
{
    cleanup_free char *s = NULL;
    char *tok, *save = NULL;
    int r = read_knob(dir, "cgroup.procs", &s);

    if (r < 0)
        return err_set(err, r, "cgroup: read %s/cgroup.procs: %s", dir, strerror(-r));
    for (tok = strtok_r(s, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        int64_t pid;

        if (parse_i64(trim(tok), &pid) < 0 || pid <= 0 || pid > INT_MAX)
            continue;
        if (kill((pid_t)pid, sig) < 0 && errno != ESRCH)
            return err_set(err, -errno, "cgroup: kill %" PRId64 ": %s", pid, strerror(errno));
    }
    return 0;
}

static void v1_freeze(const char *dir, bool frozen)
{
    if (write_knob(dir, "freezer.state", frozen ? "FROZEN" : "THAWED", NULL) < 0 || !frozen)
        return;
    /* freezing is asynchronous (FREEZING): wait up to ~1 s */
    for (int i = 0; i < 100; i++) {
        cleanup_free char *st = NULL;
        if (read_knob(dir, "freezer.state", &st) < 0 || strcmp(trim(st), "FROZEN") == 0)
            return;
        sleep_ms(10);
    }
}

int rt_cgroup_kill_all(const char *root, enum rt_cgroup_mode mode, const char *path, int sig,
                       struct err *err)
{
    char dir[PATH_MAX];
    char fdir[PATH_MAX];
    struct v1_set set;
    const struct v1_hier *h;
    int r = check_args(root, mode, path, err);

    if (r < 0)
        return r;
    if (mode == RT_CGROUP_V2) {
        if (path_join(dir, sizeof(dir), root, path, NULL, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        if (sig == SIGKILL) {
            r = write_knob(dir, "cgroup.kill", "1", NULL);
            if (r != -ENOENT) /* ENOENT: kernel < 5.14, fall back to signalling */
                return r < 0 ? write_knob(dir, "cgroup.kill", "1", err) : 0;
        }
        return signal_procs(dir, sig, err);
    }
    r = v1_scan(root, &set, err);
    if (r < 0)
        return r;
    h = v1_find(&set, CG_FREEZER);
    if (h) {
        if (path_join(fdir, sizeof(fdir), root, h->dir, path, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        v1_freeze(fdir, true);
        r = signal_procs(fdir, sig, err);
        v1_freeze(fdir, false);
        return r;
    }
    h = v1_find(&set, CG_PIDS) ? v1_find(&set, CG_PIDS) : &set.h[0];
    if (path_join(dir, sizeof(dir), root, h->dir, path, NULL) < 0)
        return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
    return signal_procs(dir, sig, err);
}

/* ---- oom / stats --------------------------------------------------------- */

static int cg_dir(const char *root, enum rt_cgroup_mode mode, const char *path, unsigned bit,
                  char *out, size_t outlen)
{
    struct v1_set set;
    const struct v1_hier *h;

    if (mode == RT_CGROUP_V2)
        return path_join(out, outlen, root, path, NULL, NULL);
    if (v1_scan(root, &set, NULL) < 0)
        return -ENOENT;
    h = v1_find(&set, bit);
    if (!h)
        return -ENOENT;
    return path_join(out, outlen, root, h->dir, path, NULL);
}

bool rt_cgroup_oom_killed(const char *root, enum rt_cgroup_mode mode, const char *path)
{
    char dir[PATH_MAX];
    uint64_t n = 0;

    if (check_args(root, mode, path, NULL) < 0 ||
        cg_dir(root, mode, path, CG_MEMORY, dir, sizeof(dir)) < 0)
        return false;
    if (read_keyed_u64(dir, mode == RT_CGROUP_V1 ? "memory.oom_control" : "memory.events",
                       "oom_kill", &n) < 0)
        return false;
    return n > 0;
}

/* v1 reports "no limit" as PAGE_COUNTER_MAX * page size (0x7ffffffffffff000 on x86_64). */
static uint64_t v1_limit(uint64_t v)
{
    return v >= 0x7ffffffffffff000ull ? UINT64_MAX : v;
}

/* The fields `docker stats` shows besides usage and limit. */
static void stats_extra(const char *root, enum rt_cgroup_mode mode, const char *path,
                        struct rt_cgroup_stats *st)
{
    char dir[PATH_MAX];
    bool v1 = mode == RT_CGROUP_V1;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t v;

    if (hz <= 0)
        hz = 100;
    if (cg_dir(root, mode, path, CG_MEMORY, dir, sizeof(dir)) == 0 &&
        read_knob_u64(dir, v1 ? "memory.max_usage_in_bytes" : "memory.peak", &v) == 0)
        st->memory_max_usage = v;
    if (cg_dir(root, mode, path, CG_CPUACCT, dir, sizeof(dir)) == 0) {
        if (v1) {
            /* cpuacct.stat is in USER_HZ ticks */
            if (read_keyed_u64(dir, "cpuacct.stat", "user", &v) == 0)
                st->cpu_user_ns = v * (1000000000ull / (uint64_t)hz);
            if (read_keyed_u64(dir, "cpuacct.stat", "system", &v) == 0)
                st->cpu_system_ns = v * (1000000000ull / (uint64_t)hz);
        } else {
            if (read_keyed_u64(dir, "cpu.stat", "user_usec", &v) == 0)
                st->cpu_user_ns = v * 1000;
            if (read_keyed_u64(dir, "cpu.stat", "system_usec", &v) == 0)
                st->cpu_system_ns = v * 1000;
        }
    }
    if (cg_dir(root, mode, path, CG_CPU, dir, sizeof(dir)) == 0) {
        if (read_keyed_u64(dir, "cpu.stat", "nr_periods", &v) == 0)
            st->throttle_periods = v;
        if (read_keyed_u64(dir, "cpu.stat", "nr_throttled", &v) == 0)
            st->throttled_periods = v;
        if (v1 && read_keyed_u64(dir, "cpu.stat", "throttled_time", &v) == 0)
            st->throttled_ns = v;
        if (!v1 && read_keyed_u64(dir, "cpu.stat", "throttled_usec", &v) == 0)
            st->throttled_ns = v * 1000;
    }
}

int rt_cgroup_stats(const char *root, enum rt_cgroup_mode mode, const char *path,
                    struct rt_cgroup_stats *ret_stats, struct err *err)
{
    char dir[PATH_MAX];
    struct rt_cgroup_stats st = {.memory_limit = UINT64_MAX};
    bool v1 = mode == RT_CGROUP_V1;
    bool any = false;
    uint64_t v;
    int r = check_args(root, mode, path, err);

    if (r < 0)
        return r;
    if (!ret_stats)
        return err_set(err, -EINVAL, "cgroup: bad arguments");
    if (cg_dir(root, mode, path, CG_MEMORY, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0) {
        any = true;
        if (read_knob_u64(dir, v1 ? "memory.usage_in_bytes" : "memory.current", &v) == 0)
            st.memory_usage = v;
        if (read_knob_u64(dir, v1 ? "memory.limit_in_bytes" : "memory.max", &v) == 0)
            st.memory_limit = v1 ? v1_limit(v) : v;
        if (read_keyed_u64(dir, "memory.stat", v1 ? "total_inactive_file" : "inactive_file", &v) ==
            0)
            st.memory_inactive_file = v;
    }
    if (cg_dir(root, mode, path, CG_CPUACCT, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0) {
        any = true;
        if (v1 && read_knob_u64(dir, "cpuacct.usage", &v) == 0)
            st.cpu_usage_ns = v;
        if (!v1 && read_keyed_u64(dir, "cpu.stat", "usage_usec", &v) == 0)
            st.cpu_usage_ns = v * 1000;
    }
    if (cg_dir(root, mode, path, CG_PIDS, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0) {
        any = true;
        if (read_knob_u64(dir, "pids.current", &v) == 0)
            st.pids_current = v;
    }
    stats_extra(root, mode, path, &st);
    if (!any)
        return err_set(err, -ENOENT, "cgroup: no cgroup %s under %s", path, root);
    *ret_stats = st;
    return 0;
}

/* ---- freeze / read ------------------------------------------------------- */

int rt_cgroup_freeze(const char *root, enum rt_cgroup_mode mode, const char *path, bool frozen,
                     struct err *err)
{
    char dir[PATH_MAX];
    int r = check_args(root, mode, path, err);

    if (r < 0)
        return r;
    if (cg_dir(root, mode, path, CG_FREEZER, dir, sizeof(dir)) < 0 || access(dir, F_OK) < 0)
        return err_set(err, -ENOENT, "cgroup: no freezer for %s", path);
    if (mode == RT_CGROUP_V1) {
        r = write_knob(dir, "freezer.state", frozen ? "FROZEN" : "THAWED", err);
        if (r < 0 || !frozen)
            return r;
        for (int i = 0; i < 100; i++) {
            cleanup_free char *st = NULL;
            if (read_knob(dir, "freezer.state", &st) < 0 || strcmp(trim(st), "FROZEN") == 0)
                return 0;
            sleep_ms(10);
        }
        return err_set(err, -ETIMEDOUT, "cgroup: %s did not freeze", path);
    }
    r = write_knob(dir, "cgroup.freeze", frozen ? "1" : "0", err);
    if (r < 0)
        return r;
    /* cgroup.events says "frozen 1" once every task is stopped */
    for (int i = 0; i < 100; i++) {
        uint64_t v = 0;
        if (read_keyed_u64(dir, "cgroup.events", "frozen", &v) < 0 || v == (frozen ? 1u : 0u))
            return 0;
        sleep_ms(10);
    }
    return err_set(err, -ETIMEDOUT, "cgroup: %s did not %s", path, frozen ? "freeze" : "thaw");
}

int rt_cgroup_read(const char *root, enum rt_cgroup_mode mode, const char *path,
                   const char *controller, const char *file, char **ret, struct err *err)
{
    char dir[PATH_MAX];
    unsigned bit = 0;
    int r = check_args(root, mode, path, err);

    if (r < 0)
        return r;
    if (!file || !*file || strchr(file, '/') || !ret)
        return err_set(err, -EINVAL, "cgroup: bad arguments");
    for (size_t i = 0; i < ARRAY_SIZE(v1_known); i++) {
        if (controller && strcmp(controller, v1_known[i].name) == 0)
            bit = v1_known[i].bit;
    }
    if (mode == RT_CGROUP_V1 && !bit)
        return err_set(err, -EINVAL, "cgroup: unknown controller %s", controller ?: "");
    if (cg_dir(root, mode, path, bit, dir, sizeof(dir)) < 0)
        return err_set(err, -ENOENT, "cgroup: no %s hierarchy", controller ?: "");
    r = read_knob(dir, file, ret);
    if (r < 0)
        return err_set(err, r, "cgroup: reading %s/%s: %s", dir, file, strerror(-r));
    return 0;
}

/* ---- destroy ------------------------------------------------------------- */

static int rmdir_retry(const char *dir, struct err *err)
{
    /* ~1 s in total: tasks that were just killed take a moment to leave */
    for (int i = 0; i < 100; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            break;
        sleep_ms(i < 10 ? 2 : 10);
    }
    return err_set(err, -errno, "cgroup: rmdir %s: %s", dir, strerror(errno));
}

int rt_cgroup_destroy(const char *root, enum rt_cgroup_mode mode, const char *path, struct err *err)
{
    char dir[PATH_MAX];
    struct v1_set set;
    int r = check_args(root, mode, path, err);
    int first = 0;

    if (r < 0)
        return r;
    if (mode == RT_CGROUP_V2) {
        if (path_join(dir, sizeof(dir), root, path, NULL, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        return rmdir_retry(dir, err);
    }
    if (v1_scan(root, &set, NULL) < 0)
        return 0;
    /* try every hierarchy even if one fails; report the first failure */
    for (size_t i = 0; i < set.n; i++) {
        if (path_join(dir, sizeof(dir), root, set.h[i].dir, path, NULL) < 0)
            return err_set(err, -ENAMETOOLONG, "cgroup: path too long");
        r = rmdir_retry(dir, first ? NULL : err);
        if (r < 0 && !first)
            first = r;
    }
    return first;
}

/* ---- shares -> weight ------------------------------------------------------ */

/* libm-free ln() and exp() (the static monitor links no libm); accurate to
 * ~1e-15 relative over the small ranges used below. */
static double ln_approx(double x)
{
    double k = 0, z, z2, term, sum = 0;

    while (x >= 2.0) {
        x /= 2.0;
        k += 1;
    }
    while (x < 1.0) {
        x *= 2.0;
        k -= 1;
    }
    /* ln(x) = 2 atanh(z), z = (x-1)/(x+1) in [0, 1/3) */
    z = (x - 1.0) / (x + 1.0);
    z2 = z * z;
    term = z;
    for (int n = 1; n < 80; n += 2) {
        sum += term / n;
        term *= z2;
    }
    return k * 0.69314718055994530942 + 2.0 * sum;
}

static double exp_approx(double x)
{
    double r, term = 1, sum = 1, scale = 1;
    long n;

    /* x = n ln2 + r, |r| <= ln2/2 */
    n = (long)(x / 0.69314718055994530942 + (x >= 0 ? 0.5 : -0.5));
    r = x - (double)n * 0.69314718055994530942;
    for (int i = 1; i < 30; i++) {
        term *= r / i;
        sum += term;
    }
    for (; n > 0; n--)
        scale *= 2.0;
    for (; n < 0; n++)
        scale /= 2.0;
    return sum * scale;
}

/*
 * Docker cpu shares (2..262144, default 1024) to cgroup v2 cpu.weight
 * (1..10000, default 100) with the log-quadratic fit used by current runc
 * and crun: with l = log2(shares), weight = ceil(10^((l^2 + 125 l) / 612 - 7/34)).
 * It maps 2 -> 1, 1024 -> 100 (so "default = equal" holds on both versions)
 * and 262144 -> 10000; values outside 2..262144 are clamped first.
 * A tiny epsilon keeps the exact points (powers of two) from rounding up.
 */
uint64_t rt_cgroup_shares_to_weight(uint64_t shares)
{
    double l, e, w;
    uint64_t wi;

    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    l = ln_approx((double)shares) / 0.69314718055994530942;
    e = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    w = exp_approx(e * 2.30258509299404568402) - 1e-9;
    wi = (uint64_t)w;
    if ((double)wi < w)
        wi++;
    if (wi < 1)
        wi = 1;
    if (wi > 10000)
        wi = 10000;
    return wi;
}
