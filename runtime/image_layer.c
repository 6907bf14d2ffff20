/*
 * runtime/image_layer.c - extract one layer tar into a directory, safely.
 *
 * The tar is attacker data read by host root. libarchive only parses; every
 * filesystem write is ours, relative to directory fds:
 *   - names are cleaned lexically; a relative name whose ".." climbs above the
 *     root is refused, a rooted name ("/abs") is taken relative to the root;
 *   - parents are walked one component at a time with
 *     openat(O_PATH|O_DIRECTORY|O_NOFOLLOW), so a symlink (even one planted by
 *     an earlier entry of the same tar) is never followed: the entry is refused;
 *   - files are created O_CREAT|O_EXCL|O_NOFOLLOW, metadata is set on the fd
 *     (fchown, fchmod, fsetxattr, futimens) or with AT_SYMLINK_NOFOLLOW;
 *   - hard links must name an existing non-directory inside the layer,
 *     reached by the same confined walk;
 *   - whiteouts become overlayfs whiteouts (0/0 char device, opaque xattr);
 *   - stream bytes, declared file sizes, entry count, name and link length and
 *     directory depth are capped.
 *
 * The diff-id is the sha256 of the whole uncompressed stream. Two libarchive
 * readers are chained in one thread: stage 1 (filters gzip/bzip2/xz/zstd/lz4 +
 * the "raw" format) decompresses; stage 2 (tar format, no filter) parses, and
 * its read callback pulls decompressed bytes from stage 1, hashing and
 * counting them on the way. After the tar end marker the rest of stage 1 is
 * drained into the hash too, so trailing padding counts as in Docker.
 */
#define LOG_MODULE "image"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/macros.h"

#include "runtime/image_internal.h"

#define PIPE_BUF_SIZE (128 * 1024)

struct pipe_ctx {
    struct archive *raw; /* stage 1 */
    struct rt__ts *ts;
    EVP_MD_CTX *md;
    uint64_t bytes;
    uint64_t max_bytes;
    bool over_limit;
    bool raw_failed;
    char raw_msg[256];
    char *buf;
};

struct dir_time {
    char *path; /* cleaned relative path, "" = root */
    struct timespec ts[2];
};

struct xctx {
    int root_fd; /* O_RDONLY|O_DIRECTORY, the layer root */
    const struct rt__layer_limits *lim;
    struct rt__ts *ts;
    uint64_t entries;
    uint64_t declared;
    struct dir_time *dts;
    size_t n_dts;
    size_t cap_dts;
    struct err *err;
};

void rt__sha256_id(const void *data, size_t len, char out[72])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    (void)EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < 32; i++)
        (void)snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

/* ---- path handling ---------------------------------------------------------------------- */

/*
 * Clean a tar name lexically into "a/b/c" ("" = the root). ".." of a rooted
 * name stops at the root (as Go's filepath.Clean); ".." escaping a relative
 * name is an error. ret_depth = number of components.
 */
static int clean_path(const char *in, char *out, size_t outlen, size_t *ret_depth)
{
    bool rooted = in[0] == '/';
    size_t len = 0;
    size_t depth = 0;
    const char *p = in;

    out[0] = '\0';
    while (*p) {
        const char *s;
        size_t n;

        while (*p == '/')
            p++;
        if (!*p)
            break;
        s = p;
        while (*p && *p != '/')
            p++;
        n = (size_t)(p - s);
        if (n == 1 && s[0] == '.')
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (depth == 0) {
                if (rooted)
                    continue;
                return -EINVAL;
            }
            /* drop the last component */
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* the separator */
            out[len] = '\0';
            depth--;
            continue;
        }
        if (len + (len ? 1 : 0) + n + 1 > outlen)
            return -ENAMETOOLONG;
        if (len)
            out[len++] = '/';
        memcpy(out + len, s, n);
        len += n;
        out[len] = '\0';
        depth++;
    }
    *ret_depth = depth;
    return 0;
}

/* Split "a/b/c" into dir "a/b" (written into dir) and base "c" (points into path). */
static const char *split_path(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        dir[0] = '\0';
        return path;
    }
    (void)snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
    return slash + 1;
}

/*
 * Open the directory at relative path dir ("" = root) without following any
 * symlink, creating missing components (0755) when create is set.
 * Returns an O_PATH fd, or -errno with err (may be NULL) set.
 */
