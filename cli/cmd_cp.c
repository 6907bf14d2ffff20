/*
 * cli/cmd_cp.c - `shoal cp`: copy files between a container and the host.
 *
 *   shoal cp [OPTIONS] CONTAINER:SRC DEST|-
 *   shoal cp [OPTIONS] SRC|- CONTAINER:DEST
 *
 * Over the daemon's archive routes (node/api_archive.c):
 *   from a container: GET /containers/{id}/archive?path=SRC gives a tar whose
 *     top entry is basename(SRC); "-" writes it to stdout unchanged, otherwise
 *     it is spooled to an unlinked temp file and extracted with libarchive
 *     into DEST (DEST an existing dir) or into dirname(DEST) with the top
 *     entry renamed to basename(DEST). Extraction is confined: absolute names
 *     and ".." are refused, and nothing is created through a symlink
 *     (ARCHIVE_EXTRACT_SECURE_*), relative to a directory we fchdir() into.
 *   to a container: HEAD /containers/{id}/archive?path=DEST (its
 *     X-Docker-Container-Path-Stat header tells whether DEST is a directory),
 *     then PUT /containers/{id}/archive?path=DIR with a tar of SRC (symlinks
 *     archived as symlinks; without -a owned by 0:0, like docker). "-" sends
 *     stdin as the tar unchanged, into DEST.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"

#include "cli/cli.h"

#define GO_MODE_DIR (1u << 31)
#define CP_HEAD_MAX ((size_t)64 * 1024)

struct cp_opts {
    bool archive, follow, quiet;
};

static void archive_freep(struct archive **a)
{
    if (*a)
        (void)archive_read_free(*a);
}

/* "name:path" with a non-empty name and not starting like a local path. */
static bool cp_split(const char *arg, char **ret_name, const char **ret_path)
{
    const char *colon;

    *ret_name = NULL;
    *ret_path = arg;
    if (arg[0] == '/' || arg[0] == '.')
        return false;
    colon = strchr(arg, ':');
    if (!colon || colon == arg)
        return false;
    *ret_name = strndup(arg, (size_t)(colon - arg));
    *ret_path = colon + 1;
    return *ret_name != NULL;
}

/* Last component of path, ignoring trailing slashes ("/" -> "/"). */
static char *path_base(const char *path)
{
    size_t n = strlen(path);
    const char *s;

    while (n > 1 && path[n - 1] == '/')
        n--;
    s = memrchr(path, '/', n);
    if (!s || (s == path && n == 1))
        return strndup(path, n);
    return strndup(s + 1, n - (size_t)(s + 1 - path));
}

/* Everything before the last component ("x" -> ".", "/x" -> "/"). */
static char *path_dir(const char *path)
{
    size_t n = strlen(path);
    const char *s;

    while (n > 1 && path[n - 1] == '/')
        n--;
    s = memrchr(path, '/', n);
    if (!s)
        return strdup(".");
    while (s > path && s[-1] == '/')
        s--;
    return s == path ? strdup("/") : strndup(path, (size_t)(s - path));
}

static bool has_dotdot(const char *name)
{
    const char *p = name;

    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        while (*p == '/')
            p++;
    }
    return false;
}

/* Replace the first component `from` of name by `to` (to NULL: unchanged). */
static int rename_top(struct buf *out, const char *name, const char *from, const char *to)
{
    size_t fl = from ? strlen(from) : 0;

    out->len = 0;
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    if (to && fl && strncmp(name, from, fl) == 0 && (name[fl] == '\0' || name[fl] == '/')) {
        if (buf_puts(out, to) < 0 || buf_puts(out, name + fl) < 0)
            return -ENOMEM;
    } else if (buf_puts(out, name) < 0) {
        return -ENOMEM;
    }
    return buf_append(out, "", 1) < 0 ? -ENOMEM : 0;
}

static int tmp_fd(void)
{
    char tmpl[] = "/tmp/shoal-cp.XXXXXX";
    int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0)
        return fd;
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0)
        (void)unlink(tmpl);
    return fd;
}

