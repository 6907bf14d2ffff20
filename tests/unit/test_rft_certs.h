/*
 * tests/unit/test_rft_certs.h - test PKI built with OpenSSL: an EC P-256 CA
 * and leaf certificates with a chosen CN/OU (header-only, static helpers).
 */
#ifndef TEST_RFT_CERTS_H
#define TEST_RFT_CERTS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct tcert {
    char *cert;
    char *key;
    X509 *x;
    EVP_PKEY *k;
};

static char *tc_bio_str(BIO *b)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);

    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static void tc_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;

    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* ca NULL: a self-signed CA. */
static struct tcert tc_make(const struct tcert *ca, const char *cn, const char *ou, long serial)
{
    struct tcert t;
    X509_NAME *n;
    BIO *b;

    t.k = EVP_EC_gen("P-256");
    t.x = X509_new();
    X509_set_version(t.x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(t.x), serial);
    X509_gmtime_adj(X509_getm_notBefore(t.x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(t.x), 86400);
    X509_set_pubkey(t.x, t.k);
    n = X509_get_subject_name(t.x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"shoal-test", -1, -1,
                               0);
    if (ou)
        X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(t.x, ca ? X509_get_subject_name(ca->x) : n);
    if (!ca) {
        tc_ext(t.x, t.x, NID_basic_constraints, "critical,CA:TRUE");
        tc_ext(t.x, t.x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        tc_ext(t.x, ca->x, NID_basic_constraints, "critical,CA:FALSE");
        tc_ext(t.x, ca->x, NID_ext_key_usage, "serverAuth,clientAuth");
    }
    X509_sign(t.x, ca ? ca->k : t.k, EVP_sha256());
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, t.x);
    t.cert = tc_bio_str(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, t.k, NULL, NULL, 0, NULL, NULL);
    t.key = tc_bio_str(b);
    return t;
}

static void tc_free(struct tcert *t)
{
    free(t->cert);
    free(t->key);
    X509_free(t->x);
    EVP_PKEY_free(t->k);
    memset(t, 0, sizeof(*t));
}

#endif