static int walk_dir_err(int root_fd, const char *dir, bool create, const char *entry,
                        struct err *err)
{
    char comp[RT_LAYER_MAX_PATH];
    const char *p = dir;
    int cur = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (cur < 0)
        return err_set(err, -errno, "open layer root: %m");
    while (*p) {
        const char *s = p;
        size_t n;
        int nfd;
        int shown;

        while (*p && *p != '/')
            p++;
        n = (size_t)(p - s);
        shown = (int)(p - dir);
        if (*p == '/')
            p++;
        memcpy(comp, s, n);
        comp[n] = '\0';
        nfd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0755) < 0) {
                if (errno != EEXIST) {
                    int e = -errno;
                    (void)close(cur);
                    return err_set(err, e, "tar entry %s: create parent %s: %s", entry, comp,
                                   strerror(-e));
                }
            } else if (fchmodat(cur, comp, 0755, AT_SYMLINK_NOFOLLOW) < 0) {
                /* 0755 whatever the daemon's umask */
                int e = -errno;
                (void)close(cur);
                return err_set(err, e, "tar entry %s: chmod parent %s: %s", entry, comp,
                               strerror(-e));
            }
            nfd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0) {
            int e = -errno;
            (void)close(cur);
            if (e == -ENOTDIR || e == -ELOOP)
                return err_set(err, -EINVAL,
                               "tar entry %s: parent %.*s is not a directory (symlinks in "
                               "parents are not followed)",
                               entry, shown, dir);
            return err_set(err, e, "tar entry %s: open parent %.*s: %s", entry, shown, dir,
                           strerror(-e));
        }
        (void)close(cur);
        cur = nfd;
    }
    return cur;
}

int rt__layer_walk_dir(int root_fd, const char *dir, const char *entry)
{
    return walk_dir_err(root_fd, dir, false, entry, NULL);
}

static int walk_dir(struct xctx *x, const char *dir, bool create, const char *entry)
{
    return walk_dir_err(x->root_fd, dir, create, entry, x->err);
}

/* Remove name under dfd without following symlinks (a whole tree for directories). */
static int remove_tree_at(int dfd, const char *name, int depth)
{
    struct stat st;
    CLEANUP(closedirp) DIR *d = NULL;
    struct dirent *de;
    int fd;

    if (depth > RT_LAYER_MAX_DEPTH + 8)
        return -ELOOP;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        (void)close(fd);
        return e;
    }
    while ((errno = 0, de = readdir(d))) {
        int r;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = remove_tree_at(fd, de->d_name, depth + 1);
        if (r < 0)
            return r;
    }
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/*
 * Make room for a new entry `name` in pfd. A directory replacing a directory
 * keeps it (returns 1); anything else removes what is there (returns 0).
 */
static int make_room(struct xctx *x, int pfd, const char *name, bool new_is_dir, const char *entry)
{
    struct stat st;
    int r;

    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return err_set(x->err, -errno, "tar entry %s: %m", entry);
    }
    if (S_ISDIR(st.st_mode) && new_is_dir)
        return 1;
    r = remove_tree_at(pfd, name, 0);
    if (r < 0)
        return err_set(x->err, r, "tar entry %s: replace existing: %s", entry, strerror(-r));
    return 0;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static bool xattr_allowed(const char *name)
{
    /* Never let a layer set overlay or other trusted.* attributes, nor LSM
     * labels; file capabilities are kept as Docker does. */
    if (strncmp(name, "trusted.", 8) == 0)
        return false;
    if (strncmp(name, "security.", 9) == 0)
        return strcmp(name, "security.capability") == 0;
    return true;
}

static int apply_xattrs(struct xctx *x, int fd, struct archive_entry *e, const char *entry)
{
    const char *name;
    const void *val;
    size_t size;

    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
        if (!name || !xattr_allowed(name))
            continue;
        if (fsetxattr(fd, name, val, size, 0) < 0) {
            /* Like Docker: a backing fs without xattr support is not fatal. */
            if (errno == ENOTSUP || errno == EPERM) {
                log_debug("tar entry %s: xattr %s not applied: %m", entry, name);
                continue;
            }
            return err_set(x->err, -errno, "tar entry %s: set xattr %s: %m", entry, name);
        }
    }
    return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        ts[0] = ts[1];
    }
    if (ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000L)
        ts[0].tv_nsec = 0;
    if (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000L)
        ts[1].tv_nsec = 0;
}

/* Owner, mode, xattrs, times on an open fd (regular files and directories).
 * chown first: it clears setuid bits and file capabilities. */
static int apply_fd_meta(struct xctx *x, int fd, struct archive_entry *e, bool times,
                         const char *entry)
{
    struct timespec ts[2];
    int r;

    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return err_set(x->err, -errno, "tar entry %s: chown: %m", entry);
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return err_set(x->err, -errno, "tar entry %s: chmod: %m", entry);
    r = apply_xattrs(x, fd, e, entry);
    if (r < 0)
        return r;
    if (times) {
        entry_times(e, ts);
        if (futimens(fd, ts) < 0)
            return err_set(x->err, -errno, "tar entry %s: set times: %m", entry);
    }
    return 0;
}

