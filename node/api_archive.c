/*
 * node/api_archive.c - GET/HEAD/PUT /containers/{id}/archive (docker cp).
 *
 * The file system work runs in a short-lived forked child of shoald, never
 * in the loop and never with container code:
 *   - running container: the child opens /proc/<init pid>/root (O_PATH);
 *   - otherwise: the child unshares its mount namespace, makes / private and
 *     mounts the container's overlay (image layers + upper/work) on the
 *     container's rootfs dir; the mount dies with the child.
 * Every path is resolved with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)
 * from that root, so symlinks resolve inside the container; below the
 * resolved point the tree is walked fd-relative with O_NOFOLLOW.
 *
 * Child -> shoald over a pipe: "<len>\n<json>" ({"stat":{..}} or
 * {"error":msg,"status":code}), then (GET) the tar stream until EOF.
 * PUT: the spooled body (an O_TMPFILE, see node/api.c) is the child's input;
 * entries are extracted one by one: the parent dir resolved in the root (and
 * created as needed), the old entry unlinked, files created O_EXCL|O_NOFOLLOW,
 * absolute names and ".." refused; ownership and modes kept from the tar.
 */
#define LOG_MODULE "api"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include "node/node.h"

#define STREAM_HIGH (4u << 20) /* pause reading the child above this */
#define MAX_DEPTH   128

/* ---- child side ------------------------------------------------------------ */

static int openat2_in_root(int root, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long r;

    do {
        r = syscall(SYS_openat2, root, path, &how, sizeof(how));
    } while (r < 0 && errno == EAGAIN);
    return (int)r;
}

static void child_frame(int out, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char head[32];

    json_decref(j);
    if (!s)
        _exit(3);
    (void)snprintf(head, sizeof(head), "%zu\n", strlen(s));
    (void)write_all(out, head, strlen(head));
    (void)write_all(out, s, strlen(s));
    free(s);
}

static void child_fail(int out, int status, const char *fmt, ...) PRINTF_LIKE(3, 4)
    __attribute__((noreturn));
static void child_fail(int out, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    child_frame(out, json_pack("{s:s, s:i}", "error", msg, "status", status));
    _exit(1);
}

/* Go's os.FileMode from st_mode. */
static uint32_t go_mode(mode_t m)
{
    uint32_t g = m & 0777;

    if (S_ISDIR(m))
        g |= 1u << 31;
    else if (S_ISLNK(m))
        g |= 1u << 27;
    else if (S_ISFIFO(m))
        g |= 1u << 25;
    else if (S_ISSOCK(m))
        g |= 1u << 24;
    else if (S_ISCHR(m))
        g |= (1u << 26) | (1u << 21);
    else if (S_ISBLK(m))
        g |= 1u << 26;
    if (m & S_ISUID)
        g |= 1u << 23;
    if (m & S_ISGID)
        g |= 1u << 22;
    if (m & S_ISVTX)
        g |= 1u << 20;
    return g;
}

/* The container's root as an O_PATH fd (see the top of the file). */
static int child_root(int out, const char *cid, int pid, json_t *graph)
{
    char path[64];
    int fd;

    if (pid > 0) {
        (void)snprintf(path, sizeof(path), "/proc/%d/root", pid);
        fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            child_fail(out, 500, "cannot open the root of container %s: %m", cid);
        return fd;
    }
    {
        const char *lower = json_string_value(json_object_get(graph, "LowerDir"));
        const char *upper = json_string_value(json_object_get(graph, "UpperDir"));
        const char *work = json_string_value(json_object_get(graph, "WorkDir"));
        const char *merged = json_string_value(json_object_get(graph, "MergedDir"));
        struct buf opts;

        if (!lower || !*lower || !upper || !work || !merged)
            child_fail(out, 500, "container %s has no file system", cid);
        buf_init(&opts);
        if (buf_printf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work) < 0)
            child_fail(out, 500, "out of memory");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            child_fail(out, 500, "mount namespace: %m");
        (void)mkdir(merged, 0755);
        if (mount("overlay", merged, "overlay", 0, opts.data) < 0)
            child_fail(out, 500, "mounting the file system of container %s: %m", cid);
        buf_release(&opts);
        fd = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            child_fail(out, 500, "cannot open the root of container %s: %m", cid);
        return fd;
    }
}

