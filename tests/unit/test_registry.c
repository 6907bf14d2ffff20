/* tests/unit/test_registry.c - the pure parts of the registry client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lib/err.h"

#include "runtime/registry.h"

static void test_ref_short_name_is_docker_hub(void **state)
{
    struct rt_reg_ref r;

    (void)state;
    assert_int_equal(rt_reg_ref_parse("busybox", &r, NULL), 0);
    assert_string_equal(r.domain, "docker.io");
    assert_string_equal(r.api_host, "registry-1.docker.io");
    assert_string_equal(r.repo, "library/busybox");
    assert_string_equal(r.tag, "latest");
    assert_string_equal(r.digest, "");
    assert_string_equal(r.familiar, "busybox");
    assert_int_equal(rt_reg_ref_parse("docker.io/library/alpine:3.18", &r, NULL), 0);
    assert_string_equal(r.repo, "library/alpine");
    assert_string_equal(r.tag, "3.18");
    assert_string_equal(r.familiar, "alpine");
    assert_int_equal(rt_reg_ref_parse("user/app:v1", &r, NULL), 0);
    assert_string_equal(r.domain, "docker.io");
    assert_string_equal(r.repo, "user/app");
}

static void test_ref_registry_port_and_digest(void **state)
{
    struct rt_reg_ref r;
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char s[200];

    (void)state;
    assert_int_equal(rt_reg_ref_parse("127.0.0.1:5000/test:multi", &r, NULL), 0);
    assert_string_equal(r.domain, "127.0.0.1:5000");
    assert_string_equal(r.api_host, "127.0.0.1:5000");
    assert_string_equal(r.repo, "test");
    assert_string_equal(r.tag, "multi");
    assert_string_equal(r.familiar, "127.0.0.1:5000/test");
    snprintf(s, sizeof(s), "localhost/a/b@%s", d);
    assert_int_equal(rt_reg_ref_parse(s, &r, NULL), 0);
    assert_string_equal(r.domain, "localhost");
    assert_string_equal(r.repo, "a/b");
    assert_string_equal(r.tag, "");
    assert_string_equal(r.digest, d);
    snprintf(s, sizeof(s), "reg.example.com/x:t@%s", d);
    assert_int_equal(rt_reg_ref_parse(s, &r, NULL), 0);
    assert_string_equal(r.tag, "t");
    assert_string_equal(r.digest, d);
}

static void test_ref_invalid(void **state)
{
    struct rt_reg_ref r;
    struct err e = {0};

    (void)state;
    assert_int_equal(rt_reg_ref_parse("x/UPPER", &r, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "invalid reference format"));
    assert_int_equal(rt_reg_ref_parse("x@sha256:abc", &r, NULL), -EINVAL);
    assert_int_equal(rt_reg_ref_parse("", &r, NULL), -EINVAL);
    assert_int_equal(rt_reg_ref_parse("a b", &r, NULL), -EINVAL);
}

static void test_insecure_matching(void **state)
{
    const char *list[] = {"reg.lan:5000", "10.1.0.0/16", "plain.host", "fd00::/8"};

    (void)state;
    assert_true(rt_reg_host_insecure("127.0.0.1:5000", NULL, 0));
    assert_true(rt_reg_host_insecure("127.8.9.10", NULL, 0));
    assert_true(rt_reg_host_insecure("localhost:443", NULL, 0));
    assert_true(rt_reg_host_insecure("[::1]:5000", NULL, 0));
    assert_false(rt_reg_host_insecure("128.0.0.1:5000", NULL, 0));
    assert_false(rt_reg_host_insecure("registry-1.docker.io", NULL, 0));
    assert_true(rt_reg_host_insecure("reg.lan:5000", list, 4));
    assert_false(rt_reg_host_insecure("reg.lan:5001", list, 4));
    assert_true(rt_reg_host_insecure("10.1.200.3:5000", list, 4));
    assert_false(rt_reg_host_insecure("10.2.0.1:5000", list, 4));
    assert_true(rt_reg_host_insecure("plain.host:8080", list, 4));
    assert_true(rt_reg_host_insecure("[fd12::5]:5000", list, 4));
    assert_false(rt_reg_host_insecure("[fe80::1]:5000", list, 4));
}

static void test_challenge_parse(void **state)
{
    struct rt_reg_challenge c;

    (void)state;
    assert_int_equal(rt_reg_challenge_parse("Bearer realm=\"https://auth.example/token\","
                                            "service=\"registry.example\",scope=\"repository:"
                                            "x/y:pull,push\",error=\"insufficient_scope\"",
                                            &c),
                     0);
    assert_string_equal(c.scheme, "Bearer");
    assert_string_equal(c.realm, "https://auth.example/token");
    assert_string_equal(c.service, "registry.example");
    assert_string_equal(c.scope, "repository:x/y:pull,push");
    assert_string_equal(c.error, "insufficient_scope");
    assert_int_equal(rt_reg_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
    assert_string_equal(c.scheme, "Basic");
    assert_string_equal(c.realm, "Registry Realm");
    assert_int_equal(rt_reg_challenge_parse("bearer Realm=http://a/t , SERVICE = s", &c), 0);
    assert_string_equal(c.realm, "http://a/t");
    assert_string_equal(c.service, "s");
    assert_int_equal(rt_reg_challenge_parse("Bearer realm=\"a\\\"b\"", &c), 0);
    assert_string_equal(c.realm, "a\"b");
    assert_int_equal(rt_reg_challenge_parse("", &c), -EINVAL);
}

static void test_auth_decode(void **state)
{
    struct rt_reg_auth a;
    struct err e = {0};

    (void)state;
    /* {"username":"alice","password":"s3cret?>","serveraddress":"127.0.0.1:5000"} in base64url,
     * no padding ("?>" makes the standard alphabet produce '/' or '+') */
    const char *json = "{\"username\":\"alice\",\"password\":\"s3cret?>\",\"serveraddress\":"
                       "\"127.0.0.1:5000\"}";
    char enc[400];
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(json), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)json[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)json[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)json[i + 2];
        enc[o++] = tbl[(v >> 18) & 63];
        enc[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n)
            enc[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n)
            enc[o++] = tbl[v & 63];
    }
    enc[o] = '\0';
    assert_int_equal(rt_reg_auth_decode(enc, &a, &e), 0);
    assert_string_equal(a.username, "alice");
    assert_string_equal(a.password, "s3cret?>");
    assert_string_equal(a.serveraddress, "127.0.0.1:5000");
    assert_false(rt_reg_auth_empty(&a));
    rt_reg_auth_clear(&a);
    assert_null(a.username);

    assert_int_equal(rt_reg_auth_decode("e30=", &a, NULL), 0);
    assert_true(rt_reg_auth_empty(&a));
    assert_int_equal(rt_reg_auth_decode(NULL, &a, NULL), 0);
    assert_true(rt_reg_auth_empty(&a));
    assert_int_equal(rt_reg_auth_decode("", &a, NULL), 0);
    /* {"identitytoken":"tok"} */
    assert_int_equal(rt_reg_auth_decode("eyJpZGVudGl0eXRva2VuIjoidG9rIn0", &a, NULL), 0);
    assert_string_equal(a.identitytoken, "tok");
    assert_false(rt_reg_auth_empty(&a));
    rt_reg_auth_clear(&a);
    assert_int_equal(rt_reg_auth_decode("!!!notbase64", &a, &e), -EINVAL);
    assert_int_equal(rt_reg_auth_decode("WzFd", &a, &e), -EINVAL); /* [1]: not an object */
}