static int remember_dir_time(struct xctx *x, const char *rel, struct archive_entry *e)
{
    if (x->n_dts == x->cap_dts) {
        size_t ncap = x->cap_dts ? x->cap_dts * 2 : 64;
        struct dir_time *n = realloc(x->dts, ncap * sizeof(*n));
        if (!n)
            return err_set(x->err, -ENOMEM, "out of memory");
        x->dts = n;
        x->cap_dts = ncap;
    }
    x->dts[x->n_dts].path = strdup(rel);
    if (!x->dts[x->n_dts].path)
        return err_set(x->err, -ENOMEM, "out of memory");
    entry_times(e, x->dts[x->n_dts].ts);
    x->n_dts++;
    return 0;
}

/* Directory mtimes last: creating their children changed them. */
static int apply_dir_times(struct xctx *x)
{
    char dir[RT_LAYER_MAX_PATH];

    for (size_t i = 0; i < x->n_dts; i++) {
        const char *rel = x->dts[i].path;
        const char *base;
        struct stat st;
        int pfd;

        if (!*rel) {
            if (futimens(x->root_fd, x->dts[i].ts) < 0)
                return err_set(x->err, -errno, "set times of layer root: %m");
            continue;
        }
        base = split_path(rel, dir, sizeof(dir));
        pfd = walk_dir_err(x->root_fd, dir, false, rel, NULL);
        if (pfd < 0) {
            /* replaced by a later entry: nothing to date */
            continue;
        }
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
            utimensat(pfd, base, x->dts[i].ts, AT_SYMLINK_NOFOLLOW) < 0) {
            int e = -errno;
            (void)close(pfd);
            return err_set(x->err, e, "tar entry %s: set times: %s", rel, strerror(-e));
        }
        (void)close(pfd);
    }
    return 0;
}

/* ---- entry types ------------------------------------------------------------------------- */

static int write_data(struct xctx *x, struct archive *a, int fd, struct archive_entry *e,
                      const char *entry)
{
    int64_t end = 0;

    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &size, &off);

        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return err_set(x->err, -EINVAL, "tar entry %s: read data: %s", entry,
                           archive_error_string(a) ?: "corrupt archive");
        for (size_t done = 0; done < size;) {
            ssize_t n = pwrite(fd, (const char *)buf + done, size - done, off + (off_t)done);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return err_set(x->err, -errno, "tar entry %s: write: %m", entry);
            }
            done += (size_t)n;
        }
        if (off + (int64_t)size > end)
            end = off + (int64_t)size;
    }
    /* sparse files may end in a hole */
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
        ftruncate(fd, archive_entry_size(e)) < 0)
        return err_set(x->err, -errno, "tar entry %s: truncate: %m", entry);
    return 0;
}

static int do_regular(struct xctx *x, struct archive *a, struct archive_entry *e, int pfd,
                      const char *base, const char *entry)
{
    cleanup_close int fd = -1;
    int r;

    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
        x->declared += (uint64_t)archive_entry_size(e);
        if (x->declared > x->lim->max_bytes)
            return err_set(x->err, -EFBIG, "layer too large: files exceed the limit of %llu bytes",
                           (unsigned long long)x->lim->max_bytes);
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
        r = make_room(x, pfd, base, false, entry);
        if (r < 0)
            return r;
    }
    if (fd < 0)
        return err_set(x->err, -errno, "tar entry %s: create: %m", entry);
    if (x->ts && archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
        rt__ts_file(x->ts, (uint64_t)archive_filter_bytes(a, 0), (uint64_t)archive_entry_size(e),
                    entry);
    r = write_data(x, a, fd, e, entry);
    if (r < 0)
        return r;
    return apply_fd_meta(x, fd, e, true, entry);
}

static int do_dir(struct xctx *x, struct archive_entry *e, int pfd, const char *base,
                  const char *rel)
{
    cleanup_close int fd = -1;
    int r;

    if (mkdirat(pfd, base, 0700) < 0) {
        if (errno != EEXIST)
            return err_set(x->err, -errno, "tar entry %s: mkdir: %m", rel);
        r = make_room(x, pfd, base, true, rel);
        if (r < 0)
            return r;
        if (r == 0 && mkdirat(pfd, base, 0700) < 0)
            return err_set(x->err, -errno, "tar entry %s: mkdir: %m", rel);
    }
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_set(x->err, -errno, "tar entry %s: open: %m", rel);
    r = apply_fd_meta(x, fd, e, false, rel);
    if (r < 0)
        return r;
    return remember_dir_time(x, rel, e);
}

