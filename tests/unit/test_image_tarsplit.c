/*
 * tests/unit/test_image_tarsplit.c - rt_image_layer_tar gives back the exact
 * tar a layer was imported from (tar-split), for every tar dialect libarchive
 * writes, compressed or not, and refuses (never lies) when it cannot.
 * Needs root (mknod, chown); skips otherwise.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/image.h"
#include "runtime/image_internal.h"

struct fx {
    char dir[64];
    struct rt_image_store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err err = {0};

    if (geteuid() != 0) {
        free(f);
        return 0;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/test-tarsplit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(rt_image_store_open(f->dir, &f->s, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (!f)
        return 0;
    rt_image_store_free(f->s);
    (void)rm_rf(f->dir);
    free(f);
    return 0;
}

#define SKIP_UNLESS_ROOT()                                                                         \
    do {                                                                                           \
        if (!*state)                                                                               \
            skip();                                                                                \
    } while (0)

enum { E_FILE, E_DIR, E_SYMLINK, E_HARDLINK, E_FIFO };

struct ent {
    const char *name;
    int type;
    size_t size; /* files: bytes of a pattern */
    const char *target;
    const char *xattr; /* forces a PAX record */
};

/* Write the entries as a tar of the given libarchive format (+ filter) to path;
 * the uncompressed stream goes to raw_path too (for byte comparison). */
static void write_tar(const char *path, const char *raw_path, int format, const char *filter,
                      const struct ent *ents, size_t n)
{
    for (int pass = 0; pass < 2; pass++) {
        struct archive *a = archive_write_new();
        assert_int_equal(archive_write_set_format(a, format), ARCHIVE_OK);
        if (pass == 0 && filter && strcmp(filter, "gzip") == 0)
            assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        if (pass == 0 && filter && strcmp(filter, "zstd") == 0)
            assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, pass == 0 ? path : raw_path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
            struct archive_entry *e = archive_entry_new();
            archive_entry_set_pathname(e, ents[i].name);
            archive_entry_set_mtime(e, 1700000000 + (time_t)i, 0);
            archive_entry_set_uid(e, 1000);
            archive_entry_set_gid(e, 1000);
            switch (ents[i].type) {
            case E_FILE:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t)ents[i].size);
                break;
            case E_DIR:
                archive_entry_set_filetype(e, AE_IFDIR);
                archive_entry_set_perm(e, 0755);
                break;
            case E_SYMLINK:
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_perm(e, 0777);
                archive_entry_set_symlink(e, ents[i].target);
                break;
            case E_HARDLINK:
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_hardlink(e, ents[i].target);
                break;
            case E_FIFO:
                archive_entry_set_filetype(e, AE_IFIFO);
                archive_entry_set_perm(e, 0600);
                break;
            }
            if (ents[i].xattr)
                archive_entry_xattr_add_entry(e, "user.test", ents[i].xattr, strlen(ents[i].xattr));
            assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
            if (ents[i].type == E_FILE) {
                char buf[4096];
                size_t left = ents[i].size;
                unsigned seed = (unsigned)i * 7919u;
                while (left) {
                    size_t k = left < sizeof(buf) ? left : sizeof(buf);
                    for (size_t j = 0; j < k; j++)
                        buf[j] = (char)(seed = seed * 1103515245u + 12345u);
                    assert_int_equal(archive_write_data(a, buf, k), (la_ssize_t)k);
                    left -= k;
                }
            }
            archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
    }
}

static void sha256_fd(int fd, char out[72])
{
    char *data = NULL;
    size_t len = 0;
    char path[64];

    (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    assert_int_equal(read_file(path, &data, &len, 1u << 30), 0);
    rt__sha256_id(data, len, out);
    free(data);
}

static bool same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t lx = 0, ly = 0;
    bool same;

    assert_int_equal(read_file(a, &x, &lx, 1u << 30), 0);
    assert_int_equal(read_file(b, &y, &ly, 1u << 30), 0);
    same = lx == ly && memcmp(x, y, lx) == 0;
    free(x);
    free(y);
    return same;
}

