/*
 * manager/token.c - join tokens: SWMTKN-1-<CA digest>-<secret>.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "manager/ca.h"
#include "manager/store.h"

#define TOKEN_PREFIX "SWMTKN-1-"

int mgr_token_new(const char *root_pem, char out[MGR_TOKEN_LEN + 1], struct err *err)
{
    char digest[MGR_TOKEN_DIGEST_LEN + 1], secret[MGR_TOKEN_SECRET_LEN + 1];
    uint8_t r[16];
    int ret;

    ret = mgr_ca_digest(root_pem, digest, err);
    if (ret < 0)
        return ret;
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return err_set(err, -EIO, "getrandom failed");
    ret = mgr_base36(r, sizeof(r), secret, MGR_TOKEN_SECRET_LEN);
    OPENSSL_cleanse(r, sizeof(r));
    if (ret < 0)
        return err_set(err, ret, "token secret");
    snprintf(out, MGR_TOKEN_LEN + 1, TOKEN_PREFIX "%s-%s", digest, secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    return 0;
}

static bool all_base36(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

int mgr_token_parse(const char *token, char digest[MGR_TOKEN_DIGEST_LEN + 1],
                    char secret[MGR_TOKEN_SECRET_LEN + 1], struct err *err)
{
    const char *d, *dash, *sec;
    size_t dlen, slen;

    if (!token || !token[0])
        return err_set(err, -EINVAL, "invalid join token: empty");
    if (strncmp(token, "SWMTKN-", 7) != 0)
        return err_set(err, -EINVAL, "invalid join token: must start with SWMTKN-");
    if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
        return err_set(err, -EINVAL, "invalid join token: unsupported version");
    d = token + strlen(TOKEN_PREFIX);
    dash = strchr(d, '-');
    if (!dash)
        return err_set(err, -EINVAL, "invalid join token: missing secret");
    dlen = (size_t)(dash - d);
    sec = dash + 1;
    slen = strlen(sec);
    if (dlen != MGR_TOKEN_DIGEST_LEN || !all_base36(d, dlen))
        return err_set(err, -EINVAL, "invalid join token: bad CA digest");
    if (slen != MGR_TOKEN_SECRET_LEN || !all_base36(sec, slen))
        return err_set(err, -EINVAL, "invalid join token: bad secret");
    memcpy(digest, d, dlen);
    digest[dlen] = '\0';
    memcpy(secret, sec, slen);
    secret[slen] = '\0';
    return 0;
}

int mgr_token_check_ca(const char *token, const char *root_pem, struct err *err)
{
    char want[MGR_TOKEN_DIGEST_LEN + 1], digest[MGR_TOKEN_DIGEST_LEN + 1];
    char secret[MGR_TOKEN_SECRET_LEN + 1];
    int r;

    r = mgr_token_parse(token, digest, secret, err);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (r < 0)
        return r;
    r = mgr_ca_digest(root_pem, want, err);
    if (r < 0)
        return r;
    if (strcmp(want, digest) != 0)
        return err_set(err, -EACCES, "remote CA does not match fingerprint. Expected: %s", digest);
    return 0;
}

static bool token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    /* lengths are public (every valid token has the same length) */
    if (la != lb || la == 0)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

int mgr_token_role(const char *token, const char *worker_token, const char *manager_token,
                   int *ret_role, struct err *err)
{
    char digest[MGR_TOKEN_DIGEST_LEN + 1], secret[MGR_TOKEN_SECRET_LEN + 1];
    bool w, m;
    int r;

    r = mgr_token_parse(token, digest, secret, err);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (r < 0)
        return r;
    /* compare with both before deciding, so timing says nothing about which */
    w = worker_token && token_eq(token, worker_token);
    m = manager_token && token_eq(token, manager_token);
    if (m) {
        *ret_role = MGR_ROLE_MANAGER;
        return 0;
    }
    if (w) {
        *ret_role = MGR_ROLE_WORKER;
        return 0;
    }
    return err_set(err, -EACCES, "A valid join token is necessary to join this cluster");
}
