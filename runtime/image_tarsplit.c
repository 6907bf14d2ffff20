/*
 * runtime/image_tarsplit.c - keep a layer's tar reproducible byte for byte.
 *
 * While a layer is extracted, every byte of the uncompressed tar stream is
 * fed to a small tar block parser of our own. Everything that is not the
 * content of a plain regular file (headers, PAX and GNU long-name records,
 * padding, end-of-archive blocks, trailing bytes) is recorded; a regular
 * file's content is replaced by a reference (size + path in the layer).
 * The record stream is gzip-compressed into layers/<hex>.tarsplit:
 *
 *   16-byte plain header: "SHOALTS1" + u64 LE total tar size
 *   gzip( records ):  'R' u32 len, bytes      raw stream bytes
 *                     'F' u64 size, u16 len, path   file content from the layer
 *                     'E' u64 total          end (checks completeness)
 *
 * The parser runs ahead of libarchive (read-ahead), so file references wait
 * in a queue until the extractor reports, for the entry at the same data
 * offset, the path where it put the content. Our parser and libarchive must
 * agree on every file: any disagreement (a file libarchive did not report,
 * a layer that overwrites its own files, a queue that grows too long) marks
 * the recording broken, and the layer is kept without a tarsplit (save and
 * push of it then fail with -ENOTSUP, never with wrong bytes).
 */
#define LOG_MODULE "image"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/macros.h"
#include "lib/util.h"

#include "runtime/image_internal.h"

#define TS_MAGIC       "SHOALTS1"
#define TS_HDR_LEN     16
#define TS_MAX_PENDING (16u << 20) /* queued bytes waiting for libarchive */
#define TS_MAX_PAX     (1u << 20)
#define TS_RAW_CHUNK   (64u * 1024)

enum ts_state { ST_HDR, ST_META, ST_SKIP, ST_RAW };

struct ts_item {
    bool is_file;
    uint64_t off; /* file: data offset in the stream */
    uint64_t size;
    char *path;     /* file: NULL until resolved */
    struct buf raw; /* raw bytes */
};

/* open-addressing set of strings */
struct strset {
    char **v;
    size_t cap, n;
};

struct rt__ts {
    struct archive *w;
    bool broken;
    char why[200];
    /* parser */
    uint64_t off;
    enum ts_state st;
    unsigned char blk[512];
    size_t blen;
    uint64_t remain; /* content bytes of the current entry */
    uint64_t pad;    /* padding after them */
    bool capture_pax;
    struct buf pax;
    int64_t pax_size; /* -1: none */
    bool pax_sparse;
    bool gnu_ext;          /* old GNU sparse extension headers follow */
    uint64_t gnu_ext_size; /* content after them */
    /* queue */
    struct ts_item *q;
    size_t qn, qcap;
    size_t pending;
    struct strset files, dirs;
};

/* ---- string set ---------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool strset_has(const struct strset *set, const char *s)
{
    if (!set->cap)
        return false;
    for (size_t i = hash_str(s) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        if (!set->v[i])
            return false;
        if (strcmp(set->v[i], s) == 0)
            return true;
    }
}

static int strset_add_owned(struct strset *set, char *s);

static int strset_grow(struct strset *set)
{
    struct strset n = {.cap = set->cap ? set->cap * 2 : 256};

    n.v = calloc(n.cap, sizeof(char *));
    if (!n.v)
        return -ENOMEM;
    for (size_t i = 0; i < set->cap; i++)
        if (set->v[i])
            (void)strset_add_owned(&n, set->v[i]);
    free(set->v);
    *set = n;
    return 0;
}

static int strset_add_owned(struct strset *set, char *s)
{
    size_t i;

    if ((set->n + 1) * 2 > set->cap && strset_grow(set) < 0)
        return -ENOMEM;
    for (i = hash_str(s) & (set->cap - 1); set->v[i]; i = (i + 1) & (set->cap - 1))
        if (strcmp(set->v[i], s) == 0) {
            free(s);
            return 0;
        }
    set->v[i] = s;
    set->n++;
    return 0;
}

static int strset_add(struct strset *set, const char *s, size_t len)
{
    char *d = strndup(s, len);

    if (!d)
        return -ENOMEM;
    return strset_add_owned(set, d);
}

static void strset_release(struct strset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof(*set));
}

/* ---- recorder ------------------------------------------------------------------------------ */

static void ts_break(struct rt__ts *t, const char *why)
{
    if (t->broken)
        return;
    t->broken = true;
    (void)snprintf(t->why, sizeof(t->why), "%s", why);
    log_debug("tar-split recording stopped: %s", why);
}

