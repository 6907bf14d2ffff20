/*
 * runtime/monitor/setup.c - the setup child (runtime-notes sections 2.2-2.5, 15).
 *
 * Cloned by the monitor into new PID, mount, UTS and IPC namespaces (and a new
 * or joined network namespace). It waits until the monitor has put it in its
 * cgroup (sync 1), builds the container's mount namespace from an O_PATH fd of
 * the rootfs, pivots into it, resolves the user, drops privileges and reports
 * "ready" (sync 4). On START it execs the command: the close-on-exec sync socket
 * reaching EOF tells the monitor the exec worked. Any failure is sent to the
 * monitor as MON_SYNC_ERROR with a message, then the child exits.
 *
 * Cgroup namespace: a private one on cgroup v2 (unshared once we sit in our
 * cgroup); on v1 the host's, as Docker does, with the container's own cgroup
 * directories bound read-only at /sys/fs/cgroup/<controller>.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/monitor/monitor.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct child {
    struct mon *m;
    Shoal__Rt__RtSpec *spec;
    int rootfd;
    struct mon_user user;
    char **env;
    char **argv; /* NULL-terminated copy of args */
    char *exec_path;
    /* what runs: the container's init, or an exec (x != NULL) */
    const Shoal__Rt__RtExec *x;
    char *const *args;
    size_t n_args;
    const char *cwd;
    uint64_t cap_mask;
    bool tty;
};

static void __attribute__((noreturn)) child_fail(struct child *c, int code, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void child_fail(struct child *c, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int n;

    msg[0] = MON_SYNC_ERROR;
    msg[1] = (char)code;
    va_start(ap, fmt);
    n = vsnprintf(msg + 2, sizeof(msg) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(msg) - 3)
        n = (int)sizeof(msg) - 3;
    (void)send(c->m->c_sync, msg, (size_t)n + 2, MSG_NOSIGNAL);
    _exit(code);
}

/* setup failures are "125"-class (Docker's "container failed to start" code) */
#define FAIL(c, ...) child_fail((c), 125, __VA_ARGS__)

static void sync_wait(struct child *c, char want)
{
    char b;
    ssize_t n;

    do {
        n = recv(c->m->c_sync, &b, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n != 1 || b != want)
        _exit(125); /* the monitor is gone, nobody to report to */
}

static void sync_send(struct child *c, char what)
{
    if (send(c->m->c_sync, &what, 1, MSG_NOSIGNAL) != 1)
        _exit(125);
}

/* ---- mounts -------------------------------------------------------------- */

static int mount_fd(const char *src, int fd, const char *type, unsigned long flags,
                    const char *data)
{
    struct mon_fdpath p;

    return mount(src, mon_fdpath(&p, fd), type, flags, data) < 0 ? -errno : 0;
}

static int setattr_fd(int fd, uint64_t set, uint64_t clr, bool recursive)
{
    struct mount_attr attr = {.attr_set = set, .attr_clr = clr};

    if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof(attr)) <
        0)
        return -errno;
    return 0;
}

static bool overlay_path_ok(const char *s)
{
    return !strpbrk(s, ",:\\");
}