/* Resolve the requested path (not following a final symlink). */
static int child_resolve(int out, int root, const char *cid, const char *path, struct stat *st)
{
    int fd = openat2_in_root(root, path, O_PATH | O_NOFOLLOW);

    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            child_fail(out, 404, "Could not find the file %s in container %s", path, cid);
        child_fail(out, 500, "resolving %s in container %s: %m", path, cid);
    }
    if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        child_fail(out, 500, "stat %s: %m", path);
    return fd;
}

static const char *base_name(const char *path, char *out, size_t outlen)
{
    char tmp[4096];
    size_t l;
    const char *slash;

    (void)snprintf(tmp, sizeof(tmp), "%s", path);
    l = strlen(tmp);
    if (l >= 2 && strcmp(tmp + l - 2, "/.") == 0) {
        (void)snprintf(out, outlen, ".");
        return out;
    }
    while (l > 1 && tmp[l - 1] == '/')
        tmp[--l] = '\0';
    slash = strrchr(tmp, '/');
    (void)snprintf(out, outlen, "%s", slash ? (slash[1] ? slash + 1 : "/") : tmp);
    return out;
}

static json_t *stat_json(int fd, const char *path, const struct stat *st)
{
    char name[512], mtime[40], target[4096] = "";

    if (S_ISLNK(st->st_mode)) {
        ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        if (target[0] && target[0] != '/') {
            /* relative: as seen from the link's directory */
            char dir[4096], full[8192];
            const char *slash;
            (void)snprintf(dir, sizeof(dir), "%s", path);
            slash = strrchr(dir, '/');
            if (slash)
                dir[slash - dir] = '\0';
            (void)snprintf(full, sizeof(full), "%s/%s", dir, target);
            if (strlen(full) < sizeof(target))
                memcpy(target, full, strlen(full) + 1);
        }
    }
    time_fmt_rfc3339((int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec, mtime);
    return json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", base_name(path, name, sizeof(name)),
                     "size", (json_int_t)st->st_size, "mode", (json_int_t)go_mode(st->st_mode),
                     "mtime", mtime, "linkTarget", target);
}

/* A small ustar writer with PAX records for long names (libarchive's writer
 * would pull every format into the static shoald). */
struct tarw {
    int fd;
};

static void tw_out(struct tarw *w, const void *data, size_t len)
{
    if (write_all(w->fd, data, len) < 0)
        _exit(4); /* shoald went away */
}

static void tw_pad(struct tarw *w, uint64_t len)
{
    static const char zero[512];
    size_t pad = (size_t)((512 - len % 512) % 512);

    if (pad)
        tw_out(w, zero, pad);
}

/* width-1 octal digits, zero padded, then NUL (values are range-checked by callers). */
static void tw_octal(char *field, size_t width, uint64_t v)
{
    field[width - 1] = '\0';
    for (size_t i = width - 1; i > 0; i--) {
        field[i - 1] = (char)('0' + (v & 7));
        v >>= 3;
    }
}

static void tw_block(struct tarw *w, const char *name, char type, const struct stat *st,
                     uint64_t size, const char *link)
{
    unsigned char h[512];
    unsigned sum = 0;

    memset(h, 0, sizeof(h));
    (void)snprintf((char *)h, 100, "%s", name);
    tw_octal((char *)h + 100, 8, st ? st->st_mode & 07777 : 0644);
    tw_octal((char *)h + 108, 8, st && st->st_uid < 07777777 ? st->st_uid : 0);
    tw_octal((char *)h + 116, 8, st && st->st_gid < 07777777 ? st->st_gid : 0);
    tw_octal((char *)h + 124, 12, size);
    tw_octal((char *)h + 136, 12, st && st->st_mtim.tv_sec > 0 ? (uint64_t)st->st_mtim.tv_sec : 0);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    if (link)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (st && (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))) {
        tw_octal((char *)h + 329, 8, major(st->st_rdev));
        tw_octal((char *)h + 337, 8, minor(st->st_rdev));
    }
    for (size_t i = 0; i < sizeof(h); i++)
        sum += h[i];
    (void)snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    tw_out(w, h, sizeof(h));
}

