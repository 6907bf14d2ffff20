/* Unit tests for runtime/mounts.c: -v / --mount / --tmpfs parsing and
 * validation with Docker's messages, mount order, inspect's Mounts[]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"

#include "runtime/mounts.h"

/* Parse a HostConfig given as JSON text; returns the list or NULL with err set. */
static json_t *parse(const char *hc_text, const char *cfg_text, bool check, struct err *err)
{
    json_t *hc = json_loads(hc_text, 0, NULL);
    json_t *cfg = cfg_text ? json_loads(cfg_text, 0, NULL) : NULL;
    json_t *list = NULL;
    int r;

    assert_non_null(hc);
    err_clear(err);
    r = rt_mounts_parse(cfg, hc, check, &list, err);
    json_decref(hc);
    json_decref(cfg);
    if (r < 0) {
        assert_null(list);
        assert_int_equal(r, err->code);
        return NULL;
    }
    return list;
}

static void expect_error(const char *hc_text, const char *msg)
{
    struct err err;
    json_t *l = parse(hc_text, NULL, true, &err);

    if (l)
        fail_msg("expected an error for %s", hc_text);
    if (!strstr(err.msg, msg))
        fail_msg("for %s: got '%s', want '%s'", hc_text, err.msg, msg);
}

static const char *sfield(json_t *m, const char *k)
{
    return json_string_value(json_object_get(m, k));
}

static uint64_t flags(json_t *m)
{
    return (uint64_t)json_integer_value(json_object_get(m, "Flags"));
}

static void test_path_clean(void **state)
{
    char out[64];
    (void)state;

    assert_int_equal(rt_path_clean("//a/./b/../c/", out, sizeof(out)), 0);
    assert_string_equal(out, "/a/c");
    assert_int_equal(rt_path_clean("/../../x", out, sizeof(out)), 0);
    assert_string_equal(out, "/x");
    assert_int_equal(rt_path_clean("/", out, sizeof(out)), 0);
    assert_string_equal(out, "/");
    assert_int_equal(rt_path_clean("/a/..", out, sizeof(out)), 0);
    assert_string_equal(out, "/");
    assert_int_equal(rt_path_clean("/abc/de/..", out, sizeof(out)), 0);
    assert_string_equal(out, "/abc");
    assert_int_equal(rt_path_clean("rel/x", out, sizeof(out)), -EINVAL);
    assert_int_equal(rt_path_clean("/0123456789", out, 8), -ENAMETOOLONG);
}

static void test_binds(void **state)
{
    struct err err;
    json_t *l, *m;
    (void)state;

    l = parse("{\"Binds\": [\"/h1:/c1\", \"/h2/:/c2/:ro\", \"/h3:/c3:rw,rshared,z\"]}", NULL, true,
              &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 3);
    m = json_array_get(l, 0);
    assert_string_equal(sfield(m, "Type"), "bind");
    assert_string_equal(sfield(m, "Source"), "/h1");
    assert_string_equal(sfield(m, "Destination"), "/c1");
    assert_string_equal(sfield(m, "Mode"), "");
    assert_string_equal(sfield(m, "Propagation"), "rprivate");
    assert_true(json_is_true(json_object_get(m, "RW")));
    assert_true(json_is_true(json_object_get(m, "Create")));
    assert_int_equal(flags(m), MS_BIND | MS_REC | MS_PRIVATE);
    m = json_array_get(l, 1);
    assert_string_equal(sfield(m, "Source"), "/h2");
    assert_string_equal(sfield(m, "Destination"), "/c2");
    assert_string_equal(sfield(m, "Mode"), "ro");
    assert_true(json_is_false(json_object_get(m, "RW")));
    assert_int_equal(flags(m), MS_BIND | MS_REC | MS_RDONLY | MS_PRIVATE);
    m = json_array_get(l, 2);
    assert_string_equal(sfield(m, "Mode"), "rw,rshared,z");
    assert_string_equal(sfield(m, "Propagation"), "rshared");
    assert_int_equal(flags(m), MS_BIND | MS_REC | MS_SHARED);
    json_decref(l);
}