static int fd_body_cb(void *ctx, const char *data, size_t len)
{
    return write_all(*(int *)ctx, data, len);
}

static int cp_query(struct buf *q, const char *path, bool put, bool copy_ids)
{
    int r = 0;
    cleanup_free char *abs = NULL;

    if (path[0] != '/') {
        if (asprintf(&abs, "/%s", path) < 0)
            return -ENOMEM;
        path = abs;
    }
    buf_init(q);
    if (put && copy_ids)
        r = cli_query_add(q, "copyUIDGID", "true");
    if (r >= 0 && put)
        r = cli_query_add(q, "noOverwriteDirNonDir", "true");
    if (r >= 0)
        r = cli_query_add(q, "path", path);
    return r < 0 ? -ENOMEM : 0;
}

static int cp_route(struct buf *route, const char *name)
{
    buf_init(route);
    if (buf_puts(route, "/containers/") < 0 || cli_path_escape(route, name) < 0 ||
        buf_puts(route, "/archive") < 0)
        return -ENOMEM;
    return 0;
}

/* One archive request; the body goes to fd (or, on an error status, turns
 * into err). */
static int cp_exchange(struct cli_ctx *ctx, const char *method, const char *name, const char *path,
                       const struct cp_opts *o, int body_fd, int out_fd, struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    struct buf route, q;
    struct cli_resp resp;
    struct cli_req req = {.method = method, .body_fd = body_fd};
    int r;

    if (cp_route(&route, name) < 0 || cp_query(&q, path, body_fd >= 0, o->archive) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    req.path = route.data;
    req.query = q.data;
    if (body_fd >= 0)
        req.content_type = "application/x-tar";
    cli_resp_init(&resp);
    r = cli_conn_open(&ctx->client, &c, err);
    if (r >= 0)
        r = cli_conn_send(c, &req, err);
    if (r >= 0)
        r = cli_conn_read_head(c, &resp, err);
    if (r >= 0 && resp.status >= 400) {
        r = cli_conn_read_body(c, NULL, NULL, err);
        if (r >= 0)
            r = cli_resp_error(&resp, &req, err);
    } else if (r >= 0) {
        r = cli_conn_read_body(c, out_fd >= 0 ? fd_body_cb : NULL, &out_fd, err);
    }
    cli_resp_release(&resp);
    buf_release(&route);
    buf_release(&q);
    return r;
}

/* HEAD the container path: 0 and *ret_mode (Go FileMode) when it exists,
 * -ENOENT when not. The stat travels in a header the client does not keep,
 * so the reply head is read raw from the connection. */
static int cp_stat(struct cli_ctx *ctx, const char *name, const char *path, uint64_t *ret_mode,
                   struct err *err)
{
    CLEANUP(cli_conn_freep) struct cli_conn *c = NULL;
    struct buf route, q, in;
    struct cli_req req = {.method = "HEAD", .body_fd = -1};
    int r, status = 0;
    char *end = NULL;

    if (cp_route(&route, name) < 0 || cp_query(&q, path, false, false) < 0)
        return err_set(err, -ENOMEM, "out of memory");
    req.path = route.data;
    req.query = q.data;
    buf_init(&in);
    r = cli_conn_open(&ctx->client, &c, err);
    if (r >= 0)
        r = cli_conn_send(c, &req, err);
    while (r >= 0) {
        char chunk[4096];
        ssize_t n = read(cli_conn_fd(c), chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = err_set(err, -EPROTO, "the daemon closed the connection");
            break;
        }
        if (buf_append(&in, chunk, (size_t)n) < 0 || buf_append(&in, "", 1) < 0) {
            r = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        in.len--;
        end = strstr(in.data, "\r\n\r\n");
        if (end)
            break;
        if (in.len > CP_HEAD_MAX)
            r = err_set(err, -EPROTO, "reply head too large");
    }
    if (r >= 0 && sscanf(in.data, "HTTP/%*s %d", &status) != 1)
        r = err_set(err, -EPROTO, "bad reply from the daemon");
    if (r >= 0 && status == 404) {
        r = -ENOENT;
    } else if (r >= 0 && status != 200) {
        r = err_set(err, -EIO, "Error response from daemon: stat %s: status %d", path, status);
    } else if (r >= 0 && end) {
        const char *key = "\r\nX-Docker-Container-Path-Stat:";
        const char *p = strcasestr(in.data, key);
        unsigned char dec[8192];
        json_t *j = NULL;
        int n = -1;

        *end = '\0';
        if (p) {
            size_t vl;
            p += strlen(key);
            while (*p == ' ')
                p++;
            vl = strcspn(p, "\r");
            if (vl < sizeof(dec) / 4 * 3)
                n = EVP_DecodeBlock(dec, (const unsigned char *)p, (int)vl);
        }
        if (n > 0) {
            dec[n] = '\0';
            j = json_loads((const char *)dec, 0, NULL);
        }
        if (!j || !json_is_integer(json_object_get(j, "mode")))
            r = err_set(err, -EPROTO, "no file status for %s in the reply", path);
        else
            *ret_mode = (uint64_t)json_integer_value(json_object_get(j, "mode"));
        json_decref(j);
    }
    buf_release(&in);
    buf_release(&route);
    buf_release(&q);
    return r;
}

/* ---- confined extraction ---------------------------------------------- */

/* Open (creating as needed when mk) the parent directory of rel under root,
 * never following a symlink; *ret_last points at the last component. */
static int open_parent(int root, char *rel, bool mk, const char **ret_last)
{
    int cur = dup(root);
    char *p = rel, *slash;

    if (cur < 0)
        return -errno;
    while ((slash = strchr(p, '/')) != NULL) {
        int nfd;

        *slash = '\0';
        if (*p && strcmp(p, ".") != 0) {
            nfd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd < 0 && errno == ENOENT && mk && mkdirat(cur, p, 0755) == 0)
                nfd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd < 0) {
                int e = errno == ELOOP ? -ELOOP : -errno;
                *slash = '/';
                (void)close(cur);
                return e;
            }
            (void)close(cur);
            cur = nfd;
        }
        *slash = '/';
        p = slash + 1;
    }
    *ret_last = p;
    return cur;
}