static void pax_record(struct buf *b, const char *key, const char *value)
{
    size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
    size_t len = body + 1;

    while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
        len = body + (size_t)snprintf(NULL, 0, "%zu", len);
    if (buf_printf(b, "%zu %s=%s\n", len, key, value) < 0)
        _exit(3);
}

static void tw_header(struct tarw *w, const char *name, const struct stat *st, const char *link)
{
    char type = S_ISDIR(st->st_mode)    ? '5'
                : S_ISLNK(st->st_mode)  ? '2'
                : S_ISCHR(st->st_mode)  ? '3'
                : S_ISBLK(st->st_mode)  ? '4'
                : S_ISFIFO(st->st_mode) ? '6'
                                        : '0';
    uint64_t size = type == '0' ? (uint64_t)st->st_size : 0;
    struct buf pax;

    buf_init(&pax);
    if (strlen(name) >= 100)
        pax_record(&pax, "path", name);
    if (link && strlen(link) >= 100)
        pax_record(&pax, "linkpath", link);
    if (size >= 077777777777ULL) {
        char n[32];
        (void)snprintf(n, sizeof(n), "%llu", (unsigned long long)size);
        pax_record(&pax, "size", n);
    }
    if (pax.len) {
        tw_block(w, "PaxHeader", 'x', NULL, pax.len, NULL);
        tw_out(w, pax.data, pax.len);
        tw_pad(w, pax.len);
    }
    buf_release(&pax);
    tw_block(w, name, type, st, size >= 077777777777ULL ? 0 : size, link);
}

/* Add dfd0/name (not followed; "" is dfd0 itself) as `arcname`, recursing
 * into directories. */