static void test_bind_errors(void **state)
{
    (void)state;
    expect_error("{\"Binds\": [\"data:/c\"]}", "named volumes are not supported");
    expect_error("{\"Binds\": [\"/data\"]}", "named volumes are not supported");
    expect_error("{\"Binds\": [\"/data:ro\"]}", "named volumes are not supported");
    expect_error("{\"Config\": 1, \"Binds\": [\"/h:c\"]}",
                 "invalid mount config for type \"bind\": invalid mount path: 'c' mount path "
                 "must be absolute");
    expect_error("{\"Binds\": [\"/h:/\"]}", "destination can't be '/'");
    expect_error("{\"Binds\": [\"/h:/c/..\"]}", "destination can't be '/'");
    expect_error("{\"Binds\": [\"/h:/c:ro,rw\"]}", "invalid mode: ro,rw");
    expect_error("{\"Binds\": [\"/h:/c:bogus\"]}", "invalid mode: bogus");
    expect_error("{\"Binds\": [\"/h:/c:ro,\"]}", "invalid mode: ro,");
    expect_error("{\"Binds\": [\"/a:/b:ro:x\"]}", "invalid volume specification: '/a:/b:ro:x'");
    expect_error("{\"Binds\": [\":/b\"]}", "invalid volume specification");
    expect_error("{\"Binds\": [\"/a:\"]}", "invalid volume specification");
    expect_error("{\"Binds\": [7]}", "HostConfig.Binds must be a list of strings");
    expect_error("{\"Binds\": \"/a:/b\"}", "invalid type");
}

static void test_mount_bind(void **state)
{
    struct err err;
    json_t *l, *m;
    (void)state;

    l = parse("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/tmp\", \"Target\": \"/t\", "
              "\"ReadOnly\": true}, {\"Type\": \"bind\", \"Source\": \"/\", \"Target\": \"/r\", "
              "\"BindOptions\": {\"Propagation\": \"rslave\", \"NonRecursive\": true}}]}",
              NULL, true, &err);
    assert_non_null(l);
    m = json_array_get(l, 0);
    assert_string_equal(sfield(m, "Type"), "bind");
    assert_string_equal(sfield(m, "Mode"), "");
    assert_true(json_is_false(json_object_get(m, "RW")));
    assert_true(json_is_false(json_object_get(m, "Create")));
    assert_int_equal(flags(m), MS_BIND | MS_REC | MS_RDONLY | MS_PRIVATE);
    m = json_array_get(l, 1);
    assert_string_equal(sfield(m, "Propagation"), "rslave");
    assert_int_equal(flags(m), MS_BIND | MS_SLAVE);
    json_decref(l);

    /* a missing source: Docker's text at create, accepted when not checking (start, inspect) */
    expect_error("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/nonexistent-shoal-x\", "
                 "\"Target\": \"/x\"}]}",
                 "invalid mount config for type \"bind\": bind source path does not exist: "
                 "/nonexistent-shoal-x");
    l = parse("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/nonexistent-shoal-x\", "
              "\"Target\": \"/x\"}]}",
              NULL, false, &err);
    assert_non_null(l);
    json_decref(l);
    l = parse("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/nonexistent-shoal-x\", "
              "\"Target\": \"/x\", \"BindOptions\": {\"CreateMountpoint\": true}}]}",
              NULL, true, &err);
    assert_non_null(l);
    assert_true(json_is_true(json_object_get(json_array_get(l, 0), "Create")));
    json_decref(l);

    expect_error("{\"Mounts\": [{\"Type\": \"bind\", \"Target\": \"/x\"}]}",
                 "field Source must not be empty");
    expect_error("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/tmp\"}]}",
                 "invalid mount config for type \"bind\": field Target must not be empty");
    expect_error("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"tmp\", \"Target\": \"/x\"}]}",
                 "invalid mount path: 'tmp' mount path must be absolute");
    expect_error("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/tmp\", \"Target\": \"/x\", "
                 "\"BindOptions\": {\"Propagation\": \"weird\"}}]}",
                 "invalid propagation mode: weird");
    expect_error("{\"Mounts\": [{\"Type\": \"bind\", \"Source\": \"/tmp\", \"Target\": \"/x\", "
                 "\"TmpfsOptions\": {}}]}",
                 "field TmpfsOptions must not be specified");
    expect_error("{\"Mounts\": [{\"Type\": \"volume\", \"Source\": \"v\", \"Target\": \"/x\"}]}",
                 "named volumes are not supported");
    expect_error("{\"Mounts\": [{\"Type\": \"npipe\", \"Source\": \"v\", \"Target\": \"/x\"}]}",
                 "invalid mount config for type \"npipe\": mount type unknown");
    expect_error("{\"Mounts\": [\"/a:/b\"]}", "HostConfig.Mounts must be a list of objects");
}