/* Import path, rebuild the layer tar, check digest and bytes. */
static void roundtrip(struct fx *f, const char *path, const char *raw)
{
    struct err err = {0};
    char diff_id[72], got[72];
    char out[128];
    uint64_t size = 0;
    int fd = open(path, O_RDONLY);
    int ofd;

    assert_true(fd >= 0);
    assert_int_equal(rt_image_layer_import(f->s, fd, diff_id, NULL, &err), 0);
    (void)close(fd);
    assert_int_equal(rt_image_layer_tar_size(f->s, diff_id, &size, &err), 0);
    (void)snprintf(out, sizeof(out), "%s/out.tar", f->dir);
    ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(ofd >= 0);
    if (rt_image_layer_tar(f->s, diff_id, ofd, &err) < 0)
        fail_msg("layer tar: %s", err.msg);
    sha256_fd(ofd, got);
    (void)close(ofd);
    assert_string_equal(got, diff_id);
    assert_true(same_file(out, raw));
    {
        struct stat st;
        assert_int_equal(stat(out, &st), 0);
        assert_int_equal((uint64_t)st.st_size, size);
    }
}

static const struct ent rich[] = {
    {"etc/", E_DIR, 0, NULL, NULL},
    {"etc/empty", E_FILE, 0, NULL, NULL},
    {"etc/one", E_FILE, 1, NULL, NULL},
    {"etc/511", E_FILE, 511, NULL, NULL},
    {"etc/512", E_FILE, 512, NULL, NULL},
    {"etc/513", E_FILE, 513, NULL, NULL},
    {"etc/big", E_FILE, 300000, NULL, NULL},
    {"etc/link", E_SYMLINK, 0, "one", NULL},
    {"etc/hard", E_HARDLINK, 0, "etc/513", NULL},
    {"etc/fifo", E_FIFO, 0, NULL, NULL},
    {"etc/with-xattr", E_FILE, 1000, NULL, "value"},
    {"a-very-long-directory-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on/", E_DIR, 0,
     NULL, NULL},
    {"a-very-long-directory-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on/"
     "and-a-file-name-that-is-also-quite-long-to-exceed-one-hundred-bytes-of-name.bin",
     E_FILE, 4097, NULL, NULL},
    {"etc/.wh.removed", E_FILE, 0, NULL, NULL},
    {"var/.wh..wh..opq", E_FILE, 0, NULL, NULL},
};

static void run_format(void **state, int format, const char *filter)
{
    struct fx *f = *state;
    char path[128], raw[128];

    (void)snprintf(path, sizeof(path), "%s/in.tar", f->dir);
    (void)snprintf(raw, sizeof(raw), "%s/raw.tar", f->dir);
    write_tar(path, raw, format, filter, rich, sizeof(rich) / sizeof(rich[0]));
    roundtrip(f, path, raw);
}

static void test_tarsplit_pax(void **state)
{
    SKIP_UNLESS_ROOT();
    run_format(state, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, NULL);
}

static void test_tarsplit_pax_restricted_gzip(void **state)
{
    SKIP_UNLESS_ROOT();
    run_format(state, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, "gzip");
}

static void test_tarsplit_gnutar_zstd(void **state)
{
    SKIP_UNLESS_ROOT();
    run_format(state, ARCHIVE_FORMAT_TAR_GNUTAR, "zstd");
}

static void test_tarsplit_ustar(void **state)
{
    static const struct ent ents[] = {
        {"bin/", E_DIR, 0, NULL, NULL},
        {"bin/sh", E_FILE, 70000, NULL, NULL},
        {"bin/ls", E_HARDLINK, 0, "bin/sh", NULL},
    };
    struct fx *f = *state;
    char path[128], raw[128];

    SKIP_UNLESS_ROOT();
    (void)snprintf(path, sizeof(path), "%s/in.tar", f->dir);
    (void)snprintf(raw, sizeof(raw), "%s/raw.tar", f->dir);
    write_tar(path, raw, ARCHIVE_FORMAT_TAR_USTAR, NULL, ents, 3);
    roundtrip(f, path, raw);
}