static void tar_add(struct tarw *w, int dfd0, const char *name, const char *arcname, int depth)
{
    struct stat st;
    char target[4096];
    int fd = -1;

    if (depth > MAX_DEPTH)
        return;
    if (fstatat(dfd0, name, &st, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) < 0)
        return;
    if (S_ISSOCK(st.st_mode))
        return;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd0, name, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
    } else if (S_ISREG(st.st_mode)) {
        if (*name) {
            fd = openat(dfd0, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        } else {
            char p[64];
            (void)snprintf(p, sizeof(p), "/proc/self/fd/%d", dfd0);
            fd = open(p, O_RDONLY | O_CLOEXEC); /* reopen the resolved O_PATH fd */
        }
        if (fd < 0)
            return;
    }
    if (S_ISDIR(st.st_mode) && strcmp(arcname, ".") != 0) {
        char *dn = NULL;
        if (asprintf(&dn, "%s/", arcname) < 0)
            _exit(3);
        tw_header(w, dn, &st, NULL);
        free(dn);
    } else if (!S_ISDIR(st.st_mode)) {
        tw_header(w, arcname, &st, S_ISLNK(st.st_mode) ? target : NULL);
    }
    if (fd >= 0) {
        char buf[65536];
        uint64_t left = (uint64_t)st.st_size;
        while (left > 0) {
            ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
            if (n <= 0) {
                /* the file shrank: keep the archive well-formed */
                memset(buf, 0, sizeof(buf));
                while (left > 0) {
                    size_t k = left < sizeof(buf) ? left : sizeof(buf);
                    tw_out(w, buf, k);
                    left -= k;
                }
                break;
            }
            tw_out(w, buf, (size_t)n);
            left -= (uint64_t)n;
        }
        tw_pad(w, (uint64_t)st.st_size);
        (void)close(fd);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        int dfd = *name ? openat(dfd0, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                        : openat(dfd0, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        struct dirent *de;

        if (!d) {
            if (dfd >= 0)
                (void)close(dfd);
            return;
        }
        while ((de = readdir(d))) {
            char *child = NULL;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (asprintf(&child, "%s/%s", arcname, de->d_name) < 0)
                _exit(3);
            tar_add(w, dirfd(d), de->d_name, child, depth + 1);
            free(child);
        }
        (void)closedir(d);
    }
}

static void child_get(int out, int root, const char *cid, const char *path, bool head_only)
{
    static const char end[1024];
    struct stat st;
    int fd = child_resolve(out, root, cid, path, &st);
    size_t l = strlen(path);
    char name[512];
    struct tarw w = {.fd = out};

    /* "dir/" and "dir/." must be directories */
    if (l > 1 && (path[l - 1] == '/' || (l >= 2 && strcmp(path + l - 2, "/.") == 0)) &&
        !S_ISDIR(st.st_mode))
        child_fail(out, 400, "Could not find the file %s in container %s: not a directory", path,
                   cid);
    child_frame(out, json_pack("{s:o}", "stat", stat_json(fd, path, &st)));
    if (head_only)
        _exit(0);
    tar_add(&w, fd, "", base_name(path, name, sizeof(name)), 0);
    tw_out(&w, end, sizeof(end));
    _exit(0);
}

/* Clean an entry name: relative, no "..", no empty parts. */
static int clean_name(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = in;

    while (*p) {
        const char *s;
        size_t l;

        while (*p == '/')
            p++;
        s = p;
        while (*p && *p != '/')
            p++;
        l = (size_t)(p - s);
        if (l == 0 || (l == 1 && s[0] == '.'))
            continue;
        if (l == 2 && s[0] == '.' && s[1] == '.')
            return -EPERM;
        if (o + l + 2 >= outlen)
            return -ENAMETOOLONG;
        if (o)
            out[o++] = '/';
        memcpy(out + o, s, l);
        o += l;
    }
    out[o] = '\0';
    return 0;
}

/* Open (creating missing directories) dir `rel` below the root-relative base. */
static int open_parent(int root, const char *base, const char *rel)
{
    char path[8192];
    char *p;
    int fd;

    (void)snprintf(path, sizeof(path), "%s/%s", base, rel);
    fd = openat2_in_root(root, path, O_PATH | O_DIRECTORY);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    /* create it component by component, each resolved in the root */
    p = path + strlen(base) + 1;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        fd = openat2_in_root(root, path, O_PATH | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT) {
            char *last = strrchr(path, '/');
            int pfd;
            *last = '\0';
            pfd = openat2_in_root(root, *path ? path : "/", O_PATH | O_DIRECTORY);
            *last = '/';
            if (pfd < 0)
                return -1;
            if (mkdirat(pfd, last + 1, 0755) < 0 && errno != EEXIST) {
                (void)close(pfd);
                return -1;
            }
            (void)close(pfd);
            fd = openat2_in_root(root, path, O_PATH | O_DIRECTORY);
        }
        if (fd < 0)
            return -1;
        if (!slash)
            return fd;
        (void)close(fd);
        *slash = '/';
        p = slash + 1;
    }
}

static void child_put(int out, int in, int root, const char *cid, const char *path,
                      bool no_overwrite_dir_nondir)
{
    struct stat st;
    int dst = child_resolve(out, root, cid, path, &st);
    struct archive *a;
    struct archive_entry *e;
    char base[4096];
    int r;

    (void)dst;
    if (!S_ISDIR(st.st_mode)) {
        /* a symlink to a directory is fine: resolve it in the root */
        int fd = openat2_in_root(root, path, O_PATH | O_DIRECTORY);
        if (fd < 0)
            child_fail(out, 400, "extraction point is not a directory");
        (void)close(fd);
    }
    (void)snprintf(base, sizeof(base), "%s", path);
    a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, in, 65536) != ARCHIVE_OK)
        child_fail(out, 400, "invalid archive: %s", archive_error_string(a));
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        char rel[4096], dir[4096];
        const char *name, *slash;
        mode_t type = archive_entry_filetype(e);
        mode_t perm = archive_entry_perm(e);
        struct stat old;
        int pfd, fd;
        bool exists;

        if (clean_name(archive_entry_pathname(e), rel, sizeof(rel)) < 0)
            child_fail(out, 400, "invalid archive entry name %s", archive_entry_pathname(e));
        if (!*rel)
            continue; /* "./": the destination itself */
        slash = strrchr(rel, '/');
        (void)snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
        name = slash ? slash + 1 : rel;
        pfd = open_parent(root, base, dir);
        if (pfd < 0)
            child_fail(out, 500, "cannot create %s/%s: %m", base, dir);
        exists = fstatat(pfd, name, &old, AT_SYMLINK_NOFOLLOW) == 0;
        if (exists && no_overwrite_dir_nondir) {
            if (S_ISDIR(old.st_mode) && type != AE_IFDIR)
                child_fail(out, 400, "cannot overwrite directory \"%s/%s\" with non-directory",
                           base, rel);
            if (!S_ISDIR(old.st_mode) && type == AE_IFDIR)
                child_fail(out, 400, "cannot overwrite non-directory \"%s/%s\" with directory",
                           base, rel);
        }
        if (exists && !(S_ISDIR(old.st_mode) && type == AE_IFDIR)) {
            if (unlinkat(pfd, name, S_ISDIR(old.st_mode) ? AT_REMOVEDIR : 0) < 0)
                child_fail(out, 500, "cannot replace %s/%s: %m", base, rel);
        }
        switch (type) {
        case AE_IFDIR:
            if (mkdirat(pfd, name, perm) < 0 && errno != EEXIST)
                child_fail(out, 500, "mkdir %s/%s: %m", base, rel);
            break;
        case AE_IFREG: {
            char buf[65536];
            la_ssize_t n;
            fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0)
                child_fail(out, 500, "create %s/%s: %m", base, rel);
            while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
                if (write_all(fd, buf, (size_t)n) < 0)
                    child_fail(out, 500, "write %s/%s: %m", base, rel);
            if (n < 0)
                child_fail(out, 400, "invalid archive: %s", archive_error_string(a));
            (void)close(fd);
            break;
        }
        case AE_IFLNK:
            if (symlinkat(archive_entry_symlink(e) ?: "", pfd, name) < 0)
                child_fail(out, 500, "symlink %s/%s: %m", base, rel);
            break;
        case AE_IFIFO:
            if (mknodat(pfd, name, S_IFIFO | perm, 0) < 0)
                child_fail(out, 500, "mkfifo %s/%s: %m", base, rel);
            break;
        default:
            if (archive_entry_hardlink(e)) {
                char trel[4096], tdir[4096];
                const char *tname, *ts;
                int tfd;
                if (clean_name(archive_entry_hardlink(e), trel, sizeof(trel)) < 0 || !*trel)
                    child_fail(out, 400, "invalid hard link in archive");
                ts = strrchr(trel, '/');
                (void)snprintf(tdir, sizeof(tdir), "%.*s", ts ? (int)(ts - trel) : 0, trel);
                tname = ts ? ts + 1 : trel;
                tfd = open_parent(root, base, tdir);
                if (tfd < 0 || linkat(tfd, tname, pfd, name, 0) < 0)
                    child_fail(out, 500, "link %s/%s: %m", base, rel);
                (void)close(tfd);
                (void)close(pfd);
                continue;
            }
            (void)close(pfd);
            continue; /* devices and sockets are skipped */
        }
        /* ownership and mode as in the archive (never through a link) */
        if (fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0)
            log_debug("cp: chown %s: %m", rel);
        if (type != AE_IFLNK) {
            fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                char p[64];
                struct timespec ts[2] = {{.tv_sec = archive_entry_mtime(e)},
                                         {.tv_sec = archive_entry_mtime(e)}};
                (void)snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
                (void)chmod(p, archive_entry_mode(e) & 07777);
                (void)utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
                (void)close(fd);
            }
        }
        (void)close(pfd);
    }
    if (r != ARCHIVE_EOF)
        child_fail(out, 400, "invalid archive: %s", archive_error_string(a));
    archive_read_free(a);
    child_frame(out, json_pack("{s:b}", "ok", 1));
    _exit(0);
}

