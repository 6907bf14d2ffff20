/*
 * manager/ca.c - the swarm root CA, node CSRs and certificates (OpenSSL 3).
 */
#include "manager/ca.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"

#include "manager/store.h"

#define NS 1000000000LL

struct mgr_ca {
    X509 *cert;
    EVP_PKEY *key; /* NULL when loaded for verification only */
};

static int ossl_err(struct err *err, int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200] = "";

    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return err_set(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static EVP_PKEY *new_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static char *bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out;

    if (n < 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

static X509 *read_cert(const char *pem)
{
    BIO *b;
    X509 *x;

    if (!pem)
        return NULL;
    b = BIO_new_mem_buf(pem, -1);
    if (!b)
        return NULL;
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

static int set_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    int ok = 0;

    if (!bn)
        return 0;
    if (BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1) {
        if (BN_is_zero(bn))
            BN_one(bn);
        ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    }
    BN_free(bn);
    return ok;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ex;
    int ok;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return 0;
    ok = X509_add_ext(x, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

static int set_validity(X509 *x, int64_t backdate_ns, int64_t validity_ns)
{
    time_t now = (time_t)(time_now_ns() / NS);

    return X509_time_adj_ex(X509_getm_notBefore(x), 0, -(long)(backdate_ns / NS), &now) &&
           X509_time_adj_ex(X509_getm_notAfter(x), (int)(validity_ns / NS / 86400),
                            (long)((validity_ns / NS) % 86400), &now);
}

int mgr_ca_create(struct mgr_ca **ret, struct err *err)
{
    struct mgr_ca *ca = calloc(1, sizeof(*ca));
    X509_NAME *name;

    if (!ca)
        return err_set(err, -ENOMEM, "out of memory");
    ca->key = new_key();
    ca->cert = X509_new();
    if (!ca->key || !ca->cert)
        goto fail;
    name = X509_get_subject_name(ca->cert);
    if (!X509_set_version(ca->cert, 2) || !set_serial(ca->cert) ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_PRINTABLESTRING,
                                    (const unsigned char *)"swarm-ca", -1, -1, 0) ||
        !X509_set_issuer_name(ca->cert, name) ||
        !set_validity(ca->cert, 300 * NS, MGR_CA_ROOT_VALIDITY_NS) ||
        !X509_set_pubkey(ca->cert, ca->key) ||
        !add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:1") ||
        !add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
        !X509_sign(ca->cert, ca->key, EVP_sha256()))
        goto fail;
    *ret = ca;
    return 0;
fail:
    mgr_ca_free(ca);
    return ossl_err(err, -EIO, "create root CA");
}

int mgr_ca_load(const char *cert_pem, const char *key_pem, struct mgr_ca **ret, struct err *err)
{
    struct mgr_ca *ca = calloc(1, sizeof(*ca));

    if (!ca)
        return err_set(err, -ENOMEM, "out of memory");
    ca->cert = read_cert(cert_pem);
    if (!ca->cert) {
        mgr_ca_free(ca);
        return ossl_err(err, -EINVAL, "invalid CA certificate");
    }
    if (key_pem && key_pem[0]) {
        BIO *b = BIO_new_mem_buf(key_pem, -1);
        if (b)
            ca->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        if (!ca->key || X509_check_private_key(ca->cert, ca->key) != 1) {
            mgr_ca_free(ca);
            return ossl_err(err, -EINVAL, "invalid CA key");
        }
    }
    *ret = ca;
    return 0;
}

struct mgr_ca *mgr_ca_free(struct mgr_ca *ca)
{
    if (!ca)
        return NULL;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    free(ca);
    return NULL;
}

int mgr_ca_cert_pem(const struct mgr_ca *ca, char **ret, struct err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (b && PEM_write_bio_X509(b, ca->cert))
        s = bio_string(b);
    BIO_free(b);
    if (!s)
        return ossl_err(err, -ENOMEM, "write CA certificate");
    *ret = s;
    return 0;
}

static char *key_to_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
        s = bio_string(b);
    BIO_free(b);
    return s;
}

int mgr_ca_key_pem(const struct mgr_ca *ca, char **ret, struct err *err)
{
    char *s;

    if (!ca->key)
        return err_set(err, -ENOENT, "the CA key is not available on this node");
    s = key_to_pem(ca->key);
    if (!s)
        return ossl_err(err, -ENOMEM, "write CA key");
    *ret = s;
    return 0;
}

int mgr_ca_make_csr(char **ret_key_pem, char **ret_csr_pem, struct err *err)
{
    EVP_PKEY *key = new_key();
    X509_REQ *req = X509_REQ_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *key_pem = NULL, *csr_pem = NULL;
    int r = 0;

    if (!key || !req || !b ||
        !X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)"swarm-node", -1, -1, 0) ||
        !X509_REQ_set_pubkey(req, key) || !X509_REQ_sign(req, key, EVP_sha256()) ||
        !PEM_write_bio_X509_REQ(b, req) || !(csr_pem = bio_string(b)) ||
        !(key_pem = key_to_pem(key))) {
        r = ossl_err(err, -EIO, "create CSR");
        free(csr_pem);
        csr_pem = NULL;
    }
    EVP_PKEY_free(key);
    X509_REQ_free(req);
    BIO_free(b);
    if (r < 0)
        return r;
    *ret_key_pem = key_pem;
    *ret_csr_pem = csr_pem;
    return 0;
}