static int ts_write(struct rt__ts *t, const void *data, size_t len)
{
    if (len && archive_write_data(t->w, data, len) != (la_ssize_t)len) {
        ts_break(t, "cannot write the tar-split file");
        return -EIO;
    }
    return 0;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void item_release(struct ts_item *it)
{
    free(it->path);
    buf_release(&it->raw);
}

/* Write out the queue head while it is raw or resolved. */
static void ts_flush(struct rt__ts *t)
{
    size_t done = 0;

    while (!t->broken && done < t->qn) {
        struct ts_item *it = &t->q[done];
        if (it->is_file) {
            unsigned char h[11];
            size_t plen;
            if (!it->path)
                break;
            plen = strlen(it->path);
            h[0] = 'F';
            put_u64(h + 1, it->size);
            h[9] = (unsigned char)(plen & 0xff);
            h[10] = (unsigned char)(plen >> 8);
            if (ts_write(t, h, sizeof(h)) < 0 || ts_write(t, it->path, plen) < 0)
                break;
        } else {
            for (size_t o = 0; o < it->raw.len; o += TS_RAW_CHUNK) {
                size_t n = it->raw.len - o < TS_RAW_CHUNK ? it->raw.len - o : TS_RAW_CHUNK;
                unsigned char h[5] = {'R', (unsigned char)n, (unsigned char)(n >> 8),
                                      (unsigned char)(n >> 16), 0};
                if (ts_write(t, h, sizeof(h)) < 0 || ts_write(t, it->raw.data + o, n) < 0)
                    break;
            }
            t->pending -= it->raw.len;
        }
        item_release(it);
        done++;
    }
    if (done) {
        memmove(t->q, t->q + done, (t->qn - done) * sizeof(*t->q));
        t->qn -= done;
    }
}

static struct ts_item *ts_push(struct rt__ts *t, bool is_file)
{
    struct ts_item *it;

    if (t->qn == t->qcap) {
        size_t ncap = t->qcap ? t->qcap * 2 : 16;
        struct ts_item *n = realloc(t->q, ncap * sizeof(*n));
        if (!n) {
            ts_break(t, "out of memory");
            return NULL;
        }
        t->q = n;
        t->qcap = ncap;
    }
    it = &t->q[t->qn++];
    memset(it, 0, sizeof(*it));
    it->is_file = is_file;
    buf_init(&it->raw);
    return it;
}

static void ts_raw(struct rt__ts *t, const void *data, size_t len)
{
    struct ts_item *it;

    if (t->broken || !len)
        return;
    if (t->qn == 0) {
        /* nothing waits: write through */
        unsigned char h[5];
        for (size_t o = 0; o < len; o += TS_RAW_CHUNK) {
            size_t n = len - o < TS_RAW_CHUNK ? len - o : TS_RAW_CHUNK;
            h[0] = 'R';
            h[1] = (unsigned char)n;
            h[2] = (unsigned char)(n >> 8);
            h[3] = (unsigned char)(n >> 16);
            h[4] = 0;
            if (ts_write(t, h, sizeof(h)) < 0 || ts_write(t, (const char *)data + o, n) < 0)
                return;
        }
        return;
    }
    it = &t->q[t->qn - 1];
    if (it->is_file)
        it = ts_push(t, false);
    if (!it)
        return;
    if (buf_append(&it->raw, data, len) < 0) {
        ts_break(t, "out of memory");
        return;
    }
    t->pending += len;
    if (t->pending > TS_MAX_PENDING)
        ts_break(t, "the extractor fell too far behind the tar parser");
}

/* ---- tar block parser ---------------------------------------------------------------------- */

static bool parse_num(const unsigned char *f, size_t len, uint64_t *ret)
{
    uint64_t v = 0;
    size_t i = 0;

    if (f[0] & 0x80) { /* base-256 */
        if (f[0] & 0x40)
            return false; /* negative */
        v = f[0] & 0x3f;
        for (i = 1; i < len; i++) {
            if (v >> 55)
                return false;
            v = (v << 8) | f[i];
        }
        *ret = v;
        return true;
    }
    while (i < len && (f[i] == ' ' || f[i] == 0))
        i++;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++)
        v = (v << 3) | (uint64_t)(f[i] - '0');
    *ret = v;
    return true;
}

