/*
 * tests/unit/test_image.c - the image store: import, layers, hostile tars,
 * whiteouts, limits, failure cleanup, references and import changes.
 * Needs root (mknod, chown, trusted.* xattrs); skips otherwise.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/util.h"

#include "runtime/image.h"
#include "runtime/image_internal.h"

enum { T_FILE, T_DIR, T_SYMLINK, T_HARDLINK, T_CHR, T_FIFO };

struct tent {
    const char *name;
    int type;
    unsigned perm;
    const char *data; /* file content, or link target */
    unsigned uid, gid;
    const char *xname; /* one xattr */
    const char *xvalue;
    size_t size; /* T_FILE: if set, this many zero bytes instead of data */
};

struct fx {
    char dir[64]; /* test scratch */
    char data_root[128];
    char outside[128]; /* must never be touched */
    struct rt_image_store *s;
};

static char *path_join(const char *a, const char *b)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", a, b) > 0);
    return p;
}

/* Build a tar (optionally gzip) with libarchive's writer. */
static void make_tar(const char *path, const struct tent *ents, size_t n, const char *filter)
{
    struct archive *a = archive_write_new();
    static char zeros[64 * 1024];

    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (filter && strcmp(filter, "gzip") == 0)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    else if (filter && strcmp(filter, "zstd") == 0)
        assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        const struct tent *t = &ents[i];
        struct archive_entry *e = archive_entry_new();
        size_t len = 0;

        archive_entry_set_pathname(e, t->name);
        archive_entry_set_uid(e, t->uid);
        archive_entry_set_gid(e, t->gid);
        archive_entry_set_mtime(e, 1600000000 + (time_t)i, 0);
        switch (t->type) {
        case T_FILE:
            len = t->size ? t->size : (t->data ? strlen(t->data) : 0);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (la_int64_t)len);
            break;
        case T_DIR:
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case T_SYMLINK:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, t->data);
            break;
        case T_HARDLINK:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, t->data);
            break;
        case T_CHR:
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdevmajor(e, 1);
            archive_entry_set_rdevminor(e, 3);
            break;
        case T_FIFO:
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        }
        archive_entry_set_perm(e, t->perm ? t->perm : 0644);
        if (t->xname)
            archive_entry_xattr_add_entry(e, t->xname, t->xvalue, strlen(t->xvalue));
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (t->type == T_FILE && t->size) {
            for (size_t done = 0; done < t->size;) {
                size_t c = t->size - done < sizeof(zeros) ? t->size - done : sizeof(zeros);
                assert_true(archive_write_data(a, zeros, c) == (la_ssize_t)c);
                done += c;
            }
        } else if (t->type == T_FILE && len) {
            assert_true(archive_write_data(a, t->data, len) == (la_ssize_t)len);
        }
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);
}

static void sha256_file(const char *path, char out[72])
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(read_file(path, &data, &len, 1 << 30), 0);
    rt__sha256_id(data, len, out);
    free(data);
}

static int do_import(struct fx *f, const char *tar, const char *tag, const char *const *changes,
                     size_t n, char id[72], struct err *err)
{
    int fd = open(tar, O_RDONLY | O_CLOEXEC);
    int r;

    assert_true(fd >= 0);
    r = rt_image_import(f->s, fd, tag, changes, n, NULL, id, err);
    (void)close(fd);
    return r;
}

static size_t count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    }
    (void)closedir(d);
    return n;
}

static size_t count_subdir(struct fx *f, const char *sub)
{
    char *p;
    size_t n;

    assert_true(asprintf(&p, "%s/image/%s", f->data_root, sub) > 0);
    n = count_dir(p);
    free(p);
    return n;
}

