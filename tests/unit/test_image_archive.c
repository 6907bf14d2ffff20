/*
 * tests/unit/test_image_archive.c - docker save / load (docker and OCI
 * archives, hostile and inconsistent ones), rmi with reference-counted
 * layers, conflicts, prune, repo digests. Needs root; skips otherwise.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
    char root_a[128], root_b[128];
    struct rt_image_store *a, *b;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err err = {0};

    if (geteuid() != 0) {
        free(f);
        return 0;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/test-imgarc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(f->root_a, sizeof(f->root_a), "%s/a", f->dir);
    (void)snprintf(f->root_b, sizeof(f->root_b), "%s/b", f->dir);
    assert_int_equal(rt_image_store_open(f->root_a, &f->a, &err), 0);
    assert_int_equal(rt_image_store_open(f->root_b, &f->b, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (!f)
        return 0;
    rt_image_store_free(f->a);
    rt_image_store_free(f->b);
    (void)rm_rf(f->dir);
    free(f);
    return 0;
}

#define SKIP_UNLESS_ROOT()                                                                         \
    do {                                                                                           \
        if (!*state)                                                                               \
            skip();                                                                                \
    } while (0)

struct mem {
    const char *name;
    const void *data;
    size_t len;
    const char *symlink;
};

/* A tar of members into buf (returns length); filter "gzip" or NULL. */
static size_t make_tar(char *buf, size_t cap, const struct mem *m, size_t n, const char *filter)
{
    struct archive *a = archive_write_new();
    size_t used = 0;

    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (filter)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_mtime(e, 1700000000, 0);
        if (m[i].symlink) {
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, m[i].symlink);
        } else {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_size(e, (la_int64_t)m[i].len);
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (!m[i].symlink && m[i].len)
            assert_int_equal(archive_write_data(a, m[i].data, m[i].len), (la_ssize_t)m[i].len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return used;
}

static int tmpfile_with(struct fx *f, const void *data, size_t len)
{
    int fd = open(f->dir, O_TMPFILE | O_RDWR, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write_all(fd, data, len), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Import a one-file layer image tagged tag; returns its id in id. */
static void import_image(struct fx *f, struct rt_image_store *s, const char *file,
                         const char *content, const char *tag, char id[72])
{
    static char buf[1 << 16];
    struct mem m = {file, content, strlen(content), NULL};
    size_t len = make_tar(buf, sizeof(buf), &m, 1, NULL);
    struct err err = {0};
    int fd = tmpfile_with(f, buf, len);

    if (rt_image_import(s, fd, tag, NULL, 0, NULL, id, &err) < 0)
        fail_msg("import: %s", err.msg);
    (void)close(fd);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static size_t layer_files(const char *root)
{
    char p[256];

    (void)snprintf(p, sizeof(p), "%s/image/layers", root);
    return count_entries(p);
}

static size_t n_images(struct rt_image_store *s)
{
    struct rt_image **v = NULL;
    size_t n = 0;

    assert_int_equal(rt_image_list(s, &v, &n, NULL), 0);
    rt_image_list_free(v, n);
    return n;
}

static void test_save_load_roundtrip(void **state)
{
    struct fx *f = *state;
    char id1[72], id2[72];
    const char *names[] = {"one:v1", "docker.io/library/two:latest"};
    struct rt_image_load_result res;
    struct rt_image *img = NULL;
    struct err err = {0};
    int fd;

    SKIP_UNLESS_ROOT();
    import_image(f, f->a, "hello.txt", "hello world\n", "one:v1", id1);
    import_image(f, f->a, "other.txt", "other\n", "two", id2);
    fd = open(f->dir, O_TMPFILE | O_RDWR, 0600);
    if (rt_image_save(f->a, names, 2, fd, &err) < 0)
        fail_msg("save: %s", err.msg);
    if (rt_image_load(f->b, fd, &res, &err) < 0)
        fail_msg("load: %s", err.msg);
    assert_int_equal(res.n_lines, 2);
    assert_string_equal(res.lines[0], "Loaded image: one:v1\n");
    assert_string_equal(res.lines[1], "Loaded image: two:latest\n");
    assert_int_equal(res.n_layers, 2);
    rt_image_load_result_release(&res);
    assert_int_equal(rt_image_get(f->b, "one:v1", &img, &err), 0);
    assert_string_equal(img->id, id1); /* same config bytes: same id */
    rt_image_free(img);
    /* loading again: layers are shared, nothing new extracted */
    assert_int_equal(rt_image_load(f->b, fd, &res, &err), 0);
    assert_int_equal(res.n_layers, 0);
    rt_image_load_result_release(&res);
    (void)close(fd);
    /* by id: untagged */
    fd = open(f->dir, O_TMPFILE | O_RDWR, 0600);
    names[0] = id2;
    assert_int_equal(rt_image_save(f->a, names, 1, fd, &err), 0);
    assert_int_equal(rt_image_load(f->b, fd, &res, &err), 0);
    assert_int_equal(res.n_lines, 1);
    assert_non_null(strstr(res.lines[0], "Loaded image ID: sha256:"));
    rt_image_load_result_release(&res);
    (void)close(fd);
    /* unknown name: nothing written */
    names[0] = "nope";
    assert_int_equal(rt_image_save_check(f->a, names, 1, &err), -ENOENT);
}

/* Build an OCI layout archive around one gzip layer; corrupt: 0 fine,
 * 1 bad config digest, 2 wrong diff id, 3 bad layer blob digest. */
static size_t make_oci(char *out, size_t cap, int corrupt, bool nested)
{
    static char layer[1 << 16], config[4096], manifest[4096], index[4096], inner[4096];
    struct mem lm = {"etc/os-release", "ID=test\n", 8, NULL};
    size_t llen = make_tar(layer, sizeof(layer), &lm, 1, "gzip");
    char ldig[72], cdig[72], mdig[72], idig[72], diff[72];
    static char raw[1 << 16];
    size_t rawlen = make_tar(raw, sizeof(raw), &lm, 1, NULL);
    char bl[128], bc[128], bm[128], bi[128];
    struct mem m[6];
    size_t n = 0;

    rt__sha256_id(layer, llen, ldig);
    rt__sha256_id(raw, rawlen, diff);
    if (corrupt == 2)
        diff[10] = diff[10] == 'a' ? 'b' : 'a';
    (void)snprintf(
        config, sizeof(config),
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]},\"history\":[{\"created_by\":"
        "\"test\"}]}",
        diff);
    rt__sha256_id(config, strlen(config), cdig);
    if (corrupt == 3)
        ldig[20] = ldig[20] == 'a' ? 'b' : 'a';
    (void)snprintf(
        manifest, sizeof(manifest),
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
        "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
        "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
        cdig, strlen(config), ldig, llen);
    if (corrupt == 3)
        rt__sha256_id(layer, llen, ldig); /* the blob file keeps its true name */
    rt__sha256_id(manifest, strlen(manifest), mdig);
    if (corrupt == 1)
        config[5] = 'X';
    if (nested) {
        (void)snprintf(
            inner, sizeof(inner),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
            "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"digest\":\"sha256:%064d\",\"size\":1,\"platform\":{\"architecture\":\"arm64\","
            "\"os\":\"linux\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"architecture\":\"amd64\","
            "\"os\":\"linux\"}}]}",
            0, mdig, strlen(manifest));
        rt__sha256_id(inner, strlen(inner), idig);
        (void)snprintf(
            index, sizeof(index),
            "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
            "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
            "\"annotations\":{\"org.opencontainers.image.ref.name\":\"oci/test:multi\"}}]}",
            idig, strlen(inner));
    } else {
        (void)snprintf(
            index, sizeof(index),
            "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
            "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
            "\"annotations\":{\"org.opencontainers.image.ref.name\":\"ocitest:v1\"}}]}",
            mdig, strlen(manifest));
    }
    (void)snprintf(bl, sizeof(bl), "blobs/sha256/%s", ldig + 7);
    (void)snprintf(bc, sizeof(bc), "blobs/sha256/%s", cdig + 7);
    (void)snprintf(bm, sizeof(bm), "blobs/sha256/%s", mdig + 7);
    m[n++] = (struct mem){"oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, NULL};
    m[n++] = (struct mem){"index.json", index, strlen(index), NULL};
    m[n++] = (struct mem){bl, layer, llen, NULL};
    m[n++] = (struct mem){bc, config, strlen(config), NULL};
    m[n++] = (struct mem){bm, manifest, strlen(manifest), NULL};
    if (nested) {
        (void)snprintf(bi, sizeof(bi), "blobs/sha256/%s", idig + 7);
        m[n++] = (struct mem){bi, inner, strlen(inner), NULL};
    }
    return make_tar(out, cap, m, n, NULL);
}

static void test_load_oci(void **state)
{
    static char buf[1 << 18];
    struct fx *f = *state;
    struct rt_image_load_result res;
    struct rt_image *img = NULL;
    struct err err = {0};
    size_t len;
    int fd;

    SKIP_UNLESS_ROOT();
    len = make_oci(buf, sizeof(buf), 0, false);
    fd = tmpfile_with(f, buf, len);
    if (rt_image_load(f->b, fd, &res, &err) < 0)
        fail_msg("load: %s", err.msg);
    (void)close(fd);
    assert_int_equal(res.n_lines, 1);
    assert_string_equal(res.lines[0], "Loaded image: ocitest:v1\n");
    rt_image_load_result_release(&res);
    assert_int_equal(rt_image_get(f->b, "ocitest:v1", &img, &err), 0);
    assert_int_equal(img->n_layers, 1);
    rt_image_free(img);
    /* nested index with two platforms: amd64 picked */
    len = make_oci(buf, sizeof(buf), 0, true);
    fd = tmpfile_with(f, buf, len);
    if (rt_image_load(f->b, fd, &res, &err) < 0)
        fail_msg("load nested: %s", err.msg);
    (void)close(fd);
    assert_string_equal(res.lines[0], "Loaded image: oci/test:multi\n");
    rt_image_load_result_release(&res);
    /* the loaded layer can be saved back exactly */
    {
        const char *names[] = {"oci/test:multi"};
        int sfd = open("/dev/null", O_WRONLY);
        assert_int_equal(rt_image_save(f->b, names, 1, sfd, &err), 0);
        (void)close(sfd);
    }
}

static void expect_bad(struct fx *f, const void *data, size_t len, const char *msg_part)
{
    struct rt_image_load_result res;
    struct err err = {0};
    int fd = tmpfile_with(f, data, len);

    assert_int_equal(rt_image_load(f->b, fd, &res, &err), -EINVAL);
    (void)close(fd);
    if (!strstr(err.msg, msg_part))
        fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
    /* nothing half-stored */
    assert_int_equal(n_images(f->b), 0);
    assert_int_equal(layer_files(f->root_b), 0);
}

static void test_load_bad_archives(void **state)
{
    static char buf[1 << 18];
    struct fx *f = *state;
    size_t len;

    SKIP_UNLESS_ROOT();
    len = make_oci(buf, sizeof(buf), 1, false);
    expect_bad(f, buf, len, "does not match its digest");
    len = make_oci(buf, sizeof(buf), 2, false);
    expect_bad(f, buf, len, "invalid diffID");
    len = make_oci(buf, sizeof(buf), 3, false);
    expect_bad(f, buf, len, "not found");
    {
        struct mem m[] = {{"../evil", "x", 1, NULL}, {"manifest.json", "[]", 2, NULL}};
        len = make_tar(buf, sizeof(buf), m, 2, NULL);
        expect_bad(f, buf, len, "escapes");
    }
    {
        struct mem m[] = {
            {"manifest.json", "[{\"Config\":\"../../etc/passwd\",\"Layers\":[]}]", 43, NULL}};
        len = make_tar(buf, sizeof(buf), m, 1, NULL);
        expect_bad(f, buf, len, "escapes");
    }
    {
        struct mem m[] = {
            {"layer.tar", NULL, 0, "/etc/shadow"},
            {"manifest.json", "[{\"Config\":\"layer.tar\",\"Layers\":[]}]", 35, NULL}};
        len = make_tar(buf, sizeof(buf), m, 2, NULL);
        expect_bad(f, buf, len, "escapes");
    }
    expect_bad(f, "garbage garbage garbage", 23, "invalid archive");
}

/* docker save format where the config lies about the layer: the layer is
 * extracted, found wrong, and removed again. */
static void test_load_docker_diffid_mismatch(void **state)
{
    static char buf[1 << 18], layer[1 << 16];
    struct fx *f = *state;
    struct mem lm = {"a", "a\n", 2, NULL};
    size_t llen = make_tar(layer, sizeof(layer), &lm, 1, NULL);
    char cfg[512], id[72];
    size_t len;

    SKIP_UNLESS_ROOT();
    (void)snprintf(cfg, sizeof(cfg),
                   "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%064d\"]}}", 7);
    rt__sha256_id(cfg, strlen(cfg), id);
    {
        char cname[80];
        char man[256];
        (void)snprintf(cname, sizeof(cname), "%s.json", id + 7);
        (void)snprintf(man, sizeof(man),
                       "[{\"Config\":\"%s\",\"RepoTags\":[\"x:y\"],\"Layers\":[\"l/layer.tar\"]}]",
                       cname);
        struct mem m[] = {{"l/layer.tar", layer, llen, NULL},
                          {cname, cfg, strlen(cfg), NULL},
                          {"manifest.json", man, strlen(man), NULL}};
        len = make_tar(buf, sizeof(buf), m, 3, "gzip");
    }
    expect_bad(f, buf, len, "invalid diffID for layer 0");
}

static void test_rmi_refcount_and_conflicts(void **state)
{
    struct fx *f = *state;
    char id1[72], id2[72];
    struct rt_image_rm *rm = NULL;
    size_t n = 0;
    struct err err = {0};
    struct rt_image *img = NULL;
    struct rt_image_user users[1] = {
        {"c0ffee0000000000000000000000000000000000000000000000000000000000", NULL, false}};
    char cfg_a[4096];

    SKIP_UNLESS_ROOT();
    import_image(f, f->a, "same", "same content\n", "base:1", id1);
    /* a second image on the same layer, different config */
    assert_int_equal(rt_image_get(f->a, id1, &img, &err), 0);
    (void)snprintf(cfg_a, sizeof(cfg_a), "%s", img->config_json);
    {
        char *p = strstr(cfg_a, "\"created\":\"");
        assert_non_null(p);
        p[14] = p[14] == '1' ? '2' : '1'; /* another year: another id */
    }
    rt_image_free(img);
    assert_int_equal(rt_image_add(f->a, cfg_a, strlen(cfg_a), "derived:1", id2, &err), 0);
    assert_int_equal(rt_image_tag(f->a, "base:1", "docker.io/library/base:2", &err), 0);
    assert_int_equal(layer_files(f->root_a), 3); /* dir, json, tarsplit */

    /* by id with two tags of the same repository: allowed only... it is one repo */
    assert_int_equal(rt_image_tag(f->a, "base:1", "other:1", &err), 0);
    assert_int_equal(rt_image_remove(f->a, id1, false, false, NULL, 0, &rm, &n, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "referenced in multiple repositories"));
    /* untag */
    assert_int_equal(rt_image_remove(f->a, "other:1", false, false, NULL, 0, &rm, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_false(rm[0].deleted);
    assert_string_equal(rm[0].what, "other:1");
    rt_image_rm_free(rm, n);
    assert_int_equal(rt_image_remove(f->a, "base:2", false, false, NULL, 0, &rm, &n, &err), 0);
    rt_image_rm_free(rm, n);

    /* last tag, used by a stopped container: conflict unless forced */
    users[0].image_id = id1;
    assert_int_equal(rt_image_remove(f->a, "base:1", false, false, users, 1, &rm, &n, &err),
                     -EEXIST);
    assert_non_null(strstr(err.msg, "conflict: unable to remove repository reference \"base:1\" "
                                    "(must force) - container c0ffee000000 is using its "
                                    "referenced image"));
    /* running: even force keeps the image (untagged) */
    users[0].running = true;
    assert_int_equal(rt_image_remove(f->a, id1, true, false, users, 1, &rm, &n, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "cannot be forced"));
    users[0].running = false;
    assert_int_equal(rt_image_remove(f->a, "base:1", true, false, users, 1, &rm, &n, &err), 0);
    assert_int_equal(n, 2); /* Untagged, Deleted image; the layer stays for derived */
    assert_string_equal(rm[0].what, "base:1");
    assert_true(rm[1].deleted);
    assert_string_equal(rm[1].what, id1);
    rt_image_rm_free(rm, n);
    assert_int_equal(layer_files(f->root_a), 3);

    /* the last user of the layer: the layer goes */
    assert_int_equal(rt_image_remove(f->a, "derived:1", false, false, NULL, 0, &rm, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_true(rm[2].deleted); /* the layer's chain id */
    rt_image_rm_free(rm, n);
    assert_int_equal(layer_files(f->root_a), 0);
    assert_int_equal(rt_image_remove(f->a, "derived:1", false, false, NULL, 0, &rm, &n, &err),
                     -ENOENT);
    assert_string_equal(err.msg, "No such image: derived:1");
}

static void test_prune_and_digests(void **state)
{
    struct fx *f = *state;
    char id1[72], id2[72], id3[72];
    struct rt_image_rm *rm = NULL;
    struct rt_image *img = NULL;
    size_t n = 0;
    int64_t reclaimed = 0;
    struct err err = {0};
    struct rt_image_user u = {"abc", NULL, false};
    char dref[200];

    SKIP_UNLESS_ROOT();
    import_image(f, f->a, "f1", "one\n", NULL, id1);     /* dangling */
    import_image(f, f->a, "f2", "two\n", "kept:1", id2); /* tagged */
    import_image(f, f->a, "f3", "three\n", NULL, id3);   /* dangling but used */
    u.image_id = id3;
    (void)snprintf(dref, sizeof(dref), "127.0.0.1:5000/kept@sha256:%064d", 1);
    assert_int_equal(rt_image_add_repo_digest(f->a, id2, dref, &err), 0);
    assert_int_equal(rt_image_get(f->a, dref, &img, &err), 0);
    assert_int_equal(img->n_repo_digests, 1);
    assert_string_equal(img->repo_digests[0], dref);
    rt_image_free(img);

    assert_int_equal(rt_image_prune(f->a, false, &u, 1, &rm, &n, &reclaimed, &err), 0);
    assert_int_equal(n, 2); /* Deleted id1 + its layer */
    assert_string_equal(rm[0].what, id1);
    assert_true(reclaimed > 0);
    rt_image_rm_free(rm, n);
    assert_int_equal(n_images(f->a), 2);
    /* all unused */
    assert_int_equal(rt_image_prune(f->a, true, &u, 1, &rm, &n, &reclaimed, &err), 0);
    rt_image_rm_free(rm, n);
    assert_int_equal(n_images(f->a), 1);
    assert_int_equal(rt_image_get(f->a, id3, &img, &err), 0);
    rt_image_free(img);
    /* digests survive a restart */
    rt_image_store_free(f->a);
    assert_int_equal(rt_image_store_open(f->root_a, &f->a, &err), 0);
    assert_int_equal(n_images(f->a), 1);
}

/* A crash between the metadata update and the directory removal leaves an
 * orphan layer: the next open removes it. */
static void test_orphans_cleaned_at_open(void **state)
{
    struct fx *f = *state;
    char id[72], p[256];
    struct err err = {0};

    SKIP_UNLESS_ROOT();
    import_image(f, f->a, "x", "x\n", "x:1", id);
    (void)snprintf(p, sizeof(p), "%s/image/configs/%s.json", f->root_a, id + 7);
    assert_int_equal(unlink(p), 0);
    rt_image_store_free(f->a);
    assert_int_equal(rt_image_store_open(f->root_a, &f->a, &err), 0);
    assert_int_equal(layer_files(f->root_a), 0);
    assert_int_equal(n_images(f->a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_load_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_oci, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_bad_archives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_docker_diffid_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rmi_refcount_and_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_and_digests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_cleaned_at_open, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