static void test_mount_tmpfs(void **state)
{
    struct err err;
    json_t *l, *m;
    (void)state;

    l = parse("{\"Mounts\": [{\"Type\": \"tmpfs\", \"Target\": \"/scratch\", \"TmpfsOptions\": "
              "{\"SizeBytes\": 1048576, \"Mode\": 1016}}]}",
              NULL, true, &err);
    assert_non_null(l);
    m = json_array_get(l, 0);
    assert_string_equal(sfield(m, "Type"), "tmpfs");
    assert_string_equal(sfield(m, "Source"), "");
    assert_string_equal(sfield(m, "Propagation"), "");
    assert_string_equal(sfield(m, "Data"), "size=1048576,mode=1770");
    assert_true(json_is_true(json_object_get(m, "RW")));
    assert_true(json_is_true(json_object_get(m, "Listed")));
    assert_int_equal(flags(m), MS_NOSUID | MS_NODEV);
    json_decref(l);

    expect_error("{\"Mounts\": [{\"Type\": \"tmpfs\", \"Source\": \"/x\", \"Target\": \"/t\"}]}",
                 "invalid mount config for type \"tmpfs\": field Source must not be specified");
    expect_error("{\"Mounts\": [{\"Type\": \"tmpfs\", \"Target\": \"/t\", \"TmpfsOptions\": "
                 "{\"SizeBytes\": -1}}]}",
                 "invalid tmpfs size");
    expect_error("{\"Mounts\": [{\"Type\": \"tmpfs\", \"Target\": \"/t\", \"TmpfsOptions\": "
                 "{\"Mode\": 99999}}]}",
                 "invalid tmpfs mode");
    expect_error("{\"Mounts\": [{\"Type\": \"tmpfs\", \"Target\": \"/t\", \"BindOptions\": {}}]}",
                 "field BindOptions must not be specified");
}

static void test_tmpfs_flag(void **state)
{
    struct err err;
    json_t *l, *m;
    (void)state;

    l = parse("{\"Tmpfs\": {\"/run\": \"rw,size=64m,mode=1777\", \"/x\": \"\", \"/e\": "
              "\"exec,ro\"}}",
              NULL, true, &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 3);
    m = json_array_get(l, 0);
    assert_string_equal(sfield(m, "Destination"), "/run");
    assert_string_equal(sfield(m, "Data"), "size=64m,mode=1777");
    assert_int_equal(flags(m), MS_NOEXEC | MS_NOSUID | MS_NODEV);
    assert_true(json_is_false(json_object_get(m, "Listed")));
    m = json_array_get(l, 2);
    assert_string_equal(sfield(m, "Destination"), "/e");
    assert_int_equal(flags(m), MS_NOSUID | MS_NODEV | MS_RDONLY);
    assert_true(json_is_false(json_object_get(m, "RW")));
    json_decref(l);

    expect_error("{\"Tmpfs\": {\"/run\": \"bogus\"}}", "invalid tmpfs option for /run: bogus");
    expect_error("{\"Tmpfs\": {\"/run\": \"size=lots\"}}", "invalid tmpfs size");
    expect_error("{\"Tmpfs\": {\"/run\": \"mode=999\"}}", "invalid tmpfs mode");
    expect_error("{\"Tmpfs\": {\"run\": \"\"}}", "mount path must be absolute");
}

