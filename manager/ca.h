/*
 * manager/ca.h - the swarm's certificate authority and join tokens.
 *
 * `swarm init` creates the root CA (EC P-256, self-signed, CN "swarm-ca",
 * 20 years). A joining node makes its own key and CSR (mgr_ca_make_csr); a
 * manager signs it with the identity *it* decides (CN = node id, OU =
 * swarm-manager|swarm-worker, O = cluster id; the CSR's subject is ignored).
 * Peers check each other with mgr_ca_verify against the root.
 *
 * Renewal: a node renews at a random point between 50 % and 80 % of its
 * certificate's lifetime (as swarm does, spreading the CA's load), see
 * mgr_ca_renew_at(). Certificates are backdated by MGR_CA_BACKDATE_NS for
 * clock skew; the lifetime used for renewal starts at the issue time.
 *
 * Join tokens: SWMTKN-1-<digest>-<secret>, digest = sha256 of the root
 * certificate's DER in base36 padded to 50 chars (pins the CA for a joiner),
 * secret = 128 random bits in base36 padded to 25 chars.
 *
 * Everything returns 0 or -errno with a message in err; PEM strings are
 * malloc'd and owned by the caller.
 */
#ifndef MANAGER_CA_H
#define MANAGER_CA_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define MGR_CA_ROOT_VALIDITY_NS (20LL * 365 * 24 * 3600 * 1000000000LL)
#define MGR_CA_NODE_VALIDITY_NS (90LL * 24 * 3600 * 1000000000LL)
#define MGR_CA_BACKDATE_NS      (3600LL * 1000000000LL)
#define MGR_OU_MANAGER          "swarm-manager"
#define MGR_OU_WORKER           "swarm-worker"

struct mgr_ca;

/* A new root CA (key + self-signed cert). */
int mgr_ca_create(struct mgr_ca **ret, struct err *err);
/* Load a root from PEM; key_pem may be NULL (verify only, e.g. on workers). */
int mgr_ca_load(const char *cert_pem, const char *key_pem, struct mgr_ca **ret, struct err *err);
struct mgr_ca *mgr_ca_free(struct mgr_ca *ca);
int mgr_ca_cert_pem(const struct mgr_ca *ca, char **ret, struct err *err);
int mgr_ca_key_pem(const struct mgr_ca *ca, char **ret, struct err *err);

/* Joining node: a fresh EC P-256 key and a CSR for it. */
int mgr_ca_make_csr(char **ret_key_pem, char **ret_csr_pem, struct err *err);
/* Manager: sign a CSR (its signature is checked: the requester holds the
 * key). role is MGR_ROLE_*; validity_ns 0 = 90 days. */
int mgr_ca_sign(const struct mgr_ca *ca, const char *csr_pem, const char *node_id, int role,
                const char *cluster_id, int64_t validity_ns, char **ret_cert_pem, struct err *err);

struct mgr_cert_info {
    char cn[65];     /* node id */
    char ou[65];     /* swarm-manager | swarm-worker */
    char o[65];      /* cluster id */
    char serial[41]; /* lowercase hex */
    int64_t not_before_ns;
    int64_t not_after_ns;
};

/* Verify cert_pem (a leaf; any chain after it in the PEM is ignored) against
 * the root at time now_ns (0 = the current time). info may be NULL.
 * -EACCES "certificate ...: <reason>" when it does not verify. */
int mgr_ca_verify(const char *root_pem, const char *cert_pem, int64_t now_ns,
                  struct mgr_cert_info *info, struct err *err);
/* Read a certificate's fields without verifying it. */
int mgr_ca_cert_info(const char *cert_pem, struct mgr_cert_info *info, struct err *err);
/* When to renew: issue time + (50 % + rnd mod 30 %) of the lifetime
 * (issue time = not_before + backdate). rnd is any random number; passing it
 * in keeps this pure. */
int64_t mgr_ca_renew_at(const struct mgr_cert_info *info, uint32_t rnd);
bool mgr_ca_needs_renewal(const struct mgr_cert_info *info, int64_t now_ns, uint32_t rnd);

/* The Docker TLSInfo of a root: base64 DER of its subject and of its public
 * key (SubjectPublicKeyInfo). Both malloc'd. */
int mgr_ca_tls_info(const char *root_pem, char **ret_subject_b64, char **ret_pubkey_b64,
                    struct err *err);

/* ---- join tokens ---------------------------------------------------------- */

#define MGR_TOKEN_DIGEST_LEN 50
#define MGR_TOKEN_SECRET_LEN 25
#define MGR_TOKEN_LEN        (9 + MGR_TOKEN_DIGEST_LEN + 1 + MGR_TOKEN_SECRET_LEN)

/* base36 sha256 of the root certificate's DER, 50 chars. */
int mgr_ca_digest(const char *root_pem, char out[MGR_TOKEN_DIGEST_LEN + 1], struct err *err);
/* A new token for the root (a fresh random secret). */
int mgr_token_new(const char *root_pem, char out[MGR_TOKEN_LEN + 1], struct err *err);
/* Split and check the shape: -EINVAL "invalid join token" with the reason. */
int mgr_token_parse(const char *token, char digest[MGR_TOKEN_DIGEST_LEN + 1],
                    char secret[MGR_TOKEN_SECRET_LEN + 1], struct err *err);
/* Does the token's digest pin this root? -EACCES "remote CA does not match
 * fingerprint" if not. */
int mgr_token_check_ca(const char *token, const char *root_pem, struct err *err);
/* Which role does the token grant, comparing in constant time against the
 * cluster's current tokens? -EACCES "A valid join token is necessary to join
 * this cluster" when it matches neither. */
int mgr_token_role(const char *token, const char *worker_token, const char *manager_token,
                   int *ret_role, struct err *err);

#endif
