/*
 * runtime/monitor/fs.c - path resolution inside the container rootfs.
 *
 * Every path in the rootfs is resolved from an O_PATH fd of the root:
 * either with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), which lets the
 * image's symlinks work but keeps them inside the root, or, for the targets
 * the runtime itself owns (proc, sys, dev, /etc/hosts...), with a component
 * walk that follows no symlink at all and replaces anything of the wrong type
 * (Docker's init layer). Objects are created with mkdirat/openat on the
 * verified parent fd, never through a path string.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/monitor/monitor.h"

const char *mon_fdpath(struct mon_fdpath *p, int fd)
{
    snprintf(p->s, sizeof(p->s), "/proc/self/fd/%d", fd);
    return p->s;
}

static int openat2_fd(int dirfd, const char *path, int flags, uint64_t resolve)
{
    struct open_how how = {
        .flags = (uint64_t)flags | O_CLOEXEC,
        .resolve = resolve,
    };
    long fd;

    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    return fd < 0 ? -errno : (int)fd;
}

int mon_open_in_root(int rootfd, const char *path, int flags)
{
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    return openat2_fd(rootfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* Next path component: *p advanced past it; returns its length (0 = end). */
static size_t next_comp(const char **p, const char **comp)
{
    const char *s = *p;
    size_t n;

    for (;;) {
        while (*s == '/')
            s++;
        n = strcspn(s, "/");
        if (n == 1 && s[0] == '.') {
            s += 1;
            continue;
        }
        break;
    }
    *comp = s;
    *p = s + n;
    return n;
}

static bool is_last(const char *rest)
{
    while (*rest == '/' || (rest[0] == '.' && (rest[1] == '/' || rest[1] == 0)))
        rest++;
    return *rest == 0;
}

static int create_at(int dirfd, const char *name, bool dir)
{
    if (dir) {
        if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
            return -errno;
    } else {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return -errno;
        if (fd >= 0)
            (void)close(fd);
    }
    return 0;
}

int mon_resolve_create(int rootfd, const char *path, bool want_dir)
{
    char prefix[4096];
    const char *p = path;
    const char *comp;
    size_t n, plen = 0;
    int parent, fd;

    fd = mon_open_in_root(rootfd, path, O_PATH);
    if (fd != -ENOENT)
        return fd;

    parent = dup(rootfd);
    if (parent < 0)
        return -errno;
    while ((n = next_comp(&p, &comp)) > 0) {
        bool last = is_last(p);

        if (plen + n + 2 > sizeof(prefix)) {
            (void)close(parent);
            return -ENAMETOOLONG;
        }
        if (plen)
            prefix[plen++] = '/';
        memcpy(prefix + plen, comp, n);
        plen += n;
        prefix[plen] = 0;

        fd = mon_open_in_root(rootfd, prefix, O_PATH);
        if (fd == -ENOENT) {
            char name[256];
            int r;

            if (n >= sizeof(name) || (n == 2 && comp[0] == '.' && comp[1] == '.')) {
                (void)close(parent);
                return -ENOENT;
            }
            memcpy(name, comp, n);
            name[n] = 0;
            r = create_at(parent, name, !last || want_dir);
            if (r < 0) {
                (void)close(parent);
                return r;
            }
            fd = mon_open_in_root(rootfd, prefix, O_PATH);
        }
        (void)close(parent);
        if (fd < 0)
            return fd;
        parent = fd;
    }
    return parent;
}

int mon_ensure_replace(int rootfd, const char *path, bool want_dir)
{
    const char *p = path;
    const char *comp;
    size_t n;
    int cur = dup(rootfd);

    if (cur < 0)
        return -errno;
    while ((n = next_comp(&p, &comp)) > 0) {
        bool dir = !is_last(p) || want_dir;
        char name[256];
        struct stat st;
        int fd;

        if (n >= sizeof(name) || (n == 2 && comp[0] == '.' && comp[1] == '.')) {
            (void)close(cur);
            return -EINVAL;
        }
        memcpy(name, comp, n);
        name[n] = 0;
        bool create = false;

        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            bool ok = dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);

            if (!ok && unlinkat(cur, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
                int e = -errno;
                (void)close(cur);
                return e;
            }
            create = !ok;
        } else if (errno == ENOENT) {
            create = true;
        } else {
            int e = -errno;
            (void)close(cur);
            return e;
        }
        if (create) {
            int r = create_at(cur, name, dir);
            if (r < 0) {
                (void)close(cur);
                return r;
            }
        }
        fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
        (void)close(cur);
        if (fd < 0)
            return -errno;
        if (!dir && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
            (void)close(fd);
            return -ELOOP;
        }
        cur = fd;
    }
    return cur;
}