/* Read "size" and GNU.sparse.* from a PAX record block. */
static void parse_pax(struct rt__ts *t)
{
    const char *p = t->pax.data;
    const char *end = p + t->pax.len;

    while (p < end) {
        char *sp;
        unsigned long long rl = strtoull(p, &sp, 10);
        const char *kv, *eq, *rec_end;
        if (sp == p || sp >= end || *sp != ' ' || rl == 0 || rl > (unsigned long long)(end - p))
            return;
        rec_end = p + rl;
        kv = sp + 1;
        eq = memchr(kv, '=', (size_t)(rec_end - kv));
        if (eq) {
            size_t kl = (size_t)(eq - kv);
            if (kl == 4 && memcmp(kv, "size", 4) == 0) {
                char num[32];
                size_t vl = (size_t)(rec_end - 1 - (eq + 1));
                if (vl < sizeof(num)) {
                    memcpy(num, eq + 1, vl);
                    num[vl] = '\0';
                    t->pax_size = (int64_t)strtoull(num, NULL, 10);
                }
            } else if (kl > 11 && memcmp(kv, "GNU.sparse.", 11) == 0) {
                t->pax_sparse = true;
            }
        }
        p = rec_end;
    }
}

static bool all_zero(const unsigned char *b)
{
    for (size_t i = 0; i < 512; i++)
        if (b[i])
            return false;
    return true;
}

/* A complete 512-byte header block is in t->blk. */
static void on_header(struct rt__ts *t)
{
    unsigned char type = t->blk[156];
    uint64_t size = 0;

    ts_raw(t, t->blk, 512);
    if (t->gnu_ext) {
        t->gnu_ext = t->blk[504] != 0;
        if (!t->gnu_ext) {
            t->remain = t->gnu_ext_size;
            t->pad = (512 - t->remain % 512) % 512;
            t->st = ST_META;
        }
        return;
    }
    if (all_zero(t->blk)) {
        t->st = ST_RAW; /* end of archive: the rest is recorded as is */
        return;
    }
    if (!parse_num(t->blk + 124, 12, &size)) {
        ts_break(t, "tar header with an unreadable size");
        t->st = ST_RAW;
        return;
    }
    if (type != 'x' && type != 'g' && t->pax_size >= 0)
        size = (uint64_t)t->pax_size;
    t->remain = size;
    t->pad = (512 - size % 512) % 512;
    t->st = ST_META;
    t->capture_pax = false;
    switch (type) {
    case 'x':
        if (size > TS_MAX_PAX) {
            ts_break(t, "PAX header too large");
        } else {
            t->capture_pax = true;
            t->pax.len = 0;
        }
        t->pax_size = -1;
        t->pax_sparse = false;
        return; /* pax state applies to the next header */
    case 'g':
    case 'L':
    case 'K':
        return;
    case '0':
    case '\0':
    case '7':
        if (!t->pax_sparse && size > 0) {
            struct ts_item *it = ts_push(t, true);
            if (it) {
                it->off = t->off; /* the content starts right after this block */
                it->size = size;
            }
            t->st = ST_SKIP;
        }
        break;
    case 'S':
        if (t->blk[482]) {
            t->gnu_ext = true;
            t->gnu_ext_size = size;
            t->remain = 0;
            t->pad = 0;
            t->st = ST_HDR;
        }
        break;
    case '1':
        break;
    case '2':
    case '3':
    case '4':
    case '6':
        /* libarchive ignores the size field of these */
        t->remain = 0;
        t->pad = 0;
        break;
    default:
        break;
    }
    t->pax_size = -1;
    t->pax_sparse = false;
    if (t->st == ST_META && t->remain == 0 && t->pad == 0)
        t->st = ST_HDR;
}

void rt__ts_feed(struct rt__ts *t, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (!t)
        return;
    while (len && !t->broken) {
        size_t n;
        switch (t->st) {
        case ST_RAW:
            ts_raw(t, p, len);
            t->off += len;
            return;
        case ST_HDR:
            n = 512 - t->blen < len ? 512 - t->blen : len;
            memcpy(t->blk + t->blen, p, n);
            t->blen += n;
            p += n;
            len -= n;
            t->off += n;
            if (t->blen == 512) {
                t->blen = 0;
                on_header(t);
            }
            break;
        case ST_META:
        case ST_SKIP:
            if (t->remain) {
                n = t->remain < len ? (size_t)t->remain : len;
                if (t->st == ST_META) {
                    ts_raw(t, p, n);
                    if (t->capture_pax && buf_append(&t->pax, p, n) < 0)
                        ts_break(t, "out of memory");
                }
                t->remain -= n;
            } else {
                n = t->pad < len ? (size_t)t->pad : len;
                ts_raw(t, p, n);
                t->pad -= n;
            }
            p += n;
            len -= n;
            t->off += n;
            if (t->remain == 0 && t->pad == 0) {
                if (t->capture_pax) {
                    parse_pax(t);
                    t->capture_pax = false;
                }
                t->st = ST_HDR;
            }
            break;
        }
    }
}