/* layers/ holds dirs and their .json and .tarsplit: count the dirs */
static size_t count_layer_dirs(struct fx *f)
{
    char *p;
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    assert_true(asprintf(&p, "%s/image/layers", f->data_root) > 0);
    d = opendir(p);
    assert_non_null(d);
    while ((de = readdir(d))) {
        if (de->d_name[0] != '.' && !strchr(de->d_name, '.'))
            n++;
    }
    (void)closedir(d);
    free(p);
    return n;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err err = {0};
    char *victim;

    if (geteuid() != 0) {
        free(f);
        *state = NULL;
        return 0;
    }
    strcpy(f->dir, "/tmp/shoal-test-image-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(f->data_root, sizeof(f->data_root), "%s/data", f->dir);
    (void)snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
    assert_int_equal(mkdir(f->outside, 0755), 0);
    victim = path_join(f->outside, "victim");
    assert_int_equal(write_file_atomic(victim, "orig", 4, 0644, false), 0);
    free(victim);
    assert_int_equal(rt_image_store_open(f->data_root, &f->s, &err), 0);
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

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (!*state)                                                                               \
            skip();                                                                                \
    } while (0)

/* outside/ still holds exactly "victim" with "orig" */
static void assert_outside_untouched(struct fx *f)
{
    char *victim = path_join(f->outside, "victim");
    char *data = NULL;

    assert_int_equal(count_dir(f->outside), 1);
    assert_int_equal(read_file(victim, &data, NULL, 100), 0);
    assert_string_equal(data, "orig");
    free(data);
    free(victim);
}

static void assert_store_clean(struct fx *f)
{
    assert_int_equal(count_subdir(f, "tmp"), 0);
    assert_int_equal(count_subdir(f, "layers"), 0);
    assert_int_equal(count_subdir(f, "configs"), 0);
}

/* ---- (1) basic import + lookups ------------------------------------------------------------ */

static const struct tent basic[] = {
    {"./", T_DIR, 0755, NULL, 0, 0, NULL, NULL, 0},
    {"bin/", T_DIR, 0711, NULL, 0, 0, NULL, NULL, 0},
    {"bin/busy", T_FILE, 0750, "hello", 1000, 1001, "user.note", "hi", 0},
    {"bin/sh", T_SYMLINK, 0777, "busy", 7, 8, NULL, NULL, 0},
    {"bin/ln", T_HARDLINK, 0, "bin/busy", 0, 0, NULL, NULL, 0},
    {"etc/suid", T_FILE, 04755, "abc", 0, 0, "trusted.overlay.opaque", "y", 0},
    {"dev/null", T_CHR, 0666, NULL, 0, 0, NULL, NULL, 0},
    {"run/fifo", T_FIFO, 0600, NULL, 5, 5, NULL, NULL, 0},
};

static void test_image_import_basic(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    struct err err = {0};
    char *tar = path_join(f->dir, "basic.tar");
    char id[72];
    char diff[72];
    char *names[6];
    struct rt_image *img = NULL;
    struct stat st;
    char buf[64];
    char *p;

    make_tar(tar, basic, ARRAY_SIZE(basic), NULL);
    sha256_file(tar, diff);
    {
        /* modes must not depend on the daemon's umask */
        mode_t old = umask(077);
        int r = do_import(f, tar, "tst", NULL, 0, id, &err);
        (void)umask(old);
        assert_int_equal(r, 0);
    }
    assert_true(strncmp(id, "sha256:", 7) == 0);

    /* repositories.json has the tag */
    {
        char *data = NULL;
        json_t *j;
        assert_true(asprintf(&p, "%s/image/repositories.json", f->data_root) > 0);
        assert_int_equal(read_file(p, &data, NULL, 1 << 20), 0);
        j = json_loads(data, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "tst:latest")), id);
        json_decref(j);
        free(data);
        free(p);
    }

    /* every accepted name finds it */
    names[0] = strdup("tst");
    names[1] = strdup("tst:latest");
    names[2] = strdup("docker.io/library/tst:latest");
    names[3] = strdup(id);
    names[4] = strndup(id + 7, 12);
    assert_true(asprintf(&names[5], "sha256:%.10s", id + 7) > 0);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        assert_int_equal(rt_image_get(f->s, names[i], &img, &err), 0);
        assert_string_equal(img->id, id);
        rt_image_free(img);
        free(names[i]);
    }
    assert_int_equal(rt_image_get(f->s, "nope", &img, &err), -ENOENT);
    assert_string_equal(err.msg, "No such image: nope");
    assert_int_equal(rt_image_get(f->s, "tst:other", &img, &err), -ENOENT);

    assert_int_equal(rt_image_get(f->s, "tst", &img, &err), 0);
    assert_int_equal(img->n_repo_tags, 1);
    assert_string_equal(img->repo_tags[0], "tst:latest");
    assert_null(img->repo_tags[1]);
    assert_int_equal(img->n_layers, 1);
    assert_string_equal(img->diff_ids[0], diff);
    /* size: busy 5 (+ hard link not again) + suid 3 + symlink "busy" 4 */
    assert_int_equal(img->size, 12);
    assert_true(img->created_ns > 0);
    {
        json_t *c = json_loads(img->config_json, 0, NULL);
        char cid[72];
        assert_non_null(c);
        assert_string_equal(json_string_value(json_object_get(c, "os")), "linux");
        assert_non_null(json_string_value(json_object_get(c, "architecture")));
        assert_string_equal(json_string_value(json_object_get(c, "comment")), "Imported from -");
        assert_string_equal(json_string_value(json_array_get(
                                json_object_get(json_object_get(c, "rootfs"), "diff_ids"), 0)),
                            diff);
        assert_true(json_is_null(json_object_get(json_object_get(c, "config"), "Env")));
        assert_true(json_is_null(json_object_get(json_object_get(c, "config"), "Cmd")));
        rt__sha256_id(img->config_json, strlen(img->config_json), cid);
        assert_string_equal(cid, id);
        json_decref(c);
    }

    /* the layer dir */
    p = path_join(img->layers[0], "bin/busy");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1001);
    assert_int_equal(st.st_nlink, 2);
    assert_int_equal(st.st_mtim.tv_sec, 1600000002);
    assert_int_equal(getxattr(p, "user.note", buf, sizeof(buf)), 2);
    free(p);
    p = path_join(img->layers[0], "bin/ln");
    {
        struct stat st2;
        struct stat st1;
        char *q = path_join(img->layers[0], "bin/busy");
        assert_int_equal(lstat(p, &st2), 0);
        assert_int_equal(lstat(q, &st1), 0);
        assert_int_equal(st1.st_ino, st2.st_ino);
        free(q);
    }
    free(p);
    p = path_join(img->layers[0], "bin/sh");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_uid, 7);
    assert_int_equal(readlink(p, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "busy", 4);
    free(p);
    p = path_join(img->layers[0], "etc/suid");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    /* a layer can never set trusted.* */
    assert_true(getxattr(p, "trusted.overlay.opaque", buf, sizeof(buf)) < 0);
    free(p);
    p = path_join(img->layers[0], "dev/null");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(major(st.st_rdev), 1);
    assert_int_equal(minor(st.st_rdev), 3);
    assert_int_equal(st.st_mode & 07777, 0666);
    free(p);
    p = path_join(img->layers[0], "run/fifo");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_uid, 5);
    free(p);
    /* implicit parents 0755; explicit dir modes and mtimes (applied last) kept */
    p = path_join(img->layers[0], "run");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    free(p);
    p = path_join(img->layers[0], "bin");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0711);
    assert_int_equal(st.st_mtim.tv_sec, 1600000001);
    free(p);
    assert_int_equal(lstat(img->layers[0], &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, 1600000000);
    rt_image_free(img);

    /* survives a restart */
    rt_image_store_free(f->s);
    f->s = NULL;
    assert_int_equal(rt_image_store_open(f->data_root, &f->s, &err), 0);
    assert_int_equal(rt_image_get(f->s, "tst", &img, &err), 0);
    assert_string_equal(img->id, id);
    assert_int_equal(img->size, 12);
    rt_image_free(img);

    /* tag */
    assert_int_equal(rt_image_tag(f->s, "tst", "docker.io/library/other:v2", &err), 0);
    assert_int_equal(rt_image_get(f->s, "other:v2", &img, &err), 0);
    assert_int_equal(img->n_repo_tags, 2);
    assert_string_equal(img->repo_tags[0], "other:v2");
    assert_string_equal(img->repo_tags[1], "tst:latest");
    rt_image_free(img);
    assert_int_equal(rt_image_tag(f->s, "nope", "x:y", &err), -ENOENT);
    assert_int_equal(rt_image_tag(f->s, "tst", "Bad:y", &err), -EINVAL);
    free(tar);
}