static void test_duplicates_and_order(void **state)
{
    struct err err;
    json_t *l;
    (void)state;

    expect_error("{\"Binds\": [\"/a:/x\"], \"Mounts\": [{\"Type\": \"tmpfs\", \"Target\": "
                 "\"/x/\"}]}",
                 "Duplicate mount point: /x");
    expect_error("{\"Binds\": [\"/a:/x\", \"/b:/y/../x\"]}", "Duplicate mount point: /x");
    expect_error("{\"Binds\": [\"/a:/x\"], \"Tmpfs\": {\"/x\": \"\"}}",
                 "Duplicate mount point: /x");

    /* parents first, otherwise in the given order */
    l = parse("{\"Binds\": [\"/a:/x/y/z\", \"/b:/q\"], \"Mounts\": [{\"Type\": \"tmpfs\", "
              "\"Target\": \"/x\"}, {\"Type\": \"tmpfs\", \"Target\": \"/x/y\"}]}",
              NULL, true, &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 4);
    assert_string_equal(sfield(json_array_get(l, 0), "Destination"), "/q");
    assert_string_equal(sfield(json_array_get(l, 1), "Destination"), "/x");
    assert_string_equal(sfield(json_array_get(l, 2), "Destination"), "/x/y");
    assert_string_equal(sfield(json_array_get(l, 3), "Destination"), "/x/y/z");
    json_decref(l);
}

static void test_config_volumes(void **state)
{
    struct err err;
    json_t *l;
    (void)state;

    l = parse("{}", "{\"Volumes\": {\"/data\": {}}}", true, &err);
    assert_null(l);
    assert_non_null(strstr(err.msg, "named volumes are not supported"));
    l = parse("{\"Binds\": [\"/tmp:/data\"]}", "{\"Volumes\": {\"/data/\": {}}}", true, &err);
    assert_non_null(l);
    json_decref(l);
    l = parse("{}", "{\"Volumes\": {}}", true, &err);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    l = parse("{\"Binds\": null, \"Mounts\": null, \"Tmpfs\": null}", "{\"Volumes\": null}", true,
              &err);
    assert_non_null(l);
    json_decref(l);
}

static void test_inspect_and_prepare(void **state)
{
    char dir[] = "/tmp/test_mounts.XXXXXX";
    char hc[1024], src[128];
    struct err err;
    struct stat st;
    json_t *l, *ins, *m;
    (void)state;

    assert_non_null(mkdtemp(dir));
    (void)snprintf(src, sizeof(src), "%s/new/sub", dir);
    (void)snprintf(hc, sizeof(hc),
                   "{\"Binds\": [\"%s:/data:ro\"], \"Tmpfs\": {\"/run\": \"\"}, \"Mounts\": "
                   "[{\"Type\": \"tmpfs\", \"Target\": \"/t\"}]}",
                   src);
    l = parse(hc, NULL, true, &err);
    assert_non_null(l);
    ins = rt_mounts_inspect(l);
    assert_int_equal(json_array_size(ins), 2); /* the --tmpfs is not listed */
    m = json_array_get(ins, 0);
    assert_int_equal(json_object_size(m), 6);
    assert_string_equal(sfield(m, "Type"), "bind");
    assert_string_equal(sfield(m, "Source"), src);
    assert_string_equal(sfield(m, "Destination"), "/data");
    assert_string_equal(sfield(m, "Mode"), "ro");
    assert_true(json_is_false(json_object_get(m, "RW")));
    assert_string_equal(sfield(m, "Propagation"), "rprivate");
    m = json_array_get(ins, 1);
    assert_string_equal(sfield(m, "Type"), "tmpfs");
    assert_true(json_is_true(json_object_get(m, "RW")));
    json_decref(ins);

    assert_int_equal(stat(src, &st), -1);
    assert_int_equal(rt_mounts_prepare(l, &err), 0);
    assert_int_equal(stat(src, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    json_decref(l);
    assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_clean),           cmocka_unit_test(test_binds),
        cmocka_unit_test(test_bind_errors),          cmocka_unit_test(test_mount_bind),
        cmocka_unit_test(test_mount_tmpfs),          cmocka_unit_test(test_tmpfs_flag),
        cmocka_unit_test(test_duplicates_and_order), cmocka_unit_test(test_config_volumes),
        cmocka_unit_test(test_inspect_and_prepare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