void rt__ts_file(struct rt__ts *t, uint64_t data_off, uint64_t size, const char *rel)
{
    if (!t || t->broken)
        return;
    for (size_t i = 0; i < t->qn; i++) {
        struct ts_item *it = &t->q[i];
        if (!it->is_file || it->path)
            continue;
        if (it->off > data_off)
            return; /* a file our parser recorded raw (sparse...) */
        if (it->off < data_off || it->size != size) {
            ts_break(t, "tar parsers disagree about a file");
            return;
        }
        it->path = strdup(rel);
        if (!it->path)
            ts_break(t, "out of memory");
        ts_flush(t);
        return;
    }
    if (data_off >= t->off)
        ts_break(t, "extractor ahead of the tar parser");
}

void rt__ts_entry(struct rt__ts *t, const char *rel, bool is_dir, bool is_file)
{
    if (!t || t->broken || !*rel)
        return;
    if (strset_has(&t->files, rel) || (!is_dir && strset_has(&t->dirs, rel))) {
        ts_break(t, "the layer replaces one of its own files");
        return;
    }
    if (!is_file)
        return;
    if (strset_add(&t->files, rel, strlen(rel)) < 0) {
        ts_break(t, "out of memory");
        return;
    }
    for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/'))
        if (strset_add(&t->dirs, rel, (size_t)(s - rel)) < 0) {
            ts_break(t, "out of memory");
            return;
        }
}

int rt__ts_new(int out_fd, struct rt__ts **ret, struct err *err)
{
    struct rt__ts *t = calloc(1, sizeof(*t));
    struct archive_entry *e;

    if (!t)
        return err_set(err, -ENOMEM, "out of memory");
    buf_init(&t->pax);
    t->pax_size = -1;
    if (lseek(out_fd, TS_HDR_LEN, SEEK_SET) < 0) {
        free(t);
        return err_set(err, -errno, "tar-split file: %m");
    }
    t->w = archive_write_new();
    e = archive_entry_new();
    if (!t->w || !e || archive_write_add_filter_gzip(t->w) != ARCHIVE_OK ||
        archive_write_set_format_raw(t->w) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(t->w, 1) != ARCHIVE_OK ||
        archive_write_open_fd(t->w, out_fd) != ARCHIVE_OK) {
        archive_entry_free(e);
        rt__ts_free(t);
        return err_set(err, -EIO, "tar-split writer setup failed");
    }
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_pathname(e, "tarsplit");
    if (archive_write_header(t->w, e) != ARCHIVE_OK) {
        archive_entry_free(e);
        rt__ts_free(t);
        return err_set(err, -EIO, "tar-split writer setup failed");
    }
    archive_entry_free(e);
    if (ts_write(t, TS_MAGIC, 8) < 0) {
        rt__ts_free(t);
        return err_set(err, -EIO, "tar-split write failed");
    }
    *ret = t;
    return 0;
}

int rt__ts_finish(struct rt__ts *t, int out_fd, struct err *err)
{
    unsigned char h[TS_HDR_LEN];
    unsigned char end[9];

    if (!t->broken && t->blen)
        ts_raw(t, t->blk, t->blen); /* a short trailing block */
    t->blen = 0;
    ts_flush(t);
    if (!t->broken && t->qn)
        ts_break(t, "a file of the tar was never extracted");
    if (!t->broken && t->st == ST_SKIP)
        ts_break(t, "truncated tar");
    end[0] = 'E';
    put_u64(end + 1, t->off);
    if (!t->broken)
        (void)ts_write(t, end, sizeof(end));
    if (!t->broken && archive_write_close(t->w) != ARCHIVE_OK)
        ts_break(t, "cannot finish the tar-split file");
    if (t->broken)
        return err_set(err, -ENOTSUP, "%s", t->why);
    memcpy(h, TS_MAGIC, 8);
    put_u64(h + 8, t->off);
    if (pwrite(out_fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || fsync(out_fd) < 0)
        return err_set(err, -EIO, "write tar-split header: %m");
    return 0;
}

void rt__ts_free(struct rt__ts *t)
{
    if (!t)
        return;
    if (t->w)
        (void)archive_write_free(t->w);
    for (size_t i = 0; i < t->qn; i++)
        item_release(&t->q[i]);
    free(t->q);
    buf_release(&t->pax);
    strset_release(&t->files);
    strset_release(&t->dirs);
    free(t);
}

/* ---- reconstruction ------------------------------------------------------------------------ */

int rt__ts_size(int ts_fd, uint64_t *ret_size)
{
    unsigned char h[TS_HDR_LEN];

    if (pread(ts_fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, TS_MAGIC, 8) != 0)
        return -EINVAL;
    *ret_size = get_u64(h + 8);
    return 0;
}

static int rd_exact(struct archive *a, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        la_ssize_t r = archive_read_data(a, (char *)buf + got, n - got);
        if (r <= 0)
            return -EINVAL;
        got += (size_t)r;
    }
    return 0;
}