/* ---- (2) shared layers, (3) compression ------------------------------------------------------ */

static void test_image_import_shares_layer(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    struct err err = {0};
    char *tar = path_join(f->dir, "basic.tar");
    char *gz = path_join(f->dir, "basic.tar.gz");
    char *zst = path_join(f->dir, "basic.tar.zst");
    char id1[72], id2[72], id3[72], id4[72];
    struct rt_image *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    struct rt_image **list = NULL;
    size_t n = 0;

    make_tar(tar, basic, ARRAY_SIZE(basic), NULL);
    make_tar(gz, basic, ARRAY_SIZE(basic), "gzip");
    make_tar(zst, basic, ARRAY_SIZE(basic), "zstd");
    assert_int_equal(do_import(f, tar, "a", NULL, 0, id1, &err), 0);
    usleep(2000); /* different created time -> different image ids */
    assert_int_equal(do_import(f, tar, "b:1", NULL, 0, id2, &err), 0);
    assert_int_equal(do_import(f, gz, "c", NULL, 0, id3, &err), 0);
    assert_int_equal(do_import(f, zst, "d", NULL, 0, id4, &err), 0);
    assert_string_not_equal(id1, id2);
    assert_int_equal(rt_image_get(f->s, "a", &a, &err), 0);
    assert_int_equal(rt_image_get(f->s, "b:1", &b, &err), 0);
    assert_int_equal(rt_image_get(f->s, "c", &c, &err), 0);
    assert_int_equal(rt_image_get(f->s, "d", &d, &err), 0);
    assert_string_equal(a->layers[0], b->layers[0]);
    assert_string_equal(a->diff_ids[0], c->diff_ids[0]); /* gzip: same diff-id */
    assert_string_equal(a->diff_ids[0], d->diff_ids[0]);
    assert_int_equal(count_layer_dirs(f), 1);
    assert_int_equal(count_subdir(f, "tmp"), 0);
    {
        char *p, *data = NULL;
        json_t *j;
        assert_true(asprintf(&p, "%s.json", a->layers[0]) > 0);
        assert_int_equal(read_file(p, &data, NULL, 4096), 0);
        j = json_loads(data, 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(j, "refs")), 4);
        assert_int_equal(json_integer_value(json_object_get(j, "size")), 12);
        json_decref(j);
        free(data);
        free(p);
    }
    assert_int_equal(rt_image_list(f->s, &list, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(list[0]->id, id4); /* newest first */
    assert_string_equal(list[3]->id, id1);
    rt_image_list_free(list, n);
    rt_image_free(a);
    rt_image_free(b);
    rt_image_free(c);
    rt_image_free(d);
    free(tar);
    free(gz);
    free(zst);
}

/* ---- (4) hostile tars -------------------------------------------------------------------------
 */

static void expect_import_fails(struct fx *f, const struct tent *ents, size_t n, int code,
                                const char *msg_part)
{
    struct err err = {0};
    char *tar = path_join(f->dir, "hostile.tar");
    char id[72];
    struct rt_image *img = NULL;

    make_tar(tar, ents, n, NULL);
    assert_int_equal(do_import(f, tar, "hostile", NULL, 0, id, &err), code);
    if (!strstr(err.msg, msg_part))
        fail_msg("error '%s' lacks '%s'", err.msg, msg_part);
    assert_store_clean(f);
    assert_int_equal(rt_image_get(f->s, "hostile", &img, &err), -ENOENT);
    assert_outside_untouched(f);
    (void)unlink(tar);
    free(tar);
}

static void test_image_hostile_dotdot(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    const struct tent t1[] = {{"../../escape", T_FILE, 0644, "x", 0, 0, NULL, NULL, 0}};
    const struct tent t2[] = {
        {"a/../../../outside/victim", T_FILE, 0644, "x", 0, 0, NULL, NULL, 0}};
    char *p;
    struct stat st;

    expect_import_fails(f, t1, 1, -EINVAL, "outside of the layer");
    expect_import_fails(f, t2, 1, -EINVAL, "outside of the layer");
    p = path_join(f->dir, "escape");
    assert_int_equal(lstat(p, &st), -1);
    free(p);
}

static void test_image_hostile_absolute_confined(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    struct err err = {0};
    char abs_name[200];
    char *tar = path_join(f->dir, "abs.tar");
    char id[72];
    struct rt_image *img = NULL;
    char *p;
    struct stat st;

    /* an absolute name that would hit the outside dir if taken literally */
    (void)snprintf(abs_name, sizeof(abs_name), "%s/victim", f->outside);
    {
        const struct tent t[] = {
            {"/abs/path", T_FILE, 0644, "in", 0, 0, NULL, NULL, 0},
            {abs_name, T_FILE, 0644, "pwned", 0, 0, NULL, NULL, 0},
            {"/../../up", T_FILE, 0644, "root", 0, 0, NULL, NULL, 0},
        };
        make_tar(tar, t, ARRAY_SIZE(t), NULL);
    }
    assert_int_equal(do_import(f, tar, "abs", NULL, 0, id, &err), 0);
    assert_int_equal(rt_image_get(f->s, "abs", &img, &err), 0);
    p = path_join(img->layers[0], "abs/path");
    assert_int_equal(lstat(p, &st), 0);
    free(p);
    p = path_join(img->layers[0], abs_name + 1);
    assert_int_equal(lstat(p, &st), 0);
    free(p);
    p = path_join(img->layers[0], "up");
    assert_int_equal(lstat(p, &st), 0);
    free(p);
    rt_image_free(img);
    assert_outside_untouched(f);
    free(tar);
}

static void test_image_hostile_symlinks(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    char victim[200];
    char rel_out[200];

    (void)snprintf(victim, sizeof(victim), "%s/victim", f->outside);
    /* relative path from the layer dir (data/image/tmp/<x>/) to outside */
    (void)snprintf(rel_out, sizeof(rel_out), "../../../../outside");
    {
        /* symlink to the outside dir, then an entry through it */
        const struct tent t[] = {
            {"evil", T_SYMLINK, 0777, f->outside, 0, 0, NULL, NULL, 0},
            {"evil/x", T_FILE, 0644, "pwned", 0, 0, NULL, NULL, 0},
        };
        expect_import_fails(f, t, ARRAY_SIZE(t), -EINVAL, "not a directory");
    }
    {
        const struct tent t[] = {
            {"evil", T_SYMLINK, 0777, rel_out, 0, 0, NULL, NULL, 0},
            {"evil/sub/", T_DIR, 0755, NULL, 0, 0, NULL, NULL, 0},
        };
        expect_import_fails(f, t, ARRAY_SIZE(t), -EINVAL, "not a directory");
    }
    {
        /* a chain: a -> b -> outside */
        const struct tent t[] = {
            {"b", T_SYMLINK, 0777, f->outside, 0, 0, NULL, NULL, 0},
            {"a", T_SYMLINK, 0777, "b", 0, 0, NULL, NULL, 0},
            {"a/x", T_FILE, 0644, "pwned", 0, 0, NULL, NULL, 0},
        };
        expect_import_fails(f, t, ARRAY_SIZE(t), -EINVAL, "not a directory");
    }
    {
        /* hard links: outside the layer, through a symlink, to a directory */
        const struct tent t1[] = {{"h", T_HARDLINK, 0, "../../../etc/shadow", 0, 0, NULL, NULL, 0}};
        const struct tent t2[] = {
            {"lnk", T_SYMLINK, 0777, f->outside, 0, 0, NULL, NULL, 0},
            {"h", T_HARDLINK, 0, "lnk/victim", 0, 0, NULL, NULL, 0},
        };
        const struct tent t4[] = {
            {"d/", T_DIR, 0755, NULL, 0, 0, NULL, NULL, 0},
            {"h", T_HARDLINK, 0, "d", 0, 0, NULL, NULL, 0},
        };
        const struct tent t5[] = {{"h", T_HARDLINK, 0, "missing", 0, 0, NULL, NULL, 0}};
        expect_import_fails(f, t1, ARRAY_SIZE(t1), -EINVAL, "outside the layer");
        expect_import_fails(f, t2, ARRAY_SIZE(t2), -EINVAL, "not reachable");
        expect_import_fails(f, t4, ARRAY_SIZE(t4), -EINVAL, "is a directory");
        expect_import_fails(f, t5, ARRAY_SIZE(t5), -EINVAL, "does not exist");
    }
    {
        /* a file entry over a planted symlink replaces the link, never writes through it;
         * a chmod-carrying dir entry over a symlink to outside replaces it too */
        struct err err = {0};
        char *tar = path_join(f->dir, "over.tar");
        char id[72];
        struct rt_image *img = NULL;
        char *p, *data = NULL;
        struct stat st;
        const struct tent t[] = {
            {"c", T_SYMLINK, 0777, victim, 0, 0, NULL, NULL, 0},
            {"c", T_FILE, 0600, "pwned", 0, 0, NULL, NULL, 0},
            {"d", T_SYMLINK, 0777, f->outside, 0, 0, NULL, NULL, 0},
            {"d", T_DIR, 0700, NULL, 0, 0, NULL, NULL, 0},
            {"l", T_SYMLINK, 0777, victim, 0, 0, NULL, NULL, 0},
            {"hl", T_HARDLINK, 0, "l", 0, 0, NULL, NULL, 0},
        };
        make_tar(tar, t, ARRAY_SIZE(t), NULL);
        assert_int_equal(do_import(f, tar, "over", NULL, 0, id, &err), 0);
        assert_int_equal(rt_image_get(f->s, "over", &img, &err), 0);
        p = path_join(img->layers[0], "c");
        assert_int_equal(read_file(p, &data, NULL, 100), 0);
        assert_string_equal(data, "pwned");
        free(data);
        free(p);
        p = path_join(img->layers[0], "d");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        free(p);
        p = path_join(img->layers[0], "hl");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        free(p);
        rt_image_free(img);
        free(tar);
        assert_outside_untouched(f);
        /* outside dir mode unchanged by the "d" dir entry */
        assert_int_equal(lstat(f->outside, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
    }
}

/* ---- (5) whiteouts ------------------------------------------------------------------------------
 */

static void test_image_whiteouts(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    struct err err = {0};
    char *tar = path_join(f->dir, "wh.tar");
    char id[72];
    struct rt_image *img = NULL;
    char *p;
    struct stat st;
    char buf[8];
    const struct tent t[] = {
        {"dir/", T_DIR, 0755, NULL, 0, 0, NULL, NULL, 0},
        {"dir/.wh.foo", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 0},
        {"dir2/.wh..wh..opq", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 0},
        {"dir2/keep", T_FILE, 0644, "k", 0, 0, NULL, NULL, 0},
        {".wh..wh.plnk", T_DIR, 0755, NULL, 0, 0, NULL, NULL, 0},
        {"dir/.wh.own", T_FILE, 0644, NULL, 33, 33, NULL, NULL, 0},
    };

    make_tar(tar, t, ARRAY_SIZE(t), NULL);
    {
        mode_t old = umask(077);
        int r = do_import(f, tar, "wh", NULL, 0, id, &err);
        (void)umask(old);
        assert_int_equal(r, 0);
    }
    assert_int_equal(rt_image_get(f->s, "wh", &img, &err), 0);
    /* no "./" entry: the root is 0755 */
    assert_int_equal(lstat(img->layers[0], &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    p = path_join(img->layers[0], "dir/foo");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    free(p);
    p = path_join(img->layers[0], "dir/own");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_uid, 33);
    free(p);
    p = path_join(img->layers[0], "dir2");
    assert_int_equal(getxattr(p, "trusted.overlay.opaque", buf, sizeof(buf)), 1);
    assert_int_equal(buf[0], 'y');
    free(p);
    p = path_join(img->layers[0], "dir2/keep");
    assert_int_equal(lstat(p, &st), 0);
    free(p);
    /* no marker files anywhere */
    p = path_join(img->layers[0], "dir");
    assert_int_equal(count_dir(p), 2);
    free(p);
    p = path_join(img->layers[0], "dir2");
    assert_int_equal(count_dir(p), 1);
    free(p);
    assert_int_equal(count_dir(img->layers[0]), 2);
    rt_image_free(img);
    free(tar);

    {
        const struct tent b1[] = {{"x/.wh..", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 0}};
        const struct tent b2[] = {{"x/.wh.", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 0}};
        const struct tent b3[] = {{"x/.wh...", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 0}};
        rt_image_store_free(f->s);
        (void)rm_rf(f->data_root);
        assert_int_equal(rt_image_store_open(f->data_root, &f->s, &err), 0);
        expect_import_fails(f, b1, 1, -EINVAL, "invalid whiteout");
        expect_import_fails(f, b2, 1, -EINVAL, "invalid whiteout");
        expect_import_fails(f, b3, 1, -EINVAL, "invalid whiteout");
    }
}

/* ---- (6) limits, (7) corrupt input --------------------------------------------------------- */

static void test_image_limits(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    struct tent many[40];
    char names[40][16];
    char *tar = path_join(f->dir, "bomb.tar.gz");
    char id[72];
    struct err err = {0};
    const struct tent bomb[] = {
        {"zeros", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 8u << 20},
    };

    for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
        (void)snprintf(names[i], sizeof(names[i]), "f%zu", i);
        many[i] = (struct tent){names[i], T_FILE, 0644, "x", 0, 0, NULL, NULL, 0};
    }
    rt_image_store_set_limits(f->s, 0, 10);
    expect_import_fails(f, many, ARRAY_SIZE(many), -EFBIG, "too many entries");
    rt_image_store_set_limits(f->s, 1 << 20, 1000);
    /* 8 MiB of zeros compresses to a few KiB */
    make_tar(tar, bomb, 1, "gzip");
    assert_int_equal(do_import(f, tar, "bomb", NULL, 0, id, &err), -EFBIG);
    assert_non_null(strstr(err.msg, "limit"));
    assert_store_clean(f);
    /* back to defaults it imports */
    rt_image_store_set_limits(f->s, 64ULL << 30, 1 << 20);
    assert_int_equal(do_import(f, tar, "bomb", NULL, 0, id, &err), 0);
    free(tar);
}

static void test_image_corrupt(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    char *tar = path_join(f->dir, "trunc.tar");
    char id[72];
    struct err err = {0};
    struct rt_image *img = NULL;
    struct stat st;
    const struct tent t[] = {
        {"a", T_FILE, 0644, "aaaa", 0, 0, NULL, NULL, 0},
        {"big", T_FILE, 0644, NULL, 0, 0, NULL, NULL, 100000},
    };

    make_tar(tar, t, ARRAY_SIZE(t), NULL);
    assert_int_equal(stat(tar, &st), 0);
    assert_int_equal(truncate(tar, 50000), 0);
    assert_int_equal(do_import(f, tar, "trunc", NULL, 0, id, &err), -EINVAL);
    assert_true(strlen(err.msg) > 0);
    assert_store_clean(f);
    assert_int_equal(rt_image_get(f->s, "trunc", &img, &err), -ENOENT);
    {
        char *p;
        assert_true(asprintf(&p, "%s/image/repositories.json", f->data_root) > 0);
        assert_int_equal(access(p, F_OK), -1);
        free(p);
    }

    /* not a tar at all, and empty input */
    assert_int_equal(
        write_file_atomic(tar, "this is not a tar archive, clearly\n", 35, 0644, false), 0);
    assert_int_equal(do_import(f, tar, "junk", NULL, 0, id, &err), -EINVAL);
    assert_store_clean(f);
    assert_int_equal(write_file_atomic(tar, "", 0, 0644, false), 0);
    assert_int_equal(do_import(f, tar, "junk", NULL, 0, id, &err), -EINVAL);
    assert_store_clean(f);
    /* truncated gzip */
    make_tar(tar, t, ARRAY_SIZE(t), "gzip");
    assert_int_equal(stat(tar, &st), 0);
    assert_int_equal(truncate(tar, st.st_size / 2), 0);
    assert_int_equal(do_import(f, tar, "trunc", NULL, 0, id, &err), -EINVAL);
    assert_store_clean(f);
    free(tar);
}

/* ---- (8) references
 * ------------------------------------------------------------------------------ */

static void test_image_normalize_ref(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL = invalid */
    } cases[] = {
        {"bb", "bb:latest"},
        {"bb:1.2", "bb:1.2"},
        {"docker.io/library/bb:latest", "bb:latest"},
        {"docker.io/bb", "bb:latest"},
        {"index.docker.io/library/bb", "bb:latest"},
        {"library/bb", "bb:latest"},
        {"docker.io/user/app:v1", "user/app:v1"},
        {"user/app", "user/app:latest"},
        {"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"},
        {"127.0.0.1:5000/x:v2", "127.0.0.1:5000/x:v2"},
        {"localhost/x", "localhost/x:latest"},
        {"localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"},
        {"reg.example.com/ns/img", "reg.example.com/ns/img:latest"},
        {"a-b_c.d__e", "a-b_c.d__e:latest"},
        {"bb@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "bb@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"bb:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "bb:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"", NULL},
        {"BB", NULL},
        {"user/App", NULL},
        {"bb:", NULL},
        {":tag", NULL},
        {"bb:-x", NULL},
        {"bb@sha256:abc", NULL},
        {"-bb", NULL},
        {"bb-", NULL},
        {"bb//x", NULL},
        {"bb/", NULL},
        {"a..b", NULL},
        {"a b", NULL},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL},
        {"host:99999999/x", NULL},
    };
    char out[512];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int r = rt_image_normalize_ref(cases[i].in, out);
        if (!cases[i].out) {
            if (r != -EINVAL)
                fail_msg("'%s' should be invalid, got '%s'", cases[i].in, out);
            continue;
        }
        if (r != 0)
            fail_msg("'%s' rejected", cases[i].in);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("'%s' -> '%s', want '%s'", cases[i].in, out, cases[i].out);
    }
}