/* Trailing bytes after the end blocks belong to the diff-id: kept too. */
static void test_tarsplit_trailing_bytes(void **state)
{
    static const struct ent ents[] = {{"x", E_FILE, 10, NULL, NULL}};
    struct fx *f = *state;
    char path[128], raw[128];
    int fd;

    SKIP_UNLESS_ROOT();
    (void)snprintf(path, sizeof(path), "%s/in.tar", f->dir);
    (void)snprintf(raw, sizeof(raw), "%s/raw.tar", f->dir);
    write_tar(path, raw, ARCHIVE_FORMAT_TAR_USTAR, NULL, ents, 1);
    for (int i = 0; i < 2; i++) {
        fd = open(i ? raw : path, O_WRONLY | O_APPEND);
        assert_int_equal(write(fd, "junk", 4), 4);
        assert_int_equal(write(fd, (char[1024]){0}, 1024), 1024);
        (void)close(fd);
    }
    roundtrip(f, path, raw);
}

/* A layer that writes the same file twice cannot be rebuilt from the
 * extracted tree: no tar-split, -ENOTSUP, and the import itself works. */
static void test_tarsplit_duplicate_refused(void **state)
{
    static const struct ent ents[] = {
        {"x", E_FILE, 10, NULL, NULL},
        {"x", E_FILE, 20, NULL, NULL},
    };
    struct fx *f = *state;
    char path[128], raw[128], diff_id[72];
    struct err err = {0};
    uint64_t size;
    int fd;

    SKIP_UNLESS_ROOT();
    (void)snprintf(path, sizeof(path), "%s/in.tar", f->dir);
    (void)snprintf(raw, sizeof(raw), "%s/raw.tar", f->dir);
    write_tar(path, raw, ARCHIVE_FORMAT_TAR_USTAR, NULL, ents, 2);
    fd = open(path, O_RDONLY);
    assert_int_equal(rt_image_layer_import(f->s, fd, diff_id, NULL, &err), 0);
    (void)close(fd);
    assert_int_equal(rt_image_layer_tar_size(f->s, diff_id, &size, &err), -ENOTSUP);
    assert_int_equal(rt_image_layer_tar(f->s, diff_id, 1, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "cannot be exported"));
}

/* A size change in the extracted layer is detected, not streamed. */
static void test_tarsplit_tampered_layer(void **state)
{
    static const struct ent ents[] = {{"x", E_FILE, 10, NULL, NULL}};
    struct fx *f = *state;
    char path[128], raw[128], diff_id[72], lpath[256];
    struct err err = {0};
    int fd, ofd;

    SKIP_UNLESS_ROOT();
    (void)snprintf(path, sizeof(path), "%s/in.tar", f->dir);
    (void)snprintf(raw, sizeof(raw), "%s/raw.tar", f->dir);
    write_tar(path, raw, ARCHIVE_FORMAT_TAR_USTAR, NULL, ents, 1);
    fd = open(path, O_RDONLY);
    assert_int_equal(rt_image_layer_import(f->s, fd, diff_id, NULL, &err), 0);
    (void)close(fd);
    (void)snprintf(lpath, sizeof(lpath), "%s/image/layers/%s/x", f->dir, diff_id + 7);
    assert_int_equal(truncate(lpath, 5), 0);
    ofd = open("/dev/null", O_WRONLY);
    assert_int_equal(rt_image_layer_tar(f->s, diff_id, ofd, &err), -EIO);
    (void)close(ofd);
    assert_non_null(strstr(err.msg, "changed"));
    /* unknown layer */
    assert_int_equal(rt_image_layer_tar(
                         f->s,
                         "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                         1, &err),
                     -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tarsplit_pax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tarsplit_pax_restricted_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tarsplit_gnutar_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tarsplit_ustar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tarsplit_trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tarsplit_duplicate_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tarsplit_tampered_layer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