static int copy_file(int layer_fd, const char *path, uint64_t size, int out_fd, char *buf,
                     size_t buflen, struct err *err)
{
    char dir[RT_LAYER_MAX_PATH + 1];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    cleanup_close int fd = -1;
    struct stat st;
    uint64_t left = size;
    int pfd;

    (void)snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
    pfd = rt__layer_walk_dir(layer_fd, dir, path);
    if (pfd < 0)
        return err_set(err, -EIO, "layer file %s is missing", path);
    fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    (void)close(pfd);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return err_set(err, -EIO, "layer file %s changed since the layer was stored", path);
    while (left) {
        ssize_t n = read(fd, buf, left < buflen ? (size_t)left : buflen);
        int r;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_set(err, -EIO, "read layer file %s: %s", path,
                           n < 0 ? strerror(errno) : "short file");
        r = write_all(out_fd, buf, (size_t)n);
        if (r < 0)
            return err_set(err, r, "write layer tar: %s", strerror(-r));
        left -= (uint64_t)n;
    }
    return 0;
}

int rt__ts_rebuild(int ts_fd, int layer_fd, int out_fd, struct err *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    cleanup_free char *buf = malloc(TS_RAW_CHUNK * 2);
    char magic[8];
    uint64_t total = 0, written = 0;
    int r = 0;

    if (!a || !buf) {
        if (a)
            (void)archive_read_free(a);
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (rt__ts_size(ts_fd, &total) < 0 || lseek(ts_fd, TS_HDR_LEN, SEEK_SET) < 0) {
        r = err_set(err, -EINVAL, "corrupt tar-split file");
        goto out;
    }
    (void)archive_read_support_filter_gzip(a);
    (void)archive_read_support_format_raw(a);
    if (archive_read_open_fd(a, ts_fd, 64 * 1024) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK || rd_exact(a, magic, 8) < 0 ||
        memcmp(magic, TS_MAGIC, 8) != 0) {
        r = err_set(err, -EINVAL, "corrupt tar-split file");
        goto out;
    }
    for (;;) {
        unsigned char h[11];
        if (rd_exact(a, h, 1) < 0) {
            r = err_set(err, -EINVAL, "corrupt tar-split file (truncated)");
            goto out;
        }
        if (h[0] == 'R') {
            size_t n;
            if (rd_exact(a, h + 1, 4) < 0)
                goto corrupt;
            n = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16;
            if (n > TS_RAW_CHUNK * 2 || rd_exact(a, buf, n) < 0)
                goto corrupt;
            r = write_all(out_fd, buf, n);
            if (r < 0) {
                err_set(err, r, "write layer tar: %s", strerror(-r));
                goto out;
            }
            written += n;
        } else if (h[0] == 'F') {
            char path[RT_LAYER_MAX_PATH + 1];
            size_t plen;
            uint64_t size;
            if (rd_exact(a, h + 1, 10) < 0)
                goto corrupt;
            size = get_u64(h + 1);
            plen = (size_t)h[9] | (size_t)h[10] << 8;
            if (plen == 0 || plen > RT_LAYER_MAX_PATH || rd_exact(a, path, plen) < 0)
                goto corrupt;
            path[plen] = '\0';
            r = copy_file(layer_fd, path, size, out_fd, buf, TS_RAW_CHUNK * 2, err);
            if (r < 0)
                goto out;
            written += size;
        } else if (h[0] == 'E') {
            if (rd_exact(a, h + 1, 8) < 0 || get_u64(h + 1) != total || written != total)
                goto corrupt;
            r = 0;
            goto out;
        } else {
            goto corrupt;
        }
    }
corrupt:
    r = err_set(err, -EINVAL, "corrupt tar-split file");
out:
    (void)archive_read_free(a);
    return r;
}