/* ---- (9) changes
 * --------------------------------------------------------------------------------- */

static json_t *config_of(const char *json)
{
    json_t *doc = json_loads(json, 0, NULL);
    json_t *c;

    assert_non_null(doc);
    c = json_incref(json_object_get(doc, "config"));
    json_decref(doc);
    return c;
}

static void test_image_changes(void **state)
{
    (void)state;
    struct err err = {0};
    char *json = NULL;
    json_t *c;
    const char *diff = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const char *ch1[] = {"CMD [\"sh\"]", "ENV A=1", "WORKDIR /w"};
    const char *ch2[] = {"ENTRYPOINT echo hi",  "cmd echo a",         "ENV B=2 C=\"x y\" A=3",
                         "env D 4 5",           "WORKDIR rel/../sub", "EXPOSE 80 53/udp 7-8",
                         "LABEL a=b c=\"d e\"", "USER nobody",        "VOLUME [\"/v\", \"/u\"]",
                         "STOPSIGNAL SIGKILL",  "ONBUILD RUN x",      "ENV A=9"};
    static const char *bad[][2] = {
        {"RUN x", "run is not a valid change command"},
        {"FROM scratch", "from is not a valid change command"},
        {"ENV", "ENV requires at least one argument"},
        {"ENV A", "ENV must have two arguments"},
        {"ENV A=1 B", "Syntax error - can't find = in \"B\""},
        {"EXPOSE 80/foo", "invalid proto"},
        {"EXPOSE 99999", "invalid containerPort"},
        {"USER", "USER requires exactly one argument"},
    };

    assert_int_equal(rt__image_config_import((const char *const *)ch1, ARRAY_SIZE(ch1), NULL, diff,
                                             1700000000123456000LL, &json, &err),
                     0);
    /* the created time as Go prints it: trailing zeros dropped */
    assert_non_null(strstr(json, "\"created\":\"2023-11-14T22:13:20.123456Z\""));
    assert_non_null(strstr(json, "\"comment\":\"Imported from -\""));
    c = config_of(json);
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Cmd"), 0)), "sh");
    assert_int_equal(json_array_size(json_object_get(c, "Cmd")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Env"), 0)), "A=1");
    assert_string_equal(json_string_value(json_object_get(c, "WorkingDir")), "/w");
    assert_true(json_is_null(json_object_get(c, "Entrypoint")));
    assert_null(json_object_get(c, "ExposedPorts"));
    json_decref(c);
    free(json);

    assert_int_equal(rt__image_config_import((const char *const *)ch2, ARRAY_SIZE(ch2), "my msg",
                                             diff, 1700000000000000000LL, &json, &err),
                     0);
    assert_non_null(strstr(json, "\"created\":\"2023-11-14T22:13:20Z\""));
    assert_non_null(strstr(json, "\"comment\":\"my msg\""));
    /* Docker's field order, ExposedPorts between AttachStderr and Tty */
    assert_non_null(strstr(json, "\"AttachStderr\":false,\"ExposedPorts\":{\"53/udp\":{},"
                                 "\"7/tcp\":{},\"8/tcp\":{},\"80/tcp\":{}},\"Tty\":false"));
    c = config_of(json);
    {
        json_t *ep = json_object_get(c, "Entrypoint");
        json_t *cmd = json_object_get(c, "Cmd");
        json_t *env = json_object_get(c, "Env");
        assert_int_equal(json_array_size(ep), 3);
        assert_string_equal(json_string_value(json_array_get(ep, 0)), "/bin/sh");
        assert_string_equal(json_string_value(json_array_get(ep, 1)), "-c");
        assert_string_equal(json_string_value(json_array_get(ep, 2)), "echo hi");
        assert_string_equal(json_string_value(json_array_get(cmd, 2)), "echo a");
        assert_int_equal(json_array_size(env), 4);
        assert_string_equal(json_string_value(json_array_get(env, 0)), "B=2");
        assert_string_equal(json_string_value(json_array_get(env, 1)), "C=x y");
        assert_string_equal(json_string_value(json_array_get(env, 2)), "A=9");
        assert_string_equal(json_string_value(json_array_get(env, 3)), "D=4 5");
    }
    assert_string_equal(json_string_value(json_object_get(c, "WorkingDir")), "/sub");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Labels"), "c")),
                        "d e");
    assert_string_equal(json_string_value(json_object_get(c, "User")), "nobody");
    assert_non_null(json_object_get(json_object_get(c, "Volumes"), "/u"));
    assert_string_equal(json_string_value(json_object_get(c, "StopSignal")), "SIGKILL");
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "OnBuild"), 0)),
                        "RUN x");
    json_decref(c);
    free(json);

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        const char *one[] = {bad[i][0]};
        json = NULL;
        err.msg[0] = '\0';
        assert_int_equal(rt__image_config_import(one, 1, NULL, diff, 1, &json, &err), -EINVAL);
        assert_null(json);
        if (!strstr(err.msg, bad[i][1]))
            fail_msg("'%s': error '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
    }
}

