/*
 * overlaynet/ipam.c - IPv4 CIDR parsing and per-subnet address pools.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overlaynet/internal.h"

uint32_t onet__mask(int prefix)
{
    return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

int onet__ip_parse(const char *s, uint32_t *ret)
{
    struct in_addr a;

    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return -EINVAL;
    *ret = ntohl(a.s_addr);
    return 0;
}

int onet__cidr_parse(const char *s, struct onet_cidr *ret)
{
    char buf[32];
    const char *slash;
    char *end;
    long p;

    if (!s || !(slash = strchr(s, '/')) || (size_t)(slash - s) >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    if (onet__ip_parse(buf, &ret->addr) < 0)
        return -EINVAL;
    if (!slash[1] || slash[1] == '+' || slash[1] == '-')
        return -EINVAL;
    errno = 0;
    p = strtol(slash + 1, &end, 10);
    if (errno || *end || p < 0 || p > 32)
        return -EINVAL;
    ret->prefix = (int)p;
    return 0;
}

bool onet__cidr_overlap(struct onet_cidr a, struct onet_cidr b)
{
    int p = a.prefix < b.prefix ? a.prefix : b.prefix;

    return ((a.addr ^ b.addr) & onet__mask(p)) == 0;
}

bool onet__cidr_contains(struct onet_cidr net, uint32_t ip)
{
    return ((net.addr ^ ip) & onet__mask(net.prefix)) == 0;
}

void onet__ip_fmt(uint32_t ip, char out[16])
{
    (void)snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                   ip & 0xff);
}

void onet__cidr_fmt(struct onet_cidr c, char out[19])
{
    char ip[16];

    onet__ip_fmt(c.addr & onet__mask(c.prefix), ip);
    (void)snprintf(out, 19, "%s/%d", ip, c.prefix);
}

int onet__pool_init(struct onet_pool *p, struct onet_cidr net)
{
    memset(p, 0, sizeof(*p));
    if (net.prefix < 8 || net.prefix > 30)
        return -EINVAL;
    p->net.prefix = net.prefix;
    p->net.addr = net.addr & onet__mask(net.prefix);
    p->size = 1u << (32 - net.prefix);
    p->bits = calloc(p->size / 8 ? p->size / 8 : 1, 1);
    if (!p->bits)
        return -ENOMEM;
    p->next = 1;
    return 0;
}

void onet__pool_release(struct onet_pool *p)
{
    free(p->bits);
    p->bits = NULL;
}

static bool host_ok(const struct onet_pool *p, uint32_t ip, uint32_t *ret_h)
{
    uint32_t h;

    if (!onet__cidr_contains(p->net, ip))
        return false;
    h = ip - p->net.addr;
    if (h == 0 || h == p->size - 1)
        return false;
    *ret_h = h;
    return true;
}

int onet__pool_take(struct onet_pool *p, uint32_t ip)
{
    uint32_t h;

    if (!host_ok(p, ip, &h))
        return -EINVAL;
    if (p->bits[h / 8] & (1u << (h % 8)))
        return -EEXIST;
    p->bits[h / 8] |= (uint8_t)(1u << (h % 8));
    return 0;
}

void onet__pool_put(struct onet_pool *p, uint32_t ip)
{
    uint32_t h;

    if (host_ok(p, ip, &h))
        p->bits[h / 8] &= (uint8_t) ~(1u << (h % 8));
}

int onet__pool_alloc(struct onet_pool *p, uint32_t *ret)
{
    uint32_t usable = p->size - 2;

    for (uint32_t i = 0; i < usable; i++) {
        uint32_t h = p->next + i;
        if (h >= p->size - 1)
            h = h - (p->size - 1) + 1;
        if (!(p->bits[h / 8] & (1u << (h % 8)))) {
            p->bits[h / 8] |= (uint8_t)(1u << (h % 8));
            p->next = h + 1 >= p->size - 1 ? 1 : h + 1;
            *ret = p->net.addr + h;
            return 0;
        }
    }
    return -ENOSPC;
}