static void test_select_platform(void **state)
{
    const char *doc =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":10,"
        "\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":20,"
        "\"digest\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\","
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\"}},"
        "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":30,"
        "\"digest\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\","
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
    json_t *j = json_loads(doc, 0, NULL);
    char d[80], mt[128];
    int64_t size = 0;
    struct err e = {0};

    (void)state;
    assert_non_null(j);
    assert_int_equal(rt_reg_select_platform(j, "linux", "amd64", d, mt, &size, NULL), 0);
    assert_string_equal(d,
                        "sha256:3333333333333333333333333333333333333333333333333333333333333333");
    assert_string_equal(mt, RT_MT_DOCKER_MANIFEST);
    assert_int_equal(size, 30);
    assert_int_equal(rt_reg_select_platform(j, "linux", "arm64", d, NULL, NULL, NULL), 0);
    assert_string_equal(d,
                        "sha256:1111111111111111111111111111111111111111111111111111111111111111");
    assert_int_equal(rt_reg_select_platform(j, "linux", "s390x", d, NULL, NULL, &e), -ENOENT);
    assert_non_null(strstr(e.msg, "no matching manifest for linux/s390x"));
    json_decref(j);
    j = json_loads("{\"manifests\":{}}", 0, NULL);
    assert_int_equal(rt_reg_select_platform(j, "linux", "amd64", d, NULL, NULL, NULL), -EINVAL);
    json_decref(j);
}

static void test_registry_allow_list(void **state)
{
    static const char *const allow[] = {"127.0.0.1", "10.1.0.0/16", "reg.local:5000"};

    (void)state;
    rt_reg_set_allowed(NULL, 0);
    assert_false(rt_reg_restricted());
    assert_true(rt_reg_host_allowed("registry-1.docker.io"));
    rt_reg_set_allowed(allow, 3);
    assert_true(rt_reg_restricted());
    assert_false(rt_reg_host_allowed("registry-1.docker.io"));
    assert_false(rt_reg_host_allowed("reg.local:5001"));
    assert_true(rt_reg_host_allowed("reg.local:5000"));
    assert_true(rt_reg_host_allowed("127.0.0.1:5000"));
    assert_true(rt_reg_host_allowed("localhost:5000"));
    assert_true(rt_reg_host_allowed("10.1.2.3:443"));
    assert_false(rt_reg_host_allowed("10.2.0.1"));
    rt_reg_set_allowed(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_allow_list),
        cmocka_unit_test(test_ref_short_name_is_docker_hub),
        cmocka_unit_test(test_ref_registry_port_and_digest),
        cmocka_unit_test(test_ref_invalid),
        cmocka_unit_test(test_insecure_matching),
        cmocka_unit_test(test_challenge_parse),
        cmocka_unit_test(test_auth_decode),
        cmocka_unit_test(test_select_platform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
