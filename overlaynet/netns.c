/*
 * overlaynet/netns.c - named network namespaces: a bind mount of the
 * namespace on a file, as `ip netns add` does, under <exec-root>/netns/.
 */
#include <errno.h>
#include <fcntl.h>
#include <netlink/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/util.h"

#include "overlaynet/internal.h"

static bool is_mount_root(const char *dir)
{
    struct statx st;

    if (statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) < 0)
        return false;
    return (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

int onet__netns_dir_init(const char *dir, struct err *err)
{
    int r = mkdir_p(dir, 0700);

    if (r < 0)
        return err_set(err, r, "creating %s: %s", dir, strerror(-r));
    if (!is_mount_root(dir) && mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
        return err_set(err, -errno, "bind mount of %s: %s", dir, strerror(errno));
    /* Shared, so a namespace mounted later shows up in mount namespaces
     * cloned before, and its unmount propagates to them. */
    if (mount(NULL, dir, NULL, MS_SHARED | MS_REC, NULL) < 0)
        return err_set(err, -errno, "making %s shared: %s", dir, strerror(errno));
    return 0;
}

void onet__netns_dir_fini(const char *dir)
{
    if (is_mount_root(dir))
        (void)umount2(dir, MNT_DETACH);
    (void)rmdir(dir);
}

struct create_job {
    const char *path;
    int fd;
    char msg[200];
};

static int create_here(void *p)
{
    struct create_job *j = p;
    struct nl_sock *sk = NULL;
    int r;

    if (unshare(CLONE_NEWNET) < 0) {
        r = -errno;
        (void)snprintf(j->msg, sizeof(j->msg), "unshare: %s", strerror(errno));
        return r;
    }
    if (mount("/proc/thread-self/ns/net", j->path, NULL, MS_BIND, NULL) < 0) {
        r = -errno;
        (void)snprintf(j->msg, sizeof(j->msg), "bind mount: %s", strerror(errno));
        return r;
    }
    j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (j->fd < 0) {
        r = -errno;
        (void)snprintf(j->msg, sizeof(j->msg), "open: %s", strerror(errno));
        return r;
    }
    if ((r = onet__nl_open(-1, &sk, NULL)) < 0 || (r = onet__link_up(sk, "lo", 0, NULL)) < 0)
        (void)snprintf(j->msg, sizeof(j->msg), "loopback up: %s", strerror(-r));
    onet__nl_close(sk);
    return r;
}

int onet__netns_create(const char *path, int *ret_fd, struct err *err)
{
    struct create_job j = {.path = path, .fd = -1};
    int fd, r;

    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0 && errno == EEXIST) {
        onet__netns_delete(path);
        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    }
    if (fd < 0)
        return err_set(err, -errno, "creating %s: %s", path, strerror(errno));
    (void)close(fd);
    r = onet__in_netns(-1, create_here, &j);
    if (r < 0) {
        if (j.fd >= 0)
            (void)close(j.fd);
        onet__netns_delete(path);
        return err_set(err, r, "network namespace %s: %s", path, j.msg);
    }
    *ret_fd = j.fd;
    return 0;
}

void onet__netns_delete(const char *path)
{
    (void)umount2(path, MNT_DETACH);
    (void)unlink(path);
}