/* ---- shoald side ----------------------------------------------------------- */

struct cp_op {
    struct http_req *req;
    struct rt_container *c;
    pid_t pid;
    uv_pipe_t pipe;
    uv_timer_t timer;
    int handles;
    bool head_only;
    bool is_put;
    bool got_frame;
    bool done;
    bool paused;
    struct buf in;
};

static void op_closed(uv_handle_t *h)
{
    struct cp_op *op = h->data;

    if (--op->handles > 0)
        return;
    buf_release(&op->in);
    rt_container_unref(op->c);
    http_req_unref(op->req);
    free(op);
}

static void op_finish(struct cp_op *op)
{
    int st;

    if (op->done)
        return;
    op->done = true;
    op->req->on_abort = NULL;
    op->req->data = NULL;
    if (op->pid > 0) {
        (void)kill(op->pid, SIGKILL);
        while (waitpid(op->pid, &st, 0) < 0 && errno == EINTR)
            ;
        op->pid = 0;
    }
    uv_close((uv_handle_t *)&op->pipe, op_closed);
    uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void op_abort(struct http_req *req)
{
    struct cp_op *op = req->data;

    if (op)
        op_finish(op);
}

static void op_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void op_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    b->base = malloc(65536);
    b->len = b->base ? 65536 : 0;
}