static void test_image_import_with_changes(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    struct err err = {0};
    char *tar = path_join(f->dir, "ch.tar");
    char id[72];
    struct rt_image *img = NULL;
    json_t *c;
    const char *ch[] = {"CMD [\"sh\"]", "ENV A=1", "WORKDIR /w"};
    const char *bad[] = {"RUN true"};
    const struct tent t[] = {{"f", T_FILE, 0644, "x", 0, 0, NULL, NULL, 0}};

    make_tar(tar, t, 1, NULL);
    assert_int_equal(do_import(f, tar, "bad", bad, 1, id, &err), -EINVAL);
    assert_string_equal(err.msg, "run is not a valid change command");
    assert_store_clean(f);
    assert_int_equal(do_import(f, tar, "127.0.0.1:5000/ch", ch, 3, id, &err), 0);
    assert_int_equal(rt_image_get(f->s, "127.0.0.1:5000/ch:latest", &img, &err), 0);
    c = config_of(img->config_json);
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Cmd"), 0)), "sh");
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "Env"), 0)), "A=1");
    assert_string_equal(json_string_value(json_object_get(c, "WorkingDir")), "/w");
    json_decref(c);
    rt_image_free(img);
    /* a digest is not a tag */
    assert_int_equal(
        do_import(f, tar,
                  "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL,
                  0, id, &err),
        -EINVAL);
    free(tar);
}

