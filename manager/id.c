/*
 * manager/id.c - swarm ids (25 base36 chars of 128 random bits) and the raft
 * id of a node.
 */
#include <errno.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/random.h>

#include "manager/store.h"

int mgr_base36(const uint8_t *bytes, size_t n, char *out, size_t width)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint8_t num[64];
    size_t pos = width;

    if (n > sizeof(num))
        return -EINVAL;
    memcpy(num, bytes, n);
    memset(out, '0', width);
    out[width] = '\0';
    for (;;) {
        unsigned rem = 0;
        bool zero = true;

        /* num /= 36, rem = num % 36 (big-endian long division) */
        for (size_t i = 0; i < n; i++) {
            unsigned cur = (rem << 8) | num[i];
            num[i] = (uint8_t)(cur / 36);
            rem = cur % 36;
            zero = zero && num[i] == 0;
        }
        if (pos == 0)
            return -ENOSPC;
        out[--pos] = digits[rem];
        if (zero)
            return 0;
    }
}

int mgr_id_new(char out[MGR_ID_LEN + 1])
{
    uint8_t r[16];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -EIO;
    return mgr_base36(r, sizeof(r), out, MGR_ID_LEN);
}

bool mgr_id_valid(const char *s)
{
    if (!s || strlen(s) != MGR_ID_LEN)
        return false;
    for (size_t i = 0; i < MGR_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

uint64_t mgr_raft_id_from_node_id(const char *node_id)
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    uint64_t v = 0;

    SHA256((const unsigned char *)node_id, strlen(node_id), md);
    for (int i = 0; i < 8; i++)
        v = (v << 8) | md[i];
    return v ? v : 1;
}

uint64_t mgr_raft_id_next(uint64_t raft_id)
{
    /* a fixed odd step keeps the sequence deterministic and never yields 0
     * twice in a row */
    raft_id += 0x9e3779b97f4a7c15ULL;
    return raft_id ? raft_id : 1;
}