static void op_resume(uv_timer_t *t)
{
    struct cp_op *op = t->data;

    if (op->done)
        return;
    if (http_req_write_queue_size(op->req) > STREAM_HIGH / 2) {
        (void)uv_timer_start(&op->timer, op_resume, 20, 0);
        return;
    }
    op->paused = false;
    (void)uv_read_start((uv_stream_t *)&op->pipe, op_alloc, op_read);
}

/* The first frame: stat or error. */
static void op_frame(struct cp_op *op, const char *data, size_t len)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    json_t *stat = json_object_get(j, "stat");

    op->got_frame = true;
    if (!j) {
        http_reply_error(op->req, 500, "docker cp: bad reply from the helper");
        op_finish(op);
        return;
    }
    if (json_object_get(j, "error")) {
        int status = (int)json_integer_value(json_object_get(j, "status"));
        http_reply_error(op->req, status ? status : 500, "%s",
                         json_string_value(json_object_get(j, "error")));
        json_decref(j);
        op_finish(op);
        return;
    }
    if (op->is_put) {
        http_reply(op->req, 200, NULL, NULL, 0);
        json_decref(j);
        op_finish(op);
        return;
    }
    {
        char *s = json_dumps(stat, JSON_COMPACT);
        size_t sl = s ? strlen(s) : 0;
        size_t el = 4 * ((sl + 2) / 3) + 1;
        char *enc = malloc(el);
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;

        for (size_t i = 0; enc && s && i < sl; i += 3) {
            uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
            if (i + 1 < sl)
                v |= (uint32_t)(unsigned char)s[i + 1] << 8;
            if (i + 2 < sl)
                v |= (unsigned char)s[i + 2];
            enc[o++] = tbl[(v >> 18) & 63];
            enc[o++] = tbl[(v >> 12) & 63];
            enc[o++] = i + 1 < sl ? tbl[(v >> 6) & 63] : '=';
            enc[o++] = i + 2 < sl ? tbl[v & 63] : '=';
        }
        if (enc) {
            enc[o] = '\0';
            (void)http_req_add_header(op->req, "X-Docker-Container-Path-Stat", enc);
        }
        free(enc);
        free(s);
    }
    json_decref(j);
    if (op->head_only) {
        http_reply(op->req, 200, "application/x-tar", NULL, 0);
        op_finish(op);
        return;
    }
    http_stream_begin(op->req, 200, "application/x-tar");
}