/* ---- lookups: ambiguity, concurrency -----------------------------------------------------------
 */

struct racer {
    struct fx *f;
    const char *tar;
    int result;
};

static void *import_thread(void *arg)
{
    struct racer *r = arg;
    struct err err = {0};
    char id[72];

    for (int i = 0; i < 5 && r->result == 0; i++) {
        char tag[32];
        (void)snprintf(tag, sizeof(tag), "race:%d", i);
        r->result = do_import(r->f, r->tar, tag, NULL, 0, id, &err);
    }
    return NULL;
}

static void test_image_concurrent_readers(void **state)
{
    NEED_ROOT();
    struct fx *f = *state;
    char *tar = path_join(f->dir, "race.tar");
    pthread_t th;
    struct racer r = {f, tar, 0};
    struct rt_image **list = NULL;
    size_t n = 0;
    struct err err = {0};
    struct rt_image *img = NULL;
    int done = 0;

    make_tar(tar, basic, ARRAY_SIZE(basic), NULL);
    assert_int_equal(pthread_create(&th, NULL, import_thread, &r), 0);
    while (!done) {
        assert_int_equal(rt_image_list(f->s, &list, &n, &err), 0);
        done = n == 5;
        rt_image_list_free(list, n);
        if (rt_image_get(f->s, "race:0", &img, &err) == 0)
            rt_image_free(img);
        if (r.result != 0)
            break;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(r.result, 0);
    assert_int_equal(count_layer_dirs(f), 1);
    /* five images: a 1-char prefix is most likely ambiguous; the full id never is */
    assert_int_equal(rt_image_list(f->s, &list, &n, &err), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rt_image_get(f->s, list[i]->id, &img, &err), 0);
        rt_image_free(img);
        for (size_t j = 0; j < n; j++) {
            if (i != j && list[i]->id[7] == list[j]->id[7]) {
                char pre[2] = {list[i]->id[7], 0};
                assert_int_equal(rt_image_get(f->s, pre, &img, &err), -EINVAL);
                assert_non_null(strstr(err.msg, "ambiguous"));
            }
        }
    }
    rt_image_list_free(list, n);
    free(tar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_image_import_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_import_shares_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_hostile_dotdot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_hostile_absolute_confined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_hostile_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_corrupt, setup, teardown),
        cmocka_unit_test(test_image_normalize_ref),
        cmocka_unit_test(test_image_changes),
        cmocka_unit_test_setup_teardown(test_image_import_with_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_concurrent_readers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