int mgr_ca_sign(const struct mgr_ca *ca, const char *csr_pem, const char *node_id, int role,
                const char *cluster_id, int64_t validity_ns, char **ret_cert_pem, struct err *err)
{
    const char *ou = role == MGR_ROLE_MANAGER ? MGR_OU_MANAGER : MGR_OU_WORKER;
    X509_REQ *req = NULL;
    X509 *x = NULL;
    EVP_PKEY *pub;
    X509_NAME *name;
    BIO *b = NULL;
    char san[128];
    int r = 0;

    if (!ca->key)
        return err_set(err, -EPERM, "this node holds no CA key");
    if (!mgr_id_valid(node_id) || !mgr_id_valid(cluster_id) ||
        (role != MGR_ROLE_MANAGER && role != MGR_ROLE_WORKER))
        return err_set(err, -EINVAL, "invalid certificate identity");
    if (validity_ns == 0)
        validity_ns = MGR_CA_NODE_VALIDITY_NS;
    if (validity_ns < NS)
        return err_set(err, -EINVAL, "certificate validity too short");
    b = BIO_new_mem_buf(csr_pem ? csr_pem : "", -1);
    if (b)
        req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!req)
        return ossl_err(err, -EINVAL, "invalid certificate signing request");
    pub = X509_REQ_get0_pubkey(req);
    if (!pub || !EVP_PKEY_is_a(pub, "EC") || X509_REQ_verify(req, pub) != 1) {
        X509_REQ_free(req);
        return ossl_err(err, -EINVAL, "certificate signing request: bad key or signature");
    }
    snprintf(san, sizeof(san), "DNS:%s,DNS:%s", node_id, ou);
    x = X509_new();
    if (!x)
        goto fail;
    name = X509_get_subject_name(x);
    if (!X509_set_version(x, 2) || !set_serial(x) ||
        !X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                    (const unsigned char *)cluster_id, -1, -1, 0) ||
        !X509_NAME_add_entry_by_NID(name, NID_organizationalUnitName, MBSTRING_UTF8,
                                    (const unsigned char *)ou, -1, -1, 0) ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                    (const unsigned char *)node_id, -1, -1, 0) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
        !set_validity(x, MGR_CA_BACKDATE_NS, validity_ns) || !X509_set_pubkey(x, pub) ||
        !add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        !add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(x, ca->cert, NID_subject_key_identifier, "hash") ||
        !add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") ||
        !add_ext(x, ca->cert, NID_subject_alt_name, san) || !X509_sign(x, ca->key, EVP_sha256()))
        goto fail;
    b = BIO_new(BIO_s_mem());
    if (!b || !PEM_write_bio_X509(b, x) || !(*ret_cert_pem = bio_string(b)))
        goto fail;
    goto out;
fail:
    r = ossl_err(err, -EIO, "sign certificate");
out:
    BIO_free(b);
    X509_free(x);
    X509_REQ_free(req);
    return r;
}

static void name_field(const X509_NAME *name, int nid, char *out, size_t outlen)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    const ASN1_STRING *s;
    int len;

    out[0] = '\0';
    if (i < 0)
        return;
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    len = ASN1_STRING_length(s);
    if (len <= 0 || (size_t)len >= outlen ||
        memchr(ASN1_STRING_get0_data(s), 0, (size_t)len) != NULL)
        return;
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
    out[len] = '\0';
}

static int64_t asn1_time_ns(const ASN1_TIME *t)
{
    struct tm tm;

    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm) * NS;
}

