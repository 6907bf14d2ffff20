/* Unit tests for manager/ca.c and manager/token.c: root CA, CSR, signing,
 * verification, renewal, join tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/util.h"

#include "manager/ca.h"
#include "manager/store.h"

#define NS 1000000000LL

static const char *const CLUSTER_ID = "p1voaej122dfrck89jhy60zp2";
static const char *const NODE_ID = "pqmjfqj9be4sb7wwl3u1ifs0c";

static void test_root_and_sign(void **state)
{
    struct mgr_ca *ca, *other, *loaded, *pub_only;
    char *root, *key, *other_root, *nkey, *csr, *cert, *cert2, *subj, *pub;
    struct mgr_cert_info info;
    struct err err;
    int64_t now = time_now_ns();

    (void)state;
    assert_int_equal(mgr_ca_create(&ca, &err), 0);
    assert_int_equal(mgr_ca_cert_pem(ca, &root, &err), 0);
    assert_int_equal(mgr_ca_key_pem(ca, &key, &err), 0);
    assert_non_null(strstr(root, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(key, "PRIVATE KEY"));

    /* Docker's TLSInfo subject for CN=swarm-ca, byte for byte */
    assert_int_equal(mgr_ca_tls_info(root, &subj, &pub, &err), 0);
    assert_string_equal(subj, "MBMxETAPBgNVBAMTCHN3YXJtLWNh");
    assert_int_equal(strncmp(pub, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", 36), 0); /* P-256 SPKI */
    free(subj);
    free(pub);

    /* root info: about 20 years */
    assert_int_equal(mgr_ca_cert_info(root, &info, &err), 0);
    assert_string_equal(info.cn, "swarm-ca");
    assert_true(info.not_after_ns - now > 19LL * 365 * 24 * 3600 * NS);

    /* a node makes a key and CSR; the manager signs it */
    assert_int_equal(mgr_ca_make_csr(&nkey, &csr, &err), 0);
    assert_non_null(strstr(csr, "CERTIFICATE REQUEST"));
    assert_int_equal(mgr_ca_sign(ca, csr, NODE_ID, MGR_ROLE_WORKER, CLUSTER_ID, 0, &cert, &err), 0);
    assert_int_equal(mgr_ca_verify(root, cert, 0, &info, &err), 0);
    assert_string_equal(info.cn, NODE_ID);
    assert_string_equal(info.ou, "swarm-worker");
    assert_string_equal(info.o, CLUSTER_ID);
    assert_true(strlen(info.serial) >= 16);
    assert_true(info.not_after_ns - now > 89LL * 24 * 3600 * NS);
    assert_true(info.not_after_ns - now <= 90LL * 24 * 3600 * NS + 5 * NS);
    assert_true(info.not_before_ns <= now - 3500 * NS); /* backdated */

    /* manager role, and two certificates never share a serial */
    assert_int_equal(mgr_ca_sign(ca, csr, NODE_ID, MGR_ROLE_MANAGER, CLUSTER_ID, 0, &cert2, &err),
                     0);
    {
        struct mgr_cert_info i2;
        assert_int_equal(mgr_ca_verify(root, cert2, 0, &i2, &err), 0);
        assert_string_equal(i2.ou, "swarm-manager");
        assert_string_not_equal(i2.serial, info.serial);
    }

    /* a root loaded back from PEM signs too; one without key does not */
    assert_int_equal(mgr_ca_load(root, key, &loaded, &err), 0);
    free(cert2);
    assert_int_equal(
        mgr_ca_sign(loaded, csr, NODE_ID, MGR_ROLE_WORKER, CLUSTER_ID, 0, &cert2, &err), 0);
    assert_int_equal(mgr_ca_verify(root, cert2, 0, NULL, &err), 0);
    assert_int_equal(mgr_ca_load(root, NULL, &pub_only, &err), 0);
    assert_int_equal(mgr_ca_sign(pub_only, csr, NODE_ID, 0, CLUSTER_ID, 0, &cert2, &err), -EPERM);

    /* a certificate from another CA fails, and so does the root itself */
    assert_int_equal(mgr_ca_create(&other, &err), 0);
    assert_int_equal(mgr_ca_cert_pem(other, &other_root, &err), 0);
    assert_int_equal(mgr_ca_verify(other_root, cert, 0, NULL, &err), -EACCES);
    assert_int_equal(mgr_ca_verify(root, root, 0, NULL, &err), -EACCES);
    assert_int_equal(mgr_ca_load(other_root, key, &loaded, &err), -EINVAL); /* key mismatch */

    /* bad input */
    assert_int_equal(mgr_ca_sign(ca, "garbage", NODE_ID, 0, CLUSTER_ID, 0, &cert2, &err), -EINVAL);
    assert_int_equal(mgr_ca_sign(ca, csr, "bad id", 0, CLUSTER_ID, 0, &cert2, &err), -EINVAL);
    assert_int_equal(mgr_ca_verify(root, "garbage", 0, NULL, &err), -EINVAL);
    assert_int_equal(mgr_ca_load("nope", NULL, &loaded, &err), -EINVAL);
    /* a CSR whose signature was tampered with */
    {
        char *bad = strdup(csr);
        char *p = strstr(bad, "-----END");
        p[-10] = p[-10] == 'A' ? 'B' : 'A';
        assert_true(mgr_ca_sign(ca, bad, NODE_ID, 0, CLUSTER_ID, 0, &cert2, &err) < 0);
        free(bad);
    }

    free(root);
    free(key);
    free(other_root);
    free(nkey);
    free(csr);
    free(cert);
    free(cert2);
    mgr_ca_free(ca);
    mgr_ca_free(other);
    mgr_ca_free(pub_only);
    mgr_ca_free(loaded);
}

static void test_expiry_and_renewal(void **state)
{
    struct mgr_ca *ca;
    char *root, *nkey, *csr, *cert;
    struct mgr_cert_info info;
    struct err err;
    int64_t now = time_now_ns(), at;

    (void)state;
    assert_int_equal(mgr_ca_create(&ca, &err), 0);
    assert_int_equal(mgr_ca_cert_pem(ca, &root, &err), 0);
    assert_int_equal(mgr_ca_make_csr(&nkey, &csr, &err), 0);
    /* a certificate valid for 10 seconds */
    assert_int_equal(
        mgr_ca_sign(ca, csr, NODE_ID, MGR_ROLE_WORKER, CLUSTER_ID, 10 * NS, &cert, &err), 0);
    assert_int_equal(mgr_ca_verify(root, cert, now, &info, &err), 0);
    assert_true(info.not_after_ns - now <= 11 * NS);
    /* expired 20 s from now */
    assert_int_equal(mgr_ca_verify(root, cert, now + 20 * NS, NULL, &err), -EACCES);
    assert_non_null(strstr(err.msg, "expired"));

    /* renewal between 50 % and 80 % of the 10 s lifetime after issue */
    for (uint32_t rnd = 0; rnd < 1000; rnd += 37) {
        at = mgr_ca_renew_at(&info, rnd);
        assert_true(at >= info.not_after_ns - 10 * NS + 4 * NS);
        assert_true(at <= info.not_after_ns - 10 * NS + 9 * NS);
    }
    assert_false(mgr_ca_needs_renewal(&info, now, 0));
    assert_true(mgr_ca_needs_renewal(&info, now + 9 * NS, 300));
    assert_true(mgr_ca_needs_renewal(&info, now + 9 * NS, 0));
    assert_false(mgr_ca_needs_renewal(&info, now + 3 * NS, 300));
    /* 90 days: renew after at least 45 days */
    {
        struct mgr_cert_info i90 = info;
        i90.not_before_ns = now - MGR_CA_BACKDATE_NS;
        i90.not_after_ns = now + MGR_CA_NODE_VALIDITY_NS;
        at = mgr_ca_renew_at(&i90, 0);
        assert_true(at - now >= 44LL * 24 * 3600 * NS);
        assert_true(mgr_ca_renew_at(&i90, 300) - now <= 73LL * 24 * 3600 * NS);
    }
    free(root);
    free(nkey);
    free(csr);
    free(cert);
    mgr_ca_free(ca);
}

static void test_tokens(void **state)
{
    struct mgr_ca *ca, *other;
    char *root, *other_root;
    char w[MGR_TOKEN_LEN + 1], m[MGR_TOKEN_LEN + 1], digest[MGR_TOKEN_DIGEST_LEN + 1];
    char d[MGR_TOKEN_DIGEST_LEN + 1], s[MGR_TOKEN_SECRET_LEN + 1];
    struct err err;
    int role;

    (void)state;
    assert_int_equal(mgr_ca_create(&ca, &err), 0);
    assert_int_equal(mgr_ca_cert_pem(ca, &root, &err), 0);
    assert_int_equal(mgr_ca_create(&other, &err), 0);
    assert_int_equal(mgr_ca_cert_pem(other, &other_root, &err), 0);

    assert_int_equal(mgr_token_new(root, w, &err), 0);
    assert_int_equal(mgr_token_new(root, m, &err), 0);
    assert_int_equal(strlen(w), MGR_TOKEN_LEN);
    assert_int_equal(strlen(w),
                     strlen("SWMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp91xo1eh1zxfob2xkwbv4y-"
                            "2cnbhv5s1j6jo4yksnwb54nom"));
    assert_int_equal(strncmp(w, "SWMTKN-1-", 9), 0);
    /* same digest, different secrets */
    assert_memory_equal(w, m, 9 + MGR_TOKEN_DIGEST_LEN + 1);
    assert_string_not_equal(w, m);
    assert_int_equal(mgr_ca_digest(root, digest, &err), 0);
    assert_int_equal(mgr_token_parse(w, d, s, &err), 0);
    assert_string_equal(d, digest);
    assert_int_equal(strlen(s), 25);

    /* the transcript's (fake) tokens have the right shape */
    assert_int_equal(mgr_token_parse("SWMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp91xo1eh1zxfob2xkwbv4y-"
                                     "2cnbhv5s1j6jo4yksnwb54nom",
                                     d, s, &err),
                     0);
    assert_string_equal(s, "2cnbhv5s1j6jo4yksnwb54nom");

    /* malformed */
    assert_int_equal(mgr_token_parse("", d, s, &err), -EINVAL);
    assert_int_equal(mgr_token_parse("SWMTKN-2-1-abc", d, s, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid join token"));
    assert_int_equal(mgr_token_parse("XXMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp91xo1eh1zxfob2xkwbv4y-"
                                     "2cnbhv5s1j6jo4yksnwb54nom",
                                     d, s, &err),
                     -EINVAL);
    assert_int_equal(mgr_token_parse("SWMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp91xo1eh1zxfob2xkwbv4-"
                                     "2cnbhv5s1j6jo4yksnwb54nom",
                                     d, s, &err),
                     -EINVAL);
    assert_int_equal(mgr_token_parse("SWMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp91xo1eh1zxfob2xkwbv4y-"
                                     "2cnbhv5s1j6jo4yksnwb54noM",
                                     d, s, &err),
                     -EINVAL);
    assert_int_equal(
        mgr_token_parse("SWMTKN-1-6wuseubui4fvuo3y1cqvknbr1eawp91xo1eh1zxfob2xkwbv4y", d, s, &err),
        -EINVAL);

    /* the digest pins the CA */
    assert_int_equal(mgr_token_check_ca(w, root, &err), 0);
    assert_int_equal(mgr_token_check_ca(w, other_root, &err), -EACCES);

    /* roles, and a wrong or rotated token */
    assert_int_equal(mgr_token_role(w, w, m, &role, &err), 0);
    assert_int_equal(role, MGR_ROLE_WORKER);
    assert_int_equal(mgr_token_role(m, w, m, &role, &err), 0);
    assert_int_equal(role, MGR_ROLE_MANAGER);
    {
        char rot[MGR_TOKEN_LEN + 1];
        assert_int_equal(mgr_token_new(root, rot, &err), 0);
        assert_int_equal(mgr_token_role(w, rot, m, &role, &err), -EACCES);
        assert_string_equal(err.msg, "A valid join token is necessary to join this cluster");
    }
    assert_int_equal(mgr_token_role("nonsense", w, m, &role, &err), -EINVAL);
    free(root);
    free(other_root);
    mgr_ca_free(ca);
    mgr_ca_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_sign),
        cmocka_unit_test(test_expiry_and_renewal),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