static void op_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct cp_op *op = s->data;

    if (op->done) {
        free(b->base);
        return;
    }
    if (n < 0) {
        free(b->base);
        if (!op->got_frame)
            http_reply_error(op->req, 500, "docker cp: the helper failed");
        else if (!op->is_put && !op->head_only)
            http_stream_end(op->req);
        op_finish(op);
        return;
    }
    if (!op->got_frame) {
        char *nl;
        (void)buf_append(&op->in, b->base, (size_t)n);
        free(b->base);
        nl = memchr(op->in.data, '\n', op->in.len);
        if (nl) {
            size_t flen = strtoul(op->in.data, NULL, 10);
            size_t hl = (size_t)(nl - op->in.data) + 1;
            if (op->in.len >= hl + flen) {
                op_frame(op, op->in.data + hl, flen);
                if (!op->done && op->in.len > hl + flen)
                    http_stream_write(op->req, op->in.data + hl + flen, op->in.len - hl - flen);
                buf_release(&op->in);
                buf_init(&op->in);
            }
        }
    } else {
        if (n > 0)
            http_stream_write(op->req, b->base, (size_t)n);
        free(b->base);
    }
    if (!op->done && op->got_frame && http_req_write_queue_size(op->req) > STREAM_HIGH &&
        !op->paused) {
        op->paused = true;
        (void)uv_read_stop((uv_stream_t *)&op->pipe);
        (void)uv_timer_start(&op->timer, op_resume, 20, 0);
    }
}

void node_api_archive(struct http_req *req, struct rt_container *c)
{
    const char *path = http_query_get(req, "path");
    bool is_put = strcmp(req->method, "PUT") == 0;
    bool head_only = strcmp(req->method, "HEAD") == 0;
    bool no_over = http_query_bool(req, "noOverwriteDirNonDir", false);
    int running = rt_container_state(c) == RT_STATE_RUNNING ? rt_container_pid(c) : 0;
    char cid[80];
    json_t *inspect, *graph;
    int pfd[2];
    int in_fd = -1;
    struct cp_op *op;
    pid_t pid;

    if (!path || !*path) {
        http_reply_error(req, 400, "path is required");
        return;
    }
    if (path[0] != '/') {
        http_reply_error(req, 400, "path must be absolute");
        return;
    }
    if (is_put) {
        if (req->body_fd < 0) {
            http_reply_error(req, 500, "docker cp: the archive was not stored");
            return;
        }
        in_fd = req->body_fd;
        req->body_fd = -1;
        (void)lseek(in_fd, 0, SEEK_SET);
    }
    (void)snprintf(cid, sizeof(cid), "%s", rt_container_name(c));
    inspect = rt_container_inspect(c);
    graph = json_object_get(json_object_get(inspect, "GraphDriver"), "Data");
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        json_decref(inspect);
        if (in_fd >= 0)
            (void)close(in_fd);
        http_reply_error(req, 500, "pipe: %s", strerror(errno));
        return;
    }
    pid = fork();
    if (pid < 0) {
        json_decref(inspect);
        (void)close(pfd[0]);
        (void)close(pfd[1]);
        if (in_fd >= 0)
            (void)close(in_fd);
        http_reply_error(req, 500, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        /* the child: plain blocking I/O, exits when done */
        sigset_t all;
        int root;

        (void)sigemptyset(&all);
        (void)sigprocmask(SIG_SETMASK, &all, NULL);
        (void)signal(SIGPIPE, SIG_DFL);
        (void)close(pfd[0]);
        root = child_root(pfd[1], cid, running, graph);
        if (is_put)
            child_put(pfd[1], in_fd, root, cid, path, no_over);
        child_get(pfd[1], root, cid, path, head_only);
        _exit(0);
    }
    json_decref(inspect);
    (void)close(pfd[1]);
    if (in_fd >= 0)
        (void)close(in_fd);
    op = calloc(1, sizeof(*op));
    if (!op) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        (void)close(pfd[0]);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    op->req = req;
    http_req_ref(req);
    op->c = rt_container_ref(c);
    op->pid = pid;
    op->is_put = is_put;
    op->head_only = head_only;
    buf_init(&op->in);
    (void)uv_pipe_init(node_current->loop, &op->pipe, 0);
    (void)uv_timer_init(node_current->loop, &op->timer);
    op->pipe.data = op->timer.data = op;
    op->handles = 2;
    req->data = op;
    req->on_abort = op_abort;
    if (uv_pipe_open(&op->pipe, pfd[0]) < 0 ||
        uv_read_start((uv_stream_t *)&op->pipe, op_alloc, op_read) < 0) {
        http_reply_error(req, 500, "docker cp: cannot read from the helper");
        op_finish(op);
    }
}