static int fill_info(X509 *x, struct mgr_cert_info *info, struct err *err)
{
    const X509_NAME *name = X509_get_subject_name(x);
    BIGNUM *bn;
    char *hex;

    memset(info, 0, sizeof(*info));
    name_field(name, NID_commonName, info->cn, sizeof(info->cn));
    name_field(name, NID_organizationalUnitName, info->ou, sizeof(info->ou));
    name_field(name, NID_organizationName, info->o, sizeof(info->o));
    info->not_before_ns = asn1_time_ns(X509_get0_notBefore(x));
    info->not_after_ns = asn1_time_ns(X509_get0_notAfter(x));
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (!hex)
        return ossl_err(err, -ENOMEM, "certificate serial");
    snprintf(info->serial, sizeof(info->serial), "%s", hex);
    for (char *p = info->serial; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    OPENSSL_free(hex);
    return 0;
}

int mgr_ca_cert_info(const char *cert_pem, struct mgr_cert_info *info, struct err *err)
{
    X509 *x = read_cert(cert_pem);
    int r;

    if (!x)
        return ossl_err(err, -EINVAL, "invalid certificate");
    r = fill_info(x, info, err);
    X509_free(x);
    return r;
}

int mgr_ca_verify(const char *root_pem, const char *cert_pem, int64_t now_ns,
                  struct mgr_cert_info *info, struct err *err)
{
    X509 *root = read_cert(root_pem), *leaf = read_cert(cert_pem);
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    struct mgr_cert_info tmp;
    int r = 0;

    if (!info)
        info = &tmp;
    if (!root) {
        r = ossl_err(err, -EINVAL, "invalid root certificate");
        goto out;
    }
    if (!leaf) {
        r = ossl_err(err, -EINVAL, "invalid certificate");
        goto out;
    }
    if (!st || !ctx || X509_STORE_add_cert(st, root) != 1 ||
        X509_STORE_CTX_init(ctx, st, leaf, NULL) != 1) {
        r = ossl_err(err, -ENOMEM, "verify certificate");
        goto out;
    }
    if (now_ns)
        X509_STORE_CTX_set_time(ctx, 0, (time_t)(now_ns / NS));
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
    if (X509_verify_cert(ctx) != 1) {
        r = err_set(err, -EACCES, "certificate does not verify: %s",
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        ERR_clear_error();
        goto out;
    }
    r = fill_info(leaf, info, err);
    if (r < 0)
        goto out;
    if (X509_cmp(root, leaf) == 0 ||
        (strcmp(info->ou, MGR_OU_MANAGER) != 0 && strcmp(info->ou, MGR_OU_WORKER) != 0) ||
        !mgr_id_valid(info->cn)) {
        r = err_set(err, -EACCES, "certificate does not verify: not a swarm node certificate");
        goto out;
    }
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(root);
    X509_free(leaf);
    return r;
}

int64_t mgr_ca_renew_at(const struct mgr_cert_info *info, uint32_t rnd)
{
    int64_t issued = info->not_before_ns + MGR_CA_BACKDATE_NS;
    int64_t life;

    if (issued >= info->not_after_ns)
        issued = info->not_before_ns;
    life = info->not_after_ns - issued;
    if (life <= 0)
        return info->not_before_ns;
    /* 50 % .. 80 % of the lifetime, in 1/1000 steps */
    return issued + life / 1000 * (500 + (int64_t)(rnd % 301));
}

bool mgr_ca_needs_renewal(const struct mgr_cert_info *info, int64_t now_ns, uint32_t rnd)
{
    return now_ns >= mgr_ca_renew_at(info, rnd);
}

static char *b64(const unsigned char *in, int len)
{
    char *out = malloc((size_t)(4 * ((len + 2) / 3)) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, len);
    return out;
}

int mgr_ca_tls_info(const char *root_pem, char **ret_subject_b64, char **ret_pubkey_b64,
                    struct err *err)
{
    X509 *x = read_cert(root_pem);
    unsigned char *subj = NULL, *pub = NULL;
    int ls, lp, r = 0;
    char *s = NULL, *p = NULL;

    if (!x)
        return ossl_err(err, -EINVAL, "invalid root certificate");
    ls = i2d_X509_NAME(X509_get_subject_name(x), &subj);
    lp = i2d_PUBKEY(X509_get0_pubkey(x), &pub);
    if (ls <= 0 || lp <= 0 || !(s = b64(subj, ls)) || !(p = b64(pub, lp))) {
        free(s);
        r = ossl_err(err, -ENOMEM, "encode TLS info");
    } else {
        *ret_subject_b64 = s;
        *ret_pubkey_b64 = p;
    }
    OPENSSL_free(subj);
    OPENSSL_free(pub);
    X509_free(x);
    return r;
}

int mgr_ca_digest(const char *root_pem, char out[MGR_TOKEN_DIGEST_LEN + 1], struct err *err)
{
    X509 *x = read_cert(root_pem);
    unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
    int len;

    if (!x)
        return ossl_err(err, -EINVAL, "invalid root certificate");
    len = i2d_X509(x, &der);
    X509_free(x);
    if (len <= 0)
        return ossl_err(err, -EINVAL, "encode root certificate");
    SHA256(der, (size_t)len, md);
    OPENSSL_free(der);
    if (mgr_base36(md, sizeof(md), out, MGR_TOKEN_DIGEST_LEN) < 0)
        return err_set(err, -EINVAL, "digest too long");
    return 0;
}