static int do_symlink(struct xctx *x, struct archive_entry *e, int pfd, const char *base,
                      const char *entry)
{
    const char *target = archive_entry_symlink(e);
    struct timespec ts[2];
    int r;

    if (!target)
        target = archive_entry_symlink_utf8(e);
    if (!target || !*target)
        return err_set(x->err, -EINVAL, "tar entry %s: symlink without a target", entry);
    if (strlen(target) > RT_LAYER_MAX_LINK)
        return err_set(x->err, -EFBIG, "tar entry %s: symlink target longer than %d bytes", entry,
                       RT_LAYER_MAX_LINK);
    /* The target is data: it is stored, never resolved here. */
    if (symlinkat(target, pfd, base) < 0) {
        if (errno != EEXIST)
            return err_set(x->err, -errno, "tar entry %s: symlink: %m", entry);
        r = make_room(x, pfd, base, false, entry);
        if (r < 0)
            return r;
        if (symlinkat(target, pfd, base) < 0)
            return err_set(x->err, -errno, "tar entry %s: symlink: %m", entry);
    }
    if (fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(x->err, -errno, "tar entry %s: chown: %m", entry);
    entry_times(e, ts);
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(x->err, -errno, "tar entry %s: set times: %m", entry);
    return 0;
}

static int do_special(struct xctx *x, struct archive_entry *e, int pfd, const char *base,
                      const char *entry)
{
    mode_t type;
    struct timespec ts[2];
    int r;

    switch (archive_entry_filetype(e)) {
    case AE_IFCHR:
        type = S_IFCHR;
        break;
    case AE_IFBLK:
        type = S_IFBLK;
        break;
    default:
        type = S_IFIFO;
        break;
    }
    if (mknodat(pfd, base, type | 0600, archive_entry_rdev(e)) < 0) {
        if (errno != EEXIST)
            return err_set(x->err, -errno, "tar entry %s: mknod: %m", entry);
        r = make_room(x, pfd, base, false, entry);
        if (r < 0)
            return r;
        if (mknodat(pfd, base, type | 0600, archive_entry_rdev(e)) < 0)
            return err_set(x->err, -errno, "tar entry %s: mknod: %m", entry);
    }
    if (fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(x->err, -errno, "tar entry %s: chown: %m", entry);
    /* Never open a device or fifo; glibc does NOFOLLOW chmod via an O_PATH fd. */
    if (fchmodat(pfd, base, archive_entry_perm(e) & 07777, AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(x->err, -errno, "tar entry %s: chmod: %m", entry);
    entry_times(e, ts);
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(x->err, -errno, "tar entry %s: set times: %m", entry);
    return 0;
}

static int do_hardlink(struct xctx *x, const char *link, int pfd, const char *base, const char *rel)
{
    char tpath[RT_LAYER_MAX_PATH];
    char tdir[RT_LAYER_MAX_PATH];
    const char *tbase;
    size_t depth;
    struct stat st;
    int tpfd;
    int r;

    if (strlen(link) > RT_LAYER_MAX_LINK)
        return err_set(x->err, -EFBIG, "tar entry %s: link target too long", rel);
    if (clean_path(link, tpath, sizeof(tpath), &depth) < 0 || depth == 0)
        return err_set(x->err, -EINVAL, "tar entry %s: hard link target %s is outside the layer",
                       rel, link);
    if (strcmp(tpath, rel) == 0)
        return 0; /* a link to itself: nothing to do */
    tbase = split_path(tpath, tdir, sizeof(tdir));
    tpfd = walk_dir_err(x->root_fd, tdir, false, rel, NULL);
    if (tpfd < 0)
        return err_set(x->err, -EINVAL,
                       "tar entry %s: hard link target %s is not reachable inside the layer "
                       "(missing, or through a symlink)",
                       rel, link);
    if (fstatat(tpfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        (void)close(tpfd);
        return err_set(x->err, -EINVAL, "tar entry %s: hard link target %s does not exist", rel,
                       link);
    }
    if (S_ISDIR(st.st_mode)) {
        (void)close(tpfd);
        return err_set(x->err, -EINVAL, "tar entry %s: hard link target %s is a directory", rel,
                       link);
    }
    if (linkat(tpfd, tbase, pfd, base, 0) < 0) {
        if (errno != EEXIST) {
            r = -errno;
            (void)close(tpfd);
            return err_set(x->err, r, "tar entry %s: link: %s", rel, strerror(-r));
        }
        r = make_room(x, pfd, base, false, rel);
        if (r == 0 && linkat(tpfd, tbase, pfd, base, 0) < 0)
            r = err_set(x->err, -errno, "tar entry %s: link: %m", rel);
        (void)close(tpfd);
        return r;
    }
    (void)close(tpfd);
    return 0;
}

/* `.wh.<name>` -> overlay whiteout; `.wh..wh..opq` -> opaque dir. Returns 1 if
 * the entry was a whiteout (handled), 0 if not one, or -errno. */
static int do_whiteout(struct xctx *x, struct archive_entry *e, const char *dir, const char *base,
                       const char *rel)
{
    const char *name = base + 4;
    struct stat st;
    int pfd;
    int r = 1;

    if (strncmp(base, ".wh.", 4) != 0)
        return 0;
    if (strcmp(base, ".wh..wh..opq") == 0) {
        int dfd;

        pfd = walk_dir(x, dir, true, rel);
        if (pfd < 0)
            return pfd;
        dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        (void)close(pfd);
        if (dfd < 0)
            return err_set(x->err, -errno, "tar entry %s: %m", rel);
        if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            r = err_set(x->err, -errno, "tar entry %s: set opaque xattr: %m", rel);
        (void)close(dfd);
        return r;
    }
    if (strncmp(base, ".wh..wh.", 8) == 0)
        return 1; /* AUFS metadata (.wh..wh.plnk, ...): skipped */
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return err_set(x->err, -EINVAL, "tar entry %s: invalid whiteout name", rel);
    pfd = walk_dir(x, dir, true, rel);
    if (pfd < 0)
        return pfd;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        /* a whiteout never hides what the same layer adds */
        (void)close(pfd);
        return 1;
    }
    if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0) {
        r = err_set(x->err, -errno, "tar entry %s: create whiteout: %m", rel);
    } else if ((archive_entry_uid(e) || archive_entry_gid(e)) &&
               fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                        AT_SYMLINK_NOFOLLOW) < 0) {
        r = err_set(x->err, -errno, "tar entry %s: chown whiteout: %m", rel);
    }
    (void)close(pfd);
    return r;
}

static int apply_entry(struct xctx *x, struct archive *a, struct archive_entry *e)
{
    char rel[RT_LAYER_MAX_PATH + 1];
    char dir[RT_LAYER_MAX_PATH + 1];
    const char *name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    const char *base;
    size_t depth;
    int pfd;
    int r;

    if (++x->entries > x->lim->max_entries)
        return err_set(x->err, -EFBIG, "layer has too many entries (limit %llu)",
                       (unsigned long long)x->lim->max_entries);
    if (!name)
        name = archive_entry_pathname_utf8(e);
    if (!name || !*name)
        return err_set(x->err, -EINVAL, "tar entry without a name");
    if (strlen(name) > RT_LAYER_MAX_PATH)
        return err_set(x->err, -EFBIG, "tar entry name longer than %d bytes", RT_LAYER_MAX_PATH);
    r = clean_path(name, rel, sizeof(rel), &depth);
    if (r < 0)
        return err_set(x->err, -EINVAL, "tar entry %s is outside of the layer", name);
    if (depth > RT_LAYER_MAX_DEPTH)
        return err_set(x->err, -EFBIG, "tar entry %.100s...: deeper than %d directories", rel,
                       RT_LAYER_MAX_DEPTH);
    if (!link)
        link = archive_entry_hardlink_utf8(e);

    if (depth == 0) {
        /* "./" or "/": attributes of the layer root itself */
        if (link || archive_entry_filetype(e) != AE_IFDIR)
            return err_set(x->err, -EINVAL, "tar entry %s would replace the layer root", name);
        r = apply_fd_meta(x, x->root_fd, e, false, name);
        return r < 0 ? r : remember_dir_time(x, "", e);
    }
    base = split_path(rel, dir, sizeof(dir));
    rt__ts_entry(x->ts, rel, !link && archive_entry_filetype(e) == AE_IFDIR,
                 !link && archive_entry_filetype(e) == AE_IFREG && archive_entry_size_is_set(e) &&
                     archive_entry_size(e) > 0);
    r = do_whiteout(x, e, dir, base, rel);
    if (r != 0)
        return r < 0 ? r : 0;

    if (!link && archive_entry_filetype(e) == AE_IFSOCK) {
        log_debug("tar entry %s: socket skipped", rel);
        return 0;
    }
    pfd = walk_dir(x, dir, true, rel);
    if (pfd < 0)
        return pfd;
    if (link) {
        r = do_hardlink(x, link, pfd, base, rel);
    } else {
        switch (archive_entry_filetype(e)) {
        case AE_IFREG:
            r = do_regular(x, a, e, pfd, base, rel);
            break;
        case AE_IFDIR:
            r = do_dir(x, e, pfd, base, rel);
            break;
        case AE_IFLNK:
            r = do_symlink(x, e, pfd, base, rel);
            break;
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
            r = do_special(x, e, pfd, base, rel);
            break;
        default:
            r = err_set(x->err, -EINVAL, "tar entry %s: unsupported file type 0%o", rel,
                        (unsigned)archive_entry_filetype(e));
            break;
        }
    }
    (void)close(pfd);
    return r;
}

/* ---- the decompress + hash pipeline ------------------------------------------------------ */

static int pipe_account(struct pipe_ctx *p, struct archive *a, size_t n)
{
    p->bytes += n;
    if (p->bytes > p->max_bytes) {
        p->over_limit = true;
        if (a)
            archive_set_error(a, EFBIG, "layer exceeds the size limit");
        return -1;
    }
    if (EVP_DigestUpdate(p->md, p->buf, n) != 1) {
        if (a)
            archive_set_error(a, EIO, "sha256 failed");
        return -1;
    }
    return 0;
}

static la_ssize_t tar_read_cb(struct archive *a, void *opaque, const void **ret_buf)
{
    struct pipe_ctx *p = opaque;
    la_ssize_t n = archive_read_data(p->raw, p->buf, PIPE_BUF_SIZE);

    if (n < 0) {
        p->raw_failed = true;
        (void)snprintf(p->raw_msg, sizeof(p->raw_msg), "%s",
                       archive_error_string(p->raw) ?: "read error");
        archive_set_error(a, EIO, "%s", p->raw_msg);
        return -1;
    }
    if (pipe_account(p, a, (size_t)n) < 0)
        return -1;
    rt__ts_feed(p->ts, p->buf, (size_t)n);
    *ret_buf = p->buf;
    return n;
}

/* Raw reader over [off, off+len) of a file, hashing what it reads.
 *
 * gzip, by far the most common layer compression, is inflated here with
 * ISA-L (about four times faster than zlib on this class of machine), and
 * libarchive then sees a plain stream; the other compressions go through
 * libarchive's filters. The compressed digest (raw_md) is always taken over
 * the bytes as read. */
#define RAW_CHUNK (128 * 1024)
#define GZ_OUT    (256 * 1024)

struct range_rd {
    const struct rt__layer_src *src;
    int64_t pos;
    char *buf;
    int gz; /* -1: not looked yet, 0: not gzip, 1: gzip */
    bool gz_done;
    bool in_eof;
    struct inflate_state *st;
    unsigned char *out;
};

static ssize_t raw_read(struct archive *a, struct range_rd *rr)
{
    int64_t end = rr->src->len >= 0 ? rr->src->off + rr->src->len : INT64_MAX;
    size_t want = RAW_CHUNK;
    ssize_t n;

    if (rr->pos >= end)
        return 0;
    if ((int64_t)want > end - rr->pos)
        want = (size_t)(end - rr->pos);
    do {
        /* a stream (pipe, socket) is read as is; a range with pread */
        n = rr->src->len < 0 ? read(rr->src->fd, rr->buf, want)
                             : pread(rr->src->fd, rr->buf, want, rr->pos);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        archive_set_error(a, errno, "read: %s", strerror(errno));
        return -1;
    }
    if (n == 0 && rr->src->len >= 0) {
        archive_set_error(a, EIO, "unexpected end of the archive member");
        return -1;
    }
    if (n > 0 && rr->src->raw_md && EVP_DigestUpdate(rr->src->raw_md, rr->buf, (size_t)n) != 1) {
        archive_set_error(a, EIO, "sha256 failed");
        return -1;
    }
    rr->pos += n;
    return n;
}

static la_ssize_t gz_read(struct archive *a, struct range_rd *rr, const void **ret_buf)
{
    for (;;) {
        if (rr->gz_done) {
            /* hash whatever follows the gzip stream, then end */
            ssize_t n = raw_read(a, rr);
            if (n < 0)
                return -1;
            if (n == 0)
                return 0;
            continue;
        }
        if (rr->st->avail_in == 0 && !rr->in_eof) {
            ssize_t n = raw_read(a, rr);
            if (n < 0)
                return -1;
            if (n == 0)
                rr->in_eof = true;
            rr->st->next_in = (uint8_t *)rr->buf;
            rr->st->avail_in = (uint32_t)n;
        }
        rr->st->next_out = rr->out;
        rr->st->avail_out = GZ_OUT;
        int ret = isal_inflate(rr->st);
        size_t produced = GZ_OUT - rr->st->avail_out;
        if (ret < 0) {
            archive_set_error(a, EIO, "gzip: invalid compressed data (%d)", ret);
            return -1;
        }
        if (rr->st->block_state == ISAL_BLOCK_FINISH) {
            if (rr->st->avail_in > 0) {
                /* another gzip member follows (concatenated streams) */
                uint8_t *next = rr->st->next_in;
                uint32_t left = rr->st->avail_in;
                isal_inflate_reset(rr->st);
                rr->st->crc_flag = ISAL_GZIP;
                rr->st->next_in = next;
                rr->st->avail_in = left;
            } else if (rr->in_eof) {
                rr->gz_done = true;
            } else {
                /* the next read decides: more members or the end */
                ssize_t n = raw_read(a, rr);
                if (n < 0)
                    return -1;
                if (n == 0) {
                    rr->in_eof = true;
                    rr->gz_done = true;
                } else if ((unsigned char)rr->buf[0] == 0x1f) {
                    isal_inflate_reset(rr->st);
                    rr->st->crc_flag = ISAL_GZIP;
                    rr->st->next_in = (uint8_t *)rr->buf;
                    rr->st->avail_in = (uint32_t)n;
                } else {
                    rr->gz_done = true; /* trailing bytes: already hashed */
                }
            }
        } else if (produced == 0 && rr->in_eof && rr->st->avail_in == 0) {
            archive_set_error(a, EIO, "truncated gzip input");
            return -1;
        }
        if (produced > 0) {
            *ret_buf = rr->out;
            return (la_ssize_t)produced;
        }
    }
}

static la_ssize_t range_read_cb(struct archive *a, void *opaque, const void **ret_buf)
{
    struct range_rd *rr = opaque;
    ssize_t n;

    if (rr->gz == 1)
        return gz_read(a, rr, ret_buf);
    n = raw_read(a, rr);
    if (n <= 0)
        return n;
    if (rr->gz < 0) {
        rr->gz = n >= 2 && (unsigned char)rr->buf[0] == 0x1f && (unsigned char)rr->buf[1] == 0x8b;
        if (rr->gz == 1) {
            rr->st = calloc(1, sizeof(*rr->st));
            rr->out = malloc(GZ_OUT);
            if (!rr->st || !rr->out) {
                archive_set_error(a, ENOMEM, "out of memory");
                return -1;
            }
            isal_inflate_init(rr->st);
            rr->st->crc_flag = ISAL_GZIP;
            rr->st->next_in = (uint8_t *)rr->buf;
            rr->st->avail_in = (uint32_t)n;
            return gz_read(a, rr, ret_buf);
        }
    }
    *ret_buf = rr->buf;
    return n;
}

static int stage1_open(struct pipe_ctx *p, const struct rt__layer_src *src, struct range_rd *rr,
                       struct err *err)
{
    struct archive_entry *e;
    int r;

    p->raw = archive_read_new();
    if (!p->raw)
        return err_set(err, -ENOMEM, "out of memory");
    /* The compressions Docker accepts (+lz4); not filter_all, which can run
     * external programs (lrzip, lzop, grzip) on data we do not trust. */
    (void)archive_read_support_filter_gzip(p->raw);
    (void)archive_read_support_filter_bzip2(p->raw);
    (void)archive_read_support_filter_xz(p->raw);
    (void)archive_read_support_filter_zstd(p->raw);
    (void)archive_read_support_filter_lz4(p->raw);
    (void)archive_read_support_format_raw(p->raw);
    /* empty input is a valid (empty) raw stream; the tar stage rejects it */
    (void)archive_read_support_format_empty(p->raw);
    rr->src = src;
    rr->pos = src->off;
    rr->gz = -1;
    rr->buf = malloc(RAW_CHUNK);
    if (!rr->buf)
        return err_set(err, -ENOMEM, "out of memory");
    if (archive_read_open(p->raw, rr, NULL, range_read_cb, NULL) != ARCHIVE_OK)
        return err_set(err, -EINVAL, "read layer: %s",
                       archive_error_string(p->raw) ?: "cannot open stream");
    r = archive_read_next_header(p->raw, &e);
    if (r == ARCHIVE_EOF)
        return err_set(err, -EINVAL, "invalid tar: empty input");
    if (r < ARCHIVE_WARN)
        return err_set(err, -EINVAL, "read layer: %s",
                       archive_error_string(p->raw) ?: "cannot decompress");
    return 0;
}

int rt__layer_extract(const struct rt__layer_src *src, int dest_fd,
                      const struct rt__layer_limits *lim, struct rt__ts *ts, char ret_diff_id[72],
                      struct err *err)
{
    struct range_rd rr = {0};
    struct pipe_ctx p = {.max_bytes = lim->max_bytes, .ts = ts};
    struct xctx x = {.root_fd = dest_fd, .lim = lim, .ts = ts, .err = err};
    struct archive *tar = NULL;
    struct archive_entry *e;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int r = 0;

    /* the layer root is 0755 unless the tar says otherwise ("./" entry) */
    if (fchmod(dest_fd, 0755) < 0)
        return err_set(err, -errno, "chmod layer root: %m");
    p.buf = malloc(PIPE_BUF_SIZE);
    p.md = EVP_MD_CTX_new();
    if (!p.buf || !p.md || EVP_DigestInit_ex(p.md, EVP_sha256(), NULL) != 1) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    r = stage1_open(&p, src, &rr, err);
    if (r < 0)
        goto out;
    tar = archive_read_new();
    if (!tar) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    (void)archive_read_support_format_tar(tar);
    if (archive_read_open(tar, &p, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
        goto tar_error;
    for (;;) {
        r = archive_read_next_header(tar, &e);
        if (r == ARCHIVE_EOF)
            break;
        /* ARCHIVE_WARN: e.g. a name that does not convert to the locale; the raw
         * bytes are still there and are what we want. */
        if (r < ARCHIVE_WARN)
            goto tar_error;
        r = apply_entry(&x, tar, e);
        if (r < 0) {
            if (p.over_limit)
                goto tar_error;
            goto out;
        }
    }
    if (x.entries == 0 && p.bytes == 0) {
        r = err_set(err, -EINVAL, "invalid tar: empty input");
        goto out;
    }
    /* Trailing bytes after the end-of-archive blocks are part of the diff-id. */
    for (;;) {
        la_ssize_t n = archive_read_data(p.raw, p.buf, PIPE_BUF_SIZE);
        if (n < 0) {
            r = err_set(err, -EINVAL, "read layer: %s",
                        archive_error_string(p.raw) ?: "decompression failed");
            goto out;
        }
        if (n == 0)
            break;
        if (pipe_account(&p, NULL, (size_t)n) < 0)
            goto tar_error;
        rt__ts_feed(p.ts, p.buf, (size_t)n);
    }
    r = apply_dir_times(&x);
    if (r < 0)
        goto out;
    if (EVP_DigestFinal_ex(p.md, md, &mdlen) != 1) {
        r = err_set(err, -EIO, "sha256 failed");
        goto out;
    }
    memcpy(ret_diff_id, "sha256:", 7);
    for (unsigned int i = 0; i < 32; i++)
        (void)snprintf(ret_diff_id + 7 + 2 * i, 3, "%02x", md[i]);
    r = 0;
    goto out;

tar_error:
    if (p.over_limit)
        r = err_set(err, -EFBIG,
                    "layer too large: uncompressed stream exceeds the limit of %llu "
                    "bytes",
                    (unsigned long long)lim->max_bytes);
    else if (p.raw_failed)
        r = err_set(err, -EINVAL, "read layer: %s", p.raw_msg);
    else
        r = err_set(err, -EINVAL, "invalid tar: %s",
                    (tar && archive_error_string(tar)) ? archive_error_string(tar)
                                                       : "unreadable archive");
out:
    if (tar)
        (void)archive_read_free(tar);
    if (p.raw)
        (void)archive_read_free(p.raw);
    EVP_MD_CTX_free(p.md);
    free(p.buf);
    free(rr.buf);
    free(rr.st);
    free(rr.out);
    for (size_t i = 0; i < x.n_dts; i++)
        free(x.dts[i].path);
    free(x.dts);
    return r;
}

/* ---- size ---------------------------------------------------------------------------------- */

struct inode_set {
    struct {
        dev_t dev;
        ino_t ino;
    } * v;
    size_t n, cap;
};

/* true if already present; adds otherwise. Linear probing would be nicer, but
 * multiply-linked files are few. */
static int inode_seen(struct inode_set *s, dev_t dev, ino_t ino, bool *ret_seen)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].dev == dev && s->v[i].ino == ino) {
            *ret_seen = true;
            return 0;
        }
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        void *n = realloc(s->v, ncap * sizeof(*s->v));
        if (!n)
            return -ENOMEM;
        s->v = n;
        s->cap = ncap;
    }
    s->v[s->n].dev = dev;
    s->v[s->n].ino = ino;
    s->n++;
    *ret_seen = false;
    return 0;
}

static int size_walk(int dfd, struct inode_set *seen, int64_t *total, int depth)
{
    CLEANUP(closedirp) DIR *d = NULL;
    struct dirent *de;
    int fd;

    if (depth > RT_LAYER_MAX_DEPTH + 8)
        return -ELOOP;
    fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        (void)close(fd);
        return e;
    }
    while ((de = readdir(d))) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int r;
            if (sub < 0)
                return -errno;
            r = size_walk(sub, seen, total, depth + 1);
            (void)close(sub);
            if (r < 0)
                return r;
            continue;
        }
        if (st.st_nlink > 1) {
            bool dup;
            int r = inode_seen(seen, st.st_dev, st.st_ino, &dup);
            if (r < 0)
                return r;
            if (dup)
                continue;
        }
        *total += st.st_size;
    }
    return 0;
}

int rt__layer_size(int dir_fd, int64_t *ret_size)
{
    struct inode_set seen = {0};
    int64_t total = 0;
    int r = size_walk(dir_fd, &seen, &total, 0);

    free(seen.v);
    if (r == 0)
        *ret_size = total;
    return r;
}