static void mount_overlay(struct child *c)
{
    Shoal__Rt__RtSpec *s = c->spec;
    struct buf o;
    bool simple = overlay_path_ok(s->upperdir) && overlay_path_ok(s->workdir);
    int r = 0;

    buf_init(&o);
    for (size_t i = 0; i < s->n_lowerdirs; i++)
        simple = simple && overlay_path_ok(s->lowerdirs[i]);
    r = buf_puts(&o, "lowerdir=");
    for (size_t i = 0; r == 0 && i < s->n_lowerdirs; i++) {
        if (i)
            r = buf_puts(&o, ":");
        if (r == 0)
            r = buf_puts(&o, s->lowerdirs[i]);
    }
    if (r == 0 && *s->upperdir)
        r = buf_printf(&o, ",upperdir=%s,workdir=%s", s->upperdir, s->workdir);
    if (r == 0)
        r = buf_puts(&o, ",index=off");
    if (r < 0)
        FAIL(c, "out of memory");
    if (simple && o.len < (size_t)getpagesize() - 1) {
        if (mount("overlay", s->rootfs, "overlay", 0, o.data) < 0)
            FAIL(c, "mount overlay rootfs on '%s': %s", s->rootfs, strerror(errno));
        buf_release(&o);
        return;
    }
    buf_release(&o);

    /* long or odd layer paths: the new mount API takes one layer per call */
    int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        FAIL(c, "fsopen overlay: %s", strerror(errno));
    for (size_t i = 0; i < s->n_lowerdirs; i++)
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", s->lowerdirs[i], 0) < 0)
            FAIL(c, "overlay lowerdir '%s': %s", s->lowerdirs[i], strerror(errno));
    if (*s->upperdir && (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", s->upperdir, 0) < 0 ||
                         fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", s->workdir, 0) < 0))
        FAIL(c, "overlay upper/work dir: %s", strerror(errno));
    (void)fsconfig(fsfd, FSCONFIG_SET_STRING, "index", "off", 0);
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        FAIL(c, "create overlay: %s", strerror(errno));
    int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
    if (mfd < 0)
        FAIL(c, "fsmount overlay: %s", strerror(errno));
    if (move_mount(mfd, "", AT_FDCWD, s->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        FAIL(c, "move overlay to '%s': %s", s->rootfs, strerror(errno));
    (void)close(mfd);
    (void)close(fsfd);
}

static void loopback_up(struct child *c)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        FAIL(c, "socket: %s", strerror(errno));
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        FAIL(c, "get lo flags: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        FAIL(c, "bring up lo: %s", strerror(errno));
    (void)close(fd);
}

/* Open a child dir by name below a verified dir fd, crossing into a mount that
 * sits on it, never following a symlink. */
static int reopen_dir(struct child *c, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        FAIL(c, "open %s: %s", name, strerror(errno));
    return fd;
}

static void mkdir_in(struct child *c, int dirfd, const char *name, mode_t mode)
{
    if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
        FAIL(c, "mkdir /dev/%s: %s", name, strerror(errno));
}

static void setup_dev(struct child *c)
{
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {
        {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
        {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    static const struct {
        const char *name, *target;
    } links[] = {
        {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},         {"core", "/proc/kcore"},
    };
    int dev = reopen_dir(c, c->rootfd, "dev");
    int fd;

    for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
        /* umask is 0 during setup, so the mode is exact */
        if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
            FAIL(c, "mknod /dev/%s: %s", nodes[i].name, strerror(errno));
    }
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i].target, dev, links[i].name) < 0)
            FAIL(c, "symlink /dev/%s: %s", links[i].name, strerror(errno));

    mkdir_in(c, dev, "pts", 0755);
    fd = reopen_dir(c, dev, "pts");
    if (mount_fd("devpts", fd, "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
        FAIL(c, "mount devpts: %s", strerror(errno));
    (void)close(fd);

    mkdir_in(c, dev, "shm", 01777);
    fd = reopen_dir(c, dev, "shm");
    if (mount_fd("shm", fd, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k") < 0)
        FAIL(c, "mount /dev/shm: %s", strerror(errno));
    (void)close(fd);

    mkdir_in(c, dev, "mqueue", 0755);
    fd = reopen_dir(c, dev, "mqueue");
    if (mount_fd("mqueue", fd, "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
        FAIL(c, "mount /dev/mqueue: %s", strerror(errno));
    (void)close(fd);
    (void)close(dev);
}

/* v1: a tmpfs with the container's own directory of each hierarchy bound
 * read-only (and the host's "cpu -> cpu,cpuacct" style links mirrored). */
static void setup_cgroup_v1(struct child *c, int cgfd, bool ro)
{
    DIR *d = opendir("/sys/fs/cgroup");
    struct dirent *de;
    int tfd;

    if (mount_fd("tmpfs", cgfd, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=755") < 0)
        FAIL(c, "mount tmpfs on /sys/fs/cgroup: %s", strerror(errno));
    tfd = reopen_dir(c, c->rootfd, "sys/fs/cgroup");
    if (!d)
        FAIL(c, "open host /sys/fs/cgroup: %s", strerror(errno));
    while ((de = readdir(d))) {
        char lnk[256], sub[4096];
        struct stat st;
        struct statfs sfs;
        ssize_t n;
        int src, dst;

        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            n = readlinkat(dirfd(d), de->d_name, lnk, sizeof(lnk) - 1);
            if (n <= 0)
                continue;
            lnk[n] = 0;
            if (!strchr(lnk, '/'))
                (void)!symlinkat(lnk, tfd, de->d_name);
            continue;
        }
        if (!S_ISDIR(st.st_mode))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", de->d_name, c->m->cg_path) >= sizeof(sub))
            continue;
        src = openat(dirfd(d), sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (src < 0)
            continue; /* a hierarchy we do not use (name=systemd, unified...) */
        if (fstatfs(src, &sfs) < 0 || sfs.f_type != CGROUP_SUPER_MAGIC) {
            (void)close(src);
            continue;
        }
        if (mkdirat(tfd, de->d_name, 0755) < 0)
            FAIL(c, "mkdir /sys/fs/cgroup/%s: %s", de->d_name, strerror(errno));
        dst = reopen_dir(c, tfd, de->d_name);
        {
            struct mon_fdpath sp;
            if (mount_fd(mon_fdpath(&sp, src), dst, NULL, MS_BIND, NULL) < 0)
                FAIL(c, "bind cgroup %s: %s", de->d_name, strerror(errno));
        }
        (void)close(dst);
        (void)close(src);
        dst = reopen_dir(c, tfd, de->d_name);
        if (setattr_fd(dst,
                       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                           (ro ? MOUNT_ATTR_RDONLY : 0),
                       0, false) < 0)
            FAIL(c, "remount cgroup %s read-only: %s", de->d_name, strerror(errno));
        (void)close(dst);
    }
    closedir(d);
    if (ro && setattr_fd(tfd, MOUNT_ATTR_RDONLY, 0, false) < 0)
        FAIL(c, "remount /sys/fs/cgroup read-only: %s", strerror(errno));
    (void)close(tfd);
}

static void setup_sys(struct child *c)
{
    Shoal__Rt__RtSpec *s = c->spec;
    bool ro = !s->privileged;
    int fd = mon_ensure_replace(c->rootfd, "sys", true);
    int cg;

    if (fd < 0)
        FAIL(c, "prepare /sys: %s", strerror(-fd));
    if (s->net_mode == SHOAL__RT__RT_NET_MODE__RT_NET_HOST) {
        /* sysfs belongs to the netns: without our own we can only bind the host's */
        if (mount_fd("/sys", fd, NULL, MS_BIND | MS_REC, NULL) < 0)
            FAIL(c, "bind /sys: %s", strerror(errno));
        (void)close(fd);
        fd = reopen_dir(c, c->rootfd, "sys");
        if (setattr_fd(fd,
                       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                           (ro ? MOUNT_ATTR_RDONLY : 0),
                       0, true) < 0)
            FAIL(c, "remount /sys read-only: %s", strerror(errno));
    } else if (mount_fd("sysfs", fd, "sysfs",
                        MS_NOSUID | MS_NOEXEC | MS_NODEV | (ro ? MS_RDONLY : 0), NULL) < 0) {
        FAIL(c, "mount sysfs: %s", strerror(errno));
    }
    (void)close(fd);

    cg = mon_open_in_root(c->rootfd, "sys/fs/cgroup", O_PATH | O_DIRECTORY);
    if (cg < 0)
        FAIL(c, "open /sys/fs/cgroup: %s", strerror(-cg));
    if (c->m->cg_mode == RT_CGROUP_V2) {
        if (mount_fd("cgroup2", cg, "cgroup2",
                     MS_NOSUID | MS_NOEXEC | MS_NODEV | (ro ? MS_RDONLY : 0), NULL) < 0)
            FAIL(c, "mount cgroup2: %s", strerror(errno));
    } else {
        setup_cgroup_v1(c, cg, ro);
    }
    (void)close(cg);
}

static uint64_t ms_to_attr(uint64_t f, uint64_t *clr)
{
    uint64_t a = 0;

    if (f & MS_RDONLY)
        a |= MOUNT_ATTR_RDONLY;
    if (f & MS_NOSUID)
        a |= MOUNT_ATTR_NOSUID;
    if (f & MS_NODEV)
        a |= MOUNT_ATTR_NODEV;
    if (f & MS_NOEXEC)
        a |= MOUNT_ATTR_NOEXEC;
    if (f & MS_NODIRATIME)
        a |= MOUNT_ATTR_NODIRATIME;
    if (f & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
        *clr |= MOUNT_ATTR__ATIME;
        a |= (f & MS_NOATIME)       ? MOUNT_ATTR_NOATIME
             : (f & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME
                                    : MOUNT_ATTR_RELATIME;
    }
    return a;
}

/*
 * Resolve the symlinks of path inside the rootfs as RESOLVE_IN_ROOT does ("/"
 * and ".." stop at the root), also where a link dangles (/etc/x -> /missing):
 * out gets the in-root path to create, with no symlink left on its existing
 * part. Only lookups happen here; what is created and mounted is then opened
 * with RESOLVE_IN_ROOT again, so a link swapped meanwhile still cannot escape.
 */
static int resolve_in_root(int rootfd, const char *path, char *out, size_t outlen)
{
    char rest[8192], tmp[8192], target[4096];
    const char *p = rest;
    size_t len = 0;
    int links = 0;
    bool missing = false;

    if ((size_t)snprintf(rest, sizeof(rest), "%s", path) >= sizeof(rest))
        return -ENAMETOOLONG;
    out[0] = '\0';
    for (;;) {
        size_t n, start = len;
        struct stat st;
        ssize_t tl;
        int fd;

        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            p += n;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[--len] != '/')
                ;
            out[len] = '\0';
            p += n;
            continue;
        }
        if (len + n + 2 > outlen)
            return -ENAMETOOLONG;
        out[len++] = '/';
        memcpy(out + len, p, n);
        len += n;
        out[len] = '\0';
        p += n;
        if (missing)
            continue;
        fd = mon_open_in_root(rootfd, out, O_PATH | O_NOFOLLOW);
        if (fd == -ENOENT) {
            missing = true; /* the rest is created as named */
            continue;
        }
        if (fd < 0)
            return fd;
        if (fstat(fd, &st) < 0) {
            int e = -errno;
            (void)close(fd);
            return e;
        }
        if (!S_ISLNK(st.st_mode)) {
            (void)close(fd);
            continue;
        }
        tl = readlinkat(fd, "", target, sizeof(target) - 1);
        (void)close(fd);
        if (tl < 0)
            return -errno;
        if (++links > 40)
            return -ELOOP;
        target[tl] = '\0';
        /* the link's text replaces its name: from the root if absolute */
        len = target[0] == '/' ? 0 : start;
        out[len] = '\0';
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", target, p) >= sizeof(tmp))
            return -ENAMETOOLONG;
        memcpy(rest, tmp, strlen(tmp) + 1);
        p = rest;
    }
    if (len == 0) {
        if (outlen < 2)
            return -ENAMETOOLONG;
        out[0] = '/';
        out[1] = '\0';
    }
    return 0;
}

static void setup_user_mounts(struct child *c)
{
    Shoal__Rt__RtSpec *s = c->spec;
    const uint64_t prop = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE;

    for (size_t i = 0; i < s->n_mounts; i++) {
        Shoal__Rt__RtMount *mt = s->mounts[i];
        bool bind = !strcmp(mt->type, "bind") || (mt->flags & MS_BIND);
        bool want_dir = true;
        char dest[4096];
        struct stat st;
        int fd, r;

        if (mt->destination[0] != '/')
            FAIL(c, "mount destination '%s' is not absolute", mt->destination);
        if (bind) {
            if (stat(mt->source, &st) < 0)
                FAIL(c, "bind source '%s': %s", mt->source, strerror(errno));
            want_dir = S_ISDIR(st.st_mode);
        }
        /* resolved inside the rootfs: an image symlink on the way (/etc/x -> /)
         * is followed as if the rootfs were / and can never lead out of it */
        r = resolve_in_root(c->rootfd, mt->destination, dest, sizeof(dest));
        if (r < 0)
            FAIL(c, "mount destination '%s': %s", mt->destination, strerror(-r));
        fd = mon_resolve_create(c->rootfd, dest, want_dir);
        if (fd < 0)
            FAIL(c, "mount destination '%s': %s", mt->destination, strerror(-fd));
        {
            struct stat rst, dst;
            struct statfs sfs;

            if (fstat(fd, &dst) < 0 || fstat(c->rootfd, &rst) < 0 || fstatfs(fd, &sfs) < 0)
                FAIL(c, "mount destination '%s': %s", mt->destination, strerror(errno));
            if (dst.st_dev == rst.st_dev && dst.st_ino == rst.st_ino)
                FAIL(c, "mount destination '%s' resolves to the container's root directory",
                     mt->destination);
            if (sfs.f_type == PROC_SUPER_MAGIC)
                FAIL(c, "mount destination '%s' resolves into /proc: not allowed", mt->destination);
        }
        if (bind) {
            uint64_t clr = 0, set = ms_to_attr(mt->flags, &clr);

            r = mount_fd(mt->source, fd, NULL, MS_BIND | (mt->flags & MS_REC), NULL);
            if (r == 0 && (set || clr)) {
                (void)close(fd);
                fd = mon_open_in_root(c->rootfd, dest, O_PATH);
                r = fd < 0 ? fd : setattr_fd(fd, set, clr, mt->flags & MS_REC);
            }
        } else {
            r = mount_fd(*mt->source ? mt->source : mt->type, fd, mt->type,
                         (unsigned long)(mt->flags & ~(prop | MS_REC)),
                         *mt->data ? mt->data : NULL);
        }
        if (r == 0 && (mt->flags & prop)) {
            (void)close(fd);
            fd = mon_open_in_root(c->rootfd, dest, O_PATH);
            r = fd < 0
                    ? fd
                    : mount_fd(NULL, fd, NULL, (unsigned long)(mt->flags & (prop | MS_REC)), NULL);
        }
        if (r < 0)
            FAIL(c, "mount '%s' on '%s': %s", mt->source, mt->destination, strerror(-r));
        if (fd >= 0)
            (void)close(fd);
    }
}

static void setup_masks(struct child *c)
{
    Shoal__Rt__RtSpec *s = c->spec;

    for (size_t i = 0; i < s->n_masked_paths; i++) {
        struct stat st;
        int fd = mon_open_in_root(c->rootfd, s->masked_paths[i], O_PATH);
        int r;

        if (fd == -ENOENT)
            continue;
        if (fd < 0 || fstat(fd, &st) < 0)
            FAIL(c, "mask '%s': %s", s->masked_paths[i], strerror(fd < 0 ? -fd : errno));
        if (S_ISDIR(st.st_mode)) {
            r = mount_fd("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         "size=0");
        } else {
            struct mon_fdpath p;
            r = mount_fd(mon_fdpath(&p, c->m->devnull_fd), fd, NULL, MS_BIND, NULL);
        }
        if (r < 0)
            FAIL(c, "mask '%s': %s", s->masked_paths[i], strerror(-r));
        (void)close(fd);
    }
    for (size_t i = 0; i < s->n_readonly_paths; i++) {
        int fd = mon_open_in_root(c->rootfd, s->readonly_paths[i], O_PATH);
        int r;

        if (fd == -ENOENT)
            continue;
        if (fd < 0)
            FAIL(c, "read-only path '%s': %s", s->readonly_paths[i], strerror(-fd));
        {
            struct mon_fdpath p;
            r = mount_fd(mon_fdpath(&p, fd), fd, NULL, MS_BIND | MS_REC, NULL);
        }
        (void)close(fd);
        if (r == 0) {
            fd = mon_open_in_root(c->rootfd, s->readonly_paths[i], O_PATH);
            r = fd < 0 ? fd
                       : setattr_fd(fd,
                                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                        MOUNT_ATTR_NOEXEC,
                                    0, true);
            if (fd >= 0)
                (void)close(fd);
        }
        if (r < 0)
            FAIL(c, "read-only path '%s': %s", s->readonly_paths[i], strerror(-r));
    }
}

static void setup_rootfs(struct child *c)
{
    static const char *const files[] = {"etc/hostname", "etc/hosts", "etc/resolv.conf"};
    int fd;

    /* our fixed targets: real directories/files, whatever the image has there */
    fd = mon_ensure_replace(c->rootfd, "proc", true);
    if (fd < 0)
        FAIL(c, "prepare /proc: %s", strerror(-fd));
    if (mount_fd("proc", fd, "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0)
        FAIL(c, "mount proc: %s", strerror(errno));
    (void)close(fd);

    fd = mon_ensure_replace(c->rootfd, "dev", true);
    if (fd < 0)
        FAIL(c, "prepare /dev: %s", strerror(-fd));
    if (mount_fd("tmpfs", fd, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
        FAIL(c, "mount /dev: %s", strerror(errno));
    setup_dev(c);
    (void)close(fd);

    setup_sys(c);

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        fd = mon_ensure_replace(c->rootfd, files[i], false);
        if (fd < 0)
            FAIL(c, "prepare /%s: %s", files[i], strerror(-fd));
        (void)close(fd);
    }

    setup_user_mounts(c);

    if (*c->spec->cwd && c->spec->cwd[0] != '/')
        FAIL(c, "working directory '%s' is not absolute", c->spec->cwd);
    /* the working directory, created while the rootfs is still writable
     * (it may also live in a volume mounted just above) */
    fd = mon_resolve_create(c->rootfd, *c->spec->cwd ? c->spec->cwd : "/", true);
    if (fd < 0)
        FAIL(c, "working directory '%s': %s", c->spec->cwd, strerror(-fd));
    (void)close(fd);

    setup_masks(c);
}

static void do_pivot(struct child *c)
{
    int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);

    if (oldroot < 0)
        FAIL(c, "open /: %s", strerror(errno));
    if (fchdir(c->rootfd) < 0)
        FAIL(c, "chdir rootfs: %s", strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        FAIL(c, "pivot_root: %s", strerror(errno));
    if (fchdir(oldroot) < 0)
        FAIL(c, "chdir old root: %s", strerror(errno));
    if (mount(NULL, ".", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL(c, "make old root private: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) < 0)
        FAIL(c, "detach old root: %s", strerror(errno));
    if (chdir("/") < 0)
        FAIL(c, "chdir /: %s", strerror(errno));
    (void)close(oldroot);
    if (c->spec->readonly_rootfs) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0)
            FAIL(c, "remount / read-only: %s", strerror(errno));
    }
}

/* ---- process ------------------------------------------------------------- */

static bool env_has(char **env, size_t n, const char *key)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i < n; i++)
        if (!strncmp(env[i], key, kl) && env[i][kl] == '=')
            return true;
    return false;
}

static bool exec_env_overrides(const Shoal__Rt__RtExec *x, const char *kv)
{
    size_t kl = strcspn(kv, "=");

    for (size_t i = 0; x && i < x->n_env; i++)
        if (!strncmp(x->env[i], kv, kl) && x->env[i][kl] == '=')
            return true;
    return false;
}

static void build_env(struct child *c)
{
    Shoal__Rt__RtSpec *s = c->spec;
    size_t nx = c->x ? c->x->n_env : 0;
    size_t n = 0;
    char **env = calloc(s->n_env + nx + 5, sizeof(char *));

    if (!env)
        FAIL(c, "out of memory");
    for (size_t i = 0; i < s->n_env; i++)
        if (strchr(s->env[i], '=') && !exec_env_overrides(c->x, s->env[i]))
            env[n++] = s->env[i];
    for (size_t i = 0; i < nx; i++)
        if (strchr(c->x->env[i], '=') && c->x->env[i][0] != '=')
            env[n++] = c->x->env[i];
    /* docker exec -t sets TERM like docker run -t */
    if (c->x && c->tty && !env_has(env, n, "TERM"))
        env[n++] = (char *)"TERM=xterm";
    if (!env_has(env, n, "PATH"))
        env[n++] = (char *)"PATH=" DEFAULT_PATH;
    if (!env_has(env, n, "HOSTNAME") && *s->hostname) {
        char *h = malloc(strlen(s->hostname) + 10);
        if (!h)
            FAIL(c, "out of memory");
        sprintf(h, "HOSTNAME=%s", s->hostname);
        env[n++] = h;
    }
    if (!env_has(env, n, "HOME")) {
        char *h = malloc(strlen(c->user.home) + 6);
        if (!h)
            FAIL(c, "out of memory");
        sprintf(h, "HOME=%s", c->user.home);
        env[n++] = h;
    }
    env[n] = NULL;
    c->env = env;

    c->argv = calloc(c->n_args + 1, sizeof(char *));
    if (!c->argv)
        FAIL(c, "out of memory");
    memcpy(c->argv, c->args, c->n_args * sizeof(char *));
}

static const char *env_get(char **env, const char *key)
{
    size_t kl = strlen(key);

    for (; *env; env++)
        if (!strncmp(*env, key, kl) && (*env)[kl] == '=')
            return *env + kl + 1;
    return NULL;
}

/* args[0] through PATH, like Go's exec.LookPath (so the messages match runc's) */
static void lookup_exec(struct child *c)
{
    const char *file = c->args[0];
    const char *path;
    struct stat st;

    if (!*file)
        FAIL(c, "exec: \"\": executable file not found in $PATH");
    if (strchr(file, '/')) {
        if (stat(file, &st) < 0)
            child_fail(c, errno == ENOENT || errno == ENOTDIR ? 127 : 126,
                       "exec: \"%s\": stat %s: %s", file, file,
                       errno == ENOENT ? "no such file or directory" : strerror(errno));
        if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
            child_fail(c, 126, "exec: \"%s\": permission denied", file);
        c->exec_path = (char *)file;
        return;
    }
    path = env_get(c->env, "PATH");
    if (!path)
        path = "";
    while (path) {
        const char *colon = strchr(path, ':');
        size_t dl = colon ? (size_t)(colon - path) : strlen(path);
        char *cand = malloc(dl + strlen(file) + 2);

        if (!cand)
            FAIL(c, "out of memory");
        if (dl == 0)
            sprintf(cand, "./%s", file);
        else
            sprintf(cand, "%.*s/%s", (int)dl, path, file);
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
            c->exec_path = cand;
            return;
        }
        free(cand);
        path = colon ? colon + 1 : NULL;
    }
    child_fail(c, 127, "exec: \"%s\": executable file not found in $PATH", file);
}

static void setup_cwd(struct child *c)
{
    const char *cwd = *c->cwd ? c->cwd : "/";
    char buf[4096];
    int fd;

    if (cwd[0] != '/')
        FAIL(c, "working directory '%s' is not absolute", cwd);
    fd = mon_open_in_root(c->rootfd, cwd, O_PATH | O_DIRECTORY);
    if (fd < 0)
        FAIL(c, "working directory '%s': %s", cwd, strerror(-fd));
    if (fchdir(fd) < 0)
        FAIL(c, "chdir to working directory '%s': %s", cwd, strerror(errno));
    (void)close(fd);
    /* CVE-2024-21626: the cwd must be reachable from our root */
    if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
        FAIL(c, "working directory '%s' is outside the container", cwd);
}

static void setup_tty(struct child *c)
{
    char buf[1];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = buf, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;
    char name[32];
    int master, slave, unlock = 0;
    unsigned ptn;

    struct winsize ws = {0};
    struct stat st;

    /* the container's devpts instance; never through /dev/ptmx, which a
     * container process may have replaced (an exec runs this later) */
    master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (master < 0)
        FAIL(c, "open /dev/pts/ptmx: %s", strerror(errno));
    if (fstat(master, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5)
        FAIL(c, "/dev/pts/ptmx is not a pty multiplexer");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &ptn) < 0)
        FAIL(c, "unlock pty: %s", strerror(errno));
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        FAIL(c, "open pty slave: %s", strerror(errno));
    if (fchown(slave, c->user.uid, (gid_t)-1) < 0)
        FAIL(c, "chown pty: %s", strerror(errno));
    ws.ws_row = (unsigned short)(c->x ? c->x->console_rows : c->spec->console_rows);
    ws.ws_col = (unsigned short)(c->x ? c->x->console_cols : c->spec->console_cols);
    if (ws.ws_row && ws.ws_col)
        (void)ioctl(master, TIOCSWINSZ, &ws);
    if (!c->x) {
        /* /dev/console -> the slave, as a symlink (no bind from a path) */
        snprintf(name, sizeof(name), "pts/%u", ptn);
        (void)unlink("/dev/console");
        if (symlink(name, "/dev/console") < 0)
            FAIL(c, "symlink /dev/console: %s", strerror(errno));
    }
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        FAIL(c, "set controlling tty: %s", strerror(errno));
    if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
        FAIL(c, "dup2 pty: %s", strerror(errno));
    (void)close(slave);

    buf[0] = MON_SYNC_TTY;
    memset(cbuf, 0, sizeof(cbuf));
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    if (sendmsg(c->m->c_sync, &msg, MSG_NOSIGNAL) < 0)
        FAIL(c, "send pty master: %s", strerror(errno));
    (void)close(master);
}

static void setup_stdio(struct child *c)
{
    struct mon *m = c->m;
    struct stat st;
    int in;

    if (c->tty)
        return;
    if (m->c_stdin >= 0) {
        in = m->c_stdin;
    } else {
        /* the container's own /dev/null, not the host's */
        in = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0 || fstat(in, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
            FAIL(c, "open /dev/null in the container failed");
    }
    if (dup2(in, 0) < 0 || dup2(m->c_stdout, 1) < 0 || dup2(m->c_stderr, 2) < 0)
        FAIL(c, "dup2 stdio: %s", strerror(errno));
    /* a non-root user must still be able to reopen /proc/self/fd/1 */
    (void)!fchown(1, c->user.uid, c->user.gid);
    (void)!fchown(2, c->user.uid, c->user.gid);
    if (m->c_stdin >= 0)
        (void)!fchown(0, c->user.uid, c->user.gid);
}

static void load_seccomp(struct child *c)
{
    ProtobufCBinaryData *b = &c->spec->seccomp_bpf;
    struct sock_fprog prog;
    struct sock_filter *f;

    if (b->len == 0)
        return;
    f = malloc(b->len);
    if (!f)
        FAIL(c, "out of memory");
    memcpy(f, b->data, b->len);
    prog.len = (unsigned short)(b->len / sizeof(struct sock_filter));
    prog.filter = f;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) < 0 &&
        (errno != EINVAL || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0))
        FAIL(c, "load seccomp filter: %s", strerror(errno));
    free(f);
}

/* runtime-notes 2.5 step 34, in this exact order */
static void apply_security(struct child *c)
{
    Shoal__Rt__RtSpec *s = c->spec;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];

    if (!s->no_new_privs)
        load_seccomp(c);
    for (unsigned cap = 0; cap <= c->m->cap_last_cap && cap < 64; cap++)
        if (!(c->cap_mask & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
            errno != EINVAL)
            FAIL(c, "drop capability %u from the bounding set: %s", cap, strerror(errno));
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        FAIL(c, "keepcaps: %s", strerror(errno));
    if (setgroups(c->user.ngroups, c->user.groups) < 0)
        FAIL(c, "setgroups: %s", strerror(errno));
    if (setresgid(c->user.gid, c->user.gid, c->user.gid) < 0)
        FAIL(c, "setgid %u: %s", (unsigned)c->user.gid, strerror(errno));
    if (setresuid(c->user.uid, c->user.uid, c->user.uid) < 0)
        FAIL(c, "setuid %u: %s", (unsigned)c->user.uid, strerror(errno));
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        FAIL(c, "keepcaps: %s", strerror(errno));
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = (uint32_t)c->cap_mask;
    data[1].effective = data[1].permitted = (uint32_t)(c->cap_mask >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0)
        FAIL(c, "capset: %s", strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        FAIL(c, "clear ambient capabilities: %s", strerror(errno));
    if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        FAIL(c, "no_new_privs: %s", strerror(errno));
    /* a uid change clears the parent-death signal */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

void mon_child_main(struct mon *m)
{
    Shoal__Rt__RtSpec *s = m->spec;
    struct child c = {.m = m,
                      .spec = s,
                      .rootfd = -1,
                      .args = s->args,
                      .n_args = s->n_args,
                      .cwd = s->cwd,
                      .cap_mask = s->cap_mask,
                      .tty = s->tty};
    sigset_t none;
    struct err e = {0};

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* the monitor's ends and its own fds are none of our business */
    if (m->status_fd >= 0)
        (void)close(m->status_fd);
    if (m->in_fd >= 0)
        (void)close(m->in_fd);
    (void)close(m->out_fd);
    (void)close(m->err_fd);
    (void)close(m->sync_fd);
    umask(0);

    sync_wait(&c, MON_SYNC_GO);

    if (s->net_mode == SHOAL__RT__RT_NET_MODE__RT_NET_PATH && setns(m->netns_fd, CLONE_NEWNET) < 0)
        FAIL(&c, "join network namespace '%s': %s", s->netns_path, strerror(errno));
    if (m->cg_mode == RT_CGROUP_V2 && unshare(CLONE_NEWCGROUP) < 0)
        FAIL(&c, "unshare cgroup namespace: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL(&c, "make / private: %s", strerror(errno));
    /* the bind source for masks: the host's /dev/null as seen in our mount
     * namespace (a mount of the monitor's namespace cannot be bound here) */
    m->devnull_fd = open("/dev/null", O_PATH | O_CLOEXEC);
    {
        struct stat st;
        if (m->devnull_fd < 0 || fstat(m->devnull_fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
            st.st_rdev != makedev(1, 3))
            FAIL(&c, "/dev/null is not the null device");
    }
    mount_overlay(&c);
    if (s->net_mode == SHOAL__RT__RT_NET_MODE__RT_NET_NONE)
        loopback_up(&c);

    c.rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c.rootfd < 0)
        FAIL(&c, "open rootfs '%s': %s", s->rootfs, strerror(errno));
    setup_rootfs(&c);
    do_pivot(&c);

    if (*s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
        FAIL(&c, "sethostname: %s", strerror(errno));
    if (*s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
        FAIL(&c, "setdomainname: %s", strerror(errno));
    if (mon_user_resolve_at(c.rootfd, s->user, &c.user, &e) < 0)
        FAIL(&c, "%s", e.msg);
    build_env(&c);
    setup_cwd(&c);
    lookup_exec(&c);
    for (size_t i = 0; i < s->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = s->rlimits[i]->soft, .rlim_max = s->rlimits[i]->hard};
        if (setrlimit((int)s->rlimits[i]->resource, &rl) < 0)
            FAIL(&c, "setrlimit %u: %s", s->rlimits[i]->resource, strerror(errno));
    }
    umask(s->umask ? s->umask & 0777 : 022);

    if (setsid() < 0)
        FAIL(&c, "setsid: %s", strerror(errno));
    if (s->tty)
        setup_tty(&c);
    setup_stdio(&c);
    (void)close(c.rootfd);
    (void)close(m->devnull_fd);
    if (m->netns_fd >= 0)
        (void)close(m->netns_fd);
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        FAIL(&c, "close_range: %s", strerror(errno));

    apply_security(&c);

    /* signals were blocked by the monitor; the program gets a clean slate */
    (void)signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);

    sync_send(&c, MON_SYNC_READY);
    sync_wait(&c, MON_SYNC_START);
    if (s->no_new_privs)
        load_seccomp(&c);
    execve(c.exec_path, c.argv, c.env);
    {
        int en = errno;
        child_fail(&c,
                   en == ENOENT                    ? 127
                   : (en == EACCES || en == EPERM) ? 126
                                                   : 125,
                   "exec: \"%s\": %s", s->args[0],
                   en == ENOENT   ? "no such file or directory"
                   : en == EACCES ? "permission denied"
                   : en == EPERM  ? "operation not permitted"
                                  : strerror(en));
    }
}

/* ---- exec ------------------------------------------------------------------ */

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Close every fd but the ones in keep (which may hold -1s). */
static void close_all_except(int *keep, size_t n)
{
    unsigned lo = 0;

    qsort(keep, n, sizeof(int), cmp_int);
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < lo)
            continue;
        if ((unsigned)keep[i] > lo)
            (void)close_range(lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    (void)close_range(lo, ~0U, 0);
}

/*
 * runtime-notes section 7, step 5, in a child the monitor forked into the
 * container's PID namespace (so no second fork is needed): cgroup, the other
 * namespaces through the init's pidfd, then the same steps as the init
 * (user, env, cwd, PATH lookup, rlimits, tty/stdio, security), then execve.
 * Failures go to the monitor on fds[0] (MON_SYNC_ERROR), like the init's.
 */
void mon_exec_child_main(struct mon *m, const Shoal__Rt__RtExec *x, const int fds[4])
{
    Shoal__Rt__RtSpec *s = m->spec;
    struct child c = {.m = m,
                      .spec = s,
                      .rootfd = -1,
                      .x = x,
                      .args = x->args,
                      .n_args = x->n_args,
                      .cwd = *x->cwd ? x->cwd : s->cwd,
                      .cap_mask = s->cap_mask,
                      .tty = x->tty};
    int keep[8] = {0, 1, 2, fds[0], fds[1], fds[2], fds[3], m->pidfd};
    int nsflags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    struct err e = {0};
    sigset_t none;

    /* no container process may trace us while we hold host resources */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    close_all_except(keep, ARRAY_SIZE(keep));
    m->c_sync = fds[0];
    m->c_stdin = fds[1];
    m->c_stdout = fds[2];
    m->c_stderr = fds[3];
    if (x->privileged)
        c.cap_mask = m->cap_last_cap >= 63 ? ~0ULL : (1ULL << (m->cap_last_cap + 1)) - 1;
    umask(0);

    /* the cgroup first: its files are only reachable from the host's mounts */
    if (m->cg_created &&
        rt_cgroup_enter("/sys/fs/cgroup", m->cg_mode, m->cg_path, getpid(), &e) < 0)
        FAIL(&c, "join the container's cgroup: %s", e.msg);
    if (m->cg_mode == RT_CGROUP_V2)
        nsflags |= CLONE_NEWCGROUP;
    if (setns(m->pidfd, nsflags) < 0)
        FAIL(&c, "join the container's namespaces: %s", strerror(errno));
    (void)close(m->pidfd);
    m->pidfd = -1;
    /* setns(CLONE_NEWNS) put root and cwd at the container's root */
    c.rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c.rootfd < 0)
        FAIL(&c, "open the container's root: %s", strerror(errno));
    if (mon_user_resolve_at(c.rootfd, *x->user ? x->user : s->user, &c.user, &e) < 0)
        FAIL(&c, "%s", e.msg);
    build_env(&c);
    setup_cwd(&c);
    lookup_exec(&c);
    for (size_t i = 0; i < s->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = s->rlimits[i]->soft, .rlim_max = s->rlimits[i]->hard};
        if (setrlimit((int)s->rlimits[i]->resource, &rl) < 0)
            FAIL(&c, "setrlimit %u: %s", s->rlimits[i]->resource, strerror(errno));
    }
    umask(s->umask ? s->umask & 0777 : 022);
    if (setsid() < 0)
        FAIL(&c, "setsid: %s", strerror(errno));
    if (x->tty)
        setup_tty(&c);
    setup_stdio(&c);
    (void)close(c.rootfd);
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        FAIL(&c, "close_range: %s", strerror(errno));

    apply_security(&c);

    (void)signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    if (s->no_new_privs)
        load_seccomp(&c);
    execve(c.exec_path, c.argv, c.env);
    {
        int en = errno;
        child_fail(&c,
                   en == ENOENT                    ? 127
                   : (en == EACCES || en == EPERM) ? 126
                                                   : 125,
                   "exec: \"%s\": %s", x->args[0],
                   en == ENOENT   ? "no such file or directory"
                   : en == EACCES ? "permission denied"
                   : en == EPERM  ? "operation not permitted"
                                  : strerror(en));
    }
}