/* Remove what is at dfd/name unless it is a directory and keep_dir. */
static int clear_slot(int dfd, const char *name, bool keep_dir)
{
    struct stat st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode))
        return keep_dir ? 1 : -EISDIR;
    return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
}

static int extract_entry(struct archive *in, struct archive_entry *e, int root, char *rel,
                         const char *link, const struct cp_opts *o, struct err *err)
{
    cleanup_close int pfd = -1;
    const char *last = NULL;
    mode_t mode = archive_entry_perm(e) & 07777;
    unsigned type = archive_entry_filetype(e);
    struct timespec ts[2] = {{0}, {0}};
    int r;

    pfd = open_parent(root, rel, true, &last);
    if (pfd < 0)
        return err_set(err, pfd, "%s: %s%s", rel, strerror(-pfd),
                       pfd == -ELOOP || pfd == -ENOTDIR ? " (not following a symlink)" : "");
    if (!last || !*last || strcmp(last, ".") == 0)
        return 0;
    if (link) {
        cleanup_free char *lrel = strdup(link);
        cleanup_close int lfd = -1;
        const char *llast = NULL;

        if (!lrel)
            return err_set(err, -ENOMEM, "out of memory");
        lfd = open_parent(root, lrel, false, &llast);
        if (lfd < 0)
            return err_set(err, lfd, "%s: link to %s: %s", rel, link, strerror(-lfd));
        if ((r = clear_slot(pfd, last, false)) < 0)
            return err_set(err, r, "%s: %s", rel, strerror(-r));
        if (linkat(lfd, llast, pfd, last, 0) < 0)
            return err_set(err, -errno, "%s: link to %s: %s", rel, link, strerror(errno));
        return 0;
    }
    switch (type) {
    case AE_IFDIR:
        r = clear_slot(pfd, last, true);
        if (r == 0 && mkdirat(pfd, last, 0700) < 0)
            r = -errno;
        break;
    case AE_IFLNK:
        r = clear_slot(pfd, last, false);
        if (r == 0 &&
            symlinkat(archive_entry_symlink(e) ? archive_entry_symlink(e) : "", pfd, last) < 0)
            r = -errno;
        break;
    case AE_IFREG: {
        cleanup_close int fd = -1;
        const void *blk;
        size_t sz;
        la_int64_t off;
        int ar;

        r = clear_slot(pfd, last, false);
        if (r < 0)
            break;
        fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            r = -errno;
            break;
        }
        while ((ar = archive_read_data_block(in, &blk, &sz, &off)) == ARCHIVE_OK) {
            if (pwrite(fd, blk, sz, (off_t)off) != (ssize_t)sz) {
                r = -errno;
                break;
            }
        }
        if (r == 0 && ar != ARCHIVE_EOF)
            return err_set(err, -EIO, "%s: %s", rel, archive_error_string(in));
        if (r == 0 && ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
            r = -errno;
        break;
    }
    case AE_IFIFO:
        r = clear_slot(pfd, last, false);
        if (r == 0 && mkfifoat(pfd, last, 0600) < 0)
            r = -errno;
        break;
    default:
        return 0; /* devices and sockets are not copied to the host */
    }
    if (r < 0)
        return err_set(err, r, "%s: %s", rel, strerror(-r));
    if (o->archive && geteuid() == 0 &&
        fchownat(pfd, last, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(err, -errno, "%s: chown: %s", rel, strerror(errno));
    if (type != AE_IFLNK && fchmodat(pfd, last, mode, 0) < 0)
        return err_set(err, -errno, "%s: chmod: %s", rel, strerror(errno));
    ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
    ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    (void)utimensat(pfd, last, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

/* Extract the tar in tar_fd under dir; its top entry is renamed to `to`
 * (to NULL: names kept). Refuses a directory when must_be_file. */
static int cp_extract(int tar_fd, const char *dir, const char *to, bool must_be_file,
                      const struct cp_opts *o, struct err *err)
{
    CLEANUP(archive_freep) struct archive *in = archive_read_new();
    cleanup_close int dfd = -1;
    cleanup_free char *from = NULL;
    struct archive_entry *e;
    struct buf name, link;
    int r = 0, ar;

    if (!in)
        return err_set(err, -ENOMEM, "out of memory");
    (void)archive_read_support_format_tar(in);
    (void)archive_read_support_filter_none(in);
    if (lseek(tar_fd, 0, SEEK_SET) < 0)
        return err_set(err, -errno, "seek: %s", strerror(errno));
    if (archive_read_open_fd(in, tar_fd, 64 * 1024) != ARCHIVE_OK)
        return err_set(err, -EIO, "reading the archive: %s", archive_error_string(in));
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_set(err, -errno, "%s: %s", dir, strerror(errno));
    buf_init(&name);
    buf_init(&link);
    while (r >= 0 && (ar = archive_read_next_header(in, &e)) != ARCHIVE_EOF) {
        const char *pn, *hl;

        if (ar < ARCHIVE_WARN) {
            r = err_set(err, -EIO, "reading the archive: %s", archive_error_string(in));
            break;
        }
        pn = archive_entry_pathname(e);
        hl = archive_entry_hardlink(e);
        if (!pn || !*pn || pn[0] == '/' || has_dotdot(pn) ||
            (hl && (!*hl || hl[0] == '/' || has_dotdot(hl)))) {
            r = err_set(err, -EPERM, "refusing archive entry %s", pn ? pn : "(null)");
            break;
        }
        if (!from) {
            const char *p = pn;
            while (p[0] == '.' && p[1] == '/')
                p += 2;
            from = strndup(p, strcspn(p, "/"));
            if (!from) {
                r = err_set(err, -ENOMEM, "out of memory");
                break;
            }
            if (must_be_file && archive_entry_filetype(e) == AE_IFDIR) {
                r = err_set(err, -EISDIR, "cannot copy directory to an existing file");
                break;
            }
        }
        if (rename_top(&name, pn, from, to) < 0 || (hl && rename_top(&link, hl, from, to) < 0)) {
            r = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        if (!name.data[0] || strcmp(name.data, ".") == 0)
            continue;
        r = extract_entry(in, e, dfd, name.data, hl ? link.data : NULL, o, err);
    }
    buf_release(&name);
    buf_release(&link);
    return r;
}

static int copy_from(struct cli_ctx *ctx, const char *cname, const char *src, const char *dst,
                     const struct cp_opts *o, struct err *err)
{
    cleanup_close int fd = -1;
    cleanup_free char *dir = NULL;
    cleanup_free char *base = NULL;
    struct stat st;
    bool exists, is_dir = false;
    int r;

    if (strcmp(dst, "-") == 0)
        return cp_exchange(ctx, "GET", cname, src, o, -1, STDOUT_FILENO, err);
    exists = stat(dst, &st) == 0;
    if (exists) {
        is_dir = S_ISDIR(st.st_mode);
    } else {
        if (errno != ENOENT)
            return err_set(err, -errno, "stat %s: %s", dst, strerror(errno));
        if (dst[strlen(dst) - 1] == '/')
            return err_set(err, -ENOENT, "destination directory %s does not exist", dst);
    }
    if (is_dir) {
        dir = strdup(dst);
    } else {
        dir = path_dir(dst);
        base = path_base(dst);
        if (base && (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0))
            return err_set(err, -EINVAL, "invalid destination %s", dst);
    }
    if (!dir || (!is_dir && !base))
        return err_set(err, -ENOMEM, "out of memory");
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(err, -ENOENT, "destination directory %s does not exist", dir);
    fd = tmp_fd();
    if (fd < 0)
        return err_set(err, -errno, "temporary file: %s", strerror(errno));
    r = cp_exchange(ctx, "GET", cname, src, o, -1, fd, err);
    if (r < 0)
        return r;
    return cp_extract(fd, dir, base, exists && !is_dir, o, err);
}

/* ---- a small ustar writer (PAX records for long names) ------------------ */

struct tarw {
    int fd;
    const struct cp_opts *o;
    char *data; /* copy buffer */
};

/* v as n-1 octal digits and a NUL (values too wide keep their low digits) */
static void oct(char *dst, size_t n, uint64_t v)
{
    for (size_t i = n - 1; i-- > 0; v >>= 3)
        dst[i] = (char)('0' + (v & 7));
    dst[n - 1] = '\0';
}

static int tar_block(struct tarw *w, char hdr[512], const char *name, const char *link, char type,
                     mode_t mode, uid_t uid, gid_t gid, uint64_t size, int64_t mtime)
{
    unsigned sum = 0;

    memset(hdr, 0, 512);
    (void)snprintf(hdr, 100, "%s", name);
    oct(hdr + 100, 8, mode & 07777);
    oct(hdr + 108, 8, uid);
    oct(hdr + 116, 8, gid);
    oct(hdr + 124, 12, size);
    oct(hdr + 136, 12, (uint64_t)(mtime < 0 ? 0 : mtime));
    hdr[156] = type;
    if (link)
        (void)snprintf(hdr + 157, 100, "%s", link);
    memcpy(hdr + 257, "ustar", 6);
    memcpy(hdr + 263, "00", 2);
    memset(hdr + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)hdr[i];
    (void)snprintf(hdr + 148, 8, "%06o", sum);
    return write_all(w->fd, hdr, 512);
}

static int pax_record(struct buf *b, const char *key, const char *val)
{
    size_t base = strlen(key) + strlen(val) + 3, len = base, digits;

    /* the length field counts itself */
    for (;;) {
        char tmp[32];
        digits = (size_t)snprintf(tmp, sizeof(tmp), "%zu", len);
        if (base + digits == len)
            break;
        len = base + digits;
    }
    return buf_printf(b, "%zu %s=%s\n", len, key, val);
}

static int tar_header(struct tarw *w, const char *name, const char *link, char type,
                      const struct stat *st, uint64_t size)
{
    char hdr[512];
    uid_t uid = w->o->archive ? st->st_uid : 0;
    gid_t gid = w->o->archive ? st->st_gid : 0;
    int r = 0;

    if (strlen(name) > 99 || (link && strlen(link) > 99)) {
        struct buf px;
        static const char zero[512];

        buf_init(&px);
        if (strlen(name) > 99)
            r = pax_record(&px, "path", name);
        if (r >= 0 && link && strlen(link) > 99)
            r = pax_record(&px, "linkpath", link);
        if (r >= 0)
            r = tar_block(w, hdr, "PaxHeaders/x", NULL, 'x', 0644, 0, 0, px.len,
                          st->st_mtim.tv_sec);
        if (r >= 0)
            r = write_all(w->fd, px.data, px.len);
        if (r >= 0 && px.len % 512)
            r = write_all(w->fd, zero, 512 - px.len % 512);
        buf_release(&px);
        if (r < 0)
            return r;
    }
    return tar_block(w, hdr, name, link, type, st->st_mode, uid, gid, size, st->st_mtim.tv_sec);
}

/* Archive dfd/name (symlinks not followed unless follow) as arc. */
static int tar_add(struct tarw *w, int dfd, const char *name, const char *arc, bool follow,
                   int depth, struct err *err)
{
    static const char zero[512];
    struct stat st;
    int r;

    if (depth > 256)
        return err_set(err, -ELOOP, "%s: too deep", arc);
    if (fstatat(dfd, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
        return err_set(err, -errno, "lstat %s: %s", arc, strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);

        if (n < 0)
            return err_set(err, -errno, "readlink %s: %s", arc, strerror(errno));
        target[n] = '\0';
        r = tar_header(w, arc, target, '2', &st, 0);
    } else if (S_ISREG(st.st_mode)) {
        cleanup_close int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        uint64_t left = (uint64_t)st.st_size;

        if (fd < 0)
            return err_set(err, -errno, "open %s: %s", arc, strerror(errno));
        r = tar_header(w, arc, NULL, '0', &st, left);
        while (r >= 0 && left > 0) {
            ssize_t n = read(fd, w->data, left < 65536 ? left : 65536);
            if (n <= 0)
                return err_set(err, -EIO, "%s changed while being copied", arc);
            r = write_all(w->fd, w->data, (size_t)n);
            left -= (uint64_t)n;
        }
        if (r >= 0 && st.st_size % 512)
            r = write_all(w->fd, zero, 512 - (size_t)(st.st_size % 512));
    } else if (S_ISDIR(st.st_mode)) {
        cleanup_close int sub =
            openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        DIR *d;
        struct dirent *de;
        struct buf child;

        if (sub < 0)
            return err_set(err, -errno, "open %s: %s", arc, strerror(errno));
        r = tar_header(w, arc, NULL, '5', &st, 0);
        d = fdopendir(dup(sub));
        if (!d)
            return err_set(err, -errno, "opendir %s: %s", arc, strerror(errno));
        buf_init(&child);
        while (r >= 0 && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            child.len = 0;
            if (buf_printf(&child, "%s/%s", arc, de->d_name) < 0) {
                r = err_set(err, -ENOMEM, "out of memory");
                break;
            }
            r = tar_add(w, sub, de->d_name, child.data, false, depth + 1, err);
        }
        buf_release(&child);
        (void)closedir(d);
        return r;
    } else if (S_ISFIFO(st.st_mode)) {
        r = tar_header(w, arc, NULL, '6', &st, 0);
    } else {
        return 0; /* devices and sockets are skipped */
    }
    return r < 0 ? err_set(err, r, "writing the archive: %s", strerror(-r)) : 0;
}

/* Tar of the local path src into fd, its top entry named top. */
static int cp_pack(const char *src, const char *top, int fd, const struct cp_opts *o,
                   struct err *err)
{
    static const char zero[1024];
    struct tarw w = {.fd = fd, .o = o, .data = malloc(65536)};
    int r;

    if (!w.data)
        return err_set(err, -ENOMEM, "out of memory");
    r = tar_add(&w, AT_FDCWD, src, top, o->follow, 0, err);
    free(w.data);
    if (r >= 0 && write_all(fd, zero, sizeof(zero)) < 0)
        r = err_set(err, -errno, "writing the archive: %s", strerror(errno));
    return r;
}

static int copy_to(struct cli_ctx *ctx, const char *src, const char *cname, const char *dst,
                   const struct cp_opts *o, struct err *err)
{
    cleanup_close int fd = -1;
    cleanup_free char *dir = NULL;
    cleanup_free char *top = NULL;
    struct stat st;
    uint64_t mode = 0;
    int r;

    if (strcmp(src, "-") == 0) {
        fd = dup(STDIN_FILENO);
        if (fd < 0)
            return err_set(err, -errno, "stdin: %s", strerror(errno));
        return cp_exchange(ctx, "PUT", cname, dst, o, fd, -1, err);
    }
    if ((o->follow ? stat(src, &st) : lstat(src, &st)) < 0)
        return err_set(err, -errno, "lstat %s: %s", src, strerror(errno));
    r = cp_stat(ctx, cname, dst, &mode, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && (mode & GO_MODE_DIR)) {
        dir = strdup(dst);
        top = path_base(src);
    } else {
        if (r == 0 && S_ISDIR(st.st_mode))
            return err_set(err, -ENOTDIR, "cannot copy directory to a file: %s", dst);
        if (r == -ENOENT && dst[strlen(dst) - 1] == '/' && !S_ISDIR(st.st_mode))
            return err_set(err, -ENOENT, "destination directory %s does not exist", dst);
        dir = path_dir(dst);
        top = path_base(dst);
    }
    if (!dir || !top)
        return err_set(err, -ENOMEM, "out of memory");
    if (strcmp(top, "/") == 0 || strcmp(top, ".") == 0 || strcmp(top, "..") == 0)
        return err_set(err, -EINVAL, "invalid source %s", src);
    fd = tmp_fd();
    if (fd < 0)
        return err_set(err, -errno, "temporary file: %s", strerror(errno));
    r = cp_pack(src, top, fd, o, err);
    if (r < 0)
        return r;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return err_set(err, -errno, "seek: %s", strerror(errno));
    return cp_exchange(ctx, "PUT", cname, dir, o, fd, -1, err);
}

int cli_cmd_cp(struct cli_ctx *ctx, int argc, char **argv)
{
    struct cp_opts o = {0};
    const struct cli_flag flags[] = {
        CLI_BOOL_FLAG("archive", 'a', &o.archive, "Archive mode (copy all uid/gid information)"),
        CLI_BOOL_FLAG("follow-link", 'L', &o.follow, "Always follow symbol link in SRC_PATH"),
        CLI_BOOL_FLAG("quiet", 'q', &o.quiet, "Suppress progress output during copy"),
        {.name = NULL},
    };
    const struct cli_cmd_spec spec = {"cp",
                                      "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
                                      "       shoal cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
                                      "Copy files/folders between a container and the local "
                                      "filesystem",
                                      flags,
                                      false,
                                      2,
                                      2};
    struct cli_strv args;
    struct err err = {0};
    cleanup_free char *sname = NULL;
    cleanup_free char *dname = NULL;
    const char *spath, *dpath;
    int ex, rc, r;

    if ((rc = cli_flags_parse(&spec, argc, argv, &args, &ex)) != CLI_FLAGS_OK)
        return rc == CLI_FLAGS_HELP ? 0 : ex;
    (void)cp_split(args.v[0], &sname, &spath);
    (void)cp_split(args.v[1], &dname, &dpath);
    if (sname && dname) {
        r = err_set(&err, -EINVAL, "copying between containers is not supported");
    } else if (!sname && !dname) {
        r = err_set(&err, -EINVAL, "must specify at least one container source");
    } else if (!*spath || !*dpath) {
        r = err_set(&err, -EINVAL, "filepath can not be empty");
    } else if (sname) {
        r = copy_from(ctx, sname, spath, dpath, &o, &err);
    } else {
        r = copy_to(ctx, spath, dname, dpath, &o, &err);
    }
    cli_strv_release(&args);
    if (r < 0) {
        cli_print_err(ctx, &err);
        return 1;
    }
    return 0;
}
